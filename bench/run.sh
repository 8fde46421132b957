#!/usr/bin/env bash
# bench/run.sh: the benchmarks' one command. Builds Caddy with agenthook and the
# bench tools, runs every benchmark (P0-P5) with repeats, the full fault
# suite (F1-F6) and every fuzz target, then writes BENCHMARKS.md (repo
# root) and bench/chart.png. Everything else goes to bench/out/.
#
# All traffic stays on loopback. Every step is bounded in count and time
# and stops itself; on exit (also Ctrl-C) every process started here is
# killed.
#
# Environment:
#   BENCH_QUICK=1        3 repeats x 2 s and smaller sizes: checks the tooling,
#                        numbers not for publication (fuzzing then defaults to 10s)
#   BENCH_REPEATS=n      repeats per figure (default 5, quick 3)
#   BENCH_DURATION=10s   one load run (default 10s, quick 2s)
#   BENCH_ONLY=P1,P3     only these scenarios (P0 = load generator check,
#                        P1B = Basic auth with a bcrypt-14 hash, and under a flood,
#                        P6 = sync with `adapter openai` vs plain reverse_proxy,
#                        P7 = whole tasks on one PostgreSQL, two instances vs one)
#   BENCH_MERGE=1        with BENCH_ONLY: keep the other scenarios' figures from
#                        the last run (re-measure some after a change; noted)
#   BENCH_SKIP_MEASURE=1 skip the benchmarks  } a skipped step's results from an
#   BENCH_SKIP_FAULTS=1  skip the fault suite } earlier run in bench/out are kept
#   BENCH_SKIP_FUZZ=1    skip fuzzing         } and reported (so the steps can run
#                                               at different times)
#   BENCH_KEEP=1         keep the Caddy directories (stores) in bench/out/run
#   FUZZ_TIME=5m         per fuzz target (default 5m, quick 10s)
#   FUZZ_JOBS=n          fuzz targets run at once, one worker each (default: CPUs)
#   GOTOOLCHAIN          Go to build with (default go1.27.3)
#   AGENTHOOK_PG_DSN     PostgreSQL for P2 and P7 (else a throwaway server is started
#                        from the PostgreSQL binaries, if any)
set -euo pipefail
cd "$(dirname "$0")/.."
# Go 1.27.3, as test.sh and xcaddy.sh: this machine's go may ignore go.mod's
# toolchain line (GOTOOLCHAIN=local).
export GOTOOLCHAIN="${GOTOOLCHAIN:-go1.27.3}"
ROOT="$PWD"
OUT="$ROOT/bench/out"
mkdir -p "$OUT"

QUICK="${BENCH_QUICK:-}"
if [ -n "$QUICK" ]; then
	FUZZ_TIME="${FUZZ_TIME:-10s}"
else
	FUZZ_TIME="${FUZZ_TIME:-5m}"
fi

# to_secs 5m -> 300 (s, m, h; anything else, such as 1000x, -> 600).
to_secs() {
	local v="$1" n="${1%[smh]}"
	if [[ "$n" =~ ^[0-9]+$ ]]; then
		case "$v" in
		*h) echo $((n * 3600)); return ;;
		*m) echo $((n * 60)); return ;;
		*s) echo "$n"; return ;;
		esac
	fi
	echo 600
}

FUZZ_JOBS="${FUZZ_JOBS:-$(nproc)}"

step() { printf '\n== %s  %s\n' "$(date +%H:%M:%S)" "$*"; }

