/*
 * commit.c: the group commit.
 *
 * Subsystems change their in-memory state and mark it dirty (clients in
 * clients.c, targets, messages and their new webhook events in
 * dispatch.c, webhook deliveries in webhook.c); a caller whose reply
 * promises durability queues a commit_waiter. A one-shot timer (an
 * adaptive delay bounded by database.commit_delay ms, below) or a long
 * queue runs commit_start: one transaction writes everything dirty,
 * and only after COMMIT are the waiters told (ok = 1). When the commit
 * fails the waiters hear ok = 0 and the rows are marked dirty again, so
 * the next commit writes them (with their newest values). Nothing is
 * ever written once per packet.
 *
 * Threads. The SQLite work (the row writes, COMMIT and its fsync) runs on
 * a writer thread with its own connection (store_use_writer), so that the
 * event loop keeps sending and receiving SIP meanwhile. The event loop
 * owns every struct client, message and target: commit_start copies the
 * dirty rows into a self-contained batch (plain values and strings, in
 * memory of the batch's own), clears the marks and hands the batch over;
 * the writer runs BEGIN, the writes and COMMIT and signals an eventfd,
 * and back on the event loop commit_finish reports the outcome to
 * clients.c and dispatch.c and to the batch's waiters. One batch is in
 * flight at a time: changes made meanwhile are marked dirty as usual and
 * go into the next batch, started as soon as this one is done. A batch
 * takes at most CLIENTS_BATCH_MAX client rows, the oldest marked (a
 * million clients going offline at once is not copied in one turn of
 * the loop); the rest go into the batches after it, and a waiter or a
 * job goes with the first batch that has every client row dirty when
 * it came, never sooner. The
 * pointers a batch keeps to the live objects are used only by
 * commit_finish, on the event loop; the objects outlive the batch
 * (clients and finished messages are freed only by the outcome of the
 * batch that holds their last rows).
 *
 * Jobs. Every other use of the store is a job (commit_job): its run is
 * called on the writer, after the batch it was queued behind (so a read
 * sees every change made before it), and its done back on the event
 * loop, with failed set if it could not run. Reads (status of a stored
 * message, page by page; messages), a publish, user add/del/import/list
 * and the purge are jobs: the event loop runs no SQL. commit_flush and
 * commit_drain wait for the writer (unit tests, shutdown). Without
 * commit_init (some unit tests) a batch is written at once on the
 * calling thread.
 *
 * While commits fail (a store fault: disk full, I/O error, read-only),
 * a retry is armed COMMIT_RETRY_MS after each failure, and flushes asked
 * for sooner wait for it: the disk is tried at most once per
 * COMMIT_RETRY_MS, waiters hear their 500 within that time, and when
 * the disk has room again the retry writes everything kept. store.c logs
 * the fault and its end.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <sofia-sip/su_wait.h>

#include "sippushd.h"
#include "webhook.h"

#define COMMIT_QUEUE_MAX	4096	/* waiters: flush at once */
#define COMMIT_LAZY_MS		100	/* for writes nobody waits on */
#define COMMIT_RETRY_MS		1000	/* after a failed commit */
#define COMMIT_GROUP_ROWS	128	/* waiters worth holding a batch for */
#define COMMIT_SLACK_US		100	/* not worth re-arming the timer for */

struct commit_batch {
	struct store_batch	 rows;		/* plain values, its own */
	struct commit_waiter	*waiters;	/* told by commit_finish */
	size_t			 nwaiters;
	struct commit_job	*jobs;		/* run after the write */
	int			 rv;		/* the writer's outcome */
	int			 done;		/* under cm_lock */
	int			 nomem;		/* not handed: jobs not run */
	char			 err[256];	/* why it failed */
	int64_t			 started;	/* us, monotonic: handed over */
	int64_t			 written;	/* us: the write ended (metrics) */
};

