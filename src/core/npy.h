// NumPy .npy (format 1.0) float32 arrays: the exchange format for logits and reference fixtures.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace spf {

struct NpyArray {
  std::vector<int64_t> shape;
  std::vector<float> data;  // C order
};

// Written atomically (temp file + rename).
void write_npy_f32(const std::string& path, std::span<const float> data,
                   std::span<const int64_t> shape);
// Reads little-endian '<f4' or '<f8' (converted to float) or '<i4'/'<i8' (converted), C order only.
NpyArray read_npy(const std::string& path);

}  // namespace spf
