// Test-only writers for small GGUF and safetensors files. They produce valid files by default and
// expose the knobs the bad-input tests need (raw metadata bytes, offset overrides, version, magic).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "formats/gguf.h"

namespace spf::test {

using Bytes = std::vector<uint8_t>;

// Little-endian byte encoder for GGUF values.
class Enc {
 public:
  template <class T>
  Enc& put(T v) {
    uint8_t b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));
    out.insert(out.end(), b, b + sizeof(T));
    return *this;
  }
  Enc& u32(uint32_t v) { return put(v); }
  Enc& u64(uint64_t v) { return put(v); }
  Enc& str(const std::string& s) {
    u64(s.size());
    out.insert(out.end(), s.begin(), s.end());
    return *this;
  }
  Enc& type(GgufType t) { return u32(uint32_t(t)); }
  // Array header: element type and count; elements follow through put()/str()/nested headers.
  Enc& array(GgufType elem, uint64_t n) { return type(elem).u64(n); }
  Enc& raw(const Bytes& b) {
    out.insert(out.end(), b.begin(), b.end());
    return *this;
  }
  Bytes out;
};

class GgufBuilder {
 public:
  std::string magic = "GGUF";
  uint32_t version = 3;
  uint32_t alignment =
      32;  // layout alignment; write general.alignment yourself to change the reader's

  // A metadata pair: `value` holds the value type and the value's bytes.
  GgufBuilder& kv(const std::string& key, const Enc& value) {
    kvs_.push_back(Enc().str(key).raw(value.out).out);
    ++n_kv_;
    return *this;
  }
  template <class T>
  GgufBuilder& kv_scalar(const std::string& key, GgufType t, T v) {
    return kv(key, Enc().type(t).put(v));
  }
  GgufBuilder& kv_string(const std::string& key, const std::string& s) {
    return kv(key, Enc().type(GgufType::string).str(s));
  }
  GgufBuilder& kv_strings(const std::string& key, const std::vector<std::string>& v) {
    Enc e;
    e.type(GgufType::array).array(GgufType::string, v.size());
    for (const std::string& s : v) e.str(s);
    return kv(key, e);
  }
  template <class T>
  GgufBuilder& kv_array(const std::string& key, GgufType elem, const std::vector<T>& v) {
    Enc e;
    e.type(GgufType::array).array(elem, v.size());
    for (T x : v) e.put(x);
    return kv(key, e);
  }

  // ne in GGUF order (ne[0] = row length); data must be the exact stored bytes.
  GgufBuilder& tensor(const std::string& name, std::vector<uint64_t> ne, uint32_t type, Bytes data,
                      std::optional<uint64_t> offset_override = std::nullopt) {
    tensors_.push_back({name, std::move(ne), type, std::move(data), offset_override});
    return *this;
  }

  // File offset where the tensor infos end (the data section starts at the next aligned offset).
  uint64_t infos_end() const { return infos_end_; }
  // File offset just past the last tensor's bytes (what follows is padding only).
  uint64_t content_end() const { return content_end_; }

  Bytes build() {
    Enc e;
    e.out.insert(e.out.end(), magic.begin(), magic.end());
    e.u32(version).u64(tensors_.size()).u64(n_kv_);
    for (const Bytes& k : kvs_) e.raw(k);
    std::vector<uint64_t> offsets;
    uint64_t off = 0;
    for (const Tensor& t : tensors_) {
      offsets.push_back(off);
      off = pad(off + t.data.size());
    }
    for (size_t i = 0; i < tensors_.size(); ++i) {
      const Tensor& t = tensors_[i];
      e.str(t.name).u32(uint32_t(t.ne.size()));
      for (uint64_t d : t.ne) e.u64(d);
      e.u32(t.type).u64(t.offset_override.value_or(offsets[i]));
    }
    infos_end_ = e.out.size();
    content_end_ = infos_end_;
    e.out.resize(pad(e.out.size()), 0);
    const size_t data_start = e.out.size();
    e.out.resize(data_start + off, 0);
    for (size_t i = 0; i < tensors_.size(); ++i) {
      const Bytes& d = tensors_[i].data;
      if (!d.empty()) std::memcpy(e.out.data() + data_start + offsets[i], d.data(), d.size());
      content_end_ = std::max<uint64_t>(content_end_, data_start + offsets[i] + d.size());
    }
    return e.out;
  }

 private:
  struct Tensor {
    std::string name;
    std::vector<uint64_t> ne;
    uint32_t type;
    Bytes data;
    std::optional<uint64_t> offset_override;
  };
  uint64_t pad(uint64_t x) const { return (x + alignment - 1) / alignment * alignment; }
  std::vector<Bytes> kvs_;
  uint64_t n_kv_ = 0;
  std::vector<Tensor> tensors_;
  uint64_t infos_end_ = 0;
  uint64_t content_end_ = 0;
};

inline void write_bytes(const std::string& path, const void* data, size_t n) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(static_cast<const char*>(data), std::streamsize(n));
}
inline void write_bytes(const std::string& path, const Bytes& b) {
  write_bytes(path, b.data(), b.size());
}
inline void write_bytes(const std::string& path, const std::string& s) {
  write_bytes(path, s.data(), s.size());
}

template <class T>
Bytes to_bytes(const std::vector<T>& v) {
  Bytes b(v.size() * sizeof(T));
  if (!v.empty()) std::memcpy(b.data(), v.data(), b.size());
  return b;
}

// A safetensors file from a header JSON text (written verbatim) and a data buffer.
inline Bytes safetensors_bytes(const std::string& header, const Bytes& data) {
  Bytes out;
  Enc e;
  e.u64(header.size());
  out = e.out;
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

// Builds a valid safetensors file: tensors stored back to back in the order added.
class SafetensorsBuilder {
 public:
  // Appends only (no `"," + str` temporaries): GCC 12 at -O3 misreports those as overlapping
  // memcpy (-Werror=restrict).
  SafetensorsBuilder& tensor(const std::string& name, const std::string& dtype,
                             std::vector<int64_t> shape, const Bytes& bytes) {
    std::string e;
    e.append("\"").append(name).append("\":{\"dtype\":\"").append(dtype).append("\",\"shape\":[");
    for (size_t i = 0; i < shape.size(); ++i) {
      if (i > 0) e.push_back(',');
      e.append(std::to_string(shape[i]));
    }
    const size_t begin = data_.size();
    data_.insert(data_.end(), bytes.begin(), bytes.end());
    e.append("],\"data_offsets\":[").append(std::to_string(begin)).push_back(',');
    e.append(std::to_string(data_.size())).append("]}");
    entries_.push_back(std::move(e));
    return *this;
  }
  SafetensorsBuilder& metadata(const std::string& json_object) {
    metadata_ = json_object;
    return *this;
  }
  std::string header() const {
    std::string h = "{";
    if (!metadata_.empty()) {
      h.append("\"__metadata__\":").append(metadata_);
      if (!entries_.empty()) h.push_back(',');
    }
    for (size_t i = 0; i < entries_.size(); ++i) {
      if (i > 0) h.push_back(',');
      h.append(entries_[i]);
    }
    h.push_back('}');
    return h;
  }
  const Bytes& data() const { return data_; }
  Bytes build() const { return safetensors_bytes(header(), data_); }

 private:
  std::vector<std::string> entries_;
  std::string metadata_;
  Bytes data_;
};

}  // namespace spf::test
