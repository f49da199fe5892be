#!/usr/bin/env bash
# The model end to end through the real binary, on the bundled recorded
# HDFS traces: weft replay --sample -> weft train -> weft replay --model.
#   - trained on the first half (by time) of each normal run, the held-out
#     second halves get no unknown_structure verdict;
#   - every trace of the fault runs whose reports carry an exception
#     (ground truth from the import) is unknown_structure, with an
#     explanation naming what is new;
#   - anomaly lines are JSON with the documented fields; the HTML report
#     is written;
#   - a corrupt model is refused at start (exit 2, message) and, while
#     running on a live stream, a corrupt replacement is refused (the old
#     model stays) and a good one is swapped in, by file change and by
#     SIGHUP.
# usage: model_e2e.sh WEFT SOURCE_ROOT
set -euo pipefail
WEFT=$1
SRC=$2
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

for dir in "$SRC"/data/tracebench/*/; do
  n=$(basename "$dir")
  "$WEFT" sim import-tracebench "$dir" -o "$TMP/$n.jsonl" --truth "$TMP/$n.truth" 2>/dev/null
done
python3 "$SRC/scripts/tracebench_split.py" "$TMP"
python3 - "$TMP" <<'PY'
import json, sys
w = sys.argv[1]
# the held-out events in two files cut at a trace boundary (live test)
lines = open(f"{w}/holdout.jsonl").read().splitlines()
ids = list(dict.fromkeys(json.loads(l)["TaskID"] for l in lines))
first = set(ids[: len(ids) // 2])
with open(f"{w}/live1.jsonl", "w") as a, open(f"{w}/live2.jsonl", "w") as b:
    for l in lines:
        (a if json.loads(l)["TaskID"] in first else b).write(l + "\n")
PY

"$WEFT" replay "$TMP/train.jsonl" --workers 2 --no-out --sample "$TMP/train.smp" --sample-size 0 2>/dev/null
"$WEFT" train "$TMP/train.smp" -o "$TMP/m.model" 2> "$TMP/train.log" || { cat "$TMP/train.log"; fail "train"; }
grep -q "templates" "$TMP/train.log" || fail "train summary"
# a sample file is required
if "$WEFT" train "$TMP/train.jsonl" -o "$TMP/x.model" 2> "$TMP/err"; then fail "train accepted a non-sample file"; fi
grep -q "not a weft sample file" "$TMP/err" || fail "train: unclear error: $(cat "$TMP/err")"
# a sample file of another format version is refused by name
{ printf 'WEFTSMP1'; tail -c +9 "$TMP/train.smp"; } > "$TMP/old.smp"
if "$WEFT" train "$TMP/old.smp" -o "$TMP/x.model" 2> "$TMP/err"; then fail "train accepted an old sample file"; fi
grep -q "another version" "$TMP/err" || fail "train: unclear error on an old sample: $(cat "$TMP/err")"

# held-out normal halves: no unknown structure
"$WEFT" replay "$TMP/holdout.jsonl" --workers 2 --model "$TMP/m.model" --out "$TMP/hold.traces" \
  --anomalies "$TMP/hold.anom" 2> "$TMP/hold.log" || { cat "$TMP/hold.log"; fail "replay held-out"; }
grep -Eq "verdict latency +p50 [0-9.]+ ms, p99 [0-9.]+ ms, max [0-9.]+ ms" "$TMP/hold.log" \
  || fail "no verdict latency in the summary"
# the filter's size is never a rounded-down "0 KiB"
grep -Eq "filter ([1-9][0-9]* bytes|[1-9][0-9]* KiB) at fpr" "$TMP/hold.log" \
  || { grep "model  " "$TMP/hold.log"; fail "filter size in the summary"; }
python3 - "$TMP/hold.traces" <<'PY' || fail "held-out verdicts"
import collections, json, sys
ts = [json.loads(l) for l in open(sys.argv[1])]
c = collections.Counter(t.get("verdict") for t in ts)
assert len(ts) > 500, len(ts)
assert c["unknown_structure"] == 0, c
assert all("verdict" in t and "template" in t for t in ts)
PY

# fault runs: every exception trace is unknown_structure, explained
for f in "$TMP"/AN_*.jsonl; do
  n=$(basename "$f" .jsonl)
  "$WEFT" replay "$f" --workers 2 --model "$TMP/m.model" --out "$TMP/$n.traces" \
    --anomalies "$TMP/$n.anom" --report "$TMP/$n.html" 2> "$TMP/$n.log" || { cat "$TMP/$n.log"; fail "replay $n"; }
  grep -q "top explanations" "$TMP/$n.log" || fail "$n: no summary"
  python3 - "$TMP/$n.traces" "$TMP/$n.truth" "$TMP/$n.anom" <<'PY' || fail "$n verdicts"
import json, sys
ts = {json.loads(l)["trace_id"]: json.loads(l) for l in open(sys.argv[1])}
truth = {l.split("\t")[0].lower(): l.split("\t")[1] for l in open(sys.argv[2])}
recs = [json.loads(l) for l in open(sys.argv[3])]
anom = [a for a in recs if a.get("type") != "host_anomaly"]
for h in recs:
    if h.get("type") == "host_anomaly":
        assert h["schema_version"] == 1 and h["state"] in ("open", "update", "close"), h
        assert h["host"] and h["label"] and h["host_median_ns"] > 0 and h["explanation"], h
fails = [t for t in ts if truth[t] == "failure"]
for t in fails:
    assert ts[t]["verdict"] == "unknown_structure", (t, ts[t]["verdict"])
ids = {a["trace_id"] for a in anom}
for t in fails:
    assert t in ids
for a in anom:
    for k in ("trace_id", "verdict", "template", "distance", "explanation", "duration_ns"):
        assert k in a, k
    assert a["explanation"]
    if a["verdict"] == "unknown_structure":
        assert a["new_pieces"] >= 1 and a["new"] and a["new"][0]["label"]
        assert a["explanation"].startswith("new '")
    else:
        assert a["verdict"] == "slow" and a["slow"]["value_ns"] >= a["slow"]["threshold_ns"] > 0
        # judged against the peers: names the host, the operation and their
        # figure. The host's own median is above the peers' only when the
        # host is flagged; a trace slowed on its own on a host that is not
        # (op_peer.c, slow_on_its_own) names a host whose median may be
        # lower, so the check is on what this trace took
        sb = a["slow_by"]
        assert sb["host"] == a["slow"]["host"] and sb["label"] == a["slow"]["what"], a
        assert sb["value_ns"] > sb["peers_median_ns"] > 0 and sb["host_median_ns"] > 0, a
        assert sb["n_peers"] >= 3, a
PY
  grep -q "<svg" "$TMP/$n.html" || fail "$n: report without drawings"
done

# latency against peers: the run with one slowed DataNode names that node,
# and only it, in its host anomalies and in its slow traces; the runs of the
# same 30-client load without a slowed node and the held-out normal runs
# get (nearly) no slow verdict
python3 - "$TMP" <<'PY' || fail "peer latency verdicts"
import glob, json, os, sys
w = sys.argv[1]
def slow(n):
    return sum(json.loads(l).get("verdict") == "slow" for l in open(f"{w}/{n}.traces"))
def count(n):
    return sum(1 for _ in open(f"{w}/{n}.traces"))
one = os.path.basename(glob.glob(f"{w}/AN_Net_slowDN_w_20ms_01FDN_*.traces")[0])[:-7]
recs = [json.loads(l) for l in open(f"{w}/{one}.anom")]
hosts = {r["host"] for r in recs if r.get("type") == "host_anomaly"}
assert hosts == {"datanode001"}, hosts
named = {r["slow_by"]["host"] for r in recs if r.get("verdict") == "slow"}
assert named == {"datanode001"}, named
s1 = slow(one)
assert s1 >= 10, s1
ctrl = [os.path.basename(f)[:-7] for f in glob.glob(f"{w}/AN_*.traces") if "slowDN" not in f]
cs, cn = sum(slow(n) for n in ctrl), sum(count(n) for n in ctrl)
assert cs * count(one) * 5 <= s1 * cn, (cs, cn, s1)
assert slow("hold") <= count("hold") // 100, slow("hold")
PY

# a corrupt model is refused at start
head -c 1000 "$TMP/m.model" > "$TMP/bad.model"
if "$WEFT" replay "$TMP/holdout.jsonl" --model "$TMP/bad.model" --no-out 2> "$TMP/err"; then
  fail "a truncated model was accepted"
fi
grep -q "model" "$TMP/err" || fail "unclear error for a bad model: $(cat "$TMP/err")"

# hot swap on a live stream: file change with a corrupt model (refused),
# then SIGHUP after a good model is in place (swapped)
cp "$TMP/m.model" "$TMP/live.model"
mkfifo "$TMP/fifo"
"$WEFT" replay - --epoch-ms 50 --workers 2 --model "$TMP/live.model" --no-out \
  < "$TMP/fifo" 2> "$TMP/live.log" &
pid=$!
exec 3> "$TMP/fifo"
cat "$TMP/live1.jsonl" >&3
sleep 0.5
cp "$TMP/bad.model" "$TMP/live.model.new" && mv "$TMP/live.model.new" "$TMP/live.model"
for _ in $(seq 50); do grep -q "reload refused" "$TMP/live.log" && break; sleep 0.1; done
grep -q "reload refused" "$TMP/live.log" || { cat "$TMP/live.log"; fail "corrupt model not refused"; }
cp "$TMP/m.model" "$TMP/live.model.new" && mv "$TMP/live.model.new" "$TMP/live.model"
for _ in $(seq 50); do grep -q "model reloaded" "$TMP/live.log" && break; sleep 0.1; done
kill -HUP "$pid"
for _ in $(seq 50); do [ "$(grep -c "model reloaded" "$TMP/live.log")" -ge 2 ] && break; sleep 0.1; done
cat "$TMP/live2.jsonl" >&3
exec 3>&-
wait "$pid" || { cat "$TMP/live.log"; fail "live replay exit status"; }
[ "$(grep -c "model reloaded" "$TMP/live.log")" -ge 2 ] || { cat "$TMP/live.log"; fail "model not swapped by file change and SIGHUP"; }
grep -q "model reloads     2 (1 refused)" "$TMP/live.log" || { cat "$TMP/live.log"; fail "reload counters"; }
grep -q "unknown_structure  0 " "$TMP/live.log" || { cat "$TMP/live.log"; fail "live verdicts"; }
echo "model_e2e: ok"
