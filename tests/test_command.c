/*
 * test_command.c: the control command table, its argument parsing and
 * reply rendering (command.c), and the call contract (cmd_done,
 * cmd_detach).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "command.h"
#include "tests.h"

/* Split a request line as the control socket does; argv points into
 * line. */
static int
split(char *line, char **argv)
{
	return proto_split(line, argv, PROTO_ARGS_MAX);
}

static void
test_table(void)
{
	static const char *const names[] = { "cancel", "client", "clients",
	    "drain", "messages", "nodes", "ping", "publish", "stats", "status",
	    "token", "user" };
	const struct cmd	*t, *c;
	size_t			 i, n;

	t = cmd_table(&n);
	CU_ASSERT_EQUAL(n, sizeof(names) / sizeof(names[0]));
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		c = cmd_find(names[i]);
		CU_ASSERT_PTR_NOT_NULL_FATAL(c);
		CU_ASSERT_STRING_EQUAL(c->name, names[i]);
		CU_ASSERT_PTR_NOT_NULL(c->run);
		CU_ASSERT_PTR_NOT_NULL(c->usage);
		CU_ASSERT(strncmp(c->usage, names[i], strlen(names[i])) == 0);
	}
	/* sorted, as cmd_find's binary search needs */
	for (i = 1; i < n; i++)
		CU_ASSERT(strcmp(t[i - 1].name, t[i].name) < 0);
	CU_ASSERT(cmd_find("publish")->flags & CMD_WRITES);
	CU_ASSERT(cmd_find("cancel")->flags & CMD_WRITES);
	CU_ASSERT(cmd_find("clients")->flags & CMD_STREAMS);
	CU_ASSERT_FALSE(cmd_find("ping")->flags & CMD_WRITES);
	CU_ASSERT_PTR_NULL(cmd_find("publis"));
	CU_ASSERT_PTR_NULL(cmd_find("publishx"));
	CU_ASSERT_PTR_NULL(cmd_find("PING"));
	CU_ASSERT_PTR_NULL(cmd_find(""));
}

struct seen {
	int		 calls;
	struct buf	 out;
};

static void
seen_done(struct cmd_call *call, void *arg)
{
	struct seen	*s = arg;

	s->calls++;
	buf_append(&s->out, call->out.data, call->out.len);
	cmd_call_free(call);
}

static void
test_unknown(void)
{
	struct seen	 s = { 0 };
	struct cmd_call	*call;
	char		 line[] = "frobnicate now=yes", *argv[PROTO_ARGS_MAX];
	int		 argc = split(line, argv);

	CU_ASSERT_PTR_NOT_NULL_FATAL(call = cmd_call_new(seen_done, &s));
	cmd_start(call, argc, argv);
	/* answered and done at once */
	CU_ASSERT_EQUAL(s.calls, 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s.out.data);
	CU_ASSERT_STRING_EQUAL(s.out.data,
	    "ERR unknown command \"frobnicate\"\n");
	buf_free(&s.out);

	/* ping needs no daemon state: through the table to its handler */
	{
		char	 l2[] = "ping";

		argc = split(l2, argv);
		CU_ASSERT_PTR_NOT_NULL_FATAL(call =
		    cmd_call_new(seen_done, &s));
		cmd_start(call, argc, argv);
		CU_ASSERT_EQUAL(s.calls, 2);
		CU_ASSERT(test_contains(s.out.data, "OK\nversion="));
		buf_free(&s.out);
	}
}

static int	 nodone_calls;

static void
nodone(struct cmd_call *call, void *arg)
{
	(void)call;
	(void)arg;
	nodone_calls++;
}

/* A call finished after its front end went is freed, not reported. */
static void
test_detach(void)
{
	struct cmd_call	*call;

	nodone_calls = 0;
	CU_ASSERT_PTR_NOT_NULL_FATAL(call = cmd_call_new(nodone, NULL));
	buf_puts(&call->out, "OK\n");
	cmd_detach(call);
	CU_ASSERT_EQUAL(call->detached, 1);
	cmd_done(call);		/* frees it (checked by ASan/valgrind) */
	CU_ASSERT_EQUAL(nodone_calls, 0);

	/* finished first, then detached: freed by cmd_detach */
	CU_ASSERT_PTR_NOT_NULL_FATAL(call = cmd_call_new(nodone, NULL));
	cmd_done(call);
	CU_ASSERT_EQUAL(nodone_calls, 1);
	cmd_detach(call);
}

