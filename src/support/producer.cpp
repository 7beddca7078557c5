#include "support/producer.h"

#include <mutex>

#include "core/error.h"
#include "support/producers/antidiagonal.h"
#include "support/producers/dense.h"
#include "support/producers/oracle.h"
#include "support/producers/random.h"
#include "support/producers/streaming.h"
#include "support/producers/vertical_slash.h"

namespace spf {

int n_groups_for(GroupMode mode, const AttentionShape& shape) {
  switch (mode) {
    case GroupMode::shared:
      return 1;
    case GroupMode::per_kv_group:
      return shape.n_kv_heads;
    case GroupMode::per_head:
      return shape.n_heads;
  }
  return 1;
}

void ProducerOptions::validate() const {
  budget.validate();
  SPF_CHECK(block >= 1, "support producer: block size ", block, " (must be >= 1)");
  SPF_CHECK(probe_queries >= 1, "support producer: probe_queries = ", probe_queries,
            " (must be >= 1)");
  SPF_CHECK(stride >= 1, "support producer: stride = ", stride, " (must be >= 1)");
}

std::string describe_producer(std::string_view method, const ProducerOptions& o) {
  return cat(method, "(", o.budget.str(), ",block=", o.block, ",", group_mode_name(o.groups), ")");
}

std::vector<std::string> producer_methods() {
  std::vector<std::string> out;
  for (const MethodInfo& m : method_catalog())
    if (m.available) out.emplace_back(m.name);
  return out;
}

void check_producer_method(std::string_view method) {
  const MethodInfo* m = find_method_info(method);
  if (m == nullptr) {
    std::string known;
    for (const std::string& k : producer_methods()) known += (known.empty() ? "" : ", ") + k;
    fail("unknown support method '", method, "' (known: ", known, ")");
  }
  SPF_CHECK(m->available, "support method '", method,
            "' is not available in this build yet (reserved for a later release)");
}

namespace {

// The budget's sink or window joined with the spec's (0 = not set on that side).
int64_t join_forced(const MethodSpec& spec, std::string_view key, int64_t from_budget) {
  if (spec.info().find_option(key) == nullptr) return from_budget;
  const int64_t from_spec = spec.option(key);
  if (from_budget == 0) return from_spec;
  if (from_spec == 0 || from_spec == from_budget) return from_budget;
  const bool is_default = from_spec == spec.info().find_option(key)->default_value;
  fail("method ", to_string(spec), " keeps ", key, "=", from_spec,
       is_default ? " (its default)" : "", " but the budget says ", key, "=", from_budget,
       ": set it in one place (e.g. ", spec.method, ":", key, "=", from_budget, ")");
}

}  // namespace

ProducerOptions producer_options(const MethodSpec& spec, const Budget& budget) {
  ProducerOptions po;
  po.budget = budget;
  po.block = spec.block;
  po.groups = spec.groups;
  const MethodInfo& m = spec.info();
  if (m.uses_budget) {
    po.budget.sink = join_forced(spec, "sink", budget.sink);
    po.budget.window = join_forced(spec, "window", budget.window);
  }
  if (m.find_option("seed")) po.seed = uint64_t(spec.option("seed"));
  if (m.find_option("probe")) po.probe_queries = int(spec.option("probe"));
  if (m.find_option("stride")) po.stride = int(spec.option("stride"));
  po.validate();
  return po;
}

namespace {

struct Registered {
  std::string method;
  ProducerFactory factory;
};

std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}
std::vector<Registered>& registry() {
  static std::vector<Registered> r;
  return r;
}

ProducerFactory registered_factory(std::string_view method) {
  std::lock_guard<std::mutex> lock(registry_mutex());
  for (const Registered& r : registry())
    if (r.method == method) return r.factory;
  return nullptr;
}

}  // namespace

void register_producer_factory(std::string_view method, ProducerFactory factory) {
  std::lock_guard<std::mutex> lock(registry_mutex());
  for (Registered& r : registry())
    if (r.method == method) {
      r.factory = factory;
      return;
    }
  registry().push_back({std::string(method), factory});
}

std::unique_ptr<SupportProducer> make_producer(const MethodSpec& spec, const Budget& budget) {
  const MethodInfo& m = spec.info();
  SPF_CHECK(m.available, "support method ", to_string(spec), ": ", m.name,
            " is not available in this build yet (reserved for a later release; see spf methods)");
  if (m.takes_path) {
    const ProducerFactory f = registered_factory(m.name);
    SPF_CHECK(f != nullptr, "support method ", to_string(spec), ": ", m.name,
              " is not available in this build (its library did not register it)");
    return f(spec, producer_options(spec, budget));
  }
  return make_producer(spec.method, producer_options(spec, budget));
}

std::unique_ptr<SupportProducer> make_producer(std::string_view method,
                                               const ProducerOptions& options) {
  check_producer_method(method);
  options.validate();
  SPF_CHECK(!find_method_info(method)->takes_path, "support method ", method,
            " needs a file: build it from a method spec (", method, ":FILE)");
  if (method == "dense") return std::make_unique<DenseProducer>(options);
  if (method == "oracle") return std::make_unique<OracleProducer>(options);
  if (method == "streaming") return std::make_unique<StreamingProducer>(options);
  if (method == "vertical_slash") return std::make_unique<VerticalSlashProducer>(options);
  if (method == "random") return std::make_unique<RandomProducer>(options);
  return std::make_unique<AntidiagonalProducer>(options);  // "antidiagonal" or "xattention"
}

}  // namespace spf
