#!/usr/bin/env bash
# weft serve against a real Kafka broker (KRaft, scripts/kafka.sh), on the
# bundled recorded HDFS fault runs, with a model trained on the normal runs.
# Ground truth is `weft replay` of the same file with the same model.
#   A. produce everything (weft sim replay --to kafka, keyed by trace id)
#      plus three bad reports, serve it, SIGTERM: the traces topic holds
#      exactly the file replay's (trace id, events, verdict) set, the
#      anomalies topic exactly its anomalous trace ids, keyed by trace id;
#      the bad reports are counted and dead-lettered; /metrics answers;
#      SIGHUP reloads the model; a restart in the same group finds nothing
#      left to do (committed).
#   B. crash: a paced producer, the service killed with SIGKILL at three
#      random moments and restarted each time (static membership): every
#      trace of the ground truth is emitted, every anomaly flagged.
#   C. scale-out: three processes in one group on a 6-partition topic, one
#      killed mid-run: the union of their outputs covers every trace.
#   D. where a new group starts (op_kafka_start_offsets): with
#      auto.offset.reset=latest it reads none of A's topic, only what is
#      produced after its assignment.
# usage: serve_kafka.sh WEFT SOURCE_ROOT
set -euo pipefail
WEFT=$1
SRC=$2
TMP=$(mktemp -d)
KDIR=$TMP/kafka
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  "$SRC/scripts/kafka.sh" stop "$KDIR" --clean >/dev/null 2>&1 || true
  rm -rf "$TMP"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  for f in "$TMP"/*.log; do [ -f "$f" ] && { echo "== $f" >&2; tail -n 15 "$f" >&2; }; done
  exit 1
}

BS=$("$SRC/scripts/kafka.sh" start "$KDIR") || fail "broker start"
echo "broker at $BS"
for t in "in-a 4" "in-b 4" "in-c 6" "out-a-traces 2" "out-a-anom 1" "dl 1" \
         "out-b-traces 2" "out-b-anom 1" "out-c-traces 2" "out-c-anom 1"; do
  # shellcheck disable=SC2086
  "$SRC/scripts/kafka.sh" topic "$KDIR" $t >/dev/null 2>&1 || fail "topic $t"
done

for dir in "$SRC"/data/tracebench/*/; do
  n=$(basename "$dir")
  "$WEFT" sim import-tracebench "$dir" -o "$TMP/$n.jsonl" --truth "$TMP/$n.truth" 2>/dev/null
done
cat "$TMP"/NM_*.jsonl > "$TMP/normal.jsonl"
cat "$TMP"/AN_*.jsonl > "$TMP/faults.jsonl"
"$WEFT" replay "$TMP/normal.jsonl" --no-out --sample "$TMP/n.smp" --sample-size 0 2>/dev/null
"$WEFT" train "$TMP/n.smp" -o "$TMP/m.model" 2>/dev/null
# A compares with the file replay trace by trace, so both judge latency
# against the model's thresholds: against peers, a verdict depends on the
# traces seen before it, whose order differs between the two paths
"$WEFT" replay "$TMP/faults.jsonl" --model "$TMP/m.model" --peers=0 --out "$TMP/truth.jsonl" 2>/dev/null
N=$(wc -l < "$TMP/truth.jsonl")
echo "ground truth: $N traces"

