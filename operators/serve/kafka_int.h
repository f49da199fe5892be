/*
 * kafka_int.h — what the Kafka source's two files share (op_kafka.c: the
 * consumers; op_kafka_probe.c: the partitions' slots, the prober thread
 * and the committer's per-partition lows). Private to operators/serve/.
 */
#ifndef WEFT_KAFKA_INT_H
#define WEFT_KAFKA_INT_H

#include <stdint.h>

#include "operators/serve/serve.h"

/* Wall clock, ms. */
int64_t op_kafka_wall_ms(void);
/* A client configuration: our defaults, then the user's properties; w is
 * the worker (its client id), UINT32_MAX the prober. NULL with a message. */
rd_kafka_conf_t *op_kafka_client_conf(const struct op_kafka_config *cfg,
                                      unsigned w, char *errstr, size_t errlen);
/* The slot of (topic, partition), registered on first use: an index, or
 * UINT32_MAX when the table is full (counted). Any worker thread. */
uint32_t op_kafka_slot_of(struct op_kafka_config *cfg, const char *topic,
                          int32_t partition);
/* The prober thread (worker 0's source starts and stops it). 0 or WEFT_E*. */
int op_kafka_prober_start(struct op_kafka_config *cfg);
void op_kafka_prober_stop(struct op_kafka_config *cfg);

#endif
