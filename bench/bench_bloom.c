/*
 * bench_bloom.c — probe throughput of the split-block Bloom filter, one
 * thread, and its false-positive rate measured against the theory.
 *
 * For each size (default 10k, 200k, 1M and 50M keys at 1 %: ~12 KiB,
 * ~250 KiB, ~1.2 MiB and ~60 MiB, i.e. in L1, in L2, in the LLC, and far
 * beyond it on current x86 parts; the table names the smallest cache of
 * this machine that holds the filter) the filter is built from keys 0..n-1 (the filter rehashes
 * them; the build rate is reported too), then probed with two streams of
 * P keys, both in random order so consecutive probes hit unrelated lines:
 *   hit-heavy: random members (every answer "maybe");
 *   miss-heavy: random non-members (answers "maybe" at the FPR only).
 * Each stream runs R rounds with bloom_probe() in a plain loop and R with
 * bloom_probe_batch() over chunks of 1024 keys (the engine's default batch
 * size); the table gives the median rate and the range over the rounds.
 * The miss-heavy stream gives the measured false-positive rate.
 */
#include "bench/bench_bloom.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/bench.h"
#include "bloom/bloom.h"
#include "common/common.h"
#include "common/opt.h"
#include "engine/engine.h"

#define BB_CHUNK 1024
#define BB_MAX_SIZES 8
#define BB_NONMEMBER (1ULL << 62) /* members are below */