/* Parse line with cmd_parse_publish; the error, if any, in error. */
static int
parse_publish(const char *text, struct publish_req *rq,
    struct publish_sel *sel, char *error, char *line)
{
	char	*argv[PROTO_ARGS_MAX];
	int	 argc;

	strcpy(line, text);
	error[0] = '\0';
	argc = split(line, argv);
	return cmd_parse_publish(argc, argv, rq, sel, 3600, error);
}

#define CB_ERR	"publish: callback must be an http:// or https:// URL of " \
		"at most 2048 characters"

static void
test_parse_publish(void)
{
	static const struct {
		const char	*line;
		const char	*error;
	} bad[] = {
		{ "publish oops", "publish: unexpected word \"oops\"" },
		{ "publish class=a%20b body=x",
		    "publish: \"a b\" is not a valid class" },
		{ "publish all=yes ttl=0 body=x",
		    "publish: ttl must be 1..3600 seconds" },
		{ "publish all=yes ttl=3601 body=x",
		    "publish: ttl must be 1..3600 seconds" },
		{ "publish all=yes ttl=1x body=x",
		    "publish: ttl must be 1..3600 seconds" },
		{ "publish all=yes ttl= body=x",
		    "publish: ttl must be 1..3600 seconds" },
		{ "publish all=yes content_type=plain body=x",
		    "publish: bad content type \"plain\"" },
		{ "publish all=no body=x",
		    "publish: unknown argument \"all=no\"" },
		{ "publish all=yes colour=red body=x",
		    "publish: unknown argument \"colour=red\"" },
		{ "publish all=yes callback=ftp://h/x body=x", CB_ERR },
		{ "publish all=yes callback=http:// body=x", CB_ERR },
		{ "publish all=yes callback=https:///x body=x", CB_ERR },
		{ "publish all=yes callback=http://h/a%20b body=x", CB_ERR },
		{ "publish all=yes callback=http://h/%0a body=x", CB_ERR },
		{ "publish all=yes callback= body=x", CB_ERR },
		{ "publish all=yes callback=127.0.0.1/x body=x", CB_ERR },
	};
	struct publish_sel	 sel[PROTO_ARGS_MAX];
	struct publish_req	 rq;
	char			 error[OP_ERROR_MAX], line[256];
	char			 longurl[CALLBACK_MAX + 1];
	size_t			 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CU_ASSERT_EQUAL(parse_publish(bad[i].line, &rq, sel, error,
		    line), -1);
		CU_ASSERT_STRING_EQUAL(error, bad[i].error);
	}

	CU_ASSERT_EQUAL_FATAL(parse_publish("publish class=ops client=c1 "
	    "all=yes ttl=60 content_type=text/x-a body=hi%20there "
	    "class=dev", &rq, sel, error, line), 0);
	CU_ASSERT_EQUAL(rq.all, 1);
	CU_ASSERT_EQUAL_FATAL(rq.nsel, 3);
	CU_ASSERT_EQUAL(rq.sel[0].kind, PUBLISH_CLASS);
	CU_ASSERT_STRING_EQUAL(rq.sel[0].name, "ops");
	CU_ASSERT_EQUAL(rq.sel[1].kind, PUBLISH_CLIENT);
	CU_ASSERT_STRING_EQUAL(rq.sel[1].name, "c1");
	CU_ASSERT_EQUAL(rq.sel[2].kind, PUBLISH_CLASS);
	CU_ASSERT_STRING_EQUAL(rq.sel[2].name, "dev");
	CU_ASSERT_EQUAL(rq.ttl, 60);
	CU_ASSERT_STRING_EQUAL(rq.content_type, "text/x-a");
	CU_ASSERT_STRING_EQUAL(rq.body, "hi there");
	CU_ASSERT_EQUAL(rq.body_len, 8);
	CU_ASSERT_PTR_NULL(rq.callback);

	CU_ASSERT_EQUAL_FATAL(parse_publish("publish all=yes "
	    "callback=http://127.0.0.1:8080/hook?a=1 body=x", &rq, sel, error,
	    line), 0);
	CU_ASSERT_STRING_EQUAL(rq.callback, "http://127.0.0.1:8080/hook?a=1");
	CU_ASSERT(cmd_valid_callback("https://h/"));
	for (i = 0; i < sizeof(longurl) - 1; i++)
		longurl[i] = 'a';
	longurl[sizeof(longurl) - 1] = '\0';
	memcpy(longurl, "http://h/", 9);
	CU_ASSERT(cmd_valid_callback(longurl));		/* CALLBACK_MAX */
	longurl[sizeof(longurl) - 2] = '\0';
	CU_ASSERT(cmd_valid_callback(longurl));
	{
		char	 over[CALLBACK_MAX + 2];

		memset(over, 'a', sizeof(over) - 1);
		over[sizeof(over) - 1] = '\0';
		memcpy(over, "http://h/", 9);
		CU_ASSERT(!cmd_valid_callback(over));
	}

	/* defaults: left to dispatch_publish */
	CU_ASSERT_EQUAL_FATAL(parse_publish("publish", &rq, sel, error, line),
	    0);
	CU_ASSERT_EQUAL(rq.all, 0);
	CU_ASSERT_EQUAL(rq.nsel, 0);
	CU_ASSERT_EQUAL(rq.ttl, 0);
	CU_ASSERT_PTR_NULL(rq.content_type);
	CU_ASSERT_PTR_NULL(rq.body);
}

