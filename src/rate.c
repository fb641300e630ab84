/*
 * rate.c: token buckets per source address, for the registrar's
 * registration.rate_per_source, auth's auth.max_failures and guard's
 * sip.source_rate (each with its own table).
 *
 * Each address (an IPv6 one by its /64: one host may hold a whole /64)
 * has a bucket kept as the "theoretical arrival time" of GCRA: a charge
 * moves it interval later, and a charge is allowed while it stays within
 * tolerance of now. The buckets live in a fixed table of RATE_SETS sets
 * of RATE_WAYS entries, indexed by a keyed hash (a peer cannot aim at
 * one set): a full set forgets its idlest entry (one whose bucket is full
 * again holds nothing worth keeping), so memory stays bounded whatever
 * the number of addresses.
 */
#include <netinet/in.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>

#include "sippushd.h"

void
rate_init(struct rate_table *t)
{
	memset(t->set, 0, sizeof(t->set));
	if (getrandom(&t->seed, sizeof(t->seed), GRND_NONBLOCK) !=
	    sizeof(t->seed))
		t->seed = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ULL;
}

/* The bucket key of a source address: IPv4 (also v4-mapped IPv6) whole,
 * IPv6 by its /64. 0, or -1 when the address is of no known family. */
int
rate_key(const struct sockaddr *sa, uint8_t key[RATE_KEY_LEN])
{
	const struct sockaddr_in	*sin;
	const struct sockaddr_in6	*sin6;
	const uint8_t			*a;

	memset(key, 0, RATE_KEY_LEN);
	if (sa == NULL)
		return -1;
	if (sa->sa_family == AF_INET) {
		sin = (const struct sockaddr_in *)(const void *)sa;
		key[0] = 4;
		memcpy(key + 1, &sin->sin_addr, 4);
		return 0;
	}
	if (sa->sa_family != AF_INET6)
		return -1;
	sin6 = (const struct sockaddr_in6 *)(const void *)sa;
	a = sin6->sin6_addr.s6_addr;
	if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
		key[0] = 4;
		memcpy(key + 1, a + 12, 4);
	} else {
		key[0] = 6;
		memcpy(key + 1, a, 8);
	}
	return 0;
}

static struct rate_entry *
rate_set(struct rate_table *t, const uint8_t key[RATE_KEY_LEN])
{
	uint64_t	 h = t->seed;
	size_t		 i;

	for (i = 0; i < RATE_KEY_LEN; i++) {
		h ^= key[i];
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 31;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 29;
	return t->set[h % RATE_SETS];
}

/* The bucket of key, or NULL if it has none. */
struct rate_entry *
rate_find(struct rate_table *t, const uint8_t key[RATE_KEY_LEN])
{
	struct rate_entry	*set = rate_set(t, key);
	int			 i;

	for (i = 0; i < RATE_WAYS; i++)
		if (set[i].used && memcmp(set[i].key, key, RATE_KEY_LEN) == 0)
			return &set[i];
	return NULL;
}

/* The bucket of key, found or made (forgetting the idlest of its set). */
struct rate_entry *
rate_entry(struct rate_table *t, const uint8_t key[RATE_KEY_LEN])
{
	struct rate_entry	*set = rate_set(t, key);
	struct rate_entry	*victim = &set[0];
	int			 i;

	for (i = 0; i < RATE_WAYS; i++) {
		if (set[i].used && memcmp(set[i].key, key, RATE_KEY_LEN) == 0)
			return &set[i];
		if (!victim->used)
			continue;
		if (!set[i].used || set[i].tat < victim->tat)
			victim = &set[i];
	}
	memset(victim, 0, sizeof(*victim));
	memcpy(victim->key, key, RATE_KEY_LEN);
	victim->used = 1;
	return victim;
}

/*
 * Would a charge at now (us) go past tolerance? 0 if it fits, else how
 * many us too early it comes.
 */
int64_t
rate_over(const struct rate_entry *e, int64_t now, int64_t tolerance)
{
	int64_t	 tat = e->tat > now ? e->tat : now;

	return tat - now <= tolerance ? 0 : tat - now - tolerance;
}

/* Charge one event of interval us at now. */
void
rate_charge(struct rate_entry *e, int64_t now, int64_t interval)
{
	e->tat = (e->tat > now ? e->tat : now) + interval;
}
