/*
 * otlp_http.h — the OTLP/HTTP trace receiver of `weft serve`
 * (op_otlp_http.c): POST /v1/traces, protobuf or JSON, optionally gzip,
 * answered as the OTLP/HTTP specification says, and relayed into one of
 * the service's own input topics.
 *
 * Why a relay: the engine's graph has one source per input (the Kafka
 * consumers); what arrives over HTTP is produced, body as is, to a topic
 * the same service consumes (otlp.http.topic, which must be one of its
 * input topics), so HTTP spans take exactly the path Kafka spans take:
 * the same decoding, exchange, commit ledger and verdicts, and the same
 * dead letters (named by topic and partition). A request is answered once
 * its body is queued to the producer, before the broker has it: HTTP input
 * is not durable (a crash in between loses it); send to Kafka directly
 * where no trace may be lost.
 *
 * Thread model: one libmicrohttpd thread runs every request (its decoder,
 * used only to answer partial_success and 400, and the producer's polls);
 * the counters are atomics read by anyone.
 */
#ifndef WEFT_OTLP_HTTP_H
#define WEFT_OTLP_HTTP_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "operators/ingest/decode.h"

struct op_otlp_http_config {
	const char *listen;          /* "ADDR:PORT" (IPv4, or [IPv6]) */
	const char *brokers;
	const char *topic;           /* where bodies are relayed */
	const char *const *props;    /* producer "key=value" (may be NULL) */
	unsigned n_props;
	uint32_t max_body_bytes;     /* after gzip decoding (4 MiB): 413 */
	uint64_t max_queue_bytes;    /* producer queue (64 MiB): then 503 */
	uint32_t retry_after_s;      /* Retry-After of 429 / 503 (1) */
	struct op_decode_config decode;
	/* counters */
	_Atomic uint64_t requests, spans, rejected_spans, relayed, bytes;
	_Atomic uint64_t bad_request, too_large, unsupported, not_found;
	_Atomic uint64_t pushback, delivery_errors;
};

void op_otlp_http_config_init(struct op_otlp_http_config *c);

struct op_otlp_http;
/* Starts the receiver (and its producer, which checks the topic exists).
 * 0, or WEFT_EINVAL / WEFT_EIO / WEFT_EKAFKA / WEFT_ENOMEM with a message
 * in err. cfg must outlive the receiver. Free with op_otlp_http_stop(). */
int op_otlp_http_start(struct op_otlp_http_config *cfg,
                       struct op_otlp_http **out, char *err, size_t errlen);
/* The port it listens on (useful with port 0). */
unsigned op_otlp_http_port(const struct op_otlp_http *h);
struct weft_buf;
/* Appends the receiver's counters in Prometheus text (weft_otlp_http_*)
 * to b, for weft serve's /metrics. 0 or WEFT_ENOMEM. Any thread. */
int op_otlp_http_render(struct op_otlp_http_config *c, struct weft_buf *b);
/* Stops accepting, waits up to timeout_ms for relayed bodies to be
 * delivered, frees. NULL: nothing. */
void op_otlp_http_stop(struct op_otlp_http *h, int timeout_ms);

#endif
