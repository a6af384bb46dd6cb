#!/usr/bin/env bash
# The Ansible role packaging/ansible/roles/rollcall_agent, against a collector
# on loopback, on this machine (connection local) working on a throwaway
# Debian root (rollcall_agent_root: install.sh --root, no systemd there):
#  1. ansible-lint is clean on packaging/ansible;
#  2. the first run installs, configures and enrolls (changed > 0);
#  3. the second run reports changed=0 and leaves the root's files as they were;
#  4. rollcall_agent_state=absent removes the agent: no unit, no binary.
# Not the chroot connection: it needs Python inside the root, and a
# debootstrapped root is not available offline.
# Standalone: bash packaging/tests/ansible.sh
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need ansible-playbook ansible-core
need ansible-lint ansible-lint
need dpkg-deb dpkg
need useradd passwd
cd "$REPO"

started=$SECONDS
[ -x target/debug/rollcall-agent ] && [ -x target/debug/rollcall-collector ] && [ -x target/debug/rollcall ] \
  || cargo build --quiet -p rollcall-agent -p rollcall-collector --bins

work="$(mktemp -d)"
collector_pid=""
cleanup() {
  [ -n "$collector_pid" ] && kill "$collector_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# Paths named: run on the folder, ansible-lint lists files with git and, in
# a worktree, finds only site.yml.
(cd packaging/ansible && ansible-lint --offline -q site.yml roles/rollcall_agent >"$work/lint.out" 2>&1) || fail "ansible-lint: $(cat "$work/lint.out")"
pass "ansible-lint clean"

deb="$(bash packaging/deb/build.sh --bin-dir target/debug --out "$work/debs" --compress gzip | grep rollcall-agent_)"
start_collector "$work"
token="$(ROLLCALL_API_URL="$api" ROLLCALL_API_TOKEN="$admin" target/debug/rollcall token create --uses 1 --ttl-s 600 \
  --description ansible-test | sed -n 's/^token: *//p')"
[ -n "$token" ] || fail "no enrollment token"
root="$work/root"
make_dpkg_root "$root"
cat >"$work/inventory.ini" <<INI
[rollcall_agents]
localhost ansible_connection=local ansible_python_interpreter=/usr/bin/python3
INI
cat >"$work/vars.yml" <<YAML
rollcall_agent_package: "$deb"
rollcall_agent_collector: "https://$grpc"
rollcall_agent_ca_fingerprint: "$fingerprint"
rollcall_agent_token: "$token"
rollcall_agent_root: "$root"
YAML
playbook() {
  ANSIBLE_NOCOLOR=1 ANSIBLE_STDOUT_CALLBACK=default ANSIBLE_LOCALHOST_WARNING=false \
    ansible-playbook -i "$work/inventory.ini" packaging/ansible/site.yml -e "@$work/vars.yml" "$@"
}
changed_of() { sed -n 's/.*: ok=[0-9]* *changed=\([0-9]*\).*failed=\([0-9]*\).*/\1 \2/p' "$1"; }

playbook >"$work/first.out" 2>&1 || fail "first run: $(cat "$work/first.out")"
read -r changed failed <<<"$(changed_of "$work/first.out")"
[ "$failed" = 0 ] && [ "${changed:-0}" -gt 0 ] || fail "first run: changed=$changed failed=$failed: $(cat "$work/first.out")"
[ -x "$root/usr/bin/rollcall-agent" ] || fail "first run did not install the agent"
[ -s "$root/var/lib/rollcall-agent/cert.pem" ] || fail "first run did not enroll the agent"
grep -qx "collectors = \[\"https://$grpc\"\]" "$root/etc/rollcall/agent.toml" || fail "first run did not configure the collector"
grep -q "$token" "$work/first.out" && fail "the token appears in Ansible's output"
pass "first run: installed, configured, enrolled (changed=$changed)"

snapshot() { (cd "$root" && find . -printf '%p %m %u %g %s %T@\n' | sort); }
snapshot >"$work/before"
playbook >"$work/second.out" 2>&1 || fail "second run: $(cat "$work/second.out")"
read -r changed failed <<<"$(changed_of "$work/second.out")"
[ "$changed" = 0 ] && [ "$failed" = 0 ] || fail "second run: changed=$changed failed=$failed: $(cat "$work/second.out")"
snapshot >"$work/after"
diff "$work/before" "$work/after" >"$work/diff" || fail "second run changed files: $(cat "$work/diff")"
pass "second run: changed=0, no file touched"

playbook -e rollcall_agent_state=absent >"$work/absent.out" 2>&1 || fail "absent: $(cat "$work/absent.out")"
[ ! -e "$root/usr/bin/rollcall-agent" ] && [ ! -e "$root/lib/systemd/system/rollcall-agent.service" ] \
  || fail "rollcall_agent_state=absent left the agent"
pass "rollcall_agent_state=absent: no unit, no binary"
echo "ansible.sh: passed in $((SECONDS - started)) s"
