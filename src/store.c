/*
 * store.c: SQLite persistence of the application-information table.
 *
 * Two connections to one database in WAL mode, every statement prepared
 * once at open: the event loop's, for reads and the few writes made
 * outside the group commit (publish, users, purges), and the one the
 * group commit's writer thread uses (commit.c, store_use_writer). Every
 * function works on the calling thread's connection, so the same
 * store_put_* serve both; WAL lets one read while the other writes.
 * Writes happen between store_begin and store_commit, once per group of
 * changes (group commit), never once per packet. The schema comes from
 * sql/NNN_*.sql, compiled in as schema_steps (schema.c).
 *
 * Faults. store_open refuses, with one line that says what is wrong and
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
	ST_PUT_MESSAGE,
	ST_PUT_TARGET,
	ST_SET_MESSAGE_STATE,
	ST_LOAD_MESSAGES,
	ST_LOAD_TARGETS,
	ST_PURGE_MESSAGES,
	ST_GET_USER,
	ST_PUT_USER,
	ST_DELETE_USER,
	ST_LIST_USERS,
	ST_PUT_TOKEN,
	ST_DELETE_TOKEN,
	ST_LIST_TOKENS,
	ST_COUNT
};

static const char *const store_sql[ST_COUNT] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_PUT_CLIENT] =
	    "INSERT INTO clients (id, class, state, contact, transport,"
	    " address, port, user_agent, registered_at, expires_at,"
	    " last_seen) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
	    " ON CONFLICT (id) DO UPDATE SET class = ?2, state = ?3,"
	    " contact = ?4, transport = ?5, address = ?6, port = ?7,"
	    " user_agent = ?8, registered_at = ?9, expires_at = ?10,"
	    " last_seen = ?11",
	[ST_TOUCH_CLIENT] =
	    "UPDATE clients SET state = ?2, last_seen = ?3 WHERE id = ?1",
	[ST_DELETE_CLIENT] = "DELETE FROM clients WHERE id = ?1",
	[ST_LOAD_CLIENTS] =
	    "SELECT id, class, state, contact, transport, address, port,"
	    " user_agent, registered_at, expires_at, last_seen FROM clients",
	[ST_PUT_MESSAGE] =
	    "INSERT INTO messages (id, state, selector, content_type, body,"
	    " created_at, expires_at, finished_at)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[ST_PUT_TARGET] =
	    "INSERT INTO targets (message_id, client_id, state, attempts,"
	    " next_attempt, last_status, last_attempt, acked_at)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
	    " ON CONFLICT (message_id, client_id) DO UPDATE SET state = ?3,"
	    " attempts = ?4, next_attempt = ?5, last_status = ?6,"
	    " last_attempt = ?7, acked_at = ?8",
	[ST_SET_MESSAGE_STATE] =
	    "UPDATE messages SET state = ?2, finished_at = ?3 WHERE id = ?1",
	/* ?1: one ID or NULL; ?2: unfinished ones only; ?3: how many */
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
	    "  AND t.state = 'cancelled')"
	    " FROM messages m WHERE (?1 IS NULL OR m.id = ?1)"
	    " AND (?2 = 0 OR m.finished_at IS NULL)"
	    " ORDER BY m.created_at DESC, m.id DESC LIMIT ?3",
	[ST_LOAD_TARGETS] =
	    "SELECT client_id, state, attempts, next_attempt, last_attempt,"
	    " acked_at, last_status FROM targets WHERE message_id = ?1"
	    " ORDER BY client_id",
	[ST_PURGE_MESSAGES] =
	    "DELETE FROM messages WHERE state != 'active'"
	    " AND finished_at < ?1",
	[ST_GET_USER] =
	    "SELECT realm, ha1_sha256, ha1_md5 FROM users WHERE id = ?1",
	[ST_PUT_USER] =
	    "INSERT INTO users (id, realm, ha1_sha256, ha1_md5, created_at)"
	    " VALUES (?1, ?2, ?3, ?4, ?5)"
	    " ON CONFLICT (id) DO UPDATE SET realm = ?2, ha1_sha256 = ?3,"
	    " ha1_md5 = ?4, created_at = ?5",
	[ST_DELETE_USER] = "DELETE FROM users WHERE id = ?1",
	[ST_LIST_USERS] =
	    "SELECT id, realm, created_at FROM users"
	    " WHERE ?1 IS NULL OR id = ?1 ORDER BY id",
	[ST_PUT_TOKEN] =
	    "INSERT INTO tokens (name, hash, scopes, created_at)"
	    " VALUES (?1, ?2, ?3, ?4)",
	[ST_DELETE_TOKEN] = "DELETE FROM tokens WHERE name = ?1",
	[ST_LIST_TOKENS] =
	    "SELECT name, hash, scopes, created_at FROM tokens ORDER BY name",
};

