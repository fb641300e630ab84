/*
 * cluster.c: this node among several sippushd sharing one PostgreSQL
 * (sippushd(8) CLUSTER).
 *
 * With database.backend = "postgresql" the node joins at start: it takes
 * a new epoch in its row of `nodes` and a lease measured by the
 * database's clock. A thread of its own, with its own connection, renews
 * the lease every third of it (so that a writer busy with a big batch
 * never lets it lapse), reports how many clients the node holds, reads
 * back the node's state (up, or draining after `sippushctl drain`) and
 * the list of live nodes (for cluster.redirect), and marks down the
 * nodes whose lease lapsed (store_pg_reap, one node at a time).
 *
 * Fencing. Every batch the node writes starts with sippush_fence for the
 * epoch it was made under: a node whose lease lapsed, or whose epoch was
 * superseded, has the whole batch refused. The node also fences itself:
 * its lease runs, by its own monotonic clock, from the moment it sent the
 * last renewal that succeeded (before the database's now(), so it ends
 * first); past that cluster_fenced() is true and nothing is sent. A
 * fenced node drops every client and target it holds (the fenced hook),
 * joins again with a new epoch and loads what it still owns (the
 * rejoined hook). The loop learns all this from a 100 ms timer that
 * reads what the thread left under the lock; the loop runs no SQL.
 *
 * With SQLite the cluster is off and these calls are inert.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sofia-sip/su_wait.h>

#include "sippushd.h"
#include "command.h"

#define CLUSTER_TICK_MS		100	/* the loop's look at the thread */
#define CLUSTER_NODES_MAX	64	/* live nodes kept for redirects */

struct cl_node {
	char		 name[64];
	char		 address[256];
	int64_t		 clients;
};

static int		 cl_on;
static const struct config *cl_cfg;
static su_timer_t	*cl_timer;
static void		(*cl_fenced_fn)(void);
static void		(*cl_rejoined_fn)(void);

/* the loop's view */
static int64_t		 cl_epoch_loop;
static int		 cl_fenced_loop;	/* dropped all; rejoin asked */
static int		 cl_draining_loop;
static struct cl_node	 cl_live[CLUSTER_NODES_MAX];
static size_t		 cl_nlive;
static int64_t		 cl_counted;		/* mono us of the last count */
static long		 cl_online;		/* clients online here */

/* shared with the thread, under cl_lock (deadline: atomic) */
static pthread_t	 cl_thread;
static int		 cl_thread_on;
static pthread_mutex_t	 cl_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t	 cl_cond = PTHREAD_COND_INITIALIZER;
static _Atomic int64_t	 cl_epoch;		/* the current epoch */
static _Atomic int64_t	 cl_deadline;		/* mono us: lease ends */
static int		 cl_stop;
static int		 cl_refused;		/* a renewal got SP001 */
static int		 cl_rejoin;		/* the loop asks to join */
static int		 cl_rejoined;		/* the thread did */
static int		 cl_draining;
static long		 cl_held;		/* online clients, from the loop */
static struct cl_node	 cl_nodes[CLUSTER_NODES_MAX];
static size_t		 cl_nnodes;
static int		 cl_nodes_new;

static int64_t
cl_lease_us(void)
{
	return (int64_t)cl_cfg->cl_lease * 1000000;
}

/* A node of the listing, into the thread's list if it is live. */
static int
cl_node_seen(const struct node_row *r, void *arg)
{
	(void)arg;
	if (strcmp(r->state, "up") != 0 || r->lease_ms <= 0 ||
	    cl_nnodes == CLUSTER_NODES_MAX)
		return 0;
	snprintf(cl_nodes[cl_nnodes].name, sizeof(cl_nodes[0].name), "%s",
	    r->name);
	snprintf(cl_nodes[cl_nnodes].address,
	    sizeof(cl_nodes[0].address), "%s", r->address);
	cl_nodes[cl_nnodes].clients = r->clients;
	cl_nnodes++;
	return 0;
}

