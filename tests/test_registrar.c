/*
 * test_registrar.c: reading a REGISTER (registrar_parse), on real SIP
 * messages parsed by Sofia-SIP from text; and, in a second suite,
 * REGISTER and OPTIONS answered by registrar_request and
 * heartbeat_request with auth.enabled on: an nta agent on 127.0.0.1, the
 * group commit, a store made for the suite, and UDP sockets of the test
 * that the replies go to.
 */
#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sofia-sip/msg.h>
#include <sofia-sip/msg_addr.h>
#include <sofia-sip/nta.h>
#include <sofia-sip/su.h>
#include <sofia-sip/su_wait.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/sip_header.h>
#include <CUnit/CUnit.h>

#include "digest.h"
#include "sippushd.h"
#include "tests.h"

static struct config	 rg_cfg;

static int
registrar_suite_init(void)
{
	config_defaults(&rg_cfg);	/* 60..3600, default 600, "default" */
	return 0;
}

static int
registrar_suite_clean(void)
{
	config_free(&rg_cfg);
	return 0;
}

/* One parsed REGISTER; strings in r live on the message's home. */
struct parsed {
	msg_t			*msg;
	struct registration	 r;
	struct reg_error	 e;
	int			 rv;
};

/*
 * Build "REGISTER" with the given To (NULL: none) and extra header lines
 * (each ending in \r\n), and run registrar_parse on it with rg_cfg.
 * Returns 0, or -1 if Sofia could not parse the text at all.
 */
static int
parse(struct parsed *p, const char *to, const char *extra)
{
	char	*text = NULL;
	size_t	 len;
	sip_t	*sip;
	int	 n;

	memset(p, 0, sizeof(*p));
	p->rv = -2;
	n = asprintf(&text,
	    "REGISTER sip:push.example.com SIP/2.0\r\n"
	    "Via: SIP/2.0/UDP 192.0.2.1:5062;branch=z9hG4bK-unit-1\r\n"
	    "Max-Forwards: 70\r\n"
	    "From: <sip:from@push.example.com>;tag=unit1\r\n"
	    "%s%s%s"
	    "Call-ID: unit-1@192.0.2.1\r\n"
	    "CSeq: 1 REGISTER\r\n"
	    "%s"
	    "Content-Length: 0\r\n"
	    "\r\n", to ? "To: " : "", to ? to : "", to ? "\r\n" : "",
	    extra ? extra : "");
	if (n < 0)
		return -1;
	len = (size_t)n;
	p->msg = msg_make(sip_default_mclass(), 0, text, (isize_t)len);
	free(text);
	if (p->msg == NULL || (sip = sip_object(p->msg)) == NULL) {
		fprintf(stderr, "\nregistrar: Sofia cannot parse the "
		    "message\n");
		return -1;
	}
	p->rv = registrar_parse(&rg_cfg, msg_home(p->msg), sip, &p->r, &p->e);
	return 0;
}

static void
parsed_free(struct parsed *p)
{
	if (p->msg)
		msg_destroy(p->msg);
	p->msg = NULL;
}

#define ALICE	"<sip:alice@push.example.com>"

/* parse, which must succeed with the given expiry (and class, if set) */
static void
expect_ok(const char *to, const char *extra, int expires, const char *class,
    int line)
{
	struct parsed	 p;
	int		 ok;

	if (parse(&p, to, extra) == -1) {
		CU_FAIL("message not parsed");
		parsed_free(&p);
		return;
	}
	ok = p.rv == 0 && p.r.expires == expires &&
	    (class == NULL || (p.r.class && strcmp(p.r.class, class) == 0));
	if (!ok)
		fprintf(stderr, "\nregistrar (test line %d): rv %d, status %d "
		    "\"%s\", expires %d, class %s; expected expires %d, "
		    "class %s\n", line, p.rv, p.e.status,
		    p.e.phrase ? p.e.phrase : "", p.r.expires,
		    p.r.class ? p.r.class : "NULL", expires,
		    class ? class : "any");
	CU_ASSERT(ok);
	parsed_free(&p);
}

