//! The core of `weft replay` on timely dataflow: a peer to measure weft
//! against, on the same input, in the same rounds. Each worker reads its
//! share of an X-Trace v4 JSON-lines file (mapped), parses each line with
//! sonic-rs, and the events go through an exchange on the trace id into an
//! assembler that keeps each trace's events and, when the trace has been
//! idle for two epochs or the input ends, builds its DAG (event ids to
//! indices, parent edges) and a canonical hash of it (each node's label,
//! host and agent with its parents' hashes, in topological order). That is
//! lighter than weft's per-trace work: no record is written, no texts or
//! places are kept, no sample or check.
//!
//! usage: weft-timely-peer FILE WORKERS EPOCH_EVENTS [--ingest-only]
//! prints on one line (stdout): events, traces, rejected lines, wall
//! seconds, events/s, and the sum of the traces' hashes (so that they are
//! computed, and the same from run to run).

use std::time::Instant;

use ahash::AHashMap;
use serde::Deserialize;
use smallvec::SmallVec;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::InputHandle;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::{Input, Operator, Probe};

#[derive(Deserialize)]
struct Report<'a> {
    #[serde(rename = "TaskID", borrow)]
    task: &'a str,
    #[serde(rename = "EventID", borrow)]
    event: &'a str,
    #[serde(rename = "ParentEventID", borrow, default)]
    parents: SmallVec<[&'a str; 2]>,
    #[serde(rename = "HRT", default)]
    hrt: u64,
    #[serde(rename = "EndHRT", default)]
    end: u64,
    #[serde(rename = "Host", borrow, default)]
    host: &'a str,
    #[serde(rename = "Agent", borrow, default)]
    agent: &'a str,
    #[serde(rename = "Label", borrow, default)]
    label: &'a str,
}

#[derive(Clone, Default, serde::Serialize, serde::Deserialize)]
struct Event {
    trace: u64,
    id: u64,
    parents: SmallVec<[u64; 2]>,
    start: u64,
    end: u64,
    place: u64, // hash of (label, host, agent)
}

fn hash_str(h: &ahash::RandomState, parts: &[&str]) -> u64 {
    use std::hash::{BuildHasher, Hash, Hasher};
    let mut s = h.build_hasher();
    for p in parts {
        p.hash(&mut s);
    }
    s.finish()
}

/// A decimal id, signed or not, as its 64 bits (as weft reads them).
fn parse_id(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    let (neg, d) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        _ => (false, b),
    };
    if d.is_empty() || d.len() > 20 {
        return None;
    }
    let mut v: u64 = 0;
    for &c in d {
        let x = c.wrapping_sub(b'0');
        if x > 9 {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(x))?;
    }
    if neg {
        if v > 1u64 << 63 {
            return None;
        }
        Some(v.wrapping_neg())
    } else {
        Some(v)
    }
}

fn event_of(line: &[u8], h: &ahash::RandomState) -> Option<Event> {
    let r: Report = sonic_rs::from_slice(line).ok()?;
    let mut parents = SmallVec::new();
    for p in &r.parents {
        parents.push(parse_id(p)?);
    }
    Some(Event {
        trace: u64::from_str_radix(r.task, 16).ok()?,
        id: parse_id(r.event)?,
        parents,
        start: r.hrt,
        end: r.end,
        place: hash_str(h, &[r.label, r.host, r.agent]),
    })
}

