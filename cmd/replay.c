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
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "operators/assemble/assemble.h"
#include "operators/check/check.h"
#include "operators/check/learn.h"
#include "operators/ingest/ingest.h"
#include "operators/output/console.h"
#include "operators/output/output.h"
#include "common/opt.h"
#include "cmd/cmd.h"

#define MAX_DOT 64

struct replay_opts {
	struct op_file_config file;
	struct op_decode_op_config dec;
	struct op_assemble_config as;
	struct op_trace_sink_config sink;
	struct op_count count;
	struct op_check_config check;
	struct op_sample_config sample;
	struct op_peer_config peer; /* into check after its init */
	struct op_console_config console;
	int hold;
	uint32_t report_max;
	uint32_t report_heat_cells;
	struct op_learn_config learn;
	struct op_learn *learner;
	const char *model_path, *anomalies_path, *report_path, *sample_path;
	int ingest_only;
	unsigned workers;
	const char *dead_path, *out_path;
	int no_out, no_shard;
	int format, compression; /* indexes into formats[], compressions[] */
	uint32_t max_line;
	const char *default_dot_dir;
	uint64_t dot_ids[MAX_DOT];
};

/* in the order of enum op_format and enum op_compression */
static const char *const formats[] = {"json", "text", "otlp-proto", "otlp-json",
                                      "zipkin", "auto", NULL};
static const char *const compressions[] = {"auto", "none", "gzip", "zstd", NULL};

static int
add_dot(void *target, const char *v, char *err, size_t errlen)
{
	struct replay_opts *o = target;
	char *end;
	errno = 0;
	unsigned long long id = strtoull(v, &end, 16);
	if (errno || *end || end == v || v[0] == '-' || v[0] == '+') {
		weft_errf(err, errlen, "'%s' is not a hex trace id", v);
		return WEFT_EINVAL;
	}
	if (o->sink.n_dot == MAX_DOT) {
		weft_errf(err, errlen, "at most %d traces", MAX_DOT);
		return WEFT_EINVAL;
	}
	o->dot_ids[o->sink.n_dot++] = id;
	return 0;
}

