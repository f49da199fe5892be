/*
 * serve.c — `weft serve`: the Kafka consumer service's command. The
 * service itself (Kafka source, ledger, outputs, sink, committer, metrics)
 * is operators/serve/; its options are read by serve_opts.c; this file
 * checks everything it can before any Kafka client exists, wires the
 * graph (graph.c, shared with replay) and runs it.
 *
 * Before Kafka: the options (exit 2), the model file, the metrics
 * endpoint (it binds and listens, answering weft_up 0 until the service
 * runs) and the producer's properties; only then are the producer and
 * the consumers created (exit 1 when the brokers or topics fail).
 * SIGTERM/SIGINT: stop consuming, drain, emit finished traces, commit,
 * exit 0. SIGHUP: reload the model at an epoch boundary.
 */
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
#include "cmd/serve_int.h"

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
	/* ready.slabs alone says (0: none): serve with two workers on two
	 * cores and the broker beside them ran as fast without the helper as
	 * with it (bench/results/notes.md), unlike weft replay at W=2. */
	as->slab_helper = WEFT_HELPER_ON;
	as->finish_helper = o->finish_helper;
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
	cmd_serve_opts_init(&r->o);
	int status = cmd_serve_parse_args(argc, argv, &r->o, &r->owned, r->topics,
	                                  &r->n_topics);
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
