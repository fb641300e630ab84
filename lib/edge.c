/*
 * edge.c: the edge relay for isolated networks, and its discovery
 * (libsippush(3), RELAY).
 *
 * A relay is a stateless SIP outbound proxy on a LAN whose other
 * machines cannot reach the server. Requests from the LAN (sources on
 * the LAN interface's subnet only) go to the configured server only (a REGISTER gets an RFC 3327 Path naming the
 * relay, so the server routes that client's MESSAGEs back through it);
 * requests from the server go to their Request-URI (the client's
 * Contact) after the relay's own Route is taken off; responses lose the
 * relay's Via and follow the next one. No transaction state is kept:
 * retransmissions are the end points' business, and a relay that dies
 * loses nothing the server will not send again.
 *
 * Discovery and election share one datagram, broadcast on the LAN
 * interface every announce_interval ms by every relay-capable agent:
 *
 *	SIPPUSH-RELAY/1 id=ID prio=N sip=A.B.C.D:PORT up=0|1 active=0|1
 *
 * up: the server answers the relay's OPTIONS probes. An announcement is
 * valid for lease ms. A relay that is active stays active while it is up
 * and hears no other active, up relay with a lower (prio, id); one that
 * is not becomes active when it is up, has run for a lease, hears no
 * active, up relay, and no up relay with a lower (prio, id). So one relay
 * is active per LAN once the announcements settle, and when the active
 * one stops (killed, cable pulled) the next takes over at most lease +
 * EDGE_TICK ms after its last announcement; when it loses the server it
 * says so (up=0) and the next takes over at the next tick. Clients use
 * the active, up relay with the lowest (prio, id) they heard within a
 * lease, and register again through it when it changes.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sofia-sip/msg_addr.h>
#include <sofia-sip/nta.h>
#include <sofia-sip/nta_stateless.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/su_wait.h>

#include "sippush_int.h"
#include "wire.h"

#define EDGE_MAGIC	"SIPPUSH-RELAY/1"
#define EDGE_TICK	100	/* ms between election checks */
#define EDGE_PEERS_MAX	64

struct edge_peer {
	struct sippush_edge_announce	 a;
	int64_t				 heard;	/* ms, monotonic */
};

struct sippush_relay {
	struct sippush_relay_settings	 s;
	su_home_t			 home[1];
	su_root_t			*root;
	nta_agent_t			*nta;		/* LAN side */
	nta_agent_t			*wan;		/* server side */
	su_timer_t			*tick;
	int				 dfd;		/* discovery */
	int				 dwait;		/* su_root index */
	struct sockaddr_in		 bcast;
	char				 lan[INET_ADDRSTRLEN];
	struct in_addr			 lan_net, lan_mask;
	char				 srv_addr[INET_ADDRSTRLEN];
	int				 srv_port;
	char				 srv_url[128];
	char				 path[128];
	nta_outgoing_t			*probe;
	int64_t				 probe_sent;
	uint32_t			 probe_seq;
	int				 up, active;
	int64_t				 started, next_probe, next_announce;
	struct edge_peer		 peers[EDGE_PEERS_MAX];
	size_t				 npeers;
	volatile sig_atomic_t		 stop;
	unsigned long			 relayed;
};

struct sippush_discovery {
	su_root_t			*root;
	su_timer_t			*tick;
	int				 fd;
	int				 wait;
	int				 lease;
	struct edge_peer		 peers[EDGE_PEERS_MAX];
	size_t				 npeers;
	char				 current[80];	/* "ip:port", "" none */
	sippush_discovery_fn		*fn;
	void				*arg;
};

int64_t
sippush_edge_now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Does a come before b in the election (lower priority, then ID)? */
int
sippush_edge_better(const struct sippush_edge_announce *a,
    const struct sippush_edge_announce *b)
{
	int	 c;

	if (a->prio != b->prio)
		return a->prio < b->prio;
	c = strcmp(a->id, b->id);
	return c < 0;
}

