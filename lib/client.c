/*
 * client.c: a sippush client on Sofia-SIP's nua.
 *
 * How it works. One su_root, on the caller's thread (threading off, so
 * nua runs there too). The client registers with the server the failover
 * policy (failover.c) names; once registered it sends an OPTIONS
 * heartbeat every heartbeat_interval seconds and nua refreshes the
 * registration. A REGISTER or heartbeat that fails (no answer within
 * request_timeout, a transport error, a refusal) sends it to the next
 * server. A heartbeat whose answer shows another source address or port
 * than the registration's (the Via received/rport the server saw: a new
 * TCP connection, a new NAT binding) makes it register again, because
 * sippushd counts only heartbeats from where the client registered.
 * While registered with a later server it probes the earlier ones every
 * failback_interval seconds and moves back to the first that answers.
 *
 * Every incoming MESSAGE is answered by us (NUTAG_APPL_METHOD): its
 * Sippush-Message-Id is looked up in the seen set (dedup.c) and among
 * the messages the application has not answered yet; only a new ID
 * reaches the callback. Each transaction waiting for a verdict has a
 * timer: unanswered after answer_timeout, it gets 480, the message stays
 * with the application. Other threads hand their answers over through a
 * locked queue and an eventfd registered with the root.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define SU_ROOT_MAGIC_T		struct sippush
#define SU_TIMER_ARG_T		void
#define SU_WAKEUP_ARG_T		void
#define NUA_MAGIC_T		struct sippush
#define NUA_HMAGIC_T		void
#define SRES_CONTEXT_T		struct sippush

#include <sofia-sip/auth_digest.h>
#include <sofia-sip/msg_addr.h>
#include <sofia-sip/nta.h>
#include <sofia-sip/nua.h>
#include <sofia-sip/nua_tag.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/su.h>
#include <sofia-sip/su_log.h>
#include <sofia-sip/su_tag.h>
#include <sofia-sip/su_wait.h>
#include <sofia-sip/sresolv.h>
#include <sofia-sip/tport_tag.h>

#include "digest.h"
#include "sippush_int.h"
#include "wire.h"

_Static_assert(SIPPUSH_ID_MAX == CLIENT_ID_MAX &&
    SIPPUSH_CLASS_MAX == CLIENT_CLASS_MAX, "sippush.h and wire.h differ");

#define CLIENT_AUTH_ROUNDS	3	/* challenges answered in a row */

#ifndef SIPPUSH_LIB_VERSION
#define SIPPUSH_LIB_VERSION "0.0.0"
#endif

#define REREG_STREAK_MAX	3
#define CLIENT_STOP_MAX		4000	/* ms an unregistration may take */
#define CLIENT_FOREVER		3600000	/* ms, sippush_step(c, -1) */
#define CLIENT_SYSTEM_CA	"/etc/ssl/certs/ca-certificates.crt"
#define CLIENT_CA_MAX		(16 * 1024 * 1024)	/* bytes of ca_file */
#define CLIENT_HOLDS		16	/* servers kept off (503) at once */
#define CLIENT_TARGETS		16	/* a 3xx's or an SRV name's targets */
#define CLIENT_TARGET_ADDRS	4	/* addresses used per SRV target */

extern su_log_t nua_log[];
extern su_log_t nta_log[];
extern su_log_t tport_log[];

struct server {
	char		*name;		/* as in the settings */
	char		*url;		/* sip:host:port;transport=x */
	char		*aor;		/* sip:ID@host */
	char		 addr[64];	/* IP it answered from, "" unknown */
	int		 port;		/* and its port */
	char		*domain;	/* listed as a domain: SRV, or NULL */
};

/* An SRV target being resolved (A and AAAA). */
struct srv_target {
	char		*host;		/* on home */
	int		 port;
	char		 addrs[CLIENT_TARGET_ADDRS][64];
	int		 naddrs;
};

struct msg;

/* A MESSAGE transaction waiting for the application's verdict. */
struct txn {
	struct txn		*next;
	struct msg		*msg;
	nua_handle_t		*nh;
	nua_saved_event_t	 saved[1];
	su_timer_t		*timer;
};

/* A message the application has (the first copy of an ID). */
struct msg {
	struct sippush_message	 pub;		/* first: handed out */
	struct sippush		*c;
	struct msg		*next;		/* c->pending */
	struct msg		*aq_next;	/* c->aq: answered elsewhere */
	struct txn		*txns;
	int			 in_callback;
	int			 verdict;	/* given during the callback */
};

/* A relayed request waiting for the application's answer. */
struct req {
	struct sippush_request	 pub;		/* first: handed out */
	struct req		*next;		/* c->requests */
	nua_handle_t		*nh;
	nua_saved_event_t	 saved[1];
	su_timer_t		*timer;
	int			 answered;	/* by us (480, 503): kept until
						   the application replies */
};

/* A request of ours to another client (sippush_send). */
struct snd {
	struct snd		*next;		/* c->sends */
	nua_handle_t		*nh;
	sippush_response_fn	*done;
	void			*arg;
	char			*uri;		/* Request-URI */
	char			*ctype;
	sip_payload_t		*body;
	int			 flags;
	int			 auth_tries;
};

struct sippush {
	struct sippush_settings	 s;		/* strings on home */
	su_home_t		 home[1];
	struct server		*servers;
	su_root_t		*root;
	nua_t			*nua;
	char			*features;	/* "class=NAME", or NULL */
	char			 expires[16];

	nua_handle_t		*reg_nh;	/* registration in use */
	nua_handle_t		*hb_nh;		/* its heartbeats */
	nua_handle_t		*probe_nh;	/* failback probe */
	nua_handle_t		*old_nh;	/* unregistering a server left */
	size_t			 probe_index;
	int			 hb_outstanding;
	int			 rereg_streak;	/* re-registrations for an
						   uncounted heartbeat in a row */
	int			 auth_rounds;	/* 401s answered in a row */
	struct {			/* the server's Digest challenge */
		char		*realm;	/* on home; NULL: none yet */
		char		*nonce;
		char		*opaque;
		int		 use_sha;	/* SHA-256, else MD5 */
		uint32_t	 nc;	/* requests made with this nonce */
		char		 cnonce[17];
	}			 dg;
	int			 registered;	/* reg_nh has a registration */
	char			 source[96];	/* us as the server saw us */

	su_timer_t		*retry_timer;
	su_timer_t		*hb_timer;
	su_timer_t		*failback_timer;
	su_timer_t		*stop_timer;

	struct sippush_failover	 fo;
	struct sippush_dedup	*seen;
	struct msg		*pending;
	size_t			 npending;
	enum sippush_state	 state;
	const char		*state_server;

	int			 efd;		/* wakes the loop */
	int			 wait_index;
	pthread_t		 thread;
	pthread_mutex_t		 lock;		/* the answer queue */
	struct msg		*aq, **aq_tail;
	volatile sig_atomic_t	 stop_requested;
	int			 stopping;
	int			 shutdown_sent;
	int			 stopped;
	int			 sofia_logs;	/* logs redirected to us */
	char			 sofia_line[1024];
	size_t			 sofia_len;

	/* TLS: Sofia's transport log, watched for why a server's
	 * certificate was refused (it tells nobody else) */
	char			 tport_line[1024];
	size_t			 tport_len;
	char			 tls_error[256];	/* "" none */

	struct req		*requests;	/* relayed, unanswered */
	struct snd		*sends;		/* sippush_send, unanswered */
	struct sippush_discovery *disc;		/* edge relays, or NULL */

	/* a 3xx to our REGISTER: its Contacts, tried in q order in place
	 * of the listed server fo.current (which stays where it is) */
	struct server		 redir[CLIENT_TARGETS];
	size_t			 nredir;	/* 0: not redirected */
	size_t			 iredir;	/* in use, or being tried */
	int			 redirects;	/* 3xx followed in a row */

	/* a server listed as a domain: its SRV targets, then their
	 * addresses, become the redir list (RFC 3263) */
	sres_resolver_t		*sres;
	int			 resolving;	/* queries outstanding */
	struct srv_target	 targets[CLIENT_TARGETS];
	size_t			 ntargets;
	uint32_t		 ttl;		/* s, the answers' lowest */
	int			 redir_srv;	/* redir came from SRV */
	int64_t			 srv_until;	/* ms: when its TTL ends */
	char			 srv_after[160];	/* resolving again after
						   this target failed */

	/* servers that answered 503 with Retry-After: not tried again
	 * before until (ms, monotonic); keyed by URL */
	struct {
		char		 url[160];
		int64_t		 until;
	}			 holds[CLIENT_HOLDS];
	char			 relay[80];	/* "ip:port" in use, "" none */
};

static void client_register(struct sippush *);
static void client_stop_begin(struct sippush *);
static void client_numeric(const char *, char *, size_t);
static const char *client_transport_name(enum sippush_transport);
static const char *client_header(sip_t const *, const char *);

static const char *const state_names[] = {
	"registering", "registered", "waiting", "stopping", "stopped"
};

const char *
sippush_state_name(enum sippush_state st)
{
	return (unsigned)st < sizeof(state_names) / sizeof(state_names[0]) ?
	    state_names[st] : "?";
}

const char *
sippush_version(void)
{
	return SIPPUSH_LIB_VERSION;
}

void
sippush_settings_init(struct sippush_settings *s)
{
	memset(s, 0, sizeof(*s));
	s->transport = SIPPUSH_TRANSPORT_UDP;
	s->expires = 600;
	s->heartbeat_interval = 30;
	s->request_timeout = 8000;
	s->answer_timeout = 5000;
	s->retry_initial = 1000;
	s->retry_max = 60000;
	s->failback_interval = 300;
	s->seen_max = 1024;
	s->max_pending = 64;
	s->relay_lease = 3000;
	s->log_level = SIPPUSH_LOG_INFO;
}

/* ---- logging ---- */

static void client_log(struct sippush *, enum sippush_log_level,
    const char *, ...) __attribute__((format(printf, 3, 4)));

