/*
 * test_auth.c: SHA-256 and HMAC against published vectors, the Digest
 * response against RFC 7616's example, nonces (ours, bound to the
 * source, expiring), the replay record of a client, and auth_check and
 * auth_request on real requests parsed by Sofia-SIP, with the users in a
 * store made for the suite and an nta agent on 127.0.0.1 for the
 * replies (auth.c).
 */
#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <sofia-sip/msg.h>
#include <sofia-sip/msg_addr.h>
#include <sofia-sip/nta.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/su.h>
#include <sofia-sip/su_wait.h>
#include <CUnit/CUnit.h>

#include "sha256.h"
#include "digest.h"
#include "sippushd.h"
#include "tests.h"

static struct config	 auth_conf;
static char		 auth_dir[TEST_DIR_MAX];
static su_root_t	*auth_root;
static nta_agent_t	*auth_agent;
static int		 auth_su, auth_store, auth_clients;

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
	struct auth_grant	 g = { .nonce = 100, .nc = 1, .req = 7 };
	int			 i;

	memset(&c, 0, sizeof(c));
	CU_ASSERT_EQUAL(auth_seen_use(&c, &g), AUTH_SEEN_NEW);
	/* retransmission: told apart from a new use */
	CU_ASSERT_EQUAL(auth_seen_use(&c, &g), AUTH_SEEN_AGAIN);
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

/* ---- auth_check and auth_request on parsed requests ---- */

#define AU_PASSWORD	"dev1-password"
#define AU_URI		"sip:push.example.com"

/*
 * The text of a request (REGISTER or OPTIONS) for client id carrying
 * the SHA-256 credentials of user with password pw, nonce and nc, in
 * call callid at cseq. Freed by the caller.
 */
static char *
au_text(const char *method, const char *id, const char *user,
    const char *pw, const char *nonce, const char *nc, const char *callid,
    unsigned cseq)
{
	char	 sha[65], md5[33], resp[65], *text = NULL;

	digest_ha1(user, auth_conf.auth_realm, pw, sha, md5);
	if (digest_response(1, sha, nonce, nc, "c0ffee", method, AU_URI,
	    resp) == -1)
		return NULL;
	if (asprintf(&text,
	    "%s " AU_URI " SIP/2.0\r\n"
	    "Via: SIP/2.0/UDP 127.0.0.9:9;branch=z9hG4bK-%s-%u\r\n"
	    "Max-Forwards: 70\r\n"
	    "From: <sip:%s@push.example.com>;tag=au1\r\n"
	    "To: <sip:%s@push.example.com>\r\n"
	    "Call-ID: %s\r\n"
	    "CSeq: %u %s\r\n"
	    "%s%s%s"
	    "Authorization: Digest username=\"%s\", realm=\"%s\", "
	    "nonce=\"%s\", uri=\"" AU_URI "\", response=\"%s\", "
	    "algorithm=SHA-256, qop=auth, nc=%s, cnonce=\"c0ffee\"\r\n"
	    "Content-Length: 0\r\n\r\n",
	    method, callid, cseq, id, id, callid, cseq, method,
	    strcmp(method, "REGISTER") == 0 ? "Contact: <sip:" : "",
	    strcmp(method, "REGISTER") == 0 ? id : "",
	    strcmp(method, "REGISTER") == 0 ? "@127.0.0.9>\r\n" : "",
	    user, auth_conf.auth_realm, nonce, resp, nc) < 0)
		return NULL;
	return text;
}

/* The message of text as if it came from addr:port over UDP (or TCP
 * when tcp is set). NULL if Sofia cannot parse it. */
static msg_t *
au_msg(const char *text, const char *addr, unsigned port, int tcp)
{
	msg_t			*msg;
	su_sockaddr_t		 su;
	su_addrinfo_t		*ai;

	msg = msg_make(sip_default_mclass(), 0, text, (isize_t)strlen(text));
	if (msg == NULL || sip_object(msg) == NULL) {
		msg_destroy(msg);
		return NULL;
	}
	memset(&su, 0, sizeof(su));
	su.su_sin.sin_family = AF_INET;
	su.su_sin.sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, addr, &su.su_sin.sin_addr);
	msg_set_address(msg, &su, sizeof(struct sockaddr_in));
	ai = msg_addrinfo(msg);
	ai->ai_family = AF_INET;
	ai->ai_protocol = tcp ? IPPROTO_TCP : IPPROTO_UDP;
	return msg;
}

