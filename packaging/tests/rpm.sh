#!/usr/bin/env bash
# The RPMs, built from the debug binaries, checked without an RPM system:
#  - rpm -qp: name, version-release, arch of each;
#  - rpm -qpl: exactly the expected files; their modes, owners and config
#    flags (configs %config(noreplace), /var/lib/rollcall owned by rollcall);
#  - rpm -qp --scripts: the collector's %pre makes the user rollcall, both
#    stop and disable at erase and restart on upgrade, none enables the agent;
#    every scriptlet parses (sh -n); requires name shadow-utils and glibc;
#  - installed with `rpm --root` (--noscripts: scriptlets would run
#    chrooted in an empty root) over a root whose passwd has rollcall:
#    binaries run --version, owners resolved in that root; an upgrade to
#    release 2 keeps an edited config; erase removes the files.
# Standalone: bash packaging/tests/rpm.sh
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need rpmbuild rpm
cd "$REPO"

started=$SECONDS
[ -x target/debug/rollcall-agent ] && [ -x target/debug/rollcall-collector ] && [ -x target/debug/rollcall ] \
  || cargo build --quiet -p rollcall-agent -p rollcall-collector --bins

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
version="$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)"
arch="$(rpm --eval '%{_arch}')"
for release in 1 2; do
  bash packaging/rpm/build.sh --bin-dir target/debug --release "$release" --out "$work/rpms" --compress gzip >/dev/null
done
rpmfile() { echo "$work/rpms/rollcall-$1-$version-$2.$arch.rpm"; }
# rpm on Debian warns on every call that it is not the system's manager.
q() { rpm "$@" 2>/dev/null; }
pass "built $(cd "$work/rpms" && echo *.rpm)"

for package in agent collector; do
  header="$(q -qp --qf '%{NAME} %{VERSION}-%{RELEASE} %{ARCH}' "$(rpmfile $package 1)")"
  [ "$header" = "rollcall-$package $version-1 $arch" ] || fail "header of rollcall-$package: $header"
done

# File lists, with mode, owner, group and flags (c: config, n: noreplace).
expect_files() {
  local actual
  actual="$(q -qp --qf '[%{FILEMODES:perms} %{FILEUSERNAME} %{FILEGROUPNAME} %{FILEFLAGS:fflags} %{FILENAMES}\n]' "$1")"
  [ "$actual" = "$2" ] || fail "$(basename "$1") files:
$actual
expected:
$2"
  diff <(q -qpl "$1") <(awk '{ print $NF }' <<<"$2") >/dev/null || fail "rpm -qpl $(basename "$1") differs"
}
expect_files "$(rpmfile agent 1)" "drwxr-xr-x root root  /etc/rollcall
-rw-r--r-- root root cn /etc/rollcall/agent.toml
-rwxr-xr-x root root  /usr/bin/rollcall-agent
-rw-r--r-- root root  /usr/lib/systemd/system/rollcall-agent.service
drwx------ root root  /var/lib/rollcall-agent"
expect_files "$(rpmfile collector 1)" "drwxr-xr-x root root  /etc/rollcall
-rw-r----- root rollcall cn /etc/rollcall/collector.toml
-rwxr-xr-x root root  /usr/bin/rollcall
-rwxr-xr-x root root  /usr/bin/rollcall-collector
-rw-r--r-- root root  /usr/lib/systemd/system/rollcall-collector.service
-rw-r--r-- root root  /usr/lib/sysusers.d/rollcall.conf
drwx------ rollcall rollcall  /var/lib/rollcall"
pass "rpm -qpl: files, modes, owners, config(noreplace)"

agent_scripts="$(q -qp --scripts "$(rpmfile agent 1)")"
collector_scripts="$(q -qp --scripts "$(rpmfile collector 1)")"
grep -q 'useradd -r -g rollcall -d /var/lib/rollcall -s /sbin/nologin' <<<"$collector_scripts" \
  || fail "collector %pre does not make the user rollcall: $collector_scripts"
