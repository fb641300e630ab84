/*
 * test_proto.c: the byte buffer and the control-protocol framing (proto.c).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "proto.h"
#include "tests.h"

static void
test_buf_append(void)
{
	struct buf	 b = { 0 };
	char		 big[1000];
	size_t		 i;

	/* nothing from an empty buffer (its data is NULL): a buffer all the
	 * same, empty and terminated (found by tests/fuzz/fuzz_control) */
	CU_ASSERT_EQUAL(buf_append(&b, NULL, 0), 0);
	CU_ASSERT_EQUAL(b.len, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b.data);
	CU_ASSERT_EQUAL(b.data[0], '\0');
	CU_ASSERT_EQUAL(buf_append(&b, "abc", 3), 0);
	CU_ASSERT_EQUAL(b.len, 3);
	CU_ASSERT_STRING_EQUAL(b.data, "abc");
	CU_ASSERT(b.cap >= b.len + 1);
	CU_ASSERT_EQUAL(buf_puts(&b, "de"), 0);
	CU_ASSERT_EQUAL(b.len, 5);
	CU_ASSERT_STRING_EQUAL(b.data, "abcde");

	/* bytes after a NUL are kept, and the buffer stays terminated */
	CU_ASSERT_EQUAL(buf_append(&b, "x\0y", 3), 0);
	CU_ASSERT_EQUAL(b.len, 8);
	CU_ASSERT_EQUAL(memcmp(b.data, "abcdex\0y", 8), 0);
	CU_ASSERT_EQUAL(b.data[8], '\0');

	/* growth past the first allocation keeps what was there */
	for (i = 0; i < sizeof(big); i++)
		big[i] = (char)('a' + i % 26);
	CU_ASSERT_EQUAL(buf_append(&b, big, sizeof(big)), 0);
	CU_ASSERT_EQUAL(b.len, 8 + sizeof(big));
	CU_ASSERT(b.cap >= b.len + 1);
	CU_ASSERT_EQUAL(memcmp(b.data, "abcdex\0y", 8), 0);
	CU_ASSERT_EQUAL(memcmp(b.data + 8, big, sizeof(big)), 0);
	CU_ASSERT_EQUAL(b.data[b.len], '\0');

	/* an impossible size is refused, the buffer unchanged */
	CU_ASSERT_EQUAL(buf_reserve(&b, SIZE_MAX), -1);
	CU_ASSERT_EQUAL(buf_reserve(&b, SIZE_MAX / 2), -1);
	CU_ASSERT_EQUAL(b.len, 8 + sizeof(big));

	buf_free(&b);
	CU_ASSERT_PTR_NULL(b.data);
	CU_ASSERT_EQUAL(b.len, 0);
	CU_ASSERT_EQUAL(b.cap, 0);

	/* an empty append on an empty buffer still gives a string */
	CU_ASSERT_EQUAL(buf_append(&b, "", 0), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b.data);
	CU_ASSERT_STRING_EQUAL(b.data, "");
	buf_free(&b);
}

static void
test_buf_printf(void)
{
	struct buf	 b = { 0 };
	char		 expect[1200];
	size_t		 i;

	CU_ASSERT_EQUAL(buf_printf(&b, "%s=%d", "n", 42), 0);
	CU_ASSERT_STRING_EQUAL(b.data, "n=42");
	CU_ASSERT_EQUAL(b.len, 4);
	CU_ASSERT_EQUAL(buf_printf(&b, " %05.1f|%-3s|", 3.14159, "x"), 0);
	CU_ASSERT_STRING_EQUAL(b.data, "n=42 003.1|x  |");
	CU_ASSERT_EQUAL(b.len, strlen("n=42 003.1|x  |"));

	/* output longer than the first allocation */
	buf_free(&b);
	CU_ASSERT_EQUAL(buf_printf(&b, "%0*d", 1000, 7), 0);
	CU_ASSERT_EQUAL(b.len, 1000);
	for (i = 0; i < 999; i++)
		expect[i] = '0';
	expect[999] = '7';
	expect[1000] = '\0';
	CU_ASSERT_STRING_EQUAL(b.data, expect);
	CU_ASSERT_EQUAL(buf_printf(&b, "%s", ""), 0);
	CU_ASSERT_EQUAL(b.len, 1000);
	buf_free(&b);
}

