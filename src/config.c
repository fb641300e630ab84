/*
 * config.c: the daemon's settings.
 *
 * Every option is a row of `options`: its path in the file, its type, where
 * it lands in struct config and its range. config_load has the file read
 * by common/conffile.c, which refuses anything unknown, out of range or of
 * the wrong type with "file:line: option: reason", then checks the options
 * against each other.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conffile.h"
#include "sippushd.h"
#include "command.h"

/* control.group: a group name or gid, "" for none (c->ctl_gid);
 * webhooks.url and webhooks.events: a string or a list of strings */
#define OPT_GROUP	CONF_OTHER
/* relay.rules: a list of "FROM -> TO" strings, kept one a line */
#define OPT_RULES	CONF_OTHER

static const char *const webhook_event_names[] = {
	"finished", "target_failed", NULL
};

static const char *const sync_names[] = { "normal", "full", NULL };
static const char *const level_names[] = {
	"error", "warning", "notice", "info", "debug", NULL
};

#define F(field)	offsetof(struct config, field)

static const struct conf_opt options[] = {
	{ "sip.address", CONF_STRING, F(sip_address), 0, 0, NULL },
	{ "sip.port", CONF_INT, F(sip_port), 1, 65535, NULL },
	{ "sip.udp", CONF_BOOL, F(sip_udp), 0, 1, NULL },
	{ "sip.tcp", CONF_BOOL, F(sip_tcp), 0, 1, NULL },
	{ "sip.max_message_size", CONF_INT, F(sip_max_size), 1024, 1048576,
	    NULL },
	{ "sip.udp_buffer", CONF_INT, F(sip_udp_buffer), 65536, 268435456,
	    NULL },
	{ "sip.tcp_idle_timeout", CONF_INT, F(sip_tcp_idle), 1, 86400, NULL },
	{ "sip.tcp_message_timeout", CONF_INT, F(sip_tcp_msg_timeout), 1, 3600,
	    NULL },
	{ "sip.max_headers", CONF_INT, F(sip_max_headers), 0, 100000, NULL },
	{ "sip.max_via", CONF_INT, F(sip_max_via), 0, 100000, NULL },
	{ "sip.source_rate", CONF_INT, F(sip_source_rate), 0, 1000000, NULL },
	{ "database.backend", CONF_ENUM, F(db_backend), 0, 0,
	    store_backend_list },
	{ "database.path", CONF_STRING, F(db_path), 0, 0, NULL },
	{ "database.conninfo", CONF_STRING, F(db_conninfo), 0, 0, NULL },
	{ "database.passfile", CONF_STRING, F(db_passfile), 0, 0, NULL },
	{ "database.synchronous", CONF_ENUM, F(db_sync_full), 0, 0,
	    sync_names },
	{ "database.commit_delay", CONF_INT, F(db_commit_delay), 0, 1000,
	    NULL },
	{ "registration.min_expires", CONF_INT, F(reg_min_expires), 1, 86400,
	    NULL },
	{ "registration.max_expires", CONF_INT, F(reg_max_expires), 1,
	    604800, NULL },
	{ "registration.default_expires", CONF_INT, F(reg_default_expires), 1,
	    604800, NULL },
	{ "registration.default_class", CONF_STRING, F(reg_default_class), 0,
	    0, NULL },
	{ "registration.retain", CONF_INT, F(reg_retain), 0, 31536000, NULL },
	{ "registration.max_clients", CONF_INT, F(reg_max_clients), 1,
	    100000000, NULL },
	{ "registration.rate_per_source", CONF_INT, F(reg_rate), 0, 1000000,
	    NULL },
	{ "heartbeat.timeout", CONF_INT, F(hb_timeout), 0, 86400, NULL },
	{ "heartbeat.sweep_interval", CONF_INT, F(hb_sweep_interval), 1, 3600,
	    NULL },
	{ "control.socket", CONF_STRING, F(ctl_socket), 0, 0, NULL },
	{ "control.group", OPT_GROUP, F(ctl_group), 0, 0, NULL },
	{ "dispatch.max_in_flight", CONF_INT, F(dp_max_in_flight), 1, 100000,
	    NULL },
	{ "dispatch.timeout", CONF_INT, F(dp_timeout), 1000, 32000, NULL },
	{ "dispatch.retry_initial", CONF_INT, F(dp_retry_initial), 100,
	    3600000, NULL },
	{ "dispatch.retry_multiplier", CONF_INT, F(dp_retry_multiplier), 1, 10,
	    NULL },
	{ "dispatch.retry_max", CONF_INT, F(dp_retry_max), 100, 86400000,
	    NULL },
	{ "dispatch.retry_jitter", CONF_INT, F(dp_retry_jitter), 0, 100, NULL },
	{ "dispatch.max_attempts", CONF_INT, F(dp_max_attempts), 0, 1000000,
	    NULL },
	{ "dispatch.default_ttl", CONF_INT, F(dp_default_ttl), 1, 31536000,
	    NULL },
	{ "dispatch.max_ttl", CONF_INT, F(dp_max_ttl), 1, 31536000, NULL },
	{ "dispatch.max_body", CONF_INT, F(dp_max_body), 1, 60000, NULL },
	{ "dispatch.max_pending_per_client", CONF_INT, F(dp_max_pending), 1,
	    1000000, NULL },
	{ "dispatch.retain", CONF_INT, F(dp_retain), 0, 31536000, NULL },
	{ "auth.enabled", CONF_BOOL, F(auth_enabled), 0, 1, NULL },
	{ "auth.realm", CONF_STRING, F(auth_realm), 0, 0, NULL },
	{ "auth.sha256", CONF_BOOL, F(auth_sha256), 0, 1, NULL },
	{ "auth.md5", CONF_BOOL, F(auth_md5), 0, 1, NULL },
	{ "auth.nonce_lifetime", CONF_INT, F(auth_nonce_lifetime), 10, 86400,
	    NULL },
	{ "auth.max_failures", CONF_INT, F(auth_max_failures), 0, 1000000,
	    NULL },
	{ "log.level", CONF_ENUM, F(log_level), 0, 0, level_names },
	{ "log.sip_level", CONF_INT, F(log_sip_level), 0, 9, NULL },
	/* the TLS transport; the strings may stay unset (NULL) */
	{ "tls.enable", CONF_BOOL, F(tls_enable), 0, 1, NULL },
	{ "tls.port", CONF_INT, F(tls_port), 1, 65535, NULL },
	{ "tls.certificate", CONF_STRING, F(tls_cert), 0, 0, NULL },
	{ "tls.key", CONF_STRING, F(tls_key), 0, 0, NULL },
	{ "tls.ca_file", CONF_STRING, F(tls_ca), 0, 0, NULL },
	{ "relay.enabled", CONF_BOOL, F(relay_enabled), 0, 1, NULL },
	{ "relay.timeout", CONF_INT, F(relay_timeout), 100, 32000, NULL },
	{ "relay.rate", CONF_INT, F(relay_rate), 0, 1000000, NULL },
	{ "relay.rules", OPT_RULES, F(relay_rules), 0, 0, NULL },
	{ "cluster.node", CONF_STRING, F(cl_node), 0, 0, NULL },
	{ "cluster.address", CONF_STRING, F(cl_address), 0, 0, NULL },
	{ "cluster.lease", CONF_INT, F(cl_lease), 2, 3600, NULL },
	{ "cluster.redirect", CONF_BOOL, F(cl_redirect), 0, 1, NULL },
	{ "cluster.poll", CONF_INT, F(cl_poll), 100, 60000, NULL },
	/* the HTTP API, off unless enabled */
	{ "http.enable", CONF_BOOL, F(http_enable), 0, 1, NULL },
	{ "http.address", CONF_STRING, F(http_address), 0, 0, NULL },
	{ "http.port", CONF_INT, F(http_port), 1, 65535, NULL },
	{ "http.max_body", CONF_INT, F(http_max_body), 1024, 16777216, NULL },
	{ "http.max_connections", CONF_INT, F(http_max_connections), 1, 100000,
	    NULL },
	{ "http.timeout", CONF_INT, F(http_timeout), 1, 3600, NULL },
	{ "http.rate_per_token", CONF_INT, F(http_rate), 0, 1000000, NULL },
	{ "http.certificate", CONF_STRING, F(http_cert), 0, 0, NULL },
	{ "http.key", CONF_STRING, F(http_key), 0, 0, NULL },
	/* delivery webhooks (webhook.c) */
	{ "webhooks.url", CONF_OTHER, F(wh_url), 0, 0, NULL },
	{ "webhooks.secret", CONF_STRING, F(wh_secret), 0, 0, NULL },
	{ "webhooks.secret_file", CONF_STRING, F(wh_secret_file), 0, 0, NULL },
	{ "webhooks.events", CONF_OTHER, F(wh_events), 0, 0,
	    webhook_event_names },
	{ "webhooks.timeout", CONF_INT, F(wh_timeout), 1, 300, NULL },
	{ "webhooks.max_attempts", CONF_INT, F(wh_max_attempts), 1, 1000,
	    NULL },
	{ "webhooks.retry_initial", CONF_INT, F(wh_retry_initial), 100,
	    3600000, NULL },
	{ "webhooks.retry_max", CONF_INT, F(wh_retry_max), 100, 86400000,
	    NULL },
	{ "webhooks.max_in_flight", CONF_INT, F(wh_max_in_flight), 1, 1000,
	    NULL },
};

