/*
 * op_file.c — the file source: X-Trace reports from a file or standard
 * input, plain, gzip or zstd, cut into units (JSON lines or text reports)
 * and emitted as op_unit_rec records with their byte offset and line.
 *
 * Sharding. A plain regular JSON-lines file is cut into stripes of
 * stripe_bytes; worker w reads stripes w, w + W, w + 2W, ... and owns the
 * lines whose first byte lies in its stripes. For each stripe it starts
 * reading one byte early (if that byte is not a newline, the first,
 * partial, line belongs to the previous stripe) and reads past the end
 * only to finish its last line. Every line is read by exactly one worker,
 * and input is not a single-thread bottleneck. Striping, rather than one
 * contiguous range per worker, keeps the workers at nearly the same
 * position, hence the same epochs: downstream, events of epochs ahead of
 * the frontier must wait (see op_assemble.c), and with contiguous halves
 * the whole second half would. Line numbers are only known for the first
 * stripe; others report line 0 and the byte offset, which is exact.
 *
 * Read-ahead. Striping alone does not keep a worker from running ahead
 * (one may be descheduled, or slowed by the assembly its traces need),
 * and what it reads ahead of the slowest worker's epoch waits, copied,
 * in the assembler's stash: at W = 2 peak RSS varied from run to run with
 * it. So a worker opens stripe k only when k < done + W + 1, done being
 * the stripes all workers have read to their end (one shared counter):
 * it is at most about two stripes ahead of the slowest. The worker with
 * the lowest pending stripe always may go on (every stripe below it is
 * done or being read, at most W - 1 of them), so the bound cannot block
 * every worker.
 *
 * Anything else (compressed data, a pipe, text reports) is read by worker
 * 0 alone; the graph then spreads units over the workers through an
 * exchange on op_unit_key so decoding still runs in parallel.
 *
 * Reading. A plain regular file read to its end goes through op_map.c.
 * Where one worker reads it whole, a helper thread reads it ahead into
 * two buffers when it has a core of its own (read_ahead, enum
 * weft_helper; else the reading thread maps it, as sharded readers do). Sharded readers map
 * their stripes while the pages are in the page cache (a file cut short
 * under the mapping is a counted read error, not a SIGBUS); from the
 * first window that is not, an op_reader reads on. Compressed input,
 * pipes, live (epoch_ms) files and no_mmap go through an op_reader.
 *
 * Inline decoding (cfg->decode): where every reading worker owns what it
 * reads (one worker, or a sharded file), the source decodes each unit the
 * moment the splitter cuts it, straight from the read buffer, and emits
 * the op_event records. This is the decode operator fused in: a unit is
 * not copied into a record and a batch only to be decoded by the next
 * operator on the same thread.
 *
 * Epochs (the ingest clock): for regular files a unit's byte offset
 * divided by epoch_bytes (see operators.h: position-based, so identical
 * for every shard layout); for streams epoch_units units per epoch; or
 * wall-clock epochs of epoch_ms since op_file_prepare() for live streams,
 * where quiet periods still close epochs.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "operators/ingest/ingest.h"

#define FILE_READ_CAP (256u * 1024u)
#define FILE_MAP_SLICE (1u << 20) /* op_map bytes fed per poll */
#define FILE_STOP (-1000) /* splitter callback: past the end of our range */

/* --format auto on a stream: bytes looked at to choose the splitter. */
#define SNIFF_BYTES 64

struct file_inst {
	struct op_file_config *cfg;
	struct engine_ctx *ctx; /* valid during poll */
	struct op_reader *rd;
	struct op_map *map; /* instead of rd: a plain file (op_map.c) */
	struct op_splitter *sp;
	struct op_inline_decoder dec; /* inline decoding (cfg->decode) */
	unsigned char *buf;
	unsigned char *rec; /* header + max_unit_bytes */
	int active;
	int sharded;
	uint64_t base;       /* input offset of the reader's first byte */
	uint64_t begin, end; /* owned unit starts (current stripe) */
	uint64_t size;       /* file size (sharded) */
	uint64_t stripe;     /* current stripe index (sharded) */
	int stripe_wait;     /* stripe is not open yet: it waits for the others */
	uint64_t hop;        /* size-prefixed stripes: a known message start */
	size_t head;         /* auto on a stream: bytes read before the
	                      * splitter was chosen (at buf's start) */
	unsigned workers;
	uint64_t units, bytes, mapped_bytes, ahead_bytes;
	uint64_t epoch;      /* epoch of the units being emitted */
	uint64_t epoch_at;   /* byte offset or unit count where the epoch
	                      * after it begins (epoch_ms = 0); dividing per
	                      * unit cost 1.7 % of a worker */
	int io_error;
};

