#!/usr/bin/env python3
"""The web console's cost to the pipeline: events/s of `weft replay --model`
with the console off, and on with one client connected (the anomaly stream
open, and heatmap, rates and summary fetched every second, as the page
does). Runs are interleaved A/B on the same machine in the same
round; the medians and their ratio are printed (BENCHMARKS.md quotes them).

Also the weft process's CPU time (user + system) per event, which the
other load of a shared machine disturbs less than the wall clock.

Each run reads its input from a pipe, so the client is connected before the
first event: the time is from the first byte written to the process's exit.

usage: console_bench.py WEFT [ROUNDS [TRACES]] [--out MD --json JSON --machine M --command C]
       (default 7 rounds of 20000 traces; 60000 traces are about 1.9 M
       events, 0.6 GB in /tmp). --out writes BENCHMARKS.md's fragment.
"""
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

OPTS = dict(zip(sys.argv[1:], sys.argv[2:]))  # --name value
ARGS = [a for i, a in enumerate(sys.argv[1:]) if not a.startswith("--") and
        not sys.argv[i].startswith("--")]  # positional: not an option's value
WEFT = ARGS[0]
ROUNDS = int(ARGS[1]) if len(ARGS) > 1 else 7
TRACES = ARGS[2] if len(ARGS) > 2 else "20000"


def sh(*args):
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def client(base, stop, seen):
    """The page's traffic: the first anomalies and the model once, then one
    event stream and three panels every second."""
    def stream():
        try:
            with urllib.request.urlopen(base + "/api/stream", timeout=30) as r:
                for line in r:
                    if line.startswith(b"id: "):
                        seen.append(1)
                    if stop.is_set():
                        return
        except Exception:
            pass
    threading.Thread(target=stream, daemon=True).start()
    urllib.request.urlopen(base + "/api/anomalies?limit=200", timeout=5).read()
    urllib.request.urlopen(base + "/api/model", timeout=5).read()
    while not stop.is_set():
        for p in ("/api/heatmap?last=120", "/api/rates?last=180", "/api/summary"):
            try:
                urllib.request.urlopen(base + p, timeout=5).read()
            except Exception:
                pass
        stop.wait(1.0)


def run(tmp, data, console):
    args = [WEFT, "replay", "-", "--workers", "2", "--model", f"{tmp}/m.model", "--no-out",
            "--anomalies", "/dev/null"]
    if console:
        args += ["--console", "127.0.0.1:0"]
    err = open(f"{tmp}/run.log", "w+")
    p = subprocess.Popen(args, stdin=subprocess.PIPE, stderr=err)
    stop, seen = threading.Event(), []
    t = None
    if console:
        for _ in range(200):
            err.seek(0)
            m = re.search(r"console at (http://\S+?)/", err.read())
            if m:
                break
            time.sleep(0.05)
        t = threading.Thread(target=client, args=(m.group(1), stop, seen))
        t.start()
    # the stream is open and a round of panels fetched; both runs wait the
    # same, so their CPU times hold the same idle time
    time.sleep(1.5)
    t0 = time.monotonic()
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(data, "rb") as f:
        shutil.copyfileobj(f, p.stdin, 1 << 20)
    p.stdin.close()
    p.wait()
    secs = time.monotonic() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    stop.set()
    if t:
        t.join()
    err.seek(0)
    log = err.read()
    ev = int(re.search(r"events +(\d+)", log).group(1))
    return ev / secs, len(seen), cpu * 1e9 / ev


