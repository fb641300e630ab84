/*
 * test_heartbeat.c: the liveness sweep (heartbeat_sweep), with a real
 * su_root whose timer fires only in test_sweep_uses_clock (the root is
 * run there only), no
 * nta agent (the sweep path must not need one when no REGISTER replies
 * are queued), and a store in a folder made for the suite.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <sofia-sip/msg.h>
#include <sofia-sip/msg_addr.h>
#include <sofia-sip/sip_parser.h>
#include <sofia-sip/su.h>
#include <sofia-sip/su_wait.h>
#include <CUnit/CUnit.h>

#include "sippushd.h"
#include "tests.h"

static char		 hb_dir[TEST_DIR_MAX];
static char		 hb_db[PATH_MAX];
static struct config	 hb_conf;
static su_root_t	*hb_root;
static int		 hb_su, hb_ready, hb_ndb;

static int
heartbeat_suite_init(void)
{
	config_defaults(&hb_conf);
	hb_conf.hb_sweep_interval = 3600;	/* never during the test */
	if (test_mkdtemp(hb_dir, sizeof(hb_dir)) == -1)
		return -1;
	if (su_init() != 0)
		return -1;
	hb_su = 1;
	if ((hb_root = su_root_create(NULL)) == NULL)
		return -1;
	if (heartbeat_init(&hb_conf, hb_root, NULL) == -1)
		return -1;
	return 0;
}

static int
heartbeat_suite_clean(void)
{
	heartbeat_shutdown();
	if (hb_root)
		su_root_destroy(hb_root);
	hb_root = NULL;
	if (hb_su)
		su_deinit();
	hb_su = 0;
	config_free(&hb_conf);
	test_rmtree(hb_dir);
	return 0;
}

/* Every test: an empty table, a new database, the default timings. */
static void
heartbeat_setup(void)
{
	char	 err[512];

	hb_conf.hb_timeout = 90;
	hb_conf.reg_retain = 86400;
	snprintf(hb_db, sizeof(hb_db), "%s/hb%d.db", hb_dir, ++hb_ndb);
	hb_ready = clients_init() == 0;
	if (hb_ready && store_open(NULL, hb_db, 0, err, sizeof(err)) == -1) {
		fprintf(stderr, "\nheartbeat: %s\n", err);
		hb_ready = 0;
	}
}

static void
heartbeat_teardown(void)
{
	store_close();
	clients_free();
	hb_ready = 0;
}

/* A client registered at now for expires seconds, already committed. */
static struct client *
add(const char *id, int64_t now, int expires)
{
	struct registration	 r;

	test_reg_fill(&r, id, now);
	r.expires = expires;
	return test_reg_client(&r);
}

/* The stored row of id. */
struct row {
	int	 found;
	int	 state;
	int64_t	 last_seen;
	int64_t	 expires_at;
	char	 id[CLIENT_ID_MAX + 1];
};

static int
row_match(const struct client *c, void *arg)
{
	struct row	*r = arg;

	if (strcmp(c->id, r->id) == 0) {
		r->found++;
		r->state = c->state;
		r->last_seen = c->last_seen;
		r->expires_at = c->expires_at;
	}
	return 0;
}

static struct row
stored(const char *id)
{
	struct row	 r;

	memset(&r, 0, sizeof(r));
	r.state = -1;
	snprintf(r.id, sizeof(r.id), "%s", id);
	if (ts_load_clients(row_match, &r) == -1)
		r.found = -1;
	return r;
}

static int
stored_count(void)
{
	struct row	 r;

	memset(&r, 0, sizeof(r));
	return ts_load_clients(row_match, &r);
}

/* Close and reopen the database, so reads come from the file. */
static void
reopen(void)
{
	char	 err[512];

	store_close();
	if (store_open(NULL, hb_db, 0, err, sizeof(err)) == -1) {
		fprintf(stderr, "\nheartbeat: %s\n", err);
		CU_FAIL_FATAL("cannot reopen the store");
	}
}

