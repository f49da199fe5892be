#!/usr/bin/env python3
"""bench/plot.py — the numbers side of scripts/bench.sh.

The shell script runs the programs; this file turns what they printed into
JSON, derived tables and plots:

  record    a part's per-round TSV (header line of column names) plus the
            command and the machine -> bench/results/<part>.json
  md2json   a `weft bench ...` Markdown fragment -> JSON. Those benchmarks
            print medians and ranges; their rounds stay inside the C code.
  perf-top  `perf report` (or `callgrind_annotate`) outputs of several runs
            -> profile.md and profile.json: the top functions by self time,
            median over the runs
  report    reads bench/results/*.json and writes scaling.md (Amdahl and
            Universal Scalability Law fits), memory.md, costmodel.md and
            costmodel.json (the per-node scale-out model), and the SVG
            plots. --no-plots writes the Markdown only.

Only `report` imports matplotlib, and only when it draws, so the other
commands run on the system python3 and the script's venv is needed for the
plots alone. Every number written here comes from the JSON; the only
constants are the published reference lines in REFS, labelled as such.

Fits are least squares on Gunther's linearised form of the Universal
Scalability Law,  N / S(N) - 1 = a (N - 1) + b N (N - 1),  where S(N) is the
speed-up over W = 1 measured in the same round (X(N) = X1 N / (1 + a (N - 1)
+ b N (N - 1))). Amdahl's law is the case b = 0, with a the serial fraction.
Each point of the fit is one round's ratio, so the fit sees the noise. The
number of distinct worker counts beyond W = 1 decides what the data can
say: one count fixes Amdahl's single parameter exactly (nothing is left to
test the curve against) and cannot separate USL's two; the text and the
plots say so rather than draw a curve that looks fitted.
"""
import argparse
import glob
import json
import math
import os
import re
import statistics
import textwrap
import sys
import time

# Published reference lines (not measured here), drawn on every events/s plot.
REFS = [
    (0.06e6, "Altair, 1 machine: 0.06 M (published)"),
    (0.23e6, "Altair, its cluster: 0.23 M (published)"),
    (11e6, "large operator: ~11 M (1 billion traces/day)"),
]
COST_TARGETS = [0.23e6, 1e6, 11e6]
COST_NODES = [8, 64, 1000]
BIG_NODE_CORES = 16
SRC_DIRS = ["engine", "operators", "cluster", "bloom", "simulator", "bench"]


def num(v):
    """A TSV cell or key=value value: int, float, a list of numbers (comma
    separated), or the string itself."""
    if isinstance(v, str) and re.fullmatch(r"-?\d+", v):
        return int(v)
    if isinstance(v, str) and re.fullmatch(r"[-\d.eE+]+(,[-\d.eE+]+)+", v):
        items = [num(x) for x in v.split(",")]
        if all(isinstance(x, (int, float)) for x in items):
            return items
    try:
        f = float(v)
        return f if math.isfinite(f) else v
    except (TypeError, ValueError):
        return v


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def write_json(path, doc):
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")


def load(results, part):
    p = os.path.join(results, part + ".json")
    if not os.path.exists(p):
        return None
    with open(p) as f:
        return json.load(f)


def mev(x, digits=2):
    if x is None:
        return "-"
    return f"{x / 1e6:,.0f} M" if x >= 1e9 else f"{x / 1e6:.{digits}f} M"


def code(text):
    """Inline Markdown code that may itself hold backticks."""
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def head(doc, extra=""):
    return (f"Command: {code(doc['command'])}  \nMachine: {doc['machine']}; measured "
            f"{doc['date']}.{extra}\n\n")


# ---- record / md2json ------------------------------------------------------

def cmd_record(a):
    with open(a.rows) as f:
        lines = [l.rstrip("\n") for l in f if l.strip()]
    cols = lines[0].split("\t")
    rounds = [{c: num(v) for c, v in zip(cols, l.split("\t"))} for l in lines[1:]]
    meta = {}
    for kv in a.meta or []:
        k, _, v = kv.partition("=")
        meta[k] = num(v)
    write_json(a.out, {"part": a.part, "command": a.command, "machine": a.machine,
                       "cores": a.cores, "date": time.strftime("%Y-%m-%d", time.gmtime()),
                       "runs": a.runs, "meta": meta, "rounds": rounds})


def parse_md_tables(text):
    """Every Markdown table in text, with the bold line just above it."""
    tables, title, rows = [], None, None
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("|"):
            cells = [c.strip() for c in s.strip("|").split("|")]
            if rows is None:
                rows = {"title": title, "columns": cells, "rows": []}
            elif not all(re.fullmatch(r":?-+:?", c) for c in cells if c):
                rows["rows"].append(cells)
            continue
        if rows is not None:
            tables.append(rows)
            rows = None
        if s.startswith("**") and s.endswith("**"):
            title = s.strip("*")
    if rows is not None:
        tables.append(rows)
    return tables


def cmd_md2json(a):
    with open(a.md) as f:
        text = f.read()
    m = re.search(r"^Command: `([^`]*)`", text, re.M)
    mach = re.search(r"^Machine: (.*?); measured (\S+?)\.?$", text, re.M)
    write_json(a.out, {
        "part": a.part, "command": m.group(1) if m else None,
        "machine": mach.group(1) if mach else a.machine, "cores": a.cores,
        "date": mach.group(2) if mach else time.strftime("%Y-%m-%d", time.gmtime()),
        "rounds": None,
        "note": "`weft bench` prints medians (min-max) over its rounds; the rounds "
                "themselves stay inside the C benchmark, so these are its tables as printed",
        "tables": parse_md_tables(text)})


# ---- perf-top ---------------------------------------------------------------

