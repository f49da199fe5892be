/* errors.c — names of the WEFT_E* codes shared by every part of weft
 * (common.h), and the error-message formatter. */
#include <stdarg.h>
#include <stdio.h>

#include "common/common.h"

void
weft_errf(char *errstr, size_t errlen, const char *fmt, ...)
{
	if (!errstr || !errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(errstr, errlen, fmt, ap);
	va_end(ap);
}

const char *
weft_strerror(int err)
{
	switch (err) {
	case WEFT_OK: return "success";
	case WEFT_EINVAL: return "invalid argument";
	case WEFT_ENOMEM: return "out of memory";
	case WEFT_EIO: return "I/O error";
	case WEFT_ELIMIT: return "limit reached";
	case WEFT_EFORMAT: return "malformed input";
	case WEFT_ESTATE: return "invalid state";
	case WEFT_ENOTFOUND: return "not found";
	case WEFT_ETHREAD: return "thread creation failed";
	case WEFT_ECORRUPT: return "corrupt data";
	case WEFT_EKAFKA: return "Kafka error";
	default: return "unknown error";
	}
}
