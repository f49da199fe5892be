/*
 * console_api.c — the JSON answers behind the console's panels
 * (docs/CONSOLE.md documents each): the summary, lists and search of the
 * kept traces, one trace with its drawing against its nearest template,
 * per-template latency heatmaps over wall-clock seconds, the rate panels
 * and the model in use.
 *
 * Each answer is built under the console's lock from bounded stores (at
 * most the rings' size in records, heat_seconds columns), except the
 * drawings: the trace is copied out under the lock and drawn outside it
 * with a reference to the current model (op_report_pair.c, the report's
 * drawing code). Every answer carries "schema_version"; the schemas are
 * docs/schema/api-*.json.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "operators/check/peer.h"
#include "operators/output/console_int.h"
#include "operators/output/report_int.h"

#define CON_SCHEMA_VERSION 1
#define LIST_DEFAULT 100
#define LIST_MAX 1000

/* ---- filters -------------------------------------------------------------- */

struct filter {
	int verdict;            /* -1: any */
	int has_tmpl;
	int32_t tmpl;
	char id[17];            /* hex prefix, lower case; "" any */
	const char *host, *op;  /* substrings; NULL any */
	uint64_t since_s, until_s, after;
	uint32_t limit;
};

static int
parse_u64(const char *s, uint64_t *out)
{
	char *end;
	if (!s || !*s || *s == '-' || *s == '+')
		return WEFT_EINVAL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end)
		return WEFT_EINVAL;
	*out = v;
	return 0;
}

static int
filter_parse(const struct con_query *q, struct filter *f)
{
	memset(f, 0, sizeof *f);
	f->verdict = -1;
	f->until_s = UINT64_MAX;
	f->limit = LIST_DEFAULT;
	const char *v = con_arg(q, "verdict");
	if (v && *v) {
		for (unsigned k = 1; k < OP_VERDICT__COUNT && f->verdict < 0; k++)
			if (!strcmp(v, op_verdict_name(k)))
				f->verdict = (int)k;
		if (f->verdict < 0)
			return WEFT_EINVAL;
	}
	if ((v = con_arg(q, "template")) && *v) {
		uint64_t t;
		if (!strcmp(v, "-1"))
			f->tmpl = -1;
		else if (parse_u64(v, &t) || t > INT32_MAX)
			return WEFT_EINVAL;
		else
			f->tmpl = (int32_t)t;
		f->has_tmpl = 1;
	}
	if ((v = con_arg(q, "trace_id")) && *v) {
		size_t n = strlen(v);
		if (n > 16)
			return WEFT_EINVAL;
		for (size_t i = 0; i < n; i++) {
			char ch = v[i] >= 'A' && v[i] <= 'F' ? (char)(v[i] - 'A' + 'a') : v[i];
			if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')))
				return WEFT_EINVAL;
			f->id[i] = ch;
		}
	}
	if ((v = con_arg(q, "host")) && *v)
		f->host = v;
	if ((v = con_arg(q, "operation")) && *v)
		f->op = v;
	uint64_t n;
	if ((v = con_arg(q, "since")) && *v && parse_u64(v, &f->since_s))
		return WEFT_EINVAL;
	if ((v = con_arg(q, "until")) && *v && parse_u64(v, &f->until_s))
		return WEFT_EINVAL;
	if ((v = con_arg(q, "after")) && *v && parse_u64(v, &f->after))
		return WEFT_EINVAL;
	if ((v = con_arg(q, "limit")) && *v) {
		if (parse_u64(v, &n) || n < 1 || n > LIST_MAX)
			return WEFT_EINVAL;
		f->limit = (uint32_t)n;
	}
	return 0;
}

