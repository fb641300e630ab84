/*
 * store_postgresql.c: the PostgreSQL backend of the store (store.c).
 *
 * database.backend = "postgresql"; database.conninfo is a libpq
 * connection string or URI, database.passfile an optional password file
 * (libpq's passfile). The conninfo is never logged as given: pg_mask
 * shows it with the password replaced.
 *
 * Two connections, as the SQLite backend has: the event loop's (start-up
 * loads, unit tests) and the writer thread's (commit.c, pg_use_writer),
 * which runs every batch and every read the daemon makes while it
 * serves. Every function works on the calling thread's connection. Every
 * statement is prepared once per connection.
 *
 * A batch is one transaction sent as one pipeline (libpq 14+): BEGIN,
 * one prepared statement per row, COMMIT and a sync go out without
 * waiting for answers, so a batch of thousands of rows costs one round
 * trip, not thousands. The socket is non-blocking while it is sent and
 * the answers are read as they come, so that neither side blocks on a
 * full buffer. Every row statement is an upsert or a delete: a batch
 * written again after a COMMIT whose answer was lost writes the same.
 *
 * The schema comes from sql/postgresql/NNN_*.sql, compiled in as
 * pg_schema_steps (schema_pg.c); pg_open applies the missing steps, one
 * transaction each, under an advisory lock so that several sippushd
 * starting at once against one database apply each step once.
 *
 * Faults. A connection lost, or a server that refuses to work (shutting
 * down, out of resources), is a store fault: the write fails and rolls
 * back, the fault is logged when it starts, then at most every
 * STORE_FAULT_LOG_EVERY seconds, and once when a write succeeds again;
 * pg_unavailable says so meanwhile (the registrar answers 503). The next
 * use of a lost connection connects again, by itself.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "sippushd.h"

#define STORE_FAULT_LOG_EVERY	60	/* seconds between "still failing" */
#define PG_FLUSH_EVERY		256	/* rows sent between flushes */
#define PG_IO_TIMEOUT_MS	30000	/* a batch's socket silent this long */
#define PG_LOCK_KEY		"7310302143262281072"	/* "sippushd" */
/*
 * A publish against the registrations: a batch that writes client rows
 * (a REGISTER moves its client's targets; a client back online takes its
 * parked ones) holds it shared; a publish holds it alone from the moment
 * it sets its targets' owners again to its COMMIT (store_pg_publish).
 */
#define PG_PUB_LOCK_KEY		"7310302143262281074"

enum {
	ST_PUT_CLIENT,
	ST_TOUCH_CLIENT,
	ST_DELETE_CLIENT,
	ST_LOAD_CLIENTS,
	ST_LIST_CLIENTS,
	ST_GET_CLIENT,
	ST_PUT_MESSAGE,
	ST_PUT_TARGET,
	ST_SET_MESSAGE_STATE,
	ST_LOAD_MESSAGES,
	ST_LOAD_TARGETS,
	ST_PURGE_MESSAGES,
	ST_PUT_USER,
	ST_DELETE_USER,
	ST_LIST_USERS,
	ST_PUT_TOKEN,
	ST_DELETE_TOKEN,
	ST_LIST_TOKENS,
	ST_PUT_OUTBOX,
	ST_TOUCH_OUTBOX,
	ST_DELETE_OUTBOX,
	ST_LOAD_OUTBOX,
	/* a node of a cluster (pg_node_name set): owner-checked writes */
	ST_CL_PUT_CLIENT,
	ST_CL_TOUCH_CLIENT,
	ST_CL_DELETE_CLIENT,
	ST_CL_LOAD_CLIENTS,
	ST_CL_PUT_TARGET,
	ST_CL_LOCK_MESSAGES,
	ST_CL_COMPLETE,
	ST_CL_NOTIFY,
	ST_COUNT
};

static const char *const pg_sql[ST_COUNT] = {
	[ST_PUT_CLIENT] =
	    "INSERT INTO clients (id, class, state, contact, transport,"
	    " address, port, user_agent, registered_at, expires_at,"
	    " last_seen, path) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9,"
	    " $10, $11, $12)"
	    " ON CONFLICT (id) DO UPDATE SET class = $2, state = $3,"
	    " contact = $4, transport = $5, address = $6, port = $7,"
	    " user_agent = $8, registered_at = $9, expires_at = $10,"
	    " last_seen = $11, path = $12",
	[ST_TOUCH_CLIENT] =
	    "UPDATE clients SET state = $2, last_seen = $3 WHERE id = $1",
	[ST_DELETE_CLIENT] = "DELETE FROM clients WHERE id = $1",
	[ST_LOAD_CLIENTS] =
	    "SELECT id, class, state, contact, transport, address, port,"
	    " user_agent, registered_at, expires_at, last_seen, path"
	    " FROM clients",
	/* as in store_sqlite.c; id is COLLATE "C": byte order */
	[ST_LIST_CLIENTS] =
	    "SELECT id, class, state, contact, transport, address, port,"
	    " user_agent, registered_at, expires_at, last_seen, path, owner"
	    " FROM clients WHERE id > $1::text"
	    " AND ($2::text IS NULL OR class = $2::text)"
	    " AND ($3::text IS NULL OR state = $3::text)"
	    " AND ($4::int < 0 OR (state = 'online') = ($4::int = 1))"
	    " ORDER BY id LIMIT $5::bigint",
	[ST_GET_CLIENT] =
	    "SELECT id, class, state, contact, transport, address, port,"
	    " user_agent, registered_at, expires_at, last_seen, path, owner"
	    " FROM clients WHERE id = $1",
	/* an upsert (SQLite's is a plain INSERT): see the header */
	[ST_PUT_MESSAGE] =
	    "INSERT INTO messages (id, state, selector, content_type, body,"
	    " created_at, expires_at, finished_at, callback)"
	    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
	    " ON CONFLICT (id) DO UPDATE SET state = $2, selector = $3,"
	    " content_type = $4, body = $5, created_at = $6,"
	    " expires_at = $7, finished_at = $8, callback = $9",
	[ST_PUT_TARGET] =
	    "INSERT INTO targets (message_id, client_id, state, attempts,"
	    " next_attempt, last_status, last_attempt, acked_at)"
	    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
	    " ON CONFLICT (message_id, client_id) DO UPDATE SET state = $3,"
	    " attempts = $4, next_attempt = $5, last_status = $6,"
	    " last_attempt = $7, acked_at = $8",
	[ST_SET_MESSAGE_STATE] =
	    "UPDATE messages SET state = $2, finished_at = $3 WHERE id = $1",
	/* $1: one ID or NULL; $2: unfinished ones only; $3: how many, or
	 * NULL for all */
	[ST_LOAD_MESSAGES] =
	    "SELECT m.id, m.state, m.selector, m.content_type, m.body,"
	    " m.created_at, m.expires_at, coalesce(m.finished_at, 0),"
	    " c.pending, c.sent, c.acked, c.expired, c.failed, c.cancelled,"
	    " m.callback"
	    " FROM (SELECT * FROM messages"
	    "  WHERE ($1::text IS NULL OR id = $1)"
	    "  AND (NOT $2::boolean OR finished_at IS NULL)"
	    "  AND ($4::bigint IS NULL OR created_at < $4"
	    "   OR (created_at = $4 AND id < $5::text))"
	    "  ORDER BY created_at DESC, id DESC LIMIT $3::bigint) m"
	    " CROSS JOIN LATERAL (SELECT"
	    "  count(*) FILTER (WHERE t.state = 'pending') AS pending,"
	    "  count(*) FILTER (WHERE t.state = 'sent') AS sent,"
	    "  count(*) FILTER (WHERE t.state = 'acked') AS acked,"
	    "  count(*) FILTER (WHERE t.state = 'expired') AS expired,"
	    "  count(*) FILTER (WHERE t.state = 'failed') AS failed,"
	    "  count(*) FILTER (WHERE t.state = 'cancelled') AS cancelled"
	    "  FROM targets t WHERE t.message_id = m.id) c"
	    " ORDER BY m.created_at DESC, m.id DESC",
	/* $2: after this client ID (NULL: from the first; '' sorts before
	 * any ID, and one range keeps the index's order); $3: how many */
	[ST_LOAD_TARGETS] =
	    "SELECT client_id, state, attempts, next_attempt,"
	    " coalesce(last_attempt, 0), coalesce(acked_at, 0),"
	    " coalesce(last_status, 0) FROM targets WHERE message_id = $1"
	    " AND client_id > coalesce($2, '')"
	    " ORDER BY client_id LIMIT $3::bigint",
	[ST_PURGE_MESSAGES] =
	    "DELETE FROM messages WHERE state != 'active'"
	    " AND finished_at < $1",
	[ST_PUT_USER] =
	    "INSERT INTO users (id, realm, ha1_sha256, ha1_md5, created_at)"
	    " VALUES ($1, $2, $3, $4, $5)"
	    " ON CONFLICT (id) DO UPDATE SET realm = $2, ha1_sha256 = $3,"
	    " ha1_md5 = $4, created_at = $5",
	[ST_DELETE_USER] = "DELETE FROM users WHERE id = $1",
	[ST_LIST_USERS] =
	    "SELECT id, realm, created_at, ha1_sha256, ha1_md5 FROM users"
	    " WHERE $1::text IS NULL OR id = $1 ORDER BY id",
	/* a plain insert, as SQLite's: a name taken fails the batch */
	[ST_PUT_TOKEN] =
	    "INSERT INTO tokens (name, hash, scopes, created_at)"
	    " VALUES ($1, $2, $3, $4)",
	[ST_DELETE_TOKEN] = "DELETE FROM tokens WHERE name = $1",
	[ST_LIST_TOKENS] =
	    "SELECT name, hash, scopes, created_at FROM tokens ORDER BY name",
	/* an upsert: a batch written again writes the same row */
	[ST_PUT_OUTBOX] =
	    "INSERT INTO outbox (id, event, url, body, created_at, attempts,"
	    " next_attempt) VALUES ($1, $2, $3, $4, $5, $6, $7)"
	    " ON CONFLICT (id) DO UPDATE SET event = $2, url = $3, body = $4,"
	    " created_at = $5, attempts = $6, next_attempt = $7",
	[ST_TOUCH_OUTBOX] =
	    "UPDATE outbox SET attempts = $2, next_attempt = $3 WHERE id = $1",
	[ST_DELETE_OUTBOX] = "DELETE FROM outbox WHERE id = $1",
	[ST_LOAD_OUTBOX] =
	    "SELECT id, event, url, body, created_at, attempts, next_attempt"
	    " FROM outbox ORDER BY next_attempt, id",
	/*
	 * A registration ($3 'online') takes the client whoever had it: the
	 * row's owner becomes $13, its unfinished targets move to $13 and
	 * the node that had it is told (its channel, the client's ID). Any
	 * other state (unregistered, expired) is written only by the owner.
	 * The CTEs share one snapshot: prev is the row before the upsert.
	 */
	[ST_CL_PUT_CLIENT] =
	    "WITH prev AS (SELECT owner FROM clients WHERE id = $1),"
	    " up AS (INSERT INTO clients (id, class, state, contact,"
	    "  transport, address, port, user_agent, registered_at,"
	    "  expires_at, last_seen, path, owner) VALUES ($1, $2, $3, $4,"
	    "  $5, $6, $7, $8, $9, $10, $11, $12, $13)"
	    "  ON CONFLICT (id) DO UPDATE SET class = $2, state = $3,"
	    "  contact = $4, transport = $5, address = $6, port = $7,"
	    "  user_agent = $8, registered_at = $9, expires_at = $10,"
	    "  last_seen = $11, path = $12, owner = $13"
	    "  WHERE $3 = 'online' OR clients.owner = $13 RETURNING 1),"
	    " mv AS (UPDATE targets SET owner = $13 WHERE client_id = $1"
	    "  AND state IN ('pending', 'sent') AND $3 = 'online'"
	    "  AND owner IS DISTINCT FROM $13 RETURNING 1)"
	    " SELECT pg_notify('sippush_node_' || owner, $1) FROM prev"
	    " WHERE $3 = 'online' AND owner IS NOT NULL AND owner <> $13",
	/* back online (a heartbeat): its parked targets come along */
	[ST_CL_TOUCH_CLIENT] =
	    "WITH up AS (UPDATE clients SET state = $2, last_seen = $3"
	    "  WHERE id = $1 AND owner = $4 RETURNING 1)"
	    " UPDATE targets SET owner = $4 WHERE client_id = $1"
	    " AND state IN ('pending', 'sent') AND owner IS NULL"
	    " AND $2 = 'online' AND EXISTS (SELECT 1 FROM up)",
	[ST_CL_DELETE_CLIENT] =
	    "DELETE FROM clients WHERE id = $1 AND owner = $2",
	[ST_CL_LOAD_CLIENTS] =
	    "SELECT id, class, state, contact, transport, address, port,"
	    " user_agent, registered_at, expires_at, last_seen, path"
	    " FROM clients WHERE owner = $1",
	/* only the owner, only while unfinished: a target another node
	 * took, or one cancelled or expired fleet-wide, stays as it is.
	 * "Unfinished" is written as "none of the finished states" so that
	 * no partial index (targets_owner, targets_open: WHERE state IN
	 * ('pending', 'sent')) matches: the prepared statement's generic
	 * plan took targets_owner and read every target of the node's
	 * share of the message for each row, a batch of acks quadratic in
	 * the fan-out; this way it is the primary key's one row */
	[ST_CL_PUT_TARGET] =
	    "UPDATE targets SET state = $3, attempts = $4, next_attempt = $5,"
	    " last_status = $6, last_attempt = $7, acked_at = $8"
	    " WHERE message_id = $1 AND client_id = $2 AND owner = $9"
	    " AND state NOT IN ('acked', 'expired', 'failed', 'cancelled')",
	/* the messages whose targets a batch ends, locked in ID order:
	 * two nodes ending the last targets of one message at once are
	 * serialized, so that the second sees the first's and one of them
	 * finds the message finished */
	[ST_CL_LOCK_MESSAGES] =
	    "SELECT 1 FROM messages WHERE id = ANY($1::text[])"
	    " ORDER BY id FOR UPDATE",
	/* the message is finished once no target is unfinished anywhere;
	 * finished_at IS NULL: only the first transaction to see it */
	[ST_CL_COMPLETE] =
	    /* one probe of targets_open while targets remain; the counts
	     * only once, for the message just finished */
	    "WITH d AS (UPDATE messages m SET finished_at = $2, state = CASE"
	    "  WHEN m.state = 'cancelled' THEN 'cancelled' ELSE 'done' END"
	    "  WHERE m.id = $1 AND m.finished_at IS NULL AND NOT EXISTS"
	    "  (SELECT 1 FROM targets t WHERE t.message_id = $1"
	    "   AND t.state IN ('pending', 'sent'))"
	    "  RETURNING m.id, m.state, m.created_at, m.finished_at,"
	    "  m.callback),"
	    " c AS (SELECT"
	    "  count(*) FILTER (WHERE state = 'acked') AS acked,"
	    "  count(*) FILTER (WHERE state = 'expired') AS expired,"
	    "  count(*) FILTER (WHERE state = 'failed') AS failed,"
	    "  count(*) FILTER (WHERE state = 'cancelled') AS cancelled"
	    "  FROM targets WHERE message_id = (SELECT id FROM d)),"
	    " u AS (SELECT DISTINCT ON (url) url FROM"
	    "  (SELECT d.callback AS url, 0::bigint AS ord FROM d"
	    "   WHERE d.callback IS NOT NULL UNION ALL"
	    "   SELECT g.url, g.ord FROM unnest($3::text[]) WITH ORDINALITY"
	    "   AS g(url, ord)) s WHERE $4::boolean AND EXISTS (SELECT 1 FROM d)"
	    "  ORDER BY url, ord),"
	    " e AS (SELECT substr(replace(gen_random_uuid()::text, '-', ''),"
	    "  1, 16) AS eid, url FROM u),"
	    " o AS (INSERT INTO outbox (id, event, url, body, created_at,"
	    "  attempts, next_attempt) SELECT e.eid, 'finished', e.url,"
	    "  json_build_object('id', e.eid, 'event', 'finished',"
	    "  'time', $2::bigint, 'message_id', d.id, 'state', CASE"
	    "  WHEN d.state = 'cancelled' THEN 'cancelled'"
	    "  WHEN c.expired > 0 THEN 'expired' ELSE 'done' END,"
	    "  'created_at', d.created_at, 'finished_at', d.finished_at,"
	    "  'counts', json_build_object('targets', c.acked + c.expired +"
	    "  c.failed + c.cancelled, 'pending', 0, 'acked', c.acked,"
	    "  'expired', c.expired, 'failed', c.failed, 'cancelled',"
	    "  c.cancelled))::text, $2::bigint, 0, $2::bigint * 1000"
	    "  FROM e, d, c RETURNING id, url, body)"
	    " SELECT d.id, d.state, d.created_at, d.finished_at, d.callback,"
	    " c.acked, c.expired, c.failed, c.cancelled, o.id, o.url, o.body"
	    " FROM d CROSS JOIN c LEFT JOIN o ON true",
	[ST_CL_NOTIFY] = "SELECT pg_notify($1, $2)",
};

