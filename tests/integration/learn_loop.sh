#!/usr/bin/env bash
# The learning loop (weft replay --learn) on a workload that changes:
#   - the model knows one command (fs -mkdir); the stream is mkdir traffic
#     with injected exceptions, then a new command (fs -chmod) appears and
#     stays, mixed with more mkdir traffic, half of it with exceptions;
#   - the run retrains every 5 epochs: it logs the change reports, the new
#     command's structure is promoted (recurred in 2 periods with >= 20
#     traces), nothing else is (the exception structures recur too but
#     carry the marker), MODEL advanced and MODEL.vN were kept;
#   - fresh traffic of both kinds, checked against the original model and
#     the learned one: fs -chmod unknown_structure before, normal after;
#     every exception trace the original model flags is still flagged.
# usage: learn_loop.sh WEFT SOURCE_ROOT
set -euo pipefail
WEFT=$1
SRC=$2
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
# shellcheck source=tests/integration/learn_workload.sh
. "$SRC/tests/integration/learn_workload.sh"
learn_workload
M=$TMP/m.model
E=(--epoch-events 200 --idle-epochs 20)
"$WEFT" replay "$TMP/stream.jsonl" "${E[@]}" --model "$M" --out "$TMP/t1.jsonl" \
  --learn --learn-every-epochs 5 --learn-min-sample 20 --learn-buffer 100000 \
  --learn-keep 3 --learn-promote-min 10 2> "$TMP/r1.log" || fail "replay --learn: $(cat "$TMP/r1.log")"
grep -q "^weft learn: retrained from" "$TMP/r1.log" || fail "no retrain: $(cat "$TMP/r1.log")"
grep -q "templates 1 -> 2 (+1 -0)" "$TMP/r1.log" || fail "no template added: $(grep learn "$TMP/r1.log")"
promoted=$(sed -n 's/.* \([0-9]*\) structures promoted;.*/\1/p' "$TMP/r1.log")
[ "$promoted" = 1 ] || fail "promoted '$promoted' structures, want 1: $(grep learn "$TMP/r1.log")"
cmp -s "$M" "$TMP/m0.model" && fail "the model file did not change"
n_v=$(ls "$M".v* | wc -l)
[ "$n_v" -ge 1 ] && [ "$n_v" -le 3 ] || fail "versions kept: $n_v (keep 3)"
"$WEFT" model versions "$M" > "$TMP/versions" || fail "weft model versions"
# every kept file says when and from what it was trained; the retrains
# (all but the first version, which weft train wrote) by the learning loop
grep -vq " trained [0-9-]*T[0-9:]*Z by " "$TMP/versions" && fail "origin: $(cat "$TMP/versions")"
want_loop=$(( $(wc -l < "$TMP/versions") - 1 ))
[ "$(grep -c " by learning loop: [0-9]* traces sampled" "$TMP/versions")" -ge "$want_loop" ] ||
  fail "retrains not marked: $(cat "$TMP/versions")"
"$WEFT" replay "$TMP/c.jsonl" "${E[@]}" --model "$TMP/m0.model" --out "$TMP/c0.jsonl" 2>/dev/null
"$WEFT" replay "$TMP/c.jsonl" "${E[@]}" --model "$M" --out "$TMP/c1.jsonl" 2>/dev/null
# in the run: the new command's first traces were unknown_structure
python3 - "$TMP" <<'PY' || fail "verdicts"
import collections, json, sys
d = sys.argv[1]
def truth(*names):
    t = {}
    for n in names:
        for l in open(f"{d}/{n}.tsv"):
            p = l.rstrip("\n").split("\t")
            t[p[0].lower()] = (p[3], p[2])  # title, injected kind
    return t
def verdicts(path):  # late amendments are fragments of a trace judged already
    r = {}
    for l in open(path):
        t = json.loads(l)
        if t["verdict"] != "late":
            r.setdefault(t["trace_id"].lower(), t["verdict"])
    return r
ok = True
def want(cond, msg):
    global ok
    if not cond:
        print("FAIL:", msg, file=sys.stderr)
        ok = False
t1, tr1 = verdicts(f"{d}/t1.jsonl"), truth("bc")
first = [v for k, v in t1.items() if k in tr1][:20]
want(first and all(v == "unknown_structure" for v in first), f"first chmod verdicts {first}")
tr = truth("cm", "cc")
before, after = verdicts(f"{d}/c0.jsonl"), verdicts(f"{d}/c1.jsonl")
chmod = [k for k in tr if tr[k][0] == "fs -chmod"]
exc = [k for k in tr if tr[k][1] == "exception"]
want(len(chmod) == 300 and len(exc) > 30, f"workload: {len(chmod)} chmod, {len(exc)} exceptions")
cb = collections.Counter(before.get(k) for k in chmod)
ca = collections.Counter(after.get(k) for k in chmod)
want(cb["unknown_structure"] == len(chmod), f"chmod against the first model: {cb}")
want(ca["normal"] == len(chmod), f"chmod against the learned model: {ca}")
fb = [k for k in exc if before.get(k) == "unknown_structure"]
fa = [k for k in fb if after.get(k) == "unknown_structure"]
want(len(fb) > 10 and fa == fb, f"exceptions flagged: {len(fb)} before, {len(fa)} of them after")
print(f"chmod before {dict(cb)} after {dict(ca)}; exceptions flagged {len(fb)} -> {len(fa)}")
sys.exit(0 if ok else 1)
PY
