/*
 * test_clients.c: the in-memory application-information table
 * (clients.c). Each test starts on an empty table (clients_init) and
 * ends with clients_free.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "sippushd.h"
#include "tests.h"

static int	 cl_ready;

static void
clients_setup(void)
{
	cl_ready = clients_init() == 0;
}

static void
clients_teardown(void)
{
	clients_free();
	cl_ready = 0;
}

/* What the group commit does with a list it wrote: copy the marks,
 * clear them, report each client written (commit.c). */
static void
release(struct client *list)
{
	struct client	*c, *next;
	int		 marks;

	for (c = list; c; c = next) {
		next = c->dnext;
		marks = c->dirty;
		c->dirty = 0;
		clients_written(c, marks);
	}
}

/* Length of a dirty list, or -1 if it loops (Floyd: no hang on a
 * corrupt list). */
static int
list_len(const struct client *l)
{
	const struct client	*fast = l;
	int			 n = 0;

	while (l) {
		n++;
		l = l->dnext;
		if (fast && fast->dnext)
			fast = fast->dnext->dnext;
		else
			fast = NULL;
		if (fast && fast == l)
			return -1;
	}
	return n;
}

static void
test_register_find(void)
{
	struct registration	 r;
	struct client		*c = NULL, *c2 = NULL;
	struct clients_stats	 st;
	char			 id[16], class[16], contact[64], ua[16];
	char			 addr[46];

	CU_ASSERT_FATAL(cl_ready);
	CU_ASSERT_EQUAL(clients_count(), 0);
	CU_ASSERT_PTR_NULL(clients_find("alice"));

	/* the table keeps copies, not the caller's strings */
	snprintf(id, sizeof(id), "alice");
	snprintf(class, sizeof(class), "ios");
	snprintf(contact, sizeof(contact), "<sip:alice@192.0.2.7:5062>");
	snprintf(ua, sizeof(ua), "UA/1");
	snprintf(addr, sizeof(addr), "192.0.2.7");
	test_reg_fill(&r, id, 1000);
	r.class = class;
	r.contact = contact;
	r.user_agent = ua;
	r.address = addr;
	r.port = 5062;
	r.transport = TRANSPORT_TCP;
	CU_ASSERT_EQUAL_FATAL(clients_register(&r, &c), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	memset(id, 'X', sizeof(id) - 1);
	memset(class, 'X', sizeof(class) - 1);
	memset(contact, 'X', sizeof(contact) - 1);
	memset(ua, 'X', sizeof(ua) - 1);
	memset(addr, 'X', sizeof(addr) - 1);

	CU_ASSERT_PTR_EQUAL(clients_find("alice"), c);
	CU_ASSERT_PTR_NULL(clients_find("Alice"));
	CU_ASSERT_PTR_NULL(clients_find("alic"));
	CU_ASSERT_STRING_EQUAL(c->id, "alice");
	CU_ASSERT_STRING_EQUAL(c->class, "ios");
	CU_ASSERT_STRING_EQUAL(c->contact, "<sip:alice@192.0.2.7:5062>");
	CU_ASSERT_PTR_NOT_NULL_FATAL(c->user_agent);
	CU_ASSERT_STRING_EQUAL(c->user_agent, "UA/1");
	CU_ASSERT_STRING_EQUAL(c->address, "192.0.2.7");
	CU_ASSERT_EQUAL(c->port, 5062);
	CU_ASSERT_EQUAL(c->transport, TRANSPORT_TCP);
	CU_ASSERT_EQUAL(c->state, CLIENT_ONLINE);
	CU_ASSERT_EQUAL(c->registered_at, 1000);
	CU_ASSERT_EQUAL(c->expires_at, 1600);
	CU_ASSERT_EQUAL(c->last_seen, 1000);
	CU_ASSERT_EQUAL(c->dirty, CLIENT_DIRTY_ROW);
	CU_ASSERT_EQUAL(clients_count(), 1);

	/* a new registration of the same ID updates the same client */
	clients_set_state(c, CLIENT_OFFLINE);
	test_reg_fill(&r, "alice", 2000);
	r.class = "android";
	r.contact = "<sip:alice@[2001:db8::1]>";
	r.user_agent = NULL;
	r.expires = 60;
	r.address = "2001:db8::1";
	r.port = 1;
	r.transport = TRANSPORT_UDP;
	CU_ASSERT_EQUAL_FATAL(clients_register(&r, &c2), 0);
	CU_ASSERT_PTR_EQUAL(c2, c);
	CU_ASSERT_EQUAL(clients_count(), 1);
	CU_ASSERT_STRING_EQUAL(c->class, "android");
	CU_ASSERT_STRING_EQUAL(c->contact, "<sip:alice@[2001:db8::1]>");
	CU_ASSERT_PTR_NULL(c->user_agent);
	CU_ASSERT_STRING_EQUAL(c->address, "2001:db8::1");
	CU_ASSERT_EQUAL(c->port, 1);
	CU_ASSERT_EQUAL(c->transport, TRANSPORT_UDP);
	CU_ASSERT_EQUAL(c->state, CLIENT_ONLINE);
	CU_ASSERT_EQUAL(c->registered_at, 2000);
	CU_ASSERT_EQUAL(c->expires_at, 2060);
	CU_ASSERT_EQUAL(c->last_seen, 2000);

	/* a second client */
	CU_ASSERT_PTR_NOT_NULL_FATAL(test_reg("bob", 2100));
	CU_ASSERT_EQUAL(clients_count(), 2);
	CU_ASSERT_PTR_NOT_EQUAL(clients_find("bob"), c);

	/* unregister keeps the row, ends the registration now */
	clients_unregister(c, 2500);
	CU_ASSERT_EQUAL(c->state, CLIENT_UNREGISTERED);
	CU_ASSERT_EQUAL(c->expires_at, 2500);
	CU_ASSERT(c->dirty & CLIENT_DIRTY_ROW);
	CU_ASSERT_PTR_EQUAL(clients_find("alice"), c);
	CU_ASSERT_EQUAL(clients_count(), 2);

	clients_stats(&st);
	CU_ASSERT_EQUAL(st.total, 2);
	CU_ASSERT_EQUAL(st.by_state[CLIENT_ONLINE], 1);
	CU_ASSERT_EQUAL(st.by_state[CLIENT_OFFLINE], 0);
	CU_ASSERT_EQUAL(st.by_state[CLIENT_EXPIRED], 0);
	CU_ASSERT_EQUAL(st.by_state[CLIENT_UNREGISTERED], 1);

	/* registering again brings it back online */
	CU_ASSERT_PTR_EQUAL(test_reg("alice", 3000), c);
	CU_ASSERT_EQUAL(c->state, CLIENT_ONLINE);
	CU_ASSERT_EQUAL(c->expires_at, 3600);
}

static void
test_dirty_list(void)
{
	struct client	*a, *b, *c, *l;
	int		 n;

	CU_ASSERT_FATAL(cl_ready);
	a = test_reg("a", 1);
	b = test_reg("b", 1);
	c = test_reg("c", 1);
	CU_ASSERT_FATAL(a && b && c);

	/* a second mark adds to the marks, not to the list */
	clients_mark(b, CLIENT_DIRTY_SEEN);
	clients_mark(a, CLIENT_DIRTY_ROW);
	l = clients_take_dirty();
	CU_ASSERT_EQUAL(list_len(l), 3);
	CU_ASSERT_PTR_EQUAL(l, a);
	CU_ASSERT_PTR_EQUAL(a->dnext, b);
	CU_ASSERT_PTR_EQUAL(b->dnext, c);
	CU_ASSERT_PTR_NULL(c->dnext);
	CU_ASSERT_EQUAL(a->dirty, CLIENT_DIRTY_ROW);
	CU_ASSERT_EQUAL(b->dirty, CLIENT_DIRTY_ROW | CLIENT_DIRTY_SEEN);
	CU_ASSERT_EQUAL(c->dirty, CLIENT_DIRTY_ROW);
	CU_ASSERT_PTR_NULL(clients_take_dirty());
	release(l);
	CU_ASSERT_EQUAL(a->dirty, 0);
	CU_ASSERT_EQUAL(b->dirty, 0);
	CU_ASSERT_EQUAL(c->dirty, 0);
	CU_ASSERT_EQUAL(clients_count(), 3);

	/* the list is in order of first mark */
	clients_mark(c, CLIENT_DIRTY_SEEN);
	clients_mark(a, CLIENT_DIRTY_SEEN);
	clients_mark(c, CLIENT_DIRTY_ROW);
	l = clients_take_dirty();
	CU_ASSERT_EQUAL(list_len(l), 2);
	CU_ASSERT_PTR_EQUAL(l, c);
	CU_ASSERT_PTR_EQUAL(c->dnext, a);
	CU_ASSERT_PTR_NULL(a->dnext);
	CU_ASSERT_EQUAL(c->dirty, CLIENT_DIRTY_SEEN | CLIENT_DIRTY_ROW);
	CU_ASSERT_EQUAL(a->dirty, CLIENT_DIRTY_SEEN);
	CU_ASSERT_EQUAL(b->dirty, 0);
	release(l);

	/* a released list starts over: b alone now */
	clients_mark(b, CLIENT_DIRTY_SEEN);
	l = clients_take_dirty();
	CU_ASSERT_PTR_EQUAL(l, b);
	CU_ASSERT_PTR_NULL(b->dnext);
	release(l);

	/*
	 * A registration cancels a pending delete (as after a failed
	 * commit: the delete stays queued until the next one). The client
	 * is already on the dirty list and must stay there once.
	 */
	clients_mark(a, CLIENT_DIRTY_DELETE);
	CU_ASSERT_PTR_EQUAL(test_reg("a", 5), a);
	CU_ASSERT_EQUAL(a->dirty, CLIENT_DIRTY_ROW);
	l = clients_take_dirty();
	CU_ASSERT_PTR_EQUAL(l, a);
	n = list_len(l);
	CU_ASSERT_EQUAL(n, 1);
	if (n != 1) {
		a->dnext = NULL;	/* break the loop, or release spins */
		CU_FAIL("clients_register after a delete mark corrupts the "
		    "dirty list");
	}
	release(l);
	CU_ASSERT_PTR_EQUAL(clients_find("a"), a);

	/* the same with other clients queued behind it: none is lost */
	clients_mark(a, CLIENT_DIRTY_DELETE);
	clients_mark(b, CLIENT_DIRTY_SEEN);
	clients_mark(c, CLIENT_DIRTY_SEEN);
	CU_ASSERT_PTR_EQUAL(test_reg("a", 6), a);
	l = clients_take_dirty();
	n = list_len(l);
	CU_ASSERT_EQUAL(n, 3);
	CU_ASSERT_PTR_EQUAL(l, a);
	if (n == -1) {
		a->dnext = NULL;
		l = a;
	}
	release(l);
	/* a client dropped from the list would keep its mark for ever */
	CU_ASSERT_EQUAL(b->dirty, 0);
	CU_ASSERT_EQUAL(c->dirty, 0);
}

static int
stats_walk(struct client *c, void *arg)
{
	struct clients_stats	*st = arg;

	st->total++;
	st->by_state[c->state]++;
	return 0;
}

/* clients_stats (kept as counts) agrees with a walk of the table. */
static int
stats_agree(void)
{
	struct clients_stats	 a, w;

	clients_stats(&a);
	memset(&w, 0, sizeof(w));
	clients_foreach(stats_walk, &w);
	return memcmp(&a, &w, sizeof(a)) == 0;
}

/* The counts by state follow registering, state changes, restoring,
 * unregistering and deletes. */
static void
test_stats_counts(void)
{
	struct registration	 r;
	struct client		*a, *b, x;
	struct clients_stats	 st;

	test_reg_fill(&r, "sa", 1000);
	CU_ASSERT_EQUAL_FATAL(clients_register(&r, &a), 0);
	test_reg_fill(&r, "sb", 1000);
	CU_ASSERT_EQUAL_FATAL(clients_register(&r, &b), 0);
	CU_ASSERT(stats_agree());
	clients_set_state(a, CLIENT_OFFLINE);
	CU_ASSERT(stats_agree());
	clients_unregister(b, 1100);
	CU_ASSERT(stats_agree());
	memset(&x, 0, sizeof(x));
	x.id = "sc";
	x.class = "k";
	x.contact = "<sip:sc@h>";
	x.state = CLIENT_EXPIRED;
	x.transport = TRANSPORT_UDP;
	CU_ASSERT_EQUAL(clients_restore(&x), 0);
	CU_ASSERT(stats_agree());
	clients_stats(&st);
	CU_ASSERT_EQUAL(st.total, 3);
	CU_ASSERT_EQUAL(st.by_state[CLIENT_OFFLINE], 1);
	CU_ASSERT_EQUAL(st.by_state[CLIENT_UNREGISTERED], 1);
	CU_ASSERT_EQUAL(st.by_state[CLIENT_EXPIRED], 1);
	release(clients_take_dirty());
	clients_mark(b, CLIENT_DIRTY_DELETE);
	release(clients_take_dirty());		/* b is freed */
	CU_ASSERT_PTR_NULL(clients_find("sb"));
	CU_ASSERT(stats_agree());
	clients_stats(&st);
	CU_ASSERT_EQUAL(st.total, 2);
	CU_ASSERT_EQUAL(st.by_state[CLIENT_UNREGISTERED], 0);
	test_reg_fill(&r, "sa", 1200);		/* back online */
	CU_ASSERT_EQUAL_FATAL(clients_register(&r, &a), 0);
	CU_ASSERT(stats_agree());
	clients_stats(&st);
	CU_ASSERT_EQUAL(st.by_state[CLIENT_ONLINE], 1);
}

static void
test_release_deleted(void)
{
	struct client	*a, *b, *c, *l;
	char		 id[8];
	int		 i;

	CU_ASSERT_FATAL(cl_ready);
	a = test_reg("a", 1);
	b = test_reg("b", 1);
	c = test_reg("c", 1);
	CU_ASSERT_FATAL(a && b && c);
	release(clients_take_dirty());

	clients_mark(b, CLIENT_DIRTY_DELETE);
	clients_mark(a, CLIENT_DIRTY_SEEN);
	clients_mark(c, CLIENT_DIRTY_ROW | CLIENT_DIRTY_DELETE);
	l = clients_take_dirty();
	CU_ASSERT_EQUAL(list_len(l), 3);
	release(l);
	CU_ASSERT_EQUAL(clients_count(), 1);
	CU_ASSERT_PTR_NULL(clients_find("b"));
	CU_ASSERT_PTR_NULL(clients_find("c"));
	CU_ASSERT_PTR_EQUAL(clients_find("a"), a);
	CU_ASSERT_EQUAL(a->dirty, 0);
	CU_ASSERT_PTR_NULL(clients_take_dirty());

	/* the ID can be registered anew */
	b = test_reg("b", 10);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	CU_ASSERT_EQUAL(clients_count(), 2);
	CU_ASSERT_EQUAL(b->registered_at, 10);
	release(clients_take_dirty());

	/* deleting many clients that share buckets keeps the chains whole */
	for (i = 0; i < 200; i++) {
		snprintf(id, sizeof(id), "d%d", i);
		CU_ASSERT_PTR_NOT_NULL(test_reg(id, 1));
	}
	release(clients_take_dirty());
	for (i = 0; i < 200; i += 2) {
		snprintf(id, sizeof(id), "d%d", i);
		clients_mark(clients_find(id), CLIENT_DIRTY_DELETE);
	}
	release(clients_take_dirty());
	CU_ASSERT_EQUAL(clients_count(), 102);
	for (i = 0; i < 200; i++) {
		snprintf(id, sizeof(id), "d%d", i);
		if ((clients_find(id) == NULL) != (i % 2 == 0))
			CU_FAIL("wrong client deleted or kept");
	}
}

static void
test_requeue(void)
{
	struct client	*a, *b, *c, *l;

	CU_ASSERT_FATAL(cl_ready);
	a = test_reg("a", 1);
	b = test_reg("b", 1);
	c = test_reg("c", 1);
	CU_ASSERT_FATAL(a && b && c);
	release(clients_take_dirty());

	clients_mark(b, CLIENT_DIRTY_SEEN);
	clients_mark(a, CLIENT_DIRTY_DELETE);
	clients_mark(c, CLIENT_DIRTY_ROW);
	l = clients_take_dirty();
	/* the write failed: everything goes back, marks and order kept */
	clients_requeue_dirty(l);
	CU_ASSERT_EQUAL(clients_count(), 3);
	CU_ASSERT_EQUAL(b->dirty, CLIENT_DIRTY_SEEN);
	CU_ASSERT_EQUAL(a->dirty, CLIENT_DIRTY_DELETE);
	CU_ASSERT_EQUAL(c->dirty, CLIENT_DIRTY_ROW);

	/* a later change joins the requeued list at its end */
	clients_mark(a, CLIENT_DIRTY_ROW);
	l = clients_take_dirty();
	CU_ASSERT_EQUAL_FATAL(list_len(l), 3);
	CU_ASSERT_PTR_EQUAL(l, b);
	CU_ASSERT_PTR_EQUAL(b->dnext, a);
	CU_ASSERT_PTR_EQUAL(a->dnext, c);
	CU_ASSERT_EQUAL(a->dirty, CLIENT_DIRTY_DELETE | CLIENT_DIRTY_ROW);

	/* second failure, then success */
	clients_requeue_dirty(l);
	l = clients_take_dirty();
	CU_ASSERT_EQUAL(list_len(l), 3);
	release(l);
	CU_ASSERT_PTR_NULL(clients_find("a"));
	CU_ASSERT_EQUAL(clients_count(), 2);
	CU_ASSERT_EQUAL(b->dirty, 0);
	CU_ASSERT_EQUAL(c->dirty, 0);

	/* requeueing nothing is a no-op */
	clients_requeue_dirty(NULL);
	CU_ASSERT_PTR_NULL(clients_take_dirty());
}

static int
count_visit(struct client *c, void *arg)
{
	int	*n = arg;

	(void)c;
	(*n)++;
	return 0;
}

static int
stop_at_three(struct client *c, void *arg)
{
	int	*n = arg;

	(void)c;
	return ++(*n) == 3;
}

#define MANY	5000

static void
test_growth(void)
{
	struct client		*c, *l;
	struct clients_stats	 st;
	char			 id[32];
	int			 i, missing = 0, wrong = 0, n;

	CU_ASSERT_FATAL(cl_ready);
	for (i = 0; i < MANY; i++) {
		snprintf(id, sizeof(id), "client-%05d", i);
		if (test_reg(id, i) == NULL)
			missing++;
	}
	CU_ASSERT_EQUAL(missing, 0);
	CU_ASSERT_EQUAL(clients_count(), MANY);
	for (i = 0; i < MANY; i++) {
		snprintf(id, sizeof(id), "client-%05d", i);
		if ((c = clients_find(id)) == NULL)
			missing++;
		else if (strcmp(c->id, id) != 0 || c->registered_at != i)
			wrong++;
	}
	CU_ASSERT_EQUAL(missing, 0);
	CU_ASSERT_EQUAL(wrong, 0);
	CU_ASSERT_PTR_NULL(clients_find("client-05000"));
	CU_ASSERT_PTR_NULL(clients_find(""));

	clients_stats(&st);
	CU_ASSERT_EQUAL(st.total, MANY);
	CU_ASSERT_EQUAL(st.by_state[CLIENT_ONLINE], MANY);
	n = 0;
	clients_foreach(count_visit, &n);
	CU_ASSERT_EQUAL(n, MANY);
	n = 0;
	clients_foreach(stop_at_three, &n);
	CU_ASSERT_EQUAL(n, 3);

	/* the dirty list holds them all, in registration order */
	l = clients_take_dirty();
	for (i = 0, c = l; c; c = c->dnext, i++)
		if (c->registered_at != i)
			wrong++;
	CU_ASSERT_EQUAL(i, MANY);
	CU_ASSERT_EQUAL(wrong, 0);
	release(l);
}

static void
test_restore(void)
{
	struct client	 src, *c;

	CU_ASSERT_FATAL(cl_ready);
	memset(&src, 0, sizeof(src));
	src.id = "restored";
	src.class = "k";
	src.contact = "<sip:restored@h>";
	src.user_agent = NULL;
	snprintf(src.address, sizeof(src.address), "10.0.0.1");
	src.port = 7;
	src.transport = TRANSPORT_TLS;
	src.state = CLIENT_EXPIRED;
	src.registered_at = 1;
	src.expires_at = 2;
	src.last_seen = 3;
	src.dirty = CLIENT_DIRTY_ROW;
	CU_ASSERT_EQUAL_FATAL(clients_restore(&src), 0);
	c = clients_find("restored");
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_PTR_NOT_EQUAL(c->id, src.id);
	CU_ASSERT_STRING_EQUAL(c->class, "k");
	CU_ASSERT_STRING_EQUAL(c->contact, "<sip:restored@h>");
	CU_ASSERT_PTR_NULL(c->user_agent);
	CU_ASSERT_STRING_EQUAL(c->address, "10.0.0.1");
	CU_ASSERT_EQUAL(c->port, 7);
	CU_ASSERT_EQUAL(c->transport, TRANSPORT_TLS);
	CU_ASSERT_EQUAL(c->state, CLIENT_EXPIRED);
	CU_ASSERT_EQUAL(c->registered_at, 1);
	CU_ASSERT_EQUAL(c->expires_at, 2);
	CU_ASSERT_EQUAL(c->last_seen, 3);
	/* loaded clients are clean */
	CU_ASSERT_EQUAL(c->dirty, 0);
	CU_ASSERT_PTR_NULL(clients_take_dirty());
	/* an ID already present is refused */
	CU_ASSERT_EQUAL(clients_restore(&src), -1);
	CU_ASSERT_EQUAL(clients_count(), 1);
}

static void
test_valid_names(void)
{
	char	 s[80];

	CU_ASSERT_FALSE(clients_valid_id(""));
	CU_ASSERT_TRUE(clients_valid_id("a"));
	CU_ASSERT_TRUE(clients_valid_id("Az09._-"));
	memset(s, 'x', 64);
	s[64] = '\0';
	CU_ASSERT_TRUE(clients_valid_id(s));
	s[64] = 'x';
	s[65] = '\0';
	CU_ASSERT_FALSE(clients_valid_id(s));
	CU_ASSERT_FALSE(clients_valid_id("a b"));
	CU_ASSERT_FALSE(clients_valid_id("a@b"));
	CU_ASSERT_FALSE(clients_valid_id("a/b"));
	CU_ASSERT_FALSE(clients_valid_id("a%20b"));
	CU_ASSERT_FALSE(clients_valid_id("a:b"));
	CU_ASSERT_FALSE(clients_valid_id("a;b"));
	CU_ASSERT_FALSE(clients_valid_id("a!"));
	CU_ASSERT_FALSE(clients_valid_id("a\n"));
	CU_ASSERT_FALSE(clients_valid_id("caf\xc3\xa9"));
	CU_ASSERT_FALSE(clients_valid_id("\xff"));

	CU_ASSERT_FALSE(clients_valid_class(""));
	CU_ASSERT_TRUE(clients_valid_class("default"));
	memset(s, 'c', 32);
	s[32] = '\0';
	CU_ASSERT_TRUE(clients_valid_class(s));
	s[32] = 'c';
	s[33] = '\0';
	CU_ASSERT_FALSE(clients_valid_class(s));
	/* 64 is fine for an ID, too long for a class */
	memset(s, 'c', 64);
	s[64] = '\0';
	CU_ASSERT_TRUE(clients_valid_id(s));
	CU_ASSERT_FALSE(clients_valid_class(s));
	CU_ASSERT_FALSE(clients_valid_class("a,b"));
	CU_ASSERT_FALSE(clients_valid_class("a=b"));
	CU_ASSERT_FALSE(clients_valid_class(" a"));
}

static void
test_names(void)
{
	int	 i;

	for (i = CLIENT_ONLINE; i <= CLIENT_UNREGISTERED; i++)
		CU_ASSERT_EQUAL(clients_state_parse(clients_state_name(i)), i);
	CU_ASSERT_STRING_EQUAL(clients_state_name(CLIENT_ONLINE), "online");
	CU_ASSERT_STRING_EQUAL(clients_state_name(CLIENT_OFFLINE), "offline");
	CU_ASSERT_STRING_EQUAL(clients_state_name(CLIENT_EXPIRED), "expired");
	CU_ASSERT_STRING_EQUAL(clients_state_name(CLIENT_UNREGISTERED),
	    "unregistered");
	CU_ASSERT_STRING_EQUAL(clients_state_name(-1), "?");
	CU_ASSERT_STRING_EQUAL(clients_state_name(4), "?");
	CU_ASSERT_EQUAL(clients_state_parse("Online"), -1);
	CU_ASSERT_EQUAL(clients_state_parse(""), -1);
	CU_ASSERT_EQUAL(clients_state_parse("?"), -1);

	for (i = TRANSPORT_UDP; i <= TRANSPORT_TLS; i++)
		CU_ASSERT_EQUAL(clients_transport_parse(
		    clients_transport_name(i)), i);
	CU_ASSERT_STRING_EQUAL(clients_transport_name(TRANSPORT_UDP), "udp");
	CU_ASSERT_STRING_EQUAL(clients_transport_name(TRANSPORT_TCP), "tcp");
	CU_ASSERT_STRING_EQUAL(clients_transport_name(TRANSPORT_TLS), "tls");
	CU_ASSERT_STRING_EQUAL(clients_transport_name(3), "?");
	CU_ASSERT_EQUAL(clients_transport_parse("UDP"), -1);
	CU_ASSERT_EQUAL(clients_transport_parse("sctp"), -1);
}

int
test_clients_register(void)
{
	CU_pSuite	 s;

	if ((s = CU_add_suite_with_setup_and_teardown("clients", NULL, NULL,
	    clients_setup, clients_teardown)) == NULL)
		return -1;
	if (CU_add_test(s, "stats: counts by state follow the changes",
	    test_stats_counts) == NULL ||
	    CU_add_test(s, "register, find, update, unregister",
	    test_register_find) == NULL ||
	    CU_add_test(s, "dirty list order and marks", test_dirty_list) ==
	    NULL ||
	    CU_add_test(s, "release frees deleted clients",
	    test_release_deleted) == NULL ||
	    CU_add_test(s, "requeue after a failed write", test_requeue) ==
	    NULL ||
	    CU_add_test(s, "table growth: 5000 clients", test_growth) ==
	    NULL ||
	    CU_add_test(s, "restore from the store", test_restore) == NULL ||
	    CU_add_test(s, "ID and class validation", test_valid_names) ==
	    NULL ||
	    CU_add_test(s, "state and transport names", test_names) == NULL)
		return -1;
	return 0;
}
