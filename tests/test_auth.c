/*
 * test_auth.c: SHA-256 and HMAC against published vectors, the Digest
 * response against RFC 7616's example, nonces (ours, bound to the
 * source, expiring) and the replay record of a client (auth.c).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <CUnit/CUnit.h>

#include "sha256.h"
#include "digest.h"
#include "sippushd.h"
#include "tests.h"

static struct config	 auth_conf;

static void
hex_of(const void *data, size_t len, char *out)
{
	uint8_t	 d[SHA256_LEN];

	sha256(data, len, d);
	sha256_hex(d, SHA256_LEN, out);
}

/* FIPS 180-4 examples (NIST CSRC), and a block boundary. */
static void
test_sha256_vectors(void)
{
	char		 out[65];
	char		*million;
	struct sha256	 s;
	uint8_t		 d[SHA256_LEN];
	int		 i;

	hex_of("", 0, out);
	CU_ASSERT_STRING_EQUAL(out, "e3b0c44298fc1c149afbf4c8996fb924"
	    "27ae41e4649b934ca495991b7852b855");
	hex_of("abc", 3, out);
	CU_ASSERT_STRING_EQUAL(out, "ba7816bf8f01cfea414140de5dae2223"
	    "b00361a396177a9cb410ff61f20015ad");
	hex_of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56,
	    out);
	CU_ASSERT_STRING_EQUAL(out, "248d6a61d20638b8e5c026930c3e6039"
	    "a33ce45964ff2167f6ecedd419db06c1");
	/* a million 'a', fed in uneven pieces */
	million = malloc(1000000);
	CU_ASSERT_PTR_NOT_NULL_FATAL(million);
	memset(million, 'a', 1000000);
	sha256_init(&s);
	for (i = 0; i < 1000000; i += 7)
		sha256_update(&s, million + i, i + 7 > 1000000 ?
		    (size_t)(1000000 - i) : 7);
	sha256_final(&s, d);
	sha256_hex(d, SHA256_LEN, out);
	CU_ASSERT_STRING_EQUAL(out, "cdc76e5c9914fb9281a1c7e284d73e67"
	    "f1809a48a497200e046d39ccc7112cd0");
	free(million);
}

/* RFC 4231, test cases 1, 2 and 6 (a key longer than a block). */
static void
test_hmac_vectors(void)
{
	uint8_t	 key[131], d[SHA256_LEN];
	char	 out[65];

	memset(key, 0x0b, 20);
	hmac_sha256(key, 20, "Hi There", 8, d);
	sha256_hex(d, SHA256_LEN, out);
	CU_ASSERT_STRING_EQUAL(out, "b0344c61d8db38535ca8afceaf0bf12b"
	    "881dc200c9833da726e9376c2e32cff7");
	hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, d);
	sha256_hex(d, SHA256_LEN, out);
	CU_ASSERT_STRING_EQUAL(out, "5bdcc146bf60754e6a042426089575c7"
	    "5a003f089d2739839dec58b964ec3843");
	memset(key, 0xaa, sizeof(key));
	hmac_sha256(key, sizeof(key), "Test Using Larger Than Block-Size "
	    "Key - Hash Key First", 54, d);
	sha256_hex(d, SHA256_LEN, out);
	CU_ASSERT_STRING_EQUAL(out, "60e431591ee0b67f0d8a26aacbf5b77f"
	    "8e0bc6213728c5140546040f0ee37f54");
}

/* RFC 7616 section 3.9.1: the same request with SHA-256 and MD5. */
static void
test_digest_rfc7616(void)
{
	char	 sha[65], md5[33], out[65];
	const char *nonce = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
	const char *cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";

	digest_ha1("Mufasa", "http-auth@example.org", "Circle of Life", sha,
	    md5);
	CU_ASSERT_EQUAL(strlen(sha), 64);
	CU_ASSERT_EQUAL(strlen(md5), 32);
	CU_ASSERT_EQUAL(digest_response(1, sha, nonce, "00000001", cnonce, "GET",
	    "/dir/index.html", out), 0);
	CU_ASSERT_STRING_EQUAL(out, "753927fa0e85d155564e2e272a28d180"
	    "2ca10daf4496794697cf8db5856cb6c1");
	CU_ASSERT_EQUAL(digest_response(0, md5, nonce, "00000001", cnonce, "GET",
	    "/dir/index.html", out), 0);
	CU_ASSERT_STRING_EQUAL(out, "8ca523f5e9506fed4657c9700eebdbec");
}

static void
addr4(struct sockaddr_in *sin, const char *dotted)
{
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	inet_pton(AF_INET, dotted, &sin->sin_addr);
}

