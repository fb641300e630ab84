/*
 * control.c: the local control socket that sippushctl talks to.
 *
 * A Unix stream socket, mode 0600, whose peers must be root or the
 * daemon's own user (SO_PEERCRED); with control.group set, the socket is
 * given to that group, mode 0660, and members of the group are admitted
 * too. A refused peer reads "ERR permission denied" and is closed.
 * Each connection gets the greeting,
 * then sends request lines and reads replies (protocol in proto.h).
 * Connections are non-blocking and served from the daemon's event loop;
 * a reply is built in the connection's output buffer, whole, except a
 * listing of the client table, which is produced CONTROL_CHUNK bytes at
 * a time as the peer reads it (struct ctl_stream), so that listing a
 * million clients neither doubles the daemon's memory nor stops SIP for
 * the time it takes the peer to read it. A peer that sends requests
 * without reading the replies is not read from while more than
 * CONTROL_OUT_HIGH bytes of replies wait for it.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <sofia-sip/su_wait.h>

#include "sippushd.h"
#include "command.h"
#include "webhook.h"

#define CONTROL_CONN_MAX	32
#define CONTROL_OUT_HIGH	(4 * 1024 * 1024)
#define CONTROL_CHUNK		(256 * 1024)	/* a stream's step */
#define CONTROL_CHUNKS_PER_EVENT 4	/* then SIP gets its turn */
#define CONTROL_READ		65536
#define CONTROL_GROUPS_MAX	1024	/* peer's groups read (SO_PEERGROUPS) */
#define CONTROL_REFUSED_LOG	10	/* s between refusal reports */

/* A reply produced step by step: next() appends about CONTROL_CHUNK
 * bytes and returns 1, ends the reply and returns 0, returns
 * CTL_STREAM_WAIT when the rest is being read by the writer (it then
 * calls wake(wake_arg) once it can go on, never from within next), or
 * -1 when it cannot go on (the connection is closed: the reply is cut
 * short). free() may come while it waits. */
#define CTL_STREAM_WAIT	2
struct ctl_stream {
	int	(*next)(struct ctl_stream *, struct buf *out);
	void	(*free)(struct ctl_stream *);
	void	(*wake)(void *);
	void	*wake_arg;
};

struct conn {
	int			 fd;
	int			 index;		/* su_root registration */
	su_wait_t		 wait[1];
	struct buf		 in;
	struct buf		 out;
	size_t			 out_off;	/* written of out */
	struct ctl_stream	*more;		/* the reply goes on */
	int			 more_wait;	/* more waits for the writer */
	struct cmd_call		*call;		/* the command in progress */
	int			 in_line;	/* in control_line */
	int			 closing;	/* close once out is written */
};

static const struct config	*ctl_cfg;
static su_root_t		*ctl_root;
static int			 ctl_fd = -1;
static int			 ctl_index;
static su_wait_t		 ctl_wait[1];
static struct conn		*ctl_conns[CONTROL_CONN_MAX];
static int64_t			 ctl_started;
static int64_t			 ctl_refused_logged;
static unsigned			 ctl_refused;

static int control_accept(su_root_magic_t *, su_wait_t *, su_wakeup_arg_t *);
static int control_event(su_root_magic_t *, su_wait_t *, su_wakeup_arg_t *);
static int control_flush(struct conn *);
static void control_process(struct conn *);

static void
control_close(struct conn *c)
{
	int	 i;

	for (i = 0; i < CONTROL_CONN_MAX; i++)
		if (ctl_conns[i] == c)
			ctl_conns[i] = NULL;
	su_root_deregister(ctl_root, c->index);
	close(c->fd);
	buf_free(&c->in);
	buf_free(&c->out);
	if (c->more)
		c->more->free(c->more);
	if (c->call != NULL)
		cmd_detach(c->call);
	free(c);
}

/* Is another daemon answering on this socket path? */
static int
control_in_use(const struct sockaddr_un *sun)
{
	int	 fd, rv;

	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1)
		return 0;
	rv = connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0;
	close(fd);
	return rv;
}

/*
 * The socket's folder: created if missing (one level), mode 0750, given
 * to control.group if set. An existing folder is checked: one that others
 * may write without the sticky bit lets anybody replace the socket (an
 * error); one that control.group's members cannot enter makes the group
 * useless (a warning). 0, or -1 with err.
 */
