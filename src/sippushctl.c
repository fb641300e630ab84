/*
 * sippushctl.c: the admin CLI. It speaks the control protocol (proto.h)
 * to sippushd over its local socket and prints the replies as aligned
 * tables for people or as JSON for scripts.
 *
 * Exit status: 0 success, 1 the daemon refused the request (for example
 * no such client), 2 bad usage, bad input or the daemon cannot be reached
 * (for publish: nothing was published), 3 publish --wait ended with
 * targets expired, failed or cancelled, 4 permission denied on the
 * control socket (by its mode, or by the daemon's check of the peer),
 * 5 no answer: the daemon said nothing for --timeout seconds (stopped,
 * hung) or dropped the connection before its reply was complete, so a
 * publish may or may not have been made, 6 publish --wait: the message
 * was published (its ID printed) but the daemon went away or stopped
 * answering before every target was settled.
 *
 * The timeout bounds each wait for the daemon (connect, every read and
 * write), not the whole command: a long listing that keeps coming, or a
 * --wait that keeps getting answers, runs as long as it needs.
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"

#ifndef SIPPUSH_SOCKET
#define SIPPUSH_SOCKET "/run/sippush/sippushd.sock"
#endif
#ifndef SIPPUSH_VERSION
#define SIPPUSH_VERSION "0.0.0"
#endif

#define EXIT_REFUSED	1
#define EXIT_USAGE	2
#define EXIT_UNDELIVERED 3	/* publish --wait: not every target acked */
#define EXIT_DENIED	4	/* permission denied on the control socket */
#define EXIT_NOANSWER	5	/* timed out, or the reply was cut short */
#define EXIT_FOLLOWING	6	/* publish --wait: published, then lost */
#define TIMEOUT_DEFAULT	30	/* seconds of silence before EXIT_NOANSWER */
#define BODY_MAX	(256 * 1024)	/* the daemon's limit is lower */
#define RECORD_FIELDS	64

struct record {
	int	 n;
	char	*key[RECORD_FIELDS];
	char	*val[RECORD_FIELDS];
	char	*line;		/* what key and val point into (collected) */
};

/* A reply collected whole (ctl_request); the long ones are read record
 * by record instead (ctl_request_each), so that listing a million
 * clients does not take a gigabyte. */
struct reply {
	struct record	*rec;
	size_t		 nrec, cap;
};

static const char	*ctl_socket;
static char		 ctl_context[256];	/* before a refusal's text */
static int		 ctl_json;
static long		 ctl_timeout = TIMEOUT_DEFAULT;	/* s, 0: none */
static const char	*ctl_following;	/* the ID publish --wait follows */

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: sippushctl [-s socket] [--json] [--timeout DURATION] command "
	    "[args]\n"
	    "\n"
	    "commands:\n"
	    "  clients [--class C] [--online | --offline]\n"
	    "                       list the application-information table\n"
	    "  client ID            show one client (in a cluster: any node's)\n"
	    "  stats                show counts\n"
	    "  publish (--class C | --client ID | --all)... [--ttl DURATION]\n"
	    "          [--content-type T] [--callback URL] [--wait]\n"
	    "          (BODY | --file F | -)\n"
	    "                       publish a control message, print its ID\n"
	    "  status ID            a message's delivery, target by target\n"
	    "  messages [--limit N] recent messages with their counts\n"
	    "  cancel ID            cancel a message's pending targets\n"
	    "  user add ID [--password-file F | --generate]\n"
	    "                       allow client ID to register (auth.enabled);"
	    "\n"
	    "                       the password comes from F, the terminal or"
	    "\n"
	    "                       standard input, or is generated and printed"
	    "\n"
	    "  user del ID          remove a client's credentials, end its\n"
	    "                       registration (auth.enabled)\n"
	    "  user list [ID]       list the users\n"
	    "  user import [FILE]   add many: lines \"ID PASSWORD\" from FILE or -\n"
	    "  token add NAME --scope publish,read,admin\n"
	    "                       a bearer token of the HTTP API; prints the\n"
	    "                       secret, which cannot be shown again\n"
	    "  token del NAME       revoke a token\n"
	    "  token list           list the tokens (names and scopes)\n"
	    "  nodes                list the cluster's nodes (PostgreSQL)\n"
	    "  drain NODE [--off]   move NODE's clients to other nodes, or\n"
	    "                       end that\n"
	    "short forms: clients -c; publish -c -i -a -t -T -f -w; messages -l;\n"
	    "  user add -p -g\n"
	    "\n"
	    "options:\n"
	    "  -s, --socket PATH    control socket (default $SIPPUSH_SOCKET "
	    "or\n"
	    "                       %s)\n"
	    "  -j, --json           print JSON instead of a table\n"
	    "  --timeout DURATION   give up when sippushd says nothing for "
	    "that long\n"
	    "                       (default %ds; 0: wait for ever)\n"
	    "  -h, --help           show this help\n"
	    "  -V, --version        show the version\n"
	    "\n"
	    "exit status: 0 done, 1 refused by sippushd, 2 bad usage, bad "
	    "input or\n"
	    "sippushd not reachable (publish: nothing was published), 3 "
	    "publish --wait:\n"
	    "some targets expired, failed or were cancelled, 4 permission "
	    "denied on the\n"
	    "control socket, 5 no answer from sippushd within the timeout or "
	    "the\n"
	    "connection lost mid-reply (publish: it may have been published), "
	    "6 publish\n"
	    "--wait: published (the ID was printed), then sippushd went away "
	    "or stopped\n"
	    "answering: do not publish again, follow it with status ID\n",
	    SIPPUSH_SOCKET, TIMEOUT_DEFAULT);
}

