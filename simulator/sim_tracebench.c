/*
 * sim_tracebench.c — import one TraceBench run (event/edge/trace CSV) as a
 * run of X-Trace v4 events with parent ids. The mapping is documented in
 * docs/TRACEBENCH.md; in short:
 *
 *   - An event is a report row; (TID, StartTime) is NOT unique (a span and
 *     the span it opens first share both, e.g. writeBlock and "OP: new
 *     BlockReceiver"), so the id hashes (TaskID, TID, StartTime, OpName).
 *   - A TID is one thread of work on one host. Its events are ordered by
 *     (StartTime asc, EndTime desc, OpName): enclosing spans before the spans
 *     they enclose. Each event's parent is its predecessor in that order.
 *   - An edge (FatherTID, FatherStartTime) -> ChildTID gives the first event
 *     of ChildTID its parent. When the father key names several events, the
 *     innermost (last in TID order) is the father: it happened last.
 *   - The result is a tree rooted at the one event of the root TID, checked
 *     here (disconnected traces are counted, not fixed).
 *
 * Clocks: each host has its own ns clock. Timestamp (ms) is estimated by
 * walking the tree from the root: same host -> raw clock difference; across
 * hosts -> the child span is centred in its father's span (RPC symmetry),
 * or starts with it when it is longer. Anchored at the trace's FirstSeen.
 * Recorded order sorts all events of the run by that estimate, ties by
 * depth, so a parent always precedes its children.
 *
 * Memory: the whole run is loaded (runs are ~10^4 events); strings go
 * straight into the run's arena, per-event scratch is a few flat arrays.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <xxhash.h>

#include "simulator/sim_csv.h"
#include "simulator/sim_internal.h"

struct raw_ev {
	uint64_t task, tid;
	int64_t start, end;
	uint32_t op, host, agent, desc; /* offsets into run strings */
	uint32_t oplen;
	int32_t parent;    /* index into the sorted raw array, -1: none */
	int32_t depth;     /* -1: not yet computed; -2: being computed */
	int64_t aligned;   /* ns since the trace root's start (estimate) */
	uint32_t trace;
};

struct raw_edge {
	uint64_t task, ftid, ctid;
	int64_t fstart;
};

struct tb_trace {
	uint64_t task;
	int64_t numreports, numedges, first_seen_ms;
	uint32_t title;
	size_t raw_edges;
	size_t ev_lo, ev_hi;    /* range in sorted events */
};

struct tb_ctx {
	struct sim_run *r;
	struct raw_ev *ev;
	size_t nev, evcap;
	struct raw_edge *ed;
	size_t ned, edcap;
	struct tb_trace *tr;
	size_t ntr, trcap;
	struct sim_import_stats *st;
	char *err;
	size_t errlen;
};

int
sim_desc_is_failure(const char *d)
{
	return strncasecmp(d, "success", 7) != 0 && strcmp(d, "A user task") != 0;
}

int64_t
sim_tracebench_event_id(uint64_t task, uint64_t tid, int64_t start,
    const char *op, size_t oplen)
{
	uint64_t k[3] = {task, tid, (uint64_t)start};
	uint64_t seed = XXH3_64bits(k, sizeof(k));
	return (int64_t)XXH3_64bits_withSeed(op, oplen, seed);
}

static int
bad_row(struct tb_ctx *c, const char *file, size_t line)
{
	snprintf(c->err, c->errlen, "%s.csv line %zu: malformed row", file,
	    line);
	return WEFT_EFORMAT;
}

