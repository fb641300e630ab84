/*
 * sippushctl.c: the admin CLI. It speaks the control protocol (proto.h)
 * to sippushd over its local socket and prints the replies as aligned
 * tables for people or as JSON for scripts.
 *
 * Exit status: 0 success, 1 the daemon refused the request (for example
 * no such client), 2 bad usage or the daemon cannot be reached.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
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
#define RECORD_FIELDS	64

struct record {
	int	 n;
	char	*key[RECORD_FIELDS];
	char	*val[RECORD_FIELDS];
};

struct reply {
	struct buf	 raw;		/* the reply, split in place */
	struct record	*rec;
	size_t		 nrec;
};

static const char	*ctl_socket;
static int		 ctl_json;

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: sippushctl [-s socket] [--json] command [args]\n"
	    "\n"
	    "commands:\n"
	    "  clients [--class C] [--online | --offline]\n"
	    "                       list the application-information table\n"
	    "  client ID            show one client\n"
	    "  stats                show counts\n"
	    "\n"
	    "options:\n"
	    "  -s, --socket PATH    control socket (default $SIPPUSH_SOCKET "
	    "or\n"
	    "                       %s)\n"
	    "  -j, --json           print JSON instead of a table\n"
	    "  -h, --help           show this help\n"
	    "  -V, --version        show the version\n"
	    "\n"
	    "exit status: 0 done, 1 refused by sippushd, 2 bad usage or "
	    "sippushd\n"
	    "not reachable\n", SIPPUSH_SOCKET);
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

static int
ctl_connect(void)
{
	struct sockaddr_un	 sun;
	int			 fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(ctl_socket) >= sizeof(sun.sun_path))
		die(EXIT_USAGE, "%s: socket path too long", ctl_socket);
	strcpy(sun.sun_path, ctl_socket);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		die(EXIT_USAGE, "socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
		return fd;
	switch (errno) {
	case ENOENT:
	case ECONNREFUSED:
		die(EXIT_USAGE, "sippushd is not running (nothing answers "
		    "on %s)", ctl_socket);
	case EACCES:
	case EPERM:
		die(EXIT_USAGE, "permission denied on %s: run as root or as "
		    "the user sippushd runs as", ctl_socket);
	default:
		die(EXIT_USAGE, "%s: %s", ctl_socket, strerror(errno));
	}
}

/* Read until the buffer holds a complete line at or after `from`. */
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
		if (n <= 0)
			return NULL;
		b->len += (size_t)n;
		b->data[b->len] = '\0';
	}
}

