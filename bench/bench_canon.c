/*
 * bench_canon.c — throughput of cluster_canon_compute, one thread.
 *
 * Generated: HDFS-write-shaped trees like the recorded ones (7 fixed nodes
 * plus 16 per block, blocks CHAINED as in TraceBench: block k+1 hangs
 * under block k's "OP: send block"), 21 blocks = 343 nodes, nodes in a
 * random arrival order. Recorded: every trace of the given TraceBench runs
 * (imported in-process; labels hashed with XXH3 as the decoder does).
 * Each set is canonicalised R times with one warm scratch; the median run
 * gives traces/s and ns/node. A second table counts, per run and Title,
 * traces, distinct signatures and distinct exact shapes.
 */
#include "bench/bench_canon.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "bench/bench.h"
#include "cluster/cluster.h"
#include "common/common.h"
#include "common/opt.h"
#include "engine/engine.h"
#include "simulator/simulator.h"

struct bc_dag {
	uint32_t n;
	uint64_t *label;
	uint32_t *par_off, *par;
	uint32_t title; /* index into the run's title list */
};

struct bc_set {
	struct bc_dag *d;
	size_t n, cap;
	char titles[64][64];
	unsigned ntitles;
};

static void
bc_set_free(struct bc_set *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->d[i].label);
		free(s->d[i].par_off);
		free(s->d[i].par);
	}
	free(s->d);
	memset(s, 0, sizeof(*s));
}

static struct bc_dag *
bc_add(struct bc_set *s, uint32_t n, uint32_t e)
{
	if (s->n == s->cap) {
		size_t c = s->cap ? 2 * s->cap : 256;
		struct bc_dag *d = realloc(s->d, c * sizeof(*d));
		if (!d)
			return NULL;
		s->d = d;
		s->cap = c;
	}
	struct bc_dag *d = &s->d[s->n];
	d->n = n;
	d->label = malloc((n + 1) * sizeof(uint64_t));
	d->par_off = malloc((n + 1) * sizeof(uint32_t));
	d->par = malloc((e + 1) * sizeof(uint32_t));
	d->title = 0;
	if (!d->label || !d->par_off || !d->par) {
		free(d->label);
		free(d->par_off);
		free(d->par);
		return NULL;
	}
	s->n++;
	return d;
}

static uint64_t
sym(const char *s)
{
	return XXH3_64bits(s, strlen(s));
}

/* ---- generated HDFS writes --------------------------------------------- */
struct gen {
	uint64_t label[512];
	uint32_t parent[512]; /* UINT32_MAX for the root */
	uint32_t n;
};

static uint32_t
gen_node(struct gen *g, const char *lab, uint32_t parent)
{
	g->label[g->n] = sym(lab);
	g->parent[g->n] = parent;
	return g->n++;
}

static uint32_t
gen_chain(struct gen *g, uint32_t p, const char *const *labs, int n)
{
	for (int i = 0; i < n; i++)
		p = gen_node(g, labs[i], p);
	return p;
}

static int
gen_hdfs(struct bc_set *s, unsigned blocks, uint64_t *rng)
{
	struct gen g = {.n = 0};
	uint32_t root = gen_node(&g, "fs -copyFromLocal", UINT32_MAX);
	uint32_t gfi = gen_node(&g, "RPC:getFileInfo", root);
	gen_node(&g, "getFileInfo", gfi);
	uint32_t cr = gen_node(&g, "RPC:create", gfi);
	gen_node(&g, "create", cr);
	uint32_t at = cr;
	static const char *const wb[] = {"writeBlock", "OP: new BlockReceiver",
		"OP: connect next Datanode", "writeBlock", "OP: new BlockReceiver",
		"OP: connect next Datanode", "writeBlock", "OP: new BlockReceiver"};
	static const char *const rb[] = {"receiveBlock", "receiveBlock",
		"receiveBlock"};
	for (unsigned b = 0; b < blocks; b++) {
		uint32_t nb = gen_node(&g, "nextBlockOutputStream", at);
		uint32_t ab = gen_node(&g, "RPC:addBlock", nb);
		gen_node(&g, "addBlock", ab);
		uint32_t cb = gen_node(&g, "createBlockOutputStream", ab);
		gen_chain(&g, cb, wb, 8);
		uint32_t sb = gen_node(&g, "OP: send block", cb);
		gen_chain(&g, sb, rb, 3);
		at = sb;
	}
	uint32_t rc = gen_node(&g, "RPC:complete", at);
	gen_node(&g, "complete", rc);
	/* random arrival order */
	uint32_t perm[512], inv[512];
	for (uint32_t i = 0; i < g.n; i++)
		perm[i] = i;
	for (uint32_t i = g.n; i > 1; i--) {
		*rng = *rng * 6364136223846793005ULL + 1442695040888963407ULL;
		uint32_t j = (uint32_t)((*rng >> 33) % i);
		uint32_t t = perm[i - 1];
		perm[i - 1] = perm[j];
		perm[j] = t;
	}
	for (uint32_t i = 0; i < g.n; i++)
		inv[perm[i]] = i;
	struct bc_dag *d = bc_add(s, g.n, g.n);
	if (!d)
		return WEFT_ENOMEM;
	uint32_t e = 0;
	for (uint32_t i = 0; i < g.n; i++) {
		uint32_t o = perm[i];
		d->label[i] = g.label[o];
		d->par_off[i] = e;
		if (g.parent[o] != UINT32_MAX)
			d->par[e++] = inv[g.parent[o]];
	}
	d->par_off[g.n] = e;
	return 0;
}

