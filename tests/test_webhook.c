/*
 * test_webhook.c: the webhook signature (against HMAC-SHA-256 computed
 * elsewhere: Python's hmac module, and hmac_sha256, itself checked
 * against RFC 4231 in test_auth.c) and the retry delay's bounds.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "sha256.h"
#include "webhook.h"
#include "tests.h"

static void
test_sign(void)
{
	static const char body[] = "{\"event\":\"finished\"}";
	char		 out[WEBHOOK_SIG_MAX], key[100], data[64];
	uint8_t		 mac[SHA256_LEN];
	char		 hex[2 * SHA256_LEN + 1], want[WEBHOOK_SIG_MAX];

	/* python3: hmac.new(b'whsec-test', b'1700000000.' + body,
	 * hashlib.sha256).hexdigest() */
	CU_ASSERT_EQUAL_FATAL(webhook_sign("whsec-test", 10, 1700000000, body,
	    strlen(body), out, sizeof(out)), 0);
	CU_ASSERT_STRING_EQUAL(out, "t=1700000000,v1="
	    "b15b78fd5d411dd7c4bf63dd7c02cbbe1fce73b56ed34eef9af33ac7f8ce41eb");

	/* a key longer than a block is hashed first (as RFC 4231 case 6);
	 * an empty body */
	memset(key, 'k', sizeof(key));
	CU_ASSERT_EQUAL_FATAL(webhook_sign(key, sizeof(key), 1, "", 0, out,
	    sizeof(out)), 0);
	CU_ASSERT_STRING_EQUAL(out, "t=1,v1="
	    "f380fa061ddac7555fce09c4f9d5ba3c4d7eb9115eaa097dd2c14988a18ae793");

	/* the same as hmac_sha256 over the joined text */
	snprintf(data, sizeof(data), "%d.%s", 42, body);
	hmac_sha256("Jefe", 4, data, strlen(data), mac);
	sha256_hex(mac, sizeof(mac), hex);
	snprintf(want, sizeof(want), "t=42,v1=%s", hex);
	CU_ASSERT_EQUAL(webhook_sign("Jefe", 4, 42, body, strlen(body), out,
	    sizeof(out)), 0);
	CU_ASSERT_STRING_EQUAL(out, want);

	/* too small a buffer is refused, not cut */
	CU_ASSERT_EQUAL(webhook_sign("Jefe", 4, 42, body, strlen(body), out,
	    20), -1);
}

static void
test_backoff(void)
{
	uint32_t	 r;
	int		 a;
	int64_t		 d, lo, hi;

	/* equal jitter: in [base/2, base], base = 1000 * 2^(a-1) <= 60000 */
	for (a = 1; a <= 40; a++) {
		hi = a <= 7 ? 1000LL << (a - 1) : 60000;
		if (hi > 60000)
			hi = 60000;
		lo = hi - hi / 2;
		CU_ASSERT_EQUAL(webhook_backoff(a, 1000, 60000, 0), lo);
		CU_ASSERT_EQUAL(webhook_backoff(a, 1000, 60000,
		    (uint32_t)(hi / 2)), hi);
		for (r = 0; r < 100000; r += 997) {
			d = webhook_backoff(a, 1000, 60000, r * 7919u);
			CU_ASSERT(d >= lo && d <= hi);
		}
	}
	CU_ASSERT_EQUAL(webhook_backoff(1, 1000, 60000, 0), 500);
	CU_ASSERT_EQUAL(webhook_backoff(2, 1000, 60000, 0), 1000);
	CU_ASSERT_EQUAL(webhook_backoff(3, 1000, 60000, 2000), 4000);
	/* no overflow however many attempts; bad bounds made sane */
	CU_ASSERT_EQUAL(webhook_backoff(1000000, 1000, 60000, 0), 30000);
	CU_ASSERT_EQUAL(webhook_backoff(1, 0, 0, 0), 1);
	CU_ASSERT_EQUAL(webhook_backoff(5, 5000, 10, 0), 2500);
}

int
test_webhook_register(void)
{
	CU_pSuite	 s = CU_add_suite("webhook", NULL, NULL);

	if (s == NULL ||
	    CU_add_test(s, "signature: HMAC-SHA-256 over t.body",
	    test_sign) == NULL ||
	    CU_add_test(s, "retry delay: exponential, jittered, bounded",
	    test_backoff) == NULL)
		return -1;
	return 0;
}
