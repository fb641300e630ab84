/*
 * sip.c: the nta agent, bound on UDP and/or TCP, and the routing of
 * incoming requests to the subsystem that answers them by method.
 *
 * The daemon creates no default leg: every request reaches sip_incoming
 * and is answered statelessly, so a request costs no memory once
 * answered (SOFIA.md, memory trap).
 *
 * The 200 to an OPTIONS over UDP, the most frequent request by far, is
 * written by sip_reply_udp and sent on the transport's own socket,
 * found once among the daemon's descriptors: the same bytes as
 * nta_msg_treply's, without building a message and encoding it again.
 * It is not in Sofia's TPORT_LOG dump nor in nta's counters. Anything
 * unusual about the request leaves the reply to nta.
 *
 * TCP connections. Sofia closes a connection that no registration holds
 * once it has been idle for sip.tcp_idle_timeout (TPTAG_IDLE), and drops
 * a partial message that stopped growing for sip.tcp_message_timeout
 * (TPTAG_TIMEOUT), which then ends its connection; a message larger than
 * sip.max_message_size ends it at once. But Sofia 1.12 arms its idle
 * timer only after some traffic: a connection that never sends a byte
 * would be kept for ever. The connection sweep (sip_sweep) finds those
 * among the daemon's own descriptors (TCP_INFO: nothing ever received)
 * and shuts them down, which Sofia then handles as a peer's close; when
 * descriptors run short it does so after a second instead of
 * sip.tcp_idle_timeout.
 */
#include <dirent.h>
#include <limits.h>
#include <errno.h>
#include <linux/tcp.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sofia-sip/msg_addr.h>
#include <sofia-sip/msg_header.h>
#include <sofia-sip/nta.h>
#include <sofia-sip/nta_stateless.h>
#include <sofia-sip/nta_tport.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/su_string.h>
#include <sofia-sip/tport.h>
#include <sofia-sip/tport_tag.h>

#include "sippushd.h"

#define SIP_ALLOW	"REGISTER, OPTIONS"
#define SIP_TIMER_K_MS	250
#define SIP_PRELOAD	1500	/* bytes preallocated per message (nta) */
#define SIP_NOFILE_MAX	1048576	/* the soft limit is raised up to this */
#define SIP_SWEEP_MAX_MS 10000	/* the longest pause between sweeps */

static const struct config	*sip_cfg;
static nta_agent_t		*sip_nta;
static su_timer_t		*sip_sweep_timer;
static DIR			*sip_fd_dir;	/* /proc/self/fd, kept open:
						   no descriptor is needed
						   to sweep when none is left */
static int			 sip_pressure;	/* descriptors ran short */

#define SIP_SWEEP_TCP	1		/* a connection on sip.port */
#define SIP_SWEEP_TLS	2		/* on tls.port */
#define SIP_SILENT_MAX	1024		/* candidates of one sweep pass */

/* A silent TLS connection: closed unless a registration holds it. */
struct sip_silent {
	int		 fd;
	uint16_t	 port;		/* the peer's */
	char		 addr[46];
	int		 held;
};
static struct sip_silent	 sip_silent[SIP_SILENT_MAX];
static size_t			 sip_nsilent;
static int			 sip_tls_closed;	/* by the last sweep */
/* The sockets of the agent's UDP transports (Sofia does not tell them):
 * sip_reply_udp sends on them directly. */
#define SIP_UDP_MAX	4
#define SIP_REPLY_MAX	4096		/* the longest reply sip_reply_udp writes */
static struct {
	tport_t		*tp;
	int		 fd;
}				 sip_udp[SIP_UDP_MAX];
static size_t			 sip_nudp;

/*
 * sendto on a UDP socket with IP_RECVERR (Sofia's), again when it fails
 * with an error an ICMP message left pending on the socket: that error is
 * an earlier datagram's (another destination's, a MESSAGE to a gone
 * client), reported once by whichever call comes next, and this datagram
 * was not sent. A 200 to an OPTIONS was lost so while a fan-out to closed
 * ports went on. -1 with errno set, else the bytes sent.
 */
