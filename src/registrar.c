/*
 * registrar.c: REGISTER (RFC 3261 section 10).
 *
 * A REGISTER is parsed and validated (registrar_parse), applied to the
 * in-memory table, and its 200 waits for the group commit (commit.c) that
 * makes the row durable; a failed commit answers 500 with Retry-After.
 * Replies are stateless: no server transaction outlives the request (see
 * SOFIA.md, memory trap).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sofia-sip/nta.h>
#include <sofia-sip/nta_stateless.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/su_wait.h>

#include "sippushd.h"

#define REGISTRAR_FAIL_RETRY	"5"	/* Retry-After on a store failure */

/* A REGISTER waiting for its commit; lives on the request's home. */
struct pending {
	struct commit_waiter	 w;	/* first: the commit hands it back */
	msg_t			*msg;
	sip_contact_t const	*contact;	/* reply Contact */
};

static const struct config	*reg_cfg;
static nta_agent_t		*reg_agent;

void
registrar_init(const struct config *cfg, nta_agent_t *agent)
{
	reg_cfg = cfg;
	reg_agent = agent;
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

	if (m && (v = msg_params_find(m->m_params, "class=")) != NULL)
		return v;
	for (u = sip->sip_unknown; u; u = u->un_next)
		if (u->un_name && strcasecmp(u->un_name, "Sippush-Class") == 0)
			return u->un_value;
	return NULL;
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
		 * REGISTER without one would be taken for a query) */
		e->status = 400;
		e->phrase = su_sprintf(home, "Bad %s Header",
		    sip->sip_error->er_name ? sip->sip_error->er_name : "");
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
	return 0;
}

/* The Contact of a 200: the client's own, with the expiry granted. */
static sip_contact_t const *
registrar_reply_contact(su_home_t *home, sip_contact_t const *m,
    long expires)
{
	sip_contact_t	*dup;
	char		 param[32];

	if ((dup = sip_contact_dup(home, m)) == NULL)
		return NULL;
	dup->m_next = NULL;
	snprintf(param, sizeof(param), "expires=%ld", expires);
	if (msg_header_replace_param(home, dup->m_common, param) < 0)
		return NULL;
	return dup;
}

static void
registrar_reply(msg_t *msg, int status, char const *phrase,
    sip_contact_t const *contact)
{
	nta_msg_treply(reg_agent, msg, status, phrase,
	    TAG_IF(contact, SIPTAG_CONTACT(contact)),
	    TAG_IF(status >= 500, SIPTAG_RETRY_AFTER_STR(REGISTRAR_FAIL_RETRY)),
	    SIPTAG_SERVER_STR("sippushd/" SIPPUSH_VERSION),
	    TAG_END());
}

/* The commit that holds a REGISTER's change is done: answer it. */
static void
registrar_committed(struct commit_waiter *w, int ok)
{
	struct pending	*p = (struct pending *)w;

	if (ok)
		registrar_reply(p->msg, SIP_200_OK, p->contact);
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

/* Answer a REGISTER. Takes ownership of msg. */
void
registrar_request(msg_t *msg, sip_t *sip)
{
	su_home_t		*home = msg_home(msg);
	struct registration	 r;
	struct reg_error	 e;
	struct client		*c;
	char			 addr[46], ebuf[16];
	sip_contact_t const	*contact = NULL;
	int64_t			 now = sippushd_now();

	memset(&r, 0, sizeof(r));
	if (registrar_parse(reg_cfg, home, sip, &r, &e) == -1) {
		log_info("registrar: refused REGISTER for %s: %d %s",
		    sip->sip_to && sip->sip_to->a_url->url_user ?
		    sip->sip_to->a_url->url_user : "(no ID)", e.status,
		    e.phrase);
		snprintf(ebuf, sizeof(ebuf), "%d", e.min_expires);
		nta_msg_treply(reg_agent, msg, e.status, e.phrase,
		    TAG_IF(e.min_expires, SIPTAG_MIN_EXPIRES_STR(ebuf)),
		    TAG_END());
		return;
	}
	c = clients_find(r.id);
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
	if (sip_source(msg, addr, sizeof(addr), &r.port, &r.transport) ==
	    -1) {
		registrar_reply(msg, 500, "Unknown Source Address", NULL);
		return;
	}
	r.address = addr;
	r.tport = sip_connection(msg);
	r.now = now;
	if (clients_register(&r, &c) == -1) {
		registrar_reply(msg, 500, "Out Of Memory", NULL);
		return;
	}
	log_debug("registrar: %s registered, class %s, from %s %s:%u for %ds",
	    c->id, c->class, clients_transport_name(c->transport), c->address,
	    c->port, r.expires);
	contact = registrar_reply_contact(home, sip->sip_contact, r.expires);
	registrar_queue(msg, contact);
	dispatch_client_online(c);
}
