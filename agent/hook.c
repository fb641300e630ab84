/*
 * hook.c: what the agent does with a control message.
 *
 * With hook.command set, each message runs `/bin/sh -c COMMAND` with the
 * body on standard input (a memfd, so a hook that does not read it never
 * blocks us) and the message in the environment (SIPPUSH_MESSAGE_ID,
 * SIPPUSH_CLASS, SIPPUSH_CONTENT_TYPE, SIPPUSH_SERVER,
 * SIPPUSH_CLIENT_ID). The message is deferred; when the hook exits 0 its
 * ID is recorded as taken in the state file and the message is accepted,
 * otherwise rejected (the server sends it again). A hook still running
 * after hook.timeout seconds is killed with its group. A hook may outlive
 * the library's answer_timeout: the server then retries, the retry waits
 * with the first copy, and a hook that succeeds late still records its
 * ID, so the next retry is answered 200 without running it again.
 *
 * Once at most. The ID is recorded as started in the state file (on
 * disk) before the hook starts, and the hook dies with the agent: we
 * fork a keeper, which makes a process group of its own, asks the kernel
 * for a signal when the agent dies (PR_SET_PDEATHSIG; the agent has one
 * thread, the one that forks) and forks the shell in its group. The
 * keeper waits for the shell and exits with its status; told that the
 * agent died, it kills its whole group (SIGKILL). A message whose hook
 * was started by an agent that died is not run again when the server
 * sends it once more: it is answered 202 (HOOK_INTERRUPTED), unless
 * hook.rerun_interrupted is set.
 *
 * Without a hook each message is printed as one JSON line on standard
 * output, and accepted once written; it is recorded as started before,
 * like a hook.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

#define HOOK_INTERRUPTED	202	/* the answer for an interrupted hook */
#define HOOK_DEATHSIG		SIGUSR1	/* to the keeper: the agent died */

struct hook {
	struct hook		*next;
	struct sippush_message	*m;
	pid_t			 pid;	/* the keeper; also the group */
	int64_t			 started;	/* monotonic ms */
	int64_t			 deadline;
	int			 killed;
};

static const struct config	*hk_cfg;
static struct sippush		*hk_client;
static struct hook		*hk_running;
static int			 hk_count;

/* The monotonic clock in ms (hooks and request hooks). */
int64_t
hook_now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
hook_init(const struct config *cfg, struct sippush *c)
{
	hk_cfg = cfg;
	hk_client = c;
	return 0;
}

/* The message was taken: record its ID durably, then accept it. */
static int
hook_taken(struct sippush_message *m)
{
	state_taken(m->id);
	return SIPPUSH_ACCEPT;
}

