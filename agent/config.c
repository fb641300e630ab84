/*
 * config.c: sippush-agent's settings.
 *
 * Every setting is a row of `settings`: its path in the file, its type,
 * where it lands in struct config, its range, and the command-line flag
 * that overrides it. config_load has the file read by common/conffile.c,
 * which refuses anything unknown, out of range or of the wrong type with
 * "file:line: option: reason"; config_apply takes the flags over it
 * ("--flag: reason"); config_check then checks the settings against each
 * other.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <libconfig.h>

#include "agent.h"
#include "conffile.h"
#include "sippush_int.h"
#include "wire.h"

#define SET_LIST	CONF_OTHER	/* of strings: server.list */

/* A setting of the file (common/conffile.h), and its flag. */
struct setting {
	struct conf_opt		 o;
	const char		*flag;		/* long option, or NULL */
	int			 opt;		/* its getopt value */
};

static const char *const transport_names[] = { "udp", "tcp", "tls", NULL };
static const char *const relay_modes[] = { "off", "serve", "use", NULL };
static const char *const level_names[] = {
	"error", "warning", "notice", "info", "debug", NULL
};

#define F(field)	offsetof(struct config, field)

static const struct setting settings[] = {
	{ { "server.list", SET_LIST, F(servers), 0, 0, NULL }, "server", 's' },
	{ { "server.transport", CONF_ENUM, F(transport), 0, 0,
	    transport_names }, "transport", 't' },
	{ { "server.expires", CONF_INT, F(expires), 1, 604800, NULL },
	    "expires", 1001 },
	{ { "server.heartbeat_interval", CONF_INT, F(heartbeat), 0,
	    86400, NULL },
	    "heartbeat", 1002 },
	{ { "server.timeout", CONF_INT, F(timeout), 500, 64000, NULL },
	    "timeout", 1003 },
	{ { "server.retry_initial", CONF_INT, F(retry_initial), 100,
	    3600000, NULL },
	    NULL, 0 },
	{ { "server.retry_max", CONF_INT, F(retry_max), 100, 86400000, NULL },
	    NULL, 0 },
	{ { "server.failback_interval", CONF_INT, F(failback), 0,
	    86400, NULL },
	    "failback", 1004 },
	{ { "server.resolv_conf", CONF_STRING, F(resolv_conf), 0, 0, NULL },
	    NULL, 0 },
	{ { "client.id", CONF_STRING, F(client_id), 0, 0, NULL }, "id", 'i' },
	{ { "client.class", CONF_STRING, F(client_class), 0, 0, NULL },
	    "class", 'c' },
	{ { "sip.address", CONF_STRING, F(sip_address), 0, 0, NULL },
	    "bind", 'b' },
	{ { "sip.port", CONF_INT, F(sip_port), 0, 65535, NULL }, "port", 'p' },
	{ { "sip.log_level", CONF_INT, F(sip_log_level), 0, 9, NULL },
	    NULL, 0 },
	{ { "auth.username", CONF_STRING, F(username), 0, 0, NULL }, NULL, 0 },
	{ { "auth.password", CONF_STRING, F(password), 0, 0, NULL }, NULL, 0 },
	{ { "messages.answer_timeout", CONF_INT, F(answer_timeout), 100,
	    600000, NULL },
	    "answer-timeout", 1005 },
	{ { "messages.remember", CONF_INT, F(remember), 1, 1000000, NULL },
	    NULL, 0 },
	{ { "messages.max_pending", CONF_INT, F(max_pending), 1,
	    100000, NULL },
	    NULL, 0 },
	{ { "messages.any_source", CONF_BOOL, F(any_source), 0, 1, NULL },
	    NULL, 0 },
	{ { "messages.state_file", CONF_STRING, F(state_file), 0, 0, NULL },
	    "state-file", 'S' },
	{ { "hook.command", CONF_STRING, F(hook), 0, 0, NULL }, "hook", 'H' },
	{ { "hook.timeout", CONF_INT, F(hook_timeout), 1, 86400, NULL },
	    "hook-timeout", 1006 },
	{ { "hook.max_running", CONF_INT, F(hook_max), 1, 1000, NULL },
	    NULL, 0 },
	{ { "hook.rerun_interrupted", CONF_BOOL, F(hook_rerun), 0, 1, NULL },
	    NULL, 0 },
	{ { "log.level", CONF_ENUM, F(log_level), 0, 0, level_names },
	    "log-level", 'l' },
	/* server.transport "tls" */
	{ { "tls.ca_file", CONF_STRING, F(tls_ca_file), 0, 0, NULL },
	    NULL, 0 },
	{ { "tls.insecure", CONF_BOOL, F(tls_insecure), 0, 1, NULL },
	    NULL, 0 },
	/* edge relay for isolated networks (RELAY in sippush-agent(1)) */
	{ { "relay.mode", CONF_ENUM, F(relay_mode), 0, 0, relay_modes },
	    NULL, 0 },
	{ { "relay.interface", CONF_STRING, F(relay_interface), 0, 0, NULL },
	    NULL, 0 },
	{ { "relay.id", CONF_STRING, F(relay_id), 0, 0, NULL }, NULL, 0 },
	{ { "relay.priority", CONF_INT, F(relay_priority), 0, 65535, NULL },
	    NULL, 0 },
	{ { "relay.port", CONF_INT, F(relay_port), 1, 65535, NULL },
	    NULL, 0 },
	{ { "relay.discovery_port", CONF_INT, F(relay_discovery_port), 1,
	    65535, NULL }, NULL, 0 },
	{ { "relay.announce_interval", CONF_INT, F(relay_announce), 100,
	    60000, NULL }, NULL, 0 },
	{ { "relay.lease", CONF_INT, F(relay_lease), 200, 600000, NULL },
	    NULL, 0 },
};

