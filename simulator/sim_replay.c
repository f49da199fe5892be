/*
 * sim_replay.c — `weft sim replay`: stream recorded JSON lines in recorded
 * order at a target pace, with optional perturbations.
 *
 * Two phases. First the whole emission order is computed from the seed
 * (sim_replay_schedule): a pure function of (cfg, n), so tests check the
 * reorder bound, the duplicate and late counts and the determinism without
 * any clock. Then the lines are written in that order through a sink,
 * paced by slot: the k-th line sent goes out at the time of the k-th slot,
 * where slot k is k/rate seconds (--rate), or the k-th input event's
 * recorded Timestamp divided by the speed-up (--speedup), plus jitter
 * (sim_replay_slots, as clock-free as the schedule). Perturbations
 * therefore move events between slots; the slot clock itself stays the
 * recorded one.
 *
 * Clock caveat: Timestamp in imported TraceBench data is an estimate (per-
 * host clocks are not synchronized; see docs/TRACEBENCH.md), anchored to
 * each trace's FirstSeen at one-second resolution, so --speedup reproduces
 * the coarse arrival shape, not exact inter-host gaps. Slots never go back
 * in time (a running maximum), so out-of-order Timestamps do not stall.
 *
 * Lines are copied verbatim (a duplicate is byte-identical, as a re-sent
 * report would be), bad ones included. The input is held in memory: one
 * buffer plus offsets. Only --speedup (Timestamp) and a Kafka key (TaskID)
 * look inside a line, through weft's ingest decoder (fields_of).
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "operators/ingest/decode.h"
#include "simulator/sim_internal.h"
#include "simulator/sim_ops.h"
#include "simulator/sim_replay.h"
#include "simulator/sim_spans.h"

void
sim_replay_defaults(struct sim_replay_cfg *c)
{
	memset(c, 0, sizeof(*c));
	c->late_delay = 100;
	c->seed = 1;
}

/* Independent streams per stage: turning one perturbation on does not
 * change the decisions of another. */
enum { STREAM_REORDER = 1, STREAM_LATE, STREAM_DUP, STREAM_JITTER };

static void
stream(struct sim_rng *g, uint64_t seed, int which)
{
	sim_rng_seed(g, seed * 0x9e3779b97f4a7c15ULL + (uint64_t)which);
}

/*
 * Reorder: a window holds the next N unsent events; each step sends a
 * random one, except that the oldest is forced out when it has waited
 * N - 1 steps. So every event leaves at most N - 1 positions late, and
 * (since the window holds only the next N) at most N - 1 early.
 */
static int
reorder(const struct sim_replay_cfg *cfg, size_t n, uint32_t *seq,
    struct sim_replay_stats *st)
{
	size_t w = cfg->reorder_window;
	for (size_t i = 0; i < n; i++)
		seq[i] = (uint32_t)i;
	if (w <= 1)
		return 0;
	uint32_t *win = malloc(w * sizeof(*win));
	if (!win)
		return WEFT_ENOMEM;
	struct sim_rng g;
	stream(&g, cfg->seed, STREAM_REORDER);
	size_t nw = 0, next = 0;
	for (size_t pos = 0; pos < n; pos++) {
		while (nw < w && next < n)
			win[nw++] = (uint32_t)next++;
		size_t old = 0;
		for (size_t i = 1; i < nw; i++)
			if (win[i] < win[old])
				old = i;
		size_t pick = win[old] + w - 1 <= pos ? old :
		    (size_t)sim_rng_below(&g, nw);
		seq[pos] = win[pick];
		if (seq[pos] != pos)
			st->reordered++;
		win[pick] = win[--nw];
	}
	free(win);
	return 0;
}

