/*
 * asm_texts.c — the assembler's interned texts and places.
 *
 * Texts: label, host and agent texts stored once per worker by their
 * 64-bit symbol, so an open event keeps no text. An
 * operators/assemble/hash_tab.h table (symbol -> offset, length) over one
 * growing byte buffer; texts over the length limit are cut, and past the
 * count limit new symbols get no text (the caller counts both from the
 * return value).
 *
 * Places: each distinct (label, host, agent) triple gets a dense 32-bit id,
 * so an open event keeps 4 bytes instead of three 8-byte symbols (a
 * workload has few triples: operations x hosts). A hash_tab.h table keyed
 * by a mix of the three symbols, whose slot holds the id; the triple
 * itself is in v[id] and is compared, so two triples whose keys collide
 * are never confused (the second is then not interned).
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "operators/assemble/assemble_int.h"
#include "operators/assemble/hash_tab.h"

_Static_assert(offsetof(struct asm_text_slot, sym) == 0, "key first");

/* A slot is empty when all of sym, off, len are 0 (see asm_texts_put). */
static int
text_slot_used(const void *slot)
{
	const struct asm_text_slot *x = slot;
	return x->sym || x->off || x->len;
}

int
asm_texts_put(struct asm_texts *t, uint64_t sym, const char *s, size_t len,
              uint32_t max_len)
{
	if (2 * (t->n + 1) > t->cap) {
		if (t->n >= t->max_n)
			goto lookup_only;
		uint64_t ncap = t->cap ? t->cap * 2 : 256;
		struct asm_text_slot *nt =
		    hash_tab_rehash(t->tab, t->cap, ncap, sizeof *nt,
		                    text_slot_used);
		if (!nt)
			return WEFT_ENOMEM;
		t->tab = nt;
		t->cap = ncap;
	}
lookup_only:;
	/* A slot is empty when all of sym, off, len are 0; off starts at 1
	 * (buf[0] is a NUL for the empty text) so no used slot looks empty. */
	uint64_t j = hash_tab_probe(t->tab, t->cap, sizeof *t->tab, sym,
	                            text_slot_used);
	if (text_slot_used(&t->tab[j]))
		return 0;
	if (t->n >= t->max_n || 2 * (t->n + 1) > t->cap)
		return 2;
	int cut = len > max_len;
	if (cut)
		len = max_len;
	if (!t->buf_len)
		t->buf_len = 1; /* offset 0 stays the empty text */
	if (t->buf_len + len + 1 > t->buf_cap) {
		uint64_t c = (t->buf_len + len + 1) * 2 + 4096;
		char *nb = realloc(t->buf, c);
		if (!nb)
			return WEFT_ENOMEM;
		t->buf = nb;
		t->buf_cap = c;
		t->buf[0] = '\0';
	}
	memcpy(t->buf + t->buf_len, s, len);
	t->buf[t->buf_len + len] = '\0';
	t->tab[j] = (struct asm_text_slot){sym, (uint32_t)t->buf_len, (uint32_t)len};
	t->buf_len += len + 1;
	t->n++;
	return cut;
}

const char *
asm_texts_get(const struct asm_texts *t, uint64_t sym, uint32_t *len)
{
	if (t->cap) {
		uint64_t j = hash_tab_probe(t->tab, t->cap, sizeof *t->tab, sym,
		                            text_slot_used);
		if (text_slot_used(&t->tab[j])) {
			*len = t->tab[j].len;
			return t->buf + t->tab[j].off;
		}
	}
	*len = 0;
	return "";
}

void
asm_texts_free(struct asm_texts *t)
{
	free(t->tab);
	free(t->buf);
	memset(t, 0, sizeof *t);
}


/* ---- places --------------------------------------------------------------- */

_Static_assert(offsetof(struct asm_place_slot, key) == 0, "key first");

static int
place_slot_used(const void *slot)
{
	return ((const struct asm_place_slot *)slot)->used != 0;
}

/* The symbols are hashes already, and hash_tab_probe mixes the key: odd
 * multipliers only keep (a, b) and (b, a) apart. */
static uint64_t
place_key(uint64_t label, uint64_t host, uint64_t agent)
{
	return label ^ host * 0x9e3779b97f4a7c15ULL ^ agent * 0xbf58476d1ce4e5b9ULL;
}

uint32_t
asm_places_put(struct asm_places *p, uint64_t label, uint64_t host,
               uint64_t agent)
{
	uint64_t key = place_key(label, host, agent);
	if (p->cap) {
		uint64_t j = hash_tab_probe(p->tab, p->cap, sizeof *p->tab, key,
		                            place_slot_used);
		if (p->tab[j].used) {
			const struct asm_place *x = &p->v[p->tab[j].id];
			if (x->label == label && x->host == host && x->agent == agent)
				return p->tab[j].id;
			return ASM_PLACE_EXTRA; /* another triple has this key */
		}
	}
	if (p->n >= p->max_n || p->n >= ASM_PLACE_EXTRA - 1)
		return ASM_PLACE_EXTRA;
	if (2 * ((uint64_t)p->n + 1) > p->cap) {
		uint64_t ncap = p->cap ? p->cap * 2 : 256;
		struct asm_place_slot *nt = hash_tab_rehash(p->tab, p->cap, ncap,
		                                            sizeof *nt, place_slot_used);
		if (!nt)
			return ASM_PLACE_EXTRA;
		p->tab = nt;
		p->cap = ncap;
	}
	if (p->n == p->cap_v && WEFT_GROW(p->v, p->cap_v, p->n + 1, 256))
		return ASM_PLACE_EXTRA;
	uint64_t j = hash_tab_probe(p->tab, p->cap, sizeof *p->tab, key,
	                            place_slot_used);
	p->v[p->n] = (struct asm_place){label, host, agent};
	p->tab[j] = (struct asm_place_slot){key, p->n, 1};
	return p->n++;
}

void
asm_places_free(struct asm_places *p)
{
	free(p->tab);
	free(p->v);
	memset(p, 0, sizeof *p);
}
