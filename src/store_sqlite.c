/*
 * store_sqlite.c: the SQLite backend of the store (store.c).
 *
 * Two connections to one database in WAL mode, every statement prepared
 * once at open: the event loop's, used only at start-up (loading the
 * tables) and by unit tests, and the writer thread's (commit.c,
 * sqlite_use_writer), which runs every batch and every read the daemon
 * makes while it serves. Every function works on the calling thread's
 * connection. A batch is one transaction (BEGIN IMMEDIATE ... COMMIT),
 * never one per packet. The schema comes from sql/sqlite/NNN_*.sql,
 * compiled in as schema_steps (schema.c). States and transports are
 * stored by the names the rows carry.
 *
 * Faults. sqlite_open refuses, with one line that says what is wrong and
 * what to do, a database it cannot use: a folder it cannot write, a file
 * that is not a database, a damaged one (PRAGMA quick_check at every
 * start), a schema newer than it knows. At run time a write that fails
 * for want of disk (full, I/O error, read-only, file size limit) is a
 * store fault: it is logged when it starts, then at most every
 * STORE_FAULT_LOG_EVERY seconds with a count, and once when a commit
 * succeeds again. The callers keep what they could not write (commit.c).
 */
#include <errno.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "sippushd.h"

enum {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_PUT_CLIENT,
	ST_TOUCH_CLIENT,
	ST_DELETE_CLIENT,
	ST_LOAD_CLIENTS,
	ST_LIST_CLIENTS,
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
	ST_COUNT
};

static const char *const sqlite_sql[ST_COUNT] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_PUT_CLIENT] =
	    "INSERT INTO clients (id, class, state, contact, transport,"
	    " address, port, user_agent, registered_at, expires_at,"
	    " last_seen, path) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10,"
	    " ?11, ?12)"
	    " ON CONFLICT (id) DO UPDATE SET class = ?2, state = ?3,"
	    " contact = ?4, transport = ?5, address = ?6, port = ?7,"
	    " user_agent = ?8, registered_at = ?9, expires_at = ?10,"
	    " last_seen = ?11, path = ?12",
	[ST_TOUCH_CLIENT] =
	    "UPDATE clients SET state = ?2, last_seen = ?3 WHERE id = ?1",
	[ST_DELETE_CLIENT] = "DELETE FROM clients WHERE id = ?1",
	[ST_LOAD_CLIENTS] =
	    "SELECT id, class, state, contact, transport, address, port,"
	    " user_agent, registered_at, expires_at, last_seen, path"
	    " FROM clients",
	/* ?1: after this ID ('': from the first); ?2 class, ?3 state (NULL:
	 * any); ?4 online (-1: any, 0: not, 1: online); ?5: how many. By
	 * the primary key, a page at a time (clients_page) */
	[ST_LIST_CLIENTS] =
	    "SELECT id, class, state, contact, transport, address, port,"
	    " user_agent, registered_at, expires_at, last_seen, path"
	    " FROM clients WHERE id > ?1"
	    " AND (?2 IS NULL OR class = ?2) AND (?3 IS NULL OR state = ?3)"
	    " AND (?4 < 0 OR (state = 'online') = ?4)"
	    " ORDER BY id LIMIT ?5",
	[ST_PUT_MESSAGE] =
	    "INSERT INTO messages (id, state, selector, content_type, body,"
	    " created_at, expires_at, finished_at, callback)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
	[ST_PUT_TARGET] =
	    "INSERT INTO targets (message_id, client_id, state, attempts,"
	    " next_attempt, last_status, last_attempt, acked_at)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
	    " ON CONFLICT (message_id, client_id) DO UPDATE SET state = ?3,"
	    " attempts = ?4, next_attempt = ?5, last_status = ?6,"
	    " last_attempt = ?7, acked_at = ?8",
	[ST_SET_MESSAGE_STATE] =
	    "UPDATE messages SET state = ?2, finished_at = ?3 WHERE id = ?1",
	/* ?1: one ID or NULL; ?2: unfinished ones only; ?3: how many;
	 * ?4, ?5: older than this (created_at, id), or NULL: from the newest */
	[ST_LOAD_MESSAGES] =
	    "SELECT m.id, m.state, m.selector, m.content_type, m.body,"
	    " m.created_at, m.expires_at, m.finished_at,"
	    " (SELECT count(*) FROM targets t WHERE t.message_id = m.id"
	    "  AND t.state = 'pending'),"
	    " (SELECT count(*) FROM targets t WHERE t.message_id = m.id"
	    "  AND t.state = 'sent'),"
	    " (SELECT count(*) FROM targets t WHERE t.message_id = m.id"
	    "  AND t.state = 'acked'),"
	    " (SELECT count(*) FROM targets t WHERE t.message_id = m.id"
	    "  AND t.state = 'expired'),"
	    " (SELECT count(*) FROM targets t WHERE t.message_id = m.id"
	    "  AND t.state = 'failed'),"
	    " (SELECT count(*) FROM targets t WHERE t.message_id = m.id"
	    "  AND t.state = 'cancelled'),"
	    " m.callback"
	    " FROM messages m WHERE (?1 IS NULL OR m.id = ?1)"
	    " AND (?2 = 0 OR m.finished_at IS NULL)"
	    " AND (?4 IS NULL OR m.created_at < ?4"
	    "  OR (m.created_at = ?4 AND m.id < ?5))"
	    " ORDER BY m.created_at DESC, m.id DESC LIMIT ?3",
	/* ?2: after this client ID (NULL: from the first); ?3: how many */
	[ST_LOAD_TARGETS] =
	    "SELECT client_id, state, attempts, next_attempt, last_attempt,"
	    " acked_at, last_status FROM targets WHERE message_id = ?1"
	    " AND (?2 IS NULL OR client_id > ?2)"
	    " ORDER BY client_id LIMIT ?3",
	[ST_PURGE_MESSAGES] =
	    "DELETE FROM messages WHERE state != 'active'"
	    " AND finished_at < ?1",
	[ST_PUT_USER] =
	    "INSERT INTO users (id, realm, ha1_sha256, ha1_md5, created_at)"
	    " VALUES (?1, ?2, ?3, ?4, ?5)"
	    " ON CONFLICT (id) DO UPDATE SET realm = ?2, ha1_sha256 = ?3,"
	    " ha1_md5 = ?4, created_at = ?5",
	[ST_DELETE_USER] = "DELETE FROM users WHERE id = ?1",
	[ST_LIST_USERS] =
	    "SELECT id, realm, created_at, ha1_sha256, ha1_md5 FROM users"
	    " WHERE ?1 IS NULL OR id = ?1 ORDER BY id",
	[ST_PUT_TOKEN] =
	    "INSERT INTO tokens (name, hash, scopes, created_at)"
	    " VALUES (?1, ?2, ?3, ?4)",
	[ST_DELETE_TOKEN] = "DELETE FROM tokens WHERE name = ?1",
	[ST_LIST_TOKENS] =
	    "SELECT name, hash, scopes, created_at FROM tokens ORDER BY name",
	[ST_PUT_OUTBOX] =
	    "INSERT INTO outbox (id, event, url, body, created_at, attempts,"
	    " next_attempt) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[ST_TOUCH_OUTBOX] =
	    "UPDATE outbox SET attempts = ?2, next_attempt = ?3 WHERE id = ?1",
	[ST_DELETE_OUTBOX] = "DELETE FROM outbox WHERE id = ?1",
	[ST_LOAD_OUTBOX] =
	    "SELECT id, event, url, body, created_at, attempts, next_attempt"
	    " FROM outbox ORDER BY next_attempt, id",
};

