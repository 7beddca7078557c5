#include "indexer/checkpoint.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/mapped_file.h"
#include "formats/safetensors.h"
#include "model/config.h"
#include "nlohmann/json.hpp"

namespace spf {

namespace {

constexpr const char* kFormat = "spf-indexer";
constexpr const char* kVersion = "1";

// 64-bit multiply-xorshift over 8-byte words (fast enough for a 100 MB GGUF in well under a
// second); identifies content, not a cryptographic hash.
uint64_t hash_bytes(uint64_t h, const uint8_t* p, size_t n) {
  constexpr uint64_t kMul = 0x9E3779B97F4A7C15ull;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    h = (h ^ w) * kMul;
    h ^= h >> 29;
  }
  for (; i < n; ++i) h = (h ^ p[i]) * kMul;
  h ^= uint64_t(n);
  return (h ^ (h >> 31)) * kMul;
}

uint64_t hash_file(uint64_t h, const std::string& path) {
  const MappedFile f(path);
  return hash_bytes(h, f.data(), f.size());
}

std::string hex16(uint64_t v) {
  static const char* digits = "0123456789abcdef";
  std::string s(16, '0');
  for (int i = 15; i >= 0; --i, v >>= 4) s[size_t(i)] = digits[v & 15];
  return s;
}

std::string tensor_name(int layer, int group, IndexerMatrix m) {
  return cat("layers.", layer, ".g", group, ".", matrix_name(m));
}

std::vector<IndexerMatrix> matrices(const IndexerConfig& c) {
  if (c.n_heads > 1) return {IndexerMatrix::wq, IndexerMatrix::wk, IndexerMatrix::ww};
  return {IndexerMatrix::wq, IndexerMatrix::wk};
}

std::vector<int64_t> matrix_shape(const IndexerConfig& c, IndexerMatrix m) {
  switch (m) {
    case IndexerMatrix::wq:
      return {c.wq_rows(), c.d_model};
    case IndexerMatrix::wk:
      return {c.d_idx, c.d_model};
    case IndexerMatrix::ww:
      return {c.n_heads, c.d_model};
  }
  return {};
}

int64_t numel(const std::vector<int64_t>& s) {
  int64_t n = 1;
  for (const int64_t d : s) n *= d;
  return n;
}

int64_t meta_i64(const std::map<std::string, std::string>& m, const std::string& path,
                 const char* key) {
  const auto it = m.find(key);
  SPF_CHECK(it != m.end(), path, ": indexer file has no metadata '", key, "'");
  size_t used = 0;
  long long v = 0;
  try {
    v = std::stoll(it->second, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  SPF_CHECK(used == it->second.size() && used > 0, path, ": indexer metadata ", key, " = '",
            it->second, "' is not an integer");
  SPF_CHECK(v >= 0 && v <= (1ll << 50), path, ": indexer metadata ", key, " = ", v,
            " is out of range");
  return int64_t(v);
}

// Geometry fields: small non-negative integers (validate() checks their ranges).
int meta_int(const std::map<std::string, std::string>& m, const std::string& path,
             const char* key) {
  const int64_t v = meta_i64(m, path, key);
  SPF_CHECK(v <= (1 << 20), path, ": indexer metadata ", key, " = ", v, " is out of range");
  return int(v);
}

std::string meta_str(const std::map<std::string, std::string>& m, const std::string& path,
                     const char* key) {
  const auto it = m.find(key);
  SPF_CHECK(it != m.end(), path, ": indexer file has no metadata '", key, "'");
  return it->second;
}

}  // namespace

ModelIdentity model_identity(const std::string& model_path, const ModelConfig& c) {
  ModelIdentity id;
  id.text = cat(arch_name(c.arch), " hidden=", c.hidden, " layers=", c.n_layers,
                " attn_layers=", c.n_attention_layers(), " heads=", c.n_heads, " kv=", c.n_kv_heads,
                " head_dim=", c.head_dim, " vocab=", c.vocab_size);
  namespace fs = std::filesystem;
  uint64_t h = 0x243F6A8885A308D3ull;
  fs::path p(model_path);
  if (fs::is_regular_file(p) && p.filename() == "config.json") p = p.parent_path();
  if (fs::is_directory(p)) {
    std::vector<std::string> files;
    for (const auto& e : fs::directory_iterator(p)) {
      const std::string name = e.path().filename().string();
      if (e.is_regular_file() && (name == "config.json" || name.ends_with(".safetensors")))
        files.push_back(e.path().string());
    }
    std::sort(files.begin(), files.end());
    SPF_CHECK(!files.empty(), model_path, ": no config.json or .safetensors files to identify");
    for (const std::string& f : files) h = hash_file(h, f);
  } else {
    h = hash_file(h, model_path);
  }
  id.hash = hex16(h);
  return id;
}

void save_indexer(const std::string& path, const IndexerFile& file) {
  const IndexerWeights& w = file.weights;
  const IndexerConfig& c = w.config;
  c.validate();
  SPF_CHECK(int64_t(w.params.size()) == c.total_size(), "save_indexer: ", w.params.size(),
            " parameters for a config of ", c.total_size());
  nlohmann::json header = nlohmann::json::object();
  nlohmann::json meta = nlohmann::json::object();
  meta["format"] = kFormat;
  meta["version"] = kVersion;
  meta["model_identity"] = file.meta.model.text;
  meta["model_hash"] = file.meta.model.hash;
  meta["layers"] = std::to_string(c.n_layers);
  meta["d_model"] = std::to_string(c.d_model);
  meta["d_idx"] = std::to_string(c.d_idx);
  meta["rope_dims"] = std::to_string(c.rope_dims);
  meta["heads"] = std::to_string(c.n_heads);
  meta["groups"] = std::to_string(c.n_groups);
  meta["rope_theta"] = cat(c.rope_theta);
  meta["variant"] = c.variant();
  meta["train_config"] = file.meta.train_config;
  meta["step"] = std::to_string(file.meta.step);
  meta["tokens_seen"] = std::to_string(file.meta.tokens_seen);
  meta["init_seed"] = std::to_string(file.meta.init_seed);
  for (const auto& [k, v] : file.meta.extra) meta["extra." + k] = v;
  header["__metadata__"] = meta;

  struct Piece {
    const float* data;
    int64_t n;
  };
  std::vector<Piece> pieces;
  uint64_t offset = 0;
  auto add = [&](const std::string& name, std::vector<int64_t> shape, const float* data) {
    const int64_t n = numel(shape);
    header[name] = {
        {"dtype", "F32"}, {"shape", shape}, {"data_offsets", {offset, offset + uint64_t(n) * 4}}};
    pieces.push_back({data, n});
    offset += uint64_t(n) * 4;
  };
  for (int l = 0; l < c.n_layers; ++l)
    for (int g = 0; g < c.n_groups; ++g)
      for (const IndexerMatrix m : matrices(c))
        add(tensor_name(l, g, m), matrix_shape(c, m), w.params.data() + param_offset(c, l, g, m));
  if (!file.adam_m.empty()) {
    SPF_CHECK(file.adam_m.size() == w.params.size() && file.adam_v.size() == w.params.size(),
              "save_indexer: optimizer state of the wrong size");
    add("optimizer.m", {int64_t(w.params.size())}, file.adam_m.data());
    add("optimizer.v", {int64_t(w.params.size())}, file.adam_v.data());
  }
  std::string head = header.dump();
  while (head.size() % 8 != 0) head += ' ';
  std::string bytes;
  bytes.reserve(8 + head.size() + offset);
  const uint64_t hn = head.size();
  for (int i = 0; i < 8; ++i) bytes += char((hn >> (8 * i)) & 0xff);
  bytes += head;
  for (const Piece& p : pieces)
    bytes.append(reinterpret_cast<const char*>(p.data), size_t(p.n) * 4);
  write_file_atomic(path, bytes);
}

IndexerFile load_indexer(const std::string& path) {
  SPF_CHECK(!path.empty(), "indexer file: empty path");
  SPF_CHECK(std::filesystem::is_regular_file(path), path, ": no such indexer file");
  std::unique_ptr<SafetensorsFile> st;
  try {
    st = std::make_unique<SafetensorsFile>(path);
  } catch (const Error& e) {
    fail("indexer file ", e.what());
  }
  const auto& m = st->metadata();
  SPF_CHECK(m.count("format") && m.at("format") == kFormat, path,
            ": not an spf indexer file (no __metadata__ format=", kFormat, ")");
  SPF_CHECK(meta_str(m, path, "version") == kVersion, path, ": indexer file version ",
            meta_str(m, path, "version"), " (this build reads ", kVersion, ")");
  IndexerFile f;
  IndexerConfig& c = f.weights.config;
  c.n_layers = meta_int(m, path, "layers");
  c.d_model = meta_int(m, path, "d_model");
  c.d_idx = meta_int(m, path, "d_idx");
  c.rope_dims = meta_int(m, path, "rope_dims");
  c.n_heads = meta_int(m, path, "heads");
  c.n_groups = meta_int(m, path, "groups");
  try {
    c.rope_theta = std::stof(meta_str(m, path, "rope_theta"));
    c.validate();
  } catch (const Error& e) {
    fail(path, ": ", e.what());
  } catch (const std::exception&) {
    fail(path, ": indexer metadata rope_theta is not a number");
  }
  f.meta.model.text = meta_str(m, path, "model_identity");
  f.meta.model.hash = meta_str(m, path, "model_hash");
  f.meta.train_config = meta_str(m, path, "train_config");
  f.meta.step = meta_i64(m, path, "step");
  f.meta.tokens_seen = meta_i64(m, path, "tokens_seen");
  {
    const std::string seed = meta_str(m, path, "init_seed");
    const auto [end, ec] =
        std::from_chars(seed.data(), seed.data() + seed.size(), f.meta.init_seed);
    SPF_CHECK(!seed.empty() && ec == std::errc() && end == seed.data() + seed.size(), path,
              ": indexer metadata init_seed = '", seed, "' is not an unsigned 64-bit integer");
  }
  for (const auto& [k, v] : m)
    if (k.starts_with("extra.")) f.meta.extra[k.substr(6)] = v;

  f.weights.params.resize(size_t(c.total_size()));
  auto read = [&](const std::string& name, const std::vector<int64_t>& shape, float* out) {
    SPF_CHECK(st->has(name), path, ": indexer file has no tensor ", name, " (metadata says ",
              c.n_layers, " layers, ", c.n_groups, " groups, ", c.n_heads, " heads)");
    const TensorInfo& info = st->info(name);
    SPF_CHECK(info.shape == shape, path, ": tensor ", name, " has shape [",
              info.shape.empty() ? 0 : info.shape[0], info.shape.size() > 1 ? ", " : "",
              info.shape.size() > 1 ? std::to_string(info.shape[1]) : std::string(),
              "] but the metadata (d_idx=", c.d_idx, ", d_model=", c.d_model, ", heads=", c.n_heads,
              ") needs [", shape[0], shape.size() > 1 ? cat(", ", shape[1]) : std::string(), "]");
    SPF_CHECK(info.dtype == DType::f32, path, ": tensor ", name, " is not F32");
    st->read_f32(name, std::span<float>(out, size_t(numel(shape))));
    for (int64_t i = 0; i < numel(shape); ++i)
      SPF_CHECK(std::isfinite(out[i]), path, ": tensor ", name, " holds a non-finite value at ", i);
  };
  for (int l = 0; l < c.n_layers; ++l)
    for (int g = 0; g < c.n_groups; ++g)
      for (const IndexerMatrix mat : matrices(c))
        read(tensor_name(l, g, mat), matrix_shape(c, mat),
             f.weights.params.data() + param_offset(c, l, g, mat));
  if (st->has("optimizer.m")) {
    f.adam_m.resize(f.weights.params.size());
    f.adam_v.resize(f.weights.params.size());
    read("optimizer.m", {int64_t(f.adam_m.size())}, f.adam_m.data());
    read("optimizer.v", {int64_t(f.adam_v.size())}, f.adam_v.data());
  }
  return f;
}

void check_indexer_for_model(const IndexerFile& file, const std::string& where,
                             const ModelConfig& cfg, const std::string& model_path) {
  const IndexerConfig& c = file.weights.config;
  SPF_CHECK(c.n_layers == cfg.n_attention_layers(), where, ": indexer has ", c.n_layers,
            " layers but the model has ", cfg.n_attention_layers(), " attention layers");
  SPF_CHECK(c.d_model == cfg.hidden, where, ": indexer reads hidden size ", c.d_model,
            " but the model's is ", cfg.hidden);
  SPF_CHECK(c.n_groups == 1 || c.n_groups == cfg.n_kv_heads, where, ": indexer has ", c.n_groups,
            " groups but the model has ", cfg.n_kv_heads, " KV heads");
  if (model_path.empty()) return;
  const ModelIdentity id = model_identity(model_path, cfg);
  SPF_CHECK(file.meta.model.text == id.text, where, ": indexer was trained for '",
            file.meta.model.text, "', not this model ('", id.text, "')");
  SPF_CHECK(file.meta.model.hash == id.hash, where, ": indexer was trained for a model with hash ",
            file.meta.model.hash, "; ", model_path, " hashes to ", id.hash,
            " (another checkpoint of the same shape)");
}

}  // namespace spf
