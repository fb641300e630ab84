/*
 * fuzz_http.c: the HTTP API's request handling on arbitrary bytes, below
 * libmicrohttpd: each request of the input is built with http_req_new
 * (method, path, headers and query arguments, body) and answered by
 * http_req_run, the way src/http.c's MHD callback does, against a live
 * daemon core (client table, store in a temporary folder, group commit,
 * dispatcher on an nta agent bound to 127.0.0.1) and three tokens.
 *
 * The input holds up to FUZZ_REQS_MAX requests separated by a line
 * "%%"; each is
 *
 *   METHOD PATH[?name=value&...]
 *   Name: value            (headers, up to an empty line)
 *
 *   body
 *
 * Tokens: "Bearer fuzz-all" (publish, read, admin), "Bearer fuzz-pub"
 * (publish), "Bearer fuzz-read" (read).  A request that waits for a
 * commit is given a few turns of the loop; its answer, whenever it
 * comes, must have a status the API documents and, if it is JSON,
 * parse, with an "error" string on a 4xx or 5xx.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sofia-sip/nta.h>
#include <sofia-sip/su.h>
#include <sofia-sip/su_wait.h>

#include "fuzz.h"
#include "http.h"
#include "sha256.h"

#define FUZZ_REQS_MAX	4
#define FUZZ_HDRS_MAX	16
#define FUZZ_ARGS_MAX	16
#define FUZZ_TURNS	20	/* loop steps a waiting request is given */

static struct config	 fz_cfg;
static su_root_t	*fz_root;
static nta_agent_t	*fz_agent;

struct fuzz_kv {
	const char	*name;
	const char	*value;
};

struct fuzz_req {
	struct fuzz_kv	 hdr[FUZZ_HDRS_MAX];
	struct fuzz_kv	 arg[FUZZ_ARGS_MAX];
	size_t		 nhdr, narg;
};

static const char *
fuzz_lookup(void *arg, enum http_kind kind, const char *name)
{
	struct fuzz_req	*q = arg;
	size_t		 i;

	if (kind == HTTP_HEADER) {
		for (i = 0; i < q->nhdr; i++)
			if (strcasecmp(q->hdr[i].name, name) == 0)
				return q->hdr[i].value;
	} else {
		for (i = 0; i < q->narg; i++)
			if (strcmp(q->arg[i].name, name) == 0)
				return q->arg[i].value;
	}
	return NULL;
}

static void
fuzz_client(const char *id, const char *class, enum transport tr,
    int state, int64_t now)
{
	struct registration	 r;
	struct client		*c;
	char			 contact[128];

	snprintf(contact, sizeof(contact), "<sip:%s@127.0.0.1:9>", id);
	memset(&r, 0, sizeof(r));
	r.id = id;
	r.class = class;
	r.contact = contact;
	r.user_agent = "fuzz";
	r.address = "127.0.0.1";
	r.port = 9;		/* discard: nothing answers */
	r.transport = tr;
	r.now = now;
	r.expires = 600;
	if (clients_register(&r, &c) == -1)
		abort();
	c->state = (uint8_t)state;
}

static void
fuzz_token(const char *name, const char *secret, const char *scopes)
{
	struct store_batch	 b;
	struct token_row	 t;
	uint8_t			 d[SHA256_LEN];
	char			 hex[65];

	sha256(secret, strlen(secret), d);
	sha256_hex(d, SHA256_LEN, hex);
	memset(&t, 0, sizeof(t));
	t.op = STORE_PUT;
	t.name = name;
	t.hash = hex;
	t.scopes = scopes;
	t.created_at = clock_now();
	store_batch_init(&b);
	if (store_batch_token(&b, &t) != 0 || store_write(&b) != 0)
		abort();
	store_batch_free(&b);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char	 err[512] = "", path[256];
	int64_t	 now = clock_now();

	(void)argc;
	(void)argv;
	fuzz_log_init();
	config_defaults(&fz_cfg);
	fz_cfg.dp_max_pending = 4;
	fz_cfg.dp_max_in_flight = 8;
	fz_cfg.dp_retain = 1;
	fz_cfg.db_sync_full = 0;
	fz_cfg.db_commit_delay = 0;
	fz_cfg.http_enable = 0;		/* no listener: http_init only
					   takes the configuration */
	fz_cfg.http_rate = 0;		/* no 429 at fuzzing speed */
	snprintf(path, sizeof(path), "%s/fuzz.db", fuzz_tmpdir());
	if (su_init() != 0 || (fz_root = su_root_create(NULL)) == NULL ||
	    (fz_agent = nta_agent_create(fz_root,
	    URL_STRING_MAKE("sip:127.0.0.1:0;transport=udp"), NULL, NULL,
	    NTATAG_UA(0), TAG_END())) == NULL ||
	    clients_init() == -1 || auth_init(&fz_cfg, fz_agent) == -1 ||
	    store_open(NULL, path, 0, err, sizeof(err)) == -1 ||
	    commit_init(&fz_cfg, fz_root) == -1 ||
	    dispatch_init(&fz_cfg, fz_root, fz_agent) == -1 ||
	    http_init(&fz_cfg, fz_root, err, sizeof(err)) == -1) {
		fprintf(stderr, "fuzz_http: cannot set up: %s\n", err);
		abort();
	}
	fuzz_token("all", "fuzz-all", "publish,read,admin");
	fuzz_token("pub", "fuzz-pub", "publish");
	fuzz_token("read", "fuzz-read", "read");
	if (token_init(&fz_cfg) == -1)
		abort();
	fuzz_client("a1", "A", TRANSPORT_UDP, CLIENT_ONLINE, now);
	fuzz_client("a2", "A", TRANSPORT_UDP, CLIENT_OFFLINE, now);
	fuzz_client("b1", "B", TRANSPORT_TCP, CLIENT_EXPIRED, now);
	fuzz_client("b-2.x_y", "B.c-d_e", TRANSPORT_TCP, CLIENT_UNREGISTERED,
	    now);
	if (commit_flush() == -1)
		abort();
	return 0;
}