def parse_perf(path):
    out, event = {}, None
    with open(path) as f:
        for line in f:
            m = re.match(r"# Samples: (\S+) of event '([^']+)'", line)
            if m:
                event = f"{m.group(2)}, {m.group(1)} samples"
            if line.startswith("#") or "|" not in line:
                continue
            pct, dso, sym = (x.strip() for x in line.split("|", 2))
            try:
                p = float(pct.rstrip("%"))
            except ValueError:
                continue
            sym = re.sub(r"^\[[.k]\]\s*", "", sym)
            key = (sym, dso)
            out[key] = out.get(key, 0.0) + p
    return out, event


def parse_callgrind(path):
    out, total = {}, None
    with open(path) as f:
        for line in f:
            m = re.match(r"\s*([\d,]+)\s+(?:\(\s*[\d.]+%\)\s+)?PROGRAM TOTALS", line)
            if m:
                total = int(m.group(1).replace(",", ""))
                continue
            m = re.match(r"\s*([\d,]+)\s+(?:\(\s*[\d.]+%\)\s+)?(\S*?):(\S+)(?:\s+\[(.*)\])?\s*$", line)
            if m and total:
                sym, dso = m.group(3), os.path.basename(m.group(4) or m.group(2))
                key = (sym, dso)
                out[key] = out.get(key, 0.0) + 100.0 * int(m.group(1).replace(",", "")) / total
    return out, f"Ir, {total or 0:,} in all"


def defined_in(sym, root="."):
    """Where a function of this tree is defined: a line that starts with
    its name and a parenthesis (the project's style), else ''."""
    if not re.fullmatch(r"[A-Za-z_]\w*", sym):
        return ""
    pat = re.compile(r"^" + re.escape(sym) + r"\(", re.M)
    hits = []
    for d in SRC_DIRS:
        for path in sorted(glob.glob(os.path.join(root, d, "**", "*.c"), recursive=True)):
            with open(path, errors="replace") as f:
                if pat.search(f.read()):
                    hits.append(os.path.relpath(path, root))
    return ", ".join(hits)


def cmd_perf_top(a):
    runs, event = [], None
    for path in a.files:
        r, event = (parse_perf if a.tool == "perf" else parse_callgrind)(path)
        if r:
            runs.append(r)
    if not runs:
        sys.exit("perf-top: no samples in " + " ".join(a.files))
    keys = set().union(*runs)
    rows = []
    for k in keys:
        vals = [r.get(k, 0.0) for r in runs]
        rows.append({"function": k[0], "object": k[1], "self_pct_median": statistics.median(vals),
                     "self_pct_min": min(vals), "self_pct_max": max(vals), "self_pct_runs": vals})
    rows.sort(key=lambda r: -r["self_pct_median"])
    top = rows[:a.top]
    for r in top:
        r["defined_in"] = defined_in(r["function"])
    doc = {"part": "profile", "tool": a.tool, "command": a.command, "machine": a.machine,
           "cores": a.cores, "date": time.strftime("%Y-%m-%d", time.gmtime()),
           "runs": len(runs), "event": event, "top": top}
    write_json(a.out_json, doc)
    with open(a.out_md, "w") as f:
        f.write(head(doc))
        what = "samples" if a.tool == "perf" else "instructions"
        f.write(f"**Top {len(top)} functions by self time ({what}: {event}), share of the whole "
                f"run, median (min-max) of {len(runs)} run(s)**\n\n")
        f.write("| # | self | function | object | defined in |\n|---|---|---|---|---|\n")
        for i, r in enumerate(top, 1):
            f.write(f"| {i} | {r['self_pct_median']:.1f} % ({r['self_pct_min']:.1f}-"
                    f"{r['self_pct_max']:.1f}) | `{r['function']}` | {r['object']} | "
                    f"{r['defined_in'] or '-'} |\n")
        f.write(f"\nThese {len(top)} functions account for "
                f"{sum(r['self_pct_median'] for r in top):.0f} % of the run.\n")


# ---- scaling fits -------------------------------------------------------------

def same_round_speedups(rounds, key):
    """(N, S) for every round and worker count: S = time(W=1) / time(W=N)
    of the same round."""
    by = {(r["round"], r["workers"]): r[key] for r in rounds if r.get(key)}
    pts = []
    for (rd, w), t in sorted(by.items()):
        if (rd, 1) in by and t:
            pts.append((w, by[(rd, 1)] / t))
    return pts


def usl_speedup(n, a, b):
    return n / (1 + a * (n - 1) + b * n * (n - 1))


def fit_scaling(pts):
    """Least squares of N/S - 1 = a (N-1) + b N (N-1) over the points with
    N > 1. Returns the Amdahl fit (b = 0), the USL fit, and what the data
    can determine."""
    use = [(n, s) for n, s in pts if n > 1 and s > 0]
    k = len({n for n, _ in use})
    res = {"worker_counts_beyond_1": k, "points": len(use)}
    if k == 0:
        res["amdahl"] = res["usl"] = None
        res["amdahl_status"] = res["usl_status"] = "not fitted: only W = 1 was measured"
        return res
    x1 = [n - 1 for n, _ in use]
    x2 = [n * (n - 1) for n, _ in use]
    y = [n / s - 1 for n, s in use]

    def rms(a, b):
        return math.sqrt(sum((usl_speedup(n, a, b) - s) ** 2 for n, s in use) / len(use))

    a_am = sum(p * q for p, q in zip(x1, y)) / sum(p * p for p in x1)
    res["amdahl"] = {"serial_fraction": a_am, "parallel_fraction": 1 - a_am,
                     "max_speedup": (1 / a_am) if a_am > 0 else None,
                     "rms_speedup_residual": rms(a_am, 0.0)}
    if k == 1:
        res["amdahl_status"] = ("exactly determined: one parameter from one worker count beyond "
                                "W = 1, so the curve meets the measured speed-up by construction "
                                "and nothing tests its shape")
    else:
        res["amdahl_status"] = (f"over-determined: {k} worker counts beyond W = 1 for one "
                                f"parameter; rms residual of the speed-up "
                                f"{res['amdahl']['rms_speedup_residual']:.3f}")
    if k < 2:
        res["usl"] = None
        res["usl_status"] = ("under-determined: two parameters (a, b) and one worker count "
                             "beyond W = 1; contention (a) and coherency (b) cannot be told "
                             "apart, so no USL curve is drawn (with b = 0 it is the Amdahl curve)")
        return res
    s11, s12, s22 = (sum(p * p for p in x1), sum(p * q for p, q in zip(x1, x2)),
                     sum(q * q for q in x2))
    t1, t2 = sum(p * q for p, q in zip(x1, y)), sum(p * q for p, q in zip(x2, y))
    det = s11 * s22 - s12 * s12
    a, b = (t1 * s22 - t2 * s12) / det, (s11 * t2 - s12 * t1) / det
    note = ""
    if b < 0:  # coherency cannot be negative: refit with b = 0 (Gunther)
        a, b, note = a_am, 0.0, "; the unconstrained fit gave b < 0, so b is held at 0"
    res["usl"] = {"a": a, "b": b, "rms_speedup_residual": rms(a, b),
                  "peak_workers": math.sqrt((1 - a) / b) if b > 0 and a < 1 else None}
    if k == 2:
        res["usl_status"] = ("exactly determined: two parameters from two worker counts beyond "
                             "W = 1; no residual to judge the curve by" + note)
    else:
        res["usl_status"] = (f"over-determined: {k} worker counts beyond W = 1 for two "
                             f"parameters; rms residual of the speed-up "
                             f"{res['usl']['rms_speedup_residual']:.3f}" + note)
    return res