#define R(f) offsetof(struct replay_opts, f)
static const struct weft_opt replay_table[] = {
	{.name = "format", .kind = WEFT_OPT_CHOICE, .off = R(format), .meta = "F",
	 .help = "auto (each record recognised), X-Trace json or text, OTLP "
	         "otlp-proto (size-prefixed messages) or otlp-json (one per line), "
	         "zipkin (v2 JSON, one list per line); docs/FORMATS.md",
	 .choices = formats},
	{.name = "workers", .kind = WEFT_OPT_UINT, .off = R(workers), .meta = "N",
	 .help = "worker threads (default: the CPUs this process has: its affinity "
	 "mask, capped by its cgroup's CPU quota)", .lo = 1, .hi = 1024,
	 .flags = WEFT_OPT_NO_DEFAULT},
	{.name = "epoch-events", .kind = WEFT_OPT_U64, .off = R(file.epoch_units),
	 .meta = "N", .help = "units per epoch from files", .lo = 1},
	{.name = "epoch-ms", .kind = WEFT_OPT_U32, .off = R(file.epoch_ms),
	 .meta = "MS", .help = "wall-clock epochs instead (live streams)", .lo = 1,
	 .hi = 3600000, .flags = WEFT_OPT_NO_DEFAULT},
	{.name = "compression", .kind = WEFT_OPT_CHOICE, .off = R(compression),
	 .meta = "C", .help = "input compression (auto: by magic bytes)",
	 .choices = compressions},
	{.name = "dead-letters", .kind = WEFT_OPT_STR, .off = R(dead_path),
	 .meta = "PATH", .help = "where rejected reports go (default: counted only)"},
	{.name = "out", .kind = WEFT_OPT_STR, .off = R(out_path), .meta = "PATH",
	 .help = "finished traces as JSON lines (default: stdout; - too)"},
	{.name = "no-out", .kind = WEFT_OPT_FLAG, .off = R(no_out),
	 .help = "count only, write no traces"},
	{.name = "full", .kind = WEFT_OPT_FLAG, .off = R(sink.full),
	 .help = "include nodes and edges in each line"},
	{.name = "dot", .kind = WEFT_OPT_FN, .meta = "TRACE_ID", .fn = add_dot,
	 .help = "also draw this trace (hex id) as Graphviz DOT; repeatable"},
	{.name = "dot-dir", .kind = WEFT_OPT_STR, .off = R(sink.dot_dir),
	 .meta = "DIR", .help = "where DOT files go (an existing directory)"},
	{.name = "idle-epochs", .kind = WEFT_OPT_U32, .off = R(as.idle_epochs),
	 .meta = "G", .help = "a trace is finished after G idle epochs", .lo = 1},
	{.name = "end-label", .kind = WEFT_OPT_STR, .off = R(as.end_label),
	 .meta = "LABEL", .help = "finish a trace early at this label once complete"},
	{.name = "max-trace-events", .kind = WEFT_OPT_U32,
	 .off = R(as.max_trace_events), .meta = "N", .lo = 1,
	 .help = "events kept per trace; more are counted, trace truncated"},
	{.name = "max-open-traces", .kind = WEFT_OPT_U64,
	 .off = R(as.max_open_traces), .meta = "N", .lo = 1,
	 .help = "open traces per worker; oldest emitted incomplete"},
	{.name = "max-open-bytes", .kind = WEFT_OPT_BYTES,
	 .off = R(as.max_open_bytes), .meta = "SIZE",
	 .help = "memory open traces may hold, all workers (k/m/g; 0: no limit); "
	 "past it the least recently active are emitted incomplete"},
	{.name = "max-trace-age", .kind = WEFT_OPT_U64,
	 .off = R(as.max_age_epochs), .meta = "EPOCHS",
	 .help = "a trace open this many epochs is emitted incomplete, flagged "
	 "aged (0: no limit)"},
	{.name = "ready-slabs", .kind = WEFT_OPT_U32, .off = R(as.ready_slabs),
	 .meta = "N", .hi = 1024,
	 .help = "2 MiB slabs for open traces the slab helper keeps faulted in "
	 "ahead of need (0: each worker faults its own)"},
	{.name = "slab-helper", .kind = WEFT_OPT_CHOICE,
	 .off = R(as.slab_helper), .meta = "M", .choices = weft_helper_names,
	 .help = "a thread that faults in --ready-slabs slabs for the workers "
	 "(auto: with two cores per worker; without a core of its own it only "
	 "moves the faults to a worker's)"},
	{.name = "finish-helper", .kind = WEFT_OPT_CHOICE,
	 .off = R(as.finish_helper), .meta = "M", .choices = weft_helper_names,
	 .help = "a thread per worker that builds finished traces beside it "
	 "when many finish at once (auto: with two cores per worker); the "
	 "output is the same"},
	{.name = "max-places", .kind = WEFT_OPT_U64, .off = R(as.max_places),
	 .meta = "N", .lo = 1, .hi = 0x7ffffff,
	 .help = "distinct (label, host, agent) triples per worker kept as 4-byte "
	 "places; past it an event takes 24 bytes more (counted)"},
	{.name = "max-texts", .kind = WEFT_OPT_U64, .off = R(as.max_texts),
	 .meta = "N", .lo = 1, .hi = UINT32_MAX,
	 .help = "distinct texts (labels, hosts, agents) interned per worker; "
	 "past it a new one is kept as an empty text (counted)"},
	{.name = "max-text-bytes", .kind = WEFT_OPT_U32, .off = R(as.max_text_bytes),
	 .meta = "BYTES", .lo = 1, .hi = 65535,
	 .help = "bytes kept of a label, host or agent; a longer one is cut "
	 "(counted)"},
	{.name = "late-epochs", .kind = WEFT_OPT_U32, .off = R(as.late_epochs),
	 .meta = "N", .help = "remember emitted traces this long for late events"},
	{.name = "max-line", .kind = WEFT_OPT_U32, .off = R(max_line),
	 .meta = "BYTES", .help = "longest JSON line / text report", .lo = 64,
	 .hi = OP_EVENT_MAX_BYTES * 1024ull},
	{.name = "no-shard", .kind = WEFT_OPT_FLAG, .off = R(no_shard),
	 .help = "read plain files with one worker"},
	{.name = "no-mmap", .kind = WEFT_OPT_FLAG, .off = R(file.no_mmap),
	 .help = "read plain files with read() on the reading thread (else they "
	 "are read ahead by a helper, or mapped where in the page cache)"},
	{.name = "read-ahead", .kind = WEFT_OPT_CHOICE, .off = R(file.read_ahead),
	 .meta = "M", .choices = weft_helper_names,
	 .help = "a helper thread makes ready each window of a file one worker "
	 "reads whole ahead of it: maps it, or reads it where not in the page "
	 "cache (auto: with two cores per worker; off: the reading thread maps "
	 "it)"},
	{.name = "model", .kind = WEFT_OPT_STR, .off = R(model_path),
	 .meta = "MODEL", .help = "check every finished trace against MODEL (weft "
	 "train); SIGHUP or a change of the file swaps it in without stopping"},
	{.name = "anomalies", .kind = WEFT_OPT_STR, .off = R(anomalies_path),
	 .meta = "PATH", .help = "unknown_structure and slow traces as JSON lines "
	 "('-': stdout; needs --model)"},
	{.name = "report", .kind = WEFT_OPT_STR, .off = R(report_path),
	 .meta = "PATH", .help = "HTML report: anomalous DAGs next to their "
	 "templates, latency heatmaps per template (needs --model)"},
	{.name = "peers", .kind = WEFT_OPT_FLAG, .off = R(peer.enabled),
	 .help = "judge latency against the other hosts doing the same operation "
	 "now, and report host anomalies (=0: against the model's thresholds)"},
	{.name = "peer-ratio", .kind = WEFT_OPT_DOUBLE, .off = R(peer.ratio),
	 .meta = "X", .help = "a host is slow at X times its peers' median", .dlo = 1.1,
	 .dhi = 1000},
	{.name = "peer-window", .kind = WEFT_OPT_U32, .off = R(peer.window),
	 .meta = "N", .help = "recent durations kept per operation and host", .lo = 4,
	 .hi = 4096},
	{.name = "peer-min-samples", .kind = WEFT_OPT_U32, .off = R(peer.min_samples),
	 .meta = "N", .help = "durations a host needs before it is judged", .lo = 1,
	 .hi = 4096},
	{.name = "peer-min-peers", .kind = WEFT_OPT_U32, .off = R(peer.min_peers),
	 .meta = "N", .help = "other hosts an operation needs to be judged against "
	 "peers", .lo = 1, .hi = 100000},
	{.name = "peer-trace-ratio", .kind = WEFT_OPT_DOUBLE, .off = R(peer.trace_ratio),
	 .meta = "X", .help = "a trace is slow on its own when most of its events "
	 "of one operation on one host (2 or more) took X times the peers' median "
	 "(0: off)", .dlo = 0, .dhi = 1000},
	{.name = "report-max", .kind = WEFT_OPT_U32, .off = R(report_max),
	 .meta = "N", .lo = 1, .hi = 100000,
	 .help = "anomalies drawn in the report (those with the smallest trace "
	 "ids; the page says how many more there were)"},
	{.name = "report-heat-cells", .kind = WEFT_OPT_U32, .off = R(report_heat_cells),
	 .meta = "N", .lo = 1, .hi = 10000000,
	 .help = "heatmap cells (template x second of trace start) each worker keeps "
	 "for the report; traces past it are left out and counted on the page"},
	{.name = "sample", .kind = WEFT_OPT_STR, .off = R(sample_path),
	 .meta = "PATH", .help = "write a uniform sample of finished traces for "
	 "weft train"},
	{.name = "console", .kind = WEFT_OPT_STR, .off = R(console.addr),
	 .meta = "ADDR", .help = "serve the live web console at ADDR (PORT, HOST:PORT "
	 "or [V6]:PORT; host 127.0.0.1 unless given; needs --model)"},
	{.name = "console-token", .kind = WEFT_OPT_STR, .off = R(console.token),
	 .meta = "TOKEN", .help = "the console asks for this bearer token (or ?token=)"},
	{.name = "console-max-anomalies", .kind = WEFT_OPT_U32,
	 .off = R(console.max_anomalies), .meta = "N", .lo = 1, .hi = 10000000,
	 .help = "anomalous traces the console keeps (oldest evicted, counted)"},
	{.name = "console-max-normal", .kind = WEFT_OPT_U32,
	 .off = R(console.max_normal), .meta = "N", .hi = 10000000,
	 .help = "sampled normal traces the console keeps"},
	{.name = "console-max-conns", .kind = WEFT_OPT_U32,
	 .off = R(console.max_conns), .meta = "N", .lo = 2, .hi = 1024,
	 .help = "open console connections; more are refused and counted"},
	{.name = "hold", .kind = WEFT_OPT_FLAG, .off = R(hold),
	 .help = "keep serving the console after the input ends, until SIGINT/SIGTERM"},
	{.name = "sample-size", .kind = WEFT_OPT_U64, .off = R(sample.size),
	 .meta = "N", .help = "traces in the sample (0 = all)"},
	{.name = "learn", .kind = WEFT_OPT_FLAG, .off = R(learn.enabled),
	 .help = "keep learning: retrain MODEL from traces judged normal and "
	 "recurring new structures without exceptions, keep MODEL.vN (needs --model)"},
	{.name = "learn-every-epochs", .kind = WEFT_OPT_U64, .off = R(learn.every_epochs),
	 .meta = "N", .help = "retrain every N epochs (0: not by epochs)"},
	{.name = "learn-every-ms", .kind = WEFT_OPT_U64, .off = R(learn.every_ms),
	 .meta = "MS", .help = "retrain every MS ms (0: not by time)"},
	{.name = "learn-reservoir", .kind = WEFT_OPT_U32, .off = R(learn.reservoir),
	 .meta = "N", .help = "normal traces sampled per period", .lo = 1},
	{.name = "learn-min-sample", .kind = WEFT_OPT_U32, .off = R(learn.min_sample),
	 .meta = "N", .help = "no retrain from fewer traces"},
	{.name = "learn-candidates", .kind = WEFT_OPT_U32, .off = R(learn.candidates),
	 .meta = "N", .help = "new structures tracked for promotion"},
	{.name = "learn-examples", .kind = WEFT_OPT_U32, .off = R(learn.examples),
	 .meta = "N", .help = "example traces kept per new structure", .lo = 1},
	{.name = "learn-promote-periods", .kind = WEFT_OPT_U32,
	 .off = R(learn.promote_periods), .meta = "N", .lo = 1,
	 .help = "a new structure is learned after N consecutive periods ..."},
	{.name = "learn-promote-min", .kind = WEFT_OPT_U32, .off = R(learn.promote_min),
	 .meta = "N", .help = "... with at least N traces in each"},
	{.name = "learn-keep", .kind = WEFT_OPT_U32, .off = R(learn.keep),
	 .meta = "K", .help = "model versions kept (MODEL.vN)"},
	{.name = "learn-idle-ms", .kind = WEFT_OPT_U64, .off = R(learn.idle_ms),
	 .meta = "MS", .help = "no trace for MS ms ends the open period (0: only a "
	 "later trace does)"},
	{.name = "learn-buffer", .kind = WEFT_OPT_U32, .off = R(learn.buffer),
	 .meta = "N", .help = "traces waiting for the learner (more are dropped, counted)",
	 .lo = 1},
	{.name = "ingest-only", .kind = WEFT_OPT_FLAG, .off = R(ingest_only),
	 .help = "stop after the exchange: decode -> exchange -> count (measures "
	 "ingest alone; no traces are assembled)"},
	{0},
};
#undef R

