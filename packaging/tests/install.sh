#!/usr/bin/env bash
# packaging/install.sh end to end, against a real collector on loopback, into
# a throwaway root (`install.sh --root`: dpkg --root, no systemd there):
#  1. refusal: without --root on this machine (no systemd as PID 1) it
#     refuses before touching anything, naming systemd;
#  2. install: the .deb installed, the collector written to agent.toml, the
#     agent enrolled (key and certificate in its state directory); the
#     agent then started from the root the way its unit does: its host
#     appears in the collector's API (`rollcall hosts list`);
#  3. a second run with the same arguments says "nothing to change" and
#     leaves every file of the root as it was (paths, modes, sizes, times);
#  4. --uninstall: no unit and no binary left, package gone from dpkg.
# Standalone: bash packaging/tests/install.sh
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need dpkg-deb dpkg
need useradd passwd
cd "$REPO"

started=$SECONDS
[ -x target/debug/rollcall-agent ] && [ -x target/debug/rollcall-collector ] && [ -x target/debug/rollcall ] \
  || cargo build --quiet -p rollcall-agent -p rollcall-collector --bins

work="$(mktemp -d)"
collector_pid="" agent_pid=""
cleanup() {
  [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null || true
  [ -n "$collector_pid" ] && kill "$collector_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
deb="$(bash packaging/deb/build.sh --bin-dir target/debug --out "$work/debs" --compress gzip | grep rollcall-agent_)"

start_collector "$work"
cli() { ROLLCALL_API_URL="$api" ROLLCALL_API_TOKEN="$admin" target/debug/rollcall "$@"; }
token="$(cli token create --uses 1 --ttl-s 600 --description install-test | sed -n 's/^token: *//p')"
[ -n "$token" ] || fail "no enrollment token"
pass "collector at $grpc, enrollment token created"

root="$work/root"
make_dpkg_root "$root"
install_args=(--package "$deb" --collector "https://$grpc" --token "$token" --ca-fingerprint "$fingerprint")

# 1. Refusal on this machine, which runs no systemd as PID 1. The package
# path does not exist, so that a broken check still could not install.
if [ ! -d /run/systemd/system ]; then
  if out="$(bash packaging/install.sh --package "$work/none.deb" --collector "https://$grpc" \
      --token "$token" --ca-fingerprint "$fingerprint" 2>&1)"; then
    fail "install.sh did not refuse a system without systemd: $out"
  fi
  grep -q 'unsupported system: systemd is not running' <<<"$out" || fail "unclear refusal: $out"
  pass "refuses without systemd: $out"
fi

# 2. Install, configure, enroll.
bash packaging/install.sh --root "$root" "${install_args[@]}" >"$work/first.out" 2>&1 \
  || fail "install.sh: $(cat "$work/first.out")"
for step in "installed rollcall-agent" "wrote collectors" "enrolled with https://$grpc"; do
  grep -q "$step" "$work/first.out" || fail "first run did not report '$step': $(cat "$work/first.out")"
done
grep -qx "collectors = \[\"https://$grpc\"\]" "$root/etc/rollcall/agent.toml" || fail "agent.toml lacks the collector"
[ -s "$root/var/lib/rollcall-agent/cert.pem" ] && [ -s "$root/var/lib/rollcall-agent/key.pem" ] || fail "no certificate after enrollment"
[ "$(stat -c %a "$root/var/lib/rollcall-agent/key.pem")" = 600 ] || fail "key.pem is not 0600"
pass "installed, configured and enrolled: $(tr '\n' ';' <"$work/first.out")"

# The agent as its unit starts it (ExecStart), with the root's paths.
ROLLCALL_STATE_DIR="$root/var/lib/rollcall-agent" "$root/usr/bin/rollcall-agent" \
  --config "$root/etc/rollcall/agent.toml" run >"$work/agent.log" 2>&1 &
agent_pid=$!
host="$(hostname)"
for _ in $(seq 1 300); do
  cli hosts list --output json >"$work/hosts.json" 2>/dev/null && grep -q "\"$host\"" "$work/hosts.json" && break
  kill -0 "$agent_pid" 2>/dev/null || fail "agent exited: $(cat "$work/agent.log")"
  sleep 0.2
done
grep -q "\"$host\"" "$work/hosts.json" || fail "host $host not in the API: $(cat "$work/hosts.json")"
kill "$agent_pid"; wait "$agent_pid" 2>/dev/null || true; agent_pid=""
pass "the agent's host $host appears in the API"

# 3. Second run: nothing to change, nothing changed.
snapshot() { (cd "$root" && find . -printf '%p %m %u %g %s %T@\n' | sort); }
snapshot >"$work/before"
bash packaging/install.sh --root "$root" "${install_args[@]}" >"$work/second.out" 2>&1 \
  || fail "second install.sh: $(cat "$work/second.out")"
grep -q 'nothing to change' "$work/second.out" || fail "second run changed something: $(cat "$work/second.out")"
snapshot >"$work/after"
diff "$work/before" "$work/after" >"$work/diff" || fail "second run changed files: $(cat "$work/diff")"
pass "second run: nothing to change, no file touched"

# 4. Uninstall.
bash packaging/install.sh --root "$root" --uninstall >"$work/uninstall.out" 2>&1 || fail "--uninstall: $(cat "$work/uninstall.out")"
[ ! -e "$root/lib/systemd/system/rollcall-agent.service" ] || fail "--uninstall left the unit"
[ ! -e "$root/usr/bin/rollcall-agent" ] || fail "--uninstall left the binary"
[ -z "$(find "$root/etc/systemd" -name 'rollcall-agent*' 2>/dev/null)" ] || fail "--uninstall left an enablement link"
dpkg-query --admindir="$root/var/lib/dpkg" -W -f='${db:Status-Abbrev}' rollcall-agent | grep -q '^ii' \
  && fail "rollcall-agent still installed"
bash packaging/install.sh --root "$root" --uninstall | grep -q 'not installed: nothing to change' || fail "second --uninstall"
pass "--uninstall: no unit, no binary; a second --uninstall changes nothing"
echo "install.sh test: passed in $((SECONDS - started)) s"
