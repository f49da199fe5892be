#!/usr/bin/env bash
# fuzz.sh — build the libFuzzer targets with clang + ASan/UBSan in build-fuzz
# and run each for FUZZ_SECONDS (default 60). Exits non-zero when a target
# crashes (its reproducer is left in tests/fuzz/artifacts/).
#   FUZZ_SECONDS=300 scripts/fuzz.sh            all targets
#   scripts/fuzz.sh fuzz_decode_text            one target
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER=${FUZZ_SECONDS:-60}
BUILD=${FUZZ_BUILD_DIR:-build-fuzz}
TARGETS=${*:-fuzz_decode_json fuzz_decode_text fuzz_decode_otlp_pb fuzz_decode_otlp_json fuzz_decode_zipkin}

# A target fuzz_decode_X seeds from tests/fuzz/corpus/X.
for t in $TARGETS; do
	case $t in
	fuzz_decode_*) [ -d "tests/fuzz/corpus/${t#fuzz_decode_}" ] ;;
	*) false ;;
	esac || { echo "fuzz.sh: unknown target $t" >&2; exit 2; }
done

if [ ! -f "$BUILD/build.ninja" ]; then
	CC=clang meson setup "$BUILD" -Dfuzz=true -Dtests=enabled \
		-Djemalloc=disabled -Db_sanitize=address,undefined \
		-Db_lundef=false -Dbuildtype=debugoptimized
fi
for t in $TARGETS; do
	ninja -C "$BUILD" "tests/fuzz/$t"
done

mkdir -p tests/fuzz/artifacts
# One target per core at a time (FUZZ_JOBS, default the cores online):
# each libFuzzer run is one process on one core, so on two cores five
# targets take three rounds of FUZZ_SECONDS instead of five.
JOBS=${FUZZ_JOBS:-$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)}
[ "$JOBS" -ge 1 ] 2>/dev/null || JOBS=1
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

# run_one TARGET: fuzzes TARGET on a scratch copy of its seeds; its
# summary (or, on a failure, the end of its log with the reproducer's
# name) goes to $OUT/TARGET.out, and $OUT/TARGET.failed marks a failure.
run_one() {
	t=$1
	corpus=${t#fuzz_decode_}
	maxlen=8192
	# Work on a scratch copy of the seeds so the repository stays small.
	work=$(mktemp -d)
	cp tests/fuzz/corpus/$corpus/* "$work"/
	{
		echo "== $t for ${SECONDS_PER}s"
		# libFuzzer's progress lines go to a log; its summary is kept.
		if UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		   ASAN_OPTIONS=detect_leaks=1 \
		   "$BUILD/tests/fuzz/$t" "$work" -max_total_time="$SECONDS_PER" \
			-max_len="$maxlen" -timeout=10 -rss_limit_mb=2048 \
			-artifact_prefix=tests/fuzz/artifacts/ -print_final_stats=1 \
			> "$work.log" 2>&1; then
			grep -E "^Done|stat::number_of_executed_units|stat::peak_rss" "$work.log" || true
		else
			tail -n 60 "$work.log"
			echo "fuzz.sh: $t FAILED"
			: > "$OUT/$t.failed"
		fi
	} > "$OUT/$t.out" 2>&1
	rm -f "$work.log"
	rm -rf "$work"
}

running=0
for t in $TARGETS; do
	if [ "$running" -ge "$JOBS" ]; then
		wait -n 2>/dev/null || wait
		running=$((running - 1))
	fi
	run_one "$t" &
	running=$((running + 1))
done
wait
status=0
for t in $TARGETS; do
	if [ ! -e "$OUT/$t.out" ]; then # its set-up failed (no seeds?)
		echo "fuzz.sh: $t did not run" >&2
		status=1
		continue
	fi
	cat "$OUT/$t.out"
	if [ -e "$OUT/$t.failed" ]; then
		status=1
	fi
done
exit $status
