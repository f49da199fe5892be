/*
 * bench_bloom.h — `weft bench bloom`: probes per second per core of the
 * split-block Bloom filter (bloom.h) for filters that fit in L1, L2, the
 * last-level cache and far beyond it, hit-heavy and miss-heavy probe
 * streams, bloom_probe() in a loop and bloom_probe_batch(); and the
 * measured false-positive rate against bloom_fpr_theory().
 */
#ifndef WEFT_BENCH_BLOOM_H
#define WEFT_BENCH_BLOOM_H

/* Runs the benchmark; options: --keys N (repeatable; default 10000,
 * 200000, 1000000 and 50000000), --fpr P (0.01), --rounds R (5), --probes N per
 * stream and round (4000000), --markdown FILE. Prints Markdown tables on
 * stdout. Returns a process exit status. */
int bench_bloom_main(int argc, char **argv);

#endif
