// The tiny HF fixtures widened to shapes the GPU kernels are built for (head_dim 64, Gated
// DeltaNet heads of 32): the config the GPU tests of this folder run random weights of.
#pragma once

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "model/config.h"
#include "test_util.h"

namespace spf::test {

inline ModelConfig gpu_sized(const std::string& name) {
  std::ifstream in(fixture("hf/" + name + "/config.json"));
  nlohmann::json j = nlohmann::json::parse(in);
  nlohmann::json& t = j.contains("text_config") ? j["text_config"] : j;
  t["hidden_size"] = 256;
  t["intermediate_size"] = 512;
  t["num_attention_heads"] = 4;
  if (t.value("num_key_value_heads", 4) > 1) t["num_key_value_heads"] = 2;
  t["head_dim"] = 64;
  if (t.contains("linear_key_head_dim")) {
    t["linear_key_head_dim"] = 32;
    t["linear_value_head_dim"] = 32;
  }
  return config_from_hf_json(j, name + " (GPU-sized)");
}

}  // namespace spf::test
