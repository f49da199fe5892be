#!/usr/bin/env python3
"""Real output validated against the JSON Schemas in docs/schema/ (Debian's
python3-jsonschema): trace lines (summary and --full), anomalies, dead
letters, host anomalies and every console endpoint's answer, from the fault-injected
TraceBench run streamed through `weft replay --console` with bad lines
mixed in. Also: each record says its type and schema version, and
start_ns/end_ns are on the clock of the root_host the record names.

usage: schemas.py WEFT SOURCE_ROOT
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.request
import warnings

WEFT, SRC = sys.argv[1:3]
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from console_common import (RUN, debian_module, fail, prepare, start_console,  # noqa: E402
                            stop, wait_log)

jsonschema = debian_module("jsonschema", "python3-jsonschema")

SCHEMAS = os.path.join(SRC, "docs", "schema")


def validators():
    # RefResolver: what Debian's jsonschema (4.10) has; newer ones warn
    warnings.simplefilter("ignore", DeprecationWarning)
    store = {}
    for n in os.listdir(SCHEMAS):
        s = json.load(open(os.path.join(SCHEMAS, n)))
        jsonschema.Draft202012Validator.check_schema(s)
        store[s["$id"]] = s
    out = {}
    for sid, s in store.items():
        res = jsonschema.RefResolver(sid, s, store=store)
        out[sid.rsplit("/", 1)[1]] = jsonschema.Draft202012Validator(s, resolver=res)
    return out


def check(v, name, obj, where):
    errs = sorted(v[name].iter_errors(obj), key=lambda e: list(e.path))
    if errs:
        fail(f"{where} does not match {name}: {errs[0].message} at {list(errs[0].path)}")


def lines(path):
    return [json.loads(l) for l in open(path) if l.strip()]


def host_anomalies(v, tmp):
    """Host anomaly records, and /api/hosts, from generated traffic with one
    DataNode slowed 4 x against its peers (weft sim generate --slow-hosts
    1) streamed through a second console."""
    sub = os.path.join(tmp, "slow")
    os.mkdir(sub)
    os.symlink(os.path.join(tmp, "m.model"), os.path.join(sub, "m.model"))
    tb = os.path.join(SRC, "data", "tracebench")
    runs = sorted(os.path.join(tb, n) for n in os.listdir(tb) if n.startswith("NM_"))
    gen = subprocess.run([WEFT, "sim", "generate", *[x for r in runs for x in ("--from", r)],
                          "-o", f"{sub}/slow.jsonl", "--traces", "1500", "--slow-hosts", "1",
                          "--seed", "5"], check=True, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    slowed = re.search(r"slowed host (\S+)", gen.stderr).group(1)
    proc, log, base = start_console(WEFT, sub)
    try:
        proc.stdin.write(open(f"{sub}/slow.jsonl", "rb").read())
        proc.stdin.close()
        wait_log(proc, log, "input done")
        hosts = json.loads(urllib.request.urlopen(base + "/api/hosts", timeout=10).read())
        check(v, "api-hosts.schema.json", hosts, "/api/hosts")
        if not hosts["peers"] or slowed not in {a["host"] for a in hosts["open"]}:
            fail(f"/api/hosts does not name the slowed {slowed}: {hosts}")
    finally:
        stop(proc)
    recs = [a for a in lines(f"{sub}/anom.jsonl") if a.get("type") == "host_anomaly"]
    if not any(a["host"] == slowed and a["state"] == "open" for a in recs):
        fail(f"no host anomaly opened for the slowed {slowed}")
    return recs


def main():
    v = validators()
    tmp = tempfile.mkdtemp(prefix="weft-schemas-")
    proc = None
    try:
        prepare(WEFT, SRC, tmp)
        proc, log, base = start_console(WEFT, tmp, ["--full", "--dead-letters",
                                                    f"{tmp}/dead.jsonl"])
        data = open(f"{tmp}/{RUN}.jsonl", "rb").read()
        bad = b'{"TaskID": 12\n{not json\n\n{"X-Trace": "zz"}\n'
        proc.stdin.write(bad + data)
        proc.stdin.close()
        wait_log(proc, log, "input done")
        traces, anom, dead = (lines(f"{tmp}/traces.jsonl"), lines(f"{tmp}/anom.jsonl"),
                              lines(f"{tmp}/dead.jsonl"))
        if not traces or not anom or len(dead) < 3:
            fail(f"too little output: {len(traces)} traces, {len(anom)} anomalies, "
                 f"{len(dead)} dead letters")
        for t in traces:
            check(v, "trace.schema.json", t, "trace " + t["trace_id"])
            hosts = {n.get("host") for n in t["nodes"] if not n.get("missing")}
            if len(hosts - {None}) != t["hosts_total"] or not set(t["hosts"]) <= hosts:
                fail(f"trace {t['trace_id']}: hosts do not match its nodes")
            roots = [n for n in t["nodes"] if n["label"] == t["root_operation"]]
            if not roots or roots[0]["host"] != t["root_host"]:
                fail(f"trace {t['trace_id']}: root_host is not its root's host")
            if t["start_ns"] != roots[0]["start_ns"]:
                fail(f"trace {t['trace_id']}: start_ns is not the root's start")
        hosts_anom = [a for a in anom if a.get("type") == "host_anomaly"]
        anom = [a for a in anom if a.get("type") != "host_anomaly"]
        for a in anom:
            check(v, "anomaly.schema.json", a, "anomaly " + a.get("trace_id", "?"))
            if a["type"] != "anomaly":
                fail("an anomaly line has another type")
        hosts_anom += host_anomalies(v, tmp)
        if not hosts_anom:
            fail("no host anomaly to validate")
        for a in hosts_anom:
            check(v, "anomaly.schema.json", a, "host anomaly")
            check(v, "host_anomaly.schema.json", a, "host anomaly " + a.get("host", "?"))
        for d in dead:
            check(v, "dead_letter.schema.json", d, "dead letter")
        ids = {a["trace_id"] for a in anom}
        get = lambda p: json.loads(urllib.request.urlopen(base + p, timeout=10).read())
        check(v, "api-summary.schema.json", get("/api/summary"), "/api/summary")
        check(v, "api-list.schema.json", get("/api/anomalies?limit=1000"), "/api/anomalies")
        check(v, "api-list.schema.json", get("/api/traces?limit=1000"), "/api/traces")
        for i in sorted(ids)[:5]:
            check(v, "api-trace.schema.json", get("/api/trace/" + i), "/api/trace/" + i)
        check(v, "api-heatmap.schema.json", get("/api/heatmap"), "/api/heatmap")
        check(v, "api-rates.schema.json", get("/api/rates"), "/api/rates")
        check(v, "api-model.schema.json", get("/api/model"), "/api/model")
        check(v, "api-template.schema.json", get("/api/template/0"), "/api/template/0")
        # a record another part may add to the sink still validates
        check(v, "anomaly.schema.json", {"type": "host_anomaly", "schema_version": 1,
                                         "host": "datanode001"}, "another record type")
        # and the schemas can fail: a wrong schema_version, a missing field
        if v["anomaly.schema.json"].is_valid(dict(anom[0], schema_version=2)) or \
           v["trace.schema.json"].is_valid({k: x for k, x in traces[0].items() if k != "hosts"}):
            fail("the schemas accept what they should refuse")
        print(f"schemas: {len(traces)} traces, {len(anom)} anomalies, {len(hosts_anom)} host "
              f"anomalies, {len(dead)} dead letters "
              "and every console endpoint validate")
    finally:
        if proc:
            stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)


main()
