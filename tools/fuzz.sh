#!/usr/bin/env bash
# Runs one libFuzzer target for SECONDS: tools/fuzz.sh TARGET SECONDS [extra libFuzzer flags]
# TARGET: gguf safetensors safetensors_index config_json tokenizer_json tasks_jsonl sweep_config
# indexer_checkpoint.
# Builds build-fuzz/ with clang (ASan + UBSan + fuzzer coverage) on first use. The committed seeds
# in fuzz/corpus/TARGET are copied into build-fuzz/corpus/TARGET, which keeps what the run finds;
# crashes land in build-fuzz/crashes/TARGET. Exit status: libFuzzer's (0 = nothing found).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
target="${1:?usage: tools/fuzz.sh TARGET SECONDS}"
seconds="${2:?usage: tools/fuzz.sh TARGET SECONDS}"
shift 2
[ -d "$root/fuzz/corpus/$target" ] || { echo "fuzz.sh: unknown target '$target' (see fuzz/corpus/)" >&2; exit 2; }
build="${SPF_FUZZ_BUILD_DIR:-$root/build-fuzz}"
if [ ! -f "$build/build.ninja" ]; then
  CC=clang CXX=clang++ cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DSPF_FUZZ=ON -DSPF_BUILD_TESTS=OFF -DSPF_BUILD_BENCH=OFF >/dev/null
fi
if ! cmake --build "$build" --target "fuzz_$target" -j "$(nproc)" >"$build/build.log" 2>&1; then
  grep -E "error" "$build/build.log" | head -5 >&2
  echo "fuzz.sh: building fuzz_$target failed (log: $build/build.log)" >&2
  exit 1
fi
corpus="$build/corpus/$target"
crashes="$build/crashes/$target"
mkdir -p "$corpus" "$crashes"
cp -n "$root/fuzz/corpus/$target"/* "$corpus"/ 2>/dev/null || true
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
exec "$build/fuzz/fuzz_$target" "$corpus" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 \
  -max_len=1048576 -print_final_stats=1 -artifact_prefix="$crashes/" "$@"
