/*
 * serve.c — `weft serve`: the Kafka consumer service's command. The
 * service itself (Kafka source, ledger, outputs, sink, committer, metrics)
 * is operators/serve/; this file reads the options, checks everything it
 * can before any Kafka client exists, wires the graph (graph.c, shared
 * with replay) and runs it.
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
 *
 * Before Kafka: the options (exit 2), the model file, the metrics
 * endpoint (it binds and listens, answering weft_up 0 until the service
 * runs) and the producer's properties; only then are the producer and
 * the consumers created (exit 1 when the brokers or topics fail).
 * SIGTERM/SIGINT: stop consuming, drain, emit finished traces, commit,
 * exit 0. SIGHUP: reload the model at an epoch boundary.
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "operators/output/console.h"
#include "operators/serve/kafka_conf.h"
#include "operators/serve/otlp_http.h"
#include "operators/serve/serve.h"
#include "common/opt.h"
#include "cmd/cmd.h"

#define MAX_PROPS 128
#define MAX_TOPICS 32
#define MAX_CONFIGS 8

struct serve_opts {
	const char *configs[MAX_CONFIGS];
	unsigned n_configs;
	int config_keys;
	/* kafka */
	const char *brokers, *topics, *group;
	const char *cons_props[MAX_PROPS], *prod_props[MAX_PROPS];
	unsigned n_cons, n_prod;
	/* engine and assembly */
	unsigned workers;
	int format; /* index into formats[] */
	unsigned topic_format[MAX_TOPICS]; /* "topic:format": OP_FORMAT_* + 1 */
	uint32_t max_message;
	uint32_t epoch_ms, idle_epochs, idle_partition_ms, commit_ms;
	uint32_t late_epochs, max_trace_events, max_line;
	uint64_t max_open_traces, max_open_bytes, max_trace_age_ms, max_places;
	uint64_t max_texts;
	uint32_t max_text_bytes, ready_slabs;
	uint32_t probe_ms, settle_ms, max_partitions, shutdown_ms, lookback_ms;
	uint32_t hint_after;
	const char *end_label;
	/* outputs */
	const char *model;
	int model_watch; /* index into bools[] */
	const char *anomalies_topic, *traces_topic, *dead_topic;
	int traces_full; /* index into bools[] */
	struct op_peer_config peer; /* peers: index into bools[] */
	struct op_learn_config learn; /* learn: index into bools[] */
	const char *metrics; /* "addr:port" or "off" */
	const char *otlp_http, *otlp_topic; /* "addr:port" or "off"; relay topic */
	uint32_t otlp_max_body;
	uint64_t otlp_max_queue;
	struct op_console_config console; /* addr NULL or "": no console */
};

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
	 .help = "worker shards, each one a member of the group (default: cores)",
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
	{KEY("max.places"), .kind = WEFT_OPT_U64, .off = S(max_places),
	 .meta = "N", .help = "distinct (label, host, agent) triples per worker "
	 "kept as 4-byte places; past it an event takes 24 bytes more "
	 "(weft_place_overflow_total)", .lo = 1, .hi = 0x7fffffff},
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
static void
opts_init(struct serve_opts *o)
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
static int
parse_args(int argc, char **argv, struct serve_opts *o, struct cmd_strs *keep_in,
           const char **topics, unsigned *n_topics)
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

/* ---- the run -------------------------------------------------------------- */

struct serve_run {
	struct serve_opts o;
	struct cmd_strs owned;
	const char *topics[MAX_TOPICS];
	struct op_kafka_topic_stat topic_stats[MAX_TOPICS];
	unsigned n_topics;
	unsigned W;
	struct op_kafka_config k;
	int have_k;
	struct op_decode_op_config dec;
	struct op_assemble_config as;
	struct op_check_config check;
	int have_check;
	struct op_learn *learn;
	struct op_metrics_server *ms;
	struct op_otlp_http_config http;
	struct op_otlp_http *hs;
	struct serve_metrics metrics;
	struct op_console *console;
	struct op_ledger *ledger;
	struct serve_out *out;
	struct op_deadletter *dl;
	struct serve_dl_writer dlw;
	struct serve_sink_config sink;
	struct serve_committer cm;
	struct engine *e;
};

/* The producer's properties, set on a configuration that makes no client:
 * 0, or -1 after a message naming the bad one. */
static int
check_producer_props(const struct serve_opts *o)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char err[600];
	int rc = 0;
	for (unsigned i = 0; !rc && i < o->n_prod; i++)
		rc = weft_kafka_set_kv(conf, "producer", o->prod_props[i], err, sizeof err);
	rd_kafka_conf_destroy(conf);
	if (rc)
		fprintf(stderr, "weft serve: %s\n", err);
	return rc ? -1 : 0;
}

