/*
 * fixtures.c: what several unit-test files build the same way.
 */
#include <string.h>

#include "sippush.h"
#include "sippushd.h"
#include "tests.h"

/* Fill r as the registrar does for a REGISTER of id at now: class "k",
 * from 192.0.2.1:5060 over UDP, for 600 s. A test changes what it needs
 * before test_reg_client. */
void
test_reg_fill(struct registration *r, const char *id, int64_t now)
{
	memset(r, 0, sizeof(*r));
	r->id = id;
	r->class = "k";
	r->contact = "<sip:unit@192.0.2.1>";
	r->user_agent = "unit";
	r->address = "192.0.2.1";
	r->port = 5060;
	r->transport = TRANSPORT_UDP;
	r->now = now;
	r->expires = 600;
}

/* Register r in the client table: its client, or NULL. */
struct client *
test_reg_client(const struct registration *r)
{
	struct client	*c = NULL;

	return clients_register(r, &c) == -1 ? NULL : c;
}

/* A client id registered at now with test_reg_fill's values, or NULL. */
struct client *
test_reg(const char *id, int64_t now)
{
	struct registration	 r;

	test_reg_fill(&r, id, now);
	return test_reg_client(&r);
}

/* A libsippush on_message callback that takes every message. */
int
test_on_message(struct sippush *c, struct sippush_message *m, void *arg)
{
	(void)c;
	(void)m;
	(void)arg;
	return SIPPUSH_ACCEPT;
}
