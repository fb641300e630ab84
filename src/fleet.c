/*
 * fleet.c: ownership and messages across the nodes of a cluster
 * (sippushd(8) CLUSTER, "Ownership").
 *
 * Several sippushd share one PostgreSQL. Each holds in memory only what
 * it owns: the clients registered with it (clients.owner) and their
 * targets (targets.owner); the store's writes check ownership
 * (store_postgresql.c). What another node does reaches this one in two
 * ways:
 *   - notifications, on a connection of their own LISTENing from a
 *     thread (store_pg_listen_*), handed to the loop through an eventfd:
 *     sippush_node_<this node> (a client registered elsewhere: forget
 *     it), sippush_msg (a message published: load this node's targets
 *     of it), sippush_cancel (forget its targets), sippush_auth (users
 *     or tokens changed: reload them);
 *   - a poll every cluster.poll ms (a job, on the writer), for what the
 *     notifications may have missed (the LISTEN connection down, or a
 *     note lost): messages with more of this node's unfinished targets
 *     than memory holds, clients that registered elsewhere, messages
 *     cancelled, users and tokens changed. The same job expires the
 *     parked targets whose TTL ran out, on one node at a time.
 * The loop runs no SQL: every read and write is a job.
 *
 * Fencing (cluster.c decides it): fleet_fenced forgets every client and
 * target held and closes the clients' connections so that they fail
 * over; fleet_rejoined loads what the node still owns, as at start.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <sofia-sip/su_wait.h>

#include "sippushd.h"

#define FLEET_NOTES	64	/* taken from the queue per wake-up */
#define FLEET_SLACK	30	/* s: the poll looks back this much more
				   (the nodes' clocks differ a little) */
#define FLEET_FULL_EVERY 30	/* polls: one in so many (and any after
				   LISTEN was down) also counts the node's
				   targets and digests the users: reads
				   that grow with the fleet */

static const struct config	*fl_cfg;
static su_root_t		*fl_root;
static int			 fl_on;
static int			 fl_efd = -1;
static su_wait_t		 fl_wait[1];
static int			 fl_index = -1;
static su_timer_t		*fl_timer;
static char			 fl_channel[80];	/* this node's */
static char			 fl_authsum[40];	/* the last poll's */
static int64_t			 fl_since;	/* the poll looks from then */
static int			 fl_polling;	/* a poll job is queued */
static int			 fl_again;	/* poll once more after it */
static unsigned			 fl_rounds;	/* polls made */
static int			 fl_auth_again;	/* a reload failed: the
						   next poll reloads */
static int			 fl_missed;	/* LISTEN was down: notes of
						   registrations elsewhere may
						   be lost */

/* ---- the poll ---- */

struct fleet_poll {
	struct commit_job	 job;
	int64_t			 started;
	int64_t			 since;
	int			 clients;	/* look for clients taken */
	int			 full;		/* and count, digest */
	int			 rc;
	int			 nomem;
	char			**owned;	/* message IDs */
	size_t			*nowned;	/* their unfinished targets */
	size_t			 n, cap;
	char			**gone;		/* client or message IDs */
	uint8_t			*cancelled;	/* gone[i] is a message */
	size_t			 ngone, agone;
	struct store_finished	*fin;		/* parked ones expired */
	int			 expired;
	char			 authsum[40];
};

static int
fleet_poll_owned(const char *id, size_t n, void *arg)
{
	struct fleet_poll	*fp = arg;
	char			**v;
	size_t			*c, cap;

	if (fp->n == fp->cap) {
		cap = fp->cap ? fp->cap * 2 : 64;
		if ((v = realloc(fp->owned, cap * sizeof(*v))) == NULL)
			return fp->nomem = 1, -1;
		fp->owned = v;
		if ((c = realloc(fp->nowned, cap * sizeof(*c))) == NULL)
			return fp->nomem = 1, -1;
		fp->nowned = c;
		fp->cap = cap;
	}
	if ((fp->owned[fp->n] = strdup(id)) == NULL)
		return fp->nomem = 1, -1;
	fp->nowned[fp->n++] = n;
	return 0;
}

