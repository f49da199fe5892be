/*
 * op_otlp_http.c — the OTLP/HTTP receiver (otlp_http.h): request
 * handling, gzip, the answers of the OTLP/HTTP specification, and the
 * relay producer.
 *
 * Answers (OTLP/HTTP, "Failures" and "Throttling"):
 *   200  the body decoded; spans that did not are counted in
 *        partial_success.rejected_spans (protobuf or JSON, as requested);
 *   400  the body does not decode at all (no span accepted, some rejected),
 *        or a gzip body that does not inflate;
 *   404  another path; 405 another method; 415 another content type;
 *   413  a body over max_body_bytes (before or after inflating);
 *   429  the producer holds more than max_queue_bytes not yet delivered
 *        (the brokers are slower than the senders): Retry-After;
 *   503  the producer refused the body (queue full, a fatal error):
 *        Retry-After.
 * Every outcome has its counter; nothing is dropped without one.
 *
 * The body is decoded here only to answer: the consumer of the relay
 * topic decodes it again and dead-letters what fails, naming the topic
 * and partition, so this decoder writes no dead letters of its own.
 */
#include "operators/serve/otlp_http.h"

#include <arpa/inet.h>
#include <stddef.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <librdkafka/rdkafka.h>
#include <zlib.h>

#include "common/common.h"
#include "operators/output/output.h"

struct op_otlp_http {
	struct op_otlp_http_config *cfg;
	struct MHD_Daemon *daemon;
	rd_kafka_t *rk;
	rd_kafka_topic_t *rkt;
	struct op_decoder *dec;      /* the MHD thread's */
	unsigned port;
	_Atomic uint64_t queued;     /* bytes produced, not yet delivered */
};

/* Per request: the body as it arrives. */
struct req {
	char *body;
	size_t len, cap;
	int too_large;
};

void
op_otlp_http_config_init(struct op_otlp_http_config *c)
{
	memset(c, 0, sizeof *c);
	c->max_body_bytes = 4u << 20;
	c->max_queue_bytes = 64u << 20;
	c->retry_after_s = 1;
	op_decode_config_default(&c->decode);
}

/* ---- answers ----------------------------------------------------------- */

static enum MHD_Result
answer(struct MHD_Connection *conn, unsigned status, const char *ctype,
       const void *body, size_t len, unsigned retry_after)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(
	    len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	enum MHD_Result ok = MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
	                                             ctype);
	char ra[16];
	if (ok == MHD_YES && retry_after) {
		snprintf(ra, sizeof ra, "%u", retry_after);
		ok = MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, ra);
	}
	if (ok == MHD_YES)
		ok = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ok;
}

static enum MHD_Result
answer_text(struct MHD_Connection *conn, unsigned status, const char *text,
            unsigned retry_after)
{
	return answer(conn, status, "text/plain; charset=utf-8", text,
	              strlen(text), retry_after);
}

/* An ExportTraceServiceResponse, with partial_success when rejected > 0:
 * protobuf (field 1: ExportTracePartialSuccess {1: rejected_spans, 2:
 * error_message}) or its JSON mapping. */
static enum MHD_Result
answer_ok(struct MHD_Connection *conn, int json, uint64_t rejected,
          const char *why)
{
	char buf[512];
	size_t n = 0;
	if (json) {
		if (rejected)
			n = (size_t)snprintf(buf, sizeof buf,
			    "{\"partialSuccess\":{\"rejectedSpans\":\"%llu\","
			    "\"errorMessage\":\"%s\"}}", (unsigned long long)rejected, why);
		else
			n = (size_t)snprintf(buf, sizeof buf, "{}");
		return answer(conn, MHD_HTTP_OK, "application/json", buf, n, 0);
	}
	if (rejected) {
		unsigned char ps[256];
		size_t k = 0, wl = strlen(why);
		if (wl > 200)
			wl = 200;
		ps[k++] = 0x08; /* 1: rejected_spans, varint */
		k += weft_varint_put(ps + k, rejected);
		ps[k++] = 0x12; /* 2: error_message */
		k += weft_varint_put(ps + k, wl);
		memcpy(ps + k, why, wl);
		k += wl;
		buf[n++] = 0x0a; /* 1: partial_success */
		n += weft_varint_put((unsigned char *)buf + n, k);
		memcpy(buf + n, ps, k);
		n += k;
	}
	return answer(conn, MHD_HTTP_OK, "application/x-protobuf", buf, n, 0);
}