static const struct weft_cmd replay_cmd = {
	.name = "weft replay",
	.usage = "[options] [FILE|-]",
	.about = "Reads trace events, X-Trace, OTLP or Zipkin (plain, gzip or zstd;\n"
	         "'-' or no FILE: stdin; the format recognised unless --format),\n"
	         "assembles each trace's DAG as epochs close and writes finished traces\n"
	         "as JSON lines (summary; --full adds nodes and edges). Counters on stderr.",
	.opts = replay_table,
	.min_pos = 0,
	.max_pos = 1,
};

/* The defaults, which --help shows. */
static void
replay_opts_init(struct replay_opts *o)
{
	memset(o, 0, sizeof *o);
	o->sample.size = 10000;
	o->sample.seed = 1;
	op_file_config_default(&o->file);
	op_decode_config_default(&o->dec.decode);
	o->dec.decode.keep_kv = 0; /* what reads the events (assembly) reads none */
	op_assemble_config_init(&o->as);
	op_trace_sink_config_init(&o->sink);
	op_peer_config_default(&o->peer);
	op_console_config_default(&o->console);
	o->report_max = 1000;
	o->report_heat_cells = 20000;
	op_learn_config_default(&o->learn);
	o->sink.dot_ids = o->dot_ids;
	o->default_dot_dir = o->sink.dot_dir;
	o->file.format = OP_FORMAT_AUTO;
	o->format = (int)o->file.format;
	o->compression = (int)o->file.compression;
	o->max_line = o->file.max_unit_bytes;
}

