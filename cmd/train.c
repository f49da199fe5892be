/*
 * train.c — `weft train`: sample files (weft replay --sample) -> a
 * model file (cluster/model.h).
 *
 *   weft replay normal.jsonl --sample normal.smp --no-out
 *   weft train normal.smp -o normal.model
 *   weft replay traffic.jsonl --model normal.model --anomalies anomalies.jsonl
 *
 * Every trace of every sample file is given to the trainer, which
 * deduplicates identical shapes (weighted), clusters them into templates
 * (multi-threaded, deterministic for a seed), builds latency profiles and
 * the Bloom filter. A progress bar goes to stderr when it is a terminal.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cluster/cluster.h"
#include "operators/check/check.h"
#include "common/opt.h"
#include "cmd/cmd.h"

struct train_ctx {
	struct cluster_trainer *tr;
	struct op_trace_view view;
	uint64_t used, skipped;
};

static int
add_trace(void *arg, const struct op_trace *t)
{
	struct train_ctx *c = arg;
	if (t->flags & (OP_TRACE_LATE | OP_TRACE_INCOMPLETE | OP_TRACE_TRUNCATED)) {
		c->skipped++;
		return 0;
	}
	int rc = op_trace_view_fill(&c->view, t);
	if (!rc)
		rc = cluster_trainer_add(c->tr, &c->view.in);
	if (rc == WEFT_EINVAL) { /* a record that is not a DAG: skip it */
		c->skipped++;
		return 0;
	}
	if (!rc)
		c->used++;
	return rc;
}

static void
progress(void *arg, uint64_t done, uint64_t total)
{
	(void)arg;
	int width = 40, fill = total ? (int)(done * (uint64_t)width / total) : width;
	fprintf(stderr, "\rclustering [%.*s%*s] %" PRIu64 "/%" PRIu64 " shapes", fill,
	        "########################################", width - fill, "", done, total);
	if (done == total)
		fputc('\n', stderr);
}

struct train_opts {
	struct cluster_model_params p;
	const char *out;
	double slow_floor_ms;
	unsigned keep; /* earlier model files kept (MODEL.vN) */
};

#define T(f) offsetof(struct train_opts, f)
static const struct weft_opt train_table[] = {
	{.name = "out", .alias = 'o', .kind = WEFT_OPT_STR, .off = T(out),
	 .meta = "MODEL", .help = "model file to write (required)"},
	{.name = "threshold", .kind = WEFT_OPT_DOUBLE, .off = T(p.threshold),
	 .meta = "D", .help = "normalised edit distance to join a template",
	 .dlo = 0, .dhi = 1},
	{.name = "fpr", .kind = WEFT_OPT_DOUBLE, .off = T(p.bloom_fpr), .meta = "P",
	 .help = "Bloom filter false-positive rate", .dlo = 1e-12, .dhi = 0.5},
	{.name = "slow-quantile", .kind = WEFT_OPT_DOUBLE, .off = T(p.slow_quantile),
	 .meta = "Q", .help = "latency profile quantile compared with", .dlo = 0.5,
	 .dhi = 1},
	{.name = "slow-factor", .kind = WEFT_OPT_DOUBLE, .off = T(p.slow_factor),
	 .meta = "F", .help = "slow above F x that quantile", .dlo = 1, .dhi = 1000},
	{.name = "slow-min-samples", .kind = WEFT_OPT_U32,
	 .off = T(p.slow_min_samples), .meta = "N", .lo = 1, .hi = 1000000000,
	 .help = "fewer samples: model-wide label profile"},
	{.name = "slow-floor-ms", .kind = WEFT_OPT_DOUBLE, .off = T(slow_floor_ms),
	 .meta = "MS", .help = "never slow below this", .dlo = 0, .dhi = 1e9},
	{.name = "keep", .kind = WEFT_OPT_UINT, .off = T(keep), .meta = "K",
	 .help = "keep the model being replaced as MODEL.vN, the last K of them "
	 "(weft model rollback; 0: none)", .hi = 1000},
	{.name = "seed", .kind = WEFT_OPT_U64, .off = T(p.seed), .meta = "S",
	 .help = "clustering order and sampling seed", .hi = 1000000000000000000ull},
	{.name = "threads", .kind = WEFT_OPT_UINT, .off = T(p.threads), .meta = "N",
	 .help = "clustering threads (default: the CPUs this process has)", .lo = 1, .hi = 1024,
	 .flags = WEFT_OPT_NO_DEFAULT},
	{0},
};
#undef T

#define MAX_SAMPLES 256

static const struct weft_cmd train_cmd = {
	.name = "weft train",
	.usage = "[options] SAMPLE... -o MODEL",
	.about = "Learns what normal traces look like from sample files written by\n"
	         "`weft replay --sample FILE` and writes a model for `weft replay --model`.",
	.opts = train_table,
	.min_pos = 1,
	.max_pos = MAX_SAMPLES,
};

