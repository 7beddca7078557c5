// Typed weights: the matmul over Q8_0 / Q4_0 / Q4_1 / F16 / BF16 WeightTensors (decode-sized and
// prefill-sized calls) equals fp32 math on the dequantized weights; a GGUF holding the tiny llama
// fixture in F32 gives HF's logits whether matrices are kept as stored or converted (so the q/k
// row un-permutation works on raw bytes); quantized GGUF and BF16 safetensors checkpoints give the
// same logits kept as stored or converted at load.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "core/error.h"
#include "core/half.h"
#include "core/npy.h"
#include "formats/quant.h"
#include "formats/safetensors.h"
#include "model/linear.h"
#include "model/model.h"
#include "test_util.h"
// GCC 12 reports a false -Wrestrict inside std::string concatenation in the writer at -O3.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wrestrict"
#include "formats/writers.h"
#pragma GCC diagnostic pop

namespace spf {
namespace {

double rel_err(std::span<const float> got, std::span<const float> want) {
  double num = 0, den = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    num = std::max(num, std::abs(double(got[i]) - double(want[i])));
    den = std::max(den, std::abs(double(want[i])));
  }
  return den > 0 ? num / den : num;
}

// values [rows][cols] stored as `type`.
WeightTensor make_weight(DType type, const std::vector<float>& values, int64_t rows, int64_t cols) {
  const size_t row_bytes = WeightTensor::row_bytes(type, cols);
  Buffer b(Device::cpu, row_bytes * size_t(rows));
  auto* out = static_cast<uint8_t*>(b.data());
  for (int64_t r = 0; r < rows; ++r) {
    const float* x = values.data() + r * cols;
    uint8_t* dst = out + size_t(r) * row_bytes;
    switch (type) {
      case DType::q8_0:
        quantize_row_q8_0(x, dst, cols);
        break;
      case DType::q4_0:
        quantize_row_q4_0(x, dst, cols);
        break;
      case DType::q4_1:
        quantize_row_q4_1(x, dst, cols);
        break;
      case DType::f16:
      case DType::bf16:
        for (int64_t c = 0; c < cols; ++c) {
          const uint16_t h = type == DType::f16 ? f32_to_fp16(x[c]) : f32_to_bf16(x[c]);
          std::memcpy(dst + 2 * c, &h, 2);
        }
        break;
      default:
        std::memcpy(dst, x, row_bytes);
    }
  }
  return WeightTensor(type, rows, cols, std::move(b));
}

class TypedLinear : public ::testing::TestWithParam<DType> {};

TEST_P(TypedLinear, EqualsFp32MathOnTheDequantizedWeight) {
  const int64_t out = 45, in = 96;  // out not a multiple of the row groups
  const std::vector<float> values = test::random_floats(size_t(out * in), 1);
  const WeightTensor w = make_weight(GetParam(), values, out, in);
  const WeightTensor ref = w.to_f32();
  ASSERT_EQ(ref.dtype(), DType::f32);
  ASSERT_EQ(w.dtype(), GetParam());
  // The weight really is in its type: rounding moved the values (by less than a 4-bit step).
  const double moved = rel_err(std::span(ref.f32(), values.size()), values);
  EXPECT_EQ(moved == 0.0, GetParam() == DType::f32) << moved;
  EXPECT_LT(moved, 0.15);
  const std::vector<float> bias = test::random_floats(size_t(out), 2);
  for (int64_t n : {1, 3, 8, 9, 40}) {  // few-rows (decode) and panel (prefill) paths
    const std::vector<float> x = test::random_floats(size_t(n * in), 3 + uint32_t(n));
    std::vector<float> got(size_t(n * out)), want(size_t(n * out));
    linear(x.data(), n, w, bias.data(), got.data());
    linear(x.data(), n, ref, bias.data(), want.data());
    EXPECT_LE(rel_err(got, want), 1e-5) << dtype_name(GetParam()) << " n=" << n;
    // And fp32 math by hand (a sum per output).
    for (int64_t t = 0; t < n; ++t)
      for (int64_t r = 0; r < out; r += 7) {
        double s = bias[size_t(r)];
        for (int64_t c = 0; c < in; ++c) s += double(x[size_t(t * in + c)]) * ref.f32()[r * in + c];
        EXPECT_NEAR(got[size_t(t * out + r)], s, 1e-4 * (1 + std::abs(s)));
      }
  }
  // Embedding lookup: rows as fp32.
  const int32_t ids[3] = {44, 0, 7};
  std::vector<float> rows(size_t(3 * in));
  gather_rows(w, ids, 3, rows.data());
  for (int t = 0; t < 3; ++t)
    for (int64_t c = 0; c < in; ++c)
      EXPECT_EQ(rows[size_t(t * in + c)], ref.f32()[ids[t] * in + c]);
  EXPECT_THROW(gather_rows(w, std::array<int32_t, 1>{45}.data(), 1, rows.data()), Error);
}

INSTANTIATE_TEST_SUITE_P(Types, TypedLinear,
                         ::testing::Values(DType::f32, DType::f16, DType::bf16, DType::q8_0,
                                           DType::q4_0, DType::q4_1),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

TEST(WeightTensor, RejectsPartialBlocksAndUndecodableTypes) {
  EXPECT_THROW(WeightTensor::row_bytes(DType::q4_1, 48), Error);
  EXPECT_THROW(WeightTensor::row_bytes(DType::i32, 4), Error);
  EXPECT_EQ(WeightTensor::row_bytes(DType::q4_1, 64), 40u);
  EXPECT_EQ(WeightTensor::row_bytes(DType::bf16, 3), 6u);
  EXPECT_THROW(WeightTensor(DType::q8_0, 2, 32, Buffer(Device::cpu, 34)), Error);  // needs 68
  EXPECT_THROW(WeightTensor::from_f32(std::vector<float>(5), 2, 3), Error);
}

// ---- checkpoints ----

std::string fixture_dir() {
  return test::fixture("hf/llama");
}

std::vector<int32_t> fixture_ids() {
  const NpyArray a = read_npy(fixture_dir() + "/ids.npy");
  return {a.data.begin(), a.data.end()};
}

// Logits of every token, then of `decode` more one-token steps (LogitsMode::last), concatenated.
std::vector<float> run(const Model& m, const std::vector<int32_t>& ids, size_t decode) {
  const int64_t V = m.config().vocab_size;
  const size_t prefill = ids.size() - decode;
  auto st = m.new_state(int64_t(ids.size()));
  std::vector<float> logits(prefill * size_t(V)), step(static_cast<size_t>(V));
  m.forward(std::span(ids).first(prefill), *st, dense_attention_backend(), LogitsMode::all, logits);
  for (size_t t = prefill; t < ids.size(); ++t) {
    m.forward(std::span(ids).subspan(t, 1), *st, dense_attention_backend(), LogitsMode::last, step);
    logits.insert(logits.end(), step.begin(), step.end());
  }
  return logits;
}

LoadOptions storage(WeightStorage s) {
  LoadOptions o;
  o.weights = s;
  return o;
}

// HF name -> GGUF name of the tiny llama fixture.
std::string gguf_name(const std::string& hf) {
  if (hf == "model.embed_tokens.weight") return "token_embd.weight";
  if (hf == "model.norm.weight") return "output_norm.weight";
  if (hf == "lm_head.weight") return "output.weight";
  static const std::pair<const char*, const char*> kMap[] = {
      {"self_attn.q_proj.", "attn_q."},          {"self_attn.k_proj.", "attn_k."},
      {"self_attn.v_proj.", "attn_v."},          {"self_attn.o_proj.", "attn_output."},
      {"mlp.gate_proj.", "ffn_gate."},           {"mlp.up_proj.", "ffn_up."},
      {"mlp.down_proj.", "ffn_down."},           {"input_layernorm.", "attn_norm."},
      {"post_attention_layernorm.", "ffn_norm."}};
  const size_t dot = hf.find('.', 13);  // after "model.layers."
  const std::string idx = hf.substr(13, dot - 13), rest = hf.substr(dot + 1);
  for (const auto& [from, to] : kMap)
    if (rest.rfind(from, 0) == 0) return "blk." + idx + "." + to + rest.substr(std::strlen(from));
  ADD_FAILURE() << "no GGUF name for " << hf;
  return hf;
}

// The llama fixture as a llama GGUF: matrices of `matrix_type` (q/k rows in GGUF's interleaved
// order), vectors F32.
std::string write_fixture_gguf(const test::TempDir& dir, uint32_t matrix_type) {
  const ModelConfig cfg = config_from_hf_file(fixture_dir() + "/config.json");
  auto src = open_safetensors_checkpoint(fixture_dir());
  test::GgufBuilder g;
  g.kv_string("general.architecture", "llama");
  g.kv_scalar("llama.embedding_length", GgufType::u32, uint32_t(cfg.hidden));
  g.kv_scalar("llama.block_count", GgufType::u32, uint32_t(cfg.n_layers));
  g.kv_scalar("llama.feed_forward_length", GgufType::u32, uint32_t(cfg.intermediate));
  g.kv_scalar("llama.attention.head_count", GgufType::u32, uint32_t(cfg.n_heads));
  g.kv_scalar("llama.attention.head_count_kv", GgufType::u32, uint32_t(cfg.n_kv_heads));
  g.kv_scalar("llama.attention.layer_norm_rms_epsilon", GgufType::f32, cfg.rms_eps);
  g.kv_scalar("llama.context_length", GgufType::u32, uint32_t(cfg.max_context));
  g.kv_scalar("llama.rope.freq_base", GgufType::f32, cfg.rope.theta);
  for (const std::string& name : src->names()) {
    const TensorInfo& info = src->info(name);
    std::vector<float> v = src->read_f32(name);
    const std::string gname = gguf_name(name);
    if (info.shape.size() == 1) {
      g.tensor(gname, {uint64_t(info.shape[0])}, ggml_type::F32, test::to_bytes(v));
      continue;
    }
    const int64_t rows = info.shape[0], cols = info.shape[1];
    const bool q = name.find("q_proj") != std::string::npos;
    if (q || name.find("k_proj") != std::string::npos) {
      const int64_t hd = cfg.head_dim, half = hd / 2;
      std::vector<float> p(v.size());
      for (int64_t h = 0; h < rows / hd; ++h)
        for (int64_t r = 0; r < hd; ++r)
          std::memcpy(&p[size_t((h * hd + r) * cols)],
                      &v[size_t((h * hd + (r % 2) * half + r / 2) * cols)],
                      size_t(cols) * sizeof(float));
      v.swap(p);
    }
    test::Bytes bytes;
    if (matrix_type == ggml_type::F32) {
      bytes = test::to_bytes(v);
    } else {
      const GgmlTypeInfo* t = ggml_type_info(matrix_type);
      bytes.resize(size_t(rows * cols / t->block_size * t->type_size));
      if (matrix_type == ggml_type::Q8_0) quantize_row_q8_0(v.data(), bytes.data(), rows * cols);
      if (matrix_type == ggml_type::Q4_1) quantize_row_q4_1(v.data(), bytes.data(), rows * cols);
    }
    g.tensor(gname, {uint64_t(cols), uint64_t(rows)}, matrix_type, bytes);
  }
  const std::string path = dir.file("tiny.gguf");
  test::write_bytes(path, g.build());
  return path;
}

TEST(TypedCheckpoint, F32GgufMatchesHfWhetherStoredOrConverted) {
  test::TempDir dir;
  const std::string path = write_fixture_gguf(dir, ggml_type::F32);
  const std::vector<int32_t> ids = fixture_ids();
  const NpyArray ref = read_npy(fixture_dir() + "/logits.npy");
  for (WeightStorage s : {WeightStorage::stored, WeightStorage::f32}) {
    const auto model = load_model(path, storage(s));
    const std::vector<float> got = run(*model, ids, 0);
    EXPECT_LE(rel_err(got, ref.data), 1e-4) << (s == WeightStorage::stored ? "stored" : "f32");
  }
}

TEST(TypedCheckpoint, QuantizedGgufStoredEqualsConvertedAtLoad) {
  const std::vector<int32_t> ids = fixture_ids();
  const NpyArray ref = read_npy(fixture_dir() + "/logits.npy");
  for (uint32_t type : {ggml_type::Q8_0, ggml_type::Q4_1}) {
    test::TempDir dir;
    const std::string path = write_fixture_gguf(dir, type);
    const std::vector<float> stored =
        run(*load_model(path, storage(WeightStorage::stored)), ids, 8);
    const std::vector<float> f32 = run(*load_model(path, storage(WeightStorage::f32)), ids, 8);
    EXPECT_LE(rel_err(stored, f32), 1e-5) << ggml_type_name(type);
    // Quantization is in the path: the logits move away from the fp32 model's.
    EXPECT_GT(rel_err(std::span(stored).first(ref.data.size()), ref.data), 1e-4);
  }
}

TEST(TypedCheckpoint, Bf16SafetensorsStoredEqualsConvertedAtLoad) {
  test::TempDir dir;
  auto src = open_safetensors_checkpoint(fixture_dir());
  test::SafetensorsBuilder b;
  for (const std::string& name : src->names()) {
    const std::vector<float> v = src->read_f32(name);
    std::vector<uint16_t> h(v.size());
    for (size_t i = 0; i < v.size(); ++i) h[i] = f32_to_bf16(v[i]);
    b.tensor(name, "BF16", src->info(name).shape, test::to_bytes(h));
  }
  test::write_bytes(dir.file("model.safetensors"), b.build());
  std::filesystem::copy_file(fixture_dir() + "/config.json", dir.file("config.json"));
  const std::vector<int32_t> ids = fixture_ids();
  const std::vector<float> stored =
      run(*load_model(dir.path().string(), storage(WeightStorage::stored)), ids, 8);
  const std::vector<float> f32 =
      run(*load_model(dir.path().string(), storage(WeightStorage::f32)), ids, 8);
  EXPECT_LE(rel_err(stored, f32), 1e-5);
}

}  // namespace
}  // namespace spf
