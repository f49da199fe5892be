/*
 * serve_opts.c — `weft serve`'s options: the table, the configuration
 * files and the pass-through properties, read into struct serve_opts
 * (serve_int.h) before serve.c checks and runs anything.
 *
 * Options: one table gives the command line (--key value, --key=value)
 * and the configuration file's keys (`key = value` lines, # comments):
 * the file is read first, wherever --config stands, then the flags in
 * order, so flags win. `weft serve --config-keys` lists the keys (what
 * docs/SERVE.md's table is checked against). The librdkafka pass-through
 * keys kafka.PROP, consumer.PROP and producer.PROP are prefixes, which the
 * parser does not know: the configuration loader and a rewrite of argv
 * turn them into the table's kafka.PROP / consumer.PROP / producer.PROP
 * entries with the value "PROP=VALUE"; -X PROP=VALUE is the X entry.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/opt.h"
#include "cmd/serve_int.h"

/* in the order of enum op_format */
static const char *const formats[] = {"json", "text", "otlp-proto", "otlp-json",
                                      "zipkin", "auto", NULL};
static const char *const bools[] = {"false", "true", NULL};

static int
add_config(void *target, const char *v, char *err, size_t errlen)
{
	struct serve_opts *o = target;
	if (o->n_configs == MAX_CONFIGS) {
		weft_errf(err, errlen, "at most %d files", MAX_CONFIGS);
		return WEFT_EINVAL;
	}
	o->configs[o->n_configs++] = v;
	return 0;
}

/* "PROP=VALUE" to the consumer's and/or the producer's list. */
static int
add_prop(struct serve_opts *o, int cons, int prod, const char *v, char *err,
         size_t errlen)
{
	const char *eq = strchr(v, '=');
	if (!eq || eq == v) {
		weft_errf(err, errlen, "expected PROP=VALUE, got '%s'", v);
		return WEFT_EINVAL;
	}
	if ((cons && o->n_cons == MAX_PROPS) || (prod && o->n_prod == MAX_PROPS)) {
		weft_errf(err, errlen, "too many properties (at most %d)", MAX_PROPS);
		return WEFT_EINVAL;
	}
	if (cons)
		o->cons_props[o->n_cons++] = v;
	if (prod)
		o->prod_props[o->n_prod++] = v;
	return 0;
}

static int
prop_both(void *target, const char *v, char *err, size_t errlen)
{
	return add_prop(target, 1, 1, v, err, errlen);
}

static int
prop_consumer(void *target, const char *v, char *err, size_t errlen)
{
	return add_prop(target, 1, 0, v, err, errlen);
}

static int
prop_producer(void *target, const char *v, char *err, size_t errlen)
{
	return add_prop(target, 0, 1, v, err, errlen);
}

