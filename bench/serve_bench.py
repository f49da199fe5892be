#!/usr/bin/env python3
"""weft serve end to end from a real local Kafka broker (scripts/kafka.sh).

Called by scripts/bench.sh (part "serve"); writes a Markdown fragment.

  1. throughput: a generated HDFS workload is produced once into a topic
     (--partitions, keyed by trace id); then, for each layout (1 process
     with 1 and with 2 workers; 2 and 3 processes of 1 worker in one
     consumer group; on more than 3 cores also 1 x cores, 2 x cores/2 and
     cores x 1), a fresh group consumes it all: events/s = events /
     (time the last report was consumed - time the first was), read from
     each process's /metrics every 20 ms, from the first assignment. The broker shares the machine;
     its share of the CPU time during the run is reported.
  2. bounds (with --batched-topic): in the same rounds, the raw consume
     rate of each topic (`weft bench kafka`: weft serve's consumer
     configuration, batch consume, nothing done but counting reports) and
     `weft replay --model` of the same workload from its file, W = 1 and 2;
     weft serve 1 x 1 and 1 x 2 on a second topic whose messages carry up
     to N reports each (`weft sim replay --batch N`). Each
     ratio (serve / raw, serve / replay per worker) is the median of the
     same-round ratios.
  3. lag: one process with 2 workers while `weft sim replay --rate R`
     produces at a fixed rate; the summed partition lag is sampled every
     250 ms.
Figures are medians over rounds; rounds interleave the layouts. With
--json, every round's raw numbers (seconds, events/s, CPU seconds of weft and
of the broker) go to a JSON file too; bench/plot.py draws them and builds the
per-node cost model from them.
"""
import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time
import urllib.request


def clk():
    return time.monotonic()