/* A connection and its last failure. */
struct pg_conn {
	PGconn		*db;
	int		 prepared;	/* the statements exist on db */
	char		 err[512];	/* the last failure's reason */
	int		 fault;		/* it was the server's or the link's */
	int		 fenced;	/* it was SP001: the node is fenced */
	int		 conflict;	/* a deadlock or serialization
					   failure: worth trying again */
};

static struct pg_conn	 pg_main;	/* the event loop's */
static struct pg_conn	 pg_wr;		/* the commit writer's */
static struct pg_conn	 pg_cl;		/* the cluster thread's */
static _Thread_local struct pg_conn *pc = &pg_main;

static char		*pg_conninfo;	/* as configured, never logged */
static char		*pg_passfile;
static char		 pg_shown[512];	/* the conninfo, password masked */
static char		 pg_where_s[530];	/* "postgresql " pg_shown */
static int		 pg_open_now;

/* The "finished" webhook events the cluster's completion writes
 * (store_pg_webhooks): webhooks.url as a text[] literal, and whether
 * webhooks.events has finished. */
static char		*pg_wh_urls;
static int		 pg_wh_finished = 1;

/* The node this writer writes as (store_pg_node); epoch 0: none. */
static char		 pg_node_name[64];
static int64_t		 pg_node_epoch;
static int		 pg_node_lease;

static _Atomic int		 pg_fenced_mark;	/* a batch got SP001 */

static _Atomic unsigned long	 pg_loop_n;
static _Atomic int		 pg_writer_on;
static _Atomic int		 pg_down;	/* the last write: a fault */

/* Write faults, as store_sqlite.c keeps them. */
static pthread_mutex_t	 pg_fault_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t		 pg_fault_since;
static int64_t		 pg_fault_logged;
static unsigned		 pg_fault_count;
static unsigned		 pg_fault_unlogged;

static void pg_close(void);
static int64_t pg_i64(const PGresult *, int, int);
static char *pg_array(const char *const *, size_t);

static void
pg_count(void)
{
	if (pc == &pg_main && pg_writer_on)
		pg_loop_n++;
}

/*
 * conninfo as it may be shown: its settings as keyword=value, the
 * password as ********. A string libpq cannot parse is not shown (it
 * may hold a password). Returns out.
 */
const char *
store_pg_mask(const char *conninfo, char *out, size_t len)
{
	PQconninfoOption	*opts, *o;
	size_t			 n = 0;
	const char		*v;
	char			*perr = NULL;

	if (len == 0)
		return out;
	out[0] = '\0';
	if (conninfo == NULL)
		return out;
	if ((opts = PQconninfoParse(conninfo, &perr)) == NULL) {
		PQfreemem(perr);
		snprintf(out, len, "(a conninfo libpq cannot parse)");
		return out;
	}
	for (o = opts; o->keyword && n < len; o++) {
		if (o->val == NULL || *o->val == '\0')
			continue;
		v = strcmp(o->keyword, "password") == 0 ? "********" :
		    o->val;
		n += (size_t)snprintf(out + n, len - n,
		    strpbrk(v, " \t'\\") || *v == '\0' ? "%s%s='%s'" :
		    "%s%s=%s", n ? " " : "", o->keyword, v);
	}
	PQconninfoFree(opts);
	if (out[0] == '\0')
		snprintf(out, len, "(libpq defaults)");
	return out;
}

/* Can libpq parse conninfo? 0, or -1 with why in err (the conninfo
 * itself is not repeated: it may hold a password). */
int
store_pg_check(const char *conninfo, char *err, size_t errlen)
{
	PQconninfoOption	*opts;
	char			*perr = NULL;
	size_t			 n;

	if ((opts = PQconninfoParse(conninfo, &perr)) != NULL) {
		PQconninfoFree(opts);
		return 0;
	}
	snprintf(err, errlen, "%s", perr ? perr : "out of memory");
	n = strlen(err);
	while (n && (err[n - 1] == '\n' || err[n - 1] == ' '))
		err[--n] = '\0';
	if (perr && strstr(perr, "password"))
		snprintf(err, errlen, "libpq cannot parse it");
	PQfreemem(perr);
	return -1;
}

/* The first line of libpq's message s into pc->err. */
static void
pg_note(const char *what, const char *s)
{
	size_t	 n;

	snprintf(pc->err, sizeof(pc->err), "%s%s%s", what ? what : "",
	    what ? ": " : "", s && *s ? s : "failed");
	n = strcspn(pc->err, "\n");
	pc->err[n] = '\0';
}

/* Is this result's failure the server's or the link's rather than the
 * data's? SQLSTATE classes 08 (connection), 53 (resources), 57
 * (operator intervention: shut down), 58 (system error). */
static int
pg_is_fault(const PGresult *r)
{
	const char	*state;

	if (pc->db == NULL || PQstatus(pc->db) != CONNECTION_OK)
		return 1;
	if (r == NULL ||
	    (state = PQresultErrorField(r, PG_DIAG_SQLSTATE)) == NULL)
		return 1;
	return strncmp(state, "08", 2) == 0 || strncmp(state, "53", 2) == 0 ||
	    strncmp(state, "57", 2) == 0 || strncmp(state, "58", 2) == 0;
}

/* Did r fail for a deadlock (40P01) or a serialization failure (40001):
 * the server aborted one of two transactions that got in each other's
 * way (a node's batch of registrations and another node's reaper), and
 * the same transaction written again succeeds? */
static int
pg_is_conflict(const PGresult *r)
{
	const char	*state;

	if (r == NULL ||
	    (state = PQresultErrorField(r, PG_DIAG_SQLSTATE)) == NULL)
		return 0;
	return strcmp(state, "40P01") == 0 || strcmp(state, "40001") == 0;
}

static const char *
pg_hint(void)
{
	return "is PostgreSQL running, reachable and accepting connections? "
	    "(see its log)";
}

static const char *
pg_errmsg(void)
{
	if (!pg_open_now)
		return "database not open";
	return pc->err[0] ? pc->err : "no error";
}

static const char *
pg_errhint(void)
{
	return pc->fault ? pg_hint() : "";
}

/* A write failed with a store fault: log it when the fault starts, then
 * at most every STORE_FAULT_LOG_EVERY seconds. */
static void
pg_fault(void)
{
	int64_t	 now = clock_mono_us() / 1000000;

	pg_down = 1;
	pthread_mutex_lock(&pg_fault_lock);
	pg_fault_count++;
	if (pg_fault_since == 0) {
		pg_fault_since = now;
		pg_fault_logged = now;
		pg_fault_unlogged = 0;
		log_error("store: %s: cannot write: %s; %s. Changes "
		    "are kept in memory and written when a commit succeeds "
		    "again; until then REGISTERs are answered 503 and "
		    "publishing fails", pg_where_s, pc->err, pg_hint());
		pthread_mutex_unlock(&pg_fault_lock);
		return;
	}
	pg_fault_unlogged++;
	if (now - pg_fault_logged >= STORE_FAULT_LOG_EVERY) {
		log_error("store: %s: still cannot write after "
		    "%llds (%u failed writes since the last report): %s",
		    pg_where_s, (long long)(now - pg_fault_since),
		    pg_fault_unlogged, pc->err);
		pg_fault_logged = now;
		pg_fault_unlogged = 0;
	}
	pthread_mutex_unlock(&pg_fault_lock);
}

static void
pg_recovered(void)
{
	pg_down = 0;
	pthread_mutex_lock(&pg_fault_lock);
	if (pg_fault_since) {
		log_notice("store: %s: writes succeed again after "
		    "%llds of failure (%u failed writes); the changes kept "
		    "in memory are written", pg_where_s,
		    (long long)(clock_mono_us() / 1000000 - pg_fault_since),
		    pg_fault_count);
		pg_fault_since = 0;
		pg_fault_count = 0;
	}
	pthread_mutex_unlock(&pg_fault_lock);
}

static int64_t
pg_failing(unsigned *count)
{
	int64_t	 since = 0;

	pthread_mutex_lock(&pg_fault_lock);
	if (count)
		*count = pg_fault_count;
	if (pg_fault_since) {
		since = clock_now() - (clock_mono_us() / 1000000 -
		    pg_fault_since);
		if (since <= 0)
			since = 1;
	}
	pthread_mutex_unlock(&pg_fault_lock);
	return since;
}

static int
pg_unavailable(void)
{
	return pg_down;
}

/* r is the error sippush_fence raises for a fenced node. */
static int
pg_is_fence(const PGresult *r)
{
	const char	*st = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;

	return st != NULL && strcmp(st, "SP001") == 0;
}

/* A failure on pc: note why (from r if there is one), whether it is a
 * fault, and drop a connection that is gone (the next use reconnects). */
static void
pg_failed(const char *what, const PGresult *r)
{
	const char	*msg = r ? PQresultErrorField(r,
			    PG_DIAG_MESSAGE_PRIMARY) : NULL;

	if (msg == NULL || *msg == '\0')
		msg = r ? PQresultErrorMessage(r) : NULL;
	if (msg == NULL || *msg == '\0')
		msg = pc->db ? PQerrorMessage(pc->db) : "not connected";
	pg_note(what, msg);
	pc->fault = pg_is_fault(r);
	pc->conflict = pg_is_conflict(r);
	if (pc->db && PQstatus(pc->db) != CONNECTION_OK) {
		PQfinish(pc->db);
		pc->db = NULL;
		pc->prepared = 0;
	}
}

/* Run sql (no parameters) on pc; 0, or -1 noted. */
static int
pg_exec(const char *sql)
{
	PGresult	*r;
	int		 rv = 0;

	r = PQexec(pc->db, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK &&
	    PQresultStatus(r) != PGRES_TUPLES_OK) {
		pg_failed(NULL, r);
		rv = -1;
	}
	PQclear(r);
	return rv;
}

/* The server's notices and warnings (e.g. "terminating connection due
 * to immediate shutdown") into our log, not onto stderr. */
static void
pg_notice(void *arg, const char *msg)
{
	size_t	 n = strcspn(msg, "\n");

	(void)arg;
	log_info("store: postgresql: %.*s", (int)n, msg);
}

/* Connect pc (fresh). 0, or -1 noted. */
static int
pg_connect(void)
{
	const char	*keys[8], *vals[8];
	int		 n = 0;

	if (pc->db)
		PQfinish(pc->db);
	pc->prepared = 0;
	/* defaults first: the conninfo's own settings override them */
	keys[n] = "application_name", vals[n++] = "sippushd";
	keys[n] = "connect_timeout", vals[n++] = "10";
	keys[n] = "keepalives_idle", vals[n++] = "30";
	keys[n] = "keepalives_interval", vals[n++] = "10";
	keys[n] = "keepalives_count", vals[n++] = "3";
	keys[n] = "dbname", vals[n++] = pg_conninfo;
	if (pg_passfile)
		keys[n] = "passfile", vals[n++] = pg_passfile;
	keys[n] = NULL, vals[n] = NULL;
	pc->db = PQconnectdbParams(keys, vals, 1);
	if (pc->db == NULL) {
		snprintf(pc->err, sizeof(pc->err), "out of memory");
		pc->fault = 1;
		return -1;
	}
	if (PQstatus(pc->db) != CONNECTION_OK) {
		pg_note("cannot connect", PQerrorMessage(pc->db));
		pc->fault = 1;
		PQfinish(pc->db);
		pc->db = NULL;
		return -1;
	}
	PQsetNoticeProcessor(pc->db, pg_notice, NULL);
	if (pg_exec("SET client_min_messages = warning") == -1)
		return -1;
	return 0;
}

