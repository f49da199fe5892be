#!/usr/bin/env bash
# Model versions and rollback through the real binary:
#   - weft train -o MODEL keeps the file it replaces as MODEL.vN, the last
#     --keep of them;
#   - weft model versions lists them; weft model rollback puts the newest
#     (or --to N) back, byte for byte, and keeps the replaced file as a
#     version in turn; a version that does not load is refused and MODEL
#     stays as it was; without versions a rollback fails (exit 1);
#   - a replay running on MODEL swaps the rolled-back model in (file
#     change, as after weft train).
# usage: model_versions.sh WEFT SOURCE_ROOT
set -euo pipefail
WEFT=$1
SRC=$2
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$WEFT" sim generate -o "$TMP/a.jsonl" --traces 300 --seed 3 \
  --from "$SRC/data/tracebench/NM_CL_rw_05C_1to19B_0to120INTR_0to600INTW_50RT_10WT" 2>/dev/null
"$WEFT" replay "$TMP/a.jsonl" --no-out --sample "$TMP/a.smp" --sample-size 0 2>/dev/null
M=$TMP/m.model
if "$WEFT" model rollback "$M" 2> "$TMP/err"; then fail "rollback without versions succeeded"; fi
grep -q "no earlier version" "$TMP/err" || fail "unclear error: $(cat "$TMP/err")"
"$WEFT" train "$TMP/a.smp" -o "$M" --keep 2 2>/dev/null
cp "$M" "$TMP/first"
"$WEFT" train "$TMP/a.smp" -o "$M" --keep 2 --threshold 0.3 2> "$TMP/t2.log"
grep -q "kept as $M.v1" "$TMP/t2.log" || fail "train did not keep the replaced model"
cp "$M" "$TMP/second"
cmp -s "$TMP/first" "$TMP/second" && fail "the two models are the same file"
cmp -s "$TMP/first" "$M.v1" || fail "v1 is not the first model"
"$WEFT" train "$TMP/a.smp" -o "$M" --keep 2 --threshold 0.5 2>/dev/null
"$WEFT" train "$TMP/a.smp" -o "$M" --keep 2 --threshold 0.6 2>/dev/null
# keep 2: v1 was dropped, v2 and v3 remain
[ ! -e "$M.v1" ] && [ -e "$M.v2" ] && [ -e "$M.v3" ] || fail "keep 2: $(ls "$TMP")"
[ "$("$WEFT" model versions "$M" | cut -f1 | tr '\n' ' ')" = "v2 v3 " ] || fail "versions: $("$WEFT" model versions "$M")"
cmp -s "$TMP/second" "$M.v2" || fail "v2 is not the second model"
cp "$M" "$TMP/fourth"

# a live replay on M picks the rolled-back file up
mkfifo "$TMP/fifo"
"$WEFT" replay - --epoch-ms 50 --workers 1 --model "$M" --no-out < "$TMP/fifo" 2> "$TMP/live.log" &
pid=$!
exec 3> "$TMP/fifo"
head -n 200 "$TMP/a.jsonl" >&3
sleep 0.5
"$WEFT" model rollback "$M" --to 2 2> "$TMP/rb.log" || fail "rollback: $(cat "$TMP/rb.log")"
cmp -s "$TMP/second" "$M" || fail "rollback --to 2 did not restore the second model"
for _ in $(seq 50); do grep -q "model reloaded" "$TMP/live.log" && break; sleep 0.1; done
grep -q "model reloaded" "$TMP/live.log" || { cat "$TMP/live.log"; fail "the running replay did not swap"; }
exec 3>&-
wait "$pid" || fail "live replay exited $?"
# the replaced (fourth) model is a version now: roll back to it again
v=$("$WEFT" model versions "$M" | tail -n 1 | cut -f1)
cmp -s "$TMP/fourth" "$M.$v" || fail "the replaced model was not kept ($v)"
"$WEFT" model rollback "$M" 2>/dev/null || fail "rollback to the newest"
cmp -s "$TMP/fourth" "$M" || fail "rollback to the newest did not restore the fourth model"
# a corrupt version is refused, M unchanged
head -c 100 "$M" > "$M.v99"
cp "$M" "$TMP/before"
if "$WEFT" model rollback "$M" --to 99 2> "$TMP/err"; then fail "a corrupt version was rolled back to"; fi
grep -q "bad model" "$TMP/err" || fail "unclear error: $(cat "$TMP/err")"
cmp -s "$TMP/before" "$M" || fail "a refused rollback changed the model"
echo "model_versions: ok"