static uint64_t
now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void
op_file_config_default(struct op_file_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->path = "-";
	cfg->format = OP_FORMAT_JSON_V4;
	cfg->compression = OP_COMP_AUTO;
	cfg->epoch_units = 65536;
	cfg->epoch_ms = 0;
	cfg->max_unit_bytes = 64 * 1024;
	cfg->shard = 1;
	cfg->stripe_bytes = 4u << 20;
	cfg->split = -1;
}

/* The splitter mode: as prepared, else the format's (-1: auto, not yet
 * known). */
static int
split_of(const struct op_file_config *cfg)
{
	if (cfg->split >= 0 || cfg->format == OP_FORMAT_AUTO)
		return cfg->split;
	return (int)op_format_split_mode(cfg->format, NULL, 0);
}

/* What the sample of the input holds: complete units, their bytes, and
 * the events in them (a span format's message holds many). */
struct sample {
	const struct op_file_config *cfg;
	struct op_decoder *d; /* counts spans; no dead letters */
	uint64_t all;  /* every unit, cut or not */
	uint64_t units, bytes, events; /* whole units of a span format */
};

static int
count_event(void *arg, const struct op_event *ev, uint32_t len)
{
	(void)ev;
	(void)len;
	++*(uint64_t *)arg;
	return 0;
}

static int
count_unit(void *arg, const struct op_unit *u)
{
	struct sample *c = arg;
	c->all++;
	if (u->flags & (OP_UNIT_TRUNCATED | OP_UNIT_TOO_LONG))
		return 0; /* cut by the end of the sample */
	enum op_format f = c->cfg->format == OP_FORMAT_AUTO
	                   ? op_format_sniff(u->data, u->avail) : c->cfg->format;
	if (op_format_spans(f) && c->d) {
		struct op_unit one = *u;
		one.format = 1u + f;
		c->units++;
		c->bytes += u->len;
		op_decoder_unit(c->d, &one, count_event, &c->events);
	}
	return 0;
}

/* epoch_bytes = epoch_units x the average bytes per event over the
 * first MiB (up to 64 MiB until a unit is seen): about epoch_units events
 * per epoch, whether a unit is one report (bytes / units, as always) or
 * a message of many spans (bytes of whole messages / their spans). */
static int
sample_epoch_bytes(struct op_file_config *cfg, char *errstr, size_t errlen)
{
	struct op_reader *r;
	struct op_splitter *sp;
	if (op_reader_open(cfg->path, cfg->compression, 0, &r)) {
		snprintf(errstr, errlen, "input: cannot read '%s'", cfg->path);
		return WEFT_EIO;
	}
	int rc = op_splitter_new((enum op_split_mode)split_of(cfg),
	                         cfg->max_unit_bytes, &sp);
	if (rc) {
		op_reader_free(r);
		return rc;
	}
	struct sample c = {.cfg = cfg};
	struct op_decode_config dc;
	op_decode_config_default(&dc);
	dc.max_message_bytes = cfg->max_unit_bytes;
	op_decoder_new(OP_FORMAT_AUTO, &dc, NULL, NULL, &c.d); /* NULL: units */
	char buf[64 * 1024];
	uint64_t bytes = 0;
	while (bytes < (1u << 20) || (!c.all && bytes < (64u << 20))) {
		ssize_t n = op_reader_read(r, buf, sizeof buf);
		if (n <= 0)
			break;
		op_splitter_feed(sp, buf, (size_t)n, count_unit, &c);
		bytes += (uint64_t)n;
	}
	op_splitter_finish(sp, count_unit, &c);
	op_splitter_free(sp);
	op_reader_free(r);
	op_decoder_free(c.d);
	/* one event per unit (X-Trace), or the spans of the messages */
	uint64_t avg = c.events ? c.bytes / c.events
	                        : c.all ? bytes / c.all : (bytes ? bytes : 1);
	if (avg == 0)
		avg = 1;
	cfg->epoch_bytes = cfg->epoch_units * avg;
	return 0;
}

