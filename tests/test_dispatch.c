/*
 * test_dispatch.c: the pure parts of dispatch.c (the retry schedule of
 * dispatch_backoff, the state names) and the persistence of messages and
 * their target sets in store.c (put, update, load with counts per state,
 * purge, reopen), on databases in a folder made for the suite.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>
#include <CUnit/CUnit.h>

#include "sippushd.h"
#include "tests.h"

static char	 dp_dir[TEST_DIR_MAX];

static int
dispatch_suite_init(void)
{
	return test_mkdtemp(dp_dir, sizeof(dp_dir));
}

static int
dispatch_suite_clean(void)
{
	store_close();
	test_rmtree(dp_dir);
	return 0;
}

/* ---- dispatch_backoff ---- */

static void
backoff_config(struct config *c, int initial, int mult, int max, int jitter)
{
	memset(c, 0, sizeof(*c));	/* dispatch_backoff reads only these */
	c->dp_retry_initial = initial;
	c->dp_retry_multiplier = mult;
	c->dp_retry_max = max;
	c->dp_retry_jitter = jitter;
}

static void
test_backoff_schedule(void)
{
	struct config	 c;

	/* no jitter: exact; attempts counts the attempts made so far */
	backoff_config(&c, 1000, 2, 60000, 0);
	CU_ASSERT_EQUAL(dispatch_backoff(&c, 0, 12345), 1000);
	CU_ASSERT_EQUAL(dispatch_backoff(&c, 1, 12345), 1000);
	CU_ASSERT_EQUAL(dispatch_backoff(&c, 2, 12345), 2000);
	CU_ASSERT_EQUAL(dispatch_backoff(&c, 3, 0), 4000);
	CU_ASSERT_EQUAL(dispatch_backoff(&c, 4, UINT32_MAX), 8000);
	CU_ASSERT_EQUAL(dispatch_backoff(&c, 6, 7), 32000);
	/* capped at retry_max, and stays there */
	CU_ASSERT_EQUAL(dispatch_backoff(&c, 7, 0), 60000);
	CU_ASSERT_EQUAL(dispatch_backoff(&c, 8, 0), 60000);
	CU_ASSERT_EQUAL(dispatch_backoff(&c, 100, 0), 60000);
	CU_ASSERT_EQUAL(dispatch_backoff(&c, UINT32_MAX, UINT32_MAX), 60000);

	/* another multiplier */
	backoff_config(&c, 200, 3, 1000, 0);
	CU_ASSERT_EQUAL(dispatch_backoff(&c, 1, 0), 200);
	CU_ASSERT_EQUAL(dispatch_backoff(&c, 2, 0), 600);
	CU_ASSERT_EQUAL(dispatch_backoff(&c, 3, 0), 1000);
	CU_ASSERT_EQUAL(dispatch_backoff(&c, 4, 0), 1000);

	/* multiplier 1: constant */
	backoff_config(&c, 500, 1, 86400000, 0);
	CU_ASSERT_EQUAL(dispatch_backoff(&c, 1, 0), 500);
	CU_ASSERT_EQUAL(dispatch_backoff(&c, 50, 0), 500);

	/* initial == max */
	backoff_config(&c, 700, 10, 700, 0);
	CU_ASSERT_EQUAL(dispatch_backoff(&c, 1, 0), 700);
	CU_ASSERT_EQUAL(dispatch_backoff(&c, 9, 0), 700);

	/* the largest settings config.c allows do not overflow */
	backoff_config(&c, 86400000, 10, 86400000, 100);
	CU_ASSERT(dispatch_backoff(&c, UINT32_MAX, UINT32_MAX) >= 1);
	CU_ASSERT(dispatch_backoff(&c, UINT32_MAX, UINT32_MAX) <=
	    2 * 86400000LL);
	backoff_config(&c, 100, 10, 86400000, 0);
	CU_ASSERT_EQUAL(dispatch_backoff(&c, 7, 0), 86400000);
	CU_ASSERT_EQUAL(dispatch_backoff(&c, UINT32_MAX, 0), 86400000);
}