#define STORE_FAULT_LOG_EVERY	60	/* seconds between "still failing" */

/* A connection, its statements and its last failure. */
struct store_conn {
	sqlite3		*db;
	sqlite3_stmt	*st[ST_COUNT];
	char		 err[256];	/* the last failure's reason */
	int		 errcode;	/* its extended SQLite code */
};

static struct store_conn	 store_main;	/* the event loop's */
static struct store_conn	 store_wr;	/* the commit writer's */
static _Thread_local struct store_conn *sc = &store_main;
static char			*store_path;

/* Write faults: since when (0: none), how many, when last logged; both
 * connections write, so under store_fault_lock. */
static pthread_mutex_t	 store_fault_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t		 store_fault_since;
static int64_t		 store_fault_logged;
static unsigned		 store_fault_count;
static unsigned		 store_fault_unlogged;

/* The reason of the last failure (kept across the ROLLBACK that follows
 * it), or SQLite's current message. */
const char *
store_errmsg(void)
{
	if (sc->db == NULL)
		return "database not open";
	return sc->err[0] ? sc->err : sqlite3_errmsg(sc->db);
}

/* Note the connection's current error as the last failure's reason, with
 * the system's errno when SQLite has one (EFBIG, ENOSPC, EIO...). */
static void
store_note_error(void)
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
store_io_hint(void)
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
store_is_fault(int code)
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
store_hint(int code)
{
	switch (code & 0xff) {
	case SQLITE_FULL:
		return "free space on its file system";
	case SQLITE_IOERR:
		return store_io_hint();
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
const char *
store_errhint(void)
{
	return store_is_fault(sc->errcode) ? store_hint(sc->errcode) : "";
}

static int64_t
store_clock(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec;
}

/* A write failed with a store fault: log it when the fault starts, then
 * at most every STORE_FAULT_LOG_EVERY seconds. */
static void
store_fault(void)
{
	int64_t	 now = store_clock();

	pthread_mutex_lock(&store_fault_lock);
	store_fault_count++;
	if (store_fault_since == 0) {
		store_fault_since = now;
		store_fault_logged = now;
		store_fault_unlogged = 0;
		log_error("store: %s: cannot write: %s; %s. Changes are kept "
		    "in memory and written when a commit succeeds again; "
		    "until then REGISTERs are answered 500 and publishing "
		    "fails", store_path, sc->err, store_hint(sc->errcode));
		pthread_mutex_unlock(&store_fault_lock);
		return;
	}
	store_fault_unlogged++;
	if (now - store_fault_logged >= STORE_FAULT_LOG_EVERY) {
		log_error("store: %s: still cannot write after %llds (%u "
		    "failed writes since the last report): %s; %s",
		    store_path, (long long)(now - store_fault_since),
		    store_fault_unlogged, sc->err,
		    store_hint(sc->errcode));
		store_fault_logged = now;
		store_fault_unlogged = 0;
	}
	pthread_mutex_unlock(&store_fault_lock);
}

/* A commit succeeded: end the fault, if any, with one line. */
static void
store_recovered(void)
{
	pthread_mutex_lock(&store_fault_lock);
	if (store_fault_since == 0) {
		pthread_mutex_unlock(&store_fault_lock);
		return;
	}
	log_notice("store: %s: writes succeed again after %llds of failure "
	    "(%u failed writes); the changes kept in memory are written",
	    store_path, (long long)(store_clock() - store_fault_since),
	    store_fault_count);
	store_fault_since = 0;
	store_fault_count = 0;
	pthread_mutex_unlock(&store_fault_lock);
}

/* Since when (unix seconds) writes fail, 0 if they do not; and how many
 * failed in this fault. */
int64_t
store_failing(unsigned *count)
{
	int64_t	 since = 0;

	pthread_mutex_lock(&store_fault_lock);
	if (count)
		*count = store_fault_count;
	if (store_fault_since) {
		since = sippushd_now() - (store_clock() - store_fault_since);
		if (since <= 0)
			since = 1;
	}
	pthread_mutex_unlock(&store_fault_lock);
	return since;
}

/* Run a statement that returns no rows; 0, or -1 (logged: a store fault
 * through store_fault, anything else at once). */
static int
store_exec(int which)
{
	sqlite3_stmt	*st = sc->st[which];
	int		 rc;

	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE && which != ST_ROLLBACK)
		store_note_error();
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc == SQLITE_DONE)
		return 0;
	if (which == ST_ROLLBACK)
		log_debug("store: ROLLBACK: %s", sqlite3_errmsg(sc->db));
	else if (store_is_fault(sc->errcode))
		store_fault();
	else
		log_error("store: %s: %s", store_sql[which], sc->err);
	return -1;
}

