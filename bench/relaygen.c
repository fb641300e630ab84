/*
 * relaygen.c: load for bench/relay_rate.sh. N clients on UDP, one socket
 * each, register with a SIP server (sippushd with relay.enabled, or
 * Kamailio with registrar + lookup + t_relay); then for DUR seconds each
 * client keeps WIN MESSAGEs in flight to the next client's ID
 * (sip:ID@server), which the server relays; every client answers the
 * MESSAGEs it receives with 200 and a short body. Counted: requests
 * sent, final answers by class, those with the target's body, none
 * within 4 s; latency (send to final answer) p50 and p99.
 *
 *   relaygen -s HOST:PORT -n N -w WIN -d DUR [-c CLASS-PARAM]
 *
 * Prints one line of "key=value" (sent ok fail timeout rate p50_ms
 * p99_ms). Plain sockets and poll(2): the generator should cost far less
 * than the server. Exit 0, 1 when registration failed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RING	(1u << 20)		/* requests remembered, by sequence */
#define TIMEOUT_US	4000000

struct slot {
	int64_t		 sent;		/* us; 0: free */
	uint32_t	 client;
};

static struct sockaddr_in	 srv;
static char			 srvs[64];
static int			*fds;
static uint16_t			*ports;
static int			 n;
static struct slot		*ring;
static uint32_t			 next_seq = 1;
static int			*inflight;
static uint64_t			 sent, ok, fail, tmo, withbody;
static uint32_t			*lat;		/* us of each answer */
static size_t			 nlat, caplat;

