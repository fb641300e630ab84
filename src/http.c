/*
 * http.c: the HTTP API's server, libmicrohttpd on the daemon's own
 * event loop.
 *
 * MHD runs with MHD_USE_EPOLL and no thread of its own: its epoll
 * descriptor is registered with su_root, MHD_run() is called when it is
 * readable, and an su_timer follows MHD_get_timeout() (idle connections
 * time out).  Everything, MHD's callbacks included, runs on the loop's
 * thread, so the routes call the command layer directly.
 *
 * A request's body is collected up to http.max_body bytes (more: 413,
 * and the connection is closed).  When it is whole, the bearer token is
 * checked (401, 403, 429) and the route runs (http_api.c).  A route that
 * waits for a commit takes a ticket (http_wait); the connection is then
 * suspended (MHD_suspend_connection) and resumed by http_reply from
 * the operation's done callback.  If the daemon stops first, the ticket
 * is cut from its request (which is answered 503) and freed when the
 * operation ends, as cmd_detach does for the control socket.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>
#include <sofia-sip/su_wait.h>

#include "sippushd.h"
#include "http.h"

struct http_ticket {
	struct http_req	*req;		/* NULL: the request has gone */
};

struct http_hdr {
	struct http_hdr	*next;
	char		*name;
	char		*value;
};

struct http_req {
	struct http_req		*next, **prevp;	/* waiting requests */
	struct MHD_Connection	*conn;		/* NULL: not from MHD */
	http_lookup_fn		 lookup;	/* headers, query arguments */
	void			*lookup_arg;
	const char		*method;
	const char		*url;
	struct buf		 body;
	int			 too_big;
	int			 started;	/* the route has run */
	int			 suspended;
	int			 answered;	/* status and reply are set */
	int			 status;
	char			*reply;
	size_t			 reply_len;
	const char		*ctype;
	struct http_hdr		*hdrs;
	struct http_ticket	*ticket;
	const struct token	*token;
};

static const struct config	*http_cfg;
static su_root_t		*http_root;
static struct MHD_Daemon	*http_daemon;
static su_wait_t		 http_wait_ev[1];
static int			 http_index = -1;
static su_timer_t		*http_timer;
static struct http_req		*http_waiting;	/* suspended requests */
static int			 http_stopping;

static void http_schedule(void);
static void http_route(struct http_req *);
static void http_tick(su_root_magic_t *, su_timer_t *, su_timer_arg_t *);

const char *
http_method(const struct http_req *r)
{
	return r->method;
}

const char *
http_header(const struct http_req *r, const char *name)
{
	return r->lookup(r->lookup_arg, HTTP_HEADER, name);
}

const char *
http_query(const struct http_req *r, const char *name)
{
	return r->lookup(r->lookup_arg, HTTP_QUERY, name);
}

/* The lookup of a request that came through MHD (arg: the connection). */
static const char *
http_mhd_lookup(void *arg, enum http_kind kind, const char *name)
{
	return MHD_lookup_connection_value(arg, kind == HTTP_HEADER ?
	    MHD_HEADER_KIND : MHD_GET_ARGUMENT_KIND, name);
}

const char *
http_body(const struct http_req *r, size_t *len)
{
	*len = r->body.len;
	return r->body.len ? r->body.data : "";
}

const char *
http_token_name(const struct http_req *r)
{
	return r->token ? token_name(r->token) : "";
}

/* Is the API ready for writes (the store not failing)? */
int
http_ready(void)
{
	unsigned	 n;

	return http_daemon != NULL && !http_stopping && store_failing(&n) == 0;
}

void
http_header_add(struct http_req *r, const char *name, const char *value)
{
	struct http_hdr	*h;

	if ((h = calloc(1, sizeof(*h))) == NULL ||
	    (h->name = strdup(name)) == NULL ||
	    (h->value = strdup(value)) == NULL) {
		if (h)
			free(h->name);
		free(h);
		return;
	}
	h->next = r->hdrs;
	r->hdrs = h;
}

/* Set the reply (taking text, malloc'd) and wake the connection up if
 * it waits.  A second reply to one request is ignored. */