static void __attribute__((format(printf, 2, 3), noreturn))
die(int status, const char *fmt, ...)
{
	va_list	 ap;

	fputs("sippushctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(status);
}

/*
 * Permission denied on the socket: say who may use it. The group is the
 * socket's own when its mode lets the group in (control.group); when the
 * socket cannot even be looked at, its folder is closed to us.
 */
static void __attribute__((noreturn))
ctl_denied(void)
{
	struct stat	 sb;
	struct group	*gr;
	char		 gid[32];
	const char	*name;

	if (stat(ctl_socket, &sb) == -1)
		die(EXIT_DENIED, "permission denied on %s: its folder is "
		    "closed to you: run as root, as the user sippushd runs "
		    "as, or as a member of the group set by control.group",
		    ctl_socket);
	if ((sb.st_mode & S_IRWXG) == 0 || sb.st_gid == 0)
		die(EXIT_DENIED, "permission denied on %s: run as root or as "
		    "the user sippushd runs as (control.group in "
		    "sippushd.conf can let a group in)", ctl_socket);
	if ((gr = getgrgid(sb.st_gid)) != NULL)
		name = gr->gr_name;
	else {
		snprintf(gid, sizeof(gid), "%u", (unsigned)sb.st_gid);
		name = gid;
	}
	die(EXIT_DENIED, "permission denied on %s: run as root or as a member "
	    "of group %s (control.group)", ctl_socket, name);
}

/*
 * The daemon is gone or silent (what says how). Following a published
 * message (publish --wait), that is EXIT_FOLLOWING with the way to go on
 * following it; otherwise status (EXIT_USAGE: nothing was asked of it,
 * EXIT_NOANSWER: a request may have been made).
 */
static void __attribute__((noreturn))
ctl_lost(int status, const char *what)
{
	if (ctl_following)
		die(EXIT_FOLLOWING, "%s while following %s: it is published "
		    "(do not publish it again); follow it with: sippushctl "
		    "status %s", what, ctl_following, ctl_following);
	die(status, "%s", what);
}

/* No word from the daemon for ctl_timeout seconds. */
static void __attribute__((noreturn))
ctl_timed_out(void)
{
	char	 what[sizeof(((struct sockaddr_un *)0)->sun_path) + 80];

	snprintf(what, sizeof(what), "sippushd did not answer within %lds "
	    "(stopped or hung?) on %s", ctl_timeout, ctl_socket);
	ctl_lost(EXIT_NOANSWER, what);
}

static int
ctl_connect(void)
{
	struct sockaddr_un	 sun;
	struct timeval		 tv;
	char			 what[sizeof(sun.sun_path) + 80];
	int			 fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(ctl_socket) >= sizeof(sun.sun_path))
		die(EXIT_USAGE, "%s: socket path too long", ctl_socket);
	strcpy(sun.sun_path, ctl_socket);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		die(EXIT_USAGE, "socket: %s", strerror(errno));
	/* each read, write and the connect itself (a full backlog) waits
	 * at most this long: a stopped daemon's socket still accepts */
	if (ctl_timeout > 0) {
		memset(&tv, 0, sizeof(tv));
		tv.tv_sec = ctl_timeout;
		if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv,
		    sizeof(tv)) == -1 || setsockopt(fd, SOL_SOCKET,
		    SO_SNDTIMEO, &tv, sizeof(tv)) == -1)
			die(EXIT_USAGE, "setsockopt: %s", strerror(errno));
	}
	while (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		switch (errno) {
		case EINTR:
			continue;
		case EAGAIN:
			ctl_timed_out();
		case ENOENT:
		case ECONNREFUSED:
			snprintf(what, sizeof(what), "sippushd is not running "
			    "(nothing answers on %s)", ctl_socket);
			ctl_lost(EXIT_USAGE, what);
		case EACCES:
		case EPERM:
			ctl_denied();
		default:
			snprintf(what, sizeof(what), "%s: %s", ctl_socket,
			    strerror(errno));
			ctl_lost(EXIT_USAGE, what);
		}
	}
	return fd;
}

/* Read until the buffer holds a complete line at or after `from`; NULL
 * if the daemon closed the connection first. */
static char *
ctl_readline(int fd, struct buf *b, size_t from)
{
	char	*nl;
	ssize_t	 n;

	for (;;) {
		if (b->len > from &&
		    (nl = memchr(b->data + from, '\n', b->len - from)))
			return nl;
		if (buf_reserve(b, 65536) == -1)
			die(EXIT_USAGE, "out of memory");
		n = read(fd, b->data + b->len, 65536);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			ctl_timed_out();
		if (n <= 0)
			return NULL;
		b->len += (size_t)n;
		b->data[b->len] = '\0';
	}
}

static void
ctl_write(int fd, const char *p, size_t n)
{
	char	 what[160];
	ssize_t	 w;

	while (n > 0) {
		/* MSG_NOSIGNAL: a daemon gone is an error, not SIGPIPE */
		w = send(fd, p, n, MSG_NOSIGNAL);
		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			ctl_timed_out();
		if (w <= 0) {
			snprintf(what, sizeof(what), "lost the connection to "
			    "sippushd: %s", strerror(errno));
			ctl_lost(EXIT_NOANSWER, what);
		}
		p += w;
		n -= (size_t)w;
	}
}

static void
ctl_parse_record(char *line, struct record *r)
{
	char	*word, *save = NULL, *eq;

	memset(r, 0, sizeof(*r));
	for (word = strtok_r(line, " ", &save); word && r->n < RECORD_FIELDS;
	    word = strtok_r(NULL, " ", &save)) {
		if ((eq = strchr(word, '=')) == NULL)
			continue;
		*eq = '\0';
		if (proto_decode(eq + 1) == -1)
			die(EXIT_USAGE, "malformed reply from sippushd");
		r->key[r->n] = word;
		r->val[r->n] = eq + 1;
		r->n++;
	}
}

/*
 * Send one request (words already encoded in req, no newline) and read
 * the reply, handing each record's line to each() as it comes (the line
 * is each()'s to split: ctl_parse_record). On "ERR" print it and exit
 * with err_status.
 */
static void
ctl_request_each(const char *req, int err_status,
    void (*each)(char *line, void *arg), void *arg)
{
	struct buf	 b = { 0 };
	char		*nl, *line;
	size_t		 start;
	int		 fd;

	fd = ctl_connect();
	if ((nl = ctl_readline(fd, &b, 0)) == NULL)
		ctl_lost(EXIT_USAGE, "sippushd closed the connection without "
		    "a greeting (too many connections?)");
	if (strncmp(b.data, "ERR permission denied", 21) == 0)
		ctl_denied();
	if (strncmp(b.data, "SIPPUSH 1 ", 10) != 0)
		die(EXIT_USAGE, "unexpected greeting from %s (not a sippushd "
		    "of protocol 1?)", ctl_socket);
	buf_consume(&b, (size_t)(nl - b.data) + 1);
	ctl_write(fd, req, strlen(req));
	ctl_write(fd, "\n", 1);

	if ((nl = ctl_readline(fd, &b, 0)) == NULL)
		ctl_lost(EXIT_NOANSWER, "sippushd closed the connection "
		    "before answering");
	*nl = '\0';
	if (strncmp(b.data, "ERR", 3) == 0)
		die(err_status, "%s%s", ctl_context, b.data[3] ? b.data + 4 :
		    "refused");
	if (strcmp(b.data, "OK") != 0)
		die(EXIT_USAGE, "malformed reply from sippushd");
	start = (size_t)(nl - b.data) + 1;
	for (;;) {
		/* the lines read are dropped before each read: the buffer
		 * holds at most what one read brings, and moves once */
		if (memchr(b.data + start, '\n', b.len - start) == NULL) {
			buf_consume(&b, start);
			start = 0;
		}
		if ((nl = ctl_readline(fd, &b, start)) == NULL)
			ctl_lost(EXIT_NOANSWER, "sippushd closed the "
			    "connection before the end of its reply");
		*nl = '\0';
		line = b.data + start;
		start = (size_t)(nl - b.data) + 1;
		if (strcmp(line, ".") == 0)
			break;
		each(line, arg);
	}
	close(fd);
	buf_free(&b);
}

