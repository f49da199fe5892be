/*
 * bench_main.c — `weft bench` dispatcher and the shared toolkit (clock,
 * statistics, Markdown tables, machine description).
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench.h"
#include "bench/bench_bloom.h"
#include "bench/bench_canon.h"
#include "bench/bench_decode.h"
#include "bench/bench_otlp.h"
#include "bench/bench_ed.h"
#include "bench/bench_kafka.h"
#include "common/opt.h"

uint64_t
bench_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

void
bench_sort(double *v, size_t n)
{
	if (n > 1)
		qsort(v, n, sizeof *v, cmp_double);
}

double
bench_quantile(const double *v, size_t n, double q)
{
	if (n == 0)
		return 0.0;
	size_t i = (size_t)(q * (double)(n - 1) + 0.5);
	return v[i < n ? i : n - 1];
}

double
bench_median(double *v, size_t n)
{
	if (n == 0)
		return 0.0;
	bench_sort(v, n);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

struct bench_table {
	char *title;
	char **lines; /* the header line first */
	size_t n, cap;
	unsigned cols;
};

struct bench_table *
bench_table_new(const char *title)
{
	struct bench_table *t = calloc(1, sizeof *t);
	if (t)
		t->title = strdup(title);
	return t;
}

void
bench_table_free(struct bench_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++)
		free(t->lines[i]);
	free(t->lines);
	free(t->title);
	free(t);
}

static void
add_line(struct bench_table *t, const char *cells)
{
	if (!t)
		return;
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		char **nl = realloc(t->lines, cap * sizeof *nl);
		if (!nl)
			return;
		t->lines = nl;
		t->cap = cap;
	}
	t->lines[t->n++] = strdup(cells);
}

void
bench_table_columns(struct bench_table *t, const char *cols)
{
	unsigned n = 1;
	for (const char *p = cols; *p; p++)
		n += *p == '|';
	if (t)
		t->cols = n;
	add_line(t, cols);
}

void
bench_table_header(struct bench_table *t, const char *first, unsigned max_w)
{
	char buf[1024];
	int off = snprintf(buf, sizeof buf, "%s", first);
	for (unsigned w = 1; w <= max_w && off < (int)sizeof buf - 16; w++)
		off += snprintf(buf + off, sizeof buf - (size_t)off, "|W=%u", w);
	bench_table_columns(t, buf);
}

void
bench_table_row(struct bench_table *t, const char *cells)
{
	add_line(t, cells);
}

void
bench_table_row_rates(struct bench_table *t, uint64_t key,
                      const double *rates, unsigned n)
{
	char buf[1024];
	int off = snprintf(buf, sizeof buf, "%llu", (unsigned long long)key);
	for (unsigned i = 0; i < n && off < (int)sizeof buf - 24; i++)
		off += snprintf(buf + off, sizeof buf - (size_t)off, "|%.2f M/s",
		                rates[i] / 1e6);
	add_line(t, buf);
}

static void
print_row(FILE *f, const char *cells)
{
	fputs("| ", f);
	for (const char *p = cells; *p; p++) {
		if (*p == '|')
			fputs(" | ", f);
		else
			fputc(*p, f);
	}
	fputs(" |\n", f);
}

void
bench_table_print(const struct bench_table *t, FILE *f)
{
	if (!t || t->n == 0)
		return;
	fprintf(f, "\n**%s**\n\n", t->title);
	print_row(f, t->lines[0]);
	fputc('|', f);
	for (unsigned c = 0; c < t->cols; c++)
		fputs("---|", f);
	fputc('\n', f);
	for (size_t i = 1; i < t->n; i++)
		print_row(f, t->lines[i]);
}

static void
cpu_model(char *out, size_t n)
{
	snprintf(out, n, "unknown CPU");
	FILE *f = fopen("/proc/cpuinfo", "r");
	if (!f)
		return;
	char line[512];
	while (fgets(line, sizeof line, f)) {
		if (!strncmp(line, "model name", 10)) {
			char *p = strchr(line, ':');
			if (p) {
				p += 2;
				p[strcspn(p, "\n")] = 0;
				snprintf(out, n, "%s", p);
			}
			break;
		}
	}
	fclose(f);
}

void
bench_write_preamble(FILE *f, const char *what, int argc, char **argv)
{
	char model[256];
	cpu_model(model, sizeof model);
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
	time_t now = time(NULL);
	char date[64];
	strftime(date, sizeof date, "%Y-%m-%d", gmtime(&now));
	fprintf(f, "Command: `%s", what);
	for (int i = 1; i < argc; i++)
		fprintf(f, " %s", argv[i]);
	fprintf(f, "`  \nMachine: %ld cores, %s, %.0f GiB RAM; measured %s.\n",
	        cores, model, (double)pages * (double)psz / (1024.0 * 1024 * 1024),
	        date);
}

int
bench_write_markdown(const char *path, const char *what, int argc,
                     char **argv, const char *sep,
                     const struct bench_table *const *tables)
{
	FILE *f = fopen(path, "w");
	if (!f) {
		perror(path);
		return -1;
	}
	bench_write_preamble(f, what, argc, argv);
	for (size_t i = 0; tables[i]; i++) {
		if (i)
			fputs(sep, f);
		bench_table_print(tables[i], f);
	}
	return fclose(f) ? (perror(path), -1) : 0;
}

static const struct weft_verb bench_verbs[] = {
	{"engine", "records/s through an exchange, epoch-close latency",
	 bench_engine_main},
	{"decode", "X-Trace decoders vs json-c, jansson and simdjson",
	 bench_decode_main},
	{"otlp", "OTLP decoders vs protobuf-c; OTLP JSON vs X-Trace JSON",
	 bench_otlp_main},
	{"canon", "canonical signatures: traces/s, ns/node, shapes per title",
	 bench_canon_main},
	{"ed", "edit distance: pairs/s, Myers/Hyyro vs plain DP, with and "
	 "without cutoff", bench_ed_main},
	{"cluster", "clustering 10k traces of ~350 events into templates: "
	 "seconds", bench_cluster_main},
	{"bloom", "Bloom filter: probes/s per core, measured vs theoretical FPR",
	 bench_bloom_main},
	{"kafka", "raw consume rate of a topic (weft serve's consumer, count "
	 "only): the bound", bench_kafka_main},
	{"touch", "first touch of fresh memory (page faults, zeroing): GB/s, "
	 "what the machine had free against what was just freed",
	 bench_touch_main},
	{NULL, NULL, NULL},
};

int
bench_main(int argc, char **argv)
{
	return weft_verb_run("weft bench", "Benchmarks; each prints Markdown "
	                     "tables on stdout (--markdown FILE: also\nto FILE, "
	                     "with the command and the machine).",
	                     bench_verbs, argc, argv);
}
