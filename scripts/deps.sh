#!/usr/bin/env bash
# Installs what weft needs to build and test on Debian (bookworm or later).
# Idempotent and quiet when everything is already there; uses sudo when not
# root. Called by scripts/run.sh and scripts/test.sh.
set -euo pipefail

# The package list (one place). Fuzzing needs clang with its runtime.
PACKAGES=(
  build-essential pkg-config meson ninja-build
  librdkafka-dev libjemalloc-dev libxxhash-dev libcmocka-dev libmicrohttpd-dev
  zlib1g-dev libzstd-dev zstd gzip python3 python3-venv curl
  libjson-c-dev libjansson-dev libsimdjson-dev g++
  clang libclang-rt-14-dev
  libprotobuf-c-dev protobuf-c-compiler
  # the web console's tests: a real browser, driven headless, and the JSON
  # Schemas of every output (docs/schema/)
  chromium chromium-driver python3-selenium python3-jsonschema
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO="sudo"
fi
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
