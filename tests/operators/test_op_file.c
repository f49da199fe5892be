/*
 * test_op_file.c — byte readers (plain, gzip, zstd, ranges) and the file
 * source (sharding, epochs, long units, inline decoding, mapped input:
 * a file cut short, a cold tail) running inside the engine. (op_map.c on
 * its own is test_op_map.c's.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>
#include <cmocka.h>

#include "operators/assemble/assemble.h"
#include "operators/check/check.h"
#include "operators/ingest/ingest.h"
#include "operators/output/output.h"
#include "test_util.h"

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
	_Atomic uint64_t epochs; /* the sum of each unit's batch epoch */
};

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
		atomic_fetch_add(&s->epochs, b->epoch);
		if (h.flags & OP_UNIT_TOO_LONG)
			atomic_fetch_add(&s->too_long, 1);
	}
}

static const struct engine_op_vtable us_vt = {
	.init = state_is_arg_init, .on_batch = us_batch,
};

/* The file source into one sink (vt, arg) on W workers. */
static void
run_into(struct op_file_config *fc, unsigned W, const struct engine_op_vtable *vt,
         void *arg, struct engine_stats *st)
{
	char err[256];
	assert_int_equal(op_file_prepare(fc, err, sizeof err), 0);
	struct engine_graph *g = engine_graph_new();
	const uint32_t var[] = {0};
	int s = engine_graph_add(g, "file", &op_file_vtable, fc, 0, 1, var);
	int k = engine_graph_add(g, "sink", vt, arg, 1, 0, NULL);
	assert_int_equal(engine_graph_connect(g, s, 0, k, 0,
	                                      op_file_sharded(fc, W) ? NULL
	                                                             : op_unit_key,
	                                      NULL),
	                 0);
	assert_int_equal(run_graph(g, W, st), 0);
}

/* Size-prefixed messages (OTLP protobuf files) have no mark to resync
 * on: shards find their first message by hopping over the sizes. Some
 * messages are longer than a stripe, so some stripes hold no start. */
static void
run_source(struct op_file_config *fc, unsigned W, struct unit_sum *sum,
           struct engine_stats *st)
{
	run_into(fc, W, &us_vt, sum, st);
}

