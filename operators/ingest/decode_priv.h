/*
 * decode_priv.h — internals shared by decode_json.c, decode_text.c and
 * deadletter.c. Not part of the public interface (see decode.h).
 *
 * A decoder belongs to one worker thread: nothing in it is synchronised.
 */
#ifndef WEFT_OP_DECODE_PRIV_H
#define WEFT_OP_DECODE_PRIV_H

#include "operators/ingest/decode.h"

/* Sizes of op_decoder.jkeys (decode_json.c's key prediction). Positions:
 * the first members of a line that are predicted (later ones take the
 * general path every time); a v4 report has about 15 members, so 24 leave
 * room for a few unknown keys. Pattern bytes: room for one "Key": — a key
 * of up to 29 bytes with its quotes and colon (the longest known one,
 * ParentEventID, takes 16); longer keys are not predicted. key_match needs
 * 16 to 32 (decode_json.c checks). */
#define OP_JKEY_POSITIONS 24
#define OP_JKEY_PAT_BYTES 32

struct op_decoder {
	enum op_format fmt;
	struct op_decode_config cfg;
	struct op_event_builder b;   /* scratch for the event being decoded */
	struct op_splitter *split;   /* used by feed/finish */
	struct op_deadletter *dl;    /* borrowed; may be NULL */
	char *source;                /* owned copy of the source name */
	struct op_decode_stats st;
	enum op_reject last;
	uint32_t err_at;             /* offset of the last error in its unit */
	void *rec;                   /* feed's record buffer [max_record_bytes] */
	char *tmp;                   /* key unescape scratch [max_field_bytes] */
	op_event_fn fn;              /* feed's callback, valid during feed */
	void *fn_arg;
	op_reserve_fn reserve;       /* op_decoder_set_reserve(), or NULL */
	void *reserve_arg;
	void *out;                   /* where the last record was laid out */
	/* decode_json.c's guess at the next line's keys: per member position,
	 * the "Key": bytes last seen there (len 0: none) and what the key is
	 * (its enum jkey). Real producers write the same keys in the same
	 * order on every line; see jmember. */
	struct {
		uint8_t len[OP_JKEY_POSITIONS];
		uint8_t id[OP_JKEY_POSITIONS];
		unsigned char pat[OP_JKEY_POSITIONS][OP_JKEY_PAT_BYTES];
	} jkeys;
};

/*
 * Counts a rejected unit, writes its dead letter, remembers the reason.
 * Returns the WEFT_* code the decode function should return: WEFT_ELIMIT
 * for limit reasons, WEFT_EFORMAT otherwise. (deadletter.c)
 */
int op_decoder_reject(struct op_decoder *d, enum op_reject r,
                      const char *unit, size_t len, size_t avail,
                      const struct op_pos *pos, uint32_t at);

/* Starts decoding one unit: counts it, defaults *pos, and rejects it as
 * too long past max_bytes (returning the code to pass on); 0 to go on.
 * (decoder.c) */
int op_decoder_begin(struct op_decoder *d, const char *unit, size_t n,
                     const struct op_pos **pos, uint32_t max_bytes);

/* Lays out the event parsed into d->b as a record in out[0..cap): counts
 * it, or rejects the unit (a parent equal to the event id, a record over
 * the limit). Returns what the decode function returns. (decoder.c) */
int op_decoder_emit(struct op_decoder *d, const char *unit, size_t n,
                    const struct op_pos *pos, void *out, uint32_t cap,
                    uint32_t *len);

/* 1 if data[0..n) fails to parse as a JSON report with a syntax error
 * (for a line cut short by the end of input), with *at its offset; 0 if it
 * parses or fails for another reason. Uses the decoder's builder as
 * scratch. (decode_json.c) */
int op_json_syntax_error_at(struct op_decoder *d, const char *data, size_t n,
                            uint32_t *at);

/* Length of the valid UTF-8 sequence at p (p < end, *p >= 0x80), or 0 when
 * it is invalid (overlong, surrogate, beyond U+10FFFF, cut short). */
static inline int
op_utf8_seq(const unsigned char *p, const unsigned char *end)
{
	unsigned c = p[0];
	size_t left = (size_t)(end - p);
	if (c < 0xC2)
		return 0;
	if (c < 0xE0)
		return left >= 2 && (p[1] & 0xC0) == 0x80 ? 2 : 0;
	if (c < 0xF0) {
		if (left < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80)
			return 0;
		if ((c == 0xE0 && p[1] < 0xA0) || (c == 0xED && p[1] >= 0xA0))
			return 0;
		return 3;
	}
	if (c < 0xF5) {
		if (left < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 ||
		    (p[3] & 0xC0) != 0x80)
			return 0;
		if ((c == 0xF0 && p[1] < 0x90) || (c == 0xF4 && p[1] >= 0x90))
			return 0;
		return 4;
	}
	return 0;
}

#endif /* WEFT_OP_DECODE_PRIV_H */
