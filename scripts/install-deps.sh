#!/usr/bin/env bash
# Installs the build and runtime dependencies from Debian packages and PyPI (idempotent).
set -euo pipefail
pkgs=(build-essential cmake ninja-build pkg-config clang-format git libopenblas-openmp-dev nlohmann-json3-dev libcli11-dev
      libpcre2-dev libgtest-dev libbenchmark-dev wamerican python3 python3-pip unzip)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# numpy/matplotlib draw the report plots (tools/plot_report.py).
# pip where it may install (a virtualenv, pyenv), Debian's packages where the system Python refuses.
if ! python3 -c "import numpy, matplotlib" 2>/dev/null; then
  python3 -m pip install -q numpy matplotlib 2>/dev/null ||
    { SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"; DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
      python3-numpy python3-matplotlib >/dev/null; }
fi