static int
fleet_poll_gone(const char *id, int cancelled, void *arg)
{
	struct fleet_poll	*fp = arg;
	char			**v;
	uint8_t			*c;
	size_t			 cap;

	if (fp->ngone == fp->agone) {
		cap = fp->agone ? fp->agone * 2 : 64;
		if ((v = realloc(fp->gone, cap * sizeof(*v))) == NULL)
			return fp->nomem = 1, -1;
		fp->gone = v;
		if ((c = realloc(fp->cancelled, cap)) == NULL)
			return fp->nomem = 1, -1;
		fp->cancelled = c;
		fp->agone = cap;
	}
	if ((fp->gone[fp->ngone] = strdup(id)) == NULL)
		return fp->nomem = 1, -1;
	fp->cancelled[fp->ngone++] = (uint8_t)cancelled;
	return 0;
}

/* On the writer: what changed elsewhere; the parked targets' TTL. */
static void
fleet_poll_run(struct commit_job *j)
{
	struct fleet_poll	*fp = (struct fleet_poll *)j;

	fp->rc = store_pg_poll(fp->since, fp->clients, fp->full,
	    fleet_poll_owned, fleet_poll_gone, fp->authsum,
	    sizeof(fp->authsum), fp);
	fp->expired = store_pg_expire_parked(clock_now(), &fp->fin);
}

static void fleet_auth_reload(void);
static void fleet_gone_client(const char *id);

static void
fleet_poll_done(struct commit_job *j)
{
	struct fleet_poll	*fp = (struct fleet_poll *)j;
	size_t			 i;

	fl_polling = 0;
	if (j->failed || fp->rc != 0 || fp->nomem) {
		fl_missed |= fp->clients;
		if (fp->full)		/* the next one counts again */
			fl_rounds = 0;
	} else {
		fl_since = fp->started - FLEET_SLACK;
		for (i = 0; i < fp->ngone; i++)
			if (fp->cancelled[i])
				dispatch_cluster_drop_message(fp->gone[i]);
			else
				fleet_gone_client(fp->gone[i]);
		/* more of this node's targets in the store than in memory:
		 * a publish or a take whose notification was missed; fewer:
		 * taken, cancelled or expired elsewhere */
		if (fp->full) {
			dispatch_cluster_compare(fp->owned, fp->nowned, fp->n);
			if (fl_auth_again || (fl_authsum[0] &&
			    strcmp(fl_authsum, fp->authsum) != 0)) {
				fl_auth_again = 0;
				fleet_auth_reload();
			}
			memcpy(fl_authsum, fp->authsum, sizeof(fl_authsum));
		}
	}
	if (!j->failed && fp->expired > 0)
		log_info("fleet: %d parked targets reached their TTL",
		    fp->expired);
	dispatch_cluster_finished(fp->fin);
	for (i = 0; i < fp->n; i++)
		free(fp->owned[i]);
	for (i = 0; i < fp->ngone; i++)
		free(fp->gone[i]);
	free(fp->owned);
	free(fp->nowned);
	free(fp->gone);
	free(fp->cancelled);
	free(fp);
	if (fl_again) {
		fl_again = 0;
		fleet_poll();
	}
}

/* Look in the store for what the notifications may have missed (one
 * poll at a time; asked for meanwhile: once more after it). */
void
fleet_poll(void)
{
	struct fleet_poll	*fp;

	if (!fl_on)
		return;
	if (fl_polling) {
		fl_again = 1;
		return;
	}
	if ((fp = calloc(1, sizeof(*fp))) == NULL)
		return;
	fp->started = clock_now();
	fp->since = fl_since;
	fp->clients = fl_missed;
	/* LISTEN delivers every note while it is up (an overflow of its
	 * queue is reported as down): the full look is for what a bug or
	 * an unseen loss would leave, now and then */
	fp->full = fl_missed || fl_rounds++ % FLEET_FULL_EVERY == 0;
	fl_missed = 0;
	fp->job.run = fleet_poll_run;
	fp->job.done = fleet_poll_done;
	fl_polling = 1;
	commit_job(&fp->job);
}

