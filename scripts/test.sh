#!/usr/bin/env bash
# weft's whole test suite, as README.md gives it and .ci/run calls it:
#   1. release-style build (warnings are errors) + every cmocka suite;
#   2. the same suites under AddressSanitizer + UndefinedBehaviorSanitizer;
#   3. every suite under ThreadSanitizer (the engine's races, and the
#      operators' shared sinks and counters, end to end through weft);
#   4. each libFuzzer target (one per decoder) for FUZZ_SECONDS (default
#      60 here, one target per core at a time, so the five fit the suite's
#      time), then the whole tree built with clang in that fuzz tree
#      (warnings are errors).
# Installs its dependencies first (scripts/deps.sh). Build trees live in
# build-test/, build-asan/, build-tsan/, build-fuzz/ and are reused.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh

setup() { # dir, options...
  local dir=$1; shift
  if [ -f "$dir/build.ninja" ]; then
    meson configure "$dir" "$@" >/dev/null
  else
    meson setup "$dir" "$@" >/dev/null
  fi
}

echo "== build + tests"
setup build-test -Dbuildtype=debugoptimized -Dwerror=true
ninja -C build-test
meson test -C build-test --print-errorlogs --num-processes 2

echo "== ASan + UBSan"
setup build-asan -Dbuildtype=debug -Db_sanitize=address,undefined \
  -Db_lundef=false -Djemalloc=disabled -Dwerror=true
ninja -C build-asan
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  meson test -C build-asan --print-errorlogs --num-processes 2 --timeout-multiplier 4

echo "== TSan"
setup build-tsan -Dbuildtype=debugoptimized -Db_sanitize=thread \
  -Djemalloc=disabled -Dengine_only_tests=false -Dwerror=true
ninja -C build-tsan
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
  meson test -C build-tsan --print-errorlogs --num-processes 2 --timeout-multiplier 4

if [ -x scripts/fuzz.sh ]; then
  export FUZZ_SECONDS=${FUZZ_SECONDS:-60}
  echo "== fuzz ($FUZZ_SECONDS s per target)"
  scripts/fuzz.sh
  # The fuzz tree is clang's: building all of it there keeps the code
  # free of clang-only warnings too (GCC builds everything above).
  echo "== clang build of the whole tree"
  ninja -C "${FUZZ_BUILD_DIR:-build-fuzz}" >/dev/null
fi
# One closing line for CI: test programs run across all stages.
python3 - build-test build-asan build-tsan <<'PY'
import json, sys
ok = bad = 0
for d in sys.argv[1:]:
    try:
        for line in open(f"{d}/meson-logs/testlog.json"):
            r = json.loads(line).get("result")
            if r in ("OK", "EXPECTEDFAIL"):
                ok += 1
            elif r != "SKIP":
                bad += 1
    except FileNotFoundError:
        pass
print(f"tests: {ok} passed, {bad} failed")
sys.exit(1 if bad else 0)
PY
