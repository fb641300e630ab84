/*
 * sippush.h: libsippush, the client side of sippush.
 *
 * A client registers with a sippush server (sippushd), keeps the
 * registration fresh, sends OPTIONS heartbeats, moves to the next server
 * of its list when one fails, and hands every control message (a SIP
 * MESSAGE carrying a Sippush-Message-Id header) to the application once.
 * The application's verdict becomes the SIP answer: a 2xx acknowledges
 * the message, anything else makes the server send it again later.
 *
 * Threads. A client lives on one thread, the one that creates it, runs
 * it (sippush_run, or sippush_step from the application's own loop) and
 * destroys it; every callback runs there. From any other thread, and
 * from a signal handler for the two marked so, only sippush_answer,
 * sippush_stop and sippush_wakeup may be called. To run a client in the
 * background, create, run and destroy it in a thread of your own.
 *
 * Errors are reported as errno values (0 on success). See libsippush(3).
 */
#ifndef SIPPUSH_H
#define SIPPUSH_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SIPPUSH_ID_MAX		64	/* bytes in a client or message ID */
#define SIPPUSH_CLASS_MAX	32	/* bytes in a class name */

/* Verdicts: what the message callback returns, what sippush_answer takes.
 * Any SIP status 200..699 may be given too: 2xx acknowledges. */
#define SIPPUSH_DEFER		0	/* answer later with sippush_answer */
#define SIPPUSH_ACCEPT		200	/* taken: 200 OK */
#define SIPPUSH_REJECT		500	/* not taken: the server retries */

struct sippush;

enum sippush_transport {
	SIPPUSH_TRANSPORT_UDP,
	SIPPUSH_TRANSPORT_TCP,
	SIPPUSH_TRANSPORT_TLS,		/* servers' default port 5061 */
};

enum sippush_state {
	SIPPUSH_STATE_REGISTERING,	/* sending REGISTER to a server */
	SIPPUSH_STATE_REGISTERED,	/* registered, heartbeats running */
	SIPPUSH_STATE_WAITING,		/* every server failed: backing off */
	SIPPUSH_STATE_STOPPING,		/* sippush_stop: unregistering */
	SIPPUSH_STATE_STOPPED,		/* done: sippush_destroy may follow */
};

enum sippush_log_level {
	SIPPUSH_LOG_ERROR,
	SIPPUSH_LOG_WARNING,
	SIPPUSH_LOG_NOTICE,
	SIPPUSH_LOG_INFO,
	SIPPUSH_LOG_DEBUG,
};

/*
 * A control message, owned by the library. Its fields are valid during
 * the callback and, when the callback returns SIPPUSH_DEFER, until the
 * message is answered with sippush_answer (or the client is destroyed).
 */
struct sippush_message {
	const char	*id;		/* Sippush-Message-Id */
	const char	*content_type;	/* "text/plain" when absent */
	const char	*body;		/* body_len bytes, then a NUL */
	size_t		 body_len;
	const char	*server;	/* the server it came from, as listed
					   in the settings */
	void		*user;		/* the application's, NULL at first */
};

/*
 * Called once per message ID (duplicates are answered by the library:
 * 200 when the ID was accepted before, held with the first copy while
 * that one is unanswered). Returns a verdict: SIPPUSH_ACCEPT (or any
 * 2xx), SIPPUSH_REJECT (or any status 300..699), or SIPPUSH_DEFER.
 */
typedef int	 sippush_message_fn(struct sippush *, struct sippush_message *,
		    void *arg);
/*
 * A request another client sent to this one through the server (a
 * MESSAGE relayed by sippushd, see sippushd(8) "RELAY"), owned by the
 * library. Its fields are valid until it is answered with sippush_reply
 * (or the client stops or is destroyed).
 */
struct sippush_request {
	const char	*from;		/* the sender's client ID, as the server
					   verified it (Sippush-From-Id) */
	const char	*from_class;	/* its class, "" if not given */
	const char	*content_type;	/* "text/plain" when absent */
	const char	*body;		/* body_len bytes, then a NUL */
	size_t		 body_len;
	void		*user;		/* the application's, NULL at first */
};

/*
 * Called for each relayed request. Answer it with sippush_reply, during
 * the callback or later (on the client's thread). Unanswered after
 * answer_timeout the library answers 480 (503 when the client stops);
 * the request stays yours until you call sippush_reply on it anyway
 * (which then returns ETIMEDOUT and frees it) or destroy the client.
 * NULL in the settings: every relayed request is answered 501.
 */
typedef void	 sippush_request_fn(struct sippush *, struct sippush_request *,
		    void *arg);

/*
 * The final answer to sippush_send: status (2xx the target's answer,
 * 202 with message_id for a stored request, 404/480/408/403 from the
 * server, 408 when nothing came back at all), the reason phrase, the
 * body with its type (NULL, 0 when none). Valid during the call only.
 */
