/*
 * test_common.c — the leaf layer's own contracts (common/common.h): the
 * growth rule (weft_grow, WEFT_GROW with a size_t and a 32-bit capacity),
 * the text buffer (formatted appends, JSON string escaping), the
 * log-linear histogram's quantiles and merge, the names of the error
 * codes, the core count that the defaults follow (affinity mask and
 * cgroup CPU quota), the helpers' policy, and files written in huge-page
 * blocks. Each test was checked to fail under a mutation of the code it
 * covers (see the commit that added it).
 */
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "common/common.h"

/* ---- weft_grow ---------------------------------------------------------- */

/* From empty: the floor; then doubling; a need past twice the capacity
 * gets exactly the need. Contents survive every move. */
static void
test_grow_takes_max_of_need_double_and_floor(void **state)
{
	(void)state;
	int *a = NULL;
	size_t cap = 0;
	assert_int_equal(weft_grow((void **)&a, &cap, 1, sizeof *a, 16), 0);
	assert_non_null(a);
	assert_int_equal(cap, 16); /* min_cap */
	for (int i = 0; i < 16; i++)
		a[i] = i;
	assert_int_equal(weft_grow((void **)&a, &cap, 17, sizeof *a, 16), 0);
	assert_int_equal(cap, 32); /* 2 x cap */
	assert_int_equal(weft_grow((void **)&a, &cap, 33, sizeof *a, 0), 0);
	assert_int_equal(cap, 64); /* 2 x cap, no floor */
	assert_int_equal(weft_grow((void **)&a, &cap, 1000, sizeof *a, 16), 0);
	assert_int_equal(cap, 1000); /* need beats 2 x cap */
	assert_int_equal(weft_grow((void **)&a, &cap, 1001, sizeof *a, 4096), 0);
	assert_int_equal(cap, 4096); /* the floor beats both */
	for (int i = 0; i < 16; i++)
		assert_int_equal(a[i], i);
	a[4095] = 7; /* the slots are there (ASan would see otherwise) */
	free(a);
}

/* Enough room: nothing moves, nothing changes, not even for a floor
 * above the capacity. */
static void
test_grow_leaves_a_big_enough_array_alone(void **state)
{
	(void)state;
	size_t cap = 8;
	char *a = malloc(cap);
	assert_non_null(a);
	char *was = a;
	assert_int_equal(weft_grow((void **)&a, &cap, 8, 1, 1024), 0);
	assert_int_equal(weft_grow((void **)&a, &cap, 0, 1, 1024), 0);
	assert_ptr_equal(a, was);
	assert_int_equal(cap, 8);
	free(a);
}

/* A need whose size overflows size_t fails before any allocation, the
 * array and its capacity untouched. */
static void
test_grow_overflow_fails_untouched(void **state)
{
	(void)state;
	size_t cap = 4;
	uint64_t *a = calloc(cap, sizeof *a);
	assert_non_null(a);
	a[3] = 42;
	uint64_t *was = a;
	assert_int_equal(weft_grow((void **)&a, &cap, SIZE_MAX / sizeof *a + 1,
	                           sizeof *a, 0), WEFT_ENOMEM);
	assert_ptr_equal(a, was);
	assert_int_equal(cap, 4);
	assert_int_equal(a[3], 42);
	assert_int_equal(weft_grow((void **)&a, &cap, SIZE_MAX, 2, 0), WEFT_ENOMEM);
	assert_int_equal(cap, 4);
	size_t c2 = SIZE_MAX / 2; /* doubling it would wrap */
	assert_int_equal(weft_grow((void **)&a, &c2, SIZE_MAX / 2 + 1, 16, 0),
	                 WEFT_ENOMEM);
	assert_int_equal(c2, SIZE_MAX / 2);
	assert_ptr_equal(a, was);
	free(a);
}

/* WEFT_GROW with a size_t capacity is weft_grow. */
static void
test_grow_macro_size_t_capacity(void **state)
{
	(void)state;
	struct item {
		uint64_t k;
		uint32_t v;
	} *p = NULL;
	size_t cap = 0, n = 0;
	for (unsigned i = 0; i < 100; i++) {
		if (n == cap)
			assert_int_equal(WEFT_GROW(p, cap, n + 1, 8), 0);
		p[n++] = (struct item){i, i * 3};
	}
	assert_int_equal(cap, 128); /* 8, 16, 32, 64, 128 */
	for (unsigned i = 0; i < 100; i++)
		assert_true(p[i].k == i && p[i].v == i * 3);
	free(p);
}

