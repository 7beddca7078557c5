#include "formats/safetensors.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <unordered_set>

#include "core/error.h"
#include "core/half.h"
#include "formats/json_text.h"

namespace spf {

static_assert(std::endian::native == std::endian::little,
              "safetensors data is read as little-endian");

namespace {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;  // keeps tensors in file order

// A real header is a few hundred KB at most; the cap stops a corrupt length from driving a huge
// parse.
constexpr uint64_t kMaxHeader = 100'000'000;

struct DtypeSpec {
  const char* name;
  DType dtype;
  uint64_t size;
};
constexpr DtypeSpec kDtypes[] = {
    {"F32", DType::f32, 4},    {"F16", DType::f16, 2}, {"BF16", DType::bf16, 2},
    {"F64", DType::f64, 8},    {"I64", DType::i64, 8}, {"I32", DType::i32, 4},
    {"I16", DType::i16, 2},    {"I8", DType::i8, 1},   {"U8", DType::u8, 1},
    {"BOOL", DType::bool_, 1},
};
constexpr const char* kDtypeList = "F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL";

const DtypeSpec* find_dtype(const std::string& s) {
  for (const DtypeSpec& d : kDtypes) {
    if (s == d.name) return &d;
  }
  return nullptr;
}

template <class T>
T load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

template <class T>
void convert(const uint8_t* src, float* dst, size_t n) {
  for (size_t i = 0; i < n; ++i) dst[i] = float(load<T>(src + i * sizeof(T)));
}

}  // namespace

SafetensorsFile::SafetensorsFile(const std::string& path) : file_(path) {
  const std::string& p = file_.path();
  const uint64_t size = file_.size();
  SPF_CHECK(size >= 8, p,
            ": truncated at offset 0 while reading the 8-byte header length (file has ", size,
            " bytes)");
  const uint64_t n = load<uint64_t>(file_.data());
  SPF_CHECK(n <= kMaxHeader, p, ": header length ", n, " exceeds the 100 MB limit (corrupt file?)");
  SPF_CHECK(n <= size - 8, p, ": header length ", n, " exceeds the ", size - 8,
            " bytes that follow it (truncated file?)");
  const uint8_t* hb = file_.data() + 8;
  const Json h = parse_json_text<Json>(
      std::string_view(reinterpret_cast<const char*>(hb), size_t(n)), p + " header");
  SPF_CHECK(h.is_object(), p, ": header is not a JSON object");

  const uint64_t data_start = 8 + n;
  const uint64_t data_size = size - data_start;
  for (auto it = h.begin(); it != h.end(); ++it) {
    const std::string& name = it.key();
    const Json& v = it.value();
    if (name == "__metadata__") {
      SPF_CHECK(v.is_object(), p, ": __metadata__ is not a JSON object");
      for (auto m = v.begin(); m != v.end(); ++m) {
        SPF_CHECK(m.value().is_string(), p, ": __metadata__ value for ", m.key(),
                  " is not a string");
        meta_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    SPF_CHECK(v.is_object(), p, ": header entry for tensor ", name, " is not a JSON object");
    const auto dt = v.find("dtype");
    SPF_CHECK(dt != v.end() && dt->is_string(), p, ": tensor ", name, " has no string dtype");
    const std::string dts = dt->get<std::string>();
    const DtypeSpec* spec = find_dtype(dts);
    SPF_CHECK(spec != nullptr, p, ": tensor ", name, " has dtype ", dts,
              ", which spf does not support (supported: ", kDtypeList, ")");
    const auto sh = v.find("shape");
    SPF_CHECK(sh != v.end() && sh->is_array(), p, ": tensor ", name, " has no shape array");
    Entry e;
    e.info.name = name;
    e.info.dtype = spec->dtype;
    uint64_t numel = 1;
    for (const Json& d : *sh) {
      SPF_CHECK(d.is_number_unsigned(), p, ": tensor ", name,
                " has a shape entry that is not a non-negative integer");
      const uint64_t dv = d.get<uint64_t>();
      SPF_CHECK(!__builtin_mul_overflow(numel, dv, &numel) &&
                    numel <= uint64_t(std::numeric_limits<int64_t>::max()),
                p, ": tensor ", name, " element count overflows");
      e.info.shape.push_back(int64_t(dv));
    }
    const auto off = v.find("data_offsets");
    SPF_CHECK(off != v.end() && off->is_array() && off->size() == 2 &&
                  (*off)[0].is_number_unsigned() && (*off)[1].is_number_unsigned(),
              p, ": tensor ", name, " needs data_offsets [begin, end] of non-negative integers");
    const uint64_t b = (*off)[0].get<uint64_t>(), en = (*off)[1].get<uint64_t>();
    SPF_CHECK(b <= en && en <= data_size, p, ": tensor ", name, " data_offsets [", b, ", ", en,
              "] out of range (data buffer has ", data_size, " bytes)");
    uint64_t nbytes = 0;
    SPF_CHECK(!__builtin_mul_overflow(numel, spec->size, &nbytes), p, ": tensor ", name,
              " byte size overflows");
    SPF_CHECK(en - b == nbytes, p, ": tensor ", name, " data_offsets [", b, ", ", en, "] span ",
              en - b, " bytes, but ", dts, " x ", numel, " elements needs ", nbytes);
    e.begin = data_start + b;
    e.end = data_start + en;
    order_.push_back(name);
    tensors_.emplace(name, std::move(e));
  }
  std::vector<const Entry*> by_begin;
  for (const std::string& name : order_) {
    const Entry& e = tensors_.at(name);
    if (e.end > e.begin) by_begin.push_back(&e);
  }
  std::sort(by_begin.begin(), by_begin.end(),
            [](const Entry* a, const Entry* b) { return a->begin < b->begin; });
  for (size_t i = 1; i < by_begin.size(); ++i) {
    const Entry& a = *by_begin[i - 1];
    const Entry& b = *by_begin[i];
    SPF_CHECK(b.begin >= a.end, p, ": tensors ", a.info.name, " (data_offsets [",
              a.begin - data_start, ", ", a.end - data_start, "]) and ", b.info.name,
              " (data_offsets [", b.begin - data_start, ", ", b.end - data_start, "]) overlap");
  }
}

std::vector<std::string> SafetensorsFile::names() const {
  return order_;
}

bool SafetensorsFile::has(const std::string& name) const {
  return tensors_.count(name) != 0;
}

const SafetensorsFile::Entry& SafetensorsFile::entry(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) fail(path(), ": no tensor ", name);
  return it->second;
}

const TensorInfo& SafetensorsFile::info(const std::string& name) const {
  return entry(name).info;
}

void SafetensorsFile::read_f32(const std::string& name, std::span<float> out) const {
  const Entry& e = entry(name);
  const size_t n = size_t(e.info.numel());
  SPF_CHECK(out.size() == n, path(), ": tensor ", name, ": output holds ", out.size(),
            " floats, expected ", n);
  if (n == 0) return;  // out.data() may be null; memcpy must not see it
  const uint8_t* src = file_.data() + e.begin;
  float* dst = out.data();
  switch (e.info.dtype) {
    case DType::f32:
      std::memcpy(dst, src, n * 4);
      break;
    case DType::f16:
      for (size_t i = 0; i < n; ++i) dst[i] = fp16_to_f32(load<uint16_t>(src + 2 * i));
      break;
    case DType::bf16:
      for (size_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(load<uint16_t>(src + 2 * i));
      break;
    case DType::f64:
      convert<double>(src, dst, n);
      break;
    case DType::i64:
      convert<int64_t>(src, dst, n);
      break;
    case DType::i32:
      convert<int32_t>(src, dst, n);
      break;
    case DType::i16:
      convert<int16_t>(src, dst, n);
      break;
    case DType::i8:
      convert<int8_t>(src, dst, n);
      break;
    case DType::u8:
      convert<uint8_t>(src, dst, n);
      break;
    case DType::bool_:
      for (size_t i = 0; i < n; ++i) dst[i] = src[i] != 0 ? 1.0f : 0.0f;
      break;
    default:
      fail(path(), ": tensor ", name, " has type ", dtype_name(e.info.dtype),
           ", which spf cannot decode");
  }
}

std::span<const uint8_t> SafetensorsFile::raw(const std::string& name) const {
  const Entry& e = entry(name);
  return file_.bytes().subspan(size_t(e.begin), size_t(e.end - e.begin));
}

ShardedSafetensors::ShardedSafetensors(const std::string& index_json_path)
    : path_(index_json_path) {
  Json idx;
  {
    const MappedFile f(index_json_path);
    idx = parse_json_text<Json>(
        std::string_view(reinterpret_cast<const char*>(f.data()), size_t(f.size())), path_);
  }
  SPF_CHECK(idx.is_object(), path_, ": index is not a JSON object");
  const auto wm = idx.find("weight_map");
  SPF_CHECK(wm != idx.end() && wm->is_object(), path_, ": index has no weight_map object");
  const fs::path dir = fs::path(index_json_path).parent_path();

  std::unordered_map<std::string, size_t> shard_of_file;
  std::vector<std::vector<std::string>> listed;  // per shard, tensors the map assigns to it
  for (auto it = wm->begin(); it != wm->end(); ++it) {
    const std::string& name = it.key();
    SPF_CHECK(it.value().is_string(), path_, ": weight_map entry for ", name, " is not a string");
    const std::string file = it.value().get<std::string>();
    const fs::path rel(file);
    bool escapes = file.empty() || rel.is_absolute();
    for (const fs::path& part : rel) escapes = escapes || part == "..";
    SPF_CHECK(!escapes, path_, ": weight_map entry for ", name, " names shard '", file,
              "', which is not a path inside the checkpoint directory");
    auto [pos, added] = shard_of_file.emplace(file, shards_.size());
    if (added) {
      const fs::path shard_path = dir / rel;
      std::error_code ec;
      SPF_CHECK(fs::is_regular_file(shard_path, ec), path_, ": shard ", file,
                " (listed for tensor ", name, ") does not exist: ", shard_path.string());
      shards_.push_back(std::make_unique<SafetensorsFile>(shard_path.string()));
      listed.emplace_back();
    }
    listed[pos->second].push_back(name);
    where_[name] = pos->second;
  }
  for (size_t s = 0; s < shards_.size(); ++s) {
    for (const std::string& name : listed[s]) {
      SPF_CHECK(shards_[s]->has(name), path_, ": weight_map puts tensor ", name, " in shard ",
                shards_[s]->path(), ", which has no such tensor");
    }
    // Shard file order, restricted to what the map assigns to this shard.
    for (const std::string& name : shards_[s]->names()) {
      auto w = where_.find(name);
      if (w != where_.end() && w->second == s) order_.push_back(name);
    }
  }
}

std::vector<std::string> ShardedSafetensors::names() const {
  return order_;
}

bool ShardedSafetensors::has(const std::string& name) const {
  return where_.count(name) != 0;
}

const TensorInfo& ShardedSafetensors::info(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end()) fail(path_, ": no tensor ", name);
  return shards_[it->second]->info(name);
}

void ShardedSafetensors::read_f32(const std::string& name, std::span<float> out) const {
  auto it = where_.find(name);
  if (it == where_.end()) fail(path_, ": no tensor ", name);
  shards_[it->second]->read_f32(name, out);
}

std::span<const uint8_t> ShardedSafetensors::raw(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end()) fail(path_, ": no tensor ", name);
  return shards_[it->second]->raw(name);
}

std::unique_ptr<TensorSource> open_safetensors_checkpoint(const std::string& path) {
  std::error_code ec;
  const fs::path p(path);
  if (fs::is_directory(p, ec)) {
    const fs::path index = p / "model.safetensors.index.json";
    if (fs::is_regular_file(index, ec)) return std::make_unique<ShardedSafetensors>(index.string());
    const fs::path single = p / "model.safetensors";
    if (fs::is_regular_file(single, ec)) return std::make_unique<SafetensorsFile>(single.string());
    fail(path, ": directory holds neither model.safetensors nor model.safetensors.index.json");
  }
  SPF_CHECK(fs::exists(p, ec), path, ": no such file or directory");
  const std::string fname = p.filename().string();
  const std::string suffix = ".index.json";
  if (fname.size() >= suffix.size() &&
      fname.compare(fname.size() - suffix.size(), suffix.size(), suffix) == 0) {
    return std::make_unique<ShardedSafetensors>(path);
  }
  return std::make_unique<SafetensorsFile>(path);
}

}  // namespace spf
