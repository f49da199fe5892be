/*
 * decode_zipkin.c — Zipkin v2 JSON (zipkin-api's zipkin2-api.yaml, the
 * body of POST /api/v2/spans): a list of spans. Per span: traceId (16 or
 * 32 hex digits), id, parentId, name, timestamp and duration (epoch
 * microseconds), localEndpoint {serviceName, ipv4, ipv6}, tags (strings),
 * annotations; others are skipped.
 *
 * Mapping (docs/FORMATS.md): label = name, agent = the local service,
 * host = its ipv4, else ipv6, else the service; start = timestamp and end
 * = timestamp + duration, in nanoseconds; a tag "error" sets the error
 * flag; tags become key/value pairs. A span marked "shared" is the server
 * half of a span id its client also reports (B3 single-id RPCs): it gets
 * its own event id (XXH3 of the id, seed 1) with the client half as its
 * parent, so both halves stay nodes of the trace.
 *
 * Same failure rules as the OTLP JSON decoder: a span is rejected alone
 * for its own content; a syntax error ends the list.
 */
#include "operators/ingest/decode_priv.h"

#include <string.h>
#include <xxhash.h>

#include "common/common.h"
#include "operators/ingest/json_cur.h"

#define KEY(k, lit) \
	(k##n == sizeof(lit) - 1 && memcmp(k, lit, sizeof(lit) - 1) == 0)

struct zk {
	struct op_decoder *d;
	struct op_span_bufs b;
	struct op_span_res res;
	int host_from; /* 0 none, 1 ipv6, 2 ipv4, 3 tag host.name: higher wins */
	const char *links; /* tag weft.links (in the links slot) */
	size_t links_len;
};

/* The host from a source of rank `from`, unless a better one was seen. */
static void
set_host(struct zk *z, const char *s, size_t n, int from)
{
	if (!n || from < z->host_from)
		return;
	memmove(z->b.host, s, n);
	z->res.host = z->b.host;
	z->res.host_len = n;
	z->host_from = from;
}

/* localEndpoint: service name and address, copied into their slots. */
static int
endpoint(struct zk *z, struct op_jc *c)
{
	const char *k, *s;
	size_t kn, n;
	int r;
	if (op_jc_obj(c))
		return -1;
	while ((r = op_jc_member(c, &k, &kn, z->b.key, z->b.cap)) > 0) {
		int ip4 = KEY(k, "ipv4"), ip6 = KEY(k, "ipv6");
		if (!KEY(k, "serviceName") && !ip4 && !ip6) {
			if (op_jc_skip(c))
				return -1;
			continue;
		}
		if (op_jc_str(c, &s, &n, z->b.val, z->b.cap))
			return -1;
		if (KEY(k, "serviceName")) {
			memmove(z->b.svc, s, n);
			z->res.service = z->b.svc;
			z->res.service_len = n;
		} else {
			set_host(z, s, n, 1 + ip4);
		}
	}
	return r;
}

/* tags: {"k": "v", ...}: key/value pairs; "error" sets the flag;
 * "host.name" names the host (as the OpenTelemetry Collector writes a
 * resource's attributes into tags); "weft.links" lists extra parent ids
 * (weft's own, for DAGs written as Zipkin: see docs/FORMATS.md). */
static int
tags(struct zk *z, struct op_jc *c, enum op_reject *bad, int *err)
{
	const char *k, *v;
	size_t kn, vn;
	int r;
	if (op_jc_obj(c))
		return -1;
	while ((r = op_jc_member(c, &k, &kn, z->b.akey, z->b.cap)) > 0) {
		if (op_jc_str(c, &v, &vn, z->b.val, z->b.cap))
			return -1;
		if (KEY(k, "error"))
			*err = 1;
		if (KEY(k, "host.name")) {
			set_host(z, v, vn, 3);
		} else if (KEY(k, "weft.links")) {
			memmove(z->b.links, v, vn);
			z->links = z->b.links;
			z->links_len = vn;
		} else if (!*bad) {
			*bad = op_span_kv(z->d, k, kn, v, vn);
		}
	}
	return r;
}

static int
id_member(struct zk *z, struct op_jc *c, int trace, uint64_t *id,
          enum op_reject *bad)
{
	const char *s;
	size_t n;
	if (op_jc_str(c, &s, &n, z->b.val, z->b.cap))
		return -1;
	enum op_reject e = trace ? op_span_trace_hex(s, n, id)
	                         : op_span_span_hex(s, n, id);
	if (e && !*bad)
		*bad = e;
	return 0;
}

/* The members of one span. -1: cursor error; else 0, *bad its failure. */
static int
span_members(void *arg, struct op_jc *c, enum op_reject *bad, int *err)
{
	struct zk *z = arg;
	struct op_event *h = &z->d->b.hdr;
	const char *k, *s;
	size_t kn, n;
	int r, ht = 0, hs = 0, shared = 0, has_dur = 0;
	uint64_t parent = 0, ts = 0, dur = 0;
	z->res = (struct op_span_res){"", 0, "", 0};
	z->host_from = 0;
	z->links_len = 0;
	if (op_jc_obj(c))
		return -1;
	while ((r = op_jc_member(c, &k, &kn, z->b.key, z->b.cap)) > 0) {
		int e = 0;
		if (KEY(k, "traceId")) {
			e = id_member(z, c, 1, &h->trace_id, bad);
			ht = 1;
		} else if (KEY(k, "id")) {
			e = id_member(z, c, 0, &h->event_id, bad);
			hs = 1;
		} else if (KEY(k, "parentId")) {
			e = id_member(z, c, 0, &parent, bad);
		} else if (KEY(k, "name")) {
			e = op_jc_str(c, &s, &n, z->b.val, z->b.cap);
			if (!e && !*bad)
				*bad = op_span_label(z->d, s, n);
		} else if (KEY(k, "timestamp")) {
			e = op_jc_u64(c, &ts, z->b.val, z->b.cap);
			h->flags |= OP_EV_HAS_START | OP_EV_HAS_WALL;
		} else if (KEY(k, "duration")) {
			e = op_jc_u64(c, &dur, z->b.val, z->b.cap);
			has_dur = 1;
		} else if (KEY(k, "localEndpoint")) {
			e = endpoint(z, c);
		} else if (KEY(k, "tags")) {
			e = tags(z, c, bad, err);
		} else if (KEY(k, "shared")) {
			e = op_jc_raw(c, &s, &n);
			shared = n == 4 && memcmp(s, "true", 4) == 0;
		} else {
			e = op_jc_skip(c);
		}
		if (e)
			return -1;
	}
	if (r < 0)
		return -1;
	if (ts > UINT64_MAX / 1000 || dur > UINT64_MAX / 1000 - ts) {
		if (!*bad)
			*bad = OP_REJECT_BAD_NUMBER;
		return 0;
	}
	h->start_ns = ts * 1000;
	h->wall_ms = (int64_t)(ts / 1000);
	if (has_dur && (h->flags & OP_EV_HAS_START)) {
		h->end_ns = (ts + dur) * 1000;
		h->flags |= OP_EV_HAS_END;
	}
	if (!*bad && !ht)
		*bad = OP_REJECT_MISSING_TRACE_ID;
	if (!*bad && !hs)
		*bad = OP_REJECT_MISSING_SPAN_ID;
	if (*bad)
		return 0;
	if (shared) { /* the server half: a node below its client half */
		uint64_t id = h->event_id;
		h->event_id = XXH3_64bits_withSeed(&id, sizeof id, 1);
		parent = id;
	}
	if (parent)
		*bad = op_span_parent(z->d, parent);
	/* weft.links: 16 hex digits each, comma-separated, after the parent */
	for (size_t i = 0; !*bad && i < z->links_len; i += 17) {
		size_t ln = z->links_len - i < 16 ? z->links_len - i : 16;
		uint64_t id;
		if (i + 16 < z->links_len && z->links[i + 16] != ',')
			*bad = OP_REJECT_BAD_ID;
		else if (!(*bad = op_span_span_hex(z->links + i, ln, &id)))
			*bad = op_span_parent(z->d, id);
	}
	return 0;
}

int
op_decode_zipkin(struct op_decoder *d)
{
	const struct op_unit *u = d->unit;
	struct zk z = {.d = d};
	if (op_span_bufs(d, &z.b))
		return 0;
	struct op_jc c;
	op_jc_init(&c, u->data, u->len, d->cfg.max_json_depth + 4);
	int r = op_jc_arr(&c), stop = 0;
	while (r == 0 && (r = op_jc_elem(&c)) > 0) {
		int s = op_span_json(d, &c, span_members, &z, &z.res, &stop);
		if (s > 0)
			return stop;
		r = s < 0 ? -1 : 0;
	}
	return op_span_json_end(d, &c, r);
}
