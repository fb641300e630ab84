/*
 * sippushd.h: types and prototypes shared by the daemon's subsystems.
 *
 * One banner per source file; each file's functions carry its name.
 * The control protocol, shared with sippushctl, lives in proto.h.
 */
#ifndef SIPPUSHD_H
#define SIPPUSHD_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <stdarg.h>

#include "proto.h"

#ifndef SIPPUSH_VERSION
#define SIPPUSH_VERSION "0.0.0"
#endif
#ifndef SIPPUSH_CONFFILE
#define SIPPUSH_CONFFILE "/etc/sippushd.conf"
#endif
#ifndef SIPPUSH_DBPATH
#define SIPPUSH_DBPATH "/var/lib/sippush/sippush.db"
#endif
#ifndef SIPPUSH_SOCKET
#define SIPPUSH_SOCKET "/run/sippush/sippushd.sock"
#endif

#define CLIENT_ID_MAX		64	/* bytes in a client ID */
#define CLIENT_CLASS_MAX	32	/* bytes in a class name */
#define CLIENT_CONTACT_MAX	512	/* bytes of a stored Contact */
#define CLIENT_UA_MAX		128	/* bytes of a stored User-Agent */

struct su_root_s;
struct su_home_s;
struct nta_agent_s;
struct msg_s;
struct sip_s;

/* ---- config.c ---- */

enum log_level {
	LOG_LEVEL_ERROR,
	LOG_LEVEL_WARNING,
	LOG_LEVEL_NOTICE,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

/* The effective settings; every field has a default (config_defaults). */
struct config {
	char	*path;			/* file read, NULL for built-in defaults */

	char	*sip_address;		/* address to bind, "0.0.0.0" = all */
	int	 sip_port;
	int	 sip_udp;		/* transports enabled */
	int	 sip_tcp;
	int	 sip_max_size;		/* largest SIP message accepted, bytes */

	char	*db_path;
	int	 db_sync_full;		/* synchronous=FULL (else NORMAL) */
	int	 db_commit_delay;	/* ms a write may wait to be grouped */

	int	 reg_min_expires;	/* seconds */
	int	 reg_max_expires;
	int	 reg_default_expires;
	int	 reg_retain;		/* seconds a lapsed registration stays */
	char	*reg_default_class;

	int	 hb_timeout;		/* seconds of silence before offline, 0 off */
	int	 hb_sweep_interval;	/* seconds between liveness sweeps */

	char	*ctl_socket;