static const struct config	*commit_cfg;
static int			 commit_tfd = -1;	/* the flush timer */
static su_wait_t		 commit_twait[1];
static int			 commit_tindex = -1;
static int64_t			 commit_due;	/* us, monotonic; 0: not armed */
static struct commit_waiter	*commit_queue;
static struct commit_waiter	**commit_tail = &commit_queue;
static size_t			 commit_nwaiting;
static struct commit_job	*commit_jobq;	/* for the next batch */
static struct commit_job	**commit_jobtail = &commit_jobq;
static int64_t			 commit_first;	/* us: the oldest waiter came */
static struct commit_rate	 commit_rate;	/* of waiters */
static int64_t			 commit_retry_at;	/* us; 0: last ok */
static struct commit_batch	*commit_inflight;	/* event loop's view */
static int			 commit_again;	/* flush when it is done */
static int			 commit_finishing;	/* telling the owners */

/* The writer thread and what it shares with the event loop. */
static pthread_mutex_t		 cm_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t		 cm_cond = PTHREAD_COND_INITIALIZER;
static struct commit_batch	*cm_handed;	/* for the writer to take */
static int			 cm_quit;
static int			 cm_running;	/* a writer thread exists */
static pthread_t		 cm_thread;
static int			 cm_efd = -1;	/* writer -> event loop */
static su_root_t		*cm_root;
static su_wait_t		 cm_wait[1];
static int			 cm_index = -1;

static void commit_finish(struct commit_batch *);
static void commit_reap(void);
static int commit_fire(su_root_magic_t *, su_wait_t *, su_wakeup_arg_t *);

/* ---- the batch ---- */

static void
commit_batch_free(struct commit_batch *b)
{
	if (b == NULL)
		return;
	store_batch_free(&b->rows);
	free(b);
}

/* Tell the owners of the rows in the batch how it went. */
static void
commit_owners_done(int ok)
{
	clients_batch_done(ok);
	dispatch_batch_done(ok);
	webhook_batch_done(ok);
}

/*
 * Give b the waiters and jobs whose client rows (those dirty when they
 * came, seq) are all in b or in a batch before it: the queue's first
 * ones, as they came in order. The others wait for the next batch: a
 * REGISTER's 200 never goes before its row is written, nor a read
 * before the changes made before it.
 */
static void
commit_take_covered(struct commit_batch *b, uint64_t covered)
{
	struct commit_waiter	**wp, *w, *whead = commit_queue, *wrest;
	struct commit_job	**jp, *j, *jhead = commit_jobq, *jrest;
	size_t			  n = 0;

	for (wp = &commit_queue; *wp && (*wp)->seq <= covered;
	    wp = &(*wp)->next)
		n++;
	wrest = *wp;
	*wp = NULL;
	b->waiters = n ? whead : NULL;
	b->nwaiters = n;
	commit_nwaiting -= n;
	commit_queue = wrest;
	commit_tail = &commit_queue;
	for (w = commit_queue; w; w = w->next)
		commit_tail = &w->next;
	for (jp = &commit_jobq; *jp && (*jp)->seq <= covered;
	    jp = &(*jp)->next)
		;
	jrest = *jp;
	*jp = NULL;
	b->jobs = jp != &commit_jobq ? jhead : NULL;
	commit_jobq = jrest;
	commit_jobtail = &commit_jobq;
	for (j = commit_jobq; j; j = j->next)
		commit_jobtail = &j->next;
}

/*
 * Have every owner copy its dirty rows into a new batch (and clear its
 * marks; clients.c at most CLIENTS_BATCH_MAX of them), with the waiters
 * and jobs queued now whose rows it covers. NULL when memory is short:
 * then the owners keep their rows dirty.
 */
static struct commit_batch *
commit_snapshot(void)
{
	struct commit_batch	*b;

	if ((b = calloc(1, sizeof(*b))) == NULL)
		return NULL;
	store_batch_init(&b->rows);
	if (clients_batch(&b->rows) == -1 ||
	    dispatch_batch(&b->rows) == -1 ||
	    webhook_batch(&b->rows) == -1) {
		commit_batch_free(b);	/* commit_finish tells the owners */
		return NULL;
	}
	commit_take_covered(b, clients_batch_covered());
	return b;
}

/* Write a batch in one transaction, on the calling thread's connection.
 * 0, or -1 (rolled back, the reason in b->err). */
