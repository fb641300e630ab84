/*
 * fuzz_config.c: config_load on a file of arbitrary content, then
 * config_print of what it read, which config_load must read back the
 * same.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"

static char	 fz_path[256], fz_path2[256];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_log_init();
	snprintf(fz_path, sizeof(fz_path), "%s/fuzz.conf", fuzz_tmpdir());
	snprintf(fz_path2, sizeof(fz_path2), "%s/printed.conf",
	    fuzz_tmpdir());
	return 0;
}

static int
fuzz_write(const char *path, const void *data, size_t size)
{
	FILE	*fp;
	int	 rv;

	if ((fp = fopen(path, "w")) == NULL)
		return -1;
	rv = fwrite(data, 1, size, fp) == size ? 0 : -1;
	if (fclose(fp) != 0)
		rv = -1;
	return rv;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config	 c, again;
	char		 err[1024], *text = NULL;
	size_t		 len = 0;
	FILE		*mem;

	/* an @include could name a device that never ends (/dev/zero):
	 * the file is the administrator's, not a peer's, and libconfig
	 * follows includes as asked */
	if (memmem(data, size, "include", 7) != NULL)
		return 0;
	if (fuzz_write(fz_path, data, size) == -1)
		abort();
	config_defaults(&c);
	if (config_load(&c, fz_path, err, sizeof(err)) == 0) {
		if ((mem = open_memstream(&text, &len)) == NULL)
			abort();
		config_print(&c, mem);
		fclose(mem);
		if (fuzz_write(fz_path2, text, len) == -1)
			abort();
		config_defaults(&again);
		/* what config_print writes, config_load takes */
		if (config_load(&again, fz_path2, err, sizeof(err)) != 0) {
			fprintf(stderr, "fuzz_config: printed settings do not "
			    "load back: %s\n%s", err, text);
			__builtin_trap();
		}
		if (again.sip_port != c.sip_port ||
		    again.reg_max_clients != c.reg_max_clients ||
		    again.dp_max_pending != c.dp_max_pending ||
		    strcmp(again.db_path, c.db_path) != 0 ||
		    strcmp(again.reg_default_class, c.reg_default_class) != 0)
			__builtin_trap();
		config_free(&again);
		free(text);
	} else if (err[0] == '\0')
		__builtin_trap();	/* an error must say why */
	config_free(&c);
	return 0;
}
