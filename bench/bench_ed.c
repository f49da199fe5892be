/*
 * bench_ed.c — edit distance and clustering into templates (cluster.h).
 *
 * Strings are synthetic, shaped like canonical symbol strings of traces:
 * symbols are XXH3-looking 64-bit values over an alphabet of 20 labels.
 *
 * `ed`: for each length (64, 350, 1000, 5000) a set of near pairs (a
 * random string and a copy with 5% random edits: substitutions,
 * insertions, deletions) and far pairs (two independent random strings,
 * ~0.86 apart over 20 labels). Each method runs over the whole set R
 * times, one thread; the median run gives ns per pair. Methods: the two-row DP; Myers/Hyyro
 * with the pattern built once per pair's first string and no cutoff;
 * the same with the clustering cutoff (normalised 0.15, max_d = 0.15 x
 * length); and cluster_ed() with the cutoff, which builds the pattern on
 * each call.
 *
 * `cluster`: 30 base templates, each a prefix, a 16-symbol unit repeated
 * and a suffix (like an HDFS write's per-block units), ~L symbols over a
 * pool of 40 labels. A trace takes a base, changes the repetition count
 * by -1..+1 and applies up to 2% random edits. "with duplicates": 80% of
 * the traces repeat one of 20 frequent variants of their base, as a
 * training run repeats shapes; "all distinct": every trace is a fresh
 * variant. Traces are deduplicated (XXH3 of the symbols) into weighted
 * items first, as the model builder does; only cluster_templates() is
 * timed, median of R runs, with 1 thread and with all cores.
 */
#include "bench/bench_ed.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xxhash.h>

#include "bench/bench.h"
#include "cluster/cluster.h"
#include "common/opt.h"
#include "engine/engine.h"

