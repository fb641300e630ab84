/*
 * daemon.c: fork into the background, but let the parent wait until the
 * child says "OK" (it is serving) or why it could not start (what
 * log_startup sends it), and exit 0 or 1 with it, so that an init script
 * or a person sees a failed start at once.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"

static int	 daemon_ready_fd = -1;

/* Fork; only the child returns. The parent waits for daemon_ready (exit
 * 0) or the start-up error (printed as "name: ...", exit 1). */
void
daemon_start(const char *name)
{
	char	 msg[1024];
	ssize_t	 n;
	size_t	 len = 0;
	int	 fds[2];

	if (pipe(fds) == -1)
		fatalx("%s: pipe: %s", name, strerror(errno));
	switch (fork()) {
	case -1:
		fatalx("%s: fork: %s", name, strerror(errno));
	case 0:
		close(fds[0]);
		setsid();
		daemon_ready_fd = fds[1];
		log_startup(fds[1]);
		return;
	}
	close(fds[1]);
	while (len < sizeof(msg) - 1 &&
	    (n = read(fds[0], msg + len, sizeof(msg) - 1 - len)) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			break;
		len += (size_t)n;
	}
	msg[len] = '\0';
	if (strcmp(msg, "OK") == 0)
		_exit(0);
	if (len)
		fprintf(stderr, "%s: %s", name, msg);
	else
		fprintf(stderr, "%s: exited while starting\n", name);
	_exit(1);
}

/* Tell the waiting parent that start-up succeeded; detach from it and
 * from the terminal. */
void
daemon_ready(const char *name)
{
	int	 fd;

	if (write(daemon_ready_fd, "OK", 2) != 2)
		log_warn("%s: parent went away during start-up", name);
	log_startup(-1);
	close(daemon_ready_fd);
	daemon_ready_fd = -1;
	if ((fd = open("/dev/null", O_RDWR)) != -1) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
	if (chdir("/") == -1)
		log_warn("%s: chdir /: %s", name, strerror(errno));
}

/*
 * Tell systemd (Type=notify) how the service is: "READY=1",
 * "STOPPING=1", ... (sd_notify(3)'s protocol: one datagram to the unix
 * socket named in NOTIFY_SOCKET, "@" for the abstract namespace). Does
 * nothing outside systemd; a failure is logged, never fatal.
 */
void
daemon_notify(const char *name, const char *state)
{
	const char		*path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un	 sun;
	socklen_t		 len;
	size_t			 plen;
	int			 fd;

	if (path == NULL || (path[0] != '/' && path[0] != '@'))
		return;
	if ((plen = strlen(path)) >= sizeof(sun.sun_path)) {
		log_warn("%s: NOTIFY_SOCKET is too long", name);
		return;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, plen);
	if (path[0] == '@')
		sun.sun_path[0] = '\0';
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen);
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1 ||
	    sendto(fd, state, strlen(state), MSG_NOSIGNAL,
	    (struct sockaddr *)&sun, len) == -1)
		log_warn("%s: cannot notify systemd (%s): %s", name, path,
		    strerror(errno));
	if (fd != -1)
		close(fd);
}