static int
load_events(struct tb_ctx *c, const char *dir)
{
	struct sim_csv csv;
	int rc = sim_csv_open(&csv, dir, "event");
	if (rc) {
		snprintf(c->err, c->errlen, "%s: no event.csv(.gz)", dir);
		return rc;
	}
	const char *line;
	size_t len;
	while ((rc = sim_csv_next(&csv, &line, &len)) > 0) {
		struct sim_field f[9];
		if (csv.lineno == 1)
			continue; /* header */
		if (len == 0)
			continue;
		if (sim_csv_split(line, len, f, 9) != 9) {
			rc = bad_row(c, "event", csv.lineno);
			break;
		}
		if ((rc = sim_grow((void **)&c->ev, &c->evcap, c->nev + 1,
		    sizeof(*c->ev))))
			break;
		struct raw_ev *e = &c->ev[c->nev];
		memset(e, 0, sizeof(*e));
		if (sim_parse_hex64(f[0].p, f[0].n, &e->task) ||
		    sim_parse_hex64(f[1].p, f[1].n, &e->tid) ||
		    sim_parse_i64(f[3].p, f[3].n, &e->start) ||
		    sim_parse_i64(f[4].p, f[4].n, &e->end)) {
			rc = bad_row(c, "event", csv.lineno);
			break;
		}
		struct sim_buf *s = &c->r->strs;
		if ((rc = sim_buf_addstr(s, f[2].p, f[2].n, &e->op)) ||
		    (rc = sim_buf_addstr(s, f[6].p, f[6].n, &e->host)) ||
		    (rc = sim_buf_addstr(s, f[7].p, f[7].n, &e->agent)) ||
		    (rc = sim_buf_addstr(s, f[8].p, f[8].n, &e->desc)))
			break;
		e->oplen = (uint32_t)f[2].n;
		e->parent = -1;
		e->depth = -1;
		c->nev++;
	}
	sim_csv_close(&csv);
	return rc < 0 ? rc : 0;
}

static int
load_edges(struct tb_ctx *c, const char *dir)
{
	struct sim_csv csv;
	int rc = sim_csv_open(&csv, dir, "edge");
	if (rc) {
		snprintf(c->err, c->errlen, "%s: no edge.csv(.gz)", dir);
		return rc;
	}
	const char *line;
	size_t len;
	while ((rc = sim_csv_next(&csv, &line, &len)) > 0) {
		struct sim_field f[4];
		if (csv.lineno == 1 || len == 0)
			continue;
		if (sim_csv_split(line, len, f, 4) != 4) {
			rc = bad_row(c, "edge", csv.lineno);
			break;
		}
		if ((rc = sim_grow((void **)&c->ed, &c->edcap, c->ned + 1,
		    sizeof(*c->ed))))
			break;
		struct raw_edge *e = &c->ed[c->ned];
		if (sim_parse_hex64(f[0].p, f[0].n, &e->task) ||
		    sim_parse_hex64(f[1].p, f[1].n, &e->ftid) ||
		    sim_parse_i64(f[2].p, f[2].n, &e->fstart) ||
		    sim_parse_hex64(f[3].p, f[3].n, &e->ctid)) {
			rc = bad_row(c, "edge", csv.lineno);
			break;
		}
		c->ned++;
	}
	sim_csv_close(&csv);
	return rc < 0 ? rc : 0;
}

static int
load_traces(struct tb_ctx *c, const char *dir)
{
	struct sim_csv csv;
	int rc = sim_csv_open(&csv, dir, "trace");
	if (rc) {
		snprintf(c->err, c->errlen, "%s: no trace.csv(.gz)", dir);
		return rc;
	}
	const char *line;
	size_t len;
	while ((rc = sim_csv_next(&csv, &line, &len)) > 0) {
		if (csv.lineno == 1 || len == 0)
			continue;
		/* TaskID,Title,NumReports,NumEdges,FirstSeen,LastUpdated,
		 * StartTime,EndTime: Title may hold commas, so take the last
		 * six fields from the right. */
		size_t comma[7], k = 0;
		for (size_t i = len; i-- > 0 && k < 6;)
			if (line[i] == ',')
				comma[k++] = i;
		const char *c0 = memchr(line, ',', len);
		if (k < 6 || !c0 || (size_t)(c0 - line) >= comma[5]) {
			rc = bad_row(c, "trace", csv.lineno);
			break;
		}
		if ((rc = sim_grow((void **)&c->tr, &c->trcap, c->ntr + 1,
		    sizeof(*c->tr))))
			break;
		struct tb_trace *t = &c->tr[c->ntr];
		memset(t, 0, sizeof(*t));
		size_t tstart = (size_t)(c0 - line) + 1;
		if (sim_parse_hex64(line, (size_t)(c0 - line), &t->task) ||
		    sim_parse_i64(line + comma[5] + 1, comma[4] - comma[5] - 1,
		    &t->numreports) ||
		    sim_parse_i64(line + comma[4] + 1, comma[3] - comma[4] - 1,
		    &t->numedges) ||
		    sim_parse_datetime_ms(line + comma[3] + 1,
		    comma[2] - comma[3] - 1, &t->first_seen_ms)) {
			rc = bad_row(c, "trace", csv.lineno);
			break;
		}
		if ((rc = sim_buf_addstr(&c->r->strs, line + tstart,
		    comma[5] - tstart, &t->title)))
			break;
		c->ntr++;
	}
	sim_csv_close(&csv);
	return rc < 0 ? rc : 0;
}