#define S(f) offsetof(struct serve_opts, f)
#define KEY(n) .name = n, .key = n
static const struct weft_opt serve_table[] = {
	{.name = "config", .kind = WEFT_OPT_FN, .meta = "FILE", .fn = add_config,
	 .help = "read `key = value` lines from FILE first (flags win)",
	 .flags = WEFT_OPT_CLI_ONLY},
	{.name = "config-keys", .kind = WEFT_OPT_FLAG, .off = S(config_keys),
	 .help = "list the configuration keys (key, value, help) and exit",
	 .flags = WEFT_OPT_CLI_ONLY},
	{KEY("brokers"), .kind = WEFT_OPT_STR, .off = S(brokers),
	 .meta = "HOST:PORT,..", .help = "bootstrap servers (required)"},
	{KEY("topics"), .kind = WEFT_OPT_STR, .off = S(topics), .meta = "T1,T2",
	 .help = "input topics, comma-separated (required); T:FORMAT forces "
	 "that topic's format (see format)"},
	{KEY("topic"), .kind = WEFT_OPT_STR, .off = S(topics), .meta = "T1,T2",
	 .help = "same as topics"},
	{KEY("group.id"), .kind = WEFT_OPT_STR, .off = S(group), .meta = "NAME",
	 .help = "consumer group"},
	{KEY("group"), .kind = WEFT_OPT_STR, .off = S(group), .meta = "NAME",
	 .help = "same as group.id"},
	{KEY("workers"), .kind = WEFT_OPT_UINT, .off = S(workers), .meta = "N",
	 .help = "worker shards, each one a member of the group (default: the CPUs "
	 "this process has: its affinity mask, capped by its cgroup's CPU quota)",
	 .lo = 1, .hi = 1024, .flags = WEFT_OPT_NO_DEFAULT},
	{KEY("format"), .kind = WEFT_OPT_CHOICE, .off = S(format),
	 .meta = "F",
	 .help = "auto: each message recognised; json: X-Trace v4 JSON, one report "
	 "per line (a message may hold several lines); text: one text report per "
	 "message; otlp-proto, otlp-json: one OTLP export request per message; "
	 "zipkin: one Zipkin v2 span list per message. A topic's own: "
	 "topics=name:format", .choices = formats},
	{KEY("format.hint.after"), .kind = WEFT_OPT_U32, .off = S(hint_after),
	 .meta = "N", .help = "a topic whose first N records are all rejected gets "
	 "its format hint logged once (e.g. use --format zipkin), and "
	 "weft_topic_format_hint 1 (0: never)"},
	{KEY("epoch.ms"), .kind = WEFT_OPT_U32, .off = S(epoch_ms), .meta = "MS",
	 .help = "tick of the ingest clock, taken from message timestamps",
	 .lo = 1, .hi = 3600000},
	{KEY("idle.epochs"), .kind = WEFT_OPT_U32, .off = S(idle_epochs),
	 .meta = "G", .help = "a trace is finished once it has been idle G epochs",
	 .lo = 1, .hi = 1000000},
	{KEY("idle.partition.ms"), .kind = WEFT_OPT_U32, .off = S(idle_partition_ms),
	 .meta = "MS", .help = "a partition that has been at its end this long "
	 "stops holding the frontier back", .hi = 3600000},
	{KEY("commit.interval.ms"), .kind = WEFT_OPT_U32, .off = S(commit_ms),
	 .meta = "MS", .help = "how often offsets are committed", .lo = 10,
	 .hi = 3600000},
	{KEY("late.epochs"), .kind = WEFT_OPT_U32, .off = S(late_epochs), .meta = "N",
	 .help = "remember emitted traces this long for late events"},
	{KEY("max.trace.events"), .kind = WEFT_OPT_U32, .off = S(max_trace_events),
	 .meta = "N", .help = "events kept per trace; more are counted, the trace "
	 "truncated", .lo = 1},
	{KEY("max.open.traces"), .kind = WEFT_OPT_U64, .off = S(max_open_traces),
	 .meta = "N", .help = "open traces per worker; the oldest is emitted "
	 "incomplete", .lo = 1, .hi = UINT32_MAX},
	{KEY("ready.slabs"), .kind = WEFT_OPT_U32, .off = S(ready_slabs),
	 .meta = "N", .help = "2 MiB slabs for open traces a helper thread keeps "
	 "faulted in ahead of need (0: each worker faults its own; "
	 "weft_slabs_mapped_inline_total)", .hi = 1024},
	{KEY("finish.helper"), .kind = WEFT_OPT_CHOICE, .off = S(finish_helper),
	 .meta = "M", .choices = weft_helper_names, .help = "a thread per worker that "
	 "builds finished traces beside it when many finish at once (auto: "
	 "with two cores per worker; off by default here, where the Kafka "
	 "client's threads use the spare core; weft_finish_helped_total)"},
	{KEY("max.places"), .kind = WEFT_OPT_U64, .off = S(max_places),
	 .meta = "N", .help = "distinct (label, host, agent) triples per worker "
	 "kept as 4-byte places; past it an event takes 24 bytes more "
	 "(weft_place_overflow_total)", .lo = 1, .hi = 0x7ffffff},
	{KEY("max.texts"), .kind = WEFT_OPT_U64, .off = S(max_texts),
	 .meta = "N", .help = "distinct texts (labels, hosts, agents) interned per "
	 "worker; past it a new one is kept as an empty text "
	 "(weft_text_truncated_total)", .lo = 1, .hi = UINT32_MAX},
	{KEY("max.text.bytes"), .kind = WEFT_OPT_U32, .off = S(max_text_bytes),
	 .meta = "BYTES", .help = "bytes kept of a label, host or agent; a longer "
	 "one is cut (weft_text_truncated_total)", .lo = 1, .hi = 65535},
	{KEY("max.open.bytes"), .kind = WEFT_OPT_BYTES, .off = S(max_open_bytes),
	 .meta = "SIZE", .help = "memory open traces may hold in the process (k/m/g); "
	 "past it the least recently active are emitted incomplete (0: no limit)"},
	{KEY("max.trace.age.ms"), .kind = WEFT_OPT_U64, .off = S(max_trace_age_ms),
	 .meta = "MS", .help = "a trace open this long is emitted incomplete "
	 "(flag aged), so one that never ends cannot hold commits back (0: no limit)",
	 .hi = 7ull * 24 * 3600 * 1000},
	{KEY("max.partitions"), .kind = WEFT_OPT_U32, .off = S(max_partitions),
	 .meta = "N", .help = "partitions one process may be assigned over its life; "
	 "past it a partition's commits wait for every trace (counted)", .lo = 1,
	 .hi = OP_SRC_SLOTS},
	{KEY("probe.ms"), .kind = WEFT_OPT_U32, .off = S(probe_ms), .meta = "MS",
	 .help = "how often each partition's end offset is asked for (evidence that "
	 "a quiet partition is at its end)", .lo = 50, .hi = 60000},
	{KEY("settle.ms"), .kind = WEFT_OPT_U32, .off = S(settle_ms), .meta = "MS",
	 .help = "after a broker outage, idle time starts counting again this much "
	 "later (producers reconnect with back-off)", .hi = 3600000},
	{KEY("reread.lookback.ms"), .kind = WEFT_OPT_U32, .off = S(lookback_ms),
	 .meta = "MS", .help = "a new owner of a partition reads again from this "
	 "far below the committed offset, so traces reaching past it come out "
	 "whole (those that do not are not emitted again)", .hi = 86400000},
	{KEY("shutdown.timeout.ms"), .kind = WEFT_OPT_U32, .off = S(shutdown_ms),
	 .meta = "MS", .help = "at a stop, how long to wait for outputs to be "
	 "delivered before exiting without the last commit", .lo = 100,
	 .hi = 3600000},
	{KEY("max.line"), .kind = WEFT_OPT_U32, .off = S(max_line), .meta = "BYTES",
	 .help = "longest JSON line / text report", .lo = 64,
	 .hi = OP_EVENT_MAX_BYTES * 16u},
	{KEY("max.message"), .kind = WEFT_OPT_U32, .off = S(max_message),
	 .meta = "BYTES", .help = "largest OTLP / Zipkin message", .lo = 64,
	 .hi = 1u << 30},
	{KEY("end.label"), .kind = WEFT_OPT_STR, .off = S(end_label), .meta = "LABEL",
	 .help = "finish a trace early at this label once complete"},
	{KEY("model"), .kind = WEFT_OPT_STR, .off = S(model), .meta = "PATH",
	 .help = "model file from weft train; SIGHUP, or a change to the file, "
	 "swaps it in at an epoch boundary"},
	{KEY("model.watch"), .kind = WEFT_OPT_CHOICE, .off = S(model_watch),
	 .meta = "false|true", .help = "a change to the model file swaps it in "
	 "(false: only SIGHUP and the learning loop do)", .choices = bools},
	{KEY("peers"), .kind = WEFT_OPT_CHOICE, .off = S(peer.enabled),
	 .meta = "false|true", .help = "judge latency against the other hosts doing "
	 "the same operation now, and produce host anomalies (false: against the "
	 "model's thresholds)", .choices = bools},
	{KEY("peer.ratio"), .kind = WEFT_OPT_DOUBLE, .off = S(peer.ratio), .meta = "X",
	 .help = "a host is slow at X times its peers' median", .dlo = 1.1, .dhi = 1000},
	{KEY("peer.window"), .kind = WEFT_OPT_U32, .off = S(peer.window), .meta = "N",
	 .help = "recent durations kept per operation and host", .lo = 4, .hi = 4096},
	{KEY("peer.min.samples"), .kind = WEFT_OPT_U32, .off = S(peer.min_samples),
	 .meta = "N", .help = "durations a host needs before it is judged", .lo = 1,
	 .hi = 4096},
	{KEY("peer.min.peers"), .kind = WEFT_OPT_U32, .off = S(peer.min_peers),
	 .meta = "N", .help = "other hosts an operation needs to be judged against "
	 "peers", .lo = 1, .hi = 100000},
	{KEY("peer.trace.ratio"), .kind = WEFT_OPT_DOUBLE, .off = S(peer.trace_ratio),
	 .meta = "X", .help = "a trace is slow on its own when most of its events "
	 "of one operation on one host (2 or more) took X times the peers' median "
	 "(0: off)", .dlo = 0, .dhi = 1000},
	{KEY("peer.idle.epochs"), .kind = WEFT_OPT_U64, .off = S(peer.idle_epochs),
	 .meta = "N", .help = "a host without durations this many epochs is no peer "
	 "(its anomalies close)", .lo = 1},
	{KEY("learn"), .kind = WEFT_OPT_CHOICE, .off = S(learn.enabled),
	 .meta = "false|true", .help = "keep learning: retrain the model from traces "
	 "judged normal and recurring new structures without exceptions, as a new "
	 "version of the file (docs/LEARNING.md)", .choices = bools},
	{KEY("learn.every.epochs"), .kind = WEFT_OPT_U64, .off = S(learn.every_epochs),
	 .meta = "N", .help = "retrain every N epochs (0: not by epochs)"},
	{KEY("learn.every.ms"), .kind = WEFT_OPT_U64, .off = S(learn.every_ms),
	 .meta = "MS", .help = "retrain every MS ms (0: not by time)"},
	{KEY("learn.reservoir"), .kind = WEFT_OPT_U32, .off = S(learn.reservoir),
	 .meta = "N", .help = "normal traces sampled per period", .lo = 1},
	{KEY("learn.min.sample"), .kind = WEFT_OPT_U32, .off = S(learn.min_sample),
	 .meta = "N", .help = "no retrain from fewer traces"},
	{KEY("learn.candidates"), .kind = WEFT_OPT_U32, .off = S(learn.candidates),
	 .meta = "N", .help = "new structures tracked for promotion"},
	{KEY("learn.examples"), .kind = WEFT_OPT_U32, .off = S(learn.examples),
	 .meta = "N", .help = "example traces kept per new structure", .lo = 1},
	{KEY("learn.promote.periods"), .kind = WEFT_OPT_U32,
	 .off = S(learn.promote_periods), .meta = "N", .lo = 1,
	 .help = "a new structure is learned after N consecutive periods ..."},
	{KEY("learn.promote.min"), .kind = WEFT_OPT_U32, .off = S(learn.promote_min),
	 .meta = "N", .help = "... with at least N traces in each"},
	{KEY("learn.keep"), .kind = WEFT_OPT_U32, .off = S(learn.keep), .meta = "K",
	 .help = "model versions kept (MODEL.vN)"},
	{KEY("learn.buffer"), .kind = WEFT_OPT_U32, .off = S(learn.buffer), .meta = "N",
	 .help = "traces waiting for the learner (more are dropped, counted)", .lo = 1},
	{KEY("learn.idle.ms"), .kind = WEFT_OPT_U64, .off = S(learn.idle_ms), .meta = "MS",
	 .help = "no trace for MS ms ends the open period once its epochs closed "
	 "(0: only a later trace does)"},
	{KEY("anomalies.topic"), .kind = WEFT_OPT_STR, .off = S(anomalies_topic),
	 .meta = "T", .help = "anomaly JSON lines, keyed by trace id ('': off)"},
	{KEY("traces.topic"), .kind = WEFT_OPT_STR, .off = S(traces_topic),
	 .meta = "T", .help = "every finished trace as JSON, keyed by trace id"},
	{KEY("traces.full"), .kind = WEFT_OPT_CHOICE, .off = S(traces_full),
	 .meta = "false|true", .help = "include nodes and edges in each trace",
	 .choices = bools},
	{KEY("deadletter.topic"), .kind = WEFT_OPT_STR, .off = S(dead_topic),
	 .meta = "T", .help = "rejected reports (reason, offset, excerpt) ('': "
	 "only counted)"},
	{KEY("metrics"), .kind = WEFT_OPT_STR, .off = S(metrics),
	 .meta = "ADDR:PORT|off", .help = "Prometheus endpoint (/metrics, "
	 "/healthz); port 0 picks a free one"},
	{KEY("otlp.http"), .kind = WEFT_OPT_STR, .off = S(otlp_http),
	 .meta = "ADDR:PORT|off", .help = "OTLP/HTTP receiver (POST /v1/traces; "
	 "not durable: see README), relaying into otlp.http.topic"},
	{KEY("otlp.http.topic"), .kind = WEFT_OPT_STR, .off = S(otlp_topic),
	 .meta = "T", .help = "input topic the receiver produces to (default: "
	 "the first of topics)"},
	{KEY("otlp.http.max.body"), .kind = WEFT_OPT_U32, .off = S(otlp_max_body),
	 .meta = "BYTES", .help = "largest request body, after gzip (413 above)",
	 .lo = 64, .hi = 1u << 30},
	{KEY("otlp.http.max.queue"), .kind = WEFT_OPT_U64, .off = S(otlp_max_queue),
	 .meta = "BYTES", .help = "request bytes not yet written to Kafka; past "
	 "it, 429 with Retry-After", .lo = 1024, .hi = 1ull << 40},
	{KEY("console.addr"), .kind = WEFT_OPT_STR, .off = S(console.addr),
	 .meta = "[HOST:]PORT", .help = "serve the live web console here (host "
	 "127.0.0.1 unless given; needs model; docs/CONSOLE.md)"},
	{KEY("console.token"), .kind = WEFT_OPT_STR, .off = S(console.token),
	 .meta = "TOKEN", .help = "the console asks for this bearer token (or ?token=)"},
	{KEY("console.max.anomalies"), .kind = WEFT_OPT_U32,
	 .off = S(console.max_anomalies), .meta = "N", .lo = 1, .hi = 10000000,
	 .help = "anomalous traces the console keeps (oldest evicted, counted)"},
	{KEY("console.max.normal"), .kind = WEFT_OPT_U32, .off = S(console.max_normal),
	 .meta = "N", .hi = 10000000, .help = "sampled normal traces the console keeps"},
	{KEY("console.max.conns"), .kind = WEFT_OPT_U32, .off = S(console.max_conns),
	 .meta = "N", .lo = 2, .hi = 1024,
	 .help = "open console connections; more are refused and counted"},
	{KEY("kafka.PROP"), .kind = WEFT_OPT_FN, .meta = "VALUE", .fn = prop_both,
	 .help = "any librdkafka property, for the consumer and the producer "
	 "(SASL, TLS, ...)"},
	{KEY("consumer.PROP"), .kind = WEFT_OPT_FN, .meta = "VALUE",
	 .fn = prop_consumer, .help = "a librdkafka property for the consumer only"},
	{KEY("producer.PROP"), .kind = WEFT_OPT_FN, .meta = "VALUE",
	 .fn = prop_producer, .help = "a librdkafka property for the producer only"},
	{.name = "X", .alias = 'X', .kind = WEFT_OPT_FN, .meta = "PROP=VALUE",
	 .fn = prop_both, .help = "same as --kafka.PROP VALUE",
	 .flags = WEFT_OPT_CLI_ONLY},
	{0},
};
#undef KEY
#undef S

