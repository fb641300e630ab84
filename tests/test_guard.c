/*
 * test_guard.c: guard_scan, the count of header lines and Via values of
 * a datagram that decides, before Sofia parses it, whether it is dropped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "sippushd.h"
#include "tests.h"

#define HEAD	"OPTIONS sip:a SIP/2.0\r\n"

static int
scan(const char *s, int max_headers, int max_via)
{
	return guard_scan(s, strlen(s), max_headers, max_via);
}

/* A message of n "X-N: v" headers and v Via lines. */
static char *
make(int n, int v)
{
	size_t	 len = sizeof(HEAD) + (size_t)(n + v) * 40 + 64;
	char	*s = malloc(len), *p;
	int	 i;

	CU_ASSERT_FATAL(s != NULL);
	p = s + sprintf(s, "%s", HEAD);
	for (i = 0; i < v; i++)
		p += sprintf(p, "Via: SIP/2.0/UDP 10.0.0.1;branch=z%d\r\n", i);
	for (i = 0; i < n; i++)
		p += sprintf(p, "X-%d: v\r\n", i);
	sprintf(p, "Content-Length: 0\r\n\r\n");
	return s;
}

static void
test_header_cap(void)
{
	char	*s = make(9, 0);	/* 10 header lines with Content-Length */

	CU_ASSERT_EQUAL(guard_scan(s, strlen(s), 10, 0), 0);
	CU_ASSERT_EQUAL(guard_scan(s, strlen(s), 9, 0), GUARD_HEADERS);
	CU_ASSERT_EQUAL(guard_scan(s, strlen(s), 0, 0), 0);
	free(s);
}

static void
test_via_cap(void)
{
	char	*s = make(0, 5);

	CU_ASSERT_EQUAL(guard_scan(s, strlen(s), 0, 5), 0);
	CU_ASSERT_EQUAL(guard_scan(s, strlen(s), 0, 4), GUARD_VIA);
	free(s);
	/* compact form, any case, values joined by commas and on
	 * continuation lines all count */
	CU_ASSERT_EQUAL(scan(HEAD "v: SIP/2.0/UDP a\r\nVIA : SIP/2.0/UDP b, "
	    "SIP/2.0/UDP c\r\n , SIP/2.0/UDP d\r\n\r\n", 0, 4), 0);
	CU_ASSERT_EQUAL(scan(HEAD "v: SIP/2.0/UDP a\r\nVIA : SIP/2.0/UDP b, "
	    "SIP/2.0/UDP c\r\n , SIP/2.0/UDP d\r\n\r\n", 0, 3), GUARD_VIA);
	/* other headers' commas and names that only start like Via do not */
	CU_ASSERT_EQUAL(scan(HEAD "Vias: a, b, c\r\nVia-X: a,b\r\n"
	    "Allow: A, B, C, D\r\n\r\n", 0, 1), 0);
}

static void
test_head_only(void)
{
	/* the body is not looked at; leading CRLFs are not headers; a head
	 * cut short is counted as far as it goes */
	CU_ASSERT_EQUAL(scan("\r\n\r\n" HEAD "A: 1\r\n\r\nB: 2\r\nC: 3\r\n",
	    1, 0), 0);
	CU_ASSERT_EQUAL(scan(HEAD "A: 1\nB: 2\n\nC: 3\n", 2, 0), 0);
	CU_ASSERT_EQUAL(scan(HEAD "A: 1\r\nB: 2\r\nC", 2, 0), GUARD_HEADERS);
	CU_ASSERT_EQUAL(scan("", 1, 1), 0);
	CU_ASSERT_EQUAL(scan(HEAD, 1, 1), 0);
}

static void
test_attack(void)
{
	char	*s = make(0, 1100);

	/* the datagram of the hardening issue, with the defaults */
	CU_ASSERT_NOT_EQUAL(guard_scan(s, strlen(s), 128, 70), 0);
	free(s);
	s = make(1000, 0);
	CU_ASSERT_EQUAL(guard_scan(s, strlen(s), 128, 70), GUARD_HEADERS);
	free(s);
	s = make(20, 3);
	CU_ASSERT_EQUAL(guard_scan(s, strlen(s), 128, 70), 0);
	free(s);
}

int
test_guard_register(void)
{
	CU_pSuite	 s;

	if ((s = CU_add_suite("guard", NULL, NULL)) == NULL)
		return -1;
	if (CU_add_test(s, "header line cap", test_header_cap) == NULL ||
	    CU_add_test(s, "Via cap: forms, commas, continuations",
	    test_via_cap) == NULL ||
	    CU_add_test(s, "the head only", test_head_only) == NULL ||
	    CU_add_test(s, "the issue's datagrams", test_attack) == NULL)
		return -1;
	return 0;
}
