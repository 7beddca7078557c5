// SupportPlan: plan once, run many. Owns a support in any layout (CSR, top-k, BSR) together with
// the ValidatedSupport its one validation scan produced, so that executors (and diagnostics) can
// run it repeatedly without scanning it again. Construction throws spf::Error for an invalid
// support. Movable (the arrays move with their buffers, so the validated view stays valid), not
// copyable.
#pragma once

#include <variant>

#include "attention/support_view.h"
#include "support/bsr_support.h"
#include "support/support.h"
#include "support/top_k_support.h"

namespace spf {

class SupportPlan {
 public:
  explicit SupportPlan(Support s)
      : layout_(std::move(s)), validated_(std::get<Support>(layout_).validated()) {}
  explicit SupportPlan(TopKSupport s)
      : layout_(std::move(s)), validated_(std::get<TopKSupport>(layout_).validated()) {}
  explicit SupportPlan(BsrSupport s)
      : layout_(std::move(s)), validated_(std::get<BsrSupport>(layout_).validated()) {}
  SupportPlan(SupportPlan&&) noexcept = default;
  SupportPlan& operator=(SupportPlan&&) noexcept = default;
  SupportPlan(const SupportPlan&) = delete;
  SupportPlan& operator=(const SupportPlan&) = delete;

  // What executors take.
  const ValidatedSupport& validated() const { return validated_; }
  const SupportDims& dims() const { return validated_.dims(); }
  // The owned support in its layout; nullptr for the other layouts.
  const Support* csr() const { return std::get_if<Support>(&layout_); }
  const TopKSupport* top_k() const { return std::get_if<TopKSupport>(&layout_); }
  const BsrSupport* bsr() const { return std::get_if<BsrSupport>(&layout_); }
  // Measured by the validation scan.
  int64_t admitted_pairs() const { return validated_.admitted_pairs(); }
  double density() const { return validated_.density(); }
  bool full() const { return validated_.full(); }

 private:
  std::variant<Support, TopKSupport, BsrSupport> layout_;  // before validated_: it points into it
  ValidatedSupport validated_;
};

}  // namespace spf
