/*
 * token.c: the bearer tokens of the HTTP API.
 *
 * A token is a name, scopes (publish, read, admin) and a secret shown
 * once, when it is made ("sippushctl token add"); the store keeps only
 * the secret's SHA-256.  The daemon keeps the tokens in memory (loaded
 * at start, reloaded after every change) and charges each request to
 * its token's bucket: http.rate_per_token a second, twice that as a
 * burst.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "sippushd.h"
#include "command.h"
#include "http.h"
#include "sha256.h"

#define TOKEN_SECRET_BYTES	24	/* 192 bits, 48 hex digits */
#define TOKEN_PREFIX		"sp_"

struct token {
	struct token	*next;
	char		 name[TOKEN_NAME_MAX + 1];
	char		 hash[65];
	unsigned	 scopes;
	int64_t		 created_at;
	int64_t		 tat;		/* rate: bucket full from then, us */
};

static const struct config	*token_cfg;
static struct token		*token_list;

static const char *const scope_names[] = { "publish", "read", "admin" };

/* "publish,read": 0 and the bits, or -1 for an unknown or empty one. */
int
token_scopes_parse(const char *s, unsigned *scopes)
{
	size_t	 n, i;

	*scopes = 0;
	while (*s) {
		n = strcspn(s, ",");
		for (i = 0; i < 3; i++)
			if (strlen(scope_names[i]) == n &&
			    strncmp(s, scope_names[i], n) == 0)
				break;
		if (i == 3)
			return -1;
		*scopes |= 1u << i;
		s += n;
		if (*s == ',')
			s++;
	}
	return *scopes ? 0 : -1;
}

void
token_scopes_format(unsigned scopes, char *out, size_t outlen)
{
	size_t	 i;

	*out = '\0';
	for (i = 0; i < 3; i++)
		if (scopes & (1u << i)) {
			if (*out)
				strncat(out, ",", outlen - strlen(out) - 1);
			strncat(out, scope_names[i], outlen - strlen(out) - 1);
		}
}

static void
token_clear(void)
{
	struct token	*t;

	while ((t = token_list) != NULL) {
		token_list = t->next;
		free(t);
	}
}

static int
token_add_row(const char *name, const char *hash, const char *scopes,
    int64_t created_at, void *arg)
{
	struct token	*t, ***tail = arg;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return -1;
	snprintf(t->name, sizeof(t->name), "%s", name);
	snprintf(t->hash, sizeof(t->hash), "%s", hash);
	if (token_scopes_parse(scopes, &t->scopes) == -1)
		log_warn("token: %s: bad scopes \"%s\" in the store: it gives "
		    "no access", name, scopes);
	t->created_at = created_at;
	**tail = t;
	*tail = &t->next;
	return 0;
}

/* (Re)load the tokens from the store; their rate buckets start full. */
static int
token_load(void)
{
	struct token	*old, *t, *o;
	struct token	**tail;
	int		 n;

	old = token_list;
	token_list = NULL;
	tail = &token_list;
	n = store_list_tokens(token_add_row, &tail);
	if (n == -1) {
		token_clear();
		token_list = old;
		return -1;
	}
	/* keep the buckets of the tokens that stay */
	for (t = token_list; t; t = t->next)
		for (o = old; o; o = o->next)
			if (strcmp(o->name, t->name) == 0)
				t->tat = o->tat;
	while ((o = old) != NULL) {
		old = o->next;
		free(o);
	}
	return n;
}

int
token_init(const struct config *cfg)
{
	token_cfg = cfg;
	return token_load() == -1 ? -1 : 0;
}

void
token_shutdown(void)
{
	token_clear();
}

/* The token whose secret this is, or NULL. */
const struct token *
token_check(const char *secret)
{
	struct token	*t;
	uint8_t		 d[SHA256_LEN];
	char		 hex[65];
	unsigned	 diff;
	int		 i;

	sha256(secret, strlen(secret), d);
	sha256_hex(d, SHA256_LEN, hex);
	for (t = token_list; t; t = t->next) {
		for (diff = 0, i = 0; i < 64; i++)
			diff |= (unsigned)(hex[i] ^ t->hash[i]);
		if (diff == 0)
			return t;
	}
	return NULL;
}

const char *
token_name(const struct token *t)
{
	return t->name;
}

unsigned
token_scopes(const struct token *t)
{
	return t->scopes;
}

/* Charge one request at now (us): 0, or the us to wait (refused). */
int64_t
token_charge(const struct token *ct, int64_t now)
{
	struct token	*t = (struct token *)ct;
	int64_t		 interval, tolerance, tat;

	if (token_cfg == NULL || token_cfg->http_rate == 0)
		return 0;
	interval = 1000000 / token_cfg->http_rate;
	tolerance = 2 * 1000000 - interval;
	tat = t->tat > now ? t->tat : now;
	if (tat - now > tolerance)
		return tat - now - tolerance;
	t->tat = tat + interval;
	return 0;
}