static void
ctl_collect(char *line, void *arg)
{
	struct reply	*rp = arg;
	struct record	*r;
	char		*copy;

	if (rp->nrec == rp->cap) {
		rp->cap = rp->cap ? rp->cap * 2 : 8;
		if ((r = realloc(rp->rec, rp->cap * sizeof(*r))) == NULL)
			die(EXIT_USAGE, "out of memory");
		rp->rec = r;
	}
	if ((copy = strdup(line)) == NULL)
		die(EXIT_USAGE, "out of memory");
	ctl_parse_record(copy, &rp->rec[rp->nrec]);
	rp->rec[rp->nrec++].line = copy;
}

/* The same, the whole reply collected in rp. */
static void
ctl_request(const char *req, struct reply *rp, int err_status)
{
	memset(rp, 0, sizeof(*rp));
	ctl_request_each(req, err_status, ctl_collect, rp);
}

static void
ctl_reply_free(struct reply *rp)
{
	size_t	 i;

	for (i = 0; i < rp->nrec; i++)
		free(rp->rec[i].line);
	free(rp->rec);
}

static const char *
ctl_get(const struct record *r, const char *key)
{
	int	 i;

	for (i = 0; i < r->n; i++)
		if (strcmp(r->key[i], key) == 0)
			return r->val[i];
	return "";
}

/* ---- output ---- */

static const char *const string_keys[] = {
	"id", "class", "state", "transport", "address", "contact",
	"user_agent", "version", "record", "client", "selector",
	"content_type", "path", "node", NULL
};

static int
ctl_is_number(const char *key, const char *v)
{
	int	 i;

	for (i = 0; string_keys[i]; i++)
		if (strcmp(key, string_keys[i]) == 0)
			return 0;
	if (*v == '-')
		v++;
	if (*v == '\0')
		return 0;
	for (; *v; v++)
		if (*v < '0' || *v > '9')
			return 0;
	return 1;
}

static void
ctl_json_string(const char *s)
{
	const unsigned char	*p;

	putchar('"');
	for (p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", stdout);
		else if (*p < 0x20)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
	putchar('"');
}

static void
ctl_json_record(const struct record *r)
{
	int	 i;

	putchar('{');
	for (i = 0; i < r->n; i++) {
		if (i)
			putchar(',');
		ctl_json_string(r->key[i]);
		putchar(':');
		if (ctl_is_number(r->key[i], r->val[i]))
			fputs(r->val[i], stdout);
		else
			ctl_json_string(r->val[i]);
	}
	putchar('}');
}

/* "3s ago", "in 9m58s": a unix time relative to now. */
static const char *
ctl_when(const char *v, char *out, size_t len)
{
	long long	 t = strtoll(v, NULL, 10), d;

	d = t - (long long)time(NULL);
	if (d < 0)
		d = -d;
	if (d < 60)
		snprintf(out, len, "%llds", d);
	else if (d < 3600)
		snprintf(out, len, "%lldm%02llds", d / 60, d % 60);
	else if (d < 86400)
		snprintf(out, len, "%lldh%02lldm", d / 3600, d / 60 % 60);
	else
		snprintf(out, len, "%lldd%02lldh", d / 86400, d / 3600 % 24);
	if (t <= (long long)time(NULL)) {
		size_t n = strlen(out);
		snprintf(out + n, len - n, " ago");
	} else {
		char	 tmp[32];
		snprintf(tmp, sizeof(tmp), "in %s", out);
		snprintf(out, len, "%s", tmp);
	}
	return out;
}

/*
 * An aligned text table: add rows of ncols cells, then print. The widths
 * come from the first TABLE_SAMPLE rows; the rows after those are
 * printed as they come, with those widths (a longer cell pushes the rest
 * of its line), so that a table of a million rows is not held in memory.
 */
#define TABLE_SAMPLE	1000
#define TABLE_COLS	16

struct table {
	int	 ncols;
	size_t	 nrows;
	char	**cell;
	int	 streaming;		/* widths fixed, rows printed */
	size_t	 w[TABLE_COLS];
};

static void
table_print_rows(struct table *t)
{
	size_t	 i, len;
	int	 j;

	if (!t->streaming)
		for (i = 0; i < t->nrows; i++)
			for (j = 0; j < t->ncols; j++) {
				len = strlen(t->cell[i * (size_t)t->ncols +
				    (size_t)j]);
				if (len > t->w[j])
					t->w[j] = len;
			}
	for (i = 0; i < t->nrows; i++) {
		for (j = 0; j < t->ncols - 1; j++)
			printf("%-*s  ", (int)t->w[j],
			    t->cell[i * (size_t)t->ncols + (size_t)j]);
		printf("%s\n", t->cell[i * (size_t)t->ncols +
		    (size_t)t->ncols - 1]);
	}
	for (i = 0; i < t->nrows * (size_t)t->ncols; i++)
		free(t->cell[i]);
	free(t->cell);
	t->cell = NULL;
	t->nrows = 0;
}

static void
table_row_v(struct table *t, const char *const *cells)
{
	int	 j;

	t->cell = realloc(t->cell, (t->nrows + 1) * (size_t)t->ncols *
	    sizeof(*t->cell));
	if (t->cell == NULL)
		die(EXIT_USAGE, "out of memory");
	for (j = 0; j < t->ncols; j++)
		if ((t->cell[t->nrows * (size_t)t->ncols + (size_t)j] =
		    strdup(cells[j])) == NULL)
			die(EXIT_USAGE, "out of memory");
	t->nrows++;
	if (t->streaming || t->nrows == TABLE_SAMPLE) {
		table_print_rows(t);
		t->streaming = 1;
	}
}

static void
table_row(struct table *t, ...)
{
	const char	*cells[TABLE_COLS];
	va_list		 ap;
	int		 j;

	va_start(ap, t);
	for (j = 0; j < t->ncols && j < TABLE_COLS; j++)
		cells[j] = va_arg(ap, const char *);
	va_end(ap);
	table_row_v(t, cells);
}

static void
table_print(struct table *t)
{
	table_print_rows(t);
	t->streaming = 0;
	memset(t->w, 0, sizeof(t->w));
}

/*
 * A listing read record by record: printed as a JSON array, or as a
 * table whose row() turns a record into cells.
 */
struct listing {
	struct table	 t;
	size_t		 n;
	void		(*row)(struct table *, const struct record *);
};

static void
ctl_listing_record(char *line, void *arg)
{
	struct listing	*l = arg;
	struct record	 r;

	ctl_parse_record(line, &r);
	if (ctl_json) {
		putchar(l->n ? ',' : '[');
		ctl_json_record(&r);
	} else
		l->row(&l->t, &r);
	l->n++;
}

/* Send req and print its records as they come: a JSON array, or a table
 * of ncols columns headed by the cells of head. */
static void
ctl_listing(const char *req, int err_status, int ncols,
    void (*row)(struct table *, const struct record *),
    const char *const *head)
{
	struct listing	 l;

	memset(&l, 0, sizeof(l));
	l.t.ncols = ncols;
	l.row = row;
	if (!ctl_json)
		table_row_v(&l.t, head);	/* the header row */
	ctl_request_each(req, err_status, ctl_listing_record, &l);
	if (ctl_json)
		puts(l.n ? "]" : "[]");
	else
		table_print(&l.t);
}

static const char *const client_head[] = {
	"ID", "CLASS", "STATE", "TRANSPORT", "SOURCE", "LAST-SEEN", "EXPIRES",
	"NODE"
};

/* Does r have the field key (even empty)? */
static int
ctl_has(const struct record *r, const char *key)
{
	int	 i;

	for (i = 0; i < r->n; i++)
		if (strcmp(r->key[i], key) == 0)
			return 1;
	return 0;
}

static void
ctl_client_row(struct table *t, const struct record *r)
{
	char		 src[96], seen[48], exp[48];
	const char	*state = ctl_get(r, "state"), *node;

	/* a node of a cluster names the node holding each client: a NODE
	 * column, added on the first record (only the header is in) */
	if (t->ncols == 7 && t->nrows == 1 && !t->streaming &&
	    ctl_has(r, "node")) {
		free(t->cell[0]);
		free(t->cell[1]);
		free(t->cell[2]);
		free(t->cell[3]);
		free(t->cell[4]);
		free(t->cell[5]);
		free(t->cell[6]);
		free(t->cell);
		t->cell = NULL;
		t->nrows = 0;
		t->ncols = 8;
		table_row_v(t, client_head);
	}
	snprintf(src, sizeof(src), strchr(ctl_get(r, "address"), ':') ?
	    "%s[%s]:%s" : "%s%s:%s", *ctl_get(r, "path") ? "via relay " : "",
	    ctl_get(r, "address"), ctl_get(r, "port"));
	ctl_when(ctl_get(r, "last_seen"), seen, sizeof(seen));
	if (strcmp(state, "online") == 0 || strcmp(state, "offline") == 0)
		ctl_when(ctl_get(r, "expires_at"), exp, sizeof(exp));
	else
		snprintf(exp, sizeof(exp), "-");
	node = *ctl_get(r, "node") ? ctl_get(r, "node") : "-";
	table_row(t, ctl_get(r, "id"), ctl_get(r, "class"), state,
	    ctl_get(r, "transport"), src, seen, exp, node);
}

/* "key: value" lines, keys padded to one width. */
static void
ctl_print_fields(const struct record *r)
{
	char	 when[48];
	int	 i, w = 0;

	for (i = 0; i < r->n; i++)
		if ((int)strlen(r->key[i]) > w)
			w = (int)strlen(r->key[i]);
	for (i = 0; i < r->n; i++) {
		const char	*k = r->key[i], *v = r->val[i];
		size_t		 kl = strlen(k);

		if (strcmp(k, "record") == 0)
			continue;
		if (((kl > 3 && strcmp(k + kl - 3, "_at") == 0) ||
		    strcmp(k, "last_seen") == 0) && strtoll(v, NULL, 10) > 0) {
			time_t	 t = (time_t)strtoll(v, NULL, 10);
			char	 iso[32];

			strftime(iso, sizeof(iso), "%Y-%m-%d %H:%M:%S",
			    localtime(&t));
			printf("%-*s  %s (%s)\n", w, k, iso,
			    ctl_when(v, when, sizeof(when)));
		} else
			printf("%-*s  %s\n", w, k, *v && strcmp(v, "0") != 0 ?
			    v : (kl > 3 && strcmp(k + kl - 3, "_at") == 0) ?
			    "-" : *v ? v : "-");
	}
}

static void
ctl_output(const struct reply *rp, int as_list,
    void (*table)(const struct reply *))
{
	size_t	 i;

	if (ctl_json) {
		if (as_list)
			putchar('[');
		for (i = 0; i < rp->nrec; i++) {
			if (i)
				putchar(',');
			ctl_json_record(&rp->rec[i]);
		}
		if (as_list)
			putchar(']');
		putchar('\n');
	} else if (table)
		table(rp);
	else
		for (i = 0; i < rp->nrec; i++)
			ctl_print_fields(&rp->rec[i]);
}

/* ---- commands ---- */

static int
cmd_clients(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "class", required_argument, NULL, 'c' },
		{ "online", no_argument, NULL, 'o' },
		{ "offline", no_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 }
	};
	struct buf	 req = { 0 };
	int		 ch, online = -1;

	buf_puts(&req, "clients");
	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			proto_put_kv(&req, "class", optarg);
			break;
		case 'o':
		case 'f':
			if (online != -1 && online != (ch == 'o'))
				die(EXIT_USAGE, "clients: --online and "
				    "--offline exclude each other");
			online = ch == 'o';
			break;
		default:
			die(EXIT_USAGE, "clients: usage: clients [--class C] "
			    "[--online | --offline]");
		}
	}
	if (optind != argc)
		die(EXIT_USAGE, "clients: unexpected argument \"%s\"",
		    argv[optind]);
	if (online != -1)
		proto_put_kv(&req, "online", online ? "yes" : "no");
	ctl_listing(req.data, EXIT_REFUSED, 7, ctl_client_row, client_head);
	buf_free(&req);
	return 0;
}

