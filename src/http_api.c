/*
 * http_api.c: the routes of the HTTP API (version 1) over the command
 * layer's operations (dispatch_publish, dispatch_status, ...), with
 * JSON in and out through jansson.  The routes are listed once, in
 * http_routes[]; doc/openapi.json describes the same set (a unit test
 * holds the two together).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sippushd.h"
#include "command.h"
#include "http.h"
#include "sha256.h"

#define API_LIMIT_DEFAULT	100
#define API_LIMIT_MAX		1000
#define IDEM_MAX		10000	/* Idempotency-Keys remembered */
#define IDEM_LIFETIME		86400	/* s */
#define IDEM_KEY_MAX		128

/* ---- Idempotency-Key: the same key (per token) answers the same ID ---- */

struct idem {
	struct idem	*next;
	char		 key[TOKEN_NAME_MAX + IDEM_KEY_MAX + 2];
	uint8_t		 digest[32];	/* of the request body */
	char		 id[MESSAGE_ID_LEN + 1];	/* "": in progress */
	size_t		 targets, online;
	int64_t		 at;
};

static struct idem	*idem_list;
static size_t		 idem_n;

static void
idem_expire(int64_t now)
{
	struct idem	**p = &idem_list, *e;

	while ((e = *p) != NULL) {
		if (e->at + IDEM_LIFETIME < now || (idem_n > IDEM_MAX &&
		    e->next == NULL)) {
			*p = e->next;
			free(e);
			idem_n--;
		} else
			p = &e->next;
	}
}

static struct idem *
idem_find(const char *key)
{
	struct idem	*e;

	for (e = idem_list; e; e = e->next)
		if (strcmp(e->key, key) == 0)
			return e;
	return NULL;
}

static void
idem_drop(struct idem *x)
{
	struct idem	**p;

	for (p = &idem_list; *p; p = &(*p)->next)
		if (*p == x) {
			*p = x->next;
			free(x);
			idem_n--;
			return;
		}
}

void
http_api_shutdown(void)
{
	struct idem	*e;

	while ((e = idem_list) != NULL) {
		idem_list = e->next;
		free(e);
	}
	idem_n = 0;
}

/* ---- JSON helpers ---- */

/* The status of an operation's failure, by its code (never its text). */
int
http_api_status(enum op_code code)
{
	switch (code) {
	case OP_BAD_REQUEST:
		return 400;
	case OP_NOT_FOUND:
		return 404;
	case OP_CONFLICT:
		return 409;
	case OP_TOO_LARGE:
		return 413;
	case OP_TOO_MANY:
		return 429;
	case OP_UNAVAILABLE:
		return 503;
	case OP_OK:		/* a failure without a code: a bug */
	case OP_INTERNAL:
	default:
		return 500;
	}
}

static json_t *
api_message(const struct message_info *m)
{
	json_t	*counts = json_object();
	int	 i;

	for (i = 0; i < TARGET_NSTATES; i++)
		json_object_set_new(counts, dispatch_target_state_name(i),
		    json_integer((json_int_t)m->count[i]));
	return json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:o, s:I, "
	    "s:o, s:I}",
	    "id", m->id, "state", m->state, "selector", m->selector,
	    "content_type", m->content_type,
	    "body_size", (json_int_t)m->body_size,
	    "created_at", (json_int_t)m->created_at,
	    "expires_at", (json_int_t)m->expires_at,
	    "finished_at", m->finished_at ? json_integer(m->finished_at) :
	    json_null(),
	    "targets", (json_int_t)m->targets, "counts", counts,
	    "offline", (json_int_t)m->offline);
}

static json_t *
api_target(const struct target_info *t)
{
	return json_pack("{s:s, s:s, s:I, s:i, s:I, s:I, s:I}",
	    "client", t->client, "state",
	    dispatch_target_state_name(t->state),
	    "attempts", (json_int_t)t->attempts,
	    "last_status", t->last_status,
	    "last_attempt", (json_int_t)t->last_attempt,
	    "next_attempt", (json_int_t)(t->state == TARGET_PENDING ?
	    t->next_attempt : 0),
	    "acked_at", (json_int_t)t->acked_at);
}

