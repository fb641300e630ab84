/*
 * test_cluster.c: the nodes of a cluster in PostgreSQL (store_pg_join,
 * store_pg_renew, store_pg_reap, store_pg_drain, store_pg_nodes) and the
 * fence every batch of a node goes through (sippush_fence). Runs on the
 * server SIPPUSH_TEST_PG names (make check sets it: tests/pg.sh), each
 * test in a database of its own; skipped without one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <pthread.h>

#include <CUnit/CUnit.h>
#include <libpq-fe.h>

#include "sippushd.h"
#include "tests.h"

static const char *cl_server;		/* SIPPUSH_TEST_PG */

/* Run sql on conninfo; the first column of the first row into out (if
 * given, "NULL" for a null). 0, or -1 (printed). */
static int
cl_sql(const char *conninfo, const char *sql, char *out, size_t len)
{
	PGconn		*db = PQconnectdb(conninfo);
	PGresult	*r;
	int		 rv = -1;

	if (PQstatus(db) == CONNECTION_OK) {
		PQclear(PQexec(db, "SET client_min_messages = warning"));
		r = PQexec(db, sql);
		if (PQresultStatus(r) == PGRES_COMMAND_OK ||
		    PQresultStatus(r) == PGRES_TUPLES_OK) {
			rv = 0;
			if (out && PQntuples(r) > 0)
				snprintf(out, len, "%s", PQgetisnull(r, 0, 0) ?
				    "NULL" : PQgetvalue(r, 0, 0));
			else if (out)
				snprintf(out, len, "(no row)");
		} else
			fprintf(stderr, "\ncl_sql: %s: %s", sql,
			    PQresultErrorMessage(r));
		PQclear(r);
	} else
		fprintf(stderr, "\ncl_sql: %s", PQerrorMessage(db));
	PQfinish(db);
	return rv;
}

/* A fresh database called name, opened as the store; its conninfo in
 * conn. */
static void
cl_open(const char *name, char *conn, size_t len)
{
	char	 sql[160], err[512];

	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS cl_%s WITH (FORCE)",
	    name);
	CU_ASSERT_EQUAL_FATAL(cl_sql(cl_server, sql, NULL, 0), 0);
	snprintf(sql, sizeof(sql), "CREATE DATABASE cl_%s", name);
	CU_ASSERT_EQUAL_FATAL(cl_sql(cl_server, sql, NULL, 0), 0);
	snprintf(conn, len, "%s dbname=cl_%s", cl_server, name);
	if (store_open("postgresql", conn, 0, err, sizeof(err)) == -1) {
		fprintf(stderr, "\nstore_open: %s\n", err);
		CU_FAIL_FATAL("store_open failed");
	}
}

/* The first column of sql's first row, as a string (static). */
static const char *
cl_get(const char *conn, const char *sql)
{
	static char	 out[256];

	if (cl_sql(conn, sql, out, sizeof(out)) == -1)
		snprintf(out, sizeof(out), "(failed)");
	return out;
}

/* One client row for a batch. */
static void
cl_client(struct store_batch *b, const char *id)
{
	struct client_row	 r;

	memset(&r, 0, sizeof(r));
	r.op = STORE_PUT;
	r.id = id;
	r.class = "k";
	r.state = "online";
	r.contact = "<sip:x@127.0.0.1:5999>";
	r.transport = "udp";
	r.address = "127.0.0.1";
	r.port = 5999;
	r.registered_at = 1000;
	r.expires_at = 99999999999LL;
	r.last_seen = 1000;
	CU_ASSERT_EQUAL_FATAL(store_batch_client(b, &r), 0);
}

/* Write one client row as (node, epoch): store_write's answer. */
static int
cl_write(const char *node, int64_t epoch, const char *id)
{
	struct store_batch	 b;
	int			 rv;

	store_pg_node(node, epoch, 5);
	store_batch_init(&b);
	b.epoch = epoch;
	cl_client(&b, id);
	rv = store_write(&b);
	store_batch_free(&b);
	return rv;
}

struct cl_seen {
	int	 n;
	char	 names[4][64];
	long	 clients, targets;
};

static int
cl_node_row(const struct node_row *r, void *arg)
{
	struct cl_seen	*s = arg;

	if (s->n < 4)
		snprintf(s->names[s->n], sizeof(s->names[0]), "%s/%s/%lld",
		    r->name, r->state, (long long)r->epoch);
	s->n++;
	return 0;
}

static void
cl_reaped(const char *name, long clients, long targets, void *arg)
{
	struct cl_seen	*s = arg;

	if (s->n < 4)
		snprintf(s->names[s->n], sizeof(s->names[0]), "%s", name);
	s->n++;
	s->clients = clients;
	s->targets = targets;
}

/* Joining takes the next epoch; a renewal under an old epoch, or by a
 * node marked down, is refused as fenced; drain sets the state a renewal
 * reads back. */