static int
cmd_client(int argc, char **argv)
{
	struct buf	 req = { 0 };
	struct reply	 rp;

	if (argc != 2)
		die(EXIT_USAGE, "client: usage: client ID");
	buf_puts(&req, "client");
	proto_put_kv(&req, "id", argv[1]);
	ctl_request(req.data, &rp, EXIT_REFUSED);
	ctl_output(&rp, 0, NULL);
	ctl_reply_free(&rp);
	buf_free(&req);
	return 0;
}

static int
cmd_stats(int argc, char **argv)
{
	struct reply	 rp;

	(void)argv;
	if (argc != 1)
		die(EXIT_USAGE, "stats: takes no arguments");
	ctl_request("stats", &rp, EXIT_REFUSED);
	ctl_output(&rp, 0, NULL);
	ctl_reply_free(&rp);
	return 0;
}


/* "90", "90s", "15m", "2h", "1d": seconds, or -1. */
static long
ctl_duration(const char *s)
{
	char	*end;
	long	 v, mul = 1;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || v <= 0)
		return -1;
	if (*end != '\0') {
		if (end[1] != '\0')
			return -1;
		switch (*end) {
		case 's':
			break;
		case 'm':
			mul = 60;
			break;
		case 'h':
			mul = 3600;
			break;
		case 'd':
			mul = 86400;
			break;
		default:
			return -1;
		}
	}
	if (v > 0x7fffffff / mul)
		return -1;
	return v * mul;
}

static void
ctl_read_body(FILE *fp, const char *name, struct buf *body)
{
	char	 chunk[8192];
	size_t	 n;

	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0) {
		if (body->len + n > BODY_MAX)
			die(EXIT_USAGE, "publish: body from %s is over %d bytes",
			    name, BODY_MAX);
		if (buf_append(body, chunk, n) == -1)
			die(EXIT_USAGE, "out of memory");
	}
	if (ferror(fp))
		die(EXIT_USAGE, "publish: cannot read %s: %s", name,
		    strerror(errno));
}