#define NSETTINGS	(sizeof(settings) / sizeof(settings[0]))

static const char *const groups[] = {
	"server", "client", "sip", "auth", "messages", "hook", "log",
	"tls", "relay",
	NULL
};

/* The flags that are no setting; the setting flags are added to these. */
static const struct option plain_options[] = {
	{ "config", required_argument, NULL, 'f' },
	{ "foreground", no_argument, NULL, 'F' },
	{ "check", no_argument, NULL, 'n' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ "send", required_argument, NULL, AGENT_OPT_SEND },
	{ "store", no_argument, NULL, AGENT_OPT_STORE },
};

#define NPLAIN	(sizeof(plain_options) / sizeof(plain_options[0]))

static struct option long_options[NPLAIN + NSETTINGS + 1];

/* getopt_long's table: the plain flags, then one per setting flag. */
const struct option *
config_long_options(void)
{
	size_t	 i, n = 0;

	if (long_options[0].name)
		return long_options;
	for (i = 0; i < NPLAIN; i++)
		long_options[n++] = plain_options[i];
	for (i = 0; i < NSETTINGS; i++)
		if (settings[i].flag) {
			long_options[n].name = settings[i].flag;
			long_options[n].has_arg = required_argument;
			long_options[n].flag = NULL;
			long_options[n].val = settings[i].opt;
			n++;
		}
	return long_options;
}

const char *
config_short_options(void)
{
	return "f:FnhVs:t:i:c:b:p:S:H:l:";
}

static const struct setting *
config_by_opt(int opt)
{
	size_t	 i;

	for (i = 0; i < NSETTINGS; i++)
		if (settings[i].flag && settings[i].opt == opt)
			return &settings[i];
	return NULL;
}

/* Is opt (from getopt_long) a flag that sets a setting? */
int
config_is_setting(int opt)
{
	return config_by_opt(opt) != NULL;
}

static void
config_oom(void)
{
	fatalx("config: out of memory");
}

static char *
config_strdup(const char *s)
{
	char	*d;

	if ((d = strdup(s)) == NULL)
		config_oom();
	return d;
}

static void
config_clear_list(struct config *c)
{
	int	 i;

	for (i = 0; i < c->nservers; i++)
		free(c->servers[i]);
	free(c->servers);
	c->servers = NULL;
	c->nservers = 0;
}

static void
config_add_server(struct config *c, const char *s)
{
	char	**v;

	if ((v = reallocarray(c->servers, (size_t)c->nservers + 2,
	    sizeof(*v))) == NULL)
		config_oom();
	c->servers = v;
	v[c->nservers++] = config_strdup(s);
	v[c->nservers] = NULL;
}

