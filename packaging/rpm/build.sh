#!/usr/bin/env bash
# Builds rollcall-agent and rollcall-collector RPMs with rpmbuild from
# already built binaries (rollcall.spec beside this file).
#
#   packaging/rpm/build.sh [--bin-dir DIR] [--version VERSION] [--release N] [--out DIR] [--compress xz|gzip]
#
#   --bin-dir   where rollcall-agent, rollcall-collector and rollcall are (default target/release)
#   --version   package version (default: the workspace version)
#   --release   package release (default 1)
#   --out       output directory (default target/rpm)
#   --compress  payload compression: xz (default) or gzip (level 1, for tests)
#
# Prints the paths of the two packages. Needs rpmbuild (Debian: apt-get install rpm).
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
bin_dir="$repo/target/release"
out="$repo/target/rpm"
version=""
release=1
payload=w6.xzdio
while [ $# -gt 0 ]; do
  case "$1" in
    --bin-dir) bin_dir="$2"; shift 2 ;;
    --version) version="$2"; shift 2 ;;
    --release) release="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --compress)
      case "$2" in
        xz) payload=w6.xzdio ;;
        gzip) payload=w1.gzdio ;;
        *) echo "build.sh: --compress is xz or gzip" >&2; exit 2 ;;
      esac
      shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "build.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -n "$version" ] || version="$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' "$repo/Cargo.toml")"
for binary in rollcall-agent rollcall-collector rollcall; do
  [ -x "$bin_dir/$binary" ] || { echo "build.sh: $bin_dir/$binary is missing; build it first" >&2; exit 1; }
done
command -v rpmbuild >/dev/null || { echo "build.sh: rpmbuild is missing (apt-get install rpm)" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
sources="$work/SOURCES"
mkdir -p "$sources" "$out"
cp "$bin_dir/rollcall-agent" "$bin_dir/rollcall-collector" "$bin_dir/rollcall" "$sources/"
cp "$repo/packaging/systemd/rollcall-agent.service" "$repo/packaging/systemd/rollcall-collector.service" "$sources/"
# The same shipped configs as the .debs (packaging/deb/build.sh).
sed 's/^collectors = /# collectors = /' "$repo/packaging/config/agent.example.toml" >"$sources/agent.toml"
sed 's|^data_dir = .*|data_dir = "/var/lib/rollcall"|' "$repo/packaging/config/collector.example.toml" >"$sources/collector.toml"
echo 'u rollcall - "Rollcall collector" /var/lib/rollcall /sbin/nologin' >"$sources/rollcall.sysusers"

rpmbuild -bb --quiet \
  --define "_topdir $work" \
  --define "_sourcedir $sources" \
  --define "_rpmdir $out" \
  --define "_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm" \
  --define "_binary_payload $payload" \
  --define "rollcall_version $version" \
  --define "rollcall_release $release" \
  ${SOURCE_DATE_EPOCH:+--define "use_source_date_epoch_as_buildtime 1"} \
  "$repo/packaging/rpm/rollcall.spec" >"$work/rpmbuild.log" 2>&1 \
  || { cat "$work/rpmbuild.log" >&2; exit 1; }
arch="$(rpm --eval '%{_arch}')"
echo "$out/rollcall-agent-$version-$release.$arch.rpm"
echo "$out/rollcall-collector-$version-$release.$arch.rpm"