static void
ctl_write(int fd, const char *p, size_t n)
{
	ssize_t	 w;

	while (n > 0) {
		w = write(fd, p, n);
		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0)
			die(EXIT_USAGE, "lost the connection to sippushd: %s",
			    strerror(errno));
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
 * the reply. On "ERR" print it and exit 1.
 */
static void
ctl_request(const char *req, struct reply *rp)
{
	struct buf	 b = { 0 };
	char		*nl, *line, *p;
	size_t		 start;
	int		 fd;

	fd = ctl_connect();
	if ((nl = ctl_readline(fd, &b, 0)) == NULL)
		die(EXIT_USAGE, "sippushd closed the connection without a "
		    "greeting: run as root or as the user sippushd runs as");
	if (strncmp(b.data, "SIPPUSH 1 ", 10) != 0)
		die(EXIT_USAGE, "unexpected greeting from %s (not a sippushd "
		    "of protocol 1?)", ctl_socket);
	buf_consume(&b, (size_t)(nl - b.data) + 1);
	ctl_write(fd, req, strlen(req));
	ctl_write(fd, "\n", 1);

	if ((nl = ctl_readline(fd, &b, 0)) == NULL)
		die(EXIT_USAGE, "sippushd closed the connection");
	*nl = '\0';
	if (strncmp(b.data, "ERR", 3) == 0)
		die(EXIT_REFUSED, "%s", b.data[3] ? b.data + 4 : "refused");
	if (strcmp(b.data, "OK") != 0)
		die(EXIT_USAGE, "malformed reply from sippushd");
	start = (size_t)(nl - b.data) + 1;
	for (;;) {
		if ((nl = ctl_readline(fd, &b, start)) == NULL)
			die(EXIT_USAGE, "reply from sippushd cut short");
		*nl = '\0';
		if (strcmp(b.data + start, ".") == 0)
			break;
		start = (size_t)(nl - b.data) + 1;
	}
	close(fd);

	/* split the records in place, now that the buffer stops moving */
	memset(rp, 0, sizeof(*rp));
	rp->raw = b;
	line = b.data + 3;
	while (strcmp(line, ".") != 0) {
		p = line + strlen(line) + 1;
		rp->rec = realloc(rp->rec, (rp->nrec + 1) * sizeof(*rp->rec));
		if (rp->rec == NULL)
			die(EXIT_USAGE, "out of memory");
		ctl_parse_record(line, &rp->rec[rp->nrec++]);
		line = p;
	}
}

static void
ctl_reply_free(struct reply *rp)
{
	buf_free(&rp->raw);
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
	"user_agent", "version", NULL
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

#define TABLE_COLS	7

static void
ctl_print_clients(const struct reply *rp)
{
	static const char *const head[TABLE_COLS] = {
		"ID", "CLASS", "STATE", "TRANSPORT", "SOURCE", "LAST-SEEN",
		"EXPIRES"
	};
	char		(*cell)[TABLE_COLS][96];
	size_t		 i, w[TABLE_COLS];
	int		 j;

	if ((cell = calloc(rp->nrec + 1, sizeof(*cell))) == NULL)
		die(EXIT_USAGE, "out of memory");
	for (j = 0; j < TABLE_COLS; j++)
		snprintf(cell[0][j], sizeof(cell[0][j]), "%s", head[j]);
	for (i = 0; i < rp->nrec; i++) {
		const struct record *r = &rp->rec[i];
		const char *state = ctl_get(r, "state");

		snprintf(cell[i + 1][0], 96, "%s", ctl_get(r, "id"));
		snprintf(cell[i + 1][1], 96, "%s", ctl_get(r, "class"));
		snprintf(cell[i + 1][2], 96, "%s", state);
		snprintf(cell[i + 1][3], 96, "%s", ctl_get(r, "transport"));
		snprintf(cell[i + 1][4], 96, strchr(ctl_get(r, "address"), ':')
		    ? "[%s]:%s" : "%s:%s", ctl_get(r, "address"),
		    ctl_get(r, "port"));
		ctl_when(ctl_get(r, "last_seen"), cell[i + 1][5], 96);
		if (strcmp(state, "online") == 0 ||
		    strcmp(state, "offline") == 0)
			ctl_when(ctl_get(r, "expires_at"), cell[i + 1][6], 96);
		else
			snprintf(cell[i + 1][6], 96, "-");
	}
	memset(w, 0, sizeof(w));
	for (i = 0; i <= rp->nrec; i++)
		for (j = 0; j < TABLE_COLS; j++)
			if (strlen(cell[i][j]) > w[j])
				w[j] = strlen(cell[i][j]);
	for (i = 0; i <= rp->nrec; i++) {
		for (j = 0; j < TABLE_COLS - 1; j++)
			printf("%-*s  ", (int)w[j], cell[i][j]);
		printf("%s\n", cell[i][TABLE_COLS - 1]);
	}
	free(cell);
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
		const char *k = r->key[i], *v = r->val[i];

		if (strcmp(k, "registered_at") == 0 ||
		    strcmp(k, "expires_at") == 0 ||
		    strcmp(k, "last_seen") == 0) {
			time_t	 t = (time_t)strtoll(v, NULL, 10);
			char	 iso[32];

			strftime(iso, sizeof(iso), "%Y-%m-%d %H:%M:%S",
			    localtime(&t));
			printf("%-*s  %s (%s)\n", w, k, iso,
			    ctl_when(v, when, sizeof(when)));
		} else
			printf("%-*s  %s\n", w, k, *v ? v : "-");
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
	struct reply	 rp;
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
	ctl_request(req.data, &rp);
	ctl_output(&rp, 1, ctl_print_clients);
	ctl_reply_free(&rp);
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
	ctl_request(req.data, &rp);
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
	ctl_request("stats", &rp);
	ctl_output(&rp, 0, NULL);
	ctl_reply_free(&rp);
	return 0;
}

static const struct {
	const char	*name;
	int		(*fn)(int, char **);
} commands[] = {
	{ "clients", cmd_clients },
	{ "client", cmd_client },
	{ "stats", cmd_stats },
};

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	size_t	 i;
	int	 ch, j, k;

	if ((ctl_socket = getenv("SIPPUSH_SOCKET")) == NULL ||
	    *ctl_socket == '\0')
		ctl_socket = SIPPUSH_SOCKET;
	/* global options before the command */
	while ((ch = getopt_long(argc, argv, "+s:jhV", longopts, NULL)) != -1) {
		switch (ch) {
		case 's':
			ctl_socket = optarg;
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
		if (strcmp(argv[0], commands[i].name) == 0)
			return commands[i].fn(argc, argv);
	fprintf(stderr, "sippushctl: unknown command \"%s\"\n", argv[0]);
	usage(stderr);
	return EXIT_USAGE;
}
