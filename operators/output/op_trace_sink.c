/*
 * op_trace_sink.c — finished traces out: JSON lines (summary or full) and
 * Graphviz DOT for chosen traces.
 *
 * JSON summary per trace: ids and the canonical signature in hex, counts,
 * times (host clocks, see trace.h), epochs, flags by name and counters.
 * With full, also "nodes" (id, label, host, agent, start, end, missing)
 * and "edges" ([parent, child] node indices). Strings are JSON-escaped;
 * texts come from decoded, valid UTF-8 input.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "operators/check/record.h"
#include "operators/output/output.h"

void
op_trace_sink_config_init(struct op_trace_sink_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->dot_dir = ".";
	pthread_mutex_init(&cfg->lock, NULL);
}

void
op_trace_sink_config_destroy(struct op_trace_sink_config *cfg)
{
	pthread_mutex_destroy(&cfg->lock);
}

static const struct {
	uint32_t bit;
	const char *name;
} flag_names[] = {
	{OP_TRACE_LATE, "late"},           {OP_TRACE_INCOMPLETE, "incomplete"},
	{OP_TRACE_TRUNCATED, "truncated"}, {OP_TRACE_MALFORMED, "malformed"},
	{OP_TRACE_DANGLING, "dangling"},   {OP_TRACE_END_LABEL, "end_label"},
	{OP_TRACE_FLUSHED, "flushed"},     {OP_TRACE_AGED, "aged"},
	{OP_TRACE_HANDED_OVER, "handed_over"}, {OP_TRACE_REPLAYED, "replayed"},
	{OP_TRACE_ERROR, "exception"},
};

int
op_trace_json(struct weft_buf *b, const struct op_trace *t, int full)
{
	/* "edges" is the count, or with full the list itself (its length is
	 * the count): a key is never written twice */
	int rc = weft_buf_printf(b, "{\"trace_id\":\"%016" PRIx64 "\",\"events\":%u,",
	                         t->trace_id, t->n_events);
	if (!rc && !full)
		rc = weft_buf_printf(b, "\"edges\":%u,", t->n_edges);
	rc = rc ? rc : weft_buf_printf(b,
	    "\"roots\":%u,\"depth\":%u,\"signature\":\"%016" PRIx64 "\","
	    "\"exact\":\"%016" PRIx64 "\",\"repeat_max\":%u,\"repeat_groups\":%u,"
	    "\"start_ns\":%" PRIu64 ",\"end_ns\":%" PRIu64 ",\"duration_ns\":%" PRIu64
	    ",\"first_epoch\":%" PRIu64 ",\"last_epoch\":%" PRIu64
	    ",\"emit_epoch\":%" PRIu64 ",\"flags\":[",
	    t->n_roots, t->depth,
	    t->signature, t->exact, t->repeat_max, t->repeat_groups, t->start_ns,
	    t->end_ns, t->duration_ns, t->first_epoch, t->last_epoch,
	    t->emit_epoch);
	int first = 1;
	for (size_t i = 0; !rc && i < sizeof flag_names / sizeof *flag_names; i++)
		if (t->flags & flag_names[i].bit) {
			rc = weft_buf_printf(b, "%s\"%s\"", first ? "" : ",", flag_names[i].name);
			first = 0;
		}
	if (!rc)
		rc = weft_buf_printf(b, "]");
	if (!rc && t->verdict)
		rc = weft_buf_printf(b, ",\"verdict\":\"%s\",\"template\":%d",
		                   op_verdict_name(t->verdict), (int)t->tmpl);
	if (!rc)
		rc = op_record_fields(b, t, "trace",
		                      t->model_gen ? (int64_t)t->model_gen - 1 : -1);
	if (!rc)
		rc = weft_buf_printf(b,
		    ",\"counters\":{\"seen\":%u,\"duplicates\":%u,\"missing\":%u,"
		    "\"cycle_edges\":%u,\"dropped\":%u}",
		    t->events_seen, t->duplicates, t->missing, t->cycle_edges,
		    t->dropped);
	if (!rc && full) {
		const struct op_trace_event *ev = op_trace_events(t);
		rc = weft_buf_printf(b, ",\"nodes\":[");
		for (uint32_t i = 0; !rc && i < t->n_events; i++) {
			rc = weft_buf_printf(b, "%s{\"id\":\"%" PRId64 "\",\"label\":", i ? "," : "",
			             (int64_t)ev[i].event_id);
			rc = rc ? rc : weft_buf_str(b, op_trace_str(t, ev[i].label));
			if (ev[i].flags & OP_TEV_MISSING) {
				rc = rc ? rc : weft_buf_printf(b, ",\"missing\":true}");
				continue;
			}
			rc = rc ? rc : weft_buf_printf(b, ",\"host\":");
			rc = rc ? rc : weft_buf_str(b, op_trace_str(t, ev[i].host));
			rc = rc ? rc : weft_buf_printf(b, ",\"agent\":");
			rc = rc ? rc : weft_buf_str(b, op_trace_str(t, ev[i].agent));
			rc = rc ? rc : weft_buf_printf(b, ",\"start_ns\":%" PRIu64, ev[i].start_ns);
			if (!rc && (ev[i].flags & OP_TEV_HAS_END))
				rc = weft_buf_printf(b, ",\"end_ns\":%" PRIu64, ev[i].end_ns);
			if (!rc && (ev[i].flags & OP_TEV_ERROR))
				rc = weft_buf_printf(b, ",\"error\":true");
			rc = rc ? rc : weft_buf_printf(b, "}");
		}
		const struct op_trace_edge *e = op_trace_edges(t);
		rc = rc ? rc : weft_buf_printf(b, "],\"edges\":[");
		for (uint32_t i = 0; !rc && i < t->n_edges; i++)
			rc = weft_buf_printf(b, "%s[%u,%u]", i ? "," : "", e[i].parent, e[i].child);
		rc = rc ? rc : weft_buf_printf(b, "]");
	}
	return rc ? rc : weft_buf_printf(b, "}");
}