static void
test_join_renew_drain(void)
{
	char		 conn[512];
	int64_t		 e1 = 0, e2 = 0, e3 = 0;
	int		 draining = -1;
	struct cl_seen	 s;

	cl_open("join", conn, sizeof(conn));
	CU_ASSERT_EQUAL(store_pg_join("n1", "127.0.0.2:5060", 5, &e1), 0);
	CU_ASSERT_EQUAL(e1, 1);
	CU_ASSERT_EQUAL(store_pg_join("n1", "127.0.0.2:5060", 5, &e2), 0);
	CU_ASSERT_EQUAL(e2, 2);
	CU_ASSERT_EQUAL(store_pg_join("n2", "127.0.0.3:5060", 5, &e3), 0);
	CU_ASSERT_EQUAL(e3, 1);

	CU_ASSERT_EQUAL(store_pg_renew("n1", e2, 5, 7, &draining), 0);
	CU_ASSERT_EQUAL(draining, 0);
	CU_ASSERT_STRING_EQUAL(cl_get(conn, "SELECT clients FROM nodes "
	    "WHERE name = 'n1'"), "7");
	/* the epoch before: superseded */
	CU_ASSERT_EQUAL(store_pg_renew("n1", e1, 5, 7, &draining), 1);
	/* no such node */
	CU_ASSERT_EQUAL(store_pg_renew("n9", 1, 5, 0, &draining), 1);

	CU_ASSERT_EQUAL(store_pg_drain("n1", 1), 1);
	CU_ASSERT_EQUAL(store_pg_renew("n1", e2, 5, 7, &draining), 0);
	CU_ASSERT_EQUAL(draining, 1);
	CU_ASSERT_EQUAL(store_pg_drain("n1", 0), 1);
	CU_ASSERT_EQUAL(store_pg_renew("n1", e2, 5, 7, &draining), 0);
	CU_ASSERT_EQUAL(draining, 0);
	CU_ASSERT_EQUAL(store_pg_drain("n9", 1), 0);

	memset(&s, 0, sizeof(s));
	CU_ASSERT_EQUAL(store_pg_nodes(cl_node_row, &s), 2);
	CU_ASSERT_STRING_EQUAL(s.names[0], "n1/up/2");
	CU_ASSERT_STRING_EQUAL(s.names[1], "n2/up/1");

	/* marked down: its renewals are refused, and so is a drain */
	CU_ASSERT_EQUAL(cl_sql(conn, "UPDATE nodes SET state = 'down' WHERE "
	    "name = 'n2'", NULL, 0), 0);
	CU_ASSERT_EQUAL(store_pg_renew("n2", e3, 5, 0, &draining), 1);
	CU_ASSERT_EQUAL(store_pg_drain("n2", 1), 0);
	/* joining again brings it up with the next epoch */
	CU_ASSERT_EQUAL(store_pg_join("n2", "127.0.0.3:5060", 5, &e3), 0);
	CU_ASSERT_EQUAL(e3, 2);
	CU_ASSERT_EQUAL(store_pg_renew("n2", e3, 5, 0, &draining), 0);
	store_pg_node("", 0, 0);
	store_close();
}

/* A batch made under an epoch that is no longer the node's, or after its
 * lease lapsed, is refused whole (SP001) and says so once; the same
 * batch under the current epoch is written. */
static void
test_fence_batch(void)
{
	char		 conn[512], sql[160];
	int64_t		 e1 = 0, e2 = 0;
	PGconn		*held;
	PGresult	*r;

	cl_open("fence", conn, sizeof(conn));
	CU_ASSERT_EQUAL(store_pg_join("n1", "127.0.0.2:5060", 5, &e1), 0);
	CU_ASSERT_EQUAL(cl_write("n1", e1, "a1"), 0);
	CU_ASSERT_EQUAL(store_pg_fenced(), 0);
	CU_ASSERT_STRING_EQUAL(cl_get(conn, "SELECT count(*) FROM clients"),
	    "1");
	/* a batch holds the node's row share-locked only: a transaction
	 * that stays open after its fence (a big publish, or a node stopped
	 * half-way) holds up neither the lease's renewal nor a reaper */
	held = PQconnectdb(conn);
	CU_ASSERT_EQUAL_FATAL(PQstatus(held), CONNECTION_OK);
	PQclear(PQexec(held, "BEGIN"));
	snprintf(sql, sizeof(sql), "SELECT sippush_fence('n1', %lld, 5)",
	    (long long)e1);
	r = PQexec(held, sql);
	CU_ASSERT_EQUAL(PQresultStatus(r), PGRES_TUPLES_OK);
	PQclear(r);
	snprintf(sql, sizeof(sql), "SET lock_timeout = '2s'; "
	    "SELECT sippush_renew('n1', %lld, 5); "
	    "UPDATE nodes SET state = 'up' WHERE name = 'n1'", (long long)e1);
	CU_ASSERT_EQUAL(cl_sql(conn, sql, NULL, 0), 0);
	PQfinish(held);

	/* joined again (a restart, or after a fence): the old epoch's
	 * batch is refused, nothing of it written */
	CU_ASSERT_EQUAL(store_pg_join("n1", "127.0.0.2:5060", 5, &e2), 0);
	CU_ASSERT_EQUAL(cl_write("n1", e1, "a2"), -1);
	CU_ASSERT_EQUAL(store_pg_fenced(), 1);
	CU_ASSERT_EQUAL(store_pg_fenced(), 0);	/* said once */
	CU_ASSERT_STRING_EQUAL(cl_get(conn, "SELECT count(*) FROM clients "
	    "WHERE id = 'a2'"), "0");
	CU_ASSERT_EQUAL(cl_write("n1", e2, "a2"), 0);
	CU_ASSERT_STRING_EQUAL(cl_get(conn, "SELECT count(*) FROM clients "
	    "WHERE id = 'a2'"), "1");

	/* the lease lapsed (as after a SIGSTOP): refused too */
	CU_ASSERT_EQUAL(cl_sql(conn, "UPDATE nodes SET lease_until = now() - "
	    "interval '1 second'", NULL, 0), 0);
	CU_ASSERT_EQUAL(cl_write("n1", e2, "a3"), -1);
	CU_ASSERT_EQUAL(store_pg_fenced(), 1);
	CU_ASSERT_STRING_EQUAL(cl_get(conn, "SELECT count(*) FROM clients "
	    "WHERE id = 'a3'"), "0");
	/* so is the node's own transaction (a cancel, a publish): the loop
	 * hears of it the same way */
	store_pg_node("n1", e2, 5);
	{
		size_t			 n = 0;
		struct store_finished	*fin = NULL;

		CU_ASSERT_EQUAL(store_pg_cancel("00112233445566aa", 1000, &n,
		    &fin), -1);
		store_finished_free(fin);
	}
	CU_ASSERT_EQUAL(store_pg_fenced(), 1);
	/* a batch with no epoch (no cluster) is not fenced */
	CU_ASSERT_EQUAL(cl_write("n1", 0, "a4"), 0);
	CU_ASSERT_EQUAL(store_pg_fenced(), 0);
	store_pg_node("", 0, 0);
	store_close();
}

