/*
 * sip.c: the nta agent, bound on UDP and/or TCP, and the routing of
 * incoming requests to the subsystem that answers them by method.
 *
 * The daemon creates no default leg: every request reaches sip_incoming
 * and is answered statelessly, so a request costs no memory once
 * answered (SOFIA.md, memory trap).
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sofia-sip/msg_addr.h>
#include <sofia-sip/nta.h>
#include <sofia-sip/nta_stateless.h>
#include <sofia-sip/nta_tport.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/tport.h>
#include <sofia-sip/tport_tag.h>

#include "sippushd.h"

#define SIP_ALLOW	"REGISTER, OPTIONS"
#define SIP_TIMER_K_MS	1000

static nta_agent_t	*sip_nta;

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
sip_probe(const struct config *cfg, int type, char *err, size_t errlen)
{
	struct addrinfo	 hints, *ai;
	char		 port[8];
	int		 fd, rc, one = 1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = type;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%d", cfg->sip_port);
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
		    type == SOCK_DGRAM ? "UDP" : "TCP", cfg->sip_address,
		    cfg->sip_port, strerror(errno));
	close(fd);
	freeaddrinfo(ai);
	return rc;
}

/* Create the agent listening where cfg says. 0, or -1 with err set. */
int
sip_init(const struct config *cfg, su_root_t *root, char *err,
    size_t errlen)
{
	char		 url[128];
	const char	*host = cfg->sip_address, *urlp = url;

	if ((cfg->sip_udp && sip_probe(cfg, SOCK_DGRAM, err, errlen) == -1) ||
	    (cfg->sip_tcp && sip_probe(cfg, SOCK_STREAM, err, errlen) == -1))
		return -1;
	if (strcmp(host, "0.0.0.0") == 0)
		host = "*";
	snprintf(url, sizeof(url), strchr(host, ':') ? "sip:[%s]:%d%s" :
	    "sip:%s:%d%s", host, cfg->sip_port,
	    cfg->sip_udp && cfg->sip_tcp ? "" :
	    cfg->sip_udp ? ";transport=udp" : ";transport=tcp");
	errno = 0;
	sip_nta = nta_agent_create(root, URL_STRING_MAKE(urlp), sip_incoming,
	    NULL,
	    NTATAG_UA(0),
	    NTATAG_SERVER_RPORT(1),
	    NTATAG_MAXSIZE((usize_t)cfg->sip_max_size),
	    NTATAG_UDP_MTU(65535),
	    TPTAG_UDP_RMEM((unsigned)cfg->sip_udp_buffer),
	    TPTAG_UDP_WMEM((unsigned)cfg->sip_udp_buffer),
	    NTATAG_SIP_T1X64((unsigned)cfg->dp_timeout),
	    /* Timer K: a completed MESSAGE transaction (~10 KB) lingers T4
	     * to absorb retransmitted responses; 5 s would hold 50,000 of
	     * them at 10,000 MESSAGEs per second */
	    NTATAG_SIP_T4(SIP_TIMER_K_MS),
	    TAG_END());
	if (sip_nta == NULL) {
		snprintf(err, errlen, "cannot listen on %s: %s", url,
		    errno ? strerror(errno) : "failed");
		return -1;
	}
	log_notice("sip: listening on %s", url);
	return 0;
}

void
sip_shutdown(void)
{
	if (sip_nta)
		nta_agent_destroy(sip_nta);
	sip_nta = NULL;
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