/* The jittered delay for (attempts, random) is within d +- d*j/100. */
static void
check_jitter_bounds(const struct config *c, uint32_t attempts, int64_t d)
{
	int64_t		 spread = d * c->dp_retry_jitter / 100, v;
	uint32_t	 r[] = { 0, 1, 2, 12345, 0x7fffffff, 0x80000000u,
			    UINT32_MAX - 1, UINT32_MAX };
	size_t		 i;

	for (i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
		v = dispatch_backoff(c, attempts, r[i]);
		CU_ASSERT(v >= d - spread);
		CU_ASSERT(v <= d + spread);
		CU_ASSERT(v >= 1);
	}
}

static void
test_backoff_jitter(void)
{
	struct config	 c;
	int64_t		 v;
	uint32_t	 a;

	/* 20 % of 1000: 800..1200; random 0 is the low end, 2 * spread the
	 * high end, spread the middle */
	backoff_config(&c, 1000, 2, 60000, 20);
	CU_ASSERT_EQUAL(dispatch_backoff(&c, 1, 0), 800);
	CU_ASSERT_EQUAL(dispatch_backoff(&c, 1, 400), 1200);
	CU_ASSERT_EQUAL(dispatch_backoff(&c, 1, 200), 1000);
	CU_ASSERT_EQUAL(dispatch_backoff(&c, 1, 401), 800);	/* wraps */
	v = dispatch_backoff(&c, 1, UINT32_MAX);
	CU_ASSERT(v >= 800 && v <= 1200);
	CU_ASSERT_EQUAL(v, 800 + (int64_t)(UINT32_MAX % 401));
	for (a = 1; a <= 10; a++) {
		int64_t d = 1000LL << (a - 1);

		check_jitter_bounds(&c, a, d > 60000 ? 60000 : d);
	}
	/* the cap applies before the jitter */
	CU_ASSERT_EQUAL(dispatch_backoff(&c, 20, 0), 48000);
	CU_ASSERT_EQUAL(dispatch_backoff(&c, 20, 24000), 72000);

	/* the short settings of the e2e tests */
	backoff_config(&c, 200, 2, 1000, 20);
	CU_ASSERT_EQUAL(dispatch_backoff(&c, 1, 0), 160);
	CU_ASSERT_EQUAL(dispatch_backoff(&c, 1, 80), 240);
	CU_ASSERT_EQUAL(dispatch_backoff(&c, 3, 0), 640);
	CU_ASSERT_EQUAL(dispatch_backoff(&c, 4, 0), 800);
	CU_ASSERT_EQUAL(dispatch_backoff(&c, 9, 400), 1200);
	check_jitter_bounds(&c, 1, 200);
	check_jitter_bounds(&c, 2, 400);
	check_jitter_bounds(&c, 5, 1000);

	/* jitter 0: exact whatever the random number */
	backoff_config(&c, 1000, 2, 60000, 0);
	CU_ASSERT_EQUAL(dispatch_backoff(&c, 1, 0), 1000);
	CU_ASSERT_EQUAL(dispatch_backoff(&c, 1, UINT32_MAX), 1000);
	CU_ASSERT_EQUAL(dispatch_backoff(&c, 2, 0x55555555), 2000);

	/* a spread that rounds to 0 ms: exact too */
	backoff_config(&c, 50, 2, 1000, 1);
	CU_ASSERT_EQUAL(dispatch_backoff(&c, 1, UINT32_MAX), 50);
	backoff_config(&c, 100, 2, 1000, 1);
	CU_ASSERT_EQUAL(dispatch_backoff(&c, 1, 0), 99);
	CU_ASSERT_EQUAL(dispatch_backoff(&c, 1, 2), 101);

	/* 100 %: 0..2d, never below 1 ms */
	backoff_config(&c, 100, 2, 1000, 100);
	CU_ASSERT_EQUAL(dispatch_backoff(&c, 1, 0), 1);
	CU_ASSERT_EQUAL(dispatch_backoff(&c, 1, 200), 200);
	check_jitter_bounds(&c, 1, 100);
}

/* ---- state names ---- */

