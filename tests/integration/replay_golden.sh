#!/usr/bin/env bash
# End to end on the bundled recorded HDFS traces (data/tracebench):
#   weft sim import-tracebench -> (weft sim replay) -> weft replay
# For every bundled run: the census (events per trace) equals trace.csv's
# NumReports for every trace and the trace count equals trace.csv's rows, at
# W = 1, 2, 3, sharded or not, plain/gzip/zstd, in recorded order or
# reordered by the simulator; bad lines mixed in are dead-lettered and
# counted while every good event still arrives.
set -euo pipefail
WEFT=$1
SRC=$2
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

summary() { # file key -> value from a weft replay summary
  awk -v k="$2" '$0 ~ "^  "k" " {print $NF}' "$1"
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
    "$WEFT" replay "$@" --census "$TMP/got" 2> "$TMP/sum" || fail "$name/$label: weft replay failed: $(cat "$TMP/sum")"
    sort -o "$TMP/got" "$TMP/got"
    diff -q "$TMP/want" "$TMP/got" >/dev/null || { diff "$TMP/want" "$TMP/got" | head -5 >&2; fail "$name/$label: census differs from trace.csv"; }
    [ "$(summary "$TMP/sum" traces)" = "$ntraces" ] || fail "$name/$label: trace count"
    [ "$(summary "$TMP/sum" rejected)" = "0" ] || fail "$name/$label: unexpected rejects"
  }
  for w in 1 2 3; do
    check "W=$w" --workers "$w" "$TMP/$name.jsonl"
  done
  check "no-shard" --workers 2 --no-shard --epoch-events 100 "$TMP/$name.jsonl"
  gzip -c "$TMP/$name.jsonl" > "$TMP/in.gz"
  check "gzip" --workers 2 "$TMP/in.gz"
  zstd -q -c "$TMP/$name.jsonl" > "$TMP/in.zst"
  check "zstd" --workers 2 "$TMP/in.zst"
  "$WEFT" sim replay "$TMP/$name.jsonl" -o - --reorder-window 64 --seed 7 2>/dev/null > "$TMP/reordered.jsonl"
  cmp -s "$TMP/reordered.jsonl" "$TMP/$name.jsonl" && fail "$name: reorder changed nothing"
  check "reordered stdin" --workers 2 - < "$TMP/reordered.jsonl"
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
"$WEFT" replay --workers 2 --dead-letters "$TMP/dead.jsonl" "$TMP/bad.jsonl" 2> "$TMP/sum" || fail "bad input: replay failed"
[ "$(summary "$TMP/sum" events)" = "$good" ] || fail "bad input: good events lost ($(summary "$TMP/sum" events) of $good)"
[ "$(summary "$TMP/sum" rejected)" = "6" ] || { cat "$TMP/sum" >&2; fail "bad input: expected 6 rejects"; }
[ "$(wc -l < "$TMP/dead.jsonl")" = "6" ] || fail "bad input: dead-letter lines"
grep -q '"reason":"too_long"' "$TMP/dead.jsonl" || fail "bad input: no too_long dead letter"
grep -q '"reason":"self_parent"' "$TMP/dead.jsonl" || fail "bad input: no self_parent dead letter"
grep -q '"offset":' "$TMP/dead.jsonl" || fail "bad input: dead letters carry no offset"

# A live stream with a quiet second in the middle: wall-clock epochs keep
# closing while nothing arrives (last closed epoch well past the first).
( head -n 3 "$first"; sleep 1; tail -n 2 "$first" ) \
  | "$WEFT" replay --epoch-ms 100 --workers 2 - 2> "$TMP/sum" || fail "live: replay failed"
[ "$(summary "$TMP/sum" events)" = "5" ] || fail "live: events"
last=$(awk '/epochs closed/ {gsub(/[()]/,""); print $NF}' "$TMP/sum")
[ "$last" -ge 5 ] || fail "live: quiet epochs did not close (last closed epoch $last)"

echo "replay golden: $runs runs checked; 1 passed, 0 failed"
