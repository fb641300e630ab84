/*
 * dispatch.c: control messages (DESIGN.md, "Delivery semantics").
 *
 * How it works. A publish expands its selectors into the target set (the
 * matching clients in the table now, in any state), writes the message
 * and every target in one transaction, and only then answers with the
 * message ID. In memory an active message keeps its targets sorted by
 * client ID; a pending target is in one of three places:
 *   - the ready queue: due now, and its client was online;
 *   - the retry heap: waiting for next_attempt (backoff with jitter);
 *   - parked: its client is offline (or, over TCP/TLS, has no connection
 *     to push on). dispatch_client_online finds it by binary search when
 *     the client registers or comes back online.
 * dispatch_pump sends from the ready queues round-robin, one target per
 * message per turn, while fewer than dispatch.max_in_flight MESSAGE
 * transactions are open, so a huge fan-out cannot starve a small one.
 * A 2xx marks the target acked; any other final status (including the 408
 * and 503 that nta makes up on timeout or transport failure) sends it to
 * the retry heap, or to failed after dispatch.max_attempts. Changes are
 * written by the group commit (commit.c); a target in flight is stored as
 * pending, so after a crash it is sent again: at least once on the wire,
 * and the agent drops duplicates by message ID. A send is not written by
 * itself: its outcome writes the row, attempt counted. Only a send still
 * unanswered after DISPATCH_FLIGHT_WRITE_MS is marked for the next commit
 * (the flights queue, in send order, aged by the tick), so that a crash
 * while it goes on does not lose its attempt; a stop writes every send in
 * flight; a fan-out answered at once writes each row once. A tick moves
 * due retries to the ready queues, expires messages whose TTL ran out,
 * and purges finished messages older than dispatch.retain.
 * A message finishing and a target failing make webhook events
 * (webhook.c), kept on the message until dispatch_batch puts their
 * outbox rows in the batch of that change; the commit hands them over
 * for delivery.
 */
#include <errno.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <sofia-sip/nta.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/su_wait.h>
#include <sofia-sip/tport.h>

#include "sippushd.h"
#include "webhook.h"

#define DISPATCH_TICK_MS	50
/* with no message active, nothing in flight and nothing to trim: the
 * tick only purges, so it need not wake the loop 20 times a second (Sofia
 * polls for up to a millisecond before each timer: 1.5% of a core idle) */
#define DISPATCH_IDLE_TICK_MS	1000
#define DISPATCH_PURGE_EVERY	60	/* seconds */
#define DISPATCH_CTYPE_MAX	128
/* a send unanswered this long (SIP's T1: a MESSAGE over UDP is sent again
 * by then) is written, in flight, with its attempt counted */
#define DISPATCH_FLIGHT_WRITE_MS 500
/* the pump sends at most this many MESSAGEs, for at most this long, in
 * one go, then lets the loop run (answer SIP, the control socket) and
 * goes on DISPATCH_MORE_MS later: a fan-out to 100,000 would otherwise
 * send dispatch.max_in_flight MESSAGEs (1,000 by default, 0.3 to 1 s of
 * work) while nothing else is served */
/* a tick moves at most this many due retries from the heaps to the
 * ready queues, then comes again DISPATCH_MORE_MS later: a retry wave
 * of 100,000 targets due together (a fan-out to closed ports) was moved
 * in one tick, a heap removal and a client lookup each, 0.1 to 0.3 s of
 * loop; the pump sends at most dispatch.max_in_flight at a time anyway */
#define DISPATCH_TICK_MOVE	512
#define DISPATCH_BURST		32
#define DISPATCH_BURST_US	5000
#define DISPATCH_MORE_MS	1

static const char *const target_state_names[TARGET_NSTATES] = {
	"pending", "sent", "acked", "expired", "failed", "cancelled"
};
static const char *const message_state_names[] = {
	"active", "done", "cancelled"
};

static const struct config	*dp_cfg;
static nta_agent_t		*dp_agent;
static su_timer_t		*dp_tick;
static su_timer_t		*dp_more;	/* a pump cut short goes on */
static int			 dp_more_set;
static int			 dp_tick_idle;	/* at DISPATCH_IDLE_TICK_MS */
static int			 dp_tick_more;	/* due retries left: soon */
static size_t			 dp_tick_most;	/* the most one tick moved */
static struct message		*dp_active;	/* oldest first */
static struct message		*dp_turn;	/* served next by the pump */
static struct message		*dp_dirty;
static size_t			 dp_inflight;
static int64_t			 dp_last_purge;

/* The purge job (one at a time). */
struct dispatch_purge {
	struct commit_job	 job;
	int64_t			 before;	/* messages; 0: none */
	int64_t			 ended;		/* cluster: client rows no
						   node holds; 0: none */
	int			 n;
	long			 nended;
	int			 busy;
};
static struct dispatch_purge	 dp_purge;
static void dispatch_purge_run(struct commit_job *);
static void dispatch_purge_done(struct commit_job *);
static url_t			*dp_from;	/* sip:sippushd@our-host */
static su_home_t		 dp_home[1] = { SU_HOME_INIT(dp_home) };
static uint64_t			 dp_sent, dp_acked, dp_retries;
static int			 dp_trim;	/* give memory back when idle */
static int64_t			 dp_idle_since;

/* The sends not yet aged, oldest first (a ring): each the target and its
 * last_attempt at the send, which tells a later send of it apart. The
 * entries of a freed message are cleared (t NULL). */
struct flight {
	struct target	*t;
	int64_t		 sent;
};
static struct flight		*dp_flights;
static size_t			 dp_fhead, dp_flen, dp_fcap;

/* The clients whose targets are to be loaded, and whether a take job
 * is queued (one at a time: the clients that come meanwhile wait for
 * the next, in one job). */
static char			**dp_take;
static size_t			 dp_ntake;
static int			 dp_take_busy;

static void dispatch_pump(void);
static void dispatch_more(su_root_magic_t *, su_timer_t *, su_timer_arg_t *);
static void dispatch_pump_later(void);

const char *
dispatch_target_state_name(int s)
{
	return s >= 0 && s < TARGET_NSTATES ? target_state_names[s] : "?";
}

int
dispatch_target_state_parse(const char *s)
{
	int	 i;

	for (i = 0; i < TARGET_NSTATES; i++)
		if (strcmp(s, target_state_names[i]) == 0)
			return i;
	return -1;
}

const char *
dispatch_message_state_name(int s)
{
	return s >= 0 && s <= MESSAGE_CANCELLED ? message_state_names[s] : "?";
}

static uint32_t
dispatch_random(void)
{
	uint32_t	 r;

	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r))
		r = (uint32_t)rand();
	return r;
}

/*
 * The delay before attempt number attempts + 1, in ms: retry_initial
 * times retry_multiplier^(attempts - 1), at most retry_max, then spread
 * by +-retry_jitter percent using random.
 */
int64_t
dispatch_backoff(const struct config *cfg, uint32_t attempts, uint32_t random)
{
	int64_t		 d = cfg->dp_retry_initial, spread;
	uint32_t	 i;

	for (i = 1; i < attempts && d < cfg->dp_retry_max; i++)
		d *= cfg->dp_retry_multiplier;
	if (d > cfg->dp_retry_max)
		d = cfg->dp_retry_max;
	spread = d * cfg->dp_retry_jitter / 100;
	if (spread > 0)
		d += (int64_t)(random % (uint64_t)(2 * spread + 1)) - spread;
	return d < 1 ? 1 : d;
}

/* ---- the places of a pending target ---- */

static void
heap_swap(struct message *m, size_t a, size_t b)
{
	struct target	*t = m->heap[a];

	m->heap[a] = m->heap[b];
	m->heap[b] = t;
	m->heap[a]->heap = (uint32_t)a + 1;
	m->heap[b]->heap = (uint32_t)b + 1;
}

