#!/bin/sh
# Serving side by side, in one run on the same cores: the reference peers of bench/peers
# (go_const, go_parse, flask_gunicorn_hgb) and `mlflow serve` with the real AutoML model
# and key auth, each loaded with
#   wrk -t2 -c16 -d10s   (throughput)  and   wrk -t1 -c1 -d5s   (unloaded latency)
# with the one-record bank-marketing payload, ROUNDS (default 3) interleaved
# rounds. Prints one table of medians.
#
#   bench/serving/run.sh            # trains the model first (budget $BUDGET, default 60s)
#   MODEL=path/to/model.json bench/serving/run.sh   # paths relative to the repository root
#   WS=/tmp/bench-ws bench/serving/run.sh   # keep the workspace: train once
#   ROUNDS=1 DURATION=3s DURATION1=2s BUDGET=10s bench/serving/run.sh   # a quick look
#   PORT=28080 bench/serving/run.sh   # the servers listen on PORT+1, +2, +13 and +14
#
# Needs the packages of bench/peers/packages.txt: bash bench/peers/install.sh
set -eu
. "$(dirname "$0")/../peers/common.sh"
need wrk gunicorn curl /usr/bin/python3
/usr/bin/python3 -c 'import sklearn, pandas, flask' 2>/dev/null ||
	{ echo "/usr/bin/python3 lacks sklearn, pandas or flask: run bash bench/peers/install.sh" >&2; exit 2; }

base=${PORT:-18080}
p_const=$((base + 1)) p_parse=$((base + 2)) p_flask=$((base + 13)) p_serve=$((base + 14))
# A server left over from another run (or another user's bench) on one of these ports would
# be measured in place of ours without a word: refuse to start instead.
for p in $p_const $p_parse $p_flask $p_serve; do
	if curl -s -o /dev/null "http://127.0.0.1:$p/"; then
		echo "port $p already answers (another bench running?): stop it or set PORT" >&2
		exit 1
	fi
done

echo "building..." >&2
go build -o "$tmp/goserver" ./bench/peers/goserver
go build -o "$tmp/mlflow" ./cmd/mlflow
# Training time is not measured; sleeping OpenMP threads keep it short on a busy machine.
OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=2 /usr/bin/python3 "$peers/make_model.py" "$tmp" >&2
payload=$tmp/payload.json

# WS keeps the trained model between runs (WS=/tmp/some/dir); default a temp dir.
ws=${WS:-$tmp/ws}
if [ -n "${MODEL:-}" ]; then
	ref=$MODEL
elif [ -f "$ws/.serving-bench-trained" ]; then
	ref=bankmarketing
else
	echo "training the model (budget ${BUDGET:-60s})..." >&2
	"$tmp/mlflow" --workspace "$ws" run bench/serving/workflow.cue -p budget="${BUDGET:-60s}" >&2
	touch "$ws/.serving-bench-trained"
	ref=bankmarketing
fi

wait_up() { # URL
	i=0
	until curl -s -o /dev/null "$1"; do
		i=$((i + 1)); [ $i -gt 200 ] && { echo "no answer from $1" >&2; exit 1; }
		sleep 0.1
	done
}

"$tmp/goserver" -mode const -addr 127.0.0.1:$p_const & pids="$pids $!"
"$tmp/goserver" -mode parse -addr 127.0.0.1:$p_parse & pids="$pids $!"
PEERS_MODEL=$tmp/hgb.pkl OMP_NUM_THREADS=1 gunicorn -w 2 -k sync -b 127.0.0.1:$p_flask --chdir "$peers" --log-level warning flask_app:app & pids="$pids $!"
"$tmp/mlflow" --workspace "$ws" serve --model "$ref" --name bankmarketing --addr 127.0.0.1:$p_serve --auth key 2>"$tmp/serve.log" & pids="$pids $!"
for u in http://127.0.0.1:$p_const/ http://127.0.0.1:$p_parse/ http://127.0.0.1:$p_flask/ http://127.0.0.1:$p_serve/livez; do wait_up "$u"; done
for p in $pids; do
	kill -0 "$p" 2>/dev/null || { echo "a server exited at start (see above; mlflow serve's log: $(cat "$tmp/serve.log"))" >&2; exit 1; }
