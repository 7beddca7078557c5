#!/usr/bin/env bash
# Builds and runs the CUDA executor's tests and benchmarks on a GPU machine (16 cores, no network):
#
#   bash tools/gpu_test.sh OUT [stages...]     stages: build test sanitize profile bench peers
#                                                     model ttft (default: all but ttft)
#
# build     configures build-gpu/ for this GPU's architecture only and builds the CUDA targets (the
#           tokenizer's PCRE2 headers come from a carried libpcre2-dev .deb under .deb/, unpacked
#           into the tree, never into /)
# test      spf_test_cuda (every kernel against the CPU executor / reference) -> OUT/test.log
# sanitize  compute-sanitizer memcheck on small cases, once -> OUT/sanitize.log
# profile   Nsight Compute on one dense launch per head_dim and kernel (32K) -> OUT/ncu.log
# model     spf_test_model_cuda (the GPU forward, its kernels, Gated DeltaNet and the GPU indexer
#           against the CPU; SmolLM2 when $SPF_MODEL names it) -> OUT/model.log
# bench     bench/cuda_attention_bench, default and mma.sync kernels (BENCH_ARGS override its
#           flags) -> OUT/bench.{log,json}
# ttft      spf bench ttft on the Qwen3.5-9B and -0.8B shapes (TTFT_ARGS add flags) and
#           tools/bench_ttft_peers.py (torch GEMMs, SDPA flash / cuDNN, fla) in the same session,
#           then tools/ttft_report.py -> OUT/ttft-*.{log,json}, OUT/report/
# peers     tools/bench_attention_peers.py: torch SDPA (flash, cuDNN) and FlexAttention on the same
#           shapes and block masks, in the same run -> OUT/peers.{log,json}
# Prints a short summary last.
set -uo pipefail
out="${1:?out dir}"
shift
stages=("$@")
[ ${#stages[@]} -eq 0 ] && stages=(build test model sanitize profile bench peers)
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
mkdir -p "$out"
build=build-gpu
has() { local s; for s in "${stages[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }
summary=()

if has build; then
  start=$(date +%s)
  mkdir -p .pcre2
  for f in .deb/libpcre2-dev_*.deb; do dpkg -x "$f" .pcre2; done
  arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d .)
  cmake -S . -B $build -G Ninja -DCMAKE_BUILD_TYPE=Release -DSPF_WERROR=ON -DSPF_CUDA=ON \
    -DSPF_CUDA_ARCHS="${arch:-90}" -DSPF_PCRE2_ROOT="$root/.pcre2" >"$out/build.log" 2>&1 &&
    cmake --build $build -j "$(nproc)" --target spf_test_cuda cuda_attention_bench \
      spf_test_model_cuda spf cuda_gdn_bench >>"$out/build.log" 2>&1
  rc=$?
  summary+=("build: rc $rc in $(( $(date +%s) - start )) s (sm_${arch})")
  if [ $rc -ne 0 ]; then tail -30 "$out/build.log"; printf '%s\n' "${summary[@]}"; exit 1; fi
fi

# The CPU executor is the tests' reference: OpenMP over tiles, single-threaded BLAS inside (that
# image's OpenBLAS is the pthreads build; nested pools crashed a case there).
export OPENBLAS_NUM_THREADS=1 OMP_WAIT_POLICY=passive
if has test; then
  start=$(date +%s)
  # Three processes, so that a crash in one family does not hide the others' results.
  rc=0
  : >"$out/test.log"
  for f in 'Shapes/CudaDense.*:CudaDense.*' 'Supports/CudaSparse.*' 'Shapes/CudaIndexerTopK.*' '-Shapes/*:Supports/*:CudaDense.*'; do
    r=0
    $build/tests/spf_test_cuda --gtest_filter="$f" >>"$out/test.log" 2>&1 || r=$?
    [ $r -ne 0 ] && rc=$r
    if [ $r -ge 128 ]; then
      # A crash: the case that was running, its backtrace (cuda-gdb debugs host code there too).
      last=$(grep '^\[ RUN' "$out/test.log" | tail -1 | awk '{print $NF}')
      echo "crashed in $last; backtrace:" >>"$out/test.log"
      timeout 120 cuda-gdb -batch -ex run -ex bt --args $build/tests/spf_test_cuda \
        --gtest_filter="$last" 2>&1 | grep -E '^#|signal|SIG' | head -30 >>"$out/test.log"
    fi
  done
  summary+=("test: rc $rc in $(( $(date +%s) - start )) s; $(grep -E '^\[  (PASSED|FAILED)' "$out/test.log" | tr '\n' ' ')")
  grep -E '^\[  FAILED|Failure|Expected|Which is' "$out/test.log" | head -40
  summary+=("  worst dense out err: $(grep '^dense' "$out/test.log" | awk '{print $(NF-3)}' | sort -g | tail -1), lse err: $(grep '^dense' "$out/test.log" | awk '{print $NF}' | sort -g | tail -1)")
  summary+=("  worst sparse out err: $(grep '^sparse' "$out/test.log" | awk '{print $(NF-3)}' | sort -g | tail -1), lse err: $(grep '^sparse' "$out/test.log" | awk '{print $NF}' | sort -g | tail -1)")
fi

if has model; then
  start=$(date +%s)
  rc=0
  $build/tests/spf_test_model_cuda >"$out/model.log" 2>&1 || rc=$?
  summary+=("model: rc $rc in $(( $(date +%s) - start )) s; $(grep -E '^\[  (PASSED|FAILED)' "$out/model.log" | tr '\n' ' ')")
  grep -E '^\[  FAILED|Failure|Expected|Which is' "$out/model.log" | head -40
fi

if has sanitize; then
  start=$(date +%s)
  compute-sanitizer --tool memcheck --error-exitcode 3 $build/tests/spf_test_cuda \
    --gtest_filter='CudaBadInput.*:Shapes/CudaDense.MatchesCpuExecutor/1:Shapes/CudaDense.MatchesCpuExecutor/7:Supports/CudaSparse.MatchesCpuExecutor/0:Supports/CudaSparse.MatchesCpuExecutor/2:Supports/CudaSparse.MatchesCpuExecutor/3:Shapes/CudaIndexerTopK.*/1:Shapes/CudaIndexerTopK.*/8:CudaIndexerTopK.DeviceSupportFeedsGatheredAttention' \
    >"$out/sanitize.log" 2>&1
  rc=$?
  summary+=("sanitize: rc $rc in $(( $(date +%s) - start )) s; $(grep -E 'ERROR SUMMARY' "$out/sanitize.log" | tail -1)")
fi

if has profile; then
  start=$(date +%s)
  : >"$out/ncu.log"
  for shape in 32/8/128 16/4/256 9/3/64; do
    echo "==== $shape, N = 32768, dense" >>"$out/ncu.log"
    timeout 120 ncu --clock-control none --kernel-name regex:"flash_forward|flash_wgmma" --launch-count 2 \
      --section SpeedOfLight --section Occupancy --section ComputeWorkloadAnalysis \
      --section MemoryWorkloadAnalysis --section LaunchStats \
      $build/bench/cuda_attention_bench --shapes $shape --lengths 32768 --densities "" --topk 0 \
      --kernels auto,mma --repeats 1 >>"$out/ncu.log" 2>&1
  done
  summary+=("profile: in $(( $(date +%s) - start )) s")
fi

if has bench; then
  start=$(date +%s)
  mkdir -p "$out/masks"
  # shellcheck disable=SC2086
  $build/bench/cuda_attention_bench ${BENCH_ARGS:---kernels auto,mma} --mask-dir "$out/masks" --json "$out/bench.json" \
    2>&1 | tee "$out/bench.log"
  summary+=("bench: rc ${PIPESTATUS[0]} in $(( $(date +%s) - start )) s")
fi

if has peers; then
  start=$(date +%s)
  # shellcheck disable=SC2086
  PYTHONUNBUFFERED=1 timeout "${PEER_TIMEOUT:-330}" python3 tools/bench_attention_peers.py --mask-dir "$out/masks" \
    --json "$out/peers.json" ${PEER_ARGS:-} 2>&1 | tee "$out/peers.log"
  summary+=("peers: rc ${PIPESTATUS[0]} in $(( $(date +%s) - start )) s")
fi
if has ttft; then
  start=$(date +%s)
  for shape in qwen3.5-9b qwen3.5-0.8b; do
    # shellcheck disable=SC2086
    $build/spf bench ttft --shape $shape --json "$out/ttft-$shape.json" ${TTFT_ARGS:-} \
      2>&1 | tee "$out/ttft-$shape.log"
    PYTHONUNBUFFERED=1 timeout 300 python3 tools/bench_ttft_peers.py --shape $shape \
      --json "$out/peers-$shape.json" ${TTFT_PEER_ARGS:-} 2>&1 | tee "$out/peers-$shape.log"
  done
  python3 tools/ttft_report.py --ttft "$out"/ttft-qwen3.5-*.json --peers "$out"/peers-qwen3.5-*.json \
    --out "$out/report" 2>&1 | tail -3
  summary+=("ttft: in $(( $(date +%s) - start )) s")
fi
rm -rf "$out/masks"
echo "==== summary"
printf '%s\n' "${summary[@]}"