def write_md(path, res, off, on, cpu_off, cpu_on):
    with open(path, "w") as f:
        f.write(f"Command: `{OPTS.get('--command', 'bench/console_bench.py')}`  \n")
        note = os.environ.get("BENCH_NOTE")  # e.g. "a shared machine", as bench.sh
        f.write(f"Machine: {OPTS.get('--machine', '?')}; measured "
                f"{time.strftime('%Y-%m-%d', time.gmtime())}"
                f"{f' ({note})' if note else ''}: compare the same-round ratios.\n\n")
        f.write(f"**weft replay --model, 2 workers, {res['traces']} generated HDFS traces "
                "(2 % with injected anomalies) from a pipe: the console off, and on with one "
                "client (the anomaly stream open; heatmap, rates and summary every second, as "
                "the page does); runs interleaved A/B; events/s from the first byte written "
                "to the exit; CPU = weft's user + system time per event (both runs hold "
                "the same 1.5 s of idle time before the input)**\n\n")
        f.write("| round | off (M events/s) | on (M events/s) | on / off | off CPU ns/event "
                "| on CPU ns/event | on / off |\n|---|---|---|---|---|---|---|\n")
        for i in range(len(off)):
            f.write(f"| {i + 1} | {off[i] / 1e6:.3f} | {on[i] / 1e6:.3f} | "
                    f"{on[i] / off[i]:.2f}x | {cpu_off[i]:.0f} | {cpu_on[i]:.0f} | "
                    f"{cpu_on[i] / cpu_off[i]:.2f}x |\n")
        f.write(f"| median | {res['off_median_events_s'] / 1e6:.3f} | "
                f"{res['on_median_events_s'] / 1e6:.3f} | **{res['ratio_on_off']:.3f}x** | "
                f"{res['cpu_ns_per_event_off']} | {res['cpu_ns_per_event_on']} | "
                f"**{res['cpu_ratio_on_off']:.3f}x** |\n\n")
        f.write(f"Every run with the console streamed all {res['anomalies_streamed'][0]} "
                "anomalies to the client.\n")


def main():
    tmp = tempfile.mkdtemp(prefix="weft-console-bench-")
    try:
        sh(WEFT, "sim", "generate", "--traces", "3000", "--seed", "2", "-o", f"{tmp}/train.jsonl")
        sh(WEFT, "replay", f"{tmp}/train.jsonl", "--no-out", "--sample", f"{tmp}/t.smp",
           "--sample-size", "0")
        sh(WEFT, "train", f"{tmp}/t.smp", "-o", f"{tmp}/m.model")
        sh(WEFT, "sim", "generate", "--traces", TRACES, "--seed", "3", "--inject-rate", "0.02",
           "-o", f"{tmp}/in.jsonl")
        off, on, streamed, cpu_off, cpu_on = [], [], [], [], []
        for r in range(ROUNDS):
            a, _, ca = run(tmp, f"{tmp}/in.jsonl", False)
            b, n, cb = run(tmp, f"{tmp}/in.jsonl", True)
            off.append(a)
            on.append(b)
            cpu_off.append(ca)
            cpu_on.append(cb)
            streamed.append(n)
            print(f"round {r + 1}: off {a / 1e6:.3f} M events/s ({ca:.0f} CPU ns/event), "
                  f"on {b / 1e6:.3f} M events/s ({cb:.0f} CPU ns/event), "
                  f"{n} anomalies streamed", flush=True)
        mo, mn = statistics.median(off), statistics.median(on)
        co, cn = statistics.median(cpu_off), statistics.median(cpu_on)
        res = {"rounds": ROUNDS, "traces": int(TRACES), "off_median_events_s": round(mo),
               "on_median_events_s": round(mn), "ratio_on_off": round(mn / mo, 3),
               "cpu_ns_per_event_off": round(co), "cpu_ns_per_event_on": round(cn),
               "cpu_ratio_on_off": round(cn / co, 3), "anomalies_streamed": streamed,
               "off_events_s": [round(x) for x in off], "on_events_s": [round(x) for x in on],
               "cpu_off": [round(x) for x in cpu_off], "cpu_on": [round(x) for x in cpu_on]}
        print(json.dumps(res))
        if "--json" in OPTS:
            json.dump(res, open(OPTS["--json"], "w"), indent=1)
        if "--out" in OPTS:
            write_md(OPTS["--out"], res, off, on, cpu_off, cpu_on)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


main()