static int
control_folder(const struct config *cfg, const char *dir, char *err,
    size_t errlen)
{
	struct stat	 sb;

	if (stat(dir, &sb) == -1) {
		if (errno != ENOENT || mkdir(dir, 0750) == -1) {
			snprintf(err, errlen, "%s: cannot create folder %s: "
			    "%s", cfg->ctl_socket, dir, strerror(errno));
			return -1;
		}
		if (cfg->ctl_gid != -1 && chown(dir, (uid_t)-1,
		    (gid_t)cfg->ctl_gid) == -1)
			log_warn("control: cannot give folder %s to group %s: "
			    "%s", dir, cfg->ctl_group, strerror(errno));
		return 0;
	}
	if (!S_ISDIR(sb.st_mode)) {
		snprintf(err, errlen, "%s: %s is not a folder",
		    cfg->ctl_socket, dir);
		return -1;
	}
	if ((sb.st_mode & S_IWOTH) && !(sb.st_mode & S_ISVTX)) {
		snprintf(err, errlen, "%s: folder %s is writable by anybody "
		    "(mode %04o): anybody could replace the socket; use a "
		    "folder of sippushd's own (chmod o-w, or the sticky bit)",
		    cfg->ctl_socket, dir, (unsigned)(sb.st_mode & 07777));
		return -1;
	}
	if (cfg->ctl_gid != -1 && !(sb.st_mode & S_IXOTH) &&
	    !((sb.st_mode & S_IXGRP) && sb.st_gid == (gid_t)cfg->ctl_gid))
		log_warn("control: members of group %s cannot reach %s: folder "
		    "%s (mode %04o, gid %u) is closed to them; chgrp it to "
		    "%s and chmod g+x", cfg->ctl_group, cfg->ctl_socket, dir,
		    (unsigned)(sb.st_mode & 07777), (unsigned)sb.st_gid,
		    cfg->ctl_group);
	return 0;
}

/* Create, bind and listen on the control socket. 0, or -1 with err. */
int
control_init(const struct config *cfg, su_root_t *root, char *err,
    size_t errlen)
{
	struct sockaddr_un	 sun;
	struct stat		 sb;
	char			*copy, *dir;
	mode_t			 old;
	int			 rc;

	ctl_cfg = cfg;
	ctl_root = root;
	ctl_started = clock_now();
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(cfg->ctl_socket) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "%s: path too long", cfg->ctl_socket);
		return -1;
	}
	strcpy(sun.sun_path, cfg->ctl_socket);
	if ((copy = strdup(cfg->ctl_socket)) == NULL)
		return -1;
	dir = dirname(copy);
	rc = control_folder(cfg, dir, err, errlen);
	free(copy);
	if (rc == -1)
		return -1;
	if (lstat(sun.sun_path, &sb) == 0) {
		if (!S_ISSOCK(sb.st_mode)) {
			snprintf(err, errlen, "%s: exists and is not a socket",
			    sun.sun_path);
			return -1;
		}
		if (control_in_use(&sun)) {
			snprintf(err, errlen, "%s: another sippushd is "
			    "running", sun.sun_path);
			return -1;
		}
		unlink(sun.sun_path);
	}
	if ((ctl_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1) {
		snprintf(err, errlen, "control socket: %s", strerror(errno));
		return -1;
	}
	old = umask(0177);
	rc = bind(ctl_fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (rc == -1) {
		snprintf(err, errlen, "%s: %s", sun.sun_path, strerror(errno));
		goto fail;
	}
	/* 0600 from bind; the group's only once it is the group's */
	if (cfg->ctl_gid != -1 && (chown(sun.sun_path, (uid_t)-1,
	    (gid_t)cfg->ctl_gid) == -1 || chmod(sun.sun_path, 0660) == -1)) {
		snprintf(err, errlen, "%s: cannot give the socket to group %s "
		    "(control.group): %s: run sippushd as root or as a member "
		    "of that group", sun.sun_path, cfg->ctl_group,
		    strerror(errno));
		unlink(sun.sun_path);
		goto fail;
	}
	if (listen(ctl_fd, 16) == -1) {
		snprintf(err, errlen, "%s: %s", sun.sun_path, strerror(errno));
		unlink(sun.sun_path);
		goto fail;
	}
	if (su_wait_create(ctl_wait, ctl_fd, SU_WAIT_ACCEPT) == -1 ||
	    (ctl_index = su_root_register(root, ctl_wait, control_accept,
	    NULL, 0)) <= 0) {
		snprintf(err, errlen, "%s: cannot watch socket", sun.sun_path);
		goto fail;
	}
	if (cfg->ctl_gid != -1)
		log_info("control: listening on %s (mode 0660, group %s)",
		    sun.sun_path, cfg->ctl_group);
	else
		log_info("control: listening on %s", sun.sun_path);
	return 0;
fail:
	close(ctl_fd);
	ctl_fd = -1;
	return -1;
}

void
control_shutdown(void)
{
	int	 i;

	for (i = 0; i < CONTROL_CONN_MAX; i++)
		if (ctl_conns[i])
			control_close(ctl_conns[i]);
	if (ctl_fd != -1) {
		su_root_deregister(ctl_root, ctl_index);
		close(ctl_fd);
		unlink(ctl_cfg->ctl_socket);
		ctl_fd = -1;
	}
}

/*
 * Is gid among the peer's supplementary groups? SO_PEERGROUPS (Linux
 * 4.13) gives those the kernel noted at connect(): no race with the
 * peer's PID being reused (/proc/PID/status) and no group database
 * lookup in the event loop that could block (getgrouplist), and a peer
 * that dropped a group is not let in on its account.
 */
static int
control_peer_in_group(int fd, gid_t gid)
{
	static int	 warned;
	gid_t		 groups[CONTROL_GROUPS_MAX];
	socklen_t	 len = sizeof(groups);
	size_t		 i;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == -1) {
		if (errno == ENOPROTOOPT && !warned++)
			log_warn("control: this kernel cannot tell a peer's "
			    "supplementary groups (SO_PEERGROUPS): only the "
			    "primary group counts for control.group");
		return 0;
	}
	for (i = 0; i < len / sizeof(gid_t); i++)
		if (groups[i] == gid)
			return 1;
	return 0;
}