static void
test_state_names(void)
{
	static const char *const want[TARGET_NSTATES] = {
		"pending", "sent", "acked", "expired", "failed", "cancelled"
	};
	int	 i;

	for (i = 0; i < TARGET_NSTATES; i++) {
		CU_ASSERT_STRING_EQUAL(dispatch_target_state_name(i), want[i]);
		CU_ASSERT_EQUAL(dispatch_target_state_parse(want[i]), i);
		CU_ASSERT_EQUAL(dispatch_target_state_parse(
		    dispatch_target_state_name(i)), i);
	}
	CU_ASSERT_STRING_EQUAL(dispatch_target_state_name(-1), "?");
	CU_ASSERT_STRING_EQUAL(dispatch_target_state_name(TARGET_NSTATES),
	    "?");
	CU_ASSERT_STRING_EQUAL(dispatch_target_state_name(INT_MAX), "?");
	CU_ASSERT_EQUAL(dispatch_target_state_parse(""), -1);
	CU_ASSERT_EQUAL(dispatch_target_state_parse("?"), -1);
	CU_ASSERT_EQUAL(dispatch_target_state_parse("Acked"), -1);
	CU_ASSERT_EQUAL(dispatch_target_state_parse("acked "), -1);
	CU_ASSERT_EQUAL(dispatch_target_state_parse("ack"), -1);
	CU_ASSERT_EQUAL(dispatch_target_state_parse("done"), -1);

	CU_ASSERT_STRING_EQUAL(dispatch_message_state_name(MESSAGE_ACTIVE),
	    "active");
	CU_ASSERT_STRING_EQUAL(dispatch_message_state_name(MESSAGE_DONE),
	    "done");
	CU_ASSERT_STRING_EQUAL(dispatch_message_state_name(MESSAGE_CANCELLED),
	    "cancelled");
	CU_ASSERT_STRING_EQUAL(dispatch_message_state_name(-1), "?");
	CU_ASSERT_STRING_EQUAL(dispatch_message_state_name(MESSAGE_CANCELLED +
	    1), "?");
}

/* ---- messages and targets in the store ---- */

#define T0	1700000000LL		/* unix seconds */
#define ROWS_MAX	8

/* Deep copies of what the store_load_* callbacks saw. */
struct msgs {
	int			 n;
	int			 stop_after;	/* -1 after this many; 0 never */
	struct message_row	 r[ROWS_MAX];
};

struct tgts {
	int			 n;
	struct target_row	 r[ROWS_MAX];
};

static char *
xdup(const void *p, size_t n)
{
	char	*s = malloc(n + 1);

	if (s == NULL)
		abort();
	memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

static int
msgs_collect(const struct message_row *r, void *arg)
{
	struct msgs		*l = arg;
	struct message_row	*d;

	if (l->n == ROWS_MAX)
		return -1;
	d = &l->r[l->n++];
	*d = *r;
	d->id = xdup(r->id, strlen(r->id));
	d->state = xdup(r->state, strlen(r->state));
	d->selector = xdup(r->selector, strlen(r->selector));
	d->content_type = xdup(r->content_type, strlen(r->content_type));
	d->body = xdup(r->body, r->body_len);
	if (l->stop_after && l->n >= l->stop_after)
		return -1;
	return 0;
}

static void
msgs_free(struct msgs *l)
{
	int	 i;

	for (i = 0; i < l->n; i++) {
		free((char *)l->r[i].id);
		free((char *)l->r[i].state);
		free((char *)l->r[i].selector);
		free((char *)l->r[i].content_type);
		free((void *)l->r[i].body);
	}
	memset(l, 0, sizeof(*l));
}

static int
load_msgs(struct msgs *l, const char *id, int active_only, int limit)
{
	memset(l, 0, sizeof(*l));
	return store_load_messages(id, active_only, limit, msgs_collect, l);
}

static const struct message_row *
msgs_find(const struct msgs *l, const char *id)
{
	int	 i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->r[i].id, id) == 0)
			return &l->r[i];
	return NULL;
}

static int
tgts_collect(const struct target_row *r, void *arg)
{
	struct tgts	*l = arg;

	if (l->n == ROWS_MAX)
		return -1;
	l->r[l->n] = *r;
	l->r[l->n].client = xdup(r->client, strlen(r->client));
	l->n++;
	return 0;
}

