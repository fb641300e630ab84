/*
 * digest.h: the arithmetic of Digest authentication (RFC 7616, RFC 8760),
 * shared by sippushd (which checks responses) and libsippush (which makes
 * them): HA1 and the qop=auth response, with SHA-256 or MD5.
 */
#ifndef SIPPUSH_DIGEST_H
#define SIPPUSH_DIGEST_H

#define DIGEST_HEX_MAX	65	/* a SHA-256 in hex, with its NUL */

void	 digest_ha1(const char *user, const char *realm, const char *password,
	    char sha[65], char md5[33]);
int	 digest_response(int use_sha, const char *ha1, const char *nonce,
	    const char *nc, const char *cnonce, const char *method,
	    const char *uri, char *out);
void	 digest_hash(int use_sha, const char *s, char *out);

#endif /* SIPPUSH_DIGEST_H */
