/*
 * log.h: the logger shared by sippushd and sippush-agent. Lines carry
 * their subsystem as a prefix ("store: ..."); in the foreground they go to
 * stderr with a timestamp, otherwise to syslog (facility daemon).
 */
#ifndef SIPPUSH_LOG_H
#define SIPPUSH_LOG_H

#include <stdarg.h>

/* The same order as libsippush's enum sippush_log_level. */
enum log_level {
	LOG_LEVEL_ERROR,
	LOG_LEVEL_WARNING,
	LOG_LEVEL_NOTICE,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

void	 log_open(int foreground, int level, const char *ident);
void	 log_startup(int fd);
void	 log_vlog(int level, const char *, va_list);
void	 log_error(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_notice(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 fatalx(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

#endif /* SIPPUSH_LOG_H */