static void
tgts_free(struct tgts *l)
{
	int	 i;

	for (i = 0; i < l->n; i++)
		free((char *)l->r[i].client);
	memset(l, 0, sizeof(*l));
}

static int
load_tgts(struct tgts *l, const char *id)
{
	memset(l, 0, sizeof(*l));
	return store_load_targets(id, tgts_collect, l);
}

/* A message as dispatch.c builds it, with n targets taken from spec. */
struct tspec {
	const char	*client;
	int		 state;
	uint32_t	 attempts;
	int		 last_status;
	int64_t		 last_attempt;	/* ms */
	int64_t		 next_attempt;	/* ms */
	int64_t		 acked_at;	/* s */
};

static void
message_fill(struct message *m, struct target *t, const char *id,
    const char *selector, const char *body, int64_t created, int ttl,
    const struct tspec *spec, size_t n)
{
	size_t	 i;

	memset(m, 0, sizeof(*m));
	snprintf(m->id, sizeof(m->id), "%s", id);
	m->selector = (char *)selector;
	m->content_type = (char *)"text/plain; charset=utf-8";
	m->body = (char *)body;
	m->body_len = strlen(body);
	m->created_at = created;
	m->expires_at = created + ttl;
	m->state = MESSAGE_ACTIVE;
	m->targets = t;
	m->ntargets = n;
	for (i = 0; i < n; i++) {
		memset(&t[i], 0, sizeof(t[i]));
		t[i].msg = m;
		t[i].client = spec[i].client;
		t[i].state = (uint8_t)spec[i].state;
		t[i].attempts = spec[i].attempts;
		t[i].last_status = (uint16_t)spec[i].last_status;
		t[i].last_attempt = spec[i].last_attempt;
		t[i].next_attempt = spec[i].next_attempt;
		t[i].acked_at = spec[i].acked_at;
		m->count[t[i].state]++;
	}
}

static int
put_all(const struct message *m)
{
	size_t	 i;

	if (store_begin() == -1)
		return -1;
	if (store_put_message(m) == -1)
		goto fail;
	for (i = 0; i < m->ntargets; i++)
		if (store_put_target(m, &m->targets[i]) == -1)
			goto fail;
	return store_commit();
fail:
	store_rollback();
	return -1;
}

static void
assert_counts(const struct message_row *r, size_t pending, size_t acked,
    size_t expired, size_t failed, size_t cancelled)
{
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_EQUAL(r->count[TARGET_PENDING], pending);
	CU_ASSERT_EQUAL(r->count[TARGET_SENT], 0);	/* never stored */
	CU_ASSERT_EQUAL(r->count[TARGET_ACKED], acked);
	CU_ASSERT_EQUAL(r->count[TARGET_EXPIRED], expired);
	CU_ASSERT_EQUAL(r->count[TARGET_FAILED], failed);
	CU_ASSERT_EQUAL(r->count[TARGET_CANCELLED], cancelled);
}

static void
assert_target(const struct target_row *got, const struct tspec *want,
    int state)
{
	CU_ASSERT_STRING_EQUAL(got->client, want->client);
	CU_ASSERT_EQUAL(got->state, state);
	CU_ASSERT_EQUAL(got->attempts, want->attempts);
	CU_ASSERT_EQUAL(got->last_status, want->last_status);
	CU_ASSERT_EQUAL(got->last_attempt, want->last_attempt);
	CU_ASSERT_EQUAL(got->next_attempt, want->next_attempt);
	CU_ASSERT_EQUAL(got->acked_at, want->acked_at);
}

/* One query on path with its own connection: the first column as an
 * integer, or -1. */
static long long
sql_int(const char *path, const char *sql)
{
	sqlite3		*db = NULL;
	sqlite3_stmt	*st = NULL;
	long long	 v = -1;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) ==
	    SQLITE_OK && sqlite3_prepare_v2(db, sql, -1, &st, NULL) ==
	    SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

/* message 1: active, one target in each state a live message can hold;
 * listed by client ID order of the store (the array is sorted). */
