/*
 * sim_run.c — a run's lifetime and its files: JSON lines out and in, and
 * the ground-truth TSV.
 *
 * Output goes through one reusable buffer flushed in 1 MiB chunks, so
 * writing a run costs one fwrite per megabyte, not one per event.
 *
 * Input goes through weft's own ingest path, not a reader of the
 * simulator's: zlib's gzread (plain files pass through as they are, so a
 * .jsonl.gz works wherever a .jsonl does) feeds the line splitter and the
 * X-Trace v4 JSON decoder of operators/ingest/decode.h, and each decoded
 * op_event is mapped onto the run. So the simulator learns from exactly
 * what `weft replay` would ingest, and one JSON reader is kept honest by
 * its fuzz target and benchmark. The decoder is given the widest limits it
 * allows (sim_decoder_new): a recorded file is input we chose, not a
 * stream to defend. The first line the decoder rejects fails the read
 * with WEFT_EFORMAT, and err names its line and the decoder's reason (a
 * lenient reader would let a broken file train a model silently).
 *
 * Mapping: Title and Description, which the decoder keeps as key/value
 * pairs, become the trace's title (from its first event) and the event's
 * description; absent texts are "". The decoder drops a repeated parent id
 * (a run never has one: importers and generators give at most one parent).
 * Strings are copied into the run's arena per event (no interning), as
 * importers do.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "operators/ingest/decode.h"
#include "simulator/sim_internal.h"

void
sim_run_init(struct sim_run *r)
{
	memset(r, 0, sizeof(*r));
}

void
sim_run_free(struct sim_run *r)
{
	free(r->ev);
	free(r->parents);
	free(r->tr);
	sim_buf_free(&r->strs);
	memset(r, 0, sizeof(*r));
}

int
sim_run_write_jsonl(const struct sim_run *r, const char *path)
{
	void *vbuf;
	FILE *f = sim_out_open(path, &vbuf);
	if (!f)
		return WEFT_EIO;
	struct sim_buf b = {0};
	int rc = 0;
	for (size_t i = 0; i < r->nev && !rc; i++) {
		rc = sim_json_event(&b, r, &r->ev[i]);
		if (!rc && (b.len >= (1u << 20) || i + 1 == r->nev)) {
			if (fwrite(b.p, 1, b.len, f) != b.len)
				rc = WEFT_EIO;
			b.len = 0;
		}
	}
	sim_buf_free(&b);
	return sim_out_close(f, vbuf, rc);
}

int
sim_run_write_truth(const struct sim_run *r, const char *path)
{
	void *vbuf;
	FILE *f = sim_out_open(path, &vbuf);
	if (!f)
		return WEFT_EIO;
	int rc = 0;
	for (size_t t = 0; t < r->ntr; t++) {
		const struct sim_trace *tr = &r->tr[t];
		if (fprintf(f, "%016llX\t%s\t%s\t%s\n",
		    (unsigned long long)tr->task,
		    tr->failure ? "failure" : "normal", sim_str(r, tr->kind),
		    sim_str(r, tr->title)) < 0) {
			rc = WEFT_EIO;
			break;
		}
	}
	return sim_out_close(f, vbuf, rc);
}

/* ---- JSON lines in ----------------------------------------------------- */

int
sim_decoder_new(const char *source, struct op_decoder **out)
{
	struct op_decode_config cfg;
	op_decode_config_default(&cfg);
	cfg.max_line_bytes = 1u << 20; /* > any line of a 64 KiB record */
	cfg.max_record_bytes = OP_EVENT_MAX_BYTES;
	cfg.max_field_bytes = OP_EVENT_MAX_BYTES;
	cfg.max_parents = 4096;
	cfg.max_kv = 4096;
	return op_decoder_new(OP_FORMAT_JSON_V4, &cfg, source, NULL, out);
}

/*
 * Task map: open addressing from TaskID to trace index, so that reading a
 * file of interleaved traces costs O(1) per line. vals[i] == UINT32_MAX
 * marks an empty slot; at most half the slots are taken.
 */
struct taskmap {
	uint64_t *keys;
	uint32_t *vals;
	size_t cap, n;
};

static size_t
tm_slot(const struct taskmap *m, uint64_t k)
{
	uint64_t h = k * 0x9e3779b97f4a7c15ULL;
	size_t i = (size_t)(h >> 20) & (m->cap - 1);
	while (m->vals[i] != UINT32_MAX && m->keys[i] != k)
		i = (i + 1) & (m->cap - 1);
	return i;
}

static int
tm_rehash(struct taskmap *m, size_t cap)
{
	struct taskmap n = {calloc(cap, 8), malloc(cap * 4), cap, m->n};
	if (!n.keys || !n.vals) {
		free(n.keys);
		free(n.vals);
		return WEFT_ENOMEM;
	}
	memset(n.vals, 0xff, cap * 4);
	for (size_t i = 0; i < m->cap; i++) {
		if (m->vals[i] == UINT32_MAX)
			continue;
		size_t s = tm_slot(&n, m->keys[i]);
		n.keys[s] = m->keys[i];
		n.vals[s] = m->vals[i];
	}
	free(m->keys);
	free(m->vals);
	*m = n;
	return 0;
}

/* What reading one file carries from line to line. */
struct jsonl_in {
	struct sim_run *r;
	struct op_decoder *d;
	struct taskmap tm;
	uint32_t empty, none;  /* offsets of "" and "none" in r->strs */
	struct op_pos bad;     /* where the rejected line starts */
	int rejected;          /* a line was rejected: the read stops */
};

