/*
 * command.c: the table of control commands (one row per command) and
 * the asynchronous call contract (command.h).  The operations on the
 * data stay in dispatch.c, auth.c and control.c (clients, stats).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sippushd.h"
#include "command.h"

static void
cmd_ping(struct cmd_call *call, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	buf_printf(&call->out, "OK\nversion=%s\n.\n", SIPPUSH_VERSION);
	cmd_done(call);
}

static void
cmd_clients(struct cmd_call *call, int argc, char **argv)
{
	control_cmd_clients(call, argc, argv);
}

static void
cmd_client(struct cmd_call *call, int argc, char **argv)
{
	control_cmd_client(call, argc, argv);
}

static void
cmd_stats(struct cmd_call *call, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	control_cmd_stats(&call->out);
	cmd_done(call);
}

/* An operation's failure: its kind into *code (if code is not NULL)
 * and its text into error[OP_ERROR_MAX]. */
void
op_error(enum op_code *code, char *error, enum op_code c, const char *fmt,
    ...)
{
	va_list	 ap;

	if (code != NULL)
		*code = c;
	va_start(ap, fmt);
	vsnprintf(error, OP_ERROR_MAX, fmt, ap);
	va_end(ap);
}

/* The name of a failure's kind, as the HTTP API's error objects show it
 * ("code"). */
const char *
op_code_name(enum op_code c)
{
	static const char *const names[OP_NCODES] = {
		[OP_OK] = "ok",
		[OP_BAD_REQUEST] = "bad_request",
		[OP_NOT_FOUND] = "not_found",
		[OP_CONFLICT] = "conflict",
		[OP_TOO_LARGE] = "too_large",
		[OP_TOO_MANY] = "too_many",
		[OP_UNAVAILABLE] = "unavailable",
		[OP_INTERNAL] = "internal",
	};

	return (unsigned)c < OP_NCODES && names[c] ? names[c] : "internal";
}

/* ---- argument parsing: request lines into plain requests ---- */

/*
 * publish [class=C]... [client=ID]... [all=yes] [ttl=SECONDS]
 *     [content_type=T] body=B
 * sel has room for argc selectors; rq points into argv and sel.  ttl is
 * checked against max_ttl (dispatch.max_ttl).
 */
/*
 * A webhook URL given to publish: http:// or https://, a host, at most
 * CALLBACK_MAX characters, no control characters or spaces (libcurl gets
 * it as is).
 */
int
cmd_valid_callback(const char *v)
{
	size_t	 n = strlen(v), skip;
	const unsigned char *p;

	if (n > CALLBACK_MAX)
		return 0;
	if (strncmp(v, "http://", 7) == 0)
		skip = 7;
	else if (strncmp(v, "https://", 8) == 0)
		skip = 8;
	else
		return 0;
	if (v[skip] == '\0' || v[skip] == '/' || v[skip] == ':' ||
	    v[skip] == '?' || v[skip] == '#')
		return 0;
	for (p = (const unsigned char *)v; *p; p++)
		if (*p <= ' ' || *p >= 0x7f)
			return 0;
	return 1;
}

int
cmd_parse_publish(int argc, char **argv, struct publish_req *rq,
    struct publish_sel *sel, int max_ttl, char *error)
{
	const char	*v;
	char		*end;
	long		 ttl;
	int		 i;

