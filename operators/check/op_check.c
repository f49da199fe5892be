/*
 * op_check.c — the check operator: every finished trace against the model
 * (operators.h), the anomalies sink, the model watcher for hot swaps, and
 * the end-of-run summary.
 *
 * Per worker: a check scratch (pieces, edit distance state), a trace view,
 * an output buffer for anomaly lines, the model it currently uses (its own
 * reference) and its latency heatmap cells (merged into the config at the
 * end). Shared: the config's counters (atomics) and, under its lock, the
 * current model, anomaly writes (whole lines), and the report data.
 *
 * The hot path is cluster_check(): one filter probe for a known shape.
 * Formatting happens only for anomalies.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cluster/cluster.h"
#include "operators/check/check_int.h"
#include "operators/check/check.h"
#include "operators/check/record.h"
#include "operators/check/learn.h"

static const char *const verdict_names[OP_VERDICT__COUNT] = {
	"none", "normal", "unknown_structure", "slow", "incomplete", "late"};

const char *
op_verdict_name(unsigned v)
{
	return v < OP_VERDICT__COUNT ? verdict_names[v] : "invalid";
}

/* ---- trace view ---------------------------------------------------------- */

void
op_trace_view_free(struct op_trace_view *v)
{
	free(v->label);
	free(v->dur);
	free(v->par_off);
	free(v->par);
	free(v->text);
	memset(v, 0, sizeof *v);
}

int
op_trace_view_fill(struct op_trace_view *v, const struct op_trace *t)
{
	uint32_t n = t->n_events, ne = t->n_edges;
	if (n + 1 > v->cap_n) {
		size_t c = (size_t)n + 1;
		uint64_t *a = realloc(v->label, c * sizeof *a);
		if (a)
			v->label = a;
		uint64_t *d = realloc(v->dur, c * sizeof *d);
		if (d)
			v->dur = d;
		uint32_t *o = realloc(v->par_off, c * sizeof *o);
		if (o)
			v->par_off = o;
		const char **x = realloc(v->text, c * sizeof *x);
		if (x)
			v->text = x;
		if (!a || !d || !o || !x)
			return WEFT_ENOMEM;
		v->cap_n = c;
	}
	if (ne > v->cap_e || !v->par) {
		size_t c = ne ? ne : 1;
		uint32_t *p = realloc(v->par, c * sizeof *p);
		if (!p)
			return WEFT_ENOMEM;
		v->par = p;
		v->cap_e = c;
	}
	const struct op_trace_event *ev = op_trace_events(t);
	const struct op_trace_edge *ed = op_trace_edges(t);
	for (uint32_t i = 0; i < n; i++) {
		v->label[i] = ev[i].label_sym;
		v->text[i] = op_trace_str(t, ev[i].label);
		v->dur[i] = (ev[i].flags & OP_TEV_HAS_END) && ev[i].end_ns >= ev[i].start_ns
		                ? ev[i].end_ns - ev[i].start_ns
		                : UINT64_MAX;
	}
	/* CSR of parents by child */
	memset(v->par_off, 0, ((size_t)n + 1) * sizeof(uint32_t));
	for (uint32_t e = 0; e < ne; e++)
		if (ed[e].child < n && ed[e].parent < n)
			v->par_off[ed[e].child + 1]++;
	for (uint32_t i = 0; i < n; i++)
		v->par_off[i + 1] += v->par_off[i];
	for (uint32_t e = 0; e < ne; e++)
		if (ed[e].child < n && ed[e].parent < n)
			v->par[v->par_off[ed[e].child]++] = ed[e].parent;
	for (uint32_t i = n; i > 0; i--)
		v->par_off[i] = v->par_off[i - 1];
	v->par_off[0] = 0;
	v->dag = (struct cluster_dag){n, v->label, v->par_off, v->par};
	v->in = (struct cluster_trace_in){
		.dag = &v->dag,
		.label_text = v->text,
		.dur_ns = v->dur,
		.duration_ns = t->duration_ns,
		.signature = t->signature,
		.exact = t->exact,
		.symbols = op_trace_symbols(t),
		.n_symbols = n,
	};
	return 0;
}

/* ---- config, model swap ------------------------------------------------- */

/* Fills st from path's identity: device, inode, size, mtime (have = 0
 * when it cannot be read). */
static void
stamp_file(const char *path, struct op_check_stamp *st)
{
	struct stat sb;
	memset(st, 0, sizeof *st);
	if (stat(path, &sb))
		return;
	st->dev = (uint64_t)sb.st_dev;
	st->ino = (uint64_t)sb.st_ino;
	st->size = (uint64_t)sb.st_size;
	st->sec = (uint64_t)sb.st_mtim.tv_sec;
	st->nsec = (uint64_t)sb.st_mtim.tv_nsec;
	st->have = 1;
}

