#!/bin/sh
# The large-data run of issue 14: a CSV like bench/dataset/bigrss.sh's (bank rows, default
# 1 GiB, about 9 M rows) trains to a registered model within a budget (default 10m), in two
# `mlflow run`s under /usr/bin/time -v: the dataset step alone, then the automl and evaluate
# steps on it (the dataset step cached). It prints each run's wall time and peak RSS beside
# the registered data's columnar size, the trials, the sample the search ran on, and the
# model's metrics on the file's last 1 % of rows, held out from training.
#   bench/automl/big.sh [SIZE] [BUDGET]      e.g. 200MiB 2m
#   KEEP=1 bench/automl/big.sh ...           keep the temp folder (its path is in the trace of sh -x)
# Needs GNU time (/usr/bin/time, in bench/peers/packages.txt): bash bench/peers/install.sh
set -eu
repo=$(cd "$(dirname "$0")/../.." && pwd)
[ -x /usr/bin/time ] || { echo "missing /usr/bin/time: run bash bench/peers/install.sh" >&2; exit 2; }
size=${1:-1GiB}
budget=${2:-10m}
dir=$(mktemp -d)
[ -n "${KEEP:-}" ] || trap 'rm -rf "$dir"' EXIT
(cd "$repo" && go build -o "$dir/dsbench" ./bench/dataset && go build -o "$dir/mlflow" ./cmd/mlflow)
"$dir/dsbench" -file "$repo/examples/bankmarketing/data/bankmarketing_train.csv" -gen "$size" -out "$dir/all.csv"
# The generator draws rows independently, so its last rows are a fair hold-out.
lines=$(wc -l < "$dir/all.csv")
hold=$(( (lines - 1) / 100 ))
head -n $((lines - hold)) "$dir/all.csv" > "$dir/train.csv"
{ head -n 1 "$dir/all.csv"; tail -n "$hold" "$dir/all.csv"; } > "$dir/test.csv"
rm "$dir/all.csv"
cat > "$dir/data.cue" <<CUE
name: "big"
steps: data: {kind: "dataset", name: "big", source: "$dir/train.csv", target: "y"}
CUE
cat > "$dir/train.cue" <<CUE
name: "big"
steps: {
	data: {kind: "dataset", name: "big", source: "$dir/train.csv", target: "y"}
	test: {kind: "dataset", name: "bigtest", source: "$dir/test.csv", target: "y"}
	train: {kind: "automl", dataset: "\${{ steps.data.outputs.dataset }}", task: "classification", primary_metric: "AUC_weighted", budget: "$budget", name: "big"}
	evaluate: {kind: "evaluate", model: "\${{ steps.train.outputs.model }}", dataset: "\${{ steps.test.outputs.dataset }}"}
}
CUE
echo "load before: $(uptime)"
run() { # NAME WORKFLOW: one mlflow run under time -v; prints its wall time and peak RSS
	GOMAXPROCS=2 /usr/bin/time -v "$dir/mlflow" run -workspace "$dir/ws" "$2" >"$dir/$1.out" 2>"$dir/$1.time" ||
		{ cat "$dir/$1.out" "$dir/$1.time" >&2; exit 1; }
	awk -v n="$1" '/Maximum resident/ {rss = $NF} /Elapsed \(wall/ {wall = $NF}
		END {printf "%s: wall %s, peak RSS %.0f MiB\n", n, wall, rss / 1024}' "$dir/$1.time"
}
run dataset "$dir/data.cue"
run automl "$dir/train.cue"
echo "load after: $(uptime)"
du -b "$dir/train.csv" | awk '{printf "train CSV %.0f MiB, ", $1 / 1048576}'
# The columnar size is the registered dataset's blob: the typed columns as the store holds them.
blob=$(find "$dir/ws" -type f -size +1M -printf '%s %p\n' | sort -n | tail -1 | cut -d' ' -f1)
echo "columnar (largest stored blob) $((blob / 1048576)) MiB"
awk -v c="$blob" '/Maximum resident/ {printf "automl peak RSS = %.2f x columnar\n", $NF * 1024 / c}' "$dir/automl.time"
run=$(awk 'NR == 1 {print $2}' "$dir/automl.out")
"$dir/mlflow" runs show -workspace "$dir/ws" -log train "$run" > "$dir/train.log"
grep -E "stratified sample|validation|search ended|refit|ensemble:|registered model" "$dir/train.log" | sed 's/^/  /'
echo "  trials: $(grep -c '^trial ' "$dir/train.log")"
grep -E "^ +(train|evaluate) " -A 2 "$dir/automl.out" | sed 's/^/  /'