static json_t *
api_client(const struct client *c)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:s?, s:I, "
	    "s:I, s:I}",
	    "id", c->id, "class", c->class,
	    "state", clients_state_name(c->state),
	    "transport", clients_transport_name(c->transport),
	    "address", c->address, "port", c->port, "contact", c->contact,
	    "user_agent", c->user_agent,
	    "registered_at", (json_int_t)c->registered_at,
	    "expires_at", (json_int_t)c->expires_at,
	    "last_seen", (json_int_t)c->last_seen);
}

/* Answer a page o (200), with next_cursor if next is not NULL (absent on
 * the last page). */
static void
api_page(struct http_req *r, json_t *o, const char *next)
{
	if (o != NULL && next != NULL)
		json_object_set_new(o, "next_cursor", json_string(next));
	http_reply(r, 200, o);
}

/* ?limit=: 1..API_LIMIT_MAX, or -1 with the request answered 400. */
static long
api_limit(struct http_req *r)
{
	const char	*v = http_query(r, "limit");
	char		*end;
	long		 n;

	if (v == NULL)
		return API_LIMIT_DEFAULT;
	errno = 0;
	n = strtol(v, &end, 10);
	if (*v == '\0' || *end != '\0' || errno || n < 1 ||
	    n > API_LIMIT_MAX) {
		http_error(r, 400, "limit must be 1..%d", API_LIMIT_MAX);
		return -1;
	}
	return n;
}

/* ---- request parsing ---- */

static int
api_strings(json_t *a, const char *what, enum publish_sel_kind kind,
    struct publish_sel *sel, size_t *n, char *error, size_t errlen)
{
	json_t	*v;
	size_t	 i;

	if (a == NULL)
		return 0;
	if (!json_is_array(a)) {
		snprintf(error, errlen, "%s must be an array of strings", what);
		return -1;
	}
	json_array_foreach(a, i, v) {
		if (!json_is_string(v)) {
			snprintf(error, errlen, "%s[%zu] is not a string",
			    what, i);
			return -1;
		}
		if (kind == PUBLISH_CLASS &&
		    !clients_valid_class(json_string_value(v))) {
			snprintf(error, errlen, "%s[%zu]: \"%.64s\" is not a "
			    "valid class", what, i, json_string_value(v));
			return -1;
		}
		if (kind == PUBLISH_CLIENT &&
		    !clients_valid_id(json_string_value(v))) {
			snprintf(error, errlen, "%s[%zu]: \"%.64s\" is not a "
			    "valid client ID", what, i, json_string_value(v));
			return -1;
		}
		sel[*n].kind = kind;
		sel[(*n)++].name = json_string_value(v);
	}
	return 0;
}

/*
 * The body of POST /v1/messages:
 *   {"classes": [..], "clients": [..], "all": bool, "body": "...",
 *    "content_type": "...", "ttl": seconds, "callback": "URL"}
 * into rq, which points into *keep (the parsed document; the caller
 * frees it with json_decref) and *sel (malloc'd, the caller frees).
 * 0, or -1 with error.
 */