#define STORE_FAULT_LOG_EVERY	60	/* seconds between "still failing" */

/* A connection, its statements and its last failure. */
struct sqlite_conn {
	sqlite3		*db;
	sqlite3_stmt	*st[ST_COUNT];
	char		 err[256];	/* the last failure's reason */
	int		 errcode;	/* its extended SQLite code */
};

static struct sqlite_conn	 sqlite_main;	/* the event loop's */
static struct sqlite_conn	 sqlite_wr;	/* the commit writer's */
static _Thread_local struct sqlite_conn *sc = &sqlite_main;

/* Statements run on the event loop's connection while a writer thread
 * exists: none is the design (a test checks it). */
static _Atomic unsigned long	 sqlite_loop_n;
static _Atomic int		 sqlite_writer_on;

static void
sqlite_count(void)
{
	if (sc == &sqlite_main && sqlite_writer_on)
		sqlite_loop_n++;
}
static char			*sqlite_path;

/* Write faults: since when (0: none), how many, when last logged; both
 * connections write, so under sqlite_fault_lock. */
static pthread_mutex_t	 sqlite_fault_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t		 sqlite_fault_since;
static int64_t		 sqlite_fault_logged;
static unsigned		 sqlite_fault_count;
static unsigned		 sqlite_fault_unlogged;

static void sqlite_close(void);

/* The reason of the last failure (kept across the ROLLBACK that follows
 * it), or SQLite's current message. */
static const char *
sqlite_errmsg(void)
{
	if (sc->db == NULL)
		return "database not open";
	return sc->err[0] ? sc->err : sqlite3_errmsg(sc->db);
}

/* Note the connection's current error as the last failure's reason, with
 * the system's errno when SQLite has one (EFBIG, ENOSPC, EIO...). */
static void
sqlite_note_error(void)
{
	const char	*op = NULL;
	int		 sys = sqlite3_system_errno(sc->db);

	sc->errcode = sqlite3_extended_errcode(sc->db);
	switch (sc->errcode) {
	case SQLITE_IOERR_WRITE:
		op = "write";
		break;
	case SQLITE_IOERR_FSYNC:
		op = "fsync";
		break;
	case SQLITE_IOERR_READ:
	case SQLITE_IOERR_SHORT_READ:
		op = "read";
		break;
	case SQLITE_IOERR_TRUNCATE:
		op = "truncate";
		break;
	}
	if ((sc->errcode & 0xff) != SQLITE_IOERR)
		snprintf(sc->err, sizeof(sc->err), "%s",
		    sqlite3_errmsg(sc->db));
	else if (sys)
		snprintf(sc->err, sizeof(sc->err), "%s (%s: %s)",
		    sqlite3_errmsg(sc->db), op ? op : "I/O",
		    strerror(sys));
	else
		snprintf(sc->err, sizeof(sc->err), "%s (%s failed)",
		    sqlite3_errmsg(sc->db), op ? op : "I/O");
}

/* On a failed write: the file size limit, if there is one (SQLite
 * reports its EFBIG as a bare I/O error). */
