/*
 * test_config.c: defaults, loading, error messages and printing
 * (config.c), and the documentation of the options (the defaults and
 * ranges of man/sippushd.conf.5, the example etc/sippushd.conf) checked
 * against the code. Each test writes its file into a folder made for the
 * suite.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "sippushd.h"
#include "tests.h"

static char	 cfg_dir[TEST_DIR_MAX];
static char	 cfg_file[PATH_MAX];

static int
config_suite_init(void)
{
	if (test_mkdtemp(cfg_dir, sizeof(cfg_dir)) == -1)
		return -1;
	snprintf(cfg_file, sizeof(cfg_file), "%s/test.conf", cfg_dir);
	return 0;
}

static int
config_suite_clean(void)
{
	test_rmtree(cfg_dir);
	return 0;
}

/* Load text (written to cfg_file) over the defaults into c. */
static int
load_text(struct config *c, const char *text, char *err, size_t errlen)
{
	config_defaults(c);
	err[0] = '\0';
	if (test_write_file(cfg_file, text) == -1) {
		snprintf(err, errlen, "cannot write the test file");
		return -2;
	}
	return config_load(c, cfg_file, err, errlen);
}

/*
 * Load text, which must fail with "cfg_file:line: ..." (line 0: with
 * "cfg_file: ...", no line) and a message holding every word of want
 * (separated by '|').
 */
static void
expect_error(const char *text, int line, const char *want, int srcline)
{
	struct config	 c;
	char		 err[512], prefix[PATH_MAX + 32], words[256], *w, *save;
	int		 rv, ok = 1;

	rv = load_text(&c, text, err, sizeof(err));
	config_free(&c);
	if (line > 0)
		snprintf(prefix, sizeof(prefix), "%s:%d: ", cfg_file, line);
	else
		snprintf(prefix, sizeof(prefix), "%s: ", cfg_file);
	if (rv != -1 || strncmp(err, prefix, strlen(prefix)) != 0)
		ok = 0;
	snprintf(words, sizeof(words), "%s", want);
	for (w = strtok_r(words, "|", &save); w; w = strtok_r(NULL, "|", &save))
		if (!test_contains(err + strlen(prefix), w))
			ok = 0;
	if (!ok)
		fprintf(stderr, "\nconfig (test line %d): rv %d, error \"%s\", "
		    "expected \"%s\" and \"%s\"\n", srcline, rv, err, prefix,
		    want);
	CU_ASSERT(ok);
}

#define EXPECT_ERROR(text, line, want) \
	expect_error((text), (line), (want), __LINE__)

/* Every effective value of a equals b's (paths aside). */
/* Two strings that may be NULL (unset). */
static void
assert_same_string(const char *a, const char *b)
{
	if (a == NULL || b == NULL) {
		CU_ASSERT_PTR_EQUAL(a, b);
	} else {
		CU_ASSERT_STRING_EQUAL(a, b);
	}
}

static void
assert_same_config(const struct config *a, const struct config *b)
{
	CU_ASSERT_STRING_EQUAL(a->sip_address, b->sip_address);
	CU_ASSERT_EQUAL(a->sip_port, b->sip_port);
	CU_ASSERT_EQUAL(a->sip_udp, b->sip_udp);
	CU_ASSERT_EQUAL(a->sip_tcp, b->sip_tcp);
	CU_ASSERT_EQUAL(a->sip_max_size, b->sip_max_size);
	CU_ASSERT_EQUAL(a->sip_udp_buffer, b->sip_udp_buffer);
	CU_ASSERT_EQUAL(a->sip_tcp_idle, b->sip_tcp_idle);
	CU_ASSERT_EQUAL(a->sip_tcp_msg_timeout, b->sip_tcp_msg_timeout);
	CU_ASSERT_STRING_EQUAL(a->db_path, b->db_path);
	CU_ASSERT_EQUAL(a->db_sync_full, b->db_sync_full);
	CU_ASSERT_EQUAL(a->db_commit_delay, b->db_commit_delay);
	CU_ASSERT_EQUAL(a->reg_min_expires, b->reg_min_expires);
	CU_ASSERT_EQUAL(a->reg_max_expires, b->reg_max_expires);
	CU_ASSERT_EQUAL(a->reg_default_expires, b->reg_default_expires);
	CU_ASSERT_EQUAL(a->reg_retain, b->reg_retain);
	CU_ASSERT_EQUAL(a->reg_max_clients, b->reg_max_clients);
	CU_ASSERT_EQUAL(a->reg_rate, b->reg_rate);
	CU_ASSERT_STRING_EQUAL(a->reg_default_class, b->reg_default_class);
	CU_ASSERT_EQUAL(a->hb_timeout, b->hb_timeout);
	CU_ASSERT_EQUAL(a->hb_sweep_interval, b->hb_sweep_interval);
	CU_ASSERT_STRING_EQUAL(a->ctl_socket, b->ctl_socket);
	CU_ASSERT_EQUAL(a->ctl_gid, b->ctl_gid);
	CU_ASSERT_EQUAL(a->dp_max_in_flight, b->dp_max_in_flight);
	CU_ASSERT_EQUAL(a->dp_timeout, b->dp_timeout);
	CU_ASSERT_EQUAL(a->dp_retry_initial, b->dp_retry_initial);
	CU_ASSERT_EQUAL(a->dp_retry_multiplier, b->dp_retry_multiplier);
	CU_ASSERT_EQUAL(a->dp_retry_max, b->dp_retry_max);
	CU_ASSERT_EQUAL(a->dp_retry_jitter, b->dp_retry_jitter);
	CU_ASSERT_EQUAL(a->dp_max_attempts, b->dp_max_attempts);
	CU_ASSERT_EQUAL(a->dp_default_ttl, b->dp_default_ttl);
	CU_ASSERT_EQUAL(a->dp_max_ttl, b->dp_max_ttl);
	CU_ASSERT_EQUAL(a->dp_max_body, b->dp_max_body);
	CU_ASSERT_EQUAL(a->dp_max_pending, b->dp_max_pending);
	CU_ASSERT_EQUAL(a->dp_retain, b->dp_retain);
	CU_ASSERT_EQUAL(a->log_level, b->log_level);
	CU_ASSERT_EQUAL(a->log_sip_level, b->log_sip_level);
	CU_ASSERT_EQUAL(a->tls_enable, b->tls_enable);
	CU_ASSERT_EQUAL(a->tls_port, b->tls_port);
	CU_ASSERT_EQUAL(a->wh_nurl, b->wh_nurl);
	CU_ASSERT_EQUAL(a->wh_events, b->wh_events);
	CU_ASSERT_EQUAL(a->wh_timeout, b->wh_timeout);
	CU_ASSERT_EQUAL(a->wh_max_attempts, b->wh_max_attempts);
	CU_ASSERT_EQUAL(a->wh_retry_initial, b->wh_retry_initial);
	CU_ASSERT_EQUAL(a->wh_retry_max, b->wh_retry_max);
	CU_ASSERT_EQUAL(a->wh_max_in_flight, b->wh_max_in_flight);
	assert_same_string(a->wh_secret, b->wh_secret);
	assert_same_string(a->tls_cert, b->tls_cert);
	assert_same_string(a->tls_key, b->tls_key);
	assert_same_string(a->tls_ca, b->tls_ca);
}

