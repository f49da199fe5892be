/*
 * test_sample.c — the training-sample sink and file (op_sample.c) in a
 * real engine: every whole trace written comes back byte for byte (id,
 * events, edges, times, texts) at W = 1..3, fragments are left out, the
 * file has the documented layout, the reservoir keeps the asked number,
 * and a truncated, corrupt or foreign file is refused with WEFT_EFORMAT
 * and a message saying which record.
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
#include "test_util.h"
#include "test_traces.h"

/* three shapes: a chain over two hosts with end times, a fan-out with a
 * parent that never arrives, texts with quotes, tabs and UTF-8 */
static const struct ev_step shape_a[] = {
	{1, 0, "req", "h1", 1000, 9000},
	{2, 1, "read", "h1", 2000, 5000},
	{3, 2, "reply", "h2", 6000, 7000},
};
static const struct ev_step shape_b[] = {
	{10, 0, "root", "h1", 500, 0},
	{11, 10, "left", "h2", 600, 700},
	{12, 10, "right", "h2", 650, 0},
	{13, 99, "orphan", "h3", 800, 900}, /* parent 99 never arrives */
};
static const struct ev_step shape_c[] = {
	{7, 0, "say \"hi\"\tthere", "h\xC3\xA9te", 1, 2},
	{8, 7, "\xE6\x97\xA5\xE6\x9C\xAC", "h1", 3, 4},
};

static struct {
	char dir[4096];
	struct op_trace *shape[3];
	struct op_trace *frag[3]; /* late, incomplete, truncated copies */
} G;

static struct op_trace *
with_flags(const struct op_trace *t, uint32_t flags)
{
	struct op_trace *c = malloc(t->size);
	assert_non_null(c);
	memcpy(c, t, t->size);
	c->flags |= flags;
	return c;
}

static int
group_setup(void **state)
{
	(void)state;
	tmp_dir_make(G.dir, sizeof G.dir);
	G.shape[0] = make_trace(shape_a, 3);
	G.shape[1] = make_trace(shape_b, 4);
	G.shape[2] = make_trace(shape_c, 2);
	assert_true(G.shape[1]->flags & OP_TRACE_DANGLING);
	G.frag[0] = with_flags(G.shape[0], OP_TRACE_LATE);
	G.frag[1] = with_flags(G.shape[1], OP_TRACE_INCOMPLETE);
	G.frag[2] = with_flags(G.shape[2], OP_TRACE_TRUNCATED);
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	for (int i = 0; i < 3; i++) {
		free(G.shape[i]);
		free(G.frag[i]);
	}
	tmp_dir_remove(G.dir);
	return 0;
}

/* n whole traces over epochs 0..n/4, the shapes in turn; with frags,
 * also one fragment of each kind (epoch 0). */
static size_t
plan_n(struct plan_rec *recs, size_t n, int frags)
{
	size_t k = 0;
	if (frags)
		for (int i = 0; i < 3; i++)
			recs[k++] = (struct plan_rec){0, 900000 + (uint64_t)i, G.frag[i]};
	for (size_t i = 0; i < n; i++)
		recs[k++] = (struct plan_rec){i / 4, 1000 + i * 7919, G.shape[i % 3]};
	return k;
}

/* source -exchange-> op_sample on W workers, writing path. */
static void
run_sample(const struct rec_plan *plan, unsigned W, uint64_t size, const char *path,
           struct op_sample_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->size = size;
	cfg->seed = 7;
	assert_int_equal(op_sample_open(cfg, path), 0);
	struct engine_graph *g = engine_graph_new();
	const uint32_t var[] = {0};
	int s = engine_graph_add(g, "records", &rec_src_vt, (void *)plan, 0, 1, var);
	int k = engine_graph_add(g, "sample", &op_sample_vtable, cfg, 1, 0, NULL);
	assert_int_equal(engine_graph_connect(g, s, 0, k, 0, engine_key_first_u64, NULL), 0);
	assert_int_equal(run_graph(g, W, NULL), 0);
	assert_int_equal(op_sample_close(cfg), 0);
}

/* What op_sample_read gives: copies of the records, in file order. */
struct got {
	struct op_trace *t[256];
	size_t n;
	int stop_after; /* > 0: return 42 after that many */
};

