/*
 * sim_gen_cmd.c — `weft sim generate` flags and learning sources.
 *
 * --from takes TraceBench run folders or X-Trace JSON-lines files
 * (repeatable; the files are read through weft's ingest decoder, see
 * sim_run.c, and a line it rejects stops generate with its line number and
 * reason). Without it the model learns from the bundled normal runs: every
 * data/tracebench/NM_* folder under $WEFT_SOURCE_ROOT (or the current
 * directory).
 */
#include <dirent.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "simulator/sim_gen.h"
#include "simulator/sim_ops.h"

static int
learn_path(struct sim_model *m, const char *path)
{
	struct sim_run r;
	struct stat sb;
	char err[256] = "";
	int rc;
	sim_run_init(&r);
	if (!stat(path, &sb) && S_ISDIR(sb.st_mode))
		rc = sim_tracebench_import(path, &r, NULL, err, sizeof(err));
	else
		rc = sim_run_read_jsonl(&r, path, err, sizeof(err));
	if (!rc)
		rc = sim_model_learn(m, &r);
	sim_run_free(&r);
	if (rc)
		fprintf(stderr, "weft sim generate: %s: %s%s%s\n", path,
		    weft_strerror(rc), err[0] ? ": " : "", err);
	return rc;
}

static int
learn_default(struct sim_model *m)
{
	const char *root = getenv("WEFT_SOURCE_ROOT");
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s/data/tracebench", root ? root : ".");
	DIR *d = opendir(dir);
	if (!d) {
		fprintf(stderr, "weft sim generate: no --from and no %s\n", dir);
		return WEFT_ENOTFOUND;
	}
	/* sorted names: the model must not depend on readdir order */
	char *names[64];
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)) && n < 64)
		if (!strncmp(e->d_name, "NM_", 3))
			names[n++] = strdup(e->d_name);
	closedir(d);
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
			char *x = names[j];
			names[j] = names[j - 1];
			names[j - 1] = x;
		}
	int rc = n ? 0 : WEFT_ENOTFOUND;
	for (size_t i = 0; i < n; i++) {
		char p[8192];
		snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
		if (!rc && names[i])
			rc = learn_path(m, p);
		free(names[i]);
	}
	return rc;
}

/* `weft sim generate` options; defaults from gen_opts_init(). */
struct gen_opts {
	struct sim_gen_cfg cfg;
	const char *out, *truth;
	const char *kinds;       /* checked by sim_inject_parse_kinds() */
	const char *from[32];
	size_t nfrom;
};

/* --from: one more learning source. */
static int
gen_from(void *target, const char *v, char *err, size_t errlen)
{
	struct gen_opts *o = target;
	if (o->nfrom == sizeof(o->from) / sizeof(o->from[0])) {
		weft_errf(err, errlen, "at most %zu sources",
		    sizeof(o->from) / sizeof(o->from[0]));
		return WEFT_EINVAL;
	}
	o->from[o->nfrom++] = v;
	return 0;
}