/* A node whose lease lapsed is marked down by the reaper: its clients
 * offline with no owner, its unfinished targets parked; its finished
 * targets and the other nodes' rows stay. Once, not twice. */
static void
test_reap(void)
{
	char		 conn[512];
	int64_t		 e1 = 0, e2 = 0;
	int		 draining;
	struct cl_seen	 s;
	PGconn		*held;

	cl_open("reap", conn, sizeof(conn));
	CU_ASSERT_EQUAL(store_pg_join("n1", "127.0.0.2:5060", 5, &e1), 0);
	CU_ASSERT_EQUAL(store_pg_join("n2", "127.0.0.3:5060", 5, &e2), 0);
	CU_ASSERT_EQUAL(cl_write("n1", e1, "c1"), 0);
	CU_ASSERT_EQUAL(cl_write("n1", e1, "c2"), 0);
	CU_ASSERT_EQUAL(cl_sql(conn,
	    "UPDATE clients SET owner = CASE id WHEN 'c1' THEN 'n2' "
	    "ELSE 'n1' END;"
	    "INSERT INTO messages (id, state, selector, content_type, body, "
	    "created_at, expires_at) VALUES ('m1', 'active', 'all', "
	    "'text/plain', 'x', 1, 99999999999);"
	    "INSERT INTO targets (message_id, client_id, state, owner) VALUES "
	    "('m1', 'c1', 'pending', 'n2'), ('m1', 'c2', 'sent', 'n1');"
	    "INSERT INTO messages (id, state, selector, content_type, body, "
	    "created_at, expires_at) VALUES ('m2', 'active', 'all', "
	    "'text/plain', 'x', 1, 99999999999);"
	    "INSERT INTO targets (message_id, client_id, state, owner) VALUES "
	    "('m2', 'c1', 'acked', 'n2')", NULL, 0), 0);

	/* nobody lapsed: nothing */
	memset(&s, 0, sizeof(s));
	CU_ASSERT_EQUAL(store_pg_reap(cl_reaped, &s), 0);
	CU_ASSERT_EQUAL(s.n, 0);

	CU_ASSERT_EQUAL(cl_sql(conn, "UPDATE nodes SET lease_until = now() - "
	    "interval '1 second' WHERE name = 'n2'", NULL, 0), 0);
	/* another reaper stopped (SIGSTOP) inside a transaction holding
	 * what it took (here: the advisory lock reaping once took) must not
	 * keep this one from reaping */
	held = PQconnectdb(conn);
	CU_ASSERT_EQUAL_FATAL(PQstatus(held), CONNECTION_OK);
	PQclear(PQexec(held, "BEGIN"));
	PQclear(PQexec(held, "SELECT pg_advisory_xact_lock("
	    "7310302143262281073)"));
	memset(&s, 0, sizeof(s));
	CU_ASSERT_EQUAL(store_pg_reap(cl_reaped, &s), 1);
	PQfinish(held);
	CU_ASSERT_EQUAL(s.n, 1);
	CU_ASSERT_STRING_EQUAL(s.names[0], "n2");
	CU_ASSERT_EQUAL(s.clients, 1);
	CU_ASSERT_EQUAL(s.targets, 1);
	CU_ASSERT_STRING_EQUAL(cl_get(conn, "SELECT state FROM nodes WHERE "
	    "name = 'n2'"), "down");
	CU_ASSERT_STRING_EQUAL(cl_get(conn, "SELECT state || '/' || "
	    "coalesce(owner, 'none') FROM clients WHERE id = 'c1'"),
	    "offline/none");
	CU_ASSERT_STRING_EQUAL(cl_get(conn, "SELECT state || '/' || "
	    "coalesce(owner, 'none') FROM clients WHERE id = 'c2'"),
	    "online/n1");
	CU_ASSERT_STRING_EQUAL(cl_get(conn, "SELECT coalesce(owner, 'parked') "
	    "FROM targets WHERE message_id = 'm1' AND client_id = 'c1'"),
	    "parked");
	CU_ASSERT_STRING_EQUAL(cl_get(conn, "SELECT owner FROM targets WHERE "
	    "message_id = 'm1' AND client_id = 'c2'"), "n1");
	CU_ASSERT_STRING_EQUAL(cl_get(conn, "SELECT owner FROM targets WHERE "
	    "message_id = 'm2'"), "n2");	/* finished: left as it was */

	/* the node marked down is fenced; reaped once */
	CU_ASSERT_EQUAL(store_pg_renew("n2", e2, 5, 0, &draining), 1);
	memset(&s, 0, sizeof(s));
	CU_ASSERT_EQUAL(store_pg_reap(cl_reaped, &s), 0);
	CU_ASSERT_EQUAL(s.n, 0);
	store_pg_node("", 0, 0);
	store_close();
}

