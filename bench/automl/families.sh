#!/bin/sh
# Would another model family lift the bank-marketing ensemble? (docs/automl.md, "Where bank
# marketing's accuracy stops") On SEEDS stratified 80/20 splits, the automl search at BUDGET
# beside sklearn's HGB defaults, HGB bagged over 5 and 20 fold models, an MLP and a
# binned-logistic additive model (GAM), and our blend with each of the last two, weighted on
# out-of-fold log loss (families.py). Prints the held-out means, the paired differences to ours
# with their 95 % bootstrap intervals over the splits, and the mean blend weights.
#   bench/automl/families.sh            (SEEDS=10 BUDGET=60s; RUNS=FILE keeps the raw records)
# Needs the packages of bench/peers/packages.txt: bash bench/peers/install.sh
set -eu
py=${PYTHON:-/usr/bin/python3}
$py -c 'import sklearn, pandas' 2>/dev/null ||
	{ echo "$py lacks sklearn or pandas: run bash bench/peers/install.sh" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
(cd "$repo" && go build -o "$dir/search" ./bench/automl/search)
echo "load before: $(uptime)"
OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=2 GOMAXPROCS=2 $py "$here/families.py" "$dir" "${SEEDS:-10}" "${BUDGET:-60s}" \
	"$repo/examples/bankmarketing/data/bankmarketing_train.csv" "$dir/search" > "$dir/runs.jsonl"
echo "load after: $(uptime)"
[ -z "${RUNS:-}" ] || cp "$dir/runs.jsonl" "$RUNS"
$py - "$dir/runs.jsonl" <<'PY'
import json, random, statistics, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
g = random.Random(0)
def boot(v):
    means = sorted(statistics.mean(g.choices(v, k=len(v))) for _ in range(10000))
    return means[249], means[9749]
print(f"bank marketing held-out, {len(recs)} stratified 80/20 splits, ours = automl search "
      f"({statistics.mean(r['trials'] for r in recs):.1f} trials); d = model - ours, 95 % bootstrap interval over splits")
print(f"{'model':10} {'accuracy':>8} {'d accuracy':>27} {'AUC':>8} {'d AUC':>27} {'mean w':>6}")
for name in ("ours", "hgb", "hgb_bag", "hgb_bag20", "mlp", "gam", "ours+mlp", "ours+gam"):
    row = f"{name:10}"
    for m in ("accuracy", "AUC_weighted"):
        v = [r[name][m] for r in recs]
        d = [r[name][m] - r["ours"][m] for r in recs]
        lo, hi = boot(d)
        row += f" {statistics.mean(v):8.4f} {statistics.mean(d):+8.4f} [{lo:+.4f}, {hi:+.4f}]" if name != "ours" else f" {statistics.mean(v):8.4f} {'':27}"
    if "w" in recs[0][name]:
        row += f" {statistics.mean(r[name]['w'] for r in recs):6.2f}"
    print(row)
PY
