/*
 * sha256.h: SHA-256 (FIPS 180-4) and HMAC-SHA-256 (RFC 2104), for Digest
 * authentication with SHA-256 (RFC 7616, RFC 8760) in the daemon and in
 * libsippush. Sofia-SIP 1.12 knows only MD5; OpenSSL would be a new
 * dependency for forty lines of arithmetic.
 */
#ifndef SIPPUSH_SHA256_H
#define SIPPUSH_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_LEN	32
#define SHA256_BLOCK	64

struct sha256 {
	uint32_t	 h[8];
	uint64_t	 total;		/* bytes hashed */
	uint8_t		 buf[SHA256_BLOCK];
	size_t		 used;		/* bytes in buf */
};

void	 sha256_init(struct sha256 *);
void	 sha256_update(struct sha256 *, const void *, size_t);
void	 sha256_final(struct sha256 *, uint8_t out[SHA256_LEN]);
void	 sha256(const void *, size_t, uint8_t out[SHA256_LEN]);
void	 hmac_sha256(const void *key, size_t keylen, const void *data,
	    size_t len, uint8_t out[SHA256_LEN]);
void	 sha256_hex(const uint8_t *, size_t, char *out);

#endif /* SIPPUSH_SHA256_H */
