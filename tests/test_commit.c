/*
 * test_commit.c: the group commit on its writer thread (commit.c): a
 * batch is a copy (changes made while it is written go into the next
 * one), a failed batch leaves its rows marked so that the next commit
 * writes their newest values, a deleted client is freed only once its
 * delete is committed, waiters hear the outcome of their own batch.
 * A real su_root (run only by the lone-waiter test; elsewhere
 * commit_flush waits for the writer itself), a real writer thread and a
 * store in a folder made for the suite. The adaptive delay
 * (commit_rate_note, commit_due_at) is tested as the pure function it
 * is, on a simulated clock.
 */
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>
#include <sofia-sip/su.h>
#include <sofia-sip/su_wait.h>
#include <CUnit/CUnit.h>

#include "sippushd.h"
#include "tests.h"

static char		 cm_dir[TEST_DIR_MAX];
static char		 cm_db[PATH_MAX];
static struct config	 cm_conf;
static su_root_t	*cm_root;
static int		 cm_su, cm_ready, cm_ndb;

struct waiter {
	struct commit_waiter	 w;
	int			 calls;
	int			 ok;
};

static void
waiter_done(struct commit_waiter *w, int ok)
{
	struct waiter	*x = (struct waiter *)w;

	x->calls++;
	x->ok = ok;
}

static int
commit_suite_init(void)
{
	config_defaults(&cm_conf);
	cm_conf.db_commit_delay = 1000;	/* the timer never fires: the root
					   is never run */
	if (test_mkdtemp(cm_dir, sizeof(cm_dir)) == -1)
		return -1;
	if (su_init() != 0)
		return -1;
	cm_su = 1;
	if ((cm_root = su_root_create(NULL)) == NULL)
		return -1;
	return commit_init(&cm_conf, cm_root);
}

static int
commit_suite_clean(void)
{
	commit_shutdown();
	if (cm_root)
		su_root_destroy(cm_root);
	cm_root = NULL;
	if (cm_su)
		su_deinit();
	cm_su = 0;
	config_free(&cm_conf);
	test_rmtree(cm_dir);
	return 0;
}

static void
commit_setup(void)
{
	char	 err[512];

	snprintf(cm_db, sizeof(cm_db), "%s/c%d.db", cm_dir, ++cm_ndb);
	cm_ready = clients_init() == 0;
	if (cm_ready && store_open(NULL, cm_db, 1, err, sizeof(err)) == -1) {
		fprintf(stderr, "\ncommit: %s\n", err);
		cm_ready = 0;
	}
}

static void
commit_teardown(void)
{
	commit_flush();
	clients_free();
	store_close();
	cm_ready = 0;
}

static struct client *
reg(const char *id, const char *contact)
{
	struct registration	 r;

	test_reg_fill(&r, id, 1000);
	r.contact = contact;
	return test_reg_client(&r);
}

