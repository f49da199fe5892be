/*
 * bench_otlp.h — `weft bench otlp`: OTLP decoding throughput per core:
 * weft's protobuf decoder against protobuf-c on the same bytes, and
 * weft's OTLP JSON decoder against its X-Trace JSON decoder on the same
 * events.
 */
#ifndef WEFT_BENCH_OTLP_H
#define WEFT_BENCH_OTLP_H

/* Options: --proto F (size-prefixed OTLP protobuf), --otlp-json F,
 * --xtrace F (as `weft sim import-tracebench --format` writes them),
 * --runs R, --markdown FILE. Returns a process exit status. */
int bench_otlp_main(int argc, char **argv);

#endif
