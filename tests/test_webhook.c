/*
 * test_webhook.c: the webhook signature (against HMAC-SHA-256 computed
 * elsewhere: Python's hmac module, and hmac_sha256, itself checked
 * against RFC 4231 in test_auth.c), the retry delay's bounds, the JSON
 * bodies and the events made for a message (one per URL, filtered).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include <stdlib.h>

#include <jansson.h>

#include "sippushd.h"
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

/* A message of n targets with the given counts, for the bodies. */
static void
fake_message(struct message *m, const char *callback)
{
	memset(m, 0, sizeof(*m));
	snprintf(m->id, sizeof(m->id), "0123456789abcdef");
	m->callback = (char *)callback;
	m->state = MESSAGE_DONE;
	m->ntargets = 6;
	m->count[TARGET_PENDING] = 1;
	m->count[TARGET_SENT] = 1;
	m->count[TARGET_ACKED] = 2;
	m->count[TARGET_FAILED] = 1;
	m->count[TARGET_CANCELLED] = 1;
	m->created_at = 1700000000;
	m->finished_at = 1700000060;
}

static void
test_body(void)
{
	struct message	 m;
	struct target	 t;
	json_t		*j;
	char		*s;

	fake_message(&m, NULL);
	CU_ASSERT_STRING_EQUAL(webhook_finished_state(&m), "done");
	m.count[TARGET_EXPIRED] = 1;
	CU_ASSERT_STRING_EQUAL(webhook_finished_state(&m), "expired");
	m.state = MESSAGE_CANCELLED;
	CU_ASSERT_STRING_EQUAL(webhook_finished_state(&m), "cancelled");
	m.state = MESSAGE_DONE;

	s = webhook_body("fedcba9876543210", &m, NULL, 1700000061);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	j = json_loads(s, 0, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(j);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "id")),
	    "fedcba9876543210");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "event")),
	    "finished");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j,
	    "message_id")), m.id);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "state")),
	    "expired");
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(j, "time")),
	    1700000061);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(j, "finished_at")),
	    1700000060);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_object_get(j,
	    "counts"), "pending")), 2);	/* pending and in flight */
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_object_get(j,
	    "counts"), "targets")), 6);
	CU_ASSERT_PTR_NULL(json_object_get(j, "client_id"));
	json_decref(j);
	free(s);

	memset(&t, 0, sizeof(t));
	t.client = "kiosk-\"7\"";	/* quoted in the JSON */
	t.attempts = 5;
	t.last_status = 408;
	m.state = MESSAGE_ACTIVE;
	s = webhook_body("fedcba9876543210", &m, &t, 1700000061);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	j = json_loads(s, 0, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(j);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "event")),
	    "target_failed");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j,
	    "client_id")), "kiosk-\"7\"");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "state")),
	    "active");
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(j, "attempts")), 5);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(j, "last_status")),
	    408);
	json_decref(j);
	free(s);
}

/* One event per URL: the callback, then webhooks.url without the one
 * that repeats it; none for an event webhooks.events leaves out. */
static void
test_events(void)
{
	static char		 u1[] = "http://a.example/x",
				 u2[] = "https://b.example/y";
	struct config		 c;
	struct message		 m;
	struct target		 t;
	struct webhook_event	*list = NULL, *ev;
	struct outbox_row	 r;
	int			 n = 0, to_u1 = 0, to_u2 = 0;

	memset(&c, 0, sizeof(c));
	c.wh_url[0] = u1;
	c.wh_url[1] = u2;
	c.wh_nurl = 2;
	c.wh_events = WEBHOOK_EV_FINISHED;
	webhook_configure(&c);
	fake_message(&m, u2);
	memset(&t, 0, sizeof(t));
	t.client = "c1";

	CU_ASSERT_EQUAL(webhook_events(&m, &t, &list), 0);
	CU_ASSERT_PTR_NULL(list);		/* target_failed: not wanted */
	CU_ASSERT_EQUAL(webhook_events(&m, NULL, &list), 0);
	for (ev = list; ev; ev = ev->next, n++) {
		to_u1 += strcmp(ev->url, u1) == 0;
		to_u2 += strcmp(ev->url, u2) == 0;
		CU_ASSERT_STRING_EQUAL(ev->event, "finished");
		CU_ASSERT_EQUAL(strspn(ev->id, "0123456789abcdef"), 16);
		CU_ASSERT_EQUAL(strlen(ev->id), 16);
		CU_ASSERT(strstr(ev->body, ev->id) != NULL);
		CU_ASSERT_EQUAL(ev->attempts, 0);
		CU_ASSERT_EQUAL(ev->next_attempt, ev->created_at * 1000);
	}
	CU_ASSERT_EQUAL(n, 2);
	CU_ASSERT(to_u1 == 1 && to_u2 == 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(list);
	CU_ASSERT_PTR_NOT_NULL_FATAL(list->next);
	CU_ASSERT_STRING_NOT_EQUAL(list->id, list->next->id);

	/* its rows: whole, then only what changes */
	webhook_outbox_row(list, STORE_PUT, &r);
	CU_ASSERT_EQUAL(r.op, STORE_PUT);
	CU_ASSERT_PTR_EQUAL(r.body, list->body);
	CU_ASSERT_PTR_EQUAL(r.url, list->url);
	CU_ASSERT_STRING_EQUAL(r.event, "finished");
	list->attempts = 3;
	list->next_attempt = 42;
	webhook_outbox_row(list, STORE_TOUCH, &r);
	CU_ASSERT(r.op == STORE_TOUCH && r.attempts == 3 &&
	    r.next_attempt == 42 && r.body == NULL && r.url == NULL);
	CU_ASSERT_STRING_EQUAL(r.id, list->id);
	webhook_events_free(list);
	list = NULL;

	/* no configuration (unit tests, no section): both events, the
	 * callback only */
	webhook_configure(NULL);
	CU_ASSERT_EQUAL(webhook_events(&m, &t, &list), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(list);
	CU_ASSERT_PTR_NULL(list->next);
	CU_ASSERT_STRING_EQUAL(list->url, u2);
	CU_ASSERT_STRING_EQUAL(list->event, "target_failed");
	webhook_events_free(list);
	list = NULL;
	m.callback = NULL;
	CU_ASSERT_EQUAL(webhook_events(&m, NULL, &list), 0);
	CU_ASSERT_PTR_NULL(list);
}

int
test_webhook_register(void)
{
	CU_pSuite	 s = CU_add_suite("webhook", NULL, NULL);

	if (s == NULL ||
	    CU_add_test(s, "signature: HMAC-SHA-256 over t.body",
	    test_sign) == NULL ||
	    CU_add_test(s, "retry delay: exponential, jittered, bounded",
	    test_backoff) == NULL ||
	    CU_add_test(s, "bodies: finished, target_failed", test_body) ==
	    NULL ||
	    CU_add_test(s, "events: one per URL, filtered; their rows",
	    test_events) == NULL)
		return -1;
	return 0;
}
