// GGUF v2/v3 reader: memory-mapped, every metadata type (arrays included), tensor infos validated
// (alignment, bounds, overlap, block multiples). Dequantizes F32, F16, BF16, Q8_0, Q4_0, Q4_1,
// Q4_K, Q5_K, Q6_K; any other tensor type is rejected by read_f32 with an error naming the tensor
// and type. Shapes are reported in PyTorch order (GGUF's ne[] reversed).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include "core/mapped_file.h"
#include "formats/tensor_source.h"

namespace spf {

namespace gguf_detail {
class Cursor;
}

enum class GgufType : uint32_t {
  u8 = 0,
  i8 = 1,
  u16 = 2,
  i16 = 3,
  u32 = 4,
  i32 = 5,
  f32 = 6,
  bool_ = 7,
  string = 8,
  array = 9,
  u64 = 10,
  i64 = 11,
  f64 = 12
};

inline bool gguf_type_valid(uint32_t t) {
  return t <= uint32_t(GgufType::f64);
}
inline bool gguf_is_float(GgufType t) {
  return t == GgufType::f32 || t == GgufType::f64;
}
inline bool gguf_is_integer(GgufType t) {
  return t != GgufType::bool_ && !gguf_is_float(t) && t != GgufType::string && t != GgufType::array;
}
// "u32", "string", ...; gguf_value_type_name adds the element type of arrays ("array of string").
const char* gguf_type_name(GgufType t);

struct GgufValue {
  GgufType type = GgufType::u8;
  GgufType elem_type = GgufType::u8;  // for arrays
  // Scalars: integers (signed or unsigned, bool) in i and their bits in u (u is exact for a u64
  // above INT64_MAX, which i wraps), floats in f, strings in s.
  int64_t i = 0;
  uint64_t u = 0;
  double f = 0;
  std::string s;
  // Arrays: exactly one of these is filled, by element kind: integers and bools in ints (u64 bits
  // stored as int64), f32/f64 in floats, strings in strings, nested arrays in arr.
  std::vector<int64_t> ints;
  std::vector<double> floats;
  std::vector<std::string> strings;
  std::vector<GgufValue> arr;
  size_t array_size() const;
};

std::string gguf_value_type_name(const GgufValue& v);

class GgufFile final : public TensorSource {
 public:
  explicit GgufFile(const std::string& path);

  uint32_t version() const { return version_; }
  size_t alignment() const { return alignment_; }
  const std::map<std::string, GgufValue>& metadata() const { return kv_; }
  const GgufValue* find(const std::string& key) const;

  // Typed getters: throw "<path>: metadata key <key> missing" or "... has type X, expected Y".
  std::string get_string(const std::string& key) const;
  int64_t get_int(const std::string& key) const;   // any integer type
  double get_float(const std::string& key) const;  // f32/f64 (integers accepted too)
  bool get_bool(const std::string& key) const;
  std::vector<std::string> get_strings(const std::string& key) const;
  std::vector<int64_t> get_ints(const std::string& key) const;
  std::vector<double> get_floats(const std::string& key) const;
  std::optional<int64_t> get_int_opt(const std::string& key) const;
  std::optional<double> get_float_opt(const std::string& key) const;
  std::optional<std::string> get_string_opt(const std::string& key) const;

  // TensorSource
  const std::string& path() const override { return file_.path(); }
  std::vector<std::string> names() const override;
  bool has(const std::string& name) const override;
  const TensorInfo& info(const std::string& name) const override;
  using TensorSource::read_f32;
  void read_f32(const std::string& name, std::span<float> out) const override;

  // Raw stored bytes of one tensor and of one row of a 2-D (or higher) tensor (row = ne[0]
  // elements).
  std::span<const uint8_t> raw(const std::string& name) const override;
  // Dequantizes rows [row0, row0 + n_rows) of a tensor (row = ne[0] elements) into out.
  void read_rows_f32(const std::string& name, int64_t row0, int64_t n_rows,
                     std::span<float> out) const;

 private:
  struct Entry {
    TensorInfo info;
    uint32_t ggml_type = 0;
    uint64_t offset = 0;  // absolute, in the file
    uint64_t nbytes = 0;  // 0 for an unknown type (size cannot be stated)
    int64_t row_len = 0;  // ne[0]
  };
  void read_header(gguf_detail::Cursor& c, uint64_t* n_tensors, uint64_t* n_kv);
  void read_metadata(gguf_detail::Cursor& c, uint64_t n_kv);
  void read_tensor_infos(gguf_detail::Cursor& c, uint64_t n_tensors);
  void check_layout(uint64_t data_start);
  const Entry& entry(const std::string& name) const;
  void check_readable(const std::string& name) const override;
  MappedFile file_;
  uint32_t version_ = 0;
  size_t alignment_ = 32;
  std::map<std::string, GgufValue> kv_;
  std::vector<std::string> order_;
  std::unordered_map<std::string, Entry> tensors_;
};

}  // namespace spf