static void
test_offline(void)
{
	struct client	*quiet, *chatty;
	struct row	 r;

	CU_ASSERT_FATAL(hb_ready);
	quiet = add("quiet", 1000, 3600);
	chatty = add("chatty", 1000, 3600);
	CU_ASSERT_FATAL(quiet && chatty);
	CU_ASSERT_EQUAL(heartbeat_sweep(1000), 0);	/* commits them */
	CU_ASSERT_EQUAL(stored_count(), 2);
	CU_ASSERT_PTR_NULL(clients_take_dirty());

	/* a heartbeat, as heartbeat_request records it (lazy write) */
	chatty->last_seen = 1080;
	clients_mark(chatty, CLIENT_DIRTY_SEEN);

	/* silent for exactly the timeout: still online */
	CU_ASSERT_EQUAL(heartbeat_sweep(1090), 0);
	CU_ASSERT_EQUAL(quiet->state, CLIENT_ONLINE);
	CU_ASSERT_EQUAL(chatty->state, CLIENT_ONLINE);
	/* the sweep committed the heartbeat */
	CU_ASSERT_EQUAL(chatty->dirty, 0);
	r = stored("chatty");
	CU_ASSERT_EQUAL(r.found, 1);
	CU_ASSERT_EQUAL(r.last_seen, 1080);
	CU_ASSERT_EQUAL(r.state, CLIENT_ONLINE);

	/* one second more and quiet is offline */
	CU_ASSERT_EQUAL(heartbeat_sweep(1091), 1);
	CU_ASSERT_EQUAL(quiet->state, CLIENT_OFFLINE);
	CU_ASSERT_EQUAL(chatty->state, CLIENT_ONLINE);
	CU_ASSERT_EQUAL(quiet->dirty, 0);
	CU_ASSERT_PTR_NULL(clients_take_dirty());
	/* offline is not counted again */
	CU_ASSERT_EQUAL(heartbeat_sweep(1100), 0);
	CU_ASSERT_EQUAL(quiet->state, CLIENT_OFFLINE);

	reopen();
	r = stored("quiet");
	CU_ASSERT_EQUAL(r.found, 1);
	CU_ASSERT_EQUAL(r.state, CLIENT_OFFLINE);
	CU_ASSERT_EQUAL(r.last_seen, 1000);
	CU_ASSERT_EQUAL(r.expires_at, 4600);
	r = stored("chatty");
	CU_ASSERT_EQUAL(r.state, CLIENT_ONLINE);
	CU_ASSERT_EQUAL(r.last_seen, 1080);

	/* chatty falls silent too */
	CU_ASSERT_EQUAL(heartbeat_sweep(1171), 1);
	CU_ASSERT_EQUAL(chatty->state, CLIENT_OFFLINE);
	CU_ASSERT_EQUAL(stored("chatty").state, CLIENT_OFFLINE);
}

static void
test_timeout_off(void)
{
	struct client	*c;

	CU_ASSERT_FATAL(hb_ready);
	hb_conf.hb_timeout = 0;
	c = add("mute", 1000, 3600);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(heartbeat_sweep(1000), 0);
	CU_ASSERT_EQUAL(heartbeat_sweep(1000 + 3599), 0);
	CU_ASSERT_EQUAL(c->state, CLIENT_ONLINE);
	CU_ASSERT_EQUAL(stored("mute").state, CLIENT_ONLINE);

	/* the registration still runs out */
	CU_ASSERT_EQUAL(heartbeat_sweep(1000 + 3600), 1);
	CU_ASSERT_EQUAL(c->state, CLIENT_EXPIRED);
}

static void
test_expired(void)
{
	struct client	*on, *off, *both;
	struct row	 r;

	CU_ASSERT_FATAL(hb_ready);
	on = add("on", 1000, 600);
	off = add("off", 1000, 600);
	both = add("both", 1000, 100);
	CU_ASSERT_FATAL(on && off && both);
	on->last_seen = 1599;
	CU_ASSERT_EQUAL(heartbeat_sweep(1000), 0);
	clients_set_state(off, CLIENT_OFFLINE);
	clients_mark(off, CLIENT_DIRTY_SEEN);

	/* silent past the timeout and past expiry at once: expired wins */
	CU_ASSERT_EQUAL(heartbeat_sweep(1100), 1);
	CU_ASSERT_EQUAL(both->state, CLIENT_EXPIRED);
	CU_ASSERT_EQUAL(stored("both").state, CLIENT_EXPIRED);

	CU_ASSERT_EQUAL(heartbeat_sweep(1599), 0);
	CU_ASSERT_EQUAL(on->state, CLIENT_ONLINE);
	CU_ASSERT_EQUAL(off->state, CLIENT_OFFLINE);
	/* expires_at itself is past */
	CU_ASSERT_EQUAL(heartbeat_sweep(1600), 2);
	CU_ASSERT_EQUAL(on->state, CLIENT_EXPIRED);
	CU_ASSERT_EQUAL(off->state, CLIENT_EXPIRED);
	CU_ASSERT_EQUAL(on->expires_at, 1600);
	/* retained, not counted again */
	CU_ASSERT_EQUAL(heartbeat_sweep(1700), 0);
	CU_ASSERT_EQUAL(clients_count(), 3);

	reopen();
	r = stored("on");
	CU_ASSERT_EQUAL(r.found, 1);
	CU_ASSERT_EQUAL(r.state, CLIENT_EXPIRED);
	CU_ASSERT_EQUAL(r.expires_at, 1600);
	CU_ASSERT_EQUAL(r.last_seen, 1599);
	r = stored("off");
	CU_ASSERT_EQUAL(r.state, CLIENT_EXPIRED);
	CU_ASSERT_EQUAL(stored_count(), 3);
}