static int
commit_write(struct commit_batch *b)
{
	if (store_batch_empty(&b->rows))
		return 0;
	if (store_write(&b->rows) == -1) {
		snprintf(b->err, sizeof(b->err), "%s", store_errmsg());
		return -1;
	}
	return 0;
}

/* Write the batch, then run its jobs, on the calling thread. */
static void
commit_run(struct commit_batch *b)
{
	struct commit_job	*j;

	b->rv = commit_write(b);
	b->written = clock_mono_us();
	for (j = b->jobs; j; j = j->next)
		j->run(j);
}

/* ---- the writer thread ---- */

static void *
commit_writer(void *arg)
{
	struct commit_batch	*b;
	uint64_t		 one = 1;

	(void)arg;
	store_use_writer();
	pthread_mutex_lock(&cm_lock);
	for (;;) {
		while (cm_handed == NULL && !cm_quit)
			pthread_cond_wait(&cm_cond, &cm_lock);
		if ((b = cm_handed) == NULL)
			break;
		cm_handed = NULL;
		pthread_mutex_unlock(&cm_lock);
		commit_run(b);
		pthread_mutex_lock(&cm_lock);
		b->done = 1;
		pthread_cond_broadcast(&cm_cond);
		if (write(cm_efd, &one, sizeof(one)) == -1 && errno != EAGAIN)
			log_error("commit: eventfd: %s", strerror(errno));
	}
	pthread_mutex_unlock(&cm_lock);
	return NULL;
}

/* The writer is done with the batch in flight (eventfd readable). */
static int
commit_event(su_root_magic_t *magic, su_wait_t *w, su_wakeup_arg_t *arg)
{
	uint64_t	 n;
	int		 done;

	(void)magic;
	(void)w;
	(void)arg;
	if (read(cm_efd, &n, sizeof(n)) == -1 && errno != EAGAIN)
		log_error("commit: eventfd: %s", strerror(errno));
	if (commit_inflight == NULL)
		return 0;	/* commit_drain took it already */
	pthread_mutex_lock(&cm_lock);
	done = commit_inflight->done;
	pthread_mutex_unlock(&cm_lock);
	if (!done)
		return 0;
	commit_reap();
	if (commit_again) {
		commit_again = 0;
		if (commit_retry_at == 0)	/* else the retry is armed */
			commit_start();
	}
	return 0;
}

int
commit_init(const struct config *cfg, su_root_t *root)
{
	sigset_t	 all, old;
	int		 rc;

	commit_cfg = cfg;
	cm_root = root;
	if ((commit_tfd = timerfd_create(CLOCK_MONOTONIC,
	    TFD_NONBLOCK | TFD_CLOEXEC)) == -1 ||
	    su_wait_create(commit_twait, commit_tfd, SU_WAIT_IN) == -1 ||
	    (commit_tindex = su_root_register(root, commit_twait, commit_fire,
	    NULL, 0)) == -1) {
		log_error("commit: cannot create the flush timer: %s",
		    strerror(errno));
		return -1;
	}
	if ((cm_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1 ||
	    su_wait_create(cm_wait, cm_efd, SU_WAIT_IN) == -1 ||
	    (cm_index = su_root_register(root, cm_wait, commit_event, NULL,
	    0)) == -1) {
		log_error("commit: cannot create the writer's eventfd: %s",
		    strerror(errno));
		return -1;
	}
	/* signals are for the event loop's thread */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&cm_thread, NULL, commit_writer, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		log_error("commit: cannot start the writer thread: %s",
		    strerror(rc));
		return -1;
	}
	pthread_setname_np(cm_thread, "sippushd-writer");
	cm_running = 1;
	return 0;
}

/* Write what is pending, tell the waiters, stop the writer, release the
 * timer. */
void
commit_shutdown(void)
{
	commit_flush();
	if (cm_running) {
		pthread_mutex_lock(&cm_lock);
		cm_quit = 1;
		pthread_cond_broadcast(&cm_cond);
		pthread_mutex_unlock(&cm_lock);
		pthread_join(cm_thread, NULL);
		cm_running = 0;
		cm_quit = 0;
	}
	if (cm_index != -1)
		su_root_deregister(cm_root, cm_index);
	cm_index = -1;
	if (cm_efd != -1)
		close(cm_efd);
	cm_efd = -1;
	if (commit_tindex != -1)
		su_root_deregister(cm_root, commit_tindex);
	commit_tindex = -1;
	if (commit_tfd != -1)
		close(commit_tfd);
	commit_tfd = -1;
	commit_due = 0;
}

