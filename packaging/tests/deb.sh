#!/usr/bin/env bash
# The Debian packages, built from the debug binaries and installed into a
# throwaway root with `dpkg --root` (maintainer scripts run outside it with
# DPKG_ROOT set: --force-script-chrootless):
#  1. install 0.1.0-1 of both: binaries run --version; modes and owners of
#     binaries, units, conffiles and state directories; the system user
#     rollcall in the root's passwd and group (and not on this machine);
#     the shipped configs parse; systemd-analyze verify on the installed units;
#  2. edit both conffiles, write agent and collector state, upgrade to
#     0.1.0-2: edits and state kept, no .dpkg-* leftovers, same user ids;
#  3. remove the agent: state and conffile stay; purge both: binaries, units,
#     conffiles, state and /etc/rollcall gone (the user stays, Debian policy).
# Standalone: bash packaging/tests/deb.sh
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need dpkg-deb dpkg
need systemd-analyze systemd
need useradd passwd
cd "$REPO"

started=$SECONDS
[ -x target/debug/rollcall-agent ] && [ -x target/debug/rollcall-collector ] && [ -x target/debug/rollcall ] \
  || cargo build --quiet -p rollcall-agent -p rollcall-collector --bins

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
root="$work/root"
arch="$(dpkg --print-architecture)"
version="$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)"
for revision in 1 2; do
  bash packaging/deb/build.sh --bin-dir target/debug --version "$version-$revision" \
    --out "$work/debs" --compress gzip >/dev/null
done
deb() { echo "$work/debs/rollcall-$1_$version-$2_$arch.deb"; }
pass "built $(cd "$work/debs" && echo *.deb)"

make_dpkg_root "$root"
host_passwd="$(sha256sum /etc/passwd /etc/group)"

in_root() {
  dpkg --root="$root" --force-script-chrootless "$@" </dev/null
}
status_of() {
  dpkg-query --admindir="$root/var/lib/dpkg" -W -f='${db:Status-Abbrev}${Version}' "$1" 2>/dev/null || true
}
# expect_stat PATH MODE OWNER GROUP (numeric ids)
expect_stat() {
  local actual
  actual="$(stat -c '%a %u %g' "$root$1")" || fail "$1 is missing"
  [ "$actual" = "$2 $3 $4" ] || fail "$1 is $actual, expected $2 $3 $4"
}

# 1. Install.
in_root -i "$(deb agent 1)" "$(deb collector 1)" >"$work/install.log" 2>&1 \
  || fail "dpkg -i: $(cat "$work/install.log")"
! grep -qi 'warning\|error' "$work/install.log" || fail "dpkg -i complained: $(cat "$work/install.log")"
for package in agent collector; do
  [ "$(status_of rollcall-$package)" = "ii $version-1" ] || fail "rollcall-$package is $(status_of rollcall-$package)"
done
pass "installed rollcall-agent and rollcall-collector $version-1"