static void
heap_up(struct message *m, size_t i)
{
	while (i > 0 && m->heap[(i - 1) / 2]->next_attempt >
	    m->heap[i]->next_attempt) {
		heap_swap(m, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void
heap_down(struct message *m, size_t i)
{
	size_t	 l, r, min;

	for (;;) {
		l = 2 * i + 1;
		r = l + 1;
		min = i;
		if (l < m->nheap &&
		    m->heap[l]->next_attempt < m->heap[min]->next_attempt)
			min = l;
		if (r < m->nheap &&
		    m->heap[r]->next_attempt < m->heap[min]->next_attempt)
			min = r;
		if (min == i)
			return;
		heap_swap(m, i, min);
		i = min;
	}
}

/* The heap array has room for every target: no allocation here. */
static void
heap_push(struct message *m, struct target *t)
{
	m->heap[m->nheap] = t;
	t->heap = (uint32_t)++m->nheap;
	heap_up(m, m->nheap - 1);
}

static void
heap_remove(struct message *m, struct target *t)
{
	size_t	 i = t->heap - 1;

	t->heap = 0;
	if (i != --m->nheap) {
		m->heap[i] = m->heap[m->nheap];
		m->heap[i]->heap = (uint32_t)i + 1;
		heap_down(m, i);
		heap_up(m, i);
	}
}

static void
ready_push(struct message *m, struct target *t)
{
	t->queued = 1;
	t->qnext = NULL;
	*m->ready_tail = t;
	m->ready_tail = &t->qnext;
}

static struct target *
ready_pop(struct message *m)
{
	struct target	*t = m->ready;

	if (t == NULL)
		return NULL;
	if ((m->ready = t->qnext) == NULL)
		m->ready_tail = &m->ready;
	t->queued = 0;
	return t;
}

/*
 * Can c be sent to now? Online, and over TCP/TLS with its own connection:
 * sippushd never opens a connection to a client (behind NAT or a firewall
 * nothing would answer), so a client restored after a restart, whose
 * connection died with the old daemon, waits until it registers again.
 */
int
dispatch_reachable(const struct client *c)
{
	return c != NULL && c->state == CLIENT_ONLINE &&
	    (c->transport == TRANSPORT_UDP || c->tport != NULL);
}

static int
dispatch_online(const char *id)
{
	return dispatch_reachable(clients_find(id));
}

/* Put a pending target where it belongs: heap, ready queue or parked. */
static void
dispatch_place(struct message *m, struct target *t, int64_t now)
{
	if (t->next_attempt > now)
		heap_push(m, t);
	else if (dispatch_online(t->client))
		ready_push(m, t);
}

/* ---- state and its persistence ---- */

/* Is a target in this state still to be delivered? */
static int
dispatch_unfinished(int state)
{
	return state == TARGET_PENDING || state == TARGET_SENT;
}

/* One more (delta > 0) or one less unfinished target for client id, if
 * it is in the table (dispatch.max_pending_per_client). */
static void
dispatch_count(const char *id, int delta)
{
	struct client	*c = clients_find(id);

	if (c == NULL)
		return;
	if (delta > 0)
		c->pending++;
	else if (c->pending > 0)
		c->pending--;
}

/* Put m on the dirty list, if it is not there. */
static void
dispatch_list(struct message *m)
{
	if (!m->listed) {
		m->listed = 1;
		m->dnext = dp_dirty;
		dp_dirty = m;
	}
}

static void
dispatch_mark_message(struct message *m)
{
	dispatch_list(m);
	commit_schedule_lazy();
}

static void
dispatch_mark_target(struct target *t)
{
	struct message	*m = t->msg;

	if (!t->dirty) {
		t->dirty = 1;
		t->dnext = m->dirty_targets;
		m->dirty_targets = t;
	}
}

static void
dispatch_set(struct target *t, int state)
{
	struct message	*m = t->msg;

	if (dispatch_unfinished(t->state) && !dispatch_unfinished(state))
		dispatch_count(t->client, -1);
	m->count[t->state]--;
	m->count[state]++;
	t->state = (uint8_t)state;
	if (state == TARGET_SENT)
		return;		/* written by its outcome, or once aged */
	dispatch_mark_target(t);
	dispatch_mark_message(m);
}

/* Note t's send (just made) in the flights queue. Out of memory, it is
 * marked for the next commit at once instead. */
static void
dispatch_flight_push(struct target *t)
{
	struct flight	*nf;
	size_t		 i, cap;

	if (dp_flen == dp_fcap) {
		cap = dp_fcap ? dp_fcap * 2 : 256;
		if ((nf = malloc(cap * sizeof(*nf))) == NULL) {
			dispatch_mark_target(t);
			dispatch_mark_message(t->msg);
			return;
		}
		for (i = 0; i < dp_flen; i++)
			nf[i] = dp_flights[(dp_fhead + i) % dp_fcap];
		free(dp_flights);
		dp_flights = nf;
		dp_fcap = cap;
		dp_fhead = 0;
	}
	dp_flights[(dp_fhead + dp_flen) % dp_fcap].t = t;
	dp_flights[(dp_fhead + dp_flen) % dp_fcap].sent = t->last_attempt;
	dp_flen++;
}

/* Take the sends made up to `before` (ms) off the queue, marking for the
 * next commit those still in flight: stored as pending, attempt counted. */
static void
dispatch_flight_age(int64_t before)
{
	struct flight	*f;

	while (dp_flen > 0) {
		f = &dp_flights[dp_fhead];
		if (f->t != NULL && f->sent > before)
			break;
		if (f->t != NULL && f->t->state == TARGET_SENT &&
		    f->t->last_attempt == f->sent) {
			dispatch_mark_target(f->t);
			dispatch_mark_message(f->t->msg);
		}
		dp_fhead = (dp_fhead + 1) % dp_fcap;
		dp_flen--;
	}
}

static void
dispatch_unlink(struct message *m)
{
	struct message	**pp;

	if (dp_turn == m)
		dp_turn = m->next;
	for (pp = &dp_active; *pp; pp = &(*pp)->next)
		if (*pp == m) {
			*pp = m->next;
			break;
		}
	m->next = NULL;
}

static void
dispatch_free(struct message *m)
{
	uintptr_t	 lo = (uintptr_t)m->targets,
			 hi = (uintptr_t)(m->targets + m->ntargets), p;
	size_t		 i;

	/* its sends, all answered, leave the flights queue */
	for (i = 0; i < dp_flen; i++) {
		p = (uintptr_t)dp_flights[(dp_fhead + i) % dp_fcap].t;
		if (p >= lo && p < hi)
			dp_flights[(dp_fhead + i) % dp_fcap].t = NULL;
	}
	msg_destroy(m->tmpl);
	free(m->selector);
	free(m->content_type);
	free(m->callback);
	webhook_events_free(m->events);
	free(m->body);
	free(m->targets);
	free(m->pool);
	free(m->heap);
	free(m);
}

/* The webhook events of m finishing (t NULL) or of t failing, on m
 * until the batch that writes the change. */
static void
dispatch_events(struct message *m, struct target *t)
{
	if (webhook_events(m, t, &m->events) == -1)
		log_error("dispatch: %s: out of memory: a webhook event of %s "
		    "is lost", m->id, t ? t->client : "its end");
	dispatch_mark_message(m);
}

static int dispatch_given_has(const struct message *);

/* A part that is over (cluster): freed now if no batch holds its rows,
 * else by dispatch_written once they are written. */
static void
dispatch_release(struct message *m)
{
	if (!m->listed && !dispatch_given_has(m))
		dispatch_free(m);
}

/* Once no target is pending or in flight, the message is finished: it
 * leaves the active list and is freed after its last write. */
static void
dispatch_check_done(struct message *m)
{
	if (m->finished_at || m->count[TARGET_PENDING] ||
	    m->count[TARGET_SENT])
		return;
	if (cluster_on()) {
		/* this node's part is over; whether the message is, SQL
		 * decides with the batch that writes its targets
		 * (dispatch_cluster_finished) */
		m->finished_at = clock_now();
		dispatch_unlink(m);
		dp_trim = 1;
		log_debug("dispatch: %s: this node's %zu targets are done",
		    m->id, m->ntargets);
		dispatch_release(m);
		return;
	}
	m->finished_at = clock_now();
	if (m->state == MESSAGE_ACTIVE)
		m->state = MESSAGE_DONE;
	m->dirty = 1;
	dispatch_mark_message(m);
	dispatch_unlink(m);
	dp_trim = 1;
	dispatch_events(m, NULL);
	log_info("dispatch: %s finished: %zu acked, %zu expired, %zu failed, "
	    "%zu cancelled", m->id, m->count[TARGET_ACKED],
	    m->count[TARGET_EXPIRED], m->count[TARGET_FAILED],
	    m->count[TARGET_CANCELLED]);
}

/* End every pending target of m with state (expired or cancelled). */
static void
dispatch_end_pending(struct message *m, int state)
{
	size_t	 i;

	m->ready = NULL;
	m->ready_tail = &m->ready;
	m->nheap = 0;
	for (i = 0; i < m->ntargets; i++) {
		m->targets[i].queued = 0;
		m->targets[i].heap = 0;
		if (m->targets[i].state == TARGET_PENDING)
			dispatch_set(&m->targets[i], state);
	}
	dispatch_check_done(m);
}

/*
 * The dirty messages, linked by dnext, each with its dirty targets. The
 * group commit (commit.c) takes the list, copies the rows and clears the
 * marks (listed, dirty, dirty_targets, every target's dirty); then it
 * reports with dispatch_written, or after a failure marks the rows again
 * with dispatch_requeue and dispatch_requeue_target. A finished message
 * is off the active list and gets no new changes: the commit that holds
 * its last rows frees it.
 */
struct message *
dispatch_take_dirty(void)
{
	struct message	*list = dp_dirty;

	dp_dirty = NULL;
	return list;
}

/* Put back a list taken by dispatch_take_dirty, marks intact. */
void
dispatch_requeue_dirty(struct message *list)
{
	struct message	*m, *next;

	for (m = list; m; m = next) {
		next = m->dnext;
		m->listed = 0;
		dispatch_list(m);
	}
}

/* The write of m's rows failed: mark its own row again if row, and keep
 * m on the dirty list (a finished one until a commit holds it). */
void
dispatch_requeue(struct message *m, int row)
{
	if (row)
		m->dirty = 1;
	dispatch_list(m);
}

/* The write of t's row failed: mark it again (newer values, if it changed
 * meanwhile, are what the next commit writes). */
void
dispatch_requeue_target(struct target *t)
{
	if (t->dropped || t->msg->dropped)
		return;
	dispatch_mark_target(t);
	dispatch_list(t->msg);
}

/* The rows in the batch being written: messages (with whether their own
 * row is in it, and the webhook events whose rows are) and targets. */
struct dispatch_given {
	struct message		*m;
	int			 row;
	struct webhook_event	*events;
};
static struct dispatch_given	*dp_given;
static size_t			 dp_ngiven, dp_agiven;
static struct target		**dp_tgiven;
static size_t			 dp_ntgiven, dp_atgiven;
/* cluster: the messages the batch being written found finished */
static struct store_finished	*dp_finished;

/* Is m's row, or one of its targets', in the batch being written? */
static int
dispatch_given_has(const struct message *m)
{
	size_t	 i;

	for (i = 0; i < dp_ngiven; i++)
		if (dp_given[i].m == m)
			return 1;
	return 0;
}

/* Room for one more in *v (n used of *a). */
static int
dispatch_grow(void **v, size_t *a, size_t n, size_t size)
{
	size_t	 na;
	void	*nv;

	if (n < *a)
		return 0;
	na = *a ? *a * 2 : 256;
	if ((nv = realloc(*v, na * size)) == NULL)
		return -1;
	*v = nv;
	*a = na;
	return 0;
}

/* t's row as the store sees it. A target in flight is stored as pending,
 * its attempt counted: after a crash it is sent again. */
static void
dispatch_target_row(const struct target *t, struct target_row *r)
{
	memset(r, 0, sizeof(*r));
	r->op = STORE_PUT;
	r->message_id = t->msg->id;
	r->client = t->client;
	r->state = dispatch_target_state_name(t->state == TARGET_SENT ?
	    TARGET_PENDING : t->state);
	r->attempts = t->attempts;
	r->next_attempt = t->next_attempt;
	r->last_attempt = t->last_attempt;
	r->acked_at = t->acked_at;
	r->last_status = t->last_status;
}

/* A message given to a batch that was not written: its marks again, and
 * its webhook events back on it. */
static void
dispatch_given_back(struct dispatch_given *g)
{
	struct webhook_event	*ev;

	if (g->m->dropped) {
		webhook_events_free(g->events);
		g->events = NULL;
		if (g->m->finished_at)
			dispatch_release(g->m);
		return;
	}

	while ((ev = g->events) != NULL) {
		g->events = ev->next;
		ev->next = g->m->events;
		g->m->events = ev;
	}
	dispatch_requeue(g->m, g->row);
}

/*
 * Copy every dirty message's and target's row into b and clear the marks
 * (listed, dirty, dirty_targets, every target's dirty); the outcome comes
 * with dispatch_batch_done. 0, or -1 when memory is short: then every
 * row is dirty as before.
 */
int
dispatch_batch(struct store_batch *b)
{
	struct message		*list, *m, *next;
	struct target		*t, *tnext;
	struct message_row	 mr;
	struct target_row	 tr;
	struct outbox_row	 or;
	struct webhook_event	*ev;
	size_t			 i;

	if (cluster_on())
		b->finished = &dp_finished;
	list = dispatch_take_dirty();
	for (m = list; m; m = next) {
		next = m->dnext;
		if (dispatch_grow((void **)&dp_given, &dp_agiven, dp_ngiven,
		    sizeof(*dp_given)) == -1)
			goto nomem;
		if (m->dirty) {
			memset(&mr, 0, sizeof(mr));
			mr.op = STORE_TOUCH;
			mr.id = m->id;
			mr.state = dispatch_message_state_name(m->state);
			mr.finished_at = m->finished_at;
			if (store_batch_message(b, &mr) == -1)
				goto nomem;
		}
		for (t = m->dirty_targets; t; t = tnext) {
			tnext = t->dnext;
			if (dispatch_grow((void **)&dp_tgiven, &dp_atgiven,
			    dp_ntgiven, sizeof(*dp_tgiven)) == -1)
				goto nomem;
			dispatch_target_row(t, &tr);
			if (store_batch_target(b, &tr) == -1)
				goto nomem;
			dp_tgiven[dp_ntgiven++] = t;
			m->dirty_targets = tnext;
			t->dirty = 0;
		}
		for (ev = m->events; ev; ev = ev->next) {
			webhook_outbox_row(ev, STORE_PUT, &or);
			if (store_batch_outbox(b, &or) == -1)
				goto nomem;
		}
		dp_given[dp_ngiven].m = m;
		dp_given[dp_ngiven].events = m->events;
		m->events = NULL;
		dp_given[dp_ngiven++].row = m->dirty;
		m->dirty = 0;
		m->listed = 0;
	}
	return 0;
nomem:
	/* m (not given yet) keeps its marks and what is left of its
	 * dirty targets; the rest of the list too */
	for (; m; m = next) {
		next = m->dnext;
		m->listed = 0;
		dispatch_list(m);
	}
	for (i = 0; i < dp_ntgiven; i++)
		dispatch_requeue_target(dp_tgiven[i]);
	for (i = 0; i < dp_ngiven; i++)
		dispatch_given_back(&dp_given[i]);
	dp_ngiven = dp_ntgiven = 0;
	return -1;
}

/* The batch dispatch_batch filled is committed (ok) or failed. */
void
dispatch_batch_done(int ok)
{
	struct store_finished	*fin = dp_finished;
	size_t			 i, n = dp_ngiven;

	dp_finished = NULL;
	if (!ok) {
		for (i = 0; i < dp_ntgiven; i++)
			dispatch_requeue_target(dp_tgiven[i]);
		dp_ngiven = 0;	/* dispatch_release may free them now */
		for (i = 0; i < n; i++)
			dispatch_given_back(&dp_given[i]);
		store_finished_free(fin);
	} else {
		dp_ngiven = 0;
		for (i = 0; i < n; i++) {
			/* the events' rows are in the outbox now */
			webhook_enqueue(dp_given[i].events);
			dispatch_written(dp_given[i].m);
		}
		dispatch_cluster_finished(fin);
	}
	dp_ntgiven = 0;
}

/* A commit holding m's rows is done: free m if it is finished and has
 * nothing more to write. */
void
dispatch_written(struct message *m)
{
	if (m->finished_at && !m->listed)
		dispatch_free(m);
}

/* ---- sending ---- */

static int dispatch_response(nta_outgoing_magic_t *, nta_outgoing_t *,
    sip_t const *);

/* t's send did not deliver (status: what it got, for the log): ended
 * if its message is cancelled, expired or t out of attempts, else sent
 * again delay ms from now. */
static void
dispatch_retry(struct target *t, int status, int64_t now, int64_t delay)
{
	struct message	*m = t->msg;

	if (m->state == MESSAGE_CANCELLED)
		dispatch_set(t, TARGET_CANCELLED);
	else if (now / 1000 >= m->expires_at)
		dispatch_set(t, TARGET_EXPIRED);
	else if (dp_cfg->dp_max_attempts &&
	    t->attempts >= (uint32_t)dp_cfg->dp_max_attempts) {
		dispatch_set(t, TARGET_FAILED);
		log_info("dispatch: %s to %s failed after %u attempts "
		    "(last %d)", m->id, t->client, t->attempts, status);
		dispatch_events(m, t);
	} else {
		t->next_attempt = now + delay;
		dispatch_set(t, TARGET_PENDING);
		dispatch_place(m, t, now);
		dp_retries++;
		log_debug("dispatch: %s to %s: %d, retry in %lldms", m->id,
		    t->client, status, (long long)delay);
	}
	dispatch_check_done(m);
}

/* A final answer (or a failure to send) for t at time now. */
static void
dispatch_result(struct target *t, int status, int64_t now)
{
	struct message	*m = t->msg;

	t->last_status = (uint16_t)status;
	if (status >= 200 && status < 300) {
		t->acked_at = now / 1000;
		dispatch_set(t, TARGET_ACKED);
		dp_acked++;
		dispatch_check_done(m);
		return;
	}
	dispatch_retry(t, status, now, dispatch_backoff(dp_cfg, t->attempts,
	    dispatch_random()));
}

/*
 * The headers that every MESSAGE of m carries whatever its target: CSeq,
 * Max-Forwards, Content-Type, Content-Length, the message ID header, the
 * separator and the body. Built and parsed once, at m's first send, in a
 * msg_t of its own (m->tmpl); each MESSAGE holds a reference to it
 * (msg_set_parent) and shallow copies of its headers, which share its
 * strings and body. m's reference goes in dispatch_free, a transaction's
 * when nta destroys the request. NULL if out of memory.
 */
static msg_t *
dispatch_template(struct message *m)
{
	msg_t		*msg;
	su_home_t	*home;
	sip_t		*sip;
	char		 idhdr[64];

	if (m->tmpl != NULL)
		return m->tmpl;
	if ((msg = nta_msg_create(dp_agent, 0)) == NULL)
		return NULL;
	home = msg_home(msg);
	sip = sip_object(msg);
	snprintf(idhdr, sizeof(idhdr), MESSAGE_ID_HEADER ": %s", m->id);
	if (sip_add_tl(msg, sip,
	    SIPTAG_CSEQ(sip_cseq_create(home, 1, SIP_METHOD_MESSAGE)),
	    SIPTAG_MAX_FORWARDS_STR("70"),
	    SIPTAG_HEADER_STR(idhdr),
	    SIPTAG_CONTENT_TYPE_STR(m->content_type),
	    SIPTAG_CONTENT_LENGTH(sip_content_length_create(home,
	    (uint32_t)m->body_len)),
	    SIPTAG_PAYLOAD(sip_payload_create(home, m->body,
	    (isize_t)m->body_len)),
	    TAG_END()) < 0 ||
	    msg_header_insert(msg, (msg_pub_t *)sip,
	    (msg_header_t *)sip_separator_create(home)) < 0 ||
	    sip->sip_cseq == NULL || sip->sip_max_forwards == NULL ||
	    sip->sip_unknown == NULL || sip->sip_content_type == NULL ||
	    sip->sip_content_length == NULL || sip->sip_payload == NULL ||
	    sip->sip_separator == NULL) {
		msg_destroy(msg);
		return NULL;
	}
	return m->tmpl = msg;
}

/*
 * The URL of a stored Contact (as registrar_parse encoded it), parsed on
 * home into url. Sofia writes it as "<url>;params", or as a bare URL
 * followed by ";params" when there is no display name and the URL has no
 * parameters: both are cut here the way sip_name_addr_d cuts them, and
 * anything else goes through the full Contact parser. 0, or -1.
 */
static int
dispatch_contact_url(su_home_t *home, const char *contact, url_t *url)
{
	sip_contact_t	*m;
	const char	*s = contact;
	char		*addr;
	size_t		 n;

	if (*s == '<') {
		s++;
		n = strcspn(s, ">");
		if (s[n] != '>')
			return -1;
	} else if (*s != '"' && strchr(s, '<') == NULL)
		n = strcspn(s, " \t,;?");
	else {
		if ((m = sip_contact_make(home, contact)) == NULL)
			return -1;
		*url = *m->m_url;
		return 0;
	}
	if (n == 0 || (addr = su_strndup(home, s, (isize_t)n)) == NULL)
		return -1;
	return url_d(url, addr) < 0 ? -1 : 0;
}

/*
 * Where to send a request to client c, the one place that knows
 * (dispatch_send, relay.c): its Contact's URL parsed on home into url
 * (the Request-URI), and in route the flow it registered from (its
 * source address, port and transport). Over TCP/TLS the request must go
 * on c->tport (NTATAG_TPORT). 0, or -1 when the Contact does not parse.
 */
int
dispatch_route(su_home_t *home, const struct client *c, void *url,
    char *route, size_t routelen)
{
	snprintf(route, routelen, strchr(c->address, ':') ?
	    "sip:[%s]:%u;transport=%s" : "sip:%s:%u;transport=%s",
	    c->address, c->port, c->transport == TRANSPORT_UDP ? "udp" :
	    c->transport == TRANSPORT_TLS ? "tls" : "tcp");
	return dispatch_contact_url(home, c->contact, url);
}

/* Send t's MESSAGE to where client c registered from: m's template, and
 * for this target the request line and To (the client's Contact), a new
 * From tag and a new Call-ID. */
static void
dispatch_send(struct target *t, const struct client *c, int64_t now)
{
	struct message	*m = t->msg;
	msg_t		*tmpl, *msg = NULL;
	su_home_t	*home;
	sip_t		*sip, *ts;
	sip_from_t	*from;
	url_t		 url[1];
	msg_header_t	*h[12];
	nta_outgoing_t	*orq = NULL;
	char		 route[96];
	size_t		 i, n = 0;

	if ((tmpl = dispatch_template(m)) == NULL ||
	    (msg = nta_msg_create(dp_agent, 0)) == NULL)
		goto fail;
	msg_set_parent(msg, tmpl);
	home = msg_home(msg);
	sip = sip_object(msg);
	ts = sip_object(tmpl);
	memset(url, 0, sizeof(url));
	if (dispatch_route(home, c, url, route, sizeof(route)) == -1)
		goto fail;
	from = sip_from_create(home, (url_string_t *)dp_from);
	if (from == NULL || sip_from_tag(home, from,
	    nta_agent_newtag(home, "tag=%s", dp_agent)) < 0)
		goto fail;
	h[n++] = (msg_header_t *)sip_request_create(home, SIP_METHOD_MESSAGE,
	    (url_string_t *)url, NULL);
	h[n++] = (msg_header_t *)from;
	h[n++] = (msg_header_t *)sip_to_create(home, (url_string_t *)url);
	h[n++] = (msg_header_t *)sip_call_id_create(home, NULL);
	h[n++] = msg_header_copy(home, (msg_header_t *)ts->sip_cseq);
	h[n++] = msg_header_copy(home, (msg_header_t *)ts->sip_max_forwards);
	h[n++] = msg_header_copy(home, (msg_header_t *)ts->sip_content_type);
	h[n++] = msg_header_copy(home,
	    (msg_header_t *)ts->sip_content_length);
	h[n++] = msg_header_copy(home, (msg_header_t *)ts->sip_unknown);
	h[n++] = msg_header_copy(home, (msg_header_t *)ts->sip_separator);
	h[n++] = msg_header_copy(home, (msg_header_t *)ts->sip_payload);
	if (c->path)	/* through its edge relay (RFC 3327) */
		h[n++] = (msg_header_t *)sip_route_make(home, c->path);
	for (i = 0; i < n; i++)
		if (h[i] == NULL ||
		    msg_header_insert(msg, (msg_pub_t *)sip, h[i]) < 0)
			goto fail;
	orq = nta_outgoing_mcreate(dp_agent, dispatch_response,
	    (nta_outgoing_magic_t *)t, (url_string_t const *)route, msg,
	    TAG_IF(c->tport, NTATAG_TPORT(c->tport)),
	    TAG_END());
	if (orq == NULL)
		goto fail;
	t->orq = orq;
	t->binding = c->transport == TRANSPORT_UDP ? c->binding : 0;
	t->attempts++;
	t->last_attempt = now;
	dispatch_set(t, TARGET_SENT);
	dispatch_flight_push(t);
	dp_inflight++;
	dp_sent++;
	return;
fail:
	msg_destroy(msg);
	log_warn("dispatch: %s to %s: cannot create the MESSAGE", m->id,
	    t->client);
	t->attempts++;
	t->last_attempt = now;
	dispatch_result(t, 503, now);
}

/*
 * Did t's UDP send go to a binding its client has left? Over UDP the port
 * a client registered from is only its own while it holds it: once the
 * client is gone from it (it registered again from another address or
 * port, e.g. restarted after a crash), any process may bind that port,
 * get the retransmissions of the MESSAGE and answer them. Over TCP/TLS the
 * answer comes on the connection the MESSAGE went on: it is the client's.
 */
static int
dispatch_stale(const struct target *t)
{
	const struct client	*c;

	if (t->binding == 0)
		return 0;
	c = clients_find(t->client);
	return c == NULL || c->binding != t->binding;
}

static int
dispatch_response(nta_outgoing_magic_t *magic, nta_outgoing_t *orq,
    sip_t const *sip)
{
	struct target	*t = (struct target *)magic;
	int		 status = nta_outgoing_status(orq);
	int64_t		 now;

	(void)sip;
	if (status < 200)
		return 0;
	nta_outgoing_destroy(orq);
	t->orq = NULL;
	dp_inflight--;
	now = clock_now_ms();
	if (status < 300 && dispatch_stale(t)) {
		/* not the client's answer: not recorded, sent again now to
		 * where it registered from (it drops a copy it had taken) */
		log_notice("dispatch: %s to %s: %d from the address it was "
		    "sent to, which the client has left since (it registered "
		    "from another one): not taken as delivered, sent again",
		    t->msg->id, t->client, status);
		dispatch_retry(t, status, now, 0);
	} else
		dispatch_result(t, status, now);
	/* not from here: one ICMP error fails every MESSAGE in flight to
	 * that address at once (tport_error_report), each a call of this,
	 * and a send from each would be failed in the same call in turn:
	 * a whole fan-out without the loop running */
	dispatch_pump_later();
	return 0;
}

/* Send one target of m if one is ready; 1 if sent. A target whose
 * client went offline since it was queued is parked instead. */
static int
dispatch_send_one(struct message *m, int64_t now)
{
	struct target	*t;
	struct client	*c;

	while ((t = ready_pop(m)) != NULL) {
		if (t->state != TARGET_PENDING)
			continue;
		c = clients_find(t->client);
		if (!dispatch_reachable(c))
			continue;	/* parked */
		dispatch_send(t, c, now);
		return 1;
	}
	return 0;
}

/* The pump at the next turn of the loop. */
static void
dispatch_pump_later(void)
{
	if (!dp_more_set && dp_more && su_timer_set(dp_more, dispatch_more,
	    NULL) == 0)
		dp_more_set = 1;
}

/* A pump cut short (DISPATCH_BURST) goes on. */
static void
dispatch_more(su_root_magic_t *magic, su_timer_t *timer, su_timer_arg_t *a)
{
	(void)magic;
	(void)timer;
	(void)a;
	dp_more_set = 0;
	dispatch_pump();
}

/*
 * Send from the ready queues while the in-flight cap allows: one target
 * per message per turn, and the next call starts with the message after
 * the last one served (dp_turn), so every message gets its share. At most
 * DISPATCH_BURST sends (or DISPATCH_BURST_US) in one call: the rest goes
 * on from dp_more, after the loop has served what came in meanwhile.
 */
static void
dispatch_pump(void)
{
	struct message	*m, *next;
	int64_t		 now = clock_now_ms(), t0 = clock_mono_us();
	size_t		 n, i, cap = (size_t)dp_cfg->dp_max_in_flight;
	int		 progress = 1, sent = 0;

	if (cluster_fenced())	/* its lease lapsed: another node may send */
		return;
	while (progress && dp_inflight < cap && dp_active) {
		progress = 0;
		for (n = 0, m = dp_active; m; m = m->next)
			n++;
		m = dp_turn ? dp_turn : dp_active;
		for (i = 0; i < n && dp_inflight < cap; i++) {
			if (sent >= DISPATCH_BURST || (sent && clock_mono_us() -
			    t0 >= DISPATCH_BURST_US)) {
				/* the rest after a turn of the loop */
				dp_turn = m;
				dispatch_pump_later();
				return;
			}
			next = m->next ? m->next : dp_active;
			if (dispatch_send_one(m, now)) {
				progress = 1;
				sent++;
			}
			/* only m can finish (a send that failed at once) */
			if (m->finished_at && next == m)
				next = dp_active;
			if ((m = next) == NULL)
				break;
		}
		dp_turn = m;
	}
}

/* A client registered or came back online: its pending targets are due
 * now, whatever their backoff said. Its count of unfinished targets is
 * made again on the way (a client deleted and registered anew starts
 * from 0). */
void
dispatch_client_online(struct client *c)
{
	struct message	*m;
	struct target	*t;
	size_t		 lo, hi, mid;
	int		 cmp, any = 0;
	int64_t		 now = clock_now_ms();
	uint32_t	 unfinished = 0;

	for (m = dp_active; m; m = m->next) {
		lo = 0;
		hi = m->ntargets;
		t = NULL;
		while (lo < hi) {
			mid = lo + (hi - lo) / 2;
			cmp = strcmp(c->id, m->targets[mid].client);
			if (cmp == 0) {
				t = &m->targets[mid];
				break;
			}
			if (cmp < 0)
				hi = mid;
			else
				lo = mid + 1;
		}
		if (t != NULL && dispatch_unfinished(t->state))
			unfinished++;
		if (t == NULL || t->state != TARGET_PENDING || t->queued)
			continue;
		if (t->heap)
			heap_remove(m, t);
		t->next_attempt = now;
		ready_push(m, t);
		any = 1;
	}
	c->pending = unfinished;
	if (any)
		dispatch_pump();
}

static void dispatch_tick(su_root_magic_t *, su_timer_t *, su_timer_arg_t *);

/* Set the next tick: soon while there is work, later when idle. */
static void
dispatch_tick_arm(void)
{
	dp_tick_idle = dp_active == NULL && dp_inflight == 0 && !dp_trim;
	su_timer_set_interval(dp_tick, dispatch_tick, NULL, dp_tick_idle ?
	    DISPATCH_IDLE_TICK_MS : dp_tick_more ? DISPATCH_MORE_MS :
	    DISPATCH_TICK_MS);
}

/* The most due retries one tick moved to the ready queues (tests). */
size_t
dispatch_tick_most(void)
{
	return dp_tick_most;
}

static void
dispatch_tick(su_root_magic_t *magic, su_timer_t *timer, su_timer_arg_t *a)
{
	struct message	*m, *next;
	struct target	*t;
	int64_t		 now = clock_now_ms();
	size_t		 moved = 0;

	(void)magic;
	(void)timer;
	(void)a;
	dp_tick_more = 0;
	for (m = dp_active; m; m = next) {
		next = m->next;
		if (now / 1000 >= m->expires_at) {
			if (m->count[TARGET_PENDING] == 0)
				continue;	/* the last ones in flight */
			log_info("dispatch: %s reached its TTL", m->id);
			dispatch_end_pending(m, TARGET_EXPIRED);
			continue;
		}
		while (m->nheap && m->heap[0]->next_attempt <= now) {
			if (moved == DISPATCH_TICK_MOVE) {
				dp_tick_more = 1;
				break;
			}
			t = m->heap[0];
			heap_remove(m, t);
			moved++;
			if (dispatch_online(t->client))
				ready_push(m, t);
		}
	}
	if (moved > dp_tick_most)
		dp_tick_most = moved;
	dispatch_flight_age(now - DISPATCH_FLIGHT_WRITE_MS);
	/* a pump cut short goes on from its own timer: not twice as fast
	 * while the tick comes every millisecond for a retry wave */
	if (!dp_more_set)
		dispatch_pump();
	/* a fan-out leaves its transactions' memory in malloc's free lists:
	 * once nothing is in flight for a while, hand it back */
	if (dp_inflight)
		dp_idle_since = now;
	else if (dp_trim && now - dp_idle_since > 2000) {
		malloc_trim(0);
		dp_trim = 0;
	}
	/* the purge is a job of the writer's, one at a time; in a cluster
	 * it also deletes the client rows no node holds (their node went
	 * down) once their registration ended registration.retain ago, as
	 * a node's sweep deletes its own */
	if ((dp_cfg->dp_retain || cluster_on()) && now / 1000 -
	    dp_last_purge >= DISPATCH_PURGE_EVERY && !dp_purge.busy) {
		dp_last_purge = now / 1000;
		dp_purge.before = dp_cfg->dp_retain ? now / 1000 -
		    dp_cfg->dp_retain : 0;
		dp_purge.ended = cluster_on() ? now / 1000 -
		    dp_cfg->reg_retain : 0;
		dp_purge.busy = 1;
		dp_purge.job.run = dispatch_purge_run;
		dp_purge.job.done = dispatch_purge_done;
		commit_job(&dp_purge.job);
	}
	dispatch_tick_arm();
}

/* On the writer: delete the finished messages past dispatch.retain. */
static void
dispatch_purge_run(struct commit_job *j)
{
	struct dispatch_purge	*pg = (struct dispatch_purge *)j;

	pg->n = store_purge(pg->before, pg->ended, &pg->nended);
}

static void
dispatch_purge_done(struct commit_job *j)
{
	struct dispatch_purge	*pg = (struct dispatch_purge *)j;

	if (!j->failed && pg->n > 0)
		log_info("dispatch: purged %d finished messages", pg->n);
	if (!j->failed && pg->nended > 0)
		log_info("dispatch: purged %ld clients no node held, their "
		    "registration ended more than registration.retain ago",
		    pg->nended);
	pg->busy = 0;
}

int
dispatch_init(const struct config *cfg, su_root_t *root, nta_agent_t *agent)
{
	sip_contact_t const	*self;
	char			 from[128];

	dp_cfg = cfg;
	dp_agent = agent;
	dp_last_purge = clock_now() - DISPATCH_PURGE_EVERY + 5;
	dp_tick_most = 0;
	dp_tick_more = 0;
	self = nta_agent_contact(agent);
	snprintf(from, sizeof(from), "sip:sippushd@%s",
	    self && self->m_url->url_host ? self->m_url->url_host :
	    "localhost");
	if ((dp_from = url_hdup(dp_home, (url_t *)url_make(dp_home, from)))
	    == NULL)
		return -1;
	if ((dp_tick = su_timer_create(su_root_task(root), DISPATCH_TICK_MS))
	    == NULL || su_timer_set_interval(dp_tick, dispatch_tick, NULL,
	    DISPATCH_TICK_MS) == -1)
		return -1;
	if ((dp_more = su_timer_create(su_root_task(root), DISPATCH_MORE_MS))
	    == NULL)
		return -1;
	dp_more_set = 0;
	return 0;
}

/* Stop sending; messages in flight stay pending in the store. */
void
dispatch_shutdown(void)
{
	struct message	*m, *next;
	size_t		 i;

	su_timer_destroy(dp_tick);
	dp_tick = NULL;
	su_timer_destroy(dp_more);
	dp_more = NULL;
	dp_more_set = 0;
	for (m = dp_active; m; m = m->next)
		for (i = 0; i < m->ntargets; i++)
			if (m->targets[i].orq) {
				nta_outgoing_destroy(m->targets[i].orq);
				m->targets[i].orq = NULL;
			}
	dispatch_flight_age(INT64_MAX);	/* every send in flight */
	commit_flush();
	for (m = dp_dirty; m; m = next) {	/* left by a failed commit */
		next = m->dnext;
		if (m->finished_at)		/* not on the active list */
			dispatch_free(m);
	}
	for (m = dp_active; m; m = next) {
		next = m->next;
		dispatch_free(m);
	}
	dp_active = dp_dirty = dp_turn = NULL;
	dp_inflight = 0;
	while (dp_ntake > 0)
		free(dp_take[--dp_ntake]);
	free(dp_take);
	dp_take = NULL;
	free(dp_flights);
	dp_flights = NULL;
	dp_fhead = dp_flen = dp_fcap = 0;
	su_home_deinit(dp_home);
}

/* ---- building messages ---- */

static int
dispatch_cmp_target(const void *a, const void *b)
{
	return strcmp(((const struct target *)a)->client,
	    ((const struct target *)b)->client);
}

/* A message with room for n targets whose client IDs total idlen bytes
 * (with their NULs). NULL on ENOMEM. */
static struct message *
dispatch_alloc(size_t n, size_t idlen)
{
	struct message	*m;

	if ((m = calloc(1, sizeof(*m))) == NULL)
		return NULL;
	m->targets = calloc(n ? n : 1, sizeof(*m->targets));
	m->heap = calloc(n ? n : 1, sizeof(*m->heap));
	m->pool = malloc(idlen ? idlen : 1);
	if (m->targets == NULL || m->heap == NULL || m->pool == NULL) {
		dispatch_free(m);
		return NULL;
	}
	m->ready_tail = &m->ready;
	return m;
}

/* Sort the targets, set back pointers and counts, place them. */
static void
dispatch_activate(struct message *m)
{
	struct message	**pp;
	struct target	*t;
	struct client	*c;
	int64_t		 now = clock_now_ms();
	size_t		 i;

	/* a publish's come sorted by the writer: checking is linear, a
	 * sort of 100,000 again was 30 ms of the loop */
	for (i = 1; i < m->ntargets; i++)
		if (strcmp(m->targets[i - 1].client, m->targets[i].client) > 0)
			break;
	if (i < m->ntargets)
		qsort(m->targets, m->ntargets, sizeof(*m->targets),
		    dispatch_cmp_target);
	memset(m->count, 0, sizeof(m->count));
	for (i = 0; i < m->ntargets; i++) {
		t = &m->targets[i];
		t->msg = m;
		m->count[t->state]++;
		if (!dispatch_unfinished(t->state))
			continue;
		/* one look-up of its client, for both its count of
		 * unfinished targets and the place of a pending one
		 * (dispatch_count and dispatch_place each made one: 200,000
		 * for a publish to 100,000, 30 ms of the loop) */
		if ((c = clients_find(t->client)) != NULL)
			c->pending++;
		if (t->state != TARGET_PENDING)
			continue;
		if (t->next_attempt > now)
			heap_push(m, t);
		else if (dispatch_reachable(c))
			ready_push(m, t);
	}
	for (pp = &dp_active; *pp; pp = &(*pp)->next)
		;
	*pp = m;
	if (dp_tick_idle) {		/* its retries and TTL need the tick */
		su_timer_reset(dp_tick);
		dispatch_tick_arm();
	}
	dispatch_check_done(m);
}

struct restore {
	struct message	*m;
	size_t		 n, cap, used, poolcap;
	int		 nomem;
};

static int
dispatch_restore_target(const struct target_row *r, void *arg)
{
	struct restore	*rs = arg;
	struct message	*m = rs->m;
	struct target	*t, *nt, **nh;
	char		*np;
	size_t		 len = strlen(r->client) + 1, cap;
	int		 state;

	if (rs->n == rs->cap) {
		cap = rs->cap ? rs->cap * 2 : 64;
		nt = realloc(m->targets, cap * sizeof(*nt));
		if (nt == NULL)
			return rs->nomem = 1, -1;
		m->targets = nt;
		nh = realloc(m->heap, cap * sizeof(*nh));
		if (nh == NULL)
			return rs->nomem = 1, -1;
		m->heap = nh;
		rs->cap = cap;
	}
	if (rs->used + len > rs->poolcap) {
		cap = rs->poolcap ? rs->poolcap * 2 : 1024;
		while (cap < rs->used + len)
			cap *= 2;
		if ((np = realloc(m->pool, cap)) == NULL)
			return rs->nomem = 1, -1;
		/* client pointers are fixed up once the pool stops moving */
		m->pool = np;
		rs->poolcap = cap;
	}
	memcpy(m->pool + rs->used, r->client, len);
	t = &m->targets[rs->n++];
	memset(t, 0, sizeof(*t));
	t->client = (const char *)(uintptr_t)rs->used;	/* offset for now */
	rs->used += len;
	state = dispatch_target_state_parse(r->state);
	t->state = (uint8_t)(state < 0 || state == TARGET_SENT ?
	    TARGET_PENDING : state);
	t->attempts = r->attempts;
	t->next_attempt = r->next_attempt;
	t->last_attempt = r->last_attempt;
	t->acked_at = r->acked_at;
	t->last_status = (uint16_t)r->last_status;
	return 0;
}

static int
dispatch_restore_message(const struct message_row *r, void *arg)
{
	struct message	*m;
	struct restore	 rs;
	size_t		 i;
	int		 state;

	(void)arg;
	if ((m = dispatch_alloc(0, 0)) == NULL)
		return -1;
	snprintf(m->id, sizeof(m->id), "%s", r->id);
	m->selector = strdup(r->selector);
	m->content_type = strdup(r->content_type);
	if (r->callback && (m->callback = strdup(r->callback)) == NULL)
		goto nomem;
	m->body = malloc(r->body_len + 1);
	if (m->selector == NULL || m->content_type == NULL || m->body == NULL)
		goto nomem;
	memcpy(m->body, r->body, r->body_len);
	m->body_len = r->body_len;
	m->created_at = r->created_at;
	m->expires_at = r->expires_at;
	state = strcmp(r->state, "cancelled") == 0 ? MESSAGE_CANCELLED :
	    MESSAGE_ACTIVE;
	m->state = (uint8_t)state;
	memset(&rs, 0, sizeof(rs));
	rs.m = m;
	/* the buffers from dispatch_alloc(0, 0) hold one element */
	rs.cap = 1;
	rs.poolcap = 1;
	if (store_load_targets(m->id, NULL, -1, dispatch_restore_target,
	    &rs) == -1)
		goto nomem;
	m->ntargets = rs.n;
	for (i = 0; i < m->ntargets; i++)
		m->targets[i].client = m->pool +
		    (uintptr_t)m->targets[i].client;
	dispatch_activate(m);
	log_info("dispatch: resumed %s: %zu of %zu targets pending", m->id,
	    m->count[TARGET_PENDING], m->ntargets);
	if (m->state == MESSAGE_CANCELLED)	/* cancelled mid-flight */
		dispatch_end_pending(m, TARGET_CANCELLED);
	return 0;
nomem:
	dispatch_free(m);
	return -1;
}

/* ---- the cluster: this node's parts of messages ---- */

/*
 * With several nodes, a message in memory holds only the targets this
 * node owns (targets.owner), and may be held in several parts (struct
 * message, each on the active list), one per load: at start, after a
 * publish, when a client's targets come with its registration. A load
 * (a job) reads the node's unfinished targets from the store; on the
 * loop the ones some part already holds are left out, so a target is
 * never held twice. A part being over is only this node's share: the
 * batch that writes its last targets decides in SQL whether the
 * message is (dispatch_cluster_finished).
 *
 * Why no target is loaded twice: a load's done runs after the batch it
 * was queued behind, so the store it read holds every change made
 * before it was queued; a part is freed only once its rows are written
 * (dispatch_written); and a part that is over but not yet written is
 * still found (the dirty list, the batch being written).
 */

/* Does a part of message id hold a target for client? Parts still
 * active, over but not yet written, and in the batch being written. */
static int
dispatch_holds_in(const struct message *m, const char *id,
    const char *client)
{
	size_t	 lo = 0, hi, mid;
	int	 cmp;

	if (strcmp(m->id, id) != 0)
		return 0;
	hi = m->ntargets;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if ((cmp = strcmp(client, m->targets[mid].client)) == 0)
			return 1;
		if (cmp < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return 0;
}

static int
dispatch_holds(const char *id, const char *client)
{
	const struct message	*m;
	size_t			 i;

	for (m = dp_active; m; m = m->next)
		if (dispatch_holds_in(m, id, client))
			return 1;
	for (m = dp_dirty; m; m = m->dnext)
		if (dispatch_holds_in(m, id, client))
			return 1;
	for (i = 0; i < dp_ngiven; i++)
		if (dispatch_holds_in(dp_given[i].m, id, client))
			return 1;
	return 0;
}

/* What a load read: the messages, each with its restore state. */
struct dispatch_load {
	struct commit_job	 job;
	char			*message_id;	/* NULL: any */
	char			**clients;	/* NULL: any */
	size_t			 nclients;
	struct message		**v;
	struct restore		*rs;
	size_t			 n, cap, cur;
	int			 rc;
	int			 nomem;
	int			 prune;		/* forget the unfinished targets
						   of message_id held here that
						   the store no longer gives */
};

static int
dispatch_load_message(const struct message_row *r, void *arg)
{
	struct dispatch_load	*ld = arg;
	struct message		*m, **v;
	struct restore		*rs;
	size_t			 cap;

	if (ld->n == ld->cap) {
		cap = ld->cap ? ld->cap * 2 : 16;
		if ((v = realloc(ld->v, cap * sizeof(*v))) == NULL)
			return ld->nomem = 1, -1;
		ld->v = v;
		if ((rs = realloc(ld->rs, cap * sizeof(*rs))) == NULL)
			return ld->nomem = 1, -1;
		ld->rs = rs;
		ld->cap = cap;
	}
	if ((m = dispatch_alloc(0, 0)) == NULL)
		return ld->nomem = 1, -1;
	snprintf(m->id, sizeof(m->id), "%s", r->id);
	m->selector = strdup(r->selector);
	m->content_type = strdup(r->content_type);
	m->body = malloc(r->body_len + 1);
	if (m->selector == NULL || m->content_type == NULL ||
	    m->body == NULL ||
	    (r->callback && (m->callback = strdup(r->callback)) == NULL)) {
		dispatch_free(m);
		return ld->nomem = 1, -1;
	}
	memcpy(m->body, r->body, r->body_len);
	m->body[r->body_len] = '\0';
	m->body_len = r->body_len;
	m->created_at = r->created_at;
	m->expires_at = r->expires_at;
	m->state = strcmp(r->state, "cancelled") == 0 ? MESSAGE_CANCELLED :
	    MESSAGE_ACTIVE;
	memset(&ld->rs[ld->n], 0, sizeof(ld->rs[ld->n]));
	ld->rs[ld->n].m = m;
	ld->rs[ld->n].cap = 1;
	ld->rs[ld->n].poolcap = 1;
	ld->v[ld->n++] = m;
	return 0;
}

static int
dispatch_load_target(const struct target_row *r, void *arg)
{
	struct dispatch_load	*ld = arg;

	while (ld->cur < ld->n &&
	    strcmp(ld->v[ld->cur]->id, r->message_id) < 0)
		ld->cur++;
	if (ld->cur == ld->n || strcmp(ld->v[ld->cur]->id, r->message_id))
		return 0;	/* its message is not one read */
	if (dispatch_restore_target(r, &ld->rs[ld->cur]) == -1)
		return ld->nomem = 1, -1;
	return 0;
}

/* On the writer (or at start, on the loop): read. */
static void
dispatch_load_run(struct commit_job *j)
{
	struct dispatch_load	*ld = (struct dispatch_load *)j;

	ld->cur = 0;
	ld->rc = store_pg_load_owned(ld->message_id,
	    (const char *const *)ld->clients, ld->nclients,
	    dispatch_load_message, dispatch_load_target, ld);
}

/* Start the parts read, without the targets some part holds already;
 * free what is left. The count of targets taken in. */
static void dispatch_forget(struct target *);

/* The store says this node's unfinished targets of ld->message_id are
 * those ld read: forget the others held here (taken by another node,
 * cancelled or expired fleet-wide). A target finished here but not yet
 * written is not unfinished here: left alone. */
static void
dispatch_load_prune(struct dispatch_load *ld)
{
	struct message	*m, *next, *got = NULL;
	size_t		 i, k, n = 0;

	for (i = 0; i < ld->n; i++)
		if (strcmp(ld->v[i]->id, ld->message_id) == 0)
			got = ld->v[i];
	for (m = dp_active; m; m = next) {
		next = m->next;
		if (strcmp(m->id, ld->message_id) != 0)
			continue;
		for (i = 0; i < m->ntargets; i++) {
			if (!dispatch_unfinished(m->targets[i].state))
				continue;
			for (k = 0; got && k < got->ntargets; k++)
				if (strcmp(got->targets[k].client,
				    m->targets[i].client) == 0)
					break;
			if (got && k < got->ntargets)
				continue;
			dispatch_forget(&m->targets[i]);
			n++;
		}
		dispatch_check_done(m);
	}
	if (n)
		log_info("dispatch: %s: %zu targets held here are no longer "
		    "this node's: forgotten", ld->message_id, n);
}

static size_t
dispatch_load_apply(struct dispatch_load *ld)
{
	struct message	*m;
	size_t		 i, k, t, taken = 0;

	for (i = 0; i < ld->n; i++) {
		m = ld->v[i];
		m->ntargets = ld->rs[i].n;
		for (k = 0; k < m->ntargets; k++)
			m->targets[k].client = m->pool +
			    (uintptr_t)m->targets[k].client;
	}
	if (ld->prune && ld->message_id && ld->rc != -1 && !ld->nomem)
		dispatch_load_prune(ld);
	for (i = 0; i < ld->n; i++) {
		m = ld->v[i];
		if (ld->rc == -1 || ld->nomem) {
			dispatch_free(m);
			continue;
		}
		for (k = t = 0; k < m->ntargets; k++)
			if (!dispatch_holds(m->id, m->targets[k].client))
				m->targets[t++] = m->targets[k];
		m->ntargets = t;
		if (t == 0) {
			dispatch_free(m);
			continue;
		}
		taken += t;
		dispatch_activate(m);
		log_info("dispatch: %s: %zu targets taken in (%zu pending)",
		    m->id, t, m->count[TARGET_PENDING]);
	}
	free(ld->v);
	free(ld->rs);
	ld->v = NULL;
	ld->rs = NULL;
	ld->n = ld->cap = 0;
	if (taken)
		dispatch_pump();
	return taken;
}

static void
dispatch_load_free(struct dispatch_load *ld)
{
	size_t	 i;

	for (i = 0; i < ld->nclients; i++)
		free(ld->clients[i]);
	free(ld->clients);
	free(ld->message_id);
	free(ld);
}

static void
dispatch_load_done(struct commit_job *j)
{
	struct dispatch_load	*ld = (struct dispatch_load *)j;

	if (j->failed)
		ld->rc = -1;
	if (ld->rc == -1 || ld->nomem)
		log_warn("dispatch: cannot load this node's targets%s%s: "
		    "%s; the next poll tries again", ld->message_id ?
		    " of " : "", ld->message_id ? ld->message_id : "",
		    ld->nomem ? "out of memory" : "store failure");
	dispatch_load_apply(ld);
	dispatch_load_free(ld);
}

static void dispatch_load_queue(const char *, int);

/* Load this node's unfinished targets of message_id (NULL: all of
 * them) and send them: a publish anywhere, a poll that found more. */
void
dispatch_cluster_load(const char *message_id)
{
	dispatch_load_queue(message_id, 0);
}

/* Load them, and forget those held here that are no longer this
 * node's (a poll that found fewer). */
static void
dispatch_cluster_reconcile(const char *message_id)
{
	dispatch_load_queue(message_id, 1);
}

static void
dispatch_load_queue(const char *message_id, int prune)
{
	struct dispatch_load	*ld;

	if ((ld = calloc(1, sizeof(*ld))) == NULL ||
	    (message_id && (ld->message_id = strdup(message_id)) == NULL)) {
		free(ld);
		log_warn("dispatch: out of memory: targets of %s not loaded; "
		    "the next poll tries again", message_id ? message_id :
		    "this node");
		return;
	}
	ld->prune = prune;
	ld->job.run = dispatch_load_run;
	ld->job.done = dispatch_load_done;
	commit_job(&ld->job);
}


static void dispatch_take_queue(void);

static void
dispatch_take_done(struct commit_job *j)
{
	dp_take_busy = 0;
	dispatch_load_done(j);
	dispatch_take_queue();
}

static void
dispatch_take_queue(void)
{
	struct dispatch_load	*ld;

	if (dp_take_busy || dp_ntake == 0)
		return;
	if ((ld = calloc(1, sizeof(*ld))) == NULL)
		return;		/* the next take or poll */
	ld->clients = dp_take;
	ld->nclients = dp_ntake;
	dp_take = NULL;
	dp_ntake = 0;
	ld->job.run = dispatch_load_run;
	ld->job.done = dispatch_take_done;
	dp_take_busy = 1;
	commit_job(&ld->job);
}

/*
 * Client registered here, or came back online, and its row is written:
 * the transaction that wrote it made its unfinished targets this
 * node's (taken from the node that had it, or parked); load them.
 */
void
dispatch_cluster_take(const char *client)
{
	char	**v;

	if ((v = realloc(dp_take, (dp_ntake + 1) * sizeof(*v))) == NULL ||
	    (dp_take = v, (v[dp_ntake] = strdup(client)) == NULL)) {
		log_warn("dispatch: out of memory: the targets of %s are "
		    "loaded by the next poll", client);
		return;
	}
	dp_ntake++;
	dispatch_take_queue();
}

/* End target t of a part in memory only (another node has it, or it
 * was cancelled fleet-wide, or the node is fenced): nothing more is
 * sent or written for it. */
static void
dispatch_forget(struct target *t)
{
	struct message	*m = t->msg;
	struct target	**pp;

	if (t->orq) {
		nta_outgoing_destroy(t->orq);
		t->orq = NULL;
		dp_inflight--;
	}
	if (t->heap)
		heap_remove(m, t);
	if (t->dirty) {
		for (pp = &m->dirty_targets; *pp; pp = &(*pp)->dnext)
			if (*pp == t) {
				*pp = t->dnext;
				break;
			}
		t->dirty = 0;
	}
	t->dropped = 1;
	if (dispatch_unfinished(t->state)) {
		dispatch_count(t->client, -1);
		m->count[t->state]--;
		m->count[TARGET_CANCELLED]++;
		t->state = TARGET_CANCELLED;
	}
}

/* Forget part m (on the active list) whole. */
static void
dispatch_forget_part(struct message *m)
{
	size_t	 i;

	m->dropped = 1;
	m->ready = NULL;
	m->ready_tail = &m->ready;
	for (i = 0; i < m->ntargets; i++) {
		m->targets[i].queued = 0;
		dispatch_forget(&m->targets[i]);
	}
	webhook_events_free(m->events);
	m->events = NULL;
	m->dirty = 0;
	dispatch_check_done(m);
}

/* Another node took client (its REGISTER there): forget the client and
 * its targets here, sending nothing more to it. */
void
dispatch_cluster_drop_client(const char *client)
{
	struct message	*m, *next;
	struct client	*c;
	size_t		 lo, hi, mid, n = 0;
	int		 cmp;

	for (m = dp_active; m; m = next) {
		next = m->next;
		lo = 0;
		hi = m->ntargets;
		while (lo < hi) {
			mid = lo + (hi - lo) / 2;
			cmp = strcmp(client, m->targets[mid].client);
			if (cmp == 0) {
				if (dispatch_unfinished(
				    m->targets[mid].state))
					n++;
				dispatch_forget(&m->targets[mid]);
				break;
			}
			if (cmp < 0)
				hi = mid;
			else
				lo = mid + 1;
		}
		dispatch_check_done(m);
	}
	if ((c = clients_find(client)) != NULL)
		clients_drop(c);
	if (c || n)
		log_info("dispatch: %s registered with another node: "
		    "forgotten here (%zu unfinished targets go with it)",
		    client, n);
}

/* Message id was cancelled (on any node): forget its parts. */
void
dispatch_cluster_drop_message(const char *id)
{
	struct message	*m, *next;

	for (m = dp_active; m; m = next) {
		next = m->next;
		if (strcmp(m->id, id) == 0) {
			log_info("dispatch: %s cancelled: %zu targets of this "
			    "node forgotten", m->id,
			    m->count[TARGET_PENDING] + m->count[TARGET_SENT]);
			dispatch_forget_part(m);
		}
	}
}

/* The node is fenced: forget every part (nothing more sent or
 * written). */
void
dispatch_cluster_drop_all(void)
{
	struct message	*m, *next;

	for (m = dp_active; m; m = next) {
		next = m->next;
		dispatch_forget_part(m);
	}
	for (m = dp_dirty; m; m = m->dnext) {	/* over, not yet written */
		m->dropped = 1;
		while (m->dirty_targets) {
			m->dirty_targets->dirty = 0;
			m->dirty_targets = m->dirty_targets->dnext;
		}
	}
}

/* This node's unfinished targets of message id, over its parts. */
static size_t
dispatch_unfinished_of(const char *id)
{
	struct message	*m;
	size_t		 n = 0;

	for (m = dp_active; m; m = m->next)
		if (strcmp(m->id, id) == 0)
			n += m->count[TARGET_PENDING] + m->count[TARGET_SENT];
	return n;
}

static void dispatch_cluster_reconcile(const char *);

/*
 * The poll's count of this node's unfinished targets per message (ids
 * sorted, count of them) against memory: more in the store, load them
 * (a publish or a take whose notification was missed); fewer, reconcile
 * (some were taken by another node, cancelled or expired meanwhile).
 */
void
dispatch_cluster_compare(char *const *ids, const size_t *n, size_t count)
{
	struct message	*m, *p;
	size_t		 i, lo, hi, mid, db, mem;
	int		 cmp;

	for (i = 0; i < count; i++)
		if (dispatch_unfinished_of(ids[i]) < n[i])
			dispatch_cluster_load(ids[i]);
	for (m = dp_active; m; m = m->next) {
		for (p = dp_active; p != m; p = p->next)
			if (strcmp(p->id, m->id) == 0)
				break;
		if (p != m)		/* one look per message */
			continue;
		if ((mem = dispatch_unfinished_of(m->id)) == 0)
			continue;
		db = 0;
		lo = 0;
		hi = count;
		while (lo < hi) {
			mid = lo + (hi - lo) / 2;
			if ((cmp = strcmp(m->id, ids[mid])) == 0) {
				db = n[mid];
				break;
			}
			if (cmp < 0)
				hi = mid;
			else
				lo = mid + 1;
		}
		if (db < mem)
			dispatch_cluster_reconcile(m->id);
	}
}

/* Messages that a transaction of this node found finished (no target
 * unfinished on any node): logged, and their "finished" webhook events,
 * which that transaction put in the outbox, delivered. Takes list. */
void
dispatch_cluster_finished(struct store_finished *list)
{
	struct store_finished		*f;
	struct store_finished_ev	*ev;
	struct outbox_row		 r;

	for (f = list; f; f = f->next) {
		log_info("dispatch: %s finished: %zu acked, %zu expired, %zu "
		    "failed, %zu cancelled", f->id, f->count[TARGET_ACKED],
		    f->count[TARGET_EXPIRED], f->count[TARGET_FAILED],
		    f->count[TARGET_CANCELLED]);
		for (ev = f->events; ev; ev = ev->next) {
			memset(&r, 0, sizeof(r));
			r.op = STORE_PUT;
			r.id = ev->id;
			r.event = "finished";
			r.url = ev->url;
			r.body = ev->body;
			r.created_at = f->finished_at;
			r.next_attempt = f->finished_at * 1000;
			if (webhook_adopt(&r) == -1)
				log_error("dispatch: %s: out of memory: its "
				    "\"finished\" event %s waits in the "
				    "outbox for a restart", f->id, ev->id);
		}
	}
	store_finished_free(list);
}

/* Load the unfinished messages from the store and resume them. Count or
 * -1. A node of a cluster loads only its own targets. */
int
dispatch_restore(void)
{
	struct dispatch_load	 ld;

	if (cluster_on()) {
		memset(&ld, 0, sizeof(ld));
		dispatch_load_run(&ld.job);
		if (ld.rc == -1 || ld.nomem) {
			dispatch_load_apply(&ld);
			return -1;
		}
		return (int)dispatch_load_apply(&ld);
	}
	return store_load_messages(NULL, 1, NULL, -1,
	    dispatch_restore_message, NULL);
}

/* ---- control operations (requests and results: sippushd.h) ---- */

int
dispatch_valid_ctype(const char *s)
{
	size_t	 n;

	for (n = 0; s[n]; n++)
		if ((unsigned char)s[n] < 0x20 || (unsigned char)s[n] > 0x7e)
			return 0;
	return n > 2 && n <= DISPATCH_CTYPE_MAX && strchr(s, '/') != NULL &&
	    s[0] != '/';
}

int
dispatch_max_ttl(void)
{
	return dp_cfg->dp_max_ttl;
}

struct pick {
	int		  all;
	const char	**classes;
	int		  nclasses;
	struct client	**v;
	size_t		  n, cap;
	int		  nomem;
};

/* Do p's class selectors (or all) take c? */
static int
dispatch_picks(const struct pick *p, const struct client *c)
{
	int	 i;

	if (p->all)
		return 1;
	for (i = 0; i < p->nclasses; i++)
		if (strcmp(c->class, p->classes[i]) == 0)
			return 1;
	return 0;
}

static int
dispatch_pick(struct client *c, void *arg)
{
	struct pick	*p = arg;
	struct client	**v;
	int		 i, match = p->all;

	for (i = 0; !match && i < p->nclasses; i++)
		match = strcmp(c->class, p->classes[i]) == 0;
	if (!match)
		return 0;
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 256;
		if ((v = realloc(p->v, p->cap * sizeof(*v))) == NULL)
			return p->nomem = 1;
		p->v = v;
	}
	p->v[p->n++] = c;
	return 0;
}

/* ---- publish on a node of a cluster ---- */

/* A publish whose message and targets the writer inserts (the target
 * set chosen in SQL), then loads this node's targets of. */
struct dispatch_clpub {
	struct dispatch_load	 ld;		/* first: the job */
	struct store_pub	 p;
	char			 id[MESSAGE_ID_LEN + 1];
	char			*selector;
	char			*ctype;
	char			*callback;
	char			*body;
	char			**names;	/* classes, then IDs */
	int			 rv;
	char			 err[OP_ERROR_MAX - 80];
	void			(*done)(void *, const struct publish_result *);
	void			*arg;
};

static void
dispatch_clpub_free(struct dispatch_clpub *cp)
{
	size_t	 i;

	for (i = 0; i < cp->p.nclasses + cp->p.nids; i++)
		free(cp->names[i]);
	free(cp->names);
	free(cp->selector);
	free(cp->ctype);
	free(cp->callback);
	free(cp->body);
	free(cp->ld.message_id);
	free(cp);
}

/* On the writer: the transaction, then this node's targets. */
static void
dispatch_clpub_run(struct commit_job *j)
{
	struct dispatch_clpub	*cp = (struct dispatch_clpub *)j;

	if ((cp->rv = store_pg_publish(&cp->p)) == -1) {
		snprintf(cp->err, sizeof(cp->err), "%s%s%s", store_errmsg(),
		    *store_errhint() ? "; " : "", store_errhint());
		return;
	}
	if (cp->rv == 0)
		dispatch_load_run(j);
}

static void
dispatch_clpub_done(struct commit_job *j)
{
	struct dispatch_clpub	*cp = (struct dispatch_clpub *)j;
	struct store_pub	*p = &cp->p;
	struct publish_result	 res;

	memset(&res, 0, sizeof(res));
	if (j->failed)
		op_error(&res.code, res.error, OP_UNAVAILABLE,
		    "publish: out of memory");
	else if (cp->rv == -1)
		op_error(&res.code, res.error, OP_UNAVAILABLE,
		    "publish: not published: sippushd cannot write its "
		    "database: %s", cp->err);
	else if (cp->rv == 1 && p->missing[0])
		op_error(&res.code, res.error, OP_NOT_FOUND,
		    "publish: no client \"%.64s\" in the table", p->missing);
	else if (cp->rv == 1 && p->targets == 0)
		op_error(&res.code, res.error, OP_NOT_FOUND,
		    "publish: no client matches");
	else if (cp->rv == 1 && p->nfull)
		op_error(&res.code, res.error, OP_TOO_MANY,
		    "publish: client %s has %zu unfinished messages, the most "
		    "dispatch.max_pending_per_client allows (%zu target%s at "
		    "the limit); wait for deliveries to end or cancel some",
		    p->full, p->full_pending, p->nfull, p->nfull > 1 ? "s" :
		    "");
	else if (cp->rv == 1)
		op_error(&res.code, res.error, OP_TOO_LARGE,
		    "publish: body is %zu bytes, over the %d that RFC 3428 "
		    "allows over UDP, and %zu targets use UDP", p->body_len,
		    MESSAGE_UDP_BODY_MAX, p->udp);
	else {
		log_info("dispatch: published %s to %zu targets (%zu "
		    "online): %s", cp->id, p->targets, p->online,
		    cp->selector);
		res.ok = 1;
		res.id = cp->id;
		res.targets = p->targets;
		res.online = p->online;
		if (cp->ld.rc == -1 || cp->ld.nomem)
			log_warn("dispatch: %s: this node's targets not "
			    "loaded yet; the next poll loads them", cp->id);
	}
	if (!j->failed && cp->rv == 0)
		dispatch_load_apply(&cp->ld);
	else
		cp->ld.rc = -1, dispatch_load_apply(&cp->ld);
	cp->done(cp->arg, &res);
	dispatch_clpub_free(cp);
}

/* The cluster's publish, rq checked (but for its IDs), classes in p. */
static void
dispatch_publish_cluster(const struct publish_req *rq, const struct pick *pk,
    long ttl, const char *ctype, size_t body_len,
    void (*done)(void *, const struct publish_result *), void *arg)
{
	struct publish_result	 res;
	struct dispatch_clpub	*cp;
	struct buf		 sel = { 0 };
	uint8_t			 rnd[MESSAGE_ID_LEN / 2];
	int64_t			 now_ms = clock_now_ms();
	size_t			 i, k = 0;

	memset(&res, 0, sizeof(res));
	if ((cp = calloc(1, sizeof(*cp))) == NULL ||
	    (cp->names = calloc(rq->nsel + 1, sizeof(*cp->names))) == NULL)
		goto nomem;
	if (pk->all)
		buf_puts(&sel, "all");
	for (i = 0; i < rq->nsel; i++) {
		if (sel.len)
			buf_puts(&sel, " ");
		buf_printf(&sel, "%s=%s", rq->sel[i].kind == PUBLISH_CLASS ?
		    "class" : "client", rq->sel[i].name);
	}
	for (i = 0; i < rq->nsel; i++)		/* classes first */
		if (rq->sel[i].kind == PUBLISH_CLASS &&
		    (cp->names[k++] = strdup(rq->sel[i].name)) == NULL)
			goto nomem;
	cp->p.nclasses = k;
	for (i = 0; i < rq->nsel; i++)
		if (rq->sel[i].kind == PUBLISH_CLIENT &&
		    (cp->names[k++] = strdup(rq->sel[i].name)) == NULL)
			goto nomem;
	cp->p.nids = k - cp->p.nclasses;
	if (sel.data == NULL || (cp->selector = strdup(sel.data)) == NULL ||
	    (cp->ctype = strdup(ctype)) == NULL ||
	    (rq->callback && (cp->callback = strdup(rq->callback)) == NULL) ||
	    (cp->body = malloc(body_len + 1)) == NULL)
		goto nomem;
	memcpy(cp->body, rq->body, body_len);
	cp->body[body_len] = '\0';
	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd)) {
		op_error(&res.code, res.error, OP_INTERNAL,
		    "publish: no randomness: %s", strerror(errno));
		goto out;
	}
	for (i = 0; i < sizeof(rnd); i++)
		snprintf(cp->id + 2 * i, 3, "%02x", rnd[i]);
	if ((cp->ld.message_id = strdup(cp->id)) == NULL)
		goto nomem;
	cp->p.id = cp->id;
	cp->p.selector = cp->selector;
	cp->p.content_type = cp->ctype;
	cp->p.callback = cp->callback;
	cp->p.body = cp->body;
	cp->p.body_len = body_len;
	cp->p.created_at = now_ms / 1000;
	cp->p.expires_at = (now_ms + (int64_t)ttl * 1000 + 999) / 1000;
	cp->p.now_ms = now_ms;
	cp->p.all = pk->all;
	cp->p.classes = (const char *const *)cp->names;
	cp->p.ids = (const char *const *)cp->names + cp->p.nclasses;
	cp->p.max_pending = dp_cfg->dp_max_pending;
	cp->done = done;
	cp->arg = arg;
	cp->ld.job.run = dispatch_clpub_run;
	cp->ld.job.done = dispatch_clpub_done;
	buf_free(&sel);
	commit_job(&cp->ld.job);
	return;
nomem:
	op_error(&res.code, res.error, OP_UNAVAILABLE,
	    "publish: out of memory");
out:
	if (cp)
		dispatch_clpub_free(cp);
	buf_free(&sel);
	done(arg, &res);
}

/*
 * Publish: expands the targets, commits message and targets, answers
 * the ID.
 */
/* A publish whose rows the writer inserts. */
struct dispatch_pub {
	struct commit_job	 job;
	struct store_batch	 rows;
	struct message		*m;
	size_t			 online;
	int			 rv;
	char			 err[OP_ERROR_MAX - 80];
	void			(*done)(void *, const struct publish_result *);
	void			*arg;
};

static void dispatch_publish_run(struct commit_job *);
static void dispatch_publish_done(struct commit_job *);

void
dispatch_publish(const struct publish_req *rq,
    void (*done)(void *, const struct publish_result *), void *arg)
{
	struct publish_result	 res;
	struct pick		 p;
	struct message		*m = NULL;
	struct buf		 sel = { 0 };
	const char		*body = rq->body, *ctype;
	struct dispatch_pub	*pub = NULL;
	struct message_row	 mr;
	size_t			 i, k, idlen, nudp = 0, online = 0, body_len;
	size_t			 npicked;
	long			 ttl = rq->ttl ? rq->ttl : dp_cfg->dp_default_ttl;
	int64_t			 now_ms = clock_now_ms(), now = now_ms / 1000;
	uint8_t			 rnd[MESSAGE_ID_LEN / 2];
	struct client		*c;

	memset(&res, 0, sizeof(res));
	memset(&p, 0, sizeof(p));
	ctype = rq->content_type ? rq->content_type : "text/plain";
	body_len = body ? rq->body_len : 0;
	p.all = rq->all;
	if ((p.classes = calloc(rq->nsel + 1, sizeof(*p.classes))) == NULL) {
		op_error(&res.code, res.error, OP_UNAVAILABLE,
		    "publish: out of memory");
		goto out;
	}
	for (i = 0; i < rq->nsel; i++) {
		if (rq->sel[i].kind == PUBLISH_CLASS) {
			if (!clients_valid_class(rq->sel[i].name)) {
				op_error(&res.code, res.error, OP_BAD_REQUEST,
				    "publish: \"%.64s\" is not a valid class",
				    rq->sel[i].name);
				goto out;
			}
			p.classes[p.nclasses++] = rq->sel[i].name;
		} else if (!cluster_on() &&
		    clients_find(rq->sel[i].name) == NULL) {
			op_error(&res.code, res.error, OP_NOT_FOUND,
			    "publish: no client \"%.64s\" in the table",
			    rq->sel[i].name);
			goto out;
		}
	}
	if (ttl < 1 || ttl > dp_cfg->dp_max_ttl) {
		op_error(&res.code, res.error, OP_BAD_REQUEST,
		    "publish: ttl must be 1..%d seconds", dp_cfg->dp_max_ttl);
		goto out;
	}
	if (!dispatch_valid_ctype(ctype)) {
		op_error(&res.code, res.error, OP_BAD_REQUEST,
		    "publish: bad content type \"%.64s\"", ctype);
		goto out;
	}
	if (body == NULL || body_len == 0) {
		op_error(&res.code, res.error, OP_BAD_REQUEST,
		    "publish: no body");
		goto out;
	}
	if (body_len > (size_t)dp_cfg->dp_max_body) {
		op_error(&res.code, res.error, OP_TOO_LARGE,
		    "publish: body is %zu bytes, over dispatch.max_body (%d)",
		    body_len, dp_cfg->dp_max_body);
		goto out;
	}
	if (cluster_on()) {	/* the fleet's clients: chosen in SQL */
		if (!p.all && rq->nsel == 0) {
			op_error(&res.code, res.error, OP_BAD_REQUEST,
			    "publish: no target given (class=, client= or "
			    "all=yes)");
			goto out;
		}
		dispatch_publish_cluster(rq, &p, ttl, ctype, body_len, done,
		    arg);
		free(p.classes);
		return;
	}
	if (p.all || p.nclasses)
		clients_foreach(dispatch_pick, &p);
	npicked = p.n;
	for (i = 0; i < rq->nsel && !p.nomem; i++)
		if (rq->sel[i].kind == PUBLISH_CLIENT) {
			c = clients_find(rq->sel[i].name);
			/* once: not if a class (or all) took it, nor if
			 * named before (a few: the request's words) */
			if (dispatch_picks(&p, c))
				continue;
			for (k = npicked; k < p.n && p.v[k] != c; k++)
				;
			if (k < p.n)
				continue;
			if (p.n == p.cap) {
				struct client **nv;

				p.cap = p.cap ? p.cap * 2 : 256;
				if ((nv = realloc(p.v, p.cap * sizeof(*nv)))
				    == NULL) {
					p.nomem = 1;
					break;
				}
				p.v = nv;
			}
			p.v[p.n++] = c;
		}
	if (p.nomem) {
		op_error(&res.code, res.error, OP_UNAVAILABLE,
		    "publish: out of memory");
		goto out;
	}
	if (!p.all && rq->nsel == 0) {
		op_error(&res.code, res.error, OP_BAD_REQUEST,
		    "publish: no target given (class=, client= or all=yes)");
		goto out;
	}
	if (p.n == 0) {
		op_error(&res.code, res.error, OP_NOT_FOUND,
		    "publish: no client matches");
		goto out;
	}
	/* the targets are sorted by the writer (dispatch_publish_run):
	 * 100,000 were 50 ms and more of the loop */
	idlen = 0;
	for (i = 0; i < p.n; i++) {
		idlen += strlen(p.v[i]->id) + 1;
		nudp += p.v[i]->transport == TRANSPORT_UDP;
		online += p.v[i]->state == CLIENT_ONLINE;
	}
	c = NULL;
	for (i = k = 0; i < p.n; i++)
		if (p.v[i]->pending >= (uint32_t)dp_cfg->dp_max_pending &&
		    k++ == 0)
			c = p.v[i];
	if (k) {
		op_error(&res.code, res.error, OP_TOO_MANY,
		    "publish: client %s has %u unfinished messages, the most "
		    "dispatch.max_pending_per_client allows (%zu target%s at "
		    "the limit); wait for deliveries to end or cancel some",
		    c->id, c->pending, k, k > 1 ? "s" : "");
		goto out;
	}
	if (nudp && body_len > MESSAGE_UDP_BODY_MAX) {
		op_error(&res.code, res.error, OP_TOO_LARGE,
		    "publish: body is %zu bytes, over the %d that RFC 3428 "
		    "allows over UDP, and %zu targets use UDP", body_len,
		    MESSAGE_UDP_BODY_MAX, nudp);
		goto out;
	}

	/* the selector, as people will read it back in status */
	if (p.all)
		buf_puts(&sel, "all");
	for (i = 0; i < rq->nsel; i++) {
		if (sel.len)
			buf_puts(&sel, " ");
		buf_printf(&sel, "%s=%s", rq->sel[i].kind == PUBLISH_CLASS ?
		    "class" : "client", rq->sel[i].name);
	}
	if ((m = dispatch_alloc(p.n, idlen)) == NULL ||
	    sel.data == NULL || (m->selector = strdup(sel.data)) == NULL ||
	    (m->content_type = strdup(ctype)) == NULL ||
	    (rq->callback && (m->callback = strdup(rq->callback)) == NULL) ||
	    (m->body = malloc(body_len + 1)) == NULL) {
		op_error(&res.code, res.error, OP_UNAVAILABLE,
		    "publish: out of memory");
		goto out;
	}
	memcpy(m->body, body, body_len);
	m->body[body_len] = '\0';
	m->body_len = body_len;
	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd)) {
		op_error(&res.code, res.error, OP_INTERNAL,
		    "publish: no randomness: %s", strerror(errno));
		goto out;
	}
	for (i = 0; i < sizeof(rnd); i++)
		snprintf(m->id + 2 * i, 3, "%02x", rnd[i]);
	m->created_at = now;
	/* in whole seconds, rounded up: never before publish time + TTL
	 * (the tick and dispatch_result expire at expires_at * 1000 ms) */
	m->expires_at = (now_ms + (int64_t)ttl * 1000 + 999) / 1000;
	m->state = MESSAGE_ACTIVE;
	for (i = 0, k = 0; i < p.n; i++) {
		size_t len = strlen(p.v[i]->id) + 1;

		memcpy(m->pool + k, p.v[i]->id, len);
		m->targets[i].client = m->pool + k;
		m->targets[i].msg = m;
		k += len;
	}
	m->ntargets = p.n;

	/* durable before the ID is handed out: the writer inserts the
	 * rows in a transaction of their own, and the message starts
	 * when it is committed (dispatch_publish_done) */
	if ((pub = calloc(1, sizeof(*pub))) == NULL) {
		op_error(&res.code, res.error, OP_UNAVAILABLE,
		    "publish: out of memory");
		goto out;
	}
	store_batch_init(&pub->rows);
	memset(&mr, 0, sizeof(mr));
	mr.op = STORE_PUT;
	mr.id = m->id;
	mr.state = dispatch_message_state_name(m->state);
	mr.selector = m->selector;
	mr.content_type = m->content_type;
	mr.callback = m->callback;
	mr.body = m->body;
	mr.body_len = m->body_len;
	mr.created_at = m->created_at;
	mr.expires_at = m->expires_at;
	if (store_batch_message(&pub->rows, &mr) == -1)
		goto nomem;
	pub->m = m;
	pub->online = online;
	pub->done = done;
	pub->arg = arg;
	pub->job.run = dispatch_publish_run;
	pub->job.done = dispatch_publish_done;
	m = NULL;
	free(p.v);
	free(p.classes);
	buf_free(&sel);
	commit_job(&pub->job);
	return;
