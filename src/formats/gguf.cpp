#include "formats/gguf.h"

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstring>
#include <limits>

#include "core/error.h"
#include "formats/gguf_cursor.h"
#include "formats/quant.h"

namespace spf {

using gguf_detail::Cursor;
using gguf_detail::read_value;

namespace {

constexpr uint32_t kMaxDims = 4;
constexpr uint32_t kDefaultAlignment = 32;

bool mul_overflows(uint64_t a, uint64_t b, uint64_t* out) {
  return __builtin_mul_overflow(a, b, out);
}

}  // namespace

GgufFile::GgufFile(const std::string& path) : file_(path) {
  Cursor c(file_.path(), file_.bytes());
  uint64_t n_tensors = 0, n_kv = 0;
  read_header(c, &n_tensors, &n_kv);
  read_metadata(c, n_kv);
  read_tensor_infos(c, n_tensors);
  check_layout((c.pos() + alignment_ - 1) / alignment_ * alignment_);
}

void GgufFile::read_header(Cursor& c, uint64_t* n_tensors, uint64_t* n_kv) {
  const std::string& p = path();
  c.set_context("the header");
  const uint8_t* magic = c.take(4, "magic");
  if (std::memcmp(magic, "GGUF", 4) != 0) {
    char hex[16];
    std::snprintf(hex, sizeof hex, "%02x %02x %02x %02x", magic[0], magic[1], magic[2], magic[3]);
    fail(p, ": not a GGUF file (magic bytes ", hex, ", expected 47 47 55 46 \"GGUF\")");
  }
  version_ = c.get<uint32_t>("version");
  // A little-endian reader sees a big-endian 2 or 3 as 0x02000000 or 0x03000000.
  if (version_ != 0 && (version_ & 0xffffu) == 0) {
    fail(p, ": GGUF version field reads ", version_,
         ", which looks byte-swapped: the file has the wrong endianness (big-endian GGUF is not "
         "supported)");
  }
  if (version_ == 1) fail(p, ": GGUF version 1 is not supported (only versions 2 and 3)");
  if (version_ != 2 && version_ != 3) {
    fail(p, ": unsupported GGUF version ", version_, " (supported: 2, 3)");
  }
  *n_tensors = c.get<uint64_t>("tensor count");
  *n_kv = c.get<uint64_t>("metadata count");
}

void GgufFile::read_metadata(Cursor& c, uint64_t n_kv) {
  const std::string& p = path();
  for (uint64_t k = 0; k < n_kv; ++k) {
    const uint64_t at = c.pos();
    c.set_context(cat("metadata pair #", k));
    std::string key = c.str("key");
    c.set_context(cat("metadata key ", key));
    const uint64_t type_at = c.pos();
    const uint32_t t = c.get<uint32_t>("value type");
    if (!gguf_type_valid(t)) {
      fail(p, ": metadata key ", key, " has invalid value type ", t, " at offset ", type_at);
    }
    GgufValue v = read_value(c, GgufType(t));
    if (kv_.count(key) != 0) fail(p, ": duplicate metadata key ", key, " at offset ", at);
    kv_.emplace(std::move(key), std::move(v));
  }
  alignment_ = kDefaultAlignment;
  if (const GgufValue* a = find("general.alignment")) {
    SPF_CHECK(a->type == GgufType::u32, p, ": metadata key general.alignment has type ",
              gguf_value_type_name(*a), ", expected u32");
    SPF_CHECK(a->u != 0 && std::has_single_bit(a->u), p, ": general.alignment = ", a->u,
              " is not a power of two");
    alignment_ = size_t(a->u);
  }
}

void GgufFile::read_tensor_infos(Cursor& c, uint64_t n_tensors) {
  const std::string& p = path();
  for (uint64_t ti = 0; ti < n_tensors; ++ti) {
    const uint64_t at = c.pos();
    c.set_context(cat("tensor info #", ti));
    std::string name = c.str("tensor name");
    c.set_context(cat("tensor ", name));
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
    if (tensors_.count(name) != 0) fail(p, ": duplicate tensor name ", name, " at offset ", at);

    uint64_t numel = 1;
    for (uint32_t d = 0; d < kMaxDims; ++d) {
      SPF_CHECK(!mul_overflows(numel, uint64_t(ne[d]), &numel) &&
                    numel <= uint64_t(std::numeric_limits<int64_t>::max()),
                p, ": tensor ", name, " element count overflows");
    }
    Entry e;
    e.info.name = name;
    for (uint32_t d = n_dims; d-- > 0;) e.info.shape.push_back(ne[d]);
    e.ggml_type = type;
    e.row_len = ne[0];
    e.offset = offset;  // relative to the data section until check_layout
    e.info.ggml_type_name = ggml_type_name(type);
    SPF_CHECK(offset % alignment_ == 0, p, ": tensor ", name, " data offset ", offset,
              " is not a multiple of the alignment ", alignment_);
    if (const GgmlTypeInfo* t = ggml_type_info(type)) {
      e.info.dtype = t->dtype;
      SPF_CHECK(ne[0] % t->block_size == 0, p, ": tensor ", name, " has ne[0] = ", ne[0],
                ", not a multiple of the ", t->name, " block size ", t->block_size);
      uint64_t nbytes = uint64_t(ne[0] / t->block_size);
      bool ovf = mul_overflows(nbytes, uint64_t(t->type_size), &nbytes);
      for (uint32_t d = 1; d < kMaxDims; ++d) {
        ovf = ovf || mul_overflows(nbytes, uint64_t(ne[d]), &nbytes);
      }
      SPF_CHECK(!ovf, p, ": tensor ", name, " byte size overflows");
      e.nbytes = nbytes;
    } else {
      e.info.dtype = DType::other;  // kept (size unknown) so the file opens; reads report it
    }
    order_.push_back(name);
    tensors_.emplace(std::move(name), std::move(e));
  }
}

void GgufFile::check_layout(uint64_t data_start) {
  const std::string& p = path();
  const uint64_t data_size = file_.size() > data_start ? file_.size() - data_start : 0;
  std::vector<Entry*> by_offset;
  for (const std::string& name : order_) {
    Entry& e = tensors_.at(name);
    SPF_CHECK(e.offset <= data_size && e.nbytes <= data_size - e.offset, p, ": tensor ", name, " (",
              e.info.ggml_type_name, ", ", e.nbytes, " bytes at data offset ", e.offset,
              ") extends past the end of the data section (", data_size, " bytes from file offset ",
              data_start, ")");
    if (e.nbytes > 0) by_offset.push_back(&e);
  }
  // Tensors may be stored in any order, but no two may share bytes.
  std::sort(by_offset.begin(), by_offset.end(),
            [](const Entry* a, const Entry* b) { return a->offset < b->offset; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const Entry& a = *by_offset[i - 1];
    const Entry& b = *by_offset[i];
    SPF_CHECK(b.offset >= a.offset + a.nbytes, p, ": tensors ", a.info.name, " (data bytes [",
              a.offset, ", ", a.offset + a.nbytes, ")) and ", b.info.name, " (data bytes [",
              b.offset, ", ", b.offset + b.nbytes, ")) overlap");
  }
  for (auto& [name, e] : tensors_) e.offset += data_start;
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
