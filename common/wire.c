/*
 * wire.c: the one test of a client ID or class, for the daemon, the
 * library and the agent alike.
 */
#include "wire.h"

/* 1 if s is 1..max bytes of A-Z a-z 0-9 . _ -, else 0 (NULL too). The
 * same in every locale: no isalnum, which a Latin-1 locale lets take
 * bytes the other side refuses. */
int
wire_valid_name(const char *s, size_t max)
{
	size_t	 n;

	if (s == NULL)
		return 0;
	for (n = 0; s[n]; n++)
		if (n >= max || !((s[n] >= 'a' && s[n] <= 'z') ||
		    (s[n] >= 'A' && s[n] <= 'Z') ||
		    (s[n] >= '0' && s[n] <= '9') ||
		    s[n] == '.' || s[n] == '_' || s[n] == '-'))
			return 0;
	return n > 0;
}