static int
same_stamp(const struct op_check_stamp *a, const struct op_check_stamp *b)
{
	return a->have == b->have && a->dev == b->dev && a->ino == b->ino &&
	       a->size == b->size && a->sec == b->sec && a->nsec == b->nsec;
}

int
op_check_config_init(struct op_check_config *cfg, const char *model_path,
                     char *errstr, size_t errlen)
{
	memset(cfg, 0, sizeof *cfg);
	pthread_mutex_init(&cfg->lock, NULL);
	cfg->model_path = model_path;
	op_peer_config_default(&cfg->peer);
	cfg->report_max = 24;
	cfg->top_max = 10;
	cfg->watch_file = 1;
	cfg->report_heat_cells = 20000;
	cfg->report = calloc(1, sizeof *cfg->report);
	stamp_file(model_path, &cfg->stamp);
	int rc = cfg->report ? cluster_model_load(model_path, &cfg->model, errstr, errlen)
	                     : WEFT_ENOMEM;
	if (rc) {
		/* nothing to destroy after a failure */
		if (!cfg->report)
			snprintf(errstr, errlen, "out of memory");
		free(cfg->report);
		cfg->report = NULL;
		pthread_mutex_destroy(&cfg->lock);
	}
	return rc;
}

static void
report_free(struct op_check_report *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_top; i++)
		free(r->top[i].key);
	free(r->top);
	for (size_t i = 0; i < r->n_items; i++) {
		free(r->items[i].trace);
		free(r->items[i].explanation);
	}
	free(r->items);
	free(r->cells);
	free(r);
}

void
op_check_config_destroy(struct op_check_config *cfg)
{
	op_check_watch_stop(cfg);
	cluster_model_unref(cfg->model);
	cfg->model = NULL;
	report_free(cfg->report);
	cfg->report = NULL;
	op_peer_store_free(cfg->peers);
	cfg->peers = NULL;
	pthread_mutex_destroy(&cfg->lock);
}

void
op_check_request_reload(struct op_check_config *cfg)
{
	atomic_store(&cfg->reload_requested, 1);
}

static void
reload(struct op_check_config *cfg)
{
	char err[512];
	struct cluster_model *m;
	/* stat before load: a file replaced in between is loaded again at the
	 * next look, never missed */
	stamp_file(cfg->model_path, &cfg->stamp);
	if (cluster_model_load(cfg->model_path, &m, err, sizeof err)) {
		atomic_fetch_add(&cfg->reload_errors, 1);
		fprintf(stderr, "weft: model reload refused, keeping the current model: %s\n", err);
		return;
	}
	pthread_mutex_lock(&cfg->lock);
	struct cluster_model *old = cfg->model;
	cfg->model = m;
	atomic_store(&cfg->swap_epoch, atomic_load(&cfg->max_closed) + 2);
	atomic_fetch_add(&cfg->generation, 1);
	pthread_mutex_unlock(&cfg->lock);
	cluster_model_unref(old);
	atomic_fetch_add(&cfg->reloads, 1);
	struct cluster_model_info mi;
	cluster_model_info(m, &mi);
	fprintf(stderr, "weft: model reloaded from %s (%u templates), in use from epoch %" PRIu64 "\n",
	        cfg->model_path, mi.n_templates, atomic_load(&cfg->swap_epoch));
}

/* Polls every 100 ms: a request (SIGHUP, the learning loop) or, with
 * watch_file, a model file other than the one last loaded reloads it. A
 * file that cannot be loaded is tried once per change, not every poll. */
static void *
watcher(void *arg)
{
	struct op_check_config *cfg = arg;
	while (!atomic_load(&cfg->stop_watch)) {
		struct timespec ts = {0, 100 * 1000 * 1000};
		nanosleep(&ts, NULL);
		int changed = 0;
		if (cfg->watch_file) {
			struct op_check_stamp now;
			stamp_file(cfg->model_path, &now);
			changed = now.have && !same_stamp(&now, &cfg->stamp);
		}
		if (atomic_exchange(&cfg->reload_requested, 0) || changed)
			reload(cfg);
	}
	return NULL;
}

int
op_check_watch_start(struct op_check_config *cfg)
{
	if (cfg->watching)
		return 0;
	atomic_store(&cfg->stop_watch, 0);
	if (pthread_create(&cfg->watcher, NULL, watcher, cfg))
		return WEFT_ETHREAD;
	cfg->watching = 1;
	return 0;
}

void
op_check_watch_stop(struct op_check_config *cfg)
{
	if (!cfg->watching)
		return;
	atomic_store(&cfg->stop_watch, 1);
	pthread_join(cfg->watcher, NULL);
	cfg->watching = 0;
}

/* ---- the operator ----------------------------------------------------------- */

