/*
 * auth.c: Digest authentication of clients (RFC 3261 section 22, with
 * RFC 7616 and RFC 8760 for SHA-256), and the users behind it.
 *
 * With auth.enabled on, every REGISTER and OPTIONS must carry Digest
 * credentials of the realm auth.realm, for the user whose name is the
 * client ID the request speaks for (To of a REGISTER, From of an
 * OPTIONS): a client may only register, query, unregister or heartbeat
 * as itself. The users live in the store as HA1 = H(id:realm:password),
 * one per algorithm (SHA-256 and MD5), never the password; they are
 * loaded into memory at start (auth_users_load) and the copy is kept
 * current by sippushctl user, once each change is committed, so that no
 * request reads the store.
 *
 * Answers: no credentials of our realm, or a nonce that is stale, not
 * ours, or used again (a replay), get 401 with fresh challenges (SHA-256
 * first, then MD5, as auth.sha256 and auth.md5 allow), which a client
 * with the right password answers by itself; wrong credentials, an
 * unknown user or another client's ID, with a live nonce of ours, get
 * 403. Malformed credentials get 400.
 *
 * Nonces need no table. A nonce is its 64-bit ID (issue second << 20,
 * plus a counter: unique and increasing) and an HMAC-SHA-256, under a
 * key drawn at start, of that ID and the source address it was issued
 * to: only we can make one, it is only good from that address, and its
 * age says when it expires (auth.nonce_lifetime). A restart draws a new
 * key, so clients get a stale challenge and answer it at once.
 *
 * Guessing. A source address may fail authentication (wrong password,
 * unknown user, another client's ID) auth.max_failures times a minute,
 * in bursts of as many (a token bucket per address, rate.c); beyond that
 * its authenticated requests are answered 503 with Retry-After before
 * any credential is looked at, while other addresses are served. The
 * nonce is checked first: only a failure made with a live nonce we sent
 * to that address counts, so a stranger who forges packets from the
 * address without seeing our challenges gets 401s, cheap and stateless,
 * and cannot lock out the clients there.
 *
 * Replays. Only qop=auth is accepted, so every request carries a nonce
 * count (nc) that the client increases. Each client keeps the nonces it
 * used last (AUTH_SLOTS of them, with the highest nc seen and a keyed
 * hash of the request that carried it and of its flow) and a floor: a
 * nonce at or below the floor that is not in the slots is refused as
 * stale. A request with an nc not above the one recorded is refused,
 * unless it is a retransmission: the very request that carried it (same
 * Call-ID, CSeq and method) on the very same flow (transport, source
 * address and port, and TCP/TLS connection), which a stateless server
 * must answer again. It is marked so (auth_grant.again): the registrar
 * and the heartbeat answer it as before without applying it again. The
 * same bytes from any other flow are a replay. A client that has no row
 * yet (its first REGISTER) is recorded once the registrar has made it;
 * a row is not deleted while a nonce it used is alive (auth_quiet).
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>

#include <sofia-sip/auth_digest.h>
#include <sofia-sip/msg_addr.h>
#include <sofia-sip/nta.h>
#include <sofia-sip/nta_stateless.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>

#include "digest.h"
#include "sha256.h"
#include "sippushd.h"

#define AUTH_SLOTS		4	/* nonces remembered per client */
#define AUTH_MAC_LEN		12	/* bytes of HMAC in a nonce */
#define AUTH_NONCE_LEN		(16 + 2 * AUTH_MAC_LEN)	/* hex digits */
#define AUTH_LOG_MAX		10	/* refusals logged per second */

/* The nonces one client used last: see the note at the top. */
struct auth_seen {
	uint64_t	 floor;
	struct {
		uint64_t	 nonce;
		uint64_t	 req;
		uint32_t	 nc;
	}		 slot[AUTH_SLOTS];
};

static const struct config	*auth_cfg;
static nta_agent_t		*auth_agent;
static uint8_t			 auth_key[32];
static uint64_t			 auth_last_nonce;
static int64_t			 auth_log_second;
static int			 auth_log_count;
static struct rate_table	 auth_failures;

/* A user as the store has it (HA1s as hex). */
struct auth_user {
	struct auth_user	*next;		/* hash chain */
	char			*id;
	char			*realm;
	char			 sha256[65];
	char			 md5[33];
	int64_t			 created_at;
};

static struct auth_user		**auth_users;
static size_t			 auth_nbuckets, auth_nusers;
static uint64_t			 auth_user_seed;

static struct auth_user *auth_user_find(const char *);
static uint64_t auth_user_hash(const char *);
static int auth_user_apply(const struct user_row *);

