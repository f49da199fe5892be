#!/usr/bin/env bash
# End to end on the bundled recorded HDFS traces (data/tracebench):
#   weft sim import-tracebench -> (weft sim replay) -> weft replay
# For every bundled run, every finished trace has exactly trace.csv's
# NumReports events, one root and (the recorded traces are trees)
# events - 1 edges, no missing parents and no cycles; the trace count
# equals trace.csv's rows. Checked at W = 1, 2, 3, sharded or not,
# plain/gzip/zstd, recorded order or reordered by the simulator, finished
# at end of stream or by the idle gap. Late events come out as amendments
# and nothing is lost. Bad lines mixed in are dead-lettered and counted
# while every good event still arrives.
set -euo pipefail
WEFT=$1
SRC=$2
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# shellcheck source=tests/integration/replay_summary.sh
. "$SRC/tests/integration/replay_summary.sh"
census() { # trace lines -> "trace_id<TAB>events", amendments added in, sorted
  python3 -c '
import json, sys, collections
n = collections.Counter()
for line in open(sys.argv[1]):
    t = json.loads(line)
    n[t["trace_id"]] += t["events"] - t["counters"]["missing"]
for k in sorted(n):
    print(f"{k}\t{n[k]}")' "$1"
}
shape() { # every trace: one root, a tree, no missing parents, no cut cycles
  python3 -c '
import json, sys
for line in open(sys.argv[1]):
    t = json.loads(line)
    if "late" in t["flags"]:
        continue
    bad = t["roots"] != 1 or t["edges"] != t["events"] - 1 or \
          t["counters"]["missing"] or t["counters"]["cycle_edges"] or \
          "malformed" in t["flags"] or "dangling" in t["flags"]
    if bad:
        print("bad trace:", line[:300], file=sys.stderr)
        sys.exit(1)' "$1"
}