/* The operators' configurations from the options, checked. -1 to go on,
 * else the exit status. */
static int
configure(struct serve_run *r)
{
	struct serve_opts *o = &r->o;
	op_decode_config_default(&r->dec.decode);
	r->dec.decode.keep_kv = 0; /* what reads the events (assembly) reads none */
	op_assemble_config_init(&r->as);
	if (op_kafka_config_init(&r->k))
		return 1;
	r->have_k = 1;
	r->W = weft_workers_for(o->workers);
	struct op_assemble_config *as = &r->as;
	as->idle_epochs = o->idle_epochs;
	as->late_epochs = o->late_epochs;
	as->max_trace_events = o->max_trace_events;
	as->max_open_traces = o->max_open_traces;
	as->max_places = o->max_places;
	as->ready_slabs = o->ready_slabs;
	as->max_texts = o->max_texts;
	as->max_text_bytes = o->max_text_bytes;
	as->max_open_bytes = o->max_open_bytes;
	as->end_label = o->end_label;
	struct op_kafka_config *k = &r->k;
	k->brokers = o->brokers;
	k->group = o->group;
	k->topics = r->topics;
	k->n_topics = r->n_topics;
	k->props = o->cons_props;
	k->n_props = o->n_cons;
	k->format = (enum op_format)o->format;
	k->topic_format = o->topic_format;
	k->epoch_ms = o->epoch_ms;
	k->idle_partition_ms = o->idle_partition_ms;
	k->drain_epochs = as->idle_epochs + 2;
	k->max_unit_bytes = o->max_line;
	k->probe_ms = o->probe_ms;
	k->settle_ms = o->settle_ms;
	k->max_slots = o->max_partitions;
	k->lookback_ms = o->lookback_ms;
	k->hint_after = o->hint_after;
	k->topic_stats = r->topic_stats;
	if (o->max_trace_age_ms) {
		uint64_t e = o->max_trace_age_ms / o->epoch_ms;
		as->max_age_epochs = e > as->idle_epochs ? e : (uint64_t)as->idle_epochs + 1;
	}
	if (op_kafka_slots_alloc(k))
		return 1;
	/* revocations hand a partition's open traces over (assemble.h) */
	as->src_gen = k->gens;
	as->n_src = k->max_slots;
	as->revocations = &k->revocations;
	r->dec.decode.max_line_bytes = r->dec.decode.max_report_bytes = o->max_line;
	r->dec.decode.max_message_bytes = o->max_message;
	/* a message is at most the largest unit any topic's format takes */
	k->max_unit_bytes = op_decoder_max_unit(&r->dec.decode, OP_FORMAT_AUTO);
	r->dec.format = k->format;
	r->dec.source_name = "kafka";
	char err[512];
	if (op_kafka_conf_check(k, err, sizeof err) ||
	    op_decode_config_check(&r->dec.decode, err, sizeof err) ||
	    op_assemble_config_check(as, err, sizeof err)) {
		fprintf(stderr, "weft serve: %s\n", err);
		return WEFT_OPT_EXIT_USAGE;
	}
	if (check_producer_props(o))
		return WEFT_OPT_EXIT_USAGE;
	return -1;
}

/* What can fail without Kafka, before any client exists: the model and
 * the metrics endpoint. -1 to go on, else the exit status. */
static int
prepare_local(struct serve_run *r)
{
	struct serve_opts *o = &r->o;
	char err[512];
	if (o->model) {
		if (op_check_config_init(&r->check, o->model, err, sizeof err)) {
			fprintf(stderr, "weft serve: %s\n", err);
			return 1;
		}
		r->have_check = 1;
		r->check.peer = o->peer;
		r->check.watch_file = o->model_watch;
		r->check.no_report = 1;
		r->check.skip_flushed = 1; /* cut by a stop: re-read, judged then */
	}
	if (strcmp(o->metrics, "off")) {
		const char *colon = strrchr(o->metrics, ':');
		char addr[128];
		snprintf(addr, sizeof addr, "%.*s", (int)(colon - o->metrics), o->metrics);
		int rc = op_metrics_start(addr, (uint16_t)strtoul(colon + 1, NULL, 10),
		                          serve_metrics_render, &r->metrics, &r->ms, err,
		                          sizeof err);
		if (rc) {
			fprintf(stderr, "weft serve: %s\n", err);
			return rc == WEFT_EINVAL ? WEFT_OPT_EXIT_USAGE : 1;
		}
		serve_log("info", "metrics on %s/metrics", op_metrics_url(r->ms));
	}
	if (!o->model && !o->traces_topic)
		serve_log("warn", "no model and no traces.topic: traces are assembled and counted only");
	struct op_kafka_config *k = &r->k;
	if (!(k->frontiers = calloc(r->W, sizeof *k->frontiers)) ||
	    !(k->insts = calloc(r->W, sizeof *k->insts)) ||
	    !(r->ledger = op_ledger_new(r->W, k->max_slots, 0)))
		return 1;
	r->as.on_open = serve_ledger_on_open;
	r->as.on_retag = serve_ledger_on_retag;
	r->as.on_open_arg = r->ledger;
	k->ledger = r->ledger;
	return -1;
}

