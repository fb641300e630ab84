/*
 * webhook.h: delivery webhooks (webhook.c): the events a message's
 * state changes make, their durable outbox, and their delivery over
 * HTTP from the event loop; and the parts that do no I/O (the body, the
 * retry delay, the signature header).
 */
#ifndef SIPPUSH_WEBHOOK_H
#define SIPPUSH_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

/* "t=" UNIX ",v1=" 64 hex digits, and the NUL */
#define WEBHOOK_SIG_MAX	(2 + 20 + 4 + 64 + 1)
#define WEBHOOK_ID_LEN	16		/* hex digits of a delivery ID */

struct buf;
struct config;
struct message;
struct outbox_row;
struct target;
struct store_batch;
struct su_root_s;
struct webhook_flight;

/*
 * One event for one URL: a row of the outbox. Made by the dispatcher
 * (webhook_events) and kept on its message until the batch that writes
 * the message's change holds it too; then webhook_enqueue takes it, and
 * it lives until the batch that deletes its row (delivered or given up)
 * is committed.
 */
struct webhook_event {
	struct webhook_event	*next;		/* a message's new events */
	struct webhook_event	*dnext;		/* the dirty list */
	char			 id[WEBHOOK_ID_LEN + 1];
	const char		*event;		/* "finished", "target_failed" */
	char			*url;		/* NULL: webhooks.url's first */
	char			*body;		/* the JSON */
	int64_t			 created_at;	/* unix s */
	int			 attempts;
	int64_t			 next_attempt;	/* unix ms */
	size_t			 slot;		/* retry heap slot + 1; 0: out */
	struct webhook_flight	*flight;	/* its request; NULL: none */
	uint8_t			 op;		/* row to write: 0, STORE_TOUCH
						   or STORE_DELETE */
	uint8_t			 dirty;		/* on the dirty list */
	uint8_t			 orphan;	/* out of the heap for want of
						   memory: freed once written */
};

int64_t	 webhook_backoff(int attempts, int64_t min_ms, int64_t max_ms,
	    uint32_t rnd);
int	 webhook_sign(const void *secret, size_t secret_len, int64_t t,
	    const char *body, size_t body_len, char *out, size_t outlen);
char	*webhook_body(const char *delivery_id, const struct message *,
	    const struct target *, int64_t now);
const char *webhook_finished_state(const struct message *);

void	 webhook_configure(const struct config *);
int	 webhook_events(const struct message *, const struct target *,
	    struct webhook_event **list);
void	 webhook_events_free(struct webhook_event *list);
void	 webhook_outbox_row(const struct webhook_event *, int op,
	    struct outbox_row *);
int	 webhook_init(const struct config *, struct su_root_s *);
int	 webhook_restore(void);
int	 webhook_adopt(const struct outbox_row *);
void	 webhook_enqueue(struct webhook_event *list);
int	 webhook_batch(struct store_batch *);
void	 webhook_batch_done(int ok);
void	 webhook_quiesce(void);
void	 webhook_shutdown(void);
void	 webhook_stats(struct buf *);

#endif /* SIPPUSH_WEBHOOK_H */
