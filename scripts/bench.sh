#!/usr/bin/env bash
# Regenerates BENCHMARKS.md: every figure in it comes from this script.
#   engine    weft bench engine   (exchange records/s, epoch-close latency)
#   decode    weft bench decode   (decoders vs json-c / jansson)
#   otlp      weft bench otlp     (OTLP protobuf decoder vs protobuf-c, OTLP
#             JSON vs X-Trace JSON, on the bundled TraceBench runs) and
#             weft replay of the pipeline's workload in each format
#   canon     weft bench canon    (canonical signature: traces/s, ns/node)
#   bloom     weft bench bloom    (Bloom filter probes/s, measured vs theoretical fpr)
#   ed        weft bench ed       (edit distance pairs/s, Myers/Hyyro vs DP, cutoff)
#   cluster   weft bench cluster  (10,000 traces of ~350 events into templates)
#   pipeline  generated HDFS workload (3,000 concurrent traces of ~343
#             events, 0.5 M events per epoch as in the seed system's
#             evaluation) through weft replay: file -> decode ->
#             exchange(trace id) -> assemble -> signature, W = 1..cores;
#             with memory per buffered event and emission latency; and in
#             the same rounds a varied workload (every learned template
#             and block count, 30,000 traces, reordered) beside it
#   serve     weft serve consuming from a real local broker (scripts/kafka.sh):
#             events/s for 1x1, 1x2, 2x1, 3x1 processes x workers (and
#             1 x cores, 2 x cores/2, cores x 1 on more than 3 cores), the
#             broker's CPU share, and the consumer lag at a fixed produce
#             rate (bench/serve_bench.py); SERVE_RUNS (default 3) rounds;
#             against its bounds in the same rounds: the raw consume rate
#             (weft bench kafka) and weft replay, on the topic and on one
#             with SERVE_PER_MESSAGE (default 64) reports per message
#   timely    the pipeline's job on timely dataflow (bench/timely, Rust:
#             timely 0.32, sonic-rs; needs cargo with rustc >= 1.86, else
#             skipped) against weft replay, W = 1..cores and pinned to one
#             CPU, end to end and ingest only, interleaved rounds
#   console   weft replay --model with the web console off and on with one
#             client, interleaved A/B (bench/console_bench.py); events/s
#             and CPU per event, max(RUNS, 9) rounds
#   baseline  the machine's own parallel capacity (independent processes);
#             its fresh memory (weft bench touch after 5 s idle) and what
#             that does to weft replay W=1 (after 5 s idle against right
#             after 256 MiB were freed); the input's page cache layout
#             (copies of the workload written just before 2 MiB at a time,
#             as weft writes, and 4 KiB at a time) through weft replay
#             W = cores and pinned to one CPU
#   memory    peak RSS against traces in flight: the generated workload
#             with C = MEM_LEVELS (default 500 1000 3000 6000) concurrent
#             traces through weft replay --no-out, W = 1 and W = cores;
#             max(RUNS, 10) rounds, so that each level's max / min of
#             peak RSS is over 10 runs at least
#   burst     a burst of BURST (default 1,000,000) one-event traces, all
#             open at once, through weft replay --epoch-ms from a pipe:
#             peak RSS, and RSS once they were all emitted
#             (bench/burst_memory.py); min(RUNS, 3) rounds
#   profile   perf record -g of weft replay --workers 1 on the pipeline's
#             workload: the top functions by self time (callgrind on a
#             smaller input where perf cannot run)
#   instructions  valgrind --tool=callgrind of weft replay --workers 1 on
#             the pipeline's first 100,000 lines, end to end and ingest
#             only: instructions per event by stage. Unlike the rates,
#             these do not move with the host's speed, so they show what a
#             change did to the work even where the rates cannot.
# Fragments go to bench/results/*.md, with each part's raw per-round numbers
# in bench/results/<part>.json. Then bench/plot.py (matplotlib, in the venv
# build-release/bench-venv that this script makes) reads the JSON and
# writes the plots (bench/results/*.svg), the scaling fits (scaling.md),
# the memory table (memory.md) and the per-node cost model (costmodel.md),
# and bench/targets.py each speed and memory target against them
# (targets.md); BENCHMARKS.md is assembled from all of them. The only
# hand-written fragments are bench/results/notes*.md (what was tried, with
# the figures of those experiments, each dated).
# RUNS (default 5) sets the repetitions; figures are medians. PARTS (e.g.
# PARTS="bloom ed") reruns only those parts and reuses the other fragments;
# the plots and derived tables are always redrawn from the JSON.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/release.sh # optimised, LTO and profile-guided (see there)
WEFT=build-release/weft
RUNS=${RUNS:-5}
CORES=$(nproc)
RES=bench/results
work=build-release/bench-work
mkdir -p "$RES" "$work"
want() { [ -z "${PARTS:-}" ] || [[ " $PARTS " == *" $1 "* ]]; }
cpu_model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
build_kind="release, LTO"
[ -s build-release/pgo.stamp ] && build_kind="release, LTO, profile-guided"
machine="$CORES cores, $cpu_model, $(free -g | awk '/Mem:/ {print $2}') GiB RAM; weft built $build_kind (scripts/release.sh)"
today=$(date -u +%Y-%m-%d)
# bench/plot.py's "record" and "md2json" need only python3; its plots need
# matplotlib, from PyPI into a venv made once (quiet when it is there).
VENV=build-release/bench-venv
plot_py() { python3 bench/plot.py "$@"; }
make_venv() {
  if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import matplotlib' 2>/dev/null; then
    return 0
  fi
  echo "bench: making $VENV (matplotlib from PyPI)" >&2
  if ! python3 -c 'import ensurepip' 2>/dev/null; then
    local sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-venv >/dev/null </dev/null || return 1
  fi
  rm -rf "$VENV"
  python3 -m venv "$VENV" && "$VENV/bin/pip" install -q --disable-pip-version-check \
    'matplotlib>=3.7,<4' </dev/null >&2
}
# the markdown fragment of a `weft bench` part, as JSON (its tables hold
# medians and ranges; the rounds stay inside the C benchmark)
md_json() { plot_py md2json --part "$1" --md "$RES/$1.md" --out "$RES/$1.json" --machine "$machine" --cores "$CORES"; }
gen_hdfs() { # the pipeline's workload: 3,000 concurrent traces of ~343 events
  # (written afresh once a run: the same bytes, but the page cache then
  # holds them as weft writes them now, in 2 MiB blocks: see the baseline
  # part's input layout)
  if [ ! -s "$work/hdfs.jsonl" ] || [ -z "${hdfs_fresh:-}" ]; then
    hdfs_fresh=1
    "$WEFT" sim generate -o "$work/hdfs.jsonl" --traces 3000 --concurrent 3000 \
      --blocks 21 --title 'fs -copyFromLocal' --seed 1 2>/dev/null
  fi
}
gen_mixed() { # a varied workload beside it: every learned template and block
  # count, 30,000 traces (3,000 open at a time), reordered as a transport might
  if [ ! -s "$work/mixed.jsonl" ]; then
    "$WEFT" sim generate -o "$work/mixed-ordered.jsonl" --traces 30000 --concurrent 3000 \
      --seed 1 2>/dev/null
    "$WEFT" sim replay "$work/mixed-ordered.jsonl" -o "$work/mixed.jsonl" \
      --reorder-window 64 --seed 1 2>/dev/null
    rm -f "$work/mixed-ordered.jsonl"
  fi
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
# events/s of each round (seconds in SECS_ARRAY[W,round]): rates_of SECS_ARRAY W EVENTS
rates_of() { local -n arr=$1; for r in $(seq 1 "$RUNS"); do awk -v e="$3" -v s="${arr[$2,$r]}" 'BEGIN {print e / s}'; done; }
# their median, min and max: spread_of SECS_ARRAY W EVENTS
spread_of() { rates_of "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2), a[1], a[NR]}'; }
# a table row: two runs' events/s, median (min-max) each, then a ratio:
# spread_row LABEL A_ARRAY B_ARRAY KEY EVENTS RATIO
spread_row() {
  local am alo ahi bm blo bhi
  read -r am alo ahi <<< "$(spread_of "$2" "$4" "$5")"
  read -r bm blo bhi <<< "$(spread_of "$3" "$4" "$5")"
  awk -v l="$1" -v am="$am" -v alo="$alo" -v ahi="$ahi" -v bm="$bm" -v blo="$blo" -v bhi="$bhi" -v q="$6" \
    'BEGIN {printf "| %s | %.2f M (%.2f-%.2f) | %.2f M (%.2f-%.2f) | %.2f |\n", l, am / 1e6, alo / 1e6, ahi / 1e6, bm / 1e6, blo / 1e6, bhi / 1e6, q}'
}
# median of same-round ratios A[KA,round] / B[KB,round] (/ DIV):
# ratio_of A KA B KB [DIV]
ratio_of() {
  local -n ra=$1 rb=$3
  for r in $(seq 1 "$RUNS"); do awk -v a="${ra[$2,$r]}" -v b="${rb[$4,$r]}" -v d="${5:-1}" 'BEGIN {print a / b / d}'; done | median
}

if want engine; then
echo "== engine" >&2
"$WEFT" bench engine --runs "$RUNS" --markdown "$RES/engine.md" >/dev/null
md_json engine
fi

if want decode; then
echo "== decode" >&2
"$WEFT" bench decode --runs "$RUNS" --markdown "$RES/decode.md" >/dev/null
md_json decode
fi

if want otlp; then
echo "== otlp" >&2
ow=$work/otlp
mkdir -p "$ow"
for f in xtrace otlp-json otlp-proto zipkin; do
  : > "$ow/tb.$f"
  for d in data/tracebench/*/; do
    "$WEFT" sim import-tracebench "$d" --format "$f" -o "$ow/one" 2>/dev/null
    cat "$ow/one" >> "$ow/tb.$f"
  done
done
"$WEFT" bench otlp --proto "$ow/tb.otlp-proto" --otlp-json "$ow/tb.otlp-json" \
  --xtrace "$ow/tb.xtrace" --runs "$RUNS" --markdown "$RES/otlp.md" >/dev/null
# end to end: the pipeline's workload written in each format, 256 spans a
# request, replayed with --format auto; interleaved rounds
gen_hdfs
for f in otlp-json otlp-proto zipkin; do
  [ -s "$ow/hdfs.$f" ] || "$WEFT" sim replay "$work/hdfs.jsonl" --format "$f" \
    --batch 256 -o "$ow/hdfs.$f" 2>/dev/null
done
ln -sf "$(pwd)/$work/hdfs.jsonl" "$ow/hdfs.xtrace"
: > "$ow/e2e.tsv"
for r in $(seq "$RUNS"); do
  for f in xtrace otlp-proto otlp-json zipkin; do
    "$WEFT" replay "$ow/hdfs.$f" --no-out 2> "$ow/sum" >/dev/null
    awk -v f="$f" '/wall time/ {gsub(/[()]/, ""); print f "\t" $5}' "$ow/sum" >> "$ow/e2e.tsv"
  done
done
ev=$(awk '/^  events / {print $2}' "$ow/sum")
{
  echo
  echo "**End to end: weft replay --no-out (W = $CORES) of the pipeline's workload ($ev events) in each format, 256 spans per OTLP/Zipkin message; median of $RUNS interleaved rounds; ratio = median of same-round ratios**"
  echo
  echo "| format | file MB | M events/s | vs X-Trace JSON |"
  echo "|---|---|---|---|"
  for f in xtrace otlp-proto otlp-json zipkin; do
    m=$(awk -v f="$f" '$1 == f {print $2}' "$ow/e2e.tsv" | median)
    mb=$(( $(stat -L -c %s "$ow/hdfs.$f") / 1000000 ))
    ratio=$(paste <(awk '$1 == "xtrace" {print $2}' "$ow/e2e.tsv") \
                  <(awk -v f="$f" '$1 == f {print $2}' "$ow/e2e.tsv") |
            awk '{print $2 / $1}' | median)
    echo "| $f | $mb | $m | $(printf '%.2fx' "$ratio") |"
  done
} >> "$RES/otlp.md"
fi

if want canon; then
echo "== canon" >&2
"$WEFT" bench canon --runs "$RUNS" --markdown "$RES/canon.md" >/dev/null
md_json canon
fi

if want bloom; then
echo "== bloom" >&2
"$WEFT" bench bloom --rounds "$RUNS" --markdown "$RES/bloom.md" >/dev/null
md_json bloom
fi

if want ed; then
echo "== edit distance and clustering" >&2
"$WEFT" bench ed --runs "$RUNS" --markdown "$RES/ed.md" >/dev/null
"$WEFT" bench cluster --runs 3 --markdown "$RES/cluster.md" >/dev/null
md_json ed
md_json cluster
fi

if want pipeline; then
echo "== pipeline" >&2
gen_cmd="weft sim generate -o $work/hdfs.jsonl --traces 3000 --concurrent 3000 --blocks 21 --title 'fs -copyFromLocal' --seed 1"
gen_hdfs
gen_mixed
events=$(wc -l < "$work/hdfs.jsonl")
bytes=$(stat -c %s "$work/hdfs.jsonl")
mevents=$(wc -l < "$work/mixed.jsonl")
pipe_cmd="scripts/bench.sh (pipeline part: $gen_cmd; then weft replay --workers W --no-out --epoch-events 500000 $work/hdfs.jsonl, the same with --model $work/hdfs.model and with --ingest-only, and without them on $work/mixed.jsonl (the varied workload), for W = 1..$CORES, interleaved, $RUNS rounds)"
{
  echo "Command: \`scripts/bench.sh\` (pipeline part: \`$gen_cmd\`, then \`weft replay --workers W --no-out --epoch-events 500000 $work/hdfs.jsonl\` for W = 1..$CORES, interleaved, $RUNS rounds)  "
  echo "Machine: $machine; measured $today."
  echo
  echo "**End to end: file -> decode -> exchange(trace id) -> assemble -> signature; $events events in 3000 traces, $((bytes / 1000000)) MB of X-Trace v4 JSON (page cache), 0.5 M events per epoch; median (min-max) over rounds, speed-up = median of same-round ratios**"
  echo
  echo "| workers | events/s | speed-up vs W=1 | efficiency | peak RSS / peak buffered events | emission latency p50 / p99 / max (last event -> trace out) |"
  echo "|---|---|---|---|---|---|"
} > "$RES/pipeline.md"
if [ ! -s "$work/hdfs.model" ]; then
  "$WEFT" replay "$work/hdfs.jsonl" --no-out --sample "$work/hdfs.smp" --sample-size 2000 2>/dev/null
  "$WEFT" train "$work/hdfs.smp" -o "$work/hdfs.model" 2>/dev/null
fi
# rounds interleave W = 1..CORES so each W sees the same machine state;
# every round's numbers also go to pipeline.tsv -> pipeline.json
declare -A secs bpe lat50 lat99 latmax isecs msecs vlat50 vlat99 vlatmax hsecs xsecs osecs oisecs
printf 'round\tworkers\tsecs\tingest_secs\tmodel_secs\tpeak_open_traces\tpeak_open_events\tpeak_rss_kib\tbytes_per_event\temit_p50_ms\temit_p99_ms\temit_max_ms\tverdict_p50_ms\tverdict_p99_ms\tverdict_max_ms\tmixed_secs\tone_core_secs\tone_core_ingest_secs\n' > "$work/pipeline.tsv"
for r in $(seq 1 "$RUNS"); do
  for w in $(seq 1 "$CORES"); do
    isecs[$w,$r]=$("$WEFT" replay --workers "$w" --ingest-only --epoch-events 500000 "$work/hdfs.jsonl" 2>&1 | awk '/wall time/ {print $3}')
    "$WEFT" replay --workers "$w" --no-out --epoch-events 500000 "$work/hdfs.jsonl" 2> "$work/sum"
    secs[$w,$r]=$(awk '/wall time/ {print $3}' "$work/sum")
    "$WEFT" replay --workers "$w" --no-out --epoch-events 500000 --model "$work/hdfs.model" "$work/hdfs.jsonl" 2> "$work/msum"
    msecs[$w,$r]=$(awk '/wall time/ {print $3}' "$work/msum")
    xsecs[$w,$r]=$("$WEFT" replay --workers "$w" --no-out --epoch-events 500000 "$work/mixed.jsonl" 2>&1 | awk '/wall time/ {print $3}')
    if [ "$w" = 1 ]; then # W=1 without its finish helper (auto: on here)
      hsecs[$r]=$("$WEFT" replay --workers 1 --no-out --epoch-events 500000 --finish-helper off "$work/hdfs.jsonl" 2>&1 | awk '/wall time/ {print $3}')
      # W=1 on one CPU: the helpers' auto policy counts the affinity
      # mask, so none runs; the work one core does alone
      osecs[1,$r]=$(taskset -c 0 "$WEFT" replay --workers 1 --no-out --epoch-events 500000 "$work/hdfs.jsonl" 2>&1 | awk '/wall time/ {print $3}')
      oisecs[1,$r]=$(taskset -c 0 "$WEFT" replay --workers 1 --ingest-only --epoch-events 500000 "$work/hdfs.jsonl" 2>&1 | awk '/wall time/ {print $3}')
    fi
    # "verdict latency   p50 54.5 ms, p99 69.2 ms, max 69.2 ms (last event -> verdict)"
    vlat50[$w,$r]=$(awk '/verdict latency/ {print $4}' "$work/msum")
    vlat99[$w,$r]=$(awk '/verdict latency/ {print $7}' "$work/msum")
    vlatmax[$w,$r]=$(awk '/verdict latency/ {print $10}' "$work/msum")
    bpe[$w,$r]=$(awk '/peak RSS/ {gsub(/[()]/, ""); print $5}' "$work/sum")
    # "emit latency      p50 18.9 ms, p99 79.2 ms, max 79.2 ms (...)"
    lat50[$w,$r]=$(awk '/emit latency/ {print $4}' "$work/sum")
    lat99[$w,$r]=$(awk '/emit latency/ {print $7}' "$work/sum")
    latmax[$w,$r]=$(awk '/emit latency/ {print $10}' "$work/sum")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$w" "${secs[$w,$r]}" "${isecs[$w,$r]}" "${msecs[$w,$r]}" \
      "$(awk '/^  peak open/ {print $3}' "$work/sum")" "$(awk '/^  peak open/ {print $5}' "$work/sum")" \
      "$(awk '/^  peak RSS/ {print $3}' "$work/sum")" "${bpe[$w,$r]}" "${lat50[$w,$r]}" "${lat99[$w,$r]}" "${latmax[$w,$r]}" \
      "${vlat50[$w,$r]}" "${vlat99[$w,$r]}" "${vlatmax[$w,$r]}" "${xsecs[$w,$r]}" "${osecs[1,$r]}" "${oisecs[1,$r]}" >> "$work/pipeline.tsv"
  done
done
col() { local -n arr=$1; for r in $(seq 1 "$RUNS"); do echo "${arr[$2,$r]}"; done | median; }
for w in $(seq 1 "$CORES"); do
  read -r med lo hi <<< "$(spread_of secs "$w" "$events")"
  sp=$(ratio_of secs 1 secs "$w")
  awk -v w="$w" -v m="$med" -v lo="$lo" -v hi="$hi" -v sp="$sp" -v bpe="$(col bpe "$w")" \
      -v l50="$(col lat50 "$w")" -v l99="$(col lat99 "$w")" -v lmax="$(col latmax "$w")" \
    'BEGIN {printf "| %d | %.2f M (%.2f-%.2f) | %.2fx | %.2f | %.0f bytes | %.0f ms / %.0f ms / %.0f ms |\n", w, m / 1e6, lo / 1e6, hi / 1e6, sp, sp / w, bpe, l50, l99, lmax}' >> "$RES/pipeline.md"
done

{
  echo
  echo "**Ingest only: file -> decode -> exchange(trace id) -> counting sink (\`weft replay --ingest-only\`), same rounds**"
  echo
  echo "| workers | events/s | MB/s | speed-up vs W=1 | efficiency |"
  echo "|---|---|---|---|---|"
  for w in $(seq 1 "$CORES"); do
    read -r med lo hi <<< "$(spread_of isecs "$w" "$events")"
    sp=$(ratio_of isecs 1 isecs "$w")
    awk -v w="$w" -v m="$med" -v sp="$sp" -v by="$bytes" -v ev="$events" -v lo="$lo" -v hi="$hi" \
      'BEGIN {printf "| %d | %.2f M (%.2f-%.2f) | %.0f | %.2fx | %.2f |\n", w, m / 1e6, lo / 1e6, hi / 1e6, m * by / ev / 1e6, sp, sp / w}'
  done
} >> "$RES/pipeline.md"
{
  echo
  echo "**With the model check (\`--model\`, trained on a 2,000-trace sample of the same workload: every trace probes the Bloom filter and gets a verdict), same rounds; the check's cost = the same-round ratio**"
  echo
  echo "| workers | events/s without | events/s with --model | with / without | verdict latency p50 / p99 / max (last event -> verdict) |"
  echo "|---|---|---|---|---|"
  for w in $(seq 1 "$CORES"); do
    without=$(rates_of secs "$w" "$events" | median)
    with=$(rates_of msecs "$w" "$events" | median)
    ratio=$(ratio_of secs "$w" msecs "$w")
    awk -v w="$w" -v a="$without" -v b="$with" -v q="$ratio" \
        -v v50="$(col vlat50 "$w")" -v v99="$(col vlat99 "$w")" -v vmax="$(col vlatmax "$w")" \
      'BEGIN {printf "| %d | %.2f M | %.2f M | %.2f | %.0f ms / %.0f ms / %.0f ms |\n", w, a / 1e6, b / 1e6, q, v50, v99, vmax}'
  done
} >> "$RES/pipeline.md"
if [ "$CORES" -ge 2 ]; then
  {
    echo
    echo "**The finish helper at W=1 (\`--finish-helper\`, auto: on with two cores per worker), same rounds: the first table's W=1 runs against \`--finish-helper off\`; ratio = median (min-max) of same-round ratios**"
    echo
    echo "| events/s with the helper | events/s without | with / without | per round |"
    echo "|---|---|---|---|"
    with=$(rates_of secs 1 "$events" | median)
    without=$(for r in $(seq 1 "$RUNS"); do awk -v e="$events" -v s="${hsecs[$r]}" 'BEGIN {print e / s}'; done | median)
    ratios=$(for r in $(seq 1 "$RUNS"); do awk -v a="${hsecs[$r]}" -v b="${secs[1,$r]}" 'BEGIN {printf "%.2f\n", a / b}'; done)
    awk -v a="$with" -v b="$without" -v q="$(echo "$ratios" | median)" -v lo="$(echo "$ratios" | sort -g | head -1)" \
        -v hi="$(echo "$ratios" | sort -g | tail -1)" -v each="$(echo $ratios)" \
      'BEGIN {printf "| %.2f M | %.2f M | %.2f (%.2f-%.2f) | %s |\n", a / 1e6, b / 1e6, q, lo, hi, each}'
  } >> "$RES/pipeline.md"
fi
{
  echo
  echo "**One core's work, same rounds: W=1 pinned to one CPU (\`taskset -c 0 weft replay --workers 1\`; the helpers' auto policy counts the CPUs the process may run on, so none runs), end to end and ingest only. Against N x one core = median of same-round ratios of W=N's events/s to N times the pinned run's: how close the workers come to N cores each doing one core's work alone**"
  echo
  echo "| workers | end to end | against N x one core | ingest only | against N x one core |"
  echo "|---|---|---|---|---|"
  read -r omed olo ohi <<< "$(spread_of osecs 1 "$events")"
  read -r imed ilo ihi <<< "$(spread_of oisecs 1 "$events")"
  awk -v m="$omed" -v lo="$olo" -v hi="$ohi" -v im="$imed" -v ilo="$ilo" -v ihi="$ihi" \
    'BEGIN {printf "| one core (pinned) | %.2f M (%.2f-%.2f) | 1.00 | %.2f M (%.2f-%.2f) | 1.00 |\n", m / 1e6, lo / 1e6, hi / 1e6, im / 1e6, ilo / 1e6, ihi / 1e6}'
  for w in $(seq 1 "$CORES"); do
    q=$(ratio_of osecs 1 secs "$w" "$w")
    iq=$(ratio_of oisecs 1 isecs "$w" "$w")
    read -r med _ _ <<< "$(spread_of secs "$w" "$events")"
    read -r imd _ _ <<< "$(spread_of isecs "$w" "$events")"
    awk -v w="$w" -v m="$med" -v q="$q" -v im="$imd" -v iq="$iq" \
      'BEGIN {printf "| %d (default helpers) | %.2f M | %.2f | %.2f M | %.2f |\n", w, m / 1e6, q, im / 1e6, iq}'
  done
} >> "$RES/pipeline.md"
{
  echo
  echo "**A varied workload, same rounds: \`weft sim generate --traces 30000 --concurrent 3000 --seed 1\` (every template and block count learned from the bundled normal TraceBench runs: $mevents events, about $((mevents / 30000)) per trace), then \`weft sim replay --reorder-window 64 --seed 1\`, so each trace's events arrive out of order as a transport may deliver them; \`weft replay --workers W --no-out --epoch-events 500000\`. The benchmark workload above is one trace shape 3,000 times; this one is what a shape-dependent shortcut could not flatter. Ratio = median of same-round ratios of events/s against the first table's**"
  echo
  echo "| workers | events/s | against the benchmark workload |"
  echo "|---|---|---|"
  for w in $(seq 1 "$CORES"); do
    read -r med lo hi <<< "$(spread_of xsecs "$w" "$mevents")"
    ratio=$(for r in $(seq 1 "$RUNS"); do awk -v e="$events" -v m="$mevents" -v a="${secs[$w,$r]}" -v b="${xsecs[$w,$r]}" 'BEGIN {print (m / b) / (e / a)}'; done | median)
    awk -v w="$w" -v m="$med" -v lo="$lo" -v hi="$hi" -v q="$ratio" \
      'BEGIN {printf "| %d | %.2f M (%.2f-%.2f) | %.2f |\n", w, m / 1e6, lo / 1e6, hi / 1e6, q}'
  done
} >> "$RES/pipeline.md"
plot_py record --part pipeline --out "$RES/pipeline.json" --rows "$work/pipeline.tsv" \
  --command "$pipe_cmd" --machine "$machine" --cores "$CORES" --runs "$RUNS" \
  --meta events="$events" --meta bytes="$bytes" --meta traces=3000 --meta epoch_events=500000 \
  --meta workload="$gen_cmd" --meta model="$work/hdfs.model (weft train on a 2,000-trace sample)" \
  --meta mixed_events="$mevents" \
  --meta mixed_workload="weft sim generate --traces 30000 --concurrent 3000 --seed 1, then weft sim replay --reorder-window 64 --seed 1"
fi

if want timely; then
echo "== timely" >&2
# The same job on timely dataflow (bench/timely: Rust, timely 0.32 and
# sonic-rs from crates.io, built here with cargo): each worker parses its
# share of the file, exchanges on the trace id, keeps each trace's events
# and builds its DAG and a canonical hash when it closes. Lighter per trace
# than weft (no record, texts, places or sample). Same input, interleaved
# rounds, ratio = median of same-round ratios. Needs cargo with rustc >=
# 1.86 (timely 0.32's minimum; Debian 12's rustc is 1.63): skipped, and
# the last fragment kept, without it.
peer_ok=""
if command -v cargo >/dev/null && command -v rustc >/dev/null; then
  rv=$(rustc --version | awk '{print $2}')
  if [ "$(printf '%s\n' 1.86.0 "$rv" | sort -V | head -1)" = 1.86.0 ]; then peer_ok=1; fi
fi
if [ -z "$peer_ok" ]; then
  echo "timely: skipped: needs cargo with rustc >= 1.86 (found: $(rustc --version 2>/dev/null || echo none)); bench/results/timely.md kept" >&2
else
gen_hdfs
PEER=build-release/timely/release/weft-timely-peer
CARGO_TARGET_DIR=build-release/timely cargo build -q --release --locked \
  --manifest-path bench/timely/Cargo.toml </dev/null >&2
events=$(wc -l < "$work/hdfs.jsonl")
declare -A wsecs psecs wisecs pisecs
printf 'round\tworkers\tweft_secs\tpeer_secs\tweft_ingest_secs\tpeer_ingest_secs\n' > "$work/timely.tsv"
# peer_secs TRACES CMD...: the peer's seconds, after checking its line
# ("events E traces T rejected R secs S events/s X") read every event,
# rejected none and (TRACES non-empty) closed as many traces as weft
peer_secs() {
  local want=$1 out; shift
  out=$("$@") || { echo "timely: peer failed: $*" >&2; exit 1; }
  awk -v ev="$events" -v want="$want" '{
    if ($2 != ev || $6 != 0 || (want != "" && $4 != want)) {
      print "timely: peer read " $2 " events, " $4 " traces, " $6 " rejected" > "/dev/stderr"; exit 1 }
    print $8 }' <<< "$out"
}
weft_secs() { "$@" 2>&1 | awk '/wall time/ {print $3}'; }
traces=$("$WEFT" replay --workers 1 --no-out --epoch-events 500000 "$work/hdfs.jsonl" 2>&1 | awk '/traces out/ {print $3}')
for r in $(seq 1 "$RUNS"); do
  for w in $(seq 1 "$CORES") pinned; do
    pin=(); n=$w; [ "$w" = pinned ] && { pin=(taskset -c 0); n=1; }
    wsecs[$w,$r]=$(weft_secs "${pin[@]}" "$WEFT" replay --workers "$n" --no-out --epoch-events 500000 "$work/hdfs.jsonl")
    psecs[$w,$r]=$(peer_secs "$traces" "${pin[@]}" "$PEER" "$work/hdfs.jsonl" "$n" 500000)
    wisecs[$w,$r]=$(weft_secs "${pin[@]}" "$WEFT" replay --workers "$n" --ingest-only --epoch-events 500000 "$work/hdfs.jsonl")
    pisecs[$w,$r]=$(peer_secs "" "${pin[@]}" "$PEER" "$work/hdfs.jsonl" "$n" 500000 --ingest-only)
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$w" "${wsecs[$w,$r]}" "${psecs[$w,$r]}" "${wisecs[$w,$r]}" "${pisecs[$w,$r]}" >> "$work/timely.tsv"
  done
done
timely_cmd="scripts/bench.sh (timely part: weft replay --workers W --no-out --epoch-events 500000 [--ingest-only] $work/hdfs.jsonl against $PEER $work/hdfs.jsonl W 500000 [--ingest-only], bench/timely on timely 0.32 and sonic-rs, for W = 1..$CORES and both pinned to one CPU with taskset -c 0, interleaved, $RUNS rounds)"
{
  echo "Command: \`$timely_cmd\`  "
  echo "Machine: $machine; $(rustc --version); measured $today."
  echo
  echo "**weft against the same job on timely dataflow (bench/timely/src/main.rs: each worker parses its share of the file with sonic-rs, exchange on the trace id, each trace's events kept and, when it closes, its DAG built and hashed canonically; no record, texts, places or sample, so lighter per trace than weft), the pipeline's workload ($events events), events/s median (min-max), weft / timely = median of same-round ratios. \"pinned\": both on one CPU (\`taskset -c 0\`), so weft runs no helper thread**"
  echo
  echo "| workers | weft | timely | weft / timely | weft ingest only | timely ingest only | weft / timely |"
  echo "|---|---|---|---|---|---|---|"
  for w in $(seq 1 "$CORES") pinned; do
    read -r wm wlo whi <<< "$(spread_of wsecs "$w" "$events")"
    read -r pm plo phi <<< "$(spread_of psecs "$w" "$events")"
    read -r wim _ _ <<< "$(spread_of wisecs "$w" "$events")"
    read -r pim _ _ <<< "$(spread_of pisecs "$w" "$events")"
    q=$(ratio_of psecs "$w" wsecs "$w")
    qi=$(ratio_of pisecs "$w" wisecs "$w")
    label=$w; [ "$w" = pinned ] && label="1, pinned to one CPU"
    awk -v l="$label" -v wm="$wm" -v wlo="$wlo" -v whi="$whi" -v pm="$pm" -v plo="$plo" -v phi="$phi" -v q="$q" -v wim="$wim" -v pim="$pim" -v qi="$qi" \
      'BEGIN {printf "| %s | %.2f M (%.2f-%.2f) | %.2f M (%.2f-%.2f) | %.2fx | %.2f M | %.2f M | %.2fx |\n", l, wm / 1e6, wlo / 1e6, whi / 1e6, pm / 1e6, plo / 1e6, phi / 1e6, q, wim / 1e6, pim / 1e6, qi}'
  done
} > "$RES/timely.md"
plot_py record --part timely --out "$RES/timely.json" --rows "$work/timely.tsv" \
  --command "$timely_cmd" --machine "$machine" --cores "$CORES" --runs "$RUNS" \
  --meta events="$events" --meta rustc="$(rustc --version)"
fi
fi

if want peers; then
echo "== peers" >&2
# the latency check against peers (the default with --model) against the
# learned thresholds (--model --peers=0), same workload as the pipeline;
# BENCH_NOTE (e.g. "a shared machine") goes on its Machine line
gen_hdfs
events=$(wc -l < "$work/hdfs.jsonl")
if [ ! -s "$work/hdfs.model" ]; then
  "$WEFT" replay "$work/hdfs.jsonl" --no-out --sample "$work/hdfs.smp" --sample-size 2000 2>/dev/null
  "$WEFT" train "$work/hdfs.smp" -o "$work/hdfs.model" 2>/dev/null
fi
# wall time (events/s) and CPU time (user + sys, /usr/bin/time): on a
# shared machine the CPU time is the steadier measure of the check's cost
declare -A psecs tsecs pcpu tcpu
for r in $(seq 1 "$RUNS"); do
  for w in $(seq 1 "$CORES"); do
    /usr/bin/time -f 'cpu %U %S' "$WEFT" replay --workers "$w" --no-out --epoch-events 500000 --model "$work/hdfs.model" --peers=0 "$work/hdfs.jsonl" 2> "$work/psum"
    tsecs[$w,$r]=$(awk '/wall time/ {print $3}' "$work/psum")
    tcpu[$w,$r]=$(awk '/^cpu / {print $2 + $3}' "$work/psum")
    /usr/bin/time -f 'cpu %U %S' "$WEFT" replay --workers "$w" --no-out --epoch-events 500000 --model "$work/hdfs.model" "$work/hdfs.jsonl" 2> "$work/psum"
    psecs[$w,$r]=$(awk '/wall time/ {print $3}' "$work/psum")
    pcpu[$w,$r]=$(awk '/^cpu / {print $2 + $3}' "$work/psum")
  done
done
{
  echo "Command: \`PARTS=peers scripts/bench.sh\` (\`weft replay --workers W --no-out --epoch-events 500000 --model $work/hdfs.model [--peers=0] $work/hdfs.jsonl\`, the pipeline's workload, W = 1..$CORES, the two interleaved in each round, $RUNS rounds)  "
  echo "Machine: $machine; measured $today${BENCH_NOTE:+ ($BENCH_NOTE)}."
  echo
  echo "**The latency check against peers (default with \`--model\`: each worker judges and feeds a trace in its own lane, every event's duration into its (operation, host) window, medians refreshed every 8 traces) against the learned thresholds (\`--peers=0\`); $events events; cost = the median of same-round ratios**"
  echo
  echo "| workers | events/s thresholds | events/s peers | peers / thresholds (events/s) | thresholds / peers (CPU time) |"
  echo "|---|---|---|---|---|"
  for w in $(seq 1 "$CORES"); do
    a=$(rates_of tsecs "$w" "$events" | median)
    b=$(rates_of psecs "$w" "$events" | median)
    q=$(ratio_of tsecs "$w" psecs "$w")
    c=$(ratio_of tcpu "$w" pcpu "$w")
    awk -v w="$w" -v a="$a" -v b="$b" -v q="$q" -v c="$c" 'BEGIN {printf "| %d | %.2f M | %.2f M | %.3f | %.3f |\n", w, a / 1e6, b / 1e6, q, c}'
  done
  echo
  echo "Per round (seconds, thresholds / peers; wall, then CPU):"
  echo
  echo "| round | workers | thresholds wall s | peers wall s | thresholds CPU s | peers CPU s |"
  echo "|---|---|---|---|---|---|"
  for r in $(seq 1 "$RUNS"); do
    for w in $(seq 1 "$CORES"); do
      echo "| $r | $w | ${tsecs[$w,$r]} | ${psecs[$w,$r]} | ${tcpu[$w,$r]} | ${pcpu[$w,$r]} |"
    done
  done
} > "$RES/peers.md"
md_json peers
fi

if want serve; then
echo "== serve (Kafka)" >&2
gen_hdfs
kdir=$work/kafka
parts=$(( CORES > 6 ? CORES : 6 )) # at least one partition per consumer
scripts/kafka.sh stop "$kdir" --clean >/dev/null 2>&1 || true
bs=$(scripts/kafka.sh start "$kdir")
trap 'scripts/kafka.sh stop "$kdir" --clean >/dev/null 2>&1 || true' EXIT
for t in "bench-in $parts" "bench-in-batched $parts" "bench-lag $parts" "bench-anom 1"; do
  # shellcheck disable=SC2086
  scripts/kafka.sh topic "$kdir" $t >/dev/null 2>&1
done
"$WEFT" replay "$work/hdfs.jsonl" --no-out --sample "$work/hdfs.smp" --sample-size 2000 2>/dev/null
"$WEFT" train "$work/hdfs.smp" -o "$work/hdfs.model" 2>/dev/null
"$WEFT" sim replay "$work/hdfs.jsonl" --to kafka --brokers "$bs" --topic bench-in 2>/dev/null
"$WEFT" sim replay "$work/hdfs.jsonl" --to kafka --brokers "$bs" --topic bench-in-batched \
  --batch "${SERVE_PER_MESSAGE:-64}" 2>/dev/null
python3 bench/serve_bench.py --weft "$WEFT" --brokers "$bs" --broker-pid "$(cat "$kdir/kafka.pid")" \
  --topic bench-in --lag-topic bench-lag --input "$work/hdfs.jsonl" --partitions "$parts" \
  --batched-topic bench-in-batched --per-message "${SERVE_PER_MESSAGE:-64}" \
  --events "$(wc -l < "$work/hdfs.jsonl")" --model "$work/hdfs.model" --work "$work" \
  --rounds "${SERVE_RUNS:-3}" --rate "${SERVE_RATE:-100000}" --machine "$machine" \
  --command "PARTS=serve scripts/bench.sh (bench/serve_bench.py)" --out "$RES/serve.md" \
  --json "$RES/serve.json"
scripts/kafka.sh stop "$kdir" --clean >/dev/null 2>&1 || true
trap - EXIT
fi

if want console; then
echo "== console" >&2
crounds=$(( RUNS > 9 ? RUNS : 9 ))
python3 bench/console_bench.py "$WEFT" "$crounds" 60000 --out "$RES/console.md" \
  --json "$RES/console.json" --machine "$machine" \
  --command "PARTS=console scripts/bench.sh (bench/console_bench.py $crounds rounds of 60000 traces)"
# anomaly visible in the page: the browser test's own log line
{
  echo
  echo "**Anomaly visible in the page after its verdict: tests/integration/console_browser.py"
  echo "(Debian's Chromium, headless) while the fault-injected TraceBench run streams through"
  echo "weft replay --console; weft's wall clock at the verdict against the page's at its row"
  echo "(one machine, one clock)**"
  echo
  python3 tests/integration/console_browser.py "$WEFT" . "$work" 2>&1 \
    | sed -n 's/^console_browser: \(.*verdict -> visible.*\)$/    \1/p'
} >> "$RES/console.md"
fi

if want baseline; then
echo "== machine baseline" >&2
# The machine's own parallel capacity, measured the same way: N independent
# single-worker engine runs at once against one alone (batch 1024). No
# shared data, so this is the ceiling for any W=N efficiency here.
one() { "$WEFT" bench engine --runs 1 --records 20000000 --max-workers 1 | awk -F'|' '$2 ~ /^ 1024 /{split($3, a, " "); print a[1]; exit}'; }
printf 'round\talone_mrec_s\ttogether_mrec_s\taggregate_over_alone\n' > "$work/baseline.tsv"
base_cmd="scripts/bench.sh (baseline part: $CORES x 'weft bench engine --runs 1 --records 20000000 --max-workers 1' at once vs one alone)"
{
  echo "Command: \`$base_cmd\`  "
  echo "Machine: $machine; measured $today."
  echo
  echo "**Machine baseline: $CORES independent single-worker 'weft bench engine' processes at once vs one alone (batch 1024), $RUNS rounds**"
  echo
  echo "| round | one alone (M rec/s) | each of $CORES at once (M rec/s) | aggregate / alone |"
  echo "|---|---|---|---|"
  rm -f "$work/ratios.baseline"
  for r in $(seq 1 "$RUNS"); do
    alone=$(one)
    for i in $(seq 1 "$CORES"); do one > "$work/base.$i" & done
    wait
    together=$(cat "$work"/base.* | tr '\n' ' ')
    agg=$(cat "$work"/base.* | awk '{s += $1} END {print s}')
    awk -v r="$r" -v a="$alone" -v t="$together" -v g="$agg" 'BEGIN {printf "| %d | %.1f | %s | %.2fx |\n", r, a, t, g / a}'
    awk -v a="$alone" -v g="$agg" 'BEGIN {print g / a}' >> "$work/ratios.baseline"
    printf '%s\t%s\t%s\t%s\n' "$r" "$alone" "$(echo $together | tr ' ' ',')" "$(awk -v a="$alone" -v g="$agg" 'BEGIN {print g / a}')" >> "$work/baseline.tsv"
    rm -f "$work"/base.[0-9]*
  done
  echo "| median | | | $(median < "$work/ratios.baseline" | awk '{printf "%.2fx", $1}') |"
  rm -f "$work/ratios.baseline"
} > "$RES/baseline.md"
plot_py record --part baseline --out "$RES/baseline.json" --rows "$work/baseline.tsv" \
  --command "$base_cmd" \
  --machine "$machine" --cores "$CORES" --runs "$RUNS"
# The machine's fresh memory: first touch after 5 s idle (on a VM whose
# free pages go back to the host, what the host may have taken back) and
# in the rounds after (what the round before freed); then what that does
# to the pipeline: weft replay W=1 after 5 s idle against right after
# another process touched and freed 256 MiB, same round.
gen_hdfs
{
  echo
  echo "Command: \`sleep 5; weft bench touch --pages 2m; sleep 5; weft bench touch --pages 4k\`, then per round \`sleep 5; weft replay --workers 1 --no-out --epoch-events 500000 $work/hdfs.jsonl\` against the same right after \`weft bench touch --mib 256 --rounds 1\`, each as is and pinned to one CPU (\`taskset -c 0\`: no helper), $RUNS rounds  "
  echo "Machine: $machine; measured $today."
  sleep 5
  "$WEFT" bench touch --pages 2m
  sleep 5
  "$WEFT" bench touch --pages 4k
} >> "$RES/baseline.md"
declare -A tcold twarm
for r in $(seq 1 "$RUNS"); do
  for how in 1 pinned; do
    pin=(); [ "$how" = pinned ] && pin=(taskset -c 0)
    sleep 5
    tcold[$how,$r]=$("${pin[@]}" "$WEFT" replay --workers 1 --no-out --epoch-events 500000 "$work/hdfs.jsonl" 2>&1 | awk '/wall time/ {print $3}')
    "$WEFT" bench touch --mib 256 --rounds 1 > /dev/null
    twarm[$how,$r]=$("${pin[@]}" "$WEFT" replay --workers 1 --no-out --epoch-events 500000 "$work/hdfs.jsonl" 2>&1 | awk '/wall time/ {print $3}')
  done
done
{
  echo
  echo "**weft replay W=1 after 5 s idle against right after 256 MiB were touched and freed, same round: events/s, median (min-max) of $RUNS rounds; ratio = median of same-round ratios**"
  echo
  echo "| run | after 5 s idle | right after memory was freed | freed / idle |"
  echo "|---|---|---|---|"
  for how in 1 pinned; do
    label="W=1 (helpers: auto)"; [ "$how" = pinned ] && label="W=1 pinned to one CPU (no helper)"
    spread_row "$label" tcold twarm "$how" "$(wc -l < "$work/hdfs.jsonl")" "$(ratio_of tcold "$how" twarm "$how")"
  done
} >> "$RES/baseline.md"
# The input's page cache layout: the same bytes written 2 MiB at a time,
# as weft's writers write them (2 MiB folios, which a mapping takes
# whole), against a copy written 4 KiB at a time, as a process appending
# lines leaves a file (4 KiB folios: a page-table entry, a reference and
# an unmapping per page). Both copies are written here, just before: a
# file the kernel evicted and read back has the folios of its readahead
# instead (this VM's DAMON pages out cold page cache), so the workload
# itself may have either by now. Mapped windows are read where a worker
# has no read-ahead helper: W = cores, and one worker pinned to one CPU.
dd if="$work/hdfs.jsonl" of="$work/hdfs-2m.jsonl" bs=2M status=none
dd if="$work/hdfs.jsonl" of="$work/hdfs-4k.jsonl" bs=4k status=none
declare -A lbig lsmall
for r in $(seq 1 "$RUNS"); do
  for how in "$CORES" pinned; do
    pin=(); w=$how; [ "$how" = pinned ] && pin=(taskset -c 0) && w=1
    lbig[$how,$r]=$("${pin[@]}" "$WEFT" replay --workers "$w" --no-out --epoch-events 500000 "$work/hdfs-2m.jsonl" 2>&1 | awk '/wall time/ {print $3}')
    lsmall[$how,$r]=$("${pin[@]}" "$WEFT" replay --workers "$w" --no-out --epoch-events 500000 "$work/hdfs-4k.jsonl" 2>&1 | awk '/wall time/ {print $3}')
  done
done
rm -f "$work/hdfs-2m.jsonl" "$work/hdfs-4k.jsonl"
{
  echo
  echo "Command: per round \`weft replay --workers W --no-out --epoch-events 500000\` of two copies of $work/hdfs.jsonl written just before, one 2 MiB at a time (\`dd bs=2M\`, as weft's writers write) and one 4 KiB at a time (\`dd bs=4k\`), W = $CORES and W=1 pinned to one CPU, $RUNS rounds  "
  echo "Machine: $machine; kernel $(uname -r), $(df -T "$work" | awk 'NR == 2 {print $2}'); measured $today."
  echo
  echo "**weft replay of the same file in 2 MiB page cache folios against 4 KiB ones: events/s, median (min-max) of $RUNS rounds; ratio = median of same-round ratios**"
  echo
  echo "| run | written 2 MiB at a time | written 4 KiB at a time | 2 MiB / 4 KiB |"
  echo "|---|---|---|---|"
  for how in "$CORES" pinned; do
    label="W=$how"; [ "$how" = pinned ] && label="W=1 pinned to one CPU (no helper)"
    spread_row "$label" lbig lsmall "$how" "$(wc -l < "$work/hdfs.jsonl")" "$(ratio_of lsmall "$how" lbig "$how")"
  done
} >> "$RES/baseline.md"
fi

if want memory; then
echo "== memory" >&2
# Traces in flight = C: --traces C --concurrent C keeps every trace open
# until the end of the file, so peak open = C traces of ~343 events.
levels=${MEM_LEVELS:-500 1000 3000 6000}
mem_ws=$(printf '%s\n' 1 "$CORES" | sort -un | xargs)
printf 'round\tconcurrent\tworkers\tevents\tsecs\tpeak_open_traces\tpeak_open_events\tpeak_rss_kib\tbytes_per_event\n' > "$work/memory.tsv"
for c in $levels; do
  if [ ! -s "$work/mem-$c.jsonl" ]; then
    "$WEFT" sim generate -o "$work/mem-$c.jsonl" --traces "$c" --concurrent "$c" \
      --blocks 21 --title 'fs -copyFromLocal' --seed 1 2>/dev/null
  fi
done
mem_runs=$(( RUNS > 10 ? RUNS : 10 ))
for r in $(seq 1 "$mem_runs"); do
  for c in $levels; do
    for w in $mem_ws; do
      "$WEFT" replay --workers "$w" --no-out --epoch-events 500000 "$work/mem-$c.jsonl" 2> "$work/sum"
      awk -v r="$r" -v c="$c" -v w="$w" '
        /^  events / {ev = $2} /wall time/ {s = $3}
        /^  peak open/ {pt = $3; pe = $5}
        /^  peak RSS/ {kib = $3; b = $5; gsub(/[()]/, "", b)}
        END {printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r, c, w, ev, s, pt, pe, kib, b}' "$work/sum" >> "$work/memory.tsv"
    done
  done
done
plot_py record --part memory --out "$RES/memory.json" --rows "$work/memory.tsv" \
  --command "scripts/bench.sh (memory part: for C in $levels: weft sim generate -o $work/mem-C.jsonl --traces C --concurrent C --blocks 21 --title 'fs -copyFromLocal' --seed 1; then weft replay --workers W --no-out --epoch-events 500000 $work/mem-C.jsonl for W in $mem_ws; $mem_runs rounds)" \
  --machine "$machine" --cores "$CORES" --runs "$mem_runs" --meta levels="$levels"
fi

if want burst; then
echo "== burst" >&2
burst=${BURST:-1000000}
burst_runs=$(( RUNS < 3 ? RUNS : 3 ))
burst_cmd="bench/burst_memory.py build-release/weft --burst $burst --workers $CORES --quiet 15"
{
  echo "Command: \`PARTS=burst scripts/bench.sh\` (\`$burst_cmd\`, $burst_runs rounds)  "
  echo "Machine: $machine"
  echo
  echo "$burst one-event traces, each with its own trace id, are written to \`weft replay --epoch-ms 100 --idle-epochs 10 -\` as fast as the pipe takes them, so they are all open at once; then nothing for 15 s while epochs keep closing, so every one is emitted. Resident memory is sampled every 50 ms."
  echo
  echo "| round | burst written in | RSS before | peak RSS | RSS 15 s later | bytes per open trace at the peak |"
  echo "|---|---|---|---|---|---|"
  for r in $(seq 1 "$burst_runs"); do
    python3 bench/burst_memory.py "$WEFT" --burst "$burst" --workers "$CORES" --quiet 15 > "$work/burst.json"
    python3 - "$work/burst.json" "$r" "$burst" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
n = int(sys.argv[3])
print(f"| {sys.argv[2]} | {d['burst_seconds']:.2f} s | {d['rss_before_kib'] / 1024:.0f} MiB "
      f"| {d['rss_peak_kib'] / 1024:.0f} MiB | {d['rss_after_quiet_kib'] / 1024:.0f} MiB "
      f"| {(d['rss_peak_kib'] - d['rss_before_kib']) * 1024 / n:.0f} |")
PY
  done
} > "$RES/burst.md"
fi

if want profile; then
echo "== profile" >&2
gen_hdfs
if ! command -v perf >/dev/null 2>&1; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq linux-perf >/dev/null 2>&1 </dev/null || true
fi
prof_cmd="weft replay --workers 1 --no-out --epoch-events 500000 $work/hdfs.jsonl"
rm -f "$work"/prof.*.txt
if command -v perf >/dev/null 2>&1 && perf stat -e task-clock true >/dev/null 2>&1; then
  for r in $(seq 1 "$RUNS"); do
    perf record -q -g -o "$work/perf.data" -- "$WEFT" replay --workers 1 --no-out --epoch-events 500000 "$work/hdfs.jsonl" >/dev/null 2>&1
    perf report -i "$work/perf.data" --no-children --sort dso,sym --stdio -g none \
      --percent-limit 0.1 --field-separator '|' > "$work/prof.$r.txt" 2>/dev/null
  done
  rm -f "$work/perf.data" "$work/perf.data.old"
  plot_py perf-top --tool perf --out-md "$RES/profile.md" --out-json "$RES/profile.json" \
    --command "perf record -g -- $prof_cmd; perf report --no-children --sort dso,sym ($RUNS runs)" \
    --machine "$machine" --cores "$CORES" "$work"/prof.*.txt
else
  echo "bench: perf cannot run here; profiling with valgrind --tool=callgrind on 300 traces" >&2
  if ! command -v valgrind >/dev/null 2>&1; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq valgrind >/dev/null </dev/null
  fi
  if [ ! -s "$work/prof-300.jsonl" ]; then
    "$WEFT" sim generate -o "$work/prof-300.jsonl" --traces 300 --concurrent 300 \
      --blocks 21 --title 'fs -copyFromLocal' --seed 1 2>/dev/null
  fi
  valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.out" \
    "$WEFT" replay --workers 1 --no-out "$work/prof-300.jsonl" >/dev/null 2>&1
  callgrind_annotate "$work/callgrind.out" > "$work/prof.1.txt" 2>/dev/null
  plot_py perf-top --tool callgrind --out-md "$RES/profile.md" --out-json "$RES/profile.json" \
    --command "valgrind --tool=callgrind -- weft replay --workers 1 --no-out prof-300.jsonl (300 traces of the same generator); callgrind_annotate" \
    --machine "$machine" --cores "$CORES" "$work/prof.1.txt"
fi
fi

if want instructions; then
echo "== instructions" >&2
gen_hdfs
if ! command -v valgrind >/dev/null 2>&1; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq valgrind >/dev/null </dev/null
fi
head -n 100000 "$work/hdfs.jsonl" > "$work/instr.jsonl"
for mode in e2e ingest; do
  extra=""; [ "$mode" = ingest ] && extra=--ingest-only
  valgrind --tool=callgrind --callgrind-out-file="$work/instr.$mode.out" \
    "$WEFT" replay --workers 1 --no-out --epoch-events 500000 $extra "$work/instr.jsonl" \
    >/dev/null 2> "$work/instr.$mode.log"
  callgrind_annotate --inclusive=yes "$work/instr.$mode.out" > "$work/instr.$mode.txt" 2>/dev/null
done
python3 - "$work" "$RES" "$machine" <<'PY'
import json, re, sys
work, res, machine = sys.argv[1:4]
EVENTS = 100000
# stage, the functions whose inclusive counts it sums (base names: the
# compiler adds .lto_priv.N, .part.N, .constprop.N); a tuple is one
# function under the names it has in different builds (the largest
# count: an outer one includes what it inlined)
STAGES = [
    ("the whole process", ["PROGRAM TOTALS"]),
    ("start-up: loading and relocating the shared libraries", ["_dl_start"]),
    ("the worker thread", ["worker_main"]),
    ("file source: lines, decode, record, into the exchange batch", [("op_splitter_feed", "feed_lines")]),
    ("- JSON parse of a line (the line template, else the general parser)", ["op_jtmpl_read", "jobject"]),
    ("- the event record (symbols, layout)", ["op_event_builder_finish"]),
    ("assembly: events into their open traces", ["add_events"]),
    ("finished traces: flatten, DAG, record", ["asm_build_trace", "asm_flatten"]),
    ("- canonical form", ["cluster_canon_compute"]),
]
def load(mode):
    incl = {}
    for line in open(f"{work}/instr.{mode}.txt"):
        m = re.match(r"^\s*([\d,]+)\s+\([^)]*\)\s+(.*)$", line)
        if not m:
            continue
        n = int(m.group(1).replace(",", ""))
        what = m.group(2)
        if what.startswith("PROGRAM TOTALS"):
            incl["PROGRAM TOTALS"] = n
            continue
        fn = what.split(" [")[0].rsplit(":", 1)[-1].split(".")[0]
        incl[fn] = max(incl.get(fn, 0), n)
    return incl
out = {"events": EVENTS, "machine": machine, "modes": {}}
rows = []
for mode in ("e2e", "ingest"):
    incl = load(mode)
    stages = []
    for name, fns in STAGES:
        n = sum(max(incl.get(a, 0) for a in f) if isinstance(f, tuple)
                else incl.get(f, 0) for f in fns)
        names = ["/".join(f) if isinstance(f, tuple) else f for f in fns]
        stages.append({"stage": name, "functions": names, "instructions": n})
    out["modes"][mode] = stages
total = {m: out["modes"][m][0]["instructions"] for m in out["modes"]}
with open(f"{res}/instructions.json", "w") as f:
    json.dump(out, f, indent=1)
with open(f"{res}/instructions.md", "w") as f:
    f.write("Command: `PARTS=instructions scripts/bench.sh` (`valgrind --tool=callgrind "
            "weft replay --workers 1 --no-out --epoch-events 500000 [--ingest-only]` "
            "on the first 100,000 lines of the pipeline's workload; "
            "`callgrind_annotate --inclusive=yes`)  \n")
    f.write(f"Machine: {machine}. Instruction counts do not depend on the host's "
            "speed; they change with the code, the compiler and the libraries. "
            "Valgrind runs one thread at a time, so the finish helper builds "
            "few of the traces here, if any; a build counts the same on either "
            "thread.\n\n")
    f.write(f"**Instructions per event ({EVENTS:,} events), inclusive: a stage "
            "counts what it calls; indented stages are part of the one above**\n\n")
    f.write("| stage (functions) | end to end | ingest only |\n|---|---|---|\n")
    for i, (name, fns) in enumerate(STAGES):
        cells = []
        for mode in ("e2e", "ingest"):
            n = out["modes"][mode][i]["instructions"]
            cells.append("-" if n == 0 else f"{n / EVENTS:,.0f} ({100 * n / total[mode]:.1f} %)")
        names = out["modes"]["e2e"][i]["functions"]
        f.write(f"| {name} (`{'`, `'.join(names)}`) | {cells[0]} | {cells[1]} |\n")
PY
fi

# Derived from the JSON, whatever parts ran: fits, memory table, cost model
# and the plots (without matplotlib: the tables only, plots left as they were).
echo "== plots and models" >&2
if make_venv; then
  "$VENV/bin/python" bench/plot.py report --results "$RES"
else
  echo "bench: no matplotlib (could not make $VENV): plots NOT redrawn" >&2
  plot_py report --results "$RES" --no-plots
fi
# each speed and memory target against the parts' JSON (measures nothing)
python3 bench/targets.py --results "$RES"
img() { if [ -f "$RES/$1" ]; then echo "![$2]($RES/$1)"; echo; fi; }
frag() { if [ -f "$RES/$1" ]; then cat "$RES/$1"; fi; }

{
  echo "# weft benchmarks"
  echo
  echo "Generated by \`scripts/bench.sh\` — do not edit by hand; rerun it. Figures are"
  echo "medians of repeated runs on the machine named with each table; each part's"
  echo "raw per-round numbers are in bench/results/<part>.json, and the plots are"
  echo "drawn from them by bench/plot.py. Reference lines on the plots (published,"
  echo "not measured here): the seed system, Altair, did 0.06 M events/s on one"
  echo "machine and 0.23 M events/s on its cluster; a large operator needs about"
  echo "11 M events/s (1 billion traces a day)."
  echo
  echo "## Speed and memory targets"
  echo
  frag targets.md
  echo "## Engine"
  echo
  cat "$RES/engine.md"
  echo
  echo "## Decoders"
  echo
  cat "$RES/decode.md"
  echo
  echo "## Trace formats: OTLP and Zipkin"
  echo
  frag otlp.md
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
  img pipeline-scaling.svg "events/s against workers, end to end with and without --model and ingest only, with the reference lines"
  if [ -f "$RES/timely.md" ]; then
    echo "### Against timely dataflow"
    echo
    cat "$RES/timely.md"
    echo
  fi
  if [ -f "$RES/peers.md" ]; then
    echo "### The latency check against peers"
    echo
    cat "$RES/peers.md"
    echo
  fi
  echo "### Scaling fits"
  echo
  frag scaling.md
  img pipeline-efficiency.svg "speed-up and parallel efficiency against workers, with the fitted Amdahl and USL curves"
  echo "### Emission latency"
  echo
  echo "The same runs as the first table: last event of a trace -> the trace out, per worker count (median over rounds of each run's p50, p99 and max; whiskers: min-max over rounds)."
  echo
  img latency.svg "emission latency p50, p99 and max against workers"
  if [ -f "$RES/memory.md" ]; then
    echo "## Memory: peak RSS against traces in flight"
    echo
    cat "$RES/memory.md"
    img memory.svg "peak RSS and bytes per buffered event against traces in flight"
  fi
  if [ -f "$RES/burst.md" ]; then
    echo "## Memory: a burst of open traces, and after it"
    echo
    cat "$RES/burst.md"
    echo
  fi
  if [ -f "$RES/serve.md" ]; then
    echo "## Kafka service (weft serve)"
    echo
    cat "$RES/serve.md"
    echo
    img serve.svg "weft serve events/s per processes x workers layout, with the reference lines"
  fi
  if [ -f "$RES/console.md" ]; then
    echo "## Web console: its cost to the pipeline"
    echo
    cat "$RES/console.md"
    if [ -f "$RES/notes-console.md" ]; then echo; cat "$RES/notes-console.md"; fi
    echo
  fi
  if [ -f "$RES/costmodel.md" ]; then
    echo "## Scale-out: a per-node cost model"
    echo
    cat "$RES/costmodel.md"
    img costmodel.svg "modelled aggregate events/s against nodes, with the reference lines"
  fi
  if [ -f "$RES/instructions.md" ]; then
    echo "## Instructions per event"
    echo
    cat "$RES/instructions.md"
    echo
  fi
  if [ -f "$RES/profile.md" ]; then
    echo "## Profile of the hottest path"
    echo
    cat "$RES/profile.md"
    img profile.svg "top functions by self time"
    if [ -f "$RES/notes-profile.md" ]; then cat "$RES/notes-profile.md"; echo; fi
  fi
  echo "## Machine baseline"
  echo
  cat "$RES/baseline.md"
  if [ -f "$RES/notes.md" ]; then echo; cat "$RES/notes.md"; fi
} > BENCHMARKS.md
echo "wrote BENCHMARKS.md" >&2
