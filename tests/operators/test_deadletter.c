/*
 * test_deadletter.c — the dead-letter sink: JSON lines with position,
 * reason and an escaped, bounded excerpt; counting; sharing across threads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <pthread.h>
#include <unistd.h>
#include <cmocka.h>

#include "test_util.h"

static void
test_writes_one_json_line_with_position_and_reason(void **state)
{
	(void)state;
	struct mem_dl dead;
	mem_dl_open(&dead);
	struct op_bad_input b = {
		.source = "src\"1", .pos = {1234, 56}, .at = 7,
		.reason = OP_REJECT_BAD_UTF8, .data = "a\"b\\c\n\xff", .len = 7,
		.avail = 7, .max_excerpt = 64,
	};
	assert_int_equal(op_deadletter_write(dead.dl, &b), 0);
	mem_dl_close(&dead);
	assert_string_equal(dead.buf,
	    "{\"type\":\"dead_letter\",\"schema_version\":1,"
	    "\"source\":\"src\\\"1\",\"offset\":1234,\"line\":56,\"at\":7,"
	    "\"reason\":\"bad_utf8\",\"len\":7,"
	    "\"excerpt\":\"a\\\"b\\\\c\\u000a\\u00ff\"}\n");
	free(dead.buf);
}

static void
test_excerpt_is_bounded(void **state)
{
	(void)state;
	struct mem_dl dead;
	mem_dl_open(&dead);
	static char big[100000];
	memset(big, 0x01, sizeof big);
	struct op_bad_input b = {
		.pos = {0, 1}, .reason = OP_REJECT_TOO_LONG, .data = big,
		.len = sizeof big, .avail = sizeof big, .max_excerpt = 100,
	};
	assert_int_equal(op_deadletter_write(dead.dl, &b), 0);
	mem_dl_close(&dead);
	assert_true(dead.len < 1000);
	assert_non_null(strstr(dead.buf, "\"len\":100000"));
	free(dead.buf);
}

static void
test_counts_per_reason(void **state)
{
	(void)state;
	struct op_deadletter *dl;
	assert_int_equal(op_deadletter_new(NULL, &dl), 0);
	struct op_bad_input b = { .reason = OP_REJECT_SYNTAX, .data = "x", .len = 1,
	                          .avail = 1, .max_excerpt = 8 };
	op_deadletter_write(dl, &b);
	op_deadletter_write(dl, &b);
	b.reason = OP_REJECT_TRUNCATED;
	op_deadletter_write(dl, &b);
	assert_int_equal(op_deadletter_count(dl, OP_REJECT_SYNTAX), 2);
	assert_int_equal(op_deadletter_count(dl, OP_REJECT_TRUNCATED), 1);
	assert_int_equal(op_deadletter_count(dl, OP_REJECT_NONE), 3);
	op_deadletter_free(dl);
}

static void
test_every_reason_has_a_distinct_name(void **state)
{
	(void)state;
	for (int i = 0; i < OP_REJECT__COUNT; i++) {
		assert_string_not_equal(op_reject_name(i), "unknown");
		for (int k = 0; k < i; k++)
			assert_string_not_equal(op_reject_name(i), op_reject_name(k));
	}
	assert_string_equal(op_reject_name(OP_REJECT__COUNT), "unknown");
}

struct thr { struct op_deadletter *dl; };

static void *
writer(void *arg)
{
	struct thr *t = arg;
	struct op_bad_input b = { .reason = OP_REJECT_SYNTAX, .data = "line",
	                          .len = 4, .avail = 4, .max_excerpt = 8 };
	for (int i = 0; i < 1000; i++)
		op_deadletter_write(t->dl, &b);
	return NULL;
}

static void
test_shared_sink_keeps_lines_whole_across_threads(void **state)
{
	(void)state;
	char path[] = "/tmp/weft-dl-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	struct op_deadletter *dl;
	assert_int_equal(op_deadletter_open(path, &dl), 0);
	pthread_t th[4];
	struct thr t = { dl };
	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, writer, &t);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(op_deadletter_count(dl, OP_REJECT_NONE), 4000);
	op_deadletter_free(dl);
	FILE *f = fopen(path, "r");
	char line[512];
	int lines = 0;
	while (fgets(line, sizeof line, f)) {
		assert_non_null(strstr(line, "\"reason\":\"syntax\""));
		assert_true(line[strlen(line) - 1] == '\n');
		lines++;
	}
	fclose(f);
	unlink(path);
	assert_int_equal(lines, 4000);
}

static void
test_open_fails_cleanly_on_bad_path(void **state)
{
	(void)state;
	struct op_deadletter *dl = (void *)1;
	assert_int_equal(op_deadletter_open("/nonexistent-dir/x/y", &dl), WEFT_EIO);
	assert_null(dl);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_writes_one_json_line_with_position_and_reason),
		cmocka_unit_test(test_excerpt_is_bounded),
		cmocka_unit_test(test_counts_per_reason),
		cmocka_unit_test(test_every_reason_has_a_distinct_name),
		cmocka_unit_test(test_shared_sink_keeps_lines_whole_across_threads),
		cmocka_unit_test(test_open_fails_cleanly_on_bad_path),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