struct heat_key {
	uint64_t key; /* tmpl << 40 | start second */
	uint32_t cell;
};

struct check_inst {
	struct op_check_config *cfg;
	struct cluster_model *model;
	uint64_t gen;
	struct cluster_check_scratch *cs;
	struct op_trace_view view;
	struct weft_buf line, out, expl;
	unsigned char *rec;
	size_t rec_cap;
	uint64_t by_verdict[OP_VERDICT__COUNT];
	uint64_t probes, known, errors;
	struct weft_hist latency; /* last event -> verdict, ns */
	struct op_heat_cell *cells;
	size_t n_cells, cap_cells;
	struct heat_key *hk; /* open addressing, cap_hk a power of two */
	size_t cap_hk;
	uint64_t heat_dropped; /* past report_heat_cells */
	struct op_peer_hit hit;    /* what made the current trace slow (peers) */
	struct weft_buf host_recs; /* host anomaly records of an epoch close */
};

static int
check_init(struct engine_ctx *ctx, void *arg, void **state)
{
	struct check_inst *s = calloc(1, sizeof *s);
	if (!s)
		return WEFT_ENOMEM;
	*state = s;
	s->cfg = arg;
	s->hit.node = -1;
	if (!(s->cs = cluster_check_scratch_new()))
		return WEFT_ENOMEM;
	pthread_mutex_lock(&s->cfg->lock);
	s->model = s->cfg->model;
	cluster_model_ref(s->model);
	s->gen = atomic_load(&s->cfg->generation);
	int rc = op_check_peer_init(s->cfg, engine_ctx_workers(ctx));
	pthread_mutex_unlock(&s->cfg->lock);
	cluster_check_scratch_latency(s->cs, !s->cfg->peer.enabled);
	return rc;
}

static struct op_heat_cell *
heat_cell(struct check_inst *s, uint32_t tmpl, uint64_t start_s)
{
	start_s &= (1ull << 40) - 1; /* up to the year 36812 */
	uint64_t key = ((uint64_t)tmpl << 40) | start_s;
	if ((s->n_cells + 1) * 2 > s->cap_hk) {
		size_t nc = s->cap_hk ? s->cap_hk * 2 : 64;
		struct heat_key *nk = malloc(nc * sizeof *nk);
		if (!nk)
			return NULL;
		for (size_t i = 0; i < nc; i++)
			nk[i].cell = UINT32_MAX;
		for (size_t i = 0; i < s->cap_hk; i++) {
			if (s->hk[i].cell == UINT32_MAX)
				continue;
			size_t j = (size_t)(s->hk[i].key * 0x9e3779b97f4a7c15ull) & (nc - 1);
			while (nk[j].cell != UINT32_MAX)
				j = (j + 1) & (nc - 1);
			nk[j] = s->hk[i];
		}
		free(s->hk);
		s->hk = nk;
		s->cap_hk = nc;
	}
	size_t j = (size_t)(key * 0x9e3779b97f4a7c15ull) & (s->cap_hk - 1);
	while (s->hk[j].cell != UINT32_MAX) {
		if (s->hk[j].key == key)
			return &s->cells[s->hk[j].cell];
		j = (j + 1) & (s->cap_hk - 1);
	}
	if (s->n_cells >= s->cfg->report_heat_cells ||
	    WEFT_GROW(s->cells, s->cap_cells, s->n_cells + 1, 16))
		return NULL;
	struct op_heat_cell *c = &s->cells[s->n_cells];
	memset(c, 0, sizeof *c);
	c->tmpl = tmpl;
	c->start_s = start_s;
	s->hk[j] = (struct heat_key){key, (uint32_t)s->n_cells++};
	return c;
}

/* Label text of symbol sym in the trace (a node carrying it), else the
 * model's, else "?". */
static const char *
sym_text(const struct cluster_model *m, const struct op_trace_view *v, uint64_t sym)
{
	for (uint32_t i = 0; i < v->dag.n_nodes; i++)
		if (v->label[i] == sym)
			return v->text[i];
	const char *t = cluster_model_label(m, sym);
	return t ? t : "?";
}

static const char *
tmpl_text(const struct cluster_model *m, const struct op_trace_view *v, uint64_t sym)
{
	const char *t = cluster_model_label(m, sym);
	return t ? t : sym_text(m, v, sym);
}

/* Appends a JSON array of the distinct labels of node i's parents
 * (children = 0) or children (children = 1). */
