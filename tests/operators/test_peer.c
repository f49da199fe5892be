/*
 * test_peer.c — latency against peers (operators/check/op_peer.c): a host
 * slowed alone opens one host anomaly naming it, its traces are slow and
 * name it with the peers' figure, and the others' are not; load that
 * slows every host together opens nothing and flags nothing; an anomaly
 * closes when its host is back among its peers; too few peers judge
 * nothing; the (label, host) limit is counted; high rates feed a sample;
 * a host without peers is judged against its learned median x the load;
 * a trace slowed throughout on one healthy host is slow on its own, one
 * event far in the tail is not; workers, each on a lane of its own, see
 * what one shared store would (refreshed after every trace: the same
 * verdicts and records), and concurrent workers name the slowed host.
 */
#include <pthread.h>

#include "test_util.h"
#include "test_traces.h"
#include "operators/check/peer.h"

enum { HOSTS = 6 };
static const char *const hosts[HOSTS] = {"dn1", "dn2", "dn3", "dn4", "dn5", "dn6"};

/* A write: the client's root, the DataNode's writeBlock taking ms. */
static struct op_trace *
write_on(unsigned h, uint64_t ms)
{
	const struct ev_step steps[] = {
		{1, 0, "write", "client1", 1000, 1000 + ms * 1000000ull + 5000000ull},
		{2, 1, "writeBlock", hosts[h], 5000, 5000 + ms * 1000000ull},
	};
	return make_trace(steps, 2);
}

struct fixture {
	struct op_trace *normal[HOSTS], *slow1, *busy[HOSTS];
};
static struct fixture F;

static int
setup(void **st)
{
	(void)st;
	for (unsigned h = 0; h < HOSTS; h++) {
		F.normal[h] = write_on(h, 10);
		F.busy[h] = write_on(h, 30); /* everyone 3x slower */
	}
	F.slow1 = write_on(0, 100);
	return 0;
}

static int
teardown(void **st)
{
	(void)st;
	for (unsigned h = 0; h < HOSTS; h++) {
		free(F.normal[h]);
		free(F.busy[h]);
	}
	free(F.slow1);
	return 0;
}

/* The tests' store settings: 8 durations per window, judged from 4, a
 * refresh every `refresh` traces. */
static struct op_peer_config
small_config(uint32_t refresh)
{
	struct op_peer_config c;
	op_peer_config_default(&c);
	c.window = 8;
	c.min_samples = 4;
	c.refresh_traces = refresh;
	return c;
}

static struct op_peer_store *
store(void)
{
	struct op_peer_config c = small_config(1);
	struct op_peer_store *s = op_peer_store_new(&c, 1);
	assert_non_null(s);
	return s;
}