static int
filter_match(const struct filter *f, const struct con_rec *r)
{
	const struct op_trace *t = r->trace;
	if (r->seq <= f->after)
		return 0;
	if (f->verdict >= 0 && r->verdict != (uint32_t)f->verdict)
		return 0;
	if (f->has_tmpl && r->tmpl != f->tmpl)
		return 0;
	uint64_t s = r->wall_ns / 1000000000ull;
	if (s < f->since_s || s > f->until_s)
		return 0;
	if (f->id[0]) {
		char hex[17];
		snprintf(hex, sizeof hex, "%016" PRIx64, t->trace_id);
		if (strncmp(hex, f->id, strlen(f->id)))
			return 0;
	}
	if (f->op && (!r->root_op || !strstr(op_trace_str(t, r->root_op), f->op)))
		return 0;
	if (f->host) {
		uint32_t k, n = r->n_hosts < CON_HOSTS ? r->n_hosts : CON_HOSTS;
		for (k = 0; k < n && !strstr(op_trace_str(t, r->host[k]), f->host); k++)
			;
		if (k == n)
			return 0;
	}
	return 1;
}

/* ---- records -------------------------------------------------------------- */

int
con_rec_json(struct weft_buf *out, const struct con_rec *r)
{
	const struct op_trace *t = r->trace;
	int rc = weft_buf_printf(out,
	    "{\"seq\":%" PRIu64 ",\"trace_id\":\"%016" PRIx64 "\",\"verdict\":\"%s\","
	    "\"template\":%d,\"distance\":%u,\"events\":%u,\"duration_ns\":%" PRIu64
	    ",\"verdict_time_ns\":%" PRIu64 ",\"start_ns\":%" PRIu64 ",\"end_ns\":%" PRIu64
	    ",\"new_pieces\":%u,\"root_operation\":",
	    r->seq, t->trace_id, op_verdict_name(r->verdict), (int)r->tmpl, r->distance,
	    t->n_events, t->duration_ns, r->wall_ns, t->start_ns, t->end_ns, r->n_new);
	if (!rc)
		rc = r->root_op ? weft_buf_str(out, op_trace_str(t, r->root_op))
		                : weft_buf_printf(out, "null");
	rc = rc ? rc : weft_buf_printf(out, ",\"hosts_total\":%u,\"hosts\":[", r->n_hosts);
	uint32_t n = r->n_hosts < CON_HOSTS ? r->n_hosts : CON_HOSTS;
	for (uint32_t k = 0; !rc && k < n; k++) {
		rc = k ? weft_buf_printf(out, ",") : 0;
		rc = rc ? rc : weft_buf_str(out, op_trace_str(t, r->host[k]));
	}
	rc = rc ? rc : weft_buf_printf(out, "]");
	if (!rc && r->line)
		rc = weft_buf_printf(out, ",\"anomaly\":%s", r->line);
	return rc ? rc : weft_buf_printf(out, "}");
}

int
con_api_summary(struct op_console *c, struct weft_buf *out)
{
	pthread_mutex_lock(&c->mu);
	/* the totals, and what the workers counted since the last tick */
	uint64_t traces = c->tot_traces, events = c->tot_events;
	uint64_t verdict[OP_VERDICT__COUNT];
	memcpy(verdict, c->tot_verdict, sizeof verdict);
	for (unsigned w = 0; w < c->workers; w++) {
		struct con_slot *s = &c->slots[w];
		pthread_mutex_lock(&s->mu);
		traces += s->traces;
		events += s->events;
		for (unsigned v = 0; v < OP_VERDICT__COUNT; v++)
			verdict[v] += s->by_verdict[v];
		pthread_mutex_unlock(&s->mu);
	}
	int rc = weft_buf_printf(out,
	    "{\"schema_version\":%d,\"started_ns\":%" PRIu64 ",\"traces\":%" PRIu64
	    ",\"events\":%" PRIu64 ",\"seq\":%" PRIu64 ",\"anomalies_kept\":%u,"
	    "\"normal_kept\":%u,\"store_bytes\":%" PRIu64 ",\"heat_seconds\":%u,"
	    "\"verdicts\":{",
	    CON_SCHEMA_VERSION, c->started_ns, traces, events, c->seq,
	    c->anom.n, c->norm.n, c->store_bytes, c->cfg.heat_seconds);
	for (unsigned v = 1; !rc && v < OP_VERDICT__COUNT; v++)
		rc = weft_buf_printf(out, "%s\"%s\":%" PRIu64, v > 1 ? "," : "",
		                     op_verdict_name(v), verdict[v]);
	pthread_mutex_unlock(&c->mu);
	return rc ? rc : weft_buf_printf(out, "}}");
}

