#!/usr/bin/env python3
"""The web console's HTTP side, without a browser (Python's standard
library only): bad requests get counted 4xx answers, the bearer token is
asked for, event streams are bounded, and many connections held open do
not stall the engine.

  - with --console-token, no token is 401; the header or ?token= is 200;
  - unknown paths 404, POST 405, a query over console.max_query 414, bad
    filters and ids 400, a trace not kept 404, a stream past half the
    connections 503; each is counted in /metrics by reason, exactly;
  - with 3x console.max_conns idle connections held open, the fault run
    streamed through weft gives the same traces and anomalies as a run
    without the console, and the refused connections are counted;
  - the JSON endpoints answer what they document (docs/CONSOLE.md).

usage: console_http.py WEFT SOURCE_ROOT
"""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

WEFT, SRC = sys.argv[1:3]
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from console_common import RUN, fail, prepare, start_console, stop, wait_log  # noqa: E402

TOKEN = "s3cret-token"


def bad_addresses(tmp):
    """Addresses that are not PORT, HOST:PORT or [V6]:PORT: usage errors."""
    for a in ("::1", "[::1]", "127.0.0.1:", "127.0.0.1:99999", "localhost:80", "x"):
        r = subprocess.run([WEFT, "replay", "--model", f"{tmp}/m.model", "--console", a,
                            "/dev/null"], capture_output=True, text=True)
        if r.returncode != 2 or "console" not in r.stderr:
            fail(f"--console {a!r}: exit {r.returncode}, {r.stderr.strip()!r}")


MAX_CONNS = 8