static void
dot_text(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		fputc(*s, f);
	}
}

void
op_trace_dot(FILE *f, const struct op_trace *t)
{
	op_trace_dot_marked(f, t, NULL, 0, -1);
}

void
op_trace_dot_marked(FILE *f, const struct op_trace *t, const uint32_t *new_node,
                    uint32_t n_new, int32_t slow_node)
{
	const struct op_trace_event *ev = op_trace_events(t);
	const struct op_trace_edge *e = op_trace_edges(t);
	fprintf(f, "digraph \"trace_%016" PRIx64 "\" {\n"
	           "  label=\"trace %016" PRIx64 "  %u events, signature %016" PRIx64
	           "\";\n  node [shape=box, fontsize=10];\n",
	        t->trace_id, t->trace_id, t->n_events, t->signature);
	for (uint32_t i = 0; i < t->n_events; i++) {
		fprintf(f, "  n%u [label=\"", i);
		dot_text(f, op_trace_str(t, ev[i].label));
		if (ev[i].flags & OP_TEV_MISSING) {
			fprintf(f, "\", style=dashed, color=red];\n");
			continue;
		}
		fprintf(f, "\\n");
		dot_text(f, op_trace_str(t, ev[i].host));
		if (ev[i].flags & OP_TEV_HAS_END)
			fprintf(f, "\\n%.3f ms", (double)(ev[i].end_ns - ev[i].start_ns) / 1e6);
		/* the report's marks: a new piece outlined red, the slow node
		 * filled yellow */
		int is_new = 0;
		for (uint32_t k = 0; k < n_new && !is_new; k++)
			is_new = new_node[k] == i;
		if ((int64_t)i == slow_node)
			fprintf(f, "%s\", style=filled, fillcolor=\"#ffd966\", color=\"#b8860b",
			        is_new ? "\\nnew piece, slow" : "\\nslow");
		else if (is_new)
			fprintf(f, "\\nnew piece\", color=\"#d00000\", penwidth=3");
		else
			fprintf(f, "\"");
		fprintf(f, "];\n");
	}
	for (uint32_t i = 0; i < t->n_edges; i++)
		fprintf(f, "  n%u -> n%u;\n", e[i].parent, e[i].child);
	fprintf(f, "}\n");
}

struct sink_inst {
	struct op_trace_sink_config *cfg;
	struct weft_buf buf;
	uint64_t traces;
};