/* A nonce of ours for addr, now. */
static void
au_nonce(const char *addr, char *nonce)
{
	struct sockaddr_in	 a;

	addr4(&a, addr);
	auth_nonce_make((struct sockaddr *)&a, clock_now(), nonce);
}

/* auth_check of text from addr:port; the status, g and v filled. */
static int
au_check(const char *text, const char *addr, unsigned port, int tcp,
    const char *id, struct auth_grant *g, struct auth_verdict *v)
{
	msg_t	*msg = au_msg(text, addr, port, tcp);
	int	 rc;

	if (msg == NULL)
		return -2;
	rc = auth_check(msg, sip_object(msg), id, g, v);
	msg_destroy(msg);
	return rc;
}

/* A client registered from addr:port over UDP, as the registrar makes
 * it. */
static struct client *
au_client(const char *id, const char *addr, unsigned port)
{
	struct registration	 r;

	test_reg_fill(&r, id, clock_now());
	r.address = addr;
	r.port = (uint16_t)port;
	return test_reg_client(&r);
}

/*
 * Item 4 of the hardening issue: a failure that anybody could forge
 * (another user's credentials, a wrong password) with a nonce we never
 * sent to that address is challenged (401) before it is judged; only
 * with a live nonce of ours for the address is it a 403.
 */
static void
test_forged_challenged(void)
{
	struct auth_grant	 g;
	struct auth_verdict	 v;
	char			 nonce[64], *t;
	const char		*forged = "00000000deadbeef0123456789abcdef"
				    "01234567";

	/* another user's credentials for dev1, a nonce never issued */
	t = au_text("REGISTER", "dev1", "dev2", "x", forged, "00000001",
	    "forged-1", 1);
	CU_ASSERT_EQUAL(au_check(t, "127.0.0.5", 5062, 0, "dev1", &g, &v),
	    401);
	CU_ASSERT_EQUAL(v.stale, 1);
	free(t);
	/* the same with a nonce of ours for another address */
	au_nonce("127.0.0.6", nonce);
	t = au_text("REGISTER", "dev1", "dev2", "x", nonce, "00000001",
	    "forged-2", 1);
	CU_ASSERT_EQUAL(au_check(t, "127.0.0.5", 5062, 0, "dev1", &g, &v),
	    401);
	/* with a live nonce for its address: 403, a real failure */
	CU_ASSERT_EQUAL(au_check(t, "127.0.0.6", 5062, 0, "dev1", &g, &v),
	    403);
	CU_ASSERT_STRING_EQUAL(v.phrase ? v.phrase : "",
	    "Credentials Not For This Client ID");
	free(t);
	/* a wrong password: 401 with a forged nonce, 403 with ours */
	t = au_text("REGISTER", "dev1", "dev1", "wrong-password", forged,
	    "00000001", "forged-3", 1);
	CU_ASSERT_EQUAL(au_check(t, "127.0.0.5", 5062, 0, "dev1", &g, &v),
	    401);
	free(t);
	au_nonce("127.0.0.5", nonce);
	t = au_text("REGISTER", "dev1", "dev1", "wrong-password", nonce,
	    "00000001", "forged-4", 1);
	CU_ASSERT_EQUAL(au_check(t, "127.0.0.5", 5062, 0, "dev1", &g, &v),
	    403);
	CU_ASSERT_STRING_EQUAL(v.phrase ? v.phrase : "", "Bad Credentials");
	free(t);
	/* the right password: through */
	t = au_text("REGISTER", "dev1", "dev1", AU_PASSWORD, nonce,
	    "00000001", "forged-5", 1);
	CU_ASSERT_EQUAL(au_check(t, "127.0.0.5", 5062, 0, "dev1", &g, &v), 0);
	free(t);
}

/* auth_request of text from addr:port: 1 if it may go on, 0 answered. */
static int
au_request(const char *text, const char *addr, const char *id)
{
	msg_t			*msg = au_msg(text, addr, 5062, 0);
	struct auth_grant	 g;
	int			 rc;

	if (msg == NULL)
		return -2;
	if ((rc = auth_request(msg, sip_object(msg), id, &g)) == 1)
		msg_destroy(msg);	/* not answered: still ours */
	return rc;
}