	memset(rq, 0, sizeof(*rq));
	rq->sel = sel;
	for (i = 1; i < argc; i++) {
		if ((v = strchr(argv[i], '=')) == NULL) {
			op_error(NULL, error, OP_BAD_REQUEST,
			    "publish: unexpected word \"%.64s\"", argv[i]);
			return -1;
		}
		v++;
		if (strncmp(argv[i], "class=", 6) == 0) {
			if (!clients_valid_class(v)) {
				op_error(NULL, error, OP_BAD_REQUEST,
				    "publish: \"%.64s\" is not a valid class",
				    v);
				return -1;
			}
			sel[rq->nsel].kind = PUBLISH_CLASS;
			sel[rq->nsel++].name = v;
		} else if (strncmp(argv[i], "client=", 7) == 0) {
			sel[rq->nsel].kind = PUBLISH_CLIENT;
			sel[rq->nsel++].name = v;
		} else if (strcmp(argv[i], "all=yes") == 0)
			rq->all = 1;
		else if (strncmp(argv[i], "ttl=", 4) == 0) {
			errno = 0;
			ttl = strtol(v, &end, 10);
			if (*v == '\0' || *end != '\0' || errno || ttl < 1 ||
			    ttl > max_ttl) {
				op_error(NULL, error, OP_BAD_REQUEST,
				    "publish: ttl must be 1..%d seconds",
				    max_ttl);
				return -1;
			}
			rq->ttl = ttl;
		} else if (strncmp(argv[i], "content_type=", 13) == 0) {
			if (!dispatch_valid_ctype(v)) {
				op_error(NULL, error, OP_BAD_REQUEST,
				    "publish: bad content type \"%.64s\"", v);
				return -1;
			}
			rq->content_type = v;
		} else if (strncmp(argv[i], "callback=", 9) == 0) {
			if (!cmd_valid_callback(v)) {
				op_error(NULL, error, OP_BAD_REQUEST,
				    "publish: callback must be an http:// or "
				    "https:// URL of at most %d characters",
				    CALLBACK_MAX);
				return -1;
			}
			rq->callback = v;
		} else if (strncmp(argv[i], "body=", 5) == 0) {
			rq->body = v;
			rq->body_len = strlen(v);
		} else {
			op_error(NULL, error, OP_BAD_REQUEST,
			    "publish: unknown argument \"%.64s\"", argv[i]);
			return -1;
		}
	}
	return 0;
}

/* status id=ID [targets=no] */
int
cmd_parse_status(int argc, char **argv, struct status_req *rq, char *error)
{
	const char	*tv = proto_get(argc, argv, "targets");

	rq->id = proto_get(argc, argv, "id");
	rq->targets = tv == NULL || strcmp(tv, "no") != 0;
	if (rq->id == NULL) {
		op_error(NULL, error, OP_BAD_REQUEST, "status needs id=ID");
		return -1;
	}
	return 0;
}

/* messages [limit=N] */
int
cmd_parse_messages(int argc, char **argv, struct messages_req *rq,
    char *error)
{
	const char	*v = proto_get(argc, argv, "limit");
	char		*end;

	rq->limit = DISPATCH_LIST_DEFAULT;
	rq->after = NULL;
	if (v) {
		rq->limit = strtol(v, &end, 10);
		if (*v == '\0' || *end != '\0' || rq->limit < 1 ||
		    rq->limit > DISPATCH_LIST_MAX) {
			op_error(NULL, error, OP_BAD_REQUEST,
			    "limit must be 1..%d", DISPATCH_LIST_MAX);
			return -1;
		}
	}
	return 0;
}

/* cancel id=ID */
int
cmd_parse_cancel(int argc, char **argv, struct cancel_req *rq, char *error)
{
	if ((rq->id = proto_get(argc, argv, "id")) == NULL) {
		op_error(NULL, error, OP_BAD_REQUEST, "cancel needs id=ID");
		return -1;
	}
	return 0;
}

/*
 * user add id=ID password=PW | user del id=ID | user list [id=ID] |
 * user import id=ID password=PW [id=ID password=PW ...]
 * v has room for argc / 2 pairs.
 */
int
cmd_parse_user(int argc, char **argv, struct user_req *rq,
    struct user_cred *v, char *error)
{
	const char	*sub = argc > 1 ? argv[1] : "";
	int		 i;