static void
http_answer(struct http_req *r, int status, const char *ctype, char *text,
    size_t len)
{
	if (r->answered) {
		free(text);
		return;
	}
	r->answered = 1;
	r->status = status;
	r->ctype = ctype;
	r->reply = text;
	r->reply_len = len;
	if (r->suspended) {
		r->suspended = 0;
		*r->prevp = r->next;
		if (r->next)
			r->next->prevp = r->prevp;
		if (r->conn != NULL)
			MHD_resume_connection(r->conn);
		http_schedule();
	}
}

/* Answer with the JSON document j (taken: freed here). */
void
http_reply(struct http_req *r, int status, json_t *j)
{
	char	*s = NULL;

	if (j != NULL)
		s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (s == NULL) {
		s = strdup("{\"error\":\"out of memory\","
		    "\"code\":\"unavailable\"}");
		status = 503;
	}
	http_answer(r, status, "application/json", s, s ? strlen(s) : 0);
}

void
http_reply_text(struct http_req *r, int status, const char *ctype,
    const char *text, size_t len)
{
	char	*s;

	if ((s = malloc(len + 1)) == NULL) {
		http_reply(r, 503, NULL);
		return;
	}
	memcpy(s, text, len);
	s[len] = '\0';
	http_answer(r, status, ctype, s, len);
}

/* The "code" of an error object: a word for the status, the same the
 * operations' codes have (op_code_name) where one fits. */
const char *
http_status_code(int status)
{
	switch (status) {
	case 400:
		return op_code_name(OP_BAD_REQUEST);
	case 401:
		return "unauthorized";
	case 403:
		return "forbidden";
	case 404:
		return op_code_name(OP_NOT_FOUND);
	case 405:
		return "method_not_allowed";
	case 409:
		return op_code_name(OP_CONFLICT);
	case 413:
		return op_code_name(OP_TOO_LARGE);
	case 415:
		return "unsupported_media_type";
	case 429:
		return op_code_name(OP_TOO_MANY);
	case 503:
		return op_code_name(OP_UNAVAILABLE);
	default:
		return op_code_name(OP_INTERNAL);
	}
}

/* Answer {"error": "...", "code": "..."} with status. */
void
http_error(struct http_req *r, int status, const char *fmt, ...)
{
	va_list	 ap;
	char	 msg[OP_ERROR_MAX];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	http_reply(r, status, json_pack("{s:s, s:s}", "error", msg, "code",
	    http_status_code(status)));
}

/* The route will answer later: a ticket for the operation's done
 * argument, or NULL (out of memory: the request is answered 503). */
struct http_ticket *
http_wait(struct http_req *r)
{
	struct http_ticket	*t;

	if ((t = calloc(1, sizeof(*t))) == NULL) {
		http_error(r, 503, "out of memory");
		return NULL;
	}
	t->req = r;
	r->ticket = t;
	return t;
}

/* In a done callback: the ticket's request (to answer with http_reply),
 * or NULL if it has gone.  The ticket is freed. */
struct http_req *
http_ticket_take(struct http_ticket *t)
{
	struct http_req	*r = t->req;

	if (r != NULL)
		r->ticket = NULL;
	free(t);
	return r;
}

/*
 * A request of method on url (the path, without the query), its headers
 * and query arguments read through lookup(arg, ...); the strings must
 * outlive it.  Give it its body with http_req_append, answer it with
 * http_req_run, read the answer with http_req_answer and free it with
 * http_req_free.  The MHD callback goes this way, and so can a test or
 * a fuzzer, without MHD.  NULL: out of memory.
 */
struct http_req *
http_req_new(const char *method, const char *url, http_lookup_fn lookup,
    void *arg)
{
	struct http_req	*r;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	r->method = method;
	r->url = url;
	r->lookup = lookup;
	r->lookup_arg = arg;
	return r;
}

/* Append to the body: 0, or -1 out of memory. */
int
http_req_append(struct http_req *r, const char *data, size_t len)
{
	return buf_append(&r->body, data, len);
}

/* The body is whole: route the request.  It is answered now, or later
 * if a route took a ticket (http_wait).  0, or -1 out of memory. */
int
http_req_run(struct http_req *r)
{
	r->started = 1;
	if (buf_reserve(&r->body, 1) == -1)
		return -1;
	r->body.data[r->body.len] = '\0';
	if (http_stopping)
		http_error(r, 503, "sippushd is stopping");
	else
		http_route(r);
	return 0;
}

