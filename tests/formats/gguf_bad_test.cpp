// GGUF reader on corrupt input: every failure is a one-line spf::Error naming the file and the
// offending item; nothing crashes (these tests also run under ASan/UBSan).
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <random>

#include "core/error.h"
#include "formats/gguf.h"
#include "formats/quant.h"
#include "test_util.h"
#include "writers.h"

namespace spf {
namespace {

using test::Bytes;
using test::Enc;
using test::GgufBuilder;

// Opens the bytes as a GGUF file and returns the error message ("<no error>" if it opened).
std::string open_error(const test::TempDir& dir, const Bytes& bytes,
                       const std::string& name = "bad.gguf") {
  const std::string path = dir.file(name);
  test::write_bytes(path, bytes);
  try {
    GgufFile f(path);
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "error must be one line: " << msg;
    EXPECT_EQ(msg.rfind(path, 0), 0u) << "error must start with the path: " << msg;
    return msg;
  }
  return "<no error>";
}

#define EXPECT_HAS(hay, needle) EXPECT_NE((hay).find(needle), std::string::npos) << (hay)

GgufBuilder sample_file() {
  GgufBuilder b;
  b.kv_string("general.architecture", "llama");
  b.kv_scalar("llama.block_count", GgufType::u32, uint32_t(2));
  b.kv_scalar("x.flag", GgufType::bool_, uint8_t(0));
  b.kv_strings("tokenizer.ggml.tokens", {"alpha", "beta", "gamma"});
  b.kv_array("x.floats", GgufType::f32, std::vector<float>{1, 2, 3});
  Enc nested;
  nested.type(GgufType::array).array(GgufType::array, 2);
  nested.array(GgufType::u8, 2).put(uint8_t(1)).put(uint8_t(2));
  nested.array(GgufType::string, 1).str("deep");
  b.kv("x.nested", nested);
  b.tensor("norm", {8}, ggml_type::F32, test::to_bytes(test::random_floats(8, 1)));
  const std::vector<float> x = test::random_floats(64, 2);
  Bytes q(68);
  quantize_row_q8_0(x.data(), q.data(), 64);
  b.tensor("w", {32, 2}, ggml_type::Q8_0, q);
  return b;
}

TEST(GgufBad, TruncatedAtEveryOffset) {
  GgufBuilder b = sample_file();
  const Bytes full = b.build();
  test::TempDir dir;
  ASSERT_EQ(open_error(dir, full), "<no error>");
  ASSERT_LT(b.content_end(), full.size());
  for (size_t cut = 0; cut < full.size(); ++cut) {
    const std::string e = open_error(dir, Bytes(full.begin(), full.begin() + long(cut)));
    if (cut < b.infos_end()) {
      // The offset named is where the item that did not fit begins.
      const std::string key = "truncated at offset ";
      const size_t k = e.find(key);
      ASSERT_NE(k, std::string::npos) << e;
      EXPECT_LE(std::stoull(e.substr(k + key.size())), cut) << e;
      EXPECT_HAS(e, " while reading ");
    } else if (cut < b.content_end()) {
      EXPECT_HAS(e, "extends past the end of the data section");  // cut in padding or tensor data
    } else {
      EXPECT_EQ(e, "<no error>");  // only the last tensor's trailing padding is missing
    }
  }
}

TEST(GgufBad, TruncationMessageNamesTheItem) {
  GgufBuilder b = sample_file();
  const Bytes full = b.build();
  test::TempDir dir;
  const std::string gamma = "gamma";
  const auto at = std::search(full.begin(), full.end(), gamma.begin(), gamma.end()) - full.begin();
  std::string e = open_error(dir, Bytes(full.begin(), full.begin() + at + 2));
  EXPECT_HAS(e, "truncated at offset " + std::to_string(at) +
                    " while reading string bytes of metadata key "
                    "tokenizer.ggml.tokens[2]");
  const std::string deep = "deep";
  const auto at2 = std::search(full.begin(), full.end(), deep.begin(), deep.end()) - full.begin();
  e = open_error(dir, Bytes(full.begin(), full.begin() + at2));
  EXPECT_HAS(e, "metadata key x.nested[1][0]");
  e = open_error(dir, Bytes(full.begin(), full.begin() + 2));
  EXPECT_HAS(e, "truncated at offset 0 while reading magic");
}

TEST(GgufBad, WrongMagic) {
  GgufBuilder b = sample_file();
  b.magic = "GGML";
  test::TempDir dir;
  EXPECT_HAS(open_error(dir, b.build()), "not a GGUF file (magic bytes 47 47 4d 4c");
}

TEST(GgufBad, UnsupportedVersions) {
  test::TempDir dir;
  GgufBuilder b = sample_file();
  b.version = 1;
  EXPECT_HAS(open_error(dir, b.build()), "GGUF version 1 is not supported");
  b.version = 4;
  EXPECT_HAS(open_error(dir, b.build()), "unsupported GGUF version 4 (supported: 2, 3)");
  b.version = 0;
  EXPECT_HAS(open_error(dir, b.build()), "unsupported GGUF version 0");
  b.version = 0x03000000;  // version 3 written big-endian
  EXPECT_HAS(open_error(dir, b.build()), "wrong endianness");
}

TEST(GgufBad, TensorOutOfBounds) {
  test::TempDir dir;
  GgufBuilder b;
  b.tensor("a", {16}, ggml_type::F32, Bytes(64, 0), 4096);
  EXPECT_HAS(open_error(dir, b.build()),
             "tensor a (F32, 64 bytes at data offset 4096) extends past the end");
  GgufBuilder c;  // offset so large that offset + size wraps around
  c.tensor("b", {16}, ggml_type::F32, Bytes(64, 0), ~uint64_t(31));
  EXPECT_HAS(open_error(dir, c.build()), "tensor b (F32");
  GgufBuilder u;  // unknown type: size unknown, but the offset itself is still checked
  u.tensor("u", {4}, 200, Bytes(32, 0), 1 << 20);
  EXPECT_HAS(open_error(dir, u.build()), "tensor u (type200");
}

TEST(GgufBad, MisalignedOffset) {
  test::TempDir dir;
  GgufBuilder b;
  b.tensor("a", {4}, ggml_type::F32, Bytes(16, 0));
  b.tensor("b", {4}, ggml_type::F32, Bytes(16, 0), 16);
  EXPECT_HAS(open_error(dir, b.build()),
             "tensor b data offset 16 is not a multiple of the alignment 32");
}

TEST(GgufBad, OverlappingTensors) {
  test::TempDir dir;
  GgufBuilder b;
  b.tensor("first", {64}, ggml_type::F32, Bytes(256, 0));
  b.tensor("second", {8}, ggml_type::F32, Bytes(32, 0), 128);
  EXPECT_HAS(open_error(dir, b.build()),
             "tensors first (data bytes [0, 256)) and second (data bytes [128, 160)) overlap");
}

TEST(GgufBad, BlockMultipleAndDims) {
  test::TempDir dir;
  {
    GgufBuilder b;
    b.tensor("q", {33, 2}, ggml_type::Q8_0, Bytes(68, 0));
    EXPECT_HAS(open_error(dir, b.build()),
               "tensor q has ne[0] = 33, not a multiple of the Q8_0 block size 32");
  }
  {
    GgufBuilder b;
    b.tensor("five", {1, 1, 1, 1, 1}, ggml_type::F32, Bytes(4, 0));
    EXPECT_HAS(open_error(dir, b.build()), "tensor five has 5 dimensions (at most 4 allowed)");
  }
  {
    GgufBuilder b;
    b.tensor("zero", {4, 0}, ggml_type::F32, Bytes(0));
    EXPECT_HAS(open_error(dir, b.build()), "tensor zero has invalid ne[1] = 0");
  }
  {
    GgufBuilder b;
    b.tensor("neg", {~uint64_t(0)}, ggml_type::F32, Bytes(0));
    EXPECT_HAS(open_error(dir, b.build()), "tensor neg has invalid ne[0]");
  }
  {
    GgufBuilder b;
    const uint64_t big = uint64_t(1) << 32;
    b.tensor("huge", {big, big, big}, ggml_type::F32, Bytes(0));
    EXPECT_HAS(open_error(dir, b.build()), "tensor huge element count overflows");
  }
  {
    GgufBuilder b;
    b.tensor("bytes", {uint64_t(1) << 62}, ggml_type::F32, Bytes(0));
    EXPECT_HAS(open_error(dir, b.build()), "tensor bytes byte size overflows");
  }
}

TEST(GgufBad, DuplicatesAndBadMetadata) {
  test::TempDir dir;
  {
    GgufBuilder b;
    b.kv_string("k", "a").kv_string("k", "b");
    EXPECT_HAS(open_error(dir, b.build()), "duplicate metadata key k");
  }
  {
    GgufBuilder b;
    b.tensor("t", {4}, ggml_type::F32, Bytes(16, 0));
    b.tensor("t", {4}, ggml_type::F32, Bytes(16, 0));
    EXPECT_HAS(open_error(dir, b.build()), "duplicate tensor name t");
  }
  {
    GgufBuilder b;
    b.kv_scalar("general.alignment", GgufType::u64, uint64_t(32));
    EXPECT_HAS(open_error(dir, b.build()), "general.alignment has type u64, expected u32");
  }
  {
    GgufBuilder b;
    b.kv_scalar("general.alignment", GgufType::u32, uint32_t(48));
    EXPECT_HAS(open_error(dir, b.build()), "general.alignment = 48 is not a power of two");
  }
  {
    GgufBuilder b;
    b.kv("odd", Enc().u32(13).u32(0));
    EXPECT_HAS(open_error(dir, b.build()), "metadata key odd has invalid value type 13");
  }
  {
    GgufBuilder b;
    b.kv("odd", Enc().type(GgufType::array).u32(77).u64(0));
    EXPECT_HAS(open_error(dir, b.build()), "invalid array element type 77");
  }
  {
    GgufBuilder b;
    b.kv_scalar("flag", GgufType::bool_, uint8_t(2));
    EXPECT_HAS(open_error(dir, b.build()), "invalid bool value 2");
  }
  {
    GgufBuilder b;
    b.kv_array("flags", GgufType::bool_, std::vector<uint8_t>{1, 9});
    EXPECT_HAS(open_error(dir, b.build()), "invalid bool value 9");
  }
}

TEST(GgufBad, HugeCountsFailWithoutAllocating) {
  test::TempDir dir;
  {
    GgufBuilder b;
    b.kv("arr", Enc().type(GgufType::array).array(GgufType::u32, uint64_t(1) << 60));
    EXPECT_HAS(open_error(dir, b.build()),
               "while reading 1152921504606846976 array elements of metadata key arr");
  }
  {
    GgufBuilder b;
    b.kv("strs", Enc().type(GgufType::array).array(GgufType::string, ~uint64_t(0)));
    EXPECT_HAS(open_error(dir, b.build()), "array elements of metadata key strs");
  }
  {
    GgufBuilder b;
    b.kv("s", Enc().type(GgufType::string).u64(uint64_t(1) << 62));
    EXPECT_HAS(open_error(dir, b.build()), "while reading string bytes of metadata key s");
  }
  {
    Enc e;  // header claiming 2^62 tensors and nothing after it
    e.out = {'G', 'G', 'U', 'F'};
    e.u32(3).u64(uint64_t(1) << 62).u64(0);
    EXPECT_HAS(open_error(dir, e.out),
               "truncated at offset 24 while reading string length of tensor info #0");
  }
  {
    Enc deep;  // 9 levels of arrays of arrays
    deep.type(GgufType::array);
    for (int i = 0; i < 9; ++i) deep.array(GgufType::array, 1);
    deep.array(GgufType::u8, 0);
    GgufBuilder b;
    b.kv("deep", deep);
    EXPECT_HAS(open_error(dir, b.build()), "arrays nested deeper than 8 levels");
  }
}

// Random byte corruption of headers and metadata must only ever produce spf::Error (or a file that
// opens and whose tensors read without error or crash).
TEST(GgufBad, RandomCorruptionNeverCrashes) {
  GgufBuilder b = sample_file();
  const Bytes full = b.build();
  test::TempDir dir;
  const std::string path = dir.file("fuzz.gguf");
  std::mt19937 rng(1234);
  int opened = 0;
  for (int it = 0; it < 800; ++it) {
    Bytes bytes = full;
    const int flips = 1 + int(rng() % 4);
    for (int k = 0; k < flips; ++k) {
      const size_t at = rng() % b.infos_end();
      bytes[at] = (rng() % 2) ? uint8_t(rng()) : uint8_t(bytes[at] ^ (1u << (rng() % 8)));
    }
    test::write_bytes(path, bytes);
    try {
      GgufFile f(path);
      ++opened;
      for (const std::string& n : f.names()) {
        try {
          (void)f.read_f32(n);
        } catch (const Error&) {
        }
      }
    } catch (const Error&) {
    }
  }
  EXPECT_GT(opened, 0);  // some flips (in string contents) leave a valid file
}

}  // namespace
}  // namespace spf
