/*
 * test_client.c: libsippush's policies (lib/dedup.c, lib/failover.c),
 * pure functions tested alone, and the settings checks of
 * sippush_create with a client that is created and destroyed but never
 * run (it binds a UDP port on 127.0.0.1 and sends nothing).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "sippush_int.h"
#include "wire.h"
#include "tests.h"

/* ---- the seen set: a bounded LRU ---- */

static int
collect(const char *id, void *arg)
{
	char	*buf = arg;

	strcat(buf, id);
	strcat(buf, " ");
	return 0;
}

static int
stop_at_b(const char *id, void *arg)
{
	(*(int *)arg)++;
	return strcmp(id, "b") == 0 ? 42 : 0;
}

static void
test_dedup_basic(void)
{
	struct sippush_dedup	*d;

	CU_ASSERT_EQUAL_FATAL(sippush_dedup_create(&d, 3), 0);
	CU_ASSERT_EQUAL(sippush_dedup_count(d), 0);
	CU_ASSERT_FALSE(sippush_dedup_contains(d, "a"));
	CU_ASSERT_FALSE(sippush_dedup_check(d, "a"));
	CU_ASSERT_EQUAL(sippush_dedup_add(d, "a"), 0);
	CU_ASSERT_TRUE(sippush_dedup_contains(d, "a"));
	CU_ASSERT_TRUE(sippush_dedup_check(d, "a"));
	CU_ASSERT_EQUAL(sippush_dedup_add(d, "a"), 0);	/* no second copy */
	CU_ASSERT_EQUAL(sippush_dedup_count(d), 1);
	CU_ASSERT_EQUAL(sippush_dedup_capacity(d), 3);
	sippush_dedup_destroy(d);
}

/* A full set forgets the least recently seen ID first. */
static void
test_dedup_evicts_oldest(void)
{
	struct sippush_dedup	*d;
	char			 order[64] = "";

	CU_ASSERT_EQUAL_FATAL(sippush_dedup_create(&d, 3), 0);
	sippush_dedup_add(d, "a");
	sippush_dedup_add(d, "b");
	sippush_dedup_add(d, "c");
	sippush_dedup_add(d, "d");
	CU_ASSERT_EQUAL(sippush_dedup_count(d), 3);
	CU_ASSERT_FALSE(sippush_dedup_contains(d, "a"));
	CU_ASSERT_TRUE(sippush_dedup_contains(d, "b"));
	CU_ASSERT_TRUE(sippush_dedup_contains(d, "d"));
	sippush_dedup_foreach(d, collect, order);
	CU_ASSERT_STRING_EQUAL(order, "b c d ");
	sippush_dedup_destroy(d);
}

/* Seeing an ID again (check, or add) makes it the most recent. */
static void
test_dedup_lru_refresh(void)
{
	struct sippush_dedup	*d;
	char			 order[64] = "";

	CU_ASSERT_EQUAL_FATAL(sippush_dedup_create(&d, 3), 0);
	sippush_dedup_add(d, "a");
	sippush_dedup_add(d, "b");
	sippush_dedup_add(d, "c");
	CU_ASSERT_TRUE(sippush_dedup_check(d, "a"));	/* a: newest */
	sippush_dedup_add(d, "d");			/* b goes */
	CU_ASSERT_TRUE(sippush_dedup_contains(d, "a"));
	CU_ASSERT_FALSE(sippush_dedup_contains(d, "b"));
	sippush_dedup_add(d, "c");			/* c: newest */
	sippush_dedup_add(d, "e");			/* a goes */
	CU_ASSERT_FALSE(sippush_dedup_contains(d, "a"));
	sippush_dedup_foreach(d, collect, order);
	CU_ASSERT_STRING_EQUAL(order, "d c e ");
	sippush_dedup_destroy(d);
}

/* contains is a question only: it does not make an ID recent. */
static void
test_dedup_contains_is_passive(void)
{
	struct sippush_dedup	*d;

	CU_ASSERT_EQUAL_FATAL(sippush_dedup_create(&d, 2), 0);
	sippush_dedup_add(d, "a");
	sippush_dedup_add(d, "b");
	CU_ASSERT_TRUE(sippush_dedup_contains(d, "a"));
	sippush_dedup_add(d, "c");
	CU_ASSERT_FALSE(sippush_dedup_contains(d, "a"));
	sippush_dedup_destroy(d);
}