/* qsort comparators need the string arena: set once per import. */
static const char *g_strs;

static int
cmp_ev(const void *a, const void *b)
{
	const struct raw_ev *x = a, *y = b;
	if (x->task != y->task)
		return x->task < y->task ? -1 : 1;
	if (x->tid != y->tid)
		return x->tid < y->tid ? -1 : 1;
	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	if (x->end != y->end)
		return x->end > y->end ? -1 : 1; /* enclosing span first */
	return strcmp(g_strs + x->op, g_strs + y->op);
}

static int
cmp_edge(const void *a, const void *b)
{
	const struct raw_edge *x = a, *y = b;
	if (x->task != y->task)
		return x->task < y->task ? -1 : 1;
	if (x->ctid != y->ctid)
		return x->ctid < y->ctid ? -1 : 1;
	if (x->ftid != y->ftid)
		return x->ftid < y->ftid ? -1 : 1;
	if (x->fstart != y->fstart)
		return x->fstart < y->fstart ? -1 : 1;
	return 0;
}

static int
cmp_tr(const void *a, const void *b)
{
	const struct tb_trace *x = a, *y = b;
	return x->task < y->task ? -1 : x->task > y->task;
}

/* First sorted event index >= (task, tid, start) within [lo, hi). */
static size_t
ev_lower(const struct tb_ctx *c, size_t lo, size_t hi, uint64_t tid,
    int64_t start)
{
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct raw_ev *e = &c->ev[mid];
		if (e->tid < tid || (e->tid == tid && e->start < start))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}


/* Where ev[x]'s start sits on the trace's estimated timeline, given its
 * parent's (see the top comment for the clock model). */
static int64_t
align(const struct tb_ctx *c, const struct raw_ev *p, const struct raw_ev *x)
{
	if (x->tid == p->tid ||
	    !strcmp(g_strs + x->host, g_strs + p->host)) {
		int64_t d = x->start - p->start;
		return p->aligned + (d > 0 ? d : 0);
	}
	(void)c;
	int64_t dp = p->end - p->start, dx = x->end - x->start;
	dp = dp > 0 ? dp : 0;
	dx = dx > 0 ? dx : 0;
	return p->aligned + (dx <= dp ? (dp - dx) / 2 : 0);
}

/* Give ev[i] a depth (>= 0 reachable from root, -3 not) and aligned time,
 * walking up to the first resolved ancestor. path: scratch of nev slots. */
static void
resolve(struct tb_ctx *c, size_t i, size_t *path)
{
	size_t n = 0, j = i;
	int ok = 0;
	while (c->ev[j].depth == -1) {
		c->ev[j].depth = -2;
		path[n++] = j;
		if (c->ev[j].parent < 0)
			break;
		j = (size_t)c->ev[j].parent;
	}
	if (c->ev[j].depth >= 0)
		ok = 1; /* else: no parent (orphan), a cycle (-2) or known bad */
	while (n--) {
		struct raw_ev *x = &c->ev[path[n]];
		if (ok) {
			const struct raw_ev *p = &c->ev[x->parent];
			x->depth = p->depth + 1;
			x->aligned = align(c, p, x);
		} else {
			x->depth = -3;
			x->aligned = 0;
		}
	}
}

