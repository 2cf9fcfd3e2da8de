#!/usr/bin/env bash
# Install the Debian 12 packages ttml builds and tests with (idempotent).
set -euo pipefail
pkgs=(build-essential cmake pkg-config libglib2.0-dev libyaml-dev libopenblas-dev libhwloc-dev
      libcunit1-dev binutils patchelf valgrind python3-dev python3-numpy openmpi-bin libopenmpi-dev
      libdnnl-dev)
# Optional: headless Chromium for the HTML report check in test_profiler (it
# skips with a note without it). Large, so only on request: TTML_WITH_BROWSER=1.
if [ "${TTML_WITH_BROWSER:-0}" = 1 ]; then pkgs+=(chromium); fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && { echo "install-deps: all packages present"; exit 0; }
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
