#!/usr/bin/env bash
# Prepares .gpu-deps/: the Debian packages a GPU server without internet needs to build
# optiscope-cli (SQLite headers, nlohmann-json, GoogleTest sources, gloo's headers for LibTorch's
# ProcessGroupGloo: headers only, nothing links libgloo), unpacked into a folder that
# is copied to the server beside the sources. Run on a machine that reaches Debian's archive.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/.gpu-deps"
# (A folder prepared before gloo's headers joined the list is prepared again.)
if [ -f "$dest/.complete" ] && [ -f "$dest/usr/include/gloo/config.h" ]; then echo "gpu-deps: already prepared in $dest"; exit 0; fi
mkdir -p "$dest/debs"
( cd "$dest/debs" && apt-get download libsqlite3-dev libsqlite3-0 nlohmann-json3-dev googletest libgloo-dev )
for deb in "$dest"/debs/*.deb; do dpkg-deb -x "$deb" "$dest"; done
rm -rf "$dest/debs" "$dest/usr/share/doc"
touch "$dest/.complete"
echo "gpu-deps: ready in $dest"