/*
 * auth.max_failures: a hundred forged failures from an address do not
 * lock out the client there; real failures (with a nonce we sent there)
 * still do.
 */
static void
test_forged_not_counted(void)
{
	char		 nonce[64], *t;
	const char	*forged = "00000000deadbeef0123456789abcdef01234567";
	int		 i, saved = auth_conf.auth_max_failures;

	auth_conf.auth_max_failures = 3;
	for (i = 0; i < 100; i++) {
		t = au_text("REGISTER", "dev1", i % 2 ? "dev2" : "dev1",
		    "wrong-password", forged, "00000001", "lock-1", 1);
		CU_ASSERT_EQUAL(au_request(t, "127.0.0.7", "dev1"), 0);
		free(t);
	}
	au_nonce("127.0.0.7", nonce);
	t = au_text("REGISTER", "dev1", "dev1", AU_PASSWORD, nonce, "00000001",
	    "lock-2", 1);
	CU_ASSERT_EQUAL(au_request(t, "127.0.0.7", "dev1"), 1);
	free(t);
	/* three failures with our nonce: the fourth request gets 503 */
	for (i = 0; i < 3; i++) {
		au_nonce("127.0.0.7", nonce);
		t = au_text("REGISTER", "dev1", "dev1", "wrong-password",
		    nonce, "00000001", "lock-3", 1);
		CU_ASSERT_EQUAL(au_request(t, "127.0.0.7", "dev1"), 0);
		free(t);
	}
	au_nonce("127.0.0.7", nonce);
	t = au_text("REGISTER", "dev1", "dev1", AU_PASSWORD, nonce, "00000001",
	    "lock-4", 1);
	CU_ASSERT_EQUAL(au_request(t, "127.0.0.7", "dev1"), 0);
	free(t);
	auth_conf.auth_max_failures = saved;
}

/*
 * Item 3 of the hardening issue: the very same request again is a
 * retransmission (accepted, marked again) only on the flow that sent it;
 * from another port, over TCP or from another address it is a replay.
 */
static void
test_retransmission_flow(void)
{
	struct auth_grant	 g;
	struct auth_verdict	 v;
	struct client		*c;
	char			 nonce[64], *t, *t2;

	CU_ASSERT_PTR_NOT_NULL_FATAL(c = au_client("dev1", "127.0.0.5",
	    5062));
	au_nonce("127.0.0.5", nonce);
	t = au_text("REGISTER", "dev1", "dev1", AU_PASSWORD, nonce, "00000001",
	    "flow-1", 2);
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	CU_ASSERT_EQUAL(au_check(t, "127.0.0.5", 5062, 0, "dev1", &g, &v), 0);
	CU_ASSERT_EQUAL(g.again, 0);
	/* a retransmission on the same flow */
	CU_ASSERT_EQUAL(au_check(t, "127.0.0.5", 5062, 0, "dev1", &g, &v), 0);
	CU_ASSERT_EQUAL(g.again, 1);
	/* the same bytes from another port, over TCP, from elsewhere */
	CU_ASSERT_EQUAL(au_check(t, "127.0.0.5", 5999, 0, "dev1", &g, &v),
	    401);
	CU_ASSERT_EQUAL(v.stale, 1);
	CU_ASSERT_STRING_EQUAL(v.why ? v.why : "", "nonce used again");
	CU_ASSERT_EQUAL(au_check(t, "127.0.0.5", 5062, 1, "dev1", &g, &v),
	    401);
	CU_ASSERT_EQUAL(au_check(t, "127.0.0.8", 5062, 0, "dev1", &g, &v),
	    401);
	/* the flow that sent it may still retransmit it */
	CU_ASSERT_EQUAL(au_check(t, "127.0.0.5", 5062, 0, "dev1", &g, &v), 0);
	CU_ASSERT_EQUAL(g.again, 1);
	/* an OPTIONS likewise */
	t2 = au_text("OPTIONS", "dev1", "dev1", AU_PASSWORD, nonce, "00000002",
	    "flow-2", 1);
	CU_ASSERT_EQUAL(au_check(t2, "127.0.0.5", 5062, 0, "dev1", &g, &v),
	    0);
	CU_ASSERT_EQUAL(g.again, 0);
	CU_ASSERT_EQUAL(au_check(t2, "127.0.0.5", 5063, 0, "dev1", &g, &v),
	    401);
	CU_ASSERT_EQUAL(au_check(t2, "127.0.0.5", 5062, 0, "dev1", &g, &v),
	    0);
	CU_ASSERT_EQUAL(g.again, 1);
	free(t2);
	/* a new request (a higher nc) may come from a new flow: the client
	 * moved */
	t2 = au_text("REGISTER", "dev1", "dev1", AU_PASSWORD, nonce,
	    "00000003", "flow-1", 3);
	CU_ASSERT_EQUAL(au_check(t2, "127.0.0.5", 5999, 0, "dev1", &g, &v),
	    0);
	CU_ASSERT_EQUAL(g.again, 0);
	free(t2);
	free(t);
}

