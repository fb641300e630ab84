/*
 * store.c: the one door to the store.
 *
 * The daemon keeps its tables in memory and writes them through a
 * backend chosen by name (database.backend, as OpenSMTPD chooses its
 * queue backend): store_open finds it in store_backends[] and every
 * store_* below forwards to it. What crosses the door is plain rows
 * (struct client_row, message_row, target_row, user_row, token_row): a batch of
 * them is written as one transaction (store_write), and the loads call
 * back once per row. Nothing here knows SQL, nor the subsystems' structs.
 *
 * A batch owns copies of its rows' strings (store_batch_*), so that the
 * writer thread may write it while the event loop goes on changing the
 * live objects; it grows in chunks and is freed in one go.
 *
 * Who calls. In the daemon every store_* after start-up runs on the
 * writer thread (commit.c): a batch, or a job (struct commit_job: run on
 * the writer, done back on the event loop) for a read, a publish, a
 * user change or the purge. The event loop runs none (the backend
 * counts those it sees, store_loop_calls; a test keeps it at 0). Big
 * reads page with after/limit (status reads a message's targets 1000
 * per job) so no job holds the writer long.
 *
 * Adding a backend: a struct store_backend of its own (store_<name>.c,
 * declared in sippushd.h), one line in store_backends[] and its name in
 * store_backend_list[] below; tests/test_store.c runs its suite on every
 * entry of the list.
 */
#include <stdlib.h>
#include <string.h>

#include "sippushd.h"

static const struct store_backend *const store_backends[] = {
	&store_sqlite,
	&store_postgresql,
};
/* their names, in the same order (database.backend; config.c) */
const char *const store_backend_list[] = { "sqlite", "postgresql", NULL };
#define STORE_NBACKENDS	(sizeof(store_backends) / sizeof(store_backends[0]))

static const struct store_backend *store_be;	/* the open one */

/* The backend called name, or NULL. */
const struct store_backend *
store_backend_find(const char *name)
{
	size_t	 i;

	for (i = 0; i < STORE_NBACKENDS; i++)
		if (strcmp(store_backends[i]->name, name) == 0)
			return store_backends[i];
	return NULL;
}

/* The backends' names, for an error message: "sqlite" or "a, b". */
const char *
store_backend_names(void)
{
	static char	 names[128];
	size_t		 i, n = 0;

	names[0] = '\0';
	for (i = 0; i < STORE_NBACKENDS && n < sizeof(names); i++)
		n += (size_t)snprintf(names + n, sizeof(names) - n, "%s\"%s\"",
		    i ? ", " : "", store_backends[i]->name);
	return names;
}

static int store_open_where(const char *, const char *, int, const char *,
    char *, size_t);

/*
 * Open the store with the backend called backend (NULL: the default):
 * create or upgrade its schema. path: the database file (sqlite) or the
 * conninfo (postgresql). 0, or -1 with "path: what is wrong: what to
 * do" in err.
 */
int
store_open(const char *backend, const char *path, int sync_full, char *err,
    size_t errlen)
{
	return store_open_where(backend, path, sync_full, NULL, err, errlen);
}

/* Open the store the configuration names (database.*). */
int
store_open_config(const struct config *cfg, char *err, size_t errlen)
{
	const char	*backend = store_backend_list[cfg->db_backend];

	if (strcmp(backend, "postgresql") == 0)
		return store_open_where(backend, cfg->db_conninfo ?
		    cfg->db_conninfo : "", cfg->db_sync_full, cfg->db_passfile,
		    err, errlen);
	return store_open_where(backend, cfg->db_path, cfg->db_sync_full,
	    NULL, err, errlen);
}

static int
store_open_where(const char *backend, const char *path, int sync_full,
    const char *passfile, char *err, size_t errlen)
{
	const struct store_backend	*be;

	if (backend == NULL)
		backend = STORE_BACKEND_DEFAULT;
	if ((be = store_backend_find(backend)) == NULL) {
		snprintf(err, errlen, "database.backend \"%s\" is unknown: "
		    "this sippushd knows %s", backend, store_backend_names());
		return -1;
	}
	if (be->open(path, sync_full, passfile, err, errlen) == -1)
		return -1;
	store_be = be;
	return 0;
}

/* What the open store is, for a log line: its file, or its conninfo
 * with the password masked. */
const char *
store_where(void)
{
	return store_be ? store_be->where() : "(no store)";
}

/* Does the last write fail for want of the database server? (Read on
 * the event loop: a flag, no SQL.) */
int
store_unavailable(void)
{
	return store_be && store_be->unavailable ? store_be->unavailable() :
	    0;
}

void
store_close(void)
{
	if (store_be)
		store_be->close();
	store_be = NULL;
}

/* The calling thread (commit.c's writer) uses its own connection, with
 * whichever backend is open now or later. */
void
store_use_writer(void)
{
	size_t	 i;

	for (i = 0; i < STORE_NBACKENDS; i++)
		store_backends[i]->use_writer();
}

