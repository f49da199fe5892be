/*
 * pb_write.h — a minimal protobuf writer for the span decoder tests and
 * fuzz seeds: varints, fixed64 and length-delimited fields into a fixed
 * buffer. Written from the protobuf encoding specification; nothing here
 * is generated.
 */
#ifndef WEFT_TEST_PB_WRITE_H
#define WEFT_TEST_PB_WRITE_H

#include <stdint.h>
#include <string.h>

struct pbw {
	uint8_t b[8192];
	size_t n;
};

static inline void
pbw_varint(struct pbw *w, uint64_t v)
{
	while (v >= 0x80) {
		w->b[w->n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	w->b[w->n++] = (uint8_t)v;
}

static inline void
pbw_tag(struct pbw *w, unsigned field, unsigned wt)
{
	pbw_varint(w, (uint64_t)field << 3 | wt);
}

static inline void
pbw_bytes(struct pbw *w, unsigned field, const void *p, size_t n)
{
	pbw_tag(w, field, 2);
	pbw_varint(w, n);
	memcpy(w->b + w->n, p, n);
	w->n += n;
}

static inline void
pbw_str(struct pbw *w, unsigned field, const char *s)
{
	pbw_bytes(w, field, s, strlen(s));
}

static inline void
pbw_sub(struct pbw *w, unsigned field, const struct pbw *sub)
{
	pbw_bytes(w, field, sub->b, sub->n);
}

static inline void
pbw_fixed64(struct pbw *w, unsigned field, uint64_t v)
{
	pbw_tag(w, field, 1);
	memcpy(w->b + w->n, &v, 8); /* little-endian hosts only */
	w->n += 8;
}

static inline void
pbw_u64(struct pbw *w, unsigned field, uint64_t v)
{
	pbw_tag(w, field, 0);
	pbw_varint(w, v);
}

/* 8 or 16 id bytes from a 64-bit value (big-endian, leading zeros). */
static inline void
pbw_id(struct pbw *w, unsigned field, uint64_t v, size_t n)
{
	uint8_t b[16] = {0};
	for (int i = 0; i < 8; i++)
		b[n - 1 - (size_t)i] = (uint8_t)(v >> (8 * i));
	pbw_bytes(w, field, b, n);
}

/* A KeyValue with a string value. */
static inline void
pbw_attr(struct pbw *w, unsigned field, const char *k, const char *v)
{
	struct pbw av = {.n = 0}, kv = {.n = 0};
	pbw_str(&av, 1, v);
	pbw_str(&kv, 1, k);
	pbw_sub(&kv, 2, &av);
	pbw_sub(w, field, &kv);
}

#endif
