/*
 * log.c: the daemon's side of the shared logger (common/log.c): opening
 * it, and routing Sofia-SIP's own logs into it at level debug.
 */
#include <stdarg.h>
#include <stdio.h>

#include <sofia-sip/su_log.h>

#include "sippushd.h"

extern su_log_t tport_log[];
extern su_log_t nta_log[];

/* Sofia's lines end in '\n' and may come in pieces: collect them. */
static void
log_sofia_line(void *arg, char const *fmt, va_list ap)
{
	static char	 line[1024];
	static size_t	 len;
	int		 n;

	(void)arg;
	n = vsnprintf(line + len, sizeof(line) - len, fmt, ap);
	if (n < 0)
		return;
	len += (size_t)n;
	if (len >= sizeof(line) - 1)
		len = sizeof(line) - 1;
	if (len == 0 || line[len - 1] != '\n')
		return;
	line[len - 1] = '\0';
	log_debug("sofia: %s", line);
	len = 0;
}

void
log_init(int foreground, enum log_level level, const char *ident)
{
	log_open(foreground, level, ident);
	su_log_redirect(NULL, log_sofia_line, NULL);
	su_log_redirect(tport_log, log_sofia_line, NULL);
	su_log_redirect(nta_log, log_sofia_line, NULL);
}

/* Sofia-SIP's verbosity, 0..9; its lines are logged at level debug. */
void
log_sofia(int level)
{
	su_log_set_level(NULL, (unsigned)level);
	su_log_set_level(tport_log, (unsigned)level);
	su_log_set_level(nta_log, (unsigned)level);
}