/* The status of the answer (0: none yet), its content type and text. */
int
http_req_answer(const struct http_req *r, const char **ctype,
    const char **text, size_t *len)
{
	if (!r->answered)
		return 0;
	*ctype = r->ctype;
	*text = r->reply;
	*len = r->reply_len;
	return r->status;
}

void
http_req_free(struct http_req *r)
{
	struct http_hdr	*h;

	if (r->ticket != NULL)
		r->ticket->req = NULL;	/* freed by http_ticket_take */
	if (r->suspended) {
		*r->prevp = r->next;
		if (r->next)
			r->next->prevp = r->prevp;
	}
	while ((h = r->hdrs) != NULL) {
		r->hdrs = h->next;
		free(h->name);
		free(h->value);
		free(h);
	}
	buf_free(&r->body);
	free(r->reply);
	free(r);
}

static void
http_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode code)
{
	(void)cls;
	(void)conn;
	(void)code;
	if (*con_cls != NULL)
		http_req_free(*con_cls);
	*con_cls = NULL;
}

/* Queue the reply that was set. */
static enum MHD_Result
http_send(struct http_req *r)
{
	struct MHD_Response	*resp;
	struct http_hdr		*h;
	enum MHD_Result		 rc;

	metrics_http(r->status);
	resp = MHD_create_response_from_buffer(r->reply_len, r->reply,
	    MHD_RESPMEM_MUST_COPY);
	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->ctype);
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	for (h = r->hdrs; h; h = h->next)
		MHD_add_response_header(resp, h->name, h->value);
	if (r->too_big)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION,
		    "close");
	rc = MHD_queue_response(r->conn, (unsigned)r->status, resp);
	MHD_destroy_response(resp);
	return rc;
}

/* "Bearer SECRET": the token, or an answer 401/403/429. */
static int
http_authorize(struct http_req *r, unsigned scope)
{
	const char	*v = http_header(r, MHD_HTTP_HEADER_AUTHORIZATION);
	char		 retry[32];
	int64_t		 wait;

	if (scope == 0)
		return 0;
	if (v == NULL || strncasecmp(v, "Bearer ", 7) != 0) {
		http_header_add(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
		    "Bearer realm=\"sippush\"");
		http_error(r, 401, "a bearer token is needed "
		    "(Authorization: Bearer TOKEN; sippushctl token add)");
		return -1;
	}
	v += 7;
	while (*v == ' ')
		v++;
	if ((r->token = token_check(v)) == NULL) {
		http_header_add(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
		    "Bearer realm=\"sippush\", error=\"invalid_token\"");
		http_error(r, 401, "unknown or revoked token");
		return -1;
	}
	if ((token_scopes(r->token) & scope) == 0) {
		http_error(r, 403, "token %s lacks the %s scope",
		    token_name(r->token), scope == SCOPE_PUBLISH ? "publish" :
		    scope == SCOPE_READ ? "read" : "admin");
		return -1;
	}
	if ((wait = token_charge(r->token, clock_mono_us())) > 0) {
		snprintf(retry, sizeof(retry), "%lld",
		    (long long)((wait + 999999) / 1000000));
		http_header_add(r, MHD_HTTP_HEADER_RETRY_AFTER, retry);
		http_error(r, 429, "token %s: over http.rate_per_token (%d "
		    "requests a second)", token_name(r->token),
		    http_cfg->http_rate);
		return -1;
	}
	return 0;
}

static void
http_route(struct http_req *r)
{
	const struct http_route	*rt;
	char			 param[HTTP_ROUTE_PARAMS][128];
	char			*pv[HTTP_ROUTE_PARAMS];
	const struct http_static	*st;
	int			 found, i;

	/* the dashboard's page and files: no token (the page asks for one) */
	if (strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0)
		for (st = http_static; st->path != NULL; st++)
			if (strcmp(st->path, r->url) == 0) {
				http_reply_text(r, 200, st->ctype, st->data,
				    st->len);
				return;
			}
	if ((rt = http_api_match(r->method, r->url, param, &found)) == NULL) {
		if (found) {
			http_error(r, 405, "%s is not allowed on %.200s",
			    r->method, r->url);
			return;
		}
		http_error(r, 404, "no such resource: %.200s", r->url);
		return;
	}
	if (http_authorize(r, rt->scope) == -1)
		return;
	for (i = 0; i < HTTP_ROUTE_PARAMS; i++)
		pv[i] = param[i];
	rt->run(r, pv);
}