static void
test_dedup_foreach_stops(void)
{
	struct sippush_dedup	*d;
	int			 calls = 0;

	CU_ASSERT_EQUAL_FATAL(sippush_dedup_create(&d, 4), 0);
	sippush_dedup_add(d, "a");
	sippush_dedup_add(d, "b");
	sippush_dedup_add(d, "c");
	CU_ASSERT_EQUAL(sippush_dedup_foreach(d, stop_at_b, &calls), 42);
	CU_ASSERT_EQUAL(calls, 2);
	sippush_dedup_destroy(d);
}

static void
test_dedup_bad_ids(void)
{
	struct sippush_dedup	*d;
	char			 id[SIPPUSH_ID_MAX + 2];

	CU_ASSERT_EQUAL(sippush_dedup_create(&d, 0), EINVAL);
	CU_ASSERT_PTR_NULL(d);
	CU_ASSERT_EQUAL_FATAL(sippush_dedup_create(&d, 2), 0);
	CU_ASSERT_EQUAL(sippush_dedup_add(d, ""), EINVAL);
	CU_ASSERT_EQUAL(sippush_dedup_add(d, NULL), EINVAL);
	CU_ASSERT_EQUAL(sippush_dedup_add(d, "a b"), EINVAL);
	CU_ASSERT_EQUAL(sippush_dedup_add(d, "a\n"), EINVAL);
	CU_ASSERT_EQUAL(sippush_dedup_add(d, "caf\xc3\xa9"), EINVAL);
	memset(id, 'x', SIPPUSH_ID_MAX);
	id[SIPPUSH_ID_MAX] = '\0';
	CU_ASSERT_EQUAL(sippush_dedup_add(d, id), 0);
	id[SIPPUSH_ID_MAX] = 'x';
	id[SIPPUSH_ID_MAX + 1] = '\0';
	CU_ASSERT_EQUAL(sippush_dedup_add(d, id), EINVAL);
	CU_ASSERT_FALSE(sippush_dedup_contains(d, id));
	CU_ASSERT_EQUAL(sippush_dedup_count(d), 1);
	sippush_dedup_destroy(d);
}

/* Many more IDs than room: memory stays bounded, the newest are kept,
 * every older one is gone (the hash chains stay consistent). */
static void
test_dedup_bounded(void)
{
	struct sippush_dedup	*d;
	char			 id[32];
	int			 i, kept = 0, wrong = 0;

	CU_ASSERT_EQUAL_FATAL(sippush_dedup_create(&d, 100), 0);
	for (i = 0; i < 10000; i++) {
		snprintf(id, sizeof(id), "%016x", (unsigned)i * 2654435761u);
		sippush_dedup_add(d, id);
	}
	CU_ASSERT_EQUAL(sippush_dedup_count(d), 100);
	for (i = 0; i < 10000; i++) {
		snprintf(id, sizeof(id), "%016x", (unsigned)i * 2654435761u);
		if (sippush_dedup_contains(d, id)) {
			kept++;
			wrong += i < 9900;
		}
	}
	CU_ASSERT_EQUAL(kept, 100);
	CU_ASSERT_EQUAL(wrong, 0);
	sippush_dedup_destroy(d);
}

/* ---- 3xx Contacts and 503 Retry-After ---- */