/* A client's row outlives the nonces it used (auth_quiet). */
static void
test_quiet(void)
{
	struct client		 c;
	struct auth_grant	 g;
	struct sockaddr_in	 a;
	char			 nonce[64];

	memset(&c, 0, sizeof(c));
	memset(&g, 0, sizeof(g));
	CU_ASSERT_EQUAL(auth_quiet(&c, clock_now()), 1);
	addr4(&a, "127.0.0.5");
	auth_nonce_make((struct sockaddr *)&a, clock_now(), nonce);
	CU_ASSERT_EQUAL_FATAL(auth_nonce_check(nonce, (struct sockaddr *)&a,
	    clock_now(), &g.nonce), 0);
	g.nc = 1;
	CU_ASSERT_EQUAL(auth_seen_use(&c, &g), AUTH_SEEN_NEW);
	CU_ASSERT_EQUAL(auth_quiet(&c, clock_now()), 0);
	CU_ASSERT_EQUAL(auth_quiet(&c, clock_now() +
	    auth_conf.auth_nonce_lifetime), 0);
	CU_ASSERT_EQUAL(auth_quiet(&c, clock_now() +
	    auth_conf.auth_nonce_lifetime + 1), 1);
	auth_forget(&c);
}

/* auth_user's outcome, when it comes */
struct au_done {
	int	 calls, ok;
};

static void
au_user_done(void *arg, const struct user_result *res)
{
	struct au_done	*d = arg;

	d->calls++;
	d->ok = res->ok;
}

/* A request for user id with password pw and a live nonce of ours
 * from 127.0.0.8: auth_check's status. */
static int
au_user_check(const char *id, const char *pw, const char *callid)
{
	struct auth_grant	 g;
	struct auth_verdict	 v;
	char			 nonce[64], *t;
	int			 rc;

	au_nonce("127.0.0.8", nonce);
	t = au_text("REGISTER", id, id, pw, nonce, "00000001", callid, 1);
	rc = au_check(t, "127.0.0.8", 5062, 0, id, &g, &v);
	free(t);
	return rc;
}

/*
 * The users auth_check knows are the cache auth.c keeps, never the
 * store: a row in the database that was not loaded is refused, a user
 * added through auth_user is accepted with the store closed; a change
 * that could not be written leaves the cache as it was. Also a stale
 * nonce (ours, past auth.nonce_lifetime) and an unknown user.
 */