nomem:
	store_batch_free(&pub->rows);
	free(pub);
	op_error(&res.code, res.error, OP_UNAVAILABLE,
	    "publish: out of memory");
out:
	if (m)
		dispatch_free(m);
	free(p.v);
	free(p.classes);
	buf_free(&sel);
	done(arg, &res);
}

/* On the writer: insert the message's rows. */
static void
dispatch_publish_run(struct commit_job *j)
{
	struct dispatch_pub	*pub = (struct dispatch_pub *)j;
	struct message		*m = pub->m;
	struct target_row	 tr;
	size_t			 i;

	/* the message is the job's until it is done: its targets are
	 * sorted and their rows made here, off the loop */
	qsort(m->targets, m->ntargets, sizeof(*m->targets),
	    dispatch_cmp_target);
	for (i = 0; i < m->ntargets; i++) {
		dispatch_target_row(&m->targets[i], &tr);
		if (store_batch_target(&pub->rows, &tr) == -1) {
			pub->rv = -1;
			snprintf(pub->err, sizeof(pub->err), "out of memory");
			return;
		}
	}
	if ((pub->rv = store_write(&pub->rows)) == -1)
		snprintf(pub->err, sizeof(pub->err), "%s%s%s", store_errmsg(),
		    *store_errhint() ? "; " : "", store_errhint());
}