PIPE_SERIES = [("secs", "end to end"), ("model_secs", "end to end with --model"),
               ("ingest_secs", "ingest only")]


def pipeline_summary(doc):
    ev = doc["meta"]["events"]
    rounds = doc["rounds"]
    ws = sorted({r["workers"] for r in rounds})
    out = {}
    for key, label in PIPE_SERIES:
        rates = {w: [ev / r[key] for r in rounds if r["workers"] == w and r.get(key)] for w in ws}
        pts = same_round_speedups(rounds, key)
        sp = {w: med([s for n, s in pts if n == w]) for w in ws}
        out[key] = {"label": label, "workers": ws, "rates": rates,
                    "median": {w: med(rates[w]) for w in ws}, "points": pts, "speedup": sp,
                    "fit": fit_scaling(pts)}
    return out


def write_scaling_md(doc, summ, path):
    ws = summ["secs"]["workers"]
    with open(path, "w") as f:
        f.write(head(doc, " Fitted by bench/plot.py from bench/results/pipeline.json."))
        f.write("**Amdahl and Universal Scalability Law fits to the same-round speed-ups "
                "(least squares on N/S(N) - 1 = a(N-1) + bN(N-1), one point per round and "
                f"worker count; measured W = {ws[0]}..{ws[-1]})**\n\n")
        f.write("| series | events/s W=1 | events/s W=" + str(ws[-1]) + " | speed-up W=" +
                str(ws[-1]) + " | Amdahl serial fraction (parallel) | USL a, b |\n"
                "|---|---|---|---|---|---|\n")
        for key, label in PIPE_SERIES:
            s = summ[key]
            fit = s["fit"]
            am = fit["amdahl"]
            usl = fit["usl"]
            amt = "-" if not am else (f"{am['serial_fraction']:.3f} "
                                      f"({am['parallel_fraction'] * 100:.1f} %)")
            if am and am["serial_fraction"] > 1:
                amt = (f"{am['serial_fraction']:.3f}: slower with more workers, which "
                       "Amdahl's law does not describe")
            ust = "not identifiable" if not usl else f"{usl['a']:.3f}, {usl['b']:.4f}"
            spd = s["speedup"][ws[-1]]
            f.write(f"| {label} | {mev(s['median'][ws[0]])} | {mev(s['median'][ws[-1]])} | "
                    f"{'-' if spd is None else f'{spd:.2f}x'} | {amt} | {ust} |\n")
        fit = summ["secs"]["fit"]
        f.write(f"\nWhat the data determines (the same for every series: "
                f"{fit['worker_counts_beyond_1']} worker count(s) beyond W = 1):\n\n")
        f.write(f"- Amdahl: {fit['amdahl_status']}.\n")
        f.write(f"- USL: {fit['usl_status']}.\n")
        if fit["worker_counts_beyond_1"] < 3:
            f.write("- So these fits describe the measured points, they do not predict "
                    "larger W: the dotted part of the curves in the plot is the Amdahl law "
                    "run forward from them, not a measurement. With more cores the same code "
                    "fits both laws and reports their residuals.\n")
        f.write("\n")


# ---- memory -----------------------------------------------------------------

def linfit(xs, ys):
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if n < 2 or sxx == 0:
        return None
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    icpt = my - slope * mx
    sst = sum((y - my) ** 2 for y in ys)
    sse = sum((y - icpt - slope * x) ** 2 for x, y in zip(xs, ys))
    return {"slope": slope, "intercept": icpt, "r2": 1 - sse / sst if sst else 1.0,
            "levels": len(set(xs))}


def memory_summary(doc):
    rounds = doc["rounds"]
    out = {}
    for w in sorted({r["workers"] for r in rounds}):
        rs = [r for r in rounds if r["workers"] == w]
        rows = []
        for c in sorted({r["concurrent"] for r in rs}):
            cs = [r for r in rs if r["concurrent"] == c]
            rows.append({"concurrent": c, "events": med([r["events"] for r in cs]),
                         "peak_open_traces": med([r["peak_open_traces"] for r in cs]),
                         "peak_open_events": med([r["peak_open_events"] for r in cs]),
                         "peak_rss_kib": med([r["peak_rss_kib"] for r in cs]),
                         "rss_min_kib": min(r["peak_rss_kib"] for r in cs),
                         "rss_max_kib": max(r["peak_rss_kib"] for r in cs),
                         "rounds": len(cs),
                         "bytes_per_event": med([r["peak_rss_kib"] * 1024 / r["peak_open_events"]
                                                 for r in cs if r["peak_open_events"]])})
        fit = linfit([r["peak_open_events"] for r in rs], [r["peak_rss_kib"] * 1024 for r in rs])
        out[w] = {"rows": rows, "fit": fit}
    return out


