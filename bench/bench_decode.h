/*
 * bench_decode.h — `weft bench decode`: X-Trace v4 JSON decoding throughput
 * of weft's decoder against json-c and jansson doing the same job.
 */
#ifndef WEFT_BENCH_DECODE_H
#define WEFT_BENCH_DECODE_H

/* Runs the benchmark; options: --lines N (100000), --runs R (7),
 * --markdown FILE (`weft bench decode --help`). Prints a Markdown table on
 * stdout. Returns a process exit status. */
int bench_decode_main(int argc, char **argv);

#endif