int
http_api_parse_publish(const char *body, size_t len, int max_ttl,
    struct publish_req *rq, struct publish_sel **selp, json_t **keep,
    char *error, size_t errlen)
{
	static const char *const known[] = { "classes", "clients", "all",
	    "body", "content_type", "ttl", "callback", NULL };
	json_error_t		 je;
	json_t			*j, *v;
	struct publish_sel	*sel = NULL;
	const char		*k;
	size_t			 n;
	int			 i;

	memset(rq, 0, sizeof(*rq));
	*selp = NULL;
	*keep = NULL;
	if ((j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je)) ==
	    NULL) {
		snprintf(error, errlen, "bad JSON at line %d column %d: %s",
		    je.line, je.column, je.text);
		return -1;
	}
	if (!json_is_object(j)) {
		snprintf(error, errlen, "the body must be a JSON object");
		goto fail;
	}
	json_object_foreach(j, k, v) {
		for (i = 0; known[i] && strcmp(known[i], k) != 0; i++)
			;
		if (known[i] == NULL) {
			snprintf(error, errlen, "unknown field \"%.64s\"", k);
			goto fail;
		}
	}
	n = json_array_size(json_object_get(j, "classes")) +
	    json_array_size(json_object_get(j, "clients"));
	if ((sel = calloc(n + 1, sizeof(*sel))) == NULL) {
		snprintf(error, errlen, "out of memory");
		goto fail;
	}
	rq->sel = sel;
	if (api_strings(json_object_get(j, "classes"), "classes",
	    PUBLISH_CLASS, sel, &rq->nsel, error, errlen) == -1 ||
	    api_strings(json_object_get(j, "clients"), "clients",
	    PUBLISH_CLIENT, sel, &rq->nsel, error, errlen) == -1)
		goto fail;
	if ((v = json_object_get(j, "all")) != NULL) {
		if (!json_is_boolean(v)) {
			snprintf(error, errlen, "all must be true or false");
			goto fail;
		}
		rq->all = json_is_true(v);
	}
	if (!rq->all && rq->nsel == 0) {
		snprintf(error, errlen, "no target given (classes, clients "
		    "or all)");
		goto fail;
	}
	if ((v = json_object_get(j, "body")) == NULL || !json_is_string(v)) {
		snprintf(error, errlen, "body must be a string");
		goto fail;
	}
	rq->body = json_string_value(v);
	rq->body_len = json_string_length(v);
	if (memchr(rq->body, '\0', rq->body_len) != NULL) {
		snprintf(error, errlen, "body must not hold a NUL character");
		goto fail;
	}
	if ((v = json_object_get(j, "content_type")) != NULL) {
		if (!json_is_string(v) ||
		    !dispatch_valid_ctype(json_string_value(v))) {
			snprintf(error, errlen, "bad content_type");
			goto fail;
		}
		rq->content_type = json_string_value(v);
	}
	if ((v = json_object_get(j, "ttl")) != NULL) {
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > max_ttl) {
			snprintf(error, errlen, "ttl must be 1..%d seconds",
			    max_ttl);
			goto fail;
		}
		rq->ttl = (long)json_integer_value(v);
	}
	if ((v = json_object_get(j, "callback")) != NULL) {
		if (!json_is_string(v) || !cmd_valid_callback(json_string_value(v))) {
			snprintf(error, errlen, "callback must be an http:// "
			    "or https:// URL of at most %d characters",
			    CALLBACK_MAX);
			goto fail;
		}
		rq->callback = json_string_value(v);
	}
	*selp = sel;
	*keep = j;
	return 0;
fail:
	free(sel);
	json_decref(j);
	memset(rq, 0, sizeof(*rq));
	return -1;
}

/* ---- routes ---- */

static void
api_healthz(struct http_req *r, char **p)
{
	(void)p;
	http_reply(r, 200, json_pack("{s:s, s:s}", "status", "ok",
	    "version", SIPPUSH_VERSION));
}

static void
api_readyz(struct http_req *r, char **p)
{
	(void)p;
	if (!http_ready()) {
		http_error(r, 503, "not ready: the store is failing");
		return;
	}
	http_reply(r, 200, json_pack("{s:b}", "ready", 1));
}

static void
api_openapi(struct http_req *r, char **p)
{
	(void)p;
	http_reply_text(r, 200, "application/json", http_openapi_json,
	    strlen(http_openapi_json));
}

static void
api_metrics(struct http_req *r, char **p)
{
	struct buf	 out = { 0 };

	(void)p;
	metrics_render(&out);
	http_reply_text(r, 200, "text/plain; version=0.0.4; charset=utf-8",
	    out.data ? out.data : "", out.len);
	buf_free(&out);
}

struct publish_call {
	struct http_ticket	*ticket;
	struct idem		*idem;
};

static void
api_publish_done(void *arg, const struct publish_result *res)
{
	struct publish_call	*pc = arg;
	struct http_req		*r = http_ticket_take(pc->ticket);
	char			 loc[64];

	if (pc->idem != NULL) {
		if (res->ok) {
			snprintf(pc->idem->id, sizeof(pc->idem->id), "%s",
			    res->id);
			pc->idem->targets = res->targets;
			pc->idem->online = res->online;
		} else
			idem_drop(pc->idem);
	}
	free(pc);
	if (r == NULL)
		return;
	if (!res->ok) {
		http_error(r, http_api_status(res->code), "%s", res->error);
		return;
	}
	snprintf(loc, sizeof(loc), "/v1/messages/%s", res->id);
	http_header_add(r, "Location", loc);
	http_reply(r, 201, json_pack("{s:s, s:I, s:I}", "id", res->id,
	    "targets", (json_int_t)res->targets,
	    "online", (json_int_t)res->online));
}

