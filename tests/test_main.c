/*
 * test_main.c: runs every unit-test suite, on a fake wall clock.
 *
 * usage: tests/unit [-v] [suite ...]
 *   -v     verbose: CUnit lists each test, the daemon logs at debug
 *   suite  run only the named suites (config, proto, store, clients,
 *          registrar, heartbeat, webhook, ...)
 * Exits 0 only if every test ran and passed.
 */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "sippushd.h"
#include "tests.h"

int64_t		 test_now = 1700000000;
int		 test_now_ms;

/* The wall clock the daemon's code reads in the tests (clock_fake). */
static int64_t
test_clock(void)
{
	return test_now * 1000 + test_now_ms;
}

/* Make a fresh folder under $TMPDIR (or /tmp) into dir; 0 or -1. */
int
test_mkdtemp(char *dir, size_t len)
{
	const char	*tmp = getenv("TMPDIR");
	int		 n;

	if (tmp == NULL || *tmp == '\0')
		tmp = "/tmp";
	n = snprintf(dir, len, "%s/sippush-unit.XXXXXX", tmp);
	if (n < 0 || (size_t)n >= len)
		return -1;
	return mkdtemp(dir) ? 0 : -1;
}

static int
test_rm(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

/* Remove dir and everything in it. */
void
test_rmtree(const char *dir)
{
	if (dir && *dir)
		nftw(dir, test_rm, 16, FTW_DEPTH | FTW_PHYS);
}

/* Write text to path (replacing it); 0 or -1. */
int
test_write_file(const char *path, const char *text)
{
	FILE	*fp;
	int	 rv = 0;

	if ((fp = fopen(path, "w")) == NULL)
		return -1;
	if (fputs(text, fp) == EOF)
		rv = -1;
	if (fclose(fp) == EOF)
		rv = -1;
	return rv;
}

int
test_contains(const char *haystack, const char *needle)
{
	return haystack && needle && strstr(haystack, needle) != NULL;
}

int test_dispatch_register(void);	/* test_dispatch.c */
int test_cluster_register(void);	/* test_cluster.c */

static int (*const suites[])(void) = {
	test_config_register,
	test_proto_register,
	test_store_register,
	test_clients_register,
	test_registrar_register,
	test_heartbeat_register,
	test_commit_register,
	test_dispatch_register,
	test_client_register,
	test_auth_register,
	test_command_register,
	test_tls_register,
	test_guard_register,
	test_http_register,
	test_wire_register,
	test_relay_register,
	test_webhook_register,
	test_cluster_register,
};

int
main(int argc, char *argv[])
{
	CU_pSuite	 s;
	CU_ErrorCode	 rc;
	unsigned int	 failed_tests, failed_suites, failures, run;
	size_t		 i;
	int		 ch, verbose = 0;

	while ((ch = getopt(argc, argv, "v")) != -1) {
		switch (ch) {
		case 'v':
			verbose = 1;
			break;
		default:
			fprintf(stderr, "usage: %s [-v] [suite ...]\n", argv[0]);
			return 2;
		}
	}
	/* expected failures log at level error; the rest only with -v */
	log_init(1, verbose ? LOG_LEVEL_DEBUG : LOG_LEVEL_ERROR, "unit");
	clock_fake(test_clock);

	if (CU_initialize_registry() != CUE_SUCCESS) {
		fprintf(stderr, "unit: %s\n", CU_get_error_msg());
		return 1;
	}
	for (i = 0; i < sizeof(suites) / sizeof(suites[0]); i++)
		if (suites[i]() == -1) {
			fprintf(stderr, "unit: cannot add suite: %s\n",
			    CU_get_error_msg());
			CU_cleanup_registry();
			return 1;
		}
	if (optind < argc) {
		for (s = CU_get_registry()->pSuite; s; s = s->pNext)
			CU_set_suite_active(s, CU_FALSE);
		for (i = (size_t)optind; i < (size_t)argc; i++) {
			if ((s = CU_get_suite(argv[i])) == NULL) {
				fprintf(stderr, "unit: no suite \"%s\"\n",
				    argv[i]);
				CU_cleanup_registry();
				return 2;
			}
			CU_set_suite_active(s, CU_TRUE);
		}
	}

	CU_basic_set_mode(verbose ? CU_BRM_VERBOSE : CU_BRM_NORMAL);
	rc = CU_basic_run_tests();
	failed_tests = CU_get_number_of_tests_failed();
	failed_suites = CU_get_number_of_suites_failed();
	failures = CU_get_number_of_failures();
	run = CU_get_number_of_tests_run();
	printf("\nunit: %u tests run, %u failed (%u failed assertions), "
	    "%u suites failed to set up\n", run, failed_tests, failures,
	    failed_suites);
	CU_cleanup_registry();
	/* suites left out on the command line are "inactive": no error */
	if (rc != CUE_SUCCESS && rc != CUE_SUITE_INACTIVE) {
		fprintf(stderr, "unit: CUnit: error %d\n", (int)rc);
		return 1;
	}
	return failed_tests || failed_suites || failures || run == 0 ? 1 : 0;
}

/* ---- writing rows the way the daemon's owners do, for the tests ---- */

static struct store_batch	 ts_batch;
static int			 ts_open;	/* between ts_begin, ts_commit */

/* Start collecting rows for one store_write. */
int
ts_begin(void)
{
	store_batch_free(&ts_batch);
	ts_open = 1;
	return 0;
}

/* Write what was collected in one transaction: 0 or -1. */
int
ts_commit(void)
{
	int	 rv = store_write(&ts_batch);

	store_batch_free(&ts_batch);
	ts_open = 0;
	return rv;
}

void
ts_rollback(void)
{
	store_batch_free(&ts_batch);
	ts_open = 0;
}

/* Outside ts_begin..ts_commit a row is written at once. */
static int
ts_added(int rv)
{
	if (rv == -1)
		return -1;
	return ts_open ? 0 : ts_commit();
}

void
ts_client_row(const struct client *c, int op, struct client_row *r)
{
	memset(r, 0, sizeof(*r));
	r->op = op;
	r->id = c->id;
	r->class = c->class;
	r->state = clients_state_name(c->state);
	r->contact = c->contact;
	r->transport = clients_transport_name(c->transport);
	r->address = c->address;
	r->port = c->port;
	r->user_agent = c->user_agent;
	r->path = c->path;
	r->registered_at = c->registered_at;
	r->expires_at = c->expires_at;
	r->last_seen = c->last_seen;
}

int
ts_put_client(const struct client *c)
{
	struct client_row	 r;

	ts_client_row(c, STORE_PUT, &r);
	return ts_added(store_batch_client(&ts_batch, &r));
}

int
ts_touch_client(const struct client *c)
{
	struct client_row	 r;

	ts_client_row(c, STORE_TOUCH, &r);
	return ts_added(store_batch_client(&ts_batch, &r));
}

int
ts_delete_client(const char *id)
{
	struct client_row	 r;

	memset(&r, 0, sizeof(r));
	r.op = STORE_DELETE;
	r.id = id;
	return ts_added(store_batch_client(&ts_batch, &r));
}

int
ts_put_message(const struct message *m)
{
	struct message_row	 r;

	memset(&r, 0, sizeof(r));
	r.op = STORE_PUT;
	r.id = m->id;
	r.state = dispatch_message_state_name(m->state);
	r.selector = m->selector;
	r.content_type = m->content_type;
	r.body = m->body;
	r.body_len = m->body_len;
	r.created_at = m->created_at;
	r.expires_at = m->expires_at;
	r.finished_at = m->finished_at;
	return ts_added(store_batch_message(&ts_batch, &r));
}

int
ts_set_message_state(const struct message *m)
{
	struct message_row	 r;

	memset(&r, 0, sizeof(r));
	r.op = STORE_TOUCH;
	r.id = m->id;
	r.state = dispatch_message_state_name(m->state);
	r.finished_at = m->finished_at;
	return ts_added(store_batch_message(&ts_batch, &r));
}

int
ts_put_target(const struct message *m, const struct target *t)
{
	struct target_row	 r;

	memset(&r, 0, sizeof(r));
	r.op = STORE_PUT;
	r.message_id = m->id;
	r.client = t->client;
	r.state = dispatch_target_state_name(t->state == TARGET_SENT ?
	    TARGET_PENDING : t->state);
	r.attempts = t->attempts;
	r.next_attempt = t->next_attempt;
	r.last_attempt = t->last_attempt;
	r.acked_at = t->acked_at;
	r.last_status = t->last_status;
	return ts_added(store_batch_target(&ts_batch, &r));
}

int
ts_put_user(const char *id, const char *realm, const char *sha256,
    const char *md5, int64_t now)
{
	struct user_row	 r;

	memset(&r, 0, sizeof(r));
	r.op = STORE_PUT;
	r.id = id;
	r.realm = realm;
	r.ha1_sha256 = sha256;
	r.ha1_md5 = md5;
	r.created_at = now;
	return ts_added(store_batch_user(&ts_batch, &r));
}

int
ts_delete_user(const char *id)
{
	struct user_row	 r;

	memset(&r, 0, sizeof(r));
	r.op = STORE_DELETE;
	r.id = id;
	return ts_added(store_batch_user(&ts_batch, &r));
}

struct ts_load {
	int	(*fn)(const struct client *, void *);
	void	*arg;
};

static int
ts_load_one(const struct client_row *r, void *arg)
{
	struct ts_load	*tl = arg;
	struct client	 c;
	int		 v;

	memset(&c, 0, sizeof(c));
	c.id = (char *)r->id;
	c.class = (char *)r->class;
	v = clients_state_parse(r->state);
	c.state = (uint8_t)(v < 0 ? CLIENT_OFFLINE : v);
	c.contact = (char *)r->contact;
	v = clients_transport_parse(r->transport);
	c.transport = (uint8_t)(v < 0 ? TRANSPORT_UDP : v);
	snprintf(c.address, sizeof(c.address), "%s", r->address);
	c.port = (uint16_t)r->port;
	c.user_agent = (char *)r->user_agent;
	c.path = (char *)r->path;
	c.registered_at = r->registered_at;
	c.expires_at = r->expires_at;
	c.last_seen = r->last_seen;
	return tl->fn(&c, tl->arg);
}

/* store_load_clients, each row as a struct client. */
int
ts_load_clients(int (*fn)(const struct client *, void *), void *arg)
{
	struct ts_load	 tl = { fn, arg };

	return store_load_clients(ts_load_one, &tl);
}
