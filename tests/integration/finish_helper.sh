#!/usr/bin/env bash
# The finish helper (--finish-helper; operators/assemble/asm_finish.c)
# changes who builds a finished trace's record, never the record: on a
# generated HDFS workload, weft replay with the helper on writes the same
# traces as with it off (the wall-clock field last_event_unix_ns aside),
# in the same order at one worker, whether the traces finish at the end
# of the input or by the idle gap while it goes on, and with a model's
# verdicts; at two workers the same set of traces (less their hosts,
# which there follow the events' arrival, with or without the helper).
# With it on, the summary counts
# the traces the helper built; off, none.
# The helpers' auto policy (two cores per worker) counts the CPUs the
# process has: pinned to one (taskset -c 0, as a container's cpuset
# would), weft replay defaults to one worker and runs no helper — no read
# ahead, no slab helper, no finish helper — with the same records; so it
# does in a cgroup whose CPU quota is one CPU (a container's CPU limit),
# where this machine lets the test make one; with two cores or more, one
# worker gets all three.
set -euo pipefail
WEFT=$(realpath "$1")
SRC=$2
TMP=$(mktemp -d)
CG=""
trap 'rm -rf "$TMP"; [ -z "$CG" ] || rmdir "$CG" 2>/dev/null || true' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# shellcheck source=tests/integration/replay_summary.sh
. "$SRC/tests/integration/replay_summary.sh"
# the records without their wall-clock field, in order (or sorted, and
# without hosts)
strip() {
  python3 -c '
import json, sys
rows = []
for line in open(sys.argv[1]):
    t = json.loads(line)
    t.pop("last_event_unix_ns", None)
    if sys.argv[2] == "sorted":
        t.pop("hosts", None)  # at W >= 2 it follows arrival, helper or not
    rows.append(json.dumps(t, sort_keys=True))
if sys.argv[2] == "sorted":
    rows.sort()
print("\n".join(rows))' "$1" "$2"
}

cd "$SRC"
# 400 traces of a 21-block copy, 100 open at a time: traces finish all
# along the input (137,200 events)
"$WEFT" sim generate -o "$TMP/in.jsonl" --traces 400 --concurrent 100 \
  --blocks 21 --title 'fs -copyFromLocal' --seed 7 2>/dev/null
"$WEFT" replay "$TMP/in.jsonl" --no-out --sample "$TMP/smp" --sample-size 200 2>/dev/null
"$WEFT" train "$TMP/smp" -o "$TMP/model" >/dev/null 2>&1 || fail "weft train"

# label, order (inorder|sorted), replay args...
same() {
  local label=$1 order=$2; shift 2
  "$WEFT" replay "$@" --finish-helper off --out "$TMP/off.jsonl" "$TMP/in.jsonl" 2> "$TMP/off.sum" \
    || fail "$label: replay (helper off): $(cat "$TMP/off.sum")"
  [ "$(summary "$TMP/off.sum" "finish helper")" = 0 ] || fail "$label: helper off built traces"
  strip "$TMP/off.jsonl" "$order" > "$TMP/off.txt"
  [ "$(wc -l < "$TMP/off.txt")" -ge 400 ] || fail "$label: traces missing"
  # the helper takes part when the scheduler runs it during a window: a
  # few tries for it to have built some, every one compared
  local helped=0 try
  for try in 1 2 3 4 5; do
    "$WEFT" replay "$@" --finish-helper on --out "$TMP/on.jsonl" "$TMP/in.jsonl" 2> "$TMP/on.sum" \
      || fail "$label: replay (helper on): $(cat "$TMP/on.sum")"
    strip "$TMP/on.jsonl" "$order" > "$TMP/on.txt"
    cmp -s "$TMP/off.txt" "$TMP/on.txt" || { diff "$TMP/off.txt" "$TMP/on.txt" | head -4 | cut -c1-300 >&2; fail "$label: records differ with the helper"; }
    helped=$(summary "$TMP/on.sum" "finish helper")
    [ "$helped" -gt 0 ] && break
  done
  [ "$helped" -gt 0 ] || fail "$label: the helper built no trace in 5 runs"
  echo "ok: $label (helper built $helped traces)"
}