/* parse, which must fail with status (and a phrase holding phrase) */
static void
expect_fail(const char *to, const char *extra, int status,
    const char *phrase, int line)
{
	struct parsed	 p;
	int		 ok;

	if (parse(&p, to, extra) == -1) {
		CU_FAIL("message not parsed");
		parsed_free(&p);
		return;
	}
	ok = p.rv == -1 && p.e.status == status && p.e.phrase &&
	    (phrase == NULL || test_contains(p.e.phrase, phrase));
	if (!ok)
		fprintf(stderr, "\nregistrar (test line %d): rv %d, status %d "
		    "\"%s\", expires %d; expected %d \"%s\"\n", line, p.rv,
		    p.e.status, p.e.phrase ? p.e.phrase : "", p.r.expires,
		    status, phrase ? phrase : "");
	CU_ASSERT(ok);
	if (status != 423)
		CU_ASSERT_EQUAL(p.e.min_expires, 0);
	parsed_free(&p);
}

#define EXPECT_OK(to, extra, expires, class) \
	expect_ok((to), (extra), (expires), (class), __LINE__)
#define EXPECT_FAIL(to, extra, status, phrase) \
	expect_fail((to), (extra), (status), (phrase), __LINE__)

static void
test_basic(void)
{
	struct parsed	 p;

	CU_ASSERT_EQUAL_FATAL(parse(&p, "<sip:alice-1.x_y@push.example.com>",
	    "Contact: <sip:alice@192.0.2.1:5062;transport=tcp>;expires=120\r\n"
	    "User-Agent: PushPhone/2.1\r\n"), 0);
	CU_ASSERT_EQUAL(p.rv, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p.r.id);
	CU_ASSERT_STRING_EQUAL(p.r.id, "alice-1.x_y");
	CU_ASSERT_PTR_NOT_NULL_FATAL(p.r.class);
	CU_ASSERT_STRING_EQUAL(p.r.class, "default");
	CU_ASSERT_EQUAL(p.r.expires, 120);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p.r.contact);
	CU_ASSERT_STRING_EQUAL(p.r.contact,
	    "<sip:alice@192.0.2.1:5062;transport=tcp>;expires=120");
	CU_ASSERT_PTR_NOT_NULL_FATAL(p.r.user_agent);
	CU_ASSERT_STRING_EQUAL(p.r.user_agent, "PushPhone/2.1");
	CU_ASSERT_EQUAL(p.e.status, 0);
	parsed_free(&p);

	/* the ID comes from To, not From, and a display name is fine */
	CU_ASSERT_EQUAL_FATAL(parse(&p, "\"Bob\" <sip:bob@push.example.com>",
	    "Contact: <sip:bob@192.0.2.2>\r\n"), 0);
	CU_ASSERT_EQUAL(p.rv, 0);
	CU_ASSERT_STRING_EQUAL(p.r.id, "bob");
	CU_ASSERT_PTR_NULL(p.r.user_agent);
	CU_ASSERT_EQUAL(p.r.expires, 600);
	parsed_free(&p);
}

static void
test_class(void)
{
	EXPECT_OK(ALICE, "Contact: <sip:a@192.0.2.1>;class=ios\r\n", 600,
	    "ios");
	EXPECT_OK(ALICE, "Contact: <sip:a@192.0.2.1>\r\n"
	    "Sippush-Class: android.v2\r\n", 600, "android.v2");
	/* header names are case-insensitive */
	EXPECT_OK(ALICE, "Contact: <sip:a@192.0.2.1>\r\n"
	    "sippush-class: lower\r\n", 600, "lower");
	/* the Contact parameter wins over the header */
	EXPECT_OK(ALICE, "Contact: <sip:a@192.0.2.1>;class=param\r\n"
	    "Sippush-Class: header\r\n", 600, "param");
	EXPECT_OK(ALICE, "Contact: <sip:a@192.0.2.1>\r\n", 600, "default");
	/* a URI parameter is not the Contact's parameter */
	EXPECT_OK(ALICE, "Contact: <sip:a@192.0.2.1;class=inuri>\r\n", 600,
	    "default");
	/* 32 bytes is the longest class */
	EXPECT_OK(ALICE, "Contact: <sip:a@192.0.2.1>"
	    ";class=abcdefghijklmnopqrstuvwxyz012345\r\n", 600,
	    "abcdefghijklmnopqrstuvwxyz012345");

	EXPECT_FAIL(ALICE, "Contact: <sip:a@192.0.2.1>"
	    ";class=abcdefghijklmnopqrstuvwxyz0123456\r\n", 400, "Class");
	EXPECT_FAIL(ALICE, "Contact: <sip:a@192.0.2.1>\r\n"
	    "Sippush-Class: not/valid\r\n", 400, "Class");
	EXPECT_FAIL(ALICE, "Contact: <sip:a@192.0.2.1>;class=a!b\r\n", 400,
	    "Class");
}