static void
test_qvalue(void)
{
	CU_ASSERT_EQUAL(sippush_qvalue(NULL), 1000);
	CU_ASSERT_EQUAL(sippush_qvalue("1"), 1000);
	CU_ASSERT_EQUAL(sippush_qvalue("1.000"), 1000);
	CU_ASSERT_EQUAL(sippush_qvalue("0"), 0);
	CU_ASSERT_EQUAL(sippush_qvalue("0.5"), 500);
	CU_ASSERT_EQUAL(sippush_qvalue("0.25"), 250);
	CU_ASSERT_EQUAL(sippush_qvalue("0.125"), 125);
	CU_ASSERT_EQUAL(sippush_qvalue("0."), 0);
	CU_ASSERT_EQUAL(sippush_qvalue("1.5"), -1);
	CU_ASSERT_EQUAL(sippush_qvalue("0.1234"), -1);
	CU_ASSERT_EQUAL(sippush_qvalue("2"), -1);
	CU_ASSERT_EQUAL(sippush_qvalue(""), -1);
	CU_ASSERT_EQUAL(sippush_qvalue("0.x"), -1);
	CU_ASSERT_EQUAL(sippush_qvalue(".5"), -1);
}

/* Highest q first, the given order among equals, bad q left out. */
static void
test_redirect_order(void)
{
	int	 q[] = { 500, 1000, -1, 500, 1000, 0 };
	size_t	 o[6], n;

	n = sippush_redirect_order(q, 6, o);
	CU_ASSERT_EQUAL(n, 5);
	CU_ASSERT_EQUAL(o[0], 1);
	CU_ASSERT_EQUAL(o[1], 4);
	CU_ASSERT_EQUAL(o[2], 0);
	CU_ASSERT_EQUAL(o[3], 3);
	CU_ASSERT_EQUAL(o[4], 5);
	CU_ASSERT_EQUAL(sippush_redirect_order(q, 0, o), 0);
}

static void
test_hold(void)
{
	CU_ASSERT_EQUAL(sippush_hold_ms(0), 0);
	CU_ASSERT_EQUAL(sippush_hold_ms(30), 30000);
	CU_ASSERT_EQUAL(sippush_hold_ms(3600), 3600000);
	CU_ASSERT_EQUAL(sippush_hold_ms(86400), 3600000);
	CU_ASSERT_EQUAL(sippush_hold_ms(0xffffffffUL), 3600000);
}

/* A fixed random source: the values of arg in turn. */
struct fixed_rnd {
	const uint32_t	*v;
	size_t		 i;
};

static uint32_t
fixed_rnd(void *arg)
{
	struct fixed_rnd	*f = arg;

	return f->v[f->i++];
}

/* RFC 2782: priority first; within one, weighted by the random draw. */
static void
test_srv_order(void)
{
	struct sippush_srv	 rr[] = {
		{ 2, 10 }, { 1, 0 }, { 1, 60 }, { 1, 40 }, { 3, 5 },
	};
	uint32_t		 lowest[] = { 0, 0, 0, 0, 0 };
	/* priority 1 holds weights 0, 60, 40 (zero first): sum 100;
	 * draw 61 -> running sums 0, 60, 100: the 40 one (index 3); then
	 * 0, 60 left, sum 60, draw 1 -> the 60 one (index 2); then 1 */
	uint32_t		 mid[] = { 61, 1, 0, 0, 0 };
	struct fixed_rnd	 f = { lowest, 0 };
	size_t			 o[5];
	size_t			 counts[4] = { 0 }, i;
	uint32_t		 v[4];	/* one draw per record */

	CU_ASSERT_EQUAL(sippush_srv_order(rr, 5, fixed_rnd, &f, o), 5);
	/* draws of 0 take the zero weight first, then in order */
	CU_ASSERT_EQUAL(o[0], 1);
	CU_ASSERT_EQUAL(o[1], 2);
	CU_ASSERT_EQUAL(o[2], 3);
	CU_ASSERT_EQUAL(o[3], 0);
	CU_ASSERT_EQUAL(o[4], 4);
	f.v = mid;
	f.i = 0;
	sippush_srv_order(rr, 5, fixed_rnd, &f, o);
	CU_ASSERT_EQUAL(o[0], 3);
	CU_ASSERT_EQUAL(o[1], 2);
	CU_ASSERT_EQUAL(o[2], 1);
	CU_ASSERT_EQUAL(o[3], 0);
	CU_ASSERT_EQUAL(o[4], 4);
	/* over every draw of 0..100, the first of priority 1 is the 60
	 * one 60 times, the 40 one 40 times, the 0 one once (draw 0) */
	for (i = 0; i <= 100; i++) {
		v[0] = (uint32_t)i;
		v[1] = v[2] = v[3] = 0;
		f.v = v;
		f.i = 0;
		sippush_srv_order(rr, 4, fixed_rnd, &f, o);
		counts[o[0]]++;
	}
	CU_ASSERT_EQUAL(counts[1], 1);
	CU_ASSERT_EQUAL(counts[2], 60);
	CU_ASSERT_EQUAL(counts[3], 40);
	CU_ASSERT_EQUAL(counts[0], 0);
}