/* A batch of acks by the node that owns the targets reads each target by
 * its key: the prepared update's generic plan once took the partial
 * index targets_owner and read every target of the node's share per row
 * (a fan-out's acks were quadratic). The index's reads, from the
 * server's statistics, stay far below N * N / 2. */
static void
test_acks_by_key(void)
{
	char			 conn[512], sql[512], id[16];
	int64_t			 e1 = 0;
	struct store_batch	 b;
	struct target_row	 t;
	long			 reads;
	int			 i, n = 600;

	cl_open("acks", conn, sizeof(conn));
	CU_ASSERT_EQUAL(store_pg_join("n1", "127.0.0.2:5060", 5, &e1), 0);
	snprintf(sql, sizeof(sql),
	    "INSERT INTO messages (id, state, selector, content_type, body,"
	    " created_at, expires_at) VALUES ('m1', 'active', 'all',"
	    " 'text/plain', 'x', 1, 99999999999);"
	    "INSERT INTO targets (message_id, client_id, state, owner)"
	    " SELECT 'm1', 'c' || g, 'pending', 'n1'"
	    " FROM generate_series(1, %d) g", n);
	CU_ASSERT_EQUAL_FATAL(cl_sql(conn, sql, NULL, 0), 0);
	store_pg_node("n1", e1, 5);
	store_batch_init(&b);
	b.epoch = e1;
	for (i = 1; i <= n; i++) {
		snprintf(id, sizeof(id), "c%d", i);
		memset(&t, 0, sizeof(t));
		t.op = STORE_PUT;
		t.message_id = "m1";
		t.client = id;
		t.state = "acked";
		t.attempts = 1;
		t.last_status = 200;
		t.acked_at = 1000;
		CU_ASSERT_EQUAL_FATAL(store_batch_target(&b, &t), 0);
	}
	CU_ASSERT_EQUAL(store_write(&b), 0);
	store_batch_free(&b);
	store_pg_node("", 0, 0);
	store_close();		/* its statistics reach the server */
	CU_ASSERT_STRING_EQUAL(cl_get(conn, "SELECT count(*) FROM targets "
	    "WHERE state = 'acked'"), "600");
	usleep(200000);
	reads = strtol(cl_get(conn, "SELECT coalesce(sum(idx_tup_read), 0) "
	    "FROM pg_stat_user_indexes WHERE indexrelname IN "
	    "('targets_owner', 'targets_open')"), NULL, 10);
	if (reads >= (long)n * 10)
		fprintf(stderr, "\nacks: %ld index tuples read for %d acks\n",
		    reads, n);
	CU_ASSERT(reads < (long)n * 10);
}

static int
cl_count_msg(const struct message_row *m, void *arg)
{
	(void)m;
	(*(int *)arg)++;
	return 0;
}

static int
cl_count_target(const struct target_row *t, void *arg)
{
	(void)t;
	(void)arg;
	return 0;
}

/* Taking over a dead node's clients (in jobs of a few thousand) reads
 * those clients' targets, not the node's whole share: "owner = $1 AND
 * client_id = ANY($3)" once took targets_owner and read every target the
 * node held for each job (at 100,000 clients, 129 ms a job against
 * 25 ms). The table's rows read, from the server's statistics, stay
 * near the clients' targets. */
