/*
 * log.c: the agent's side of the shared logger (common/log.c): opening
 * it, and taking the library's lines (and Sofia-SIP's, through it).
 */
#include "agent.h"

/* level: an enum sippush_log_level (the same values as log.h's). */
void
log_init(int foreground, int level)
{
	log_open(foreground, level, "sippush-agent");
}

static void
log_write(int level, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vlog(level, fmt, ap);
	va_end(ap);
}

/* The library's logger (struct sippush_settings.on_log). */
void
log_lib(enum sippush_log_level level, const char *line, void *arg)
{
	(void)arg;
	log_write((int)level, "%s", line);
}
