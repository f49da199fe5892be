/*
 * op_prom.c — Prometheus conventions shared by every /metrics of weft:
 * histograms in seconds (fixed `le` buckets, cumulative at render,
 * `_bucket`, `_sum`, `_count`), the standard process_* series read from
 * /proc, and weft_build_info.
 *
 * A histogram is a set of relaxed atomic counters that any thread may add
 * to (the engine's workers), read by the scrape without a lock: a scrape
 * that races an observation may see the bucket and not yet the count, a
 * difference of the observations in flight, never a torn value.
 */
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "operators/output/output.h"

void
op_prom_hist_init(struct op_prom_hist *h, const double *le_s, unsigned n)
{
	memset(h, 0, sizeof *h);
	h->n = n < OP_PROM_MAX_BUCKETS ? n : OP_PROM_MAX_BUCKETS;
	for (unsigned i = 0; i < h->n; i++)
		h->le_ns[i] = (uint64_t)(le_s[i] * 1e9 + 0.5);
}

void
op_prom_hist_observe(struct op_prom_hist *h, uint64_t ns)
{
	unsigned i = 0;
	while (i < h->n && ns > h->le_ns[i])
		i++;
	/* bucket i counts the values in (le[i-1], le[i]]; i == n: +Inf only */
	atomic_fetch_add_explicit(&h->bucket[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum_ns, ns, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
}

int
op_prom_hist_render(struct weft_buf *out, const char *name, const char *labels,
                    const struct op_prom_hist *h)
{
	char bn[160], l[320];
	const char *sep = labels && *labels ? "," : "";
	snprintf(bn, sizeof bn, "%s_bucket", name);
	uint64_t cum = 0;
	int rc = 0;
	for (unsigned i = 0; !rc && i <= h->n; i++) {
		cum += atomic_load_explicit(&h->bucket[i], memory_order_relaxed);
		if (i < h->n)
			snprintf(l, sizeof l, "%s%sle=\"%.9g\"", labels ? labels : "", sep,
			         (double)h->le_ns[i] / 1e9);
		else
			snprintf(l, sizeof l, "%s%sle=\"+Inf\"", labels ? labels : "", sep);
		rc = op_metrics_sample(out, bn, l, (double)cum);
	}
	snprintf(bn, sizeof bn, "%s_sum", name);
	rc = rc ? rc : op_metrics_sample(out, bn, labels,
	                                 (double)atomic_load(&h->sum_ns) / 1e9);
	snprintf(bn, sizeof bn, "%s_count", name);
	/* the count is the +Inf bucket's: the same read, so they agree */
	return rc ? rc : op_metrics_sample(out, bn, labels, (double)cum);
}

/* ---- epoch close ---------------------------------------------------------- */

static const double epoch_close_le[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                        0.25, 0.5, 1, 2.5, 5, 10, 30, 60};

void
op_prom_epoch_close_init(struct op_prom_hist *h)
{
	op_prom_hist_init(h, epoch_close_le, sizeof epoch_close_le / sizeof epoch_close_le[0]);
}

void
op_prom_epoch_closed(void *hist, uint64_t ns)
{
	op_prom_hist_observe(hist, ns);
}

int
op_prom_epoch_close_render(struct weft_buf *out, const struct op_prom_hist *h)
{
	int rc = op_metrics_family(out, "weft_epoch_close_seconds", "histogram",
	                           "from an epoch's last batch reaching a worker's assembler "
	                           "to that epoch closed there (every worker's frontier past "
	                           "it, its finished traces handed on)");
	return rc ? rc : op_prom_hist_render(out, "weft_epoch_close_seconds", NULL, h);
}

/* ---- process_* and build info ------------------------------------------- */

static int
count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1; /* the directory's own descriptor */
}

int
op_prom_process(struct weft_buf *out)
{
	/* /proc/self/stat: utime 14, stime 15, starttime 22, vsize 23, rss 24 */
	unsigned long long ut = 0, st = 0, start = 0, vsize = 0, rss = 0;
	FILE *f = fopen("/proc/self/stat", "r");
	int ok = 0;
	if (f) {
		char buf[1024];
		size_t n = fread(buf, 1, sizeof buf - 1, f);
		buf[n] = 0;
		fclose(f);
		const char *p = strrchr(buf, ')'); /* after the command's name */
		ok = p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu "
		                 "%*d %*d %*d %*d %*d %*d %llu %llu %llu", &ut, &st, &start,
		                 &vsize, &rss) == 5;
	}
	double tick = (double)sysconf(_SC_CLK_TCK), page = (double)sysconf(_SC_PAGESIZE);
	double boot = 0;
	f = fopen("/proc/stat", "r");
	if (f) {
		char line[256];
		while (fgets(line, sizeof line, f))
			if (sscanf(line, "btime %lf", &boot) == 1)
				break;
		fclose(f);
	}
	struct rlimit rl;
	int fds = count_fds();
	int rc = 0;
	if (ok) {
		rc = op_metrics_family(out, "process_cpu_seconds_total", "counter",
		                       "user and system CPU time spent, in seconds");
		rc = rc ? rc : op_metrics_sample(out, "process_cpu_seconds_total", NULL,
		                                 (double)(ut + st) / tick);
		rc = rc ? rc : op_metrics_family(out, "process_resident_memory_bytes", "gauge",
		                                 "resident memory size in bytes");
		rc = rc ? rc : op_metrics_sample(out, "process_resident_memory_bytes", NULL,
		                                 (double)rss * page);
		rc = rc ? rc : op_metrics_family(out, "process_virtual_memory_bytes", "gauge",
		                                 "virtual memory size in bytes");
		rc = rc ? rc : op_metrics_sample(out, "process_virtual_memory_bytes", NULL,
		                                 (double)vsize);
		if (boot > 0) {
			rc = rc ? rc : op_metrics_family(out, "process_start_time_seconds", "gauge",
			                                 "start time of the process since the "
			                                 "Unix epoch, in seconds");
			rc = rc ? rc : op_metrics_sample(out, "process_start_time_seconds", NULL,
			                                 boot + (double)start / tick);
		}
	}
	if (!rc && fds >= 0) {
		rc = op_metrics_family(out, "process_open_fds", "gauge",
		                       "number of open file descriptors");
		rc = rc ? rc : op_metrics_sample(out, "process_open_fds", NULL, fds);
	}
	if (!rc && !getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur != RLIM_INFINITY) {
		rc = op_metrics_family(out, "process_max_fds", "gauge",
		                       "maximum number of open file descriptors");
		rc = rc ? rc : op_metrics_sample(out, "process_max_fds", NULL,
		                                 (double)rl.rlim_cur);
	}
	rc = rc ? rc : op_metrics_family(out, "weft_build_info", "gauge",
	                                 "1, labelled with the version weft was built from");
	return rc ? rc : op_metrics_sample(out, "weft_build_info",
	                                   "version=\"" WEFT_VERSION "\"", 1);
}