static void
test_take_reads_clients(void)
{
	char			 conn[512], sql[768];
	const char		**ids;
	char			(*buf)[16];
	int64_t			 e1 = 0;
	long			 reads;
	int			 i, nmsg = 0, nc = 20000, nt = 2500;

	cl_open("take", conn, sizeof(conn));
	CU_ASSERT_EQUAL(store_pg_join("n1", "127.0.0.2:5060", 5, &e1), 0);
	snprintf(sql, sizeof(sql),
	    "INSERT INTO messages (id, state, selector, content_type, body,"
	    " created_at, expires_at) SELECT 'm' || g, 'active', 'all',"
	    " 'text/plain', 'x', 1, 99999999999 FROM generate_series(1, 4) g;"
	    "INSERT INTO targets (message_id, client_id, state, owner)"
	    " SELECT 'm' || m, 'c' || g, 'pending', 'n1'"
	    " FROM generate_series(1, %d) g, generate_series(1, 4) m;"
	    "ANALYZE targets; ANALYZE messages", nc);
	CU_ASSERT_EQUAL_FATAL(cl_sql(conn, sql, NULL, 0), 0);
	ids = calloc(nt, sizeof(*ids));
	buf = calloc(nt, sizeof(*buf));
	CU_ASSERT_FATAL(ids != NULL && buf != NULL);
	for (i = 0; i < nt; i++) {
		snprintf(buf[i], sizeof(buf[i]), "c%d", 1 + i * (nc / nt));
		ids[i] = buf[i];
	}
	store_pg_node("n1", e1, 5);
	CU_ASSERT_EQUAL(store_pg_load_owned(NULL, ids, nt, cl_count_msg,
	    cl_count_target, &nmsg), nt * 4);
	CU_ASSERT_EQUAL(nmsg, 4);
	store_pg_node("", 0, 0);
	store_close();		/* its statistics reach the server */
	free(ids);
	free(buf);
	usleep(200000);
	reads = strtol(cl_get(conn, "SELECT coalesce(seq_tup_read, 0) + "
	    "coalesce(idx_tup_fetch, 0) FROM pg_stat_user_tables "
	    "WHERE relname = 'targets'"), NULL, 10);
	if (reads >= nt * 4 * 3)
		fprintf(stderr, "\ntake: %ld target rows read for %d\n", reads,
		    nt * 4);
	CU_ASSERT(reads < nt * 4 * 3);
}

struct cl_rows {
	int	 n;
	char	 seen[4][128];
};

static int
cl_client_seen(const struct client_row *r, void *arg)
{
	struct cl_rows	*s = arg;

	if (s->n < 4)
		snprintf(s->seen[s->n], sizeof(s->seen[0]), "%s/%s/%s", r->id,
		    r->state, r->owner ? r->owner : "none");
	s->n++;
	return 0;
}

/* Any node reads any client's row, with the node holding it (sippushctl
 * client, the listing's node): one held by n1, one left with no node
 * after its node went down, one that does not exist. */
static void
test_client_node(void)
{
	char			 conn[512];
	int64_t			 e1 = 0, e2 = 0;
	struct client_filter	 f = { NULL, NULL, -1 };
	struct cl_rows		 s;

	cl_open("cnode", conn, sizeof(conn));
	CU_ASSERT_EQUAL(store_pg_join("n1", "127.0.0.2:5060", 5, &e1), 0);
	CU_ASSERT_EQUAL(store_pg_join("n2", "127.0.0.3:5060", 5, &e2), 0);
	CU_ASSERT_EQUAL(cl_write("n1", e1, "c1"), 0);
	CU_ASSERT_EQUAL(cl_write("n1", e1, "c2"), 0);
	CU_ASSERT_EQUAL(cl_sql(conn, "UPDATE clients SET owner = NULL, "
	    "state = 'offline' WHERE id = 'c2'", NULL, 0), 0);
	store_pg_node("n2", e2, 5);	/* asked on the other node */

	memset(&s, 0, sizeof(s));
	CU_ASSERT_EQUAL(store_pg_client_get("c1", cl_client_seen, &s), 1);
	CU_ASSERT_EQUAL(s.n, 1);
	CU_ASSERT_STRING_EQUAL(s.seen[0], "c1/online/n1");
	memset(&s, 0, sizeof(s));
	CU_ASSERT_EQUAL(store_pg_client_get("c2", cl_client_seen, &s), 1);
	CU_ASSERT_STRING_EQUAL(s.seen[0], "c2/offline/none");
	memset(&s, 0, sizeof(s));
	CU_ASSERT_EQUAL(store_pg_client_get("c3", cl_client_seen, &s), 0);
	CU_ASSERT_EQUAL(s.n, 0);

	memset(&s, 0, sizeof(s));
	CU_ASSERT_EQUAL(store_list_clients(&f, NULL, 10, cl_client_seen, &s),
	    2);
	CU_ASSERT_STRING_EQUAL(s.seen[0], "c1/online/n1");
	CU_ASSERT_STRING_EQUAL(s.seen[1], "c2/offline/none");
	store_pg_node("", 0, 0);
	store_close();
}