struct sippush_response {
	int		 status;
	const char	*phrase;
	const char	*content_type;
	const char	*body;		/* body_len bytes, then a NUL */
	size_t		 body_len;
	const char	*message_id;	/* 202: the stored message's ID */
};
typedef void	 sippush_response_fn(struct sippush *,
		    const struct sippush_response *, void *arg);

/* The client changed state; server is the one in use, or NULL. */
typedef void	 sippush_state_fn(struct sippush *, enum sippush_state,
		    const char *server, void *arg);
/* One log line (no newline), "client: ..." or "sofia: ...". */
typedef void	 sippush_log_fn(enum sippush_log_level, const char *line,
		    void *arg);

/*
 * What a client does. Fill with sippush_settings_init, then change what
 * you need. Strings are copied by sippush_create. Times: see the unit
 * after each field. Ranges are in libsippush(3).
 */
struct sippush_settings {
	const char *const *servers;	/* "host", "host:port", "[v6]:port",
					   or "domain.name" (SRV, RFC 3263);
					   in order of preference */
	size_t		 nservers;
	const char	*client_id;	/* required */
	const char	*client_class;	/* NULL: the server's default class */
	enum sippush_transport transport;	/* UDP */
	const char	*ca_file;	/* TLS: PEM certificates of the CAs
					   the server's must be signed by;
					   NULL: the system's bundle */
	int		 tls_insecure;	/* TLS: accept any server certificate
					   (tests only; logs a warning): 0 */
	const char	*resolv_conf;	/* DNS for SRV (a server given as a
					   domain): resolv.conf to read
					   ("nameserver", "port", "options"
					   lines); NULL: /etc/resolv.conf */
	const char	*bind_address;	/* local address, NULL: all (IPv4) */
	int		 bind_port;	/* 0: any */
	int		 expires;	/* s, registration asked for: 600 */
	int		 heartbeat_interval;	/* s between OPTIONS: 30; 0 off */
	int		 request_timeout;	/* ms a request may go unanswered
					   before its server counts as failed:
					   8000 */
	int		 answer_timeout;	/* ms before an unanswered message
					   gets 480: 5000 (below sippushd's
					   dispatch.timeout, 8000) */
	int		 retry_initial;	/* ms, first wait after a full round
					   of failed servers: 1000 */
	int		 retry_max;	/* ms, longest wait: 60000 */
	int		 failback_interval;	/* s between checks whether an
					   earlier server is back: 300; 0 off */
	int		 seen_max;	/* message IDs remembered: 1024 */
	int		 max_pending;	/* messages unanswered at once: 64 */
	int		 any_source;	/* accept MESSAGEs from any address
					   (else only from a server of the
					   list that answered us): 0 */
	const char	*username;	/* Digest credentials (SHA-256 or */
	const char	*password;	/* MD5): NULL username = client_id */
	const char	*user_agent;	/* NULL: "libsippush/VERSION" */
	int		 relay_discovery_port;	/* UDP port where edge relays
					   announce themselves (RELAY in
					   libsippush(3)); 0: off, talk to
					   the servers directly */
	const char	*relay_interface;	/* listen for relays on this
					   interface only; NULL: any */
	int		 relay_lease;	/* ms an announcement is valid: 3000 */

	sippush_message_fn *on_message;	/* required */
	sippush_request_fn *on_request;	/* may be NULL: relayed requests
					   are answered 501 */
	sippush_state_fn *on_state;	/* may be NULL */
	sippush_log_fn	*on_log;	/* may be NULL: no logging */
	enum sippush_log_level log_level;	/* SIPPUSH_LOG_INFO */
	int		 sip_log_level;	/* Sofia-SIP's own, 0..9: 0 */
	void		*arg;		/* passed to the callbacks */
};

void	 sippush_settings_init(struct sippush_settings *);

/*
 * Create a client from s. It starts registering with the first server
 * as soon as it runs (sippush_run or sippush_step). Returns 0 and the
 * client in *cp, or EINVAL (bad settings), ENOMEM or EIO (the SIP stack
 * could not start, e.g. the bind address), with a reason in err.
 */
int	 sippush_create(struct sippush **cp, const struct sippush_settings *s,
	    char *err, size_t errlen);

/*
 * Run the client's events: wait at most timeout_ms (0: do not wait,
 * -1: until something happens) for network events and timers, handle
 * them, and return. Returns 1 while the client runs, 0 once it has
 * stopped (after sippush_stop).
 */
int	 sippush_step(struct sippush *, int timeout_ms);

/* Run the client until it has stopped (after sippush_stop). Returns 0. */
int	 sippush_run(struct sippush *);

/*
 * Ask the client to stop: answer the unanswered messages 503, unregister
 * (waiting at most request_timeout, 4 s at most), shut the SIP stack
 * down; then sippush_run returns and sippush_step returns 0. Any thread;
 * async-signal-safe.
 */
void	 sippush_stop(struct sippush *);

/* Make a sippush_step in progress, or the next one, return promptly.
 * Any thread; async-signal-safe. */
