/*
 * request.c: requests from other clients, relayed by the server
 * (sippushd(8), RELAY), and the agent's own (--send).
 *
 * An incoming request runs hook.command like a control message, with
 * SIPPUSH_REQUEST=1 and the sender in SIPPUSH_FROM (its ID, as the
 * server verified it) and SIPPUSH_FROM_CLASS, the body on standard
 * input. Its standard output, at most REQUEST_OUTPUT_MAX bytes, is the
 * body of the answer: 200 when it exits 0, 500 otherwise (with that
 * output), 500 with no body past the bound. It runs in a process group
 * of its own, dies with the agent (PR_SET_PDEATHSIG) and is killed after
 * hook.timeout. A request is not a control message: nothing is recorded
 * in the state file and a request is never deduplicated (the server does
 * not send it twice). Without a hook a request is printed as a JSON line
 * and answered 200 with no body.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

struct rhook {
	struct rhook		*next;
	struct sippush_request	*r;		/* may be answered (480 after
						   answer_timeout) and gone:
						   sippush_reply says so */
	char			 from[SIPPUSH_ID_MAX + 1];
	pid_t			 pid;		/* also its group */
	int			 out;		/* its stdout, read end */
	int64_t			 deadline;	/* monotonic ms */
	int			 killed;
};

static const struct config	*rq_cfg;
static struct sippush		*rq_client;
static struct rhook		*rq_running;

void
request_init(const struct config *cfg, struct sippush *c)
{
	rq_cfg = cfg;
	rq_client = c;
}

/* In the child: become the hook, body on stdin, out on stdout. */
static void
request_exec(const struct sippush_request *r, int body, int out,
    pid_t agent)
{
	sigset_t	 none;
	int		 sig;

	setpgid(0, 0);
	for (sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1 || getppid() != agent)
		_exit(126);
	if (dup2(body, STDIN_FILENO) == -1 || dup2(out, STDOUT_FILENO) == -1)
		_exit(126);
	closefrom(STDERR_FILENO + 1);
	if (setenv("SIPPUSH_REQUEST", "1", 1) == -1 ||
	    setenv("SIPPUSH_FROM", r->from, 1) == -1 ||
	    setenv("SIPPUSH_FROM_CLASS", r->from_class, 1) == -1 ||
	    setenv("SIPPUSH_CONTENT_TYPE", r->content_type, 1) == -1 ||
	    setenv("SIPPUSH_CLASS", rq_cfg->client_class ?
	    rq_cfg->client_class : "", 1) == -1 ||
	    setenv("SIPPUSH_CLIENT_ID", rq_cfg->client_id, 1) == -1)
		_exit(126);
	unsetenv("SIPPUSH_MESSAGE_ID");
	execl("/bin/sh", "sh", "-c", rq_cfg->hook, (char *)NULL);
	_exit(127);
}

