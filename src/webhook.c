/*
 * webhook.c: the parts of webhook delivery that do no I/O.
 *
 * The retry delay: after the n-th failed attempt, the base delay is
 * min_ms * 2^(n-1), at most max_ms; the delay is drawn uniformly from
 * [base/2, base] ("equal jitter"), so that events that failed together
 * (a receiver down) do not all come back at the same millisecond, and a
 * retry never comes sooner than min_ms / 2.
 *
 * The signature: HMAC-SHA-256 with the configured secret over
 * "T.BODY" (T: the UNIX time of the attempt in decimal, BODY: the exact
 * bytes sent), as the header value "t=T,v1=HEX". The receiver recomputes
 * it and compares in constant time, and refuses a T too far from its own
 * clock (a replay).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "sha256.h"
#include "webhook.h"

/* The delay before the next attempt after attempts failures (>= 1), in
 * ms; rnd: a random number (the jitter). */
int64_t
webhook_backoff(int attempts, int64_t min_ms, int64_t max_ms, uint32_t rnd)
{
	int64_t	 base = min_ms, half;
	int	 i;

	if (min_ms < 1)
		base = min_ms = 1;
	if (max_ms < min_ms)
		max_ms = min_ms;
	for (i = 1; i < attempts && base < max_ms; i++)
		base *= 2;
	if (base > max_ms)
		base = max_ms;
	half = base / 2;
	return base - half + (int64_t)(rnd % (uint64_t)(half + 1));
}

/* The Sippush-Signature header value for body sent at t: 0, or -1 if
 * out is too small. */
int
webhook_sign(const void *secret, size_t secret_len, int64_t t,
    const char *body, size_t body_len, char *out, size_t outlen)
{
	struct sha256	 ctx, outer;
	uint8_t		 k[SHA256_BLOCK], ipad[SHA256_BLOCK],
			 opad[SHA256_BLOCK], mac[SHA256_LEN];
	char		 ts[24], hex[2 * SHA256_LEN + 1];
	int		 n, i;

	/* HMAC by hand over the pieces, not over a copy of the body */
	memset(k, 0, sizeof(k));
	if (secret_len > SHA256_BLOCK)
		sha256(secret, secret_len, k);
	else
		memcpy(k, secret, secret_len);
	for (i = 0; i < SHA256_BLOCK; i++) {
		ipad[i] = k[i] ^ 0x36;
		opad[i] = k[i] ^ 0x5c;
	}
	n = snprintf(ts, sizeof(ts), "%" PRId64 ".", t);
	sha256_init(&ctx);
	sha256_update(&ctx, ipad, sizeof(ipad));
	sha256_update(&ctx, ts, (size_t)n);
	sha256_update(&ctx, body, body_len);
	sha256_final(&ctx, mac);
	sha256_init(&outer);
	sha256_update(&outer, opad, sizeof(opad));
	sha256_update(&outer, mac, sizeof(mac));
	sha256_final(&outer, mac);
	sha256_hex(mac, sizeof(mac), hex);
	memset(k, 0, sizeof(k));
	memset(ipad, 0, sizeof(ipad));
	memset(opad, 0, sizeof(opad));
	n = snprintf(out, outlen, "t=%" PRId64 ",v1=%s", t, hex);
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}
