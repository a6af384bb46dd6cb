#!/usr/bin/env bash
# The Kubernetes manifests (packaging/kubernetes/*.yaml), offline:
#  1. kubernetes-validate --strict: every resource against the bundled
#     OpenAPI schema of Kubernetes (unknown fields fail);
#  2. what the issue asks of them: the agent DaemonSet with hostPID and
#     hostNetwork, /proc, /sys, /etc, /var/lib/dpkg, /var/lib/rpm as
#     read-only hostPath mounts under /host with root = "/host"; the
#     collector Deployment non-root with a read-only root file system, its
#     database URL from a Secret, liveness and readiness on /healthz; a
#     Service for both ports; images are the ones container.sh builds;
#  3. the configs in the ConfigMaps are accepted by the binaries
#     (rollcall-collector check-config; the agent's through the test
#     binary's own parser, rollcall-agent inventory --config), and the
#     arguments the pods pass are accepted by their CLI.
# Standalone: bash packaging/tests/kubernetes.sh
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need kubernetes-validate "kubernetes-validate (pip)"
cd "$REPO"

[ -x target/debug/rollcall-agent ] && [ -x target/debug/rollcall-collector ] \
  || cargo build --quiet -p rollcall-agent -p rollcall-collector --bins

# 1. The schema.
output="$(kubernetes-validate --strict packaging/kubernetes/*.yaml 2>&1)" \
  || { echo "$output" >&2; fail "kubernetes-validate"; }
if grep -qv '^INFO .* passed for resource' <<<"$output"; then
  echo "$output" >&2
  fail "kubernetes-validate printed more than passes"
fi
pass "kubernetes-validate --strict: $(grep -c passed <<<"$output") resources ($(kubernetes-validate --version 2>&1 | tail -1))"

# 2. and 3.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 - "$work" packaging/kubernetes/*.yaml <<'PY'
import sys, yaml
work, files = sys.argv[1], sys.argv[2:]
docs = {}
for f in files:
    for d in yaml.safe_load_all(open(f)):
        docs[(d["kind"], d["metadata"]["name"])] = d
def check(ok, what):
    if not ok:
        sys.exit(f"FAIL: {what}")
    print(f"ok: {what}")

ds = docs[("DaemonSet", "rollcall-agent")]["spec"]["template"]["spec"]
check(ds.get("hostPID") is True and ds.get("hostNetwork") is True, "agent DaemonSet: hostPID and hostNetwork")
paths = {v["name"]: v["hostPath"]["path"] for v in ds["volumes"] if "hostPath" in v}
for pod in ds["initContainers"] + ds["containers"]:
    mounts = {m["name"]: m for m in pod["volumeMounts"]}
    for host in ["/proc", "/sys", "/etc", "/var/lib/dpkg", "/var/lib/rpm"]:
        names = [n for n, p in paths.items() if p == host]
        check(len(names) == 1 and mounts[names[0]]["mountPath"] == "/host" + host
              and mounts[names[0]].get("readOnly") is True,
              f"agent {pod['name']}: host {host} read-only at /host{host}")
    sc = pod["securityContext"]
    check(sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True
          and sc["capabilities"]["drop"] == ["ALL"]
          and sorted(sc["capabilities"]["add"]) == ["DAC_READ_SEARCH", "SYS_PTRACE"],
          f"agent {pod['name']}: all capabilities dropped but DAC_READ_SEARCH, SYS_PTRACE; read-only root")
    check(pod["image"].startswith("localhost/rollcall-agent:"), f"agent {pod['name']}: image of container.sh")
agent_toml = docs[("ConfigMap", "rollcall-agent")]["data"]["agent.toml"]
check('root = "/host"' in agent_toml, 'agent config: root = "/host"')
open(f"{work}/agent.toml", "w").write(agent_toml)
open(f"{work}/agent.args", "w").write("\n".join(ds["initContainers"][0]["args"]))