int
auth_init(const struct config *cfg, nta_agent_t *agent)
{
	auth_cfg = cfg;
	auth_agent = agent;
	auth_last_nonce = 0;
	rate_init(&auth_failures);
	if (getrandom(auth_key, sizeof(auth_key), 0) != sizeof(auth_key)) {
		log_error("auth: cannot draw the nonce key: %s",
		    strerror(errno));
		return -1;
	}
	if (cfg->auth_enabled)
		log_notice("auth: Digest required on REGISTER and OPTIONS, "
		    "realm \"%s\", %s, nonces live %ds", cfg->auth_realm,
		    cfg->auth_sha256 && cfg->auth_md5 ? "SHA-256 and MD5" :
		    cfg->auth_sha256 ? "SHA-256 only" : "MD5 only",
		    cfg->auth_nonce_lifetime);
	return 0;
}

int
auth_enabled(void)
{
	return auth_cfg && auth_cfg->auth_enabled;
}

void
auth_forget(struct client *c)
{
	free(c->auth);
	c->auth = NULL;
}

/* The MAC of a nonce ID for a source address (sa may be NULL). */
static void
auth_nonce_mac(uint64_t id, const struct sockaddr *sa,
    uint8_t mac[AUTH_MAC_LEN])
{
	uint8_t	 data[8 + 17], full[SHA256_LEN];
	size_t	 len = 8;
	int	 i;

	for (i = 0; i < 8; i++)
		data[i] = (uint8_t)(id >> (56 - 8 * i));
	memset(data + 8, 0, 17);
	if (sa && sa->sa_family == AF_INET) {
		data[8] = 4;
		memcpy(data + 9, &((const struct sockaddr_in *)(const void *)
		    sa)->sin_addr, 4);
		len += 17;
	} else if (sa && sa->sa_family == AF_INET6) {
		data[8] = 6;
		memcpy(data + 9, &((const struct sockaddr_in6 *)(const void *)
		    sa)->sin6_addr, 16);
		len += 17;
	}
	hmac_sha256(auth_key, sizeof(auth_key), data, len, full);
	memcpy(mac, full, AUTH_MAC_LEN);
}

static const struct sockaddr *
auth_source(msg_t *msg)
{
	su_addrinfo_t	*ai = msg_addrinfo(msg);

	return ai && ai->ai_addr ? ai->ai_addr : NULL;
}

/* A fresh nonce for a request from sa, into out (AUTH_NONCE_LEN + 1). */
void
auth_nonce_make(const struct sockaddr *sa, int64_t now, char *out)
{
	uint8_t		 raw[8 + AUTH_MAC_LEN];
	uint64_t	 id = (uint64_t)now << 20;
	int		 i;

	if (id <= auth_last_nonce)
		id = auth_last_nonce + 1;
	auth_last_nonce = id;
	for (i = 0; i < 8; i++)
		raw[i] = (uint8_t)(id >> (56 - 8 * i));
	auth_nonce_mac(id, sa, raw + 8);
	sha256_hex(raw, sizeof(raw), out);
}