static void
fleet_timer(su_root_magic_t *magic, su_timer_t *t, su_timer_arg_t *arg)
{
	(void)magic;
	(void)t;
	(void)arg;
	fleet_poll();
}

/* ---- users and tokens changed on another node ---- */

struct fleet_auth {
	struct commit_job	 job;
	struct store_batch	 rows;
	int			 rc;
};

static int
fleet_auth_user(const struct user_row *r, void *arg)
{
	struct fleet_auth	*fa = arg;

	return store_batch_user(&fa->rows, r);
}

static int
fleet_auth_token(const struct token_row *r, void *arg)
{
	struct fleet_auth	*fa = arg;

	return store_batch_token(&fa->rows, r);
}

static void
fleet_auth_run(struct commit_job *j)
{
	struct fleet_auth	*fa = (struct fleet_auth *)j;

	if (store_load_users(NULL, fleet_auth_user, fa) == -1 ||
	    store_load_tokens(fleet_auth_token, fa) == -1)
		fa->rc = -1;
}

static void
fleet_auth_done(struct commit_job *j)
{
	struct fleet_auth	*fa = (struct fleet_auth *)j;

	if (j->failed || fa->rc == -1)
		log_warn("fleet: cannot reload the users and tokens another "
		    "node changed; the next poll tries again");
	else if (auth_users_replace(fa->rows.users, fa->rows.nusers) == -1 ||
	    token_replace(fa->rows.tokens, fa->rows.ntokens) == -1)
		log_error("fleet: out of memory reloading the users and "
		    "tokens: some are missing until the next change");
	else
		log_info("fleet: users and tokens reloaded (%zu users, %zu "
		    "tokens)", fa->rows.nusers, fa->rows.ntokens);
	if (j->failed || fa->rc == -1) {
		fl_auth_again = 1;	/* the next poll reloads */
		fl_rounds = 0;		/* and it is a full one */
	}
	store_batch_free(&fa->rows);
	free(fa);
}

static void
fleet_auth_reload(void)
{
	struct fleet_auth	*fa;

	if ((fa = calloc(1, sizeof(*fa))) == NULL)
		return;
	store_batch_init(&fa->rows);
	fa->job.run = fleet_auth_run;
	fa->job.done = fleet_auth_done;
	commit_job(&fa->job);
}

/* ---- notifications ---- */

/* Client registered with another node: forget it here, unless it has
 * registered here again since (its row not written yet). */
static void
fleet_gone_client(const char *id)
{
	struct client	*c = clients_find(id);

	if (c != NULL && (c->dirty || c->given))
		return;
	dispatch_cluster_drop_client(id);
}

static void
fleet_note(const struct store_note *n)
{
	if (n->channel[0] == '\0') {		/* connected: missed any? */
		fl_missed = 1;
		fleet_poll();
	}
	else if (strcmp(n->channel, fl_channel) == 0)
		fleet_gone_client(n->payload);
	else if (strcmp(n->channel, "sippush_msg") == 0)
		dispatch_cluster_load(n->payload);
	else if (strcmp(n->channel, "sippush_cancel") == 0)
		dispatch_cluster_drop_message(n->payload);
	else if (strcmp(n->channel, "sippush_auth") == 0 &&
	    strcmp(n->payload, cluster_node()) != 0)
		fleet_auth_reload();
}

static int
fleet_wake(su_root_magic_t *magic, su_wait_t *w, su_wakeup_arg_t *arg)
{
	struct store_note	 v[FLEET_NOTES];
	uint64_t		 x;
	size_t			 n, i;
	ssize_t			 r;

	(void)magic;
	(void)w;
	(void)arg;
	r = read(fl_efd, &x, sizeof(x));
	(void)r;
	while ((n = store_pg_listen_take(v, FLEET_NOTES)) > 0)
		for (i = 0; i < n; i++)
			fleet_note(&v[i]);
	return 0;
}

/* ---- fencing ---- */

/* The node is fenced: forget every target and client held, close the
 * clients' connections (they fail over to another node), send
 * nothing. */
void
fleet_fenced(void)
{
	log_warn("fleet: fenced: forgetting every client and message held "
	    "here; they are another node's now");
	dispatch_cluster_drop_all();
	clients_drop_all();
}