def get(url, token=TOKEN, method="GET", headers=None):
    h = dict(headers or {})
    if token:
        h["Authorization"] = "Bearer " + token
    req = urllib.request.Request(url, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def expect(url, status, **kw):
    got, body = get(url, **kw)
    if got != status:
        fail(f"{kw.get('method', 'GET')} {url}: {got}, expected {status}: {body[:200]!r}")
    return body


def metrics(base):
    out = {}
    for line in expect(base + "/metrics", 200).decode().splitlines():
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            out[k] = float(v)
    return out


def epoch_close_histogram(m):
    """weft_epoch_close_seconds after the run: observed, its buckets
    cumulative in increasing le, +Inf equal to _count."""
    name = "weft_epoch_close_seconds"
    buckets = sorted(((float(k.split('le="')[1][:-2]), v) for k, v in m.items()
                      if k.startswith(name + "_bucket{")), key=lambda b: b[0])
    count = m.get(name + "_count", 0)
    if len(buckets) < 2 or count <= 0 or buckets[-1] != (float("inf"), count):
        fail(f"{name}: no closes observed or +Inf is not the count: {buckets[-1:]} {count}")
    if any(a[1] > b[1] for a, b in zip(buckets, buckets[1:])):
        fail(f"{name}: buckets are not cumulative: {buckets}")
    if not 0 <= m[name + "_sum"] <= count * 60 * 60:
        fail(f"{name}_sum out of range: {m[name + '_sum']}")


def reference(tmp):
    """The same run without the console: traces and anomalies."""
    with open(f"{tmp}/{RUN}.jsonl", "rb") as f:
        subprocess.run([WEFT, "replay", "-", "--epoch-ms", "200", "--idle-epochs", "5",
                        "--workers", "2", "--model", f"{tmp}/m.model", "--peers=0",
                        "--out", f"{tmp}/ref.traces", "--anomalies", f"{tmp}/ref.anom"],
                       stdin=f, check=True, stderr=subprocess.DEVNULL)
    return ids(f"{tmp}/ref.traces"), ids(f"{tmp}/ref.anom")


def ids(path):
    """Trace ids of trace or anomaly lines (host anomalies have none)."""
    recs = (json.loads(l) for l in open(path) if l.strip())
    return sorted(r["trace_id"] for r in recs if r.get("type") != "host_anomaly")


def main():
    tmp = tempfile.mkdtemp(prefix="weft-console-http-")
    proc = None
    held = []
    try:
        trained_after = int(time.time())
        failed = prepare(WEFT, SRC, tmp)
        trained_before = int(time.time()) + 1
        bad_addresses(tmp)
        ref_traces, ref_anom = reference(tmp)
        # --peers=0 on both sides: with 2 workers, a verdict against peers
        # near a host anomaly's start depends on thread timing
        proc, log, base = start_console(WEFT, tmp, ["--peers=0", "--console-token", TOKEN,
                                                    "--console-max-conns", str(MAX_CONNS)])
        # the token
        expect(base + "/api/summary", 401, token=None)
        expect(base + "/api/summary?token=wrong", 401, token=None)
        expect(base + "/api/summary", 401, token="s3cret-tokem")
        expect(base + f"/api/summary?token={TOKEN}", 200, token=None)
        expect(base + "/", 200)
        # bad requests
        bad = {"not_found": 0, "method": 0, "too_long": 0, "bad_query": 0,
               "unauthorized": 3, "busy": 0}
        for path in ("/nope", "/api/nope", "/api/trace/00000000000000ab", "/api/template/99999"):
            expect(base + path, 404)
            bad["not_found"] += 1
        for path in ("/api/summary", "/"):
            expect(base + path, 405, method="POST")
            bad["method"] += 1
        expect(base + "/api/traces?host=" + "x" * 2000, 414)
        bad["too_long"] += 1
        for q in ("/api/traces?verdict=bogus", "/api/traces?limit=0", "/api/traces?limit=x",
                  "/api/traces?trace_id=xyz", "/api/traces?template=-5",
                  "/api/anomalies?since=yesterday", "/api/trace/zz", "/api/trace/-1",
                  "/api/trace/11112222333344445", "/api/template/x", "/api/stream?after=-3"):
            expect(base + q, 400)
            bad["bad_query"] += 1
        # a header block far past the connection's memory: refused, not a crash
        code, _ = get(base + "/api/summary", headers={"X-Big": "y" * 200000})
        if code < 400 or code >= 500:
            fail(f"a 200 KB header got {code}")
        # event streams take at most half the connections: one more is 503
        streams = []
        for _ in range(MAX_CONNS // 2 + 1):
            s = socket.create_connection((base.split("//")[1].split(":")[0],
                                          int(base.rsplit(":", 1)[1])), timeout=10)
            s.sendall(f"GET /api/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}"
                      "\r\n\r\n".encode())
            if b"200 OK" not in s.recv(200):
                fail("an event stream was refused below the limit")
            streams.append(s)
        expect(base + "/api/stream", 503)
        bad["busy"] += 1
        for s in streams:
            s.close()

        # many idle connections held open while the engine runs
        host, port = base.split("//")[1].rsplit(":", 1)
        for _ in range(3 * MAX_CONNS):
            try:
                held.append(socket.create_connection((host, int(port)), timeout=5))
            except OSError:
                pass
        with open(f"{tmp}/{RUN}.jsonl", "rb") as f:
            proc.stdin.write(f.read())
        proc.stdin.close()
        wait_log(proc, log, "input done")
        if ids(f"{tmp}/traces.jsonl") != ref_traces:
            fail("with the console and its connections held, the traces differ")
        if ids(f"{tmp}/anom.jsonl") != ref_anom:
            fail("with the console and its connections held, the anomalies differ")
        for s in held:
            s.close()
        held = []

        # the endpoints, after the run
        # the server sees the closes on its own time: retry while it still
        # counts them (bounded)
        m = None
        for _ in range(100):
            try:
                m = metrics(base)
                if m["weft_console_connections"] <= 1:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        if m is None:
            fail("the console never answered after the held connections closed")
        if m["weft_console_connections_refused_total"] < 1:
            fail("no connection was refused past console.max_conns")
        for reason, n in bad.items():
            got = m[f'weft_console_bad_requests_total{{reason="{reason}"}}']
            if got != n:
                fail(f"bad requests {reason}: counted {got}, made {n}")
        epoch_close_histogram(m)
        summ = json.loads(expect(base + "/api/summary", 200))
        if summ["traces"] != len(ref_traces):
            fail(f"summary: {summ['traces']} traces, the run had {len(ref_traces)}")
        if summ["verdicts"]["unknown_structure"] + summ["verdicts"]["slow"] != len(ref_anom):
            fail("summary: the anomalies do not add up")
        an = json.loads(expect(base + "/api/anomalies?limit=1000", 200))["traces"]
        if sorted(a["trace_id"] for a in an) != ref_anom:
            fail("/api/anomalies does not list every anomaly")
        if not failed <= {a["trace_id"] for a in an}:
            fail("a failed trace of the ground truth is not listed")
        seqs = [a["seq"] for a in an]
        if seqs != sorted(seqs, reverse=True):
            fail("/api/anomalies is not newest first")
        one = an[0]
        for k in ("root_operation", "hosts", "verdict_time_ns", "anomaly", "template"):
            if k not in one:
                fail(f"an anomaly has no {k}")
        f = json.loads(expect(base + f"/api/anomalies?host={one['hosts'][0]}"
                              f"&verdict={one['verdict']}&template={one['template']}", 200))
        if one["trace_id"] not in {a["trace_id"] for a in f["traces"]}:
            fail("filtering by its own host, verdict and template loses an anomaly")
        f = json.loads(expect(base + "/api/traces?trace_id=" + one["trace_id"][:10], 200))
        if not f["traces"] or any(not t["trace_id"].startswith(one["trace_id"][:10])
                                  for t in f["traces"]):
            fail("search by trace id prefix")
        t = json.loads(expect(base + "/api/trace/" + one["trace_id"], 200))
        if "<svg" not in t["drawing"] or t["trace"]["trace_id"] != one["trace_id"]:
            fail("/api/trace has no drawing or the wrong trace")
        # the same drawing as the report's: hosts and times on the boxes
        boxes = t["drawing"].split("<figure>")[-1]
        if not any(h in boxes for h in one["hosts"]) or 'class="hosts"' not in boxes or \
           not re.search(r'<text class="times"[^>]*>[+\u2212]\d', boxes):
            fail("/api/trace: the trace's boxes carry no host or time")
        # heatmap and rates are folded in once a second: wait for the fold
        # after the last trace (bounded)
        for _ in range(100):
            r = json.loads(expect(base + "/api/rates", 200))
            if sum(s["traces"] for s in r["samples"]) == len(ref_traces):
                break
            time.sleep(0.1)
        else:
            fail("/api/rates: traces per second never add up to the run's")
        h = json.loads(expect(base + "/api/heatmap", 200))
        if not h["columns"] or not h["templates"] or len(h["bucket_lo_ns"]) != 32:
            fail("/api/heatmap is empty")
        cells = sum(c[2] for t in h["templates"] for c in t["cells"])
        if cells + h["overflow"] != summ["verdicts"]["normal"] + len(ref_anom):
            fail(f"/api/heatmap holds {cells} traces, the run checked "
                 f"{summ['verdicts']['normal'] + len(ref_anom)}")
        mo = json.loads(expect(base + "/api/model", 200))
        if not mo["templates"]:
            fail("/api/model lists no template")
        # when and from what `weft train` built it, kept in the model file
        if not (mo["trained_at"] and trained_after <= mo["trained_at"] <= trained_before) or \
           mo["trained_from"] != "weft train: train.smp" or mo["training_traces"] <= 0:
            fail(f"/api/model does not say when and from what it was trained: "
                 f"{mo.get('trained_at')} {mo.get('trained_from')!r}")
        expect(base + "/api/template/0", 200)
    finally:
        for s in held:
            s.close()
        if proc:
            stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)
    print("console_http: ok")


main()
