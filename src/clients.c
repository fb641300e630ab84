/*
 * clients.c: the application-information table, held in memory.
 *
 * A chained hash table keyed by client ID owns every struct client. The
 * store holds the durable copy: a change marks the client dirty and puts
 * it on the dirty list. For the group commit (commit.c) clients_batch
 * copies the dirty rows into a batch as plain values, clears the marks
 * and remembers what it gave; clients_batch_done hears the outcome: the
 * rows written (clients_written), or, when the commit failed, the
 * clients marked again (clients_requeue). A client whose row is being
 * deleted stays in the table until the delete is committed.
 */
#include <stdlib.h>
#include <sys/random.h>
#include <time.h>
#include <string.h>

#include <sofia-sip/tport.h>

#include "sippushd.h"

static struct client	**clients_table;
static size_t		  clients_nbuckets;
static size_t		  clients_n;
static struct client	 *clients_dirty;
static struct client	**clients_dirty_tail = &clients_dirty;
static size_t		  clients_by_state[CLIENT_UNREGISTERED + 1];
static uint64_t		  clients_seq;		/* joins of the dirty list */
static uint64_t		  clients_covered;	/* every join up to this one
						   is in a batch given */

static const char *const state_names[] = {
	"online", "offline", "expired", "unregistered"
};
static const char *const transport_names[] = { "udp", "tcp", "tls" };

static uint64_t		  clients_seed;

/* The rows in the batch being written: whose, with which marks. */
struct clients_given {
	struct client	*c;
	int		 marks;
};
static struct clients_given	*clients_given;
static size_t			 clients_ngiven, clients_agiven;

/* FNV-1a from a random start, then a final mix: client IDs come from the
 * network, and an unseeded hash would let one craft IDs that all land in
 * the same bucket. */