static void
test_buf_consume(void)
{
	struct buf	 b = { 0 };

	/* nothing to consume, no storage yet */
	buf_consume(&b, 5);
	CU_ASSERT_EQUAL(b.len, 0);
	CU_ASSERT_PTR_NULL(b.data);

	CU_ASSERT_EQUAL(buf_puts(&b, "line one\nline two\n"), 0);
	buf_consume(&b, strlen("line one\n"));
	CU_ASSERT_EQUAL(b.len, strlen("line two\n"));
	CU_ASSERT_STRING_EQUAL(b.data, "line two\n");
	buf_consume(&b, 0);
	CU_ASSERT_STRING_EQUAL(b.data, "line two\n");
	buf_consume(&b, 5);
	CU_ASSERT_STRING_EQUAL(b.data, "two\n");
	CU_ASSERT_EQUAL(b.len, 4);
	buf_consume(&b, 4);
	CU_ASSERT_EQUAL(b.len, 0);
	CU_ASSERT_STRING_EQUAL(b.data, "");
	CU_ASSERT_EQUAL(buf_puts(&b, "abc"), 0);
	buf_consume(&b, 100);
	CU_ASSERT_EQUAL(b.len, 0);
	CU_ASSERT_STRING_EQUAL(b.data, "");
	/* appending after consuming starts at the front */
	CU_ASSERT_EQUAL(buf_puts(&b, "z"), 0);
	CU_ASSERT_STRING_EQUAL(b.data, "z");
	buf_free(&b);
}

static int
test_plain(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || (c != 0 && strchr("._~:/@+,-", c));
}

/* Every byte 1..255, alone and all together, survives encode+decode. */
static void
test_word_roundtrip(void)
{
	struct buf	 b = { 0 };
	char		 in[2], expect[4], all[256];
	int		 c, bad = 0, n;

	for (c = 1; c <= 255; c++) {
		in[0] = (char)c;
		in[1] = '\0';
		b.len = 0;
		if (proto_put_word(&b, in) == -1) {
			bad++;
			continue;
		}
		if (test_plain(c))
			snprintf(expect, sizeof(expect), "%c", c);
		else
			snprintf(expect, sizeof(expect), "%%%02X", c);
		if (strcmp(b.data, expect) != 0) {
			fprintf(stderr, "proto: byte %d encoded as \"%s\", "
			    "expected \"%s\"\n", c, b.data, expect);
			bad++;
		}
		/* the encoding is one word: no space, newline or NUL */
		if (strpbrk(b.data, " \n\r\t") != NULL)
			bad++;
		if (proto_decode(b.data) != 1 ||
		    (unsigned char)b.data[0] != c || b.data[1] != '\0')
			bad++;
	}
	CU_ASSERT_EQUAL(bad, 0);

	for (c = 1; c <= 255; c++)
		all[c - 1] = (char)c;
	all[255] = '\0';
	b.len = 0;
	CU_ASSERT_EQUAL(proto_put_word(&b, all), 0);
	CU_ASSERT_PTR_NULL(strchr(b.data, ' '));
	CU_ASSERT_PTR_NULL(strchr(b.data, '\n'));
	n = proto_decode(b.data);
	CU_ASSERT_EQUAL(n, 255);
	CU_ASSERT_EQUAL(memcmp(b.data, all, 256), 0);

	/* the empty word encodes to nothing */
	b.len = 0;
	CU_ASSERT_EQUAL(proto_put_word(&b, ""), 0);
	CU_ASSERT_EQUAL(b.len, 0);
	buf_free(&b);
}

static void
test_put_kv(void)
{
	struct buf	 b = { 0 };

	CU_ASSERT_EQUAL(proto_put_kv(&b, "id", "a b"), 0);
	CU_ASSERT_EQUAL(proto_put_kv(&b, "class", NULL), 0);
	CU_ASSERT_EQUAL(proto_put_kvi(&b, "n", -12345678901LL), 0);
	CU_ASSERT_EQUAL(proto_end_record(&b), 0);
	CU_ASSERT_EQUAL(proto_put_kv(&b, "ua", "x=y%\n"), 0);
	CU_ASSERT_EQUAL(proto_end_record(&b), 0);
	CU_ASSERT_STRING_EQUAL(b.data,
	    "id=a%20b class= n=-12345678901\nua=x%3Dy%25%0A\n");
	buf_free(&b);
}

static void
test_decode(void)
{
	static const char *const bad[] = {
		"%", "%4", "a%", "%zz", "%G0", "%0g", "%00", "ab%00cd",
		"%%41", "% 41", "%-1",
	};
	char	 s[64];
	size_t	 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(s, sizeof(s), "%s", bad[i]);
		if (proto_decode(s) != -1)
			CU_FAIL("proto_decode accepted a bad escape");
	}

	snprintf(s, sizeof(s), "%s", "%2f%2F%41b%7e");
	CU_ASSERT_EQUAL(proto_decode(s), 5);
	CU_ASSERT_STRING_EQUAL(s, "//Ab~");
	snprintf(s, sizeof(s), "%s", "plain");
	CU_ASSERT_EQUAL(proto_decode(s), 5);
	CU_ASSERT_STRING_EQUAL(s, "plain");
	snprintf(s, sizeof(s), "%s", "");
	CU_ASSERT_EQUAL(proto_decode(s), 0);
	snprintf(s, sizeof(s), "%s", "%FF%01");
	CU_ASSERT_EQUAL(proto_decode(s), 2);
	CU_ASSERT_EQUAL((unsigned char)s[0], 0xff);
	CU_ASSERT_EQUAL(s[1], 1);
	CU_ASSERT_EQUAL(s[2], '\0');
}

