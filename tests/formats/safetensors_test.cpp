// safetensors reader: single files (every dtype, metadata), sharded checkpoints, checkpoint
// discovery, and corrupt headers (each error names the file and what is wrong).
#include "formats/safetensors.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "core/error.h"
#include "core/half.h"
#include "test_util.h"
#include "writers.h"

namespace spf {
namespace {

using test::Bytes;
using test::SafetensorsBuilder;

#define EXPECT_HAS(hay, needle) EXPECT_NE((hay).find(needle), std::string::npos) << (hay)

std::string open_error(const std::string& path) {
  try {
    SafetensorsFile f(path);
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "error must be one line: " << msg;
    EXPECT_EQ(msg.rfind(path, 0), 0u) << "error must start with the path: " << msg;
    return msg;
  }
  return "<no error>";
}

std::string open_error(const test::TempDir& dir, const Bytes& bytes) {
  const std::string path = dir.file("bad.safetensors");
  test::write_bytes(path, bytes);
  return open_error(path);
}

std::string header_error(const test::TempDir& dir, const std::string& header, size_t data_bytes) {
  return open_error(dir, test::safetensors_bytes(header, Bytes(data_bytes, 0)));
}

template <class T>
Bytes bytes_of(std::initializer_list<T> v) {
  return test::to_bytes(std::vector<T>(v));
}

TEST(Safetensors, EveryDtypeAndMetadata) {
  const std::vector<float> f32 = test::random_floats(6, 5);
  std::vector<uint16_t> f16, bf16;
  for (float x : f32) {
    f16.push_back(f32_to_fp16(x));
    bf16.push_back(f32_to_bf16(x));
  }
  SafetensorsBuilder b;
  b.metadata(R"({"format":"pt","note":"x"})");
  b.tensor("a.f32", "F32", {2, 3}, test::to_bytes(f32));
  b.tensor("b.f16", "F16", {3, 2}, test::to_bytes(f16));
  b.tensor("c.bf16", "BF16", {6}, test::to_bytes(bf16));
  b.tensor("d.f64", "F64", {2}, bytes_of<double>({0.25, -3e10}));
  b.tensor("e.i64", "I64", {2}, bytes_of<int64_t>({-5, 1LL << 40}));
  b.tensor("f.i32", "I32", {1}, bytes_of<int32_t>({-7}));
  b.tensor("g.i16", "I16", {2}, bytes_of<int16_t>({-300, 300}));
  b.tensor("h.i8", "I8", {2}, bytes_of<int8_t>({-128, 127}));
  b.tensor("i.u8", "U8", {2}, bytes_of<uint8_t>({0, 255}));
  b.tensor("j.bool", "BOOL", {3}, bytes_of<uint8_t>({1, 0, 1}));
  b.tensor("k.scalar", "F32", {}, bytes_of<float>({42.0f}));
  b.tensor("l.empty", "F32", {0, 4}, Bytes());
  test::TempDir dir;
  const std::string path = dir.file("model.safetensors");
  test::write_bytes(path, b.build());
  const SafetensorsFile f(path);

  EXPECT_EQ(f.names(),
            (std::vector<std::string>{"a.f32", "b.f16", "c.bf16", "d.f64", "e.i64", "f.i32",
                                      "g.i16", "h.i8", "i.u8", "j.bool", "k.scalar", "l.empty"}));
  EXPECT_EQ(f.metadata().at("format"), "pt");
  EXPECT_EQ(f.metadata().size(), 2u);
  EXPECT_EQ(f.info("a.f32").shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(f.info("b.f16").dtype, DType::f16);
  EXPECT_EQ(f.info("k.scalar").numel(), 1);
  EXPECT_EQ(f.read_f32("a.f32"), f32);
  const std::vector<float> h = f.read_f32("b.f16"), bf = f.read_f32("c.bf16");
  for (size_t i = 0; i < f32.size(); ++i) {
    EXPECT_EQ(h[i], fp16_to_f32(f16[i]));
    EXPECT_EQ(bf[i], bf16_to_f32(bf16[i]));
  }
  EXPECT_EQ(f.read_f32("d.f64"), (std::vector<float>{0.25f, -3e10f}));
  EXPECT_EQ(f.read_f32("e.i64"), (std::vector<float>{-5.0f, 1099511627776.0f}));
  EXPECT_EQ(f.read_f32("f.i32"), (std::vector<float>{-7.0f}));
  EXPECT_EQ(f.read_f32("g.i16"), (std::vector<float>{-300.0f, 300.0f}));
  EXPECT_EQ(f.read_f32("h.i8"), (std::vector<float>{-128.0f, 127.0f}));
  EXPECT_EQ(f.read_f32("i.u8"), (std::vector<float>{0.0f, 255.0f}));
  EXPECT_EQ(f.read_f32("j.bool"), (std::vector<float>{1.0f, 0.0f, 1.0f}));
  EXPECT_EQ(f.read_f32("k.scalar"), (std::vector<float>{42.0f}));
  EXPECT_TRUE(f.read_f32("l.empty").empty());
  EXPECT_TRUE(f.has("a.f32"));
  EXPECT_FALSE(f.has("__metadata__"));

  try {
    (void)f.info("missing");
    FAIL();
  } catch (const Error& e) {
    EXPECT_HAS(std::string(e.what()), "no tensor missing");
  }
  std::vector<float> wrong(5);
  try {
    f.read_f32("a.f32", wrong);
    FAIL();
  } catch (const Error& e) {
    EXPECT_HAS(std::string(e.what()), "a.f32: output holds 5 floats, expected 6");
  }
}

TEST(SafetensorsBad, Truncated) {
  test::TempDir dir;
  SafetensorsBuilder b;
  b.tensor("w", "F32", {4}, test::to_bytes(std::vector<float>{1, 2, 3, 4}));
  const Bytes full = b.build();
  ASSERT_EQ(open_error(dir, full), "<no error>");
  const size_t header_end = 8 + b.header().size();
  for (size_t cut = 0; cut < full.size(); ++cut) {
    const std::string e = open_error(dir, Bytes(full.begin(), full.begin() + long(cut)));
    if (cut < 8) {
      EXPECT_HAS(e, "truncated at offset 0 while reading the 8-byte header length");
    } else if (cut < header_end) {
      EXPECT_HAS(e, "exceeds the " + std::to_string(cut - 8) + " bytes that follow it");
    } else {
      EXPECT_HAS(e, "tensor w data_offsets [0, 16] out of range");
    }
  }
}

TEST(SafetensorsBad, HeaderLength) {
  test::TempDir dir;
  test::Enc e;
  e.u64(uint64_t(1) << 40);
  e.out.resize(64, ' ');
  EXPECT_HAS(open_error(dir, e.out), "header length 1099511627776 exceeds the 100 MB limit");
  test::Enc small;
  small.u64(1000);
  small.out.resize(100, ' ');
  EXPECT_HAS(open_error(dir, small.out), "header length 1000 exceeds the 92 bytes that follow it");
}

TEST(SafetensorsBad, BadJson) {
  test::TempDir dir;
  EXPECT_HAS(header_error(dir, "{\"w\": {\"dtype\": \"F32\",\n oops", 0), "header: invalid JSON");
  EXPECT_HAS(header_error(dir, "", 0), "header is empty");
  EXPECT_HAS(header_error(dir, "[1, 2]", 0), "header is not a JSON object");
  EXPECT_HAS(header_error(dir, R"({"w": 3})", 0), "header entry for tensor w is not a JSON object");
  EXPECT_HAS(header_error(dir, R"({"w": {"shape": [1], "data_offsets": [0, 4]}})", 4),
             "tensor w has no string dtype");
  EXPECT_HAS(
      header_error(dir, R"({"w": {"dtype": "F8_E4M3", "shape": [1], "data_offsets": [0, 1]}})", 1),
      "tensor w has dtype F8_E4M3, which spf does not support (supported: F32,");
  EXPECT_HAS(
      header_error(dir, R"({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}})", 4),
      "tensor w has a shape entry that is not a non-negative integer");
  EXPECT_HAS(header_error(dir, R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0]}})", 4),
             "tensor w needs data_offsets [begin, end]");
  EXPECT_HAS(header_error(dir, R"({"__metadata__": {"a": 1}})", 0),
             "__metadata__ value for a is not a string");
  EXPECT_HAS(header_error(dir,
                          R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                              "w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})",
                          4),
             "key \"w\" appears twice");
}

