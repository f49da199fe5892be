/*
 * test_trace_sink.c — the trace sink (op_trace_sink.c) in a real engine at
 * W = 3: every line it writes is one well-formed JSON object, and parsed
 * back it gives the record's id, counts, shape hashes, times, epochs,
 * flags, verdict, counters and (full) every node and edge with its texts
 * unescaped; the summary form leaves nodes and edges out; the traces named
 * for Graphviz get a DOT file each.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "operators/check/check.h"
#include "operators/output/output.h"
#include "test_util.h"
#include "test_traces.h"

/* ---- a minimal JSON reader (RFC 8259 grammar, no numbers beyond u64) ---- */

static const char *
js_ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return p;
}

static int
hex4(const char *p, unsigned *v)
{
	*v = 0;
	for (int i = 0; i < 4; i++) {
		char c = p[i];
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
		      : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
		if (d < 0)
			return -1;
		*v = *v << 4 | (unsigned)d;
	}
	return 0;
}

/* The string at p ('"'), unescaped as UTF-8 into out (cap bytes, NUL
 * ended; out may be NULL); returns the byte after it, or NULL. */
static const char *
js_string(const char *p, char *out, size_t cap)
{
	size_t n = 0;
	if (*p++ != '"')
		return NULL;
	for (;;) {
		unsigned c = (unsigned char)*p++;
		if (c == '"')
			break;
		if (c < 0x20)
			return NULL;
		if (c == '\\') {
			const char *esc = "\"\"\\\\//b\bf\fn\nr\rt\t", *e;
			char x = *p++;
			for (e = esc; *e && *e != x; e += 2)
				;
			if (*e) {
				c = (unsigned char)e[1];
			} else if (x == 'u') {
				unsigned lo;
				if (hex4(p, &c))
					return NULL;
				p += 4;
				if (c >= 0xD800 && c < 0xDC00) {
					if (p[0] != '\\' || p[1] != 'u' || hex4(p + 2, &lo) ||
					    lo < 0xDC00 || lo >= 0xE000)
						return NULL;
					c = 0x10000 + ((c - 0xD800) << 10) + (lo - 0xDC00);
					p += 6;
				}
				/* as UTF-8 */
				unsigned char u[4];
				size_t k = c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
				static const unsigned char lead[] = {0, 0, 0xC0, 0xE0, 0xF0};
				for (size_t i = k; i-- > 1; c >>= 6)
					u[i] = (unsigned char)(0x80 | (c & 0x3F));
				u[0] = (unsigned char)(lead[k] | c);
				for (size_t i = 0; i < k; i++)
					if (out && n + 1 < cap)
						out[n++] = (char)u[i];
				continue;
			} else {
				return NULL;
			}
		}
		if (out && n + 1 < cap)
			out[n++] = (char)c;
	}
	if (out)
		out[n] = 0;
	return p;
}

/* The end of the value at p, or NULL if it is not well-formed. */
static const char *
js_skip(const char *p)
{
	p = js_ws(p);
	if (*p == '"')
		return js_string(p, NULL, 0);
	if (*p == '{' || *p == '[') {
		char close = *p == '{' ? '}' : ']';
		p = js_ws(p + 1);
		if (*p == close)
			return p + 1;
		for (;;) {
			if (close == '}') {
				if (!(p = js_string(js_ws(p), NULL, 0)) || *(p = js_ws(p)) != ':')
					return NULL;
				p++;
			}
			if (!(p = js_skip(p)))
				return NULL;
			p = js_ws(p);
			if (*p == close)
				return p + 1;
			if (*p++ != ',')
				return NULL;
		}
	}
	for (const char *w = "true\0false\0null\0"; *w; w += strlen(w) + 1)
		if (!strncmp(p, w, strlen(w)))
			return p + strlen(w);
	const char *s = p;
	p += *p == '-';
	if (*p < '0' || *p > '9')
		return NULL;
	while ((*p >= '0' && *p <= '9') || *p == '.' || *p == 'e' || *p == 'E' ||
	       ((*p == '+' || *p == '-') && (p[-1] == 'e' || p[-1] == 'E')))
		p++;
	return p > s ? p : NULL;
}

/* The value of the nth member named key of the object at obj (n from 0),
 * or NULL. obj must be well-formed (js_skip). */
