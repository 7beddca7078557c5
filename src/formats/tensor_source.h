// TensorSource: the one read interface over checkpoint files (GGUF, safetensors, sharded
// safetensors). Shapes are in PyTorch order ([out, in] for a linear weight), whatever the file's
// native order; read_f32 dequantizes any supported storage type to float32. Formats know no model:
// tensor names are the file's own (a model layer maps its names onto them).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace spf {

struct TensorInfo {
  std::string name;
  std::vector<int64_t> shape;  // PyTorch order
  DType dtype = DType::f32;
  std::string ggml_type_name;  // for GGUF: the ggml type's name (also for types we cannot decode)
  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
};

class TensorSource {
 public:
  virtual ~TensorSource() = default;
  virtual const std::string& path() const = 0;
  virtual std::vector<std::string> names() const = 0;  // in file order
  virtual bool has(const std::string& name) const = 0;
  // Throws spf::Error "<path>: no tensor <name>" when absent.
  virtual const TensorInfo& info(const std::string& name) const = 0;
  // out.size() must equal numel; throws a clear error naming the tensor and its type if the type
  // cannot be decoded.
  virtual void read_f32(const std::string& name, std::span<float> out) const = 0;

  // The stored bytes of a tensor (info().dtype, row-major in the PyTorch-order shape; ggml block
  // types as their blocks), when the source can hand them out unconverted; empty when it cannot
  // (read_f32 still works). Valid while the source lives.
  virtual std::span<const uint8_t> raw(const std::string& name) const {
    (void)info(name);
    return {};
  }

  std::vector<float> read_f32(const std::string& name) const {
    check_readable(name);
    std::vector<float> v(size_t(info(name).numel()));
    read_f32(name, v);
    return v;
  }

 protected:
  // Throws the read_f32 error for a tensor whose type cannot be decoded, before anything is
  // allocated (the element count of an undecodable tensor is not bounded by the file size).
  virtual void check_readable(const std::string& name) const { (void)info(name); }
};

}  // namespace spf
