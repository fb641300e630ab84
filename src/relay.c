/*
 * relay.c: client-to-client requests. A registered client sends a SIP
 * MESSAGE to sip:TARGET-ID@server; sippushd forwards it as a stateful
 * proxy (RFC 3261 section 16) over the flow the target registered (its
 * UDP source address, or the TCP/TLS connection it opened: the target
 * may be behind NAT with no open port) and answers the sender with the
 * target's final status and body.
 *
 * How it works. sip.c hands every MESSAGE whose Request-URI names a
 * user here (relay_request); one to the server itself, or any with the
 * relay off, keeps the 405 it always had. The sender is the From user,
 * checked as REGISTER and OPTIONS are (auth.c: with auth.enabled it must
 * pass Digest as that ID; without, the request must come from where that
 * ID registered). Then the policy: the sender registered, a rule of
 * relay.rules allowing its class to send to the target's class, the
 * sender under relay.rate. A request that passes gets a server
 * transaction (nta_incoming_create) and a new client transaction to the
 * target, built from the sender's request: its Vias kept under ours (nta
 * adds it), Max-Forwards decremented, the sender's credentials, Route
 * and any Sippush-* header dropped, and FROM_ID_HEADER /
 * FROM_CLASS_HEADER set from what the server verified. The target's
 * final response is answered back with its status, phrase, Content-Type
 * and body; no final answer within relay.timeout is 408.
 *
 * With STORE_HEADER ("yes", or a TTL in seconds) the request is
 * published instead as a control message to that one client
 * (dispatch_publish): durable, retried until acknowledged or its TTL,
 * queryable with sippushctl status; the sender gets 202 with its
 * message ID once it is on disk.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define NTA_INCOMING_MAGIC_T	struct relay_req
#define NTA_OUTGOING_MAGIC_T	struct relay_req
#define SU_TIMER_ARG_T		struct relay_req

#include <sofia-sip/msg_header.h>
#include <sofia-sip/nta.h>
#include <sofia-sip/nta_stateless.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/su_wait.h>
#include <sofia-sip/su_string.h>

#include "sippushd.h"

#define RELAY_SERVER	"sippushd/" SIPPUSH_VERSION
#define RELAY_LOG_EVERY	10		/* s between reports of a sender
					   over relay.rate */

/* A relayed request in progress: the sender's server transaction and
 * our client transaction to the target (or the publish in progress). */
struct relay_lookup;
struct relay_req {
	struct relay_req	*next;		/* relay_live */
	nta_incoming_t		*irq;
	nta_outgoing_t		*orq;
	su_timer_t		*timer;
	struct relay_lookup	*lookup;	/* a cluster's: in flight */
	char			 from[CLIENT_ID_MAX + 1];
	char			 to[CLIENT_ID_MAX + 1];
	char			 from_class[CLIENT_CLASS_MAX + 1];
	int			 store;		/* Sippush-Store given */
	long			 ttl;
};

/* Where a target held by no client of ours is (a cluster): a job. */
struct relay_lookup {
	struct commit_job	 job;
	struct relay_req	*rr;		/* NULL: gone meanwhile */
	char			 id[CLIENT_ID_MAX + 1];
	struct client_where	 w;
	int			 rv;
};

static const struct config	*relay_cfg;
static nta_agent_t		*relay_agent;
static su_root_t		*relay_root;
static struct relay_rule	*relay_rules;
static size_t			 relay_nrules;
static struct rate_table	 relay_rate;
static struct relay_req		*relay_live;
static uint64_t			 relay_relayed, relay_refused, relay_stored;

/* ---- the rules ---- */

/* Is s "*" or a valid class name? */
static int
relay_valid_side(const char *s)
{
	return strcmp(s, "*") == 0 || clients_valid_class(s);
}

/*
 * Parse one rule, "FROM -> TO", each side a class name or "*" (any
 * class), spaces around the arrow optional. 0 and *r filled, or -1 with
 * the reason in err.
 */
