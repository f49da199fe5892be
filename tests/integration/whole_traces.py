#!/usr/bin/env python3
"""Synthetic X-Trace v4 traces for serve_whole.sh, and the checker.

Every trace has a unique id and a known number of events, so the traces
topic can be checked for traces kept whole (python3 stdlib only; topics
are read with kcat).

  whole_traces.py ids PREFIX N [--partitions P --avoid ID]
      the trace ids of a run, one a line (the ids whose partition under
      librdkafka's default partitioner, crc32(key) % P, is that of ID are
      skipped with --avoid: traffic "on other partitions")
  whole_traces.py expected IDS_FILE
      "trace_id<TAB>events" for each id (lower-case hex, as serve writes)
  whole_traces.py lines IDS_FILE [--events A-B] [--keyed]
      the JSON lines of those traces (events A to B of each, 1-based),
      trace after trace; --keyed: "TaskID<TAB>line" for kcat -K '\\t'
  whole_traces.py produce IDS_FILE --brokers BS --topic T --partitions P
                          [--burst A-B] [--concurrent C] [--tick-ms MS]
                          [--stuck ID --stuck-events N --stuck-every-ms MS]
      keyed by trace id, through the producer below (not kcat: see there).
      --burst: events A to B of every trace at once. Else paced: C traces
      in flight at every moment, each tick writes the next event of each
      (so a trace spans its events x tick); a new trace starts as one
      ends. --stuck adds one trace of N events, one every MS (a trace that
      never goes idle). Every record is acknowledged before it exits 0;
      while the broker is down records wait (120 s at most).
  whole_traces.py check --case NAME --expected F --traces DUMP
                        [--anomalies DUMP] [--input DUMP] [--age-limited ID]
                        [--model] [--quiet]
      DUMP files are `kcat -f '%k\\t%s\\n'` dumps. Prints
        case NAME: expected N, whole N, split N, duplicated N, missing N, ...
      whole: traces with an output record holding all their events
      (events less counters.missing: a missing parent is a placeholder);
      split: traces with a record holding fewer, not flagged `flushed` or
      `late` (a part emitted as if finished, `dangling` or not);
      duplicated: traces emitted whole more than once; missing: never
      whole. Records with fewer events flagged `flushed` (cut at shutdown)
      or `late` (an amendment after the trace was emitted) are counted as
      fragments: they say what they are. With
      --anomalies: traces of ours reported as anomalies (every synthetic
      trace is normal, so each is false). --age-limited ID: a trace that
      never goes idle; it must be emitted flagged `incomplete`, and is
      left out of the other counts. --input: the input topic's dump; every
      produced event must be there (else the test itself failed).
      Exit 0 only when split = missing = false anomalies = 0 (and the
      age-limited traces were flagged). --quiet: no output (for polling).
"""
import argparse
import json
import queue
import socket
import struct
import sys
import threading
import time
import zlib

# Two shapes, neither a prefix of the other: a cut trace is a structure
# the model has never seen. Each event: (label, host, agent, parent index
# or None, start offset us, duration us).
SHAPES = [
    [("GET /cart", "fe", "web", None, 0, 9000),
     ("auth.check", "auth", "rpc", 0, 100, 800),
     ("cart.load", "api", "rpc", 0, 1000, 5000),
     ("db.select", "db", "sql", 2, 1200, 1500),
     ("db.select", "db", "sql", 2, 2900, 1500),
     ("render", "fe", "web", 0, 6100, 2000),
     ("send", "fe", "web", 5, 8200, 600)],
    [("POST /order", "fe", "web", None, 0, 7000),
     ("auth.check", "auth", "rpc", 0, 100, 800),
     ("order.save", "api", "rpc", 0, 1000, 4000),
     ("db.insert", "db", "sql", 2, 1300, 2500),
     ("send", "fe", "web", 0, 5200, 1500)],
]
STUCK = ("stream.open", "stream.chunk")
BASE_MS = 1700000000000


