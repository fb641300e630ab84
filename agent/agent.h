/*
 * agent.h: types and prototypes shared by sippush-agent's files.
 *
 * One banner per source file; each file's functions carry its name.
 * The agent is built on libsippush (lib/sippush.h) and adds what a
 * program needs around it: settings, a hook per message, a state file
 * that keeps a hook from running twice for a message ID across restarts,
 * logging and daemon mode.
 */
#ifndef AGENT_H
#define AGENT_H

#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "log.h"
#include "sippush.h"

struct option;

#ifndef SIPPUSH_VERSION
#define SIPPUSH_VERSION "0.0.0"
#endif
#ifndef AGENT_CONFFILE
#define AGENT_CONFFILE "/etc/sippush-agent.conf"
#endif
#ifndef AGENT_STATEFILE
#define AGENT_STATEFILE "/var/lib/sippush/agent.seen"
#endif

/* ---- config.c ---- */

/* The effective settings; every field has a default (config_defaults). */
struct config {
	char	*path;			/* file read, NULL: built-in defaults */

	char	**servers;		/* server.list, NULL-terminated */
	int	 nservers;
	int	 transport;		/* enum sippush_transport */
	int	 expires;		/* s */
	int	 heartbeat;		/* s, 0: off */
	int	 timeout;		/* ms */
	int	 retry_initial;		/* ms */
	int	 retry_max;		/* ms */
	int	 failback;		/* s, 0: off */

	char	*client_id;
	char	*client_class;		/* NULL: the server's default */

	char	*sip_address;
	int	 sip_port;
	int	 sip_log_level;

	char	*username;		/* stored, not used yet */
	char	*password;

	int	 answer_timeout;	/* ms */
	int	 remember;		/* message IDs */
	int	 max_pending;
	int	 any_source;
	char	*state_file;

	char	*hook;			/* NULL: print JSON lines */
	int	 hook_timeout;		/* s */
	int	 hook_max;		/* hooks running at once */
	int	 hook_rerun;		/* run an interrupted hook again */

	int	 log_level;		/* enum sippush_log_level */

	char	*tls_ca_file;		/* NULL: the system's CA bundle */
	char	*resolv_conf;		/* DNS (SRV): NULL: /etc/resolv.conf */
	int	 tls_insecure;		/* tests only */

	int	 relay_mode;		/* RELAY_OFF, RELAY_SERVE, RELAY_USE */
	char	*relay_interface;	/* the LAN interface */
	char	*relay_id;		/* NULL: client.id */
	int	 relay_priority;
	int	 relay_port;		/* its SIP port on the LAN */
	int	 relay_discovery_port;
	int	 relay_announce;	/* ms */
	int	 relay_lease;		/* ms */
};

/* getopt values of the flags with no short form and no setting */
#define AGENT_OPT_SEND		0x1001	/* --send ID BODY */
#define AGENT_OPT_STORE		0x1002	/* --store, with --send */
enum { RELAY_OFF, RELAY_SERVE, RELAY_USE };

/* A command-line setting, applied over the file (config_apply). */
struct config_flag {
	int		 opt;		/* getopt value of the flag */
	const char	*value;
};

void	 config_defaults(struct config *);
int	 config_load(struct config *, const char *path, char *err,
	    size_t errlen);
int	 config_apply(struct config *, const struct config_flag *, size_t n,
	    char *err, size_t errlen);
int	 config_check(struct config *, char *err, size_t errlen);
void	 config_free(struct config *);
void	 config_print(const struct config *, FILE *);
const struct option *config_long_options(void);
const char *config_short_options(void);
int	 config_is_setting(int opt);

/* ---- edge.c: the edge relay's thread (relay.mode "serve") ---- */

int	 edge_start(const struct config *, char *err, size_t errlen);
void	 edge_signal(void);
void	 edge_stop(void);

/* ---- log.c (with common/log.h) ---- */

void	 log_init(int foreground, int level);
void	 log_lib(enum sippush_log_level, const char *line, void *arg);

/* ---- state.c: the state file of message IDs taken, and of hooks started
 * and not finished ---- */

int	 state_load(struct sippush *, const char *path, int max, char *err,
	    size_t errlen);
void	 state_close(void);
int	 state_save(void);
int	 state_interrupted(const char *id);
int	 state_start(const char *id);
int	 state_taken(const char *id);
void	 state_failed(const char *id);

/* ---- hook.c: a hook per message, or a JSON line ---- */

int	 hook_init(const struct config *, struct sippush *);
int	 hook_message(struct sippush *, struct sippush_message *, void *);
void	 hook_reap(void);
int	 hook_wait_ms(void);
int64_t	 hook_now(void);
int	 hook_child_reap(pid_t, int64_t deadline, int *killed, int64_t now,
	    int *status);
int64_t	 hook_child_wait(int64_t deadline, int killed, int64_t now);
void	 hook_stop_all(int grace_ms);
int	 hook_json(FILE *, const struct sippush_message *);
void	 hook_json_string(FILE *, const char *, size_t);

/* ---- request.c: requests relayed from other clients, and --send ---- */

#define REQUEST_OUTPUT_MAX	1300	/* bytes of a hook's answer: what
					   fits a UDP MESSAGE's answer */

void	 request_init(const struct config *, struct sippush *);
void	 request_hook(struct sippush *, struct sippush_request *, void *);
void	 request_reap(void);
int	 request_wait_ms(void);
void	 request_stop_all(void);
int	 request_send(struct sippush *, const char *to, const char *body,
	    int store, int wait_ms);

#endif /* AGENT_H */
