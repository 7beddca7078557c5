// safetensors reader: one file (mmap, header validated: offsets in range, non-overlapping,
// dtype x shape == byte size) or a sharded checkpoint through model.safetensors.index.json.
// open_safetensors_checkpoint() picks the right one for a directory or file path.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/mapped_file.h"
#include "formats/tensor_source.h"

namespace spf {

class SafetensorsFile final : public TensorSource {
 public:
  explicit SafetensorsFile(const std::string& path);
  const std::string& path() const override { return file_.path(); }
  std::vector<std::string> names() const override;
  bool has(const std::string& name) const override;
  const TensorInfo& info(const std::string& name) const override;
  using TensorSource::read_f32;
  void read_f32(const std::string& name, std::span<float> out) const override;
  std::span<const uint8_t> raw(const std::string& name) const override;
  const std::map<std::string, std::string>& metadata() const { return meta_; }

 private:
  struct Entry {
    TensorInfo info;
    uint64_t begin = 0;  // absolute offsets in the file
    uint64_t end = 0;
  };
  const Entry& entry(const std::string& name) const;
  MappedFile file_;
  std::map<std::string, std::string> meta_;
  std::vector<std::string> order_;
  std::unordered_map<std::string, Entry> tensors_;
};

// Several shards behind one weight map (model.safetensors.index.json).
class ShardedSafetensors final : public TensorSource {
 public:
  explicit ShardedSafetensors(const std::string& index_json_path);
  const std::string& path() const override { return path_; }
  std::vector<std::string> names() const override;
  bool has(const std::string& name) const override;
  const TensorInfo& info(const std::string& name) const override;
  using TensorSource::read_f32;
  void read_f32(const std::string& name, std::span<float> out) const override;
  std::span<const uint8_t> raw(const std::string& name) const override;

 private:
  std::string path_;
  std::vector<std::unique_ptr<SafetensorsFile>> shards_;
  std::unordered_map<std::string, size_t> where_;
  std::vector<std::string> order_;
};

// A directory holding model.safetensors or model.safetensors.index.json (or a path to either file).
std::unique_ptr<TensorSource> open_safetensors_checkpoint(const std::string& path);

}  // namespace spf