/* WEFT_GROW with a uint32_t capacity: the same rule, the capacity written
 * back as 32 bits (the bytes beside it untouched), and a need past
 * UINT32_MAX refused with nothing changed. */
static void
test_grow_macro_uint32_capacity(void **state)
{
	(void)state;
	struct {
		uint32_t cap;
		uint32_t guard;
	} s = {0, 0xdeadbeef};
	uint16_t *p = NULL;
	assert_int_equal(WEFT_GROW(p, s.cap, 5, 4), 0);
	assert_int_equal(s.cap, 5); /* need beats floor and double */
	assert_int_equal(WEFT_GROW(p, s.cap, 6, 4), 0);
	assert_int_equal(s.cap, 10);
	assert_int_equal(WEFT_GROW(p, s.cap, 10, 4), 0);
	assert_int_equal(s.cap, 10);
	assert_int_equal(s.guard, 0xdeadbeef);
	p[9] = 9;
	uint16_t *was = p;
	if (SIZE_MAX > UINT32_MAX) {
		assert_int_equal(WEFT_GROW(p, s.cap, (uint64_t)UINT32_MAX + 1, 4),
		                 WEFT_ENOMEM);
		assert_ptr_equal(p, was);
		assert_int_equal(s.cap, 10);
		assert_int_equal(s.guard, 0xdeadbeef);
	}
	assert_int_equal(p[9], 9);
	free(p);
}

/* ---- weft_buf ------------------------------------------------------------ */

static void
test_buf_printf_appends_and_grows(void **state)
{
	(void)state;
	struct weft_buf b = {0};
	assert_int_equal(weft_buf_printf(&b, "%s=%d", "a", 1), 0);
	assert_int_equal(b.len, 3);
	assert_string_equal(b.p, "a=1");
	assert_int_equal(weft_buf_printf(&b, ",%s", ""), 0);
	assert_int_equal(weft_buf_printf(&b, "%s", ""), 0);
	assert_int_equal(b.len, 4);
	/* longer than anything reserved so far: the text is redone whole */
	char big[3000];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = 0;
	assert_int_equal(weft_buf_printf(&b, "[%s]", big), 0);
	assert_int_equal(b.len, 4 + 2 + sizeof big - 1);
	assert_true(b.cap > b.len);
	assert_memory_equal(b.p, "a=1,[xxx", 8);
	assert_int_equal(b.p[b.len - 1], ']');
	assert_int_equal(b.p[b.len], 0);
	free(b.p);
}

static void
test_buf_str_escapes_json(void **state)
{
	(void)state;
	struct weft_buf b = {0};
	assert_int_equal(weft_buf_printf(&b, "k:"), 0);
	assert_int_equal(weft_buf_str(&b, "a\"b\\c\nd\x01\x1f\x7f\xc3\xa9/"), 0);
	static const char want[] = "k:\"a\\\"b\\\\c\\u000ad\\u0001\\u001f\x7f\xc3\xa9/\"";
	assert_int_equal(b.len, sizeof want - 1);
	assert_memory_equal(b.p, want, sizeof want - 1);
	assert_int_equal(weft_buf_str(&b, ""), 0);
	assert_int_equal(b.len, sizeof want - 1 + 2);
	assert_memory_equal(b.p + sizeof want - 1, "\"\"", 2);
	/* the worst case (every byte six) fits whatever was reserved */
	char ctl[2000];
	memset(ctl, '\x02', sizeof ctl - 1);
	ctl[sizeof ctl - 1] = 0;
	size_t at = b.len;
	assert_int_equal(weft_buf_str(&b, ctl), 0);
	assert_int_equal(b.len - at, 6 * (sizeof ctl - 1) + 2);
	assert_true(b.len <= b.cap);
	assert_memory_equal(b.p + at, "\"\\u0002\\u0002", 13);
	assert_memory_equal(b.p + b.len - 7, "\\u0002\"", 7);
	free(b.p);
}

/* ---- weft_hist ----------------------------------------------------------- */

static void
assert_within_eighth(uint64_t got, uint64_t truth)
{
	/* the bucket's upper bound: never below the truth, at most 1/8 above */
	assert_true(got >= truth);
	assert_true(got - truth <= truth / 8);
}

