/*
 * guard.c: bounds on what a peer's SIP bytes may cost, applied where
 * Sofia-SIP's transport hands them to its parser.
 *
 * How it works (the "patched behaviour"). Debian's Sofia-SIP 1.12.11
 * parses what a transport received in tport_parse(), which calls
 * msg_extract() and, on a stream, msg_next() for the next message of the
 * same read; UDP datagrams starting with a 0 or 1 byte go to
 * tport_recv_stun_dgram(). These are calls between exported functions of
 * libsofia-sip-ua.so, made through its PLT, so the definitions below, in
 * the daemon's executable and exported from its dynamic symbol table
 * (Makefile.am: --export-dynamic-symbol), take their place; the real
 * msg_extract is found with dlsym(RTLD_NEXT). guard_init checks that the
 * replacement is the one in effect and the daemon refuses to start if it
 * is not.
 *
 *  - Streams (TCP, TLS). msg_next() makes the second and later messages
 *    of one read with no size limit (it does not copy m_maxsize), so a
 *    pipelined message's Content-Length was allocated as announced: 2^31
 *    or more aborted the process in su_alloc, less grew it by that much.
 *    guard gives every stream message without a limit sip.max_message_size
 *    before it is parsed; Sofia then treats it as the first: too large,
 *    nta answers 413 and the connection is closed. Counted
 *    (sip_too_large).
 *  - Datagrams (UDP), before they are parsed: a source address over
 *    sip.source_rate is dropped (sip_dropped_rate), and so is a datagram
 *    with more than sip.max_headers header lines or sip.max_via Via
 *    values (sip_dropped_headers): 1,100 Vias cost Sofia and nta far more
 *    than 1,100 times one (each is parsed, checked and copied into the
 *    answer). A dropped datagram is marked as a parse error without being
 *    parsed; nta discards it as garbage and sends nothing.
 *  - STUN. Even with no STUN server (TPTAG_STUN_SERVER(0)), Sofia answers
 *    any datagram of 20 bytes or more starting with a 0 byte with a
 *    44-byte STUN error: a reflector for forged sources. The replacement
 *    drops every such datagram (stun_dropped); the daemon runs no STUN
 *    service.
 *
 *  - ICMP errors (UDP). The socket has IP_RECVERR on: an ICMP error (a
 *    MESSAGE sent to a closed port) is queued on its error queue and
 *    marks the socket, so that its next recv fails with ECONNREFUSED
 *    instead of reading a datagram, and again as long as errors are
 *    queued. Sofia takes one error per wakeup of the socket
 *    (tport_error_event), then one recv, which fails: while a fan-out to
 *    clients that are gone kept the queue filled, no request was read
 *    for 0.1 s to seconds (bench/stall.sh, issue 11: the OPTIONS all
 *    waited, then were read in a burst once the queue ran dry). The
 *    replacement of tport_error_event takes up to GUARD_ERRORS errors a
 *    wakeup of the daemon's UDP sockets, each through Sofia's own (so
 *    each is reported to nta, which fails the MESSAGEs in flight to that
 *    address at once, as before), until the queue is empty; the recv
 *    that follows reads the next request.
 *
 * With guard_init not called (unit tests, fuzz targets that do not ask
 * for it), msg_extract is Sofia's own, except that stream messages still
 * get a limit (GUARD_DEFAULT_MAX), and a wakeup takes one ICMP error.
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <sofia-sip/msg.h>
#include <sofia-sip/msg_addr.h>
#include <sofia-sip/msg_buffer.h>
#include <sofia-sip/su.h>
#include <sofia-sip/tport.h>

#include "sippushd.h"

#define GUARD_DEFAULT_MAX	65536	/* stream limit before guard_init */
#define GUARD_LOG_EVERY_NS	10000000000LL /* a source's drops, reported */
#define GUARD_TOOLARGE_LOGS	10	/* too-large logs a second, at most */
#define GUARD_READ_ANY	((usize_t)1 << 30) /* a stream message's limit
					   between parses: none in practice */

typedef int (*guard_extract_fn)(msg_t *);
typedef int (*guard_error_fn)(tport_t *);

/* ICMP errors taken from a UDP socket's error queue per wakeup, at most */
#define GUARD_ERRORS	256

/* Sofia's internal prototype (tport_internal.h, not installed). */
int	 tport_recv_stun_dgram(tport_t const *, msg_t **, su_sockaddr_t *,
	    socklen_t);

