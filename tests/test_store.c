/*
 * test_store.c: SQLite persistence (store.c), on databases in a folder
 * made for the suite. Every test closes the store it opened.
 */
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>
#include <CUnit/CUnit.h>

#include "sippushd.h"
#include "tests.h"

static char	 st_dir[TEST_DIR_MAX];

static int
store_suite_init(void)
{
	return test_mkdtemp(st_dir, sizeof(st_dir));
}

static int
store_suite_clean(void)
{
	store_close();
	test_rmtree(st_dir);
	return 0;
}

static void
db_path(char *path, size_t len, const char *name)
{
	snprintf(path, len, "%s/%s", st_dir, name);
}

static int
newest_version(void)
{
	return schema_steps[schema_nsteps - 1].version;
}

/* Clients read back by store_load_clients, deep copies. */
#define LOADED_MAX	16
struct loaded {
	int		 n;
	int		 stop_after;	/* return -1 after this many; 0 never */
	struct client	 c[LOADED_MAX];
};

static char *
dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static int
collect(const struct client *c, void *arg)
{
	struct loaded	*l = arg;
	struct client	*d;

	if (l->n == LOADED_MAX)
		return -1;
	d = &l->c[l->n++];
	*d = *c;
	d->id = dup_or_null(c->id);
	d->class = dup_or_null(c->class);
	d->contact = dup_or_null(c->contact);
	d->user_agent = dup_or_null(c->user_agent);
	if (l->stop_after && l->n >= l->stop_after)
		return -1;
	return 0;
}

static void
loaded_free(struct loaded *l)
{
	int	 i;

	for (i = 0; i < l->n; i++) {
		free(l->c[i].id);
		free(l->c[i].class);
		free(l->c[i].contact);
		free(l->c[i].user_agent);
	}
	memset(l, 0, sizeof(*l));
}

static const struct client *
loaded_find(const struct loaded *l, const char *id)
{
	int	 i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->c[i].id, id) == 0)
			return &l->c[i];
	return NULL;
}

static int
load(struct loaded *l)
{
	memset(l, 0, sizeof(*l));
	return ts_load_clients(collect, l);
}

static void
client_fill(struct client *c, char *id, char *class, char *contact,
    char *ua, int state, int transport, int64_t base)
{
	memset(c, 0, sizeof(*c));
	c->id = id;
	c->class = class;
	c->contact = contact;
	c->user_agent = ua;
	snprintf(c->address, sizeof(c->address), "2001:db8::%x",
	    (unsigned)(base & 0xffff));
	c->port = (uint16_t)(1024 + base % 60000);
	c->transport = (uint8_t)transport;
	c->state = (uint8_t)state;
	c->registered_at = base;
	c->expires_at = base + 3600;
	c->last_seen = base + 7;
}

static void
assert_same_client(const struct client *got, const struct client *want)
{
	CU_ASSERT_PTR_NOT_NULL_FATAL(got);
	CU_ASSERT_STRING_EQUAL(got->id, want->id);
	CU_ASSERT_STRING_EQUAL(got->class, want->class);
	CU_ASSERT_STRING_EQUAL(got->contact, want->contact);
	if (want->user_agent == NULL) {
		CU_ASSERT_PTR_NULL(got->user_agent);
	} else {
		CU_ASSERT_PTR_NOT_NULL_FATAL(got->user_agent);
		CU_ASSERT_STRING_EQUAL(got->user_agent, want->user_agent);
	}
	CU_ASSERT_STRING_EQUAL(got->address, want->address);
	CU_ASSERT_EQUAL(got->port, want->port);
	CU_ASSERT_EQUAL(got->transport, want->transport);
	CU_ASSERT_EQUAL(got->state, want->state);
	CU_ASSERT_EQUAL(got->registered_at, want->registered_at);
	CU_ASSERT_EQUAL(got->expires_at, want->expires_at);
	CU_ASSERT_EQUAL(got->last_seen, want->last_seen);
	CU_ASSERT_EQUAL(got->dirty, 0);
}

/* Run one SQL query on path with its own connection; its first column
 * as text into out. 0 or -1. */
static int
sql_query(const char *path, const char *sql, char *out, size_t len)
{
	sqlite3		*db = NULL;
	sqlite3_stmt	*st = NULL;
	int		 rv = -1;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) !=
	    SQLITE_OK)
		goto out;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		goto out;
	if (sqlite3_step(st) == SQLITE_ROW) {
		snprintf(out, len, "%s", sqlite3_column_text(st, 0) ?
		    (const char *)sqlite3_column_text(st, 0) : "NULL");
		rv = 0;
	}
out:
	sqlite3_finalize(st);
	sqlite3_close(db);
	return rv;
}