for binary in rollcall-agent rollcall-collector rollcall; do
  line="$("$root/usr/bin/$binary" --version)"
  [[ "$line" =~ ^$binary\ ${version//./\\.}\ \(commit\ ([0-9a-f]{12}|unknown),\ built\ [0-9T:Z-]{20}\)$ ]] \
    || fail "$binary --version printed: $line"
  pass "$line"
done

grep -q '^rollcall:' /etc/passwd && [ "$(sha256sum /etc/passwd /etc/group)" != "$host_passwd" ] \
  && fail "postinst changed this machine's /etc/passwd, not the root's"
entry="$(grep '^rollcall:' "$root/etc/passwd")" || fail "no user rollcall in the root's /etc/passwd"
IFS=: read -r _ _ uid gid _ home shell <<<"$entry"
[ "$uid" -gt 0 ] && [ "$uid" -lt 1000 ] || fail "rollcall uid $uid is not a system uid"
[ "$home" = /var/lib/rollcall ] && [ "$shell" = /usr/sbin/nologin ] || fail "rollcall entry: $entry"
grep -q "^rollcall:x:$gid:" "$root/etc/group" || fail "no group rollcall ($gid) in the root's /etc/group"
pass "system user rollcall ($uid:$gid), home /var/lib/rollcall, no login shell"

expect_stat /usr/bin/rollcall-agent 755 0 0
expect_stat /usr/bin/rollcall-collector 755 0 0
expect_stat /usr/bin/rollcall 755 0 0
expect_stat /lib/systemd/system/rollcall-agent.service 644 0 0
expect_stat /lib/systemd/system/rollcall-collector.service 644 0 0
expect_stat /etc/rollcall 755 0 0
expect_stat /etc/rollcall/agent.toml 644 0 0
expect_stat /etc/rollcall/collector.toml 640 0 "$gid"
expect_stat /var/lib/rollcall-agent 700 0 0
expect_stat /var/lib/rollcall 700 "$uid" "$gid"
pass "modes and owners"

conffiles="$(dpkg-query --admindir="$root/var/lib/dpkg" -W -f='${Conffiles}\n' rollcall-agent rollcall-collector)"
grep -q '^ /etc/rollcall/agent.toml [0-9a-f]\{32\}$' <<<"$conffiles" || fail "agent.toml is not a conffile: $conffiles"
grep -q '^ /etc/rollcall/collector.toml [0-9a-f]\{32\}$' <<<"$conffiles" || fail "collector.toml is not a conffile: $conffiles"
pass "agent.toml and collector.toml are conffiles"

"$root/usr/bin/rollcall-collector" check-config --config "$root/etc/rollcall/collector.toml" >"$work/check.out" 2>&1 \
  || fail "collector.toml does not load: $(cat "$work/check.out")"
grep -q '/var/lib/rollcall' "$work/check.out" || fail "collector.toml's data_dir is not /var/lib/rollcall: $(cat "$work/check.out")"
# The agent loads its config before any command; a stop for a pid that does
# not exist fails after loading (exit 1), a bad config exits 2.
set +e
ROLLCALL_STATE_DIR="$work/agent-state" "$root/usr/bin/rollcall-agent" --config "$root/etc/rollcall/agent.toml" \
  stop --reason test --back-within 1s --pid 2147483646 >/dev/null 2>"$work/agent.err"
agent_exit=$?
set -e
[ "$agent_exit" != 2 ] || fail "agent.toml does not load: $(cat "$work/agent.err")"
pass "the shipped agent.toml and collector.toml load"

stage_unit_root "$root"
verify_units "$root" rollcall-agent.service rollcall-collector.service

# 2. Upgrade, keeping an operator's edits and the state.
echo '# edited by the operator' >>"$root/etc/rollcall/agent.toml"
sed -i 's/^grpc_listen = .*/grpc_listen = "0.0.0.0:14443"/' "$root/etc/rollcall/collector.toml"
echo agent-key >"$root/var/lib/rollcall-agent/agent.key"
echo database >"$root/var/lib/rollcall/rollcall.db"
in_root -i "$(deb agent 2)" "$(deb collector 2)" >"$work/upgrade.log" 2>&1 \
  || fail "upgrade: $(cat "$work/upgrade.log")"
for package in agent collector; do
  [ "$(status_of rollcall-$package)" = "ii $version-2" ] || fail "rollcall-$package is $(status_of rollcall-$package) after upgrade"
done
grep -qx '# edited by the operator' "$root/etc/rollcall/agent.toml" || fail "upgrade lost the edit of agent.toml"
grep -qx 'grpc_listen = "0.0.0.0:14443"' "$root/etc/rollcall/collector.toml" || fail "upgrade lost the edit of collector.toml"
[ "$(cat "$root/var/lib/rollcall-agent/agent.key")" = agent-key ] || fail "upgrade lost the agent's state"
[ "$(cat "$root/var/lib/rollcall/rollcall.db")" = database ] || fail "upgrade lost the collector's state"
leftovers="$(find "$root/etc" -name '*.dpkg-*')"
[ -z "$leftovers" ] || fail "upgrade left $leftovers"
[ "$(grep '^rollcall:' "$root/etc/passwd")" = "$entry" ] || fail "upgrade changed the user: $(grep '^rollcall:' "$root/etc/passwd")"
[ "$(grep -c '^rollcall:' "$root/etc/passwd")" = 1 ] || fail "upgrade added a second user rollcall"
expect_stat /etc/rollcall/collector.toml 640 0 "$gid"
expect_stat /var/lib/rollcall 700 "$uid" "$gid"
pass "upgrade to $version-2 kept both edited conffiles, the state and the user"

# 3. Remove, then purge.
in_root -r rollcall-agent >"$work/remove.log" 2>&1 || fail "remove: $(cat "$work/remove.log")"
[ ! -e "$root/usr/bin/rollcall-agent" ] || fail "remove left the agent binary"
[ -f "$root/var/lib/rollcall-agent/agent.key" ] || fail "remove deleted the agent's state"
[ -f "$root/etc/rollcall/agent.toml" ] || fail "remove deleted agent.toml"
pass "remove kept the agent's state and config"
in_root -P rollcall-agent rollcall-collector >"$work/purge.log" 2>&1 || fail "purge: $(cat "$work/purge.log")"
for path in /usr/bin/rollcall-agent /usr/bin/rollcall-collector /usr/bin/rollcall \
  /lib/systemd/system/rollcall-agent.service /lib/systemd/system/rollcall-collector.service \
  /etc/rollcall /var/lib/rollcall-agent /var/lib/rollcall /usr/share/doc/rollcall-agent /usr/share/doc/rollcall-collector; do
  [ ! -e "$root$path" ] || fail "purge left $path"
done
for package in agent collector; do
  [ -z "$(status_of rollcall-$package)" ] || [ "$(status_of rollcall-$package)" = "un " ] \
    || fail "rollcall-$package is $(status_of rollcall-$package) after purge"
done
grep -q '^rollcall:' "$root/etc/passwd" || fail "purge removed the user (policy: keep it)"
pass "purge removed binaries, units, conffiles and state; the user rollcall stays"
echo "deb.sh: passed in $((SECONDS - started)) s"
