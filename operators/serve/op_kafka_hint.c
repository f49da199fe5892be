/*
 * op_kafka_hint.c — the format hint of one Kafka topic (kafka_int.h).
 *
 * `weft serve` reads several topics, each in its own format (auto, or the
 * one topics=name:format forces). A topic whose records are all rejected
 * (another format than the one forced, or none weft reads) would only show
 * as dead letters. So each worker counts, per topic, the records it
 * decoded while none of the topic's was accepted, and what the rejected
 * ones looked like (op_decode_stats.looks_like); once per poll it adds its
 * counts to the topic's stats. When a topic reaches hint_after records
 * with none accepted, its hint (op_format_hint: "these look like Zipkin v2
 * spans; use --format zipkin", or "not a trace format weft reads") is
 * logged once, naming the topic, and /metrics shows it
 * (weft_topic_format_hint). A topic that has had an event accepted is no
 * longer counted: the cost per record is then one test.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "operators/serve/kafka_int.h"

void
op_kafka_tally_mark(const struct op_inline_decoder *dec,
                    struct op_kafka_tally_mark *m)
{
	const struct op_decode_stats *st = op_decoder_stats(dec->d);
	m->units = st->units;
	m->events = st->events;
	for (int i = 0; i <= OP_FORMAT__COUNT; i++)
		m->looks_like[i] = st->looks_like[i];
}

void
op_kafka_tally_add(struct op_kafka_tally *t, const struct op_inline_decoder *dec,
                   const struct op_kafka_tally_mark *m)
{
	const struct op_decode_stats *st = op_decoder_stats(dec->d);
	if (st->events > m->events) {
		t->accepted = 1;
	} else {
		t->units += st->units - m->units;
		for (int i = 0; i <= OP_FORMAT__COUNT; i++)
			t->looks_like[i] += st->looks_like[i] - m->looks_like[i];
	}
	t->dirty = 1;
}

/* Logs topic i's hint once, when it is due. */
static void
maybe_hint(struct op_kafka_config *cfg, unsigned i)
{
	struct op_kafka_topic_stat *ts = &cfg->topic_stats[i];
	uint64_t units = atomic_load(&ts->units);
	if (!cfg->hint_after || units < cfg->hint_after || atomic_load(&ts->accepted) ||
	    atomic_exchange(&ts->hinted, 1))
		return;
	uint64_t looks[OP_FORMAT__COUNT + 1];
	for (int f = 0; f <= OP_FORMAT__COUNT; f++)
		looks[f] = atomic_load(&ts->looks_like[f]);
	unsigned forced = cfg->topic_format ? cfg->topic_format[i] : 0;
	char hint[256];
	op_format_hint(forced ? (enum op_format)(forced - 1) : cfg->format, looks,
	               hint, sizeof hint);
	serve_log("warn", "topic %s: no event accepted in %" PRIu64 " records: %s",
	          cfg->topics[i], units, hint);
}

void
op_kafka_tally_publish(struct op_kafka_config *cfg, struct op_kafka_tally *t)
{
	for (unsigned i = 0; i < cfg->n_topics; i++) {
		struct op_kafka_topic_stat *ts = &cfg->topic_stats[i];
		if (t[i].dirty) {
			t[i].dirty = 0;
			if (t[i].accepted)
				atomic_store(&ts->accepted, 1);
			atomic_fetch_add(&ts->units, t[i].units);
			for (int f = 0; f <= OP_FORMAT__COUNT; f++)
				atomic_fetch_add(&ts->looks_like[f], t[i].looks_like[f]);
			t[i].units = 0;
			memset(t[i].looks_like, 0, sizeof t[i].looks_like);
			maybe_hint(cfg, i);
		}
		/* accepted elsewhere, or hinted: nothing left to count */
		if (atomic_load(&ts->accepted) || atomic_load(&ts->hinted))
			t[i].accepted = 1;
	}
}
