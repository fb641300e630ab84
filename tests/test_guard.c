/*
 * test_guard.c: guard_scan, the count of header lines and Via values of
 * a datagram that decides, before Sofia parses it, whether it is dropped;
 * guard_errors, the ICMP errors a wakeup of a UDP socket takes.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "sippushd.h"
#include "tests.h"

#define HEAD	"OPTIONS sip:a SIP/2.0\r\n"

static int
scan(const char *s, int max_headers, int max_via)
{
	return guard_scan(s, strlen(s), max_headers, max_via);
}

/* A message of n "X-N: v" headers and v Via lines. */
static char *
make(int n, int v)
{
	size_t	 len = sizeof(HEAD) + (size_t)(n + v) * 40 + 64;
	char	*s = malloc(len), *p;
	int	 i;

	CU_ASSERT_FATAL(s != NULL);
	p = s + sprintf(s, "%s", HEAD);
	for (i = 0; i < v; i++)
		p += sprintf(p, "Via: SIP/2.0/UDP 10.0.0.1;branch=z%d\r\n", i);
	for (i = 0; i < n; i++)
		p += sprintf(p, "X-%d: v\r\n", i);
	sprintf(p, "Content-Length: 0\r\n\r\n");
	return s;
}

static void
test_header_cap(void)
{
	char	*s = make(9, 0);	/* 10 header lines with Content-Length */

	CU_ASSERT_EQUAL(guard_scan(s, strlen(s), 10, 0), 0);
	CU_ASSERT_EQUAL(guard_scan(s, strlen(s), 9, 0), GUARD_HEADERS);
	CU_ASSERT_EQUAL(guard_scan(s, strlen(s), 0, 0), 0);
	free(s);
}

static void
test_via_cap(void)
{
	char	*s = make(0, 5);

	CU_ASSERT_EQUAL(guard_scan(s, strlen(s), 0, 5), 0);
	CU_ASSERT_EQUAL(guard_scan(s, strlen(s), 0, 4), GUARD_VIA);
	free(s);
	/* compact form, any case, values joined by commas and on
	 * continuation lines all count */
	CU_ASSERT_EQUAL(scan(HEAD "v: SIP/2.0/UDP a\r\nVIA : SIP/2.0/UDP b, "
	    "SIP/2.0/UDP c\r\n , SIP/2.0/UDP d\r\n\r\n", 0, 4), 0);
	CU_ASSERT_EQUAL(scan(HEAD "v: SIP/2.0/UDP a\r\nVIA : SIP/2.0/UDP b, "
	    "SIP/2.0/UDP c\r\n , SIP/2.0/UDP d\r\n\r\n", 0, 3), GUARD_VIA);
	/* other headers' commas and names that only start like Via do not */
	CU_ASSERT_EQUAL(scan(HEAD "Vias: a, b, c\r\nVia-X: a,b\r\n"
	    "Allow: A, B, C, D\r\n\r\n", 0, 1), 0);
}

static void
test_head_only(void)
{
	/* the body is not looked at; leading CRLFs are not headers; a head
	 * cut short is counted as far as it goes */
	CU_ASSERT_EQUAL(scan("\r\n\r\n" HEAD "A: 1\r\n\r\nB: 2\r\nC: 3\r\n",
	    1, 0), 0);
	CU_ASSERT_EQUAL(scan(HEAD "A: 1\nB: 2\n\nC: 3\n", 2, 0), 0);
	CU_ASSERT_EQUAL(scan(HEAD "A: 1\r\nB: 2\r\nC", 2, 0), GUARD_HEADERS);
	CU_ASSERT_EQUAL(scan("", 1, 1), 0);
	CU_ASSERT_EQUAL(scan(HEAD, 1, 1), 0);
}

static void
test_attack(void)
{
	char	*s = make(0, 1100);

	/* the datagram of the hardening issue, with the defaults */
	CU_ASSERT_NOT_EQUAL(guard_scan(s, strlen(s), 128, 70), 0);
	free(s);
	s = make(1000, 0);
	CU_ASSERT_EQUAL(guard_scan(s, strlen(s), 128, 70), GUARD_HEADERS);
	free(s);
	s = make(20, 3);
	CU_ASSERT_EQUAL(guard_scan(s, strlen(s), 128, 70), 0);
	free(s);
}

/* ---- ICMP errors: every one queued taken in one wakeup ---- */

static int	 tg_fd, tg_taken;

/* Sofia's tport_error_event on a UDP socket, as far as the socket goes:
 * one error read from the queue a call. */
static int
tg_take_one(struct tport_s *self)
{
	char		 buf[512], ctl[512];
	struct iovec	 iov = { buf, sizeof(buf) };
	struct msghdr	 mh;

	(void)self;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctl;
	mh.msg_controllen = sizeof(ctl);
	if (recvmsg(tg_fd, &mh, MSG_ERRQUEUE | MSG_DONTWAIT) >= 0)
		tg_taken++;
	return 0;
}