/* ---- body ---------------------------------------------------------------- */

/* Inflates a gzip body into *out (malloc'd) within max bytes: 0, 1 over
 * max, -1 not gzip / corrupt / no memory. */
static int
gunzip(const char *in, size_t n, size_t max, char **out, size_t *outlen)
{
	z_stream z = {0};
	if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
		return -1;
	size_t cap = n * 4 + 1024 < max + 1 ? n * 4 + 1024 : max + 1;
	char *b = malloc(cap);
	int rc = -1;
	if (!b)
		goto out;
	z.next_in = (unsigned char *)(uintptr_t)in;
	z.avail_in = (uInt)n;
	for (;;) {
		z.next_out = (unsigned char *)b + z.total_out;
		z.avail_out = (uInt)(cap - z.total_out);
		int zr = inflate(&z, Z_NO_FLUSH);
		if (zr == Z_STREAM_END) {
			rc = z.total_out > max ? 1 : 0;
			break;
		}
		if (zr != Z_OK && zr != Z_BUF_ERROR)
			break;
		if (z.total_out > max) {
			rc = 1;
			break;
		}
		if (z.avail_out == 0) {
			size_t nc = cap * 2 < max + 1 ? cap * 2 : max + 1;
			if (nc == cap) {
				rc = 1;
				break;
			}
			char *nb = realloc(b, nc);
			if (!nb)
				break;
			b = nb;
			cap = nc;
		} else if (z.avail_in == 0) {
			break; /* cut short */
		}
	}
out:
	inflateEnd(&z);
	if (rc == 0) {
		*out = b;
		*outlen = z.total_out;
	} else {
		free(b);
	}
	return rc;
}

static int
count_span(void *arg, const struct op_event *ev, uint32_t len)
{
	(void)len;
	uint64_t *first = arg;
	if (!first[1]++)
		first[0] = ev->trace_id;
	return 0;
}

static void
on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	(void)rk;
	struct op_otlp_http *h = opaque;
	atomic_fetch_sub(&h->queued, (uint64_t)m->len);
	if (m->err)
		atomic_fetch_add(&h->cfg->delivery_errors, 1);
}

/* A whole request body: decoded (to answer), then relayed. */
static enum MHD_Result
handle_body(struct op_otlp_http *h, struct MHD_Connection *conn, int json,
            const char *body, size_t len)
{
	struct op_otlp_http_config *c = h->cfg;
	uint64_t got[2] = {0, 0}; /* first trace id, spans */
	const struct op_decode_stats *st = op_decoder_stats(h->dec);
	uint64_t rej0 = st->rejected;
	struct op_unit u = {.data = body, .len = len, .avail = len,
	                    .format = 1u + (json ? OP_FORMAT_OTLP_JSON
	                                         : OP_FORMAT_OTLP_PROTO)};
	op_decoder_unit(h->dec, &u, count_span, got);
	uint64_t rejected = st->rejected - rej0;
	atomic_fetch_add(&c->spans, got[1]);
	atomic_fetch_add(&c->rejected_spans, rejected);
	if (!got[1] && rejected) {
		atomic_fetch_add(&c->bad_request, 1);
		char why[160];
		snprintf(why, sizeof why, "not an OTLP %s trace request: %s\n",
		         json ? "JSON" : "protobuf",
		         op_reject_name(op_decoder_last_reject(h->dec)));
		return answer_text(conn, MHD_HTTP_BAD_REQUEST, why, 0);
	}
	if (got[1]) {
		rd_kafka_poll(h->rk, 0);
		if (atomic_load(&h->queued) + len > c->max_queue_bytes) {
			atomic_fetch_add(&c->pushback, 1);
			return answer_text(conn, MHD_HTTP_TOO_MANY_REQUESTS,
			                   "weft is behind; retry later\n", c->retry_after_s);
		}
		char key[17];
		snprintf(key, sizeof key, "%016llx", (unsigned long long)got[0]);
		atomic_fetch_add(&h->queued, (uint64_t)len);
		if (rd_kafka_produce(h->rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY,
		                     (void *)(uintptr_t)body, len, key, 16, h) != 0) {
			atomic_fetch_sub(&h->queued, (uint64_t)len);
			atomic_fetch_add(&c->pushback, 1);
			return answer_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
			                   "cannot queue to Kafka now; retry later\n",
			                   c->retry_after_s);
		}
		atomic_fetch_add(&c->relayed, 1);
		atomic_fetch_add(&c->bytes, len);
	}
	return answer_ok(conn, json, rejected,
	                 rejected ? op_reject_name(op_decoder_last_reject(h->dec)) : "");
}

