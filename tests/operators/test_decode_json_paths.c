/*
 * test_decode_json_paths.c — the X-Trace v4 JSON decoder's short cuts
 * against its plain ways: line ends found by the decoder while it parses
 * (op_decoder_line_ends) against the splitter's own search, and records
 * that leave their key/value pairs out (keep_kv 0, read in place) against
 * records that keep them, and lines read by the template of the line
 * before (decode_json_line.c) against the general path. Each must decode
 * exactly as the plain way.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "test_util.h"
#include "tests/fuzz/fuzz_util.h"

#define GOOD V4_GOOD

/* A decoder that finds where each line ends (op_decoder_line_ends, set by
 * the file source and by op_decoder_feed) decodes exactly what one that
 * leaves it to the splitter does: the same events, rejects, positions
 * and counts, whatever the line endings, wherever the input is cut, for
 * objects that a raw newline splits, and around runs of bad lines long
 * enough to make it rest. */
static void
test_line_ends_found_by_the_decoder_change_nothing(void **state)
{
	(void)state;
	static const char *const in[] = {
	    GOOD "\n" GOOD "\n",
	    GOOD "\r\n" GOOD " \t\r\n" GOOD "\r\r\n",
	    "{\"TaskID\":\"0A\",\n\"EventID\":\"1\"}\n" GOOD "\n",
	    "{\"TaskID\":\"0A\",\"EventID\":\"1\",\"Label\":\"a\nb\"}\n",
	    "{\"TaskID\":\"0A\",\"EventID\":\"1\",\"X\":{\"a\":\n1}}\n",
	    GOOD "}\n" GOOD GOOD "\n" GOOD "\n",
	    "\n\n  \n" GOOD "\n " GOOD "\n\xEF\xBB\xBF" GOOD "\n",
	    GOOD "\n" GOOD,
	    GOOD "\n{\"TaskID\":\"0A\",\"EventID\":\"1\",\n\n",
	    "{\"TaskID\":\"0A\",\"EventID\":\"1\"\n}\n{\"TaskID\":\"0A\"}\n",
	    /* an X-Trace object to the finder, OTLP JSON to --format auto */
	    GOOD "\n{\"resourceSpans\":[],\"TaskID\":\"0A\",\"EventID\":\"1\"}\n"
	    GOOD "\n",
	};
	static const enum op_format fmts[] = {OP_FORMAT_JSON_V4, OP_FORMAT_AUTO};
	for (size_t f = 0; f < 2; f++)
		for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
			size_t n = strlen(in[i]);
			for (size_t cut = 0; cut <= n; cut++)
				assert_int_equal(fuzz_line_ends_agree(
				    fmts[f], (const unsigned char *)in[i], n, cut), 0);
		}
	/* bad lines, enough for the search to rest, good ones around them,
	 * and a line over the limit (4096 bytes here) that parses */
	size_t cap = 2u << 20, o = 0;
	char *buf = malloc(cap);
	assert_non_null(buf);
	for (int k = 0; k < 3; k++)
		o += (size_t)snprintf(buf + o, cap - o, GOOD "\n");
	for (int k = 0; k < 40; k++)
		o += (size_t)snprintf(buf + o, cap - o, "{\"bad\": %d}\n", k);
	for (int k = 0; k < 4200; k++) /* past the rest (4096 lines) */
		o += (size_t)snprintf(buf + o, cap - o, GOOD "\n");
	o += (size_t)snprintf(buf + o, cap - o, "{\"TaskID\":\"0A\",\"EventID\":\"2\",\"T\":\"");
	memset(buf + o, 'x', 5000);
	o += 5000;
	o += (size_t)snprintf(buf + o, cap - o, "\"}\n" GOOD "\n");
	/* one byte over the limit, and at it: whitespace makes it parse */
	for (size_t len = 4097; len >= 4096; len--) {
		static const char head[] = "{\"TaskID\":\"0A\",", tail[] = "\"EventID\":\"3\"}";
		size_t pad = len - (sizeof head - 1) - (sizeof tail - 1);
		o += (size_t)snprintf(buf + o, cap - o, "%s%*s%s\n", head, (int)pad, "",
		                      tail);
	}
	assert_true(o < cap);
	for (size_t cut = 0; cut <= o; cut += 65537)
		assert_int_equal(fuzz_line_ends_agree(OP_FORMAT_JSON_V4,
		                                      (const unsigned char *)buf, o,
		                                      cut), 0);
	free(buf);
}