def write_memory_md(doc, summ, path):
    with open(path, "w") as f:
        f.write(head(doc, " Table and fit by bench/plot.py from bench/results/memory.json."))
        f.write("**Peak RSS against traces in flight: the generated HDFS workload with C "
                "concurrent traces (--traces C --concurrent C, so all C are open at the peak); "
                f"median of {doc['runs']} round(s)**\n\n")
        f.write("| traces in flight (C) | workers | events | peak open traces | peak open events "
                "| peak RSS (min-max) | max / min over the rounds "
                "| bytes per buffered event (peak RSS / peak open events) |\n"
                "|---|---|---|---|---|---|---|---|\n")
        for w, s in summ.items():
            for r in s["rows"]:
                f.write(f"| {r['concurrent']} | {w} | {r['events']:.0f} | "
                        f"{r['peak_open_traces']:.0f} | {r['peak_open_events']:.0f} | "
                        f"{r['peak_rss_kib'] / 1024:.1f} MiB ({r['rss_min_kib'] / 1024:.1f}-"
                        f"{r['rss_max_kib'] / 1024:.1f}) | "
                        f"{r['rss_max_kib'] / r['rss_min_kib']:.3f} ({r['rounds']}) | "
                        f"{r['bytes_per_event']:.0f} |\n")
        f.write("\n**Marginal cost: least-squares line of peak RSS against peak open events, "
                "all rounds and levels**\n\n| workers | bytes per added buffered event (slope) "
                "| fixed part (intercept) | R² | levels |\n|---|---|---|---|---|\n")
        for w, s in summ.items():
            fit = s["fit"]
            if fit:
                f.write(f"| {w} | {fit['slope']:.1f} | {fit['intercept'] / 2**20:.1f} MiB | "
                        f"{fit['r2']:.4f} | {fit['levels']} |\n")
            else:
                f.write(f"| {w} | - | - | - | fewer than 2 levels |\n")
        f.write("\n")


# ---- cost model ---------------------------------------------------------------

def cost_model(serve, pipe):
    rounds = serve["rounds"]
    cores = serve.get("cores") or 2
    by = {}
    for r in rounds:
        by.setdefault((r["processes"], r["workers"]), {})[r["round"]] = r
    # the node of this machine's size: one process with as many workers as
    # cores, where that layout was measured (else the widest 1 x W)
    wide = [w for p, w in by if p == 1 and w > 1]
    if (1, 1) not in by or not wide:
        return None
    k = cores if cores in wide else max(wide)

    def ratio(layout, div):
        base = by[(1, 1)]
        return med([r["events_per_s"] / base[rd]["events_per_s"] / div
                    for rd, r in by[layout].items() if rd in base])

    x11 = med([r["events_per_s"] for r in by[(1, 1)].values()])
    x12 = med([r["events_per_s"] for r in by[(1, k)].values()])
    share12 = med([r["broker_share"] for r in by[(1, k)].values()])
    node_small = med([r["events_per_s"] / (1 - r["broker_share"]) for r in by[(1, k)].values()])
    small_cores = k
    per_core = node_small / small_cores
    node_big = per_core * BIG_NODE_CORES
    e_w = ratio((1, k), k)
    nproc = [p for p, w in by if w == 1 and 1 < p <= cores]
    p_eff = max(nproc) if nproc else None
    e_p = ratio((p_eff, 1), p_eff) if p_eff else None
    weft_cpu = med([r["weft_cpu_s"] / r["events"] * 1e6 for r in by[(1, 1)].values()])
    weft_cores12 = med([r["weft_cpu_s"] / r["secs"] for r in by[(1, k)].values()])
    broker_cores12 = med([r["broker_cpu_s"] / r["secs"] for r in by[(1, k)].values()])
    broker_cpu = med([r["broker_cpu_s"] / r["events"] * 1e6 for r in rounds])
    bpe = (pipe["meta"]["bytes"] / pipe["meta"]["events"]) if pipe else None
    m = {
        "model": "per-node cost model; a model extrapolated from one machine, not a measurement",
        "source": {"serve": {"command": serve["command"], "machine": serve["machine"],
                             "date": serve["date"], "rounds": serve["runs"],
                             "partitions": serve["meta"].get("partitions")}},
        "measured": {
            "node_layout": f"1 x {k}",
            "x_1x1_events_per_s": x11, "x_node_events_per_s": x12,
            "broker_share_node": share12, "worker_efficiency_node": e_w,
            "process_efficiency_n": p_eff, "process_efficiency": e_p,
            "weft_cpu_s_per_m_events_1x1": weft_cpu,
            "weft_cores_used_node": weft_cores12, "broker_cores_used_node": broker_cores12,
            "machine_cores": cores,
            "broker_cpu_s_per_m_events": broker_cpu, "bytes_per_event": bpe},
        "assumed": {"node_small_cores": small_cores, "node_small_events_per_s": node_small,
                    "per_core_events_per_s": per_core, "node_big_cores": BIG_NODE_CORES,
                    "node_big_events_per_s": node_big},
        "targets": [], "aggregates": []}
    lines = {"small_linear": node_small, "small_eff": node_small * e_p if e_p else None,
             "big_linear": node_big, "big_eff": node_big * e_p if e_p else None}
    for t in COST_TARGETS:
        m["targets"].append(dict(
            {"events_per_s": t},
            **{k: (math.ceil(t / v) if v else None) for k, v in lines.items()},
            broker_cores=t * broker_cpu / 1e6))
    for n in COST_NODES:
        m["aggregates"].append(dict({"nodes": n},
                                    **{k: (n * v if v else None) for k, v in lines.items()}))
    m["lines"] = lines
    return m


