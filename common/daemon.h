/*
 * daemon.h: becoming a daemon whose start-up errors still reach the
 * person who started it; shared by sippushd and sippush-agent.
 */
#ifndef SIPPUSH_DAEMON_H
#define SIPPUSH_DAEMON_H

void	 daemon_start(const char *name);
void	 daemon_ready(const char *name);
void	 daemon_notify(const char *name, const char *state);

#endif /* SIPPUSH_DAEMON_H */
