#!/usr/bin/env bash
# Regenerates BENCHMARKS.md: every figure in it comes from this script.
#   engine    weft bench engine   (exchange records/s, epoch-close latency)
#   decode    weft bench decode   (decoders vs json-c / jansson)
#   canon     weft bench canon    (canonical signature: traces/s, ns/node)
#   bloom     weft bench bloom    (Bloom filter probes/s, measured vs theoretical fpr)
#   ed        weft bench ed       (edit distance pairs/s, Myers/Hyyro vs DP, cutoff)
#   cluster   weft bench cluster  (10,000 traces of ~350 events into templates)
#   pipeline  generated HDFS workload (3,000 concurrent traces of ~343
#             events, 0.5 M events per epoch as in the seed system's
#             evaluation) through weft replay: file -> decode ->
#             exchange(trace id) -> assemble -> signature, W = 1..cores;
#             with memory per buffered event and emission latency
# Fragments go to bench/results/*.md; BENCHMARKS.md is assembled from them.
# RUNS (default 5) sets the repetitions; figures are medians. PARTS (e.g.
# PARTS="bloom ed") reruns only those parts and reuses the other fragments.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
if [ ! -f build-release/build.ninja ]; then
  meson setup build-release -Dbuildtype=release >/dev/null
fi
ninja -C build-release >/dev/null
WEFT=build-release/weft
RUNS=${RUNS:-5}
CORES=$(nproc)
RES=bench/results
mkdir -p "$RES"
want() { [ -z "${PARTS:-}" ] || [[ " $PARTS " == *" $1 "* ]]; }
machine="$CORES cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/ {print $2}') GiB RAM"

if want engine; then
echo "== engine" >&2
"$WEFT" bench engine --runs "$RUNS" --markdown "$RES/engine.md" >/dev/null
fi

if want decode; then
echo "== decode" >&2
"$WEFT" bench decode --runs "$RUNS" --markdown "$RES/decode.md" >/dev/null
fi

if want canon; then
echo "== canon" >&2
"$WEFT" bench canon --runs "$RUNS" --markdown "$RES/canon.md" >/dev/null
fi

if want bloom; then
echo "== bloom" >&2
"$WEFT" bench bloom --rounds "$RUNS" --markdown "$RES/bloom.md" >/dev/null
fi

if want ed; then
echo "== edit distance and clustering" >&2
"$WEFT" bench ed --runs "$RUNS" --markdown "$RES/ed.md" >/dev/null
"$WEFT" bench cluster --runs 3 --markdown "$RES/cluster.md" >/dev/null
fi

if want pipeline; then
echo "== pipeline" >&2
work=build-release/bench-work
mkdir -p "$work"
gen_cmd="weft sim generate -o $work/hdfs.jsonl --traces 3000 --concurrent 3000 --blocks 21 --title 'fs -copyFromLocal' --seed 1"
if [ ! -s "$work/hdfs.jsonl" ]; then
  "$WEFT" sim generate -o "$work/hdfs.jsonl" --traces 3000 --concurrent 3000 \
    --blocks 21 --title 'fs -copyFromLocal' --seed 1 2>/dev/null
fi
events=$(wc -l < "$work/hdfs.jsonl")
bytes=$(stat -c %s "$work/hdfs.jsonl")
{
  echo "Command: \`scripts/bench.sh\` (pipeline part: \`$gen_cmd\`, then \`weft replay --workers W --no-out --epoch-events 500000 $work/hdfs.jsonl\` for W = 1..$CORES, interleaved, $RUNS rounds)  "
  echo "Machine: $machine; measured $(date -u +%Y-%m-%d)."
  echo
  echo "**End to end: file -> decode -> exchange(trace id) -> assemble -> signature; $events events in 3000 traces, $((bytes / 1000000)) MB of X-Trace v4 JSON (page cache), 0.5 M events per epoch; median (min-max) over rounds, speed-up = median of same-round ratios**"
  echo
  echo "| workers | events/s | speed-up vs W=1 | efficiency | peak RSS / peak buffered events | emission latency p50 / p99 (last event -> trace out) |"
  echo "|---|---|---|---|---|---|"
} > "$RES/pipeline.md"
# rounds interleave W = 1..CORES so each W sees the same machine state
declare -A secs bpe lat50 lat99 isecs
for r in $(seq 1 "$RUNS"); do
  for w in $(seq 1 "$CORES"); do
    isecs[$w,$r]=$("$WEFT" replay --workers "$w" --ingest-only --epoch-events 500000 "$work/hdfs.jsonl" 2>&1 | awk '/wall time/ {print $3}')
    "$WEFT" replay --workers "$w" --no-out --epoch-events 500000 "$work/hdfs.jsonl" 2> "$work/sum"
    secs[$w,$r]=$(awk '/wall time/ {print $3}' "$work/sum")
    bpe[$w,$r]=$(awk '/peak RSS/ {gsub(/[()]/, ""); print $5}' "$work/sum")
    lat50[$w,$r]=$(awk '/emit latency/ {print $4}' "$work/sum")
    lat99[$w,$r]=$(awk '/emit latency/ {print $7}' "$work/sum")
  done
