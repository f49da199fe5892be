/*
 * peer_int.h — the layout of the peer store (op_peer.c has the design,
 * the lock order and the invariants; peer.h the rules). Private to
 * op_peer.c.
 */
#ifndef WEFT_PEER_INT_H
#define WEFT_PEER_INT_H

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>

#include "operators/check/peer.h"

#define NO_CELL UINT32_MAX
/* A lane's outbox is drained when it holds this many durations, not only
 * at the refresh (a trace of millions of events). */
#define OUTBOX_MAX 65536

struct peer_cell { /* the store's: under s->lock */
	uint64_t last_epoch;
	uint64_t med, ref;       /* at the last refresh; 0: not enough samples */
	uint32_t n_peers;
	uint32_t n, pos;         /* ring fill and next slot */
	uint32_t adds;           /* durations added since the last refresh */
	int anom;                /* an open host anomaly */
	uint64_t since_epoch, reported_epoch;
	uint64_t since_trace, reported_trace; /* traces observed by then */
	uint64_t since_unix_ms;
	char *label_text, *host_text;
	uint64_t *ring;          /* [window], in arrival order */
	uint64_t *sorted;        /* [window], the same values sorted: the
	                          * median is read in O(1) */
};

struct peer_id { /* s->keys[cell]: what the index compares */
	uint64_t label, host;
};

struct peer_lkey { /* s->by_label */
	uint64_t label, host, med;
	uint32_t cell, pad;
};

struct peer_key { /* a live cell in the refresh's order */
	uint64_t label, med, host;
	uint32_t cell, hosts;    /* hosts: cells of the label, live or not */
};

/* A lane's part of a cell: under the lane's lock. */
struct peer_wcell {
	/* what the last refresh published, to judge against */
	uint64_t ref, med;
	uint64_t hit_at;         /* an event of an open anomaly is slow from here
	                          * (exact below 2^53, see at_least); 0: no anomaly */
	uint64_t whole_at;       /* ... counts for slow_on_its_own from here */
	uint32_t n_peers, n;
	uint32_t tr_n, tr_over;  /* the trace being judged: its events here, and
	                          * those >= trace_ratio x ref */
	uint32_t tr_node;        /* its slowest event here */
	uint64_t tr_seq;         /* that trace (the lane's seq) */
	uint64_t tr_max;         /* that event's duration */
};

/* A duration fed, or (cell NO_CELL) the epoch of the durations after it. */
struct peer_fed {
	uint32_t cell, pad;
	uint64_t d;
};

struct peer_outbox {
	struct peer_fed *e;
	size_t n, cap;
};

struct peer_lane { /* one per worker, on cache lines of its own */
	alignas(64) pthread_mutex_t lock;
	struct peer_wcell *cells;/* [s->n] */
	size_t cap;
	struct peer_outbox out;  /* fed since the refresh took the last one */
	uint32_t *touched;       /* cells the trace being judged used */
	size_t n_touched, cap_touched;
	uint32_t *miss;          /* events of the trace being fed with no cell
	                          * yet (the lane's worker only, lock or not) */
	size_t cap_miss;
	uint64_t seq;            /* traces this lane judged */
	uint64_t slow_traces, slow_whole, skipped_traces;
};

struct op_peer_store {
	struct op_peer_config c;
	pthread_mutex_t lock;
	struct peer_cell *cells;
	size_t n, cap;
	struct peer_id *keys;    /* [n] */
	size_t cap_keys;
	uint32_t *ix;            /* cell index + 1, 0 = empty; cap_ix a power of two */
	size_t cap_ix;
	struct peer_lkey *by_label; /* every cell, sorted by (label, host) */
	size_t cap_by_label;
	int by_label_stale;
	struct peer_key *order;  /* scratch: live cells sorted by (label, med, host) */
	size_t cap_order;
	double *lf;              /* scratch: load factors per label */
	size_t cap_lf;
	struct peer_outbox *spare; /* [n_lanes]: each lane's next outbox */
	uint32_t *remap;         /* scratch: old cell -> new at a drop */
	size_t cap_remap;
	uint64_t refreshed;      /* last epoch refreshed + 1 (0: none) */
	_Atomic uint64_t traces; /* traces observed */
	_Atomic uint32_t since_refresh; /* of them since the last refresh */
	_Atomic uint32_t stride; /* every stride-th trace feeds the windows */
	_Atomic int any_open;    /* a host anomaly is open: events are judged */
	struct op_peer_stats st; /* the lanes' counters are added when read */
	unsigned n_lanes;
	struct peer_lane *lanes;
};

#endif
