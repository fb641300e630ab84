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

/* 3xx and 503 to a REGISTER (failover.c). */
#define SIPPUSH_REDIRECT_MAX	5	/* 3xx followed in a row */
#define SIPPUSH_REDIRECT_TARGETS 8	/* Contacts of a 3xx tried */
#define SIPPUSH_HOLD_MAX	3600	/* s, longest Retry-After kept */

int	 sippush_qvalue(const char *);
size_t	 sippush_redirect_order(const int *q, size_t n, size_t *order);
int64_t	 sippush_hold_ms(unsigned long secs);

/* An SRV record's ordering fields (RFC 2782), failover.c. */
#define SIPPUSH_SRV_MAX		16	/* records of an answer used */
struct sippush_srv {
	unsigned	 priority;
	unsigned	 weight;
};

size_t	 sippush_srv_order(const struct sippush_srv *, size_t n,
	    uint32_t (*rnd)(void *), void *arg, size_t *order);

/* ---- edge.c: edge relay and its discovery ---- */

struct sippush_edge_announce {
	char	 id[SIPPUSH_ID_MAX + 1];
	int	 prio;
	char	 addr[16];	/* IPv4 */
	int	 port;
	int	 up;		/* the server answers it */
	int	 active;
};

struct sockaddr_in;
struct su_root_s;
struct sippush_discovery;
/* The active relay changed: "ip:port" and its ID, or NULL (none). */
typedef void	 sippush_discovery_fn(void *arg, const char *relay,
	    const char *id);

int64_t	 sippush_edge_now(void);
int	 sippush_edge_parse(const char *, size_t,
	    struct sippush_edge_announce *);
int	 sippush_edge_better(const struct sippush_edge_announce *,
	    const struct sippush_edge_announce *);
int	 sippush_edge_socket(const char *ifname, int port, char *addr,
	    size_t addrlen, struct sockaddr_in *bcast, char *err,
	    size_t errlen);
int	 sippush_discovery_create(struct sippush_discovery **,
	    struct su_root_s *, const char *ifname, int port, int lease,
	    sippush_discovery_fn *, void *arg, char *err, size_t errlen);
void	 sippush_discovery_destroy(struct sippush_discovery *);

#endif /* SIPPUSH_INT_H */
