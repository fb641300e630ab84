/*
 * sippush_int.h: libsippush's internals, shared by its files and the
 * unit tests (tests/test_client.c); not installed.
 *
 * The policies are pure functions, kept apart from the SIP code so that
 * they can be tested alone: the memory of seen message IDs (dedup.c),
 * the order in which servers are tried and the waits between rounds
 * (failover.c).
 */
#ifndef SIPPUSH_INT_H
#define SIPPUSH_INT_H

#include <stddef.h>
#include <stdint.h>

#include "sippush.h"

/* ---- dedup.c: a bounded set of IDs, least recently seen out first ---- */

struct sippush_dedup;

int	 sippush_dedup_create(struct sippush_dedup **, size_t capacity);
void	 sippush_dedup_destroy(struct sippush_dedup *);
int	 sippush_dedup_valid(const char *id);
int	 sippush_dedup_add(struct sippush_dedup *, const char *id);
int	 sippush_dedup_check(struct sippush_dedup *, const char *id);
int	 sippush_dedup_contains(const struct sippush_dedup *, const char *id);
size_t	 sippush_dedup_count(const struct sippush_dedup *);
size_t	 sippush_dedup_capacity(const struct sippush_dedup *);
int	 sippush_dedup_foreach(const struct sippush_dedup *,
	    int (*)(const char *, void *), void *);

/* ---- failover.c: which server next, and how long to wait first ---- */

struct sippush_failover {
	size_t		 n;		/* servers in the list */
	size_t		 current;	/* in use, or being tried */
	size_t		 tried;		/* failed in this round */
	unsigned	 rounds;	/* whole rounds failed in a row */
};

void	 sippush_failover_init(struct sippush_failover *, size_t n);
int64_t	 sippush_failover_next(struct sippush_failover *, int initial,
	    int max, uint32_t random);
void	 sippush_failover_success(struct sippush_failover *);
void	 sippush_failover_switch(struct sippush_failover *, size_t index);
int64_t	 sippush_backoff(unsigned rounds, int initial, int max,
	    uint32_t random);

/* A server of the list, split (failover.c). */
struct sippush_hostport {
	char	 host[256];	/* without brackets */
	int	 port;		/* 5060 when not given */
	int	 ipv6;		/* host is an IPv6 literal */
	int	 has_port;	/* the port was given */
};

int	 sippush_parse_server(const char *, struct sippush_hostport *);

#endif /* SIPPUSH_INT_H */
