/*
 * test_main.c: runs every unit-test suite, and stands in for sippushd.c.
 *
 * usage: tests/unit [-v] [suite ...]
 *   -v     verbose: CUnit lists each test, the daemon logs at debug
 *   suite  run only the named suites (config, proto, store, clients,
 *          registrar, heartbeat)
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

/* The daemon's globals, normally in sippushd.c. */
struct config	*sippushd_config;
int64_t		 test_now = 1700000000;
int		 test_now_ms;

int64_t
sippushd_now(void)
{
	return test_now;
}

int64_t
sippushd_now_ms(void)
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