/*
 * The rows the reaper leaves with no owner (their node went down) are
 * deleted by the purge once their registration ended more than
 * registration.retain ago (expires_at at or before the time given), as
 * a node's sweep deletes its own; a row a node holds, or one that ended
 * later, stays. One node at a time: with the chores' advisory lock held
 * elsewhere nothing is deleted; a store that is no node deletes none.
 */
static void
test_purge_unowned(void)
{
	char		 conn[512];
	int64_t		 e1 = 0;
	long		 ended;
	PGconn		*held;

	cl_open("unowned", conn, sizeof(conn));
	CU_ASSERT_EQUAL(store_pg_join("n1", "127.0.0.2:5060", 5, &e1), 0);
	CU_ASSERT_EQUAL(cl_write("n1", e1, "held"), 0);
	CU_ASSERT_EQUAL(cl_write("n1", e1, "held_ended"), 0);
	CU_ASSERT_EQUAL(cl_write("n1", e1, "gone"), 0);
	CU_ASSERT_EQUAL(cl_write("n1", e1, "gone_unreg"), 0);
	CU_ASSERT_EQUAL(cl_write("n1", e1, "gone_recent"), 0);
	CU_ASSERT_EQUAL(cl_sql(conn,
	    "UPDATE clients SET expires_at = 1000, state = 'expired'"
	    " WHERE id = 'held_ended';"
	    "UPDATE clients SET owner = NULL, state = 'offline',"
	    " expires_at = 1000 WHERE id = 'gone';"
	    "UPDATE clients SET owner = NULL, state = 'unregistered',"
	    " expires_at = 2000 WHERE id = 'gone_unreg';"
	    "UPDATE clients SET owner = NULL, state = 'offline',"
	    " expires_at = 2001 WHERE id = 'gone_recent';"
	    "INSERT INTO messages (id, state, selector, content_type, body,"
	    " created_at, expires_at, finished_at) VALUES ('m1', 'done',"
	    " 'all', 'text/plain', 'x', 1, 2, 100)", NULL, 0), 0);
	store_pg_node("n1", e1, 5);

	/* another node purging (the lock held): nothing here */
	held = PQconnectdb(conn);
	CU_ASSERT_EQUAL_FATAL(PQstatus(held), CONNECTION_OK);
	PQclear(PQexec(held, "BEGIN"));
	PQclear(PQexec(held, "SELECT pg_advisory_xact_lock("
	    "7310302143262281073)"));
	CU_ASSERT_EQUAL(store_purge(150, 2000, &ended), 0);
	CU_ASSERT_EQUAL(ended, 0);
	PQfinish(held);
	CU_ASSERT_STRING_EQUAL(cl_get(conn, "SELECT count(*) FROM clients"),
	    "5");

	CU_ASSERT_EQUAL(store_purge(150, 2000, &ended), 1);	/* m1 */
	CU_ASSERT_EQUAL(ended, 2);
	CU_ASSERT_STRING_EQUAL(cl_get(conn, "SELECT string_agg(id, ','"
	    " ORDER BY id) FROM clients"), "gone_recent,held,held_ended");
	/* no messages asked for (dispatch.retain 0): only clients */
	CU_ASSERT_EQUAL(store_purge(0, 2001, &ended), 0);
	CU_ASSERT_EQUAL(ended, 1);
	CU_ASSERT_STRING_EQUAL(cl_get(conn, "SELECT string_agg(id, ','"
	    " ORDER BY id) FROM clients"), "held,held_ended");

	/* a store that is no node's (its rows carry no owner) deletes
	 * none */
	CU_ASSERT_EQUAL(cl_sql(conn, "UPDATE clients SET owner = NULL",
	    NULL, 0), 0);
	store_pg_node("", 0, 0);
	CU_ASSERT_EQUAL(store_purge(0, 99999999999LL, &ended), 0);
	CU_ASSERT_EQUAL(ended, 0);
	CU_ASSERT_STRING_EQUAL(cl_get(conn, "SELECT count(*) FROM clients"),
	    "2");
	store_close();
}

/* Wait (up to 5 s) until a backend of conn's database waits on a lock
 * (wait_event_type Lock) whose query starts with prefix; 1 if one did. */
static int
cl_waits(const char *conn, const char *prefix)
{
	char	 sql[256], out[32];
	int	 i;

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM pg_stat_activity "
	    "WHERE wait_event_type = 'Lock' AND query LIKE '%s%%'", prefix);
	for (i = 0; i < 100; i++) {
		if (cl_sql(conn, sql, out, sizeof(out)) == 0 &&
		    strcmp(out, "0") != 0)
			return 1;
		usleep(50000);
	}
	return 0;
}

struct cl_pub {
	struct store_pub	 p;
	int			 rv;
};

static void *
cl_pub_run(void *arg)
{
	struct cl_pub	*c = arg;

	c->rv = store_pg_publish(&c->p);
	return NULL;
}

/* A publish's targets take their owners from its first statement's
 * snapshot; a client that registered with another node meanwhile (its
 * REGISTER moving the targets it could see: not these) or lost its node
 * (the reaper parking them) kept a target owned by a node that does not
 * hold it, so nobody sent it: a node's death at 100,000 left 191 of them
 * pending, parked, their clients online on n3. The publish is held inside
 * its targets' INSERT (a trigger waiting on a lock the test holds) while
 * x1 registers with n3 and x2's node is reaped. */