int
sim_replay_schedule(const struct sim_replay_cfg *cfg, size_t n,
    uint32_t *out, size_t *nout, struct sim_replay_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->in = n;
	uint32_t *seq = malloc((n + 1) * sizeof(*seq));
	uint32_t *held = malloc((n + 1) * sizeof(*held));
	size_t *rel = malloc((n + 1) * sizeof(*rel));
	int rc = 0;
	if (!seq || !held || !rel) {
		rc = WEFT_ENOMEM;
		goto out;
	}
	if ((rc = reorder(cfg, n, seq, st)))
		goto out;
	struct sim_rng gl, gd;
	stream(&gl, cfg->seed, STREAM_LATE);
	stream(&gd, cfg->seed, STREAM_DUP);
	/* held[] is a FIFO: release points grow with the hold time. */
	size_t hh = 0, ht = 0, sent = 0, k = 0;
	for (size_t i = 0; i <= n; i++) {
		uint32_t ev = 0;
		int have = 0;
		if (i < n) {
			ev = seq[i];
			if (cfg->late_rate > 0 && cfg->late_delay > 0 &&
			    sim_rng_unit(&gl) < cfg->late_rate) {
				held[ht] = ev;
				rel[ht++] = sent + cfg->late_delay;
				st->late++;
			} else {
				have = 1;
			}
		}
		/* emit the current event, then whatever it released; at the
		 * end of input, everything still held. */
		for (;;) {
			if (have) {
				have = 0;
				sent++;
			} else if (hh < ht && (i == n || rel[hh] <= sent)) {
				ev = held[hh++];
			} else {
				break;
			}
			out[k++] = ev;
			if (cfg->dup_rate > 0 && sim_rng_unit(&gd) < cfg->dup_rate) {
				out[k++] = ev;
				st->duplicates++;
			}
		}
	}
	*nout = k;
	st->out = k;
out:
	free(seq);
	free(held);
	free(rel);
	return rc;
}

/* ---- the command ------------------------------------------------------ */

struct lines {
	struct sim_buf text;
	size_t *off;     /* line i is text[off[i] .. off[i+1]) incl. '\n' */
	size_t n, cap;
};

static int
read_lines(const char *path, struct lines *L)
{
	gzFile g = !strcmp(path, "-") ? gzdopen(0, "rb") : gzopen(path, "rb");
	if (!g)
		return WEFT_EIO;
	int rc = 0;
	char chunk[1 << 16];
	int got;
	while ((got = gzread(g, chunk, sizeof(chunk))) > 0)
		if ((rc = sim_buf_append(&L->text, chunk, (size_t)got)))
			break;
	if (!rc && got < 0)
		rc = WEFT_EIO;
	gzclose(g);
	if (!rc && L->text.len && L->text.p[L->text.len - 1] != '\n')
		rc = sim_buf_append(&L->text, "\n", 1);
	for (size_t i = 0; !rc && i < L->text.len;) {
		char *nl = memchr(L->text.p + i, '\n', L->text.len - i);
		size_t end = (size_t)(nl - L->text.p) + 1;
		if (end - i > 1) { /* skip empty lines */
			if ((rc = sim_grow((void **)&L->off, &L->cap, L->n + 2,
			    sizeof(*L->off))))
				break;
			L->off[L->n++] = i;
			L->off[L->n] = end;
		}
		i = end;
	}
	return rc;
}

/*
 * What replay reads inside a line: TaskID (the Kafka key) and Timestamp
 * (--speedup), read by the ingest decoder like every line the simulator
 * reads, and only when needed (a plain replay never looks inside a line).
 * A line the decoder rejects is still sent, verbatim: its task is 0 and
 * it has no Timestamp.
 */
struct line_fields {
	uint64_t task;
	int64_t ts_ms;
	int has_ts;
};

static int
on_fields(void *arg, const struct op_event *ev, uint32_t len)
{
	struct line_fields *f = arg;
	(void)len;
	f->task = ev->trace_id;
	f->ts_ms = ev->wall_ms;
	f->has_ts = (ev->flags & OP_EV_HAS_WALL) != 0;
	return 0;
}

/* Fields of line p[0..len) (with its '\n'). */
static struct line_fields
fields_of(struct op_decoder *d, const char *p, size_t len)
{
	struct line_fields f = {0, 0, 0};
	struct op_unit u = {.data = p, .len = len - 1, .avail = len - 1};
	op_decoder_unit(d, &u, on_fields, &f);
	return f;
}

