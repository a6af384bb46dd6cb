#!/usr/bin/env bash
# Builds rollcall-agent_VERSION_ARCH.deb and rollcall-collector_VERSION_ARCH.deb
# with dpkg-deb from already built binaries (no debhelper, no cargo-deb: the
# layout is a dozen files, and this runs on any machine with dpkg).
#
#   packaging/deb/build.sh [--bin-dir DIR] [--version VERSION] [--out DIR]
#
#   --bin-dir  where rollcall-agent, rollcall-collector and rollcall are
#              (default target/release; build them first, e.g.
#              cargo build --release -p rollcall-agent -p rollcall-collector --bins,
#              or --profile agent for the size-optimised agent)
#   --version  Debian version (default: the workspace version, revision 1)
#   --out      output directory (default target/deb)
#   --compress xz (default), or gzip (level 1: for tests, where xz of the
#              debug binaries takes minutes)
#
# Prints the paths of the two packages. Files are owned by root in the
# archive; the maintainer scripts beside this file make the rest.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
here="$repo/packaging/deb"
bin_dir="$repo/target/release"
out="$repo/target/deb"
version=""
compress=(-Zxz)
while [ $# -gt 0 ]; do
  case "$1" in
    --bin-dir) bin_dir="$2"; shift 2 ;;
    --version) version="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --compress)
      case "$2" in
        xz) compress=(-Zxz) ;;
        gzip) compress=(-Zgzip -z1) ;;
        *) echo "build.sh: --compress is xz or gzip" >&2; exit 2 ;;
      esac
      shift 2 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "build.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ -z "$version" ]; then
  version="$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' "$repo/Cargo.toml")-1"
fi
for binary in rollcall-agent rollcall-collector rollcall; do
  [ -x "$bin_dir/$binary" ] || { echo "build.sh: $bin_dir/$binary is missing; build it first" >&2; exit 1; }
done
arch="$(dpkg --print-architecture)"
mkdir -p "$out"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# stage PACKAGE: the common part of a package tree.
stage() {
  local tree="$work/$1"
  install -d -m 0755 "$tree/DEBIAN" "$tree/usr/bin" "$tree/lib/systemd/system" \
    "$tree/etc/rollcall" "$tree/usr/share/doc/$1"
  install -m 0644 "$repo/packaging/systemd/$1.service" "$tree/lib/systemd/system/"
  printf 'Rollcall, %s\nLicense: Apache-2.0\nOn Debian systems the full text is in /usr/share/common-licenses/Apache-2.0.\n' \
    "$1" >"$tree/usr/share/doc/$1/copyright"
  chmod 0644 "$tree/usr/share/doc/$1/copyright"
  for script in postinst prerm postrm; do
    install -m 0755 "$here/$1/$script" "$tree/DEBIAN/$script"
  done
}

# control PACKAGE DEPENDS DESCRIPTION CONFFILE…
control() {
  local package="$1" depends="$2" description="$3" tree="$work/$1"
  shift 3
  printf '%s\n' "$@" >"$tree/DEBIAN/conffiles"
  cat >"$tree/DEBIAN/control" <<CONTROL
Package: $package
Version: $version
Architecture: $arch
Maintainer: Rollcall maintainers <rollcall@example.invalid>
Installed-Size: $(du -sk --exclude=DEBIAN "$tree" | cut -f1)
Depends: $depends
Section: admin
Priority: optional
Homepage: https://example.invalid/rollcall
Description: $description
CONTROL
  chmod 0644 "$tree/DEBIAN/control" "$tree/DEBIAN/conffiles"
  # Reproducible: every file dated SOURCE_DATE_EPOCH when it is set.
  if [ -n "${SOURCE_DATE_EPOCH:-}" ]; then
    find "$tree" -exec touch --no-dereference --date="@$SOURCE_DATE_EPOCH" {} +
  fi
  dpkg-deb --root-owner-group "${compress[@]}" --build "$tree" "$out/${package}_${version}_${arch}.deb" >/dev/null
  echo "$out/${package}_${version}_${arch}.deb"
}

# The agent: runs as root (with two capabilities, see its unit); its config
# holds no secret, the key and certificates live in /var/lib/rollcall-agent.
stage rollcall-agent
install -m 0755 "$bin_dir/rollcall-agent" "$work/rollcall-agent/usr/bin/"
# The example's values are the defaults, except the collector list: empty
# means "the collector used at enrollment", which is what a fresh host needs.
sed 's/^collectors = /# collectors = /' "$repo/packaging/config/agent.example.toml" \
  >"$work/rollcall-agent/etc/rollcall/agent.toml"
chmod 0644 "$work/rollcall-agent/etc/rollcall/agent.toml"
install -m 0644 "$repo/packaging/config/agent.example.toml" "$work/rollcall-agent/usr/share/doc/rollcall-agent/"
control rollcall-agent "libc6 (>= 2.34), libgcc-s1" \
  "Rollcall agent: host inventory and health streamed to a Rollcall collector
 Discovers this host's hardware, software, services, sockets and users and
 its health, and streams them over gRPC with mutual TLS to a collector.
 Enroll it with 'rollcall-agent enroll', then enable rollcall-agent.service." \
  /etc/rollcall/agent.toml

# The collector and the CLI: the server runs as the system user rollcall
# (made by postinst); its config may hold database and ITSM credentials, so
# it is root:rollcall 0640 once postinst has run.
stage rollcall-collector
install -m 0755 "$bin_dir/rollcall-collector" "$bin_dir/rollcall" "$work/rollcall-collector/usr/bin/"
sed 's|^data_dir = .*|data_dir = "/var/lib/rollcall"|' "$repo/packaging/config/collector.example.toml" \
  >"$work/rollcall-collector/etc/rollcall/collector.toml"
chmod 0640 "$work/rollcall-collector/etc/rollcall/collector.toml"
install -m 0644 "$repo/packaging/config/collector.example.toml" "$work/rollcall-collector/usr/share/doc/rollcall-collector/"
control rollcall-collector "libc6 (>= 2.34), libgcc-s1, passwd" \
  "Rollcall collector: fleet CMDB, availability, incidents and REST API
 Accepts agent sessions (gRPC, mutual TLS), keeps the CMDB in SQLite or
 PostgreSQL, tracks availability, opens incidents in ITSM tools, and serves
 the REST API, web console and /metrics. Includes the 'rollcall' CLI." \
  /etc/rollcall/collector.toml
