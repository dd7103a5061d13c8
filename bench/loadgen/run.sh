#!/bin/sh
# Load generators side by side (issue: the benchmark step, "as accurate as wrk"): mlflow's
# own (internal/loadgen, through `mlflow bench`), wrk, hey and ab, each loading
#   mlflow_serve  one of our endpoints: `mlflow serve` with the bank-marketing AutoML model
#                 and key auth, POST /score with one record
#   go_parse      the project's reference Go server (bench/peers/goserver -mode parse)
# with the same load: CONC connections (default 16), kept alive, for DURATION seconds
# (default 10), ROUNDS (default 3) interleaved rounds. Prints one table of medians:
# requests/s, p50, p99, and the generator's own CPU (user+sys seconds per run, and µs per
# request), then our figures as ratios to wrk's.
#
#   bench/loadgen/run.sh
#   WS=/tmp/bench-ws bench/loadgen/run.sh        # keep the workspace: train once
#   MODEL=path/to/model.json bench/loadgen/run.sh
#   ROUNDS=1 DURATION=3 BUDGET=10s bench/loadgen/run.sh   # a quick look
#   DELAY=2ms bench/loadgen/run.sh          # go_parse answers after a known latency: accuracy
#   OLD=/tmp/mlflow-before bench/loadgen/run.sh   # also an older mlflow binary, as mlflow_old,
#                                                 # interleaved with the others: before/after in one run
#
# Needs wrk, ab (Debian's apache2-utils), curl and GNU time (/usr/bin/time); the packages of
# bench/peers/packages.txt come from bash bench/peers/install.sh. hey is built from the Go
# module proxy into a temporary GOBIN (it never becomes a requirement of this module).
set -eu
. "$(dirname "$0")/../peers/common.sh"
need wrk ab curl /usr/bin/time /usr/bin/python3
[ -z "${OLD:-}" ] || [ -x "$OLD" ] || { echo "OLD=$OLD: not an executable mlflow binary" >&2; exit 2; }

echo "building..." >&2
go build -o "$tmp/goserver" ./bench/peers/goserver
go build -o "$tmp/mlflow" ./cmd/mlflow
GOBIN=$tmp/bin GOFLAGS= go install "github.com/rakyll/hey@${HEY_VERSION:-v0.1.4}"
hey=$tmp/bin/hey

# One bank-marketing record, Azure's /score input.
payload=$tmp/payload.json
cat >"$payload" <<'JSON'
{"data": [{"age": 29, "job": "management", "marital": "single", "education": "basic.9y", "default": "no", "housing": "yes", "loan": "no", "contact": "cellular", "month": "jul", "day_of_week": "fri", "duration": 135, "campaign": 1, "pdays": 999, "previous": 0, "poutcome": "nonexistent", "emp.var.rate": 1.4, "cons.price.idx": 93.918, "cons.conf.idx": -42.7, "euribor3m": 4.957, "nr.employed": 5228.1}]}
JSON

ws=${WS:-$tmp/ws}
if [ -n "${MODEL:-}" ]; then
	ref=$MODEL
elif [ -f "$ws/.serving-bench-trained" ]; then
	ref=bankmarketing
else
	echo "training the model (budget ${BUDGET:-30s})..." >&2
	"$tmp/mlflow" --workspace "$ws" run bench/serving/workflow.cue -p budget="${BUDGET:-30s}" >&2
	touch "$ws/.serving-bench-trained"
	ref=bankmarketing
fi

p_parse=18182
p_serve=18194
# DELAY (e.g. 2ms) holds every go_parse answer that long: a latency known in advance, against
# which each generator's p50 can be read for accuracy rather than against another generator.
"$tmp/goserver" -mode parse -addr 127.0.0.1:$p_parse -delay "${DELAY:-0}" & pids="$pids $!"
"$tmp/mlflow" --workspace "$ws" serve --model "$ref" --name bankmarketing --addr 127.0.0.1:$p_serve --auth key 2>"$tmp/serve.log" & pids="$pids $!"
for u in http://127.0.0.1:$p_parse/ http://127.0.0.1:$p_serve/livez; do
	i=0
	until curl -s -o /dev/null "$u"; do
		i=$((i + 1)); [ $i -gt 200 ] && { echo "no answer from $u" >&2; exit 1; }
		sleep 0.1
	done
done
key=$("$tmp/mlflow" --workspace "$ws" endpoint keys bankmarketing --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["primary"])')