static uint64_t
be_rnd(uint64_t *s)
{
	*s += 0x9e3779b97f4a7c15ULL;
	uint64_t z = *s;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint32_t
be_rndn(uint64_t *s, uint32_t n)
{
	return n ? (uint32_t)(be_rnd(s) % n) : 0;
}

static uint64_t
be_label(uint32_t v)
{
	return XXH3_64bits(&v, sizeof(v));
}

/* b = a with `edits` random edits over labels [0, sigma); b has room for
 * na + edits symbols. */
static uint32_t
be_mutate(const uint64_t *a, uint32_t na, uint64_t *b, uint32_t edits,
          uint32_t sigma, uint64_t *rng)
{
	uint32_t nb = na;
	memcpy(b, a, (size_t)na * sizeof(uint64_t));
	for (uint32_t e = 0; e < edits; e++) {
		uint32_t kind = be_rndn(rng, 3);
		if (kind == 0 && nb) {
			b[be_rndn(rng, nb)] = be_label(be_rndn(rng, sigma));
		} else if (kind == 1) {
			uint32_t p = be_rndn(rng, nb + 1);
			memmove(b + p + 1, b + p, (size_t)(nb - p) * sizeof(uint64_t));
			b[p] = be_label(be_rndn(rng, sigma));
			nb++;
		} else if (nb) {
			uint32_t p = be_rndn(rng, nb);
			memmove(b + p, b + p + 1,
			    (size_t)(nb - p - 1) * sizeof(uint64_t));
			nb--;
		}
	}
	return nb;
}

/* ---- ed ---------------------------------------------------------------- */
struct be_pairs {
	uint32_t n, len;
	uint64_t **a, **b;
	uint32_t *na, *nb;
};

static void
be_pairs_free(struct be_pairs *p)
{
	for (uint32_t i = 0; p->a && i < p->n; i++) {
		free(p->a[i]);
		free(p->b[i]);
	}
	free(p->a);
	free(p->b);
	free(p->na);
	free(p->nb);
	memset(p, 0, sizeof(*p));
}

static int
be_pairs_make(struct be_pairs *p, uint32_t n, uint32_t len, int near,
              uint64_t *rng)
{
	memset(p, 0, sizeof(*p));
	p->n = n;
	p->len = len;
	p->a = calloc(n, sizeof(*p->a));
	p->b = calloc(n, sizeof(*p->b));
	p->na = calloc(n, sizeof(*p->na));
	p->nb = calloc(n, sizeof(*p->nb));
	if (!p->a || !p->b || !p->na || !p->nb)
		return WEFT_ENOMEM;
	uint32_t edits = len / 20;
	for (uint32_t i = 0; i < n; i++) {
		p->a[i] = malloc(((size_t)len + edits + 1) * sizeof(uint64_t));
		p->b[i] = malloc(((size_t)len + edits + 1) * sizeof(uint64_t));
		if (!p->a[i] || !p->b[i])
			return WEFT_ENOMEM;
		for (uint32_t k = 0; k < len; k++)
			p->a[i][k] = be_label(be_rndn(rng, 20));
		p->na[i] = len;
		if (near) {
			p->nb[i] = be_mutate(p->a[i], len, p->b[i], edits, 20, rng);
		} else {
			for (uint32_t k = 0; k < len; k++)
				p->b[i][k] = be_label(be_rndn(rng, 20));
			p->nb[i] = len;
		}
	}
	return 0;
}

enum be_method { BE_DP, BE_MYERS, BE_MYERS_CUT, BE_ED_CUT, BE_NMETHODS };

/* ns per pair of one method over the first `use` pairs, median of runs;
 * also the mean normalised distance (exact methods only). */
static int
be_time(const struct be_pairs *p, uint32_t use, enum be_method m,
        unsigned runs, struct cluster_ed_scratch *s, double *ns,
        double *norm, uint64_t *sink)
{
	double v[100];
	struct cluster_ed_pattern **pat = NULL;
	if (m == BE_MYERS || m == BE_MYERS_CUT) {
		/* patterns are built once, outside the timing: the clustering
		 * builds one per template and reuses it for every trace */
		pat = calloc(use, sizeof(*pat));
		if (!pat)
			return WEFT_ENOMEM;
		for (uint32_t i = 0; i < use; i++)
			if (!(pat[i] = cluster_ed_pattern_new(p->a[i], p->na[i]))) {
				for (uint32_t k = 0; k < i; k++)
					cluster_ed_pattern_free(pat[k]);
				free(pat);
				return WEFT_ENOMEM;
			}
	}
	double dsum = 0;
	for (unsigned r = 0; r < runs; r++) {
		uint64_t t0 = bench_now_ns(), acc = 0;
		for (uint32_t i = 0; i < use; i++) {
			uint32_t cut = cluster_ed_max_d(0.15, p->na[i], p->nb[i]), d;
			switch (m) {
			case BE_DP:
				d = cluster_ed_dp(p->a[i], p->na[i], p->b[i], p->nb[i]);
				break;
			case BE_MYERS:
				d = cluster_ed_dist(pat[i], p->b[i], p->nb[i], UINT32_MAX, s);
				break;
			case BE_MYERS_CUT:
				d = cluster_ed_dist(pat[i], p->b[i], p->nb[i], cut, s);
				break;
			default:
				d = cluster_ed(p->a[i], p->na[i], p->b[i], p->nb[i], cut, s);
				break;
			}
			acc += d;
			if (r == 0)
				dsum += cluster_ed_norm(d, p->na[i], p->nb[i]);
		}
		v[r] = (double)(bench_now_ns() - t0) / (double)use;
		*sink += acc;
	}
	*ns = bench_median(v, runs);
	*norm = dsum / use;
	for (uint32_t i = 0; pat && i < use; i++)
		cluster_ed_pattern_free(pat[i]);
	free(pat);
	return 0;
}

static void
be_fmt_rate(char *out, size_t n, double ns)
{
	double r = 1e9 / ns;
	if (r >= 1e6)
		snprintf(out, n, "%.2f M", r / 1e6);
	else if (r >= 1e3)
		snprintf(out, n, "%.1f k", r / 1e3);
	else
		snprintf(out, n, "%.0f", r);
}

static void
be_fmt_ns(char *out, size_t n, double ns)
{
	if (ns >= 1e6)
		snprintf(out, n, "%.2f ms", ns / 1e6);
	else if (ns >= 1e4)
		snprintf(out, n, "%.1f us", ns / 1e3);
	else
		snprintf(out, n, "%.0f ns", ns);
}

/* `weft bench ed` options; the defaults are bench_ed_main()'s initializer. */
struct be_opts {
	unsigned runs;
	const char *md;
};

#define EDO(f) offsetof(struct be_opts, f)
static const struct weft_opt be_opts_tab[] = {
	{.name = "runs", .kind = WEFT_OPT_UINT, .off = EDO(runs), .meta = "R",
	 .help = "timed passes (the median is reported)", .lo = 1, .hi = 100},
	{.name = "markdown", .kind = WEFT_OPT_STR, .off = EDO(md),
	 .meta = "FILE", .help = "also write the tables to FILE, with the "
	 "command and the machine"},
	{0},
};
static const struct weft_cmd be_cmd = {
	.name = "weft bench ed",
	.usage = "[options]",
	.about = "Edit distance pairs per second: the bit-parallel distance "
	    "(Myers/Hyyro, with\nand without the cutoff) against the plain "
	    "DP, on near and far pairs of 64 to\n5000 symbols.",
	.opts = be_opts_tab,
};

int
bench_ed_main(int argc, char **argv)
{
	struct be_opts o = {.runs = 5, .md = NULL};
	int urc = weft_opt_run(&be_cmd, &o, argc, argv, NULL, NULL);
	if (urc >= 0)
		return urc;
	unsigned runs = o.runs;
	const char *md = o.md;
	static const uint32_t lens[] = {64, 350, 1000, 5000};
	static const char *const mname[BE_NMETHODS] = {
		"DP, two rows", "Myers/Hyyro, no cutoff",
		"Myers/Hyyro, cutoff 0.15", "cluster_ed (pattern per call), cutoff 0.15"};
	int status = 1;
	uint64_t rng = 42, sink = 0;
	struct cluster_ed_scratch *s = cluster_ed_scratch_new();
	struct bench_table *t1 = bench_table_new(
	    "Edit distance, 350 symbols over 20 labels, one thread");
	struct bench_table *t2 = bench_table_new(
	    "Edit distance by length: ns per pair, one thread");
	if (!s || !t1 || !t2)
		goto out;
	bench_table_columns(t1, "method|near: ns/pair|near: pairs/s|"
	    "far: ns/pair|far: pairs/s");
	bench_table_columns(t2, "symbols|pairs|near d/len|far d/len|DP|"
	    "Myers near|Myers far|cutoff near|cutoff far|cutoff far vs DP");
	for (unsigned li = 0; li < 4; li++) {
		uint32_t len = lens[li];
		uint32_t n = len <= 350 ? 2000 : len <= 1000 ? 500 : 60;
		/* DP on a cell budget: ~3e7 cells per run */
		uint32_t ndp = (uint32_t)(3e7 / ((double)len * len));
		ndp = ndp < 4 ? 4 : ndp > n ? n : ndp;
		struct be_pairs near = {0}, far = {0};
		if (be_pairs_make(&near, n, len, 1, &rng) ||
		    be_pairs_make(&far, n, len, 0, &rng)) {
			be_pairs_free(&near);
			be_pairs_free(&far);
			goto out;
		}
		double ns[BE_NMETHODS][2], nrm[BE_NMETHODS][2];
		for (int m = 0; m < BE_NMETHODS; m++)
			for (int f = 0; f < 2; f++) {
				const struct be_pairs *p = f ? &far : &near;
				if (be_time(p, m == BE_DP ? ndp : n, (enum be_method)m,
				    runs, s, &ns[m][f], &nrm[m][f], &sink)) {
					be_pairs_free(&near);
					be_pairs_free(&far);
					goto out;
				}
			}
		char row[512], c[10][32];
		if (len == 350)
			for (int m = 0; m < BE_NMETHODS; m++) {
				be_fmt_ns(c[0], 32, ns[m][0]);
				be_fmt_rate(c[1], 32, ns[m][0]);
				be_fmt_ns(c[2], 32, ns[m][1]);
				be_fmt_rate(c[3], 32, ns[m][1]);
				snprintf(row, sizeof(row), "%s|%s|%s|%s|%s", mname[m],
				    c[0], c[1], c[2], c[3]);
				bench_table_row(t1, row);
			}
		be_fmt_ns(c[0], 32, (ns[BE_DP][0] + ns[BE_DP][1]) / 2);
		be_fmt_ns(c[1], 32, ns[BE_MYERS][0]);
		be_fmt_ns(c[2], 32, ns[BE_MYERS][1]);
		be_fmt_ns(c[3], 32, ns[BE_MYERS_CUT][0]);
		be_fmt_ns(c[4], 32, ns[BE_MYERS_CUT][1]);
		snprintf(row, sizeof(row), "%u|%u|%.3f|%.3f|%s|%s|%s|%s|%s|%.0fx",
		    len, n, nrm[BE_MYERS][0], nrm[BE_MYERS][1], c[0], c[1], c[2],
		    c[3], c[4], (ns[BE_DP][0] + ns[BE_DP][1]) / 2 /
		    ns[BE_MYERS_CUT][1]);
		bench_table_row(t2, row);
		be_pairs_free(&near);
		be_pairs_free(&far);
	}
	bench_table_print(t1, stdout);
	bench_table_print(t2, stdout);
	if (md && bench_write_markdown(md, "weft bench ed", argc, argv, "",
	                               (const struct bench_table *[]){t1, t2, NULL}))
		goto out;
	fprintf(stderr, "(checksum %016" PRIx64 ")\n", sink);
	status = 0;
out:
	if (status)
		fprintf(stderr, "bench ed: failed\n");
	bench_table_free(t1);
	bench_table_free(t2);
	cluster_ed_scratch_free(s);
	return status;
}

/* ---- cluster ----------------------------------------------------------- */
#define BC_BASES 30
#define BC_UNIT 16
#define BC_POOL 40
#define BC_VARIANTS 20

struct bc_base {
	uint64_t pre[64], unit[BC_UNIT], suf[64];
	uint32_t npre, nsuf, reps;
};

/* One trace of base b into out; returns its length. */
static uint32_t
bc_variant(const struct bc_base *b, uint32_t len, uint64_t *tmp,
           uint64_t *out, uint64_t *rng)
{
	uint32_t n = 0, reps = b->reps + be_rndn(rng, 3) - 1;
	memcpy(tmp, b->pre, b->npre * sizeof(uint64_t));
	n = b->npre;
	for (uint32_t r = 0; r < reps; r++, n += BC_UNIT)
		memcpy(tmp + n, b->unit, sizeof(b->unit));
	memcpy(tmp + n, b->suf, b->nsuf * sizeof(uint64_t));
	n += b->nsuf;
	return be_mutate(tmp, n, out, be_rndn(rng, len / 50 + 1), BC_POOL, rng);
}

struct bc_set {
	struct cluster_item *it;
	uint64_t *store;
	uint32_t n, traces;
};

struct bc_slot {
	uint64_t h;
	uint32_t item;
};

/* Generates `traces` traces and merges identical ones into weighted
 * items. dup_pct: share of traces repeating a frequent variant; 0 = all
 * traces distinct (a variant seen before is drawn again). */
static int
bc_make(struct bc_set *s, uint32_t traces, uint32_t len, unsigned dup_pct,
        uint64_t seed)
{
	uint64_t rng = seed;
	size_t room = (size_t)len + len / 25 + 256; /* longest variant + slack */
	struct bc_base base[BC_BASES];
	memset(s, 0, sizeof(*s));
	s->traces = traces;
	uint32_t nvar = BC_BASES * BC_VARIANTS;
	uint64_t *var = malloc((size_t)nvar * room * sizeof(uint64_t));
	uint32_t *nv = malloc((size_t)nvar * sizeof(uint32_t));
	uint64_t *tmp = malloc(room * sizeof(uint64_t));
	s->store = malloc((size_t)traces * room * sizeof(uint64_t));
	s->it = calloc(traces, sizeof(*s->it));
	size_t tsz = 16;
	while (tsz < 2 * (size_t)traces)
		tsz <<= 1;
	struct bc_slot *tab = calloc(tsz, sizeof(*tab));
	int rc = WEFT_ENOMEM;
	if (!var || !nv || !tmp || !s->store || !s->it || !tab)
		goto out;
	for (int b = 0; b < BC_BASES; b++) {
		struct bc_base *x = &base[b];
		x->npre = 20 + be_rndn(&rng, 40);
		x->nsuf = 20 + be_rndn(&rng, 40);
		uint32_t body = len > x->npre + x->nsuf + BC_UNIT ?
		    len - x->npre - x->nsuf : BC_UNIT;
		x->reps = body / BC_UNIT;
		x->reps = x->reps < 2 ? 2 : x->reps;
		for (uint32_t i = 0; i < x->npre; i++)
			x->pre[i] = be_label(be_rndn(&rng, BC_POOL));
		for (uint32_t i = 0; i < BC_UNIT; i++)
			x->unit[i] = be_label(be_rndn(&rng, BC_POOL));
		for (uint32_t i = 0; i < x->nsuf; i++)
			x->suf[i] = be_label(be_rndn(&rng, BC_POOL));
		for (int v = 0; v < BC_VARIANTS; v++) {
			size_t k = (size_t)b * BC_VARIANTS + v;
			nv[k] = bc_variant(x, len, tmp, var + k * room, &rng);
		}
	}
	for (uint32_t t = 0; t < traces; t++) {
		/* a popular base more often: base b with weight 1/(b+1) */
	again:;
		uint32_t b = 0;
		double u = (double)be_rndn(&rng, 1u << 30) / (1u << 30) * 3.99;
		for (double acc = 1.0; b < BC_BASES - 1 && u > acc; b++)
			acc += 1.0 / (b + 2);
		uint64_t *dst = s->store + (size_t)s->n * room;
		uint32_t n;
		if (be_rndn(&rng, 100) < dup_pct) {
			size_t k = (size_t)b * BC_VARIANTS + be_rndn(&rng, BC_VARIANTS);
			n = nv[k];
			memcpy(dst, var + k * room, n * sizeof(uint64_t));
		} else {
			n = bc_variant(&base[b], len, tmp, dst, &rng);
		}
		uint64_t h = XXH3_64bits(dst, (size_t)n * sizeof(uint64_t)) | 1;
		size_t q = h & (tsz - 1);
		while (tab[q].h && tab[q].h != h)
			q = (q + 1) & (tsz - 1);
		if (tab[q].h && !dup_pct)
			goto again; /* "all distinct": draw another variant */
		if (tab[q].h) {
			s->it[tab[q].item].weight++;
			continue;
		}
		tab[q] = (struct bc_slot){h, s->n};
		s->it[s->n] = (struct cluster_item){dst, n, 1};
		s->n++;
	}
	rc = 0;
out:
	free(var);
	free(nv);
	free(tmp);
	free(tab);
	return rc;
}

static void
bc_free(struct bc_set *s)
{
	free(s->it);
	free(s->store);
	memset(s, 0, sizeof(*s));
}

/* `weft bench cluster` options; the defaults are bench_cluster_main()'s
 * initializer. */
struct bcl_opts {
	unsigned runs, threads;
	uint32_t items, len;
	const char *md;
};

#define CLO(f) offsetof(struct bcl_opts, f)
static const struct weft_opt bcl_opts_tab[] = {
	{.name = "items", .kind = WEFT_OPT_U32, .off = CLO(items), .meta = "N",
	 .help = "traces to cluster", .lo = 1, .hi = 10000000},
	{.name = "len", .kind = WEFT_OPT_U32, .off = CLO(len), .meta = "L",
	 .help = "symbols per trace (about)", .lo = 64, .hi = 100000},
	{.name = "threads", .kind = WEFT_OPT_UINT, .off = CLO(threads),
	 .meta = "T", .help = "clustering threads (0: 1 and the cores)",
	 .hi = 1024},
	{.name = "runs", .kind = WEFT_OPT_UINT, .off = CLO(runs), .meta = "R",
	 .help = "timed runs (the median is reported)", .lo = 1, .hi = 100},
	{.name = "markdown", .kind = WEFT_OPT_STR, .off = CLO(md),
	 .meta = "FILE", .help = "also write the table to FILE, with the "
	 "command and the machine"},
	{0},
};
static const struct weft_cmd bcl_cmd = {
	.name = "weft bench cluster",
	.usage = "[options]",
	.about = "Seconds to cluster traces into templates (cluster_templates), "
	    "with duplicates\n(as a training run has them) and when all are "
	    "distinct shapes (the worst case).",
	.opts = bcl_opts_tab,
};

int
bench_cluster_main(int argc, char **argv)
{
	struct bcl_opts o = {.runs = 3, .threads = 0, .items = 10000, .len = 350,
	    .md = NULL};
	int urc = weft_opt_run(&bcl_cmd, &o, argc, argv, NULL, NULL);
	if (urc >= 0)
		return urc;
	unsigned runs = o.runs, threads = o.threads;
	uint32_t items = o.items, len = o.len;
	const char *md = o.md;
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned tl[2] = {1, cores > 1 ? (unsigned)cores : 1}, ntl = 2;
	if (threads) {
		tl[0] = threads;
		ntl = 1;
	} else if (tl[1] == 1) {
		ntl = 1;
	}
	int status = 1;
	char title[160];
	snprintf(title, sizeof(title), "cluster_templates: %u traces of ~%u "
	    "symbols, 30 base templates, threshold 0.15, 2 refinement rounds",
	    items, len);
	struct bench_table *t = bench_table_new(title);
	if (!t)
		return 1;
	bench_table_columns(t, "traces|distinct shapes|threads|templates|"
	    "seconds|shapes/s");
	static const unsigned dup[2] = {80, 0};
	static const char *const what[2] = {"with duplicates", "all distinct"};
	for (int sc = 0; sc < 2; sc++) {
		struct bc_set set;
		if (bc_make(&set, items, len, dup[sc], 7 + sc)) {
			bc_free(&set);
			goto out;
		}
		for (unsigned ti = 0; ti < ntl; ti++) {
			struct cluster_params p;
			cluster_params_default(&p);
			p.threads = tl[ti];
			double sec[100];
			uint32_t nt = 0;
			for (unsigned r = 0; r < runs; r++) {
				struct cluster_result res;
				uint64_t t0 = bench_now_ns();
				int rc = cluster_templates(set.it, set.n, &p, &res);
				sec[r] = (double)(bench_now_ns() - t0) / 1e9;
				if (rc) {
					fprintf(stderr, "bench cluster: %s\n",
					    weft_strerror(rc));
					bc_free(&set);
					goto out;
				}
				nt = res.n_templates;
				cluster_result_free(&res);
			}
			double med = bench_median(sec, runs);
			char row[256];
			snprintf(row, sizeof(row), "%u (%s)|%u|%u|%u|%.2f|%.0f",
			    set.traces, what[sc], set.n, tl[ti], nt, med,
			    (double)set.n / med);
			bench_table_row(t, row);
		}
		bc_free(&set);
	}
	bench_table_print(t, stdout);
	if (md && bench_write_markdown(md, "weft bench cluster", argc, argv, "",
	                               (const struct bench_table *[]){t, NULL}))
		goto out;
	status = 0;
out:
	if (status)
		fprintf(stderr, "bench cluster: failed\n");
	bench_table_free(t);
	return status;
}