/* The built-in defaults, as man/sippushd.conf.5 states them. */
static void
test_defaults(void)
{
	struct config	 c;
	char		 err[512];

	config_defaults(&c);
	CU_ASSERT_PTR_NULL(c.path);
	CU_ASSERT_STRING_EQUAL(c.sip_address, "0.0.0.0");
	CU_ASSERT_EQUAL(c.sip_port, 5060);
	CU_ASSERT_EQUAL(c.sip_udp, 1);
	CU_ASSERT_EQUAL(c.sip_tcp, 1);
	CU_ASSERT_EQUAL(c.sip_max_size, 65536);
	CU_ASSERT_EQUAL(c.sip_udp_buffer, 8388608);
	CU_ASSERT_EQUAL(c.sip_tcp_idle, 120);
	CU_ASSERT_EQUAL(c.sip_tcp_msg_timeout, 10);
	CU_ASSERT_STRING_EQUAL(c.db_path, SIPPUSH_DBPATH);
	CU_ASSERT_EQUAL(c.db_sync_full, 1);
	CU_ASSERT_EQUAL(c.db_commit_delay, 10);
	CU_ASSERT_EQUAL(c.reg_min_expires, 60);
	CU_ASSERT_EQUAL(c.reg_max_expires, 3600);
	CU_ASSERT_EQUAL(c.reg_default_expires, 600);
	CU_ASSERT_EQUAL(c.reg_retain, 86400);
	CU_ASSERT_EQUAL(c.reg_max_clients, 1000000);
	CU_ASSERT_EQUAL(c.reg_rate, CONFIG_REG_RATE);
	CU_ASSERT_STRING_EQUAL(c.reg_default_class, "default");
	CU_ASSERT_EQUAL(c.hb_timeout, 90);
	CU_ASSERT_EQUAL(c.hb_sweep_interval, 5);
	CU_ASSERT_STRING_EQUAL(c.ctl_socket, SIPPUSH_SOCKET);
	CU_ASSERT_EQUAL(c.dp_max_in_flight, 1000);
	CU_ASSERT_EQUAL(c.dp_timeout, 8000);
	CU_ASSERT_EQUAL(c.dp_retry_initial, 1000);
	CU_ASSERT_EQUAL(c.dp_retry_multiplier, 2);
	CU_ASSERT_EQUAL(c.dp_retry_max, 60000);
	CU_ASSERT_EQUAL(c.dp_retry_jitter, 20);
	CU_ASSERT_EQUAL(c.dp_max_attempts, 0);
	CU_ASSERT_EQUAL(c.dp_default_ttl, 86400);
	CU_ASSERT_EQUAL(c.dp_max_ttl, 604800);
	CU_ASSERT_EQUAL(c.dp_max_body, 1300);
	CU_ASSERT_EQUAL(c.dp_max_pending, 1000);
	CU_ASSERT_EQUAL(c.dp_retain, 604800);
	CU_ASSERT_EQUAL(c.log_level, LOG_LEVEL_INFO);
	CU_ASSERT_EQUAL(c.log_sip_level, 0);
	CU_ASSERT_STRING_EQUAL(config_log_level_name(c.log_level), "info");
	CU_ASSERT_STRING_EQUAL(config_log_level_name(LOG_LEVEL_ERROR),
	    "error");
	CU_ASSERT_STRING_EQUAL(config_log_level_name(LOG_LEVEL_DEBUG),
	    "debug");
	config_free(&c);
	CU_ASSERT_PTR_NULL(c.db_path);
	CU_ASSERT_PTR_NULL(c.sip_address);

	/* the defaults pass the cross-checks: an empty file loads */
	CU_ASSERT_EQUAL(load_text(&c, "# nothing\n", err, sizeof(err)), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c.path);
	CU_ASSERT_STRING_EQUAL(c.path, cfg_file);
	CU_ASSERT_EQUAL(c.sip_port, 5060);
	CU_ASSERT_EQUAL(c.reg_default_expires, 600);
	CU_ASSERT_STRING_EQUAL(c.db_path, SIPPUSH_DBPATH);
	config_free(&c);
	CU_ASSERT_PTR_NULL(c.path);
}

static const char full_conf[] =
    "# every option, none at its default\n"
    "sip = {\n"
    "  address = \"127.0.0.1\";\n"
    "  port = 5070;\n"
    "  udp = false;\n"
    "  tcp = true;\n"
    "  max_message_size = 2048;\n"
    "  udp_buffer = 65536;\n"
    "  tcp_idle_timeout = 86400;\n"
    "  tcp_message_timeout = 1;\n"
    "};\n"
    "database = {\n"
    "  path = \"/var/tmp/sippush-unit/x.db\";\n"
    "  synchronous = \"normal\";\n"
    "  commit_delay = 0;\n"
    "};\n"
    "registration = {\n"
    "  min_expires = 30;\n"
    "  max_expires = 7200L;\n"		/* a 64-bit literal is an integer too */
    "  default_expires = 120;\n"
    "  default_class = \"ios.voip-1\";\n"
    "  retain = 0;\n"
    "  max_clients = 100000000;\n"
    "  rate_per_source = 50;\n"
    "};\n"
    "heartbeat = {\n"
    "  timeout = 0;\n"
    "  sweep_interval = 3600;\n"
    "};\n"
    "control = {\n"
    "  socket = \"/var/tmp/sippush-unit/ctl.sock\";\n"
    "};\n"
    "dispatch = {\n"
    "  max_in_flight = 7;\n"
    "  timeout = 32000;\n"
    "  retry_initial = 100;\n"
    "  retry_multiplier = 10;\n"
    "  retry_max = 86400000;\n"
    "  retry_jitter = 0;\n"
    "  max_attempts = 3;\n"
    "  default_ttl = 60;\n"
    "  max_ttl = 120;\n"
    "  max_body = 1024;\n"		/* + 1024 = max_message_size */
    "  max_pending_per_client = 1;\n"
    "  retain = 0;\n"
    "};\n"
    "log = {\n"
    "  level = \"debug\";\n"
    "  sip_level = 9;\n"
    "};\n";

