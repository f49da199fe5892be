/*
 * rekey.c — `weft rekey`: its options, signals and counters around
 * op_rekey_run() (operators/serve/op_rekey.c), which consumes a topic and
 * re-produces each report keyed by its trace id.
 */
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "operators/ingest/ingest.h"
#include "operators/serve/rekey.h"
#include "common/opt.h"
#include "cmd/cmd.h"

#define MAX_PROPS 64

struct rekey_opts {
	struct op_rekey_config cfg;
	int format; /* index into formats[] */
	const char *props[MAX_PROPS], *cprops[MAX_PROPS], *pprops[MAX_PROPS];
};

/* in the order of enum op_format */
static const char *const formats[] = {"json", "text", NULL};

static int
add_prop(const char **list, size_t *n, const char *v, char *err, size_t errlen)
{
	if (*n == MAX_PROPS) {
		weft_errf(err, errlen, "at most %d", MAX_PROPS);
		return WEFT_EINVAL;
	}
	list[(*n)++] = v;
	return 0;
}

static int
prop_both(void *target, const char *v, char *err, size_t errlen)
{
	struct rekey_opts *o = target;
	return add_prop(o->props, &o->cfg.n_props, v, err, errlen);
}

static int
prop_consumer(void *target, const char *v, char *err, size_t errlen)
{
	struct rekey_opts *o = target;
	return add_prop(o->cprops, &o->cfg.n_consumer_props, v, err, errlen);
}

static int
prop_producer(void *target, const char *v, char *err, size_t errlen)
{
	struct rekey_opts *o = target;
	return add_prop(o->pprops, &o->cfg.n_producer_props, v, err, errlen);
}

#define K(f) offsetof(struct rekey_opts, f)
static const struct weft_opt rekey_table[] = {
	{.name = "brokers", .kind = WEFT_OPT_STR, .off = K(cfg.brokers),
	 .meta = "HOST:PORT,..", .help = "bootstrap servers (required)"},
	{.name = "topic", .kind = WEFT_OPT_STR, .off = K(cfg.topic), .meta = "IN",
	 .help = "input topic (required)"},
	{.name = "to-topic", .kind = WEFT_OPT_STR, .off = K(cfg.to_topic),
	 .meta = "OUT", .help = "output topic, keyed by trace id (required)"},
	{.name = "group", .kind = WEFT_OPT_STR, .off = K(cfg.group), .meta = "NAME",
	 .help = "consumer group"},
	{.name = "format", .kind = WEFT_OPT_CHOICE, .off = K(format), .meta = "F",
	 .help = "one X-Trace v4 JSON line or one text report per message",
	 .choices = formats},
	{.name = "dead-letter-topic", .kind = WEFT_OPT_STR,
	 .off = K(cfg.dead_letter_topic), .meta = "NAME",
	 .help = "reports that do not decode go there unchanged, with a "
	 "'weft-error' header naming the reason (default: counted only)"},
	{.name = "X", .alias = 'X', .kind = WEFT_OPT_FN, .meta = "KEY=VALUE",
	 .fn = prop_both, .help = "librdkafka property for both clients "
	 "(repeatable)"},
	{.name = "consumer-X", .kind = WEFT_OPT_FN, .meta = "KEY=VALUE",
	 .fn = prop_consumer, .help = "... for the consumer only"},
	{.name = "producer-X", .kind = WEFT_OPT_FN, .meta = "KEY=VALUE",
	 .fn = prop_producer, .help = "... for the producer only"},
	{.name = "commit-ms", .kind = WEFT_OPT_U32, .off = K(cfg.commit_ms),
	 .meta = "MS", .help = "flush + commit period", .lo = 1, .hi = 3600000},
	{.name = "exit-at-eof", .kind = WEFT_OPT_FLAG, .off = K(cfg.exit_at_eof),
	 .help = "exit once every assigned partition is at its end"},
	{0},
};
#undef K

static const struct weft_cmd rekey_cmd = {
	.name = "weft rekey",
	.usage = "--brokers HOST:PORT[,..] --topic IN --to-topic OUT [options]",
	.about = "Consumes IN (a consumer group) and produces every message's value\n"
	         "unchanged into OUT, keyed by the trace id of the X-Trace report it holds\n"
	         "(16 lowercase hex digits), so each trace lands in one partition.\n"
	         "Offsets are committed only after the output of everything below them\n"
	         "was delivered. SIGINT/SIGTERM: stop, flush, commit, exit 0. Counters on\n"
	         "stderr.",
	.opts = rekey_table,
};

static volatile sig_atomic_t g_stop;

static void
on_signal(int sig)
{
	(void)sig;
	g_stop = 1;
}

/* Reads argv into o: -1 to go on, else the exit status. */
static int
parse_args(int argc, char **argv, struct rekey_opts *o)
{
	char **pos = calloc((size_t)argc + 1, sizeof *pos);
	int npos = 0, rc = 1;
	if (pos)
		rc = weft_opt_run(&rekey_cmd, o, argc, argv, pos, &npos);
	free(pos);
	if (rc >= 0)
		return rc;
	if (!o->cfg.brokers || !o->cfg.topic || !o->cfg.to_topic) {
		fprintf(stderr, "weft rekey: --brokers, --topic and --to-topic are needed\n"
		        "(weft rekey --help lists the options)\n");
		return WEFT_OPT_EXIT_USAGE;
	}
	o->cfg.format = (enum op_format)o->format;
	return -1;
}

int
cmd_rekey_main(int argc, char **argv)
{
	struct rekey_opts o;
	memset(&o, 0, sizeof o);
	op_rekey_config_default(&o.cfg);
	o.format = (int)o.cfg.format;
	o.cfg.props = o.props;
	o.cfg.consumer_props = o.cprops;
	o.cfg.producer_props = o.pprops;
	int rc = parse_args(argc, argv, &o);
	if (rc >= 0)
		return rc;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	g_stop = 0;
	o.cfg.stop = &g_stop;

	struct op_rekey_stats st;
	char err[1024];
	rc = op_rekey_run(&o.cfg, &st, err, sizeof err);
	if (rc != WEFT_EINVAL)
		op_rekey_print_stats(stderr, &st);
	if (rc) {
		fprintf(stderr, "weft rekey: %s\n", err[0] ? err : weft_strerror(rc));
		return rc == WEFT_EINVAL ? WEFT_OPT_EXIT_USAGE : 1;
	}
	return 0;
}
