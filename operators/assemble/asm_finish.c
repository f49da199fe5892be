/*
 * asm_finish.c — a worker's finish helper: a second thread that builds
 * finished traces' records beside the worker when an epoch close or the
 * end of the input finishes many traces at once.
 *
 * Building a finished trace (resolving its DAG, the canonical form, the
 * record's layout: op_trace_build.c) is about a fifth of a replay's work
 * on one worker, and it comes in bursts: every trace whose idle gap ran
 * out at one close, or every open trace at the end of the input. With
 * fewer workers than cores (weft replay --workers 1 on a laptop, a
 * serve process given one worker per partition on a larger machine) a
 * core is idle meanwhile. op_assemble.c hands such a burst over as a
 * window of traces, in emission order: the worker builds and emits from
 * the front, the helper builds from the back into its own buffer, and
 * when they meet the worker emits the helper's records in order. The
 * output is the same record for record, in the same order, as when the
 * worker builds them all; only the time it takes changes. The building
 * of one trace, which both threads run, is here too (asm_flatten,
 * asm_fin_build), as is the policy that gives a worker a helper.
 *
 * Threads: the helper reads the window's traces and the worker's texts
 * and places (nothing writes them while a window is out: the worker only
 * builds and emits then) and writes only its own scratch, its record
 * buffer and the offsets of the items it took. Taking an item, and the
 * end of the helper's item, hold the mutex; the worker's wait for the
 * helper's last item is the hand-back.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "operators/assemble/assemble_int.h"

/* ---- building one trace (the worker's and the helper's) -------------- */

uint32_t
asm_flatten(const struct asm_places *p, struct asm_fin_scratch *sc,
            const struct asm_trace *t)
{
	if (t->n_events > sc->flat_cap) {
		uint32_t c = t->n_events + t->n_events / 2;
		struct asm_ev *nf = realloc(sc->flat, (size_t)c * sizeof *nf);
		if (!nf) {
			fprintf(stderr, "weft assemble: out of memory\n");
			abort();
		}
		sc->flat = nf;
		sc->flat_cap = c;
	}
	uint32_t n = 0;
	const struct asm_place *pv = p->v;
	for (const struct asm_chunk *c = t->head; c; c = c->next) {
		uint32_t cn = c->next ? c->cap : (uint32_t)(t->slot - c->ev);
		for (uint32_t i = 0; i < cn; i++) {
			const struct asm_sev *e = &c->ev[i];
			struct asm_ev *x = &sc->flat[n++];
			uint32_t f = e->place;
			struct asm_place pl;
			if (f & ASM_PLACE_EXTRA) {
				const uint64_t *y = t->extra + (f & ASM_SEV_INDEX);
				pl = (struct asm_place){y[0], y[1], y[2]};
			} else {
				pl = pv[f & ASM_SEV_INDEX];
			}
			uint64_t end = f & ASM_SEV_END ? e->start_ns + e->dur : 0;
			uint64_t p0 = 0;
			uint32_t np = 0, xi = 0;
			if (f & ASM_SEV_OVF) {
				const uint64_t *y = t->extra + e->parent0;
				np = (uint32_t)(y[0] & 0xffffu);
				p0 = np ? y[1] : 0;
				xi = (uint32_t)e->parent0 + 2u; /* parents 2.. */
				if (y[0] & ASM_OVF_END)
					end = y[1 + np];
			} else if (f & ASM_SEV_PARENT) {
				np = 1;
				p0 = e->parent0;
			}
			*x = (struct asm_ev){
			    .event_id = e->event_id,
			    .start_ns = e->start_ns,
			    .end_ns = end,
			    .label_sym = pl.label,
			    .host_sym = pl.host,
			    .agent_sym = pl.agent,
			    .parent0 = p0,
			    .n_parents = (uint16_t)np,
			    .flags = (uint16_t)((f & ASM_SEV_END ? OP_TEV_HAS_END : 0) |
			                        (f & ASM_SEV_ERROR ? OP_TEV_ERROR : 0)),
			    .extra = xi,
			};
		}
	}
	return n;
}

void
asm_fin_build(const struct asm_places *p, const struct asm_texts *texts,
              struct asm_fin_scratch *sc, const struct asm_trace *t,
              const struct asm_trace_meta *m, const void **rec, uint32_t *len)
{
	uint32_t n = asm_flatten(p, sc, t);
	if (asm_build_trace(sc->build, m, sc->flat, n, t->extra, texts, rec,
	                    len)) {
		fprintf(stderr, "weft assemble: out of memory building a trace\n");
		abort();
	}
}

/* ---- the helper --------------------------------------------------------- */

