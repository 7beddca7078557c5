#include "formats/gguf.h"

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstring>
#include <limits>
#include <unordered_set>

#include "core/error.h"
#include "formats/quant.h"

namespace spf {

namespace {

constexpr uint32_t kMaxDims = 4;
constexpr int kMaxArrayDepth = 8;  // deeper nesting is certainly corrupt; also bounds recursion
constexpr uint32_t kDefaultAlignment = 32;

const char* type_name(GgufType t) {
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

std::string full_type_name(const GgufValue& v) {
  if (v.type != GgufType::array) return type_name(v.type);
  return cat("array of ", type_name(v.elem_type));
}

bool valid_type(uint32_t t) {
  return t <= uint32_t(GgufType::f64);
}

bool is_int(GgufType t) {
  switch (t) {
    case GgufType::u8:
    case GgufType::i8:
    case GgufType::u16:
    case GgufType::i16:
    case GgufType::u32:
    case GgufType::i32:
    case GgufType::u64:
    case GgufType::i64:
      return true;
    default:
      return false;
  }
}
bool is_float(GgufType t) {
  return t == GgufType::f32 || t == GgufType::f64;
}

// Bytes of one fixed-size element; 0 for strings and arrays.
uint64_t fixed_size(GgufType t) {
  switch (t) {
    case GgufType::u8:
    case GgufType::i8:
    case GgufType::bool_:
      return 1;
    case GgufType::u16:
    case GgufType::i16:
      return 2;
    case GgufType::u32:
    case GgufType::i32:
    case GgufType::f32:
      return 4;
    case GgufType::u64:
    case GgufType::i64:
    case GgufType::f64:
      return 8;
    default:
      return 0;
  }
}

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

int64_t read_int_scalar(GgufType t, const uint8_t* p, uint64_t* u) {
  switch (t) {
    case GgufType::u8:
      return int64_t(*u = load<uint8_t>(p));
    case GgufType::i8:
      return load<int8_t>(p);
    case GgufType::u16:
      return int64_t(*u = load<uint16_t>(p));
    case GgufType::i16:
      return load<int16_t>(p);
    case GgufType::u32:
      return int64_t(*u = load<uint32_t>(p));
    case GgufType::i32:
      return load<int32_t>(p);
    case GgufType::u64:
      return int64_t(*u = load<uint64_t>(p));  // > INT64_MAX wraps; getters check u
    case GgufType::i64:
      return load<int64_t>(p);
    default:
      return 0;
  }
}

void check_bool(Cursor& c, uint8_t b, uint64_t at) {
  if (b > 1) fail(c.path(), ": invalid bool value ", int(b), " at offset ", at, " in ", c.where());
}

GgufValue read_value(Cursor& c, GgufType type, int depth);

void read_array(Cursor& c, GgufValue& v, int depth) {
  const uint64_t at = c.pos();
  const uint32_t et = c.get<uint32_t>("array element type");
  if (!valid_type(et))
    fail(c.path(), ": invalid array element type ", et, " at offset ", at, " in ", c.where());
  v.elem_type = GgufType(et);
  if (v.elem_type == GgufType::array && depth + 1 >= kMaxArrayDepth) {
    fail(c.path(), ": arrays nested deeper than ", kMaxArrayDepth, " levels at offset ", at, " in ",
         c.where());
  }
  const uint64_t n = c.get<uint64_t>("array length");
  const uint64_t es = fixed_size(v.elem_type);
  if (es != 0) {
    // Whole payload checked up front, so a huge count cannot trigger a huge allocation.
    if (n > c.remaining() / es) {
      fail(c.path(), ": truncated at offset ", c.pos(), " while reading ", n, " array elements of ",
           c.where());
    }
    const uint64_t data_at = c.pos();
    const uint8_t* p = c.take(n * es, "array elements");
    if (is_float(v.elem_type)) {
      v.floats.resize(size_t(n));
      for (uint64_t i = 0; i < n; ++i) {
        v.floats[i] =
            v.elem_type == GgufType::f32 ? double(load<float>(p + 4 * i)) : load<double>(p + 8 * i);
      }
    } else {
      v.ints.resize(size_t(n));
      for (uint64_t i = 0; i < n; ++i) {
        if (v.elem_type == GgufType::bool_) {
          if (p[i] > 1) {
            c.index().push_back(i);
            check_bool(c, p[i], data_at + i);
          }
          v.ints[i] = p[i];
        } else {
          uint64_t u = 0;
          v.ints[i] = read_int_scalar(v.elem_type, p + es * i, &u);
        }
      }
    }
    return;
  }
  // Strings take >= 8 bytes each and arrays >= 12, which caps a believable count.
  const uint64_t min_size = v.elem_type == GgufType::string ? 8 : 12;
  if (n > c.remaining() / min_size) {
    fail(c.path(), ": truncated at offset ", c.pos(), " while reading ", n, " array elements of ",
         c.where());
  }
  c.index().push_back(0);
  if (v.elem_type == GgufType::string) {
    v.strings.reserve(size_t(n));
    for (uint64_t i = 0; i < n; ++i) {
      c.index().back() = i;
      v.strings.push_back(c.str("string bytes"));
    }
  } else {
    v.arr.reserve(size_t(n));
    for (uint64_t i = 0; i < n; ++i) {
      c.index().back() = i;
      v.arr.push_back(read_value(c, GgufType::array, depth + 1));
    }
  }
  c.index().pop_back();
}

GgufValue read_value(Cursor& c, GgufType type, int depth) {
  GgufValue v;
  v.type = type;
  switch (type) {
    case GgufType::f32:
      v.f = c.get<float>("value");
      break;
    case GgufType::f64:
      v.f = c.get<double>("value");
      break;
    case GgufType::bool_: {
      const uint64_t at = c.pos();
      const uint8_t b = c.get<uint8_t>("value");
      check_bool(c, b, at);
      v.i = b;
      v.u = b;
      break;
    }
    case GgufType::string:
      v.s = c.str("string bytes");
      break;
    case GgufType::array:
      read_array(c, v, depth);
      break;
    default: {
      const uint8_t* p = c.take(fixed_size(type), "value");
      v.i = read_int_scalar(type, p, &v.u);
      if (type == GgufType::i8 || type == GgufType::i16 || type == GgufType::i32 ||
          type == GgufType::i64) {
        v.u = uint64_t(v.i);
      }
    }
  }
  return v;
}

bool mul_overflows(uint64_t a, uint64_t b, uint64_t* out) {
  return __builtin_mul_overflow(a, b, out);
}

}  // namespace

size_t GgufValue::array_size() const {
  if (type != GgufType::array) return 0;
  return ints.size() + floats.size() + strings.size() + arr.size();
}

GgufFile::GgufFile(const std::string& path) : file_(path) {
  const std::string& p = file_.path();
  Cursor c(p, file_.bytes());
  c.set_context("the header");
  const uint8_t* magic = c.take(4, "magic");
  if (std::memcmp(magic, "GGUF", 4) != 0) {
    char hex[16];
    std::snprintf(hex, sizeof hex, "%02x %02x %02x %02x", magic[0], magic[1], magic[2], magic[3]);
    fail(p, ": not a GGUF file (magic bytes ", hex, ", expected 47 47 55 46 \"GGUF\")");
  }
  version_ = c.get<uint32_t>("version");
  if (version_ != 0 && (version_ & 0xffffu) == 0) {
    fail(p, ": GGUF version field reads ", version_,
         ", which looks byte-swapped: the file has the wrong endianness (big-endian GGUF is not "
         "supported)");
  }
  if (version_ == 1) fail(p, ": GGUF version 1 is not supported (only versions 2 and 3)");
  if (version_ != 2 && version_ != 3)
    fail(p, ": unsupported GGUF version ", version_, " (supported: 2, 3)");
  const uint64_t n_tensors = c.get<uint64_t>("tensor count");
  const uint64_t n_kv = c.get<uint64_t>("metadata count");

  for (uint64_t k = 0; k < n_kv; ++k) {
    const uint64_t at = c.pos();
    c.set_context(cat("metadata pair #", k));
    std::string key = c.str("key");
    c.set_context(cat("metadata key ", key));
    const uint64_t type_at = c.pos();
    const uint32_t t = c.get<uint32_t>("value type");
    if (!valid_type(t))
      fail(p, ": metadata key ", key, " has invalid value type ", t, " at offset ", type_at);
    GgufValue v = read_value(c, GgufType(t), 0);
    if (kv_.count(key) != 0) fail(p, ": duplicate metadata key ", key, " at offset ", at);
    kv_.emplace(std::move(key), std::move(v));
  }

  if (const GgufValue* a = find("general.alignment")) {
    SPF_CHECK(a->type == GgufType::u32, p, ": metadata key general.alignment has type ",
              full_type_name(*a), ", expected u32");
    SPF_CHECK(a->u != 0 && std::has_single_bit(a->u), p, ": general.alignment = ", a->u,
              " is not a power of two");
    alignment_ = size_t(a->u);
  } else {
    alignment_ = kDefaultAlignment;
  }

  struct Pending {
    std::string name;
    Entry e;
    bool sized = false;
  };
  std::vector<Pending> pending;
  std::unordered_set<std::string> seen;
  for (uint64_t ti = 0; ti < n_tensors; ++ti) {
    const uint64_t at = c.pos();
    c.set_context(cat("tensor info #", ti));
    Pending t;
    t.name = c.str("tensor name");
    c.set_context(cat("tensor ", t.name));
    const std::string& name = t.name;
    const uint32_t n_dims = c.get<uint32_t>("n_dims");
    SPF_CHECK(n_dims <= kMaxDims, p, ": tensor ", name, " has ", n_dims, " dimensions (at most ",
              kMaxDims, " allowed)");
    int64_t ne[kMaxDims] = {1, 1, 1, 1};
    for (uint32_t d = 0; d < n_dims; ++d) {
      const uint64_t v = c.get<uint64_t>("ne");
      SPF_CHECK(v >= 1 && v <= uint64_t(std::numeric_limits<int64_t>::max()), p, ": tensor ", name,
                " has invalid ne[", d, "] = ", v);
      ne[d] = int64_t(v);
    }
    const uint32_t type = c.get<uint32_t>("type");
    const uint64_t offset = c.get<uint64_t>("data offset");
    if (!seen.insert(name).second) fail(p, ": duplicate tensor name ", name, " at offset ", at);

    uint64_t numel = 1;
    for (uint32_t d = 0; d < kMaxDims; ++d) {
      SPF_CHECK(!mul_overflows(numel, uint64_t(ne[d]), &numel) &&
                    numel <= uint64_t(std::numeric_limits<int64_t>::max()),
                p, ": tensor ", name, " element count overflows");
    }
    Entry& e = t.e;
    e.info.name = name;
    for (uint32_t d = n_dims; d-- > 0;) e.info.shape.push_back(ne[d]);
    e.ggml_type = type;
    e.row_len = ne[0];
    e.info.ggml_type_name = ggml_type_name(type);
    SPF_CHECK(offset % alignment_ == 0, p, ": tensor ", name, " data offset ", offset,
              " is not a multiple of the alignment ", alignment_);
    if (const GgmlTypeInfo* ti_ = ggml_type_info(type)) {
      e.info.dtype = ti_->dtype;
      SPF_CHECK(ne[0] % ti_->block_size == 0, p, ": tensor ", name, " has ne[0] = ", ne[0],
                ", not a multiple of the ", ti_->name, " block size ", ti_->block_size);
      uint64_t nbytes = uint64_t(ne[0] / ti_->block_size);
      bool ovf = mul_overflows(nbytes, uint64_t(ti_->type_size), &nbytes);
      for (uint32_t d = 1; d < kMaxDims; ++d)
        ovf = ovf || mul_overflows(nbytes, uint64_t(ne[d]), &nbytes);
      SPF_CHECK(!ovf, p, ": tensor ", name, " byte size overflows");
      e.nbytes = nbytes;
      t.sized = true;
    } else {
      e.info.dtype = DType::other;  // kept so the file opens; raw()/read_f32 report it
    }
    e.offset = offset;  // relative for now
    pending.push_back(std::move(t));
  }

  const uint64_t data_start = (c.pos() + alignment_ - 1) / alignment_ * alignment_;
  const uint64_t data_size = file_.size() > data_start ? file_.size() - data_start : 0;
  std::vector<const Pending*> by_offset;
  for (const Pending& t : pending) {
    const Entry& e = t.e;
    SPF_CHECK(e.offset <= data_size && e.nbytes <= data_size - e.offset, p, ": tensor ", t.name,
              " (", e.info.ggml_type_name, ", ", e.nbytes, " bytes at data offset ", e.offset,
              ") extends past the end of the data section (", data_size, " bytes from file offset ",
              data_start, ")");
    if (t.sized && e.nbytes > 0) by_offset.push_back(&t);
  }
  std::sort(by_offset.begin(), by_offset.end(),
            [](const Pending* a, const Pending* b) { return a->e.offset < b->e.offset; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const Entry& a = by_offset[i - 1]->e;
    const Entry& b = by_offset[i]->e;
    SPF_CHECK(b.offset >= a.offset + a.nbytes, p, ": tensors ", a.info.name, " (data bytes [",
              a.offset, ", ", a.offset + a.nbytes, ")) and ", b.info.name, " (data bytes [",
              b.offset, ", ", b.offset + b.nbytes, ")) overlap");
  }
  for (Pending& t : pending) {
    t.e.offset += data_start;
    if (!t.sized) t.e.nbytes = 0;
    order_.push_back(t.name);
    tensors_.emplace(t.name, std::move(t.e));
  }
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
  fail(f.path(), ": metadata key ", key, " has type ", full_type_name(v), ", expected ", expected);
}

int64_t as_int(const GgufFile& f, const std::string& key, const GgufValue& v) {
  if (!is_int(v.type)) wrong_type(f, key, v, "an integer");
  SPF_CHECK(!(v.type == GgufType::u64 && v.i < 0), f.path(), ": metadata key ", key, " = ", v.u,
            " does not fit in int64");
  return v.i;
}

double as_float(const GgufFile& f, const std::string& key, const GgufValue& v) {
  if (is_float(v.type)) return v.f;
  if (is_int(v.type)) return v.type == GgufType::u64 ? double(v.u) : double(v.i);
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
  if (v.type != GgufType::array || !is_int(v.elem_type))
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
  if (v.type != GgufType::array || !(is_float(v.elem_type) || is_int(v.elem_type))) {
    wrong_type(*this, key, v, "array of floats");
  }
  if (is_float(v.elem_type)) return v.floats;
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

std::vector<std::string> GgufFile::names() const {
  return order_;
}

bool GgufFile::has(const std::string& name) const {
  return tensors_.count(name) != 0;
}

const GgufFile::Entry& GgufFile::entry(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) fail(path(), ": no tensor ", name);
  return it->second;
}

const TensorInfo& GgufFile::info(const std::string& name) const {
  return entry(name).info;
}

std::span<const uint8_t> GgufFile::raw(const std::string& name) const {
  const Entry& e = entry(name);
  SPF_CHECK(ggml_type_info(e.ggml_type) != nullptr, path(), ": tensor ", name,
            " has unknown ggml type id ", e.ggml_type, ", so its size cannot be determined");
  return file_.bytes().subspan(size_t(e.offset), size_t(e.nbytes));
}

void GgufFile::check_readable(const std::string& name) const {
  const Entry& e = entry(name);
  const GgmlTypeInfo* t = ggml_type_info(e.ggml_type);
  if (t == nullptr || !t->decodable) {
    fail(path(), ": tensor ", name, " has type ", e.info.ggml_type_name,
         ", which spf cannot decode (supported: ", ggml_decodable_types(), ")");
  }
}

void GgufFile::read_rows_f32(const std::string& name, int64_t row0, int64_t n_rows,
                             std::span<float> out) const {
  check_readable(name);
  const Entry& e = entry(name);
  const GgmlTypeInfo* t = ggml_type_info(e.ggml_type);

  const int64_t rows = e.info.numel() / e.row_len;
  SPF_CHECK(row0 >= 0 && n_rows >= 0 && row0 <= rows && n_rows <= rows - row0, path(), ": tensor ",
            name, ": rows [", row0, ", ", row0 + n_rows, ") out of range (it has ", rows, " rows)");
  SPF_CHECK(int64_t(out.size()) == n_rows * e.row_len, path(), ": tensor ", name, ": output holds ",
            out.size(), " floats, expected ", n_rows * e.row_len);
  const uint64_t row_bytes = uint64_t(e.row_len / t->block_size) * uint64_t(t->type_size);
  const uint8_t* base = file_.data() + e.offset + uint64_t(row0) * row_bytes;
  const uint32_t type = e.ggml_type;
  const int64_t row_len = e.row_len;
  float* dst = out.data();
  // Threads only pay off for large reads (~1M elements is a few ms of work per thread); smaller
  // ones stay serial, since a parallel region costs far more than that on a loaded machine.
#pragma omp parallel for schedule(static) if (n_rows * row_len >= (int64_t(1) << 20))
  for (int64_t r = 0; r < n_rows; ++r) {
    dequantize_row(type, base + uint64_t(r) * row_bytes, dst + r * row_len, row_len);
  }
}

void GgufFile::read_f32(const std::string& name, std::span<float> out) const {
  const Entry& e = entry(name);
  SPF_CHECK(int64_t(out.size()) == e.info.numel(), path(), ": tensor ", name, ": output holds ",
            out.size(), " floats, expected ", e.info.numel());
  read_rows_f32(name, 0, e.info.numel() / e.row_len, out);
}

}  // namespace spf
