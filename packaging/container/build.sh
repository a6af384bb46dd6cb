#!/usr/bin/env bash
# Builds the rollcall-agent or rollcall-collector image FROM scratch with
# podman (or buildah): stages a context holding the binaries, exactly the
# shared libraries `ldd` lists for them (and the dynamic loader), an
# /etc/passwd and /etc/group with the user rollcall (10001) and an empty
# state directory, then builds packaging/container/Containerfile.<name>.
#   packaging/container/build.sh agent|collector [--bin-dir DIR] [--tag TAG]
# Defaults: --bin-dir target/release, --tag localhost/rollcall-<name>:<version>.
# Nothing is pulled: there is no base image.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
name="${1:?usage: build.sh agent|collector [--bin-dir DIR] [--tag TAG]}"
shift
bin_dir="$repo/target/release"
version="$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' "$repo/Cargo.toml")"
tag="localhost/rollcall-$name:$version"
while [ $# -gt 0 ]; do
  case "$1" in
    --bin-dir) bin_dir="$2"; shift 2 ;;
    --tag) tag="$2"; shift 2 ;;
    *) echo "build.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
case "$name" in
  agent) bins=(rollcall-agent); state=var/lib/rollcall-agent ;;
  collector) bins=(rollcall-collector rollcall); state=var/lib/rollcall ;;
  *) echo "build.sh: agent or collector, not $name" >&2; exit 2 ;;
esac

context="$(mktemp -d)"
trap 'rm -rf "$context"' EXIT
rootfs="$context/rootfs"
mkdir -p "$rootfs/usr/bin" "$rootfs/etc" "$rootfs/tmp" "$context/state"
chmod 1777 "$rootfs/tmp"
for bin in "${bins[@]}"; do
  [ -x "$bin_dir/$bin" ] || { echo "build.sh: no $bin_dir/$bin (cargo build first)" >&2; exit 1; }
  install -m 0755 "$bin_dir/$bin" "$rootfs/usr/bin/$bin"
  # Each library at the path the binary asks for (the loader's absolute
  # path, the others where ldd resolved them), dereferenced.
  ldd "$bin_dir/$bin" | awk '/=> \//{print $3} /^[[:space:]]*\//{print $1}' | while read -r lib; do
    mkdir -p "$rootfs$(dirname "$lib")"
    cp -L "$lib" "$rootfs$lib"
  done
done
cat >"$rootfs/etc/passwd" <<PASSWD
root:x:0:0:root:/root:/sbin/nologin
rollcall:x:10001:10001:Rollcall:/$state:/sbin/nologin
PASSWD
cat >"$rootfs/etc/group" <<GROUP
root:x:0:
rollcall:x:10001:
GROUP

if command -v podman >/dev/null 2>&1; then
  builder=(podman build)
else
  builder=(buildah bud)
fi
# --pull=never: FROM scratch needs no registry, and nothing else may be fetched.
"${builder[@]}" --pull=never ${BUILD_FLAGS:-} -f "$repo/packaging/container/Containerfile.$name" -t "$tag" "$context"
echo "$tag"
