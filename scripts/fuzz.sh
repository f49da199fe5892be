#!/bin/sh
# fuzz.sh — build the libFuzzer targets with clang + ASan/UBSan in build-fuzz
# and run each for FUZZ_SECONDS (default 60). Exits non-zero when a target
# crashes (its reproducer is left in tests/fuzz/artifacts/).
#   FUZZ_SECONDS=300 scripts/fuzz.sh            all targets
#   scripts/fuzz.sh fuzz_decode_text            one target
set -eu
cd "$(dirname "$0")/.."
SECONDS_PER=${FUZZ_SECONDS:-60}
BUILD=${FUZZ_BUILD_DIR:-build-fuzz}
TARGETS=${*:-fuzz_decode_json fuzz_decode_text fuzz_decode_otlp_pb fuzz_decode_otlp_json fuzz_decode_zipkin}

if [ ! -f "$BUILD/build.ninja" ]; then
	CC=clang meson setup "$BUILD" -Dfuzz=true -Dtests=enabled \
		-Djemalloc=disabled -Db_sanitize=address,undefined \
		-Db_lundef=false -Dbuildtype=debugoptimized
fi
for t in $TARGETS; do
	ninja -C "$BUILD" "tests/fuzz/$t"
done

mkdir -p tests/fuzz/artifacts
status=0
for t in $TARGETS; do
	case $t in
	fuzz_decode_json) corpus=json; maxlen=8192 ;;
	fuzz_decode_text) corpus=text; maxlen=8192 ;;
	fuzz_decode_otlp_pb) corpus=otlp_pb; maxlen=8192 ;;
	fuzz_decode_otlp_json) corpus=otlp_json; maxlen=8192 ;;
	fuzz_decode_zipkin) corpus=zipkin; maxlen=8192 ;;
	*) echo "fuzz.sh: unknown target $t" >&2; exit 2 ;;
	esac
	# Work on a scratch copy of the seeds so the repository stays small.
	work=$(mktemp -d)
	cp tests/fuzz/corpus/$corpus/* "$work"/
	echo "== $t for ${SECONDS_PER}s"
	# libFuzzer's progress lines go to a log; its summary (or, on a
	# failure, the end of the log with the reproducer's name) is printed.
	if UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	   ASAN_OPTIONS=detect_leaks=1 \
	   "$BUILD/tests/fuzz/$t" "$work" -max_total_time="$SECONDS_PER" \
		-max_len="$maxlen" -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix=tests/fuzz/artifacts/ -print_final_stats=1 \
		> "$work.log" 2>&1; then
		grep -E "^Done|stat::number_of_executed_units|stat::peak_rss" "$work.log" || true
	else
		tail -n 60 "$work.log"
		echo "fuzz.sh: $t FAILED" >&2
		status=1
	fi
	rm -f "$work.log"
	rm -rf "$work"
done
exit $status
