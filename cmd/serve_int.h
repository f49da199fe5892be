/*
 * serve_int.h — what the two halves of `weft serve` share: its options as
 * read from the command line and the configuration files (serve_opts.c)
 * and the run that uses them (serve.c). Private to those two files.
 */
#ifndef WEFT_CMD_SERVE_INT_H
#define WEFT_CMD_SERVE_INT_H

#include <stdint.h>

#include "operators/output/console.h"
#include "operators/serve/serve.h"
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
	int finish_helper; /* enum weft_helper */
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

/* The defaults, which --help shows. */
void cmd_serve_opts_init(struct serve_opts *o);

/* The command line and the configuration files into o; the topics (at
 * most MAX_TOPICS) into topics[0 .. *n_topics), their texts kept in
 * keep_in. -1 to go on, else the exit status (0 after --help or
 * --config-keys, 2 for a usage error, 1 otherwise). */
int cmd_serve_parse_args(int argc, char **argv, struct serve_opts *o,
                         struct cmd_strs *keep_in, const char **topics,
                         unsigned *n_topics);

#endif
