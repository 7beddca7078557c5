// GGUF reader on well-formed files: metadata of every type, typed getters, tensor infos and data,
// and the real default model checked against values written by gguf-py.
#include "formats/gguf.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/half.h"
#include "core/npy.h"
#include "formats/quant.h"
#include "test_util.h"
#include "writers.h"

namespace spf {
namespace {

using test::Bytes;
using test::Enc;
using test::GgufBuilder;

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

std::string write(const test::TempDir& dir, GgufBuilder& b, const std::string& name = "t.gguf") {
  const std::string path = dir.file(name);
  test::write_bytes(path, b.build());
  return path;
}

TEST(Gguf, MetadataRoundTripEveryType) {
  GgufBuilder b;
  b.kv_scalar("t.u8", GgufType::u8, uint8_t(250));
  b.kv_scalar("t.i8", GgufType::i8, int8_t(-100));
  b.kv_scalar("t.u16", GgufType::u16, uint16_t(65000));
  b.kv_scalar("t.i16", GgufType::i16, int16_t(-30000));
  b.kv_scalar("t.u32", GgufType::u32, uint32_t(4000000000u));
  b.kv_scalar("t.i32", GgufType::i32, int32_t(-2000000000));
  b.kv_scalar("t.u64", GgufType::u64, uint64_t(1) << 40);
  b.kv_scalar("t.i64", GgufType::i64, int64_t(-(int64_t(1) << 50)));
  b.kv_scalar("t.f32", GgufType::f32, 0.125f);
  b.kv_scalar("t.f64", GgufType::f64, -1e-300);
  b.kv_scalar("t.bool", GgufType::bool_, uint8_t(1));
  b.kv_string("t.str", "héllo wörld");
  b.kv_string("t.empty", "");
  b.kv_strings("t.strs", {"a", "", "ccc", "Ġthe"});
  b.kv_array("t.i32s", GgufType::i32, std::vector<int32_t>{1, -2, 3});
  b.kv_array("t.u8s", GgufType::u8, std::vector<uint8_t>{0, 255});
  b.kv_array("t.f32s", GgufType::f32, std::vector<float>{0.5f, -1.5f});
  b.kv_array("t.f64s", GgufType::f64, std::vector<double>{1e100});
  b.kv_array("t.bools", GgufType::bool_, std::vector<uint8_t>{1, 0, 1});
  b.kv_array("t.u64s", GgufType::u64, std::vector<uint64_t>{7, uint64_t(1) << 63});
  b.kv_array("t.none", GgufType::i32, std::vector<int32_t>{});
  {
    // [[1, 2], [], [["x", "y"]]] : nested arrays of mixed element kinds.
    Enc e;
    e.type(GgufType::array).array(GgufType::array, 3);
    e.array(GgufType::i16, 2).put(int16_t(1)).put(int16_t(2));
    e.array(GgufType::f32, 0);
    e.array(GgufType::array, 1).array(GgufType::string, 2).str("x").str("y");
    b.kv("t.nested", e);
  }
  test::TempDir dir;
  const GgufFile f(write(dir, b));
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.alignment(), 32u);
  EXPECT_EQ(f.metadata().size(), 22u);
  EXPECT_TRUE(f.names().empty());

  EXPECT_EQ(f.get_int("t.u8"), 250);
  EXPECT_EQ(f.get_int("t.i8"), -100);
  EXPECT_EQ(f.get_int("t.u16"), 65000);
  EXPECT_EQ(f.get_int("t.i16"), -30000);
  EXPECT_EQ(f.get_int("t.u32"), 4000000000LL);
  EXPECT_EQ(f.get_int("t.i32"), -2000000000);
  EXPECT_EQ(f.get_int("t.u64"), int64_t(1) << 40);
  EXPECT_EQ(f.get_int("t.i64"), -(int64_t(1) << 50));
  EXPECT_EQ(f.get_float("t.f32"), 0.125);
  EXPECT_EQ(f.get_float("t.f64"), -1e-300);
  EXPECT_EQ(f.get_float("t.u32"), 4e9);  // integers are accepted as floats
  EXPECT_TRUE(f.get_bool("t.bool"));
  EXPECT_EQ(f.get_string("t.str"), "héllo wörld");
  EXPECT_EQ(f.get_string("t.empty"), "");
  EXPECT_EQ(f.get_strings("t.strs"), (std::vector<std::string>{"a", "", "ccc", "Ġthe"}));
  EXPECT_EQ(f.get_ints("t.i32s"), (std::vector<int64_t>{1, -2, 3}));
  EXPECT_EQ(f.get_ints("t.u8s"), (std::vector<int64_t>{0, 255}));
  EXPECT_EQ(f.get_floats("t.f32s"), (std::vector<double>{0.5, -1.5}));
  EXPECT_EQ(f.get_floats("t.f64s"), (std::vector<double>{1e100}));
  EXPECT_EQ(f.get_floats("t.i32s"), (std::vector<double>{1, -2, 3}));
  EXPECT_EQ(f.find("t.bools")->ints, (std::vector<int64_t>{1, 0, 1}));
  EXPECT_TRUE(f.get_ints("t.none").empty());
  EXPECT_EQ(f.find("t.none")->array_size(), 0u);
  EXPECT_EQ(f.find("t.strs")->array_size(), 4u);