static void
test_load_all_types(void)
{
	struct config	 c;
	char		 err[512];

	CU_ASSERT_EQUAL_FATAL(load_text(&c, full_conf, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(c.path, cfg_file);
	CU_ASSERT_STRING_EQUAL(c.sip_address, "127.0.0.1");
	CU_ASSERT_EQUAL(c.sip_port, 5070);
	CU_ASSERT_EQUAL(c.sip_udp, 0);
	CU_ASSERT_EQUAL(c.sip_tcp, 1);
	CU_ASSERT_EQUAL(c.sip_max_size, 2048);
	CU_ASSERT_EQUAL(c.sip_udp_buffer, 65536);
	CU_ASSERT_EQUAL(c.sip_tcp_idle, 86400);
	CU_ASSERT_EQUAL(c.sip_tcp_msg_timeout, 1);
	CU_ASSERT_STRING_EQUAL(c.db_path, "/var/tmp/sippush-unit/x.db");
	CU_ASSERT_EQUAL(c.db_sync_full, 0);
	CU_ASSERT_EQUAL(c.db_commit_delay, 0);
	CU_ASSERT_EQUAL(c.reg_min_expires, 30);
	CU_ASSERT_EQUAL(c.reg_max_expires, 7200);
	CU_ASSERT_EQUAL(c.reg_default_expires, 120);
	CU_ASSERT_STRING_EQUAL(c.reg_default_class, "ios.voip-1");
	CU_ASSERT_EQUAL(c.reg_retain, 0);
	CU_ASSERT_EQUAL(c.reg_max_clients, 100000000);
	CU_ASSERT_EQUAL(c.reg_rate, 50);
	CU_ASSERT_EQUAL(c.hb_timeout, 0);
	CU_ASSERT_EQUAL(c.hb_sweep_interval, 3600);
	CU_ASSERT_STRING_EQUAL(c.ctl_socket, "/var/tmp/sippush-unit/ctl.sock");
	CU_ASSERT_EQUAL(c.dp_max_in_flight, 7);
	CU_ASSERT_EQUAL(c.dp_timeout, 32000);
	CU_ASSERT_EQUAL(c.dp_retry_initial, 100);
	CU_ASSERT_EQUAL(c.dp_retry_multiplier, 10);
	CU_ASSERT_EQUAL(c.dp_retry_max, 86400000);
	CU_ASSERT_EQUAL(c.dp_retry_jitter, 0);
	CU_ASSERT_EQUAL(c.dp_max_attempts, 3);
	CU_ASSERT_EQUAL(c.dp_default_ttl, 60);
	CU_ASSERT_EQUAL(c.dp_max_ttl, 120);
	CU_ASSERT_EQUAL(c.dp_max_body, 1024);
	CU_ASSERT_EQUAL(c.dp_max_pending, 1);
	CU_ASSERT_EQUAL(c.dp_retain, 0);
	CU_ASSERT_EQUAL(c.log_level, LOG_LEVEL_DEBUG);
	CU_ASSERT_EQUAL(c.log_sip_level, 9);
	config_free(&c);

	/* the other values of the enums, and the range edges */
	CU_ASSERT_EQUAL_FATAL(load_text(&c,
	    "database = { synchronous = \"full\"; commit_delay = 1000; };\n"
	    "log = { level = \"error\"; sip_level = 0; };\n"
	    "sip = { port = 65535; max_message_size = 1048576;"
	    " udp = true; tcp = false; };\n", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(c.db_sync_full, 1);
	CU_ASSERT_EQUAL(c.db_commit_delay, 1000);
	CU_ASSERT_EQUAL(c.log_level, LOG_LEVEL_ERROR);
	CU_ASSERT_EQUAL(c.sip_port, 65535);
	CU_ASSERT_EQUAL(c.sip_max_size, 1048576);
	CU_ASSERT_EQUAL(c.sip_udp, 1);
	CU_ASSERT_EQUAL(c.sip_tcp, 0);
	config_free(&c);
	CU_ASSERT_EQUAL_FATAL(load_text(&c,
	    "log = { level = \"warning\"; };\n", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(c.log_level, LOG_LEVEL_WARNING);
	config_free(&c);
	CU_ASSERT_EQUAL_FATAL(load_text(&c,
	    "log = { level = \"notice\"; };\n", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(c.log_level, LOG_LEVEL_NOTICE);
	config_free(&c);
}

static void
test_error_syntax(void)
{
	EXPECT_ERROR("sip = {\n\n  port = ;\n};\n", 3, "syntax error");
	EXPECT_ERROR("# comment\nsip = {\n  port = 5060;\n", 4, "");
	EXPECT_ERROR("sip = {\n  port 5060;\n};\n", 2, "syntax error");
}

static void
test_error_unknown(void)
{
	EXPECT_ERROR("sip = {\n  port = 5060;\n  prot = 5061;\n};\n", 3,
	    "sip.prot|unknown option");
	/* an option of another section is unknown here */
	EXPECT_ERROR("# c\n\ndatabase = {\n  port = 5060;\n};\n", 4,
	    "database.port|unknown option");
	EXPECT_ERROR("sip = { port = 5060; };\n\nsipp = {\n  port = 1;\n};\n",
	    3, "sipp|unknown section");
	EXPECT_ERROR("log = { level = \"info\"; };\nport = 5060;\n", 2,
	    "port|unknown section");
	/* a known section name given a plain value */
	EXPECT_ERROR("\nsip = 5060;\n", 2, "sip|group");
}

static void
test_error_type(void)
{
	EXPECT_ERROR("sip = {\n  port = \"5060\";\n};\n", 2,
	    "sip.port|integer");
	EXPECT_ERROR("sip = {\n  port = 5060.0;\n};\n", 2,
	    "sip.port|integer");
	EXPECT_ERROR("sip = {\n  address = \"::\";\n  udp = 1;\n};\n", 3,
	    "sip.udp|true or false");
	EXPECT_ERROR("sip = {\n  tcp = \"yes\";\n};\n", 2,
	    "sip.tcp|true or false");
	EXPECT_ERROR("database = {\n\n  path = 5;\n};\n", 3,
	    "database.path|string");
	EXPECT_ERROR("database = {\n  synchronous = true;\n};\n", 2,
	    "database.synchronous|string");
	EXPECT_ERROR("log = {\n  level = 3;\n};\n", 2, "log.level|string");
	EXPECT_ERROR("control = {\n  socket = [\"a\", \"b\"];\n};\n", 2,
	    "control.socket|string");
	EXPECT_ERROR("registration = {\n  default_class = \"\";\n};\n", 2,
	    "registration.default_class|empty");
}

static void
test_error_range(void)
{
	EXPECT_ERROR("sip = {\n  port = 0;\n};\n", 2,
	    "sip.port|0|1..65535");
	EXPECT_ERROR("sip = {\n  udp = true;\n  port = 65536;\n};\n", 3,
	    "sip.port|65536|1..65535");
	EXPECT_ERROR("sip = {\n  port = -1;\n};\n", 2, "sip.port|-1");
	EXPECT_ERROR("sip = {\n  port = 4294972356L;\n};\n", 2,
	    "sip.port|4294972356");
	EXPECT_ERROR("sip = {\n  max_message_size = 1023;\n};\n", 2,
	    "sip.max_message_size|1023|1024..1048576");
	EXPECT_ERROR("database = {\n  commit_delay = 1001;\n};\n", 2,
	    "database.commit_delay|1001|0..1000");
	EXPECT_ERROR("registration = {\n  min_expires = 0;\n};\n", 2,
	    "registration.min_expires|0|1..86400");
	EXPECT_ERROR("registration = {\n  max_expires = 604801;\n};\n", 2,
	    "registration.max_expires|604801");
	EXPECT_ERROR("registration = {\n  retain = -5;\n};\n", 2,
	    "registration.retain|-5");
	EXPECT_ERROR("heartbeat = {\n  timeout = 86401;\n};\n", 2,
	    "heartbeat.timeout|86401");
	EXPECT_ERROR("heartbeat = {\n  sweep_interval = 0;\n};\n", 2,
	    "heartbeat.sweep_interval|0|1..3600");
	EXPECT_ERROR("log = {\n  sip_level = 10;\n};\n", 2,
	    "log.sip_level|10|0..9");
	EXPECT_ERROR("sip = {\n  udp_buffer = 65535;\n};\n", 2,
	    "sip.udp_buffer|65535|65536..268435456");
	EXPECT_ERROR("dispatch = {\n  timeout = 999;\n};\n", 2,
	    "dispatch.timeout|999|1000..32000");
	EXPECT_ERROR("dispatch = {\n  max_body = 60001;\n};\n", 2,
	    "dispatch.max_body|60001|1..60000");
}

/*
 * Integers beyond the range of int, which libconfig 1.5 narrows without a
 * word (4294972356 read as 5060), floats, and numbers beyond 64 bits: each
 * refused with the value as written, never taken as its remainder.
 */
static void
test_error_wrap(void)
{
	struct config	 c;
	char		 err[512];

	EXPECT_ERROR("sip = {\n  port = 4294972356;\n};\n", 2,
	    "sip.port: 4294972356 is out of range 1..65535");
	EXPECT_ERROR("registration = {\n  max_clients = 4294967297;\n};\n",
	    2, "registration.max_clients: 4294967297 is out of range");
	EXPECT_ERROR("sip = {\n  port = 99999999999999999999;\n};\n", 2,
	    "sip.port: 99999999999999999999 is out of range 1..65535");
	EXPECT_ERROR("sip = {\n  port = -99999999999999999999;\n};\n", 2,
	    "sip.port: -99999999999999999999 is out of range");
	EXPECT_ERROR("sip = {\n  port = 99999999999999999999L;\n};\n", 2,
	    "sip.port: 99999999999999999999L is out of range");
	EXPECT_ERROR("dispatch = {\n  max_in_flight = -4294967295;\n};\n", 2,
	    "dispatch.max_in_flight: -4294967295 is out of range");
	/* longer than any buffer: 4294972356 after 70 zeros */
	EXPECT_ERROR("sip = {\n  port = 000000000000000000000000000000000000"
	    "00000000000000000000000000000000004294972356;\n};\n", 2,
	    "sip.port: 0000|4294972356 is out of range");
	EXPECT_ERROR("sip = {\n  port = -9223372036854775809;\n};\n", 2,
	    "sip.port: -9223372036854775809 is out of range");
	EXPECT_ERROR("sip = {\n  port = 0xffffffff;\n};\n", 2,
	    "sip.port: 0xffffffff is out of range");
	EXPECT_ERROR("sip = {\n  port = 0x100001014;\n};\n", 2,
	    "sip.port: 0x100001014 is out of range");
	EXPECT_ERROR("sip = {\n  port = 1e3;\n};\n", 2,
	    "sip.port: 1e3 is not an integer");
	EXPECT_ERROR("log = {\n  sip_level = 2.0;\n};\n", 2,
	    "log.sip_level: 2.0 is not an integer");
	/* control.group: 4294967296 was gid 0, root */
	EXPECT_ERROR("control = {\n  group = 4294967296;\n};\n", 2,
	    "control.group: 4294967296 is out of range");
	EXPECT_ERROR("control = {\n  group = 1.5;\n};\n", 2,
	    "control.group: 1.5 is not an integer");

	/* hexadecimal and 64-bit literals within range are taken */
	CU_ASSERT_EQUAL_FATAL(load_text(&c, "sip = { port = 0x13c4; };\n"
	    "registration = { max_clients = 4242L; retain = +7LL; };\n",
	    err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(c.sip_port, 5060);
	CU_ASSERT_EQUAL(c.reg_max_clients, 4242);
	CU_ASSERT_EQUAL(c.reg_retain, 7);
	config_free(&c);
}

/* The text of each number is found whatever surrounds it: comments,
 * strings, lists, two options of one name, no ';', an @include. */
static void
test_number_text(void)
{
	struct config	 c;
	char		 err[512], inc[PATH_MAX + 16], text[PATH_MAX + 256];

	CU_ASSERT_EQUAL_FATAL(load_text(&c,
	    "# port = 4294972356;\n"
	    "/* sip = { port = 99999999999999999999; }; */\n"
	    "sip = { address = \"127.0.0.1\"; port = 5070 // 4294967297\n"
	    "  max_message_size : 4096\n"
	    "};\n"
	    "database = { path = \"/x/a{b}\\\"c = 1;\" \"y.db\"; };\n"
	    "registration = { max_clients = 77; };\n"
	    "tls = { port = 5071; };\n", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(c.sip_port, 5070);
	CU_ASSERT_EQUAL(c.sip_max_size, 4096);
	CU_ASSERT_EQUAL(c.reg_max_clients, 77);
	CU_ASSERT_EQUAL(c.tls_port, 5071);
	CU_ASSERT_STRING_EQUAL(c.db_path, "/x/a{b}\"c = 1;y.db");
	config_free(&c);

	/* the same name in two sections, on one line: each its own */
	EXPECT_ERROR("sip = { port = 5060; }; tls = { port = 4294972357; };\n",
	    1, "tls.port: 4294972357 is out of range");
	EXPECT_ERROR("tls = { port = 5061; }; sip = { port = 4294972356; };\n",
	    1, "sip.port: 4294972356 is out of range");

	/* in an included file: that file and its line */
	snprintf(inc, sizeof(inc), "%s/inc.conf", cfg_dir);
	CU_ASSERT_EQUAL_FATAL(test_write_file(inc,
	    "\nmax_clients = 4294967297;\n"), 0);
	snprintf(text, sizeof(text), "registration = {\n  @include \"%s\"\n"
	    "};\n", inc);
	CU_ASSERT_EQUAL(load_text(&c, text, err, sizeof(err)), -1);
	config_free(&c);
	snprintf(text, sizeof(text), "%s:2: registration.max_clients: "
	    "4294967297 is out of range", inc);
	if (!test_contains(err, text))
		fprintf(stderr, "\nconfig: \"%s\", expected \"%s\"\n", err,
		    text);
	CU_ASSERT(test_contains(err, text));
}

/* sip.address: numeric only (as the start takes it); one that is not of
 * this host is refused by config_check_address (sippushd -n). */
static void
test_address(void)
{
	struct config	 c;
	char		 err[512];

	EXPECT_ERROR("sip = {\n  address = \"not-an-ip\";\n};\n", 0,
	    "sip.address: \"not-an-ip\" is not a numeric IPv4 or IPv6");
	EXPECT_ERROR("sip = {\n  address = \"localhost\";\n};\n", 0,
	    "sip.address: \"localhost\"|numeric");
	EXPECT_ERROR("sip = {\n  address = \"[::1]\";\n};\n", 0,
	    "sip.address: \"[::1]\"|numeric");

	CU_ASSERT_EQUAL_FATAL(load_text(&c, "sip = { address = \"127.0.0.2\";"
	    " };\n", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(config_check_address(&c, err, sizeof(err)), 0);
	config_free(&c);
	/* TEST-NET-1: no host has it */
	CU_ASSERT_EQUAL_FATAL(load_text(&c, "sip = { address = \"192.0.2.1\";"
	    " };\n", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(config_check_address(&c, err, sizeof(err)), -1);
	CU_ASSERT(test_contains(err, cfg_file));
	CU_ASSERT(test_contains(err, "sip.address: cannot listen on "
	    "192.0.2.1"));
	CU_ASSERT(test_contains(err, "not an address of this host"));
	config_free(&c);
}

/* The start-up warning: auth off on an address other hosts reach. */
static void
test_warning(void)
{
	static const struct {
		const char	*address;
		int		 auth, warn;
	} cases[] = {
		{ "0.0.0.0", 0, 1 },
		{ "::", 0, 1 },
		{ "10.1.2.3", 0, 1 },
		{ "0.0.0.0", 1, 0 },
		{ "127.0.0.1", 0, 0 },
		{ "127.9.8.7", 0, 0 },
		{ "::1", 0, 0 },
		{ "::ffff:127.0.0.1", 0, 0 },
		{ "::ffff:10.0.0.1", 0, 1 },
		{ "128.0.0.1", 0, 1 },
	};
	struct config	 c;
	const char	*w;
	size_t		 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		config_defaults(&c);
		free(c.sip_address);
		c.sip_address = strdup(cases[i].address);
		CU_ASSERT_PTR_NOT_NULL_FATAL(c.sip_address);
		c.auth_enabled = cases[i].auth;
		w = config_warning(&c);
		if ((w != NULL) != cases[i].warn)
			fprintf(stderr, "\nconfig: %s, auth %d: warning %s\n",
			    cases[i].address, cases[i].auth, w ? w : "none");
		CU_ASSERT_EQUAL(w != NULL, cases[i].warn);
		if (w) {
			CU_ASSERT(test_contains(w, "auth.enabled is false"));
			CU_ASSERT(test_contains(w, cases[i].address));
			CU_ASSERT(test_contains(w, "auth.enabled = true"));
		}
		config_free(&c);
	}
}

static void
test_error_enum(void)
{
	EXPECT_ERROR("log = {\n  level = \"verbose\";\n};\n", 2,
	    "log.level|\"verbose\"|not one of");
	EXPECT_ERROR("log = {\n  level = \"INFO\";\n};\n", 2,
	    "log.level|\"INFO\"");
	EXPECT_ERROR("\ndatabase = {\n  synchronous = \"off\";\n};\n", 3,
	    "database.synchronous|\"off\"");
}

/* control.group: a name (resolved now), a gid, or "" for none. */
static void
test_control_group(void)
{
	struct config	 c;
	char		 err[512];

	EXPECT_ERROR("control = {\n  group = \"no-such-group-sippush\";\n};\n",
	    2, "control.group|no group named \"no-such-group-sippush\"");
	EXPECT_ERROR("control = {\n  group = \"12x\";\n};\n", 2,
	    "control.group|not a group name or gid");
	EXPECT_ERROR("control = {\n  group = true;\n};\n", 2,
	    "control.group|expected a group name or number");

	config_defaults(&c);
	CU_ASSERT_EQUAL(c.ctl_gid, -1);
	CU_ASSERT_PTR_NULL(c.ctl_group);
	config_free(&c);
	CU_ASSERT_EQUAL_FATAL(load_text(&c, "control = { group = \"root\"; };\n",
	    err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(c.ctl_gid, 0);
	CU_ASSERT_STRING_EQUAL(c.ctl_group, "root");
	config_free(&c);
	CU_ASSERT_EQUAL_FATAL(load_text(&c, "control = { group = 4242; };\n",
	    err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(c.ctl_gid, 4242);
	CU_ASSERT_STRING_EQUAL(c.ctl_group, "4242");
	config_free(&c);
	CU_ASSERT_EQUAL_FATAL(load_text(&c, "control = { group = \"77\"; };\n",
	    err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(c.ctl_gid, 77);
	config_free(&c);
	CU_ASSERT_EQUAL_FATAL(load_text(&c, "control = { group = \"\"; };\n",
	    err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(c.ctl_gid, -1);
	CU_ASSERT_PTR_NULL(c.ctl_group);
	config_free(&c);
}

static void
test_error_file(void)
{
	struct config	 c;
	char		 err[512], path[PATH_MAX + 16];

	snprintf(path, sizeof(path), "%s/missing.conf", cfg_dir);
	config_defaults(&c);
	CU_ASSERT_EQUAL(config_load(&c, path, err, sizeof(err)), -1);
	CU_ASSERT_EQUAL(strncmp(err, path, strlen(path)), 0);
	CU_ASSERT(test_contains(err, "cannot read"));
	CU_ASSERT_PTR_NULL(c.path);
	config_free(&c);
}

/* Checks across options: "file: ..." (no line) naming the options. */
static void
test_error_crosscheck(void)
{
	EXPECT_ERROR("registration = {\n  min_expires = 700;\n"
	    "  max_expires = 600;\n  default_expires = 650;\n};\n", 0,
	    "min_expires|700|max_expires|600");
	EXPECT_ERROR("registration = {\n  default_expires = 30;\n};\n", 0,
	    "default_expires|30|60..3600");
	EXPECT_ERROR("registration = {\n  default_expires = 3601;\n};\n", 0,
	    "default_expires|3601");
	/* the default (600) falls outside a narrowed range */
	EXPECT_ERROR("registration = {\n  max_expires = 300;\n};\n", 0,
	    "default_expires|600|60..300");
	EXPECT_ERROR("registration = {\n  default_class = \"no spaces\";\n};\n",
	    0, "default_class|\"no spaces\"");
	EXPECT_ERROR("registration = {\n  default_class = "
	    "\"abcdefghijklmnopqrstuvwxyz0123456\";\n};\n", 0,
	    "default_class");
	EXPECT_ERROR("sip = {\n  udp = false;\n  tcp = false;\n};\n", 0,
	    "udp|tcp");
	EXPECT_ERROR("dispatch = {\n  retry_initial = 5000;\n"
	    "  retry_max = 4999;\n};\n", 0,
	    "retry_initial|5000|retry_max|4999");
	EXPECT_ERROR("dispatch = {\n  default_ttl = 121;\n"
	    "  max_ttl = 120;\n};\n", 0, "default_ttl|121|max_ttl|120");
	/* max_body (default 1300) needs max_message_size >= 2324 */
	EXPECT_ERROR("sip = {\n  max_message_size = 2323;\n};\n", 0,
	    "dispatch.max_body|1300|max_message_size|2324");
	EXPECT_ERROR("control = {\n  socket = \"/tmp/"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\";\n};\n",
	    0, "control.socket|107");
}

static void
test_edge_values(void)
{
	struct config	 c;
	char		 err[512];

	/* a class of exactly 32 bytes, min = max = default */
	CU_ASSERT_EQUAL(load_text(&c, "registration = {\n"
	    "  default_class = \"abcdefghijklmnopqrstuvwxyz012345\";\n"
	    "  min_expires = 100;\n  max_expires = 100;\n"
	    "  default_expires = 100;\n};\n", err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(c.reg_default_class,
	    "abcdefghijklmnopqrstuvwxyz012345");
	CU_ASSERT_EQUAL(c.reg_default_expires, 100);
	config_free(&c);

	/* the cross-checks' equal cases pass */
	CU_ASSERT_EQUAL(load_text(&c, "sip = { max_message_size = 2324; };\n"
	    "dispatch = {\n  retry_initial = 500;\n  retry_max = 500;\n"
	    "  default_ttl = 30;\n  max_ttl = 30;\n};\n", err,
	    sizeof(err)), 0);
	CU_ASSERT_EQUAL(c.sip_max_size, 2324);
	CU_ASSERT_EQUAL(c.dp_retry_max, 500);
	CU_ASSERT_EQUAL(c.dp_max_ttl, 30);
	config_free(&c);
}

static void
test_relative_paths(void)
{
	struct config	 c;
	char		 err[512], cwd[PATH_MAX], want[PATH_MAX + 64];

	CU_ASSERT_PTR_NOT_NULL_FATAL(getcwd(cwd, sizeof(cwd)));
	CU_ASSERT_EQUAL_FATAL(load_text(&c, "database = {\n"
	    "  path = \"rel/dir/push.db\";\n};\ncontrol = {\n"
	    "  socket = \"ctl.sock\";\n};\n", err, sizeof(err)), 0);
	snprintf(want, sizeof(want), "%s/rel/dir/push.db", cwd);
	CU_ASSERT_STRING_EQUAL(c.db_path, want);
	CU_ASSERT_EQUAL(c.db_path[0], '/');
	snprintf(want, sizeof(want), "%s/ctl.sock", cwd);
	CU_ASSERT_STRING_EQUAL(c.ctl_socket, want);
	config_free(&c);

	CU_ASSERT_EQUAL_FATAL(load_text(&c, "database = {\n"
	    "  path = \"/abs/push.db\";\n};\n", err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(c.db_path, "/abs/push.db");
	config_free(&c);
}

/* config_print of c, re-read over fresh defaults, gives c back. */
static void
print_reload(const struct config *c, const char *expect_line)
{
	struct config	 again;
	char		 err[512], out[PATH_MAX + 16], *text = NULL;
	size_t		 len = 0;
	FILE		*fp;

	snprintf(out, sizeof(out), "%s/printed.conf", cfg_dir);
	fp = fopen(out, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
	config_print(c, fp);
	CU_ASSERT_EQUAL(fclose(fp), 0);

	fp = open_memstream(&text, &len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
	config_print(c, fp);
	fclose(fp);
	if (expect_line)
		CU_ASSERT(test_contains(text, expect_line));
	free(text);

	config_defaults(&again);
	err[0] = '\0';
	if (config_load(&again, out, err, sizeof(err)) == -1) {
		fprintf(stderr, "\nconfig: printed settings do not load: %s\n",
		    err);
		CU_FAIL("config_print output rejected by config_load");
	} else
		assert_same_config(c, &again);
	config_free(&again);
}

static void
test_print_roundtrip(void)
{
	struct config	 c;
	char		 err[512];

	config_defaults(&c);
	print_reload(&c, "# effective settings, from built-in defaults\n");
	config_free(&c);

	CU_ASSERT_EQUAL_FATAL(load_text(&c, full_conf, err, sizeof(err)), 0);
	print_reload(&c, "  udp = false;\n");
	print_reload(&c, "  synchronous = \"normal\";\n");
	print_reload(&c, "  level = \"debug\";\n");
	print_reload(&c, "  max_expires = 7200;\n");
	config_free(&c);
}

/* A string value holding a quote or a backslash (legal in the file, as
 * \" and \\) must be printed escaped to survive the round trip. */
static void
test_print_roundtrip_escapes(void)
{
	struct config	 c;
	char		 err[512];

	CU_ASSERT_EQUAL_FATAL(load_text(&c, "database = {\n"
	    "  path = \"/var/tmp/a \\\"quoted\\\" dir\\\\x.db\";\n};\n",
	    err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(c.db_path, "/var/tmp/a \"quoted\" dir\\x.db");
	print_reload(&c, NULL);
	config_free(&c);
}

/* The tls section: unset paths, its cross-checks, paths made absolute,
 * unset strings printed as comments that reload as unset. */
/* relay.rules: a list of "FROM -> TO", kept one a line, normalized;
 * an error names the line of the rule at fault. */
static void
test_relay_section(void)
{
	struct config	 c;
	char		 err[512];

	CU_ASSERT_EQUAL(load_text(&c, "relay = {\n  enabled = true;\n"
	    "  rules = [ \"kiosk->tv\",\n    \"* ->  admin\" ];\n};\n", err,
	    sizeof(err)), 0);
	CU_ASSERT_TRUE(c.relay_enabled);
	CU_ASSERT_STRING_EQUAL(c.relay_rules, "kiosk -> tv\n* -> admin");
	config_free(&c);
	CU_ASSERT_EQUAL(load_text(&c, "relay = { rules = ( ); };\n", err,
	    sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(c.relay_rules, "");
	config_free(&c);
	EXPECT_ERROR("relay = {\n  rules = [ \"a -> b\",\n\n"
	    "    \"a b\" ];\n};\n", 4, "relay.rules|not|rule");
	EXPECT_ERROR("relay = {\n  rules = \"a -> b\";\n};\n", 2,
	    "relay.rules|expected|list");
	EXPECT_ERROR("relay = {\n  rules = [ \"a -> b c\" ];\n};\n", 2,
	    "relay.rules|class");
	EXPECT_ERROR("relay = {\n  rules = ( 5 );\n};\n", 2,
	    "relay.rules|not|string");
	EXPECT_ERROR("relay = {\n  timeout = 50;\n};\n", 2,
	    "relay.timeout");
	EXPECT_ERROR("dispatch = { timeout = 2000; };\nrelay = { enabled = "
	    "true; timeout = 3000; };\n", 0, "relay.timeout|dispatch.timeout");
	/* with the relay off (the default) its timeout binds nothing: a
	 * short dispatch.timeout alone is fine */
	CU_ASSERT_EQUAL(load_text(&c, "dispatch = { timeout = 2000; };\n",
	    err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(c.dp_timeout, 2000);
	config_free(&c);
}

static void
test_tls_section(void)
{
	struct config	 c;
	char		 err[512], cwd[PATH_MAX], want[PATH_MAX + 32];

	config_defaults(&c);
	CU_ASSERT_EQUAL(c.tls_enable, 0);
	CU_ASSERT_EQUAL(c.tls_port, 5061);
	CU_ASSERT_PTR_NULL(c.tls_cert);
	CU_ASSERT_PTR_NULL(c.tls_key);
	CU_ASSERT_PTR_NULL(c.tls_ca);
	print_reload(&c, "  # certificate is not set\n");
	config_free(&c);

	EXPECT_ERROR("tls = {\n  enable = true;\n};\n", 0,
	    "tls|enable|certificate is not set");
	EXPECT_ERROR("tls = {\n  enable = true;\n  certificate = \"c\";\n"
	    "};\n", 0, "tls|key is not set");
	EXPECT_ERROR("sip = {\n  port = 5070;\n};\ntls = {\n  enable = true;\n"
	    "  port = 5070;\n  certificate = \"c\";\n  key = \"k\";\n};\n", 0,
	    "tls.port (5070)|sip.port");
	EXPECT_ERROR("tls = {\n  certificate = \"\";\n};\n", 2,
	    "tls.certificate|must not be empty");
	EXPECT_ERROR("tls = {\n  port = 0;\n};\n", 2,
	    "tls.port|0|1..65535");
	EXPECT_ERROR("sip = {\n  udp = false;\n  tcp = false;\n};\n", 0,
	    "udp|tcp|tls.enable");

	/* TLS alone; the same port as UDP is fine */
	CU_ASSERT_EQUAL_FATAL(load_text(&c, "sip = {\n  port = 5070;\n"
	    "  udp = true;\n  tcp = false;\n};\ntls = {\n  enable = true;\n"
	    "  port = 5070;\n  certificate = \"certs/server.pem\";\n"
	    "  key = \"/k.pem\";\n  ca_file = \"ca.pem\";\n};\n", err,
	    sizeof(err)), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(getcwd(cwd, sizeof(cwd)));
	snprintf(want, sizeof(want), "%s/certs/server.pem", cwd);
	CU_ASSERT_STRING_EQUAL(c.tls_cert, want);
	CU_ASSERT_STRING_EQUAL(c.tls_key, "/k.pem");
	snprintf(want, sizeof(want), "%s/ca.pem", cwd);
	CU_ASSERT_STRING_EQUAL(c.tls_ca, want);
	print_reload(&c, "  enable = true;\n");
	config_free(&c);
	CU_ASSERT_EQUAL(load_text(&c, "sip = {\n  udp = false;\n"
	    "  tcp = false;\n};\ntls = {\n  enable = true;\n"
	    "  certificate = \"/c\";\n  key = \"/k\";\n};\n", err,
	    sizeof(err)), 0);
	config_free(&c);
}

/* ---- the documentation: man/sippushd.conf.5 and etc/sippushd.conf ---- */

/* A file of the source tree: $top_srcdir/rel (set by make check), else
 * ./rel. 0 if readable. */
static int
src_file(char *path, size_t len, const char *rel)
{
	const char	*top = getenv("top_srcdir");

	snprintf(path, len, "%s/%s", top && *top ? top : ".", rel);
	if (access(path, R_OK) == 0)
		return 0;
	fprintf(stderr, "\nconfig: cannot read %s (run from the source tree "
	    "or set top_srcdir)\n", path);
	return -1;
}

/* One option as the man page documents it. */
struct doc_opt {
	char		 path[64];	/* group.name */
	char		 type[16];	/* integer, string, boolean, keyword */
	char		 value[128];	/* the default, in the file's syntax */
	int		 build_dep;	/* default set at build time */
	int		 has_range;
	long long	 min, max;
};

#define DOC_MAX	128

/* Replace every \(dq of s by a double quote, in place. */
static void
doc_unquote(char *s)
{
	char	*r, *w;

	for (r = w = s; *r; )
		if (strncmp(r, "\\(dq", 4) == 0) {
			*w++ = '"';
			r += 4;
		} else
			*w++ = *r++;
	*w = '\0';
}

/*
 * Read the OPTIONS section of the man page: every
 *   .BR name " (type[, unit][, MIN..MAX], default " VALUE )
 * under its ".SS group". Returns the count, or -1.
 */
static int
doc_options(struct doc_opt *opts, int max)
{
	char	 path[PATH_MAX], line[512], group[32] = "", *p, *q, *e;
	FILE	*fp;
	int	 n = 0, in = 0;

	if (src_file(path, sizeof(path), "man/sippushd.conf.5") == -1 ||
	    (fp = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), fp) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, ".SH ", 4) == 0) {
			in = strcmp(line + 4, "OPTIONS") == 0;
			continue;
		}
		if (!in)
			continue;
		if (strncmp(line, ".SS ", 4) == 0) {
			snprintf(group, sizeof(group), "%.31s", line + 4);
			continue;
		}
		if (strncmp(line, ".BR ", 4) != 0 ||
		    (p = strstr(line, "\" (")) == NULL ||
		    (q = strstr(line, "default \" ")) == NULL || n == max)
			continue;
		memset(&opts[n], 0, sizeof(opts[n]));
		snprintf(opts[n].path, sizeof(opts[n].path), "%s.%.*s", group,
		    (int)strcspn(line + 4, " "), line + 4);
		p += 3;
		snprintf(opts[n].type, sizeof(opts[n].type), "%.*s",
		    (int)strcspn(p, ",:\""), p);
		if ((e = strstr(p, "..")) != NULL && e < q) {
			while (e > p && e[-1] >= '0' && e[-1] <= '9')
				e--;
			opts[n].min = strtoll(e, &e, 10);
			opts[n].max = strtoll(e + 2, NULL, 10);
			opts[n].has_range = 1;
		}
		q += strlen("default \" ");
		snprintf(opts[n].value, sizeof(opts[n].value), "%s", q);
		if ((e = strrchr(opts[n].value, ')')) != NULL)
			*e = '\0';
		e = opts[n].value + strlen(opts[n].value);
		while (e > opts[n].value && e[-1] == ' ')
			*--e = '\0';
		opts[n].build_dep = strstr(opts[n].value, "\\f") != NULL;
		doc_unquote(opts[n].value);
		n++;
	}
	fclose(fp);
	return n;
}

/* The "group.name" options config_print writes, in order. */
static int
printed_options(const struct config *c, char names[][80], int max)
{
	char	*text = NULL, *line, *save, group[32] = "", name[48];
	size_t	 len = 0;
	FILE	*fp;
	int	 n = 0;

	if ((fp = open_memstream(&text, &len)) == NULL)
		return -1;
	config_print(c, fp);
	fclose(fp);
	for (line = strtok_r(text, "\n", &save); line;
	    line = strtok_r(NULL, "\n", &save)) {
		if (sscanf(line, "%31[a-z_] = {", group) == 1 &&
		    strstr(line, "{") != NULL)
			continue;
		if (sscanf(line, "  %47[a-z0-9_] =", name) == 1 && n < max)
			snprintf(names[n++], 80, "%s.%s", group, name);
	}
	free(text);
	return n;
}

/* The defaults the man page states are the built-in ones, and it
 * documents exactly the options config_print writes. */
static void
test_man_defaults(void)
{
	struct doc_opt	 opts[DOC_MAX];
	struct config	 want, got;
	struct buf	 b = { 0 };
	char		 err[512], printed[DOC_MAX][80], group[32] = "";
	int		 n, np, i, j, found, bad = 0;
	size_t		 glen;

	n = doc_options(opts, DOC_MAX);
	CU_ASSERT_FATAL(n > 0);
	config_defaults(&want);
	np = printed_options(&want, printed, DOC_MAX);
	CU_ASSERT_EQUAL(n, np);
	for (i = 0; i < np; i++) {
		for (found = 0, j = 0; j < n; j++)
			found |= strcmp(printed[i], opts[j].path) == 0;
		if (!found) {
			fprintf(stderr, "\nconfig: %s is not in the man page\n",
			    printed[i]);
			bad++;
		}
	}
	CU_ASSERT_EQUAL(bad, 0);

	/* a file setting every documented default */
	for (i = 0; i < n; i++) {
		if (opts[i].build_dep)
			continue;
		glen = strcspn(opts[i].path, ".");
		if (strncmp(group, opts[i].path, glen) != 0 ||
		    group[glen] != '\0') {
			if (*group)
				buf_puts(&b, "};\n");
			snprintf(group, sizeof(group), "%.*s", (int)glen,
			    opts[i].path);
			buf_printf(&b, "%s = {\n", group);
		}
		buf_printf(&b, "  %s = %s;\n", opts[i].path + glen + 1,
		    opts[i].value);
	}
	buf_puts(&b, "};\n");
	if (load_text(&got, b.data, err, sizeof(err)) == -1) {
		fprintf(stderr, "\nconfig: the documented defaults do not "
		    "load: %s\n%s", err, b.data);
		CU_FAIL("documented defaults rejected");
	} else
		assert_same_config(&got, &want);
	config_free(&got);
	config_free(&want);
	buf_free(&b);
}

/* Every documented integer range is what config_load enforces. */
static void
test_man_ranges(void)
{
	struct doc_opt	 opts[DOC_MAX];
	struct config	 c;
	char		 text[256], err[512], want[128], line2[PATH_MAX + 8];
	const char	*name;
	long long	 v[4];
	int		 n, i, k, rv, bad = 0, ranges = 0;
	size_t		 glen;

	n = doc_options(opts, DOC_MAX);
	CU_ASSERT_FATAL(n > 0);
	snprintf(line2, sizeof(line2), "%s:2: ", cfg_file);
	for (i = 0; i < n; i++) {
		if (strcmp(opts[i].type, "integer") != 0)
			continue;
		if (!opts[i].has_range) {
			fprintf(stderr, "\nconfig: %s: no range in the man "
			    "page\n", opts[i].path);
			bad++;
			continue;
		}
		ranges++;
		glen = strcspn(opts[i].path, ".");
		name = opts[i].path + glen + 1;
		v[0] = opts[i].min - 1;
		v[1] = opts[i].max + 1;
		v[2] = opts[i].min;
		v[3] = opts[i].max;
		snprintf(want, sizeof(want), "%s: ", opts[i].path);
		for (k = 0; k < 4; k++) {
			snprintf(text, sizeof(text), "%.*s = {\n  %s = %lldL;\n"
			    "};\n", (int)glen, opts[i].path, name, v[k]);
			rv = load_text(&c, text, err, sizeof(err));
			config_free(&c);
			/* outside: refused on line 2; inside: not for its
			 * range (a cross-check may still object) */
			if (k < 2 ? (rv != -1 || strncmp(err, line2,
			    strlen(line2)) != 0 ||
			    !test_contains(err, "out of range") ||
			    !test_contains(err, want)) :
			    test_contains(err, "out of range") ||
			    test_contains(err, line2)) {
				fprintf(stderr, "\nconfig: %s = %lld: rv %d, "
				    "\"%s\"\n", opts[i].path, v[k], rv, err);
				bad++;
			}
		}
	}
	CU_ASSERT(ranges > 0);
	CU_ASSERT_EQUAL(bad, 0);
}

/* etc/sippushd.conf, the commented example, sets the defaults. */
static void
test_etc_file(void)
{
	struct config	 want, got;
	char		 path[PATH_MAX], err[512];

	CU_ASSERT_EQUAL_FATAL(src_file(path, sizeof(path),
	    "etc/sippushd.conf"), 0);
	config_defaults(&want);
	config_defaults(&got);
	if (config_load(&got, path, err, sizeof(err)) == -1) {
		fprintf(stderr, "\nconfig: %s\n", err);
		CU_FAIL("etc/sippushd.conf does not load");
	} else
		assert_same_config(&got, &want);
	config_free(&got);
	config_free(&want);
}

/* The webhooks section: URLs and events as a string or a list, the
 * secret or its file, errors that name the option. */
static void
test_webhooks_section(void)
{
	struct config	 c;
	char		 err[512], text[PATH_MAX + 64], secret[PATH_MAX];
	FILE		*fp;

	config_defaults(&c);
	CU_ASSERT_EQUAL(c.wh_nurl, 0);
	CU_ASSERT_EQUAL(c.wh_events, WEBHOOK_EV_FINISHED |
	    WEBHOOK_EV_TARGET_FAILED);
	CU_ASSERT_PTR_NULL(c.wh_secret);
	print_reload(&c, "  events = [ \"finished\", \"target_failed\" ];\n");
	config_free(&c);

	CU_ASSERT_EQUAL_FATAL(load_text(&c, "webhooks = {\n  url = "
	    "\"http://127.0.0.1:8/a\";\n  events = \"target_failed\";\n"
	    "  timeout = 3;\n};\n", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(c.wh_nurl, 1);
	CU_ASSERT_STRING_EQUAL(c.wh_url[0], "http://127.0.0.1:8/a");
	CU_ASSERT_EQUAL(c.wh_events, WEBHOOK_EV_TARGET_FAILED);
	CU_ASSERT_EQUAL(c.wh_timeout, 3);
	config_free(&c);
	CU_ASSERT_EQUAL_FATAL(load_text(&c, "webhooks = {\n  url = "
	    "[\"http://a/\", \"https://b:8443/x?y=1\"];\n  events = [];\n"
	    "};\n", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(c.wh_nurl, 2);
	CU_ASSERT_STRING_EQUAL(c.wh_url[1], "https://b:8443/x?y=1");
	CU_ASSERT_EQUAL(c.wh_events, 0);
	print_reload(&c, "  url = [ \"http://a/\", \"https://b:8443/x?y=1\" ];\n");
	config_free(&c);

	EXPECT_ERROR("webhooks = {\n  url = \"ftp://h/\";\n};\n", 2,
	    "webhooks.url|ftp://h/|http:// or https://");
	EXPECT_ERROR("webhooks = {\n  url = (\"http://h/\", 5);\n};\n", 2,
	    "webhooks.url|element 2|not a string");
	EXPECT_ERROR("webhooks = {\n  url = [\"http://h/\", \"http://h/\"];\n"
	    "};\n", 2, "webhooks.url|http://h/|listed twice");
	EXPECT_ERROR("webhooks = {\n  url = 5;\n};\n", 2,
	    "webhooks.url|a string or a list");
	EXPECT_ERROR("webhooks = {\n  url = [\"http://1/\", \"http://2/\", "
	    "\"http://3/\", \"http://4/\", \"http://5/\", \"http://6/\", "
	    "\"http://7/\", \"http://8/\", \"http://9/\"];\n};\n", 2,
	    "webhooks.url|at most 8");
	EXPECT_ERROR("webhooks = {\n\n  events = [\"finished\", \"done\"];\n"
	    "};\n", 3, "webhooks.events|\"done\"|not an event");
	EXPECT_ERROR("webhooks = {\n  secret = \"a\";\n  secret_file = \"/f\";\n"
	    "};\n", 0, "secret and secret_file");
	EXPECT_ERROR("webhooks = {\n  retry_initial = 5000;\n  retry_max = "
	    "4000;\n};\n", 0, "webhooks.retry_initial (5000)|retry_max (4000)");
	EXPECT_ERROR("webhooks = {\n  max_in_flight = 0;\n};\n", 2,
	    "webhooks.max_in_flight|0|1..1000");

	/* the secret from a file, its line break dropped */
	snprintf(secret, sizeof(secret), "%s/secret", cfg_dir);
	CU_ASSERT_PTR_NOT_NULL_FATAL(fp = fopen(secret, "w"));
	fputs("k3y s\n", fp);
	fclose(fp);
	snprintf(text, sizeof(text), "webhooks = {\n  secret_file = \"%s\";\n"
	    "};\n", secret);
	CU_ASSERT_EQUAL_FATAL(load_text(&c, text, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(c.wh_secret, "k3y s");
	config_free(&c);
	CU_ASSERT_PTR_NOT_NULL_FATAL(fp = fopen(secret, "w"));
	fputs("\n", fp);
	fclose(fp);
	EXPECT_ERROR(text, 0, "webhooks.secret_file|1-1024 bytes");
	unlink(secret);
	EXPECT_ERROR(text, 0, "webhooks.secret_file|cannot read|No such file");
}

int
test_config_register(void)
{
	CU_pSuite	 s;

	if ((s = CU_add_suite("config", config_suite_init,
	    config_suite_clean)) == NULL)
		return -1;
	if (CU_add_test(s, "defaults", test_defaults) == NULL ||
	    CU_add_test(s, "every option and type", test_load_all_types) ==
	    NULL ||
	    CU_add_test(s, "error: syntax, file:line", test_error_syntax) ==
	    NULL ||
	    CU_add_test(s, "error: unknown option and section",
	    test_error_unknown) == NULL ||
	    CU_add_test(s, "error: wrong type", test_error_type) == NULL ||
	    CU_add_test(s, "error: out of range", test_error_range) == NULL ||
	    CU_add_test(s, "error: bad enum value", test_error_enum) == NULL ||
	    CU_add_test(s, "error: integers that libconfig narrows",
	    test_error_wrap) == NULL ||
	    CU_add_test(s, "the text of numbers, found around comments, "
	    "strings, includes", test_number_text) == NULL ||
	    CU_add_test(s, "sip.address: numeric, of this host",
	    test_address) == NULL ||
	    CU_add_test(s, "start-up warning: auth off, not loopback",
	    test_warning) == NULL ||
	    CU_add_test(s, "control.group", test_control_group) == NULL ||
	    CU_add_test(s, "error: unreadable file", test_error_file) ==
	    NULL ||
	    CU_add_test(s, "error: cross-checks", test_error_crosscheck) ==
	    NULL ||
	    CU_add_test(s, "edge values accepted", test_edge_values) == NULL ||
	    CU_add_test(s, "relative paths made absolute",
	    test_relative_paths) == NULL ||
	    CU_add_test(s, "config_print output reloads the same",
	    test_print_roundtrip) == NULL ||
	    CU_add_test(s, "config_print escapes quotes and backslashes",
	    test_print_roundtrip_escapes) == NULL ||
	    CU_add_test(s, "man page: defaults and option list",
	    test_man_defaults) == NULL ||
	    CU_add_test(s, "man page: integer ranges enforced",
	    test_man_ranges) == NULL ||
	    CU_add_test(s, "etc/sippushd.conf sets the defaults",
	    test_etc_file) == NULL)
		return -1;
	if (CU_add_test(s, "the tls section", test_tls_section) == NULL ||
	    CU_add_test(s, "the webhooks section", test_webhooks_section) ==
	    NULL)
		return -1;
	if (CU_add_test(s, "the relay section", test_relay_section) == NULL)
		return -1;
	return 0;
}