/* Replay and serve decode with the key/value pairs left out (keep_kv 0),
 * which reads a pair in place instead of copying it: every line must come
 * out as with the pairs kept (the same event but for its pairs, or the
 * same reject at the same offset), through each branch of that path —
 * plain, escaped and nested values, keys repeated plain or escaped (an
 * unescaped key outlives the next one's unescaping), every limit. The
 * fuzz target runs the same check (fuzz_unkept_agrees). */
static void
test_pairs_left_out_decide_as_kept(void **state)
{
	(void)state;
	char v200[201], v201[202], buf[8192];
	memset(v200, 'y', 200);
	v200[200] = 0;
	memset(v201, 'y', 201);
	v201[201] = 0;
	static const char *const lines[] = {
		GOOD,
		"{\"TaskID\":\"1\",\"EventID\":\"2\",\"D\":\"java.io.IOException: x\"}",
		"{\"TaskID\":\"1\",\"EventID\":\"2\",\"E\":\"\\u0045xception\"}",
		"{\"TaskID\":\"1\",\"EventID\":\"2\",\"E\":{\"a\":[\"Exception\"]}}",
		"{\"TaskID\":\"1\",\"EventID\":\"2\",\"N\":null,\"B\":true,\"X\":12.5e3}",
		"{\"TaskID\":\"1\",\"EventID\":\"2\",\"T\":\"a\",\"T\":\"b\"}",
		"{\"TaskID\":\"1\",\"EventID\":\"2\",\"T\":\"a\",\"\\u0054\":\"b\"}",
		"{\"TaskID\":\"1\",\"\\u0054x\":\"\\u0045xception\",\"EventID\":\"2\","
		"\"T\\u0078\":\"b\"}",
		"{\"TaskID\":\"1\",\"\\u0054x\":\"\\u0045\",\"Tx\":2,\"EventID\":\"2\"}",
		"{\"TaskID\":\"1\",\"EventID\":\"2\",\"a\":1,\"b\":2,\"c\":3,\"d\":4,"
		"\"e\":5,\"f\":6,\"g\":7,\"h\":8}",
		"{\"TaskID\":\"1\",\"EventID\":\"2\",\"a\":1,\"b\":2,\"c\":3,\"d\":4,"
		"\"e\":5,\"f\":6,\"g\":7,\"h\":8,\"i\":9}",
		"{\"TaskID\":\"1\",\"EventID\":\"2\",\"T\":\"abc",
		"{\"TaskID\":\"1\",\"EventID\":\"2\",\"T\":nul}",
		"{\"TaskID\":\"1\",\"EventID\":\"2\",\"T\":[1,}",
		"{\"TaskID\":\"1\",\"EventID\":\"2\",\"T\":",
		"{\"TaskID\":\"1\",\"EventID\":\"2\",\"T\":\"a\tb\"}",
		"{\"TaskID\":\"1\",\"EventID\":\"2\",\"T\":\"a\xff\"}",
		"{\"TaskID\":\"1\",\"EventID\":\"2\",\"T\":\"\\q\"}",
		"{\"TaskID\":\"1\",\"EventID\":\"2\",\"T\":\"a\"",
	};
	size_t o = 0;
	for (size_t i = 0; i < sizeof lines / sizeof *lines; i++)
		o += (size_t)snprintf(buf + o, sizeof buf - o, "%s\n", lines[i]);
	/* the field limit (200 here) on a plain, an escaped and a nested
	 * value, at it and one over */
	for (int over = 0; over < 2; over++) {
		const char *v = over ? v201 : v200; /* texts of 200 or 201 bytes: */
		o += (size_t)snprintf(buf + o, sizeof buf - o, "{\"TaskID\":\"1\","
		                      "\"EventID\":\"2\",\"T\":\"%s\"}\n", v);
		o += (size_t)snprintf(buf + o, sizeof buf - o, "{\"TaskID\":\"1\","
		                      "\"EventID\":\"2\",\"T\":\"\\n%s\"}\n", v + 1);
		o += (size_t)snprintf(buf + o, sizeof buf - o, "{\"TaskID\":\"1\","
		                      "\"EventID\":\"2\",\"T\":[\"%s\"]}\n", v + 4);
	}
	assert_true(o < sizeof buf);
	assert_int_equal(fuzz_unkept_agrees((const unsigned char *)buf, o), 0);
	for (size_t cut = 0; cut < o; cut += 97) /* lines cut short, too */
		assert_int_equal(fuzz_unkept_agrees((const unsigned char *)buf, cut), 0);

	/* where they differ: pairs that make a kept record too large (1024
	 * bytes here) take no room when left out, and still flag it */
	o = (size_t)snprintf(buf, sizeof buf, "{\"TaskID\":\"1\",\"EventID\":\"2\"");
	for (int k = 0; k < 6; k++)
		o += (size_t)snprintf(buf + o, sizeof buf - o, ",\"k%d\":\"%.190s%s\"", k,
		                      v200, k == 5 ? "Exception" : "");
	o += (size_t)snprintf(buf + o, sizeof buf - o, "}");
	for (uint32_t keep = 0; keep < 2; keep++) {
		struct op_deadletter *dl;
		struct op_decoder *d;
		uint64_t rec[1024 / 8];
		uint32_t len;
		assert_int_equal(fuzz_decoder_new_kv(OP_FORMAT_JSON_V4, keep, &dl, &d), 0);
		int rc = op_decode_json(d, buf, o, NULL, rec, sizeof rec, &len);
		if (keep) {
			assert_int_not_equal(rc, 0);
			assert_int_equal(op_decoder_last_reject(d), OP_REJECT_RECORD_TOO_LARGE);
		} else {
			assert_int_equal(rc, 0);
			assert_true(((const struct op_event *)(void *)rec)->flags &
			            OP_EV_EXCEPTION);
		}
		op_decoder_free(d);
		op_deadletter_free(dl);
	}
}

