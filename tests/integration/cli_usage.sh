#!/usr/bin/env bash
# Usage errors: lbd, vrrpd and lbctl exit 2 and print the usage on stderr for an unknown flag, an
# option without its value and a stray argument (`--check-config FILE` without -c); --help and
# --version exit 0.
set -u
lbd=$1 vrrpd=$2 lbctl=$3
fail=0
expect() {  # expect CODE PROGRAM ARGS...: runs it, checks the exit code (and the usage on 2)
  local want=$1
  shift
  local err rc
  err=$("$@" 2>&1 >/dev/null); rc=$?
  if [[ $rc != "$want" ]]; then
    echo "FAIL: $* exited $rc, expected $want"; echo "$err"; fail=1; return
  fi
  if [[ $want == 2 ]] && ! grep -q -- '--help' <<<"$err"; then
    echo "FAIL: $* exited 2 without the usage on stderr"; echo "$err"; fail=1; return
  fi
  echo "ok: $* -> $rc"
}
for prog in "$lbd" "$vrrpd"; do
  expect 2 "$prog" --no-such-flag
  expect 2 "$prog" --check-config -c
  expect 2 "$prog" --check-config conf/some.toml
  expect 0 "$prog" --help
  expect 0 "$prog" --version
done
expect 2 "$lbctl" --no-such-flag show pools
expect 2 "$lbctl" --limit
expect 2 "$lbctl" --limit 0 show pools
expect 0 "$lbctl" --help
expect 0 "$lbctl" --version
exit $fail