static void
client_log(struct sippush *c, enum sippush_log_level level, const char *fmt,
    ...)
{
	char	 line[1024];
	va_list	 ap;

	if (c->s.on_log == NULL || level > c->s.log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	c->s.on_log(level, line, c->s.arg);
}

/* Sofia's lines end in '\n' and may come in pieces: collect them. */
static void
client_sofia_log(void *arg, char const *fmt, va_list ap)
{
	struct sippush	*c = arg;
	int		 n;

	n = vsnprintf(c->sofia_line + c->sofia_len,
	    sizeof(c->sofia_line) - c->sofia_len, fmt, ap);
	if (n < 0)
		return;
	c->sofia_len += (size_t)n;
	if (c->sofia_len >= sizeof(c->sofia_line) - 1)
		c->sofia_len = sizeof(c->sofia_line) - 1;
	if (c->sofia_len == 0 || c->sofia_line[c->sofia_len - 1] != '\n')
		return;
	c->sofia_line[c->sofia_len - 1] = '\0';
	c->sofia_len = 0;
	client_log(c, SIPPUSH_LOG_INFO, "sofia: %s", c->sofia_line);
}

/*
 * Over TLS the transport log runs at level 3 at least: Sofia says there
 * (only) why it refused a server's certificate, in the lines of its
 * verify callback ("err 20:unable to get local issuer certificate") or
 * of its name check ("Peer Subject Mismatch (host)"). The reason is kept
 * for client_server_failed; below sip_log_level 3 the other lines of
 * that level are dropped.
 */
static void
client_tport_log(void *arg, char const *fmt, va_list ap)
{
	struct sippush	*c = arg;
	const char	*p;
	int		 n, tls;

	n = vsnprintf(c->tport_line + c->tport_len,
	    sizeof(c->tport_line) - c->tport_len, fmt, ap);
	if (n < 0)
		return;
	c->tport_len += (size_t)n;
	if (c->tport_len >= sizeof(c->tport_line) - 1)
		c->tport_len = sizeof(c->tport_line) - 1;
	if (c->tport_len == 0 || c->tport_line[c->tport_len - 1] != '\n')
		return;
	c->tport_line[c->tport_len - 1] = '\0';
	c->tport_len = 0;
	tls = 0;
	if ((p = strstr(c->tport_line, "  err ")) != NULL &&
	    (p = strchr(p, ':')) != NULL) {
		snprintf(c->tls_error, sizeof(c->tls_error), "%s", p + 1);
		tls = 1;
	} else if ((p = strstr(c->tport_line, "Peer Subject Mismatch (")) !=
	    NULL) {
		snprintf(c->tls_error, sizeof(c->tls_error), "the certificate "
		    "is not for %.*s", (int)strcspn(p + 23, ")"), p + 23);
		tls = 1;
	} else if (strstr(c->tport_line, "certificate at depth") ||
	    strstr(c->tport_line, "  issuer ") ||
	    strstr(c->tport_line, "  subject ") ||
	    strstr(c->tport_line, "Peer ") ||
	    strstr(c->tport_line, "TLS setup failed"))
		tls = 1;
	if (c->s.sip_log_level >= 3 || (tls && c->s.on_log))
		client_log(c, c->s.sip_log_level >= 3 ? SIPPUSH_LOG_INFO :
		    SIPPUSH_LOG_DEBUG, "sofia: %s", c->tport_line);
}

/* Sofia's logging is process-wide: route it to this client's logger
 * (or, with none, keep it quiet unless sip_log_level asks). */
static void
client_sofia_logs(struct sippush *c, int on)
{
	su_log_t	*logs[] = { su_log_default, nua_log, nta_log, tport_log };
	size_t		 i;
	int		 tls = c->s.transport == SIPPUSH_TRANSPORT_TLS;

	for (i = 0; i < sizeof(logs) / sizeof(logs[0]); i++) {
		if (tls && logs[i] == tport_log) {
			su_log_redirect(logs[i], on ? client_tport_log : NULL,
			    on ? c : NULL);
			if (on)
				su_log_set_level(logs[i],
				    c->s.sip_log_level > 3 ?
				    (unsigned)c->s.sip_log_level : 3);
			continue;
		}
		if (c->s.on_log)
			su_log_redirect(logs[i], on ? client_sofia_log : NULL,
			    on ? c : NULL);
		if (on)
			su_log_set_level(logs[i], (unsigned)c->s.sip_log_level);
	}
	c->sofia_logs = on && (c->s.on_log || tls);
}

/* ---- states and small helpers ---- */

static void
client_set_state(struct sippush *c, enum sippush_state st,
    const char *server)
{
	if (c->state == st && c->state_server == server)
		return;
	c->state = st;
	c->state_server = server;
	if (c->s.on_state)
		c->s.on_state(c, st, server, c->s.arg);
}

static struct server *
client_current(struct sippush *c)
{
	if (c->nredir > 0)
		return &c->redir[c->iredir];
	return &c->servers[c->fo.current];
}

static int64_t
client_now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ms before url may be tried again (a 503 with Retry-After); 0: now. */
static int64_t
client_held(struct sippush *c, const char *url)
{
	int64_t	 now = client_now_ms();
	size_t	 i;

	for (i = 0; i < CLIENT_HOLDS; i++)
		if (c->holds[i].until > now &&
		    strcmp(c->holds[i].url, url) == 0)
			return c->holds[i].until - now;
	return 0;
}

/* Keep off url for ms (replacing its hold, else the one ending first). */
static void
client_hold(struct sippush *c, const char *url, int64_t ms)
{
	size_t	 i, slot = 0;

	for (i = 0; i < CLIENT_HOLDS; i++) {
		if (strcmp(c->holds[i].url, url) == 0) {
			slot = i;
			break;
		}
		if (c->holds[i].until < c->holds[slot].until)
			slot = i;
	}
	snprintf(c->holds[slot].url, sizeof(c->holds[slot].url), "%s", url);
	c->holds[slot].until = client_now_ms() + ms;
}

/* Forget the targets of a 3xx: back to the listed servers. */
static void
client_redirect_clear(struct sippush *c)
{
	size_t	 i;

	for (i = 0; i < c->nredir; i++) {
		if (c->state_server == c->redir[i].name)
			c->state_server = c->servers[c->fo.current].name;
		su_free(c->home, c->redir[i].name);
		su_free(c->home, c->redir[i].url);
	}
	memset(c->redir, 0, sizeof(c->redir));
	c->nredir = 0;
	c->iredir = 0;
	c->redir_srv = 0;
}

static uint32_t
client_random(void)
{
	uint32_t	 r;

	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r))
		r = (uint32_t)rand();
	return r;
}

static void
client_destroy_handle(nua_handle_t **nhp)
{
	if (*nhp) {
		nua_handle_destroy(*nhp);
		*nhp = NULL;
	}
}

/* Where the server saw a request come from: its Via's received (or
 * host) and rport, "" when it did not say. */
static void
client_via_source(sip_t const *sip, char *buf, size_t len)
{
	sip_via_t const	*v = sip ? sip->sip_via : NULL;

	buf[0] = '\0';
	if (v == NULL || v->v_rport == NULL || v->v_rport[0] == '\0')
		return;
	snprintf(buf, len, "%s:%s", v->v_received ? v->v_received :
	    v->v_host, v->v_rport);
}

/* The numeric address and port the current event's message came
 * from; 0, or -1 with buf "" when unknown. */