static int
auth_unhex(const char *s, uint8_t *out, size_t n)
{
	size_t	 i;
	int	 hi, lo;

	for (i = 0; i < n; i++) {
		if (!isxdigit((unsigned char)s[2 * i]) ||
		    !isxdigit((unsigned char)s[2 * i + 1]))
			return -1;
		hi = isdigit((unsigned char)s[2 * i]) ? s[2 * i] - '0' :
		    tolower((unsigned char)s[2 * i]) - 'a' + 10;
		lo = isdigit((unsigned char)s[2 * i + 1]) ?
		    s[2 * i + 1] - '0' :
		    tolower((unsigned char)s[2 * i + 1]) - 'a' + 10;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

/* Compare without leaking where they differ. */
static int
auth_equal(const void *a, const void *b, size_t n)
{
	const uint8_t	*p = a, *q = b;
	uint8_t		 d = 0;
	size_t		 i;

	for (i = 0; i < n; i++)
		d |= p[i] ^ q[i];
	return d == 0;
}

/*
 * Check a nonce we issued: 0 and its ID in *id if it is ours, for this
 * source and not expired; -1 otherwise (the client gets a stale
 * challenge and tries again with a fresh one).
 */
int
auth_nonce_check(const char *nonce, const struct sockaddr *sa, int64_t now,
    uint64_t *id)
{
	uint8_t		 raw[8 + AUTH_MAC_LEN], mac[AUTH_MAC_LEN];
	uint64_t	 v = 0;
	int64_t		 issued;
	int		 i;

	if (strlen(nonce) != AUTH_NONCE_LEN ||
	    auth_unhex(nonce, raw, sizeof(raw)) == -1)
		return -1;
	for (i = 0; i < 8; i++)
		v = v << 8 | raw[i];
	auth_nonce_mac(v, sa, mac);
	if (!auth_equal(mac, raw + 8, AUTH_MAC_LEN))
		return -1;
	issued = (int64_t)(v >> 20);
	if (issued > now + 1 || now - issued > auth_cfg->auth_nonce_lifetime)
		return -1;
	*id = v;
	return 0;
}

/*
 * A keyed hash of what makes a request itself (Call-ID, CSeq, method)
 * and of the flow it came on: transport, source address and port, and
 * the TCP/TLS connection. Keyed, so that nobody can pick a flow whose
 * hash matches another's.
 */
static uint64_t
auth_request_hash(msg_t *msg, sip_t const *sip)
{
	struct sha256		 s;
	su_addrinfo_t		*ai = msg_addrinfo(msg);
	const struct sockaddr	*sa = auth_source(msg);
	struct tport_s		*tp = sip_connection(msg);
	uint8_t			 data[3 + SHA256_LEN + 4 + 16 + sizeof(tp)];
	uint8_t			 mac[SHA256_LEN];
	uint64_t		 h = 0;
	char			 num[16];
	const char		*callid = sip->sip_call_id ?
				    sip->sip_call_id->i_id : "";
	int			 i;

	sha256_init(&s);
	sha256_update(&s, callid, strlen(callid) + 1);
	snprintf(num, sizeof(num), "%u", sip->sip_cseq ?
	    (unsigned)sip->sip_cseq->cs_seq : 0);
	sha256_update(&s, num, strlen(num) + 1);
	sha256_update(&s, sip->sip_request->rq_method_name,
	    strlen(sip->sip_request->rq_method_name) + 1);
	memset(data, 0, sizeof(data));
	memcpy(data, "req", 3);
	sha256_final(&s, data + 3);
	data[3 + SHA256_LEN] = ai ? (uint8_t)ai->ai_protocol : 0;
	if (sa && sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)sa;

		data[3 + SHA256_LEN + 1] = 4;
		memcpy(data + 3 + SHA256_LEN + 2, &sin->sin_port, 2);
		memcpy(data + 3 + SHA256_LEN + 4, &sin->sin_addr, 4);
	} else if (sa && sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)sa;

		data[3 + SHA256_LEN + 1] = 6;
		memcpy(data + 3 + SHA256_LEN + 2, &sin6->sin6_port, 2);
		memcpy(data + 3 + SHA256_LEN + 4, &sin6->sin6_addr, 16);
	}
	memcpy(data + 3 + SHA256_LEN + 4 + 16, &tp, sizeof(tp));
	hmac_sha256(auth_key, sizeof(auth_key), data, sizeof(data), mac);
	for (i = 0; i < 8; i++)
		h = h << 8 | mac[i];
	return h;
}

/*
 * May a client use nonce nc for the request hashed req? Returns
 * AUTH_SEEN_NEW and records the use, AUTH_SEEN_AGAIN for a
 * retransmission of the request recorded last with that nonce (same
 * request, same flow), or 0 for a replay or a nonce it has left behind.
 */
int
auth_seen_use(struct client *c, const struct auth_grant *g)
{
	struct auth_seen	*s = c->auth;
	int			 i, victim = 0;

	if (g->nonce == 0)
		return AUTH_SEEN_NEW;	/* auth off when the request came */
	if (s == NULL) {
		if ((s = calloc(1, sizeof(*s))) == NULL)
			return 0;
		c->auth = s;
	}
	for (i = 0; i < AUTH_SLOTS; i++) {
		if (s->slot[i].nonce != g->nonce)
			continue;
		if (g->nc > s->slot[i].nc) {
			s->slot[i].nc = g->nc;
			s->slot[i].req = g->req;
			return AUTH_SEEN_NEW;
		}
		return g->nc == s->slot[i].nc && g->req == s->slot[i].req ?
		    AUTH_SEEN_AGAIN : 0;
	}
	if (g->nonce <= s->floor)
		return 0;
	for (i = 1; i < AUTH_SLOTS; i++)
		if (s->slot[i].nonce < s->slot[victim].nonce)
			victim = i;
	if (s->slot[victim].nonce > s->floor)
		s->floor = s->slot[victim].nonce;
	s->slot[victim].nonce = g->nonce;
	s->slot[victim].nc = g->nc;
	s->slot[victim].req = g->req;
	return AUTH_SEEN_NEW;
}

/*
 * Have all the nonces c used expired at now? Then a replay of its
 * requests would be refused without its record, and its row may go.
 */
int
auth_quiet(const struct client *c, int64_t now)
{
	const struct auth_seen	*s = c->auth;
	uint64_t		 last = 0;
	int			 i;

	if (s == NULL || auth_cfg == NULL)
		return 1;
	for (i = 0; i < AUTH_SLOTS; i++)
		if (s->slot[i].nonce > last)
			last = s->slot[i].nonce;
	return last == 0 ||
	    now - (int64_t)(last >> 20) > auth_cfg->auth_nonce_lifetime;
}

static int
auth_may_log(void)
{
	int64_t	 now = clock_now();

	if (now != auth_log_second) {
		auth_log_second = now;
		auth_log_count = 0;
	}
	return auth_log_count++ < AUTH_LOG_MAX;
}

