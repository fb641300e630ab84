/*
 * clock.c: the daemon's one clock.
 *
 * Two readings: the wall clock (CLOCK_REALTIME), for what is stored or
 * shown (created_at, expires_at, last_seen, nonces, uptime), and the
 * monotonic clock, for intervals (rate buckets, the commit timer, how
 * long a store fault lasts), which a step of the wall clock must not
 * stretch or shrink. Unit tests may replace the wall clock (clock_fake).
 */
#include <time.h>

#include "sippushd.h"

static int64_t	(*clock_wall_fake)(void);

/* Tests: read the wall clock, in ms, from fn from now on (NULL: the real
 * one again). */
void
clock_fake(int64_t (*fn)(void))
{
	clock_wall_fake = fn;
}

/* The wall clock in ms since the epoch. */
int64_t
clock_now_ms(void)
{
	struct timespec	 ts;

	if (clock_wall_fake)
		return clock_wall_fake();
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The wall clock in seconds since the epoch. */
int64_t
clock_now(void)
{
	return clock_now_ms() / 1000;
}

/* The monotonic clock in us (from an unspecified start). */
int64_t
clock_mono_us(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