/* Link one trace's events: TID chains, then father edges. */
static void
map_trace(struct tb_ctx *c, struct tb_trace *t, size_t e_lo, size_t e_hi,
    size_t *path)
{
	struct sim_import_stats *st = c->st;
	size_t lo = t->ev_lo, hi = t->ev_hi;
	for (size_t i = lo + 1; i < hi; i++) {
		if (c->ev[i].tid == c->ev[i - 1].tid)
			c->ev[i].parent = (int32_t)(i - 1);
		if (c->ev[i].tid == c->ev[i - 1].tid &&
		    c->ev[i].start == c->ev[i - 1].start)
			st->shared_start++;
	}
	t->raw_edges = e_hi - e_lo;
	size_t distinct = 0, roots = 0;
	int64_t root = -1;
	for (size_t k = e_lo; k < e_hi; k++) {
		const struct raw_edge *e = &c->ed[k];
		if (k > e_lo && !cmp_edge(e, e - 1))
			continue; /* repeated row */
		distinct++;
		if (k > e_lo && e->ctid == e[-1].ctid) {
			st->multi_father++; /* keep the first father */
			continue;
		}
		size_t ch = ev_lower(c, lo, hi, e->ctid, INT64_MIN);
		if (ch == hi || c->ev[ch].tid != e->ctid) {
			st->missing_child++;
			continue;
		}
		if (e->ftid == 0) {
			roots++;
			root = (int64_t)ch;
			continue;
		}
		size_t f = ev_lower(c, lo, hi, e->ftid, e->fstart), last = f;
		while (last < hi && c->ev[last].tid == e->ftid &&
		    c->ev[last].start == e->fstart)
			last++;
		if (last == f) {
			st->missing_father++;
			continue;
		}
		if (last - f > 1)
			st->ambiguous_fathers++;
		c->ev[ch].parent = (int32_t)(last - 1); /* innermost span */
	}
	st->edges += distinct;
	if (distinct != t->raw_edges)
		st->dup_edge_traces++;
	if (t->numedges != (int64_t)distinct &&
	    t->numedges != (int64_t)t->raw_edges)
		st->numedges_mismatch++;
	if (t->numreports != (int64_t)(hi - lo))
		st->numreports_mismatch++;
	if (roots != 1)
		st->no_root++;
	if (root >= 0 && c->ev[root].parent < 0) {
		c->ev[root].depth = 0;
		c->ev[root].aligned = 0;
	}
	for (size_t i = lo; i < hi; i++)
		if (c->ev[i].parent < 0 && (int64_t)i != root &&
		    (i == lo || c->ev[i].tid != c->ev[i - 1].tid))
			st->orphan_tids++;
	int bad = 0;
	for (size_t i = lo; i < hi; i++) {
		resolve(c, i, path);
		bad |= c->ev[i].depth < 0;
	}
	st->disconnected += (size_t)bad;
}

struct ord {
	int64_t when;   /* ns, run-wide estimate */
	int32_t depth;
	uint32_t idx;   /* sorted raw event index */
};