/* Answer 401 with our challenges. */
static void
auth_challenge(msg_t *msg, int stale)
{
	char	 nonce[AUTH_NONCE_LEN + 1], sha[256], md5[256];

	auth_nonce_make(auth_source(msg), clock_now(), nonce);
	snprintf(sha, sizeof(sha), "Digest realm=\"%s\", nonce=\"%s\", "
	    "algorithm=SHA-256, qop=\"auth\"%s", auth_cfg->auth_realm, nonce,
	    stale ? ", stale=true" : "");
	snprintf(md5, sizeof(md5), "Digest realm=\"%s\", nonce=\"%s\", "
	    "algorithm=MD5, qop=\"auth\"%s", auth_cfg->auth_realm, nonce,
	    stale ? ", stale=true" : "");
	nta_msg_treply(auth_agent, msg, SIP_401_UNAUTHORIZED,
	    TAG_IF(auth_cfg->auth_sha256, SIPTAG_WWW_AUTHENTICATE_STR(sha)),
	    TAG_IF(auth_cfg->auth_md5, SIPTAG_WWW_AUTHENTICATE_STR(md5)),
	    SIPTAG_SERVER_STR("sippushd/" SIPPUSH_VERSION),
	    TAG_END());
}

/* The Digest credentials of our realm in sip, parsed into ar; NULL if
 * there are none. */
static sip_authorization_t const *
auth_find(su_home_t *home, sip_t const *sip, auth_response_t *ar)
{
	sip_authorization_t const	*au;

	for (au = sip->sip_authorization; au; au = au->au_next) {
		/* no parameters: Sofia's parser would assert (found by
		 * tests/fuzz/fuzz_registrar) */
		if (au->au_scheme == NULL || au->au_params == NULL ||
		    strcasecmp(au->au_scheme, "Digest") != 0)
			continue;
		memset(ar, 0, sizeof(*ar));
		ar->ar_size = sizeof(*ar);
		if (auth_digest_response_get(home, ar, au->au_params) < 0)
			continue;
		if (ar->ar_realm && strcmp(ar->ar_realm,
		    auth_cfg->auth_realm) == 0)
			return au;
	}
	return NULL;
}

/* Parse an nc of 8 hex digits (a few more or less are tolerated). */
static int
auth_nc(const char *s, uint32_t *nc)
{
	char		*end;
	unsigned long	 v;

	if (s == NULL || !isxdigit((unsigned char)*s) || strlen(s) > 8)
		return -1;
	errno = 0;
	v = strtoul(s, &end, 16);
	if (*end != '\0' || errno || v == 0)
		return -1;
	*nc = (uint32_t)v;
	return 0;
}

static int
auth_verdict(struct auth_verdict *v, int status, const char *phrase,
    const char *why, int stale)
{
	v->status = status;
	v->phrase = phrase;
	v->why = why;
	v->stale = stale;
	return status;
}

/*
 * Check the credentials of a request that speaks for client id (NULL if
 * it names none), without answering it. Returns 0 if it may go on, with
 * what to record in g (all zero when auth is off; g->again set for a
 * retransmission, to be answered but not applied); or the status to
 * answer, with the rest in v: 401 (a challenge, stale or not), 403 or
 * 400. The users are read from memory, never from the store.
 */
int
auth_check(msg_t *msg, sip_t const *sip, const char *id,
    struct auth_grant *g, struct auth_verdict *v)
{
	su_home_t	*home = msg_home(msg);
	auth_response_t	 ar;
	struct client	*c;
	url_t		*u;
	const struct auth_user *user;
	char		 want[65], got[65];
	int		 use_sha, rc;
	size_t		 i, n;