void	 sippush_wakeup(struct sippush *);

/*
 * Answer a deferred message with a verdict (2xx accepts, 300..699
 * rejects). Accepting records its ID as seen. m must not be used after.
 * Any thread (the answer is sent by the client's thread). Returns 0, or
 * EINVAL for a status outside 200..699.
 */
int	 sippush_answer(struct sippush *, struct sippush_message *m,
	    int status);

/*
 * Send a request (body_len bytes of body, of content_type, NULL:
 * text/plain) to the client to_id through the server in use; done is
 * called once with the final answer. SIPPUSH_SEND_STORE asks the server
 * to store it and deliver it as a control message if the target cannot
 * answer now (202 and a message ID). Client's thread only. Returns 0;
 * EINVAL (bad ID, NULL done), ENOTCONN (not registered) or ENOMEM, and
 * then done is not called.
 */
#define SIPPUSH_SEND_STORE	0x01
int	 sippush_send(struct sippush *, const char *to_id,
	    const char *content_type, const void *body, size_t body_len,
	    int flags, sippush_response_fn *done, void *arg);

/*
 * Answer a relayed request with status (200..699) and a body (NULL, 0:
 * none; content_type NULL: text/plain). r must not be used after.
 * Client's thread only. Returns 0; ETIMEDOUT when the library had
 * answered it already (480 or 503; r is freed all the same); EINVAL for
 * a status outside 200..699 (r is kept).
 */
int	 sippush_reply(struct sippush *, struct sippush_request *r,
	    int status, const char *content_type, const void *body,
	    size_t body_len);

/*
 * The memory of seen message IDs: those accepted, most recent last, at
 * most seen_max (the least recently seen is forgotten first). An ID seen
 * again is answered 200 without reaching the callback. An application
 * that persists them loads them (oldest first) with sippush_seen_add
 * before running the client, and saves them with sippush_seen_foreach
 * (oldest first; fn returning non-zero stops and is returned). These
 * run on the client's thread only. sippush_seen_add returns 0 or EINVAL
 * (an empty ID, or one longer than SIPPUSH_ID_MAX).
 */
int	 sippush_seen_add(struct sippush *, const char *id);
int	 sippush_seen_has(struct sippush *, const char *id);
int	 sippush_seen_foreach(struct sippush *,
	    int (*fn)(const char *id, void *arg), void *arg);

enum sippush_state sippush_state(const struct sippush *);
/* The server in use (as listed in the settings), or NULL. */
const char *sippush_server(const struct sippush *);

/* Free the client. Stop it first (sippush_stop, then run until stopped)
 * for a clean unregistration; destroying a running client skips it. */
void	 sippush_destroy(struct sippush *);

/*
 * Edge relay (RELAY in libsippush(3)): a stateless SIP outbound proxy
 * for a LAN whose other machines cannot reach the server. It announces
 * itself by broadcast on one interface, takes part in the election of
 * one active relay per LAN, and while active forwards the LAN clients'
 * requests (a REGISTER with an RFC 3327 Path naming it) to the server
 * and the server's requests to them. It runs on its own thread: create,
 * run and destroy it there; sippush_relay_stop may be called from any
 * thread or a signal handler.
 */
struct sippush_relay;

struct sippush_relay_settings {
	const char	*server;	/* "IPv4[:port]" it forwards to (UDP) */
	const char	*interface;	/* the LAN interface: required */
	const char	*relay_id;	/* unique on the LAN: required */
	int		 priority;	/* 0..65535, lower wins: 100 */
	int		 sip_port;	/* its SIP port (UDP): 5070 */
	int		 discovery_port;	/* announcements (UDP): 5071 */
	int		 announce_interval;	/* ms: 1000 */
	int		 lease;		/* ms an announcement is valid:
					   3000, at least 2 x the interval */
	sippush_log_fn	*on_log;	/* may be NULL */
	enum sippush_log_level log_level;	/* SIPPUSH_LOG_INFO */
	void		*arg;
};

void	 sippush_relay_settings_init(struct sippush_relay_settings *);
/* 0 and the relay in *rp, or EINVAL, ENOMEM, EIO with a reason in err. */
int	 sippush_relay_create(struct sippush_relay **rp,
	    const struct sippush_relay_settings *, char *err, size_t errlen);
/* Run until sippush_relay_stop (within 100 ms of it). Returns 0. */
int	 sippush_relay_run(struct sippush_relay *);
void	 sippush_relay_stop(struct sippush_relay *);
/* Is it the active relay of its LAN now? */
int	 sippush_relay_active(const struct sippush_relay *);
/* Requests relayed so far. */
unsigned long sippush_relay_relayed(const struct sippush_relay *);
void	 sippush_relay_destroy(struct sippush_relay *);

const char *sippush_state_name(enum sippush_state);
const char *sippush_version(void);

#ifdef __cplusplus
}
#endif

#endif /* SIPPUSH_H */