static const char *
sqlite_io_hint(void)
{
	static char	 hint[160];
	struct rlimit	 rl;

	if (getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		snprintf(hint, sizeof(hint), "free space on the disk, or raise "
		    "the file size limit (ulimit -f, now %llu bytes); check "
		    "the disk (dmesg)", (unsigned long long)rl.rlim_cur);
	else
		snprintf(hint, sizeof(hint), "check the disk (dmesg) and "
		    "free space on it");
	return hint;
}

/* Is this failure the disk's (or the file's) rather than the data's? */
static int
sqlite_is_fault(int code)
{
	switch (code & 0xff) {
	case SQLITE_FULL:
	case SQLITE_IOERR:
	case SQLITE_READONLY:
	case SQLITE_CANTOPEN:
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
	case SQLITE_NOMEM:
	case SQLITE_PERM:
		return 1;
	}
	return 0;
}

/* What a person can do about a failure of this kind. */
static const char *
sqlite_hint(int code)
{
	switch (code & 0xff) {
	case SQLITE_FULL:
		return "free space on its file system";
	case SQLITE_IOERR:
		return sqlite_io_hint();
	case SQLITE_READONLY:
	case SQLITE_PERM:
	case SQLITE_CANTOPEN:
		return "make the database, its folder and its -wal and -shm "
		    "files writable by sippushd's user again";
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return "the database is damaged: stop sippushd and restore it "
		    "from a backup";
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return "another program holds the database locked";
	}
	return "see the error";
}

/* What to do about the last failure, if it is a store fault, else "". */
static const char *
sqlite_errhint(void)
{
	return sqlite_is_fault(sc->errcode) ? sqlite_hint(sc->errcode) : "";
}

/* A write failed with a store fault: log it when the fault starts, then
 * at most every STORE_FAULT_LOG_EVERY seconds. */
static void
sqlite_fault(void)
{
	int64_t	 now = (clock_mono_us() / 1000000);

	pthread_mutex_lock(&sqlite_fault_lock);
	sqlite_fault_count++;
	if (sqlite_fault_since == 0) {
		sqlite_fault_since = now;
		sqlite_fault_logged = now;
		sqlite_fault_unlogged = 0;
		log_error("store: %s: cannot write: %s; %s. Changes are kept "
		    "in memory and written when a commit succeeds again; "
		    "until then REGISTERs are answered 500 and publishing "
		    "fails", sqlite_path, sc->err, sqlite_hint(sc->errcode));
		pthread_mutex_unlock(&sqlite_fault_lock);
		return;
	}
	sqlite_fault_unlogged++;
	if (now - sqlite_fault_logged >= STORE_FAULT_LOG_EVERY) {
		log_error("store: %s: still cannot write after %llds (%u "
		    "failed writes since the last report): %s; %s",
		    sqlite_path, (long long)(now - sqlite_fault_since),
		    sqlite_fault_unlogged, sc->err,
		    sqlite_hint(sc->errcode));
		sqlite_fault_logged = now;
		sqlite_fault_unlogged = 0;
	}
	pthread_mutex_unlock(&sqlite_fault_lock);
}

/* A commit succeeded: end the fault, if any, with one line. */
static void
sqlite_recovered(void)
{
	pthread_mutex_lock(&sqlite_fault_lock);
	if (sqlite_fault_since == 0) {
		pthread_mutex_unlock(&sqlite_fault_lock);
		return;
	}
	log_notice("store: %s: writes succeed again after %llds of failure "
	    "(%u failed writes); the changes kept in memory are written",
	    sqlite_path, (long long)((clock_mono_us() / 1000000) - sqlite_fault_since),
	    sqlite_fault_count);
	sqlite_fault_since = 0;
	sqlite_fault_count = 0;
	pthread_mutex_unlock(&sqlite_fault_lock);
}

/* Since when (unix seconds) writes fail, 0 if they do not; and how many
 * failed in this fault. */
static int64_t
sqlite_failing(unsigned *count)
{
	int64_t	 since = 0;

	pthread_mutex_lock(&sqlite_fault_lock);
	if (count)
		*count = sqlite_fault_count;
	if (sqlite_fault_since) {
		since = clock_now() - ((clock_mono_us() / 1000000) - sqlite_fault_since);
		if (since <= 0)
			since = 1;
	}
	pthread_mutex_unlock(&sqlite_fault_lock);
	return since;
}

/* Run a statement that returns no rows; 0, or -1 (logged: a store fault
 * through sqlite_fault, anything else at once). */
static int
sqlite_exec(int which)
{
	sqlite3_stmt	*st = sc->st[which];
	int		 rc;

	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE && which != ST_ROLLBACK)
		sqlite_note_error();
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc == SQLITE_DONE)
		return 0;
	if (which == ST_ROLLBACK)
		log_debug("store: ROLLBACK: %s", sqlite3_errmsg(sc->db));
	else if (sqlite_is_fault(sc->errcode))
		sqlite_fault();
	else
		log_error("store: %s: %s", sqlite_sql[which], sc->err);
	return -1;
}

static int
sqlite_schema_version(int *version)
{
	sqlite3_stmt	*st;
	int		 rc;

	*version = 0;
	rc = sqlite3_prepare_v2(sc->db, "SELECT count(*) FROM sqlite_master"
	    " WHERE type = 'table' AND name = 'schema_version'", -1, &st,
	    NULL);
	if (rc != SQLITE_OK)
		return -1;
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW || sqlite3_column_int(st, 0) == 0) {
		sqlite3_finalize(st);
		return rc == SQLITE_ROW ? 0 : -1;
	}
	sqlite3_finalize(st);
	rc = sqlite3_prepare_v2(sc->db,
	    "SELECT coalesce(max(version), 0) FROM schema_version", -1, &st,
	    NULL);
	if (rc != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		*version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return 0;
}

/*
 * Bring the schema to the newest version, one transaction per step. The
 * database records only the highest version applied; every compiled-in
 * step above it runs, in order. Numbers may skip (a gap is no error), but
 * a step numbered below a version already applied is never run: a new
 * migration takes a number above every released one.
 */
