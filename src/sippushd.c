/*
 * sippushd.c: the daemon's entry point: options, start-up in dependency
 * order (config, store, table, SIP, registrar, heartbeats, control
 * socket, HTTP API, webhooks), the event loop, and a clean shutdown on
 * SIGTERM or SIGINT.
 */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sofia-sip/su.h>
#include <sofia-sip/su_wait.h>

#include "daemon.h"
#include "sippushd.h"
#include "webhook.h"

static volatile sig_atomic_t	 sippushd_quit;

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: sippushd [-FhnV] [-f file]\n"
	    "  -f, --config file  configuration file (default %s)\n"
	    "  -F, --foreground   stay in the foreground and log to stderr\n"
	    "  -n, --check        check the configuration, print the "
	    "effective\n"
	    "                     settings, exit\n"
	    "  -h, --help         show this help\n"
	    "  -V, --version      show the version\n", SIPPUSH_CONFFILE);
}

static void
sippushd_signal(int sig)
{
	(void)sig;
	sippushd_quit = 1;
}

/*
 * A start-up failure the person starting sippushd must act on: one line
 * "sippushd: what is wrong: what to do", exit 1. In the foreground it
 * goes to stderr as it is (the log would add a time and a level); a
 * daemon logs it and its waiting parent prints it.
 */
