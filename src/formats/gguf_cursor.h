// Internal to src/formats: a bounds-checked little-endian cursor over a mapped GGUF file and the
// parser of one metadata value (scalars, strings, arrays nested up to kMaxArrayDepth). Every read
// that would pass the end throws "<path>: truncated at offset N while reading <part> of <item>".
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "core/error.h"
#include "formats/gguf.h"

namespace spf::gguf_detail {

constexpr int kMaxArrayDepth = 8;  // deeper nesting is certainly corrupt; also bounds recursion

template <class T>
T load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

// Bounds-checked sequential reader. Error context is kept as plain fields and only formatted on
// failure, because a tokenizer array alone means ~100k reads.
class Cursor {
 public:
  Cursor(const std::string& path, std::span<const uint8_t> bytes)
      : path_(path), data_(bytes.data()), size_(bytes.size()) {}

  uint64_t pos() const { return pos_; }
  uint64_t remaining() const { return size_ - pos_; }
  const std::string& path() const { return path_; }

  // What is being read: "metadata key general.name", "tensor blk.0.attn_q.weight".
  void set_context(std::string ctx) {
    ctx_ = std::move(ctx);
    idx_.clear();
  }
  std::vector<uint64_t>& index() { return idx_; }
  std::string where() const {
    std::string s = ctx_;
    for (uint64_t i : idx_) s += cat("[", i, "]");
    return s;
  }

  const uint8_t* take(uint64_t n, const char* part) {
    if (n > remaining())
      fail(path_, ": truncated at offset ", pos_, " while reading ", part, " of ", where());
    const uint8_t* p = data_ + pos_;
    pos_ += n;
    return p;
  }
  template <class T>
  T get(const char* part) {
    return load<T>(take(sizeof(T), part));
  }
  std::string str(const char* part) {
    const uint64_t n = get<uint64_t>("string length");
    const uint8_t* p = take(n, part);
    return std::string(reinterpret_cast<const char*>(p), size_t(n));
  }

 private:
  const std::string& path_;
  const uint8_t* data_;
  uint64_t size_;
  uint64_t pos_ = 0;
  std::string ctx_;
  std::vector<uint64_t> idx_;
};

// Reads one value of the given type at the cursor (depth = array nesting level of the value).
GgufValue read_value(Cursor& c, GgufType type, int depth = 0);

}  // namespace spf::gguf_detail