static int
header_is(struct MHD_Connection *conn, const char *name, const char *want)
{
	const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
	size_t n = strlen(want);
	return v && strncasecmp(v, want, n) == 0 && (v[n] == 0 || v[n] == ';');
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url,
           const char *method, const char *version, const char *upload,
           size_t *upload_len, void **con_cls)
{
	(void)version;
	struct op_otlp_http *h = cls;
	struct op_otlp_http_config *c = h->cfg;
	struct req *q = *con_cls;
	if (!q) { /* headers only: decide what can be refused now */
		if (!(q = calloc(1, sizeof *q)))
			return MHD_NO;
		*con_cls = q;
		atomic_fetch_add(&c->requests, 1);
		const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
		                                             MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl && strtoull(cl, NULL, 10) > c->max_body_bytes)
			q->too_large = 1;
		return MHD_YES;
	}
	if (*upload_len) { /* a piece of the body */
		if (!q->too_large && q->len + *upload_len > c->max_body_bytes)
			q->too_large = 1;
		if (!q->too_large) {
			if (q->len + *upload_len > q->cap) {
				size_t nc = (q->len + *upload_len) * 2;
				char *nb = realloc(q->body, nc);
				if (!nb)
					return MHD_NO;
				q->body = nb;
				q->cap = nc;
			}
			memcpy(q->body + q->len, upload, *upload_len);
			q->len += *upload_len;
		}
		*upload_len = 0;
		return MHD_YES;
	}
	if (strcmp(url, "/v1/traces") != 0) {
		atomic_fetch_add(&c->not_found, 1);
		return answer_text(conn, MHD_HTTP_NOT_FOUND, "only /v1/traces\n", 0);
	}
	if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
		return answer_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "POST only\n", 0);
	if (q->too_large) {
		atomic_fetch_add(&c->too_large, 1);
		return answer_text(conn, MHD_HTTP_CONTENT_TOO_LARGE,
		                   "body over otlp.http.max.body\n", 0);
	}
	int json = header_is(conn, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	if (!json && !header_is(conn, MHD_HTTP_HEADER_CONTENT_TYPE,
	                        "application/x-protobuf")) {
		atomic_fetch_add(&c->unsupported, 1);
		return answer_text(conn, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
		                   "application/x-protobuf or application/json\n", 0);
	}
	const char *body = q->body ? q->body : "";
	size_t len = q->len;
	char *plain = NULL;
	if (header_is(conn, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip")) {
		int g = gunzip(body, len, c->max_body_bytes, &plain, &len);
		if (g) {
			atomic_fetch_add(g > 0 ? &c->too_large : &c->bad_request, 1);
			return g > 0 ? answer_text(conn, MHD_HTTP_CONTENT_TOO_LARGE,
			                           "body over otlp.http.max.body\n", 0)
			             : answer_text(conn, MHD_HTTP_BAD_REQUEST,
			                           "corrupt gzip body\n", 0);
		}
		body = plain;
	}
	enum MHD_Result r = handle_body(h, conn, json, body, len);
	free(plain);
	return r;
}

static void
on_done(void *cls, struct MHD_Connection *conn, void **con_cls,
        enum MHD_RequestTerminationCode why)
{
	(void)cls;
	(void)conn;
	(void)why;
	struct req *q = *con_cls;
	if (q) {
		free(q->body);
		free(q);
	}
	*con_cls = NULL;
}

/* ---- start and stop ------------------------------------------------------ */

/* The relay producer, checking that the topic exists. */
static int
producer_new(struct op_otlp_http *h, char *err, size_t errlen)
{
	struct op_otlp_http_config *c = h->cfg;
	char e[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	if (rd_kafka_conf_set(conf, "bootstrap.servers", c->brokers, e, sizeof e) ||
	    rd_kafka_conf_set(conf, "linger.ms", "5", e, sizeof e)) {
		rd_kafka_conf_destroy(conf);
		weft_errf(err, errlen, "otlp.http: producer: %s", e);
		return WEFT_EINVAL;
	}
	for (unsigned i = 0; i < c->n_props; i++) {
		const char *eq = strchr(c->props[i], '=');
		char k[256];
		if (!eq || (size_t)(eq - c->props[i]) >= sizeof k) {
			rd_kafka_conf_destroy(conf);
			weft_errf(err, errlen, "otlp.http: producer property '%s'", c->props[i]);
			return WEFT_EINVAL;
		}
		memcpy(k, c->props[i], (size_t)(eq - c->props[i]));
		k[eq - c->props[i]] = 0;
		if (rd_kafka_conf_set(conf, k, eq + 1, e, sizeof e)) {
			rd_kafka_conf_destroy(conf);
			weft_errf(err, errlen, "otlp.http: producer: %s", e);
			return WEFT_EINVAL;
		}
	}
	rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	rd_kafka_conf_set_opaque(conf, h);
	if (!(h->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof e))) {
		weft_errf(err, errlen, "otlp.http: producer: %s", e);
		return WEFT_EKAFKA;
	}
	if (!(h->rkt = rd_kafka_topic_new(h->rk, c->topic, NULL)))
		return WEFT_ENOMEM;
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_resp_err_t me = rd_kafka_metadata(h->rk, 0, h->rkt, &md, 10000);
	int ok = !me && md && md->topic_cnt == 1 && !md->topics[0].err;
	if (md)
		rd_kafka_metadata_destroy(md);
	if (!ok) {
		weft_errf(err, errlen, "otlp.http: topic '%s' is not there (%s)",
		          c->topic, me ? rd_kafka_err2str(me) : "no such topic");
		return WEFT_EKAFKA;
	}
	return 0;
}

static int
listen_addr(const char *listen, struct sockaddr_storage *ss, unsigned *flags,
            char *err, size_t errlen)
{
	const char *colon = listen ? strrchr(listen, ':') : NULL;
	char host[INET6_ADDRSTRLEN + 2];
	size_t hl = colon ? (size_t)(colon - listen) : 0;
	if (!colon || hl == 0 || hl >= sizeof host || !colon[1]) {
		weft_errf(err, errlen, "otlp.http: expected ADDR:PORT, got '%s'",
		          listen ? listen : "");
		return WEFT_EINVAL;
	}
	char *end;
	unsigned long port = strtoul(colon + 1, &end, 10);
	if (*end || port > 65535) {
		weft_errf(err, errlen, "otlp.http: bad port in '%s'", listen);
		return WEFT_EINVAL;
	}
	memcpy(host, listen, hl);
	host[hl] = 0;
	if (host[0] == '[' && host[hl - 1] == ']') {
		memmove(host, host + 1, hl - 2);
		host[hl - 2] = 0;
	}
	memset(ss, 0, sizeof *ss);
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
	} else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		*flags |= MHD_USE_IPv6;
	} else {
		weft_errf(err, errlen, "otlp.http: '%s' is not a numeric address", host);
		return WEFT_EINVAL;
	}
	return 0;
}