  const GgufValue* n = f.find("t.nested");
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(n->type, GgufType::array);
  EXPECT_EQ(n->elem_type, GgufType::array);
  ASSERT_EQ(n->arr.size(), 3u);
  EXPECT_EQ(n->arr[0].elem_type, GgufType::i16);
  EXPECT_EQ(n->arr[0].ints, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(n->arr[1].array_size(), 0u);
  ASSERT_EQ(n->arr[2].arr.size(), 1u);
  EXPECT_EQ(n->arr[2].arr[0].strings, (std::vector<std::string>{"x", "y"}));

  EXPECT_EQ(f.get_int_opt("t.missing"), std::nullopt);
  EXPECT_EQ(f.get_float_opt("t.missing"), std::nullopt);
  EXPECT_EQ(f.get_string_opt("t.missing"), std::nullopt);
  EXPECT_EQ(f.get_int_opt("t.i8"), -100);
  EXPECT_EQ(f.get_float_opt("t.f32"), 0.125);
  EXPECT_EQ(f.get_string_opt("t.str"), "héllo wörld");
}

TEST(Gguf, GetterErrorsNameKeyAndTypes) {
  GgufBuilder b;
  b.kv_string("a.str", "x");
  b.kv_scalar("a.f32", GgufType::f32, 1.0f);
  b.kv_array("a.u64s", GgufType::u64, std::vector<uint64_t>{uint64_t(1) << 63});
  b.kv_scalar("a.u64", GgufType::u64, ~uint64_t(0));
  b.kv_strings("a.strs", {"q"});
  test::TempDir dir;
  const GgufFile f(write(dir, b));
  std::string e = error_of([&] { f.get_int("a.missing"); });
  EXPECT_NE(e.find("metadata key a.missing missing"), std::string::npos) << e;
  EXPECT_NE(e.find(f.path()), std::string::npos) << e;
  e = error_of([&] { f.get_int("a.str"); });
  EXPECT_NE(e.find("a.str has type string, expected an integer"), std::string::npos) << e;
  e = error_of([&] { f.get_string("a.f32"); });
  EXPECT_NE(e.find("a.f32 has type f32, expected string"), std::string::npos) << e;
  e = error_of([&] { f.get_bool("a.f32"); });
  EXPECT_NE(e.find("expected bool"), std::string::npos) << e;
  e = error_of([&] { f.get_ints("a.strs"); });
  EXPECT_NE(e.find("has type array of string, expected array of integers"), std::string::npos) << e;
  e = error_of([&] { f.get_strings("a.str"); });
  EXPECT_NE(e.find("expected array of string"), std::string::npos) << e;
  e = error_of([&] { f.get_int_opt("a.strs"); });
  EXPECT_NE(e.find("a.strs"), std::string::npos) << e;
  e = error_of([&] { f.get_int("a.u64"); });
  EXPECT_NE(e.find("does not fit in int64"), std::string::npos) << e;
  e = error_of([&] { f.get_ints("a.u64s"); });
  EXPECT_NE(e.find("does not fit in int64"), std::string::npos) << e;
  EXPECT_EQ(f.get_float("a.u64"), 18446744073709551615.0);
}

TEST(Gguf, TensorsEveryDecodableTypeAndShapes) {
  const int64_t rows = 3, cols = 64;
  const std::vector<float> x = test::random_floats(size_t(rows * cols), 11);
  std::vector<uint16_t> h(x.size()), bf(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    h[i] = f32_to_fp16(x[i]);
    bf[i] = f32_to_bf16(x[i]);
  }
  Bytes q8(size_t(rows * cols / 32 * 34)), q40(size_t(rows * cols / 32 * 18)),
      q41(size_t(rows * cols / 32 * 20));
  quantize_row_q8_0(x.data(), q8.data(), rows * cols);
  quantize_row_q4_0(x.data(), q40.data(), rows * cols);
  quantize_row_q4_1(x.data(), q41.data(), rows * cols);
  Bytes qk(144 * 2, 0);  // two zeroed Q4_K super-blocks decode to zeros
  Bytes unk(10, 7);

  GgufBuilder b;
  b.kv_string("general.architecture", "test");
  const uint64_t r = uint64_t(rows), c = uint64_t(cols);
  b.tensor("w.f32", {c, r}, ggml_type::F32, test::to_bytes(x));
  b.tensor("w.f16", {c, r}, ggml_type::F16, test::to_bytes(h));
  b.tensor("w.bf16", {c, r}, ggml_type::BF16, test::to_bytes(bf));
  b.tensor("w.q8_0", {c, r}, ggml_type::Q8_0, q8);
  b.tensor("w.q4_0", {c, r}, ggml_type::Q4_0, q40);
  b.tensor("w.q4_1", {c, 1, r}, ggml_type::Q4_1, q41);
  b.tensor("w.q4_k", {512}, ggml_type::Q4_K, qk);
  b.tensor("w.q5_0", {32}, ggml_type::Q5_0, Bytes(22, 0));
  b.tensor("w.unknown", {2, 5}, 99, unk);
  test::TempDir dir;
  const GgufFile f(write(dir, b));

  EXPECT_EQ(f.names(), (std::vector<std::string>{"w.f32", "w.f16", "w.bf16", "w.q8_0", "w.q4_0",
                                                 "w.q4_1", "w.q4_k", "w.q5_0", "w.unknown"}));
  EXPECT_TRUE(f.has("w.q8_0"));
  EXPECT_FALSE(f.has("nope"));
  EXPECT_EQ(f.info("w.f32").shape, (std::vector<int64_t>{rows, cols}));  // PyTorch order
  EXPECT_EQ(f.info("w.q4_1").shape, (std::vector<int64_t>{rows, 1, cols}));
  EXPECT_EQ(f.info("w.q8_0").dtype, DType::q8_0);
  EXPECT_EQ(f.info("w.q8_0").ggml_type_name, "Q8_0");
  EXPECT_EQ(f.info("w.unknown").dtype, DType::other);
  EXPECT_EQ(f.info("w.unknown").ggml_type_name, "type99");
  EXPECT_EQ(f.info("w.q5_0").dtype, DType::q5_0);
  EXPECT_EQ(f.raw("w.q8_0").size(), q8.size());
  EXPECT_TRUE(std::equal(q8.begin(), q8.end(), f.raw("w.q8_0").begin()));

  EXPECT_EQ(f.read_f32("w.f32"), x);
  const std::vector<float> vh = f.read_f32("w.f16"), vb = f.read_f32("w.bf16");
  for (size_t i = 0; i < x.size(); ++i) {
    EXPECT_EQ(vh[i], fp16_to_f32(h[i]));
    EXPECT_EQ(vb[i], bf16_to_f32(bf[i]));
  }
  // Quantized tensors decode exactly as the row dequantizer does on the same bytes.
  auto expect_decoded = [&](const std::string& name, uint32_t type, const Bytes& q) {
    std::vector<float> want(x.size());
    dequantize_row(type, q.data(), want.data(), rows * cols);
    EXPECT_EQ(f.read_f32(name), want) << name;
    // Row access: the middle row alone.
    std::vector<float> row(static_cast<size_t>(cols));
    f.read_rows_f32(name, 1, 1, row);
    EXPECT_TRUE(std::equal(row.begin(), row.end(), want.begin() + cols)) << name;
  };
  expect_decoded("w.q8_0", ggml_type::Q8_0, q8);
  expect_decoded("w.q4_0", ggml_type::Q4_0, q40);
  expect_decoded("w.q4_1", ggml_type::Q4_1, q41);
  EXPECT_EQ(f.read_f32("w.q4_k"), std::vector<float>(512, 0.0f));

  std::string e = error_of([&] { f.read_f32("w.q5_0"); });
  EXPECT_NE(e.find("tensor w.q5_0 has type Q5_0, which spf cannot decode (supported: F32,"),
            std::string::npos)
      << e;
  e = error_of([&] { f.read_f32("w.unknown"); });
  EXPECT_NE(e.find("tensor w.unknown has type type99, which spf cannot decode"), std::string::npos)
      << e;
  e = error_of([&] { f.raw("w.unknown"); });
  EXPECT_NE(e.find("w.unknown has unknown ggml type id 99"), std::string::npos) << e;
  e = error_of([&] { f.info("nope"); });
  EXPECT_NE(e.find("no tensor nope"), std::string::npos) << e;
  std::vector<float> small(3);
  e = error_of([&] { f.read_f32("w.f32", small); });
  EXPECT_NE(e.find("w.f32"), std::string::npos) << e;
  e = error_of([&] { f.read_rows_f32("w.f32", 2, 2, small); });
  EXPECT_NE(e.find("out of range"), std::string::npos) << e;
}

TEST(Gguf, CustomAlignmentAndVersion2) {
  GgufBuilder b;
  b.version = 2;
  b.alignment = 64;
  b.kv_scalar("general.alignment", GgufType::u32, uint32_t(64));
  b.tensor("a", {3}, ggml_type::F32, test::to_bytes(std::vector<float>{1, 2, 3}));
  b.tensor("b", {2}, ggml_type::F32, test::to_bytes(std::vector<float>{4, 5}));
  test::TempDir dir;
  const GgufFile f(write(dir, b));
  EXPECT_EQ(f.version(), 2u);
  EXPECT_EQ(f.alignment(), 64u);
  EXPECT_EQ(f.read_f32("b"), (std::vector<float>{4, 5}));
  EXPECT_EQ(f.read_f32("a"), (std::vector<float>{1, 2, 3}));
}

TEST(Gguf, LargeQuantizedReadUsesAllRows) {
  // Big enough to take the multi-threaded path in read_rows_f32.
  const int64_t rows = 1024, cols = 1024;
  const std::vector<float> x = test::random_floats(size_t(rows * cols), 3);
  Bytes q(size_t(rows * cols / 32 * 34));
  quantize_row_q8_0(x.data(), q.data(), rows * cols);
  GgufBuilder b;
  b.tensor("big", {uint64_t(cols), uint64_t(rows)}, ggml_type::Q8_0, q);
  test::TempDir dir;
  const GgufFile f(write(dir, b));
  std::vector<float> want(x.size());
  dequantize_row(ggml_type::Q8_0, q.data(), want.data(), rows * cols);
  EXPECT_EQ(f.read_f32("big"), want);
}

// ---- the real default model -------------------------------------------------------------------

TEST(GgufModel, DefaultModelMatchesGgufPy) {
  SPF_REQUIRE_DEFAULT_MODEL(path);
  const GgufFile f(path);
  std::ifstream in(test::fixture("quant/model_rows.json"));
  ASSERT_TRUE(in.good());
  const nlohmann::json facts = nlohmann::json::parse(in);

  EXPECT_EQ(f.names().size(), 272u);
  EXPECT_EQ(f.names().size(), facts["n_tensors"].get<size_t>());
  EXPECT_EQ(f.get_string("general.architecture"), "llama");
  const std::vector<std::string> tokens = f.get_strings("tokenizer.ggml.tokens");
  EXPECT_EQ(tokens.size(), 49152u);
  EXPECT_EQ(f.get_ints("tokenizer.ggml.token_type").size(), 49152u);
  EXPECT_EQ(f.get_int("llama.embedding_length"), 576);
  EXPECT_EQ(f.get_int("llama.block_count"), 30);
  const TensorInfo& emb = f.info("token_embd.weight");
  EXPECT_EQ(emb.dtype, DType::q8_0);
  EXPECT_EQ(emb.shape, (std::vector<int64_t>{49152, 576}));

  for (const nlohmann::json& t : facts["tensors"]) {
    const std::string name = t["name"].get<std::string>();
    const TensorInfo& info = f.info(name);
    EXPECT_EQ(info.ggml_type_name, t["type"].get<std::string>()) << name;
    EXPECT_EQ(info.shape, t["shape"].get<std::vector<int64_t>>()) << name;
    const NpyArray want = read_npy(test::fixture("quant/" + t["file"].get<std::string>()));
    const int64_t row_len = info.shape.back();
    const std::vector<int64_t> rows = t["rows"].get<std::vector<int64_t>>();
    ASSERT_EQ(want.data.size(), rows.size() * size_t(row_len)) << name;
    std::vector<float> got(static_cast<size_t>(row_len));
    for (size_t i = 0; i < rows.size(); ++i) {
      f.read_rows_f32(name, rows[i], 1, got);
      for (int64_t j = 0; j < row_len; ++j) {
        ASSERT_NEAR(got[size_t(j)], want.data[i * size_t(row_len) + size_t(j)], 1e-6f)
            << name << " row " << rows[i] << " col " << j;
      }
    }
  }
  // Whole-tensor read agrees with row reads.
  const std::vector<float> all = f.read_f32("blk.0.attn_q.weight");
  std::vector<float> row(576);
  f.read_rows_f32("blk.0.attn_q.weight", 100, 1, row);
  EXPECT_TRUE(std::equal(row.begin(), row.end(), all.begin() + 100 * 576));
}

}  // namespace
}  // namespace spf
