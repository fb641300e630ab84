/*
 * fuzz_registrar.c: a REGISTER (or any request) as Sofia parses it from
 * arbitrary bytes (msg_make), then read by registrar_parse, the From a
 * heartbeat would look at, and the Contact a 200 would echo; then its
 * credentials as auth_check reads them (Authorization parameters, nonce
 * count, our nonce format), with auth.enabled on.
 */
#include <string.h>

#include <sofia-sip/msg.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/su.h>

#include "fuzz.h"

static struct config	 fz_cfg;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_log_init();
	su_init();
	config_defaults(&fz_cfg);
	fz_cfg.auth_enabled = 1;
	if (clients_init() == -1 || auth_init(&fz_cfg, NULL) == -1)
		return -1;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct registration	 r;
	struct reg_error	 e;
	struct auth_grant	 g;
	struct auth_verdict	 v;
	msg_t			*msg;
	sip_t			*sip;
	su_home_t		*home;
	char			 buf[1024];

	msg = msg_make(sip_default_mclass(), 0, data, (isize_t)size);
	if (msg == NULL)
		return 0;
	home = msg_home(msg);
	if ((sip = sip_object(msg)) != NULL) {
		memset(&r, 0, sizeof(r));
		if (registrar_parse(&fz_cfg, home, sip, &r, &e) == 0) {
			/* what a registration would store */
			if (r.id && !clients_valid_id(r.id))
				__builtin_trap();
			if (r.class && !clients_valid_class(r.class))
				__builtin_trap();
			if (r.contact && strlen(r.contact) > CLIENT_CONTACT_MAX)
				__builtin_trap();
			if (r.user_agent &&
			    strlen(r.user_agent) > CLIENT_UA_MAX)
				__builtin_trap();
			if (r.expires > 0 && (r.expires < fz_cfg.reg_min_expires ||
			    r.expires > fz_cfg.reg_max_expires))
				__builtin_trap();
			/* the stored Contact, made again as a 200 would */
			if (r.contact)
				(void)sip_contact_make(home, r.contact);
		} else if (e.status < 400 || e.status > 599 || e.phrase == NULL)
			__builtin_trap();
		if (sip->sip_from)
			(void)msg_header_field_e(buf, sizeof(buf),
			    (msg_header_t const *)sip->sip_from, 0);
		/* nobody can forge our nonce: never let through */
		if (sip->sip_request &&
		    (auth_check(msg, sip, r.id, &g, &v) == 0 ||
		    (v.status != 401 && v.status != 403 && v.status != 400) ||
		    v.why == NULL || (v.status != 401 && v.phrase == NULL)))
			__builtin_trap();
	}
	msg_destroy(msg);
	return 0;
}