int
relay_rule_parse(const char *s, struct relay_rule *r, char *err,
    size_t errlen)
{
	const char	*arrow, *a, *b;
	size_t		 alen, blen;

	memset(r, 0, sizeof(*r));
	if ((arrow = strstr(s, "->")) == NULL) {
		snprintf(err, errlen, "\"%.80s\" is not a rule: expected "
		    "\"FROM -> TO\" (class names or *)", s);
		return -1;
	}
	for (a = s; isspace((unsigned char)*a); a++)
		;
	for (alen = (size_t)(arrow - a); alen &&
	    isspace((unsigned char)a[alen - 1]); alen--)
		;
	for (b = arrow + 2; isspace((unsigned char)*b); b++)
		;
	for (blen = strlen(b); blen && isspace((unsigned char)b[blen - 1]);
	    blen--)
		;
	if (alen == 0 || blen == 0 || alen > CLIENT_CLASS_MAX ||
	    blen > CLIENT_CLASS_MAX) {
		snprintf(err, errlen, "\"%.80s\": each side of -> must be a "
		    "class name (1-%d bytes) or *", s, CLIENT_CLASS_MAX);
		return -1;
	}
	memcpy(r->from, a, alen);
	memcpy(r->to, b, blen);
	if (!relay_valid_side(r->from) || !relay_valid_side(r->to)) {
		snprintf(err, errlen, "\"%.80s\": \"%s\" is not a class name "
		    "or *", s, relay_valid_side(r->from) ? r->to : r->from);
		return -1;
	}
	return 0;
}

/*
 * Parse relay.rules as config.c keeps it: one rule a line. Returns the
 * number of rules with *rp a new array (free it), or -1 with err
 * ("rule N: reason").
 */
int
relay_rules_parse(const char *text, struct relay_rule **rp, char *err,
    size_t errlen)
{
	struct relay_rule	*v = NULL, *nv;
	const char		*p = text, *nl;
	char			 line[256], why[200];
	size_t			 n = 0, len;

	*rp = NULL;
	while (p && *p) {
		nl = strchr(p, '\n');
		len = nl ? (size_t)(nl - p) : strlen(p);
		if (len >= sizeof(line))
			len = sizeof(line) - 1;
		memcpy(line, p, len);
		line[len] = '\0';
		p = nl ? nl + 1 : NULL;
		if ((nv = realloc(v, (n + 1) * sizeof(*v))) == NULL) {
			free(v);
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		v = nv;
		if (relay_rule_parse(line, &v[n], why, sizeof(why)) == -1) {
			free(v);
			snprintf(err, errlen, "rule %zu: %s", n + 1, why);
			return -1;
		}
		n++;
	}
	*rp = v;
	return (int)n;
}

/* May a client of class from send to one of class to? 1 or 0. */
int
relay_allowed(const struct relay_rule *r, size_t n, const char *from,
    const char *to)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if ((strcmp(r[i].from, "*") == 0 ||
		    strcmp(r[i].from, from) == 0) &&
		    (strcmp(r[i].to, "*") == 0 || strcmp(r[i].to, to) == 0))
			return 1;
	return 0;
}

/* ---- setting up ---- */

int
relay_init(const struct config *cfg, su_root_t *root, nta_agent_t *agent)
{
	char	 err[256];
	int	 n;

	relay_cfg = cfg;
	relay_agent = agent;
	relay_root = root;
	rate_init(&relay_rate);
	if (!cfg->relay_enabled)
		return 0;
	if ((n = relay_rules_parse(cfg->relay_rules ? cfg->relay_rules : "",
	    &relay_rules, err, sizeof(err))) == -1) {
		log_warn("relay: relay.rules: %s", err);
		return -1;
	}
	relay_nrules = (size_t)n;
	log_info("relay: on, %zu rule%s, %d ms timeout", relay_nrules,
	    relay_nrules == 1 ? "" : "s", cfg->relay_timeout);
	if (relay_nrules == 0)
		log_warn("relay: relay.rules is empty: every relayed request "
		    "is refused");
	return 0;
}

