#!/usr/bin/env python3
"""Splits imported TraceBench normal runs by time, for training and held-out
checking: DIR/NM_*.jsonl -> DIR/train.jsonl (the first half of each run's
traces, ordered by the wall-clock Timestamp of their first report) and
DIR/holdout.jsonl (the second half), events in their recorded order.
Each run's order is also written to DIR/<run>.split (trace id, set).
Used by scripts/evaluate.sh and tests/integration/model_e2e.sh."""
import glob, json, sys

w = sys.argv[1]
with open(f"{w}/train.jsonl", "w") as train, open(f"{w}/holdout.jsonl", "w") as hold:
    for path in sorted(glob.glob(f"{w}/NM_*.jsonl")):
        events = [(l, json.loads(l)) for l in open(path).read().splitlines()]
        first = {}
        for _, e in events:
            t = e["TaskID"].lower()
            first[t] = min(first.get(t, e["Timestamp"]), e["Timestamp"])
        order = sorted(first, key=lambda t: (first[t], t))
        half = set(order[: len(order) // 2])
        for l, e in events:
            (train if e["TaskID"].lower() in half else hold).write(l + "\n")
        with open(path[:-6] + ".split", "w") as f:
            for t in order:
                f.write(f"{t}\t{'train' if t in half else 'holdout'}\n")
