/*
 * test_store.c: the store (store.c) through every backend: SQLite on
 * databases in a folder made for the suite, PostgreSQL on databases made
 * for each test on the server SIPPUSH_TEST_PG names (a conninfo; `make
 * check' starts a throwaway server with tests/pg.sh and sets it). Every
 * test closes the store it opened.
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
#include <libpq-fe.h>
#include <CUnit/CUnit.h>

#include "sippushd.h"
#include "tests.h"
#include "rows.h"

static char	 st_dir[TEST_DIR_MAX];
static const char *st_backend;		/* the suite's: "store/NAME" */
static int	 st_pg;			/* it is "postgresql" */
static const char *st_pg_server;	/* SIPPUSH_TEST_PG */

/*
 * The suite runs once per backend of store.c's list (store_backend_list,
 * see test_store_register): a new backend is tested by adding it there.
 * Each suite is named "store/NAME" and its init takes NAME from it.
 */
static int
store_suite_init(void)
{
	const char	*name = CU_get_current_suite()->pName;

	st_backend = strchr(name, '/') + 1;
	if (store_backend_find(st_backend) == NULL)
		return -1;
	st_pg = strcmp(st_backend, "postgresql") == 0;
	return test_mkdtemp(st_dir, sizeof(st_dir));
}

static int
store_suite_clean(void)
{
	store_close();
	test_rmtree(st_dir);
	return 0;
}

/* Run sql on the PostgreSQL server (conninfo: NULL for its postgres
 * database); the first column of the first row into out (if not NULL).
 * 0, or -1. */
static int
pg_query(const char *conninfo, const char *sql, char *out, size_t len)
{
	PGconn		*db;
	PGresult	*r;
	int		 rv = -1, st;

	db = PQconnectdb(conninfo ? conninfo : st_pg_server);
	if (PQstatus(db) != CONNECTION_OK) {
		fprintf(stderr, "\npg_query: %s", PQerrorMessage(db));
		PQfinish(db);
		return -1;
	}
	PQclear(PQexec(db, "SET client_min_messages = warning"));
	r = PQexec(db, sql);
	st = PQresultStatus(r);
	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
		rv = 0;
		if (out && st == PGRES_TUPLES_OK && PQntuples(r) > 0)
			snprintf(out, len, "%s", PQgetisnull(r, 0, 0) ? "NULL" :
			    PQgetvalue(r, 0, 0));
		else if (out)
			rv = -1;
	} else
		fprintf(stderr, "\npg_query: %s: %s", sql,
		    PQresultErrorMessage(r));
	PQclear(r);
	PQfinish(db);
	return rv;
}

/*
 * Where the test's database called name is: a file in the suite's
 * folder, or (PostgreSQL) the conninfo of a database of its own, made
 * empty now.
 */
static void
db_path(char *path, size_t len, const char *name)
{
	char	 db[64], sql[160];
	size_t	 i;

	if (!st_pg) {
		snprintf(path, len, "%s/%s", st_dir, name);
		return;
	}
	snprintf(db, sizeof(db), "st_%s", name);
	for (i = 0; db[i]; i++)
		if (!((db[i] >= 'a' && db[i] <= 'z') ||
		    (db[i] >= '0' && db[i] <= '9')))
			db[i] = '_';
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)",
	    db);
	CU_ASSERT_EQUAL_FATAL(pg_query(NULL, sql, NULL, 0), 0);
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", db);
	CU_ASSERT_EQUAL_FATAL(pg_query(NULL, sql, NULL, 0), 0);
	snprintf(path, len, "%s dbname=%s", st_pg_server, db);
}