same "W=1, at the end of the input" inorder --workers 1 --epoch-events 1000000
same "W=1, by the idle gap" inorder --workers 1 --epoch-events 2000 --idle-epochs 3
same "W=1, with a model" inorder --workers 1 --epoch-events 2000 --idle-epochs 3 --model "$TMP/model"
grep -q '"verdict"' "$TMP/on.jsonl" || fail "no verdicts with a model"
same "W=2, by the idle gap" sorted --workers 2 --epoch-events 2000 --idle-epochs 3
# read_ahead N: bytes the file's read-ahead helper read, from the summary
read_ahead() { grep -o '[0-9]* read ahead by a helper' "$1" | cut -d' ' -f1; }
taskset -c 0 "$WEFT" replay --epoch-events 1000000 --out "$TMP/one.jsonl" "$TMP/in.jsonl" 2> "$TMP/one.sum" \
  || fail "pinned: replay: $(cat "$TMP/one.sum")"
[ "$(summary "$TMP/one.sum" workers)" = 1 ] || fail "pinned: not one worker by default"
[ "$(read_ahead "$TMP/one.sum")" = 0 ] || fail "pinned: the file was read ahead by a helper"
grep -q 'no --slab-helper' "$TMP/one.sum" || fail "pinned: a slab helper ran"
[ "$(summary "$TMP/one.sum" "finish helper")" = 0 ] || fail "pinned: the finish helper built traces"
strip "$TMP/one.jsonl" inorder > "$TMP/one.txt"
"$WEFT" replay --workers 1 --epoch-events 1000000 --finish-helper off --out "$TMP/off.jsonl" "$TMP/in.jsonl" 2>/dev/null
strip "$TMP/off.jsonl" inorder | cmp -s - "$TMP/one.txt" || fail "pinned: records differ"
echo "ok: pinned to one CPU, one worker and no helper"
# a cgroup with a quota of one CPU: v1's cpu controller, else v2 where
# its root hands the cpu controller down
# mount_of TYPE OPTION: the first mount of that file system type whose
# super options have OPTION ("" for any), from /proc/self/mountinfo
mount_of() {
  awk -v t="$1" -v o="$2" '{ split($0, h, " - "); split(h[1], a, " "); split(h[2], b, " ")
    if (b[1] == t && (o == "" || ("," b[3] ",") ~ ("," o ","))) { print a[5]; exit } }' /proc/self/mountinfo
}
mnt=$(mount_of cgroup cpu)
v2=""
if [ -z "$mnt" ]; then
  mnt=$(mount_of cgroup2 "")
  if [ -n "$mnt" ] && grep -qw cpu "$mnt/cgroup.subtree_control" 2>/dev/null; then v2=1; else mnt=""; fi
fi
if [ -n "$mnt" ] && mkdir "$mnt/weft-test-$$" 2>/dev/null; then
  CG="$mnt/weft-test-$$"
  if [ -n "$v2" ]; then
    echo "100000 100000" > "$CG/cpu.max"
  else
    echo 100000 > "$CG/cpu.cfs_period_us"
    echo 100000 > "$CG/cpu.cfs_quota_us"
  fi
  sh -c 'echo $$ > "$1/cgroup.procs" && exec "$2" replay --epoch-events 1000000 --no-out "$3"' \
    sh "$CG" "$WEFT" "$TMP/in.jsonl" 2> "$TMP/cg.sum" || fail "cgroup: replay: $(cat "$TMP/cg.sum")"
  [ "$(summary "$TMP/cg.sum" workers)" = 1 ] || fail "cgroup: not one worker under a one-CPU quota"
  [ "$(read_ahead "$TMP/cg.sum")" = 0 ] || fail "cgroup: the file was read ahead by a helper"
  grep -q 'no --slab-helper' "$TMP/cg.sum" || fail "cgroup: a slab helper ran"
  rmdir "$CG" && CG=""
  echo "ok: under a one-CPU quota ($mnt), one worker and no helper"
else
  echo "skip: no cgroup with a CPU quota can be made here"
fi
# weft's own count of its cores: its default worker count
"$WEFT" replay --epoch-events 1000000 --no-out "$TMP/in.jsonl" 2> "$TMP/all.sum" \
  || fail "default: replay: $(cat "$TMP/all.sum")"
cores=$(summary "$TMP/all.sum" workers)
if [ "$cores" -ge 2 ]; then
  "$WEFT" replay --workers 1 --epoch-events 1000000 --no-out "$TMP/in.jsonl" 2> "$TMP/two.sum" \
    || fail "two cores: replay: $(cat "$TMP/two.sum")"
  [ "$(read_ahead "$TMP/two.sum")" -gt 0 ] || fail "two cores: no read-ahead helper"
  grep -q 'no --slab-helper' "$TMP/two.sum" && fail "two cores: no slab helper"
  echo "ok: with $cores CPUs one worker gets its helpers"
fi
echo "finish_helper: ok"