static void
api_publish(struct http_req *r, char **p)
{
	struct publish_req	 rq;
	struct publish_sel	*sel;
	struct publish_call	*pc;
	struct idem		*e = NULL;
	json_t			*keep;
	const char		*body, *ikey, *ct;
	char			 error[OP_ERROR_MAX], key[sizeof(e->key)];
	uint8_t			 digest[32];
	size_t			 len;

	(void)p;
	ct = http_header(r, "Content-Type");
	if (ct != NULL && strncasecmp(ct, "application/json", 16) != 0) {
		http_error(r, 415, "the body must be application/json");
		return;
	}
	body = http_body(r, &len);
	if (http_api_parse_publish(body, len, dispatch_max_ttl(), &rq, &sel,
	    &keep, error, sizeof(error)) == -1) {
		http_error(r, 400, "%s", error);
		return;
	}
	if ((ikey = http_header(r, "Idempotency-Key")) != NULL) {
		if (*ikey == '\0' || strlen(ikey) > IDEM_KEY_MAX) {
			http_error(r, 400, "Idempotency-Key must have 1..%d "
			    "characters", IDEM_KEY_MAX);
			goto out;
		}
		snprintf(key, sizeof(key), "%s\n%s", http_token_name(r), ikey);
		sha256(body, len, digest);
		idem_expire(clock_now());
		if ((e = idem_find(key)) != NULL) {
			if (memcmp(e->digest, digest, sizeof(digest)) != 0)
				http_error(r, 409, "Idempotency-Key %.64s was "
				    "used with another request", ikey);
			else if (e->id[0] == '\0')
				http_error(r, 409, "the request with "
				    "Idempotency-Key %.64s is in progress",
				    ikey);
			else
				http_reply(r, 201, json_pack("{s:s, s:I, s:I}",
				    "id", e->id, "targets",
				    (json_int_t)e->targets, "online",
				    (json_int_t)e->online));
			goto out;
		}
		if ((e = calloc(1, sizeof(*e))) == NULL) {
			http_error(r, 503, "out of memory");
			goto out;
		}
		memcpy(e->key, key, sizeof(key));
		memcpy(e->digest, digest, sizeof(digest));
		e->at = clock_now();
		e->next = idem_list;
		idem_list = e;
		idem_n++;
	}
	if ((pc = calloc(1, sizeof(*pc))) == NULL ||
	    (pc->ticket = http_wait(r)) == NULL) {
		if (pc == NULL)
			http_error(r, 503, "out of memory");
		free(pc);
		if (e)
			idem_drop(e);
		goto out;
	}
	pc->idem = e;
	dispatch_publish(&rq, api_publish_done, pc);
out:
	free(sel);
	json_decref(keep);
}

/*
 * The cursor of GET /v1/messages: the place (created_at, id) of the last
 * message of the page before, as one opaque string (16 hex digits of
 * created_at, then the ID).  0, or -1 if s is no such string.
 */
int
http_api_cursor_parse(const char *s, struct message_pos *pos)
{
	char		 num[17];
	size_t		 i;

	if (strlen(s) != 16 + MESSAGE_ID_LEN)
		return -1;
	for (i = 0; s[i]; i++)
		if (!strchr("0123456789abcdef", s[i]))
			return -1;
	memcpy(num, s, 16);
	num[16] = '\0';
	pos->created_at = (int64_t)strtoull(num, NULL, 16);
	if (pos->created_at < 0)
		return -1;
	memcpy(pos->id, s + 16, MESSAGE_ID_LEN + 1);
	return 0;
}

void
http_api_cursor_format(const struct message_info *m,
    char out[HTTP_CURSOR_MAX])
{
	snprintf(out, HTTP_CURSOR_MAX, "%016llx%.*s",
	    (unsigned long long)m->created_at, MESSAGE_ID_LEN, m->id);
}

