// GPU attention benchmark of the CUDA executor: dense causal, block-sparse (random causal block
// masks, block 128, diagonal kept) and gathered token-sparse (block-shared top-k lists), bf16,
// batch 1, at the given shapes and lengths. Times are CUDA-event medians of --repeats launches
// after 2 warm-ups. TFLOP/s counts 4 * head_dim * n_heads * (admitted query-key pairs), i.e.
// 2 N^2 d H for dense causal. The block masks are written to --mask-dir (row_ptr / cols int32 per
// case) so that tools/bench_attention_peers.py times FlexAttention on exactly the same masks.
//
//   cuda_attention_bench --shapes 16/4/256,32/8/128,9/3/64 --lengths 8192,32768,131072
//                        --densities 0.032,0.102 --topk 2048 --mask-dir DIR --json FILE
//                        [--kernels auto,mma,wgmma] [--m-tiles 0,1,2] [--wgmma-keys 0,64,128]
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "attention/cuda/cuda_executor.h"
#include "attention/cuda/fill.h"
#include "attention/cuda/indexer_topk.h"
#include "core/buffer.h"
#include "cuda_bench_util.h"

namespace {

using spf::AttentionCall;
using spf::Buffer;
using spf::Device;
using spf::DType;
using spf::TensorView;
using spf::bench::arg;
using spf::bench::split;
using spf::bench::time_ms;

struct Shape {
  int heads, kv_heads, head_dim;
};

// A random causal block mask: each strictly-below-diagonal block kept with probability p, the
// diagonal always (FlexAttention's benchmark mask). Rows of n_blocks = N / block.
struct BlockMask {
  BlockMask(int64_t n_, int block_) : n(n_), block(block_) {}
  int64_t n;
  int block;
  std::vector<int32_t> row_ptr{0}, cols;
  int64_t pairs = 0;  // admitted causal (query, key) pairs

  // Appends block column c to row r (rows are added in order; end_row() closes one).
  void add(int64_t r, int64_t c) {
    cols.push_back(int32_t(c));
    const int64_t q_lo = r * block, q_hi = std::min(n, q_lo + block);
    const int64_t k_lo = c * block, k_hi = std::min(n, k_lo + block);
    for (int64_t i = q_lo; i < q_hi; ++i)
      pairs += std::max<int64_t>(0, std::min(k_hi, i + 1) - k_lo);
  }
  void end_row() { row_ptr.push_back(int32_t(cols.size())); }
};

BlockMask random_block_mask(int64_t n, int block, double p, uint32_t seed) {
  BlockMask m(n, block);
  std::mt19937 rng(seed);
  std::bernoulli_distribution coin(p);
  const int64_t nb = (n + block - 1) / block;
  for (int64_t r = 0; r < nb; ++r) {
    for (int64_t c = 0; c <= r; ++c)
      if (c == r || coin(rng)) m.add(r, c);
    m.end_row();
  }
  return m;
}

// Block-shared top-k token lists: for each q_block rows, `k` random causal keys (all of them when
// fewer exist), ascending, -1 padded; counts per row.
struct TokenLists {
  std::vector<int32_t> cols, counts;
  int64_t pairs = 0;
};

TokenLists random_token_lists(int64_t n, int q_block, int k, uint32_t seed) {
  TokenLists t;
  std::mt19937 rng(seed);
  const int64_t rows = (n + q_block - 1) / q_block;
  t.cols.assign(size_t(rows * k), -1);
  std::vector<int32_t> pool;
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t q_lo = r * q_block, q_hi = std::min(n, q_lo + q_block);
    const int64_t visible = q_hi;  // keys 0 .. q_hi - 1 are causal for the row's last query
    std::vector<int32_t> pick;
    if (visible <= k) {
      for (int64_t j = 0; j < visible; ++j) pick.push_back(int32_t(j));
    } else {
      // k distinct keys by Floyd's algorithm, then sorted.
      std::vector<char> used(size_t(visible), 0);
      for (int64_t j = visible - k; j < visible; ++j) {
        int64_t x = int64_t(rng() % uint64_t(j + 1));
        if (used[size_t(x)]) x = j;
        used[size_t(x)] = 1;
      }
      for (int64_t j = 0; j < visible; ++j)
        if (used[size_t(j)]) pick.push_back(int32_t(j));
    }
    std::copy(pick.begin(), pick.end(), t.cols.begin() + r * k);
    t.counts.push_back(int32_t(pick.size()));
    for (int64_t i = q_lo; i < q_hi; ++i)
      for (const int32_t j : pick) t.pairs += j <= i;
  }
  return t;
}

