/*
 * test_decode_json.c — X-Trace v4 JSON decoder: the fields of a real-shaped
 * report, producer leniency, and the bad-input suite (one test per reject
 * reason, plus good lines around bad ones).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "test_util.h"

#define GOOD V4_GOOD

static int
dec(struct fx *f, const char *line)
{
	return op_decode_json(f->d, line, strlen(line), NULL, f->rec,
	                      sizeof f->rec, &f->len);
}

/* A reject's reason, counted once under it. */
static enum op_reject
rej(struct fx *f, const char *line)
{
	enum op_reject r = fx_reject(f, dec(f, line));
	assert_int_equal(op_decoder_stats(f->d)->by_reason[r], 1);
	return r;
}

/* Ids and times are converted 8 digits at a time with a per-digit tail
 * (json_scan.h, scan_digits), or 16 at a time where 32 bytes follow and
 * 16 precede the number (scan_digits_wide: the line padded behind the
 * number, pad = 1): every length, sign and leading zeros must give
 * exactly what strtoull / strtoll give, either way. */
static void
test_ids_and_times_of_every_digit_count_convert_exactly(void **state)
{
	struct fx *f = *state;
	const char *digits = "98765432109876543210";
	char num[32], line[256];
	for (int pad = 0; pad <= 1; pad++)
	for (int n = 1; n <= 20; n++) {
		for (int form = 0; form < 3; form++) { /* plain, negative, zero-led */
			if (form == 1 && n > 19)
				continue;
			if (form == 2) {
				memset(num, '0', (size_t)n);
				memcpy(num + n - 1, "7", 2);
			} else {
				snprintf(num, sizeof num, "%s%.*s", form ? "-" : "", n, digits);
			}
			errno = 0;
			unsigned long long want = form == 1 ? (unsigned long long)strtoll(num, NULL, 10)
			                                    : strtoull(num, NULL, 10);
			int overflow = errno == ERANGE;
			snprintf(line, sizeof line,
			         "{\"TaskID\":\"1\",\"EventID\":\"%s\",\"HRT\":%s%s}", num,
			         form != 0 || n > 18 ? "5" : num, /* JSON numbers: no leading zeros */
			         pad ? ",\"Pad\":\"0123456789012345678901234567890123456789\"" : "");
			int rc = dec(f, line);
			if (overflow) {
				assert_int_not_equal(rc, 0);
				continue;
			}
			assert_int_equal(rc, 0);
			assert_int_equal(fx_ev(f)->event_id, (uint64_t)want);
			if (form == 0 && n <= 18)
				assert_int_equal(fx_ev(f)->start_ns, (uint64_t)want);
		}
	}
}

static void
test_decodes_every_v4_field(void **state)
{
	struct fx *f = *state;
	assert_int_equal(dec(f, GOOD), 0);
	const struct op_event *e = fx_ev(f);
	assert_int_equal(op_event_validate(e, f->len), 0);
	assert_true(e->trace_id == 0x7e1b3b5a2c9d4f10ULL);
	assert_true(e->event_id == (uint64_t)INT64_C(-4611686018427387904));
	assert_int_equal(e->n_parents, 2);
	assert_true(op_event_parents(e)[0] == 123 && op_event_parents(e)[1] == 456);
	assert_true(e->start_ns == 1234567890123ULL);
	assert_true(e->wall_ms == 1404236567890LL);
	assert_false(e->flags & OP_EV_HAS_END);
	assert_int_equal(e->process_id, 4242);
	assert_int_equal(e->thread_id, 17);
	size_t n;
	assert_string_equal(op_event_label(e, &n), "writeBlock");
	assert_int_equal(n, 10);
	assert_string_equal(op_event_host(e, NULL), "node-1");
	assert_string_equal(op_event_agent(e, NULL), "HDFS");
	assert_string_equal(op_event_field(e, OP_EV_PROCESS, NULL), "DataNode");
	assert_string_equal(op_event_field(e, OP_EV_THREAD, NULL), "main");
	assert_true(e->label_sym == op_symbol("writeBlock", 10));
	assert_true(e->host_sym == op_symbol("node-1", 6));
	assert_string_equal(op_event_kv_find(e, "Cycles", 6, NULL), "98765");
	assert_string_equal(op_event_kv_find(e, "Tag", 3, NULL), "[\"a\",\"b\"]");
	assert_string_equal(op_event_kv_find(e, "Source", 6, NULL), "X.java:42");
	assert_int_equal(e->n_kv, 4);
}

static void
test_accepts_numbers_for_strings_and_strings_for_numbers(void **state)
{
	struct fx *f = *state;
	assert_int_equal(dec(f, "{\"TaskID\":-2,\"EventID\":5,\"ParentEventID\":[7,\"8\"],"
	                        "\"HRT\":\"99\",\"ProcessID\":\"12\",\"Host\":42,"
	                        "\"Label\":true,\"EndHRT\":150.0}"), 0);
	const struct op_event *e = fx_ev(f);
	assert_true(e->trace_id == UINT64_MAX - 1);
	assert_true(e->event_id == 5);
	assert_true(op_event_parents(e)[1] == 8);
	assert_true(e->start_ns == 99);
	assert_true((e->flags & OP_EV_HAS_END) && e->end_ns == 150);
	assert_int_equal(e->process_id, 12);
	assert_string_equal(op_event_host(e, NULL), "42");
	assert_string_equal(op_event_label(e, NULL), "true");
}

static void
test_keeps_end_time_and_description(void **state)
{
	struct fx *f = *state;
	assert_int_equal(dec(f, "{\"TaskID\":\"1\",\"EventID\":\"2\",\"HRT\":10,"
	                        "\"EndHRT\":25,\"Description\":\"a \\\"q\\\" \\u00e9\\ud83d\\ude00\"}"), 0);
	const struct op_event *e = fx_ev(f);
	assert_true(e->end_ns == 25 && e->start_ns == 10);
	assert_string_equal(op_event_kv_find(e, "Description", 11, NULL),
	                    "a \"q\" \xc3\xa9\xf0\x9f\x98\x80");
}

