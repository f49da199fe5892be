#!/usr/bin/env bash
# weft serve's learning loop against a real Kafka broker (scripts/kafka.sh):
# the workload of learn_loop.sh (a model that knows fs -mkdir; mkdir traffic
# with exceptions, then fs -chmod appears and stays) is produced to the
# input topic at 4000 events/s; serve with learn=true retrains every 5
# epochs (0.5 s). Once a
# retrain promoted a structure and the model was swapped in, fresh traffic
# is produced: every fs -chmod trace comes out normal on the traces topic,
# and every exception trace the first model flags (weft replay of the same
# file) comes out unknown_structure. /metrics shows weft_learn_*; SIGTERM
# stops the service cleanly (exit 0).
# usage: serve_learn.sh WEFT SOURCE_ROOT
set -euo pipefail
WEFT=$1
SRC=$2
TMP=$(mktemp -d)
KDIR=$TMP/kafka
PID=
cleanup() {
  [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null || true
  "$SRC/scripts/kafka.sh" stop "$KDIR" --clean >/dev/null 2>&1 || true
  rm -rf "$TMP"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  grep -E "learn|reload|error" "$TMP/serve.log" >&2 || true
  tail -n 5 "$TMP/serve.log" >&2 || true
  exit 1
}
# shellcheck source=tests/integration/learn_workload.sh
. "$SRC/tests/integration/learn_workload.sh"
learn_workload
M=$TMP/m.model
"$WEFT" replay "$TMP/c.jsonl" --model "$TMP/m0.model" --out "$TMP/c0.jsonl" 2>/dev/null

BS=$("$SRC/scripts/kafka.sh" start "$KDIR") || fail "broker start"
for t in "in 2" "traces 1" "anom 1" "dl 1"; do
  # shellcheck disable=SC2086
  "$SRC/scripts/kafka.sh" topic "$KDIR" $t >/dev/null 2>&1 || fail "topic $t"
done
"$WEFT" serve --brokers "$BS" --model "$M" --workers 2 --metrics 127.0.0.1:0 \
  --idle.epochs 10 --commit.interval.ms 300 --topics in --group gl \
  --traces.topic traces --anomalies.topic anom --deadletter.topic dl \
  -X auto.offset.reset=earliest --learn true --learn.every.epochs 5 \
  --learn.min.sample 20 --learn.promote.min 10 --learn.keep 3 2> "$TMP/serve.log" &
PID=$!
"$WEFT" sim replay "$TMP/stream.jsonl" --to kafka --brokers "$BS" --topic in --rate 4000 2>/dev/null \
  || fail "produce the stream"
# a retrain that promoted, then its model swapped in (a reload with >= 2 templates)
for _ in $(seq 120); do
  grep -q "structures promoted [0-9a-f]" "$TMP/serve.log" &&
    grep -q "model reloaded from .* ([2-9][0-9]* templates)" "$TMP/serve.log" && break
  kill -0 "$PID" 2>/dev/null || fail "weft serve died"
  sleep 0.5
done
grep -q "model reloaded from .* ([2-9][0-9]* templates)" "$TMP/serve.log" || fail "no learned model swapped in"
"$WEFT" sim replay "$TMP/c.jsonl" --to kafka --brokers "$BS" --topic in 2>/dev/null \
  || fail "produce fresh traffic"
port=$(grep -o 'http://127.0.0.1:[0-9]*' "$TMP/serve.log" | head -1 | cut -d: -f3)
check() {
  kcat -C -b "$BS" -t traces -e -q > "$TMP/out.jsonl" 2>/dev/null || return 1
  python3 - "$TMP" <<'PY'
import collections, json, sys
d = sys.argv[1]
tr = {}
for n in ("cm", "cc"):
    for l in open(f"{d}/{n}.tsv"):
        p = l.rstrip("\n").split("\t")
        tr[p[0].lower()] = (p[3], p[2])
def verdicts(path):
    r = {}
    for l in open(path):
        t = json.loads(l)
        if t["verdict"] not in ("late", None) and t["trace_id"].lower() in tr:
            r[t["trace_id"].lower()] = t["verdict"]  # the last copy
    return r
before, after = verdicts(f"{d}/c0.jsonl"), verdicts(f"{d}/out.jsonl")
if len(after) < len(tr):
    sys.exit(2)  # not all out yet
chmod = [k for k in tr if tr[k][0] == "fs -chmod"]
c = collections.Counter(after[k] for k in chmod)
fb = [k for k in tr if tr[k][1] == "exception" and before.get(k) == "unknown_structure"]
fa = [k for k in fb if after[k] == "unknown_structure"]
print(f"chmod after the retrain: {dict(c)}; exceptions flagged {len(fb)} -> {len(fa)}")
sys.exit(0 if c["normal"] == len(chmod) == 300 and len(fb) > 10 and fa == fb else 1)
PY
}
rc=2
for _ in $(seq 60); do
  set +e; check; rc=$?; set -e
  [ "$rc" -ne 2 ] && break
  sleep 1
done
[ "$rc" -eq 0 ] || fail "verdicts after the retrain (rc $rc)"
python3 - "$port" > "$TMP/metrics.txt" <<'PY' || fail "metrics endpoint"
import sys, urllib.request
print(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/metrics", timeout=10).read().decode())
PY
for m in weft_learn_retrains_total weft_learn_promoted_total weft_learn_model_version; do
  v=$(awk -v m="$m" '$1 == m {print $2}' "$TMP/metrics.txt")
  [ -n "$v" ] && [ "$v" != 0 ] || fail "$m is '$v'"
done
grep -q '^weft_learn_buffer_full_total ' "$TMP/metrics.txt" || fail "no buffer_full counter"
[ "$(ls "$M".v* | wc -l)" -le 3 ] || fail "more than learn.keep versions"
kill -TERM "$PID"
wait "$PID" || fail "weft serve exited $? after SIGTERM"
PID=