/* ---- recorded runs ----------------------------------------------------- */
struct bc_idx {
	int64_t id;
	uint32_t i;
};

static int
bc_idx_cmp(const void *a, const void *b)
{
	const struct bc_idx *x = a, *y = b;
	return x->id < y->id ? -1 : x->id > y->id;
}

static int
load_run(const char *dir, struct bc_set *s)
{
	struct sim_run r;
	sim_run_init(&r);
	char err[256] = "";
	int rc = sim_tracebench_import(dir, &r, NULL, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "bench canon: %s: %s\n", dir, err);
		sim_run_free(&r);
		return rc;
	}
	/* events of each trace, in recorded order */
	uint32_t *first = calloc(r.ntr + 1, sizeof(uint32_t));
	uint32_t *evs = malloc((r.nev + 1) * sizeof(uint32_t));
	struct bc_idx *ix = malloc((r.nev + 1) * sizeof(*ix));
	if (!first || !evs || !ix) {
		rc = WEFT_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < r.nev; i++)
		first[r.ev[i].trace + 1]++;
	for (size_t t = 0; t < r.ntr; t++)
		first[t + 1] += first[t];
	{
		uint32_t *fill = calloc(r.ntr + 1, sizeof(uint32_t));
		if (!fill) {
			rc = WEFT_ENOMEM;
			goto out;
		}
		for (size_t i = 0; i < r.nev; i++) {
			uint32_t t = r.ev[i].trace;
			evs[first[t] + fill[t]++] = (uint32_t)i;
		}
		free(fill);
	}
	for (size_t t = 0; t < r.ntr && !rc; t++) {
		uint32_t n = first[t + 1] - first[t], e = 0, m = n;
		const uint32_t *ev = evs + first[t];
		for (uint32_t k = 0; k < n; k++) {
			ix[k].id = r.ev[ev[k]].id;
			ix[k].i = k;
			e += r.ev[ev[k]].npar;
		}
		qsort(ix, n, sizeof(*ix), bc_idx_cmp);
		struct bc_dag *d = bc_add(s, n + e, e);
		if (!d) {
			rc = WEFT_ENOMEM;
			break;
		}
		const char *title = sim_str(&r, r.tr[t].title);
		unsigned ti = 0;
		while (ti < s->ntitles && strcmp(s->titles[ti], title))
			ti++;
		if (ti == s->ntitles && ti < 64)
			snprintf(s->titles[s->ntitles++], 64, "%s", title);
		d->title = ti < 64 ? ti : 63;
		e = 0;
		for (uint32_t k = 0; k < n; k++) {
			const struct sim_event *x = &r.ev[ev[k]];
			d->label[k] = sym(sim_str(&r, x->label));
			d->par_off[k] = e;
			for (uint32_t q = 0; q < x->npar; q++) {
				struct bc_idx key = {r.parents[x->par_off + q], 0};
				struct bc_idx *f = bsearch(&key, ix, n, sizeof(*ix),
				    bc_idx_cmp);
				if (f) {
					d->par[e++] = f->i;
				} else {
					d->label[m] = CLUSTER_SYM_MISSING;
					d->par[e++] = m++;
				}
			}
		}
		for (uint32_t k = n; k <= m; k++)
			d->par_off[k] = e;
		d->n = m;
	}
out:
	free(first);
	free(evs);
	free(ix);
	sim_run_free(&r);
	return rc;
}

