/*
 * fuzz_stream.c: a TCP stream as Sofia's transport parses it, several
 * messages to a read: the bytes are received in the chunks the input
 * asks for, each read committed to the message in progress (as
 * tport_recv_stream does) and parsed with msg_extract, each complete
 * message followed by msg_next (as tport_parse does), with src/guard.c's
 * msg_extract in place. Then each read as a datagram through guard_scan.
 *
 * Input: byte 0 holds the number of reads k (low 4 bits; 0: one read of
 * everything), then k 16-bit big-endian read sizes, then the stream. The
 * seeds in corpus/stream pipeline messages with Content-Length at the
 * edges (0, the limit and around it, 2^31, 2^32, huge).
 *
 * It traps when a message holds more than sip.max_message_size plus one
 * read and 1 KB, or when a complete message is accepted larger than the limit;
 * without the guard, Content-Length 2^31 in a second message aborts in
 * su_alloc and a huge one trips -rss_limit_mb.
 */
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include <sofia-sip/msg.h>
#include <sofia-sip/msg_addr.h>
#include <sofia-sip/msg_buffer.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/su.h>

#include "fuzz.h"

#define FZ_MAX		4096	/* sip.max_message_size here */
#define FZ_READS	15

static struct config	 fz_cfg;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char	 err[256];

	(void)argc;
	(void)argv;
	fuzz_log_init();
	su_init();
	config_defaults(&fz_cfg);
	fz_cfg.sip_max_size = FZ_MAX;
	if (guard_init(&fz_cfg, err, sizeof(err)) == -1) {
		fprintf(stderr, "fuzz_stream: %s\n", err);
		return -1;
	}
	return 0;
}

/* A message as tport makes one for a TCP connection from 127.0.0.9. */
static msg_t *
fz_msg(void)
{
	struct sockaddr_in	 sin;
	msg_t			*msg;

	if ((msg = msg_create(sip_default_mclass(), 0)) == NULL)
		return NULL;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(5999);
	sin.sin_addr.s_addr = htonl(0x7f000009);
	msg_set_address(msg, (su_sockaddr_t *)&sin, sizeof(sin));
	msg_addrinfo(msg)->ai_protocol = IPPROTO_TCP;
	msg_maxsize(msg, FZ_MAX);	/* nta's limit on a fresh message */
	return msg;
}

/* Destroy msg and the next message a read may have started in it (when
 * it held the end of msg's body, msg_recv_iovec makes one). */
static void
fz_destroy(msg_t *msg)
{
	msg_t	*next = msg_next(msg);

	msg_destroy(msg);
	if (next)
		msg_destroy(next);
}

/* Receive n bytes into *mp (made if NULL); -1 if Sofia refuses the read
 * (the connection would be closed). */
static int
fz_recv(msg_t **mp, const uint8_t *p, size_t n, int eos)
{
	msg_iovec_t	 vec[8];
	issize_t	 veclen, i;
	size_t		 done = 0, len;

	if (*mp == NULL && (*mp = fz_msg()) == NULL)
		return -1;
	if (n == 0) {
		msg_recv_commit(*mp, 0, eos);
		return 0;
	}
	veclen = msg_recv_iovec(*mp, vec, 8, (usize_t)n, 0);
	if (veclen < 0)
		return -1;
	for (i = 0; i < veclen && done < n; i++) {
		len = vec[i].mv_len < n - done ? vec[i].mv_len : n - done;
		memcpy(vec[i].mv_base, p + done, len);
		done += len;
	}
	msg_recv_commit(*mp, (usize_t)done, eos);
	return 0;
}

/* Parse what *mp holds, as tport_parse does, after reads of at most
 * maxread bytes; -1 when the connection would be closed. */
static int
fz_parse(msg_t **mp, size_t maxread)
{
	msg_t	*msg = *mp, *next;
	int	 n;

	while (msg) {
		n = msg_extract(msg);
		if (msg_get_flags(msg, MSG_FLG_TOOLARGE | MSG_FLG_ERROR) ||
		    n < 0) {
			fz_destroy(msg);
			*mp = NULL;
			return -1;
		}
		if (n == 0) {
			/* partial: no more than the limit, one read and
			 * the slack of Sofia's buffer (msg_min_size) */
			if (msg_size(msg) + msg_buf_committed(msg) >
			    FZ_MAX + maxread + 1024)
				__builtin_trap();
			break;
		}
		if (msg_size(msg) > FZ_MAX + 1)
			__builtin_trap();	/* accepted too large */
		next = msg_next(msg);
		msg_destroy(msg);
		msg = next;
	}
	*mp = msg;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t	 reads[FZ_READS + 1], k, i, off, n, maxread = 0;
	msg_t	*msg = NULL;

	if (size < 1)
		return 0;
	k = data[0] & 0x0f;
	off = 1;
	for (i = 0; i < k && off + 2 <= size; i++, off += 2)
		reads[i] = (size_t)data[off] << 8 | data[off + 1];
	k = i;
	reads[k++] = (size_t)-1;	/* the rest */
	for (i = 0; i < k && off <= size; i++) {
		n = size - off < reads[i] ? size - off : reads[i];
		(void)guard_scan((const char *)data + off, n, 128, 70);
		if (n > maxread)
			maxread = n;
		if (fz_recv(&msg, data + off, n, 0) == -1 ||
		    fz_parse(&msg, maxread) == -1)
			break;
		off += n;
		if (off == size)
			break;
	}
	if (msg)
		fz_destroy(msg);
	return 0;
}