static int64_t
now_us(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
sendto_srv(int fd, const char *b, size_t len)
{
	(void)sendto(fd, b, len, 0, (struct sockaddr *)&srv, sizeof(srv));
}

static void
reg(int i, const char *cparam)
{
	char	 b[1024];
	int	 len;

	len = snprintf(b, sizeof(b),
	    "REGISTER sip:%s SIP/2.0\r\n"
	    "Via: SIP/2.0/UDP 127.0.0.1:%u;branch=z9hG4bKr%d;rport\r\n"
	    "Max-Forwards: 70\r\n"
	    "From: <sip:c%d@%s>;tag=r%d\r\n"
	    "To: <sip:c%d@%s>\r\n"
	    "Call-ID: reg-%d-%u\r\n"
	    "CSeq: 1 REGISTER\r\n"
	    "Contact: <sip:c%d@127.0.0.1:%u>%s\r\n"
	    "Expires: 600\r\n"
	    "Content-Length: 0\r\n\r\n",
	    srvs, ports[i], i, i, srvs, i, i, srvs, i, (unsigned)getpid(),
	    i, ports[i], cparam);
	sendto_srv(fds[i], b, (size_t)len);
}

static void
message(int i)
{
	char		 b[1024];
	int		 len, to = (i + 1) % n;
	uint32_t	 seq = next_seq++;
	struct slot	*s = &ring[seq & (RING - 1)];

	len = snprintf(b, sizeof(b),
	    "MESSAGE sip:c%d@%s SIP/2.0\r\n"
	    "Via: SIP/2.0/UDP 127.0.0.1:%u;branch=z9hG4bKm%u;rport\r\n"
	    "Max-Forwards: 70\r\n"
	    "From: <sip:c%d@%s>;tag=m%u\r\n"
	    "To: <sip:c%d@%s>\r\n"
	    "Call-ID: rg-%u\r\n"
	    "CSeq: 1 MESSAGE\r\n"
	    "Content-Type: text/plain\r\n"
	    "Content-Length: 5\r\n\r\nping?",
	    to, srvs, ports[i], seq, i, srvs, seq, to, srvs, seq);
	s->sent = now_us();
	s->client = (uint32_t)i;
	inflight[i]++;
	sent++;
	sendto_srv(fds[i], b, (size_t)len);
}

/* Answer a request we received with 200 and a body: its Via, From, To,
 * Call-ID and CSeq lines copied. */
static void
answer(int fd, const char *req, const struct sockaddr_in *from)
{
	char		 b[4096];
	const char	*p = req, *e;
	size_t		 len;

	len = (size_t)snprintf(b, sizeof(b), "SIP/2.0 200 OK\r\n");
	while ((e = strstr(p, "\r\n")) != NULL && e != p) {
		if ((strncasecmp(p, "Via:", 4) == 0 ||
		    strncasecmp(p, "v:", 2) == 0 ||
		    strncasecmp(p, "From:", 5) == 0 ||
		    strncasecmp(p, "f:", 2) == 0 ||
		    strncasecmp(p, "To:", 3) == 0 ||
		    strncasecmp(p, "t:", 2) == 0 ||
		    strncasecmp(p, "Call-ID:", 8) == 0 ||
		    strncasecmp(p, "i:", 2) == 0 ||
		    strncasecmp(p, "CSeq:", 5) == 0) &&
		    len + (size_t)(e - p) + 2 < sizeof(b) - 128) {
			memcpy(b + len, p, (size_t)(e - p) + 2);
			len += (size_t)(e - p) + 2;
		}
		p = e + 2;
	}
	len += (size_t)snprintf(b + len, sizeof(b) - len,
	    "Content-Type: text/plain\r\nContent-Length: 5\r\n\r\npong!");
	(void)sendto(fd, b, len, 0, (const struct sockaddr *)from,
	    sizeof(*from));
}

static void
response(const char *b, int *regok, int i)
{
	int		 status = atoi(b + 8);
	const char	*c;
	uint32_t	 seq;
	struct slot	*s;

	if (status < 200)
		return;
	if ((c = strstr(b, "\r\nCall-ID: ")) == NULL &&
	    (c = strstr(b, "\r\ni: ")) == NULL)
		return;
	c = strchr(c, ':') + 2;
	if (strncmp(c, "reg-", 4) == 0) {
		if (status == 200 && !regok[i])
			regok[i] = 1;
		return;
	}
	if (strncmp(c, "rg-", 3) != 0)
		return;
	seq = (uint32_t)strtoul(c + 3, NULL, 10);
	s = &ring[seq & (RING - 1)];
	if (s->sent == 0)
		return;		/* counted as a timeout already */
	if (status >= 200 && status < 300) {
		ok++;
		if (strstr(b, "pong!") != NULL)
			withbody++;
	} else
		fail++;
	if (nlat == caplat) {
		caplat = caplat ? caplat * 2 : 65536;
		lat = realloc(lat, caplat * sizeof(*lat));
		if (lat == NULL)
			exit(1);
	}
	lat[nlat++] = (uint32_t)(now_us() - s->sent);
	s->sent = 0;
	inflight[s->client]--;
}

static int
cmp(const void *a, const void *b)
{
	uint32_t	 x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char *argv[])
{
	struct pollfd		*pfd;
	struct sockaddr_in	 sin, from;
	socklen_t		 sl;
	const char		*server = NULL, *cparam = "";
	char			 buf[8192], *colon;
	int			*regok, ch, win = 1, dur = 5, i, nreg, k;
	int64_t			 t0, end, last_scan = 0, t;
	uint32_t		 q;
	ssize_t			 r;

	n = 100;
	while ((ch = getopt(argc, argv, "s:n:w:d:c:")) != -1) {
		switch (ch) {
		case 's': server = optarg; break;
		case 'n': n = atoi(optarg); break;
		case 'w': win = atoi(optarg); break;
		case 'd': dur = atoi(optarg); break;
		case 'c': cparam = optarg; break;
		default:
			fprintf(stderr, "usage: relaygen -s HOST:PORT -n N "
			    "-w WIN -d DUR [-c CLASS-PARAM]\n");
			return 2;
		}
	}
	if (server == NULL || n < 2 || win < 1 || dur < 1 ||
	    (colon = strchr(server, ':')) == NULL)
		return 2;
	snprintf(srvs, sizeof(srvs), "%s", server);
	memset(&srv, 0, sizeof(srv));
	srv.sin_family = AF_INET;
	srv.sin_port = htons((uint16_t)atoi(colon + 1));
	*colon = '\0';
	inet_pton(AF_INET, server, &srv.sin_addr);
	fds = calloc((size_t)n, sizeof(*fds));
	ports = calloc((size_t)n, sizeof(*ports));
	inflight = calloc((size_t)n, sizeof(*inflight));
	regok = calloc((size_t)n, sizeof(*regok));
	pfd = calloc((size_t)n, sizeof(*pfd));
	ring = calloc(RING, sizeof(*ring));
	if (!fds || !ports || !inflight || !regok || !pfd || !ring)
		return 1;
	for (i = 0; i < n; i++) {
		int	 sz = 1 << 20;

		fds[i] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		setsockopt(fds[i], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
		if (fds[i] == -1 || bind(fds[i], (struct sockaddr *)&sin,
		    sizeof(sin)) == -1)
			return 1;
		sl = sizeof(sin);
		getsockname(fds[i], (struct sockaddr *)&sin, &sl);
		ports[i] = ntohs(sin.sin_port);
		pfd[i].fd = fds[i];
		pfd[i].events = POLLIN;
	}
	/* register, again every 500 ms until all have a 200 (10 s at most) */
	t0 = now_us();
	for (nreg = 0, t = 0; nreg < n && now_us() - t0 < 10000000; ) {
		if (now_us() - t >= 500000) {
			for (i = 0; i < n; i++)
				if (!regok[i])
					reg(i, cparam);
			t = now_us();
		}
		if (poll(pfd, (nfds_t)n, 50) <= 0)
			continue;
		for (i = 0; i < n; i++)
			while (pfd[i].revents & POLLIN) {
				sl = sizeof(from);
				r = recvfrom(fds[i], buf, sizeof(buf) - 1, 0,
				    (struct sockaddr *)&from, &sl);
				if (r <= 0)
					break;
				buf[r] = '\0';
				if (strncmp(buf, "SIP/2.0 ", 8) == 0 &&
				    !regok[i]) {
					response(buf, regok, i);
					nreg += regok[i];
				}
			}
	}
	if (nreg < n) {
		fprintf(stderr, "relaygen: %d of %d registered\n", nreg, n);
		return 1;
	}
	t0 = now_us();
	end = t0 + (int64_t)dur * 1000000;
	for (i = 0; i < n; i++)
		for (k = 0; k < win; k++)
			message(i);
	while ((t = now_us()) < end + TIMEOUT_US) {
		if (poll(pfd, (nfds_t)n, 20) > 0)
			for (i = 0; i < n; i++) {
				if (!(pfd[i].revents & POLLIN))
					continue;
				for (;;) {
					sl = sizeof(from);
					r = recvfrom(fds[i], buf,
					    sizeof(buf) - 1, 0,
					    (struct sockaddr *)&from, &sl);
					if (r <= 0)
						break;
					buf[r] = '\0';
					if (strncmp(buf, "SIP/2.0 ", 8) == 0)
						response(buf, regok, i);
					else if (strncmp(buf, "MESSAGE ", 8) ==
					    0)
						answer(fds[i], buf, &from);
				}
				if (t < end)
					while (inflight[i] < win)
						message(i);
			}
		if (t - last_scan > 100000) {
			last_scan = t;
			for (q = next_seq > RING ? next_seq - RING : 1;
			    q < next_seq; q++) {
				struct slot *s = &ring[q & (RING - 1)];

				if (s->sent && t - s->sent > TIMEOUT_US) {
					s->sent = 0;
					tmo++;
					inflight[s->client]--;
				}
			}
		}
		if (t >= end && sent == ok + fail + tmo)
			break;
	}
	qsort(lat, nlat, sizeof(*lat), cmp);
	printf("sent=%llu ok=%llu body=%llu fail=%llu timeout=%llu "
	    "rate=%.0f p50_ms=%.2f p99_ms=%.2f\n", (unsigned long long)sent,
	    (unsigned long long)ok, (unsigned long long)withbody,
	    (unsigned long long)fail, (unsigned long long)tmo,
	    (double)(ok) / dur,
	    nlat ? lat[nlat / 2] / 1000.0 : 0.0,
	    nlat ? lat[(nlat * 99) / 100] / 1000.0 : 0.0);
	return 0;
}