static int
newest_version(void)
{
	if (st_pg)
		return pg_schema_steps[pg_schema_nsteps - 1].version;
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
	d->path = dup_or_null(c->path);
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
		free(l->c[i].path);
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
	if (want->path == NULL) {
		CU_ASSERT_PTR_NULL(got->path);
	} else {
		CU_ASSERT_PTR_NOT_NULL_FATAL(got->path);
		CU_ASSERT_STRING_EQUAL(got->path, want->path);
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
	if (store_open(st_backend, path, 1, err, sizeof(err)) == -1) {
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
	CU_ASSERT_EQUAL_FATAL(store_open(st_backend, path, 0, err, sizeof(err)), 0);
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
	CU_ASSERT_EQUAL_FATAL(store_open(st_backend, path, 1, err, sizeof(err)), 0);

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
	a.path = "<sip:198.18.1.1:5070;lr>";	/* behind an edge relay */
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
	CU_ASSERT_EQUAL_FATAL(store_open(st_backend, path, 1, err, sizeof(err)), 0);
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
	CU_ASSERT_EQUAL_FATAL(store_open(st_backend, path, 0, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(ts_begin(), 0);
	for (i = 0; i < 10; i++) {
		snprintf(id, sizeof(id), "c%d", i);
		client_fill(&c[i], strdup(id), "k", "<sip:c@h>",
		    i % 2 ? "ua" : NULL, i % 4, i % 3, 1000 + i);
		CU_ASSERT_EQUAL(ts_put_client(&c[i]), 0);
	}
	CU_ASSERT_EQUAL(ts_commit(), 0);
	store_close();

	CU_ASSERT_EQUAL_FATAL(store_open(st_backend, path, 0, err, sizeof(err)), 0);
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
	CU_ASSERT_EQUAL_FATAL(store_open(st_backend, path, 0, err, sizeof(err)), 0);
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
	CU_ASSERT_EQUAL_FATAL(store_open(st_backend, path, 0, err, sizeof(err)), 0);
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
	CU_ASSERT_EQUAL_FATAL(store_open(st_backend, path, 1, err, sizeof(err)), 0);
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

	CU_ASSERT_EQUAL_FATAL(store_open(st_backend, path, 1, err, sizeof(err)), 0);
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
	CU_ASSERT_EQUAL_FATAL(store_open(st_backend, path, 1, err, sizeof(err)), 0);
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
	CU_ASSERT_EQUAL_FATAL(store_open(st_backend, path, 1, err, sizeof(err)), 0);
	client_fill(&good, "good", "k", "<sip:good@h>", NULL, CLIENT_ONLINE,
	    TRANSPORT_UDP, 1);
	client_fill(&bad, "bad", "k", "<sip:bad@h>", NULL, 9, TRANSPORT_UDP,
	    2);
	CU_ASSERT_EQUAL(ts_begin(), 0);
	CU_ASSERT_EQUAL(ts_put_client(&good), 0);
	CU_ASSERT_EQUAL(ts_put_client(&bad), 0);	/* state "?" */
	CU_ASSERT_EQUAL(ts_commit(), -1);
	CU_ASSERT(test_contains(store_errmsg(), "CHECK") ||
	    test_contains(store_errmsg(), "check constraint \"client_state\""));
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
	CU_ASSERT_EQUAL(store_open(st_backend, path, 1, err, sizeof(err)), -1);
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

	CU_ASSERT_EQUAL_FATAL(store_open(st_backend, path, 1, err, sizeof(err)), 0);
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

	CU_ASSERT_EQUAL_FATAL(store_open(st_backend, path, 1, err, sizeof(err)), 0);
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
	CU_ASSERT_EQUAL(store_open(st_backend, path, 1, err, sizeof(err)), -1);
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
		CU_ASSERT_EQUAL(store_open(st_backend, path, 1, err, sizeof(err)), 0);
		store_close();
		CU_ASSERT_EQUAL_FATAL(chmod(path, 0400), 0);
		expect_open_error(path, "cannot read and write");
	}

	/* after all those, a good path opens */
	db_path(path, sizeof(path), "after-errors.db");
	CU_ASSERT_EQUAL(store_open(st_backend, path, 1, err, sizeof(err)), 0);
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

	CU_ASSERT_EQUAL_FATAL(store_open(st_backend, path, 1, err, sizeof(err)), 0);
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
	CU_ASSERT_EQUAL_FATAL(store_open(st_backend, path, 1, err, sizeof(err)), 0);
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
	CU_ASSERT_EQUAL_FATAL(store_open(st_backend, path, 1, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(load(&l), 2);
	CU_ASSERT_PTR_NOT_NULL(loaded_find(&l, "second"));
	loaded_free(&l);
	store_close();
}

/* ---- the backend contract: plain rows through store_write/load ---- */

/* One message row (state st) with targets c0..c(n-1), one batch. */
static int
put_message(const char *id, const char *st, int64_t finished, int n)
{
	struct store_batch	 b;
	struct message_row	 m;
	struct target_row	 t;
	char			 cid[16];
	int			 i, rv;

	store_batch_init(&b);
	memset(&m, 0, sizeof(m));
	m.op = STORE_PUT;
	m.id = id;
	m.state = st;
	m.selector = "class=k";
	m.content_type = "text/plain";
	m.body = "hi";
	m.body_len = 2;
	m.created_at = 100;
	m.expires_at = 100000;
	m.finished_at = finished;
	rv = store_batch_message(&b, &m);
	for (i = 0; rv == 0 && i < n; i++) {
		snprintf(cid, sizeof(cid), "c%03d", i);
		memset(&t, 0, sizeof(t));
		t.op = STORE_PUT;
		t.message_id = id;
		t.client = cid;
		t.state = finished ? "cancelled" : "pending";
		t.attempts = (uint32_t)i;
		rv = store_batch_target(&b, &t);
	}
	if (rv == 0)
		rv = store_write(&b);
	store_batch_free(&b);
	return rv;
}

struct tpage {
	int	 n;
	char	 last[16];
	int	 ordered;
};

static int
tpage_row(const struct target_row *r, void *arg)
{
	struct tpage	*p = arg;

	if (p->n && strcmp(r->client, p->last) <= 0)
		p->ordered = 0;
	snprintf(p->last, sizeof(p->last), "%s", r->client);
	p->n++;
	return 0;
}

static int
count_msg(const struct message_row *r, void *arg)
{
	(void)r;
	++*(int *)arg;
	return 0;
}

/* A message's targets read from its message's callback, as
 * dispatch_restore does. */
static int
count_msg_targets(const struct message_row *r, void *arg)
{
	struct tpage	 p;
	int		 n;

	memset(&p, 0, sizeof(p));
	if ((n = store_load_targets(r->id, NULL, -1, tpage_row, &p)) == -1)
		return -1;
	*(int *)arg += n;
	return 0;
}

struct uload {
	int	 n;
	char	 realm[32];
};

static int
user_row_seen(const struct user_row *r, void *arg)
{
	struct uload	*u = arg;

	u->n++;
	snprintf(u->realm, sizeof(u->realm), "%s", r->realm);
	return 0;
}

static int
put_user(int op, const char *id)
{
	struct store_batch	 b;
	struct user_row		 u;
	int			 rv;

	store_batch_init(&b);
	memset(&u, 0, sizeof(u));
	u.op = op;
	u.id = id;
	u.realm = "r1";
	u.ha1_sha256 = "00112233445566778899aabbccddeeff"
	    "00112233445566778899aabbccddeeff";
	u.ha1_md5 = "00112233445566778899aabbccddeeff";
	u.created_at = 5;
	rv = store_batch_user(&b, &u);
	if (rv == 0)
		rv = store_write(&b);
	store_batch_free(&b);
	return rv;
}

/* Targets page by client ID (after/limit); users put, delete, load;
 * the purge deletes finished messages only, strictly before. */
static void
test_rows_contract(void)
{
	char		 path[PATH_MAX], err[512];
	struct tpage	 p;
	struct uload	 u;
	int		 total = 0, pages = 0, n;

	db_path(path, sizeof(path), "contract.db");
	CU_ASSERT_EQUAL_FATAL(store_open(st_backend, path, 1, err,
	    sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(put_message("m1", "active", 0, 25), 0);
	CU_ASSERT_EQUAL_FATAL(put_message("m2", "cancelled", 150, 3), 0);
	/* pages of 10 after the last one read: 10, 10, 5, then none */
	memset(&p, 0, sizeof(p));
	p.ordered = 1;
	do {
		int	 before = p.n;

		n = store_load_targets("m1", pages ? p.last : NULL, 10,
		    tpage_row, &p);
		CU_ASSERT(n == p.n - before);
		CU_ASSERT(n <= 10);
		total += n > 0 ? n : 0;
		pages++;
	} while (n == 10 && pages < 10);
	CU_ASSERT_EQUAL(total, 25);
	CU_ASSERT_EQUAL(pages, 3);
	CU_ASSERT(p.ordered);
	CU_ASSERT_STRING_EQUAL(p.last, "c024");
	memset(&p, 0, sizeof(p));
	CU_ASSERT_EQUAL(store_load_targets("m1", "c020", -1, tpage_row, &p),
	    4);
	CU_ASSERT_EQUAL(store_load_targets("nosuch", NULL, -1, tpage_row,
	    &p), 0);
	/* messages: all, active only, limit */
	n = 0;
	CU_ASSERT_EQUAL(store_load_messages(NULL, 0, NULL, -1, count_msg, &n), 2);
	CU_ASSERT_EQUAL(store_load_messages(NULL, 1, NULL, -1, count_msg, &n), 1);
	CU_ASSERT_EQUAL(store_load_messages(NULL, 0, NULL, 1, count_msg, &n), 1);
	CU_ASSERT_EQUAL(store_load_messages("m2", 0, NULL, 1, count_msg, &n), 1);
	/* a read within a message's callback (dispatch_restore) */
	n = 0;
	CU_ASSERT_EQUAL(store_load_messages(NULL, 0, NULL, -1, count_msg_targets,
	    &n), 2);
	CU_ASSERT_EQUAL(n, 28);

	/* users */
	CU_ASSERT_EQUAL(put_user(STORE_PUT, "u1"), 0);
	CU_ASSERT_EQUAL(put_user(STORE_PUT, "u2"), 0);
	memset(&u, 0, sizeof(u));
	CU_ASSERT_EQUAL(store_load_users(NULL, user_row_seen, &u), 2);
	CU_ASSERT_STRING_EQUAL(u.realm, "r1");
	CU_ASSERT_EQUAL(put_user(STORE_DELETE, "u1"), 0);
	memset(&u, 0, sizeof(u));
	CU_ASSERT_EQUAL(store_load_users("u1", user_row_seen, &u), 0);
	CU_ASSERT_EQUAL(store_load_users("u2", user_row_seen, &u), 1);

	/* purge: finished before t (strict), never an active one */
	CU_ASSERT_EQUAL(store_purge_messages(150), 0);
	CU_ASSERT_EQUAL(store_purge_messages(151), 1);
	n = 0;
	CU_ASSERT_EQUAL(store_load_messages(NULL, 0, NULL, -1, count_msg, &n), 1);
	memset(&p, 0, sizeof(p));
	CU_ASSERT_EQUAL(store_load_targets("m2", NULL, -1, tpage_row, &p),
	    0);
	CU_ASSERT_EQUAL(store_purge_messages(1000000), 0);
	store_close();
}

/* ---- every backend: a big batch ---- */

static int
count_client(const struct client_row *r, void *arg)
{
	(void)r;
	++*(int *)arg;
	return 0;
}

#define BIG_BATCH	10000

/* A batch of 10,000 new clients is one transaction that writes them
 * all; its rate (rows/s) is printed for BENCHMARKS.md. */
/*
 * A batch keeps its own copy of every string of a client row, state and
 * transport too: a node that joins again after a fence loads its clients
 * into a batch (fleet.c) from rows whose strings live in the store's
 * result, freed once the load returns; state and transport were kept as
 * pointers (static names, as the loop's rows have), read after the free.
 */
static void
test_batch_copies(void)
{
	struct store_batch	 b;
	struct client_row	 r;
	char			 state[16], transport[8], owner[8];

	snprintf(state, sizeof(state), "online");
	snprintf(transport, sizeof(transport), "tcp");
	snprintf(owner, sizeof(owner), "n1");
	memset(&r, 0, sizeof(r));
	r.op = STORE_PUT;
	r.id = "copied";
	r.class = "k";
	r.state = state;
	r.contact = "<sip:c@127.0.0.1>";
	r.transport = transport;
	r.address = "127.0.0.1";
	r.port = 5060;
	r.owner = owner;
	store_batch_init(&b);
	CU_ASSERT_EQUAL_FATAL(store_batch_client(&b, &r), 0);
	memset(state, 'x', sizeof(state) - 1);
	memset(transport, 'y', sizeof(transport) - 1);
	memset(owner, 'z', sizeof(owner) - 1);
	CU_ASSERT_STRING_EQUAL(b.clients[0].state, "online");
	CU_ASSERT_STRING_EQUAL(b.clients[0].transport, "tcp");
	CU_ASSERT_STRING_EQUAL(b.clients[0].owner, "n1");
	store_batch_free(&b);
}

static void
test_big_batch(void)
{
	char			 path[PATH_MAX], err[512], id[32], contact[64];
	struct store_batch	 b;
	struct client_row	 r;
	int64_t			 t0, t1;
	int			 i, n = 0;

	db_path(path, sizeof(path), "big.db");
	CU_ASSERT_EQUAL_FATAL(store_open(st_backend, path, 1, err,
	    sizeof(err)), 0);
	store_batch_init(&b);
	for (i = 0; i < BIG_BATCH; i++) {
		memset(&r, 0, sizeof(r));
		snprintf(id, sizeof(id), "big-%06d", i);
		snprintf(contact, sizeof(contact), "<sip:%s@192.0.2.%d:5060>",
		    id, i % 250);
		r.op = STORE_PUT;
		r.id = id;
		r.class = "k";
		r.state = "online";
		r.contact = contact;
		r.transport = "udp";
		r.address = "192.0.2.1";
		r.port = 1024 + i % 60000;
		r.user_agent = "ua/1.0";
		r.registered_at = 1700000000 + i;
		r.expires_at = 1700003600 + i;
		r.last_seen = 1700000000 + i;
		CU_ASSERT_EQUAL_FATAL(store_batch_client(&b, &r), 0);
	}
	t0 = clock_mono_us();
	CU_ASSERT_EQUAL(store_write(&b), 0);
	t1 = clock_mono_us();
	store_batch_free(&b);
	fprintf(stderr, "\n  store/%s: one batch of %d client rows in %.1f ms"
	    " (%.0f rows/s) ", st_backend, BIG_BATCH, (t1 - t0) / 1000.0,
	    BIG_BATCH * 1e6 / (double)(t1 - t0 > 0 ? t1 - t0 : 1));
	CU_ASSERT_EQUAL(store_load_clients(count_client, &n), BIG_BATCH);
	CU_ASSERT_EQUAL(n, BIG_BATCH);
	store_close();
}

/* ---- every backend: the clients listing, page by page ---- */

struct cpage {
	int	 n;
	char	 last[32];
	int	 ordered;
	int	 state_bad;	/* rows that fail the filter */
	const struct client_filter *f;
};

static int
cpage_row(const struct client_row *r, void *arg)
{
	struct cpage	*p = arg;

	if (p->n && strcmp(r->id, p->last) <= 0)
		p->ordered = 0;
	if ((p->f->class && strcmp(r->class, p->f->class) != 0) ||
	    (p->f->state && strcmp(r->state, p->f->state) != 0) ||
	    (p->f->online == 1 && strcmp(r->state, "online") != 0) ||
	    (p->f->online == 0 && strcmp(r->state, "online") == 0))
		p->state_bad++;
	snprintf(p->last, sizeof(p->last), "%s", r->id);
	p->n++;
	return 0;
}

/* Read every page of f (pages of limit): the rows, the pages read. */
static int
list_all(const struct client_filter *f, int limit, int *pages,
    struct cpage *p)
{
	int	 n, total = 0;

	memset(p, 0, sizeof(*p));
	p->ordered = 1;
	p->f = f;
	*pages = 0;
	do {
		n = store_list_clients(f, *pages ? p->last : NULL, limit,
		    cpage_row, p);
		CU_ASSERT(n >= 0 && n <= limit);
		total += n > 0 ? n : 0;
		++*pages;
	} while (n == limit && *pages < 1000);
	return total;
}

/* 100 clients in byte order of their IDs ("C..." before "c...", as
 * strcmp sorts), classes k0..k3, every third offline, the fifth one
 * expired: pages by ID, each at most the limit, with the filters of
 * the listing. */
static void
test_client_pages(void)
{
	char			 path[PATH_MAX], err[512], id[32];
	struct client_filter	 f = { NULL, NULL, -1 };
	struct store_batch	 b;
	struct client_row	 r;
	struct cpage		 p;
	int			 i, pages, online = 0, k1 = 0, k1off = 0;

	db_path(path, sizeof(path), "cpages.db");
	CU_ASSERT_EQUAL_FATAL(store_open(st_backend, path, 1, err,
	    sizeof(err)), 0);
	store_batch_init(&b);
	for (i = 0; i < 100; i++) {
		memset(&r, 0, sizeof(r));
		snprintf(id, sizeof(id), "%cl-%03d", i % 2 ? 'C' : 'c', i);
		r.op = STORE_PUT;
		r.id = id;
		r.class = i % 4 == 0 ? "k0" : i % 4 == 1 ? "k1" :
		    i % 4 == 2 ? "k2" : "k3";
		r.state = i == 5 ? "expired" : i % 3 == 0 ? "offline" :
		    "online";
		r.contact = "<sip:x@192.0.2.1:5060>";
		r.transport = "udp";
		r.address = "192.0.2.1";
		r.port = 5060;
		r.registered_at = r.last_seen = 1700000000 + i;
		r.expires_at = 1700003600;
		online += strcmp(r.state, "online") == 0;
		k1 += i % 4 == 1;
		k1off += i % 4 == 1 && strcmp(r.state, "online") != 0;
		CU_ASSERT_EQUAL_FATAL(store_batch_client(&b, &r), 0);
	}
	CU_ASSERT_EQUAL(store_write(&b), 0);
	store_batch_free(&b);

	CU_ASSERT_EQUAL(list_all(&f, 30, &pages, &p), 100);
	CU_ASSERT_EQUAL(pages, 4);
	CU_ASSERT(p.ordered);
	CU_ASSERT_STRING_EQUAL(p.last, "cl-098");
	CU_ASSERT_EQUAL(list_all(&f, 1000, &pages, &p), 100);
	CU_ASSERT_EQUAL(pages, 1);
	/* after a given ID */
	memset(&p, 0, sizeof(p));
	p.f = &f;
	CU_ASSERT_EQUAL(store_list_clients(&f, "cl-090", 1000, cpage_row, &p),
	    4);
	CU_ASSERT_EQUAL(store_list_clients(&f, "cl-098", 1000, cpage_row, &p),
	    0);
	/* filters */
	f.online = 1;
	CU_ASSERT_EQUAL(list_all(&f, 7, &pages, &p), online);
	CU_ASSERT_EQUAL(p.state_bad, 0);
	CU_ASSERT(p.ordered);
	f.online = 0;
	CU_ASSERT_EQUAL(list_all(&f, 7, &pages, &p), 100 - online);
	CU_ASSERT_EQUAL(p.state_bad, 0);
	f.online = -1;
	f.state = "expired";
	CU_ASSERT_EQUAL(list_all(&f, 7, &pages, &p), 1);
	CU_ASSERT_STRING_EQUAL(p.last, "Cl-005");
	f.state = NULL;
	f.class = "k1";
	CU_ASSERT_EQUAL(list_all(&f, 7, &pages, &p), k1);
	CU_ASSERT_EQUAL(p.state_bad, 0);
	f.online = 0;
	CU_ASSERT_EQUAL(list_all(&f, 2, &pages, &p), k1off);
	CU_ASSERT_EQUAL(p.state_bad, 0);
	f.class = "nosuch";
	f.online = -1;
	CU_ASSERT_EQUAL(list_all(&f, 7, &pages, &p), 0);
	store_close();
}

/* ---- PostgreSQL only ---- */

/* Open makes the schema in an empty database, once. */
static void
test_pg_open_creates(void)
{
	char	 path[PATH_MAX], err[512], out[64], want[16];

	db_path(path, sizeof(path), "pgnew");
	err[0] = '\0';
	if (store_open(st_backend, path, 1, err, sizeof(err)) == -1) {
		fprintf(stderr, "\nstore: %s\n", err);
		CU_FAIL_FATAL("store_open failed");
	}
	CU_ASSERT_EQUAL(store_version(), newest_version());
	store_close();
	CU_ASSERT_STRING_EQUAL(store_errmsg(), "database not open");
	snprintf(want, sizeof(want), "%d", newest_version());
	CU_ASSERT_EQUAL(pg_query(path, "SELECT string_agg(version::text, ',')"
	    " FROM schema_version", out, sizeof(out)), 0);
	CU_ASSERT_STRING_EQUAL(out, want);
	CU_ASSERT_EQUAL(pg_query(path, "SELECT count(*) FROM pg_tables WHERE"
	    " schemaname = 'public' AND tablename IN ('clients', 'messages',"
	    " 'targets', 'users')", out, sizeof(out)), 0);
	CU_ASSERT_STRING_EQUAL(out, "4");
	/* IDs compare byte by byte, as in SQLite */
	CU_ASSERT_EQUAL(pg_query(path, "SELECT collation_name FROM"
	    " information_schema.columns WHERE table_name = 'targets' AND"
	    " column_name = 'client_id'", out, sizeof(out)), 0);
	CU_ASSERT_STRING_EQUAL(out, "C");

	/* reopening an up-to-date database changes nothing */
	CU_ASSERT_EQUAL_FATAL(store_open(st_backend, path, 0, err,
	    sizeof(err)), 0);
	CU_ASSERT_EQUAL(store_version(), newest_version());
	store_close();
	CU_ASSERT_EQUAL(pg_query(path, "SELECT count(*) FROM schema_version",
	    out, sizeof(out)), 0);
	CU_ASSERT_STRING_EQUAL(out, "1");
}

static void
test_pg_schema_too_new(void)
{
	char	 path[PATH_MAX], err[512], out[64], want[32];

	db_path(path, sizeof(path), "pgfuture");
	CU_ASSERT_EQUAL_FATAL(pg_query(path, "CREATE TABLE schema_version"
	    " (version integer NOT NULL); INSERT INTO schema_version VALUES"
	    " (9999); CREATE TABLE clients (x integer)", NULL, 0), 0);
	err[0] = '\0';
	CU_ASSERT_EQUAL(store_open(st_backend, path, 1, err, sizeof(err)),
	    -1);
	CU_ASSERT(strncmp(err, "postgresql ", 11) == 0);
	CU_ASSERT(test_contains(err, "host=127.0.0.1"));
	CU_ASSERT(test_contains(err, "dbname=st_pgfuture"));
	CU_ASSERT(test_contains(err, "9999"));
	snprintf(want, sizeof(want), "(%d)", newest_version());
	CU_ASSERT(test_contains(err, want));
	CU_ASSERT(test_contains(err, "run the sippushd that wrote it"));
	CU_ASSERT_STRING_EQUAL(store_errmsg(), "database not open");
	CU_ASSERT_EQUAL(pg_query(path, "SELECT string_agg(version::text, ',')"
	    " FROM schema_version", out, sizeof(out)), 0);
	CU_ASSERT_STRING_EQUAL(out, "9999");
}

/* The conninfo as logged: the password masked, in either form. */
static void
test_pg_mask(void)
{
	char	 out[512];

	store_pg_mask("host=db.example port=5433 user=u password=s3cr3t-pw "
	    "dbname=push", out, sizeof(out));
	CU_ASSERT(!test_contains(out, "s3cr3t-pw"));
	CU_ASSERT(test_contains(out, "password=********"));
	CU_ASSERT(test_contains(out, "host=db.example"));
	CU_ASSERT(test_contains(out, "port=5433"));
	CU_ASSERT(test_contains(out, "dbname=push"));
	store_pg_mask("postgresql://u:s3cr3t-pw@db.example:5433/push"
	    "?sslmode=disable", out, sizeof(out));
	CU_ASSERT(!test_contains(out, "s3cr3t-pw"));
	CU_ASSERT(test_contains(out, "password=********"));
	CU_ASSERT(test_contains(out, "user=u"));
	CU_ASSERT(test_contains(out, "sslmode=disable"));
	/* what libpq cannot parse is not shown at all */
	store_pg_mask("host=h password='s3cr3t-pw", out, sizeof(out));
	CU_ASSERT(!test_contains(out, "s3cr3t-pw"));
	CU_ASSERT(test_contains(out, "cannot parse"));
	CU_ASSERT_EQUAL(store_pg_check("host=h port=1", out, sizeof(out)), 0);
	CU_ASSERT_EQUAL(store_pg_check("host=h nosuchkey=1", out,
	    sizeof(out)), -1);
	CU_ASSERT(test_contains(out, "nosuchkey"));
}

/* open refuses, with the conninfo (masked) and what to do: a server that
 * is not there, a wrong password, a missing database, a bad conninfo. */
static void
test_pg_open_errors(void)
{
	char	 ci[PATH_MAX], err[1024];

	/* nobody listens on port 1 */
	snprintf(ci, sizeof(ci), "host=127.0.0.1 port=1 user=u "
	    "password=s3cr3t-pw dbname=x connect_timeout=5");
	err[0] = '\0';
	CU_ASSERT_EQUAL(store_open(st_backend, ci, 1, err, sizeof(err)), -1);
	CU_ASSERT(strncmp(err, "postgresql ", 11) == 0);
	CU_ASSERT(test_contains(err, "host=127.0.0.1"));
	CU_ASSERT(test_contains(err, "port=1 ") || test_contains(err, "port=1:"));
	CU_ASSERT(test_contains(err, "password=********"));
	CU_ASSERT(!test_contains(err, "s3cr3t-pw"));
	CU_ASSERT(test_contains(err, "cannot connect"));
	CU_ASSERT(test_contains(err, "Connection refused"));
	CU_ASSERT(test_contains(err, "check that PostgreSQL runs"));
	CU_ASSERT_STRING_EQUAL(store_errmsg(), "database not open");

	/* the right server, a wrong password (none from the passfile) */
	snprintf(ci, sizeof(ci), "%s password=s3cr3t-pw passfile=/dev/null",
	    st_pg_server);
	err[0] = '\0';
	CU_ASSERT_EQUAL(store_open(st_backend, ci, 1, err, sizeof(err)), -1);
	CU_ASSERT(test_contains(err, "password authentication failed"));
	CU_ASSERT(!test_contains(err, "s3cr3t-pw"));

	/* no such database */
	snprintf(ci, sizeof(ci), "%s dbname=st_nosuchdb", st_pg_server);
	err[0] = '\0';
	CU_ASSERT_EQUAL(store_open(st_backend, ci, 1, err, sizeof(err)), -1);
	CU_ASSERT(test_contains(err, "\"st_nosuchdb\" does not exist"));

	/* a conninfo libpq cannot parse */
	err[0] = '\0';
	CU_ASSERT_EQUAL(store_open(st_backend, "host=127.0.0.1 bogus=1", 1,
	    err, sizeof(err)), -1);
	CU_ASSERT(test_contains(err, "database.conninfo"));
	CU_ASSERT(test_contains(err, "bogus"));
	CU_ASSERT_STRING_EQUAL(store_errmsg(), "database not open");

	/* after all those, a good one opens */
	db_path(ci, sizeof(ci), "pgafter");
	CU_ASSERT_EQUAL(store_open(st_backend, ci, 1, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(store_version(), newest_version());
	store_close();
}

/*
 * The server drops the connection (pg_terminate_backend, as a restart
 * would): the next write fails, rolled back, as a store fault (503 to
 * a REGISTER); the one after connects again by itself and succeeds.
 */
static void
test_pg_connection_lost(void)
{
	char		 path[PATH_MAX], err[512], out[32];
	struct client	 c;
	struct loaded	 l;
	unsigned	 n;

	db_path(path, sizeof(path), "pglost");
	CU_ASSERT_EQUAL_FATAL(store_open(st_backend, path, 1, err,
	    sizeof(err)), 0);
	client_fill(&c, "first", "k", "<sip:first@h>", NULL, CLIENT_ONLINE,
	    TRANSPORT_UDP, 1);
	CU_ASSERT_EQUAL(ts_put_client(&c), 0);
	CU_ASSERT_EQUAL(store_unavailable(), 0);

	CU_ASSERT_EQUAL(pg_query(NULL, "SELECT count(pg_terminate_backend(pid))"
	    " FROM pg_stat_activity WHERE datname = 'st_pglost' AND"
	    " application_name = 'sippushd'", out, sizeof(out)), 0);
	CU_ASSERT_STRING_EQUAL(out, "2");	/* the loop's, the writer's */

	client_fill(&c, "second", "k", "<sip:second@h>", NULL,
	    CLIENT_ONLINE, TRANSPORT_UDP, 2);
	CU_ASSERT_EQUAL(ts_begin(), 0);
	CU_ASSERT_EQUAL(ts_put_client(&c), 0);
	CU_ASSERT_EQUAL(ts_commit(), -1);
	CU_ASSERT_EQUAL(store_unavailable(), 1);
	CU_ASSERT(store_failing(&n) > 0);
	CU_ASSERT_EQUAL(n, 1);
	CU_ASSERT(test_contains(store_errhint(), "is PostgreSQL running"));
	CU_ASSERT(*store_errmsg() != '\0');

	/* the next write connects again and writes */
	CU_ASSERT_EQUAL(ts_begin(), 0);
	CU_ASSERT_EQUAL(ts_put_client(&c), 0);
	CU_ASSERT_EQUAL(ts_commit(), 0);
	CU_ASSERT_EQUAL(store_unavailable(), 0);
	CU_ASSERT_EQUAL(store_failing(&n), 0);
	CU_ASSERT_EQUAL(load(&l), 2);
	CU_ASSERT_PTR_NOT_NULL(loaded_find(&l, "first"));
	CU_ASSERT_PTR_NOT_NULL(loaded_find(&l, "second"));
	loaded_free(&l);
	store_close();
}

/* A message's body is bytes (bytea): zeros and high bytes come back. */
static int
body_seen(const struct message_row *r, void *arg)
{
	memcpy(arg, r->body, r->body_len < 8 ? r->body_len : 8);
	return r->body_len == 6 ? 0 : -1;
}

static void
test_pg_body_bytes(void)
{
	char			 path[PATH_MAX], err[512], got[8];
	struct store_batch	 b;
	struct message_row	 m;

	db_path(path, sizeof(path), "pgbody");
	CU_ASSERT_EQUAL_FATAL(store_open(st_backend, path, 1, err,
	    sizeof(err)), 0);
	store_batch_init(&b);
	memset(&m, 0, sizeof(m));
	m.op = STORE_PUT;
	m.id = "mb";
	m.state = "active";
	m.selector = "all";
	m.content_type = "application/octet-stream";
	m.body = "a\0\xff\x01z\n";
	m.body_len = 6;
	m.created_at = 1;
	m.expires_at = 2;
	CU_ASSERT_EQUAL(store_batch_message(&b, &m), 0);
	CU_ASSERT_EQUAL(store_write(&b), 0);
	/* written again (a COMMIT whose answer was lost): the same row */
	CU_ASSERT_EQUAL(store_write(&b), 0);
	store_batch_free(&b);
	memset(got, 0, sizeof(got));
	CU_ASSERT_EQUAL(store_load_messages("mb", 0, NULL, -1, body_seen, got), 1);
	CU_ASSERT_EQUAL(memcmp(got, "a\0\xff\x01z\n", 6), 0);
	store_close();
}

static int test_store_add(CU_pSuite);

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
	CU_ASSERT_EQUAL_FATAL(store_open(st_backend, path, 1, err, sizeof(err)), 0);
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

/* ---- messages and targets (were in test_dispatch.c) ---- */

static void
assert_target(const struct tgt_rec *got, const struct tspec *want,
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

/* Messages and targets through the door: newest first with counts per
 * state, filters, a stopped load, upserts, a refused duplicate, a
 * rollback, reopen, purge with its targets. */
static void
test_messages(void)
{
	char		 path[PATH_MAX], err[512];
	struct message	 m1, m2, m3;
	struct target	 t1[NM1], t2[NM2], t3[1];
	struct msgs	 ml;
	struct tgts	 tl;
	const struct message_row *r;
	static const struct tspec m3_spec[] = {
		{ "alpha", TARGET_PENDING, 0, 0, 0, 0, 0 },
	};
	static const char body1[] = "reload config=v42\nline two: \"quoted\"";

	db_path(path, sizeof(path), "messages.db");
	if (store_open(st_backend, path, 0, err, sizeof(err)) == -1) {
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
	CU_ASSERT_EQUAL(store_load_messages(NULL, 0, NULL, -1, msgs_collect, &ml),
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

	/* the same message ID twice: SQLite refuses it; PostgreSQL's put is
	 * an upsert (a batch written again after a COMMIT whose answer was
	 * lost writes the same rows), so the row is as it was */
	CU_ASSERT_EQUAL(ts_begin(), 0);
	CU_ASSERT_EQUAL(ts_put_message(&m1), 0);
	CU_ASSERT_EQUAL(ts_commit(),
	    strcmp(st_backend, "postgresql") == 0 ? 0 : -1);
	CU_ASSERT_EQUAL(load_msgs(&ml, m1.id, 0, 1), 1);
	assert_counts(msgs_find(&ml, m1.id), 3, 1, 1, 0, 0);
	msgs_free(&ml);

	/* updates: a target acked (upsert), the message done */
	t1[0].state = TARGET_ACKED;
	t1[0].attempts = 1;
	t1[0].last_status = 200;
	t1[0].last_attempt = (T0 + 19) * 1000;
	t1[0].next_attempt = (T0 + 19) * 1000;
	t1[0].acked_at = T0 + 20;
	m1.state = MESSAGE_DONE;
	m1.finished_at = T0 + 200;
	CU_ASSERT_EQUAL(ts_begin(), 0);
	CU_ASSERT_EQUAL(ts_put_target(&m1, &t1[0]), 0);
	CU_ASSERT_EQUAL(ts_set_message_state(&m1), 0);
	CU_ASSERT_EQUAL(ts_commit(), 0);
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
	CU_ASSERT_EQUAL(ts_begin(), 0);
	CU_ASSERT_EQUAL(ts_put_target(&m1, &t1[3]), 0);
	ts_rollback();
	t1[3].state = TARGET_PENDING;
	check_m1_targets(m1.id, 1);

	/* reopen: everything is still there */
	store_close();
	CU_ASSERT_EQUAL_FATAL(store_open(st_backend, path, 1, err, sizeof(err)), 0);
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
	CU_ASSERT_EQUAL(store_purge_messages(T0 + 1000000), 1);	/* m1 */
	CU_ASSERT_EQUAL(load_msgs(&ml, NULL, 0, -1), 1);
	CU_ASSERT(ml.n == 1 && strcmp(ml.r[0].id, m3.id) == 0);
	msgs_free(&ml);
	CU_ASSERT_EQUAL(load_tgts(&tl, m1.id), 0);	/* went with m1 */
	tgts_free(&tl);

	/* and after one more reopen */
	store_close();
	CU_ASSERT_EQUAL_FATAL(store_open(st_backend, path, 0, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(load_msgs(&ml, NULL, 1, -1), 1);
	CU_ASSERT(ml.n == 1 && strcmp(ml.r[0].id, m3.id) == 0);
	if (ml.n == 1)
		assert_counts(&ml.r[0], 1, 0, 0, 0, 0);
	msgs_free(&ml);
	CU_ASSERT_EQUAL(load_tgts(&tl, m3.id), 1);
	tgts_free(&tl);
	store_close();
}

/*
 * Keyset pages of the message listing: newest first by (created_at, id);
 * messages written between two page reads (newer, or in the same second
 * as the last one seen but sorting before it) neither repeat an older
 * message nor skip one.
 */
static void
test_message_pages(void)
{
	static const struct {
		const char	*id;
		int64_t		 created;
	} old[] = {	/* in listing order */
		{ "00000000000000e2", T0 + 2 },
		{ "00000000000000f1", T0 + 1 },
		{ "00000000000000d1", T0 + 1 },
		{ "00000000000000c0", T0 },
		{ "00000000000000b0", T0 },
		{ "00000000000000a0", T0 },
		{ "0000000000000090", T0 - 1 },
	}, later[] = {	/* written after the first page */
		{ "00000000000000ff", T0 + 9 },
		{ "00000000000000f0", T0 + 1 },	/* ties the cursor, before */
		{ "00000000000000d0", T0 + 1 },	/* ties the cursor, after */
	};
	char			 path[PATH_MAX], err[512];
	struct message		 m;
	struct target		 t[1];
	struct message_pos	 pos;
	struct msgs		 ml;
	const char		*seen[16];
	size_t			 i, nseen = 0, nold = sizeof(old) / sizeof(old[0]);
	int			 n, page;
	static const struct tspec spec[] = {
		{ "alpha", TARGET_PENDING, 0, 0, 0, 0, 0 },
	};

	db_path(path, sizeof(path), "pages.db");
	CU_ASSERT_EQUAL_FATAL(store_open(st_backend, path, 0, err, sizeof(err)), 0);
	for (i = 0; i < nold; i++) {
		message_fill(&m, t, old[i].id, "all", "x", old[i].created, 60,
		    spec, 1);
		CU_ASSERT_EQUAL_FATAL(put_all(&m), 0);
	}
	memset(&pos, 0, sizeof(pos));
	for (page = 0; page < 10; page++) {
		memset(&ml, 0, sizeof(ml));
		n = store_load_messages(NULL, 0, page ? &pos : NULL, 3,
		    msgs_collect, &ml);
		CU_ASSERT(n >= 0 && n <= 3);
		for (i = 0; i < (size_t)ml.n && nseen < 16; i++)
			seen[nseen++] = strdup(ml.r[i].id);
		if (ml.n > 0) {
			pos.created_at = ml.r[ml.n - 1].created_at;
			snprintf(pos.id, sizeof(pos.id), "%s",
			    ml.r[ml.n - 1].id);
		}
		msgs_free(&ml);
		if (n < 3)
			break;
		if (page == 0)
			for (i = 0; i < sizeof(later) / sizeof(later[0]);
			    i++) {
				message_fill(&m, t, later[i].id, "all", "y",
				    later[i].created, 60, spec, 1);
				CU_ASSERT_EQUAL_FATAL(put_all(&m), 0);
			}
	}
	/* the first page (3), then the older ones once each, in order; of
	 * the later ones only d0 sorts after the cursor (d1 at T0 + 1) */
	CU_ASSERT_EQUAL(nseen, nold + 1);
	for (i = 0; i < nseen && i < nold + 1; i++) {
		const char *want = i < 3 ? old[i].id : i == 3 ?
		    "00000000000000d0" : old[i - 1].id;

		if (strcmp(seen[i], want) != 0)
			fprintf(stderr, "\npage listing [%zu]: %s, want %s\n",
			    i, seen[i], want);
		CU_ASSERT_STRING_EQUAL(seen[i], want);
	}
	for (i = 0; i < nseen; i++)
		free((char *)seen[i]);
	store_close();
}

int
test_store_register(void)
{
	static char	 names[8][32];
	CU_pSuite	 s;
	size_t		 i;

	/* one suite per backend: adding a backend to store_backends[] and
	 * store_backend_list[] in store.c is all it takes to run the
	 * common tests on it (db_path gives a database of its own) */
	for (i = 0; store_backend_list[i] && i < 8; i++) {
		if (strcmp(store_backend_list[i], "postgresql") == 0) {
			st_pg_server = getenv("SIPPUSH_TEST_PG");
			if (st_pg_server == NULL || *st_pg_server == '\0') {
				fprintf(stderr, "\n"
				    "******************************************"
				    "******************************\n"
				    "*** store/postgresql SKIPPED: SIPPUSH_TEST_PG"
				    " is not set (a conninfo; make\n"
				    "*** check sets it: tests/pg.sh run "
				    "tests/unit)\n"
				    "******************************************"
				    "******************************\n");
				continue;
			}
		}
		snprintf(names[i], sizeof(names[i]), "store/%s",
		    store_backend_list[i]);
		if ((s = CU_add_suite(names[i], store_suite_init,
		    store_suite_clean)) == NULL ||
		    test_store_add(s) == -1)
			return -1;
	}
	return 0;
}

static int
test_store_add_sqlite(CU_pSuite s)
{
	if (CU_add_test(s, "open creates file and schema",
	    test_open_creates) == NULL ||
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
	    test_write_fault) == NULL)
		return -1;
	return 0;
}

/* ---- the cluster: ownership across nodes (PostgreSQL only) ---- */

#define CL_T	1760000000

/* Write client id's row as node writes it (op STORE_PUT or TOUCH). */
static int
cl_client(const char *node, int op, const char *id, const char *class,
    const char *state)
{
	struct store_batch	 b;
	struct client_row	 r;
	int			 rv;

	store_pg_node(node, 0, 10);
	store_batch_init(&b);
	memset(&r, 0, sizeof(r));
	r.op = op;
	r.id = id;
	r.class = class;
	r.state = state;
	r.contact = "<sip:c@127.0.0.1>";
	r.transport = "udp";
	r.address = "127.0.0.1";
	r.port = 5060;
	r.registered_at = CL_T;
	r.expires_at = CL_T + 600;
	r.last_seen = CL_T;
	rv = store_batch_client(&b, &r);
	if (rv == 0)
		rv = store_write(&b);
	store_batch_free(&b);
	return rv;
}

/* Write target (msg, client) in state as node writes it; the messages
 * the write found finished onto *fin. */
static int
cl_target(const char *node, const char *msg, const char *client,
    const char *state, struct store_finished **fin)
{
	struct store_batch	 b;
	struct target_row	 r;
	int			 rv;

	store_pg_node(node, 0, 10);
	store_batch_init(&b);
	b.finished = fin;
	memset(&r, 0, sizeof(r));
	r.op = STORE_PUT;
	r.message_id = msg;
	r.client = client;
	r.state = state;
	r.attempts = 1;
	r.next_attempt = CL_T * 1000LL;
	r.last_status = strcmp(state, "acked") == 0 ? 200 : 0;
	r.acked_at = strcmp(state, "acked") == 0 ? CL_T : 0;
	rv = store_batch_target(&b, &r);
	if (rv == 0)
		rv = store_write(&b);
	store_batch_free(&b);
	return rv;
}

/* Publish id as node to all, or to class, or to the IDs (NULL-ended). */
static int
cl_publish(const char *node, const char *id, int all, const char *class,
    const char *const *ids, struct store_pub *p)
{
	const char	*classes[1] = { class };
	size_t		 n = 0;

	store_pg_node(node, 0, 10);
	while (ids && ids[n])
		n++;
	memset(p, 0, sizeof(*p));
	p->id = id;
	p->selector = "test";
	p->content_type = "text/plain";
	p->body = "hi";
	p->body_len = 2;
	p->created_at = CL_T;
	p->expires_at = CL_T + 60;
	p->now_ms = CL_T * 1000LL;
	p->all = all;
	p->classes = classes;
	p->nclasses = class ? 1 : 0;
	p->ids = ids;
	p->nids = n;
	p->max_pending = 100;
	return store_pg_publish(p);
}

/* The first column of the first row of sql on path's database. */
static const char *
cl_q(const char *path, const char *sql)
{
	static char	 out[256];

	if (pg_query(path, sql, out, sizeof(out)) == -1)
		snprintf(out, sizeof(out), "(failed)");
	return out;
}

static size_t
cl_nfinished(struct store_finished *f)
{
	size_t	 n = 0;

	for (; f; f = f->next)
		n++;
	return n;
}

/*
 * A REGISTER at another node takes the client and its unfinished
 * targets in the transaction that writes its row, and tells the node
 * that had it (sippush_node_<name>, the client's ID); that node's later
 * writes of the client and of its targets change nothing.
 */
static void
test_pg_cluster_takeover(void)
{
	char			 path[PATH_MAX], err[512];
	const char		*ids[] = { "x1", NULL };
	struct store_pub	 p;
	struct store_finished	*fin = NULL;
	PGconn			*ln;
	PGnotify		*nt = NULL;
	int			 i;

	db_path(path, sizeof(path), "pgtake");
	CU_ASSERT_EQUAL_FATAL(store_open(st_backend, path, 1, err,
	    sizeof(err)), 0);
	CU_ASSERT_EQUAL(cl_client("na", STORE_PUT, "x1", "k", "online"), 0);
	CU_ASSERT_EQUAL(cl_publish("na", "00000000000000a1", 0, NULL, ids,
	    &p), 0);
	CU_ASSERT_STRING_EQUAL(cl_q(path, "SELECT owner FROM targets"), "na");

	ln = PQconnectdb(path);
	CU_ASSERT_EQUAL_FATAL(PQstatus(ln), CONNECTION_OK);
	PQclear(PQexec(ln, "LISTEN sippush_node_na"));

	/* x1 registers with nb */
	CU_ASSERT_EQUAL(cl_client("nb", STORE_PUT, "x1", "k", "online"), 0);
	CU_ASSERT_STRING_EQUAL(cl_q(path, "SELECT owner FROM clients"), "nb");
	CU_ASSERT_STRING_EQUAL(cl_q(path, "SELECT owner FROM targets"), "nb");
	for (i = 0; i < 50 && nt == NULL; i++) {
		PQconsumeInput(ln);
		if ((nt = PQnotifies(ln)) == NULL)
			usleep(20000);
	}
	CU_ASSERT_PTR_NOT_NULL(nt);
	if (nt) {
		CU_ASSERT_STRING_EQUAL(nt->relname, "sippush_node_na");
		CU_ASSERT_STRING_EQUAL(nt->extra, "x1");
		PQfreemem(nt);
	}
	PQfinish(ln);

	/* na, late, still thinks it has both: nothing it writes counts */
	CU_ASSERT_EQUAL(cl_client("na", STORE_TOUCH, "x1", "k", "offline"),
	    0);
	CU_ASSERT_EQUAL(cl_client("na", STORE_PUT, "x1", "k", "expired"), 0);
	CU_ASSERT_STRING_EQUAL(cl_q(path, "SELECT state || ':' || owner FROM"
	    " clients"), "online:nb");
	CU_ASSERT_EQUAL(cl_target("na", "00000000000000a1", "x1", "failed",
	    &fin), 0);
	CU_ASSERT_STRING_EQUAL(cl_q(path, "SELECT state FROM targets"),
	    "pending");
	CU_ASSERT_PTR_NULL(fin);
	/* the owner's write does */
	CU_ASSERT_EQUAL(cl_target("nb", "00000000000000a1", "x1", "acked",
	    &fin), 0);
	CU_ASSERT_STRING_EQUAL(cl_q(path, "SELECT state FROM targets"),
	    "acked");
	CU_ASSERT_EQUAL(cl_nfinished(fin), 1);
	store_finished_free(fin);
	store_pg_node("", 0, 0);
	store_close();
}

/*
 * A publish chooses its targets in SQL from the clients table: every
 * client for all (in any state), those of a class, the IDs given (one
 * that is no client refuses it, nothing written); each target is owned
 * by its client's node when the client is online, else parked.
 */
static void
test_pg_cluster_publish(void)
{
	char			 path[PATH_MAX], err[512];
	const char		*bad[] = { "x1", "nosuch", NULL };
	const char		*one[] = { "x1", NULL };
	struct store_pub	 p;

	db_path(path, sizeof(path), "pgpub");
	CU_ASSERT_EQUAL_FATAL(store_open(st_backend, path, 1, err,
	    sizeof(err)), 0);
	CU_ASSERT_EQUAL(cl_client("na", STORE_PUT, "x1", "k", "online"), 0);
	CU_ASSERT_EQUAL(cl_client("nb", STORE_PUT, "y1", "k", "online"), 0);
	CU_ASSERT_EQUAL(cl_client("na", STORE_PUT, "z1", "j", "online"), 0);
	CU_ASSERT_EQUAL(cl_client("na", STORE_TOUCH, "z1", "j", "offline"),
	    0);

	CU_ASSERT_EQUAL(cl_publish("nb", "00000000000000b1", 1, NULL, NULL,
	    &p), 0);
	CU_ASSERT_EQUAL(p.targets, 3);
	CU_ASSERT_EQUAL(p.online, 2);
	CU_ASSERT_EQUAL(p.udp, 3);
	CU_ASSERT_STRING_EQUAL(cl_q(path, "SELECT string_agg(client_id || '="
	    "' || coalesce(owner, '-') || ':' || state, ',' ORDER BY"
	    " client_id) FROM targets WHERE message_id = '00000000000000b1'"),
	    "x1=na:pending,y1=nb:pending,z1=-:pending");

	CU_ASSERT_EQUAL(cl_publish("na", "00000000000000b2", 0, "j", NULL,
	    &p), 0);
	CU_ASSERT_EQUAL(p.targets, 1);
	CU_ASSERT_EQUAL(p.online, 0);
	CU_ASSERT_STRING_EQUAL(cl_q(path, "SELECT client_id || '=' ||"
	    " coalesce(owner, '-') FROM targets WHERE message_id ="
	    " '00000000000000b2'"), "z1=-");

	/* refused: nothing of them written */
	CU_ASSERT_EQUAL(cl_publish("na", "00000000000000b3", 0, NULL, bad,
	    &p), 1);
	CU_ASSERT_STRING_EQUAL(p.missing, "nosuch");
	CU_ASSERT_EQUAL(cl_publish("na", "00000000000000b4", 0, "none", NULL,
	    &p), 1);
	CU_ASSERT_EQUAL(p.targets, 0);
	p.max_pending = 1;
	CU_ASSERT_EQUAL(cl_publish("na", "00000000000000b5", 0, NULL, one,
	    &p), 0);	/* x1 had 1 unfinished: under 100 */
	CU_ASSERT_STRING_EQUAL(cl_q(path, "SELECT count(*) FROM messages"),
	    "3");
	CU_ASSERT_STRING_EQUAL(cl_q(path, "SELECT count(*) FROM targets WHERE"
	    " message_id IN ('00000000000000b3', '00000000000000b4')"), "0");
	store_pg_node("", 0, 0);
	store_close();
}

/*
 * A message whose targets two nodes hold is finished by the write that
 * ends the last unfinished one, wherever: once (finished_at set, one
 * entry for its "finished" event), and not again.
 */
static void
test_pg_cluster_complete(void)
{
	char			 path[PATH_MAX], err[512];
	const char		*urls[] = { "http://w.test/1", "http://w.test/2" };
	struct store_pub	 p;
	struct store_finished	*fin = NULL;
	struct store_finished_ev *ev;
	int			 nev = 0;

	db_path(path, sizeof(path), "pgdone");
	CU_ASSERT_EQUAL_FATAL(store_open(st_backend, path, 1, err,
	    sizeof(err)), 0);
	store_pg_webhooks(urls, 2, 1);
	CU_ASSERT_EQUAL(cl_client("na", STORE_PUT, "x1", "k", "online"), 0);
	CU_ASSERT_EQUAL(cl_client("nb", STORE_PUT, "y1", "k", "online"), 0);
	CU_ASSERT_EQUAL(cl_publish("na", "00000000000000c1", 1, NULL, NULL,
	    &p), 0);
	CU_ASSERT_EQUAL(p.targets, 2);

	CU_ASSERT_EQUAL(cl_target("na", "00000000000000c1", "x1", "acked",
	    &fin), 0);
	CU_ASSERT_PTR_NULL(fin);
	CU_ASSERT_STRING_EQUAL(cl_q(path, "SELECT state || ':' ||"
	    " coalesce(finished_at::text, '-') FROM messages"), "active:-");

	CU_ASSERT_EQUAL(cl_target("nb", "00000000000000c1", "y1", "failed",
	    &fin), 0);
	CU_ASSERT_EQUAL_FATAL(cl_nfinished(fin), 1);
	CU_ASSERT_STRING_EQUAL(fin->id, "00000000000000c1");
	CU_ASSERT_EQUAL(fin->count[TARGET_ACKED], 1);
	CU_ASSERT_EQUAL(fin->count[TARGET_FAILED], 1);
	CU_ASSERT_EQUAL(fin->cancelled, 0);
	/* its "finished" events, one per URL, in the same transaction */
	for (ev = fin->events; ev; ev = ev->next) {
		nev++;
		CU_ASSERT(test_contains(ev->body, "\"message_id\" : "
		    "\"00000000000000c1\""));
		CU_ASSERT(test_contains(ev->body, "\"state\" : \"done\""));
	}
	CU_ASSERT_EQUAL(nev, 2);
	store_finished_free(fin);
	fin = NULL;
	CU_ASSERT_STRING_EQUAL(cl_q(path, "SELECT state FROM messages"),
	    "done");
	CU_ASSERT_STRING_EQUAL(cl_q(path, "SELECT string_agg(url, ',' ORDER BY"
	    " url) FROM outbox WHERE event = 'finished'"),
	    "http://w.test/1,http://w.test/2");

	/* written again (a batch retried): not finished twice */
	CU_ASSERT_EQUAL(cl_target("nb", "00000000000000c1", "y1", "failed",
	    &fin), 0);
	CU_ASSERT_EQUAL(cl_target("na", "00000000000000c1", "x1", "acked",
	    &fin), 0);
	CU_ASSERT_PTR_NULL(fin);
	CU_ASSERT_STRING_EQUAL(cl_q(path, "SELECT count(*) FROM outbox"), "2");
	store_pg_webhooks(NULL, 0, 1);
	store_pg_node("", 0, 0);
	store_close();
}

struct cl_polled {
	char	 owned[4][MESSAGE_ID_LEN + 1];
	size_t	 nowned[4];
	int	 n;
	char	 gone[4][CLIENT_ID_MAX + 1];
	int	 cancelled[4];
	int	 ngone;
	int	 targets;
};

static int
cl_poll_owned(const char *id, size_t n, void *arg)
{
	struct cl_polled	*cp = arg;

	if (cp->n == 4)
		return -1;
	snprintf(cp->owned[cp->n], sizeof(cp->owned[0]), "%s", id);
	cp->nowned[cp->n++] = n;
	return 0;
}

static int
cl_poll_gone(const char *id, int cancelled, void *arg)
{
	struct cl_polled	*cp = arg;

	if (cp->ngone == 4)
		return -1;
	snprintf(cp->gone[cp->ngone], sizeof(cp->gone[0]), "%s", id);
	cp->cancelled[cp->ngone++] = cancelled;
	return 0;
}

static int
cl_gone(const struct cl_polled *cp, const char *id, int cancelled)
{
	int	 i;

	for (i = 0; i < cp->ngone; i++)
		if (strcmp(cp->gone[i], id) == 0 &&
		    cp->cancelled[i] == cancelled)
			return 1;
	return 0;
}

static int
cl_load_msg(const struct message_row *r, void *arg)
{
	(void)r;
	(void)arg;
	return 0;
}

static int
cl_load_target(const struct target_row *r, void *arg)
{
	struct cl_polled	*cp = arg;

	(void)r;
	cp->targets++;
	return 0;
}

/*
 * The poll finds what a missed notification would have said: a message
 * published elsewhere with targets of this node, a client another node
 * took, a message cancelled elsewhere, users changed.
 */
static void
test_pg_cluster_poll(void)
{
	char			 path[PATH_MAX], err[512], sum[40], sum2[40];
	struct store_pub	 p;
	struct store_finished	*fin = NULL;
	struct cl_polled	 cp;
	size_t			 n;

	db_path(path, sizeof(path), "pgpoll");
	CU_ASSERT_EQUAL_FATAL(store_open(st_backend, path, 1, err,
	    sizeof(err)), 0);
	CU_ASSERT_EQUAL(cl_client("na", STORE_PUT, "x1", "k", "online"), 0);
	CU_ASSERT_EQUAL(cl_client("nb", STORE_PUT, "y1", "k", "online"), 0);
	store_pg_node("nb", 0, 10);
	memset(&cp, 0, sizeof(cp));
	CU_ASSERT_EQUAL(store_pg_poll(CL_T, 1, 1, cl_poll_owned, cl_poll_gone,
	    sum, sizeof(sum), &cp), 0);
	CU_ASSERT_EQUAL(cp.n, 0);
	CU_ASSERT_EQUAL(cp.ngone, 1);	/* x1: another node's */
	CU_ASSERT(cl_gone(&cp, "x1", 0));

	/* published on na: nb's poll finds its target, its load reads it */
	CU_ASSERT_EQUAL(cl_publish("na", "00000000000000d1", 1, NULL, NULL,
	    &p), 0);
	store_pg_node("nb", 0, 10);
	memset(&cp, 0, sizeof(cp));
	CU_ASSERT_EQUAL(store_pg_poll(CL_T, 1, 1, cl_poll_owned, cl_poll_gone,
	    sum, sizeof(sum), &cp), 0);
	CU_ASSERT_EQUAL_FATAL(cp.n, 1);
	CU_ASSERT_STRING_EQUAL(cp.owned[0], "00000000000000d1");
	CU_ASSERT_EQUAL(cp.nowned[0], 1);
	/* the light poll (most rounds) neither counts nor digests */
	memset(&cp, 0, sizeof(cp));
	snprintf(sum2, sizeof(sum2), "x");
	CU_ASSERT_EQUAL(store_pg_poll(CL_T, 1, 0, cl_poll_owned, cl_poll_gone,
	    sum2, sizeof(sum2), &cp), 0);
	CU_ASSERT_EQUAL(cp.n, 0);
	CU_ASSERT_STRING_EQUAL(sum2, "");
	CU_ASSERT(cl_gone(&cp, "x1", 0));	/* still looked for */
	CU_ASSERT_EQUAL(store_pg_load_owned("00000000000000d1", NULL, 0,
	    cl_load_msg, cl_load_target, &cp), 1);
	CU_ASSERT_EQUAL(cp.targets, 1);

	/* x1 moves to nb; the message is cancelled on na */
	CU_ASSERT_EQUAL(cl_client("nb", STORE_PUT, "x1", "k", "online"), 0);
	store_pg_node("na", 0, 10);
	CU_ASSERT_EQUAL(store_pg_cancel("00000000000000d1", CL_T + 1, &n,
	    &fin), 1);
	CU_ASSERT_EQUAL(n, 2);
	CU_ASSERT_EQUAL(cl_nfinished(fin), 1);
	store_finished_free(fin);
	fin = NULL;
	CU_ASSERT_EQUAL(store_pg_cancel("00000000000000d1", CL_T + 1, &n,
	    &fin), 2);
	CU_ASSERT_EQUAL(store_pg_cancel("00000000000000ff", CL_T + 1, &n,
	    &fin), 0);
	memset(&cp, 0, sizeof(cp));
	CU_ASSERT_EQUAL(store_pg_poll(CL_T, 1, 1, cl_poll_owned, cl_poll_gone,
	    sum, sizeof(sum), &cp), 0);
	CU_ASSERT_EQUAL(cp.n, 0);
	CU_ASSERT_EQUAL(cp.ngone, 3);	/* x1, y1: nb's; d1 cancelled */
	CU_ASSERT(cl_gone(&cp, "x1", 0));
	CU_ASSERT(cl_gone(&cp, "00000000000000d1", 1));
	CU_ASSERT(!cl_gone(&cp, "00000000000000d1", 0));
	/* later than since: nothing */
	memset(&cp, 0, sizeof(cp));
	CU_ASSERT_EQUAL(store_pg_poll(CL_T + 5, 1, 1, cl_poll_owned,
	    cl_poll_gone, sum, sizeof(sum), &cp), 0);
	CU_ASSERT_EQUAL(cp.ngone, 0);

	/* a user added: the digest changes */
	CU_ASSERT_EQUAL(ts_put_user("u1", "r", "aa", "bb", CL_T), 0);
	CU_ASSERT_EQUAL(store_pg_poll(CL_T + 5, 1, 1, cl_poll_owned,
	    cl_poll_gone, sum2, sizeof(sum2), &cp), 0);
	CU_ASSERT_STRING_NOT_EQUAL(sum, sum2);
	store_pg_node("", 0, 0);
	store_close();
}

/* Parked targets whose TTL ran out expire, and their message is
 * finished; targets a node owns are its own to expire. */
static void
test_pg_cluster_expire(void)
{
	char			 path[PATH_MAX], err[512];
	struct store_pub	 p;
	struct store_finished	*fin = NULL;

	db_path(path, sizeof(path), "pgexp");
	CU_ASSERT_EQUAL_FATAL(store_open(st_backend, path, 1, err,
	    sizeof(err)), 0);
	CU_ASSERT_EQUAL(cl_client("na", STORE_PUT, "x1", "k", "online"), 0);
	CU_ASSERT_EQUAL(cl_client("na", STORE_PUT, "z1", "j", "online"), 0);
	CU_ASSERT_EQUAL(cl_client("na", STORE_TOUCH, "z1", "j", "offline"),
	    0);
	CU_ASSERT_EQUAL(cl_publish("na", "00000000000000e1", 0, "j", NULL,
	    &p), 0);
	CU_ASSERT_EQUAL(cl_publish("na", "00000000000000e2", 0, "k", NULL,
	    &p), 0);
	store_pg_node("nb", 0, 10);
	CU_ASSERT_EQUAL(store_pg_expire_parked(CL_T + 30, &fin), 0);
	CU_ASSERT_PTR_NULL(fin);
	CU_ASSERT_EQUAL(store_pg_expire_parked(CL_T + 60, &fin), 1);
	CU_ASSERT_EQUAL_FATAL(cl_nfinished(fin), 1);
	CU_ASSERT_STRING_EQUAL(fin->id, "00000000000000e1");
	CU_ASSERT_EQUAL(fin->count[TARGET_EXPIRED], 1);
	store_finished_free(fin);
	CU_ASSERT_STRING_EQUAL(cl_q(path, "SELECT string_agg(state, ','"
	    " ORDER BY id) FROM messages"), "done,active");
	store_pg_node("", 0, 0);
	store_close();
}

static int
test_store_add_pg(CU_pSuite s)
{
	if (CU_add_test(s, "open creates the schema, once",
	    test_pg_open_creates) == NULL ||
	    CU_add_test(s, "schema newer than known is refused",
	    test_pg_schema_too_new) == NULL ||
	    CU_add_test(s, "the password is masked", test_pg_mask) == NULL ||
	    CU_add_test(s, "open errors name the conninfo, masked",
	    test_pg_open_errors) == NULL ||
	    CU_add_test(s, "a lost connection fails a write, then reconnects",
	    test_pg_connection_lost) == NULL ||
	    CU_add_test(s, "a body is bytes, a message written twice is one",
	    test_pg_body_bytes) == NULL ||
	    CU_add_test(s, "cluster: a REGISTER elsewhere takes the targets",
	    test_pg_cluster_takeover) == NULL ||
	    CU_add_test(s, "cluster: publish chooses owners or parks",
	    test_pg_cluster_publish) == NULL ||
	    CU_add_test(s, "cluster: a message is finished once",
	    test_pg_cluster_complete) == NULL ||
	    CU_add_test(s, "cluster: the poll finds what was missed",
	    test_pg_cluster_poll) == NULL ||
	    CU_add_test(s, "cluster: parked targets reach their TTL",
	    test_pg_cluster_expire) == NULL)
		return -1;
	return 0;
}

static int
test_store_add(CU_pSuite s)
{
	const char	*name = strchr(s->pName, '/') + 1;

	if (CU_add_test(s, "rows: target pages, users, purge",
	    test_rows_contract) == NULL ||
	    CU_add_test(s, "messages and targets: load, update, purge",
	    test_messages) == NULL ||
	    CU_add_test(s, "message listing: keyset pages",
	    test_message_pages) == NULL ||
	    CU_add_test(s, "clients listing: keyset pages, filters",
	    test_client_pages) == NULL ||
	    CU_add_test(s, "token rows: batch, load, delete", test_tokens) ==
	    NULL ||
	    CU_add_test(s, "webhook outbox: put, touch, delete, reload",
	    test_outbox) == NULL ||
	    CU_add_test(s, "put/touch/delete/load round trip",
	    test_roundtrip) == NULL ||
	    CU_add_test(s, "reopen keeps the data", test_reopen) == NULL ||
	    CU_add_test(s, "commit and rollback", test_commit_rollback) ==
	    NULL ||
	    CU_add_test(s, "refused row, stopped load", test_bad_row) ==
	    NULL ||
	    CU_add_test(s, "a batch of 10,000 rows is one transaction",
	    test_big_batch) == NULL ||
	    CU_add_test(s, "a batch keeps its own copy of a client's strings",
	    test_batch_copies) == NULL)
		return -1;
	if (strcmp(name, "sqlite") == 0)
		return test_store_add_sqlite(s);
	if (strcmp(name, "postgresql") == 0)
		return test_store_add_pg(s);
	return 0;
}
