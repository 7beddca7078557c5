#include "indexer/cuda/sparse_cost_model.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "attention/cuda/cuda_check.h"
#include "attention/cuda/cuda_executor.h"
#include "attention/cuda/fill.h"
#include "attention/cuda/indexer_topk.h"
#include "attention/side_cache.h"
#include "core/atomic_file.h"
#include "core/buffer.h"
#include "core/error.h"
#include "model/cuda/cuda_decoder.h"

namespace spf {

std::string SparseCostKey::str() const {
  std::ostringstream s;
  s << device << "|" << n_heads << "/" << n_kv_heads << "/" << head_dim << "|" << indexer << "|"
    << budget << "|q_block" << q_block;
  if (!kernel.empty()) s << "|" << kernel;
  if (!topk.empty()) s << "|topk " << topk;
  return s.str();
}

SparseCostModel SparseCostModel::load(const std::string& path) {
  SparseCostModel m;
  std::ifstream in(path);
  if (!in) return m;
  try {
    const nlohmann::json j = nlohmann::json::parse(in);
    for (const auto& [key, e] : j.at("entries").items()) {
      SparseCostEntry entry;
      entry.dense_below = e.at("dense_below").get<int64_t>();
      for (const auto& s : e.at("samples"))
        entry.samples.push_back({s.at("n").get<int64_t>(), s.at("dense_ms").get<double>(),
                                 s.at("sparse_ms").get<double>()});
      m.entries_[key] = std::move(entry);
    }
  } catch (const nlohmann::json::exception& e) {
    fail(path, ": not a sparse cost model (", e.what(), ")");
  }
  return m;
}

void SparseCostModel::save(const std::string& path) const {
  nlohmann::json entries = nlohmann::json::object();
  for (const auto& [key, e] : entries_) {
    nlohmann::json samples = nlohmann::json::array();
    for (const SparseCostSample& s : e.samples)
      samples.push_back({{"n", s.n}, {"dense_ms", s.dense_ms}, {"sparse_ms", s.sparse_ms}});
    entries[key] = {{"dense_below", e.dense_below}, {"samples", samples}};
  }
  write_file_atomic(path, nlohmann::json{{"entries", entries}}.dump(1) + "\n");
}

std::optional<SparseCostEntry> SparseCostModel::find(const SparseCostKey& key) const {
  auto it = entries_.find(key.str());
  if (it == entries_.end()) return std::nullopt;
  return it->second;
}

void SparseCostModel::set(const SparseCostKey& key, SparseCostEntry entry) {
  entries_[key.str()] = std::move(entry);
}

SparseCostKey sparse_cost_key(const IndexerConfig& indexer, const CudaIndexerOptions& options,
                              int n_heads, int n_kv_heads, int head_dim) {
  SparseCostKey k;
  k.device = cuda_device_name();
  k.n_heads = n_heads;
  k.n_kv_heads = n_kv_heads;
  k.head_dim = head_dim;
  k.indexer = indexer.variant() + ",d" + std::to_string(indexer.d_idx);
  k.budget = options.budget.str();
  k.q_block = options.q_block;
  k.kernel = kernel_name(cuda_executor().kernel_for(head_dim));
  k.topk = kIndexerTopKRevision;
  return k;
}

int64_t dense_below_from(const std::vector<SparseCostSample>& samples) {
  int64_t threshold = std::numeric_limits<int64_t>::max();
  for (size_t i = samples.size(); i-- > 0;) {
    if (samples[i].sparse_ms >= samples[i].dense_ms) break;
    threshold = samples[i].n;
  }
  return threshold;
}

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

SparseCostEntry calibrate_sparse_cost(const IndexerWeights& weights, CudaIndexerOptions options,
                                      int n_heads, int n_kv_heads, int head_dim,
                                      const std::vector<int64_t>& lengths, int repeats) {
  SPF_CHECK(cuda_device_present(), "sparse cost model: no CUDA device is visible");
  SPF_CHECK(!lengths.empty() && repeats >= 1, "sparse cost model: no lengths or repeats");
  options.dense_below = 0;
  options.sparse_layers = LayerSelection();
  options.timing = false;
  const int d_model = weights.config.d_model;
  SparseCostEntry entry;
  for (const int64_t n : lengths) {
    SPF_CHECK(n > 0, "sparse cost model: length ", n, " must be positive");
    const int64_t qd = int64_t(n_heads) * head_dim, kvd = int64_t(n_kv_heads) * head_dim;
    Buffer q(Device::cuda, size_t(n * qd) * 2), k(Device::cuda, size_t(n * kvd) * 2),
        v(Device::cuda, size_t(n * kvd) * 2), out(Device::cuda, size_t(n * qd) * 2),
        hidden(Device::cuda, size_t(n * d_model) * 2);
    cuda_fill_normal_bf16(q.data(), n * qd, 1, 1.0f);
    cuda_fill_normal_bf16(k.data(), n * kvd, 2, 1.0f);
    cuda_fill_normal_bf16(v.data(), n * kvd, 3, 1.0f);
    cuda_fill_normal_bf16(hidden.data(), n * d_model, 4, 1.0f);
    AttentionCall call;
    call.shape = {n, n, 0, n_heads, n_kv_heads, head_dim, 1.0f / std::sqrt(float(head_dim))};
    call.q = TensorView(q.data(), DType::bf16, {n, n_heads, head_dim}, Device::cuda);
    call.k = TensorView(k.data(), DType::bf16, {n, n_kv_heads, head_dim}, Device::cuda);
    call.v = TensorView(v.data(), DType::bf16, {n, n_kv_heads, head_dim}, Device::cuda);
    call.out = TensorView(out.data(), DType::bf16, {n, n_heads, head_dim}, Device::cuda);
    call.hidden = TensorView(hidden.data(), DType::bf16, {n, d_model}, Device::cuda);
    auto time_ms = [&](auto&& fn) {
      std::vector<double> ms;
      for (int r = 0; r <= repeats; ++r) {
        SPF_CUDA_CHECK(cudaDeviceSynchronize());
        const auto t0 = std::chrono::steady_clock::now();
        fn();
        SPF_CUDA_CHECK(cudaDeviceSynchronize());
        if (r > 0)  // the first run warms up
          ms.push_back(
              std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                  .count());
      }
      return median(ms);
    };
    SparseCostSample s;
    s.n = n;
    s.dense_ms = time_ms([&] { cuda_executor().dense(call); });
    CudaIndexerBackend backend(weights, options);
    s.sparse_ms = time_ms([&] {
      SideCache cache(n, Device::cuda);  // each run appends every key again
      AttentionCall c = call;
      c.side_cache = &cache;
      backend.attend(c);
    });
    entry.samples.push_back(s);
  }
  std::sort(entry.samples.begin(), entry.samples.end(),
            [](const SparseCostSample& a, const SparseCostSample& b) { return a.n < b.n; });
  entry.dense_below = dense_below_from(entry.samples);
  return entry;
}

}  // namespace spf