/* Parse one announcement datagram. 0, or -1 if it is not one. */
int
sippush_edge_parse(const char *buf, size_t n, struct sippush_edge_announce *a)
{
	char		 line[512], *tok, *save = NULL, *colon, *end;
	struct in_addr	 in;
	long		 v;
	int		 have = 0;

	if (n == 0 || n >= sizeof(line))
		return -1;
	memcpy(line, buf, n);
	line[n] = '\0';
	memset(a, 0, sizeof(*a));
	if ((tok = strtok_r(line, " \r\n", &save)) == NULL ||
	    strcmp(tok, EDGE_MAGIC) != 0)
		return -1;
	while ((tok = strtok_r(NULL, " \r\n", &save)) != NULL) {
		if (strncmp(tok, "id=", 3) == 0) {
			if (!wire_valid_name(tok + 3, SIPPUSH_ID_MAX))
				return -1;
			snprintf(a->id, sizeof(a->id), "%s", tok + 3);
			have |= 1;
		} else if (strncmp(tok, "prio=", 5) == 0) {
			v = strtol(tok + 5, &end, 10);
			if (*end || end == tok + 5 || v < 0 || v > 65535)
				return -1;
			a->prio = (int)v;
			have |= 2;
		} else if (strncmp(tok, "sip=", 4) == 0) {
			if ((colon = strrchr(tok + 4, ':')) == NULL)
				return -1;
			*colon = '\0';
			if (inet_pton(AF_INET, tok + 4, &in) != 1)
				return -1;
			v = strtol(colon + 1, &end, 10);
			if (*end || v < 1 || v > 65535)
				return -1;
			snprintf(a->addr, sizeof(a->addr), "%s", tok + 4);
			a->port = (int)v;
			have |= 4;
		} else if (strcmp(tok, "up=1") == 0)
			a->up = 1;
		else if (strcmp(tok, "active=1") == 0)
			a->active = 1;
	}
	return have == 7 ? 0 : -1;
}

/*
 * A UDP socket for discovery on port, on interface ifname (NULL: any),
 * able to broadcast. With ifname, *addr gets the interface's IPv4
 * address and *bcast its broadcast address and port. Returns the
 * descriptor, or -1 with a reason in err.
 */
int
sippush_edge_socket(const char *ifname, int port, char *addr, size_t addrlen,
    struct sockaddr_in *bcast, char *err, size_t errlen)
{
	struct sockaddr_in	 sin;
	struct ifreq		 ifr;
	int			 fd, one = 1;

	if ((fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0)) == -1) {
		snprintf(err, errlen, "discovery socket: %s", strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof(one));
	if (ifname) {
		memset(&ifr, 0, sizeof(ifr));
		if (strlen(ifname) >= sizeof(ifr.ifr_name)) {
			snprintf(err, errlen, "interface %s: name too long",
			    ifname);
			goto fail;
		}
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
		if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname,
		    (socklen_t)strlen(ifname)) == -1) {
			snprintf(err, errlen, "interface %s: %s", ifname,
			    strerror(errno));
			goto fail;
		}
		if (addr) {
			if (ioctl(fd, SIOCGIFADDR, &ifr) == -1) {
				snprintf(err, errlen, "interface %s: no IPv4 "
				    "address: %s", ifname, strerror(errno));
				goto fail;
			}
			memcpy(&sin, &ifr.ifr_addr, sizeof(sin));
			inet_ntop(AF_INET, &sin.sin_addr, addr,
			    (socklen_t)addrlen);
		}
		if (bcast) {
			if (ioctl(fd, SIOCGIFBRDADDR, &ifr) == -1) {
				snprintf(err, errlen, "interface %s: no "
				    "broadcast address: %s", ifname,
				    strerror(errno));
				goto fail;
			}
			memcpy(bcast, &ifr.ifr_broadaddr, sizeof(*bcast));
			bcast->sin_family = AF_INET;
			bcast->sin_port = htons((uint16_t)port);
		}
	}
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_ANY);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1) {
		snprintf(err, errlen, "discovery port %d%s%s: %s", port,
		    ifname ? " on " : "", ifname ? ifname : "",
		    strerror(errno));
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}

/* Record a in peers (replacing the one with its ID); drop those older
 * than lease ms. */
static void
edge_peers_note(struct edge_peer *peers, size_t *np,
    const struct sippush_edge_announce *a, int64_t now)
{
	size_t	 i;

	for (i = 0; i < *np; i++)
		if (strcmp(peers[i].a.id, a->id) == 0)
			break;
	if (i == *np) {
		if (*np == EDGE_PEERS_MAX)
			return;
		(*np)++;
	}
	peers[i].a = *a;
	peers[i].heard = now;
}