def trace_ids(prefix, n, partitions=0, avoid=None):
    out, i = [], 0
    bad = zlib.crc32(avoid.encode()) % partitions if avoid and partitions else None
    while len(out) < n:
        tid = "%s%0*X" % (prefix, 16 - len(prefix), i)
        i += 1
        if bad is not None and zlib.crc32(tid.encode()) % partitions == bad:
            continue
        out.append(tid)
    return out


def shape_of(tid):
    return SHAPES[int(tid, 16) % len(SHAPES)]


def event_line(tid, k, n=None):
    """Event k (0-based) of trace tid as one JSON line. With n: event k of
    a stuck trace of n events (a root and n-1 chunks under it)."""
    num = int(tid, 16)
    ev_id = lambda j: str((num & 0xFFFFFFFF) * 100000 + j + 1)
    t0_us = (BASE_MS + (num & 0xFFFF) * 1000) * 1000
    if n is not None:
        label, parent, start, dur = (STUCK[0], None, 0, n * 1000) if k == 0 else \
            (STUCK[1], 0, k * 1000, 500)
        host, agent = "stream", "rpc"
    else:
        label, host, agent, parent, start, dur = shape_of(tid)[k]
    start_us = t0_us + start
    rep = {
        "TaskID": tid,
        "EventID": ev_id(k),
        "ParentEventID": [] if parent is None else [ev_id(parent)],
        "Timestamp": start_us // 1000,
        "HRT": start_us * 1000,
        "EndHRT": (start_us + dur) * 1000,
        "Host": host,
        "Agent": agent,
        "Label": label,
    }
    return json.dumps(rep, separators=(",", ":"))


def read_ids(path):
    return [l.strip() for l in open(path) if l.strip()]


def cmd_ids(a):
    for t in trace_ids(a.prefix, a.n, a.partitions, a.avoid):
        print(t)


def cmd_expected(a):
    for t in read_ids(a.ids):
        print("%s\t%d" % (t.lower(), len(shape_of(t))))


def cmd_lines(a):
    lo, hi = 1, 10**9
    if a.events:
        lo, hi = (int(x) for x in a.events.split("-"))
    for t in read_ids(a.ids):
        for k in range(lo - 1, min(hi, len(shape_of(t)))):
            line = event_line(t, k)
            print("%s\t%s" % (t, line) if a.keyed else line)


# ---- a minimal Kafka producer (stdlib) ----------------------------------
# kcat -P reads its input 128 bytes at a time (fread) and hands a line over
# only once 128 more bytes have arrived, so paced lines leave it late and in
# clumps (four events of a trace sent a second apart got one timestamp).
# This producer sets each record's CreateTime itself, when the event is
# generated, sends at once, and keeps records (in order) while the broker
# is down, retrying until it is back: Produce v3, RecordBatch v2, acks=all,
# one broker (scripts/kafka.sh's), librdkafka's partitioner for keyed
# records (crc32(key) % partitions), so kcat and serve agree.

def _crc32c_table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t.append(c)
    return t