ssize_t
sip_send_udp(int fd, const void *b, size_t n, const struct sockaddr *sa,
    size_t salen)
{
	ssize_t	 r;
	int	 tries = 0;

	while ((r = sendto(fd, b, n, MSG_NOSIGNAL, sa,
	    (socklen_t)salen)) == -1 &&
	    (errno == ECONNREFUSED || errno == EHOSTUNREACH ||
	    errno == ENETUNREACH || errno == EHOSTDOWN) && ++tries < 4)
		;
	return r;
}

/* The socket of tp if it is one of the daemon's UDP transports, else -1
 * (guard.c). */
int
sip_udp_socket(const void *tp)
{
	size_t	 i;

	for (i = 0; tp != NULL && i < sip_nudp; i++)
		if (sip_udp[i].tp == tp)
			return sip_udp[i].fd;
	return -1;
}
static su_duration_t		 sip_sweep_every;	/* ms */

static int
sip_incoming(nta_agent_magic_t *magic, nta_agent_t *agent, msg_t *msg,
    sip_t *sip)
{
	(void)magic;
	if (sip == NULL || sip->sip_request == NULL) {
		/* a stray response: no transaction of ours wants it */
		msg_destroy(msg);
		return 0;
	}
	metrics_sip_request(sip->sip_request->rq_method_name);
	switch (sip->sip_request->rq_method) {
	case sip_method_register:
		registrar_request(msg, sip);
		break;
	case sip_method_options:
		heartbeat_request(msg, sip);
		break;
	case sip_method_ack:
		msg_destroy(msg);
		break;
	case sip_method_message:
		/* to a client's ID: relayed (relay.c); else as any other */
		if (relay_request(msg, sip))
			break;
		/* FALLTHROUGH */
	default:
		log_debug("sip: %s from %s refused: not allowed",
		    sip->sip_request->rq_method_name,
		    sip->sip_from && sip->sip_from->a_url->url_user ?
		    sip->sip_from->a_url->url_user : "?");
		nta_msg_treply(agent, msg, SIP_405_METHOD_NOT_ALLOWED,
		    SIPTAG_ALLOW_STR(SIP_ALLOW), TAG_END());
		break;
	}
	return 0;
}

/* Bind a socket of this type where the agent will listen, to learn the
 * reason (port in use, no such address) that nta would not report. */
static int
sip_probe(const struct config *cfg, int type, int portnum,
    const char *what, char *err, size_t errlen)
{
	struct addrinfo	 hints, *ai;
	char		 port[8];
	int		 fd, rc, one = 1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = type;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%d", portnum);
	if ((rc = getaddrinfo(cfg->sip_address, port, &hints, &ai)) != 0) {
		snprintf(err, errlen, "sip.address \"%s\": %s",
		    cfg->sip_address, gai_strerror(rc));
		return -1;
	}
	if ((fd = socket(ai->ai_family, type, 0)) == -1) {
		freeaddrinfo(ai);
		return 0;	/* let nta say */
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	rc = bind(fd, ai->ai_addr, ai->ai_addrlen);
	if (rc == -1)
		snprintf(err, errlen, "cannot listen on %s %s port %d: %s",
		    what, cfg->sip_address, portnum, strerror(errno));
	close(fd);
	freeaddrinfo(ai);
	return rc;
}

/* Raise the soft limit on descriptors to the hard one (at most
 * SIP_NOFILE_MAX): every TCP connection holds one. */
static void
sip_raise_nofile(void)
{
	struct rlimit	 rl;
	rlim_t		 want;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return;
	want = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > SIP_NOFILE_MAX ?
	    SIP_NOFILE_MAX : rl.rlim_max;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
		rl.rlim_cur = want;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			log_warn("sip: cannot raise the descriptor limit to "
			    "%llu: %s", (unsigned long long)want,
			    strerror(errno));
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		log_info("sip: up to %llu descriptors (TCP connections and "
		    "files)", (unsigned long long)rl.rlim_cur);
}

/* Is fd a connection accepted on our SIP port (SIP_SWEEP_TCP) or TLS
 * port (SIP_SWEEP_TLS), not a listener? 0 if neither. */
static int
sip_sweep_is_ours(int fd)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len = sizeof(ss);
	int			 v, port;

	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
		return 0;
	if (ss.ss_family == AF_INET)
		port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	else if (ss.ss_family == AF_INET6)
		port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	else
		return 0;
	if ((port != sip_cfg->sip_port || !sip_cfg->sip_tcp) &&
	    (port != sip_cfg->tls_port || !sip_cfg->tls_enable))
		return 0;
	len = sizeof(v);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &len) == -1 ||
	    v != SOCK_STREAM)
		return 0;
	len = sizeof(v);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) == -1 || v)
		return 0;
	return sip_cfg->tls_enable && port == sip_cfg->tls_port ?
	    SIP_SWEEP_TLS : SIP_SWEEP_TCP;
}

