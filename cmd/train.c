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
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cluster/cluster.h"
#include "operators/check/check.h"
#include "cmd/cmd.h"

static void
usage(FILE *f)
{
	fprintf(f,
	        "usage: weft train [options] SAMPLE... -o MODEL\n"
	        "  Learns what normal traces look like from sample files written by\n"
	        "  `weft replay --sample FILE` and writes a model for `weft replay --model`.\n"
	        "options:\n"
	        "  -o, --out MODEL          model file to write (required)\n"
	        "  --threshold D            normalised edit distance to join a template (0.15)\n"
	        "  --fpr P                  Bloom filter false-positive rate (0.0001)\n"
	        "  --slow-quantile Q        latency profile quantile compared with (0.99)\n"
	        "  --slow-factor F          slow above F x that quantile (2)\n"
	        "  --slow-min-samples N     fewer samples: model-wide label profile (20)\n"
	        "  --slow-floor-ms MS       never slow below this (10)\n"
	        "  --seed S                 clustering order and sampling seed (1)\n"
	        "  --threads N              clustering threads (default: cores)\n");
}

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

static int
parse_double(const char *flag, const char *v, double lo, double hi, double *out)
{
	char *end;
	errno = 0;
	double x = strtod(v, &end);
	if (errno || *end || end == v || !(x >= lo && x <= hi)) {
		fprintf(stderr, "weft train: %s: expected a number in [%g, %g], got '%s'\n", flag,
		        lo, hi, v);
		return -1;
	}
	*out = x;
	return 0;
}

int
cmd_train_main(int argc, char **argv)
{
	struct cluster_model_params p;
	cluster_model_params_default(&p);
	const char *out = NULL;
	const char *inputs[256];
	int n_in = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		double d;
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		}
		if (a[0] != '-') {
			if (n_in == 256) {
				fprintf(stderr, "weft train: at most 256 sample files\n");
				return 2;
			}
			inputs[n_in++] = a;
			continue;
		}
		if (!v) {
			fprintf(stderr, "weft train: %s needs a value\n", a);
			return 2;
		}
		i++;
		if (!strcmp(a, "-o") || !strcmp(a, "--out")) {
			out = v;
		} else if (!strcmp(a, "--threshold")) {
			if (parse_double(a, v, 0, 1, &p.threshold))
				return 2;
		} else if (!strcmp(a, "--fpr")) {
			if (parse_double(a, v, 1e-12, 0.5, &p.bloom_fpr))
				return 2;
		} else if (!strcmp(a, "--slow-quantile")) {
			if (parse_double(a, v, 0.5, 1, &p.slow_quantile))
				return 2;
		} else if (!strcmp(a, "--slow-factor")) {
			if (parse_double(a, v, 1, 1000, &p.slow_factor))
				return 2;
		} else if (!strcmp(a, "--slow-min-samples")) {
			if (parse_double(a, v, 1, 1e9, &d))
				return 2;
			p.slow_min_samples = (uint32_t)d;
		} else if (!strcmp(a, "--slow-floor-ms")) {
			if (parse_double(a, v, 0, 1e9, &d))
				return 2;
			p.slow_floor_ns = (uint64_t)(d * 1e6);
		} else if (!strcmp(a, "--seed")) {
			if (parse_double(a, v, 0, 1e18, &d))
				return 2;
			p.seed = (uint64_t)d;
		} else if (!strcmp(a, "--threads")) {
			if (parse_double(a, v, 1, 1024, &d))
				return 2;
			p.threads = (unsigned)d;
		} else {
			fprintf(stderr, "weft train: unknown option '%s'\n", a);
			usage(stderr);
			return 2;
		}
	}
	if (!out || !n_in) {
		fprintf(stderr, "weft train: %s\n", !out ? "-o MODEL is required" : "no sample file");
		usage(stderr);
		return 2;
	}
	if (isatty(2))
		p.progress = progress;
	struct train_ctx c;
	memset(&c, 0, sizeof c);
	int rc = cluster_trainer_new(&p, &c.tr);
	if (rc) {
		fprintf(stderr, "weft train: %s\n", weft_strerror(rc));
		return 2;
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
	if ((rc = cluster_model_save(m, out, err, sizeof err))) {
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
	status = 0;
out:
	cluster_model_unref(m);
	cluster_trainer_free(c.tr);
	op_trace_view_free(&c.view);
	return status;
}