static const struct tspec m1_spec[] = {
	{ "alpha", TARGET_PENDING, 0, 0, 0, 0, 0 },
	{ "bravo", TARGET_SENT, 2, 500, (T0 + 3) * 1000 + 250,
	    (T0 + 3) * 1000 + 250, 0 },
	{ "charlie", TARGET_ACKED, 1, 200, (T0 + 1) * 1000 + 7,
	    (T0 + 1) * 1000 + 7, T0 + 1 },
	{ "delta", TARGET_PENDING, 3, 408, (T0 + 9) * 1000, (T0 + 11) * 1000,
	    0 },
	{ "echo", TARGET_EXPIRED, 5, 503, (T0 + 50) * 1000, 0, 0 },
};
/* message 2: finished and cancelled */
static const struct tspec m2_spec[] = {
	{ "alpha", TARGET_CANCELLED, 1, 0, (T0 + 101) * 1000, 0, 0 },
	{ "zulu", TARGET_FAILED, 10, 486, (T0 + 140) * 1000, 0, 0 },
	{ "yankee", TARGET_ACKED, 2, 202, (T0 + 102) * 1000, 0, T0 + 102 },
};
#define NM1	(sizeof(m1_spec) / sizeof(m1_spec[0]))
#define NM2	(sizeof(m2_spec) / sizeof(m2_spec[0]))

static void
check_m1_targets(const char *id, int updated)
{
	struct tgts	 tl;
	size_t		 i;

	CU_ASSERT_EQUAL_FATAL(load_tgts(&tl, id), (int)NM1);
	for (i = 0; i < NM1; i++) {
		int state = m1_spec[i].state == TARGET_SENT ? TARGET_PENDING :
		    m1_spec[i].state;

		if (updated && i == 0) {
			/* alpha acked since */
			CU_ASSERT_STRING_EQUAL(tl.r[0].client, "alpha");
			CU_ASSERT_EQUAL(tl.r[0].state, TARGET_ACKED);
			CU_ASSERT_EQUAL(tl.r[0].attempts, 1);
			CU_ASSERT_EQUAL(tl.r[0].last_status, 200);
			CU_ASSERT_EQUAL(tl.r[0].acked_at, T0 + 20);
			continue;
		}
		assert_target(&tl.r[i], &m1_spec[i], state);
	}
	tgts_free(&tl);
}

