#!/usr/bin/env bash
# The test suite, as CI runs it: dependencies, default model, a warnings-as-errors Release build with
# the full suite, then an ASan+UBSan build running every label but the slow model tests.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/install-deps.sh"
export SPF_MODEL="$("$root/scripts/fetch-model.sh")"
jobs="$(nproc)"

# The tree is clang-formatted (.clang-format); a drift fails here before anything is built.
if command -v clang-format >/dev/null; then
  (cd "$root" && git ls-files 'src/*.cpp' 'src/*.h' 'src/*.cu' 'tests/*.cpp' 'tests/*.h' 'bench/*.cpp' |
    xargs clang-format --dry-run -Werror)
fi

SPF_BUILD_DIR="$root/build" "$root/scripts/build.sh" -DSPF_WERROR=ON
(cd "$root/build" && ctest --output-on-failure -j "$jobs" --timeout 900)

if [ "${SPF_SKIP_SANITIZE:-0}" != "1" ]; then
  # CUDA code is compiled (and its no-device tests run) by the Release build above; the sanitized
  # build leaves it out, which keeps the whole run within CI's time budget on 2 cores.
  SPF_BUILD_DIR="$root/build-asan" "$root/scripts/build.sh" -DSPF_WERROR=ON -DSPF_SANITIZE=ON \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSPF_BUILD_BENCH=OFF -DSPF_CUDA=OFF
  (cd "$root/build-asan" && ASAN_OPTIONS=detect_leaks=0 ctest --output-on-failure -j "$jobs" \
    --timeout 900 -LE 'model')
fi