int
op_otlp_http_start(struct op_otlp_http_config *cfg, struct op_otlp_http **out,
                   char *err, size_t errlen)
{
	*out = NULL;
	struct sockaddr_storage ss;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC |
	                 MHD_USE_ERROR_LOG;
	int rc = listen_addr(cfg->listen, &ss, &flags, err, errlen);
	if (rc)
		return rc;
	struct op_otlp_http *h = calloc(1, sizeof *h);
	if (!h)
		return WEFT_ENOMEM;
	h->cfg = cfg;
	cfg->decode.max_message_bytes = cfg->max_body_bytes;
	rc = op_decoder_new(OP_FORMAT_OTLP_PROTO, &cfg->decode, "otlp-http", NULL,
	                    &h->dec);
	if (rc) {
		weft_errf(err, errlen, "otlp.http: decoder: %s", weft_strerror(rc));
		op_otlp_http_stop(h, 0);
		return rc;
	}
	if ((rc = producer_new(h, err, errlen))) {
		op_otlp_http_stop(h, 0);
		return rc;
	}
	h->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
	    MHD_OPTION_NOTIFY_COMPLETED, on_done, h,
	    MHD_OPTION_CONNECTION_LIMIT, 256u,
	    MHD_OPTION_CONNECTION_TIMEOUT, 30u,
	    MHD_OPTION_END);
	if (!h->daemon) {
		weft_errf(err, errlen, "otlp.http: cannot listen on %s: %s",
		          cfg->listen, errno ? strerror(errno) : "start failed");
		op_otlp_http_stop(h, 0);
		return WEFT_EIO;
	}
	const union MHD_DaemonInfo *info =
	    MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
	h->port = info ? info->port : 0;
	*out = h;
	return 0;
}

