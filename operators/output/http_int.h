/*
 * http_int.h — what the two HTTP servers of the output room (the metrics
 * endpoint, op_metrics.c, and the web console, console_http.c) share:
 * reading a numeric listening address. Private to operators/output/.
 */
#ifndef WEFT_HTTP_INT_H
#define WEFT_HTTP_INT_H

#include <arpa/inet.h>
#include <pthread.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct http_addr {
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	const struct sockaddr *sa; /* one of the two */
	int v6;
	char host[INET6_ADDRSTRLEN + 2]; /* without brackets */
};
/* addr: a numeric IPv4 or IPv6 address, IPv6 possibly bracketed; NULL or
 * "": 127.0.0.1. 0, or WEFT_EINVAL with a message (what names the
 * server in it). */
int http_addr_parse(const char *addr, uint16_t port, struct http_addr *out,
                    const char *what, char *errstr, size_t errlen);

/* libmicrohttpd's logger: keeps the first message logged on the starting
 * thread (why a start failed) in buf; later messages, from the server's
 * threads (clients going away), are dropped. */
void http_log_start(pthread_t starter, char *buf, size_t len, const char *fmt,
                    va_list ap) __attribute__((format(printf, 4, 0)));

#endif /* WEFT_HTTP_INT_H */
