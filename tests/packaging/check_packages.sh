#!/usr/bin/env bash
# Builds the .deb and .rpm from a build folder and checks them for real: lintian (no errors), the
# rpm's files, config files and requirements, systemd-analyze verify on the installed units, then
# installs the .deb on this machine, checks files, user and config, removes (config kept) and
# purges (config gone). Needs root: without it, exits 77, which ctest reports as skipped.
# Usage: check_packages.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
src=$(cd "$(dirname "$0")/../.." && pwd)
fail() { echo "FAIL: $*" >&2; exit 1; }
if [[ $EUID != 0 ]]; then
  echo "skipped: needs root (dpkg -i)"
  exit 77
fi
for tool in cpack lintian rpm dpkg systemd-analyze; do
  command -v "$tool" >/dev/null || fail "$tool is missing (scripts/deps installs it)"
done
if dpkg-query -W -f='${Status}' lbpair 2>/dev/null | grep -q 'install ok installed'; then
  fail "lbpair is already installed on this machine; this test installs and purges its own build"
fi
work=$(mktemp -d)
cleanup() {
  dpkg -P lbpair >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "== cpack"
(cd "$build" && cpack -G "DEB;RPM" -B "$work" >"$work/cpack.log" 2>&1) || { cat "$work/cpack.log"; fail "cpack"; }
version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$build/CMakeCache.txt")
deb=$work/lbpair_${version}_amd64.deb
rpmfile=$work/lbpair-${version}.x86_64.rpm
[[ -f $deb ]] || fail "missing $deb"
[[ -f $rpmfile ]] || fail "missing $rpmfile"

echo "== lintian"
lintian --fail-on error "$deb" || fail "lintian reports errors"

echo "== rpm contents"
files=$(rpm -qpl "$rpmfile")
for f in /usr/sbin/lbd /usr/sbin/vrrpd /usr/sbin/lbctl /etc/lbpair/lbd.toml /etc/lbpair/vrrpd.toml \
         /lib/systemd/system/lbd.service /lib/systemd/system/vrrpd.service \
         /usr/share/man/man8/lbd.8.gz /usr/share/man/man8/lbctl.8.gz \
         /usr/share/doc/lbpair/examples/lbd.toml; do
  grep -qx "$f" <<<"$files" || fail "rpm lacks $f"
done
configs=$(rpm -qp --configfiles "$rpmfile")
grep -qx /etc/lbpair/lbd.toml <<<"$configs" || fail "lbd.toml is not %config in the rpm"
rpm -qp --qf '[%{FILENAMES} %{FILEFLAGS:fflags}\n]' "$rpmfile" | grep -q '^/etc/lbpair/lbd.toml cn' \
  || fail "lbd.toml is not %config(noreplace)"
requires=$(rpm -qpR "$rpmfile")
grep -q '^libspdlog' <<<"$requires" || fail "rpm does not require libspdlog"
grep -q '^libtomlplusplus' <<<"$requires" || fail "rpm does not require libtomlplusplus"

echo "== deb install"
dpkg -i "$deb" >/dev/null 2>&1 || apt-get install -y -qq "$deb" >/dev/null || fail "dpkg -i"
for f in /usr/sbin/lbd /usr/sbin/vrrpd /usr/sbin/lbctl /etc/lbpair/lbd.toml /etc/lbpair/vrrpd.toml \
         /lib/systemd/system/lbd.service /usr/share/doc/lbpair/copyright; do
  [[ -e $f ]] || fail "installed package lacks $f"
done
dpkg-query -W -f='${Conffiles}\n' lbpair | grep -q /etc/lbpair/lbd.toml || fail "lbd.toml is not a conffile"
getent passwd lbpair >/dev/null || fail "user lbpair was not created"
[[ $(stat -c '%U:%G %a' /etc/lbpair/lbd.toml) == "root:lbpair 640" ]] || fail "lbd.toml ownership/mode"
/usr/sbin/lbd --check-config -c /etc/lbpair/lbd.toml || fail "installed lbd.toml does not validate"
/usr/sbin/vrrpd --check-config -c /etc/lbpair/vrrpd.toml || fail "installed vrrpd.toml does not validate"
/usr/sbin/lbd --version | grep -q "$version" || fail "lbd --version"
/usr/sbin/lbctl --version | grep -q "$version" || fail "lbctl --version"

echo "== systemd-analyze verify"
out=$(systemd-analyze verify /lib/systemd/system/lbd.service /lib/systemd/system/vrrpd.service 2>&1) || {
  echo "$out"; fail "systemd-analyze verify"; }
# Warnings about this container's own units are not ours; any line naming our units is.
if grep -E '(lbd|vrrpd)\.service' <<<"$out"; then fail "systemd-analyze reports problems in our units"; fi

echo "== the two-node lab from the installed binaries, configs in /etc-style folders"
etc=$work/etc/lbpair
mkdir -p "$etc"
cp -r /usr/share/doc/lbpair/examples/node-a /usr/share/doc/lbpair/examples/node-b "$etc/"
python3 "$src/scripts/lab/failover_lab.py" --bin-dir /usr/sbin --conf-dir "$etc" --warmup 2 \
  --after-kill 3 --after-restart 3 --quiet --json "$work/lab.json" \
  || fail "the lab with the installed binaries did not fail over"
grep -q '"vip_holders_after": \[' "$work/lab.json" || fail "no lab report"

echo "== remove keeps the configuration, purge deletes it"
echo "# edited by the operator" >> /etc/lbpair/lbd.toml
dpkg -r lbpair >/dev/null
[[ ! -e /usr/sbin/lbd ]] || fail "remove left /usr/sbin/lbd"
grep -q "edited by the operator" /etc/lbpair/lbd.toml || fail "remove lost the edited config"
dpkg -P lbpair >/dev/null
[[ ! -e /etc/lbpair ]] || fail "purge left /etc/lbpair"
echo "OK: packages built, checked, installed, removed and purged"
