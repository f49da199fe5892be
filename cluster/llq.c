/*
 * llq.c — llquantize histograms of latencies (model.h): below 1 us one
 * bucket; each decade [10^m, 10^(m+1)) for m = 3..10 in
 * CLUSTER_LLQ_PER_DECADE linear steps of 10^(m+1)/20; 100 s and above
 * one bucket. Counts saturate at UINT32_MAX, n keeps counting. The
 * model's latency profiles, its thresholds (a quantile's bucket's upper
 * bound) and the report's heatmaps all count in these buckets, and the
 * model file stores them sparse, so the layout is part of the file format.
 */
#include <stdint.h>

#include "cluster/model.h"

static const uint64_t pow10_tab[] = {1ull, 10ull, 100ull, 1000ull, 10000ull,
    100000ull, 1000000ull, 10000000ull, 100000000ull, 1000000000ull,
    10000000000ull, 100000000000ull, 1000000000000ull};

unsigned
cluster_llq_bucket(uint64_t v)
{
	if (v < pow10_tab[CLUSTER_LLQ_LOW])
		return 0;
	unsigned b = 1;
	for (unsigned m = CLUSTER_LLQ_LOW; m <= CLUSTER_LLQ_HIGH; m++) {
		if (v < pow10_tab[m + 1]) {
			uint64_t step = pow10_tab[m + 1] / CLUSTER_LLQ_STEPS;
			unsigned i = (unsigned)(v / step) - CLUSTER_LLQ_STEPS / 10;
			return b + i;
		}
		b += CLUSTER_LLQ_PER_DECADE;
	}
	return CLUSTER_LLQ_BUCKETS - 1;
}

uint64_t
cluster_llq_lo(unsigned b)
{
	if (b == 0)
		return 0;
	if (b >= CLUSTER_LLQ_BUCKETS - 1)
		return pow10_tab[CLUSTER_LLQ_HIGH + 1];
	unsigned m = CLUSTER_LLQ_LOW + (b - 1) / CLUSTER_LLQ_PER_DECADE;
	unsigned i = (b - 1) % CLUSTER_LLQ_PER_DECADE;
	uint64_t step = pow10_tab[m + 1] / CLUSTER_LLQ_STEPS;
	return step * (i + CLUSTER_LLQ_STEPS / 10);
}

uint64_t
cluster_llq_hi(unsigned b)
{
	if (b >= CLUSTER_LLQ_BUCKETS - 1)
		return UINT64_MAX;
	return cluster_llq_lo(b + 1);
}

void
cluster_llq_add(struct cluster_llq *h, uint64_t v)
{
	unsigned b = cluster_llq_bucket(v);
	if (h->bucket[b] != UINT32_MAX)
		h->bucket[b]++;
	h->n++;
}

uint64_t
cluster_llq_quantile(const struct cluster_llq *h, double q)
{
	if (!h->n)
		return 0;
	double want = q * (double)h->n;
	uint64_t seen = 0;
	for (unsigned b = 0; b < CLUSTER_LLQ_BUCKETS; b++) {
		seen += h->bucket[b];
		if (seen && (double)seen >= want)
			return cluster_llq_hi(b);
	}
	return cluster_llq_hi(CLUSTER_LLQ_BUCKETS - 1);
}
