/*
 * replay.c — `weft replay`: run recorded X-Trace reports through the
 * engine.
 *
 *   file source -> decode -> exchange(trace id) -> assemble
 *       [-> check (--model)] -> trace sink
 *       [assemble -> sample sink (--sample)]
 *
 * The source shards plain JSON-lines files across workers (decode then
 * follows on a pipeline edge); any other input is read by one worker and
 * its units are spread over all workers by an exchange before decoding.
 * Bad reports go to the dead-letter file and are counted by reason; the
 * counters are printed at exit. SIGINT/SIGTERM stop the sources; what was
 * read is still processed and reported. With --model, SIGHUP (or a change
 * of the model file) swaps in a new model at an epoch boundary.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "operators/assemble/assemble.h"
#include "operators/check/check.h"
#include "operators/ingest/ingest.h"
#include "operators/output/output.h"
#include "cmd/cmd.h"

static void
usage(FILE *f)
{
	fprintf(f,
	        "usage: weft replay [options] [FILE|-]\n"
	        "  Reads X-Trace reports (plain, gzip or zstd; '-' or no FILE: stdin),\n"
	        "  assembles each trace's DAG as epochs close and writes finished traces\n"
	        "  as JSON lines (summary; --full adds nodes and edges). Counters on stderr.\n"
	        "options:\n"
	        "  --format json|text      X-Trace v4 JSON lines (default) or text reports\n"
	        "  --workers N             worker threads (default: cores)\n"
	        "  --epoch-events N        units per epoch from files (default 65536)\n"
	        "  --epoch-ms MS           wall-clock epochs instead (live streams)\n"
	        "  --compression C         auto (default), none, gzip, zstd\n"
	        "  --dead-letters PATH     where rejected reports go (default: stderr count only)\n"
	        "  --out PATH              finished traces as JSON lines (default: stdout; - too)\n"
	        "  --no-out                count only, write no traces\n"
	        "  --full                  include nodes and edges in each line\n"
	        "  --dot TRACE_ID          also draw this trace (hex id) as Graphviz DOT; repeatable\n"
	        "  --dot-dir DIR           where DOT files go (default .)\n"
	        "  --idle-epochs G         a trace is finished after G idle epochs (default 2)\n"
	        "  --end-label LABEL       finish a trace early at this label once complete\n"
	        "  --max-trace-events N    events kept per trace; more are counted, trace truncated (100000)\n"
	        "  --max-open-traces N     open traces per worker; oldest emitted incomplete (1048576)\n"
	        "  --late-epochs N         remember emitted traces this long for late events (64)\n"
	        "  --max-line BYTES        longest JSON line / text report (default 65536)\n"
	        "  --no-shard              read plain files with one worker\n"
	        "model (weft train):\n"
	        "  --model MODEL           check every finished trace against MODEL; SIGHUP\n"
	        "                          or a change of the file swaps it in without stopping\n"
	        "  --anomalies PATH        unknown_structure and slow traces as JSON lines ('-': stdout)\n"
	        "  --report PATH           HTML report: anomalous DAGs next to their templates,\n"
	        "                          latency heatmaps per template\n"
	        "  --sample PATH           write a uniform sample of finished traces for weft train\n"
	        "  --sample-size N         traces in the sample (default 10000; 0 = all)\n"
	        "  --ingest-only           stop after the exchange: decode -> exchange -> count\n"
	        "                          (measures ingest alone; no traces are assembled)\n");
}

static int
parse_u64(const char *flag, const char *v, uint64_t min, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long x = strtoull(v, &end, 10);
	if (errno || *end || end == v || x < min || v[0] == '-') {
		fprintf(stderr, "weft replay: %s: expected an integer >= %llu, got '%s'\n",
		        flag, (unsigned long long)min, v);
		return -1;
	}
	*out = x;
	return 0;
}

#define MAX_DOT 64

struct replay_opts {
	struct op_file_config file;
	struct op_decode_op_config dec;
	struct op_assemble_config as;
	struct op_trace_sink_config sink;
	struct op_count count;
	struct op_check_config check;
	struct op_sample_config sample;
	const char *model_path, *anomalies_path, *report_path, *sample_path;
	int ingest_only;
	unsigned workers;
	const char *dead_path, *out_path;
	int no_out;
	uint64_t dot_ids[MAX_DOT];
};

static int
parse_args(int argc, char **argv, struct replay_opts *o)
{
	const char *path = NULL;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		uint64_t x;
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 1;
		}
		if (a[0] != '-' || !strcmp(a, "-")) {
			if (path) {
				fprintf(stderr, "weft replay: one input only ('%s')\n", a);
				return -1;
			}
			path = a;
			continue;
		}
		if (!strcmp(a, "--no-shard")) {
			o->file.shard = 0;
			continue;
		}
		if (!strcmp(a, "--no-out")) {
			o->no_out = 1;
			continue;
		}
		if (!strcmp(a, "--ingest-only")) {
			o->ingest_only = 1;
			continue;
		}
		if (!strcmp(a, "--full")) {
			o->sink.full = 1;
			continue;
		}
		if (!v) {
			fprintf(stderr, "weft replay: %s needs a value\n", a);
			return -1;
		}
		i++;
		if (!strcmp(a, "--format")) {
			if (!strcmp(v, "json"))
				o->file.format = OP_FORMAT_JSON_V4;
			else if (!strcmp(v, "text"))
				o->file.format = OP_FORMAT_TEXT;
			else {
				fprintf(stderr, "weft replay: --format: json or text, not '%s'\n", v);
				return -1;
			}
		} else if (!strcmp(a, "--workers")) {
			if (parse_u64(a, v, 1, &x) || x > 1024)
				return -1;
			o->workers = (unsigned)x;
		} else if (!strcmp(a, "--epoch-events")) {
			if (parse_u64(a, v, 1, &o->file.epoch_units))
				return -1;
		} else if (!strcmp(a, "--epoch-ms")) {
			if (parse_u64(a, v, 1, &x) || x > 3600000)
				return -1;
			o->file.epoch_ms = (uint32_t)x;
		} else if (!strcmp(a, "--compression")) {
			if (!strcmp(v, "auto"))
				o->file.compression = OP_COMP_AUTO;
			else if (!strcmp(v, "none"))
				o->file.compression = OP_COMP_NONE;
			else if (!strcmp(v, "gzip"))
				o->file.compression = OP_COMP_GZIP;
			else if (!strcmp(v, "zstd"))
				o->file.compression = OP_COMP_ZSTD;
			else {
				fprintf(stderr, "weft replay: --compression: auto, none, gzip or zstd, not '%s'\n", v);
				return -1;
			}
		} else if (!strcmp(a, "--model")) {
			o->model_path = v;
		} else if (!strcmp(a, "--anomalies")) {
			o->anomalies_path = v;
		} else if (!strcmp(a, "--report")) {
			o->report_path = v;
		} else if (!strcmp(a, "--sample")) {
			o->sample_path = v;
		} else if (!strcmp(a, "--sample-size")) {
			if (parse_u64(a, v, 0, &o->sample.size))
				return -1;
		} else if (!strcmp(a, "--dead-letters")) {
			o->dead_path = v;
		} else if (!strcmp(a, "--out")) {
			o->out_path = v;
		} else if (!strcmp(a, "--dot")) {
			char *end;
			errno = 0;
			unsigned long long id = strtoull(v, &end, 16);
			if (errno || *end || end == v || o->sink.n_dot == MAX_DOT) {
				fprintf(stderr, "weft replay: --dot: a hex trace id (at most %d), not '%s'\n",
				        MAX_DOT, v);
				return -1;
			}
			o->dot_ids[o->sink.n_dot++] = id;
		} else if (!strcmp(a, "--dot-dir")) {
			o->sink.dot_dir = v;
		} else if (!strcmp(a, "--idle-epochs")) {
			if (parse_u64(a, v, 1, &x) || x > UINT32_MAX)
				return -1;
			o->as.idle_epochs = (uint32_t)x;
		} else if (!strcmp(a, "--end-label")) {
			o->as.end_label = v;
		} else if (!strcmp(a, "--max-trace-events")) {
			if (parse_u64(a, v, 1, &x) || x > UINT32_MAX)
				return -1;
			o->as.max_trace_events = (uint32_t)x;
		} else if (!strcmp(a, "--max-open-traces")) {
			if (parse_u64(a, v, 1, &o->as.max_open_traces))
				return -1;
		} else if (!strcmp(a, "--late-epochs")) {
			if (parse_u64(a, v, 0, &x) || x > UINT32_MAX)
				return -1;
			o->as.late_epochs = (uint32_t)x;
		} else if (!strcmp(a, "--max-line")) {
			if (parse_u64(a, v, 64, &x) || x > OP_EVENT_MAX_BYTES * 1024ull)
				return -1;
			o->file.max_unit_bytes = (uint32_t)x;
			o->dec.decode.max_line_bytes = (uint32_t)x;
			o->dec.decode.max_report_bytes = (uint32_t)x;
		} else {
			fprintf(stderr, "weft replay: unknown option '%s'\n", a);
			usage(stderr);
			return -1;
		}
	}
	if ((o->anomalies_path || o->report_path) && !o->model_path) {
		fprintf(stderr, "weft replay: --anomalies and --report need --model\n");
		return -1;
	}
	if (o->ingest_only && (o->model_path || o->sample_path)) {
		fprintf(stderr, "weft replay: --ingest-only assembles nothing to check or sample\n");
		return -1;
	}
	o->file.path = path ? path : "-";
	o->dec.format = o->file.format;
	o->dec.source_name = o->file.path;
	return 0;
}

static void
print_summary(struct replay_opts *o, const struct engine_stats *st,
              unsigned workers, double secs)
{
	uint64_t events = atomic_load(&o->dec.events);
	fprintf(stderr,
	        "weft replay: %s\n"
	        "  workers           %u\n"
	        "  bytes read        %llu\n"
	        "  units             %llu\n"
	        "  events            %llu\n"
	        "  rejected          %llu\n",
	        o->file.path, workers,
	        (unsigned long long)atomic_load(&o->file.bytes),
	        (unsigned long long)atomic_load(&o->file.units),
	        (unsigned long long)events,
	        (unsigned long long)atomic_load(&o->dec.rejected));
	for (int r = 1; r < OP_REJECT__COUNT; r++) {
		uint64_t n = atomic_load(&o->dec.by_reason[r]);
		if (n)
			fprintf(stderr, "    %-22s %llu\n", op_reject_name((enum op_reject)r),
			        (unsigned long long)n);
	}
	if (o->ingest_only) {
		fprintf(stderr,
		        "  counted           %llu events (%llu record bytes) after the exchange\n"
		        "  epochs closed     %llu (last %llu)\n"
		        "  read errors       %llu\n"
		        "  wall time         %.3f s (%.2f M events/s)\n",
		        (unsigned long long)atomic_load(&o->count.records),
		        (unsigned long long)atomic_load(&o->count.bytes),
		        (unsigned long long)st->epochs_closed,
		        (unsigned long long)st->max_epoch_closed,
		        (unsigned long long)atomic_load(&o->file.io_errors), secs,
		        secs > 0 ? (double)events / secs / 1e6 : 0.0);
		return;
	}
	struct op_assemble_config *as = &o->as;
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	uint64_t rss_kib = (uint64_t)ru.ru_maxrss; /* Linux: KiB */
	fprintf(stderr,
	        "  traces out        %llu\n"
	        "  duplicates        %llu\n"
	        "  missing parents   %llu (dangling edges kept as missing nodes)\n"
	        "  late events       %llu (in %llu amendments)\n"
	        "  cycle edges cut   %llu\n"
	        "  truncated traces  %llu (%llu events beyond the limit)\n"
	        "  incomplete traces %llu (open-trace limit)\n"
	        "  end-label finish  %llu\n"
	        "  peak open         %llu traces, %llu events\n"
	        "  peak RSS          %llu KiB (%.0f bytes per peak open event)\n"
	        "  emit latency      p50 %.1f ms, p99 %.1f ms, max %.1f ms (last event -> emission)\n"
	        "  epoch close       p50 %.1f us, p99 %.1f us, max %.1f us (assemble, per epoch)\n"
	        "  epochs closed     %llu (last %llu)\n"
	        "  read errors       %llu\n"
	        "  write errors      %llu\n"
	        "  wall time         %.3f s (%.2f M events/s)\n",
	        (unsigned long long)atomic_load(&as->traces),
	        (unsigned long long)atomic_load(&as->duplicates),
	        (unsigned long long)atomic_load(&as->missing),
	        (unsigned long long)atomic_load(&as->late_events),
	        (unsigned long long)atomic_load(&as->late_traces),
	        (unsigned long long)atomic_load(&as->cycle_edges),
	        (unsigned long long)atomic_load(&as->truncated),
	        (unsigned long long)atomic_load(&as->dropped),
	        (unsigned long long)atomic_load(&as->incomplete),
	        (unsigned long long)atomic_load(&as->end_label_finishes),
	        (unsigned long long)atomic_load(&as->peak_open_traces),
	        (unsigned long long)atomic_load(&as->peak_open_events),
	        (unsigned long long)rss_kib,
	        atomic_load(&as->peak_open_events)
	            ? (double)rss_kib * 1024.0 / (double)atomic_load(&as->peak_open_events)
	            : 0.0,
	        (double)weft_hist_quantile(&as->emit_latency_ns, 0.5) / 1e6,
	        (double)weft_hist_quantile(&as->emit_latency_ns, 0.99) / 1e6,
	        (double)as->emit_latency_ns.max / 1e6,
	        (double)weft_hist_quantile(&as->close_ns, 0.5) / 1e3,
	        (double)weft_hist_quantile(&as->close_ns, 0.99) / 1e3,
	        (double)as->close_ns.max / 1e3,
	        (unsigned long long)st->epochs_closed,
	        (unsigned long long)st->max_epoch_closed,
	        (unsigned long long)atomic_load(&o->file.io_errors),
	        (unsigned long long)atomic_load(&o->sink.write_errors), secs,
	        secs > 0 ? (double)events / secs / 1e6 : 0.0);
}

