#!/usr/bin/env bash
# Learning from usage on the full CLINC150 (issue 14's measurement): build from the first 20 %
# of each layer's training lines (calibrated on val), evaluate on test; record the remaining
# training lines as feedback, learn, evaluate again; compare with a build from all lines.
# Query latency is measured idle and while `jessy learn` runs (both with `jessy eval`).
# Usage: scripts/eval-learning.sh [CLINC150_DIR] [WORK_DIR]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
data="${1:-../shared/datasets/clinc150}"
work="${2:-target/eval-learning}"
jessy=target/release/jessy
cargo build --release -p jessy-cli
rm -rf "$work" && mkdir -p "$work"
python3 - "$data/train.jsonl" "$work" <<'PY'
import json, sys, collections
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
by = collections.defaultdict(list)
for l in lines:
    by[(l.get("dimension"), l.get("layer"))].append(l)
initial, rest = [], []
for key, ls in by.items():
    k = max(1, len(ls) // 5)
    initial += ls[:k]
    rest += ls[k:]
with open(sys.argv[2] + "/initial.jsonl", "w") as f:
    f.writelines(json.dumps(l) + "\n" for l in initial)
with open(sys.argv[2] + "/feedback.jsonl", "w") as f:
    f.writelines(json.dumps(l) + "\n" for l in rest)
print(f"initial {len(initial)} lines, feedback {len(rest)} lines", file=sys.stderr)
PY
$jessy import "$work/initial.jsonl" --out "$work/src"
$jessy build "$work/src" --out "$work/snap" --calibrate "$data/val.jsonl"
echo "before:"; $jessy eval --registry "$work/snap" "$data/test.jsonl" --json | tee "$work/before.json"
$jessy feedback --registry "$work/snap" "$work/feedback.jsonl"
echo "idle query latency:"; $jessy eval --registry "$work/snap" "$data/test.jsonl" --json | tee "$work/idle.json"
start=$(date +%s.%N)
$jessy learn --registry "$work/snap" --json > "$work/learn.json" &
learner=$!
sleep 0.5
echo "query latency during learning:"; $jessy eval --registry "$work/snap" "$data/test.jsonl" --json | tee "$work/during.json"
wait $learner
end=$(date +%s.%N)
echo "learn (wall $(python3 -c "print(round($end - $start, 1))") s):"; cat "$work/learn.json"
echo "after:"; $jessy eval --registry "$work/snap" "$data/test.jsonl" --json | tee "$work/after.json"
