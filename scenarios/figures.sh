#!/usr/bin/env bash
# The load generator's README figures (issue #9), each against the reference relay running as its
# own process (mpcrelay serve) and, for the knee, the forwarder as its own (mpcrelay forwarder).
# Usage: scenarios/figures.sh [OUTDIR] [PART...]   PART: cpu groups knee segments syscalls
# (default: the first four; syscalls needs perf and the rights to trace both processes)
# Run it on a quiet machine; it prints the load average beside every figure.
set -euo pipefail
OUT=${1:-/tmp/mpcrelay-figures}; shift || true
PARTS=${*:-cpu groups knee segments}
mkdir -p "$OUT"
B="$OUT/mpcrelay"
go build -o "$B" ./cmd/mpcrelay
echo "commit $(git rev-parse --short HEAD), $(nproc) CPUs"

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

# start NAME CMD...: runs a server in the background, sets URL and PID from its "listening on" line.
start() {
	local name=$1; shift
	"$@" 2>"$OUT/$name.log" &
	PID=$!; pids+=("$PID")
	for _ in $(seq 100); do grep -qs 'listening on' "$OUT/$name.log" && break; sleep 0.1; done
	URL=$(grep -o 'listening on ws://[^ ]*' "$OUT/$name.log" | head -1 | cut -d' ' -f3)
}
stop() { kill "$1"; wait "$1" 2>/dev/null || true; }
load() { echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"; }

for part in $PARTS; do
	case $part in
	cpu) # The command: 300 groups of the checked-in trace for 10 s; generator vs relay CPU.
		start relay "$B" serve --addr 127.0.0.1:0
		load
		"$B" replay --url "$URL" --relay-pid "$PID" --groups 300 --duration 10s --quiet --report-dir "$OUT/cpu"
		stop "$PID" ;;
	groups) # Throughput as groups grow, and which side saturated.
		for g in 10 100 1000; do
			start relay "$B" serve --addr 127.0.0.1:0
			load
			"$B" replay --url "$URL" --relay-pid "$PID" --groups "$g" --duration 10s --quiet --report-dir "$OUT/groups-$g" | grep -E '^(relay|cpu|  )'
			stop "$PID"
		done ;;
	knee) # Capacity at p99 <= 50 ms: relay and forwarder in one run, steps interleaved.
		start relay "$B" serve --addr 127.0.0.1:0; RURL=$URL; RPID=$PID
		start forwarder "$B" forwarder --addr 127.0.0.1:0; FURL=$URL; FPID=$PID
		load
		"$B" replay --url "$RURL" --relay-pid "$RPID" --baseline-url "$FURL" --baseline-pid "$FPID" \
			--select eddsa --groups 200 --sweep --sweep-start 50 --sweep-factor 1.5 --sweep-step 5s \
			--report-dir "$OUT/knee-eddsa" || true
		"$B" replay --url "$RURL" --relay-pid "$RPID" --baseline-url "$FURL" --baseline-pid "$FPID" \
			--groups 200 --time-scale 0.05 --sweep --sweep-start 20 --sweep-factor 1.5 --sweep-step 5s \
			--report-dir "$OUT/knee-all" || true
		stop "$RPID"; stop "$FPID" ;;
	segments) # Three generator processes (segments 1/3..3/3) against one relay, then one process.
		start relay "$B" serve --addr 127.0.0.1:0
		load
		at=$(($(date +%s) + 3))
		args=(--url "$URL" --relay-pid "$PID" --select eddsa --groups 300 --rate 200 --duration 10s --quiet)
		segs=()
		for i in 1 2 3; do "$B" replay "${args[@]}" --segment "$i/3" --start-at "$at" --report-dir "$OUT/seg$i" >/dev/null & segs+=($!); done
		wait "${segs[@]}" || true
		"$B" report merge --out "$OUT/seg-merged" "$OUT/seg1" "$OUT/seg2" "$OUT/seg3" | grep -E '^(relay|cpu|schedule)'
		"$B" replay "${args[@]}" --report-dir "$OUT/seg-single" | grep -E '^(relay|cpu|schedule)'
		stop "$PID" ;;
	syscalls) # System calls of generator and relay over the same 4 s of the command.
		if ! command -v perf >/dev/null; then echo "syscalls: skipped, perf is not installed (Debian: linux-perf)"; continue; fi
		start relay "$B" serve --addr 127.0.0.1:0
		load
		"$B" replay --url "$URL" --relay-pid "$PID" --groups 300 --duration 10s --quiet --report-dir "$OUT/syscalls" | grep -E '^(relay|cpu)' &
		gen=$!
		sleep 3
		GPID=$(pgrep -f -- "replay --url $URL " | head -1)
		ev=syscalls:sys_enter_read,syscalls:sys_enter_write,syscalls:sys_enter_writev,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_epoll_pwait,syscalls:sys_enter_futex
		perf stat -e "$ev" -p "$GPID" -o "$OUT/syscalls-generator.txt" -- sleep 4 &
		perf stat -e "$ev" -p "$PID" -o "$OUT/syscalls-relay.txt" -- sleep 4
		wait "$gen" || true
		for side in generator relay; do
			awk -v s="$side" '/syscalls:/ {sub("syscalls:sys_enter_", "", $2); printf "%s %s %s\n", s, $2, $1}' "$OUT/syscalls-$side.txt"
		done
		stop "$PID" ;;
	*) echo "unknown part $part" >&2; exit 2 ;;
	esac
done