/* --format auto on a regular file: the splitter its first bytes need. */
static int
sniff_split(struct op_file_config *cfg)
{
	struct op_reader *r;
	if (op_reader_open(cfg->path, cfg->compression, 0, &r))
		return WEFT_EIO;
	char head[256];
	size_t n = 0;
	while (n < sizeof head) {
		ssize_t k = op_reader_read(r, head + n, sizeof head - n);
		if (k <= 0)
			break;
		n += (size_t)k;
	}
	op_reader_free(r);
	cfg->split = (int)op_format_split_mode(OP_FORMAT_AUTO, head, n);
	return 0;
}

int
op_file_prepare(struct op_file_config *cfg, char *errstr, size_t errlen)
{
	if (!cfg->path || !*cfg->path) {
		snprintf(errstr, errlen, "input: no path given");
		return WEFT_EINVAL;
	}
	if (!cfg->epoch_ms && !cfg->epoch_units) {
		snprintf(errstr, errlen,
		         "epoch_units: must be > 0 (or set epoch_ms)");
		return WEFT_EINVAL;
	}
	if (cfg->shard && cfg->stripe_bytes < 4096) {
		snprintf(errstr, errlen, "stripe_bytes: must be at least 4096");
		return WEFT_EINVAL;
	}
	if (cfg->max_unit_bytes < 64) {
		snprintf(errstr, errlen, "max_unit_bytes: must be at least 64");
		return WEFT_EINVAL;
	}
	uint64_t size;
	int regular;
	enum op_compression comp;
	if (op_reader_file_info(cfg->path, &size, &regular, &comp)) {
		snprintf(errstr, errlen, "input: cannot open '%s'", cfg->path);
		return WEFT_EIO;
	}
	cfg->t0_ns = now_ns();
	cfg->epoch_bytes = 0;
	atomic_store(&cfg->stripes_done, 0);
	/* read by op_map (mapped while in the page cache) before an
	 * op_reader: a plain regular file read to its end, not followed live */
	cfg->plain = !cfg->no_mmap && !cfg->epoch_ms && regular &&
	             comp == OP_COMP_NONE &&
	             (cfg->compression == OP_COMP_AUTO ||
	              cfg->compression == OP_COMP_NONE);
	cfg->split = cfg->format == OP_FORMAT_AUTO ? -1 :
	             (int)op_format_split_mode(cfg->format, NULL, 0);
	if (cfg->split < 0 && regular) {
		int rc = sniff_split(cfg);
		if (rc) {
			snprintf(errstr, errlen, "input: cannot read '%s'", cfg->path);
			return rc;
		}
	}
	if (cfg->split < 0 && !cfg->epoch_ms && regular)
		cfg->split = OP_SPLIT_LINES;
	if (!cfg->epoch_ms && regular)
		return sample_epoch_bytes(cfg, errstr, errlen);
	return 0;
}

int
op_file_sharded(const struct op_file_config *cfg, unsigned workers)
{
	uint64_t size;
	int regular;
	enum op_compression comp;
	if (!cfg->shard || workers < 2 ||
	    (split_of(cfg) != OP_SPLIT_LINES && split_of(cfg) != OP_SPLIT_LEN32) ||
	    cfg->format == OP_FORMAT_TEXT || strcmp(cfg->path, "-") == 0)
		return 0;
	if (cfg->compression != OP_COMP_AUTO && cfg->compression != OP_COMP_NONE)
		return 0;
	if (op_reader_file_info(cfg->path, &size, &regular, &comp))
		return 0;
	return regular && comp == OP_COMP_NONE;
}

int
op_file_decodes_inline(const struct op_file_config *cfg, unsigned workers)
{
	return workers <= 1 || op_file_sharded(cfg, workers);
}

uint64_t
op_unit_key(const void *rec, uint32_t len, void *arg)
{
	(void)len;
	(void)arg;
	const struct op_unit_rec *u = rec;
	return u->seq;
}

/* Size-prefixed messages have no mark to find a message's start from
 * the middle of the file: hop from message to message, reading only
 * their 4-byte sizes, from s->hop to the first start at or after `at`. */
static uint64_t
frame_at(struct file_inst *s, uint64_t at)
{
	int fd = open(s->cfg->path, O_RDONLY | O_CLOEXEC);
	uint64_t off = s->hop;
	unsigned char h[4];
	while (fd >= 0 && off < at) {
		if (pread(fd, h, 4, (off_t)off) != 4) {
			off = s->size; /* cut short: the reader finds out */
			break;
		}
		off += 4 + ((uint64_t)h[0] << 24 | (uint64_t)h[1] << 16 |
		            (uint64_t)h[2] << 8 | h[3]);
	}
	if (fd >= 0)
		close(fd);
	s->hop = off < s->size ? off : s->size;
	return s->hop;
}

