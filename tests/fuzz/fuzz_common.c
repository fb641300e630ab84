/*
 * fuzz_common.c: small helpers for the fuzz targets.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fuzz.h"

void
fuzz_log_init(void)
{
	const char	*v = getenv("SIPPUSH_FUZZ_LOG");

	log_init(1, v && strcmp(v, "debug") == 0 ? LOG_LEVEL_DEBUG :
	    LOG_LEVEL_ERROR, "fuzz");
}

static char	 fuzz_dir[4096];

static void
fuzz_rmdir(void)
{
	char	 cmd[128];

	if (*fuzz_dir) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fuzz_dir);
		if (system(cmd) != 0)
			fprintf(stderr, "fuzz: cannot remove %s\n", fuzz_dir);
	}
}

const char *
fuzz_tmpdir(void)
{
	const char	*base;

	if (*fuzz_dir)
		return fuzz_dir;
	if ((base = getenv("SIPPUSH_FUZZ_TMP")) == NULL || *base == '\0')
		base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	snprintf(fuzz_dir, sizeof(fuzz_dir), "%s/sippush-fuzz.XXXXXX", base);
	if (mkdtemp(fuzz_dir) == NULL) {
		perror("fuzz: mkdtemp");
		exit(1);
	}
	atexit(fuzz_rmdir);
	return fuzz_dir;
}