static int
neighbour_labels(struct weft_buf *b, const struct op_trace_view *v, uint32_t node,
                 int children, struct weft_buf *text)
{
	int rc = weft_buf_printf(b, "[");
	unsigned k = 0;
	const struct cluster_dag *g = &v->dag;
	for (uint32_t c = 0; c < g->n_nodes && !rc; c++)
		for (uint32_t e = g->par_off[c]; e < g->par_off[c + 1] && !rc; e++) {
			uint32_t other;
			if (children ? g->par[e] == node : c == node)
				other = children ? c : g->par[e];
			else
				continue;
			/* distinct: skip if an earlier neighbour had this label */
			int dup = 0;
			for (uint32_t c2 = 0; c2 <= c && !dup; c2++)
				for (uint32_t e2 = g->par_off[c2]; e2 < g->par_off[c2 + 1]; e2++) {
					if (c2 == c && e2 >= e)
						break;
					uint32_t o2;
					if (children ? g->par[e2] == node : c2 == node)
						o2 = children ? c2 : g->par[e2];
					else
						continue;
					if (g->label[o2] == g->label[other]) {
						dup = 1;
						break;
					}
				}
			if (dup)
				continue;
			rc = weft_buf_printf(b, "%s", k ? "," : "");
			rc = rc ? rc : weft_buf_str(b, v->text[other]);
			if (text && !rc)
				rc = weft_buf_printf(text, "%s'%s'", k ? ", " : "", v->text[other]);
			k++;
		}
	if (text && !k && !rc)
		rc = weft_buf_printf(text, "nothing");
	return rc ? rc : weft_buf_printf(b, "]");
}

static const char *
edit_name(int op)
{
	switch (op) {
	case CLUSTER_EDIT_DEL: return "missing";
	case CLUSTER_EDIT_INS: return "extra";
	case CLUSTER_EDIT_SUB: return "substituted";
	default: return "match";
	}
}

#define MAX_EDITS_OUT 20

/* Formats one anomaly: JSON into s->line (with a trailing newline) and the
 * one-line explanation into s->expl; key (the summary's ranking key) into
 * keybuf. */