/* The default client ID: this host's name, cut to what sippushd takes. */
static char *
config_default_id(void)
{
	char	 host[256];
	size_t	 i;

	if (gethostname(host, sizeof(host)) == -1 || host[0] == '\0')
		snprintf(host, sizeof(host), "sippush-agent");
	host[sizeof(host) - 1] = '\0';
	for (i = 0; host[i]; i++)
		if (!isalnum((unsigned char)host[i]) && host[i] != '.' &&
		    host[i] != '_' && host[i] != '-')
			host[i] = '-';
	if (strlen(host) > SIPPUSH_ID_MAX)
		host[SIPPUSH_ID_MAX] = '\0';
	return config_strdup(host);
}

/* Fill c with the built-in defaults. Aborts on ENOMEM. */
void
config_defaults(struct config *c)
{
	struct sippush_settings	 s;

	sippush_settings_init(&s);
	memset(c, 0, sizeof(*c));
	config_add_server(c, "127.0.0.1");
	c->transport = s.transport;
	c->expires = s.expires;
	c->heartbeat = s.heartbeat_interval;
	c->timeout = s.request_timeout;
	c->retry_initial = s.retry_initial;
	c->retry_max = s.retry_max;
	c->failback = s.failback_interval;
	c->client_id = config_default_id();
	c->sip_address = config_strdup("0.0.0.0");
	c->sip_port = 0;
	c->sip_log_level = 0;
	c->answer_timeout = s.answer_timeout;
	c->remember = s.seen_max;
	c->max_pending = s.max_pending;
	c->any_source = 0;
	c->state_file = config_strdup(AGENT_STATEFILE);
	c->hook_timeout = 30;
	c->hook_max = 4;
	c->hook_rerun = 0;
	c->log_level = SIPPUSH_LOG_INFO;
	c->relay_mode = RELAY_OFF;
	c->relay_priority = 100;
	c->relay_port = 5070;
	c->relay_discovery_port = 5071;
	c->relay_announce = 1000;
	c->relay_lease = 3000;
}

void
config_free(struct config *c)
{
	size_t	 i;

	for (i = 0; i < NSETTINGS; i++)
		if (settings[i].o.type == CONF_STRING) {
			free(*conf_str(c, &settings[i].o));
			*conf_str(c, &settings[i].o) = NULL;
		}
	config_clear_list(c);
	free(c->path);
	c->path = NULL;
}

static const struct conf_opt *
config_setting(const char *group, const char *name)
{
	size_t	 i, glen = strlen(group);

	for (i = 0; i < NSETTINGS; i++)
		if (strncmp(settings[i].o.path, group, glen) == 0 &&
		    settings[i].o.path[glen] == '.' &&
		    strcmp(settings[i].o.path + glen + 1, name) == 0)
			return &settings[i].o;
	return NULL;
}

/* server.list: a list of strings; 0, or -1 with err filled. */
static int
config_take_list(void *base, const struct conf_opt *o, config_setting_t *s,
    const char *file, char *err, size_t errlen)
{
	struct config		*c = base;
	config_setting_t	*e;
	int			 line = config_setting_source_line(s);
	int			 type = config_setting_type(s), i;

	if (type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST)
		return conf_fail(err, errlen, file, line,
		    "%s: expected a list of strings [ \"...\", ... ]",
		    o->path);
	if (config_setting_length(s) == 0)
		return conf_fail(err, errlen, file, line,
		    "%s: must not be empty", o->path);
	config_clear_list(c);
	for (i = 0; i < config_setting_length(s); i++) {
		e = config_setting_get_elem(s, (unsigned)i);
		if (config_setting_type(e) != CONFIG_TYPE_STRING)
			return conf_fail(err, errlen, file, line,
			    "%s: expected a list of strings", o->path);
		config_add_server(c, config_setting_get_string(e));
	}
	return 0;
}

/*
 * Read path over the values already in c (normally config_defaults).
 * Returns 0, or -1 with "file:line: reason" in err; c then holds a mix
 * and must only be freed.
 */
int
config_load(struct config *c, const char *path, char *err, size_t errlen)
{
	static const struct conf_spec	 spec = {
		groups, config_setting, config_take_list
	};

	if (conf_read(c, &spec, path, err, errlen) == -1)
		return -1;
	free(c->path);
	c->path = config_strdup(path);
	return 0;
}