static double
now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void
sleep_until(double t)
{
	double d = t - now_s();
	if (d <= 0)
		return;
	struct timespec ts = {(time_t)d, (long)((d - (double)(time_t)d) * 1e9)};
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static void
progress(size_t k, size_t n, double t0)
{
	double el = now_s() - t0;
	int pct = n ? (int)(100.0 * (double)k / (double)n) : 100;
	char bar[41];
	memset(bar, ' ', 40);
	memset(bar, '#', (size_t)(pct * 40 / 100));
	bar[40] = '\0';
	fprintf(stderr, "\r[%s] %3d%% %zu/%zu events %.0f ev/s", bar, pct, k, n,
	    el > 0 ? (double)k / el : 0.0);
}

int
sim_replay_slots(const struct sim_replay_cfg *cfg, const char *text,
    const size_t *off, size_t n, double *slot)
{
	struct op_decoder *d = NULL;
	int rc;
	if (cfg->speedup > 0 && cfg->rate <= 0 &&
	    (rc = sim_decoder_new("replay", &d)))
		return rc;
	struct sim_rng gj;
	stream(&gj, cfg->seed, STREAM_JITTER);
	int64_t ts0 = 0;
	double last = 0;
	for (size_t i = 0; i < n; i++) {
		double t = 0;
		if (cfg->rate > 0) {
			t = (double)i / cfg->rate;
		} else if (d) {
			struct line_fields f = fields_of(d, text + off[i],
			    off[i + 1] - off[i]);
			int64_t ts = f.has_ts ? f.ts_ms : ts0;
			if (i == 0)
				ts0 = ts;
			t = (double)(ts - ts0) / 1000.0 / cfg->speedup;
		}
		if (cfg->jitter_ms > 0)
			t += sim_rng_unit(&gj) * cfg->jitter_ms / 1000.0;
		last = t > last ? t : last;
		slot[i] = last;
	}
	op_decoder_free(d);
	return 0;
}

/* need_task: the sink uses write()'s task (a Kafka key). */
static int
run_replay(const struct sim_replay_cfg *cfg, const struct lines *L,
    struct sim_sink *sink, int need_task, struct sim_replay_stats *st)
{
	uint32_t *order = malloc((2 * L->n + 1) * sizeof(*order));
	double *slot = malloc((L->n + 1) * sizeof(*slot));
	struct op_decoder *d = NULL;
	size_t nout = 0;
	int rc = 0;
	if (!order || !slot) {
		rc = WEFT_ENOMEM;
		goto out;
	}
	if ((need_task && (rc = sim_decoder_new("replay", &d))) ||
	    (rc = sim_replay_schedule(cfg, L->n, order, &nout, st)) ||
	    (rc = sim_replay_slots(cfg, L->text.p, L->off, L->n, slot)))
		goto out;
	int paced = cfg->rate > 0 || cfg->speedup > 0 || cfg->jitter_ms > 0;
	int tty = isatty(2);
	double t0 = now_s(), next_bar = 0;
	for (size_t k = 0; k < nout && !rc; k++) {
		size_t s = k < L->n ? k : L->n - 1;
		if (paced && t0 + slot[s] > now_s() + 0.001) {
			if ((rc = sink->flush(sink)))
				break;
			sleep_until(t0 + slot[s]);
		}
		const char *p = L->text.p + L->off[order[k]];
		size_t len = L->off[order[k] + 1] - L->off[order[k]];
		rc = sink->write(sink, p, len,
		    need_task ? fields_of(d, p, len).task : 0);
		if (tty && (k % 1024 == 0 || k + 1 == nout) && now_s() >= next_bar) {
			progress(k + 1, nout, t0);
			next_bar = now_s() + 0.25;
		}
	}
	if (tty)
		fputc('\n', stderr);
out:
	op_decoder_free(d);
	free(order);
	free(slot);
	return rc;
}

/* ---- the command line -------------------------------------------------- */

#define MAX_PROPS 64

static const char *const replay_to[] = {"file", "kafka", NULL};
static const char *const replay_formats[] = {"xtrace", "otlp-json",
                                             "otlp-proto", "zipkin", NULL};
static const enum op_format replay_fmt[] = {OP_FORMAT_JSON_V4,
    OP_FORMAT_OTLP_JSON, OP_FORMAT_OTLP_PROTO, OP_FORMAT_ZIPKIN};
static const char *const replay_key[] = {"trace", "none", NULL};

/* `weft sim replay` options; defaults from replay_opts_init(). */
struct replay_opts {
	struct sim_replay_cfg cfg;
	const char *out;           /* NULL: stdout */
	int to;                    /* index in replay_to */
	int key;                   /* index in replay_key */
	int format;                /* index in replay_formats */
	unsigned batch;            /* records per message (--batch) */
	const char *brokers, *topic;
	const char *props[MAX_PROPS];
	size_t nprops;
};

static void
replay_opts_init(struct replay_opts *o)
{
	memset(o, 0, sizeof(*o));
	sim_replay_defaults(&o->cfg);
	o->batch = 1;
}

/* -X / --producer-X: one more librdkafka property (the sink checks it). */
static int
replay_prop(void *target, const char *v, char *err, size_t errlen)
{
	struct replay_opts *o = target;
	if (o->nprops == MAX_PROPS) {
		weft_errf(err, errlen, "at most %d properties", MAX_PROPS);
		return WEFT_EINVAL;
	}
	o->props[o->nprops++] = v;
	return 0;
}

_Static_assert(sizeof(size_t) == sizeof(uint64_t),
    "--reorder-window and --late-delay are read as uint64_t");

#define RO(f) offsetof(struct replay_opts, f)
static const struct weft_opt replay_opts_tab[] = {
	{.name = "out", .alias = 'o', .kind = WEFT_OPT_STR, .off = RO(out), .meta = "OUT",
	 .help = "write the lines here, - for stdout (-o OUT too; default: "
	 "stdout)"},
	{.name = "rate", .kind = WEFT_OPT_DOUBLE, .off = RO(cfg.rate),
	 .meta = "EV_PER_S", .help = "pace: events per second (0: unpaced)",
	 .dlo = 0, .dhi = 1e12},
	{.name = "speedup", .kind = WEFT_OPT_DOUBLE, .off = RO(cfg.speedup),
	 .meta = "X", .help = "pace: recorded Timestamps divided by X (0: "
	 "unpaced; not with --rate)", .dlo = 0, .dhi = 1e9},
	{.name = "jitter-ms", .kind = WEFT_OPT_DOUBLE, .off = RO(cfg.jitter_ms),
	 .meta = "J", .help = "add uniform [0, J] ms to each event's slot",
	 .dlo = 0, .dhi = 86400000},
	{.name = "reorder-window", .kind = WEFT_OPT_U64,
	 .off = RO(cfg.reorder_window), .meta = "N", .help = "reorder within "
	 "N events (each moves fewer than N places; 0 or 1: in order)",
	 .hi = 1u << 24},
	{.name = "dup-rate", .kind = WEFT_OPT_DOUBLE, .off = RO(cfg.dup_rate),
	 .meta = "P", .help = "probability that an event is sent twice",
	 .dlo = 0, .dhi = 1},
	{.name = "late-rate", .kind = WEFT_OPT_DOUBLE, .off = RO(cfg.late_rate),
	 .meta = "P", .help = "probability that an event is held back "
	 "--late-delay events", .dlo = 0, .dhi = 1},
	{.name = "late-delay", .kind = WEFT_OPT_U64, .off = RO(cfg.late_delay),
	 .meta = "N", .help = "events a late event is held back",
	 .hi = UINT32_MAX},
	{.name = "seed", .kind = WEFT_OPT_U64, .off = RO(cfg.seed), .meta = "S",
	 .help = "random seed of every perturbation"},
	{.name = "format", .kind = WEFT_OPT_CHOICE, .off = RO(format), .meta = "F",
	 .help = "what each event is sent as: an X-Trace line, or one span in an "
	 "OTLP JSON or protobuf request or a Zipkin list (a file gets protobuf "
	 "size-prefixed)", .choices = replay_formats},
	{.name = "batch", .kind = WEFT_OPT_UINT, .off = RO(batch), .meta = "N",
	 .help = "records per message, in the order sent: with --format, spans "
	 "per OTLP or Zipkin request (keyed by the first one's trace); X-Trace "
	 "lines with --to kafka, up to N joined by newlines", .lo = 1,
	 .hi = 1u << 20},
	{.name = "reports-per-message", .kind = WEFT_OPT_UINT, .off = RO(batch),
	 .meta = "N", .help = "same as batch", .lo = 1, .hi = 1u << 20},
	{.name = "to", .kind = WEFT_OPT_CHOICE, .off = RO(to), .meta = "SINK",
	 .help = "where the lines go", .choices = replay_to},
	{.name = "brokers", .kind = WEFT_OPT_STR, .off = RO(brokers),
	 .meta = "HOST:PORT[,..]", .help = "Kafka bootstrap servers (--to kafka)"},
	{.name = "topic", .kind = WEFT_OPT_STR, .off = RO(topic), .meta = "NAME",
	 .help = "Kafka topic (--to kafka)"},
	{.name = "key", .kind = WEFT_OPT_CHOICE, .off = RO(key), .meta = "KEY",
	 .help = "message key (--to kafka)", .choices = replay_key},
	{.name = "producer-X", .alias = 'X', .kind = WEFT_OPT_FN, .meta = "KEY=VALUE",
	 .fn = replay_prop, .help = "a librdkafka producer property (-X "
	 "KEY=VALUE too; repeatable)"},
	{0},
};
static const struct weft_cmd replay_cmd = {
	.name = "weft sim replay",
	.usage = "IN.jsonl [--out OUT|-] [--to kafka --brokers HOST:PORT "
	    "--topic NAME] [options]",
	.about = "Streams recorded JSON lines (IN.jsonl, gzip or plain, - for "
	    "stdin) in recorded\norder at a target pace, with optional "
	    "reordering, duplicates and late events.",
	.opts = replay_opts_tab, .min_pos = 1, .max_pos = 1,
	.epilog = "--to kafka: one message per line (without its newline), or up to\n"
	    "--batch lines joined by newlines (each message to the "
	    "partition\nits lines' keys pick, without a key); "
	    "--key trace: key = trace id\nas 16 lowercase hex digits, none: no "
	    "key; -X: any librdkafka producer property,\napplied after the "
	    "defaults enable.idempotence=true, linger.ms=5.",
};

/* -1 and o filled (*in the input), or the exit status of a usage error or
 * --help. */
static int
replay_parse(int argc, char **argv, struct replay_opts *o, const char **in)
{
	char *pos[1];
	int npos = 0;
	replay_opts_init(o);
	int rc = weft_opt_run(&replay_cmd, o, argc, argv, pos, &npos);
	if (rc >= 0)
		return rc;
	*in = pos[0];
	int kafka = o->to == 1;
	if (o->cfg.rate > 0 && o->cfg.speedup > 0)
		return weft_opt_usage(&replay_cmd, "--rate and --speedup are "
		    "exclusive");
	if (kafka && o->out)
		return weft_opt_usage(&replay_cmd, "--out (-o) and --to kafka "
		    "are exclusive");
	if (kafka && (!o->brokers || !o->topic))
		return weft_opt_usage(&replay_cmd, "--to kafka needs %s",
		    o->brokers ? "--topic" : "--brokers");
	if (!kafka && (o->brokers || o->topic || o->nprops || o->key))
		return weft_opt_usage(&replay_cmd, "--brokers, --topic, -X "
		    "and --key need --to kafka");
	if (!kafka && !o->format && o->batch > 1)
		return weft_opt_usage(&replay_cmd, "--batch (--reports-per-"
		    "message) of X-Trace lines needs --to kafka (a file has "
		    "no messages)");
	return -1;
}

int
sim_cmd_replay(int argc, char **argv)
{
	struct replay_opts o;
	const char *in = NULL;
	int urc = replay_parse(argc, argv, &o, &in);
	if (urc >= 0)
		return urc;
	struct sim_replay_cfg cfg = o.cfg;
	struct sim_kafka_stats kst = {0, 0};
	struct sim_kafka_cfg kc = {o.brokers, o.topic, o.props, o.nprops,
	    o.key == 0, &kst, o.format ? 1u : o.batch};
	int kafka = o.to == 1;
	const char *out = o.out ? o.out : "-";
	/* A Kafka sink first: a bad property fails before any reading. */
	struct sim_sink *sink = NULL;
	if (kafka) {
		char err[512];
		int krc = sim_sink_kafka_open(&kc, &sink, err, sizeof(err));
		if (krc) {
			fprintf(stderr, "weft sim replay: %s\n", err);
			return krc == WEFT_EINVAL ? 2 : 1;
		}
	}
	struct lines L = {{0}, NULL, 0, 0};
	int rc = read_lines(in, &L);
	if (rc) {
		fprintf(stderr, "weft sim replay: %s: %s\n", in, weft_strerror(rc));
		sim_buf_free(&L.text);
		free(L.off);
		if (sink)
			sink->close(sink);
		return 1;
	}
	if (!kafka)
		sink = sim_sink_file_open(out);
	if (sink && o.format)
		sink = sim_sink_spans(sink, replay_fmt[o.format], kafka, o.batch);
	struct sim_replay_stats st;
	memset(&st, 0, sizeof(st));
	if (!sink) {
		fprintf(stderr, "weft sim replay: %s: %s\n", out, strerror(errno));
		rc = WEFT_EIO;
	} else {
		rc = run_replay(&cfg, &L, sink, kafka && kc.key_trace, &st);
		int crc = sink->close(sink);
		rc = rc ? rc : crc;
	}
	sim_buf_free(&L.text);
	free(L.off);
	if (kafka)
		fprintf(stderr, "weft sim replay: kafka: %" PRIu64 " messages "
		    "delivered to %s\n", kst.delivered, kc.topic);
	if (rc) {
		fprintf(stderr, "weft sim replay: %s\n", weft_strerror(rc));
		return 1;
	}
	fprintf(stderr, "weft sim replay: %zu in, %zu out, %zu reordered, "
	    "%zu duplicates, %zu late\n", st.in, st.out, st.reordered,
	    st.duplicates, st.late);
	return 0;
}