/* A value naming an exception marks the event (OP_EV_EXCEPTION, which
 * the assembler turns into the trace's "exception" flag); the key, a
 * known field or a value without the word do not. */
static void
test_a_value_naming_an_exception_marks_the_event(void **state)
{
	struct fx *f = *state;
	assert_int_equal(dec(f, "{\"TaskID\":\"1\",\"EventID\":\"2\","
	                        "\"Description\":\"java.io.IOException: x\"}"), 0);
	assert_true(fx_ev(f)->flags & OP_EV_EXCEPTION);
	assert_false(fx_ev(f)->flags & OP_EV_ERROR);
	assert_int_equal(dec(f, "{\"TaskID\":\"1\",\"EventID\":\"2\","
	                        "\"Exception\":\"none\",\"Label\":\"Exception\","
	                        "\"D\":\"Exceptio\",\"N\":null}"), 0);
	assert_false(fx_ev(f)->flags & OP_EV_EXCEPTION);
	/* escaped, nested: the text the event keeps is what is searched */
	assert_int_equal(dec(f, "{\"TaskID\":\"1\",\"EventID\":\"2\","
	                        "\"E\":\"\\u0045xception\"}"), 0);
	assert_true(fx_ev(f)->flags & OP_EV_EXCEPTION);
	assert_int_equal(dec(f, "{\"TaskID\":\"1\",\"EventID\":\"2\","
	                        "\"E\":{\"a\":[\"Exception\"]}}"), 0);
	assert_true(fx_ev(f)->flags & OP_EV_EXCEPTION);
	/* the word after other E's, exactly the value, or at its very end;
	 * an E too close to the end to start it */
	static const char *const with[] = {"EEException", "Exception", "ExceptionX",
	                                   "E.E xException", "ab EExceptio Exception"};
	static const char *const without[] = {"EEEEEEEEEEEE", "xxxxxxxExceptio",
	                                      "Exceptin Exceptio", "Exceptio E"};
	char line[160];
	for (size_t i = 0; i < sizeof with / sizeof *with; i++) {
		snprintf(line, sizeof line, "{\"TaskID\":\"1\",\"EventID\":\"2\",\"D\":\"%s\"}", with[i]);
		assert_int_equal(dec(f, line), 0);
		assert_true(fx_ev(f)->flags & OP_EV_EXCEPTION);
	}
	for (size_t i = 0; i < sizeof without / sizeof *without; i++) {
		snprintf(line, sizeof line, "{\"TaskID\":\"1\",\"EventID\":\"2\",\"D\":\"%s\"}", without[i]);
		assert_int_equal(dec(f, line), 0);
		assert_false(fx_ev(f)->flags & OP_EV_EXCEPTION);
	}
	/* longer values, searched 16 bytes a step: the word at every
	 * offset, across each step's edge, and up to the very end; the word
	 * cut by the end, after E's in every step, is not it */
	for (int pad = 0; pad <= 40; pad++) {
		for (int tail = 0; tail <= 18; tail += 6) {
			snprintf(line, sizeof line, "{\"TaskID\":\"1\",\"EventID\":\"2\","
			         "\"D\":\"%.*sException%.*s\"}", pad,
			         "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz",
			         tail, "xxxxxxxxxxxxxxxxxxxxxxxx");
			assert_int_equal(dec(f, line), 0);
			assert_true(fx_ev(f)->flags & OP_EV_EXCEPTION);
		}
		snprintf(line, sizeof line, "{\"TaskID\":\"1\",\"EventID\":\"2\","
		         "\"D\":\"%.*sExceptio\"}", pad,
		         "EaEbEcEdEeEfEgEhEiEjEkElEmEnEoEpEqErEsEtEuEvEwExEyEz");
		assert_int_equal(dec(f, line), 0);
		assert_false(fx_ev(f)->flags & OP_EV_EXCEPTION);
	}
}

static void
test_timestamp_is_start_when_hrt_absent(void **state)
{
	struct fx *f = *state;
	assert_int_equal(dec(f, "{\"TaskID\":\"a\",\"EventID\":\"1\",\"Timestamp\":1000}"), 0);
	assert_true(fx_ev(f)->start_ns == 1000000000ULL);
	assert_true(fx_ev(f)->flags & OP_EV_HAS_START);
}

static void
test_absent_strings_are_empty_not_null(void **state)
{
	struct fx *f = *state;
	assert_int_equal(dec(f, "{\"TaskID\":\"a\",\"EventID\":\"1\",\"Label\":null}"), 0);
	size_t n = 9;
	assert_string_equal(op_event_label(fx_ev(f), &n), "");
	assert_int_equal(n, 0);
	assert_true(fx_ev(f)->label_sym == op_symbol("", 0));
}

static void
test_duplicate_parent_ids_are_merged(void **state)
{
	struct fx *f = *state;
	assert_int_equal(dec(f, "{\"TaskID\":\"a\",\"EventID\":\"1\",\"ParentEventID\":[\"3\",\"3\"]}"), 0);
	assert_int_equal(fx_ev(f)->n_parents, 1);
}

static void
test_record_is_relocatable_by_memcpy(void **state)
{
	struct fx *f = *state;
	assert_int_equal(dec(f, GOOD), 0);
	uint64_t copy[2048];
	memcpy(copy, f->rec, f->len);
	memset(f->rec, 0xAB, f->len);
	const struct op_event *e = (const struct op_event *)(const void *)copy;
	assert_int_equal(op_event_validate(e, e->size), 0);
	assert_string_equal(op_event_label(e, NULL), "writeBlock");
}

