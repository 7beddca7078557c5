// spf info / spf logits on corrupt checkpoint files (GGUF: truncated, wrong magic, tensor out of
// bounds; safetensors: truncated, tensor out of bounds): one "spf: error:" line naming the file and
// the problem, a non-zero exit, no crash, and no output file.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <sstream>

#include "cli/cli_checks.h"
#include "formats/quant.h"
#include "test_util.h"
// GCC 12 reports a false -Wrestrict inside std::string concatenation in the writer at -O3.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wrestrict"
#include "formats/writers.h"
#pragma GCC diagnostic pop

namespace spf {
namespace {

using test::CliRun;
using test::expect_one_line_error;
using test::read_text;
using test::run_split;
using test::write_text;

namespace fs = std::filesystem;
using test::Bytes;
using test::GgufBuilder;
using test::TempDir;

// `spf info PATH` and `spf logits --model PATH` both fail cleanly; logits writes nothing.
void expect_both_fail(const TempDir& t, const std::string& path,
                      std::initializer_list<std::string> info_needles,
                      std::initializer_list<std::string> logits_needles) {
  {
    SCOPED_TRACE("spf info " + path);
    expect_one_line_error(run_split(t, "info " + path), info_needles);
  }
  SCOPED_TRACE("spf logits --model " + path);
  const std::string out = t.file("X.npy");
  expect_one_line_error(run_split(t, "logits --model " + path + " --ids 1,2 --out " + out),
                        logits_needles);
  EXPECT_FALSE(fs::exists(out));
}

// A small GGUF with llama metadata and two F32 tensors.
GgufBuilder small_gguf() {
  GgufBuilder b;
  b.kv_string("general.architecture", "llama");
  b.kv_scalar("llama.block_count", GgufType::u32, uint32_t(1));
  b.kv_scalar("llama.context_length", GgufType::u32, uint32_t(64));
  b.tensor("token_embd.weight", {8, 4}, ggml_type::F32, test::to_bytes(test::random_floats(32, 1)));
  b.tensor("output_norm.weight", {8}, ggml_type::F32, test::to_bytes(test::random_floats(8, 2)));
  return b;
}

// Llama metadata of a 4-wide model with `layers` blocks, no tensors yet.
GgufBuilder tiny_llama_metadata(uint32_t layers) {
  GgufBuilder b;
  b.kv_string("general.architecture", "llama");
  b.kv_scalar("llama.block_count", GgufType::u32, layers);
  b.kv_scalar("llama.embedding_length", GgufType::u32, uint32_t(4));
  b.kv_scalar("llama.feed_forward_length", GgufType::u32, uint32_t(8));
  b.kv_scalar("llama.attention.head_count", GgufType::u32, uint32_t(2));
  b.kv_scalar("llama.attention.layer_norm_rms_epsilon", GgufType::f32, 1e-5f);
  return b;
}

// Found by the GGUF fuzzer: a huge block_count sized a per-layer table (3 GB) before any check.
TEST(CliBadCheckpoint, GgufAbsurdLayerCountFailsBeforeAllocating) {
  TempDir t;
  GgufBuilder b = tiny_llama_metadata(788529152);
  b.tensor("token_embd.weight", {8, 4}, ggml_type::F32, test::to_bytes(test::random_floats(32, 1)));
  const std::string p = t.file("layers.gguf");
  test::write_bytes(p, b.build());
  const test::CliRun r =
      run_split(t, "logits --model " + p + " --ids 1,2 --out " + t.file("X.npy"));
  expect_one_line_error(r, {"layers.gguf", "788529152", "beyond the supported maximum"});
}

// Found by the fuzz smoke (UBSan): a token_embd.weight with no dimensions was indexed for its
// row count when the metadata names no vocab size.
TEST(CliBadCheckpoint, GgufEmbeddingWithoutDimensions) {
  TempDir t;
  GgufBuilder b = tiny_llama_metadata(1);
  b.tensor("token_embd.weight", {}, ggml_type::F32, test::to_bytes(test::random_floats(1, 1)));
  const std::string p = t.file("scalar.gguf");
  test::write_bytes(p, b.build());
  expect_one_line_error(run_split(t, "info " + p),
                        {"scalar.gguf", "token_embd.weight has no dimensions"});
}

TEST(CliBadCheckpoint, GgufWrongMagic) {
  TempDir t;
  GgufBuilder b = small_gguf();
  b.magic = "GGUX";
  const std::string p = t.file("wrong_magic.gguf");
  test::write_bytes(p, b.build());
  // info opens .gguf files as GGUF; load_model() sniffs the magic and then looks for config.json.
  expect_both_fail(t, p, {p, "not a GGUF file", "magic"}, {p, "not a GGUF file"});
}

TEST(CliBadCheckpoint, GgufTruncatedInTensorInfos) {
  TempDir t;
  GgufBuilder b = small_gguf();
  const Bytes full = b.build();
  const std::string p = t.file("truncated.gguf");
  test::write_bytes(p, Bytes(full.begin(), full.begin() + long(b.infos_end() - 6)));
  expect_both_fail(t, p, {p, "truncated at offset"}, {p, "truncated at offset"});
}

TEST(CliBadCheckpoint, GgufTruncatedInTensorData) {
  TempDir t;
  GgufBuilder b = small_gguf();
  const Bytes full = b.build();
  const std::string p = t.file("truncated_data.gguf");
  test::write_bytes(p, Bytes(full.begin(), full.begin() + long(b.content_end() - 4)));
  expect_both_fail(t, p, {p, "output_norm.weight", "extends past the end"},
                   {p, "output_norm.weight", "extends past the end"});
}

TEST(CliBadCheckpoint, GgufTensorOutOfBounds) {
  TempDir t;
  GgufBuilder b;
  b.kv_string("general.architecture", "llama");
  b.tensor("token_embd.weight", {8, 4}, ggml_type::F32, test::to_bytes(test::random_floats(32, 1)),
           uint64_t(1) << 20);
  const std::string p = t.file("oob.gguf");
  test::write_bytes(p, b.build());
  expect_both_fail(t, p, {p, "token_embd.weight", "extends past the end"},
                   {p, "token_embd.weight", "extends past the end"});
}

// A checkpoint directory: the tiny llama's config.json and the given model.safetensors bytes.
std::string hf_dir_with(const TempDir& t, const Bytes& safetensors) {
  const fs::path d = t.path() / "ckpt";
  fs::create_directories(d);
  fs::copy_file(test::fixture("hf/llama/config.json"), d / "config.json");
  test::write_bytes((d / "model.safetensors").string(), safetensors);
  return d.string();
}

Bytes llama_safetensors() {
  const std::string s = read_text(test::fixture("hf/llama/model.safetensors"));
  return Bytes(s.begin(), s.end());
}

TEST(CliBadCheckpoint, SafetensorsTruncatedInHeader) {
  TempDir t;
  const Bytes full = llama_safetensors();
  const std::string d = hf_dir_with(t, Bytes(full.begin(), full.begin() + 100));
  expect_both_fail(t, d, {"model.safetensors", "truncated file"},
                   {"model.safetensors", "truncated file"});
}

TEST(CliBadCheckpoint, SafetensorsTruncatedInData) {
  TempDir t;
  const Bytes full = llama_safetensors();
  const std::string d = hf_dir_with(t, Bytes(full.begin(), full.end() - 100));
  expect_both_fail(t, d, {"model.safetensors", "out of range"},
                   {"model.safetensors", "out of range"});
}

TEST(CliBadCheckpoint, SafetensorsTensorOutOfBounds) {
  TempDir t;
  const std::string header =
      R"({"model.norm.weight":{"dtype":"F32","shape":[64],"data_offsets":[256,512]}})";
  const std::string d = hf_dir_with(t, test::safetensors_bytes(header, Bytes(256, 0)));
  expect_both_fail(t, d, {"model.safetensors", "model.norm.weight", "out of range"},
                   {"model.safetensors", "model.norm.weight", "out of range"});
}

TEST(CliBadCheckpoint, NoSuchPath) {
  TempDir t;
  const std::string p = t.file("absent.gguf");
  expect_both_fail(t, p, {p, "no such file"}, {p, "no such file"});
}

}  // namespace
}  // namespace spf
