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

#include "log.h"
#include "proto.h"
#include "wire.h"

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

#define CLIENT_CONTACT_MAX	512	/* bytes of a stored Contact */
#define CLIENT_UA_MAX		128	/* bytes of a stored User-Agent */
#define CLIENT_PATH_MAX		512	/* bytes of a stored Path */
#define AUTH_REALM_MAX		64	/* bytes in auth.realm */

struct su_root_s;
struct su_home_s;
struct nta_agent_s;
struct msg_s;
struct sip_s;
struct tport_s;
struct store_batch;
struct store_finished;
struct client_row;
struct webhook_event;

/* ---- config.c ---- */

#define CONFIG_WH_URLS	8	/* webhooks.url entries */
#define WEBHOOK_EV_FINISHED	0x1	/* a message finished */
#define WEBHOOK_EV_TARGET_FAILED 0x2	/* a target failed */
#define WEBHOOK_SECRET_MAX	1024	/* bytes of webhooks.secret */

/* The effective settings; every field has a default (config_defaults). */
struct config {
	char	*path;			/* file read, NULL for built-in defaults */

	char	*sip_address;		/* address to bind, "0.0.0.0" = all */
	int	 sip_port;
	int	 sip_udp;		/* transports enabled */
	int	 sip_tcp;
	int	 sip_max_size;		/* largest SIP message accepted, bytes */
	int	 sip_udp_buffer;	/* UDP socket buffers, bytes */
	int	 sip_tcp_idle;		/* s an unused TCP connection lives */
	int	 sip_tcp_msg_timeout;	/* s a partial message may stall */
	int	 sip_max_headers;	/* header lines of a datagram, 0 off */
	int	 sip_max_via;		/* Via values of a datagram, 0 off */
	int	 sip_source_rate;	/* datagram units/s per source, 0 off */

	int	 db_backend;		/* in store_backend_list[] */
	char	*db_path;
	char	*db_conninfo;		/* postgresql: libpq conninfo/URI */
	char	*db_passfile;		/* postgresql: libpq passfile */
	int	 db_sync_full;		/* synchronous=FULL (else NORMAL) */
	int	 db_commit_delay;	/* ms a write may wait to be grouped */

	int	 reg_min_expires;	/* seconds */
	int	 reg_max_expires;
	int	 reg_default_expires;
	int	 reg_retain;		/* seconds a lapsed registration stays */
	char	*reg_default_class;
	int	 reg_max_clients;	/* rows in the table */
	int	 reg_rate;		/* REGISTERs/s per source, 0 off */

	int	 hb_timeout;		/* seconds of silence before offline, 0 off */
	int	 hb_sweep_interval;	/* seconds between liveness sweeps */

	char	*ctl_socket;
	char	*ctl_group;		/* control.group as given, NULL: none */
	int	 ctl_gid;		/* its gid, -1: none */

	int	 dp_max_in_flight;	/* MESSAGE transactions at once */
	int	 dp_timeout;		/* ms before an unanswered MESSAGE fails */
	int	 dp_retry_initial;	/* ms */
	int	 dp_retry_multiplier;
	int	 dp_retry_max;		/* ms */
	int	 dp_retry_jitter;	/* percent */
	int	 dp_max_attempts;	/* 0: until the TTL */
	int	 dp_default_ttl;	/* seconds */
	int	 dp_max_ttl;
	int	 dp_max_body;		/* bytes */
	int	 dp_max_pending;	/* unfinished targets per client */
	int	 dp_retain;		/* seconds finished messages are kept */

	int	 auth_enabled;		/* Digest on REGISTER and OPTIONS */
	char	*auth_realm;
	int	 auth_sha256;		/* offer SHA-256 (RFC 8760) */
	int	 auth_md5;		/* offer MD5 */
	int	 auth_nonce_lifetime;	/* seconds a nonce is accepted */
	int	 auth_max_failures;	/* failed authentications per minute
					   per source address, 0 off */

	enum log_level log_level;
	int	 log_sip_level;		/* Sofia-SIP's own level, 0..9 */

	int	 tls_enable;		/* the TLS transport (sips:) */
	int	 tls_port;
	char	*tls_cert;		/* PEM files; NULL: not set */
	char	*tls_key;
	char	*tls_ca;

	int	 relay_enabled;		/* client-to-client requests (relay.c) */
	int	 relay_timeout;		/* ms before an unanswered one is 408 */
	int	 relay_rate;		/* requests/s per sender, 0 off */
	char	*relay_rules;		/* "FROM -> TO" a line; "" none */
	char	*cl_node;		/* cluster.node; NULL: the host name */
	char	*cl_address;		/* cluster.address "host:port"; NULL:
					   sip.address:sip.port */
	int	 cl_lease;		/* s a node's lease lasts */
	int	 cl_redirect;		/* REGISTER: 302 to the least loaded */
	int	 cl_poll;		/* ms between polls (NOTIFY fallback) */
	int	 http_enable;		/* the HTTP API (http.c) */
	char	*http_address;
	int	 http_port;
	int	 http_max_body;		/* bytes of a request body */
	int	 http_max_connections;
	int	 http_timeout;		/* s an idle connection lives */
	int	 http_rate;		/* requests/s per token (burst 2x) */
	char	*http_cert;		/* PEM files for HTTPS; NULL: plain */
	char	*http_key;

	char	*wh_url[CONFIG_WH_URLS];	/* webhooks.url; NULL: unused */
	int	 wh_nurl;
	char	*wh_secret;		/* the HMAC key: webhooks.secret or the
					   content of secret_file; NULL: none */
	char	*wh_secret_file;
	int	 wh_events;		/* WEBHOOK_EV_* bits */
	int	 wh_timeout;		/* s an attempt may take */
	int	 wh_max_attempts;
	int	 wh_retry_initial;	/* ms */
	int	 wh_retry_max;		/* ms */
	int	 wh_max_in_flight;	/* HTTP requests at once */
};

/* registration.rate_per_source by default: REGISTERs a second from one
 * address, 2 x as a burst (registrar.c); see man/sippushd.conf.5 */
#define CONFIG_REG_RATE	20