	memset(rq, 0, sizeof(*rq));
	rq->id = proto_get(argc, argv, "id");
	rq->password = proto_get(argc, argv, "password");
	if (strcmp(sub, "list") == 0) {
		rq->op = USER_LIST;
		return 0;
	}
	if (strcmp(sub, "import") == 0) {
		rq->op = USER_IMPORT;
		rq->id = rq->password = NULL;
		rq->v = v;
		for (i = 2; i < argc; i += 2) {
			if (i + 1 >= argc || strncmp(argv[i], "id=", 3) != 0 ||
			    strncmp(argv[i + 1], "password=", 9) != 0) {
				op_error(NULL, error, OP_BAD_REQUEST,
				    "user import: entry %d: expected id=ID "
				    "password=PW", (i - 2) / 2 + 1);
				return -1;
			}
			if (!clients_valid_id(argv[i] + 3)) {
				op_error(NULL, error, OP_BAD_REQUEST,
				    "user import: entry %d: \"%.64s\" is not a "
				    "valid client ID (1-%d of A-Z a-z 0-9 . _ "
				    "-)", (i - 2) / 2 + 1, argv[i] + 3,
				    CLIENT_ID_MAX);
				return -1;
			}
			if (!auth_valid_password(argv[i + 1] + 9)) {
				op_error(NULL, error, OP_BAD_REQUEST,
				    "user import: entry %d (%s): the password "
				    "must have %d to %d characters and no line "
				    "break", (i - 2) / 2 + 1, argv[i] + 3,
				    AUTH_PASSWORD_MIN, AUTH_PASSWORD_MAX);
				return -1;
			}
			v[rq->n].id = argv[i] + 3;
			v[rq->n++].password = argv[i + 1] + 9;
		}
		return 0;
	}
	if (strcmp(sub, "add") != 0 && strcmp(sub, "del") != 0) {
		op_error(NULL, error, OP_BAD_REQUEST,
		    "user: expected add, del, list or import");
		return -1;
	}
	rq->op = strcmp(sub, "add") == 0 ? USER_ADD : USER_DEL;
	if (rq->id == NULL || !clients_valid_id(rq->id)) {
		op_error(NULL, error, OP_BAD_REQUEST,
		    "user %s: \"%.64s\" is not a valid client ID (1-%d of A-Z "
		    "a-z 0-9 . _ -)", sub, rq->id ? rq->id : "", CLIENT_ID_MAX);
		return -1;
	}
	return 0;
}

/* ---- reply rendering: plain results into the control protocol ---- */

void
cmd_render_publish(struct buf *out, const struct publish_result *r)
{
	if (!r->ok) {
		proto_err(out, "%s", r->error);
		return;
	}
	buf_puts(out, "OK\n");
	proto_put_kv(out, "id", r->id);
	proto_put_kvi(out, "targets", (long long)r->targets);
	proto_put_kvi(out, "online", (long long)r->online);
	proto_end_record(out);
	buf_puts(out, ".\n");
}

void
cmd_put_message(struct buf *out, const struct message_info *m)
{
	int	 i;

	proto_put_kv(out, "record", "message");
	proto_put_kv(out, "id", m->id);
	proto_put_kv(out, "state", m->state);
	proto_put_kv(out, "selector", m->selector);
	proto_put_kv(out, "content_type", m->content_type);
	proto_put_kvi(out, "body_size", (long long)m->body_size);
	proto_put_kvi(out, "created_at", m->created_at);
	proto_put_kvi(out, "expires_at", m->expires_at);
	proto_put_kvi(out, "finished_at", m->finished_at);
	proto_put_kvi(out, "targets", (long long)m->targets);
	for (i = 0; i < TARGET_NSTATES; i++)
		proto_put_kvi(out, dispatch_target_state_name(i),
		    (long long)m->count[i]);
	proto_put_kvi(out, "offline", (long long)m->offline);
	proto_end_record(out);
}

void
cmd_put_target(struct buf *out, const struct target_info *t)
{
	proto_put_kv(out, "record", "target");
	proto_put_kv(out, "client", t->client);
	proto_put_kv(out, "state", dispatch_target_state_name(t->state));
	proto_put_kvi(out, "attempts", t->attempts);
	proto_put_kvi(out, "last_status", t->last_status);
	proto_put_kvi(out, "last_attempt", t->last_attempt);
	proto_put_kvi(out, "next_attempt", t->state == TARGET_PENDING ?
	    t->next_attempt : 0);
	proto_put_kvi(out, "acked_at", t->acked_at);
	proto_end_record(out);
}

void
cmd_render_status(struct buf *out, const struct status_result *r)
{
	size_t	 i;

	if (!r->ok) {
		proto_err(out, "%s", r->error);
		return;
	}
	buf_puts(out, "OK\n");
	cmd_put_message(out, &r->msg);
	for (i = 0; i < r->nt; i++)
		cmd_put_target(out, &r->t[i]);
	buf_puts(out, ".\n");
}

