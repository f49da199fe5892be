/*
 * test_op_file.c — byte readers (plain, gzip, zstd, ranges) and the file
 * source (sharding, epochs, long units) running inside the engine.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>
#include <cmocka.h>

#include "operators/operators.h"

static char tmpdir[256];

static int
setup_dir(void **st)
{
	(void)st;
	snprintf(tmpdir, sizeof tmpdir, "/tmp/weft-test-file-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int
teardown_dir(void **st)
{
	(void)st;
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void
path_of(char *out, size_t n, const char *name)
{
	snprintf(out, n, "%s/%s", tmpdir, name);
}

static void
write_file(const char *path, const void *data, size_t n)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, n, f), n);
	fclose(f);
}

/* Reads the whole input; returns bytes or a negative code. */
static ssize_t
read_all(struct op_reader *r, char *buf, size_t cap)
{
	size_t got = 0;
	for (;;) {
		ssize_t n = op_reader_read(r, buf + got, cap - got);
		if (n < 0)
			return n;
		if (n == 0)
			return (ssize_t)got;
		got += (size_t)n;
		if (got == cap)
			return (ssize_t)got;
	}
}

static size_t
gzip_member(const char *in, size_t n, unsigned char *out, size_t cap)
{
	z_stream z = {0};
	assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8,
	                              Z_DEFAULT_STRATEGY), Z_OK);
	z.next_in = (unsigned char *)(uintptr_t)in;
	z.avail_in = (uInt)n;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	size_t len = cap - z.avail_out;
	deflateEnd(&z);
	return len;
}

static void
test_gzip_with_concatenated_members_reads_everything(void **st)
{
	(void)st;
	const char *a = "first member\n", *b = "second member\n";
	unsigned char gz[512];
	size_t n = gzip_member(a, strlen(a), gz, sizeof gz);
	n += gzip_member(b, strlen(b), gz + n, sizeof gz - n);
	char path[300];
	path_of(path, sizeof path, "two.gz");
	write_file(path, gz, n);
	struct op_reader *r;
	assert_int_equal(op_reader_open(path, OP_COMP_AUTO, 0, &r), 0);
	char buf[256];
	ssize_t got = read_all(r, buf, sizeof buf);
	assert_int_equal(got, (ssize_t)(strlen(a) + strlen(b)));
	assert_memory_equal(buf, "first member\nsecond member\n", (size_t)got);
	op_reader_free(r);
}

static void
test_zstd_with_several_frames_reads_everything(void **st)
{
	(void)st;
	const char *a = "frame one\n", *b = "frame two\n";
	unsigned char z[512];
	size_t n = ZSTD_compress(z, sizeof z, a, strlen(a), 3);
	assert_false(ZSTD_isError(n));
	size_t m = ZSTD_compress(z + n, sizeof z - n, b, strlen(b), 3);
	assert_false(ZSTD_isError(m));
	char path[300];
	path_of(path, sizeof path, "two.zst");
	write_file(path, z, n + m);
	struct op_reader *r;
	assert_int_equal(op_reader_open(path, OP_COMP_AUTO, 0, &r), 0);
	char buf[256];
	ssize_t got = read_all(r, buf, sizeof buf);
	assert_int_equal(got, 20);
	assert_memory_equal(buf, "frame one\nframe two\n", 20);
	op_reader_free(r);
}

static void
test_truncated_gzip_is_reported_not_silently_short(void **st)
{
	(void)st;
	char text[4096];
	for (size_t i = 0; i < sizeof text; i++)
		text[i] = (char)('a' + (i * 7) % 26);
	unsigned char gz[8192];
	size_t n = gzip_member(text, sizeof text, gz, sizeof gz);
	char path[300];
	path_of(path, sizeof path, "cut.gz");
	write_file(path, gz, n / 2);
	struct op_reader *r;
	assert_int_equal(op_reader_open(path, OP_COMP_AUTO, 0, &r), 0);
	char buf[8192];
	assert_int_equal(read_all(r, buf, sizeof buf), WEFT_EFORMAT);
	op_reader_free(r);
}

static void
test_range_reader_stops_at_range_end(void **st)
{
	(void)st;
	char path[300];
	path_of(path, sizeof path, "range.txt");
	write_file(path, "0123456789", 10);
	struct op_reader *r;
	assert_int_equal(op_reader_open_range(path, 3, 7, &r), 0);
	char buf[32];
	assert_int_equal(read_all(r, buf, sizeof buf), 4);
	assert_memory_equal(buf, "3456", 4);
	op_reader_free(r);
}

/* ---- the file source in an engine ------------------------------------ */

/* A sink summing unit offsets and lengths, counting too-long units. */
struct unit_sum {
	_Atomic uint64_t units, offsets, lens, too_long;
};

static int
us_init(struct engine_ctx *ctx, void *arg, void **state)
{
	(void)ctx;
	*state = arg;
	return 0;
}

static void
us_batch(void *state, struct engine_ctx *ctx, unsigned port,
         const struct engine_batch *b)
{
	(void)ctx;
	(void)port;
	struct unit_sum *s = state;
	struct engine_batch_cursor c = ENGINE_BATCH_CURSOR_INIT;
	const void *r;
	uint32_t len;
	while ((r = engine_batch_next(b, &c, &len))) {
		struct op_unit_rec h;
		memcpy(&h, r, sizeof h);
		atomic_fetch_add(&s->units, 1);
		atomic_fetch_add(&s->offsets, h.offset);
		atomic_fetch_add(&s->lens, h.len);
		if (h.flags & OP_UNIT_TOO_LONG)
			atomic_fetch_add(&s->too_long, 1);
	}
}