def cpu_seconds(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            parts = f.read().rsplit(")", 1)[1].split()
        return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def metrics(port):
    try:
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
    except OSError:
        return {}
    out = {}
    for line in body.splitlines():
        if line.startswith("#") or not line:
            continue
        name, _, val = line.rpartition(" ")
        out[name] = out.get(name, 0.0) + float(val)
        base = name.split("{", 1)[0]
        if base != name:
            out[base] = out.get(base, 0.0) + float(val)
    return out


def verdict_latency(port):
    """p50/p99 (s) of weft_verdict_latency_seconds, a trace's last event
    arriving -> its verdict, from the histogram's buckets with linear
    interpolation inside the bucket (as Prometheus' histogram_quantile)."""
    try:
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
    except OSError:
        return {}
    buckets = []
    for line in body.splitlines():
        if line.startswith("weft_verdict_latency_seconds_bucket{"):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            buckets.append((float("inf") if le == "+Inf" else float(le), float(line.rsplit(" ", 1)[1])))
    buckets.sort()
    if not buckets or buckets[-1][1] == 0:
        return {}
    n = buckets[-1][1]

    def q(x):
        want, lo, below = x * n, 0.0, 0.0
        for le, c in buckets:
            if c >= want:
                if le == float("inf"):
                    return lo
                return lo + (le - lo) * (want - below) / max(c - below, 1e-9)
            lo, below = le, c
        return lo
    return {"n": int(n), "p50": q(0.5), "p99": q(0.99)}


def start_serve(a, topic, group, workers, tag):
    log = open(os.path.join(a.work, f"serve-{tag}.log"), "w")
    p = subprocess.Popen(
        [a.weft, "serve", "--brokers", a.brokers, "--topics", topic, "--group", group,
         "--workers", str(workers), "--model", a.model, "--metrics", "127.0.0.1:0",
         "--idle.epochs", "10", "--deadletter.topic", "", "--anomalies.topic", "bench-anom",
         "-X", "session.timeout.ms=6000"],
        stderr=log, stdout=subprocess.DEVNULL)
    port = None
    deadline = clk() + 30
    while port is None and clk() < deadline:
        time.sleep(0.05)
        with open(log.name) as f:
            m = re.search(r"http://127\.0\.0\.1:(\d+)/metrics", f.read())
        if m:
            port = int(m.group(1))
    if port is None:
        p.kill()
        sys.exit(f"serve did not start: see {log.name}")
    return p, port


def stop_all(procs):
    for p, _ in procs:
        p.send_signal(signal.SIGTERM)
    for p, _ in procs:
        p.wait(timeout=120)


def throughput_run(a, procs_n, workers, rnd, tag=""):
    group = f"bench-{procs_n}x{workers}-{rnd}{tag}-{os.getpid()}"
    procs = [start_serve(a, a.topic, group, workers, f"{procs_n}x{workers}-{i}") for i in range(procs_n)]
    t_first = t_done = None
    cpu0 = {p.pid: cpu_seconds(p.pid) for p, _ in procs}
    b0 = cpu_seconds(a.broker_pid)
    deadline = clk() + 600
    logs = [os.path.join(a.work, f"serve-{procs_n}x{workers}-{i}.log") for i in range(procs_n)]
    while clk() < deadline:
        time.sleep(0.02)
        # the clock starts at the first partition assignment (group join
        # excluded, fetch start-up included)
        assigned = t_first is None and any("assigned" in open(l).read() for l in logs)
        got = sum(metrics(port).get("weft_reports_total", 0.0) for _, port in procs)
        now = clk()
        if (got > 0 or assigned) and t_first is None:
            t_first = now
            cpu0 = {p.pid: cpu_seconds(p.pid) for p, _ in procs}
            b0 = cpu_seconds(a.broker_pid)
        if got >= a.events:
            t_done = now
            break
    weft_cpu = sum(cpu_seconds(p.pid) - cpu0[p.pid] for p, _ in procs)
    broker_cpu = cpu_seconds(a.broker_pid) - b0
    stop_all(procs)
    if t_done is None:
        sys.exit("throughput run did not finish")
    secs = max(t_done - t_first, 1e-3)
    return {"round": rnd + 1, "processes": procs_n, "workers": workers, "events": a.events,
            "secs": secs, "events_per_s": a.events / secs, "weft_cpu_s": weft_cpu,
            "broker_cpu_s": broker_cpu,
            "broker_share": broker_cpu / max(broker_cpu + weft_cpu, 1e-9)}


def raw_run(a, topic):
    """weft bench kafka, one round: reports/s of the raw consume."""
    out = subprocess.run(
        [a.weft, "bench", "kafka", "--brokers", a.brokers, "--topic", topic,
         "--events", str(a.events), "--rounds", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, check=True).stdout
    m = re.search(r"median: ([0-9.]+) reports/s", out)
    if not m:
        sys.exit("weft bench kafka printed no median")
    return float(m.group(1))


def replay_run(a, workers):
    """weft replay --model of the same workload from its file: events/s."""
    t0 = clk()
    subprocess.run([a.weft, "replay", "--workers", str(workers), "--no-out",
                    "--epoch-events", "500000", "--model", a.model, a.input],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return a.events / (clk() - t0)


def bounds_round(a, rnd):
    """One round of the bounds table: for each topic, raw consume and serve
    1 x 1, 1 x 2; replay W = 1, 2 from the file."""
    row = {"round": rnd + 1, "replay": {w: replay_run(a, w) for w in (1, 2)}}
    for name, topic in (("one", a.topic), ("batched", a.batched_topic)):
        row[name] = {"raw": raw_run(a, topic)}
        for w in (1, 2):
            saved, a.topic = a.topic, topic
            row[name][w] = throughput_run(a, 1, w, rnd, f"-bounds-{name}")["events_per_s"]
            a.topic = saved
    print(f"round {rnd + 1}: bounds: " + ", ".join(
        f"{n}: raw {row[n]['raw'] / 1e6:.3f} M, serve {row[n][1] / 1e6:.3f} / {row[n][2] / 1e6:.3f} M"
        for n in ("one", "batched")), file=sys.stderr)
    return row


def write_bounds(f, a, rows):
    med = statistics.median
    f.write(f"\n**Against its bounds, same rounds: weft serve (1 process) on the topic above "
            f"(one report per message) and on a topic of the same events with up to "
            f"{a.per_message} reports per message (`weft sim replay --batch "
            f"{a.per_message}`, each message to the partition its reports' keys pick); the raw "
            f"consume of each topic (`weft bench kafka`: weft serve's consumer configuration and "
            f"batch consume, nothing done but counting reports; one consumer); `weft replay "
            f"--model` of the same events from the file; median of {len(rows)} rounds, ratios "
            f"are medians of same-round ratios**\n\n")
    f.write("| messages | workers | weft serve events/s | per worker | raw consume reports/s "
            "| serve / raw | weft replay events/s (same W) | serve / replay |\n"
            "|---|---|---|---|---|---|---|---|\n")
    for name, label in (("one", "1 report each"), ("batched", f"up to {a.per_message} reports")):
        for w in (1, 2):
            sv = [r[name][w] for r in rows]
            raw = [r[name]["raw"] for r in rows]
            rp = [r["replay"][w] for r in rows]
            f.write(f"| {label} | {w} | {med(sv) / 1e6:.3f} M ({min(sv) / 1e6:.3f}-{max(sv) / 1e6:.3f}) "
                    f"| {med(sv) / w / 1e6:.3f} M | {med(raw) / 1e6:.3f} M "
                    f"| {med(s / r for s, r in zip(sv, raw)):.2f} | {med(rp) / 1e6:.3f} M "
                    f"| {med(s / r for s, r in zip(sv, rp)):.2f} |\n")


def lag_run(a):
    group = f"bench-lag-{os.getpid()}"
    p, port = start_serve(a, a.lag_topic, group, 2, "lag")
    time.sleep(4)  # group join
    prod = subprocess.Popen(
        [a.weft, "sim", "replay", a.input, "--to", "kafka", "--brokers", a.brokers,
         "--topic", a.lag_topic, "--rate", str(a.rate)],
        stderr=subprocess.DEVNULL)
    lags = []
    t0 = clk()
    while prod.poll() is None:
        m = metrics(port)
        lags.append(m.get("weft_partition_lag", 0.0))
        time.sleep(0.25)
    produce_secs = clk() - t0
    drain = clk()
    while metrics(port).get("weft_reports_total", 0.0) < a.events and clk() - drain < 120:
        time.sleep(0.05)
    drain_secs = clk() - drain
    # the last traces get their verdict once their idle gap has passed
    last, still = -1, clk()
    while clk() - still < 2 and clk() - drain < 150:
        n = verdict_latency(port).get("n", 0)
        if n != last:
            last, still = n, clk()
        time.sleep(0.2)
    vl = verdict_latency(port)
    stop_all([(p, port)])
    series = list(lags)
    lags.sort()
    return {"samples": len(lags), "p50": lags[len(lags) // 2] if lags else 0,
            "p99": lags[min(len(lags) - 1, int(len(lags) * 0.99))] if lags else 0,
            "max": lags[-1] if lags else 0, "produce_secs": produce_secs,
            "drain_secs": drain_secs, "lag_every_250ms": series, "verdict_latency": vl}


def default_layouts(cores):
    """processes x workers: 1 x 1, 1 x 2, 2 x 1, 3 x 1 as on a small machine;
    where there are more cores, also 1 x cores, 2 x cores/2 and cores x 1
    (the topic needs at least as many partitions as processes)."""
    out = [(1, 1), (1, 2), (2, 1), (3, 1)]
    if cores > 3:
        out += [(1, cores), (2, cores // 2), (cores, 1)]
    return list(dict.fromkeys(out))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weft", required=True)
    ap.add_argument("--brokers", required=True)
    ap.add_argument("--broker-pid", dest="broker_pid", type=int, required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--lag-topic", dest="lag_topic", required=True)
    ap.add_argument("--input", required=True)
    ap.add_argument("--events", type=int, required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--rate", type=int, default=100000)
    ap.add_argument("--machine", required=True)
    ap.add_argument("--command", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--json", help="also write every round's raw numbers here")
    ap.add_argument("--partitions", type=int, default=6)
    ap.add_argument("--layouts", help="e.g. 1x1,1x2,2x1 (default: by core count)")
    ap.add_argument("--batched-topic", dest="batched_topic",
                    help="the same events, many reports per message: run the bounds rounds")
    ap.add_argument("--per-message", dest="per_message", type=int, default=64,
                    help="reports per message of --batched-topic (for the table)")
    a = ap.parse_args()
    if a.layouts:
        layouts = [tuple(int(x) for x in l.split("x")) for l in a.layouts.split(",")]
    else:
        layouts = default_layouts(os.cpu_count() or 1)
    if (1, 1) not in layouts:
        layouts.insert(0, (1, 1))  # every ratio is against 1 x 1
    res = {l: [] for l in layouts}
    for rnd in range(a.rounds):
        for l in layouts:
            res[l].append(throughput_run(a, l[0], l[1], rnd))
            print(f"round {rnd + 1}: {l[0]} process(es) x {l[1]} worker(s): "
                  f"{res[l][-1]['events_per_s'] / 1e6:.3f} M events/s", file=sys.stderr)
    bounds = [bounds_round(a, rnd) for rnd in range(a.rounds)] if a.batched_topic else []
    lag = lag_run(a)
    base = [r["events_per_s"] for r in res[(1, 1)]]
    with open(a.out, "w") as f:
        f.write(f"Command: `{a.command}`  \nMachine: {a.machine}; measured "
                f"{time.strftime('%Y-%m-%d', time.gmtime())}. The Kafka broker (one JVM, KRaft, "
                f"scripts/kafka.sh) runs on the same machine.\n\n")
        f.write(f"**Consumed end to end from the broker: Kafka -> decode -> exchange(trace id) -> "
                f"assemble -> check (model) -> anomalies topic; {a.events} events of the generated "
                f"HDFS workload in a {a.partitions}-partition topic, keyed by trace id; a fresh consumer group per "
                f"run; events/s from the first partition assignment to the last report consumed (group join excluded, sampled every 20 ms); "
                f"median (min-max) of {a.rounds} rounds; weft's CPU = user + system time of all weft "
                f"processes over the run, in cores**\n\n")
        f.write("| processes x workers | events/s (all processes) | vs 1 x 1 (same-round ratio) "
                "| broker's share of CPU time | weft's CPU (cores) |\n|---|---|---|---|---|\n")
        for l in layouts:
            rates = [r["events_per_s"] for r in res[l]]
            ratio = statistics.median(r / b for r, b in zip(rates, base))
            share = statistics.median(r["broker_share"] for r in res[l])
            cores = statistics.median(r["weft_cpu_s"] / r["secs"] for r in res[l])
            f.write(f"| {l[0]} x {l[1]} | {statistics.median(rates) / 1e6:.3f} M "
                    f"({min(rates) / 1e6:.3f}-{max(rates) / 1e6:.3f}) | {ratio:.2f}x "
                    f"| {share * 100:.0f} % | {cores:.2f} |\n")
        if bounds:
            write_bounds(f, a, bounds)
        f.write(f"\n**Consumer lag during a sustained replay at {a.rate} events/s "
                f"(`weft sim replay --rate {a.rate} --to kafka`, one process, 2 workers), "
                f"sampled every 250 ms**\n\n")
        f.write("| samples | lag p50 | lag p99 | lag max | producing took | drained after the producer stopped |\n"
                "|---|---|---|---|---|---|\n")
        f.write(f"| {lag['samples']} | {lag['p50']:.0f} | {lag['p99']:.0f} | {lag['max']:.0f} "
                f"| {lag['produce_secs']:.1f} s | {lag['drain_secs']:.2f} s |\n")
        vl = lag.get("verdict_latency") or {}
        if vl:
            f.write(f"\n**Event -> verdict in the same run**: a trace's last event arriving "
                    f"at weft -> its verdict, just before the anomaly (or trace) is produced "
                    f"(`weft_verdict_latency_seconds` on /metrics, quantiles interpolated in "
                    f"its buckets): p50 {vl['p50']:.2f} s, p99 {vl['p99']:.2f} s over "
                    f"{vl['n']} traces. A trace is finished once no event of it has come for "
                    f"the idle gap (`idle.epochs` 10 x `epoch.ms` 100 = 1 s in this run); "
                    f"the epochs that bound it close on message timestamps, and the "
                    f"histogram's bucket bounds near these figures are 1, 2, 3 and 5 s. The anomalies topic's "
                    f"producer adds its linger (5 ms).\n")
    if a.json:
        doc = {"part": "serve", "command": a.command, "machine": a.machine,
               "cores": os.cpu_count(), "date": time.strftime("%Y-%m-%d", time.gmtime()),
               "runs": a.rounds,
               "meta": {"events": a.events, "partitions": a.partitions, "input": a.input,
                        "broker": "one Kafka JVM (KRaft, scripts/kafka.sh) on the same machine",
                        "clock": "first partition assignment -> last report consumed"},
               "rounds": [r for rnd in range(a.rounds) for l in layouts for r in res[l]
                          if r["round"] == rnd + 1],
               "lag": dict(lag, rate=a.rate, layout="1 x 2"),
               "bounds": {"per_message": a.per_message, "batched_topic": a.batched_topic,
                          "rounds": bounds}}
        with open(a.json, "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
