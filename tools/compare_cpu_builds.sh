#!/usr/bin/env bash
# Compares the CPU speed of two spf binaries on the default model, interleaved (A B A B ...) so that
# a busy or drifting machine hurts both alike: prefill at 512 and 2048 tokens for ROUNDS rounds,
# greedy decode of 64 tokens each round, then prefill at 8192 once. One thread, passive OpenMP
# waits. Reports wall time (what `spf bench prefill` and `spf generate` print) and the process's
# CPU time (user + sys, from /usr/bin/time), which a shared machine disturbs less.
#
#   tools/compare_cpu_builds.sh BEFORE_SPF AFTER_SPF [ROUNDS] > compare.log
#
# AFTER_SPF is also run with --weights f32 (prefill only) when it knows that flag.
set -euo pipefail
before="${1:?usage: compare_cpu_builds.sh BEFORE_SPF AFTER_SPF [ROUNDS]}"
after="${2:?usage: compare_cpu_builds.sh BEFORE_SPF AFTER_SPF [ROUNDS]}"
rounds="${3:-3}"
root="$(cd "$(dirname "$0")/.." && pwd)"
model="${SPF_MODEL:-$root/models/SmolLM2-135M-Instruct.Q4_1.gguf}"
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive

cpu_of() { awk '/^cpu / {print $2 + $3}' "$1"; }

prefill() {  # label lengths binary [flags]
  local label=$1 lens=$2 bin=$3 t
  shift 3
  t=$(mktemp)
  /usr/bin/time -f "cpu %U %S" -o "$t" "$bin" bench prefill --model "$model" --lengths "$lens" \
    --repeats 1 "$@" | awk -v l="$label" '$1 ~ /^[0-9]+$/ {print "prefill", l, $1, $2}'
  echo "cpu prefill $label $lens $(cpu_of "$t")"
  rm -f "$t"
}

decode() {  # label binary
  local t
  t=$(mktemp)
  /usr/bin/time -f "cpu %U %S" -o "$t" "$2" generate --model "$model" --raw \
    -p "Once upon a time" -n 64 2>&1 >/dev/null |
    grep -oE "decode [0-9]+ tokens, [0-9.]+ s" | awk -v l="$1" '{print "decode", l, $4}'
  echo "cpu decode $1 64 $(cpu_of "$t")"
  rm -f "$t"
}

f32=()
"$after" bench prefill --help | grep -q -- --weights && f32=(--weights f32)
for r in $(seq 1 "$rounds"); do
  echo "# round $r"
  prefill before 512,2048 "$before"
  prefill after 512,2048 "$after"
  [ ${#f32[@]} -gt 0 ] && prefill after-f32 512,2048 "$after" "${f32[@]}"
  decode before "$before"
  decode after "$after"
done
echo "# 8192"
prefill before 8192 "$before"
prefill after 8192 "$after"
[ ${#f32[@]} -gt 0 ] && prefill after-f32 8192 "$after" "${f32[@]}"