static const struct weft_cmd serve_cmd = {
	.name = "weft serve",
	.usage = "[--config FILE] [--KEY VALUE ...] [-X PROP=VALUE ...]",
	.about = "Consumes X-Trace reports from Kafka, assembles each trace, checks it\n"
	         "against the model and produces anomalies (and finished traces) to Kafka.\n"
	         "Every KEY works in the config file (`key = value`) and as --KEY; flags\n"
	         "win. docs/SERVE.md describes them.",
	.opts = serve_table,
};

/* The defaults, which --help shows. */
void
cmd_serve_opts_init(struct serve_opts *o)
{
	memset(o, 0, sizeof *o);
	o->model_watch = 1;
	op_peer_config_default(&o->peer);
	op_learn_config_default(&o->learn);
	struct op_assemble_config as;
	op_assemble_config_init(&as);
	struct op_decode_config dec;
	op_decode_config_default(&dec);
	/* the Kafka source's own defaults (one place sets each) */
	struct op_kafka_config k;
	if (op_kafka_config_init(&k) == 0) {
		o->epoch_ms = k.epoch_ms;
		o->idle_partition_ms = k.idle_partition_ms;
		o->max_partitions = k.max_slots;
		o->probe_ms = k.probe_ms;
		o->settle_ms = k.settle_ms;
		o->lookback_ms = k.lookback_ms;
		o->hint_after = k.hint_after;
		op_kafka_config_destroy(&k);
	}
	o->group = "weft";
	o->format = OP_FORMAT_AUTO;
	o->max_message = dec.max_message_bytes;
	o->idle_epochs = 30;
	o->commit_ms = 1000;
	o->late_epochs = as.late_epochs;
	o->max_trace_events = as.max_trace_events;
	o->max_open_traces = as.max_open_traces;
	o->max_places = as.max_places;
	o->ready_slabs = as.ready_slabs;
	/* off: in weft serve librdkafka's threads (and often a broker) use
	 * the core a helper would take; serve 1 x 1 ran 0.965 as fast with
	 * one (bench/results/notes.md) */
	o->finish_helper = WEFT_HELPER_OFF;
	o->max_texts = as.max_texts;
	o->max_text_bytes = as.max_text_bytes;
	o->max_open_bytes = as.max_open_bytes;
	o->max_trace_age_ms = 600000;
	o->shutdown_ms = 10000;
	o->max_line = dec.max_line_bytes;
	o->end_label = as.end_label;
	o->anomalies_topic = "weft-anomalies";
	o->dead_topic = "weft-deadletters";
	o->metrics = "127.0.0.1:9464";
	o->otlp_http = "off";
	o->otlp_max_body = 4u << 20;
	o->otlp_max_queue = 64u << 20;
	op_console_config_default(&o->console);
	op_assemble_config_destroy(&as);
}