/*
 * A Contact that Sofia cannot parse ends up in sip_error, and
 * sip_contact is NULL: that is a bad request, not a query (a query would
 * answer 200 and the client would believe it registered).
 */
static void
test_bad_contact(void)
{
	struct parsed	 p;

	CU_ASSERT_EQUAL_FATAL(parse(&p, ALICE,
	    "Contact: <sip:a@192.0.2.1;expires=600\r\n"), 0);
	CU_ASSERT_PTR_NULL(sip_object(p.msg)->sip_contact);
	CU_ASSERT_PTR_NOT_NULL(sip_object(p.msg)->sip_error);
	CU_ASSERT_EQUAL(p.rv, -1);
	CU_ASSERT_EQUAL(p.e.status, 400);
	CU_ASSERT_NOT_EQUAL(p.r.expires, -1);
	parsed_free(&p);

	EXPECT_FAIL(ALICE, "Contact: <sip:a@192.0.2.1>;class=\r\n", 400,
	    NULL);
}

/*
 * A header that may appear once, given twice: Sofia puts the second on
 * sip_error with its own class, not as an error header (which nta lets
 * through for the registrar's and the proxy's headers). The reason names
 * it; reading it as an error header crashed the daemon (issue #6).
 */
static void
test_duplicate_header(void)
{
	EXPECT_FAIL(ALICE, "Max-Forwards: 71\r\n"
	    "Contact: <sip:a@192.0.2.1>\r\n", 400, "Bad Max-Forwards Header");
	EXPECT_FAIL(ALICE, "Contact: <sip:a@192.0.2.1>\r\n"
	    "Expires: 60\r\nExpires: 70\r\n", 400, "Bad Expires Header");
	EXPECT_FAIL(ALICE, "Contact: <sip:a@192.0.2.1>\r\n"
	    "User-Agent: a\r\nUser-Agent: b\r\n", 400,
	    "Bad User-Agent Header");
}

static void
test_expires(void)
{
	/* Contact parameter, then Expires header, then the default */
	EXPECT_OK(ALICE, "Contact: <sip:a@192.0.2.1>;expires=120\r\n"
	    "Expires: 300\r\n", 120, NULL);
	EXPECT_OK(ALICE, "Contact: <sip:a@192.0.2.1>\r\n"
	    "Expires: 300\r\n", 300, NULL);
	EXPECT_OK(ALICE, "Contact: <sip:a@192.0.2.1>\r\n", 600, NULL);
	/* the bounds themselves */
	EXPECT_OK(ALICE, "Contact: <sip:a@192.0.2.1>;expires=60\r\n", 60,
	    NULL);
	EXPECT_OK(ALICE, "Contact: <sip:a@192.0.2.1>;expires=3600\r\n", 3600,
	    NULL);
	/* above max_expires: granted max_expires */
	EXPECT_OK(ALICE, "Contact: <sip:a@192.0.2.1>;expires=3601\r\n", 3600,
	    NULL);
	EXPECT_OK(ALICE, "Contact: <sip:a@192.0.2.1>\r\n"
	    "Expires: 86400\r\n", 3600, NULL);
	EXPECT_OK(ALICE, "Contact: <sip:a@192.0.2.1>"
	    ";expires=99999999999999999999\r\n", 3600, NULL);
	EXPECT_OK(ALICE, "Contact: <sip:a@192.0.2.1>\r\n"
	    "Expires: 4294967295\r\n", 3600, NULL);
	/* 0 unregisters, from either place; the parameter still wins */
	EXPECT_OK(ALICE, "Contact: <sip:a@192.0.2.1>;expires=0\r\n", 0, NULL);
	EXPECT_OK(ALICE, "Contact: <sip:a@192.0.2.1>\r\nExpires: 0\r\n", 0,
	    NULL);
	EXPECT_OK(ALICE, "Contact: <sip:a@192.0.2.1>;expires=0\r\n"
	    "Expires: 300\r\n", 0, NULL);
	EXPECT_OK(ALICE, "Contact: <sip:a@192.0.2.1>;expires=300\r\n"
	    "Expires: 0\r\n", 300, NULL);
	/* unregistering does not care about the class */
	EXPECT_OK(ALICE, "Contact: <sip:a@192.0.2.1>;expires=0;class=a/b\r\n",
	    0, NULL);

	EXPECT_FAIL(ALICE, "Contact: <sip:a@192.0.2.1>;expires=abc\r\n", 400,
	    "Expires");
	EXPECT_FAIL(ALICE, "Contact: <sip:a@192.0.2.1>;expires=-5\r\n", 400,
	    "Expires");
	EXPECT_FAIL(ALICE, "Contact: <sip:a@192.0.2.1>;expires=12x\r\n", 400,
	    "Expires");
}