done
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
col() { local -n arr=$1; for r in $(seq 1 "$RUNS"); do echo "${arr[$2,$r]}"; done | median; }
for w in $(seq 1 "$CORES"); do
  rates=$(for r in $(seq 1 "$RUNS"); do awk -v e="$events" -v s="${secs[$w,$r]}" 'BEGIN {print e / s}'; done)
  med=$(echo "$rates" | median)
  lo=$(echo "$rates" | sort -g | head -1)
  hi=$(echo "$rates" | sort -g | tail -1)
  sp=$(for r in $(seq 1 "$RUNS"); do awk -v a="${secs[1,$r]}" -v b="${secs[$w,$r]}" 'BEGIN {print a / b}'; done | median)
  awk -v w="$w" -v m="$med" -v lo="$lo" -v hi="$hi" -v sp="$sp" -v bpe="$(col bpe "$w")" \
      -v l50="$(col lat50 "$w")" -v l99="$(col lat99 "$w")" \
    'BEGIN {printf "| %d | %.2f M (%.2f-%.2f) | %.2fx | %.2f | %.0f bytes | %.0f ms / %.0f ms |\n", w, m / 1e6, lo / 1e6, hi / 1e6, sp, sp / w, bpe, l50, l99}' >> "$RES/pipeline.md"
done

{
  echo
  echo "**Ingest only: file -> decode -> exchange(trace id) -> counting sink (\`weft replay --ingest-only\`), same rounds**"
  echo
  echo "| workers | events/s | MB/s | speed-up vs W=1 | efficiency |"
  echo "|---|---|---|---|---|"
  for w in $(seq 1 "$CORES"); do
    rates=$(for r in $(seq 1 "$RUNS"); do awk -v e="$events" -v s="${isecs[$w,$r]}" 'BEGIN {print e / s}'; done)
    med=$(echo "$rates" | median)
    sp=$(for r in $(seq 1 "$RUNS"); do awk -v a="${isecs[1,$r]}" -v b="${isecs[$w,$r]}" 'BEGIN {print a / b}'; done | median)
    awk -v w="$w" -v m="$med" -v sp="$sp" -v by="$bytes" -v ev="$events" -v lo="$(echo "$rates" | sort -g | head -1)" -v hi="$(echo "$rates" | sort -g | tail -1)" \
      'BEGIN {printf "| %d | %.2f M (%.2f-%.2f) | %.0f | %.2fx | %.2f |\n", w, m / 1e6, lo / 1e6, hi / 1e6, m * by / ev / 1e6, sp, sp / w}'
  done
} >> "$RES/pipeline.md"
fi

if want baseline; then
echo "== machine baseline" >&2
# The machine's own parallel capacity, measured the same way: N independent
# single-worker engine runs at once against one alone (batch 1024). No
# shared data, so this is the ceiling for any W=N efficiency here.
one() { "$WEFT" bench engine --runs 1 --records 20000000 --max-workers 1 | awk -F'|' '$2 ~ /^ 1024 /{split($3, a, " "); print a[1]; exit}'; }
{
  echo "**Machine baseline: $CORES independent single-worker 'weft bench engine' processes at once vs one alone (batch 1024), $RUNS rounds**"
  echo
  echo "| round | one alone (M rec/s) | each of $CORES at once (M rec/s) | aggregate / alone |"
  echo "|---|---|---|---|"
  for r in $(seq 1 "$RUNS"); do
    alone=$(one)
    for i in $(seq 1 "$CORES"); do one > "$work/base.$i" & done
    wait
    together=$(cat "$work"/base.* | tr '\n' ' ')
    agg=$(cat "$work"/base.* | awk '{s += $1} END {print s}')
    awk -v r="$r" -v a="$alone" -v t="$together" -v g="$agg" 'BEGIN {printf "| %d | %.1f | %s | %.2fx |\n", r, a, t, g / a}'
    awk -v a="$alone" -v g="$agg" 'BEGIN {print g / a}' >> "$work/ratios.baseline"
    rm -f "$work"/base.[0-9]*
  done
  echo "| median | | | $(median < "$work/ratios.baseline" | awk '{printf "%.2fx", $1}') |"
  rm -f "$work/ratios.baseline"
} > "$RES/baseline.md"
fi

{
  echo "# weft benchmarks"
  echo
  echo "Generated by \`scripts/bench.sh\` — do not edit by hand; rerun it. Figures are"
  echo "medians of repeated runs on the machine named with each table. Seed system"
  echo "for reference (published): Altair did 0.06 M events/s on one machine."
  echo
  echo "## Engine"
  echo
  cat "$RES/engine.md"
  echo
  echo "## Decoders"
  echo
  cat "$RES/decode.md"
  echo
  echo "## Canonical signatures"
  echo
  cat "$RES/canon.md"
  echo
  echo "## Bloom filter"
  echo
  cat "$RES/bloom.md"
  echo
  echo "## Edit distance"
  echo
  cat "$RES/ed.md"
  echo
  echo "## Clustering into templates (weft train's core)"
  echo
  cat "$RES/cluster.md"
  echo
  echo "## End to end (ingest and assembly)"
  echo
  cat "$RES/pipeline.md"
  echo
  echo "## Machine baseline"
  echo
  cat "$RES/baseline.md"
  if [ -f "$RES/notes.md" ]; then echo; cat "$RES/notes.md"; fi
} > BENCHMARKS.md
echo "wrote BENCHMARKS.md" >&2
