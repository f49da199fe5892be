#!/usr/bin/env bash
# OpenTelemetry's own SDK against weft, with a real Kafka broker
# (scripts/kafka.sh) and the SDK from PyPI in a venv (made once per
# checkout in .venv/otel, which git ignores; every build directory's run
# shares it):
#   1. the SDK's protobuf encoding, size-prefixed in a file, is replayed,
#      sampled and trained into a model (weft replay --format auto); and
#      Zipkin v2 lists from py_zipkin (PyPI) replay into the same shape;
#   2. weft serve consumes topic 'otlp' (format auto) and runs the OTLP/HTTP
#      receiver, which relays into it; the SDK's OTLP/HTTP exporter (gzip)
#      sends one set of traces, and the SDK's encoding of another set, plus
#      an odd trace, is produced into the topic with kcat;
#   3. the traces topic holds exactly: 2 shop traces (4 spans, 3 edges,
#      only 'pay' flagged error),
#      2 batch traces (3 spans, 3 edges: the link is a second parent) with
#      verdict normal, and the odd one (3 spans, 2 edges) unknown_structure;
#   4. the receiver answers as OTLP/HTTP says: 415 for another media type,
#      400 for a body that is no OTLP, 413 above otlp.http.max.body, 200
#      with partialSuccess.rejectedSpans for a JSON body with a bad span,
#      and its protobuf form (opentelemetry-proto parses it) for a protobuf
#      one;
#      /metrics counts each outcome.
# usage: otel_sdk.sh WEFT SOURCE_ROOT
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
  [ -f "$TMP/serve.log" ] && tail -n 30 "$TMP/serve.log" >&2
  exit 1
}

VENV=$SRC/.venv/otel
if ! "$VENV/bin/python" -c 'import opentelemetry.exporter.otlp.proto.http, py_zipkin' 2>/dev/null; then
  rm -rf "$VENV"
  mkdir -p "$SRC/.venv"
  python3 -m venv "$VENV" || fail "python3 -m venv"
  "$VENV/bin/pip" install -q opentelemetry-sdk opentelemetry-exporter-otlp-proto-http py_zipkin \
    || fail "pip install opentelemetry-sdk opentelemetry-exporter-otlp-proto-http py_zipkin"
fi
PY="$VENV/bin/python $SRC/tests/integration/otel_sdk.py"

# 1. a model from the SDK's own encoding
$PY framed "$TMP/train.pb" 5
"$WEFT" replay "$TMP/train.pb" --no-out --sample "$TMP/s.smp" --sample-size 0 \
  2> "$TMP/replay.log" || fail "replay of the SDK's protobuf"
grep -q "events            35" "$TMP/replay.log" || { cat "$TMP/replay.log" >&2; fail "replay: expected 35 spans"; }
"$WEFT" train "$TMP/s.smp" -o "$TMP/m.model" 2>/dev/null || fail "train"

# 1b. Zipkin v2 from a real encoder (py_zipkin): 3 shop traces, 4 spans,
#     3 edges each, only 'pay' (tagged error) flagged
$PY zipkin "$TMP/zipkin.jsonl" 3
"$WEFT" replay "$TMP/zipkin.jsonl" --full --out "$TMP/zipkin.out" 2> "$TMP/zreplay.log" \
  || { cat "$TMP/zreplay.log" >&2; fail "replay of py_zipkin's spans"; }
python3 - "$TMP/zipkin.out" <<'PY' || fail "py_zipkin traces"
import json, sys
ts = [json.loads(l) for l in open(sys.argv[1])]
assert len(ts) == 3, len(ts)
for t in ts:
    edges = t["edges"] if isinstance(t["edges"], int) else len(t["edges"])
    assert (t["events"], edges, t["roots"]) == (4, 3, 1), t
    assert sorted(n["label"] for n in t["nodes"] if n.get("error")) == ["pay"], t
PY

# 2. the service
BS=$("$SRC/scripts/kafka.sh" start "$KDIR") || fail "broker start"
for t in "otlp 2" "traces 1" "anom 1" "dl 1"; do
  # shellcheck disable=SC2086
  "$SRC/scripts/kafka.sh" topic "$KDIR" $t >/dev/null 2>&1 || fail "topic $t"
done
"$WEFT" serve --brokers "$BS" --topics otlp --group g1 --workers 2 \
  --model "$TMP/m.model" --traces.topic traces --traces.full true --anomalies.topic anom \
  --deadletter.topic dl --epoch.ms 100 --idle.epochs 10 --metrics 127.0.0.1:0 \
  --otlp.http 127.0.0.1:0 --otlp.http.max.body 100000 > "$TMP/serve.log" 2>&1 &