#define NOPTIONS	(sizeof(options) / sizeof(options[0]))

static const char *const groups[] = {
	"sip", "database", "registration", "heartbeat", "control", "dispatch",
	"auth", "log", "tls", "relay", "http", "webhooks", "cluster", NULL
};

/* Fill c with the built-in defaults. Aborts on ENOMEM. */
void
config_defaults(struct config *c)
{
	memset(c, 0, sizeof(*c));
	if ((c->sip_address = strdup("0.0.0.0")) == NULL ||
	    (c->db_path = strdup(SIPPUSH_DBPATH)) == NULL ||
	    (c->reg_default_class = strdup("default")) == NULL ||
	    (c->ctl_socket = strdup(SIPPUSH_SOCKET)) == NULL ||
	    (c->auth_realm = strdup("sippush")) == NULL ||
	    (c->relay_rules = strdup("* -> *")) == NULL ||
	    (c->http_address = strdup("127.0.0.1")) == NULL)
		fatalx("config: out of memory");
	c->sip_port = 5060;
	c->sip_udp = 1;
	c->sip_tcp = 1;
	c->sip_max_size = 65536;
	c->sip_udp_buffer = 8 * 1024 * 1024;
	c->sip_tcp_idle = 120;
	c->sip_tcp_msg_timeout = 10;
	c->sip_max_headers = 128;
	c->sip_max_via = 70;
	c->sip_source_rate = 100000;
	c->db_sync_full = 1;
	c->db_commit_delay = 10;
	c->reg_min_expires = 60;
	c->reg_max_expires = 3600;
	c->reg_default_expires = 600;
	c->reg_retain = 86400;
	c->reg_max_clients = 1000000;
	c->reg_rate = CONFIG_REG_RATE;
	c->hb_timeout = 90;
	c->hb_sweep_interval = 5;
	c->dp_max_in_flight = 1000;
	c->dp_timeout = 8000;
	c->dp_retry_initial = 1000;
	c->dp_retry_multiplier = 2;
	c->dp_retry_max = 60000;
	c->dp_retry_jitter = 20;
	c->dp_max_attempts = 0;
	c->dp_default_ttl = 86400;
	c->dp_max_ttl = 604800;
	c->dp_max_body = MESSAGE_UDP_BODY_MAX;
	c->dp_max_pending = 1000;
	c->dp_retain = 604800;
	c->auth_enabled = 0;
	c->auth_sha256 = 1;
	c->auth_md5 = 1;
	c->auth_nonce_lifetime = 300;
	c->auth_max_failures = 60;
	c->log_level = LOG_LEVEL_INFO;
	c->log_sip_level = 0;

	c->ctl_group = NULL;		/* control.group: none */
	c->ctl_gid = -1;
	c->tls_enable = 0;
	c->tls_port = 5061;
	c->relay_enabled = 0;
	c->relay_timeout = 5000;
	c->relay_rate = 20;
	c->cl_lease = 10;
	c->cl_redirect = 0;
	c->cl_poll = 1000;
	c->http_enable = 0;
	c->http_port = 8080;
	c->http_max_body = 65536;
	c->http_max_connections = 256;
	c->http_timeout = 30;
	c->http_rate = 100;
	c->wh_events = WEBHOOK_EV_FINISHED | WEBHOOK_EV_TARGET_FAILED;
	c->wh_timeout = 10;
	c->wh_max_attempts = 10;
	c->wh_retry_initial = 1000;
	c->wh_retry_max = 300000;
	c->wh_max_in_flight = 16;
}