static int
sink_init(struct engine_ctx *ctx, void *arg, void **state)
{
	(void)ctx;
	struct sink_inst *s = calloc(1, sizeof *s);
	if (!s)
		return WEFT_ENOMEM;
	s->cfg = arg;
	*state = s;
	return 0;
}

/* What the check found in t (its new pieces, its slow node), found again
 * against the current model: only for the few traces drawn with --dot. */
static void
dot_marks(struct op_trace_sink_config *cfg, const struct op_trace *t, uint32_t *new_node,
          uint32_t *n_new, int32_t *slow)
{
	*n_new = 0;
	*slow = -1;
	if (!cfg->check || (t->verdict != OP_VERDICT_UNKNOWN_STRUCTURE &&
	                    t->verdict != OP_VERDICT_SLOW))
		return;
	pthread_mutex_lock(&cfg->check->lock);
	struct cluster_model *m = cfg->check->model;
	if (m)
		cluster_model_ref(m);
	pthread_mutex_unlock(&cfg->check->lock);
	struct cluster_check_scratch *cs = m ? cluster_check_scratch_new() : NULL;
	struct op_trace_view view;
	memset(&view, 0, sizeof view);
	struct cluster_verdict cv;
	if (cs && !op_trace_view_fill(&view, t) && !cluster_check(m, cs, &view.in, &cv)) {
		*n_new = cv.n_new < CLUSTER_MAX_NEW ? cv.n_new : CLUSTER_MAX_NEW;
		memcpy(new_node, cv.new_node, *n_new * sizeof *new_node);
		if (cv.kind == CLUSTER_SLOW && !cv.slow_is_duration)
			*slow = cv.slow_node;
	}
	op_trace_view_free(&view);
	cluster_check_scratch_free(cs);
	cluster_model_unref(m);
}

static void
write_dot(struct op_trace_sink_config *cfg, const struct op_trace *t)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%016" PRIx64 ".dot", cfg->dot_dir,
	         t->trace_id);
	FILE *f = fopen(path, "w");
	if (!f) {
		atomic_fetch_add(&cfg->write_errors, 1);
		return;
	}
	uint32_t new_node[CLUSTER_MAX_NEW], n_new;
	int32_t slow;
	dot_marks(cfg, t, new_node, &n_new, &slow);
	op_trace_dot_marked(f, t, new_node, n_new, slow);
	if (fclose(f) == 0)
		atomic_fetch_add(&cfg->dots_written, 1);
	else
		atomic_fetch_add(&cfg->write_errors, 1);
}

static void
sink_batch(void *state, struct engine_ctx *ctx, unsigned port,
           const struct engine_batch *b)
{
	(void)ctx;
	(void)port;
	struct sink_inst *s = state;
	struct op_trace_sink_config *cfg = s->cfg;
	struct engine_batch_cursor c = ENGINE_BATCH_CURSOR_INIT;
	const void *r;
	uint32_t len;
	s->buf.len = 0;
	while ((r = engine_batch_next(b, &c, &len))) {
		const struct op_trace *t = r;
		s->traces++;
		for (unsigned i = 0; i < cfg->n_dot; i++)
			if (cfg->dot_ids[i] == t->trace_id)
				write_dot(cfg, t);
		if (cfg->out && (op_trace_json(&s->buf, t, cfg->full) ||
		                 weft_buf_printf(&s->buf, "\n")))
			atomic_fetch_add(&cfg->write_errors, 1);
	}
	if (cfg->out && s->buf.len) {
		pthread_mutex_lock(&cfg->lock);
		if (fwrite(s->buf.p, 1, s->buf.len, cfg->out) != s->buf.len)
			atomic_fetch_add(&cfg->write_errors, 1);
		pthread_mutex_unlock(&cfg->lock);
	}
}

static void
sink_destroy(void *state)
{
	struct sink_inst *s = state;
	atomic_fetch_add(&s->cfg->traces, s->traces);
	free(s->buf.p);
	free(s);
}

const struct engine_op_vtable op_trace_sink_vtable = {
	.init = sink_init,
	.on_batch = sink_batch,
	.destroy = sink_destroy,
};