static int
sip_silent_cmp(const void *a, const void *b)
{
	const struct sip_silent	*x = a, *y = b;

	if (x->port != y->port)
		return x->port < y->port ? -1 : 1;
	return strcmp(x->addr, y->addr);
}

/* A registration over TLS holds the silent connection it came on. */
static int
sip_silent_held(struct client *c, void *arg)
{
	struct sip_silent	 key, *s;

	(void)arg;
	if (c->transport != TRANSPORT_TLS || c->tport == NULL)
		return 0;
	key.port = c->port;
	memcpy(key.addr, c->address, sizeof(key.addr));
	if ((s = bsearch(&key, sip_silent, sip_nsilent, sizeof(*s),
	    sip_silent_cmp)) != NULL)
		s->held = 1;
	return 0;
}

/* Note a TLS connection silent for the idle time, whose handshake may
 * never have ended: closed after the pass unless a registration holds
 * it. */
static void
sip_silent_add(int fd)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len = sizeof(ss);
	struct sip_silent	*s;
	char			 serv[8];

	if (sip_nsilent == SIP_SILENT_MAX)
		return;		/* the next pass will see it */
	s = &sip_silent[sip_nsilent];
	if (getpeername(fd, (struct sockaddr *)&ss, &len) == -1 ||
	    getnameinfo((struct sockaddr *)&ss, len, s->addr,
	    sizeof(s->addr), serv, sizeof(serv),
	    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		return;
	s->fd = fd;
	s->port = (uint16_t)atoi(serv);
	s->held = 0;
	sip_nsilent++;
}

/* Shut down the silent TLS connections no registration holds; how
 * many. */
static int
sip_silent_close(void)
{
	size_t	 i;
	int	 closed = 0;

	if (sip_nsilent == 0)
		return 0;
	qsort(sip_silent, sip_nsilent, sizeof(sip_silent[0]),
	    sip_silent_cmp);
	clients_foreach(sip_silent_held, NULL);
	for (i = 0; i < sip_nsilent; i++)
		if (!sip_silent[i].held &&
		    shutdown(sip_silent[i].fd, SHUT_RDWR) == 0)
			closed++;
	sip_nsilent = 0;
	return closed;
}

/*
 * One pass over the daemon's descriptors: shut down every TCP or TLS
 * connection on the SIP or TLS port that has never received a byte and
 * has neither received nor sent anything for idle_ms; and those on the
 * TLS port silent as long that no registration holds (a TLS handshake
 * that stopped half-way: Sofia never times it out). Returns the number
 * of descriptors seen; *closed gets the connections shut down.
 */
static int
sip_sweep_pass(unsigned idle_ms, int *closed)
{
	struct tcp_info	 ti;
	struct dirent	*de;
	socklen_t	 len;
	char		*end;
	long		 fd;
	int		 n = 0, kind;

	*closed = 0;
	rewinddir(sip_fd_dir);
	while ((de = readdir(sip_fd_dir)) != NULL) {
		fd = strtol(de->d_name, &end, 10);
		if (*de->d_name == '\0' || *end != '\0' ||
		    fd == dirfd(sip_fd_dir))
			continue;
		n++;
		if ((kind = sip_sweep_is_ours((int)fd)) == 0)
			continue;
		memset(&ti, 0, sizeof(ti));
		len = sizeof(ti);
		if (getsockopt((int)fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == -1 ||
		    len < offsetof(struct tcp_info, tcpi_bytes_received) +
		    sizeof(ti.tcpi_bytes_received))
			continue;	/* a kernel before 4.1: no way to tell */
		if (ti.tcpi_last_data_recv < idle_ms ||
		    ti.tcpi_last_data_sent < idle_ms)
			continue;
		if (ti.tcpi_bytes_received != 0) {
			if (kind == SIP_SWEEP_TLS)
				sip_silent_add((int)fd);
			continue;
		}
		if (shutdown((int)fd, SHUT_RDWR) == 0)
			(*closed)++;
	}
	sip_tls_closed += sip_silent_close();
	return n;
}

/* The connection sweep: see the note at the top of this file. */
static void
sip_sweep(su_root_magic_t *magic, su_timer_t *t, su_timer_arg_t *arg)
{
	struct rlimit	 rl;
	unsigned	 idle_ms = (unsigned)sip_cfg->sip_tcp_idle * 1000;
	int		 n, closed, more, was = sip_pressure;

	(void)magic;
	(void)arg;
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		rl.rlim_cur = RLIM_INFINITY;
	n = sip_sweep_pass(sip_pressure ? 1000 : idle_ms, &closed);
	sip_pressure = rl.rlim_cur != RLIM_INFINITY &&
	    (rlim_t)n + rl.rlim_cur / 10 + 16 >= rl.rlim_cur;
	if (sip_pressure && !was) {
		log_warn("sip: %d of %llu descriptors in use: TCP connections "
		    "that send nothing are now closed after 1s", n,
		    (unsigned long long)rl.rlim_cur);
		sip_sweep_pass(1000, &more);
		closed += more;
	} else if (was && !sip_pressure)
		log_notice("sip: %d of %llu descriptors in use: back to "
		    "closing silent connections after %ds", n,
		    (unsigned long long)rl.rlim_cur, sip_cfg->sip_tcp_idle);
	if (closed)
		log_info("sip: closed %d TCP connection%s that sent nothing "
		    "for %ds", closed, closed > 1 ? "s" : "",
		    sip_pressure || was ? 1 : sip_cfg->sip_tcp_idle);
	if (sip_tls_closed)
		log_info("sip: closed %d TLS connection%s silent for %ds "
		    "that no registration holds", sip_tls_closed,
		    sip_tls_closed > 1 ? "s" : "",
		    sip_pressure || was ? 1 : sip_cfg->sip_tcp_idle);
	sip_tls_closed = 0;
	su_timer_set_interval(t, sip_sweep, NULL,
	    sip_pressure ? 1000 : sip_sweep_every);
}

/* Is there a TLS transport among the agent's? */
static int
sip_has_tls(void)
{
	tport_t	*tp;

	for (tp = tport_primaries(nta_agent_tports(sip_nta)); tp;
	    tp = tport_next(tp))
		if (tport_has_tls(tp))
			return 1;
	return 0;
}

/*
 * Add the TLS transport (the tls section) to the agent, from the files
 * that tls_check approved, and check that Sofia created it: it says
 * nothing when it does not. 0, or -1 with err set.
 */
static int
sip_tls_init(const struct config *cfg, char *err, size_t errlen)
{
	char		 url[128], dir[PATH_MAX];
	const char	*host = cfg->sip_address, *urlp = url;
	int		 rv;

	if (strcmp(host, "0.0.0.0") == 0)
		host = "*";
	snprintf(url, sizeof(url), strchr(host, ':') ? "sips:[%s]:%d" :
	    "sips:%s:%d", host, cfg->tls_port);
	if (tls_dir_create(cfg, dir, sizeof(dir), err, errlen) == -1)
		return -1;
	errno = 0;
	rv = nta_agent_add_tport(sip_nta, URL_STRING_MAKE(urlp),
	    TPTAG_CERTIFICATE(dir),
	    /* 0: any version OpenSSL allows. Upstream 1.12.11's default
	     * (1) means TLS 1.0 only; Debian's build negotiates 1.3 with
	     * either, so this only guards against another build */
	    TPTAG_TLS_VERSION(0),
	    /* client certificates are not asked for */
	    TPTAG_TLS_VERIFY_POLICY(TPTLS_VERIFY_NONE),
	    TPTAG_IDLE((unsigned)cfg->sip_tcp_idle * 1000),
	    TPTAG_TIMEOUT((unsigned)cfg->sip_tcp_msg_timeout * 1000),
	    TAG_END());
	/* Sofia has read the files into memory: they are not needed now */
	tls_dir_remove(dir);
	if (rv == -1 || !sip_has_tls()) {
		snprintf(err, errlen, "cannot listen on %s: %s", url,
		    rv == -1 && errno ? strerror(errno) :
		    "Sofia-SIP created no TLS transport (its log, with "
		    "log.sip_level = 3, may say why)");
		return -1;
	}
	log_notice("sip: listening on %s", url);
	return 0;
}

/* Is sa the address a is bound to? */
static int
sip_same_addr(const struct sockaddr *sa, socklen_t len, const su_addrinfo_t *a)
{
	if (a == NULL || a->ai_addr == NULL ||
	    sa->sa_family != a->ai_addr->sa_family)
		return 0;
	if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in))
		return memcmp(&((struct sockaddr_in *)sa)->sin_port,
		    &((struct sockaddr_in *)a->ai_addr)->sin_port, 2) == 0 &&
		    memcmp(&((struct sockaddr_in *)sa)->sin_addr,
		    &((struct sockaddr_in *)a->ai_addr)->sin_addr, 4) == 0;
	if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6))
		return memcmp(&((struct sockaddr_in6 *)sa)->sin6_port,
		    &((struct sockaddr_in6 *)a->ai_addr)->sin6_port, 2) == 0 &&
		    memcmp(&((struct sockaddr_in6 *)sa)->sin6_addr,
		    &((struct sockaddr_in6 *)a->ai_addr)->sin6_addr, 16) == 0;
	return 0;
}