/* ---- fast paths (decode_json.c, json_scan.h) ------------------------------- */

/* TaskIDs go through scan_hex (8 hex digits per word step, either case)
 * before the general path: every length around 16, both cases, a sign,
 * and a non-hex byte at every position must come out as strtoull and
 * the general path say. */
static void
test_task_ids_of_every_length_and_case_convert_exactly(void **state)
{
	struct fx *f = *state;
	const char *digits = "0123456789abcdefFEDCBA9876543210ABCDEFabcdef";
	char id[48], line[256];
	for (int n = 1; n <= 17; n++) {
		for (int start = 0; start < 26; start += 5) {
			for (int neg = 0; neg < 2; neg++) {
				snprintf(id, sizeof id, "%s%.*s", neg ? "-" : "", n, digits + start);
				snprintf(line, sizeof line, "{\"TaskID\":\"%s\",\"EventID\":\"1\"}", id);
				unsigned long long v = strtoull(id + neg, NULL, 16);
				int bad = n > 16 || (neg && v > (1ull << 63));
				if (bad) {
					assert_int_equal(rej(f, line), OP_REJECT_BAD_ID);
					op_decoder_free(f->d);
					assert_int_equal(op_decoder_new(OP_FORMAT_JSON_V4, NULL, "t", NULL, &f->d), 0);
					continue;
				}
				assert_int_equal(dec(f, line), 0);
				assert_true(fx_ev(f)->trace_id == (neg ? 0 - (uint64_t)v : (uint64_t)v));
			}
		}
	}
	/* upper, lower and mixed case give the same id */
	assert_int_equal(dec(f, "{\"TaskID\":\"ABCDEF0123456789\",\"EventID\":\"1\"}"), 0);
	assert_true(fx_ev(f)->trace_id == 0xABCDEF0123456789ull);
	assert_int_equal(dec(f, "{\"TaskID\":\"abcdef0123456789\",\"EventID\":\"1\"}"), 0);
	assert_true(fx_ev(f)->trace_id == 0xABCDEF0123456789ull);
	assert_int_equal(dec(f, "{\"TaskID\":\"aBcDeF0123456789\",\"EventID\":\"1\"}"), 0);
	assert_true(fx_ev(f)->trace_id == 0xABCDEF0123456789ull);
	/* a byte next to the hex ranges, at every position of 16 digits */
	const char *nonhex = "g/:@`G. ";
	for (int pos = 0; pos < 16; pos++) {
		for (const char *c = nonhex; *c; c++) {
			memcpy(id, "0123456789abcdef", 17);
			id[pos] = *c;
			snprintf(line, sizeof line, "{\"TaskID\":\"%s\",\"EventID\":\"1\"}", id);
			assert_int_equal(dec(f, line), WEFT_EFORMAT);
			assert_int_equal(op_decoder_last_reject(f->d), OP_REJECT_BAD_ID);
		}
	}
	/* the general path's forms still work after the fast path declines */
	assert_int_equal(dec(f, "{\"TaskID\":\"0x1F\",\"EventID\":\"1\"}"), 0);
	assert_true(fx_ev(f)->trace_id == 0x1F);
	assert_int_equal(dec(f, "{\"TaskID\":31,\"EventID\":\"1\"}"), 0);
	assert_true(fx_ev(f)->trace_id == 31);
}

/* Times of 19 digits take the fast path when they fit an int64 (the
 * general path's range, INT64_MIN included), else the general one. */
static void
test_times_of_nineteen_digits_and_at_the_line_end(void **state)
{
	struct fx *f = *state;
	assert_int_equal(dec(f, "{\"TaskID\":\"1\",\"EventID\":\"1\",\"HRT\":1404236567000000000}"), 0);
	assert_true(fx_ev(f)->start_ns == 1404236567000000000ull);
	assert_int_equal(dec(f, "{\"TaskID\":\"1\",\"EventID\":\"1\",\"HRT\":9223372036854775807}"), 0);
	assert_true(fx_ev(f)->start_ns == (uint64_t)INT64_MAX);
	assert_int_equal(dec(f, "{\"TaskID\":\"1\",\"EventID\":\"1\",\"EndHRT\":-9223372036854775808}"), 0);
	assert_true(fx_ev(f)->end_ns == (uint64_t)INT64_MIN);
	assert_int_equal(dec(f, "{\"TaskID\":\"1\",\"EventID\":\"1\",\"HRT\":-1234567890123456789}"), 0);
	assert_true(fx_ev(f)->start_ns == (uint64_t)INT64_C(-1234567890123456789));
	assert_int_equal(dec(f, "{\"TaskID\":\"1\",\"EventID\":\"1\",\"HRT\":9223372036854775808}"),
	                 WEFT_EFORMAT);
	assert_int_equal(op_decoder_last_reject(f->d), OP_REJECT_BAD_NUMBER);
	assert_int_equal(dec(f, "{\"TaskID\":\"1\",\"EventID\":\"1\",\"HRT\":-9223372036854775809}"),
	                 WEFT_EFORMAT);
	assert_int_equal(op_decoder_last_reject(f->d), OP_REJECT_BAD_NUMBER);
	assert_int_equal(dec(f, "{\"TaskID\":\"1\",\"EventID\":\"1\",\"HRT\":12345678901234567890}"),
	                 WEFT_EFORMAT);
	assert_int_equal(op_decoder_last_reject(f->d), OP_REJECT_BAD_NUMBER);
	assert_int_equal(dec(f, "{\"TaskID\":\"1\",\"EventID\":\"1\",\"HRT\":1.5e3}"), 0);
	assert_true(fx_ev(f)->start_ns == 1500);
	/* every digit count with the number last, so that fewer than 8 bytes
	 * follow the digits (the per-digit path) or a few more (word path) */
	char line[128];
	const char *digits = "1234567890123456789";
	for (int n = 1; n <= 19; n++) {
		for (int pad = 0; pad < 10; pad++) {
			snprintf(line, sizeof line, "{\"EventID\":\"1\",\"TaskID\":\"2\",\"HRT\":%.*s%*s}",
			         n, digits, pad, "");
			assert_int_equal(dec(f, line), 0);
			assert_true(fx_ev(f)->start_ns == strtoull(strstr(line, "HRT") + 5, NULL, 10));
			snprintf(line, sizeof line, "{\"TaskID\":\"2\",\"EventID\":\"%.*s\"%*s}",
			         n, digits, pad, "");
			assert_int_equal(dec(f, line), 0);
			assert_true(fx_ev(f)->event_id == strtoull(strstr(line, "EventID") + 10, NULL, 10));
		}
	}
}

