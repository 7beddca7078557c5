#!/usr/bin/env bash
# CPU experiments on a many-core machine without network access (the GPU machine's 16 cores), in
# stages that each fit one 10-minute command. The default model is too large to carry in one piece, so
# it travels in two halves (split -n 2 -d MODEL into .carry/a/part00 and .carry/b/part01):
#
#   bash tools/device_experiments.sh build   OUT   # carries .carry/a, .deb (libpcre2-dev): builds build-dev/
#   bash tools/device_experiments.sh model   OUT   # carries .carry/b: reassembles models/, checks sha256
#   bash tools/device_experiments.sh STAGE   OUT   # then any of: fixtures bench oracle rss sweep
#
# Every stage writes its results under OUT (tar files of at most a few MB) and prints a summary.
set -euo pipefail
stage="${1:?stage}"
out="${2:?out dir}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
mkdir -p "$out"
spf="$root/build-dev/spf"
model="$root/models/SmolLM2-135M-Instruct.Q4_1.gguf"
sha=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
prose=/usr/share/common-licenses/GPL-3
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-$(nproc)}"
# That image has the pthreads OpenBLAS: keep OpenMP workers from spinning against its pool.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
# Seen on the GPU machine's host: OpenBLAS misdetects the (AVX-512) CPU and sgemm drops ~10x.
if grep -q avx512f /proc/cpuinfo && [ -z "${OPENBLAS_CORETYPE:-}" ]; then export OPENBLAS_CORETYPE=SkylakeX; fi

case "$stage" in
  build)
    mkdir -p /tmp/keep /tmp/pcre2
    if [ -f .carry/a/part00 ]; then cp .carry/a/part00 /tmp/keep/; fi
    dpkg -x .deb/libpcre2-dev_*.deb /tmp/pcre2
    # The task generators read Debian's word list; that image lacks it.
    if [ ! -f /usr/share/dict/words ]; then
      dpkg -x .deb/wamerican_*.deb /tmp/wamerican && mkdir -p /usr/share/dict &&
        cp /tmp/wamerican/usr/share/dict/american-english /usr/share/dict/words
    fi
    cmake -S . -B build-dev -G Ninja -DCMAKE_BUILD_TYPE=Release -DSPF_PCRE2_ROOT=/tmp/pcre2 -DSPF_NATIVE=ON \
      -DSPF_BUILD_TESTS=OFF >/dev/null
    cmake --build build-dev -j "$(nproc)" 2>&1 | tail -3
    "$spf" --help | head -3
    ;;
  model)
    mkdir -p models
    cat /tmp/keep/part00 .carry/b/part01 >"$model.part"
    echo "$sha  $model.part" | sha256sum -c - && mv "$model.part" "$model"
    ;;
  fixtures)
    bash tools/device_fixtures.sh "$out/fx" "$model" --only smollm2
    cp "$out/fx/hf_smollm2.tar" "$out/" && rm -rf "$out/fx"
    ;;
  bench)
    { uname -a; nproc; lscpu | grep -E 'Model name|Thread|Core|Socket' || true; } >"$out/machine.txt"
    "$spf" bench prefill --model "$model" --lengths 512,2048,8192 --repeats 2 --json "$out/bench_smollm2.json" |
      tee "$out/bench_smollm2.txt"
    for n in 2048 8192; do build-dev/bench/qwen35_bench --tokens $n 2>&1 | tee -a "$out/bench_qwen35.txt"; done
    ;;
  oracle)
    if [ -f .carry/o/oracle.json ]; then cp .carry/o/oracle.json "$out/oracle.json"; fi
    common=(--model "$model" --prompt-file "$prose" --max-tokens 4096 --budget 1%,2%,5%,10%,20%)
    "$spf" oracle "${common[@]}" \
      --method oracle,oracle:block64,streaming,streaming:block64,vertical_slash,vertical_slash:block64,random,random:block64 \
      --json "$out/oracle.json" --markdown "$out/oracle.md" | tail -3
    # Antidiagonal scoring works on blocks only (the block must be a multiple of its stride; block64
    # is its default).
    "$spf" oracle "${common[@]}" --method antidiagonal \
      --json "$out/oracle.json" --markdown "$out/oracle.md" | tail -3
    "$spf" oracle "${common[@]}" \
      --method oracle:groups=head,oracle:groups=kv,oracle:block64:groups=head,oracle:block64:groups=kv \
      --json "$out/oracle_heads.json" --markdown "$out/oracle_heads.md" | tail -3
    ;;
  rss)
    for n in 2048 8192; do
      /usr/bin/time -v "$spf" oracle --model "$model" --prompt-file "$prose" --max-tokens $n --method oracle \
        --budget 5% --json "$out/rss_$n.json" 2>"$out/rss_$n.time" | tail -2
      grep -E "Maximum resident|Elapsed" "$out/rss_$n.time"
    done
    ;;
  sweep)
    # The RULER sweeps of docs/results/ruler/ split into SWEEP_SHARDS single-threaded shards side by
    # side (one thread per process scales better than threads inside one process for this 135M
    # model); each shard runs SWEEP_LENGTHS in order until SWEEP_SECONDS pass. Shard files live in
    # out/ruler (ignored, kept between runs) and are copied to OUT; a rerun resumes each shard.
    # Merge them with `spf sweep --config docs/results/ruler/sweep-L.json --merge` after copying.
    mkdir -p out/ruler
    n="${SWEEP_SHARDS:-$(nproc)}"
    lengths="${SWEEP_LENGTHS:-2048 4096}"
    deadline=$((SECONDS + ${SWEEP_SECONDS:-540}))
    for L in $lengths; do
      # Start from what the committed results already hold; the shards skip those samples.
      if [ ! -f "out/ruler/results-$L.jsonl" ] && [ -f "docs/results/ruler/results-$L.jsonl" ]; then
        cp "docs/results/ruler/results-$L.jsonl" out/ruler/
      fi
      sed "s|\"results\": \"results-$L.jsonl\"|\"results\": \"$root/out/ruler/results-$L.jsonl\"|" \
        "docs/results/ruler/sweep-$L.json" >"/tmp/sweep-$L.json"
    done
    for k in $(seq 0 $((n - 1))); do
      (
        for L in $lengths; do
          left=$((deadline - SECONDS))
          [ "$left" -gt 5 ] || break
          OMP_NUM_THREADS=1 timeout "$left" "$spf" sweep --config "/tmp/sweep-$L.json" --shard "$k/$n" || break
        done
      ) >"out/ruler/log-$k.txt" 2>&1 &
    done
    wait || true
    tail -q -n 1 out/ruler/log-*.txt | sort | uniq -c | head -20
    cp out/ruler/results-*.jsonl "$out/"
    ;;
  *)
    echo "unknown stage $stage" >&2
    exit 2
    ;;
esac