static void
cl_reaped(const char *name, long clients, long targets, void *arg)
{
	(void)arg;
	if (clients >= 0)
		log_warn("cluster: node %s lease lapsed: marked down, %ld "
		    "clients offline, %ld unfinished targets parked until "
		    "their clients register again", name, clients, targets);
	else
		log_warn("cluster: node %s lease lapsed: marked down, its "
		    "clients offline and their targets parked", name);
}

/* The thread: renew, read the nodes, reap; join again when asked. */
static void *
cl_main(void *arg)
{
	struct timespec	 ts;
	int64_t		 t0, epoch, every = cl_lease_us() / 3;
	long		 held;
	int		 rc = 0, draining, rejoin;

	(void)arg;
	store_pg_use_cluster();
	pthread_mutex_lock(&cl_lock);
	while (!cl_stop) {
		rejoin = cl_rejoin;
		held = cl_held;
		pthread_mutex_unlock(&cl_lock);

		t0 = clock_mono_us();
		rc = 0;
		if (rejoin) {
			if (store_pg_join(cl_cfg->cl_node, cl_cfg->cl_address,
			    cl_cfg->cl_lease, &epoch) == 0) {
				store_pg_node(cl_cfg->cl_node, epoch,
				    cl_cfg->cl_lease);
				cl_epoch = epoch;
				cl_deadline = t0 + cl_lease_us();
				pthread_mutex_lock(&cl_lock);
				cl_rejoin = 0;
				cl_rejoined = 1;
				cl_refused = 0;
				pthread_mutex_unlock(&cl_lock);
			}
		} else if (cl_epoch > 0) {
			rc = store_pg_renew(cl_cfg->cl_node, cl_epoch,
			    cl_cfg->cl_lease, held, &draining);
			pthread_mutex_lock(&cl_lock);
			if (rc == 0) {
				cl_deadline = t0 + cl_lease_us();
				cl_draining = draining;
			} else if (rc == 1)
				cl_refused = 1;
			pthread_mutex_unlock(&cl_lock);
		}
		/* the rest only with the database answering (one error a
		 * round while it does not) */
		if (!rejoin && rc == -1)
			goto wait;
		(void)store_pg_reap(cl_reaped, NULL);
		pthread_mutex_lock(&cl_lock);
		cl_nnodes = 0;
		cl_nodes_new = 0;	/* the loop copies none half-written */
		pthread_mutex_unlock(&cl_lock);
		/* the listing fills cl_nodes: nobody else writes it, and the
		 * loop reads it only once cl_nodes_new says it is whole */
		if (store_pg_nodes(cl_node_seen, NULL) >= 0) {
			pthread_mutex_lock(&cl_lock);
			cl_nodes_new = 1;
			pthread_mutex_unlock(&cl_lock);
		}

wait:
		pthread_mutex_lock(&cl_lock);
		if (cl_stop || (cl_rejoin && !rejoin))
			continue;
		clock_gettime(CLOCK_REALTIME, &ts);
		t0 = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000 + every;
		ts.tv_sec = t0 / 1000000;
		ts.tv_nsec = (t0 % 1000000) * 1000;
		/* woken early only by a stop or a new request to join */
		while (!cl_stop && !(cl_rejoin && !rejoin) &&
		    pthread_cond_timedwait(&cl_cond, &cl_lock, &ts) == 0)
			;
	}
	pthread_mutex_unlock(&cl_lock);
	return NULL;
}

