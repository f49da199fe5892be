/*
 * serve_otlp.c — `weft serve --otlp-http ADDR:PORT`: starts the OTLP/HTTP
 * receiver (operators/serve/otlp_http.h) once the service is built, and
 * stops it (flushing what it relayed) when the service ends.
 */
#include <stdio.h>
#include <string.h>

#include "common/common.h"
#include "common/opt.h"
#include "operators/serve/otlp_http.h"
#include "operators/serve/serve.h"
#include "cmd/cmd.h"

int
cmd_serve_otlp_start(struct op_otlp_http_config *c, struct op_otlp_http **out,
                     const char *listen, const char *brokers, const char *topic,
                     const char *const *topics, unsigned n_topics,
                     uint32_t max_body, uint64_t max_queue,
                     const char *const *props,
                     unsigned n_props)
{
	*out = NULL;
	if (!listen || strcmp(listen, "off") == 0)
		return -1;
	int known = 0;
	for (unsigned i = 0; i < n_topics; i++)
		known |= strcmp(topics[i], topic) == 0;
	if (!known) {
		fprintf(stderr, "weft serve: otlp.http.topic: '%s' is not one of the "
		        "input topics (the service consumes what it relays)\n", topic);
		return WEFT_OPT_EXIT_USAGE;
	}
	op_otlp_http_config_init(c);
	c->listen = listen;
	c->brokers = brokers;
	c->topic = topic;
	c->props = props;
	c->n_props = n_props;
	c->max_body_bytes = max_body;
	c->max_queue_bytes = max_queue;
	char err[512];
	int rc = op_otlp_http_start(c, out, err, sizeof err);
	if (rc) {
		fprintf(stderr, "weft serve: %s\n", err);
		return rc == WEFT_EINVAL ? WEFT_OPT_EXIT_USAGE : 1;
	}
	serve_log("info", "OTLP/HTTP on port %u (POST /v1/traces), relayed to '%s'",
	          op_otlp_http_port(*out), topic);
	return -1;
}

void
cmd_serve_otlp_stop(struct op_otlp_http_config *c, struct op_otlp_http *h)
{
	if (!h)
		return;
	op_otlp_http_stop(h, 10000);
	serve_log("info",
	          "OTLP/HTTP: %llu requests, %llu spans, %llu rejected spans, "
	          "%llu relayed; refused: %llu bad, %llu too large, %llu media type, "
	          "%llu pushback; %llu delivery errors",
	          (unsigned long long)atomic_load(&c->requests),
	          (unsigned long long)atomic_load(&c->spans),
	          (unsigned long long)atomic_load(&c->rejected_spans),
	          (unsigned long long)atomic_load(&c->relayed),
	          (unsigned long long)atomic_load(&c->bad_request),
	          (unsigned long long)atomic_load(&c->too_large),
	          (unsigned long long)atomic_load(&c->unsupported),
	          (unsigned long long)atomic_load(&c->pushback),
	          (unsigned long long)atomic_load(&c->delivery_errors));
}