static void
test_too_brief(void)
{
	struct parsed	 p;

	CU_ASSERT_EQUAL_FATAL(parse(&p, ALICE,
	    "Contact: <sip:a@192.0.2.1>;expires=59\r\n"), 0);
	CU_ASSERT_EQUAL(p.rv, -1);
	CU_ASSERT_EQUAL(p.e.status, 423);
	CU_ASSERT_EQUAL(p.e.min_expires, 60);
	CU_ASSERT_PTR_NOT_NULL(p.e.phrase);
	parsed_free(&p);

	CU_ASSERT_EQUAL_FATAL(parse(&p, ALICE,
	    "Contact: <sip:a@192.0.2.1>\r\nExpires: 1\r\n"), 0);
	CU_ASSERT_EQUAL(p.rv, -1);
	CU_ASSERT_EQUAL(p.e.status, 423);
	CU_ASSERT_EQUAL(p.e.min_expires, 60);
	parsed_free(&p);

	/* the min comes from the configuration */
	rg_cfg.reg_min_expires = 200;
	CU_ASSERT_EQUAL_FATAL(parse(&p, ALICE,
	    "Contact: <sip:a@192.0.2.1>;expires=199\r\n"), 0);
	CU_ASSERT_EQUAL(p.rv, -1);
	CU_ASSERT_EQUAL(p.e.status, 423);
	CU_ASSERT_EQUAL(p.e.min_expires, 200);
	parsed_free(&p);
	rg_cfg.reg_min_expires = 60;
}

static void
test_query(void)
{
	struct parsed	 p;

	/* no Contact: a query of the current binding */
	CU_ASSERT_EQUAL_FATAL(parse(&p, ALICE, "Expires: 300\r\n"), 0);
	CU_ASSERT_EQUAL(p.rv, 0);
	CU_ASSERT_EQUAL(p.r.expires, -1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p.r.id);
	CU_ASSERT_STRING_EQUAL(p.r.id, "alice");
	CU_ASSERT_PTR_NULL(p.r.contact);
	parsed_free(&p);
}

static void
test_wildcard(void)
{
	struct parsed	 p;

	CU_ASSERT_EQUAL_FATAL(parse(&p, ALICE,
	    "Contact: *\r\nExpires: 0\r\n"), 0);
	CU_ASSERT_EQUAL(p.rv, 0);
	CU_ASSERT_EQUAL(p.r.expires, 0);
	CU_ASSERT_STRING_EQUAL(p.r.id, "alice");
	parsed_free(&p);

	EXPECT_FAIL(ALICE, "Contact: *\r\n", 400, "Wildcard");
	EXPECT_FAIL(ALICE, "Contact: *\r\nExpires: 60\r\n", 400, "Wildcard");
}

static void
test_bad_requests(void)
{
	char	 to[160], id[80];

	/* two Contacts, in one header or two */
	EXPECT_FAIL(ALICE, "Contact: <sip:a@192.0.2.1>, <sip:a@192.0.2.2>\r\n",
	    400, "One Contact");
	EXPECT_FAIL(ALICE, "Contact: <sip:a@192.0.2.1>\r\n"
	    "Contact: <sip:a@192.0.2.2>\r\n", 400, "One Contact");
	EXPECT_FAIL(ALICE, "Contact: *, <sip:a@192.0.2.2>\r\nExpires: 0\r\n",
	    400, "One Contact");

	/* IDs */
	EXPECT_FAIL("<sip:bad!id@push.example.com>",
	    "Contact: <sip:a@192.0.2.1>\r\n", 400, "Client ID");
	EXPECT_FAIL("<sip:a%20b@push.example.com>",
	    "Contact: <sip:a@192.0.2.1>\r\n", 400, "Client ID");
	EXPECT_FAIL("<sip:a;b@push.example.com>",
	    "Contact: <sip:a@192.0.2.1>\r\n", 400, "Client ID");
	memset(id, 'i', 65);
	id[65] = '\0';
	snprintf(to, sizeof(to), "<sip:%s@push.example.com>", id);
	EXPECT_FAIL(to, "Contact: <sip:a@192.0.2.1>\r\n", 400, "Client ID");
	id[64] = '\0';
	snprintf(to, sizeof(to), "<sip:%s@push.example.com>", id);
	EXPECT_OK(to, "Contact: <sip:a@192.0.2.1>\r\n", 600, NULL);
	/* a bad ID is refused even for a query or an unregistration */
	EXPECT_FAIL("<sip:bad!id@push.example.com>", NULL, 400, "Client ID");
	EXPECT_FAIL("<sip:bad!id@push.example.com>",
	    "Contact: *\r\nExpires: 0\r\n", 400, "Client ID");

	/* no user in To, or no To */
	EXPECT_FAIL("<sip:push.example.com>",
	    "Contact: <sip:a@192.0.2.1>\r\n", 400, "Client ID");
	EXPECT_FAIL(NULL, "Contact: <sip:a@192.0.2.1>\r\n", 400, "Client ID");
}