/* s->sp for mode; decoding here, the decoder tells it where each line
 * ends (op_decoder_line_ends), so a line's bytes are walked once. */
static int
file_splitter(struct file_inst *s, enum op_split_mode mode)
{
	int rc = op_splitter_new(mode, s->cfg->max_unit_bytes, &s->sp);
	if (rc == 0 && s->dec.d)
		op_decoder_line_ends(s->dec.d, s->sp);
	return rc;
}

/* Opens stripe s->stripe (reader from one byte before it, fresh
 * splitter). Returns 0, FILE_STOP when the stripe lies past the end of
 * the file, or a WEFT_E* code. */
static int
stripe_open(struct file_inst *s)
{
	uint64_t S = s->cfg->stripe_bytes;
	int mode = split_of(s->cfg);
	op_reader_free(s->rd);
	op_map_free(s->map);
	op_splitter_free(s->sp);
	s->rd = NULL;
	s->map = NULL;
	s->sp = NULL;
	for (;;) {
		if (s->stripe * S >= s->size && !(s->stripe == 0 && s->size == 0))
			return FILE_STOP;
		s->begin = s->stripe * S;
		s->end = s->begin + S < s->size ? s->begin + S : s->size;
		s->base = s->begin ? s->begin - 1 : 0;
		if (mode != OP_SPLIT_LEN32)
			break;
		/* the stripe's first message start; none: the next stripe */
		s->begin = s->base = frame_at(s, s->begin);
		if (s->begin < s->end || s->begin == 0)
			break;
		/* a stripe with no message start is done at once: count it, or
		 * the read-ahead bound would wait for it forever */
		atomic_fetch_add_explicit(&s->cfg->stripes_done, 1,
		                          memory_order_relaxed);
		s->stripe += s->workers;
	}
	int rc = WEFT_EIO;
	if (s->cfg->plain)
		rc = op_map_open(s->cfg->path, s->base, s->end, 0, &s->map);
	if (rc)
		rc = op_reader_open_range(s->cfg->path, s->base, s->size, &s->rd);
	if (rc == 0)
		rc = file_splitter(s, (enum op_split_mode)mode);
	return rc;
}

static int
file_init(struct engine_ctx *ctx, void *arg, void **state)
{
	struct op_file_config *cfg = arg;
	unsigned w = engine_ctx_worker(ctx), W = engine_ctx_workers(ctx);
	struct file_inst *s = calloc(1, sizeof *s);
	if (!s)
		return WEFT_ENOMEM;
	*state = s;
	s->cfg = cfg;
	s->epoch = cfg->first_epoch;
	s->sharded = op_file_sharded(cfg, W);
	s->active = s->sharded || w == 0;
	if (!s->active)
		return 0;
	int rc;
	s->workers = W;
	if (cfg->decode) { /* before the splitters (file_splitter) */
		if (!op_file_decodes_inline(cfg, W))
			return WEFT_EINVAL; /* the graph needs a decode operator */
		rc = op_inline_decoder_init(&s->dec, cfg->decode);
		if (rc)
			return rc;
	}
	if (s->sharded) {
		int regular;
		enum op_compression comp;
		if (op_reader_file_info(cfg->path, &s->size, &regular, &comp))
			return WEFT_EIO;
		s->stripe = w;
		rc = stripe_open(s);
		if (rc == FILE_STOP) /* no stripe for this worker: tiny file */
			s->active = 0;
		else if (rc)
			return rc;
	} else {
		s->begin = 0;
		s->end = UINT64_MAX;
		rc = cfg->plain ? op_map_open(cfg->path, 0, UINT64_MAX,
		                               weft_helper_wanted(cfg->read_ahead,
		                                                  s->workers,
		                                                  weft_cores()),
		                               &s->map)
		                : WEFT_EIO;
		if (rc)
			rc = op_reader_open(cfg->path, cfg->compression,
			                    cfg->epoch_ms != 0, &s->rd);
		if (rc)
			return rc;
		if (split_of(cfg) >= 0) { /* else at the first bytes (file_poll) */
			rc = file_splitter(s, (enum op_split_mode)split_of(cfg));
			if (rc)
				return rc;
		}
	}
	s->buf = malloc(FILE_READ_CAP);
	if (!cfg->decode) /* unit records only when not decoding here */
		s->rec = malloc(sizeof(struct op_unit_rec) + cfg->max_unit_bytes + 8);
	if (!s->buf || (!cfg->decode && !s->rec))
		return WEFT_ENOMEM;
	return 0;
}