/* A memfd holding r's body at offset 0; -1 on error. */
static int
request_body(const struct sippush_request *r)
{
	size_t	 off = 0;
	ssize_t	 n;
	int	 fd;

	if ((fd = memfd_create("sippush-request", MFD_CLOEXEC)) == -1)
		return -1;
	while (off < r->body_len) {
		n = write(fd, r->body + off, r->body_len - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			close(fd);
			return -1;
		}
		off += (size_t)n;
	}
	if (lseek(fd, 0, SEEK_SET) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The library's request callback: run the hook (or print). */
void
request_hook(struct sippush *c, struct sippush_request *r, void *arg)
{
	struct rhook	*h;
	int		 body = -1, pfd[2] = { -1, -1 };
	pid_t		 pid, agent = getpid();

	(void)arg;
	if (rq_cfg->hook == NULL) {
		printf("{\"request\":true,\"from\":");
		hook_json_string(stdout, r->from, strlen(r->from));
		printf(",\"content_type\":");
		hook_json_string(stdout, r->content_type,
		    strlen(r->content_type));
		printf(",\"body\":");
		hook_json_string(stdout, r->body, r->body_len);
		printf("}\n");
		fflush(stdout);
		sippush_reply(c, r, 200, NULL, NULL, 0);
		return;
	}
	if ((h = calloc(1, sizeof(*h))) == NULL ||
	    (body = request_body(r)) == -1 || pipe2(pfd, O_CLOEXEC) == -1) {
		log_error("request: from %s: cannot run the hook: %s",
		    r->from, strerror(errno));
		goto fail;
	}
	fflush(stdout);
	fflush(stderr);
	if ((pid = fork()) == -1) {
		log_error("request: from %s: fork: %s", r->from,
		    strerror(errno));
		goto fail;
	}
	if (pid == 0)
		request_exec(r, body, pfd[1], agent);
	setpgid(pid, pid);
	close(body);
	close(pfd[1]);
	h->r = r;
	snprintf(h->from, sizeof(h->from), "%s", r->from);
	h->pid = pid;
	h->out = pfd[0];
	h->deadline = hook_now() + (int64_t)rq_cfg->hook_timeout * 1000;
	h->next = rq_running;
	rq_running = h;
	log_info("request: from %s: hook started, process group %d", r->from,
	    (int)pid);
	return;
fail:
	if (body != -1)
		close(body);
	if (pfd[0] != -1) {
		close(pfd[0]);
		close(pfd[1]);
	}
	free(h);
	sippush_reply(c, r, 500, NULL, NULL, 0);
}

/* h's hook is gone with status st: answer with what it wrote. */
static void
request_done(struct rhook *h, int st)
{
	struct rhook	**pp;
	char		 buf[REQUEST_OUTPUT_MAX + 1];
	size_t		 len = 0;
	ssize_t		 n;
	int		 ok = WIFEXITED(st) && WEXITSTATUS(st) == 0, status;
	const char	*why = NULL;

	for (pp = &rq_running; *pp; pp = &(*pp)->next)
		if (*pp == h) {
			*pp = h->next;
			break;
		}
	fcntl(h->out, F_SETFL, O_NONBLOCK);
	while (len < sizeof(buf) && ((n = read(h->out, buf + len,
	    sizeof(buf) - len)) > 0 || (n == -1 && errno == EINTR)))
		if (n > 0)
			len += (size_t)n;
	close(h->out);
	status = ok ? 200 : 500;
	if (len > REQUEST_OUTPUT_MAX) {
		why = "output over the bound";
		status = 500;
		len = 0;
	} else if (h->killed)
		why = "killed after hook.timeout";
	else if (!ok)
		why = "failed";
	if (why)
		log_warn("request: from %s: hook %s: %d", h->from, why,
		    status);
	else
		log_info("request: from %s: hook done, %zu bytes", h->from,
		    len);
	if (sippush_reply(rq_client, h->r, status, "text/plain", buf, len) !=
	    0)
		log_info("request: from %s: answered already (too late)",
		    h->from);
	free(h);
}

/* Collect the request hooks that exited; kill those past their time. */
void
request_reap(void)
{
	struct rhook	*h, *next;
	int64_t		 now = hook_now();
	int		 st;

	for (h = rq_running; h; h = next) {
		next = h->next;
		if (hook_child_reap(h->pid, h->deadline, &h->killed, now, &st))
			request_done(h, st);
	}
}

/* ms the loop may sleep before a request hook's deadline; -1: none. */
int
request_wait_ms(void)
{
	struct rhook	*h;
	int64_t		 now = hook_now(), d, best = -1;

	for (h = rq_running; h; h = h->next) {
		d = hook_child_wait(h->deadline, h->killed, now);
		if (best == -1 || d < best)
			best = d;
	}
	return (int)best;
}

/* Kill the request hooks still running (the agent stops; the library
 * answers their requests 503). */
void
request_stop_all(void)
{
	struct rhook	*h;
	int		 st;

	while ((h = rq_running) != NULL) {
		rq_running = h->next;
		kill(-h->pid, SIGKILL);
		while (waitpid(h->pid, &st, 0) == -1 && errno == EINTR)
			;
		close(h->out);
		free(h);
	}
}

/* ---- --send ---- */

struct send_state {
	int	 done;
	int	 status;
	int	 sent;
};

static void
request_sent(struct sippush *c, const struct sippush_response *rsp,
    void *arg)
{
	struct send_state	*ss = arg;

	ss->done = 1;
	ss->status = rsp->status;
	if (rsp->body_len)
		fwrite(rsp->body, 1, rsp->body_len, stdout);
	if (rsp->body_len && rsp->body[rsp->body_len - 1] != '\n')
		putchar('\n');
	fflush(stdout);
	fprintf(stderr, "sippush-agent: %d %s%s%s\n", rsp->status,
	    rsp->phrase, rsp->message_id ? ", message " : "",
	    rsp->message_id ? rsp->message_id : "");
	sippush_stop(c);
}

/*
 * --send: register, send body to the client to, print the answer (its
 * body on stdout, "STATUS PHRASE" on stderr), unregister. Returns the
 * exit status: 0 for a 2xx, 3 for another answer, 1 when it could not
 * be sent (no registration within wait_ms).
 */
int
request_send(struct sippush *c, const char *to, const char *body, int store,
    int wait_ms)
{
	struct send_state	 ss;
	int64_t			 end = hook_now() + wait_ms;
	int			 rv;

	memset(&ss, 0, sizeof(ss));
	while (sippush_step(c, 100)) {
		if (!ss.sent && sippush_state(c) == SIPPUSH_STATE_REGISTERED) {
			rv = sippush_send(c, to, "text/plain", body,
			    strlen(body), store ? SIPPUSH_SEND_STORE : 0,
			    request_sent, &ss);
			if (rv != 0) {
				fprintf(stderr, "sippush-agent: cannot send "
				    "to %s: %s\n", to, strerror(rv));
				sippush_stop(c);
			}
			ss.sent = 1;
		}
		if (!ss.done && hook_now() > end) {
			if (!ss.sent)
				fprintf(stderr, "sippush-agent: not "
				    "registered within %d ms\n", wait_ms);
			else
				fprintf(stderr, "sippush-agent: no answer "
				    "within %d ms\n", wait_ms);
			sippush_stop(c);
			end = hook_now() + 60000;
		}
	}
	if (!ss.done)
		return 1;
	return ss.status >= 200 && ss.status < 300 ? 0 : 3;
}