static void
test_contact_too_long(void)
{
	char	 hdr[700], host[600];

	/* "<sip:a@" + host + ">" = 512 bytes is the longest */
	memset(host, 'h', 504);
	host[504] = '\0';
	snprintf(hdr, sizeof(hdr), "Contact: <sip:a@%s>\r\n", host);
	EXPECT_OK(ALICE, hdr, 600, NULL);
	host[504] = 'h';
	host[505] = '\0';
	snprintf(hdr, sizeof(hdr), "Contact: <sip:a@%s>\r\n", host);
	EXPECT_FAIL(ALICE, hdr, 400, "Too Long");
}

static void
test_user_agent(void)
{
	struct parsed	 p;
	char		 hdr[400], ua[300];
	size_t		 i;

	for (i = 0; i < 200; i++)
		ua[i] = (char)('A' + i % 26);
	ua[200] = '\0';
	snprintf(hdr, sizeof(hdr), "Contact: <sip:a@192.0.2.1>\r\n"
	    "User-Agent: %s\r\n", ua);
	CU_ASSERT_EQUAL_FATAL(parse(&p, ALICE, hdr), 0);
	CU_ASSERT_EQUAL(p.rv, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p.r.user_agent);
	CU_ASSERT_EQUAL(strlen(p.r.user_agent), CLIENT_UA_MAX);
	CU_ASSERT_EQUAL(strncmp(p.r.user_agent, ua, CLIENT_UA_MAX), 0);
	parsed_free(&p);

	/* also for a query */
	snprintf(hdr, sizeof(hdr), "User-Agent: %s\r\n", ua);
	CU_ASSERT_EQUAL_FATAL(parse(&p, ALICE, hdr), 0);
	CU_ASSERT_EQUAL(p.rv, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p.r.user_agent);
	CU_ASSERT_EQUAL(strlen(p.r.user_agent), CLIENT_UA_MAX);
	parsed_free(&p);

	/* exactly CLIENT_UA_MAX is kept whole */
	ua[CLIENT_UA_MAX] = '\0';
	snprintf(hdr, sizeof(hdr), "Contact: <sip:a@192.0.2.1>\r\n"
	    "User-Agent: %s\r\n", ua);
	CU_ASSERT_EQUAL_FATAL(parse(&p, ALICE, hdr), 0);
	CU_ASSERT_EQUAL(p.rv, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p.r.user_agent);
	CU_ASSERT_STRING_EQUAL(p.r.user_agent, ua);
	parsed_free(&p);
}

/* ---- the live suite: registrar_request and heartbeat_request ---- */

#define LV_PASSWORD	"live-password"
#define LV_URI		"sip:127.0.0.1"

static struct config	 lv_cfg;
static char		 lv_dir[TEST_DIR_MAX];
static su_root_t	*lv_root;
static nta_agent_t	*lv_agent;
static int		 lv_su, lv_store, lv_clients, lv_commit, lv_hb;
static int		 lv_fd[2] = { -1, -1 };	/* two flows of one host */
static unsigned		 lv_port[2];