template <class T>
Buffer upload(const std::vector<T>& x) {
  Buffer b(Device::cuda, std::max<size_t>(x.size(), 1) * sizeof(T));
  if (!x.empty()) spf::cuda_copy_to_device(b.data(), x.data(), x.size() * sizeof(T));
  return b;
}

// Median time of the executor walking the mask's blocks (uploaded once, as a GPU producer's).
double time_block_mask(spf::CudaExecutor& ex, const spf::AttentionCall& c, const BlockMask& m,
                       int repeats) {
  std::vector<int64_t> rp64(m.row_ptr.begin(), m.row_ptr.end());
  Buffer drp = upload(rp64), dcols = upload(m.cols);
  spf::DeviceSupportView sv;
  sv.n_q = m.n;
  sv.n_kv = m.n;
  sv.q_block = m.block;
  sv.k_block = m.block;
  sv.n_groups = 1;
  sv.row_ptr = static_cast<const int64_t*>(drp.data());
  sv.cols = static_cast<const int32_t*>(dcols.data());
  return time_ms([&] { ex.sparse_device(c, sv); }, repeats);
}

template <class T>
void write_raw(const std::string& path, const std::vector<T>& x) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(x.data()), std::streamsize(x.size() * sizeof(T)));
}

}  // namespace