static guard_extract_fn		 guard_real_extract;
static const struct config	*guard_cfg;
static struct rate_table	 guard_rates;
static int64_t			 guard_interval;	/* ns per unit */
static int64_t			 guard_tolerance;	/* ns of burst */
static struct {
	uint64_t	 too_large;	/* stream messages over the limit */
	uint64_t	 headers;	/* datagrams over max_headers/max_via */
	uint64_t	 rate;		/* datagrams over source_rate */
	uint64_t	 stun;		/* STUN datagrams dropped */
}				 guard_count;
static int64_t			 guard_log_second;
static int			 guard_log_n;

static guard_extract_fn
guard_real(void)
{
	if (guard_real_extract == NULL)
		guard_real_extract = (guard_extract_fn)dlsym(RTLD_NEXT,
		    "msg_extract");
	return guard_real_extract;
}

/* Is b[0..n) the name "Via" or its compact form "v" (any case)? */
static int
guard_is_via(const char *b, size_t n)
{
	while (n > 0 && (b[n - 1] == ' ' || b[n - 1] == '\t'))
		n--;
	if (n == 1)
		return b[0] == 'v' || b[0] == 'V';
	return n == 3 && (b[0] == 'v' || b[0] == 'V') &&
	    (b[1] == 'i' || b[1] == 'I') && (b[2] == 'a' || b[2] == 'A');
}

/*
 * Count the header lines and the Via values (one per Via line, plus one
 * per comma in a Via line or its continuations) of the message head at
 * b (n bytes), up to the empty line that ends it or the end of b. Leading
 * empty lines (keepalives) and the start line are not counted. Returns
 * 0, or GUARD_HEADERS or GUARD_VIA as soon as one of the counts passes
 * its cap (0: no cap).
 */
int
guard_scan(const char *b, size_t n, int max_headers, int max_via)
{
	const char	*p = b, *end = b + n, *eol, *colon;
	long		 headers = 0, via = 0;
	int		 start = 1, in_via = 0;
	size_t		 len;

	while (p < end) {
		eol = memchr(p, '\n', (size_t)(end - p));
		len = (size_t)((eol ? eol : end) - p);
		if (len > 0 && p[len - 1] == '\r')
			len--;
		if (len == 0) {
			if (!start)
				break;		/* the end of the head */
		} else if (start)
			start = 0;		/* the request or status line */
		else if (p[0] == ' ' || p[0] == '\t') {
			if (in_via)
				for (colon = p; colon < p + len; colon++)
					via += *colon == ',';
		} else {
			if (max_headers && ++headers > max_headers)
				return GUARD_HEADERS;
			colon = memchr(p, ':', len);
			in_via = colon && guard_is_via(p, (size_t)(colon - p));
			if (in_via) {
				via++;
				for (colon++; colon < p + len; colon++)
					via += *colon == ',';
			}
		}
		if (max_via && via > max_via)
			return GUARD_VIA;
		if (eol == NULL)
			break;
		p = eol + 1;
	}
	return 0;
}

/* Refuse a datagram without parsing it: nta sees a message with a parse
 * error and no request line, and discards it. */
static int
guard_refuse(msg_t *msg)
{
	msg_mark_as_complete(msg, MSG_FLG_ERROR);
	return -1;
}

/* Charge the source of a datagram of n bytes to its budget; 0 if it
 * fits, -1 (counted, logged now and then) if it does not. */
static int
guard_budget(const struct sockaddr *sa, size_t n)
{
	uint8_t			 key[RATE_KEY_LEN];
	struct rate_entry	*e;
	char			 addr[46];
	int64_t			 now, cost;

	if (guard_cfg->sip_source_rate == 0 || rate_key(sa, key) == -1)
		return 0;
	now = clock_mono_us() * 1000;	/* the buckets count in ns */
	cost = guard_interval * (int64_t)(1 + n / 1024);
	e = rate_entry(&guard_rates, key);
	if (rate_over(e, now, guard_tolerance) == 0) {
		rate_charge(e, now, cost);
		return 0;
	}
	guard_count.rate++;
	e->refused++;
	if (now - e->logged >= GUARD_LOG_EVERY_NS) {
		addr[0] = '\0';
		if (sa->sa_family == AF_INET)
			inet_ntop(AF_INET, &((const struct sockaddr_in *)
			    (const void *)sa)->sin_addr, addr, sizeof(addr));
		else if (sa->sa_family == AF_INET6)
			inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)
			    (const void *)sa)->sin6_addr, addr, sizeof(addr));
		log_notice("sip: %s is over sip.source_rate (%d/s): %u "
		    "datagram%s dropped", addr, guard_cfg->sip_source_rate,
		    e->refused, e->refused > 1 ? "s" : "");
		e->logged = now;
		e->refused = 0;
	}
	return -1;
}