/* The rows are committed (or not): start the message, answer. */
static void
dispatch_publish_done(struct commit_job *j)
{
	struct dispatch_pub	*pub = (struct dispatch_pub *)j;
	struct publish_result	 res;
	struct message		*m = pub->m;
	char			 id[MESSAGE_ID_LEN + 1];

	memset(&res, 0, sizeof(res));
	if (j->failed)
		op_error(&res.code, res.error, OP_UNAVAILABLE,
		    "publish: out of memory");
	else if (pub->rv == -1)
		op_error(&res.code, res.error, OP_UNAVAILABLE,
		    "publish: not published: sippushd cannot write its "
		    "database: %s", pub->err);
	else {
		log_info("dispatch: published %s to %zu targets (%zu "
		    "online): %s", m->id, m->ntargets, pub->online,
		    m->selector);
		memcpy(id, m->id, sizeof(id));
		res.ok = 1;
		res.id = id;
		res.targets = m->ntargets;
		res.online = pub->online;
		dispatch_activate(m);
		m = NULL;
		dispatch_pump();
	}
	if (m)
		dispatch_free(m);
	store_batch_free(&pub->rows);
	pub->done(pub->arg, &res);
	free(pub);
}

static struct message *
dispatch_find(const char *id)
{
	struct message	*m;

	for (m = dp_active; m; m = m->next)
		if (strcmp(m->id, id) == 0)
			return m;
	return NULL;
}