/* The "finished" webhook events that a node's completion writes in its
 * transaction: to urls (webhooks.url), if finished (webhooks.events
 * has it). Before the writer starts. */
void
store_pg_webhooks(const char *const *urls, size_t n, int finished)
{
	char	*a;

	if ((a = pg_array(urls, n)) == NULL)
		log_error("store: out of memory: the \"finished\" events go "
		    "to the messages' callbacks only");
	free(pg_wh_urls);
	pg_wh_urls = a;
	pg_wh_finished = finished;
}

/* The node the writer writes as, from cluster.c on the writer side. */
void
store_pg_node(const char *name, int64_t epoch, int lease)
{
	snprintf(pg_node_name, sizeof(pg_node_name), "%s", name ? name : "");
	pg_node_epoch = epoch;
	pg_node_lease = lease;
}

/* The name statement which is prepared under. */
static const char *
pg_name(int which, char *name, size_t len)
{
	snprintf(name, len, "s%d", which);
	return name;
}

static int
pg_prepare(void)
{
	PGresult	*r;
	char		 name[8];
	int		 i;

	for (i = 0; i < ST_COUNT; i++) {
		pg_name(i, name, sizeof(name));
		r = PQprepare(pc->db, name, pg_sql[i], 0, NULL);
		if (PQresultStatus(r) != PGRES_COMMAND_OK) {
			pg_failed(name, r);
			PQclear(r);
			return -1;
		}
		PQclear(r);
	}
	pc->prepared = 1;
	return 0;
}

/* pc connected, its statements prepared: connect again if the
 * connection was lost. 0, or -1 noted (a fault). */
static int
pg_ready(void)
{
	if (!pg_open_now) {
		snprintf(pc->err, sizeof(pc->err), "database not open");
		pc->fault = 0;
		return -1;
	}
	if (pc->db && PQstatus(pc->db) != CONNECTION_OK) {
		PQfinish(pc->db);
		pc->db = NULL;
	}
	if (pc->db == NULL) {
		if (pg_connect() == -1)
			return -1;
		if (pc == &pg_wr)
			log_info("store: %s: writer connected",
			    pg_where_s);
	}
	if (!pc->prepared && pg_prepare() == -1)
		return -1;
	return 0;
}

/* The schema version of pc's database: 0 when it has none. 0, or -1. */
static int
pg_schema_version(int *version)
{
	PGresult	*r;

	*version = 0;
	r = PQexec(pc->db, "SELECT to_regclass('schema_version') IS NOT NULL");
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		pg_failed("reading the schema version", r);
		PQclear(r);
		return -1;
	}
	if (strcmp(PQgetvalue(r, 0, 0), "t") != 0) {
		PQclear(r);
		return 0;
	}
	PQclear(r);
	r = PQexec(pc->db,
	    "SELECT coalesce(max(version), 0) FROM schema_version");
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		pg_failed("reading the schema version", r);
		PQclear(r);
		return -1;
	}
	*version = atoi(PQgetvalue(r, 0, 0));
	PQclear(r);
	return 0;
}

/* Bring the schema to the newest version, one transaction per step,
 * under the advisory lock. 0, or -1 with err. */
static int
pg_migrate(char *err, size_t errlen)
{
	char	 sql[160];
	size_t	 i;
	int	 version, newest, rv = -1;

	if (pg_exec("SELECT pg_advisory_lock(" PG_LOCK_KEY ")") == -1) {
		snprintf(err, errlen, "cannot take the schema lock: %.400s",
		    pc->err);
		return -1;
	}
	if (pg_schema_version(&version) == -1) {
		snprintf(err, errlen, "%s", pc->err);
		goto out;
	}
	newest = pg_schema_nsteps ?
	    pg_schema_steps[pg_schema_nsteps - 1].version : 0;
	if (version > newest) {
		snprintf(err, errlen, "database schema version %d is newer "
		    "than this sippushd knows (%d): run the sippushd that "
		    "wrote it (or a newer one), or restore a backup made "
		    "before the upgrade", version, newest);
		goto out;
	}
	for (i = 0; i < pg_schema_nsteps; i++) {
		if (pg_schema_steps[i].version <= version)
			continue;
		snprintf(sql, sizeof(sql), "INSERT INTO schema_version "
		    "(version) VALUES (%d); DELETE FROM schema_version WHERE "
		    "version < %d; COMMIT", pg_schema_steps[i].version,
		    pg_schema_steps[i].version);
		if (pg_exec("BEGIN") == -1 ||
		    pg_exec(pg_schema_steps[i].sql) == -1 ||
		    pg_exec(sql) == -1) {
			snprintf(err, errlen, "schema step %.60s: %.400s",
			    pg_schema_steps[i].name, pc->err);
			if (pc->db)
				PQclear(PQexec(pc->db, "ROLLBACK"));
			goto out;
		}
		log_info("store: schema upgraded to version %d (%s)",
		    pg_schema_steps[i].version, pg_schema_steps[i].name);
	}
	rv = 0;
out:
	if (pc->db)
		PQclear(PQexec(pc->db,
		    "SELECT pg_advisory_unlock(" PG_LOCK_KEY ")"));
	return rv;
}

/*
 * Connect to where (a conninfo or URI; passfile: libpq's, or NULL),
 * upgrade the schema and prepare the statements, on both connections.
 * Call it on the event loop's thread. 0, or -1 with "postgresql
 * CONNINFO: what is wrong: what to do" in err (the password masked).
 */
static int
pg_open(const char *where, int sync_full, const char *passfile, char *err,
    size_t errlen)
{
	char	 why[512];

	(void)sync_full;	/* the server's synchronous_commit rules */
	pc = &pg_main;
	pg_close();
	store_pg_mask(where, pg_shown, sizeof(pg_shown));
	snprintf(pg_where_s, sizeof(pg_where_s), "postgresql %s", pg_shown);
	if (store_pg_check(where, why, sizeof(why)) == -1) {
		snprintf(err, errlen, "postgresql: database.conninfo: %s: "
		    "write it as keyword=value pairs or a postgresql:// URI",
		    why);
		return -1;
	}
	if ((pg_conninfo = strdup(where)) == NULL ||
	    (passfile && (pg_passfile = strdup(passfile)) == NULL)) {
		snprintf(err, errlen, "postgresql: out of memory");
		pg_close();
		return -1;
	}
	pg_main.err[0] = pg_wr.err[0] = '\0';
	pg_main.fault = pg_wr.fault = 0;
	pg_fault_since = 0;
	pg_fault_count = 0;
	pg_down = 0;
	pg_open_now = 1;
	if (pg_connect() == -1) {
		snprintf(err, errlen, "postgresql %s: %s: check that "
		    "PostgreSQL runs and that database.conninfo%s is right",
		    pg_shown, pc->err, pg_passfile ? " (and passfile)" : "");
		pg_close();
		return -1;
	}
	why[0] = '\0';
	if (pg_migrate(why, sizeof(why)) == -1) {
		snprintf(err, errlen, "postgresql %s: %s", pg_shown, why);
		pg_close();
		return -1;
	}
	if (pg_prepare() == -1) {
		snprintf(err, errlen, "postgresql %s: %s", pg_shown, pc->err);
		pg_close();
		return -1;
	}
	pc = &pg_wr;		/* the schema is there: the writer's */
	if (pg_ready() == -1) {
		snprintf(err, errlen, "postgresql %s: the writer's "
		    "connection: %s", pg_shown, pc->err);
		pc = &pg_main;
		pg_close();
		return -1;
	}
	pc = &pg_main;
	log_info("store: %s: connected, schema version %d",
	    pg_where_s, pg_schema_steps[pg_schema_nsteps - 1].version);
	return 0;
}

static void
pg_use_writer(void)
{
	pc = &pg_wr;
	pg_writer_on = 1;
}

static void
pg_conn_close(struct pg_conn *c)
{
	if (c->db)
		PQfinish(c->db);
	c->db = NULL;
	c->prepared = 0;
}

/* Close both connections; the writer must be idle. */
static void
pg_close(void)
{
	pg_conn_close(&pg_main);
	pg_conn_close(&pg_wr);
	pg_conn_close(&pg_cl);
	free(pg_conninfo);
	pg_conninfo = NULL;
	free(pg_passfile);
	pg_passfile = NULL;
	pg_open_now = 0;
}

static const char *
pg_where(void)
{
	return pg_where_s;
}

static int
pg_version(void)
{
	int	 v;

	pg_count();
	if (pg_ready() == -1 || pg_schema_version(&v) == -1)
		return -1;
	return v;
}

/* ---- the batch, as one pipeline ---- */

/* Send all that libpq holds, reading the answers meanwhile so that the
 * server never blocks on a full socket. 0, or -1 noted (a connection
 * that makes no progress is given up). */
static int
pg_flush(void)
{
	struct pollfd	 p;
	int		 rc;

	while ((rc = PQflush(pc->db)) == 1) {
		p.fd = PQsocket(pc->db);
		p.events = POLLIN | POLLOUT;
		p.revents = 0;
		if ((rc = poll(&p, 1, PG_IO_TIMEOUT_MS)) == 0) {
			snprintf(pc->err, sizeof(pc->err), "no progress "
			    "writing to the server for %d s",
			    PG_IO_TIMEOUT_MS / 1000);
			pc->fault = 1;
			pg_conn_close(pc);
			return -1;
		}
		if (rc == -1 && errno != EINTR)
			break;
		if ((p.revents & POLLIN) && !PQconsumeInput(pc->db)) {
			rc = -1;
			break;
		}
	}
	if (rc == 0)
		return 0;
	pg_failed("sending the batch", NULL);
	return -1;
}

/* Queue one prepared statement in the pipeline. 0, or -1 noted. */
static int
pg_send(int which, int n, const char *const *vals, const int *lens,
    const int *fmts, size_t *nsent)
{
	char	 name[8];

	if (!PQsendQueryPrepared(pc->db, pg_name(which, name, sizeof(name)),
	    n, vals, lens, fmts, 0)) {
		pg_failed("sending the batch", NULL);
		return -1;
	}
	if (++*nsent % PG_FLUSH_EVERY == 0)
		return pg_flush();
	return 0;
}

/* The batch's first statement as a node of a cluster: (pg_node_name,
 * epoch) may still write, or the whole transaction fails with SP001. */
static int
pg_send_fence(int64_t epoch, size_t *nsent)
{
	char		 ep[24], lease[16];
	const char	*vals[3];

	snprintf(ep, sizeof(ep), "%" PRId64, epoch);
	snprintf(lease, sizeof(lease), "%d", pg_node_lease);
	vals[0] = pg_node_name;
	vals[1] = ep;
	vals[2] = lease;
	if (!PQsendQueryParams(pc->db, "SELECT sippush_fence($1, $2::bigint,"
	    " $3::integer)", 3, NULL, vals, NULL, NULL, 0)) {
		pg_failed("sending the batch", NULL);
		return -1;
	}
	++*nsent;
	return 0;
}

static int
pg_send_sql(const char *sql, size_t *nsent)
{
	if (!PQsendQueryParams(pc->db, sql, 0, NULL, NULL, NULL, NULL, 0)) {
		pg_failed("sending the batch", NULL);
		return -1;
	}
	++*nsent;
	return 0;
}

#define I64(buf, v)	(snprintf((buf), sizeof(buf), "%" PRId64, \
			    (int64_t)(v)), (buf))

static int
pg_cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int
pg_send_client(const struct client_row *c, size_t *nsent)
{
	char		 port[16], reg[24], exp[24], seen[24];
	const char	*v[12];

	const char	*me = pg_node_name[0] ? pg_node_name : NULL;
	const char	*w[13];

	switch (c->op) {
	case STORE_DELETE:
		v[0] = c->id;
		v[1] = me;
		return pg_send(me ? ST_CL_DELETE_CLIENT : ST_DELETE_CLIENT,
		    me ? 2 : 1, v, NULL, NULL, nsent);
	case STORE_TOUCH:
		v[0] = c->id;
		v[1] = c->state;
		v[2] = I64(seen, c->last_seen);
		v[3] = me;
		return pg_send(me ? ST_CL_TOUCH_CLIENT : ST_TOUCH_CLIENT,
		    me ? 4 : 3, v, NULL, NULL, nsent);
	}
	v[0] = c->id;
	v[1] = c->class;
	v[2] = c->state;
	v[3] = c->contact;
	v[4] = c->transport;
	v[5] = c->address;
	v[6] = I64(port, c->port);
	v[7] = c->user_agent;
	v[8] = I64(reg, c->registered_at);
	v[9] = I64(exp, c->expires_at);
	v[10] = I64(seen, c->last_seen);
	v[11] = c->path;
	if (me == NULL)
		return pg_send(ST_PUT_CLIENT, 12, v, NULL, NULL, nsent);
	memcpy(w, v, sizeof(v));
	w[12] = me;
	return pg_send(ST_CL_PUT_CLIENT, 13, w, NULL, NULL, nsent);
}