/* Root, the daemon's own user, and members of control.group (primary or
 * supplementary) may use the socket. Fills uid for the log. */
static int
control_peer_allowed(int fd, uid_t *uid)
{
	struct ucred	 cred;
	socklen_t	 len = sizeof(cred);

	*uid = (uid_t)-1;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1)
		return 0;
	*uid = cred.uid;
	if (cred.uid == 0 || cred.uid == geteuid())
		return 1;
	if (ctl_cfg->ctl_gid == -1)
		return 0;
	return cred.gid == (gid_t)ctl_cfg->ctl_gid ||
	    control_peer_in_group(fd, (gid_t)ctl_cfg->ctl_gid);
}

/* Tell a refused peer why (best effort) and close; log now and then. */
static void
control_refuse(int fd, uid_t uid)
{
	static const char	 msg[] = "ERR permission denied\n";
	int64_t			 now = clock_now();

	if (write(fd, msg, sizeof(msg) - 1) == -1) {
		/* the peer may be gone already */
	}
	close(fd);
	ctl_refused++;
	if (ctl_refused_logged && now - ctl_refused_logged <
	    CONTROL_REFUSED_LOG)
		return;
	log_warn("control: connection refused: peer uid %d is not root, "
	    "the daemon's user%s%s%s (%u refused since the last report)",
	    (int)uid, ctl_cfg->ctl_gid != -1 ? " or a member of group " : "",
	    ctl_cfg->ctl_gid != -1 ? ctl_cfg->ctl_group : "",
	    ctl_cfg->ctl_gid != -1 ? " (control.group)" : "", ctl_refused);
	ctl_refused_logged = now;
	ctl_refused = 0;
}

static int
control_accept(su_root_magic_t *magic, su_wait_t *w, su_wakeup_arg_t *arg)
{
	struct conn	*c;
	uid_t		 uid;
	int		 fd, i;

	(void)magic;
	(void)w;
	(void)arg;
	if ((fd = accept4(ctl_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC))
	    == -1)
		return 0;
	if (!control_peer_allowed(fd, &uid)) {
		control_refuse(fd, uid);
		return 0;
	}
	for (i = 0; i < CONTROL_CONN_MAX && ctl_conns[i]; i++)
		;
	if (i == CONTROL_CONN_MAX || (c = calloc(1, sizeof(*c))) == NULL) {
		log_warn("control: too many connections, one refused");
		close(fd);
		return 0;
	}
	c->fd = fd;
	if (su_wait_create(c->wait, fd, SU_WAIT_IN) == -1 ||
	    (c->index = su_root_register(ctl_root, c->wait, control_event, c,
	    0)) <= 0) {
		close(fd);
		free(c);
		return 0;
	}
	ctl_conns[i] = c;
	buf_printf(&c->out, "SIPPUSH %d sippushd/%s\n", PROTO_VERSION,
	    SIPPUSH_VERSION);
	if (control_flush(c) == -1)
		control_close(c);
	return 0;
}

static size_t
control_pending(const struct conn *c)
{
	return c->out.len - c->out_off;
}

/*
 * Write what we can, continuing a streamed reply and answering the
 * requests that wait in the input while the output drains; watch for
 * writability while output remains (or a stream goes on), and for input
 * while it is under CONTROL_OUT_HIGH. At most CONTROL_CHUNKS_PER_EVENT
 * chunks are written, or made by a stream, per call, so that a fast
 * reader of a long reply does not keep the event loop from SIP. -1 when
 * the connection is to be closed.
 */
static int
control_flush(struct conn *c)
{
	ssize_t	 n;
	size_t	 before, written = 0;
	int	 mask = 0, steps = 0;

	for (;;) {
		while (control_pending(c) > 0 &&
		    written < CONTROL_CHUNKS_PER_EVENT * CONTROL_CHUNK) {
			n = write(c->fd, c->out.data + c->out_off,
			    control_pending(c));
			if (n == -1 && errno == EINTR)
				continue;
			if (n == -1 && errno == EAGAIN)
				break;
			if (n <= 0)
				return -1;
			c->out_off += (size_t)n;
			written += (size_t)n;
		}
		/* written bytes go at once when all is written, else when
		 * they are the larger half: each byte moves once at most */
		if (c->out_off == c->out.len)
			c->out.len = c->out_off = 0;
		else if (c->out_off > CONTROL_CHUNK &&
		    c->out_off > c->out.len / 2) {
			buf_consume(&c->out, c->out_off);
			c->out_off = 0;
		}
		if (control_pending(c) > 0 || c->closing)
			break;
		if (c->more != NULL) {
			if (c->more_wait || steps++ == CONTROL_CHUNKS_PER_EVENT)
				break;
			before = c->out.len;
			switch (c->more->next(c->more, &c->out)) {
			case 0:
				c->more->free(c->more);
				c->more = NULL;
				break;
			case CTL_STREAM_WAIT:
				c->more_wait = 1;
				if (c->out.len == before)
					goto out;
				break;
			case -1:
				c->closing = 1;
				break;
			}
			continue;
		}
		before = c->in.len;
		control_process(c);
		/* a command that answers later (a job of the writer's):
		 * nothing more until control_call_done */
		if (c->call != NULL || (c->in.len == before && !c->closing &&
		    c->more == NULL))
			break;
	}
out:
	if (control_pending(c) == 0 && c->closing)
		return -1;
	if (!c->closing && c->call == NULL &&
	    control_pending(c) < CONTROL_OUT_HIGH)
		mask |= SU_WAIT_IN;
	if (control_pending(c) > 0 || (c->more != NULL && !c->more_wait))
		mask |= SU_WAIT_OUT;
	su_root_eventmask(ctl_root, c->index, c->fd, mask);
	return 0;
}

