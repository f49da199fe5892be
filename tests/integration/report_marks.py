#!/usr/bin/env python3
"""The HTML report and --dot on the fault-injected TraceBench run:
  - --report-max N draws N anomalies (the smallest trace ids) and the page
    says how many more there were;
  - the list says the verdict once ("slow: 'x' took ...", not "slow:
    slow:"); the filter's size is not rounded down to "0 KiB";
  - --dot marks what the report marks: an unknown_structure trace's new
    pieces outlined red, a slow trace's slow node filled yellow;
  - hosts and times on the drawn trace's boxes;
  - the heatmaps' x axis is the traces' start time, runs weeks apart
    split by a marked break.

usage: report_marks.py WEFT SOURCE_ROOT
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

WEFT, SRC = sys.argv[1:3]
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from console_common import RUN, fail, prepare  # noqa: E402


def heat_time_axis(tmp, html):
    """The heatmaps' x axis is the traces' start time: labelled with UTC
    times; the held-out normal runs and the fault run, recorded weeks
    apart on their hosts' clocks, each get their own columns with a
    marked break between them instead of one squeezed column."""
    full = re.compile(r'<text class="time"[^>]*>\d{4}-\d\d-\d\d \d\d:\d\d')
    if not full.search(html) or ">epoch</text>" in html:
        fail("the heatmaps' axis is not labelled with times")
    with open(f"{tmp}/multi.jsonl", "wb") as out:
        for n in ("holdout.jsonl", f"{RUN}.jsonl"):
            out.write(open(f"{tmp}/{n}", "rb").read())
    subprocess.run([WEFT, "replay", f"{tmp}/multi.jsonl", "--model", f"{tmp}/m.model",
                    "--peers=0", "--no-out", "--report", f"{tmp}/m.html", "--report-max", "1"],
                   check=True, stderr=subprocess.DEVNULL)
    m = open(f"{tmp}/m.html").read()
    heat = m[m.index("<h2>Latency heatmaps"):]
    first = re.search(r"<svg.*?</svg>", heat, re.S).group(0)
    gaps = re.findall(r'<rect class="gap"[^>]*><title>no trace for (\d+) d', first)
    days = set(re.findall(r'<text class="time"[^>]*>(\d{4}-\d\d-\d\d)', first))
    if not gaps or len(days) < 2:
        fail(f"runs days apart are not split by a marked break: {gaps} {sorted(days)}")
    cols = len(set(re.findall(r'<rect x="(\d+)" y="\d+" width="\d+" height="\d+" fill="#',
                              first)))
    if cols < 5:
        fail(f"the busiest template's heatmap has {cols} columns with traces")
    # the cells each worker keeps are bounded; what is left out is said
    subprocess.run([WEFT, "replay", f"{tmp}/{RUN}.jsonl", "--model", f"{tmp}/m.model",
                    "--peers=0", "--no-out", "--report", f"{tmp}/c.html", "--report-max", "1",
                    "--report-heat-cells", "1"], check=True, stderr=subprocess.DEVNULL)
    left = re.search(r"(\d+) checked traces are not in the heatmaps", open(f"{tmp}/c.html").read())
    if not left or int(left.group(1)) <= 0:
        fail("--report-heat-cells 1: the page does not say how many traces were left out")


def main():
    tmp = tempfile.mkdtemp(prefix="weft-report-")
    try:
        prepare(WEFT, SRC, tmp)
        # --peers=0: the learned thresholds flag slow nodes in this run
        # (against peers, its DataNodes are healthy: nothing is slow)
        subprocess.run([WEFT, "replay", f"{tmp}/{RUN}.jsonl", "--model", f"{tmp}/m.model",
                        "--peers=0", "--no-out", "--anomalies", f"{tmp}/anom.jsonl"],
                       check=True, stderr=subprocess.DEVNULL)
        anom = [a for a in map(json.loads, open(f"{tmp}/anom.jsonl"))
                if a.get("type") == "anomaly"]
        unk = sorted(a["trace_id"] for a in anom if a["verdict"] == "unknown_structure")
        slow = sorted(a["trace_id"] for a in anom
                      if a["verdict"] == "slow" and a["slow"]["what"] != "duration")
        if not unk or not slow:
            fail("the fault run needs an unknown_structure and a slow-node anomaly")
        subprocess.run([WEFT, "replay", f"{tmp}/{RUN}.jsonl", "--model", f"{tmp}/m.model",
                        "--peers=0", "--no-out", "--report", f"{tmp}/r.html", "--report-max", "3",
                        "--dot", unk[0], "--dot", slow[0], "--dot-dir", tmp],
                       check=True, stderr=subprocess.DEVNULL)
        html = open(f"{tmp}/r.html").read()
        sections = re.findall(r'<section id="a\d+"><h3>\d+\. trace ([0-9a-f]{16})', html)
        if len(sections) != 3:
            fail(f"--report-max 3 drew {len(sections)} anomalies")
        if sorted(sections) != sorted(a["trace_id"] for a in anom)[:3]:
            fail("the drawn anomalies are not those with the smallest trace ids")
        if f"{len(anom) - 3} more were not kept" not in html or "--report-max" not in html:
            fail("the page does not say how many anomalies were not drawn")
        # hosts and times on the boxes of every drawn trace (the second
        # figure of a pair); the template's boxes carry the learned medians
        by_id = {a["trace_id"]: a for a in anom}
        for sec in re.findall(r'<section id="a\d+">.*?</section>', html, re.S):
            tid = re.search(r"trace ([0-9a-f]{16})", sec).group(1)
            figs = re.findall(r"<figure>.*?</figure>", sec, re.S)
            hosts = re.findall(r'<text class="hosts"[^>]*>([^<]*)</text>', figs[-1])
            times = re.findall(r'<text class="times"[^>]*>([^<]*)</text>', figs[-1])
            want = by_id[tid]["hosts"]
            if not any(h in want or h.split(": ")[-1].split(",")[0].split(" +")[0] in want
                       for h in hosts):
                fail(f"trace {tid}: no box names one of its hosts {want[:3]}: {hosts[:3]}")
            if not times or not all(re.match(r"[+\u2212]\d", t) for t in times) or \
               not any("took " in t or "max " in t for t in times):
                fail(f"trace {tid}: the boxes do not carry their times: {times[:3]}")
            if len(figs) == 2 and "median " not in figs[0]:
                fail(f"trace {tid}: the template's boxes do not carry the learned medians")
        if re.search(r"slow: (&#39;)?slow", html) or "slow: slow:" in html:
            fail('the report says "slow: slow:"')
        if ">0 KiB" in html:
            fail('the report says "0 KiB"')
        d = open(f"{tmp}/{unk[0]}.dot").read()
        if d.count("new piece") < 1 or d.count('color="#d00000"') != d.count("new piece"):
            fail("--dot does not mark the new pieces of " + unk[0])
        d = open(f"{tmp}/{slow[0]}.dot").read()
        if d.count('fillcolor="#ffd966"') != 1:
            fail("--dot does not mark the slow node of " + slow[0])
        heat_time_axis(tmp, html)
        print(f"report_marks: ok ({len(anom)} anomalies, 3 drawn)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


main()