static long long
ctl_num(const struct record *r, const char *key)
{
	return strtoll(ctl_get(r, key), NULL, 10);
}

/* Follow a message until no target is pending; 0 if all acked, else 3. */
static int
ctl_wait(const char *id)
{
	struct buf	 req = { 0 };
	struct reply	 rp;
	const struct record *r;
	int		 tty = isatty(STDERR_FILENO), done = 0;
	long long	 targets = 0, acked = 0, expired = 0, failed = 0,
			 cancelled = 0;

	buf_puts(&req, "status");
	proto_put_kv(&req, "id", id);
	proto_put_kv(&req, "targets", "no");
	ctl_following = id;
	while (!done) {
		ctl_request(req.data, &rp, EXIT_REFUSED);
		if (rp.nrec < 1)
			die(EXIT_USAGE, "malformed status reply");
		r = &rp.rec[0];
		targets = ctl_num(r, "targets");
		acked = ctl_num(r, "acked");
		expired = ctl_num(r, "expired");
		failed = ctl_num(r, "failed");
		cancelled = ctl_num(r, "cancelled");
		done = ctl_num(r, "finished_at") != 0;
		if (tty || done)
			fprintf(stderr, "%s%s: acked %lld/%lld, pending %lld "
			    "(offline %lld), expired %lld, failed %lld, "
			    "cancelled %lld%s", tty ? "\r\033[K" : "", id,
			    acked, targets, ctl_num(r, "pending") +
			    ctl_num(r, "sent"), ctl_num(r, "offline"),
			    expired, failed, cancelled, done || !tty ?
			    "\n" : "");
		ctl_reply_free(&rp);
		if (!done)
			usleep(200 * 1000);
	}
	ctl_following = NULL;
	buf_free(&req);
	return acked == targets ? 0 : EXIT_UNDELIVERED;
}

static int
cmd_publish(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "class", required_argument, NULL, 'c' },
		{ "client", required_argument, NULL, 'i' },
		{ "all", no_argument, NULL, 'a' },
		{ "ttl", required_argument, NULL, 't' },
		{ "content-type", required_argument, NULL, 'T' },
		{ "callback", required_argument, NULL, 'u' },
		{ "file", required_argument, NULL, 'f' },
		{ "wait", no_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 }
	};
	struct buf	 req = { 0 }, body = { 0 };
	struct reply	 rp;
	const char	*file = NULL;
	FILE		*fp;
	long		 ttl;
	int		 ch, targets = 0, wait = 0, rv = 0;

	buf_puts(&req, "publish");
	optind = 1;
	while ((ch = getopt_long(argc, argv, "+c:i:at:T:u:f:w", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'c':
			proto_put_kv(&req, "class", optarg);
			targets++;
			break;
		case 'i':
			proto_put_kv(&req, "client", optarg);
			targets++;
			break;
		case 'a':
			proto_put_kv(&req, "all", "yes");
			targets++;
			break;
		case 't':
			if ((ttl = ctl_duration(optarg)) == -1)
				die(EXIT_USAGE, "publish: bad --ttl \"%s\" "
				    "(a number of seconds, or with s, m, h "
				    "or d)", optarg);
			proto_put_kvi(&req, "ttl", ttl);
			break;
		case 'T':
			proto_put_kv(&req, "content_type", optarg);
			break;
		case 'u':
			proto_put_kv(&req, "callback", optarg);
			break;
		case 'f':
			file = optarg;
			break;
		case 'w':
			wait = 1;
			break;
		default:
			die(EXIT_USAGE, "publish: usage: publish (--class C | "
			    "--client ID | --all)... [--ttl DURATION] "
			    "[--content-type T] [--callback URL] [--wait] "
			    "(BODY | --file F | -)");
		}
	}
	if (targets == 0)
		die(EXIT_USAGE, "publish: no target: give --class, --client "
		    "or --all");
	if (file && optind != argc)
		die(EXIT_USAGE, "publish: give the body as an argument or "
		    "with --file, not both");
	if (!file && optind + 1 != argc)
		die(EXIT_USAGE, optind == argc ? "publish: no body (give it "
		    "as an argument, --file F, or - for standard input)" :
		    "publish: more than one body argument");
	if (file) {
		if ((fp = fopen(file, "rb")) == NULL)
			die(EXIT_USAGE, "publish: %s: %s", file,
			    strerror(errno));
		ctl_read_body(fp, file, &body);
		fclose(fp);
	} else if (strcmp(argv[optind], "-") == 0)
		ctl_read_body(stdin, "standard input", &body);
	else if (buf_puts(&body, argv[optind]) == -1)
		die(EXIT_USAGE, "out of memory");
	if (body.len > BODY_MAX)
		die(EXIT_USAGE, "publish: body is over %d bytes", BODY_MAX);
	if (body.len == 0 || memchr(body.data, '\0', body.len) != NULL)
		die(EXIT_USAGE, body.len ? "publish: the body holds a NUL "
		    "byte: control messages are text" : "publish: the body "
		    "is empty");
	proto_put_kv(&req, "body", body.data);
	ctl_request(req.data, &rp, EXIT_USAGE);
	if (rp.nrec < 1)
		die(EXIT_USAGE, "malformed publish reply");
	if (ctl_json) {
		ctl_json_record(&rp.rec[0]);
		putchar('\n');
	} else
		printf("%s\n", ctl_get(&rp.rec[0], "id"));
	fflush(stdout);
	if (wait)
		rv = ctl_wait(ctl_get(&rp.rec[0], "id"));
	ctl_reply_free(&rp);
	buf_free(&req);
	buf_free(&body);
	return rv;
}

/* A time in ms since the epoch, relative, or "-" for 0. */
static const char *
ctl_when_ms(const char *v, char *out, size_t len)
{
	char	 s[32];

	if (strtoll(v, NULL, 10) == 0)
		return snprintf(out, len, "-"), out;
	snprintf(s, sizeof(s), "%lld", strtoll(v, NULL, 10) / 1000);
	return ctl_when(s, out, len);
}

static const char *const target_head[] = {
	"CLIENT", "STATE", "ATTEMPTS", "LAST-STATUS", "LAST-ATTEMPT", "ACKED"
};

static void
ctl_target_row(struct table *t, const struct record *r)
{
	char	 last[48], acked[48];

	ctl_when_ms(ctl_get(r, "last_attempt"), last, sizeof(last));
	if (ctl_num(r, "acked_at"))
		ctl_when(ctl_get(r, "acked_at"), acked, sizeof(acked));
	else
		snprintf(acked, sizeof(acked), "-");
	table_row(t, ctl_get(r, "client"), ctl_get(r, "state"),
	    ctl_get(r, "attempts"), ctl_num(r, "last_status") ?
	    ctl_get(r, "last_status") : "-", last, acked);
}

