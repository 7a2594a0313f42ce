#!/usr/bin/env bash
# telemetry-overhead.sh measures what the telemetry costs a webhook request:
# the handler benchmarks of this checkout against those of the commit before
# telemetry was added (59496d6), in two ways; and the in-memory gateway's
# per-event cost in each telemetry setting.
#
#   - Instructions per request, counted by valgrind's callgrind: the same
#     count for the same binary and input whatever else the machine does, so a
#     difference of 1 % is a real one. Each figure is the difference between a
#     run of 2N and one of N iterations, over N, so the start-up cancels out.
#   - Wall time: rounds that run the old binary and then the new one, compared
#     by benchstat (median and its confidence interval; on a shared 2-core
#     machine the noise is about ±10 %).
#
# Needs valgrind (apt-get install -y valgrind) and, for the wall time,
# benchstat (go install golang.org/x/perf/cmd/benchstat@latest).
#
# Usage: bench/telemetry-overhead.sh [rounds]   (default 20)
set -euo pipefail

base=59496d6
rounds=${1:-20}
repo=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
out=$(mktemp -d)
trap 'git -C "$repo" worktree remove --force "$out/base" >/dev/null 2>&1 || true; rm -rf "$out"' EXIT

git -C "$repo" worktree add --detach "$out/base" "$base" >/dev/null 2>&1
(cd "$out/base" && go test -c -o "$out/webhook.base" ./webhook)
(cd "$repo" && go test -c -o "$out/webhook.new" ./webhook && go test -c -o "$out/gateway.new" ./examples/crm/gateway)

# instructions binary bench n: callgrind's instruction count of n iterations,
# run in the package's directory (its testdata); one P, no preemption signals
# (callgrind cannot follow them) and no garbage collection, whose timing would
# vary the count (the allocations, which decide its cost, are reported apart).
instructions() {
	local dir=webhook
	case $1 in *gateway.*) dir=examples/crm/gateway ;; esac
	(cd "$repo/$dir" && GOGC=off GODEBUG=asyncpreemptoff=1 GOMAXPROCS=1 valgrind --tool=callgrind --callgrind-out-file=/dev/null \
		"$1" -test.run '^$' -test.bench "$2" -test.benchtime "$3x" -test.cpu 1 2>&1 |
		awk '/Collected/ {print $4} /^(--- FAIL|FAIL|panic)/ {print "failed: " $0 > "/dev/stderr"}')
}

# perop binary bench n: instructions per iteration.
perop() {
	local a b
	a=$(instructions "$1" "$2" "$3")
	b=$(instructions "$1" "$2" $(($3 * 2)))
	echo $(((b - a) / $3))
}

# row name base-count count: one line of the table.
row() {
	awk -v n="$1" -v b="$2" -v c="$3" 'BEGIN { printf "%-12s %8d instructions/op  %+5.1f %%\n", n, c, (c - b) * 100 / b }'
}

echo "== instructions per request (callgrind)"
echo "-- webhook handler (BenchmarkHandler, BenchmarkHandlerTelemetry)"
b=$(perop "$out/webhook.base" '^BenchmarkHandler$' 10000)
row before "$b" "$b"
for s in global noop sdk-metrics; do
	row "$s" "$b" "$(perop "$out/webhook.new" "^BenchmarkHandlerTelemetry/$s\$" 10000)"
done
# The gateway changed in other ways since the commit before telemetry, so
# its settings are compared with the explicit no-op providers instead.
echo "-- gateway in memory, per event (BenchmarkGatewayTelemetry), against the no-op providers"
b=$(perop "$out/gateway.new" '^BenchmarkGatewayTelemetry/noop$' 500)
row noop "$b" "$b"
for s in global sdk-metrics default; do
	row "$s" "$b" "$(perop "$out/gateway.new" "^BenchmarkGatewayTelemetry/$s\$" 500)"
done

command -v benchstat >/dev/null || { echo "benchstat not found: no wall times"; exit 0; }
echo "== wall time, $rounds interleaved rounds (benchstat)"
for i in $(seq "$rounds"); do
	"$out/webhook.base" -test.run '^$' -test.bench '^BenchmarkHandler$' -test.benchtime 100000x | grep '^Bench' >>"$out/before.txt"
	"$out/webhook.new" -test.run '^$' -test.bench 'BenchmarkHandlerTelemetry/(global|noop|sdk-metrics)$' -test.benchtime 100000x |
		grep '^Bench' >"$out/round.txt"
	for s in global noop sdk-metrics; do
		grep "/$s-" "$out/round.txt" | sed "s|Telemetry/$s||" >>"$out/$s.txt"
	done
done
for s in global noop sdk-metrics; do
	echo "-- $s"
	benchstat -filter '.unit:(sec/op OR allocs/op)' "$out/before.txt" "$out/$s.txt" | grep -E '^Handler|vs base'
done