static void
api_messages_done(void *arg, const struct messages_result *res)
{
	struct http_req	*r = http_ticket_take(arg);
	char		 next[HTTP_CURSOR_MAX];
	json_t		*a;
	size_t		 i, lim;

	if (r == NULL)
		return;
	if (!res->ok) {
		http_error(r, http_api_status(res->code), "%s", res->error);
		return;
	}
	lim = (size_t)api_limit(r);
	a = json_array();
	for (i = 0; i < res->n && i < lim; i++)
		json_array_append_new(a, api_message(&res->v[i]));
	if (res->n > lim)
		http_api_cursor_format(&res->v[lim - 1], next);
	api_page(r, json_pack("{s:o}", "messages", a),
	    res->n > lim ? next : NULL);
}

/*
 * GET /v1/messages?limit=N&cursor=C: newest first, by (created_at, id);
 * the cursor is the place of the last message of the page before, so
 * messages published meanwhile (newer) neither repeat nor skip one.
 */
static void
api_messages(struct http_req *r, char **p)
{
	struct messages_req	 rq;
	struct message_pos	 pos;
	struct http_ticket	*t;
	const char		*c = http_query(r, "cursor");
	long			 lim;

	(void)p;
	if ((lim = api_limit(r)) == -1)
		return;
	rq.after = NULL;
	if (c != NULL) {
		if (http_api_cursor_parse(c, &pos) == -1) {
			http_error(r, 400, "bad cursor \"%.64s\": pass the "
			    "next_cursor of the page before, as it is", c);
			return;
		}
		rq.after = &pos;
	}
	rq.limit = lim + 1;	/* one more: is there a next page? */
	if ((t = http_wait(r)) != NULL)
		dispatch_messages(&rq, api_messages_done, t);
}

static void
api_status_done(void *arg, const struct status_result *res)
{
	struct http_req	*r = http_ticket_take(arg);

	if (r == NULL)
		return;
	if (!res->ok) {
		http_error(r, http_api_status(res->code), "%s", res->error);
		return;
	}
	http_reply(r, 200, api_message(&res->msg));
}

static int
api_valid_message_id(struct http_req *r, const char *id)
{
	size_t	 i;

	for (i = 0; id[i]; i++)
		if (!strchr("0123456789abcdef", id[i]))
			break;
	if (i != MESSAGE_ID_LEN || id[i] != '\0') {
		http_error(r, 404, "no message %.64s", id);
		return 0;
	}
	return 1;
}

static void
api_message_get(struct http_req *r, char **p)
{
	struct status_req	 rq = { p[0], 0 };
	struct http_ticket	*t;

	if (api_valid_message_id(r, p[0]) && (t = http_wait(r)) != NULL)
		dispatch_status(&rq, api_status_done, t);
}

static void
api_targets_done(void *arg, const struct status_result *res)
{
	struct http_req	*r = http_ticket_take(arg);
	json_t		*a;
	size_t		 i;

	if (r == NULL)
		return;
	if (!res->ok) {
		http_error(r, http_api_status(res->code), "%s", res->error);
		return;
	}
	a = json_array();
	for (i = 0; i < res->nt; i++)
		json_array_append_new(a, api_target(&res->t[i]));
	api_page(r, json_pack("{s:s, s:o}", "message", res->msg.id,
	    "targets", a), res->more && res->nt ?
	    res->t[res->nt - 1].client : NULL);
}

/* GET /v1/messages/{id}/targets?state=S&limit=N&cursor=CLIENT: sorted
 * by client ID (a message's target set does not change); the cursor is
 * the last client ID of the page before, the next page starts after it.
 * A page is found from its cursor (dispatch_targets): the loop never
 * goes over a big message's whole target set for one. */
static void
api_targets(struct http_req *r, char **p)
{
	struct targets_req	 rq = { p[0], NULL, -1, 0 };
	struct http_ticket	*t;
	const char		*sv;
	long			 lim;

	if (!api_valid_message_id(r, p[0]) || (lim = api_limit(r)) == -1)
		return;
	if ((sv = http_query(r, "state")) != NULL &&
	    (rq.state = dispatch_target_state_parse(sv)) == -1) {
		http_error(r, 400, "unknown state \"%.32s\"", sv);
		return;
	}
	if ((rq.after = http_query(r, "cursor")) != NULL &&
	    !clients_valid_id(rq.after)) {
		http_error(r, 400, "bad cursor \"%.64s\": pass the "
		    "next_cursor of the page before (a client ID)", rq.after);
		return;
	}
	rq.limit = (size_t)lim;
	if ((t = http_wait(r)) != NULL)
		dispatch_targets(&rq, api_targets_done, t);
}

