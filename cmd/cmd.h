/*
 * cmd.h — the command layer: one main per `weft` command, each with its
 * option table (common/opt.h), and the graph wiring replay and serve
 * share. Only this layer includes bench/ and simulator/.
 */
#ifndef WEFT_CMD_H
#define WEFT_CMD_H

#include "engine/engine.h"
#include "operators/ingest/decode.h"

struct op_check_config;

/* `weft train`: sample files -> model file. */
int cmd_train_main(int argc, char **argv);
/* weft model versions | rollback (model.c). */
int cmd_model_main(int argc, char **argv);

/* `weft replay`: file -> decode -> exchange(trace id) -> assemble -> sink. */
int cmd_replay_main(int argc, char **argv);

/* The web console (console.c): starts it and says where it is on stderr
 * (0, or after a message the exit status: 2 for a bad address or limit,
 * 1 otherwise); --hold: serve until SIGINT or SIGTERM. */
struct op_console;
struct op_console_config;
struct op_console_gauges;
int cmd_console_start(const char *cmd, const struct op_console_config *cfg,
                      struct op_check_config *check, unsigned workers,
                      void (*gauges)(void *arg, struct op_console_gauges *out),
                      void *arg, struct op_console **out);
void cmd_console_hold(const char *cmd, const struct op_console *c);

/* Signals of the long-running commands (signal.c): SIGINT/SIGTERM stop
 * e; with a check config, SIGHUP asks it to reload its model and the model
 * watcher is started (its result is returned: 0 or WEFT_E*; the signals
 * are installed either way). restore() puts the defaults back and stops
 * the watcher. One engine at a time per process. */
int cmd_signals_install(struct engine *e, struct op_check_config *check);
void cmd_signals_restore(void);

/* `weft serve`: the Kafka consumer service (serve.c; the service itself
 * is operators/serve/). */
int cmd_serve_main(int argc, char **argv);
/* The old name, until tests/operators/test_serve_mock.c calls
 * cmd_serve_main. */
#define op_serve_main cmd_serve_main

/* `weft rekey`: consume a topic, re-produce each report keyed by its trace
 * id into a repartition topic (rekey.c; the loop is op_rekey_run). */
int cmd_rekey_main(int argc, char **argv);

/* ---- the graph replay and serve share (graph.c) ------------------------- */
/*
 *   source [-> exchange(unit) -> decode] -> exchange(trace id) -> assemble
 *       [-> check] -> sink, [assemble -> sample]
 * or, with count: source [-> decode] -> exchange(trace id) -> count.
 */
struct op_assemble_config;
struct op_sample_config;
struct op_count;
struct cmd_graph {
	const char *src_name;
	const struct engine_op_vtable *src_vt;
	void *src_arg;
	/* Non-NULL: a decode operator (op_decode_vtable) after the source,
	 * which then emits units; NULL: the source decodes inline. */
	void *dec_arg;
	struct op_count *count; /* non-NULL: ingest only, nothing below */
	struct op_assemble_config *as;
	struct op_check_config *check;   /* NULL: no check */
	struct op_sample_config *sample; /* NULL: no sample */
	const char *sink_name;
	const struct engine_op_vtable *sink_vt;
	void *sink_arg;
};
/* The graph, or NULL (allocation failure or a bad node). */
struct engine_graph *cmd_graph_build(const struct cmd_graph *spec);

/* ---- helpers the commands share (util.c) -------------------------------- */
/* Whether a file can be written at path without creating it: an existing
 * file must be writable and not a directory; otherwise its directory must
 * be a writable directory. "-" (standard output) passes. 0, or -1 with a
 * message naming the path in err. */
int cmd_check_writable(const char *path, char *err, size_t errlen);
/* Whether path is an existing, writable directory. 0 or -1 with a message. */
int cmd_check_dir(const char *path, char *err, size_t errlen);

/* ---- serve_otlp.c: the OTLP/HTTP receiver of weft serve -------------- */
struct op_otlp_http_config;
struct op_otlp_http;
/* Starts it unless listen is "off" (then *out stays NULL): the relay topic
 * must be one of topics. -1 to go on, else the exit status (2: a usage
 * error). */
int cmd_serve_otlp_start(struct op_otlp_http_config *c, struct op_otlp_http **out,
                         const char *listen, const char *brokers, const char *topic,
                         const char *const *topics, unsigned n_topics,
                         uint32_t max_body, uint64_t max_queue,
                     const char *const *props,
                         unsigned n_props);
/* Stops it (flushing what it relayed) and logs its counters. */
void cmd_serve_otlp_stop(struct op_otlp_http_config *c, struct op_otlp_http *h);

/* ---- strings a command keeps until it ends (util.c) -------------------- */
/* Config values and rewritten properties made while reading options;
 * start with {0}, free with cmd_strs_free. */
struct cmd_strs {
	char **p;
	size_t n, cap;
};
/* Takes c (malloc'd) into s: c, or NULL (c freed) when out of memory or
 * when c is NULL. */
char *cmd_strs_push(struct cmd_strs *s, char *c);
/* A copy of the first n bytes of text, kept in s (NULL: out of memory). */
char *cmd_strs_keep(struct cmd_strs *s, const char *text, size_t n);
/* "PROP=VALUE" from the first plen bytes of prop and v, kept in s. */
char *cmd_strs_keep_kv(struct cmd_strs *s, const char *prop, size_t plen, const char *v);
void cmd_strs_free(struct cmd_strs *s);

/* ---- hint.c ------------------------------------------------------------ */
struct op_decode_op_config;
/* A run that decoded units but accepted no event: prints why on stderr
 * ("who: no event accepted: these look like ...") and returns 1; else 0. */
int cmd_no_event_hint(const char *who, struct op_decode_op_config *dec,
                      enum op_format forced);

#endif /* WEFT_CMD_H */
