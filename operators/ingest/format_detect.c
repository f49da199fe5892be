/*
 * format_detect.c — which trace format a unit (or a stream) is in, from
 * its first bytes, and the hint a run prints when nothing it read was
 * accepted.
 *
 * --format auto is the default, so the per-unit test (op_format_sniff)
 * runs on every X-Trace line too: it looks at the first bytes only and
 * costs a few compares. A JSON object is OTLP when its first key is
 * "resourceSpans" (the only key of TracesData and of an export request),
 * else X-Trace v4; a JSON list is Zipkin v2; a text starting with the
 * report header is an X-Trace text report; bytes that parse as a protobuf
 * field 1 holding a ResourceSpans (its own field 1 or 2, length-delimited)
 * are OTLP protobuf. The hint (op_format_hint) looks deeper, at the units
 * that were rejected whole (op_decode_stats.looks_like).
 */
#include "operators/ingest/decode_priv.h"

#include <stdio.h>
#include <string.h>

static const char *const names[OP_FORMAT__COUNT] = {
	[OP_FORMAT_JSON_V4] = "json",
	[OP_FORMAT_TEXT] = "text",
	[OP_FORMAT_OTLP_PROTO] = "otlp-proto",
	[OP_FORMAT_OTLP_JSON] = "otlp-json",
	[OP_FORMAT_ZIPKIN] = "zipkin",
	[OP_FORMAT_AUTO] = "auto",
};

static const char *const described[OP_FORMAT__COUNT] = {
	[OP_FORMAT_JSON_V4] = "X-Trace v4 JSON reports",
	[OP_FORMAT_TEXT] = "X-Trace text reports",
	[OP_FORMAT_OTLP_PROTO] = "OTLP protobuf trace messages",
	[OP_FORMAT_OTLP_JSON] = "OTLP JSON trace messages",
	[OP_FORMAT_ZIPKIN] = "Zipkin v2 spans",
	[OP_FORMAT_AUTO] = "records",
};

const char *
op_format_name(enum op_format f)
{
	return (unsigned)f < OP_FORMAT__COUNT ? names[f] : "unknown";
}

int
op_format_spans(enum op_format fmt)
{
	return fmt == OP_FORMAT_OTLP_PROTO || fmt == OP_FORMAT_OTLP_JSON ||
	       fmt == OP_FORMAT_ZIPKIN;
}

/* A protobuf message starting with field 1 (length-delimited) whose
 * contents start with field 1 or 2, length-delimited: a ResourceSpans. */
static int
looks_proto(const unsigned char *p, size_t n)
{
	if (n < 2 || p[0] != 0x0a)
		return 0;
	size_t i = 1;
	uint64_t len = 0;
	for (unsigned sh = 0; i < n && sh < 64; sh += 7) {
		len |= (uint64_t)(p[i] & 0x7f) << sh;
		if (p[i++] < 0x80)
			break;
		if (i == n)
			return 0;
	}
	if (len == 0)
		return 1; /* an empty ResourceSpans */
	return i < n && (p[i] == 0x0a || p[i] == 0x12);
}

static const unsigned char *
skip_blank(const unsigned char *p, const unsigned char *end)
{
	if (end - p >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF)
		p += 3; /* a UTF-8 byte order mark */
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		p++;
	return p;
}

enum op_format
op_format_sniff(const void *data, size_t n)
{
	if (n == 0)
		return OP_FORMAT__COUNT;
	const unsigned char *s = data, *end = s + n;
	if (n > 1 && s[0] == '{' && s[1] == '"') /* the usual unit, at once */
		return op_sniff_object(s, n);
	if (looks_proto(s, n))
		return OP_FORMAT_OTLP_PROTO;
	const unsigned char *p = skip_blank(s, end);
	if (p == end)
		return OP_FORMAT__COUNT;
	if (*p == '[')
		return OP_FORMAT_ZIPKIN;
	if (*p == '{') {
		p = skip_blank(p + 1, end);
		size_t k = sizeof OP_OTLP_JSON_KEY - 1;
		if ((size_t)(end - p) >= k && memcmp(p, OP_OTLP_JSON_KEY, k) == 0)
			return OP_FORMAT_OTLP_JSON;
		return OP_FORMAT_JSON_V4;
	}
	if ((size_t)(end - p) >= 14 && memcmp(p, "X-Trace Report", 14) == 0)
		return OP_FORMAT_TEXT;
	return OP_FORMAT__COUNT;
}

int
op_format_message_unit(enum op_format fmt, const void *data, size_t n)
{
	if (fmt == OP_FORMAT_AUTO)
		fmt = op_format_sniff(data, n);
	return fmt != OP_FORMAT_JSON_V4;
}

int
op_format_parse(const char *s, size_t n, enum op_format *out)
{
	for (int f = 0; f < OP_FORMAT__COUNT; f++)
		if (strlen(names[f]) == n && memcmp(names[f], s, n) == 0) {
			*out = (enum op_format)f;
			return 0;
		}
	if (n == 6 && memcmp(s, "xtrace", 6) == 0) {
		*out = OP_FORMAT_JSON_V4;
		return 0;
	}
	return -1;
}

enum op_split_mode
op_format_split_mode(enum op_format fmt, const void *head, size_t n)
{
	const unsigned char *h = head;
	switch (fmt) {
	case OP_FORMAT_TEXT:
		return OP_SPLIT_REPORTS;
	case OP_FORMAT_OTLP_PROTO:
		return OP_SPLIT_LEN32;
	case OP_FORMAT_AUTO:
		if (n >= 6 && looks_proto(h + 4, n - 4))
			return OP_SPLIT_LEN32;
		if (op_format_sniff(head, n) == OP_FORMAT_TEXT)
			return OP_SPLIT_REPORTS;
		return OP_SPLIT_LINES;
	default:
		return OP_SPLIT_LINES;
	}
}

enum op_format
op_format_sniff_deep(const void *data, size_t n)
{
	enum op_format f = op_format_sniff(data, n);
	if (f == OP_FORMAT_JSON_V4) {
		size_t k = n < 4096 ? n : 4096;
		if (memmem(data, k, OP_OTLP_JSON_KEY, sizeof OP_OTLP_JSON_KEY - 1) ||
		    memmem(data, k, "\"resource_spans\"", 16))
			return OP_FORMAT_OTLP_JSON;
		if (!memmem(data, k, "\"TaskID\"", 8) &&
		    !memmem(data, k, "\"X-Trace\"", 9))
			return OP_FORMAT__COUNT;
	}
	return f;
}

void
op_format_hint(enum op_format forced, const uint64_t *looks_like, char *buf,
               size_t cap)
{
	int best = OP_FORMAT__COUNT;
	uint64_t most = 0;
	for (int f = 0; f <= OP_FORMAT__COUNT; f++)
		if (looks_like[f] > most) {
			most = looks_like[f];
			best = f;
		}
	if (best == OP_FORMAT__COUNT)
		snprintf(buf, cap, "not a trace format weft reads (X-Trace JSON "
		         "or text, OTLP protobuf or JSON, Zipkin v2 JSON); see "
		         "the dead letters for the bytes");
	else if (forced != OP_FORMAT_AUTO && (enum op_format)best != forced)
		snprintf(buf, cap, "these look like %s; use --format %s",
		         described[best], names[best]);
	else
		snprintf(buf, cap, "every one of these %s was rejected; see the "
		         "dead letters for why", described[best]);
}