PID=$!
for _ in $(seq 150); do
  grep -q "OTLP/HTTP on port" "$TMP/serve.log" && break
  kill -0 "$PID" 2>/dev/null || fail "weft serve exited"
  sleep 0.2
done
PORT=$(grep -o "OTLP/HTTP on port [0-9]*" "$TMP/serve.log" | grep -o "[0-9]*$") || fail "no receiver"
URL=http://127.0.0.1:$PORT/v1/traces
$PY http "$URL" | grep -q "sent 7 spans" || fail "SDK export over HTTP"
$PY proto "$TMP/k.pb" --odd
kcat -P -b "$BS" -t otlp "$TMP/k.pb" || fail "kcat produce"

# 4. the receiver's answers
code() { curl -s -o "$TMP/body" -w '%{http_code}' "$@"; }
[ "$(code -H 'Content-Type: text/plain' --data 'x' "$URL")" = 415 ] || fail "not 415"
[ "$(code -H 'Content-Type: application/x-protobuf' --data-binary 'garbage!' "$URL")" = 400 ] || fail "not 400"
head -c 200000 /dev/zero > "$TMP/big"
[ "$(code -H 'Content-Type: application/x-protobuf' --data-binary @"$TMP/big" "$URL")" = 413 ] || fail "not 413"
[ "$(code -X GET "$URL")" = 405 ] || fail "not 405"
bad='{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b7ad6b7169203331","name":"ok"},{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b7ad"}]}]}]}'
[ "$(code -H 'Content-Type: application/json' --data "$bad" "$URL")" = 200 ] || fail "partial: not 200"
grep -q '"rejectedSpans":"1"' "$TMP/body" || fail "partial: $(cat "$TMP/body")"
ps=$($PY partial "$URL") || fail "protobuf partial: no answer"
[ "$ps" = "rejected 1: bad_id_length" ] || fail "protobuf partial: $ps"

# 3. what came out: 5 SDK traces and the one-span traces of the partial bodies
dump() { kcat -C -b "$BS" -t "$1" -o beginning -e -q 2>/dev/null; }
for _ in $(seq 120); do
  [ "$(dump traces | wc -l)" -ge 7 ] && break
  sleep 0.5
done
MURL=$(grep -o 'http://127.0.0.1:[0-9]*/metrics' "$TMP/serve.log" | head -1)
curl -s "$MURL" > "$TMP/metrics" || fail "metrics"
grep -q '^weft_otlp_http_refused_total{why="too_large"} 1$' "$TMP/metrics" \
  || fail "metrics: $(grep otlp_http "$TMP/metrics")"
grep -q '^weft_otlp_http_spans_total{outcome="rejected"} 3$' "$TMP/metrics" || fail "metrics: rejected spans"
kill -TERM "$PID"
rc=0
wait "$PID" || rc=$?
PID=
[ "$rc" -eq 0 ] || fail "weft serve exited $rc"
dump traces > "$TMP/traces.jsonl"
python3 - "$TMP/traces.jsonl" <<'PY' || fail "traces topic"
import collections, json, sys
got = collections.Counter()
for line in open(sys.argv[1]):
    t = json.loads(line)
    # with traces.full, "edges" comes twice: the count, then the list
    edges = t["edges"] if isinstance(t["edges"], int) else len(t["edges"])
    got[(t["events"], edges, t.get("verdict"))] += 1
    errors = sorted(n["label"] for n in t["nodes"] if n.get("error"))
    labels = {n["label"] for n in t["nodes"]}
    if "cart" in labels and errors != ["pay"]:
        sys.exit(f"shop trace: error spans {errors}, want ['pay'] (status ERROR)")
want = collections.Counter({(4, 3, "normal"): 2, (3, 3, "normal"): 2,
                            (3, 2, "unknown_structure"): 1,
                            (1, 0, "unknown_structure"): 2})
if got != want:
    sys.exit(f"got {dict(got)}, want {dict(want)}")
PY
[ "$(dump dl | grep -c '"reason":"bad_id_length"')" -ge 1 ] || fail "no dead letter for the bad span"
grep -q "OTLP/HTTP: 13 requests, 9 spans, 3 rejected spans, 9 relayed; refused: 1 bad, 1 too large, 1 media type" "$TMP/serve.log" || fail "receiver counters: $(grep 'OTLP/HTTP:' "$TMP/serve.log")"
echo "otel_sdk: OK"