/* Pending targets whose client is offline; a count over every target,
 * so it is cached for a second (publish --wait polls it). */
static size_t
dispatch_offline(struct message *m)
{
	int64_t	 now = clock_now_ms();
	size_t	 i, n = 0;

	if (m->offline_at && now - m->offline_at < 1000)
		return m->offline;
	for (i = 0; i < m->ntargets; i++)
		if (m->targets[i].state == TARGET_PENDING &&
		    !dispatch_online(m->targets[i].client))
			n++;
	m->offline = n;
	m->offline_at = now;
	return n;
}

/* A message's summary from memory (active messages): it points into m. */
static void
dispatch_info_message(struct message_info *mi, struct message *m)
{
	memset(mi, 0, sizeof(*mi));
	mi->id = m->id;
	mi->state = dispatch_message_state_name(m->state);
	mi->selector = m->selector;
	mi->content_type = m->content_type;
	mi->body_size = m->body_len;
	mi->created_at = m->created_at;
	mi->expires_at = m->expires_at;
	mi->finished_at = m->finished_at;
	mi->targets = m->ntargets;
	memcpy(mi->count, m->count, sizeof(mi->count));
	mi->offline = dispatch_offline(m);
}

/* A message's summary from the store: its strings are copies, in one
 * allocation (*mem) that the caller frees. */