int
store_version(void)
{
	return store_be ? store_be->version() : -1;
}

/* Write b in one transaction: 0, or -1 (rolled back; store_errmsg). */
int
store_write(const struct store_batch *b)
{
	if (store_be == NULL)
		return -1;
	return store_be->write(b);
}

int
store_load_clients(int (*fn)(const struct client_row *, void *), void *arg)
{
	return store_be ? store_be->load_clients(fn, arg) : -1;
}

/* A page of clients (struct client_filter), by ID after after (NULL:
 * from the first), at most limit: the count, or -1. */
int
store_list_clients(const struct client_filter *f, const char *after,
    int limit, int (*fn)(const struct client_row *, void *), void *arg)
{
	return store_be ? store_be->list_clients(f, after, limit, fn, arg) :
	    -1;
}

int
store_load_messages(const char *id, int active_only,
    const struct message_pos *after, int limit,
    int (*fn)(const struct message_row *, void *), void *arg)
{
	return store_be ? store_be->load_messages(id, active_only, after,
	    limit, fn, arg) : -1;
}

int
store_load_targets(const char *message_id, const char *after, int limit,
    int (*fn)(const struct target_row *, void *), void *arg)
{
	return store_be ? store_be->load_targets(message_id, after, limit, fn,
	    arg) : -1;
}

int
store_load_users(const char *id, int (*fn)(const struct user_row *, void *),
    void *arg)
{
	return store_be ? store_be->load_users(id, fn, arg) : -1;
}

int
store_load_tokens(int (*fn)(const struct token_row *, void *), void *arg)
{
	return store_be && store_be->load_tokens ?
	    store_be->load_tokens(fn, arg) : -1;
}

int
store_load_outbox(int (*fn)(const struct outbox_row *, void *), void *arg)
{
	return store_be && store_be->load_outbox ?
	    store_be->load_outbox(fn, arg) : -1;
}

/* Delete finished messages (and their targets) finished before t (unix
 * s): how many, or -1. */
int
store_purge_messages(int64_t finished_before)
{
	long	 ended;

	return store_purge(finished_before, 0, &ended);
}

/* Delete finished messages finished before finished_before, and the
 * client rows no node holds whose registration ended at or before
 * ended_before (0: neither; see struct store_backend): the messages
 * deleted, or -1; the client rows into *ended. */
int
store_purge(int64_t finished_before, int64_t ended_before, long *ended)
{
	*ended = 0;
	return store_be ? store_be->purge(finished_before, ended_before,
	    ended) : -1;
}

const char *
store_errmsg(void)
{
	return store_be ? store_be->errmsg() : "database not open";
}

const char *
store_errhint(void)
{
	return store_be ? store_be->errhint() : "";
}

int64_t
store_failing(unsigned *count)
{
	if (store_be == NULL) {
		if (count)
			*count = 0;
		return 0;
	}
	return store_be->failing(count);
}

static unsigned long	 store_loop_base;	/* at store_serving */

static unsigned long
store_loop_raw(void)
{
	return store_be && store_be->loop_calls ? store_be->loop_calls() : 0;
}

/* The daemon has loaded its tables and serves: from now on, no
 * statement may run on the event loop (the start-up loads that follow
 * commit_init, such as dispatch_restore's, are not counted). */
void
store_serving(void)
{
	store_loop_base = store_loop_raw();
}

/* Statements the backend ran on the event loop's thread since
 * store_serving (the design says none). */
unsigned long
store_loop_calls(void)
{
	return store_loop_raw() - store_loop_base;
}

/* ---- batches ---- */

#define STORE_CHUNK_MIN	16384

struct store_chunk {
	struct store_chunk	*next;
	size_t			 size, used;
	char			 data[];
};

void
store_batch_init(struct store_batch *b)
{
	memset(b, 0, sizeof(*b));
	b->epoch = cluster_epoch();
}

void
store_batch_free(struct store_batch *b)
{
	struct store_chunk	*c, *next;

	for (c = b->chunks; c; c = next) {
		next = c->next;
		free(c);
	}
	free(b->clients);
	free(b->msgs);
	free(b->targets);
	free(b->users);
	free(b->tokens);
	free(b->outbox);
	store_batch_init(b);
}

int
store_batch_empty(const struct store_batch *b)
{
	return b->nclients == 0 && b->nmsgs == 0 && b->ntargets == 0 &&
	    b->nusers == 0 && b->ntokens == 0 &&
	    b->noutbox == 0;
}

/* n bytes of the batch's own memory, or NULL. */
static void *
store_batch_alloc(struct store_batch *b, size_t n)
{
	struct store_chunk	*c = b->chunks;
	size_t			 size;
	void			*p;

	n = (n + 7) & ~(size_t)7;
	if (c == NULL || c->size - c->used < n) {
		size = n > STORE_CHUNK_MIN ? n : STORE_CHUNK_MIN;
		if ((c = malloc(sizeof(*c) + size)) == NULL)
			return NULL;
		c->size = size;
		c->used = 0;
		c->next = b->chunks;
		b->chunks = c;
	}
	p = c->data + c->used;
	c->used += n;
	return p;
}