/* Lines shaped as producers write them: the HDFS workload's, with two
 * parents, with every known key, and last the reference report (a nested
 * value, so never read by the template). */
static const char *const shaped[] = {
	"{\"TaskID\":\"8FD64D31DA7202CE\",\"EventID\":\"-4673254095215851692\","
	"\"ParentEventID\":[\"1465542072991847650\"],\"Timestamp\":1700000000000,"
	"\"HRT\":306272517082607,\"EndHRT\":306306810538878,\"Host\":\"dn01\","
	"\"Agent\":\"DataNode\",\"Label\":\"writeBlock\",\"Title\":\"w\","
	"\"Description\":\"java.io.IOException at x\"}",
	"{\"TaskID\":\"0a\",\"EventID\":\"7\",\"ParentEventID\":[\"5\",\"-6\"],"
	"\"HRT\":12,\"Host\":\"h\",\"Label\":\"l\",\"Cycles\":-98765}",
	"{\"TaskID\":\"1\",\"EventID\":\"2\",\"ParentEventID\":[],"
	"\"Timestamp\":3,\"ProcessID\":-4,\"ProcessName\":\"p\",\"ThreadID\":5,"
	"\"ThreadName\":\"t\",\"Agent\":\"a\",\"EndHRT\":0}",
	GOOD,
};

/* Decodes base, then var, with the pairs left out and kept: 0 when var
 * decided the same (fuzz_unkept_agrees), and the same with the line ends
 * found by the decoder or not (fuzz_line_ends_agree_kv, pairs left out). */
static int
template_agrees(const char *base, const char *var, size_t vn)
{
	static unsigned char buf[4096];
	size_t bn = strlen(base);
	assert_true(bn + 1 + vn + 1 <= sizeof buf);
	memcpy(buf, base, bn);
	buf[bn] = '\n';
	memcpy(buf + bn + 1, var, vn);
	buf[bn + 1 + vn] = '\n';
	size_t n = bn + vn + 2;
	return fuzz_unkept_agrees(buf, n) ||
	       fuzz_line_ends_agree_kv(OP_FORMAT_JSON_V4, 0, buf, n, n / 2);
}

/* How many of three copies of line (each decoded) the template read, the
 * pairs left out. */
static uint64_t
templated_of_three(const char *line)
{
	struct op_deadletter *dl;
	struct op_decoder *d;
	uint64_t rec[1024 / 8];
	uint32_t len;
	assert_int_equal(fuzz_decoder_new_kv(OP_FORMAT_JSON_V4, 0, &dl, &d), 0);
	for (int rep = 0; rep < 3; rep++)
		assert_int_equal(op_decode_json(d, line, strlen(line), NULL, rec,
		                                sizeof rec, &len), 0);
	uint64_t n = op_decoder_stats(d)->templated;
	op_decoder_free(d);
	op_deadletter_free(dl);
	return n;
}

