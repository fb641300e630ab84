/*
 * token.c: the bearer tokens of the HTTP API.
 *
 * A token is a name, scopes (publish, read, admin) and a secret shown
 * once, when it is made ("sippushctl token add"); the store keeps only
 * the secret's SHA-256.  The daemon keeps the tokens in memory (loaded
 * at start; a change is a writer job whose completion updates them, as
 * auth.c does with users), so that checking a request reads no
 * database, and charges each request to
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

/* The token called name, or NULL. */
static struct token *
token_find(const char *name)
{
	struct token	*t;

	for (t = token_list; t; t = t->next)
		if (strcmp(t->name, name) == 0)
			return t;
	return NULL;
}

/* Make the tokens in memory say what a committed row says (kept sorted
 * by name); a new token's bucket starts full. 0, or -1 when memory is
 * short. */
static int
token_apply(const struct token_row *r)
{
	struct token	*t, **pp;

	for (pp = &token_list; (t = *pp) != NULL &&
	    strcmp(t->name, r->name) < 0; pp = &t->next)
		;
	if (r->op == STORE_DELETE) {
		if (t != NULL && strcmp(t->name, r->name) == 0) {
			*pp = t->next;
			free(t);
		}
		return 0;
	}
	if (t == NULL || strcmp(t->name, r->name) != 0) {
		if ((t = calloc(1, sizeof(*t))) == NULL)
			return -1;
		t->next = *pp;
		*pp = t;
	}
	snprintf(t->name, sizeof(t->name), "%s", r->name);
	snprintf(t->hash, sizeof(t->hash), "%s", r->hash);
	if (strlen(r->hash) != 64)
		t->hash[0] = '\0';	/* never matches */
	if (token_scopes_parse(r->scopes, &t->scopes) == -1) {
		log_warn("token: %s: bad scopes \"%s\" in the store: it gives "
		    "no access", r->name, r->scopes);
		t->scopes = 0;
	}
	t->created_at = r->created_at;
	return 0;
}

static int
token_load_one(const struct token_row *r, void *arg)
{
	(void)arg;
	return token_apply(r);
}

/*
 * Read the tokens from the store into memory: at start, before the
 * writer runs (afterwards they change with the commits of token add and
 * del, so that checking a request's token reads no database). The
 * number of tokens, or -1.
 */
int
token_init(const struct config *cfg)
{
	int	 n;

	token_cfg = cfg;
	token_clear();
	if ((n = store_load_tokens(token_load_one, NULL)) == -1)
		token_clear();
	return n;
}

/* The tokens as another node changed them (cluster): memory says what
 * the n rows say (their rate buckets start full). 0, or -1 when memory
 * is short. */