done
key=$("$tmp/mlflow" --workspace "$ws" endpoint keys bankmarketing --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["primary"])')

# A wrong answer must not pass for speed: every server must score the payload.
for p in $p_parse $p_flask $p_serve; do
	code=$(curl -s -o "$tmp/answer" -w '%{http_code}' -H 'Content-Type: application/json' -H "Authorization: Bearer $key" --data-binary @"$payload" "http://127.0.0.1:$p/score")
	[ "$code" = 200 ] || { echo "port $p answered $code: $(cat "$tmp/answer")" >&2; exit 1; }
	echo "port $p: $(cat "$tmp/answer")" >&2
done
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' --data-binary @"$payload" "http://127.0.0.1:$p_serve/score")
[ "$code" = 401 ] || { echo "mlflow serve without a key answered $code, want 401" >&2; exit 1; }

load() { # NAME PORT KEY ROUND
	for mode in "-t2 -c16 -d${DURATION:-10s}" "-t1 -c1 -d${DURATION1:-5s}"; do
		# shellcheck disable=SC2086
		PAYLOAD=$payload KEY=$3 wrk $mode --latency -s "$peers/post.lua" "http://127.0.0.1:$2/score" >"$tmp/wrk.$1.$(echo $mode | cut -c1-3).$4" 2>&1
	done
}
# Rounds interleave the servers so that noise from other work on the
# machine spreads over all of them; the table shows medians.
rounds=${ROUNDS:-3}
r=1
while [ $r -le "$rounds" ]; do
	for peer in "go_const $p_const" "go_parse $p_parse" "flask_gunicorn_hgb $p_flask" "mlflow_serve $p_serve"; do
		set -- $peer
		k=""; [ "$1" = mlflow_serve ] && k=$key
		echo "round $r/$rounds: loading $1..." >&2
		load "$1" "$2" "$k" "$r"
	done
	r=$((r + 1))
done

/usr/bin/python3 - "$tmp" "$rounds" <<'PY'
import re, sys, os, statistics
tmp, rounds = sys.argv[1], int(sys.argv[2])
def ms(s):
    m = re.match(r"([\d.]+)(us|ms|s)", s)
    v = float(m.group(1))
    return {"us": v / 1000, "ms": v, "s": v * 1000}[m.group(2)]
def parse(path):
    t = open(path).read()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
    p50 = ms(re.search(r"\s50%\s+(\S+)", t).group(1))
    p99 = ms(re.search(r"\s99%\s+(\S+)", t).group(1))
    errs = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
    sock = re.search(r"Socket errors: (.*)", t)
    return rps, p50, p99, int(errs.group(1)) if errs else 0, sock.group(1) if sock else ""
names = ["go_const", "go_parse", "flask_gunicorn_hgb", "mlflow_serve"]
def median(mode, n):
    rs = [parse(os.path.join(tmp, f"wrk.{n}.{mode}.{i}")) for i in range(1, rounds + 1)]
    return tuple(statistics.median(x[k] for x in rs) for k in range(3)) + (sum(x[3] for x in rs),)
r = {n: (median("-t2", n), median("-t1", n)) for n in names}
print(f"medians of {rounds} interleaved rounds")
print(f"{'server':20} {'rps c16':>10} {'p50 ms':>8} {'p99 ms':>8} {'rps c1':>9} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8}")
for n in names:
    a, b = r[n]
    print(f"{n:20} {a[0]:>10.0f} {a[1]:>8.3f} {a[2]:>8.3f} {b[0]:>9.0f} {b[1]:>8.3f} {b[2]:>8.3f} {a[3] + b[3]:>8}")
m = r["mlflow_serve"]
print()
print(f"mlflow_serve / go_parse rps (c16): {m[0][0] / r['go_parse'][0][0]:.2f}x   (target >= 0.9)")
print(f"mlflow_serve / flask rps (c16):    {m[0][0] / r['flask_gunicorn_hgb'][0][0]:.0f}x   (target >= 70)")
print(f"mlflow_serve unloaded p50:         {m[1][1]:.3f} ms (target < 0.2)")
PY
