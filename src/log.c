/*
 * log.c: the daemon's logger. Messages carry their subsystem as a prefix
 * ("store: ..."). In the foreground they go to stderr with a timestamp,
 * otherwise to syslog. Sofia-SIP's own logs are routed here too.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <sofia-sip/su_log.h>

#include "sippushd.h"

extern su_log_t tport_log[];
extern su_log_t nta_log[];

static int		 log_foreground = 1;
static int		 log_startup_fd = -1;
static enum log_level	 log_level = LOG_LEVEL_INFO;

static const int log_prio[] = {
	LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG
};
static const char *const log_tag[] = {
	"error", "warning", "notice", "info", "debug"
};

static void
log_vwrite(enum log_level level, const char *fmt, va_list ap)
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
	log_foreground = foreground;
	log_level = level;
	if (!foreground)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	su_log_redirect(NULL, log_sofia_line, NULL);
	su_log_redirect(tport_log, log_sofia_line, NULL);
	su_log_redirect(nta_log, log_sofia_line, NULL);
}

void
log_setlevel(enum log_level level)
{
	log_level = level;
}

/* Sofia-SIP's verbosity, 0..9; its lines are logged at level debug. */
void
log_sofia(int level)
{
	su_log_set_level(NULL, (unsigned)level);
	su_log_set_level(tport_log, (unsigned)level);
	su_log_set_level(nta_log, (unsigned)level);
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

LOG_FN(log_error, LOG_LEVEL_ERROR)
LOG_FN(log_warn, LOG_LEVEL_WARNING)
LOG_FN(log_notice, LOG_LEVEL_NOTICE)
LOG_FN(log_info, LOG_LEVEL_INFO)
LOG_FN(log_debug, LOG_LEVEL_DEBUG)

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