static int
format_anomaly(struct check_inst *s, const struct cluster_model *m,
               const struct op_trace *t, unsigned verdict,
               const struct cluster_verdict *cv, char *keybuf, size_t keylen)
{
	const struct op_trace_view *v = &s->view;
	struct weft_buf *b = &s->line, *x = &s->expl;
	b->len = x->len = 0;
	keybuf[0] = 0;
	int rc = weft_buf_printf(b,
	    "{\"trace_id\":\"%016" PRIx64 "\",\"verdict\":\"%s\",\"template\":%d,"
	    "\"distance\":%u,\"norm_distance\":%.4f,\"known_shape\":%s,"
	    "\"events\":%u,\"duration_ns\":%" PRIu64 ",\"emit_epoch\":%" PRIu64
	    ",\"signature\":\"%016" PRIx64 "\",\"exact\":\"%016" PRIx64 "\"",
	    t->trace_id, op_verdict_name(verdict), (int)cv->tmpl, cv->distance,
	    cv->norm_distance, cv->known_shape ? "true" : "false", t->n_events,
	    t->duration_ns, t->emit_epoch, t->signature, t->exact);
	/* type, schema, root operation, hosts, clocks, model: record.h */
	rc = rc ? rc : op_record_fields(b, t, "anomaly", (int64_t)s->gen);
	if (verdict == OP_VERDICT_UNKNOWN_STRUCTURE) {
		rc = rc ? rc : weft_buf_printf(b, ",\"new_pieces\":%u,\"new\":[", cv->n_new);
		/* one per distinct new label, sorted (cluster_check); the count of
		 * those not in the explanation is exact */
		uint32_t shown = cv->n_new_labels < CLUSTER_MAX_NEW ? cv->n_new_labels : CLUSTER_MAX_NEW;
		unsigned listed = 0;
		for (uint32_t k = 0; k < shown && !rc; k++) {
			uint32_t node = cv->new_node[k];
			rc = weft_buf_printf(b, "%s{\"label\":", listed ? "," : "");
			rc = rc ? rc : weft_buf_str(b, v->text[node]);
			if (!rc && listed < 3)
				rc = weft_buf_printf(x, "%snew '%s' under ", listed ? "; " : "",
				                   v->text[node]);
			rc = rc ? rc : weft_buf_printf(b, ",\"parents\":");
			rc = rc ? rc : neighbour_labels(b, v, node, 0, listed < 3 ? x : NULL);
			if (!rc && listed < 3)
				rc = weft_buf_printf(x, " (children: ");
			rc = rc ? rc : weft_buf_printf(b, ",\"children\":");
			rc = rc ? rc : neighbour_labels(b, v, node, 1, listed < 3 ? x : NULL);
			if (!rc && listed < 3)
				rc = weft_buf_printf(x, ")");
			rc = rc ? rc : weft_buf_printf(b, "}");
			if (!listed)
				snprintf(keybuf, keylen, "%.*s", (int)x->len, x->p ? x->p : "");
			listed++;
		}
		if (!rc && cv->n_new_labels > 3)
			rc = weft_buf_printf(x, "; %u more new", cv->n_new_labels - 3);
		rc = rc ? rc : weft_buf_printf(b, "],\"edits_total\":%u,\"edits\":[", cv->n_edits);
		struct cluster_template_view tv;
		int have_t = cv->tmpl >= 0 && !cluster_model_template(m, (uint32_t)cv->tmpl, &tv);
		uint32_t shown_e = cv->n_edits < MAX_EDITS_OUT ? cv->n_edits : MAX_EDITS_OUT;
		for (uint32_t k = 0; k < shown_e && !rc && have_t; k++) {
			const struct cluster_edit *ed = &cv->edits[k];
			rc = weft_buf_printf(b, "%s{\"op\":\"%s\"", k ? "," : "", edit_name(ed->op));
			if (!rc && ed->op != CLUSTER_EDIT_INS && ed->ia < tv.n_symbols) {
				rc = weft_buf_printf(b, ",\"template_label\":");
				rc = rc ? rc : weft_buf_str(b, tmpl_text(m, v, tv.symbols[ed->ia]));
				rc = rc ? rc : weft_buf_printf(b, ",\"template_pos\":%u", ed->ia);
			}
			if (!rc && ed->op != CLUSTER_EDIT_DEL && ed->ib < v->in.n_symbols) {
				rc = weft_buf_printf(b, ",\"label\":");
				rc = rc ? rc : weft_buf_str(b, sym_text(m, v, v->in.symbols[ed->ib]));
				rc = rc ? rc : weft_buf_printf(b, ",\"pos\":%u", ed->ib);
			}
			/* where: the label just before, in the template for a missing
			 * one, in the trace otherwise */
			if (!rc && ed->op == CLUSTER_EDIT_DEL && ed->ia > 0) {
				rc = weft_buf_printf(b, ",\"after\":");
				rc = rc ? rc : weft_buf_str(b, tmpl_text(m, v, tv.symbols[ed->ia - 1]));
			} else if (!rc && ed->op != CLUSTER_EDIT_DEL && ed->ib > 0 &&
			           ed->ib <= v->in.n_symbols) {
				rc = weft_buf_printf(b, ",\"after\":");
				rc = rc ? rc : weft_buf_str(b, sym_text(m, v, v->in.symbols[ed->ib - 1]));
			}
			rc = rc ? rc : weft_buf_printf(b, "}");
		}
		rc = rc ? rc : weft_buf_printf(b, "]");
		if (!rc && cv->tmpl >= 0)
			rc = weft_buf_printf(x, "; nearest template %d at edit distance %u (%u edits)",
			                   (int)cv->tmpl, cv->distance, cv->n_edits);
		if (!rc && cv->n_new == 0)
			rc = weft_buf_printf(x, "unknown structure");
	} else if (verdict == OP_VERDICT_SLOW) {
		const char *what = "duration";
		const char *host = "";
		if (!cv->slow_is_duration && cv->slow_node >= 0 &&
		    (uint32_t)cv->slow_node < t->n_events) {
			const struct op_trace_event *ev = op_trace_events(t) + cv->slow_node;
			what = op_trace_str(t, ev->label);
			host = op_trace_str(t, ev->host);
		}
		rc = rc ? rc : weft_buf_printf(b, ",\"slow\":{\"what\":");
		rc = rc ? rc : weft_buf_str(b, what);
		rc = rc ? rc : weft_buf_printf(b, ",\"host\":");
		rc = rc ? rc : weft_buf_str(b, host);
		rc = rc ? rc : weft_buf_printf(b, ",\"value_ns\":%" PRIu64 ",\"threshold_ns\":%" PRIu64 "}",
		                             cv->slow_value_ns, cv->slow_thr_ns);
		if (s->hit.node >= 0)
			rc = rc ? rc : op_peer_format(b, x, t, &s->hit);
		else if (cv->slow_is_duration)
			rc = rc ? rc : weft_buf_printf(x, "slow: trace took %.1f ms, template %d threshold %.1f ms",
			                             (double)cv->slow_value_ns / 1e6, (int)cv->tmpl,
			                             (double)cv->slow_thr_ns / 1e6);
		else
			rc = rc ? rc : weft_buf_printf(x, "slow: '%s' took %.1f ms on %s, threshold %.1f ms",
			                             what, (double)cv->slow_value_ns / 1e6,
			                             host[0] ? host : "its host",
			                             (double)cv->slow_thr_ns / 1e6);
		snprintf(keybuf, keylen, "slow '%s' (template %d)", what, (int)cv->tmpl);
	}
	rc = rc ? rc : weft_buf_printf(b, ",\"explanation\":");
	if (!rc) {
		rc = weft_buf_printf(x, "%s", ""); /* make x->p non-NULL */
		rc = rc ? rc : weft_buf_str(b, x->p);
	}
	rc = rc ? rc : weft_buf_printf(b, "}\n");
	if (!keybuf[0])
		snprintf(keybuf, keylen, "%s", op_verdict_name(verdict));
	return rc;
}

