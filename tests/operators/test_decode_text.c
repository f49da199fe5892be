/*
 * test_decode_text.c — classic X-Trace text reports: metadata flags, edges,
 * timestamps, the streaming splitter, and the text half of the bad-input
 * suite.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include <xxhash.h>

#include "test_util.h"

#define HDR "X-Trace Report ver 1.0\n"
/* version 1, 8-byte task id, 8-byte op id */
#define MD8 "X-Trace: 1901020304050607081122334455667788\n"

static int
dec(struct fx *f, const char *s)
{
	return op_decode_text(f->d, s, strlen(s), NULL, f->rec, sizeof f->rec,
	                      &f->len);
}

static enum op_reject
rej(struct fx *f, const char *s)
{
	return fx_reject(f, dec(f, s));
}

static void
test_decodes_a_full_report(void **state)
{
	struct fx *f = *state;
	assert_int_equal(dec(f, HDR MD8 "Edge: 0A0B0C0D01020304\nEdge: 00000000000000FF, x\n"
	                        "Timestamp: 1175645123.123\nHost: node1\nAgent: DataNode\n"
	                        "Label: writeBlock\nFoo: 1\nFoo: 2\n"), 0);
	const struct op_event *e = fx_ev(f);
	assert_int_equal(op_event_validate(e, f->len), 0);
	assert_true(e->trace_id == 0x0102030405060708ULL);
	assert_true(e->event_id == 0x1122334455667788ULL);
	assert_int_equal(e->n_parents, 2);
	assert_true(op_event_parents(e)[0] == 0x0A0B0C0D01020304ULL);
	assert_true(op_event_parents(e)[1] == 0xFF);
	assert_true(e->start_ns == 1175645123123000000ULL);
	assert_true(e->wall_ms == 1175645123123LL);
	assert_string_equal(op_event_label(e, NULL), "writeBlock");
	assert_string_equal(op_event_host(e, NULL), "node1");
	assert_string_equal(op_event_agent(e, NULL), "DataNode");
	assert_int_equal(e->n_kv, 2); /* a key may repeat */
}

/* A value naming an exception marks the event (OP_EV_EXCEPTION); a key
 * or a known field does not. */
static void
test_a_value_naming_an_exception_marks_the_event(void **state)
{
	struct fx *f = *state;
	assert_int_equal(dec(f, HDR MD8 "Label: Exception\nException: no\n"
	                        "Foo: Exceptio\n"), 0);
	assert_false(fx_ev(f)->flags & OP_EV_EXCEPTION);
	assert_int_equal(dec(f, HDR MD8 "Label: x\nFoo: 1\n"
	                        "Description: java.io.IOException\n"), 0);
	assert_true(fx_ev(f)->flags & OP_EV_EXCEPTION);
	assert_false(fx_ev(f)->flags & OP_EV_ERROR);
}

static void
test_short_ids_are_big_endian_values(void **state)
{
	struct fx *f = *state;
	/* 0x10: version 1, 4-byte task id, 4-byte op id */
	assert_int_equal(dec(f, HDR "X-Trace: 10DEADBEEF00000042\n"), 0);
	assert_true(fx_ev(f)->trace_id == 0xDEADBEEF);
	assert_true(fx_ev(f)->event_id == 0x42);
}

static void
test_long_task_ids_are_hashed_with_xxh3(void **state)
{
	struct fx *f = *state;
	/* 0x13: 20-byte task id; 0x14 bit: options (2 bytes) */
	assert_int_equal(dec(f, HDR "X-Trace: 17" "000102030405060708090A0B0C0D0E0F10111213"
	                        "00000007" "02AABB\n"), 0);
	unsigned char id[20];
	for (int i = 0; i < 20; i++)
		id[i] = (unsigned char)i;
	assert_true(fx_ev(f)->trace_id == XXH3_64bits(id, 20));
	assert_true(fx_ev(f)->event_id == 7);
}

static void
test_splitter_cuts_reports_across_chunks(void **state)
{
	(void)state;
	struct op_decoder *d;
	assert_int_equal(op_decoder_new(OP_FORMAT_TEXT, NULL, "r.txt", NULL, &d), 0);
	const char *in = "\n" HDR MD8 "Label: a\n\n\n" HDR
	                 "X-Trace: 1901020304050607080000000000000002\r\n"
	                 "Edge: 1122334455667788\r\n\r\n" HDR
	                 "X-Trace: 1901020304050607080000000000000003\n";
	struct collect c = {0};
	size_t n = strlen(in);
	for (size_t p = 0; p < n; p += 5)
		assert_int_equal(op_decoder_feed(d, in + p, n - p < 5 ? n - p : 5,
		                                 collect_fn, &c), 0);
	assert_int_equal(op_decoder_finish(d, collect_fn, &c), 0);
	assert_int_equal(c.n, 3);
	assert_true(collected(&c, 1)->event_id == 2);
	assert_true(op_event_parents(collected(&c, 1))[0] == 0x1122334455667788ULL);
	assert_true(collected(&c, 2)->event_id == 3);
	assert_int_equal(op_decoder_stats(d)->rejected, 0);
	op_decoder_free(d);
	collect_free(&c);
}

