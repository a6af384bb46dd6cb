#!/usr/bin/env bash
# Shared helpers of the benchmark scripts: build release binaries, start and
# stop a collector (SQLite or PostgreSQL) on loopback, run the load generator.
# Sourced by run.sh; every function works in $BENCH_WORK.
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(dirname "$BENCH_DIR")"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$REPO_DIR/target}"
RELEASE_DIR="$CARGO_TARGET_DIR/release"
BENCH_WORK="${BENCH_WORK:-$BENCH_DIR/work}"
RESULTS_DIR="${RESULTS_DIR:-$BENCH_DIR/results}"
PG_BASE_URL="${PG_BASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
GRPC_PORT="${GRPC_PORT:-14443}"
API_PORT="${API_PORT:-18080}"
HOOK_PORT="${HOOK_PORT:-18099}"
# Where the collector listens (the netem scenario moves it to its veth address).
COLLECTOR_HOST="${COLLECTOR_HOST:-127.0.0.1}"
# Prefix of the load generator's command line (the netem scenario runs it in
# a network namespace).
LOADGEN_PREFIX=()

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

build() {
    log "building release binaries"
    (cd "$REPO_DIR" && cargo build --release --quiet -p rollcall-collector --bins)
    # Separately, like the test harness: selected together the tests package
    # unifies features differently and rebuilds everything.
    (cd "$REPO_DIR" && cargo build --release --quiet -p rollcall-tests --bin rollcall-loadgen)
}

# raise_nofile: lifts this shell's open-file limit, soft and hard, to NOFILE
# (default: the kernel's ceiling fs.nr_open), so the collector and the load
# generator it starts can hold 100,000 sessions (each is one socket on both
# sides). Raising the hard limit needs root; otherwise it stays as it is.
raise_nofile() {
    local want="${NOFILE:-$(cat /proc/sys/fs/nr_open 2>/dev/null || echo 1048576)}"
    if (($(ulimit -Hn) < want)) && ! ulimit -Hn "$want" 2>/dev/null; then
        log "cannot raise the hard open-file limit to $want (needs root with CAP_SYS_RESOURCE); it stays $(ulimit -Hn)"
    fi
    ulimit -Sn "$(ulimit -Hn)"
}

# new_database DB NAME: prints the database URL for a fresh store.
new_database() {
    local db="$1" name="$2"
    case "$db" in
        sqlite) echo "sqlite://$BENCH_WORK/$name/rollcall.db?mode=rwc" ;;
        postgres)
            local schema="bench_${name//-/_}_$(date +%s)"
            psql -q "$PG_BASE_URL" -c "CREATE SCHEMA $schema" >/dev/null
            echo "$PG_BASE_URL?options=-c%20search_path%3D$schema" ;;
        *) echo "unknown database $db" >&2; return 1 ;;
    esac
}

# start_collector NAME DATABASE_URL EXTRA_TOML: starts a collector whose data
# lives in $BENCH_WORK/NAME (kept for restarts); sets COLLECTOR_PID, GRPC_URL,
# API_URL, CA_FINGERPRINT and ADMIN_TOKEN (read from the first start's output).
start_collector() {
    local name="$1" url="$2" extra="$3" dir="$BENCH_WORK/$1"
    mkdir -p "$dir/data"
    if [[ ! -f "$dir/collector.toml" ]]; then
        cat >"$dir/collector.toml" <<TOML
data_dir = "$dir/data"
database_url = "$url"
grpc_listen = "$COLLECTOR_HOST:$GRPC_PORT"
api_listen = "$COLLECTOR_HOST:$API_PORT"
$extra
TOML
    fi
    ulimit -n "$(ulimit -Hn)"
    local before
    before="$(grep -c "^api listening on" "$dir/stdout.log" 2>/dev/null || true)"
    # shellcheck disable=SC2086
    env ${COLLECTOR_ENV:-} ROLLCALL_LOG="${ROLLCALL_LOG:-warn}" "$RELEASE_DIR/rollcall-collector" serve \
        --config "$dir/collector.toml" >>"$dir/stdout.log" 2>>"$dir/stderr.log" &
    COLLECTOR_PID=$!
    GRPC_URL="https://$COLLECTOR_HOST:$GRPC_PORT"
    API_URL="http://$COLLECTOR_HOST:$API_PORT"
    local waited=0
    until (( $(cat "$dir/stdout.log" 2>/dev/null | grep -c "^api listening on") > ${before:-0} )); do
        sleep 0.2; waited=$((waited + 1))
        if ((waited > 300)) || ! kill -0 "$COLLECTOR_PID" 2>/dev/null; then
            log "collector $name did not start"; tail -20 "$dir/stderr.log" >&2; return 1
        fi
    done
    CA_FINGERPRINT="$(sed -n 's/^ca fingerprint (sha256): //p' "$dir/stdout.log" | head -1)"
    local token
    token="$(sed -n 's/^admin API token (shown once, store it now): //p' "$dir/stdout.log" | head -1)"
    if [[ -n "$token" ]]; then echo "$token" >"$dir/admin-token"; fi
    ADMIN_TOKEN="$(cat "$dir/admin-token")"
    log "collector $name up (pid $COLLECTOR_PID)"
}

stop_collector() {
    if [[ -n "${COLLECTOR_PID:-}" ]] && kill -0 "$COLLECTOR_PID" 2>/dev/null; then
        kill -TERM "$COLLECTOR_PID"
        for _ in $(seq 50); do kill -0 "$COLLECTOR_PID" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$COLLECTOR_PID" 2>/dev/null || true
        wait "$COLLECTOR_PID" 2>/dev/null || true
    fi
    COLLECTOR_PID=""
}