void
cmd_render_messages(struct buf *out, const struct messages_result *r)
{
	size_t	 i;

	if (!r->ok) {
		proto_err(out, "%s", r->error);
		return;
	}
	buf_puts(out, "OK\n");
	for (i = 0; i < r->n; i++)
		cmd_put_message(out, &r->v[i]);
	buf_puts(out, ".\n");
}

void
cmd_render_cancel(struct buf *out, const struct cancel_result *r)
{
	if (!r->ok) {
		proto_err(out, "%s", r->error);
		return;
	}
	buf_puts(out, "OK\n");
	proto_put_kv(out, "id", r->id);
	proto_put_kvi(out, "cancelled", (long long)r->cancelled);
	proto_put_kvi(out, "in_flight", (long long)r->in_flight);
	proto_end_record(out);
	buf_puts(out, ".\n");
}

void
cmd_render_user(struct buf *out, const struct user_result *r)
{
	size_t	 i;

	if (!r->ok) {
		proto_err(out, "%s", r->error);
		return;
	}
	buf_puts(out, "OK\n");
	switch (r->op) {
	case USER_ADD:
		proto_put_kv(out, "id", r->id);
		proto_put_kv(out, "realm", r->realm);
		proto_end_record(out);
		break;
	case USER_DEL:
		proto_put_kv(out, "id", r->id);
		proto_put_kvi(out, "unregistered", r->unregistered);
		proto_end_record(out);
		break;
	case USER_IMPORT:
		proto_put_kvi(out, "imported", (long long)r->imported);
		proto_end_record(out);
		break;
	default:
		for (i = 0; i < r->nusers; i++) {
			proto_put_kv(out, "id", r->users[i].id);
			proto_put_kv(out, "realm", r->users[i].realm);
			proto_put_kvi(out, "created_at",
			    (long long)r->users[i].created_at);
			proto_end_record(out);
		}
	}
	buf_puts(out, ".\n");
}

/* ---- handlers: parse, run the operation, render when it is done ---- */

static void
cmd_publish_done(void *arg, const struct publish_result *r)
{
	struct cmd_call	*call = arg;

	cmd_render_publish(&call->out, r);
	cmd_done(call);
}

static void
cmd_publish(struct cmd_call *call, int argc, char **argv)
{
	struct publish_sel	 sel[PROTO_ARGS_MAX];
	struct publish_req	 rq;
	char			 error[OP_ERROR_MAX];

	if (argc > PROTO_ARGS_MAX ||
	    cmd_parse_publish(argc, argv, &rq, sel, dispatch_max_ttl(),
	    error) == -1) {
		proto_err(&call->out, "%s", argc > PROTO_ARGS_MAX ?
		    "publish: too many arguments" : error);
		cmd_done(call);
		return;
	}
	dispatch_publish(&rq, cmd_publish_done, call);
}

static void
cmd_status_done(void *arg, const struct status_result *r)
{
	struct cmd_call	*call = arg;

	cmd_render_status(&call->out, r);
	cmd_done(call);
}

static void
cmd_status(struct cmd_call *call, int argc, char **argv)
{
	struct status_req	 rq;
	char			 error[OP_ERROR_MAX];

	if (cmd_parse_status(argc, argv, &rq, error) == -1) {
		proto_err(&call->out, "%s", error);
		cmd_done(call);
		return;
	}
	if (rq.targets) {	/* the targets follow, a page at a time */
		control_cmd_status(call, rq.id);
		return;
	}
	dispatch_status(&rq, cmd_status_done, call);
}

static void
cmd_messages_done(void *arg, const struct messages_result *r)
{
	struct cmd_call	*call = arg;

	cmd_render_messages(&call->out, r);
	cmd_done(call);
}

static void
cmd_messages(struct cmd_call *call, int argc, char **argv)
{
	struct messages_req	 rq;
	char			 error[OP_ERROR_MAX];

	if (cmd_parse_messages(argc, argv, &rq, error) == -1) {
		proto_err(&call->out, "%s", error);
		cmd_done(call);
		return;
	}
	dispatch_messages(&rq, cmd_messages_done, call);
}

static void
cmd_cancel_done(void *arg, const struct cancel_result *r)
{
	struct cmd_call	*call = arg;

	cmd_render_cancel(&call->out, r);
	cmd_done(call);
}