void
config_free(struct config *c)
{
	size_t	 i;

	for (i = 0; i < NOPTIONS; i++)
		if (options[i].type == CONF_STRING ||
		    options[i].off == F(ctl_group) ||
		    options[i].off == F(relay_rules)) {
			if (options[i].off == F(wh_secret) && c->wh_secret)
				explicit_bzero(c->wh_secret,
				    strlen(c->wh_secret));
			free(*conf_str(c, &options[i]));
			*conf_str(c, &options[i]) = NULL;
		}
	for (i = 0; i < CONFIG_WH_URLS; i++) {
		free(c->wh_url[i]);
		c->wh_url[i] = NULL;
	}
	c->wh_nurl = 0;
	free(c->path);
	c->path = NULL;
}

static const struct conf_opt *
config_option(const char *group, const char *name)
{
	size_t	 i, glen = strlen(group);

	for (i = 0; i < NOPTIONS; i++)
		if (strncmp(options[i].path, group, glen) == 0 &&
		    options[i].path[glen] == '.' &&
		    strcmp(options[i].path + glen + 1, name) == 0)
			return &options[i];
	return NULL;
}

/*
 * control.group: a group name, a numeric gid (as an integer or a string
 * of digits), or "" for none. A name must exist now (getgrnam): the
 * socket is given to that group at start. 0, or -1 with err.
 */
static int
config_take_group(void *base, const struct conf_opt *o,
    config_setting_t *s, const char *file, char *err, size_t errlen)
{
	struct config	*c = base;
	int		 line = config_setting_source_line(s);
	int		 type = config_setting_type(s);
	struct group	*gr;
	char		 num[32], *dup, *end;
	const char	*str;
	long long	 v;

	if (type == CONFIG_TYPE_INT || type == CONFIG_TYPE_INT64 ||
	    type == CONFIG_TYPE_FLOAT) {
		if (conf_get_int(s, file, o->path, 0, 2147483646, &v, err,
		    errlen) == -1)
			return -1;
		snprintf(num, sizeof(num), "%lld", v);
		str = num;
	} else if (type == CONFIG_TYPE_STRING)
		str = config_setting_get_string(s);
	else
		return conf_fail(err, errlen, file, line,
		    "%s: expected a group name or number", o->path);
	free(*conf_str(c, o));
	*conf_str(c, o) = NULL;
	c->ctl_gid = -1;
	if (*str == '\0')
		return 0;
	if (*str >= '0' && *str <= '9') {
		errno = 0;
		v = strtoll(str, &end, 10);
		if (errno || *end != '\0' || v < 0 || v > 2147483646)
			return conf_fail(err, errlen, file, line,
			    "%s: \"%s\" is not a group name or gid", o->path,
			    str);
		c->ctl_gid = (int)v;
	} else {
		errno = 0;
		if ((gr = getgrnam(str)) == NULL)
			return conf_fail(err, errlen, file, line,
			    "%s: no group named \"%s\"%s%s (see getent group)",
			    o->path, str, errno ? ": " : "",
			    errno ? strerror(errno) : "");
		c->ctl_gid = (int)gr->gr_gid;
	}
	if ((dup = strdup(str)) == NULL)
		return conf_fail(err, errlen, file, line, "out of memory");
	*conf_str(c, o) = dup;
	return 0;
}