/* ---- sippushctl token add|del|list ---- */

static int
token_list_row(const char *name, const char *hash, const char *scopes,
    int64_t created_at, void *arg)
{
	struct buf	*out = arg;

	(void)hash;
	proto_put_kv(out, "name", name);
	proto_put_kv(out, "scopes", scopes);
	proto_put_kvi(out, "created_at", (long long)created_at);
	proto_end_record(out);
	return 0;
}

static int
token_is_named(const char *name, const char *hash, const char *scopes,
    int64_t created_at, void *arg)
{
	(void)hash;
	(void)scopes;
	(void)created_at;
	if (*(const char **)arg != NULL &&
	    strcmp(name, *(const char **)arg) == 0)
		*(const char **)arg = NULL;	/* found */
	return 0;
}

/*
 * token add name=NAME scopes=publish,read,admin | token del name=NAME |
 * token list.  add answers the secret, which nobody can read again.
 */
void
token_cmd(struct cmd_call *call, int argc, char **argv)
{
	const char	*sub = argc > 1 ? argv[1] : "";
	const char	*name = proto_get(argc, argv, "name");
	const char	*sv = proto_get(argc, argv, "scopes");
	const char	*found;
	struct buf	*out = &call->out;
	struct buf	 rows = { 0 };
	uint8_t		 raw[TOKEN_SECRET_BYTES], d[SHA256_LEN];
	char		 secret[sizeof(TOKEN_PREFIX) + 2 * TOKEN_SECRET_BYTES];
	char		 hash[65], scopes_s[32];
	unsigned	 scopes;
	int		 rc;

	if (strcmp(sub, "list") == 0) {
		if (store_list_tokens(token_list_row, &rows) == -1)
			proto_err(out, "store: %s", store_errmsg());
		else {
			buf_puts(out, "OK\n");
			if (rows.len)
				buf_append(out, rows.data, rows.len);
			buf_puts(out, ".\n");
		}
		buf_free(&rows);
		goto done;
	}
	if (strcmp(sub, "add") != 0 && strcmp(sub, "del") != 0) {
		proto_err(out, "token: expected add, del or list");
		goto done;
	}
	if (name == NULL || !clients_valid_id(name)) {
		proto_err(out, "token %s: \"%.64s\" is not a valid name (1-%d "
		    "of A-Z a-z 0-9 . _ -)", sub, name ? name : "",
		    TOKEN_NAME_MAX);
		goto done;
	}
	commit_drain();		/* writes below: no batch in flight */
	if (strcmp(sub, "del") == 0) {
		if ((rc = store_delete_token(name)) == -1)
			proto_err(out, "store: %s", store_errmsg());
		else if (rc == 0)
			proto_err(out, "no token %s", name);
		else {
			token_load();
			log_notice("token: %s revoked", name);
			buf_puts(out, "OK\n");
			proto_put_kv(out, "name", name);
			proto_end_record(out);
			buf_puts(out, ".\n");
		}
		goto done;
	}
	if (token_scopes_parse(sv ? sv : "", &scopes) == -1) {
		proto_err(out, "token add: scopes must be a comma-separated "
		    "list of publish, read and admin");
		goto done;
	}
	found = name;
	if (store_list_tokens(token_is_named, &found) == -1) {
		proto_err(out, "store: %s", store_errmsg());
		goto done;
	}
	if (found == NULL) {
		proto_err(out, "token add: a token %s exists (token del "
		    "first)", name);
		goto done;
	}
	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
		proto_err(out, "token add: no randomness");
		goto done;
	}
	memcpy(secret, TOKEN_PREFIX, strlen(TOKEN_PREFIX));
	sha256_hex(raw, sizeof(raw), secret + strlen(TOKEN_PREFIX));
	sha256(secret, strlen(secret), d);
	sha256_hex(d, SHA256_LEN, hash);
	token_scopes_format(scopes, scopes_s, sizeof(scopes_s));
	if ((rc = store_put_token(name, hash, scopes_s, sippushd_now())) ==
	    -1) {
		proto_err(out, "store: %s", store_errmsg());
		goto done;
	}
	if (rc == 1) {
		proto_err(out, "token add: a token %s exists (token del "
		    "first)", name);
		goto done;
	}
	token_load();
	log_notice("token: %s added (%s)", name, scopes_s);
	buf_puts(out, "OK\n");
	proto_put_kv(out, "name", name);
	proto_put_kv(out, "scopes", scopes_s);
	proto_put_kv(out, "token", secret);
	proto_end_record(out);
	buf_puts(out, ".\n");
done:
	explicit_bzero(raw, sizeof(raw));
	explicit_bzero(secret, sizeof(secret));
	cmd_done(call);
}