static int
got_fn(void *arg, const struct op_trace *t)
{
	struct got *g = arg;
	assert_true(g->n < 256);
	g->t[g->n] = malloc(t->size);
	assert_non_null(g->t[g->n]);
	memcpy(g->t[g->n], t, t->size);
	g->n++;
	return g->stop_after && (int)g->n == g->stop_after ? 42 : 0;
}

static void
got_free(struct got *g)
{
	for (size_t i = 0; i < g->n; i++)
		free(g->t[i]);
	g->n = 0;
}

/* t is, byte for byte, the record plan entry r stands for. */
static void
assert_same_record(const struct op_trace *t, const struct plan_rec *r)
{
	unsigned char *want = malloc(r->shape->size);
	assert_non_null(want);
	plan_record(r, want);
	assert_int_equal(t->size, r->shape->size);
	assert_int_equal(t->trace_id, r->id);
	assert_int_equal(t->n_events, r->shape->n_events);
	assert_int_equal(t->n_edges, r->shape->n_edges);
	assert_int_equal(t->start_ns, r->shape->start_ns);
	assert_int_equal(t->duration_ns, r->shape->duration_ns);
	assert_memory_equal(op_trace_events(t), op_trace_events(r->shape),
	                    t->n_events * sizeof(struct op_trace_event));
	assert_memory_equal(op_trace_edges(t), op_trace_edges(r->shape),
	                    t->n_edges * sizeof(struct op_trace_edge));
	assert_memory_equal(t, want, t->size);
	free(want);
}

static size_t
pad8(size_t len)
{
	return (8 - (len + 4) % 8) % 8;
}

/* The file as the format says: "WEFTSMP" and a version digit, then per
 * record a u32 length, the record, zeros to 8 bytes; n records, nothing
 * after. */
static void
assert_layout(const char *path, size_t n)
{
	size_t len, off = 8, k = 0;
	char *f = slurp(path, &len);
	assert_true(len >= 8);
	assert_memory_equal(f, "WEFTSMP", 7);
	assert_true(f[7] >= '2' && f[7] <= '9');
	while (off < len) {
		uint32_t rl;
		assert_true(off + 4 <= len);
		memcpy(&rl, f + off, 4);
		struct op_trace t;
		assert_true(off + 4 + sizeof t <= len);
		memcpy(&t, f + off + 4, sizeof t);
		assert_int_equal(t.size, rl);
		for (size_t i = 0; i < pad8(rl); i++)
			assert_int_equal(f[off + 4 + rl + i], 0);
		off += 4 + rl + pad8(rl);
		k++;
	}
	assert_int_equal(off, len);
	assert_int_equal(k, n);
	free(f);
}

static void
round_trip(unsigned W)
{
	enum { N = 30 };
	struct plan_rec recs[N + 3];
	struct rec_plan plan = {recs, plan_n(recs, N, 1), N / 4 + 1, NULL, NULL};
	char path[4200];
	tmp_path(path, sizeof path, G.dir, "rt.smp");
	struct op_sample_config cfg;
	run_sample(&plan, W, 0, path, &cfg);
	assert_int_equal(atomic_load(&cfg.seen), N); /* fragments not counted */
	assert_int_equal(atomic_load(&cfg.written), N);
	assert_int_equal(atomic_load(&cfg.errors), 0);
	assert_layout(path, N);
	struct got got = {.n = 0};
	char err[512] = "";
	assert_int_equal(op_sample_read(path, got_fn, &got, err, sizeof err), 0);
	assert_int_equal(got.n, N);
	for (size_t i = 0; i < got.n; i++) {
		const struct plan_rec *r = plan_find(&plan, got.t[i]->trace_id);
		assert_non_null(r);
		assert_true(r->id < 900000); /* not a fragment */
		assert_same_record(got.t[i], r);
		for (size_t j = 0; j < i; j++)
			assert_true(got.t[j]->trace_id != got.t[i]->trace_id);
	}
	got_free(&got);
}

static void
test_round_trip_w1(void **st)
{
	(void)st;
	round_trip(1);
}

static void
test_round_trip_w2(void **st)
{
	(void)st;
	round_trip(2);
}

static void
test_round_trip_w3(void **st)
{
	(void)st;
	round_trip(3);
}