/* The librdkafka pass-through keys: their prefixes and the table's
 * entries (as flags; the entry's name follows the "--"). */
static const char *const prop_prefix[] = {"kafka.", "consumer.", "producer."};
static const char *const prop_flag[] = {"--kafka.PROP", "--consumer.PROP",
                                        "--producer.PROP"};

/* Which pass-through prefix key has (-1: none); *prop: what follows it. */
static int
prop_kind(const char *key, const char **prop)
{
	for (int i = 0; i < 3; i++) {
		size_t n = strlen(prop_prefix[i]);
		if (!strncmp(key, prop_prefix[i], n) && key[n]) {
			*prop = key + n;
			return i;
		}
	}
	return -1;
}

static char *
trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	char *e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
		*--e = 0;
	return s;
}

/* One `key = value` of a configuration file. 0 or WEFT_E* with a message. */
static int
set_key(struct serve_opts *o, struct cmd_strs *keep_in, const char *k, const char *v,
        char *err, size_t errlen)
{
	const char *prop;
	int kind = prop_kind(k, &prop);
	if (kind < 0) {
		char *vv = cmd_strs_keep(keep_in, v, strlen(v));
		return vv ? weft_opt_set(serve_table, o, k, vv, 1, err, errlen) : WEFT_ENOMEM;
	}
	char *kv = cmd_strs_keep_kv(keep_in, prop, strlen(prop), v);
	if (!kv)
		return WEFT_ENOMEM;
	const char *entry = prop_flag[kind] + 2;
	char why[512];
	int rc = weft_opt_set(serve_table, o, entry, kv, 1, why, sizeof why);
	if (rc) { /* name the key as written, not the entry */
		size_t n = strlen(entry);
		weft_errf(err, errlen, "%s%s", k, strncmp(why, entry, n) ? why : why + n);
	}
	return rc;
}