/* A nonce is good from the address it went to, until it expires. */
static void
test_nonce(void)
{
	struct sockaddr_in	 a, b;
	char			 nonce[64], bad[64];
	uint64_t		 id, id2;

	addr4(&a, "192.0.2.1");
	addr4(&b, "192.0.2.2");
	auth_nonce_make((struct sockaddr *)&a, 1000000, nonce);
	CU_ASSERT_EQUAL(auth_nonce_check(nonce, (struct sockaddr *)&a,
	    1000000, &id), 0);
	CU_ASSERT_EQUAL(auth_nonce_check(nonce, (struct sockaddr *)&a,
	    1000000 + 300, &id2), 0);
	CU_ASSERT_EQUAL(id, id2);
	/* expired, from elsewhere, from the future, tampered, garbage */
	CU_ASSERT_EQUAL(auth_nonce_check(nonce, (struct sockaddr *)&a,
	    1000000 + 301, &id2), -1);
	CU_ASSERT_EQUAL(auth_nonce_check(nonce, (struct sockaddr *)&b,
	    1000000, &id2), -1);
	CU_ASSERT_EQUAL(auth_nonce_check(nonce, (struct sockaddr *)&a,
	    1000000 - 10, &id2), -1);
	strcpy(bad, nonce);
	bad[3] = bad[3] == '0' ? '1' : '0';
	CU_ASSERT_EQUAL(auth_nonce_check(bad, (struct sockaddr *)&a,
	    1000000, &id2), -1);
	CU_ASSERT_EQUAL(auth_nonce_check("zz", (struct sockaddr *)&a,
	    1000000, &id2), -1);
	CU_ASSERT_EQUAL(auth_nonce_check("", (struct sockaddr *)&a,
	    1000000, &id2), -1);
	/* each nonce is new, even within a second */
	auth_nonce_make((struct sockaddr *)&a, 1000000, bad);
	CU_ASSERT_STRING_NOT_EQUAL(bad, nonce);
	CU_ASSERT_EQUAL(auth_nonce_check(bad, (struct sockaddr *)&a,
	    1000000, &id2), 0);
	CU_ASSERT(id2 > id);
}

/* Nonce counts must grow; a retransmission is no replay; old nonces
 * pushed out of the record stay refused. */
static void
test_replay(void)
{
	struct client		 c;
	struct auth_grant	 g = { 100, 1, 7 };
	int			 i;

	memset(&c, 0, sizeof(c));
	CU_ASSERT_EQUAL(auth_seen_use(&c, &g), 1);
	CU_ASSERT_EQUAL(auth_seen_use(&c, &g), 1);	/* retransmission */
	g.req = 8;
	CU_ASSERT_EQUAL(auth_seen_use(&c, &g), 0);	/* replay */
	g.nc = 2;
	CU_ASSERT_EQUAL(auth_seen_use(&c, &g), 1);
	g.nc = 1;
	g.req = 9;
	CU_ASSERT_EQUAL(auth_seen_use(&c, &g), 0);	/* an older nc */
	/* a second nonce (another handle of the same client) */
	g.nonce = 101;
	CU_ASSERT_EQUAL(auth_seen_use(&c, &g), 1);
	g.nonce = 100;
	g.nc = 3;
	CU_ASSERT_EQUAL(auth_seen_use(&c, &g), 1);
	/* push nonce 100 out with newer ones: it is refused for good */
	for (i = 0; i < 8; i++) {
		g.nonce = 200 + (uint64_t)i;
		g.nc = 1;
		CU_ASSERT_EQUAL(auth_seen_use(&c, &g), 1);
	}
	g.nonce = 100;
	g.nc = 50;
	CU_ASSERT_EQUAL(auth_seen_use(&c, &g), 0);
	g.nonce = 150;	/* never seen, but older than what was forgotten */
	CU_ASSERT_EQUAL(auth_seen_use(&c, &g), 0);
	/* auth off when the request came: nothing to check */
	g.nonce = 0;
	CU_ASSERT_EQUAL(auth_seen_use(&c, &g), 1);
	auth_forget(&c);
	CU_ASSERT_PTR_NULL(c.auth);
}

static int
auth_suite_init(void)
{
	config_defaults(&auth_conf);
	auth_conf.auth_enabled = 1;
	auth_conf.auth_nonce_lifetime = 300;
	return auth_init(&auth_conf, NULL) == 0 ? 0 : -1;
}

static int
auth_suite_clean(void)
{
	config_free(&auth_conf);
	return 0;
}

int
test_auth_register(void)
{
	CU_pSuite	 s;

	if ((s = CU_add_suite("auth", auth_suite_init, auth_suite_clean)) ==
	    NULL)
		return -1;
	if (CU_add_test(s, "SHA-256: FIPS 180-4 vectors", test_sha256_vectors)
	    == NULL ||
	    CU_add_test(s, "HMAC-SHA-256: RFC 4231 vectors", test_hmac_vectors)
	    == NULL ||
	    CU_add_test(s, "Digest response: RFC 7616 example",
	    test_digest_rfc7616) == NULL ||
	    CU_add_test(s, "nonce: ours, from its address, until it expires",
	    test_nonce) == NULL ||
	    CU_add_test(s, "replayed nonce counts refused", test_replay) ==
	    NULL)
		return -1;
	return 0;
}
