#!/bin/sh
# Peak memory of registering a large CSV: generates one (default 1 GiB) in
# a temp folder from the bank file's rows, registers it into a fresh
# workspace under /usr/bin/time -v, prints the sizes and the peak RSS, and
# removes everything it made.
#   bench/dataset/bigrss.sh [SIZE]     e.g. 1GiB, 200MiB
# Needs GNU time (/usr/bin/time, in bench/peers/packages.txt): bash bench/peers/install.sh
set -eu
cd "$(dirname "$0")/../.."
[ -x /usr/bin/time ] || { echo "missing /usr/bin/time: run bash bench/peers/install.sh" >&2; exit 2; }
SIZE=${1:-1GiB}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
go build -o "$TMP/dsbench" ./bench/dataset
"$TMP/dsbench" -file examples/bankmarketing/data/bankmarketing_train.csv -gen "$SIZE" -out "$TMP/big.csv"
/usr/bin/time -v "$TMP/dsbench" -register "$TMP/big.csv" -workspace "$TMP/ws" > "$TMP/out" 2> "$TMP/time"
cat "$TMP/out"
rss=$(awk '/Maximum resident/ {print $NF}' "$TMP/time")
col=$(awk '$1 == "columnar_bytes" {print $2}' "$TMP/out")
csv=$(awk '$1 == "csv_bytes" {print $2}' "$TMP/out")
awk -v r="$rss" -v c="$col" -v s="$csv" 'BEGIN {
	printf "peak RSS %.0f MiB = %.2f x columnar (%.0f MiB), %.2f x CSV (%.0f MiB)\n", r/1024, r*1024/c, c/1048576, r*1024/s, s/1048576 }'
grep -E "Elapsed|User time|System time" "$TMP/time"
# Loading it back for training: a decode of the blob, no parse.
/usr/bin/time -v "$TMP/dsbench" -load big -workspace "$TMP/ws" 2> "$TMP/time2"
awk '/Maximum resident/ {printf "load peak RSS %.0f MiB\n", $NF/1024}' "$TMP/time2"
