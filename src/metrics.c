/*
 * metrics.c: /metrics in the Prometheus text format (version 0.0.4).
 *
 * The daemon's counters are those of "sippushctl stats" (one record of
 * key=value words, control_cmd_stats), each named sippush_KEY, with a
 * TYPE and a HELP line; SIP requests by method, the commit latency (a
 * histogram) and the HTTP API's requests by status class are counted
 * here.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sippushd.h"
#include "http.h"

static uint64_t	 metrics_http_count[6];		/* by status / 100 */

/* SIP requests received, by method */
static const char *const sip_methods[] = { "REGISTER", "OPTIONS", "other" };
static uint64_t	 metrics_sip_count[3];

/* commit latency: batch handed to the writer -> outcome on the loop */
static const double commit_bounds[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01,
    0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5 };
#define NBOUNDS	(sizeof(commit_bounds) / sizeof(commit_bounds[0]))
static uint64_t	 metrics_commit_le[NBOUNDS];	/* not cumulative */
static uint64_t	 metrics_commit_n, metrics_commit_failed;
static double	 metrics_commit_sum;

void
metrics_sip_request(const char *method)
{
	size_t	 i;

	for (i = 0; i < 2 && strcmp(method, sip_methods[i]) != 0; i++)
		;
	metrics_sip_count[i]++;
}

void
metrics_commit(int64_t us, int ok)
{
	double	 s = (double)us / 1e6;
	size_t	 i;

	if (!ok) {
		metrics_commit_failed++;
		return;
	}
	for (i = 0; i < NBOUNDS && s > commit_bounds[i]; i++)
		;
	if (i < NBOUNDS)
		metrics_commit_le[i]++;
	metrics_commit_n++;
	metrics_commit_sum += s;
}

void
metrics_http(int status)
{
	int	 c = status / 100;

	if (c >= 1 && c <= 5)
		metrics_http_count[c]++;
}

/* The kind and help of a stats key; NULL help: not exported. */
static const struct metric_info {
	const char	*key;
	const char	*type;
	const char	*help;
} metric_infos[] = {
	{ "uptime", "gauge", "Seconds since sippushd started." },
	{ "clients", "gauge", "Clients in the table." },
	{ "pending_replies", "gauge", "Replies waiting for the next commit." },
	{ "store_failing_since", "gauge",
	    "Unix time the store started failing, 0 if it is not." },
	{ "store_failed_writes", "counter", "Writes of the store that failed." },
	{ "messages_active", "gauge", "Messages still being delivered." },
	{ "targets_pending", "gauge", "Targets waiting to be sent." },
	{ "in_flight", "gauge", "MESSAGE transactions in flight." },
	{ "sent_total", "counter", "MESSAGE requests sent." },
	{ "acked_total", "counter", "Targets acknowledged (2xx)." },
	{ "retries_total", "counter", "MESSAGE requests sent again." },
	{ "sip_too_large", "counter", "SIP messages over sip.max_message_size." },
	{ "sip_dropped_headers", "counter",
	    "SIP datagrams dropped for too many headers or Via values." },
	{ "sip_dropped_rate", "counter",
	    "SIP datagrams dropped over sip.source_rate." },
	{ "stun_dropped", "counter", "STUN packets dropped." },
	{ "webhooks_pending", "gauge",
	    "Webhook events in the outbox, waiting or in flight." },
	{ "webhooks_in_flight", "gauge", "Webhook requests in flight." },
	{ "webhooks_sent_total", "counter", "Webhook events delivered (2xx)." },
	{ "webhooks_retries_total", "counter",
	    "Webhook attempts that failed and were scheduled again." },
	{ "webhooks_failed_total", "counter",
	    "Webhook events given up after webhooks.max_attempts." },
};

static const struct metric_info *
metrics_info(const char *key)
{
	size_t	 i;

	for (i = 0; i < sizeof(metric_infos) / sizeof(metric_infos[0]); i++)
		if (strcmp(metric_infos[i].key, key) == 0)
			return &metric_infos[i];
	return NULL;
}