static int
pg_send_message(const struct message_row *m, size_t *nsent)
{
	char		 created[24], expires[24], fin[24];
	const char	*v[9];
	int		 lens[9], fmts[9];

	v[0] = m->id;
	v[1] = m->state;
	v[2] = m->finished_at ? I64(fin, m->finished_at) : NULL;
	if (m->op == STORE_TOUCH)
		return pg_send(ST_SET_MESSAGE_STATE, 3, v, NULL, NULL, nsent);
	memset(lens, 0, sizeof(lens));
	memset(fmts, 0, sizeof(fmts));
	v[2] = m->selector;
	v[3] = m->content_type;
	v[4] = m->body ? m->body : "";
	lens[4] = (int)m->body_len;
	fmts[4] = 1;		/* bytea, as bytes */
	v[5] = I64(created, m->created_at);
	v[6] = I64(expires, m->expires_at);
	v[7] = m->finished_at ? I64(fin, m->finished_at) : NULL;
	v[8] = m->callback;
	return pg_send(ST_PUT_MESSAGE, 9, v, lens, fmts, nsent);
}

static int
pg_send_target(const struct target_row *t, size_t *nsent)
{
	char		 att[24], next[24], st[16], last[24], acked[24];
	const char	*v[9];

	v[0] = t->message_id;
	v[1] = t->client;
	v[2] = t->state;
	v[3] = I64(att, t->attempts);
	v[4] = I64(next, t->next_attempt);
	v[5] = t->last_status ? I64(st, t->last_status) : NULL;
	v[6] = t->last_attempt ? I64(last, t->last_attempt) : NULL;
	v[7] = t->acked_at ? I64(acked, t->acked_at) : NULL;
	if (pg_node_name[0]) {
		v[8] = pg_node_name;
		return pg_send(ST_CL_PUT_TARGET, 9, v, NULL, NULL, nsent);
	}
	return pg_send(ST_PUT_TARGET, 8, v, NULL, NULL, nsent);
}

static int
pg_send_user(const struct user_row *u, size_t *nsent)
{
	char		 created[24];
	const char	*v[5];

	v[0] = u->id;
	if (u->op == STORE_DELETE)
		return pg_send(ST_DELETE_USER, 1, v, NULL, NULL, nsent);
	v[1] = u->realm;
	v[2] = u->ha1_sha256;
	v[3] = u->ha1_md5;
	v[4] = I64(created, u->created_at);
	return pg_send(ST_PUT_USER, 5, v, NULL, NULL, nsent);
}

static int
pg_send_token(const struct token_row *t, size_t *nsent)
{
	char		 created[24];
	const char	*v[4];

	v[0] = t->name;
	if (t->op == STORE_DELETE)
		return pg_send(ST_DELETE_TOKEN, 1, v, NULL, NULL, nsent);
	v[1] = t->hash;
	v[2] = t->scopes;
	v[3] = I64(created, t->created_at);
	return pg_send(ST_PUT_TOKEN, 4, v, NULL, NULL, nsent);
}

static int
pg_send_outbox(const struct outbox_row *o, size_t *nsent)
{
	char		 created[24], att[24], next[24];
	const char	*v[7];

	v[0] = o->id;
	if (o->op == STORE_DELETE)
		return pg_send(ST_DELETE_OUTBOX, 1, v, NULL, NULL, nsent);
	if (o->op == STORE_TOUCH) {
		v[1] = I64(att, o->attempts);
		v[2] = I64(next, o->next_attempt);
		return pg_send(ST_TOUCH_OUTBOX, 3, v, NULL, NULL, nsent);
	}
	v[1] = o->event;
	v[2] = o->url;
	v[3] = o->body;
	v[4] = I64(created, o->created_at);
	v[5] = I64(att, o->attempts);
	v[6] = I64(next, o->next_attempt);
	return pg_send(ST_PUT_OUTBOX, 7, v, NULL, NULL, nsent);
}

/* The statements of a batch whose rows are messages found finished
 * (ST_CL_COMPLETE): [pg_cap_first, pg_cap_end) of the pipeline, read
 * into pg_cap_list. */
static size_t			 pg_cap_first, pg_cap_end;
static struct store_finished	*pg_cap_list;

void
store_finished_free(struct store_finished *f)
{
	struct store_finished	*next;

	struct store_finished_ev	*ev;

	for (; f; f = next) {
		next = f->next;
		while ((ev = f->events) != NULL) {
			f->events = ev->next;
			free(ev->url);
			free(ev->body);
			free(ev);
		}
		free(f->callback);
		free(f);
	}
}

/* Row i's outbox event (columns 9..11) onto f. 0, or -1 (memory). */
static int
pg_finished_event(const PGresult *r, int i, struct store_finished *f)
{
	struct store_finished_ev	*ev;

	if ((ev = calloc(1, sizeof(*ev))) == NULL)
		return -1;
	snprintf(ev->id, sizeof(ev->id), "%s", PQgetvalue(r, i, 9));
	if ((ev->url = strdup(PQgetvalue(r, i, 10))) == NULL ||
	    (ev->body = strdup(PQgetvalue(r, i, 11))) == NULL) {
		free(ev->url);
		free(ev);
		return -1;
	}
	ev->next = f->events;
	f->events = ev;
	return 0;
}

/* The rows of an ST_CL_COMPLETE answer onto *list. 0, or -1 (memory). */
static int
pg_finished_rows(const PGresult *r, struct store_finished **list)
{
	struct store_finished	*f;
	int			 i;

	for (i = 0; i < PQntuples(r); i++) {
		if (i > 0 && !PQgetisnull(r, i, 9)) {	/* one more event */
			if (pg_finished_event(r, i, *list) == -1)
				return -1;
			continue;
		}
		if ((f = calloc(1, sizeof(*f))) == NULL)
			return -1;
		snprintf(f->id, sizeof(f->id), "%s", PQgetvalue(r, i, 0));
		f->cancelled = strcmp(PQgetvalue(r, i, 1), "cancelled") == 0;
		f->created_at = pg_i64(r, i, 2);
		f->finished_at = pg_i64(r, i, 3);
		if (!PQgetisnull(r, i, 4) &&
		    (f->callback = strdup(PQgetvalue(r, i, 4))) == NULL) {
			free(f);
			return -1;
		}
		f->count[TARGET_ACKED] = (size_t)pg_i64(r, i, 5);
		f->count[TARGET_EXPIRED] = (size_t)pg_i64(r, i, 6);
		f->count[TARGET_FAILED] = (size_t)pg_i64(r, i, 7);
		f->count[TARGET_CANCELLED] = (size_t)pg_i64(r, i, 8);
		f->next = *list;
		*list = f;
		if (PQnfields(r) > 9 && !PQgetisnull(r, i, 9) &&
		    pg_finished_event(r, i, f) == -1)
			return -1;
	}
	return 0;
}

/* The distinct message IDs of b's targets, as a text[] literal
 * ("{a,b}": IDs are hex), sorted; NULL when memory is short. */
static char *
pg_batch_ids(const struct store_batch *b, size_t *n)
{
	const char	**v;
	char		 *out, *p;
	size_t		  i, k = 0;

	if ((v = malloc(b->ntargets * sizeof(*v))) == NULL)
		return NULL;
	for (i = 0; i < b->ntargets; i++)
		v[i] = b->targets[i].message_id;
	qsort(v, b->ntargets, sizeof(*v), pg_cmp_str);
	for (i = 0; i < b->ntargets; i++)
		if (k == 0 || strcmp(v[k - 1], v[i]) != 0)
			v[k++] = v[i];
	if ((out = p = malloc(k * (MESSAGE_ID_LEN + 1) + 3)) == NULL) {
		free(v);
		return NULL;
	}
	*p++ = '{';
	for (i = 0; i < k; i++)
		p += sprintf(p, "%s%.*s", i ? "," : "", MESSAGE_ID_LEN, v[i]);
	*p++ = '}';
	*p = '\0';
	free(v);
	*n = k;
	return out;
}

static int
pg_send_lock(const struct store_batch *b, size_t *nsent)
{
	const char	*v[1];
	size_t		 n;
	int		 rv;

	if ((v[0] = pg_batch_ids(b, &n)) == NULL) {
		snprintf(pc->err, sizeof(pc->err), "out of memory");
		return -1;
	}
	rv = pg_send(ST_CL_LOCK_MESSAGES, 1, v, NULL, NULL, nsent);
	free((char *)v[0]);
	return rv;
}

/* An ST_CL_COMPLETE for each message of b's targets. */
static int
pg_send_complete(const struct store_batch *b, size_t *nsent)
{
	char		*ids, *p, *e, now[24];
	const char	*v[4];
	size_t		 n;
	int		 rv = 0;

	if ((ids = pg_batch_ids(b, &n)) == NULL) {
		snprintf(pc->err, sizeof(pc->err), "out of memory");
		return -1;
	}
	v[1] = I64(now, clock_now());
	v[2] = pg_wh_urls ? pg_wh_urls : "{}";
	v[3] = pg_wh_finished ? "true" : "false";
	for (p = ids + 1; rv == 0 && *p && *p != '}'; p = e + 1) {
		e = p + strcspn(p, ",}");
		if (*e == '}') {
			*e = '\0';
			v[0] = p;
			rv = pg_send(ST_CL_COMPLETE, 4, v, NULL, NULL, nsent);
			break;
		}
		*e = '\0';
		v[0] = p;
		rv = pg_send(ST_CL_COMPLETE, 4, v, NULL, NULL, nsent);
	}
	free(ids);
	return rv;
}

/* Read the answers of nsent statements and the sync. 0 if every one
 * succeeded, else -1 with the first failure noted. */
static int
pg_read_pipeline(size_t nsent)
{
	PGresult	*r;
	size_t		 i;
	int		 rv = 0, st;

	for (i = 0; i < nsent && pc->db; i++) {
		while ((r = PQgetResult(pc->db)) != NULL) {
			st = PQresultStatus(r);
			if (st == PGRES_TUPLES_OK && i >= pg_cap_first &&
			    i < pg_cap_end && rv == 0 &&
			    pg_finished_rows(r, &pg_cap_list) == -1) {
				snprintf(pc->err, sizeof(pc->err),
				    "out of memory");
				rv = -1;
			}
			if (st == PGRES_FATAL_ERROR && rv == 0) {
				pg_failed(NULL, r);
				pc->fenced = pg_is_fence(r);
				rv = -1;
			} else if (st == PGRES_PIPELINE_ABORTED && rv == 0) {
				pg_failed("pipeline aborted", r);
				rv = -1;
			}
			PQclear(r);
			if (pc->db == NULL)
				break;
		}
		if (pc->db && PQstatus(pc->db) != CONNECTION_OK) {
			if (rv == 0)
				pg_failed(NULL, NULL);
			rv = -1;
		}
	}
	if (pc->db == NULL)
		return -1;
	/* the sync */
	r = PQgetResult(pc->db);
	if (r == NULL || PQresultStatus(r) != PGRES_PIPELINE_SYNC) {
		if (rv == 0)
			pg_failed("pipeline sync", r);
		rv = -1;
	}
	PQclear(r);
	return rv;
}

/* Does a node's batch move targets to their client's node: a client
 * registered (taking its targets) or back online (taking its parked
 * ones)? */
static int
pg_moves_targets(const struct store_batch *b)
{
	size_t	 i;

	for (i = 0; i < b->nclients; i++)
		if (b->clients[i].op != STORE_DELETE)
			return 1;
	return 0;
}

#define PG_CONFLICT_TRIES	3	/* a batch in a deadlock: written again */

static int	 pg_write_once(const struct store_batch *);

/* Write a batch in one transaction: 0, or -1 rolled back (the reason in
 * pg_errmsg; a fault is logged and counted). A batch the server aborted
 * for a deadlock is written again at once, up to PG_CONFLICT_TRIES times
 * in all: its REGISTERs are not answered 500 for it. */
static int
pg_write(const struct store_batch *b)
{
	int	 i, rv;

	for (i = 1; (rv = pg_write_once(b)) == -1 && pc->conflict &&
	    !pc->fenced && i < PG_CONFLICT_TRIES; i++)
		log_info("store: postgresql: %s: the batch is written again",
		    pc->err);
	if (rv == -1 && pc->conflict && !pc->fenced)
		log_error("store: postgresql: %s", pc->err);
	return rv;
}

/* pg_write's one try; a conflict is not logged (pg_write does). */
static int
pg_write_once(const struct store_batch *b)
{
	size_t	 i, nsent = 0;
	int	 rv = 0;

	pg_count();
	pc->err[0] = '\0';
	pc->fault = 0;
	pc->fenced = 0;
	pc->conflict = 0;
	if (pg_ready() == -1) {
		if (pc->fault && pg_open_now)
			pg_fault();
		return -1;
	}
	if (!PQenterPipelineMode(pc->db) || PQsetnonblocking(pc->db, 1)) {
		pg_failed("entering pipeline mode", NULL);
		rv = -1;
	}
	pg_cap_first = pg_cap_end = 0;
	pg_cap_list = NULL;
	if (rv == 0)
		rv = pg_send_sql("BEGIN", &nsent);
	if (rv == 0 && b->epoch > 0)
		rv = pg_send_fence(b->epoch, &nsent);
	if (rv == 0 && pg_node_name[0] && pg_moves_targets(b))
		rv = pg_send_sql("SELECT pg_advisory_xact_lock_shared("
		    PG_PUB_LOCK_KEY ")", &nsent);
	/* the message rows first, before any target row: every writer of
	 * targets takes the locks in this order */
	if (rv == 0 && pg_node_name[0] && b->ntargets)
		rv = pg_send_lock(b, &nsent);
	for (i = 0; rv == 0 && i < b->nclients; i++)
		rv = pg_send_client(&b->clients[i], &nsent);
	for (i = 0; rv == 0 && i < b->nmsgs; i++)
		rv = pg_send_message(&b->msgs[i], &nsent);
	for (i = 0; rv == 0 && i < b->ntargets; i++)
		rv = pg_send_target(&b->targets[i], &nsent);
	if (rv == 0 && pg_node_name[0] && b->ntargets) {
		pg_cap_first = nsent;
		rv = pg_send_complete(b, &nsent);
		pg_cap_end = nsent;
	}
	for (i = 0; rv == 0 && i < b->nusers; i++)
		rv = pg_send_user(&b->users[i], &nsent);
	for (i = 0; rv == 0 && i < b->ntokens; i++)
		rv = pg_send_token(&b->tokens[i], &nsent);
	for (i = 0; rv == 0 && i < b->noutbox; i++)
		rv = pg_send_outbox(&b->outbox[i], &nsent);
	/* the other nodes reload their users and tokens */
	if (rv == 0 && pg_node_name[0] && (b->nusers || b->ntokens)) {
		const char	*v[2] = { "sippush_auth", pg_node_name };

		rv = pg_send(ST_CL_NOTIFY, 2, v, NULL, NULL, &nsent);
	}
	if (rv == 0)
		rv = pg_send_sql("COMMIT", &nsent);
	if (rv == 0 && !PQpipelineSync(pc->db)) {
		pg_failed("sending the batch", NULL);
		rv = -1;
	}
	if (rv == 0)
		rv = pg_flush();
	if (pc->db && nsent && (rv == 0 || PQstatus(pc->db) == CONNECTION_OK)) {
		if (rv == -1) {
			/* what was queued still answers: drain it */
			if (PQpipelineSync(pc->db) && pg_flush() == 0)
				(void)pg_read_pipeline(nsent);
		} else
			rv = pg_read_pipeline(nsent);
	}
	if (pc->db) {
		PQsetnonblocking(pc->db, 0);
		if (!PQexitPipelineMode(pc->db))
			pg_failed("leaving pipeline mode", NULL);
	}
	if (pc->db && PQtransactionStatus(pc->db) != PQTRANS_IDLE)
		PQclear(PQexec(pc->db, "ROLLBACK"));
	pg_cap_first = pg_cap_end = 0;
	if (rv == 0) {
		pg_recovered();
		if (b->finished) {
			struct store_finished	**fp = b->finished;

			while (*fp)
				fp = &(*fp)->next;
			*fp = pg_cap_list;
		} else
			store_finished_free(pg_cap_list);
		pg_cap_list = NULL;
		return 0;
	}
	store_finished_free(pg_cap_list);
	pg_cap_list = NULL;
	if (pc->fenced) {
		pg_fenced_mark = 1;
		log_warn("store: postgresql: batch refused: %s", pc->err);
	} else if (pc->fault)
		pg_fault();
	else if (!pc->conflict)
		log_error("store: postgresql: %s", pc->err);
	return -1;
}