void	 config_defaults(struct config *);
int	 config_load(struct config *, const char *path, char *err, size_t errlen);
int	 config_check_address(const struct config *, char *err, size_t errlen);
const char *config_warning(const struct config *);
void	 config_free(struct config *);
void	 config_print(const struct config *, FILE *);
const char *config_log_level_name(enum log_level);

/* ---- log.c (with common/log.h) ---- */

void	 log_init(int foreground, enum log_level level, const char *ident);
void	 log_sofia(int level);

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
	char		*path;		/* RFC 3327 Path it registered with
					   (an edge relay), or NULL */
	char		 address[46];	/* source IP the registration came from */
	uint16_t	 port;		/* source port */
	uint8_t		 transport;	/* enum transport */
	uint8_t		 state;		/* enum client_state */
	uint8_t		 dirty;		/* CLIENT_DIRTY_* */
	uint64_t	 dseq;		/* when it joined the dirty list
					   (clients_dirty_seq) */
	uint16_t	 binding;	/* never 0; changes with the address,
					   port or transport it registered
					   from (a stale answer: dispatch.c) */
	struct tport_s	*tport;		/* TCP/TLS connection it registered
					   over (a reference), or NULL */
	int64_t		 registered_at;	/* unix seconds */
	int64_t		 expires_at;
	int64_t		 last_seen;
	int64_t		 seen_marked;	/* last_seen when last marked for
					   writing (heartbeats write lazily) */
	uint32_t	 pending;	/* its targets pending or sent, over
					   the active messages (dispatch.c) */
	uint8_t		 given;		/* its row is in the batch being
					   written */
	uint8_t		 dropped;	/* out of the table (another node
					   has it): freed once no batch
					   holds it */
	uint8_t		 take;		/* cluster: load its targets once
					   its row is written online */
	struct auth_seen *auth;		/* nonces it used last (auth.c) */
};