/* A stream that waited for the writer can go on. */
static void
control_wake(void *arg)
{
	struct conn	*c = arg;

	c->more_wait = 0;
	if (!c->in_line && control_flush(c) == -1)
		control_close(c);
}

/* A command has finished: its reply goes out, and the requests that
 * wait behind it are read again. */
static void
control_call_done(struct cmd_call *call, void *arg)
{
	struct conn	*c = arg;

	if (buf_append(&c->out, call->out.data, call->out.len) == -1)
		c->closing = 1;
	if ((c->more = call->stream) != NULL) {
		c->more->wake = control_wake;
		c->more->wake_arg = c;
		c->more_wait = 0;
	}
	call->stream = NULL;
	c->call = NULL;
	cmd_call_free(call);
	if (!c->in_line && control_flush(c) == -1)
		control_close(c);
}

static void
control_line(struct conn *c, char *line)
{
	char	*argv[PROTO_ARGS_MAX];
	int	 argc;

	argc = proto_split(line, argv, PROTO_ARGS_MAX);
	if (argc == -1)
		buf_puts(&c->out, "ERR malformed request line\n");
	else if (argc == 0)
		buf_puts(&c->out, "ERR empty request\n");
	else if ((c->call = cmd_call_new(control_call_done, c)) == NULL) {
		buf_puts(&c->out, "ERR out of memory\n");
		c->closing = 1;
	} else {
		c->in_line = 1;
		cmd_start(c->call, argc, argv);
		c->in_line = 0;
	}
}

/* Answer the complete request lines in c's input while the replies
 * waiting to be written stay under CONTROL_OUT_HIGH; refuse a line that
 * grows past PROTO_LINE_MAX. */
static void
control_process(struct conn *c)
{
	char	*nl;

	while (!c->closing && c->more == NULL && c->call == NULL &&
	    control_pending(c) < CONTROL_OUT_HIGH && c->in.len > 0 &&
	    (nl = memchr(c->in.data, '\n', c->in.len)) != NULL) {
		*nl = '\0';
		if (nl > c->in.data && nl[-1] == '\r')
			nl[-1] = '\0';
		control_line(c, c->in.data);
		buf_consume(&c->in, (size_t)(nl - c->in.data) + 1);
	}
	if (!c->closing && c->in.len > PROTO_LINE_MAX &&
	    memchr(c->in.data, '\n', c->in.len) == NULL) {
		buf_printf(&c->out, "ERR request line over %d bytes\n",
		    PROTO_LINE_MAX);
		c->closing = 1;
	}
}

static int
control_event(su_root_magic_t *magic, su_wait_t *w, su_wakeup_arg_t *arg)
{
	struct conn	*c = (struct conn *)arg;
	ssize_t		 n;
	int		 events = su_wait_events(w, c->fd);

	(void)magic;
	if ((events & (SU_WAIT_IN | SU_WAIT_HUP | SU_WAIT_ERR)) &&
	    !c->closing && control_pending(c) < CONTROL_OUT_HIGH) {
		if (buf_reserve(&c->in, CONTROL_READ) == -1) {
			control_close(c);
			return 0;
		}
		n = read(c->fd, c->in.data + c->in.len, CONTROL_READ);
		if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR)) {
			control_close(c);
			return 0;
		}
		if (n > 0) {
			c->in.len += (size_t)n;
			c->in.data[c->in.len] = '\0';
		}
		control_process(c);
	}
	if (control_flush(c) == -1)
		control_close(c);
	return 0;
}

/* ---- commands ---- */

static void
control_client_record(struct buf *out, const struct client *c)
{
	proto_put_kv(out, "id", c->id);
	proto_put_kv(out, "class", c->class);
	proto_put_kv(out, "state", clients_state_name(c->state));
	proto_put_kv(out, "transport", clients_transport_name(c->transport));
	proto_put_kv(out, "address", c->address);
	proto_put_kvi(out, "port", c->port);
	proto_put_kv(out, "contact", c->contact);
	proto_put_kv(out, "user_agent", c->user_agent ? c->user_agent : "");
	if (c->path)
		proto_put_kv(out, "path", c->path);
	proto_put_kvi(out, "registered_at", c->registered_at);
	proto_put_kvi(out, "expires_at", c->expires_at);
	proto_put_kvi(out, "last_seen", c->last_seen);
	if (cluster_on())
		proto_put_kv(out, "node", cluster_node());
	proto_end_record(out);
}

