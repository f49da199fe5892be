/* sim_gen.h — private: workload model, generator and anomaly injection. */
#ifndef WEFT_SIM_GEN_H
#define WEFT_SIM_GEN_H

#include "simulator/sim_internal.h"

/* Node of a learned trace template. Parents precede children. */
struct sim_mnode {
	int32_t parent;     /* template-local index; -1: root */
	uint32_t label, host, agent, desc; /* interned in model->strs */
	uint32_t lab;       /* index of the label's duration samples */
	int64_t gap_ns;     /* start after the parent's start */
	uint8_t part;       /* PART_* below */
};
enum { PART_PREFIX, PART_BODY, PART_MIDDLE, PART_LAST };

struct sim_tmpl {
	uint32_t title;     /* interned */
	uint32_t first, n;  /* nodes[first .. first+n) */
	uint32_t k;         /* repetitions of the block unit (0: none) */
	int32_t anchor1;    /* local index of the first unit's anchor */
	int32_t attach1;    /* where unit 2 hangs in unit 1 (-1 if k < 2) */
	int32_t anchork;    /* anchor of the last unit */
	uint32_t tclass;    /* index into model->titles */
};

struct sim_tclass {
	uint32_t title;
	uint32_t *ks;        /* repetition counts seen (one per trace) */
	size_t nks;
	uint32_t *expand;    /* templates with k >= 2 */
	size_t nexpand;
};

struct sim_model {
	struct sim_run strs_run;  /* owns strs only; for sim_json_event */
	struct sim_mnode *nodes;
	size_t nnodes, nodecap;
	struct sim_tmpl *tmpl;
	size_t ntmpl, tmplcap;
	struct sim_tclass *tc;
	size_t ntc, tccap;
	int64_t **durs;           /* per label: sorted duration samples */
	size_t *ndurs, nlabs, labcap;
	uint32_t *labs;           /* label string offset per lab index */
	uint32_t *dn_hosts;       /* DataNode host names seen */
	size_t ndn, dncap;
	struct sim_strmap *intern;
};

/* Learn from a run's normal traces (appends). Free with sim_model_free. */
int sim_model_learn(struct sim_model *m, const struct sim_run *r);
void sim_model_free(struct sim_model *m);

struct sim_gen_cfg {
	uint64_t traces;      /* traces to generate */
	uint64_t concurrent;  /* traces open at a time */
	uint64_t seed;
	int64_t blocks;       /* >0: force this repetition count */
	const char *title;    /* NULL or only templates with this title */
	double inject_rate;   /* P(a trace gets one anomaly) */
	unsigned kinds;       /* bit set of SIM_INJ_* */
	int64_t start_ms;     /* Timestamp of the first trace */
	double load;          /* every duration and gap x load: a busier
	                       * cluster slows all hosts together (1) */
	uint64_t slow_hosts;  /* the first N learned DataNodes are slowed (0) */
	double slow_factor;   /* their events' durations x this (4) */
};
void sim_gen_defaults(struct sim_gen_cfg *c);

enum {
	SIM_INJ_DROP = 1u << 0,
	SIM_INJ_EXCEPTION = 1u << 1,
	SIM_INJ_SWAP = 1u << 2,
	SIM_INJ_DELAY = 1u << 3,
	SIM_INJ_TRUNCATE = 1u << 4,
};
/* "drop,exception" -> bits; 0 or WEFT_EINVAL (bad names the bad kind). */
int sim_inject_parse_kinds(const char *s, unsigned *bits, char *bad,
    size_t badlen);
const char *sim_inject_kind_name(unsigned bit);

/* A trace being generated: nodes in topological order. */
struct sim_gnode {
	int32_t parent;
	uint32_t label, host, agent, desc;
	int64_t off_ns, dur_ns, id;
	int32_t depth;
	uint8_t dropped;
};

struct sim_gtrace {
	struct sim_gnode *n;
	size_t len, cap;
	size_t emit_len;   /* events to emit (truncate lowers it) */
	uint64_t task;
	uint32_t title;
};

/* Apply one anomaly of a kind drawn from bits; returns the kind's bit. */
unsigned sim_inject(struct sim_model *m, struct sim_gtrace *t,
    unsigned bits, struct sim_rng *g);

/* Load and slowed hosts (cfg->load, slow_hosts, slow_factor) applied to
 * a built trace (sim_inject.c). */
void sim_apply_load(const struct sim_model *m, const struct sim_gen_cfg *cfg,
    struct sim_gtrace *t);

/* Intern a string into the model's arena (one copy per distinct text). */
int sim_model_intern(struct sim_model *m, const char *s, uint32_t *off);

/* Generate to a sink-like writer: out_jsonl / out_truth paths (truth may
 * be NULL). stats: events written. */
int sim_generate(struct sim_model *m, const struct sim_gen_cfg *cfg,
    const char *out_jsonl, const char *out_truth, uint64_t *events);

#endif
