// Block dequantization: hand-computed blocks, quantize/dequantize error bounds, and gguf-py
// reference values for every decodable block type (tests/fixtures/quant, written by
// tools/make_quant_fixtures.py).
#include "formats/quant.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/half.h"
#include "core/npy.h"
#include "test_util.h"
#include "writers.h"

namespace spf {
namespace {

using test::Bytes;

void put_f16(Bytes& b, size_t at, float v) {
  const uint16_t h = f32_to_fp16(v);
  std::memcpy(b.data() + at, &h, 2);
}

std::vector<float> deq(uint32_t type, const Bytes& b, int64_t n) {
  std::vector<float> out(size_t(n), -999.0f);
  dequantize_row(type, b.data(), out.data(), n);
  return out;
}

TEST(GgmlTypes, TableSizes) {
  struct Want {
    uint32_t id;
    const char* name;
    int64_t block, size;
    bool decodable;
  };
  const Want want[] = {
      {0, "F32", 1, 4, true},        {1, "F16", 1, 2, true},        {2, "Q4_0", 32, 18, true},
      {3, "Q4_1", 32, 20, true},     {6, "Q5_0", 32, 22, false},    {7, "Q5_1", 32, 24, false},
      {8, "Q8_0", 32, 34, true},     {10, "Q2_K", 256, 84, false},  {11, "Q3_K", 256, 110, false},
      {12, "Q4_K", 256, 144, true},  {13, "Q5_K", 256, 176, true},  {14, "Q6_K", 256, 210, true},
      {15, "Q8_K", 256, 292, false}, {20, "IQ4_NL", 32, 18, false}, {23, "IQ4_XS", 256, 136, false},
      {30, "BF16", 1, 2, true},      {28, "F64", 1, 8, false},
  };
  for (const Want& w : want) {
    const GgmlTypeInfo* t = ggml_type_info(w.id);
    ASSERT_NE(t, nullptr) << w.name;
    EXPECT_STREQ(t->name, w.name);
    EXPECT_EQ(t->block_size, w.block) << w.name;
    EXPECT_EQ(t->type_size, w.size) << w.name;
    EXPECT_EQ(t->decodable, w.decodable) << w.name;
    EXPECT_EQ(ggml_type_name(w.id), w.name);
  }
  EXPECT_EQ(ggml_type_info(4), nullptr);  // retired Q4_2
  EXPECT_EQ(ggml_type_info(5), nullptr);
  EXPECT_EQ(ggml_type_info(1000), nullptr);
  EXPECT_EQ(ggml_type_name(1000), "type1000");
  EXPECT_EQ(ggml_type_info(12)->dtype, DType::q4_k);
  EXPECT_STREQ(dtype_name(DType::q4_k), "Q4_K");
  EXPECT_STREQ(dtype_name(DType::bf16), "BF16");
}

TEST(Dequant, RejectsUndecodableType) {
  Bytes b(22, 0);
  float out[32];
  try {
    dequantize_row(ggml_type::Q5_0, b.data(), out, 32);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("Q5_0"), std::string::npos) << e.what();
  }
}

TEST(Dequant, F32F16BF16Exact) {
  const std::vector<float> f = {1.5f, -0.0f, 3.25e-7f, -1e30f};
  EXPECT_EQ(deq(ggml_type::F32, test::to_bytes(f), 4), f);

  const std::vector<uint16_t> h = {0x3c00, 0xc000, 0x3800, 0x7bff, 0x0001, 0x7c00};
  const std::vector<float> hv = {1.0f, -2.0f, 0.5f, 65504.0f, std::ldexp(1.0f, -24), INFINITY};
  EXPECT_EQ(deq(ggml_type::F16, test::to_bytes(h), 6), hv);

  const std::vector<uint16_t> b = {0x3f80, 0xc000, 0x4049, 0x0000};
  const std::vector<float> bv = {1.0f, -2.0f, 3.140625f, 0.0f};
  EXPECT_EQ(deq(ggml_type::BF16, test::to_bytes(b), 4), bv);
}

TEST(Dequant, Q8_0HandBlock) {
  Bytes b(34);
  put_f16(b, 0, 0.5f);
  for (int j = 0; j < 32; ++j) b[2 + j] = uint8_t(int8_t(j * 8 - 128));
  const std::vector<float> v = deq(ggml_type::Q8_0, b, 32);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(v[j], float(j * 8 - 128) * 0.5f) << j;
}

TEST(Dequant, Q4_0HandBlock) {
  Bytes b(18);
  put_f16(b, 0, 0.25f);
  for (int j = 0; j < 16; ++j) b[2 + j] = uint8_t(j | ((15 - j) << 4));
  const std::vector<float> v = deq(ggml_type::Q4_0, b, 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(v[j], float(j - 8) * 0.25f) << j;  // low nibble of byte j
    EXPECT_EQ(v[j + 16], float(15 - j - 8) * 0.25f)
        << j;  // high nibble of byte j -> element j + 16
  }
}

TEST(Dequant, Q4_1HandBlock) {
  Bytes b(20);
  put_f16(b, 0, 0.5f);
  put_f16(b, 2, -1.0f);
  for (int j = 0; j < 16; ++j) b[4 + j] = uint8_t(j | ((15 - j) << 4));
  const std::vector<float> v = deq(ggml_type::Q4_1, b, 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(v[j], float(j) * 0.5f - 1.0f) << j;
    EXPECT_EQ(v[j + 16], float(15 - j) * 0.5f - 1.0f) << j;
  }
}

// Q4_K block with scales/mins chosen by hand, packed per ggml's 12-byte 6-bit layout.
TEST(Dequant, Q4_KHandBlock) {
  const int sc[8] = {1, 2, 3, 4, 17, 33, 50, 63};
  const int mn[8] = {0, 5, 10, 20, 16, 40, 48, 63};
  Bytes b(144, 0);
  put_f16(b, 0, 0.5f);   // d
  put_f16(b, 2, 0.25f);  // dmin
  uint8_t* s = b.data() + 4;
  for (int j = 0; j < 4; ++j) {
    s[j] = uint8_t(sc[j] | ((sc[j + 4] >> 4) << 6));
    s[j + 4] = uint8_t(mn[j] | ((mn[j + 4] >> 4) << 6));
    s[j + 8] = uint8_t((sc[j + 4] & 15) | ((mn[j + 4] & 15) << 4));
  }
  for (int i = 0; i < 128; ++i) b[16 + i] = uint8_t((i % 16) | ((15 - i % 16) << 4));
  const std::vector<float> v = deq(ggml_type::Q4_K, b, 256);
  for (int c = 0; c < 4; ++c) {
    for (int l = 0; l < 32; ++l) {
      const int lo = l % 16, hi = 15 - l % 16;
      EXPECT_FLOAT_EQ(v[64 * c + l],
                      0.5f * float(sc[2 * c]) * float(lo) - 0.25f * float(mn[2 * c]));
      EXPECT_FLOAT_EQ(v[64 * c + 32 + l],
                      0.5f * float(sc[2 * c + 1]) * float(hi) - 0.25f * float(mn[2 * c + 1]));
    }
  }
}

struct QuantCase {
  uint32_t type;
  int64_t block_bytes;
  void (*quantize)(const float*, uint8_t*, int64_t);
};

// Largest error the reference quantizer may make for one 32-element block, fp16 rounding of the
// stored scale (and Q4_1 minimum) included.
float error_bound(uint32_t type, const float* x) {
  float lo = x[0], hi = x[0], amax = 0;
  for (int j = 0; j < 32; ++j) {
    lo = std::min(lo, x[j]);
    hi = std::max(hi, x[j]);
    amax = std::max(amax, std::fabs(x[j]));
  }
  // fp16 keeps ~11 significant bits, and scales below 2^-14 are subnormal with an absolute step of
  // 2^-24 that up to 127 quant steps multiply.
  const float slack = (amax + std::fabs(lo) + (hi - lo)) * 1e-3f + 128.0f * std::ldexp(1.0f, -25);
  if (type == ggml_type::Q8_0) return 0.5f * amax / 127.0f + slack;
  if (type == ggml_type::Q4_0) return amax / 8.0f + slack;  // the far side clamps at +7 steps
  return 0.5f * (hi - lo) / 15.0f + slack;
}

TEST(Dequant, QuantizeThenDequantizeWithinBounds) {
  const QuantCase cases[] = {
      {ggml_type::Q8_0, 34, quantize_row_q8_0},
      {ggml_type::Q4_0, 18, quantize_row_q4_0},
      {ggml_type::Q4_1, 20, quantize_row_q4_1},
  };
  const int64_t n = 32 * 64;
  std::vector<float> x = test::random_floats(size_t(n), 7, -2.0f, 3.0f);
  // Awkward blocks: constant, all zero, one spike, tiny values.
  for (int j = 0; j < 32; ++j) {
    x[j] = 0.75f;
    x[32 + j] = 0.0f;
    x[64 + j] = j == 5 ? -40.0f : 0.01f * float(j);
    x[96 + j] = 1e-6f * float(j - 16);
  }
  for (const QuantCase& qc : cases) {
    Bytes q(size_t(n / 32 * qc.block_bytes));
    qc.quantize(x.data(), q.data(), n);
    const std::vector<float> y = deq(qc.type, q, n);
    double sq = 0;
    for (int64_t b = 0; b < n / 32; ++b) {
      const float bound = error_bound(qc.type, x.data() + 32 * b);
      for (int64_t j = 32 * b; j < 32 * b + 32; ++j) {
        ASSERT_LE(std::fabs(y[size_t(j)] - x[size_t(j)]), bound)
            << ggml_type_name(qc.type) << " element " << j << ": " << x[size_t(j)] << " -> "
            << y[size_t(j)];
        sq += double(y[size_t(j)] - x[size_t(j)]) * double(y[size_t(j)] - x[size_t(j)]);
      }
    }
    for (int j = 32; j < 64; ++j) EXPECT_EQ(y[size_t(j)], 0.0f) << ggml_type_name(qc.type);
    // 4-bit types on a range of 5 must not be much worse than uniform rounding error
    // (5/15/sqrt(12)).
    const double rms = std::sqrt(sq / double(n));
    EXPECT_LT(rms, qc.type == ggml_type::Q8_0 ? 0.02 : 0.2) << ggml_type_name(qc.type);
  }
}

// Values produced by gguf-py's independent dequantizer from the same raw bytes.
class GgufPyReference : public ::testing::TestWithParam<uint32_t> {};

TEST_P(GgufPyReference, MatchesFixture) {
  const uint32_t type = GetParam();
  std::string name = ggml_type_name(type);
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return char(std::tolower(c)); });
  const std::string raw = read_file(test::fixture("quant/" + name + ".bin"));
  const NpyArray want = read_npy(test::fixture("quant/" + name + ".npy"));
  const GgmlTypeInfo* t = ggml_type_info(type);
  ASSERT_NE(t, nullptr);
  const int64_t n = int64_t(want.data.size());
  ASSERT_EQ(int64_t(raw.size()), n / t->block_size * t->type_size);
  std::vector<float> got(static_cast<size_t>(n));
  dequantize_row(type, reinterpret_cast<const uint8_t*>(raw.data()), got.data(), n);
  float amax = 0;
  for (float v : want.data) amax = std::max(amax, std::fabs(v));
  ASSERT_GT(amax, 0.0f);
  for (int64_t i = 0; i < n; ++i) {
    // Only float rounding order may differ between the two implementations.
    ASSERT_NEAR(got[size_t(i)], want.data[size_t(i)], 1e-6f * amax) << name << " element " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(BlockTypes, GgufPyReference,
                         ::testing::Values(ggml_type::Q8_0, ggml_type::Q4_0, ggml_type::Q4_1,
                                           ggml_type::Q4_K, ggml_type::Q5_K, ggml_type::Q6_K),
                         [](const ::testing::TestParamInfo<uint32_t>& i) {
                           return ggml_type_name(i.param);
                         });

}  // namespace
}  // namespace spf