static int
cmp_ord(const void *a, const void *b)
{
	const struct ord *x = a, *y = b;
	if (x->when != y->when)
		return x->when < y->when ? -1 : 1;
	if (x->depth != y->depth)
		return x->depth < y->depth ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* trace.csv rows in recorded order: by FirstSeen, then by row order. */
static int
cmp_seen(const void *a, const void *b)
{
	const struct tb_trace *const *x = a, *const *y = b;
	if ((*x)->first_seen_ms != (*y)->first_seen_ms)
		return (*x)->first_seen_ms < (*y)->first_seen_ms ? -1 : 1;
	return *x < *y ? -1 : *x > *y;
}

static int
emit(struct tb_ctx *c)
{
	struct sim_run *r = c->r;
	int rc = 0;
	size_t n = 0;
	struct tb_trace **byseen = malloc((c->ntr + 1) * sizeof(*byseen));
	uint32_t *rtr = malloc((c->ntr + 1) * sizeof(*rtr));
	struct ord *o = malloc((c->nev + 1) * sizeof(*o));
	int64_t *ids = malloc((c->nev + 1) * sizeof(*ids));
	uint32_t none;
	if (!byseen || !rtr || !o || !ids) {
		rc = WEFT_ENOMEM;
		goto out;
	}
	if ((rc = sim_buf_addstr(&r->strs, "none", 4, &none)) ||
	    (rc = sim_buf_addstr(&r->strs, "recorded", 8, &rtr[0])))
		goto out;
	uint32_t recorded = rtr[0];
	g_strs = r->strs.p; /* the arena may have moved */
	for (size_t t = 0; t < c->ntr; t++)
		byseen[t] = &c->tr[t];
	qsort(byseen, c->ntr, sizeof(*byseen), cmp_seen);
	/* NB: cmp_seen's tie-break is the sorted-by-task position, which is
	 * deterministic; FirstSeen ties are common at one-second resolution. */
	for (size_t k = 0; k < c->ntr; k++) {
		const struct tb_trace *t = byseen[k];
		if ((rc = sim_grow((void **)&r->tr, &r->trcap, r->ntr + 1,
		    sizeof(*r->tr))))
			goto out;
		struct sim_trace *rt = &r->tr[r->ntr];
		memset(rt, 0, sizeof(*rt));
		rt->task = t->task;
		rt->title = t->title;
		rt->kind = none;
		rt->first_seen_ms = t->first_seen_ms;
		rt->count = (uint32_t)(t->ev_hi - t->ev_lo);
		for (size_t i = t->ev_lo; i < t->ev_hi; i++) {
			if (sim_desc_is_failure(g_strs + c->ev[i].desc))
				rt->failure = 1;
			c->ev[i].trace = (uint32_t)r->ntr;
			o[n].when = t->first_seen_ms * 1000000 + c->ev[i].aligned;
			o[n].depth = c->ev[i].depth < 0 ? INT32_MAX : c->ev[i].depth;
			o[n].idx = (uint32_t)i;
			n++;
		}
		if (rt->failure) {
			rt->kind = recorded;
			c->st->failures++;
		}
		r->ntr++;
	}
	qsort(o, n, sizeof(*o), cmp_ord);
	for (size_t i = 0; i < c->nev; i++)
		ids[i] = sim_tracebench_event_id(c->ev[i].task, c->ev[i].tid,
		    c->ev[i].start, g_strs + c->ev[i].op, c->ev[i].oplen);
	if ((rc = sim_grow((void **)&r->ev, &r->evcap, r->nev + n,
	    sizeof(*r->ev))) ||
	    (rc = sim_grow((void **)&r->parents, &r->parcap, r->npar + n,
	    sizeof(*r->parents))))
		goto out;
	for (size_t k = 0; k < n; k++) {
		const struct raw_ev *x = &c->ev[o[k].idx];
		struct sim_event *e = &r->ev[r->nev++];
		e->task = x->task;
		e->id = ids[o[k].idx];
		e->ts_ms = r->tr[x->trace].first_seen_ms + x->aligned / 1000000;
		e->hrt = x->start;
		e->end_hrt = x->end;
		e->host = x->host;
		e->agent = x->agent;
		e->label = x->op;
		e->desc = x->desc;
		e->trace = x->trace;
		e->par_off = (uint32_t)r->npar;
		e->npar = 0;
		if (x->parent >= 0) {
			r->parents[r->npar++] = ids[x->parent];
			e->npar = 1;
		}
	}
out:
	free(byseen);
	free(rtr);
	free(o);
	free(ids);
	return rc;
}

int
sim_tracebench_import(const char *dir, struct sim_run *r,
    struct sim_import_stats *st, char *err, size_t errlen)
{
	struct sim_import_stats dummy;
	char ebuf[8];
	struct tb_ctx c = {.r = r, .st = st ? st : &dummy,
	    .err = err ? err : ebuf, .errlen = err ? errlen : sizeof(ebuf)};
	memset(c.st, 0, sizeof(*c.st));
	c.err[0] = '\0';
	size_t *path = NULL;
	int rc;
	if ((rc = load_traces(&c, dir)) || (rc = load_events(&c, dir)) ||
	    (rc = load_edges(&c, dir)))
		goto out;
	c.st->traces = c.ntr;
	c.st->events = c.nev;
	c.st->edge_rows = c.ned;
	g_strs = r->strs.p; /* stable now: no more strings until emit */
	qsort(c.ev, c.nev, sizeof(*c.ev), cmp_ev);
	qsort(c.ed, c.ned, sizeof(*c.ed), cmp_edge);
	qsort(c.tr, c.ntr, sizeof(*c.tr), cmp_tr);
	if (!(path = malloc((c.nev + 1) * sizeof(*path)))) {
		rc = WEFT_ENOMEM;
		goto out;
	}
	size_t i = 0, k = 0;
	for (size_t t = 0; t < c.ntr; t++) {
		struct tb_trace *tr = &c.tr[t];
		while (i < c.nev && c.ev[i].task < tr->task)
			c.st->unknown_task_events++, i++;
		tr->ev_lo = i;
		while (i < c.nev && c.ev[i].task == tr->task)
			i++;
		tr->ev_hi = i;
		while (k < c.ned && c.ed[k].task < tr->task)
			k++;
		size_t k0 = k;
		while (k < c.ned && c.ed[k].task == tr->task)
			k++;
		map_trace(&c, tr, k0, k, path);
	}
	c.st->unknown_task_events += c.nev - i;
	rc = emit(&c);
	g_strs = NULL;
out:
	free(path);
	free(c.ev);
	free(c.ed);
	free(c.tr);
	return rc;
}
