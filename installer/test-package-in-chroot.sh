#!/usr/bin/env bash
# Installs a built optiscope .deb on a clean Debian 12 root, as a new user's machine gets it, and
# tries it there: apt resolves its dependencies from the Debian mirror, the desktop entry, icon,
# manual pages and sample store are in place, every program and bundled library finds its
# libraries, optiscope-cli --help and a short comparison work, and the GUI draws a window (offscreen)
# both on a store and on a first start, where it offers the sample store.
#
#   installer/test-package-in-chroot.sh DEB [ROOT]   (default ROOT: /var/tmp/optiscope-bookworm)
#
# ROOT is made with `debootstrap --variant=minbase bookworm` when it does not exist yet, and left
# in place afterwards, purged of optiscope and everything it pulled in, so a second run starts
# from the same clean root in seconds. Needs root.
# installer/test-package.sh --chroot ROOT builds the package and calls this.
set -euo pipefail
deb=$(readlink -f "${1:?usage: test-package-in-chroot.sh DEB [ROOT]}")
root=${2:-/var/tmp/optiscope-bookworm}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
here=$(cd "$(dirname "$0")/.." && pwd)
passes=0
step() { echo "== $*"; }
pass() { echo "PASS: $*"; passes=$((passes + 1)); }
fail() { echo "FAIL: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || fail "needs root (debootstrap, chroot, mount)"
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"; }
# Packages installed in the root (not those removed with their configuration left).
package_count() { in_root dpkg-query -W -f='${db:Status-Abbrev}\n' | grep -c '^ii'; }

step "a clean Debian 12 root in $root"
if [ ! -x "$root/usr/bin/apt-get" ]; then
  command -v debootstrap > /dev/null || apt-get install -y -qq debootstrap > /dev/null
  debootstrap --variant=minbase bookworm "$root" "$mirror" > /tmp/optiscope-debootstrap.log 2>&1 \
    || { tail -20 /tmp/optiscope-debootstrap.log; fail "debootstrap"; }
fi
grep -q 'VERSION_ID="12"' "$root/etc/os-release" || fail "$root is not Debian 12"
in_root dpkg-query -W -f='${Status}' optiscope 2> /dev/null | grep -q "install ok installed" \
  && fail "optiscope is already installed in $root"
echo "$(grep PRETTY_NAME "$root/etc/os-release"), $(package_count) packages"
pass "Debian 12 minbase root without optiscope"

mounted=()
installed=0
cleanup() {
  # A failed check must not leave optiscope in the root: the next run starts from a clean one.
  if [ "$installed" = 1 ]; then in_root apt-get purge -y -qq --autoremove optiscope > /dev/null 2>&1 || true; fi
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[i]}" 2> /dev/null || true; done
  rm -f "$root/tmp/$(basename "$deb")"
}
trap cleanup EXIT
for m in proc sys dev dev/pts; do
  mount --bind "/$m" "$root/$m"
  mounted+=("$root/$m")
done
cp /etc/resolv.conf "$root/etc/resolv.conf"
cp "$deb" "$root/tmp/"

step "apt-get install ./$(basename "$deb")"
in_root apt-get update -qq > /tmp/optiscope-chroot-apt.log 2>&1 || { cat /tmp/optiscope-chroot-apt.log; fail "apt-get update"; }
before=$(package_count)
installed=1
DEBIAN_FRONTEND=noninteractive in_root apt-get install -y -q --no-install-recommends "/tmp/$(basename "$deb")" \
  > /tmp/optiscope-chroot-install.log 2>&1 || { tail -40 /tmp/optiscope-chroot-install.log; fail "apt-get install"; }
after=$(package_count)
grep -E "^(Get|Setting up optiscope)" /tmp/optiscope-chroot-install.log | sed -n '1,3p;$p'
in_root dpkg-query -W -f='${binary:Package} ${Version} ${Status}\n' optiscope
pass "installed with $((after - before - 1)) dependencies from the Debian mirror"

step "files a desktop and a user expect"
for f in /usr/bin/optiscope /usr/bin/optiscope-cli /usr/share/applications/optiscope.desktop \
         /usr/share/icons/hicolor/scalable/apps/optiscope.svg /usr/share/man/man1/optiscope.1.gz \
         /usr/share/man/man1/optiscope-cli.1.gz /usr/share/doc/optiscope/copyright; do
  [ -s "$root$f" ] || fail "$f is missing"
  echo "  $f ($(stat -c %s "$root$f") bytes)"