static void
test_sharded_len32_reads_every_message_exactly_once(void **st)
{
	(void)st;
	char path[300];
	path_of(path, sizeof path, "framed.pb");
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	uint64_t off = 0, want_units = 0, want_offsets = 0, want_lens = 0;
	for (int i = 0; i < 300; i++) {
		uint32_t len = i % 50 == 7 ? 9000 : 1 + (uint32_t)(i * 53) % 700;
		unsigned char h[4] = {(unsigned char)(len >> 24),
		                      (unsigned char)(len >> 16),
		                      (unsigned char)(len >> 8), (unsigned char)len};
		fwrite(h, 1, 4, f);
		for (uint32_t j = 0; j < len; j++)
			fputc(j == 0 ? 0x0a : 'p', f); /* looks like protobuf */
		want_units++;
		want_offsets += off;
		want_lens += len;
		off += 4 + len;
	}
	fclose(f);
	for (unsigned k = 0; k < 8; k++) { /* mapped, then read() (no_mmap) */
		unsigned W = 1 + k % 4;
		struct op_file_config fc;
		op_file_config_default(&fc);
		fc.path = path;
		fc.no_mmap = k >= 4;
		fc.format = OP_FORMAT_OTLP_PROTO;
		fc.epoch_units = 50;
		fc.stripe_bytes = 4096;
		fc.max_unit_bytes = 16384;
		assert_int_equal(op_file_sharded(&fc, W), W > 1);
		struct unit_sum sum = {0};
		run_source(&fc, W, &sum, NULL);
		assert_int_equal(atomic_load(&sum.units), want_units);
		assert_int_equal(atomic_load(&sum.offsets), want_offsets);
		assert_int_equal(atomic_load(&sum.lens), want_lens);
	}
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
	for (unsigned k = 0; k < 12; k++) { /* mapped, then read() (no_mmap) */
		unsigned W = 1 + k % 6;
		struct op_file_config fc;
		op_file_config_default(&fc);
		fc.path = path;
		fc.no_mmap = k >= 6;
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

/* A sink that notes how far each unit's stripe lies past the stripes all
 * workers have finished, and holds worker 0 back so that without the
 * read-ahead bound worker 1 would run far ahead. */
struct ahead_sink {
	struct op_file_config *fc;
	_Atomic uint64_t units;
	_Atomic int64_t max_ahead; /* max over units of stripe - done */
};

static void
ah_batch(void *state, struct engine_ctx *ctx, unsigned port,
         const struct engine_batch *b)
{
	(void)port;
	struct ahead_sink *s = state;
	if (engine_ctx_worker(ctx) == 0)
		usleep(2000); /* a slow worker: not timed, only provoked */
	struct engine_batch_cursor c = ENGINE_BATCH_CURSOR_INIT;
	const void *r;
	uint32_t len;
	while ((r = engine_batch_next(b, &c, &len))) {
		struct op_unit_rec h;
		memcpy(&h, r, sizeof h);
		int64_t ahead = (int64_t)(h.offset / s->fc->stripe_bytes) -
		                (int64_t)atomic_load(&s->fc->stripes_done);
		int64_t m = atomic_load(&s->max_ahead);
		while (ahead > m && !atomic_compare_exchange_weak(&s->max_ahead, &m, ahead))
			;
		atomic_fetch_add(&s->units, 1);
	}
}

static const struct engine_op_vtable ah_vt = {
	.init = state_is_arg_init, .on_batch = ah_batch,
};

/* Sharded reading: a worker opens stripe k only when k < done + W + 1
 * (done: stripes read to their end by all), however slow another worker
 * is; and every line is still read. */
static void
test_sharded_read_ahead_is_bounded_by_the_slowest_worker(void **st)
{
	(void)st;
	char path[300];
	path_of(path, sizeof path, "ahead.jsonl");
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	for (int i = 0; i < 4000; i++)
		fprintf(f, "{\"line\":%d,\"pad\":\"%060d\"}\n", i, i);
	fclose(f);
	for (unsigned W = 2; W <= 3; W++) {
		struct op_file_config fc;
		op_file_config_default(&fc);
		fc.path = path;
		fc.stripe_bytes = 4096; /* ~80 stripes */
		struct ahead_sink sink = {.fc = &fc, .max_ahead = INT64_MIN};
		run_into(&fc, W, &ah_vt, &sink, NULL);
		assert_int_equal(atomic_load(&sink.units), 4000);
		assert_true(atomic_load(&sink.max_ahead) < (int64_t)W + 1);
	}
}

static void
test_unit_epochs_close_as_units_are_read(void **st)
{
	(void)st;
	char path[300];
	path_of(path, sizeof path, "epochs.jsonl");
	FILE *f = fopen(path, "w");
	uint64_t at[1000];
	for (int i = 0; i < 1000; i++) {
		at[i] = (uint64_t)ftell(f);
		fprintf(f, "{\"n\":%d}\n", i);
	}
	fclose(f);
	for (int shard = 0; shard <= 1; shard++) {
		struct op_file_config fc;
		op_file_config_default(&fc);
		fc.path = path;
		fc.epoch_units = 100;
		fc.shard = shard;
		fc.stripe_bytes = 4096; /* sharded: several stripes a worker */
		struct unit_sum sum = {0};
		struct engine_stats es;
		run_source(&fc, 2, &sum, &es);
		assert_int_equal(atomic_load(&sum.units), 1000);
		/* 1000 units at 100 per epoch: epochs 0..9 close on both
		 * workers */
		assert_true(es.max_epoch_closed >= 9);
		/* and each unit is in the epoch of its offset (prepare turned
		 * epoch_units into epoch_bytes), whichever worker read it */
		assert_true(fc.epoch_bytes > 0);
		uint64_t want = 0;
		for (int i = 0; i < 1000; i++)
			want += fc.first_epoch + at[i] / fc.epoch_bytes;
		assert_int_equal(atomic_load(&sum.epochs), want);
	}
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

/* ---- inline decoding ----------------------------------------------------- */

/* A sink of decoded events: a checksum over (epoch, record bytes) that
 * does not depend on arrival order, and a count. */
struct ev_sum {
	_Atomic uint64_t events, sum, epochs;
};

static void
es_batch(void *state, struct engine_ctx *ctx, unsigned port,
         const struct engine_batch *b)
{
	(void)ctx;
	(void)port;
	struct ev_sum *s = state;
	struct engine_batch_cursor c = ENGINE_BATCH_CURSOR_INIT;
	const unsigned char *r;
	uint32_t len;
	while ((r = engine_batch_next(b, &c, &len))) {
		assert_int_equal(op_event_validate(r, len), 0);
		uint64_t h = 1469598103934665603ull ^ b->epoch;
		for (uint32_t i = 0; i < len; i++)
			h = (h ^ r[i]) * 1099511628211ull;
		atomic_fetch_add(&s->events, 1);
		atomic_fetch_add(&s->sum, h);
		atomic_fetch_add(&s->epochs, b->epoch);
	}
}

static const struct engine_op_vtable es_vt = {
	.init = state_is_arg_init, .on_batch = es_batch,
};

/* file -> [decode] -> exchange(trace) -> ev_sum; the decode operator only
 * when not inline. Returns engine_run's result. */
static int
run_decoding(const char *path, unsigned W, int inline_dec,
             struct op_decode_op_config *dc, struct ev_sum *sum)
{
	struct op_file_config fc;
	op_file_config_default(&fc);
	fc.path = path;
	fc.epoch_units = 40;
	fc.stripe_bytes = 4096;
	char err[256];
	assert_int_equal(op_file_prepare(&fc, err, sizeof err), 0);
	if (inline_dec)
		fc.decode = dc;
	struct engine_graph *g = engine_graph_new();
	const uint32_t var[] = {0};
	int s = engine_graph_add(g, "file", &op_file_vtable, &fc, 0, 1, var);
	int d = s;
	if (!inline_dec) {
		d = engine_graph_add(g, "decode", &op_decode_vtable, dc, 1, 1, var);
		assert_int_equal(engine_graph_connect(g, s, 0, d, 0,
		                                      op_file_sharded(&fc, W)
		                                          ? NULL : op_unit_key,
		                                      NULL), 0);
	}
	int k = engine_graph_add(g, "sum", &es_vt, sum, 1, 0, NULL);
	assert_int_equal(engine_graph_connect(g, d, 0, k, 0, op_event_trace_key,
	                                      NULL), 0);
	return run_graph(g, W, NULL);
}

static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	char *buf = malloc(1 << 20);
	assert_non_null(buf);
	size_t n = fread(buf, 1, (1 << 20) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void
test_inline_decoding_equals_the_decode_operator(void **st)
{
	(void)st;
	/* Good reports with bad ones among them: a syntax error, a missing
	 * TaskID, a line over max_line_bytes, a self-parent. */
	char path[300];
	path_of(path, sizeof path, "events.jsonl");
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	unsigned good = 0, bad = 0;
	for (int i = 0; i < 1500; i++) {
		switch (i % 97) {
		case 13: fputs("{\"TaskID\":\"01\",\"EventID\":\n", f); bad++; continue;
		case 29: fputs("{\"EventID\":\"5\",\"Label\":\"x\"}\n", f); bad++; continue;
		case 41:
			fputs("{\"TaskID\":\"02\",\"EventID\":\"1\",\"Label\":\"", f);
			for (int j = 0; j < 700; j++)
				fputc('y', f);
			fputs("\"}\n", f);
			bad++;
			continue;
		case 53:
			fputs("{\"TaskID\":\"03\",\"EventID\":\"7\",\"ParentEventID\":[\"7\"]}\n", f);
			bad++;
			continue;
		}
		fprintf(f, "{\"TaskID\":\"%016X\",\"EventID\":\"%d\",\"ParentEventID\":[\"%d\"],"
		           "\"HRT\":%d,\"Host\":\"h%d\",\"Agent\":\"a\",\"Label\":\"L%d\","
		           "\"Title\":\"t\"}\n",
		        (unsigned)(i % 37) * 2654435761u, i, i - 1, 1000 + i, i % 5, i % 11);
		good++;
	}
	fclose(f);
	for (unsigned W = 1; W <= 4; W++) {
		struct ev_sum sum[2];
		uint64_t by[2][OP_REJECT__COUNT];
		uint64_t units[2], events[2], rejected[2];
		char *dead[2];
		memset(sum, 0, sizeof sum);
		for (int mode = 0; mode < 2; mode++) {
			char dlpath[300];
			path_of(dlpath, sizeof dlpath, mode ? "dl-inline.jsonl"
			                                    : "dl-operator.jsonl");
			unlink(dlpath);
			struct op_deadletter *dl;
			assert_int_equal(op_deadletter_open(dlpath, &dl), 0);
			struct op_decode_op_config dc;
			memset(&dc, 0, sizeof dc);
			dc.format = OP_FORMAT_JSON_V4;
			op_decode_config_default(&dc.decode);
			dc.decode.max_line_bytes = 512;
			dc.deadletter = dl;
			dc.source_name = "events.jsonl";
			assert_int_equal(run_decoding(path, W, mode, &dc, &sum[mode]), 0);
			op_deadletter_free(dl);
			units[mode] = atomic_load(&dc.units);
			events[mode] = atomic_load(&dc.events);
			rejected[mode] = atomic_load(&dc.rejected);
			for (int r = 0; r < OP_REJECT__COUNT; r++)
				by[mode][r] = atomic_load(&dc.by_reason[r]);
			dead[mode] = slurp(dlpath);
		}
		assert_int_equal(events[1], good);
		assert_int_equal(rejected[1], bad);
		assert_int_equal(units[1], good + bad);
		assert_int_equal(units[0], units[1]);
		assert_int_equal(events[0], events[1]);
		assert_int_equal(rejected[0], rejected[1]);
		assert_memory_equal(by[0], by[1], sizeof by[0]);
		assert_int_equal(atomic_load(&sum[1].events), good);
		assert_int_equal(atomic_load(&sum[0].sum), atomic_load(&sum[1].sum));
		assert_int_equal(atomic_load(&sum[0].epochs),
		                 atomic_load(&sum[1].epochs));
		/* the same dead letters (positions included); order may
		 * differ between workers, so compare lengths and lines */
		assert_int_equal(strlen(dead[0]), strlen(dead[1]));
		for (char *line = strtok(dead[0], "\n"); line; line = strtok(NULL, "\n"))
			assert_non_null(strstr(dead[1], line));
		free(dead[0]);
		free(dead[1]);
	}
}

static void
test_inline_decoding_is_refused_where_one_worker_reads_for_all(void **st)
{
	(void)st;
	char path[300];
	path_of(path, sizeof path, "events.jsonl.gz");
	gzFile z = gzopen(path, "wb");
	assert_non_null(z);
	gzputs(z, "{\"TaskID\":\"01\",\"EventID\":\"1\"}\n");
	gzclose(z);
	struct op_file_config fc;
	op_file_config_default(&fc);
	fc.path = path;
	assert_true(op_file_decodes_inline(&fc, 1));
	assert_false(op_file_decodes_inline(&fc, 2)); /* gzip: worker 0 reads */
	struct op_decode_op_config dc;
	memset(&dc, 0, sizeof dc);
	dc.format = OP_FORMAT_JSON_V4;
	op_decode_config_default(&dc.decode);
	struct ev_sum sum = {0};
	assert_int_equal(run_decoding(path, 1, 1, &dc, &sum), 0);
	assert_int_equal(atomic_load(&sum.events), 1);
	assert_int_equal(run_decoding(path, 2, 1, &dc, &sum), WEFT_EINVAL);
}

/* A sink that cuts the input file short at its first batch, as someone
 * truncating a file weft is reading would. */
struct cut_sink {
	const char *path;
	_Atomic uint64_t units;
	_Atomic int cut;
};

static void
cut_batch(void *state, struct engine_ctx *ctx, unsigned port,
          const struct engine_batch *b)
{
	(void)ctx;
	(void)port;
	struct cut_sink *s = state;
	struct engine_batch_cursor c = ENGINE_BATCH_CURSOR_INIT;
	uint32_t len;
	while (engine_batch_next(b, &c, &len))
		atomic_fetch_add(&s->units, 1);
	if (!atomic_exchange(&s->cut, 1))
		assert_int_equal(truncate(s->path, 4096), 0);
}

static const struct engine_op_vtable cut_vt = {
	.init = state_is_arg_init, .on_batch = cut_batch,
};

/* A mapped file that shrinks under the reader would raise SIGBUS: the
 * source must stop with a counted I/O error, not die, and what it handed
 * out before stays. The file is mapped only while it is in the page
 * cache, and this machine's kernel evicts eagerly: a round whose first
 * window was found cold (nothing mapped: read() just ends early) is
 * tried again, up to 5 times. Read ahead (one worker, the default), the
 * cut is a short read of a window after the first: an I/O error too. */
static void
test_file_cut_short_while_read_is_an_io_error(void **st)
{
	(void)st;
	char path[300];
	path_of(path, sizeof path, "shrinks.jsonl");
	enum { LINES = 100000 }; /* 8 MiB: several slices of a window */
	for (unsigned run = 0; run < 3; run++) {
		unsigned W = run == 1 ? 2 : 1, ahead = run == 2;
		int tries = 0;
		struct op_file_config fc;
		do {
			FILE *f = fopen(path, "w"); /* whole again for each run */
			assert_non_null(f);
			for (int i = 0; i < LINES; i++)
				fprintf(f, "{\"line\":%08d,\"pad\":\"%060d\"}\n", i, 0);
			fclose(f);
			op_file_config_default(&fc);
			fc.path = path;
			fc.epoch_units = 1000;
			fc.stripe_bytes = 4u << 20;
			fc.read_ahead = ahead ? WEFT_HELPER_ON : WEFT_HELPER_OFF;
			struct cut_sink sink = {.path = path};
			run_into(&fc, W, &cut_vt, &sink, NULL);
			assert_int_equal(atomic_load(&sink.cut), 1);
			assert_true(atomic_load(&sink.units) > 0);
			assert_true(atomic_load(&sink.units) < LINES);
		} while (!ahead && atomic_load(&fc.mapped_bytes) == 0 && ++tries < 5);
		assert_true(atomic_load(ahead ? &fc.ahead_bytes : &fc.mapped_bytes) > 0);
		assert_int_equal(atomic_load(ahead ? &fc.mapped_bytes : &fc.ahead_bytes), 0);
		/* each worker whose reading the cut reached says so */
		assert_true(atomic_load(&fc.io_errors) >= 1);
		assert_true(atomic_load(&fc.io_errors) <= W);
	}
}

/* 1 when every page of path's [from, to) is in the page cache. */
static int
all_resident(const char *path, uint64_t from, uint64_t to)
{
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	long pg = sysconf(_SC_PAGESIZE);
	from -= from % (uint64_t)pg;
	size_t len = (size_t)(to - from);
	void *p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, (off_t)from);
	assert_true(p != MAP_FAILED);
	size_t pages = (len + (size_t)pg - 1) / (size_t)pg;
	unsigned char *vec = malloc(pages);
	assert_non_null(vec);
	assert_int_equal(mincore(p, len, vec), 0);
	int all = 1;
	for (size_t i = 0; i < pages; i++)
		all &= vec[i] & 1;
	free(vec);
	munmap(p, len);
	close(fd);
	return all;
}

/* A plain file is mapped while it is in the page cache; from the first
 * window that is not, a reader goes on from the same byte, so every line
 * is still read once. What lies past 64 MiB (a window boundary: windows
 * are a power of two up to that) is dropped from the cache
 * (POSIX_FADV_DONTNEED). The kernel keeps or evicts pages as it likes
 * (here it evicts eagerly), so how much was mapped is only bounded; the
 * lines must come out once each either way. Read ahead (the third round,
 * the tail dropped again), every byte is read ahead, cold or not. */
static void
test_cold_tail_is_read_on_from_where_mapping_stopped(void **st)
{
	(void)st;
	char path[300];
	path_of(path, sizeof path, "big.jsonl");
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	uint64_t off = 0, want_units = 0, want_offsets = 0, want_lens = 0;
	while (off < (72u << 20)) {
		int len = fprintf(f, "{\"u\":%llu,\"pad\":\"%0*d\"}",
		                  (unsigned long long)want_units,
		                  (int)(want_units % 97), 0);
		fputc('\n', f);
		want_units++;
		want_offsets += off;
		want_lens += (uint64_t)len;
		off += (uint64_t)len + 1;
	}
	assert_int_equal(fflush(f), 0);
	assert_int_equal(fdatasync(fileno(f)), 0);
	fclose(f);
	for (int round = 0; round < 3; round++) {
		int cold = round > 0, ahead = round == 2;
		int fd = open(path, O_RDONLY);
		assert_true(fd >= 0);
		if (cold) /* what lies past 64 MiB */
			(void)posix_fadvise(fd, (off_t)(64u << 20), 0,
			                    POSIX_FADV_DONTNEED);
		else { /* all of it in the cache: read it once */
			static char chunk[1 << 16];
			while (read(fd, chunk, sizeof chunk) > 0)
				;
		}
		close(fd);
		int tail_cold = !all_resident(path, 64u << 20, off);
		struct op_file_config fc;
		op_file_config_default(&fc);
		fc.path = path;
		fc.epoch_units = 100000;
		fc.read_ahead = ahead ? WEFT_HELPER_ON : WEFT_HELPER_OFF;
		struct unit_sum sum = {0};
		run_source(&fc, 1, &sum, NULL);
		assert_int_equal(atomic_load(&sum.units), want_units);
		assert_int_equal(atomic_load(&sum.offsets), want_offsets);
		assert_int_equal(atomic_load(&sum.lens), want_lens);
		assert_int_equal(atomic_load(&fc.io_errors), 0);
		if (ahead) {
			assert_int_equal(atomic_load(&fc.ahead_bytes), off);
			assert_int_equal(atomic_load(&fc.mapped_bytes), 0);
			continue;
		}
		uint64_t mapped = atomic_load(&fc.mapped_bytes);
		/* what was mapped is a prefix: never the dropped part */
		assert_true(mapped <= off);
		if (cold && tail_cold)
			assert_true(mapped <= 64u << 20);
		fprintf(stderr, "tail dropped %d (and gone: %d): %llu bytes mapped\n",
		        cold, tail_cold, (unsigned long long)mapped);
	}
	unlink(path);
}

/* A window the kernel has evicted a few single pages of is still mapped
 * (its holes read in first), not handed to read() for the rest of the
 * file: 16 MiB, every page read, then 3 pages of each 8 MiB window
 * dropped. The kernel here also evicts pages on its own; a round whose
 * file lost more than a window may lack is tried again, up to 5 times. */
static void
test_window_with_a_few_holes_is_still_mapped(void **st)
{
	(void)st;
	char path[300];
	path_of(path, sizeof path, "holes.jsonl");
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	uint64_t size = 0, units = 0;
	while (size < (16u << 20)) {
		size += (uint64_t)fprintf(f, "{\"u\":%08llu,\"pad\":\"%080d\"}\n",
		                          (unsigned long long)units, 0);
		units++;
	}
	assert_int_equal(fflush(f), 0); /* dirty pages are not dropped */
	assert_int_equal(fdatasync(fileno(f)), 0);
	fclose(f);
	long pg = sysconf(_SC_PAGESIZE);
	uint64_t mapped = 0;
	for (int tries = 0; tries < 5 && mapped != size; tries++) {
		int fd = open(path, O_RDONLY);
		assert_true(fd >= 0);
		static char chunk[1 << 16];
		while (read(fd, chunk, sizeof chunk) > 0)
			;
		for (uint64_t w = 0; w < size; w += 8u << 20)
			for (uint64_t k = 1; k <= 3; k++)
				(void)posix_fadvise(fd, (off_t)(w + k * 301 * (uint64_t)pg),
				                    pg, POSIX_FADV_DONTNEED);
		close(fd);
		struct op_file_config fc;
		op_file_config_default(&fc);
		fc.path = path;
		fc.epoch_units = 100000;
		fc.read_ahead = WEFT_HELPER_OFF; /* mapped, as sharded readers are */
		struct unit_sum sum = {0};
		run_source(&fc, 1, &sum, NULL);
		assert_int_equal(atomic_load(&sum.units), units);
		assert_int_equal(atomic_load(&fc.io_errors), 0);
		mapped = atomic_load(&fc.mapped_bytes);
	}
	assert_int_equal(mapped, size);
	unlink(path);
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
		cmocka_unit_test(test_sharded_read_ahead_is_bounded_by_the_slowest_worker),
		cmocka_unit_test(test_sharded_len32_reads_every_message_exactly_once),
		cmocka_unit_test(test_file_cut_short_while_read_is_an_io_error),
		cmocka_unit_test(test_cold_tail_is_read_on_from_where_mapping_stopped),
		cmocka_unit_test(test_window_with_a_few_holes_is_still_mapped),
		cmocka_unit_test(test_unit_epochs_close_as_units_are_read),
		cmocka_unit_test(test_overlong_line_becomes_one_flagged_excerpt),
		cmocka_unit_test(test_missing_input_is_a_clear_error),
		cmocka_unit_test(test_inline_decoding_equals_the_decode_operator),
		cmocka_unit_test(test_inline_decoding_is_refused_where_one_worker_reads_for_all),
	};
	return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