/* Under cfg->lock: ranks the explanation and keeps the trace for the report. */
static void
collect(struct op_check_config *cfg, const struct op_trace *t, unsigned verdict,
        const struct cluster_verdict *cv, const char *key, const char *expl)
{
	struct op_check_report *r = cfg->report;
	size_t i;
	for (i = 0; i < r->n_top; i++)
		if (r->top[i].verdict == verdict && !strcmp(r->top[i].key, key))
			break;
	if (i < r->n_top) {
		r->top[i].n++;
	} else {
		if (WEFT_GROW(r->top, r->cap_top, r->n_top + 1, 16))
			return;
		char *k = strdup(key);
		if (!k)
			return;
		r->top[r->n_top++] = (struct op_check_top){k, verdict, 1};
	}
	/* keep the report_max anomalies with the smallest trace ids: the same
	 * set whatever the worker count or thread timing */
	if (r->n_items >= cfg->report_max) {
		r->items_dropped++;
		size_t worst = 0;
		for (size_t j = 1; j < r->n_items; j++)
			if (r->items[j].trace->trace_id > r->items[worst].trace->trace_id)
				worst = j;
		if (!r->n_items || r->items[worst].trace->trace_id < t->trace_id)
			return;
		free(r->items[worst].trace);
		free(r->items[worst].explanation);
		r->items[worst] = r->items[--r->n_items];
	}
	if (WEFT_GROW(r->items, r->cap_items, r->n_items + 1, 8))
		return;
	struct op_report_item *it = &r->items[r->n_items];
	memset(it, 0, sizeof *it);
	it->trace = malloc(t->size);
	it->explanation = strdup(expl);
	if (!it->trace || !it->explanation) {
		free(it->trace);
		free(it->explanation);
		return;
	}
	memcpy(it->trace, t, t->size);
	it->verdict = verdict;
	it->tmpl = cv->tmpl;
	it->distance = cv->distance;
	it->n_new = cv->n_new_labels < CLUSTER_MAX_NEW ? cv->n_new_labels : CLUSTER_MAX_NEW;
	memcpy(it->new_node, cv->new_node, sizeof it->new_node);
	it->slow_node = cv->kind == CLUSTER_SLOW && !cv->slow_is_duration ? cv->slow_node : -1;
	r->n_items++;
}

/* Hands a checked trace to cfg->observe (the console): cv only when the
 * trace was probed, the anomaly line only for an anomaly. */
static void
observe(struct op_check_config *cfg, unsigned worker, const struct op_trace *o,
        const struct cluster_verdict *cv, const struct check_inst *s,
        unsigned verdict)
{
	int probed = verdict == OP_VERDICT_NORMAL || verdict == OP_VERDICT_SLOW ||
	             verdict == OP_VERDICT_UNKNOWN_STRUCTURE;
	int anomaly = verdict == OP_VERDICT_SLOW ||
	              verdict == OP_VERDICT_UNKNOWN_STRUCTURE;
	cfg->observe(cfg->observe_arg, worker, o, probed ? cv : NULL,
	             anomaly && s->line.len ? s->line.p : NULL,
	             anomaly ? s->line.len : 0);
}

