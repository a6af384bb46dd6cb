#!/usr/bin/env bash
# Installs the Rollcall agent on this host, enrolls it and starts it:
#
#   install.sh --package rollcall-agent_0.1.0-1_amd64.deb|URL [--sha256 HEX] \
#              --collector https://collector.example:4443 \
#              --token rcenr_… --ca-fingerprint <sha256 of the collector CA>
#   install.sh --uninstall [--purge]
#
#   --package FILE|URL  the rollcall-agent .deb (Debian, Ubuntu) or .rpm
#                       (RHEL, Fedora, SUSE); a URL is fetched with curl or wget
#   --sha256 HEX        the package's expected SHA-256 (checked before install)
#   --collector URL     collector endpoint, written to /etc/rollcall/agent.toml
#   --token TOKEN       enrollment token (or ROLLCALL_ENROLL_TOKEN); needed only
#                       while the agent is not enrolled yet
#   --ca-fingerprint F  SHA-256 fingerprint of the collector's CA, pinned at enrollment
#   --no-start          install, configure and enroll, but leave the service alone
#   --uninstall         stop, disable and remove the agent (config and state kept)
#   --purge             with --uninstall: delete its config and state too
#   --root DIR          work on the Debian system tree under DIR rather than /
#                       (dpkg --root; no systemd there; for tests and images)
#
# Idempotent: each step is skipped when it is already done (same package
# version installed, same config, already enrolled, service enabled and
# running); a run that changes nothing says "nothing to change". Refuses,
# before changing anything, a system that is not Linux, has neither dpkg nor
# rpm, or does not run systemd (unless --no-start or --root).
set -euo pipefail

package="" sha256="" collector="" ca_fingerprint="" root="" token="${ROLLCALL_ENROLL_TOKEN:-}"
uninstall=0 purge=0 start=1
while [ $# -gt 0 ]; do
  case "$1" in
    --package) package="$2"; shift 2 ;;
    --sha256) sha256="$2"; shift 2 ;;
    --collector) collector="$2"; shift 2 ;;
    --token) token="$2"; shift 2 ;;
    --ca-fingerprint) ca_fingerprint="$2"; shift 2 ;;
    --no-start) start=0; shift ;;
    --uninstall) uninstall=1; shift ;;
    --purge) purge=1; shift ;;
    --root) root="$(cd "$2" && pwd)"; shift 2 ;;
    -h|--help) sed -n '2,29p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

log() { echo "install.sh: $*"; }
die() { echo "install.sh: error: $*" >&2; exit 1; }
changed=0
did() { changed=1; log "$*"; }

config="$root/etc/rollcall/agent.toml"
state="$root/var/lib/rollcall-agent"
unit=rollcall-agent.service

# --- The system ----------------------------------------------------------
[ "$(uname -s)" = Linux ] || die "unsupported system $(uname -s): the Rollcall agent runs on Linux only"
[ "$(id -u)" = 0 ] || die "run as root: the agent is installed as a system service"
if command -v dpkg >/dev/null 2>&1 && command -v dpkg-deb >/dev/null 2>&1; then
  manager=dpkg
elif command -v rpm >/dev/null 2>&1; then
  manager=rpm
else
  die "unsupported system: no dpkg (Debian, Ubuntu) and no rpm (RHEL, Fedora, SUSE) to install the package with"
fi
if [ -n "$root" ]; then
  [ "$manager" = dpkg ] || die "--root needs dpkg"
  start=0
fi
systemd=0
if [ -z "$root" ] && [ -d /run/systemd/system ]; then systemd=1; fi
if [ "$start" = 1 ] && [ "$systemd" = 0 ]; then
  die "unsupported system: systemd is not running, and the agent runs as a systemd service (--no-start installs and enrolls without starting it)"
fi

dpkg_opts=()
[ -n "$root" ] && dpkg_opts=(--root="$root" --force-script-chrootless)
installed_version() {
  if [ "$manager" = dpkg ]; then
    dpkg-query --admindir="$root/var/lib/dpkg" -W -f='${db:Status-Abbrev}${Version}' rollcall-agent 2>/dev/null \
      | sed -n 's/^ii //p'
  else
    rpm -q --qf '%{VERSION}-%{RELEASE}' rollcall-agent 2>/dev/null || true
  fi
}

# --- Uninstall -----------------------------------------------------------
if [ "$uninstall" = 1 ]; then
  if [ -n "$(installed_version)" ] || { [ "$manager" = dpkg ] && [ "$purge" = 1 ] \
      && dpkg-query --admindir="$root/var/lib/dpkg" -W rollcall-agent >/dev/null 2>&1; }; then
    [ "$systemd" = 1 ] && systemctl disable --now "$unit" >/dev/null 2>&1 || true
    if [ "$manager" = dpkg ]; then
      dpkg "${dpkg_opts[@]}" "$([ "$purge" = 1 ] && echo --purge || echo --remove)" rollcall-agent >/dev/null
    else
      rpm -e rollcall-agent
      [ "$purge" = 1 ] && rm -rf "$state" "$config" "$config.rpmsave"
    fi
    did "removed rollcall-agent$([ "$purge" = 1 ] && echo ", its config and its state")"
  else
    log "rollcall-agent is not installed: nothing to change"
  fi
  exit 0
