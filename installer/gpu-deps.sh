#!/usr/bin/env bash
# Prepares .gpu-deps/: the Debian packages a GPU server without internet needs to build
# optiscope-cli (SQLite headers, nlohmann-json, GoogleTest sources), unpacked into a folder that
# is copied to the server beside the sources. Run on a machine that reaches Debian's archive.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/.gpu-deps"
if [ -f "$dest/.complete" ]; then echo "gpu-deps: already prepared in $dest"; exit 0; fi
mkdir -p "$dest/debs"
( cd "$dest/debs" && apt-get download libsqlite3-dev libsqlite3-0 nlohmann-json3-dev googletest )
for deb in "$dest"/debs/*.deb; do dpkg-deb -x "$deb" "$dest"; done
rm -rf "$dest/debs" "$dest/usr/share/doc"
touch "$dest/.complete"
echo "gpu-deps: ready in $dest"