static void
cmd_cancel(struct cmd_call *call, int argc, char **argv)
{
	struct cancel_req	 rq;
	char			 error[OP_ERROR_MAX];

	if (cmd_parse_cancel(argc, argv, &rq, error) == -1) {
		proto_err(&call->out, "%s", error);
		cmd_done(call);
		return;
	}
	dispatch_cancel(&rq, cmd_cancel_done, call);
}

static void
cmd_user_done(void *arg, const struct user_result *r)
{
	struct cmd_call	*call = arg;

	cmd_render_user(&call->out, r);
	cmd_done(call);
}

static void
cmd_user(struct cmd_call *call, int argc, char **argv)
{
	struct user_cred	 v[PROTO_ARGS_MAX / 2];
	struct user_req		 rq;
	char			 error[OP_ERROR_MAX];

	if (cmd_parse_user(argc, argv, &rq, v, error) == -1) {
		proto_err(&call->out, "%s", error);
		cmd_done(call);
		return;
	}
	auth_user(&rq, cmd_user_done, call);
}

/* One row per command, sorted by name. */
static const struct cmd cmd_rows[] = {
	{ "cancel",	cmd_cancel,	CMD_WRITES,
	    "cancel id=ID" },
	{ "client",	cmd_client,	CMD_READS,
	    "client id=ID" },
	{ "clients",	cmd_clients,	CMD_STREAMS,
	    "clients [class=C] [state=S] [online=yes|no]" },
	{ "drain",	cluster_cmd_drain, CMD_WRITES,
	    "drain node=NODE [off=yes]" },
	{ "messages",	cmd_messages,	CMD_READS,
	    "messages [...]" },
	{ "nodes",	cluster_cmd_nodes, CMD_READS,
	    "nodes" },
	{ "ping",	cmd_ping,	0,
	    "ping" },
	{ "publish",	cmd_publish,	CMD_WRITES,
	    "publish to=... body=..." },
	{ "stats",	cmd_stats,	CMD_READS,
	    "stats" },
	{ "status",	cmd_status,	CMD_READS | CMD_STREAMS,
	    "status id=ID" },
	{ "token",	token_cmd,	CMD_WRITES | CMD_READS,
	    "token add|del|list ..." },
	{ "user",	cmd_user,	CMD_WRITES | CMD_READS,
	    "user add|del|import|list ..." },
};

const struct cmd *
cmd_table(size_t *n)
{
	*n = sizeof(cmd_rows) / sizeof(cmd_rows[0]);
	return cmd_rows;
}

static int
cmd_compare(const void *key, const void *row)
{
	return strcmp(key, ((const struct cmd *)row)->name);
}

const struct cmd *
cmd_find(const char *name)
{
	return bsearch(name, cmd_rows, sizeof(cmd_rows) / sizeof(cmd_rows[0]),
	    sizeof(cmd_rows[0]), cmd_compare);
}

struct cmd_call *
cmd_call_new(cmd_done_fn *done, void *arg)
{
	struct cmd_call	*call;

	if ((call = calloc(1, sizeof(*call))) == NULL)
		return NULL;
	call->done = done;
	call->arg = arg;
	return call;
}

void
cmd_call_free(struct cmd_call *call)
{
	if (call == NULL)
		return;
	buf_free(&call->out);
	free(call);
}

/* Run the command argv[0] names; an unknown one is answered (and done)
 * at once.  The call may be finished, even freed, on return. */
void
cmd_start(struct cmd_call *call, int argc, char **argv)
{
	const struct cmd	*c;

	if ((c = cmd_find(argv[0])) == NULL) {
		proto_err(&call->out, "unknown command \"%.64s\"", argv[0]);
		cmd_done(call);
	} else
		c->run(call, argc, argv);
}

/* The handler has finished: hand the reply to the front end, or free
 * the call if the front end has gone. */
void
cmd_done(struct cmd_call *call)
{
	call->finished = 1;
	if (call->detached) {
		control_stream_free(call->stream);
		cmd_call_free(call);
		return;
	}
	if (call->done != NULL)
		call->done(call, call->arg);
}

/* The front end goes: a finished call is freed now, an unfinished one
 * when it finishes. */
void
cmd_detach(struct cmd_call *call)
{
	if (call->finished)
		cmd_call_free(call);
	else
		call->detached = 1;
}