static int
store_schema_version(int *version)
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

/* Bring the schema to the newest version, one transaction per step. */
static int
store_migrate(char *err, size_t errlen)
{
	char	*msg = NULL, *sql;
	size_t	 i;
	int	 version, newest;

	if (store_schema_version(&version) == -1) {
		store_note_error();
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
			store_note_error();
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
store_check_path(const char *path, char *err, size_t errlen)
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
 * failure last noted by store_note_error. */
static void
store_open_error(const char *path, char *err, size_t errlen)
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
		remedy = store_io_hint();
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
store_quick_check(void)
{
	sqlite3_stmt	*st;
	struct timespec	 t0, t1;
	const char	*r;
	char		*p;
	int		 rc;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (sqlite3_prepare_v2(sc->db, "PRAGMA quick_check(1)", -1, &st,
	    NULL) != SQLITE_OK) {
		store_note_error();
		return -1;
	}
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		store_note_error();
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
store_conn_open(const char *path, int sync_full)
{
	int	 rc;

	rc = sqlite3_open_v2(path, &sc->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		if (sc->db)
			store_note_error();
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
		store_note_error();
		return -1;
	}
	return 0;
}

static int
store_conn_prepare(void)
{
	int	 i;

	for (i = 0; i < ST_COUNT; i++)
		if (sqlite3_prepare_v3(sc->db, store_sql[i], -1,
		    SQLITE_PREPARE_PERSISTENT, &sc->st[i], NULL) !=
		    SQLITE_OK) {
			store_note_error();
			return -1;
		}
	sc->err[0] = '\0';
	return 0;
}

static void
store_conn_close(struct store_conn *conn)
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
int
store_open(const char *path, int sync_full, char *err, size_t errlen)
{
	char	 why[384];

	sc = &store_main;
	store_main.err[0] = store_wr.err[0] = '\0';
	store_main.errcode = store_wr.errcode = 0;
	store_fault_since = 0;
	store_fault_count = 0;
	if (store_check_path(path, err, errlen) == -1)
		return -1;
	free(store_path);
	if ((store_path = strdup(path)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	if (store_conn_open(path, sync_full) == -1 ||
	    store_quick_check() == -1)
		goto fail;
	why[0] = '\0';
	if (store_migrate(why, sizeof(why)) == -1) {
		if (sc->errcode && store_is_fault(sc->errcode))
			store_open_error(path, err, errlen);
		else
			snprintf(err, errlen, "%s: %s", path, why);
		store_close();
		return -1;
	}
	if (store_conn_prepare() == -1)
		goto fail;
	sc = &store_wr;		/* the schema is there: the writer's */
	if (store_conn_open(path, sync_full) == -1 ||
	    store_conn_prepare() == -1)
		goto fail;
	sc = &store_main;
	return 0;
fail:
	store_open_error(path, err, errlen);
	sc = &store_main;
	store_close();
	return -1;
}

/* The calling thread (commit.c's writer) uses the writer's connection
 * from now on. */
void
store_use_writer(void)
{
	sc = &store_wr;
}

/* Close both connections; the writer must be idle. */
void
store_close(void)
{
	store_conn_close(&store_main);
	store_conn_close(&store_wr);
	free(store_path);
	store_path = NULL;
}

int
store_version(void)
{
	int	 v;

	return store_schema_version(&v) == -1 ? -1 : v;
}

static const char *
store_text(sqlite3_stmt *st, int col)
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
store_rows_end(sqlite3_stmt *st, int rc, int n, const char *what)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc == SQLITE_ABORT)
		return -1;
	if (rc != SQLITE_DONE) {
		store_note_error();
		log_error("store: %s: %s", what, sc->err);
		return -1;
	}
	return n;
}

/*
 * Call fn for every stored client; the struct and its strings are valid
 * only during the call. Returns the number of clients, or -1.
 */
int
store_load_clients(int (*fn)(const struct client *, void *), void *arg)
{
	sqlite3_stmt	*st = sc->st[ST_LOAD_CLIENTS];
	struct client	 c;
	int		 rc, n = 0, v;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&c, 0, sizeof(c));
		c.id = (char *)store_text(st, 0);
		c.class = (char *)store_text(st, 1);
		v = clients_state_parse(store_text(st, 2));
		c.state = (uint8_t)(v < 0 ? CLIENT_OFFLINE : v);
		c.contact = (char *)store_text(st, 3);
		v = clients_transport_parse(store_text(st, 4));
		c.transport = (uint8_t)(v < 0 ? TRANSPORT_UDP : v);
		snprintf(c.address, sizeof(c.address), "%s",
		    store_text(st, 5));
		c.port = (uint16_t)sqlite3_column_int(st, 6);
		c.user_agent = sqlite3_column_type(st, 7) == SQLITE_NULL ?
		    NULL : (char *)store_text(st, 7);
		c.registered_at = sqlite3_column_int64(st, 8);
		c.expires_at = sqlite3_column_int64(st, 9);
		c.last_seen = sqlite3_column_int64(st, 10);
		if (fn(&c, arg) == -1) {
			rc = SQLITE_ABORT;
			break;
		}
		n++;
	}
	return store_rows_end(st, rc, n, "loading clients");
}

int
store_begin(void)
{
	if (store_exec(ST_BEGIN) == -1)
		return -1;
	sc->err[0] = '\0';
	return 0;
}

/* Commit the open transaction; on failure it is rolled back. A success
 * ends a store fault. */
int
store_commit(void)
{
	if (store_exec(ST_COMMIT) == -1) {
		store_rollback();
		return -1;
	}
	store_recovered();
	return 0;
}

void
store_rollback(void)
{
	if (!sqlite3_get_autocommit(sc->db))
		store_exec(ST_ROLLBACK);
}

/* Write a client's whole row (insert or replace). */
int
store_put_client(const struct client *c)
{
	sqlite3_stmt	*st = sc->st[ST_PUT_CLIENT];

	sqlite3_bind_text(st, 1, c->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, c->class, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, clients_state_name(c->state), -1,
	    SQLITE_STATIC);
	sqlite3_bind_text(st, 4, c->contact, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, clients_transport_name(c->transport), -1,
	    SQLITE_STATIC);
	sqlite3_bind_text(st, 6, c->address, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 7, c->port);
	if (c->user_agent)
		sqlite3_bind_text(st, 8, c->user_agent, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 8);
	sqlite3_bind_int64(st, 9, c->registered_at);
	sqlite3_bind_int64(st, 10, c->expires_at);
	sqlite3_bind_int64(st, 11, c->last_seen);
	return store_exec(ST_PUT_CLIENT);
}

/* Write only a client's state and last_seen. */
int
store_touch_client(const struct client *c)
{
	sqlite3_stmt	*st = sc->st[ST_TOUCH_CLIENT];

	sqlite3_bind_text(st, 1, c->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, clients_state_name(c->state), -1,
	    SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, c->last_seen);
	return store_exec(ST_TOUCH_CLIENT);
}

int
store_delete_client(const char *id)
{
	sqlite3_bind_text(sc->st[ST_DELETE_CLIENT], 1, id, -1,
	    SQLITE_STATIC);
	return store_exec(ST_DELETE_CLIENT);
}

static void
store_bind_opt64(sqlite3_stmt *st, int col, int64_t v)
{
	if (v)
		sqlite3_bind_int64(st, col, v);
	else
		sqlite3_bind_null(st, col);
}

/* Insert a newly published message's row. */
int
store_put_message(const struct message *m)
{
	sqlite3_stmt	*st = sc->st[ST_PUT_MESSAGE];

	sqlite3_bind_text(st, 1, m->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, dispatch_message_state_name(m->state), -1,
	    SQLITE_STATIC);
	sqlite3_bind_text(st, 3, m->selector, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, m->content_type, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 5, m->body, (int)m->body_len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, m->created_at);
	sqlite3_bind_int64(st, 7, m->expires_at);
	store_bind_opt64(st, 8, m->finished_at);
	return store_exec(ST_PUT_MESSAGE);
}

/* Insert or update one target's row. A target in flight is stored as
 * pending, its attempt counted: after a crash it is sent again. */
int
store_put_target(const struct message *m, const struct target *t)
{
	sqlite3_stmt	*st = sc->st[ST_PUT_TARGET];
	int		 state = t->state == TARGET_SENT ? TARGET_PENDING :
			    t->state;

	sqlite3_bind_text(st, 1, m->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, t->client, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, dispatch_target_state_name(state), -1,
	    SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, t->attempts);
	sqlite3_bind_int64(st, 5, t->next_attempt);
	if (t->last_status)
		sqlite3_bind_int(st, 6, t->last_status);
	else
		sqlite3_bind_null(st, 6);
	store_bind_opt64(st, 7, t->last_attempt);
	store_bind_opt64(st, 8, t->acked_at);
	return store_exec(ST_PUT_TARGET);
}

int
store_set_message_state(const struct message *m)
{
	sqlite3_stmt	*st = sc->st[ST_SET_MESSAGE_STATE];

	sqlite3_bind_text(st, 1, m->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, dispatch_message_state_name(m->state), -1,
	    SQLITE_STATIC);
	store_bind_opt64(st, 3, m->finished_at);
	return store_exec(ST_SET_MESSAGE_STATE);
}

/*
 * Call fn for stored messages, newest first: the one with this id (or
 * all when id is NULL), only unfinished ones if active_only, at most
 * limit (-1: no limit).
 * The row is valid only during the call. Returns the count, or -1.
 */
int
store_load_messages(const char *id, int active_only, int limit,
    int (*fn)(const struct message_row *, void *), void *arg)
{
	sqlite3_stmt		*st = sc->st[ST_LOAD_MESSAGES];
	struct message_row	 r;
	int			 rc, n = 0;

	if (id)
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 1);
	sqlite3_bind_int(st, 2, active_only);
	sqlite3_bind_int(st, 3, limit);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&r, 0, sizeof(r));
		r.id = store_text(st, 0);
		r.state = store_text(st, 1);
		r.selector = store_text(st, 2);
		r.content_type = store_text(st, 3);
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
		if (fn(&r, arg) == -1) {
			rc = SQLITE_ABORT;
			break;
		}
		n++;
	}
	return store_rows_end(st, rc, n, "loading messages");
}