def write_costmodel_md(m, path):
    me, asu = m["measured"], m["assumed"]
    src = m["source"]["serve"]
    e_p, n_p = me["process_efficiency"], me["process_efficiency_n"]
    lay, ncores = me["node_layout"], me["machine_cores"]
    with open(path, "w") as f:
        f.write("This is a model, not a measurement: only one machine was measured. "
                "bench/plot.py computes it from the serve part's rounds "
                "(bench/results/serve.json) every time the script runs; the numbers it "
                "writes to bench/results/costmodel.json are the ones below.  \n")
        f.write(f"Inputs measured by: {code(src['command'])}, {src['rounds']} round(s)  \n"
                f"Machine: {src['machine']}; measured {src['date']}.\n\n")
        f.write("**Measured inputs (medians over rounds)**\n\n| input | value |\n|---|---|\n")
        f.write(f"| weft serve 1 x 1, events/s | {mev(me['x_1x1_events_per_s'], 3)} |\n")
        f.write(f"| weft serve {lay}, events/s | {mev(me['x_node_events_per_s'], 3)} |\n")
        f.write(f"| broker's share of the CPU time during {lay} | "
                f"{me['broker_share_node'] * 100:.0f} % |\n")
        f.write(f"| worker efficiency 1 x 1 -> {lay} (same-round ratio / {asu['node_small_cores']}) | "
                f"{me['worker_efficiency_node']:.2f} |\n")
        if e_p:
            f.write(f"| process efficiency 1 x 1 -> {n_p} x 1 (same-round ratio / {n_p}) | "
                    f"{e_p:.2f} |\n")
        f.write(f"| cores used during {lay}: weft / broker (of {me['machine_cores']}) | "
                f"{me['weft_cores_used_node']:.2f} / {me['broker_cores_used_node']:.2f} |\n")
        f.write(f"| weft CPU per million events, 1 x 1 | {me['weft_cpu_s_per_m_events_1x1']:.2f} "
                f"core-seconds |\n")
        f.write(f"| broker CPU per million events (fetch side) | "
                f"{me['broker_cpu_s_per_m_events']:.3f} core-seconds |\n")
        if me["bytes_per_event"]:
            f.write(f"| bytes per event on the wire (X-Trace v4 JSON, generated workload) | "
                    f"{me['bytes_per_event']:.0f} |\n")
        f.write("\n**Assumptions**\n\n")
        f.write(f"- A node of this machine's size has {asu['node_small_cores']} cores and runs one "
                f"weft serve process with {asu['node_small_cores']} workers and no broker: its "
                f"throughput is the measured {lay} figure with the broker's CPU share handed back "
                f"to weft, events/s / (1 - broker share) = "
                f"{mev(asu['node_small_events_per_s'], 3)} per node, i.e. "
                f"**{mev(asu['per_core_events_per_s'], 3)} per core**.\n")
        used = me["weft_cores_used_node"] + me["broker_cores_used_node"]
        cpu_core = 1e6 / me["weft_cpu_s_per_m_events_1x1"]
        busy = ("so the cores were not the limit: the per-node figure is what this setup "
                "delivered, below what the cores could do" if used < 0.9 * me["machine_cores"]
                else "so the cores were busy")
        f.write(f"- Check: during {lay}, weft and the broker together used {used:.2f} of the "
                f"{me['machine_cores']} cores, {busy}. At weft's measured CPU cost (1 x 1), one "
                f"core fully used by weft would do {mev(cpu_core, 3)} events/s; the model does "
                f"not assume that.\n")
        big, small = asu["node_big_cores"], asu["node_small_cores"]
        if big > small:
            f.write(f"- A {big}-core node is {big} x that per-core figure = "
                    f"{mev(asu['node_big_events_per_s'], 2)}: it assumes workers keep scaling "
                    f"linearly within a process beyond W = {small}, which was not measured.\n")
        else:
            f.write(f"- The {big}-core node is {big} x that per-core figure = "
                    f"{mev(asu['node_big_events_per_s'], 2)} (within what was measured here).\n")
        f.write("- Producers key events by trace id, so each trace lives in one partition and "
                "nodes share nothing: no cross-node shuffle. (Unkeyed producers need "
                "`weft rekey`, one more produce and consume per event, not modelled.)\n")
        nmax = max(COST_NODES)
        f.write(f"- Partitions >= consumer group members. weft serve runs one consumer per "
                f"worker (docs/SERVE.md), so a topic needs at least nodes x workers partitions: "
                f"{nmax:,} nodes of {asu['node_small_cores']} cores need "
                f"{nmax * asu['node_small_cores']:,} partitions, of {asu['node_big_cores']} cores "
                f"{nmax * asu['node_big_cores']:,}. The topic in the measured runs had "
                f"{m['source']['serve']['partitions']}.\n")
        f.write("- The broker cluster is sized separately. Its cost below is the measured "
                "fetch side only (replication factor 1, no produce side, scripts/kafka.sh's "
                "test JVM with serial GC and C1 only), so it is a rough indication.\n")
        f.write("- **Linear** lines: per-node throughput is constant, aggregate = nodes x node: "
                "an upper bound.\n")
        if e_p:
            f.write(f"- **Measured-efficiency** lines: the same, times the process efficiency "
                    f"{e_p:.2f} measured from 1 to {n_p} processes **on {ncores} cores with the broker "
                    f"co-located** (the processes compete with each other and with the broker "
                    f"for the cores), applied once as a constant factor for any node count; "
                    f"nothing here measures how it changes with more nodes.\n")
        f.write("\n**Nodes needed for a target rate**\n\n")
        f.write(f"| target events/s | {asu['node_small_cores']}-core nodes, linear | "
                f"{asu['node_small_cores']}-core nodes, measured efficiency | "
                f"{asu['node_big_cores']}-core nodes, linear | {asu['node_big_cores']}-core nodes, "
                f"measured efficiency | broker CPU cores (fetch side) |\n"
                "|---|---|---|---|---|---|\n")

        def cnt(v):
            return "-" if v is None else f"{v:,}"
        for t in m["targets"]:
            f.write(f"| {mev(t['events_per_s'], 2)} | {cnt(t['small_linear'])} | "
                    f"{cnt(t['small_eff'])} | {cnt(t['big_linear'])} | {cnt(t['big_eff'])} | "
                    f"{t['broker_cores']:.1f} |\n")
        f.write("\n**Aggregate events/s at a node count**\n\n")
        f.write(f"| nodes | {asu['node_small_cores']}-core, linear | {asu['node_small_cores']}-core, "
                f"measured efficiency | {asu['node_big_cores']}-core, linear | "
                f"{asu['node_big_cores']}-core, measured efficiency | ingress per node |\n"
                "|---|---|---|---|---|---|\n")
        for g in m["aggregates"]:
            ing = "-"
            if me["bytes_per_event"]:
                ing = (f"{asu['node_small_events_per_s'] * me['bytes_per_event'] / 1e6:.0f} / "
                       f"{asu['node_big_events_per_s'] * me['bytes_per_event'] / 1e6:.0f} MB/s")
            f.write(f"| {g['nodes']:,} | {mev(g['small_linear'])} | {mev(g['small_eff'])} | "
                    f"{mev(g['big_linear'])} | {mev(g['big_eff'])} | {ing} |\n")
        if me["bytes_per_event"]:
            gb = asu["node_big_events_per_s"] * me["bytes_per_event"] * 8 / 1e9
            f.write(f"\n(Ingress per node: the linear per-node rate of the small / large node "
                    f"times the bytes per event, before any compression; the "
                    f"{asu['node_big_cores']}-core node's is {gb:.1f} Gbit/s, which its network "
                    f"card must carry.)\n")
        f.write("\n")


