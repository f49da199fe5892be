/*
 * test_op_map.c — op_map.c on its own: the residency count its windows are
 * mapped by (cachestat against mincore), and every byte handed out once,
 * in order, mapped or read ahead. (The file source over it, inside the
 * engine, is test_op_file.c's.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <cmocka.h>

#include "operators/ingest/ingest.h"

static char tmpdir[256];

static int
setup_dir(void **st)
{
	(void)st;
	const char *base = getenv("TMPDIR");
	snprintf(tmpdir, sizeof tmpdir, "%s/weft-test-map-XXXXXX",
	         base && base[0] ? base : "/tmp");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int
teardown_dir(void **st)
{
	(void)st;
	return rmdir(tmpdir);
}

static void
path_of(char *out, size_t n, const char *name)
{
	snprintf(out, n, "%s/%s", tmpdir, name);
}

/* The residency count windows are mapped by: cachestat (where the kernel
 * has it) says as many pages are out of the page cache as mincore does,
 * for the whole file, for a range that starts and ends inside pages
 * (every page it touches counts), and for nothing. 8 MiB read in whole,
 * then 3 single pages and a run of 64 dropped. Between two mincore counts
 * that agree, the kernel evicted nothing on its own meanwhile; a round in
 * which it did is tried again, up to 5 times. */
static void
test_cachestat_and_mincore_count_the_same_holes(void **st)
{
	(void)st;
	char path[300];
	path_of(path, sizeof path, "resident.bin");
	size_t size = 8u << 20;
	long pg = sysconf(_SC_PAGESIZE);
	static char chunk[1 << 16];
	memset(chunk, 'x', sizeof chunk);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	for (size_t at = 0; at < size; at += sizeof chunk)
		assert_int_equal(fwrite(chunk, 1, sizeof chunk, f), sizeof chunk);
	assert_int_equal(fflush(f), 0); /* dirty pages are not dropped */
	assert_int_equal(fdatasync(fileno(f)), 0);
	fclose(f);
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	const struct {
		uint64_t off;
		size_t len;
	} r[] = {
		{0, size},
		{(uint64_t)pg * 100 + 7, (size_t)pg * 300},
		{(uint64_t)pg * 2000 - 1, 2},
		{12345, 0},
	};
	int agreed = 0;
	for (int tries = 0; tries < 5 && !agreed; tries++) {
		assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
		while (read(fd, chunk, sizeof chunk) > 0)
			;
		for (int k = 0; k < 3; k++)
			(void)posix_fadvise(fd, (off_t)(101 + 600 * k) * pg, pg,
			                    POSIX_FADV_DONTNEED);
		(void)posix_fadvise(fd, (off_t)1999 * pg, 64 * pg,
		                    POSIX_FADV_DONTNEED);
		agreed = 1;
		for (size_t i = 0; i < sizeof r / sizeof r[0]; i++) {
			size_t a = op_map_cold_pages(fd, r[i].off, r[i].len, 1),
			       b = op_map_cold_pages(fd, r[i].off, r[i].len, 0),
			       c = op_map_cold_pages(fd, r[i].off, r[i].len, 1);
			if (a != c) {
				agreed = 0;
				break;
			}
			assert_int_equal(b, a);
			if (r[i].len == 0)
				assert_int_equal(a, 0);
			if (i == 0)
				fprintf(stderr, "%zu of %zu pages not in the cache\n", a,
				        size / (size_t)pg);
		}
	}
	assert_true(agreed);
	/* the page that straddles the second range's start is counted */
	(void)posix_fadvise(fd, (off_t)100 * pg, pg, POSIX_FADV_DONTNEED);
	size_t one = op_map_cold_pages(fd, (uint64_t)pg * 100 + 7, 1, 0);
	assert_int_equal(one, op_map_cold_pages(fd, (uint64_t)pg * 100 + 7, 1, 1));
	assert_true(one <= 1);
	close(fd);
	unlink(path);
}


/* op_map mapping, and reading ahead with its helper, hands out every
 * byte of a file once, in order, across window boundaries: 10 MiB
 * (windows are 4 MiB read ahead, 8 MiB mapped), read in slices that do
 * not divide a window, compared byte for byte with what was written;
 * both ways, the file in the page cache is mapped (the helper maps it
 * too). A round whose file the kernel evicted part of (the map says cold,
 * or the helper read a window into a buffer) is tried again, up to 5
 * times. */
static void
test_mapped_or_read_ahead_hands_out_every_byte_once(void **st)
{
	(void)st;
	char path[300];
	path_of(path, sizeof path, "ahead.bin");
	size_t size = (10u << 20) + 12345;
	unsigned char *want = malloc(size);
	assert_non_null(want);
	uint64_t x = 0x9E3779B97F4A7C15ull;
	for (size_t i = 0; i < size; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		want[i] = (unsigned char)x;
	}
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(want, 1, size, f), size);
	fclose(f);
	for (int ahead = 0; ahead <= 1; ahead++) {
		int done = 0;
		for (int tries = 0; tries < 5 && !done; tries++) {
			int fd = open(path, O_RDONLY); /* into the page cache */
			assert_true(fd >= 0);
			static char chunk[1 << 16];
			while (read(fd, chunk, sizeof chunk) > 0)
				;
			close(fd);
			struct op_map *m;
			assert_int_equal(op_map_open(path, 0, UINT64_MAX, ahead, &m), 0);
			assert_int_equal(op_map_reads_ahead(m), ahead);
			uint64_t at = 0, mapped = 0;
			ssize_t n;
			const unsigned char *p;
			while ((n = op_map_next(m, 777777, &p)) > 0) {
				assert_true(at + (uint64_t)n <= size);
				assert_memory_equal(p, want + at, (size_t)n);
				at += (uint64_t)n;
				assert_int_equal(op_map_pos(m), at);
				mapped += op_map_window_mapped(m) ? (uint64_t)n : 0;
			}
			op_map_free(m);
			if (n == OP_MAP_COLD)
				continue;
			assert_int_equal(n, 0);
			assert_int_equal(at, size);
			/* read ahead, the helper maps what is in the page cache
			 * (the kernel may evict a page or two meanwhile: then that
			 * window is read into a buffer) */
			if (mapped < size / 2)
				continue;
			done = 1;
		}
		assert_true(done);
	}
	free(want);
	unlink(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cachestat_and_mincore_count_the_same_holes),
		cmocka_unit_test(test_mapped_or_read_ahead_hands_out_every_byte_once),
	};
	return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