static size_t
count_of(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = hay; p && (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* One round: a trace on every host (host 0's is t0). Returns how many
 * were slow; records into out; the last hit of host 0 into hit0. */
static int
round_of(struct op_peer_store *s, struct op_trace *const *on, struct op_trace *t0,
         struct weft_buf *out, struct op_peer_hit *hit0)
{
	int slow = 0;
	for (unsigned h = 0; h < HOSTS; h++) {
		struct op_peer_hit hit;
		int r = op_peer_observe(s, 0, h ? on[h] : t0, 1, NULL, &hit, out);
		assert_true(r == 0 || r == 1);
		slow += r;
		if (!h)
			*hit0 = hit;
	}
	return slow;
}

static void
test_a_slowed_host_is_named_and_its_traces_are_slow(void **st)
{
	(void)st;
	struct op_peer_store *s = store();
	struct weft_buf out = {0};
	struct op_peer_hit hit;
	for (int i = 0; i < 8; i++)
		assert_int_equal(round_of(s, F.normal, F.normal[0], &out, &hit), 0);
	assert_int_equal(out.len, 0);
	/* dn1 slowed alone: 10x its peers */
	int slow = 0, named = 0;
	for (int i = 0; i < 8; i++) {
		int k = round_of(s, F.normal, F.slow1, &out, &hit);
		slow += k;
		named += k == 1 && hit.node >= 0;
		if (k) {
			assert_int_equal(hit.value_ns, 100000000ull);
			assert_int_equal(hit.peers_median_ns, 10000000ull);
			assert_int_equal(hit.n_peers, HOSTS - 1);
		}
	}
	/* opens once its lower quartile too is slow (6 of the 8 in its
	 * window), refreshed after each trace: the 7th and 8th are slow */
	assert_int_equal(slow, 2);
	assert_int_equal(named, slow);
	assert_int_equal(count_of(out.p, "\"type\":\"host_anomaly\""), 1);
	assert_int_equal(count_of(out.p, "\"state\":\"open\",\"host\":\"dn1\",\"label\":\"writeBlock\""), 1);
	assert_int_equal(count_of(out.p, "\"n_peers\":5"), 1);
	/* the trace's slow_by names the host, the label and the peers' figure */
	struct weft_buf b = {0}, x = {0};
	assert_int_equal(op_peer_format(&b, &x, F.slow1, &hit), 0);
	assert_non_null(strstr(b.p, ",\"slow_by\":{\"host\":\"dn1\",\"label\":\"writeBlock\","
	                            "\"value_ns\":100000000,\"host_median_ns\":100000000,"
	                            "\"peers_median_ns\":10000000,\"n_peers\":5}"));
	assert_non_null(strstr(x.p, "on dn1"));
	assert_non_null(strstr(x.p, "against 10.0 ms on 5 peers"));
	struct weft_buf mt = {0};
	assert_int_equal(op_peer_metrics(s, &mt), 0);
	assert_non_null(strstr(mt.p, "weft_host_anomalies_open 1\n"));
	assert_non_null(strstr(mt.p, "weft_host_anomaly_ratio{host=\"dn1\",label=\"writeBlock\"} 10.000\n"));
	/* dn1 back among its peers: closes once its median is */
	out.len = 0;
	for (int i = 0; i < 8; i++)
		assert_int_equal(round_of(s, F.normal, F.normal[0], &out, &hit), 0);
	assert_int_equal(count_of(out.p, "\"state\":\"close\",\"host\":\"dn1\""), 1);
	struct op_peer_stats ps;
	op_peer_stats(s, &ps);
	assert_int_equal(ps.opened, 1);
	assert_int_equal(ps.closed, 1);
	assert_int_equal(ps.open_now, 0);
	free(b.p);
	free(x.p);
	free(mt.p);
	free(out.p);
	op_peer_store_free(s);
}

static void
test_load_that_slows_every_host_flags_nothing(void **st)
{
	(void)st;
	struct op_peer_store *s = store();
	struct weft_buf out = {0};
	struct op_peer_hit hit;
	for (int i = 0; i < 8; i++)
		assert_int_equal(round_of(s, F.normal, F.normal[0], &out, &hit), 0);
	/* the whole cluster 3x slower, and then back */
	for (int i = 0; i < 16; i++)
		assert_int_equal(round_of(s, F.busy, F.busy[0], &out, &hit), 0);
	for (int i = 0; i < 16; i++)
		assert_int_equal(round_of(s, F.normal, F.normal[0], &out, &hit), 0);
	assert_int_equal(out.len, 0);
	free(out.p);
	op_peer_store_free(s);
}

static void
test_too_few_peers_judge_nothing(void **st)
{
	(void)st;
	struct op_peer_store *s = store();
	struct weft_buf out = {0};
	struct op_peer_hit hit;
	/* dn1 10x slower than dn2 and dn3: only two peers (min_peers 3) */
	for (int i = 0; i < 16; i++) {
		assert_int_equal(op_peer_observe(s, 0, F.slow1, 1, NULL, &hit, &out), 0);
		assert_int_equal(op_peer_observe(s, 0, F.normal[1], 1, NULL, &hit, &out), 0);
		assert_int_equal(op_peer_observe(s, 0, F.normal[2], 1, NULL, &hit, &out), 0);
	}
	assert_int_equal(out.len, 0);
	free(out.p);
	op_peer_store_free(s);
}

static void
test_the_pair_limit_is_counted(void **st)
{
	(void)st;
	struct op_peer_config c;
	op_peer_config_default(&c);
	c.max_cells = 3; /* write@client1, writeBlock@dn1, writeBlock@dn2 */
	struct op_peer_store *s = op_peer_store_new(&c, 1);
	assert_non_null(s);
	struct weft_buf out = {0};
	struct op_peer_hit hit;
	for (unsigned h = 0; h < HOSTS; h++)
		assert_int_equal(op_peer_observe(s, 0, F.normal[h], 1, NULL, &hit, &out), 0);
	struct op_peer_stats ps;
	op_peer_stats(s, &ps);
	assert_int_equal(ps.cells, 3);
	assert_int_equal(ps.cells_dropped, HOSTS - 2);
	free(out.p);
	op_peer_store_free(s);
}

/* At a high rate (windows refilled between refreshes) only every
 * stride-th trace feeds them, counted; a host slowed then is still named
 * and its traces judged slow. */
static void
test_high_rate_feeds_a_sample_and_still_names_the_host(void **st)
{
	(void)st;
	/* 4 rounds of 6: 4 durations per window */
	struct op_peer_config c = small_config(24);
	struct op_peer_store *s = op_peer_store_new(&c, 1);
	assert_non_null(s);
	struct weft_buf out = {0};
	struct op_peer_hit hit;
	for (int i = 0; i < 64; i++)
		assert_int_equal(round_of(s, F.normal, F.normal[0], &out, &hit), 0);
	struct op_peer_stats ps;
	op_peer_stats(s, &ps);
	/* 4 durations per window per refresh at stride 1: the stride grows
	 * (how far depends on how it aliases with this round-robin) */
	assert_true(ps.stride >= 2 && ps.stride <= 16);
	assert_true(ps.skipped_traces > 0);
	int slow = 0;
	for (int i = 0; i < 160; i++)
		slow += round_of(s, F.normal, F.slow1, &out, &hit);
	assert_int_equal(count_of(out.p, "\"state\":\"open\",\"host\":\"dn1\""), 1);
	assert_true(slow > 100);
	free(out.p);
	op_peer_store_free(s);
}

/* A write whose client asks the one NameNode (addBlock: no peers) and
 * one DataNode (writeBlock: five peers). */
static struct op_trace *
write_nn(unsigned h, uint64_t ms_block, uint64_t ms_nn)
{
	const struct ev_step steps[] = {
		{1, 0, "write", "client1", 1000, 1000 + (ms_block + ms_nn + 5) * 1000000ull},
		{2, 1, "addBlock", "nn", 2000, 2000 + ms_nn * 1000000ull},
		{3, 1, "writeBlock", hosts[h], 5000, 5000 + ms_block * 1000000ull},
	};
	return make_trace(steps, 3);
}

static int
feed_nn(struct op_peer_store *s, const struct cluster_model *m, uint64_t ms_block,
        uint64_t ms_nn, int rounds, struct weft_buf *out)
{
	int slow = 0;
	for (unsigned h = 0; h < HOSTS; h++) {
		struct op_trace *t = write_nn(h, ms_block, ms_nn);
		for (int i = 0; i < rounds; i++) {
			struct op_peer_hit hit;
			int r = op_peer_observe(s, 0, t, 1, m, &hit, out);
			assert_true(r == 0 || r == 1);
			slow += r;
		}
		free(t);
	}
	return slow;
}

/* No peers (one NameNode): its learned median scaled by the load that the
 * labels with peers show now. Busy 5x all together: nothing; the NameNode
 * slowed alone: a host anomaly against "learned x load". */
static void
test_no_peers_judged_against_learned_times_load(void **st)
{
	(void)st;
	char dir[4096], path[4200];
	tmp_dir_make(dir, sizeof dir);
	struct op_trace *tr[HOSTS];
	for (unsigned h = 0; h < HOSTS; h++)
		tr[h] = write_nn(h, 10, 10);
	train_model((const struct op_trace *const *)tr, HOSTS, 4, tmp_path(path, sizeof path, dir, "m"));
	for (unsigned h = 0; h < HOSTS; h++)
		free(tr[h]);
	struct cluster_model *m;
	char err[512];
	if (cluster_model_load(path, &m, err, sizeof err))
		fail_msg("%s", err);
	struct op_peer_store *s = store();
	struct weft_buf out = {0};
	/* the whole cluster 5x slower than in training */
	assert_int_equal(feed_nn(s, m, 50, 50, 8, &out), 0);
	assert_int_equal(out.len, 0);
	struct op_peer_stats ps;
	op_peer_stats(s, &ps);
	assert_true(ps.load_factor > 2.5); /* 50 ms against the learned bucket */
	/* the NameNode 10x its load-scaled reference, the DataNodes as before */
	assert_true(feed_nn(s, m, 50, 500, 8, &out) > 0);
	assert_int_equal(count_of(out.p, "\"state\":\"open\",\"host\":\"nn\",\"label\":\"addBlock\""), 1);
	assert_non_null(strstr(out.p, "nn slow for addBlock since epoch 1 (p50 500.0 ms against "
	                              "50.0 ms learned x current load)"));
	/* no DataNode is named (the client, which waits for the NameNode and
	 * has no peer either, may be) */
	assert_int_equal(count_of(out.p, "\"host\":\"dn"), 0);
	free(out.p);
	op_peer_store_free(s);
	cluster_model_unref(m);
	tmp_dir_remove(dir);
}

/* Writes of three blocks on one DataNode, each block's writeBlock taking
 * ms[i]. */
static struct op_trace *
three_blocks_on(unsigned h, const uint64_t ms[3])
{
	uint64_t total = ms[0] + ms[1] + ms[2];
	const struct ev_step steps[] = {
		{1, 0, "write", "client1", 1000, 1000 + total * 1000000ull + 5000000ull},
		{2, 1, "writeBlock", hosts[h], 5000, 5000 + ms[0] * 1000000ull},
		{3, 1, "writeBlock", hosts[h], 6000, 6000 + ms[1] * 1000000ull},
		{4, 1, "writeBlock", hosts[h], 7000, 7000 + ms[2] * 1000000ull},
	};
	return make_trace(steps, 4);
}

/* A store that has seen 8 rounds of normal writes on every host. */
static struct op_peer_store *
warm(double trace_ratio, struct weft_buf *out)
{
	struct op_peer_config c = small_config(1);
	c.trace_ratio = trace_ratio;
	struct op_peer_store *s = op_peer_store_new(&c, 1);
	assert_non_null(s);
	struct op_peer_hit hit;
	for (int i = 0; i < 8; i++)
		assert_int_equal(round_of(s, F.normal, F.normal[0], out, &hit), 0);
	return s;
}

/* t judged by a fresh warm store: 1 slow, 0 not; *whole: slow on its own. */
static int
judge_fresh(struct op_trace *t, double trace_ratio, struct op_peer_hit *hit, int *whole)
{
	struct weft_buf out = {0};
	struct op_peer_store *s = warm(trace_ratio, &out);
	int r = op_peer_observe(s, 0, t, 1, NULL, hit, &out);
	struct op_peer_stats ps;
	op_peer_stats(s, &ps);
	*whole = (int)ps.slow_whole;
	assert_int_equal(out.len, 0); /* no host anomaly */
	free(out.p);
	op_peer_store_free(s);
	return r;
}

static void
test_a_trace_slowed_throughout_on_a_healthy_host_is_slow(void **st)
{
	(void)st;
	static const uint64_t all[3] = {100, 120, 90}, one[3] = {200, 10, 10},
	                      two_of_three[3] = {100, 10, 95}, under[3] = {70, 70, 70};
	struct op_trace *t_all = three_blocks_on(0, all), *t_one = three_blocks_on(0, one),
	                *t_two = three_blocks_on(0, two_of_three),
	                *t_under = three_blocks_on(0, under);
	struct op_peer_hit hit;
	int whole;
	/* one event far in the tail: not slow; all below 8 x: not slow */
	assert_int_equal(judge_fresh(t_one, 8.0, &hit, &whole), 0);
	assert_int_equal(judge_fresh(t_under, 8.0, &hit, &whole), 0);
	/* every block (or most) of the trace on dn1 at >= 8 x its peers,
	 * with no host anomaly open: slow, naming the slowest event */
	assert_int_equal(judge_fresh(t_all, 8.0, &hit, &whole), 1);
	assert_int_equal(whole, 1);
	assert_int_equal(hit.node, 2);
	assert_int_equal(hit.value_ns, 120000000ull);
	assert_int_equal(hit.peers_median_ns, 10000000ull);
	assert_int_equal(judge_fresh(t_two, 8.0, &hit, &whole), 1);
	assert_int_equal(hit.node, 1);
	/* lower ratio: the 70 ms blocks are 7 x; off: nothing */
	assert_int_equal(judge_fresh(t_under, 6.0, &hit, &whole), 1);
	assert_int_equal(judge_fresh(t_all, 0.0, &hit, &whole), 0);
	assert_int_equal(whole, 0);
	free(t_all);
	free(t_one);
	free(t_two);
	free(t_under);
}

/* The same calls on a store of one lane and on one of two, alternating
 * the lanes: with a refresh after every trace the windows see the same
 * durations in the same order, so every verdict, hit and record is the
 * same. */
static void
test_two_lanes_judge_as_one_store(void **st)
{
	(void)st;
	struct op_peer_config c = small_config(1);
	struct op_peer_store *one = op_peer_store_new(&c, 1), *two = op_peer_store_new(&c, 2);
	assert_non_null(one);
	assert_non_null(two);
	struct weft_buf o1 = {0}, o2 = {0};
	int slow = 0;
	for (int round = 0; round < 24; round++)
		for (unsigned h = 0; h < HOSTS; h++) {
			struct op_trace *t = h ? F.normal[h] : round >= 8 && round < 16 ? F.slow1
			                                                              : F.normal[0];
			struct op_peer_hit a, b;
			int r1 = op_peer_observe(one, 0, t, (uint64_t)round, NULL, &a, &o1);
			int r2 = op_peer_observe(two, h % 2, t, (uint64_t)round, NULL, &b, &o2);
			assert_int_equal(r1, r2);
			slow += r1;
			assert_int_equal(a.node, b.node);
			if (r1 == 1) {
				assert_int_equal(a.value_ns, b.value_ns);
				assert_int_equal(a.host_median_ns, b.host_median_ns);
				assert_int_equal(a.peers_median_ns, b.peers_median_ns);
				assert_int_equal(a.n_peers, b.n_peers);
			}
		}
	assert_true(slow > 0);
	assert_int_equal(o1.len, o2.len);
	/* the records differ only in since_unix_ms (the wall clock) */
	assert_int_equal(count_of(o1.p, "\"state\":\"open\",\"host\":\"dn1\""), 1);
	assert_int_equal(count_of(o2.p, "\"state\":\"open\",\"host\":\"dn1\""), 1);
	assert_int_equal(count_of(o2.p, "\"state\":\"close\",\"host\":\"dn1\""), 1);
	assert_int_equal(count_of(o2.p, "\"type\":\"host_anomaly\""),
	                 count_of(o1.p, "\"type\":\"host_anomaly\""));
	struct op_peer_stats s1, s2;
	op_peer_stats(one, &s1);
	op_peer_stats(two, &s2);
	assert_int_equal(s1.slow_traces, s2.slow_traces);
	assert_int_equal(s1.opened, s2.opened);
	assert_int_equal(s1.closed, s2.closed);
	assert_int_equal(s1.cells, s2.cells);
	free(o1.p);
	free(o2.p);
	op_peer_store_free(one);
	op_peer_store_free(two);
}

struct worker_arg {
	struct op_peer_store *s;
	pthread_barrier_t *round; /* the workers go round by round together */
	unsigned worker;
	int slow_others;         /* slow verdicts on traces of healthy hosts */
	int errors;
	struct weft_buf out;
};

/* A worker's share: traces on half the hosts, dn1 (host 0) slowed from
 * the 20th round on, each worker's epoch closes in between. */
static void *
worker_main(void *p)
{
	struct worker_arg *a = p;
	for (int round = 0; round < 200; round++) {
		pthread_barrier_wait(a->round);
		for (unsigned h = a->worker; h < HOSTS; h += 2) {
			struct op_trace *t = h ? F.normal[h] : round >= 20 ? F.slow1 : F.normal[0];
			struct op_peer_hit hit;
			int r = op_peer_observe(a->s, a->worker, t, (uint64_t)round / 10, NULL, &hit,
			                        &a->out);
			if (r < 0)
				a->errors++;
			else if (r == 1 && h != 0)
				a->slow_others++;
		}
		if (round % 10 == 9 && op_peer_epoch(a->s, (uint64_t)round / 10, NULL, &a->out))
			a->errors++;
	}
	return NULL;
}

/* Two workers at once (the TSan stage runs this): the slowed host is
 * named, once, and no trace of a healthy host is slow; /metrics and the
 * stats read meanwhile. */
static void
test_concurrent_workers_name_the_slowed_host(void **st)
{
	(void)st;
	struct op_peer_config c = small_config(4);
	struct op_peer_store *s = op_peer_store_new(&c, 2);
	assert_non_null(s);
	pthread_barrier_t round;
	assert_int_equal(pthread_barrier_init(&round, NULL, 2), 0);
	struct worker_arg a[2] = {{.s = s, .round = &round, .worker = 0},
	                          {.s = s, .round = &round, .worker = 1}};
	pthread_t th[2];
	for (int k = 0; k < 2; k++)
		assert_int_equal(pthread_create(&th[k], NULL, worker_main, &a[k]), 0);
	for (int i = 0; i < 50; i++) {
		struct weft_buf mt = {0};
		assert_int_equal(op_peer_metrics(s, &mt), 0);
		free(mt.p);
	}
	for (int k = 0; k < 2; k++)
		assert_int_equal(pthread_join(th[k], NULL), 0);
	pthread_barrier_destroy(&round);
	struct op_peer_stats ps;
	op_peer_stats(s, &ps);
	assert_int_equal(ps.opened, 1);
	assert_int_equal(ps.open_now, 1);
	assert_true(ps.slow_traces > 0);
	assert_int_equal(a[0].errors + a[1].errors, 0);
	assert_int_equal(a[0].slow_others + a[1].slow_others, 0);
	size_t opens = 0;
	for (int k = 0; k < 2; k++) {
		if (a[k].out.p)
			opens += count_of(a[k].out.p, "\"state\":\"open\",\"host\":\"dn1\",\"label\":\"writeBlock\"");
		free(a[k].out.p);
	}
	assert_int_equal(opens, 1);
	op_peer_store_free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_slowed_host_is_named_and_its_traces_are_slow),
		cmocka_unit_test(test_load_that_slows_every_host_flags_nothing),
		cmocka_unit_test(test_too_few_peers_judge_nothing),
		cmocka_unit_test(test_the_pair_limit_is_counted),
		cmocka_unit_test(test_high_rate_feeds_a_sample_and_still_names_the_host),
		cmocka_unit_test(test_no_peers_judged_against_learned_times_load),
		cmocka_unit_test(test_a_trace_slowed_throughout_on_a_healthy_host_is_slow),
		cmocka_unit_test(test_two_lanes_judge_as_one_store),
		cmocka_unit_test(test_concurrent_workers_name_the_slowed_host),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