static void
test_retain_delete(void)
{
	struct client	*lapsed, *unreg, *keep;

	CU_ASSERT_FATAL(hb_ready);
	hb_conf.reg_retain = 100;
	hb_conf.hb_timeout = 0;
	lapsed = add("lapsed", 1000, 600);
	unreg = add("unreg", 1000, 600);
	keep = add("keep", 1000, 3600);
	CU_ASSERT_FATAL(lapsed && unreg && keep);
	clients_unregister(unreg, 1200);
	CU_ASSERT_EQUAL(heartbeat_sweep(1200), 0);
	CU_ASSERT_EQUAL(stored("unreg").state, CLIENT_UNREGISTERED);

	/* unreg: 1200 + 100 */
	CU_ASSERT_EQUAL(heartbeat_sweep(1299), 0);
	CU_ASSERT_PTR_NOT_NULL(clients_find("unreg"));
	CU_ASSERT_EQUAL(heartbeat_sweep(1300), 1);
	CU_ASSERT_PTR_NULL(clients_find("unreg"));
	CU_ASSERT_EQUAL(clients_count(), 2);
	CU_ASSERT_EQUAL(stored("unreg").found, 0);
	CU_ASSERT_EQUAL(stored("lapsed").found, 1);

	CU_ASSERT_EQUAL(heartbeat_sweep(1600), 1);	/* lapsed expires */
	CU_ASSERT_EQUAL(lapsed->state, CLIENT_EXPIRED);
	CU_ASSERT_EQUAL(stored("lapsed").state, CLIENT_EXPIRED);

	/* lapsed: 1600 + 100 */
	CU_ASSERT_EQUAL(heartbeat_sweep(1699), 0);
	CU_ASSERT_PTR_NOT_NULL(clients_find("lapsed"));
	CU_ASSERT_EQUAL(heartbeat_sweep(1700), 1);
	CU_ASSERT_PTR_NULL(clients_find("lapsed"));
	CU_ASSERT_PTR_EQUAL(clients_find("keep"), keep);
	CU_ASSERT_EQUAL(clients_count(), 1);
	CU_ASSERT_PTR_NULL(clients_take_dirty());

	reopen();
	CU_ASSERT_EQUAL(stored("lapsed").found, 0);
	CU_ASSERT_EQUAL(stored("unreg").found, 0);
	CU_ASSERT_EQUAL(stored("keep").found, 1);
	CU_ASSERT_EQUAL(stored_count(), 1);
}

/* retain 0: a lapsed registration goes at the next sweep */
static void
test_retain_zero(void)
{
	struct client	*c;

	CU_ASSERT_FATAL(hb_ready);
	hb_conf.reg_retain = 0;
	c = add("brief", 1000, 60);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(heartbeat_sweep(1060), 1);
	CU_ASSERT_EQUAL(c->state, CLIENT_EXPIRED);
	CU_ASSERT_EQUAL(stored("brief").state, CLIENT_EXPIRED);
	CU_ASSERT_EQUAL(heartbeat_sweep(1060), 1);
	CU_ASSERT_PTR_NULL(clients_find("brief"));
	CU_ASSERT_EQUAL(stored_count(), 0);
	CU_ASSERT_EQUAL(heartbeat_sweep(1061), 0);
}

/* A client that registers again before its pending delete is written
 * stays, with its new registration. */
