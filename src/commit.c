/*
 * commit.c: the group commit.
 *
 * Subsystems change their in-memory state and mark it dirty (clients in
 * clients.c, targets and messages in dispatch.c); a caller whose reply
 * promises durability queues a commit_waiter. A one-shot timer
 * (database.commit_delay ms) or a long queue runs commit_flush: one
 * transaction writes everything dirty, and only after COMMIT are the
 * waiters told (ok = 1). When the commit fails the waiters hear ok = 0
 * and the marks stay, so the next flush writes the same changes again.
 * Nothing is ever written once per packet.
 *
 * While commits fail (a store fault: disk full, I/O error, read-only),
 * a retry is armed COMMIT_RETRY_MS after each failure, and flushes asked
 * for sooner wait for it: the disk is tried at most once per
 * COMMIT_RETRY_MS, waiters hear their 500 within that time, and when
 * the disk has room again the retry writes everything kept. store.c logs
 * the fault and its end.
 */
#include <stdlib.h>
#include <time.h>

#include <sofia-sip/su_wait.h>

#include "sippushd.h"

#define COMMIT_QUEUE_MAX	4096	/* waiters: flush at once */
#define COMMIT_LAZY_MS		100	/* for writes nobody waits on */
#define COMMIT_RETRY_MS		1000	/* after a failed commit */

static const struct config	*commit_cfg;
static su_timer_t		*commit_timer;
static int64_t			 commit_due;	/* ms, monotonic; 0: not armed */
static struct commit_waiter	*commit_queue;
static struct commit_waiter	**commit_tail = &commit_queue;
static size_t			 commit_nwaiting;
static int64_t			 commit_retry_at;	/* ms; 0: last ok */

int
commit_init(const struct config *cfg, su_root_t *root)
{
	commit_cfg = cfg;
	if ((commit_timer = su_timer_create(su_root_task(root), 0)) == NULL)
		return -1;
	return 0;
}

/* Write what is pending, tell the waiters, release the timer. */
void
commit_shutdown(void)
{
	commit_flush();
	su_timer_destroy(commit_timer);
	commit_timer = NULL;
}

static void
commit_fire(su_root_magic_t *magic, su_timer_t *t, su_timer_arg_t *arg)
{
	(void)magic;
	(void)t;
	(void)arg;
	commit_due = 0;
	commit_flush();
}

static int64_t
commit_clock(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Make sure a flush comes within delay ms: arm the timer, or bring it
 * forward if it is due later. */
static void
commit_arm(int delay)
{
	int64_t	 now = commit_clock(), due = now + delay;

	if (commit_retry_at > due) {	/* failing: not before the retry */
		delay = (int)(commit_retry_at - now);
		due = commit_retry_at;
	}

	if (commit_timer == NULL || (commit_due && commit_due <= due))
		return;
	if (commit_due)
		su_timer_reset(commit_timer);
	if (su_timer_set_interval(commit_timer, commit_fire, NULL, delay) == 0)
		commit_due = due;
	else
		commit_flush();
}

/* A flush within database.commit_delay ms: somebody waits on it. */
void
commit_schedule(void)
{
	commit_arm(commit_cfg->db_commit_delay);
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
	w->next = NULL;
	*commit_tail = w;
	commit_tail = &w->next;
	if (++commit_nwaiting >= COMMIT_QUEUE_MAX && commit_retry_at == 0)
		commit_flush();
	else
		commit_schedule();
}

size_t
commit_waiting(void)
{
	return commit_nwaiting;
}

static int
commit_write_client(const struct client *c)
{
	if (c->dirty & CLIENT_DIRTY_DELETE)
		return store_delete_client(c->id);
	if (c->dirty & CLIENT_DIRTY_ROW)
		return store_put_client(c);
	return store_touch_client(c);
}

/*
 * Write every dirty client, message and target in one transaction, then
 * tell the waiters. Returns 0, or -1 if the commit failed.
 */
int
commit_flush(void)
{
	struct client		*list, *c;
	struct commit_waiter	*w, *next;
	int			 rv = 0, dirty_dispatch;

	list = clients_take_dirty();
	dirty_dispatch = dispatch_dirty();
	if (list || dirty_dispatch) {
		if (store_begin() == -1)
			rv = -1;
		for (c = list; rv == 0 && c; c = c->dnext)
			if (commit_write_client(c) == -1)
				rv = -1;
		if (rv == 0 && dirty_dispatch && dispatch_write() == -1)
			rv = -1;
		if (rv == 0 && store_commit() == -1)
			rv = -1;
		if (rv == -1) {
			store_rollback();
			clients_requeue_dirty(list);
			log_debug("commit: transaction failed, retry in %dms: "
			    "%s", COMMIT_RETRY_MS, store_errmsg());
		} else {
			clients_release(list);
			if (dirty_dispatch)
				dispatch_written();
		}
	}
	w = commit_queue;
	commit_queue = NULL;
	commit_tail = &commit_queue;
	commit_nwaiting = 0;
	for (; w; w = next) {
		next = w->next;
		w->done(w, rv == 0);
	}
	if (rv == -1) {
		commit_retry_at = 0;
		commit_arm(COMMIT_RETRY_MS);
		commit_retry_at = commit_clock() + COMMIT_RETRY_MS;
	} else
		commit_retry_at = 0;
	return rv;
}