static void
relay_free(struct relay_req *rr)
{
	struct relay_req	**pp;

	for (pp = &relay_live; *pp; pp = &(*pp)->next)
		if (*pp == rr) {
			*pp = rr->next;
			break;
		}
	if (rr->lookup)
		rr->lookup->rr = NULL;
	if (rr->timer)
		su_timer_destroy(rr->timer);
	if (rr->orq)
		nta_outgoing_destroy(rr->orq);
	if (rr->irq)
		nta_incoming_destroy(rr->irq);
	free(rr);
}

void
relay_shutdown(void)
{
	while (relay_live) {
		if (relay_live->irq)
			nta_incoming_treply(relay_live->irq, 503,
			    "Server Shutting Down", TAG_END());
		relay_free(relay_live);
	}
	free(relay_rules);
	relay_rules = NULL;
	relay_nrules = 0;
}

/* Counters, for sippushctl stats. */
void
relay_stats(struct buf *out)
{
	proto_put_kvi(out, "relay_forwarded", (long long)relay_relayed);
	proto_put_kvi(out, "relay_stored", (long long)relay_stored);
	proto_put_kvi(out, "relay_refused", (long long)relay_refused);
}

/* ---- a request ---- */

/* Answer msg statelessly with status and phrase. */
static void
relay_refuse(msg_t *msg, int status, const char *phrase, const char *from,
    const char *to, const char *why)
{
	relay_refused++;
	log_info("relay: MESSAGE %s -> %s refused: %d %s%s%s", from, to,
	    status, phrase, why ? ": " : "", why ? why : "");
	nta_msg_treply(relay_agent, msg, status, phrase,
	    SIPTAG_SERVER_STR(RELAY_SERVER), TAG_END());
}

