#!/usr/bin/env bash
# weft serve keeps traces whole (issue 18): one case per run, against a real
# Kafka broker (KRaft, scripts/kafka.sh). Synthetic X-Trace v4 traces
# (whole_traces.py), each with a unique id and a known number of events, are
# produced keyed by trace id; serve runs with a model trained on the same
# shapes (a cut trace is a structure it has never seen). The traces topic
# is then counted: every trace must come out whole (all its events in one
# record) at least once, none split (a record with fewer events, emitted
# as if finished), duplicates are counted, and no trace of ours is in the
# anomalies topic (each would be a false anomaly). Each case prints
#   case NAME: expected N, whole N, split N, duplicated N, missing N, ...
#
#   sigterm     after 4 paced traces, events 1-4 of 40 traces, SIGTERM
#               1.5 s later, events 5-7 0.3 s after; a restart in the same
#               group finishes the job
#   rebalance   two processes in one group, one SIGTERM'd (scale-down)
#               while traces are in flight
#   broker-kill the broker killed (SIGKILL) while traces are in flight and
#               restarted on the same port with the same data
#   broker-term the same with a clean broker shutdown (SIGTERM)
#   sigstop     serve stopped (SIGSTOP) for 2.5 idle gaps while the
#               producer writes, then SIGCONT; twice
#   quiet       one short trace to an idle topic (a burst inside the first
#               epoch): emitted within a few idle gaps
#   age         one trace that never goes idle (an event a second for longer
#               than max.trace.age.ms) beside normal traffic on the other
#               partitions: their commits reach the end while the stuck
#               trace is still open, and the stuck trace comes out flagged
#               `incomplete`
#   kill3       serve killed with SIGKILL three times (static membership,
#               restarted each time) plus a second process joining the
#               group (a rebalance)
#
# Waits are bounded polls for a condition; a failure says what was seen.
# usage: serve_whole.sh WEFT SOURCE_ROOT CASE
# Environment: WEFT_WHOLE_KEEP=1 keeps the temporary directory (logs,
# dumps); WEFT_WHOLE_NO_AGE_KEY=1 leaves max.trace.age.ms out of the age
# case's config (to see the stalled commits on a build without the key).
set -euo pipefail
WEFT=$1
SRC=$2
CASE=$3
KAFKA="$SRC/scripts/kafka.sh"
GEN="$SRC/tests/integration/whole_traces.py"
TMP=$(mktemp -d)
KDIR=$TMP/kafka
PARTS=4
EPOCH_MS=100
IDLE_EPOCHS=20 # the idle gap: 2 s; producers space a trace's events 150 ms
GAP_MS=$((EPOCH_MS * IDLE_EPOCHS))
PIDS=()
SERVE_RC=0

