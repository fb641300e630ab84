/*
 * log.c: sippush-agent's logger. Lines carry their subsystem as a prefix
 * ("hook: ..."). In the foreground they go to stderr with a timestamp,
 * otherwise to syslog (facility daemon). The library's lines (and
 * Sofia-SIP's, through it) come in by log_lib.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

static int	 log_foreground = 1;
static int	 log_startup_fd = -1;
static int	 log_level = SIPPUSH_LOG_INFO;

static const int log_prio[] = {
	LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG
};
static const char *const log_tag[] = {
	"error", "warning", "notice", "info", "debug"
};

static void
log_vwrite(int level, const char *fmt, va_list ap)
{
	struct timespec	 ts;
	struct tm	 tm;
	char		 when[32];

	if (level > log_level)
		return;
	if (!log_foreground) {
		vsyslog(log_prio[level], fmt, ap);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ld %s: ", when, ts.tv_nsec / 1000000,
	    log_tag[level]);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

/* level: an enum sippush_log_level. */
void
log_init(int foreground, int level)
{
	log_foreground = foreground;
	log_level = level;
	if (!foreground)
		openlog("sippush-agent", LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void
log_setlevel(int level)
{
	log_level = level;
}

static void
log_write(int level, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vwrite(level, fmt, ap);
	va_end(ap);
}

/* The library's logger (struct sippush_settings.on_log). */
void
log_lib(enum sippush_log_level level, const char *line, void *arg)
{
	(void)arg;
	log_write((int)level, "%s", line);
}

#define LOG_FN(name, level)					\
void								\
name(const char *fmt, ...)					\
{								\
	va_list	 ap;						\
								\
	va_start(ap, fmt);					\
	log_vwrite(level, fmt, ap);				\
	va_end(ap);						\
}

LOG_FN(log_error, SIPPUSH_LOG_ERROR)
LOG_FN(log_warn, SIPPUSH_LOG_WARNING)
LOG_FN(log_notice, SIPPUSH_LOG_NOTICE)
LOG_FN(log_info, SIPPUSH_LOG_INFO)
LOG_FN(log_debug, SIPPUSH_LOG_DEBUG)

/* While a daemon starts, fatal errors also go to fd (its parent's pipe,
 * so the person who started it sees why); -1 stops that. */
void
log_startup(int fd)
{
	log_startup_fd = fd;
}

/* Log at level error and exit 1. */
void
fatalx(const char *fmt, ...)
{
	va_list	 ap;
	char	 msg[1024];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_error("%s", msg);
	if (log_startup_fd != -1)
		dprintf(log_startup_fd, "%s\n", msg);
	exit(1);
}