static int
sqlite_migrate(char *err, size_t errlen)
{
	char	*msg = NULL, *sql;
	size_t	 i;
	int	 version, newest;

	if (sqlite_schema_version(&version) == -1) {
		sqlite_note_error();
		snprintf(err, errlen, "cannot read the schema version: %s",
		    sc->err);
		return -1;
	}
	newest = schema_nsteps ? schema_steps[schema_nsteps - 1].version : 0;
	if (version > newest) {
		snprintf(err, errlen, "database schema version %d is newer "
		    "than this sippushd knows (%d): run the sippushd that "
		    "wrote it (or a newer one), or restore a backup made "
		    "before the upgrade", version, newest);
		return -1;
	}
	for (i = 0; i < schema_nsteps; i++) {
		if (schema_steps[i].version <= version)
			continue;
		sql = sqlite3_mprintf("BEGIN IMMEDIATE; %s;"
		    " INSERT INTO schema_version (version) VALUES (%d);"
		    " DELETE FROM schema_version WHERE version < %d; COMMIT;",
		    schema_steps[i].sql, schema_steps[i].version,
		    schema_steps[i].version);
		if (sql == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		if (sqlite3_exec(sc->db, sql, NULL, NULL, &msg) !=
		    SQLITE_OK) {
			sqlite_note_error();
			snprintf(err, errlen, "schema step %s: %s",
			    schema_steps[i].name, msg ? msg : "failed");
			sqlite3_free(msg);
			sqlite3_free(sql);
			sqlite3_exec(sc->db, "ROLLBACK", NULL, NULL, NULL);
			return -1;
		}
		sqlite3_free(sql);
		log_info("store: schema upgraded to version %d (%s)",
		    schema_steps[i].version, schema_steps[i].name);
	}
	return 0;
}

/*
 * Create the database's folder if it is missing (one level, 0750), and
 * check that we may create files in it (the database, its -wal and -shm)
 * and write the database if it exists. 0, or -1 with err.
 */
static int
sqlite_check_path(const char *path, char *err, size_t errlen)
{
	char		*copy, *dir;
	struct stat	 sb;
	int		 rv = -1;

	if ((copy = strdup(path)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	dir = dirname(copy);
	if (stat(dir, &sb) == -1) {
		if (errno != ENOENT || mkdir(dir, 0750) == -1) {
			snprintf(err, errlen, "%s: cannot create folder %s: "
			    "%s: create it (with its parents) writable by "
			    "uid %u, or set database.path", path, dir,
			    strerror(errno), (unsigned)geteuid());
			goto out;
		}
		log_notice("store: created folder %s", dir);
	} else if (!S_ISDIR(sb.st_mode)) {
		snprintf(err, errlen, "%s: %s is not a folder: set "
		    "database.path to a file in a folder", path, dir);
		goto out;
	}
	if (access(dir, W_OK | X_OK) == -1) {
		snprintf(err, errlen, "%s: cannot create files in folder %s: "
		    "%s: sippushd (uid %u) needs to create the database and "
		    "its -wal and -shm files there; fix the folder's owner or "
		    "mode, or set database.path", path, dir, strerror(errno),
		    (unsigned)geteuid());
		goto out;
	}
	if (stat(path, &sb) == 0) {
		if (!S_ISREG(sb.st_mode)) {
			snprintf(err, errlen, "%s: is not a regular file: set "
			    "database.path to a file", path);
			goto out;
		}
		if (access(path, R_OK | W_OK) == -1) {
			snprintf(err, errlen, "%s: cannot read and write the "
			    "database: %s: make it readable and writable by "
			    "uid %u (owner or mode)", path, strerror(errno),
			    (unsigned)geteuid());
			goto out;
		}
	}
	rv = 0;
out:
	free(copy);
	return rv;
}

/* err = "path: what is wrong (SQLite's words): what to do", from the
 * failure last noted by sqlite_note_error. */
static void
sqlite_open_error(const char *path, char *err, size_t errlen)
{
	const char	*what, *remedy;

	switch (sc->errcode & 0xff) {
	case SQLITE_NOTADB:
		what = "not an SQLite database";
		remedy = "if the file is not sippushd's, set database.path to "
		    "another file; if it is, restore it from a backup, or "
		    "move it away to start with an empty table";
		break;
	case SQLITE_CORRUPT:
		what = "the database is damaged";
		remedy = "restore it from a backup (or try `sqlite3 FILE "
		    ".recover` on a copy), or move it away to start with an "
		    "empty table";
		break;
	case SQLITE_FULL:
		what = "the disk is full";
		remedy = "free space on its file system";
		break;
	case SQLITE_IOERR:
		what = "I/O error";
		remedy = sqlite_io_hint();
		break;
	case SQLITE_READONLY:
	case SQLITE_CANTOPEN:
	case SQLITE_PERM:
		what = "cannot write the database";
		remedy = "make it, its -wal and -shm files and its folder "
		    "writable by sippushd's user, on a file system mounted "
		    "read-write";
		break;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		what = "the database is locked";
		remedy = "is another sippushd using it? stop it, or set "
		    "database.path";
		break;
	default:
		snprintf(err, errlen, "%s: %s", path, sc->err);
		return;
	}
	snprintf(err, errlen, "%s: %s (%s): %s", path, what, sc->err, remedy);
}

/* PRAGMA quick_check: 0 if the database is sound, else -1 with the
 * first problem noted as SQLITE_CORRUPT. */
static int
sqlite_quick_check(void)
{
	sqlite3_stmt	*st;
	struct timespec	 t0, t1;
	const char	*r;
	char		*p;
	int		 rc;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (sqlite3_prepare_v2(sc->db, "PRAGMA quick_check(1)", -1, &st,
	    NULL) != SQLITE_OK) {
		sqlite_note_error();
		return -1;
	}
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite_note_error();
		sqlite3_finalize(st);
		return -1;
	}
	r = (const char *)sqlite3_column_text(st, 0);
	if (r == NULL || strcmp(r, "ok") != 0) {
		sc->errcode = SQLITE_CORRUPT;
		if (r && strncmp(r, "*** in database main ***\n", 25) == 0)
			r += 25;
		snprintf(sc->err, sizeof(sc->err), "quick_check: %.200s",
		    r ? r : "no answer");
		for (p = sc->err; *p; p++)
			if (*p == '\n')
				*p = ' ';
		sqlite3_finalize(st);
		return -1;
	}
	sqlite3_finalize(st);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	log_info("store: quick_check passed in %lld ms",
	    (long long)(t1.tv_sec - t0.tv_sec) * 1000 +
	    (t1.tv_nsec - t0.tv_nsec) / 1000000);
	return 0;
}

/* Open a connection to path as sc, in WAL mode, with the pragmas the
 * daemon runs with. 0, or -1 with the failure noted. */
static int
sqlite_conn_open(const char *path, int sync_full)
{
	int	 rc;

	rc = sqlite3_open_v2(path, &sc->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		if (sc->db)
			sqlite_note_error();
		else {
			sc->errcode = rc;
			snprintf(sc->err, sizeof(sc->err), "%s",
			    sqlite3_errstr(rc));
		}
		return -1;
	}
	sqlite3_extended_result_codes(sc->db, 1);
	if (sqlite3_db_readonly(sc->db, "main") == 1) {
		sc->errcode = SQLITE_READONLY;
		snprintf(sc->err, sizeof(sc->err), "opened read-only");
		return -1;
	}
	sqlite3_busy_timeout(sc->db, 5000);
	if (sqlite3_exec(sc->db, sync_full ?
	    "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
	    " PRAGMA foreign_keys = ON;" :
	    "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
	    " PRAGMA foreign_keys = ON;",
	    NULL, NULL, NULL) != SQLITE_OK) {
		sqlite_note_error();
		return -1;
	}
	return 0;
}

static int
sqlite_conn_prepare(void)
{
	int	 i;

	for (i = 0; i < ST_COUNT; i++)
		if (sqlite3_prepare_v3(sc->db, sqlite_sql[i], -1,
		    SQLITE_PREPARE_PERSISTENT, &sc->st[i], NULL) !=
		    SQLITE_OK) {
			sqlite_note_error();
			return -1;
		}
	sc->err[0] = '\0';
	return 0;
}

static void
sqlite_conn_close(struct sqlite_conn *conn)
{
	int	 i;

	for (i = 0; i < ST_COUNT; i++) {
		sqlite3_finalize(conn->st[i]);
		conn->st[i] = NULL;
	}
	if (conn->db)
		sqlite3_close(conn->db);
	conn->db = NULL;
}

/*
 * Open (creating if needed) the database at path, check it, upgrade its
 * schema and prepare the statements, on both connections. Call it on
 * the event loop's thread. 0, or -1 with "path: what is wrong: what to
 * do" in err.
 */
static int
sqlite_open(const char *path, int sync_full, const char *passfile, char *err,
    size_t errlen)
{
	char	 why[384];

	(void)passfile;
	sc = &sqlite_main;
	sqlite_main.err[0] = sqlite_wr.err[0] = '\0';
	sqlite_main.errcode = sqlite_wr.errcode = 0;
	sqlite_fault_since = 0;
	sqlite_fault_count = 0;
	if (sqlite_check_path(path, err, errlen) == -1)
		return -1;
	free(sqlite_path);
	if ((sqlite_path = strdup(path)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	if (sqlite_conn_open(path, sync_full) == -1 ||
	    sqlite_quick_check() == -1)
		goto fail;
	why[0] = '\0';
	if (sqlite_migrate(why, sizeof(why)) == -1) {
		if (sc->errcode && sqlite_is_fault(sc->errcode))
			sqlite_open_error(path, err, errlen);
		else
			snprintf(err, errlen, "%s: %s", path, why);
		sqlite_close();
		return -1;
	}
	if (sqlite_conn_prepare() == -1)
		goto fail;
	sc = &sqlite_wr;		/* the schema is there: the writer's */
	if (sqlite_conn_open(path, sync_full) == -1 ||
	    sqlite_conn_prepare() == -1)
		goto fail;
	sc = &sqlite_main;
	return 0;
fail:
	sqlite_open_error(path, err, errlen);
	sc = &sqlite_main;
	sqlite_close();
	return -1;
}

/* The calling thread (commit.c's writer) uses the writer's connection
 * from now on. */
static void
sqlite_use_writer(void)
{
	sc = &sqlite_wr;
	sqlite_writer_on = 1;
}

/* Close both connections; the writer must be idle. */
static void
sqlite_close(void)
{
	sqlite_conn_close(&sqlite_main);
	sqlite_conn_close(&sqlite_wr);
	/* sqlite_writer_on stays: the writer thread outlives a close and
	 * open (tests reopen under one commit_init), and the loop's
	 * statements must still be counted after */
	free(sqlite_path);
	sqlite_path = NULL;
}

static int
sqlite_version(void)
{
	int	 v;

	sqlite_count();
	return sqlite_schema_version(&v) == -1 ? -1 : v;
}

static const char *
sqlite_text(sqlite3_stmt *st, int col)
{
	const char	*s = (const char *)sqlite3_column_text(st, col);

	return s ? s : "";
}

/*
 * End a loop over a statement's rows: reset it and say how it went. rc
 * is the last sqlite3_step's, or SQLITE_ABORT when the caller's function
 * stopped the loop. Returns n, or -1 (a failed step is logged as what).
 */
static int
sqlite_rows_end(sqlite3_stmt *st, int rc, int n, const char *what)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc == SQLITE_ABORT)
		return -1;
	if (rc != SQLITE_DONE) {
		sqlite_note_error();
		log_error("store: %s: %s", what, sc->err);
		return -1;
	}
	return n;
}

/* The client rows of st (the columns of ST_LOAD_CLIENTS) to fn. */
static int
sqlite_client_rows(sqlite3_stmt *st, int (*fn)(const struct client_row *,
    void *), void *arg, const char *what)
{
	struct client_row	 c;
	int			 rc, n = 0;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&c, 0, sizeof(c));
		c.op = STORE_PUT;
		c.id = sqlite_text(st, 0);
		c.class = sqlite_text(st, 1);
		c.state = sqlite_text(st, 2);
		c.contact = sqlite_text(st, 3);
		c.transport = sqlite_text(st, 4);
		c.address = sqlite_text(st, 5);
		c.port = sqlite3_column_int(st, 6);
		c.user_agent = sqlite3_column_type(st, 7) == SQLITE_NULL ?
		    NULL : sqlite_text(st, 7);
		c.registered_at = sqlite3_column_int64(st, 8);
		c.expires_at = sqlite3_column_int64(st, 9);
		c.last_seen = sqlite3_column_int64(st, 10);
		c.path = sqlite3_column_type(st, 11) == SQLITE_NULL ?
		    NULL : sqlite_text(st, 11);
		if (fn(&c, arg) == -1) {
			rc = SQLITE_ABORT;
			break;
		}
		n++;
	}
	return sqlite_rows_end(st, rc, n, what);
}