static void
api_cancel_status_done(void *arg, const struct status_result *res)
{
	struct http_req	*r = http_ticket_take(arg);

	if (r == NULL)
		return;
	if (res->ok)
		http_error(r, 409, "message %s is already %s", res->msg.id,
		    res->msg.state);
	else
		http_error(r, http_api_status(res->code), "%s", res->error);
}

static void
api_cancel_done(void *arg, const struct cancel_result *res)
{
	struct http_ticket	*t = arg;
	struct http_req		*r = http_ticket_take(t);
	struct status_req	 rq;

	if (r == NULL)
		return;
	if (!res->ok) {
		if (res->code != OP_NOT_FOUND && res->code != OP_CONFLICT) {
			http_error(r, http_api_status(res->code), "%s",
			    res->error);
			return;
		}
		/* not active: finished (409, saying how) or unknown (404) */
		if ((t = http_wait(r)) != NULL) {
			rq.id = res->id;
			rq.targets = 0;
			dispatch_status(&rq, api_cancel_status_done, t);
		}
		return;
	}
	http_reply(r, 200, json_pack("{s:s, s:I, s:I}", "id", res->id,
	    "cancelled", (json_int_t)res->cancelled,
	    "in_flight", (json_int_t)res->in_flight));
}

static void
api_cancel(struct http_req *r, char **p)
{
	struct cancel_req	 rq = { p[0] };
	struct http_ticket	*t;

	if (api_valid_message_id(r, p[0]) && (t = http_wait(r)) != NULL)
		dispatch_cancel(&rq, api_cancel_done, t);
}

/* A page of GET /v1/clients, read by the writer. */
struct api_clients_read {
	struct commit_job	 job;
	struct http_ticket	*t;
	struct client_filter	 f;
	char			*class;
	char			*cursor;
	long			 limit;
	json_t			*a;	/* the page, limit + 1 at most */
	int			 rc;
	char			 err[256];
};

/* A stored client row as JSON; on a node of a cluster with "node", the
 * node holding it (null: none). cluster_on() is set before the writer
 * starts. NULL: out of memory. */
static json_t *
api_client_row_json(const struct client_row *r)
{
	json_t	*o;

	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:s?, s:I, "
	    "s:I, s:I}",
	    "id", r->id, "class", r->class, "state", r->state,
	    "transport", r->transport, "address", r->address,
	    "port", r->port, "contact", r->contact,
	    "user_agent", r->user_agent,
	    "registered_at", (json_int_t)r->registered_at,
	    "expires_at", (json_int_t)r->expires_at,
	    "last_seen", (json_int_t)r->last_seen);
	if (o != NULL && cluster_on() && json_object_set_new(o, "node",
	    r->owner != NULL && r->owner[0] != '\0' ? json_string(r->owner) :
	    json_null()) == -1) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static int
api_clients_row(const struct client_row *r, void *arg)
{
	struct api_clients_read	*rd = arg;
	json_t			*o;

	if ((o = api_client_row_json(r)) == NULL ||
	    json_array_append_new(rd->a, o) == -1)
		return -1;
	return 0;
}

/* On the writer: limit + 1 rows after the cursor (the one more tells
 * whether a next page exists). */
static void
api_clients_run(struct commit_job *j)
{
	struct api_clients_read	*rd = (struct api_clients_read *)j;

	if ((rd->rc = store_list_clients(&rd->f, rd->cursor,
	    (int)rd->limit + 1, api_clients_row, rd)) == -1)
		snprintf(rd->err, sizeof(rd->err), "%s", store_errmsg());
}

