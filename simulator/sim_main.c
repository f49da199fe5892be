/*
 * sim_main.c — `weft sim SUBCOMMAND ...`: argument parsing only.
 *
 * Each subcommand parses its flags into its module's config struct and
 * calls the module; nothing here exits the process, everything returns an
 * exit status (0 ok, 1 runtime failure, 2 usage). A bad flag is named in
 * the usage message.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "simulator/sim_internal.h"
#include "simulator/sim_ops.h"
#include "simulator/simulator.h"

static void
usage(FILE *f)
{
	fputs(
"usage: weft sim import-tracebench DIR [-o OUT.jsonl] [--truth TRUTH.tsv]\n"
"       weft sim replay IN.jsonl [-o OUT|-] [--rate EV_PER_S | --speedup X]\n"
"                [--jitter-ms J] [--reorder-window N] [--dup-rate P]\n"
"                [--late-rate P --late-delay N] [--seed S]\n"
"                [--to kafka --brokers HOST:PORT --topic T [-X K=V].. [--key trace|none]]\n"
"       weft sim generate -o OUT.jsonl [--from DIR_OR_JSONL ...] [--traces N]\n"
"                [--concurrent C] [--seed S] [--truth TRUTH.tsv]\n"
"                [--inject-rate P --kinds drop,exception,swap,delay,truncate]\n",
	    f);
}

static int
bad_usage(const char *what, const char *arg)
{
	fprintf(stderr, "weft sim: %s%s%s\n", what, arg ? ": " : "",
	    arg ? arg : "");
	usage(stderr);
	return 2;
}

/* Numeric flag values: the whole string must parse. */
int
sim_arg_double(const char *s, double *v)
{
	char *end;
	errno = 0;
	*v = strtod(s, &end);
	return (errno || end == s || *end) ? WEFT_EINVAL : 0;
}

int
sim_arg_u64(const char *s, uint64_t *v)
{
	char *end;
	errno = 0;
	if (*s == '-')
		return WEFT_EINVAL;
	*v = strtoull(s, &end, 10);
	return (errno || end == s || *end) ? WEFT_EINVAL : 0;
}

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

static int
cmd_import(int argc, char **argv)
{
	const char *dir = NULL, *out = "-", *truth = NULL;
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "-o") && i + 1 < argc)
			out = argv[++i];
		else if (!strcmp(argv[i], "--truth") && i + 1 < argc)
			truth = argv[++i];
		else if (argv[i][0] == '-' || dir)
			return bad_usage("bad argument to import-tracebench",
			    argv[i]);
		else
			dir = argv[i];
	}
	if (!dir)
		return bad_usage("import-tracebench needs DIR", NULL);
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
	if ((rc = sim_run_write_jsonl(&r, out)) ||
	    (truth && (rc = sim_run_write_truth(&r, truth)))) {
		fprintf(stderr, "weft sim: writing output: %s: %s\n",
		    weft_strerror(rc), strerror(errno));
		sim_run_free(&r);
		return 1;
	}
	sim_run_free(&r);
	return 0;
}

int
sim_main(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "import-tracebench"))
		return cmd_import(argc, argv);
	if (!strcmp(cmd, "replay"))
		return sim_cmd_replay(argc, argv);
	if (!strcmp(cmd, "generate"))
		return sim_cmd_generate(argc, argv);
	return bad_usage("unknown subcommand", cmd);
}
