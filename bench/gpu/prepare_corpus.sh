#!/usr/bin/env bash
# The GPU machine has no Debian packages: the corpus of the smollm2 step travels as a carried,
# git-ignored folder .corpus/ holding fortunes.txt (2.5 MB; installer/make_corpus.py builds it from
# Debian's fortunes package). Usage: bench/gpu/prepare_corpus.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
src="$root/.deps/corpus/fortunes.txt"
if [ ! -f "$src" ]; then
  mkdir -p "$root/.deps/corpus"
  python3 "$root/installer/make_corpus.py" "$src"
fi
rm -rf "$root/.corpus"
mkdir -p "$root/.corpus"
cp "$src" "$root/.corpus/fortunes.txt"
(cd "$root/.corpus" && sha256sum fortunes.txt > SHA256)
echo ".corpus: $(du -b "$root/.corpus" | cut -f1) bytes"
