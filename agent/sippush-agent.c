/*
 * sippush-agent.c: the reference client's entry point: settings (file,
 * then flags), the state file, a libsippush client driven from our own
 * loop (sippush_step, so that hooks can be reaped and timed out between
 * steps), daemon mode, and a clean stop on SIGTERM or SIGINT that
 * unregisters first.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "daemon.h"

#define AGENT_STEP_MAX		1000	/* ms between checks of the hooks */
#define AGENT_HOOK_GRACE	2000	/* ms for hooks to end at a stop */

static struct sippush		*agent_client;
static volatile sig_atomic_t	 agent_quit;

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: sippush-agent [-FhnV] [-f file] [options]\n"
	    "  -f, --config file        configuration file (default %s)\n"
	    "  -F, --foreground         stay in the foreground, log to stderr\n"
	    "  -n, --check              check the settings, print them, exit\n"
	    "  -h, --help               show this help\n"
	    "  -V, --version            show the version\n"
	    "      --send ID BODY       send BODY to the client ID through "
	    "the server,\n"
	    "                           print its answer and exit\n"
	    "      --store              with --send: have the server store "
	    "it if ID\n"
	    "                           cannot answer now (202)\n"
	    "settings (override the file):\n"
	    "  -s, --server host[:port] a server; repeat for a list, in order "
	    "of preference\n"
	    "  -t, --transport proto    server.transport (udp, tcp, tls)\n"
	    "  -i, --id ID              client.id\n"
	    "  -c, --class NAME         client.class\n"
	    "  -b, --bind address       sip.address\n"
	    "  -p, --port port          sip.port\n"
	    "  -H, --hook command       hook.command\n"
	    "      --hook-timeout s     hook.timeout\n"
	    "  -S, --state-file path    messages.state_file\n"
	    "      --answer-timeout ms  messages.answer_timeout\n"
	    "      --expires s          server.expires\n"
	    "      --heartbeat s        server.heartbeat_interval\n"
	    "      --timeout ms         server.timeout\n"
	    "      --failback s         server.failback_interval\n"
	    "  -l, --log-level level    log.level (error, warning, notice, "
	    "info, debug)\n",
	    AGENT_CONFFILE);
}

static void
agent_signal(int sig)
{
	if (agent_client == NULL)
		return;
	if (sig == SIGCHLD) {
		sippush_wakeup(agent_client);
		return;
	}
	agent_quit = 1;
	edge_signal();
	sippush_stop(agent_client);
}

static void
agent_state(struct sippush *c, enum sippush_state st, const char *server,
    void *arg)
{
	(void)c;
	(void)arg;
	log_debug("agent: %s%s%s", sippush_state_name(st),
	    server ? " " : "", server ? server : "");
}