static int
client_event_addr(struct sippush *c, char *buf, size_t len, int *port)
{
	msg_t		*msg = nua_current_request(c->nua);
	su_addrinfo_t	*ai = msg ? msg_addrinfo(msg) : NULL;
	char		 serv[16];

	buf[0] = '\0';
	*port = 0;
	if (ai == NULL || ai->ai_addr == NULL || ai->ai_addrlen == 0)
		return -1;
	if (getnameinfo(ai->ai_addr, (socklen_t)ai->ai_addrlen, buf,
	    (socklen_t)len, serv, sizeof(serv),
	    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		buf[0] = '\0';
		return -1;
	}
	*port = atoi(serv);
	return 0;
}

/* ---- registration, heartbeats, failover ---- */

static void
client_stop_timers(struct sippush *c)
{
	su_timer_reset(c->retry_timer);
	su_timer_reset(c->hb_timer);
	su_timer_reset(c->failback_timer);
}

static void
client_retry_timer(su_root_magic_t *c, su_timer_t *t, su_timer_arg_t *arg)
{
	(void)t;
	(void)arg;
	if (!c->stopping && (c->disc == NULL || c->relay[0]))
		client_register(c);
}

/* The server in use failed (what: "REGISTER", "heartbeat"): drop it, go
 * to the next one, at once or after a backoff. */
static void
client_server_failed(struct sippush *c, const char *what, int status,
    const char *phrase)
{
	struct server	*sv = client_current(c);
	int64_t		 delay;

	if (c->tls_error[0]) {
		client_log(c, SIPPUSH_LOG_ERROR, "client: %s: TLS: the "
		    "server's certificate was refused: %s", sv->name,
		    c->tls_error);
		c->tls_error[0] = '\0';
	}
	if (what)
		client_log(c, SIPPUSH_LOG_WARNING, "client: %s: %s failed: "
		    "%d %s", sv->name, what, status, phrase ? phrase : "");
	client_stop_timers(c);
	client_destroy_handle(&c->hb_nh);
	client_destroy_handle(&c->probe_nh);
	client_destroy_handle(&c->reg_nh);
	c->registered = 0;
	c->hb_outstanding = 0;
	c->source[0] = '\0';
	if (c->nredir > 0 && c->redir_srv && c->iredir + 1 < c->nredir &&
	    client_now_ms() >= c->srv_until) {
		/* the DNS answer is out of date: ask again, and go on after
		 * this target if it is still there */
		client_log(c, SIPPUSH_LOG_INFO, "client: %s: TTL over, "
		    "resolving %s again", sv->name,
		    c->servers[c->fo.current].domain);
		snprintf(c->srv_after, sizeof(c->srv_after), "%s", sv->url);
		client_redirect_clear(c);
		su_timer_set_interval(c->retry_timer, client_retry_timer,
		    NULL, 1);
		return;
	}
	if (c->nredir > 0) {
		/* the next target of the 3xx or SRV answer, else the listed
		 * server that sent us there counts as failed */
		if (++c->iredir < c->nredir) {
			su_timer_set_interval(c->retry_timer,
			    client_retry_timer, NULL, 1);
			return;
		}
		client_log(c, SIPPUSH_LOG_INFO, "client: no target of %s "
		    "answers: next server of the list",
		    c->servers[c->fo.current].name);
		client_redirect_clear(c);
	}
	delay = sippush_failover_next(&c->fo, c->s.retry_initial,
	    c->s.retry_max, client_random());
	if (delay > 0) {
		client_log(c, SIPPUSH_LOG_NOTICE, "client: no server answers, "
		    "trying %s again in %lld ms", client_current(c)->name,
		    (long long)delay);
		client_set_state(c, SIPPUSH_STATE_WAITING, NULL);
	}
	su_timer_set_interval(c->retry_timer, client_retry_timer, NULL,
	    delay > 0 ? (su_duration_t)delay : 1);
}

/* The active edge relay of the LAN changed (discovery, edge.c): drop
 * what went through the old one, and register through the new one. */
static void
client_relay_changed(void *arg, const char *relay, const char *id)
{
	struct sippush	*c = arg;
	char		 url[128];

	if (c->stopping)
		return;
	client_stop_timers(c);
	client_destroy_handle(&c->hb_nh);
	client_destroy_handle(&c->probe_nh);
	client_destroy_handle(&c->reg_nh);
	c->registered = 0;
	c->hb_outstanding = 0;
	c->source[0] = '\0';
	if (relay == NULL) {
		client_log(c, SIPPUSH_LOG_WARNING, "client: relay %s gone, no "
		    "active relay on the LAN: waiting for one", c->relay);
		c->relay[0] = '\0';
		client_set_state(c, SIPPUSH_STATE_WAITING, NULL);
		return;
	}
	snprintf(c->relay, sizeof(c->relay), "%s", relay);
	snprintf(url, sizeof(url), "sip:%s;transport=udp", relay);
	client_log(c, SIPPUSH_LOG_NOTICE, "client: using relay %s (%s)",
	    relay, id);
	nua_set_params(c->nua, NUTAG_PROXY((url_string_t const *)url), TAG_END());
	su_timer_set_interval(c->retry_timer, client_retry_timer, NULL, 1);
}

/* ---- Digest authentication ----
 *
 * Sofia-SIP 1.12's own Digest client knows only MD5, and gives up on a
 * whole 401 when one of its challenges is of another algorithm (sippushd
 * offers SHA-256 first, RFC 8760). So the library answers challenges
 * itself: it keeps the current server's challenge (SHA-256 when offered,
 * else MD5), puts credentials with the next nonce count on every REGISTER,
 * heartbeat and unregistration it sends, and answers a 401 (first
 * contact, a stale or expired nonce, a refresh nua sent with the old
 * count) by sending the request again. CLIENT_AUTH_ROUNDS 401s in a row
 * mean the credentials are refused.
 */

static void
client_auth_clear(struct sippush *c)
{
	su_free(c->home, c->dg.realm);
	su_free(c->home, c->dg.nonce);
	su_free(c->home, c->dg.opaque);
	memset(&c->dg, 0, sizeof(c->dg));
}

/* Keep the best Digest challenge of a 401/407. 0, or -1 if none is. */
static int
client_auth_take(struct sippush *c, int status, sip_t const *sip)
{
	msg_auth_t const	*au, *best = NULL;
	auth_challenge_t	 ac, bac;
	uint32_t		 r[2];
	int			 best_sha = 0, sha;

	au = status == 407 ? (msg_auth_t const *)sip->sip_proxy_authenticate :
	    (msg_auth_t const *)sip->sip_www_authenticate;
	for (; au; au = au->au_next) {
		/* no parameters: Sofia's parser would assert */
		if (au->au_scheme == NULL || au->au_params == NULL ||
		    strcasecmp(au->au_scheme, "Digest") != 0)
			continue;
		memset(&ac, 0, sizeof(ac));
		ac.ac_size = sizeof(ac);
		if (auth_digest_challenge_get(c->home, &ac, au->au_params) < 0)
			continue;
		sha = ac.ac_algorithm &&
		    strcasecmp(ac.ac_algorithm, "SHA-256") == 0;
		if (ac.ac_realm == NULL || ac.ac_nonce == NULL ||
		    (!sha && !ac.ac_md5) || !ac.ac_auth ||
		    (best && (best_sha || !sha))) {
			auth_digest_challenge_free_params(c->home, &ac);
			continue;
		}
		if (best)
			auth_digest_challenge_free_params(c->home, &bac);
		best = au;
		best_sha = sha;
		bac = ac;
	}
	if (best == NULL)
		return -1;
	client_auth_clear(c);
	c->dg.realm = su_strdup(c->home, bac.ac_realm);
	c->dg.nonce = su_strdup(c->home, bac.ac_nonce);
	c->dg.opaque = bac.ac_opaque ? su_strdup(c->home, bac.ac_opaque) :
	    NULL;
	c->dg.use_sha = best_sha;
	auth_digest_challenge_free_params(c->home, &bac);
	if (getrandom(r, sizeof(r), GRND_NONBLOCK) != sizeof(r)) {
		r[0] = client_random();
		r[1] = client_random();
	}
	snprintf(c->dg.cnonce, sizeof(c->dg.cnonce), "%08x%08x", r[0], r[1]);
	return c->dg.realm && c->dg.nonce ? 0 : -1;
}

/* Credentials for the next request (method to uri), on home; NULL when
 * the server has not asked. Free with su_free. */
static char *
client_auth_header(struct sippush *c, const char *method, const char *uri)
{
	char		 ha1s[65], ha1m[33], resp[DIGEST_HEX_MAX], nc[9];
	const char	*user = c->s.username ? c->s.username :
			    c->s.client_id;
	char		*h;

	if (c->dg.nonce == NULL || c->s.password == NULL)
		return NULL;
	snprintf(nc, sizeof(nc), "%08x", ++c->dg.nc);
	digest_ha1(user, c->dg.realm, c->s.password, ha1s, ha1m);
	if (digest_response(c->dg.use_sha, c->dg.use_sha ? ha1s : ha1m,
	    c->dg.nonce, nc, c->dg.cnonce, method, uri, resp) == -1)
		return NULL;
	h = su_sprintf(c->home, "Digest username=\"%s\", realm=\"%s\", "
	    "nonce=\"%s\", uri=\"%s\", response=\"%s\", algorithm=%s, "
	    "cnonce=\"%s\", qop=auth, nc=%s%s%s%s", user, c->dg.realm,
	    c->dg.nonce, uri, resp, c->dg.use_sha ? "SHA-256" : "MD5",
	    c->dg.cnonce, nc, c->dg.opaque ? ", opaque=\"" : "",
	    c->dg.opaque ? c->dg.opaque : "", c->dg.opaque ? "\"" : "");
	explicit_bzero(ha1s, sizeof(ha1s));
	explicit_bzero(ha1m, sizeof(ha1m));
	return h;
}

/* ---- RFC 3263: a server listed as a domain ----
 *
 * When the failover comes to a server listed as a domain (a name with a
 * dot and no port), the client asks Sofia's resolver (sres, on the root:
 * nothing blocks) for the SRV records of _sip._udp, _sip._tcp or
 * _sips._tcp at that domain, orders them (sippush_srv_order: priority,
 * then weight), and asks for the A and AAAA records of each target; with
 * no SRV record, the domain itself on port 5060 (5061 over TLS). The
 * addresses, in that order, become the redir list, tried like a 3xx's
 * targets; when they are all used up the listed entry counts as failed,
 * and coming back to it resolves again (sres keeps answers for their
 * TTL, so this asks the DNS again only once the TTL is over).
 */

static void
client_targets_clear(struct sippush *c)
{
	size_t	 i;

	for (i = 0; i < c->ntargets; i++)
		su_free(c->home, c->targets[i].host);
	memset(c->targets, 0, sizeof(c->targets));
	c->ntargets = 0;
}

static uint32_t
client_srv_random(void *arg)
{
	(void)arg;
	return client_random();
}

/* Do two domain names match (either may end in a dot)? */
static int
client_same_name(const char *a, const char *b)
{
	size_t	 la = strlen(a), lb = strlen(b);

	if (la && a[la - 1] == '.')
		la--;
	if (lb && b[lb - 1] == '.')
		lb--;
	return la == lb && strncasecmp(a, b, la) == 0;
}

/* Every address query came back: make the redir list and go on. */
static void
client_srv_done(struct sippush *c)
{
	struct server		*listed = &c->servers[c->fo.current], *sv;
	const char		*tr = client_transport_name(c->s.transport);
	struct srv_target	*t;
	char			 list[512] = "";
	size_t			 i;
	int			 j;

	client_redirect_clear(c);
	for (i = 0; i < c->ntargets; i++) {
		t = &c->targets[i];
		for (j = 0; j < t->naddrs && c->nredir < CLIENT_TARGETS; j++) {
			sv = &c->redir[c->nredir];
			sv->url = su_sprintf(c->home, strchr(t->addrs[j], ':') ?
			    "sip:[%s]:%d;transport=%s" :
			    "sip:%s:%d;transport=%s", t->addrs[j], t->port,
			    tr);
			sv->name = su_sprintf(c->home, strchr(t->addrs[j],
			    ':') ? "%s ([%s]:%d)" : "%s (%s:%d)",
			    listed->domain, t->addrs[j], t->port);
			if (sv->url == NULL || sv->name == NULL)
				break;
			sv->aor = listed->aor;
			snprintf(sv->addr, sizeof(sv->addr), "%s",
			    t->addrs[j]);
			sv->port = t->port;
			snprintf(list + strlen(list), sizeof(list) -
			    strlen(list), "%s%s:%d", c->nredir ? ", " : "",
			    t->addrs[j], t->port);
			c->nredir++;
		}
	}
	client_targets_clear(c);
	if (c->nredir == 0) {
		c->srv_after[0] = '\0';
		client_server_failed(c, "DNS", 0, "no address found");
		return;
	}
	c->redir_srv = 1;
	c->srv_until = client_now_ms() + (int64_t)(c->ttl ? c->ttl : 1) *
	    1000;
	client_log(c, SIPPUSH_LOG_INFO, "client: %s resolves to %s (TTL "
	    "%lu s)", listed->domain, list, (unsigned long)c->ttl);
	if (c->srv_after[0]) {
		for (i = 0; i < c->nredir; i++)
			if (strcmp(c->redir[i].url, c->srv_after) == 0)
				break;
		c->srv_after[0] = '\0';
		if (i < c->nredir && i + 1 >= c->nredir) {
			/* the failed one is the last: the entry failed */
			c->iredir = c->nredir - 1;
			client_server_failed(c, NULL, 0, NULL);
			return;
		}
		if (i < c->nredir)
			c->iredir = i + 1;
	}
	client_register(c);
}

static void
client_srv_addr(sres_context_t *c, sres_query_t *q, sres_record_t **answers)
{
	struct srv_target	*t;
	sres_record_t		*r;
	size_t			 i, k;

	(void)q;
	for (k = 0; answers && answers[k]; k++) {
		r = answers[k];
		if (r->sr_record->r_status != 0 || (r->sr_record->r_type !=
		    sres_type_a && r->sr_record->r_type != sres_type_aaaa))
			continue;
		for (i = 0; i < c->ntargets; i++) {
			t = &c->targets[i];
			if (!client_same_name(t->host, r->sr_record->r_name) ||
			    t->naddrs >= CLIENT_TARGET_ADDRS)
				continue;
			if (r->sr_record->r_ttl < c->ttl)
				c->ttl = r->sr_record->r_ttl;
			if (r->sr_record->r_type == sres_type_a)
				inet_ntop(AF_INET, &r->sr_a->a_addr,
				    t->addrs[t->naddrs], 64);
			else
				inet_ntop(AF_INET6, &r->sr_aaaa->aaaa_addr,
				    t->addrs[t->naddrs], 64);
			t->naddrs++;
		}
	}
	sres_free_answers(c->sres, answers);
	if (--c->resolving == 0 && !c->stopping)
		client_srv_done(c);
}

static void
client_srv_answer(sres_context_t *c, sres_query_t *q, sres_record_t **answers)
{
	struct server		*listed = &c->servers[c->fo.current];
	struct sippush_srv	 rr[SIPPUSH_SRV_MAX];
	sres_srv_record_t	*srv[SIPPUSH_SRV_MAX];
	size_t			 order[SIPPUSH_SRV_MAX], n = 0, k;
	struct srv_target	*t;

	(void)q;
	c->resolving = 0;
	c->ttl = SIPPUSH_HOLD_MAX;
	if (c->stopping) {
		sres_free_answers(c->sres, answers);
		return;
	}
	for (k = 0; answers && answers[k] && n < SIPPUSH_SRV_MAX; k++) {
		if (answers[k]->sr_record->r_status != 0 ||
		    answers[k]->sr_record->r_type != sres_type_srv ||
		    answers[k]->sr_srv->srv_target == NULL)
			continue;
		srv[n] = answers[k]->sr_srv;
		if (answers[k]->sr_record->r_ttl < c->ttl)
			c->ttl = answers[k]->sr_record->r_ttl;
		rr[n].priority = srv[n]->srv_priority;
		rr[n].weight = srv[n]->srv_weight;
		n++;
	}
	client_targets_clear(c);
	if (n == 0) {
		client_log(c, SIPPUSH_LOG_INFO, "client: %s: no SRV record: "
		    "its own address, port %d", listed->domain,
		    c->s.transport == SIPPUSH_TRANSPORT_TLS ? 5061 : 5060);
		c->targets[0].host = su_strdup(c->home, listed->domain);
		c->targets[0].port = c->s.transport ==
		    SIPPUSH_TRANSPORT_TLS ? 5061 : 5060;
		c->ntargets = 1;
	} else {
		sippush_srv_order(rr, n, client_srv_random, NULL, order);
		for (k = 0; k < n && k < CLIENT_TARGETS; k++) {
			t = &c->targets[c->ntargets];
			if ((t->host = su_strdup(c->home,
			    srv[order[k]]->srv_target)) == NULL)
				break;
			t->port = srv[order[k]]->srv_port;
			c->ntargets++;
			client_log(c, SIPPUSH_LOG_DEBUG, "client: %s: SRV %u "
			    "%u %d %s", listed->domain, rr[order[k]].priority,
			    rr[order[k]].weight, t->port, t->host);
		}
	}
	sres_free_answers(c->sres, answers);
	for (k = 0; k < c->ntargets; k++) {
		t = &c->targets[k];
		c->resolving++;
		if (sres_query(c->sres, client_srv_addr, c, sres_type_a,
		    t->host) == NULL)
			c->resolving--;
		c->resolving++;
		if (sres_query(c->sres, client_srv_addr, c, sres_type_aaaa,
		    t->host) == NULL)
			c->resolving--;
	}
	if (c->resolving == 0)
		client_srv_done(c);
}

/* Resolve the listed server in use, a domain (see above). */
static void
client_srv_resolve(struct sippush *c)
{
	struct server	*listed = &c->servers[c->fo.current];
	char		 name[300];

	if (c->resolving)
		return;
	client_set_state(c, SIPPUSH_STATE_REGISTERING, listed->name);
	if (c->sres == NULL && (c->sres = sres_resolver_create(c->root,
	    c->s.resolv_conf, TAG_END())) == NULL) {
		client_server_failed(c, "DNS", 0, "cannot start the resolver");
		return;
	}
	snprintf(name, sizeof(name), "%s.%s",
	    c->s.transport == SIPPUSH_TRANSPORT_TLS ? "_sips._tcp" :
	    c->s.transport == SIPPUSH_TRANSPORT_TCP ? "_sip._tcp" :
	    "_sip._udp", listed->domain);
	client_log(c, SIPPUSH_LOG_DEBUG, "client: SRV %s?", name);
	c->resolving = 1;
	if (sres_query(c->sres, client_srv_answer, c, sres_type_srv,
	    name) == NULL) {
		c->resolving = 0;
		client_server_failed(c, "DNS", 0, "cannot send the query");
	}
}

/* Send (or send again) the REGISTER for the current server. */
static void
client_register(struct sippush *c)
{
	struct server	*sv = client_current(c);
	char		*auth;
	int64_t		 held;

	if (c->nredir == 0 && sv->domain != NULL) {
		client_srv_resolve(c);
		return;
	}
	if (c->reg_nh == NULL && (held = client_held(c, sv->url)) > 0) {
		client_log(c, SIPPUSH_LOG_DEBUG, "client: %s: not before "
		    "%lld ms (Retry-After): next server", sv->name,
		    (long long)held);
		client_server_failed(c, NULL, 0, NULL);
		return;
	}
	if (c->reg_nh == NULL) {
		c->registered = 0;
		c->reg_nh = nua_handle(c->nua, NULL,
		    SIPTAG_TO_STR(sv->aor), SIPTAG_FROM_STR(sv->aor),
		    TAG_END());
		if (c->reg_nh == NULL) {
			client_server_failed(c, "REGISTER", 500,
			    "cannot create a handle");
			return;
		}
	}
	client_log(c, SIPPUSH_LOG_DEBUG, "client: REGISTER %s as %s",
	    sv->url, c->s.client_id);
	if (c->state != SIPPUSH_STATE_REGISTERED)
		client_set_state(c, SIPPUSH_STATE_REGISTERING, sv->name);
	auth = client_auth_header(c, "REGISTER", sv->url);
	nua_register(c->reg_nh,
	    NUTAG_REGISTRAR(URL_STRING_MAKE(sv->url)),
	    NUTAG_M_USERNAME(c->s.client_id),
	    TAG_IF(c->features, NUTAG_M_FEATURES(c->features)),
	    SIPTAG_EXPIRES_STR(c->expires),
	    TAG_IF(auth, SIPTAG_AUTHORIZATION_STR(auth)),
	    TAG_END());
	su_free(c->home, auth);
}

static void
client_heartbeat_send(struct sippush *c)
{
	struct server	*sv = client_current(c);
	char		*auth;

	if (c->stopping || !c->registered || c->hb_outstanding)
		return;
	if (c->hb_nh == NULL && (c->hb_nh = nua_handle(c->nua, NULL,
	    SIPTAG_TO_STR(sv->aor), SIPTAG_FROM_STR(sv->aor),
	    TAG_END())) == NULL)
		return;
	c->hb_outstanding = 1;
	auth = client_auth_header(c, "OPTIONS", sv->url);
	nua_options(c->hb_nh, NUTAG_URL(URL_STRING_MAKE(sv->url)),
	    TAG_IF(auth, SIPTAG_AUTHORIZATION_STR(auth)), TAG_END());
	su_free(c->home, auth);
}

static void
client_heartbeat_timer(su_root_magic_t *c, su_timer_t *t,
    su_timer_arg_t *arg)
{
	(void)t;
	(void)arg;
	client_heartbeat_send(c);
}

static void
client_probe(struct sippush *c)
{
	struct server	*sv;

	client_destroy_handle(&c->probe_nh);
	while (c->probe_index < c->fo.current &&
	    client_held(c, c->servers[c->probe_index].url) > 0)
		c->probe_index++;
	if (c->probe_index >= c->fo.current)
		return;
	sv = &c->servers[c->probe_index];
	if ((c->probe_nh = nua_handle(c->nua, NULL, SIPTAG_TO_STR(sv->aor),
	    SIPTAG_FROM_STR(sv->aor), TAG_END())) == NULL)
		return;
	client_log(c, SIPPUSH_LOG_DEBUG, "client: is %s back? OPTIONS %s",
	    sv->name, sv->url);
	nua_options(c->probe_nh, NUTAG_URL(URL_STRING_MAKE(sv->url)),
	    TAG_END());
}

static void
client_failback_timer(su_root_magic_t *c, su_timer_t *t,
    su_timer_arg_t *arg)
{
	(void)t;
	(void)arg;
	if (c->stopping || !c->registered || c->fo.current == 0 ||
	    c->probe_nh != NULL)
		return;
	c->probe_index = 0;
	client_probe(c);
}

/* Answer to a probe: move back to that server, or probe the next. */
static void
client_probe_result(struct sippush *c, int status)
{
	struct server	*sv = &c->servers[c->probe_index];

	client_destroy_handle(&c->probe_nh);
	if (c->stopping || !c->registered)
		return;
	/* a challenge is an answer too: the server is back */
	if ((status >= 200 && status < 300) || status == 401 ||
	    status == 407) {
		client_log(c, SIPPUSH_LOG_NOTICE, "client: %s answers again, "
		    "moving back from %s", sv->name, client_current(c)->name);
		client_stop_timers(c);
		client_destroy_handle(&c->hb_nh);
		client_destroy_handle(&c->old_nh);
		c->old_nh = c->reg_nh;
		c->reg_nh = NULL;
		nua_unregister(c->old_nh, TAG_END());
		c->registered = 0;
		c->hb_outstanding = 0;
		c->source[0] = '\0';
		client_redirect_clear(c);
		sippush_failover_switch(&c->fo, c->probe_index);
		client_set_state(c, SIPPUSH_STATE_REGISTERING, sv->name);
		client_register(c);
		return;
	}
	if (++c->probe_index < c->fo.current)
		client_probe(c);
}

static void
client_registered(struct sippush *c, sip_t const *sip)
{
	struct server	*sv = client_current(c);
	int		 first = !c->registered;
	long		 granted = -1;

	client_via_source(sip, c->source, sizeof(c->source));
	client_event_addr(c, sv->addr, sizeof(sv->addr), &sv->port);
	if (sip && sip->sip_contact && sip->sip_contact->m_expires)
		granted = atol(sip->sip_contact->m_expires);
	else if (sip && sip->sip_expires)
		granted = (long)sip->sip_expires->ex_delta;
	c->registered = 1;
	c->redirects = 0;
	sippush_failover_success(&c->fo);
	client_log(c, first ? SIPPUSH_LOG_NOTICE : SIPPUSH_LOG_DEBUG,
	    "client: registered with %s as %s for %lds, seen as %s",
	    sv->name, c->s.client_id, granted,
	    c->source[0] ? c->source : "?");
	if (!first)
		return;
	client_set_state(c, SIPPUSH_STATE_REGISTERED, sv->name);
	if (c->s.heartbeat_interval > 0)
		su_timer_set_for_ever(c->hb_timer, client_heartbeat_timer,
		    NULL);
	if (c->s.failback_interval > 0 && c->fo.current > 0)
		su_timer_set_for_ever(c->failback_timer, client_failback_timer,
		    NULL);
}

static void client_hold_logged(struct sippush *, unsigned long);

/* Answer to a heartbeat: alive, alive but from elsewhere, or failed. */
static void
client_heartbeat_result(struct sippush *c, int status, const char *phrase,
    sip_t const *sip)
{
	char		 src[sizeof(c->source)];
	const char	*why;

	c->hb_outstanding = 0;
	if (c->stopping || !c->registered)
		return;
	/* 403: our credentials are refused (withdrawn by the admin), so
	 * the server no longer counts us: as good as no answer */
	if (status == 408 || status == 403 || status >= 500) {
		/* a 503 with Retry-After (a node draining, or rejoining its
		 * cluster): keep off it that long, as after a REGISTER */
		if (status == 503 && sip && sip->sip_retry_after &&
		    sip->sip_retry_after->af_delta > 0)
			client_hold_logged(c, sip->sip_retry_after->af_delta);
		client_server_failed(c, "heartbeat", status, phrase);
		return;
	}
	if ((why = client_header(sip, REGISTRATION_HEADER)) != NULL) {
		/* a peer that keeps saying so after new registrations (a NAT
		 * that maps heartbeats elsewhere) is left to nua's refresh */
		if (c->rereg_streak++ < REREG_STREAK_MAX) {
			client_log(c, SIPPUSH_LOG_NOTICE, "client: %s did not "
			    "count our heartbeat (%s: %s): registering again",
			    client_current(c)->name, REGISTRATION_HEADER, why);
			client_register(c);
		} else if (c->rereg_streak == REREG_STREAK_MAX + 1)
			client_log(c, SIPPUSH_LOG_WARNING, "client: %s still "
			    "does not count our heartbeats after %d new "
			    "registrations (%s: %s)", client_current(c)->name,
			    REREG_STREAK_MAX, REGISTRATION_HEADER, why);
		return;
	}
	c->rereg_streak = 0;
	client_via_source(sip, src, sizeof(src));
	if (src[0] && c->source[0] && strcmp(src, c->source) != 0) {
		client_log(c, SIPPUSH_LOG_NOTICE, "client: %s now sees us as "
		    "%s (registered as %s): registering again",
		    client_current(c)->name, src, c->source);
		client_register(c);
		return;
	}
	client_log(c, SIPPUSH_LOG_DEBUG, "client: heartbeat: %d %s", status,
	    phrase);
}

/* ---- messages ---- */

#define PHRASE_TIMEOUT	"Not Answered In Time"
#define PHRASE_STOPPING	"Client Stopping"

/* The reason phrase of a verdict. */
static const char *
client_phrase(int status)
{
	if (status == SIPPUSH_REJECT)
		return "Not Taken";
	return sip_status_phrase(status) ? sip_status_phrase(status) :
	    "Not Taken";
}

/* Send a final answer on t, and free it. */
static void
txn_respond(struct txn *t, int status, const char *phrase)
{
	struct txn	**pp;

	for (pp = &t->msg->txns; *pp; pp = &(*pp)->next)
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	nua_respond(t->nh, status, phrase, NUTAG_WITH_SAVED(t->saved),
	    TAG_END());
	nua_destroy_event(t->saved);
	nua_handle_destroy(t->nh);
	su_timer_destroy(t->timer);
	free(t);
}

static void
txn_timeout(su_root_magic_t *c, su_timer_t *timer, su_timer_arg_t *arg)
{
	struct txn	*t = arg;

	(void)timer;
	client_log(c, SIPPUSH_LOG_NOTICE, "client: message %s not answered "
	    "within %d ms: 480", t->msg->pub.id, c->s.answer_timeout);
	txn_respond(t, 480, PHRASE_TIMEOUT);
}

/* Hold this event's transaction for m's verdict. 0, or -1. */
static int
txn_hold(struct sippush *c, struct msg *m, nua_handle_t *nh)
{
	struct txn	*t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return -1;
	if ((t->timer = su_timer_create(su_root_task(c->root),
	    c->s.answer_timeout)) == NULL ||
	    nua_save_event(c->nua, t->saved) == 0) {
		su_timer_destroy(t->timer);
		free(t);
		return -1;
	}
	t->msg = m;
	t->nh = nh;
	t->next = m->txns;
	m->txns = t;
	su_timer_set(t->timer, txn_timeout, t);
	return 0;
}

static void
message_free(struct sippush *c, struct msg *m)
{
	struct msg	**pp;
	struct txn	*t;

	for (pp = &c->pending; *pp; pp = &(*pp)->next)
		if (*pp == m) {
			*pp = m->next;
			c->npending--;
			break;
		}
	while ((t = m->txns) != NULL) {
		m->txns = t->next;
		nua_destroy_event(t->saved);
		nua_handle_destroy(t->nh);
		su_timer_destroy(t->timer);
		free(t);
	}
	free(m);
}

/* The application's verdict on m: answer every copy waiting, remember
 * an accepted ID, forget m. */
static void
message_answer(struct sippush *c, struct msg *m, int status)
{
	if (m->in_callback) {
		m->verdict = status;
		return;
	}
	if (status >= 200 && status < 300)
		sippush_dedup_add(c->seen, m->pub.id);
	client_log(c, SIPPUSH_LOG_INFO, "client: message %s: %d %s%s",
	    m->pub.id, status, client_phrase(status),
	    m->txns ? "" : " (too late: the server will send it again)");
	while (m->txns)
		txn_respond(m->txns, status, client_phrase(status));
	message_free(c, m);
}

/* Answer the current event's request now and drop its handle. */
static void
client_reply_now(struct sippush *c, nua_handle_t *nh, int status,
    const char *phrase)
{
	nua_respond(nh, status, phrase, NUTAG_WITH_THIS(c->nua), TAG_END());
	nua_handle_destroy(nh);
}

static const char *
client_header(sip_t const *sip, const char *name)
{
	msg_unknown_t const	*u;

	for (u = sip->sip_unknown; u; u = u->un_next)
		if (u->un_name && strcasecmp(u->un_name, name) == 0)
			return u->un_value;
	return NULL;
}

/* The server a MESSAGE from addr:port came from: the one at that
 * address and port, else one at that address (the current one first);
 * NULL if none of ours. */
static struct server *
client_source_server(struct sippush *c, const char *addr, int port)
{
	struct server	*sv, *any = NULL;
	size_t		 i;

	if (addr[0] == '\0')
		return NULL;
	for (i = 0; i < c->s.nservers + c->nredir; i++) {
		sv = i < c->s.nservers ? &c->servers[i] :
		    &c->redir[i - c->s.nservers];
		if (strcmp(sv->addr, addr) != 0)
			continue;
		if (sv->port == port)
			return sv;
		if (any == NULL || sv == client_current(c))
			any = sv;
	}
	return any;
}

/* Is the top Via of sip the relay hostport "ip:port"? (A relay may send
 * from any of its addresses, so its Via names it, not the source.) */
static int
client_via_is(sip_t const *sip, const char *hostport)
{
	sip_via_t const	*v = sip->sip_via;
	char		 buf[80];

	if (v == NULL || v->v_host == NULL)
		return 0;
	snprintf(buf, sizeof(buf), "%s:%s", v->v_host,
	    v->v_port ? v->v_port : "5060");
	return strcmp(buf, hostport) == 0;
}

static struct msg *
message_create(struct sippush *c, const char *id, sip_t const *sip,
    const char *server)
{
	sip_content_type_t const	*ct = sip->sip_content_type;
	struct msg			*m;
	char				 type[256];
	const char			*body = "";
	size_t				 blen = 0, tlen, ilen, slen, i;
	char				*p;

	if (ct && ct->c_type) {
		snprintf(type, sizeof(type), "%s", ct->c_type);
		for (i = 0; ct->c_params && ct->c_params[i]; i++) {
			tlen = strlen(type);
			snprintf(type + tlen, sizeof(type) - tlen, ";%s",
			    ct->c_params[i]);
		}
	} else
		snprintf(type, sizeof(type), "text/plain");
	if (sip->sip_payload) {
		body = sip->sip_payload->pl_data;
		blen = sip->sip_payload->pl_len;
	}
	ilen = strlen(id) + 1;
	tlen = strlen(type) + 1;
	slen = strlen(server) + 1;
	if ((m = calloc(1, sizeof(*m) + ilen + tlen + slen + blen + 1)) ==
	    NULL)
		return NULL;
	p = (char *)(m + 1);
	m->pub.id = memcpy(p, id, ilen);
	p += ilen;
	m->pub.content_type = memcpy(p, type, tlen);
	p += tlen;
	m->pub.server = memcpy(p, server, slen);
	p += slen;
	if (blen)
		memcpy(p, body, blen);
	p[blen] = '\0';
	m->pub.body = p;
	m->pub.body_len = blen;
	m->c = c;
	m->next = c->pending;
	c->pending = m;
	c->npending++;
	return m;
}

/* ---- client-to-client requests ---- */

static void
req_free(struct sippush *c, struct req *r)
{
	struct req	**pp;

	for (pp = &c->requests; *pp; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	if (!r->answered) {
		nua_destroy_event(r->saved);
		nua_handle_destroy(r->nh);
		su_timer_destroy(r->timer);
	}
	free(r);
}

/* Answer r; free it, or with keep (answered by the library itself)
 * keep it for the application's sippush_reply. */
static void
req_respond(struct sippush *c, struct req *r, int status,
    const char *phrase, const char *ctype, const void *body, size_t len,
    int keep)
{
	sip_payload_t	*pl = len ? sip_payload_create(c->home, body,
			    (isize_t)len) : NULL;

	nua_respond(r->nh, status, phrase, NUTAG_WITH_SAVED(r->saved),
	    TAG_IF(pl, SIPTAG_CONTENT_TYPE_STR(ctype ? ctype :
	    "text/plain")), TAG_IF(pl, SIPTAG_PAYLOAD(pl)), TAG_END());
	su_free(c->home, pl);
	if (!keep) {
		req_free(c, r);
		return;
	}
	nua_destroy_event(r->saved);
	nua_handle_destroy(r->nh);
	r->nh = NULL;
	su_timer_destroy(r->timer);
	r->timer = NULL;
	r->answered = 1;
}

static void
req_timeout(su_root_magic_t *c, su_timer_t *timer, su_timer_arg_t *arg)
{
	struct req	*r = arg;

	(void)timer;
	client_log(c, SIPPUSH_LOG_NOTICE, "client: request from %s not "
	    "answered within %d ms: 480", r->pub.from, c->s.answer_timeout);
	req_respond(c, r, 480, PHRASE_TIMEOUT, NULL, NULL, 0, 1);
}

/* A MESSAGE relayed from another client: hand it to on_request. */
static void
client_request(struct sippush *c, nua_handle_t *nh, sip_t const *sip)
{
	sip_content_type_t const	*ct = sip->sip_content_type;
	const char			*from = client_header(sip,
					    FROM_ID_HEADER);
	const char			*cls = client_header(sip,
					    FROM_CLASS_HEADER);
	const char			*type = ct && ct->c_type ? ct->c_type :
					    "text/plain";
	size_t				 flen, clen, tlen, blen;
	struct req			*r;
	char				*p;

	if (c->s.on_request == NULL) {
		client_reply_now(c, nh, 501, "Not Accepting Requests");
		return;
	}
	if (cls == NULL)
		cls = "";
	blen = sip->sip_payload ? sip->sip_payload->pl_len : 0;
	flen = strlen(from) + 1;
	clen = strlen(cls) + 1;
	tlen = strlen(type) + 1;
	if ((r = calloc(1, sizeof(*r) + flen + clen + tlen + blen + 1)) ==
	    NULL || (r->timer = su_timer_create(su_root_task(c->root),
	    c->s.answer_timeout)) == NULL ||
	    nua_save_event(c->nua, r->saved) == 0) {
		if (r)
			su_timer_destroy(r->timer);
		free(r);
		client_reply_now(c, nh, 500, "Out Of Memory");
		return;
	}
	p = (char *)(r + 1);
	r->pub.from = memcpy(p, from, flen);
	p += flen;
	r->pub.from_class = memcpy(p, cls, clen);
	p += clen;
	r->pub.content_type = memcpy(p, type, tlen);
	p += tlen;
	if (blen)
		memcpy(p, sip->sip_payload->pl_data, blen);
	p[blen] = '\0';
	r->pub.body = p;
	r->pub.body_len = blen;
	r->nh = nh;
	r->next = c->requests;
	c->requests = r;
	su_timer_set(r->timer, req_timeout, r);
	client_log(c, SIPPUSH_LOG_INFO, "client: request from %s, %s, %zu "
	    "bytes", r->pub.from, r->pub.content_type, r->pub.body_len);
	c->s.on_request(c, &r->pub, c->s.arg);
}

int
sippush_reply(struct sippush *c, struct sippush_request *pub, int status,
    const char *content_type, const void *body, size_t body_len)
{
	struct req	*r;

	if (status < 200 || status > 699)
		return EINVAL;
	for (r = c->requests; r; r = r->next)
		if (&r->pub == pub)
			break;
	if (r == NULL)
		return EINVAL;
	if (r->answered) {
		req_free(c, r);
		return ETIMEDOUT;
	}
	client_log(c, SIPPUSH_LOG_INFO, "client: request from %s: %d, %zu "
	    "bytes", r->pub.from, status, body_len);
	req_respond(c, r, status, sip_status_phrase(status) ?
	    sip_status_phrase(status) : "Answered", content_type, body,
	    body ? body_len : 0, 0);
	return 0;
}

static void
snd_free(struct sippush *c, struct snd *d)
{
	struct snd	**pp;

	for (pp = &c->sends; *pp; pp = &(*pp)->next)
		if (*pp == d) {
			*pp = d->next;
			break;
		}
	if (d->nh)
		nua_handle_destroy(d->nh);
	su_free(c->home, d->uri);
	su_free(c->home, d->ctype);
	su_free(c->home, d->body);
	free(d);
}

/* Send (again) d's MESSAGE, with credentials if the server asked. */
static void
snd_message(struct sippush *c, struct snd *d)
{
	char	*auth = client_auth_header(c, "MESSAGE", d->uri);

	nua_message(d->nh, NUTAG_URL(URL_STRING_MAKE(d->uri)),
	    SIPTAG_CONTENT_TYPE_STR(d->ctype),
	    SIPTAG_PAYLOAD(d->body),
	    TAG_IF(d->flags & SIPPUSH_SEND_STORE,
	    SIPTAG_HEADER_STR(STORE_HEADER ": yes")),
	    TAG_IF(auth, SIPTAG_AUTHORIZATION_STR(auth)), TAG_END());
	su_free(c->home, auth);
}

int
sippush_send(struct sippush *c, const char *to, const char *content_type,
    const void *body, size_t body_len, int flags, sippush_response_fn *done,
    void *arg)
{
	struct server	*sv;
	struct snd	*d;
	const char	*rest;
	char		*aor;

	if (to == NULL || done == NULL || !wire_valid_name(to,
	    SIPPUSH_ID_MAX))
		return EINVAL;
	if (!c->registered || c->stopping)
		return ENOTCONN;
	sv = client_current(c);
	rest = strchr(sv->url, ':') + 1;
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return ENOMEM;
	d->done = done;
	d->arg = arg;
	d->flags = flags;
	d->uri = su_sprintf(c->home, "%.*s%s@%s", (int)(rest - sv->url),
	    sv->url, to, rest);
	d->ctype = su_strdup(c->home, content_type ? content_type :
	    "text/plain");
	d->body = sip_payload_create(c->home, body, (isize_t)(body ?
	    body_len : 0));
	aor = su_sprintf(c->home, "%.*s%s@%s", (int)(rest - sv->url),
	    sv->url, to, rest);
	if (d->uri == NULL || d->ctype == NULL || d->body == NULL ||
	    aor == NULL || (d->nh = nua_handle(c->nua, d,
	    SIPTAG_TO_STR(aor), SIPTAG_FROM_STR(sv->aor), TAG_END())) ==
	    NULL) {
		su_free(c->home, aor);
		d->next = c->sends;
		c->sends = d;
		snd_free(c, d);
		return ENOMEM;
	}
	su_free(c->home, aor);
	d->next = c->sends;
	c->sends = d;
	client_log(c, SIPPUSH_LOG_DEBUG, "client: MESSAGE to %s, %zu bytes",
	    to, body_len);
	snd_message(c, d);
	return 0;
}

/* The answer to a sippush_send. */
static void
client_send_result(struct sippush *c, struct snd *d, int status,
    const char *phrase, sip_t const *sip)
{
	struct sippush_response	 rsp;
	char			*body = NULL;

	if (status < 200)
		return;
	if ((status == 401 || status == 407) && sip && c->s.password &&
	    d->auth_tries++ < 1 && client_auth_take(c, status, sip) == 0) {
		snd_message(c, d);
		return;
	}
	memset(&rsp, 0, sizeof(rsp));
	rsp.status = status;
	rsp.phrase = phrase ? phrase : "";
	if (sip && sip->sip_payload && sip->sip_payload->pl_len) {
		if ((body = malloc(sip->sip_payload->pl_len + 1)) != NULL) {
			memcpy(body, sip->sip_payload->pl_data,
			    sip->sip_payload->pl_len);
			body[sip->sip_payload->pl_len] = '\0';
			rsp.body = body;
			rsp.body_len = sip->sip_payload->pl_len;
		}
		rsp.content_type = sip->sip_content_type &&
		    sip->sip_content_type->c_type ?
		    sip->sip_content_type->c_type : "text/plain";
	}
	if (sip)
		rsp.message_id = client_header(sip, MESSAGE_ID_HEADER);
	d->done(c, &rsp, d->arg);
	free(body);
	snd_free(c, d);
}

static void
client_message(struct sippush *c, nua_handle_t *nh, sip_t const *sip)
{
	struct server	*sv;
	struct msg	*m;
	const char	*id;
	char		 addr[64];
	int		 v, port;

	if (c->stopping) {
		client_reply_now(c, nh, 503, PHRASE_STOPPING);
		return;
	}
	client_event_addr(c, addr, sizeof(addr), &port);
	sv = client_source_server(c, addr, port);
	if (sv == NULL && c->relay[0] && client_via_is(sip, c->relay))
		sv = client_current(c);	/* through our relay */
	if (sv == NULL && !c->s.any_source) {
		client_log(c, SIPPUSH_LOG_WARNING, "client: MESSAGE from %s "
		    "refused: not a server of ours", addr[0] ? addr : "?");
		client_reply_now(c, nh, 403, "Not From A Server Of Ours");
		return;
	}
	if (sv == NULL)
		sv = client_current(c);
	id = client_header(sip, MESSAGE_ID_HEADER);
	if (id == NULL && client_header(sip, FROM_ID_HEADER) != NULL) {
		client_request(c, nh, sip);
		return;
	}
	if (!sippush_dedup_valid(id)) {
		client_log(c, SIPPUSH_LOG_WARNING, "client: MESSAGE from %s "
		    "refused: no valid " MESSAGE_ID_HEADER, sv->name);
		client_reply_now(c, nh, 400, "Missing " MESSAGE_ID_HEADER);
		return;
	}
	if (sippush_dedup_check(c->seen, id)) {
		client_log(c, SIPPUSH_LOG_INFO, "client: message %s again: "
		    "taken before, 200", id);
		client_reply_now(c, nh, 200, "OK");
		return;
	}
	for (m = c->pending; m; m = m->next)
		if (strcmp(m->pub.id, id) == 0)
			break;
	if (m) {
		client_log(c, SIPPUSH_LOG_INFO, "client: message %s again: "
		    "still with the application, held", id);
		if (txn_hold(c, m, nh) == -1)
			client_reply_now(c, nh, 500, "Out Of Memory");
		return;
	}
	if (c->npending >= (size_t)c->s.max_pending) {
		client_log(c, SIPPUSH_LOG_WARNING, "client: message %s "
		    "refused: %zu messages unanswered", id, c->npending);
		client_reply_now(c, nh, 503, "Too Many Messages Pending");
		return;
	}
	if ((m = message_create(c, id, sip, sv->name)) == NULL ||
	    txn_hold(c, m, nh) == -1) {
		if (m)
			message_free(c, m);
		client_reply_now(c, nh, 500, "Out Of Memory");
		return;
	}
	client_log(c, SIPPUSH_LOG_INFO, "client: message %s from %s, %s, "
	    "%zu bytes", id, sv->name, m->pub.content_type, m->pub.body_len);
	m->in_callback = 1;
	v = c->s.on_message(c, &m->pub, c->s.arg);
	m->in_callback = 0;
	if (v == SIPPUSH_DEFER)
		v = m->verdict;
	if (v == SIPPUSH_DEFER)
		return;
	if (v < 200 || v > 699) {
		client_log(c, SIPPUSH_LOG_WARNING, "client: message %s: "
		    "callback returned %d, answering %d", id, v,
		    SIPPUSH_REJECT);
		v = SIPPUSH_REJECT;
	}
	message_answer(c, m, v);
}

/* ---- the nua callback ---- */

static int
client_own_handle(struct sippush *c, nua_handle_t *nh)
{
	return nh && (nh == c->reg_nh || nh == c->hb_nh ||
	    nh == c->probe_nh || nh == c->old_nh);
}

/*
 * A 401/407 to a REGISTER or heartbeat of ours: take its challenge and
 * send the request again with credentials. Returns 1 if it did, 0 if
 * the answer stands (no password, no usable challenge, refused again).
 */
static int
client_auth_retry(struct sippush *c, nua_event_t event, nua_handle_t *nh,
    int status, sip_t const *sip)
{
	char	*h;

	if (sip == NULL || (status != 401 && status != 407) ||
	    (nh != c->reg_nh && nh != c->hb_nh))
		return 0;
	if (c->s.password == NULL) {
		client_log(c, SIPPUSH_LOG_ERROR, "client: %s asks for "
		    "credentials: set a password for this client",
		    client_current(c)->name);
		return 0;
	}
	if (++c->auth_rounds > CLIENT_AUTH_ROUNDS) {
		client_log(c, SIPPUSH_LOG_ERROR, "client: %s refuses our "
		    "credentials (%d %s)", client_current(c)->name, status,
		    sip->sip_status ? sip->sip_status->st_phrase : "");
		return 0;
	}
	if (client_auth_take(c, status, sip) == -1) {
		client_log(c, SIPPUSH_LOG_ERROR, "client: %s asks for "
		    "credentials we cannot give: no Digest challenge with "
		    "SHA-256 or MD5 and qop=auth", client_current(c)->name);
		return 0;
	}
	client_log(c, SIPPUSH_LOG_DEBUG, "client: %s asks for credentials "
	    "(%s, realm %s)", client_current(c)->name,
	    c->dg.use_sha ? "SHA-256" : "MD5", c->dg.realm);
	if (event == nua_r_unregister) {
		h = client_auth_header(c, "REGISTER", client_current(c)->url);
		nua_unregister(nh, TAG_IF(h, SIPTAG_AUTHORIZATION_STR(h)),
		    TAG_END());
		su_free(c->home, h);
	} else if (nh == c->reg_nh)
		client_register(c);
	else {
		c->hb_outstanding = 0;
		client_heartbeat_send(c);
	}
	return 1;
}

/*
 * A 3xx to our REGISTER: try its Contacts (sip: and sips: URIs, highest
 * q first) in place of the server that sent it. Returns 0 if it does,
 * -1 if the answer counts as the server's failure (no usable Contact,
 * or SIPPUSH_REDIRECT_MAX redirections in a row: a loop).
 */
static int
client_redirect(struct sippush *c, int status, sip_t const *sip)
{
	struct server		*from = client_current(c), *sv;
	sip_contact_t const	*m;
	sip_contact_t const	*ms[SIPPUSH_REDIRECT_TARGETS];
	int			 q[SIPPUSH_REDIRECT_TARGETS];
	size_t			 order[SIPPUSH_REDIRECT_TARGETS], n = 0, k, i;
	const char		*tr = client_transport_name(c->s.transport);
	char			 list[512] = "", *name, *url;
	url_t const		*u;

	if (++c->redirects > SIPPUSH_REDIRECT_MAX) {
		client_log(c, SIPPUSH_LOG_WARNING, "client: %s: %d "
		    "redirections in a row: not following this one",
		    from->name, SIPPUSH_REDIRECT_MAX);
		return -1;
	}
	for (m = sip ? sip->sip_contact : NULL;
	    m && n < SIPPUSH_REDIRECT_TARGETS; m = m->m_next) {
		u = m->m_url;
		if ((u->url_type != url_sip && u->url_type != url_sips) ||
		    u->url_host == NULL || strlen(u->url_host) > 100)
			continue;
		ms[n] = m;
		q[n++] = sippush_qvalue(m->m_q);
	}
	k = sippush_redirect_order(q, n, order);
	if (k == 0) {
		client_log(c, SIPPUSH_LOG_WARNING, "client: %s: %d without a "
		    "usable Contact", from->name, status);
		return -1;
	}
	name = su_strdup(c->home, from->name);
	client_redirect_clear(c);
	for (i = 0; i < k; i++) {
		u = ms[order[i]]->m_url;
		url = su_sprintf(c->home, strchr(u->url_host, ':') ?
		    "sip:[%s]:%s;transport=%s" : "sip:%s:%s;transport=%s",
		    u->url_host, u->url_port ? u->url_port :
		    c->s.transport == SIPPUSH_TRANSPORT_TLS ? "5061" : "5060",
		    tr);
		sv = &c->redir[c->nredir];
		/* the listed server's AOR: the domain we register in */
		sv->aor = c->servers[c->fo.current].aor;
		sv->url = url;
		sv->name = su_sprintf(c->home, "%s", url ? url + 4 : "");
		if (url == NULL || sv->name == NULL)
			break;
		*strchr(sv->name, ';') = '\0';
		client_numeric(u->url_host, sv->addr, sizeof(sv->addr));
		sv->port = atoi(u->url_port ? u->url_port :
		    c->s.transport == SIPPUSH_TRANSPORT_TLS ? "5061" : "5060");
		c->nredir++;
		snprintf(list + strlen(list), sizeof(list) - strlen(list),
		    "%s%s", i ? ", " : "", sv->name);
	}
	client_log(c, SIPPUSH_LOG_INFO, "client: %s redirects us (%d): "
	    "trying %s", name ? name : "?", status, list);
	su_free(c->home, name);
	if (c->nredir == 0)
		return -1;
	client_stop_timers(c);
	client_destroy_handle(&c->reg_nh);
	c->registered = 0;
	su_timer_set_interval(c->retry_timer, client_retry_timer, NULL, 1);
	return 0;
}

/* The current server answered 503 with Retry-After ra (s): keep off it
 * that long (a REGISTER or a heartbeat: a node draining or rejoining its
 * cluster says so). */
static void
client_hold_logged(struct sippush *c, unsigned long ra)
{
	struct server	*sv = client_current(c);

	client_hold(c, sv->url, sippush_hold_ms(ra));
	client_log(c, SIPPUSH_LOG_INFO, "client: %s: 503 with Retry-After "
	    "%lu: not trying it again for %lld s", sv->name, ra,
	    (long long)sippush_hold_ms(ra) / 1000);
}

/* A final answer (or one nua would restart on its own) to our REGISTER
 * that is not a 2xx. */
static void
client_register_failed(struct sippush *c, int status, const char *phrase,
    sip_t const *sip)
{
	if (status >= 300 && status < 400 && client_redirect(c, status,
	    sip) == 0)
		return;
	if (status == 503 && sip && sip->sip_retry_after &&
	    sip->sip_retry_after->af_delta > 0)
		client_hold_logged(c, sip->sip_retry_after->af_delta);
	client_server_failed(c, "REGISTER", status, phrase);
}

static void
client_event(nua_event_t event, int status, char const *phrase, nua_t *nua,
    nua_magic_t *c, nua_handle_t *nh, nua_hmagic_t *hmagic,
    sip_t const *sip, tagi_t tags[])
{
	(void)nua;
	(void)hmagic;
	(void)tags;
	if ((event == nua_r_register || event == nua_r_unregister ||
	    event == nua_r_options) && client_own_handle(c, nh)) {
		if (status >= 200 && status < 300)
			c->auth_rounds = 0;
		else if (client_auth_retry(c, event, nh, status, sip))
			return;
	}
	switch (event) {
	case nua_r_register:
		if (nh != c->reg_nh || c->stopping)
			break;
		/* nua would follow a 302 or wait out a Retry-After itself
		 * (a 100 carrying that answer): we decide */
		if (status < 200 && sip && sip->sip_status &&
		    (sip->sip_status->st_status / 100 == 3 ||
		    (sip->sip_status->st_status == 503))) {
			client_register_failed(c, sip->sip_status->st_status,
			    sip->sip_status->st_phrase, sip);
			break;
		}
		if (status < 200)
			break;
		if (status < 300)
			client_registered(c, sip);
		else
			client_register_failed(c, status, phrase, sip);
		break;
	case nua_r_unregister:
		if (status < 200)
			break;
		if (nh == c->old_nh) {
			client_log(c, SIPPUSH_LOG_DEBUG, "client: left the "
			    "previous server: %d %s", status, phrase);
			client_destroy_handle(&c->old_nh);
		} else if (nh == c->reg_nh && c->stopping) {
			client_log(c, status < 300 ? SIPPUSH_LOG_NOTICE :
			    SIPPUSH_LOG_WARNING, "client: unregistered from "
			    "%s: %d %s", client_current(c)->name, status,
			    phrase);
			c->registered = 0;
			client_stop_begin(c);
		}
		break;
	case nua_r_options:
		if (status < 200)
			break;
		if (nh == c->hb_nh)
			client_heartbeat_result(c, status, phrase, sip);
		else if (nh == c->probe_nh)
			client_probe_result(c, status);
		break;
	case nua_i_message:
		if (sip && !client_own_handle(c, nh))
			client_message(c, nh, sip);
		break;
	case nua_r_message:
		if (hmagic != NULL)
			client_send_result(c, hmagic, status, phrase, sip);
		break;
	case nua_r_shutdown:
		if (status < 200)
			break;
		c->stopped = 1;
		client_log(c, SIPPUSH_LOG_DEBUG, "client: SIP stack down: %d %s",
		    status, phrase);
		client_set_state(c, SIPPUSH_STATE_STOPPED, NULL);
		break;
	case nua_i_error:
		client_log(c, SIPPUSH_LOG_WARNING, "client: SIP stack: %d %s",
		    status, phrase);
		break;
	case nua_i_invite:
	case nua_i_options:
	case nua_i_info:
	case nua_i_refer:
	case nua_i_publish:
	case nua_i_subscribe:
	case nua_i_notify:
	case nua_i_method:
	case nua_i_register:
	case nua_i_bye:
		/* answered by nua; the handle it made is ours to drop */
		if (nh && !client_own_handle(c, nh))
			nua_handle_destroy(nh);
		break;
	default:
		break;
	}
}

/* ---- stopping ---- */

static void
client_stop_timer(su_root_magic_t *c, su_timer_t *t, su_timer_arg_t *arg)
{
	(void)t;
	(void)arg;
	client_log(c, SIPPUSH_LOG_WARNING, "client: no answer to the "
	    "unregistration from %s", client_current(c)->name);
	c->registered = 0;
	client_stop_begin(c);
}

/* Our requests still unanswered at a stop get 503 now. */
static void
client_stop_sends(struct sippush *c)
{
	struct sippush_response	 rsp;
	struct snd		*d;

	memset(&rsp, 0, sizeof(rsp));
	rsp.status = 503;
	rsp.phrase = PHRASE_STOPPING;
	while ((d = c->sends) != NULL) {
		d->done(c, &rsp, d->arg);
		snd_free(c, d);
	}
}

/*
 * Stop: first answer the waiting messages and unregister (bounded by
 * the stop timer); called again when that is done, it shuts nua down.
 */
static void
client_stop_begin(struct sippush *c)
{
	struct req	*r;
	struct msg	*m;
	char		*auth;
	int		 wait;

	if (!c->stopping) {
		c->stopping = 1;
		client_set_state(c, SIPPUSH_STATE_STOPPING,
		    c->registered ? client_current(c)->name : NULL);
		client_stop_timers(c);
		client_destroy_handle(&c->hb_nh);
		client_destroy_handle(&c->probe_nh);
		for (m = c->pending; m; m = m->next)
			while (m->txns)
				txn_respond(m->txns, 503, PHRASE_STOPPING);
		for (r = c->requests; r; r = r->next)
			if (!r->answered)
				req_respond(c, r, 503, PHRASE_STOPPING, NULL,
				    NULL, 0, 1);
		client_stop_sends(c);
		if (c->registered) {
			client_log(c, SIPPUSH_LOG_INFO, "client: "
			    "unregistering from %s", client_current(c)->name);
			wait = c->s.request_timeout < CLIENT_STOP_MAX ?
			    c->s.request_timeout : CLIENT_STOP_MAX;
			su_timer_set_interval(c->stop_timer, client_stop_timer,
			    NULL, wait);
			auth = client_auth_header(c, "REGISTER",
			    client_current(c)->url);
			nua_unregister(c->reg_nh,
			    TAG_IF(auth, SIPTAG_AUTHORIZATION_STR(auth)),
			    TAG_END());
			su_free(c->home, auth);
			return;
		}
	}
	if (c->registered || c->shutdown_sent)
		return;
	c->shutdown_sent = 1;
	su_timer_reset(c->stop_timer);
	client_destroy_handle(&c->reg_nh);
	client_destroy_handle(&c->old_nh);
	nua_shutdown(c->nua);
}

/* ---- the loop, and other threads ---- */

/* Take the answers other threads queued, and a stop request. */
static void
client_drain(struct sippush *c)
{
	struct msg	*m, *next;

	pthread_mutex_lock(&c->lock);
	m = c->aq;
	c->aq = NULL;
	c->aq_tail = &c->aq;
	pthread_mutex_unlock(&c->lock);
	for (; m; m = next) {
		next = m->aq_next;
		message_answer(c, m, m->verdict);
	}
	if (c->stop_requested && !c->stopping)
		client_stop_begin(c);
}

static int
client_woken(su_root_magic_t *c, su_wait_t *w, su_wakeup_arg_t *arg)
{
	uint64_t	 v;
	ssize_t		 n;

	(void)w;
	(void)arg;
	n = read(c->efd, &v, sizeof(v));
	(void)n;
	client_drain(c);
	return 0;
}

void
sippush_wakeup(struct sippush *c)
{
	uint64_t	 one = 1;
	ssize_t		 n;
	int		 saved = errno;

	n = write(c->efd, &one, sizeof(one));
	(void)n;
	errno = saved;
}

void
sippush_stop(struct sippush *c)
{
	c->stop_requested = 1;
	sippush_wakeup(c);
}

int
sippush_answer(struct sippush *c, struct sippush_message *pub, int status)
{
	struct msg	*m = (struct msg *)pub;

	if (status < 200 || status > 699)
		return EINVAL;
	if (pthread_equal(pthread_self(), c->thread)) {
		message_answer(c, m, status);
		return 0;
	}
	pthread_mutex_lock(&c->lock);
	m->verdict = status;
	m->aq_next = NULL;
	*c->aq_tail = m;
	c->aq_tail = &m->aq_next;
	pthread_mutex_unlock(&c->lock);
	sippush_wakeup(c);
	return 0;
}

int
sippush_step(struct sippush *c, int timeout_ms)
{
	if (c->stopped)
		return 0;
	client_drain(c);
	if (!c->stopped)
		su_root_step(c->root, timeout_ms < 0 ? CLIENT_FOREVER :
		    timeout_ms);
	client_drain(c);
	return c->stopped ? 0 : 1;
}

int
sippush_run(struct sippush *c)
{
	while (sippush_step(c, -1))
		;
	return 0;
}

/* ---- seen IDs, state ---- */

int
sippush_seen_add(struct sippush *c, const char *id)
{
	return sippush_dedup_add(c->seen, id);
}

int
sippush_seen_has(struct sippush *c, const char *id)
{
	return sippush_dedup_contains(c->seen, id);
}

int
sippush_seen_foreach(struct sippush *c, int (*fn)(const char *, void *),
    void *arg)
{
	return sippush_dedup_foreach(c->seen, fn, arg);
}

enum sippush_state
sippush_state(const struct sippush *c)
{
	return c->state;
}

const char *
sippush_server(const struct sippush *c)
{
	return c->state_server;
}

/* ---- creation ---- */

static int
client_fail(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
client_fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
	va_list	 ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return code;
}

#define RANGE(field, lo, hi)						\
	do {								\
		if (s->field < (lo) || s->field > (hi))			\
			return client_fail(err, errlen, EINVAL,		\
			    #field ": %d is out of range %d..%d",	\
			    s->field, (lo), (hi));			\
	} while (0)

static int
client_check(const struct sippush_settings *s, char *err, size_t errlen)
{
	struct sippush_hostport	 hp;
	size_t			 i;

	if (s->servers == NULL || s->nservers == 0)
		return client_fail(err, errlen, EINVAL, "no server given");
	if (s->nservers > 64)
		return client_fail(err, errlen, EINVAL,
		    "%zu servers: at most 64", s->nservers);
	for (i = 0; i < s->nservers; i++)
		if (sippush_parse_server(s->servers[i], &hp) == -1)
			return client_fail(err, errlen, EINVAL,
			    "server \"%s\": not host, host:port or "
			    "[IPv6]:port", s->servers[i] ? s->servers[i] : "");
	if (!wire_valid_name(s->client_id, SIPPUSH_ID_MAX))
		return client_fail(err, errlen, EINVAL, "client ID \"%s\": "
		    "1-%d of A-Z a-z 0-9 . _ -", s->client_id ?
		    s->client_id : "", SIPPUSH_ID_MAX);
	if (s->client_class &&
	    !wire_valid_name(s->client_class, SIPPUSH_CLASS_MAX))
		return client_fail(err, errlen, EINVAL, "class \"%s\": "
		    "1-%d of A-Z a-z 0-9 . _ -", s->client_class,
		    SIPPUSH_CLASS_MAX);
	if (s->transport != SIPPUSH_TRANSPORT_UDP &&
	    s->transport != SIPPUSH_TRANSPORT_TCP &&
	    s->transport != SIPPUSH_TRANSPORT_TLS)
		return client_fail(err, errlen, EINVAL, "unknown transport");
	if (s->transport == SIPPUSH_TRANSPORT_TLS &&
	    access(s->ca_file ? s->ca_file : CLIENT_SYSTEM_CA, R_OK) == -1)
		return client_fail(err, errlen, EINVAL, "ca_file %s: cannot "
		    "read: %s", s->ca_file ? s->ca_file : CLIENT_SYSTEM_CA,
		    strerror(errno));
	if (s->on_message == NULL)
		return client_fail(err, errlen, EINVAL,
		    "no message callback");
	RANGE(bind_port, 0, 65535);
	RANGE(expires, 1, 604800);
	RANGE(heartbeat_interval, 0, 86400);
	RANGE(request_timeout, 500, 64000);
	RANGE(answer_timeout, 100, 600000);
	RANGE(retry_initial, 100, 3600000);
	RANGE(retry_max, 100, 86400000);
	RANGE(failback_interval, 0, 86400);
	RANGE(seen_max, 1, 1000000);
	RANGE(max_pending, 1, 100000);
	RANGE(sip_log_level, 0, 9);
	RANGE(relay_discovery_port, 0, 65535);
	RANGE(relay_lease, 200, 600000);
	if (s->relay_discovery_port && s->transport != SIPPUSH_TRANSPORT_UDP)
		return client_fail(err, errlen, EINVAL, "a relay is used over "
		    "UDP only");
	if (s->retry_initial > s->retry_max)
		return client_fail(err, errlen, EINVAL, "retry_initial (%d) "
		    "is above retry_max (%d)", s->retry_initial,
		    s->retry_max);
	return 0;
}

/* An IP literal in its canonical form (as getnameinfo writes it), so that
 * MESSAGEs from a listed server are known before it first answers. */
static void
client_numeric(const char *host, char *buf, size_t len)
{
	struct in6_addr	 a6;
	struct in_addr	 a4;

	if (inet_pton(AF_INET, host, &a4) == 1)
		inet_ntop(AF_INET, &a4, buf, (socklen_t)len);
	else if (inet_pton(AF_INET6, host, &a6) == 1)
		inet_ntop(AF_INET6, &a6, buf, (socklen_t)len);
}

static const char *
client_transport_name(enum sippush_transport tr)
{
	return tr == SIPPUSH_TRANSPORT_TLS ? "tls" :
	    tr == SIPPUSH_TRANSPORT_TCP ? "tcp" : "udp";
}

/* Remove what client_tls_dir made. */
static void
client_tls_dir_remove(const char *dir)
{
	char	 file[4096];

	snprintf(file, sizeof(file), "%s/cafile.pem", dir);
	unlink(file);
	rmdir(dir);
}

/*
 * TLS: Sofia-SIP 1.12.11 reads the CA certificates from a directory
 * (TPTAG_CERTIFICATE) as cafile.pem, and creates no TLS transport if it
 * cannot load them. Make such a directory, private, with a copy of
 * ca_file; the caller removes it (client_tls_dir_remove) once nua has
 * started (Sofia loads the file then). 0, or an errno value with err.
 */
static int
client_tls_dir(struct sippush *c, char *dir, size_t dirlen, char *err,
    size_t errlen)
{
	const char	*tmp = getenv("TMPDIR");
	char		 file[4096], buf[8192];
	size_t		 n, total = 0;
	FILE		*in, *out = NULL;
	int		 fd, rv = 0, pem = 0;

	if (tmp == NULL || *tmp != '/')
		tmp = "/tmp";
	if ((size_t)snprintf(dir, dirlen, "%s/sippush-tls.XXXXXX", tmp) >=
	    dirlen || mkdtemp(dir) == NULL)
		return client_fail(err, errlen, errno ? errno : EIO,
		    "cannot make a directory for TLS in %s: %s", tmp,
		    strerror(errno));
	if ((in = fopen(c->s.ca_file, "r")) == NULL) {
		rv = client_fail(err, errlen, EINVAL, "ca_file %s: cannot "
		    "read: %s", c->s.ca_file, strerror(errno));
		goto out;
	}
	snprintf(file, sizeof(file), "%s/cafile.pem", dir);
	if ((fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600)) == -1 || (out = fdopen(fd, "w")) == NULL) {
		if (fd != -1)
			close(fd);
		rv = client_fail(err, errlen, EIO, "%s: cannot create: %s",
		    file, strerror(errno));
		goto out;
	}
	while ((n = fread(buf, 1, sizeof(buf) - 1, in)) > 0) {
		buf[n] = '\0';
		pem |= strstr(buf, "-----BEGIN CERTIFICATE-----") != NULL;
		if ((total += n) > CLIENT_CA_MAX ||
		    fwrite(buf, 1, n, out) != n)
			break;
	}
	fd = fclose(out);
	out = NULL;
	if (ferror(in) || total > CLIENT_CA_MAX || fd != 0)
		rv = client_fail(err, errlen, EIO, "ca_file %s: cannot copy "
		    "it: %s", c->s.ca_file, total > CLIENT_CA_MAX ?
		    "too large" : strerror(errno));
	else if (!pem)
		rv = client_fail(err, errlen, EINVAL, "ca_file %s: no PEM "
		    "certificate in it", c->s.ca_file);
out:
	if (in)
		fclose(in);
	if (out)
		fclose(out);
	if (rv != 0)
		client_tls_dir_remove(dir);
	return rv;
}

/* Copy the settings' strings onto c's home. */
static int
client_copy(struct sippush *c, const struct sippush_settings *s)
{
	const char		*tr;
	struct sippush_hostport	 hp;
	struct server		*sv;
	size_t			 i;

	c->s = *s;
	c->s.servers = NULL;
	c->s.client_id = su_strdup(c->home, s->client_id);
	c->s.client_class = s->client_class ?
	    su_strdup(c->home, s->client_class) : NULL;
	c->s.bind_address = s->bind_address ?
	    su_strdup(c->home, s->bind_address) : NULL;
	c->s.username = s->username ? su_strdup(c->home, s->username) : NULL;
	c->s.relay_interface = s->relay_interface ?
	    su_strdup(c->home, s->relay_interface) : NULL;
	c->s.password = s->password ? su_strdup(c->home, s->password) : NULL;
	c->s.resolv_conf = s->resolv_conf ?
	    su_strdup(c->home, s->resolv_conf) : NULL;
	c->s.ca_file = su_strdup(c->home, s->ca_file ? s->ca_file :
	    CLIENT_SYSTEM_CA);
	c->s.user_agent = s->user_agent ?
	    su_strdup(c->home, s->user_agent) :
	    su_strdup(c->home, "libsippush/" SIPPUSH_LIB_VERSION);
	if (c->s.client_id == NULL || c->s.user_agent == NULL ||
	    c->s.ca_file == NULL)
		return -1;
	if (s->client_class && (c->features = su_sprintf(c->home,
	    CLASS_PARAM "=%s", s->client_class)) == NULL)
		return -1;
	snprintf(c->expires, sizeof(c->expires), "%d", s->expires);
	tr = client_transport_name(s->transport);
	if ((c->servers = su_zalloc(c->home,
	    s->nservers * sizeof(*c->servers))) == NULL)
		return -1;
	for (i = 0; i < s->nservers; i++) {
		sv = &c->servers[i];
		sippush_parse_server(s->servers[i], &hp);
		if (!hp.has_port && s->transport == SIPPUSH_TRANSPORT_TLS)
			hp.port = 5061;
		sv->name = su_strdup(c->home, s->servers[i]);
		sv->url = su_sprintf(c->home, hp.ipv6 ?
		    "sip:[%s]:%d;transport=%s" : "sip:%s:%d;transport=%s",
		    hp.host, hp.port, tr);
		sv->aor = su_sprintf(c->home, hp.ipv6 ? "sip:%s@[%s]" :
		    "sip:%s@%s", s->client_id, hp.host);
		if (sv->name == NULL || sv->url == NULL || sv->aor == NULL)
			return -1;
		client_numeric(hp.host, sv->addr, sizeof(sv->addr));
		sv->port = hp.port;
		/* a name with a dot and no port: RFC 3263 (SRV) */
		if (!hp.has_port && !hp.ipv6 && sv->addr[0] == '\0' &&
		    strchr(hp.host, '.') != NULL &&
		    (sv->domain = su_strdup(c->home, hp.host)) == NULL)
			return -1;
	}
	return 0;
}

int
sippush_create(struct sippush **cp, const struct sippush_settings *s,
    char *err, size_t errlen)
{
	struct sippush	*c;
	char		 bind[300], tlsdir[4096] = "";
	const char	*host, *tr, *bindp = bind;
	int		 rv;

	*cp = NULL;
	if ((rv = client_check(s, err, errlen)) != 0)
		return rv;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return client_fail(err, errlen, ENOMEM, "out of memory");
	c->efd = -1;
	c->wait_index = -1;
	c->thread = pthread_self();
	c->aq_tail = &c->aq;
	pthread_mutex_init(&c->lock, NULL);
	su_home_init(c->home);
	if (su_init() != 0) {
		su_home_deinit(c->home);
		pthread_mutex_destroy(&c->lock);
		free(c);
		return client_fail(err, errlen, EIO,
		    "cannot initialise Sofia-SIP");
	}
	if (client_copy(c, s) == -1) {
		rv = client_fail(err, errlen, ENOMEM, "out of memory");
		goto fail;
	}
	client_sofia_logs(c, 1);
	if ((rv = sippush_dedup_create(&c->seen, (size_t)s->seen_max)) != 0) {
		rv = client_fail(err, errlen, rv, "out of memory");
		goto fail;
	}
	sippush_failover_init(&c->fo, s->nservers);
	if ((c->root = su_root_create(c)) == NULL) {
		rv = client_fail(err, errlen, EIO,
		    "cannot create the event loop");
		goto fail;
	}
	su_root_threading(c->root, 0);
	if ((c->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1) {
		rv = client_fail(err, errlen, errno, "eventfd: %s",
		    strerror(errno));
		goto fail;
	}
	{
		su_wait_t	 w[1];

		if (su_wait_create(w, c->efd, SU_WAIT_IN) == -1 ||
		    (c->wait_index = su_root_register(c->root, w,
		    client_woken, NULL, 0)) == -1) {
			rv = client_fail(err, errlen, EIO,
			    "cannot watch the wake-up descriptor");
			goto fail;
		}
	}
	if ((c->retry_timer = su_timer_create(su_root_task(c->root),
	    1000)) == NULL ||
	    (c->hb_timer = su_timer_create(su_root_task(c->root),
	    (su_duration_t)s->heartbeat_interval * 1000)) == NULL ||
	    (c->failback_timer = su_timer_create(su_root_task(c->root),
	    (su_duration_t)s->failback_interval * 1000)) == NULL ||
	    (c->stop_timer = su_timer_create(su_root_task(c->root),
	    CLIENT_STOP_MAX)) == NULL) {
		rv = client_fail(err, errlen, ENOMEM, "cannot create timers");
		goto fail;
	}
	host = c->s.bind_address ? c->s.bind_address : "*";
	tr = client_transport_name(s->transport);
	if (s->transport == SIPPUSH_TRANSPORT_TLS) {
		if ((rv = client_tls_dir(c, tlsdir, sizeof(tlsdir), err,
		    errlen)) != 0)
			goto fail;
		if (s->tls_insecure)
			client_log(c, SIPPUSH_LOG_WARNING, "client: TLS: "
			    "tls_insecure is set: servers' certificates are "
			    "NOT verified (for tests only)");
	}
	/* nta binds TLS for a sips: URL only (not for transport=tls) */
	if (s->bind_port)
		snprintf(bind, sizeof(bind), strchr(host, ':') ?
		    "%s:[%s]:%d;transport=%s" : "%s:%s:%d;transport=%s",
		    tlsdir[0] ? "sips" : "sip", host, s->bind_port, tr);
	else
		snprintf(bind, sizeof(bind), strchr(host, ':') ?
		    "%s:[%s]:*;transport=%s" : "%s:%s:*;transport=%s",
		    tlsdir[0] ? "sips" : "sip", host, tr);
	c->nua = nua_create(c->root, client_event, c,
	    NUTAG_URL(URL_STRING_MAKE(bindp)),
	    NUTAG_USER_AGENT(c->s.user_agent),
	    NUTAG_OUTBOUND("no-natify no-validate no-options-keepalive "
	    "no-gruuize"),
	    NUTAG_KEEPALIVE(0),
	    NUTAG_MEDIA_ENABLE(0),
	    NUTAG_ENABLEINVITE(0),
	    NUTAG_APPL_METHOD("MESSAGE"),
	    NUTAG_ALLOW("MESSAGE, OPTIONS"),
	    NTATAG_SIP_T1X64((unsigned)s->request_timeout),
	    TAG_IF(tlsdir[0], TPTAG_CERTIFICATE(tlsdir)),
	    /* 0: any version OpenSSL allows (upstream 1.12.11's default
	     * means TLS 1.0 only; Debian's build ignores it) */
	    TAG_IF(tlsdir[0], TPTAG_TLS_VERSION(0)),
	    /* the server's certificate must chain to ca_file, be valid
	     * now and name the host we connect to (SAN DNS or IP, or CN) */
	    TAG_IF(tlsdir[0], TPTAG_TLS_VERIFY_POLICY(s->tls_insecure ?
	    TPTLS_VERIFY_NONE : TPTLS_VERIFY_SUBJECTS_OUT)),
	    TAG_IF(tlsdir[0], TPTAG_TLS_VERIFY_DATE(1)),
	    TAG_END());
	if (tlsdir[0])
		client_tls_dir_remove(tlsdir);
	if (c->nua == NULL) {
		rv = client_fail(err, errlen, EIO, "cannot start SIP on %s",
		    bind);
		goto fail;
	}
	client_log(c, SIPPUSH_LOG_DEBUG, "client: SIP on %s, %zu servers",
	    bind, s->nservers);
	if (s->relay_discovery_port) {
		if ((rv = sippush_discovery_create(&c->disc, c->root,
		    c->s.relay_interface, s->relay_discovery_port,
		    s->relay_lease, client_relay_changed, c, err, errlen)) !=
		    0)
			goto fail;
		client_log(c, SIPPUSH_LOG_INFO, "client: looking for a relay "
		    "on %s port %d", c->s.relay_interface ?
		    c->s.relay_interface : "any interface",
		    s->relay_discovery_port);
		client_set_state(c, SIPPUSH_STATE_WAITING, NULL);
	} else
		su_timer_set_interval(c->retry_timer, client_retry_timer,
		    NULL, 1);
	*cp = c;
	return 0;
fail:
	sippush_destroy(c);
	return rv;
}

/* Bring nua down now (a client destroyed while running). */
static void
client_force_stop(struct sippush *c)
{
	int	 i;

	c->stop_requested = 1;
	c->registered = 0;
	client_stop_begin(c);
	for (i = 0; i < 300 && !c->stopped; i++)
		su_root_step(c->root, 10);
}

void
sippush_destroy(struct sippush *c)
{
	struct msg	*m;

	if (c == NULL)
		return;
	if (c->nua) {
		if (!c->stopped)
			client_force_stop(c);
		while ((m = c->pending) != NULL)
			message_free(c, m);
		while (c->requests)
			req_free(c, c->requests);
		while (c->sends)
			snd_free(c, c->sends);
		if (c->stopped)
			nua_destroy(c->nua);
		c->nua = NULL;
	}
	while ((m = c->pending) != NULL)
		message_free(c, m);
	sippush_discovery_destroy(c->disc);
	if (c->sres)
		sres_resolver_destroy(c->sres);
	su_timer_destroy(c->retry_timer);
	su_timer_destroy(c->hb_timer);
	su_timer_destroy(c->failback_timer);
	su_timer_destroy(c->stop_timer);
	if (c->root) {
		if (c->wait_index != -1)
			su_root_deregister(c->root, c->wait_index);
		su_root_destroy(c->root);
	}
	if (c->efd != -1)
		close(c->efd);
	if (c->sofia_logs)
		client_sofia_logs(c, 0);
	sippush_dedup_destroy(c->seen);
	su_home_deinit(c->home);
	su_deinit();
	pthread_mutex_destroy(&c->lock);
	free(c);
}