/* ---- reads ---- */

/*
 * Run statement which and call row for each row of its answer. Big
 * answers (streamed: clients, targets) come one row at a time
 * (single-row mode: a million clients are never all in memory) and row
 * must not use the store meanwhile; others come whole first, so that
 * row may read the store (dispatch_restore loads each message's targets
 * from its message callback). row returns -1 to stop (the rest of a
 * streamed answer is read and dropped). The count of rows, or -1
 * (failed, noted and logged as what; or stopped).
 */
static int
pg_rows(int which, int n, const char *const *vals, const char *what,
    int streamed, int (*row)(const PGresult *, int, void *), void *arg)
{
	PGresult	*r;
	char		 name[8];
	int		 count = 0, stopped = 0, failed = 0, i;

	pc->err[0] = '\0';
	pc->fault = 0;
	if (pc->db && PQisBusy(pc->db)) {
		snprintf(pc->err, sizeof(pc->err), "%s: a read within a "
		    "streamed read", what);
		log_error("store: postgresql: %s", pc->err);
		return -1;
	}
	if (pg_ready() == -1) {
		log_error("store: %s: %s: %s", pg_where_s, what, pc->err);
		return -1;
	}
	if (!streamed) {
		r = PQexecPrepared(pc->db, pg_name(which, name, sizeof(name)),
		    n, vals, NULL, NULL, 0);
		if (PQresultStatus(r) != PGRES_TUPLES_OK) {
			pg_failed(what, r);
			log_error("store: %s: %s", pg_where_s, pc->err);
			PQclear(r);
			return -1;
		}
		for (i = 0; i < PQntuples(r) && !stopped; i++) {
			if (row(r, i, arg) == -1)
				stopped = 1;
			else
				count++;
		}
		PQclear(r);
		return stopped ? -1 : count;
	}
	if (!PQsendQueryPrepared(pc->db, pg_name(which, name, sizeof(name)),
	    n, vals, NULL, NULL, 0)) {
		pg_failed(what, NULL);
		log_error("store: %s: %s", pg_where_s, pc->err);
		return -1;
	}
	PQsetSingleRowMode(pc->db);
	while (pc->db && (r = PQgetResult(pc->db)) != NULL) {
		switch (PQresultStatus(r)) {
		case PGRES_SINGLE_TUPLE:
			if (!stopped && !failed) {
				if (row(r, 0, arg) == -1)
					stopped = 1;
				else
					count++;
			}
			break;
		case PGRES_TUPLES_OK:
		case PGRES_COMMAND_OK:
			break;
		default:
			if (!failed) {
				pg_failed(what, r);
				log_error("store: %s: %s", pg_where_s,
				    pc->err);
			}
			failed = 1;
		}
		PQclear(r);
	}
	return failed || stopped ? -1 : count;
}

static int64_t
pg_i64(const PGresult *r, int i, int col)
{
	return PQgetisnull(r, i, col) ? 0 :
	    strtoll(PQgetvalue(r, i, col), NULL, 10);
}

struct pg_cb {
	void	*fn;
	void	*arg;
	const char *message_id;
};

static int
pg_client_row(const PGresult *r, int i, void *arg)
{
	struct pg_cb		*cb = arg;
	struct client_row	 c;

	memset(&c, 0, sizeof(c));
	c.op = STORE_PUT;
	c.id = PQgetvalue(r, i, 0);
	c.class = PQgetvalue(r, i, 1);
	c.state = PQgetvalue(r, i, 2);
	c.contact = PQgetvalue(r, i, 3);
	c.transport = PQgetvalue(r, i, 4);
	c.address = PQgetvalue(r, i, 5);
	c.port = (int)pg_i64(r, i, 6);
	c.user_agent = PQgetisnull(r, i, 7) ? NULL : PQgetvalue(r, i, 7);
	c.registered_at = pg_i64(r, i, 8);
	c.expires_at = pg_i64(r, i, 9);
	c.last_seen = pg_i64(r, i, 10);
	c.path = PQgetisnull(r, i, 11) ? NULL : PQgetvalue(r, i, 11);
	if (PQnfields(r) > 12 && !PQgetisnull(r, i, 12))
		c.owner = PQgetvalue(r, i, 12);
	return ((int (*)(const struct client_row *, void *))cb->fn)(&c,
	    cb->arg);
}

static int
pg_load_clients(int (*fn)(const struct client_row *, void *), void *arg)
{
	struct pg_cb	 cb = { (void *)fn, arg, NULL };

	const char	*v[1] = { pg_node_name };

	pg_count();
	if (pg_node_name[0])	/* a node loads the clients it owns */
		return pg_rows(ST_CL_LOAD_CLIENTS, 1, v, "loading clients", 1,
		    pg_client_row, &cb);
	return pg_rows(ST_LOAD_CLIENTS, 0, NULL, "loading clients", 1,
	    pg_client_row, &cb);
}

static int
pg_list_clients(const struct client_filter *f, const char *after, int limit,
    int (*fn)(const struct client_row *, void *), void *arg)
{
	struct pg_cb	 cb = { (void *)fn, arg, NULL };
	char		 on[24], lim[24];
	const char	*v[5];

	pg_count();
	v[0] = after ? after : "";
	v[1] = f->class;
	v[2] = f->state;
	v[3] = I64(on, f->online);
	v[4] = I64(lim, limit);
	return pg_rows(ST_LIST_CLIENTS, 5, v, "listing clients", 0,
	    pg_client_row, &cb);
}

int
store_pg_client_get(const char *id,
    int (*fn)(const struct client_row *, void *), void *arg)
{
	struct pg_cb	 cb = { (void *)fn, arg, NULL };
	const char	*v[1] = { id };

	pg_count();
	return pg_rows(ST_GET_CLIENT, 1, v, "reading a client", 0,
	    pg_client_row, &cb);
}

static int
pg_message_row(const PGresult *r, int i, void *arg)
{
	struct pg_cb		*cb = arg;
	struct message_row	 m;
	unsigned char		*body;
	size_t			 len;
	int			 rv, k;

	memset(&m, 0, sizeof(m));
	m.op = STORE_PUT;
	m.id = PQgetvalue(r, i, 0);
	m.state = PQgetvalue(r, i, 1);
	m.selector = PQgetvalue(r, i, 2);
	m.content_type = PQgetvalue(r, i, 3);
	body = PQunescapeBytea((const unsigned char *)PQgetvalue(r, i, 4),
	    &len);
	if (body == NULL) {
		snprintf(pc->err, sizeof(pc->err), "out of memory");
		return -1;
	}
	m.body = body;
	m.body_len = len;
	m.created_at = pg_i64(r, i, 5);
	m.expires_at = pg_i64(r, i, 6);
	m.finished_at = pg_i64(r, i, 7);
	for (k = 0; k < 6; k++)
		m.count[k] = (size_t)pg_i64(r, i, 8 + k);
	m.callback = PQgetisnull(r, i, 14) ? NULL : PQgetvalue(r, i, 14);
	rv = ((int (*)(const struct message_row *, void *))cb->fn)(&m,
	    cb->arg);
	PQfreemem(body);
	return rv;
}

static int
pg_load_messages(const char *id, int active_only,
    const struct message_pos *after, int limit,
    int (*fn)(const struct message_row *, void *), void *arg)
{
	struct pg_cb	 cb = { (void *)fn, arg, NULL };
	char		 lim[24], at[24];
	const char	*v[5];

	/* the columns of the counts follow enum target_state */
	_Static_assert(TARGET_PENDING == 0 && TARGET_CANCELLED == 5,
	    "target states as in ST_LOAD_MESSAGES");
	pg_count();
	v[0] = id;
	v[1] = active_only ? "true" : "false";
	v[2] = limit < 0 ? NULL : I64(lim, limit);
	v[3] = after ? I64(at, after->created_at) : NULL;
	v[4] = after ? after->id : NULL;
	return pg_rows(ST_LOAD_MESSAGES, 5, v, "loading messages", 0,
	    pg_message_row, &cb);
}

static int
pg_target_row(const PGresult *r, int i, void *arg)
{
	struct pg_cb		*cb = arg;
	struct target_row	 t;

	memset(&t, 0, sizeof(t));
	t.op = STORE_PUT;
	t.message_id = cb->message_id;
	t.client = PQgetvalue(r, i, 0);
	t.state = PQgetvalue(r, i, 1);
	t.attempts = (uint32_t)pg_i64(r, i, 2);
	t.next_attempt = pg_i64(r, i, 3);
	t.last_attempt = pg_i64(r, i, 4);
	t.acked_at = pg_i64(r, i, 5);
	t.last_status = (int)pg_i64(r, i, 6);
	return ((int (*)(const struct target_row *, void *))cb->fn)(&t,
	    cb->arg);
}

static int
pg_load_targets(const char *message_id, const char *after, int limit,
    int (*fn)(const struct target_row *, void *), void *arg)
{
	struct pg_cb	 cb = { (void *)fn, arg, message_id };
	char		 lim[24];
	const char	*v[3];

	pg_count();
	v[0] = message_id;
	v[1] = after;
	v[2] = limit < 0 ? NULL : I64(lim, limit);
	return pg_rows(ST_LOAD_TARGETS, 3, v, "loading targets", 1,
	    pg_target_row, &cb);
}

static int
pg_user_row(const PGresult *r, int i, void *arg)
{
	struct pg_cb	*cb = arg;
	struct user_row	 u;

	memset(&u, 0, sizeof(u));
	u.op = STORE_PUT;
	u.id = PQgetvalue(r, i, 0);
	u.realm = PQgetvalue(r, i, 1);
	u.created_at = pg_i64(r, i, 2);
	u.ha1_sha256 = PQgetvalue(r, i, 3);
	u.ha1_md5 = PQgetvalue(r, i, 4);
	return ((int (*)(const struct user_row *, void *))cb->fn)(&u,
	    cb->arg);
}

static int
pg_load_users(const char *id, int (*fn)(const struct user_row *, void *),
    void *arg)
{
	struct pg_cb	 cb = { (void *)fn, arg, NULL };
	const char	*v[1] = { id };

	pg_count();
	return pg_rows(ST_LIST_USERS, 1, v, "listing users", 0, pg_user_row,
	    &cb);
}

static int
pg_token_row(const PGresult *r, int i, void *arg)
{
	struct pg_cb		*cb = arg;
	struct token_row	 t;

	memset(&t, 0, sizeof(t));
	t.op = STORE_PUT;
	t.name = PQgetvalue(r, i, 0);
	t.hash = PQgetvalue(r, i, 1);
	t.scopes = PQgetvalue(r, i, 2);
	t.created_at = pg_i64(r, i, 3);
	return ((int (*)(const struct token_row *, void *))cb->fn)(&t,
	    cb->arg);
}

static int
pg_load_tokens(int (*fn)(const struct token_row *, void *), void *arg)
{
	struct pg_cb	 cb = { (void *)fn, arg, NULL };

	pg_count();
	return pg_rows(ST_LIST_TOKENS, 0, NULL, "listing tokens", 0,
	    pg_token_row, &cb);
}

static int
pg_outbox_row(const PGresult *r, int i, void *arg)
{
	struct pg_cb		*cb = arg;
	struct outbox_row	 o;

	memset(&o, 0, sizeof(o));
	o.op = STORE_PUT;
	o.id = PQgetvalue(r, i, 0);
	o.event = PQgetvalue(r, i, 1);
	o.url = PQgetisnull(r, i, 2) ? NULL : PQgetvalue(r, i, 2);
	o.body = PQgetvalue(r, i, 3);
	o.created_at = pg_i64(r, i, 4);
	o.attempts = (int)pg_i64(r, i, 5);
	o.next_attempt = pg_i64(r, i, 6);
	return ((int (*)(const struct outbox_row *, void *))cb->fn)(&o,
	    cb->arg);
}