static void
test_hist_quantiles(void **state)
{
	(void)state;
	static struct weft_hist h, h2, both;
	memset(&h, 0, sizeof h);
	assert_int_equal(weft_hist_quantile(&h, 0.5), 0); /* empty */
	for (uint64_t v = 0; v < 8; v++) { /* small values are exact */
		memset(&h, 0, sizeof h);
		weft_hist_add(&h, v);
		weft_hist_add(&h, 1000);
		assert_int_equal(weft_hist_quantile(&h, 0.0), v);
	}
	memset(&h, 0, sizeof h);
	for (uint64_t v = 1; v <= 10000; v++)
		weft_hist_add(&h, v * 1000); /* 1 us .. 10 ms */
	assert_int_equal(h.n, 10000);
	assert_int_equal(h.max, 10000000);
	assert_within_eighth(weft_hist_quantile(&h, 0.5), 5000000);
	assert_within_eighth(weft_hist_quantile(&h, 0.9), 9000000);
	assert_within_eighth(weft_hist_quantile(&h, 0.01), 100000);
	assert_within_eighth(weft_hist_quantile(&h, 0.0), 1000);
	assert_int_equal(weft_hist_quantile(&h, 1.0), 10000000); /* capped at max */
	/* merge: the counts add, the max is the larger */
	memset(&h2, 0, sizeof h2);
	for (int i = 0; i < 10000; i++)
		weft_hist_add(&h2, 50000000);
	memset(&both, 0, sizeof both);
	weft_hist_merge(&both, &h);
	weft_hist_merge(&both, &h2);
	assert_int_equal(both.n, 20000);
	assert_int_equal(both.max, 50000000);
	assert_within_eighth(weft_hist_quantile(&both, 0.25), 5000000);
	assert_within_eighth(weft_hist_quantile(&both, 0.75), 50000000);
	/* the top bucket holds anything */
	memset(&h, 0, sizeof h);
	weft_hist_add(&h, UINT64_MAX);
	assert_int_equal(weft_hist_quantile(&h, 0.5), UINT64_MAX);
}

/* ---- errors ---------------------------------------------------------------- */

static void
test_strerror_names_every_code(void **state)
{
	(void)state;
	const char *unknown = weft_strerror(1);
	assert_string_equal(unknown, "unknown error");
	assert_string_equal(weft_strerror(WEFT_EKAFKA - 1), unknown);
	const char *seen[16];
	unsigned n = 0;
	for (int e = WEFT_OK; e >= WEFT_EKAFKA; e--) {
		const char *s = weft_strerror(e);
		assert_non_null(s);
		assert_true(s[0] != 0);
		assert_true(strcmp(s, unknown) != 0);
		for (unsigned i = 0; i < n; i++)
			assert_true(strcmp(s, seen[i]) != 0); /* each its own name */
		seen[n++] = s;
	}
	assert_int_equal(n, 11);
	assert_string_equal(weft_strerror(WEFT_ENOMEM), "out of memory");
	/* weft_errf: formats, truncates, and does nothing without a buffer */
	char buf[8];
	weft_errf(buf, sizeof buf, "%s %d", "code", 12345);
	assert_string_equal(buf, "code 12");
	weft_errf(NULL, 10, "x");
	buf[0] = 'q';
	weft_errf(buf, 0, "x");
	assert_int_equal(buf[0], 'q');
}

/* ---- cores ------------------------------------------------------------------ */

/* weft_cores counts the CPUs the process may run on, not those online: a
 * container's cpuset or `taskset -c 0` gives one core, so the helpers'
 * auto policy and the default worker count see one. */
static void
test_cores_follow_the_affinity_mask(void **state)
{
	(void)state;
	cpu_set_t all, one;
	assert_int_equal(sched_getaffinity(0, sizeof all, &all), 0);
	/* a CPU quota on this process's cgroup caps the mask's count */
	unsigned count = (unsigned)CPU_COUNT(&all),
	         quota = weft_cgroup_cpus("/proc/self/mountinfo", "/proc/self/cgroup"),
	         want = quota && quota < count ? quota : count;
	assert_int_equal(weft_cores(), want);
	assert_int_equal(weft_workers_for(0), want);
	assert_int_equal(weft_workers_for(3), 3);
	int first = 0;
	while (!CPU_ISSET(first, &all))
		first++;
	CPU_ZERO(&one);
	CPU_SET(first, &one);
	assert_int_equal(sched_setaffinity(0, sizeof one, &one), 0);
	unsigned pinned = weft_cores(), workers = weft_workers_for(0);
	assert_int_equal(sched_setaffinity(0, sizeof all, &all), 0);
	assert_int_equal(pinned, 1);
	assert_int_equal(workers, 1);
	assert_int_equal(weft_cores(), want);
}