/*
 * relay.rules: a list (or array) of strings, each "FROM -> TO" with a
 * class name or * on each side; an empty list refuses everything.
 * Kept one rule a line for relay.c. 0, or -1 with "file:line: ...".
 */
static int
config_take_rules(void *base, const struct conf_opt *o,
    config_setting_t *s, const char *file, char *err, size_t errlen)
{
	struct config		*c = base;
	struct relay_rule	 r;
	config_setting_t	*e;
	const char		*str;
	char			 why[256], *text = NULL, *nt;
	size_t			 len = 0, n;
	int			 i, line = config_setting_source_line(s);

	if (!config_setting_is_aggregate(s) || config_setting_is_group(s))
		return conf_fail(err, errlen, file, line, "%s: expected a "
		    "list of \"FROM -> TO\" strings", o->path);
	for (i = 0; (e = config_setting_get_elem(s, (unsigned)i)) != NULL;
	    i++) {
		if (config_setting_source_line(e) > 0)
			line = config_setting_source_line(e);
		if (config_setting_type(e) != CONFIG_TYPE_STRING) {
			free(text);
			return conf_fail(err, errlen, file, line, "%s: rule "
			    "%d is not a string", o->path, i + 1);
		}
		str = config_setting_get_string(e);
		if (strchr(str, '\n') != NULL ||
		    relay_rule_parse(str, &r, why, sizeof(why)) == -1) {
			free(text);
			return conf_fail(err, errlen, file, line, "%s: %s",
			    o->path, strchr(str, '\n') ? "a rule holds a "
			    "line break" : why);
		}
		/* kept as "FROM -> TO", however it was spaced */
		snprintf(why, sizeof(why), "%s -> %s", r.from, r.to);
		str = why;
		n = strlen(str);
		if ((nt = realloc(text, len + n + 2)) == NULL) {
			free(text);
			return conf_fail(err, errlen, file, line,
			    "out of memory");
		}
		text = nt;
		if (len)
			text[len++] = '\n';
		memcpy(text + len, str, n + 1);
		len += n;
	}
	if (text == NULL && (text = strdup("")) == NULL)
		return conf_fail(err, errlen, file, line, "out of memory");
	free(c->relay_rules);
	c->relay_rules = text;
	return 0;
}

/*
 * webhooks.url (URLs, as a publish's callback= is checked) and
 * webhooks.events (names in webhook_event_names): a string or a list of
 * strings. 0, or -1 with err.
 */
static int
config_take_webhooks(void *base, const struct conf_opt *o,
    config_setting_t *s, const char *file, char *err, size_t errlen)
{
	struct config	*c = base;
	config_setting_t *e;
	const char	*str;
	char		*urls[CONFIG_WH_URLS];
	int		 line = config_setting_source_line(s);
	int		 i, k, n, one, events = 0, nurl = 0;

	one = config_setting_type(s) == CONFIG_TYPE_STRING;
	if (!one && !config_setting_is_aggregate(s))
		return conf_fail(err, errlen, file, line,
		    "%s: expected a string or a list of strings", o->path);
	n = one ? 1 : config_setting_length(s);
	if (o->off == F(wh_url) && n > CONFIG_WH_URLS)
		return conf_fail(err, errlen, file, line,
		    "%s: at most %d URLs", o->path, CONFIG_WH_URLS);
	memset(urls, 0, sizeof(urls));
	for (i = 0; i < n; i++) {
		e = one ? s : config_setting_get_elem(s, (unsigned)i);
		if (config_setting_type(e) != CONFIG_TYPE_STRING) {
			conf_fail(err, errlen, file, line, "%s: element %d "
			    "is not a string", o->path, i + 1);
			goto fail;
		}
		str = config_setting_get_string(e);
		if (o->off == F(wh_events)) {
			for (k = 0; o->names[k] &&
			    strcmp(o->names[k], str) != 0; k++)
				;
			if (o->names[k] == NULL) {
				conf_fail(err, errlen, file, line, "%s: \"%s\" "
				    "is not an event (finished, "
				    "target_failed)", o->path, str);
				goto fail;
			}
			events |= 1 << k;
			continue;
		}
		if (!cmd_valid_callback(str)) {
			conf_fail(err, errlen, file, line, "%s: \"%.80s\" is "
			    "not an http:// or https:// URL of at most %d "
			    "characters", o->path, str, CALLBACK_MAX);
			goto fail;
		}
		for (k = 0; k < nurl && strcmp(urls[k], str) != 0; k++)
			;
		if (k < nurl) {
			conf_fail(err, errlen, file, line, "%s: \"%.80s\" is "
			    "listed twice", o->path, str);
			goto fail;
		}
		if ((urls[nurl++] = strdup(str)) == NULL) {
			conf_fail(err, errlen, file, line, "out of memory");
			goto fail;
		}
	}
	if (o->off == F(wh_events)) {
		c->wh_events = events;
		return 0;
	}
	for (i = 0; i < CONFIG_WH_URLS; i++) {
		free(c->wh_url[i]);
		c->wh_url[i] = urls[i];
	}
	c->wh_nurl = nurl;
	return 0;
fail:
	for (i = 0; i < nurl; i++)
		free(urls[i]);
	return -1;
}