static int
pg_load_outbox(int (*fn)(const struct outbox_row *, void *), void *arg)
{
	struct pg_cb	 cb = { (void *)fn, arg, NULL };

	pg_count();
	return pg_rows(ST_LOAD_OUTBOX, 0, NULL, "listing the webhook outbox",
	    0, pg_outbox_row, &cb);
}

/* ---- the cluster: ownership and messages across nodes ---- */

/* Run sql with n text parameters on pc; the result (the caller clears
 * it), or NULL noted and logged as what. */
static PGresult *
pg_q(const char *what, const char *sql, int n, const char *const *v)
{
	PGresult	*r;
	int		 st;

	r = PQexecParams(pc->db, sql, n, NULL, v, NULL, NULL, 0);
	st = PQresultStatus(r);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		pg_failed(what, r);
		if ((pc->fenced = pg_is_fence(r)) != 0) {
			/* the node's own transaction found it fenced: the
			 * loop reacts as to a refused batch */
			pg_fenced_mark = 1;
			log_warn("store: postgresql: %s refused: %s", what,
			    pc->err);
		} else
			log_error("store: %s: %s", pg_where_s, pc->err);
		PQclear(r);
		if (pc->db && PQtransactionStatus(pc->db) != PQTRANS_IDLE)
			PQclear(PQexec(pc->db, "ROLLBACK"));
		return NULL;
	}
	return r;
}

/* Run sql for its effect; 0, or -1 noted, logged, rolled back. */
static int
pg_do(const char *what, const char *sql, int n, const char *const *v)
{
	PGresult	*r;

	if ((r = pg_q(what, sql, n, v)) == NULL)
		return -1;
	PQclear(r);
	return 0;
}

/* BEGIN, and the node's fence when it has joined (epoch > 0): a node
 * whose lease lapsed writes nothing. 0, or -1 noted. */
static int
pg_cl_begin(const char *what)
{
	char		 ep[24], lease[24];
	const char	*v[3];

	pc->err[0] = '\0';
	pc->fault = 0;
	if (pg_ready() == -1) {
		log_error("store: %s: %s: %s", pg_where_s, what, pc->err);
		return -1;
	}
	if (pg_do(what, "BEGIN", 0, NULL) == -1)
		return -1;
	if (pg_node_epoch <= 0)
		return 0;
	v[0] = pg_node_name;
	v[1] = I64(ep, pg_node_epoch);
	v[2] = I64(lease, pg_node_lease);
	return pg_do(what, "SELECT sippush_fence($1, $2::bigint, $3::integer)",
	    3, v);
}

/* COMMIT; 0, or -1 noted. */
static int
pg_cl_commit(const char *what)
{
	return pg_do(what, "COMMIT", 0, NULL);
}

static void
pg_cl_rollback(void)
{
	if (pc->db && PQtransactionStatus(pc->db) != PQTRANS_IDLE)
		PQclear(PQexec(pc->db, "ROLLBACK"));
}

/* A text[] literal of v (client IDs and class names: no quotes,
 * backslashes, commas or braces in them, but quoted anyway); NULL when
 * memory is short. */
static char *
pg_array(const char *const *v, size_t n)
{
	struct buf	 b = { 0 };
	size_t		 i;
	const char	*p;

	buf_puts(&b, "{");
	for (i = 0; i < n; i++) {
		buf_puts(&b, i ? ",\"" : "\"");
		for (p = v[i]; *p; p++)
			buf_printf(&b, "%s%c", *p == '"' || *p == '\\' ?
			    "\\" : "", *p);
		buf_puts(&b, "\"");
	}
	buf_puts(&b, "}");
	if (b.data == NULL)
		buf_free(&b);
	return b.data;
}

/*
 * Publish p on the fleet, in one transaction: the message, and its
 * targets chosen here from the clients table (every client for all,
 * those of p's classes, those of p's IDs: in any state), each owned by
 * its client's node when the client is online, else parked (no owner).
 * At COMMIT every node is told (channel sippush_msg, the ID) and loads
 * its own targets. 0 committed; 1 refused and rolled back (p->missing:
 * an ID that is no client; p->targets 0: none matched; p->nfull: clients
 * at p->max_pending; p->udp with a body over 1300 bytes: the caller
 * decides, the counts are filled); -1 store failure (pg_errmsg).
 */
int
store_pg_publish(struct store_pub *p)
{
	PGresult	*r;
	char		 created[24], expires[24], now[24], maxp[24];
	char		*classes = NULL, *ids = NULL;
	const char	*v[9];
	int		 lens[9], fmts[9], rv = -1;

	pg_count();
	p->missing[0] = p->full[0] = '\0';
	p->nfull = p->full_pending = p->targets = p->online = p->udp = 0;
	if ((classes = pg_array(p->classes, p->nclasses)) == NULL ||
	    (ids = pg_array(p->ids, p->nids)) == NULL) {
		snprintf(pc->err, sizeof(pc->err), "out of memory");
		goto out;
	}
	if (pg_cl_begin("publishing") == -1)
		goto out;
	v[0] = ids;
	if ((r = pg_q("publishing", "SELECT x FROM unnest($1::text[]) x"
	    " WHERE NOT EXISTS (SELECT 1 FROM clients c WHERE c.id = x)"
	    " LIMIT 1", 1, v)) == NULL)
		goto out;
	if (PQntuples(r) == 1) {
		snprintf(p->missing, sizeof(p->missing), "%s",
		    PQgetvalue(r, 0, 0));
		PQclear(r);
		pg_cl_rollback();
		rv = 1;
		goto out;
	}
	PQclear(r);
	memset(lens, 0, sizeof(lens));
	memset(fmts, 0, sizeof(fmts));
	v[0] = p->id;
	v[1] = "active";
	v[2] = p->selector;
	v[3] = p->content_type;
	v[4] = p->body;
	lens[4] = (int)p->body_len;
	fmts[4] = 1;
	v[5] = I64(created, p->created_at);
	v[6] = I64(expires, p->expires_at);
	v[7] = NULL;
	v[8] = p->callback;
	r = PQexecParams(pc->db, "INSERT INTO messages (id, state, selector,"
	    " content_type, body, created_at, expires_at, finished_at,"
	    " callback) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)", 9, NULL,
	    v, lens, fmts, 0);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		pg_failed("publishing", r);
		log_error("store: %s: %s", pg_where_s, pc->err);
		PQclear(r);
		pg_cl_rollback();
		goto out;
	}
	PQclear(r);
	v[0] = p->id;
	v[1] = I64(now, p->now_ms);
	v[2] = p->all ? "true" : "false";
	v[3] = classes;
	v[4] = ids;
	if ((r = pg_q("publishing", "WITH t AS (INSERT INTO targets"
	    " (message_id, client_id, state, attempts, next_attempt, owner)"
	    " SELECT $1, c.id, 'pending', 0, $2::bigint, CASE WHEN"
	    "  c.state = 'online' THEN c.owner END FROM clients c"
	    "  WHERE $3::boolean OR c.class = ANY($4::text[])"
	    "  OR c.id = ANY($5::text[])"
	    " RETURNING client_id)"
	    " SELECT count(*),"
	    " count(*) FILTER (WHERE c.state = 'online'),"
	    " count(*) FILTER (WHERE c.transport = 'udp')"
	    " FROM t JOIN clients c ON c.id = t.client_id", 5, v)) == NULL)
		goto out;
	p->targets = (size_t)pg_i64(r, 0, 0);
	p->online = (size_t)pg_i64(r, 0, 1);
	p->udp = (size_t)pg_i64(r, 0, 2);
	PQclear(r);
	if (p->targets == 0) {
		pg_cl_rollback();
		rv = 1;
		goto out;
	}
	v[0] = p->id;
	v[1] = I64(maxp, p->max_pending);
	if ((r = pg_q("publishing", "SELECT count(*), min(client_id),"
	    " coalesce((array_agg(n ORDER BY client_id))[1], 0) FROM"
	    " (SELECT o.client_id, count(*) AS n FROM targets o"
	    "  WHERE o.client_id IN (SELECT client_id FROM targets"
	    "   WHERE message_id = $1)"
	    "  AND o.state IN ('pending', 'sent') AND o.message_id <> $1"
	    "  GROUP BY o.client_id HAVING count(*) >= $2::bigint) f",
	    2, v)) == NULL)
		goto out;
	p->nfull = (size_t)pg_i64(r, 0, 0);
	if (p->nfull) {
		snprintf(p->full, sizeof(p->full), "%s", PQgetvalue(r, 0, 1));
		p->full_pending = (size_t)pg_i64(r, 0, 2);
	}
	PQclear(r);
	if (p->nfull || (p->udp && p->body_len > MESSAGE_UDP_BODY_MAX)) {
		pg_cl_rollback();
		rv = 1;
		goto out;
	}
	/*
	 * The targets took their owners from this statement's snapshot: a
	 * client that registered with another node (moving its targets
	 * before these existed), came back online or lost its node since
	 * would keep a target nobody sends. With the registrations held off
	 * until COMMIT, each target's owner is set again from its client's
	 * row as it is now.
	 */
	v[0] = p->id;
	if (pg_node_name[0] && (pg_do("publishing", "SELECT"
	    " pg_advisory_xact_lock(" PG_PUB_LOCK_KEY ")", 0, NULL) == -1 ||
	    pg_do("publishing", "UPDATE targets t SET owner = CASE WHEN"
	    " c.state = 'online' THEN c.owner END FROM clients c"
	    " WHERE t.message_id = $1 AND c.id = t.client_id"
	    " AND t.owner IS DISTINCT FROM (CASE WHEN c.state = 'online'"
	    " THEN c.owner END)", 1, v) == -1))
		goto out;
	v[0] = "sippush_msg";
	v[1] = p->id;
	if (pg_do("publishing", "SELECT pg_notify($1, $2)", 2, v) == -1 ||
	    pg_cl_commit("publishing") == -1)
		goto out;
	rv = 0;
out:
	if (rv == -1)
		pg_cl_rollback();
	free(classes);
	free(ids);
	return rv;
}

/*
 * Cancel message id fleet-wide: its unfinished targets, wherever they
 * are, become cancelled; the message is finished (onto *fin) and the
 * owners are told (channel sippush_cancel). 1 cancelled (*cancelled:
 * its targets that were unfinished), 0 no such message, 2 not active
 * (already finished or cancelled), -1 store failure.
 */
int
store_pg_cancel(const char *id, int64_t now, size_t *cancelled,
    struct store_finished **fin)
{
	PGresult	*r;
	char		 t[24];
	const char	*v[4];
	int		 found;

	pg_count();
	*cancelled = 0;
	if (pg_cl_begin("cancelling") == -1)
		return -1;
	v[0] = id;
	if ((r = pg_q("cancelling", "SELECT state, finished_at IS NULL FROM"
	    " messages WHERE id = $1 FOR UPDATE", 1, v)) == NULL)
		return -1;
	found = PQntuples(r) == 1;
	if (!found || strcmp(PQgetvalue(r, 0, 0), "active") != 0 ||
	    strcmp(PQgetvalue(r, 0, 1), "t") != 0) {
		PQclear(r);
		pg_cl_rollback();
		return found ? 2 : 0;
	}
	PQclear(r);
	if (pg_do("cancelling", "UPDATE messages SET state = 'cancelled'"
	    " WHERE id = $1", 1, v) == -1 ||
	    (r = pg_q("cancelling", "UPDATE targets SET state = 'cancelled'"
	    " WHERE message_id = $1 AND state IN ('pending', 'sent')", 1,
	    v)) == NULL)
		return -1;
	*cancelled = (size_t)strtoull(PQcmdTuples(r), NULL, 10);
	PQclear(r);
	v[1] = I64(t, now);
	v[2] = pg_wh_urls ? pg_wh_urls : "{}";
	v[3] = pg_wh_finished ? "true" : "false";
	if ((r = pg_q("cancelling", pg_sql[ST_CL_COMPLETE], 4, v)) == NULL)
		return -1;
	if (pg_finished_rows(r, fin) == -1) {
		PQclear(r);
		pg_cl_rollback();
		snprintf(pc->err, sizeof(pc->err), "out of memory");
		return -1;
	}
	PQclear(r);
	v[0] = "sippush_cancel";
	v[1] = id;
	if (pg_do("cancelling", "SELECT pg_notify($1, $2)", 2, v) == -1 ||
	    pg_cl_commit("cancelling") == -1) {
		store_finished_free(*fin);
		*fin = NULL;
		return -1;
	}
	return 1;
}

/*
 * The targets of a list of clients ($3), read client by client through
 * targets_client: with "client_id = ANY($3) AND owner = $1" the planner
 * took targets_owner and read the node's whole share of the fleet for
 * every take-over job (2,300 clients of a dead node at 100,000 targets:
 * 129 ms against 25 ms, and a node's death is a few hundred such jobs).
 * OFFSET 0 keeps the subquery from being flattened back into that plan.
 */
#define PG_OWNED_OF_CLIENTS "unnest($3::text[]) AS c(id)"		\
	" CROSS JOIN LATERAL (SELECT * FROM targets x"			\
	"  WHERE x.client_id = c.id AND x.state IN ('pending', 'sent')"	\
	"  OFFSET 0) t"
#define PG_OWNED_WHERE "t.owner = $1 AND t.state IN ('pending', 'sent')" \
	" AND ($2::text IS NULL OR t.message_id = $2)"

/*
 * This node's unfinished targets (owner = the node): of message_id if
 * not NULL, of those clients if nclients, else all. First mfn for each
 * of their messages (counts not filled), then tfn for each target
 * (message_id set), ordered by message and client. The number of
 * targets, or -1.
 */