grep -q '^preinstall scriptlet' <<<"$agent_scripts" && fail "the agent has a %pre"
for unit in agent collector; do
  scripts="$([ $unit = agent ] && echo "$agent_scripts" || echo "$collector_scripts")"
  grep -q "disable --now rollcall-$unit.service" <<<"$scripts" || fail "rollcall-$unit: no disable at erase"
  grep -q "try-restart rollcall-$unit.service" <<<"$scripts" || fail "rollcall-$unit: no restart on upgrade"
done
grep -v '^ *#' <<<"$agent_scripts" | grep -v 'disable --now' | grep -Eq 'enable|preset' && fail "the agent is enabled at install, before enrollment"
for package in agent collector; do
  for tag in PREIN POSTIN PREUN POSTUN; do
    body="$(q -qp --qf "%{$tag}" "$(rpmfile $package 1)")"
    [ "$body" = "(none)" ] && continue
    sh -n <<<"$body" || fail "rollcall-$package $tag does not parse"
  done
done
q -qpR "$(rpmfile collector 1)" | grep -qx 'shadow-utils' || fail "collector does not require shadow-utils"
q -qpR "$(rpmfile agent 1)" | grep -q '^libc.so.6(GLIBC_2.34)(64bit)$' || fail "agent requires no glibc version"
pass "rpm -qp --scripts: user made in %pre, disable at erase, restart on upgrade, scriptlets parse; requires"

# Install into a throwaway root whose accounts already have rollcall, as
# %pre would have left them.
root="$work/root"
mkdir -p "$root/etc"
printf 'root:x:0:0:root:/root:/bin/sh\nrollcall:x:990:990:Rollcall collector:/var/lib/rollcall:/sbin/nologin\n' >"$root/etc/passwd"
printf 'root:x:0:\nrollcall:x:990:\n' >"$root/etc/group"
q --root "$root" --initdb
q --root "$root" -i --nodeps --noscripts "$(rpmfile agent 1)" "$(rpmfile collector 1)" || fail "rpm -i into the root"
for binary in rollcall-agent rollcall-collector rollcall; do
  line="$("$root/usr/bin/$binary" --version)"
  [[ "$line" == "$binary $version (commit "* ]] || fail "$binary --version printed: $line"
done
[ "$(stat -c '%a %u %g' "$root/var/lib/rollcall")" = "700 990 990" ] || fail "/var/lib/rollcall: $(stat -c '%a %u %g' "$root/var/lib/rollcall")"
[ "$(stat -c '%a %u %g' "$root/etc/rollcall/collector.toml")" = "640 0 990" ] || fail "collector.toml: $(stat -c '%a %u %g' "$root/etc/rollcall/collector.toml")"
pass "installed into a root: binaries run --version, owners from its passwd"
echo '# edited by the operator' >>"$root/etc/rollcall/agent.toml"
echo database >"$root/var/lib/rollcall/rollcall.db"
q --root "$root" -U --nodeps --noscripts "$(rpmfile agent 2)" "$(rpmfile collector 2)" || fail "rpm -U to release 2"
[ "$(q --root "$root" -q rollcall-agent)" = "rollcall-agent-$version-2.$arch" ] || fail "not upgraded: $(q --root "$root" -q rollcall-agent)"
grep -qx '# edited by the operator' "$root/etc/rollcall/agent.toml" || fail "upgrade lost the edit of agent.toml"
[ -f "$root/var/lib/rollcall/rollcall.db" ] || fail "upgrade lost the collector's state"
pass "upgrade to release 2 kept the edited config and the state"
q --root "$root" -e --nodeps --noscripts rollcall-agent rollcall-collector || fail "rpm -e"
for path in /usr/bin/rollcall-agent /usr/bin/rollcall-collector /usr/bin/rollcall /usr/lib/systemd/system/rollcall-agent.service; do
  [ ! -e "$root$path" ] || fail "erase left $path"
done
[ -f "$root/etc/rollcall/agent.toml.rpmsave" ] || fail "erase did not keep the edited agent.toml as .rpmsave"
pass "erase removed the files, kept the edited config as .rpmsave"
echo "rpm.sh: passed in $((SECONDS - started)) s"