static void
test_parse_others(void)
{
	struct status_req	 st;
	struct messages_req	 ms;
	struct cancel_req	 ca;
	char			 error[OP_ERROR_MAX], *argv[PROTO_ARGS_MAX];
	char			 l1[] = "status targets=no", l2[] = "status "
	    "id=ab targets=no", l3[] = "status id=ab", l4[] = "messages",
	    l5[] = "messages limit=0", l6[] = "messages limit=100001",
	    l7[] = "messages limit=ten", l8[] = "messages limit=7",
	    l9[] = "cancel", l10[] = "cancel id=cd";
	int			 argc;

	argc = split(l1, argv);
	CU_ASSERT_EQUAL(cmd_parse_status(argc, argv, &st, error), -1);
	CU_ASSERT_STRING_EQUAL(error, "status needs id=ID");
	argc = split(l2, argv);
	CU_ASSERT_EQUAL_FATAL(cmd_parse_status(argc, argv, &st, error), 0);
	CU_ASSERT_STRING_EQUAL(st.id, "ab");
	CU_ASSERT_EQUAL(st.targets, 0);
	argc = split(l3, argv);
	CU_ASSERT_EQUAL_FATAL(cmd_parse_status(argc, argv, &st, error), 0);
	CU_ASSERT_EQUAL(st.targets, 1);

	argc = split(l4, argv);
	CU_ASSERT_EQUAL(cmd_parse_messages(argc, argv, &ms, error), 0);
	CU_ASSERT_EQUAL(ms.limit, DISPATCH_LIST_DEFAULT);
	argc = split(l5, argv);
	CU_ASSERT_EQUAL(cmd_parse_messages(argc, argv, &ms, error), -1);
	CU_ASSERT_STRING_EQUAL(error, "limit must be 1..100000");
	argc = split(l6, argv);
	CU_ASSERT_EQUAL(cmd_parse_messages(argc, argv, &ms, error), -1);
	argc = split(l7, argv);
	CU_ASSERT_EQUAL(cmd_parse_messages(argc, argv, &ms, error), -1);
	argc = split(l8, argv);
	CU_ASSERT_EQUAL(cmd_parse_messages(argc, argv, &ms, error), 0);
	CU_ASSERT_EQUAL(ms.limit, 7);

	argc = split(l9, argv);
	CU_ASSERT_EQUAL(cmd_parse_cancel(argc, argv, &ca, error), -1);
	CU_ASSERT_STRING_EQUAL(error, "cancel needs id=ID");
	argc = split(l10, argv);
	CU_ASSERT_EQUAL_FATAL(cmd_parse_cancel(argc, argv, &ca, error), 0);
	CU_ASSERT_STRING_EQUAL(ca.id, "cd");
}