static void
test_publish_owners_now(void)
{
	char			 conn[512];
	int64_t			 e1 = 0, e2 = 0, e3 = 0;
	struct cl_pub		 c;
	pthread_t		 th;
	PGconn			*hold;

	cl_open("pubrace", conn, sizeof(conn));
	CU_ASSERT_EQUAL(store_pg_join("n1", "127.0.0.2:5060", 10, &e1), 0);
	CU_ASSERT_EQUAL(store_pg_join("n2", "127.0.0.3:5060", 10, &e2), 0);
	CU_ASSERT_EQUAL(store_pg_join("n3", "127.0.0.4:5060", 10, &e3), 0);
	CU_ASSERT_EQUAL(cl_write("n2", e2, "x1"), 0);
	CU_ASSERT_EQUAL(cl_write("n2", e2, "x2"), 0);
	CU_ASSERT_EQUAL(cl_write("n2", e2, "x3"), 0);
	CU_ASSERT_EQUAL_FATAL(cl_sql(conn,
	    "CREATE FUNCTION cl_hold() RETURNS trigger LANGUAGE plpgsql AS $$"
	    " BEGIN PERFORM pg_advisory_lock_shared(42);"
	    " PERFORM pg_advisory_unlock_shared(42); RETURN NEW; END $$;"
	    "CREATE TRIGGER cl_hold BEFORE INSERT ON targets"
	    " FOR EACH ROW EXECUTE FUNCTION cl_hold()", NULL, 0), 0);
	hold = PQconnectdb(conn);
	CU_ASSERT_FATAL(PQstatus(hold) == CONNECTION_OK);
	PQclear(PQexec(hold, "SELECT pg_advisory_lock(42)"));

	memset(&c, 0, sizeof(c));
	c.p.id = "00000000000000e1";
	c.p.selector = "all";
	c.p.content_type = "text/plain";
	c.p.body = "hi";
	c.p.body_len = 2;
	c.p.created_at = 1000;
	c.p.expires_at = 99999999999LL;
	c.p.now_ms = 1000000;
	c.p.all = 1;
	c.p.max_pending = 100;
	store_pg_node("n1", e1, 10);
	CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, cl_pub_run, &c), 0);
	CU_ASSERT(cl_waits(conn, "WITH t AS (INSERT INTO targets"));
	/* meanwhile: x1 registers with n3 (what its REGISTER writes), and
	 * x2's node is reaped (its client offline, no node) */
	CU_ASSERT_EQUAL(cl_sql(conn, "BEGIN;"
	    "UPDATE clients SET owner = 'n3' WHERE id = 'x1';"
	    "UPDATE targets SET owner = 'n3' WHERE client_id = 'x1'"
	    " AND state IN ('pending', 'sent');"
	    "UPDATE clients SET owner = NULL, state = 'offline'"
	    " WHERE id = 'x2';"
	    "COMMIT", NULL, 0), 0);
	PQclear(PQexec(hold, "SELECT pg_advisory_unlock(42)"));
	pthread_join(th, NULL);
	PQfinish(hold);
	CU_ASSERT_EQUAL(c.rv, 0);
	CU_ASSERT_EQUAL(c.p.targets, 3);
	CU_ASSERT_STRING_EQUAL(cl_get(conn, "SELECT coalesce(owner, 'parked')"
	    " FROM targets WHERE client_id = 'x1'"), "n3");
	CU_ASSERT_STRING_EQUAL(cl_get(conn, "SELECT coalesce(owner, 'parked')"
	    " FROM targets WHERE client_id = 'x2'"), "parked");
	CU_ASSERT_STRING_EQUAL(cl_get(conn, "SELECT coalesce(owner, 'parked')"
	    " FROM targets WHERE client_id = 'x3'"), "n2");
	store_pg_node("", 0, 0);
	store_close();
}

/* A batch of client rows written by n2 on a thread of its own (it may
 * wait on a lock the test holds). */
struct cl_wr {
	int64_t		 epoch;
	const char	*ids[3];	/* NULL-terminated */
	int		 rv;
};

static void *
cl_write_run(void *arg)
{
	struct cl_wr		*w = arg;
	struct store_batch	 b;
	size_t			 i;

	store_pg_node("n2", w->epoch, 10);
	store_batch_init(&b);
	b.epoch = w->epoch;
	for (i = 0; w->ids[i]; i++)
		cl_client(&b, w->ids[i]);
	w->rv = store_write(&b);
	store_batch_free(&b);
	return NULL;
}

/* ... and a registration cannot commit between that second look and the
 * publish's COMMIT: a node's batch that writes client rows waits while a
 * publish holds the lock (here the test holds it, as a publish would:
 * PG_PUB_LOCK_KEY in store_postgresql.c). */