static void
test_open_creates(void)
{
	char		 path[PATH_MAX], err[512], out[64];
	struct stat	 sb;
	struct loaded	 l;

	/* the folder of the database is created too (one level) */
	db_path(path, sizeof(path), "new/push.db");
	CU_ASSERT_EQUAL(stat(path, &sb), -1);
	err[0] = '\0';
	if (store_open(NULL, path, 1, err, sizeof(err)) == -1) {
		fprintf(stderr, "\nstore: %s\n", err);
		CU_FAIL_FATAL("store_open failed");
	}
	CU_ASSERT_EQUAL(stat(path, &sb), 0);
	CU_ASSERT(S_ISREG(sb.st_mode));
	CU_ASSERT_EQUAL(store_version(), newest_version());
	CU_ASSERT_EQUAL(load(&l), 0);
	loaded_free(&l);
	store_close();
	CU_ASSERT_STRING_EQUAL(store_errmsg(), "database not open");

	CU_ASSERT_EQUAL(sql_query(path, "PRAGMA journal_mode", out,
	    sizeof(out)), 0);
	CU_ASSERT_STRING_EQUAL(out, "wal");
	CU_ASSERT_EQUAL(sql_query(path, "SELECT group_concat(version) FROM"
	    " schema_version", out, sizeof(out)), 0);
	snprintf(err, sizeof(err), "%d", newest_version());
	CU_ASSERT_STRING_EQUAL(out, err);

	/* reopening an up-to-date database changes nothing */
	CU_ASSERT_EQUAL_FATAL(store_open(NULL, path, 0, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(store_version(), newest_version());
	store_close();
	CU_ASSERT_EQUAL(sql_query(path, "SELECT count(*) FROM"
	    " schema_version", out, sizeof(out)), 0);
	CU_ASSERT_STRING_EQUAL(out, "1");
}

static void
test_roundtrip(void)
{
	char		 path[PATH_MAX], err[512];
	struct client	 a, b, a2;
	struct loaded	 l;

	db_path(path, sizeof(path), "roundtrip.db");
	CU_ASSERT_EQUAL_FATAL(store_open(NULL, path, 1, err, sizeof(err)), 0);

	client_fill(&a, "alice-1", "ios", "<sip:alice-1@192.0.2.1:5062>",
	    "Sip/1.0 (quoted \"ua\" ; x)", CLIENT_ONLINE, TRANSPORT_UDP,
	    1700000001);
	client_fill(&b, "bob.2", "android", "<sip:bob.2@[2001:db8::2]>"
	    ";expires=600;class=android", NULL, CLIENT_OFFLINE,
	    TRANSPORT_TCP, 1700000222);
	CU_ASSERT_EQUAL(ts_begin(), 0);
	CU_ASSERT_EQUAL(ts_put_client(&a), 0);
	CU_ASSERT_EQUAL(ts_put_client(&b), 0);
	CU_ASSERT_EQUAL(ts_commit(), 0);

	CU_ASSERT_EQUAL(load(&l), 2);
	assert_same_client(loaded_find(&l, "alice-1"), &a);
	assert_same_client(loaded_find(&l, "bob.2"), &b);
	loaded_free(&l);

	/* touch writes state and last_seen only */
	a2 = a;
	a2.state = CLIENT_OFFLINE;
	a2.last_seen = a.last_seen + 100;
	a2.class = "changed";
	a2.port = 9;
	CU_ASSERT_EQUAL(ts_begin(), 0);
	CU_ASSERT_EQUAL(ts_touch_client(&a2), 0);
	CU_ASSERT_EQUAL(ts_commit(), 0);
	a.state = CLIENT_OFFLINE;
	a.last_seen += 100;
	CU_ASSERT_EQUAL(load(&l), 2);
	assert_same_client(loaded_find(&l, "alice-1"), &a);
	loaded_free(&l);

	/* put over an existing row replaces every field, UA to NULL too */
	client_fill(&a, "alice-1", "ios.v2", "<sip:alice-1@192.0.2.9>", NULL,
	    CLIENT_EXPIRED, TRANSPORT_TLS, 1700009999);
	CU_ASSERT_EQUAL(ts_put_client(&a), 0);	/* autocommit */
	CU_ASSERT_EQUAL(load(&l), 2);
	assert_same_client(loaded_find(&l, "alice-1"), &a);
	assert_same_client(loaded_find(&l, "bob.2"), &b);
	loaded_free(&l);

	/* and a NULL UA back to a string; the last state name */
	a.user_agent = "again";
	a.state = CLIENT_UNREGISTERED;
	CU_ASSERT_EQUAL(ts_put_client(&a), 0);
	CU_ASSERT_EQUAL(load(&l), 2);
	assert_same_client(loaded_find(&l, "alice-1"), &a);
	loaded_free(&l);

	/* delete; deleting or touching a missing row is no error */
	CU_ASSERT_EQUAL(ts_begin(), 0);
	CU_ASSERT_EQUAL(ts_delete_client("bob.2"), 0);
	CU_ASSERT_EQUAL(ts_delete_client("nobody"), 0);
	b.id = "nobody";
	CU_ASSERT_EQUAL(ts_touch_client(&b), 0);
	CU_ASSERT_EQUAL(ts_commit(), 0);
	CU_ASSERT_EQUAL(load(&l), 1);
	CU_ASSERT_PTR_NULL(loaded_find(&l, "bob.2"));
	CU_ASSERT_PTR_NULL(loaded_find(&l, "nobody"));
	assert_same_client(loaded_find(&l, "alice-1"), &a);
	loaded_free(&l);
	store_close();

	/* all of it survives a reopen */
	CU_ASSERT_EQUAL_FATAL(store_open(NULL, path, 1, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(load(&l), 1);
	assert_same_client(loaded_find(&l, "alice-1"), &a);
	loaded_free(&l);
	store_close();
}

static void
test_reopen(void)
{
	char		 path[PATH_MAX], err[512], id[16];
	struct client	 c[10];
	struct loaded	 l;
	int		 i;

	db_path(path, sizeof(path), "reopen.db");
	CU_ASSERT_EQUAL_FATAL(store_open(NULL, path, 0, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(ts_begin(), 0);
	for (i = 0; i < 10; i++) {
		snprintf(id, sizeof(id), "c%d", i);
		client_fill(&c[i], strdup(id), "k", "<sip:c@h>",
		    i % 2 ? "ua" : NULL, i % 4, i % 3, 1000 + i);
		CU_ASSERT_EQUAL(ts_put_client(&c[i]), 0);
	}
	CU_ASSERT_EQUAL(ts_commit(), 0);
	store_close();

	CU_ASSERT_EQUAL_FATAL(store_open(NULL, path, 0, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(store_version(), newest_version());
	CU_ASSERT_EQUAL(load(&l), 10);
	for (i = 0; i < 10; i++)
		assert_same_client(loaded_find(&l, c[i].id), &c[i]);
	loaded_free(&l);
	store_close();
	for (i = 0; i < 10; i++)
		free(c[i].id);
}

/* ---- the webhook outbox ---- */

struct obx {
	int		 n;
	char		 id[4][32], event[4][32], url[4][64], body[4][64];
	int		 has_url[4], attempts[4];
	int64_t		 created_at[4], next_attempt[4];
};

static int
obx_collect(const struct outbox_row *r, void *arg)
{
	struct obx	*o = arg;

	if (o->n == 4)
		return -1;
	snprintf(o->id[o->n], sizeof(o->id[0]), "%s", r->id);
	snprintf(o->event[o->n], sizeof(o->event[0]), "%s", r->event);
	o->has_url[o->n] = r->url != NULL;
	snprintf(o->url[o->n], sizeof(o->url[0]), "%s", r->url ? r->url : "");
	snprintf(o->body[o->n], sizeof(o->body[0]), "%s", r->body);
	o->attempts[o->n] = r->attempts;
	o->created_at[o->n] = r->created_at;
	o->next_attempt[o->n] = r->next_attempt;
	o->n++;
	return 0;
}

static int
obx_write(int op, const char *id, const char *event, const char *url,
    int attempts, int64_t next_attempt, const char *id2)
{
	struct store_batch	 b;
	struct outbox_row	 r;
	int			 rv;

	store_batch_init(&b);
	memset(&r, 0, sizeof(r));
	r.op = op;
	r.id = id;
	r.event = event;
	r.url = url;
	r.body = "{\"event\":\"x\"}";
	r.created_at = 1000;
	r.attempts = attempts;
	r.next_attempt = next_attempt;
	rv = store_batch_outbox(&b, &r);
	if (rv == 0 && id2) {	/* a second, good row in the same batch */
		r.op = STORE_PUT;
		r.id = id2;
		r.event = "finished";
		rv = store_batch_outbox(&b, &r);
	}
	if (rv == 0)
		rv = store_write(&b);
	store_batch_free(&b);
	return rv;
}

static void
test_outbox(void)
{
	char		 path[PATH_MAX], err[512];
	struct obx	 o;

	db_path(path, sizeof(path), "outbox.db");
	CU_ASSERT_EQUAL_FATAL(store_open(NULL, path, 0, err, sizeof(err)), 0);
	memset(&o, 0, sizeof(o));
	CU_ASSERT_EQUAL(store_load_outbox(obx_collect, &o), 0);
	CU_ASSERT_EQUAL(obx_write(STORE_PUT, "d1", "finished", NULL, 0, 5000,
	    NULL), 0);
	CU_ASSERT_EQUAL(obx_write(STORE_PUT, "d2", "target_failed",
	    "https://h/cb", 0, 4000, NULL), 0);
	/* a refused row (unknown event) rolls back the whole batch: the
	 * good row written with it is not kept either */
	CU_ASSERT_EQUAL(obx_write(STORE_PUT, "d3", "delivered", NULL, 0, 1,
	    "d4"), -1);
	memset(&o, 0, sizeof(o));
	CU_ASSERT_EQUAL_FATAL(store_load_outbox(obx_collect, &o), 2);
	/* soonest due first */
	CU_ASSERT_STRING_EQUAL(o.id[0], "d2");
	CU_ASSERT_STRING_EQUAL(o.event[0], "target_failed");
	CU_ASSERT(o.has_url[0]);
	CU_ASSERT_STRING_EQUAL(o.url[0], "https://h/cb");
	CU_ASSERT_STRING_EQUAL(o.body[0], "{\"event\":\"x\"}");
	CU_ASSERT_EQUAL(o.created_at[0], 1000);
	CU_ASSERT_EQUAL(o.next_attempt[0], 4000);
	CU_ASSERT_STRING_EQUAL(o.id[1], "d1");
	CU_ASSERT(!o.has_url[1]);

	/* a failed attempt: attempts and next_attempt; a delivered one:
	 * deleted; both kept across a reopen */
	CU_ASSERT_EQUAL(obx_write(STORE_TOUCH, "d1", NULL, NULL, 3, 9000,
	    NULL), 0);
	CU_ASSERT_EQUAL(obx_write(STORE_DELETE, "d2", NULL, NULL, 0, 0, NULL),
	    0);
	store_close();
	CU_ASSERT_EQUAL_FATAL(store_open(NULL, path, 0, err, sizeof(err)), 0);
	memset(&o, 0, sizeof(o));
	CU_ASSERT_EQUAL_FATAL(store_load_outbox(obx_collect, &o), 1);
	CU_ASSERT_STRING_EQUAL(o.id[0], "d1");
	CU_ASSERT_STRING_EQUAL(o.event[0], "finished");
	CU_ASSERT_EQUAL(o.attempts[0], 3);
	CU_ASSERT_EQUAL(o.next_attempt[0], 9000);
	store_close();
}

static void
test_commit_rollback(void)
{
	char		 path[PATH_MAX], err[512];
	struct client	 kept, gone, old;
	struct loaded	 l;

	db_path(path, sizeof(path), "txn.db");
	CU_ASSERT_EQUAL_FATAL(store_open(NULL, path, 1, err, sizeof(err)), 0);
	client_fill(&old, "old", "k", "<sip:old@h>", "ua", CLIENT_ONLINE,
	    TRANSPORT_UDP, 1);
	client_fill(&kept, "kept", "k", "<sip:kept@h>", "ua", CLIENT_ONLINE,
	    TRANSPORT_UDP, 2);
	client_fill(&gone, "gone", "k", "<sip:gone@h>", NULL, CLIENT_ONLINE,
	    TRANSPORT_UDP, 3);

	CU_ASSERT_EQUAL(ts_begin(), 0);
	CU_ASSERT_EQUAL(ts_put_client(&old), 0);
	CU_ASSERT_EQUAL(ts_put_client(&kept), 0);
	CU_ASSERT_EQUAL(ts_commit(), 0);

	/* a rolled-back transaction leaves no trace: no new row, no
	 * deletion, no change */
	CU_ASSERT_EQUAL(ts_begin(), 0);
	CU_ASSERT_EQUAL(ts_put_client(&gone), 0);
	CU_ASSERT_EQUAL(ts_delete_client("old"), 0);
	kept.state = CLIENT_OFFLINE;
	kept.last_seen = 99;
	CU_ASSERT_EQUAL(ts_touch_client(&kept), 0);
	ts_rollback();
	kept.state = CLIENT_ONLINE;
	kept.last_seen = 2 + 7;
	/* a second rollback, outside a transaction, is harmless */
	ts_rollback();
	store_close();

	CU_ASSERT_EQUAL_FATAL(store_open(NULL, path, 1, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(load(&l), 2);
	CU_ASSERT_PTR_NULL(loaded_find(&l, "gone"));
	assert_same_client(loaded_find(&l, "old"), &old);
	assert_same_client(loaded_find(&l, "kept"), &kept);
	loaded_free(&l);

	/* the store is usable after a rollback */
	CU_ASSERT_EQUAL(ts_begin(), 0);
	CU_ASSERT_EQUAL(ts_put_client(&gone), 0);
	CU_ASSERT_EQUAL(ts_commit(), 0);
	store_close();
	CU_ASSERT_EQUAL_FATAL(store_open(NULL, path, 1, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(load(&l), 3);
	assert_same_client(loaded_find(&l, "gone"), &gone);
	loaded_free(&l);
	store_close();
}

/* A row the schema refuses fails its batch (one transaction), whole. */
static void
test_bad_row(void)
{
	char		 path[PATH_MAX], err[512];
	struct client	 good, bad;
	struct loaded	 l;

	db_path(path, sizeof(path), "badrow.db");
	CU_ASSERT_EQUAL_FATAL(store_open(NULL, path, 1, err, sizeof(err)), 0);
	client_fill(&good, "good", "k", "<sip:good@h>", NULL, CLIENT_ONLINE,
	    TRANSPORT_UDP, 1);
	client_fill(&bad, "bad", "k", "<sip:bad@h>", NULL, 9, TRANSPORT_UDP,
	    2);
	CU_ASSERT_EQUAL(ts_begin(), 0);
	CU_ASSERT_EQUAL(ts_put_client(&good), 0);
	CU_ASSERT_EQUAL(ts_put_client(&bad), 0);	/* state "?" */
	CU_ASSERT_EQUAL(ts_commit(), -1);
	CU_ASSERT(test_contains(store_errmsg(), "CHECK"));
	CU_ASSERT_EQUAL(load(&l), 0);			/* none of it */
	CU_ASSERT_EQUAL(ts_put_client(&good), 0);
	CU_ASSERT_EQUAL(load(&l), 1);
	CU_ASSERT_PTR_NOT_NULL(loaded_find(&l, "good"));
	loaded_free(&l);

	/* the loader stops when the callback says so */
	CU_ASSERT_EQUAL(ts_put_client(&bad), -1);
	bad.state = CLIENT_ONLINE;
	CU_ASSERT_EQUAL(ts_put_client(&bad), 0);
	memset(&l, 0, sizeof(l));
	l.stop_after = 1;
	CU_ASSERT_EQUAL(ts_load_clients(collect, &l), -1);
	CU_ASSERT_EQUAL(l.n, 1);
	loaded_free(&l);
	/* and the statement is reset for the next load */
	CU_ASSERT_EQUAL(load(&l), 2);
	loaded_free(&l);
	store_close();
}

static void
test_schema_too_new(void)
{
	char		 path[PATH_MAX], err[512], out[64], want[32];
	sqlite3		*db;

	db_path(path, sizeof(path), "future.db");
	CU_ASSERT_EQUAL_FATAL(sqlite3_open(path, &db), SQLITE_OK);
	CU_ASSERT_EQUAL(sqlite3_exec(db, "CREATE TABLE schema_version"
	    " (version INTEGER NOT NULL);"
	    " INSERT INTO schema_version VALUES (9999);"
	    " CREATE TABLE clients (x);", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);

	err[0] = '\0';
	CU_ASSERT_EQUAL(store_open(NULL, path, 1, err, sizeof(err)), -1);
	CU_ASSERT_EQUAL(strncmp(err, path, strlen(path)), 0);
	CU_ASSERT(test_contains(err, "9999"));
	snprintf(want, sizeof(want), "(%d)", newest_version());
	CU_ASSERT(test_contains(err, want));
	CU_ASSERT(test_contains(err, "run the sippushd that wrote it"));
	CU_ASSERT_STRING_EQUAL(store_errmsg(), "database not open");

	/* and it was left alone */
	CU_ASSERT_EQUAL(sql_query(path, "SELECT group_concat(version) FROM"
	    " schema_version", out, sizeof(out)), 0);
	CU_ASSERT_STRING_EQUAL(out, "9999");
}

/* A database written by schema version 3 (the last with IN lists in its
 * CHECKs) keeps its rows, index and constraints through version 4. */
static void
test_schema_upgrade(void)
{
	char		 path[PATH_MAX], err[512], out[128], *sql;
	sqlite3		*db;
	size_t		 i;

	db_path(path, sizeof(path), "v3.db");
	CU_ASSERT_EQUAL_FATAL(sqlite3_open(path, &db), SQLITE_OK);
	for (i = 0; i < schema_nsteps && schema_steps[i].version <= 3; i++)
		CU_ASSERT_EQUAL(sqlite3_exec(db, schema_steps[i].sql, NULL,
		    NULL, NULL), SQLITE_OK);
	CU_ASSERT_EQUAL(i, 3);
	sql = "PRAGMA foreign_keys = ON;"
	    " INSERT INTO schema_version VALUES (3);"
	    " INSERT INTO clients VALUES ('c1', 'k', 'offline', '<sip:c1@h>',"
	    " 'tcp', '10.0.0.1', 5060, 'ua', 1, 2, 3);"
	    " INSERT INTO messages VALUES ('m1', 'active', 'all', 'text/plain',"
	    " 'hi', 10, 20, NULL);"
	    " INSERT INTO targets VALUES ('m1', 'c1', 'acked', 2, 0, 200, 7, 8);"
	    " INSERT INTO targets VALUES ('m1', 'c2', 'pending', 0, 5, NULL,"
	    " NULL, NULL);";
	CU_ASSERT_EQUAL(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);

	CU_ASSERT_EQUAL_FATAL(store_open(NULL, path, 1, err, sizeof(err)), 0);
	store_close();
	CU_ASSERT_EQUAL(sql_query(path, "SELECT group_concat(version) FROM"
	    " schema_version", out, sizeof(out)), 0);
	snprintf(err, sizeof(err), "%d", newest_version());
	CU_ASSERT_STRING_EQUAL(out, err);
	CU_ASSERT_EQUAL(sql_query(path, "SELECT id || class || state ||"
	    " contact || transport || address || port || user_agent ||"
	    " registered_at || expires_at || last_seen FROM clients", out,
	    sizeof(out)), 0);
	CU_ASSERT_STRING_EQUAL(out, "c1koffline<sip:c1@h>tcp10.0.0.15060ua123");
	CU_ASSERT_EQUAL(sql_query(path, "SELECT group_concat(client_id || state"
	    " || attempts || next_attempt || coalesce(last_status, '-') ||"
	    " coalesce(last_attempt, '-') || coalesce(acked_at, '-'), ' ')"
	    " FROM targets", out, sizeof(out)), 0);
	CU_ASSERT_STRING_EQUAL(out, "c1acked2020078 c2pending05---");
	CU_ASSERT_EQUAL(sql_query(path, "SELECT count(*) FROM sqlite_master"
	    " WHERE type = 'index' AND name = 'clients_class'", out,
	    sizeof(out)), 0);
	CU_ASSERT_STRING_EQUAL(out, "1");
	CU_ASSERT_EQUAL(sql_query(path, "SELECT count(*) FROM sqlite_master"
	    " WHERE name LIKE '%_v4'", out, sizeof(out)), 0);
	CU_ASSERT_STRING_EQUAL(out, "0");

	/* the constraints still hold, the foreign key too */
	CU_ASSERT_EQUAL_FATAL(sqlite3_open(path, &db), SQLITE_OK);
	CU_ASSERT_EQUAL(sqlite3_exec(db, "PRAGMA foreign_keys = ON", NULL,
	    NULL, NULL), SQLITE_OK);
	CU_ASSERT_EQUAL(sqlite3_exec(db, "UPDATE clients SET state = 'gone'",
	    NULL, NULL, NULL), SQLITE_CONSTRAINT);
	CU_ASSERT_EQUAL(sqlite3_exec(db, "UPDATE clients SET transport = 'sctp'",
	    NULL, NULL, NULL), SQLITE_CONSTRAINT);
	CU_ASSERT_EQUAL(sqlite3_exec(db, "UPDATE targets SET state = 'lost'",
	    NULL, NULL, NULL), SQLITE_CONSTRAINT);
	CU_ASSERT_EQUAL(sqlite3_exec(db, "INSERT INTO targets (message_id,"
	    " client_id, state) VALUES ('m9', 'c1', 'pending')", NULL, NULL,
	    NULL), SQLITE_CONSTRAINT);
	CU_ASSERT_EQUAL(sqlite3_exec(db, "DELETE FROM messages", NULL, NULL,
	    NULL), SQLITE_OK);
	sqlite3_close(db);
	CU_ASSERT_EQUAL(sql_query(path, "SELECT count(*) FROM targets", out,
	    sizeof(out)), 0);
	CU_ASSERT_STRING_EQUAL(out, "0");
}

/* Schema versions need not be contiguous (005 tokens, 007 webhooks, with
 * 006 kept for another branch): a database at version 5 is brought to the
 * newest by the steps above 5, whatever numbers they skip. */
static void
test_schema_gap(void)
{
	char		 path[PATH_MAX], err[512], out[128];
	sqlite3		*db;
	size_t		 i;

	db_path(path, sizeof(path), "v5.db");
	CU_ASSERT_EQUAL_FATAL(sqlite3_open(path, &db), SQLITE_OK);
	for (i = 0; i < schema_nsteps && schema_steps[i].version <= 5; i++)
		CU_ASSERT_EQUAL(sqlite3_exec(db, schema_steps[i].sql, NULL,
		    NULL, NULL), SQLITE_OK);
	CU_ASSERT_EQUAL(sqlite3_exec(db, "INSERT INTO schema_version"
	    " VALUES (5); INSERT INTO messages (id, state, selector,"
	    " content_type, body, created_at, expires_at) VALUES ('m1',"
	    " 'active', 'all', 'text/plain', 'hi', 10, 20)", NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);

	CU_ASSERT_EQUAL_FATAL(store_open(NULL, path, 1, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(store_version(), newest_version());
	store_close();
	CU_ASSERT_EQUAL(sql_query(path, "SELECT group_concat(version) FROM"
	    " schema_version", out, sizeof(out)), 0);
	snprintf(err, sizeof(err), "%d", newest_version());
	CU_ASSERT_STRING_EQUAL(out, err);
	CU_ASSERT_EQUAL(sql_query(path, "SELECT id || coalesce(callback, '-')"
	    " || (SELECT count(*) FROM outbox) FROM messages", out,
	    sizeof(out)), 0);
	CU_ASSERT_STRING_EQUAL(out, "m1-0");
}

static void
expect_open_error(const char *path, const char *want)
{
	char	 err[512];

	err[0] = '\0';
	CU_ASSERT_EQUAL(store_open(NULL, path, 1, err, sizeof(err)), -1);
	CU_ASSERT(test_contains(err, path));
	if (want)
		CU_ASSERT(test_contains(err, want));
	CU_ASSERT_STRING_EQUAL(store_errmsg(), "database not open");
}

static void
test_open_errors(void)
{
	char	 path[PATH_MAX], file[TEST_DIR_MAX + 32], err[512];

	/* a folder that is a file */
	db_path(file, sizeof(file), "plainfile");
	CU_ASSERT_EQUAL_FATAL(test_write_file(file, "x\n"), 0);
	snprintf(path, sizeof(path), "%s/push.db", file);
	expect_open_error(path, "not a folder");

	/* two levels of folders missing */
	db_path(path, sizeof(path), "no/such/push.db");
	expect_open_error(path, "cannot create folder");

	/* the path is a folder */
	db_path(path, sizeof(path), "adir");
	CU_ASSERT_EQUAL_FATAL(mkdir(path, 0700), 0);
	expect_open_error(path, NULL);

	/* a file that is not a database */
	db_path(path, sizeof(path), "garbage.db");
	CU_ASSERT_EQUAL_FATAL(test_write_file(path,
	    "this is not an SQLite database, not at all, no, not even close,"
	    " whatever the file name says about it\n"), 0);
	expect_open_error(path, "not an SQLite database");
	expect_open_error(path, "move it away");

	/* a folder we may not write to, a file we may not write (root may
	 * write anywhere) */
	if (geteuid() != 0) {
		db_path(path, sizeof(path), "readonly");
		CU_ASSERT_EQUAL_FATAL(mkdir(path, 0500), 0);
		db_path(path, sizeof(path), "readonly/push.db");
		expect_open_error(path, "cannot create files in folder");
		db_path(path, sizeof(path), "readonly.db");
		CU_ASSERT_EQUAL(store_open(NULL, path, 1, err, sizeof(err)), 0);
		store_close();
		CU_ASSERT_EQUAL_FATAL(chmod(path, 0400), 0);
		expect_open_error(path, "cannot read and write");
	}

	/* after all those, a good path opens */
	db_path(path, sizeof(path), "after-errors.db");
	CU_ASSERT_EQUAL(store_open(NULL, path, 1, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(store_version(), newest_version());
	store_close();
}

/* A database of n clients with long contacts (a few dozen pages). */
static void
make_db(const char *path, int n)
{
	char		 err[512], id[32], contact[256];
	struct client	 c;
	int		 i;

	CU_ASSERT_EQUAL_FATAL(store_open(NULL, path, 1, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(ts_begin(), 0);
	for (i = 0; i < n; i++) {
		snprintf(id, sizeof(id), "client-%05d", i);
		snprintf(contact, sizeof(contact), "<sip:%s@192.0.2.%d:5060;"
		    "padding=%0180d>", id, i % 250, i);
		client_fill(&c, id, "k", contact, "ua", CLIENT_ONLINE,
		    TRANSPORT_UDP, i);
		CU_ASSERT_EQUAL(ts_put_client(&c), 0);
	}
	CU_ASSERT_EQUAL(ts_commit(), 0);
	store_close();
}

/* Overwrite page `page` (1-based, 4096 bytes) of path with byte b. */
static void
scribble(const char *path, int page, int b)
{
	char	 junk[4096];
	int	 fd;

	memset(junk, b, sizeof(junk));
	CU_ASSERT_FATAL((fd = open(path, O_WRONLY)) != -1);
	CU_ASSERT_EQUAL(pwrite(fd, junk, sizeof(junk),
	    (off_t)(page - 1) * 4096), (ssize_t)sizeof(junk));
	close(fd);
}

/* A damaged database is refused at open (PRAGMA quick_check), with what
 * to do, not found later by a query that happens to read the page. */
static void
test_open_corrupt(void)
{
	char		 path[PATH_MAX];
	struct stat	 sb;

	db_path(path, sizeof(path), "scribbled.db");
	make_db(path, 400);
	CU_ASSERT_EQUAL_FATAL(stat(path, &sb), 0);
	CU_ASSERT_FATAL(sb.st_size > 20 * 4096);
	scribble(path, (int)(sb.st_size / 4096) - 2, 0xa5);
	expect_open_error(path, "the database is damaged");
	expect_open_error(path, "quick_check");
	expect_open_error(path, "restore it from a backup");

	db_path(path, sizeof(path), "truncated.db");
	make_db(path, 400);
	CU_ASSERT_EQUAL_FATAL(stat(path, &sb), 0);
	CU_ASSERT_EQUAL_FATAL(truncate(path, sb.st_size / 2), 0);
	expect_open_error(path, "the database is damaged");

	/* the header scribbled: not a database any more */
	db_path(path, sizeof(path), "header.db");
	make_db(path, 10);
	scribble(path, 1, 'x');
	expect_open_error(path, "not an SQLite database");
}

/*
 * Writes that fail for want of room (here: RLIMIT_FSIZE, which SQLite
 * sees as a failed write) fail the commit, roll it back, and leave the
 * store usable; the next commit after room is back succeeds and ends the
 * fault.
 */
static void
test_write_fault(void)
{
	char			 path[PATH_MAX], wal[PATH_MAX + 8], err[512];
	struct client		 c;
	struct sigaction	 ign, old;
	struct rlimit		 rl, saved;
	struct loaded		 l;
	struct stat		 sb;
	unsigned		 n;

	db_path(path, sizeof(path), "fault.db");
	snprintf(wal, sizeof(wal), "%s-wal", path);
	CU_ASSERT_EQUAL_FATAL(store_open(NULL, path, 1, err, sizeof(err)), 0);
	client_fill(&c, "first", "k", "<sip:first@h>", NULL, CLIENT_ONLINE,
	    TRANSPORT_UDP, 1);
	CU_ASSERT_EQUAL(ts_begin(), 0);
	CU_ASSERT_EQUAL(ts_put_client(&c), 0);
	CU_ASSERT_EQUAL(ts_commit(), 0);
	CU_ASSERT_EQUAL(store_failing(NULL), 0);

	/* no room beyond what the files hold now */
	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_IGN;
	sigaction(SIGXFSZ, &ign, &old);
	CU_ASSERT_EQUAL_FATAL(getrlimit(RLIMIT_FSIZE, &saved), 0);
	CU_ASSERT_EQUAL_FATAL(stat(wal, &sb), 0);
	rl = saved;
	rl.rlim_cur = (rlim_t)sb.st_size;
	CU_ASSERT_EQUAL_FATAL(setrlimit(RLIMIT_FSIZE, &rl), 0);

	client_fill(&c, "second", "k", "<sip:second@h>", NULL,
	    CLIENT_ONLINE, TRANSPORT_UDP, 2);
	CU_ASSERT_EQUAL(ts_begin(), 0);
	CU_ASSERT_EQUAL(ts_put_client(&c), 0);
	CU_ASSERT_EQUAL(ts_commit(), -1);
	CU_ASSERT(test_contains(store_errmsg(), "disk I/O error") ||
	    test_contains(store_errmsg(), "full"));
	CU_ASSERT(test_contains(store_errhint(), "ulimit -f"));
	CU_ASSERT(store_failing(&n) > 0);
	CU_ASSERT_EQUAL(n, 1);
	/* rolled back: the store still reads, without "second" */
	CU_ASSERT_EQUAL(load(&l), 1);
	CU_ASSERT_PTR_NOT_NULL(loaded_find(&l, "first"));
	loaded_free(&l);
	/* and fails again while there is no room */
	CU_ASSERT_EQUAL(ts_begin(), 0);
	CU_ASSERT_EQUAL(ts_put_client(&c), 0);
	CU_ASSERT_EQUAL(ts_commit(), -1);
	CU_ASSERT(store_failing(&n) > 0);
	CU_ASSERT_EQUAL(n, 2);

	/* room again: the same write succeeds and ends the fault */
	CU_ASSERT_EQUAL(setrlimit(RLIMIT_FSIZE, &saved), 0);
	sigaction(SIGXFSZ, &old, NULL);
	CU_ASSERT_EQUAL(ts_begin(), 0);
	CU_ASSERT_EQUAL(ts_put_client(&c), 0);
	CU_ASSERT_EQUAL(ts_commit(), 0);
	CU_ASSERT_EQUAL(store_failing(&n), 0);
	CU_ASSERT_EQUAL(n, 0);
	store_close();
	CU_ASSERT_EQUAL_FATAL(store_open(NULL, path, 1, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(load(&l), 2);
	CU_ASSERT_PTR_NOT_NULL(loaded_find(&l, "second"));
	loaded_free(&l);
	store_close();
}

/* Tokens read back by store_load_tokens, as "name hash scopes t;". */
static int
token_collect(const struct token_row *r, void *arg)
{
	char	*out = arg;

	snprintf(out + strlen(out), 512 - strlen(out), "%s %s %s %lld;",
	    r->name, r->hash, r->scopes, (long long)r->created_at);
	return 0;
}

/* Token rows go through a batch (put, delete) and load back by name; a
 * second put of a name is refused and rolls its batch back. */
static void
test_tokens(void)
{
	struct store_batch	 b;
	struct token_row	 t;
	char			 path[PATH_MAX], err[256], got[512];
	const char		*h1 = "1111111111111111111111111111111111111111"
				    "111111111111111111111111";
	const char		*h2 = "2222222222222222222222222222222222222222"
				    "222222222222222222222222";

	db_path(path, sizeof(path), "tokens.db");
	CU_ASSERT_EQUAL_FATAL(store_open(NULL, path, 1, err, sizeof(err)), 0);
	memset(&t, 0, sizeof(t));
	store_batch_init(&b);
	t.op = STORE_PUT;
	t.name = "zed";
	t.hash = h2;
	t.scopes = "read";
	t.created_at = 1700000002;
	CU_ASSERT_EQUAL(store_batch_token(&b, &t), 0);
	t.name = "app";
	t.hash = h1;
	t.scopes = "publish,read";
	t.created_at = 1700000001;
	CU_ASSERT_EQUAL(store_batch_token(&b, &t), 0);
	CU_ASSERT_FALSE(store_batch_empty(&b));
	CU_ASSERT_EQUAL(store_write(&b), 0);
	store_batch_free(&b);
	got[0] = '\0';
	CU_ASSERT_EQUAL(store_load_tokens(token_collect, got), 2);
	CU_ASSERT_STRING_EQUAL(got, "app 1111111111111111111111111111111111111"
	    "111111111111111111111111111 publish,read 1700000001;zed 2222222"
	    "222222222222222222222222222222222222222222222222222222222 read "
	    "1700000002;");

	/* the name is taken: the batch fails and writes nothing */
	store_batch_init(&b);
	t.name = "app";
	t.hash = "3333";
	CU_ASSERT_EQUAL(store_batch_token(&b, &t), 0);
	CU_ASSERT_EQUAL(store_write(&b), -1);
	store_batch_free(&b);

	store_batch_init(&b);
	t.op = STORE_DELETE;
	t.name = "zed";
	CU_ASSERT_EQUAL(store_batch_token(&b, &t), 0);
	CU_ASSERT_EQUAL(store_write(&b), 0);
	store_batch_free(&b);
	got[0] = '\0';
	CU_ASSERT_EQUAL(store_load_tokens(token_collect, got), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(got, "app 1111"));
	CU_ASSERT_PTR_NULL(strstr(got, "zed"));
	store_close();
}

int
test_store_register(void)
{
	CU_pSuite	 s;

	if ((s = CU_add_suite("store", store_suite_init,
	    store_suite_clean)) == NULL)
		return -1;
	if (CU_add_test(s, "open creates file and schema",
	    test_open_creates) == NULL ||
	    CU_add_test(s, "put/touch/delete/load round trip",
	    test_roundtrip) == NULL ||
	    CU_add_test(s, "reopen keeps the data", test_reopen) == NULL ||
	    CU_add_test(s, "commit and rollback", test_commit_rollback) ==
	    NULL ||
	    CU_add_test(s, "refused row, stopped load", test_bad_row) ==
	    NULL ||
	    CU_add_test(s, "schema newer than known is refused",
	    test_schema_too_new) == NULL ||
	    CU_add_test(s, "version 3 upgrades with its rows",
	    test_schema_upgrade) == NULL ||
	    CU_add_test(s, "version 5 upgrades over a gap in the numbers",
	    test_schema_gap) == NULL ||
	    CU_add_test(s, "unusable paths give errors", test_open_errors) ==
	    NULL ||
	    CU_add_test(s, "a damaged database is refused at open",
	    test_open_corrupt) == NULL ||
	    CU_add_test(s, "a failed write rolls back, then recovers",
	    test_write_fault) == NULL ||
	    CU_add_test(s, "token rows: batch, load, delete", test_tokens) ==
	    NULL ||
	    CU_add_test(s, "webhook outbox: put, touch, delete, reload",
	    test_outbox) == NULL)
		return -1;
	return 0;
}