static int
live_suite_init(void)
{
	struct sockaddr_in	 a;
	socklen_t		 len;
	char			 db[PATH_MAX], err[512], sha[65], md5[33];
	int			 i;

	config_defaults(&lv_cfg);
	lv_cfg.auth_enabled = 1;
	lv_cfg.hb_sweep_interval = 3600;	/* never during the test */
	if (test_mkdtemp(lv_dir, sizeof(lv_dir)) == -1 || su_init() != 0)
		return -1;
	lv_su = 1;
	if ((lv_root = su_root_create(NULL)) == NULL ||
	    (lv_agent = nta_agent_create(lv_root,
	    URL_STRING_MAKE("sip:127.0.0.1:0"), NULL, NULL, NTATAG_UA(0),
	    TAG_END())) == NULL)
		return -1;
	snprintf(db, sizeof(db), "%s/live.db", lv_dir);
	if (store_open(NULL, db, 0, err, sizeof(err)) == -1) {
		fprintf(stderr, "\nregistrar: %s\n", err);
		return -1;
	}
	lv_store = 1;
	if (clients_init() == -1)
		return -1;
	lv_clients = 1;
	if (commit_init(&lv_cfg, lv_root) == -1)
		return -1;
	lv_commit = 1;
	if (heartbeat_init(&lv_cfg, lv_root, lv_agent) == -1)
		return -1;
	lv_hb = 1;
	if (auth_init(&lv_cfg, lv_agent) == -1)
		return -1;
	registrar_init(&lv_cfg, lv_agent);
	digest_ha1("live1", lv_cfg.auth_realm, LV_PASSWORD, sha, md5);
	if (ts_put_user("live1", lv_cfg.auth_realm, sha, md5,
	    clock_now()) == -1 || auth_users_load() != 1)
		return -1;
	for (i = 0; i < 2; i++) {
		memset(&a, 0, sizeof(a));
		a.sin_family = AF_INET;
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(a);
		if ((lv_fd[i] = socket(AF_INET, SOCK_DGRAM, 0)) == -1 ||
		    bind(lv_fd[i], (struct sockaddr *)&a, sizeof(a)) == -1 ||
		    getsockname(lv_fd[i], (struct sockaddr *)&a, &len) == -1)
			return -1;
		lv_port[i] = ntohs(a.sin_port);
	}
	return 0;
}

static int
live_suite_clean(void)
{
	int	 i;

	for (i = 0; i < 2; i++)
		if (lv_fd[i] != -1)
			close(lv_fd[i]);
	lv_fd[0] = lv_fd[1] = -1;
	if (lv_hb)
		heartbeat_shutdown();
	if (lv_commit)
		commit_shutdown();
	if (lv_clients)
		clients_free();
	auth_users_free();
	if (lv_store)
		store_close();
	lv_hb = lv_commit = lv_clients = lv_store = 0;
	if (lv_agent)
		nta_agent_destroy(lv_agent);
	lv_agent = NULL;
	if (lv_root)
		su_root_destroy(lv_root);
	lv_root = NULL;
	if (lv_su)
		su_deinit();
	lv_su = 0;
	config_free(&lv_cfg);
	test_rmtree(lv_dir);
	return 0;
}

/*
 * The text of a request of live1 with its credentials (nonce, nc), in
 * call callid at cseq, whose Via names flow 0 (where the replies go).
 */
static char *
lv_text(const char *method, const char *nonce, const char *nc,
    const char *callid, unsigned cseq)
{
	char	 sha[65], md5[33], resp[65], *text = NULL;
	int	 reg = strcmp(method, "REGISTER") == 0;

	digest_ha1("live1", lv_cfg.auth_realm, LV_PASSWORD, sha, md5);
	if (digest_response(1, sha, nonce, nc, "feed", method, LV_URI,
	    resp) == -1)
		return NULL;
	if (asprintf(&text,
	    "%s " LV_URI " SIP/2.0\r\n"
	    "Via: SIP/2.0/UDP 127.0.0.1:%u;branch=z9hG4bK-%s-%u\r\n"
	    "Max-Forwards: 70\r\n"
	    "From: <sip:live1@127.0.0.1>;tag=lv1\r\n"
	    "To: <sip:live1@127.0.0.1>\r\n"
	    "Call-ID: %s\r\n"
	    "CSeq: %u %s\r\n"
	    "%s"
	    "Authorization: Digest username=\"live1\", realm=\"%s\", "
	    "nonce=\"%s\", uri=\"" LV_URI "\", response=\"%s\", "
	    "algorithm=SHA-256, qop=auth, nc=%s, cnonce=\"feed\"\r\n"
	    "Content-Length: 0\r\n\r\n",
	    method, lv_port[0], callid, cseq, callid, cseq, method,
	    reg ? "Contact: <sip:live1@127.0.0.1>;expires=600\r\n" : "",
	    lv_cfg.auth_realm, nonce, resp, nc) < 0)
		return NULL;
	return text;
}