/* Applies a configuration file. -1 to go on, else the exit status. */
static int
load_file(struct serve_opts *o, struct cmd_strs *keep_in, const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "weft serve: cannot read config '%s': %s\n", path, strerror(errno));
		return 1;
	}
	char line[4096];
	unsigned no = 0;
	int status = -1;
	while (status < 0 && fgets(line, sizeof line, f)) {
		no++;
		char *s = trim(line);
		if (!*s || *s == '#')
			continue;
		char *eq = strchr(s, '=');
		char err[600];
		if (!eq) {
			snprintf(err, sizeof err, "expected 'key = value'");
		} else {
			*eq = 0;
			int rc = set_key(o, keep_in, trim(s), trim(eq + 1), err, sizeof err);
			if (!rc)
				continue;
			if (rc == WEFT_ENOMEM)
				snprintf(err, sizeof err, "out of memory");
		}
		fprintf(stderr, "weft serve: %s:%u: %s\n", path, no, err);
		status = WEFT_OPT_EXIT_USAGE;
	}
	fclose(f);
	return status;
}

/* argv with every --kafka.P V, --consumer.P V, --producer.P V (or =V) as
 * the table's entry and "P=V". NULL on a missing value (message printed;
 * *argc_out 0) or out of memory. */
static char **
rewrite_argv(int argc, char **argv, struct cmd_strs *keep_in, int *argc_out)
{
	char **out = calloc(2 * (size_t)argc + 1, sizeof *out);
	int n = 0, only_pos = 0;
	*argc_out = -1;
	for (int i = 0; out && i < argc; i++) {
		const char *a = argv[i], *prop = NULL;
		int kind = i && !only_pos && !strncmp(a, "--", 2) ? prop_kind(a + 2, &prop) : -1;
		only_pos |= i && !strcmp(a, "--");
		if (kind < 0) {
			out[n++] = argv[i];
			continue;
		}
		const char *eq = strchr(prop, '=');
		const char *v = eq ? eq + 1 : i + 1 < argc ? argv[++i] : NULL;
		size_t plen = eq ? (size_t)(eq - prop) : strlen(prop);
		if (!v) {
			fprintf(stderr, "weft serve: %s needs a value\n"
			        "(weft serve --help lists the options)\n", a);
			free(out);
			*argc_out = 0;
			return NULL;
		}
		char *kv = cmd_strs_keep_kv(keep_in, prop, plen, v);
		if (!kv) {
			free(out);
			return NULL;
		}
		out[n++] = (char *)prop_flag[kind];
		out[n++] = kv;
	}
	if (out)
		*argc_out = n;
	return out;
}