/* The stored contact of id into buf ("" if no row); -1 on error. */
static int
stored_contact(const char *id, char *buf, size_t len)
{
	sqlite3		*db;
	sqlite3_stmt	*st;
	int		 rc = -1;

	buf[0] = '\0';
	if (sqlite3_open_v2(cm_db, &db, SQLITE_OPEN_READONLY, NULL) !=
	    SQLITE_OK)
		goto out;
	if (sqlite3_prepare_v2(db, "SELECT contact FROM clients WHERE id = ?1",
	    -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		snprintf(buf, len, "%s", sqlite3_column_text(st, 0));
	rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
	sqlite3_finalize(st);
out:
	sqlite3_close(db);
	return rc;
}

/* A batch is a copy: a change made while it is being written is not
 * lost and goes into the next batch, with its own waiter. */
static void
test_batch_is_a_copy(void)
{
	struct waiter		 w1, w2;
	struct store_batch	 b;
	struct client		*a;
	char			 contact[128];

	CU_ASSERT_FATAL(cm_ready);
	CU_ASSERT_EQUAL_FATAL(commit_flush(), 0);
	memset(&w1, 0, sizeof(w1));
	memset(&w2, 0, sizeof(w2));
	w1.w.done = w2.w.done = waiter_done;

	/* the owner's rows in a batch: values and strings of its own */
	CU_ASSERT_FATAL((a = reg("a", "<sip:one@h>")) != NULL);
	store_batch_init(&b);
	CU_ASSERT_EQUAL_FATAL(clients_batch(&b), 0);
	CU_ASSERT_EQUAL_FATAL(b.nclients, 1);
	CU_ASSERT_EQUAL(a->dirty, 0);	/* copied: the marks are cleared */
	CU_ASSERT(b.clients[0].id != a->id);
	CU_ASSERT(b.clients[0].contact != a->contact);
	CU_ASSERT_FATAL(reg("a", "<sip:two@h>") == a);
	CU_ASSERT_STRING_EQUAL(b.clients[0].contact, "<sip:one@h>");
	CU_ASSERT_STRING_EQUAL(b.clients[0].id, "a");
	CU_ASSERT_EQUAL(store_write(&b), 0);
	clients_batch_done(1);
	store_batch_free(&b);
	CU_ASSERT_EQUAL(stored_contact("a", contact, sizeof(contact)), 0);
	CU_ASSERT_STRING_EQUAL(contact, "<sip:one@h>");
	CU_ASSERT_EQUAL(a->dirty, CLIENT_DIRTY_ROW);	/* two: not yet */

	/* and through the writer: a change made while a batch is in
	 * flight goes into the next one */
	commit_wait(&w1.w);
	commit_start();			/* in flight on the writer */
	CU_ASSERT_EQUAL(commit_waiting(), 1);	/* until reaped, here */
	CU_ASSERT_EQUAL(a->dirty, 0);
	CU_ASSERT_PTR_NULL(clients_take_dirty());
	CU_ASSERT_FATAL(reg("a", "<sip:three@h>") == a);
	commit_wait(&w2.w);
	CU_ASSERT_EQUAL(commit_waiting(), 2);
	CU_ASSERT_EQUAL(w2.calls, 0);
	CU_ASSERT_EQUAL(commit_flush(), 0);
	CU_ASSERT_EQUAL(w1.calls, 1);
	CU_ASSERT_EQUAL(w1.ok, 1);
	CU_ASSERT_EQUAL(w2.calls, 1);
	CU_ASSERT_EQUAL(w2.ok, 1);
	CU_ASSERT_EQUAL(commit_waiting(), 0);
	CU_ASSERT_EQUAL(a->dirty, 0);
	CU_ASSERT_EQUAL(stored_contact("a", contact, sizeof(contact)), 0);
	CU_ASSERT_STRING_EQUAL(contact, "<sip:three@h>");
}

static int
count_row(const struct client_row *r, void *arg)
{
	(void)r;
	++*(int *)arg;
	return 0;
}

/* Client rows in the store (read on this thread's connection). */
static int
stored_clients(void)
{
	int	 n = 0;

	commit_drain();
	return store_load_clients(count_row, &n) == -1 ? -1 : n;
}

/*
 * A batch takes at most CLIENTS_BATCH_MAX client rows, the first marked
 * (a mass change is copied a slice per batch, not all in one turn of
 * the loop); a waiter whose row was marked after those is not told
 * before the next batch has written it, and a job queued with it does
 * not run before either.
 */
static void
test_batch_capped(void)
{
	enum { EXTRA = 500 };
	struct waiter		 w;
	char			 id[32], contact[128];
	int			 i, n0;

	CU_ASSERT_FATAL(cm_ready);
	CU_ASSERT_EQUAL_FATAL(commit_flush(), 0);
	n0 = stored_clients();
	memset(&w, 0, sizeof(w));
	w.w.done = waiter_done;
	for (i = 0; i < CLIENTS_BATCH_MAX + EXTRA; i++) {
		snprintf(id, sizeof(id), "cap%05d", i);
		CU_ASSERT_FATAL(reg(id, "<sip:cap@h>") != NULL);
	}
	CU_ASSERT_FATAL(reg("late", "<sip:late@h>") != NULL);
	commit_wait(&w.w);		/* the 200 of late's REGISTER */
	commit_start();			/* the first batch, on the writer */
	commit_drain();			/* written, and only that one */
	CU_ASSERT_EQUAL(stored_clients(), n0 + CLIENTS_BATCH_MAX);
	CU_ASSERT_EQUAL(stored_contact("late", contact, sizeof(contact)), 0);
	CU_ASSERT_STRING_EQUAL(contact, "");
	CU_ASSERT_EQUAL(w.calls, 0);	/* its row is not written yet */
	CU_ASSERT(clients_dirty_left());
	CU_ASSERT_EQUAL(commit_flush(), 0);	/* the rest */
	CU_ASSERT_EQUAL(w.calls, 1);
	CU_ASSERT_EQUAL(w.ok, 1);
	CU_ASSERT_EQUAL(stored_contact("late", contact, sizeof(contact)), 0);
	CU_ASSERT_STRING_EQUAL(contact, "<sip:late@h>");
	CU_ASSERT_EQUAL(stored_clients(), n0 + CLIENTS_BATCH_MAX + EXTRA + 1);
	CU_ASSERT(!clients_dirty_left());
	CU_ASSERT_EQUAL(commit_waiting(), 0);
}

/* A deleted client leaves the table when its delete is committed, not
 * before; one that registers again meanwhile stays, and so does its row. */
static void
test_delete(void)
{
	struct client	*a, *b;
	char		 contact[128];

	CU_ASSERT_FATAL(cm_ready);
	CU_ASSERT_FATAL((a = reg("a", "<sip:a@h>")) != NULL);
	CU_ASSERT_FATAL((b = reg("b", "<sip:b@h>")) != NULL);
	CU_ASSERT_EQUAL_FATAL(commit_flush(), 0);

	clients_mark(a, CLIENT_DIRTY_DELETE);
	clients_mark(b, CLIENT_DIRTY_DELETE);
	commit_start();
	CU_ASSERT_PTR_EQUAL(clients_find("a"), a);	/* until committed */
	CU_ASSERT_FATAL(reg("b", "<sip:b2@h>") == b);	/* back meanwhile */
	CU_ASSERT_EQUAL(commit_flush(), 0);
	CU_ASSERT_PTR_NULL(clients_find("a"));
	CU_ASSERT_PTR_EQUAL(clients_find("b"), b);
	CU_ASSERT_EQUAL(b->dirty, 0);
	CU_ASSERT_EQUAL(stored_contact("a", contact, sizeof(contact)), 0);
	CU_ASSERT_STRING_EQUAL(contact, "");
	CU_ASSERT_EQUAL(stored_contact("b", contact, sizeof(contact)), 0);
	CU_ASSERT_STRING_EQUAL(contact, "<sip:b2@h>");
}

/* No room (RLIMIT_FSIZE): the batch fails, its waiter hears it, its rows
 * are marked again and the client to delete stays; with room again the
 * next commit writes the newest values. */
static void
test_failed_batch(void)
{
	char			 wal[PATH_MAX + 8], contact[128];
	struct sigaction	 ign, old;
	struct rlimit		 rl, saved;
	struct stat		 sb;
	struct waiter		 w;
	struct client		*a, *b;

	CU_ASSERT_FATAL(cm_ready);
	memset(&w, 0, sizeof(w));
	w.w.done = waiter_done;
	CU_ASSERT_FATAL((a = reg("a", "<sip:a@h>")) != NULL);
	CU_ASSERT_FATAL((b = reg("b", "<sip:b@h>")) != NULL);
	CU_ASSERT_EQUAL_FATAL(commit_flush(), 0);

	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_IGN;
	sigaction(SIGXFSZ, &ign, &old);
	CU_ASSERT_EQUAL_FATAL(getrlimit(RLIMIT_FSIZE, &saved), 0);
	snprintf(wal, sizeof(wal), "%s-wal", cm_db);
	CU_ASSERT_EQUAL_FATAL(stat(wal, &sb), 0);
	rl = saved;
	rl.rlim_cur = (rlim_t)sb.st_size;
	CU_ASSERT_EQUAL_FATAL(setrlimit(RLIMIT_FSIZE, &rl), 0);

	CU_ASSERT_FATAL(reg("a", "<sip:a2@h>") == a);
	clients_mark(b, CLIENT_DIRTY_DELETE);
	commit_wait(&w.w);
	CU_ASSERT_EQUAL(commit_flush(), -1);
	CU_ASSERT_EQUAL(w.calls, 1);
	CU_ASSERT_EQUAL(w.ok, 0);
	CU_ASSERT(store_failing(NULL) > 0);
	CU_ASSERT_EQUAL(a->dirty, CLIENT_DIRTY_ROW);
	CU_ASSERT_PTR_EQUAL(clients_find("b"), b);
	CU_ASSERT_EQUAL(b->dirty, CLIENT_DIRTY_DELETE);
	/* a newer change while the disk is full */
	CU_ASSERT_FATAL(reg("a", "<sip:a3@h>") == a);

	CU_ASSERT_EQUAL(setrlimit(RLIMIT_FSIZE, &saved), 0);
	sigaction(SIGXFSZ, &old, NULL);
	CU_ASSERT_EQUAL(commit_flush(), 0);
	CU_ASSERT_EQUAL(store_failing(NULL), 0);
	CU_ASSERT_EQUAL(a->dirty, 0);
	CU_ASSERT_PTR_NULL(clients_find("b"));
	CU_ASSERT_EQUAL(stored_contact("a", contact, sizeof(contact)), 0);
	CU_ASSERT_STRING_EQUAL(contact, "<sip:a3@h>");
	CU_ASSERT_EQUAL(stored_contact("b", contact, sizeof(contact)), 0);
	CU_ASSERT_STRING_EQUAL(contact, "");
}

/*
 * An owner told of a batch's outcome may start work that commits
 * (cluster: a client whose registration is written takes its targets,
 * a job): the rows dirty then are not snapshot while the owners still
 * hold the last batch's. Here b's new row, marked while a's batch was
 * written, goes into a batch that fails (RLIMIT_FSIZE): it must stay
 * marked and be written once there is room. Before the fix the job's
 * commit_start took b inside clients_batch_done, which then reported b
 * as written with a's batch, and b's row was lost.
 */
static void
test_batch_in_done(void)
{
	char			 wal[PATH_MAX + 8], contact[128];
	struct sigaction	 ign, old;
	struct rlimit		 rl, saved;
	struct stat		 sb;
	struct client		*a, *b;
	int			 i;

	CU_ASSERT_FATAL(cm_ready);
	CU_ASSERT_FATAL((a = reg("a", "<sip:a@h>")) != NULL);
	CU_ASSERT_FATAL((b = reg("b", "<sip:b@h>")) != NULL);
	CU_ASSERT_EQUAL_FATAL(commit_flush(), 0);

	CU_ASSERT_FATAL(reg("a", "<sip:a2@h>") == a);
	a->take = 1;		/* as a cluster REGISTER marks it */
	commit_start();		/* a's batch goes to the writer */
	for (i = 0; i < 500; i++) {
		CU_ASSERT_EQUAL_FATAL(stored_contact("a", contact,
		    sizeof(contact)), 0);
		if (strcmp(contact, "<sip:a2@h>") == 0)
			break;
		usleep(10000);
	}
	CU_ASSERT_STRING_EQUAL_FATAL(contact, "<sip:a2@h>");

	/* a's batch is written, not yet reaped: no room from now on */
	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_IGN;
	sigaction(SIGXFSZ, &ign, &old);
	CU_ASSERT_EQUAL_FATAL(getrlimit(RLIMIT_FSIZE, &saved), 0);
	snprintf(wal, sizeof(wal), "%s-wal", cm_db);
	CU_ASSERT_EQUAL_FATAL(stat(wal, &sb), 0);
	rl = saved;
	rl.rlim_cur = (rlim_t)sb.st_size;
	CU_ASSERT_EQUAL_FATAL(setrlimit(RLIMIT_FSIZE, &rl), 0);

	CU_ASSERT_FATAL(reg("b", "<sip:b2@h>") == b);
	commit_flush();		/* a's outcome, then b's batch fails */
	CU_ASSERT_EQUAL(a->take, 0);
	CU_ASSERT(b->dirty != 0);

	CU_ASSERT_EQUAL(setrlimit(RLIMIT_FSIZE, &saved), 0);
	sigaction(SIGXFSZ, &old, NULL);
	CU_ASSERT_EQUAL(commit_flush(), 0);
	CU_ASSERT_EQUAL(b->dirty, 0);
	CU_ASSERT_EQUAL(stored_contact("b", contact, sizeof(contact)), 0);
	CU_ASSERT_STRING_EQUAL(contact, "<sip:b2@h>");
}

/* ---- the adaptive delay ---- */

struct sim {
	int	 batches;
	int	 rows;
	int	 lone;		/* batches started on their first arrival */
	int64_t	 max_hold;	/* us from a batch's first waiter to its start */
};

/*
 * Feed n arrivals every gap us (after an idle start) through the policy
 * the way commit_wait and the flush timer use it: a batch starts at the
 * due time its first waiter got, or at once when a later waiter's due
 * time is its own arrival; writing takes no time here.
 */
static void
policy_run(int64_t gap, int n, int64_t bound, struct commit_rate *r,
    int64_t *clock, struct sim *s)
{
	int64_t	 t = *clock, first = 0, due = 0, d, hold;
	size_t	 queued = 0;
	int	 i;

	for (i = 0; i < n; i++, t += gap) {
		if (queued && due <= t) {	/* the timer fired before t */
			hold = due - first;
			if (hold > s->max_hold)
				s->max_hold = hold;
			s->batches++;
			queued = 0;
		}
		commit_rate_note(r, t, bound);
		if (queued == 0)
			first = t;
		queued++;
		s->rows++;
		d = commit_due_at(r, t, first, queued, bound);
		CU_ASSERT(d >= t);
		CU_ASSERT(d <= (first + bound > t ? first + bound : t));
		if (queued == 1 || d <= t)	/* as commit_wait does */
			due = d;
		if (due <= t) {
			if (queued == 1)
				s->lone++;
			hold = t - first;
			if (hold > s->max_hold)
				s->max_hold = hold;
			s->batches++;
			queued = 0;
		}
	}
	if (queued) {
		hold = due - first;
		if (hold > s->max_hold)
			s->max_hold = hold;
		s->batches++;
	}
	*clock = t;
}

static void
policy_sim(int64_t gap, int n, int64_t bound, struct sim *s)
{
	struct commit_rate	 r;
	int64_t			 clock = 1000000;

	memset(&r, 0, sizeof(r));
	memset(s, 0, sizeof(*s));
	policy_run(gap, n, bound, &r, &clock, s);
}

/* Under a moderate load the policy holds batches open: at 500 to
 * 100,000 waiters a second with a 10 ms bound, a commit carries many
 * rows, no waiter waits longer than the bound, and once a batch is
 * full (COMMIT_GROUP_ROWS) it goes. */
static void
test_policy_groups(void)
{
	struct sim	 s;

	policy_sim(500, 2000, 10000, &s);		/* 2,000/s, 1 s */
	CU_ASSERT(s.rows / s.batches >= 15);		/* ~20 */
	CU_ASSERT(s.max_hold <= 10000);
	CU_ASSERT(s.max_hold >= 5000);

	policy_sim(100, 10000, 10000, &s);		/* 10,000/s, 1 s */
	CU_ASSERT(s.rows / s.batches >= 80);		/* ~100 */
	CU_ASSERT(s.max_hold <= 10000);

	/* a storm fills a batch (128) well before the bound */
	policy_sim(10, 100000, 10000, &s);		/* 100,000/s */
	CU_ASSERT(s.rows / s.batches >= 100);
	CU_ASSERT(s.max_hold <= 5000);

	policy_sim(2000, 500, 10000, &s);		/* 500/s */
	CU_ASSERT(s.rows / s.batches >= 4);		/* ~5 */
	CU_ASSERT(s.max_hold <= 10000);

	policy_sim(500, 2000, 2000, &s);		/* 2 ms bound */
	CU_ASSERT(s.rows / s.batches >= 3);
	CU_ASSERT(s.max_hold <= 2000);
}

/* A lone waiter, or one in a trickle, is committed at once: after an
 * idle spell, at 20 a second, and whatever the rate with a bound of 0. */
static void
test_policy_lone(void)
{
	struct commit_rate	 r;
	struct sim		 s;
	int64_t			 clock = 1000000;

	policy_sim(50000, 100, 10000, &s);		/* 20/s */
	CU_ASSERT_EQUAL(s.batches, 100);
	CU_ASSERT_EQUAL(s.lone, 100);
	CU_ASSERT_EQUAL(s.max_hold, 0);

	policy_sim(100, 1000, 0, &s);			/* bound 0 */
	CU_ASSERT_EQUAL(s.lone, 1000);
	CU_ASSERT_EQUAL(s.max_hold, 0);

	/* busy at 2,000/s, then quiet for a second: the next one alone
	 * goes at once, and so does the very first ever */
	memset(&r, 0, sizeof(r));
	memset(&s, 0, sizeof(s));
	policy_run(500, 1, 10000, &r, &clock, &s);
	CU_ASSERT_EQUAL(s.lone, 1);
	policy_run(500, 2000, 10000, &r, &clock, &s);
	CU_ASSERT(s.max_hold >= 5000);
	clock += 1000000;
	memset(&s, 0, sizeof(s));
	policy_run(500, 1, 10000, &r, &clock, &s);
	CU_ASSERT_EQUAL(s.lone, 1);
	CU_ASSERT_EQUAL(s.max_hold, 0);
}

/* Whatever the rate and the bound, no waiter is held past the bound
 * (policy_run also checks every due time against it). */
static void
test_policy_bound(void)
{
	static const int64_t	 gaps[] = { 1, 10, 100, 499, 1000, 4999,
	    20000, 100000, 2000000 };
	static const int64_t	 bounds[] = { 0, 1, 1000, 2000, 10000,
	    1000000 };
	struct sim		 s;
	size_t			 i, j;

	for (i = 0; i < sizeof(gaps) / sizeof(gaps[0]); i++)
		for (j = 0; j < sizeof(bounds) / sizeof(bounds[0]); j++) {
			policy_sim(gaps[i], 3000, bounds[j], &s);
			CU_ASSERT(s.max_hold <= bounds[j]);
			CU_ASSERT_EQUAL(s.rows, 3000);
		}
}

static int64_t
ms_now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* In the daemon's loop: a lone waiter hears its commit at once, not
 * database.commit_delay (here 1000 ms) later. */
static void
test_lone_waiter(void)
{
	struct waiter	 w;
	int64_t		 t0, took;

	CU_ASSERT_FATAL(cm_ready);
	CU_ASSERT_EQUAL_FATAL(commit_flush(), 0);
	/* idle for longer than the bound; timers armed by the tests
	 * before fire meanwhile */
	for (t0 = ms_now(); ms_now() - t0 < 1100; )
		su_root_step(cm_root, 50);
	memset(&w, 0, sizeof(w));
	w.w.done = waiter_done;
	CU_ASSERT_FATAL(reg("lone", "<sip:lone@h>") != NULL);
	t0 = ms_now();
	commit_wait(&w.w);
	while (w.calls == 0 && ms_now() - t0 < 3000)
		su_root_step(cm_root, 20);
	took = ms_now() - t0;
	CU_ASSERT_EQUAL(w.calls, 1);
	CU_ASSERT_EQUAL(w.ok, 1);
	CU_ASSERT(took < 500);
	if (took >= 500)
		fprintf(stderr, "\ncommit: a lone waiter heard after %lld ms\n",
		    (long long)took);
}

int
test_commit_register(void)
{
	CU_pSuite	 s;

	s = CU_add_suite_with_setup_and_teardown("commit", commit_suite_init,
	    commit_suite_clean, commit_setup, commit_teardown);
	if (s == NULL)
		return -1;
	if (CU_add_test(s, "a batch takes at most CLIENTS_BATCH_MAX rows; "
	    "its waiters wait for theirs", test_batch_capped) == NULL ||
	    CU_add_test(s, "a batch is a copy", test_batch_is_a_copy) ==
	    NULL ||
	    CU_add_test(s, "a delete frees the client once committed",
	    test_delete) == NULL ||
	    CU_add_test(s, "a failed batch is written again, newest values",
	    test_failed_batch) == NULL ||
	    CU_add_test(s, "work started by a batch's outcome goes into the "
	    "next batch", test_batch_in_done) == NULL ||
	    CU_add_test(s, "policy: moderate load is grouped, within the "
	    "bound", test_policy_groups) == NULL ||
	    CU_add_test(s, "policy: a lone or trickling waiter goes at once",
	    test_policy_lone) == NULL ||
	    CU_add_test(s, "policy: never past the bound", test_policy_bound) ==
	    NULL ||
	    CU_add_test(s, "a lone waiter is told at once, not after "
	    "commit_delay", test_lone_waiter) == NULL)
		return -1;
	return 0;
}