/*
 * Hand text to the registrar (or the heartbeat for an OPTIONS) as if it
 * came from flow i, and wait for the reply on flow 0 (the Via's). The
 * reply's status, its text in reply; -1 if none came within 5 s.
 */
static int
lv_send(const char *text, int i, char *reply, size_t len)
{
	struct pollfd	 p = { .fd = lv_fd[0], .events = POLLIN };
	msg_t		*msg;
	sip_t		*sip;
	su_sockaddr_t	 su;
	ssize_t		 n;
	int		 status, waited;

	msg = msg_make(sip_default_mclass(), 0, text, (isize_t)strlen(text));
	if (msg == NULL || (sip = sip_object(msg)) == NULL) {
		msg_destroy(msg);
		return -1;
	}
	memset(&su, 0, sizeof(su));
	su.su_sin.sin_family = AF_INET;
	su.su_sin.sin_port = htons((uint16_t)lv_port[i]);
	su.su_sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	msg_set_address(msg, &su, sizeof(struct sockaddr_in));
	msg_addrinfo(msg)->ai_family = AF_INET;
	msg_addrinfo(msg)->ai_protocol = IPPROTO_UDP;
	if (sip->sip_request->rq_method == sip_method_register)
		registrar_request(msg, sip);
	else
		heartbeat_request(msg, sip);
	for (waited = 0; waited < 5000; waited += 10) {
		su_root_step(lv_root, 0);
		if (poll(&p, 1, 10) != 1)
			continue;
		if ((n = recv(lv_fd[0], reply, len - 1, 0)) <= 0)
			return -1;
		reply[n] = '\0';
		if (sscanf(reply, "SIP/2.0 %d", &status) == 1)
			return status;
	}
	return -1;
}

/*
 * Item 3 of the hardening issue: an authenticated REGISTER sent again
 * byte for byte is answered 200 again on its own flow without being
 * applied again, and refused (401) from another port, which moves
 * nothing; an OPTIONS likewise, without counting as a heartbeat again.
 */
static void
test_live_replay(void)
{
	struct client		*c;
	struct sockaddr_in	 a;
	char			 nonce[64], reply[4096], *reg, *opt;
	int64_t			 registered_at, expires_at, last_seen;
	int64_t			 saved = test_now;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	auth_nonce_make((struct sockaddr *)&a, clock_now(), nonce);
	reg = lv_text("REGISTER", nonce, "00000001", "live-reg", 1);
	opt = lv_text("OPTIONS", nonce, "00000002", "live-opt", 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(reg);
	CU_ASSERT_PTR_NOT_NULL_FATAL(opt);
	CU_ASSERT_EQUAL(lv_send(reg, 0, reply, sizeof(reply)), 200);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c = clients_find("live1"));
	CU_ASSERT_EQUAL(c->port, lv_port[0]);
	registered_at = c->registered_at;
	expires_at = c->expires_at;

	/* later, the same bytes on the same flow: 200, nothing applied */
	test_now += 10;
	CU_ASSERT_EQUAL(lv_send(reg, 0, reply, sizeof(reply)), 200);
	CU_ASSERT(test_contains(reply, "expires=600"));
	CU_ASSERT_EQUAL(c->registered_at, registered_at);
	CU_ASSERT_EQUAL(c->expires_at, expires_at);
	/* from another port: 401, the binding stays */
	CU_ASSERT_EQUAL(lv_send(reg, 1, reply, sizeof(reply)), 401);
	CU_ASSERT(test_contains(reply, "stale=true"));
	CU_ASSERT_EQUAL(c->port, lv_port[0]);
	CU_ASSERT_EQUAL(c->expires_at, expires_at);

	/* a heartbeat counts once */
	CU_ASSERT_EQUAL(lv_send(opt, 0, reply, sizeof(reply)), 200);
	CU_ASSERT_EQUAL(c->last_seen, test_now);
	last_seen = c->last_seen;
	test_now += 10;
	CU_ASSERT_EQUAL(lv_send(opt, 0, reply, sizeof(reply)), 200);
	CU_ASSERT_EQUAL(c->last_seen, last_seen);
	CU_ASSERT_EQUAL(lv_send(opt, 1, reply, sizeof(reply)), 401);
	CU_ASSERT_EQUAL(c->last_seen, last_seen);
	CU_ASSERT_EQUAL(c->port, lv_port[0]);
	free(reg);
	free(opt);
	test_now = saved;
}

