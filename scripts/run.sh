#!/usr/bin/env bash
# weft's main job on its built-in default: replay the bundled recorded HDFS
# traces (data/tracebench, TraceBench) through the engine.
#
#   1. install dependencies (scripts/deps.sh) and build (build-release/);
#   2. convert every bundled TraceBench run to X-Trace v4 JSON lines;
#   3. stream them with the simulator (reordered within a window, as a live
#      collector would deliver them) into `weft replay`, which decodes,
#      exchanges by trace id across worker shards, assembles each trace's
#      DAG as epochs close and computes its canonical signature; finished
#      traces (JSON lines) and dead letters land in build-release/replay/,
#      and a summary of trace shapes is printed;
#   4. learn a model of normal traces from the normal runs (weft replay
#      --sample, weft train) and check the fault-injected runs against it
#      (weft replay --model): verdicts, top explanations, anomalies as JSON
#      lines and an HTML report with the anomalous DAGs next to their
#      templates, in build-release/replay/.
#
# Extra arguments are passed to `weft replay` (try --workers 1, --help).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/release.sh # optimised, LTO and profile-guided (see there)
WEFT=build-release/weft
OUT=build-release/replay
mkdir -p "$OUT"
: > "$OUT/all.jsonl"
for dir in data/tracebench/*/; do
  name=$(basename "$dir")
  "$WEFT" sim import-tracebench "$dir" -o "$OUT/$name.jsonl" --truth "$OUT/$name.truth.tsv" 2>/dev/null
  cat "$OUT/$name.jsonl" >> "$OUT/all.jsonl"
  printf 'imported %-60s %6d events\n' "$name" "$(wc -l < "$OUT/$name.jsonl")"
done
"$WEFT" sim replay "$OUT/all.jsonl" -o - --reorder-window 64 --seed 1 \
  | "$WEFT" replay --epoch-events 1000 --dead-letters "$OUT/dead-letters.jsonl" --out "$OUT/traces.jsonl" "$@" -
python3 - "$OUT/traces.jsonl" <<'PY'
import collections, json, sys
traces = [json.loads(l) for l in open(sys.argv[1])]
shapes = collections.Counter(t["signature"] for t in traces)
flags = collections.Counter(f for t in traces for f in t["flags"])
print(f"\n{len(traces)} traces, {len(shapes)} distinct shapes (signature); flags: {dict(flags)}")
print("most common shapes:  count  events(min-max)  signature")
for sig, n in shapes.most_common(8):
    ev = [t["events"] for t in traces if t["signature"] == sig]
    print(f"                     {n:5d}  {min(ev):4d}-{max(ev):<4d}        {sig}")
PY
echo "traces: $OUT/traces.jsonl   dead letters: $OUT/dead-letters.jsonl"

echo
echo "== model: trained on the normal runs, checking the fault-injected runs"
cat "$OUT"/NM_*.jsonl > "$OUT/normal.jsonl"
cat "$OUT"/AN_*.jsonl > "$OUT/faults.jsonl"
"$WEFT" replay "$OUT/normal.jsonl" --no-out --sample "$OUT/normal.sample" --sample-size 0 2>/dev/null
"$WEFT" train "$OUT/normal.sample" -o "$OUT/normal.model"
"$WEFT" replay "$OUT/faults.jsonl" --model "$OUT/normal.model" --out "$OUT/checked.jsonl" \
  --anomalies "$OUT/anomalies.jsonl" --report "$OUT/report.html" 2>&1 \
  | sed -n '/^  model/,$p'
echo "anomalies: $OUT/anomalies.jsonl   report: $OUT/report.html"