/// The canonical hash of a trace's DAG: nodes in topological order (Kahn),
/// each hashed from its place and the sorted hashes of its parents; the
/// trace's hash from the sorted hashes of its nodes without children.
fn signature(evs: &mut Vec<Event>) -> u64 {
    let n = evs.len();
    let mut index: AHashMap<u64, u32> = AHashMap::with_capacity(n);
    for (i, e) in evs.iter().enumerate() {
        index.entry(e.id).or_insert(i as u32);
    }
    let mut indeg = vec![0u32; n];
    let mut children: Vec<SmallVec<[u32; 2]>> = vec![SmallVec::new(); n];
    let mut has_child = vec![false; n];
    for (i, e) in evs.iter().enumerate() {
        for p in &e.parents {
            if let Some(&j) = index.get(p) {
                if j as usize != i {
                    children[j as usize].push(i as u32);
                    indeg[i] += 1;
                    has_child[j as usize] = true;
                }
            }
        }
    }
    let mut hash = vec![0u64; n];
    let mut parent_hashes: Vec<SmallVec<[u64; 2]>> = vec![SmallVec::new(); n];
    let mut queue: Vec<u32> = (0..n as u32).filter(|&i| indeg[i as usize] == 0).collect();
    let mut k = 0;
    while k < queue.len() {
        let i = queue[k] as usize;
        k += 1;
        let ph = &mut parent_hashes[i];
        ph.sort_unstable();
        let mut x = evs[i].place ^ 0x9e37_79b9_7f4a_7c15;
        for &p in ph.iter() {
            x = (x ^ p).wrapping_mul(0xff51_afd7_ed55_8ccd).rotate_left(29);
        }
        hash[i] = x;
        for c in std::mem::take(&mut children[i]) {
            parent_hashes[c as usize].push(x);
            indeg[c as usize] -= 1;
            if indeg[c as usize] == 0 {
                queue.push(c);
            }
        }
    }
    // nodes on a cycle were never queued: they add their place only
    let mut sinks: Vec<u64> = (0..n)
        .filter(|&i| !has_child[i] || indeg[i] > 0)
        .map(|i| if indeg[i] > 0 { evs[i].place } else { hash[i] })
        .collect();
    sinks.sort_unstable();
    let mut s = 0xcbf2_9ce4_8422_2325u64;
    for x in sinks {
        s = (s ^ x).wrapping_mul(0x100_0000_01b3);
    }
    evs.clear();
    s
}