/* A line read by the template that the line before it taught decodes
 * exactly as the general path reads it: the same event to the byte but
 * for the pairs, or the same reject at the same place. Each shaped line
 * is first read by its own template (it is, but for the nested one), then
 * changed a byte at a time, at every position: each byte replaced by one
 * that ends or starts a token, a digit, a letter, a control or non-ASCII
 * byte, deleted, or doubled. The fuzz target (fuzz_decode_json) runs the
 * same comparisons on its inputs. */
static void
test_lines_read_by_the_template_decode_as_the_general_path(void **state)
{
	(void)state;
	static const char sub[] = " \"\\09-aAfG}{,:[]nEx.\x80\xff\x01\t\r\n";
	char var[1024], at_limit[2][512];
	/* a left-out value, then a text, at the field limit (200 here): one
	 * byte more is too long. (The template reads a text within a block
	 * of the limit only at the end of its line: elsewhere its copy stops
	 * short, and the general path reads the line. So the text is last.) */
	snprintf(at_limit[0], sizeof at_limit[0],
	         "{\"TaskID\":\"1\",\"EventID\":\"2\",\"Title\":\"%0200d\","
	         "\"Host\":\"h\"}", 0);
	snprintf(at_limit[1], sizeof at_limit[1],
	         "{\"TaskID\":\"1\",\"EventID\":\"2\",\"Title\":\"t\","
	         "\"Host\":\"%0200d\"}", 0);
	const size_t n_shaped = sizeof shaped / sizeof *shaped;
	for (size_t k = 0; k < n_shaped + 2; k++) {
		const char *b = k < n_shaped ? shaped[k] : at_limit[k - n_shaped];
		size_t n = strlen(b);
		/* the same line again: read by the template, but the nested */
		assert_int_equal(templated_of_three(b), k == n_shaped - 1 ? 0 : 2);
		assert_int_equal(template_agrees(b, b, n), 0);
		for (size_t i = 0; i < n; i++) {
			for (size_t c = 0; c < sizeof sub - 1; c++) {
				memcpy(var, b, n);
				var[i] = sub[c];
				assert_int_equal(template_agrees(b, var, n), 0);
			}
			memcpy(var, b, i); /* without byte i, then with it twice */
			memcpy(var + i, b + i + 1, n - i - 1);
			assert_int_equal(template_agrees(b, var, n - 1), 0);
			memcpy(var, b, i + 1);
			memcpy(var + i + 1, b + i, n - i);
			assert_int_equal(template_agrees(b, var, n + 1), 0);
		}
	}
	/* no template is learned from a line with a key the general path
	 * unescapes, an escaped or a non-ASCII one (it copies such a key of
	 * a left-out pair into the string scratch, so into the record: the
	 * fuzz target found a UTF-8 byte order mark as a key), or a '\n'
	 * between its values (a line's end where the decoder finds them);
	 * each line read after itself decodes as the general path reads it */
	static const char *const unlearned[] = {
		"{\"TaskID\":\"1\",\"EventID\":\"2\",\"\\u0054x\":\"v\"}",
		"{\"TaskID\":\"1\",\"EventID\":\"2\",\"\xef\xbb\xbf\":2,\"y\":5}",
		"{\"TaskID\":\"1\",\"EventID\":\"2\",\"Titl\xc3\xa9\":\"v\"}",
		"{\"TaskID\":\"1\",\n\"EventID\":\"2\"}",
	};
	for (size_t k = 0; k < sizeof unlearned / sizeof *unlearned; k++) {
		assert_int_equal(templated_of_three(unlearned[k]), 0);
		assert_int_equal(template_agrees(unlearned[k], unlearned[k],
		                                 strlen(unlearned[k])), 0);
	}
	/* limits a one-byte change does not reach: parents (8 here), the
	 * process id's range */
	static const char *const pairs[][2] = {
		{"{\"TaskID\":\"1\",\"EventID\":\"2\",\"ParentEventID\":[\"1\",\"3\","
		 "\"4\",\"5\",\"6\",\"7\",\"8\",\"9\"]}",
		 "{\"TaskID\":\"1\",\"EventID\":\"2\",\"ParentEventID\":[\"1\",\"3\","
		 "\"4\",\"5\",\"6\",\"7\",\"8\",\"9\",\"10\"]}"},
		{"{\"TaskID\":\"1\",\"EventID\":\"2\",\"ParentEventID\":[\"1\",\"3\","
		 "\"4\",\"5\",\"6\",\"7\",\"8\",\"9\"]}",
		 "{\"TaskID\":\"1\",\"EventID\":\"2\",\"ParentEventID\":[\"1\",\"3\","
		 "\"4\",\"5\",\"6\",\"7\",\"8\",\"9\",\"9\"]}"},
		{"{\"TaskID\":\"1\",\"EventID\":\"2\",\"ProcessID\":-4}",
		 "{\"TaskID\":\"1\",\"EventID\":\"2\",\"ProcessID\":2147483648}"},
		{"{\"TaskID\":\"1\",\"EventID\":\"2\",\"ProcessID\":-4}",
		 "{\"TaskID\":\"1\",\"EventID\":\"2\",\"ProcessID\":-2147483649}"},
		{"{\"TaskID\":\"1\",\"EventID\":\"2\",\"ProcessID\":-4}",
		 "{\"TaskID\":\"1\",\"EventID\":\"2\",\"ProcessID\":2147483647}"},
	};
	for (size_t k = 0; k < sizeof pairs / sizeof *pairs; k++)
		assert_int_equal(template_agrees(pairs[k][0], pairs[k][1],
		                                 strlen(pairs[k][1])), 0);
	/* a stream of them, each after each, half of them ending "\r\n",
	 * cut anywhere */
	static unsigned char buf[8192];
	size_t o = 0;
	for (int rep = 0; rep < 4; rep++)
		for (size_t k = 0; k < sizeof shaped / sizeof *shaped; k++)
			for (int twice = 0; twice < 2; twice++)
				o += (size_t)snprintf((char *)buf + o, sizeof buf - o,
				                      rep % 2 ? "%s\r\n" : "%s\n",
				                      shaped[(k + (size_t)rep) %
				                             (sizeof shaped / sizeof *shaped)]);
	assert_true(o < sizeof buf);
	assert_int_equal(fuzz_unkept_agrees(buf, o), 0);
	for (size_t cut = 0; cut <= o; cut += 61)
		assert_int_equal(fuzz_line_ends_agree_kv(OP_FORMAT_JSON_V4, 0, buf, o,
		                                         cut), 0);
	/* fed as a stream (the decoder finds the line ends): each line that
	 * follows its twin is read by the template, "\r\n" or not, but the
	 * nested one */
	struct op_deadletter *dl;
	struct op_decoder *d;
	assert_int_equal(fuzz_decoder_new_kv(OP_FORMAT_JSON_V4, 0, &dl, &d), 0);
	op_decoder_feed(d, buf, o, fuzz_check, NULL);
	op_decoder_finish(d, fuzz_check, NULL);
	assert_int_equal(op_decoder_stats(d)->events, 4 * 2 * n_shaped);
	assert_int_equal(op_decoder_stats(d)->templated, 4 * (n_shaped - 1));
	op_decoder_free(d);
	op_deadletter_free(dl);
}