int
con_api_list(struct op_console *c, const struct con_query *q, int anomalies_only,
             struct weft_buf *out)
{
	struct filter f;
	if (filter_parse(q, &f))
		return WEFT_EINVAL;
	int rc = weft_buf_printf(out, "{\"schema_version\":%d,\"traces\":[", CON_SCHEMA_VERSION);
	pthread_mutex_lock(&c->mu);
	/* newest first over both rings: merge by seq */
	uint32_t ia = c->anom.n, in = anomalies_only ? 0 : c->norm.n, shown = 0;
	while (!rc && shown < f.limit && (ia || in)) {
		const struct con_rec *a = ia ? con_ring_at(&c->anom, ia - 1) : NULL;
		const struct con_rec *n = in ? con_ring_at(&c->norm, in - 1) : NULL;
		const struct con_rec *r;
		if (a && (!n || a->seq > n->seq)) {
			r = a;
			ia--;
		} else {
			r = n;
			in--;
		}
		if (r->seq <= f.after)
			break; /* everything older is older still */
		if (!filter_match(&f, r))
			continue;
		rc = shown++ ? weft_buf_printf(out, ",") : 0;
		rc = rc ? rc : con_rec_json(out, r);
	}
	uint64_t seq = c->seq;
	pthread_mutex_unlock(&c->mu);
	return rc ? rc : weft_buf_printf(out, "],\"seq\":%" PRIu64 "}", seq);
}

/* A reference to the check's current model (NULL: none); unref after. */
static struct cluster_model *
model_ref(struct op_console *c)
{
	pthread_mutex_lock(&c->check->lock);
	struct cluster_model *m = c->check->model;
	if (m)
		cluster_model_ref(m);
	pthread_mutex_unlock(&c->check->lock);
	return m;
}

/* f's text so far as a JSON string, then f closed. */
static int
memstream_str(struct weft_buf *out, FILE *f, char **p, size_t *n)
{
	(void)n; /* open_memstream's length; the text is NUL-terminated */
	if (fclose(f))
		return WEFT_ENOMEM;
	int rc = weft_buf_str(out, *p ? *p : "");
	free(*p);
	return rc;
}

static int
draw_rec(struct weft_buf *out, struct cluster_model *m, const struct con_rec *r)
{
	char *p = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&p, &n);
	if (!f)
		return WEFT_ENOMEM;
	struct op_trace_view view;
	memset(&view, 0, sizeof view);
	struct report_pair pair = {
		.trace = r->trace, .tmpl = r->tmpl, .n_new = r->n_new,
		.new_node = r->new_node, .slow_node = r->slow_node,
		.caption = r->line ? "anomalous trace" : "trace",
	};
	report_draw_pair(f, m, &pair, 0, &view);
	op_trace_view_free(&view);
	return memstream_str(out, f, &p, &n);
}

int
con_api_trace(struct op_console *c, const char *hex, struct weft_buf *out)
{
	char *end;
	errno = 0;
	if (!hex || !*hex || strlen(hex) > 16 || *hex == '-' || *hex == '+')
		return WEFT_EINVAL;
	uint64_t id = strtoull(hex, &end, 16);
	if (errno || *end)
		return WEFT_EINVAL;
	struct con_rec r;
	memset(&r, 0, sizeof r);
	int rc = WEFT_ENOTFOUND;
	pthread_mutex_lock(&c->mu);
	const struct con_ring *rings[2] = {&c->anom, &c->norm};
	for (unsigned g = 0; g < 2 && rc == WEFT_ENOTFOUND; g++)
		for (uint32_t i = rings[g]->n; i-- > 0;) {
			const struct con_rec *x = con_ring_at(rings[g], i);
			if (x->trace->trace_id != id)
				continue;
			r = *x;
			r.trace = malloc(x->trace->size);
			r.line = x->line ? strdup(x->line) : NULL;
			rc = !r.trace || (x->line && !r.line) ? WEFT_ENOMEM : 0;
			if (r.trace)
				memcpy(r.trace, x->trace, x->trace->size);
			break;
		}
	pthread_mutex_unlock(&c->mu);
	if (!rc)
		rc = weft_buf_printf(out, "{\"schema_version\":%d,\"record\":", CON_SCHEMA_VERSION);
	rc = rc ? rc : con_rec_json(out, &r);
	rc = rc ? rc : weft_buf_printf(out, ",\"trace\":");
	rc = rc ? rc : op_trace_json(out, r.trace, 1);
	rc = rc ? rc : weft_buf_printf(out, ",\"drawing\":");
	if (!rc) {
		struct cluster_model *m = model_ref(c);
		rc = draw_rec(out, m, &r);
		cluster_model_unref(m);
	}
	rc = rc ? rc : weft_buf_printf(out, "}");
	free(r.trace);
	free(r.line);
	return rc;
}

