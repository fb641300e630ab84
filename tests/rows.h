/*
 * rows.h: messages and targets written to the store and read back, for
 * the unit tests of the store (test_store.c, every backend) and of the
 * dispatcher (test_dispatch.c).
 */
#ifndef ROWS_H
#define ROWS_H

#include "sippushd.h"

#define ROWS_MAX	8
#define T0		1700000000LL	/* unix seconds */

/* Deep copies of what the store_load_* callbacks saw. */
struct msgs {
	int			 n;
	int			 stop_after;	/* -1 after this many; 0 never */
	struct message_row	 r[ROWS_MAX];
};

/* a target's row read back, its state parsed */
struct tgt_rec {
	const char	*client;
	int		 state;
	uint32_t	 attempts;
	int64_t		 next_attempt;
	int64_t		 last_attempt;
	int64_t		 acked_at;
	int		 last_status;
};

struct tgts {
	int			 n;
	struct tgt_rec		 r[ROWS_MAX];
};

/* A message as dispatch.c builds it, with n targets taken from spec. */
struct tspec {
	const char	*client;
	int		 state;
	uint32_t	 attempts;
	int		 last_status;
	int64_t		 last_attempt;	/* ms */
	int64_t		 next_attempt;	/* ms */
	int64_t		 acked_at;	/* s */
};

int	 msgs_collect(const struct message_row *, void *);
void	 msgs_free(struct msgs *);
int	 load_msgs(struct msgs *, const char *id, int active_only, int limit);
const struct message_row *msgs_find(const struct msgs *, const char *id);
void	 tgts_free(struct tgts *);
int	 load_tgts(struct tgts *, const char *id);
void	 message_fill(struct message *, struct target *, const char *id,
	    const char *selector, const char *body, int64_t created, int ttl,
	    const struct tspec *, size_t n);
int	 put_all(const struct message *);
void	 assert_counts(const struct message_row *, size_t pending,
	    size_t acked, size_t expired, size_t failed, size_t cancelled);

#endif /* ROWS_H */
