// Indexer files: safetensors with one tensor per scorer matrix ("layers.L.gG.wq|wk|ww", f32,
// [out][in]) and __metadata__ naming the base model (identity text and content hash), the
// geometry (layers, d_model, d_idx, rope dims, heads, groups, theta), the variant, the training
// config and progress (step, tokens seen). A training checkpoint adds the optimizer state
// ("optimizer.m", "optimizer.v", flat) and the trainer's resume fields.
//
// Loading checks the file (format tag, every tensor present with the shape the metadata implies,
// finite values; truncation and corrupt headers fail in the safetensors reader) and, given the
// model, that it was made for it (identity, hash, attention layers, hidden size, KV heads). Every
// failure is one spf::Error line naming the file and what is wrong.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "indexer/indexer_model.h"

namespace spf {

struct ModelConfig;

// What a checkpoint says about its base model.
struct ModelIdentity {
  std::string text;  // "llama hidden=576 layers=30 attn_layers=30 heads=9 kv=3 head_dim=64 ..."
  std::string hash;  // 16 hex digits over the model's files (GGUF file, or config + safetensors)
};
ModelIdentity model_identity(const std::string& model_path, const ModelConfig& cfg);

struct IndexerMeta {
  ModelIdentity model;
  std::string train_config;  // JSON text ("" for random init)
  int64_t step = 0;
  int64_t tokens_seen = 0;
  uint64_t init_seed = 0;
  std::map<std::string, std::string> extra;  // trainer fields (resume state), kept verbatim
};

struct IndexerFile {
  IndexerWeights weights;
  IndexerMeta meta;
  std::vector<float> adam_m, adam_v;  // empty unless a training checkpoint
};

// Atomic write (temp file + rename). adam_m / adam_v are written when non-empty.
void save_indexer(const std::string& path, const IndexerFile& file);
// Throws spf::Error (one line naming the path) on any problem listed above.
IndexerFile load_indexer(const std::string& path);
// Throws unless the file was made for this model (identity text and hash, when model_path is
// non-empty; geometry always).
void check_indexer_for_model(const IndexerFile& file, const std::string& where,
                             const ModelConfig& cfg, const std::string& model_path);

}  // namespace spf
