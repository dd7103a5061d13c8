#!/bin/sh
# Ingest and profile the bank-marketing file with mlflow's reader and with
# pandas.read_csv in one run, and print medians side by side. The two take
# turns (ROUNDS rounds of N runs each) so a busy machine weighs on both alike.
#   bench/dataset/bench.sh [FILE] [N] [ROUNDS]
# Needs the packages of bench/peers/packages.txt: bash bench/peers/install.sh
set -eu
cd "$(dirname "$0")/../.."
/usr/bin/python3 -c 'import pandas' 2>/dev/null ||
	{ echo "/usr/bin/python3 lacks pandas: run bash bench/peers/install.sh" >&2; exit 2; }
FILE=${1:-examples/bankmarketing/data/bankmarketing_train.csv}
N=${2:-5}
ROUNDS=${3:-4}
PY=/usr/bin/python3
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
go build -o "$TMP/dsbench" ./bench/dataset
for _ in $(seq "$ROUNDS"); do
	"$TMP/dsbench" -file "$FILE" -n "$N" >> "$TMP/go"
	"$PY" bench/dataset/pandas_bench.py "$FILE" "$N" >> "$TMP/py"
done
# median and min of column $2 (read) or $4 (read+profile)
stat() { sort -n -k"$1","$1" "$2" | awk -v c="$1" '{v[NR]=$c} END {printf "%s %s", v[int((NR+1)/2)], v[1]}'; }
echo "file: $FILE ($(wc -l < "$FILE") lines); $ROUNDS alternating rounds of $N runs each; $(nproc) CPUs, load $(cut -d' ' -f1 /proc/loadavg)"
printf '%-14s %14s %14s %14s %14s %9s\n' task "mlflow median" "pandas median" "mlflow min" "pandas min" speedup
for col in 2 4; do
	name=read; [ "$col" = 4 ] && name=read+profile
	set -- $(stat "$col" "$TMP/go") $(stat "$col" "$TMP/py")
	printf '%-14s %11s ms %11s ms %11s ms %11s ms %8sx\n' "$name" "$1" "$3" "$2" "$4" \
		"$(awk -v g="$1" -v p="$3" 'BEGIN {printf "%.2f", p/g}')"
done
echo "read: mlflow tabular.ReadFile (typed columns) vs pandas.read_csv; profile: Profile() vs"
echo "describe(include=\"all\") + value_counts(); pandas $($PY -c 'import pandas; print(pandas.__version__)'); speedup = pandas/mlflow medians"
