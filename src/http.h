/*
 * http.h: the HTTP API's pieces, shared by http.c (the server on the
 * event loop), http_api.c (routes and JSON), token.c (bearer tokens)
 * and metrics.c (/metrics).
 *
 * A request is answered once, by http_reply(), now or later: a route
 * that waits for an operation of the command layer (a commit, a writer
 * job) takes a ticket with http_wait() and hands it to the operation as
 * its done argument; the connection is suspended until the reply comes.
 */
#ifndef SIPPUSH_HTTP_H
#define SIPPUSH_HTTP_H

#include <jansson.h>

#include "sippushd.h"

/* token scopes */
#define SCOPE_PUBLISH	0x01
#define SCOPE_READ	0x02
#define SCOPE_ADMIN	0x04

#define HTTP_ROUTE_PARAMS	2	/* {id} in a path, at most */

struct http_req;
struct http_ticket;

/* ---- http.c ---- */

/* How a request's headers and query arguments are read: the value of
 * name, or NULL. */
enum http_kind { HTTP_HEADER, HTTP_QUERY };
typedef const char *(*http_lookup_fn)(void *arg, enum http_kind,
		    const char *name);

struct http_req	*http_req_new(const char *method, const char *url,
		    http_lookup_fn, void *arg);
int		 http_req_append(struct http_req *, const char *, size_t);
int		 http_req_run(struct http_req *);
int		 http_req_answer(const struct http_req *, const char **ctype,
		    const char **text, size_t *len);
void		 http_req_free(struct http_req *);

const char	*http_method(const struct http_req *);
const char	*http_header(const struct http_req *, const char *name);
const char	*http_query(const struct http_req *, const char *name);
const char	*http_body(const struct http_req *, size_t *len);
const char	*http_token_name(const struct http_req *);
void		 http_reply(struct http_req *, int status, json_t *);
void		 http_reply_text(struct http_req *, int status,
		    const char *ctype, const char *, size_t);
const char	*http_status_code(int status);
void		 http_error(struct http_req *, int status, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
void		 http_header_add(struct http_req *, const char *name,
		    const char *value);
struct http_ticket *http_wait(struct http_req *);
struct http_req	*http_ticket_take(struct http_ticket *);
int		 http_ready(void);

/* ---- http_api.c ---- */

struct http_route {
	const char	*method;
	const char	*path;		/* "/v1/messages/{id}" */
	unsigned	 scope;		/* 0: no token needed */
	void		(*run)(struct http_req *, char **param);
};

const struct http_route	*http_api_routes(size_t *n);
const struct http_route	*http_api_match(const char *method, const char *url,
			    char param[HTTP_ROUTE_PARAMS][128], int *path_found);
int	 http_api_parse_publish(const char *body, size_t len, int max_ttl,
	    struct publish_req *, struct publish_sel **sel, json_t **keep,
	    char *error, size_t errlen);
int	 http_api_status(enum op_code);
#define HTTP_CURSOR_MAX	(16 + MESSAGE_ID_LEN + 1)
int	 http_api_cursor_parse(const char *, struct message_pos *);
void	 http_api_cursor_format(const struct message_info *,
	    char out[HTTP_CURSOR_MAX]);
void	 http_api_shutdown(void);
extern const char http_openapi_json[];	/* openapi.c, generated */

/* ---- web.c (generated from web/ by scripts/web2c.sh) ---- */

/* the dashboard's files, served without a token; ends with a NULL path */
struct http_static {
	const char	*path;
	const char	*ctype;
	const char	*data;
	size_t		 len;
};
extern const struct http_static http_static[];

/* ---- token.c ---- */

#define TOKEN_NAME_MAX	64

struct token;
const struct token *token_check(const char *secret);
const char *token_name(const struct token *);
unsigned token_scopes(const struct token *);
int64_t	 token_charge(const struct token *, int64_t now_us);
int	 token_scopes_parse(const char *, unsigned *);
void	 token_scopes_format(unsigned, char *out, size_t outlen);

/* ---- metrics.c ---- */

void	 metrics_http(int status);
void	 metrics_render(struct buf *);

#endif