static int
config_take_other(void *base, const struct conf_opt *o, config_setting_t *s,
    const char *file, char *err, size_t errlen)
{
	if (o->off == F(relay_rules))
		return config_take_rules(base, o, s, file, err, errlen);
	if (o->off == F(ctl_group))
		return config_take_group(base, o, s, file, err, errlen);
	return config_take_webhooks(base, o, s, file, err, errlen);
}

/*
 * webhooks.secret_file into c->wh_secret: its content, one final line
 * break dropped; not empty, at most WEBHOOK_SECRET_MAX bytes. 0, or -1
 * with err.
 */
static int
config_read_secret(struct config *c, const char *file, char *err,
    size_t errlen)
{
	char	 buf[WEBHOOK_SECRET_MAX + 2];
	size_t	 n;
	FILE	*fp;

	if ((fp = fopen(c->wh_secret_file, "re")) == NULL)
		return conf_fail(err, errlen, file, 0, "webhooks.secret_file: "
		    "cannot read %s: %s", c->wh_secret_file, strerror(errno));
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	if (ferror(fp)) {
		fclose(fp);
		return conf_fail(err, errlen, file, 0, "webhooks.secret_file: "
		    "cannot read %s: %s", c->wh_secret_file, strerror(errno));
	}
	fclose(fp);
	if (n > 0 && buf[n - 1] == '\n')
		n--;
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	if (n == 0 || n > WEBHOOK_SECRET_MAX || strlen(buf) != n) {
		explicit_bzero(buf, sizeof(buf));
		return conf_fail(err, errlen, file, 0, "webhooks.secret_file: "
		    "%s must hold 1-%d bytes (no NUL)", c->wh_secret_file,
		    WEBHOOK_SECRET_MAX);
	}
	c->wh_secret = strdup(buf);
	explicit_bzero(buf, sizeof(buf));
	if (c->wh_secret == NULL)
		return conf_fail(err, errlen, file, 0, "out of memory");
	return 0;
}

/* sip.address as getaddrinfo takes it at start (sip.c): numeric only.
 * The result is freed by the caller; NULL when it is not an address. */
static struct addrinfo *
config_address(const struct config *c, int socktype)
{
	struct addrinfo	 hints, *ai;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = socktype;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
	if (getaddrinfo(c->sip_address, "0", &hints, &ai) != 0)
		return NULL;
	return ai;
}

/*
 * cluster: the node's name (default: the host name, cut at the first dot)
 * and the SIP address it gives other nodes and redirected clients
 * (default: sip.address:sip.port, the host name for 0.0.0.0 or ::).
 * 0, or -1 with err.
 */
static int
config_check_cluster(struct config *c, const char *file, char *err,
    size_t errlen)
{
	char	 host[256], buf[300], *dot;

	if (c->cl_node == NULL || c->cl_address == NULL) {
		if (gethostname(host, sizeof(host)) == -1)
			snprintf(host, sizeof(host), "localhost");
		host[sizeof(host) - 1] = '\0';
	}
	if (c->cl_node == NULL) {
		snprintf(buf, sizeof(buf), "%s", host);
		if ((dot = strchr(buf, '.')) != NULL)
			*dot = '\0';
		if ((c->cl_node = strdup(buf)) == NULL)
			return conf_fail(err, errlen, file, 0,
			    "out of memory");
	}
	if (!clients_valid_class(c->cl_node))
		return conf_fail(err, errlen, file, 0,
		    "cluster.node: \"%s\" is not a valid node name (1-%d of "
		    "A-Z a-z 0-9 . _ -)", c->cl_node, CLIENT_CLASS_MAX);
	if (c->cl_address == NULL) {
		if (strcmp(c->sip_address, "0.0.0.0") == 0 ||
		    strcmp(c->sip_address, "::") == 0)
			snprintf(buf, sizeof(buf), "%s:%d", host, c->sip_port);
		else if (strchr(c->sip_address, ':') != NULL)
			snprintf(buf, sizeof(buf), "[%s]:%d", c->sip_address,
			    c->sip_port);
		else
			snprintf(buf, sizeof(buf), "%s:%d", c->sip_address,
			    c->sip_port);
		if ((c->cl_address = strdup(buf)) == NULL)
			return conf_fail(err, errlen, file, 0,
			    "out of memory");
	}
	if (*c->cl_address == '\0' || strlen(c->cl_address) > 255 ||
	    strpbrk(c->cl_address, " \t\r\n\"<>;,") != NULL)
		return conf_fail(err, errlen, file, 0,
		    "cluster.address: \"%s\" is not a host[:port] (1-255 "
		    "bytes, no space, quote, <, >, ; or ,)", c->cl_address);
	if (c->cl_poll > c->cl_lease * 1000 / 2)
		return conf_fail(err, errlen, file, 0,
		    "cluster.poll (%d ms) is above half of cluster.lease "
		    "(%d s): a node would miss its own renewals", c->cl_poll,
		    c->cl_lease);
	return 0;
}