static void
test_render(void)
{
	struct publish_result	 pr;
	struct status_result	 sr;
	struct cancel_result	 cr;
	struct target_info	 t[2];
	struct buf		 out = { 0 };

	memset(&pr, 0, sizeof(pr));
	pr.ok = 1;
	pr.id = "0123456789abcdef";
	pr.targets = 3;
	pr.online = 2;
	cmd_render_publish(&out, &pr);
	CU_ASSERT_STRING_EQUAL(out.data, "OK\nid=0123456789abcdef targets=3 "
	    "online=2\n.\n");
	buf_free(&out);

	pr.ok = 0;
	snprintf(pr.error, sizeof(pr.error), "publish: no body\nagain");
	cmd_render_publish(&out, &pr);
	/* one line: control characters do not pass */
	CU_ASSERT_STRING_EQUAL(out.data, "ERR publish: no body?again\n");
	buf_free(&out);

	memset(&sr, 0, sizeof(sr));
	memset(t, 0, sizeof(t));
	sr.ok = 1;
	sr.msg.id = "00ff";
	sr.msg.state = "active";
	sr.msg.selector = "class=a b";
	sr.msg.content_type = "text/plain";
	sr.msg.body_size = 5;
	sr.msg.created_at = 100;
	sr.msg.expires_at = 200;
	sr.msg.targets = 2;
	sr.msg.count[TARGET_PENDING] = 1;
	sr.msg.count[TARGET_ACKED] = 1;
	sr.msg.offline = 1;
	t[0].client = "c1";
	t[0].state = TARGET_PENDING;
	t[0].attempts = 2;
	t[0].last_status = 408;
	t[0].last_attempt = 1000;
	t[0].next_attempt = 5000;
	t[1].client = "c2";
	t[1].state = TARGET_ACKED;
	t[1].attempts = 1;
	t[1].last_status = 200;
	t[1].next_attempt = 7000;	/* not shown: not pending */
	t[1].acked_at = 150;
	sr.t = t;
	sr.nt = 2;
	cmd_render_status(&out, &sr);
	CU_ASSERT_STRING_EQUAL(out.data, "OK\n"
	    "record=message id=00ff state=active selector=class%3Da%20b "
	    "content_type=text/plain body_size=5 created_at=100 "
	    "expires_at=200 finished_at=0 targets=2 pending=1 sent=0 "
	    "acked=1 expired=0 failed=0 cancelled=0 offline=1\n"
	    "record=target client=c1 state=pending attempts=2 "
	    "last_status=408 last_attempt=1000 next_attempt=5000 "
	    "acked_at=0\n"
	    "record=target client=c2 state=acked attempts=1 "
	    "last_status=200 last_attempt=0 next_attempt=0 acked_at=150\n"
	    ".\n");
	buf_free(&out);

	sr.ok = 0;
	snprintf(sr.error, sizeof(sr.error), "no message 00ff");
	cmd_render_status(&out, &sr);
	CU_ASSERT_STRING_EQUAL(out.data, "ERR no message 00ff\n");
	buf_free(&out);

	memset(&cr, 0, sizeof(cr));
	cr.ok = 1;
	cr.id = "ab";
	cr.cancelled = 4;
	cr.in_flight = 1;
	cmd_render_cancel(&out, &cr);
	CU_ASSERT_STRING_EQUAL(out.data,
	    "OK\nid=ab cancelled=4 in_flight=1\n.\n");
	buf_free(&out);
}

