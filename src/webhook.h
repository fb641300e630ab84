/*
 * webhook.h: the parts of webhook delivery that do no I/O: the retry
 * delay and the signature header.
 */
#ifndef SIPPUSH_WEBHOOK_H
#define SIPPUSH_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

/* "t=" UNIX ",v1=" 64 hex digits, and the NUL */
#define WEBHOOK_SIG_MAX	(2 + 20 + 4 + 64 + 1)

int64_t	 webhook_backoff(int attempts, int64_t min_ms, int64_t max_ms,
	    uint32_t rnd);
int	 webhook_sign(const void *secret, size_t secret_len, int64_t t,
	    const char *body, size_t body_len, char *out, size_t outlen);

#endif /* SIPPUSH_WEBHOOK_H */
