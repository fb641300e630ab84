/*
 * digestclient.c: one SIP client over UDP that plays the Digest
 * authentication cases of tests/e2e/auth.sh against sippushd.
 *
 *   digestclient -s HOST:PORT -i ID [-u USER] [-p PASSWORD] [-a sha256|md5]
 *       [-m REGISTER|OPTIONS] [-e EXPIRES] [-b LOCAL-ADDRESS] [-w FILE]
 *       [-n] [-r]
 *
 * Sends the request without credentials, answers a 401 with the
 * challenge of the chosen algorithm (the credentials of USER, default
 * ID), and prints each final status on a line ("401", "200", ...). With
 * -n it stops after the first answer. With -r it then replays: the same
 * credentials (same nonce and nonce count) in a new request, which a
 * server must refuse, and then the same request again byte for byte (a
 * retransmission, which it must answer as before). With -w it writes the
 * authenticated request, byte for byte, into FILE (for replays from
 * elsewhere, tests/e2e/hostile_auth.sh). Exit 0 when it got its answers,
 * 1 on a timeout or a bad reply, 2 on bad usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "digest.h"
#include "sippushd.h"

#define BUFSZ	8192

static int			 fd;
static struct sockaddr_in	 srv;
static char			 local[64];
static unsigned			 lport;

static void
usage(void)
{
	fprintf(stderr, "usage: digestclient -s HOST:PORT -i ID [-u USER] "
	    "[-p PASSWORD] [-a sha256|md5] [-m REGISTER|OPTIONS] "
	    "[-e EXPIRES] [-b LOCAL-ADDRESS] [-w FILE] [-n] [-r]\n");
	exit(2);
}

/* Send req and wait 3 s for a final response to it; its status, or -1. */
static int
transact(const char *req, char *resp, size_t len)
{
	struct pollfd	 p = { .fd = fd, .events = POLLIN };
	ssize_t		 n;
	int		 status, tries;

	for (tries = 0; tries < 3; tries++) {
		if (sendto(fd, req, strlen(req), 0, (struct sockaddr *)&srv,
		    sizeof(srv)) == -1)
			return -1;
		while (poll(&p, 1, 1000) == 1) {
			if ((n = recv(fd, resp, len - 1, 0)) <= 0)
				return -1;
			resp[n] = '\0';
			if (sscanf(resp, "SIP/2.0 %d", &status) == 1 &&
			    status >= 200)
				return status;
		}
	}
	return -1;
}

/* The value of param (e.g. "nonce") in a header line, unquoted. */
static int
param(const char *line, const char *name, char *out, size_t len)
{
	const char	*p = line, *end;
	size_t		 nl = strlen(name), n;

	while ((p = strcasestr(p, name)) != NULL) {
		if ((p == line || p[-1] == ' ' || p[-1] == ',') &&
		    p[nl] == '=')
			break;
		p += nl;
	}
	if (p == NULL)
		return -1;
	p += nl + 1;
	if (*p == '"') {
		p++;
		end = strchr(p, '"');
	} else
		end = p + strcspn(p, ", \r\n");
	if (end == NULL || (n = (size_t)(end - p)) >= len)
		return -1;
	memcpy(out, p, n);
	out[n] = '\0';
	return 0;
}

/* The challenge line of algorithm alg in a 401; realm and nonce. */
static int
challenge(const char *resp, const char *alg, char *realm, char *nonce)
{
	const char	*p = resp, *eol;
	char		 line[1024], a[32];
	size_t		 n;

	while ((p = strcasestr(p, "\nWWW-Authenticate:")) != NULL) {
		p++;
		eol = strstr(p, "\r\n");
		n = eol ? (size_t)(eol - p) : strlen(p);
		if (n >= sizeof(line))
			n = sizeof(line) - 1;
		memcpy(line, p, n);
		line[n] = '\0';
		p += n;
		if (param(line, "algorithm", a, sizeof(a)) == -1)
			snprintf(a, sizeof(a), "MD5");
		if (strcasecmp(a, alg) != 0)
			continue;
		if (param(line, "realm", realm, 128) == -1 ||
		    param(line, "nonce", nonce, 128) == -1)
			return -1;
		return 0;
	}
	return -1;
}

static void
build(char *out, size_t len, const char *method, const char *id,
    const char *callid, unsigned cseq, long expires, const char *auth)
{
	char	 branch[32], contact[256];

	snprintf(branch, sizeof(branch), "z9hG4bK%08x%u",
	    (unsigned)random(), cseq);
	if (strcmp(method, "REGISTER") == 0)
		snprintf(contact, sizeof(contact), "Contact: <sip:%s@%s:%u>"
		    "\r\nExpires: %ld\r\n", id, local, lport, expires);
	else
		contact[0] = '\0';
	snprintf(out, len,
	    "%s sip:%s SIP/2.0\r\n"
	    "Via: SIP/2.0/UDP %s:%u;branch=%s;rport\r\n"
	    "Max-Forwards: 70\r\n"
	    "From: <sip:%s@%s>;tag=dc%u\r\n"
	    "To: <sip:%s@%s>\r\n"
	    "Call-ID: %s\r\n"
	    "CSeq: %u %s\r\n"
	    "%s%s"
	    "Content-Length: 0\r\n\r\n",
	    method, inet_ntoa(srv.sin_addr), local, lport, branch, id,
	    inet_ntoa(srv.sin_addr), lport, id, inet_ntoa(srv.sin_addr),
	    callid, cseq, method, contact, auth ? auth : "");
}