/* The epoch of the unit at byte offset or unit count at (epoch_bytes or
 * epoch_units), past s->epoch_at: advances the source to it and notes
 * where the next one begins. A unit before epoch_at is in no later epoch
 * than the one this last computed, so skipping it changes nothing. */
static void
unit_epoch(struct file_inst *s, uint64_t at)
{
	const struct op_file_config *cfg = s->cfg;
	uint64_t step = cfg->epoch_bytes ? cfg->epoch_bytes : cfg->epoch_units;
	uint64_t e = cfg->first_epoch + at / step;
	if (e > s->epoch) {
		engine_source_advance(s->ctx, e);
		s->epoch = e;
	}
	s->epoch_at = (at / step + 1) * step;
}

static int
unit_cb(void *arg, const struct op_unit *u)
{
	struct file_inst *s = arg;
	const struct op_file_config *cfg = s->cfg;
	uint64_t abs = s->base + u->pos.offset;
	if (s->sharded) {
		if (abs < s->begin)
			return 0; /* tail of a line the previous shard owns */
		if (abs >= s->end)
			return FILE_STOP;
	}
	if (!cfg->epoch_ms) {
		uint64_t at = cfg->epoch_bytes ? abs : s->units;
		if (at >= s->epoch_at)
			unit_epoch(s, at);
	}
	size_t avail = u->avail;
	if (avail > cfg->max_unit_bytes)
		avail = cfg->max_unit_bytes;
	struct op_unit su = {
		.data = u->data,
		.len = u->len > UINT32_MAX ? UINT32_MAX : u->len,
		.avail = avail,
		.pos = {.offset = abs, .line = s->begin > 0 ? 0 : u->pos.line},
		.flags = u->flags,
	};
	op_source_unit(s->ctx, s->epoch, &su, s->units,
	               cfg->decode ? &s->dec : NULL, s->rec);
	s->units++;
	s->bytes += u->len;
	return 0;
}

/* Opens the stripe that waits, once the read-ahead bound allows it. */
static enum engine_poll
open_waiting_stripe(struct file_inst *s)
{
	uint64_t done = atomic_load_explicit(&s->cfg->stripes_done,
	                                     memory_order_relaxed);
	/* a stripe past the end is no reading ahead: stop at once, so the
	 * frontier does not wait for this worker */
	if (s->stripe * s->cfg->stripe_bytes < s->size &&
	    s->stripe >= done + s->workers + 1) {
		engine_source_idle_hint(s->ctx, 200);
		return ENGINE_POLL_IDLE;
	}
	s->stripe_wait = 0;
	int rc = stripe_open(s);
	if (rc == FILE_STOP)
		return ENGINE_POLL_DONE;
	if (rc) {
		s->io_error = 1;
		fprintf(stderr, "weft: cannot reopen '%s' for the next stripe\n",
		        s->cfg->path);
		return ENGINE_POLL_DONE;
	}
	return ENGINE_POLL_DATA;
}

/* The current stripe is done: go on with this worker's next one. */
static enum engine_poll
next_stripe(struct file_inst *s)
{
	atomic_fetch_add_explicit(&s->cfg->stripes_done, 1, memory_order_relaxed);
	s->stripe += s->workers;
	s->stripe_wait = 1;
	return open_waiting_stripe(s);
}

/* file_poll from a mapping: the same steps as from a reader, with the
 * file shrinking under the mapping caught as an I/O error. */