static const struct engine_op_vtable us_vt = {
	.init = us_init, .on_batch = us_batch,
};

static void
run_source(struct op_file_config *fc, unsigned W, struct unit_sum *sum,
           struct engine_stats *st)
{
	char err[256];
	assert_int_equal(op_file_prepare(fc, err, sizeof err), 0);
	struct engine_graph *g = engine_graph_new();
	const uint32_t var[] = {0};
	int s = engine_graph_add(g, "file", &op_file_vtable, fc, 0, 1, var);
	int k = engine_graph_add(g, "sum", &us_vt, sum, 1, 0, NULL);
	assert_int_equal(engine_graph_connect(g, s, 0, k, 0,
	                                      op_file_sharded(fc, W) ? NULL
	                                                             : op_unit_key,
	                                      NULL),
	                 0);
	struct engine_config cfg;
	engine_config_default(&cfg);
	cfg.workers = W;
	struct engine *e = engine_new(g, &cfg, err, sizeof err);
	assert_non_null(e);
	assert_int_equal(engine_run(e), 0);
	if (st)
		engine_get_stats(e, st);
	engine_free(e);
}

static void
test_sharded_file_reads_every_line_exactly_once(void **st)
{
	(void)st;
	/* Lines of varied lengths, including a 1-byte line and blank lines,
	 * so shard boundaries fall everywhere: inside lines, on newlines. */
	char path[300];
	path_of(path, sizeof path, "lines.jsonl");
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	uint64_t off = 0, want_units = 0, want_offsets = 0, want_lens = 0;
	for (int i = 0; i < 997; i++) {
		int len = (i * 37) % 90;
		if (len == 0) { /* blank line: not a unit */
			fputc('\n', f);
			off++;
			continue;
		}
		want_units++;
		want_offsets += off;
		want_lens += (uint64_t)len;
		for (int j = 0; j < len; j++)
			fputc('a' + j % 26, f);
		fputc('\n', f);
		off += (uint64_t)len + 1;
	}
	fclose(f);
	for (unsigned W = 1; W <= 6; W++) {
		struct op_file_config fc;
		op_file_config_default(&fc);
		fc.path = path;
		fc.epoch_units = 50;
		fc.stripe_bytes = 4096; /* ~11 stripes: boundaries everywhere */
		assert_int_equal(op_file_sharded(&fc, W), W > 1);
		struct unit_sum sum = {0};
		run_source(&fc, W, &sum, NULL);
		assert_int_equal(atomic_load(&sum.units), want_units);
		assert_int_equal(atomic_load(&sum.offsets), want_offsets);
		assert_int_equal(atomic_load(&sum.lens), want_lens);
		assert_int_equal(atomic_load(&fc.units), want_units);
	}
}

static void
test_unit_epochs_close_as_units_are_read(void **st)
{
	(void)st;
	char path[300];
	path_of(path, sizeof path, "epochs.jsonl");
	FILE *f = fopen(path, "w");
	for (int i = 0; i < 1000; i++)
		fprintf(f, "{\"n\":%d}\n", i);
	fclose(f);
	struct op_file_config fc;
	op_file_config_default(&fc);
	fc.path = path;
	fc.epoch_units = 100;
	fc.shard = 0;
	struct unit_sum sum = {0};
	struct engine_stats es;
	run_source(&fc, 2, &sum, &es);
	assert_int_equal(atomic_load(&sum.units), 1000);
	/* 1000 units at 100 per epoch: epochs 0..9 close on both workers */
	assert_true(es.max_epoch_closed >= 9);
}

static void
test_overlong_line_becomes_one_flagged_excerpt(void **st)
{
	(void)st;
	char path[300];
	path_of(path, sizeof path, "long.jsonl");
	FILE *f = fopen(path, "w");
	fputs("{\"a\":1}\n", f);
	for (int i = 0; i < 300000; i++)
		fputc('x', f);
	fputs("\n{\"b\":2}\n", f);
	fclose(f);
	struct op_file_config fc;
	op_file_config_default(&fc);
	fc.path = path;
	fc.max_unit_bytes = 4096;
	fc.shard = 0;
	struct unit_sum sum = {0};
	run_source(&fc, 1, &sum, NULL);
	assert_int_equal(atomic_load(&sum.units), 3);
	assert_int_equal(atomic_load(&sum.too_long), 1);
	assert_int_equal(atomic_load(&sum.lens), 7 + 300000 + 7);
}

static void
test_missing_input_is_a_clear_error(void **st)
{
	(void)st;
	struct op_file_config fc;
	op_file_config_default(&fc);
	fc.path = "/nonexistent/weft/input.jsonl";
	char err[256] = "";
	assert_int_equal(op_file_prepare(&fc, err, sizeof err), WEFT_EIO);
	assert_non_null(strstr(err, "/nonexistent/weft/input.jsonl"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gzip_with_concatenated_members_reads_everything),
		cmocka_unit_test(test_zstd_with_several_frames_reads_everything),
		cmocka_unit_test(test_truncated_gzip_is_reported_not_silently_short),
		cmocka_unit_test(test_range_reader_stops_at_range_end),
		cmocka_unit_test(test_sharded_file_reads_every_line_exactly_once),
		cmocka_unit_test(test_unit_epochs_close_as_units_are_read),
		cmocka_unit_test(test_overlong_line_becomes_one_flagged_excerpt),
		cmocka_unit_test(test_missing_input_is_a_clear_error),
	};
	return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
