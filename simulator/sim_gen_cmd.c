/*
 * sim_gen_cmd.c — `weft sim generate` flags and learning sources.
 *
 * --from takes TraceBench run folders or JSONL files (repeatable). Without
 * it the model learns from the bundled normal runs: every data/tracebench/
 * NM_* folder under $WEFT_SOURCE_ROOT (or the current directory).
 */
#include <dirent.h>
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
	char err[256];
	int rc;
	sim_run_init(&r);
	if (!stat(path, &sb) && S_ISDIR(sb.st_mode))
		rc = sim_tracebench_import(path, &r, NULL, err, sizeof(err));
	else
		rc = sim_run_read_jsonl(&r, path);
	if (!rc)
		rc = sim_model_learn(m, &r);
	sim_run_free(&r);
	if (rc)
		fprintf(stderr, "weft sim generate: %s: %s\n", path,
		    weft_strerror(rc));
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

static int
gen_usage(const char *flag)
{
	fprintf(stderr, "weft sim generate: bad or missing argument: %s\n"
	    "usage: weft sim generate -o OUT.jsonl [--from DIR_OR_JSONL ...] "
	    "[--traces N] [--concurrent C] [--seed S] [--truth TRUTH.tsv] "
	    "[--blocks K] [--title TITLE] [--inject-rate P --kinds "
	    "drop,exception,swap,delay,truncate]\n", flag);
	return 2;
}

int
sim_cmd_generate(int argc, char **argv)
{
	struct sim_gen_cfg cfg;
	struct sim_model m;
	const char *out = NULL, *truth = NULL;
	const char *from[32];
	size_t nfrom = 0;
	sim_gen_defaults(&cfg);
	cfg.kinds = SIM_INJ_DROP | SIM_INJ_EXCEPTION | SIM_INJ_SWAP |
	    SIM_INJ_DELAY | SIM_INJ_TRUNCATE;
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		uint64_t u;
		int bad = 0;
		if (!v)
			return gen_usage(a);
		i++;
		if (!strcmp(a, "-o"))
			out = v;
		else if (!strcmp(a, "--truth"))
			truth = v;
		else if (!strcmp(a, "--from") && nfrom < 32)
			from[nfrom++] = v;
		else if (!strcmp(a, "--title"))
			cfg.title = v;
		else if (!strcmp(a, "--traces"))
			bad = sim_arg_u64(v, &cfg.traces);
		else if (!strcmp(a, "--concurrent"))
			bad = sim_arg_u64(v, &cfg.concurrent) || !cfg.concurrent;
		else if (!strcmp(a, "--seed"))
			bad = sim_arg_u64(v, &cfg.seed);
		else if (!strcmp(a, "--blocks"))
			bad = sim_arg_u64(v, &u) || u > 100000,
			cfg.blocks = (int64_t)u;
		else if (!strcmp(a, "--inject-rate"))
			bad = sim_arg_double(v, &cfg.inject_rate) ||
			    cfg.inject_rate < 0 || cfg.inject_rate > 1;
		else if (!strcmp(a, "--kinds")) {
			char badk[64];
			if (sim_inject_parse_kinds(v, &cfg.kinds, badk, sizeof(badk)))
				return gen_usage(badk);
		} else
			return gen_usage(a);
		if (bad)
			return gen_usage(a);
	}
	if (!out)
		return gen_usage("-o");
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
	} else if (rc) {
		fprintf(stderr, "weft sim generate: %s\n", weft_strerror(rc));
	}
	sim_model_free(&m);
	return rc ? 1 : 0;
}