	memset(g, 0, sizeof(*g));
	memset(v, 0, sizeof(*v));
	if (!auth_enabled())
		return 0;
	if (auth_find(home, sip, &ar) == NULL)
		return auth_verdict(v, 401, NULL, "no credentials", 0);
	if (ar.ar_algorithm == NULL || strcasecmp(ar.ar_algorithm, "MD5") == 0)
		use_sha = 0;
	else if (strcasecmp(ar.ar_algorithm, "SHA-256") == 0)
		use_sha = 1;
	else
		use_sha = -1;
	if (use_sha == -1 || (use_sha == 0 && !auth_cfg->auth_md5) ||
	    (use_sha == 1 && !auth_cfg->auth_sha256))
		return auth_verdict(v, 401, NULL, "an algorithm not offered",
		    0);
	if (ar.ar_username == NULL || ar.ar_nonce == NULL ||
	    ar.ar_uri == NULL || ar.ar_response == NULL ||
	    ar.ar_cnonce == NULL || ar.ar_qop == NULL ||
	    strcasecmp(ar.ar_qop, "auth") != 0 || auth_nc(ar.ar_nc, &g->nc) ==
	    -1 || strlen(ar.ar_response) != (use_sha ? 64u : 32u))
		return auth_verdict(v, 400, "Bad Authorization Header",
		    "credentials lack a field, or not qop=auth", 0);
	/* the nonce first: a failure after it was made by someone who saw
	 * our challenge to that address, and counts toward
	 * auth.max_failures; one before it could be forged by anybody */
	if (auth_nonce_check(ar.ar_nonce, auth_source(msg), clock_now(),
	    &g->nonce) == -1)
		return auth_verdict(v, 401, NULL, "a stale nonce", 1);
	if (id == NULL || strcmp(ar.ar_username, id) != 0)
		return auth_verdict(v, 403, "Credentials Not For This Client "
		    "ID", "the credentials are another user's", 0);
	if ((u = url_make(home, ar.ar_uri)) == NULL ||
	    url_cmp(u, sip->sip_request->rq_url) != 0)
		return auth_verdict(v, 400, "Digest URI Does Not Match",
		    "uri differs from the Request-URI", 0);
	if ((user = auth_user_find(id)) == NULL)
		return auth_verdict(v, 403, "Bad Credentials",
		    "no such user (sippushctl user add)", 0);
	if (strcmp(user->realm, auth_cfg->auth_realm) != 0)
		return auth_verdict(v, 403, "Bad Credentials",
		    "the user was added for another realm: add it again", 0);
	if (digest_response(use_sha, use_sha ? user->sha256 : user->md5,
	    ar.ar_nonce,
	    ar.ar_nc, ar.ar_cnonce, sip->sip_request->rq_method_name,
	    ar.ar_uri, want) == -1)
		return auth_verdict(v, 400, "Bad Authorization Header",
		    "fields too long", 0);
	n = strlen(want);
	for (i = 0; i < n; i++)
		got[i] = (char)tolower((unsigned char)ar.ar_response[i]);
	got[n] = '\0';
	if (!auth_equal(want, got, n))
		return auth_verdict(v, 403, "Bad Credentials", "wrong password",
		    0);
	g->req = auth_request_hash(msg, sip);
	if ((c = clients_find(id)) != NULL) {
		if ((rc = auth_seen_use(c, g)) == 0)
			return auth_verdict(v, 401, NULL, "nonce used again",
			    1);
		g->again = rc == AUTH_SEEN_AGAIN;
	}
	return 0;
}

/*
 * Authenticate a request (auth_check) and answer it if it may not go
 * on. Returns 1 if it may, 0 once it has been answered, which consumes
 * msg.
 */
int
auth_request(msg_t *msg, sip_t const *sip, const char *id,
    struct auth_grant *g)
{
	struct auth_verdict	 v;
	struct rate_entry	*e = NULL;
	uint8_t			 key[RATE_KEY_LEN];
	int64_t			 now = 0, interval = 0, wait;
	char			 after[16];
	int			 limit = auth_enabled() ?
				    auth_cfg->auth_max_failures : 0;

	if (limit > 0 && rate_key(auth_source(msg), key) == 0) {
		now = clock_mono_us();
		interval = 60000000 / limit;
		if ((e = rate_find(&auth_failures, key)) != NULL &&
		    (wait = rate_over(e, now, (limit - 1) * interval)) > 0) {
			if (e->refused++ == 0 && auth_may_log())
				log_warn("auth: %s for %.64s: too many failed "
				    "authentications from its address "
				    "(auth.max_failures %d a minute): 503 "
				    "until it slows down",
				    sip->sip_request->rq_method_name,
				    id ? id : "(no ID)", limit);
			snprintf(after, sizeof(after), "%lld",
			    (long long)(wait + 999999) / 1000000);
			nta_msg_treply(auth_agent, msg, 503,
			    "Too Many Failed Authentications",
			    SIPTAG_RETRY_AFTER_STR(after),
			    SIPTAG_SERVER_STR("sippushd/" SIPPUSH_VERSION),
			    TAG_END());
			return 0;
		}
	}
	if (auth_check(msg, sip, id, g, &v) == 0)
		return 1;
	if (v.status == 403 && limit > 0 && interval > 0) {
		if (e == NULL)
			e = rate_entry(&auth_failures, key);
		rate_charge(e, now, interval);
		e->refused = 0;
	}
	/* a first challenge is routine; the rest is worth a line */
	if (strcmp(v.why, "no credentials") != 0 && auth_may_log())
		log_info("auth: %s for %.64s: %s, answered %d",
		    sip->sip_request->rq_method_name, id ? id : "(no ID)",
		    v.why, v.status);
	if (v.status == 401)
		auth_challenge(msg, v.stale);
	else
		nta_msg_treply(auth_agent, msg, v.status, v.phrase,
		    TAG_IF(v.status >= 500, SIPTAG_RETRY_AFTER_STR("5")),
		    SIPTAG_SERVER_STR("sippushd/" SIPPUSH_VERSION), TAG_END());
	return 0;
}

/* ---- sippushctl user add|del|list|import (requests: sippushd.h) ---- */