_CRC32C = _crc32c_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = _CRC32C[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def _varint(n):
    n = (n << 1) ^ (n >> 63)  # zigzag
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def record_batch(records):
    """records: [(key bytes, value bytes, ts ms)] -> RecordBatch v2 bytes"""
    base_ts = records[0][2]
    body = bytearray()
    for i, (k, v, ts) in enumerate(records):
        r = (b"\x00" + _varint(ts - base_ts) + _varint(i) + _varint(len(k)) + k +
             _varint(len(v)) + v + _varint(0))
        body += _varint(len(r)) + r
    after_crc = (struct.pack(">hiqqqhii", 0, len(records) - 1, base_ts,
                             max(r[2] for r in records), -1, -1, -1, len(records)) + body)
    tail = struct.pack(">ibI", -1, 2, crc32c(after_crc)) + after_crc
    return struct.pack(">qi", 0, len(tail)) + tail


class Producer:
    """Sends in a thread of its own; put() never blocks."""

    def __init__(self, brokers, topic, partitions, timeout_s=120):
        host, port = brokers.split(",")[0].rsplit(":", 1)
        self.addr = (host, int(port))
        self.topic = topic.encode()
        self.partitions = partitions
        self.timeout_s = timeout_s
        self.q = queue.Queue()
        self.sock = None
        self.corr = 0
        self.sent = 0
        self.errors = []
        self.failed = None
        self.th = threading.Thread(target=self._run, daemon=True)
        self.th.start()

    def put(self, key, value):
        k = key.encode()
        self.q.put((zlib.crc32(k) % self.partitions, k, value.encode(),
                    int(time.time() * 1000)))

    def close(self):
        """Waits until everything is acknowledged; None, or why not."""
        self.q.put(None)
        self.th.join()
        return self.failed

    def _request(self, parts):
        self.corr += 1
        pd = b"".join(struct.pack(">i", p) + struct.pack(">i", len(b)) + b
                      for p, b in parts.items())
        body = (struct.pack(">hhih", 0, 3, self.corr, 4) + b"weft" +
                struct.pack(">hhi", -1, -1, 10000) +
                struct.pack(">ih", 1, len(self.topic)) + self.topic +
                struct.pack(">i", len(parts)) + pd)
        if self.sock is None:
            self.sock = socket.create_connection(self.addr, timeout=15)
        self.sock.sendall(struct.pack(">i", len(body)) + body)
        n = struct.unpack(">i", self._read(4))[0]
        resp = self._read(n)
        # corr, [topic, [partition, error, base offset, append time]], throttle
        pos = 4 + 4
        tl = struct.unpack_from(">h", resp, pos)[0]
        pos += 2 + tl
        np_ = struct.unpack_from(">i", resp, pos)[0]
        pos += 4
        errs = {}
        for _ in range(np_):
            p, err = struct.unpack_from(">ih", resp, pos)
            pos += 4 + 2 + 8 + 8
            if err:
                errs[p] = err
        return errs

    def _read(self, n):
        b = bytearray()
        while len(b) < n:
            c = self.sock.recv(n - len(b))
            if not c:
                raise ConnectionError("connection closed")
            b += c
        return bytes(b)

    def _run(self):
        pending = {}  # partition -> [records], in order
        done = False
        down_since = None
        while True:
            try:
                item = self.q.get(timeout=0.05) if not pending else self.q.get_nowait()
            except queue.Empty:
                item = False
            while item is not False:
                if item is None:
                    done = True
                else:
                    pending.setdefault(item[0], []).append(item[1:])
                try:
                    item = self.q.get_nowait()
                except queue.Empty:
                    item = False
            if not pending:
                if done:
                    return
                continue
            try:
                errs = self._request({p: record_batch(r) for p, r in pending.items()})
            except (OSError, ValueError, struct.error) as e:
                errs = {p: str(e) for p in pending}
                if self.sock:
                    self.sock.close()
                self.sock = None
            for p in list(pending):
                if p not in errs:
                    self.sent += len(pending.pop(p))
            if errs:
                if down_since is None:
                    down_since = time.monotonic()
                    self.errors.append("%s: %s" % (time.strftime("%T"), sorted(set(
                        str(e) for e in errs.values()))))
                if time.monotonic() - down_since > self.timeout_s:
                    self.failed = "not delivered for %d s: %s" % (self.timeout_s, errs)
                    return
                time.sleep(0.2)
            else:
                down_since = None


def cmd_produce(a):
    ids = read_ids(a.ids)
    prod = Producer(a.brokers, a.topic, a.partitions)
    n = 0
    if a.burst:  # events A-B of every trace at once
        lo, hi = (int(x) for x in a.burst.split("-"))
        for t in ids:
            for k in range(lo - 1, min(hi, len(shape_of(t)))):
                prod.put(t, event_line(t, k))
                n += 1
        ids = []
    tick = a.tick_ms / 1000.0
    pending = list(ids)
    active = []  # [tid, next event]
    stuck_next, stuck_at = 0, time.monotonic()
    t_next = time.monotonic()
    while pending or active or (a.stuck and stuck_next < a.stuck_events):
        now = time.monotonic()
        if a.stuck and stuck_next < a.stuck_events and now >= stuck_at:
            prod.put(a.stuck, event_line(a.stuck, stuck_next, a.stuck_events))
            n += 1
            stuck_next += 1
            stuck_at += a.stuck_every_ms / 1000.0
        if (pending or active) and now >= t_next:
            # one new trace per tick while a slot is free: staggered starts
            if pending and len(active) < a.concurrent:
                active.append([pending.pop(0), 0])
            for tr in active:
                prod.put(tr[0], event_line(tr[0], tr[1]))
                n += 1
                tr[1] += 1
            active = [tr for tr in active if tr[1] < len(shape_of(tr[0]))]
            t_next += tick
        wake = t_next if (pending or active) else stuck_at
        if a.stuck and stuck_next < a.stuck_events:
            wake = min(wake, stuck_at)
        time.sleep(max(0.0, wake - time.monotonic()))
    failed = prod.close()
    print("produced %d events (%d acknowledged)%s" % (
        n, prod.sent, "; broker errors from " + "; ".join(prod.errors[:5]) if prod.errors
        else ""), file=sys.stderr)
    if failed:
        print("produce failed: %s" % failed, file=sys.stderr)
        return 1
    return 0


def read_dump(path):
    """(key, decoded JSON) for each line of a kcat '%k\\t%s\\n' dump."""
    rows = []
    for line in open(path, errors="replace"):
        line = line.rstrip("\n")
        if not line:
            continue
        k, _, v = line.partition("\t")
        try:
            rows.append((k, json.loads(v)))
        except ValueError:
            rows.append((k, None))
    return rows


# A record with fewer events that says so: cut at shutdown (`flushed`), or
# events that came after the trace was emitted (`late`: an amendment).
FRAGMENT = {"flushed", "late"}


def real(r):
    """A record's events, less the placeholders for missing parents."""
    return r["events"] - r.get("counters", {}).get("missing", 0)


def cmd_check(a):
    want = {}
    for line in open(a.expected):
        tid, n = line.split()
        want[tid.lower()] = int(n)
    aged = {t.lower() for t in a.age_limited}
    for t in aged:
        want.pop(t, None)
    recs = {}
    bad_json = 0
    for k, r in read_dump(a.traces):
        if r is None or "trace_id" not in r:
            bad_json += 1
            continue
        recs.setdefault(r["trace_id"], []).append(r)
    whole = split = dup = missing = frags = over = unnormal = 0
    split_ex, missing_ex, over_ex, unnormal_ex = [], [], [], []
    for tid, n in sorted(want.items()):
        rs = recs.get(tid, [])
        full = [r for r in rs if real(r) == n]
        short = [r for r in rs if real(r) < n]
        cut = [r for r in short if not FRAGMENT & set(r.get("flags", []))]
        frags += len(short) - len(cut)
        if full:
            whole += 1
        else:
            missing += 1
            missing_ex.append("%s (%d events): %s" % (
                tid, n, [(real(r), r.get("flags")) for r in rs] or "no record"))
        if len(full) > 1:
            dup += 1
        if cut:
            split += 1
            split_ex.append("%s (%d events): records %s" % (
                tid, n, [(real(r), r.get("flags")) for r in rs]))
        if any(real(r) > n for r in rs):
            over += 1
            over_ex.append("%s (%d events): %s" % (tid, n, [real(r) for r in rs]))
        if a.model:  # the model finds every whole synthetic trace normal
            odd = [r.get("verdict") for r in full
                   if r.get("verdict") in ("unknown_structure", "slow", "none", None)]
            if odd:
                unnormal += 1
                unnormal_ex.append("%s: %s" % (tid, odd))
    extra = [t for t in recs if t not in want and t not in aged]
    false_anom, anom_ex = 0, []
    if a.anomalies:
        seen = set()
        for k, r in read_dump(a.anomalies):
            tid = r.get("trace_id") if r else None
            if tid in want and tid not in seen:
                seen.add(tid)
                false_anom += 1
                anom_ex.append("%s (%d events): %s with %s events" % (
                    tid, want[tid], r.get("verdict"), r.get("events")))
    aged_ok, aged_ex = 0, []
    for t in sorted(aged):
        rs = recs.get(t, [])
        if any("incomplete" in r.get("flags", []) for r in rs):
            aged_ok += 1
        else:
            aged_ex.append("%s: %s" % (t, [(real(r), r.get("flags")) for r in rs]
                                       or "no record"))
    input_short = []
    if a.input:
        got = {}
        for k, r in read_dump(a.input):
            if r and "TaskID" in r:
                got.setdefault(r["TaskID"].lower(), set()).add(r.get("EventID"))
        input_short = ["%s: %d of %d" % (t, len(got.get(t, ())), n)
                       for t, n in sorted(want.items()) if len(got.get(t, ())) < n]
    ok = (split == 0 and missing == 0 and false_anom == 0 and over == 0 and
          unnormal == 0 and aged_ok == len(aged) and not input_short and not bad_json)
    if a.quiet:
        return 0 if ok else 1
    line = ("case %s: expected %d, whole %d, split %d, duplicated %d, missing %d"
            % (a.case, len(want), whole, split, dup, missing))
    line += ", fragments %d, records %d" % (frags, sum(len(v) for v in recs.values()))
    if a.anomalies:
        line += ", false anomalies %d" % false_anom
    if aged:
        line += ", age-limited %d of %d flagged incomplete" % (aged_ok, len(aged))
    print(line)
    for title, ex in (("split", split_ex), ("missing", missing_ex),
                      ("more events than produced", over_ex),
                      ("whole but anomalous", unnormal_ex),
                      ("false anomaly", anom_ex), ("age-limited not flagged", aged_ex),
                      ("input topic short (test setup)", input_short)):
        for e in ex[:6]:
            print("  %s: %s" % (title, e))
        if len(ex) > 6:
            print("  %s: ... %d more" % (title, len(ex) - 6))
    if bad_json:
        print("  %d output records are not trace JSON" % bad_json)
    if extra:
        print("  %d traces in the output that were not produced: %s" % (len(extra), extra[:3]))
    return 0 if ok else 1


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("ids")
    s.add_argument("prefix")
    s.add_argument("n", type=int)
    s.add_argument("--partitions", type=int, default=0)
    s.add_argument("--avoid")
    s.set_defaults(f=cmd_ids)
    s = sub.add_parser("expected")
    s.add_argument("ids")
    s.set_defaults(f=cmd_expected)
    s = sub.add_parser("lines")
    s.add_argument("ids")
    s.add_argument("--events")
    s.add_argument("--keyed", action="store_true")
    s.set_defaults(f=cmd_lines)
    s = sub.add_parser("produce")
    s.add_argument("ids")
    s.add_argument("--brokers", required=True)
    s.add_argument("--topic", required=True)
    s.add_argument("--partitions", type=int, required=True)
    s.add_argument("--burst")
    s.add_argument("--concurrent", type=int, default=8)
    s.add_argument("--tick-ms", type=float, default=150)
    s.add_argument("--stuck")
    s.add_argument("--stuck-events", type=int, default=0)
    s.add_argument("--stuck-every-ms", type=float, default=1000)
    s.set_defaults(f=cmd_produce)
    s = sub.add_parser("check")
    s.add_argument("--case", required=True)
    s.add_argument("--expected", required=True)
    s.add_argument("--traces", required=True)
    s.add_argument("--anomalies")
    s.add_argument("--input")
    s.add_argument("--age-limited", action="append", default=[])
    s.add_argument("--model", action="store_true")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(f=cmd_check)
    a = p.parse_args()
    sys.exit(a.f(a) or 0)


if __name__ == "__main__":
    main()