static enum engine_poll
map_poll(struct file_inst *s)
{
	const unsigned char *p = NULL;
	ssize_t n = op_map_next(s->map, FILE_MAP_SLICE, &p);
	if (n == OP_MAP_COLD) { /* read on from here (op_map.c says why) */
		uint64_t at = op_map_pos(s->map);
		op_map_free(s->map);
		s->map = NULL;
		if (op_reader_open_range(s->cfg->path, at,
		                         s->sharded ? s->size : UINT64_MAX, &s->rd) == 0)
			return ENGINE_POLL_DATA;
		n = WEFT_EIO;
	}
	if (n < 0) {
		s->io_error = 1;
		fprintf(stderr, "weft: cannot %s '%s'\n",
		        op_map_reads_ahead(s->map) ? "read" : "map", s->cfg->path);
	}
	if (n <= 0) {
		op_splitter_finish(s->sp, unit_cb, s);
		return s->sharded && n == 0 ? next_stripe(s) : ENGINE_POLL_DONE;
	}
	if (op_map_reads_ahead(s->map))
		s->ahead_bytes += (uint64_t)n;
	else
		s->mapped_bytes += (uint64_t)n;
	op_map_guard_begin(s->map);
	int rc = op_splitter_feed(s->sp, p, (size_t)n, unit_cb, s);
	if (op_map_guard_end()) {
		s->io_error = 1;
		fprintf(stderr, "weft: '%s' shrank while it was read\n",
		        s->cfg->path);
		return ENGINE_POLL_DONE;
	}
	return rc == FILE_STOP ? next_stripe(s) : ENGINE_POLL_DATA;
}

static enum engine_poll
file_poll(void *state, struct engine_ctx *ctx)
{
	struct file_inst *s = state;
	const struct op_file_config *cfg = s->cfg;
	if (!s->active || engine_ctx_stopping(ctx))
		return ENGINE_POLL_DONE;
	s->ctx = ctx;
	if (cfg->epoch_ms) {
		uint64_t e = cfg->first_epoch +
		             (now_ns() - cfg->t0_ns) / (cfg->epoch_ms * 1000000ull);
		if (e > s->epoch) {
			engine_source_advance(ctx, e);
			s->epoch = e;
		}
	}
	if (s->stripe_wait)
		return open_waiting_stripe(s);
	if (s->map)
		return map_poll(s);
	/* --format auto on a stream: the splitter waits for the first
	 * SNIFF_BYTES (or the end), kept at the start of buf */
	ssize_t n = op_reader_read(s->rd, s->buf + s->head,
	                           FILE_READ_CAP - s->head);
	if (n == OP_READ_AGAIN) {
		engine_source_idle_hint(ctx, 1000);
		return ENGINE_POLL_IDLE;
	}
	if (n < 0) {
		s->io_error = 1;
		fprintf(stderr, "weft: read error on '%s': %s\n", cfg->path,
		        n == WEFT_EFORMAT ? "corrupt compressed data"
		                          : "I/O error");
	}
	if (!s->sp) {
		s->head += n > 0 ? (size_t)n : 0;
		if (n > 0 && s->head < SNIFF_BYTES)
			return ENGINE_POLL_DATA;
		if (file_splitter(s, op_format_split_mode(OP_FORMAT_AUTO, s->buf,
		                                          s->head))) {
			s->io_error = 1;
			return ENGINE_POLL_DONE;
		}
		if (s->head) { /* what was read so far, then the end if n <= 0 */
			n = (ssize_t)s->head;
			s->head = 0;
			if (op_splitter_feed(s->sp, s->buf, (size_t)n, unit_cb, s) ==
			    FILE_STOP)
				return next_stripe(s);
			return ENGINE_POLL_DATA; /* the end comes with the next read */
		}
	}
	if (n <= 0) {
		/* End of input (or an error): a pending unit is emitted or, if
		 * cut short, flagged truncated for the decoder to dead-letter. */
		if (s->sp)
			op_splitter_finish(s->sp, unit_cb, s);
		return s->sharded && n == 0 ? next_stripe(s) : ENGINE_POLL_DONE;
	}
	if (op_splitter_feed(s->sp, s->buf, (size_t)n, unit_cb, s) == FILE_STOP)
		return next_stripe(s);
	return ENGINE_POLL_DATA;
}

static void
file_destroy(void *state)
{
	struct file_inst *s = state;
	if (!s)
		return;
	atomic_fetch_add(&s->cfg->units, s->units);
	atomic_fetch_add(&s->cfg->bytes, s->bytes);
	atomic_fetch_add(&s->cfg->mapped_bytes, s->mapped_bytes);
	atomic_fetch_add(&s->cfg->ahead_bytes, s->ahead_bytes);
	atomic_fetch_add(&s->cfg->io_errors, (uint64_t)s->io_error);
	op_inline_decoder_free(&s->dec);
	op_reader_free(s->rd);
	op_map_free(s->map);
	op_splitter_free(s->sp);
	free(s->buf);
	free(s->rec);
	free(s);
}

const struct engine_op_vtable op_file_vtable = {
	.init = file_init,
	.poll = file_poll,
	.destroy = file_destroy,
};
