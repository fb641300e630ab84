/*
 * rows.c: messages and targets written to the store as the dispatcher
 * writes them (through ts_*), and read back as deep copies.
 */
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "sippushd.h"
#include "tests.h"
#include "rows.h"

static char *
xdup(const void *p, size_t n)
{
	char	*s = malloc(n + 1);

	if (s == NULL)
		abort();
	memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

int
msgs_collect(const struct message_row *r, void *arg)
{
	struct msgs		*l = arg;
	struct message_row	*d;

	if (l->n == ROWS_MAX)
		return -1;
	d = &l->r[l->n++];
	*d = *r;
	d->id = xdup(r->id, strlen(r->id));
	d->state = xdup(r->state, strlen(r->state));
	d->selector = xdup(r->selector, strlen(r->selector));
	d->content_type = xdup(r->content_type, strlen(r->content_type));
	d->callback = r->callback ? xdup(r->callback, strlen(r->callback)) :
	    NULL;
	d->body = xdup(r->body, r->body_len);
	if (l->stop_after && l->n >= l->stop_after)
		return -1;
	return 0;
}

void
msgs_free(struct msgs *l)
{
	int	 i;

	for (i = 0; i < l->n; i++) {
		free((char *)l->r[i].id);
		free((char *)l->r[i].state);
		free((char *)l->r[i].selector);
		free((char *)l->r[i].content_type);
		free((char *)l->r[i].callback);
		free((void *)l->r[i].body);
	}
	memset(l, 0, sizeof(*l));
}

int
load_msgs(struct msgs *l, const char *id, int active_only, int limit)
{
	memset(l, 0, sizeof(*l));
	return store_load_messages(id, active_only, NULL, limit,
	    msgs_collect, l);
}

const struct message_row *
msgs_find(const struct msgs *l, const char *id)
{
	int	 i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->r[i].id, id) == 0)
			return &l->r[i];
	return NULL;
}

static int
tgts_collect(const struct target_row *r, void *arg)
{
	struct tgts	*l = arg;

	if (l->n == ROWS_MAX)
		return -1;
	l->r[l->n].state = dispatch_target_state_parse(r->state);
	l->r[l->n].attempts = r->attempts;
	l->r[l->n].next_attempt = r->next_attempt;
	l->r[l->n].last_attempt = r->last_attempt;
	l->r[l->n].acked_at = r->acked_at;
	l->r[l->n].last_status = r->last_status;
	l->r[l->n].client = xdup(r->client, strlen(r->client));
	l->n++;
	return 0;
}

void
tgts_free(struct tgts *l)
{
	int	 i;

	for (i = 0; i < l->n; i++)
		free((char *)l->r[i].client);
	memset(l, 0, sizeof(*l));
}

int
load_tgts(struct tgts *l, const char *id)
{
	memset(l, 0, sizeof(*l));
	return store_load_targets(id, NULL, -1, tgts_collect, l);
}


void
message_fill(struct message *m, struct target *t, const char *id,
    const char *selector, const char *body, int64_t created, int ttl,
    const struct tspec *spec, size_t n)
{
	size_t	 i;

	memset(m, 0, sizeof(*m));
	snprintf(m->id, sizeof(m->id), "%s", id);
	m->selector = (char *)selector;
	m->content_type = (char *)"text/plain; charset=utf-8";
	m->body = (char *)body;
	m->body_len = strlen(body);
	m->created_at = created;
	m->expires_at = created + ttl;
	m->state = MESSAGE_ACTIVE;
	m->targets = t;
	m->ntargets = n;
	for (i = 0; i < n; i++) {
		memset(&t[i], 0, sizeof(t[i]));
		t[i].msg = m;
		t[i].client = spec[i].client;
		t[i].state = (uint8_t)spec[i].state;
		t[i].attempts = spec[i].attempts;
		t[i].last_status = (uint16_t)spec[i].last_status;
		t[i].last_attempt = spec[i].last_attempt;
		t[i].next_attempt = spec[i].next_attempt;
		t[i].acked_at = spec[i].acked_at;
		m->count[t[i].state]++;
	}
}

int
put_all(const struct message *m)
{
	size_t	 i;

	if (ts_begin() == -1)
		return -1;
	if (ts_put_message(m) == -1)
		goto fail;
	for (i = 0; i < m->ntargets; i++)
		if (ts_put_target(m, &m->targets[i]) == -1)
			goto fail;
	return ts_commit();
fail:
	ts_rollback();
	return -1;
}

void
assert_counts(const struct message_row *r, size_t pending, size_t acked,
    size_t expired, size_t failed, size_t cancelled)
{
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_EQUAL(r->count[TARGET_PENDING], pending);
	CU_ASSERT_EQUAL(r->count[TARGET_SENT], 0);	/* never stored */
	CU_ASSERT_EQUAL(r->count[TARGET_ACKED], acked);
	CU_ASSERT_EQUAL(r->count[TARGET_EXPIRED], expired);
	CU_ASSERT_EQUAL(r->count[TARGET_FAILED], failed);
	CU_ASSERT_EQUAL(r->count[TARGET_CANCELLED], cancelled);
}

