/*
 * op_sample.c — training samples: a sink that keeps a uniform sample of
 * finished traces (reservoir sampling, Vitter's algorithm R, per worker)
 * and writes them to a sample file that `weft train` reads.
 *
 * Uniform across the stream: traces are spread over workers by a hash of
 * their id, so each worker sees a uniform share; worker w keeps
 * size / W (+1 for the first size % W workers) traces of its share, each
 * finished trace with equal probability. Fragments (late amendments,
 * traces cut by a limit) are not sampled: they would teach the model
 * shapes that are not whole traces.
 *
 * File: "WEFTSMP3" (3 since op_trace gained its source tag), then per
 * trace a u32 length and the op_trace record (relocatable bytes, as the
 * engine carries it), padded to 8 bytes.
 * Records are written when the workers finish (under the config's lock),
 * so a sample file is complete only after the run.
 *
 * Memory: the reservoir holds whole records, about 60 bytes per event
 * (10,000 HDFS traces of 350 events: about 200 MB).
 */
#include <stdlib.h>
#include <string.h>

#include "operators/check/check.h"
#include "operators/check/check_int.h"

/* '2': op_trace gained last_ns; files of version 1 are refused by name. */
static const char SMP_MAGIC[8] = {'W', 'E', 'F', 'T', 'S', 'M', 'P', '3'};

struct sample_inst {
	struct op_sample_config *cfg;
	uint64_t cap, seen, rng;
	struct op_trace **keep;
	uint64_t n;
	size_t cap_keep; /* slots of keep */
};

static int
sample_init(struct engine_ctx *ctx, void *arg, void **state)
{
	struct sample_inst *s = calloc(1, sizeof *s);
	if (!s)
		return WEFT_ENOMEM;
	*state = s;
	s->cfg = arg;
	unsigned w = engine_ctx_worker(ctx), W = engine_ctx_workers(ctx);
	s->cap = s->cfg->size ? s->cfg->size / W + (w < s->cfg->size % W) : UINT64_MAX;
	s->rng = s->cfg->seed * 0x100000001b3ull + w + 1;
	return 0;
}

static void
sample_batch(void *state, struct engine_ctx *ctx, unsigned port,
             const struct engine_batch *b)
{
	(void)ctx;
	(void)port;
	struct sample_inst *s = state;
	struct engine_batch_cursor c = ENGINE_BATCH_CURSOR_INIT;
	const void *r;
	uint32_t len;
	while ((r = engine_batch_next(b, &c, &len))) {
		const struct op_trace *t = r;
		if (t->flags & (OP_TRACE_LATE | OP_TRACE_INCOMPLETE | OP_TRACE_TRUNCATED))
			continue;
		s->seen++;
		uint64_t slot;
		if (s->n < s->cap) {
			slot = s->n;
		} else {
			slot = op_next_rand(&s->rng) % s->seen;
			if (slot >= s->cap)
				continue;
		}
		struct op_trace *copy = malloc(len);
		if (!copy) {
			atomic_fetch_add(&s->cfg->errors, 1);
			continue;
		}
		memcpy(copy, t, len);
		if (slot == s->n) {
			if (WEFT_GROW(s->keep, s->cap_keep, s->n + 1, 64)) {
				free(copy);
				atomic_fetch_add(&s->cfg->errors, 1);
				continue;
			}
			s->keep[s->n++] = copy;
		} else {
			free(s->keep[slot]);
			s->keep[slot] = copy;
		}
	}
}

static void
sample_destroy(void *state)
{
	struct sample_inst *s = state;
	struct op_sample_config *cfg = s->cfg;
	pthread_mutex_lock(&cfg->lock);
	for (uint64_t i = 0; i < s->n; i++) {
		const struct op_trace *t = s->keep[i];
		uint32_t len = t->size;
		static const unsigned char pad[8] = {0};
		if (cfg->out && (fwrite(&len, 4, 1, cfg->out) != 1 ||
		                 fwrite(t, 1, len, cfg->out) != len ||
		                 fwrite(pad, 1, (8 - (len + 4) % 8) % 8, cfg->out) !=
		                     (8 - (len + 4) % 8) % 8))
			atomic_fetch_add(&cfg->errors, 1);
		free(s->keep[i]);
	}
	pthread_mutex_unlock(&cfg->lock);
	atomic_fetch_add(&cfg->written, s->n);
	atomic_fetch_add(&cfg->seen, s->seen);
	free(s->keep);
	free(s);
}

