// The GPU Gated DeltaNet (model/cuda/gdn_kernels.h) against the CPU functions of model/gdn.h on
// random inputs: each element-wise kernel, both delta forms (fp32 recurrent: tight; fp16
// tensor-core chunked: its tolerance), states carried across calls and across the two forms,
// and the whole mixer. Errors are max |gpu - cpu| over max |cpu| (printed as one `gdn <case>
// max_err` line each). GPU cases skip without a device; the shape checks run everywhere (they throw
// before any launch).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "attention/cuda/cuda_executor.h"
#include "core/buffer.h"
#include "core/error.h"
#include "core/half.h"
#include "model/cuda/gdn_kernels.h"
#include "model/cuda/gdn_mma_check.h"
#include "model/gdn.h"
#include "test_util.h"

namespace spf {
namespace {

using gdn::DeltaMode;
using gdn::Dims;

constexpr int kK = 4;
constexpr float kEps = 1e-6f;
// fp32 kernels (summation order and expf differ from the CPU's).
constexpr double kF32Tol = 2e-5;
// The fp32 recurrence over thousands of tokens.
constexpr double kRecurrentTol = 1e-4;
// Chunked form: fp16 matmul operands (2^-11 relative rounding) and fp16 chunk start states. A
// float64 model of the kernels' roundings predicts up to 8e-4 on these cases (bf16 operands: 8e-3).
constexpr double kChunkedTol = 5e-3;
// mix() in the recurrent form: fp32 plus the bf16 rounding of its output.
constexpr double kMixF32Tol = 8e-3;
// mix() in the chunked form: the per-head RMS norm rescales small heads, and their errors with
// them; the model predicts up to 4.3e-3 with the bf16 output (bf16 operands: 2.2e-2).
constexpr double kMixChunkedTol = 1.5e-2;
// The gated norm fused into the output kernel or run apart: the same f32 values up to summation
// order, so at most about one bf16 step of the largest output apart (2^-7 relative).
constexpr double kMixFusedVsSeparateTol = 8e-3;

#define SPF_REQUIRE_CUDA() \
  if (!cuda_device_present()) GTEST_SKIP() << "no CUDA device"

// A device copy of a host vector, read back with host().
template <class T>
class DeviceArray {
 public:
  explicit DeviceArray(const std::vector<T>& x)
      : n_(x.size()), buf_(Device::cuda, std::max<size_t>(1, x.size()) * sizeof(T)) {
    if (n_ > 0) cuda_copy_to_device(buf_.data(), x.data(), n_ * sizeof(T));
  }
  explicit DeviceArray(size_t n) : DeviceArray(std::vector<T>(n)) {}
  T* get() const { return static_cast<T*>(buf_.data()); }
  std::vector<T> host() const {
    std::vector<T> x(n_);
    if (n_ > 0) cuda_copy_to_host(x.data(), buf_.data(), n_ * sizeof(T));
    return x;
  }

 private:
  size_t n_;
  Buffer buf_;
};

// max |got - want| / max |want|, printed as "gdn <name> max_err <abs> rel <rel>".
double max_err(const std::string& name, const std::vector<float>& got,
               const std::vector<float>& want) {
  EXPECT_EQ(got.size(), want.size()) << name;
  double num = 0, den = 0;
  for (size_t i = 0; i < std::min(got.size(), want.size()); ++i) {
    const double e = std::abs(double(got[i]) - double(want[i]));
    num = std::isfinite(double(got[i])) ? std::max(num, e) : INFINITY;
    den = std::max(den, std::abs(double(want[i])));
  }
  const double rel = den > 0 ? num / den : num;
  std::printf("gdn %s max_err %.3g rel %.3g\n", name.c_str(), num, rel);
  return rel;
}

std::vector<float> bf16_to_floats(const std::vector<uint16_t>& x) {
  std::vector<float> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = bf16_to_f32(x[i]);
  return y;
}

std::vector<uint16_t> floats_to_bf16(const std::vector<float>& x) {
  std::vector<uint16_t> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = f32_to_bf16(x[i]);
  return y;
}

std::string dims_name(const Dims& d, int64_t T) {
  return "T" + std::to_string(T) + "_nk" + std::to_string(d.nk) + "_nv" + std::to_string(d.nv) +
         "_dk" + std::to_string(d.dk) + "_dv" + std::to_string(d.dv);
}

// The delta-rule inputs of a random sequence as the mixer makes them: q, k L2-normalised (q also
// scaled), beta in (0, 1), g <= 0 from the gates, and a random (non-zero) starting state.
struct DeltaCase {
  Dims d;
  int64_t T;
  std::vector<float> qkv, beta, g, state;