static void
test_reregister_before_delete(void)
{
	struct client	*c;
	struct row	 r;

	CU_ASSERT_FATAL(hb_ready);
	hb_conf.reg_retain = 0;
	c = add("back", 1000, 60);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(heartbeat_sweep(1060), 1);
	CU_ASSERT_EQUAL(c->state, CLIENT_EXPIRED);
	/* mark for deletion without committing: what the sweep does
	 * before its flush */
	clients_mark(c, CLIENT_DIRTY_DELETE);
	CU_ASSERT_PTR_EQUAL(add("back", 1061, 600), c);
	/* c alone on the dirty list: it must not now point to itself, or
	 * the flush below would never end */
	CU_ASSERT_PTR_NULL(c->dnext);
	if (c->dnext == c) {
		c->dnext = NULL;
		CU_FAIL_FATAL("dirty list loops after a re-registration");
	}
	CU_ASSERT_EQUAL(heartbeat_sweep(1061), 0);
	CU_ASSERT_PTR_EQUAL(clients_find("back"), c);
	CU_ASSERT_EQUAL(c->state, CLIENT_ONLINE);
	r = stored("back");
	CU_ASSERT_EQUAL(r.found, 1);
	CU_ASSERT_EQUAL(r.state, CLIENT_ONLINE);
	CU_ASSERT_EQUAL(r.expires_at, 1661);
}

/* The sweep timer reads the daemon's clock (clock_now): a client silent
 * for longer than heartbeat.timeout by that clock goes offline at the
 * next sweep. The clock is set a day ahead of the real time, when the
 * client registered: a sweep at the real time would leave it online. */
static void
test_sweep_uses_clock(void)
{
	struct client	*c;
	int64_t		 saved = test_now;
	time_t		 end;

	CU_ASSERT_FATAL(hb_ready);
	heartbeat_shutdown();			/* sweep every second */
	hb_conf.hb_sweep_interval = 1;
	CU_ASSERT_FATAL(heartbeat_init(&hb_conf, hb_root, NULL) == 0);
	test_now = (int64_t)time(NULL) + 86400;
	c = test_reg("clock", test_now);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	test_now += hb_conf.hb_timeout + 1;
	end = time(NULL) + 10;
	while (c->state == CLIENT_ONLINE && time(NULL) < end)
		su_root_step(hb_root, 100);
	CU_ASSERT_EQUAL(c->state, CLIENT_OFFLINE);
	heartbeat_shutdown();
	hb_conf.hb_sweep_interval = 3600;
	CU_ASSERT_FATAL(heartbeat_init(&hb_conf, hb_root, NULL) == 0);
	test_now = saved;
}

/* A message received from ip (v4 or v6), port, over UDP or TCP. */
static msg_t *
from(const char *ip, uint16_t port, int udp, uint32_t scope)
{
	msg_t			*msg = msg_create(sip_default_mclass(), 0);
	su_addrinfo_t		*ai;
	struct sockaddr_in	*sin;
	struct sockaddr_in6	*sin6;

	if (msg == NULL)
		return NULL;
	ai = msg_addrinfo(msg);
	ai->ai_protocol = udp ? IPPROTO_UDP : IPPROTO_TCP;
	memset(ai->ai_addr, 0, sizeof(struct sockaddr_in6));
	if (strchr(ip, ':') == NULL) {
		sin = (struct sockaddr_in *)ai->ai_addr;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		inet_pton(AF_INET, ip, &sin->sin_addr);
		ai->ai_family = AF_INET;
		ai->ai_addrlen = sizeof(*sin);
	} else {
		sin6 = (struct sockaddr_in6 *)ai->ai_addr;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		sin6->sin6_scope_id = scope;
		inet_pton(AF_INET6, ip, &sin6->sin6_addr);
		ai->ai_family = AF_INET6;
		ai->ai_addrlen = sizeof(*sin6);
	}
	return msg;
}

/* The heartbeat's source check (sip_source_is) agrees with sip_source,
 * which the registrar records. */