struct Open {
    events: Vec<Event>,
    last_epoch: u64,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: weft-timely-peer FILE WORKERS EPOCH_EVENTS [--ingest-only]");
        std::process::exit(2);
    }
    let path = args[1].clone();
    let workers: usize = args[2].parse().expect("WORKERS");
    let epoch_events: u64 = args[3].parse().expect("EPOCH_EVENTS");
    let ingest_only = args.iter().any(|a| a == "--ingest-only");
    let file = std::fs::File::open(&path).expect("open");
    let map = unsafe { memmap2::Mmap::map(&file).expect("mmap") };
    let map: &'static memmap2::Mmap = Box::leak(Box::new(map));
    let t0 = Instant::now();
    let guards = timely::execute(timely::Config::process(workers), move |worker| {
        let w = worker.index();
        let peers = worker.peers();
        let data: &[u8] = &map[..];
        // this worker's lines: from the first line start at or after
        // w * len / peers to the first at or after (w + 1) * len / peers
        let cut = |k: usize| -> usize {
            let mut at = data.len() * k / peers;
            if at == 0 || at >= data.len() {
                return at.min(data.len());
            }
            while at < data.len() && data[at - 1] != b'\n' {
                at += 1;
            }
            at
        };
        let (begin, end) = (cut(w), cut(w + 1));
        let mut input = InputHandle::new();
        let counter = std::rc::Rc::new(std::cell::Cell::new((0u64, 0u64, 0u64)));
        let c2 = counter.clone();
        let probe = worker.dataflow::<u64, _, _>(|scope| {
            let stream = scope.input_from(&mut input);
            let exchange = Exchange::new(|e: &Event| e.trace);
            if ingest_only {
                stream
                    .unary_frontier::<CapacityContainerBuilder<Vec<u64>>, _, _, _>(
                        exchange,
                        "Count",
                        move |_cap, _info| {
                            move |(input, _frontier), _output| {
                                input.for_each_stamp(|_time, data| {
                                    let mut n = 0u64;
                                    for batch in data {
                                        n += batch.len() as u64;
                                        batch.clear();
                                    }
                                    let (c, t, g) = c2.get();
                                    c2.set((c + n, t, g));
                                });
                            }
                        },
                    )
                    .probe()
                    .0
            } else {
                stream
                    .unary_frontier::<CapacityContainerBuilder<Vec<u64>>, _, _, _>(
                        exchange,
                        "Assemble",
                        move |_cap, _info| {
                            let mut open: AHashMap<u64, Open> = AHashMap::new();
                            let mut sig_sum = 0u64;
                            let mut seen_frontier: Option<u64> = Some(0);
                            move |(input, frontier), output| {
                                input.for_each_stamp(|time, data| {
                                    let epoch = *time.least().unwrap_or(&0);
                                    let mut n = 0u64;
                                    for batch in data {
                                        for e in batch.drain(..) {
                                            n += 1;
                                            let o = open.entry(e.trace).or_insert_with(|| Open {
                                                events: Vec::new(),
                                                last_epoch: epoch,
                                            });
                                            o.last_epoch = o.last_epoch.max(epoch);
                                            o.events.push(e);
                                        }
                                    }
                                    let (c, t, g) = c2.get();
                                    c2.set((c + n, t, g));
                                });
                                // traces idle for two epochs, or all at the end;
                                // looked for only when the frontier has moved
                                let now = frontier.frontier().iter().copied().min();
                                if now == seen_frontier {
                                    return;
                                }
                                seen_frontier = now;
                                let done: Box<dyn Fn(u64) -> bool> = match now {
                                    None => Box::new(|_| true),
                                    Some(f) => Box::new(move |last| last + 2 < f),
                                };
                                let mut finished = 0u64;
                                open.retain(|_, o| {
                                    if done(o.last_epoch) {
                                        sig_sum = sig_sum.wrapping_add(signature(&mut o.events));
                                        finished += 1;
                                        false
                                    } else {
                                        true
                                    }
                                });
                                if finished > 0 {
                                    let (c, t, _) = c2.get();
                                    c2.set((c, t + finished, sig_sum));
                                }
                                let _ = output;
                            }
                        },
                    )
                    .probe()
                    .0
            }
        });
        let h = ahash::RandomState::with_seeds(1, 2, 3, 4);
        let mut at = begin;
        let mut lines = 0u64;
        let mut bad = 0u64;
        let mut epoch = 0u64;
        let per_worker_epoch = (epoch_events / peers as u64).max(1);
        while at < end {
            let nl = memchr_nl(&data[at..end]).map(|i| at + i).unwrap_or(end);
            let line = &data[at..nl];
            at = nl + 1;
            if line.is_empty() {
                continue;
            }
            match event_of(line, &h) {
                Some(e) => input.send(e),
                None => bad += 1,
            }
            lines += 1;
            if lines % per_worker_epoch == 0 {
                epoch += 1;
                input.advance_to(epoch);
                // keep at most one epoch in flight
                while probe.less_than(&(epoch - 1)) {
                    worker.step();
                }
            } else if lines % 1024 == 0 {
                worker.step();
            }
        }
        drop(input);
        while worker.step() {}
        let (events, traces, sig) = counter.get();
        (events, traces, bad, sig)
    })
    .expect("timely");
    let mut events = 0u64;
    let mut traces = 0u64;
    let mut bad = 0u64;
    let mut sig = 0u64;
    for r in guards.join() {
        let (e, t, b, g) = r.expect("worker");
        events += e;
        traces += t;
        bad += b;
        sig = sig.wrapping_add(g);
    }
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "events {} traces {} rejected {} secs {:.4} events/s {:.0} signatures {:016x}",
        events,
        traces,
        bad,
        secs,
        events as f64 / secs,
        sig
    );
    if events == 0 {
        std::process::exit(1);
    }
}

fn memchr_nl(s: &[u8]) -> Option<usize> {
    memchr::memchr(b'\n', s)
}