static uint64_t
clients_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL ^ clients_seed;

	while (*s) {
		h ^= (unsigned char)*s++;
		h *= 1099511628211ULL;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

int
clients_init(void)
{
	if (getrandom(&clients_seed, sizeof(clients_seed), GRND_NONBLOCK) !=
	    sizeof(clients_seed))
		clients_seed = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ULL;
	clients_nbuckets = 1024;
	clients_table = calloc(clients_nbuckets, sizeof(*clients_table));
	return clients_table ? 0 : -1;
}

/* Hold a reference to the connection c registered over (NULL drops it). */
void
clients_set_tport(struct client *c, struct tport_s *tp)
{
	if (c->tport == tp)
		return;
	if (c->tport)
		tport_unref(c->tport);
	c->tport = tp ? tport_ref(tp) : NULL;
}

static void
clients_destroy(struct client *c)
{
	clients_set_tport(c, NULL);
	auth_forget(c);
	free(c->id);
	free(c->class);
	free(c->contact);
	free(c->user_agent);
	free(c->path);
	free(c);
}

void
clients_free(void)
{
	struct client	*c, *next;
	size_t		 i;

	for (c = clients_dirty; c; c = next) {	/* dropped, not written */
		next = c->dnext;
		if (c->dropped)
			clients_destroy(c);
	}
	for (i = 0; i < clients_nbuckets; i++)
		for (c = clients_table[i]; c; c = next) {
			next = c->hnext;
			clients_destroy(c);
		}
	free(clients_given);
	clients_given = NULL;
	clients_ngiven = clients_agiven = 0;
	free(clients_table);
	clients_table = NULL;
	clients_nbuckets = clients_n = 0;
	memset(clients_by_state, 0, sizeof(clients_by_state));
	clients_dirty = NULL;
	clients_dirty_tail = &clients_dirty;
}

struct client *
clients_find(const char *id)
{
	struct client	*c;

	for (c = clients_table[clients_hash(id) & (clients_nbuckets - 1)];
	    c; c = c->hnext)
		if (strcmp(c->id, id) == 0)
			return c;
	return NULL;
}

/* Double the buckets when the load passes 1; on ENOMEM keep chaining. */
static void
clients_grow(void)
{
	struct client	**t, *c, *next;
	size_t		  n = clients_nbuckets * 2, i, h;

	if ((t = calloc(n, sizeof(*t))) == NULL)
		return;
	for (i = 0; i < clients_nbuckets; i++)
		for (c = clients_table[i]; c; c = next) {
			next = c->hnext;
			h = clients_hash(c->id) & (n - 1);
			c->hnext = t[h];
			t[h] = c;
		}
	free(clients_table);
	clients_table = t;
	clients_nbuckets = n;
}

/*
 * A binding number for a client that is new or registers from another
 * address, port or transport: never 0, and not the one it had (one
 * counter for all, so a client deleted and created again gets another
 * one too; it wraps after 65,535 changes, far more than a MESSAGE's
 * lifetime sees).
 */
static uint16_t
clients_new_binding(void)
{
	static uint16_t	 next;

	if (++next == 0)
		next = 1;
	return next;
}

static struct client *
clients_insert(const char *id)
{
	struct client	*c;
	size_t		 h;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->binding = clients_new_binding();
	if ((c->id = strdup(id)) == NULL) {
		free(c);
		return NULL;
	}
	if (clients_n >= clients_nbuckets)
		clients_grow();
	h = clients_hash(id) & (clients_nbuckets - 1);
	c->hnext = clients_table[h];
	clients_table[h] = c;
	clients_n++;
	clients_by_state[c->state]++;
	return c;
}

/* Replace *dst with a copy of src (NULL allowed); -1 on ENOMEM. */
static int
clients_setstr(char **dst, const char *src)
{
	char	*p = NULL;

	if (src && (p = strdup(src)) == NULL)
		return -1;
	free(*dst);
	*dst = p;
	return 0;
}

static void
clients_unlink(struct client *c)
{
	struct client	**pp;

	pp = &clients_table[clients_hash(c->id) & (clients_nbuckets - 1)];
	while (*pp != c)
		pp = &(*pp)->hnext;
	*pp = c->hnext;
	clients_n--;
	clients_by_state[c->state]--;
}

/* Set c's state, keeping the counts of clients_stats. */
void
clients_set_state(struct client *c, int state)
{
	clients_by_state[c->state]--;
	c->state = (uint8_t)state;
	clients_by_state[c->state]++;
}

/* Put c on the dirty list with the given marks. */
void
clients_mark(struct client *c, int dirty)
{
	if (c->dirty == 0) {
		c->dseq = ++clients_seq;
		c->dnext = NULL;
		*clients_dirty_tail = c;
		clients_dirty_tail = &c->dnext;
	}
	c->dirty |= (uint8_t)dirty;
}

/*
 * Create or update the client of a registration (expires > 0). The client
 * is online and marked for a durable write. Returns 0 with *cp set, or -1
 * on ENOMEM (a new client is then not created; an existing one keeps its
 * old values).
 */
int
clients_register(const struct registration *r, struct client **cp)
{
	struct client	*c, tmp;
	int		 created = 0;

	if ((c = clients_find(r->id)) == NULL) {
		if ((c = clients_insert(r->id)) == NULL)
			return -1;
		created = 1;
	}
	memset(&tmp, 0, sizeof(tmp));
	if (clients_setstr(&tmp.class, r->class) == -1 ||
	    clients_setstr(&tmp.contact, r->contact) == -1 ||
	    clients_setstr(&tmp.user_agent, r->user_agent) == -1 ||
	    clients_setstr(&tmp.path, r->path) == -1) {
		free(tmp.class);
		free(tmp.contact);
		free(tmp.user_agent);
		if (created) {
			clients_unlink(c);
			clients_destroy(c);
		}
		return -1;
	}
	free(c->class);
	free(c->contact);
	free(c->user_agent);
	free(c->path);
	c->class = tmp.class;
	c->contact = tmp.contact;
	c->user_agent = tmp.user_agent;
	c->path = tmp.path;
	if (!created && (strcmp(c->address, r->address) != 0 ||
	    c->port != r->port || c->transport != (uint8_t)r->transport))
		c->binding = clients_new_binding();
	snprintf(c->address, sizeof(c->address), "%s", r->address);
	c->port = r->port;
	c->transport = (uint8_t)r->transport;
	clients_set_tport(c, r->tport);
	clients_set_state(c, CLIENT_ONLINE);
	c->registered_at = r->now;
	c->expires_at = r->now + r->expires;
	c->last_seen = c->seen_marked = r->now;
	clients_mark(c, CLIENT_DIRTY_ROW);	/* before the delete mark goes:
						   it may be on the list */
	c->dirty &= (uint8_t)~CLIENT_DIRTY_DELETE;
	*cp = c;
	return 0;
}

/* End a registration at the client's request; the row is retained. */
void
clients_unregister(struct client *c, int64_t now)
{
	clients_set_state(c, CLIENT_UNREGISTERED);
	c->expires_at = now;
	clients_set_tport(c, NULL);
	clients_mark(c, CLIENT_DIRTY_ROW);
}

/* Insert a client loaded from the store. */
int
clients_restore(const struct client *src)
{
	struct client	*c;

	if (clients_find(src->id) != NULL)
		return -1;
	if ((c = clients_insert(src->id)) == NULL)
		return -1;
	if (clients_setstr(&c->class, src->class) == -1 ||
	    clients_setstr(&c->contact, src->contact) == -1 ||
	    clients_setstr(&c->user_agent, src->user_agent) == -1 ||
	    clients_setstr(&c->path, src->path) == -1)
		return -1;
	memcpy(c->address, src->address, sizeof(c->address));
	c->port = src->port;
	c->transport = src->transport;
	clients_set_state(c, src->state);
	/* a TCP/TLS client's connection did not survive the restart: it
	 * cannot be reached until it registers again */
	if (c->transport != TRANSPORT_UDP && c->state == CLIENT_ONLINE) {
		clients_set_state(c, CLIENT_OFFLINE);
		clients_mark(c, CLIENT_DIRTY_SEEN);
	}
	c->registered_at = src->registered_at;
	c->expires_at = src->expires_at;
	c->last_seen = c->seen_marked = src->last_seen;
	return 0;
}

/* A stored client row into the table (a store_load_clients callback). */
int
clients_restore_row(const struct client_row *r, void *arg)
{
	struct client	 c;
	int		 v;

	(void)arg;
	memset(&c, 0, sizeof(c));
	c.id = (char *)r->id;
	c.class = (char *)r->class;
	v = clients_state_parse(r->state);
	c.state = (uint8_t)(v < 0 ? CLIENT_OFFLINE : v);
	c.contact = (char *)r->contact;
	v = clients_transport_parse(r->transport);
	c.transport = (uint8_t)(v < 0 ? TRANSPORT_UDP : v);
	snprintf(c.address, sizeof(c.address), "%s", r->address);
	c.port = (uint16_t)r->port;
	c.user_agent = (char *)r->user_agent;
	c.path = (char *)r->path;
	c.registered_at = r->registered_at;
	c.expires_at = r->expires_at;
	c.last_seen = r->last_seen;
	return clients_restore(&c);
}

/* Detach and return the dirty list (linked by dnext, marks kept). */
struct client *
clients_take_dirty(void)
{
	struct client	*list = clients_dirty;

	clients_dirty = NULL;
	clients_dirty_tail = &clients_dirty;
	return list;
}

/* Put back a list taken by clients_take_dirty whose write failed. */
void
clients_requeue_dirty(struct client *list)
{
	struct client	*c, *next;
	int		 marks;

	for (c = list; c; c = next) {
		next = c->dnext;
		marks = c->dirty;
		c->dirty = 0;
		clients_mark(c, marks);
	}
}

/*
 * The group commit copied c's row, written with these marks, and cleared
 * c->dirty; the write failed: mark c again. A delete is not redone if c
 * registered again meanwhile (it is marked for its whole row).
 */
void
clients_requeue(struct client *c, int marks)
{
	if ((marks & CLIENT_DIRTY_DELETE) && (c->dirty & CLIENT_DIRTY_ROW))
		marks &= ~CLIENT_DIRTY_DELETE;
	clients_mark(c, marks);
}

/*
 * The write of c's row with these marks is committed. A client whose row
 * was deleted is freed, unless it changed meanwhile (marked again: its
 * next write decides).
 */
void
clients_written(struct client *c, int marks)
{
	if ((marks & CLIENT_DIRTY_DELETE) && c->dirty == 0) {
		clients_unlink(c);
		clients_destroy(c);
	}
}

/* c's row as the store sees it, written as marks say. */
static void
clients_row(const struct client *c, int marks, struct client_row *r)
{
	memset(r, 0, sizeof(*r));
	r->op = (marks & CLIENT_DIRTY_DELETE) ? STORE_DELETE :
	    (marks & CLIENT_DIRTY_ROW) ? STORE_PUT : STORE_TOUCH;
	r->id = c->id;
	r->class = c->class;
	r->state = clients_state_name(c->state);
	r->contact = c->contact;
	r->transport = clients_transport_name(c->transport);
	r->address = c->address;
	r->port = c->port;
	r->user_agent = c->user_agent;
	r->path = c->path;
	r->registered_at = c->registered_at;
	r->expires_at = c->expires_at;
	r->last_seen = c->last_seen;
}

/* The dirty list's joins so far: a commit waiter that comes now waits
 * for the rows of the joins up to this one (commit.c). */
uint64_t
clients_dirty_seq(void)
{
	return clients_seq;
}

/* Every join of the dirty list up to this one is in a batch given (the
 * last clients_batch's, or an earlier one). */
uint64_t
clients_batch_covered(void)
{
	return clients_covered;
}

/* Are clients dirty (left by a batch that took CLIENTS_BATCH_MAX)? */
int
clients_dirty_left(void)
{
	return clients_dirty != NULL;
}

/*
 * Take the first n of the dirty list (in the order they joined it),
 * leaving the rest; clients_covered tells how far the taken ones go.
 */
static struct client *
clients_take_first(size_t n)
{
	struct client	*list = clients_dirty, *c, *last = NULL;
	size_t		 i;

	for (c = list, i = 0; c && i < n; c = c->dnext, i++)
		last = c;
	if (c == NULL) {
		clients_take_dirty();
		clients_covered = clients_seq;
		return list;
	}
	clients_dirty = c;		/* the tail stays */
	last->dnext = NULL;
	clients_covered = last->dseq;
	return list;
}

/*
 * Copy the rows of the first CLIENTS_BATCH_MAX dirty clients (in the
 * order they were marked) into b and clear their marks, so that the
 * copy on the event loop is bounded; the rest wait for the next batch
 * (clients_dirty_left, clients_batch_covered). The outcome comes with
 * clients_batch_done. 0, or -1 when memory is short: then every client
 * is dirty as before.
 */
int
clients_batch(struct store_batch *b)
{
	struct client		*list, *c, *next;
	struct clients_given	*ng;
	struct client_row	 r;
	size_t			 i, na;

	list = clients_take_first(CLIENTS_BATCH_MAX);
	for (c = list; c; c = next) {
		next = c->dnext;
		if (c->dropped) {	/* nothing of it is written */
			c->dirty = 0;
			if (!c->given)
				clients_destroy(c);
			continue;
		}
		if (clients_ngiven == clients_agiven) {
			na = clients_agiven ? clients_agiven * 2 : 256;
			if ((ng = realloc(clients_given, na * sizeof(*ng))) ==
			    NULL)
				goto nomem;
			clients_given = ng;
			clients_agiven = na;
		}
		clients_row(c, c->dirty, &r);
		if (store_batch_client(b, &r) == -1)
			goto nomem;
		clients_given[clients_ngiven].c = c;
		clients_given[clients_ngiven++].marks = c->dirty;
		c->given = 1;
		c->dirty = 0;
	}
	return 0;
nomem:
	clients_requeue_dirty(c);
	for (i = 0; i < clients_ngiven; i++) {
		clients_given[i].c->given = 0;
		clients_requeue(clients_given[i].c, clients_given[i].marks);
	}
	clients_ngiven = 0;
	return -1;
}

/* The batch clients_batch filled is committed (ok) or failed. */
void
clients_batch_done(int ok)
{
	size_t	 i;

	struct client	*c;

	for (i = 0; i < clients_ngiven; i++) {
		c = clients_given[i].c;
		c->given = 0;
		if (c->dropped) {
			if (c->dirty == 0)
				clients_destroy(c);
			continue;
		}
		if (ok && c->take && c->state == CLIENT_ONLINE &&
		    (clients_given[i].marks & (CLIENT_DIRTY_ROW |
		    CLIENT_DIRTY_SEEN))) {
			c->take = 0;	/* its targets are this node's now */
			dispatch_cluster_take(c->id);
		}
		if (ok)
			clients_written(c, clients_given[i].marks);
		else
			clients_requeue(c, clients_given[i].marks);
	}
	clients_ngiven = 0;
}

/*
 * Forget c (cluster: another node took it, or this node is fenced): out
 * of the table at once, its connection closed so that the client fails
 * over, nothing of it written any more. Freed now, or once the batch
 * that holds its row is done.
 */
void
clients_drop(struct client *c)
{
	if (c->dropped)
		return;
	clients_unlink(c);
	if (c->tport)
		tport_shutdown(c->tport, 2);
	clients_set_tport(c, NULL);
	c->dropped = 1;
	if (c->dirty == 0 && !c->given)
		clients_destroy(c);
}

/* Forget every client (the node is fenced). */
void
clients_drop_all(void)
{
	struct client	*c, *next;
	size_t		 i;

	for (i = 0; i < clients_nbuckets; i++)
		for (c = clients_table[i]; c; c = next) {
			next = c->hnext;
			clients_drop(c);
		}
}

size_t
clients_count(void)
{
	return clients_n;
}

/* The counts, kept as clients come, go and change state (a walk of a
 * million clients held the loop ~100 ms for every stats request). */
void
clients_stats(struct clients_stats *st)
{
	size_t	 i;

	memset(st, 0, sizeof(*st));
	st->total = clients_n;
	for (i = 0; i <= CLIENT_UNREGISTERED; i++)
		st->by_state[i] = clients_by_state[i];
}

/*
 * Call fn on the clients of the buckets from *pos on, a bucket at a
 * time, until max of them are seen or fn returns non-zero (either way
 * the bucket is finished: none is skipped); *pos is then where to go
 * on. 1 when the end of the
 * table is reached (*pos is 0 again), else 0. The table may grow
 * between two calls: a client may then be seen twice in a pass, but
 * none is missed (doubling moves a bucket's clients to it or to one
 * past the old count). fn may change the client's fields and marks but
 * must not add or free clients.
 */
int
clients_foreach_from(size_t *pos, size_t max,
    int (*fn)(struct client *, void *), void *arg)
{
	struct client	*c, *next;
	size_t		 i, seen = 0;
	int		 stop = 0;

	for (i = *pos; i < clients_nbuckets; i++) {
		if (seen >= max || stop) {
			*pos = i;
			return 0;
		}
		for (c = clients_table[i]; c; c = next) {
			next = c->hnext;
			seen++;
			if (fn(c, arg))
				stop = 1;
		}
	}
	*pos = 0;
	return 1;
}

/* Call fn on every client until it returns non-zero. fn may change the
 * client's fields and marks but must not add or free clients. */
void
clients_foreach(int (*fn)(struct client *, void *), void *arg)
{
	struct client	*c, *next;
	size_t		 i;

	for (i = 0; i < clients_nbuckets; i++)
		for (c = clients_table[i]; c; c = next) {
			next = c->hnext;
			if (fn(c, arg))
				return;
		}
}

const char *
clients_state_name(int state)
{
	if (state < 0 || state > CLIENT_UNREGISTERED)
		return "?";
	return state_names[state];
}

int
clients_state_parse(const char *s)
{
	int	 i;

	for (i = 0; i <= CLIENT_UNREGISTERED; i++)
		if (strcmp(s, state_names[i]) == 0)
			return i;
	return -1;
}

const char *
clients_transport_name(int t)
{
	if (t < 0 || t > TRANSPORT_TLS)
		return "?";
	return transport_names[t];
}

int
clients_transport_parse(const char *s)
{
	int	 i;

	for (i = 0; i <= TRANSPORT_TLS; i++)
		if (strcmp(s, transport_names[i]) == 0)
			return i;
	return -1;
}

/* A client ID: 1-64 of [A-Za-z0-9._-]. */
int
clients_valid_id(const char *s)
{
	return wire_valid_name(s, CLIENT_ID_MAX);
}

/* A class: 1-32 of [A-Za-z0-9._-]. */
int
clients_valid_class(const char *s)
{
	return wire_valid_name(s, CLIENT_CLASS_MAX);
}