/* The checks on a datagram before Sofia parses it; 0 to parse it. */
static int
guard_datagram(msg_t *msg, const su_addrinfo_t *ai)
{
	const char	*b = msg_buf_committed_data(msg);
	size_t		 n = msg_buf_committed(msg);
	int		 why;

	if (b == NULL || n == 0)
		return 0;
	if (guard_budget(ai->ai_addr, n) == -1)
		return -1;
	if ((why = guard_scan(b, n, guard_cfg->sip_max_headers,
	    guard_cfg->sip_max_via)) != 0) {
		guard_count.headers++;
		log_debug("sip: datagram of %zu bytes dropped: more than %s",
		    n, why == GUARD_VIA ? "sip.max_via Via values" :
		    "sip.max_headers header lines");
		return -1;
	}
	return 0;
}

/* Note a stream message Sofia found too large (its connection ends). */
static void
guard_too_large(const su_addrinfo_t *ai)
{
	char	 host[46], serv[8];
	int64_t	 sec = clock_mono_us() / 1000000;

	guard_count.too_large++;
	if (sec != guard_log_second) {
		guard_log_second = sec;
		guard_log_n = 0;
	}
	if (guard_log_n++ >= GUARD_TOOLARGE_LOGS)
		return;
	if (ai->ai_addr == NULL || getnameinfo(ai->ai_addr,
	    (socklen_t)ai->ai_addrlen, host, sizeof(host), serv, sizeof(serv),
	    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		strcpy(host, "?"), strcpy(serv, "?");
	log_info("sip: a message from %s:%s over TCP/TLS is larger than "
	    "sip.max_message_size (%d bytes): connection closed", host, serv,
	    guard_cfg ? guard_cfg->sip_max_size : GUARD_DEFAULT_MAX);
}

/*
 * A stream message: parse what has arrived with sip.max_message_size as
 * its limit, so that Sofia refuses a larger Content-Length (nta answers
 * 413 and Sofia stops reading the connection). Between parses the limit
 * is lifted (GUARD_READ_ANY): Sofia would otherwise refuse a read that
 * brings more than the limit into a partial message, and so close a
 * connection whose client merely sent many small messages at once.
 * Instead, a message found holding more than the limit here is refused:
 * complete, it is answered 413 like the above; partial, it keeps the
 * limit, so that Sofia refuses the next read that does not fit in its
 * buffer and closes the connection, as it does for the first message of
 * a connection. A message thus never holds more than the limit, one read
 * and the slack of its buffer (under 1 KB).
 */
static int
guard_stream(guard_extract_fn real, msg_t *msg, const su_addrinfo_t *ai)
{
	usize_t	 max = guard_cfg ? (usize_t)guard_cfg->sip_max_size :
		    GUARD_DEFAULT_MAX;
	usize_t	 held;
	msg_pub_t *mo = msg_object(msg);
	int	 rv;

	/* refused while partial (the limit + 1 marks it): what still fits
	 * in its buffer's slack may arrive, nothing more */
	if (msg_maxsize(msg, 0) == max + 1)
		return 0;
	/* Sofia marks a fresh message too large when the first read finds
	 * more bytes waiting than the limit, then reads 4 KB of them into it
	 * all the same: a flag with nothing too large behind it (a reply to
	 * a peer's refusal never gets here: its read failed) would close a
	 * connection whose client sent many small messages at once */
	if (mo && (mo->msg_flags & MSG_FLG_TOOLARGE) &&
	    msg_size(msg) + msg_buf_committed(msg) <= max)
		mo->msg_flags &= ~(unsigned)MSG_FLG_TOOLARGE;
	msg_maxsize(msg, max);
	rv = real(msg);
	if (msg_get_flags(msg, MSG_FLG_TOOLARGE)) {
		guard_too_large(ai);
		return rv;
	}
	held = msg_size(msg) + (rv == 0 ? msg_buf_committed(msg) : 0);
	if (held <= max) {
		msg_maxsize(msg, GUARD_READ_ANY);
		return rv;
	}
	guard_too_large(ai);
	if (rv == 1)
		msg_set_flags(msg, MSG_FLG_TOOLARGE);
	else
		msg_maxsize(msg, max + 1);
	return rv;
}

/*
 * Sofia's msg_extract with the checks above: see the note at the top of
 * this file. Returns what msg_extract returns (1 complete, 0 more data
 * needed, -1 error), -1 for a message refused.
 */
int
msg_extract(msg_t *msg)
{
	guard_extract_fn	 real = guard_real();
	su_addrinfo_t		*ai;

	if (real == NULL)
		return -1;	/* cannot happen: Sofia is linked */
	if (msg == NULL || (ai = msg_addrinfo(msg)) == NULL)
		return real(msg);
	if (ai->ai_protocol == IPPROTO_UDP || ai->ai_protocol == 0) {
		/* a message with no source (msg_make) is none of a peer's */
		if (guard_cfg && ai->ai_addr != NULL &&
		    ai->ai_addr->sa_family != AF_UNSPEC &&
		    !msg_get_flags(msg, MSG_FLG_COMPLETE | MSG_FLG_HEADERS) &&
		    guard_datagram(msg, ai) == -1)
			return guard_refuse(msg);
		return real(msg);
	}
	return guard_stream(real, msg, ai);
}

/*
 * Sofia's handler of UDP datagrams starting with a 0 or 1 byte (STUN):
 * drop them, answer nothing. Returns 3, Sofia's "STUN keepalive, ignore".
 */
int
tport_recv_stun_dgram(tport_t const *self, msg_t **in_out_msg,
    su_sockaddr_t *from, socklen_t fromlen)
{
	(void)self;
	(void)from;
	(void)fromlen;
	guard_count.stun++;
	if (in_out_msg && *in_out_msg) {
		msg_destroy(*in_out_msg);
		*in_out_msg = NULL;
	}
	return 3;
}

static guard_error_fn
guard_real_error(void)
{
	static guard_error_fn	 fn;

	if (fn == NULL)
		fn = (guard_error_fn)dlsym(RTLD_NEXT, "tport_error_event");
	return fn;
}

/*
 * Take the errors queued on the UDP socket fd of transport self: real
 * takes one (Sofia's tport_error_event: read, reported to nta), and is
 * called again while the socket says more are queued (POLLERR), up to
 * GUARD_ERRORS times in all. Returns the first non-zero code real
 * returned, or 0.
 */
int
guard_errors(tport_t *self, int fd, int (*real)(tport_t *))
{
	struct pollfd	 pfd;
	int		 rc, r, i;

	rc = real(self);
	for (i = 1; i < GUARD_ERRORS; i++) {
		pfd.fd = fd;
		pfd.events = 0;
		pfd.revents = 0;
		if (poll(&pfd, 1, 0) != 1 || !(pfd.revents & POLLERR))
			break;
		if ((r = real(self)) != 0 && rc == 0)
			rc = r;
	}
	return rc;
}

/*
 * Sofia's handler of a socket's error event, which takes one error: on
 * the daemon's UDP sockets, every error queued (guard_errors; see the
 * note at the top of this file).
 */
int
tport_error_event(tport_t *self)
{
	guard_error_fn	 real = guard_real_error();
	int		 fd;

	if (real == NULL)
		return 0;	/* cannot happen: Sofia is linked */
	if (guard_cfg == NULL || (fd = sip_udp_socket(self)) == -1)
		return real(self);
	return guard_errors(self, fd, real);
}

/*
 * Apply cfg's limits from now on, and check that Sofia calls our
 * msg_extract, tport_recv_stun_dgram and tport_error_event. 0, or -1
 * with err set.
 */
int
guard_init(const struct config *cfg, char *err, size_t errlen)
{
	void	*ex = dlsym(RTLD_DEFAULT, "msg_extract");
	void	*st = dlsym(RTLD_DEFAULT, "tport_recv_stun_dgram");
	void	*ee = dlsym(RTLD_DEFAULT, "tport_error_event");

	if (guard_real() == NULL || ex != (void *)msg_extract ||
	    st != (void *)tport_recv_stun_dgram ||
	    guard_real_error() == NULL || ee != (void *)tport_error_event) {
		snprintf(err, errlen, "the daemon's checks on Sofia-SIP's "
		    "parser are not in effect (msg_extract, "
		    "tport_recv_stun_dgram and tport_error_event must be "
		    "exported by sippushd: link with "
		    "-Wl,--export-dynamic-symbol=...)");
		return -1;
	}
	guard_cfg = cfg;
	rate_init(&guard_rates);
	memset(&guard_count, 0, sizeof(guard_count));
	if (cfg->sip_source_rate > 0) {
		guard_interval = 1000000000 / cfg->sip_source_rate;
		/* a burst of one second's budget */
		guard_tolerance = 1000000000;
	}
	return 0;
}

/* Stop applying the limits (the daemon is shutting down). */
void
guard_shutdown(void)
{
	guard_cfg = NULL;
}

/* guard's part of the stats record. */
void
guard_stats(struct buf *out)
{
	proto_put_kvi(out, "sip_too_large", (long long)guard_count.too_large);
	proto_put_kvi(out, "sip_dropped_headers",
	    (long long)guard_count.headers);
	proto_put_kvi(out, "sip_dropped_rate", (long long)guard_count.rate);
	proto_put_kvi(out, "stun_dropped", (long long)guard_count.stun);
}