/* The loop's look at what the thread found. */
static void
cl_tick(su_root_magic_t *magic, su_timer_t *t, su_timer_arg_t *arg)
{
	struct clients_stats st;
	const char	*why = NULL;
	int		 rejoined = 0, draining;

	(void)magic;
	(void)t;
	(void)arg;
	/* the online count the thread reports: a walk of the table, once
	 * a renewal */
	if (clock_mono_us() >= cl_counted + cl_lease_us() / 3) {
		clients_stats(&st);
		cl_counted = clock_mono_us();
		cl_online = (long)st.by_state[CLIENT_ONLINE];
	}
	pthread_mutex_lock(&cl_lock);
	cl_held = cl_online;
	if (!cl_fenced_loop) {
		if (cl_refused)
			why = "the database refused its lease (epoch "
			    "superseded or marked down)";
		else if (store_pg_fenced())
			why = "the database refused a batch (lease lapsed)";
		else if (clock_mono_us() >= cl_deadline)
			why = "its lease lapsed before it could renew it";
		if (why != NULL) {
			cl_rejoin = 1;
			pthread_cond_signal(&cl_cond);
		}
	} else if (cl_rejoined) {
		cl_rejoined = 0;
		rejoined = 1;
	}
	draining = cl_draining;
	if (cl_nodes_new) {
		memcpy(cl_live, cl_nodes, cl_nnodes * sizeof(cl_nodes[0]));
		cl_nlive = cl_nnodes;
		cl_nodes_new = 0;
	}
	pthread_mutex_unlock(&cl_lock);

	if (why != NULL) {
		log_warn("cluster: node %s epoch %" PRId64 " fenced: %s; "
		    "dropping its clients and targets and joining again",
		    cl_cfg->cl_node, cl_epoch_loop, why);
		cl_fenced_loop = 1;
		if (cl_fenced_fn)
			cl_fenced_fn();
	}
	if (rejoined) {
		cl_fenced_loop = 0;
		cl_epoch_loop = cl_epoch;
		log_notice("cluster: node %s joined again, epoch %" PRId64,
		    cl_cfg->cl_node, cl_epoch_loop);
		if (cl_rejoined_fn)
			cl_rejoined_fn();
	}
	if (draining != cl_draining_loop) {
		cl_draining_loop = draining;
		if (draining)
			log_notice("cluster: node %s draining: REGISTER and "
			    "heartbeats are answered 503 so that its clients "
			    "move to other nodes", cl_cfg->cl_node);
		else
			log_notice("cluster: node %s serving again (drain "
			    "ended)", cl_cfg->cl_node);
	}
}

int
cluster_init(const struct config *cfg, struct su_root_s *root, char *err,
    size_t errlen)
{
	int64_t		 t0, epoch;

	cl_cfg = cfg;
	cl_on = strcmp(store_backend_list[cfg->db_backend], "postgresql") == 0;
	if (!cl_on)
		return 0;
	store_pg_node(cfg->cl_node, 0, cfg->cl_lease);
	t0 = clock_mono_us();
	if (store_pg_join(cfg->cl_node, cfg->cl_address, cfg->cl_lease,
	    &epoch) == -1) {
		snprintf(err, errlen, "cluster: node %s cannot join: %s",
		    cfg->cl_node, store_errmsg());
		return -1;
	}
	store_pg_node(cfg->cl_node, epoch, cfg->cl_lease);
	cl_epoch = cl_epoch_loop = epoch;
	cl_deadline = t0 + cl_lease_us();
	log_notice("cluster: node %s (%s) joined, epoch %" PRId64 ", lease "
	    "%d s", cfg->cl_node, cfg->cl_address, epoch, cfg->cl_lease);
	if ((cl_timer = su_timer_create(su_root_task(root),
	    CLUSTER_TICK_MS)) == NULL ||
	    su_timer_set_for_ever(cl_timer, cl_tick, NULL) == -1) {
		snprintf(err, errlen, "cluster: cannot create a timer");
		return -1;
	}
	cl_stop = 0;
	if ((errno = pthread_create(&cl_thread, NULL, cl_main, NULL)) != 0) {
		snprintf(err, errlen, "cluster: cannot start its thread: %s",
		    strerror(errno));
		return -1;
	}
	cl_thread_on = 1;
	return 0;
}

void
cluster_shutdown(void)
{
	if (cl_thread_on) {
		pthread_mutex_lock(&cl_lock);
		cl_stop = 1;
		pthread_cond_signal(&cl_cond);
		pthread_mutex_unlock(&cl_lock);
		pthread_join(cl_thread, NULL);
		cl_thread_on = 0;
	}
	if (cl_timer) {
		su_timer_destroy(cl_timer);
		cl_timer = NULL;
	}
	cl_on = 0;
	cl_epoch = 0;
}