/* Reads argv: -1 to go on, else the exit status. */
static int
parse_args(int argc, char **argv, struct train_opts *o, char **inputs, int *n_in)
{
	char **pos = calloc((size_t)argc + 1, sizeof *pos);
	int npos = 0, rc = 1;
	if (pos)
		rc = weft_opt_run(&train_cmd, o, argc, argv, pos, &npos);
	for (int i = 0; i < npos && i < MAX_SAMPLES; i++)
		inputs[i] = pos[i];
	*n_in = npos;
	free(pos);
	if (rc >= 0)
		return rc;
	if (!o->out) {
		fprintf(stderr, "weft train: -o MODEL is required\n"
		        "(weft train --help lists the options)\n");
		return WEFT_OPT_EXIT_USAGE;
	}
	o->p.slow_floor_ns = (uint64_t)(o->slow_floor_ms * 1e6);
	return -1;
}

/* "weft train: a.smp, b.smp +2": the inputs' base names, cut with a
 * count of the rest so the text fits the model's field. */
static void
describe_inputs(char *out, size_t cap, char *const *inputs, int n_in)
{
	size_t at = (size_t)snprintf(out, cap, "weft train:");
	for (int i = 0; i < n_in; i++) {
		const char *b = strrchr(inputs[i], '/');
		b = b ? b + 1 : inputs[i];
		char more[32];
		int nm = snprintf(more, sizeof more, " +%d", n_in - i);
		if (at + strlen(b) + 2 + (size_t)nm + 1 > cap) {
			snprintf(out + at, cap - at, "%s", more);
			return;
		}
		at += (size_t)snprintf(out + at, cap - at, "%s %s", i ? "," : "", b);
	}
}

int
cmd_train_main(int argc, char **argv)
{
	struct train_opts o;
	memset(&o, 0, sizeof o);
	cluster_model_params_default(&o.p);
	o.slow_floor_ms = (double)o.p.slow_floor_ns / 1e6;
	o.keep = 5;
	char *inputs[MAX_SAMPLES];
	int n_in = 0;
	int rc = parse_args(argc, argv, &o, inputs, &n_in);
	if (rc >= 0)
		return rc;
	struct cluster_model_params p = o.p;
	const char *out = o.out;
	if (isatty(2))
		p.progress = progress;
	struct train_ctx c;
	memset(&c, 0, sizeof c);
	rc = cluster_trainer_new(&p, &c.tr);
	if (rc) {
		fprintf(stderr, "weft train: %s\n", weft_strerror(rc));
		return 1;
	}
	char err[512];
	int status = 1;
	struct cluster_model *m = NULL;
	struct timespec t0, t1, t2;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < n_in; i++)
		if ((rc = op_sample_read(inputs[i], add_trace, &c, err, sizeof err))) {
			fprintf(stderr, "weft train: %s\n", err);
			goto out;
		}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if ((rc = cluster_trainer_build(c.tr, &m, err, sizeof err))) {
		fprintf(stderr, "weft train: %s\n", err);
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &t2);
	char from[CLUSTER_MODEL_FROM_MAX];
	describe_inputs(from, sizeof from, inputs, n_in);
	cluster_model_set_origin(m, (uint64_t)time(NULL), from);
	uint32_t kept = 0;
	if ((rc = cluster_model_keep_version(out, o.keep, &kept, err, sizeof err)) ||
	    (rc = cluster_model_save(m, out, err, sizeof err))) {
		fprintf(stderr, "weft train: %s\n", err);
		goto out;
	}
	struct cluster_model_info mi;
	cluster_model_info(m, &mi);
	double read_s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	double build_s = (double)(t2.tv_sec - t1.tv_sec) + (double)(t2.tv_nsec - t1.tv_nsec) / 1e9;
	fprintf(stderr,
	        "weft train: %s\n"
	        "  traces            %" PRIu64 " (%" PRIu64 " skipped: fragments or not a DAG)\n"
	        "  distinct shapes   %" PRIu64 "\n"
	        "  templates         %u (threshold %.3f)\n"
	        "  pieces            %" PRIu64 "\n"
	        "  filter            %" PRIu64 " bytes, theoretical fpr %.3g\n"
	        "  time              %.3f s reading, %.3f s building\n",
	        out, c.used, c.skipped, mi.shapes, mi.n_templates, mi.params.threshold, mi.pieces,
	        mi.filter_bytes, mi.filter_fpr, read_s, build_s);
	if (kept)
		fprintf(stderr, "  previous model    kept as %s.v%" PRIu32 " (weft model rollback)\n",
		        out, kept);
	status = 0;
out:
	cluster_model_unref(m);
	cluster_trainer_free(c.tr);
	op_trace_view_free(&c.view);
	return status;
}