/* Take one flag's value into c; 0, or -1 with "--flag: reason". */
static int
config_take_flag(struct config *c, const struct setting *o, const char *v,
    int *lists, char *err, size_t errlen)
{
	char	*end;
	long	 n;
	int	 i;

	switch (o->o.type) {
	case CONF_INT:
		errno = 0;
		n = strtol(v, &end, 10);
		if (*v == '\0' || *end != '\0' || errno)
			return conf_fail(err, errlen, NULL, 0,
			    "--%s: \"%s\" is not an integer", o->flag, v);
		if (n < o->o.min || n > o->o.max)
			return conf_fail(err, errlen, NULL, 0,
			    "--%s: %ld is out of range %ld..%ld", o->flag, n,
			    o->o.min, o->o.max);
		*conf_int(c, &o->o) = (int)n;
		return 0;
	case CONF_BOOL:
		if (strcmp(v, "true") == 0 || strcmp(v, "yes") == 0)
			*conf_int(c, &o->o) = 1;
		else if (strcmp(v, "false") == 0 || strcmp(v, "no") == 0)
			*conf_int(c, &o->o) = 0;
		else
			return conf_fail(err, errlen, NULL, 0,
			    "--%s: expected true or false", o->flag);
		return 0;
	case CONF_STRING:
		if (*v == '\0')
			return conf_fail(err, errlen, NULL, 0,
			    "--%s: must not be empty", o->flag);
		free(*conf_str(c, &o->o));
		*conf_str(c, &o->o) = config_strdup(v);
		return 0;
	case CONF_ENUM:
		for (i = 0; o->o.names[i]; i++)
			if (strcmp(o->o.names[i], v) == 0) {
				*conf_int(c, &o->o) = i;
				return 0;
			}
		return conf_fail(err, errlen, NULL, 0,
		    "--%s: \"%s\" is not one of the accepted values", o->flag,
		    v);
	case SET_LIST:
		if (*v == '\0')
			return conf_fail(err, errlen, NULL, 0,
			    "--%s: must not be empty", o->flag);
		if ((*lists)++ == 0)
			config_clear_list(c);
		config_add_server(c, v);
		return 0;
	}
	return -1;
}

/* Apply the command-line flags, in order, over the file's values: a
 * repeated flag wins, except --server, which builds a list. */
int
config_apply(struct config *c, const struct config_flag *flags, size_t n,
    char *err, size_t errlen)
{
	const struct setting	*o;
	size_t			 i;
	int			 lists = 0;

	for (i = 0; i < n; i++) {
		if ((o = config_by_opt(flags[i].opt)) == NULL)
			continue;
		if (config_take_flag(c, o, flags[i].value, &lists, err,
		    errlen) == -1)
			return -1;
	}
	return 0;
}

/* Checks across settings, once each has its value (file and flags).
 * 0, or -1 with err ("file: reason"). */