int
cmd_replay_main(int argc, char **argv)
{
	struct replay_opts o;
	memset(&o, 0, sizeof o);
	o.sample.size = 10000;
	o.sample.seed = 1;
	op_file_config_default(&o.file);
	op_decode_config_default(&o.dec.decode);
	op_assemble_config_init(&o.as);
	op_trace_sink_config_init(&o.sink);
	o.sink.dot_ids = o.dot_ids;
	int rc = parse_args(argc, argv, &o);
	if (rc) {
		op_assemble_config_destroy(&o.as);
		op_trace_sink_config_destroy(&o.sink);
		return rc > 0 ? 0 : 2;
	}
	char err[512];
	struct op_deadletter *dl = NULL;
	FILE *out = NULL, *anom = NULL;
	int have_check = 0, have_sample = 0;
	struct engine *e = NULL;
	int status = 1;
	if (op_decode_config_check(&o.dec.decode, err, sizeof err) ||
	    op_assemble_config_check(&o.as, err, sizeof err) ||
	    op_file_prepare(&o.file, err, sizeof err)) {
		fprintf(stderr, "weft replay: %s\n", err);
		status = 2;
		goto out;
	}
	if (o.dead_path ? op_deadletter_open(o.dead_path, &dl)
	                : op_deadletter_new(NULL, &dl)) {
		fprintf(stderr, "weft replay: cannot open dead-letter file '%s'\n",
		        o.dead_path);
		goto out;
	}
	o.dec.deadletter = dl;
	if (o.model_path) {
		have_check = 1;
		if (op_check_config_init(&o.check, o.model_path, err, sizeof err)) {
			fprintf(stderr, "weft replay: %s\n", err);
			status = 2;
			goto out;
		}
		if (o.anomalies_path && !strcmp(o.anomalies_path, "-")) {
			o.check.anomalies = stdout;
		} else if (o.anomalies_path) {
			if (!(anom = fopen(o.anomalies_path, "w"))) {
				fprintf(stderr, "weft replay: cannot write '%s'\n", o.anomalies_path);
				goto out;
			}
			o.check.anomalies = anom;
		}
	}
	if (o.sample_path) {
		have_sample = 1;
		if (op_sample_open(&o.sample, o.sample_path)) {
			fprintf(stderr, "weft replay: cannot write sample file '%s'\n", o.sample_path);
			goto out;
		}
	}
	if (!o.no_out && !o.ingest_only) {
		if (!o.out_path || !strcmp(o.out_path, "-")) {
			o.sink.out = stdout;
		} else if (!(out = fopen(o.out_path, "w"))) {
			fprintf(stderr, "weft replay: cannot write '%s'\n", o.out_path);
			goto out;
		} else {
			o.sink.out = out;
		}
	}

	struct engine_config cfg;
	engine_config_default(&cfg);
	cfg.workers = o.workers;
	o.file.first_epoch = cfg.first_epoch;
	struct engine_graph *g = engine_graph_new();
	if (!g)
		goto out;
	const uint32_t var[] = {0};
	unsigned W = weft_workers_for(o.workers);
	/* Where each reading worker owns its input, the source decodes what
	 * it reads (op_file.c): no decode operator, no unit records. */
	int inline_dec = op_file_decodes_inline(&o.file, W);
	if (inline_dec)
		o.file.decode = &o.dec;
	int src = engine_graph_add(g, "file", &op_file_vtable, &o.file, 0, 1, var);
	int dec = inline_dec ? src : engine_graph_add(g, "decode", &op_decode_vtable,
	                                              &o.dec, 1, 1, var);
	int asm_, snk, chk = -1, smp = -1;
	if (o.ingest_only) { /* decode -> exchange -> count */
		asm_ = engine_graph_add(g, "count", &op_count_vtable, &o.count, 1, 0, NULL);
		snk = asm_;
	} else {
		asm_ = engine_graph_add(g, "assemble", &op_assemble_vtable, &o.as, 1, 1, var);
		if (have_check)
			chk = engine_graph_add(g, "check", &op_check_vtable, &o.check, 1, 1, var);
		if (have_sample)
			smp = engine_graph_add(g, "sample", &op_sample_vtable, &o.sample, 1, 0, NULL);
		snk = engine_graph_add(g, "traces", &op_trace_sink_vtable, &o.sink, 1, 0, NULL);
	}
	if (src < 0 || dec < 0 || asm_ < 0 || snk < 0 ||
	    (!inline_dec &&
	     engine_graph_connect(g, src, 0, dec, 0, op_unit_key, NULL)) ||
	    engine_graph_connect(g, dec, 0, asm_, 0, op_event_trace_key, NULL) ||
	    (have_check && chk < 0) || (have_sample && smp < 0) ||
	    (have_check && engine_graph_connect(g, asm_, 0, chk, 0, NULL, NULL)) ||
	    (have_sample && engine_graph_connect(g, asm_, 0, smp, 0, NULL, NULL)) ||
	    (!o.ingest_only &&
	     engine_graph_connect(g, have_check ? chk : asm_, 0, snk, 0, NULL, NULL))) {
		engine_graph_free(g);
		fprintf(stderr, "weft replay: cannot build the dataflow graph\n");
		goto out;
	}
	e = engine_new(g, &cfg, err, sizeof err);
	if (!e) {
		fprintf(stderr, "weft replay: %s\n", err);
		goto out;
	}
	if (cmd_signals_install(e, have_check ? &o.check : NULL))
		fprintf(stderr, "weft replay: cannot start the model watcher; SIGHUP and file changes are ignored\n");
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = engine_run(e);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	cmd_signals_restore();
	if (rc) {
		fprintf(stderr, "weft replay: engine start failed: %s\n",
		        weft_strerror(rc));
		goto out;
	}
	/* Operator totals are added when instances are destroyed, so take
	 * the engine's counters, free it, then report. */
	struct engine_stats st;
	engine_get_stats(e, &st);
	unsigned workers = engine_workers(e);
	engine_free(e);
	e = NULL;
	double secs = (double)(t1.tv_sec - t0.tv_sec) +
	              (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	print_summary(&o, &st, workers, secs);
	status = atomic_load(&o.file.io_errors) || atomic_load(&o.sink.write_errors) ? 1 : 0;
	if (have_check) {
		op_check_print_summary(&o.check, stderr);
		if (atomic_load(&o.check.write_errors))
			status = 1;
		if (o.report_path) {
			if (op_check_write_report(&o.check, o.report_path)) {
				fprintf(stderr, "weft replay: cannot write report '%s'\n", o.report_path);
				status = 1;
			} else {
				fprintf(stderr, "  report            %s\n", o.report_path);
			}
		}
	}
	if (have_sample) {
		fprintf(stderr, "  sample            %llu of %llu finished traces -> %s\n",
		        (unsigned long long)atomic_load(&o.sample.written),
		        (unsigned long long)atomic_load(&o.sample.seen), o.sample_path);
	}
out:
	engine_free(e);
	if (out && fclose(out) != 0) {
		fprintf(stderr, "weft replay: error writing '%s'\n", o.out_path);
		status = 1;
	}
	if (o.sink.out == stdout)
		fflush(stdout);
	if (anom && fclose(anom) != 0) {
		fprintf(stderr, "weft replay: error writing '%s'\n", o.anomalies_path);
		status = 1;
	}
	if (o.check.anomalies == stdout)
		fflush(stdout);
	if (have_check)
		op_check_config_destroy(&o.check);
	if (have_sample && op_sample_close(&o.sample)) {
		fprintf(stderr, "weft replay: error writing sample file '%s'\n", o.sample_path);
		status = 1;
	}
	op_deadletter_free(dl);
	op_assemble_config_destroy(&o.as);
	op_trace_sink_config_destroy(&o.sink);
	return status;
}
