/*
 * failover.c: the order in which a client tries its servers, and how
 * long it waits between rounds.
 *
 * The list is in order of preference. When the server in use (or being
 * tried) fails, the next one is tried at once; when every server has
 * failed in a row (a round), the client waits, longer after each failed
 * round (exponential backoff with jitter), and starts again from the
 * first. A successful registration ends the rounds. Coming back to an
 * earlier server while registered with a later one (failback) is the
 * caller's decision; sippush_failover_switch records it.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sippush_int.h"

#define FAILOVER_JITTER	20	/* percent either way */

void
sippush_failover_init(struct sippush_failover *f, size_t n)
{
	memset(f, 0, sizeof(*f));
	f->n = n;
}

/*
 * The wait before the next try after rounds whole rounds failed, in ms:
 * initial, doubled per further round, at most max, spread by +-20%
 * using random (never above max). 0 when rounds is 0.
 */
int64_t
sippush_backoff(unsigned rounds, int initial, int max, uint32_t random)
{
	int64_t		 d = initial, spread;
	unsigned	 i;

	if (rounds == 0 || initial <= 0)
		return 0;
	for (i = 1; i < rounds && d < max; i++)
		d *= 2;
	if (d > max)
		d = max;
	spread = d * FAILOVER_JITTER / 100;
	if (spread > 0)
		d += (int64_t)(random % (uint32_t)(2 * spread + 1)) - spread;
	return d > max ? max : d;
}

/*
 * The current server failed: move to the next one. Returns how long to
 * wait before trying it (ms): 0 within a round; a backoff when the round
 * is complete, and then the next is the first of the list.
 */
int64_t
sippush_failover_next(struct sippush_failover *f, int initial, int max,
    uint32_t random)
{
	if (f->n == 0)
		return sippush_backoff(++f->rounds, initial, max, random);
	if (++f->tried < f->n) {
		f->current = (f->current + 1) % f->n;
		return 0;
	}
	f->tried = 0;
	f->current = 0;
	return sippush_backoff(++f->rounds, initial, max, random);
}

/* The current server accepted the registration. */
void
sippush_failover_success(struct sippush_failover *f)
{
	f->tried = 0;
	f->rounds = 0;
}

/* Use server index from now on (failback to an earlier server). */
void
sippush_failover_switch(struct sippush_failover *f, size_t index)
{
	if (index < f->n)
		f->current = index;
	f->tried = 0;
}

static int
parse_port(const char *s, int *port)
{
	char	*end;
	long	 v;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (*end || errno || v < 1 || v > 65535)
		return -1;
	*port = (int)v;
	return 0;
}

/*
 * Split a server of the list: "host", "host:port", "[v6]" or
 * "[v6]:port" (port 5060 when absent); a bare IPv6 address has no port.
 * Returns 0, or -1 if s is none of these.
 */
int
sippush_parse_server(const char *s, struct sippush_hostport *hp)
{
	const char	*end, *colon, *p;
	size_t		 len;

	memset(hp, 0, sizeof(*hp));
	hp->port = 5060;
	if (s == NULL || *s == '\0')
		return -1;
	if (*s == '[') {
		if ((end = strchr(s, ']')) == NULL)
			return -1;
		len = (size_t)(end - s - 1);
		if (end[1] == ':' && parse_port(end + 2, &hp->port) == -1)
			return -1;
		hp->has_port = end[1] == ':';
		if (end[1] != '\0' && end[1] != ':')
			return -1;
		s++;
		hp->ipv6 = 1;
	} else if ((colon = strchr(s, ':')) != NULL &&
	    strchr(colon + 1, ':') == NULL) {
		len = (size_t)(colon - s);
		if (parse_port(colon + 1, &hp->port) == -1)
			return -1;
		hp->has_port = 1;
	} else {
		len = strlen(s);
		hp->ipv6 = colon != NULL;
	}
	if (len == 0 || len >= sizeof(hp->host))
		return -1;
	for (p = s; p < s + len; p++)
		if (hp->ipv6 ? !(isxdigit((unsigned char)*p) || *p == ':' ||
		    *p == '.') : !(isalnum((unsigned char)*p) || *p == '.' ||
		    *p == '-' || *p == '_'))
			return -1;
	memcpy(hp->host, s, len);
	hp->host[len] = '\0';
	return 0;
}

