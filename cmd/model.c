/*
 * model.c — `weft model`: the model files kept beside a model.
 *
 *   weft model versions MODEL              the kept versions (MODEL.vN), newest last
 *   weft model rollback MODEL [--to N]     put a kept version back (default: the newest)
 *
 * `weft train -o MODEL` keeps the file it replaces as MODEL.vN (the last
 * --keep of them). A rollback checks that the version loads, keeps the
 * current file as a version in turn (so it can be undone), and replaces
 * MODEL through a rename: a `weft serve` or `weft replay --model` running
 * on MODEL swaps it in at an epoch boundary, as after SIGHUP.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cluster/cluster.h"
#include "cluster/model.h"
#include "common/common.h"
#include "common/opt.h"
#include "cmd/cmd.h"

struct model_opts {
	uint32_t to;
	unsigned keep;
};

#define M(f) offsetof(struct model_opts, f)
static const struct weft_opt rollback_table[] = {
	{.name = "to", .kind = WEFT_OPT_U32, .off = M(to), .meta = "N",
	 .help = "the version to put back (0: the newest kept)"},
	{.name = "keep", .kind = WEFT_OPT_UINT, .off = M(keep), .meta = "K",
	 .help = "versions kept, the current file among them", .lo = 1, .hi = 1000},
	{0},
};
static const struct weft_opt none_table[] = {{0}};
#undef M

static const struct weft_cmd versions_cmd = {
	.name = "weft model versions",
	.usage = "MODEL",
	.about = "Lists the earlier model files kept beside MODEL (MODEL.vN, newest last).",
	.opts = none_table,
	.min_pos = 1,
	.max_pos = 1,
};

static const struct weft_cmd rollback_cmd = {
	.name = "weft model rollback",
	.usage = "MODEL [--to N]",
	.about = "Puts a kept version of MODEL back in its place (the current file is kept\n"
	         "as a version too); a service running on MODEL swaps it in.",
	.opts = rollback_table,
	.min_pos = 1,
	.max_pos = 1,
};

/* t as ISO 8601 UTC ("2026-12-06T08:00:00Z"). */
static void
utc(char *out, size_t cap, time_t t)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int
versions_main(int argc, char **argv)
{
	char *pos[1];
	int npos = 0;
	int rc = weft_opt_run(&versions_cmd, NULL, argc, argv, pos, &npos);
	if (rc >= 0)
		return rc;
	uint32_t *v;
	size_t n;
	if (cluster_model_versions(pos[0], &v, &n)) {
		fprintf(stderr, "weft model versions: cannot read the folder of '%s'\n", pos[0]);
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		char vp[4200], when[32] = "?", err[512];
		snprintf(vp, sizeof vp, "%s.v%" PRIu32, pos[0], v[i]);
		struct stat st;
		if (!stat(vp, &st))
			utc(when, sizeof when, st.st_mtime);
		struct cluster_model *m;
		if (cluster_model_load(vp, &m, err, sizeof err)) {
			printf("v%" PRIu32 "\t%s\tunreadable: %s\n", v[i], when, err);
			continue;
		}
		struct cluster_model_info mi;
		cluster_model_info(m, &mi);
		char trained[32] = "?";
		if (mi.trained_at)
			utc(trained, sizeof trained, (time_t)mi.trained_at);
		printf("v%" PRIu32 "\t%s\t%u templates, %" PRIu64 " traces, %" PRIu64 " shapes, %" PRIu64
		       " pieces, trained %s%s%s\n", v[i], when, mi.n_templates, mi.traces, mi.shapes,
		       mi.pieces, trained, mi.trained_from[0] ? " by " : "", mi.trained_from);
		cluster_model_unref(m);
	}
	if (!n)
		fprintf(stderr, "weft model versions: no earlier version of '%s'\n", pos[0]);
	free(v);
	return 0;
}

static int
rollback_main(int argc, char **argv)
{
	struct model_opts o = {0, 5};
	char *pos[1];
	int npos = 0;
	int rc = weft_opt_run(&rollback_cmd, &o, argc, argv, pos, &npos);
	if (rc >= 0)
		return rc;
	char err[1024];
	uint32_t used = 0;
	if (cluster_model_rollback(pos[0], o.to, o.keep, &used, err, sizeof err)) {
		fprintf(stderr, "weft model rollback: %s\n", err);
		return 1;
	}
	fprintf(stderr, "weft model rollback: %s is version %" PRIu32 " again (the replaced file "
	        "is kept as the newest version)\n", pos[0], used);
	return 0;
}

static const struct weft_verb model_verbs[] = {
	{"versions", "list the earlier model files kept beside a model", versions_main},
	{"rollback", "put a kept version of a model back in its place", rollback_main},
	{NULL, NULL, NULL},
};

int
cmd_model_main(int argc, char **argv)
{
	return weft_verb_run("weft model", "Earlier model files, kept by weft train beside the model.",
	                     model_verbs, argc, argv);
}