static void
test_good_reports_around_bad_ones_all_come_out(void **state)
{
	(void)state;
	struct mem_dl dead;
	mem_dl_open(&dead);
	struct op_decoder *d;
	assert_int_equal(op_decoder_new(OP_FORMAT_TEXT, NULL, "r.txt", dead.dl, &d), 0);
	const char *in = HDR MD8 "\n"
	                 HDR "X-Trace: 2901020304050607081122334455667788\n\n"
	                 HDR "Label: no id\n\n"
	                 HDR "X-Trace: 1901020304050607080000000000000009\n\n"
	                 HDR "X-Trace: 19010203";
	struct collect c = {0};
	feed_all(d, in, strlen(in), &c);
	assert_int_equal(c.n, 2);
	assert_true(collected(&c, 1)->event_id == 9);
	const struct op_decode_stats *st = op_decoder_stats(d);
	assert_int_equal(st->by_reason[OP_REJECT_BAD_VERSION], 1);
	assert_int_equal(st->by_reason[OP_REJECT_MISSING_TRACE_ID], 1);
	assert_int_equal(st->by_reason[OP_REJECT_TRUNCATED], 1);
	assert_int_equal(st->units, st->events + st->rejected);
	op_decoder_free(d);
	mem_dl_close(&dead);
	assert_non_null(strstr(dead.buf, "\"line\":4,"));
	assert_non_null(strstr(dead.buf, "\"reason\":\"bad_version\""));
	free(dead.buf);
	collect_free(&c);
}

static void
test_rejects_unknown_metadata_version(void **state)
{
	struct fx *f = *state;
	assert_int_equal(rej(f, HDR "X-Trace: 2901020304050607081122334455667788\n"),
	                 OP_REJECT_BAD_VERSION);
}

static void
test_rejects_unknown_report_version(void **state)
{
	struct fx *f = *state;
	assert_int_equal(rej(f, "X-Trace Report ver 2.0\n" MD8), OP_REJECT_BAD_VERSION);
}

static void
test_rejects_truncated_metadata(void **state)
{
	struct fx *f = *state;
	assert_int_equal(rej(f, HDR "X-Trace: 190102030405060708112233\n"),
	                 OP_REJECT_TRUNCATED);
}

static void
test_rejects_report_with_header_only(void **state)
{
	struct fx *f = *state;
	assert_int_equal(rej(f, HDR), OP_REJECT_MISSING_TRACE_ID);
}

static void
test_rejects_missing_header(void **state)
{
	struct fx *f = *state;
	assert_int_equal(rej(f, MD8), OP_REJECT_SYNTAX);
}

static void
test_rejects_non_hex_metadata(void **state)
{
	struct fx *f = *state;
	assert_int_equal(rej(f, HDR "X-Trace: 19ZZ020304050607081122334455667788\n"),
	                 OP_REJECT_BAD_ID);
}

static void
test_rejects_non_hex_edge(void **state)
{
	struct fx *f = *state;
	assert_int_equal(rej(f, HDR MD8 "Edge: nothex\n"), OP_REJECT_BAD_ID);
}

static void
test_rejects_edge_to_itself(void **state)
{
	struct fx *f = *state;
	assert_int_equal(rej(f, HDR MD8 "Edge: 1122334455667788\n"), OP_REJECT_SELF_PARENT);
}

static void
test_rejects_repeated_single_valued_key(void **state)
{
	struct fx *f = *state;
	assert_int_equal(rej(f, HDR MD8 "Host: a\nHost: b\n"), OP_REJECT_DUPLICATE_KEY);
}

static void
test_rejects_invalid_utf8(void **state)
{
	struct fx *f = *state;
	assert_int_equal(rej(f, HDR MD8 "Label: \xff\n"), OP_REJECT_BAD_UTF8);
}

static void
test_rejects_line_without_colon(void **state)
{
	struct fx *f = *state;
	assert_int_equal(rej(f, HDR MD8 "just words\n"), OP_REJECT_SYNTAX);
}