/*
 * Find the socket of each UDP transport of the agent among the daemon's
 * descriptors: the datagram socket bound to the transport's address.
 * A transport whose socket is not found is left to nta.
 */
static void
sip_udp_find(void)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	struct dirent		*de;
	DIR			*d;
	tport_t			*tp;
	char			*end;
	long			 fd;
	int			 type;

	sip_nudp = 0;
	if ((d = opendir("/proc/self/fd")) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		fd = strtol(de->d_name, &end, 10);
		if (*de->d_name == '\0' || *end != '\0' || fd == dirfd(d))
			continue;
		len = sizeof(type);
		if (getsockopt((int)fd, SOL_SOCKET, SO_TYPE, &type, &len) ==
		    -1 || type != SOCK_DGRAM)
			continue;
		len = sizeof(ss);
		if (getsockname((int)fd, (struct sockaddr *)&ss, &len) == -1)
			continue;
		for (tp = tport_primaries(nta_agent_tports(sip_nta)); tp;
		    tp = tport_next(tp))
			if (tport_is_udp(tp) && sip_nudp < SIP_UDP_MAX &&
			    sip_same_addr((struct sockaddr *)&ss, len,
			    tport_get_address(tp))) {
				sip_udp[sip_nudp].tp = tp;
				sip_udp[sip_nudp++].fd = (int)fd;
				break;
			}
	}
	closedir(d);
	if (sip_nudp == 0)
		log_warn("sip: the UDP socket was not found: every reply is "
		    "built by Sofia");
}