/*
 * The listing of clients, read from the store by the writer a page at a
 * time (CONTROL_CLIENTS_PAGE rows by ID after the last one listed, the
 * filters applied by the store) as the peer reads it: the event loop
 * never walks or sorts the table, and the listing shows what is
 * committed, which is the whole fleet's table when several daemons
 * share one store. The first page is read before the reply starts (so
 * a store failure is an ERR); a page that fails later cuts the reply
 * short (the connection is closed). The first page's job is queued
 * behind every change made before the request, so the listing starts
 * from a table that has them. A client this daemon holds is shown with
 * its newest last_seen (heartbeats are written lazily).
 */
#define CONTROL_CLIENTS_PAGE	1000

struct clients_row {
	struct client_row	 r;
	char			*mem;	/* r's strings */
};

struct clients_stream {
	struct ctl_stream	 s;
	struct commit_job	 job;
	struct cmd_call		*call;	/* until the first page is read */
	struct client_filter	 f;
	char			*class;
	char			 after[CLIENT_ID_MAX + 1];
	struct clients_row	*rows;	/* the page read */
	size_t			 n, pos;
	int			 nomem;
	int			 rc;	/* the read's: rows, or -1 */
	int			 last;	/* the last page is read */
	int			 busy;	/* a job is queued */
	int			 in_next;
	int			 gone;	/* freed while busy */
	char			 err[256];
};

static unsigned long	 ctl_clients_jobs;
static size_t		 ctl_clients_maxrows;

/* Writer jobs the listings of clients ran, and the most rows one of
 * them read (for the tests). */
void
control_clients_pages(unsigned long *jobs, size_t *max_rows)
{
	*jobs = ctl_clients_jobs;
	*max_rows = ctl_clients_maxrows;
}

static void
control_clients_drop(struct clients_stream *cs)
{
	size_t	 i;

	for (i = 0; i < cs->n; i++)
		free(cs->rows[i].mem);
	cs->n = cs->pos = 0;
}

/* A copy of r into d, its strings in d->mem. 0, or -1 (no memory). */
static int
control_row_copy(struct clients_row *d, const struct client_row *r)
{
	const char	*src[9] = { r->id, r->class, r->state, r->contact,
			    r->transport, r->address, r->user_agent, r->path,
			    r->owner };
	const char	**dst[9];
	size_t		 len = 0, l, i;
	char		*p;

	for (i = 0; i < 9; i++)
		len += src[i] ? strlen(src[i]) + 1 : 0;
	if ((p = malloc(len ? len : 1)) == NULL)
		return -1;
	d->r = *r;
	d->mem = p;
	dst[0] = &d->r.id;
	dst[1] = &d->r.class;
	dst[2] = &d->r.state;
	dst[3] = &d->r.contact;
	dst[4] = &d->r.transport;
	dst[5] = &d->r.address;
	dst[6] = &d->r.user_agent;
	dst[7] = &d->r.path;
	dst[8] = &d->r.owner;
	for (i = 0; i < 9; i++) {
		if (src[i] == NULL) {
			*dst[i] = NULL;
			continue;
		}
		l = strlen(src[i]) + 1;
		memcpy(p, src[i], l);
		*dst[i] = p;
		p += l;
	}
	return 0;
}

/* On the writer: keep a copy of a row of the page. */
static int
control_clients_row(const struct client_row *r, void *arg)
{
	struct clients_stream	*cs = arg;

	if (cs->n == CONTROL_CLIENTS_PAGE)
		return -1;
	if (control_row_copy(&cs->rows[cs->n], r) == -1) {
		cs->nomem = 1;
		return -1;
	}
	cs->n++;
	return 0;
}

static void
control_clients_run(struct commit_job *j)
{
	struct clients_stream	*cs = (struct clients_stream *)
				    ((char *)j - offsetof(struct clients_stream,
				    job));

	cs->rc = store_list_clients(&cs->f, cs->after[0] ? cs->after : NULL,
	    CONTROL_CLIENTS_PAGE, control_clients_row, cs);
	if (cs->rc == -1)
		snprintf(cs->err, sizeof(cs->err), "%s", cs->nomem ?
		    "out of memory" : store_errmsg());
	ctl_clients_jobs++;
	if (cs->n > ctl_clients_maxrows)
		ctl_clients_maxrows = cs->n;
}

static void control_clients_free(struct ctl_stream *);

static void
control_clients_done(struct commit_job *j)
{
	struct clients_stream	*cs = (struct clients_stream *)
				    ((char *)j - offsetof(struct clients_stream,
				    job));
	struct cmd_call		*call;

	cs->busy = 0;
	if (j->failed) {
		cs->rc = -1;
		snprintf(cs->err, sizeof(cs->err), "out of memory");
	}
	if (cs->rc != -1) {
		cs->last = cs->n < CONTROL_CLIENTS_PAGE;
		if (cs->n)
			snprintf(cs->after, sizeof(cs->after), "%s",
			    cs->rows[cs->n - 1].r.id);
	}
	if (cs->gone) {
		control_clients_free(&cs->s);
		return;
	}
	if ((call = cs->call) != NULL) {	/* the first page */
		cs->call = NULL;
		if (call->detached || cs->rc == -1) {
			if (cs->rc == -1)
				proto_err(&call->out, "store failure: %s",
				    cs->err);
			control_clients_free(&cs->s);
		} else {
			buf_puts(&call->out, "OK\n");
			call->stream = &cs->s;
		}
		cmd_done(call);
		return;
	}
	if (cs->rc == -1)
		log_error("control: a listing of clients is cut short: %s",
		    cs->err);
	if (!cs->in_next && cs->s.wake)
		cs->s.wake(cs->s.wake_arg);
}

