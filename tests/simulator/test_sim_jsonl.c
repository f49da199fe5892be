/*
 * test_sim_jsonl.c — runs written as X-Trace JSON lines (sim_json.c) and
 * read back through weft's ingest decoder (sim_run_read_jsonl): the
 * bundled runs come back field by field, hand-written lines map onto the
 * run as documented, and the first line the decoder rejects fails the
 * read with its line number and reason; workload files are written in
 * huge-page blocks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <stdio_ext.h>
#include <unistd.h>
#include <cmocka.h>
#include <zlib.h>

#include "simulator/sim_internal.h"
#include "sim_test_util.h"

static void
write_file(const char *path, const char *s, size_t n)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(s, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

/* b (a run read back from a's lines) equals a, event by event. */
static void
expect_same_run(const struct sim_run *a, const struct sim_run *b)
{
	assert_int_equal(b->nev, a->nev);
	assert_int_equal(b->ntr, a->ntr);
	uint32_t *map = malloc(b->ntr * sizeof(*map)); /* b trace -> a trace */
	assert_non_null(map);
	memset(map, 0xff, b->ntr * sizeof(*map));
	for (size_t i = 0; i < a->nev; i++) {
		const struct sim_event *x = &a->ev[i], *y = &b->ev[i];
		assert_true(x->task == y->task && x->id == y->id);
		assert_true(x->ts_ms == y->ts_ms && x->hrt == y->hrt &&
		    x->end_hrt == y->end_hrt);
		assert_string_equal(sim_str(a, x->host), sim_str(b, y->host));
		assert_string_equal(sim_str(a, x->agent), sim_str(b, y->agent));
		assert_string_equal(sim_str(a, x->label), sim_str(b, y->label));
		assert_string_equal(sim_str(a, x->desc), sim_str(b, y->desc));
		assert_int_equal(x->npar, y->npar);
		for (uint32_t p = 0; p < x->npar; p++)
			assert_true(a->parents[x->par_off + p] ==
			    b->parents[y->par_off + p]);
		assert_true(y->trace < b->ntr);
		if (map[y->trace] == UINT32_MAX) {
			/* first sight of the trace: its title and clock */
			map[y->trace] = x->trace;
			assert_true(b->tr[y->trace].first_seen_ms == y->ts_ms);
		}
		assert_int_equal(map[y->trace], x->trace);
	}
	for (size_t t = 0; t < b->ntr; t++) {
		const struct sim_trace *x = &a->tr[map[t]], *y = &b->tr[t];
		assert_true(x->task == y->task);
		assert_int_equal(x->count, y->count);
		assert_int_equal(x->failure, y->failure);
		assert_string_equal(sim_str(a, x->title), sim_str(b, y->title));
		assert_string_equal(sim_str(b, y->kind), "none");
	}
	free(map);
}

/* The bundled runs, failure labels included, plain and gzip'ed. */
static void
test_bundled_runs_round_trip_field_by_field(void **state)
{
	(void)state;
	static const char *const runs[] = {SIM_RUN_RPC, SIM_RUN_DISC};
	for (size_t k = 0; k < 2; k++) {
		struct sim_run a, b, c;
		sim_run_init(&a);
		sim_run_init(&b);
		sim_run_init(&c);
		assert_int_equal(sim_tracebench_import(sim_test_run_dir(runs[k]),
		    &a, NULL, NULL, 0), 0);
		assert_int_equal(sim_run_write_jsonl(&a, "sim_jsonl_rt.jsonl"), 0);
		char err[128];
		assert_int_equal(sim_run_read_jsonl(&b, "sim_jsonl_rt.jsonl", err,
		    sizeof(err)), 0);
		assert_string_equal(err, "");
		expect_same_run(&a, &b);
		/* the same bytes gzip'ed */
		FILE *f = fopen("sim_jsonl_rt.jsonl", "rb");
		gzFile g = gzopen("sim_jsonl_rt.jsonl.gz", "wb");
		assert_non_null(f);
		assert_non_null(g);
		char buf[1 << 14];
		size_t n;
		while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
			assert_int_equal(gzwrite(g, buf, (unsigned)n), (int)n);
		fclose(f);
		assert_int_equal(gzclose(g), Z_OK);
		assert_int_equal(sim_run_read_jsonl(&c, "sim_jsonl_rt.jsonl.gz",
		    NULL, 0), 0);
		expect_same_run(&a, &c);
		sim_run_free(&a);
		sim_run_free(&b);
		sim_run_free(&c);
	}
}

/* Texts the writer has to escape (control bytes, a quote, invalid UTF-8)
 * come back as written: escapes decoded, a bad byte as U+FFFD. */