/* Append every metric to out. */
void
metrics_render(struct buf *out)
{
	static const char *const states[] = { "online", "offline", "expired",
	    "unregistered" };
	struct buf		 st = { 0 };
	char			*argv[1] = { "stats" }, *p, *w, *eq, *end;
	const struct metric_info *mi;
	const char		*sfx;
	long long		 v;
	size_t			 i;
	int			 first_state = 1;
	uint64_t		 cum;

	control_request(&st, 1, argv);
	if (st.len && buf_append(&st, "", 1) == 0 &&
	    strncmp(st.data, "OK\n", 3) == 0) {
		for (p = st.data + 3; p && *p; p = w) {
			w = p + strcspn(p, " \n");
			if (*w)
				*w++ = '\0';
			else
				w = NULL;
			if ((eq = strchr(p, '=')) == NULL)
				continue;
			*eq++ = '\0';
			errno = 0;
			v = strtoll(eq, &end, 10);
			if (*eq == '\0' || *end != '\0' || errno)
				continue;
			for (i = 0; i < 4; i++)
				if (strcmp(p, states[i]) == 0)
					break;
			if (i < 4) {
				if (first_state)
					buf_puts(out, "# HELP sippush_clients_"
					    "by_state Clients in the table by "
					    "state.\n# TYPE sippush_clients_"
					    "by_state gauge\n");
				first_state = 0;
				buf_printf(out, "sippush_clients_by_state"
				    "{state=\"%s\"} %lld\n", p, v);
				continue;
			}
			if ((mi = metrics_info(p)) == NULL)
				continue;
			sfx = strcmp(mi->type, "counter") == 0 &&
			    (strlen(p) < 6 || strcmp(p + strlen(p) - 6,
			    "_total") != 0) ? "_total" : "";
			buf_printf(out, "# HELP sippush_%s%s %s\n# TYPE "
			    "sippush_%s%s %s\nsippush_%s%s %lld\n", p, sfx,
			    mi->help, p, sfx, mi->type, p, sfx, v);
		}
	}
	buf_free(&st);
	buf_puts(out, "# HELP sippush_sip_requests_total SIP requests "
	    "received, by method.\n"
	    "# TYPE sippush_sip_requests_total counter\n");
	for (i = 0; i < 3; i++)
		buf_printf(out, "sippush_sip_requests_total{method=\"%s\"} "
		    "%llu\n", sip_methods[i],
		    (unsigned long long)metrics_sip_count[i]);
	buf_puts(out, "# HELP sippush_commit_seconds Time from a batch "
	    "handed to the store to its commit.\n"
	    "# TYPE sippush_commit_seconds histogram\n");
	for (cum = 0, i = 0; i < NBOUNDS; i++) {
		cum += metrics_commit_le[i];
		buf_printf(out, "sippush_commit_seconds_bucket{le=\"%g\"} "
		    "%llu\n", commit_bounds[i], (unsigned long long)cum);
	}
	buf_printf(out, "sippush_commit_seconds_bucket{le=\"+Inf\"} %llu\n"
	    "sippush_commit_seconds_sum %.6f\n"
	    "sippush_commit_seconds_count %llu\n",
	    (unsigned long long)metrics_commit_n, metrics_commit_sum,
	    (unsigned long long)metrics_commit_n);
	buf_printf(out, "# HELP sippush_commits_failed_total Batches whose "
	    "commit failed (retried).\n"
	    "# TYPE sippush_commits_failed_total counter\n"
	    "sippush_commits_failed_total %llu\n",
	    (unsigned long long)metrics_commit_failed);
	buf_puts(out, "# HELP sippush_http_requests_total HTTP API requests "
	    "answered, by status class.\n"
	    "# TYPE sippush_http_requests_total counter\n");
	for (i = 1; i <= 5; i++)
		buf_printf(out, "sippush_http_requests_total{code=\"%zuxx\"} "
		    "%llu\n", i, (unsigned long long)metrics_http_count[i]);
}