fi

# --- Install -------------------------------------------------------------
[ -n "$package" ] || die "--package FILE|URL is required (see --help)"
[ -n "$collector" ] || die "--collector URL is required"
case "$collector" in https://*) ;; *) die "--collector must be an https:// URL (agents speak gRPC over mutual TLS)" ;; esac
[ -n "$ca_fingerprint" ] || die "--ca-fingerprint is required: it is what makes the first connection trustworthy"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
case "$package" in
  https://*|http://*)
    file="$work/$(basename "${package%%\?*}")"
    if command -v curl >/dev/null 2>&1; then
      curl --fail --silent --show-error --location --output "$file" "$package" || die "cannot download $package"
    elif command -v wget >/dev/null 2>&1; then
      wget --quiet --output-document="$file" "$package" || die "cannot download $package"
    else
      die "neither curl nor wget to download $package"
    fi ;;
  *)
    file="$package"
    [ -f "$file" ] || die "no package file $file" ;;
esac
if [ -n "$sha256" ]; then
  echo "$sha256  $file" | sha256sum --check --quiet >/dev/null 2>&1 || die "$package does not have SHA-256 $sha256"
fi
if [ "$manager" = dpkg ]; then
  name="$(dpkg-deb -f "$file" Package 2>/dev/null)" || die "$package is not a .deb (this system installs with dpkg)"
  version="$(dpkg-deb -f "$file" Version)"
  package_arch="$(dpkg-deb -f "$file" Architecture)"
  [ "$package_arch" = "$(dpkg --print-architecture)" ] || [ "$package_arch" = all ] \
    || die "$package is for $package_arch, this system is $(dpkg --print-architecture)"
else
  name="$(rpm -qp --qf '%{NAME}' "$file" 2>/dev/null)" || die "$package is not an .rpm (this system installs with rpm)"
  version="$(rpm -qp --qf '%{VERSION}-%{RELEASE}' "$file" 2>/dev/null)"
fi
[ "$name" = rollcall-agent ] || die "$package is $name, not rollcall-agent"

package_changed=0
if [ "$(installed_version)" = "$version" ]; then
  log "rollcall-agent $version is installed"
else
  if [ "$manager" = dpkg ]; then
    dpkg "${dpkg_opts[@]}" --install "$file" >"$work/dpkg.log" 2>&1 </dev/null \
      || die "dpkg --install failed: $(cat "$work/dpkg.log")"
  else
    rpm -U "$file" || die "rpm -U failed"
  fi
  package_changed=1
  did "installed rollcall-agent $version"
fi

# The collector in the config: the first collectors line (commented or not)
# is replaced, or one is added; the rest of the operator's file is kept.
[ -f "$config" ] || die "$config is missing after the package install"
awk -v line="collectors = [\"$collector\"]" '
  !done && /^#? *collectors *=/ { print line; done = 1; next }
  { print }
  END { if (!done) print line }
' "$config" >"$work/agent.toml"
config_changed=0
if cmp -s "$work/agent.toml" "$config"; then
  log "$config names $collector"
else
  chmod --reference="$config" "$work/agent.toml"
  cp -p "$work/agent.toml" "$config.new" && mv "$config.new" "$config"
  config_changed=1
  did "wrote collectors = [\"$collector\"] to $config"
fi

enrolled_now=0
# Enrolled, as the agent sees it (enroll::load_credentials): agent.json,
# cert.pem and key.pem in the state directory.
if [ -s "$state/agent.json" ] && [ -s "$state/cert.pem" ] && [ -s "$state/key.pem" ]; then
  log "the agent is enrolled ($state/cert.pem)"
else
  [ -n "$token" ] || die "the agent is not enrolled: --token (or ROLLCALL_ENROLL_TOKEN) is required"
  # The token through the environment, not the command line (ps shows that).
  # Under --root the config's state_dir (/var/lib/rollcall-agent) is the
  # root's; elsewhere the config decides.
  environment=(ROLLCALL_ENROLL_TOKEN="$token")
  [ -n "$root" ] && environment+=(ROLLCALL_STATE_DIR="$state")
  env "${environment[@]}" "$root/usr/bin/rollcall-agent" --config "$config" \
    enroll --collector "$collector" --ca-fingerprint "$ca_fingerprint" >"$work/enroll.log" 2>&1 \
    || die "enrollment failed: $(cat "$work/enroll.log")"
  enrolled_now=1
  did "enrolled with $collector"
fi

if [ "$start" = 1 ]; then
  if ! systemctl is-enabled --quiet "$unit" 2>/dev/null; then
    systemctl enable --quiet "$unit"
    did "enabled $unit"
  fi
  if [ $((package_changed + config_changed + enrolled_now)) -gt 0 ] && systemctl is-active --quiet "$unit"; then
    systemctl restart "$unit"
    did "restarted $unit"
  elif ! systemctl is-active --quiet "$unit"; then
    systemctl start "$unit"
    did "started $unit"
  else
    log "$unit is running"
  fi
else
  log "not starting $unit ($([ -n "$root" ] && echo "--root" || echo "--no-start"))"
fi
[ "$changed" = 1 ] || log "nothing to change"
