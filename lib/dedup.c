/*
 * dedup.c: the memory of seen message IDs, a bounded LRU set.
 *
 * Entries live in one array allocated up front (capacity of them), are
 * found through a chained hash table and kept on a doubly linked list in
 * the order they were last seen, oldest at the head. Adding to a full set
 * reuses the oldest entry. Nothing is allocated after creation.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sippush_int.h"

struct entry {
	struct entry	*hnext;		/* hash chain */
	struct entry	*prev, *next;	/* recency list */
	char		 id[SIPPUSH_ID_MAX + 1];
};

struct sippush_dedup {
	struct entry	*pool;
	size_t		 capacity;
	size_t		 used;		/* entries of pool handed out */
	struct entry	**table;
	size_t		 mask;		/* table size - 1 */
	struct entry	*oldest, *newest;
};

/* An ID: 1..SIPPUSH_ID_MAX printable ASCII characters, no space. */
int
sippush_dedup_valid(const char *id)
{
	size_t	 n;

	if (id == NULL)
		return 0;
	for (n = 0; id[n]; n++)
		if (n >= SIPPUSH_ID_MAX || id[n] <= ' ' || id[n] > '~')
			return 0;
	return n > 0;
}

/* FNV-1a */
static size_t
dedup_hash(const char *s)
{
	uint32_t	 h = 2166136261u;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

/* Create a set of at most capacity IDs: 0, EINVAL (capacity 0) or
 * ENOMEM. */
int
sippush_dedup_create(struct sippush_dedup **dp, size_t capacity)
{
	struct sippush_dedup	*d;
	size_t			 size = 16;

	*dp = NULL;
	if (capacity == 0 || capacity > (1u << 24))
		return EINVAL;
	while (size < capacity * 2)
		size *= 2;
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return ENOMEM;
	d->pool = calloc(capacity, sizeof(*d->pool));
	d->table = calloc(size, sizeof(*d->table));
	if (d->pool == NULL || d->table == NULL) {
		sippush_dedup_destroy(d);
		return ENOMEM;
	}
	d->capacity = capacity;
	d->mask = size - 1;
	*dp = d;
	return 0;
}

void
sippush_dedup_destroy(struct sippush_dedup *d)
{
	if (d == NULL)
		return;
	free(d->pool);
	free(d->table);
	free(d);
}

static struct entry *
dedup_find(const struct sippush_dedup *d, const char *id)
{
	struct entry	*e;

	for (e = d->table[dedup_hash(id) & d->mask]; e; e = e->hnext)
		if (strcmp(e->id, id) == 0)
			return e;
	return NULL;
}

static void
dedup_unlink(struct sippush_dedup *d, struct entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		d->oldest = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		d->newest = e->prev;
	e->prev = e->next = NULL;
}

static void
dedup_append(struct sippush_dedup *d, struct entry *e)
{
	e->prev = d->newest;
	e->next = NULL;
	if (d->newest)
		d->newest->next = e;
	else
		d->oldest = e;
	d->newest = e;
}

static void
dedup_unhash(struct sippush_dedup *d, struct entry *e)
{
	struct entry	**pp;

	for (pp = &d->table[dedup_hash(e->id) & d->mask]; *pp;
	    pp = &(*pp)->hnext)
		if (*pp == e) {
			*pp = e->hnext;
			break;
		}
	e->hnext = NULL;
}

/*
 * Record id as seen now: a new ID becomes the newest (pushing out the
 * oldest when the set is full), a known one moves to newest. Returns 0,
 * or EINVAL for an ID that sippush_dedup_valid refuses.
 */
int
sippush_dedup_add(struct sippush_dedup *d, const char *id)
{
	struct entry	*e;
	size_t		 slot;

	if (!sippush_dedup_valid(id))
		return EINVAL;
	if ((e = dedup_find(d, id)) != NULL) {
		dedup_unlink(d, e);
		dedup_append(d, e);
		return 0;
	}
	if (d->used < d->capacity)
		e = &d->pool[d->used++];
	else {
		e = d->oldest;
		dedup_unlink(d, e);
		dedup_unhash(d, e);
	}
	strcpy(e->id, id);
	slot = dedup_hash(id) & d->mask;
	e->hnext = d->table[slot];
	d->table[slot] = e;
	dedup_append(d, e);
	return 0;
}

/* Has id been seen? If so it counts as seen again (moves to newest).
 * Returns 1 or 0. */
int
sippush_dedup_check(struct sippush_dedup *d, const char *id)
{
	struct entry	*e;

	if (!sippush_dedup_valid(id) || (e = dedup_find(d, id)) == NULL)
		return 0;
	dedup_unlink(d, e);
	dedup_append(d, e);
	return 1;
}

/* Is id in the set? Changes nothing. Returns 1 or 0. */
int
sippush_dedup_contains(const struct sippush_dedup *d, const char *id)
{
	return sippush_dedup_valid(id) && dedup_find(d, id) != NULL;
}

size_t
sippush_dedup_count(const struct sippush_dedup *d)
{
	return d->used;
}

size_t
sippush_dedup_capacity(const struct sippush_dedup *d)
{
	return d->capacity;
}

/* Call fn on every ID, oldest first, until it returns non-zero; returns
 * that value, or 0. fn must not change the set. */
int
sippush_dedup_foreach(const struct sippush_dedup *d,
    int (*fn)(const char *, void *), void *arg)
{
	const struct entry	*e;
	int			 rv;

	for (e = d->oldest; e; e = e->next)
		if ((rv = fn(e->id, arg)) != 0)
			return rv;
	return 0;
}