/* Splits the topic list, drops empty names of the optional outputs and
 * checks the metrics address. -1 to go on, else the exit status. */
static int
finish_opts(struct serve_opts *o, struct cmd_strs *keep_in, const char **topics,
            unsigned *n_topics)
{
	*n_topics = 0;
	for (const char *p = o->topics ? o->topics : ""; *p;) {
		const char *e = strchr(p, ',');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (n) {
			if (*n_topics == MAX_TOPICS) {
				fprintf(stderr, "weft serve: topics: at most %d topics\n", MAX_TOPICS);
				return WEFT_OPT_EXIT_USAGE;
			}
			const char *c = memchr(p, ':', n);
			enum op_format f;
			o->topic_format[*n_topics] = 0;
			if (c && op_format_parse(c + 1, n - (size_t)(c - p) - 1, &f)) {
				fprintf(stderr, "weft serve: topics: unknown format in '%.*s'\n",
				        (int)n, p);
				return WEFT_OPT_EXIT_USAGE;
			}
			if (c)
				o->topic_format[*n_topics] = (unsigned)f + 1;
			if (!(topics[(*n_topics)++] = cmd_strs_keep(keep_in, p, c ? (size_t)(c - p) : n)))
				return 1;
		}
		p += n + (e ? 1 : 0);
	}
	const char **opt_strs[] = {&o->model, &o->anomalies_topic, &o->traces_topic,
	                           &o->dead_topic, &o->console.addr};
	for (size_t i = 0; i < sizeof opt_strs / sizeof opt_strs[0]; i++)
		if (*opt_strs[i] && !**opt_strs[i])
			*opt_strs[i] = NULL;
	if (o->learn.enabled && (!o->model || (!o->learn.every_epochs && !o->learn.every_ms))) {
		fprintf(stderr, "weft serve: learn needs model and learn.every.epochs or "
		        "learn.every.ms\n");
		return WEFT_OPT_EXIT_USAGE;
	}
	if (strcmp(o->metrics, "off")) {
		const char *colon = strrchr(o->metrics, ':');
		char *end;
		errno = 0;
		unsigned long port = colon ? strtoul(colon + 1, &end, 10) : 0;
		if (!colon || colon - o->metrics >= 128 || !colon[1] || *end || errno ||
		    colon[1] == '-' || colon[1] == '+' || port > 65535) {
			fprintf(stderr, "weft serve: metrics: expected ADDR:PORT or off, got '%s'\n",
			        o->metrics);
			return WEFT_OPT_EXIT_USAGE;
		}
	}
	if (o->console.addr && !o->model) {
		fprintf(stderr, "weft serve: console.addr needs model\n");
		return WEFT_OPT_EXIT_USAGE;
	}
	return -1;
}

