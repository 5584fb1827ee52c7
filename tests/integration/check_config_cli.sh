#!/usr/bin/env bash
# A config with a misspelled key: lbd and vrrpd must exit 2 and name the file, the line and the key.
set -u
lbd=$1 vrrpd=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cat > "$dir/lbd.toml" <<'TOML'
[[listener]]
name = "web"
bind = "127.0.0.1:8080"
pool = "app"

[[pool]]
name = "app"
algoritm = "round_robin"
[[pool.server]]
name = "a"
address = "127.0.0.1:9000"
TOML
out=$("$lbd" --check-config -c "$dir/lbd.toml" 2>&1); rc=$?
echo "$out"
[[ $rc == 2 ]] || { echo "FAIL: lbd exit code $rc, expected 2"; exit 1; }
grep -qF "$dir/lbd.toml:8:1: pool[0].algoritm: unknown key (did you mean \"algorithm\"?)" <<<"$out" \
  || { echo "FAIL: lbd did not name file:line and key"; exit 1; }
cat > "$dir/vrrpd.toml" <<'TOML'
[[instance]]
name = "vi"
vrid = 51
interface = "eth0"
priorty = 150
vips = ["192.0.2.10/24"]
TOML
out=$("$vrrpd" --check-config -c "$dir/vrrpd.toml" 2>&1); rc=$?
echo "$out"
[[ $rc == 2 ]] || { echo "FAIL: vrrpd exit code $rc, expected 2"; exit 1; }
grep -qF "$dir/vrrpd.toml:5:1: instance[0].priorty: unknown key (did you mean \"priority\"?)" <<<"$out" \
  || { echo "FAIL: vrrpd did not name file:line and key"; exit 1; }
echo "OK"