/* The producer (it checks the output topics with the brokers), the
 * outputs' writers and the engine. -1 to go on, else the exit status. */
static int
connect_and_build(struct serve_run *r)
{
	struct serve_opts *o = &r->o;
	char err[512];
	const char *names[SERVE_T__COUNT] = {o->anomalies_topic, o->traces_topic,
	                                     o->dead_topic};
	r->out = serve_out_new(o->brokers, o->prod_props, o->n_prod, names, r->W + 1,
	                       err, sizeof err);
	if (!r->out) {
		fprintf(stderr, "weft serve: %s\n", err);
		return 1;
	}
	if (op_deadletter_new(NULL, &r->dl))
		return 1;
	r->dlw.out = r->out;
	r->dlw.slot = r->W;
	op_deadletter_set_writer(r->dl, serve_dead_write, &r->dlw);
	op_deadletter_set_namer(r->dl, op_kafka_src_name, &r->k);
	r->dec.deadletter = r->dl;
	if (r->have_check) {
		r->check.anomaly_write = serve_anomaly_write;
		r->check.anomaly_arg = r->out;
	}
	r->sink.out = r->out;
	r->sink.ledger = r->ledger;
	r->sink.full = o->traces_full;
	serve_hists_init(&r->sink);
	r->as.on_epoch_closed = op_prom_epoch_closed;
	r->as.on_epoch_closed_arg = &r->sink.epoch_close;
	struct engine_config ecfg;
	engine_config_default(&ecfg);
	ecfg.workers = r->W;
	/* each consumer decodes what it consumes (op_inline_decoder) */
	r->k.decode = &r->dec;
	struct cmd_graph spec = {
		.src_name = "kafka", .src_vt = &op_kafka_vtable, .src_arg = &r->k,
		.as = &r->as,
		.check = r->have_check ? &r->check : NULL,
		.sink_name = "serve-sink", .sink_vt = &serve_sink_vtable,
		.sink_arg = &r->sink,
	};
	struct engine_graph *g = cmd_graph_build(&spec);
	if (!g) {
		fprintf(stderr, "weft serve: cannot build the dataflow graph\n");
		return 1;
	}
	if (!(r->e = engine_new(g, &ecfg, err, sizeof err))) {
		fprintf(stderr, "weft serve: %s\n", err);
		return 1;
	}
	o->learn.log = serve_log;
	if (o->learn.enabled &&
	    op_learn_start(&r->check, &o->learn, &r->learn, err, sizeof err)) {
		fprintf(stderr, "weft serve: %s\n", err);
		return 1;
	}
	r->check.learn = r->learn;
	struct serve_metrics *m = &r->metrics;
	m->learn = r->learn;
	m->k = &r->k;
	m->sink = &r->sink;
	m->out = r->out;
	m->ledger = r->ledger;
	m->check = r->have_check ? &r->check : NULL;
	m->dl = r->dl;
	m->as = &r->as;
	m->workers = r->W;
	int st = cmd_serve_otlp_start(&r->http, &r->hs, o->otlp_http, o->brokers,
	                              o->otlp_topic ? o->otlp_topic : r->topics[0],
	                              r->topics, r->n_topics, o->otlp_max_body,
	                              o->otlp_max_queue, o->prod_props, o->n_prod);
	if (st >= 0)
		return st;
	if (r->hs) /* its counters, once the receiver set them up */
		m->http = &r->http;
	atomic_store_explicit(&m->ready, 1, memory_order_release);
	return -1;
}

/* The console's rate panels: open bytes, and each partition's lag as
 * /metrics shows it (under the Kafka config's lock). */
static void
serve_console_gauges(void *arg, struct op_console_gauges *g)
{
	struct serve_run *r = arg;
	struct op_kafka_config *k = &r->k;
	g->open_bytes = atomic_load(&r->as.open_bytes);
	pthread_mutex_lock(&k->lock);
	for (size_t i = 0; i < k->n_parts && g->n_lag < sizeof g->lag / sizeof g->lag[0]; i++) {
		const struct op_kafka_part_stat *p = &k->parts[i];
		if (p->high < 0 || (!p->eof && p->position < 0))
			continue;
		g->lag[g->n_lag].partition = p->partition;
		g->lag[g->n_lag++].lag = p->eof || p->high < p->position ? 0 : p->high - p->position;
	}
	pthread_mutex_unlock(&k->lock);
}