/*
 * With IP_RECVERR (Sofia sets it), each ICMP error is queued on the UDP
 * socket and makes its next recv fail with ECONNREFUSED while any is
 * queued; Sofia takes one error per wakeup, so a queue kept full by a
 * fan-out to gone clients kept every request unread (issue 11). One
 * wakeup (guard_errors) takes them all, and the request that waits
 * behind them is read at once.
 */
static void
test_errors_drained(void)
{
	struct sockaddr_in	 dead, self;
	socklen_t		 len = sizeof(self);
	struct pollfd		 pfd;
	char			 buf[64];
	int			 on = 1, i, n = 20, peer;
	ssize_t			 r;

	tg_fd = socket(AF_INET, SOCK_DGRAM, 0);
	peer = socket(AF_INET, SOCK_DGRAM, 0);
	CU_ASSERT_FATAL(tg_fd != -1 && peer != -1);
	CU_ASSERT_FATAL(setsockopt(tg_fd, IPPROTO_IP, IP_RECVERR, &on,
	    sizeof(on)) == 0);
	memset(&self, 0, sizeof(self));
	self.sin_family = AF_INET;
	self.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CU_ASSERT_FATAL(bind(tg_fd, (struct sockaddr *)&self,
	    sizeof(self)) == 0);
	CU_ASSERT_FATAL(getsockname(tg_fd, (struct sockaddr *)&self,
	    &len) == 0);
	/* a closed port: bound, then closed */
	dead = self;
	dead.sin_port = 0;
	i = socket(AF_INET, SOCK_DGRAM, 0);
	len = sizeof(dead);
	CU_ASSERT_FATAL(bind(i, (struct sockaddr *)&dead, sizeof(dead)) == 0 &&
	    getsockname(i, (struct sockaddr *)&dead, &len) == 0);
	close(i);
	for (i = 0; i < n; i++) {
		/* a send, too, fails once on a pending error: again */
		while ((r = sendto(tg_fd, "MESSAGE", 7, 0,
		    (struct sockaddr *)&dead, sizeof(dead))) == -1 &&
		    errno == ECONNREFUSED)
			;
		CU_ASSERT(r == 7);
	}
	/* a request behind the errors */
	CU_ASSERT(sendto(peer, "OPTIONS", 7, 0, (struct sockaddr *)&self,
	    sizeof(self)) == 7);
	pfd.fd = tg_fd;
	pfd.events = POLLIN;
	CU_ASSERT_FATAL(poll(&pfd, 1, 2000) == 1 &&
	    (pfd.revents & POLLERR));
	tg_taken = 0;
	CU_ASSERT_EQUAL(guard_errors(NULL, tg_fd, tg_take_one), 0);
	CU_ASSERT(tg_taken >= 2);	/* more than one ICMP error came */
	pfd.events = 0;
	pfd.revents = 0;
	CU_ASSERT(poll(&pfd, 1, 0) == 0 || !(pfd.revents & POLLERR));
	r = recv(tg_fd, buf, sizeof(buf), MSG_DONTWAIT);
	CU_ASSERT_EQUAL(r, 7);	/* the request, not ECONNREFUSED */
	if (r != 7)
		fprintf(stderr, "\nerrors: %d taken, recv: %s\n", tg_taken,
		    r == -1 ? strerror(errno) : "short");
	/* an answer sent while an error is pending goes all the same
	 * (sendto fails once with the other datagram's error) */
	while ((r = sendto(tg_fd, "MESSAGE", 7, 0, (struct sockaddr *)&dead,
	    sizeof(dead))) == -1 && errno == ECONNREFUSED)
		;
	pfd.events = 0;
	CU_ASSERT_FATAL(poll(&pfd, 1, 2000) == 1 &&
	    (pfd.revents & POLLERR));
	len = sizeof(dead);
	CU_ASSERT_FATAL(getsockname(peer, (struct sockaddr *)&dead,
	    &len) == 0);
	CU_ASSERT_EQUAL(sip_send_udp(tg_fd, "200", 3,
	    (struct sockaddr *)&dead, sizeof(dead)), 3);
	pfd.fd = peer;
	pfd.events = POLLIN;
	CU_ASSERT(poll(&pfd, 1, 1000) == 1);
	CU_ASSERT_EQUAL(recv(peer, buf, sizeof(buf), MSG_DONTWAIT), 3);
	close(tg_fd);
	close(peer);
}


int
test_guard_register(void)
{
	CU_pSuite	 s;

	if ((s = CU_add_suite("guard", NULL, NULL)) == NULL)
		return -1;
	if (CU_add_test(s, "header line cap", test_header_cap) == NULL ||
	    CU_add_test(s, "Via cap: forms, commas, continuations",
	    test_via_cap) == NULL ||
	    CU_add_test(s, "the head only", test_head_only) == NULL ||
	    CU_add_test(s, "the issue's datagrams", test_attack) == NULL ||
	    CU_add_test(s, "a wakeup takes every queued ICMP error",
	    test_errors_drained) == NULL)
		return -1;
	return 0;
}