/* Queue the read of the next page. */
static void
control_clients_read(struct clients_stream *cs)
{
	control_clients_drop(cs);
	cs->busy = 1;
	cs->in_next = 1;
	commit_job(&cs->job);
	cs->in_next = 0;
}

/*
 * The node holding a client (a cluster): the owner its row names, or
 * this node for a client it holds whose row names none yet; "" for
 * none (offline since its node went down).
 */
const char *
control_client_node(const struct client_row *r, const struct client *c)
{
	if (r->owner != NULL && r->owner[0] != '\0')
		return r->owner;
	return c != NULL ? cluster_node() : "";
}

static void
control_clients_record(struct buf *out, const struct client_row *r)
{
	struct client	*c;
	int64_t		 seen = r->last_seen;

	if ((c = clients_find(r->id)) != NULL && c->last_seen > seen)
		seen = c->last_seen;
	proto_put_kv(out, "id", r->id);
	proto_put_kv(out, "class", r->class);
	proto_put_kv(out, "state", r->state);
	proto_put_kv(out, "transport", r->transport);
	proto_put_kv(out, "address", r->address);
	proto_put_kvi(out, "port", r->port);
	proto_put_kv(out, "contact", r->contact);
	proto_put_kv(out, "user_agent", r->user_agent ? r->user_agent : "");
	if (r->path)
		proto_put_kv(out, "path", r->path);
	proto_put_kvi(out, "registered_at", r->registered_at);
	proto_put_kvi(out, "expires_at", r->expires_at);
	proto_put_kvi(out, "last_seen", seen);
	if (cluster_on())
		proto_put_kv(out, "node", control_client_node(r, c));
	proto_end_record(out);
}

static int
control_clients_next(struct ctl_stream *st, struct buf *out)
{
	struct clients_stream	*cs = (struct clients_stream *)st;
	size_t			 limit = out->len + CONTROL_CHUNK;

	while (out->len < limit) {
		if (cs->busy)
			return CTL_STREAM_WAIT;
		if (cs->rc == -1)
			return -1;
		if (cs->pos < cs->n) {
			control_clients_record(out, &cs->rows[cs->pos++].r);
			continue;
		}
		if (cs->last) {
			buf_puts(out, ".\n");
			return 0;
		}
		control_clients_read(cs);
	}
	return 1;
}

static void
control_clients_free(struct ctl_stream *st)
{
	struct clients_stream	*cs = (struct clients_stream *)st;

	if (cs->busy) {		/* its job frees it */
		cs->gone = 1;
		return;
	}
	control_clients_drop(cs);
	free(cs->rows);
	free(cs->class);
	free(cs);
}

/* The rest of a streamed reply, not to be sent (its peer has gone). */
void
control_stream_free(struct ctl_stream *st)
{
	if (st != NULL)
		st->free(st);
}

/* clients [class=C] [state=S] [online=yes|no]: answered (cmd_done) once
 * the first page is read. */
void
control_cmd_clients(struct cmd_call *call, int argc, char **argv)
{
	struct clients_stream	*cs;
	const char		*v;
	int			 state;

	if ((cs = calloc(1, sizeof(*cs))) == NULL ||
	    (cs->rows = calloc(CONTROL_CLIENTS_PAGE,
	    sizeof(*cs->rows))) == NULL) {
		free(cs);
		proto_err(&call->out, "out of memory");
		cmd_done(call);
		return;
	}
	cs->s.next = control_clients_next;
	cs->s.free = control_clients_free;
	cs->job.run = control_clients_run;
	cs->job.done = control_clients_done;
	cs->f.online = -1;
	if ((v = proto_get(argc, argv, "class")) != NULL &&
	    (cs->f.class = cs->class = strdup(v)) == NULL) {
		proto_err(&call->out, "out of memory");
		goto fail;
	}
	if ((v = proto_get(argc, argv, "state")) != NULL) {
		if ((state = clients_state_parse(v)) == -1) {
			proto_err(&call->out, "unknown state \"%.32s\"", v);
			goto fail;
		}
		cs->f.state = clients_state_name(state);
	}
	if ((v = proto_get(argc, argv, "online")) != NULL) {
		if (strcmp(v, "yes") != 0 && strcmp(v, "no") != 0) {
			proto_err(&call->out, "online must be yes or no");
			goto fail;
		}
		cs->f.online = strcmp(v, "yes") == 0;
	}
	cs->call = call;
	control_clients_read(cs);
	return;
fail:
	control_clients_free(&cs->s);
	cmd_done(call);
}

/*
 * status id=ID: the message's record, then its targets streamed a page
 * at a time (dispatch_targets: DISPATCH_STATUS_PAGE after the last one
 * sent, found from that cursor in memory while the message is active,
 * read by a writer job once it is finished) as the peer reads them. A
 * status of 100,000 targets once copied and rendered them all in one
 * turn of the loop (0.2 s and more); now a turn renders a few pages at
 * most (CONTROL_CHUNKS_PER_EVENT). A page reflects the targets when it
 * is made. The record is made before the reply starts (an unknown
 * message is an ERR); a page that fails later (the message purged
 * meanwhile, a store failure) cuts the reply short.
 */