/* A fake tree for weft_cgroup_cpus: files under a temporary directory,
 * and mountinfo / cgroup files that point into it. */
static void
put(const char *dir, const char *rel, const char *text)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", dir, rel);
	if (!text) { /* a directory */
		assert_int_equal(mkdir(path, 0700), 0);
		return;
	}
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static unsigned
cpus_of(const char *dir, const char *mountinfo, const char *cgroup)
{
	char mi[512], cg[512];
	snprintf(mi, sizeof mi, "%s/mountinfo", dir);
	snprintf(cg, sizeof cg, "%s/cgroup", dir);
	put(dir, "mountinfo", mountinfo);
	put(dir, "cgroup", cgroup);
	return weft_cgroup_cpus(mi, cg);
}

/* The quota of the process's cgroup and its parents, v1 and v2, rounded
 * up to whole CPUs, the smallest winning; a mount of a subtree; none. */
static void
test_cgroup_quota_caps_the_cores(void **state)
{
	(void)state;
	char d[] = "/tmp/weft-cgroup-XXXXXX";
	assert_non_null(mkdtemp(d));
	put(d, "v1", NULL);
	put(d, "v1/kube", NULL);
	put(d, "v1/kube/pod", NULL);
	put(d, "v2", NULL);
	put(d, "v2/a", NULL);
	put(d, "v2/a/b", NULL);
	put(d, "v1/cpu.cfs_quota_us", "-1\n");
	put(d, "v1/cpu.cfs_period_us", "100000\n");
	put(d, "v1/kube/cpu.cfs_quota_us", "-1\n");
	put(d, "v1/kube/cpu.cfs_period_us", "100000\n");
	put(d, "v1/kube/pod/cpu.cfs_quota_us", "150000\n");
	put(d, "v1/kube/pod/cpu.cfs_period_us", "100000\n");
	put(d, "v2/a/b/cpu.max", "max 100000\n");
	put(d, "v2/a/cpu.max", "250000 100000\n");
	char mi_v1[1024], mi_v2[1024], mi_both[2048], mi_sub[1024];
	snprintf(mi_v1, sizeof mi_v1,
	         "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw\n"
	         "32 31 0:29 / %s/v1 rw,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct\n"
	         "33 31 0:30 / %s/v2 rw,relatime - cgroup cgroup rw,memory\n", d, d);
	snprintf(mi_v2, sizeof mi_v2,
	         "41 31 0:38 / %s/v2 rw,relatime - cgroup2 cgroup2 rw\n", d);
	snprintf(mi_both, sizeof mi_both, "%s%s", mi_v1, mi_v2);
	/* the pod's subtree mounted at v1/kube/pod (a container's view) */
	snprintf(mi_sub, sizeof mi_sub,
	         "32 31 0:29 /kube/pod %s/v1/kube/pod rw - cgroup cgroup rw,cpuacct,cpu\n", d);
	/* v1: the pod's 1.5 CPUs round up to 2 */
	assert_int_equal(cpus_of(d, mi_v1, "4:memory:/x\n3:cpu,cpuacct:/kube/pod\n"), 2);
	/* v2: none on the leaf, 2.5 CPUs on its parent: 3 */
	assert_int_equal(cpus_of(d, mi_v2, "0::/a/b\n"), 3);
	/* both hierarchies: the smaller */
	assert_int_equal(cpus_of(d, mi_both, "3:cpu,cpuacct:/kube/pod\n0::/a/b\n"), 2);
	/* the cgroup path under a mounted subtree is taken relative to it */
	assert_int_equal(cpus_of(d, mi_sub, "3:cpu,cpuacct:/kube/pod\n"), 2);
	/* no quota anywhere up the path, a controller not mounted, no files */
	assert_int_equal(cpus_of(d, mi_v1, "3:cpu,cpuacct:/kube\n"), 0);
	assert_int_equal(cpus_of(d, mi_v2, "3:cpu,cpuacct:/kube/pod\n"), 0);
	assert_int_equal(cpus_of(d, mi_v1, "3:cpuacct:/kube/pod\n"), 0);
	assert_int_equal(weft_cgroup_cpus("/nonexistent/mountinfo", "/nonexistent/cgroup"), 0);
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", d);
	assert_int_equal(system(cmd), 0);
}

