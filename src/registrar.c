/*
 * registrar.c: REGISTER (RFC 3261 section 10).
 *
 * A REGISTER is parsed and validated (registrar_parse), applied to the
 * in-memory table, and its 200 waits for the group commit (commit.c) that
 * makes the row durable; a failed commit answers 500 with Retry-After
 * (503 while the database server cannot be reached, store_unavailable).
 * Replies are stateless: no server transaction outlives the request (see
 * SOFIA.md, memory trap).
 *
 * Admission. With registration.rate_per_source set, each source address
 * (an IPv6 one by its /64) has a token bucket (rate.c) charged by the
 * REGISTERs that would add a client to the table: one costs 1/rate
 * seconds, and up to 2 x rate may come at once. Refreshes and moves of
 * clients already in the table are not charged, so a flood of new IDs,
 * forged or not, from a client's address cannot keep that client from
 * refreshing; the cost of parsing is bounded before that, per source, by
 * guard.c. A REGISTER over the rate, and one that would add a client to
 * a table holding registration.max_clients rows, is answered 503 with
 * Retry-After. With authentication on, both come after the credentials
 * are checked.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <sofia-sip/msg_addr.h>
#include <sofia-sip/nta.h>
#include <sofia-sip/nta_stateless.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/su_wait.h>

#include "sippushd.h"

#define REGISTRAR_FAIL_RETRY	5	/* Retry-After on a store failure */
#define REGISTRAR_FULL_RETRY	60	/* ... when the table is full */
#define REGISTRAR_LOG_EVERY	10	/* seconds between reports of a limit */
#define REGISTRAR_LOG_MAX	10	/* such reports per second, at most */

/* At most REGISTRAR_LOG_MAX lines a second of one kind. */
struct log_cap {
	int64_t		 second;
	int		 count;
	unsigned	 dropped;	/* lines not logged that second */
};

/* A REGISTER waiting for its commit; lives on the request's home. */
struct pending {
	struct commit_waiter	 w;	/* first: the commit hands it back */
	msg_t			*msg;
	sip_contact_t const	*contact;	/* reply Contact */
};

static const struct config	*reg_cfg;
static nta_agent_t		*reg_agent;
static struct rate_table	 reg_rate;
static struct log_cap		 reg_rate_cap, reg_refusal_cap;
static int64_t			 reg_full_logged;	/* table full */
static uint32_t			 reg_full_refused;

void
registrar_init(const struct config *cfg, nta_agent_t *agent)
{
	reg_cfg = cfg;
	reg_agent = agent;
	rate_init(&reg_rate);
	reg_full_logged = 0;
	reg_full_refused = 0;
	memset(&reg_rate_cap, 0, sizeof(reg_rate_cap));
	memset(&reg_refusal_cap, 0, sizeof(reg_refusal_cap));
}

/* May one more line of this kind be logged at now (us)? When a new
 * second starts, *dropped gets the lines held back in the last one. */
static int
registrar_may_log(struct log_cap *cap, int64_t now, unsigned *dropped)
{
	*dropped = 0;
	if (now / 1000000 != cap->second) {
		*dropped = cap->dropped;
		cap->second = now / 1000000;
		cap->count = 0;
		cap->dropped = 0;
	}
	if (cap->count++ < REGISTRAR_LOG_MAX)
		return 1;
	cap->dropped++;
	return 0;
}

/*
 * Charge a REGISTER that adds a client, from msg's source, to its
 * bucket. Returns 0 if it may be served, or the number of seconds (at
 * least 1) to put in the Retry-After of a 503.
 */