# loadgen RESULT_NAME ARGS…: runs the load generator against the running
# collector and writes $RESULTS_DIR/RESULT_NAME.json (table on stdout).
loadgen() {
    local result="$1"; shift
    mkdir -p "$RESULTS_DIR"
    ulimit -n "$(ulimit -Hn)"
    "${LOADGEN_PREFIX[@]}" "$RELEASE_DIR/rollcall-loadgen" \
        --collector "$GRPC_URL" --api "$API_URL" \
        --admin-token "$ADMIN_TOKEN" --ca-fingerprint "$CA_FINGERPRINT" \
        --collector-pid "$COLLECTOR_PID" --cache-dir "$BENCH_WORK/credentials" \
        --scenario "$result" --json "$RESULTS_DIR/$result.json" "$@" \
        | tee "$RESULTS_DIR/$result.txt"
}

# The netem link: the load generator runs in a network namespace whose only
# link to this one drops NETEM_LOSS_PCT % of the packets and delays each by
# NETEM_DELAY_MS ± NETEM_JITTER_MS (uniform, so packets are reordered too),
# in each direction on its own. With the kernel's netem qdisc that is a veth
# pair with `netem loss 1% delay 300ms 300ms` on both ends; a kernel without
# sch_netem (like this machine's) gets bench/netem.py, a user-space wire
# between two TUN devices that does the same.
NETEM_NS="${NETEM_NS:-rollcall-bench-netem}"
NETEM_HOST_IP="${NETEM_HOST_IP:-10.203.0.1}"
NETEM_PEER_IP="${NETEM_PEER_IP:-10.203.0.2}"
NETEM_LOSS_PCT="${NETEM_LOSS_PCT:-1}"
NETEM_DELAY_MS="${NETEM_DELAY_MS:-300}"
NETEM_JITTER_MS="${NETEM_JITTER_MS:-300}"
NETEM_WIRE_PID=""
NETEM_KIND=""

# netem_up STATS_JSON: sets up the namespace and the impaired link.
netem_up() {
    local stats="$1"
    netem_down
    local spec="loss ${NETEM_LOSS_PCT}% delay ${NETEM_DELAY_MS}ms ${NETEM_JITTER_MS}ms"
    ip netns add "$NETEM_NS"
    ip link add rcbench0 type veth peer name rcbench1
    # limit: a queue long enough that netem drops nothing beyond the loss asked for.
    # shellcheck disable=SC2086
    if tc qdisc add dev rcbench0 root netem $spec limit 100000 2>/dev/null; then
        NETEM_KIND="kernel netem ($spec)"
        ip link set rcbench1 netns "$NETEM_NS"
        # shellcheck disable=SC2086
        ip netns exec "$NETEM_NS" tc qdisc add dev rcbench1 root netem $spec limit 100000
    else
        ip link delete rcbench0
        NETEM_KIND="bench/netem.py user-space wire ($spec, uniform)"
        local ready="$BENCH_WORK/netem-wire.ready"
        rm -f "$ready"
        python3 "$BENCH_DIR/netem.py" --dev0 rcbench0 --dev1 rcbench1 \
            --loss "$(awk "BEGIN { print $NETEM_LOSS_PCT / 100 }")" \
            --delay-ms "$NETEM_DELAY_MS" --jitter-ms "$NETEM_JITTER_MS" \
            --stats "$stats" >"$ready" 2>"$BENCH_WORK/netem-wire.log" &
        NETEM_WIRE_PID=$!
        local waited=0
        until grep -q ready "$ready" 2>/dev/null; do
            sleep 0.1; waited=$((waited + 1))
            if ((waited > 100)) || ! kill -0 "$NETEM_WIRE_PID" 2>/dev/null; then
                log "the netem wire did not start"; cat "$BENCH_WORK/netem-wire.log" >&2; return 1
            fi
        done
        ip link set rcbench1 netns "$NETEM_NS"
    fi
    ip addr add "$NETEM_HOST_IP/24" dev rcbench0
    ip link set rcbench0 up
    ip -n "$NETEM_NS" addr add "$NETEM_PEER_IP/24" dev rcbench1
    ip -n "$NETEM_NS" link set rcbench1 up
    ip -n "$NETEM_NS" link set lo up
    log "netem link $NETEM_HOST_IP <-> $NETEM_PEER_IP (namespace $NETEM_NS): $NETEM_KIND"
}

# netem_down: stops the wire, removes the namespace and the link (idempotent).
netem_down() {
    if [[ -n "$NETEM_WIRE_PID" ]] && kill -0 "$NETEM_WIRE_PID" 2>/dev/null; then
        kill -TERM "$NETEM_WIRE_PID"
        wait "$NETEM_WIRE_PID" 2>/dev/null || true
    fi
    NETEM_WIRE_PID=""
    if ip netns list 2>/dev/null | grep -qw "$NETEM_NS"; then
        ip netns delete "$NETEM_NS" || true
    fi
    if ip link show rcbench0 >/dev/null 2>&1; then
        ip link delete rcbench0 || true
    fi
}

# netem_stats: the kernel qdisc counters of both ends, if netem is the kernel's.
netem_stats() {
    if [[ "$NETEM_KIND" == kernel* ]]; then
        tc -s qdisc show dev rcbench0 2>/dev/null || true
        ip netns exec "$NETEM_NS" tc -s qdisc show dev rcbench1 2>/dev/null || true
    fi
}
