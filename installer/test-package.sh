#!/usr/bin/env bash
# Builds the Debian package, installs it on this machine, uses it as a user would, and removes it:
#
#   installer/test-package.sh [BUILD_DIR]                (default BUILD_DIR: build-package)
#   installer/test-package.sh --chroot ROOT [BUILD_DIR]   install into a clean Debian 12 root instead
#
# With --chroot the package is installed, tried and removed inside ROOT (made with debootstrap when
# missing) by installer/test-package-in-chroot.sh, and this machine is left alone: the test of a
# machine that has none of the build's packages.
#
# Checks: the package's control data and contents; every library the installed programs and the
# bundled LibTorch load resolves inside /usr/lib/optiscope or to a file of a package the .deb
# depends on (directly or through its dependencies), so a fresh Debian 12 machine has it after
# `apt-get install ./optiscope_*.deb`; `optiscope-cli --version`; a short two-variant comparison;
# an import; the GUI under Xvfb taking a screenshot of that store, and the picture itself.
# Needs root or sudo (apt-get install/remove). Takes minutes: not part of ./test.sh.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
chroot_root=""
if [ "${1:-}" = "--chroot" ]; then
  chroot_root=${2:?--chroot needs the folder of the Debian 12 root}
  shift 2
fi
build=${1:-$root/build-package}
case "$build" in /*) ;; *) build="$PWD/$build" ;; esac
sudo_cmd=""
[ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
work=$(mktemp -d)
installed_by_us=0
passes=0
cleanup() {
  if [ "$installed_by_us" = 1 ]; then
    $sudo_cmd apt-get remove -y -qq optiscope > /dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
step() { echo "== $*"; }
pass() { echo "PASS: $*"; passes=$((passes + 1)); }
fail() { echo "FAIL: $*" >&2; exit 1; }

"$root/installer/setup.sh"

step "configure and build $build"
# Relative paths and no working directory in ccache's keys: a build folder beside build-*/ reuses
# what those compiled (debug info then names paths relative to the source root).
export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1
# The default preset's settings without the tests: the same compiler flags, so ccache serves
# objects a developer build already compiled.
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DOPTISCOPE_WERROR=ON \
    -DOPTISCOPE_GUI=ON -DOPTISCOPE_TESTS=OFF > "$work/configure.log" || { cat "$work/configure.log"; exit 1; }
fi
cmake --build "$build" -j "$(nproc)"

step "cpack"
rm -f "$build"/optiscope_*.deb
(cd "$build" && cpack -G DEB > "$work/cpack.log" 2>&1) || { cat "$work/cpack.log"; fail "cpack"; }
deb=$(ls "$build"/optiscope_*_amd64.deb)
pass "built $(basename "$deb") ($(du -h "$deb" | cut -f1))"

step "package control data and contents"
dpkg-deb -I "$deb" > "$work/control.txt"
depends=$(dpkg-deb -f "$deb" Depends)
echo "Depends: $depends"
echo "Installed-Size: $(dpkg-deb -f "$deb" Installed-Size) KiB"
depends_names=$(tr ',' '\n' <<< "$depends" | sed 's/^ *//; s/ .*//' | sort -u)
for p in libqt6widgets6 libqt6gui6 libqt6core6 libqt6svg6 libqcustomplot2.1-qt6 libsqlite3-0 libstdc++6 libc6; do
  grep -qxF "$p" <<< "$depends_names" || fail "Depends lacks $p"
done
grep -qE '^lib(torch|c10|gomp|cudart|cupti)' <<< "$depends_names" && fail "Depends names a bundled library"
pass "depends on Debian's Qt 6, QCustomPlot and SQLite packages"
dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|' > "$work/contents.txt"
for f in /usr/bin/optiscope /usr/bin/optiscope-cli /usr/share/applications/optiscope.desktop \
         /usr/share/icons/hicolor/scalable/apps/optiscope.svg /usr/share/man/man1/optiscope.1.gz \
         /usr/share/man/man1/optiscope-cli.1.gz /usr/share/doc/optiscope/copyright \
         /usr/lib/optiscope/libtorch_cpu.so /usr/lib/optiscope/libc10.so /usr/lib/optiscope/libgomp.so.1 \
         /usr/lib/optiscope/libcudart.so.13 /usr/lib/optiscope/libcupti.so.13; do
  grep -qxF "$f" "$work/contents.txt" || fail "the package lacks $f"
done
# The sample store the GUI offers on a first start (its file name is CMake's OPTISCOPE_SAMPLE_STORE).
grep -qE '^/usr/share/optiscope/sample/[^/]+\.db$' "$work/contents.txt" || fail "the package lacks the sample store"
pass "contains both programs, desktop entry, icon, manual pages, copyright and the bundled LibTorch"

if [ -n "$chroot_root" ]; then
  "$root/installer/test-package-in-chroot.sh" "$deb" "$chroot_root"
  echo "package test: $passes checks passed here, then the clean-root test above ($(basename "$deb"))"
  exit 0
fi

step "install"
if dpkg-query -W -f='${Status}' optiscope 2>/dev/null | grep -q "install ok installed"; then
  fail "optiscope is already installed here; remove it first (apt-get remove optiscope)"
fi
installed_by_us=1
DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "$deb" > "$work/install.log" 2>&1 \
  || { cat "$work/install.log"; fail "apt-get install"; }