static int
registrar_rate_check(msg_t *msg)
{
	su_addrinfo_t		*ai = msg_addrinfo(msg);
	struct rate_entry	*e;
	uint8_t			 key[RATE_KEY_LEN];
	int64_t			 now, interval, tolerance, wait;
	char			 addr[46];
	int			 rate = reg_cfg->reg_rate;
	unsigned		 dropped;

	if (rate <= 0 || ai == NULL || ai->ai_addr == NULL ||
	    rate_key(ai->ai_addr, key) == -1)
		return 0;
	now = clock_mono_us();
	interval = 1000000 / rate;
	if (interval < 1)
		interval = 1;
	tolerance = (2 * (int64_t)rate - 1) * interval;
	e = rate_entry(&reg_rate, key);
	if ((wait = rate_over(e, now, tolerance)) == 0) {
		rate_charge(e, now, interval);
		return 0;
	}
	e->refused++;
	wait = (wait + 999999) / 1000000;
	if ((e->logged == 0 || now - e->logged >=
	    (int64_t)REGISTRAR_LOG_EVERY * 1000000) &&
	    registrar_may_log(&reg_rate_cap, now, &dropped)) {
		if (getnameinfo(ai->ai_addr, (socklen_t)ai->ai_addrlen, addr,
		    sizeof(addr), NULL, 0, NI_NUMERICHOST) != 0)
			snprintf(addr, sizeof(addr), "?");
		log_warn("registrar: %s sends REGISTERs faster than "
		    "registration.rate_per_source (%d/s): %u refused with 503"
		    "%s", addr, rate, e->refused, e->logged ?
		    " since the last report" : "");
		e->logged = now;
		e->refused = 0;
	}
	return wait < 1 ? 1 : wait > 3600 ? 3600 : (int)wait;
}

static int
registrar_fail(struct reg_error *e, int status, const char *phrase)
{
	e->status = status;
	e->phrase = phrase;
	return -1;
}

/* Parse a decimal number of seconds; -1 if s is not one. */
static long
registrar_seconds(const char *s)
{
	char		*end;
	unsigned long	 v;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (*end != '\0')
		return -1;
	if (errno == ERANGE || v > 0x7fffffff)
		v = 0x7fffffff;
	return (long)v;
}

/* The class a REGISTER asks for: Contact parameter, else header. */
static const char *
registrar_class(sip_t const *sip, sip_contact_t const *m)
{
	msg_unknown_t const	*u;
	const char		*v;

	if (m && (v = msg_params_find(m->m_params, CLASS_PARAM "=")) != NULL)
		return v;
	for (u = sip->sip_unknown; u; u = u->un_next)
		if (u->un_name && strcasecmp(u->un_name, "Sippush-Class") == 0)
			return u->un_value;
	return NULL;
}

/* The name of the first header on sip's error list: one Sofia could not
 * parse (an error header, which holds the name) or a second copy of a
 * header that may appear once (kept with its own class). "" if none. */
static const char *
registrar_bad_header(sip_t const *sip)
{
	sip_header_t const	*h = (sip_header_t const *)sip->sip_error;
	const char		*name;

	if (h == NULL || h->sh_class == NULL)
		return "";
	if (h->sh_class == sip_error_class)
		name = h->sh_error->er_name;
	else
		name = h->sh_class->hc_name;
	return name ? name : "";
}

/* The Path headers of a REGISTER (RFC 3327: the edge relays it came
 * through, nearest the registrar first) as one "a, b" string on home in
 * r->path; NULL when there are none. 0, or -1 with e filled. */
static int
registrar_path(su_home_t *home, sip_t const *sip, struct registration *r,
    struct reg_error *e)
{
	sip_path_t const	*p;
	char			 buf[CLIENT_PATH_MAX + 1];
	size_t			 n = 0;
	issize_t		 len;

	r->path = NULL;
	for (p = sip->sip_path; p; p = p->r_next) {
		if (n > 0) {
			if (n + 2 >= sizeof(buf))
				return registrar_fail(e, 400, "Path Too Long");
			buf[n++] = ',';
			buf[n++] = ' ';
		}
		len = msg_header_field_e(buf + n, sizeof(buf) - n,
		    (msg_header_t const *)p, 0);
		if (len < 0 || (size_t)len >= sizeof(buf) - n)
			return registrar_fail(e, 400, "Path Too Long");
		n += (size_t)len;
	}
	if (n == 0)
		return 0;
	buf[n] = '\0';
	if ((r->path = su_strdup(home, buf)) == NULL)
		return registrar_fail(e, 500, "Out Of Memory");
	return 0;
}

/*
 * Read a REGISTER into r: client ID, class, Contact, User-Agent and the
 * granted expiry (0: unregister; -1 in r->expires: a query with no
 * Contact). Strings point into sip or are allocated on home. Returns 0, or
 * -1 with the SIP status and reason phrase to answer in e.
 */
int
registrar_parse(const struct config *cfg, su_home_t *home, sip_t const *sip,
    struct registration *r, struct reg_error *e)
{
	sip_contact_t const	*m = sip->sip_contact;
	const char		*id, *class;
	char			 contact[CLIENT_CONTACT_MAX + 1];
	issize_t		 len;
	long			 want;

