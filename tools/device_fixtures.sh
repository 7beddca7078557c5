#!/usr/bin/env bash
# One command for the machine that has torch + transformers (+ gguf): generates the HF reference
# fixtures with tools/hf_reference.py and packs them into few tar files under OUT_DIR.
#
#   bash tools/device_fixtures.sh OUT_DIR [GGUF_PATH] [extra hf_reference.py args...]
#
# GGUF_PATH: the SmolLM2 GGUF; empty or left out -> models/SmolLM2-135M-Instruct.Q4_1.gguf if it
# exists, else the SmolLM2 part is skipped. Wheels in .whl/ (e.g. gguf, accelerate) are installed
# into /tmp/site first (no index, no deps) and put on PYTHONPATH.
#
# Writes into OUT_DIR (each file < 16 MB):
#   hf_tiny.tar       hf/{llama,qwen2,qwen3,qwen3_5_text,qwen3_5}/..., hf/index.json
#   hf_smollm2.tar    hf/smollm2/...            (only when a GGUF was given or found)
#   hf_reference.log  the generator's output
# Unpack into the tree with:  tar -xf OUT_DIR/hf_tiny.tar -C tests/fixtures   (likewise smollm2)
# Exit status: the generator's (non-zero if any reference failed; what succeeded is still packed),
# or 3 if packing failed or a tar came out too large.
set -uo pipefail

if [ $# -lt 1 ]; then
  echo "usage: bash tools/device_fixtures.sh OUT_DIR [GGUF_PATH] [extra hf_reference.py args...]" >&2
  exit 2
fi
root="$(cd "$(dirname "$0")/.." && pwd)"
mkdir -p "$1" || exit 2
out="$(cd "$1" && pwd)"
gguf="${2:-}"
shift $(( $# >= 2 ? 2 : 1 ))
cd "$root" || exit 2

if [ -z "$gguf" ] && [ -f models/SmolLM2-135M-Instruct.Q4_1.gguf ]; then
  gguf="models/SmolLM2-135M-Instruct.Q4_1.gguf"
fi
if [ -n "$gguf" ] && [ ! -f "$gguf" ]; then
  echo "device_fixtures: no such GGUF file: $gguf" >&2
  exit 2
fi

# wheels carried with the tree (gguf, accelerate, ...)
if compgen -G ".whl/*.whl" >/dev/null; then
  site=/tmp/site
  echo "device_fixtures: installing $(ls .whl/*.whl | wc -l) wheel(s) from .whl/ into $site"
  python3 -m pip install -q --no-index --no-deps --upgrade --target "$site" .whl/*.whl || {
    echo "device_fixtures: wheel install failed" >&2
    exit 2
  }
  export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
fi

export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 \
  HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
python3 - <<'EOF'
import importlib, importlib.metadata as md
for m in ("torch", "transformers", "safetensors", "numpy", "gguf", "accelerate"):
    try:
        mod = importlib.import_module(m)
        v = getattr(mod, "__version__", None)
        if v is None:
            v = md.version(m)
        print(f"device_fixtures: {m} {v}")
    except Exception as e:
        print(f"device_fixtures: {m} MISSING ({type(e).__name__})")
EOF

work="$(mktemp -d "${TMPDIR:-/tmp}/spf_hf_ref.XXXXXX")"
trap 'rm -rf "$work"' EXIT
args=(--out "$work/hf")
[ -n "$gguf" ] && args+=(--smollm2-gguf "$gguf")
echo "device_fixtures: python3 tools/hf_reference.py ${args[*]/#$work/WORK} $*"
python3 tools/hf_reference.py "${args[@]}" "$@" 2>&1 | tee "$out/hf_reference.log"
rc=${PIPESTATUS[0]}

# pack: deterministic member order, owner and mode; paths start at hf/ (relative to tests/fixtures)
pack() {  # pack NAME.tar MEMBER...
  local tarname="$1"; shift
  local members=()
  for m in "$@"; do [ -e "$work/$m" ] && members+=("$m"); done
  [ ${#members[@]} -eq 0 ] && return 0
  tar -C "$work" --sort=name --owner=0 --group=0 --numeric-owner --mode='u+rw,go+r' \
    --mtime='2000-01-01 00:00:00Z' -cf "$out/$tarname" "${members[@]}" || return 1
}
status=0
rm -f "$out/hf_tiny.tar" "$out/hf_smollm2.tar"
pack hf_tiny.tar hf/index.json hf/llama hf/qwen2 hf/qwen3 hf/qwen3_5_text hf/qwen3_5 || status=3
pack hf_smollm2.tar hf/smollm2 || status=3

limit=$((16 * 1024 * 1024))
echo
echo "== device_fixtures summary =="
for f in "$out"/*; do
  [ -f "$f" ] || continue
  size=$(stat -c %s "$f")
  printf '%-22s %10d bytes\n' "$(basename "$f")" "$size"
  if [ "$size" -ge "$limit" ]; then
    echo "device_fixtures: $(basename "$f") is over 16 MB" >&2
    status=3
  fi
done
python3 - "$work/hf" <<'EOF'
import json, os, sys
d = sys.argv[1]
total = 0
for dp, _, fs in os.walk(d):
    total += sum(os.path.getsize(os.path.join(dp, f)) for f in fs)
print(f"fixtures total (unpacked): {total} bytes")
idx = os.path.join(d, "index.json")
if os.path.isfile(idx):
    st = json.load(open(idx))["status"]
    for name, s in st.items():
        if s.get("ok"):
            extra = ""
            if "decode_vs_full_max_abs_diff" in s:
                extra = f" decode_vs_full={s['decode_vs_full_max_abs_diff']:.2e}"
            print(f"  {name:14s} ok    max|logit|={s.get('max_abs_logit')}{extra}")
        else:
            print(f"  {name:14s} FAIL  {s.get('error')}")
ref = os.path.join(d, "smollm2", "smollm2_ref.json")
if os.path.isfile(ref):
    r = json.load(open(ref))
    c = r.get("chat", {})
    p = r.get("prose", {})
    print(f"  smollm2 prose: {p.get('n_tokens')} tokens, ppl {p.get('perplexity')}; "
          f"chat greedy: {c.get('greedy_text')!r}")
EOF
echo "generator exit status: $rc"
[ "$status" -ne 0 ] && exit "$status"
exit "$rc"