# ---- plots --------------------------------------------------------------------

def plots(results, pipe, psum, mem, msum, serve, cmodel, prof):
    import matplotlib
    matplotlib.use("svg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    plt.rcParams.update({"svg.hashsalt": "weft-bench", "svg.fonttype": "none",
                         "font.size": 9, "axes.grid": True, "grid.alpha": 0.3,
                         "figure.dpi": 100})
    meps = FuncFormatter(lambda v, _: (f"{v / 1e6:g} M" if v >= 1e5 else
                                       f"{v / 1e3:g} k" if v > 0 else "0"))
    written = []

    def save(fig, name, machine):
        fig.text(0.01, 0.005, f"{machine}; scripts/bench.sh -> bench/plot.py",
                 fontsize=6.5, color="0.4", ha="left", va="bottom")
        fig.savefig(os.path.join(results, name), format="svg", metadata={"Date": None})
        plt.close(fig)
        written.append(name)

    def refs(ax, xpos=None):
        for y, label in REFS:
            ax.axhline(y, color="0.35", lw=0.9, ls=(0, (4, 3)))
            ax.annotate(label, (0.005 if xpos is None else xpos, y), xycoords=("axes fraction", "data"),
                        fontsize=7, color="0.25", va="bottom", ha="left")

    if pipe and psum:
        ws = psum["secs"]["workers"]
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        for (key, label), c, mk in zip(PIPE_SERIES, ["C0", "C3", "C2"], ["o", "s", "^"]):
            s = psum[key]
            for w in ws:
                ax.scatter([w] * len(s["rates"][w]), s["rates"][w], color=c, s=9, alpha=0.35, lw=0)
            ax.plot(ws, [s["median"][w] for w in ws], color=c, marker=mk, label=label)
        x1 = psum["secs"]["median"][ws[0]]
        ax.plot(ws, [x1 * w for w in ws], color="C0", lw=0.8, ls=":", label="end to end, linear from W=1")
        refs(ax)
        ax.set_yscale("log")
        ax.set_ylim(3e4, 3e7)
        ax.yaxis.set_major_formatter(meps)
        ax.set_xticks(ws)
        ax.set_xlim(ws[0] - 0.3, ws[-1] + 0.3)
        ax.set_xlabel("workers W (one process, file source)")
        ax.set_ylabel("events/s (log)")
        ax.set_title("weft replay: file -> decode -> exchange -> assemble -> signature\n"
                     f"{pipe['meta']['events']:,} events, 3,000 traces; median of {pipe['runs']} "
                     "rounds (dots: rounds)", fontsize=9)
        ax.legend(fontsize=7, loc="lower right")
        fig.tight_layout(rect=(0, 0.02, 1, 1))
        save(fig, "pipeline-scaling.svg", pipe["machine"])

        s = psum["model_secs"]  # end to end through the check (issue 7, item 1)
        fit = s["fit"]
        xmax = max(16, ws[-1])
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 5.2))
        for ax in (a1, a2):
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_xlabel("workers W")
            ax.set_xlim(0.5, xmax + 0.5)
        a1.plot([1, xmax], [1, xmax], color="0.5", lw=0.8, ls=":", label="ideal (linear)")
        a2.axhline(1, color="0.5", lw=0.8, ls=":")
        for (key, label), c, mk in zip(PIPE_SERIES, ["C0", "C3", "C2"], ["o", "s", "^"]):
            ss = psum[key]
            a1.scatter([n for n, _ in ss["points"]], [v for _, v in ss["points"]], color=c, s=9,
                       alpha=0.35, lw=0)
            a1.plot(ws, [ss["speedup"][w] for w in ws], color=c, marker=mk, lw=1.2, label=label)
            a2.plot(ws, [ss["speedup"][w] / w for w in ws], color=c, marker=mk, lw=1.2, label=label)
        xs_in = [1 + i * (ws[-1] - 1) / 50 for i in range(51)]
        xs_out = [ws[-1] + i * (xmax - ws[-1]) / 100 for i in range(101)]
        for name, par, c in (("Amdahl", fit["amdahl"], "C1"), ("USL", fit["usl"], "C4")):
            if not par:
                continue
            a, b = (par["serial_fraction"], 0.0) if name == "Amdahl" else (par["a"], par["b"])
            lab = (f"{name} fit, end to end with --model: s = {a:.3f}" if name == "Amdahl"
                   else f"USL fit, end to end with --model: a = {a:.3f}, b = {b:.4f}")
            for xs, ls, lb in ((xs_in, "-", lab), (xs_out, (0, (2, 2)), None)):
                a1.plot(xs, [usl_speedup(x, a, b) for x in xs], color=c, lw=1, ls=ls, label=lb)
                a2.plot(xs, [usl_speedup(x, a, b) / x for x in xs], color=c, lw=1, ls=ls)
        a1.set_ylabel("speed-up over W = 1 (same-round ratio)")
        a2.set_ylabel("parallel efficiency = speed-up / W")
        a2.set_ylim(0, 1.15)
        a1.set_ylim(0, xmax + 0.5)
        a1.legend(fontsize=6.5, loc="upper left")
        k = fit["worker_counts_beyond_1"]
        msg = (f"measured W = {ws[0]}..{ws[-1]}; solid: the measured range, dotted: extrapolated.\n"
               f"Amdahl: {fit['amdahl_status']}.\nUSL: {fit['usl_status']}.")
        if k < 3:
            msg = "NOT A PREDICTION. " + msg
        fig.text(0.5, 0.035, "\n".join(textwrap.fill(p, 150) for p in msg.split("\n")),
                 fontsize=6.8, va="bottom", ha="center", multialignment="left",
                 bbox={"boxstyle": "round", "fc": "#fff8e0", "ec": "0.6"})
        fig.suptitle("Scaling of weft replay across worker shards (same-round speed-ups; dots: "
                     "rounds), with Amdahl and USL fits", fontsize=9)
        fig.tight_layout(rect=(0, 0.15, 1, 1))
        save(fig, "pipeline-efficiency.svg", pipe["machine"])

        if all("emit_max_ms" in r for r in pipe["rounds"]):
            fig, ax = plt.subplots(figsize=(6.4, 3.8))
            series = [("emit_p50_ms", "emission p50", "C0", "o"), ("emit_p99_ms", "emission p99", "C1", "s"),
                      ("emit_max_ms", "emission max", "C3", "^")]
            if all(r.get("verdict_max_ms") is not None for r in pipe["rounds"]):
                series += [("verdict_p50_ms", "verdict p50 (--model)", "C0", "x"),
                           ("verdict_p99_ms", "verdict p99 (--model)", "C1", "x"),
                           ("verdict_max_ms", "verdict max (--model)", "C3", "x")]
            for key, label, c, mk in series:
                vals = {w: [r[key] for r in pipe["rounds"] if r["workers"] == w] for w in ws}
                m = [med(vals[w]) for w in ws]
                lo = [m[i] - min(vals[w]) for i, w in enumerate(ws)]
                hi = [max(vals[w]) - m[i] for i, w in enumerate(ws)]
                ax.errorbar(ws, m, yerr=[lo, hi], color=c, marker=mk, capsize=3, label=label,
                            ls="--" if key.startswith("verdict") else "-")
            ax.set_xticks(ws)
            ax.set_xlim(ws[0] - 0.3, ws[-1] + 0.3)
            ax.set_ylim(bottom=0)
            ax.set_xlabel("workers W")
            ax.set_ylabel("ms from the last event of a trace")
            ax.set_title(f"weft replay: last event -> trace out, and -> verdict; idle gap 2 epochs of 0.5 M events\n"
                         f"median of {pipe['runs']} rounds, whiskers min-max", fontsize=9)
            ax.legend(fontsize=7)
            fig.tight_layout(rect=(0, 0.02, 1, 1))
            save(fig, "latency.svg", pipe["machine"])

    if mem and msum:
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.8))
        for (w, s), c in zip(msum.items(), ["C0", "C1", "C2"]):
            ev = [r["peak_open_events"] for r in s["rows"]]
            a1.plot(ev, [r["peak_rss_kib"] / 1024 for r in s["rows"]], "o", color=c, label=f"W = {w}")
            if s["fit"]:
                xs = [0, max(ev)]
                a1.plot(xs, [(s["fit"]["intercept"] + s["fit"]["slope"] * x) / 2**20 for x in xs],
                        color=c, lw=0.8, ls="--",
                        label=f"fit W = {w}: {s['fit']['slope']:.0f} B/event + "
                              f"{s['fit']['intercept'] / 2**20:.0f} MiB")
            a2.plot([r["peak_open_traces"] for r in s["rows"]], [r["bytes_per_event"] for r in s["rows"]],
                    "o-", color=c, label=f"W = {w}")
        a1.set_xlabel("peak buffered events (open traces' events)")
        a1.set_ylabel("peak RSS (MiB)")
        a1.xaxis.set_major_formatter(meps)
        a1.set_xlim(left=0)
        a1.set_ylim(bottom=0)
        a1.legend(fontsize=6.5)
        a2.set_xlabel("traces in flight (peak open traces)")
        a2.set_ylabel("bytes per buffered event (peak RSS / events)")
        a2.set_ylim(bottom=0)
        a2.legend(fontsize=7)
        fig.suptitle(f"Memory of weft replay against traces in flight; median of {mem['runs']} rounds",
                     fontsize=9)
        fig.tight_layout(rect=(0, 0.02, 1, 1))
        save(fig, "memory.svg", mem["machine"])

    if serve:
        lay = list(dict.fromkeys((r["processes"], r["workers"]) for r in serve["rounds"]))
        vals = [[r["events_per_s"] for r in serve["rounds"]
                 if (r["processes"], r["workers"]) == l] for l in lay]
        m = [med(v) for v in vals]
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        xs = list(range(len(lay)))
        ax.bar(xs, m, color="C0", alpha=0.8, width=0.6,
               yerr=[[m[i] - min(v) for i, v in enumerate(vals)], [max(v) - m[i] for i, v in enumerate(vals)]],
               capsize=3)
        for x, y in zip(xs, m):
            ax.annotate(f"{y / 1e6:.2f} M", (x, y), xytext=(0, 3), textcoords="offset points",
                        ha="center", fontsize=7)
        refs(ax)
        ax.set_yscale("log")
        ax.set_ylim(3e4, 3e7)
        ax.yaxis.set_major_formatter(meps)
        ax.set_xticks(xs)
        ax.set_xticklabels([f"{p} x {w}" for p, w in lay])
        ax.set_xlabel("processes x workers (one consumer group, broker on the same machine)")
        ax.set_ylabel("events/s, all processes (log)")
        ax.set_title(f"weft serve consuming from Kafka: {serve['meta']['events']:,} events\n"
                     f"median of {serve['runs']} rounds, whiskers min-max", fontsize=9)
        fig.tight_layout(rect=(0, 0.02, 1, 1))
        save(fig, "serve.svg", serve["machine"])

    if cmodel:
        ln = cmodel["lines"]
        asu = cmodel["assumed"]
        ns = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000, 2000]
        fig, ax = plt.subplots(figsize=(6.4, 4.4))
        styles = [("small_linear", f"{asu['node_small_cores']}-core nodes, linear", "C0", "-"),
                  ("small_eff", f"{asu['node_small_cores']}-core nodes x measured efficiency", "C0", "--"),
                  ("big_linear", f"{asu['node_big_cores']}-core nodes, linear", "C3", "-"),
                  ("big_eff", f"{asu['node_big_cores']}-core nodes x measured efficiency", "C3", "--")]
        for key, label, c, ls in styles:
            if ln.get(key):
                ax.plot(ns, [n * ln[key] for n in ns], color=c, ls=ls, label=label)
                ax.plot(COST_NODES, [n * ln[key] for n in COST_NODES], "o", color=c, ms=4)
        refs(ax, xpos=0.4)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(1, 2000)
        ax.yaxis.set_major_formatter(meps)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.set_xlabel("weft nodes (one serve process each; dots: 8, 64, 1,000)")
        ax.set_ylabel("aggregate events/s (log)")
        ax.set_title(f"MODEL, not a measurement: per-core {asu['per_core_events_per_s'] / 1e6:.2f} M "
                     f"events/s from weft serve {cmodel['measured']['node_layout']}\n(broker share "
                     f"handed back); efficiency measured on {cmodel['measured']['machine_cores']} "
                     "cores with the broker co-located", fontsize=8.5)
        ax.legend(fontsize=7, loc="upper left")
        fig.tight_layout(rect=(0, 0.02, 1, 1))
        save(fig, "costmodel.svg", cmodel["source"]["serve"]["machine"])

    if prof:
        top = prof["top"][::-1]
        fig, ax = plt.subplots(figsize=(6.4, 0.5 + 0.26 * len(top)))
        y = list(range(len(top)))
        mm = [r["self_pct_median"] for r in top]
        ax.barh(y, mm, color=["C1" if r["object"].startswith("[k") else "C0" for r in top],
                xerr=[[m_ - r["self_pct_min"] for m_, r in zip(mm, top)],
                      [r["self_pct_max"] - m_ for m_, r in zip(mm, top)]], capsize=2)
        ax.set_yticks(y)
        ax.set_yticklabels([f"{r['function']} ({r['object']})" for r in top], fontsize=7)
        ax.set_xlabel("self time, % of the run (median; whiskers min-max)")
        ax.set_title(f"{prof['tool']}: weft replay --workers 1 --no-out, {prof['runs']} run(s)"
                     "; orange: kernel", fontsize=9)
        fig.tight_layout(rect=(0, 0.03, 1, 1))
        save(fig, "profile.svg", prof["machine"])
    return written