static const char *
js_get_nth(const char *obj, const char *key, int nth)
{
	char name[256];
	const char *p = js_ws(js_ws(obj) + 1);
	while (*p == '"') {
		p = js_ws(js_string(p, name, sizeof name));
		const char *v = js_ws(p + 1);
		if (!strcmp(name, key) && nth-- == 0)
			return v;
		p = js_ws(js_skip(v));
		p = js_ws(p + (*p == ','));
	}
	return NULL;
}

static const char *
js_get(const char *obj, const char *key)
{
	return js_get_nth(obj, key, 0);
}

/* Element i of the array at arr, or NULL. */
static const char *
js_at(const char *arr, size_t i)
{
	const char *p = js_ws(js_ws(arr) + 1);
	for (; *p != ']'; p = js_ws(p + (*p == ','))) {
		if (!i--)
			return p;
		p = js_ws(js_skip(p));
	}
	return NULL;
}

static uint64_t
js_u64(const char *v)
{
	assert_non_null(v);
	assert_true(*v >= '0' && *v <= '9');
	return strtoull(v, NULL, 10);
}

/* The string value of key in obj, unescaped (static buffer). */
static const char *
js_str(const char *obj, const char *key)
{
	static char buf[1024];
	const char *v = js_get(obj, key);
	assert_non_null(v);
	assert_non_null(js_string(v, buf, sizeof buf));
	return buf;
}

static uint64_t
js_hex(const char *obj, const char *key)
{
	const char *s = js_str(obj, key);
	assert_int_equal(strlen(s), 16);
	return strtoull(s, NULL, 16);
}

/* ---- the records ------------------------------------------------------------ */

static const struct ev_step shape_a[] = {
	{1, 0, "req", "h1", 1000, 9000},
	{2, 1, "read", "h1", 2000, 5000},
	{3, 2, "reply", "h2", 6000, 0},
};
/* texts that need escaping, a negative id, a parent that never arrives */
static const struct ev_step shape_b[] = {
	{0xffffffffffffff00ull, 0, "say \"hi\"\\now\ttab", "h\xC3\xA9te", 5, 6},
	{8, 0xffffffffffffff00ull, "\xE6\x97\xA5\xE6\x9C\xAC \x01", "h1", 7, 0},
	{9, 77, "orphan", "h\\2", 8, 9},
};

static struct {
	char dir[4096];
	struct op_trace *a, *b, *b_checked;
} G;

static int
group_setup(void **state)
{
	(void)state;
	tmp_dir_make(G.dir, sizeof G.dir);
	G.a = make_trace(shape_a, 3);
	G.b = make_trace(shape_b, 3);
	assert_true(G.b->flags & OP_TRACE_DANGLING);
	G.b_checked = malloc(G.b->size);
	assert_non_null(G.b_checked);
	memcpy(G.b_checked, G.b, G.b->size);
	G.b_checked->verdict = OP_VERDICT_SLOW;
	G.b_checked->tmpl = 2;
	G.b_checked->flags |= OP_TRACE_LATE | OP_TRACE_FLUSHED;
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	free(G.a);
	free(G.b);
	free(G.b_checked);
	tmp_dir_remove(G.dir);
	return 0;
}

enum { N = 24, W = 3 };

static size_t
plan_mix(struct plan_rec *recs)
{
	const struct op_trace *sh[] = {G.a, G.b, G.b_checked};
	for (size_t i = 0; i < N; i++)
		recs[i] = (struct plan_rec){i / 5, 0x1000 + i * 104729, sh[i % 3]};
	return N;
}

/* source -exchange-> trace sink on W workers; returns what it wrote. */
static char *
run_sink(const struct rec_plan *plan, int full, const uint64_t *dot, unsigned n_dot,
         struct op_trace_sink_config *cfg)
{
	char *text = NULL;
	size_t len = 0;
	op_trace_sink_config_init(cfg);
	cfg->out = open_memstream(&text, &len);
	cfg->full = full;
	cfg->dot_ids = dot;
	cfg->n_dot = n_dot;
	cfg->dot_dir = G.dir;
	struct engine_graph *g = engine_graph_new();
	const uint32_t var[] = {0};
	int s = engine_graph_add(g, "records", &rec_src_vt, (void *)plan, 0, 1, var);
	int k = engine_graph_add(g, "sink", &op_trace_sink_vtable, cfg, 1, 0, NULL);
	assert_int_equal(engine_graph_connect(g, s, 0, k, 0, engine_key_first_u64, NULL), 0);
	assert_int_equal(run_graph(g, W, NULL), 0);
	assert_int_equal(fclose(cfg->out), 0);
	return text;
}