int main(int argc, char** argv) try {
  if (!spf::cuda_device_present()) {
    std::fprintf(stderr, "cuda_attention_bench: no CUDA device\n");
    return 1;
  }
  const auto shapes_s = split(arg(argc, argv, "--shapes", "16/4/256,32/8/128,9/3/64"), ',');
  const auto lengths_s = split(arg(argc, argv, "--lengths", "8192,32768,131072"), ',');
  const auto dens_s = split(arg(argc, argv, "--densities", "0.032,0.102"), ',');
  const int topk = std::atoi(arg(argc, argv, "--topk", "2048").c_str());
  // Indexer scoring + streaming top-k (one indexer head of this dim, top-`topk` per 64 queries).
  const int indexer_dim = std::atoi(arg(argc, argv, "--indexer-dim", "64").c_str());
  const int repeats = std::atoi(arg(argc, argv, "--repeats", "5").c_str());
  const std::string mask_dir = arg(argc, argv, "--mask-dir", "");
  const std::string json_path = arg(argc, argv, "--json", "");
  // Dense runs once per m-tile variant listed (0: the executor's default) of the mma kernel.
  const auto m_tiles_s = split(arg(argc, argv, "--m-tiles", "0"), ',');
  // Every case runs once per kernel listed (auto, mma, wgmma); the first one's rows carry the
  // plain names, the others' a " [kernel]" suffix.
  const auto kernels_s = split(arg(argc, argv, "--kernels", "auto"), ',');
  // Dense also runs once per wgmma key chunk listed (0: the default) and schedule (plain,
  // pipelined).
  const auto wgmma_keys_s = split(arg(argc, argv, "--wgmma-keys", "0"), ',');
  cudaDeviceProp prop{};
  cudaGetDeviceProperties(&prop, 0);
  std::printf("device: %s, %d SMs\n", prop.name, prop.multiProcessorCount);
  std::printf("%-10s %7s %-22s %9s %9s %8s\n", "shape", "N", "kernel", "density", "ms", "TFLOP/s");
  std::string json = "[\n";
  auto report = [&](const std::string& shape, int64_t n, const std::string& kernel, double density,
                    double ms, double flops) {
    const double tflops = flops / (ms * 1e-3) / 1e12;
    std::printf("%-10s %7lld %-22s %9.4f %9.3f %8.1f\n", shape.c_str(), (long long)n,
                kernel.c_str(), density, ms, tflops);
    std::fflush(stdout);
    char line[300];
    std::snprintf(line, sizeof line,
                  "  {\"shape\": \"%s\", \"n\": %lld, \"kernel\": \"%s\", \"density\": %.5f, "
                  "\"ms\": %.4f, \"tflops\": %.2f},\n",
                  shape.c_str(), (long long)n, kernel.c_str(), density, ms, tflops);
    json += line;
  };

  for (const std::string& ss : shapes_s) {
    const auto parts = split(ss, '/');
    const Shape sh{std::atoi(parts.at(0).c_str()), std::atoi(parts.at(1).c_str()),
                   std::atoi(parts.at(2).c_str())};
    for (const std::string& ls : lengths_s) {
      const int64_t n = std::atoll(ls.c_str());
      const int d = sh.head_dim;
      Buffer q(Device::cuda, size_t(n * sh.heads * d) * 2);
      Buffer k(Device::cuda, size_t(n * sh.kv_heads * d) * 2);
      Buffer v(Device::cuda, size_t(n * sh.kv_heads * d) * 2);
      Buffer o(Device::cuda, size_t(n * sh.heads * d) * 2);
      spf::cuda_fill_uniform_bf16(q.data(), n * sh.heads * d, 1, -1.0f, 1.0f);
      spf::cuda_fill_uniform_bf16(k.data(), n * sh.kv_heads * d, 2, -1.0f, 1.0f);
      spf::cuda_fill_uniform_bf16(v.data(), n * sh.kv_heads * d, 3, -1.0f, 1.0f);
      AttentionCall c;
      c.shape = spf::AttentionShape{n, n, 0, sh.heads, sh.kv_heads, d, 1.0f / std::sqrt(float(d))};
      c.q = TensorView(q.data(), DType::bf16, {n, sh.heads, d}, Device::cuda);
      c.k = TensorView(k.data(), DType::bf16, {n, sh.kv_heads, d}, Device::cuda);
      c.v = TensorView(v.data(), DType::bf16, {n, sh.kv_heads, d}, Device::cuda);
      c.out = TensorView(o.data(), DType::bf16, {n, sh.heads, d}, Device::cuda);
      const double causal = double(n) * double(n + 1) / 2.0;
      const double per_pair = 4.0 * d * sh.heads;
      for (const std::string& ks : kernels_s) {
        const spf::CudaAttentionKernel kernel = spf::parse_cuda_attention_kernel(ks);
        const std::string tag = ks == kernels_s.front() ? "" : " [" + ks + "]";
        spf::CudaExecutor ex(spf::CudaExecutorOptions{0, kernel});
        for (const std::string& mt : m_tiles_s) {
          const int m = std::atoi(mt.c_str());
          if (m > 1 && d == 256) continue;
          if (m > 0 && kernel != spf::CudaAttentionKernel::mma) continue;
          spf::CudaExecutor variant(spf::CudaExecutorOptions{m, kernel});
          const double dense_ms = time_ms([&] { variant.dense(c); }, repeats);
          report(ss, n, (m == 0 ? std::string("dense") : "dense m_tiles " + mt) + tag, 1.0,
                 dense_ms, per_pair * causal);
        }
        for (const std::string& wk : wgmma_keys_s) {
          const int keys = std::atoi(wk.c_str());
          if (kernel == spf::CudaAttentionKernel::mma || (d == 256 && keys > 64)) continue;
          for (const int pipe : {0, 1}) {
            if (keys == 0 && pipe == 0) continue;  // the default row above
            spf::CudaExecutor variant(spf::CudaExecutorOptions{0, kernel, keys, pipe});
            const double dense_ms = time_ms([&] { variant.dense(c); }, repeats);
            report(ss, n, "dense keys " + wk + (pipe ? " pipe" : "") + tag, 1.0, dense_ms,
                   per_pair * causal);
          }
        }

        // Block-sparse, block 128 (as FlexAttention's BLOCK_SIZE), one mask shared by all heads.
        for (const std::string& ds : dens_s) {
          const double want = std::atof(ds.c_str());
          const int64_t nb = (n + 127) / 128;
          // Keep probability p off the diagonal so that the kept fraction of causal blocks ~ want.
          const double causal_blocks = double(nb) * double(nb + 1) / 2.0;
          const double p =
              std::max(0.0, (want * causal_blocks - double(nb)) / (causal_blocks - nb));
          const BlockMask m = random_block_mask(n, 128, p, uint32_t(n + 17));
          const double kept = double(m.cols.size()) / causal_blocks;
          const double ms = time_block_mask(ex, c, m, repeats);
          char name[64];
          std::snprintf(name, sizeof name, "block128 keep %.3f", kept);
          report(ss, n, name + tag, double(m.pairs) / causal, ms, per_pair * double(m.pairs));
          if (!mask_dir.empty() && tag.empty()) {
            char base[256];
            std::snprintf(base, sizeof base, "%s/mask_%lld_%s", mask_dir.c_str(), (long long)n,
                          ds.c_str());
            write_raw(std::string(base) + ".row_ptr.i32", m.row_ptr);
            write_raw(std::string(base) + ".cols.i32", m.cols);
          }
        }

        // Gathered token-sparse: top-k keys per block of 64 queries, shared by all heads; and the
        // block-sparse walk over the same number of keys (topk / 128 blocks of 128 per row).
        if (topk > 0 && n > topk) {
          const TokenLists t = random_token_lists(n, 64, topk, uint32_t(n + 5));
          Buffer dcols = upload(t.cols), dcounts = upload(t.counts);
          spf::DeviceSupportView sv;
          sv.n_q = n;
          sv.n_kv = n;
          sv.q_block = 64;
          sv.k_block = 1;
          sv.n_groups = 1;
          sv.cols = static_cast<const int32_t*>(dcols.data());
          sv.counts = static_cast<const int32_t*>(dcounts.data());
          sv.k = topk;
          const double ms = time_ms([&] { ex.sparse_device(c, sv); }, repeats);
          report(ss, n, "gather top" + std::to_string(topk) + "/q64" + tag,
                 double(t.pairs) / causal, ms, per_pair * double(t.pairs));

          // Same key count as blocks: topk / 128 random causal blocks of 128 per 128-query row.
          const int per_row = topk / 128;
          const int64_t nb = (n + 127) / 128;
          BlockMask m(n, 128);
          std::mt19937 rng(uint32_t(n + 9));
          for (int64_t r = 0; r < nb; ++r) {
            std::vector<char> used(size_t(r + 1), r + 1 <= per_row);
            used[size_t(r)] = 1;  // the diagonal
            for (int got = 1; r + 1 > per_row && got < per_row;) {
              const int64_t x = int64_t(rng() % uint64_t(r));
              if (!used[size_t(x)]) used[size_t(x)] = 1, ++got;
            }
            for (int64_t cc = 0; cc <= r; ++cc)
              if (used[size_t(cc)]) m.add(r, cc);
            m.end_row();
          }
          const double bms = time_block_mask(ex, c, m, repeats);
          report(ss, n, "block128 " + std::to_string(per_row) + "/row" + tag,
                 double(m.pairs) / causal, bms, per_pair * double(m.pairs));
        }
      }

      // Indexer scores + streaming top-k per block of 64 queries (its own q/k of indexer_dim).
      if (topk > 0 && indexer_dim > 0 && n > topk) {
        Buffer iq(Device::cuda, size_t(n * indexer_dim) * 2),
            ik(Device::cuda, size_t(n * indexer_dim) * 2);
        spf::cuda_fill_uniform_bf16(iq.data(), n * indexer_dim, 4, -1.0f, 1.0f);
        spf::cuda_fill_uniform_bf16(ik.data(), n * indexer_dim, 5, -1.0f, 1.0f);
        // The default (sampled, else two-pass where the candidates fit), the two-pass path
        // without sampling, and the 4-pass path alone, in the same run.
        for (const int path : {0, 1, 2}) {
          spf::IndexerTopKShape is{n, n, 0, indexer_dim, 64, topk};
          is.sampled = path == 0;
          is.candidate_capacity = path == 2 ? -1 : 0;
          Buffer tc(Device::cuda, size_t(is.n_rows() * topk) * 4),
              tn(Device::cuda, size_t(is.n_rows()) * 4);
          const TensorView qv(iq.data(), DType::bf16, {n, indexer_dim}, Device::cuda);
          const TensorView kv(ik.data(), DType::bf16, {n, indexer_dim}, Device::cuda);
          const double ms = time_ms(
              [&] {
                spf::cuda_indexer_topk(is, qv, kv, static_cast<int32_t*>(tc.data()),
                                       static_cast<int32_t*>(tn.data()));
              },
              repeats);
          // FLOPs of one scoring pass over the causal pairs (the kernel makes 1 + 1/16, two or
          // four).
          report(ss, n,
                 "indexer d" + std::to_string(indexer_dim) + " top" + std::to_string(topk) +
                     "/q64" +
                     (path == 1   ? " two-pass"
                      : path == 2 ? " 4-pass"
                                  : ""),
                 1.0, ms, 2.0 * indexer_dim * causal);
        }
      }
    }
  }
  if (json.size() > 2) json.erase(json.size() - 2, 1);
  json += "]\n";
  if (!json_path.empty()) std::ofstream(json_path) << json;
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "cuda_attention_bench: error: %s\n", e.what());
  return 1;
}