static void
check_batch(void *state, struct engine_ctx *ctx, unsigned port,
            const struct engine_batch *b)
{
	(void)port;
	struct check_inst *s = state;
	struct op_check_config *cfg = s->cfg;
	const struct cluster_model *m = s->model;
	struct engine_batch_cursor c = ENGINE_BATCH_CURSOR_INIT;
	const void *r;
	uint32_t len;
	s->out.len = 0;
	while ((r = engine_batch_next(b, &c, &len))) {
		const struct op_trace *t = r;
		if (len > s->rec_cap) {
			unsigned char *nr = realloc(s->rec, len);
			if (!nr) {
				s->errors++;
				continue;
			}
			s->rec = nr;
			s->rec_cap = len;
		}
		memcpy(s->rec, t, len);
		struct op_trace *o = (struct op_trace *)(void *)s->rec;
		struct cluster_verdict cv;
		memset(&cv, 0, sizeof cv);
		cv.tmpl = -1;
		unsigned verdict;
		if ((t->flags & OP_TRACE_FLUSHED) && cfg->skip_flushed) {
			/* cut short by a stop or a revocation, not finished: its
			 * partition is re-read, and that copy gets the verdict */
			verdict = OP_VERDICT_NONE;
		} else if (t->flags & OP_TRACE_LATE) {
			verdict = OP_VERDICT_LATE;
		} else if (t->flags & (OP_TRACE_INCOMPLETE | OP_TRACE_TRUNCATED)) {
			verdict = OP_VERDICT_INCOMPLETE;
		} else if (op_trace_view_fill(&s->view, t) ||
		           cluster_check(m, s->cs, &s->view.in, &cv)) {
			s->errors++;
			verdict = OP_VERDICT_NONE;
		} else {
			s->hit.node = -1;
			if (cv.kind == CLUSTER_NORMAL && cfg->peers &&
			    op_check_peer_judge(cfg, engine_ctx_worker(ctx), t, b->epoch, m, &cv,
			                        &s->hit, &s->host_recs) < 0)
				s->errors++;
			verdict = cv.kind == CLUSTER_NORMAL ? OP_VERDICT_NORMAL
			          : cv.kind == CLUSTER_SLOW ? OP_VERDICT_SLOW
			                                    : OP_VERDICT_UNKNOWN_STRUCTURE;
			s->probes += cv.probes;
			s->known += cv.known_shape;
			if (cv.tmpl >= 0 && !cfg->no_report) {
				struct op_heat_cell *hc =
				    heat_cell(s, (uint32_t)cv.tmpl, t->start_ns / 1000000000u);
				if (hc)
					cluster_llq_add(&hc->h, t->duration_ns);
				else
					s->heat_dropped++;
			}
		}
		o->verdict = verdict;
		o->tmpl = cv.tmpl;
		o->model_gen = (uint32_t)s->gen + 1;
		if (cfg->learn)
			op_learn_offer(cfg->learn, o, verdict);
		s->by_verdict[verdict]++;
		if (t->last_ns) {
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			uint64_t now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
			weft_hist_add(&s->latency, now > t->last_ns ? now - t->last_ns : 0);
		}
		if (verdict == OP_VERDICT_UNKNOWN_STRUCTURE || verdict == OP_VERDICT_SLOW) {
			char key[256];
			if (format_anomaly(s, m, t, verdict, &cv, key, sizeof key)) {
				s->errors++;
			} else if (cfg->anomaly_write) {
				if (cfg->anomaly_write(cfg->anomaly_arg, engine_ctx_worker(ctx),
				                       t->trace_id, s->line.p, s->line.len))
					atomic_fetch_add(&cfg->write_errors, 1);
			} else {
				pthread_mutex_lock(&cfg->lock);
				if (cfg->anomalies &&
				    fwrite(s->line.p, 1, s->line.len, cfg->anomalies) != s->line.len)
					atomic_fetch_add(&cfg->write_errors, 1);
				if (!cfg->no_report)
					collect(cfg, t, verdict, &cv, key, s->expl.p ? s->expl.p : "");
				pthread_mutex_unlock(&cfg->lock);
			}
		}
		if (cfg->observe)
			observe(cfg, engine_ctx_worker(ctx), o, &cv, s, verdict);
		engine_emit(ctx, 0, b->epoch, o, len);
	}
}

static void
check_close(void *state, struct engine_ctx *ctx, uint64_t epoch)
{
	struct check_inst *s = state;
	struct op_check_config *cfg = s->cfg;
	uint64_t mc = atomic_load(&cfg->max_closed);
	while (epoch > mc && !atomic_compare_exchange_weak(&cfg->max_closed, &mc, epoch))
		;
	if (cfg->peers)
		op_check_peer_close(cfg, engine_ctx_worker(ctx), epoch, s->model, &s->host_recs);
	if (atomic_load(&cfg->generation) == s->gen ||
	    epoch + 1 < atomic_load(&cfg->swap_epoch))
		return;
	pthread_mutex_lock(&cfg->lock);
	struct cluster_model *nm = cfg->model;
	cluster_model_ref(nm);
	s->gen = atomic_load(&cfg->generation);
	pthread_mutex_unlock(&cfg->lock);
	cluster_model_unref(s->model);
	s->model = nm;
}

static void
check_destroy(void *state)
{
	struct check_inst *s = state;
	struct op_check_config *cfg = s->cfg;
	for (unsigned v = 0; v < OP_VERDICT__COUNT; v++)
		atomic_fetch_add(&cfg->by_verdict[v], s->by_verdict[v]);
	atomic_fetch_add(&cfg->probes, s->probes);
	atomic_fetch_add(&cfg->known_shapes, s->known);
	atomic_fetch_add(&cfg->check_errors, s->errors);
	/* heat cells into the report */
	pthread_mutex_lock(&cfg->lock);
	weft_hist_merge(&cfg->verdict_latency_ns, &s->latency);
	struct op_check_report *r = cfg->report;
	if (r && s->n_cells) {
		if (WEFT_GROW(r->cells, r->cap_cells, r->n_cells + s->n_cells, 64)) {
			for (size_t i = 0; i < s->n_cells; i++)
				r->heat_dropped += s->cells[i].h.n;
		} else {
			memcpy(r->cells + r->n_cells, s->cells, s->n_cells * sizeof *s->cells);
			r->n_cells += s->n_cells;
		}
	}
	if (r)
		r->heat_dropped += s->heat_dropped;
	pthread_mutex_unlock(&cfg->lock);
	cluster_model_unref(s->model);
	cluster_check_scratch_free(s->cs);
	op_trace_view_free(&s->view);
	free(s->line.p);
	free(s->out.p);
	free(s->expl.p);
	free(s->host_recs.p);
	free(s->rec);
	free(s->cells);
	free(s->hk);
	free(s);
}

