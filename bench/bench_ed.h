/*
 * bench_ed.h — `weft bench ed`: edit distance pairs per second, the
 * bit-parallel distance (Myers/Hyyro, with and without the cutoff) against
 * the plain DP, on near and far pairs of 64 to 5000 symbols; and `weft
 * bench cluster`: seconds to cluster 10,000 traces of ~350 events into
 * templates, with duplicates (as a training run has them) and when all
 * are distinct shapes (the worst case).
 */
#ifndef WEFT_BENCH_ED_H
#define WEFT_BENCH_ED_H

/* `weft bench ed`; options: --runs R (5), --markdown FILE. Prints
 * Markdown tables on stdout. Returns a process exit status. */
int bench_ed_main(int argc, char **argv);

/* `weft bench cluster`; options: --items N traces (10000), --len L
 * symbols per trace (~350), --threads T (default: 1 and the cores),
 * --runs R (3), --markdown FILE. Returns a process exit status. */
int bench_cluster_main(int argc, char **argv);

#endif