TEST(SafetensorsBad, OffsetsAndSizes) {
  test::TempDir dir;
  EXPECT_HAS(
      header_error(dir, R"({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})", 12),
      "tensor w data_offsets [0, 16] out of range (data buffer has 12 bytes)");
  EXPECT_HAS(
      header_error(dir, R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [8, 4]}})", 12),
      "tensor w data_offsets [8, 4] out of range");
  EXPECT_HAS(
      header_error(dir, R"({"w": {"dtype": "F16", "shape": [2, 3], "data_offsets": [0, 16]}})", 16),
      "tensor w data_offsets [0, 16] span 16 bytes, but F16 x 6 elements needs 12");
  EXPECT_HAS(
      header_error(
          dir,
          R"({"w": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 4]}})",
          4),
      "tensor w element count overflows");
  EXPECT_HAS(header_error(dir, R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
                                  "b": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}})",
                          16),
             "tensors a (data_offsets [0, 16]) and b (data_offsets [8, 16]) overlap");
}

TEST(SafetensorsBad, RandomCorruptionNeverCrashes) {
  SafetensorsBuilder b;
  b.metadata(R"({"format":"pt"})");
  b.tensor("a", "F32", {2, 2}, Bytes(16, 1));
  b.tensor("b", "BF16", {3}, Bytes(6, 2));
  const Bytes full = b.build();
  test::TempDir dir;
  const std::string path = dir.file("fuzz.safetensors");
  std::mt19937 rng(99);
  for (int it = 0; it < 500; ++it) {
    Bytes bytes = full;
    for (int k = 0; k < 1 + int(rng() % 3); ++k) bytes[rng() % bytes.size()] = uint8_t(rng());
    test::write_bytes(path, bytes);
    try {
      SafetensorsFile f(path);
      for (const std::string& n : f.names()) (void)f.read_f32(n);
    } catch (const Error&) {
    }
  }
}