/* ---- backoff and failover order ---- */

static void
test_backoff(void)
{
	int64_t		 d;
	unsigned	 r;

	CU_ASSERT_EQUAL(sippush_backoff(0, 1000, 60000, 0), 0);
	/* no jitter in the middle of the range */
	CU_ASSERT_EQUAL(sippush_backoff(1, 1000, 60000, 200), 1000);
	CU_ASSERT_EQUAL(sippush_backoff(2, 1000, 60000, 400), 2000);
	CU_ASSERT_EQUAL(sippush_backoff(3, 1000, 60000, 800), 4000);
	/* +-20% at the ends */
	CU_ASSERT_EQUAL(sippush_backoff(1, 1000, 60000, 0), 800);
	CU_ASSERT_EQUAL(sippush_backoff(1, 1000, 60000, 400), 1200);
	for (r = 0; r < 5000; r += 7) {
		d = sippush_backoff(4, 1000, 60000, r * 2654435761u);
		CU_ASSERT(d >= 6400 && d <= 9600);
	}
	/* capped, also with jitter, and no overflow far out */
	CU_ASSERT_EQUAL(sippush_backoff(7, 1000, 60000, 0), 48000);
	CU_ASSERT_EQUAL(sippush_backoff(7, 1000, 60000, 24000), 60000);
	CU_ASSERT_EQUAL(sippush_backoff(1000, 1000, 60000, 0xffffffffu) <=
	    60000, 1);
	CU_ASSERT(sippush_backoff(1000, 1000, 60000, 0) >= 48000);
	CU_ASSERT_EQUAL(sippush_backoff(2, 5000, 5000, 0), 4000);
}

/* From the first server: the others in order, at once; after a whole
 * round, a wait, then the first again; waits grow per round. */
static void
test_failover_order(void)
{
	struct sippush_failover	 f;

	sippush_failover_init(&f, 3);
	CU_ASSERT_EQUAL(f.current, 0);
	CU_ASSERT_EQUAL(sippush_failover_next(&f, 1000, 60000, 200), 0);
	CU_ASSERT_EQUAL(f.current, 1);
	CU_ASSERT_EQUAL(sippush_failover_next(&f, 1000, 60000, 200), 0);
	CU_ASSERT_EQUAL(f.current, 2);
	CU_ASSERT_EQUAL(sippush_failover_next(&f, 1000, 60000, 200), 1000);
	CU_ASSERT_EQUAL(f.current, 0);
	CU_ASSERT_EQUAL(sippush_failover_next(&f, 1000, 60000, 200), 0);
	CU_ASSERT_EQUAL(f.current, 1);
	CU_ASSERT_EQUAL(sippush_failover_next(&f, 1000, 60000, 200), 0);
	CU_ASSERT_EQUAL(f.current, 2);
	CU_ASSERT_EQUAL(sippush_failover_next(&f, 1000, 60000, 400), 2000);
	CU_ASSERT_EQUAL(f.current, 0);
	CU_ASSERT_EQUAL(f.rounds, 2);
}

/* Registered with the second server, it fails: the third, then the
 * first (wrapping), and only then, a whole round failed, a wait. */