/* Checks across options, once each has its value. */
static int
config_check(struct config *c, const char *file, char *err, size_t errlen)
{
	struct addrinfo	*ai;
	char		 why[256];

	if ((ai = config_address(c, SOCK_DGRAM)) == NULL)
		return conf_fail(err, errlen, file, 0,
		    "sip.address: \"%s\" is not a numeric IPv4 or IPv6 "
		    "address (a host name is not taken)", c->sip_address);
	freeaddrinfo(ai);
	if (!c->sip_udp && !c->sip_tcp && !c->tls_enable)
		return conf_fail(err, errlen, file, 0,
		    "sip: at least one of udp, tcp and tls.enable must be "
		    "true");
	if (c->reg_min_expires > c->reg_max_expires)
		return conf_fail(err, errlen, file, 0,
		    "registration.min_expires (%d) is above max_expires (%d)",
		    c->reg_min_expires, c->reg_max_expires);
	if (c->reg_default_expires < c->reg_min_expires ||
	    c->reg_default_expires > c->reg_max_expires)
		return conf_fail(err, errlen, file, 0,
		    "registration.default_expires (%d) is outside "
		    "min_expires..max_expires (%d..%d)",
		    c->reg_default_expires, c->reg_min_expires,
		    c->reg_max_expires);
	if (!clients_valid_class(c->reg_default_class))
		return conf_fail(err, errlen, file, 0,
		    "registration.default_class: \"%s\" is not a valid class "
		    "(1-%d of A-Z a-z 0-9 . _ -)", c->reg_default_class,
		    CLIENT_CLASS_MAX);
	if (c->dp_retry_initial > c->dp_retry_max)
		return conf_fail(err, errlen, file, 0,
		    "dispatch.retry_initial (%d) is above retry_max (%d)",
		    c->dp_retry_initial, c->dp_retry_max);
	if (c->dp_default_ttl > c->dp_max_ttl)
		return conf_fail(err, errlen, file, 0,
		    "dispatch.default_ttl (%d) is above max_ttl (%d)",
		    c->dp_default_ttl, c->dp_max_ttl);
	if (c->dp_max_body + 1024 > c->sip_max_size)
		return conf_fail(err, errlen, file, 0,
		    "dispatch.max_body (%d) needs sip.max_message_size of at "
		    "least %d", c->dp_max_body, c->dp_max_body + 1024);
	if (strcmp(store_backend_list[c->db_backend], "postgresql") == 0) {
		if (c->db_conninfo == NULL || *c->db_conninfo == '\0')
			return conf_fail(err, errlen, file, 0,
			    "database.conninfo: must be set when "
			    "database.backend is \"postgresql\" (a libpq "
			    "conninfo such as \"host=db.example port=5432 "
			    "dbname=sippush user=sippush\", or a "
			    "postgresql:// URI)");
		if (store_pg_check(c->db_conninfo, why, sizeof(why)) == -1)
			return conf_fail(err, errlen, file, 0,
			    "database.conninfo: %s: write it as keyword=value "
			    "pairs or a postgresql:// URI", why);
	}
	if (config_check_cluster(c, file, err, errlen) == -1)
		return -1;
	if (conf_abspath(&c->db_path) == -1 ||
	    conf_abspath(&c->db_passfile) == -1 ||
	    conf_abspath(&c->ctl_socket) == -1)
		return conf_fail(err, errlen, file, 0,
		    "cannot make paths absolute: %s", strerror(errno));
	if (*c->auth_realm == '\0' || strlen(c->auth_realm) > AUTH_REALM_MAX ||
	    strpbrk(c->auth_realm, "\"\\\r\n") != NULL)
		return conf_fail(err, errlen, file, 0,
		    "auth.realm: \"%s\" is not a valid realm (1-%d bytes, no "
		    "quote, backslash or line break)", c->auth_realm,
		    AUTH_REALM_MAX);
	if (!c->auth_sha256 && !c->auth_md5)
		return conf_fail(err, errlen, file, 0,
		    "auth.sha256 and auth.md5 are both off: no client could "
		    "authenticate");
	if (strlen(c->ctl_socket) >= 108)
		return conf_fail(err, errlen, file, 0,
		    "control.socket: path is longer than 107 bytes");
	if (c->relay_enabled && c->relay_timeout > c->dp_timeout)
		return conf_fail(err, errlen, file, 0,
		    "relay.timeout (%d) is above dispatch.timeout (%d), the "
		    "longest a forwarded request may wait", c->relay_timeout,
		    c->dp_timeout);
	if (c->tls_enable && (c->tls_cert == NULL || c->tls_key == NULL))
		return conf_fail(err, errlen, file, 0,
		    "tls: enable is true, but %s is not set",
		    c->tls_cert == NULL ? "certificate" : "key");
	if (c->tls_enable && c->sip_tcp && c->tls_port == c->sip_port)
		return conf_fail(err, errlen, file, 0,
		    "tls.port (%d) is sip.port: TCP and TLS need a port each",
		    c->tls_port);
	if ((c->http_cert == NULL) != (c->http_key == NULL))
		return conf_fail(err, errlen, file, 0,
		    "http: %s is set, but %s is not (HTTPS needs both)",
		    c->http_cert ? "certificate" : "key",
		    c->http_cert ? "key" : "certificate");
	if (c->http_enable && c->http_address != NULL) {
		struct in6_addr	 a;

		if (inet_pton(AF_INET, c->http_address, &a) != 1 &&
		    inet_pton(AF_INET6, c->http_address, &a) != 1)
			return conf_fail(err, errlen, file, 0,
			    "http.address: \"%s\" is not a numeric IPv4 or "
			    "IPv6 address", c->http_address);
	}
	if (c->wh_secret != NULL && c->wh_secret_file != NULL)
		return conf_fail(err, errlen, file, 0,
		    "webhooks: secret and secret_file are both set (keep one)");
	if (c->wh_secret != NULL && strlen(c->wh_secret) > WEBHOOK_SECRET_MAX)
		return conf_fail(err, errlen, file, 0,
		    "webhooks.secret: longer than %d bytes",
		    WEBHOOK_SECRET_MAX);
	if (c->wh_retry_initial > c->wh_retry_max)
		return conf_fail(err, errlen, file, 0,
		    "webhooks.retry_initial (%d) is above retry_max (%d)",
		    c->wh_retry_initial, c->wh_retry_max);
	if (conf_abspath(&c->wh_secret_file) == -1)
		return conf_fail(err, errlen, file, 0,
		    "cannot make paths absolute: %s", strerror(errno));
	if (c->wh_secret_file != NULL &&
	    config_read_secret(c, file, err, errlen) == -1)
		return -1;
	if (conf_abspath(&c->tls_cert) == -1 ||
	    conf_abspath(&c->tls_key) == -1 ||
	    conf_abspath(&c->tls_ca) == -1 ||
	    conf_abspath(&c->http_cert) == -1 ||
	    conf_abspath(&c->http_key) == -1)
		return conf_fail(err, errlen, file, 0,
		    "cannot make paths absolute: %s", strerror(errno));
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
		groups, config_option, config_take_other
	};

	if (conf_read(c, &spec, path, err, errlen) == -1 ||
	    config_check(c, path, err, errlen) == -1)
		return -1;
	free(c->path);
	if ((c->path = strdup(path)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	return 0;
}

/* Is sa 0.0.0.0 or ::? */
static int
config_wildcard(const struct sockaddr *sa)
{
	const struct sockaddr_in	*sin;
	const struct sockaddr_in6	*sin6;

	if (sa->sa_family == AF_INET) {
		sin = (const struct sockaddr_in *)(const void *)sa;
		return sin->sin_addr.s_addr == htonl(INADDR_ANY);
	}
	sin6 = (const struct sockaddr_in6 *)(const void *)sa;
	return sa->sa_family == AF_INET6 &&
	    IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr);
}

