// The weft console's page script: the live anomaly feed (server-sent
// events from /api/stream), one trace drawn against its template
// (/api/trace/ID), per-template latency heatmaps and rate panels redrawn
// every second (/api/heatmap, /api/rates, /api/hosts: host anomalies
// open now), search (/api/traces) and the
// model (/api/model, /api/template/N). docs/CONSOLE.md documents the
// endpoints. Nothing is fetched from anywhere but weft itself.
"use strict";

const params = new URLSearchParams(location.search);
const token = params.get("token");
const SVGNS = "http://www.w3.org/2000/svg";
const MAX_FEED = 500;
let lastSeq = 0;
let selected = null;

function api(path, query) {
  const q = new URLSearchParams(query || {});
  if (token) q.set("token", token);
  const s = q.toString();
  return path + (s ? "?" + s : "");
}

async function getJSON(path, query) {
  const r = await fetch(api(path, query));
  if (!r.ok) throw new Error(path + ": HTTP " + r.status);
  return r.json();
}

function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
  if (text !== undefined) e.textContent = text;
  return e;
}

function svgEl(tag, attrs) {
  const e = document.createElementNS(SVGNS, tag);
  for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
  return e;
}

function dur(ns) {
  if (ns < 1e3) return ns + " ns";
  if (ns < 1e6) return (ns / 1e3).toFixed(1) + " µs";
  if (ns < 1e9) return (ns / 1e6).toFixed(1) + " ms";
  return (ns / 1e9).toFixed(2) + " s";
}

function clock(ns) {
  return new Date(ns / 1e6).toISOString().replace("T", " ").replace("Z", " UTC");
}

// ---- the feed -------------------------------------------------------------

function explanation(rec) {
  return rec.anomaly && rec.anomaly.explanation ? rec.anomaly.explanation : rec.verdict;
}

function matchesFilter(rec) {
  const v = document.getElementById("f-verdict").value;
  const t = document.getElementById("f-template").value.trim();
  const h = document.getElementById("f-host").value.trim();
  const o = document.getElementById("f-operation").value.trim();
  if (v && rec.verdict !== v) return false;
  if (t && String(rec.template) !== t) return false;
  if (h && !rec.hosts.some((x) => x.includes(h))) return false;
  if (o && !(rec.root_operation || "").includes(o)) return false;
  return true;
}

function addToFeed(rec) {
  if (rec.seq <= lastSeq) return;
  lastSeq = rec.seq;
  const feed = document.getElementById("feed");
  const li = el("li", {"class": "feed-item", "data-trace-id": rec.trace_id,
                       "data-seq": rec.seq, "data-verdict-ns": rec.verdict_time_ns,
                       "data-shown-ms": Date.now()});
  li.append(el("span", {"class": "v-" + rec.verdict}, rec.verdict), " ",
            el("code", {}, rec.trace_id), " template " + rec.template + " · " +
            (rec.root_operation || "?") + " · " + rec.hosts.slice(0, 3).join(", ") +
            (rec.hosts_total > 3 ? " …" : ""));
  li.append(el("div", {"class": "note"}, clock(rec.verdict_time_ns) + " — " + explanation(rec)));
  li.rec = rec;
  if (!matchesFilter(rec)) li.classList.add("hidden");
  li.addEventListener("click", () => openTrace(rec.trace_id, li));
  feed.prepend(li);
  while (feed.children.length > MAX_FEED) feed.lastChild.remove();
  if (window.console) console.log("weft-anomaly-shown " + rec.trace_id + " " +
    (Date.now() - rec.verdict_time_ns / 1e6).toFixed(1) + " ms after its verdict");
}

function refilter() {
  for (const li of document.getElementById("feed").children)
    li.classList.toggle("hidden", !matchesFilter(li.rec));
}

async function startFeed() {
  try {
    const first = await getJSON("/api/anomalies", {limit: 200});
    first.traces.reverse().forEach(addToFeed);
    lastSeq = Math.max(lastSeq, 0);
  } catch (e) { setStatus("down", e.message); }
  const es = new EventSource(api("/api/stream", {after: lastSeq}));
  es.addEventListener("anomaly", (ev) => addToFeed(JSON.parse(ev.data)));
  es.onopen = () => setStatus("live", "live");
  es.onerror = () => setStatus("down", "reconnecting…");
}

