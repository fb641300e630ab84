/*
 * test_relay.c: the relay's policy, pure functions of relay.c: parsing
 * relay.rules ("FROM -> TO") and matching a sender's class and a
 * target's against them. The forwarding itself is driven end to end by
 * tests/e2e/relay.sh.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "sippushd.h"
#include "tests.h"

static void
test_rule_parse(void)
{
	struct relay_rule	 r;
	char			 err[256];

	CU_ASSERT_EQUAL(relay_rule_parse("kiosk -> tv", &r, err,
	    sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(r.from, "kiosk");
	CU_ASSERT_STRING_EQUAL(r.to, "tv");
	/* spaces are optional, and any amount */
	CU_ASSERT_EQUAL(relay_rule_parse("  a.b_c->*\t", &r, err,
	    sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(r.from, "a.b_c");
	CU_ASSERT_STRING_EQUAL(r.to, "*");
	CU_ASSERT_EQUAL(relay_rule_parse("* -> *", &r, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(r.from, "*");
	CU_ASSERT_STRING_EQUAL(r.to, "*");
}

static void
test_rule_errors(void)
{
	static const char *const bad[] = {
		"", "kiosk", "kiosk tv", "kiosk ->", "-> tv", " -> ",
		"kiosk -> tv -> x",	/* "tv -> x" is no class */
		"ki osk -> tv", "kiosk -> t*", "** -> tv",
		"kiosk -> 0123456789012345678901234567890123",	/* 34 bytes */
		"k\"q -> tv",
	};
	struct relay_rule	 r;
	char			 err[256];
	size_t			 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (relay_rule_parse(bad[i], &r, err, sizeof(err)) != -1) {
			fprintf(stderr, "\nrelay: \"%s\" was taken\n", bad[i]);
			CU_FAIL("a bad rule was taken");
		}
		CU_ASSERT(err[0] != '\0');
	}
	/* the longest class name is taken */
	CU_ASSERT_EQUAL(relay_rule_parse(
	    "kiosk -> 01234567890123456789012345678901", &r, err,
	    sizeof(err)), 0);
}

static void
test_rules_list(void)
{
	struct relay_rule	*v;
	char			 err[256];

	CU_ASSERT_EQUAL(relay_rules_parse("kiosk -> tv\ntv -> kiosk\n"
	    "admin -> *", &v, err, sizeof(err)), 3);
	CU_ASSERT_STRING_EQUAL(v[2].from, "admin");
	free(v);
	CU_ASSERT_EQUAL(relay_rules_parse("", &v, err, sizeof(err)), 0);
	CU_ASSERT_PTR_NULL(v);
	CU_ASSERT_EQUAL(relay_rules_parse("a -> b\nnonsense", &v, err,
	    sizeof(err)), -1);
	CU_ASSERT_PTR_NULL(v);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "rule 2"));
}

static void
test_allowed(void)
{
	struct relay_rule	*v;
	char			 err[256];
	int			 n;

	n = relay_rules_parse("kiosk -> tv\nadmin -> *\n* -> log", &v, err,
	    sizeof(err));
	CU_ASSERT_EQUAL_FATAL(n, 3);
	CU_ASSERT_TRUE(relay_allowed(v, 3, "kiosk", "tv"));
	CU_ASSERT_FALSE(relay_allowed(v, 3, "tv", "kiosk"));	/* one way */
	CU_ASSERT_FALSE(relay_allowed(v, 3, "kiosk", "kiosk"));
	CU_ASSERT_TRUE(relay_allowed(v, 3, "admin", "kiosk"));
	CU_ASSERT_TRUE(relay_allowed(v, 3, "admin", "admin"));
	CU_ASSERT_TRUE(relay_allowed(v, 3, "panel", "log"));
	CU_ASSERT_FALSE(relay_allowed(v, 3, "panel", "tv"));
	/* names match whole, not as prefixes */
	CU_ASSERT_FALSE(relay_allowed(v, 3, "kiosk2", "tv"));
	CU_ASSERT_FALSE(relay_allowed(v, 3, "kiosk", "tv2"));
	/* no rules: nothing */
	CU_ASSERT_FALSE(relay_allowed(v, 0, "admin", "tv"));
	free(v);
}

int
test_relay_register(void)
{
	CU_pSuite	 s;

	if ((s = CU_add_suite("relay", NULL, NULL)) == NULL)
		return -1;
	if (CU_add_test(s, "a rule", test_rule_parse) == NULL ||
	    CU_add_test(s, "rules that do not parse", test_rule_errors) ==
	    NULL ||
	    CU_add_test(s, "a list of rules", test_rules_list) == NULL ||
	    CU_add_test(s, "who may send to whom", test_allowed) == NULL)
		return -1;
	return 0;
}