int
auth_valid_password(const char *p)
{
	size_t	 n = strlen(p);

	if (n < AUTH_PASSWORD_MIN || n > AUTH_PASSWORD_MAX)
		return 0;
	for (; *p; p++)
		if (*p == '\r' || *p == '\n')
			return 0;
	return 1;
}

/* "user list": from memory, sorted by ID. */
static int
auth_cmp_info(const void *a, const void *b)
{
	return strcmp(((const struct user_info *)a)->id,
	    ((const struct user_info *)b)->id);
}

static void
auth_list(const struct user_req *rq, struct user_result *res,
    void (*done)(void *, const struct user_result *), void *arg)
{
	struct user_info	*v = NULL;
	struct auth_user	*u;
	size_t			 i, n = 0;

	if (rq->id) {
		if ((u = auth_user_find(rq->id)) != NULL) {
			if ((v = malloc(sizeof(*v))) == NULL)
				goto nomem;
			v[n].id = u->id;
			v[n].realm = u->realm;
			v[n++].created_at = u->created_at;
		}
	} else if (auth_nusers) {
		if ((v = calloc(auth_nusers, sizeof(*v))) == NULL)
			goto nomem;
		for (i = 0; i < auth_nbuckets; i++)
			for (u = auth_users[i]; u; u = u->next) {
				v[n].id = u->id;
				v[n].realm = u->realm;
				v[n++].created_at = u->created_at;
			}
		qsort(v, n, sizeof(*v), auth_cmp_info);
	}
	res->ok = 1;
	res->users = v;
	res->nusers = n;
	done(arg, res);
	free(v);
	return;
nomem:
	op_error(&res->code, res->error, OP_UNAVAILABLE,
	    "user list: out of memory");
	done(arg, res);
}

/* A change of users the writer commits; the copy in memory follows. */
struct auth_change {
	struct commit_job	 job;
	struct store_batch	 rows;
	int			 op;		/* enum user_op */
	int			 rv;
	char			 err[OP_ERROR_MAX - 16];
	void			(*done)(void *, const struct user_result *);
	void			*arg;
};

/* On the writer. */
static void
auth_change_run(struct commit_job *j)
{
	struct auth_change	*ch = (struct auth_change *)j;

	if ((ch->rv = store_write(&ch->rows)) == -1)
		snprintf(ch->err, sizeof(ch->err), "%s", store_errmsg());
}

/*
 * A user's credentials are gone: with authentication on, its current
 * registration ends too, so that a device whose password was withdrawn
 * receives nothing more. Its pending messages stay queued for the day
 * it registers again with new credentials.
 */
static int
auth_end_registration(const char *id)
{
	struct client	*c = clients_find(id);

	if (auth_enabled() && c != NULL && c->state != CLIENT_UNREGISTERED) {
		clients_unregister(c, clock_now());
		return 1;
	}
	return 0;
}

static void
auth_revoke(struct user_result *res, const char *id)
{
	int	 ended = auth_end_registration(id);

	log_notice("auth: user %s deleted%s", id,
	    ended ? ", its registration ended" : "");
	res->ok = 1;
	res->id = id;
	res->unregistered = ended;
}

/* Committed (or not): bring the users in memory up to date, answer. */
static void
auth_change_done(struct commit_job *j)
{
	struct auth_change	*ch = (struct auth_change *)j;
	struct user_result	 res;
	size_t			 i;

	memset(&res, 0, sizeof(res));
	res.op = ch->op;
	if (j->failed)
		op_error(&res.code, res.error, OP_UNAVAILABLE,
		    "store: out of memory");
	else if (ch->rv == -1)
		op_error(&res.code, res.error, OP_UNAVAILABLE, "store: %s",
		    ch->err);
	else {
		for (i = 0; i < ch->rows.nusers; i++)
			if (auth_user_apply(&ch->rows.users[i]) == -1)
				log_error("auth: out of memory: user %s is "
				    "stored but not in memory until a "
				    "restart", ch->rows.users[i].id);
		switch (ch->op) {
		case USER_IMPORT:
			log_notice("auth: %zu users imported (realm \"%s\")",
			    ch->rows.nusers, auth_cfg->auth_realm);
			res.ok = 1;
			res.imported = ch->rows.nusers;
			break;
		case USER_DEL:
			auth_revoke(&res, ch->rows.users[0].id);
			break;
		default:
			log_notice("auth: user %s added (realm \"%s\")",
			    ch->rows.users[0].id, auth_cfg->auth_realm);
			res.ok = 1;
			res.id = ch->rows.users[0].id;
			res.realm = ch->rows.users[0].realm;
		}
	}
	ch->done(ch->arg, &res);
	store_batch_free(&ch->rows);
	free(ch);
}

