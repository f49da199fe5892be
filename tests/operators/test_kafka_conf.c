/*
 * test_kafka_conf.c — the Kafka source's consumer configuration
 * (op_kafka_client_conf): weft's fetch defaults, the user's properties
 * over them, and a fetch.max.bytes that follows a raised
 * message.max.bytes, which librdkafka would otherwise refuse. No broker:
 * the configuration is read back, and a consumer is created from it
 * (librdkafka checks the properties together then).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <librdkafka/rdkafka.h>

#include "operators/serve/serve.h"

static rd_kafka_conf_t *
conf_with(const char *const *props, unsigned n)
{
	struct op_kafka_config cfg = {
		.brokers = "127.0.0.1:1",
		.group = "weft-conf-test",
		.props = props,
		.n_props = n,
	};
	char err[512] = "";
	rd_kafka_conf_t *conf = op_kafka_client_conf(&cfg, 0, err, sizeof err);
	if (!conf)
		fail_msg("op_kafka_client_conf: %s", err);
	return conf;
}

static void
assert_prop(rd_kafka_conf_t *conf, const char *key, const char *want)
{
	char v[64];
	size_t l = sizeof v;
	assert_int_equal(rd_kafka_conf_get(conf, key, v, &l), RD_KAFKA_CONF_OK);
	assert_string_equal(v, want);
}

/* The consumer librdkafka makes of conf (which it takes), or NULL with
 * its reason in why. */
static rd_kafka_t *
consumer(rd_kafka_conf_t *conf, char *why, size_t n)
{
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, n);
	if (!rk)
		rd_kafka_conf_destroy(conf);
	return rk;
}

/* librdkafka accepts conf as a whole (it checks the properties together
 * when it makes the client). */
static void
assert_consumer_made(rd_kafka_conf_t *conf)
{
	char why[512];
	rd_kafka_t *rk = consumer(conf, why, sizeof why);
	if (!rk)
		fail_msg("rd_kafka_new: %s", why);
	rd_kafka_destroy(rk);
}

static void
test_fetch_defaults(void **state)
{
	(void)state;
	rd_kafka_conf_t *conf = conf_with(NULL, 0);
	assert_prop(conf, "max.partition.fetch.bytes", "1048576");
	assert_prop(conf, "fetch.max.bytes", "1048576");
	assert_prop(conf, "enable.auto.commit", "false");
	assert_consumer_made(conf);
}

/* kafka.message.max.bytes reaches the consumer too: its responses grow to
 * one message of that size, and the consumer is still made. */
static void
test_fetch_follows_message_max(void **state)
{
	(void)state;
	const char *props[] = {"message.max.bytes=4000000"};
	rd_kafka_conf_t *conf = conf_with(props, 1);
	assert_prop(conf, "fetch.max.bytes", "4000000");
	assert_consumer_made(conf);

	/* one below weft's default changes nothing */
	const char *small[] = {"message.max.bytes=500000"};
	conf = conf_with(small, 1);
	assert_prop(conf, "fetch.max.bytes", "1048576");
	rd_kafka_conf_destroy(conf);
}

/* The user's own fetch.max.bytes stands, in either order, even where
 * librdkafka then refuses it: the user hears librdkafka's reason. */
static void
test_fetch_user_value_stands(void **state)
{
	(void)state;
	const char *big[] = {"fetch.max.bytes=67108864", "message.max.bytes=2000000"};
	rd_kafka_conf_t *conf = conf_with(big, 2);
	assert_prop(conf, "fetch.max.bytes", "67108864");
	rd_kafka_conf_destroy(conf);

	const char *low[] = {"message.max.bytes=2000000", "fetch.max.bytes=1500000"};
	conf = conf_with(low, 2);
	assert_prop(conf, "fetch.max.bytes", "1500000");
	char why[512] = "";
	rd_kafka_t *rk = consumer(conf, why, sizeof why);
	assert_null(rk);
	assert_non_null(strstr(why, "fetch.max.bytes"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fetch_defaults),
		cmocka_unit_test(test_fetch_follows_message_max),
		cmocka_unit_test(test_fetch_user_value_stands),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
