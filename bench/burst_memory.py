#!/usr/bin/env python3
"""burst_memory.py — memory of a burst of open traces, and whether it goes
back once they finish (docs/SERVE.md "Memory", issue 18).

Feeds `weft replay --epoch-ms EPOCH -` through a pipe: BURST one-event
traces (distinct trace ids) as fast as the pipe takes them, so they are
all open at once, then nothing for QUIET seconds while epochs keep
closing on the wall clock, so every trace of the burst goes idle and is
emitted. It samples the process's resident memory every 50 ms and prints
one JSON object: the resident memory before the burst, at its peak, and
at the end of the quiet time (after every trace of the burst was
emitted), with the process's own summary (peak open traces, budget
evictions).

    bench/burst_memory.py WEFT [--burst 1000000] [--workers 2]
        [--quiet 6] [--epoch-ms 100] [--idle-epochs 10] [-- EXTRA ARGS]

A benchmark, not a test: it asserts nothing.
"""
import argparse
import json
import os
import subprocess
import sys
import threading
import time


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("weft")
    ap.add_argument("--burst", type=int, default=1_000_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--quiet", type=float, default=6.0)
    ap.add_argument("--epoch-ms", type=int, default=100)
    ap.add_argument("--idle-epochs", type=int, default=10)
    ap.add_argument("extra", nargs="*")
    a = ap.parse_args()
    cmd = [a.weft, "replay", "--workers", str(a.workers), "--epoch-ms",
           str(a.epoch_ms), "--idle-epochs", str(a.idle_epochs), "--no-out",
           *a.extra, "-"]
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    samples = []
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            samples.append((time.monotonic(), rss_kib(p.pid)))
            time.sleep(0.05)

    th = threading.Thread(target=sample)
    th.start()
    time.sleep(0.5)
    before = rss_kib(p.pid)
    t0 = time.monotonic()
    line = ('{"TaskID":"%016X","EventID":"1","ParentEventID":[],'
            '"Timestamp":1700000000000,"HRT":1000,"EndHRT":2000,'
            '"Host":"h1","Agent":"A","Label":"op"}\n')
    chunk = []
    for i in range(a.burst):
        chunk.append(line % (i + 1))
        if len(chunk) == 10000:
            p.stdin.write("".join(chunk).encode())
            chunk = []
    if chunk:
        p.stdin.write("".join(chunk).encode())
    p.stdin.flush()
    t_burst = time.monotonic()
    time.sleep(a.quiet)
    after = rss_kib(p.pid)
    p.stdin.close()
    err = p.stderr.read().decode(errors="replace")
    p.wait()
    stop.set()
    th.join()
    peak = max((r for t, r in samples if t >= t0), default=0)
    summary = {}
    for l in err.splitlines():
        l = l.strip()
        for key in ("peak open traces", "budget evictions", "traces out",
                    "incomplete"):
            if l.startswith(key):
                summary[key] = l[len(key):].strip()
    print(json.dumps({
        "command": " ".join(cmd),
        "burst_traces": a.burst,
        "burst_seconds": round(t_burst - t0, 2),
        "rss_before_kib": before,
        "rss_peak_kib": peak,
        "rss_after_quiet_kib": after,
        "weft": summary,
        "exit": p.returncode,
    }))
    return 0 if p.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