static int
sqlite_load_clients(int (*fn)(const struct client_row *, void *), void *arg)
{
	sqlite_count();
	return sqlite_client_rows(sc->st[ST_LOAD_CLIENTS], fn, arg,
	    "loading clients");
}

static int
sqlite_list_clients(const struct client_filter *f, const char *after,
    int limit, int (*fn)(const struct client_row *, void *), void *arg)
{
	sqlite3_stmt	*st = sc->st[ST_LIST_CLIENTS];

	sqlite_count();
	sqlite3_bind_text(st, 1, after ? after : "", -1, SQLITE_STATIC);
	if (f->class)
		sqlite3_bind_text(st, 2, f->class, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 2);
	if (f->state)
		sqlite3_bind_text(st, 3, f->state, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 3);
	sqlite3_bind_int(st, 4, f->online);
	sqlite3_bind_int(st, 5, limit);
	return sqlite_client_rows(st, fn, arg, "listing clients");
}

static void
sqlite_rollback(void)
{
	if (!sqlite3_get_autocommit(sc->db))
		sqlite_exec(ST_ROLLBACK);
}

static int
sqlite_begin(void)
{
	if (sqlite_exec(ST_BEGIN) == -1)
		return -1;
	sc->err[0] = '\0';
	return 0;
}