	memset(e, 0, sizeof(*e));
	if (sip->sip_error != NULL) {
		/* a header Sofia could not parse (a Contact above all: a
		 * REGISTER without one would be taken for a query), or one
		 * given twice; nta has let through those it does not check
		 * itself (the registrar's, the proxy's...) */
		e->status = 400;
		if (*registrar_bad_header(sip) == '\0' || (e->phrase =
		    su_sprintf(home, "Bad %s Header",
		    registrar_bad_header(sip))) == NULL)
			e->phrase = "Bad Request";
		return -1;
	}
	if (sip->sip_to == NULL || sip->sip_to->a_url->url_user == NULL)
		return registrar_fail(e, 400, "Missing Client ID In To");
	id = sip->sip_to->a_url->url_user;
	if (!clients_valid_id(id))
		return registrar_fail(e, 400, "Bad Client ID");
	r->id = id;
	r->user_agent = sip->sip_user_agent ?
	    sip->sip_user_agent->g_string : NULL;
	if (r->user_agent && strlen(r->user_agent) > CLIENT_UA_MAX)
		r->user_agent = su_strndup(home, r->user_agent, CLIENT_UA_MAX);
	if (m == NULL) {
		r->expires = -1;
		return 0;
	}
	if (m->m_next != NULL)
		return registrar_fail(e, 400, "One Contact Per Client");
	if (m->m_url->url_type == url_any) {
		if (sip->sip_expires == NULL || sip->sip_expires->ex_delta != 0)
			return registrar_fail(e, 400, "Wildcard Needs Expires 0");
		r->expires = 0;
		return 0;
	}
	if (m->m_expires)
		want = registrar_seconds(m->m_expires);
	else if (sip->sip_expires)
		want = sip->sip_expires->ex_delta > 0x7fffffff ?
		    0x7fffffff : (long)sip->sip_expires->ex_delta;
	else
		want = cfg->reg_default_expires;
	if (want < 0)
		return registrar_fail(e, 400, "Bad Contact Expires");
	if (want == 0) {
		r->expires = 0;
		return 0;
	}
	if (want < cfg->reg_min_expires) {
		e->min_expires = cfg->reg_min_expires;
		return registrar_fail(e, SIP_423_INTERVAL_TOO_BRIEF);
	}
	r->expires = want > cfg->reg_max_expires ?
	    cfg->reg_max_expires : (int)want;
	class = registrar_class(sip, m);
	if (class == NULL)
		class = cfg->reg_default_class;
	if (!clients_valid_class(class))
		return registrar_fail(e, 400, "Bad Client Class");
	r->class = class;
	/* not sip_header_as_string: in 1.12.11 it garbles the last parameter
	 * of a header over ~126 bytes */
	len = msg_header_field_e(contact, sizeof(contact),
	    (msg_header_t const *)m, 0);
	if (len < 0 || (size_t)len >= sizeof(contact))
		return registrar_fail(e, 400, "Contact Too Long");
	if ((r->contact = su_strdup(home, contact)) == NULL)
		return registrar_fail(e, 500, "Out Of Memory");
	return registrar_path(home, sip, r, e);
}

/* The Contact of a 200: the client's own, with the expiry granted. All
 * on home (msg_header_replace_param keeps the parameter's pointer, so
 * the parameter must live as long as the header). */
static sip_contact_t const *
registrar_reply_contact(su_home_t *home, sip_contact_t const *m,
    long expires)
{
	sip_contact_t	*dup;
	char		*param;

	if (m == NULL || (dup = sip_contact_dup(home, m)) == NULL)
		return NULL;
	dup->m_next = NULL;
	if ((param = su_sprintf(home, "expires=%ld", expires)) == NULL ||
	    msg_header_replace_param(home, dup->m_common, param) < 0)
		return NULL;
	return dup;
}

/* Answer msg; a 5xx says when to come back (retry seconds, or the
 * default for a store failure when 0). A 200 carries the request's Path
 * headers, as RFC 3327 (section 5.3) asks of a registrar, so the client
 * learns the relays it is reached through. */
static void
registrar_reply_retry(msg_t *msg, int status, char const *phrase,
    sip_contact_t const *contact, int retry)
{
	sip_t const	*sip = sip_object(msg);
	char		 after[16];

	snprintf(after, sizeof(after), "%d",
	    retry > 0 ? retry : REGISTRAR_FAIL_RETRY);
	nta_msg_treply(reg_agent, msg, status, phrase,
	    TAG_IF(contact, SIPTAG_CONTACT(contact)),
	    TAG_IF(status == 200 && sip && sip->sip_path,
	    SIPTAG_PATH(sip->sip_path)),
	    TAG_IF(status >= 500, SIPTAG_RETRY_AFTER_STR(after)),
	    SIPTAG_SERVER_STR("sippushd/" SIPPUSH_VERSION),
	    TAG_END());
}

