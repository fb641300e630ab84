/*
 * test_commit.c: the group commit on its writer thread (commit.c): a
 * batch is a copy (changes made while it is written go into the next
 * one), a failed batch leaves its rows marked so that the next commit
 * writes their newest values, a deleted client is freed only once its
 * delete is committed, waiters hear the outcome of their own batch.
 * A real su_root (never run: commit_flush waits for the writer itself),
 * a real writer thread and a store in a folder made for the suite.
 */
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

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
	if (cm_ready && store_open(cm_db, 1, err, sizeof(err)) == -1) {
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
	struct client		*c;

	memset(&r, 0, sizeof(r));
	r.id = id;
	r.class = "k";
	r.contact = contact;
	r.address = "192.0.2.1";
	r.port = 5060;
	r.transport = TRANSPORT_UDP;
	r.now = 1000;
	r.expires = 600;
	if (clients_register(&r, &c) == -1)
		return NULL;
	return c;
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
	struct waiter	 w1, w2;
	struct client	*a;
	char		 contact[128];

	CU_ASSERT_FATAL(cm_ready);
	memset(&w1, 0, sizeof(w1));
	memset(&w2, 0, sizeof(w2));
	w1.w.done = w2.w.done = waiter_done;
	CU_ASSERT_FATAL((a = reg("a", "<sip:one@h>")) != NULL);
	commit_wait(&w1.w);
	commit_start();			/* in flight on the writer */
	CU_ASSERT_EQUAL(commit_waiting(), 1);	/* until reaped, here */
	CU_ASSERT_EQUAL(a->dirty, 0);	/* copied: the marks are cleared */
	CU_ASSERT_PTR_NULL(clients_take_dirty());
	CU_ASSERT_FATAL(reg("a", "<sip:two@h>") == a);
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
	CU_ASSERT_STRING_EQUAL(contact, "<sip:two@h>");
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

int
test_commit_register(void)
{
	CU_pSuite	 s;

	s = CU_add_suite_with_setup_and_teardown("commit", commit_suite_init,
	    commit_suite_clean, commit_setup, commit_teardown);
	if (s == NULL)
		return -1;
	if (CU_add_test(s, "a batch is a copy", test_batch_is_a_copy) ==
	    NULL ||
	    CU_add_test(s, "a delete frees the client once committed",
	    test_delete) == NULL ||
	    CU_add_test(s, "a failed batch is written again, newest values",
	    test_failed_batch) == NULL)
		return -1;
	return 0;
}
