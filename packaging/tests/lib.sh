# Shared by the packaging test scripts (sourced, not run).
# shellcheck shell=bash

# Repository root, whatever directory the script was started from.
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

pass() {
  echo "ok: $*"
}

# need COMMAND PACKAGE: without COMMAND the script skips (exit 0) when run by
# hand, and fails under CI=true, where .ci/run has installed PACKAGE.
need() {
  command -v "$1" >/dev/null 2>&1 && return 0
  if [ "${CI:-}" = "true" ]; then
    fail "$1 is missing (Debian package $2); CI must install it"
  fi
  echo "skip: $1 is missing (apt-get install $2)"
  exit 0
}

# stage_unit_root ROOT: the host's own systemd units (targets, slices) under
# ROOT, so `systemd-analyze --root=ROOT` can resolve the dependencies of the
# units installed there (sysinit.target, network-online.target …).
stage_unit_root() {
  mkdir -p "$1/usr/lib/systemd/system"
  cp -a --no-clobber /usr/lib/systemd/system/. "$1/usr/lib/systemd/system/"
}

# verify_units ROOT UNIT…: `systemd-analyze verify` on the units as installed
# under ROOT (their ExecStart binaries must exist and be executable there).
# Any message at all fails: verify exits 0 on an unknown directive and only
# warns.
verify_units() {
  local root="$1" output
  shift
  if ! output="$(systemd-analyze verify --root="$root" "$@" 2>&1)"; then
    fail "systemd-analyze verify $*: $output"
  fi
  [ -z "$output" ] || fail "systemd-analyze verify $* warned: $output"
  pass "systemd-analyze verify $*"
}

# security_score ROOT UNIT: the exposure level systemd-analyze security gives
# UNIT (0 = locked down, 10 = unprotected), read offline from ROOT.
security_score() {
  systemd-analyze security --offline=yes --root="$1" "$2" 2>/dev/null \
    | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p'
}

# make_dpkg_root ROOT: a throwaway root for `dpkg --root=ROOT
# --force-script-chrootless`: an empty dpkg database holding this machine's
# entries for the packages ours depend on (so Depends are checked, not
# forced), and the account files useradd edits.
make_dpkg_root() {
  local root="$1" dependency
  mkdir -p "$root/etc" "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates"
  : >"$root/var/lib/dpkg/available"
  for dependency in libc6 libgcc-s1 passwd; do
    dpkg-query -s "$dependency"
    echo
    # libc6:amd64.list for a Multi-Arch: same package, passwd.list otherwise.
    : >"$root/var/lib/dpkg/info/$(dpkg-query -W -f='${binary:Package}' "$dependency").list"
  done >"$root/var/lib/dpkg/status"
  echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
  echo 'root:x:0:' >"$root/etc/group"
  echo 'root:*:19000:0:99999:7:::' >"$root/etc/shadow"
  echo 'root:*::' >"$root/etc/gshadow"
  chmod 0640 "$root/etc/shadow" "$root/etc/gshadow"
  if [ -f /etc/login.defs ]; then cp /etc/login.defs "$root/etc/"; fi
}

# start_collector WORK: the debug collector on loopback (ports chosen by the
# kernel, data in WORK/collector); sets collector_pid, grpc (host:port), api
# (URL), fingerprint (of its CA) and admin (the bootstrap API token). The
# caller kills collector_pid.
start_collector() {
  local work="$1"
  mkdir -p "$work/collector"
  cat >"$work/collector.toml" <<TOML
data_dir = "$work/collector"
grpc_listen = "127.0.0.1:0"
api_listen = "127.0.0.1:0"
TOML
  "$REPO/target/debug/rollcall-collector" serve --config "$work/collector.toml" \
    >"$work/collector.out" 2>"$work/collector.err" &
  collector_pid=$!
  grpc="" api="" fingerprint="" admin=""
  for _ in $(seq 1 300); do
    grpc="$(sed -n 's/^grpc listening on //p' "$work/collector.out")"
    api="$(sed -n 's/^api listening on //p' "$work/collector.out")"
    fingerprint="$(sed -n 's/^ca fingerprint (sha256): //p' "$work/collector.out")"
    admin="$(sed -n 's/^admin API token (shown once, store it now): //p' "$work/collector.out")"
    [ -n "$grpc" ] && [ -n "$api" ] && [ -n "$fingerprint" ] && [ -n "$admin" ] && return 0
    kill -0 "$collector_pid" 2>/dev/null || fail "collector exited: $(cat "$work/collector.err")"
    sleep 0.2
  done
  fail "collector did not start: $(cat "$work/collector.out" "$work/collector.err")"
}