/* Find or add the trace of task (a new one gets kind "none", no title). */
static int
find_trace(struct jsonl_in *x, uint64_t task, uint32_t *idx, int *fresh)
{
	struct taskmap *m = &x->tm;
	struct sim_run *r = x->r;
	int rc;
	if ((m->n + 1) * 2 > m->cap &&
	    (rc = tm_rehash(m, m->cap ? m->cap * 2 : 64)))
		return rc;
	size_t s = tm_slot(m, task);
	*fresh = m->vals[s] == UINT32_MAX;
	if (*fresh) {
		if ((rc = sim_grow((void **)&r->tr, &r->trcap, r->ntr + 1,
		    sizeof(*r->tr))))
			return rc;
		memset(&r->tr[r->ntr], 0, sizeof(r->tr[0]));
		r->tr[r->ntr].task = task;
		r->tr[r->ntr].title = x->empty;
		r->tr[r->ntr].kind = x->none;
		m->keys[s] = task;
		m->vals[s] = (uint32_t)r->ntr++;
		m->n++;
	}
	*idx = m->vals[s];
	return 0;
}

/* s[0..n) into the arena (NULL or empty: the shared ""). */
static int
put_text(struct jsonl_in *x, const char *s, size_t n, uint32_t *off)
{
	if (!s || !n) {
		*off = x->empty;
		return 0;
	}
	return sim_buf_addstr(&x->r->strs, s, n, off);
}

/* Appends one decoded event to the run (see the top of the file). */
static int
add_event(struct jsonl_in *x, const struct op_event *ev)
{
	static const enum op_event_field fld[] = {OP_EV_HOST, OP_EV_AGENT,
	    OP_EV_LABEL};
	struct sim_run *r = x->r;
	struct sim_event e;
	uint32_t *dst[] = {&e.host, &e.agent, &e.label};
	const char *s;
	size_t n;
	int rc, fresh;
	memset(&e, 0, sizeof(e));
	e.task = ev->trace_id;
	e.id = (int64_t)ev->event_id;
	e.ts_ms = ev->wall_ms;
	e.hrt = (int64_t)ev->start_ns;
	e.end_hrt = ev->flags & OP_EV_HAS_END ? (int64_t)ev->end_ns : 0;
	if ((rc = sim_grow((void **)&r->ev, &r->evcap, r->nev + 1,
	    sizeof(*r->ev))) ||
	    (rc = sim_grow((void **)&r->parents, &r->parcap,
	    r->npar + ev->n_parents, sizeof(*r->parents))))
		return rc;
	for (int i = 0; i < 3; i++) {
		s = op_event_field(ev, fld[i], &n);
		if ((rc = put_text(x, s, n, dst[i])))
			return rc;
	}
	s = op_event_kv_find(ev, "Description", 11, &n);
	if ((rc = put_text(x, s, n, &e.desc)) ||
	    (rc = find_trace(x, e.task, &e.trace, &fresh)))
		return rc;
	struct sim_trace *t = &r->tr[e.trace];
	if (fresh) {
		t->first_seen_ms = e.ts_ms;
		s = op_event_kv_find(ev, "Title", 5, &n);
		if ((rc = put_text(x, s, n, &t->title)))
			return rc;
	}
	t->count++;
	if (sim_desc_is_failure(sim_str(r, e.desc)))
		t->failure = 1;
	const uint64_t *par = op_event_parents(ev);
	e.par_off = (uint32_t)r->npar;
	e.npar = ev->n_parents;
	for (uint32_t i = 0; i < e.npar; i++)
		r->parents[r->npar++] = (int64_t)par[i];
	r->ev[r->nev++] = e;
	return 0;
}

static int
on_event(void *arg, const struct op_event *ev, uint32_t len)
{
	(void)len;
	return add_event(arg, ev);
}

/* Splitter callback: decode one line; a rejected one stops the read. */
static int
on_line(void *arg, const struct op_unit *u)
{
	struct jsonl_in *x = arg;
	uint64_t rejected = op_decoder_stats(x->d)->rejected;
	int rc = op_decoder_unit(x->d, u, on_event, x);
	if (!rc && op_decoder_stats(x->d)->rejected != rejected) {
		x->bad = u->pos;
		x->rejected = 1;
		rc = WEFT_EFORMAT;
	}
	return rc;
}

int
sim_run_read_jsonl(struct sim_run *r, const char *path, char *err,
    size_t errlen)
{
	struct jsonl_in x = {.r = r};
	struct op_splitter *sp = NULL;
	enum { CHUNK = 1 << 17 };
	if (err && errlen)
		err[0] = '\0';
	gzFile g = gzopen(path, "rb");
	if (!g)
		return WEFT_EIO;
	char *chunk = malloc(CHUNK);
	int rc = chunk ? sim_decoder_new(path, &x.d) : WEFT_ENOMEM, got = 0;
	if (!rc)
		rc = op_splitter_new(OP_SPLIT_LINES,
		    op_decoder_config(x.d)->max_line_bytes, &sp);
	if (!rc && !(rc = sim_buf_addstr(&r->strs, "", 0, &x.empty)))
		rc = sim_buf_addstr(&r->strs, "none", 4, &x.none);
	while (!rc && (got = gzread(g, chunk, CHUNK)) > 0)
		rc = op_splitter_feed(sp, chunk, (size_t)got, on_line, &x);
	int zerr = 0;
	gzerror(g, &zerr);
	if (!rc && (got < 0 || zerr < 0))
		rc = WEFT_EIO;
	if (!rc)
		rc = op_splitter_finish(sp, on_line, &x);
	if (x.rejected && err && errlen)
		snprintf(err, errlen, "line %llu: %s",
		    (unsigned long long)x.bad.line,
		    op_reject_name(op_decoder_last_reject(x.d)));
	gzclose(g);
	free(chunk);
	op_splitter_free(sp);
	op_decoder_free(x.d);
	free(x.tm.keys);
	free(x.tm.vals);
	return rc;
}