function setStatus(cls, text) {
  const s = document.getElementById("status");
  s.className = "status " + cls;
  s.textContent = text;
}

// ---- one trace --------------------------------------------------------------

async function openTrace(id, li) {
  if (selected) selected.classList.remove("sel");
  selected = li || null;
  if (selected) selected.classList.add("sel");
  const d = document.getElementById("detail");
  let t;
  try {
    t = await getJSON("/api/trace/" + id);
  } catch (e) {
    d.textContent = "trace " + id + " is no longer kept (" + e.message + ")";
    return;
  }
  const r = t.record;
  document.getElementById("detail-title").textContent = r.trace_id + " — " + r.verdict;
  d.replaceChildren();
  d.append(el("p", {"class": "expl"}, explanation(r)));
  const tab = el("table", {"id": "facts"});
  const rows = [
    ["verdict", r.verdict], ["template", r.template], ["edit distance", r.distance],
    ["new pieces", r.new_pieces], ["root operation", r.root_operation || "?"],
    ["hosts", r.hosts.join(", ") + (r.hosts_total > r.hosts.length ? " …" : "")],
    ["events", r.events], ["duration", dur(r.duration_ns) + " (on one host's clock)"],
    ["verdict at", clock(r.verdict_time_ns)],
  ];
  for (const [k, v] of rows) {
    const tr = el("tr");
    tr.append(el("th", {}, k), el("td", {}, String(v)));
    tab.append(tr);
  }
  d.append(tab);
  const fig = el("div", {"id": "drawing"});
  fig.innerHTML = t.drawing; // weft's own SVG, every text escaped by the server
  d.append(fig);
}

// ---- heatmaps ---------------------------------------------------------------

const CELL_W = 3, CELL_H = 6, HB = 32, WINDOW = 120;

function drawHeat(h, data) {
  // a fixed window of WINDOW seconds, the newest column at the right
  const cols = data.columns, off = Math.max(0, WINDOW - cols.length);
  const idx = new Map(cols.map((t, i) => [t, i + off]));
  let lo = HB, hi = 0, max = 1;
  for (const [, b, n] of h.cells) { lo = Math.min(lo, b); hi = Math.max(hi, b); max = Math.max(max, n); }
  const thrB = h.threshold_ns ? Math.min(HB - 1, Math.max(0, Math.floor(Math.log2(h.threshold_ns)) - 10)) : -1;
  if (thrB >= 0) { lo = Math.min(lo, thrB); hi = Math.max(hi, thrB); }
  lo = Math.max(0, lo - 1); hi = Math.min(HB - 1, hi + 1);
  const rows = hi - lo + 1, W = WINDOW * CELL_W + 70, H = rows * CELL_H + 30;
  const svg = svgEl("svg", {width: W, height: H, "class": "heatmap",
                            "data-template": h.template, "data-columns": cols.length});
  svg.append(svgEl("rect", {x: 60, y: 4, width: WINDOW * CELL_W, height: rows * CELL_H,
                            fill: "#f4f6fa"}));
  for (const [t, b, n] of h.cells) {
    const x = idx.get(t);
    if (x === undefined) continue;
    const a = 0.15 + 0.85 * Math.log(1 + n) / Math.log(1 + max);
    const r = svgEl("rect", {x: 60 + x * CELL_W, y: 4 + (hi - b) * CELL_H, width: CELL_W,
                             height: CELL_H, fill: "rgba(35,57,93," + a.toFixed(3) + ")"});
    r.append(svgEl("title"));
    r.firstChild.textContent = n + " traces ≥ " + dur(data.bucket_lo_ns[b]) + " at " +
      new Date(t * 1000).toLocaleTimeString();
    svg.append(r);
  }
  if (thrB >= 0) {
    const y = 4 + (hi - thrB) * CELL_H;
    svg.append(svgEl("line", {x1: 60, x2: 60 + WINDOW * CELL_W, y1: y, y2: y, "class": "thr"}));
  }
  for (const b of [lo, hi]) {
    const t = svgEl("text", {x: 2, y: 4 + (hi - b + 1) * CELL_H, "font-size": 10});
    t.textContent = dur(data.bucket_lo_ns[b] || 1000);
    svg.append(t);
  }
  if (cols.length) {
    const t0 = svgEl("text", {x: 60, y: H - 4, "font-size": 10});
    t0.textContent = new Date((cols[cols.length - 1] - WINDOW + 1) * 1000).toLocaleTimeString();
    const t1 = svgEl("text", {x: W - 4, y: H - 4, "font-size": 10, "text-anchor": "end"});
    t1.textContent = new Date(cols[cols.length - 1] * 1000).toLocaleTimeString();
    svg.append(t0, t1);
  }
  const box = el("div", {"class": "heat"});
  box.append(el("div", {}, "template " + h.template + " · " + h.total + " traces" +
                (h.threshold_ns ? " · threshold " + dur(h.threshold_ns) : "")), svg);
  return box;
}