static void
test_failover_from_middle(void)
{
	struct sippush_failover	 f;

	sippush_failover_init(&f, 3);
	sippush_failover_next(&f, 1000, 60000, 200);	/* 0 failed */
	sippush_failover_success(&f);			/* 1 took us */
	CU_ASSERT_EQUAL(f.current, 1);
	CU_ASSERT_EQUAL(sippush_failover_next(&f, 1000, 60000, 200), 0);
	CU_ASSERT_EQUAL(f.current, 2);
	CU_ASSERT_EQUAL(sippush_failover_next(&f, 1000, 60000, 200), 0);
	CU_ASSERT_EQUAL(f.current, 0);
	CU_ASSERT_EQUAL(sippush_failover_next(&f, 1000, 60000, 200), 1000);
	CU_ASSERT_EQUAL(f.current, 0);
}

/* Success ends the backoff: the next full round waits the first wait. */
static void
test_failover_success_resets(void)
{
	struct sippush_failover	 f;
	int			 i;

	sippush_failover_init(&f, 2);
	for (i = 0; i < 8; i++)
		sippush_failover_next(&f, 1000, 60000, 200);
	CU_ASSERT_EQUAL(f.rounds, 4);
	sippush_failover_success(&f);
	CU_ASSERT_EQUAL(f.rounds, 0);
	CU_ASSERT_EQUAL(sippush_failover_next(&f, 1000, 60000, 200), 0);
	CU_ASSERT_EQUAL(sippush_failover_next(&f, 1000, 60000, 200), 1000);
}

/* One server: every failure is a whole round, waits double to the cap. */
static void
test_failover_single(void)
{
	struct sippush_failover	 f;
	int64_t			 want[] = { 1000, 2000, 4000, 5000, 5000 };
	size_t			 i;

	sippush_failover_init(&f, 1);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		/* random at mid-range: no jitter */
		CU_ASSERT_EQUAL(sippush_failover_next(&f, 1000, 5000,
		    (uint32_t)(want[i] / 5)), want[i]);
		CU_ASSERT_EQUAL(f.current, 0);
	}
}

/* Failback: the client goes back to an earlier server; a failure there
 * moves on from it, a whole round later. */
static void
test_failover_switch(void)
{
	struct sippush_failover	 f;

	sippush_failover_init(&f, 3);
	sippush_failover_next(&f, 1000, 60000, 200);
	sippush_failover_next(&f, 1000, 60000, 200);
	sippush_failover_success(&f);
	CU_ASSERT_EQUAL(f.current, 2);
	sippush_failover_switch(&f, 0);
	CU_ASSERT_EQUAL(f.current, 0);
	CU_ASSERT_EQUAL(f.tried, 0);
	sippush_failover_switch(&f, 7);			/* out of the list */
	CU_ASSERT_EQUAL(f.current, 0);
	CU_ASSERT_EQUAL(sippush_failover_next(&f, 1000, 60000, 200), 0);
	CU_ASSERT_EQUAL(f.current, 1);
}

/* ---- servers and names ---- */

static void
test_parse_server(void)
{
	struct sippush_hostport	 hp;

	CU_ASSERT_EQUAL(sippush_parse_server("push.example.net", &hp), 0);
	CU_ASSERT_STRING_EQUAL(hp.host, "push.example.net");
	CU_ASSERT_EQUAL(hp.port, 5060);
	CU_ASSERT_EQUAL(hp.ipv6, 0);
	CU_ASSERT_EQUAL(sippush_parse_server("127.0.0.1:5070", &hp), 0);
	CU_ASSERT_STRING_EQUAL(hp.host, "127.0.0.1");
	CU_ASSERT_EQUAL(hp.port, 5070);
	CU_ASSERT_EQUAL(sippush_parse_server("[::1]:5080", &hp), 0);
	CU_ASSERT_STRING_EQUAL(hp.host, "::1");
	CU_ASSERT_EQUAL(hp.port, 5080);
	CU_ASSERT_EQUAL(hp.ipv6, 1);
	CU_ASSERT_EQUAL(sippush_parse_server("[2001:db8::7]", &hp), 0);
	CU_ASSERT_EQUAL(hp.port, 5060);
	CU_ASSERT_EQUAL(sippush_parse_server("2001:db8::7", &hp), 0);
	CU_ASSERT_EQUAL(hp.ipv6, 1);
	CU_ASSERT_EQUAL(hp.port, 5060);
	CU_ASSERT_EQUAL(sippush_parse_server("", &hp), -1);
	CU_ASSERT_EQUAL(sippush_parse_server(NULL, &hp), -1);
	CU_ASSERT_EQUAL(sippush_parse_server("host:", &hp), -1);
	CU_ASSERT_EQUAL(sippush_parse_server("host:0", &hp), -1);
	CU_ASSERT_EQUAL(sippush_parse_server("host:65536", &hp), -1);
	CU_ASSERT_EQUAL(sippush_parse_server("host:12a", &hp), -1);
	CU_ASSERT_EQUAL(sippush_parse_server(":5060", &hp), -1);
	CU_ASSERT_EQUAL(sippush_parse_server("[::1", &hp), -1);
	CU_ASSERT_EQUAL(sippush_parse_server("[::1]x", &hp), -1);
	CU_ASSERT_EQUAL(sippush_parse_server("[]:5060", &hp), -1);
	CU_ASSERT_EQUAL(sippush_parse_server("bad host", &hp), -1);
	CU_ASSERT_EQUAL(sippush_parse_server("sip:host", &hp), -1);
}