static void
test_escaped_texts_come_back(void **state)
{
	(void)state;
	struct sim_run a, b;
	sim_run_init(&a);
	sim_run_init(&b);
	uint32_t s[4];
	assert_int_equal(sim_buf_addstr(&a.strs, "h\x01\"\\", 4, &s[0]), 0);
	assert_int_equal(sim_buf_addstr(&a.strs, "caf\xc3\xa9\t", 6, &s[1]), 0);
	assert_int_equal(sim_buf_addstr(&a.strs, "x\xffy", 3, &s[2]), 0);
	assert_int_equal(sim_buf_addstr(&a.strs, "none", 4, &s[3]), 0);
	assert_int_equal(sim_grow((void **)&a.tr, &a.trcap, 1, sizeof(*a.tr)),
	    0);
	assert_int_equal(sim_grow((void **)&a.ev, &a.evcap, 1, sizeof(*a.ev)),
	    0);
	a.tr[0] = (struct sim_trace){.task = 7, .title = s[1], .kind = s[3],
	    .count = 1};
	a.ev[0] = (struct sim_event){.task = 7, .id = INT64_MIN, .ts_ms = -1,
	    .hrt = INT64_MAX, .end_hrt = 0, .host = s[0], .agent = s[1],
	    .label = s[2], .desc = s[0]};
	a.ntr = a.nev = 1;
	assert_int_equal(sim_run_write_jsonl(&a, "sim_jsonl_esc.jsonl"), 0);
	assert_int_equal(sim_run_read_jsonl(&b, "sim_jsonl_esc.jsonl", NULL, 0),
	    0);
	assert_int_equal(b.nev, 1);
	const struct sim_event *y = &b.ev[0];
	assert_true(y->task == 7 && y->id == INT64_MIN && y->ts_ms == -1 &&
	    y->hrt == INT64_MAX && y->end_hrt == 0);
	assert_string_equal(sim_str(&b, y->host), "h\x01\"\\");
	assert_string_equal(sim_str(&b, y->agent), "caf\xc3\xa9\t");
	assert_string_equal(sim_str(&b, y->label), "x\xef\xbf\xbdy");
	assert_string_equal(sim_str(&b, b.tr[0].title), "caf\xc3\xa9\t");
	sim_run_free(&a);
	sim_run_free(&b);
}

/* Hand-written lines: keys in any order, whitespace, unknown keys (nested
 * ones too), ids and times as numbers or strings, blank lines, CRLF, a
 * last line without a newline; Title from a trace's first event, failure
 * from any Description, HRT from Timestamp when absent. */
static void
test_hand_lines_map_onto_the_run(void **state)
{
	(void)state;
	static const char text[] =
	    "{\"Label\":\"open\",\"Extra\":{\"a\":[1,2]},\"EventID\":\"-5\","
	    "\"TaskID\":\"00000000000000AB\",\"Timestamp\":1000,\"HRT\":2000,"
	    "\"EndHRT\":2500,\"Host\":\"h1\",\"Agent\":\"a1\",\"Title\":"
	    "\"t-first\",\"Description\":\"Success: ok\",\"Cycles\":7}\r\n"
	    "\n"
	    "   \t \n"
	    "{ \"TaskID\" : \"ab\" , \"EventID\" : 6 , \"ParentEventID\" : "
	    "[ \"-5\" , 7 ] , \"Title\" : \"t-second\" , \"Description\" : "
	    "\"java.io.IOException: boom\" , \"Host\" : \"h\\u00e9\\n\" , "
	    "\"Timestamp\" : \"1001\" }\n"
	    "{\"TaskID\":\"CD\",\"EventID\":\"9\",\"Timestamp\":3000}";
	write_file("sim_jsonl_hand.jsonl", text, sizeof(text) - 1);
	struct sim_run r;
	sim_run_init(&r);
	assert_int_equal(sim_run_read_jsonl(&r, "sim_jsonl_hand.jsonl", NULL, 0),
	    0);
	assert_int_equal(r.nev, 3);
	assert_int_equal(r.ntr, 2);
	const struct sim_event *e = r.ev;
	assert_true(e[0].task == 0xAB && e[0].id == -5 && e[0].ts_ms == 1000 &&
	    e[0].hrt == 2000 && e[0].end_hrt == 2500 && e[0].npar == 0);
	assert_string_equal(sim_str(&r, e[0].host), "h1");
	assert_string_equal(sim_str(&r, e[0].agent), "a1");
	assert_string_equal(sim_str(&r, e[0].label), "open");
	assert_string_equal(sim_str(&r, e[0].desc), "Success: ok");
	assert_true(e[1].task == 0xAB && e[1].id == 6 && e[1].ts_ms == 1001 &&
	    e[1].hrt == 1001000000 && e[1].end_hrt == 0);
	assert_int_equal(e[1].npar, 2);
	assert_true(r.parents[e[1].par_off] == -5 &&
	    r.parents[e[1].par_off + 1] == 7);
	assert_string_equal(sim_str(&r, e[1].host), "h\xc3\xa9\n");
	assert_string_equal(sim_str(&r, e[1].label), "");
	assert_true(e[0].trace == 0 && e[1].trace == 0 && e[2].trace == 1);
	assert_string_equal(sim_str(&r, r.tr[0].title), "t-first");
	assert_string_equal(sim_str(&r, r.tr[0].kind), "none");
	assert_true(r.tr[0].failure == 1 && r.tr[0].count == 2 &&
	    r.tr[0].first_seen_ms == 1000);
	assert_true(e[2].task == 0xCD && e[2].id == 9 && e[2].hrt == 3000000000 &&
	    e[2].npar == 0);
	assert_string_equal(sim_str(&r, e[2].desc), "");
	assert_string_equal(sim_str(&r, r.tr[1].title), "");
	/* no Description is no success: a failure (sim_desc_is_failure) */
	assert_true(r.tr[1].failure == 1 && r.tr[1].count == 1);
	sim_run_free(&r);
}