const struct engine_op_vtable op_sample_vtable = {
	.init = sample_init,
	.on_batch = sample_batch,
	.destroy = sample_destroy,
};

int
op_sample_open(struct op_sample_config *cfg, const char *path)
{
	pthread_mutex_init(&cfg->lock, NULL);
	if (!(cfg->out = fopen(path, "wb")))
		return WEFT_EIO;
	if (fwrite(SMP_MAGIC, 1, 8, cfg->out) != 8)
		return WEFT_EIO;
	return 0;
}

int
op_sample_close(struct op_sample_config *cfg)
{
	int rc = 0;
	if (cfg->out && fclose(cfg->out))
		rc = WEFT_EIO;
	cfg->out = NULL;
	pthread_mutex_destroy(&cfg->lock);
	return rc ? rc : atomic_load(&cfg->errors) ? WEFT_EIO : 0;
}

int
op_sample_read(const char *path,
               int (*fn)(void *arg, const struct op_trace *t), void *arg,
               char *errstr, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(errstr, errlen, "cannot open '%s'", path);
		return WEFT_EIO;
	}
	char magic[8];
	size_t got_magic = fread(magic, 1, 8, f);
	if (got_magic == 8 && !memcmp(magic, SMP_MAGIC, 7) && magic[7] != SMP_MAGIC[7]) {
		fclose(f);
		snprintf(errstr, errlen,
		         "'%s' is a weft sample file of another version (%c; this weft reads %c): "
		         "write it again with weft replay --sample", path, magic[7], SMP_MAGIC[7]);
		return WEFT_EFORMAT;
	}
	if (got_magic != 8 || memcmp(magic, SMP_MAGIC, 8)) {
		fclose(f);
		snprintf(errstr, errlen,
		         "'%s' is not a weft sample file (write one with weft replay --sample)", path);
		return WEFT_EFORMAT;
	}
	unsigned char *buf = NULL;
	size_t cap = 0;
	int rc = 0;
	uint64_t n = 0;
	for (;;) {
		uint32_t len;
		size_t got = fread(&len, 1, 4, f);
		if (got == 0)
			break;
		size_t padded = (size_t)len + (8 - (len + 4) % 8) % 8;
		if (got != 4 || len < sizeof(struct op_trace) || len > (1u << 30)) {
			rc = WEFT_EFORMAT;
			break;
		}
		if (padded > cap) {
			unsigned char *nb = realloc(buf, padded);
			if (!nb) {
				rc = WEFT_ENOMEM;
				break;
			}
			buf = nb;
			cap = padded;
		}
		if (fread(buf, 1, padded, f) != padded) {
			rc = WEFT_EFORMAT;
			break;
		}
		const struct op_trace *t = (const struct op_trace *)(void *)buf;
		/* the record must describe itself consistently before anyone
		 * follows its offsets */
		size_t need = sizeof *t + (size_t)t->n_events * sizeof(struct op_trace_event) +
		              (size_t)t->n_edges * sizeof(struct op_trace_edge) +
		              (size_t)t->n_events * 8 + t->str_bytes;
		if (t->size != len || need > len) {
			rc = WEFT_EFORMAT;
			break;
		}
		const struct op_trace_event *ev = op_trace_events(t);
		const struct op_trace_edge *ed = op_trace_edges(t);
		for (uint32_t i = 0; i < t->n_events && !rc; i++)
			if (ev[i].label >= len || ev[i].host >= len || ev[i].agent >= len)
				rc = WEFT_EFORMAT;
		for (uint32_t i = 0; i < t->n_edges && !rc; i++)
			if (ed[i].parent >= t->n_events || ed[i].child >= t->n_events)
				rc = WEFT_EFORMAT;
		if (!rc && len && buf[len - 1] != 0)
			rc = WEFT_EFORMAT; /* texts must end in NUL within the record */
		if (rc)
			break;
		n++;
		if ((rc = fn(arg, t)))
			break;
	}
	if (rc == WEFT_EFORMAT)
		snprintf(errstr, errlen, "'%s': malformed or truncated sample record #%llu", path,
		         (unsigned long long)n + 1);
	else if (rc)
		snprintf(errstr, errlen, "'%s': %s after %llu records", path, weft_strerror(rc),
		         (unsigned long long)n);
	free(buf);
	fclose(f);
	return rc;
}
