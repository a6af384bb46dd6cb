#!/usr/bin/env bash
# Runs the standard load scenarios of docs/performance.md against a release
# collector and writes bench/results/<scenario>-<db>.json (and .txt).
#
#   bench/run.sh [--db sqlite|postgres] [--no-build] [SCENARIO…]
#
# Scenarios: idle storm snapshots deltas failures restart netem (default:
# all but netem, which needs root for its network namespace).
# Environment: IDLE_AGENTS (10000), IDLE_DURATION_S (60), IDLE_KEEP (reuse
# the idle collector's data: no enrolment, no first snapshots), STORM_AGENTS
# (2000), STORM_HEARTBEAT_MS (100), SNAPSHOT_AGENTS (1000), SNAPSHOT_DURATION_S
# (5; longer to see the memory the collector keeps once the burst is applied),
# SNAPSHOT_PACKAGES (800, the ~800 packages of the DESIGN §9 rows), DELTA_AGENTS
# (1000), DELTA_RATES ("5000 10000"), FAILURE_AGENTS (1000), FAILURES (100),
# RESTART_AGENTS (1000), NETEM_AGENTS (1000), NETEM_DURATION_S (300),
# NETEM_LOSS_PCT (1), NETEM_DELAY_MS (300), NETEM_JITTER_MS (300), NOFILE
# (open-file limit, default fs.nr_open), PG_BASE_URL (postgres://postgres@127.0.0.1:5432/test).
# Every run stays on 127.0.0.0/8 (netem: its own link) and lasts minutes.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DB=sqlite
BUILD=1
SCENARIOS=()
while (($#)); do
    case "$1" in
        --db) DB="$2"; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
        *) SCENARIOS+=("$1"); shift ;;
    esac
done
((${#SCENARIOS[@]})) || SCENARIOS=(idle storm snapshots deltas failures restart)
((BUILD)) && build
raise_nofile
log "open-file limit $(ulimit -n)"
cleanup() {
    stop_collector
    if ((NETEM_USED)); then netem_down; fi
}
NETEM_USED=0
trap cleanup EXIT
trap 'exit 130' INT TERM

# fresh NAME EXTRA_TOML: a collector on a new database (with KEEP=1, on the
# database and credentials of the previous run of NAME if there is one).
fresh() {
    local name="$1-$DB"
    if [[ "${KEEP:-0}" == 1 && -f "$BENCH_WORK/$name/collector.toml" ]]; then
        log "reusing the data of $name"
        start_collector "$name" "" "$2"
        return
    fi
    rm -rf "${BENCH_WORK:?}/$name"
    mkdir -p "$BENCH_WORK/$name"
    start_collector "$name" "$(new_database "$DB" "$name")" "$2"
}

# Enrolment as fast as the collector can sign: the scenarios enrol thousands
# of agents at once (the default, 50/s after 200, suits a real fleet).
ENROLL_FAST='enroll_rate = 5000
enroll_burst = 10000
enroll_rate_per_source = 5000
enroll_burst_per_source = 10000'
# Large ingest limits: the scenarios measure the collector, not its limiter.
UNLIMITED="[ingest]
per_agent_rate = 100000
per_agent_burst = 100000
global_rate = 1000000
$ENROLL_FAST"

for scenario in "${SCENARIOS[@]}"; do
    case "$scenario" in
    idle)
        # (a) idle agents at the default intervals (heartbeat 10 s, health 60 s).
        # The connect phase includes every new host's first snapshot, which
        # the store applies at ~70/s for 50 packages; give it time.
        agents="${IDLE_AGENTS:-10000}"
        KEEP="${IDLE_KEEP:-0}" fresh idle "[ingest]
$ENROLL_FAST"
        loadgen "idle-$agents-$DB" --agents "$agents" --max-packages 50 \
            --duration-s "${IDLE_DURATION_S:-60}" --connect-timeout-s $((240 + agents / 25))
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
        # (c) full snapshots of this machine's packages (the first 800, as in
        # DESIGN §9), one per agent.
        fresh snapshots "[agents]
health_interval_s = 3600
$UNLIMITED"
        loadgen "snapshots-$DB" --agents "${SNAPSHOT_AGENTS:-1000}" --duration-s "${SNAPSHOT_DURATION_S:-5}" \
            --max-packages "${SNAPSHOT_PACKAGES:-800}" --health-ms 3600000 --connect-timeout-s 240
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
[ingest]
$ENROLL_FAST
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
heartbeat_interval_s = 10
[ingest]
$ENROLL_FAST"
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
    netem)
        # 0 false incidents over a lossy, jittery link: the load generator
        # runs in a network namespace whose veth link to the collector drops
        # 1 % of packets and delays each by 300 ± 300 ms, each direction;
        # default intervals (heartbeat 10 s, health 60 s, down_after 30 s).
        NETEM_USED=1
        mkdir -p "$RESULTS_DIR"
        netem_up "$RESULTS_DIR/netem-$DB.link.json"
        COLLECTOR_HOST="$NETEM_HOST_IP"
        fresh netem "server_names = [\"$NETEM_HOST_IP\"]
[ingest]
$ENROLL_FAST"
        LOADGEN_PREFIX=(ip netns exec "$NETEM_NS")
        # From one address (loopback sources cannot cross the veth), and more
        # handshakes in flight: each takes several 0.6 s round trips.
        netem_status=0
        loadgen "netem-$DB" --agents "${NETEM_AGENTS:-1000}" --max-packages 50 \
            --duration-s "${NETEM_DURATION_S:-300}" --connect-timeout-s 600 \
            --source-addresses 0 --connect-concurrency 256 || netem_status=$?
        LOADGEN_PREFIX=()
        COLLECTOR_HOST=127.0.0.1
        [[ "$NETEM_KIND" == kernel* ]] && netem_stats >"$RESULTS_DIR/netem-$DB.qdisc.txt"
        stop_collector
        netem_down
        log "link: $NETEM_KIND; counters in $RESULTS_DIR/netem-$DB.link.json or .qdisc.txt"
        ((netem_status == 0)) || exit "$netem_status" ;;
    *) log "unknown scenario $scenario"; exit 2 ;;
    esac
done
log "results in $RESULTS_DIR"