runs=0
for dir in "$SRC"/data/tracebench/*/; do
  name=$(basename "$dir")
  "$WEFT" sim import-tracebench "$dir" -o "$TMP/$name.jsonl" --truth "$TMP/$name.truth" 2>/dev/null
  # expected: lower-case trace id <TAB> NumReports
  zcat "$dir/trace.csv.gz" | awk -F, 'NR > 1 {printf "%s\t%s\n", tolower($1), $3}' | sort > "$TMP/want"
  ntraces=$(wc -l < "$TMP/want")
  [ "$ntraces" -gt 0 ] || fail "$name: empty trace.csv"

  check() { # label, replay args...
    local label=$1; shift
    "$WEFT" replay "$@" --out "$TMP/traces.jsonl" 2> "$TMP/sum" || fail "$name/$label: weft replay failed: $(cat "$TMP/sum")"
    census "$TMP/traces.jsonl" > "$TMP/got"
    diff -q "$TMP/want" "$TMP/got" >/dev/null || { diff "$TMP/want" "$TMP/got" | head -5 >&2; fail "$name/$label: events per trace differ from trace.csv"; }
    [ "$(summary "$TMP/sum" "traces out")" = "$ntraces" ] || fail "$name/$label: trace count"
    [ "$(summary "$TMP/sum" rejected)" = "0" ] || fail "$name/$label: unexpected rejects"
    shape "$TMP/traces.jsonl" || fail "$name/$label: a trace is not a single-rooted tree without missing parents"
  }
  for w in 1 2 3; do
    check "W=$w" --workers "$w" "$TMP/$name.jsonl"
  done
  # past the text and place limits the texts go, not the events: every
  # trace still whole, and the limits counted
  check "tight limits" --workers 2 --max-texts 2 --max-places 2 --max-text-bytes 3 "$TMP/$name.jsonl"
  [ "$(summary "$TMP/sum" "texts, places")" -gt 0 ] || { cat "$TMP/sum" >&2; fail "$name: text limits not counted"; }
  # (the recorded runs have up to ~670 lines between two events of one
  # trace: idle gaps below are set so that no recorded trace is split)
  check "no-shard" --workers 2 --no-shard --epoch-events 100 --idle-epochs 10 "$TMP/$name.jsonl"
  # small epochs: traces finish by the idle gap while the stream goes on
  check "idle-gap" --workers 2 --epoch-events 50 --idle-epochs 20 "$TMP/$name.jsonl"
  grep -vq '"flushed"' "$TMP/traces.jsonl" \
    || fail "$name/idle-gap: no trace finished before the end of the stream"
  gzip -c "$TMP/$name.jsonl" > "$TMP/in.gz"
  check "gzip" --workers 2 "$TMP/in.gz"
  zstd -q -c "$TMP/$name.jsonl" > "$TMP/in.zst"
  check "zstd" --workers 2 "$TMP/in.zst"
  "$WEFT" sim replay "$TMP/$name.jsonl" -o - --reorder-window 64 --seed 7 2>/dev/null > "$TMP/reordered.jsonl"
  cmp -s "$TMP/reordered.jsonl" "$TMP/$name.jsonl" && fail "$name: reorder changed nothing"
  check "reordered stdin" --workers 2 - < "$TMP/reordered.jsonl"
  # Same shapes whatever the arrival order, duplicates included: the set
  # of (trace, signature, exact) equals the in-order replay's.
  shapes() { python3 -c '
import json, sys
for l in open(sys.argv[1]):
    t = json.loads(l)
    print(t["trace_id"], t["signature"], t["exact"], t["events"])' "$1" | sort; }
  "$WEFT" replay --workers 2 --out "$TMP/inorder.jsonl" "$TMP/$name.jsonl" 2>/dev/null
  shapes "$TMP/inorder.jsonl" > "$TMP/shapes.a"
  for seed in 11 12 13; do
    "$WEFT" sim replay "$TMP/$name.jsonl" -o - --reorder-window 500 --dup-rate 0.05 --seed "$seed" 2>/dev/null \
      | "$WEFT" replay --workers 3 --out "$TMP/shuffled.jsonl" - 2> "$TMP/sum" || fail "$name: shuffled replay failed"
    shapes "$TMP/shuffled.jsonl" > "$TMP/shapes.b"
    cmp -s "$TMP/shapes.a" "$TMP/shapes.b" || { diff "$TMP/shapes.a" "$TMP/shapes.b" | head -4 >&2; fail "$name: signatures change with arrival order (seed $seed)"; }
    [ "$(summary "$TMP/sum" duplicates)" -gt 0 ] || fail "$name: no duplicates were injected/counted (seed $seed)"
  done
  runs=$((runs + 1))
done
[ "$runs" -ge 3 ] || fail "expected the bundled runs under data/tracebench, found $runs"

# Bad input between good lines: every good event arrives, each bad line is
# counted by reason and dead-lettered with its byte offset.
first=$(ls "$TMP"/*.jsonl | head -1)
good=$(wc -l < "$first")
{
  head -n 100 "$first"
  echo '{"TaskID": "12ab", "EventID": '             # malformed (truncated JSON)
  echo '{"EventID":"5","Label":"x"}'                 # missing trace id
  echo '{"TaskID":"zz-not-hex","EventID":"1"}'       # non-hex id
  echo '{"TaskID":"0a","EventID":"7","ParentEventID":["7"]}'  # parent = itself
  printf '{"TaskID":"0a","EventID":"8","Label":"\xff\xfe"}\n' # invalid UTF-8
  head -c 200000 /dev/zero | tr '\0' 'x'; echo       # a 200 KB line
  tail -n +101 "$first"
} > "$TMP/bad.jsonl"
"$WEFT" replay --workers 2 --no-out --dead-letters "$TMP/dead.jsonl" "$TMP/bad.jsonl" 2> "$TMP/sum" || fail "bad input: replay failed"
[ "$(summary "$TMP/sum" events)" = "$good" ] || fail "bad input: good events lost ($(summary "$TMP/sum" events) of $good)"
# (traces go to stdout by default; here they were not needed)
[ "$(summary "$TMP/sum" rejected)" = "6" ] || { cat "$TMP/sum" >&2; fail "bad input: expected 6 rejects"; }
[ "$(wc -l < "$TMP/dead.jsonl")" = "6" ] || fail "bad input: dead-letter lines"
grep -q '"reason":"too_long"' "$TMP/dead.jsonl" || fail "bad input: no too_long dead letter"
grep -q '"reason":"self_parent"' "$TMP/dead.jsonl" || fail "bad input: no self_parent dead letter"
grep -q '"offset":' "$TMP/dead.jsonl" || fail "bad input: dead letters carry no offset"

# Classic X-Trace text reports end to end: the same recorded run written as
# "X-Trace Report ver 1.0" reports (version-1 metadata, 8-byte task and op
# ids, one Edge line per parent), then gzip'ed; weft replay --format text
# must find every trace with NumReports events, one root, a tree.
name=$(basename "$first" .jsonl)
python3 - "$first" > "$TMP/reports.txt" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    u = lambda v: int(v) & 0xFFFFFFFFFFFFFFFF
    print("X-Trace Report ver 1.0")
    print("X-Trace: 19%016X%016X" % (int(e["TaskID"], 16), u(e["EventID"])))
    for p in e["ParentEventID"]:
        print("Edge: %016X" % u(p))
    print("Timestamp: %d.%03d" % (e["Timestamp"] // 1000, e["Timestamp"] % 1000))
    print("Host: " + e["Host"])
    print("Agent: " + e["Agent"])
    print("Label: " + e["Label"])
    print()
PY
gzip -c "$TMP/reports.txt" > "$TMP/reports.txt.gz"
zcat "$SRC/data/tracebench/$name/trace.csv.gz" | awk -F, 'NR > 1 {printf "%s\t%s\n", tolower($1), $3}' | sort > "$TMP/want"
"$WEFT" replay --format text --workers 2 --out "$TMP/traces.jsonl" "$TMP/reports.txt.gz" 2> "$TMP/sum" || fail "text: replay failed: $(cat "$TMP/sum")"
census "$TMP/traces.jsonl" > "$TMP/got"
diff -q "$TMP/want" "$TMP/got" >/dev/null || { diff "$TMP/want" "$TMP/got" | head -5 >&2; fail "text: events per trace differ from trace.csv"; }
[ "$(summary "$TMP/sum" rejected)" = "0" ] || { cat "$TMP/sum" >&2; fail "text: unexpected rejects"; }
shape "$TMP/traces.jsonl" || fail "text: a trace is not a single-rooted tree"

# Ingest only (decode -> exchange -> count): every good event arrives.
"$WEFT" replay --ingest-only --workers 2 "$first" 2> "$TMP/sum" || fail "ingest-only: replay failed"
[ "$(summary "$TMP/sum" counted)" = "$good" ] || fail "ingest-only: counted $(summary "$TMP/sum" counted) of $good"

# A live stream with a quiet second in the middle: wall-clock epochs keep
# closing while nothing arrives (last closed epoch well past the first).
( head -n 3 "$first"; sleep 1; tail -n 2 "$first" ) \
  | "$WEFT" replay --epoch-ms 100 --workers 2 --no-out - 2> "$TMP/sum" || fail "live: replay failed"
[ "$(summary "$TMP/sum" events)" = "5" ] || fail "live: events"
last=$(awk '/epochs closed/ {gsub(/[()]/,""); print $NF}' "$TMP/sum")
[ "$last" -ge 5 ] || fail "live: quiet epochs did not close (last closed epoch $last)"

# Late events: the simulator holds some events back; with small epochs and
# a short idle gap their traces are emitted first and the held-back events
# come as amendments flagged late. Nothing is lost: per trace, emitted
# events (amendments included) add up to NumReports.
name=$(basename "$first" .jsonl)
zcat "$SRC/data/tracebench/$name/trace.csv.gz" | awk -F, 'NR > 1 {printf "%s\t%s\n", tolower($1), $3}' | sort > "$TMP/want"
"$WEFT" sim replay "$first" -o - --late-rate 0.02 --late-delay 3000 --seed 3 2>/dev/null > "$TMP/late.jsonl"
"$WEFT" replay --workers 2 --epoch-events 20 --idle-epochs 10 --out "$TMP/traces.jsonl" "$TMP/late.jsonl" 2> "$TMP/sum" || fail "late: replay failed"
census "$TMP/traces.jsonl" > "$TMP/got"
diff -q "$TMP/want" "$TMP/got" >/dev/null || fail "late: events lost or duplicated across amendments"
[ "$(summary "$TMP/sum" "late events")" -gt 0 ] || fail "late: no late events seen"
grep -q '"late"' "$TMP/traces.jsonl" || fail "late: no amendment flagged late"

# DOT output of a chosen trace
tid=$(head -n 1 "$TMP/want" | cut -f1)
"$WEFT" replay --no-out --dot "$tid" --dot-dir "$TMP" "$first" 2>/dev/null || fail "dot: replay failed"
grep -q "^digraph" "$TMP/$tid.dot" || fail "dot: no digraph written for $tid"
[ "$(grep -c -- '->' "$TMP/$tid.dot")" -gt 0 ] || fail "dot: no edges drawn"

echo "replay golden: $runs runs checked; 1 passed, 0 failed"
