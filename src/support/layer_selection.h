// Which attention layers run sparse (--sparse-layers): "all", "every:K" (attention layers
// K-1, 2K-1, ...: the last of every K, where a hybrid such as Qwen3.5 places its full-attention
// layers among K-1 linear ones) or a list "3,7,11" of attention-layer indices. Parsed before the
// model loads (syntax), resolved against its layer count after (indices in range). Combines with
// --dense-layers L: a layer is sparse when selected here and not among the first L.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace spf {

struct LayerSelection {
  enum class Kind { all, every, list };
  Kind kind = Kind::all;
  int every = 1;
  std::vector<int> layers;  // Kind::list, ascending, unique

  // Throws spf::Error naming the text and what is allowed.
  static LayerSelection parse(std::string_view text);
  // One flag per attention layer; throws when a listed index is >= n_attention_layers.
  std::vector<uint8_t> mask(int n_attention_layers) const;
  std::string str() const;  // canonical text
  bool operator==(const LayerSelection&) const = default;
};

}  // namespace spf
