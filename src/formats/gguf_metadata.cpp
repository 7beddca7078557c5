// GgufValue helpers and GgufFile's typed metadata getters.
#include "core/error.h"
#include "formats/gguf.h"

namespace spf {

const char* gguf_type_name(GgufType t) {
  switch (t) {
    case GgufType::u8:
      return "u8";
    case GgufType::i8:
      return "i8";
    case GgufType::u16:
      return "u16";
    case GgufType::i16:
      return "i16";
    case GgufType::u32:
      return "u32";
    case GgufType::i32:
      return "i32";
    case GgufType::f32:
      return "f32";
    case GgufType::bool_:
      return "bool";
    case GgufType::string:
      return "string";
    case GgufType::array:
      return "array";
    case GgufType::u64:
      return "u64";
    case GgufType::i64:
      return "i64";
    case GgufType::f64:
      return "f64";
  }
  return "?";
}

std::string gguf_value_type_name(const GgufValue& v) {
  if (v.type != GgufType::array) return gguf_type_name(v.type);
  return cat("array of ", gguf_type_name(v.elem_type));
}

size_t GgufValue::array_size() const {
  if (type != GgufType::array) return 0;
  return ints.size() + floats.size() + strings.size() + arr.size();
}

const GgufValue* GgufFile::find(const std::string& key) const {
  auto it = kv_.find(key);
  return it == kv_.end() ? nullptr : &it->second;
}

namespace {

const GgufValue& need(const GgufFile& f, const std::string& key) {
  const GgufValue* v = f.find(key);
  if (v == nullptr) fail(f.path(), ": metadata key ", key, " missing");
  return *v;
}

[[noreturn]] void wrong_type(const GgufFile& f, const std::string& key, const GgufValue& v,
                             const char* expected) {
  fail(f.path(), ": metadata key ", key, " has type ", gguf_value_type_name(v), ", expected ",
       expected);
}

int64_t as_int(const GgufFile& f, const std::string& key, const GgufValue& v) {
  if (!gguf_is_integer(v.type)) wrong_type(f, key, v, "an integer");
  SPF_CHECK(!(v.type == GgufType::u64 && v.i < 0), f.path(), ": metadata key ", key, " = ", v.u,
            " does not fit in int64");
  return v.i;
}

double as_float(const GgufFile& f, const std::string& key, const GgufValue& v) {
  if (gguf_is_float(v.type)) return v.f;
  if (gguf_is_integer(v.type)) return v.type == GgufType::u64 ? double(v.u) : double(v.i);
  wrong_type(f, key, v, "a float");
}

std::string as_string(const GgufFile& f, const std::string& key, const GgufValue& v) {
  if (v.type != GgufType::string) wrong_type(f, key, v, "string");
  return v.s;
}

}  // namespace

std::string GgufFile::get_string(const std::string& key) const {
  return as_string(*this, key, need(*this, key));
}

int64_t GgufFile::get_int(const std::string& key) const {
  return as_int(*this, key, need(*this, key));
}

double GgufFile::get_float(const std::string& key) const {
  return as_float(*this, key, need(*this, key));
}

bool GgufFile::get_bool(const std::string& key) const {
  const GgufValue& v = need(*this, key);
  if (v.type != GgufType::bool_) wrong_type(*this, key, v, "bool");
  return v.i != 0;
}

std::vector<std::string> GgufFile::get_strings(const std::string& key) const {
  const GgufValue& v = need(*this, key);
  if (v.type != GgufType::array || v.elem_type != GgufType::string)
    wrong_type(*this, key, v, "array of string");
  return v.strings;
}

std::vector<int64_t> GgufFile::get_ints(const std::string& key) const {
  const GgufValue& v = need(*this, key);
  if (v.type != GgufType::array || !gguf_is_integer(v.elem_type))
    wrong_type(*this, key, v, "array of integers");
  if (v.elem_type == GgufType::u64) {
    for (size_t i = 0; i < v.ints.size(); ++i) {
      SPF_CHECK(v.ints[i] >= 0, path(), ": metadata key ", key, "[", i, "] = ", uint64_t(v.ints[i]),
                " does not fit in int64");
    }
  }
  return v.ints;
}

std::vector<double> GgufFile::get_floats(const std::string& key) const {
  const GgufValue& v = need(*this, key);
  if (v.type != GgufType::array || !(gguf_is_float(v.elem_type) || gguf_is_integer(v.elem_type))) {
    wrong_type(*this, key, v, "array of floats");
  }
  if (gguf_is_float(v.elem_type)) return v.floats;
  std::vector<double> out(v.ints.size());
  for (size_t i = 0; i < out.size(); ++i) {
    out[i] = v.elem_type == GgufType::u64 ? double(uint64_t(v.ints[i])) : double(v.ints[i]);
  }
  return out;
}

std::optional<int64_t> GgufFile::get_int_opt(const std::string& key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return std::nullopt;
  return as_int(*this, key, *v);
}

std::optional<double> GgufFile::get_float_opt(const std::string& key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return std::nullopt;
  return as_float(*this, key, *v);
}

std::optional<std::string> GgufFile::get_string_opt(const std::string& key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return std::nullopt;
  return as_string(*this, key, *v);
}

}  // namespace spf