/* The command line and the configuration files into o. -1 to go on, else
 * the exit status. */
int
cmd_serve_parse_args(int argc, char **argv, struct serve_opts *o,
                     struct cmd_strs *keep_in, const char **topics,
                     unsigned *n_topics)
{
	int n;
	char **args = rewrite_argv(argc, argv, keep_in, &n);
	if (!args)
		return n == 0 ? WEFT_OPT_EXIT_USAGE : 1;
	char **pos = calloc((size_t)n + 1, sizeof *pos);
	int npos = 0, status = 1;
	/* A first pass on a copy: --help (with the defaults), usage errors
	 * and the configuration files, which come before every flag. */
	struct serve_opts first = *o;
	if (pos)
		status = weft_opt_run(&serve_cmd, &first, n, args, pos, &npos);
	if (status < 0 && first.config_keys) {
		weft_opt_keys(serve_table, stdout);
		status = 0;
	}
	for (unsigned i = 0; status < 0 && i < first.n_configs; i++)
		status = load_file(o, keep_in, first.configs[i]);
	if (status < 0)
		status = weft_opt_run(&serve_cmd, o, n, args, pos, &npos);
	free(pos);
	free(args);
	if (status < 0)
		status = finish_opts(o, keep_in, topics, n_topics);
	return status;
}