# the lines of a topic, from the beginning to its current end
dump() { kcat -C -b "$BS" -t "$1" -o beginning -e -q -f '%k\t%s\n' 2>/dev/null; }
metrics_port() { grep -o 'http://127.0.0.1:[0-9]*' "$1" | head -1 | cut -d: -f3; }
scrape() { # port: /metrics into $TMP/metrics.txt
  python3 - "$1" > "$TMP/metrics.txt" <<'PY'
import sys, urllib.request
print(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/metrics", timeout=10).read().decode())
PY
}
# waits (up to $3 s) until topic $1 holds every trace id of the truth, keyed
wait_covered() {
  local topic=$1 log=$2 limit=${3:-150} t=0
  while :; do
    dump "$topic" > "$TMP/cover.tsv"
    python3 - "$TMP/truth.jsonl" "$TMP/cover.tsv" <<'PY' && return 0
import json, sys
want = {json.loads(l)["trace_id"] for l in open(sys.argv[1])}
have = {l.split("\t", 1)[0] for l in open(sys.argv[2])}
sys.exit(0 if want <= have else 1)
PY
    t=$((t + 2))
    [ "$t" -ge "$limit" ] && fail "not every trace reached $topic within $limit s ($log)"
    sleep 2
  done
}
stop() { # pid: SIGTERM, expect exit 0
  kill -TERM "$1"
  local rc=0
  wait "$1" || rc=$?
  [ "$rc" -eq 0 ] || fail "weft serve exited $rc after SIGTERM"
}

# ---- A: identical to the file replay ------------------------------------
"$WEFT" sim replay "$TMP/faults.jsonl" --to kafka --brokers "$BS" --topic in-a 2>"$TMP/prod-a.log" \
  || fail "sim replay --to kafka"
big=$(head -c 70000 /dev/zero | tr '\0' 'x')
printf 'this is not json\n{"X-Trace": "broken\n%s\n' "$big" | kcat -P -b "$BS" -t in-a 2>/dev/null
SERVE=("$WEFT" serve --brokers "$BS" --model "$TMP/m.model" --workers 2 --metrics 127.0.0.1:0
       --idle.epochs 10 --commit.interval.ms 300 -X session.timeout.ms=6000)
"${SERVE[@]}" --peers false --topics in-a --group ga --traces.topic out-a-traces \
  --anomalies.topic out-a-anom --deadletter.topic dl 2>"$TMP/a.log" &
pid=$!
PIDS+=("$pid")
wait_covered out-a-traces a.log 120
port=$(metrics_port "$TMP/a.log")
scrape "$port" || fail "metrics endpoint"
for m in weft_messages_total weft_traces_total weft_open_traces weft_epoch_frontier \
         weft_partition_lag weft_dead_letters_total weft_resident_memory_bytes; do
  grep -q "^$m" "$TMP/metrics.txt" || fail "metric $m missing"
done
grep -q '^weft_dead_letters_total 3$' "$TMP/metrics.txt" || fail "dead letters: $(grep dead_letters "$TMP/metrics.txt")"
# SIGHUP: the model is reloaded without stopping
kill -HUP "$pid"
for _ in $(seq 1 50); do
  scrape "$port"
  grep -q '^weft_model_reloads_total 1$' "$TMP/metrics.txt" && break
  sleep 0.2
done
grep -q '^weft_model_reloads_total 1$' "$TMP/metrics.txt" || fail "SIGHUP did not reload the model"
kill -0 "$pid" || fail "weft serve died on SIGHUP"
stop "$pid"
grep -q '"stopped: ' "$TMP/a.log" || fail "no closing log line"
dump out-a-traces > "$TMP/a.traces"
dump out-a-anom > "$TMP/a.anom"
dump dl > "$TMP/a.dl"
python3 - "$TMP/truth.jsonl" "$TMP/a.traces" "$TMP/a.anom" "$TMP/a.dl" <<'PY' || fail "A: outputs differ from the file replay"
import collections, json, sys
truth = [json.loads(l) for l in open(sys.argv[1])]
want = {(t["trace_id"], t["events"], t["verdict"]) for t in truth}
rows = [l.rstrip("\n").split("\t", 1) for l in open(sys.argv[2])]
got = [json.loads(v) for k, v in rows]
assert all(k == t["trace_id"] for (k, _), t in zip(rows, got)), "traces not keyed by trace id"
have = {(t["trace_id"], t["events"], t["verdict"]) for t in got}
assert len(got) == len(have), f"{len(got) - len(have)} traces emitted twice"
assert have == want, (len(want - have), len(have - want), sorted(want - have)[:3], sorted(have - want)[:3])
anom_want = {t["trace_id"] for t in truth if t["verdict"] in ("unknown_structure", "slow")}
arows = [l.rstrip("\n").split("\t", 1) for l in open(sys.argv[3])]
anom = [json.loads(v) for k, v in arows]
assert all(k == a["trace_id"] for (k, _), a in zip(arows, anom))
assert {a["trace_id"] for a in anom} == anom_want, "anomalies differ"
assert all(a.get("explanation") for a in anom)
dl = [json.loads(l.split("\t", 1)[1]) for l in open(sys.argv[4])]
reasons = collections.Counter(d["reason"] for d in dl)
assert len(dl) == 3, dl
print(f"A: {len(have)} traces identical to the file replay, {len(anom)} anomalies, dead letters {dict(reasons)}")
PY
# restart in the same group: everything was committed, nothing is re-emitted
"${SERVE[@]}" --peers false --topics in-a --group ga --traces.topic out-a-traces \
  --anomalies.topic out-a-anom --deadletter.topic dl 2>"$TMP/a2.log" &
pid=$!
PIDS+=("$pid")
sleep 8
stop "$pid"
grep -q '"stopped: 0 messages, 0 traces' "$TMP/a2.log" || fail "restart re-read committed data: $(grep stopped "$TMP/a2.log")"
echo "A: restart after SIGTERM: nothing re-read"

# ---- B: SIGKILL three times during a paced run ------------------------------
"$WEFT" sim replay "$TMP/faults.jsonl" --to kafka --brokers "$BS" --topic in-b --rate 7000 \
  2>"$TMP/prod-b.log" &
prod=$!
PIDS+=("$prod")
BARGS=(--topics in-b --group gb --traces.topic out-b-traces --anomalies.topic out-b-anom
       --deadletter.topic '' --idle.epochs 40 -X group.instance.id=crash)
for i in 1 2 3; do
  "${SERVE[@]}" "${BARGS[@]}" 2>>"$TMP/b.log" &
  pid=$!
  PIDS+=("$pid")
  sleep "$(python3 -c "import random; print(round(random.uniform(1.5, 3.5), 2))")"
  kill -9 "$pid"
  wait "$pid" 2>/dev/null || true
  echo "B: killed run $i"
done
"${SERVE[@]}" "${BARGS[@]}" 2>>"$TMP/b.log" &
pid=$!
PIDS+=("$pid")
wait "$prod" || fail "paced producer"
wait_covered out-b-traces b.log 150
stop "$pid"
dump out-b-traces > "$TMP/b.traces"
dump out-b-anom > "$TMP/b.anom"
python3 - "$TMP/truth.jsonl" "$TMP/b.traces" "$TMP/b.anom" <<'PY' || fail "B: lost traces or anomalies"
import collections, json, sys
truth = [json.loads(l) for l in open(sys.argv[1])]
got = [json.loads(l.split("\t", 1)[1]) for l in open(sys.argv[2])]
full = {t["trace_id"] for t in got if not t["flags"]}
ids = collections.Counter(t["trace_id"] for t in got)
missing = [t["trace_id"] for t in truth if t["trace_id"] not in ids]
assert not missing, f"{len(missing)} traces never emitted: {missing[:5]}"
recs = [json.loads(l.split("\t", 1)[1]) for l in open(sys.argv[3])]
# B runs with the peer check on (the default): host anomalies share the topic
anom = {a["trace_id"] for a in recs if a.get("type") != "host_anomaly"}
assert all(a["host"] and a["state"] for a in recs if a.get("type") == "host_anomaly")
want = {t["trace_id"] for t in truth if t["verdict"] == "unknown_structure"}
assert want <= anom, f"{len(want - anom)} anomalies not flagged"
print(f"B: every one of {len(truth)} traces emitted ({sum(ids.values()) - len(ids)} duplicates), "
      f"all {len(want)} structural anomalies flagged")
PY

# ---- C: three processes in one group, one killed mid-run ---------------------
"$WEFT" sim replay "$TMP/faults.jsonl" --to kafka --brokers "$BS" --topic in-c --rate 10000 \
  2>"$TMP/prod-c.log" &
prod=$!
PIDS+=("$prod")
CPIDS=()
for i in 1 2 3; do
  "$WEFT" serve --brokers "$BS" --model "$TMP/m.model" --workers 1 --metrics off \
    --idle.epochs 40 --commit.interval.ms 300 -X session.timeout.ms=6000 \
    --topics in-c --group gc --traces.topic out-c-traces --anomalies.topic out-c-anom \
    --deadletter.topic '' 2>"$TMP/c$i.log" &
  CPIDS+=("$!")
  PIDS+=("$!")
done
sleep 3
kill -9 "${CPIDS[1]}"
wait "${CPIDS[1]}" 2>/dev/null || true
echo "C: killed one of three"
wait "$prod" || fail "paced producer"
wait_covered out-c-traces "c1.log c3.log" 150
stop "${CPIDS[0]}"
stop "${CPIDS[2]}"
grep -q "assigned" "$TMP/c1.log" && grep -q "assigned" "$TMP/c3.log" || fail "C: a survivor never got partitions"
dump out-c-traces > "$TMP/c.traces"
python3 - "$TMP/truth.jsonl" "$TMP/c.traces" <<'PY' || fail "C: union does not cover the truth"
import json, sys
want = {json.loads(l)["trace_id"] for l in open(sys.argv[1])}
got = [json.loads(l.split("\t", 1)[1])["trace_id"] for l in open(sys.argv[2])]
assert want <= set(got), len(want - set(got))
print(f"C: {len(want)} traces covered by the survivors ({len(got) - len(set(got))} duplicates)")
PY
# ---- D: a new group with auto.offset.reset=latest ---------------------------
"$WEFT" serve --brokers "$BS" --model "$TMP/m.model" --workers 2 --metrics 127.0.0.1:0 \
  --topics in-a --group gd --deadletter.topic dl --anomalies.topic '' \
  -X auto.offset.reset=latest -X session.timeout.ms=6000 2>"$TMP/d.log" &
pid=$!
PIDS+=("$pid")
for _ in $(seq 1 150); do
  [ "$(grep -c "assigned 2 partitions" "$TMP/d.log")" -eq 2 ] && break
  sleep 0.2
done
[ "$(grep -c "assigned 2 partitions" "$TMP/d.log")" -eq 2 ] || fail "D: not every partition assigned"
head -n 3 "$TMP/faults.jsonl" | kcat -P -b "$BS" -t in-a 2>/dev/null
port=$(metrics_port "$TMP/d.log")
for _ in $(seq 1 150); do
  scrape "$port"
  grep -q '^weft_messages_total 3$' "$TMP/metrics.txt" && break
  sleep 0.2
done
stop "$pid"
grep -q '"stopped: 3 messages, ' "$TMP/d.log" || fail "D: latest read $(grep -o 'stopped: [0-9]* messages' "$TMP/d.log")"
echo "D: a new group at latest read only the 3 messages produced after its assignment"

echo "serve_kafka: ok"
