/*
 * tests.h: what the unit-test files share.
 *
 * One tests/test_X.c per src/X.c, each with a test_X_register() that adds
 * its CUnit suite; test_main.c runs them all. test_main.c also stands in
 * for src/sippushd.c (not in libsippushd.a): it defines sippushd_config
 * and a sippushd_now() (and _ms) that reads a fake clock the tests set.
 */
#ifndef TESTS_H
#define TESTS_H

#include <stddef.h>
#include <stdint.h>

/* ---- test_main.c ---- */

#define TEST_DIR_MAX	256		/* a folder made by test_mkdtemp */

extern int64_t	 test_now;		/* what sippushd_now() returns */
extern int	 test_now_ms;		/* sippushd_now_ms(): test_now * 1000
					   + this */

int	 test_mkdtemp(char *dir, size_t len);
void	 test_rmtree(const char *dir);
int	 test_write_file(const char *path, const char *text);
int	 test_contains(const char *haystack, const char *needle);

/* ---- one suite per source file; each returns 0, or -1 (CUnit error) ---- */

int	 test_config_register(void);
int	 test_proto_register(void);
int	 test_store_register(void);
int	 test_clients_register(void);
int	 test_registrar_register(void);
int	 test_heartbeat_register(void);
int	 test_guard_register(void);
int	 test_commit_register(void);
int	 test_client_register(void);
int	 test_auth_register(void);
int	 test_command_register(void);
int	 test_http_register(void);
int	 test_tls_register(void);

#endif /* TESTS_H */