/* An answer the API may give: a documented status; JSON that parses,
 * an object with an "error" string from 400 on. */
static void
fuzz_check(int status, const char *ctype, const char *text, size_t len)
{
	static const int ok[] = { 200, 201, 400, 401, 403, 404, 405, 409,
	    413, 415, 429, 503 };
	json_t	*j;
	size_t	 i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]) && ok[i] != status; i++)
		;
	if (i == sizeof(ok) / sizeof(ok[0]) || ctype == NULL || text == NULL)
		__builtin_trap();
	if (strcmp(ctype, "application/json") != 0)
		return;
	if ((j = json_loadb(text, len, 0, NULL)) == NULL)
		__builtin_trap();
	if (status >= 400 && !json_is_string(json_object_get(j, "error")))
		__builtin_trap();
	json_decref(j);
}

/* Split "name=value&..." (NUL-terminated, cut in place) into q->arg. */
static void
fuzz_args(char *s, struct fuzz_req *q)
{
	char	*a, *eq;

	while (s && q->narg < FUZZ_ARGS_MAX) {
		a = s;
		if ((s = strchr(s, '&')) != NULL)
			*s++ = '\0';
		if (*a == '\0')
			continue;
		if ((eq = strchr(a, '=')) != NULL)
			*eq++ = '\0';
		q->arg[q->narg].name = a;
		q->arg[q->narg++].value = eq ? eq : "";
	}
}

/* One request in [p, end) (end is writable: a NUL is put there). */
static void
fuzz_one(char *p, char *end)
{
	struct fuzz_req	 q;
	struct http_req	*r;
	char		*line, *nl, *sp, *method, *url, *qs, *colon;
	const char	*ctype, *text;
	size_t		 len;
	int		 status, i;

	memset(&q, 0, sizeof(q));
	*end = '\0';
	line = p;
	if ((nl = strchr(line, '\n')) == NULL)
		nl = end;
	*nl = '\0';
	if ((sp = strchr(line, ' ')) == NULL)
		return;
	*sp = '\0';
	method = line;
	url = sp + 1;
	if ((qs = strchr(url, '?')) != NULL) {
		*qs++ = '\0';
		fuzz_args(qs, &q);
	}
	p = nl < end ? nl + 1 : end;
	/* headers up to an empty line, then the body */
	while (p < end) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		*nl = '\0';
		if (nl > p && nl[-1] == '\r')
			nl[-1] = '\0';
		if (*p == '\0') {
			p = nl < end ? nl + 1 : end;
			break;
		}
		if ((colon = strchr(p, ':')) != NULL &&
		    q.nhdr < FUZZ_HDRS_MAX) {
			*colon++ = '\0';
			while (*colon == ' ')
				colon++;
			q.hdr[q.nhdr].name = p;
			q.hdr[q.nhdr++].value = colon;
		}
		p = nl < end ? nl + 1 : end;
	}
	if ((r = http_req_new(method, url, fuzz_lookup, &q)) == NULL)
		return;
	if (http_req_append(r, p, (size_t)(end - p)) == -1 ||
	    http_req_run(r) == -1) {
		http_req_free(r);
		return;
	}
	for (i = 0; i < FUZZ_TURNS &&
	    http_req_answer(r, &ctype, &text, &len) == 0; i++)
		su_root_step(fz_root, 1);
	if ((status = http_req_answer(r, &ctype, &text, &len)) != 0) {
		log_debug("fuzz: %s %s: %d %.200s", method, url, status,
		    text);
		fuzz_check(status, ctype, text, len);
	} else
		log_debug("fuzz: %s %s: no answer", method, url);
	http_req_free(r);	/* a ticket still out is cut from it */
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*in, *p, *sep, *end;
	int	 n;

	if ((in = malloc(size + 1)) == NULL)
		return 0;
	memcpy(in, data, size);
	in[size] = '\0';
	end = in + size;
	for (p = in, n = 0; p < end && n < FUZZ_REQS_MAX; n++) {
		if ((sep = strstr(p, "\n%%\n")) == NULL)
			sep = end;
		fuzz_one(p, sep);
		p = sep < end ? sep + 4 : end;
	}
	su_root_step(fz_root, 0);	/* the commit, the dispatcher's tick */
	free(in);
	return 0;
}
