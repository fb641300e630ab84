/*
 * test_wire.c: common/wire.c, what daemon and library agree on.
 *
 * A client ID or class the library sends must be one the daemon takes,
 * and the other way round, whatever the locale of the program that uses
 * the library: the library once tested with isalnum, which takes the
 * letters of a Latin-1 locale that sippushd refuses.
 */
#include <ctype.h>
#include <errno.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <CUnit/CUnit.h>

#include "sippush.h"
#include "sippushd.h"
#include "tests.h"

#define WIRE_NAME_CHARS	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" \
			"0123456789._-"

/* 1 if sippush_create takes id (and class) as a client's: the settings
 * are otherwise right but for the transport, checked after them, so it
 * creates nothing and says why. */
static int
wire_lib_takes(const char *id, const char *class)
{
	static const char *const servers[] = { "127.0.0.1:9" };
	struct sippush_settings	 s;
	struct sippush		*c = NULL;
	char			 err[256] = "";

	sippush_settings_init(&s);
	s.servers = servers;
	s.nservers = 1;
	s.client_id = id;
	s.client_class = class;
	s.on_message = test_on_message;
	s.transport = 99;
	if (sippush_create(&c, &s, err, sizeof(err)) != EINVAL || c != NULL) {
		CU_FAIL("sippush_create took an unknown transport");
		return -1;
	}
	return test_contains(err, "unknown transport");
}

/* Every byte in an ID and in a class: taken by the library, the daemon
 * and wire_valid_name alike, and only [A-Za-z0-9._-]. */
static void
wire_check_bytes(void)
{
	char	 s[4];
	int	 b, want, bad = 0;

	for (b = 1; b < 256; b++) {
		s[0] = 'a';
		s[1] = (char)b;
		s[2] = 'z';
		s[3] = '\0';
		want = strchr(WIRE_NAME_CHARS, b) != NULL;
		if (wire_valid_name(s, CLIENT_ID_MAX) != want ||
		    clients_valid_id(s) != want ||
		    clients_valid_class(s) != want ||
		    wire_lib_takes(s, NULL) != want ||
		    wire_lib_takes("a", s) != want) {
			fprintf(stderr, "\nwire: byte 0x%02x: daemon id %d "
			    "class %d, library id %d class %d, want %d\n", b,
			    clients_valid_id(s), clients_valid_class(s),
			    wire_lib_takes(s, NULL), wire_lib_takes("a", s),
			    want);
			bad++;
		}
	}
	CU_ASSERT_EQUAL(bad, 0);
}

static void
test_names(void)
{
	char	 s[CLIENT_ID_MAX + 2];

	CU_ASSERT_FALSE(wire_valid_name(NULL, 8));
	CU_ASSERT_FALSE(wire_valid_name("", 8));
	memset(s, 'x', sizeof(s) - 1);
	s[sizeof(s) - 1] = '\0';
	CU_ASSERT_FALSE(wire_valid_name(s, CLIENT_ID_MAX));
	CU_ASSERT_FALSE(clients_valid_id(s));
	CU_ASSERT_EQUAL(wire_lib_takes(s, NULL), 0);
	s[CLIENT_ID_MAX] = '\0';
	CU_ASSERT_TRUE(wire_valid_name(s, CLIENT_ID_MAX));
	CU_ASSERT_TRUE(clients_valid_id(s));
	CU_ASSERT_EQUAL(wire_lib_takes(s, NULL), 1);
	wire_check_bytes();
}

/* Set LC_CTYPE to a Latin-1 locale (isalnum(0xe9), e acute): one that is
 * installed, else one made by localedef in dir (LOCPATH). 0, or -1 if
 * none can be had. */
static int
wire_latin1(char *dir, size_t len)
{
	static const char *const names[] = { "fr_FR.ISO-8859-1",
	    "de_DE.ISO-8859-1", "en_US.ISO-8859-1", "fr_FR", "de_DE" };
	char		 cmd[512], path[512];
	struct stat	 sb;
	size_t		 i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (setlocale(LC_CTYPE, names[i]) && isalnum(0xe9))
			return 0;
	if (test_mkdtemp(dir, len) == -1)
		return -1;
	snprintf(cmd, sizeof(cmd), "localedef -i fr_FR -f ISO-8859-1 "
	    "'%s/fr_FR.ISO-8859-1' >/dev/null 2>&1", dir);
	(void)system(cmd);
	snprintf(path, sizeof(path), "%s/fr_FR.ISO-8859-1/LC_CTYPE", dir);
	if (stat(path, &sb) == -1)
		return -1;
	setenv("LOCPATH", dir, 1);
	if (setlocale(LC_CTYPE, "fr_FR.ISO-8859-1") && isalnum(0xe9))
		return 0;
	return -1;
}

/* The same in a Latin-1 locale, where isalnum takes bytes >= 0x80. */
static void
test_names_latin1(void)
{
	char	 dir[TEST_DIR_MAX] = "";

	if (wire_latin1(dir, sizeof(dir)) == -1) {
		fprintf(stderr, "\nwire: no Latin-1 locale to be had (localedef "
		    "-i fr_FR -f ISO-8859-1 failed): not tested\n");
	} else
		wire_check_bytes();
	setlocale(LC_CTYPE, "C");
	unsetenv("LOCPATH");
	test_rmtree(dir);
}

int
test_wire_register(void)
{
	CU_pSuite	 s;

	if ((s = CU_add_suite("wire", NULL, NULL)) == NULL)
		return -1;
	if (CU_add_test(s, "client IDs and classes, byte by byte",
	    test_names) == NULL ||
	    CU_add_test(s, "the same in a Latin-1 locale",
	    test_names_latin1) == NULL)
		return -1;
	return 0;
}