/* The helpers' policy (the file source's read ahead, the slab reserve,
 * the finish helper): auto means two cores per worker. */
static void
test_a_worker_gets_a_helper_with_two_cores_of_its_own(void **state)
{
	(void)state;
	assert_true(weft_helper_wanted(WEFT_HELPER_AUTO, 1, 2));
	assert_true(weft_helper_wanted(WEFT_HELPER_AUTO, 2, 4));
	assert_true(weft_helper_wanted(WEFT_HELPER_AUTO, 3, 16));
	assert_false(weft_helper_wanted(WEFT_HELPER_AUTO, 1, 1));
	assert_false(weft_helper_wanted(WEFT_HELPER_AUTO, 2, 2));
	assert_false(weft_helper_wanted(WEFT_HELPER_AUTO, 3, 5));
	assert_true(weft_helper_wanted(WEFT_HELPER_ON, 8, 1));
	assert_false(weft_helper_wanted(WEFT_HELPER_OFF, 1, 64));
}

/* ---- weft_write_in_blocks ---------------------------------------------- */

/* What a stream's writes reached its file as (a fopencookie stream goes
 * through the same stdio buffering as a file's). */
struct writes {
	size_t n, total, bad; /* bad: writes not whole blocks at a block offset */
	size_t last;
	unsigned char sum;
};

static ssize_t
note_write(void *cookie, const char *p, size_t len)
{
	struct writes *w = cookie;
	if (w->n && (w->last % WEFT_WRITE_BLOCK || w->total % WEFT_WRITE_BLOCK))
		w->bad++; /* the one before was not the last */
	w->n++;
	w->last = len;
	w->total += len;
	for (size_t i = 0; i < len; i++)
		w->sum = (unsigned char)(w->sum + (unsigned char)p[i]);
	return (ssize_t)len;
}

/* 7.3 MiB in pieces of odd sizes, some smaller than a block, some larger
 * than two: every write but the last is whole blocks at a block offset,
 * and every byte arrives. With stdio's own buffer (or a 1 MiB one) the
 * writes are smaller and fail the first check. */
static void
test_a_file_is_written_in_whole_huge_page_blocks(void **state)
{
	(void)state;
	struct writes w = {0};
	cookie_io_functions_t io = {.write = note_write};
	FILE *f = fopencookie(&w, "w", io);
	assert_non_null(f);
	void *buf = weft_write_in_blocks(f);
	assert_non_null(buf);
	static char piece[5u << 20];
	for (size_t i = 0; i < sizeof piece; i++)
		piece[i] = (char)(i * 7 + 3);
	const size_t sizes[] = {1000003, 4096, 5u << 20, 77, 1234567, 300000};
	size_t want = 0;
	unsigned char sum = 0;
	for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
		assert_int_equal(fwrite(piece, 1, sizes[k], f), sizes[k]);
		want += sizes[k];
		for (size_t i = 0; i < sizes[k]; i++)
			sum = (unsigned char)(sum + (unsigned char)piece[i]);
	}
	assert_int_equal(fclose(f), 0);
	free(buf);
	assert_int_equal(w.total, want);
	assert_int_equal(w.sum, sum);
	assert_int_equal(w.bad, 0);
	assert_true(w.n >= 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_grow_takes_max_of_need_double_and_floor),
		cmocka_unit_test(test_grow_leaves_a_big_enough_array_alone),
		cmocka_unit_test(test_grow_overflow_fails_untouched),
		cmocka_unit_test(test_grow_macro_size_t_capacity),
		cmocka_unit_test(test_grow_macro_uint32_capacity),
		cmocka_unit_test(test_buf_printf_appends_and_grows),
		cmocka_unit_test(test_buf_str_escapes_json),
		cmocka_unit_test(test_hist_quantiles),
		cmocka_unit_test(test_strerror_names_every_code),
		cmocka_unit_test(test_cores_follow_the_affinity_mask),
		cmocka_unit_test(test_cgroup_quota_caps_the_cores),
		cmocka_unit_test(test_a_worker_gets_a_helper_with_two_cores_of_its_own),
		cmocka_unit_test(test_a_file_is_written_in_whole_huge_page_blocks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