/* Fields of a registration, as parsed from a REGISTER. */
struct registration {
	const char	*id;
	const char	*class;
	const char	*contact;
	const char	*user_agent;
	const char	*path;		/* Path header(s), or NULL */
	const char	*address;
	uint16_t	 port;
	enum transport	 transport;
	struct tport_s	*tport;		/* borrowed; clients_register refs it */
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
void	 clients_set_tport(struct client *, struct tport_s *);
int	 clients_restore(const struct client *);
void	 clients_mark(struct client *, int dirty);
void	 clients_set_state(struct client *, int state);
struct client *clients_take_dirty(void);
void	 clients_requeue_dirty(struct client *list);
void	 clients_requeue(struct client *, int marks);
void	 clients_written(struct client *, int marks);
/* rows one batch takes at most: the copy on the event loop is bounded */
#define CLIENTS_BATCH_MAX	10000
int	 clients_batch(struct store_batch *);
void	 clients_batch_done(int ok);
uint64_t clients_dirty_seq(void);
uint64_t clients_batch_covered(void);
int	 clients_dirty_left(void);
int	 clients_foreach_from(size_t *pos, size_t max,
	    int (*)(struct client *, void *), void *);
size_t	 clients_count(void);
void	 clients_stats(struct clients_stats *);
void	 clients_foreach(int (*)(struct client *, void *), void *);
void	 clients_drop(struct client *);
int	 clients_restore_row(const struct client_row *, void *);
void	 clients_drop_all(void);
const char *clients_state_name(int state);
int	 clients_state_parse(const char *);
const char *clients_transport_name(int transport);
int	 clients_transport_parse(const char *);
int	 clients_valid_id(const char *);
int	 clients_valid_class(const char *);

/* ---- dispatch.c: control messages, target sets, retries ---- */

#define MESSAGE_ID_LEN		16	/* hex digits */
#define MESSAGE_UDP_BODY_MAX	1300	/* RFC 3428, section 8 */

enum target_state {
	TARGET_PENDING,		/* to be sent (again) */
	TARGET_SENT,		/* a MESSAGE is in flight */
	TARGET_ACKED,		/* 2xx received and committed */
	TARGET_EXPIRED,		/* TTL ran out first */
	TARGET_FAILED,		/* dispatch.max_attempts reached */
	TARGET_CANCELLED,	/* sippushctl cancel */
	TARGET_NSTATES
};

enum message_state {
	MESSAGE_ACTIVE,
	MESSAGE_DONE,
	MESSAGE_CANCELLED,
};

/* One client of a message's target set. */
struct target {
	struct message		*msg;
	const char		*client;	/* client ID, in msg->pool */
	struct target		*qnext;		/* ready queue */
	struct target		*dnext;		/* msg's dirty targets */
	struct nta_outgoing_s	*orq;		/* the MESSAGE in flight */
	int64_t			 next_attempt;	/* unix ms */
	int64_t			 last_attempt;	/* unix ms, 0: never */
	int64_t			 acked_at;	/* unix s, 0: not acked */
	uint32_t		 heap;		/* retry heap slot + 1, 0: out */
	uint32_t		 attempts;
	uint16_t		 last_status;	/* 0: no answer yet */
	uint8_t			 state;		/* enum target_state */
	uint8_t			 dirty;
	uint8_t			 queued;	/* on the ready queue */
	uint16_t		 binding;	/* the client's binding a UDP
						   send went to; 0: over a
						   connection */
	uint8_t			 dropped;	/* cluster: another node has
						   it; nothing more is written */
};

/* A published control message and its target set. */
struct message {
	struct message		*next;		/* active list */
	struct message		*dnext;		/* dirty messages */
	char			 id[MESSAGE_ID_LEN + 1];
	char			*selector;
	char			*content_type;
	char			*callback;	/* webhook URL; NULL: none */
	struct webhook_event	*events;	/* made, not yet in a batch */
	char			*body;
	size_t			 body_len;
	int64_t			 created_at;	/* unix s */
	int64_t			 expires_at;
	int64_t			 finished_at;	/* 0: still active */
	uint8_t			 state;		/* enum message_state */
	uint8_t			 dirty;		/* row needs writing */
	uint8_t			 listed;	/* on the dirty list */
	struct target		*targets;	/* sorted by client ID */
	size_t			 ntargets;
	char			*pool;		/* the client IDs */
	size_t			 count[TARGET_NSTATES];
	struct target		*ready;		/* due now, client online */
	struct target		**ready_tail;
	struct target		**heap;		/* waiting for next_attempt */
	size_t			 nheap;
	struct target		*dirty_targets;
	size_t			 offline;	/* pending, client offline: */
	int64_t			 offline_at;	/* counted then (unix ms) */
	uint8_t			 dropped;	/* cluster: forgotten (cancelled
						   fleet-wide, or fenced): none
						   of its rows is written */
	struct msg_s		*tmpl;		/* headers common to its MESSAGEs
					   (dispatch.c), built at the first
					   send; NULL until then */
};

int	 dispatch_init(const struct config *, struct su_root_s *,
	    struct nta_agent_s *);
void	 dispatch_shutdown(void);
int	 dispatch_restore(void);
void	 dispatch_client_online(struct client *);
struct message *dispatch_take_dirty(void);
void	 dispatch_requeue_dirty(struct message *list);
void	 dispatch_requeue(struct message *, int row);
void	 dispatch_requeue_target(struct target *);
void	 dispatch_written(struct message *);
int	 dispatch_batch(struct store_batch *);
void	 dispatch_batch_done(int ok);
/* cluster (sippushd(8) CLUSTER, "Ownership"): a message in memory holds
 * only this node's targets, maybe in several parts (struct message)
 * loaded at different times */
void	 dispatch_cluster_take(const char *client);
void	 dispatch_cluster_load(const char *message_id);
void	 dispatch_cluster_drop_client(const char *client);
void	 dispatch_cluster_drop_message(const char *message_id);
void	 dispatch_cluster_drop_all(void);
void	 dispatch_cluster_compare(char *const *ids, const size_t *n,
	    size_t count);
void	 dispatch_cluster_finished(struct store_finished *);

/*
 * The control operations, for any front end (command.c parses the
 * control protocol into these requests and renders the results): each
 * calls done(arg, result) once, now or later; the result and what it
 * points to live until done returns.  ok 0: code says what kind of
 * failure, set where it is found, and error says why (one line).  The
 * control socket shows the text; the HTTP API answers the status of the
 * code (http_api_status).
 */
enum op_code {
	OP_OK,			/* no failure */
	OP_BAD_REQUEST,		/* the request is wrong: fix it */
	OP_NOT_FOUND,		/* no such message, client or user */
	OP_CONFLICT,		/* not in this state (already cancelled) */
	OP_TOO_LARGE,		/* a body over a limit */
	OP_TOO_MANY,		/* over a per-client limit: try later */
	OP_UNAVAILABLE,		/* the store cannot be written or read, or
				   memory is short: try later */
	OP_INTERNAL,		/* the daemon's own fault */
};
#define OP_NCODES	(OP_INTERNAL + 1)

#define OP_ERROR_MAX	512
/* code may be NULL (a parser: its every failure is a bad request) */
void	 op_error(enum op_code *code, char *error, enum op_code,
	    const char *fmt, ...)
	    __attribute__((format(printf, 4, 5)));	/* command.c */
const char *op_code_name(enum op_code);

enum publish_sel_kind { PUBLISH_CLASS, PUBLISH_CLIENT };

struct publish_sel {
	int		 kind;		/* enum publish_sel_kind */
	const char	*name;		/* class name or client ID */
};

struct publish_req {
	int			 all;		/* every client */
	const struct publish_sel *sel;		/* in the order given */
	size_t			 nsel;
	const char		*body;
	size_t			 body_len;
	const char		*content_type;	/* NULL: text/plain */
	long			 ttl;		/* s; 0: dispatch.default_ttl */
	const char		*callback;	/* webhook URL; NULL: none */
};

struct publish_result {
	int		 ok;
	enum op_code	 code;
	char		 error[OP_ERROR_MAX];
	const char	*id;
	size_t		 targets;
	size_t		 online;
};

/* A message's place in the listings, newest first: by created_at, then
 * by ID, both descending (a keyset cursor points at the last one seen). */
struct message_pos {
	int64_t		 created_at;
	char		 id[MESSAGE_ID_LEN + 1];
};

/* A message's summary, from memory or from the store. */
struct message_info {
	const char	*id;
	const char	*state;
	const char	*selector;
	const char	*content_type;
	size_t		 body_size;
	int64_t		 created_at;
	int64_t		 expires_at;
	int64_t		 finished_at;
	size_t		 targets;
	size_t		 count[TARGET_NSTATES];
	size_t		 offline;
};

struct target_info {
	const char	*client;
	int		 state;		/* enum target_state */
	uint32_t	 attempts;
	int		 last_status;
	int64_t		 last_attempt;
	int64_t		 next_attempt;
	int64_t		 acked_at;
};

struct status_req {
	const char	*id;
	int		 targets;	/* with the target records */
};

struct status_result {
	int			 ok;
	enum op_code		 code;
	char			 error[OP_ERROR_MAX];
	struct message_info	 msg;
	const struct target_info *t;
	size_t			 nt;
	int			 more;	/* dispatch_targets: a page follows */
};

/* A page of a message's targets, by client ID: those after a client ID
 * (NULL: from the first), of one state (-1: any), limit at most. */
struct targets_req {
	const char	*id;
	const char	*after;
	int		 state;		/* enum target_state, or -1 */
	size_t		 limit;		/* 1..DISPATCH_STATUS_PAGE */
};

struct messages_req {
	long			 limit;	/* 1..DISPATCH_LIST_MAX */
	const struct message_pos *after; /* older than this; NULL: from
					    the newest */
};

/* status of a stored message: its targets read this many per job */
#define DISPATCH_STATUS_PAGE	1000

#define DISPATCH_LIST_DEFAULT	20
#define DISPATCH_LIST_MAX	100000

struct messages_result {
	int			 ok;
	enum op_code		 code;
	char			 error[OP_ERROR_MAX];
	const struct message_info *v;	/* newest first */
	size_t			 n;
};

struct cancel_req {
	const char	*id;
};

struct cancel_result {
	int		 ok;
	enum op_code	 code;
	char		 error[OP_ERROR_MAX];
	const char	*id;
	size_t		 cancelled;
	size_t		 in_flight;
};

void	 dispatch_publish(const struct publish_req *,
	    void (*done)(void *, const struct publish_result *), void *arg);
void	 dispatch_status(const struct status_req *,
	    void (*done)(void *, const struct status_result *), void *arg);
void	 dispatch_messages(const struct messages_req *,
	    void (*done)(void *, const struct messages_result *), void *arg);
void	 dispatch_cancel(const struct cancel_req *,
	    void (*done)(void *, const struct cancel_result *), void *arg);
void	 dispatch_targets(const struct targets_req *,
	    void (*done)(void *, const struct status_result *), void *arg);
void	 dispatch_status_pages(unsigned long *jobs, size_t *max_rows);
void	 dispatch_targets_pages(unsigned long *calls, size_t *most);
size_t	 dispatch_tick_most(void);
int	 dispatch_max_ttl(void);
int	 dispatch_reachable(const struct client *);
/* url is a Sofia url_t *, an anonymous struct that cannot be declared */
int	 dispatch_route(struct su_home_s *, const struct client *,
	    void *url, char *route, size_t routelen);
int	 dispatch_valid_ctype(const char *);
void	 dispatch_stats(struct buf *out);
int64_t	 dispatch_backoff(const struct config *, uint32_t attempts,
	    uint32_t random);
const char *dispatch_target_state_name(int);
int	 dispatch_target_state_parse(const char *);
const char *dispatch_message_state_name(int);

/* ---- store.c: the door to the store, a backend chosen by name ---- */

/*
 * Rows as the store sees them: plain values, no pointers into the
 * subsystems' structs; states and transports by name (the names of
 * clients.c and dispatch.c). In a batch, op says what to do with the
 * row; read back, op is STORE_PUT and the strings live only during the
 * callback.
 */
enum store_op {
	STORE_PUT,		/* insert or replace the whole row */
	STORE_TOUCH,		/* clients: state and last_seen; messages:
				   state and finished_at */
	STORE_DELETE,		/* remove the row (clients, users) */
};

struct client_row {
	int		 op;		/* enum store_op */
	const char	*id;
	const char	*class;
	const char	*state;
	const char	*contact;
	const char	*transport;
	const char	*address;
	int		 port;
	const char	*user_agent;	/* may be NULL */
	const char	*path;		/* RFC 3327 Path, or NULL */
	int64_t		 registered_at;
	int64_t		 expires_at;
	int64_t		 last_seen;
	const char	*owner;		/* read back (postgresql): the node
					   holding it; NULL: none, or SQLite */
};

/* Which clients a listing shows (store_list_clients). */
struct client_filter {
	const char	*class;		/* NULL: any */
	const char	*state;		/* a state's name; NULL: any */
	int		 online;	/* -1: any, 0: not online, 1: online */
};

struct message_row {
	int		 op;
	const char	*id;
	const char	*state;
	const char	*selector;
	const char	*content_type;
	const char	*callback;	/* NULL: none */
	size_t		 body_len;
	const void	*body;
	int64_t		 created_at;
	int64_t		 expires_at;
	int64_t		 finished_at;	/* 0: NULL */
	size_t		 count[TARGET_NSTATES];	/* read back only */
};

struct target_row {
	int		 op;
	const char	*message_id;
	const char	*client;
	const char	*state;
	uint32_t	 attempts;
	int64_t		 next_attempt;
	int64_t		 last_attempt;	/* 0: NULL */
	int64_t		 acked_at;	/* 0: NULL */
	int		 last_status;	/* 0: NULL */
};

struct user_row {
	int		 op;
	const char	*id;
	const char	*realm;
	const char	*ha1_sha256;	/* hex */
	const char	*ha1_md5;
	int64_t		 created_at;
};

/* A bearer token of the HTTP API (token.c): the secret's SHA-256 only. */
struct token_row {
	int		 op;		/* STORE_PUT (insert) or STORE_DELETE */
	const char	*name;
	const char	*hash;		/* hex */
	const char	*scopes;	/* "publish,read,admin", a subset */
	int64_t		 created_at;
};

/*
 * A webhook event not yet delivered (the outbox table). Written in the
 * batch of the state change that causes it; STORE_DELETE (by id) once
 * delivered or given up; STORE_TOUCH: attempts and next_attempt only.
 */
struct outbox_row {
	int		 op;
	const char	*id;		/* delivery ID, the idempotency key */
	const char	*event;		/* "finished" or "target_failed" */
	const char	*url;		/* the message's callback or one of
					   webhooks.url; NULL: its first */
	const char	*body;		/* the JSON */
	int64_t		 created_at;	/* unix s */
	int		 attempts;
	int64_t		 next_attempt;	/* unix ms */
};

/*
 * A batch: the rows of one transaction, with copies of their strings in
 * memory of its own (a client's state and transport too; not the other
 * rows' states: static names), so that the writer thread may use it
 * while the event loop changes the live objects. Written in this order:
 * clients, messages, targets, users, tokens.
 */
struct store_chunk;
struct store_batch {
	int64_t			 epoch;		/* cluster_epoch() when made:
						   written as that epoch */
	struct client_row	*clients;
	size_t			 nclients, aclients;
	struct message_row	*msgs;
	size_t			 nmsgs, amsgs;
	struct target_row	*targets;
	size_t			 ntargets, atargets;
	struct user_row		*users;
	size_t			 nusers, ausers;
	struct token_row	*tokens;
	size_t			 ntokens, atokens;
	struct outbox_row	*outbox;
	size_t			 noutbox, aoutbox;
	struct store_chunk	*chunks;	/* the strings and bodies */
	/* cluster: the messages the write found finished go onto
	 * *finished (the caller frees them); NULL: not asked */
	struct store_finished	**finished;
};

/*
 * A storage backend (store_sqlite.c; more by name, as OpenSMTPD's queue
 * backends). Every function works on the calling thread's connection:
 * open makes the event loop's (start-up loads) and the writer's, and
 * the writer thread calls use_writer once. Functions returning int
 * return -1 on error with the reason in errmsg.
 *
 * open		create or upgrade the schema, prepare; where: a file
 *		(sqlite) or a conninfo (postgresql, with its passfile or
 *		NULL); err: "where: what is wrong: what to do"
 * write	the batch in one transaction; 0, or -1 rolled back (a store
 *		fault is logged and counted for failing)
 * load_*	call fn for each row (fn returns -1 to stop); the count
 * load_messages newest first, by (created_at, id) descending: the one
 *		id (NULL: all), only unfinished ones if active_only, only
 *		those older than after (NULL: from the newest), at most limit
 *		(-1: all)
 * list_clients	a page of clients by ID (byte order): those with ID >
 *		after (NULL: from the first) that pass the filter, at most
 *		limit
 * load_targets	by client ID, the ones with client ID > after (NULL: from
 *		the first), at most limit (-1: all)
 * load_users	by ID; the one id, or all if NULL
 * load_tokens	by name, all
 * load_outbox	the undelivered webhook events, soonest due first
 * purge	delete messages finished before finished_before (0: none);
 *		how many; and (postgresql, a node of a cluster) the client
 *		rows no node holds (owner NULL: left offline by a node that
 *		went down) whose registration ended (expires_at) at or
 *		before ended_before (0: none), at most PURGE_ENDED_MAX a
 *		run, how many into *ended; SQLite has none such (a node's
 *		sweep deletes its own rows)
 * errhint	what a person can do about the last failure, or ""
 * failing	since when (unix s) writes fail, 0: they do not; count
 * where	what the store is, for a log line (no password in it)
 * unavailable	1 while the last write failed for want of the server
 *		(postgresql: connection lost), else 0; may be NULL
 */
#define PURGE_ENDED_MAX	50000	/* client rows no node holds, a purge */
struct store_backend {
	const char	*name;
	int	(*open)(const char *where, int sync_full,
		    const char *passfile, char *err, size_t errlen);
	void	(*close)(void);
	void	(*use_writer)(void);
	int	(*version)(void);
	int	(*write)(const struct store_batch *);
	int	(*load_clients)(int (*fn)(const struct client_row *, void *),
		    void *);
	int	(*list_clients)(const struct client_filter *,
		    const char *after, int limit,
		    int (*fn)(const struct client_row *, void *), void *);
	int	(*load_messages)(const char *id, int active_only,
		    const struct message_pos *after, int limit,
		    int (*fn)(const struct message_row *, void *), void *);
	int	(*load_targets)(const char *message_id, const char *after,
		    int limit, int (*fn)(const struct target_row *, void *),
		    void *);
	int	(*load_users)(const char *id,
		    int (*fn)(const struct user_row *, void *), void *);
	int	(*load_tokens)(int (*fn)(const struct token_row *, void *),
		    void *);
	int	(*load_outbox)(int (*fn)(const struct outbox_row *, void *),
		    void *);
	int	(*purge)(int64_t finished_before, int64_t ended_before,
		    long *ended);
	const char *(*errmsg)(void);
	const char *(*errhint)(void);
	int64_t	(*failing)(unsigned *count);
	unsigned long (*loop_calls)(void);	/* SQL run on the event
						   loop's connection since
						   the writer started */
	const char *(*where)(void);
	int	(*unavailable)(void);
};

struct schema_step {
	int		 version;
	const char	*name;
	const char	*sql;
};
extern const struct schema_step schema_steps[];	/* schema.c, generated */
extern const size_t schema_nsteps;
extern const struct schema_step pg_schema_steps[];	/* schema_pg.c */
extern const size_t pg_schema_nsteps;

extern const struct store_backend store_sqlite;	/* store_sqlite.c */
extern const struct store_backend store_postgresql; /* store_postgresql.c */
/* conninfo with its password masked, into out; can libpq parse it */
const char *store_pg_mask(const char *conninfo, char *out, size_t len);
int	 store_pg_check(const char *conninfo, char *err, size_t errlen);
/* The node the writer writes as (cluster.c sets it, on the writer side):
 * each batch then starts with sippush_fence(name, epoch, lease) and the
 * rows it writes carry name as their owner. epoch 0: no node (tests). */
void	 store_pg_node(const char *name, int64_t epoch, int lease);
/* A batch refused because its node is fenced (SQLSTATE SP001) fails
 * like any other (store_write -1, nothing written); this says it was
 * that, once (it clears the mark). */
int	 store_pg_fenced(void);
/* The cluster thread's own connection (cluster.c): use it from here on
 * in the calling thread. */
void	 store_pg_use_cluster(void);
/* Join as name: a new epoch (1, or the last + 1), state up, a lease of
 * lease s. 0 with *epoch, or -1 (store_errmsg). */
int	 store_pg_join(const char *name, const char *address, int lease,
	    int64_t *epoch);
/* Renew the lease of (name, epoch) and record its count of online
 * clients: 0 (*draining: its state is draining), 1 fenced, -1 failed. */
int	 store_pg_renew(const char *name, int64_t epoch, int lease,
	    long clients, int *draining);
/* Mark down every node whose lease lapsed (one statement: concurrent
 * reapers queue on the row locks): their clients offline with no owner,
 * their unfinished targets parked. fn is called for each node marked. The count, -1. */
int	 store_pg_reap(void (*fn)(const char *name, long clients,
	    long targets, void *), void *arg);
struct node_row {
	const char	*name;
	int64_t		 epoch;
	const char	*address;
	const char	*state;		/* up, draining, down */
	int64_t		 lease_ms;	/* left of its lease; < 0: lapsed */
	int64_t		 clients;	/* online, at its last renewal */
	int64_t		 joined_at;	/* unix s */
};
int	 store_pg_nodes(int (*fn)(const struct node_row *, void *), void *);
/* Where client id is in the cluster: its class, state, owner and the
 * owner's address and liveness. 1 found, 0 no such client, -1 failed. */
struct client_where {
	char	 class[CLIENT_CLASS_MAX + 1];
	char	 state[16];
	char	 owner[64];		/* "": none */
	char	 address[256];		/* the owner's cluster.address */
	int	 live;			/* the owner is up, its lease held */
};
int	 store_pg_client_where(const char *id, struct client_where *);
/* Client id's row as stored, with its owner (the node holding it, NULL
 * if none), to fn: 1 found, 0 no such client, -1 failed. */
int	 store_pg_client_get(const char *id,
	    int (*fn)(const struct client_row *, void *), void *);
/* Set node's state to draining (on) or up: 1, 0 no such live node, -1. */
int	 store_pg_drain(const char *name, int on);

/*
 * Ownership across nodes (store_postgresql.c, sippushd(8) CLUSTER,
 * "Ownership"). Every call runs on the writer thread (jobs); the rows
 * carry the node's name (store_pg_node) as their owner.
 */
/* A "finished" webhook event the same transaction put in the outbox. */
struct store_finished_ev {
	struct store_finished_ev *next;
	char			 id[17];	/* delivery ID */
	char			*url;
	char			*body;
};

/* A message found finished in SQL: no target unfinished anywhere. */
struct store_finished {
	struct store_finished	*next;
	struct store_finished_ev *events;	/* in the outbox, committed */
	char			 id[MESSAGE_ID_LEN + 1];
	int			 cancelled;	/* its state is cancelled */
	char			*callback;	/* NULL: none */
	int64_t			 created_at;
	int64_t			 finished_at;
	size_t			 count[TARGET_NSTATES];
};
void	 store_finished_free(struct store_finished *);

/* What a cluster publish gives and gets (store_pg_publish). */
struct store_pub {
	const char		*id;
	const char		*selector;
	const char		*content_type;
	const char		*callback;	/* NULL: none */
	const void		*body;
	size_t			 body_len;
	int64_t			 created_at;	/* unix s */
	int64_t			 expires_at;
	int64_t			 now_ms;	/* the targets' next_attempt */
	int			 all;
	const char *const	*classes;
	size_t			 nclasses;
	const char *const	*ids;
	size_t			 nids;
	int			 max_pending;	/* per client */
	/* out: refused (1) because ... */
	char			 missing[CLIENT_ID_MAX + 1]; /* not a client */
	char			 full[CLIENT_ID_MAX + 1];  /* at max_pending */
	size_t			 full_pending;	/* its unfinished targets */
	size_t			 nfull;		/* clients at the limit */
	/* out: the target set */
	size_t			 targets;
	size_t			 online;
	size_t			 udp;
};
int	 store_pg_publish(struct store_pub *);
void	 store_pg_webhooks(const char *const *urls, size_t n, int finished);
int	 store_pg_cancel(const char *id, int64_t now, size_t *cancelled,
	    struct store_finished **);
int	 store_pg_load_owned(const char *message_id,
	    const char *const *clients, size_t nclients,
	    int (*mfn)(const struct message_row *, void *),
	    int (*tfn)(const struct target_row *, void *), void *);
int	 store_pg_poll(int64_t since, int clients, int full,
	    int (*owned)(const char *message_id, size_t n, void *),
	    int (*gone)(const char *id, int cancelled, void *),
	    char *authsum, size_t authlen, void *);
int	 store_pg_expire_parked(int64_t now, struct store_finished **);
/* The notifications of the LISTEN connection (its own thread). */
struct store_note {
	char	 channel[64];		/* "": (re)connected, poll now */
	char	 payload[128];
};
int	 store_pg_listen_start(const char *const *channels, size_t n,
	    int efd);
void	 store_pg_listen_stop(void);
size_t	 store_pg_listen_take(struct store_note *, size_t max);

#define STORE_BACKEND_DEFAULT	"sqlite"

extern const char *const store_backend_list[];	/* names, NULL-ended */

const struct store_backend *store_backend_find(const char *name);
const char *store_backend_names(void);
int	 store_open(const char *backend, const char *path, int sync_full,
	    char *err, size_t errlen);
int	 store_open_config(const struct config *, char *err, size_t errlen);
const char *store_where(void);
int	 store_unavailable(void);
void	 store_close(void);
void	 store_use_writer(void);
int	 store_version(void);
int	 store_write(const struct store_batch *);
int	 store_load_clients(int (*)(const struct client_row *, void *),
	    void *);
int	 store_list_clients(const struct client_filter *, const char *after,
	    int limit, int (*)(const struct client_row *, void *), void *);
int	 store_load_messages(const char *id, int active_only,
	    const struct message_pos *after, int limit,
	    int (*)(const struct message_row *, void *), void *);
int	 store_load_targets(const char *message_id, const char *after,
	    int limit, int (*)(const struct target_row *, void *), void *);
int	 store_load_users(const char *id,
	    int (*)(const struct user_row *, void *), void *);
int	 store_load_tokens(int (*)(const struct token_row *, void *), void *);
int	 store_purge_messages(int64_t finished_before);
int	 store_purge(int64_t finished_before, int64_t ended_before,
	    long *ended);
const char *store_errmsg(void);
/* store faults: a write failed for want of disk (store_sqlite.c) */
const char *store_errhint(void);
int64_t	 store_failing(unsigned *count);
unsigned long store_loop_calls(void);
void	 store_serving(void);

void	 store_batch_init(struct store_batch *);
void	 store_batch_free(struct store_batch *);
int	 store_batch_empty(const struct store_batch *);
int	 store_batch_client(struct store_batch *, const struct client_row *);
int	 store_batch_message(struct store_batch *, const struct message_row *);
int	 store_batch_target(struct store_batch *, const struct target_row *);
int	 store_batch_user(struct store_batch *, const struct user_row *);
int	 store_batch_token(struct store_batch *, const struct token_row *);
int	 store_batch_outbox(struct store_batch *, const struct outbox_row *);
int	 store_load_outbox(int (*fn)(const struct outbox_row *, void *),
	    void *);

/* ---- commit.c: the group commit ---- */

/* Somebody waiting for the next commit; done(w, ok) runs after it. */
struct commit_waiter {
	struct commit_waiter	*next;
	void			(*done)(struct commit_waiter *, int ok);
	uint64_t		 seq;	/* the client rows it waits for
					   (set by commit_wait) */
};

/* Work for the writer side: run on its thread, done on the event loop. */
struct commit_job {
	struct commit_job	*next;
	void			(*run)(struct commit_job *);
	void			(*done)(struct commit_job *);
	int			 failed;	/* run did not run */
	uint64_t		 seq;	/* set by commit_job, as a waiter's */
};

/* The arrival rate of waiters, for the adaptive delay (times in us). */
struct commit_rate {
	int64_t	 last;		/* the last arrival; 0: none yet */
	int64_t	 recent;	/* the gap before it */
	int64_t	 gap;		/* mean gap, idle spells counted as the bound */
};

int	 commit_init(const struct config *, struct su_root_s *);
void	 commit_shutdown(void);
void	 commit_schedule_lazy(void);
void	 commit_wait(struct commit_waiter *);
void	 commit_job(struct commit_job *);
void	 commit_start(void);
int	 commit_flush(void);
void	 commit_drain(void);
int	 commit_busy(void);
size_t	 commit_waiting(void);
void	 commit_rate_note(struct commit_rate *, int64_t now, int64_t bound);
int64_t	 commit_due_at(const struct commit_rate *, int64_t now, int64_t first,
	    size_t queued, int64_t bound);

/* ---- registrar.c: REGISTER ---- */

/* Why a REGISTER cannot be accepted; filled by registrar_parse. */
struct reg_error {
	int		 status;
	const char	*phrase;
	int		 min_expires;	/* for 423 */
};

void	 registrar_init(const struct config *, struct nta_agent_s *);
void	 registrar_request(struct msg_s *, struct sip_s *);
int	 registrar_parse(const struct config *, struct su_home_s *,
	    struct sip_s const *, struct registration *, struct reg_error *);

/* ---- rate.c: token buckets per source address ---- */

#define RATE_SETS	512
#define RATE_WAYS	8
#define RATE_KEY_LEN	17	/* family, then the address (/64 for IPv6) */

struct rate_entry {
	uint8_t		 key[RATE_KEY_LEN];
	uint8_t		 used;
	int64_t		 tat;		/* us, monotonic: bucket full from then */
	int64_t		 logged;	/* us, when it was last reported */
	uint32_t	 refused;	/* since then */
};

struct rate_table {
	struct rate_entry	 set[RATE_SETS][RATE_WAYS];
	uint64_t		 seed;
};

struct sockaddr;
void	 rate_init(struct rate_table *);
int	 rate_key(const struct sockaddr *, uint8_t key[RATE_KEY_LEN]);
struct rate_entry *rate_find(struct rate_table *,
	    const uint8_t key[RATE_KEY_LEN]);
struct rate_entry *rate_entry(struct rate_table *,
	    const uint8_t key[RATE_KEY_LEN]);
int64_t	 rate_over(const struct rate_entry *, int64_t now, int64_t tolerance);
void	 rate_charge(struct rate_entry *, int64_t now, int64_t interval);

/* ---- auth.c: Digest authentication of clients ---- */

/* What an authenticated request used, to be recorded against replays. */
struct auth_grant {
	uint64_t	 nonce;		/* its nonce's ID; 0: auth is off */
	uint64_t	 req;		/* keyed hash of Call-ID, CSeq, method
					   and flow */
	uint32_t	 nc;		/* nonce count */
	int		 again;		/* a retransmission: answer it, do
					   not apply it again */
};

/* auth_seen_use: a new use (recorded), or the recorded request again */
#define AUTH_SEEN_NEW		1
#define AUTH_SEEN_AGAIN		2

/* Why a request may not go on; filled by auth_check. */
struct auth_verdict {
	int		 status;	/* 401, 403, 400 or 500 */
	const char	*phrase;	/* NULL for 401 */
	const char	*why;		/* for the log */
	int		 stale;		/* 401: stale=true */
};

int	 auth_init(const struct config *, struct nta_agent_s *);
int	 auth_check(struct msg_s *, struct sip_s const *, const char *id,
	    struct auth_grant *, struct auth_verdict *);
int	 auth_enabled(void);
int	 auth_request(struct msg_s *, struct sip_s const *, const char *id,
	    struct auth_grant *);
int	 auth_seen_use(struct client *, const struct auth_grant *);
int	 auth_quiet(const struct client *, int64_t now);
void	 auth_forget(struct client *);
struct sockaddr;
void	 auth_nonce_make(const struct sockaddr *, int64_t now, char *out);
int	 auth_nonce_check(const char *nonce, const struct sockaddr *,
	    int64_t now, uint64_t *id);
#define AUTH_PASSWORD_MIN	8
#define AUTH_PASSWORD_MAX	256
int	 auth_valid_password(const char *);

/* The users' credentials (sippushctl user), for any front end; done is
 * called once, now or later, as for the dispatch operations. */
enum user_op { USER_ADD, USER_DEL, USER_LIST, USER_IMPORT };

struct user_cred {
	const char	*id;
	const char	*password;
};

struct user_req {
	int			 op;		/* enum user_op */
	const char		*id;		/* add, del; list: NULL all */
	const char		*password;	/* add */
	const struct user_cred	*v;		/* import: all or none */
	size_t			 n;
};

struct user_info {
	const char	*id;
	const char	*realm;
	int64_t		 created_at;
};

struct user_result {
	int			 ok;
	enum op_code		 code;
	char			 error[OP_ERROR_MAX];
	int			 op;
	const char		*id;		/* add, del */
	const char		*realm;		/* add */
	int			 unregistered;	/* del: its registration ended */
	size_t			 imported;	/* import */
	const struct user_info	*users;		/* list */
	size_t			 nusers;
};

void	 auth_user(const struct user_req *,
	    void (*done)(void *, const struct user_result *), void *arg);
int	 auth_users_load(void);
size_t	 auth_users_count(void);
int	 auth_users_replace(const struct user_row *, size_t);
void	 auth_users_free(void);

/* ---- cluster.c: this node among several on one PostgreSQL ---- */

/*
 * With database.backend = "postgresql" sippushd is a node of a cluster
 * (of one, or more sharing the database): it joins at start (a new epoch
 * in `nodes`), keeps a lease and writes as its node; every batch checks
 * the lease first (sippush_fence, sql/postgresql/005_cluster.sql). With
 * SQLite, cluster_on() is 0 and the rest is inert.
 */
int	 cluster_init(const struct config *, struct su_root_s *, char *err,
	    size_t errlen);	/* join: after store_open, before loading */
void	 cluster_shutdown(void);
int	 cluster_on(void);		/* the store is shared (postgresql) */
const char *cluster_node(void);		/* this node's name (cluster.node) */
const char *cluster_address(void);	/* "host:port" it advertises */
int64_t	 cluster_epoch(void);		/* this node's epoch; 0: not joined */
int	 cluster_fenced(void);		/* lease lapsed: send nothing */
int	 cluster_draining(void);	/* sippushctl drain: 503 to clients */
/* fenced runs on the loop when the node finds itself fenced (drop every
 * client and target held, send nothing); rejoined after it joined again
 * with a new epoch (load what it owns again). */
void	 cluster_hooks(void (*fenced)(void), void (*rejoined)(void));
/* cluster.redirect: the addresses of the live nodes a new client should
 * go to, least loaded first (at most max); 0: take it here. */
size_t	 cluster_redirect(const char **out, size_t max);
/* Is ip the address of a live node (not this one)? Requests a node
 * relays carry NODE_HEADER and must come from one. */
int	 cluster_is_node_address(const char *ip);
#define NODE_HEADER		"Sippush-Node"
#define CLUSTER_REDIRECT_MAX	8	/* Contacts in a 302 */
/* What a draining or fenced node answers REGISTER and heartbeats: 503
 * with these phrases and Retry-After (s) */
#define CLUSTER_PHRASE_DRAINING	"Node Draining"
#define CLUSTER_PHRASE_FENCED	"Node Rejoining Its Cluster"
#define CLUSTER_RETRY_DRAINING	"300"
#define CLUSTER_RETRY_FENCED	"5"

/* ---- fleet.c: ownership and messages across nodes ---- */

int	 fleet_init(const struct config *, struct su_root_s *);
void	 fleet_shutdown(void);
void	 fleet_fenced(void);
void	 fleet_rejoined(void);
void	 fleet_poll(void);

/* ---- relay.c: client-to-client requests (MESSAGE to sip:ID@server) ---- */

/* One of relay.rules: a class name or "*" on each side. */
struct relay_rule {
	char	 from[CLIENT_CLASS_MAX + 1];
	char	 to[CLIENT_CLASS_MAX + 1];
};

int	 relay_rule_parse(const char *, struct relay_rule *, char *err,
	    size_t errlen);
int	 relay_rules_parse(const char *, struct relay_rule **, char *err,
	    size_t errlen);
int	 relay_allowed(const struct relay_rule *, size_t, const char *from,
	    const char *to);
int	 relay_init(const struct config *, struct su_root_s *,
	    struct nta_agent_s *);
void	 relay_shutdown(void);
int	 relay_request(struct msg_s *, struct sip_s *);
void	 relay_stats(struct buf *out);

/* ---- heartbeat.c: OPTIONS and the liveness sweep ---- */

int	 heartbeat_init(const struct config *, struct su_root_s *,
	    struct nta_agent_s *);
void	 heartbeat_shutdown(void);
void	 heartbeat_request(struct msg_s *, struct sip_s *);
int	 heartbeat_sweep(int64_t now);
int	 heartbeat_sweep_step(int64_t now, size_t max_rows, int64_t max_us,
	    size_t *seen);

/* ---- sip.c: the nta agent and routing of requests by method ---- */

int	 sip_init(const struct config *, struct su_root_s *, char *err,
	    size_t errlen);
void	 sip_shutdown(void);
struct nta_agent_s *sip_agent(void);
int	 sip_source(struct msg_s *, char *addr, size_t addrlen,
	    uint16_t *port, enum transport *);
int	 sip_source_is(struct msg_s *, const char *addr, uint16_t port,
	    enum transport);
int	 sip_udp_socket(const void *tport);
struct sockaddr;
ssize_t	 sip_send_udp(int fd, const void *, size_t, const struct sockaddr *,
	    size_t salen);
int	 sip_reply_udp(struct msg_s *, struct sip_s const *, const char *tail,
	    size_t tlen);
struct tport_s *sip_connection(struct msg_s *);

/* ---- guard.c: bounds on a peer's SIP bytes, before Sofia parses them ---- */

#define GUARD_HEADERS	1		/* guard_scan: too many header lines */
#define GUARD_VIA	2		/* too many Via values */

int	 guard_init(const struct config *, char *err, size_t errlen);
void	 guard_shutdown(void);
int	 guard_scan(const char *, size_t, int max_headers, int max_via);
void	 guard_stats(struct buf *out);
struct tport_s;
int	 guard_errors(struct tport_s *, int fd, int (*)(struct tport_s *));

/* ---- tls.c: the files of the TLS transport ---- */

int	 tls_check(const struct config *, char *err, size_t errlen);
int	 tls_dir_create(const struct config *, char *dir, size_t dirlen,
	    char *err, size_t errlen);
void	 tls_dir_remove(const char *dir);

/* ---- control.c: the local control socket ---- */

int	 control_init(const struct config *, struct su_root_s *, char *err,
	    size_t errlen);
void	 control_shutdown(void);
void	 control_request(struct buf *out, int argc, char **argv);
struct ctl_stream;
struct cmd_call;
void	 control_cmd_clients(struct cmd_call *, int argc, char **argv);
void	 control_cmd_status(struct cmd_call *, const char *id);
void	 control_stream_free(struct ctl_stream *);
void	 control_clients_pages(unsigned long *jobs, size_t *max_rows);
void	 control_cmd_client(struct cmd_call *, int argc, char **argv);
int	 control_client_read(const char *id, void (*done)(void *, const char *,
	    int, const struct client_row *, const char *), void *arg);
const char *control_client_node(const struct client_row *,
	    const struct client *);
void	 control_cmd_stats(struct buf *);

/* ---- http.c: the HTTP API (http.h has its pieces) ---- */

int	 http_init(const struct config *, struct su_root_s *, char *err,
	    size_t errlen);
void	 http_shutdown(void);

/* ---- metrics.c: counters for /metrics (the rest in http.h) ---- */

void	 metrics_sip_request(const char *method);
void	 metrics_commit(int64_t us, int ok);

/* ---- token.c: the HTTP API's bearer tokens (sippushctl token) ---- */

struct cmd_call;
void	 token_cmd(struct cmd_call *, int argc, char **argv);
int	 token_init(const struct config *);
int	 token_replace(const struct token_row *, size_t);
void	 token_shutdown(void);

/* ---- clock.c: the one clock ---- */

int64_t	 clock_now(void);
int64_t	 clock_now_ms(void);
int64_t	 clock_mono_us(void);
void	 clock_fake(int64_t (*)(void));

#endif /* SIPPUSHD_H */