/* Call fn for every target of a message, by client ID. Count or -1. */
int
store_load_targets(const char *message_id,
    int (*fn)(const struct target_row *, void *), void *arg)
{
	sqlite3_stmt		*st = sc->st[ST_LOAD_TARGETS];
	struct target_row	 r;
	int			 rc, n = 0, v;

	sqlite3_bind_text(st, 1, message_id, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&r, 0, sizeof(r));
		r.client = store_text(st, 0);
		v = dispatch_target_state_parse(store_text(st, 1));
		r.state = v < 0 ? TARGET_PENDING : v;
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
	return store_rows_end(st, rc, n, "loading targets");
}

/* Delete finished messages (and their targets) finished before t. */
int
store_purge_messages(int64_t finished_before)
{
	sqlite3_bind_int64(sc->st[ST_PURGE_MESSAGES], 1, finished_before);
	if (store_exec(ST_PURGE_MESSAGES) == -1)
		return -1;
	return sqlite3_changes(sc->db);
}

/*
 * A user's credentials: the realm its HA1s were made for and the HA1s
 * as hex (buffers of 65 and 33 bytes). 1 found, 0 unknown, -1 error.
 */
int
store_get_user(const char *id, char *realm, size_t realmlen,
    char sha256[65], char md5[33])
{
	sqlite3_stmt	*st = sc->st[ST_GET_USER];
	int		 rc;

	if (st == NULL)
		return -1;	/* not open */
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		snprintf(realm, realmlen, "%s", store_text(st, 0));
		snprintf(sha256, 65, "%s", store_text(st, 1));
		snprintf(md5, 33, "%s", store_text(st, 2));
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	log_error("store: reading user %s: %s", id, store_errmsg());
	return -1;
}