static uint64_t
bb_rnd(uint64_t *s)
{
	*s += 0x9e3779b97f4a7c15ULL;
	uint64_t z = *s;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* One timed pass; returns probes/s and adds the "maybe" answers to *hits. */
static double
bb_pass(const struct bloom *b, const uint64_t *keys, size_t n, int batch,
        uint8_t *out, uint64_t *hits)
{
	uint64_t h = 0;
	uint64_t t0 = bench_now_ns();
	if (batch) {
		for (size_t i = 0; i < n; i += BB_CHUNK) {
			size_t m = n - i < BB_CHUNK ? n - i : BB_CHUNK;
			bloom_probe_batch(b, keys + i, m, out);
			for (size_t j = 0; j < m; j++)
				h += out[j];
		}
	} else {
		for (size_t i = 0; i < n; i++)
			h += (uint64_t)bloom_probe(b, keys[i]);
	}
	double dt = (double)(bench_now_ns() - t0);
	*hits = h;
	return (double)n / (dt / 1e9);
}

/* "median (min-max)" in M probes/s over R rounds of one configuration. */
static void
bb_rate(const struct bloom *b, const uint64_t *keys, size_t n, int batch,
        unsigned rounds, uint8_t *out, uint64_t *hits, char *cell,
        size_t cap)
{
	double r[100];
	for (unsigned i = 0; i < rounds; i++)
		r[i] = bb_pass(b, keys, n, batch, out, hits) / 1e6;
	double med = bench_median(r, rounds); /* sorts r */
	snprintf(cell, cap, "%.1f (%.1f-%.1f)", med, r[0], r[rounds - 1]);
}

/* Size of the level-`level` cache of cpu0 in bytes, 0 if unknown: sysfs
 * first (what lscpu shows; under KVM sysconf() may report the host's whole
 * L3), then sysconf(). */
static long
bb_cache(int level)
{
	for (int i = 0; i < 8; i++) {
		char path[128], buf[32];
		snprintf(path, sizeof path,
		         "/sys/devices/system/cpu/cpu0/cache/index%d/level", i);
		FILE *f = fopen(path, "r");
		if (!f)
			break;
		int lv = fgets(buf, sizeof buf, f) ? atoi(buf) : 0;
		fclose(f);
		if (lv != level)
			continue;
		snprintf(path, sizeof path,
		         "/sys/devices/system/cpu/cpu0/cache/index%d/type", i);
		f = fopen(path, "r");
		if (!f)
			break;
		int instr = fgets(buf, sizeof buf, f) && !strncmp(buf, "Instr", 5);
		fclose(f);
		if (instr)
			continue;
		snprintf(path, sizeof path,
		         "/sys/devices/system/cpu/cpu0/cache/index%d/size", i);
		f = fopen(path, "r");
		if (!f)
			break;
		char *end = NULL;
		long v = fgets(buf, sizeof buf, f) ? strtol(buf, &end, 10) : 0;
		fclose(f);
		if (end && *end == 'K')
			v <<= 10;
		else if (end && *end == 'M')
			v <<= 20;
		if (v > 0)
			return v;
	}
	return sysconf(level == 1 ? _SC_LEVEL1_DCACHE_SIZE :
	               level == 2 ? _SC_LEVEL2_CACHE_SIZE : _SC_LEVEL3_CACHE_SIZE);
}

static const char *
bb_where(uint64_t bytes)
{
	long l1 = bb_cache(1), l2 = bb_cache(2), l3 = bb_cache(3);
	if (l1 > 0 && bytes <= (uint64_t)l1)
		return "L1";
	if (l2 > 0 && bytes <= (uint64_t)l2)
		return "L2";
	if (l3 > 0 && bytes <= (uint64_t)l3)
		return "LLC";
	if (l3 > 0)
		return "> LLC";
	return "?";
}

static void
bb_size(uint64_t bytes, char *out, size_t cap)
{
	if (bytes >= (1u << 20))
		snprintf(out, cap, "%.1f MiB", (double)bytes / (1 << 20));
	else
		snprintf(out, cap, "%.1f KiB", (double)bytes / (1 << 10));
}

/* Builds and measures one filter of n keys; one row in each table. */
static int
bb_one(uint64_t n, double fpr, unsigned rounds, size_t probes,
       uint64_t *hit_keys, uint64_t *miss_keys, uint8_t *out,
       struct bench_table *tp, struct bench_table *tf)
{
	struct bloom_config cfg;
	bloom_config_default(&cfg);
	cfg.expected_keys = n;
	cfg.target_fpr = fpr;
	struct bloom *b = NULL;
	char err[256] = "";
	int rc = bloom_new_config(&cfg, &b, err, sizeof err);
	if (rc) {
		fprintf(stderr, "bench bloom: %s (%s)\n", err, weft_strerror(rc));
		return rc;
	}
	uint64_t t0 = bench_now_ns();
	for (uint64_t k = 0; k < n; k++)
		bloom_add(b, k);
	double build = (double)n / ((double)(bench_now_ns() - t0) / 1e9);

	uint64_t s = 0x626c6f6f6d ^ n;
	for (size_t i = 0; i < probes; i++) {
		hit_keys[i] = bb_rnd(&s) % n;
		miss_keys[i] = BB_NONMEMBER | (bb_rnd(&s) >> 2);
	}
	char size[32], row[512], c[4][64];
	uint64_t bytes = bloom_size_bytes(b), hits = 0, fp = 0;
	bb_size(bytes, size, sizeof size);
	bb_rate(b, hit_keys, probes, 0, rounds, out, &hits, c[0], sizeof c[0]);
	bb_rate(b, hit_keys, probes, 1, rounds, out, &hits, c[1], sizeof c[1]);
	if (hits != probes) {
		fprintf(stderr, "bench bloom: false negatives (%" PRIu64 " of "
		        "%zu members found)\n", hits, probes);
		bloom_free(b);
		return WEFT_ESTATE;
	}
	bb_rate(b, miss_keys, probes, 0, rounds, out, &fp, c[2], sizeof c[2]);
	bb_rate(b, miss_keys, probes, 1, rounds, out, &hits, c[3], sizeof c[3]);
	double bpk = 8.0 * (double)bytes / (double)n;
	snprintf(row, sizeof row, "%" PRIu64 "|%s (%s)|%.2f|hits|%s|%s", n, size,
	         bb_where(bytes), bpk, c[0], c[1]);
	bench_table_row(tp, row);
	snprintf(row, sizeof row, "%" PRIu64 "|%s (%s)|%.2f|misses|%s|%s", n,
	         size, bb_where(bytes), bpk, c[2], c[3]);
	bench_table_row(tp, row);

	double theory = bloom_fpr_theory(b);
	double measured = (double)fp / (double)probes;
	snprintf(row, sizeof row, "%" PRIu64 "|%g|%.4f %%|%.4f %%|%" PRIu64
	         " of %zu|%.3f|%.1f", n, fpr, 100 * theory, 100 * measured, fp,
	         probes, theory > 0 ? measured / theory : 0.0, build / 1e6);
	bench_table_row(tf, row);
	bloom_free(b);
	return 0;
}

static void
bb_print(FILE *f, const struct bench_table *tp, const struct bench_table *tf,
         int argc, char **argv)
{
	bench_write_preamble(f, "weft bench bloom", argc, argv);
	bench_table_print(tp, f);
	fprintf(f, "\n");
	bench_table_print(tf, f);
}

/* `weft bench bloom` options; defaults from bb_opts_init(). */
struct bb_opts {
	uint64_t sizes[BB_MAX_SIZES];
	unsigned nsizes, given, rounds;
	double fpr;
	uint64_t probes;
	const char *md;
};

/* --keys: one more filter size; the first replaces the defaults. The
 * number is read by the shared parser, through a table of one. */
static int
bb_keys(void *target, const char *v, char *err, size_t errlen)
{
	static const struct weft_opt one[] = {
		{.name = "N", .kind = WEFT_OPT_U64, .lo = 1, .hi = BB_NONMEMBER - 1},
		{0},
	};
	struct bb_opts *o = target;
	uint64_t x;
	char e[200];
	if (weft_opt_set(one, &x, "N", v, 0, e, sizeof e)) {
		weft_errf(err, errlen, "%s", e + 3); /* after "N: " */
		return WEFT_EINVAL;
	}
	if (o->given == BB_MAX_SIZES) {
		weft_errf(err, errlen, "at most %d sizes", BB_MAX_SIZES);
		return WEFT_EINVAL;
	}
	o->sizes[o->given++] = x;
	o->nsizes = o->given;
	return 0;
}

#define BO(f) offsetof(struct bb_opts, f)
static const struct weft_opt bb_opts_tab[] = {
	{.name = "keys", .kind = WEFT_OPT_FN, .meta = "N", .fn = bb_keys,
	 .help = "a filter of N keys (repeatable; default: 10000, 200000, "
	 "1000000 and 50000000)"},
	{.name = "fpr", .kind = WEFT_OPT_DOUBLE, .off = BO(fpr), .meta = "P",
	 .help = "target false-positive rate", .dlo = 1e-12, .dhi = 0.999},
	{.name = "rounds", .kind = WEFT_OPT_UINT, .off = BO(rounds), .meta = "R",
	 .help = "timed rounds (median and range reported)", .lo = 1,
	 .hi = 100},
	{.name = "probes", .kind = WEFT_OPT_U64, .off = BO(probes), .meta = "N",
	 .help = "probes per stream and round", .lo = 1, .hi = 1ull << 30},
	{.name = "markdown", .kind = WEFT_OPT_STR, .off = BO(md), .meta = "FILE",
	 .help = "also write the tables to FILE, with the command and the "
	 "machine"},
	{0},
};
static const struct weft_cmd bb_cmd = {
	.name = "weft bench bloom",
	.usage = "[options]",
	.about = "Probes per second per core of the split-block Bloom filter "
	    "for filters that fit\nin L1, L2, the last-level cache and far "
	    "beyond it, hit-heavy and miss-heavy\nstreams, bloom_probe() in a "
	    "loop and bloom_probe_batch(); the measured false-\npositive rate "
	    "against bloom_fpr_theory().",
	.opts = bb_opts_tab,
};

static void
bb_opts_init(struct bb_opts *o)
{
	static const uint64_t def[] = {10000, 200000, 1000000, 50000000};
	memset(o, 0, sizeof *o);
	memcpy(o->sizes, def, sizeof def);
	o->nsizes = 4;
	o->rounds = 5;
	o->fpr = 0.01;
	o->probes = 4000000;
}

int
bench_bloom_main(int argc, char **argv)
{
	struct bb_opts o;
	bb_opts_init(&o);
	int urc = weft_opt_run(&bb_cmd, &o, argc, argv, NULL, NULL);
	if (urc >= 0)
		return urc;
	const uint64_t *sizes = o.sizes;
	unsigned nsizes = o.nsizes, rounds = o.rounds;
	double fpr = o.fpr;
	size_t probes = (size_t)o.probes;
	const char *md = o.md;
	int status = 1;
	uint64_t *hit_keys = malloc(probes * sizeof *hit_keys);
	uint64_t *miss_keys = malloc(probes * sizeof *miss_keys);
	uint8_t *out = malloc(BB_CHUNK);
	char title[256];
	snprintf(title, sizeof title, "Bloom filter probes, one thread, "
	         "M probes/s: median (min-max) of %u rounds of %zu probes",
	         rounds, probes);
	struct bench_table *tp = bench_table_new(title);
	struct bench_table *tf = bench_table_new(
	    "False-positive rate: measured on the miss-heavy stream vs "
	    "bloom_fpr_theory(); build rate of bloom_add()");
	if (!hit_keys || !miss_keys || !out || !tp || !tf)
		goto out;
	bench_table_columns(tp, "keys|filter (fits)|bits/key|stream|"
	    "bloom_probe loop|bloom_probe_batch");
	bench_table_columns(tf, "keys|target|theory|measured|false positives|"
	    "measured/theory|build (M adds/s)");
	for (unsigned i = 0; i < nsizes; i++)
		if (bb_one(sizes[i], fpr, rounds, probes, hit_keys, miss_keys, out,
		           tp, tf))
			goto out;
	bb_print(stdout, tp, tf, argc, argv);
	if (md) {
		FILE *f = fopen(md, "w");
		if (!f) {
			perror(md);
			goto out;
		}
		bb_print(f, tp, tf, argc, argv);
		fclose(f);
	}
	status = 0;
out:
	if (status)
		fprintf(stderr, "bench bloom: failed\n");
	bench_table_free(tp);
	bench_table_free(tf);
	free(hit_keys);
	free(miss_keys);
	free(out);
	return status;
}
