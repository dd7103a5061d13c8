#!/bin/sh
# Peak RSS of `mlflow run` of a dataset step and an automl step on one CSV (issue 14's memory
# table): the "Maximum resident set size" of /usr/bin/time -v, in MiB, with the trial count
# and the automl step's out-of-fold primary metric from the run record.
#   bench/automl/rss.sh FILE.csv TARGET [classification|regression] [BUDGET]   (default 60s)
#   MAX_TRIALS=20 bench/automl/rss.sh ...   a fixed number of trials instead of a budget: on a
#                                           busy machine a budget buys fewer trials, and memory
#                                           follows the trials kept, so compare at equal trials
# FILE is relative to the working directory. bench/automl/other/other.sh's sets come from
# /usr/bin/python3 bench/automl/other/hgb_splits.py DIR 1 (they land in DIR/*_s0_train.csv).
# Needs GNU time (Debian's `time`, in bench/peers/packages.txt).
set -eu
csv=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
target=$2
task=${3:-classification}
budget=${4:-60s}
repo=$(cd "$(dirname "$0")/../.." && pwd)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
(cd "$repo" && go build -o "$dir/mlflow" ./cmd/mlflow)
limit="budget: \"$budget\""
[ -z "${MAX_TRIALS:-}" ] || { limit="max_trials: $MAX_TRIALS"; budget="max_trials $MAX_TRIALS"; }
cat > "$dir/workflow.cue" <<CUE
name: "rss"
steps: {
	data: {kind: "dataset", name: "rss", source: "$csv", target: "$target"}
	train: {kind: "automl", dataset: "\${{ steps.data.outputs.dataset }}", task: "$task", $limit, name: "rss"}
}
CUE
GOMAXPROCS=2 /usr/bin/time -v "$dir/mlflow" run -workspace "$dir/ws" -no-cache "$dir/workflow.cue" \
	>"$dir/out" 2>"$dir/time" || { cat "$dir/out" "$dir/time" >&2; exit 1; }
rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$dir/time")
trials=$(grep -o '[0-9]* trials' "$dir/out" | tail -1 || true)
echo "$(basename "$csv") budget $budget: peak RSS $((rss / 1024)) MiB; ${trials:-? trials}"