static void
test_split(void)
{
	char	 line[128], *argv[8];
	int	 n;

	snprintf(line, sizeof(line), "%s", "  list   class=a%20b  x ");
	n = proto_split(line, argv, 8);
	CU_ASSERT_EQUAL_FATAL(n, 3);
	CU_ASSERT_STRING_EQUAL(argv[0], "list");
	CU_ASSERT_STRING_EQUAL(argv[1], "class=a b");
	CU_ASSERT_STRING_EQUAL(argv[2], "x");

	snprintf(line, sizeof(line), "%s", "");
	CU_ASSERT_EQUAL(proto_split(line, argv, 8), 0);
	snprintf(line, sizeof(line), "%s", "     ");
	CU_ASSERT_EQUAL(proto_split(line, argv, 8), 0);

	/* exactly max words (trailing spaces too) is fine, one more is not */
	snprintf(line, sizeof(line), "%s", "a b c d ");
	CU_ASSERT_EQUAL(proto_split(line, argv, 4), 4);
	CU_ASSERT_STRING_EQUAL(argv[3], "d");
	snprintf(line, sizeof(line), "%s", "a b c d e");
	CU_ASSERT_EQUAL(proto_split(line, argv, 4), -1);
	snprintf(line, sizeof(line), "%s", "a");
	CU_ASSERT_EQUAL(proto_split(line, argv, 0), -1);

	/* a bad escape in any word fails the line */
	snprintf(line, sizeof(line), "%s", "get id=%zz");
	CU_ASSERT_EQUAL(proto_split(line, argv, 8), -1);
	snprintf(line, sizeof(line), "%s", "get id=%00");
	CU_ASSERT_EQUAL(proto_split(line, argv, 8), -1);

	/* an encoded space stays inside its word */
	snprintf(line, sizeof(line), "%s", "a%20b%0Ac");
	CU_ASSERT_EQUAL_FATAL(proto_split(line, argv, 8), 1);
	CU_ASSERT_STRING_EQUAL(argv[0], "a b\nc");
}

static void
test_get(void)
{
	char	 line[128], *argv[8];
	int	 argc;

	snprintf(line, sizeof(line), "%s",
	    "id=cmd ab=1 a=2 empty= a=3 plain");
	argc = proto_split(line, argv, 8);
	CU_ASSERT_EQUAL_FATAL(argc, 6);
	/* argv[0] is the command, never a key=value */
	CU_ASSERT_PTR_NULL(proto_get(argc, argv, "id"));
	CU_ASSERT_PTR_NOT_NULL_FATAL(proto_get(argc, argv, "a"));
	CU_ASSERT_STRING_EQUAL(proto_get(argc, argv, "a"), "2");
	CU_ASSERT_STRING_EQUAL(proto_get(argc, argv, "ab"), "1");
	CU_ASSERT_PTR_NOT_NULL_FATAL(proto_get(argc, argv, "empty"));
	CU_ASSERT_STRING_EQUAL(proto_get(argc, argv, "empty"), "");
	CU_ASSERT_PTR_NULL(proto_get(argc, argv, "plain"));
	CU_ASSERT_PTR_NULL(proto_get(argc, argv, "abc"));
	CU_ASSERT_PTR_NULL(proto_get(argc, argv, "missing"));
	CU_ASSERT_PTR_NULL(proto_get(1, argv, "a"));
}

int
test_proto_register(void)
{
	CU_pSuite	 s;

	if ((s = CU_add_suite("proto", NULL, NULL)) == NULL)
		return -1;
	if (CU_add_test(s, "buf_append, buf_puts, buf_reserve",
	    test_buf_append) == NULL ||
	    CU_add_test(s, "buf_printf", test_buf_printf) == NULL ||
	    CU_add_test(s, "buf_consume", test_buf_consume) == NULL ||
	    CU_add_test(s, "put_word/decode round trip of bytes 1..255",
	    test_word_roundtrip) == NULL ||
	    CU_add_test(s, "put_kv, put_kvi, end_record", test_put_kv) ==
	    NULL ||
	    CU_add_test(s, "decode: escapes, bad escapes, %00",
	    test_decode) == NULL ||
	    CU_add_test(s, "split: spaces, word limit, escapes",
	    test_split) == NULL ||
	    CU_add_test(s, "proto_get", test_get) == NULL)
		return -1;
	return 0;
}