/* ---- measuring --------------------------------------------------------- */
static int
measure(struct cluster_canon_scratch *cs, const struct bc_set *s,
        unsigned runs, double *tps, double *nspn, uint64_t *sink)
{
	double rate[100], per[100];
	uint64_t nodes = 0;
	for (size_t i = 0; i < s->n; i++)
		nodes += s->d[i].n;
	for (unsigned r = 0; r < runs; r++) {
		uint64_t t0 = bench_now_ns();
		for (size_t i = 0; i < s->n; i++) {
			const struct bc_dag *d = &s->d[i];
			struct cluster_dag g = {d->n, d->label, d->par_off, d->par};
			struct cluster_canon c;
			int rc = cluster_canon_compute(cs, &g, &c);
			if (rc)
				return rc;
			*sink += c.signature ^ c.exact ^ c.symbols[c.n_symbols / 2];
		}
		double dt = (double)(bench_now_ns() - t0);
		rate[r] = (double)s->n / (dt / 1e9);
		per[r] = dt / (double)(nodes ? nodes : 1);
	}
	*tps = bench_median(rate, runs);
	*nspn = bench_median(per, runs);
	return 0;
}

static size_t
distinct(uint64_t *v, size_t n)
{
	qsort(v, n, sizeof(*v), weft_cmp_u64);
	size_t d = 0;
	for (size_t i = 0; i < n; i++)
		d += i == 0 || v[i] != v[i - 1];
	return d;
}

/* Adds one row per Title of s to t. */
static int
title_rows(struct cluster_canon_scratch *cs, const struct bc_set *s,
           const char *run, struct bench_table *t)
{
	uint64_t *sg = malloc((s->n + 1) * sizeof(uint64_t));
	uint64_t *ex = malloc((s->n + 1) * sizeof(uint64_t));
	if (!sg || !ex) {
		free(sg);
		free(ex);
		return WEFT_ENOMEM;
	}
	for (unsigned ti = 0; ti < s->ntitles; ti++) {
		size_t k = 0;
		uint32_t nmin = UINT32_MAX, nmax = 0, rmin = UINT32_MAX, rmax = 0;
		for (size_t i = 0; i < s->n; i++) {
			const struct bc_dag *d = &s->d[i];
			if (d->title != ti)
				continue;
			struct cluster_dag g = {d->n, d->label, d->par_off, d->par};
			struct cluster_canon c;
			int rc = cluster_canon_compute(cs, &g, &c);
			if (rc) {
				free(sg);
				free(ex);
				return rc;
			}
			sg[k] = c.signature;
			ex[k++] = c.exact;
			nmin = d->n < nmin ? d->n : nmin;
			nmax = d->n > nmax ? d->n : nmax;
			rmin = c.repeat_max < rmin ? c.repeat_max : rmin;
			rmax = c.repeat_max > rmax ? c.repeat_max : rmax;
		}
		char row[512];
		snprintf(row, sizeof(row), "%s|%s|%zu|%u-%u|%u-%u|%zu|%zu", run,
		    s->titles[ti], k, nmin, nmax, rmin, rmax, distinct(sg, k),
		    distinct(ex, k));
		bench_table_row(t, row);
	}
	free(sg);
	free(ex);
	return 0;
}

static const char *
base_name(const char *p)
{
	size_t n = strlen(p);
	while (n > 1 && p[n - 1] == '/')
		n--;
	const char *b = p;
	for (size_t i = 0; i + 1 < n; i++)
		if (p[i] == '/')
			b = p + i + 1;
	return b;
}

/* `weft bench canon` options; defaults from bc_opts_init(). */
struct bc_opts {
	unsigned runs, traces;
	const char *md;
	const char *dirs[16];
	unsigned ndirs;
};

/* --tracebench: one more recorded run. */
static int
bc_dir(void *target, const char *v, char *err, size_t errlen)
{
	struct bc_opts *o = target;
	if (o->ndirs == sizeof(o->dirs) / sizeof(o->dirs[0])) {
		weft_errf(err, errlen, "at most %zu runs",
		    sizeof(o->dirs) / sizeof(o->dirs[0]));
		return WEFT_EINVAL;
	}
	o->dirs[o->ndirs++] = v;
	return 0;
}