static void
test_valid_token(void)
{
	CU_ASSERT_TRUE(wire_valid_name("kiosk-17.a_b", 64));
	CU_ASSERT_FALSE(wire_valid_name("", 64));
	CU_ASSERT_FALSE(wire_valid_name(NULL, 64));
	CU_ASSERT_FALSE(wire_valid_name("a b", 64));
	CU_ASSERT_FALSE(wire_valid_name("a@b", 64));
	CU_ASSERT_TRUE(wire_valid_name("abc", 3));
	CU_ASSERT_FALSE(wire_valid_name("abcd", 3));
}

/* ---- sippush_create ---- */

static const char *const test_servers[] = { "127.0.0.1:9", "[::1]:9" };

static void
test_settings(struct sippush_settings *s)
{
	sippush_settings_init(s);
	s->servers = test_servers;
	s->nservers = 2;
	s->client_id = "unit-1";
	s->client_class = "kiosk";
	s->bind_address = "127.0.0.1";
	s->on_message = test_on_message;
}

/* Each bad setting is refused with EINVAL and a reason naming it. */
static void
test_create_refuses(void)
{
	static const char *const bad_server[] = { "127.0.0.1:99999" };
	struct sippush_settings	 s;
	struct sippush		*c = (struct sippush *)&s;
	char			 err[256];

	test_settings(&s);
	s.nservers = 0;
	CU_ASSERT_EQUAL(sippush_create(&c, &s, err, sizeof(err)), EINVAL);
	CU_ASSERT_PTR_NULL(c);
	CU_ASSERT_TRUE(test_contains(err, "no server"));
	test_settings(&s);
	s.servers = bad_server;
	s.nservers = 1;
	CU_ASSERT_EQUAL(sippush_create(&c, &s, err, sizeof(err)), EINVAL);
	CU_ASSERT_TRUE(test_contains(err, "127.0.0.1:99999"));
	test_settings(&s);
	s.client_id = "bad id";
	CU_ASSERT_EQUAL(sippush_create(&c, &s, err, sizeof(err)), EINVAL);
	CU_ASSERT_TRUE(test_contains(err, "client ID"));
	test_settings(&s);
	s.client_class = "";
	CU_ASSERT_EQUAL(sippush_create(&c, &s, err, sizeof(err)), EINVAL);
	CU_ASSERT_TRUE(test_contains(err, "class"));
	test_settings(&s);
	s.answer_timeout = 10;
	CU_ASSERT_EQUAL(sippush_create(&c, &s, err, sizeof(err)), EINVAL);
	CU_ASSERT_TRUE(test_contains(err, "answer_timeout: 10"));
	test_settings(&s);
	s.retry_initial = 5000;
	s.retry_max = 1000;
	CU_ASSERT_EQUAL(sippush_create(&c, &s, err, sizeof(err)), EINVAL);
	CU_ASSERT_TRUE(test_contains(err, "retry_initial"));
	test_settings(&s);
	s.on_message = NULL;
	CU_ASSERT_EQUAL(sippush_create(&c, &s, err, sizeof(err)), EINVAL);
	CU_ASSERT_TRUE(test_contains(err, "callback"));
}

