#!/usr/bin/env bash
# Query throughput of one jessy-core with the semantic cascade's encoder on vs the fast path
# only (issue 16), on a snapshot built with the encoder.
#
#   bash scripts/bench-cascade-throughput.sh SNAP MODEL_DIR QUERIES.txt
#   ROUNDS=5 SECS=10 CONNECTIONS=8 bash scripts/bench-cascade-throughput.sh ...
#
# SNAP: a snapshot directory built with `jessy build … --encoder MODEL_DIR` (copied first: the
# core owns the directory it serves). QUERIES.txt: one query per line, sent round-robin; pick a
# mix whose escalation is what you want to measure (the rate is printed from /metrics). Each
# round starts a fresh core, once without and once with `--encoder`, so drift in the machine's
# load hits both alike. Counts successful responses only (loadgen exits non-zero on any error).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ $# -ne 3 ]]; then
    echo "usage: $0 SNAP MODEL_DIR QUERIES.txt" >&2
    exit 2
fi
snap="$1"
model="$2"
queries="$3"
ROUNDS="${ROUNDS:-3}"
SECS="${SECS:-10}"
CONNECTIONS="${CONNECTIONS:-8}"
PORT="${PORT:-18581}"

cargo build --release -q -p jessy-core --example loadgen --bin jessy-core
work="$(mktemp -d)"
pid=""
cleanup() {
    [[ -n "$pid" ]] && kill "$pid" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

one_round() { # lex|enc → "req/s p50_ms p99_ms escalated_share"
    rm -rf "$work/snap"
    cp -r "$snap" "$work/snap"
    rm -f "$work/snap/LOCK" "$work/snap/OWNER"
    local extra=()
    [[ "$1" == enc ]] && extra=(--encoder "$model")
    target/release/jessy-core --addr "127.0.0.1:$PORT" --registry "$work/snap" --log warn \
        "${extra[@]}" >"$work/core.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 300); do
        curl -sf "http://127.0.0.1:$PORT/ready" >/dev/null && break
        sleep 0.1
    done
    local load metrics
    load="$(target/release/examples/loadgen --url "http://127.0.0.1:$PORT/v1/query" \
        --queries "$queries" --connections "$CONNECTIONS" --duration-secs "$SECS" \
        --warmup-secs 2 --threads 1 --json)"
    metrics="$(curl -s "http://127.0.0.1:$PORT/metrics")"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    pid=""
    python3 - "$load" "$metrics" <<'EOF'
import json, re, sys
load = json.loads(sys.argv[1])
lat = load["latency_ms_2xx"]
paths = dict(re.findall(r'^jessy_core_cascade_queries_total\{path="(\w+)"\} (\d+)', sys.argv[2], re.M))
total = sum(int(v) for v in paths.values())
share = int(paths.get("semantic", 0)) / total if total else 0.0
print(f'{load["ok_per_sec"]:.1f} {lat["p50"]} {lat["p99"]} {share:.3f}')
EOF
}

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
lex=()
enc=()
for round in $(seq 1 "$ROUNDS"); do
    read -r l lp50 lp99 _ <<<"$(one_round lex)"
    read -r e ep50 ep99 share <<<"$(one_round enc)"
    lex+=("$l")
    enc+=("$e")
    echo "round $round: fast path only $l req/s (p50 $lp50 ms, p99 $lp99 ms); encoder on $e req/s (p50 $ep50 ms, p99 $ep99 ms, $share escalated)"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "${lex[*]}" "${enc[*]}" <<'EOF'
import statistics, sys
lex = [float(x) for x in sys.argv[1].split()]
enc = [float(x) for x in sys.argv[2].split()]
print(f"median fast path only {statistics.median(lex):.0f} req/s, encoder on {statistics.median(enc):.1f} req/s")
EOF