done
sample=$(ls "$root"/usr/share/optiscope/sample/*.db 2> /dev/null | head -1)
[ -n "$sample" ] || fail "no sample store under /usr/share/optiscope/sample"
echo "  ${sample#"$root"} ($(stat -c %s "$sample") bytes)"
sed 's/^/  | /' "$root/usr/share/applications/optiscope.desktop"
grep -q '^Exec=optiscope' "$root/usr/share/applications/optiscope.desktop" || fail "desktop entry Exec"
grep -q '^Icon=optiscope$' "$root/usr/share/applications/optiscope.desktop" || fail "desktop entry Icon"
if command -v desktop-file-validate > /dev/null; then
  desktop-file-validate "$root/usr/share/applications/optiscope.desktop" || fail "desktop-file-validate"
  echo "  desktop-file-validate: clean"
fi
head -c 200 "$root/usr/share/icons/hicolor/scalable/apps/optiscope.svg" | grep -q "<svg" || fail "the icon is not an SVG"
zcat "$root/usr/share/man/man1/optiscope-cli.1.gz" | grep -q '^\.TH OPTISCOPE-CLI 1' || fail "optiscope-cli(1)"
zcat "$root/usr/share/man/man1/optiscope.1.gz" | grep -q '^\.TH OPTISCOPE 1' || fail "optiscope(1)"
zcat "$root/usr/share/man/man1/optiscope.1.gz" | grep -q 'dark' || fail "optiscope(1) lacks --dark"
pass "desktop entry (Exec, Icon), SVG icon, both manual pages, copyright, sample store"

step "every program and bundled library finds its libraries"
for f in "$root"/usr/bin/optiscope "$root"/usr/bin/optiscope-cli "$root"/usr/lib/optiscope/*.so*; do
  f=${f#"$root"}
  out=$(in_root ldd "$f" 2>&1) || fail "ldd $f: $out"
  if grep -q "not found" <<< "$out"; then echo "$out"; fail "$f: a library is not found"; fi
done
pass "ldd finds every library inside the root"

step "optiscope-cli"
in_root optiscope-cli --version
in_root optiscope-cli --help | sed -n '1,3p'
in_root optiscope-cli --help | grep -q "exit codes" || fail "--help"
in_root optiscope-cli run --preset tiny --optim adamw_torch,adamw_8bit --steps 5 --db /tmp/x.db --quiet
in_root optiscope-cli list --db /tmp/x.db | tee /tmp/optiscope-chroot-list.txt
[ "$(grep -c ' completed ' /tmp/optiscope-chroot-list.txt)" -eq 2 ] || fail "expected 2 completed runs"
pass "optiscope-cli --version, --help, run (2 variants, 5 steps), list"

step "the GUI, offscreen"
out_dir=${OPTISCOPE_CHROOT_SHOTS:-$here/out/package-test}
mkdir -p "$out_dir"
in_root env QT_QPA_PLATFORM=offscreen optiscope /tmp/x.db --screenshot /tmp/store.png --quit-after-ms 3000 \
  > /tmp/optiscope-chroot-gui.log 2>&1 || { cat /tmp/optiscope-chroot-gui.log; fail "optiscope on a store"; }
in_root env QT_QPA_PLATFORM=offscreen optiscope --screenshot /tmp/first-start.png --quit-after-ms 2000 \
  >> /tmp/optiscope-chroot-gui.log 2>&1 || { cat /tmp/optiscope-chroot-gui.log; fail "optiscope without a store"; }
for shot in store first-start; do
  [ -s "$root/tmp/$shot.png" ] || fail "no $shot screenshot"
  cp "$root/tmp/$shot.png" "$out_dir/chroot-$shot.png"
  echo "  $shot: $(identify -format '%m %wx%h, %k colours' "$out_dir/chroot-$shot.png" 2> /dev/null || echo written)"
done
pass "optiscope draws a store and a first start (pictures in ${out_dir#"$here/"}/chroot-*.png)"

step "apt-get purge --autoremove"
# With what it pulled in: the root is minbase again for the next run.
in_root apt-get purge -y -qq --autoremove optiscope > /dev/null 2>&1 || fail "apt-get purge --autoremove"
installed=0
[ ! -e "$root/usr/bin/optiscope-cli" ] && [ ! -e "$root/usr/lib/optiscope/libtorch_cpu.so" ] \
  || fail "files left after removal"
rm -f "$root"/tmp/x.db* "$root"/tmp/*.png
[ "$(package_count)" -eq "$before" ] || fail "the root holds $(package_count) packages after removal, $before before"
pass "apt-get purge --autoremove optiscope leaves no program, library or dependency behind ($before packages)"

echo "package test in a clean Debian 12 root: $passes checks passed ($(basename "$deb"))"