int
store_pg_load_owned(const char *message_id, const char *const *clients,
    size_t nclients, int (*mfn)(const struct message_row *, void *),
    int (*tfn)(const struct target_row *, void *), void *arg)
{
	PGresult		*r;
	struct message_row	 m;
	struct target_row	 t;
	unsigned char		*body;
	size_t			 len;
	char			*ids = NULL, sql[1024];
	const char		*v[3], *from = "targets t";
	int			 i, nv = 2, n = -1;

	pg_count();
	pc->err[0] = '\0';
	pc->fault = 0;
	if (pg_ready() == -1) {
		log_error("store: %s: loading targets: %s", pg_where_s,
		    pc->err);
		return -1;
	}
	if (nclients && (ids = pg_array(clients, nclients)) == NULL)
		return -1;
	v[0] = pg_node_name;
	v[1] = message_id;
	v[2] = ids;
	if (nclients) {
		from = PG_OWNED_OF_CLIENTS;
		nv = 3;
	}
	/* one snapshot for both reads */
	if (pg_do("loading targets", "BEGIN ISOLATION LEVEL REPEATABLE READ"
	    " READ ONLY", 0, NULL) == -1)
		goto out;
	snprintf(sql, sizeof(sql), "SELECT id, state, selector,"
	    " content_type, body, created_at, expires_at, callback"
	    " FROM messages WHERE id IN (SELECT t.message_id FROM %s"
	    "  WHERE %s) AND finished_at IS NULL ORDER BY id", from,
	    PG_OWNED_WHERE);
	if ((r = pg_q("loading targets", sql, nv, v)) == NULL)
		goto out;
	for (i = 0; i < PQntuples(r); i++) {
		memset(&m, 0, sizeof(m));
		m.op = STORE_PUT;
		m.id = PQgetvalue(r, i, 0);
		m.state = PQgetvalue(r, i, 1);
		m.selector = PQgetvalue(r, i, 2);
		m.content_type = PQgetvalue(r, i, 3);
		body = PQunescapeBytea((const unsigned char *)
		    PQgetvalue(r, i, 4), &len);
		if (body == NULL) {
			PQclear(r);
			goto out;
		}
		m.body = body;
		m.body_len = len;
		m.created_at = pg_i64(r, i, 5);
		m.expires_at = pg_i64(r, i, 6);
		m.callback = PQgetisnull(r, i, 7) ? NULL :
		    PQgetvalue(r, i, 7);
		if (mfn(&m, arg) == -1) {
			PQfreemem(body);
			PQclear(r);
			goto out;
		}
		PQfreemem(body);
	}
	PQclear(r);
	snprintf(sql, sizeof(sql), "SELECT t.message_id, t.client_id,"
	    " t.state, t.attempts, t.next_attempt,"
	    " coalesce(t.last_attempt, 0), coalesce(t.acked_at, 0),"
	    " coalesce(t.last_status, 0) FROM %s JOIN messages m"
	    " ON m.id = t.message_id AND m.finished_at IS NULL"
	    " WHERE %s ORDER BY t.message_id, t.client_id", from,
	    PG_OWNED_WHERE);
	if ((r = pg_q("loading targets", sql, nv, v)) == NULL)
		goto out;
	for (i = 0; i < PQntuples(r); i++) {
		memset(&t, 0, sizeof(t));
		t.op = STORE_PUT;
		t.message_id = PQgetvalue(r, i, 0);
		t.client = PQgetvalue(r, i, 1);
		t.state = PQgetvalue(r, i, 2);
		t.attempts = (uint32_t)pg_i64(r, i, 3);
		t.next_attempt = pg_i64(r, i, 4);
		t.last_attempt = pg_i64(r, i, 5);
		t.acked_at = pg_i64(r, i, 6);
		t.last_status = (int)pg_i64(r, i, 7);
		if (tfn(&t, arg) == -1) {
			PQclear(r);
			goto out;
		}
	}
	n = PQntuples(r);
	PQclear(r);
out:
	pg_cl_rollback();
	free(ids);
	return n;
}

/*
 * What the notifications may have missed (the poll, every cluster.poll
 * ms): gone(message, 1) for each message cancelled since `since` (unix
 * s); if clients (the LISTEN connection was down meanwhile: a
 * registration elsewhere may have gone unheard), gone(client, 0) for
 * each client another node (or none) owns now that registered since
 * then; if full (the reads that grow with the fleet: now and then, and
 * after LISTEN was down), owned(message, n) for every message with n
 * unfinished targets of this node (ordered by message) and into authsum
 * a digest of the users and tokens (changed: reload them), else
 * authsum "". 0, or -1.
 */
int
store_pg_poll(int64_t since, int clients, int full,
    int (*owned)(const char *message_id, size_t n, void *),
    int (*gone)(const char *id, int cancelled, void *),
    char *authsum, size_t authlen, void *arg)
{
	PGresult	*r;
	char		 t[24];
	const char	*v[3];
	int		 i, rv = -1;

	pg_count();
	pc->err[0] = '\0';
	pc->fault = 0;
	if (pg_ready() == -1) {
		log_error("store: %s: polling: %s", pg_where_s, pc->err);
		return -1;
	}
	v[0] = pg_node_name;
	v[1] = I64(t, since);
	if (authlen)
		authsum[0] = '\0';
	if (full) {
		if ((r = pg_q("polling", "SELECT message_id, count(*)"
		    " FROM targets WHERE owner = $1"
		    " AND state IN ('pending', 'sent')"
		    " GROUP BY message_id ORDER BY message_id", 1, v)) == NULL)
			return -1;
		for (i = 0; i < PQntuples(r); i++)
			if (owned(PQgetvalue(r, i, 0),
			    (size_t)pg_i64(r, i, 1), arg) == -1)
				goto out;
		PQclear(r);
	}
	v[2] = clients ? "true" : "false";
	if ((r = pg_q("polling", "SELECT id, false FROM clients"
	    " WHERE $3::boolean AND owner IS DISTINCT FROM $1"
	    " AND registered_at >= $2::bigint"
	    " UNION ALL SELECT id, true FROM messages"
	    " WHERE state = 'cancelled' AND finished_at >= $2::bigint",
	    3, v)) == NULL)
		return -1;
	for (i = 0; i < PQntuples(r); i++)
		if (gone(PQgetvalue(r, i, 0),
		    strcmp(PQgetvalue(r, i, 1), "t") == 0, arg) == -1)
			goto out;
	PQclear(r);
	if (!full)
		return 0;
	if ((r = pg_q("polling", "SELECT md5(coalesce((SELECT string_agg("
	    " id || ':' || ha1_sha256 || ha1_md5, ',' ORDER BY id) FROM"
	    " users), '') || '/' || coalesce((SELECT string_agg(name || ':'"
	    " || hash || scopes, ',' ORDER BY name) FROM tokens), ''))",
	    0, NULL)) == NULL)
		return -1;
	snprintf(authsum, authlen, "%s", PQgetvalue(r, 0, 0));
	rv = 0;
out:
	PQclear(r);
	return rv;
}

#define PG_CL_LOCK_KEY	"7310302143262281073"	/* the one-node chores */

/*
 * The parked targets (no owner: their client offline, or its node down)
 * of messages whose TTL ran out by now become expired, and the messages
 * so finished go onto *fin; on one node at a time (an advisory lock;
 * another node holding it: 0 done here). The count expired, or -1.
 */
int
store_pg_expire_parked(int64_t now, struct store_finished **fin)
{
	PGresult	*r, *c;
	char		 t[24];
	const char	*v[4];
	int		 i, n;

	pg_count();
	if (pg_cl_begin("expiring parked targets") == -1)
		return -1;
	if ((r = pg_q("expiring parked targets", "SELECT"
	    " pg_try_advisory_xact_lock(" PG_CL_LOCK_KEY ")", 0, NULL))
	    == NULL)
		return -1;
	if (strcmp(PQgetvalue(r, 0, 0), "t") != 0) {
		PQclear(r);
		pg_cl_rollback();
		return 0;
	}
	PQclear(r);
	v[0] = I64(t, now);
	if ((r = pg_q("expiring parked targets", "WITH e AS (UPDATE targets"
	    " t SET state = 'expired' FROM messages m"
	    " WHERE m.id = t.message_id AND t.owner IS NULL"
	    " AND t.state IN ('pending', 'sent') AND m.expires_at <= $1::bigint"
	    " RETURNING t.message_id)"
	    " SELECT DISTINCT message_id FROM e ORDER BY 1", 1, v)) == NULL)
		return -1;
	n = PQntuples(r);
	v[1] = v[0];
	v[2] = pg_wh_urls ? pg_wh_urls : "{}";
	v[3] = pg_wh_finished ? "true" : "false";
	for (i = 0; i < n; i++) {
		v[0] = PQgetvalue(r, i, 0);
		if ((c = pg_q("expiring parked targets", pg_sql[ST_CL_COMPLETE],
		    4, v)) == NULL) {
			PQclear(r);
			return -1;
		}
		if (pg_finished_rows(c, fin) == -1) {
			PQclear(c);
			PQclear(r);
			pg_cl_rollback();
			return -1;
		}
		PQclear(c);
	}
	PQclear(r);
	if (pg_cl_commit("expiring parked targets") == -1) {
		store_finished_free(*fin);
		*fin = NULL;
		return -1;
	}
	return n;
}

/* ---- the LISTEN connection, on a thread of its own ---- */

/*
 * Why a thread: LISTEN needs a connection of its own that reconnects by
 * itself, and connecting (and the LISTEN commands after) blocks; the
 * event loop runs no SQL, not even that (test_loop_runs_no_sql). The
 * thread only waits on its socket, queues what arrives (bounded) and
 * signals efd; the loop takes the queue (store_pg_listen_take).
 */
#define PG_NOTES_MAX	4096

static pthread_t	 pg_ln_thread;
static int		 pg_ln_on;
static int		 pg_ln_quit[2] = { -1, -1 };	/* a pipe: stop */
static int		 pg_ln_efd = -1;
static char		**pg_ln_chan;
static size_t		 pg_ln_nchan;
static pthread_mutex_t	 pg_ln_lock = PTHREAD_MUTEX_INITIALIZER;
static struct store_note *pg_ln_q;
static size_t		 pg_ln_n;
static int		 pg_ln_over;	/* notes dropped: poll */

static void
pg_ln_push(const char *channel, const char *payload)
{
	uint64_t	 one = 1;
	ssize_t		 w;

	pthread_mutex_lock(&pg_ln_lock);
	if (pg_ln_n < PG_NOTES_MAX) {
		snprintf(pg_ln_q[pg_ln_n].channel,
		    sizeof(pg_ln_q[pg_ln_n].channel), "%s", channel);
		snprintf(pg_ln_q[pg_ln_n].payload,
		    sizeof(pg_ln_q[pg_ln_n].payload), "%s", payload);
		pg_ln_n++;
	} else
		pg_ln_over = 1;
	pthread_mutex_unlock(&pg_ln_lock);
	w = write(pg_ln_efd, &one, sizeof(one));
	(void)w;
}

/* Connect and LISTEN; NULL when it cannot (tried again later). */
static PGconn *
pg_ln_connect(void)
{
	const char	*keys[6], *vals[6];
	char		 sql[160];
	PGconn		*db;
	PGresult	*r;
	size_t		 i;
	int		 n = 0;

	keys[n] = "application_name", vals[n++] = "sippushd-listen";
	keys[n] = "connect_timeout", vals[n++] = "10";
	keys[n] = "dbname", vals[n++] = pg_conninfo;
	if (pg_passfile)
		keys[n] = "passfile", vals[n++] = pg_passfile;
	keys[n] = NULL, vals[n] = NULL;
	if ((db = PQconnectdbParams(keys, vals, 1)) == NULL)
		return NULL;
	if (PQstatus(db) != CONNECTION_OK) {
		PQfinish(db);
		return NULL;
	}
	PQsetNoticeProcessor(db, pg_notice, NULL);
	for (i = 0; i < pg_ln_nchan; i++) {
		snprintf(sql, sizeof(sql), "LISTEN \"%s\"", pg_ln_chan[i]);
		r = PQexec(db, sql);
		if (PQresultStatus(r) != PGRES_COMMAND_OK) {
			log_error("store: %s: LISTEN %s: %s", pg_where_s,
			    pg_ln_chan[i], PQresultErrorMessage(r));
			PQclear(r);
			PQfinish(db);
			return NULL;
		}
		PQclear(r);
	}
	return db;
}

static void *
pg_ln_main(void *arg)
{
	struct pollfd	 p[2];
	PGconn		*db = NULL;
	PGnotify	*nt;
	int		 down = 0, wait_ms, ever = 0;

	(void)arg;
	for (;;) {
		if (db == NULL) {
			if ((db = pg_ln_connect()) != NULL) {
				if (down || ever)
					log_notice("store: %s: listening "
					    "again (polling for what was "
					    "missed)", pg_where_s);
				down = 0;
				ever = 1;
				pg_ln_push("", "");	/* poll: missed any? */
			} else if (!down) {
				log_warn("store: %s: cannot listen for the "
				    "other nodes' changes; polling meanwhile, "
				    "trying again every second", pg_where_s);
				down = 1;
			}
		}
		p[0].fd = pg_ln_quit[0];
		p[0].events = POLLIN;
		p[1].fd = db ? PQsocket(db) : -1;
		p[1].events = POLLIN;
		p[0].revents = p[1].revents = 0;
		wait_ms = db ? -1 : 1000;
		if (poll(p, 2, wait_ms) == -1 && errno != EINTR)
			break;
		if (p[0].revents)
			break;
		if (db == NULL || p[1].revents == 0)
			continue;
		if (!PQconsumeInput(db) || PQstatus(db) != CONNECTION_OK) {
			log_warn("store: %s: the LISTEN connection was lost: "
			    "connecting again", pg_where_s);
			PQfinish(db);
			db = NULL;
			continue;
		}
		while ((nt = PQnotifies(db)) != NULL) {
			pg_ln_push(nt->relname, nt->extra ? nt->extra : "");
			PQfreemem(nt);
		}
	}
	if (db)
		PQfinish(db);
	return NULL;
}

/* LISTEN on channels (copied) from a thread, signalling efd (an
 * eventfd) when notes arrive. 0, or -1. */
