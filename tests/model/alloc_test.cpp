// The activation arena: once a prefill has run, a decode step takes everything from the state's
// arenas and scratch that only grows, so it allocates nothing on the heap. Checked with a counting
// global operator new/delete (this file replaces them for the whole test binary; counting is off
// except inside a CountAllocations scope) for the tiny llama fixture and for the Qwen3.5 hybrid,
// with the default dense backend.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "core/npy.h"
#include "model/model.h"
#include "test_util.h"

namespace {

std::atomic<bool> g_counting{false};
std::atomic<int64_t> g_allocations{0};

void* counted_alloc(std::size_t n, std::size_t align = 0) {
  if (g_counting.load(std::memory_order_relaxed)) g_allocations.fetch_add(1);
  if (n == 0) n = 1;
  void* p = align > alignof(std::max_align_t)
                ? std::aligned_alloc(align, (n + align - 1) / align * align)
                : std::malloc(n);
  return p;
}

// Not inlined: GCC's -Wmismatched-new-delete (seen in the -O2 sanitizer build) flags a free() that
// it sees inlined into a replaced operator delete as freeing memory from operator new.
[[gnu::noinline]] void counted_free(void* p) noexcept {
  std::free(p);
}

}  // namespace

void* operator new(std::size_t n) {
  if (void* p = counted_alloc(n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
  if (void* p = counted_alloc(n)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t n, std::align_val_t a) {
  if (void* p = counted_alloc(n, std::size_t(a))) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n, std::align_val_t a) {
  if (void* p = counted_alloc(n, std::size_t(a))) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  return counted_alloc(n);
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  return counted_alloc(n);
}
void operator delete(void* p) noexcept {
  counted_free(p);
}
void operator delete[](void* p) noexcept {
  counted_free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  counted_free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  counted_free(p);
}
void operator delete(void* p, std::align_val_t) noexcept {
  counted_free(p);
}
void operator delete[](void* p, std::align_val_t) noexcept {
  counted_free(p);
}
void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
  counted_free(p);
}
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {
  counted_free(p);
}

namespace spf {
namespace {

// Counts operator new calls (any thread) while alive.
class CountAllocations {
 public:
  CountAllocations() {
    g_allocations = 0;
    g_counting = true;
  }
  ~CountAllocations() { g_counting = false; }
  int64_t count() const { return g_allocations.load(); }
};

struct ArenaAllocations {
  int64_t call = 0, layer = 0;
  explicit ArenaAllocations(const ModelState& s)
      : call(s.arena().allocations()), layer(s.layer_arena().allocations()) {}
  bool operator==(const ArenaAllocations&) const = default;
};

void expect_decode_allocates_nothing(const std::string& fixture) {
  const std::string dir = test::fixture("hf/" + fixture);
  const auto model = load_model(dir);
  const NpyArray a = read_npy(dir + "/ids.npy");
  const std::vector<int32_t> ids(a.data.begin(), a.data.end());
  auto st = model->new_state(int64_t(ids.size()) + 4);
  std::vector<float> logits(size_t(model->config().vocab_size));
  model->forward(ids, *st, dense_attention_backend(), LogitsMode::last, logits);
  EXPECT_GT(st->arena().high_water(), 0u);
  EXPECT_GT(st->layer_arena().high_water(), 0u);

  // Every decode step after the prefill, the first one included, fits the arenas and the
  // kernels' scratch. (The fixtures' prompts are too short for the dense executor to split keys
  // over threads in decode; a first split call sizes one buffer of the calling thread.)
  const ArenaAllocations after_prefill(*st);
  for (int step = 0; step < 3; ++step) {
    const int32_t id = 3 + step;
    int64_t count = 0;
    {
      CountAllocations counter;
      model->forward(std::span<const int32_t>(&id, 1), *st, dense_attention_backend(),
                     LogitsMode::last, logits);
      count = counter.count();
    }
    EXPECT_EQ(count, 0) << fixture << ": heap allocations in decode step " << step + 1;
  }
  EXPECT_TRUE(ArenaAllocations(*st) == after_prefill);
  EXPECT_EQ(st->n_past(), int64_t(ids.size()) + 3);
}

TEST(DecodeAllocations, TinyLlamaDecodeStepAllocatesNothing) {
  expect_decode_allocates_nothing("llama");
}

TEST(DecodeAllocations, Qwen35DecodeStepAllocatesNothing) {
  expect_decode_allocates_nothing("qwen3_5_text");
}

// The counter itself works (so the zeros above mean something).
TEST(DecodeAllocations, CounterSeesAllocations) {
  CountAllocations counter;
  auto* v = new std::vector<float>(100);
  const int64_t n = counter.count();
  delete v;
  EXPECT_GE(n, 2);
}

}  // namespace
}  // namespace spf
