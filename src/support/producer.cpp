#include "support/producer.h"

#include <charconv>

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

GroupMode parse_group_mode(std::string_view text) {
  if (text == "shared") return GroupMode::shared;
  if (text == "per_kv_group") return GroupMode::per_kv_group;
  if (text == "per_head") return GroupMode::per_head;
  fail("unknown support group mode '", text, "' (known: shared, per_kv_group, per_head)");
}

const char* group_mode_name(GroupMode mode) {
  switch (mode) {
    case GroupMode::shared:
      return "shared";
    case GroupMode::per_kv_group:
      return "per_kv_group";
    case GroupMode::per_head:
      return "per_head";
  }
  return "?";
}

int parse_granularity(std::string_view text) {
  if (text == "token") return 1;
  std::string_view num = text;
  if (num.starts_with("block:")) num.remove_prefix(6);
  int v = 0;
  const auto [end, ec] = std::from_chars(num.data(), num.data() + num.size(), v);
  SPF_CHECK(!num.empty() && ec == std::errc() && end == num.data() + num.size(), "granularity '",
            text, "' (expected token, block:N or N)");
  SPF_CHECK(v >= 1, "granularity '", text, "': block size ", v, " (must be >= 1)");
  return v;
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
  return {"dense", "oracle", "streaming", "vertical_slash", "antidiagonal", "random"};
}

void check_producer_method(std::string_view method) {
  std::string known;
  for (const std::string& m : producer_methods()) {
    if (method == m || (method == "xattention" && m == "antidiagonal")) return;
    known += (known.empty() ? "" : ", ") + m;
  }
  fail("unknown support method '", method, "' (known: ", known, ")");
}

std::unique_ptr<SupportProducer> make_producer(std::string_view method,
                                               const ProducerOptions& options) {
  check_producer_method(method);
  options.validate();
  if (method == "dense") return std::make_unique<DenseProducer>(options);
  if (method == "oracle") return std::make_unique<OracleProducer>(options);
  if (method == "streaming") return std::make_unique<StreamingProducer>(options);
  if (method == "vertical_slash") return std::make_unique<VerticalSlashProducer>(options);
  if (method == "random") return std::make_unique<RandomProducer>(options);
  return std::make_unique<AntidiagonalProducer>(options);  // "antidiagonal" or "xattention"
}

}  // namespace spf