# A wrong answer must not pass for speed: both servers must score the payload.
for p in $p_parse $p_serve; do
	code=$(curl -s -o "$tmp/answer" -w '%{http_code}' -H 'Content-Type: application/json' -H "Authorization: Bearer $key" --data-binary @"$payload" "http://127.0.0.1:$p/score")
	[ "$code" = 200 ] || { echo "port $p answered $code: $(cat "$tmp/answer")" >&2; exit 1; }
done

c=${CONC:-16}
d=${DURATION:-10}
# gen GENERATOR TARGET PORT KEY ROUND: one run, its output in $tmp/GEN.TARGET.ROUND and its
# CPU (elapsed, user, system seconds) in the same name plus .time.
gen() {
	out=$tmp/$1.$2.$5
	url=http://127.0.0.1:$3/score
	case $1 in
	mlflow|mlflow_old)
		bin=$tmp/mlflow; [ "$1" = mlflow_old ] && bin=$OLD
		if [ -n "$4" ]; then h="Authorization: Bearer $4"; else h="X-None: 1"; fi
		/usr/bin/time -f '%e %U %S' -o "$out.time" "$bin" bench -q -k -c "$c" -t "$d" -p "$payload" -T application/json -H "$h" --json "$url" >"$out" ;;
	wrk)
		# wrk wants no more threads than connections (CONC=1).
		t=2; [ "$c" -lt 2 ] && t=1
		PAYLOAD=$payload KEY=$4 /usr/bin/time -f '%e %U %S' -o "$out.time" wrk -t$t -c"$c" -d"${d}s" --latency -s "$peers/post.lua" "$url" >"$out" ;;
	hey)
		if [ -n "$4" ]; then h="Authorization: Bearer $4"; else h="X-None: 1"; fi
		/usr/bin/time -f '%e %U %S' -o "$out.time" "$hey" -z "${d}s" -c "$c" -m POST -T application/json -D "$payload" -H "$h" "$url" >"$out" ;;
	ab)
		if [ -n "$4" ]; then h="Authorization: Bearer $4"; else h="X-None: 1"; fi
		# ab's -t stops at 50000 requests unless -n says more; -e keeps its percentiles
		# with decimals (its summary rounds to whole milliseconds).
		/usr/bin/time -f '%e %U %S' -o "$out.time" ab -q -k -c "$c" -t "$d" -n 100000000 -p "$payload" -T application/json -H "$h" -e "$out.csv" "$url" >"$out" 2>&1 ;;
	esac
}
# Rounds interleave generators and servers, so noise from other work on the machine
# spreads over all of them; the table shows medians.
rounds=${ROUNDS:-3}
r=1
while [ $r -le "$rounds" ]; do
	for target in "go_parse $p_parse" "mlflow_serve $p_serve"; do
		set -- $target
		k=""; [ "$1" = mlflow_serve ] && k=$key
		for g in mlflow ${OLD:+mlflow_old} wrk hey ab; do
			echo "round $r/$rounds: $g loading $1..." >&2
			gen "$g" "$1" "$2" "$k" "$r"
		done
	done
	r=$((r + 1))
done

/usr/bin/python3 - "$tmp" "$rounds" "$c" "$d" "${OLD:+old}" <<'PY'
import json, os, re, statistics, sys
tmp, rounds, conc, dur, old = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
def unit(v, u):
    return float(v) * {"us": 1e-3, "ms": 1, "s": 1e3, "secs": 1e3}[u]