/* status: the message's record first, then its targets as a listing */
static void
ctl_status_record(char *line, void *arg)
{
	struct listing	*l = arg;
	struct record	 r;

	if (l->row != NULL) {
		ctl_listing_record(line, l);
		return;
	}
	ctl_parse_record(line, &r);
	if (ctl_json) {
		printf("{\"message\":");
		ctl_json_record(&r);
		printf(",\"targets\":");
	} else {
		ctl_print_fields(&r);
		putchar('\n');
		table_row_v(&l->t, target_head);
	}
	l->row = ctl_target_row;
}

static int
cmd_status(int argc, char **argv)
{
	struct buf	 req = { 0 };
	struct listing	 l;

	if (argc != 2)
		die(EXIT_USAGE, "status: usage: status ID");
	buf_puts(&req, "status");
	proto_put_kv(&req, "id", argv[1]);
	memset(&l, 0, sizeof(l));
	l.t.ncols = 6;
	ctl_request_each(req.data, EXIT_REFUSED, ctl_status_record, &l);
	if (ctl_json)
		printf("%s}\n", l.n ? "]" : "[]");
	else
		table_print(&l.t);
	buf_free(&req);
	return 0;
}

static void
ctl_print_messages(const struct reply *rp)
{
	struct table	 t = { .ncols = 10 };
	char		 created[48];
	size_t		 i;

	table_row(&t, "ID", "STATE", "CREATED", "TARGETS", "ACKED", "PENDING",
	    "EXPIRED", "FAILED", "CANCELLED", "SELECTOR");
	for (i = 0; i < rp->nrec; i++) {
		const struct record *r = &rp->rec[i];
		char pending[24];

		snprintf(pending, sizeof(pending), "%lld",
		    ctl_num(r, "pending") + ctl_num(r, "sent"));
		ctl_when(ctl_get(r, "created_at"), created, sizeof(created));
		table_row(&t, ctl_get(r, "id"), ctl_get(r, "state"), created,
		    ctl_get(r, "targets"), ctl_get(r, "acked"), pending,
		    ctl_get(r, "expired"), ctl_get(r, "failed"),
		    ctl_get(r, "cancelled"), ctl_get(r, "selector"));
	}
	table_print(&t);
}

static int
cmd_messages(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "limit", required_argument, NULL, 'l' },
		{ NULL, 0, NULL, 0 }
	};
	struct buf	 req = { 0 };
	struct reply	 rp;
	int		 ch;

	buf_puts(&req, "messages");
	optind = 1;
	while ((ch = getopt_long(argc, argv, "l:", longopts, NULL)) != -1) {
		if (ch != 'l')
			die(EXIT_USAGE, "messages: usage: messages [--limit N]");
		proto_put_kv(&req, "limit", optarg);
	}
	if (optind != argc)
		die(EXIT_USAGE, "messages: unexpected argument \"%s\"",
		    argv[optind]);
	ctl_request(req.data, &rp, EXIT_USAGE);
	ctl_output(&rp, 1, ctl_print_messages);
	ctl_reply_free(&rp);
	buf_free(&req);
	return 0;
}

static int
cmd_cancel(int argc, char **argv)
{
	struct buf	 req = { 0 };
	struct reply	 rp;

	if (argc != 2)
		die(EXIT_USAGE, "cancel: usage: cancel ID");
	buf_puts(&req, "cancel");
	proto_put_kv(&req, "id", argv[1]);
	ctl_request(req.data, &rp, EXIT_REFUSED);
	if (ctl_json)
		ctl_output(&rp, 0, NULL);
	else
		printf("%s: %s pending targets cancelled, %s in flight\n",
		    ctl_get(&rp.rec[0], "id"), ctl_get(&rp.rec[0], "cancelled"),
		    ctl_get(&rp.rec[0], "in_flight"));
	ctl_reply_free(&rp);
	buf_free(&req);
	return 0;
}

/* ---- user add|del|list ---- */

#define PASSWORD_MAX	256
#define PASSWORD_GEN	20	/* characters of a generated password */

/* Read one line (the password) from fp into pw; strips the line end. */
static void
ctl_read_password(FILE *fp, const char *name, char *pw, size_t len)
{
	size_t	 n;

	if (fgets(pw, (int)len, fp) == NULL)
		die(EXIT_USAGE, "user add: no password on %s", name);
	n = strcspn(pw, "\r\n");
	if (pw[n] == '\0' && n == len - 1)
		die(EXIT_USAGE, "user add: the password on %s is over %d "
		    "characters", name, PASSWORD_MAX);
	pw[n] = '\0';
}

/* Ask on the terminal, without echo, twice. */
static void
ctl_prompt_password(const char *id, char *pw, size_t len)
{
	struct termios	 old, quiet;
	char		 again[PASSWORD_MAX + 2];
	FILE		*tty;

	if ((tty = fopen("/dev/tty", "r+")) == NULL)
		die(EXIT_USAGE, "user add: no terminal to ask for the password "
		    "(use --password-file or --generate)");
	if (tcgetattr(fileno(tty), &old) == -1)
		die(EXIT_USAGE, "user add: /dev/tty: %s", strerror(errno));
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	tcsetattr(fileno(tty), TCSAFLUSH, &quiet);
	fprintf(tty, "Password for %s: ", id);
	fflush(tty);
	if (fgets(pw, (int)len, tty) == NULL)
		pw[0] = '\0';
	fprintf(tty, "\nAgain: ");
	fflush(tty);
	if (fgets(again, sizeof(again), tty) == NULL)
		again[0] = '\0';
	fputc('\n', tty);
	tcsetattr(fileno(tty), TCSAFLUSH, &old);
	fclose(tty);
	pw[strcspn(pw, "\r\n")] = '\0';
	again[strcspn(again, "\r\n")] = '\0';
	if (strcmp(pw, again) != 0)
		die(EXIT_USAGE, "user add: the passwords differ");
}

/* A random password of PASSWORD_GEN letters and digits (~119 bits). */
static void
ctl_generate_password(char *pw)
{
	static const char	 set[] = "ABCDEFGHJKLMNPQRSTUVWXYZ"
	    "abcdefghijkmnopqrstuvwxyz23456789";
	unsigned char		 r[PASSWORD_GEN];
	size_t			 i;

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		die(EXIT_USAGE, "user add: getrandom: %s", strerror(errno));
	for (i = 0; i < PASSWORD_GEN; i++)
		pw[i] = set[r[i] % (sizeof(set) - 1)];
	pw[PASSWORD_GEN] = '\0';
}

static const char *const user_head[] = { "ID", "REALM", "ADDED" };

static void
ctl_user_row(struct table *t, const struct record *r)
{
	char	 when[48];

	ctl_when(ctl_get(r, "created_at"), when, sizeof(when));
	table_row(t, ctl_get(r, "id"), ctl_get(r, "realm"), when);
}

#define IMPORT_BATCH	100	/* users per request (one transaction; two
				   words each, under PROTO_ARGS_MAX) */