/* Reads argv into o: -1 to go on, else the exit status. */
static int
parse_args(int argc, char **argv, struct replay_opts *o)
{
	char **pos = calloc((size_t)argc + 1, sizeof *pos);
	int npos = 0;
	if (!pos)
		return 1;
	int rc = weft_opt_run(&replay_cmd, o, argc, argv, pos, &npos);
	const char *path = npos ? pos[0] : NULL;
	free(pos);
	if (rc >= 0)
		return rc;
	const char *usage_err = NULL;
	if ((o->anomalies_path || o->report_path) && !o->model_path)
		usage_err = "--anomalies and --report need --model";
	else if (o->console.addr && !o->model_path)
		usage_err = "--console needs --model";
	else if (o->hold && !o->console.addr)
		usage_err = "--hold needs --console";
	else if (o->learn.enabled && !o->model_path)
		usage_err = "--learn needs --model (the file it rewrites)";
	else if (o->learn.enabled && !o->learn.every_epochs && !o->learn.every_ms)
		usage_err = "--learn needs --learn-every-epochs or --learn-every-ms";
	else if (o->ingest_only && (o->model_path || o->sample_path))
		usage_err = "--ingest-only assembles nothing to check or sample";
	if (usage_err) {
		fprintf(stderr, "weft replay: %s\n", usage_err);
		return WEFT_OPT_EXIT_USAGE;
	}
	o->file.path = path ? path : "-";
	o->file.format = (enum op_format)o->format;
	o->file.compression = (enum op_compression)o->compression;
	o->file.shard = !o->no_shard;
	o->dec.decode.max_line_bytes = o->max_line;
	o->dec.decode.max_report_bytes = o->max_line;
	o->file.max_unit_bytes = op_decoder_max_unit(&o->dec.decode, o->file.format);
	o->dec.format = o->file.format;
	o->dec.source_name = o->file.path;
	return -1;
}

