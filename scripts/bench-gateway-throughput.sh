#!/usr/bin/env bash
# Query throughput through the gateway against the core it forwards to (issue 24: the gateway
# should reach at least 80 % of the core's throughput on the same machine in the same run).
#
# One release jessy-core on the default registry, one release jessy-api in front of it with a
# key whose rate limit is far above what the machine can send. The core (POST /v1/query) and
# the gateway (POST /api/v1/query) are loaded alternately, ROUNDS rounds each, with the
# project's loadgen (successful responses only; loadgen fails the run on any error), so drift
# in the machine's load hits both alike. CPU per request of each process comes from
# /proc/PID/stat (user + system ticks) over each run.
#
#   bash scripts/bench-gateway-throughput.sh            # 5 rounds of 10 s, 16 connections
#   ROUNDS=3 SECS=5 bash scripts/bench-gateway-throughput.sh
#   BIN=/tmp/old-release bash scripts/bench-gateway-throughput.sh   # binaries built elsewhere
#   API_ENV=TOKIO_WORKER_THREADS=2 API_ARGS="--log warn" bash …     # the gateway's environment, flags
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

ROUNDS="${ROUNDS:-5}"
SECS="${SECS:-10}"
CONNECTIONS="${CONNECTIONS:-16}"
BIN="${BIN:-target/release}"
CORE_PORT="${CORE_PORT:-18281}"
API_PORT="${API_PORT:-18282}"

if [ "$BIN" = target/release ]; then
    cargo build --release -q -p jessy-core --example loadgen --bin jessy-core -p jessy-api --bin jessy-api
fi
LOADGEN="${LOADGEN:-target/release/examples/loadgen}"
[ -x "$LOADGEN" ] || cargo build --release -q -p jessy-core --example loadgen

work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

wait_for() { # url log
    for _ in $(seq 1 300); do
        curl -sf "$1" >/dev/null && return 0
        sleep 0.1
    done
    echo "$1 did not answer; log:" >&2
    cat "$2" >&2
    return 1
}

mkdir -p "$work/registry"
env ${CORE_ENV:-} "$BIN/jessy-core" --addr "127.0.0.1:$CORE_PORT" --registry "$work/registry" >"$work/core.log" 2>&1 &
core_pid=$!
pids+=("$core_pid")
wait_for "http://127.0.0.1:$CORE_PORT/ready" "$work/core.log"

key="$("$BIN/jessy-api" keygen bench --keys "$work/keys" --scopes query 2>/dev/null)"
env ${API_ENV:-} "$BIN/jessy-api" --addr "127.0.0.1:$API_PORT" --metrics-addr none --keys "$work/keys" \
    --core "http://127.0.0.1:$CORE_PORT" --rate-limit 1000000 --burst 1000000 ${API_ARGS:-} \
    >"$work/api.log" 2>&1 &
api_pid=$!
pids+=("$api_pid")
wait_for "http://127.0.0.1:$API_PORT/api/health" "$work/api.log"

ticks() { # pid → user+system clock ticks so far
    awk '{ print $14 + $15 }' "/proc/$1/stat"
}

run() { # url [header] → "req/s core_ticks api_ticks ok"
    local url="$1"
    shift
    local c0 a0 out c1 a1
    c0="$(ticks "$core_pid")"
    a0="$(ticks "$api_pid")"
    out="$("$LOADGEN" --url "$url" --connections "$CONNECTIONS" --duration-secs "$SECS" \
        --threads 1 --json "$@")"
    c1="$(ticks "$core_pid")"
    a1="$(ticks "$api_pid")"
    python3 -c '
import json, sys
d = json.loads(sys.argv[1])
print(round(d["ok_per_sec"]), int(sys.argv[2]), int(sys.argv[3]), d["ok"])
' "$out" "$((c1 - c0))" "$((a1 - a0))"
}

hz="$(getconf CLK_TCK)"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
core_rates=()
api_rates=()
rows=()
for round in $(seq 1 "$ROUNDS"); do
    read -r c_rate c_core c_api c_ok < <(run "http://127.0.0.1:$CORE_PORT/v1/query")
    read -r g_rate g_core g_api g_ok < <(run "http://127.0.0.1:$API_PORT/api/v1/query" \
        -H "Authorization: Bearer $key")
    core_rates+=("$c_rate")
    api_rates+=("$g_rate")
    rows+=("$c_ok $c_core $g_ok $g_core $g_api")
    echo "round $round: core $c_rate req/s, gateway $g_rate req/s ($((100 * g_rate / c_rate)) %)"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$hz" "${core_rates[*]}" "${api_rates[*]}" "${rows[@]}" <<'EOF'
import statistics, sys
hz = float(sys.argv[1])
core = [float(x) for x in sys.argv[2].split()]
api = [float(x) for x in sys.argv[3].split()]
rows = [[float(v) for v in r.split()] for r in sys.argv[4:]]
mc, ma = statistics.median(core), statistics.median(api)
us = lambda ticks, n: 1e6 * ticks / hz / n
core_direct = statistics.median(us(r[1], r[0]) for r in rows)
core_behind = statistics.median(us(r[3], r[2]) for r in rows)
gateway = statistics.median(us(r[4], r[2]) for r in rows)
print(f"median core {mc:.0f} req/s, gateway {ma:.0f} req/s, gateway/core {ma / mc:.3f}")
print(f"CPU per request (median): core direct {core_direct:.0f} us; through the gateway: core {core_behind:.0f} us + gateway {gateway:.0f} us")
EOF