static void
registrar_reply(msg_t *msg, int status, char const *phrase,
    sip_contact_t const *contact)
{
	registrar_reply_retry(msg, status, phrase, contact, 0);
}

/* Is there room for one more client? Logs (now and then) when not. */
static int
registrar_room(const char *id)
{
	int64_t	 now;

	if (clients_count() < (size_t)reg_cfg->reg_max_clients)
		return 1;
	reg_full_refused++;
	now = clock_mono_us();
	if (reg_full_logged == 0 || now - reg_full_logged >=
	    (int64_t)REGISTRAR_LOG_EVERY * 1000000) {
		log_warn("registrar: the table holds registration.max_clients "
		    "(%d) clients: new client %s refused with 503 (%u refused "
		    "%s)", reg_cfg->reg_max_clients, id, reg_full_refused,
		    reg_full_logged ? "since the last report" : "so far");
		reg_full_logged = now;
		reg_full_refused = 0;
	}
	return 0;
}

/* The commit that holds a REGISTER's change is done: answer it. */
static void
registrar_committed(struct commit_waiter *w, int ok)
{
	struct pending	*p = (struct pending *)w;

	if (ok)
		registrar_reply(p->msg, SIP_200_OK, p->contact);
	else if (store_unavailable())	/* the database server is away */
		registrar_reply(p->msg, 503, "Store Unavailable", NULL);
	else
		registrar_reply(p->msg, 500, "Store Failure", NULL);
}

/* Answer msg once the next commit is done. */
static void
registrar_queue(msg_t *msg, sip_contact_t const *contact)
{
	struct pending	*p;

	if ((p = su_zalloc(msg_home(msg), sizeof(*p))) == NULL) {
		registrar_reply(msg, 500, "Out Of Memory", NULL);
		return;
	}
	p->w.done = registrar_committed;
	p->msg = msg;
	p->contact = contact;
	commit_wait(&p->w);
}

/* Log a refused REGISTER, REGISTRAR_LOG_MAX a second at most: a flood of
 * bad requests must not become a flood of log lines. */
static void
registrar_log_refusal(sip_t const *sip, const struct reg_error *e)
{
	const char	*id = sip->sip_to && sip->sip_to->a_url->url_user ?
	    sip->sip_to->a_url->url_user : NULL;
	unsigned	 dropped;
	int		 ok;

	ok = registrar_may_log(&reg_refusal_cap, clock_mono_us(),
	    &dropped);
	if (dropped)
		log_info("registrar: %u more REGISTERs refused in a second, "
		    "not logged", dropped);
	if (ok)
		log_info("registrar: refused REGISTER for %.64s%s: %d %s",
		    id ? id : "(no ID)", id && strlen(id) > 64 ? "..." : "",
		    e->status, e->phrase);
}

/*
 * cluster.redirect: a client new to this node while another live node
 * holds fewer clients is answered 302 with the live nodes' Contacts,
 * least loaded first (q 1.0, 0.9, ...). 1 if answered so.
 */
static int
registrar_redirect(msg_t *msg, const char *id)
{
	su_home_t	*home = msg_home(msg);
	const char	*to[CLUSTER_REDIRECT_MAX];
	sip_contact_t	*list = NULL, **tail = &list;
	size_t		 i, n;

	if ((n = cluster_redirect(to, CLUSTER_REDIRECT_MAX)) == 0)
		return 0;
	for (i = 0; i < n; i++) {
		*tail = sip_contact_format(home, "<sip:%s>;q=%d.%d", to[i],
		    i == 0 ? 1 : 0, i == 0 ? 0 : (int)(9 - (i < 9 ? i - 1 :
		    8)));
		if (*tail == NULL)
			return 0;
		tail = &(*tail)->m_next;
	}
	log_info("registrar: %s redirected to %s%s (cluster.redirect: a "
	    "node with fewer clients)", id, to[0], n > 1 ? " and others" :
	    "");
	nta_msg_treply(reg_agent, msg, 302, "Moved Temporarily",
	    SIPTAG_CONTACT(list), SIPTAG_SERVER_STR("sippushd/"
	    SIPPUSH_VERSION), TAG_END());
	return 1;
}