/*
 * With registration.retain 0 the row of a client that unregistered goes
 * at the next sweep, but not while a nonce it used lives: its record
 * must refuse a replay of its last REGISTER, which would otherwise be
 * taken for a first one and register the replayer.
 */
static void
test_live_retain(void)
{
	struct client		*c;
	struct sockaddr_in	 a;
	char			 nonce[64], reply[4096], *reg, *unreg;
	int			 saved = lv_cfg.reg_retain;
	int64_t			 saved_now = test_now;

	test_now += 60;		/* past the nonces of the last test */
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	auth_nonce_make((struct sockaddr *)&a, clock_now(), nonce);
	reg = lv_text("REGISTER", nonce, "00000001", "retain-reg", 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(reg);
	CU_ASSERT_EQUAL(lv_send(reg, 0, reply, sizeof(reply)), 200);
	/* unregister: the same request with Expires 0 and the next nc */
	unreg = lv_text("REGISTER", nonce, "00000002", "retain-reg", 2);
	CU_ASSERT_PTR_NOT_NULL_FATAL(unreg);
	{
		char	*e = strstr(unreg, ";expires=600");

		CU_ASSERT_PTR_NOT_NULL_FATAL(e);
		memcpy(e, ";expires=0  ", 12);
	}
	CU_ASSERT_EQUAL(lv_send(unreg, 0, reply, sizeof(reply)), 200);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c = clients_find("live1"));
	CU_ASSERT_EQUAL(c->state, CLIENT_UNREGISTERED);

	lv_cfg.reg_retain = 0;
	heartbeat_sweep(clock_now() + 1);
	commit_flush();
	CU_ASSERT_PTR_NOT_NULL(clients_find("live1"));
	/* the first REGISTER replayed from elsewhere: refused */
	CU_ASSERT_EQUAL(lv_send(reg, 1, reply, sizeof(reply)), 401);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c = clients_find("live1"));
	CU_ASSERT_EQUAL(c->state, CLIENT_UNREGISTERED);
	/* once the nonce has expired, the row goes */
	heartbeat_sweep(clock_now() + lv_cfg.auth_nonce_lifetime + 1);
	commit_flush();
	CU_ASSERT_PTR_NULL(clients_find("live1"));
	lv_cfg.reg_retain = saved;
	test_now = saved_now;
	free(reg);
	free(unreg);
}

int
test_registrar_register(void)
{
	CU_pSuite	 s;

	if ((s = CU_add_suite("registrar", registrar_suite_init,
	    registrar_suite_clean)) == NULL)
		return -1;
	if (CU_add_test(s, "ID, Contact, User-Agent", test_basic) == NULL ||
	    CU_add_test(s, "class: parameter, header, default", test_class) ==
	    NULL ||
	    CU_add_test(s, "expiry: sources, clamping, zero", test_expires) ==
	    NULL ||
	    CU_add_test(s, "below min_expires: 423", test_too_brief) ==
	    NULL ||
	    CU_add_test(s, "no Contact: query", test_query) == NULL ||
	    CU_add_test(s, "Contact: *", test_wildcard) == NULL ||
	    CU_add_test(s, "bad requests: 400", test_bad_requests) == NULL ||
	    CU_add_test(s, "unparsable Contact: 400, not a query",
	    test_bad_contact) == NULL ||
	    CU_add_test(s, "header given twice: 400 naming it",
	    test_duplicate_header) == NULL ||
	    CU_add_test(s, "Contact too long", test_contact_too_long) ==
	    NULL ||
	    CU_add_test(s, "User-Agent truncated", test_user_agent) == NULL)
		return -1;
	if ((s = CU_add_suite("registrar, live", live_suite_init,
	    live_suite_clean)) == NULL)
		return -1;
	if (CU_add_test(s, "a replayed REGISTER or OPTIONS: answered on its "
	    "flow, not applied again, refused elsewhere", test_live_replay) ==
	    NULL ||
	    CU_add_test(s, "retain 0: a row outlives the nonces it used",
	    test_live_retain) == NULL)
		return -1;
	return 0;
}