/* The first line the decoder rejects fails the read: WEFT_EFORMAT, its
 * line and reason in err, the events before it kept, none after it. */
static void
test_first_rejected_line_fails_the_read(void **state)
{
	(void)state;
	static const char good[] = "{\"TaskID\":\"1\",\"EventID\":\"2\"}\n";
	static const struct {
		const char *line, *err;
	} cases[] = {
	    {"{\"TaskID\":\"1\",\"Label\":\"no id\"}", "line 2: missing_event_id"},
	    {"{\"TaskID\":\"1\",\"EventID\":\"4\",\"ParentEventID\":[\"4\"]}",
	     "line 2: self_parent"},
	    {"{\"TaskID\":\"1\",\"EventID\":\"4\"} trailing", "line 2: syntax"},
	    {"{\"TaskID\":\"1\",\"EventID\":\"4\",\"Label\":\"\xff\"}",
	     "line 2: bad_utf8"},
	    {"{\"TaskID\":\"1\",\"EventID\":\"+4\"}", "line 2: bad_id"},
	    {"{\"TaskID\":\"1\",\"EventID\":\"4\",\"EventID\":\"5\"}",
	     "line 2: duplicate_key"},
	};
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		char text[512];
		int n = snprintf(text, sizeof(text), "%s%s\n%s", good,
		    cases[k].line, good);
		write_file("sim_jsonl_bad.jsonl", text, (size_t)n);
		struct sim_run r;
		char err[128];
		sim_run_init(&r);
		assert_int_equal(sim_run_read_jsonl(&r, "sim_jsonl_bad.jsonl", err,
		    sizeof(err)), WEFT_EFORMAT);
		assert_string_equal(err, cases[k].err);
		assert_int_equal(r.nev, 1);
		sim_run_free(&r);
	}
	struct sim_run r;
	sim_run_init(&r);
	assert_int_equal(sim_run_read_jsonl(&r, "sim_jsonl_no_such_file.jsonl",
	    NULL, 0), WEFT_EIO);
	sim_run_free(&r);
}

/* The files the simulator writes for weft to read (generated runs, JSON
 * lines, spans, a replay to a file: all open through sim_out_open) get a
 * stdio buffer of WEFT_WRITE_BLOCK, which makes stdio write whole blocks
 * at block offsets (tests/common checks that part); "-" is stdout, left
 * as it was. Fails where a writer's stream keeps stdio's own buffer. */
static void
test_workload_files_are_written_in_huge_page_blocks(void **state)
{
	(void)state;
	void *vbuf;
	FILE *f = sim_out_open("sim_out_blocks.jsonl", &vbuf);
	assert_non_null(f);
	assert_non_null(vbuf);
	assert_int_equal(__fbufsize(f), WEFT_WRITE_BLOCK);
	assert_int_equal(fputs("{}\n", f) >= 0, 1);
	assert_int_equal(sim_out_close(f, vbuf, 0), 0);
	assert_int_equal(unlink("sim_out_blocks.jsonl"), 0);
	size_t before = __fbufsize(stdout);
	f = sim_out_open("-", &vbuf);
	assert_ptr_equal(f, stdout);
	assert_null(vbuf);
	assert_int_equal(__fbufsize(stdout), before);
	assert_int_equal(sim_out_close(f, vbuf, 0), 0);
	/* a failed open is NULL, nothing to free */
	assert_null(sim_out_open("no/such/dir/x.jsonl", &vbuf));
	assert_null(vbuf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bundled_runs_round_trip_field_by_field),
		cmocka_unit_test(test_escaped_texts_come_back),
		cmocka_unit_test(test_hand_lines_map_onto_the_run),
		cmocka_unit_test(test_first_rejected_line_fails_the_read),
		cmocka_unit_test(test_workload_files_are_written_in_huge_page_blocks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