/* Send one batch of user import; adds its count to *done. */
static void
ctl_import_batch(struct buf *req, int n, int *done, const char *name,
    int first_line)
{
	struct reply	 rp;

	if (n == 0)
		return;
	snprintf(ctl_context, sizeof(ctl_context), "%s: the entries from "
	    "line %d on were refused (%d imported before): ", name,
	    first_line, *done);
	ctl_request(req->data, &rp, EXIT_REFUSED);
	ctl_context[0] = '\0';
	*done += n;
	ctl_reply_free(&rp);
	req->len = 0;
	buf_puts(req, "user import");
}

/* user import [FILE|-]: lines of "ID PASSWORD"; # comments, blank lines */
static int
cmd_user_import(int argc, char **argv)
{
	struct buf	 req = { 0 };
	FILE		*fp = stdin;
	const char	*name = "standard input";
	char		 line[PASSWORD_MAX + 256], *id, *pw, *end;
	int		 lineno = 0, n = 0, done = 0, first = 0;

	if (argc > 3)
		die(EXIT_USAGE, "user import: usage: user import [FILE | -]");
	if (argc == 3 && strcmp(argv[2], "-") != 0) {
		name = argv[2];
		if ((fp = fopen(name, "r")) == NULL)
			die(EXIT_USAGE, "user import: %s: %s", name,
			    strerror(errno));
	}
	buf_puts(&req, "user import");
	while (fgets(line, sizeof(line), fp) != NULL) {
		lineno++;
		if (strchr(line, '\n') == NULL && !feof(fp))
			die(EXIT_USAGE, "%s:%d: line too long", name, lineno);
		line[strcspn(line, "\r\n")] = '\0';
		id = line + strspn(line, " \t");
		if (*id == '\0' || *id == '#')
			continue;
		pw = id + strcspn(id, " \t");
		if (*pw == '\0')
			die(EXIT_USAGE, "%s:%d: expected \"ID PASSWORD\"", name,
			    lineno);
		*pw++ = '\0';
		pw += strspn(pw, " \t");
		end = pw + strlen(pw);
		while (end > pw && (end[-1] == ' ' || end[-1] == '\t'))
			*--end = '\0';
		if (*pw == '\0')
			die(EXIT_USAGE, "%s:%d: expected \"ID PASSWORD\"", name,
			    lineno);
		if (n == 0)
			first = lineno;
		proto_put_kv(&req, "id", id);
		proto_put_kv(&req, "password", pw);
		if (++n == IMPORT_BATCH) {
			ctl_import_batch(&req, n, &done, name, first);
			n = 0;
		}
	}
	if (ferror(fp))
		die(EXIT_USAGE, "user import: %s: %s", name, strerror(errno));
	ctl_import_batch(&req, n, &done, name, first);
	if (fp != stdin)
		fclose(fp);
	explicit_bzero(line, sizeof(line));
	explicit_bzero(req.data, req.len);
	buf_free(&req);
	if (ctl_json)
		printf("{\"imported\":%d}\n", done);
	else
		printf("%d users imported\n", done);
	return 0;
}

static int
cmd_user(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "password-file", required_argument, NULL, 'p' },
		{ "generate", no_argument, NULL, 'g' },
		{ NULL, 0, NULL, 0 }
	};
	struct buf	 req = { 0 };
	struct reply	 rp;
	const char	*sub = argc > 1 ? argv[1] : "", *file = NULL;
	char		 pw[PASSWORD_MAX + 2];
	FILE		*fp;
	int		 ch, generate = 0;

	if (strcmp(sub, "list") == 0) {
		if (argc > 3)
			die(EXIT_USAGE, "user list: usage: user list [ID]");
		buf_puts(&req, "user list");
		if (argc == 3)
			proto_put_kv(&req, "id", argv[2]);
		ctl_listing(req.data, EXIT_REFUSED, 3, ctl_user_row,
		    user_head);
		buf_free(&req);
		return 0;
	}
	if (strcmp(sub, "import") == 0)
		return cmd_user_import(argc, argv);
	if (strcmp(sub, "del") == 0) {
		if (argc != 3)
			die(EXIT_USAGE, "user del: usage: user del ID");
		buf_puts(&req, "user del");
		proto_put_kv(&req, "id", argv[2]);
		ctl_request(req.data, &rp, EXIT_REFUSED);
		if (ctl_json)
			ctl_output(&rp, 0, NULL);
		else if (rp.nrec > 0 &&
		    strcmp(ctl_get(&rp.rec[0], "unregistered"), "1") == 0)
			printf("%s: credentials removed, registration ended\n",
			    argv[2]);
		ctl_reply_free(&rp);
		buf_free(&req);
		return 0;
	}
	if (strcmp(sub, "add") != 0)
		die(EXIT_USAGE, "user: usage: user add ID [--password-file F |"
		    " --generate] | user del ID | user list [ID] | user import "
		    "[FILE]");
	/* parse from "add": it stands where a program name would; optind 0
	 * makes glibc start afresh, so options may follow the ID */
	argc--;
	argv++;
	argv[0] = "sippushctl: user add";
	optind = 0;
	while ((ch = getopt_long(argc, argv, "p:g", longopts, NULL)) != -1) {
		switch (ch) {
		case 'p':
			file = optarg;
			break;
		case 'g':
			generate = 1;
			break;
		default:
			die(EXIT_USAGE, "user add: usage: user add ID "
			    "[--password-file F | --generate]");
		}
	}
	if (optind != argc - 1)
		die(EXIT_USAGE, "user add: usage: user add ID "
		    "[--password-file F | --generate]");
	if (file && generate)
		die(EXIT_USAGE, "user add: --password-file and --generate "
		    "exclude each other");
	if (generate)
		ctl_generate_password(pw);
	else if (file && strcmp(file, "-") != 0) {
		if ((fp = fopen(file, "r")) == NULL)
			die(EXIT_USAGE, "user add: %s: %s", file,
			    strerror(errno));
		ctl_read_password(fp, file, pw, sizeof(pw));
		fclose(fp);
	} else if (file || !isatty(STDIN_FILENO))
		ctl_read_password(stdin, "standard input", pw, sizeof(pw));
	else
		ctl_prompt_password(argv[optind], pw, sizeof(pw));
	buf_puts(&req, "user add");
	proto_put_kv(&req, "id", argv[optind]);
	proto_put_kv(&req, "password", pw);
	ctl_request(req.data, &rp, EXIT_REFUSED);
	if (ctl_json)
		ctl_output(&rp, 0, NULL);
	else if (generate)
		printf("%s\n", pw);
	explicit_bzero(pw, sizeof(pw));
	explicit_bzero(req.data, req.len);
	ctl_reply_free(&rp);
	buf_free(&req);
	return 0;
}

static const char *const token_head[] = { "NAME", "SCOPES", "ADDED" };

static void
ctl_token_row(struct table *t, const struct record *r)
{
	char	 when[48];

	ctl_when(ctl_get(r, "created_at"), when, sizeof(when));
	table_row(t, ctl_get(r, "name"), ctl_get(r, "scopes"), when);
}

#define TOKEN_USAGE	"token add NAME --scope publish,read,admin | " \
			"token del NAME | token list"