struct status_stream {
	struct ctl_stream	 s;
	struct cmd_call		*call;	/* until the record is made */
	char			*id;
	char			 after[CLIENT_ID_MAX + 1];
	struct buf		 page;	/* rendered, not yet handed out */
	int			 busy;	/* a page is being read */
	int			 in_next;
	int			 gone;	/* freed while busy */
	int			 last;	/* the last page is made */
	int			 failed;
};

static void
control_status_free(struct ctl_stream *st)
{
	struct status_stream	*ss = (struct status_stream *)st;

	if (ss->busy) {		/* its callback frees it */
		ss->gone = 1;
		return;
	}
	buf_free(&ss->page);
	free(ss->id);
	free(ss);
}

static void
control_status_page(void *arg, const struct status_result *res)
{
	struct status_stream	*ss = arg;
	size_t			 i;

	ss->busy = 0;
	if (ss->gone) {
		control_status_free(&ss->s);
		return;
	}
	if (!res->ok) {
		log_error("control: the status of %s is cut short: %s",
		    ss->id, res->error);
		ss->failed = 1;
	} else {
		for (i = 0; i < res->nt; i++)
			cmd_put_target(&ss->page, &res->t[i]);
		if (res->nt)
			snprintf(ss->after, sizeof(ss->after), "%s",
			    res->t[res->nt - 1].client);
		ss->last = !res->more;
	}
	if (!ss->in_next && ss->s.wake)
		ss->s.wake(ss->s.wake_arg);
}

static int
control_status_next(struct ctl_stream *st, struct buf *out)
{
	struct status_stream	*ss = (struct status_stream *)st;
	struct targets_req	 rq;

	if (ss->busy)
		return CTL_STREAM_WAIT;
	if (ss->failed)
		return -1;
	if (ss->page.len) {
		if (buf_append(out, ss->page.data, ss->page.len) == -1)
			return -1;
		ss->page.len = 0;
		return 1;
	}
	if (ss->last) {
		buf_puts(out, ".\n");
		return 0;
	}
	rq.id = ss->id;
	rq.after = ss->after[0] ? ss->after : NULL;
	rq.state = -1;
	rq.limit = DISPATCH_STATUS_PAGE;
	ss->busy = 1;
	ss->in_next = 1;
	dispatch_targets(&rq, control_status_page, ss);
	ss->in_next = 0;
	if (ss->busy)
		return CTL_STREAM_WAIT;
	if (ss->failed)
		return -1;
	if (buf_append(out, ss->page.data, ss->page.len) == -1)
		return -1;
	ss->page.len = 0;
	return 1;
}

/* The message's record (no targets): the reply starts. */
static void
control_status_record(void *arg, const struct status_result *res)
{
	struct status_stream	*ss = arg;
	struct cmd_call		*call = ss->call;

	ss->call = NULL;
	if (call->detached || !res->ok) {
		if (!res->ok)
			proto_err(&call->out, "%s", res->error);
		control_status_free(&ss->s);
	} else {
		buf_puts(&call->out, "OK\n");
		cmd_put_message(&call->out, &res->msg);
		if (res->msg.targets == 0) {
			buf_puts(&call->out, ".\n");
			control_status_free(&ss->s);
		} else
			call->stream = &ss->s;
	}
	cmd_done(call);
}

/* status id=ID (with its targets): answered (cmd_done) once the
 * message's record is made; the targets follow as a stream. */
void
control_cmd_status(struct cmd_call *call, const char *id)
{
	struct status_stream	*ss;
	struct status_req	 rq;

	if ((ss = calloc(1, sizeof(*ss))) == NULL ||
	    (ss->id = strdup(id)) == NULL) {
		free(ss);
		proto_err(&call->out, "out of memory");
		cmd_done(call);
		return;
	}
	ss->s.next = control_status_next;
	ss->s.free = control_status_free;
	ss->call = call;
	rq.id = ss->id;
	rq.targets = 0;
	dispatch_status(&rq, control_status_record, ss);
}

/*
 * A client's row as stored, read by a writer job (a cluster: the client
 * another node holds, or none does). done(arg, id, rc, row, err) runs on
 * the loop: rc 1 found (row valid during the call), 0 no such client,
 * -1 failed (err).
 */
struct client_read {
	struct commit_job	 job;
	char			 id[CLIENT_ID_MAX + 1];
	struct clients_row	 row;
	int			 rc;
	int			 nomem;
	char			 err[256];
	void			(*done)(void *, const char *, int,
				    const struct client_row *, const char *);
	void			*arg;
};

static int
control_read_row(const struct client_row *r, void *arg)
{
	struct client_read	*rd = arg;

	if (rd->row.mem != NULL)	/* one row: the ID is the key */
		return 0;
	if (control_row_copy(&rd->row, r) == -1) {
		rd->nomem = 1;
		return -1;
	}
	return 0;
}

static void
control_read_run(struct commit_job *j)
{
	struct client_read	*rd = (struct client_read *)j;

	rd->rc = store_pg_client_get(rd->id, control_read_row, rd);
	if (rd->rc == -1)
		snprintf(rd->err, sizeof(rd->err), "%s", rd->nomem ?
		    "out of memory" : store_errmsg());
}