/*
 * Can sippushd listen on sip.address? Binds a socket of the first
 * transport on it, port 0 (the configured port may be held by the
 * sippushd that runs now), as the start will with the real port; a
 * wildcard address (0.0.0.0, ::) is not bound, only its family tried.
 * For sippushd -n: the start itself reports a port in use. 0, or -1 with
 * "file: sip.address ...: reason" in err.
 */
int
config_check_address(const struct config *c, char *err, size_t errlen)
{
	struct addrinfo	*ai;
	int		 fd, rc = 0, type = c->sip_udp ? SOCK_DGRAM : SOCK_STREAM;

	if ((ai = config_address(c, type)) == NULL)
		return conf_fail(err, errlen, c->path, 0,
		    "sip.address: \"%s\" is not a numeric IPv4 or IPv6 "
		    "address (a host name is not taken)", c->sip_address);
	if ((fd = socket(ai->ai_family, type, 0)) == -1 ||
	    (!config_wildcard(ai->ai_addr) &&
	    bind(fd, ai->ai_addr, ai->ai_addrlen) == -1))
		rc = conf_fail(err, errlen, c->path, 0,
		    "sip.address: cannot listen on %s: %s%s", c->sip_address,
		    strerror(errno), errno == EADDRNOTAVAIL ?
		    " (not an address of this host)" : "");
	if (fd != -1)
		close(fd);
	freeaddrinfo(ai);
	return rc;
}