/* ---- heatmaps and rates ---------------------------------------------------- */

/* Columns to show (the newest last): [first, n_cols). */
static uint64_t
first_col(const struct op_console *c, const struct con_query *q)
{
	uint64_t last = c->cfg.heat_seconds, v;
	const char *s = con_arg(q, "last");
	if (s && !parse_u64(s, &v) && v && v < last)
		last = v;
	return c->n_cols > last ? c->n_cols - last : 0;
}

static int
heat_template(struct op_console *c, struct weft_buf *out, uint32_t t, uint64_t c0,
              const struct cluster_model *m, int comma)
{
	size_t cells = (size_t)c->cfg.heat_templates * CON_HB;
	uint64_t total = 0;
	for (uint64_t k = c0; k < c->n_cols; k++)
		for (unsigned b = 0; b < CON_HB; b++)
			total += c->heat[(k % c->cfg.heat_seconds) * cells + (size_t)t * CON_HB + b];
	if (!total)
		return 0;
	struct cluster_template_view tv;
	uint64_t thr = m && !cluster_model_template(m, t, &tv) ? tv.duration_thr_ns : 0;
	int rc = weft_buf_printf(out, "%s{\"template\":%u,\"threshold_ns\":%" PRIu64
	                         ",\"total\":%" PRIu64 ",\"cells\":[",
	                         comma ? "," : "", t, thr, total);
	int first = 1;
	for (uint64_t k = c0; !rc && k < c->n_cols; k++)
		for (unsigned b = 0; !rc && b < CON_HB; b++) {
			uint32_t n = c->heat[(k % c->cfg.heat_seconds) * cells + (size_t)t * CON_HB + b];
			if (!n)
				continue;
			rc = weft_buf_printf(out, "%s[%" PRIu64 ",%u,%u]", first ? "" : ",",
			                     c->cols[k % c->cfg.heat_seconds].t, b, n);
			first = 0;
		}
	return rc ? rc : weft_buf_printf(out, "]}");
}

int
con_api_heatmap(struct op_console *c, const struct con_query *q, struct weft_buf *out)
{
	struct cluster_model *m = model_ref(c);
	int rc = weft_buf_printf(out, "{\"schema_version\":%d,\"bucket_lo_ns\":[",
	                         CON_SCHEMA_VERSION);
	for (unsigned b = 0; !rc && b < CON_HB; b++)
		rc = weft_buf_printf(out, "%s%llu", b ? "," : "",
		                     b ? 1ull << (CON_HB_LO + b) : 0ull);
	pthread_mutex_lock(&c->mu);
	uint64_t c0 = first_col(c, q);
	rc = rc ? rc : weft_buf_printf(out, "],\"columns\":[");
	for (uint64_t k = c0; !rc && k < c->n_cols; k++)
		rc = weft_buf_printf(out, "%s%" PRIu64, k > c0 ? "," : "",
		                     c->cols[k % c->cfg.heat_seconds].t);
	rc = rc ? rc : weft_buf_printf(out, "],\"templates\":[");
	size_t before = out->len;
	for (uint32_t t = 0; !rc && t < c->cfg.heat_templates; t++)
		rc = heat_template(c, out, t, c0, m, out->len > before);
	rc = rc ? rc : weft_buf_printf(out, "],\"overflow\":%" PRIu64 "}", c->heat_over);
	pthread_mutex_unlock(&c->mu);
	cluster_model_unref(m);
	return rc;
}

