# Sourced by the side-by-side bench scripts (bench/serving/run.sh, bench/loadgen/run.sh):
# the repository root as the working directory, a temporary folder, and servers started
# in the background (their pids appended to $pids) stopped on any exit.
cd "$(dirname "$0")/../.."
repo=$(pwd)
peers=$repo/bench/peers
tmp=$(mktemp -d)
pids=""
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

# need exits 2 naming the first tool of its arguments that is not installed.
need() {
	for t in "$@"; do
		command -v "$t" >/dev/null || { echo "missing $t: run bash bench/peers/install.sh" >&2; exit 2; }
	done
}