int
store_pg_listen_start(const char *const *channels, size_t n, int efd)
{
	size_t	 i;

	if (pg_ln_on || !pg_open_now)
		return -1;
	if ((pg_ln_q = calloc(PG_NOTES_MAX, sizeof(*pg_ln_q))) == NULL ||
	    (pg_ln_chan = calloc(n, sizeof(*pg_ln_chan))) == NULL)
		goto fail;
	for (i = 0; i < n; i++)
		if ((pg_ln_chan[i] = strdup(channels[i])) == NULL)
			goto fail;
	pg_ln_nchan = n;
	pg_ln_efd = efd;
	pg_ln_n = 0;
	pg_ln_over = 0;
	if (pipe(pg_ln_quit) == -1)
		goto fail;
	if (pthread_create(&pg_ln_thread, NULL, pg_ln_main, NULL) != 0) {
		close(pg_ln_quit[0]);
		close(pg_ln_quit[1]);
		goto fail;
	}
	pg_ln_on = 1;
	return 0;
fail:
	pg_ln_quit[0] = pg_ln_quit[1] = -1;
	for (i = 0; pg_ln_chan && i < n; i++)
		free(pg_ln_chan[i]);
	free(pg_ln_chan);
	pg_ln_chan = NULL;
	free(pg_ln_q);
	pg_ln_q = NULL;
	return -1;
}

void
store_pg_listen_stop(void)
{
	size_t	 i;
	ssize_t	 w;

	if (!pg_ln_on)
		return;
	w = write(pg_ln_quit[1], "q", 1);
	(void)w;
	pthread_join(pg_ln_thread, NULL);
	close(pg_ln_quit[0]);
	close(pg_ln_quit[1]);
	pg_ln_quit[0] = pg_ln_quit[1] = -1;
	for (i = 0; i < pg_ln_nchan; i++)
		free(pg_ln_chan[i]);
	free(pg_ln_chan);
	pg_ln_chan = NULL;
	pg_ln_nchan = 0;
	free(pg_ln_q);
	pg_ln_q = NULL;
	pg_ln_on = 0;
}

/* Take up to max queued notes into v; the count. A queue that overflowed
 * gives one note with channel "" (poll) first. */
size_t
store_pg_listen_take(struct store_note *v, size_t max)
{
	size_t	 n = 0;

	pthread_mutex_lock(&pg_ln_lock);
	if (pg_ln_over && max > 0) {
		v[n].channel[0] = v[n].payload[0] = '\0';
		n++;
		pg_ln_over = 0;
	}
	while (n < max && pg_ln_n > 0) {
		v[n++] = pg_ln_q[0];
		memmove(pg_ln_q, pg_ln_q + 1, --pg_ln_n * sizeof(*pg_ln_q));
	}
	pthread_mutex_unlock(&pg_ln_lock);
	return n;
}

/*
 * The purge: finished messages, and on a node of a cluster the client
 * rows no node holds (owner NULL: their node went down) whose
 * registration ended at or before ended_before, as a node's sweep
 * deletes its own past registration.retain. At most PURGE_ENDED_MAX of
 * those a run (a big node's death leaves many; the next run goes on),
 * rows a REGISTER has locked skipped (it takes them). One node at a
 * time (the advisory lock of the one-node chores), in one transaction.
 */
static int
pg_purge(int64_t finished_before, int64_t ended_before, long *ended)
{
	PGresult	*r;
	char		 t[24], name[8], lim[24];
	const char	*v[2];
	int		 n = 0;

	pg_count();
	*ended = 0;
	pc->err[0] = '\0';
	pc->fault = 0;
	if (pg_ready() == -1)
		return -1;
	if (pg_node_name[0]) {	/* one node at a time purges */
		if (pg_do("purging messages", "BEGIN", 0, NULL) == -1)
			return -1;
		if ((r = pg_q("purging messages", "SELECT"
		    " pg_try_advisory_xact_lock(" PG_CL_LOCK_KEY ")", 0, NULL))
		    == NULL)
			return -1;
		n = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
		PQclear(r);
		if (!n) {
			pg_cl_rollback();
			return 0;
		}
		n = 0;
	}
	if (finished_before > 0) {
		v[0] = I64(t, finished_before);
		r = PQexecPrepared(pc->db, pg_name(ST_PURGE_MESSAGES, name,
		    sizeof(name)), 1, v, NULL, NULL, 0);
		if (PQresultStatus(r) != PGRES_COMMAND_OK) {
			pg_failed("purging messages", r);
			log_error("store: %s: %s", pg_where_s, pc->err);
			PQclear(r);
			pg_cl_rollback();
			return -1;
		}
		n = atoi(PQcmdTuples(r));
		PQclear(r);
	}
	if (pg_node_name[0] && ended_before > 0) {
		v[0] = I64(t, ended_before);
		v[1] = I64(lim, PURGE_ENDED_MAX);
		if ((r = pg_q("purging the clients no node holds",
		    "DELETE FROM clients WHERE id IN (SELECT id FROM clients"
		    " WHERE owner IS NULL AND expires_at <= $1::bigint"
		    " LIMIT $2::bigint FOR UPDATE SKIP LOCKED)"
		    " AND owner IS NULL", 2, v)) == NULL)
			return -1;
		*ended = atol(PQcmdTuples(r));
		PQclear(r);
	}
	if (pg_node_name[0] && pg_cl_commit("purging messages") == -1) {
		*ended = 0;
		return -1;
	}
	return n;
}

static unsigned long
pg_loop_calls(void)
{
	return pg_loop_n;
}

const struct store_backend store_postgresql = {
	.name = "postgresql",
	.open = pg_open,
	.close = pg_close,
	.use_writer = pg_use_writer,
	.version = pg_version,
	.write = pg_write,
	.load_clients = pg_load_clients,
	.load_messages = pg_load_messages,
	.list_clients = pg_list_clients,
	.load_targets = pg_load_targets,
	.load_users = pg_load_users,
	.load_tokens = pg_load_tokens,
	.load_outbox = pg_load_outbox,
	.purge = pg_purge,
	.errmsg = pg_errmsg,
	.errhint = pg_errhint,
	.failing = pg_failing,
	.loop_calls = pg_loop_calls,
	.where = pg_where,
	.unavailable = pg_unavailable,
};

/* ---- the nodes of a cluster (cluster.c's thread, or a writer job) ---- */

int
store_pg_fenced(void)
{
	return atomic_exchange(&pg_fenced_mark, 0);
}

void
store_pg_use_cluster(void)
{
	pc = &pg_cl;
}

/* Run sql with n text parameters on pc (connecting if need be): its
 * answer if it is status want, else NULL noted as what and logged. */
static PGresult *
pg_cl_exec(const char *what, const char *sql, int n,
    const char *const *vals, ExecStatusType want)
{
	PGresult	*r;

	pc->err[0] = '\0';
	pc->fault = 0;
	pc->fenced = 0;
	if (pg_ready() == -1) {
		log_error("store: %s: %s: %s", pg_where_s, what, pc->err);
		return NULL;
	}
	r = PQexecParams(pc->db, sql, n, NULL, vals, NULL, NULL, 0);
	if (PQresultStatus(r) != want) {
		pg_failed(what, r);
		pc->fenced = pg_is_fence(r);
		if (pc->conflict)	/* the next renewal tries again */
			log_info("store: %s: %s", pg_where_s, pc->err);
		else if (!pc->fenced)
			log_error("store: %s: %s", pg_where_s, pc->err);
		PQclear(r);
		return NULL;
	}
	return r;
}

int
store_pg_join(const char *name, const char *address, int lease,
    int64_t *epoch)
{
	PGresult	*r;
	char		 ls[16];
	const char	*vals[3];

	snprintf(ls, sizeof(ls), "%d", lease);
	vals[0] = name;
	vals[1] = address;
	vals[2] = ls;
	/* a node joining again (restarted, or fenced) takes the next epoch:
	 * whatever its previous life still has in flight is refused */
	r = pg_cl_exec("joining the cluster",
	    "INSERT INTO nodes (name, epoch, address, state, lease_until,"
	    " joined_at, clients) VALUES ($1, 1, $2, 'up',"
	    " now() + make_interval(secs => $3::integer), now(), 0)"
	    " ON CONFLICT (name) DO UPDATE SET epoch = nodes.epoch + 1,"
	    " address = EXCLUDED.address, state = 'up',"
	    " lease_until = EXCLUDED.lease_until,"
	    " joined_at = EXCLUDED.joined_at, clients = 0"
	    " RETURNING epoch", 3, vals, PGRES_TUPLES_OK);
	if (r == NULL)
		return -1;
	*epoch = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return 0;
}

int
store_pg_renew(const char *name, int64_t epoch, int lease, long clients,
    int *draining)
{
	PGresult	*r;
	char		 ep[24], ls[16], cl[24];
	const char	*vals[3];

	snprintf(ep, sizeof(ep), "%" PRId64, epoch);
	snprintf(ls, sizeof(ls), "%d", lease);
	snprintf(cl, sizeof(cl), "%ld", clients);
	vals[0] = name;
	vals[1] = ep;
	vals[2] = ls;
	r = pg_cl_exec("renewing the lease",
	    "SELECT sippush_renew($1, $2::bigint, $3::integer)", 3, vals,
	    PGRES_TUPLES_OK);
	if (r == NULL)
		return pc->fenced ? 1 : -1;
	*draining = strcmp(PQgetvalue(r, 0, 0), "draining") == 0;
	PQclear(r);
	r = pg_cl_exec("renewing the lease",
	    "UPDATE nodes SET clients = $2::bigint WHERE name = $1", 2,
	    (const char *const []){ name, cl }, PGRES_COMMAND_OK);
	if (r == NULL)
		return -1;
	PQclear(r);
	return 0;
}

int
store_pg_reap(void (*fn)(const char *, long, long, void *), void *arg)
{
	PGresult	*r;
	int		 i, n;

	/*
	 * One statement, committed by the server on its own: a reaper
	 * stopped (SIGSTOP) half-way must not hold a lock that keeps the
	 * others from reaping it in turn. Two reapers at once queue on the
	 * nodes' row locks, and the second finds them down already.
	 */
	r = pg_cl_exec("marking lapsed nodes down",
	    "WITH dead AS (UPDATE nodes SET state = 'down', clients = 0"
	    "  WHERE state <> 'down' AND lease_until < now()"
	    "  RETURNING name),"
	    " c AS (UPDATE clients SET owner = NULL,"
	    "  state = CASE WHEN state = 'online' THEN 'offline'"
	    "  ELSE state END"
	    "  WHERE owner IN (SELECT name FROM dead) RETURNING id),"
	    " t AS (UPDATE targets SET owner = NULL"
	    "  WHERE owner IN (SELECT name FROM dead)"
	    "  AND state IN ('pending', 'sent') RETURNING client_id)"
	    " SELECT d.name, (SELECT count(*) FROM c),"
	    " (SELECT count(*) FROM t) FROM dead d", 0, NULL,
	    PGRES_TUPLES_OK);
	if (r == NULL)
		return -1;
	n = PQntuples(r);
	for (i = 0; i < n && fn; i++)
		fn(PQgetvalue(r, i, 0), n == 1 ? strtol(PQgetvalue(r, i, 1),
		    NULL, 10) : -1, n == 1 ? strtol(PQgetvalue(r, i, 2), NULL,
		    10) : -1, arg);
	PQclear(r);
	return n;
}

int
store_pg_nodes(int (*fn)(const struct node_row *, void *), void *arg)
{
	PGresult		*r;
	struct node_row		 row;
	int			 i, n;

	r = pg_cl_exec("listing the nodes",
	    "SELECT name, epoch, address, state,"
	    " (extract(epoch FROM lease_until - now()) * 1000)::bigint,"
	    " clients, floor(extract(epoch FROM joined_at))::bigint"
	    " FROM nodes ORDER BY name", 0, NULL, PGRES_TUPLES_OK);
	if (r == NULL)
		return -1;
	n = PQntuples(r);
	for (i = 0; i < n; i++) {
		row.name = PQgetvalue(r, i, 0);
		row.epoch = strtoll(PQgetvalue(r, i, 1), NULL, 10);
		row.address = PQgetvalue(r, i, 2);
		row.state = PQgetvalue(r, i, 3);
		row.lease_ms = strtoll(PQgetvalue(r, i, 4), NULL, 10);
		row.clients = strtoll(PQgetvalue(r, i, 5), NULL, 10);
		row.joined_at = strtoll(PQgetvalue(r, i, 6), NULL, 10);
		if (fn(&row, arg) == -1)
			break;
	}
	PQclear(r);
	return n;
}

int
store_pg_drain(const char *name, int on)
{
	PGresult	*r;
	const char	*vals[2];
	int		 n;

	vals[0] = name;
	vals[1] = on ? "draining" : "up";
	r = pg_cl_exec(on ? "draining a node" : "ending a drain",
	    "UPDATE nodes SET state = $2 WHERE name = $1 AND state <> 'down'",
	    2, vals, PGRES_COMMAND_OK);
	if (r == NULL)
		return -1;
	n = atoi(PQcmdTuples(r));
	PQclear(r);
	return n > 0;
}

int
store_pg_client_where(const char *id, struct client_where *w)
{
	PGresult	*r;
	const char	*vals[1] = { id };

	memset(w, 0, sizeof(*w));
	r = pg_cl_exec("finding a client's node",
	    "SELECT c.class, c.state, coalesce(c.owner, ''),"
	    " coalesce(n.address, ''),"
	    " coalesce(n.state = 'up' AND n.lease_until > now(), false)"
	    " FROM clients c LEFT JOIN nodes n ON n.name = c.owner"
	    " WHERE c.id = $1", 1, vals, PGRES_TUPLES_OK);
	if (r == NULL)
		return -1;
	if (PQntuples(r) == 0) {
		PQclear(r);
		return 0;
	}
	snprintf(w->class, sizeof(w->class), "%s", PQgetvalue(r, 0, 0));
	snprintf(w->state, sizeof(w->state), "%s", PQgetvalue(r, 0, 1));
	snprintf(w->owner, sizeof(w->owner), "%s", PQgetvalue(r, 0, 2));
	snprintf(w->address, sizeof(w->address), "%s", PQgetvalue(r, 0, 3));
	w->live = strcmp(PQgetvalue(r, 0, 4), "t") == 0;
	PQclear(r);
	return 1;
}