struct asm_finisher {
	pthread_mutex_t lock;
	pthread_cond_t go;   /* a window was posted, or stop */
	pthread_cond_t done; /* the helper finished an item */
	pthread_t thread;
	asm_fin_fn fn;
	void *arg;
	struct asm_fin_scratch sc; /* the helper's own */
	/* the window, under lock: items [front, back) are not taken yet */
	uint32_t front, back;
	uint64_t posted, seen; /* windows posted; the last one the helper saw */
	int busy, stop;
	/* the helper's records: item i's at buf + rec[i].off, rec[i].len bytes */
	unsigned char *buf;
	size_t buf_len, buf_cap;
	struct fin_rec {
		size_t off;
		uint32_t len;
	} *rec;
	uint32_t rec_cap;
};

static void
oom(void)
{
	fprintf(stderr, "weft assemble: out of memory in the finish helper\n");
	abort();
}

/* Keeps the record rec of item i in the helper's buffer (8-byte aligned:
 * the worker reads it as an op_trace). */
static void
keep_record(struct asm_finisher *f, uint32_t i, const void *rec, uint32_t len)
{
	size_t at = (f->buf_len + 7u) & ~(size_t)7u;
	if (at + len > f->buf_cap) {
		/* 2 MiB first: a window's records are about 64 bytes per event
		 * (32,768 events, half of them the helper's as a rule); then by
		 * half, since what the allocator keeps of the old buffer
		 * counts in the peak, which is when the helper works */
		size_t c = f->buf_cap ? f->buf_cap + f->buf_cap / 2 : 2u << 20;
		while (c < at + len)
			c += c / 2;
		unsigned char *nb = realloc(f->buf, c);
		if (!nb)
			oom();
		f->buf = nb;
		f->buf_cap = c;
	}
	memcpy(f->buf + at, rec, len);
	f->rec[i] = (struct fin_rec){at, len};
	f->buf_len = at + len;
}

static void *
fin_main(void *arg)
{
	struct asm_finisher *f = arg;
	pthread_mutex_lock(&f->lock);
	for (;;) {
		while (!f->stop && f->seen == f->posted)
			pthread_cond_wait(&f->go, &f->lock);
		if (f->stop)
			break;
		f->seen = f->posted;
		while (f->front < f->back) {
			uint32_t i = --f->back;
			f->busy = 1;
			pthread_mutex_unlock(&f->lock);
			const void *rec;
			uint32_t len;
			f->fn(f->arg, &f->sc, i, &rec, &len);
			keep_record(f, i, rec, len);
			pthread_mutex_lock(&f->lock);
			f->busy = 0;
		}
		pthread_cond_signal(&f->done);
	}
	pthread_mutex_unlock(&f->lock);
	return NULL;
}

struct asm_finisher *
asm_finisher_new(asm_fin_fn fn, void *arg)
{
	struct asm_finisher *f = calloc(1, sizeof *f);
	if (!f)
		return NULL;
	f->fn = fn;
	f->arg = arg;
	f->sc.build = asm_build_new();
	if (!f->sc.build) {
		free(f);
		return NULL;
	}
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->go, NULL);
	pthread_cond_init(&f->done, NULL);
	if (pthread_create(&f->thread, NULL, fin_main, f)) {
		pthread_cond_destroy(&f->done);
		pthread_cond_destroy(&f->go);
		pthread_mutex_destroy(&f->lock);
		asm_build_free(f->sc.build);
		free(f);
		return NULL;
	}
	return f;
}

void
asm_finisher_free(struct asm_finisher *f)
{
	if (!f)
		return;
	pthread_mutex_lock(&f->lock);
	f->stop = 1;
	pthread_cond_signal(&f->go);
	pthread_mutex_unlock(&f->lock);
	pthread_join(f->thread, NULL);
	pthread_cond_destroy(&f->done);
	pthread_cond_destroy(&f->go);
	pthread_mutex_destroy(&f->lock);
	asm_build_free(f->sc.build);
	free(f->sc.flat);
	free(f->buf);
	free(f->rec);
	free(f);
}

void
asm_finisher_post(struct asm_finisher *f, uint32_t n)
{
	/* the helper is idle here: the last window ended with a wait */
	if (WEFT_GROW(f->rec, f->rec_cap, n, 64))
		oom();
	pthread_mutex_lock(&f->lock);
	f->buf_len = 0;
	f->front = 0;
	f->back = n;
	f->posted++;
	pthread_cond_signal(&f->go);
	pthread_mutex_unlock(&f->lock);
}

int
asm_finisher_take(struct asm_finisher *f, uint32_t *i)
{
	pthread_mutex_lock(&f->lock);
	int got = f->front < f->back;
	if (got)
		*i = f->front++;
	pthread_mutex_unlock(&f->lock);
	return got;
}

uint32_t
asm_finisher_wait(struct asm_finisher *f)
{
	pthread_mutex_lock(&f->lock);
	while (f->busy)
		pthread_cond_wait(&f->done, &f->lock);
	uint32_t first = f->back; /* == front: nothing is left to take */
	pthread_mutex_unlock(&f->lock);
	return first;
}

const void *
asm_finisher_record(const struct asm_finisher *f, uint32_t i, uint32_t *len)
{
	*len = f->rec[i].len;
	return f->buf + f->rec[i].off;
}
