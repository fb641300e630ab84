/*
 * tests.h: what the unit-test files share.
 *
 * One tests/test_X.c per src/X.c, each with a test_X_register() that adds
 * its CUnit suite; test_main.c runs them all, with the daemon's wall
 * clock (clock_now, clock_now_ms) reading test_now (clock_fake).
 */
#ifndef TESTS_H
#define TESTS_H

#include <stddef.h>
#include <stdint.h>

/* ---- test_main.c ---- */

#define TEST_DIR_MAX	256		/* a folder made by test_mkdtemp */

extern int64_t	 test_now;		/* what clock_now() returns */
extern int	 test_now_ms;		/* clock_now_ms(): test_now * 1000
					   + this */

int	 test_mkdtemp(char *dir, size_t len);
void	 test_rmtree(const char *dir);
int	 test_write_file(const char *path, const char *text);
int	 test_contains(const char *haystack, const char *needle);

/* rows written as the owners write them (test_main.c): ts_put_* and the
 * rest collect between ts_begin and ts_commit (one store_write), or
 * write at once outside */
struct client;
struct client_row;
struct message;
struct target;
int	 ts_begin(void);
int	 ts_commit(void);
void	 ts_rollback(void);
void	 ts_client_row(const struct client *, int op, struct client_row *);
int	 ts_put_client(const struct client *);
int	 ts_touch_client(const struct client *);
int	 ts_delete_client(const char *id);
int	 ts_put_message(const struct message *);
int	 ts_set_message_state(const struct message *);
int	 ts_put_target(const struct message *, const struct target *);
int	 ts_put_user(const char *id, const char *realm, const char *sha256,
	    const char *md5, int64_t now);
int	 ts_delete_user(const char *id);
int	 ts_load_clients(int (*)(const struct client *, void *), void *);

/* ---- fixtures.c ---- */

struct registration;
struct client;
void	 test_reg_fill(struct registration *, const char *id, int64_t now);
struct client *test_reg_client(const struct registration *);
struct client *test_reg(const char *id, int64_t now);
struct sippush;
struct sippush_message;
int	 test_on_message(struct sippush *, struct sippush_message *, void *);

/* ---- one suite per source file; each returns 0, or -1 (CUnit error) ---- */

int	 test_config_register(void);
int	 test_proto_register(void);
int	 test_store_register(void);
int	 test_clients_register(void);
int	 test_registrar_register(void);
int	 test_heartbeat_register(void);
int	 test_guard_register(void);
int	 test_webhook_register(void);
int	 test_commit_register(void);
int	 test_client_register(void);
int	 test_auth_register(void);
int	 test_command_register(void);
int	 test_http_register(void);
int	 test_tls_register(void);
int	 test_wire_register(void);
int	 test_relay_register(void);

#endif /* TESTS_H */
