/*
 * edge.c: the agent's edge relay (relay.mode "serve", RELAY in
 * sippush-agent(1)).
 *
 * The relay (libsippush's sippush_relay) runs on a thread of its own,
 * next to the agent's own client, which talks to the server directly.
 * The thread creates, runs and destroys it; edge_start waits until it is
 * created (or failed), edge_stop stops it and waits for the thread.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "agent.h"

static struct {
	pthread_t		 thread;
	pthread_mutex_t		 lock;
	pthread_cond_t		 cond;
	struct sippush_relay_settings s;
	struct sippush_relay	*relay;
	int			 started;	/* 1 created, -1 failed */
	char			 err[256];
} edge = { .lock = PTHREAD_MUTEX_INITIALIZER,
	   .cond = PTHREAD_COND_INITIALIZER };

static void *
edge_thread(void *arg)
{
	struct sippush_relay	*r = NULL;
	int			 rv;

	(void)arg;
	rv = sippush_relay_create(&r, &edge.s, edge.err, sizeof(edge.err));
	pthread_mutex_lock(&edge.lock);
	edge.relay = r;
	edge.started = rv == 0 ? 1 : -1;
	pthread_cond_signal(&edge.cond);
	pthread_mutex_unlock(&edge.lock);
	if (rv != 0)
		return NULL;
	sippush_relay_run(r);
	log_notice("relay: stopped after %lu relayed requests",
	    sippush_relay_relayed(r));
	sippush_relay_destroy(r);
	return NULL;
}

/* Start the relay of cfg (its server: the first of server.list). 0, or
 * -1 with a reason in err. */
int
edge_start(const struct config *cfg, char *err, size_t errlen)
{
	sigset_t	 all, old;
	int		 rv;

	sippush_relay_settings_init(&edge.s);
	edge.s.server = cfg->servers[0];
	edge.s.interface = cfg->relay_interface;
	edge.s.relay_id = cfg->relay_id ? cfg->relay_id : cfg->client_id;
	edge.s.priority = cfg->relay_priority;
	edge.s.sip_port = cfg->relay_port;
	edge.s.discovery_port = cfg->relay_discovery_port;
	edge.s.announce_interval = cfg->relay_announce;
	edge.s.lease = cfg->relay_lease;
	edge.s.on_log = log_lib;
	edge.s.log_level = (enum sippush_log_level)cfg->log_level;
	/* signals are the main thread's */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rv = pthread_create(&edge.thread, NULL, edge_thread, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rv != 0) {
		snprintf(err, errlen, "relay: cannot start a thread: %s",
		    strerror(rv));
		return -1;
	}
	pthread_mutex_lock(&edge.lock);
	while (edge.started == 0)
		pthread_cond_wait(&edge.cond, &edge.lock);
	pthread_mutex_unlock(&edge.lock);
	if (edge.started == -1) {
		pthread_join(edge.thread, NULL);
		snprintf(err, errlen, "%s", edge.err);
		return -1;
	}
	return 0;
}

/* Ask the relay to stop; any thread, async-signal-safe. */
void
edge_signal(void)
{
	if (edge.started == 1 && edge.relay)
		sippush_relay_stop(edge.relay);
}

/* Stop the relay, if running, and wait for its thread. */
void
edge_stop(void)
{
	if (edge.started != 1)
		return;
	sippush_relay_stop(edge.relay);
	pthread_join(edge.thread, NULL);
	edge.started = 0;
	edge.relay = NULL;
}