#define CO(f) offsetof(struct bc_opts, f)
static const struct weft_opt bc_opts_tab[] = {
	{.name = "runs", .kind = WEFT_OPT_UINT, .off = CO(runs), .meta = "R",
	 .help = "timed passes (the median is reported)", .lo = 1, .hi = 100},
	{.name = "traces", .kind = WEFT_OPT_UINT, .off = CO(traces), .meta = "N",
	 .help = "generated HDFS write traces", .lo = 1, .hi = 10000000},
	{.name = "tracebench", .kind = WEFT_OPT_FN, .meta = "DIR", .fn = bc_dir,
	 .help = "a recorded TraceBench run (repeatable; default: two bundled "
	 "NM_CL_* runs in data/tracebench)"},
	{.name = "markdown", .kind = WEFT_OPT_STR, .off = CO(md), .meta = "FILE",
	 .help = "also write the tables to FILE, with the command and the "
	 "machine"},
	{0},
};
static const struct weft_cmd bc_cmd = {
	.name = "weft bench canon",
	.usage = "[options]",
	.about = "Cost of the canonical form (cluster_canon_compute) per trace "
	    "and per node, on\ngenerated HDFS-shaped DAGs and on recorded "
	    "TraceBench runs; distinct signatures\nand exact shapes per Title "
	    "of each recorded run.",
	.opts = bc_opts_tab,
};

static void
bc_opts_init(struct bc_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->runs = 7;
	o->traces = 20000;
}

int
bench_canon_main(int argc, char **argv)
{
	struct bc_opts o;
	bc_opts_init(&o);
	int urc = weft_opt_run(&bc_cmd, &o, argc, argv, NULL, NULL);
	if (urc >= 0)
		return urc;
	unsigned runs = o.runs, ntraces = o.traces;
	const char *md = o.md;
	const char **dirs = o.dirs;
	unsigned ndirs = o.ndirs;
	static char defaults[2][4096];
	if (ndirs == 0) {
		const char *root = getenv("WEFT_SOURCE_ROOT");
		static const char *const nm[2] = {
			"NM_CL_w_05C_1to19B_0to600INT_50RT_10WT",
			"NM_CL_rpc_01C_0to0INT_10RT_1WT"};
		for (int k = 0; k < 2; k++) {
			snprintf(defaults[k], sizeof(defaults[k]),
			    "%s/data/tracebench/%s", root ? root : ".", nm[k]);
			dirs[ndirs++] = defaults[k];
		}
	}
	int status = 1;
	uint64_t sink = 0, rng = 42;
	struct cluster_canon_scratch *cs = cluster_canon_scratch_new();
	struct bc_set gen = {0};
	struct bench_table *t = bench_table_new("cluster_canon_compute, one thread");
	struct bench_table *tt = bench_table_new(
	    "Distinct signatures and exact shapes per Title");
	if (!cs || !t || !tt)
		goto out;
	bench_table_columns(t, "traces|nodes/trace|traces/s|ns/node");
	bench_table_columns(tt, "run|Title|traces|nodes|repeat_max|"
	    "distinct signature|distinct exact");
	for (unsigned i = 0; i < ntraces; i++)
		if (gen_hdfs(&gen, 21, &rng))
			goto out;
	double tps, nspn;
	char row[512];
	if (measure(cs, &gen, runs, &tps, &nspn, &sink))
		goto out;
	snprintf(row, sizeof(row), "generated HDFS write, 21 blocks|%u|%.0f|%.1f",
	    gen.d[0].n, tps, nspn);
	bench_table_row(t, row);
	for (unsigned k = 0; k < ndirs; k++) {
		struct bc_set rec = {0};
		if (load_run(dirs[k], &rec)) {
			bc_set_free(&rec);
			goto out;
		}
		uint64_t nodes = 0;
		for (size_t i = 0; i < rec.n; i++)
			nodes += rec.d[i].n;
		int rc = measure(cs, &rec, runs, &tps, &nspn, &sink);
		if (!rc)
			rc = title_rows(cs, &rec, base_name(dirs[k]), tt);
		if (rc) {
			bc_set_free(&rec);
			goto out;
		}
		snprintf(row, sizeof(row), "%s (%zu traces)|%.0f|%.0f|%.1f",
		    base_name(dirs[k]), rec.n,
		    rec.n ? (double)nodes / (double)rec.n : 0.0, tps, nspn);
		bench_table_row(t, row);
		bc_set_free(&rec);
	}
	bench_table_print(t, stdout);
	printf("\n");
	bench_table_print(tt, stdout);
	if (md && bench_write_markdown(md, "weft bench canon", argc, argv, "\n",
	                               (const struct bench_table *[]){t, tt, NULL}))
		goto out;
	fprintf(stderr, "(checksum %016" PRIx64 ")\n", sink);
	status = 0;
out:
	if (status)
		fprintf(stderr, "bench canon: failed\n");
	bench_table_free(t);
	bench_table_free(tt);
	bc_set_free(&gen);
	cluster_canon_scratch_free(cs);
	return status;
}
