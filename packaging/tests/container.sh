#!/usr/bin/env bash
# The container images, built offline FROM scratch from the debug binaries
# (packaging/container/build.sh), then checked:
#  1. each image holds exactly: its binaries, the libraries ldd lists for
#     them, /etc/passwd and /etc/group, /tmp and the state directory (no
#     shell, no package manager, nothing else);
#  2. its configured user is 10001 (non-root), entrypoint and command;
#  3. each binary runs in its image (as that user): `--version` (the CLI
#     too), the same line as the binary it was built from;
#  4. the collector image serves: `serve` as 10001 creates its CA and
#     SQLite database in the image's state directory and logs its start.
# Running needs what this machine lacks for podman's defaults: crun refuses
# the hybrid cgroup v1/v2 layout (runc is used), and without CAP_SYS_RESOURCE
# the default rlimits cannot be raised (nofile and nproc are set to 1024).
# Standalone: bash packaging/tests/container.sh
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need podman podman
need runc runc
cd "$REPO"

[ -x target/debug/rollcall-agent ] && [ -x target/debug/rollcall-collector ] && [ -x target/debug/rollcall ] \
  || cargo build --quiet -p rollcall-agent -p rollcall-collector --bins

run=(podman run --rm --runtime runc --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
work="$(mktemp -d)"
trap 'rm -rf "$work"; podman rmi -f localhost/rollcall-agent:ci localhost/rollcall-collector:ci >/dev/null 2>&1 || true' EXIT

for name in agent collector; do
  tag="localhost/rollcall-$name:ci"
  build_started=$SECONDS
  bash packaging/container/build.sh "$name" --bin-dir target/debug --tag "$tag" >"$work/build-$name.log" 2>&1 \
    || { cat "$work/build-$name.log" >&2; fail "build of $name"; }
  grep -q "STEP 1/.*FROM scratch" "$work/build-$name.log" || fail "$name: not FROM scratch"
  pass "built $tag FROM scratch in $((SECONDS - build_started)) s"

  case "$name" in
    agent) bins=(rollcall-agent); state=var/lib/rollcall-agent; cmd='[run]' ;;
    collector) bins=(rollcall-collector rollcall); state=var/lib/rollcall; cmd='[serve]' ;;
  esac

  # 1. The files: export the image's file system and compare with the list
  # expected from ldd.
  container="$(podman create "$tag")"
  podman export "$container" | tar -t | sed 's|^\./||; s|/$||' | grep -v '^$' | sort -u >"$work/$name.files"
  podman rm "$container" >/dev/null
  {
    echo etc; echo etc/passwd; echo etc/group; echo tmp; echo usr; echo usr/bin
    echo var; echo var/lib; echo "$state"
    for bin in "${bins[@]}"; do
      echo "usr/bin/$bin"
      ldd "target/debug/$bin" | awk '/=> \//{print $3} /^[[:space:]]*\//{print $1}' | while read -r lib; do
        dir="$(dirname "$lib")"
        while [ "$dir" != / ]; do echo "${dir#/}"; dir="$(dirname "$dir")"; done
        echo "${lib#/}"
      done
    done
  } | sort -u >"$work/$name.expected"
  # Podman adds mount points for /etc/hosts, /etc/resolv.conf, /run … to a
  # container (not to the image): leave out the ones that are empty files.
  diff <(grep -vxE 'dev|proc|sys|run(/.*)?|etc/(hosts|hostname|resolv.conf)|run/.containerenv' "$work/$name.files") \
    "$work/$name.expected" >"$work/$name.diff" \
    || { cat "$work/$name.diff" >&2; fail "$name image files differ from binaries + ldd (< image, > expected)"; }
  pass "$name image: $(wc -l <"$work/$name.expected") paths, only the binaries, their libraries, passwd, group, /tmp, /$state"

  # 2. The configuration.
  user="$(podman image inspect --format '{{.Config.User}}' "$tag")"
  [ "$user" = "10001:10001" ] || fail "$name runs as '$user', not 10001:10001"
  entrypoint="$(podman image inspect --format '{{.Config.Entrypoint}} {{.Config.Cmd}}' "$tag")"
  [ "$entrypoint" = "[/usr/bin/${bins[0]}] $cmd" ] || fail "$name entrypoint: $entrypoint"
  pass "$name image: user 10001:10001, entrypoint $entrypoint"

  # 3. Each binary runs in the image (podman runs it as the image's user).
  for bin in "${bins[@]}"; do
    line="$("${run[@]}" --entrypoint "/usr/bin/$bin" "$tag" --version)" || fail "$bin --version in $tag"
    [ "$line" = "$("target/debug/$bin" --version)" ] || fail "$bin in $tag says '$line'"
    pass "$bin in $tag: $line"
  done
done

# 4. The collector serves from its image as the non-root user: the state
# directory is writable (CA, database), both listeners start.
container="$("${run[@]/--rm/-d}" localhost/rollcall-collector:ci)"
for _ in $(seq 1 30); do
  podman logs "$container" 2>&1 | grep -q "collector started" && break
  sleep 1
done
logs="$(podman logs "$container" 2>&1)"
podman rm -f "$container" >/dev/null
grep -q "collector started" <<<"$logs" || { echo "$logs" >&2; fail "collector did not start in its image"; }
grep -q "ca fingerprint" <<<"$logs" || fail "collector made no CA in its image"
pass "rollcall-collector serve in its image as 10001: CA and database made in /var/lib/rollcall, listeners up"