/* Key prediction: each line is tried against the keys the last line had
 * at each position. Misses, near misses and duplicates must behave as
 * without it. The fixture keeps one decoder across the lines of a test. */
static void
test_predicted_keys_near_misses_and_duplicates(void **state)
{
	struct fx *f = *state;
	const char *base = "{\"TaskID\":\"a\",\"EventID\":\"1\",\"Host\":\"h\",\"Title\":\"t\"}";
	for (int i = 0; i < 3; i++) {
		assert_int_equal(dec(f, base), 0);
		assert_string_equal(op_event_host(fx_ev(f), NULL), "h");
		assert_string_equal(op_event_kv_find(fx_ev(f), "Title", 5, NULL), "t");
	}
	/* a longer and a shorter key where Host was predicted */
	assert_int_equal(dec(f, "{\"TaskID\":\"a\",\"EventID\":\"1\",\"Hostname\":\"h\",\"Title\":\"t\"}"), 0);
	assert_string_equal(op_event_host(fx_ev(f), NULL), "");
	assert_string_equal(op_event_kv_find(fx_ev(f), "Hostname", 8, NULL), "h");
	assert_int_equal(dec(f, base), 0);
	assert_int_equal(dec(f, "{\"TaskID\":\"a\",\"EventID\":\"1\",\"Hos\":\"h\",\"Title\":\"t\"}"), 0);
	assert_string_equal(op_event_host(fx_ev(f), NULL), "");
	assert_string_equal(op_event_kv_find(fx_ev(f), "Hos", 3, NULL), "h");
	/* another order, then back */
	assert_int_equal(dec(f, base), 0);
	assert_int_equal(dec(f, "{\"Title\":\"u\",\"Host\":\"g\",\"EventID\":\"2\",\"TaskID\":\"b\"}"), 0);
	assert_true(fx_ev(f)->trace_id == 0xb && fx_ev(f)->event_id == 2);
	assert_string_equal(op_event_host(fx_ev(f), NULL), "g");
	assert_string_equal(op_event_kv_find(fx_ev(f), "Title", 5, NULL), "u");
	assert_int_equal(dec(f, base), 0);
	assert_true(fx_ev(f)->trace_id == 0xa && fx_ev(f)->event_id == 1);
	/* an escaped key that reads as a known one, whitespace before the
	 * colon, and a key cut off by the end of the line */
	assert_int_equal(dec(f, "{\"TaskID\":\"a\",\"EventID\":\"1\",\"Ho\\u0073t\":\"e\",\"Title\":\"t\"}"), 0);
	assert_string_equal(op_event_host(fx_ev(f), NULL), "e");
	assert_int_equal(dec(f, "{\"TaskID\" :\"a\",\"EventID\"\t: \"1\",\"Host\" : \"w\",\"Title\":\"t\"}"), 0);
	assert_string_equal(op_event_host(fx_ev(f), NULL), "w");
	assert_int_equal(dec(f, base), 0);
	assert_int_equal(rej(f, "{\"TaskID\":\"a\",\"EventID\":\"1\",\"Ho"), OP_REJECT_SYNTAX);
	/* duplicates after a predicted key (a known key, and one kept as a
	 * pair); then the first one found the general way, the second one
	 * predicted. Each on a decoder that has seen only base. */
	static const char *const dups[] = {
		"{\"TaskID\":\"a\",\"EventID\":\"1\",\"Host\":\"h\",\"Host\":\"i\"}",
		"{\"TaskID\":\"a\",\"EventID\":\"1\",\"Title\":\"h\",\"Title\":\"i\"}",
		"{\"Host\":\"x\",\"TaskID\":\"a\",\"Host\":\"h\",\"EventID\":\"1\"}",
		"{\"Title\":\"x\",\"TaskID\":\"a\",\"EventID\":\"1\",\"Title\":\"h\"}",
	};
	for (size_t i = 0; i < sizeof dups / sizeof dups[0]; i++) {
		struct fx g = { 0 };
		assert_int_equal(op_decoder_new(OP_FORMAT_JSON_V4, NULL, "t", NULL, &g.d), 0);
		assert_int_equal(dec(&g, base), 0);
		assert_int_equal(rej(&g, dups[i]), OP_REJECT_DUPLICATE_KEY);
		op_decoder_free(g.d);
	}
}

/* Keys past the predicted positions (24), and keys too long to be
 * predicted (29 bytes is the longest one: quotes and colon make the 32 a
 * position holds), at the first and at the last position. */
/* Every key length a prediction holds ("Key": of 4 to 32 bytes: one
 * block compare up to 16, word compares past it), with a block of input
 * after the key or at the line's end: once a line taught the key, a key
 * that differs in any one byte, or is a byte longer or shorter, is not
 * taken for it, and the taught key still is, with a space before its
 * colon too. */