async function refreshHeat() {
  const data = await getJSON("/api/heatmap", {last: WINDOW});
  const box = document.getElementById("heatmaps");
  const top = data.templates.sort((a, b) => b.total - a.total).slice(0, 6);
  box.replaceChildren(...top.map((h) => drawHeat(h, data)));
  box.setAttribute("data-columns", data.columns.length);
  if (!top.length) box.append(el("p", {"class": "note"}, "no traces checked yet"));
}

// ---- rates ------------------------------------------------------------------

function spark(name, values, fmt) {
  const W = 220, H = 40, max = Math.max(1, ...values);
  const pts = values.map((v, i) => (i * W / Math.max(1, values.length - 1)).toFixed(1) + "," +
                         (H - 2 - (v / max) * (H - 4)).toFixed(1)).join(" ");
  const svg = svgEl("svg", {width: W, height: H});
  svg.append(svgEl("polyline", {points: pts}));
  const box = el("div", {"class": "rate", "data-rate": name});
  const last = values.length ? values[values.length - 1] : 0;
  box.append(el("div", {}, name + ": " + fmt(last) + " (max " + fmt(max) + ")"), svg);
  return box;
}

async function refreshRates() {
  const r = await getJSON("/api/rates", {last: 180});
  const s = r.samples;
  const n = (x) => String(x), mib = (x) => (x / 1048576).toFixed(1) + " MiB";
  const boxes = [
    spark("events/s", s.map((x) => x.events), n),
    spark("traces/s", s.map((x) => x.traces), n),
    spark("anomalies/s", s.map((x) => x.verdicts.unknown_structure + x.verdicts.slow), n),
    spark("memory (RSS)", s.map((x) => x.rss_bytes), mib),
    spark("kept traces", s.map((x) => x.store_bytes), mib),
    spark("open traces", s.map((x) => x.open_traces), n),
  ];
  const parts = new Map();
  for (const x of s) for (const l of x.lag) parts.set(l.partition, true);
  for (const p of parts.keys())
    boxes.push(spark("lag p" + p, s.map((x) => (x.lag.find((l) => l.partition === p) || {lag: 0}).lag), n));
  document.getElementById("rates").replaceChildren(...boxes);
  const sum = await getJSON("/api/summary");
  const v = sum.verdicts;
  document.getElementById("totals").textContent = sum.traces + " traces checked · " +
    v.unknown_structure + " unknown_structure · " + v.slow + " slow · " +
    (sum.store_bytes / 1024).toFixed(0) + " KiB kept";
}

// ---- host anomalies -----------------------------------------------------------

async function refreshHosts() {
  const h = await getJSON("/api/hosts");
  const table = document.getElementById("hosts");
  const rows = [el("tr", {}, "")];
  rows[0].append(...["host", "operation", "p50 there", "peers' p50", "x", "peers", "since epoch"]
    .map((t) => el("th", {}, t)));
  for (const a of h.open.sort((x, y) => y.ratio - x.ratio)) {
    const tr = el("tr", {"data-host": a.host}, "");
    tr.append(el("td", {}, a.host), el("td", {}, a.label), el("td", {}, dur(a.host_median_ns)),
              el("td", {}, dur(a.peers_median_ns) + (a.n_peers ? "" : " (learned x load)")),
              el("td", {}, a.ratio.toFixed(1)), el("td", {}, String(a.n_peers)),
              el("td", {}, String(a.since_epoch)));
    rows.push(tr);
  }
  if (rows.length === 1)
    rows.push(el("tr", {}, h.peers ? "none open (" + h.opened + " opened, " + h.closed +
                          " closed so far)" : "latency against peers is off"));
  table.replaceChildren(...rows);
}