int
config_check(struct config *c, char *err, size_t errlen)
{
	struct sippush_hostport	 hp;
	const char		*file = c->path;
	int			 i;

	for (i = 0; i < c->nservers; i++)
		if (sippush_parse_server(c->servers[i], &hp) == -1)
			return conf_fail(err, errlen, file, 0,
			    "server.list: \"%s\" is not host, host:port or "
			    "[IPv6]:port", c->servers[i]);
	if (!wire_valid_name(c->client_id, SIPPUSH_ID_MAX))
		return conf_fail(err, errlen, file, 0,
		    "client.id: \"%s\" is not a valid client ID (1-%d of "
		    "A-Z a-z 0-9 . _ -)", c->client_id, SIPPUSH_ID_MAX);
	if (c->client_class &&
	    !wire_valid_name(c->client_class, SIPPUSH_CLASS_MAX))
		return conf_fail(err, errlen, file, 0,
		    "client.class: \"%s\" is not a valid class (1-%d of "
		    "A-Z a-z 0-9 . _ -)", c->client_class, SIPPUSH_CLASS_MAX);
	if (c->retry_initial > c->retry_max)
		return conf_fail(err, errlen, file, 0,
		    "server.retry_initial (%d) is above retry_max (%d)",
		    c->retry_initial, c->retry_max);
	if (c->relay_mode != RELAY_OFF && c->relay_interface == NULL)
		return conf_fail(err, errlen, file, 0,
		    "relay.mode \"%s\" needs relay.interface",
		    relay_modes[c->relay_mode]);
	if (c->relay_mode == RELAY_SERVE) {
		if (c->relay_lease < 2 * c->relay_announce)
			return conf_fail(err, errlen, file, 0,
			    "relay.lease (%d) must be at least twice "
			    "relay.announce_interval (%d)", c->relay_lease,
			    c->relay_announce);
		if (c->relay_port == c->relay_discovery_port)
			return conf_fail(err, errlen, file, 0,
			    "relay.port and relay.discovery_port are both %d",
			    c->relay_port);
		if (c->transport != SIPPUSH_TRANSPORT_UDP)
			return conf_fail(err, errlen, file, 0,
			    "relay.mode \"serve\" relays UDP only");
	}
	if (c->relay_mode == RELAY_USE &&
	    c->transport != SIPPUSH_TRANSPORT_UDP)
		return conf_fail(err, errlen, file, 0,
		    "relay.mode \"use\" needs server.transport \"udp\"");
	if (c->relay_id && !wire_valid_name(c->relay_id, SIPPUSH_ID_MAX))
		return conf_fail(err, errlen, file, 0,
		    "relay.id: \"%s\" is not a valid ID (1-%d of "
		    "A-Z a-z 0-9 . _ -)", c->relay_id, SIPPUSH_ID_MAX);
	if (conf_abspath(&c->state_file) == -1 ||
	    conf_abspath(&c->tls_ca_file) == -1 ||
	    conf_abspath(&c->resolv_conf) == -1)
		return conf_fail(err, errlen, file, 0,
		    "cannot make paths absolute: %s", strerror(errno));
	return 0;
}

static void
config_print_named(FILE *fp, const char *name, const char *v)
{
	if (v == NULL) {
		fprintf(fp, "  # %s is not set\n", name);
		return;
	}
	fprintf(fp, "  %s = ", name);
	conf_print_string(fp, v);
	fprintf(fp, ";\n");
}

/* Print the effective settings in the file's own syntax (-n). The
 * password is not printed. */
void
config_print(const struct config *c, FILE *fp)
{
	const char	*group = "", *dot;
	size_t		 i, glen;
	int		 v, j;

	fprintf(fp, "# effective settings, from %s\n",
	    c->path ? c->path : "built-in defaults");
	for (i = 0; i < NSETTINGS; i++) {
		dot = strchr(settings[i].o.path, '.');
		glen = (size_t)(dot - settings[i].o.path);
		if (strncmp(group, settings[i].o.path, glen) != 0 ||
		    group[glen] != '.') {
			if (*group)
				fprintf(fp, "};\n");
			group = settings[i].o.path;
			fprintf(fp, "%.*s = {\n", (int)glen, group);
		}
		v = settings[i].o.type == CONF_INT || settings[i].o.type ==
		    CONF_BOOL || settings[i].o.type == CONF_ENUM ?
		    *conf_int((struct config *)c, &settings[i].o) : 0;
		switch (settings[i].o.type) {
		case CONF_INT:
			fprintf(fp, "  %s = %d;\n", dot + 1, v);
			break;
		case CONF_BOOL:
			fprintf(fp, "  %s = %s;\n", dot + 1,
			    v ? "true" : "false");
			break;
		case CONF_STRING:
			if (settings[i].o.off == F(password) && c->password)
				fprintf(fp, "  %s = \"(not shown)\";\n",
				    dot + 1);
			else
				config_print_named(fp, dot + 1,
				    *conf_str((struct config *)c,
				    &settings[i].o));
			break;
		case CONF_ENUM:
			fprintf(fp, "  %s = \"%s\";\n", dot + 1,
			    settings[i].o.names[v]);
			break;
		case SET_LIST:
			fprintf(fp, "  %s = [ ", dot + 1);
			for (j = 0; j < c->nservers; j++)
				fprintf(fp, "%s\"%s\"", j ? ", " : "",
				    c->servers[j]);
			fprintf(fp, " ];\n");
			break;
		}
	}
	fprintf(fp, "};\n");
}