/* Is the sender over relay.rate? The seconds to wait, or 0 (charged). */
static int
relay_over_rate(const char *id)
{
	struct rate_entry	*e;
	uint8_t			 key[RATE_KEY_LEN];
	uint64_t		 h = 1469598103934665603ULL;
	int64_t			 now, interval, wait;
	int			 rate = relay_cfg->relay_rate;
	const char		*p;

	if (rate <= 0)
		return 0;
	/* the key: a family no address has (0xff), then a hash of the ID
	 * (FNV-1a, then the table's own seeded hash) */
	memset(key, 0, sizeof(key));
	key[0] = 0xff;
	for (p = id; *p; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ULL;
	memcpy(key + 1, &h, sizeof(h));
	h = (h ^ (h >> 29)) * 0xbf58476d1ce4e5b9ULL;
	memcpy(key + 9, &h, RATE_KEY_LEN - 9);
	now = clock_mono_us();
	interval = 1000000 / rate;
	if (interval < 1)
		interval = 1;
	e = rate_entry(&relay_rate, key);
	if ((wait = rate_over(e, now, (2 * (int64_t)rate - 1) * interval)) ==
	    0) {
		rate_charge(e, now, interval);
		return 0;
	}
	if (e->logged == 0 || now - e->logged >= RELAY_LOG_EVERY * 1000000LL) {
		log_warn("relay: %s sends faster than relay.rate (%d/s): "
		    "refused with 403", id, rate);
		e->logged = now;
	}
	wait = (wait + 999999) / 1000000;
	return wait < 1 ? 1 : (int)wait;
}

/* Did this request pass through us already (a Via with our sent-by)? */
static int
relay_loop(sip_t const *sip)
{
	sip_via_t const	*v, *ours;

	for (ours = nta_agent_via(relay_agent); ours; ours = ours->v_next)
		for (v = sip->sip_via; v; v = v->v_next)
			if (v->v_host && ours->v_host &&
			    su_casematch(v->v_host, ours->v_host) &&
			    su_strmatch(v->v_port ? v->v_port : "5060",
			    ours->v_port ? ours->v_port : "5060") &&
			    v->v_branch && su_casenmatch(v->v_branch,
			    "z9hG4bK", 7))
				return 1;
	return 0;
}

/* Is h one of the headers the relay sets itself (never a sender's)? */
static int
relay_own_header(msg_unknown_t const *u)
{
	return u->un_name && su_casenmatch(u->un_name, "Sippush-", 8);
}

static const char *
relay_header(sip_t const *sip, const char *name)
{
	msg_unknown_t const	*u;

	for (u = sip->sip_unknown; u; u = u->un_next)
		if (u->un_name && su_casematch(u->un_name, name))
			return u->un_value;
	return NULL;
}

/* The target's final response: answer the sender with its status,
 * phrase and body. */
static int
relay_response(struct relay_req *rr, nta_outgoing_t *orq, sip_t const *sip)
{
	int		 status = nta_outgoing_status(orq);
	const char	*phrase;

	if (status < 200)
		return 0;
	phrase = sip && sip->sip_status ? sip->sip_status->st_phrase :
	    sip_status_phrase(status);
	if (status >= 700)
		status = 500;
	log_debug("relay: MESSAGE %s -> %s: %d %s", rr->from, rr->to, status,
	    phrase ? phrase : "");
	nta_incoming_treply(rr->irq, status, phrase ? phrase : "",
	    SIPTAG_SERVER_STR(RELAY_SERVER),
	    TAG_IF(sip && sip->sip_content_type,
	    SIPTAG_CONTENT_TYPE(sip ? sip->sip_content_type : NULL)),
	    TAG_IF(sip && sip->sip_payload,
	    SIPTAG_PAYLOAD(sip ? sip->sip_payload : NULL)),
	    TAG_END());
	relay_free(rr);
	return 0;
}

static void
relay_timeout(su_root_magic_t *magic, su_timer_t *t, struct relay_req *rr)
{
	(void)magic;
	(void)t;
	log_info("relay: MESSAGE %s -> %s: no answer within relay.timeout "
	    "(%d ms): 408", rr->from, rr->to, relay_cfg->relay_timeout);
	nta_incoming_treply(rr->irq, 408, "Target Did Not Answer",
	    SIPTAG_SERVER_STR(RELAY_SERVER), TAG_END());
	relay_free(rr);
}

/* Build the request to the target from the sender's; NULL if out of
 * memory. */
static msg_t *
relay_build(sip_t const *sip, const url_t *url, const struct client *from,
    const char *node)
{
	msg_t			*msg;
	su_home_t		*home;
	sip_t			*out;
	msg_unknown_t const	*u;
	msg_header_t		*h[16];
	char			 hdr[CLIENT_ID_MAX + 64];
	size_t			 i, n = 0;
	unsigned long		 mf = sip->sip_max_forwards ?
				    sip->sip_max_forwards->mf_count : 70;

	if ((msg = nta_msg_create(relay_agent, 0)) == NULL)
		return NULL;
	home = msg_home(msg);
	out = sip_object(msg);
	snprintf(hdr, sizeof(hdr), "%lu", mf - 1);
	h[n++] = (msg_header_t *)sip_request_create(home, SIP_METHOD_MESSAGE,
	    (url_string_t *)url, NULL);
	h[n++] = msg_header_dup(home, (msg_header_t *)sip->sip_via);
	h[n++] = msg_header_dup(home, (msg_header_t *)sip->sip_from);
	h[n++] = msg_header_dup(home, (msg_header_t *)sip->sip_to);
	h[n++] = msg_header_dup(home, (msg_header_t *)sip->sip_call_id);
	h[n++] = msg_header_dup(home, (msg_header_t *)sip->sip_cseq);
	h[n++] = (msg_header_t *)sip_max_forwards_make(home, hdr);
	if (sip->sip_content_type)
		h[n++] = msg_header_dup(home,
		    (msg_header_t *)sip->sip_content_type);
	for (i = 0; i < n; i++)
		if (h[i] == NULL ||
		    msg_header_insert(msg, (msg_pub_t *)out, h[i]) < 0)
			goto fail;
	for (u = sip->sip_unknown; u; u = u->un_next)
		if (!relay_own_header(u) && msg_header_insert(msg,
		    (msg_pub_t *)out, msg_header_dup_one(home,
		    (msg_header_t const *)u)) < 0)
			goto fail;
	snprintf(hdr, sizeof(hdr), FROM_ID_HEADER ": %s", from->id);
	if (sip_add_tl(msg, out, SIPTAG_HEADER_STR(hdr), TAG_END()) < 0)
		goto fail;
	if (node != NULL) {	/* to the node that holds the target */
		snprintf(hdr, sizeof(hdr), NODE_HEADER ": %s", node);
		if (sip_add_tl(msg, out, SIPTAG_HEADER_STR(hdr),
		    TAG_END()) < 0)
			goto fail;
	}
	snprintf(hdr, sizeof(hdr), FROM_CLASS_HEADER ": %s", from->class);
	if (sip_add_tl(msg, out, SIPTAG_HEADER_STR(hdr),
	    SIPTAG_CONTENT_LENGTH(sip_content_length_create(home,
	    sip->sip_payload ? (uint32_t)sip->sip_payload->pl_len : 0)),
	    TAG_IF(sip->sip_payload, SIPTAG_PAYLOAD(sip->sip_payload)),
	    TAG_END()) < 0 || msg_header_insert(msg, (msg_pub_t *)out,
	    (msg_header_t *)sip_separator_create(home)) < 0)
		goto fail;
	return msg;
fail:
	msg_destroy(msg);
	return NULL;
}

static void
relay_published(void *arg, const struct publish_result *res)
{
	struct relay_req	*rr = arg;
	char			 idhdr[64];

	if (!res->ok) {
		log_warn("relay: MESSAGE %s -> %s not stored: %s", rr->from,
		    rr->to, res->error);
		nta_incoming_treply(rr->irq, 500, "Not Stored",
		    SIPTAG_SERVER_STR(RELAY_SERVER), TAG_END());
	} else {
		relay_stored++;
		log_info("relay: MESSAGE %s -> %s stored as message %s",
		    rr->from, rr->to, res->id);
		snprintf(idhdr, sizeof(idhdr), MESSAGE_ID_HEADER ": %s",
		    res->id);
		nta_incoming_treply(rr->irq, 202, "Accepted For Delivery",
		    SIPTAG_SERVER_STR(RELAY_SERVER), SIPTAG_HEADER_STR(idhdr),
		    TAG_END());
	}
	relay_free(rr);
}

/* Publish the request as a control message to rr->to. */
static void
relay_store(struct relay_req *rr, sip_t const *sip, long ttl)
{
	struct publish_sel	 sel = { PUBLISH_CLIENT, rr->to };
	struct publish_req	 rq;
	char			 ctype[256];

	memset(&rq, 0, sizeof(rq));
	rq.sel = &sel;
	rq.nsel = 1;
	rq.body = sip->sip_payload ? sip->sip_payload->pl_data : NULL;
	rq.body_len = sip->sip_payload ? sip->sip_payload->pl_len : 0;
	if (sip->sip_content_type && sip->sip_content_type->c_type) {
		snprintf(ctype, sizeof(ctype), "%s",
		    sip->sip_content_type->c_type);
		rq.content_type = ctype;
	}
	rq.ttl = ttl;
	dispatch_publish(&rq, relay_published, rr);
}

/* Send rr's request on to url by route (the target, or the node that
 * holds it: node then names us), as from; a failure answers 500. */
static void
relay_forward(struct relay_req *rr, sip_t const *sip, url_t const *url,
    const char *route, const struct client *from, struct tport_s *tport,
    const char *node)
{
	msg_t	*fwd = NULL;

	if (route[0] == '\0' || (fwd = relay_build(sip, url, from,
	    node)) == NULL ||
	    (rr->timer = su_timer_create(su_root_task(relay_root),
	    relay_cfg->relay_timeout)) == NULL ||
	    (rr->orq = nta_outgoing_mcreate(relay_agent, relay_response, rr,
	    (url_string_t const *)route, fwd,
	    TAG_IF(tport, NTATAG_TPORT(tport)), TAG_END())) == NULL) {
		if (rr->orq == NULL && fwd != NULL)
			msg_destroy(fwd);
		log_warn("relay: MESSAGE %s -> %s: cannot forward it",
		    rr->from, rr->to);
		nta_incoming_treply(rr->irq, 500, "Cannot Forward",
		    SIPTAG_SERVER_STR(RELAY_SERVER), TAG_END());
		relay_free(rr);
		return;
	}
	su_timer_set(rr->timer, relay_timeout, rr);
	relay_relayed++;
	log_debug("relay: MESSAGE %s -> %s via %s", rr->from, rr->to, route);
}

/* A new request in flight for msg (consumed): NULL if refused (msg
 * answered). */
static struct relay_req *
relay_new(msg_t *msg, sip_t *sip, const char *fid, const char *tid)
{
	struct relay_req	*rr;

	if ((rr = calloc(1, sizeof(*rr))) == NULL) {
		relay_refuse(msg, 500, "Out Of Memory", fid, tid, NULL);
		return NULL;
	}
	snprintf(rr->from, sizeof(rr->from), "%s", fid);
	snprintf(rr->to, sizeof(rr->to), "%s", tid);
	if ((rr->irq = nta_incoming_create(relay_agent, NULL, msg, sip,
	    TAG_END())) == NULL) {
		free(rr);
		relay_refuse(msg, 500, "Server Error", fid, tid,
		    "cannot create a transaction");
		return NULL;
	}
	rr->next = relay_live;
	relay_live = rr;
	return rr;
}

/* Answer rr now and end it. */
static void
relay_answer(struct relay_req *rr, int status, const char *phrase,
    const char *why)
{
	relay_refused++;
	log_info("relay: MESSAGE %s -> %s refused: %d %s%s%s", rr->from,
	    rr->to, status, phrase, why ? ": " : "", why ? why : "");
	nta_incoming_treply(rr->irq, status, phrase,
	    SIPTAG_SERVER_STR(RELAY_SERVER), TAG_END());
	relay_free(rr);
}

/* On the writer: where rr's target is. */
static void
relay_lookup_run(struct commit_job *j)
{
	struct relay_lookup	*lk = (struct relay_lookup *)j;

	lk->rv = store_pg_client_where(lk->id, &lk->w);
}

/* The target's node is known: refuse, store, or send it there. */
static void
relay_lookup_done(struct commit_job *j)
{
	struct relay_lookup	*lk = (struct relay_lookup *)j;
	struct relay_req	*rr = lk->rr;
	struct client		 from;
	msg_t			*msg;
	url_t			*url;
	char			 phrase[128], route[300];

	if (rr == NULL)	/* ended meanwhile (shutdown) */
		goto done;
	rr->lookup = NULL;
	if (j->failed || lk->rv == -1) {
		relay_answer(rr, 503, "Store Unavailable", "cannot find the "
		    "target's node");
		goto done;
	}
	if (lk->rv == 0) {
		relay_answer(rr, 404, "Target Not Found", NULL);
		goto done;
	}
	if (!relay_allowed(relay_rules, relay_nrules, rr->from_class,
	    lk->w.class)) {
		snprintf(phrase, sizeof(phrase), "Relay Not Allowed: %s -> %s",
		    rr->from_class, lk->w.class);
		relay_answer(rr, 403, phrase, "no relay.rules entry allows it");
		goto done;
	}
	msg = nta_incoming_getrequest(rr->irq);
	if (rr->store) {
		relay_store(rr, sip_object(msg), rr->ttl);
		msg_destroy(msg);
		goto done;
	}
	if (strcmp(lk->w.state, "online") != 0 || lk->w.owner[0] == '\0' ||
	    !lk->w.live || strcmp(lk->w.owner, cluster_node()) == 0) {
		msg_destroy(msg);
		relay_answer(rr, 480, "Target Offline", NULL);
		goto done;
	}
	memset(&from, 0, sizeof(from));
	from.id = rr->from;
	from.class = rr->from_class;
	snprintf(route, sizeof(route), "sip:%s;transport=udp", lk->w.address);
	url = url_format(msg_home(msg), "sip:%s@%s", rr->to, lk->w.address);
	if (url == NULL)
		route[0] = '\0';
	log_debug("relay: MESSAGE %s -> %s: held by node %s (%s)", rr->from,
	    rr->to, lk->w.owner, lk->w.address);
	relay_forward(rr, sip_object(msg), url, route, &from, NULL,
	    cluster_node());
	msg_destroy(msg);
done:
	free(lk);
}

/*
 * A request another node relayed to us (NODE_HEADER) for a client we
 * hold: it must come from a live node's address; the sender's ID and
 * class are that node's word (it checked them, its rules and its rate).
 */
static int
relay_from_node(msg_t *msg, sip_t *sip, const char *tid)
{
	struct client		*to, from;
	struct relay_req	*rr;
	const char		*fid = relay_header(sip, FROM_ID_HEADER);
	const char		*cls = relay_header(sip, FROM_CLASS_HEADER);
	char			 addr[46], route[128];
	url_t			 url[1];
	uint16_t		 port;
	enum transport		 tr;

	if (sip_source(msg, addr, sizeof(addr), &port, &tr) == -1 ||
	    !cluster_is_node_address(addr)) {
		relay_refuse(msg, 403, "Not From A Node", fid ? fid : "(no ID)",
		    tid, "a " NODE_HEADER " header from an address that is no "
		    "live node's");
		return 1;
	}
	if (fid == NULL || !clients_valid_id(fid) || cls == NULL ||
	    !clients_valid_class(cls)) {
		relay_refuse(msg, 400, "Bad Sender Headers", fid ? fid :
		    "(no ID)", tid, "a node's request names no valid sender");
		return 1;
	}
	if (relay_loop(sip)) {
		relay_refuse(msg, 482, "Loop Detected", fid, tid, NULL);
		return 1;
	}
	if ((to = clients_find(tid)) == NULL) {
		relay_refuse(msg, 404, "Target Not Found", fid, tid, "not "
		    "held here (any more)");
		return 1;
	}
	if (!dispatch_reachable(to)) {
		relay_refuse(msg, 480, "Target Offline", fid, tid, NULL);
		return 1;
	}
	if ((rr = relay_new(msg, sip, fid, tid)) == NULL)
		return 1;
	memset(&from, 0, sizeof(from));
	from.id = rr->from;
	from.class = (char *)cls;
	memset(url, 0, sizeof(url));
	if (dispatch_route(msg_home(msg), to, url, route, sizeof(route)) ==
	    -1)
		route[0] = '\0';
	relay_forward(rr, sip, url, route, &from, to->tport, NULL);
	return 1;
}

/* Sippush-Store: ttl into *ttl (0: yes); 0, or -1 refused. */
static int
relay_store_header(msg_t *msg, const char *store, const char *fid,
    const char *tid, long *ttl)
{
	char	*end;

	*ttl = 0;
	if (store == NULL || strcasecmp(store, "yes") == 0)
		return 0;
	if ((*ttl = strtol(store, &end, 10)) < 1 || *end != '\0' ||
	    *ttl > relay_cfg->dp_max_ttl) {
		relay_refuse(msg, 400, "Bad " STORE_HEADER, fid, tid,
		    "expected yes or a TTL in seconds");
		return -1;
	}
	return 0;
}

/* A target no client of ours (a cluster): find its node first (a job
 * for the writer), then go on in relay_lookup_done. */
static int
relay_elsewhere(msg_t *msg, sip_t *sip, const struct client *from,
    const char *tid)
{
	struct relay_lookup	*lk;
	struct relay_req	*rr;
	const char		*store = relay_header(sip, STORE_HEADER);
	char			 wait_s[16];
	long			 ttl;
	int			 wait;

	if ((wait = relay_over_rate(from->id)) > 0) {
		relay_refused++;
		snprintf(wait_s, sizeof(wait_s), "%d", wait);
		nta_msg_treply(relay_agent, msg, 403, "Relay Rate Exceeded",
		    SIPTAG_RETRY_AFTER_STR(wait_s),
		    SIPTAG_SERVER_STR(RELAY_SERVER), TAG_END());
		return 1;
	}
	if (relay_store_header(msg, store, from->id, tid, &ttl) == -1)
		return 1;
	if ((lk = calloc(1, sizeof(*lk))) == NULL) {
		relay_refuse(msg, 500, "Out Of Memory", from->id, tid, NULL);
		return 1;
	}
	if ((rr = relay_new(msg, sip, from->id, tid)) == NULL) {
		free(lk);
		return 1;
	}
	snprintf(rr->from_class, sizeof(rr->from_class), "%s", from->class);
	rr->store = store != NULL;
	rr->ttl = ttl;
	rr->lookup = lk;
	lk->rr = rr;
	snprintf(lk->id, sizeof(lk->id), "%s", tid);
	lk->job.run = relay_lookup_run;
	lk->job.done = relay_lookup_done;
	commit_job(&lk->job);
	return 1;
}

/*
 * A MESSAGE from sip.c. Returns 0 when it is not ours (the relay is off,
 * or it is addressed to the server itself: msg untouched), 1 when it was
 * taken (answered now or later; msg consumed).
 */
int
relay_request(msg_t *msg, sip_t *sip)
{
	struct client		*from, *to;
	struct relay_req	*rr;
	struct auth_grant	 g;
	const char		*fid, *tid, *store;
	char			 route[128], phrase[128];
	url_t			 url[1];
	long			 ttl = 0;
	int			 wait;

	if (!relay_cfg || !relay_cfg->relay_enabled ||
	    (tid = sip->sip_request->rq_url->url_user) == NULL || *tid == '\0')
		return 0;
	fid = sip->sip_from && sip->sip_from->a_url->url_user ?
	    sip->sip_from->a_url->url_user : NULL;
	if (cluster_on() && relay_header(sip, NODE_HEADER) != NULL)
		return relay_from_node(msg, sip, tid);
	if (!auth_request(msg, sip, fid, &g))
		return 1;	/* answered: 401, 403, ... */
	if (fid == NULL || (from = clients_find(fid)) == NULL ||
	    (from->state != CLIENT_ONLINE && from->state != CLIENT_OFFLINE)) {
		relay_refuse(msg, 403, "Sender Not Registered", fid ? fid :
		    "(no ID)", tid, NULL);
		return 1;
	}
	if (!auth_enabled() && !sip_source_is(msg, from->address, from->port,
	    from->transport)) {
		relay_refuse(msg, 403, "Not From Where Sender Registered", fid,
		    tid, "auth is off: a sender must send from where it "
		    "registered");
		return 1;
	}
	if (sip->sip_max_forwards && sip->sip_max_forwards->mf_count == 0) {
		relay_refuse(msg, 483, "Too Many Hops", fid, tid, NULL);
		return 1;
	}
	if (relay_loop(sip)) {
		relay_refuse(msg, 482, "Loop Detected", fid, tid, NULL);
		return 1;
	}
	/* a client whose registration ended (its row retained) is known:
	 * 480 below, and a request may be stored for it */
	if ((to = clients_find(tid)) == NULL && cluster_on())
		return relay_elsewhere(msg, sip, from, tid);
	if (to == NULL) {
		relay_refuse(msg, 404, "Target Not Found", fid, tid, NULL);
		return 1;
	}
	if (!relay_allowed(relay_rules, relay_nrules, from->class,
	    to->class)) {
		snprintf(phrase, sizeof(phrase), "Relay Not Allowed: %s -> %s",
		    from->class, to->class);
		relay_refuse(msg, 403, phrase, fid, tid, "no relay.rules "
		    "entry allows it");
		return 1;
	}
	if ((wait = relay_over_rate(fid)) > 0) {
		relay_refused++;
		snprintf(route, sizeof(route), "%d", wait);
		nta_msg_treply(relay_agent, msg, 403, "Relay Rate Exceeded",
		    SIPTAG_RETRY_AFTER_STR(route),
		    SIPTAG_SERVER_STR(RELAY_SERVER), TAG_END());
		return 1;
	}
	store = relay_header(sip, STORE_HEADER);
	if (relay_store_header(msg, store, fid, tid, &ttl) == -1)
		return 1;
	if (store == NULL && !dispatch_reachable(to)) {
		relay_refuse(msg, 480, "Target Offline", fid, tid, NULL);
		return 1;
	}
	if ((rr = relay_new(msg, sip, fid, tid)) == NULL)
		return 1;
	if (store) {
		relay_store(rr, sip, ttl);
		return 1;
	}
	memset(url, 0, sizeof(url));
	if (dispatch_route(msg_home(msg), to, url, route, sizeof(route)) ==
	    -1)
		route[0] = '\0';
	relay_forward(rr, sip, url, route, from, to->tport, NULL);
	return 1;
}