def cmd_report(a):
    R = a.results
    pipe, mem, serve, prof = (load(R, p) for p in ("pipeline", "memory", "serve", "profile"))
    psum = pipeline_summary(pipe) if pipe else None
    if psum:
        write_scaling_md(pipe, psum, os.path.join(R, "scaling.md"))
        write_json(os.path.join(R, "scaling.json"), {
            "part": "scaling", "from": "pipeline.json", "command": pipe["command"],
            "machine": pipe["machine"], "date": pipe["date"],
            "method": "least squares on N/S(N) - 1 = a(N-1) + bN(N-1), S = same-round speed-up",
            "series": {k: {"label": v["label"], "speedup_median": v["speedup"], "fit": v["fit"]}
                       for k, v in psum.items()}})
    msum = memory_summary(mem) if mem else None
    if msum:
        write_memory_md(mem, msum, os.path.join(R, "memory.md"))
    cmodel = cost_model(serve, pipe) if serve and "rounds" in serve else None
    if cmodel:
        write_costmodel_md(cmodel, os.path.join(R, "costmodel.md"))
        write_json(os.path.join(R, "costmodel.json"), cmodel)
    if not a.no_plots:
        w = plots(R, pipe, psum, mem, msum, serve, cmodel, prof)
        print("plots: " + " ".join(w), file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--command", default="")
    common.add_argument("--machine", default="")
    common.add_argument("--cores", type=int, default=os.cpu_count())
    p = sub.add_parser("record", parents=[common])
    p.add_argument("--part", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--rows", required=True)
    p.add_argument("--runs", type=int)
    p.add_argument("--meta", action="append", help="key=value")
    p = sub.add_parser("md2json", parents=[common])
    p.add_argument("--part", required=True)
    p.add_argument("--md", required=True)
    p.add_argument("--out", required=True)
    p = sub.add_parser("perf-top", parents=[common])
    p.add_argument("--tool", choices=["perf", "callgrind"], default="perf")
    p.add_argument("--out-md", dest="out_md", required=True)
    p.add_argument("--out-json", dest="out_json", required=True)
    p.add_argument("--top", type=int, default=15)
    p.add_argument("files", nargs="+")
    p = sub.add_parser("report")
    p.add_argument("--results", default="bench/results")
    p.add_argument("--no-plots", dest="no_plots", action="store_true")
    a = ap.parse_args()
    {"record": cmd_record, "md2json": cmd_md2json, "perf-top": cmd_perf_top,
     "report": cmd_report}[a.cmd](a)


if __name__ == "__main__":
    main()
