// A fuzz smoke for builds without libFuzzer (the GCC ASan + UBSan test build, as CI runs it): runs
// a fuzz target's LLVMFuzzerTestOneInput on every committed seed, then on seeded random mutations
// of them (bit flips, byte overwrites with boundary values, inserts, deletes, truncations, splices)
// for a fixed time. It finds what breaks near the seeds; the coverage-guided search is
// tools/fuzz.sh's job. Usage: fuzz_smoke_TARGET CORPUS_DIR SECONDS [SEED]. Exit 0 unless a
// sanitizer or a crash stops the process.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

using Bytes = std::vector<uint8_t>;

std::vector<Bytes> load_seeds(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.is_regular_file()) files.push_back(e.path());
  std::sort(files.begin(), files.end());  // directory order differs between file systems
  std::vector<Bytes> seeds;
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    seeds.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  return seeds;
}

// One random edit of `b` (kept under 1 MiB, as tools/fuzz.sh's -max_len).
void mutate(Bytes& b, const std::vector<Bytes>& seeds, std::mt19937_64& rng) {
  static const uint8_t kBoundary[] = {0x00, 0x01, 0x7f, 0x80, 0xff, '"', '{', '[', ':', ',', '\\'};
  const auto pick = [&](size_t n) { return size_t(rng() % (n == 0 ? 1 : n)); };
  switch (rng() % 7) {
    case 0:  // flip a bit
      if (!b.empty()) b[pick(b.size())] ^= uint8_t(1u << (rng() % 8));
      break;
    case 1:  // overwrite bytes with a boundary value (lengths, counts and syntax live here)
      for (size_t n = 1 + pick(8); n > 0 && !b.empty(); --n)
        b[pick(b.size())] = kBoundary[pick(sizeof kBoundary)];
      break;
    case 2:  // insert random bytes
      if (b.size() < (1u << 20))
        b.insert(b.begin() + std::ptrdiff_t(pick(b.size() + 1)), 1 + pick(16), uint8_t(rng()));
      break;
    case 3:  // delete a run
      if (!b.empty()) {
        const size_t at = pick(b.size());
        const size_t n = std::min(b.size() - at, 1 + pick(32));
        b.erase(b.begin() + std::ptrdiff_t(at), b.begin() + std::ptrdiff_t(at + n));
      }
      break;
    case 4:  // truncate
      b.resize(pick(b.size() + 1));
      break;
    case 5: {  // splice: a prefix of this one, a suffix of another seed
      const Bytes& o = seeds[pick(seeds.size())];
      const size_t cut = pick(b.size() + 1), from = pick(o.size() + 1);
      b.resize(cut);
      b.insert(b.end(), o.begin() + std::ptrdiff_t(from), o.end());
      if (b.size() > (1u << 20)) b.resize(1u << 20);
      break;
    }
    default:  // overwrite a little-endian 32- or 64-bit word with a large or negative value
      if (b.size() >= 8) {
        const size_t at = pick(b.size() - 7);
        const uint64_t values[] = {0xffffffffull, 0x80000000ull, 0xffffffffffffffffull,
                                   0x7fffffffffffffffull, uint64_t(rng())};
        const uint64_t v = values[pick(std::size(values))];
        for (size_t k = 0; k < (rng() % 2 ? 4u : 8u); ++k) b[at + k] = uint8_t(v >> (8 * k));
      }
      break;
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR RUNS [SEED] [MAX_SECONDS]\n", argv[0]);
    return 2;
  }
  const std::vector<Bytes> seeds = load_seeds(argv[1]);
  if (seeds.empty()) {
    std::fprintf(stderr, "%s: no seeds in %s\n", argv[0], argv[1]);
    return 2;
  }
  const int64_t runs = std::atoll(argv[2]);
  std::mt19937_64 rng(argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 1);
  const double max_seconds = argc > 4 ? std::atof(argv[4]) : 600;
  const auto start = std::chrono::steady_clock::now();
  for (const Bytes& s : seeds) LLVMFuzzerTestOneInput(s.data(), s.size());
  int64_t done = 0;
  for (; done < runs; ++done) {
    if (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() >
        max_seconds) {
      std::printf("%s: stopped at the %.0f s guard\n", argv[0], max_seconds);
      break;
    }
    Bytes b = seeds[size_t(rng() % seeds.size())];
    for (int k = 1 + int(rng() % 4); k > 0; --k) mutate(b, seeds, rng);
    LLVMFuzzerTestOneInput(b.data(), b.size());
  }
  const double took =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%s: %zu seeds, %lld mutated inputs in %.1f s, no crash\n", argv[0], seeds.size(),
              (long long)done, took);
  return 0;
}