int
con_api_rates(struct op_console *c, const struct con_query *q, struct weft_buf *out)
{
	int rc = weft_buf_printf(out, "{\"schema_version\":%d,\"interval_s\":1,\"samples\":[",
	                         CON_SCHEMA_VERSION);
	pthread_mutex_lock(&c->mu);
	uint64_t c0 = first_col(c, q);
	for (uint64_t k = c0; !rc && k < c->n_cols; k++) {
		const struct con_col *x = &c->cols[k % c->cfg.heat_seconds];
		rc = weft_buf_printf(out, "%s{\"t\":%" PRIu64 ",\"events\":%" PRIu64
		    ",\"traces\":%" PRIu64 ",\"rss_bytes\":%" PRIu64 ",\"store_bytes\":%" PRIu64
		    ",\"open_traces\":%" PRIu64 ",\"open_bytes\":%" PRIu64 ",\"verdicts\":{",
		    k > c0 ? "," : "", x->t, x->events, x->traces, x->rss_bytes,
		    x->store_bytes, x->g.open_traces, x->g.open_bytes);
		for (unsigned v = 1; !rc && v < OP_VERDICT__COUNT; v++)
			rc = weft_buf_printf(out, "%s\"%s\":%" PRIu64, v > 1 ? "," : "",
			                     op_verdict_name(v), x->by_verdict[v]);
		rc = rc ? rc : weft_buf_printf(out, "},\"lag\":[");
		for (uint32_t i = 0; !rc && i < x->g.n_lag && i < CON_LAG; i++)
			rc = weft_buf_printf(out, "%s{\"partition\":%d,\"lag\":%" PRId64 "}",
			                     i ? "," : "", (int)x->g.lag[i].partition, x->g.lag[i].lag);
		rc = rc ? rc : weft_buf_printf(out, "]}");
	}
	pthread_mutex_unlock(&c->mu);
	return rc ? rc : weft_buf_printf(out, "]}");
}

/* ---- the model ------------------------------------------------------------- */

int
con_api_model(struct op_console *c, struct weft_buf *out)
{
	struct cluster_model *m = model_ref(c);
	uint64_t gen = atomic_load(&c->check->generation);
	uint64_t reloads = atomic_load(&c->check->reloads);
	int rc = weft_buf_printf(out, "{\"schema_version\":%d,\"path\":", CON_SCHEMA_VERSION);
	rc = rc ? rc : weft_buf_str(out, c->check->model_path ? c->check->model_path : "");
	rc = rc ? rc : weft_buf_printf(out, ",\"generation\":%" PRIu64 ",\"reloads\":%" PRIu64,
	                               gen, reloads);
	if (!m)
		return rc ? rc : weft_buf_printf(out, ",\"templates\":[]}");
	struct cluster_model_info mi;
	cluster_model_info(m, &mi);
	rc = rc ? rc : weft_buf_printf(out,
	    ",\"training_traces\":%" PRIu64 ",\"shapes\":%" PRIu64 ",\"pieces\":%" PRIu64
	    ",\"filter_bytes\":%" PRIu64 ",\"filter_fpr\":%.3g,",
	    mi.traces, mi.shapes, mi.pieces, mi.filter_bytes, mi.filter_fpr);
	/* when and from what it was trained; null for a format-1 file */
	if (mi.trained_at)
		rc = rc ? rc : weft_buf_printf(out, "\"trained_at\":%" PRIu64, mi.trained_at);
	else
		rc = rc ? rc : weft_buf_printf(out, "\"trained_at\":null");
	rc = rc ? rc : weft_buf_printf(out, ",\"trained_from\":");
	rc = rc ? rc : (mi.trained_from[0] ? weft_buf_str(out, mi.trained_from)
	                                   : weft_buf_printf(out, "null"));
	rc = rc ? rc : weft_buf_printf(out, ",\"templates\":[");
	for (uint32_t t = 0; !rc && t < mi.n_templates; t++) {
		struct cluster_template_view tv;
		if (cluster_model_template(m, t, &tv))
			continue;
		rc = weft_buf_printf(out, "%s{\"template\":%u,\"weight\":%" PRIu64
		                     ",\"labels\":%u,\"threshold_ns\":%" PRIu64 "}",
		                     t ? "," : "", t, tv.weight, tv.n_symbols, tv.duration_thr_ns);
	}
	cluster_model_unref(m);
	return rc ? rc : weft_buf_printf(out, "]}");
}