dep = docs[("Deployment", "rollcall-collector")]["spec"]["template"]["spec"]
psc = dep["securityContext"]
check(psc["runAsNonRoot"] is True and psc["runAsUser"] == 10001, "collector pod: runAsNonRoot, user 10001 (the image's)")
(c,) = dep["containers"]
sc = c["securityContext"]
check(sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True
      and sc["capabilities"]["drop"] == ["ALL"] and "add" not in sc["capabilities"],
      "collector container: no capability, no privilege escalation, read-only root")
for probe in ["livenessProbe", "readinessProbe"]:
    check(c[probe]["httpGet"]["path"] == "/healthz", f"collector {probe} on /healthz")
env = {e["name"]: e for e in c["env"]}
check("secretKeyRef" in env["ROLLCALL_DATABASE_URL"]["valueFrom"], "collector: ROLLCALL_DATABASE_URL from a Secret")
check(c["image"].startswith("localhost/rollcall-collector:"), "collector: image of container.sh")
svc = docs[("Service", "rollcall-collector")]["spec"]
check(sorted(p["port"] for p in svc["ports"]) == [4443, 8080], "collector Service: ports 4443 and 8080")
open(f"{work}/collector.toml", "w").write(docs[("ConfigMap", "rollcall-collector")]["data"]["collector.toml"])
open(f"{work}/collector.args", "w").write("\n".join(c["args"]))
PY

# 3. The binaries accept the configs and arguments. The database URL is a
# Secret in the cluster; a PostgreSQL one is given here as it would be.
ROLLCALL_DATABASE_URL=postgres://rollcall@db.example:5432/rollcall \
  target/debug/rollcall-collector check-config --config "$work/collector.toml" >"$work/effective.toml" \
  || fail "rollcall-collector check-config refuses the ConfigMap's collector.toml"
grep -q '^tls = true' "$work/effective.toml" || fail "collector.toml: api tls not on"
pass "collector.toml of the ConfigMap accepted by rollcall-collector check-config (with a postgres:// URL)"
mapfile -t collector_args <"$work/collector.args"
[ "${collector_args[0]}" = serve ] && [ "${collector_args[1]}" = --config ] || fail "collector args: ${collector_args[*]}"
target/debug/rollcall-collector serve --help >/dev/null || fail "rollcall-collector serve --help"
# The agent's config: loaded by the agent (root /host does not exist here,
# so the inventory it prints is empty, but the config must load).
mkdir -p "$work/host"
sed 's|^root = "/host"|root = "'"$work"'/host"|; s|^state_dir = .*|state_dir = "'"$work"'/state"|' "$work/agent.toml" >"$work/agent-here.toml"
target/debug/rollcall-agent --config "$work/agent-here.toml" inventory >/dev/null \
  || fail "rollcall-agent refuses the ConfigMap's agent.toml"
pass "agent.toml of the ConfigMap loaded by rollcall-agent (root and state_dir moved under a scratch dir)"
# The init container's arguments parse: with credentials present it stops
# before connecting.
mkdir -m 0700 -p "$work/state"
umask 077
printf '%s' '{"agent_id":"a","collector":"https://c:4443","ca_fingerprint":"00","enrolled_at_ms":1}' >"$work/state/agent.json"
for file in cert.pem key.pem ca.pem; do echo x >"$work/state/$file"; done
mapfile -t agent_args <"$work/agent.args"
agent_args=("${agent_args[@]//\$(ROLLCALL_CA_FINGERPRINT)/00}")
ROLLCALL_ENROLL_TOKEN=t target/debug/rollcall-agent --config "$work/agent-here.toml" "${agent_args[@]}" | grep -q "already enrolled" \
  || fail "the init container's arguments: rollcall-agent ${agent_args[*]}"
pass "init container: rollcall-agent ${agent_args[*]} accepted (already enrolled: nothing done)"