/* The splitter takes a line end it is told only where there is a '\n',
 * and searches itself otherwise. */
struct told {
	unsigned calls;
	size_t answer[4];
	struct op_unit got[8];
	unsigned n;
};

static size_t
told_end(void *arg, const char *p, size_t avail)
{
	(void)p;
	(void)avail;
	struct told *t = arg;
	return t->calls < 4 ? t->answer[t->calls++] : 0;
}

static int
told_unit(void *arg, const struct op_unit *u)
{
	struct told *t = arg;
	if (t->n < 8)
		t->got[t->n++] = *u;
	return 0;
}

static void
test_splitter_checks_the_line_end_it_is_told(void **state)
{
	(void)state;
	struct op_splitter *sp;
	assert_int_equal(op_splitter_new(OP_SPLIT_LINES, 100, &sp), 0);
	/* right, pointing at no newline, past the end, nothing */
	struct told t = {.answer = {3, 2, 99, 0}};
	op_splitter_set_line_end(sp, told_end, &t);
	const char *in = "abc\ndefg\nhi\njk\nl";
	assert_int_equal(op_splitter_feed(sp, in, strlen(in), told_unit, &t), 0);
	assert_int_equal(op_splitter_finish(sp, told_unit, &t), 0);
	op_splitter_free(sp);
	assert_int_equal(t.calls, 4);
	static const char *const want[] = {"abc", "defg", "hi", "jk", "l"};
	assert_int_equal(t.n, 5);
	for (unsigned i = 0; i < 5; i++) {
		assert_int_equal(t.got[i].len, strlen(want[i]));
		assert_int_equal(t.got[i].pos.line, i + 1);
	}
	assert_true(t.got[4].flags & OP_UNIT_TRUNCATED);
}

