#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "core/atomic_file.h"
#include "core/blas_threads.h"
#include "core/error.h"
#include "core/half.h"
#include "core/mapped_file.h"
#include "core/npy.h"
#include "core/threads.h"
#include "test_util.h"

namespace spf {
namespace {

TEST(Half, Fp16RoundTripsEveryFiniteValue) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const uint16_t v = uint16_t(h);
    if ((v & 0x7c00) == 0x7c00 && (v & 0x3ff) != 0) continue;  // NaN payloads
    EXPECT_EQ(f32_to_fp16(fp16_to_f32(v)), v) << std::hex << h;
  }
}

TEST(Half, Fp16KnownValuesAndRounding) {
  EXPECT_EQ(fp16_to_f32(0x3c00), 1.0f);
  EXPECT_EQ(fp16_to_f32(0xc000), -2.0f);
  EXPECT_EQ(fp16_to_f32(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_EQ(f32_to_fp16(65504.0f), 0x7bff);
  EXPECT_EQ(f32_to_fp16(1e6f), 0x7c00);
  EXPECT_EQ(f32_to_fp16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);  // tie rounds to even
  EXPECT_TRUE(std::isnan(fp16_to_f32(f32_to_fp16(NAN))));
}

TEST(Half, Bf16) {
  EXPECT_EQ(bf16_to_f32(0x3f80), 1.0f);
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(3.140625f)), 3.140625f);
}

TEST(Npy, RoundTripAndShape) {
  test::TempDir dir;
  const std::vector<float> v = test::random_floats(24, 1);
  const int64_t shape[3] = {2, 3, 4};
  write_npy_f32(dir.file("a.npy"), v, shape);
  const NpyArray a = read_npy(dir.file("a.npy"));
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 3, 4}));
  EXPECT_EQ(a.data, v);
  EXPECT_FALSE(std::filesystem::exists(dir.file("a.npy.tmp")));
}

TEST(Npy, RejectsGarbage) {
  test::TempDir dir;
  std::ofstream(dir.file("bad.npy")) << "not numpy at all";
  EXPECT_THROW(read_npy(dir.file("bad.npy")), Error);
  EXPECT_THROW(read_npy(dir.file("missing.npy")), Error);
}

TEST(AtomicFile, ReplacesWholeAndAppendsLines) {
  test::TempDir dir;
  const std::string p = dir.file("f.txt");
  write_file_atomic(p, "first");
  write_file_atomic(p, "second");
  EXPECT_EQ(read_file(p), "second");
  append_line_durable(p, "x");
  EXPECT_EQ(read_file(p),
            "second"
            "x\n");
  for (const auto& e : std::filesystem::directory_iterator(dir.path()))
    EXPECT_EQ(e.path().filename(), "f.txt") << "temporary file left behind";
}

TEST(AtomicFile, ErrorNamesPath) {
  try {
    write_file_atomic("/nonexistent-dir/x.txt", "a");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent-dir/x.txt"), std::string::npos);
  }
}

TEST(AtomicFile, ErrorNamesThePathNotTheTemporaryFile) {
  try {
    write_file_atomic("/nonexistent-dir/x.txt", "a");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).find(".tmp."), std::string::npos) << e.what();
  }
  EXPECT_THROW(write_file_atomic("", "a"), Error);
  EXPECT_THROW(append_line_durable("", "a"), Error);
}

TEST(AtomicFile, RefusesToReplaceAFifoOrADirectory) {
  test::TempDir dir;
  const std::string fifo = dir.file("fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
  EXPECT_THROW(write_file_atomic(fifo, "x"), Error);
  EXPECT_TRUE(std::filesystem::is_fifo(fifo)) << "the FIFO was replaced";
  std::filesystem::create_directory(dir.file("d"));
  EXPECT_THROW(write_file_atomic(dir.file("d"), "x"), Error);
  EXPECT_TRUE(std::filesystem::is_directory(dir.file("d")));
  int entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) entries += e.exists();
  EXPECT_EQ(entries, 2) << "a temporary file was left behind";
}

TEST(AtomicFile, WritesThroughASymlinkAndKeepsIt) {
  test::TempDir dir;
  write_file_atomic(dir.file("target.txt"), "old");
  std::filesystem::create_symlink(dir.file("target.txt"), dir.file("link.txt"));
  write_file_atomic(dir.file("link.txt"), "new");
  EXPECT_TRUE(std::filesystem::is_symlink(dir.file("link.txt")));
  EXPECT_EQ(read_file(dir.file("target.txt")), "new");
  // A link to a device is refused like the device itself.
  std::filesystem::create_symlink("/dev/null", dir.file("null"));
  EXPECT_THROW(write_file_atomic(dir.file("null"), "x"), Error);
  EXPECT_TRUE(std::filesystem::is_symlink(dir.file("null")));
}

TEST(MappedFile, MapsAndReportsMissing) {
  test::TempDir dir;
  write_file_atomic(dir.file("m"), "hello");
  MappedFile f(dir.file("m"));
  ASSERT_EQ(f.size(), 5u);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(f.data()), 5), "hello");
  EXPECT_THROW(MappedFile(dir.file("nope")), Error);
  EXPECT_THROW(MappedFile(dir.path().string()), Error);  // a directory
}

}  // namespace
}  // namespace spf

// A thread count set by the user (--threads) survives the executors' single-threaded BLAS guard:
// OpenBLAS kept its own start-up count, and the guard's restore used to reset OpenMP to it (found
// by TrainKill: `train-indexer --threads 1` ran on every core after its first attention call).
TEST(Threads, SetCountSurvivesTheBlasGuard) {
  const int before = spf::num_threads();
  spf::set_num_threads(1);
  { spf::detail::BlasSingleThread guard; }
  EXPECT_EQ(spf::num_threads(), 1);
  EXPECT_EQ(openblas_get_num_threads(), 1);
  spf::set_num_threads(before);
}