int
token_replace(const struct token_row *v, size_t n)
{
	size_t	 i;
	int	 rv = 0;

	token_clear();
	for (i = 0; i < n; i++)
		if (token_apply(&v[i]) == -1)
			rv = -1;
	return rv;
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

/* A change of tokens the writer commits; the copy in memory follows. */
struct token_change {
	struct commit_job	 job;
	struct store_batch	 rows;
	struct cmd_call		*call;
	int			 rv;
	char			 err[OP_ERROR_MAX - 16];
	char			 secret[sizeof(TOKEN_PREFIX) +
				    2 * TOKEN_SECRET_BYTES];
};

/* On the writer. */
static void
token_change_run(struct commit_job *j)
{
	struct token_change	*ch = (struct token_change *)j;

	if ((ch->rv = store_write(&ch->rows)) == -1)
		snprintf(ch->err, sizeof(ch->err), "%s", store_errmsg());
}

/* Committed (or not): bring the tokens in memory up to date, answer. */
static void
token_change_done(struct commit_job *j)
{
	struct token_change	*ch = (struct token_change *)j;
	const struct token_row	*r = &ch->rows.tokens[0];
	struct buf		*out = &ch->call->out;

	if (j->failed)
		proto_err(out, "store: out of memory");
	else if (ch->rv == -1 && r->op == STORE_PUT &&
	    token_find(r->name) != NULL)
		/* another add of the name was committed first */
		proto_err(out, "token add: a token %s exists (token del "
		    "first)", r->name);
	else if (ch->rv == -1)
		proto_err(out, "store: %s", ch->err);
	else {
		if (token_apply(r) == -1)
			log_error("token: out of memory: token %s is stored "
			    "but not in memory until a restart", r->name);
		buf_puts(out, "OK\n");
		proto_put_kv(out, "name", r->name);
		if (r->op == STORE_DELETE)
			log_notice("token: %s revoked", r->name);
		else {
			log_notice("token: %s added (%s)", r->name,
			    r->scopes);
			proto_put_kv(out, "scopes", r->scopes);
			proto_put_kv(out, "token", ch->secret);
		}
		proto_end_record(out);
		buf_puts(out, ".\n");
	}
	explicit_bzero(ch->secret, sizeof(ch->secret));
	cmd_done(ch->call);
	store_batch_free(&ch->rows);
	free(ch);
}

/*
 * token add name=NAME scopes=publish,read,admin | token del name=NAME |
 * token list.  add answers the secret, which nobody can read again.
 * list answers from memory; add and del are writer jobs, answered once
 * committed.
 */
void
token_cmd(struct cmd_call *call, int argc, char **argv)
{
	const char		*sub = argc > 1 ? argv[1] : "";
	const char		*name = proto_get(argc, argv, "name");
	const char		*sv = proto_get(argc, argv, "scopes");
	struct buf		*out = &call->out;
	struct token_change	*ch = NULL;
	struct token_row	 row;
	struct token		*t;
	uint8_t			 raw[TOKEN_SECRET_BYTES], d[SHA256_LEN];
	char			 hash[65], scopes_s[32];
	unsigned		 scopes = 0;

	if (strcmp(sub, "list") == 0) {
		buf_puts(out, "OK\n");
		for (t = token_list; t; t = t->next) {
			token_scopes_format(t->scopes, scopes_s,
			    sizeof(scopes_s));
			proto_put_kv(out, "name", t->name);
			proto_put_kv(out, "scopes", scopes_s);
			proto_put_kvi(out, "created_at",
			    (long long)t->created_at);
			proto_end_record(out);
		}
		buf_puts(out, ".\n");
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
	memset(&row, 0, sizeof(row));
	row.name = name;
	if (strcmp(sub, "del") == 0) {
		if (token_find(name) == NULL) {
			proto_err(out, "no token %s", name);
			goto done;
		}
		row.op = STORE_DELETE;
	} else {
		if (token_scopes_parse(sv ? sv : "", &scopes) == -1) {
			proto_err(out, "token add: scopes must be a "
			    "comma-separated list of publish, read and admin");
			goto done;
		}
		if (token_find(name) != NULL) {
			proto_err(out, "token add: a token %s exists (token "
			    "del first)", name);
			goto done;
		}
	}
	if ((ch = calloc(1, sizeof(*ch))) == NULL) {
		proto_err(out, "token %s: out of memory", sub);
		goto done;
	}
	store_batch_init(&ch->rows);
	if (row.op == STORE_PUT) {
		if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
			proto_err(out, "token add: no randomness");
			goto done;
		}
		memcpy(ch->secret, TOKEN_PREFIX, strlen(TOKEN_PREFIX));
		sha256_hex(raw, sizeof(raw), ch->secret +
		    strlen(TOKEN_PREFIX));
		sha256(ch->secret, strlen(ch->secret), d);
		sha256_hex(d, SHA256_LEN, hash);
		token_scopes_format(scopes, scopes_s, sizeof(scopes_s));
		row.hash = hash;
		row.scopes = scopes_s;
		row.created_at = clock_now();
	}
	if (store_batch_token(&ch->rows, &row) == -1) {
		proto_err(out, "token %s: out of memory", sub);
		goto done;
	}
	explicit_bzero(raw, sizeof(raw));
	ch->call = call;
	ch->job.run = token_change_run;
	ch->job.done = token_change_done;
	commit_job(&ch->job);
	return;
done:
	explicit_bzero(raw, sizeof(raw));
	if (ch) {
		explicit_bzero(ch->secret, sizeof(ch->secret));
		store_batch_free(&ch->rows);
		free(ch);
	}
	cmd_done(call);
}