static const char *const flag_names[] = {
	"late", "incomplete", "truncated", "malformed", "dangling", "end_label", "flushed",
};

/* One line, parsed back, against the record it stands for. */
static void
check_line(const char *o, const struct op_trace *t, int full)
{
	assert_int_equal(js_u64(js_get(o, "events")), t->n_events);
	assert_int_equal(js_u64(js_get(o, "roots")), t->n_roots);
	assert_int_equal(js_u64(js_get(o, "depth")), t->depth);
	assert_true(js_hex(o, "signature") == t->signature);
	assert_true(js_hex(o, "exact") == t->exact);
	assert_int_equal(js_u64(js_get(o, "repeat_max")), t->repeat_max);
	assert_int_equal(js_u64(js_get(o, "start_ns")), t->start_ns);
	assert_int_equal(js_u64(js_get(o, "end_ns")), t->end_ns);
	assert_int_equal(js_u64(js_get(o, "duration_ns")), t->duration_ns);
	assert_int_equal(js_u64(js_get(o, "first_epoch")), t->first_epoch);
	assert_int_equal(js_u64(js_get(o, "last_epoch")), t->last_epoch);
	assert_int_equal(js_u64(js_get(o, "emit_epoch")), t->emit_epoch);
	const char *fl = js_get(o, "flags"), *f;
	size_t k = 0;
	assert_int_equal(t->flags >> 7, 0); /* the records here have only these */
	for (unsigned bit = 0; bit < 7; bit++) {
		if (!(t->flags & (1u << bit)))
			continue;
		assert_non_null(f = js_at(fl, k++));
		char name[32];
		assert_non_null(js_string(f, name, sizeof name));
		assert_string_equal(name, flag_names[bit]);
	}
	assert_null(js_at(fl, k));
	if (t->verdict) {
		assert_string_equal(js_str(o, "verdict"), op_verdict_name(t->verdict));
		assert_int_equal(atoi(js_get(o, "template")), t->tmpl);
	} else {
		assert_null(js_get(o, "verdict"));
	}
	const char *c = js_get(o, "counters");
	assert_int_equal(js_u64(js_get(c, "seen")), t->events_seen);
	assert_int_equal(js_u64(js_get(c, "missing")), t->missing);
	/* "edges" is the count, or with full the list in its place: never
	 * two members of one name */
	assert_null(js_get_nth(o, "edges", 1));
	if (!full) {
		assert_int_equal(js_u64(js_get(o, "edges")), t->n_edges);
		assert_null(js_get(o, "nodes"));
		return;
	}
	const char *nodes = js_get(o, "nodes"), *edges = js_get(o, "edges");
	assert_true(edges && *edges == '[');
	assert_non_null(nodes);
	assert_non_null(edges);
	const struct op_trace_event *ev = op_trace_events(t);
	for (uint32_t i = 0; i < t->n_events; i++) {
		const char *nd = js_at(nodes, i);
		assert_non_null(nd);
		assert_true((uint64_t)strtoll(js_str(nd, "id"), NULL, 10) == ev[i].event_id);
		assert_string_equal(js_str(nd, "label"), op_trace_str(t, ev[i].label));
		if (ev[i].flags & OP_TEV_MISSING) {
			assert_true(!strncmp(js_get(nd, "missing"), "true", 4));
			assert_null(js_get(nd, "host"));
			continue;
		}
		assert_string_equal(js_str(nd, "host"), op_trace_str(t, ev[i].host));
		assert_string_equal(js_str(nd, "agent"), op_trace_str(t, ev[i].agent));
		assert_int_equal(js_u64(js_get(nd, "start_ns")), ev[i].start_ns);
		if (ev[i].flags & OP_TEV_HAS_END)
			assert_int_equal(js_u64(js_get(nd, "end_ns")), ev[i].end_ns);
		else
			assert_null(js_get(nd, "end_ns"));
	}
	assert_null(js_at(nodes, t->n_events));
	const struct op_trace_edge *ed = op_trace_edges(t);
	for (uint32_t i = 0; i < t->n_edges; i++) {
		const char *e = js_at(edges, i);
		assert_non_null(e);
		assert_int_equal(js_u64(js_at(e, 0)), ed[i].parent);
		assert_int_equal(js_u64(js_at(e, 1)), ed[i].child);
		assert_null(js_at(e, 2));
	}
	assert_null(js_at(edges, t->n_edges));
}