/* token add NAME --scope S | token del NAME | token list: the HTTP
 * API's bearer tokens; add prints the secret, once. */
static int
cmd_token(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "scope", required_argument, NULL, 'S' },
		{ NULL, 0, NULL, 0 }
	};
	struct buf	 req = { 0 };
	struct reply	 rp;
	const char	*sub = argc > 1 ? argv[1] : "", *scope = NULL;
	int		 ch;

	if (strcmp(sub, "list") == 0) {
		if (argc != 2)
			die(EXIT_USAGE, "token list: usage: token list");
		ctl_listing("token list", EXIT_REFUSED, 3, ctl_token_row,
		    token_head);
		return 0;
	}
	if (strcmp(sub, "del") == 0) {
		if (argc != 3)
			die(EXIT_USAGE, "token del: usage: token del NAME");
		buf_puts(&req, "token del");
		proto_put_kv(&req, "name", argv[2]);
		ctl_request(req.data, &rp, EXIT_REFUSED);
		if (ctl_json)
			ctl_output(&rp, 0, NULL);
		ctl_reply_free(&rp);
		buf_free(&req);
		return 0;
	}
	if (strcmp(sub, "add") != 0)
		die(EXIT_USAGE, "token: usage: " TOKEN_USAGE);
	argc--;
	argv++;
	argv[0] = "sippushctl: token add";
	optind = 0;
	while ((ch = getopt_long(argc, argv, "S:", longopts, NULL)) != -1) {
		if (ch != 'S')
			die(EXIT_USAGE, "token add: usage: token add NAME "
			    "--scope publish,read,admin");
		scope = optarg;
	}
	if (optind != argc - 1 || scope == NULL)
		die(EXIT_USAGE, "token add: usage: token add NAME "
		    "--scope publish,read,admin");
	buf_puts(&req, "token add");
	proto_put_kv(&req, "name", argv[optind]);
	proto_put_kv(&req, "scopes", scope);
	ctl_request(req.data, &rp, EXIT_REFUSED);
	if (ctl_json)
		ctl_output(&rp, 0, NULL);
	else if (rp.nrec > 0)
		printf("%s\n", ctl_get(&rp.rec[0], "token"));
	ctl_reply_free(&rp);
	buf_free(&req);
	return 0;
}

static const char *const node_head[] = {
	"NODE", "STATE", "EPOCH", "ADDRESS", "LEASE", "CLIENTS", "JOINED"
};

static void
ctl_node_row(struct table *t, const struct record *r)
{
	char		 lease[32], name[80], joined[48];
	long long	 ms = strtoll(ctl_get(r, "lease_ms"), NULL, 10);

	if (ms >= 0)
		snprintf(lease, sizeof(lease), "%lld.%llds", ms / 1000,
		    ms % 1000 / 100);
	else
		snprintf(lease, sizeof(lease), "lapsed %llds", -ms / 1000);
	snprintf(name, sizeof(name), "%s%s", ctl_get(r, "node"),
	    strcmp(ctl_get(r, "self"), "yes") == 0 ? "*" : "");
	ctl_when(ctl_get(r, "joined_at"), joined, sizeof(joined));
	table_row(t, name, ctl_get(r, "state"), ctl_get(r, "epoch"),
	    ctl_get(r, "address"), lease, ctl_get(r, "clients"), joined);
}

/* nodes: the cluster's nodes (the one answering marked *). */
static int
cmd_nodes(int argc, char **argv)
{
	(void)argv;
	if (argc != 1)
		die(EXIT_USAGE, "nodes: takes no arguments");
	ctl_listing("nodes", EXIT_REFUSED, 7, ctl_node_row, node_head);
	return 0;
}

/* drain NODE [--off]: NODE sends its clients to other nodes (503), or
 * serves again. */
static int
cmd_drain(int argc, char **argv)
{
	struct buf	 req = { 0 };
	struct reply	 rp;
	int		 off = 0;

	if (argc == 3 && strcmp(argv[2], "--off") == 0)
		off = 1;
	else if (argc != 2 || argv[1][0] == '-')
		die(EXIT_USAGE, "drain: usage: drain NODE [--off]");
	buf_puts(&req, "drain");
	proto_put_kv(&req, "node", argv[1]);
	if (off)
		proto_put_kv(&req, "off", "yes");
	ctl_request(req.data, &rp, EXIT_REFUSED);
	if (ctl_json)
		ctl_output(&rp, 0, NULL);
	else
		printf("node %s: %s\n", argv[1], off ? "up (drain ended)" :
		    "draining: its clients move to other nodes");
	ctl_reply_free(&rp);
	buf_free(&req);
	return 0;
}

static const struct {
	const char	*name;
	int		(*fn)(int, char **);
} commands[] = {
	{ "nodes", cmd_nodes },
	{ "drain", cmd_drain },
	{ "clients", cmd_clients },
	{ "client", cmd_client },
	{ "stats", cmd_stats },
	{ "publish", cmd_publish },
	{ "status", cmd_status },
	{ "messages", cmd_messages },
	{ "cancel", cmd_cancel },
	{ "user", cmd_user },
	{ "token", cmd_token },
};

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 }
	};
	static char	 prog[64];
	size_t		 i;
	int		 ch, j, k;

	if ((ctl_socket = getenv("SIPPUSH_SOCKET")) == NULL ||
	    *ctl_socket == '\0')
		ctl_socket = SIPPUSH_SOCKET;
	/* getopt's complaints start with argv[0]: ours, not a path */
	argv[0] = "sippushctl";
	/* global options before the command */
	while ((ch = getopt_long(argc, argv, "+s:jhV", longopts, NULL)) != -1) {
		switch (ch) {
		case 's':
			ctl_socket = optarg;
			break;
		case 't':
			if (strcmp(optarg, "0") == 0)
				ctl_timeout = 0;
			else if ((ctl_timeout = ctl_duration(optarg)) == -1)
				die(EXIT_USAGE, "bad --timeout \"%s\" (a number "
				    "of seconds, or with s, m, h or d; 0: no "
				    "timeout)", optarg);
			break;
		case 'j':
			ctl_json = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("sippushctl %s\n", SIPPUSH_VERSION);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0) {
		usage(stderr);
		return EXIT_USAGE;
	}
	/* --json / -j may also follow the command */
	for (j = k = 1; j < argc; j++)
		if (strcmp(argv[j], "--json") == 0 || strcmp(argv[j], "-j") == 0)
			ctl_json = 1;
		else
			argv[k++] = argv[j];
	argc = k;
	argv[argc] = NULL;
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[0], commands[i].name) == 0) {
			/* "sippushctl: clients: unrecognized option ..." */
			snprintf(prog, sizeof(prog), "sippushctl: %s",
			    commands[i].name);
			argv[0] = prog;
			return commands[i].fn(argc, argv);
		}
	fprintf(stderr, "sippushctl: unknown command \"%s\"\n", argv[0]);
	usage(stderr);
	return EXIT_USAGE;
}