struct fleet_rejoin {
	struct commit_job	 job;
	struct store_batch	 rows;		/* the clients */
	int			 rc;
};

static int
fleet_rejoin_client(const struct client_row *r, void *arg)
{
	struct fleet_rejoin	*fr = arg;

	return store_batch_client(&fr->rows, r);
}

static void
fleet_rejoin_run(struct commit_job *j)
{
	struct fleet_rejoin	*fr = (struct fleet_rejoin *)j;

	fr->rc = store_load_clients(fleet_rejoin_client, fr);
}

static void
fleet_rejoin_done(struct commit_job *j)
{
	struct fleet_rejoin	*fr = (struct fleet_rejoin *)j;
	size_t			 i;

	if (j->failed || fr->rc == -1)
		log_error("fleet: cannot load the clients this node owns "
		    "after joining again: they are served once they "
		    "register again");
	else {
		for (i = 0; i < fr->rows.nclients; i++)
			(void)clients_restore_row(&fr->rows.clients[i], NULL);
		log_info("fleet: joined again: %zu clients of this node "
		    "loaded", fr->rows.nclients);
	}
	store_batch_free(&fr->rows);
	free(fr);
	dispatch_cluster_load(NULL);	/* its targets, after its clients */
}

/* Joined again with a new epoch: load what this node still owns, as at
 * start (clients, then targets). */
void
fleet_rejoined(void)
{
	struct fleet_rejoin	*fr;

	if ((fr = calloc(1, sizeof(*fr))) == NULL) {
		log_error("fleet: out of memory: the clients of this node are "
		    "served once they register again");
		dispatch_cluster_load(NULL);
		return;
	}
	store_batch_init(&fr->rows);
	fr->job.run = fleet_rejoin_run;
	fr->job.done = fleet_rejoin_done;
	commit_job(&fr->job);
}

/* ---- start and stop ---- */

/* With the cluster on: LISTEN, the poll, the fencing hooks. 0, or -1. */
int
fleet_init(const struct config *cfg, su_root_t *root)
{
	const char	*chan[4];

	if (!cluster_on())
		return 0;
	fl_cfg = cfg;
	fl_root = root;
	snprintf(fl_channel, sizeof(fl_channel), "sippush_node_%s",
	    cluster_node());
	chan[0] = fl_channel;
	chan[1] = "sippush_msg";
	chan[2] = "sippush_cancel";
	chan[3] = "sippush_auth";
	fl_since = clock_now() - FLEET_SLACK;
	fl_missed = 1;
	fl_authsum[0] = '\0';
	if ((fl_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1)
		return -1;
	if (su_wait_create(fl_wait, fl_efd, SU_WAIT_IN) == -1 ||
	    (fl_index = su_root_register(root, fl_wait, fleet_wake, NULL, 0))
	    == -1)
		goto fail;
	if (store_pg_listen_start(chan, 4, fl_efd) == -1)
		goto fail;
	if ((fl_timer = su_timer_create(su_root_task(root),
	    (su_duration_t)cfg->cl_poll)) == NULL ||
	    su_timer_set_for_ever(fl_timer, fleet_timer, NULL) == -1)
		goto fail;
	store_pg_webhooks((const char *const *)cfg->wh_url,
	    (size_t)cfg->wh_nurl, (cfg->wh_events & WEBHOOK_EV_FINISHED) != 0);
	cluster_hooks(fleet_fenced, fleet_rejoined);
	fl_on = 1;
	log_info("fleet: node %s listening for the other nodes (channel "
	    "%s), polling every %d ms", cluster_node(), fl_channel,
	    cfg->cl_poll);
	return 0;
fail:
	fleet_shutdown();
	return -1;
}

void
fleet_shutdown(void)
{
	store_pg_listen_stop();
	su_timer_destroy(fl_timer);
	fl_timer = NULL;
	if (fl_index != -1)
		su_root_deregister(fl_root, fl_index);
	fl_index = -1;
	if (fl_efd != -1)
		close(fl_efd);
	fl_efd = -1;
	fl_on = 0;
}