static void
test_user_cache(void)
{
	struct user_req		 rq;
	struct au_done		 d;
	struct auth_grant	 g;
	struct auth_verdict	 v;
	struct sockaddr_in	 a;
	char			 sha[65], md5[33], nonce[64], err[512], db[PATH_MAX];
	char			*t;
	size_t			 n0 = auth_users_count();

	/* in the database, not in the cache: refused */
	digest_ha1("dev9", auth_conf.auth_realm, "dev9-password", sha, md5);
	CU_ASSERT_EQUAL_FATAL(ts_put_user("dev9", auth_conf.auth_realm, sha,
	    md5, clock_now()), 0);
	CU_ASSERT_NOT_EQUAL(au_user_check("dev9", "dev9-password", "c-1"), 0);
	CU_ASSERT_EQUAL(auth_users_count(), n0);
	/* an unknown user: refused */
	CU_ASSERT_NOT_EQUAL(au_user_check("nobody", "nobody-password",
	    "c-2"), 0);

	/* added through auth_user: in the cache once written */
	memset(&rq, 0, sizeof(rq));
	rq.op = USER_ADD;
	rq.id = "dev8";
	rq.password = "dev8-password";
	memset(&d, 0, sizeof(d));
	auth_user(&rq, au_user_done, &d);
	commit_flush();
	CU_ASSERT_FATAL(d.calls == 1 && d.ok == 1);
	CU_ASSERT_EQUAL(auth_users_count(), n0 + 1);
	/* the store closed: the cache still answers */
	store_close();
	CU_ASSERT_EQUAL(au_user_check("dev8", "dev8-password", "c-3"), 0);
	CU_ASSERT_EQUAL(au_user_check("dev1", AU_PASSWORD, "c-4"), 0);
	CU_ASSERT_NOT_EQUAL(au_user_check("dev8", "wrong-password", "c-5"),
	    0);

	/* a change that cannot be written (no store): the cache keeps
	 * what it had */
	rq.id = "dev7";
	rq.password = "dev7-password";
	memset(&d, 0, sizeof(d));
	auth_user(&rq, au_user_done, &d);
	commit_flush();
	CU_ASSERT(d.calls == 1 && d.ok == 0);
	CU_ASSERT_EQUAL(auth_users_count(), n0 + 1);
	CU_ASSERT_NOT_EQUAL(au_user_check("dev7", "dev7-password", "c-6"),
	    0);
	rq.op = USER_DEL;
	rq.id = "dev8";
	rq.password = NULL;
	memset(&d, 0, sizeof(d));
	auth_user(&rq, au_user_done, &d);
	commit_flush();
	CU_ASSERT(d.calls == 1 && d.ok == 0);
	CU_ASSERT_EQUAL(au_user_check("dev8", "dev8-password", "c-7"), 0);

	/* the store back: the delete goes through, and then refused */
	snprintf(db, sizeof(db), "%s/auth.db", auth_dir);
	CU_ASSERT_EQUAL_FATAL(store_open(NULL, db, 0, err, sizeof(err)), 0);
	memset(&d, 0, sizeof(d));
	auth_user(&rq, au_user_done, &d);
	commit_flush();
	CU_ASSERT(d.calls == 1 && d.ok == 1);
	CU_ASSERT_EQUAL(auth_users_count(), n0);
	CU_ASSERT_NOT_EQUAL(au_user_check("dev8", "dev8-password", "c-8"),
	    0);

	/* a nonce of ours, but older than auth.nonce_lifetime: a stale
	 * challenge even with the right password (nonces are made in
	 * increasing order: make it now, then let time pass) */
	addr4(&a, "127.0.0.8");
	auth_nonce_make((struct sockaddr *)&a, clock_now(), nonce);
	t = au_text("REGISTER", "dev1", "dev1", AU_PASSWORD, nonce,
	    "00000001", "c-9", 1);
	test_now += auth_conf.auth_nonce_lifetime + 10;
	CU_ASSERT_EQUAL(au_check(t, "127.0.0.8", 5062, 0, "dev1", &g, &v),
	    401);
	CU_ASSERT_EQUAL(v.stale, 1);
	test_now -= auth_conf.auth_nonce_lifetime + 10;
	/* the same within the lifetime: through */
	CU_ASSERT_EQUAL(au_check(t, "127.0.0.8", 5062, 0, "dev1", &g, &v), 0);
	free(t);
}

/*
 * The users as another node changed them (a cluster reloads them): a
 * user no longer among them was deleted on that node, and the
 * registration of its client, which this node holds, ends here as a
 * local "user del" ends it; the others' stay.
 */
