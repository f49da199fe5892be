/*
 * kafka_conf.h — setting librdkafka properties with a message that names
 * the property: shared by weft serve, weft rekey and weft sim replay --to
 * kafka. Header-only (static inline), so the simulator needs no link
 * dependency on the operators library.
 */
#ifndef WEFT_KAFKA_CONF_H
#define WEFT_KAFKA_CONF_H

#include <string.h>

#include <librdkafka/rdkafka.h>

#include "engine/engine.h"

/* key = val on conf. 0, or WEFT_EINVAL with "<who> property 'key': why". */
static inline int
weft_kafka_set(rd_kafka_conf_t *conf, const char *who, const char *key,
               const char *val, char *errstr, size_t errlen)
{
	char why[512];
	if (rd_kafka_conf_set(conf, key, val, why, sizeof why) == RD_KAFKA_CONF_OK)
		return 0;
	weft_errf(errstr, errlen, "%s property '%s': %s", who, key, why);
	return WEFT_EINVAL;
}

/* One "key=value" string (the first '=' splits). */
static inline int
weft_kafka_set_kv(rd_kafka_conf_t *conf, const char *who, const char *kv,
                  char *errstr, size_t errlen)
{
	const char *eq = strchr(kv, '=');
	char key[256];
	if (!eq || eq == kv || (size_t)(eq - kv) >= sizeof key) {
		weft_errf(errstr, errlen, "%s property '%s': expected KEY=VALUE", who, kv);
		return WEFT_EINVAL;
	}
	memcpy(key, kv, (size_t)(eq - kv));
	key[eq - kv] = '\0';
	return weft_kafka_set(conf, who, key, eq + 1, errstr, errlen);
}

#endif