/* Add or replace a user; written at once (an admin's request). */
int
store_put_user(const char *id, const char *realm, const char *sha256,
    const char *md5, int64_t now)
{
	sqlite3_stmt	*st = sc->st[ST_PUT_USER];

	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, realm, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, sha256, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, md5, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, now);
	return store_exec(ST_PUT_USER);
}

/* Delete a user: 1 deleted, 0 there was none, -1 error. */
int
store_delete_user(const char *id)
{
	sqlite3_bind_text(sc->st[ST_DELETE_USER], 1, id, -1,
	    SQLITE_STATIC);
	if (store_exec(ST_DELETE_USER) == -1)
		return -1;
	return sqlite3_changes(sc->db) > 0;
}

/* Call fn for every user (or only id, if not NULL), sorted by ID.
 * Returns the number of users, or -1. */
int
store_list_users(const char *id, int (*fn)(const char *id,
    const char *realm, int64_t created_at, void *), void *arg)
{
	sqlite3_stmt	*st = sc->st[ST_LIST_USERS];
	int		 rc, n = 0;

	if (id)
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (fn(store_text(st, 0), store_text(st, 1),
		    sqlite3_column_int64(st, 2), arg) == -1) {
			rc = SQLITE_ABORT;
			break;
		}
		n++;
	}
	return store_rows_end(st, rc, n, "listing users");
}