/* Commit the open transaction; on failure it is rolled back. A success
 * ends a store fault. */
static int
sqlite_commit(void)
{
	if (sqlite_exec(ST_COMMIT) == -1) {
		sqlite_rollback();
		return -1;
	}
	sqlite_recovered();
	return 0;
}

static void
sqlite_bind_opt64(sqlite3_stmt *st, int col, int64_t v)
{
	if (v)
		sqlite3_bind_int64(st, col, v);
	else
		sqlite3_bind_null(st, col);
}

static int
sqlite_write_client(const struct client_row *c)
{
	sqlite3_stmt	*st;

	switch (c->op) {
	case STORE_DELETE:
		sqlite3_bind_text(sc->st[ST_DELETE_CLIENT], 1, c->id, -1,
		    SQLITE_STATIC);
		return sqlite_exec(ST_DELETE_CLIENT);
	case STORE_TOUCH:
		st = sc->st[ST_TOUCH_CLIENT];
		sqlite3_bind_text(st, 1, c->id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, c->state, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, c->last_seen);
		return sqlite_exec(ST_TOUCH_CLIENT);
	}
	st = sc->st[ST_PUT_CLIENT];
	sqlite3_bind_text(st, 1, c->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, c->class, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, c->state, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, c->contact, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, c->transport, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, c->address, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 7, c->port);
	if (c->user_agent)
		sqlite3_bind_text(st, 8, c->user_agent, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 8);
	sqlite3_bind_int64(st, 9, c->registered_at);
	sqlite3_bind_int64(st, 10, c->expires_at);
	sqlite3_bind_int64(st, 11, c->last_seen);
	if (c->path)
		sqlite3_bind_text(st, 12, c->path, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 12);
	return sqlite_exec(ST_PUT_CLIENT);
}

static int
sqlite_write_message(const struct message_row *m)
{
	sqlite3_stmt	*st;

	if (m->op == STORE_TOUCH) {
		st = sc->st[ST_SET_MESSAGE_STATE];
		sqlite3_bind_text(st, 1, m->id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, m->state, -1, SQLITE_STATIC);
		sqlite_bind_opt64(st, 3, m->finished_at);
		return sqlite_exec(ST_SET_MESSAGE_STATE);
	}
	st = sc->st[ST_PUT_MESSAGE];
	sqlite3_bind_text(st, 1, m->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, m->state, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, m->selector, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, m->content_type, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 5, m->body, (int)m->body_len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, m->created_at);
	sqlite3_bind_int64(st, 7, m->expires_at);
	sqlite_bind_opt64(st, 8, m->finished_at);
	if (m->callback)
		sqlite3_bind_text(st, 9, m->callback, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 9);
	return sqlite_exec(ST_PUT_MESSAGE);
}

static int
sqlite_write_target(const struct target_row *t)
{
	sqlite3_stmt	*st = sc->st[ST_PUT_TARGET];

	sqlite3_bind_text(st, 1, t->message_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, t->client, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, t->state, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, t->attempts);
	sqlite3_bind_int64(st, 5, t->next_attempt);
	if (t->last_status)
		sqlite3_bind_int(st, 6, t->last_status);
	else
		sqlite3_bind_null(st, 6);
	sqlite_bind_opt64(st, 7, t->last_attempt);
	sqlite_bind_opt64(st, 8, t->acked_at);
	return sqlite_exec(ST_PUT_TARGET);
}

