/*
 * digest.c: HA1 and the Digest response with qop=auth (RFC 7616 section
 * 3.4.1), for SHA-256 (sha256.c) and MD5 (Sofia-SIP's su_md5). Checked
 * against RFC 7616's example in tests/test_auth.c.
 */
#include <stdio.h>
#include <stdint.h>
#include <string.h>

#include <sofia-sip/su_md5.h>

#include "digest.h"
#include "sha256.h"

/* Lower-case hex HA1 of id:realm:password, for both algorithms. */
void
digest_ha1(const char *id, const char *realm, const char *password,
    char sha[65], char md5[33])
{
	struct sha256	 s;
	su_md5_t	 m;
	uint8_t		 d[SHA256_LEN];

	sha256_init(&s);
	sha256_update(&s, id, strlen(id));
	sha256_update(&s, ":", 1);
	sha256_update(&s, realm, strlen(realm));
	sha256_update(&s, ":", 1);
	sha256_update(&s, password, strlen(password));
	sha256_final(&s, d);
	sha256_hex(d, SHA256_LEN, sha);
	su_md5_init(&m);
	su_md5_strupdate(&m, id);
	su_md5_update(&m, ":", 1);
	su_md5_strupdate(&m, realm);
	su_md5_update(&m, ":", 1);
	su_md5_strupdate(&m, password);
	su_md5_hexdigest(&m, md5);
	su_md5_deinit(&m);
}

/* H(s) as lower-case hex: SHA-256 (65 bytes of out) or MD5 (33). */
void
digest_hash(int use_sha, const char *s, char *out)
{
	uint8_t		 d[SHA256_LEN];
	su_md5_t	 m;

	if (use_sha) {
		sha256(s, strlen(s), d);
		sha256_hex(d, SHA256_LEN, out);
		return;
	}
	su_md5_init(&m);
	su_md5_strupdate(&m, s);
	su_md5_hexdigest(&m, out);
	su_md5_deinit(&m);
}

/*
 * The response a client with HA1 ha1 must send (qop=auth):
 * H(HA1:nonce:nc:cnonce:auth:H(method:uri)). Into out (65 bytes).
 * -1 if the fields are too long to be real.
 */
int
digest_response(int use_sha, const char *ha1, const char *nonce,
    const char *nc, const char *cnonce, const char *method, const char *uri,
    char *out)
{
	char	 a2[1024], ha2[65], buf[1024];
	int	 n;

	n = snprintf(a2, sizeof(a2), "%s:%s", method, uri);
	if (n < 0 || (size_t)n >= sizeof(a2))
		return -1;
	digest_hash(use_sha, a2, ha2);
	n = snprintf(buf, sizeof(buf), "%s:%s:%s:%s:auth:%s", ha1, nonce, nc,
	    cnonce, ha2);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -1;
	digest_hash(use_sha, buf, out);
	return 0;
}