static void
test_predicted_keys_of_every_length_miss_on_any_byte(void **state)
{
	struct fx *f = *state;
	const char *letters = "abcdefghijklmnopqrstuvwxyzABCD";
	char key[40], other[40], line[160];
	for (int tail = 0; tail < 2; tail++)
	for (int n = 1; n <= 29; n++) {
		for (int alt = -2; alt < n; alt++) { /* -2 shorter, -1 longer */
			memcpy(key, letters, (size_t)n);
			key[n] = 0;
			memcpy(other, key, (size_t)n + 1);
			if (alt == -2)
				other[n - 1] = 0;
			else if (alt == -1)
				memcpy(other + n, "Z", 2);
			else
				other[alt] = '#';
			if (!other[0])
				continue;
			/* taught, the other, taught again, then with a space */
			for (int w = 0; w < 4; w++) {
				const char *k = w == 1 ? other : key;
				snprintf(line, sizeof line, "{\"TaskID\":\"a\",\"EventID\":\"1\","
				         "\"%s\"%s:\"v\"%s}", k, w == 3 ? " " : "",
				         tail ? ",\"Pad\":\"0123456789abcdef\"" : "");
				assert_int_equal(dec(f, line), 0);
				assert_non_null(op_event_kv_find(fx_ev(f), k, strlen(k), NULL));
				if (w == 1)
					assert_null(op_event_kv_find(fx_ev(f), key, (size_t)n, NULL));
			}
		}
	}
}