def parse(gen, path):
    t = open(path).read()
    if gen.startswith("mlflow"):
        r = json.loads(t)
        bad = r["failures"]
        return r["rps"], r["p50_ms"], r["p99_ms"], r["requests"], bad, r["mean_ms"]
    if gen == "wrk":
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
        p50 = unit(*re.search(r"\s50%\s+([\d.]+)(us|ms|s)", t).groups())
        p99 = unit(*re.search(r"\s99%\s+([\d.]+)(us|ms|s)", t).groups())
        n = int(re.search(r"(\d+) requests in", t).group(1))
        bad = sum(int(x) for x in re.findall(r"Non-2xx or 3xx responses: (\d+)", t))
        sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", t)
        bad += sum(int(x) for x in sock.groups()) if sock else 0
        mean = unit(*re.search(r"Latency\s+([\d.]+)(us|ms|s)", t).groups())
        return rps, p50, p99, n, bad, mean
    if gen == "hey":
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
        p50 = unit(re.search(r"50%+ in ([\d.]+) secs", t).group(1), "secs")
        p99 = unit(re.search(r"99%+ in ([\d.]+) secs", t).group(1), "secs")
        codes = {int(a): int(b) for a, b in re.findall(r"\[(\d+)\]\s+(\d+) responses", t)}
        n = sum(codes.values())
        errs = 0
        if "Error distribution:" in t:
            errs = sum(int(x) for x in re.findall(r"^\s+\[(\d+)\]\s", t.split("Error distribution:")[1], re.M))
        bad = n - codes.get(200, 0) + errs
        mean = unit(re.search(r"Average:\s+([\d.]+) secs", t).group(1), "secs")
        return rps, p50, p99, n, bad, mean
    if gen == "ab":
        rps = float(re.search(r"Requests per second:\s+([\d.]+)", t).group(1))
        n = int(re.search(r"Complete requests:\s+(\d+)", t).group(1))
        bad = int(re.search(r"Failed requests:\s+(\d+)", t).group(1))
        m = re.search(r"Non-2xx responses:\s+(\d+)", t)
        bad += int(m.group(1)) if m else 0
        pct = dict(line.split(",") for line in open(path + ".csv").read().split("\n")[1:] if line)
        # ab's mean latency is printed in whole milliseconds: too coarse here.
        return rps, float(pct["50"]), float(pct["99"]), n, bad, float("nan")
def cpu(path):
    e, u, s = open(path + ".time").read().split()[-3:]
    return float(u) + float(s)
gens = ["mlflow"] + (["mlflow_old"] if old else []) + ["wrk", "hey", "ab"]
targets = ["go_parse", "mlflow_serve"]
res = {}
for tg in targets:
    for g in gens:
        rs = []
        for i in range(1, rounds + 1):
            p = os.path.join(tmp, f"{g}.{tg}.{i}")
            rps, p50, p99, n, bad, mean = parse(g, p)
            c = cpu(p)
            # Little's law: with every connection always busy, the mean
            # latency is connections / throughput; a generator whose mean
            # is far from it is not measuring the requests it counts.
            little = mean / (int(conc) / rps * 1e3) if rps > 0 else float("nan")
            rs.append((rps, p50, p99, c, c / max(n, 1) * 1e6, little, bad))
        res[tg, g] = tuple(statistics.median(x[k] for x in rs) for k in range(6)) + (sum(x[6] for x in rs),)
print(f"medians of {rounds} interleaved rounds; {conc} connections kept alive, {dur} s each, POST /score, one record")
if os.environ.get("DELAY", "0") not in ("", "0"):
    print(f"go_parse holds every answer {os.environ['DELAY']}: no generator can read a latency below it")
print(f"{'server':13} {'generator':10} {'requests/s':>11} {'p50 ms':>8} {'p99 ms':>8} {'CPU s':>6} {'CPU µs/req':>10} {'mean/Little':>11} {'failed':>7}")
for tg in targets:
    for g in gens:
        r = res[tg, g]
        print(f"{tg:13} {g:10} {r[0]:>11.0f} {r[1]:>8.3f} {r[2]:>8.3f} {r[3]:>6.2f} {r[4]:>10.1f} {r[5]:>11.2f} {r[6]:>7}")
print("mean/Little: the generator's mean latency over connections/throughput (1.00: consistent; ab's mean is whole ms)")
print()
for tg in targets:
    m, w = res[tg, "mlflow"], res[tg, "wrk"]
    print(f"{tg}: mlflow/wrk requests/s {m[0] / w[0]:.2f} (target >= 0.90), p50 {m[1] / w[1]:.2f} (target 0.80-1.20), "
          f"CPU per request {m[4] / w[4]:.2f} (target <= 1); CPU per request, hey/mlflow {res[tg, 'hey'][4] / m[4]:.1f}x, ab/mlflow {res[tg, 'ab'][4] / m[4]:.1f}x")
    if old:
        o = res[tg, "mlflow_old"]
        print(f"{tg}: mlflow_old/wrk requests/s {o[0] / w[0]:.2f}, p50 {o[1] / w[1]:.2f}, CPU per request {o[4] / w[4]:.2f}; "
              f"mlflow/mlflow_old CPU per request {m[4] / o[4]:.2f}")
PY
