/*
 * rekey.h — private: the loop of `weft rekey` (op_rekey.c), callable
 * in-process (tests). Not part of the public interface.
 */
#ifndef WEFT_OP_REKEY_H
#define WEFT_OP_REKEY_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "operators/ingest/decode.h"

struct op_rekey_config {
	const char *brokers;           /* bootstrap.servers of both clients */
	const char *topic;             /* input */
	const char *to_topic;          /* output: value unchanged, keyed by trace */
	const char *group;             /* consumer group (NULL: "weft-rekey") */
	const char *dead_letter_topic; /* NULL: rejects are only counted */
	enum op_format format;         /* one report per message */
	/* "key=value" librdkafka properties, applied after the defaults:
	 * props to both clients, then consumer_props / producer_props. */
	const char *const *props;
	size_t n_props;
	const char *const *consumer_props;
	size_t n_consumer_props;
	const char *const *producer_props;
	size_t n_producer_props;
	uint32_t commit_ms;            /* flush + commit period (0: 500) */
	int exit_at_eof;               /* return when every assigned partition
	                                * reached its end */
	const volatile sig_atomic_t *stop; /* non-zero: stop; may be NULL */
};

struct op_rekey_stats {
	uint64_t consumed;      /* messages read from the input topic */
	uint64_t produced;      /* rekeyed messages delivered to to_topic */
	uint64_t rejected;      /* messages that did not decode */
	uint64_t by_reason[OP_REJECT__COUNT];
	uint64_t dead_lettered; /* rejects delivered to the dead-letter topic */
	uint64_t failed;        /* deliveries that failed (an error exit) */
	uint64_t commits;       /* offset commits that succeeded */
};

/* Zeroes cfg; format JSON v4, group "weft-rekey", commit every 500 ms. */
void op_rekey_config_default(struct op_rekey_config *cfg);

/*
 * Consumes cfg->topic in cfg->group and re-produces every message keyed by
 * the trace id of the report it holds (16 lowercase hex digits) into
 * cfg->to_topic with an idempotent producer; a message that does not decode
 * is counted by reason and, with a dead-letter topic, produced there
 * unchanged with a "weft-error" header naming the reason. Offsets are
 * committed only when everything below them was delivered: periodically and
 * at exit (and before partitions are revoked) the producer is flushed, then
 * the positions of the handled messages are committed. After a failed
 * delivery nothing more is committed and the run fails.
 *
 * Runs until *cfg->stop, or (exit_at_eof) EOF on every assigned partition.
 * Returns 0, WEFT_EINVAL (bad configuration: errstr names it), WEFT_ENOMEM or
 * WEFT_EKAFKA (errstr says why). *st is filled in every case.
 */
int op_rekey_run(const struct op_rekey_config *cfg, struct op_rekey_stats *st,
                 char *errstr, size_t errlen);

/* The counters, one per line (reasons with a non-zero count). */
void op_rekey_print_stats(FILE *f, const struct op_rekey_stats *st);

#endif /* WEFT_OP_REKEY_H */
