/*
 * wire.h: what sippushd and libsippush (and sippush-agent) must agree on
 * between them: the names of our SIP headers and Contact parameter, and
 * what a client ID or class may be. Both sides include this one file.
 */
#ifndef WIRE_H
#define WIRE_H

#include <stddef.h>

/* on every MESSAGE: the message ID, by which a client drops a copy */
#define MESSAGE_ID_HEADER	"Sippush-Message-Id"
/* on a 200 to a heartbeat the server did not count: "none" (it holds no
 * registration of the client) or "elsewhere" (registered from another
 * address, port or transport); the client registers again */
#define REGISTRATION_HEADER	"Sippush-Registration"
/* the Contact parameter that gives a client's class in a REGISTER */
#define CLASS_PARAM		"class"

#define CLIENT_ID_MAX		64	/* bytes in a client ID */
#define CLIENT_CLASS_MAX	32	/* bytes in a class name */

int	 wire_valid_name(const char *, size_t max);

#endif /* WIRE_H */
