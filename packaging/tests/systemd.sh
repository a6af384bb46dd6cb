#!/usr/bin/env bash
# The unit files in packaging/systemd: `systemd-analyze verify` passes with
# no warning, and `systemd-analyze security` (offline) keeps each unit at or
# below the exposure recorded in docs/deployment.md. Uses the debug binaries
# (cargo build if missing). Standalone: bash packaging/tests/systemd.sh
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need systemd-analyze systemd
cd "$REPO"

started=$SECONDS
[ -x target/debug/rollcall-agent ] && [ -x target/debug/rollcall-collector ] \
  || cargo build --quiet -p rollcall-agent -p rollcall-collector --bins

root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
stage_unit_root "$root"
install -D -m 0755 target/debug/rollcall-agent "$root/usr/bin/rollcall-agent"
install -D -m 0755 target/debug/rollcall-collector "$root/usr/bin/rollcall-collector"
install -m 0644 packaging/systemd/rollcall-agent.service packaging/systemd/rollcall-collector.service \
  "$root/usr/lib/systemd/system/"
verify_units "$root" rollcall-agent.service rollcall-collector.service

# The ceilings: the scores of the committed units (2.5 and 1.1), so a
# weakening fails here; raise them only with a reason in docs/deployment.md.
for unit_ceiling in rollcall-agent:2.5 rollcall-collector:1.1; do
  unit="${unit_ceiling%%:*}" ceiling="${unit_ceiling##*:}"
  score="$(security_score "$root" "$unit.service")"
  [ -n "$score" ] || fail "systemd-analyze security gave no score for $unit"
  awk -v s="$score" -v c="$ceiling" 'BEGIN { exit !(s <= c) }' \
    || fail "$unit.service exposure $score is above $ceiling"
  pass "$unit.service exposure $score (ceiling $ceiling)"
done

# The collector runs as its own user with no capability; the agent keeps
# only the two it needs to read other users' /proc/<pid>/fd.
grep -qx 'User=rollcall' packaging/systemd/rollcall-collector.service || fail "collector not under User=rollcall"
grep -qx 'CapabilityBoundingSet=' packaging/systemd/rollcall-collector.service || fail "collector keeps capabilities"
grep -qx 'CapabilityBoundingSet=CAP_DAC_READ_SEARCH CAP_SYS_PTRACE' packaging/systemd/rollcall-agent.service \
  || fail "agent capability set changed"
for unit in packaging/systemd/*.service; do
  for directive in ProtectSystem=strict NoNewPrivileges=yes PrivateTmp=yes; do
    grep -qx "$directive" "$unit" || fail "$unit lacks $directive"
  done
  grep -q '^ProtectHome=' "$unit" || fail "$unit lacks ProtectHome="
  grep -q '^StateDirectory=' "$unit" || fail "$unit lacks StateDirectory="
done
pass "hardening directives present"
echo "systemd.sh: passed in $((SECONDS - started)) s"