// ---- search -----------------------------------------------------------------

async function search(ev) {
  if (ev) ev.preventDefault();
  const q = {limit: 100};
  const id = document.getElementById("s-id").value.trim().toLowerCase();
  const t = document.getElementById("s-template").value.trim();
  const v = document.getElementById("s-verdict").value;
  const h = document.getElementById("s-host").value.trim();
  const m = document.getElementById("s-minutes").value.trim();
  if (id) q.trace_id = id;
  if (t) q.template = t;
  if (v) q.verdict = v;
  if (h) q.host = h;
  if (m) q.since = Math.floor(Date.now() / 1000 - Number(m) * 60);
  const tab = document.getElementById("search-results");
  let res;
  try {
    res = await getJSON("/api/traces", q);
  } catch (e) {
    tab.replaceChildren(el("tr", {}, e.message));
    return;
  }
  const head = el("tr");
  for (const k of ["trace", "verdict", "template", "operation", "hosts", "duration"]) head.append(el("th", {}, k));
  const rows = res.traces.map((r) => {
    const tr = el("tr", {"class": "result", "data-trace-id": r.trace_id});
    tr.append(el("td", {}, r.trace_id), el("td", {"class": "v-" + r.verdict}, r.verdict),
              el("td", {}, String(r.template)), el("td", {}, r.root_operation || "?"),
              el("td", {}, r.hosts.slice(0, 3).join(", ")), el("td", {}, dur(r.duration_ns)));
    tr.addEventListener("click", () => openTrace(r.trace_id));
    return tr;
  });
  tab.replaceChildren(head, ...rows);
  if (!rows.length) tab.append(el("tr", {}, "nothing kept matches"));
}

// ---- the model --------------------------------------------------------------

async function loadModel() {
  const m = await getJSON("/api/model");
  const when = m.trained_at ? new Date(m.trained_at * 1000).toISOString().replace(".000Z", "Z")
                           : "an unknown time";
  document.getElementById("model-line").textContent = "model " + m.path +
    " (generation " + m.generation + ", " + m.templates.length + " templates from " +
    m.training_traces + " traces, trained " + when +
    (m.trained_from ? " by " + m.trained_from : "") + ")";
  const box = document.getElementById("model");
  const tab = el("table");
  const head = el("tr");
  for (const k of ["template", "training traces", "labels", "duration threshold"]) head.append(el("th", {}, k));
  tab.append(head);
  for (const t of m.templates.slice(0, 200)) {
    const tr = el("tr");
    tr.append(el("td", {}, String(t.template)), el("td", {}, String(t.weight)),
              el("td", {}, String(t.labels)), el("td", {}, t.threshold_ns ? dur(t.threshold_ns) : "none"));
    tr.style.cursor = "pointer";
    tr.addEventListener("click", async () => {
      const d = await getJSON("/api/template/" + t.template);
      const fig = document.getElementById("template-drawing");
      fig.innerHTML = d.drawing; // weft's own SVG, texts escaped by the server
    });
    tab.append(tr);
  }
  box.replaceChildren(tab, el("div", {"id": "template-drawing"}));
}

// ---- start ------------------------------------------------------------------

for (const id of ["f-verdict", "f-template", "f-host", "f-operation"])
  document.getElementById(id).addEventListener("input", refilter);
document.getElementById("search").addEventListener("submit", search);
startFeed();
loadModel().catch((e) => setStatus("down", e.message));
async function everySecond() {
  try {
    await Promise.all([refreshHeat(), refreshRates(), refreshHosts()]);
  } catch (e) { setStatus("down", e.message); }
  setTimeout(everySecond, 1000);
}
everySecond();