/* Add a token (the HTTP API's, token.c): 0, 1 the name is taken, -1
 * error. */
int
store_put_token(const char *name, const char *hash, const char *scopes,
    int64_t now)
{
	sqlite3_stmt	*st = sc->st[ST_PUT_TOKEN];

	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, hash, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, scopes, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, now);
	if (store_exec(ST_PUT_TOKEN) == -1)
		return (sc->errcode & 0xff) ==
		    SQLITE_CONSTRAINT ? 1 : -1;
	return 0;
}

/* Delete a token: 1 deleted, 0 there was none, -1 error. */
int
store_delete_token(const char *name)
{
	sqlite3_bind_text(sc->st[ST_DELETE_TOKEN], 1, name, -1,
	    SQLITE_STATIC);
	if (store_exec(ST_DELETE_TOKEN) == -1)
		return -1;
	return sqlite3_changes(sc->db) > 0;
}

/* Call fn for every token, sorted by name.  The number, or -1. */
int
store_list_tokens(int (*fn)(const char *name, const char *hash,
    const char *scopes, int64_t created_at, void *), void *arg)
{
	sqlite3_stmt	*st = sc->st[ST_LIST_TOKENS];
	int		 rc, n = 0;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (fn(store_text(st, 0), store_text(st, 1),
		    store_text(st, 2), sqlite3_column_int64(st, 3), arg) ==
		    -1) {
			rc = SQLITE_ABORT;
			break;
		}
		n++;
	}
	return store_rows_end(st, rc, n, "listing tokens");
}