/* Runs the service until it is stopped, then commits: the exit status. */
static int
run(struct serve_run *r)
{
	struct serve_opts *o = &r->o;
	struct op_kafka_config *k = &r->k;
	struct serve_committer *cm = &r->cm;
	cm->out = r->out;
	cm->ledger = r->ledger;
	cm->k = k;
	cm->engine = r->e;
	cm->interval_ms = o->commit_ms;
	cm->final_timeout_ms = o->shutdown_ms;
	if (serve_committer_start(cm))
		return 1;
	if (o->console.addr) {
		int crc = cmd_console_start("weft serve", &o->console, &r->check, r->W,
		                            serve_console_gauges, r, &r->console);
		if (crc)
			return crc;
		r->metrics.console = r->console;
	}
	if (cmd_signals_install(r->e, r->have_check ? &r->check : NULL))
		serve_log("warn", "cannot start the model watcher; SIGHUP and file changes are ignored");
	serve_log("info", "serving: %u workers, group '%s', %u topic(s), epoch %u ms, idle %u epochs%s%s",
	          r->W, o->group, r->n_topics, o->epoch_ms, r->as.idle_epochs,
	          o->model ? ", model " : "", o->model ? o->model : "");
	int rc = engine_run(r->e);
	op_learn_stop(r->learn, 0);
	cmd_signals_restore();
	serve_committer_stop(cm);
	if (rc) {
		serve_log("error", "engine start failed: %s", weft_strerror(rc));
		return 1;
	}
	/* Final round: everything emitted is delivered, then the sources
	 * commit in their destroy (engine_free). */
	int final_ok = serve_committer_final(cm) == 0;
	op_kafka_final_commit(k, r->W);
	engine_free(r->e);
	r->e = NULL;
	struct serve_sink_config *sink = &r->sink;
	serve_log("info",
	          "stopped: %" PRIu64 " messages, %" PRIu64 " traces (%" PRIu64 " normal, %" PRIu64
	          " unknown_structure, %" PRIu64 " slow, %" PRIu64 " incomplete, %" PRIu64
	          " late), %" PRIu64 " left for re-read, %" PRIu64 " handed over, %" PRIu64
	          " aged, %" PRIu64 " dead letters, %" PRIu64
	          " delivered, %" PRIu64 " commits, commit epoch %" PRIu64,
	          atomic_load(&k->messages), atomic_load(&sink->traces),
	          atomic_load(&sink->by_verdict[OP_VERDICT_NORMAL]),
	          atomic_load(&sink->by_verdict[OP_VERDICT_UNKNOWN_STRUCTURE]),
	          atomic_load(&sink->by_verdict[OP_VERDICT_SLOW]),
	          atomic_load(&sink->by_verdict[OP_VERDICT_INCOMPLETE]),
	          atomic_load(&sink->by_verdict[OP_VERDICT_LATE]), atomic_load(&sink->reread),
	          atomic_load(&sink->handed_over), atomic_load(&r->as.aged),
	          op_deadletter_count(r->dl, OP_REJECT_NONE), serve_out_delivered(r->out),
	          atomic_load(&k->commits), atomic_load(&k->commit_epoch));
	if (op_ledger_anomalies(r->ledger))
		serve_log("error", "commit ledger: %" PRIu64 " inconsistencies",
		          op_ledger_anomalies(r->ledger));
	int none = cmd_no_event_hint("weft serve", &r->dec, k->format);
	return final_ok && !none && !serve_out_failed(r->out) && !atomic_load(&k->fatal) ? 0 : 1;
}

static void
release(struct serve_run *r)
{
	serve_committer_destroy(&r->cm);
	cmd_serve_otlp_stop(&r->http, r->hs);
	engine_free(r->e);
	op_metrics_stop(r->ms);
	op_console_stop(r->console);
	op_learn_free(r->learn);
	if (r->have_check)
		op_check_config_destroy(&r->check);
	op_deadletter_free(r->dl);
	serve_out_free(r->out);
	op_ledger_free(r->ledger);
	if (r->have_k) {
		free((void *)r->k.frontiers);
		free(r->k.insts);
		op_kafka_config_destroy(&r->k);
	}
	op_assemble_config_destroy(&r->as);
	cmd_strs_free(&r->owned);
	free(r);
}

int
cmd_serve_main(int argc, char **argv)
{
	struct serve_run *r = calloc(1, sizeof *r);
	if (!r)
		return 1;
	opts_init(&r->o);
	int status = parse_args(argc, argv, &r->o, &r->owned, r->topics, &r->n_topics);
	if (status >= 0) {
		cmd_strs_free(&r->owned);
		free(r);
		return status;
	}
	status = configure(r);
	if (status < 0)
		status = prepare_local(r);
	if (status < 0)
		status = connect_and_build(r);
	if (status < 0)
		status = run(r);
	release(r);
	return status;
}