[ "$(command -v optiscope-cli)" = /usr/bin/optiscope-cli ] || fail "optiscope-cli is not /usr/bin/optiscope-cli"
pass "apt-get install ./$(basename "$deb")"

step "every library resolves inside the package or to a dependency"
closure=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces \
            --no-enhances optiscope 2>/dev/null | grep -vE '^ |^<' | sed 's/:amd64$//' | sort -u)
checked=0
for f in /usr/bin/optiscope /usr/bin/optiscope-cli /usr/lib/optiscope/*.so*; do
  # A clean environment: what a user's session would find, not this build machine's exports.
  env -i PATH=/usr/bin:/bin ldd "$f" > "$work/ldd.txt" 2>&1 || fail "ldd $f"
  if grep -q "not found" "$work/ldd.txt"; then cat "$work/ldd.txt"; fail "$f: a library is not found"; fi
  while read -r lib; do
    case "$lib" in /usr/lib/optiscope/*) continue ;; esac
    owner=$(dpkg -S "$lib" 2>/dev/null || dpkg -S "$(readlink -f "$lib")" 2>/dev/null || true)
    pkg=$(sed -n '1s/:.*//p' <<< "$owner" | sed 's/:amd64$//; s/,.*//')
    [ -n "$pkg" ] || fail "$f loads $lib, which no Debian package owns (from /usr/local?)"
    grep -qxF "$pkg" <<< "$closure" || fail "$f loads $lib from $pkg, which optiscope does not depend on"
    checked=$((checked + 1))
  done < <(awk '/=> \//{print $3} /^\s*\/lib/{print $1}' "$work/ldd.txt")
done
pass "$checked library loads resolved (bundled ones from /usr/lib/optiscope, the rest from dependencies)"

step "optiscope-cli --version"
version=$(optiscope-cli --version)
echo "$version"
grep -qE '^optiscope-cli [0-9]+\.[0-9]+\.[0-9]+$' <<< "$version" || fail "--version printed '$version'"
pass "optiscope-cli --version"

step "a short comparison"
db="$work/x.db"
optiscope-cli run --preset tiny --optim adamw_torch,adamw_8bit --steps 5 --db "$db" | tee "$work/run.txt"
optiscope-cli list --db "$db" > "$work/list.txt"
[ "$(grep -c ' completed ' "$work/list.txt")" -eq 2 ] || { cat "$work/list.txt"; fail "expected 2 completed runs"; }
pass "optiscope-cli run --preset tiny --optim adamw_torch,adamw_8bit --steps 5: 2 runs completed"

step "import a Trainer state"
cat > "$work/trainer_state.json" <<'JSON'
{"global_step": 5, "log_history": [
  {"learning_rate": 1e-3, "loss": 5.2, "step": 1}, {"learning_rate": 8e-4, "loss": 4.9, "step": 3},
  {"learning_rate": 6e-4, "loss": 4.7, "step": 5}, {"eval_loss": 4.8, "step": 5},
  {"step": 5, "train_runtime": 2.5, "train_samples_per_second": 32.0}]}
JSON
optiscope-cli import --db "$db" --trainer-state "$work/trainer_state.json" --optim adamw_torch
optiscope-cli list --db "$db" | grep -q "imported" || fail "the imported run is not listed"
pass "optiscope-cli import --trainer-state"

step "the GUI under Xvfb"
shot="$work/s.png"
xvfb-run -a -s "-screen 0 1600x1000x24" optiscope "$db" --screenshot "$shot" --quit-after-ms 3000 \
  > "$work/gui.log" 2>&1 || { cat "$work/gui.log"; fail "optiscope exited $?"; }
[ -s "$shot" ] || fail "no screenshot"
info=$(identify -format '%m %w %h %k' "$shot")
echo "screenshot: $info (format, width, height, colours)"
read -r format width height colours <<< "$info"
[ "$format" = PNG ] && [ "$width" -ge 800 ] && [ "$height" -ge 500 ] && [ "$colours" -ge 32 ] \
  || fail "the screenshot does not look like a drawn window: $info"
mkdir -p "$root/out/package-test"
cp "$shot" "$root/out/package-test/screenshot.png"
pass "xvfb-run optiscope x.db --screenshot s.png --quit-after-ms 3000 (copy in out/package-test/)"

step "desktop entry and manual pages"
if command -v desktop-file-validate > /dev/null; then desktop-file-validate /usr/share/applications/optiscope.desktop; fi
zcat /usr/share/man/man1/optiscope-cli.1.gz | grep -q '^\.TH OPTISCOPE-CLI 1' || fail "optiscope-cli(1)"
zcat /usr/share/man/man1/optiscope.1.gz | grep -q '^\.TH OPTISCOPE 1' || fail "optiscope(1)"
pass "desktop entry and manual pages installed"

step "remove"
$sudo_cmd apt-get remove -y -qq optiscope > "$work/remove.log" 2>&1 || { cat "$work/remove.log"; fail "apt-get remove"; }
installed_by_us=0
[ ! -e /usr/bin/optiscope-cli ] && [ ! -e /usr/lib/optiscope/libtorch_cpu.so ] || fail "files left after removal"
pass "apt-get remove optiscope leaves no program or library behind"

echo "package test: $passes checks passed ($(basename "$deb"))"
