/*
 * log.c: the logger shared by sippushd and sippush-agent (see log.h).
 * Each program adds its own sources of lines: Sofia-SIP's logs for the
 * daemon (src/log.c), the library's for the agent (agent/log.c).
 */
#include <sys/stat.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static int	 log_foreground = 1;
static int	 log_journal;		/* stderr is systemd's journal */
static int	 log_startup_fd = -1;
static int	 log_level = LOG_LEVEL_INFO;

static const int log_prio[] = {
	LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG
};
static const char *const log_tag[] = {
	"error", "warning", "notice", "info", "debug"
};

/*
 * Is stderr the journal? systemd says so in JOURNAL_STREAM ("DEV:INODE"
 * of the stream it gave us); a stderr redirected since does not match.
 */
static int
log_stderr_is_journal(void)
{
	const char		*env = getenv("JOURNAL_STREAM");
	struct stat		 st;
	unsigned long long	 dev, ino;

	if (env == NULL || sscanf(env, "%llu:%llu", &dev, &ino) != 2 ||
	    fstat(STDERR_FILENO, &st) == -1)
		return 0;
	return (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

/* Log to stderr (foreground) or to syslog as ident, up to level. On a
 * stderr that is the journal, lines carry their priority as "<N>" (see
 * sd-daemon(3)) instead of the time, which the journal keeps itself. */
void
log_open(int foreground, int level, const char *ident)
{
	log_foreground = foreground;
	log_level = level;
	log_journal = foreground && log_stderr_is_journal();
	if (!foreground)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void
log_vlog(int level, const char *fmt, va_list ap)
{
	struct timespec	 ts;
	struct tm	 tm;
	char		 when[32];

	if (level < LOG_LEVEL_ERROR || level > log_level)
		return;
	if (!log_foreground) {
		vsyslog(log_prio[level], fmt, ap);
		return;
	}
	if (log_journal) {
		fprintf(stderr, "<%d>", log_prio[level]);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
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

#define LOG_FN(name, level)					\
void								\
name(const char *fmt, ...)					\
{								\
	va_list	 ap;						\
								\
	va_start(ap, fmt);					\
	log_vlog(level, fmt, ap);				\
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