/* Is sip.address reachable from other hosts (not 127/8 or ::1)? */
static int
config_public_address(const struct config *c)
{
	struct in_addr	 a4;
	struct in6_addr	 a6;

	if (inet_pton(AF_INET, c->sip_address, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) != 127;
	if (inet_pton(AF_INET6, c->sip_address, &a6) == 1)
		return !IN6_IS_ADDR_LOOPBACK(&a6) &&
		    !(IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
	return 1;
}

/*
 * The warning a risky but valid configuration deserves at start (and in
 * sippushd -n), or NULL: auth off on an address other hosts can reach.
 */
const char *
config_warning(const struct config *c)
{
	static char	 msg[512];

	if (c->auth_enabled || !config_public_address(c))
		return NULL;
	snprintf(msg, sizeof(msg), "auth.enabled is false and sip.address "
	    "%s is not a loopback address: anyone who reaches port %d may "
	    "register any client ID (and receive its messages) and fill "
	    "the table; set auth.enabled = true and add users with "
	    "\"sippushctl user add\", or listen on a loopback address "
	    "only", c->sip_address, c->sip_udp || c->sip_tcp ? c->sip_port :
	    c->tls_port);
	return msg;
}

const char *
config_log_level_name(enum log_level level)
{
	return level_names[level];
}

/* relay.rules as a list, one string a rule. */
static void
config_print_rules(const struct config *c, FILE *fp)
{
	const char	*p = c->relay_rules ? c->relay_rules : "", *nl;
	char		 rule[256];
	size_t		 len;
	int		 first = 1;

	fprintf(fp, "  rules = (");
	while (*p) {
		nl = strchr(p, '\n');
		len = nl ? (size_t)(nl - p) : strlen(p);
		snprintf(rule, sizeof(rule), "%.*s", (int)len, p);
		fprintf(fp, "%s", first ? " " : ", ");
		conf_print_string(fp, rule);
		first = 0;
		p = nl ? nl + 1 : p + len;
	}
	fprintf(fp, " );\n");
}

/* webhooks.url or webhooks.events as a list. */
static void
config_print_list(const struct config *c, const struct conf_opt *o,
    const char *name, FILE *fp)
{
	int	 i, n = 0;

	fprintf(fp, "  %s = [", name);
	if (o->off == F(wh_url))
		for (i = 0; i < c->wh_nurl; i++) {
			fprintf(fp, "%s", n++ ? ", " : " ");
			conf_print_string(fp, c->wh_url[i]);
		}
	else
		for (i = 0; o->names[i]; i++)
			if (c->wh_events & (1 << i)) {
				fprintf(fp, "%s", n++ ? ", " : " ");
				conf_print_string(fp, o->names[i]);
			}
	fprintf(fp, "%s];\n", n ? " " : "");
}

/* Print the effective settings in the file's own syntax (sippushd -n). */
void
config_print(const struct config *c, FILE *fp)
{
	const char	*group = "";
	const char	*dot;
	char		 shown[512];
	size_t		 i, glen;
	int		 v;

	fprintf(fp, "# effective settings, from %s\n",
	    c->path ? c->path : "built-in defaults");
	for (i = 0; i < NOPTIONS; i++) {
		dot = strchr(options[i].path, '.');
		glen = (size_t)(dot - options[i].path);
		if (strncmp(group, options[i].path, glen) != 0 ||
		    group[glen] != '.') {
			if (*group)
				fprintf(fp, "};\n");
			group = options[i].path;
			fprintf(fp, "%.*s = {\n", (int)glen, group);
		}
		if (options[i].type != CONF_STRING &&
		    options[i].type != OPT_GROUP)
			v = *conf_int((struct config *)c, &options[i]);
		else
			v = 0;
		switch (options[i].type) {
		case CONF_INT:
			fprintf(fp, "  %s = %d;\n", dot + 1, v);
			break;
		case CONF_BOOL:
			fprintf(fp, "  %s = %s;\n", dot + 1,
			    v ? "true" : "false");
			break;
		case CONF_STRING:
			if (options[i].off == F(wh_secret) && c->wh_secret) {
				fprintf(fp, "  # %s is set (not shown)%s\n",
				    dot + 1, c->wh_secret_file ?
				    ": read from secret_file" : "");
				break;
			}
			if (*conf_str((struct config *)c, &options[i]) ==
			    NULL) {
				fprintf(fp, "  # %s is not set\n", dot + 1);
				break;
			}
			fprintf(fp, "  %s = ", dot + 1);
			if (options[i].off == F(db_conninfo))
				/* the password never shows */
				conf_print_string(fp, store_pg_mask(
				    c->db_conninfo, shown, sizeof(shown)));
			else
				conf_print_string(fp,
				    *conf_str((struct config *)c, &options[i]));
			fprintf(fp, ";\n");
			break;
		case CONF_ENUM:
			fprintf(fp, "  %s = \"%s\";\n", dot + 1,
			    options[i].names[v]);
			break;
		case OPT_GROUP:
			if (options[i].off == F(relay_rules)) {
				config_print_rules(c, fp);
				break;
			}
			if (options[i].off != F(ctl_group)) {
				config_print_list(c, &options[i], dot + 1, fp);
				break;
			}
			fprintf(fp, "  %s = ", dot + 1);
			conf_print_string(fp, c->ctl_group ? c->ctl_group :
			    "");
			if (c->ctl_gid != -1)
				fprintf(fp, ";\t# gid %d\n", c->ctl_gid);
			else
				fprintf(fp, ";\t# none\n");
			break;
		}
	}
	fprintf(fp, "};\n");
}