static void
test_reservoir_keeps_the_asked_number(void **st)
{
	(void)st;
	enum { N = 40, SIZE = 5 };
	struct plan_rec recs[N];
	struct rec_plan plan = {recs, plan_n(recs, N, 0), N / 4 + 1, NULL, NULL};
	char path[4200], err[512];
	tmp_path(path, sizeof path, G.dir, "res.smp");
	struct op_sample_config cfg;
	run_sample(&plan, 2, SIZE, path, &cfg);
	assert_int_equal(atomic_load(&cfg.seen), N);
	assert_int_equal(atomic_load(&cfg.written), SIZE);
	assert_layout(path, SIZE);
	struct got got = {.n = 0};
	assert_int_equal(op_sample_read(path, got_fn, &got, err, sizeof err), 0);
	assert_int_equal(got.n, SIZE);
	for (size_t i = 0; i < got.n; i++) {
		const struct plan_rec *r = plan_find(&plan, got.t[i]->trace_id);
		assert_non_null(r);
		assert_same_record(got.t[i], r);
		for (size_t j = 0; j < i; j++)
			assert_true(got.t[j]->trace_id != got.t[i]->trace_id);
	}
	got_free(&got);
}

/* ---- refusals ---------------------------------------------------------------- */

/* A good file of N records (W = 1: in plan order) in *buf, its offsets
 * of records in off[] (the u32 length of record k at off[k]). */
enum { GOOD_N = 4 };

static char *
good_file(size_t *len, size_t off[GOOD_N + 1], struct rec_plan *plan,
          struct plan_rec *recs)
{
	*plan = (struct rec_plan){recs, plan_n(recs, GOOD_N, 0), 2, NULL, NULL};
	char path[4200];
	tmp_path(path, sizeof path, G.dir, "good.smp");
	struct op_sample_config cfg;
	run_sample(plan, 1, 0, path, &cfg);
	char *f = slurp(path, len);
	off[0] = 8;
	for (size_t k = 0; k < GOOD_N; k++) {
		uint32_t rl;
		memcpy(&rl, f + off[k], 4);
		off[k + 1] = off[k] + 4 + rl + pad8(rl);
	}
	assert_int_equal(off[GOOD_N], *len);
	return f;
}

/* Writes buf[0..len) to bad.smp and reads it: the result, the records
 * read into got, the message into err. */
static int
read_bytes(const char *buf, size_t len, struct got *got, char *err, size_t errlen)
{
	char path[4200];
	tmp_path(path, sizeof path, G.dir, "bad.smp");
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	got_free(got);
	err[0] = 0;
	return op_sample_read(path, got_fn, got, err, errlen);
}

static void
test_truncated_file_is_refused_at_the_cut_record(void **st)
{
	(void)st;
	struct plan_rec recs[GOOD_N];
	struct rec_plan plan;
	size_t len, off[GOOD_N + 1];
	char *f = good_file(&len, off, &plan, recs);
	struct got got = {.n = 0};
	char err[512], want[64];
	for (size_t cut = 0; cut < len; cut++) {
		int rc = read_bytes(f, cut, &got, err, sizeof err);
		if (cut < 8) {
			assert_int_equal(rc, WEFT_EFORMAT);
			assert_non_null(strstr(err, "is not a weft sample file"));
			continue;
		}
		size_t whole = 0; /* records entirely before the cut */
		while (whole < GOOD_N && off[whole + 1] <= cut)
			whole++;
		/* what was read is exactly the whole records, identical */
		assert_int_equal(got.n, whole);
		for (size_t i = 0; i < got.n; i++)
			assert_same_record(got.t[i], &recs[i]);
		if (cut == off[whole]) {
			/* at a record boundary: the file has no count or end
			 * mark, so it reads as a shorter file */
			assert_true(rc == 0 || rc == WEFT_EFORMAT);
			continue;
		}
		if (rc != WEFT_EFORMAT)
			fail_msg("cut at %zu of %zu: rc %d", cut, len, rc);
		snprintf(want, sizeof want, "malformed or truncated sample record #%zu", whole + 1);
		assert_non_null(strstr(err, want));
		assert_non_null(strstr(err, "bad.smp"));
	}
	got_free(&got);
	free(f);
}

/* Field of record k of the file buf (its op_trace header). */
#define REC_FIELD(buf, off, k, field) \
	((buf) + (off)[k] + 4 + offsetof(struct op_trace, field))