  DeltaCase(Dims dims, int64_t t, uint32_t seed) : d(dims), T(t) {
    const int64_t C = d.channels();
    qkv = test::random_floats(size_t(T * C), seed + 1);
    gdn::l2_normalize(qkv.data(), T, C, d.nk, d.dk, 1.0f / std::sqrt(float(d.dk)));
    gdn::l2_normalize(qkv.data() + d.key_dim(), T, C, d.nk, d.dk, 1.0f);
    const auto a = test::random_floats(size_t(T * d.nv), seed + 2, -3.0f, 3.0f);
    const auto b = test::random_floats(size_t(T * d.nv), seed + 3, -3.0f, 3.0f);
    const auto A_log = test::random_floats(size_t(d.nv), seed + 4, -2.0f, 1.0f);
    const auto dt_bias = test::random_floats(size_t(d.nv), seed + 5, -1.0f, 1.0f);
    beta.resize(size_t(T * d.nv));
    g.resize(size_t(T * d.nv));
    gdn::gates(b.data(), a.data(), T, d.nv, A_log.data(), dt_bias.data(), beta.data(), g.data());
    state = test::random_floats(size_t(d.state_size()), seed + 6, -0.5f, 0.5f);
  }
  // Inputs of tokens [t0, ...) on the host.
  gdn::DeltaInputs host(int64_t t0 = 0) const {
    const float* x = qkv.data() + t0 * d.channels();
    return {x,
            x + d.key_dim(),
            x + 2 * d.key_dim(),
            d.channels(),
            beta.data() + t0 * d.nv,
            g.data() + t0 * d.nv};
  }
};

// DeltaCase inputs on the device.
struct DeviceDelta {
  DeviceArray<float> qkv, beta, g;
  Dims d;
  explicit DeviceDelta(const DeltaCase& c) : qkv(c.qkv), beta(c.beta), g(c.g), d(c.d) {}
  gdn::DeltaInputs at(int64_t t0 = 0) const {
    const float* x = qkv.get() + t0 * d.channels();
    return {x,
            x + d.key_dim(),
            x + 2 * d.key_dim(),
            d.channels(),
            beta.get() + t0 * d.nv,
            g.get() + t0 * d.nv};
  }
};

// Runs tokens [t0, t0 + n) through the GPU form `mode` on device state S (the chunked form's state
// pass with `state_columns` per CTA, 0: its automatic choice); returns the outputs.
std::vector<float> gpu_delta(const DeviceDelta& in, int64_t t0, int64_t n, DeviceArray<float>& S,
                             DeltaMode mode, Arena& arena, int state_columns = 0) {
  DeviceArray<float> out(size_t(n * in.d.value_dim()));
  if (mode == DeltaMode::recurrent) {
    cuda::gdn::delta_recurrent(in.d, n, in.at(t0), S.get(), out.get());
  } else {
    cuda::gdn::delta_chunked(in.d, n, in.at(t0), S.get(), out.get(), arena, nullptr, state_columns);
  }
  std::vector<float> o = out.host();
  arena.reset();
  return o;
}

// ---- without a device
// ----------------------------------------------------------------------------

TEST(GdnCudaShapes, BadShapesThrowBeforeAnyLaunch) {
  Arena arena(Device::cuda);
  std::vector<float> host(64);
  const gdn::DeltaInputs in{host.data(), host.data(), host.data(), 64, host.data(), host.data()};
  float* p = host.data();
  uint16_t* u = reinterpret_cast<uint16_t*>(host.data());
  // nv not a multiple of nk.
  EXPECT_THROW(cuda::gdn::delta_chunked(Dims{2, 3, 16, 16}, 4, in, p, p, arena), Error);
  EXPECT_THROW(cuda::gdn::delta_recurrent(Dims{2, 3, 16, 16}, 4, in, p, p), Error);
  // Head dims beyond the chunked kernels' tiles.
  try {
    cuda::gdn::delta_chunked(Dims{1, 1, 256, 128}, 4, in, p, p, arena);
    ADD_FAILURE() << "dk 256 accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("dk, dv <= 128"), std::string::npos) << e.what();
  }
  EXPECT_THROW(cuda::gdn::mix(Dims{1, 1, 64, 256}, kK, 100, u, u, p, p, {}, kEps, p, p, nullptr,
                              arena, nullptr, DeltaMode::chunked),
               Error);
  // A row stride shorter than the heads, a negative length, an in-place conv.
  EXPECT_THROW(
      cuda::gdn::delta_chunked(Dims{1, 2, 16, 16}, 4,
                               {host.data(), host.data(), host.data(), 8, host.data(), host.data()},
                               p, p, arena),
      Error);
  EXPECT_THROW(cuda::gdn::delta_recurrent(Dims{1, 1, 16, 16}, -1, in, p, p), Error);
  EXPECT_THROW(cuda::gdn::conv_silu(p, 2, 16, kK, p, p, p), Error);
  EXPECT_THROW(cuda::gdn::conv_silu(p, 2, 16, 0, p, p, p + 32), Error);
  EXPECT_THROW(cuda::gdn::delta_chunked(Dims{1, 1, 16, 16}, 4, in, p, p, arena, nullptr, 8), Error);
  EXPECT_EQ(arena.high_water(), 0u);
}

// ---- element-wise kernels
// ------------------------------------------------------------------------

TEST(GdnCuda, ConvSiluMatchesCpuAndCarriesItsState) {
  SPF_REQUIRE_CUDA();
  const int64_t C = 96;
  // T = 1 and 2 are shorter than the conv history (K - 1 = 3): the state shifts.
  for (const int64_t T : {1, 2, 17, 300}) {
    const auto m = test::random_floats(size_t(T * C), uint32_t(T));
    const auto w = test::random_floats(size_t(C * kK), 7, -0.8f, 0.8f);
    std::vector<float> state = test::random_floats(size_t((kK - 1) * C), 8);
    DeviceArray<float> dm(m), dw(w), dstate(state), dout(size_t(T * C));
    cuda::gdn::conv_silu(dm.get(), T, C, kK, dw.get(), dstate.get(), dout.get());
    std::vector<float> want(size_t(T * C));
    gdn::conv_silu(m.data(), T, C, kK, w.data(), state.data(), want.data());
    const std::string name = "conv_T" + std::to_string(T);
    EXPECT_LE(max_err(name, dout.host(), want), kF32Tol) << name;
    EXPECT_LE(max_err(name + "_state", dstate.host(), state), 0.0) << name;
  }
}

TEST(GdnCuda, L2NormalizeGatesAndGatedNormMatchCpu) {
  SPF_REQUIRE_CUDA();
  const int64_t T = 33;
  const int heads = 3, dim = 40, nv = 6, dv = 24;
  const int64_t stride = heads * dim + 5;
  {
    std::vector<float> x = test::random_floats(size_t(T * stride), 1);
    DeviceArray<float> dx(x);
    cuda::gdn::l2_normalize(dx.get(), T, stride, heads, dim, 0.125f);
    gdn::l2_normalize(x.data(), T, stride, heads, dim, 0.125f);
    EXPECT_LE(max_err("l2_normalize", dx.host(), x), kF32Tol);
  }
  {
    const auto a = test::random_floats(size_t(T * nv), 2, -30.0f, 30.0f);  // both softplus branches
    const auto b = test::random_floats(size_t(T * nv), 3, -5.0f, 5.0f);
    const auto A_log = test::random_floats(size_t(nv), 4, -2.0f, 1.0f);
    const auto dt_bias = test::random_floats(size_t(nv), 5, -1.0f, 1.0f);
    std::vector<float> beta(size_t(T * nv)), g(size_t(T * nv));
    gdn::gates(b.data(), a.data(), T, nv, A_log.data(), dt_bias.data(), beta.data(), g.data());
    DeviceArray<float> da(a), db(b), dA(A_log), ddt(dt_bias), dbeta(beta.size()), dg(g.size());
    cuda::gdn::gates(db.get(), da.get(), T, nv, dA.get(), ddt.get(), dbeta.get(), dg.get());
    EXPECT_LE(max_err("gates_beta", dbeta.host(), beta), kF32Tol);
    EXPECT_LE(max_err("gates_g", dg.host(), g), kF32Tol);
  }
  {
    std::vector<float> o = test::random_floats(size_t(T * nv * dv), 6);
    const auto z = test::random_floats(o.size(), 7, -4.0f, 4.0f);
    const auto w = test::random_floats(size_t(dv), 8, 0.5f, 1.5f);
    DeviceArray<float> dO(o), dz(z), dw(w);
    cuda::gdn::gated_rms_norm(dO.get(), dz.get(), T, nv, dv, dw.get(), kEps);
    gdn::gated_rms_norm(o.data(), z.data(), T, nv, dv, w.data(), kEps);
    EXPECT_LE(max_err("gated_rms_norm", dO.host(), o), kF32Tol);
  }
}

// ---- the delta rule
// ------------------------------------------------------------------------------

// The chunked kernels' ldmatrix fragment loaders return what the plain loads they replace do (a
// failure here explains any failure of the chunked cases below).
TEST(GdnCuda, FragmentLoadersMatchPlainLoads) {
  SPF_REQUIRE_CUDA();
  EXPECT_EQ(cuda::gdn::fragment_loader_mismatches(), 0);
}

struct DeltaShape {
  Dims d;
  int64_t T;
};

// The lengths of the brief (1, 17, 64, 1000, 4097) over group sizes 1 and 2, dk = dv = 128 and
// small dims (32; the tiny test model's 16 / 24, which are not multiples of 16 for dv); chunk
// counts around the state pass's pipeline depth.
std::vector<DeltaShape> delta_shapes() {
  std::vector<DeltaShape> s;
  for (const int64_t T : {1, 17, 64, 1000, 4097}) {
    s.push_back({Dims{1, 1, 128, 128}, T});
    s.push_back({Dims{1, 2, 128, 128}, T});
    s.push_back({Dims{2, 2, 32, 32}, T});
    s.push_back({Dims{2, 4, 32, 32}, T});
  }
  s.push_back({Dims{2, 4, 16, 24}, 200});
  s.push_back({Dims{1, 2, 64, 128}, 300});
  s.push_back({Dims{1, 1, 128, 48}, 130});
  // The state pass keeps 3 chunks in flight in a ring of 4 stages: 3 chunks (no wrap), 4 (every
  // stage once), 4 and a token, and 9 (the ring wraps twice) with a partial last chunk.
  for (const int64_t T : {192, 256, 257, 560}) {
    s.push_back({Dims{1, 2, 128, 128}, T});
    s.push_back({Dims{2, 2, 64, 40}, T});
  }
  return s;
}

TEST(GdnCuda, RecurrentMatchesCpu) {
  SPF_REQUIRE_CUDA();
  Arena arena(Device::cuda);
  for (const DeltaShape& sh : delta_shapes()) {
    const DeltaCase c(sh.d, sh.T, uint32_t(sh.T + sh.d.nv + sh.d.dk));
    const DeviceDelta in(c);
    DeviceArray<float> S(c.state);
    const std::vector<float> got = gpu_delta(in, 0, c.T, S, DeltaMode::recurrent, arena);
    std::vector<float> state = c.state, want(size_t(c.T * c.d.value_dim()));
    gdn::delta_recurrent(c.d, c.T, c.host(), state.data(), want.data());
    const std::string name = "recurrent_" + dims_name(c.d, c.T);
    EXPECT_LE(max_err(name, got, want), kRecurrentTol) << name;
    EXPECT_LE(max_err(name + "_state", S.host(), state), kRecurrentTol) << name;
  }
}

// Both widths of the state pass's column slices (16 and 32).
TEST(GdnCuda, ChunkedMatchesCpuAndGpuRecurrent) {
  SPF_REQUIRE_CUDA();
  Arena arena(Device::cuda);
  for (const DeltaShape& sh : delta_shapes()) {
    const DeltaCase c(sh.d, sh.T, uint32_t(sh.T + sh.d.nv + sh.d.dk));
    const DeviceDelta in(c);
    std::vector<float> state = c.state, want(size_t(c.T * c.d.value_dim()));
    gdn::delta_chunked(c.d, c.T, c.host(), state.data(), want.data());
    DeviceArray<float> S_rec(c.state);
    const std::vector<float> rec = gpu_delta(in, 0, c.T, S_rec, DeltaMode::recurrent, arena);
    for (const int columns : {16, 32}) {
      DeviceArray<float> S(c.state);
      const std::vector<float> got = gpu_delta(in, 0, c.T, S, DeltaMode::chunked, arena, columns);
      const std::string name =
          "chunked_" + dims_name(c.d, c.T) + "_slice" + std::to_string(columns);
      EXPECT_LE(max_err(name, got, want), kChunkedTol) << name;
      EXPECT_LE(max_err(name + "_state", S.host(), state), kChunkedTol) << name;
      EXPECT_LE(max_err(name + "_vs_gpu_recurrent", got, rec), kChunkedTol) << name;
    }
  }
}

// Prefill in two chunked calls (split inside a chunk and at a chunk boundary), then recurrent
// decode steps, equals one CPU call over all tokens.
TEST(GdnCuda, StateCarriedAcrossCallsEqualsOneCall) {
  SPF_REQUIRE_CUDA();
  Arena arena(Device::cuda);
  constexpr int64_t kDecode = 4;
  for (const Dims& d : {Dims{1, 2, 128, 128}, Dims{2, 4, 16, 24}}) {
    for (const int64_t first : {int64_t(100), int64_t(128)}) {
      const int64_t second = 333, T = first + second + kDecode;
      const DeltaCase c(d, T, uint32_t(first + d.dk));
      const DeviceDelta in(c);
      DeviceArray<float> S(c.state);
      std::vector<float> got = gpu_delta(in, 0, first, S, DeltaMode::chunked, arena);
      const auto more = gpu_delta(in, first, second, S, DeltaMode::chunked, arena);
      got.insert(got.end(), more.begin(), more.end());
      for (int64_t t = first + second; t < T; ++t) {
        const auto step = gpu_delta(in, t, 1, S, DeltaMode::recurrent, arena);
        got.insert(got.end(), step.begin(), step.end());
      }
      std::vector<float> state = c.state, want(size_t(T * d.value_dim()));
      gdn::delta_recurrent(d, T, c.host(), state.data(), want.data());
      const std::string name = "carried_first" + std::to_string(first) + "_" + dims_name(d, T);
      EXPECT_LE(max_err(name, got, want), kChunkedTol) << name;
      EXPECT_LE(max_err(name + "_state", S.host(), state), kChunkedTol) << name;
    }
  }
}

// ---- the whole mixer
// -----------------------------------------------------------------------------

// m and z are bf16 values (the GEMMs' output type), a and b f32. The states start at zero, or
// (random_states) at random values, so that the conv reads its history from conv_state.
struct MixCase {
  Dims d;
  int64_t T;
  int K;
  std::vector<float> m, z, a, b, conv_w, A_log, dt_bias, norm_w, conv_state, state;
  MixCase(Dims dims, int64_t t, uint32_t seed, int conv_width = kK, bool random_states = false)
      : d(dims), T(t), K(conv_width) {
    m = bf16_to_floats(floats_to_bf16(test::random_floats(size_t(T * d.channels()), seed + 1)));
    z = bf16_to_floats(
        floats_to_bf16(test::random_floats(size_t(T * d.value_dim()), seed + 2, -2.0f, 2.0f)));
    a = test::random_floats(size_t(T * d.nv), seed + 3, -3.0f, 3.0f);
    b = test::random_floats(size_t(T * d.nv), seed + 4, -3.0f, 3.0f);
    conv_w = test::random_floats(size_t(d.channels() * K), seed + 5, -0.8f, 0.8f);
    A_log = test::random_floats(size_t(d.nv), seed + 6, -2.0f, 1.0f);
    dt_bias = test::random_floats(size_t(d.nv), seed + 7, -1.0f, 1.0f);
    norm_w = test::random_floats(size_t(d.dv), seed + 8, 0.5f, 1.5f);
    if (random_states) {
      // Not bf16 values: the conv state is f32 whatever m's type.
      conv_state = test::random_floats(size_t((K - 1) * d.channels()), seed + 9);
      state = test::random_floats(size_t(d.state_size()), seed + 10, -0.5f, 0.5f);
    } else {
      conv_state.assign(size_t((K - 1) * d.channels()), 0.0f);
      state.assign(size_t(d.state_size()), 0.0f);
    }
  }
};

// The mixer's inputs, weights and states on the device.
struct DeviceMix {
  const MixCase& c;
  DeviceArray<uint16_t> m, z;
  DeviceArray<float> m32, a, b, conv_w, A_log, dt_bias, norm_w, conv_state, state;
  explicit DeviceMix(const MixCase& mc)
      : c(mc),
        m(floats_to_bf16(mc.m)),
        z(floats_to_bf16(mc.z)),
        m32(mc.m),
        a(mc.a),
        b(mc.b),
        conv_w(mc.conv_w),
        A_log(mc.A_log),
        dt_bias(mc.dt_bias),
        norm_w(mc.norm_w),
        conv_state(mc.conv_state),
        state(mc.state) {}
  // Tokens [t0, t0 + n) through cuda::gdn::mix (m as bf16 bits, or as f32 with f32_m); the bf16
  // outputs as floats. With misalign, m is first copied one element past a 16-byte boundary (the
  // prologue's fallback for arrays it cannot read in 16-byte pieces).
  std::vector<float> run(int64_t t0, int64_t n, DeltaMode mode, Arena& arena, bool f32_m = false,
                         bool misalign = false,
                         cuda::gdn::NormPlacement norm = cuda::gdn::NormPlacement::separate) {
    const Dims& d = c.d;
    DeviceArray<uint16_t> out(size_t(n * d.value_dim()));
    const cuda::gdn::MixerWeights w{conv_w.get(), A_log.get(), dt_bias.get(), norm_w.get()};
    const size_t C = size_t(d.channels()), at = size_t(t0) * C, len = size_t(n) * C;
    if (f32_m) {
      const float* src = m32.get() + at;
      std::vector<float> shifted;
      if (misalign) {
        shifted.assign(c.m.begin() + int64_t(at), c.m.begin() + int64_t(at + len));
        shifted.insert(shifted.begin(), 0.0f);
      }
      const DeviceArray<float> copy(shifted);
      if (misalign) src = copy.get() + 1;
      cuda::gdn::mix(d, c.K, n, src, z.get() + t0 * d.value_dim(), a.get() + t0 * d.nv,
                     b.get() + t0 * d.nv, w, kEps, conv_state.get(), state.get(), out.get(), arena,
                     nullptr, mode, norm);
    } else {
      const uint16_t* src = m.get() + at;
      std::vector<uint16_t> shifted;
      if (misalign) {
        shifted = floats_to_bf16(
            std::vector<float>(c.m.begin() + int64_t(at), c.m.begin() + int64_t(at + len)));
        shifted.insert(shifted.begin(), uint16_t(0));
      }
      const DeviceArray<uint16_t> copy(shifted);
      if (misalign) src = copy.get() + 1;
      cuda::gdn::mix(d, c.K, n, src, z.get() + t0 * d.value_dim(), a.get() + t0 * d.nv,
                     b.get() + t0 * d.nv, w, kEps, conv_state.get(), state.get(), out.get(), arena,
                     nullptr, mode, norm);
    }
    std::vector<float> o = bf16_to_floats(out.host());
    arena.reset();
    return o;
  }
};

// gdn::mix over tokens [t0, t0 + n) of c on host states.
std::vector<float> cpu_mix(const MixCase& c, int64_t t0, int64_t n, std::vector<float>& conv_state,
                           std::vector<float>& state) {
  const Dims& d = c.d;
  std::vector<float> m(c.m.begin() + t0 * d.channels(), c.m.begin() + (t0 + n) * d.channels());
  std::vector<float> out(size_t(n * d.value_dim()));
  gdn::mix(d, c.K, n, m.data(), c.z.data() + t0 * d.value_dim(), c.a.data() + t0 * d.nv,
           c.b.data() + t0 * d.nv,
           {c.conv_w.data(), c.A_log.data(), c.dt_bias.data(), c.norm_w.data()}, kEps,
           conv_state.data(), state.data(), out.data(), DeltaMode::recurrent);
  return out;
}

TEST(GdnCuda, MixMatchesCpu) {
  SPF_REQUIRE_CUDA();
  Arena arena(Device::cuda);
  for (const Dims& d : {Dims{1, 2, 128, 128}, Dims{2, 4, 16, 24}}) {
    for (const int64_t T : {1, 17, 1000}) {
      for (const DeltaMode mode :
           {DeltaMode::automatic, DeltaMode::recurrent, DeltaMode::chunked}) {
        const MixCase c(d, T, uint32_t(T + d.dk));
        DeviceMix dev(c);
        const std::vector<float> got = dev.run(0, T, mode, arena);
        std::vector<float> conv_state = c.conv_state, state = c.state;
        const std::vector<float> want = cpu_mix(c, 0, T, conv_state, state);
        const bool chunked = mode == DeltaMode::chunked ||
                             (mode == DeltaMode::automatic && T > cuda::gdn::kRecurrentMaxTokens);
        const double tol = chunked ? kMixChunkedTol : kMixF32Tol;
        const std::string name = std::string("mix_") + (chunked ? "chunked_" : "recurrent_") +
                                 (mode == DeltaMode::automatic ? "auto_" : "") + dims_name(d, T);
        EXPECT_LE(max_err(name, got, want), tol) << name;
        EXPECT_LE(max_err(name + "_state", dev.state.host(), state),
                  chunked ? kChunkedTol : kRecurrentTol)
            << name;
        EXPECT_LE(max_err(name + "_conv_state", dev.conv_state.host(), conv_state), 0.0) << name;
        if (chunked) {  // the gated norm fused into the output kernel: the same mixer
          DeviceMix fused(c);
          const std::vector<float> f =
              fused.run(0, T, mode, arena, false, false, cuda::gdn::NormPlacement::fused);
          EXPECT_LE(max_err(name + "_fused_norm", f, want), tol) << name;
          EXPECT_LE(max_err(name + "_fused_vs_separate", f, got), kMixFusedVsSeparateTol) << name;
        }
        // m as f32 (its values are bf16 here): the same arithmetic, so the same bits.
        DeviceMix dev32(c);
        EXPECT_LE(max_err(name + "_f32_m", dev32.run(0, T, mode, arena, true), got), 0.0) << name;
        EXPECT_LE(
            max_err(name + "_f32_m_conv_state", dev32.conv_state.host(), dev.conv_state.host()),
            0.0)
            << name;
      }
    }
  }
}

// The prologue (conv + SiLU + L2 norm, one kernel) over its paths, against the CPU mixer from
// random conv and recurrent states:
//  - the vector kernel (head dims multiples of 8, 16-byte aligned arrays, K <= 4): head rows of
//    2, 3 (of 4 lanes: idle lanes in a row), 16 and 32 lanes; K = 1, 2, 3, 4; lengths around its
//    32-token walks (1, 17, 31, 32, 33, 65, 100: a walk starting inside the conv history, full and
//    partial walks);
//  - the per-row kernel: head dims that are not multiples of 8, K = 5, and m one element off a
//    16-byte boundary (the same values, so the same result up to the norm's summation order);
// each in both delta forms (the chunked form's packed fp16 heads, the recurrent form's f32 rows)
// and with m in bf16 and f32 (which must agree bit for bit: the same values, the same arithmetic).
TEST(GdnCuda, MixProloguePathsMatchCpu) {
  SPF_REQUIRE_CUDA();
  Arena arena(Device::cuda);
  struct PrologueCase {
    Dims d;
    int K;
    std::vector<int64_t> lengths;
    bool misalign;
  };
  const std::vector<int64_t> walks{1, 17, 31, 32, 33, 65, 100};
  const std::vector<PrologueCase> cases{
      {Dims{2, 4, 16, 24}, 4, walks, false},    // 2 and 3 of 4 lanes per row
      {Dims{1, 2, 128, 128}, 4, walks, false},  // the model's rows: 16 lanes
      {Dims{2, 2, 32, 64}, 3, {33, 100}, false},   {Dims{1, 2, 64, 64}, 2, {1, 65}, false},
      {Dims{1, 1, 32, 32}, 1, {17, 40}, false},     // no conv history at all
      {Dims{1, 1, 256, 64}, 4, {5, 33}, false},     // 32 lanes (recurrent form only)
      {Dims{1, 2, 20, 36}, 4, {1, 33, 70}, false},  // not multiples of 8: per-row kernel
      {Dims{2, 2, 16, 12}, 4, {40}, false},         // dv alone not a multiple of 8
      {Dims{1, 2, 64, 64}, 5, {3, 66}, false},      // K past the vector kernel's 4
      {Dims{1, 2, 128, 128}, 4, {1, 65}, true},     // unaligned m: per-row kernel
  };
  for (const PrologueCase& pc : cases) {
    for (const int64_t T : pc.lengths) {
      for (const DeltaMode mode : {DeltaMode::recurrent, DeltaMode::chunked}) {
        if (mode == DeltaMode::chunked &&
            (pc.d.dk > cuda::gdn::kChunkedMaxDim || pc.d.dv > cuda::gdn::kChunkedMaxDim))
          continue;
        const bool chunked = mode == DeltaMode::chunked;
        const MixCase c(pc.d, T, uint32_t(7 * T + pc.d.dk + pc.K), pc.K, true);
        std::vector<float> conv_state = c.conv_state, state = c.state;
        const std::vector<float> want = cpu_mix(c, 0, T, conv_state, state);
        const std::string name = std::string("mix_prologue_") +
                                 (chunked ? "chunked_" : "recurrent_") + dims_name(c.d, T) + "_K" +
                                 std::to_string(pc.K) + (pc.misalign ? "_misaligned" : "");
        DeviceMix dev(c);
        const std::vector<float> got = dev.run(0, T, mode, arena, false, pc.misalign);
        EXPECT_LE(max_err(name, got, want), chunked ? kMixChunkedTol : kMixF32Tol) << name;
        EXPECT_LE(max_err(name + "_state", dev.state.host(), state),
                  chunked ? kChunkedTol : kRecurrentTol)
            << name;
        EXPECT_LE(max_err(name + "_conv_state", dev.conv_state.host(), conv_state), 0.0) << name;
        DeviceMix dev32(c);
        const std::vector<float> got32 = dev32.run(0, T, mode, arena, true, pc.misalign);
        EXPECT_LE(max_err(name + "_f32_m", got32, got), 0.0) << name;
        EXPECT_LE(max_err(name + "_f32_m_state", dev32.state.host(), dev.state.host()), 0.0)
            << name;
        if (pc.misalign) {  // against the vector kernel on the aligned copy
          DeviceMix aligned(c);
          EXPECT_LE(max_err(name + "_vs_aligned", got, aligned.run(0, T, mode, arena)),
                    chunked ? kMixChunkedTol : kMixF32Tol)
              << name;
        }
      }
    }
  }
}

// A prefill in two mix() calls then decode steps, on one pair of device states, equals one CPU
// mix over all tokens (the conv state carries the last rows across every call).
TEST(GdnCuda, MixPrefillThenDecodeEqualsOneCall) {
  SPF_REQUIRE_CUDA();
  Arena arena(Device::cuda);
  const Dims d{1, 2, 128, 128};
  const int64_t first = 700, second = 90, decode = 3, T = first + second + decode;
  const MixCase c(d, T, 3);
  DeviceMix dev(c);
  std::vector<float> got = dev.run(0, first, DeltaMode::automatic, arena);
  const auto more = dev.run(first, second, DeltaMode::automatic, arena);
  got.insert(got.end(), more.begin(), more.end());
  for (int64_t t = first + second; t < T; ++t) {
    const auto step = dev.run(t, 1, DeltaMode::automatic, arena);
    got.insert(got.end(), step.begin(), step.end());
  }
  std::vector<float> conv_state = c.conv_state, state = c.state;
  const std::vector<float> want = cpu_mix(c, 0, T, conv_state, state);
  EXPECT_LE(max_err("mix_prefill_decode", got, want), kMixChunkedTol);
  EXPECT_LE(max_err("mix_prefill_decode_state", dev.state.host(), state), kChunkedTol);
  EXPECT_LE(max_err("mix_prefill_decode_conv_state", dev.conv_state.host(), conv_state), 0.0);
}

}  // namespace
}  // namespace spf