# Children run in their own process group (setsid), so that the trap can
# end each of them, and whatever it started, by its id.
CHILDREN=()
cleanup() {
	local rc=$?
	for pid in "${CHILDREN[@]:-}"; do
		[ -n "$pid" ] || continue
		kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
	done
	sleep 1
	for pid in "${CHILDREN[@]:-}"; do
		[ -n "$pid" ] || continue
		kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
	done
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# run_bounded SECONDS CMD...: runs CMD in its own session, killed after
# SECONDS; returns its exit status.
run_bounded() {
	local secs="$1"
	shift
	setsid -w timeout --signal=TERM --kill-after=30 "$secs" "$@" &
	local pid=$!
	CHILDREN+=("$pid")
	local rc=0
	wait "$pid" || rc=$?
	return "$rc"
}

step "build"
# xcaddy's default tags, as xcaddy.sh and test.sh build (see xcaddy.sh).
go build -tags nobadger,nomysql,nopgx -o "$OUT/caddy" ./cmd/caddy
go build -o "$OUT/" ./bench/cmd/loadgen ./bench/cmd/fakeagent ./bench/cmd/sink ./bench/cmd/bench
"$OUT/caddy" version

if ! command -v wrk >/dev/null 2>&1; then
	step "installing wrk"
	if [ "$(id -u)" = 0 ]; then
		apt-get update -qq && apt-get install -y -qq wrk
	else
		sudo apt-get update -qq && sudo apt-get install -y -qq wrk
	fi
fi

MEASURE_ARGS=(measure -out "$OUT" -caddy "$OUT/caddy" -bin "$OUT")
[ -n "$QUICK" ] && MEASURE_ARGS+=(-quick)
[ -n "${BENCH_REPEATS:-}" ] && MEASURE_ARGS+=(-repeats "$BENCH_REPEATS")
[ -n "${BENCH_DURATION:-}" ] && MEASURE_ARGS+=(-d "$BENCH_DURATION")
[ -n "${BENCH_ONLY:-}" ] && MEASURE_ARGS+=(-only "$BENCH_ONLY")
[ -n "${BENCH_MERGE:-}" ] && MEASURE_ARGS+=(-merge)

status=0
if [ -z "${BENCH_SKIP_MEASURE:-}" ]; then
	step "benchmarks (bench measure ${MEASURE_ARGS[*]:1})"
	if ! run_bounded $((4 * 3600)) "$OUT/bench" "${MEASURE_ARGS[@]}"; then
		echo "some benchmarks failed; see the notes in BENCHMARKS.md and bench/out/logs/"
		status=1
	fi
fi

if [ -z "${BENCH_SKIP_FAULTS:-}" ]; then
	size=full
	[ -n "$QUICK" ] && size=reduced
	step "fault suite F1-F6 ($size)"
	# Each fault test appends its result, one JSON object a line, to
	# faults.jsonl (the report reads it); faults.log is for people.
	: >"$OUT/faults.jsonl"
	faults_env=(env AGENTHOOK_CADDY="$OUT/caddy" AGENTHOOK_FAULT_RESULTS="$OUT/faults.jsonl")
	[ -z "$QUICK" ] && faults_env+=(AGENTHOOK_FAULTS=full)
	if ! run_bounded 3600 "${faults_env[@]}" go test -v -count=1 -timeout 55m -run '^TestFault' ./e2e >"$OUT/faults.log" 2>&1; then
		echo "fault suite failed; see bench/out/faults.log"
		status=1
	fi
	sed -n '/"result":"running"/d; s/^{"test":"\([^"]*\)","result":"\([^"]*\)".*"summary":"\([^"]*\)".*/  \1 \2: \3/p; t; s/^{"test":"\([^"]*\)","result":"\([^"]*\)".*/  \1 \2/p' "$OUT/faults.jsonl"
fi

if [ -z "${BENCH_SKIP_FUZZ:-}" ]; then
	step "fuzzing, ${FUZZ_TIME} per target, ${FUZZ_JOBS} at a time"
	mkdir -p "$OUT/fuzz"
	: >"$OUT/fuzz.txt"
	secs=$(to_secs "$FUZZ_TIME")
	targets=()
	for pkg in $(go list ./...); do
		dir="$(go list -f '{{.Dir}}' "$pkg")"
		for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
			targets+=("$pkg $dir $target")
		done
	done
	# Targets run FUZZ_JOBS at a time, each with one fuzzing worker, so
	# every target still gets its whole FUZZ_TIME of one CPU.
	for ((first = 0; first < ${#targets[@]}; first += FUZZ_JOBS)); do
		batch=()
		for ((i = first; i < first + FUZZ_JOBS && i < ${#targets[@]}; i++)); do
			read -r pkg dir target <<<"${targets[$i]}"
			corpus="$dir/testdata/fuzz/$target"
			before=$( (ls "$corpus" 2>/dev/null || true) | wc -l)
			echo "-- $pkg $target"
			setsid -w timeout --signal=TERM --kill-after=30 $((secs + 600)) \
				go test "$pkg" -run='^$' -fuzz="^${target}\$" -fuzztime="$FUZZ_TIME" -parallel=1 >"$OUT/fuzz/$target.log" 2>&1 &
			CHILDREN+=("$!")
			batch+=("$! $before $i")
		done
		for job in "${batch[@]}"; do
			read -r pid before i <<<"$job"
			read -r pkg dir target <<<"${targets[$i]}"
			log="$OUT/fuzz/$target.log"
			result=ok
			if ! wait "$pid"; then
				result=FAIL
				status=1
			fi
			after=$( (ls "$dir/testdata/fuzz/$target" 2>/dev/null || true) | wc -l)
			execs=$( (grep -o 'execs: [0-9]*' "$log" || true) | tail -1 | awk '{print $2}')
			printf '%s\t%s\t%s\t%s\t%s\t%s\n' "${pkg#github.com/agenthook/agenthook/}" "$target" "$FUZZ_TIME" "${execs:-?}" "$result" "$((after - before))" >>"$OUT/fuzz.txt"
			echo "   $target: $(tail -1 "$log" || true)"
		done
	done
fi

step "report"
"$OUT/bench" report -out "$OUT" -md "$ROOT/BENCHMARKS.md" -chart "$ROOT/bench/chart.png"
echo "wrote BENCHMARKS.md and bench/chart.png"
exit "$status"