/* Every output path can be written (before anything is read or created):
 * 0, or -1 after a message naming the path. */
static int
check_outputs(const struct replay_opts *o)
{
	char err[4400];
	if ((o->sink.n_dot || o->sink.dot_dir != o->default_dot_dir) &&
	    cmd_check_dir(o->sink.dot_dir, err, sizeof err)) {
		fprintf(stderr, "weft replay: --dot-dir: %s\n", err);
		return -1;
	}
	const char *paths[][2] = {
		{"--out", o->no_out || o->ingest_only ? NULL : o->out_path},
		{"--dead-letters", o->dead_path},
		{"--anomalies", o->anomalies_path},
		{"--report", o->report_path},
		{"--sample", o->sample_path},
	};
	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
		if (paths[i][1] && cmd_check_writable(paths[i][1], err, sizeof err)) {
			fprintf(stderr, "weft replay: %s: %s\n", paths[i][0], err);
			return -1;
		}
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
	        "  bytes read        %llu in units; %llu input bytes mapped, %llu "
	        "read ahead by a helper (mapped or read; --no-mmap: neither)\n"
	        "  units             %llu\n"
	        "  events            %llu\n"
	        "  rejected          %llu\n",
	        o->file.path, workers,
	        (unsigned long long)atomic_load(&o->file.bytes),
	        (unsigned long long)atomic_load(&o->file.mapped_bytes),
	        (unsigned long long)atomic_load(&o->file.ahead_bytes),
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
	        "  incomplete traces %llu (%llu by the memory budget, %llu aged)\n"
	        "  end-label finish  %llu\n"
	        "  texts, places     %llu texts cut (--max-text-bytes) or not kept "
	        "(--max-texts), %llu events past --max-places\n"
	        "  peak open         %llu traces, %llu events\n"
	        "  peak RSS          %llu KiB (%.0f bytes per peak open event)\n"
	        "  slabs             %llu MiB at peak, %llu mapped by a worker "
	        "(%s)\n"
	        "  finish helper     %llu traces built beside the workers "
	        "(--finish-helper)\n"
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
	        (unsigned long long)atomic_load(&as->budget_evictions),
	        (unsigned long long)atomic_load(&as->aged),
	        (unsigned long long)atomic_load(&as->end_label_finishes),
	        (unsigned long long)atomic_load(&as->text_truncated),
	        (unsigned long long)atomic_load(&as->place_overflow),
	        (unsigned long long)atomic_load(&as->peak_open_traces),
	        (unsigned long long)atomic_load(&as->peak_open_events),
	        (unsigned long long)rss_kib,
	        atomic_load(&as->peak_open_events)
	            ? (double)rss_kib * 1024.0 / (double)atomic_load(&as->peak_open_events)
	            : 0.0,
	        (unsigned long long)(atomic_load(&as->peak_mapped_bytes) >> 20),
	        (unsigned long long)atomic_load(&as->slabs_mapped_inline),
	        op_assemble_slab_helper_runs(as, workers)
	            ? "none of --ready-slabs ready" : "no --slab-helper",
	        (unsigned long long)atomic_load(&as->finish_helped),
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

/* What a run holds, let go of by finish(). */
struct replay_run {
	struct op_deadletter *dl;
	FILE *out, *anom;
	int have_check, have_sample;
	struct engine *e;
	struct op_console *console;
};

/* The console's rate panels: what the assembler publishes as it runs. */
static void
replay_gauges(void *arg, struct op_console_gauges *g)
{
	const struct op_assemble_config *as = arg;
	g->open_bytes = atomic_load(&as->open_bytes);
}

/* Checks the configuration and the input, loads the model and opens every
 * output. -1 to go on, else the exit status. */
static int
prepare(struct replay_opts *o, struct replay_run *r)
{
	char err[512];
	if (op_decode_config_check(&o->dec.decode, err, sizeof err) ||
	    op_assemble_config_check(&o->as, err, sizeof err)) {
		fprintf(stderr, "weft replay: %s\n", err);
		return WEFT_OPT_EXIT_USAGE;
	}
	if (check_outputs(o))
		return 1;
	int rc = op_file_prepare(&o->file, err, sizeof err);
	if (rc) {
		fprintf(stderr, "weft replay: %s\n", err);
		return rc == WEFT_EINVAL ? WEFT_OPT_EXIT_USAGE : 1;
	}
	if (o->dead_path ? op_deadletter_open(o->dead_path, &r->dl)
	                 : op_deadletter_new(NULL, &r->dl)) {
		fprintf(stderr, "weft replay: cannot open dead-letter file '%s'\n",
		        o->dead_path);
		return 1;
	}
	o->dec.deadletter = r->dl;
	if (o->model_path) {
		if (op_check_config_init(&o->check, o->model_path, err, sizeof err)) {
			fprintf(stderr, "weft replay: %s\n", err);
			return 1;
		}
		r->have_check = 1;
		o->check.peer = o->peer;
		o->check.report_max = o->report_max;
		o->check.report_heat_cells = o->report_heat_cells;
		o->sink.check = &o->check;
		if (o->anomalies_path && !strcmp(o->anomalies_path, "-")) {
			o->check.anomalies = stdout;
		} else if (o->anomalies_path) {
			if (!(r->anom = fopen(o->anomalies_path, "w"))) {
				fprintf(stderr, "weft replay: cannot write '%s'\n", o->anomalies_path);
				return 1;
			}
			o->check.anomalies = r->anom;
		}
	}
	if (o->sample_path) {
		r->have_sample = 1;
		if (op_sample_open(&o->sample, o->sample_path)) {
			fprintf(stderr, "weft replay: cannot write sample file '%s'\n", o->sample_path);
			return 1;
		}
	}
	if (!o->no_out && !o->ingest_only) {
		if (!o->out_path || !strcmp(o->out_path, "-")) {
			o->sink.out = stdout;
		} else if (!(r->out = fopen(o->out_path, "w"))) {
			fprintf(stderr, "weft replay: cannot write '%s'\n", o->out_path);
			return 1;
		} else {
			o->sink.out = r->out;
		}
	}
	return -1;
}

/* Builds the graph, runs it and prints the summary: the exit status. */
static int
run(struct replay_opts *o, struct replay_run *r)
{
	char err[512];
	struct engine_config cfg;
	engine_config_default(&cfg);
	cfg.workers = o->workers;
	o->file.first_epoch = cfg.first_epoch;
	unsigned W = weft_workers_for(o->workers);
	/* Where each reading worker owns its input, the source decodes what
	 * it reads (op_file.c): no decode operator, no unit records. */
	int inline_dec = op_file_decodes_inline(&o->file, W);
	if (inline_dec)
		o->file.decode = &o->dec;
	struct cmd_graph spec = {
		.src_name = "file", .src_vt = &op_file_vtable, .src_arg = &o->file,
		.dec_arg = inline_dec ? NULL : &o->dec,
		.count = o->ingest_only ? &o->count : NULL,
		.as = &o->as,
		.check = r->have_check ? &o->check : NULL,
		.sample = r->have_sample ? &o->sample : NULL,
		.sink_name = "traces", .sink_vt = &op_trace_sink_vtable,
		.sink_arg = &o->sink,
	};
	struct engine_graph *g = cmd_graph_build(&spec);
	if (!g) {
		fprintf(stderr, "weft replay: cannot build the dataflow graph\n");
		return 1;
	}
	r->e = engine_new(g, &cfg, err, sizeof err);
	if (!r->e) {
		fprintf(stderr, "weft replay: %s\n", err);
		return 1;
	}
	int crc = o->console.addr
	          ? cmd_console_start("weft replay", &o->console, &o->check,
	                              engine_workers(r->e), replay_gauges, &o->as, &r->console)
	          : 0;
	if (crc)
		return crc;
	if (r->console) { /* before the engine runs: the workers read it */
		o->as.on_epoch_closed = op_prom_epoch_closed;
		o->as.on_epoch_closed_arg = op_console_epoch_close(r->console);
	}
	if (cmd_signals_install(r->e, r->have_check ? &o->check : NULL))
		fprintf(stderr, "weft replay: cannot start the model watcher; SIGHUP and file changes are ignored\n");
	if (o->learn.enabled &&
	    op_learn_start(&o->check, &o->learn, &o->learner, err, sizeof err)) {
		fprintf(stderr, "weft replay: %s\n", err);
		return 1;
	}
	o->check.learn = o->learner;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int rc = engine_run(r->e);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	op_learn_stop(o->learner, 1);
	op_learn_print_summary(o->learner, stderr);
	op_learn_free(o->learner);
	o->learner = o->check.learn = NULL;
	cmd_signals_restore();
	if (rc) {
		fprintf(stderr, "weft replay: engine start failed: %s\n",
		        weft_strerror(rc));
		return 1;
	}
	/* Operator totals are added when instances are destroyed, so take
	 * the engine's counters, free it, then report. */
	struct engine_stats st;
	engine_get_stats(r->e, &st);
	unsigned workers = engine_workers(r->e);
	engine_free(r->e);
	r->e = NULL;
	double secs = (double)(t1.tv_sec - t0.tv_sec) +
	              (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	print_summary(o, &st, workers, secs);
	int status = atomic_load(&o->file.io_errors) || atomic_load(&o->sink.write_errors) ? 1 : 0;
	if (cmd_no_event_hint("weft replay", &o->dec, o->file.format))
		status = 1;
	if (r->have_check) {
		op_check_print_summary(&o->check, stderr);
		if (atomic_load(&o->check.write_errors))
			status = 1;
		if (o->report_path) {
			if (op_check_write_report(&o->check, o->report_path)) {
				fprintf(stderr, "weft replay: cannot write report '%s'\n", o->report_path);
				status = 1;
			} else {
				fprintf(stderr, "  report            %s\n", o->report_path);
			}
		}
	}
	if (r->have_sample) {
		fprintf(stderr, "  sample            %llu of %llu finished traces -> %s\n",
		        (unsigned long long)atomic_load(&o->sample.written),
		        (unsigned long long)atomic_load(&o->sample.seen), o->sample_path);
	}
	if (r->console && o->hold) {
		/* a person or a test reads the outputs while the page is up */
		fflush(stdout);
		if (r->out)
			fflush(r->out);
		op_deadletter_flush(r->dl);
		if (o->check.anomalies)
			fflush(o->check.anomalies);
		cmd_console_hold("weft replay", r->console);
	}
	return status;
}

/* Closes what prepare() and run() opened; the final exit status. */
static int
finish(struct replay_opts *o, struct replay_run *r, int status)
{
	engine_free(r->e);
	if (r->out && fclose(r->out) != 0) {
		fprintf(stderr, "weft replay: error writing '%s'\n", o->out_path);
		status = 1;
	}
	if (o->sink.out == stdout)
		fflush(stdout);
	if (r->anom && fclose(r->anom) != 0) {
		fprintf(stderr, "weft replay: error writing '%s'\n", o->anomalies_path);
		status = 1;
	}
	if (o->check.anomalies == stdout)
		fflush(stdout);
	op_console_stop(r->console);
	if (r->have_check)
		op_check_config_destroy(&o->check);
	if (r->have_sample && op_sample_close(&o->sample)) {
		fprintf(stderr, "weft replay: error writing sample file '%s'\n", o->sample_path);
		status = 1;
	}
	op_deadletter_free(r->dl);
	op_assemble_config_destroy(&o->as);
	op_trace_sink_config_destroy(&o->sink);
	return status;
}

int
cmd_replay_main(int argc, char **argv)
{
	struct replay_opts o;
	replay_opts_init(&o);
	int status = parse_args(argc, argv, &o);
	if (status >= 0) {
		op_assemble_config_destroy(&o.as);
		op_trace_sink_config_destroy(&o.sink);
		return status;
	}
	struct replay_run r;
	memset(&r, 0, sizeof r);
	status = prepare(&o, &r);
	if (status < 0)
		status = run(&o, &r);
	return finish(&o, &r, status);
}