static void
agent_signals(void)
{
	struct sigaction	 sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = agent_signal;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
	sigaction(SIGCHLD, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sa.sa_flags = 0;
	sigaction(SIGPIPE, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

/* The library's settings from ours. */
static void
agent_settings(const struct config *cfg, struct sippush_settings *s)
{
	static char	 ua[64];

	snprintf(ua, sizeof(ua), "sippush-agent/%s", SIPPUSH_VERSION);
	sippush_settings_init(s);
	s->servers = (const char *const *)cfg->servers;
	s->nservers = (size_t)cfg->nservers;
	s->client_id = cfg->client_id;
	s->client_class = cfg->client_class;
	s->transport = (enum sippush_transport)cfg->transport;
	s->ca_file = cfg->tls_ca_file;
	s->resolv_conf = cfg->resolv_conf;
	s->tls_insecure = cfg->tls_insecure;
	s->bind_address = strcmp(cfg->sip_address, "0.0.0.0") == 0 ? NULL :
	    cfg->sip_address;
	s->bind_port = cfg->sip_port;
	s->expires = cfg->expires;
	s->heartbeat_interval = cfg->heartbeat;
	s->request_timeout = cfg->timeout;
	s->answer_timeout = cfg->answer_timeout;
	s->retry_initial = cfg->retry_initial;
	s->retry_max = cfg->retry_max;
	s->failback_interval = cfg->failback;
	s->seen_max = cfg->remember;
	s->max_pending = cfg->max_pending;
	s->any_source = cfg->any_source;
	s->username = cfg->username;
	s->password = cfg->password;
	s->user_agent = ua;
	s->on_message = hook_message;
	s->on_request = request_hook;
	s->on_state = agent_state;
	s->on_log = log_lib;
	s->log_level = (enum sippush_log_level)cfg->log_level;
	s->sip_log_level = cfg->sip_log_level;
	if (cfg->relay_mode == RELAY_USE) {
		s->relay_discovery_port = cfg->relay_discovery_port;
		s->relay_interface = cfg->relay_interface;
		s->relay_lease = cfg->relay_lease;
	}
}

int
main(int argc, char *argv[])
{
	static struct config	 cfg;
	struct sippush_settings	 s;
	struct stat		 st;
	struct config_flag	*flags;
	const char		*path = NULL, *send_to = NULL, *send_body;
	int			 store = 0;
	char			 err[512];
	size_t			 nflags = 0;
	int			 ch, foreground = 0, check = 0, n, wait;

	if ((flags = calloc((size_t)argc, sizeof(*flags))) == NULL)
		return 1;
	while ((ch = getopt_long(argc, argv, config_short_options(),
	    config_long_options(), NULL)) != -1) {
		switch (ch) {
		case 'f':
			path = optarg;
			break;
		case 'F':
			foreground = 1;
			break;
		case 'n':
			check = 1;
			break;
		case 'h':
			usage(stdout);
			free(flags);
			return 0;
		case AGENT_OPT_SEND:
			send_to = optarg;
			break;
		case AGENT_OPT_STORE:
			store = 1;
			break;
		case 'V':
			printf("sippush-agent %s (libsippush %s)\n",
			    SIPPUSH_VERSION, sippush_version());
			free(flags);
			return 0;
		default:
			if (!config_is_setting(ch)) {
				usage(stderr);
				free(flags);
				return 2;
			}
			flags[nflags].opt = ch;
			flags[nflags].value = optarg;
			nflags++;
			break;
		}
	}
	send_body = send_to && optind < argc ? argv[optind++] : NULL;
	if (send_to && send_body == NULL) {
		fprintf(stderr, "sippush-agent: --send %s: no BODY\n",
		    send_to);
		usage(stderr);
		free(flags);
		return 2;
	}
	if (store && send_to == NULL) {
		fprintf(stderr, "sippush-agent: --store goes with --send\n");
		usage(stderr);
		free(flags);
		return 2;
	}
	if (optind != argc) {
		fprintf(stderr, "sippush-agent: unexpected argument \"%s\"\n",
		    argv[optind]);
		usage(stderr);
		free(flags);
		return 2;
	}

	log_init(1, SIPPUSH_LOG_INFO);
	config_defaults(&cfg);
	if (path == NULL && access(AGENT_CONFFILE, F_OK) == 0)
		path = AGENT_CONFFILE;
	if ((path && config_load(&cfg, path, err, sizeof(err)) == -1) ||
	    config_apply(&cfg, flags, nflags, err, sizeof(err)) == -1 ||
	    config_check(&cfg, err, sizeof(err)) == -1) {
		fprintf(stderr, "sippush-agent: %s\n", err);
		config_free(&cfg);
		free(flags);
		return 1;
	}
	free(flags);
	if (check) {
		config_print(&cfg, stdout);
		config_free(&cfg);
		return 0;
	}
	if (send_to) {
		/* one request, in the foreground, no state file or hook */
		log_init(1, cfg.log_level);
		agent_settings(&cfg, &s);
		s.on_request = NULL;
		if (sippush_create(&agent_client, &s, err, sizeof(err)) != 0) {
			fprintf(stderr, "sippush-agent: %s\n", err);
			config_free(&cfg);
			return 1;
		}
		agent_signals();
		n = request_send(agent_client, send_to, send_body, store,
		    2 * cfg.timeout);
		sippush_destroy(agent_client);
		agent_client = NULL;
		config_free(&cfg);
		return n;
	}
	log_init(foreground, cfg.log_level);
	if (!foreground)
		daemon_start("sippush-agent");
	if (path == NULL)
		log_notice("agent: no %s, running with built-in defaults and "
		    "flags", AGENT_CONFFILE);
	else if (cfg.password && stat(path, &st) == 0 &&
	    (st.st_mode & (S_IRWXG | S_IRWXO)))
		log_warn("agent: %s holds a password and other users may "
		    "read it: chmod go= %s", path, path);

	agent_settings(&cfg, &s);
	if (sippush_create(&agent_client, &s, err, sizeof(err)) != 0)
		fatalx("agent: %s", err);
	hook_init(&cfg, agent_client);
	request_init(&cfg, agent_client);
	if (cfg.relay_mode == RELAY_SERVE &&
	    edge_start(&cfg, err, sizeof(err)) == -1)
		fatalx("agent: %s", err);
	if ((n = state_load(agent_client, cfg.state_file, cfg.remember, err,
	    sizeof(err))) == -1)
		fatalx("state: %s", err);
	log_info("state: %s: %d message IDs loaded", cfg.state_file, n);
	agent_signals();
	log_notice("sippush-agent %s started: %s, class %s, %d server%s, %s",
	    SIPPUSH_VERSION, cfg.client_id, cfg.client_class ?
	    cfg.client_class : "(server's default)", cfg.nservers,
	    cfg.nservers == 1 ? "" : "s", cfg.hook ? "hook" : "JSON lines");
	if (!foreground)
		daemon_ready("sippush-agent");
	daemon_notify("sippush-agent", "READY=1");

	for (;;) {
		wait = hook_wait_ms();
		n = request_wait_ms();
		if (wait < 0 || (n >= 0 && n < wait))
			wait = n;
		if (wait < 0 || wait > AGENT_STEP_MAX)
			wait = AGENT_STEP_MAX;
		if (!sippush_step(agent_client, wait))
			break;
		hook_reap();
		request_reap();
	}

	daemon_notify("sippush-agent", "STOPPING=1");
	hook_stop_all(AGENT_HOOK_GRACE);
	request_stop_all();
	edge_stop();
	sippush_destroy(agent_client);
	agent_client = NULL;
	state_close();
	config_free(&cfg);
	log_notice("agent: stopped");
	return 0;
}
