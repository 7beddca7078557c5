#!/usr/bin/env bash
# One-shot setup on a fresh machine: dependencies, build, default model. Prints the model path.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh"
"$root/scripts/fetch-model.sh"