static int
dispatch_info_row(struct message_info *mi, const struct message_row *r,
    char **mem)
{
	size_t	 a = strlen(r->id) + 1, b = strlen(r->state) + 1;
	size_t	 c = strlen(r->selector) + 1, d = strlen(r->content_type) + 1;
	char	*s;
	int	 i;

	if ((s = *mem = malloc(a + b + c + d)) == NULL)
		return -1;
	memset(mi, 0, sizeof(*mi));
	mi->id = memcpy(s, r->id, a);
	mi->state = memcpy(s + a, r->state, b);
	mi->selector = memcpy(s + a + b, r->selector, c);
	mi->content_type = memcpy(s + a + b + c, r->content_type, d);
	mi->body_size = r->body_len;
	mi->created_at = r->created_at;
	mi->expires_at = r->expires_at;
	mi->finished_at = r->finished_at;
	for (i = 0; i < TARGET_NSTATES; i++) {
		mi->count[i] = r->count[i];
		mi->targets += r->count[i];
	}
	mi->offline = 0;
	return 0;
}

struct status_load {
	struct status_result	*res;
	char			*mem;		/* the message's strings */
	struct target_info	*t;
	size_t			 cap;
	int			 nomem;
	int			 state;		/* kept: of this state; -1 any */
	size_t			 want;		/* kept: at most; 0 all */
	char			 last[CLIENT_ID_MAX + 1]; /* the last read */
};