/* *sp copied into the batch (NULL stays NULL). 0, or -1. */
static int
store_batch_str(struct store_batch *b, const char **sp)
{
	size_t	 n;
	char	*d;

	if (*sp == NULL)
		return 0;
	n = strlen(*sp) + 1;
	if ((d = store_batch_alloc(b, n)) == NULL)
		return -1;
	memcpy(d, *sp, n);
	*sp = d;
	return 0;
}

/* Room for one more element in *v (of *n, *a allocated). */
static int
store_batch_grow(void **v, size_t *a, size_t n, size_t size)
{
	size_t	 na;
	void	*nv;

	if (n < *a)
		return 0;
	na = *a ? *a * 2 : 64;
	if ((nv = realloc(*v, na * size)) == NULL)
		return -1;
	*v = nv;
	*a = na;
	return 0;
}

/* Append a copy of the row (strings included, but for state and
 * transport: names in static storage) to the batch: 0, or -1 when memory
 * is short (the batch is as it was, but for some memory). */
int
store_batch_client(struct store_batch *b, const struct client_row *r)
{
	struct client_row	 c = *r;

	/* state and transport too: a row read back from the store (a node
	 * joining again, fleet.c) has them in the store's result */
	if (store_batch_grow((void **)&b->clients, &b->aclients, b->nclients,
	    sizeof(c)) == -1 || store_batch_str(b, &c.id) == -1 ||
	    store_batch_str(b, &c.class) == -1 ||
	    store_batch_str(b, &c.state) == -1 ||
	    store_batch_str(b, &c.transport) == -1 ||
	    store_batch_str(b, &c.contact) == -1 ||
	    store_batch_str(b, &c.address) == -1 ||
	    store_batch_str(b, &c.user_agent) == -1 ||
	    store_batch_str(b, &c.path) == -1 ||
	    store_batch_str(b, &c.owner) == -1)
		return -1;
	b->clients[b->nclients++] = c;
	return 0;
}

int
store_batch_message(struct store_batch *b, const struct message_row *r)
{
	struct message_row	 m = *r;
	void			*body;

	if (store_batch_grow((void **)&b->msgs, &b->amsgs, b->nmsgs,
	    sizeof(m)) == -1 || store_batch_str(b, &m.id) == -1 ||
	    store_batch_str(b, &m.selector) == -1 ||
	    store_batch_str(b, &m.content_type) == -1 ||
	    store_batch_str(b, &m.callback) == -1)
		return -1;
	if (m.body) {
		if ((body = store_batch_alloc(b, m.body_len + 1)) == NULL)
			return -1;
		memcpy(body, m.body, m.body_len);
		m.body = body;
	}
	b->msgs[b->nmsgs++] = m;
	return 0;
}

int
store_batch_target(struct store_batch *b, const struct target_row *r)
{
	struct target_row	 t = *r;

	if (store_batch_grow((void **)&b->targets, &b->atargets, b->ntargets,
	    sizeof(t)) == -1 || store_batch_str(b, &t.message_id) == -1 ||
	    store_batch_str(b, &t.client) == -1)
		return -1;
	b->targets[b->ntargets++] = t;
	return 0;
}

int
store_batch_user(struct store_batch *b, const struct user_row *r)
{
	struct user_row	 u = *r;

	if (store_batch_grow((void **)&b->users, &b->ausers, b->nusers,
	    sizeof(u)) == -1 || store_batch_str(b, &u.id) == -1 ||
	    store_batch_str(b, &u.realm) == -1 ||
	    store_batch_str(b, &u.ha1_sha256) == -1 ||
	    store_batch_str(b, &u.ha1_md5) == -1)
		return -1;
	b->users[b->nusers++] = u;
	return 0;
}

int
store_batch_token(struct store_batch *b, const struct token_row *r)
{
	struct token_row	 t = *r;

	if (store_batch_grow((void **)&b->tokens, &b->atokens, b->ntokens,
	    sizeof(t)) == -1 || store_batch_str(b, &t.name) == -1 ||
	    store_batch_str(b, &t.hash) == -1 ||
	    store_batch_str(b, &t.scopes) == -1)
		return -1;
	b->tokens[b->ntokens++] = t;
	return 0;
}

int
store_batch_outbox(struct store_batch *b, const struct outbox_row *r)
{
	struct outbox_row	 o = *r;

	if (store_batch_grow((void **)&b->outbox, &b->aoutbox, b->noutbox,
	    sizeof(o)) == -1 || store_batch_str(b, &o.id) == -1 ||
	    store_batch_str(b, &o.event) == -1 ||
	    store_batch_str(b, &o.url) == -1 ||
	    store_batch_str(b, &o.body) == -1)
		return -1;
	b->outbox[b->noutbox++] = o;
	return 0;
}