static enum MHD_Result
http_access(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_size, void **con_cls)
{
	struct http_req	*r = *con_cls;
	const char	*cl;
	char		*end;
	unsigned long long n;

	(void)cls;
	(void)version;
	if (r == NULL) {
		if ((r = http_req_new(method, url, http_mhd_lookup, conn)) ==
		    NULL)
			return MHD_NO;
		r->conn = conn;
		*con_cls = r;
		cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
		    MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl != NULL) {
			errno = 0;
			n = strtoull(cl, &end, 10);
			if (errno == 0 && *end == '\0' &&
			    n > (unsigned long long)http_cfg->http_max_body) {
				r->too_big = 1;
				http_error(r, 413, "the body is %llu bytes, "
				    "over http.max_body (%d)", n,
				    http_cfg->http_max_body);
				return http_send(r);
			}
		}
		return MHD_YES;
	}
	if (*upload_size > 0) {
		if (!r->too_big && r->body.len + *upload_size >
		    (size_t)http_cfg->http_max_body) {
			r->too_big = 1;
			http_error(r, 413, "the body is over http.max_body "
			    "(%d bytes)", http_cfg->http_max_body);
		}
		if (!r->too_big && http_req_append(r, upload_data,
		    *upload_size) == -1)
			return MHD_NO;
		*upload_size = 0;
		return MHD_YES;
	}
	if (!r->started && !r->answered && http_req_run(r) == -1)
		return MHD_NO;
	if (r->answered)
		return http_send(r);
	/* a ticket is out: wait for http_reply */
	r->suspended = 1;
	r->next = http_waiting;
	r->prevp = &http_waiting;
	if (http_waiting)
		http_waiting->prevp = &r->next;
	http_waiting = r;
	MHD_suspend_connection(conn);
	return MHD_YES;
}

static unsigned
http_connections(void)
{
	const union MHD_DaemonInfo	*info;

	info = MHD_get_daemon_info(http_daemon,
	    MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
	return info ? info->num_connections : 0;
}

static void
http_run(void)
{
	MHD_UNSIGNED_LONG_LONG	 ms;
	unsigned		 before;

	if (http_daemon == NULL)
		return;
	/* MHD takes its listener out of its epoll set at
	 * http.max_connections and puts it back only at the start of the
	 * next run: run again when connections closed, or a client waiting
	 * in the backlog would wait for ever */
	before = http_connections();
	MHD_run(http_daemon);
	if (http_connections() < before)
		MHD_run(http_daemon);
	if (MHD_get_timeout(http_daemon, &ms) == MHD_YES) {
		if (ms > 3600 * 1000)
			ms = 3600 * 1000;
		su_timer_set_interval(http_timer, http_tick, NULL,
		    (su_duration_t)ms);
	} else
		su_timer_set_interval(http_timer, http_tick, NULL, 3600 * 1000);
}

static int
http_event(su_root_magic_t *magic, su_wait_t *w, su_wakeup_arg_t *arg)
{
	(void)magic;
	(void)arg;
	su_wait_events(w, http_wait_ev[0].fd);
	http_run();
	return 0;
}

static void
http_tick(su_root_magic_t *magic, su_timer_t *t, su_timer_arg_t *arg)
{
	(void)magic;
	(void)t;
	(void)arg;
	http_run();
}

/* MHD is run from the loop soon (after a resume). */
static void
http_schedule(void)
{
	if (http_timer != NULL)
		su_timer_set_interval(http_timer, http_tick, NULL, 0);
}

static void
http_log(void *cls, const char *fmt, va_list ap)
{
	char	 msg[512];
	size_t	 n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && msg[n - 1] == '\n')
		msg[--n] = '\0';
	log_info("http: %s", msg);
}

