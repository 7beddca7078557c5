#include "indexer/cuda/call_timer.h"

#include <cuda_runtime.h>

#include "attention/cuda/cuda_check.h"
#include "core/error.h"

namespace spf {

struct CallTimer::Impl {
  struct Pending {
    IndexerCallTiming meta;
    std::vector<cudaEvent_t> events;  // events[0] starts; events[i] closes parts[i - 1]
    std::vector<Part> parts;
  };
  std::vector<cudaEvent_t> pool;
  std::vector<Pending> done;
  Pending open;
  bool active = false;
  cudaStream_t stream = nullptr;

  cudaEvent_t record() {
    cudaEvent_t e = nullptr;
    if (pool.empty()) {
      SPF_CUDA_CHECK(cudaEventCreate(&e));
    } else {
      e = pool.back();
      pool.pop_back();
    }
    SPF_CUDA_CHECK(cudaEventRecord(e, stream));
    return e;
  }
  ~Impl() {
    for (Pending* p : {&open}) pool.insert(pool.end(), p->events.begin(), p->events.end());
    for (Pending& p : done) pool.insert(pool.end(), p.events.begin(), p.events.end());
    for (cudaEvent_t e : pool) cudaEventDestroy(e);
  }
};

CallTimer::CallTimer() : impl_(std::make_unique<Impl>()) {}
CallTimer::~CallTimer() = default;

void CallTimer::begin(const IndexerCallTiming& meta, void* stream) {
  SPF_CHECK(!impl_->active, "call timer: begin() of a call before end() of the last");
  impl_->stream = static_cast<cudaStream_t>(stream);
  impl_->open = Impl::Pending{meta, {impl_->record()}, {}};
  impl_->active = true;
}

void CallTimer::mark(Part part) {
  SPF_CHECK(impl_->active, "call timer: mark() outside a call");
  impl_->open.events.push_back(impl_->record());
  impl_->open.parts.push_back(part);
}

void CallTimer::end() {
  SPF_CHECK(impl_->active, "call timer: end() outside a call");
  impl_->done.push_back(std::move(impl_->open));
  impl_->open = Impl::Pending{};
  impl_->active = false;
}

std::vector<IndexerCallTiming> CallTimer::take() {
  std::vector<IndexerCallTiming> out;
  for (Impl::Pending& p : impl_->done) {
    SPF_CUDA_CHECK(cudaEventSynchronize(p.events.back()));
    IndexerCallTiming t = p.meta;
    for (size_t i = 0; i < p.parts.size(); ++i) {
      float ms = 0.0f;
      SPF_CUDA_CHECK(cudaEventElapsedTime(&ms, p.events[i], p.events[i + 1]));
      if (p.parts[i] == Part::attention) {
        t.attention_ms += double(ms);
      } else {
        t.indexer_ms += double(ms);
        if (p.parts[i] == Part::topk) t.topk_ms += double(ms);
      }
    }
    out.push_back(t);
    impl_->pool.insert(impl_->pool.end(), p.events.begin(), p.events.end());
  }
  impl_->done.clear();
  return out;
}

}  // namespace spf