static void
test_register_waits_publish(void)
{
	char		 conn[512];
	int64_t		 e2 = 0;
	struct cl_wr	 w;
	pthread_t	 th;
	PGconn		*hold;

	cl_open("regwait", conn, sizeof(conn));
	CU_ASSERT_EQUAL(store_pg_join("n2", "127.0.0.3:5060", 10, &e2), 0);
	hold = PQconnectdb(conn);
	CU_ASSERT_FATAL(PQstatus(hold) == CONNECTION_OK);
	PQclear(PQexec(hold, "SELECT pg_advisory_lock(7310302143262281074)"));
	memset(&w, 0, sizeof(w));
	w.epoch = e2;
	w.ids[0] = "y1";
	w.rv = -2;
	CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, cl_write_run, &w), 0);
	CU_ASSERT(cl_waits(conn, "SELECT pg_advisory_xact_lock_shared"));
	CU_ASSERT_STRING_EQUAL(cl_get(conn, "SELECT count(*) FROM clients"),
	    "0");
	PQclear(PQexec(hold, "SELECT pg_advisory_unlock(7310302143262281074)"));
	pthread_join(th, NULL);
	PQfinish(hold);
	CU_ASSERT_EQUAL(w.rv, 0);
	CU_ASSERT_STRING_EQUAL(cl_get(conn, "SELECT owner FROM clients"),
	    "n2");
	store_pg_node("", 0, 0);
	store_close();
}

/* A batch the server aborts for a deadlock (here with a transaction that
 * locks its second row, then its first; a batch of registrations meets
 * another node's reaper so) is written again: its REGISTERs are not
 * answered 500 for it. The test's transaction waits longer before it
 * looks for deadlocks, so that the batch is the one aborted. */
static void
test_deadlock_written_again(void)
{
	char		 conn[512];
	int64_t		 e2 = 0;
	struct cl_wr	 w;
	pthread_t	 th;
	PGconn		*side;
	PGresult	*r;

	cl_open("deadlock", conn, sizeof(conn));
	CU_ASSERT_EQUAL(store_pg_join("n2", "127.0.0.3:5060", 10, &e2), 0);
	CU_ASSERT_EQUAL(cl_write("n2", e2, "y1"), 0);
	CU_ASSERT_EQUAL(cl_write("n2", e2, "y2"), 0);
	side = PQconnectdb(conn);
	CU_ASSERT_FATAL(PQstatus(side) == CONNECTION_OK);
	PQclear(PQexec(side, "SET deadlock_timeout = '20s'"));
	PQclear(PQexec(side, "BEGIN"));
	PQclear(PQexec(side, "SELECT 1 FROM clients WHERE id = 'y2' FOR UPDATE"));
	memset(&w, 0, sizeof(w));
	w.epoch = e2;
	w.ids[0] = "y1";
	w.ids[1] = "y2";
	w.rv = -2;
	CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, cl_write_run, &w), 0);
	CU_ASSERT(cl_waits(conn, "WITH prev AS"));	/* y1 done, on y2 */
	r = PQexec(side, "SELECT 1 FROM clients WHERE id = 'y1' FOR UPDATE");
	CU_ASSERT_EQUAL(PQresultStatus(r), PGRES_TUPLES_OK);	/* not ours */
	PQclear(r);
	PQclear(PQexec(side, "COMMIT"));
	pthread_join(th, NULL);
	PQfinish(side);
	CU_ASSERT_EQUAL(w.rv, 0);
	store_pg_node("", 0, 0);
	store_close();
}

int
test_cluster_register(void)
{
	CU_pSuite	 s;

	cl_server = getenv("SIPPUSH_TEST_PG");
	if (cl_server == NULL || *cl_server == '\0') {
		fprintf(stderr, "\n*** cluster/postgresql SKIPPED: "
		    "SIPPUSH_TEST_PG is not set (make check sets it)\n");
		return 0;
	}
	if ((s = CU_add_suite("cluster/postgresql", NULL, NULL)) == NULL ||
	    CU_add_test(s, "join, renew, drain, list", test_join_renew_drain)
	    == NULL ||
	    CU_add_test(s, "a batch of a fenced node is refused whole",
	    test_fence_batch) == NULL ||
	    CU_add_test(s, "a lapsed node is marked down, its work parked",
	    test_reap) == NULL ||
	    CU_add_test(s, "a batch of acks reads each target by its key",
	    test_acks_by_key) == NULL ||
	    CU_add_test(s, "taking clients over reads those clients' targets",
	    test_take_reads_clients) == NULL ||
	    CU_add_test(s, "any node reads a client with its node",
	    test_client_node) == NULL ||
	    CU_add_test(s, "the purge deletes the rows no node holds past "
	    "registration.retain", test_purge_unowned) == NULL ||
	    CU_add_test(s, "a publish's targets go to their clients' nodes "
	    "as at its COMMIT", test_publish_owners_now) == NULL ||
	    CU_add_test(s, "a registration waits for a publish's COMMIT",
	    test_register_waits_publish) == NULL ||
	    CU_add_test(s, "a batch aborted for a deadlock is written again",
	    test_deadlock_written_again) == NULL)
		return -1;
	return 0;
}