/* ---- JSON lines ---- */

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0. */
static size_t
hook_utf8(const unsigned char *s, size_t n)
{
	size_t		 len, i;
	uint32_t	 cp;

	if (s[0] < 0xc2 || s[0] > 0xf4)
		return 0;
	len = s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 : 4;
	if (len > n)
		return 0;
	cp = s[0] & (0x7f >> len);
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* s as a JSON string; bytes that are not UTF-8 become U+FFFD. */
void
hook_json_string(FILE *fp, const char *str, size_t n)
{
	const unsigned char	*s = (const unsigned char *)str;
	size_t			 i = 0, len;

	fputc('"', fp);
	while (i < n) {
		if (s[i] == '"' || s[i] == '\\') {
			fputc('\\', fp);
			fputc(s[i++], fp);
		} else if (s[i] == '\n') {
			fputs("\\n", fp);
			i++;
		} else if (s[i] == '\t') {
			fputs("\\t", fp);
			i++;
		} else if (s[i] == '\r') {
			fputs("\\r", fp);
			i++;
		} else if (s[i] < 0x20 || s[i] == 0x7f) {
			fprintf(fp, "\\u%04x", s[i++]);
		} else if (s[i] < 0x80) {
			fputc(s[i++], fp);
		} else if ((len = hook_utf8(s + i, n - i)) != 0) {
			fwrite(s + i, 1, len, fp);
			i += len;
		} else {
			fputs("\\ufffd", fp);
			i++;
		}
	}
	fputc('"', fp);
}

/* Print m as one JSON line; 0, or -1 if it could not be written. */
int
hook_json(FILE *fp, const struct sippush_message *m)
{
	fputs("{\"id\":", fp);
	hook_json_string(fp, m->id, strlen(m->id));
	fputs(",\"content_type\":", fp);
	hook_json_string(fp, m->content_type, strlen(m->content_type));
	fputs(",\"body\":", fp);
	hook_json_string(fp, m->body, m->body_len);
	fputs(",\"server\":", fp);
	hook_json_string(fp, m->server, strlen(m->server));
	fputs("}\n", fp);
	return fflush(fp) == EOF || ferror(fp) ? -1 : 0;
}

/* ---- hooks ---- */

/* In the keeper's child: become the hook. Never returns. */
static void
hook_exec(const struct sippush_message *m)
{
	sigset_t	 none;
	int		 sig;

	for (sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (setenv("SIPPUSH_MESSAGE_ID", m->id, 1) == -1 ||
	    setenv("SIPPUSH_CLASS", hk_cfg->client_class ?
	    hk_cfg->client_class : "", 1) == -1 ||
	    setenv("SIPPUSH_CONTENT_TYPE", m->content_type, 1) == -1 ||
	    setenv("SIPPUSH_SERVER", m->server, 1) == -1 ||
	    setenv("SIPPUSH_CLIENT_ID", hk_cfg->client_id, 1) == -1)
		_exit(126);
	execl("/bin/sh", "sh", "-c", hk_cfg->hook, (char *)NULL);
	_exit(127);
}

/* The keeper ends as the hook did: the same exit status or signal. */
static void
hook_keeper_exit(int st)
{
	struct rlimit	 nocore = { 0, 0 };
	sigset_t	 set;
	int		 sig;

	if (WIFEXITED(st))
		_exit(WEXITSTATUS(st));
	sig = WIFSIGNALED(st) ? WTERMSIG(st) : SIGKILL;
	setrlimit(RLIMIT_CORE, &nocore);
	signal(sig, SIG_DFL);
	sigemptyset(&set);
	sigaddset(&set, sig);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	kill(getpid(), sig);
	_exit(128 + sig);
}

/*
 * In the child: the hook's keeper (see above), the leader of the hook's
 * process group. agent is the agent's PID. Never returns.
 */
static void
hook_keeper(const struct sippush_message *m, int body, pid_t agent)
{
	siginfo_t	 si;
	sigset_t	 wait;
	pid_t		 pid, w;
	int		 sig, st;

	if (setpgid(0, 0) == -1 && getpgrp() != getpid())
		_exit(126);		/* the group to kill must be ours */
	sigemptyset(&wait);
	sigaddset(&wait, SIGCHLD);
	sigaddset(&wait, HOOK_DEATHSIG);
	sigprocmask(SIG_SETMASK, &wait, NULL);
	for (sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	/* what stops the hook must not stop its keeper first */
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	if (prctl(PR_SET_PDEATHSIG, HOOK_DEATHSIG) == -1)
		_exit(126);
	if (getppid() != agent)		/* died before the prctl */
		_exit(126);
	if (dup2(body, STDIN_FILENO) == -1)
		_exit(126);
	closefrom(STDERR_FILENO + 1);
	if ((pid = fork()) == -1)
		_exit(126);
	if (pid == 0)
		hook_exec(m);
	for (;;) {
		if (sigwaitinfo(&wait, &si) == -1)
			continue;
		if (si.si_signo == HOOK_DEATHSIG && getppid() != agent) {
			kill(-getpid(), SIGKILL);
			_exit(128 + SIGKILL);
		}
		do
			w = waitpid(pid, &st, WNOHANG);
		while (w == -1 && errno == EINTR);
		if (w == pid)
			hook_keeper_exit(st);
		if (w == -1)
			_exit(127);
	}
}

/* A file holding the body, at offset 0; -1 on error. */
static int
hook_body(const struct sippush_message *m)
{
	size_t	 off = 0;
	ssize_t	 n;
	int	 fd;

	if ((fd = memfd_create("sippush-body", MFD_CLOEXEC)) == -1)
		return -1;
	while (off < m->body_len) {
		n = write(fd, m->body + off, m->body_len - off);
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

/*
 * A message whose hook was interrupted (started by an agent that died):
 * SIPPUSH_DEFER to run it again (hook.rerun_interrupted), else the
 * answer, HOOK_INTERRUPTED, with its ID recorded as taken.
 */
static int
hook_interrupted(struct sippush_message *m)
{
	if (hk_cfg->hook_rerun) {
		log_warn("hook: message %s: its hook was interrupted (the "
		    "agent died while it ran): running it again "
		    "(hook.rerun_interrupted)", m->id);
		return SIPPUSH_DEFER;
	}
	log_warn("hook: message %s: its hook was interrupted (the agent "
	    "died while it ran): not run again, answered %d",
	    m->id, HOOK_INTERRUPTED);
	state_taken(m->id);
	return HOOK_INTERRUPTED;
}

/* Print m as a JSON line (no hook): the message callback's verdict. */
static int
hook_print(struct sippush_message *m)
{
	if (state_start(m->id) == -1)
		return SIPPUSH_REJECT;
	if (hook_json(stdout, m) == -1) {
		log_warn("hook: message %s: cannot write to standard "
		    "output: %s", m->id, strerror(errno));
		clearerr(stdout);
		state_failed(m->id);
		return SIPPUSH_REJECT;
	}
	return hook_taken(m);
}

/* The library's message callback: start a hook (or print). */
int
hook_message(struct sippush *c, struct sippush_message *m, void *arg)
{
	struct hook	*h;
	int		 body, v;
	pid_t		 pid, agent = getpid();

	(void)c;
	(void)arg;
	if (state_interrupted(m->id) &&
	    (v = hook_interrupted(m)) != SIPPUSH_DEFER)
		return v;
	if (hk_cfg->hook == NULL)
		return hook_print(m);
	if (hk_count >= hk_cfg->hook_max) {
		log_warn("hook: message %s: %d hooks running already, "
		    "refused for now", m->id, hk_count);
		return 503;
	}
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return SIPPUSH_REJECT;
	if ((body = hook_body(m)) == -1) {
		log_error("hook: message %s: cannot store the body: %s",
		    m->id, strerror(errno));
		free(h);
		return SIPPUSH_REJECT;
	}
	if (state_start(m->id) == -1) {
		log_error("hook: message %s: not run: it cannot be recorded "
		    "as started", m->id);
		close(body);
		free(h);
		return SIPPUSH_REJECT;
	}
	fflush(stdout);
	fflush(stderr);
	if ((pid = fork()) == -1) {
		log_error("hook: message %s: fork: %s", m->id,
		    strerror(errno));
		state_failed(m->id);
		close(body);
		free(h);
		return SIPPUSH_REJECT;
	}
	if (pid == 0)
		hook_keeper(m, body, agent);
	setpgid(pid, pid);
	close(body);
	h->m = m;
	h->pid = pid;
	h->started = hook_now();
	h->deadline = h->started + (int64_t)hk_cfg->hook_timeout * 1000;
	h->next = hk_running;
	hk_running = h;
	hk_count++;
	log_info("hook: message %s: started, process group %d", m->id,
	    (int)pid);
	return SIPPUSH_DEFER;
}

/* h's process is gone with status st: answer its message, forget h. */
static void
hook_done(struct hook *h, int st)
{
	struct hook	**pp;
	int64_t		 ms = hook_now() - h->started;
	int		 ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;

	for (pp = &hk_running; *pp; pp = &(*pp)->next)
		if (*pp == h) {
			*pp = h->next;
			break;
		}
	hk_count--;
	if (ok)
		log_info("hook: message %s: done in %lld ms", h->m->id,
		    (long long)ms);
	else if (h->killed)
		log_warn("hook: message %s: killed after %d s (hook.timeout)",
		    h->m->id, hk_cfg->hook_timeout);
	else if (WIFEXITED(st))
		log_warn("hook: message %s: exit status %d", h->m->id,
		    WEXITSTATUS(st));
	else
		log_warn("hook: message %s: killed by signal %d", h->m->id,
		    WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	if (!ok)
		state_failed(h->m->id);
	sippush_answer(hk_client, h->m, ok ? hook_taken(h->m) :
	    SIPPUSH_REJECT);
	free(h);
}

/* Collect the hooks that exited; kill those past their time. */
void
hook_reap(void)
{
	struct hook	*h, *next;
	int64_t		 now = hook_now();
	int		 st;

	for (h = hk_running; h; h = next) {
		next = h->next;
		if (hook_child_reap(h->pid, h->deadline, &h->killed, now, &st))
			hook_done(h, st);
	}
}

/*
 * A hook's process (group) pid: 1 when it has ended, *st its status
 * (127 if it was reaped elsewhere); else 0, after killing its group once
 * past deadline (*killed set).
 */
int
hook_child_reap(pid_t pid, int64_t deadline, int *killed, int64_t now,
    int *st)
{
	pid_t	 r;

	do
		r = waitpid(pid, st, WNOHANG);
	while (r == -1 && errno == EINTR);
	if (r == pid || (r == -1 && errno == ECHILD)) {
		if (r == -1)
			*st = W_EXITCODE(127, 0);
		return 1;
	}
	if (!*killed && now >= deadline) {
		kill(-pid, SIGKILL);
		*killed = 1;
	}
	return 0;
}

/* ms before a hook's process needs looking at: its deadline, or 100 ms
 * once killed (to reap it); never below 0. */
int64_t
hook_child_wait(int64_t deadline, int killed, int64_t now)
{
	int64_t	 d = killed ? 100 : deadline - now;

	return d < 0 ? 0 : d;
}

/* How long the loop may sleep before a hook's deadline, in ms; -1: no
 * hook running. */
int
hook_wait_ms(void)
{
	struct hook	*h;
	int64_t		 now = hook_now(), d, best = -1;

	for (h = hk_running; h; h = h->next) {
		d = hook_child_wait(h->deadline, h->killed, now);
		if (best == -1 || d < best)
			best = d;
	}
	return (int)best;
}

/* Stop every hook: SIGTERM to its group, grace_ms to exit (a hook that
 * exits 0 in time still counts), then SIGKILL. */
void
hook_stop_all(int grace_ms)
{
	struct hook	*h;
	int64_t		 end = hook_now() + grace_ms;

	if (hk_running == NULL)
		return;
	log_notice("hook: stopping %d hooks", hk_count);
	for (h = hk_running; h; h = h->next)
		kill(-h->pid, SIGTERM);
	while (hk_running && hook_now() < end) {
		hook_reap();
		if (hk_running)
			usleep(20000);
	}
	for (h = hk_running; h; h = h->next) {
		kill(-h->pid, SIGKILL);
		h->killed = 1;
	}
	while (hk_running) {
		hook_reap();
		if (hk_running)
			usleep(10000);
	}
}