static void
api_clients_done(struct commit_job *j)
{
	struct api_clients_read	*rd = (struct api_clients_read *)j;
	struct http_req		*r = http_ticket_take(rd->t);
	const struct client	*c;
	json_t			*o;
	const char		*next = NULL;
	size_t			 i, n;

	if (r == NULL)
		goto out;
	if (j->failed || rd->a == NULL) {
		http_error(r, 503, "out of memory");
		goto out;
	}
	if (rd->rc == -1) {
		http_error(r, 503, "store failure: %s", rd->err);
		goto out;
	}
	if ((n = json_array_size(rd->a)) > (size_t)rd->limit) {
		json_array_remove(rd->a, (size_t)rd->limit);
		n = (size_t)rd->limit;
		next = json_string_value(json_object_get(json_array_get(rd->a,
		    n - 1), "id"));
	}
	/* heartbeats are written lazily: this daemon's clients with their
	 * newest last_seen; one it holds whose row names no node yet is
	 * this node's */
	for (i = 0; i < n; i++) {
		o = json_array_get(rd->a, i);
		if ((c = clients_find(json_string_value(json_object_get(o,
		    "id")))) == NULL)
			continue;
		if (c->last_seen >
		    json_integer_value(json_object_get(o, "last_seen")))
			json_object_set_new(o, "last_seen",
			    json_integer((json_int_t)c->last_seen));
		if (json_is_null(json_object_get(o, "node")))
			json_object_set_new(o, "node",
			    json_string(cluster_node()));
	}
	api_page(r, json_pack("{s:O}", "clients", rd->a), next);
out:
	json_decref(rd->a);
	free(rd->class);
	free(rd->cursor);
	free(rd);
}

/* GET /v1/clients?class=C&state=S&limit=N&cursor=ID: sorted by ID; the
 * cursor is the last ID of the page before, the next page starts after
 * it (a client that registers meanwhile shows if its ID sorts later).
 * Read from the store (what is committed) by the writer, one page. */
static void
api_clients(struct http_req *r, char **p)
{
	struct api_clients_read	*rd;
	const char		*v, *class, *cursor;
	long			 lim;
	int			 state = -1;

	(void)p;
	if ((lim = api_limit(r)) == -1)
		return;
	class = http_query(r, "class");
	cursor = http_query(r, "cursor");
	if (cursor != NULL && !clients_valid_id(cursor)) {
		http_error(r, 400, "bad cursor \"%.64s\": pass the "
		    "next_cursor of the page before (a client ID)", cursor);
		return;
	}
	if ((v = http_query(r, "state")) != NULL &&
	    (state = clients_state_parse(v)) == -1) {
		http_error(r, 400, "unknown state \"%.32s\"", v);
		return;
	}
	if ((rd = calloc(1, sizeof(*rd))) == NULL ||
	    (class && (rd->class = strdup(class)) == NULL) ||
	    (cursor && (rd->cursor = strdup(cursor)) == NULL) ||
	    (rd->a = json_array()) == NULL) {
		if (rd) {
			free(rd->class);
			free(rd->cursor);
			free(rd);
		}
		http_error(r, 503, "out of memory");
		return;
	}
	if ((rd->t = http_wait(r)) == NULL) {
		json_decref(rd->a);
		free(rd->class);
		free(rd->cursor);
		free(rd);
		return;
	}
	rd->f.class = rd->class;
	rd->f.state = state == -1 ? NULL : clients_state_name(state);
	rd->f.online = -1;
	rd->limit = lim;
	rd->job.run = api_clients_run;
	rd->job.done = api_clients_done;
	commit_job(&rd->job);
}

/* A client read from the store (a cluster: not held here). */
static void
api_client_stored(void *arg, const char *id, int rc,
    const struct client_row *c, const char *err)
{
	struct http_req	*r = http_ticket_take(arg);
	json_t		*o;

	if (r == NULL)
		return;
	if (rc == -1) {
		http_error(r, 503, "store failure: %s", err);
		return;
	}
	if (rc == 0) {
		http_error(r, 404, "no client %.64s", id);
		return;
	}
	o = api_client_row_json(c);
	http_reply(r, 200, o);
}

/* GET /v1/clients/ID: a client this daemon holds from memory; on a node
 * of a cluster, any other from the store, with its node. */