static void
control_read_done(struct commit_job *j)
{
	struct client_read	*rd = (struct client_read *)j;

	if (j->failed)
		rd->done(rd->arg, rd->id, -1, NULL, "out of memory");
	else
		rd->done(rd->arg, rd->id, rd->rc > 0 ? 1 : rd->rc,
		    rd->rc > 0 ? &rd->row.r : NULL, rd->err);
	free(rd->row.mem);
	free(rd);
}

/* Read client id from the store (by a writer job): 0, or -1 when memory
 * is short (done is not called). */
int
control_client_read(const char *id, void (*done)(void *, const char *,
    int, const struct client_row *, const char *), void *arg)
{
	struct client_read	*rd;

	if ((rd = calloc(1, sizeof(*rd))) == NULL)
		return -1;
	snprintf(rd->id, sizeof(rd->id), "%s", id);
	rd->done = done;
	rd->arg = arg;
	rd->job.run = control_read_run;
	rd->job.done = control_read_done;
	commit_job(&rd->job);
	return 0;
}

static void
control_client_stored(void *arg, const char *id, int rc,
    const struct client_row *r, const char *err)
{
	struct cmd_call	*call = arg;

	(void)id;
	if (rc == -1)
		proto_err(&call->out, "store failure: %s", err);
	else if (rc == 0)
		buf_puts(&call->out, "ERR no such client\n");
	else {
		buf_puts(&call->out, "OK\n");
		control_clients_record(&call->out, r);
		buf_puts(&call->out, ".\n");
	}
	cmd_done(call);
}

/*
 * client id=ID: a client this daemon holds from memory; on a node of a
 * cluster, any other from the store (the whole fleet's table), with the
 * node that holds it.
 */
void
control_cmd_client(struct cmd_call *call, int argc, char **argv)
{
	const char	*id = proto_get(argc, argv, "id");
	struct client	*c;

	if (id == NULL) {
		buf_puts(&call->out, "ERR client needs id=ID\n");
		cmd_done(call);
		return;
	}
	if ((c = clients_find(id)) != NULL) {
		buf_puts(&call->out, "OK\n");
		control_client_record(&call->out, c);
		buf_puts(&call->out, ".\n");
		cmd_done(call);
		return;
	}
	if (!cluster_on() || !clients_valid_id(id)) {
		buf_puts(&call->out, "ERR no such client\n");
		cmd_done(call);
		return;
	}
	if (control_client_read(id, control_client_stored, call) == -1) {
		proto_err(&call->out, "out of memory");
		cmd_done(call);
	}
}

void
control_cmd_stats(struct buf *out)
{
	struct clients_stats	 st;
	unsigned		 faults;
	int			 i;

	clients_stats(&st);
	buf_puts(out, "OK\n");
	proto_put_kv(out, "version", SIPPUSH_VERSION);
	proto_put_kvi(out, "uptime", clock_now() - ctl_started);
	proto_put_kvi(out, "clients", (long long)st.total);
	for (i = CLIENT_ONLINE; i <= CLIENT_UNREGISTERED; i++)
		proto_put_kvi(out, clients_state_name(i),
		    (long long)st.by_state[i]);
	proto_put_kvi(out, "pending_replies", (long long)commit_waiting());
	proto_put_kvi(out, "store_failing_since",
	    (long long)store_failing(&faults));
	proto_put_kvi(out, "store_failed_writes", (long long)faults);
	proto_put_kvi(out, "store_loop_calls",
	    (long long)store_loop_calls());
	dispatch_stats(out);
	relay_stats(out);
	webhook_stats(out);
	guard_stats(out);
	proto_end_record(out);
	buf_puts(out, ".\n");
}

struct control_req {
	struct buf	*out;
	int		 finished;
};

static void
control_request_done(struct cmd_call *call, void *arg)
{
	struct control_req	*r = arg;
	struct ctl_stream	*st;
	int			 rc;

	buf_append(r->out, call->out.data, call->out.len);
	if ((st = call->stream) != NULL) {
		while ((rc = st->next(st, r->out)) != 0 && rc != -1)
			if (rc == CTL_STREAM_WAIT)
				commit_flush();
		st->free(st);
	}
	r->finished = 1;
	cmd_call_free(call);
}

/* Answer one request (argv[0] is the command) into out, whole (a
 * stream run to its end), waiting for the writer's jobs it made: for
 * unit tests and fuzzing, which have no event loop running; the daemon
 * answers through cmd_start. */
void
control_request(struct buf *out, int argc, char **argv)
{
	struct control_req	 r = { out, 0 };
	struct cmd_call		*call;
	int			 i;

	if ((call = cmd_call_new(control_request_done, &r)) == NULL) {
		buf_puts(out, "ERR out of memory\n");
		return;
	}
	cmd_start(call, argc, argv);
	/* a few turns, and as many more as the writer has work (a status
	 * of a big stored message is read in pages, one job each) */
	for (i = 0; !r.finished && (i < 3 || commit_busy()); i++)
		commit_flush();
	if (!r.finished)	/* later: its reply is dropped then */
		cmd_detach(call);
}