static int
dispatch_status_row(const struct message_row *r, void *arg)
{
	struct status_load	*sl = arg;

	if (dispatch_info_row(&sl->res->msg, r, &sl->mem) == -1)
		sl->nomem = 1;
	return 0;
}

static int
dispatch_status_target(const struct target_row *r, void *arg)
{
	struct status_load	*sl = arg;
	struct target_info	*t;
	int			 state;

	if (sl->nomem)
		return 0;
	snprintf(sl->last, sizeof(sl->last), "%s", r->client);
	if ((state = dispatch_target_state_parse(r->state)) < 0)
		state = TARGET_PENDING;
	if (sl->state != -1 && state != sl->state)
		return 0;
	if (sl->want && sl->res->nt == sl->want) {
		sl->res->more = 1;	/* one more than the page */
		return 0;
	}
	if (sl->res->nt == sl->cap) {
		sl->cap = sl->cap ? sl->cap * 2 : 64;
		if ((t = realloc(sl->t, sl->cap * sizeof(*t))) == NULL) {
			sl->nomem = 1;
			return 0;
		}
		sl->t = t;
	}
	t = &sl->t[sl->res->nt];
	if ((t->client = strdup(r->client)) == NULL) {
		sl->nomem = 1;
		return 0;
	}
	t->state = state;
	t->attempts = r->attempts;
	t->last_status = r->last_status;
	t->last_attempt = r->last_attempt;
	t->next_attempt = r->next_attempt;
	t->acked_at = r->acked_at;
	sl->res->nt++;
	sl->res->t = sl->t;
	return 0;
}

struct list_load {
	struct message_info	*v;
	char			**mem;		/* per entry */
	size_t			 n, cap;
	int			 nomem;
};

/* On the writer: no look at the live messages here. */
static int
dispatch_list_row(const struct message_row *r, void *arg)
{
	struct list_load	*ll = arg;
	struct message_info	*v;
	char			**mem;

	if (ll->nomem)
		return 0;
	if (ll->n == ll->cap) {
		ll->cap = ll->cap ? ll->cap * 2 : 32;
		if ((v = realloc(ll->v, ll->cap * sizeof(*v))) == NULL ||
		    (ll->v = v, (mem = realloc(ll->mem, ll->cap *
		    sizeof(*mem))) == NULL)) {
			ll->nomem = 1;
			return 0;
		}
		ll->mem = mem;
	}
	ll->mem[ll->n] = NULL;
	if (dispatch_info_row(&ll->v[ll->n], r, &ll->mem[ll->n]) == -1) {
		ll->nomem = 1;
		return 0;
	}
	ll->n++;
	return 0;
}

/* A read of the store for status or messages, run by the writer. */
struct dispatch_read {
	struct commit_job	 job;
	char			*id;		/* status */
	int			 targets;
	int			 limit;		/* messages */
	struct message_pos	 after;
	int			 has_after;
	int			 rc;		/* the load's */
	int			 more;		/* status: a full page read */
	char			 from[CLIENT_ID_MAX + 1]; /* a page read's */
	char			 err[OP_ERROR_MAX - 32];
	struct status_result	 sres;
	struct status_load	 sl;
	struct list_load	 ll;
	void			(*sdone)(void *, const struct status_result *);
	void			(*mdone)(void *,
				    const struct messages_result *);
	void			*arg;
};

static void
dispatch_read_free(struct dispatch_read *rd)
{
	size_t	 i;

	for (i = 0; rd->sl.t && i < rd->sres.nt; i++)
		free((char *)rd->sl.t[i].client);
	free(rd->sl.t);
	free(rd->sl.mem);
	for (i = 0; i < rd->ll.n; i++)
		free(rd->ll.mem[i]);
	free(rd->ll.mem);
	free(rd->ll.v);
	free(rd->id);
	free(rd);
}

/* Jobs that read a stored message's targets, and the most rows one of
 * them read (dispatch_status_pages, for the tests). */
static unsigned long	 dp_status_jobs;
static size_t		 dp_status_maxrows;

void
dispatch_status_pages(unsigned long *jobs, size_t *max_rows)
{
	*jobs = dp_status_jobs;
	*max_rows = dp_status_maxrows;
}

/*
 * On the writer: a message that is not in memory, from the store. The
 * first job reads the message row, and each job at most
 * DISPATCH_STATUS_PAGE of its targets, after the last client ID the one
 * before read: the writer's queue (the commits behind it) never waits
 * for one long read of a big message. dispatch_status_done queues the
 * next page.
 */
static void
dispatch_status_run(struct commit_job *j)
{
	struct dispatch_read	*rd = (struct dispatch_read *)j;
	struct status_load	*sl = &rd->sl;
	int			 n, want = DISPATCH_STATUS_PAGE;

	if (rd->rc == 0)		/* the first page */
		rd->rc = store_load_messages(rd->id, 0, NULL, 1,
		    dispatch_status_row, sl);
	rd->more = 0;
	if (rd->rc == 1 && rd->targets && !sl->nomem) {
		/* after the last one read (kept or not); a page of
		 * dispatch_targets without a state filter is read in one
		 * job: what it keeps and the one more that says whether a
		 * page follows */
		snprintf(rd->from, sizeof(rd->from), "%s", sl->last);
		if (sl->want && sl->state == -1)
			want = (int)(sl->want + 1 - rd->sres.nt);
		if ((n = store_load_targets(rd->id, rd->from[0] ? rd->from :
		    NULL, want, dispatch_status_target, sl)) == -1)
			rd->rc = -1;
		else {
			dp_status_jobs++;
			if ((size_t)n > dp_status_maxrows)
				dp_status_maxrows = (size_t)n;
			rd->more = n == want && !rd->sres.more;
		}
	}
	if (rd->rc == -1)
		snprintf(rd->err, sizeof(rd->err), "%s", store_errmsg());
}

static void
dispatch_status_done(struct commit_job *j)
{
	struct dispatch_read	*rd = (struct dispatch_read *)j;
	struct status_result	*res = &rd->sres;

	if (!j->failed && !rd->sl.nomem && rd->rc == 1 && rd->more) {
		commit_job(&rd->job);		/* the next page */
		return;
	}
	if (j->failed || rd->sl.nomem)
		op_error(&res->code, res->error, OP_UNAVAILABLE,
		    "status: out of memory");
	else if (rd->rc == 0)
		op_error(&res->code, res->error, OP_NOT_FOUND,
		    "no message %.64s", rd->id);
	else if (rd->rc == -1)
		op_error(&res->code, res->error, OP_UNAVAILABLE,
		    "store failure: %s", rd->err);
	else
		res->ok = 1;
	rd->sdone(rd->arg, res);
	dispatch_read_free(rd);
}