/* Answer a REGISTER. Takes ownership of msg. */
void
registrar_request(msg_t *msg, sip_t *sip)
{
	su_home_t		*home = msg_home(msg);
	struct registration	 r;
	struct reg_error	 e;
	struct auth_grant	 g;
	struct client		*c;
	char			 addr[46], ebuf[16];
	sip_contact_t const	*contact = NULL;
	int64_t			 now = clock_now();
	int			 wait;

	memset(&r, 0, sizeof(r));
	if (registrar_parse(reg_cfg, home, sip, &r, &e) == -1) {
		registrar_log_refusal(sip, &e);
		snprintf(ebuf, sizeof(ebuf), "%d", e.min_expires);
		nta_msg_treply(reg_agent, msg, e.status, e.phrase,
		    TAG_IF(e.min_expires, SIPTAG_MIN_EXPIRES_STR(ebuf)),
		    TAG_END());
		return;
	}
	if (!auth_request(msg, sip, r.id, &g))
		return;
	c = clients_find(r.id);
	if (g.again && r.expires != -1) {
		/* a retransmission on the same flow: the same 200 again
		 * (once what the first one changed is durable), nothing
		 * applied again */
		log_debug("registrar: REGISTER of %s retransmitted, answered "
		    "again", r.id);
		registrar_queue(msg, r.expires == 0 ? NULL :
		    registrar_reply_contact(home, sip->sip_contact,
		    r.expires));
		return;
	}
	if (r.expires == -1) {
		/* a query: the current binding, if any */
		if (c && (c->state == CLIENT_ONLINE ||
		    c->state == CLIENT_OFFLINE))
			contact = registrar_reply_contact(home,
			    sip_contact_make(home, c->contact),
			    (long)(c->expires_at - now));
		registrar_reply(msg, SIP_200_OK, contact);
		return;
	}
	if (r.expires > 0 && (cluster_draining() || cluster_fenced())) {
		/* clients go to another node of their list meanwhile */
		registrar_reply_retry(msg, 503, cluster_draining() ?
		    CLUSTER_PHRASE_DRAINING : CLUSTER_PHRASE_FENCED, NULL,
		    atoi(cluster_draining() ? CLUSTER_RETRY_DRAINING :
		    CLUSTER_RETRY_FENCED));
		return;
	}
	if (r.expires > 0 && (c == NULL || (c->state != CLIENT_ONLINE &&
	    c->state != CLIENT_OFFLINE)) && registrar_redirect(msg, r.id))
		return;
	if (r.expires == 0) {
		if (c == NULL || c->state == CLIENT_UNREGISTERED) {
			registrar_reply(msg, SIP_200_OK, NULL);
			return;
		}
		clients_unregister(c, now);
		log_info("registrar: %s unregistered", c->id);
		registrar_queue(msg, NULL);
		return;
	}
	if (c == NULL && (wait = registrar_rate_check(msg)) > 0) {
		registrar_reply_retry(msg, 503, "Too Many Registrations From "
		    "This Address", NULL, wait);
		return;
	}
	if (c == NULL && !registrar_room(r.id)) {
		registrar_reply_retry(msg, 503, "Client Table Full", NULL,
		    REGISTRAR_FULL_RETRY);
		return;
	}
	if (sip_source(msg, addr, sizeof(addr), &r.port, &r.transport) ==
	    -1) {
		registrar_reply(msg, 500, "Unknown Source Address", NULL);
		return;
	}
	r.address = addr;
	r.tport = sip_connection(msg);
	r.now = now;
	wait = c != NULL && c->state == CLIENT_ONLINE;
	if (clients_register(&r, &c) == -1) {
		registrar_reply(msg, 500, "Out Of Memory", NULL);
		return;
	}
	/* cluster: new here, or back: the write takes its targets (from
	 * another node, or parked), then they are loaded */
	if (cluster_on() && !wait)
		c->take = 1;
	auth_seen_use(c, &g);	/* a new client: its first nonce */
	log_debug("registrar: %s registered, class %s, from %s %s:%u%s for "
	    "%ds", c->id, c->class, clients_transport_name(c->transport),
	    c->address, c->port, c->path ? " (through a relay)" : "",
	    r.expires);
	contact = registrar_reply_contact(home, sip->sip_contact, r.expires);
	registrar_queue(msg, contact);
	dispatch_client_online(c);
}
