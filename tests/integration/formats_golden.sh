#!/usr/bin/env bash
# The golden cross-format test: every bundled TraceBench run, imported as
# X-Trace, OTLP JSON, OTLP protobuf and Zipkin v2 (weft sim
# import-tracebench --format), replayed with --format auto against a model
# trained on the normal runs' X-Trace, gives the same traces: the same
# trace ids, events, edges, roots, depth, signature, exact shape,
# verdict and exception flag as X-Trace; OTLP protobuf also from a pipe.
# Also through the simulator's replay in each format (one span per
# message), reordered, for one run.
# usage: formats_golden.sh WEFT SOURCE_ROOT
set -euo pipefail
WEFT=$1
SRC=$2
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
FORMATS="xtrace otlp-json otlp-proto zipkin"

runs=0
for dir in "$SRC"/data/tracebench/*/; do
  n=$(basename "$dir")
  for f in $FORMATS; do
    "$WEFT" sim import-tracebench "$dir" --format "$f" -o "$TMP/$n.$f" 2>/dev/null \
      || fail "import $n as $f"
  done
  runs=$((runs + 1))
done
[ "$runs" -ge 3 ] || fail "expected the bundled runs under data/tracebench"
cat "$TMP"/NM_*.xtrace > "$TMP/normal.jsonl"
"$WEFT" replay "$TMP/normal.jsonl" --no-out --sample "$TMP/n.smp" --sample-size 0 2>/dev/null
"$WEFT" train "$TMP/n.smp" -o "$TMP/m.model" 2>/dev/null

same() { # xtrace traces, other traces, what
  python3 - "$1" "$2" "$3" <<'PY'
import json, sys
keys = ("events", "edges", "roots", "depth", "signature", "exact", "verdict")
def load(p):
    out = {}
    for line in open(p):
        t = json.loads(line)
        out[t["trace_id"]] = tuple(t.get(k) for k in keys) + (
            "exception" in t.get("flags", []),)
    return out
a, b = load(sys.argv[1]), load(sys.argv[2])
if not a:
    sys.exit(f"{sys.argv[3]}: no traces")
if a != b:
    diff = [k for k in set(a) | set(b) if a.get(k) != b.get(k)][:3]
    sys.exit(f"{sys.argv[3]}: {len(a)} vs {len(b)} traces; e.g. "
             + "; ".join(f"{k}: {a.get(k)} vs {b.get(k)}" for k in diff))
PY
}
# Verdicts with the latency check against peers depend on when epochs
# close (the peers' windows are recomputed there), and a file's epochs are
# cut by bytes, which differ between formats: compare the formats with the
# learned thresholds, which depend on the trace alone.
NOPEERS=--peers=0
# every run in one file per format (trace ids differ between runs)
names=$(cd "$TMP" && ls -- *.xtrace | sed 's/\.xtrace$//')
mkdir "$TMP/all"
for f in $FORMATS; do
  for n in $names; do cat "$TMP/$n.$f"; done > "$TMP/all/runs.$f"
done
"$WEFT" replay "$TMP/all/runs.xtrace" --model "$TMP/m.model" $NOPEERS --out "$TMP/all.xtrace.out" 2>/dev/null
for f in otlp-json otlp-proto zipkin; do
  "$WEFT" replay "$TMP/all/runs.$f" --model "$TMP/m.model" $NOPEERS --out "$TMP/all.$f.out" \
    2> "$TMP/sum" || { cat "$TMP/sum" >&2; fail "replay as $f"; }
  grep -q "^  rejected          0$" "$TMP/sum" || { cat "$TMP/sum" >&2; fail "$f: rejects"; }
  same "$TMP/all.xtrace.out" "$TMP/all.$f.out" "all runs as $f" || fail "$f differs"
done
# the same from a pipe: auto picks the splitter from the first bytes read
"$WEFT" replay - --model "$TMP/m.model" $NOPEERS --out "$TMP/pipe.out" < <(cat "$TMP/all/runs.otlp-proto") \
  2>/dev/null || fail "replay of protobuf from a pipe"
same "$TMP/all.xtrace.out" "$TMP/pipe.out" "otlp-proto from a pipe" || fail "pipe differs"
python3 - "$TMP/all.xtrace.out" <<'PY' || fail "no anomaly or no exception: nothing to compare verdicts on"
import json, sys
ts = [json.loads(l) for l in open(sys.argv[1])]
v = {t.get("verdict") for t in ts}
exc = sum("exception" in t.get("flags", []) for t in ts)
sys.exit(0 if "normal" in v and len(v) > 1 and exc > 0 else 1)
PY

# one span per message, through the simulator's replay, reordered
one=$(ls "$TMP"/AN_*.xtrace | head -1)
n=$(basename "$one" .xtrace)
"$WEFT" replay "$one" --model "$TMP/m.model" $NOPEERS --out "$TMP/$n.xtrace.out" 2>/dev/null
for f in otlp-json otlp-proto zipkin; do
  "$WEFT" sim replay "$one" --format "$f" --reorder-window 50 --seed 7 \
    -o "$TMP/r.$f" 2>/dev/null || fail "sim replay as $f"
  "$WEFT" replay "$TMP/r.$f" --format "$f" --model "$TMP/m.model" $NOPEERS \
    --out "$TMP/r.$f.out" 2>/dev/null || fail "replay of sim replay as $f"
  same "$TMP/$n.xtrace.out" "$TMP/r.$f.out" "sim replay $n as $f" || fail "sim replay as $f differs"
done
echo "formats_golden: OK ($runs runs x 4 formats)"