int
con_api_template(struct op_console *c, const char *num, struct weft_buf *out)
{
	uint64_t t;
	if (parse_u64(num, &t) || t > UINT32_MAX)
		return WEFT_EINVAL;
	struct cluster_model *m = model_ref(c);
	struct cluster_template_view tv;
	if (!m || cluster_model_template(m, (uint32_t)t, &tv)) {
		cluster_model_unref(m);
		return WEFT_ENOTFOUND;
	}
	char *p = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&p, &n);
	int rc = f ? 0 : WEFT_ENOMEM;
	if (!rc) {
		report_draw_template(f, m, (uint32_t)t, 0);
		rc = weft_buf_printf(out, "{\"schema_version\":%d,\"template\":%" PRIu64
		                     ",\"weight\":%" PRIu64 ",\"threshold_ns\":%" PRIu64
		                     ",\"drawing\":", CON_SCHEMA_VERSION, t, tv.weight,
		                     tv.duration_thr_ns);
		int rc2 = memstream_str(out, f, &p, &n);
		rc = rc ? rc : rc2;
	}
	cluster_model_unref(m);
	return rc ? rc : weft_buf_printf(out, "}");
}

/* ---- host anomalies (operators/check/op_peer.c) ----------------------------- */

struct hosts_arg {
	struct weft_buf *out;
	int rc;
	uint32_t n;
};

static void
host_one(void *arg, const char *host, const char *label, uint64_t host_median_ns,
         uint64_t peers_median_ns, uint32_t n_peers, uint64_t since_epoch)
{
	struct hosts_arg *a = arg;
	if (a->rc)
		return;
	int rc = weft_buf_printf(a->out, "%s{\"host\":", a->n++ ? "," : "");
	rc = rc ? rc : weft_buf_str(a->out, host);
	rc = rc ? rc : weft_buf_printf(a->out, ",\"label\":");
	rc = rc ? rc : weft_buf_str(a->out, label);
	rc = rc ? rc : weft_buf_printf(a->out,
	    ",\"host_median_ns\":%" PRIu64 ",\"peers_median_ns\":%" PRIu64
	    ",\"n_peers\":%u,\"ratio\":%.2f,\"since_epoch\":%" PRIu64
	    ",\"reference\":\"%s\"}",
	    host_median_ns, peers_median_ns, n_peers,
	    peers_median_ns ? (double)host_median_ns / (double)peers_median_ns : 0.0,
	    since_epoch, n_peers ? "peers" : "learned x load");
	a->rc = rc;
}

int
con_api_hosts(struct op_console *c, struct weft_buf *out)
{
	/* the store is created by the first worker under the check's lock,
	 * and lives as long as the check config */
	pthread_mutex_lock(&c->check->lock);
	struct op_peer_store *peers = c->check->peers;
	pthread_mutex_unlock(&c->check->lock);
	int rc = weft_buf_printf(out, "{\"schema_version\":%d,\"peers\":%s",
	                         CON_SCHEMA_VERSION, peers ? "true" : "false");
	if (!peers)
		return rc ? rc : weft_buf_printf(out, ",\"open\":[]}");
	struct op_peer_stats st;
	op_peer_stats(peers, &st);
	rc = rc ? rc : weft_buf_printf(out,
	    ",\"opened\":%" PRIu64 ",\"closed\":%" PRIu64 ",\"load_factor\":%.3f,\"open\":[",
	    st.opened, st.closed, st.load_factor);
	struct hosts_arg a = {out, rc, 0};
	if (!rc)
		op_peer_each_open(peers, host_one, &a);
	return a.rc ? a.rc : weft_buf_printf(out, "]}");
}