const struct engine_op_vtable op_check_vtable = {
	.init = check_init,
	.on_batch = check_batch,
	.on_epoch_close = check_close,
	.destroy = check_destroy,
};

/* ---- summary -------------------------------------------------------------- */

static int
cmp_top(const void *a, const void *b)
{
	const struct op_check_top *x = a, *y = b;
	if (x->n != y->n)
		return x->n > y->n ? -1 : 1;
	return strcmp(x->key, y->key);
}

void
op_check_print_summary(struct op_check_config *cfg, FILE *f)
{
	uint64_t total = 0;
	for (unsigned v = 1; v < OP_VERDICT__COUNT; v++)
		total += atomic_load(&cfg->by_verdict[v]);
	struct cluster_model_info mi;
	cluster_model_info(cfg->model, &mi);
	/* a model's filter is often under a KiB: its bytes, not "0 KiB" */
	int kib = mi.filter_bytes >= 10240;
	fprintf(f, "  model             %s: %u templates from %" PRIu64 " traces (%" PRIu64
	           " shapes, %" PRIu64 " pieces), filter %" PRIu64 " %s at fpr %.2g\n",
	        cfg->model_path, mi.n_templates, mi.traces, mi.shapes, mi.pieces,
	        kib ? mi.filter_bytes / 1024 : mi.filter_bytes, kib ? "KiB" : "bytes",
	        mi.filter_fpr);
	fprintf(f, "  verdicts          %" PRIu64 " traces checked\n", total);
	pthread_mutex_lock(&cfg->lock);
	fprintf(f, "  verdict latency   p50 %.1f ms, p99 %.1f ms, max %.1f ms (last event -> verdict)\n",
	        (double)weft_hist_quantile(&cfg->verdict_latency_ns, 0.5) / 1e6,
	        (double)weft_hist_quantile(&cfg->verdict_latency_ns, 0.99) / 1e6,
	        (double)cfg->verdict_latency_ns.max / 1e6);
	pthread_mutex_unlock(&cfg->lock);
	for (unsigned v = 1; v < OP_VERDICT__COUNT; v++)
		fprintf(f, "    %-18s %" PRIu64 " (%.2f %%)\n", op_verdict_name(v),
		        atomic_load(&cfg->by_verdict[v]),
		        total ? 100.0 * (double)atomic_load(&cfg->by_verdict[v]) / (double)total : 0.0);
	uint64_t checked = atomic_load(&cfg->by_verdict[OP_VERDICT_NORMAL]) +
	                   atomic_load(&cfg->by_verdict[OP_VERDICT_SLOW]) +
	                   atomic_load(&cfg->by_verdict[OP_VERDICT_UNKNOWN_STRUCTURE]);
	fprintf(f, "  filter probes     %" PRIu64 " (%.1f per checked trace; %" PRIu64
	           " known shapes on the fast path)\n",
	        atomic_load(&cfg->probes),
	        checked ? (double)atomic_load(&cfg->probes) / (double)checked : 0.0,
	        atomic_load(&cfg->known_shapes));
	if (atomic_load(&cfg->reloads) || atomic_load(&cfg->reload_errors))
		fprintf(f, "  model reloads     %" PRIu64 " (%" PRIu64 " refused)\n",
		        atomic_load(&cfg->reloads), atomic_load(&cfg->reload_errors));
	op_check_peer_summary(cfg, f);
	if (atomic_load(&cfg->check_errors))
		fprintf(f, "  check errors      %" PRIu64 "\n", atomic_load(&cfg->check_errors));
	struct op_check_report *r = cfg->report;
	if (!r || !r->n_top)
		return;
	qsort(r->top, r->n_top, sizeof *r->top, cmp_top);
	fprintf(f, "  top explanations\n");
	for (size_t i = 0; i < r->n_top && i < cfg->top_max; i++)
		fprintf(f, "    %6" PRIu64 "  %-17s %s\n", r->top[i].n,
		        op_verdict_name(r->top[i].verdict), r->top[i].key);
}