static void
test_many_and_long_keys_are_decoded_every_time(void **state)
{
	struct fx *f = *state;
	static const char k29[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabc",
	                  k30[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcd";
	char line[2048];
	for (int round = 0; round < 6; round++) {
		int o = sprintf(line, "{\"TaskID\":\"a\",\"EventID\":\"%d\"", round + 1);
		if (round < 3) /* positions 2 and 3 */
			o += sprintf(line + o, ",\"%s\":\"x\",\"%s\":\"y\"", k29, k30);
		for (int i = 0; i < 28; i++) {
			if (round >= 3 && i == 20) /* positions 22 and 23 */
				o += sprintf(line + o, ",\"%s\":\"x\",\"%s\":\"y\"", k29, k30);
			o += sprintf(line + o, ",\"key%02d\":%d", i, i + round);
		}
		o += sprintf(line + o, ",\"Label\":\"z\"}");
		assert_int_equal(dec(f, line), 0);
		const struct op_event *e = fx_ev(f);
		assert_int_equal(e->n_kv, 30);
		assert_true(e->event_id == (uint64_t)round + 1);
		char want[8];
		snprintf(want, sizeof want, "%d", 27 + round);
		assert_string_equal(op_event_kv_find(e, "key27", 5, NULL), want);
		assert_string_equal(op_event_kv_find(e, k29, 29, NULL), "x");
		assert_string_equal(op_event_kv_find(e, k30, 30, NULL), "y");
		assert_string_equal(op_event_label(e, NULL), "z");
	}
}

/* Strings are scanned and copied in blocks, the last one of a line with a
 * block that ends at the line's end: every length, in the middle and at
 * the end of a line, with an escape or a non-ASCII character anywhere. */
static void
test_strings_of_every_length_and_place_are_kept_exactly(void **state)
{
	struct fx *f = *state;
	char val[64], want[64], line[256];
	for (int n = 0; n <= 40; n++) {
		for (int kind = 0; kind < 3; kind++) { /* plain, escape, UTF-8 */
			for (int at = 0; at < (kind ? n : 1); at++) {
				int o = 0, w = 0;
				for (int i = 0; i < n; i++) {
					if (kind == 1 && i == at) {
						o += sprintf(val + o, "\\n");
						want[w++] = '\n';
					} else if (kind == 2 && i == at) {
						o += sprintf(val + o, "\xc3\xa9");
						w += sprintf(want + w, "\xc3\xa9");
					} else {
						val[o++] = want[w++] = (char)('a' + i % 26);
					}
				}
				val[o] = want[w] = '\0';
				/* last, then in the middle */
				snprintf(line, sizeof line,
				         "{\"TaskID\":\"1\",\"EventID\":\"1\",\"Description\":\"%s\"}", val);
				assert_int_equal(dec(f, line), 0);
				assert_string_equal(op_event_kv_find(fx_ev(f), "Description", 11, NULL), want);
				snprintf(line, sizeof line,
				         "{\"Label\":\"%s\",\"TaskID\":\"1\",\"EventID\":\"1\"}", val);
				assert_int_equal(dec(f, line), 0);
				assert_string_equal(op_event_label(fx_ev(f), NULL), want);
				/* a short line: no whole block before the string's end */
				snprintf(line, sizeof line, "{\"Host\":\"%s\"}", val);
				assert_int_equal(dec(f, line), WEFT_EFORMAT);
				assert_int_equal(op_decoder_last_reject(f->d), OP_REJECT_MISSING_TRACE_ID);
			}
		}
	}
}

/* Field and record limits around strings copied in blocks: a value of the
 * limit's length is kept, one byte more is refused, wherever it ends.
 * (Keys count against the field limit too: it starts at "EventID".) */
static void
test_string_limits_hold_at_every_length(void **state)
{
	(void)state;
	struct op_decode_config cfg;
	op_decode_config_default(&cfg);
	char line[512], val[300];
	for (uint32_t lim = 7; lim <= 40; lim++) {
		cfg.max_field_bytes = lim;
		struct fx g = { 0 };
		assert_int_equal(op_decoder_new(OP_FORMAT_JSON_V4, &cfg, "t", NULL, &g.d), 0);
		for (uint32_t n = lim > 3 ? lim - 3 : 0; n <= lim + 3; n++) {
			memset(val, 'v', n);
			val[n] = '\0';
			for (int last = 0; last < 2; last++) {
				if (last)
					snprintf(line, sizeof line, "{\"TaskID\":\"1\",\"EventID\":\"1\",\"Label\":\"%s\"}", val);
				else
					snprintf(line, sizeof line, "{\"Label\":\"%s\",\"TaskID\":\"1\",\"EventID\":\"1\"}", val);
				int rc = dec(&g, line);
				if (n <= lim) {
					assert_int_equal(rc, 0);
					assert_string_equal(op_event_label(fx_ev(&g), NULL), val);
				} else {
					assert_true(rc == WEFT_ELIMIT || rc == WEFT_EFORMAT);
					assert_int_equal(op_decoder_last_reject(g.d), OP_REJECT_FIELD_TOO_LONG);
				}
			}
		}
		op_decoder_free(g.d);
	}
	/* the record bound: strings that fit the field limit but not the
	 * record, the last one cut at every length */
	op_decode_config_default(&cfg);
	cfg.max_record_bytes = 256;
	cfg.max_field_bytes = 256;
	struct fx g = { 0 };
	assert_int_equal(op_decoder_new(OP_FORMAT_JSON_V4, &cfg, "t", NULL, &g.d), 0);
	int ok = 0, refused = 0;
	for (int n = 0; n <= 200; n++) {
		memset(val, 'r', (size_t)n);
		val[n] = '\0';
		snprintf(line, sizeof line, "{\"TaskID\":\"1\",\"EventID\":\"1\",\"Label\":\"%s\"}", val);
		int rc = dec(&g, line);
		if (rc == 0) {
			assert_string_equal(op_event_label(fx_ev(&g), NULL), val);
			ok++;
		} else {
			assert_true(rc == WEFT_ELIMIT || rc == WEFT_EFORMAT);
			assert_int_equal(op_decoder_last_reject(g.d), OP_REJECT_RECORD_TOO_LARGE);
			refused++;
		}
		assert_true(rc != 0 || refused == 0); /* refused only past a length */
	}
	assert_true(ok > 0 && refused > 0);
	op_decoder_free(g.d);
}

/* ---- bad input: one test per reason ------------------------------------------- */

static void
test_rejects_malformed_json(void **state)
{
	struct fx *f = *state;
	assert_int_equal(rej(f, "{\"TaskID\":\"a\",\"EventID\":\"1\""), OP_REJECT_SYNTAX);
}

static void
test_rejects_trailing_garbage(void **state)
{
	struct fx *f = *state;
	assert_int_equal(rej(f, "{\"TaskID\":\"a\",\"EventID\":\"1\"} x"), OP_REJECT_SYNTAX);
}

static void
test_rejects_missing_trace_id(void **state)
{
	struct fx *f = *state;
	assert_int_equal(rej(f, "{\"EventID\":\"1\",\"Label\":\"x\"}"), OP_REJECT_MISSING_TRACE_ID);
}

static void
test_rejects_missing_event_id(void **state)
{
	struct fx *f = *state;
	assert_int_equal(rej(f, "{\"TaskID\":\"ab\"}"), OP_REJECT_MISSING_EVENT_ID);
}

static void
test_rejects_non_hex_trace_id(void **state)
{
	struct fx *f = *state;
	assert_int_equal(rej(f, "{\"TaskID\":\"xyz\",\"EventID\":\"1\"}"), OP_REJECT_BAD_ID);
}

static void
test_rejects_non_decimal_parent_id(void **state)
{
	struct fx *f = *state;
	assert_int_equal(rej(f, "{\"TaskID\":\"a\",\"EventID\":\"1\",\"ParentEventID\":[\"0x12\"]}"),
	                 OP_REJECT_BAD_ID);
}

static void
test_rejects_event_id_out_of_range(void **state)
{
	struct fx *f = *state;
	assert_int_equal(rej(f, "{\"TaskID\":\"a\",\"EventID\":\"18446744073709551616\"}"),
	                 OP_REJECT_BAD_ID);
}

static void
test_rejects_parent_equal_to_itself(void **state)
{
	struct fx *f = *state;
	assert_int_equal(rej(f, "{\"TaskID\":\"a\",\"EventID\":\"-7\",\"ParentEventID\":[\"-7\"]}"),
	                 OP_REJECT_SELF_PARENT);
}

static void
test_rejects_duplicate_known_key(void **state)
{
	struct fx *f = *state;
	assert_int_equal(rej(f, "{\"TaskID\":\"a\",\"EventID\":\"1\",\"Label\":\"x\",\"Label\":\"y\"}"),
	                 OP_REJECT_DUPLICATE_KEY);
}

static void
test_rejects_duplicate_other_key(void **state)
{
	struct fx *f = *state;
	assert_int_equal(rej(f, "{\"TaskID\":\"a\",\"EventID\":\"1\",\"Tag\":1,\"Tag\":2}"),
	                 OP_REJECT_DUPLICATE_KEY);
}

static void
test_rejects_invalid_utf8(void **state)
{
	struct fx *f = *state;
	assert_int_equal(rej(f, "{\"TaskID\":\"a\",\"EventID\":\"1\",\"Label\":\"\xc3\x28\"}"),
	                 OP_REJECT_BAD_UTF8);
}

static void
test_rejects_lone_surrogate_escape(void **state)
{
	struct fx *f = *state;
	assert_int_equal(rej(f, "{\"TaskID\":\"a\",\"EventID\":\"1\",\"Label\":\"\\ud800x\"}"),
	                 OP_REJECT_BAD_UTF8);
}

static void
test_rejects_field_longer_than_limit(void **state)
{
	struct fx *f = *state;
	size_t n = op_decoder_config(f->d)->max_field_bytes + 1;
	char *line = malloc(n + 64);
	int o = sprintf(line, "{\"TaskID\":\"a\",\"EventID\":\"1\",\"Label\":\"");
	memset(line + o, 'x', n);
	strcpy(line + o + n, "\"}");
	assert_int_equal(rej(f, line), OP_REJECT_FIELD_TOO_LONG);
	free(line);
}

static void
test_rejects_too_many_parents(void **state)
{
	struct fx *f = *state;
	char line[4096];
	int o = sprintf(line, "{\"TaskID\":\"a\",\"EventID\":\"1\",\"ParentEventID\":[");
	for (unsigned i = 0; i <= op_decoder_config(f->d)->max_parents; i++)
		o += sprintf(line + o, "%s\"%u\"", i ? "," : "", i + 100);
	strcpy(line + o, "]}");
	assert_int_equal(rej(f, line), OP_REJECT_TOO_MANY_PARENTS);
}

static void
test_rejects_too_many_key_values(void **state)
{
	struct fx *f = *state;
	char line[4096];
	int o = sprintf(line, "{\"TaskID\":\"a\",\"EventID\":\"1\"");
	for (unsigned i = 0; i <= op_decoder_config(f->d)->max_kv; i++)
		o += sprintf(line + o, ",\"k%u\":%u", i, i);
	strcpy(line + o, "}");
	assert_int_equal(rej(f, line), OP_REJECT_TOO_MANY_KV);
}

static void
test_rejects_record_over_size_bound(void **state)
{
	struct fx *f = *state;
	/* 8 fields of 3 KiB fit the field limit but not a 16 KiB record. */
	size_t fl = 3000;
	char *line = malloc(8 * (fl + 32) + 64);
	int o = sprintf(line, "{\"TaskID\":\"a\",\"EventID\":\"1\"");
	for (int i = 0; i < 8; i++) {
		o += sprintf(line + o, ",\"k%d\":\"", i);
		memset(line + o, 'v', fl);
		o += (int)fl;
		line[o++] = '"';
	}
	strcpy(line + o, "}");
	assert_int_equal(rej(f, line), OP_REJECT_RECORD_TOO_LARGE);
	free(line);
}

static void
test_rejects_line_over_limit(void **state)
{
	struct fx *f = *state;
	size_t n = op_decoder_config(f->d)->max_line_bytes + 1;
	char *line = malloc(n + 1);
	memset(line, ' ', n);
	line[n] = '\0';
	assert_int_equal(rej(f, line), OP_REJECT_TOO_LONG);
	free(line);
}

static void
test_rejects_object_as_label(void **state)
{
	struct fx *f = *state;
	assert_int_equal(rej(f, "{\"TaskID\":\"a\",\"EventID\":\"1\",\"Label\":{}}"),
	                 OP_REJECT_BAD_TYPE);
}

static void
test_rejects_unparsable_time(void **state)
{
	struct fx *f = *state;
	assert_int_equal(rej(f, "{\"TaskID\":\"a\",\"EventID\":\"1\",\"HRT\":\"soon\"}"),
	                 OP_REJECT_BAD_NUMBER);
}

static void
test_rejects_nesting_deeper_than_limit(void **state)
{
	struct fx *f = *state;
	char line[256];
	int o = sprintf(line, "{\"TaskID\":\"a\",\"EventID\":\"1\",\"x\":");
	for (int i = 0; i < 20; i++)
		line[o++] = '[';
	for (int i = 0; i < 20; i++)
		line[o++] = ']';
	strcpy(line + o, "}");
	assert_int_equal(rej(f, line), OP_REJECT_TOO_DEEP);
}

/* ---- streaming ---------------------------------------------------------- */

static void
test_good_lines_around_bad_ones_all_come_out(void **state)
{
	(void)state;
	struct mem_dl dead;
	mem_dl_open(&dead);
	struct op_decoder *d;
	assert_int_equal(op_decoder_new(OP_FORMAT_JSON_V4, NULL, "s.json", dead.dl, &d), 0);
	/* a 10 MB line among good ones, fed in odd-sized chunks */
	size_t big = 10u << 20;
	char *in = malloc(big + 4096);
	if (!in) {
		fail();
		return;
	}
	size_t o = 0;
	o += (size_t)sprintf(in + o, "{\"TaskID\":\"1\",\"EventID\":\"1\"}\n");
	o += (size_t)sprintf(in + o, "{\"TaskID\":\"1\",\"EventID\":\"x\"}\n");
	o += (size_t)sprintf(in + o, "\n  \n{\"TaskID\":\"1\",\"EventID\":\"2\"}\r\n");
	memset(in + o, 'y', big);
	o += big;
	in[o++] = '\n';
	o += (size_t)sprintf(in + o, "not json\n");
	o += (size_t)sprintf(in + o, "{\"TaskID\":\"1\",\"EventID\":\"3\",\"ParentEventID\":[\"2\"]}\n");
	o += (size_t)sprintf(in + o, "{\"TaskID\":\"1\",\"EventID\":\"4\"}");
	struct collect c = {0};
	for (size_t p = 0; p < o;) {
		size_t k = (p * 7 + 1013) % 65537 + 1;
		if (k > o - p)
			k = o - p;
		assert_int_equal(op_decoder_feed(d, in + p, k, collect_fn, &c), 0);
		p += k;
	}
	assert_int_equal(op_decoder_finish(d, collect_fn, &c), 0);
	assert_int_equal(c.n, 4);
	for (unsigned i = 0; i < 4; i++)
		assert_true(collected(&c, i)->event_id == i + 1);
	const struct op_decode_stats *st = op_decoder_stats(d);
	assert_int_equal(st->events, 4);
	assert_int_equal(st->rejected, 3);
	assert_int_equal(st->by_reason[OP_REJECT_TOO_LONG], 1);
	assert_int_equal(st->by_reason[OP_REJECT_BAD_ID], 1);
	assert_int_equal(st->by_reason[OP_REJECT_SYNTAX], 1);
	assert_int_equal(st->units, st->events + st->rejected);
	assert_int_equal(op_deadletter_count(dead.dl, OP_REJECT_NONE), 3);
	op_decoder_free(d);
	mem_dl_close(&dead);
	/* three dead letters with positions: line 2, line 6 (the big one) */
	assert_non_null(strstr(dead.buf, "\"line\":2,"));
	assert_non_null(strstr(dead.buf, "\"line\":6,\"at\":0,\"reason\":\"too_long\""));
	assert_non_null(strstr(dead.buf, "\"source\":\"s.json\""));
	assert_true(dead.len < 4096); /* excerpts are bounded */
	free(dead.buf);
	free(in);
	collect_free(&c);
}

static void
test_cut_last_line_is_rejected_as_truncated(void **state)
{
	(void)state;
	struct op_decoder *d;
	assert_int_equal(op_decoder_new(OP_FORMAT_JSON_V4, NULL, NULL, NULL, &d), 0);
	const char *in = "{\"TaskID\":\"1\",\"EventID\":\"1\"}\n{\"TaskID\":\"1\",\"Eve";
	struct collect c = {0};
	feed_all(d, in, strlen(in), &c);
	assert_int_equal(c.n, 1);
	assert_int_equal(op_decoder_stats(d)->by_reason[OP_REJECT_TRUNCATED], 1);
	op_decoder_free(d);
	collect_free(&c);
}

static void
test_config_check_names_the_bad_key(void **state)
{
	(void)state;
	struct op_decode_config cfg;
	op_decode_config_default(&cfg);
	assert_int_equal(op_decode_config_check(&cfg, NULL, 0), 0);
	cfg.max_record_bytes = 1u << 20;
	char err[128];
	assert_int_equal(op_decode_config_check(&cfg, err, sizeof err), WEFT_EINVAL);
	assert_non_null(strstr(err, "max_record_bytes"));
	struct op_decoder *d;
	assert_int_equal(op_decoder_new(OP_FORMAT_JSON_V4, &cfg, NULL, NULL, &d), WEFT_EINVAL);
	assert_null(d);
}

/* The sniff of every prefix of an OTLP JSON message, with the first key
 * right after the brace (the quick compare) and after a blank (the full
 * scan): X-Trace JSON until the whole key is there, then OTLP JSON; and a
 * message of auto format is one unit exactly when it is not X-Trace. */
static void
test_sniff_of_every_prefix_of_an_otlp_key(void **state)
{
	(void)state;
	static const char *const msgs[] = {
		"{\"resourceSpans\":[]}", "{ \"resourceSpans\": []}",
		"{\"resourceSpanz\":[]}", "{\"TaskID\":\"01\",\"EventID\":\"2\"}",
	};
	const size_t key = strlen("\"resourceSpans\"");
	for (size_t i = 0; i < sizeof msgs / sizeof *msgs; i++)
		for (size_t n = 0; n <= strlen(msgs[i]); n++) {
			enum op_format want = n == 0 ? OP_FORMAT__COUNT
			    : i < 2 && n >= key + 1 + i ? OP_FORMAT_OTLP_JSON
			    : OP_FORMAT_JSON_V4;
			assert_int_equal(op_format_sniff(msgs[i], n), want);
			assert_int_equal(op_format_message_unit(OP_FORMAT_AUTO, msgs[i], n),
			                 want != OP_FORMAT_JSON_V4);
		}
	assert_false(op_format_message_unit(OP_FORMAT_JSON_V4, msgs[0], strlen(msgs[0])));
	assert_true(op_format_message_unit(OP_FORMAT_ZIPKIN, msgs[3], strlen(msgs[3])));
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, dec_fx_setup_json, dec_fx_teardown)
	const struct CMUnitTest tests[] = {
		T(test_ids_and_times_of_every_digit_count_convert_exactly),
		T(test_decodes_every_v4_field),
		T(test_accepts_numbers_for_strings_and_strings_for_numbers),
		T(test_keeps_end_time_and_description),
		T(test_a_value_naming_an_exception_marks_the_event),
		T(test_timestamp_is_start_when_hrt_absent),
		T(test_absent_strings_are_empty_not_null),
		T(test_duplicate_parent_ids_are_merged),
		T(test_record_is_relocatable_by_memcpy),
		T(test_task_ids_of_every_length_and_case_convert_exactly),
		T(test_times_of_nineteen_digits_and_at_the_line_end),
		T(test_predicted_keys_near_misses_and_duplicates),
		T(test_predicted_keys_of_every_length_miss_on_any_byte),
		T(test_many_and_long_keys_are_decoded_every_time),
		T(test_strings_of_every_length_and_place_are_kept_exactly),
		T(test_string_limits_hold_at_every_length),
		T(test_rejects_malformed_json),
		T(test_rejects_trailing_garbage),
		T(test_rejects_missing_trace_id),
		T(test_rejects_missing_event_id),
		T(test_rejects_non_hex_trace_id),
		T(test_rejects_non_decimal_parent_id),
		T(test_rejects_event_id_out_of_range),
		T(test_rejects_parent_equal_to_itself),
		T(test_rejects_duplicate_known_key),
		T(test_rejects_duplicate_other_key),
		T(test_rejects_invalid_utf8),
		T(test_rejects_lone_surrogate_escape),
		T(test_rejects_field_longer_than_limit),
		T(test_rejects_too_many_parents),
		T(test_rejects_too_many_key_values),
		T(test_rejects_record_over_size_bound),
		T(test_rejects_line_over_limit),
		T(test_rejects_object_as_label),
		T(test_rejects_unparsable_time),
		T(test_rejects_nesting_deeper_than_limit),
		cmocka_unit_test(test_good_lines_around_bad_ones_all_come_out),
		cmocka_unit_test(test_cut_last_line_is_rejected_as_truncated),
		cmocka_unit_test(test_config_check_names_the_bad_key),
		cmocka_unit_test(test_sniff_of_every_prefix_of_an_otlp_key),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