cleanup() {
  local p
  for p in "${PIDS[@]}"; do
    kill -CONT "$p" 2>/dev/null || true
    kill -9 "$p" 2>/dev/null || true
  done
  "$KAFKA" stop "$KDIR" --clean >/dev/null 2>&1 || true
  if [ "${WEFT_WHOLE_KEEP:-0}" = 1 ]; then
    echo "kept $TMP" >&2
  else
    rm -rf "$TMP"
  fi
}
trap cleanup EXIT
log_tails() {
  local f
  for f in "$TMP"/*.log; do
    [ -f "$f" ] && { echo "== $(basename "$f") (last 12 lines)" >&2; tail -n 12 "$f" >&2; }
  done
}
fail() {
  echo "FAIL ($CASE): $*" >&2
  log_tails
  exit 1
}
now_ms() { date +%s%3N; }

# ---- broker, topics, model ------------------------------------------------
BS=$("$KAFKA" start "$KDIR") || fail "broker start"
echo "broker at $BS"
for t in "in $PARTS" "out-traces 2" "out-anom 1" "dl 1"; do
  # shellcheck disable=SC2086
  "$KAFKA" topic "$KDIR" $t >/dev/null 2>&1 || fail "topic $t"
done
python3 "$GEN" ids 5EF7000A 300 >"$TMP/train.ids"
python3 "$GEN" lines "$TMP/train.ids" >"$TMP/train.jsonl"
"$WEFT" replay "$TMP/train.jsonl" --no-out --sample "$TMP/n.smp" --sample-size 0 \
  2>"$TMP/train-replay.txt" || fail "replay of the training traces"
"$WEFT" train "$TMP/n.smp" -o "$TMP/m.model" 2>"$TMP/train.txt" || fail "train"

conf() { # extra "key = value" lines on stdin
  cat >"$TMP/serve.conf" <<EOF
brokers = $BS
topics = in
group.id = whole
workers = 2
epoch.ms = $EPOCH_MS
idle.epochs = $IDLE_EPOCHS
commit.interval.ms = 300
model = $TMP/m.model
traces.topic = out-traces
anomalies.topic = out-anom
deadletter.topic = dl
metrics = 127.0.0.1:0
consumer.session.timeout.ms = 6000
EOF
  cat >>"$TMP/serve.conf"
}

# ---- serve processes ---------------------------------------------------------
# start_serve NAME [--key value ...]: appends to NAME.log; SPID is its pid
start_serve() {
  local name=$1
  shift
  echo "--- start $(date +%T.%N)" >>"$TMP/$name.log"
  "$WEFT" serve --config "$TMP/serve.conf" "$@" 2>>"$TMP/$name.log" &
  SPID=$!
  PIDS+=("$SPID")
  local i
  for i in $(seq 1 100); do
    kill -0 "$SPID" 2>/dev/null || {
      local rc=0
      wait "$SPID" || rc=$?
      fail "weft serve ($name) exited $rc at start: $(grep -v '^---' "$TMP/$name.log" | tail -n 3)"
    }
    [ -n "$(metrics_port "$name")" ] && return 0
    sleep 0.1
  done
  fail "weft serve ($name) logged no metrics address in 10 s"
}
# the metrics port of the latest run logged in NAME.log
metrics_port() {
  sed -n '/^--- start/h; /^--- start/!H; ${x;p}' "$TMP/$1.log" |
    grep -o ':[0-9]*/metrics' | tail -n 1 | tr -dc 0-9
}
# metric NAME METRIC [LABEL-SUBSTRING]: the sum of its samples ("" when down)
metric() {
  local port
  port=$(metrics_port "$1")
  [ -n "$port" ] || return 0
  python3 - "$port" "$2" "${3:-}" <<'PY' 2>/dev/null || true
import sys, urllib.request
port, name, sub = sys.argv[1], sys.argv[2], sys.argv[3]
text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
tot, n = 0.0, 0
for l in text.splitlines():
    if l.startswith(name) and l[len(name)] in " {" and sub in l:
        tot += float(l.rsplit(" ", 1)[1]); n += 1
print(int(tot) if n else "")
PY
}
# stop_serve NAME PID [sent]: SIGTERM (unless sent already), wait (bounded);
# a non-zero exit is recorded
stop_serve() {
  local name=$1 pid=$2 i rc=0
  [ -n "${3:-}" ] || kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 900); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -9 "$pid" 2>/dev/null || true
    echo "weft serve ($name) still running 90 s after SIGTERM: killed" >&2
    SERVE_RC=1
  fi
  wait "$pid" || rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "weft serve ($name) exited $rc after SIGTERM: $(grep -v '^---' "$TMP/$name.log" | tail -n 2)" >&2
    SERVE_RC=1
  fi
  echo "$name: $(grep -o '"stopped: [^"]*' "$TMP/$name.log" | tail -n 1 | cut -c2-)"
}
kill9() {
  kill -9 "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
# wait_assigned N NAME...: until the named processes hold N partitions
wait_assigned() {
  local want=$1 i n name v
  shift
  for i in $(seq 1 300); do
    n=0
    for name in "$@"; do
      v=$(metric "$name" weft_assigned_partitions)
      n=$((n + ${v:-0}))
    done
    [ "$n" -eq "$want" ] && return 0
    sleep 0.1
  done
  fail "partitions not assigned within 30 s ($n of $want)"
}

# ---- traces -----------------------------------------------------------------
# ids PREFIX N [--avoid ID]: writes $TMP/ids and $TMP/expected
ids() {
  python3 "$GEN" ids "$1" "$2" --partitions "$PARTS" ${3:+--avoid "$3"} >"$TMP/ids"
  python3 "$GEN" expected "$TMP/ids" >"$TMP/expected"
}
# produce IDS [args]: in the foreground
produce() {
  local ids=$1
  shift
  python3 "$GEN" produce "$ids" --brokers "$BS" --topic in --partitions "$PARTS" "$@" \
    2>>"$TMP/producer.log"
}
# produce_paced [args]: in the background; PROD is its pid
produce_paced() {
  python3 "$GEN" produce "$TMP/ids" --brokers "$BS" --topic in --partitions "$PARTS" "$@" \
    2>>"$TMP/producer.log" &
  PROD=$!
  PIDS+=("$PROD")
}
wait_producer() {
  local i rc=0
  for i in $(seq 1 1800); do
    kill -0 "$PROD" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$PROD" 2>/dev/null && fail "the producer still runs after 180 s"
  wait "$PROD" || rc=$?
  [ "$rc" -eq 0 ] || fail "the producer failed ($rc): $(tail -n 3 "$TMP/producer.log")"
}
dump() { kcat -C -b "$BS" -t "$1" -o beginning -e -q -f '%k\t%s\n' 2>/dev/null; }
CHECK_ARGS=()
# wait_whole LIMIT_S [EXPECTED]: until every trace is out whole (and, with
# CHECK_ARGS, the rest holds); 1 when the limit passes
wait_whole() {
  local deadline=$(($(now_ms) + $1 * 1000))
  while [ "$(now_ms)" -lt "$deadline" ]; do
    dump out-traces >"$TMP/traces.tsv"
    python3 "$GEN" check --quiet --case "$CASE" --expected "${2:-$TMP/expected}" \
      --traces "$TMP/traces.tsv" "${CHECK_ARGS[@]}" && return 0
    sleep 0.5
  done
  return 1
}
# the counts, after every serve process has stopped
verdict() {
  dump out-traces >"$TMP/traces.tsv"
  dump out-anom >"$TMP/anom.tsv"
  dump in >"$TMP/input.tsv"
  local rc=0
  python3 "$GEN" check --case "$CASE" --expected "$TMP/expected" --model \
    --traces "$TMP/traces.tsv" --anomalies "$TMP/anom.tsv" --input "$TMP/input.tsv" \
    "${CHECK_ARGS[@]}" || rc=1
  local warns
  warns=$(cat "$TMP"/s*.log 2>/dev/null | grep -cE '"level":"(warn|error)"' || true)
  echo "serve logged $warns warning and error lines"
  [ "$rc" -eq 0 ] || fail "traces not kept whole (counts above)"
  [ "$SERVE_RC" -eq 0 ] || fail "weft serve did not stop cleanly"
  echo "serve_whole $CASE: ok"
}

# ---- the cases ------------------------------------------------------------------

case_sigterm() {
  # the idle gap (3 s) is well above the 1.8 s pause inside each trace
  conf <<<"idle.epochs = 30"
  ids 5EF7A1 44
  start_serve s1
  wait_assigned "$PARTS" s1
  # traffic first (4 traces, paced), so that the ingest clock runs
  head -n 4 "$TMP/ids" >"$TMP/warm.ids"
  head -n 4 "$TMP/expected" >"$TMP/warm.expected"
  tail -n +5 "$TMP/ids" >"$TMP/cut.ids"
  produce "$TMP/warm.ids" --concurrent 4 || fail "producing the first traces"
  wait_whole 20 "$TMP/warm.expected" || echo "the first 4 traces not out within 20 s"
  produce "$TMP/cut.ids" --burst 1-4 || fail "producing events 1-4"
  sleep 1.5
  kill -TERM "$SPID"
  sleep 0.3
  produce "$TMP/cut.ids" --burst 5-7 || fail "producing events 5-7"
  stop_serve s1 "$SPID" sent
  start_serve s2 # the same group
  wait_whole 30 || echo "not every trace whole 30 s after the restart"
  stop_serve s2 "$SPID"
  verdict
}

case_rebalance() {
  conf </dev/null
  ids 5EF7B1 60
  start_serve s1 --workers 1
  local p1=$SPID
  start_serve s2 --workers 1
  local p2=$SPID
  wait_assigned "$PARTS" s1 s2
  wait_assigned 2 s1
  produce_paced --concurrent 8 --tick-ms 150
  sleep 3
  echo "SIGTERM s1 with traces in flight"
  stop_serve s1 "$p1"
  wait_producer
  wait_whole 30 || echo "not every trace whole 30 s after the producer finished"
  stop_serve s2 "$p2"
  verdict
}

broker_outage() { # kill|stop
  conf </dev/null
  ids 5EF7C1 80
  start_serve s1
  local p1=$SPID
  wait_assigned "$PARTS" s1
  produce_paced --concurrent 8 --tick-ms 150
  sleep 3
  echo "broker: $1 with traces in flight ($(date +%T))"
  if [ "$1" = kill ]; then
    "$KAFKA" kill "$KDIR" || fail "kafka.sh kill"
  else
    "$KAFKA" stop "$KDIR" || fail "kafka.sh stop"
  fi
  sleep 6 # down for three idle gaps at least (restarting takes longer)
  local bs
  bs=$("$KAFKA" restart "$KDIR") || fail "kafka.sh restart"
  [ "$bs" = "$BS" ] || fail "the broker came back at $bs, not $BS"
  echo "broker: back at $bs ($(date +%T))"
  wait_producer
  wait_whole 40 || echo "not every trace whole 40 s after the producer finished"
  kill -0 "$p1" 2>/dev/null || fail "weft serve died during the outage"
  stop_serve s1 "$p1"
  echo "serve logged $(grep -ci 'recover' "$TMP/s1.log" || true) lines about recovery"
  verdict
}
case_broker-kill() { broker_outage kill; }
case_broker-term() { broker_outage stop; }

case_sigstop() {
  # the session timeout is well above the pauses: no rebalance
  conf <<<"consumer.session.timeout.ms = 30000"
  ids 5EF7D1 100
  start_serve s1
  local p1=$SPID i
  wait_assigned "$PARTS" s1
  produce_paced --concurrent 8 --tick-ms 150
  # twice: what serve does first after SIGCONT is a race
  for i in 1 2; do
    sleep 2.5
    echo "SIGSTOP for $((5 * GAP_MS / 2)) ms with traces in flight"
    kill -STOP "$p1"
    sleep "$((5 * GAP_MS / 2000))"
    kill -CONT "$p1"
  done
  wait_producer
  wait_whole 30 || echo "not every trace whole 30 s after the producer finished"
  stop_serve s1 "$p1"
  verdict
}

case_quiet() {
  conf </dev/null
  ids 5EF7E1 1
  start_serve s1
  local p1=$SPID
  wait_assigned "$PARTS" s1
  # at once: its 5 or 7 events land within one epoch
  produce "$TMP/ids" --burst 1-7 || fail "producing the trace"
  # a few idle gaps, plus idle.partition.ms and the commit interval
  if ! wait_whole $((4 * GAP_MS / 1000 + 2)); then
    echo "not emitted within four idle gaps: frontier $(metric s1 weft_epoch_frontier)," \
      "open traces $(metric s1 weft_open_traces), messages $(metric s1 weft_messages_total)"
  fi
  stop_serve s1 "$p1"
  verdict
}

case_age() {
  local age=12000 stuck=5EF7F0FFFFFFFFFF
  if [ "${WEFT_WHOLE_NO_AGE_KEY:-0}" = 1 ]; then
    conf </dev/null
  else
    conf <<<"max.trace.age.ms = $age"
  fi
  ids 5EF7F1 16 "$stuck"
  local sp
  sp=$(python3 -c "import zlib,sys; print(zlib.crc32(sys.argv[1].encode()) % $PARTS)" "$stuck")
  CHECK_ARGS=(--age-limited "$stuck")
  start_serve s1
  local p1=$SPID
  wait_assigned "$PARTS" s1
  # the stuck trace: an event a second for longer than the age limit
  local t0
  t0=$(now_ms)
  python3 "$GEN" produce /dev/null --brokers "$BS" --topic in --partitions "$PARTS" \
    --stuck "$stuck" --stuck-events $((age / 1000 + 4)) --stuck-every-ms 1000 \
    2>>"$TMP/stuck.log" &
  local stuckp=$!
  PIDS+=("$stuckp")
  sleep 0.5
  produce_paced --concurrent 8 --tick-ms 150 # on the other partitions
  wait_producer
  # the end offsets of the other partitions, now fixed
  kcat -C -b "$BS" -t in -o beginning -e -q -f '%p %o\n' 2>/dev/null |
    awk -v sp="$sp" '$1 != sp && $2 + 1 > e[$1] { e[$1] = $2 + 1 } END { for (p in e) print p, e[p] }' |
    sort >"$TMP/ends"
  echo "stuck trace on partition $sp; the others end at: $(tr '\n' ' ' <"$TMP/ends")"
  # commits on the other partitions reach their ends (serve's own view,
  # cheap to poll) while the stuck trace is still open
  local deadline=$(($(now_ms) + 30000)) reached=0 p e c
  while [ "$(now_ms)" -lt "$deadline" ] && kill -0 "$p1" 2>/dev/null; do
    reached=1
    while read -r p e; do
      c=$(metric s1 weft_partition_committed_offset "partition=\"$p\"")
      [ -n "$c" ] && [ "$c" -ge "$e" ] || { reached=0; break; }
    done <"$TMP/ends"
    [ "$reached" -eq 1 ] && break
    sleep 0.2
  done
  dump out-traces >"$TMP/traces.tsv"
  local stuck_out
  stuck_out=$(grep -ci "\"trace_id\":\"$stuck\"" "$TMP/traces.tsv" || true)
  local seen="" q
  for ((q = 0; q < PARTS; q++)); do
    seen+=" $q:$(metric s1 weft_partition_committed_offset "partition=\"$q\"")"
  done
  echo "commit epoch $(metric s1 weft_commit_epoch); serve's committed offsets:$seen"
  if [ "$reached" -ne 1 ]; then
    echo "commits on the other partitions did not reach their ends in 30 s" \
      "($(( ($(now_ms) - t0) / 1000 )) s after the stuck trace began)"
    "$KAFKA" offsets "$KDIR" whole || true
    stop_serve s1 "$p1"
    verdict
    fail "one open trace held back the commits of the other partitions"
  fi
  echo "other partitions committed to their ends $(( ($(now_ms) - t0) / 1000 )) s after the" \
    "stuck trace began; stuck trace records so far: $stuck_out"
  [ "$stuck_out" -eq 0 ] ||
    fail "the other partitions were committed only once the stuck trace had been emitted"
  # the broker agrees
  "$KAFKA" offsets "$KDIR" whole >"$TMP/offsets" || fail "kafka.sh offsets"
  while read -r p e; do
    c=$(awk -v p="$p" '$2 == p { print $3 }' "$TMP/offsets")
    [[ $c =~ ^[0-9]+$ ]] && [ "$c" -ge "$e" ] ||
      fail "the broker has offset '${c:-none}' for partition $p (end $e): $(tr '\n' ';' <"$TMP/offsets")"
  done <"$TMP/ends"
  wait "$stuckp" || fail "the stuck producer failed: $(tail -n 3 "$TMP/stuck.log")"
  wait_whole 30 || echo "the stuck trace not out flagged incomplete 30 s after its last event"
  stop_serve s1 "$p1"
  verdict
}

case_kill3() {
  conf </dev/null
  ids 5EF7C9 100
  local static=(-X group.instance.id=whole-a) pauses=(2 2.5 3) i p1 p2=""
  start_serve s1 "${static[@]}"
  p1=$SPID
  wait_assigned "$PARTS" s1
  produce_paced --concurrent 8 --tick-ms 150
  for i in 1 2 3; do
    sleep "${pauses[$((i - 1))]}"
    kill9 "$p1"
    echo "killed s1 (run $i) with SIGKILL"
    start_serve s1 "${static[@]}"
    p1=$SPID
    if [ "$i" -eq 2 ]; then
      start_serve s2 --workers 1 # joins the group: a rebalance
      p2=$SPID
    fi
  done
  wait_producer
  wait_whole 40 || echo "not every trace whole 40 s after the producer finished"
  stop_serve s1 "$p1"
  stop_serve s2 "$p2"
  verdict
}

case "$CASE" in
  sigterm | rebalance | broker-kill | broker-term | sigstop | quiet | age | kill3) "case_$CASE" ;;
  *) fail "unknown case '$CASE'" ;;
esac
