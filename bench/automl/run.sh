#!/bin/sh
# Side by side, in one run on the same cores: one default GBDT fit on the bank training file
# (wall/CPU seconds, medians of FITS fits, default 3) and stratified 5-fold CV accuracy and
# AUC, ours against sklearn's HistGradientBoostingClassifier (bench/peers/hgb_peer.py), both
# limited to 2 threads.
#   bench/automl/run.sh [FILE.csv TARGET]    (FILE relative to the repository root)
#   FITS=5 bench/automl/run.sh
# Needs the packages of bench/peers/packages.txt: bash bench/peers/install.sh
set -eu
cd "$(dirname "$0")/../.."
csv=${1:-examples/bankmarketing/data/bankmarketing_train.csv}
target=${2:-y}
/usr/bin/python3 -c 'import sklearn, pandas' 2>/dev/null ||
	{ echo "/usr/bin/python3 lacks sklearn or pandas: run bash bench/peers/install.sh" >&2; exit 2; }
bin=$(mktemp -d)/automl-bench
trap 'rm -rf "$(dirname "$bin")"' EXIT
go build -o "$bin" ./bench/automl
fits=${FITS:-3}
ours=$(GOMAXPROCS=2 "$bin" "$csv" "$target" "$fits")
# OpenMP's idle threads sleep (PASSIVE) unless the caller says otherwise: spinning, its
# default, made one sklearn fit take 4 to 27 s instead of about 2 s on a busy 2-core machine,
# which would flatter us. OMP_WAIT_POLICY=ACTIVE bench/automl/run.sh times sklearn's default.
theirs=$(OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE} OMP_NUM_THREADS=2 /usr/bin/python3 bench/peers/hgb_peer.py "$csv" "$target" "$fits")
/usr/bin/python3 - "$ours" "$theirs" "$fits" <<'PY'
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
w = max(len(r["model"]) for r in (a, b))
print(f"{'default fit, median of ' + sys.argv[3] + ', 2 threads':{w}}  {'fit wall s':>10}  {'fit cpu s':>9}  {'cv5 acc':>7}  {'cv5 AUC':>7}")
for r in (a, b):
    print(f"{r['model']:{w}}  {r['fit_s_wall']:>10.3f}  {r['fit_s_cpu']:>9.3f}  {r['cv5_accuracy']:>7.4f}  {r['cv5_auc']:>7.4f}")
print(f"{a['rows']} rows; ours kept {a.get('iterations')} boosting rounds (early stopping on a stratified 10 %)")
PY