static void __attribute__((format(printf, 2, 3), noreturn))
sippushd_startfail(int foreground, const char *fmt, ...)
{
	va_list	 ap;
	char	 msg[1024];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!foreground)
		fatalx("%s", msg);
	fprintf(stderr, "sippushd: %s\n", msg);
	exit(1);
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'f' },
		{ "foreground", no_argument, NULL, 'F' },
		{ "check", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	static struct config	 cfg;
	struct sigaction	 sa;
	su_root_t		*root;
	const char		*path = NULL;
	char			 err[512];
	int			 ch, foreground = 0, check = 0, n;

	/*
	 * One malloc arena for every thread: the writer makes a publish's
	 * 100,000 target rows, and in an arena of its own their freed
	 * memory stayed with the process (+9 MiB after a fan-out, for good:
	 * malloc_trim cannot shrink a thread arena's fragmented heap). The
	 * event loop and the writer take turns more than they contend;
	 * BENCHMARKS.md measured no slowdown.
	 */
	mallopt(M_ARENA_MAX, 1);

	while ((ch = getopt_long(argc, argv, "f:FhnV", longopts, NULL)) !=
	    -1) {
		switch (ch) {
		case 'f':
			path = optarg;
			break;
		case 'F':
			foreground = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'n':
			check = 1;
			break;
		case 'V':
			printf("sippushd %s\n", SIPPUSH_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "sippushd: unexpected argument \"%s\"\n",
		    argv[optind]);
		usage(stderr);
		return 2;
	}

	log_init(1, LOG_LEVEL_INFO, "sippushd");
	config_defaults(&cfg);
	if (path == NULL && access(SIPPUSH_CONFFILE, F_OK) == 0)
		path = SIPPUSH_CONFFILE;
	if (path && config_load(&cfg, path, err, sizeof(err)) == -1) {
		fprintf(stderr, "sippushd: %s\n", err);
		config_free(&cfg);
		return 1;
	}
	if (tls_check(&cfg, err, sizeof(err)) == -1) {
		fprintf(stderr, "sippushd: %s\n", err);
		config_free(&cfg);
		return 1;
	}
	if (check) {
		if (config_check_address(&cfg, err, sizeof(err)) == -1) {
			fprintf(stderr, "sippushd: %s\n", err);
			config_free(&cfg);
			return 1;
		}
		if (config_warning(&cfg) != NULL)
			fprintf(stderr, "sippushd: warning: %s\n",
			    config_warning(&cfg));
		config_print(&cfg, stdout);
		config_free(&cfg);
		return 0;
	}
	log_init(foreground, cfg.log_level, "sippushd");
	if (!foreground)
		daemon_start("sippushd");
	if (path == NULL)
		log_notice("sippushd: no %s, running with built-in defaults",
		    SIPPUSH_CONFFILE);
	if (config_warning(&cfg) != NULL)
		log_warn("sippushd: %s", config_warning(&cfg));

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = sippushd_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	/* a file size limit (ulimit -f) reached is a store fault, EFBIG */
	sigaction(SIGXFSZ, &sa, NULL);

	if (su_init() != 0)
		fatalx("sippushd: cannot initialise Sofia-SIP");
	log_sofia(cfg.log_sip_level);
	if ((root = su_root_create(NULL)) == NULL)
		fatalx("sippushd: cannot create the event loop");
	su_root_threading(root, 0);

	if (clients_init() == -1)
		fatalx("sippushd: out of memory");
	if (store_open_config(&cfg, err, sizeof(err)) == -1)
		sippushd_startfail(foreground, "%s", err);
	if (cluster_init(&cfg, root, err, sizeof(err)) == -1)
		sippushd_startfail(foreground, "%s", err);
	if ((n = store_load_clients(clients_restore_row, NULL)) == -1)
		sippushd_startfail(foreground, "%s: cannot load the clients: "
		    "%s", store_where(), store_errmsg());
	log_info("store: %s: %d clients loaded", store_where(), n);
	if (sip_init(&cfg, root, err, sizeof(err)) == -1)
		fatalx("sip: %s", err);
	registrar_init(&cfg, sip_agent());
	if (auth_init(&cfg, sip_agent()) == -1)
		fatalx("auth: cannot start");
	if ((n = auth_users_load()) == -1)
		sippushd_startfail(foreground, "%s: cannot load the users: "
		    "%s", store_where(), store_errmsg());
	if (cfg.auth_enabled && n == 0)
		log_warn("auth: auth.enabled is on and no user exists: every "
		    "client is refused until \"sippushctl user add\"");
	if ((n = token_init(&cfg)) == -1)
		sippushd_startfail(foreground, "%s: cannot load the HTTP "
		    "API's tokens: %s", cfg.db_path, store_errmsg());
	if (commit_init(&cfg, root) == -1 ||
	    heartbeat_init(&cfg, root, sip_agent()) == -1 ||
	    dispatch_init(&cfg, root, sip_agent()) == -1 ||
	    webhook_init(&cfg, root) == -1)
		fatalx("sippushd: cannot create timers");
	if (relay_init(&cfg, root, sip_agent()) == -1)
		fatalx("relay: cannot start");
	if ((n = webhook_restore()) == -1)
		sippushd_startfail(foreground, "%s: cannot load the webhook "
		    "outbox: %s", cfg.db_path, store_errmsg());
	if ((n = dispatch_restore()) == -1)
		sippushd_startfail(foreground, "%s: cannot load the messages: "
		    "%s", store_where(), store_errmsg());
	if (fleet_init(&cfg, root) == -1)
		fatalx("fleet: cannot start listening for the other nodes");
	if (control_init(&cfg, root, err, sizeof(err)) == -1)
		sippushd_startfail(foreground, "%s", err);
	if (http_init(&cfg, root, err, sizeof(err)) == -1)
		sippushd_startfail(foreground, "%s", err);

	store_serving();
	log_notice("sippushd %s started", SIPPUSH_VERSION);
	if (!foreground)
		daemon_ready("sippushd");
	daemon_notify("sippushd", "READY=1\nSTATUS=serving");

	while (!sippushd_quit)
		su_root_step(root, 1000);

	log_notice("sippushd: shutting down");
	daemon_notify("sippushd", "STOPPING=1");
	http_shutdown();
	control_shutdown();
	heartbeat_shutdown();
	relay_shutdown();
	webhook_quiesce();
	fleet_shutdown();
	dispatch_shutdown();
	commit_shutdown();
	cluster_shutdown();	/* its timer: before the loop goes */
	webhook_shutdown();	/* after the last commit: its rows written */
	clients_free();		/* drops its connections: before the agent */
	auth_users_free();
	token_shutdown();
	sip_shutdown();
	su_root_destroy(root);
	store_close();
	su_deinit();
	config_free(&cfg);
	log_notice("sippushd: stopped");
	return 0;
}
