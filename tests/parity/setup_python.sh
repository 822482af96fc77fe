#!/usr/bin/env bash
# Installs what the parity test's Python side needs into .deps/parity-py (a pip --target folder,
# so no venv module and no system site-packages are touched), once; later runs find the stamp
# and return at once.
#
# PyPI's torch wheel for Linux is the CUDA build: `pip install torch` would pull about 3 GB of
# nvidia-* wheels. Importing it on a CPU only needs the shared libraries its libtorch_*.so link
# against, and the CUDA toolkit in /usr/local/cuda already has most of them. So: torch with
# --no-deps, its small pure-Python dependencies, and then, for each library that ldd still cannot
# find, only the NVIDIA wheel that ships it (on a machine with the toolkit: cuSPARSELt, NVSHMEM,
# cuFile; about 230 MB).
# pip --target rather than a venv: Debian's python3 has no venv module without python3-venv.
# Prints the folder to put on PYTHONPATH on its last line. Exit 77 (skip) when it cannot work.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
dest=${OPTISCOPE_PARITY_PY:-$root/.deps/parity-py}
torch_version=2.11.0
transformers_version=5.24.0
stamp="$dest/.optiscope-stamp"
want="torch==$torch_version transformers==$transformers_version v1"

log() { echo "parity setup: $*" >&2; }
skip() { log "SKIP: $*"; exit 77; }

cuda_lib=/usr/local/cuda/lib64
library_path() {
  local dirs="$cuda_lib"
  if [ -d "$dest/nvidia" ]; then
    for d in "$dest"/nvidia/*/lib; do [ -d "$d" ] && dirs="$dirs:$d"; done
  fi
  echo "$dirs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
}

missing_libs() {
  local lib
  for lib in libtorch.so libtorch_cuda.so libtorch_python.so libtorch_cpu.so; do
    [ -f "$dest/torch/lib/$lib" ] || continue
    LD_LIBRARY_PATH=$(library_path) ldd "$dest/torch/lib/$lib" | awk '/not found/ {print $1}'
  done | sort -u | grep -v '^libcuda\.so' || true  # the driver itself is loaded lazily
}

# The wheel (at the versions torch 2.11.0 pins) that ships each library.
package_for() {
  case "$1" in
    libcudnn*) echo "nvidia-cudnn-cu13==9.19.0.56" ;;
    libnccl*) echo "nvidia-nccl-cu13==2.28.9" ;;
    libcusparseLt*) echo "nvidia-cusparselt-cu13==0.8.0" ;;
    libnvshmem*) echo "nvidia-nvshmem-cu13==3.4.5" ;;
    libcufile*) echo "cuda-toolkit[cufile]==13.0.2" ;;
    libcublas*) echo "cuda-toolkit[cublas]==13.0.2" ;;
    libcudart*) echo "cuda-toolkit[cudart]==13.0.2" ;;
    libcufft*) echo "cuda-toolkit[cufft]==13.0.2" ;;
    libcurand*) echo "cuda-toolkit[curand]==13.0.2" ;;
    libcusolver*) echo "cuda-toolkit[cusolver]==13.0.2" ;;
    libcusparse*) echo "cuda-toolkit[cusparse]==13.0.2" ;;
    libnvJitLink*) echo "cuda-toolkit[nvjitlink]==13.0.2" ;;
    libnvrtc*) echo "cuda-toolkit[nvrtc]==13.0.2" ;;
    libcupti*) echo "cuda-toolkit[cupti]==13.0.2" ;;
    libnvToolsExt* | libnvtx*) echo "cuda-toolkit[nvtx]==13.0.2" ;;
    *) return 1 ;;
  esac
}

pip_install() {
  python3 -m pip install --quiet --disable-pip-version-check --no-warn-script-location --target "$dest" "$@" >&2
}

# The GGUF parity test also needs llama.cpp's `gguf` package (transformers reads GGUF files
# through it) and `accelerate` (transformers requires it to load one). Added on their own, so
# folders set up before them keep their stamp and are not rebuilt.
gguf_version=0.17.1
accelerate_version=1.12.0
add_gguf() {
  [ -d "$dest/gguf-$gguf_version.dist-info" ] && [ -d "$dest/accelerate-$accelerate_version.dist-info" ] && return 0
  log "adding gguf==$gguf_version and accelerate==$accelerate_version to $dest"
  pip_install --no-deps "gguf==$gguf_version" "accelerate==$accelerate_version" "psutil>=5.9" ||
    skip "pip could not install gguf and accelerate"
}

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  add_gguf
  echo "$dest"
  exit 0
fi
command -v python3 > /dev/null || skip "python3 is not installed"
python3 -m pip --version > /dev/null 2>&1 || skip "pip is not installed for python3 (apt-get install python3-pip)"

log "installing torch==$torch_version (CPU use, no nvidia wheels) and transformers==$transformers_version into $dest (once)"
rm -rf "$dest"
mkdir -p "$dest"
pip_install --no-deps "torch==$torch_version" || skip "pip could not install torch==$torch_version"
pip_install "transformers==$transformers_version" filelock "typing-extensions>=4.10.0" "setuptools<82" "sympy>=1.13.3" \
  "networkx>=2.5.1" jinja2 "fsspec>=0.8.5" || skip "pip could not install transformers==$transformers_version"

# One pip call for all of them: pip --target cannot add to the shared nvidia/ namespace folder
# in a second call.
libs=$(missing_libs)
if [ -n "$libs" ]; then
  packages=()
  for lib in $libs; do
    p=$(package_for "$lib") || skip "torch needs $lib and no known wheel ships it"
    packages+=("$p")
  done
  mapfile -t packages < <(printf '%s\n' "${packages[@]}" | sort -u)
  log "libraries not found: $(echo $libs); installing ${packages[*]}"
  pip_install "${packages[@]}" || skip "pip could not install ${packages[*]}"
fi
libs=$(missing_libs)
[ -z "$libs" ] || skip "torch still misses $(echo $libs)"

PYTHONPATH="$dest" LD_LIBRARY_PATH=$(library_path) python3 -c "import torch, transformers, tokenizers, safetensors" >&2 ||
  skip "torch does not import from $dest"
add_gguf
echo "$want" > "$stamp"
log "ready ($(du -sh "$dest" | cut -f1))"
echo "$dest"