int
cluster_on(void)
{
	return cl_on;
}

const char *
cluster_node(void)
{
	return cl_cfg ? cl_cfg->cl_node : NULL;
}

const char *
cluster_address(void)
{
	return cl_cfg ? cl_cfg->cl_address : NULL;
}

int64_t
cluster_epoch(void)
{
	return cl_on ? (int64_t)cl_epoch : 0;
}

int
cluster_fenced(void)
{
	if (!cl_on || cl_epoch == 0)
		return 0;
	return cl_fenced_loop || clock_mono_us() >= cl_deadline;
}

int
cluster_draining(void)
{
	return cl_on && cl_draining_loop;
}

void
cluster_hooks(void (*fenced)(void), void (*rejoined)(void))
{
	cl_fenced_fn = fenced;
	cl_rejoined_fn = rejoined;
}

/*
 * cluster.redirect: where a REGISTER from a client this node does not
 * hold should go. Returns the count of live nodes written to out (their
 * addresses, least loaded first, at most max), or 0 when this node is
 * among the least loaded (within slack: a tenth of the average, at
 * least one) and should take the client itself.
 */
size_t
cluster_redirect(const char **out, size_t max)
{
	size_t		 i, j, n = 0, order[CLUSTER_NODES_MAX];
	int64_t		 mine = cl_online, least, sum = 0, slack;

	if (!cl_on || !cl_cfg->cl_redirect || cl_nlive < 2)
		return 0;
	least = mine;
	for (i = 0; i < cl_nlive; i++) {
		sum += cl_live[i].clients;
		if (strcmp(cl_live[i].name, cl_cfg->cl_node) != 0 &&
		    cl_live[i].clients < least)
			least = cl_live[i].clients;
	}
	slack = sum / (int64_t)cl_nlive / 10;
	if (slack < 1)
		slack = 1;
	if (mine <= least + slack)
		return 0;
	/* insertion sort by clients: a handful of nodes */
	for (i = 0; i < cl_nlive; i++) {
		for (j = n; j > 0 &&
		    cl_live[order[j - 1]].clients > cl_live[i].clients; j--)
			order[j] = order[j - 1];
		order[j] = i;
		n++;
	}
	for (i = j = 0; i < n && j < max; i++)
		if (strcmp(cl_live[order[i]].name, cl_cfg->cl_node) != 0)
			out[j++] = cl_live[order[i]].address;
	return j;
}

/* ---- sippushctl nodes, sippushctl drain NODE [off] ---- */

/* A read or change of the nodes table, run by the writer. */
struct cl_cmd {
	struct commit_job	 job;
	struct cmd_call		*call;
	struct buf		 rows;	/* nodes: the records, made there */
	char			 node[64];
	int			 on;	/* drain: 1 on, 0 off */
	int			 rv;
	char			 err[OP_ERROR_MAX - 16];
};

static int
cl_cmd_row(const struct node_row *r, void *arg)
{
	struct cl_cmd	*cc = arg;
	struct buf	*b = &cc->rows;

	proto_put_kv(b, "node", r->name);
	proto_put_kv(b, "state", r->state);
	proto_put_kvi(b, "epoch", (long long)r->epoch);
	proto_put_kv(b, "address", r->address);
	proto_put_kvi(b, "lease_ms", (long long)r->lease_ms);
	proto_put_kvi(b, "clients", (long long)r->clients);
	proto_put_kvi(b, "joined_at", (long long)r->joined_at);
	proto_put_kv(b, "self", strcmp(r->name, cl_cfg->cl_node) == 0 ?
	    "yes" : "no");
	proto_end_record(b);
	return 0;
}

/* On the writer. */
static void
cl_cmd_run(struct commit_job *j)
{
	struct cl_cmd	*cc = (struct cl_cmd *)j;

	if (cc->node[0])
		cc->rv = store_pg_drain(cc->node, cc->on);
	else
		cc->rv = store_pg_nodes(cl_cmd_row, cc);
	if (cc->rv == -1)
		snprintf(cc->err, sizeof(cc->err), "%s", store_errmsg());
}