/* ---- scheduling ---- */

/*
 * The flush timer is a timerfd in the event loop's poll set rather than
 * an su_timer: Sofia's loop rounds a timer's wait down to whole
 * milliseconds and polls with a zero timeout until the timer is due, a
 * busy spin of up to a millisecond before every flush, which at a few
 * hundred commits a second cost more CPU than the commits themselves.
 */
static int
commit_fire(su_root_magic_t *magic, su_wait_t *w, su_wakeup_arg_t *arg)
{
	uint64_t	 n;

	(void)magic;
	(void)w;
	(void)arg;
	if (read(commit_tfd, &n, sizeof(n)) == -1)
		return 0;	/* re-armed or disarmed meanwhile */
	commit_due = 0;
	commit_start();
	return 0;
}

/* Set the timer to fire at due (us; 0: disarm). -1 on error. */
static int
commit_timer_set(int64_t due)
{
	struct itimerspec	 its;

	memset(&its, 0, sizeof(its));
	its.it_value.tv_sec = due / 1000000;
	its.it_value.tv_nsec = (long)(due % 1000000) * 1000;
	return timerfd_settime(commit_tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

/* Make sure a flush starts by due (us, monotonic): arm the timer, or
 * bring it forward if it is due more than COMMIT_SLACK_US later. */
static void
commit_arm_at(int64_t due)
{
	if (commit_retry_at > due)	/* failing: not before the retry */
		due = commit_retry_at;
	if (commit_tfd == -1 || (commit_due && commit_due <= due +
	    COMMIT_SLACK_US))
		return;
	if (commit_timer_set(due) == 0)
		commit_due = due;
	else
		commit_start();
}

/* Make sure a flush comes within delay ms. */
static void
commit_arm(int delay)
{
	commit_arm_at(clock_mono_us() + (int64_t)delay * 1000);
}

/* ---- the adaptive delay ----
 *
 * A commit costs about the same for one row as for dozens (the
 * transaction, the WAL write, the fsync, two thread wake-ups), so at a
 * moderate rate it pays to hold a batch open for the rows about to come;
 * for a lone REGISTER it does not, and latency matters. The policy
 * watches the gaps between waiters and holds a batch only while more
 * rows are expected soon: never longer than database.commit_delay
 * after its first waiter (the bound), nor longer than it takes to
 * collect COMMIT_GROUP_ROWS at the current rate; at once after an idle
 * spell as long as the bound, or when the rate brings fewer than two
 * waiters per bound. Pure functions of the clock, tested in
 * test_commit.c.
 */

/* Note an arrival at now (us). bound: database.commit_delay in us. */
void
commit_rate_note(struct commit_rate *r, int64_t now, int64_t bound)
{
	int64_t	 g;

	g = r->last ? now - r->last : INT64_MAX;
	if (g < 0)
		g = 0;
	r->recent = g;
	if (g > bound)		/* an idle spell counts as one bound */
		g = bound;
	r->gap = r->last ? r->gap + (g - r->gap) / 8 : g;
	r->last = now;
}

/*
 * When (us) to start the batch whose oldest of queued waiters came at
 * first, now that one came at now (noted in r): now, or later but never
 * after first + bound.
 */
int64_t
commit_due_at(const struct commit_rate *r, int64_t now, int64_t first,
    size_t queued, int64_t bound)
{
	int64_t	 end = first + bound, fill;

	if (bound <= 0 || queued >= COMMIT_GROUP_ROWS || end <= now)
		return now;
	/* lone (nothing came for a whole bound), or a rate too low to
	 * bring two more within a bound */
	if (r->recent > bound || r->gap <= 0 || bound / r->gap < 2)
		return now;
	fill = now + (int64_t)(COMMIT_GROUP_ROWS - queued) * r->gap;
	return fill < end ? fill : end;
}

/* A flush within COMMIT_LAZY_MS: for writes whose loss in a crash costs
 * only a repeat (an acknowledgement lost means one more MESSAGE, which
 * the client drops as a duplicate), so that a fan-out's acks are written
 * in a few large transactions rather than one every few ms. */
void
commit_schedule_lazy(void)
{
	commit_arm(commit_cfg->db_commit_delay > COMMIT_LAZY_MS ?
	    commit_cfg->db_commit_delay : COMMIT_LAZY_MS);
}

/* Queue w to hear the outcome of the next commit. w must stay valid
 * until its callback runs; the callback may free it. */
void
commit_wait(struct commit_waiter *w)
{
	int64_t	 now = clock_mono_us(), due,
		 bound = (int64_t)commit_cfg->db_commit_delay * 1000;

	commit_rate_note(&commit_rate, now, bound);
	if (commit_nwaiting == 0)
		commit_first = now;
	w->next = NULL;
	w->seq = clients_dirty_seq();
	*commit_tail = w;
	commit_tail = &w->next;
	if (++commit_nwaiting >= COMMIT_QUEUE_MAX && commit_retry_at == 0) {
		commit_start();
		return;
	}
	/* the first waiter of a batch sets its time; a later one can only
	 * make it now (the batch is full, or the rate fell): re-arming the
	 * timer for every small change of the estimate would cost more
	 * than it saves */
	due = commit_due_at(&commit_rate, now, commit_first, commit_nwaiting,
	    bound);
	if (commit_nwaiting == 1 || due <= now)
		commit_arm_at(due);
}

/*
 * Queue a job for the writer side: j->run runs on the writer thread
 * (the store's calls are made there, never on the event loop), after
 * the batch that holds every change marked dirty until now, so that it
 * reads what is committed; j->done runs on the event loop afterwards
 * (j->failed set if run could not run, out of memory). j must stay
 * valid until done; done may free it. Without commit_init (unit tests)
 * both run at once, on this thread.
 */
void
commit_job(struct commit_job *j)
{
	j->next = NULL;
	j->failed = 0;
	j->seq = clients_dirty_seq();
	*commit_jobtail = j;
	commit_jobtail = &j->next;
	commit_start();
}

/* How many waiters have not heard yet, in flight or queued. */
size_t
commit_waiting(void)
{
	return commit_nwaiting +
	    (commit_inflight ? commit_inflight->nwaiters : 0);
}

/* ---- starting and finishing ---- */

/*
 * Start writing everything dirty and return at once: hand a batch to
 * the writer, or, while one is in flight, start the next as soon as it
 * is done. Without a writer thread the batch is written now.
 */
void
commit_start(void)
{
	struct commit_batch	*b;
	int			 rv;

again:
	if (commit_inflight || commit_finishing) {
		/* an owner told of a batch's outcome may start work (a
		 * take's job): its rows are not snapshot while the owners
		 * still hold the last batch's, but once they are told;
		 * waiters and jobs told after them may start a batch */
		commit_again = 1;
		return;
	}
	commit_again = 0;
	if (commit_due && commit_retry_at == 0) {
		/* the batch takes everything the timer was armed for */
		commit_timer_set(0);
		commit_due = 0;
	}
	if ((b = commit_snapshot()) == NULL) {
		struct commit_batch	 nomem;

		memset(&nomem, 0, sizeof(nomem));
		nomem.waiters = commit_queue;
		nomem.jobs = commit_jobq;
		commit_jobq = NULL;
		commit_jobtail = &commit_jobq;
		commit_queue = NULL;
		commit_tail = &commit_queue;
		commit_nwaiting = 0;
		nomem.rv = -1;
		nomem.nomem = 1;
		snprintf(nomem.err, sizeof(nomem.err), "out of memory");
		commit_finish(&nomem);
		return;
	}
	if (store_batch_empty(&b->rows) && b->jobs == NULL) {
		b->rv = 0;		/* nothing to write */
		commit_finish(b);
		commit_batch_free(b);
		return;
	}
	b->started = clock_mono_us();
	if (!cm_running) {
		commit_run(b);
		commit_finish(b);
		rv = b->rv;
		commit_batch_free(b);
		if (rv == 0 && (clients_dirty_left() || commit_again))
			goto again;
		return;
	}
	/* rows left for the next batch (clients.c took its most): it
	 * starts as soon as this one is done */
	if (clients_dirty_left())
		commit_again = 1;
	commit_inflight = b;
	pthread_mutex_lock(&cm_lock);
	cm_handed = b;
	pthread_cond_signal(&cm_cond);
	pthread_mutex_unlock(&cm_lock);
}

/* Wait for the batch in flight, if any, and report its outcome. */
static void
commit_reap(void)
{
	struct commit_batch	*b = commit_inflight;

	if (b == NULL)
		return;
	pthread_mutex_lock(&cm_lock);
	while (!b->done)
		pthread_cond_wait(&cm_cond, &cm_lock);
	pthread_mutex_unlock(&cm_lock);
	commit_inflight = NULL;
	commit_finish(b);
	commit_batch_free(b);
}

/* Is a batch being written? (Work that would have to wait for it with
 * commit_drain, and can as well come later, checks first.) */
int
commit_busy(void)
{
	return commit_inflight != NULL;
}

/*
 * Wait until no batch is in flight, for a write on the event loop's own
 * connection. A flush asked for meanwhile comes at the next turn of the
 * loop, after that write.
 */
void
commit_drain(void)
{
	int	 again = commit_again;

	commit_reap();
	if (again) {
		commit_again = 0;
		commit_arm(0);
	}
}

/*
 * Write everything dirty now (in as many batches as it takes) and wait
 * for the outcome (for the waiters too). Returns 0, or -1 if a commit
 * failed.
 */
int
commit_flush(void)
{
	struct commit_batch	*b;
	int			 rv;

	do {
		commit_reap();
		commit_start();
		if ((b = commit_inflight) == NULL)
			return commit_retry_at ? -1 : 0;
		pthread_mutex_lock(&cm_lock);
		while (!b->done)
			pthread_cond_wait(&cm_cond, &cm_lock);
		pthread_mutex_unlock(&cm_lock);
		rv = b->rv;
		commit_reap();
	} while (rv == 0 && clients_dirty_left());
	return rv;
}

/*
 * On the event loop, once b is written or failed: report to the owners
 * of its rows, tell its waiters, set the retry state.
 */
static void
commit_finish(struct commit_batch *b)
{
	struct commit_waiter	*w, *next;
	struct commit_job	*j, *jnext;

	if (b->started && !store_batch_empty(&b->rows))
		metrics_commit(b->written - b->started, b->rv == 0);
	if (b->rv != 0)
		log_debug("commit: transaction failed, retry in %dms: %s",
		    COMMIT_RETRY_MS, b->err);
	commit_finishing++;
	commit_owners_done(b->rv == 0);
	commit_finishing--;
	if (b->rv != 0) {
		/* the rows are marked again, later in the list: those who
		 * wait for the next batch wait for them too */
		struct commit_waiter	*q;
		struct commit_job	*qj;

		for (q = commit_queue; q; q = q->next)
			q->seq = clients_dirty_seq();
		for (qj = commit_jobq; qj; qj = qj->next)
			qj->seq = clients_dirty_seq();
	}
	for (w = b->waiters; w; w = next) {
		next = w->next;
		w->done(w, b->rv == 0);
	}
	for (j = b->jobs; j; j = jnext) {
		jnext = j->next;
		if (b->rv == -1 && b->nomem)
			j->failed = 1;
		j->done(j);
	}
	if (b->rv == -1) {
		commit_retry_at = 0;
		commit_arm(COMMIT_RETRY_MS);
		commit_retry_at = clock_mono_us() + COMMIT_RETRY_MS * 1000;
	} else
		commit_retry_at = 0;
	/* a commit_start deferred while the owners were told comes at the
	 * next turn of the loop (commit_event starts it sooner when it
	 * reaped this batch) */
	if (commit_again && commit_inflight == NULL && !commit_finishing)
		commit_arm(0);
}
