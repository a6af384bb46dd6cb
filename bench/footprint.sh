#!/usr/bin/env bash
# The agent footprint of docs/performance.md: builds the size-optimised agent
# (profile `agent`), the collector and rollcall-agent-bench, then measures
# the agent at the product's default intervals side by side with Debian's
# node_exporter and Zabbix agent 2 (same window), times FusionInventory's
# full inventory against ours, and runs a second agent without gzip.
# Writes bench/results/footprint.json (and the printed table to footprint.txt).
#
#   bench/footprint.sh [--no-build] [extra rollcall-agent-bench options…]
#
# Environment: DURATION_S (120), WARMUP_S (15), INVENTORY_RUNS (15),
# FUSION_RUNS (7), COMPARE (node-exporter,zabbix-agent2,fusioninventory),
# PROFILE (release: the collector and the benchmark program, `dev` builds
# faster; the measured agent is always the `agent` profile).
# Needs the Debian packages prometheus-node-exporter, zabbix-agent2 and
# fusioninventory-agent (the benchmark fails naming any that is missing).
# Everything runs on 127.0.0.1 and stops by itself.
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(dirname "$BENCH_DIR")"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$REPO_DIR/target}"
RESULTS_DIR="${RESULTS_DIR:-$BENCH_DIR/results}"
PROFILE="${PROFILE:-release}"
case "$PROFILE" in
    dev) BIN_DIR="$CARGO_TARGET_DIR/debug" ;;
    *) BIN_DIR="$CARGO_TARGET_DIR/$PROFILE" ;;
esac

BUILD=1
if [[ "${1:-}" == "--no-build" ]]; then BUILD=0; shift; fi
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then sed -n '2,17p' "$0"; exit 0; fi

log() { printf '[footprint %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

if ((BUILD)); then
    cd "$REPO_DIR"
    log "building the agent (profile agent), the collector and the benchmark ($PROFILE)"
    cargo build --quiet --profile agent -p rollcall-agent
    cargo build --quiet --profile "$PROFILE" -p rollcall-collector --bins
    # Separately, like the test harness: selected together the tests package
    # unifies features differently and rebuilds everything.
    cargo build --quiet --profile "$PROFILE" -p rollcall-tests --bin rollcall-agent-bench
fi

AGENT="$CARGO_TARGET_DIR/agent/rollcall-agent"
mkdir -p "$RESULTS_DIR"
log "agent binary: $(stat -c %s "$AGENT") bytes; measuring (about $(( ${DURATION_S:-120} + ${WARMUP_S:-15} + 30 )) s)"
"$BIN_DIR/rollcall-agent-bench" \
    --agent "$AGENT" \
    --bin-dir "$BIN_DIR" \
    --duration-s "${DURATION_S:-120}" \
    --warmup-s "${WARMUP_S:-15}" \
    --inventory-runs "${INVENTORY_RUNS:-15}" \
    --compare "${COMPARE:-node-exporter,zabbix-agent2,fusioninventory}" \
    --fusioninventory-runs "${FUSION_RUNS:-7}" \
    --uncompressed-agent \
    --json "$RESULTS_DIR/footprint.json" \
    "$@" | tee "$RESULTS_DIR/footprint.txt"
log "written $RESULTS_DIR/footprint.json"