static void
expect_refused(const char *buf, size_t len, size_t records_before, const char *msg)
{
	struct got got = {.n = 0};
	char err[512];
	int rc = read_bytes(buf, len, &got, err, sizeof err);
	if (rc != WEFT_EFORMAT || !strstr(err, msg))
		fail_msg("rc %d, message '%s' (expected WEFT_EFORMAT, '%s')", rc, err, msg);
	assert_int_equal(got.n, records_before);
	got_free(&got);
}

static void
test_corrupt_or_foreign_file_is_refused_with_a_message(void **st)
{
	(void)st;
	struct plan_rec recs[GOOD_N];
	struct rec_plan plan;
	size_t len, off[GOOD_N + 1];
	char *good = good_file(&len, off, &plan, recs);
	char *b = malloc(len);
	assert_non_null(b);
	uint32_t u;
	const uint32_t size1 = recs[1].shape->size;

#define FRESH() memcpy(b, good, len)
	FRESH(); /* an older version, by name */
	char older[64];
	snprintf(older, sizeof older, "another version (%c; this weft reads %c)",
	         good[7] - 1, good[7]);
	b[7] = (char)(good[7] - 1);
	expect_refused(b, len, 0, older);
	FRESH(); /* not a sample file at all */
	b[0] = 'X';
	expect_refused(b, len, 0, "is not a weft sample file");
	expect_refused(b, 0, 0, "is not a weft sample file");
	FRESH(); /* a length below the header */
	u = 8;
	memcpy(b + off[1], &u, 4);
	expect_refused(b, len, 1, "record #2");
	FRESH(); /* an absurd length */
	u = 0x7fffffff;
	memcpy(b + off[1], &u, 4);
	expect_refused(b, len, 1, "record #2");
	FRESH(); /* the record's own size disagrees with its length */
	u = size1 - 8;
	memcpy(REC_FIELD(b, off, 1, size), &u, 4);
	expect_refused(b, len, 1, "record #2");
	FRESH(); /* counts that need more bytes than the record has */
	u = 1000000;
	memcpy(REC_FIELD(b, off, 2, n_events), &u, 4);
	expect_refused(b, len, 2, "record #3");
	FRESH(); /* an edge to a node that is not there */
	{
		const struct op_trace *t = recs[1].shape; /* as in the file */
		size_t e = (size_t)((const char *)op_trace_edges(recs[1].shape) -
		                    (const char *)recs[1].shape);
		assert_true(t->n_edges > 0);
		u = t->n_events;
		memcpy(b + off[1] + 4 + e + offsetof(struct op_trace_edge, child), &u, 4);
	}
	expect_refused(b, len, 1, "record #2");
	FRESH(); /* a text offset past the record */
	{
		size_t ev = sizeof(struct op_trace);
		u = size1;
		memcpy(b + off[1] + 4 + ev + offsetof(struct op_trace_event, label), &u, 4);
	}
	expect_refused(b, len, 1, "record #2");
	FRESH(); /* texts not ending in NUL within the record */
	b[off[1] + 4 + size1 - 1] = 'x';
	expect_refused(b, len, 1, "record #2");
	FRESH(); /* the same with str_bytes 0: a reader would run off the end */
	b[off[1] + 4 + size1 - 1] = 'x';
	u = 0;
	memcpy(REC_FIELD(b, off, 1, str_bytes), &u, 4);
	expect_refused(b, len, 1, "record #2");
#undef FRESH

	/* a file that is not there; a callback that stops the read */
	struct got got = {.n = 0, .stop_after = 2};
	char err[512] = "", path[4200];
	tmp_path(path, sizeof path, G.dir, "no-such.smp");
	assert_int_equal(op_sample_read(path, got_fn, &got, err, sizeof err), WEFT_EIO);
	assert_non_null(strstr(err, "cannot open"));
	assert_int_equal(read_bytes(good, len, &got, err, sizeof err), 42);
	assert_int_equal(got.n, 2);
	got_free(&got);
	free(b);
	free(good);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_w1),
		cmocka_unit_test(test_round_trip_w2),
		cmocka_unit_test(test_round_trip_w3),
		cmocka_unit_test(test_reservoir_keeps_the_asked_number),
		cmocka_unit_test(test_truncated_file_is_refused_at_the_cut_record),
		cmocka_unit_test(test_corrupt_or_foreign_file_is_refused_with_a_message),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