static void
test_rejects_bad_timestamp(void **state)
{
	struct fx *f = *state;
	assert_int_equal(rej(f, HDR MD8 "Timestamp: 12.x\n"), OP_REJECT_BAD_NUMBER);
}

static void
test_rejects_field_longer_than_limit(void **state)
{
	struct fx *f = *state;
	size_t n = op_decoder_config(f->d)->max_field_bytes + 1;
	char *s = malloc(n + 128);
	int o = sprintf(s, HDR MD8 "Label: ");
	memset(s + o, 'x', n);
	strcpy(s + o + n, "\n");
	assert_int_equal(rej(f, s), OP_REJECT_FIELD_TOO_LONG);
	free(s);
}

static void
test_rejects_too_many_edges(void **state)
{
	struct fx *f = *state;
	char s[8192];
	int o = sprintf(s, HDR MD8);
	for (unsigned i = 0; i <= op_decoder_config(f->d)->max_parents; i++)
		o += sprintf(s + o, "Edge: %x\n", i + 1);
	assert_int_equal(rej(f, s), OP_REJECT_TOO_MANY_PARENTS);
}

static void
test_rejects_too_many_pairs(void **state)
{
	struct fx *f = *state;
	char s[8192];
	int o = sprintf(s, HDR MD8);
	for (unsigned i = 0; i <= op_decoder_config(f->d)->max_kv; i++)
		o += sprintf(s + o, "K: %u\n", i);
	assert_int_equal(rej(f, s), OP_REJECT_TOO_MANY_KV);
}

static void
test_rejects_report_over_limit_in_stream(void **state)
{
	(void)state;
	struct op_decode_config cfg;
	op_decode_config_default(&cfg);
	cfg.max_report_bytes = 512;
	struct op_decoder *d;
	assert_int_equal(op_decoder_new(OP_FORMAT_TEXT, &cfg, NULL, NULL, &d), 0);
	char s[4096];
	int o = sprintf(s, HDR MD8);
	for (int i = 0; i < 40; i++)
		o += sprintf(s + o, "K%d: some value\n", i);
	o += sprintf(s + o, "\n" HDR MD8 "\n");
	struct collect c = {0};
	feed_all(d, s, (size_t)o, &c);
	assert_int_equal(c.n, 1);
	assert_int_equal(op_decoder_stats(d)->by_reason[OP_REJECT_TOO_LONG], 1);
	op_decoder_free(d);
	collect_free(&c);
}

/* ---- where records are laid out (op_decoder_set_reserve) ---------------- */

struct rooms {
	_Alignas(8) unsigned char buf[4][2048];
	unsigned next, reserved, delivered, in_room;
	int refuse;
	uint64_t last_trace;
	uint32_t asked; /* the size of the last room reserved */
	uint32_t n_kv;  /* of the last event delivered */
};

static void *
room_reserve(void *arg, uint64_t trace_id, uint32_t size)
{
	struct rooms *r = arg;
	r->reserved++;
	r->last_trace = trace_id;
	r->asked = size;
	if (r->refuse || size > sizeof r->buf[0])
		return NULL;
	return r->buf[r->next++ % 4];
}

static int
room_event(void *arg, const struct op_event *e, uint32_t len)
{
	struct rooms *r = arg;
	assert_int_equal(op_event_validate(e, len), 0);
	assert_true(e->trace_id == r->last_trace);
	r->delivered++;
	r->n_kv = e->n_kv;
	for (int i = 0; i < 4; i++)
		if ((const unsigned char *)e == r->buf[i]) {
			r->in_room++;
			assert_true(len <= r->asked); /* it fits its room */
		}
	return 0;
}

/* Room is asked for at least the record, with the pairs kept or not; a
 * record whose bound exceeds the room on offer is laid out in the
 * decoder's own buffer, the same. A pair left out takes no room: its
 * text is not copied (decode_json.c, jpair_unkept). */