static void
edge_peers_expire(struct edge_peer *peers, size_t *np, int lease,
    int64_t now)
{
	size_t	 i = 0;

	while (i < *np)
		if (now - peers[i].heard > lease)
			peers[i] = peers[--(*np)];
		else
			i++;
}

/* ---- the relay ---- */

static void relay_log(struct sippush_relay *, enum sippush_log_level,
    const char *, ...) __attribute__((format(printf, 3, 4)));

static void
relay_log(struct sippush_relay *r, enum sippush_log_level level,
    const char *fmt, ...)
{
	char	 line[512];
	va_list	 ap;

	if (r->s.on_log == NULL || level > r->s.log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	r->s.on_log(level, line, r->s.arg);
}

void
sippush_relay_settings_init(struct sippush_relay_settings *s)
{
	memset(s, 0, sizeof(*s));
	s->priority = 100;
	s->sip_port = 5070;
	s->discovery_port = 5071;
	s->announce_interval = 1000;
	s->lease = 3000;
	s->log_level = SIPPUSH_LOG_INFO;
}

/* The numeric source address and port of msg; 0, or -1. */
static int
relay_source(msg_t *msg, char *addr, size_t len, int *port)
{
	su_addrinfo_t	*ai = msg_addrinfo(msg);
	char		 serv[16];

	if (ai == NULL || ai->ai_addr == NULL || getnameinfo(ai->ai_addr,
	    (socklen_t)ai->ai_addrlen, addr, (socklen_t)len, serv,
	    sizeof(serv), NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		return -1;
	*port = atoi(serv);
	return 0;
}

/* Is addr (numeric) on the relay's LAN (the interface's subnet)? */
static int
relay_on_lan(const struct sippush_relay *r, const char *addr)
{
	struct in_addr	 in;

	return inet_pton(AF_INET, addr, &in) == 1 &&
	    (in.s_addr & r->lan_mask.s_addr) == r->lan_net.s_addr;
}

static void
relay_request(struct sippush_relay *r, msg_t *msg, sip_t *sip, int from_up)
{
	char		 addr[64];
	int		 port;
	sip_route_t	*rt;

	if (sip->sip_request->rq_method == sip_method_ack ||
	    sip->sip_request->rq_method == sip_method_cancel ||
	    relay_source(msg, addr, sizeof(addr), &port) == -1) {
		nta_msg_discard(r->nta, msg);
		return;
	}
	if (from_up && strcmp(addr, r->srv_addr) == 0) {
		/* from the server, to a client on the LAN: take our Route
		 * off (the Path we put on its REGISTER) */
		rt = sip->sip_route;
		if (rt && rt->r_url->url_host &&
		    strcmp(rt->r_url->url_host, r->lan) == 0)
			sip_header_remove(msg, sip, (sip_header_t *)rt);
		if (sip->sip_route != NULL) {
			nta_msg_treply(r->nta, msg, 403, "Not Our Route",
			    TAG_END());
			return;
		}
		r->relayed++;
		nta_msg_tsend(r->nta, msg,
		    (url_string_t const *)sip->sip_request->rq_url,
		    TAG_END());
		return;
	}
	if (from_up) {	/* not from our server: not ours to relay */
		nta_msg_discard(r->wan, msg);
		return;
	}
	if (!relay_on_lan(r, addr)) {
		/* the LAN address is reachable from other links too (a
		 * host takes any of its addresses on any interface): relay
		 * for the configured LAN only */
		relay_log(r, SIPPUSH_LOG_DEBUG, "relay: %s from %s, not on "
		    "%s: dropped", sip->sip_request->rq_method_name, addr,
		    r->s.interface);
		nta_msg_discard(r->nta, msg);
		return;
	}
	if (!r->active || !r->up) {
		nta_msg_treply(r->nta, msg, 503, "Not The Active Relay",
		    SIPTAG_RETRY_AFTER_STR("1"), TAG_END());
		return;
	}
	/* from the LAN: only ever to our server */
	if (sip->sip_request->rq_method == sip_method_register &&
	    sip_add_make(msg, sip, sip_path_class, r->path) < 0) {
		nta_msg_treply(r->nta, msg, 500, "Cannot Add Path",
		    TAG_END());
		return;
	}
	r->relayed++;
	nta_msg_tsend(r->wan, msg, (url_string_t const *)r->srv_url, TAG_END());
}

/* A response to a request we forwarded: on to the next Via
 * (nta_msg_tsend takes ours off). */
static void
relay_response(struct sippush_relay *r, msg_t *msg, sip_t *sip, int from_up)
{
	sip_via_t	*v = sip->sip_via;
	char		 addr[64];
	int		 port;

	if (v == NULL || v->v_next == NULL || (from_up ?
	    relay_source(msg, addr, sizeof(addr), &port) == -1 ||
	    strcmp(addr, r->srv_addr) != 0 :
	    v->v_host == NULL || strcmp(v->v_host, r->lan) != 0)) {
		nta_msg_discard(r->nta, msg);
		return;
	}
	nta_msg_tsend(from_up ? r->nta : r->wan, msg, NULL, TAG_END());
}

static int
relay_message(nta_agent_magic_t *magic, nta_agent_t *nta, msg_t *msg,
    sip_t *sip)
{
	struct sippush_relay	*r = (struct sippush_relay *)magic;

	if (sip == NULL || sip->sip_error || sip->sip_via == NULL ||
	    sip->sip_cseq == NULL)
		nta_msg_discard(r->nta, msg);
	else if (sip->sip_request)
		relay_request(r, msg, sip, nta == r->wan);
	else if (sip->sip_status)
		relay_response(r, msg, sip, nta == r->wan);
	else
		nta_msg_discard(r->nta, msg);
	return 0;
}

static int
relay_probe_done(nta_outgoing_magic_t *magic, nta_outgoing_t *orq,
    sip_t const *sip)
{
	struct sippush_relay	*r = (struct sippush_relay *)magic;
	int			 status = nta_outgoing_status(orq);

	(void)sip;
	if (status < 200)
		return 0;
	nta_outgoing_destroy(orq);
	r->probe = NULL;
	/* nta makes 408 and 503 itself: no answer, or no route */
	if (status == 408 || status == 503) {
		if (r->wan)
			relay_log(r, SIPPUSH_LOG_WARNING, "relay: server %s "
			    "does not answer (%d): not offering to relay",
			    r->srv_url, status);
		r->up = 0;
	} else {
		if (!r->up)
			relay_log(r, SIPPUSH_LOG_NOTICE, "relay: server %s "
			    "answers: offering to relay on %s", r->srv_url,
			    r->s.interface);
		r->up = 1;
	}
	return 0;
}

static void
relay_probe(struct sippush_relay *r)
{
	msg_t		*msg;
	sip_t		*sip;
	su_home_t	*home;
	char		 from[160];

	if (r->probe)
		return;
	if ((msg = nta_msg_create(r->wan, 0)) == NULL)
		return;
	home = msg_home(msg);
	sip = sip_object(msg);
	snprintf(from, sizeof(from), "<sip:relay-%s@%s>;tag=p%u",
	    r->s.relay_id, r->lan, (unsigned)r->probe_seq);
	if (sip_add_tl(msg, sip,
	    SIPTAG_REQUEST(sip_request_create(home, SIP_METHOD_OPTIONS,
	    (url_string_t const *)r->srv_url, NULL)),
	    SIPTAG_FROM_STR(from),
	    SIPTAG_TO_STR(r->srv_url),
	    SIPTAG_CALL_ID(sip_call_id_create(home, NULL)),
	    SIPTAG_CSEQ(sip_cseq_create(home, ++r->probe_seq,
	    SIP_METHOD_OPTIONS)),
	    TAG_END()) < 0) {
		msg_destroy(msg);
		return;
	}
	r->probe = nta_outgoing_mcreate(r->wan, relay_probe_done,
	    (nta_outgoing_magic_t *)r, (url_string_t const *)r->srv_url, msg,
	    TAG_END());
	r->probe_sent = sippush_edge_now();
}

static void
relay_announce(struct sippush_relay *r)
{
	char	 buf[256];
	int	 n;

	n = snprintf(buf, sizeof(buf), EDGE_MAGIC " id=%s prio=%d "
	    "sip=%s:%d up=%d active=%d\r\n", r->s.relay_id, r->s.priority,
	    r->lan, r->s.sip_port, r->up, r->active);
	if (sendto(r->dfd, buf, (size_t)n, 0, (struct sockaddr *)&r->bcast,
	    sizeof(r->bcast)) == -1)
		relay_log(r, SIPPUSH_LOG_DEBUG, "relay: announce: %s",
		    strerror(errno));
}

static int
relay_discovery_read(su_root_magic_t *magic, su_wait_t *w,
    su_wakeup_arg_t *arg)
{
	struct sippush_relay		*r = (struct sippush_relay *)arg;
	struct sippush_edge_announce	 a;
	char				 buf[512];
	ssize_t				 n;

	(void)magic;
	(void)w;
	while ((n = recv(r->dfd, buf, sizeof(buf), 0)) > 0)
		if (sippush_edge_parse(buf, (size_t)n, &a) == 0 &&
		    strcmp(a.id, r->s.relay_id) != 0)
			edge_peers_note(r->peers, &r->npeers, &a,
			    sippush_edge_now());
	return 0;
}

/* The election, run every EDGE_TICK ms (see the note at the top). */
static void
relay_tick(su_root_magic_t *magic, su_timer_t *t, su_timer_arg_t *arg)
{
	struct sippush_relay		*r = (struct sippush_relay *)arg;
	struct sippush_edge_announce	 self;
	int64_t				 now = sippush_edge_now();
	const char			*winner = NULL;
	int				 was = r->active, other_active = 0,
					 better = 0;
	size_t				 i;

	(void)magic;
	(void)t;
	if (r->stop) {
		su_root_break(r->root);
		return;
	}
	edge_peers_expire(r->peers, &r->npeers, r->s.lease, now);
	if (now >= r->next_probe) {
		relay_probe(r);
		r->next_probe = now + r->s.announce_interval;
	}
	memset(&self, 0, sizeof(self));
	snprintf(self.id, sizeof(self.id), "%s", r->s.relay_id);
	self.prio = r->s.priority;
	for (i = 0; i < r->npeers; i++) {
		if (!r->peers[i].a.up)
			continue;
		if (sippush_edge_better(&r->peers[i].a, &self)) {
			better = 1;
			if (r->peers[i].a.active)
				winner = r->peers[i].a.id;
		}
		if (r->peers[i].a.active)
			other_active = 1;
	}
	if (r->active)
		r->active = r->up && winner == NULL;
	else
		r->active = r->up && !other_active && !better &&
		    now - r->started >= r->s.lease;
	if (r->active != was) {
		if (r->active)
			relay_log(r, SIPPUSH_LOG_NOTICE, "relay: %s is now the "
			    "active relay on %s (sip %s:%d)", r->s.relay_id,
			    r->s.interface, r->lan, r->s.sip_port);
		else
			relay_log(r, SIPPUSH_LOG_NOTICE, "relay: %s stands "
			    "down on %s: %s%s", r->s.relay_id, r->s.interface,
			    winner ? "active relay " : "server lost",
			    winner ? winner : "");
		r->next_announce = now;
	}
	if (now >= r->next_announce) {
		relay_announce(r);
		r->next_announce = now + r->s.announce_interval;
	}
}

int
sippush_relay_create(struct sippush_relay **rp,
    const struct sippush_relay_settings *s, char *err, size_t errlen)
{
	struct sippush_relay	*r;
	struct sippush_hostport	 hp;
	struct in_addr		 in;
	struct ifreq		 ifr;
	struct sockaddr_in	 sin;
	su_wait_t		 w[1];
	char			 bind[160];

	*rp = NULL;
	if (s->server == NULL || sippush_parse_server(s->server, &hp) == -1 ||
	    inet_pton(AF_INET, hp.host, &in) != 1) {
		snprintf(err, errlen, "relay: server \"%s\": not an IPv4 "
		    "address[:port]", s->server ? s->server : "");
		return EINVAL;
	}
	if (s->interface == NULL || *s->interface == '\0') {
		snprintf(err, errlen, "relay: no LAN interface given");
		return EINVAL;
	}
	if (!wire_valid_name(s->relay_id, SIPPUSH_ID_MAX)) {
		snprintf(err, errlen, "relay: ID \"%s\": 1-%d of A-Z a-z 0-9 "
		    ". _ -", s->relay_id ? s->relay_id : "", SIPPUSH_ID_MAX);
		return EINVAL;
	}
	if (s->priority < 0 || s->priority > 65535 || s->sip_port < 1 ||
	    s->sip_port > 65535 || s->discovery_port < 1 ||
	    s->discovery_port > 65535 || s->sip_port == s->discovery_port ||
	    s->announce_interval < 100 || s->announce_interval > 60000 ||
	    s->lease < 2 * s->announce_interval || s->lease > 600000) {
		snprintf(err, errlen, "relay: priority 0..65535, ports "
		    "1..65535 and different, announce_interval 100..60000 "
		    "ms, lease 2 x announce_interval..600000 ms");
		return EINVAL;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return ENOMEM;
	su_home_init(r->home);
	r->dfd = -1;
	r->dwait = -1;
	r->s = *s;
	r->s.server = su_strdup(r->home, s->server);
	r->s.interface = su_strdup(r->home, s->interface);
	r->s.relay_id = su_strdup(r->home, s->relay_id);
	snprintf(r->srv_addr, sizeof(r->srv_addr), "%.15s", hp.host);
	r->srv_port = hp.port;
	snprintf(r->srv_url, sizeof(r->srv_url), "sip:%.15s:%d;transport=udp",
	    hp.host, hp.port);
	if ((r->dfd = sippush_edge_socket(s->interface, s->discovery_port,
	    r->lan, sizeof(r->lan), &r->bcast, err, errlen)) == -1)
		goto fail;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", s->interface);
	if (ioctl(r->dfd, SIOCGIFNETMASK, &ifr) == -1) {
		snprintf(err, errlen, "relay: interface %s: no netmask: %s",
		    s->interface, strerror(errno));
		goto fail;
	}
	memcpy(&sin, &ifr.ifr_netmask, sizeof(sin));
	r->lan_mask = sin.sin_addr;
	inet_pton(AF_INET, r->lan, &r->lan_net);
	r->lan_net.s_addr &= r->lan_mask.s_addr;
	snprintf(r->path, sizeof(r->path), "<sip:%s:%d;lr>", r->lan,
	    s->sip_port);
	if ((r->root = su_root_create(r)) == NULL) {
		snprintf(err, errlen, "relay: cannot create an event loop");
		goto fail;
	}
	su_root_threading(r->root, 0);
	/* two SIP agents: one on the LAN address (what LAN clients talk
	 * to, and the source they see), one on any address and port toward
	 * the server (the source the server sees) */
	snprintf(bind, sizeof(bind), "sip:%s:%d;transport=udp", r->lan,
	    s->sip_port);
	r->nta = nta_agent_create(r->root, (url_string_t const *)bind,
	    relay_message, (nta_agent_magic_t *)r,
	    NTATAG_UA(0),
	    NTATAG_SERVER_RPORT(1),
	    NTATAG_SIP_T1X64((unsigned)s->lease),
	    TAG_END());
	if (r->nta == NULL) {
		snprintf(err, errlen, "relay: cannot start SIP on %s:%d: %s",
		    r->lan, s->sip_port, strerror(errno));
		goto fail;
	}
	r->wan = nta_agent_create(r->root,
	    (url_string_t const *)"sip:0.0.0.0:*;transport=udp",
	    relay_message, (nta_agent_magic_t *)r,
	    NTATAG_UA(0),
	    NTATAG_SERVER_RPORT(1),
	    NTATAG_SIP_T1X64((unsigned)s->lease),
	    TAG_END());
	if (r->wan == NULL) {
		snprintf(err, errlen, "relay: cannot start SIP toward the "
		    "server: %s", strerror(errno));
		goto fail;
	}
	if (su_wait_create(w, r->dfd, SU_WAIT_IN) == -1 ||
	    (r->dwait = su_root_register(r->root, w, relay_discovery_read,
	    (su_wakeup_arg_t *)r, 0)) == -1) {
		snprintf(err, errlen, "relay: cannot watch discovery");
		goto fail;
	}
	if ((r->tick = su_timer_create(su_root_task(r->root), EDGE_TICK)) ==
	    NULL || su_timer_set_for_ever(r->tick, relay_tick,
	    (su_timer_arg_t *)r) == -1) {
		snprintf(err, errlen, "relay: cannot start a timer");
		goto fail;
	}
	r->started = sippush_edge_now();
	relay_log(r, SIPPUSH_LOG_INFO, "relay: %s on %s (%s), SIP port %d, "
	    "discovery port %d, priority %d, server %s", r->s.relay_id,
	    r->s.interface, r->lan, s->sip_port, s->discovery_port,
	    s->priority, r->srv_url);
	*rp = r;
	return 0;
fail:
	sippush_relay_destroy(r);
	return EIO;
}

int
sippush_relay_run(struct sippush_relay *r)
{
	while (!r->stop)
		su_root_run(r->root);
	return 0;
}

void
sippush_relay_stop(struct sippush_relay *r)
{
	r->stop = 1;
}

int
sippush_relay_active(const struct sippush_relay *r)
{
	return r->active;
}

unsigned long
sippush_relay_relayed(const struct sippush_relay *r)
{
	return r->relayed;
}

void
sippush_relay_destroy(struct sippush_relay *r)
{
	if (r == NULL)
		return;
	if (r->tick)
		su_timer_destroy(r->tick);
	if (r->dwait != -1)
		su_root_deregister(r->root, r->dwait);
	if (r->probe)
		nta_outgoing_destroy(r->probe);
	if (r->wan)
		nta_agent_destroy(r->wan);
	if (r->nta)
		nta_agent_destroy(r->nta);
	if (r->root)
		su_root_destroy(r->root);
	if (r->dfd != -1)
		close(r->dfd);
	su_home_deinit(r->home);
	free(r);
}

/* ---- discovery, the client's side ---- */

static void
discovery_choose(struct sippush_discovery *d)
{
	struct sippush_edge_announce	*best = NULL;
	char				 hp[80];
	size_t				 i;

	edge_peers_expire(d->peers, &d->npeers, d->lease,
	    sippush_edge_now());
	for (i = 0; i < d->npeers; i++)
		if (d->peers[i].a.active && d->peers[i].a.up &&
		    (best == NULL ||
		    sippush_edge_better(&d->peers[i].a, best)))
			best = &d->peers[i].a;
	hp[0] = '\0';
	if (best)
		snprintf(hp, sizeof(hp), "%s:%d", best->addr, best->port);
	if (strcmp(hp, d->current) == 0)
		return;
	snprintf(d->current, sizeof(d->current), "%s", hp);
	d->fn(d->arg, best ? d->current : NULL, best ? best->id : NULL);
}

static int
discovery_read(su_root_magic_t *magic, su_wait_t *w, su_wakeup_arg_t *arg)
{
	struct sippush_discovery	*d = (struct sippush_discovery *)arg;
	struct sippush_edge_announce	 a;
	char				 buf[512];
	ssize_t				 n;
	int				 any = 0;

	(void)magic;
	(void)w;
	while ((n = recv(d->fd, buf, sizeof(buf), 0)) > 0)
		if (sippush_edge_parse(buf, (size_t)n, &a) == 0) {
			edge_peers_note(d->peers, &d->npeers, &a,
			    sippush_edge_now());
			any = 1;
		}
	if (any)
		discovery_choose(d);
	return 0;
}

static void
discovery_tick(su_root_magic_t *magic, su_timer_t *t, su_timer_arg_t *arg)
{
	(void)magic;
	(void)t;
	discovery_choose((struct sippush_discovery *)arg);
}

int
sippush_discovery_create(struct sippush_discovery **dp, su_root_t *root,
    const char *ifname, int port, int lease, sippush_discovery_fn *fn,
    void *arg, char *err, size_t errlen)
{
	struct sippush_discovery	*d;
	su_wait_t			 w[1];

	*dp = NULL;
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return ENOMEM;
	d->root = root;
	d->wait = -1;
	d->lease = lease;
	d->fn = fn;
	d->arg = arg;
	if ((d->fd = sippush_edge_socket(ifname, port, NULL, 0, NULL, err,
	    errlen)) == -1)
		goto fail;
	if (su_wait_create(w, d->fd, SU_WAIT_IN) == -1 ||
	    (d->wait = su_root_register(root, w, discovery_read,
	    (su_wakeup_arg_t *)d, 0)) == -1 ||
	    (d->tick = su_timer_create(su_root_task(root), EDGE_TICK)) ==
	    NULL || su_timer_set_for_ever(d->tick, discovery_tick,
	    (su_timer_arg_t *)d) == -1) {
		snprintf(err, errlen, "discovery: cannot watch port %d", port);
		goto fail;
	}
	*dp = d;
	return 0;
fail:
	sippush_discovery_destroy(d);
	return EIO;
}

void
sippush_discovery_destroy(struct sippush_discovery *d)
{
	if (d == NULL)
		return;
	if (d->tick)
		su_timer_destroy(d->tick);
	if (d->wait != -1)
		su_root_deregister(d->root, d->wait);
	if (d->fd != -1)
		close(d->fd);
	free(d);
}
