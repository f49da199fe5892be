/*
 * bench_kafka.h — `weft bench kafka`: the raw consume rate of a topic with
 * weft serve's consumer configuration, counting only (bench_kafka.c).
 */
#ifndef WEFT_BENCH_KAFKA_H
#define WEFT_BENCH_KAFKA_H

/* Options: --brokers B --topic T --events N, --rounds R (3), --batch N
 * (1024), --timeout S (300), -X PROP=VALUE, --markdown FILE. Prints a
 * Markdown table and the median reports/s on stdout. Returns a process
 * exit status. */
int bench_kafka_main(int argc, char **argv);

#endif