/* A text kept when the string scratch is exactly full: an empty one has
 * no room for its NUL, which was written one byte past the scratch (the
 * OTLP JSON fuzz target found it through a line read as X-Trace JSON;
 * ASan sees it, so the suite's sanitizer stage does). Now it is refused
 * as the record's overflow, through the general path (pairs kept) and
 * through the line template (pairs left out, a line of the same shape
 * read before), with texts around the exact fill; and the decoder goes on
 * decoding. */
static void
test_a_full_string_scratch_refuses_an_empty_text(void **state)
{
	(void)state;
	char line[512], host[300];
	for (uint32_t keep_kv = 0; keep_kv < 2; keep_kv++) {
		struct op_decode_config cfg;
		op_decode_config_default(&cfg);
		cfg.keep_kv = keep_kv;
		cfg.max_record_bytes = 256; /* the string scratch's size */
		cfg.max_field_bytes = 256;
		struct op_decoder *d;
		struct op_deadletter *dl;
		FILE *f = tmpfile();
		assert_non_null(f);
		assert_int_equal(op_deadletter_new(f, &dl), 0);
		assert_int_equal(op_decoder_new(OP_FORMAT_JSON_V4, &cfg, "t", dl,
		                                &d), 0);
		uint64_t rec[1024 / 8];
		uint32_t len;
		/* the empty text at the line's end (read with the block that
		 * ends there) and before more of it (read by jstr) */
		static const char head[] = "{\"TaskID\":\"1\",\"EventID\":\"2\","
		                           "\"Host\":\"";
		static const char *const tails[] = {
			"\",\"Agent\":\"\"}",
			"\",\"Agent\":\"\",\"Title\":\"a title of some length\"}",
		};
		/* the scratch starts with the shared NUL: a 254-byte host and
		 * its NUL fill its 256 bytes */
		for (size_t i = 0; i < 2 * 7; i++) {
			const char *tail = tails[i / 7];
			size_t hn = 250 + i % 7;
			snprintf(line, sizeof line, "%sh%s", head, tail); /* the template */
			assert_int_equal(op_decode_json(d, line, strlen(line), NULL,
			                                rec, sizeof rec, &len), 0);
			memset(host, 'x', hn);
			host[hn] = '\0';
			snprintf(line, sizeof line, "%s%s%s", head, host, tail);
			assert_int_not_equal(op_decode_json(d, line, strlen(line),
			                                    NULL, rec, sizeof rec,
			                                    &len), 0);
			assert_int_equal(op_decoder_last_reject(d),
			                 OP_REJECT_RECORD_TOO_LARGE);
			if (hn != 254)
				continue;
			/* exactly full: refused at the empty text's closing
			 * quote (its dead letter's "at"), not later, when the
			 * record is laid out */
			char dead[2048], want[32];
			fflush(f);
			rewind(f);
			while (fgets(dead, sizeof dead, f))
				;
			snprintf(want, sizeof want, "\"at\":%zu,",
			         (size_t)(strstr(line, "\"Agent\":\"\"") - line) + 9);
			assert_non_null(strstr(dead, want));
			fseek(f, 0, SEEK_END);
		}
		snprintf(line, sizeof line, "%sh2%s", head, tails[0]);
		assert_int_equal(op_decode_json(d, line, strlen(line), NULL, rec,
		                                sizeof rec, &len), 0);
		assert_string_equal(op_event_field((const struct op_event *)
		                                   (const void *)rec, OP_EV_HOST,
		                                   NULL), "h2");
		op_decoder_free(d);
		op_deadletter_free(dl);
		fclose(f);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_line_ends_found_by_the_decoder_change_nothing),
		cmocka_unit_test(test_pairs_left_out_decide_as_kept),
		cmocka_unit_test(test_lines_read_by_the_template_decode_as_the_general_path),
		cmocka_unit_test(test_splitter_checks_the_line_end_it_is_told),
		cmocka_unit_test(test_a_full_string_scratch_refuses_an_empty_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