static void
test_store_messages(void)
{
	char		 path[PATH_MAX], err[512], sql[256];
	struct message	 m1, m2, m3;
	struct target	 t1[NM1], t2[NM2], t3[1];
	struct msgs	 ml;
	struct tgts	 tl;
	const struct message_row *r;
	static const struct tspec m3_spec[] = {
		{ "alpha", TARGET_PENDING, 0, 0, 0, 0, 0 },
	};
	static const char body1[] = "reload config=v42\nline two: \"quoted\"";

	snprintf(path, sizeof(path), "%s/messages.db", dp_dir);
	if (store_open(path, 0, err, sizeof(err)) == -1) {
		fprintf(stderr, "\nstore: %s\n", err);
		CU_FAIL_FATAL("store_open failed");
	}

	message_fill(&m1, t1, "00112233445566aa", "class=kiosk", body1, T0,
	    600, m1_spec, NM1);
	message_fill(&m2, t2, "00112233445566bb", "client=alpha client=zulu "
	    "client=yankee", "shut down feature x", T0 + 100, 60, m2_spec,
	    NM2);
	m2.state = MESSAGE_CANCELLED;
	m2.finished_at = T0 + 150;
	CU_ASSERT_EQUAL_FATAL(put_all(&m1), 0);
	CU_ASSERT_EQUAL_FATAL(put_all(&m2), 0);

	/* all of them, newest first, with the counts per state */
	CU_ASSERT_EQUAL_FATAL(load_msgs(&ml, NULL, 0, -1), 2);
	CU_ASSERT_STRING_EQUAL(ml.r[0].id, m2.id);
	CU_ASSERT_STRING_EQUAL(ml.r[1].id, m1.id);
	r = msgs_find(&ml, m1.id);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_STRING_EQUAL(r->state, "active");
	CU_ASSERT_STRING_EQUAL(r->selector, "class=kiosk");
	CU_ASSERT_STRING_EQUAL(r->content_type, "text/plain; charset=utf-8");
	CU_ASSERT_EQUAL(r->body_len, strlen(body1));
	CU_ASSERT(memcmp(r->body, body1, strlen(body1)) == 0);
	CU_ASSERT_EQUAL(r->created_at, T0);
	CU_ASSERT_EQUAL(r->expires_at, T0 + 600);
	CU_ASSERT_EQUAL(r->finished_at, 0);
	/* bravo was in flight (sent): stored as pending */
	assert_counts(r, 3, 1, 1, 0, 0);
	r = msgs_find(&ml, m2.id);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_STRING_EQUAL(r->state, "cancelled");
	CU_ASSERT_EQUAL(r->finished_at, T0 + 150);
	CU_ASSERT_EQUAL(r->expires_at, T0 + 160);
	assert_counts(r, 0, 1, 0, 1, 1);
	msgs_free(&ml);

	/* unfinished only; one by ID; an unknown ID; a limit */
	CU_ASSERT_EQUAL(load_msgs(&ml, NULL, 1, -1), 1);
	CU_ASSERT(ml.n == 1 && strcmp(ml.r[0].id, m1.id) == 0);
	msgs_free(&ml);
	CU_ASSERT_EQUAL(load_msgs(&ml, m2.id, 0, 1), 1);
	CU_ASSERT(ml.n == 1 && strcmp(ml.r[0].id, m2.id) == 0);
	msgs_free(&ml);
	CU_ASSERT_EQUAL(load_msgs(&ml, m2.id, 1, 1), 0);	/* finished */
	msgs_free(&ml);
	CU_ASSERT_EQUAL(load_msgs(&ml, "ffffffffffffffff", 0, 1), 0);
	msgs_free(&ml);
	CU_ASSERT_EQUAL(load_msgs(&ml, NULL, 0, 1), 1);
	CU_ASSERT(ml.n == 1 && strcmp(ml.r[0].id, m2.id) == 0);
	msgs_free(&ml);

	/* a callback that stops the load: -1, and the store goes on */
	memset(&ml, 0, sizeof(ml));
	ml.stop_after = 1;
	CU_ASSERT_EQUAL(store_load_messages(NULL, 0, -1, msgs_collect, &ml),
	    -1);
	CU_ASSERT_EQUAL(ml.n, 1);
	msgs_free(&ml);
	CU_ASSERT_EQUAL(load_msgs(&ml, NULL, 0, -1), 2);
	msgs_free(&ml);

	/* the targets, by client ID; sent comes back pending */
	check_m1_targets(m1.id, 0);
	CU_ASSERT_EQUAL_FATAL(load_tgts(&tl, m2.id), (int)NM2);
	assert_target(&tl.r[0], &m2_spec[0], TARGET_CANCELLED);
	assert_target(&tl.r[1], &m2_spec[2], TARGET_ACKED);	/* yankee */
	assert_target(&tl.r[2], &m2_spec[1], TARGET_FAILED);	/* zulu */
	tgts_free(&tl);
	CU_ASSERT_EQUAL(load_tgts(&tl, "ffffffffffffffff"), 0);
	tgts_free(&tl);

	/* the same message ID twice is refused */
	CU_ASSERT_EQUAL(store_begin(), 0);
	CU_ASSERT_EQUAL(store_put_message(&m1), -1);
	store_rollback();

	/* updates: a target acked (upsert), the message done */
	t1[0].state = TARGET_ACKED;
	t1[0].attempts = 1;
	t1[0].last_status = 200;
	t1[0].last_attempt = (T0 + 19) * 1000;
	t1[0].next_attempt = (T0 + 19) * 1000;
	t1[0].acked_at = T0 + 20;
	m1.state = MESSAGE_DONE;
	m1.finished_at = T0 + 200;
	CU_ASSERT_EQUAL(store_begin(), 0);
	CU_ASSERT_EQUAL(store_put_target(&m1, &t1[0]), 0);
	CU_ASSERT_EQUAL(store_set_message_state(&m1), 0);
	CU_ASSERT_EQUAL(store_commit(), 0);
	check_m1_targets(m1.id, 1);
	CU_ASSERT_EQUAL(load_msgs(&ml, m1.id, 0, 1), 1);
	r = msgs_find(&ml, m1.id);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_STRING_EQUAL(r->state, "done");
	CU_ASSERT_EQUAL(r->finished_at, T0 + 200);
	assert_counts(r, 2, 2, 1, 0, 0);
	msgs_free(&ml);
	CU_ASSERT_EQUAL(load_msgs(&ml, NULL, 1, -1), 0);	/* none active */
	msgs_free(&ml);

	/* a rolled back change leaves no trace */
	t1[3].state = TARGET_ACKED;
	CU_ASSERT_EQUAL(store_begin(), 0);
	CU_ASSERT_EQUAL(store_put_target(&m1, &t1[3]), 0);
	store_rollback();
	t1[3].state = TARGET_PENDING;
	check_m1_targets(m1.id, 1);

	/* reopen: everything is still there */
	store_close();
	CU_ASSERT_EQUAL_FATAL(store_open(path, 1, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(load_msgs(&ml, NULL, 0, -1), 2);
	assert_counts(msgs_find(&ml, m1.id), 2, 2, 1, 0, 0);
	assert_counts(msgs_find(&ml, m2.id), 0, 1, 0, 1, 1);
	r = msgs_find(&ml, m1.id);
	CU_ASSERT(r != NULL && r->body_len == strlen(body1) &&
	    memcmp(r->body, body1, r->body_len) == 0);
	msgs_free(&ml);
	check_m1_targets(m1.id, 1);

	/* purge: finished before the time given, never an active one */
	message_fill(&m3, t3, "00112233445566cc", "all", "still active",
	    T0 - 1000, 60, m3_spec, 1);
	CU_ASSERT_EQUAL_FATAL(put_all(&m3), 0);
	CU_ASSERT_EQUAL(store_purge_messages(T0 + 150), 0);	/* strict */
	CU_ASSERT_EQUAL(store_purge_messages(T0 + 151), 1);	/* m2 */
	CU_ASSERT_EQUAL(load_msgs(&ml, NULL, 0, -1), 2);
	CU_ASSERT_PTR_NULL(msgs_find(&ml, m2.id));
	CU_ASSERT_PTR_NOT_NULL(msgs_find(&ml, m1.id));
	CU_ASSERT_PTR_NOT_NULL(msgs_find(&ml, m3.id));
	msgs_free(&ml);
	/* its targets went with it */
	CU_ASSERT_EQUAL(load_tgts(&tl, m2.id), 0);
	tgts_free(&tl);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM targets WHERE "
	    "message_id = '%s'", m2.id);
	CU_ASSERT_EQUAL(sql_int(path, sql), 0);
	CU_ASSERT_EQUAL(store_purge_messages(T0 + 1000000), 1);	/* m1 */
	CU_ASSERT_EQUAL(load_msgs(&ml, NULL, 0, -1), 1);
	CU_ASSERT(ml.n == 1 && strcmp(ml.r[0].id, m3.id) == 0);
	msgs_free(&ml);
	CU_ASSERT_EQUAL(sql_int(path, "SELECT count(*) FROM targets"), 1);

	/* and after one more reopen */
	store_close();
	CU_ASSERT_EQUAL_FATAL(store_open(path, 0, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(load_msgs(&ml, NULL, 1, -1), 1);
	CU_ASSERT(ml.n == 1 && strcmp(ml.r[0].id, m3.id) == 0);
	if (ml.n == 1)
		assert_counts(&ml.r[0], 1, 0, 0, 0, 0);
	msgs_free(&ml);
	CU_ASSERT_EQUAL(load_tgts(&tl, m3.id), 1);
	tgts_free(&tl);
	store_close();
}

int
test_dispatch_register(void)
{
	CU_pSuite	 s;

	if ((s = CU_add_suite("dispatch", dispatch_suite_init,
	    dispatch_suite_clean)) == NULL)
		return -1;
	if (CU_add_test(s, "backoff schedule", test_backoff_schedule) ==
	    NULL ||
	    CU_add_test(s, "backoff jitter", test_backoff_jitter) == NULL ||
	    CU_add_test(s, "state names", test_state_names) == NULL ||
	    CU_add_test(s, "messages and targets in the store",
	    test_store_messages) == NULL)
		return -1;
	return 0;
}
