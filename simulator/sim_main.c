/*
 * sim_main.c — `weft sim SUBCOMMAND ...`: argument parsing only.
 *
 * The verbs are a struct weft_verb table run by weft_verb_run(); each verb
 * describes its options in its own table (common/opt.h), parses them into
 * its module's config struct and calls the module; nothing here exits the
 * process, everything returns an exit status (0 ok, 1 runtime failure, 2
 * usage). A bad option is named in the usage message.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "common/opt.h"
#include "simulator/sim_internal.h"
#include "simulator/sim_ops.h"
#include "simulator/sim_spans.h"
#include "simulator/simulator.h"

static void
print_stats(const char *dir, const struct sim_import_stats *s)
{
	fprintf(stderr,
	    "%s: %zu traces (%zu failure), %zu events, %zu edge rows "
	    "(%zu distinct)\n"
	    "  NumReports mismatches %zu, NumEdges mismatches %zu, traces with "
	    "repeated edge rows %zu, events of unknown tasks %zu\n"
	    "  events sharing (TID,StartTime) %zu, ambiguous fathers %zu, "
	    "missing fathers %zu, missing children %zu, multi-father TIDs %zu, "
	    "orphan TIDs %zu, traces without one root %zu, disconnected "
	    "traces %zu\n",
	    dir, s->traces, s->failures, s->events, s->edge_rows, s->edges,
	    s->numreports_mismatch, s->numedges_mismatch, s->dup_edge_traces,
	    s->unknown_task_events, s->shared_start, s->ambiguous_fathers,
	    s->missing_father, s->missing_child, s->multi_father,
	    s->orphan_tids, s->no_root, s->disconnected);
}

/* `weft sim import-tracebench` options; defaults from import_opts_init(). */
struct import_opts {
	const char *out, *truth;
	int format; /* index into import_formats[] */
};
static const char *const import_formats[] = {"xtrace", "otlp-json",
                                             "otlp-proto", "zipkin", NULL};
static const enum op_format import_fmt[] = {OP_FORMAT_JSON_V4,
    OP_FORMAT_OTLP_JSON, OP_FORMAT_OTLP_PROTO, OP_FORMAT_ZIPKIN};

#define IO(f) offsetof(struct import_opts, f)
static const struct weft_opt import_opts_tab[] = {
	{.name = "out", .alias = 'o', .kind = WEFT_OPT_STR, .off = IO(out),
	 .meta = "OUT.jsonl",
	 .help = "the JSON lines (-o OUT.jsonl too), - for stdout"},
	{.name = "truth", .kind = WEFT_OPT_STR, .off = IO(truth),
	 .meta = "TRUTH.tsv", .help = "also write the ground truth, one line "
	 "per trace: task, label, kind, title"},
	{.name = "format", .kind = WEFT_OPT_CHOICE, .off = IO(format), .meta = "F",
	 .help = "xtrace: X-Trace v4 JSON lines; otlp-json: OTLP JSON, one "
	 "request of 256 spans per line; otlp-proto: size-prefixed OTLP protobuf "
	 "requests; zipkin: Zipkin v2 lists, one per line (docs/FORMATS.md)",
	 .choices = import_formats},
	{0},
};
static const struct weft_cmd import_cmd = {
	.name = "weft sim import-tracebench",
	.usage = "DIR [--out OUT.jsonl] [--truth TRUTH.tsv] [--format F]",
	.about = "Converts one TraceBench run folder (trace.csv, event.csv, "
	    "edge.csv) into\nX-Trace v4 JSON lines and ground truth "
	    "(docs/TRACEBENCH.md); prints the\nimport statistics to stderr.",
	.opts = import_opts_tab, .min_pos = 1, .max_pos = 1,
};

static void
import_opts_init(struct import_opts *o)
{
	o->out = "-";
	o->truth = NULL;
	o->format = 0;
}

static int
cmd_import(int argc, char **argv)
{
	struct import_opts o;
	char *pos[1];
	int npos = 0;
	import_opts_init(&o);
	int urc = weft_opt_run(&import_cmd, &o, argc, argv, pos, &npos);
	if (urc >= 0)
		return urc;
	const char *dir = pos[0], *out = o.out, *truth = o.truth;
	struct sim_run r;
	struct sim_import_stats st;
	char err[256];
	sim_run_init(&r);
	int rc = sim_tracebench_import(dir, &r, &st, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "weft sim: import %s: %s%s%s\n", dir,
		    weft_strerror(rc), err[0] ? ": " : "", err);
		sim_run_free(&r);
		return 1;
	}
	print_stats(dir, &st);
	if ((rc = sim_run_write_spans(&r, out, import_fmt[o.format], 256)) ||
	    (truth && (rc = sim_run_write_truth(&r, truth)))) {
		fprintf(stderr, "weft sim: writing output: %s: %s\n",
		    weft_strerror(rc), strerror(errno));
		sim_run_free(&r);
		return 1;
	}
	sim_run_free(&r);
	return 0;
}

static const struct weft_verb sim_verbs[] = {
	{"import-tracebench", "TraceBench run -> X-Trace v4 JSON lines + "
	    "ground truth", cmd_import},
	{"replay", "stream events at a rate, reordered, duplicated, late "
	    "(--to kafka: into a topic)", sim_cmd_replay},
	{"generate", "synthetic HDFS-like workload learned from recorded "
	    "traces", sim_cmd_generate},
	{NULL, NULL, NULL},
};

int
sim_main(int argc, char **argv)
{
	return weft_verb_run("weft sim", "Imports recorded traces, replays "
	    "them with perturbations, generates\nworkloads.", sim_verbs, argc,
	    argv);
}