/* Add the row of a user (put) or its deletion to the change. */
static int
auth_change_add(struct auth_change *ch, int op, const char *id,
    const char *password)
{
	struct user_row	 u;
	char		 sha[65], md5[33];

	memset(&u, 0, sizeof(u));
	u.op = op;
	u.id = id;
	u.realm = auth_cfg->auth_realm;
	if (op == STORE_PUT) {
		digest_ha1(id, auth_cfg->auth_realm, password, sha, md5);
		u.ha1_sha256 = sha;
		u.ha1_md5 = md5;
		u.created_at = clock_now();
	}
	return store_batch_user(&ch->rows, &u);
}

/* Many users in one transaction, all or none; each pair is checked
 * before any is written. 0, or -1 with res->error. */
static int
auth_import(const struct user_req *rq, struct user_result *res,
    struct auth_change *ch)
{
	size_t	 i;

	for (i = 0; i < rq->n; i++) {
		if (!clients_valid_id(rq->v[i].id)) {
			op_error(&res->code, res->error, OP_BAD_REQUEST,
			    "user import: entry %zu: \"%.64s\" is not a valid "
			    "client ID (1-%d of A-Z a-z 0-9 . _ -)", i + 1,
			    rq->v[i].id, CLIENT_ID_MAX);
			return -1;
		}
		if (!auth_valid_password(rq->v[i].password)) {
			op_error(&res->code, res->error, OP_BAD_REQUEST,
			    "user import: entry %zu (%s): the password must "
			    "have %d to %d characters and no line break", i + 1,
			    rq->v[i].id, AUTH_PASSWORD_MIN, AUTH_PASSWORD_MAX);
			return -1;
		}
	}
	for (i = 0; i < rq->n; i++)
		if (auth_change_add(ch, STORE_PUT, rq->v[i].id,
		    rq->v[i].password) == -1) {
			op_error(&res->code, res->error, OP_UNAVAILABLE,
			    "user import: out of memory");
			return -1;
		}
	return 0;
}

/* user add, del, list or import: rq->op says which. A change is answered
 * once it is committed. */
void
auth_user(const struct user_req *rq,
    void (*done)(void *, const struct user_result *), void *arg)
{
	struct user_result	 res;
	struct auth_change	*ch = NULL;
	const char		*sub = rq->op == USER_ADD ? "add" : "del";

	memset(&res, 0, sizeof(res));
	res.op = rq->op;
	if (rq->op == USER_LIST) {
		auth_list(rq, &res, done, arg);
		return;
	}
	if ((ch = calloc(1, sizeof(*ch))) == NULL) {
		op_error(&res.code, res.error, OP_UNAVAILABLE,
		    "user %s: out of memory", sub);
		goto out;
	}
	store_batch_init(&ch->rows);
	ch->op = rq->op;
	if (rq->op == USER_IMPORT) {
		if (auth_import(rq, &res, ch) == -1)
			goto out;
		goto start;
	}
	if (rq->id == NULL || !clients_valid_id(rq->id)) {
		op_error(&res.code, res.error, OP_BAD_REQUEST,
		    "user %s: \"%.64s\" is not a valid client ID (1-%d of A-Z "
		    "a-z 0-9 . _ -)", sub, rq->id ? rq->id : "", CLIENT_ID_MAX);
		goto out;
	}
	if (rq->op == USER_DEL) {
		if (auth_user_find(rq->id) == NULL) {
			op_error(&res.code, res.error, OP_NOT_FOUND,
			    "no user %s", rq->id);
			goto out;
		}
	} else if (rq->password == NULL ||
	    !auth_valid_password(rq->password)) {
		op_error(&res.code, res.error, OP_BAD_REQUEST,
		    "user add: the password must have %d to %d characters and "
		    "no line break", AUTH_PASSWORD_MIN, AUTH_PASSWORD_MAX);
		goto out;
	}
	if (auth_change_add(ch, rq->op == USER_DEL ? STORE_DELETE : STORE_PUT,
	    rq->id, rq->password) == -1) {
		op_error(&res.code, res.error, OP_UNAVAILABLE,
		    "user %s: out of memory", sub);
		goto out;
	}
start:
	if (ch->rows.nusers == 0) {	/* an empty import */
		res.ok = 1;
		goto out;
	}
	ch->done = done;
	ch->arg = arg;
	ch->job.run = auth_change_run;
	ch->job.done = auth_change_done;
	commit_job(&ch->job);
	return;
out:
	if (ch) {
		store_batch_free(&ch->rows);
		free(ch);
	}
	done(arg, &res);
}

/* ---- the users in memory ---- */

/* The user called id, or NULL. */
static struct auth_user *
auth_user_find(const char *id)
{
	struct auth_user	*u;

	if (auth_nbuckets == 0)
		return NULL;
	for (u = auth_users[auth_user_hash(id) & (auth_nbuckets - 1)]; u;
	    u = u->next)
		if (strcmp(u->id, id) == 0)
			return u;
	return NULL;
}

static uint64_t
auth_user_hash(const char *s)
{
	uint64_t	 h = auth_user_seed ^ 1469598103934665603ULL;

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ULL;
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ULL;
	return h ^ (h >> 32);
}