static void
cl_cmd_done(struct commit_job *j)
{
	struct cl_cmd	*cc = (struct cl_cmd *)j;
	struct buf	*out = &cc->call->out;

	if (j->failed)
		proto_err(out, "store: out of memory");
	else if (cc->rv == -1)
		proto_err(out, "store: %s", cc->err);
	else if (cc->node[0] && cc->rv == 0)
		proto_err(out, "drain: no node %s that is up or draining (see "
		    "sippushctl nodes)", cc->node);
	else if (cc->node[0]) {
		log_notice("cluster: node %s %s (sippushctl drain)", cc->node,
		    cc->on ? "set to drain" : "set back to serve");
		buf_puts(out, "OK\n");
		proto_put_kv(out, "node", cc->node);
		proto_put_kv(out, "state", cc->on ? "draining" : "up");
		proto_end_record(out);
		buf_puts(out, ".\n");
	} else {
		buf_puts(out, "OK\n");
		buf_append(out, cc->rows.data, cc->rows.len);
		buf_puts(out, ".\n");
	}
	cmd_done(cc->call);
	buf_free(&cc->rows);
	free(cc);
}

static void
cl_cmd_start(struct cmd_call *call, const char *what, const char *node,
    int on)
{
	struct cl_cmd	*cc;

	if (!cl_on) {
		proto_err(&call->out, "%s: this sippushd is a single node "
		    "(database.backend is not \"postgresql\"; see sippushd(8) "
		    "CLUSTER)", what);
		cmd_done(call);
		return;
	}
	if ((cc = calloc(1, sizeof(*cc))) == NULL) {
		proto_err(&call->out, "%s: out of memory", what);
		cmd_done(call);
		return;
	}
	if (node)
		snprintf(cc->node, sizeof(cc->node), "%s", node);
	cc->on = on;
	cc->call = call;
	cc->job.run = cl_cmd_run;
	cc->job.done = cl_cmd_done;
	commit_job(&cc->job);
}

/* nodes: every node of the cluster, its state, lease and clients. */
void
cluster_cmd_nodes(struct cmd_call *call, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	cl_cmd_start(call, "nodes", NULL, 0);
}

/* drain node=NODE [off=yes]: a node answers 503 to its clients (so that
 * they move) until drain ... off=yes or its restart. */
void
cluster_cmd_drain(struct cmd_call *call, int argc, char **argv)
{
	const char	*node = proto_get(argc, argv, "node");
	const char	*off = proto_get(argc, argv, "off");

	if (node == NULL || !clients_valid_class(node)) {
		proto_err(&call->out, "drain: \"%.64s\" is not a valid node "
		    "name (1-%d of A-Z a-z 0-9 . _ -)", node ? node : "",
		    CLIENT_CLASS_MAX);
		cmd_done(call);
		return;
	}
	if (off != NULL && strcmp(off, "yes") != 0 && strcmp(off, "no") != 0) {
		proto_err(&call->out, "drain: off=%.16s: expected yes or no",
		    off);
		cmd_done(call);
		return;
	}
	cl_cmd_start(call, "drain", node, off == NULL ||
	    strcmp(off, "no") == 0);
}

/* Is ip the host of a live node's cluster.address, other than this one? */
int
cluster_is_node_address(const char *ip)
{
	size_t		 i, n;
	const char	*a, *end;

	if (!cl_on)
		return 0;
	for (i = 0; i < cl_nlive; i++) {
		if (strcmp(cl_live[i].name, cl_cfg->cl_node) == 0)
			continue;
		a = cl_live[i].address;
		if (*a == '[') {		/* [v6]:port */
			a++;
			end = strchr(a, ']');
		} else
			end = strrchr(a, ':');
		n = end ? (size_t)(end - a) : strlen(a);
		if (strlen(ip) == n && strncmp(a, ip, n) == 0)
			return 1;
	}
	return 0;
}
