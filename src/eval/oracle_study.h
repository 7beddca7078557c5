// The oracle study: one dense forward over a prompt, then one forward per sparse configuration
// (method spec x budget; the spec carries granularity, head grouping and options; the layers
// that run sparse: --dense-layers and --sparse-layers) through
// SupportAttention with diagnostics, each
// compared with dense at the layer level (retained mass, output error, density, head-critical keys
// dropped) and at the model level (logit KL, top-1 agreement). Reports go out as JSON and Markdown.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "eval/logit_compare.h"
#include "model/model.h"
#include "support/producer.h"
#include "support/support_attention.h"

namespace spf {

struct SparseConfig {
  MethodSpec spec = default_method_spec("oracle");
  std::string budget = "5%";  // parse_budget text
  int dense_layers = 0;
  std::string sparse_layers = "all";  // support/layer_selection.h (--sparse-layers)
  // The canonical spec @ budget, e.g. "oracle:block64:groups=head @ 5%": names and resumes runs.
  std::string label() const;
};

struct LayerSummary {
  int layer = 0;
  double density = 0, retained_mass = 0, rel_error = 0, critical_dropped_fraction = 0;
  bool dense = false;
};

struct SparseRunResult {
  SparseConfig config;
  std::string producer_name;
  LogitComparison logits;
  double density = 0, retained_mass = 0, rel_error = 0,
         critical_dropped_fraction = 0;  // over sparse layers
  std::vector<LayerSummary> layers;
  double seconds = 0;
};

struct OracleStudy {
  std::string model_path;
  int64_t n_tokens = 0;
  double dense_seconds = 0;
  std::vector<SparseRunResult> runs;
};

// The full forward of `ids` through `attention`, logits [n, vocab].
std::vector<float> forward_all_logits(const Model& model, std::span<const int32_t> ids,
                                      AttentionBackend& attention);

// One sparse configuration against precomputed dense logits.
SparseRunResult run_sparse_config(const Model& model, std::span<const int32_t> ids,
                                  std::span<const float> dense_logits, const SparseConfig& config);

// Reads the runs of a JSON report written by write_oracle_reports (for resuming); throws on a
// malformed file. Reports written before the method grammar (a bare "method" with "block" and
// "groups" fields) read as the same specs, so their runs keep matching on resume.
OracleStudy read_oracle_json(const std::string& json_path);

// Writes JSON and Markdown (atomically); either path may be empty.
void write_oracle_reports(const OracleStudy& study, const std::string& json_path,
                          const std::string& md_path);
std::string oracle_markdown(const OracleStudy& study);

}  // namespace spf