static int
count_ids(const char *id, void *arg)
{
	(void)id;
	(*(int *)arg)++;
	return 0;
}

/* A client that never runs: created, seen IDs loaded and listed, in
 * state registering with nobody yet, destroyed. */
static void
test_create_destroy(void)
{
	struct sippush_settings	 s;
	struct sippush		*c;
	char			 err[256];
	int			 n = 0;

	test_settings(&s);
	s.seen_max = 2;
	CU_ASSERT_EQUAL_FATAL(sippush_create(&c, &s, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(sippush_seen_add(c, "one"), 0);
	CU_ASSERT_EQUAL(sippush_seen_add(c, "two"), 0);
	CU_ASSERT_EQUAL(sippush_seen_add(c, "three"), 0);
	CU_ASSERT_EQUAL(sippush_seen_add(c, ""), EINVAL);
	CU_ASSERT_FALSE(sippush_seen_has(c, "one"));
	CU_ASSERT_TRUE(sippush_seen_has(c, "three"));
	sippush_seen_foreach(c, count_ids, &n);
	CU_ASSERT_EQUAL(n, 2);
	CU_ASSERT_EQUAL(sippush_state(c), SIPPUSH_STATE_REGISTERING);
	CU_ASSERT_PTR_NULL(sippush_server(c));
	CU_ASSERT_EQUAL(sippush_answer(c, NULL, 100), EINVAL);
	sippush_destroy(c);
	CU_ASSERT_STRING_EQUAL(sippush_state_name(SIPPUSH_STATE_WAITING),
	    "waiting");
}

int
test_client_register(void)
{
	CU_pSuite	 s;

	if ((s = CU_add_suite("client", NULL, NULL)) == NULL)
		return -1;
	if (CU_add_test(s, "seen set: add, check, count", test_dedup_basic) ==
	    NULL ||
	    CU_add_test(s, "seen set: full, oldest out",
	    test_dedup_evicts_oldest) == NULL ||
	    CU_add_test(s, "seen set: seen again is recent",
	    test_dedup_lru_refresh) == NULL ||
	    CU_add_test(s, "seen set: contains changes nothing",
	    test_dedup_contains_is_passive) == NULL ||
	    CU_add_test(s, "seen set: foreach oldest first, stops",
	    test_dedup_foreach_stops) == NULL ||
	    CU_add_test(s, "seen set: bad IDs", test_dedup_bad_ids) == NULL ||
	    CU_add_test(s, "seen set: bounded", test_dedup_bounded) == NULL ||
	    CU_add_test(s, "backoff: doubling, jitter, cap", test_backoff) ==
	    NULL ||
	    CU_add_test(s, "failover: order and rounds",
	    test_failover_order) == NULL ||
	    CU_add_test(s, "failover: from the middle of the list",
	    test_failover_from_middle) == NULL ||
	    CU_add_test(s, "failover: success resets the backoff",
	    test_failover_success_resets) == NULL ||
	    CU_add_test(s, "failover: one server", test_failover_single) ==
	    NULL ||
	    CU_add_test(s, "failover: failback switch",
	    test_failover_switch) == NULL ||
	    CU_add_test(s, "SRV: priority, then weight", test_srv_order) ==
	    NULL ||
	    CU_add_test(s, "3xx: q-values", test_qvalue) == NULL ||
	    CU_add_test(s, "3xx: Contacts in q order", test_redirect_order) ==
	    NULL ||
	    CU_add_test(s, "503: Retry-After kept, bounded", test_hold) ==
	    NULL ||
	    CU_add_test(s, "servers: host, port, IPv6", test_parse_server) ==
	    NULL ||
	    CU_add_test(s, "client IDs and classes", test_valid_token) ==
	    NULL ||
	    CU_add_test(s, "create: bad settings refused",
	    test_create_refuses) == NULL ||
	    CU_add_test(s, "create, seen IDs, destroy", test_create_destroy) ==
	    NULL)
		return -1;
	return 0;
}