static int
sqlite_write_user(const struct user_row *u)
{
	sqlite3_stmt	*st;

	if (u->op == STORE_DELETE) {
		sqlite3_bind_text(sc->st[ST_DELETE_USER], 1, u->id, -1,
		    SQLITE_STATIC);
		return sqlite_exec(ST_DELETE_USER);
	}
	st = sc->st[ST_PUT_USER];
	sqlite3_bind_text(st, 1, u->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, u->realm, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, u->ha1_sha256, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, u->ha1_md5, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, u->created_at);
	return sqlite_exec(ST_PUT_USER);
}

static int
sqlite_write_token(const struct token_row *t)
{
	sqlite3_stmt	*st;

	if (t->op == STORE_DELETE) {
		sqlite3_bind_text(sc->st[ST_DELETE_TOKEN], 1, t->name, -1,
		    SQLITE_STATIC);
		return sqlite_exec(ST_DELETE_TOKEN);
	}
	st = sc->st[ST_PUT_TOKEN];
	sqlite3_bind_text(st, 1, t->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, t->hash, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, t->scopes, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, t->created_at);
	return sqlite_exec(ST_PUT_TOKEN);
}

static int
sqlite_write_outbox(const struct outbox_row *o)
{
	sqlite3_stmt	*st;

	if (o->op == STORE_DELETE) {
		sqlite3_bind_text(sc->st[ST_DELETE_OUTBOX], 1, o->id, -1,
		    SQLITE_STATIC);
		return sqlite_exec(ST_DELETE_OUTBOX);
	}
	if (o->op == STORE_TOUCH) {
		st = sc->st[ST_TOUCH_OUTBOX];
		sqlite3_bind_text(st, 1, o->id, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 2, o->attempts);
		sqlite3_bind_int64(st, 3, o->next_attempt);
		return sqlite_exec(ST_TOUCH_OUTBOX);
	}
	st = sc->st[ST_PUT_OUTBOX];
	sqlite3_bind_text(st, 1, o->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, o->event, -1, SQLITE_STATIC);
	if (o->url)
		sqlite3_bind_text(st, 3, o->url, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 3);
	sqlite3_bind_text(st, 4, o->body, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, o->created_at);
	sqlite3_bind_int(st, 6, o->attempts);
	sqlite3_bind_int64(st, 7, o->next_attempt);
	return sqlite_exec(ST_PUT_OUTBOX);
}

/* Write a batch in one transaction: 0, or -1 rolled back (the reason in
 * sqlite_errmsg). */
static int
sqlite_write(const struct store_batch *b)
{
	size_t	 i;
	int	 rv = 0;

	sqlite_count();
	if (sqlite_begin() == -1)
		rv = -1;
	for (i = 0; rv == 0 && i < b->nclients; i++)
		rv = sqlite_write_client(&b->clients[i]);
	for (i = 0; rv == 0 && i < b->nmsgs; i++)
		rv = sqlite_write_message(&b->msgs[i]);
	for (i = 0; rv == 0 && i < b->ntargets; i++)
		rv = sqlite_write_target(&b->targets[i]);
	for (i = 0; rv == 0 && i < b->nusers; i++)
		rv = sqlite_write_user(&b->users[i]);
	for (i = 0; rv == 0 && i < b->ntokens; i++)
		rv = sqlite_write_token(&b->tokens[i]);
	for (i = 0; rv == 0 && i < b->noutbox; i++)
		rv = sqlite_write_outbox(&b->outbox[i]);
	if (rv == 0 && sqlite_commit() == -1)
		rv = -1;
	if (rv == -1)
		sqlite_rollback();
	return rv;
}

static int
sqlite_load_messages(const char *id, int active_only,
    const struct message_pos *after, int limit,
    int (*fn)(const struct message_row *, void *), void *arg)
{
	sqlite3_stmt		*st = sc->st[ST_LOAD_MESSAGES];
	struct message_row	 r;
	int			 rc, n = 0;

	sqlite_count();
	if (id)
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 1);
	sqlite3_bind_int(st, 2, active_only);
	sqlite3_bind_int(st, 3, limit);
	if (after) {
		sqlite3_bind_int64(st, 4, after->created_at);
		sqlite3_bind_text(st, 5, after->id, -1, SQLITE_STATIC);
	} else {
		sqlite3_bind_null(st, 4);
		sqlite3_bind_null(st, 5);
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&r, 0, sizeof(r));
		r.op = STORE_PUT;
		r.id = sqlite_text(st, 0);
		r.state = sqlite_text(st, 1);
		r.selector = sqlite_text(st, 2);
		r.content_type = sqlite_text(st, 3);
		r.body = sqlite3_column_blob(st, 4);
		r.body_len = (size_t)sqlite3_column_bytes(st, 4);
		r.created_at = sqlite3_column_int64(st, 5);
		r.expires_at = sqlite3_column_int64(st, 6);
		r.finished_at = sqlite3_column_int64(st, 7);
		r.count[TARGET_PENDING] = (size_t)sqlite3_column_int64(st, 8);
		r.count[TARGET_SENT] = (size_t)sqlite3_column_int64(st, 9);
		r.count[TARGET_ACKED] = (size_t)sqlite3_column_int64(st, 10);
		r.count[TARGET_EXPIRED] = (size_t)sqlite3_column_int64(st, 11);
		r.count[TARGET_FAILED] = (size_t)sqlite3_column_int64(st, 12);
		r.count[TARGET_CANCELLED] =
		    (size_t)sqlite3_column_int64(st, 13);
		r.callback = (const char *)sqlite3_column_text(st, 14);
		if (fn(&r, arg) == -1) {
			rc = SQLITE_ABORT;
			break;
		}
		n++;
	}
	return sqlite_rows_end(st, rc, n, "loading messages");
}