unsigned
op_otlp_http_port(const struct op_otlp_http *h)
{
	return h->port;
}

void
op_otlp_http_stop(struct op_otlp_http *h, int timeout_ms)
{
	if (!h)
		return;
	if (h->daemon)
		MHD_stop_daemon(h->daemon);
	if (h->rk) {
		if (rd_kafka_flush(h->rk, timeout_ms) != RD_KAFKA_RESP_ERR_NO_ERROR)
			atomic_fetch_add(&h->cfg->delivery_errors,
			                 (uint64_t)rd_kafka_outq_len(h->rk));
		if (h->rkt)
			rd_kafka_topic_destroy(h->rkt);
		rd_kafka_destroy(h->rk);
	}
	op_decoder_free(h->dec);
	free(h);
}

/* ---- metrics ------------------------------------------------------------- */

int
op_otlp_http_render(struct op_otlp_http_config *c, struct weft_buf *b)
{
	static const struct {
		const char *out;
		size_t off;
	} refused[] = {
		{"bad_request", offsetof(struct op_otlp_http_config, bad_request)},
		{"too_large", offsetof(struct op_otlp_http_config, too_large)},
		{"unsupported_media_type", offsetof(struct op_otlp_http_config, unsupported)},
		{"not_found", offsetof(struct op_otlp_http_config, not_found)},
		{"pushback", offsetof(struct op_otlp_http_config, pushback)},
	};
	int rc = op_metrics_family(b, "weft_otlp_http_requests_total", "counter",
	                           "OTLP/HTTP requests received");
	rc |= op_metrics_sample(b, "weft_otlp_http_requests_total", NULL,
	                        (double)atomic_load(&c->requests));
	rc |= op_metrics_family(b, "weft_otlp_http_spans_total", "counter",
	                        "spans in OTLP/HTTP requests, by outcome of the check "
	                        "made to answer");
	rc |= op_metrics_sample(b, "weft_otlp_http_spans_total", "outcome=\"accepted\"",
	                        (double)atomic_load(&c->spans));
	rc |= op_metrics_sample(b, "weft_otlp_http_spans_total", "outcome=\"rejected\"",
	                        (double)atomic_load(&c->rejected_spans));
	rc |= op_metrics_family(b, "weft_otlp_http_relayed_total", "counter",
	                        "OTLP/HTTP bodies queued to the relay topic");
	rc |= op_metrics_sample(b, "weft_otlp_http_relayed_total", NULL,
	                        (double)atomic_load(&c->relayed));
	rc |= op_metrics_family(b, "weft_otlp_http_refused_total", "counter",
	                        "OTLP/HTTP requests answered with an error, by why");
	for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
		char l[48];
		snprintf(l, sizeof l, "why=\"%s\"", refused[i].out);
		rc |= op_metrics_sample(b, "weft_otlp_http_refused_total", l,
		                        (double)atomic_load((_Atomic uint64_t *)(void *)
		                                            ((char *)c + refused[i].off)));
	}
	rc |= op_metrics_family(b, "weft_otlp_http_delivery_errors_total", "counter",
	                        "relayed bodies the brokers did not take");
	rc |= op_metrics_sample(b, "weft_otlp_http_delivery_errors_total", NULL,
	                        (double)atomic_load(&c->delivery_errors));
	return rc;
}