static void
auth_user_free(struct auth_user *u)
{
	free(u->id);
	free(u->realm);
	free(u);
}

/* Double the buckets when there are as many users. */
static int
auth_users_grow(void)
{
	struct auth_user	**nt, *u, *next;
	size_t			 nb = auth_nbuckets ? auth_nbuckets * 2 : 64, i;

	if ((nt = calloc(nb, sizeof(*nt))) == NULL)
		return -1;
	for (i = 0; i < auth_nbuckets; i++)
		for (u = auth_users[i]; u; u = next) {
			next = u->next;
			u->next = nt[auth_user_hash(u->id) & (nb - 1)];
			nt[auth_user_hash(u->id) & (nb - 1)] = u;
		}
	free(auth_users);
	auth_users = nt;
	auth_nbuckets = nb;
	return 0;
}

/* Make the copy in memory say what a committed row says. 0, or -1 when
 * memory is short. */
static int
auth_user_apply(const struct user_row *r)
{
	struct auth_user	*u, **pp;
	char			*realm;

	if (r->op == STORE_DELETE) {
		if (auth_nbuckets == 0)
			return 0;
		for (pp = &auth_users[auth_user_hash(r->id) &
		    (auth_nbuckets - 1)]; (u = *pp) != NULL; pp = &u->next)
			if (strcmp(u->id, r->id) == 0) {
				*pp = u->next;
				auth_user_free(u);
				auth_nusers--;
				break;
			}
		return 0;
	}
	if (strlen(r->ha1_sha256) > 64 || strlen(r->ha1_md5) > 32)
		return 0;	/* not ours: never matches */
	if ((u = auth_user_find(r->id)) != NULL) {
		if ((realm = strdup(r->realm)) == NULL)
			return -1;
		free(u->realm);
		u->realm = realm;
	} else {
		if (auth_nusers >= auth_nbuckets && auth_users_grow() == -1)
			return -1;
		if ((u = calloc(1, sizeof(*u))) == NULL ||
		    (u->id = strdup(r->id)) == NULL ||
		    (u->realm = strdup(r->realm)) == NULL) {
			if (u)
				free(u->id);
			free(u);
			return -1;
		}
		pp = &auth_users[auth_user_hash(u->id) & (auth_nbuckets - 1)];
		u->next = *pp;
		*pp = u;
		auth_nusers++;
	}
	snprintf(u->sha256, sizeof(u->sha256), "%s", r->ha1_sha256);
	snprintf(u->md5, sizeof(u->md5), "%s", r->ha1_md5);
	u->created_at = r->created_at;
	return 0;
}

static int
auth_users_load_one(const struct user_row *r, void *arg)
{
	(void)arg;
	return auth_user_apply(r);
}

/* Read every user from the store into memory (at start, before the
 * writer runs). The number of users, or -1. */
int
auth_users_load(void)
{
	auth_users_free();
	if (auth_user_seed == 0 && getrandom(&auth_user_seed,
	    sizeof(auth_user_seed), 0) != sizeof(auth_user_seed))
		auth_user_seed = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ULL;
	if (store_load_users(NULL, auth_users_load_one, NULL) == -1)
		return -1;
	return (int)auth_nusers;
}

/*
 * The users as another node changed them (cluster): memory says what
 * the n rows say. A user that is gone was deleted on another node: the
 * registration of its client, if this node holds it, ends as it would
 * on that node (auth_revoke), so that a user deleted on any node ends
 * its client's registration wherever it is held. 0, or -1 when memory
 * is short (some left out: then no registration is ended).
 */
int
auth_users_replace(const struct user_row *v, size_t n)
{
	struct auth_user	**old = auth_users, *u, *next;
	size_t			 nold = auth_nbuckets, i;
	int			 rv = 0;

	auth_users = NULL;
	auth_nbuckets = auth_nusers = 0;
	for (i = 0; i < n; i++)
		if (auth_user_apply(&v[i]) == -1)
			rv = -1;
	for (i = 0; i < nold; i++)
		for (u = old[i]; u; u = next) {
			next = u->next;
			if (rv == 0 && auth_user_find(u->id) == NULL)
				log_notice("auth: user %s deleted on another "
				    "node%s", u->id,
				    auth_end_registration(u->id) ?
				    ", its registration ended" : "");
			auth_user_free(u);
		}
	free(old);
	return rv;
}

/* How many users there are. */
size_t
auth_users_count(void)
{
	return auth_nusers;
}

void
auth_users_free(void)
{
	struct auth_user	*u, *next;
	size_t			 i;

	for (i = 0; i < auth_nbuckets; i++)
		for (u = auth_users[i]; u; u = next) {
			next = u->next;
			auth_user_free(u);
		}
	free(auth_users);
	auth_users = NULL;
	auth_nbuckets = auth_nusers = 0;
}