static void
test_replace_ends(void)
{
	struct user_row	 v[1];
	struct client	*c1, *c2;
	char		 sha[65], md5[33];

	c1 = test_reg("dev1", clock_now());
	c2 = test_reg("dev2", clock_now());
	CU_ASSERT_FATAL(c1 != NULL && c2 != NULL);
	CU_ASSERT_EQUAL_FATAL(c2->state, CLIENT_ONLINE);
	memset(v, 0, sizeof(v));
	digest_ha1("dev1", auth_conf.auth_realm, AU_PASSWORD, sha, md5);
	v[0].op = STORE_PUT;
	v[0].id = "dev1";
	v[0].realm = auth_conf.auth_realm;
	v[0].ha1_sha256 = sha;
	v[0].ha1_md5 = md5;
	v[0].created_at = clock_now();
	CU_ASSERT_EQUAL(auth_users_replace(v, 1), 0);
	CU_ASSERT_EQUAL(auth_users_count(), 1);
	CU_ASSERT_EQUAL(clients_find("dev2")->state, CLIENT_UNREGISTERED);
	CU_ASSERT_EQUAL(clients_find("dev1")->state, CLIENT_ONLINE);
	CU_ASSERT_EQUAL(au_user_check("dev1", AU_PASSWORD, "r-1"), 0);
	CU_ASSERT_NOT_EQUAL(au_user_check("dev2", "dev2-password", "r-2"),
	    0);
	/* the same set again: nothing more ends */
	CU_ASSERT_EQUAL(auth_users_replace(v, 1), 0);
	CU_ASSERT_EQUAL(clients_find("dev1")->state, CLIENT_ONLINE);
	CU_ASSERT(auth_users_load() >= 2);	/* as the store has them */
}

static int
auth_suite_init(void)
{
	char	 db[PATH_MAX], err[512], sha[65], md5[33];

	config_defaults(&auth_conf);
	auth_conf.auth_enabled = 1;
	auth_conf.auth_nonce_lifetime = 300;
	if (test_mkdtemp(auth_dir, sizeof(auth_dir)) == -1)
		return -1;
	if (su_init() != 0)
		return -1;
	auth_su = 1;
	if ((auth_root = su_root_create(NULL)) == NULL ||
	    (auth_agent = nta_agent_create(auth_root,
	    URL_STRING_MAKE("sip:127.0.0.1:0"), NULL, NULL, NTATAG_UA(0),
	    TAG_END())) == NULL)
		return -1;
	snprintf(db, sizeof(db), "%s/auth.db", auth_dir);
	if (store_open(NULL, db, 0, err, sizeof(err)) == -1) {
		fprintf(stderr, "\nauth: %s\n", err);
		return -1;
	}
	auth_store = 1;
	if (clients_init() == -1)
		return -1;
	auth_clients = 1;
	digest_ha1("dev1", auth_conf.auth_realm, AU_PASSWORD, sha, md5);
	if (ts_put_user("dev1", auth_conf.auth_realm, sha, md5,
	    clock_now()) == -1)
		return -1;
	digest_ha1("dev2", auth_conf.auth_realm, "dev2-password", sha, md5);
	if (ts_put_user("dev2", auth_conf.auth_realm, sha, md5,
	    clock_now()) == -1)
		return -1;
	if (auth_users_load() != 2)
		return -1;
	return auth_init(&auth_conf, auth_agent) == 0 ? 0 : -1;
}

static int
auth_suite_clean(void)
{
	if (auth_clients)
		clients_free();
	auth_users_free();
	if (auth_store)
		store_close();
	auth_clients = auth_store = 0;
	if (auth_agent)
		nta_agent_destroy(auth_agent);
	auth_agent = NULL;
	if (auth_root)
		su_root_destroy(auth_root);
	auth_root = NULL;
	if (auth_su)
		su_deinit();
	auth_su = 0;
	config_free(&auth_conf);
	test_rmtree(auth_dir);
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
	    NULL ||
	    CU_add_test(s, "forged failures: challenged, not judged",
	    test_forged_challenged) == NULL ||
	    CU_add_test(s, "forged failures do not count toward "
	    "max_failures", test_forged_not_counted) == NULL ||
	    CU_add_test(s, "a retransmission only on its own flow",
	    test_retransmission_flow) == NULL ||
	    CU_add_test(s, "users: the cache, not the store; stale nonce",
	    test_user_cache) == NULL ||
	    CU_add_test(s, "a row outlives the nonces it used", test_quiet) ==
	    NULL ||
	    CU_add_test(s, "a user deleted on another node ends its "
	    "registration here", test_replace_ends) == NULL)
		return -1;
	return 0;
}