static void
test_source_is(void)
{
	static const struct {
		const char	*ip;
		uint32_t	 scope;
	} src[] = {
		{ "127.0.0.1", 0 }, { "10.1.2.3", 0 }, { "::1", 0 },
		{ "2001:db8::7", 0 }, { "::ffff:192.0.2.1", 0 },
		{ "fe80::1", 1 },
	};
	static const char *other[] = { "127.0.0.2", "::2", "fe80::1" };
	char		 addr[46];
	uint16_t	 port;
	enum transport	 tr;
	msg_t		*msg;
	size_t		 i, j;
	int		 udp;

	for (i = 0; i < sizeof(src) / sizeof(src[0]); i++)
		for (udp = 0; udp < 2; udp++) {
			msg = from(src[i].ip, 5060, udp, src[i].scope);
			CU_ASSERT_PTR_NOT_NULL_FATAL(msg);
			CU_ASSERT_EQUAL_FATAL(sip_source(msg, addr,
			    sizeof(addr), &port, &tr), 0);
			CU_ASSERT_TRUE(sip_source_is(msg, addr, port, tr));
			CU_ASSERT_FALSE(sip_source_is(msg, addr, 5061, tr));
			CU_ASSERT_FALSE(sip_source_is(msg, addr, port,
			    udp ? TRANSPORT_TCP : TRANSPORT_UDP));
			for (j = 0; j < sizeof(other) / sizeof(other[0]); j++)
				CU_ASSERT_FALSE(sip_source_is(msg, other[j],
				    port, tr));
			msg_destroy(msg);
		}
}

/*
 * A sweep in slices: each step checks at most its budget of clients
 * (whole hash buckets: a few more), the next goes on where it stopped,
 * and the pass marks every silent client offline, once, and ends with
 * every one of them written.
 */
static void
test_sweep_sliced(void)
{
	enum { SN = 30000, BUDGET = 1000 };
	struct clients_stats	 st;
	char			 id[32];
	size_t			 seen, total = 0, most = 0;
	int			 i, steps = 0, done = 0;

	CU_ASSERT_FATAL(hb_ready);
	for (i = 0; i < SN; i++) {
		snprintf(id, sizeof(id), "sl%05d", i);
		CU_ASSERT_FATAL(add(id, 1000, 3600) != NULL);
	}
	CU_ASSERT_EQUAL(heartbeat_sweep(1000), 0);	/* commits them */
	while (!done && steps < 10 * SN / BUDGET) {
		done = heartbeat_sweep_step(1100, BUDGET, 0, &seen);
		steps++;
		total += seen;
		if (seen > most)
			most = seen;
		if (!done) {		/* between two: still under way */
			clients_stats(&st);
			CU_ASSERT(st.by_state[CLIENT_OFFLINE] < SN);
		}
	}
	CU_ASSERT(done);
	CU_ASSERT(most >= BUDGET && most < BUDGET + 32);
	CU_ASSERT(steps >= SN / (BUDGET + 32));
	CU_ASSERT_EQUAL(total, SN);	/* the table did not grow: once each */
	clients_stats(&st);
	CU_ASSERT_EQUAL(st.by_state[CLIENT_OFFLINE], SN);
	commit_flush();
	CU_ASSERT_EQUAL(stored("sl00000").state, CLIENT_OFFLINE);
	CU_ASSERT_EQUAL(stored("sl29999").state, CLIENT_OFFLINE);
	CU_ASSERT_EQUAL(heartbeat_sweep(1200), 0);	/* nothing new */
}

int
test_heartbeat_register(void)
{
	CU_pSuite	 s;

	if ((s = CU_add_suite_with_setup_and_teardown("heartbeat",
	    heartbeat_suite_init, heartbeat_suite_clean, heartbeat_setup,
	    heartbeat_teardown)) == NULL)
		return -1;
	if (CU_add_test(s, "silent past timeout: offline", test_offline) ==
	    NULL ||
	    CU_add_test(s, "timeout 0: never offline", test_timeout_off) ==
	    NULL ||
	    CU_add_test(s, "past expires_at: expired", test_expired) ==
	    NULL ||
	    CU_add_test(s, "past retain: deleted from memory and store",
	    test_retain_delete) == NULL ||
	    CU_add_test(s, "retain 0", test_retain_zero) == NULL ||
	    CU_add_test(s, "registering again cancels a delete",
	    test_reregister_before_delete) == NULL ||
	    CU_add_test(s, "a sweep goes in slices of a budget",
	    test_sweep_sliced) == NULL ||
	    CU_add_test(s, "the sweep timer reads the clock",
	    test_sweep_uses_clock) == NULL ||
	    CU_add_test(s, "source check agrees with sip_source",
	    test_source_is) == NULL)
		return -1;
	return 0;
}