	enum log_level log_level;
	int	 log_sip_level;		/* Sofia-SIP's own level, 0..9 */
};

void	 config_defaults(struct config *);
int	 config_load(struct config *, const char *path, char *err, size_t errlen);
void	 config_free(struct config *);
void	 config_print(const struct config *, FILE *);
const char *config_log_level_name(enum log_level);

/* ---- log.c ---- */

void	 log_init(int foreground, enum log_level level, const char *ident);
void	 log_setlevel(enum log_level);
void	 log_sofia(int level);
void	 log_startup(int fd);
void	 log_error(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_notice(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 fatalx(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

/* ---- clients.c: the application-information table, in memory ---- */

enum client_state {
	CLIENT_ONLINE,		/* registered, heartbeats arriving */
	CLIENT_OFFLINE,		/* registered, heartbeats stopped */
	CLIENT_EXPIRED,		/* registration ran out, row retained */
	CLIENT_UNREGISTERED,	/* client sent Expires: 0, row retained */
};

enum transport {
	TRANSPORT_UDP,
	TRANSPORT_TCP,
	TRANSPORT_TLS,
};

/* Persistence marks: what a client row needs written to the store. */
#define CLIENT_DIRTY_ROW	0x01	/* whole row, durable before reply */
#define CLIENT_DIRTY_SEEN	0x02	/* last_seen/state only, lazy */
#define CLIENT_DIRTY_DELETE	0x04	/* remove the row */

struct client {
	struct client	*hnext;		/* hash chain */
	struct client	*dnext;		/* dirty list */
	char		*id;
	char		*class;
	char		*contact;	/* as the client sent it */
	char		*user_agent;	/* may be NULL */
	char		 address[46];	/* source IP the registration came from */
	uint16_t	 port;		/* source port */
	uint8_t		 transport;	/* enum transport */
	uint8_t		 state;		/* enum client_state */
	uint8_t		 dirty;		/* CLIENT_DIRTY_* */
	int64_t		 registered_at;	/* unix seconds */
	int64_t		 expires_at;
	int64_t		 last_seen;
};

/* Fields of a registration, as parsed from a REGISTER. */
struct registration {
	const char	*id;
	const char	*class;
	const char	*contact;
	const char	*user_agent;
	const char	*address;
	uint16_t	 port;
	enum transport	 transport;
	int64_t		 now;
	int		 expires;	/* granted, seconds; 0 unregisters */
};

struct clients_stats {
	size_t	total;
	size_t	by_state[4];
};

int	 clients_init(void);
void	 clients_free(void);
struct client *clients_find(const char *id);
int	 clients_register(const struct registration *, struct client **);
void	 clients_unregister(struct client *, int64_t now);
int	 clients_restore(const struct client *);
void	 clients_mark(struct client *, int dirty);
struct client *clients_take_dirty(void);
void	 clients_requeue_dirty(struct client *list);
void	 clients_release(struct client *);
size_t	 clients_count(void);
void	 clients_stats(struct clients_stats *);
void	 clients_foreach(int (*)(struct client *, void *), void *);
const char *clients_state_name(int state);
int	 clients_state_parse(const char *);
const char *clients_transport_name(int transport);
int	 clients_transport_parse(const char *);
int	 clients_valid_id(const char *);
int	 clients_valid_class(const char *);

/* ---- store.c: SQLite persistence ---- */

struct schema_step {
	int		 version;
	const char	*name;
	const char	*sql;
};
extern const struct schema_step schema_steps[];	/* schema.c, generated */
extern const size_t schema_nsteps;

int	 store_open(const char *path, int sync_full, char *err, size_t errlen);
void	 store_close(void);
int	 store_version(void);
int	 store_load_clients(int (*)(const struct client *, void *), void *);
int	 store_begin(void);
int	 store_put_client(const struct client *);
int	 store_touch_client(const struct client *);
int	 store_delete_client(const char *id);
int	 store_commit(void);
void	 store_rollback(void);
const char *store_errmsg(void);

/* ---- registrar.c: REGISTER, and the group commit of replies ---- */

/* Why a REGISTER cannot be accepted; filled by registrar_parse. */
struct reg_error {
	int		 status;
	const char	*phrase;
	int		 min_expires;	/* for 423 */
};

int	 registrar_init(const struct config *, struct su_root_s *,
	    struct nta_agent_s *);
void	 registrar_shutdown(void);
void	 registrar_request(struct msg_s *, struct sip_s *);
int	 registrar_parse(const struct config *, struct su_home_s *,
	    struct sip_s const *, struct registration *, struct reg_error *);
void	 registrar_schedule_flush(void);
int	 registrar_flush(void);
size_t	 registrar_pending(void);

/* ---- heartbeat.c: OPTIONS and the liveness sweep ---- */

int	 heartbeat_init(const struct config *, struct su_root_s *,
	    struct nta_agent_s *);
void	 heartbeat_shutdown(void);
void	 heartbeat_request(struct msg_s *, struct sip_s *);
int	 heartbeat_sweep(int64_t now);

/* ---- sip.c: the nta agent and routing of requests by method ---- */

int	 sip_init(const struct config *, struct su_root_s *, char *err,
	    size_t errlen);
void	 sip_shutdown(void);
struct nta_agent_s *sip_agent(void);
int	 sip_source(struct msg_s *, char *addr, size_t addrlen,
	    uint16_t *port, enum transport *);

/* ---- control.c: the local control socket ---- */

int	 control_init(const struct config *, struct su_root_s *, char *err,
	    size_t errlen);
void	 control_shutdown(void);
void	 control_request(struct buf *out, int argc, char **argv);

/* ---- sippushd.c ---- */

int64_t	 sippushd_now(void);
extern struct config *sippushd_config;

#endif /* SIPPUSHD_H */