static void
test_user(void)
{
	static const struct {
		const char	*line;
		const char	*error;
	} bad[] = {
		{ "user", "user: expected add, del, list or import" },
		{ "user rename id=a", "user: expected add, del, list or "
		    "import" },
		{ "user add password=longenough", "user add: \"\" is not a "
		    "valid client ID (1-64 of A-Z a-z 0-9 . _ -)" },
		{ "user del id=a%20b", "user del: \"a b\" is not a valid "
		    "client ID (1-64 of A-Z a-z 0-9 . _ -)" },
		{ "user import id=a", "user import: entry 1: expected id=ID "
		    "password=PW" },
		{ "user import id=a password=longenough password=x id=b",
		    "user import: entry 2: expected id=ID password=PW" },
		{ "user import id=a%2F password=longenough id=b",
		    "user import: entry 1: \"a/\" is not a valid client ID "
		    "(1-64 of A-Z a-z 0-9 . _ -)" },
		{ "user import id=a password=short",
		    "user import: entry 1 (a): the password must have 8 to "
		    "256 characters and no line break" },
	};
	struct user_cred	 v[PROTO_ARGS_MAX / 2];
	struct user_req		 rq;
	struct user_result	 r;
	struct user_info	 u[2];
	struct buf		 out = { 0 };
	char			 error[OP_ERROR_MAX], line[256];
	char			*argv[PROTO_ARGS_MAX];
	size_t			 i;
	int			 argc;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		strcpy(line, bad[i].line);
		argc = split(line, argv);
		error[0] = '\0';
		CU_ASSERT_EQUAL(cmd_parse_user(argc, argv, &rq, v, error), -1);
		CU_ASSERT_STRING_EQUAL(error, bad[i].error);
	}
	strcpy(line, "user import id=a password=longenough id=b "
	    "password=longerstill");
	argc = split(line, argv);
	CU_ASSERT_EQUAL_FATAL(cmd_parse_user(argc, argv, &rq, v, error), 0);
	CU_ASSERT_EQUAL(rq.op, USER_IMPORT);
	CU_ASSERT_EQUAL_FATAL(rq.n, 2);
	CU_ASSERT_STRING_EQUAL(rq.v[1].id, "b");
	CU_ASSERT_STRING_EQUAL(rq.v[1].password, "longerstill");
	strcpy(line, "user add id=dev1 password=x");
	argc = split(line, argv);
	/* the password is auth_user's to check */
	CU_ASSERT_EQUAL_FATAL(cmd_parse_user(argc, argv, &rq, v, error), 0);
	CU_ASSERT_EQUAL(rq.op, USER_ADD);
	CU_ASSERT_STRING_EQUAL(rq.id, "dev1");
	CU_ASSERT_STRING_EQUAL(rq.password, "x");
	strcpy(line, "user list");
	argc = split(line, argv);
	CU_ASSERT_EQUAL_FATAL(cmd_parse_user(argc, argv, &rq, v, error), 0);
	CU_ASSERT_EQUAL(rq.op, USER_LIST);
	CU_ASSERT_PTR_NULL(rq.id);

	memset(&r, 0, sizeof(r));
	r.ok = 1;
	r.op = USER_LIST;
	u[0].id = "a";
	u[0].realm = "r 1";
	u[0].created_at = 5;
	u[1].id = "b";
	u[1].realm = "r";
	u[1].created_at = 6;
	r.users = u;
	r.nusers = 2;
	cmd_render_user(&out, &r);
	CU_ASSERT_STRING_EQUAL(out.data, "OK\nid=a realm=r%201 created_at=5\n"
	    "id=b realm=r created_at=6\n.\n");
	buf_free(&out);
	r.op = USER_DEL;
	r.id = "a";
	r.unregistered = 1;
	cmd_render_user(&out, &r);
	CU_ASSERT_STRING_EQUAL(out.data, "OK\nid=a unregistered=1\n.\n");
	buf_free(&out);
}

int
test_command_register(void)
{
	CU_pSuite	 s;

	if ((s = CU_add_suite("command", NULL, NULL)) == NULL)
		return -1;
	if (CU_add_test(s, "table: lookup, rows sorted, flags",
	    test_table) == NULL ||
	    CU_add_test(s, "unknown command, ping", test_unknown) == NULL ||
	    CU_add_test(s, "detach before and after done",
	    test_detach) == NULL ||
	    CU_add_test(s, "publish arguments", test_parse_publish) == NULL ||
	    CU_add_test(s, "status, messages, cancel arguments",
	    test_parse_others) == NULL ||
	    CU_add_test(s, "rendering of results", test_render) == NULL ||
	    CU_add_test(s, "user arguments and replies", test_user) == NULL)
		return -1;
	return 0;
}
