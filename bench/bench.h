/*
 * bench.h — weft's benchmark programs (`weft bench ...`) and the small
 * toolkit they share: a monotonic clock, medians and quantiles, and
 * Markdown tables with a preamble naming the command and the machine, so
 * every figure written to BENCHMARKS.md carries how it was produced.
 */
#ifndef WEFT_BENCH_H
#define WEFT_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* `weft bench ...`: argv[0] == "bench". Returns a process exit status. */
int bench_main(int argc, char **argv);
/* `weft bench engine ...` (argv[0] == "engine"). Returns a process exit
 * status. */
int bench_engine_main(int argc, char **argv);
/* `weft bench touch ...` (bench_touch.c): first touch of fresh memory. */
int bench_touch_main(int argc, char **argv);

/* Every bench verb reads its options from its own table (common/opt.h:
 * weft_opt_run, weft_opt_usage). */

uint64_t bench_now_ns(void);
/* Sorts v in place and returns its median (0 for n == 0). */
double bench_median(double *v, size_t n);
void bench_sort(double *v, size_t n);
/* q-quantile of sorted v (nearest rank); 0 for n == 0. */
double bench_quantile(const double *v, size_t n, double q);

/* A Markdown table. Freed by bench_table_free(). */
struct bench_table;
struct bench_table *bench_table_new(const char *title);
void bench_table_free(struct bench_table *t);
/* Columns as "a|b|c". */
void bench_table_columns(struct bench_table *t, const char *cols);
/* Columns "first | W=1 | ... | W=max_w". */
void bench_table_header(struct bench_table *t, const char *first,
                        unsigned max_w);
/* A row as "x|y|z". */
void bench_table_row(struct bench_table *t, const char *cells);
/* A row "key | rate(W=1) | ..." with rates in M/s. */
void bench_table_row_rates(struct bench_table *t, uint64_t key,
                           const double *rates, unsigned n);
void bench_table_print(const struct bench_table *t, FILE *f);

/* Writes the command line, date, machine (cores, CPU model, memory) and
 * source revision as a Markdown paragraph. */
void bench_write_preamble(FILE *f, const char *what, int argc, char **argv);
/* A verb's --markdown FILE: the preamble for what, then the tables
 * (NULL-ended), sep printed between two. 0, or -1 (perror'd) when path
 * cannot be written. */
int bench_write_markdown(const char *path, const char *what, int argc,
                         char **argv, const char *sep,
                         const struct bench_table *const *tables);

#endif