/* A target's row as status and targets show it. */
static void
dispatch_target_info(struct target_info *v, const struct target *t)
{
	v->client = t->client;
	v->state = t->state;
	v->attempts = t->attempts;
	v->last_status = t->last_status;
	v->last_attempt = t->last_attempt;
	v->next_attempt = t->next_attempt;
	v->acked_at = t->acked_at;
}

/* A read of message id by the writer (dispatch_status_run), answered
 * through done; the caller sets what to read, then commit_job. NULL:
 * out of memory. */
static struct dispatch_read *
dispatch_read_new(const char *id,
    void (*done)(void *, const struct status_result *), void *arg)
{
	struct dispatch_read	*rd;

	if ((rd = calloc(1, sizeof(*rd))) == NULL ||
	    (rd->id = strdup(id)) == NULL) {
		free(rd);
		return NULL;
	}
	rd->sl.res = &rd->sres;
	rd->sdone = done;
	rd->arg = arg;
	rd->job.run = dispatch_status_run;
	rd->job.done = dispatch_status_done;
	return rd;
}

/* A message's summary and (req->targets) its target set: from memory
 * while it is active, else read by the writer. */
void
dispatch_status(const struct status_req *rq,
    void (*done)(void *, const struct status_result *), void *arg)
{
	struct status_result	 res;
	struct dispatch_read	*rd;
	struct target_info	*tv = NULL;
	struct message		*m;
	size_t			 i;

	memset(&res, 0, sizeof(res));
	if (rq->id == NULL) {
		op_error(&res.code, res.error, OP_BAD_REQUEST,
		    "status needs id=ID");
		goto out;
	}
	/* a node of a cluster holds only its share: the store has all */
	if (!cluster_on() && (m = dispatch_find(rq->id)) != NULL) {
		dispatch_info_message(&res.msg, m);
		if (rq->targets && m->ntargets &&
		    (tv = calloc(m->ntargets, sizeof(*tv))) == NULL) {
			op_error(&res.code, res.error, OP_UNAVAILABLE,
			    "status: out of memory");
			goto out;
		}
		for (i = 0; rq->targets && i < m->ntargets; i++)
			dispatch_target_info(&tv[i], &m->targets[i]);
		res.t = tv;
		res.nt = rq->targets ? m->ntargets : 0;
		res.ok = 1;
		goto out;
	}
	/* after the batch with a message that just finished */
	if ((rd = dispatch_read_new(rq->id, done, arg)) == NULL) {
		op_error(&res.code, res.error, OP_UNAVAILABLE,
		    "status: out of memory");
		goto out;
	}
	rd->targets = rq->targets;
	rd->sl.state = -1;
	commit_job(&rd->job);
	return;
out:
	done(arg, &res);
	free(tv);
}

/* The pages dispatch_targets took from memory, and the most targets one
 * of them held (the tests). */
static unsigned long	 dp_targets_calls;
static size_t		 dp_targets_most;

void
dispatch_targets_pages(unsigned long *calls, size_t *most)
{
	*calls = dp_targets_calls;
	*most = dp_targets_most;
}

/*
 * A page of a message's targets in client ID order: at most rq->limit
 * after rq->after, of state rq->state (-1: any), and whether more follow
 * (res->more). An active message's are found in memory by binary search
 * from the cursor, a page copied, never the whole set; a finished one's
 * are read by writer jobs of at most DISPATCH_STATUS_PAGE rows each from
 * the cursor on, until the page and the one after it are found. So a
 * page costs the loop the page, however big the message (GET
 * /v1/messages/ID/targets, the control socket's status).
 */
void
dispatch_targets(const struct targets_req *rq,
    void (*done)(void *, const struct status_result *), void *arg)
{
	struct status_result	 res;
	struct dispatch_read	*rd;
	struct target_info	*tv = NULL;
	struct message		*m;
	struct target		*t;
	size_t			 lo, hi, mid, n = 0;

	memset(&res, 0, sizeof(res));
	if (rq->id == NULL || rq->limit < 1 ||
	    rq->limit > DISPATCH_STATUS_PAGE) {
		op_error(&res.code, res.error, OP_BAD_REQUEST,
		    "targets: needs an ID and a limit of 1..%d",
		    DISPATCH_STATUS_PAGE);
		goto out;
	}
	if (!cluster_on() && (m = dispatch_find(rq->id)) != NULL) {
		/* the ID alone: a page needs no summary (whose count of
		 * offline targets goes over every target) */
		res.msg.id = m->id;
		res.msg.state = dispatch_message_state_name(m->state);
		if ((tv = calloc(rq->limit, sizeof(*tv))) == NULL) {
			op_error(&res.code, res.error, OP_UNAVAILABLE,
			    "targets: out of memory");
			goto out;
		}
		lo = 0;		/* the first after the cursor */
		hi = m->ntargets;
		while (rq->after && lo < hi) {
			mid = lo + (hi - lo) / 2;
			if (strcmp(m->targets[mid].client, rq->after) <= 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (; lo < m->ntargets; lo++) {
			t = &m->targets[lo];
			if (rq->state != -1 && t->state != rq->state)
				continue;
			if (n == rq->limit) {
				res.more = 1;
				break;
			}
			dispatch_target_info(&tv[n++], t);
		}
		dp_targets_calls++;
		if (n > dp_targets_most)
			dp_targets_most = n;
		res.t = tv;
		res.nt = n;
		res.ok = 1;
		goto out;
	}
	if ((rd = dispatch_read_new(rq->id, done, arg)) == NULL) {
		op_error(&res.code, res.error, OP_UNAVAILABLE,
		    "targets: out of memory");
		goto out;
	}
	rd->targets = 1;
	rd->sl.state = rq->state;
	rd->sl.want = rq->limit;
	if (rq->after)
		snprintf(rd->sl.last, sizeof(rd->sl.last), "%s", rq->after);
	commit_job(&rd->job);
	return;
out:
	done(arg, &res);
	free(tv);
}

/* On the writer: the newest messages' rows. */
static void
dispatch_messages_run(struct commit_job *j)
{
	struct dispatch_read	*rd = (struct dispatch_read *)j;

	if ((rd->rc = store_load_messages(NULL, 0, rd->has_after ?
	    &rd->after : NULL, rd->limit, dispatch_list_row, &rd->ll)) == -1)
		snprintf(rd->err, sizeof(rd->err), "%s", store_errmsg());
}

/* Active ones are shown as memory has them (newer than their rows). */
static void
dispatch_messages_done(struct commit_job *j)
{
	struct dispatch_read	*rd = (struct dispatch_read *)j;
	struct messages_result	 res;
	struct message		*m;
	size_t			 i;

	memset(&res, 0, sizeof(res));
	if (j->failed || rd->ll.nomem)
		op_error(&res.code, res.error, OP_UNAVAILABLE,
		    "messages: out of memory");
	else if (rd->rc == -1)
		op_error(&res.code, res.error, OP_UNAVAILABLE,
		    "store failure: %s", rd->err);
	else {
		for (i = 0; i < rd->ll.n && !cluster_on(); i++)
			if ((m = dispatch_find(rd->ll.v[i].id)) != NULL)
				dispatch_info_message(&rd->ll.v[i], m);
		res.ok = 1;
		res.v = rd->ll.v;
		res.n = rd->ll.n;
	}
	rd->mdone(rd->arg, &res);
	dispatch_read_free(rd);
}

/* The newest messages with their counts, older than rq->after if set. */
void
dispatch_messages(const struct messages_req *rq,
    void (*done)(void *, const struct messages_result *), void *arg)
{
	struct messages_result	 res;
	struct dispatch_read	*rd;

	memset(&res, 0, sizeof(res));
	if (rq->limit < 1 || rq->limit > DISPATCH_LIST_MAX) {
		op_error(&res.code, res.error, OP_BAD_REQUEST,
		    "limit must be 1..%d", DISPATCH_LIST_MAX);
		goto out;
	}
	if ((rd = calloc(1, sizeof(*rd))) == NULL) {
		op_error(&res.code, res.error, OP_UNAVAILABLE,
		    "messages: out of memory");
		goto out;
	}
	rd->limit = (int)rq->limit;
	if (rq->after != NULL) {
		rd->after = *rq->after;
		rd->has_after = 1;
	}
	rd->mdone = done;
	rd->arg = arg;
	rd->job.run = dispatch_messages_run;
	rd->job.done = dispatch_messages_done;
	commit_job(&rd->job);
	return;
out:
	done(arg, &res);
}

/* A cancel's answer, waiting for the commit of its rows. */
struct dispatch_cancel_wait {
	struct commit_waiter	 w;
	struct cancel_result	 res;
	char			 id[MESSAGE_ID_LEN + 1];
	void			(*done)(void *, const struct cancel_result *);
	void			*arg;
};

static void
dispatch_cancel_committed(struct commit_waiter *w, int ok)
{
	struct dispatch_cancel_wait	*cw = (struct dispatch_cancel_wait *)w;

	(void)ok;	/* kept in memory and written at the retry */
	cw->done(cw->arg, &cw->res);
	free(cw);
}

/* A cancel on a node of a cluster: in SQL, fleet-wide. */
struct dispatch_clcancel {
	struct commit_job	 job;
	char			 id[MESSAGE_ID_LEN + 1];
	int			 rv;
	size_t			 cancelled;
	struct store_finished	*fin;
	char			 err[OP_ERROR_MAX - 80];
	void			(*done)(void *, const struct cancel_result *);
	void			*arg;
};

static void
dispatch_clcancel_run(struct commit_job *j)
{
	struct dispatch_clcancel	*cc = (struct dispatch_clcancel *)j;

	if ((cc->rv = store_pg_cancel(cc->id, clock_now(), &cc->cancelled,
	    &cc->fin)) == -1)
		snprintf(cc->err, sizeof(cc->err), "%s", store_errmsg());
}

static void
dispatch_clcancel_done(struct commit_job *j)
{
	struct dispatch_clcancel	*cc = (struct dispatch_clcancel *)j;
	struct cancel_result		 res;

	memset(&res, 0, sizeof(res));
	res.id = cc->id;
	if (j->failed)
		op_error(&res.code, res.error, OP_UNAVAILABLE,
		    "cancel: out of memory");
	else if (cc->rv == -1)
		op_error(&res.code, res.error, OP_UNAVAILABLE,
		    "cancel: store failure: %s", cc->err);
	else if (cc->rv == 0 || cc->rv == 2)
		op_error(&res.code, res.error, cc->rv == 2 ? OP_CONFLICT :
		    OP_NOT_FOUND, "no active message %.64s", cc->id);
	else {
		log_info("dispatch: %s cancelled on every node (%zu targets)",
		    cc->id, cc->cancelled);
		dispatch_cluster_drop_message(cc->id);
		dispatch_cluster_finished(cc->fin);
		cc->fin = NULL;
		res.ok = 1;
		res.cancelled = cc->cancelled;
	}
	store_finished_free(cc->fin);
	cc->done(cc->arg, &res);
	free(cc);
}

/* Cancel: every pending target becomes cancelled; those in flight end
 * as acked (2xx) or cancelled. On a node of a cluster every unfinished
 * target, on any node, is cancelled at once. */
void
dispatch_cancel(const struct cancel_req *rq,
    void (*done)(void *, const struct cancel_result *), void *arg)
{
	struct cancel_result	 res;
	struct dispatch_cancel_wait *cw;
	struct dispatch_clcancel *cc;
	struct message		*m;
	char			 id[MESSAGE_ID_LEN + 1];
	size_t			 before;

	memset(&res, 0, sizeof(res));
	if (rq->id == NULL) {
		op_error(&res.code, res.error, OP_BAD_REQUEST,
		    "cancel needs id=ID");
		goto out;
	}
	if (cluster_on()) {
		if (strlen(rq->id) != MESSAGE_ID_LEN) {
			op_error(&res.code, res.error, OP_NOT_FOUND,
			    "no active message %.64s", rq->id);
			res.id = rq->id;
			goto out;
		}
		if ((cc = calloc(1, sizeof(*cc))) == NULL) {
			op_error(&res.code, res.error, OP_UNAVAILABLE,
			    "cancel: out of memory");
			goto out;
		}
		memcpy(cc->id, rq->id, MESSAGE_ID_LEN);
		cc->done = done;
		cc->arg = arg;
		cc->job.run = dispatch_clcancel_run;
		cc->job.done = dispatch_clcancel_done;
		commit_job(&cc->job);
		return;
	}
	if ((m = dispatch_find(rq->id)) == NULL ||
	    m->state == MESSAGE_CANCELLED) {
		/* not in memory: finished, or never was (a front end that
		 * must tell which reads its status) */
		op_error(&res.code, res.error, m ? OP_CONFLICT : OP_NOT_FOUND,
		    "no active message %.64s", rq->id);
		res.id = rq->id;
		goto out;
	}
	before = m->count[TARGET_CANCELLED];
	m->state = MESSAGE_CANCELLED;
	m->dirty = 1;
	dispatch_mark_message(m);
	log_info("dispatch: %s cancelled", m->id);
	dispatch_end_pending(m, TARGET_CANCELLED);
	memcpy(id, m->id, sizeof(id));
	res.ok = 1;
	res.id = id;
	res.cancelled = m->count[TARGET_CANCELLED] - before;
	res.in_flight = m->count[TARGET_SENT];
	/* the answer says it is done: after the commit */
	if ((cw = calloc(1, sizeof(*cw))) != NULL) {
		cw->res = res;
		memcpy(cw->id, id, sizeof(id));
		cw->res.id = cw->id;
		cw->done = done;
		cw->arg = arg;
		cw->w.done = dispatch_cancel_committed;
		commit_wait(&cw->w);
		commit_start();
		return;
	}
out:
	done(arg, &res);
}

/* The dispatcher's part of the stats record. */
void
dispatch_stats(struct buf *out)
{
	struct message	*m;
	size_t		 n = 0, pending = 0;

	for (m = dp_active; m; m = m->next) {
		n++;
		pending += m->count[TARGET_PENDING];
	}
	proto_put_kvi(out, "messages_active", (long long)n);
	proto_put_kvi(out, "targets_pending", (long long)pending);
	proto_put_kvi(out, "in_flight", (long long)dp_inflight);
	proto_put_kvi(out, "sent_total", (long long)dp_sent);
	proto_put_kvi(out, "acked_total", (long long)dp_acked);
	proto_put_kvi(out, "retries_total", (long long)dp_retries);
}