/* Append the encoding of header h to b (*n bytes used of SIP_REPLY_MAX);
 * -1 when it does not fit. */
static int
sip_reply_header(char *b, size_t *n, const void *h)
{
	issize_t	 r;

	r = msg_header_e(b + *n, SIP_REPLY_MAX - *n, (msg_header_t const *)h,
	    0);
	if (r < 0 || (size_t)r >= SIP_REPLY_MAX - *n)
		return -1;
	*n += (size_t)r;
	return 0;
}

/*
 * Answer a request that came over UDP with "200 OK", written here and
 * sent on the transport's socket: the response nta_msg_treply would send
 * (the request's Via, From, To with a new tag, Call-ID and CSeq, encoded
 * by Sofia, in nta's order), followed by tail: the other header lines,
 * Content-Length among them, each ending in CRLF. It skips building the
 * response as a message, its encoding pass and a getsockopt per send.
 * Returns 0 once sent, or dropped like any UDP datagram that cannot be
 * sent, which consumes msg; -1, msg untouched, when the response needs
 * nta: not UDP, a Record-Route to echo, a Via with maddr, a response
 * addressed anywhere but where the datagram came from, too long.
 */
int
sip_reply_udp(msg_t *msg, sip_t const *sip, const char *tail, size_t tlen)
{
	static const char	 status[] = "SIP/2.0 200 OK\r\n";
	su_addrinfo_t		*ai = msg_addrinfo(msg);
	sip_via_t const		*v = sip->sip_via;
	const char		*host, *port, *tag = NULL;
	char			 b[SIP_REPLY_MAX], src[46];
	tport_t			*tp;
	uint16_t		 p;
	size_t			 i, n;
	int			 fd = -1;

	if (sip_nudp == 0 || ai == NULL || ai->ai_addr == NULL ||
	    (ai->ai_protocol != IPPROTO_UDP && ai->ai_protocol != 0) ||
	    v == NULL || v->v_maddr || !su_casematch(v->v_protocol,
	    sip_transport_udp) || sip->sip_record_route ||
	    sip->sip_from == NULL || sip->sip_to == NULL ||
	    sip->sip_call_id == NULL || sip->sip_cseq == NULL)
		return -1;
	tp = tport_delivered_by(nta_agent_tports(sip_nta), msg);
	for (i = 0; i < sip_nudp; i++)
		if (sip_udp[i].tp == tp)
			fd = sip_udp[i].fd;
	if (fd == -1)
		return -1;
	/* where nta would send it (nta_tpn_by_via, sip_via_port): the
	 * source of the datagram, or leave it to nta */
	host = v->v_received ? v->v_received : v->v_host;
	port = v->v_rport && v->v_rport[0] ? v->v_rport :
	    v->v_port ? v->v_port : SIP_DEFAULT_SERV;
	if (ai->ai_addr->sa_family == AF_INET)
		p = ntohs(((struct sockaddr_in *)ai->ai_addr)->sin_port);
	else if (ai->ai_addr->sa_family == AF_INET6)
		p = ntohs(((struct sockaddr_in6 *)ai->ai_addr)->sin6_port);
	else
		return -1;
	if (host == NULL || strtol(port, NULL, 10) != p ||
	    inet_ntop(ai->ai_addr->sa_family, ai->ai_addr->sa_family ==
	    AF_INET ? (void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr :
	    (void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr, src,
	    sizeof(src)) == NULL || strcmp(src, host) != 0)
		return -1;
	if (sip->sip_to->a_tag == NULL &&
	    (tag = nta_agent_newtag(msg_home(msg), "", sip_nta)) == NULL)
		return -1;
	memcpy(b, status, n = sizeof(status) - 1);
	for (; v; v = v->v_next)
		if (sip_reply_header(b, &n, v) == -1)
			return -1;
	if (sip_reply_header(b, &n, sip->sip_from) == -1 ||
	    sip_reply_header(b, &n, sip->sip_to) == -1)
		return -1;
	if (tag) {
		n -= 2;		/* the To's CRLF: the tag goes last */
		if (n + 5 + strlen(tag) + 2 >= SIP_REPLY_MAX)
			return -1;
		n += (size_t)snprintf(b + n, SIP_REPLY_MAX - n, ";tag=%s\r\n",
		    tag);
	}
	if (sip_reply_header(b, &n, sip->sip_call_id) == -1 ||
	    sip_reply_header(b, &n, sip->sip_cseq) == -1 ||
	    n + tlen + 2 > SIP_REPLY_MAX)
		return -1;
	memcpy(b + n, tail, tlen);
	n += tlen;
	memcpy(b + n, "\r\n", 2);
	n += 2;
	if (sip_send_udp(fd, b, n, ai->ai_addr, ai->ai_addrlen) == -1)
		log_debug("sip: 200 to %s:%u not sent: %s", src, p,
		    strerror(errno));
	msg_destroy(msg);
	return 0;
}

/* Create the agent listening where cfg says. 0, or -1 with err set. */
int
sip_init(const struct config *cfg, su_root_t *root, char *err,
    size_t errlen)
{
	char		 url[128];
	const char	*host = cfg->sip_address, *urlp = url;
	su_duration_t	 every;

	sip_cfg = cfg;
	/* the bounds on what a peer's bytes may cost Sofia (guard.c) */
	if (guard_init(cfg, err, errlen) == -1)
		return -1;
	if ((cfg->sip_udp && sip_probe(cfg, SOCK_DGRAM, cfg->sip_port, "UDP",
	    err, errlen) == -1) ||
	    (cfg->sip_tcp && sip_probe(cfg, SOCK_STREAM, cfg->sip_port, "TCP",
	    err, errlen) == -1) ||
	    (cfg->tls_enable && sip_probe(cfg, SOCK_STREAM, cfg->tls_port,
	    "TLS", err, errlen) == -1))
		return -1;
	if (strcmp(host, "0.0.0.0") == 0)
		host = "*";
	snprintf(url, sizeof(url), strchr(host, ':') ? "sip:[%s]:%d%s" :
	    "sip:%s:%d%s", host, cfg->sip_port,
	    cfg->sip_udp && cfg->sip_tcp ? "" :
	    cfg->sip_udp ? ";transport=udp" : ";transport=tcp");
	if (!cfg->sip_udp && !cfg->sip_tcp)
		urlp = (const char *)-1;	/* nta: bind nothing (TLS only) */
	errno = 0;
	sip_nta = nta_agent_create(root, (url_string_t const *)urlp,
	    sip_incoming, NULL,
	    NTATAG_UA(0),
	    NTATAG_SERVER_RPORT(1),
	    NTATAG_MAXSIZE((usize_t)cfg->sip_max_size),
	    NTATAG_UDP_MTU(65535),
	    /* every message nta makes (received, or ours to send) gets one
	     * block that its headers are carved from, instead of a malloc
	     * and a free per header and parameter list */
	    NTATAG_PRELOAD(SIP_PRELOAD),
	    TPTAG_UDP_RMEM((unsigned)cfg->sip_udp_buffer),
	    TPTAG_UDP_WMEM((unsigned)cfg->sip_udp_buffer),
	    NTATAG_SIP_T1X64((unsigned)cfg->dp_timeout),
	    /* Timer K: a completed MESSAGE transaction (~10 KB) lingers T4
	     * to absorb retransmitted responses, which only come if our
	     * request was retransmitted; 5 s would hold 50,000 of them at
	     * 10,000 MESSAGEs per second */
	    NTATAG_SIP_T4(SIP_TIMER_K_MS),
	    /* TCP: a connection nobody holds (no registration uses it) is
	     * closed once idle; a partial message that stops growing is
	     * dropped, and then its connection (see sippushd.conf(5)) */
	    TPTAG_IDLE((unsigned)cfg->sip_tcp_idle * 1000),
	    TPTAG_TIMEOUT((unsigned)cfg->sip_tcp_msg_timeout * 1000),
	    /* no STUN server on the SIP port: Sofia's prints a line on
	     * stderr for every datagram that starts with a 0 or 1 byte */
	    TPTAG_STUN_SERVER(0),
	    TAG_END());
	if (sip_nta == NULL) {
		snprintf(err, errlen, "cannot listen on %s: %s", url,
		    errno ? strerror(errno) : "failed");
		return -1;
	}
	if (cfg->sip_udp || cfg->sip_tcp)
		log_notice("sip: listening on %s", url);
	if (cfg->sip_udp)
		sip_udp_find();
	if (cfg->tls_enable && sip_tls_init(cfg, err, errlen) == -1)
		return -1;
	sip_raise_nofile();
	if (cfg->sip_tcp || cfg->tls_enable) {
		if ((sip_fd_dir = opendir("/proc/self/fd")) == NULL)
			log_warn("sip: /proc/self/fd: %s: TCP connections that "
			    "send nothing will not be closed",
			    strerror(errno));
		else {
			every = (su_duration_t)cfg->sip_tcp_idle * 1000 / 2;
			if (every > SIP_SWEEP_MAX_MS)
				every = SIP_SWEEP_MAX_MS;
			if (every < 1000)
				every = 1000;
			sip_sweep_every = every;
			if ((sip_sweep_timer = su_timer_create(
			    su_root_task(root), every)) == NULL ||
			    su_timer_set(sip_sweep_timer, sip_sweep, NULL) ==
			    -1) {
				snprintf(err, errlen, "cannot create a timer");
				return -1;
			}
		}
	}
	return 0;
}

void
sip_shutdown(void)
{
	su_timer_destroy(sip_sweep_timer);
	sip_sweep_timer = NULL;
	if (sip_fd_dir)
		closedir(sip_fd_dir);
	sip_fd_dir = NULL;
	sip_pressure = 0;
	sip_nudp = 0;
	if (sip_nta)
		nta_agent_destroy(sip_nta);
	sip_nta = NULL;
	guard_shutdown();
}

nta_agent_t *
sip_agent(void)
{
	return sip_nta;
}

/* The TCP/TLS connection a request came on (not a reference), or NULL
 * for UDP. */
struct tport_s *
sip_connection(msg_t *msg)
{
	tport_t	*tp = tport_delivered_by(nta_agent_tports(sip_nta), msg);

	return tp && !tport_is_udp(tp) ? tp : NULL;
}

/*
 * Where a request really came from: source IP (numeric), port and
 * transport, as seen on the socket (so NAT bindings are what we record).
 * 0, or -1 when the message carries no address.
 */
int
sip_source(msg_t *msg, char *addr, size_t addrlen, uint16_t *port,
    enum transport *tr)
{
	su_addrinfo_t	*ai = msg_addrinfo(msg);
	tport_t		*tp;
	char		 serv[8];

	if (ai == NULL || ai->ai_addr == NULL ||
	    getnameinfo(ai->ai_addr, (socklen_t)ai->ai_addrlen, addr,
	    (socklen_t)addrlen, serv, sizeof(serv),
	    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		return -1;
	*port = (uint16_t)atoi(serv);
	if (ai->ai_protocol == IPPROTO_UDP || ai->ai_protocol == 0)
		*tr = TRANSPORT_UDP;
	else {
		tp = tport_delivered_by(nta_agent_tports(sip_nta), msg);
		*tr = tp && tport_has_tls(tp) ? TRANSPORT_TLS : TRANSPORT_TCP;
	}
	return 0;
}

/*
 * Did a request come from addr (numeric, as sip_source writes it), port
 * and transport? 1 or 0. For UDP the same test as comparing sip_source's
 * result, without getnameinfo: heartbeats ask it of every OPTIONS.
 */
int
sip_source_is(msg_t *msg, const char *addr, uint16_t port,
    enum transport tr)
{
	su_addrinfo_t		*ai = msg_addrinfo(msg);
	struct sockaddr		*sa;
	const void		*ip = NULL;
	char			 buf[46];
	uint16_t		 p;
	enum transport		 t;

	if (ai == NULL || (sa = ai->ai_addr) == NULL)
		return 0;
	if (ai->ai_protocol != IPPROTO_UDP && ai->ai_protocol != 0)
		;	/* TCP or TLS: sip_source asks the transport */
	else if (sa->sa_family == AF_INET &&
	    ai->ai_addrlen >= sizeof(struct sockaddr_in)) {
		p = ntohs(((struct sockaddr_in *)sa)->sin_port);
		ip = &((struct sockaddr_in *)sa)->sin_addr;
	} else if (sa->sa_family == AF_INET6 &&
	    ai->ai_addrlen >= sizeof(struct sockaddr_in6) &&
	    /* getnameinfo would add a scope that inet_ntop leaves out */
	    ((struct sockaddr_in6 *)sa)->sin6_scope_id == 0) {
		p = ntohs(((struct sockaddr_in6 *)sa)->sin6_port);
		ip = &((struct sockaddr_in6 *)sa)->sin6_addr;
	}
	if (ip == NULL) {
		if (sip_source(msg, buf, sizeof(buf), &p, &t) == -1)
			return 0;
		return p == port && t == tr && strcmp(buf, addr) == 0;
	}
	return tr == TRANSPORT_UDP && p == port &&
	    inet_ntop(sa->sa_family, ip, buf, sizeof(buf)) != NULL &&
	    strcmp(buf, addr) == 0;
}