int
main(int argc, char *argv[])
{
	const char	*server = NULL, *id = NULL, *user = NULL, *pw = "";
	const char	*alg = "SHA-256", *method = "REGISTER", *bind_to = NULL;
	const char	*save = NULL;
	FILE		*f;
	char		 req[BUFSZ], resp[BUFSZ], callid[64], realm[128];
	char		 nonce[128], uri[160], ha1s[65], ha1m[33], cnonce[17];
	char		 response[65], auth[1024], host[64], *colon;
	struct sockaddr_in sin;
	socklen_t	 sl = sizeof(sin);
	long		 expires = 600;
	unsigned	 cseq = 1, r;
	int		 ch, once = 0, replay = 0, status;

	while ((ch = getopt(argc, argv, "s:i:u:p:a:m:e:b:w:nr")) != -1) {
		switch (ch) {
		case 's': server = optarg; break;
		case 'i': id = optarg; break;
		case 'u': user = optarg; break;
		case 'p': pw = optarg; break;
		case 'a':
			alg = strcasecmp(optarg, "md5") == 0 ? "MD5" : "SHA-256";
			break;
		case 'm': method = optarg; break;
		case 'e': expires = atol(optarg); break;
		case 'b': bind_to = optarg; break;
		case 'w': save = optarg; break;
		case 'n': once = 1; break;
		case 'r': replay = 1; break;
		default: usage();
		}
	}
	if (server == NULL || id == NULL)
		usage();
	if (user == NULL)
		user = id;
	snprintf(host, sizeof(host), "%s", server);
	if ((colon = strrchr(host, ':')) == NULL)
		usage();
	*colon = '\0';
	memset(&srv, 0, sizeof(srv));
	srv.sin_family = AF_INET;
	srv.sin_port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, host, &srv.sin_addr) != 1)
		usage();
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	if (bind_to && inet_pton(AF_INET, bind_to, &sin.sin_addr) != 1)
		usage();
	if ((fd = socket(AF_INET, SOCK_DGRAM, 0)) == -1 ||
	    (bind_to && bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1) ||
	    connect(fd, (struct sockaddr *)&srv, sizeof(srv)) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &sl) == -1) {
		perror("digestclient: socket");
		return 1;
	}
	snprintf(local, sizeof(local), "%s", inet_ntoa(sin.sin_addr));
	lport = ntohs(sin.sin_port);
	if (getrandom(&r, sizeof(r), 0) != sizeof(r))
		r = (unsigned)getpid();
	srandom(r);
	snprintf(callid, sizeof(callid), "dc-%08x-%u", r, lport);
	snprintf(cnonce, sizeof(cnonce), "%08x%08x", (unsigned)random(),
	    (unsigned)random());

	build(req, sizeof(req), method, id, callid, cseq++, expires, NULL);
	if ((status = transact(req, resp, sizeof(resp))) == -1)
		goto timeout;
	printf("%d\n", status);
	if (once || status != 401)
		return 0;
	if (challenge(resp, alg, realm, nonce) == -1) {
		fprintf(stderr, "digestclient: no %s challenge in:\n%s", alg,
		    resp);
		return 1;
	}
	snprintf(uri, sizeof(uri), "sip:%s", inet_ntoa(srv.sin_addr));
	digest_ha1(user, realm, pw, ha1s, ha1m);
	digest_response(strcmp(alg, "MD5") != 0, strcmp(alg, "MD5") != 0 ?
	    ha1s : ha1m, nonce, "00000001", cnonce, method, uri, response);
	snprintf(auth, sizeof(auth), "Authorization: Digest username=\"%s\", "
	    "realm=\"%s\", nonce=\"%s\", uri=\"%s\", response=\"%s\", "
	    "algorithm=%s, qop=auth, nc=00000001, cnonce=\"%s\"\r\n",
	    user, realm, nonce, uri, response, alg, cnonce);
	build(req, sizeof(req), method, id, callid, cseq++, expires, auth);
	if (save && ((f = fopen(save, "w")) == NULL ||
	    fputs(req, f) == EOF || fclose(f) == EOF)) {
		perror(save);
		return 1;
	}
	if ((status = transact(req, resp, sizeof(resp))) == -1)
		goto timeout;
	printf("%d\n", status);
	if (!replay)
		return 0;
	/* the same credentials in a new request: a replay */
	{
		char	 again[BUFSZ];

		build(again, sizeof(again), method, id, callid, cseq++,
		    expires, auth);
		if ((status = transact(again, resp, sizeof(resp))) == -1)
			goto timeout;
		printf("%d\n", status);
	}
	/* the authenticated request itself again: a retransmission */
	if ((status = transact(req, resp, sizeof(resp))) == -1)
		goto timeout;
	printf("%d\n", status);
	return 0;
timeout:
	fprintf(stderr, "digestclient: no answer from %s\n", server);
	return 1;
}