// ---- sharded checkpoints and discovery ---------------------------------------------------------

void write_shards(const test::TempDir& dir) {
  SafetensorsBuilder s1, s2;
  s1.tensor("model.embed.weight", "F32", {2, 2}, test::to_bytes(std::vector<float>{1, 2, 3, 4}));
  s1.tensor("model.norm.weight", "F32", {2}, test::to_bytes(std::vector<float>{5, 6}));
  s2.tensor("lm_head.weight", "F32", {1, 2}, test::to_bytes(std::vector<float>{7, 8}));
  s2.tensor("unlisted", "F32", {1}, test::to_bytes(std::vector<float>{9}));
  test::write_bytes(dir.file("model-00001-of-00002.safetensors"), s1.build());
  test::write_bytes(dir.file("model-00002-of-00002.safetensors"), s2.build());
}

std::string index_json(const std::string& second_shard = "model-00002-of-00002.safetensors") {
  return R"({"metadata": {"total_size": 40}, "weight_map": {
    "model.embed.weight": "model-00001-of-00002.safetensors",
    "lm_head.weight": ")" +
         second_shard + R"(",
    "model.norm.weight": "model-00001-of-00002.safetensors"}})";
}

TEST(ShardedSafetensors, ReadsThroughTheWeightMap) {
  test::TempDir dir;
  write_shards(dir);
  test::write_bytes(dir.file("model.safetensors.index.json"), index_json());
  const ShardedSafetensors s(dir.file("model.safetensors.index.json"));
  EXPECT_EQ(s.names(), (std::vector<std::string>{"model.embed.weight", "model.norm.weight",
                                                 "lm_head.weight"}));
  EXPECT_TRUE(s.has("lm_head.weight"));
  EXPECT_FALSE(s.has("unlisted"));
  EXPECT_EQ(s.info("model.embed.weight").shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(s.read_f32("lm_head.weight"), (std::vector<float>{7, 8}));
  EXPECT_EQ(s.read_f32("model.norm.weight"), (std::vector<float>{5, 6}));

  // Discovery: the directory prefers the index; a direct path to either file also works.
  auto c = open_safetensors_checkpoint(dir.path().string());
  EXPECT_EQ(c->names().size(), 3u);
  EXPECT_EQ(c->path(), dir.file("model.safetensors.index.json"));
  auto d = open_safetensors_checkpoint(dir.file("model.safetensors.index.json"));
  EXPECT_EQ(d->read_f32("model.embed.weight"), (std::vector<float>{1, 2, 3, 4}));
  auto one = open_safetensors_checkpoint(dir.file("model-00002-of-00002.safetensors"));
  EXPECT_EQ(one->names(), (std::vector<std::string>{"lm_head.weight", "unlisted"}));
}

TEST(ShardedSafetensors, SingleFileDirectory) {
  test::TempDir dir;
  SafetensorsBuilder b;
  b.tensor("x", "F32", {1}, test::to_bytes(std::vector<float>{3}));
  test::write_bytes(dir.file("model.safetensors"), b.build());
  auto c = open_safetensors_checkpoint(dir.path().string());
  EXPECT_EQ(c->path(), dir.file("model.safetensors"));
  EXPECT_EQ(c->read_f32("x"), (std::vector<float>{3}));
}

TEST(ShardedSafetensors, Errors) {
  test::TempDir dir;
  write_shards(dir);
  const std::string index = dir.file("model.safetensors.index.json");
  auto error_of = [&](const std::string& json) -> std::string {
    test::write_bytes(index, json);
    try {
      ShardedSafetensors s(index);
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_EQ(msg.rfind(index, 0), 0u) << msg;
      return msg;
    }
    return "<no error>";
  };
  EXPECT_HAS(
      error_of(index_json("model-00003-of-00002.safetensors")),
      "shard model-00003-of-00002.safetensors (listed for tensor lm_head.weight) does not exist");
  EXPECT_HAS(error_of(index_json("../elsewhere.safetensors")),
             "which is not a path inside the checkpoint");
  EXPECT_HAS(error_of(R"({"weight_map": {"ghost": "model-00001-of-00002.safetensors"}})"),
             "weight_map puts tensor ghost in shard");
  EXPECT_HAS(error_of(R"({"metadata": {}})"), "index has no weight_map object");
  EXPECT_HAS(error_of(R"({"weight_map": {"a": 5}})"), "weight_map entry for a is not a string");
  EXPECT_HAS(error_of("{not json"), "invalid JSON");
  EXPECT_EQ(error_of(index_json()), "<no error>");

  test::TempDir empty;
  try {
    (void)open_safetensors_checkpoint(empty.path().string());
    FAIL();
  } catch (const Error& e) {
    EXPECT_HAS(std::string(e.what()), "neither model.safetensors nor model.safetensors.index.json");
  }
  try {
    (void)open_safetensors_checkpoint(empty.file("nope.safetensors"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_HAS(std::string(e.what()), "nope.safetensors: no such file or directory");
  }
}

}  // namespace
}  // namespace spf