static void
test_room_is_asked_for_at_least_the_record(void **state)
{
	(void)state;
	char big[2501], line[3200];
	memset(big, 'y', 2500);
	big[2500] = 0;
	int n = snprintf(line, sizeof line,
	                 "{\"TaskID\":\"0A\",\"EventID\":\"1\",\"Label\":\"a\","
	                 "\"Title\":\"t\"}\n"
	                 "{\"TaskID\":\"0B\",\"EventID\":\"2\",\"Label\":\"b\","
	                 "\"Title\":\"%s\"}\n", big);
	assert_true(n > 0 && (size_t)n < sizeof line);
	for (int keep = 0; keep < 2; keep++) {
		struct op_decode_config cfg;
		op_decode_config_default(&cfg);
		cfg.keep_kv = (uint32_t)keep;
		struct op_decoder *d;
		assert_int_equal(op_decoder_new(OP_FORMAT_JSON_V4, &cfg, NULL, NULL,
		                                &d), 0);
		struct rooms r;
		memset(&r, 0, sizeof r);
		op_decoder_set_reserve(d, room_reserve, &r);
		assert_int_equal(op_decoder_feed(d, line, strlen(line), room_event,
		                                 &r), 0);
		assert_int_equal(op_decoder_finish(d, room_event, &r), 0);
		/* both delivered; the first in its room; the second (2.5 KB of
		 * pair) from the decoder's buffer with its pair, in its room
		 * without it */
		assert_int_equal(r.delivered, 2);
		assert_int_equal(r.in_room, keep ? 1 : 2);
		assert_int_equal(r.n_kv, (unsigned)keep);
		assert_int_equal(op_decoder_stats(d)->rejected, 0);
		op_decoder_free(d);
	}
}

static void
test_records_are_laid_out_where_reserve_says(void **state)
{
	(void)state;
	/* JSON and text: three good units, one rejected after its room was
	 * reserved (a parent equal to the event id), one rejected before
	 * (syntax) */
	const char *json =
	    "{\"TaskID\":\"0A\",\"EventID\":\"1\",\"Label\":\"a\"}\n"
	    "{\"TaskID\":\"0B\",\"EventID\":\"2\",\"ParentEventID\":[\"2\"]}\n"
	    "{\"TaskID\":\"0C\",\"EventID\":\"3\",\"Label\":\"b\"}\n"
	    "{\"TaskID\":\n"
	    "{\"TaskID\":\"0D\",\"EventID\":\"4\",\"Title\":\"t\"}\n";
	const char *text =
	    HDR MD8 "Label: a\n\n"
	    HDR "X-Trace: 1901020304050607081122334455667788\n"
	        "Edge: 1122334455667788\n\n"
	    HDR "X-Trace: 1901020304050607081122334455667799\nLabel: b\n\n"
	    HDR "X-Trace: zz\n\n"
	    HDR "X-Trace: 19010203040506070811223344556677AA\nLabel: c\n\n";
	for (int fmt = 0; fmt < 2; fmt++) {
		for (int refuse = 0; refuse < 2; refuse++) {
			struct op_decoder *d;
			assert_int_equal(op_decoder_new(fmt ? OP_FORMAT_TEXT
			                                    : OP_FORMAT_JSON_V4,
			                                NULL, NULL, NULL, &d), 0);
			struct rooms r;
			memset(&r, 0, sizeof r);
			r.refuse = refuse;
			op_decoder_set_reserve(d, room_reserve, &r);
			const char *in = fmt ? text : json;
			assert_int_equal(op_decoder_feed(d, in, strlen(in), room_event,
			                                 &r), 0);
			assert_int_equal(op_decoder_finish(d, room_event, &r), 0);
			assert_int_equal(r.delivered, 3);
			assert_int_equal(r.reserved, 4); /* not for the syntax error */
			assert_int_equal(r.in_room, refuse ? 0 : 3);
			assert_int_equal(op_decoder_stats(d)->rejected, 2);
			op_decoder_free(d);
		}
	}
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, dec_fx_setup_text, dec_fx_teardown)
	const struct CMUnitTest tests[] = {
		T(test_decodes_a_full_report),
		T(test_a_value_naming_an_exception_marks_the_event),
		T(test_short_ids_are_big_endian_values),
		T(test_long_task_ids_are_hashed_with_xxh3),
		cmocka_unit_test(test_splitter_cuts_reports_across_chunks),
		cmocka_unit_test(test_good_reports_around_bad_ones_all_come_out),
		T(test_rejects_unknown_metadata_version),
		T(test_rejects_unknown_report_version),
		T(test_rejects_truncated_metadata),
		T(test_rejects_report_with_header_only),
		T(test_rejects_missing_header),
		T(test_rejects_non_hex_metadata),
		T(test_rejects_non_hex_edge),
		T(test_rejects_edge_to_itself),
		T(test_rejects_repeated_single_valued_key),
		T(test_rejects_invalid_utf8),
		T(test_rejects_line_without_colon),
		T(test_rejects_bad_timestamp),
		T(test_rejects_field_longer_than_limit),
		T(test_rejects_too_many_edges),
		T(test_rejects_too_many_pairs),
		cmocka_unit_test(test_rejects_report_over_limit_in_stream),
		cmocka_unit_test(test_records_are_laid_out_where_reserve_says),
		cmocka_unit_test(test_room_is_asked_for_at_least_the_record),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