/* Every line of text is one well-formed object for one plan record; each
 * record has exactly one line. */
static void
check_output(char *text, const struct rec_plan *plan, int full)
{
	size_t seen[N] = {0}, lines = 0;
	unsigned char *rec = malloc(64 * 1024);
	assert_non_null(rec);
	for (char *line = text, *nl; *line; line = nl + 1) {
		assert_non_null(nl = strchr(line, '\n'));
		*nl = 0;
		assert_int_equal(*line, '{');
		const char *end = js_skip(line);
		if (!end || *end)
			fail_msg("not one JSON object: %s", line);
		const struct plan_rec *r = plan_find(plan, js_hex(line, "trace_id"));
		assert_non_null(r);
		seen[r - plan->recs]++;
		plan_record(r, rec);
		check_line(line, (const struct op_trace *)(void *)rec, full);
		lines++;
	}
	assert_int_equal(lines, plan->n);
	for (size_t i = 0; i < plan->n; i++)
		assert_int_equal(seen[i], 1);
	free(rec);
}

static void
test_full_lines_parse_back_to_the_records(void **st)
{
	(void)st;
	struct plan_rec recs[N];
	struct rec_plan plan = {recs, plan_mix(recs), N / 5 + 1, NULL, NULL};
	struct op_trace_sink_config cfg;
	char *text = run_sink(&plan, 1, NULL, 0, &cfg);
	assert_int_equal(atomic_load(&cfg.traces), N);
	assert_int_equal(atomic_load(&cfg.write_errors), 0);
	/* the texts went out escaped */
	assert_non_null(strstr(text, "\"say \\\"hi\\\"\\\\now\\u0009tab\""));
	assert_non_null(strstr(text, "\xE6\x97\xA5\xE6\x9C\xAC \\u0001\""));
	check_output(text, &plan, 1);
	free(text);
	op_trace_sink_config_destroy(&cfg);
}

static void
test_summary_lines_and_dot_files(void **st)
{
	(void)st;
	struct plan_rec recs[N];
	struct rec_plan plan = {recs, plan_mix(recs), N / 5 + 1, NULL, NULL};
	const uint64_t dot[] = {recs[1].id, 0x9999}; /* a b trace; one not there */
	struct op_trace_sink_config cfg;
	char *text = run_sink(&plan, 0, dot, 2, &cfg);
	assert_int_equal(atomic_load(&cfg.traces), N);
	assert_int_equal(atomic_load(&cfg.dots_written), 1);
	check_output(text, &plan, 0);
	free(text);
	op_trace_sink_config_destroy(&cfg);

	char path[4200], name[64];
	snprintf(name, sizeof name, "%016llx.dot", (unsigned long long)recs[1].id);
	size_t len;
	char *d = slurp(tmp_path(path, sizeof path, G.dir, name), &len);
	char head[128];
	snprintf(head, sizeof head, "digraph \"trace_%016llx\" {\n", (unsigned long long)recs[1].id);
	assert_int_equal(strncmp(d, head, strlen(head)), 0);
	assert_true(len > 2 && !strcmp(d + len - 2, "}\n"));
	const struct op_trace *t = recs[1].shape;
	for (uint32_t i = 0; i < t->n_events; i++) {
		char node[32];
		snprintf(node, sizeof node, "\n  n%u [label=\"", i);
		assert_non_null(strstr(d, node));
	}
	const struct op_trace_edge *ed = op_trace_edges(t);
	for (uint32_t i = 0; i < t->n_edges; i++) {
		char edge[32];
		snprintf(edge, sizeof edge, "\n  n%u -> n%u;\n", ed[i].parent, ed[i].child);
		assert_non_null(strstr(d, edge));
	}
	assert_non_null(strstr(d, "say \\\"hi\\\"\\\\now")); /* quoted for DOT */
	assert_non_null(strstr(d, "style=dashed")); /* the missing parent */
	free(d);
	unlink(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_lines_parse_back_to_the_records),
		cmocka_unit_test(test_summary_lines_and_dot_files),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