static void
api_client_get(struct http_req *r, char **p)
{
	struct client		*c;
	struct http_ticket	*t;
	json_t			*o;

	if ((c = clients_find(p[0])) != NULL) {
		o = api_client(c);
		if (o != NULL && cluster_on())
			json_object_set_new(o, "node",
			    json_string(cluster_node()));
		http_reply(r, 200, o);
		return;
	}
	if (!cluster_on() || !clients_valid_id(p[0])) {
		http_error(r, 404, "no client %.64s", p[0]);
		return;
	}
	if ((t = http_wait(r)) == NULL)
		return;
	if (control_client_read(p[0], api_client_stored, t) == -1)
		api_client_stored(t, p[0], -1, NULL, "out of memory");
}

/* GET /v1/stats: the record of "sippushctl stats", as numbers. */
static void
api_stats(struct http_req *r, char **p)
{
	struct buf	 out = { 0 };
	char		*argv[1] = { "stats" }, *line, *next, *eq, *end;
	json_t		*o = json_object();
	long long	 n;

	(void)p;
	control_request(&out, 1, argv);
	if (out.len == 0 || buf_append(&out, "", 1) == -1 ||
	    strncmp(out.data, "OK\n", 3) != 0) {
		json_decref(o);
		buf_free(&out);
		http_error(r, 503, "stats unavailable");
		return;
	}
	for (line = out.data + 3; line && *line; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		for (; line && *line; line = eq) {
			char	*w = line;

			if ((eq = strchr(w, ' ')) != NULL)
				*eq++ = '\0';
			if ((end = strchr(w, '=')) == NULL)
				continue;
			*end++ = '\0';
			proto_decode(end);
			errno = 0;
			n = strtoll(end, &w, 10);
			if (*end != '\0' && *w == '\0' && errno == 0)
				json_object_set_new(o, line,
				    json_integer(n));
			else
				json_object_set_new(o, line,
				    json_string(end));
		}
	}
	buf_free(&out);
	http_reply(r, 200, o);
}

/* Every route, once; doc/openapi.json lists the same. */
static const struct http_route http_routes[] = {
	{ "GET", "/healthz", 0, api_healthz },
	{ "GET", "/readyz", 0, api_readyz },
	{ "GET", "/metrics", 0, api_metrics },
	{ "GET", "/v1/openapi.json", 0, api_openapi },
	{ "POST", "/v1/messages", SCOPE_PUBLISH, api_publish },
	{ "GET", "/v1/messages", SCOPE_READ, api_messages },
	{ "GET", "/v1/messages/{id}", SCOPE_READ, api_message_get },
	{ "DELETE", "/v1/messages/{id}", SCOPE_PUBLISH, api_cancel },
	{ "GET", "/v1/messages/{id}/targets", SCOPE_READ, api_targets },
	{ "GET", "/v1/clients", SCOPE_READ, api_clients },
	{ "GET", "/v1/clients/{id}", SCOPE_READ, api_client_get },
	{ "GET", "/v1/stats", SCOPE_READ, api_stats },
};

const struct http_route *
http_api_routes(size_t *n)
{
	*n = sizeof(http_routes) / sizeof(http_routes[0]);
	return http_routes;
}

/* Does url fit the pattern?  {x} takes one non-empty segment. */
static int
api_path_match(const char *pat, const char *url,
    char param[HTTP_ROUTE_PARAMS][128])
{
	int	 np = 0;
	size_t	 n;

	while (*pat && *url) {
		if (*pat == '{') {
			n = strcspn(url, "/");
			if (n == 0 || n >= 128 || np == HTTP_ROUTE_PARAMS)
				return 0;
			memcpy(param[np], url, n);
			param[np++][n] = '\0';
			url += n;
			pat = strchr(pat, '}') + 1;
		} else if (*pat++ != *url++)
			return 0;
	}
	return *pat == '\0' && *url == '\0';
}

/* The route for method and url, or NULL; *path_found tells a path
 * served with other methods (405) from an unknown one (404). */
const struct http_route *
http_api_match(const char *method, const char *url,
    char param[HTTP_ROUTE_PARAMS][128], int *path_found)
{
	size_t	 i;

	*path_found = 0;
	for (i = 0; i < sizeof(http_routes) / sizeof(http_routes[0]); i++) {
		memset(param, 0, HTTP_ROUTE_PARAMS * 128);
		if (!api_path_match(http_routes[i].path, url, param))
			continue;
		*path_found = 1;
		if (strcmp(http_routes[i].method, method) == 0)
			return &http_routes[i];
	}
	return NULL;
}