static char *
http_read_file(const char *path, char *err, size_t errlen)
{
	FILE	*fp;
	char	*s = NULL;
	long	 n;

	if ((fp = fopen(path, "r")) == NULL ||
	    fseek(fp, 0, SEEK_END) == -1 || (n = ftell(fp)) < 0 ||
	    fseek(fp, 0, SEEK_SET) == -1 || (s = malloc((size_t)n + 1)) ==
	    NULL || fread(s, 1, (size_t)n, fp) != (size_t)n) {
		snprintf(err, errlen, "http: cannot read %s: %s", path,
		    strerror(errno ? errno : EIO));
		free(s);
		s = NULL;
	} else
		s[n] = '\0';
	if (fp)
		fclose(fp);
	return s;
}

/*
 * Start the HTTP API if http.enable is set: listen on http.address and
 * http.port, on the loop of root.  0, or -1 with err.
 */
int
http_init(const struct config *cfg, su_root_t *root, char *err,
    size_t errlen)
{
	struct sockaddr_storage	 ss;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&ss;
	const union MHD_DaemonInfo *info;
	unsigned		 flags;
	char			*cert = NULL, *key = NULL;
	int			 fd;

	http_cfg = cfg;
	http_root = root;
	if (!cfg->http_enable)
		return 0;
	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, cfg->http_address, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)cfg->http_port);
	} else if (inet_pton(AF_INET6, cfg->http_address, &sin6->sin6_addr) ==
	    1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)cfg->http_port);
	} else {
		snprintf(err, errlen, "http.address: \"%s\" is not a numeric "
		    "IPv4 or IPv6 address", cfg->http_address);
		return -1;
	}
	flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	if (sin6->sin6_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (cfg->http_cert != NULL) {
		if ((cert = http_read_file(cfg->http_cert, err, errlen)) ==
		    NULL || (key = http_read_file(cfg->http_key, err,
		    errlen)) == NULL) {
			free(cert);
			return -1;
		}
		flags |= MHD_USE_TLS;
	}
	http_daemon = MHD_start_daemon(flags, 0, NULL, NULL, http_access,
	    NULL,
	    MHD_OPTION_EXTERNAL_LOGGER, http_log, NULL,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->http_max_connections,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->http_timeout,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)64 * 1024,
	    MHD_OPTION_NOTIFY_COMPLETED, http_completed, NULL,
	    cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, cert,
	    MHD_OPTION_HTTPS_MEM_KEY, key,
	    MHD_OPTION_END);
	free(cert);
	free(key);
	if (http_daemon == NULL) {
		snprintf(err, errlen, "http: cannot listen on %s port %d "
		    "(in use, or a bad certificate or key)", cfg->http_address,
		    cfg->http_port);
		return -1;
	}
	info = MHD_get_daemon_info(http_daemon, MHD_DAEMON_INFO_EPOLL_FD);
	fd = info ? info->epoll_fd : -1;
	if (fd < 0 || su_wait_create(http_wait_ev, fd, SU_WAIT_IN) == -1 ||
	    (http_index = su_root_register(root, http_wait_ev, http_event,
	    NULL, 0)) == -1 ||
	    (http_timer = su_timer_create(su_root_task(root), 0)) == NULL) {
		snprintf(err, errlen, "http: cannot join the event loop");
		MHD_stop_daemon(http_daemon);
		http_daemon = NULL;
		return -1;
	}
	su_timer_set_interval(http_timer, http_tick, NULL, 0);
	log_notice("http: listening on %s port %d%s", cfg->http_address,
	    cfg->http_port, cert ? " (TLS)" : "");
	return 0;
}

/* Stop: waiting requests are answered 503 (their operations go on and
 * free their tickets), then the listener and connections close. */
void
http_shutdown(void)
{
	int	 i;

	if (http_daemon == NULL)
		return;
	http_stopping = 1;
	while (http_waiting != NULL) {
		if (http_waiting->ticket != NULL) {
			http_waiting->ticket->req = NULL;
			http_waiting->ticket = NULL;
		}
		http_error(http_waiting, 503, "sippushd is stopping");
	}
	for (i = 0; i < 3; i++)
		MHD_run(http_daemon);
	su_root_deregister(http_root, http_index);
	http_index = -1;
	MHD_stop_daemon(http_daemon);
	http_daemon = NULL;
	su_timer_destroy(http_timer);
	http_timer = NULL;
	http_api_shutdown();
}
