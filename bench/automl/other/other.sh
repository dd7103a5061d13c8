#!/bin/sh
# Other tabular sets (sklearn-bundled and synthetic: binary, multiclass, regression, some with
# categories and missing values), by hand: sklearn HistGradientBoosting defaults against the
# automl search with a budget, on the same stratified 80/20 splits, mean over seeds, one table.
#   bench/automl/other/other.sh            (BUDGET=15s SEEDS=3)
# Needs the packages of bench/peers/packages.txt: bash bench/peers/install.sh
set -eu
/usr/bin/python3 -c 'import sklearn, pandas' 2>/dev/null ||
	{ echo "/usr/bin/python3 lacks sklearn or pandas: run bash bench/peers/install.sh" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
budget=${BUDGET:-15s}
seeds=${SEEDS:-3}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
(cd "$repo" && go build -o "$dir/search" ./bench/automl/search)
# Only quality is compared here, so OpenMP's threads sleep when idle: spinning (its default)
# made one 10-class fit take minutes instead of seconds on a busy 2-core machine.
OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=2 /usr/bin/python3 "$here/hgb_splits.py" "$dir" "$seeds" > "$dir/hgb.jsonl"
while read -r line; do
	train=$(printf '%s' "$line" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["train"])')
	test=$(printf '%s' "$line" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["test"])')
	task=$(printf '%s' "$line" | /usr/bin/python3 -c 'import json,sys; t=json.load(sys.stdin)["task"]; print("regression" if t=="regression" else "classification")')
	ours=$(GOMAXPROCS=2 "$dir/search" -data "$train" -test "$test" -target y -task "$task" -budget "$budget" 2>/dev/null)
	printf '%s\t%s\n' "$line" "$ours" >> "$dir/pairs.tsv"
done < "$dir/hgb.jsonl"
/usr/bin/python3 - "$dir/pairs.tsv" "$budget" <<'PY'
import json, sys
from collections import defaultdict
rows = defaultdict(list)
for line in open(sys.argv[1]):
    h, o = line.rstrip("\n").split("\t")
    h, o = json.loads(h), json.loads(o)
    rows[(h["dataset"], h["task"], h["rows"])].append((h, o))
print(f"mean over seeds of a stratified 80/20 hold-out; ours = automl search, budget {sys.argv[2]}, 2 cores")
print(f"{'dataset':18} {'task':10} {'rows':>5}  {'metric':24} {'HGB':>8} {'ours':>8}  {'ours s':>6}")
for (name, task, n), pairs in rows.items():
    ms = ["r2_score", "root_mean_squared_error"] if task == "regression" else ["accuracy", "AUC_weighted", "log_loss"]
    secs = sum(o["seconds"] for _, o in pairs) / len(pairs)
    for i, m in enumerate(ms):
        hv = sum(h[m] for h, _ in pairs) / len(pairs)
        ov = sum(o[m] for _, o in pairs) / len(pairs)
        print(f"{name if i == 0 else '':18} {task if i == 0 else '':10} {n if i == 0 else '':>5}  {m:24} {hv:8.4f} {ov:8.4f}  {secs if i == 0 else '':>6.1f}" if i == 0 else
              f"{'':18} {'':10} {'':>5}  {m:24} {hv:8.4f} {ov:8.4f}")
PY
