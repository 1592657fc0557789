#!/usr/bin/env bash
# Query throughput of one jessy-core, standalone vs in cluster mode (issue 15: within 5 %).
#
# Both cores run the same release binary on the same default registry; the cluster core uses a
# fresh PostgreSQL database (dropped afterwards). The two are measured alternately, ROUNDS
# rounds each, with the project's loadgen, so drift in the machine's load hits both alike.
# Prints one line per run and the medians. Needs the machine's PostgreSQL (JESSY_BENCH_PG_ADMIN,
# default postgres://postgres@127.0.0.1:5432/test, a user that may create databases).
#
#   bash scripts/bench-cluster-throughput.sh            # 5 rounds of 10 s, 16 connections
#   ROUNDS=3 SECS=5 bash scripts/bench-cluster-throughput.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

ROUNDS="${ROUNDS:-5}"
SECS="${SECS:-10}"
CONNECTIONS="${CONNECTIONS:-16}"
ADMIN_URL="${JESSY_BENCH_PG_ADMIN:-postgres://postgres@127.0.0.1:5432/test}"
DB="jessy_bench_$$"
CLUSTER_URL="${ADMIN_URL%/*}/$DB"

cargo build --release -q -p jessy-core --example loadgen --bin jessy-core
work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    psql "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
psql "$ADMIN_URL" -qc "CREATE DATABASE $DB" >/dev/null

start_core() { # name port extra-args...
    local name="$1" port="$2"
    shift 2
    mkdir -p "$work/$name"
    target/release/jessy-core --addr "127.0.0.1:$port" --registry "$work/$name" "$@" \
        >"$work/$name.log" 2>&1 &
    pids+=("$!")
    for _ in $(seq 1 300); do
        curl -sf "http://127.0.0.1:$port/ready" >/dev/null && return 0
        sleep 0.1
    done
    echo "core $name did not become ready; log:" >&2
    cat "$work/$name.log" >&2
    return 1
}

start_core standalone 18181
start_core cluster 18182 --cluster "$CLUSTER_URL"
curl -sf http://127.0.0.1:18182/v1/cluster | grep -q '"connected"' || {
    echo "the cluster core is not connected:" >&2
    curl -s http://127.0.0.1:18182/v1/cluster >&2
    exit 1
}

run() { # port → req/s of successful responses (loadgen exits 1 on any error)
    target/release/examples/loadgen --url "http://127.0.0.1:$1/v1/query" \
        --connections "$CONNECTIONS" --duration-secs "$SECS" --threads 1 --json |
        python3 -c 'import json,sys; d=json.load(sys.stdin); print(round(d["ok_per_sec"]))'
}

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
standalone=()
cluster=()
for round in $(seq 1 "$ROUNDS"); do
    s="$(run 18181)"
    c="$(run 18182)"
    standalone+=("$s")
    cluster+=("$c")
    echo "round $round: standalone $s req/s, cluster $c req/s"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "${standalone[*]}" "${cluster[*]}" <<'EOF'
import statistics, sys
s = [float(x) for x in sys.argv[1].split()]
c = [float(x) for x in sys.argv[2].split()]
ms, mc = statistics.median(s), statistics.median(c)
print(f"median standalone {ms:.0f} req/s, cluster {mc:.0f} req/s, cluster/standalone {mc / ms:.3f}")
EOF