/*
 * A 3xx's Contact q-value ("0.5", "1", "1.000"; NULL: absent) in
 * thousandths: 1000 when absent, -1 when malformed (RFC 3261 25.1:
 * "0" ["." 0*3DIGIT] / "1" ["." 0*3("0")]).
 */
int
sippush_qvalue(const char *q)
{
	int	 v, i, scale = 100;

	if (q == NULL)
		return 1000;
	if ((q[0] != '0' && q[0] != '1') || (q[1] != '\0' && q[1] != '.'))
		return -1;
	v = (q[0] - '0') * 1000;
	if (q[1] == '\0')
		return v;
	for (i = 2; q[i]; i++, scale /= 10) {
		if (i > 4 || !isdigit((unsigned char)q[i]))
			return -1;
		v += (q[i] - '0') * scale;
	}
	return v > 1000 ? -1 : v;
}

/*
 * The order in which to try n redirect targets of q-values q[] (in
 * thousandths): highest q first, in their given order among equals.
 * Fills order[] with indexes into q[]; those with q < 0 are left out.
 * Returns how many order[] has.
 */
size_t
sippush_redirect_order(const int *q, size_t n, size_t *order)
{
	size_t	 i, j, k = 0;

	for (i = 0; i < n; i++) {
		if (q[i] < 0)
			continue;
		for (j = k; j > 0 && q[order[j - 1]] < q[i]; j--)
			order[j] = order[j - 1];
		order[j] = i;
		k++;
	}
	return k;
}

/*
 * How long (ms) to keep off a server that answered 503 with a
 * Retry-After of secs seconds: secs, at most SIPPUSH_HOLD_MAX seconds.
 */
int64_t
sippush_hold_ms(unsigned long secs)
{
	if (secs > SIPPUSH_HOLD_MAX)
		secs = SIPPUSH_HOLD_MAX;
	return (int64_t)secs * 1000;
}

/*
 * RFC 2782 order of n SRV records: lowest priority first; among equal
 * priorities a weighted random pick, one after the other (zero weights
 * first in the running sum, so they are rarely picked first). rnd()
 * gives the random numbers (a fixed source in tests). Fills order[]
 * with indexes into rr[] and returns n.
 */
size_t
sippush_srv_order(const struct sippush_srv *rr, size_t n,
    uint32_t (*rnd)(void *), void *arg, size_t *order)
{
	size_t		 i, j, k = 0, lo, left, t;
	uint32_t	 sum, run, r;

	if (n > SIPPUSH_SRV_MAX)
		n = SIPPUSH_SRV_MAX;
	/* by priority, zero weights first, stable otherwise */
	for (i = 0; i < n; i++) {
		for (j = i; j > 0 && (rr[order[j - 1]].priority >
		    rr[i].priority || (rr[order[j - 1]].priority ==
		    rr[i].priority && rr[order[j - 1]].weight > 0 &&
		    rr[i].weight == 0)); j--)
			order[j] = order[j - 1];
		order[j] = i;
	}
	while (k < n) {
		for (lo = k; k < n && rr[order[k]].priority ==
		    rr[order[lo]].priority; k++)
			;
		/* order[lo..k) is one priority: pick them by weight */
		for (left = lo; left < k; left++) {
			for (sum = 0, j = left; j < k; j++)
				sum += rr[order[j]].weight;
			r = rnd(arg) % (sum + 1);
			for (run = 0, j = left; j < k; j++) {
				run += rr[order[j]].weight;
				if (run >= r)
					break;
			}
			if (j == k)
				j = k - 1;
			t = order[j];
			memmove(&order[left + 1], &order[left],
			    (j - left) * sizeof(*order));
			order[left] = t;
		}
	}
	return n;
}
