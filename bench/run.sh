#!/usr/bin/env bash
# Runs the standard load scenarios of docs/performance.md against a release
# collector and writes bench/results/<scenario>-<db>.json (and .txt).
#
#   bench/run.sh [--db sqlite|postgres] [--no-build] [SCENARIO…]
#
# Scenarios: idle storm snapshots deltas failures restart (default: all).
# Environment: IDLE_AGENTS (10000), STORM_AGENTS (2000), STORM_HEARTBEAT_MS
# (100), SNAPSHOT_AGENTS (1000), DELTA_AGENTS (1000), DELTA_RATES ("5000
# 10000"), FAILURE_AGENTS (1000), FAILURES (100), RESTART_AGENTS (1000),
# PG_BASE_URL (postgres://postgres@127.0.0.1:5432/test).
# Every run stays on 127.0.0.0/8 and lasts at most a few minutes.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DB=sqlite
BUILD=1
SCENARIOS=()
while (($#)); do
    case "$1" in
        --db) DB="$2"; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) SCENARIOS+=("$1"); shift ;;
    esac
done
((${#SCENARIOS[@]})) || SCENARIOS=(idle storm snapshots deltas failures restart)
((BUILD)) && build
trap stop_collector EXIT

# fresh NAME EXTRA_TOML: a collector on a new database.
fresh() {
    local name="$1-$DB"
    rm -rf "${BENCH_WORK:?}/$name"
    mkdir -p "$BENCH_WORK/$name"
    start_collector "$name" "$(new_database "$DB" "$name")" "$2"
}

# Large ingest limits: the scenarios measure the collector, not its limiter.
UNLIMITED='[ingest]
per_agent_rate = 100000
per_agent_burst = 100000
global_rate = 1000000'

for scenario in "${SCENARIOS[@]}"; do
    case "$scenario" in
    idle)
        # (a) idle agents at the default intervals (heartbeat 10 s, health 60 s).
        fresh idle ""
        loadgen "idle-$DB" --agents "${IDLE_AGENTS:-10000}" --max-packages 50 \
            --duration-s 60 --connect-timeout-s 240
        stop_collector ;;
    storm)
        # (b) heartbeat storm: many agents at a short interval.
        fresh storm "[agents]
heartbeat_interval_s = 1
health_interval_s = 3600
$UNLIMITED"
        loadgen "storm-$DB" --agents "${STORM_AGENTS:-2000}" --max-packages 50 \
            --heartbeat-ms "${STORM_HEARTBEAT_MS:-100}" --health-ms 3600000 --duration-s 30
        stop_collector ;;
    snapshots)
        # (c) full snapshots of this machine's ~750 packages, one per agent.
        fresh snapshots "[agents]
health_interval_s = 3600
$UNLIMITED"
        loadgen "snapshots-$DB" --agents "${SNAPSHOT_AGENTS:-1000}" --duration-s 5 \
            --health-ms 3600000 --connect-timeout-s 240
        stop_collector ;;
    deltas)
        # (d) deltas at 5,000/s and beyond (one package version toggled per delta).
        fresh deltas "[agents]
health_interval_s = 3600
$UNLIMITED"
        for rate in ${DELTA_RATES:-5000 10000}; do
            loadgen "deltas-$rate-$DB" --agents "${DELTA_AGENTS:-1000}" --max-packages 100 \
                --delta-rate "$rate" --health-ms 3600000 --duration-s 30
        done
        stop_collector ;;
    failures)
        # (e) silent failures: heartbeat 1 s, down_after 3 s; webhook delivery timed too.
        fresh failures "[agents]
heartbeat_interval_s = 1
health_interval_s = 3600
[availability]
down_after_s = 3
startup_grace_s = 6
[integrations]
poll_interval_ms = 200
[[integrations.targets]]
name = \"bench-hook\"
kind = \"webhook\"
url = \"http://127.0.0.1:$HOOK_PORT/hook\"
secret = \"bench\"
rate_per_second = 1000
burst = 1000"
        loadgen "failures-$DB" --agents "${FAILURE_AGENTS:-1000}" --max-packages 50 \
            --kill-silent "${FAILURES:-100}" --kill-at-s 10 --duration-s 20 \
            --detect-timeout-s 60 --webhook-listen "127.0.0.1:$HOOK_PORT"
        stop_collector ;;
    restart)
        # (f) kill -9 and restart the collector under 1,000 agents; false incidents must be 0.
        fresh restart "[agents]
heartbeat_interval_s = 10"
        name="restart-$DB"
        (
            sleep 40
            log "kill -9 of the collector"
            kill -KILL "$COLLECTOR_PID"
            sleep 5
            start_collector "$name" "" ""
            echo "$COLLECTOR_PID" >"$BENCH_WORK/$name/restarted-pid"
        ) &
        restarter=$!
        loadgen "restart-$DB" --agents "${RESTART_AGENTS:-1000}" --max-packages 50 \
            --duration-s 120 --connect-timeout-s 120
        wait "$restarter" || true
        COLLECTOR_PID="$(cat "$BENCH_WORK/$name/restarted-pid" 2>/dev/null || echo "")"
        stop_collector ;;
    *) log "unknown scenario $scenario"; exit 2 ;;
    esac
done
log "results in $RESULTS_DIR"