static int
sqlite_load_targets(const char *message_id, const char *after, int limit,
    int (*fn)(const struct target_row *, void *), void *arg)
{
	sqlite3_stmt		*st = sc->st[ST_LOAD_TARGETS];
	struct target_row	 r;
	int			 rc, n = 0;

	sqlite_count();
	sqlite3_bind_text(st, 1, message_id, -1, SQLITE_STATIC);
	if (after)
		sqlite3_bind_text(st, 2, after, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 2);
	sqlite3_bind_int(st, 3, limit);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&r, 0, sizeof(r));
		r.op = STORE_PUT;
		r.message_id = message_id;
		r.client = sqlite_text(st, 0);
		r.state = sqlite_text(st, 1);
		r.attempts = (uint32_t)sqlite3_column_int64(st, 2);
		r.next_attempt = sqlite3_column_int64(st, 3);
		r.last_attempt = sqlite3_column_int64(st, 4);
		r.acked_at = sqlite3_column_int64(st, 5);
		r.last_status = sqlite3_column_int(st, 6);
		if (fn(&r, arg) == -1) {
			rc = SQLITE_ABORT;
			break;
		}
		n++;
	}
	return sqlite_rows_end(st, rc, n, "loading targets");
}

static int
sqlite_purge(int64_t finished_before, int64_t ended_before, long *ended)
{
	(void)ended_before;	/* every row is held: the sweep deletes */
	*ended = 0;
	sqlite_count();
	sqlite3_bind_int64(sc->st[ST_PURGE_MESSAGES], 1, finished_before);
	if (sqlite_exec(ST_PURGE_MESSAGES) == -1)
		return -1;
	return sqlite3_changes(sc->db);
}

static int
sqlite_load_users(const char *id, int (*fn)(const struct user_row *, void *),
    void *arg)
{
	sqlite3_stmt	*st = sc->st[ST_LIST_USERS];
	struct user_row	 u;
	int		 rc, n = 0;

	sqlite_count();
	if (st == NULL)
		return -1;	/* not open */
	if (id)
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&u, 0, sizeof(u));
		u.op = STORE_PUT;
		u.id = sqlite_text(st, 0);
		u.realm = sqlite_text(st, 1);
		u.created_at = sqlite3_column_int64(st, 2);
		u.ha1_sha256 = sqlite_text(st, 3);
		u.ha1_md5 = sqlite_text(st, 4);
		if (fn(&u, arg) == -1) {
			rc = SQLITE_ABORT;
			break;
		}
		n++;
	}
	return sqlite_rows_end(st, rc, n, "listing users");
}

static int
sqlite_load_tokens(int (*fn)(const struct token_row *, void *), void *arg)
{
	sqlite3_stmt		*st = sc->st[ST_LIST_TOKENS];
	struct token_row	 t;
	int			 rc, n = 0;

	sqlite_count();
	if (st == NULL)
		return -1;	/* not open */
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&t, 0, sizeof(t));
		t.op = STORE_PUT;
		t.name = sqlite_text(st, 0);
		t.hash = sqlite_text(st, 1);
		t.scopes = sqlite_text(st, 2);
		t.created_at = sqlite3_column_int64(st, 3);
		if (fn(&t, arg) == -1) {
			rc = SQLITE_ABORT;
			break;
		}
		n++;
	}
	return sqlite_rows_end(st, rc, n, "listing tokens");
}

static int
sqlite_load_outbox(int (*fn)(const struct outbox_row *, void *), void *arg)
{
	sqlite3_stmt		*st = sc->st[ST_LOAD_OUTBOX];
	struct outbox_row	 o;
	int			 rc, n = 0;

	sqlite_count();
	if (st == NULL)
		return -1;	/* not open */
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&o, 0, sizeof(o));
		o.op = STORE_PUT;
		o.id = sqlite_text(st, 0);
		o.event = sqlite_text(st, 1);
		o.url = (const char *)sqlite3_column_text(st, 2);
		o.body = sqlite_text(st, 3);
		o.created_at = sqlite3_column_int64(st, 4);
		o.attempts = sqlite3_column_int(st, 5);
		o.next_attempt = sqlite3_column_int64(st, 6);
		if (fn(&o, arg) == -1) {
			rc = SQLITE_ABORT;
			break;
		}
		n++;
	}
	return sqlite_rows_end(st, rc, n, "listing the webhook outbox");
}

static unsigned long
sqlite_loop_calls(void)
{
	return sqlite_loop_n;
}

static const char *
sqlite_where(void)
{
	return sqlite_path ? sqlite_path : "";
}

const struct store_backend store_sqlite = {
	.name = "sqlite",
	.open = sqlite_open,
	.close = sqlite_close,
	.use_writer = sqlite_use_writer,
	.version = sqlite_version,
	.write = sqlite_write,
	.load_clients = sqlite_load_clients,
	.load_messages = sqlite_load_messages,
	.list_clients = sqlite_list_clients,
	.load_targets = sqlite_load_targets,
	.load_users = sqlite_load_users,
	.load_tokens = sqlite_load_tokens,
	.load_outbox = sqlite_load_outbox,
	.purge = sqlite_purge,
	.errmsg = sqlite_errmsg,
	.errhint = sqlite_errhint,
	.failing = sqlite_failing,
	.loop_calls = sqlite_loop_calls,
	.where = sqlite_where,
};