#define GO(f) offsetof(struct gen_opts, f)
static const struct weft_opt gen_opts_tab[] = {
	{.name = "out", .alias = 'o', .kind = WEFT_OPT_STR, .off = GO(out),
	 .meta = "OUT.jsonl", .help = "the JSON lines, - for stdout "
	 "(-o OUT.jsonl too; needed)"},
	{.name = "from", .kind = WEFT_OPT_FN, .meta = "DIR_OR_JSONL",
	 .fn = gen_from, .help = "learn from this TraceBench run folder or "
	 "JSONL file (repeatable; default: data/tracebench/NM_*)"},
	{.name = "traces", .kind = WEFT_OPT_U64, .off = GO(cfg.traces),
	 .meta = "N", .help = "traces to generate"},
	{.name = "concurrent", .kind = WEFT_OPT_U64, .off = GO(cfg.concurrent),
	 .meta = "C", .help = "traces open at a time", .lo = 1},
	{.name = "seed", .kind = WEFT_OPT_U64, .off = GO(cfg.seed), .meta = "S",
	 .help = "random seed (same seed and sources: same output)"},
	{.name = "truth", .kind = WEFT_OPT_STR, .off = GO(truth),
	 .meta = "TRUTH.tsv", .help = "also write the ground truth"},
	{.name = "blocks", .kind = WEFT_OPT_U64, .off = GO(cfg.blocks),
	 .meta = "K", .help = "force this repetition count (0: as learned)",
	 .hi = 100000},
	{.name = "title", .kind = WEFT_OPT_STR, .off = GO(cfg.title),
	 .meta = "TITLE", .help = "only templates with this title"},
	{.name = "inject-rate", .kind = WEFT_OPT_DOUBLE,
	 .off = GO(cfg.inject_rate), .meta = "P", .help = "probability that "
	 "a trace gets one anomaly", .dlo = 0, .dhi = 1},
	{.name = "load", .kind = WEFT_OPT_DOUBLE, .off = GO(cfg.load), .meta = "F",
	 .help = "a busier cluster: every duration and gap x F", .dlo = 0.01,
	 .dhi = 1000},
	{.name = "slow-hosts", .kind = WEFT_OPT_U64, .off = GO(cfg.slow_hosts),
	 .meta = "N", .help = "slow the first N learned DataNodes against their "
	 "peers (named on stderr)", .hi = 100000},
	{.name = "slow-factor", .kind = WEFT_OPT_DOUBLE, .off = GO(cfg.slow_factor),
	 .meta = "X", .help = "durations of the slowed DataNodes' events x X",
	 .dlo = 0.01, .dhi = 1000},
	{.name = "kinds", .kind = WEFT_OPT_STR, .off = GO(kinds),
	 .meta = "K1,K2..", .help = "anomaly kinds to inject, of drop, "
	 "exception, swap, delay, truncate"},
	{0},
};
static const struct weft_cmd gen_cmd = {
	.name = "weft sim generate",
	.usage = "--out OUT.jsonl [options]",
	.about = "Learns a model of HDFS-like traces from recorded runs and "
	    "writes a synthetic\nworkload from it, optionally with injected "
	    "anomalies (--inject-rate).",
	.opts = gen_opts_tab,
};

static void
gen_opts_init(struct gen_opts *o)
{
	memset(o, 0, sizeof(*o));
	sim_gen_defaults(&o->cfg);
	o->kinds = "drop,exception,swap,delay,truncate";
}

/* -1 and cfg filled, or the exit status of a usage error or --help. */
static int
gen_parse(int argc, char **argv, struct gen_opts *o)
{
	_Static_assert(sizeof(o->cfg.blocks) == sizeof(uint64_t),
	    "--blocks is read as a uint64_t");
	gen_opts_init(o);
	int npos = 0;
	int rc = weft_opt_run(&gen_cmd, o, argc, argv, NULL, &npos);
	if (rc >= 0)
		return rc;
	char badk[64];
	if (sim_inject_parse_kinds(o->kinds, &o->cfg.kinds, badk, sizeof(badk)))
		return weft_opt_usage(&gen_cmd, "--kinds: '%s' is not one of "
		    "drop, exception, swap, delay, truncate", badk);
	if (!o->out)
		return weft_opt_usage(&gen_cmd, "--out (-o) is needed");
	return -1;
}

int
sim_cmd_generate(int argc, char **argv)
{
	struct gen_opts o;
	struct sim_model m;
	int urc = gen_parse(argc, argv, &o);
	if (urc >= 0)
		return urc;
	struct sim_gen_cfg cfg = o.cfg;
	const char *out = o.out, *truth = o.truth;
	const char *const *from = o.from;
	size_t nfrom = o.nfrom;
	memset(&m, 0, sizeof(m));
	int rc = 0;
	for (size_t i = 0; i < nfrom && !rc; i++)
		rc = learn_path(&m, from[i]);
	if (!nfrom)
		rc = learn_default(&m);
	uint64_t ev = 0;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (!rc && !(rc = sim_generate(&m, &cfg, out, truth, &ev))) {
		clock_gettime(CLOCK_MONOTONIC, &t1);
		double s = (double)(t1.tv_sec - t0.tv_sec) +
		    (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
		fprintf(stderr, "weft sim generate: %llu traces, %llu events in "
		    "%.3f s (%.0f events/s), %zu templates\n",
		    (unsigned long long)cfg.traces, (unsigned long long)ev, s,
		    s > 0 ? (double)ev / s : 0.0, m.ntmpl);
		for (uint64_t h = 0; h < cfg.slow_hosts && h < m.ndn; h++)
			fprintf(stderr, "weft sim generate: slowed host %s (x %.2f)\n",
			    m.strs_run.strs.p + m.dn_hosts[h], cfg.slow_factor);
	} else if (rc) {
		fprintf(stderr, "weft sim generate: %s\n", weft_strerror(rc));
	}
	sim_model_free(&m);
	return rc ? 1 : 0;
}
