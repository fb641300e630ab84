/*
 * heartbeat.c: OPTIONS heartbeats and the liveness sweep.
 *
 * A heartbeat is an OPTIONS whose From names a client (sip:ID@...) that is
 * registered from the same address, port and transport. It refreshes the
 * client's last_seen and brings it back online; the write is lazy (the
 * next group commit or sweep carries it). Every OPTIONS is answered 200:
 * one from anybody else is a capability query or a ping and changes
 * nothing. last_seen is written at most every heartbeat.timeout / 4.
 * The sweep, every heartbeat.sweep_interval seconds, marks silent
 * clients offline, ends lapsed registrations and deletes rows retained
 * past registration.retain; it goes over the table in slices, one per
 * turn of the loop (heartbeat_sweep_step).
 * With auth.enabled on, an OPTIONS must first pass Digest authentication
 * as the client its From names (auth.c); others get 401 or 403. A
 * retransmission (the same request on the same flow) is answered again
 * but not counted again.
 */
#include <string.h>

#include <sofia-sip/nta.h>
#include <sofia-sip/nta_stateless.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/su_wait.h>

#include "sippushd.h"

#define HEARTBEAT_ALLOW	"REGISTER, OPTIONS"
/* The rest of the 200 after CSeq, as nta_msg_treply orders it; the UDP
 * replies are written with it (sip_reply_udp) */
#define HEARTBEAT_TAIL \
	"Server: sippushd/" SIPPUSH_VERSION "\r\n" \
	"Allow: " HEARTBEAT_ALLOW "\r\n" \
	"Content-Length: 0\r\n"
/* On the 200 to an OPTIONS that names a client but is not counted as its
 * heartbeat: why, so that the client registers again at once instead of
 * at its next refresh (sippushd(8), OPTIONS). */
#define REGISTRATION_NONE	REGISTRATION_HEADER ": none"
#define REGISTRATION_ELSEWHERE	REGISTRATION_HEADER ": elsewhere"

/* A sweep goes over the table a slice per turn of the loop: at most
 * HEARTBEAT_SLICE_ROWS clients or HEARTBEAT_SLICE_US, then the next
 * slice HEARTBEAT_SLICE_GAP_MS later, so that SIP is answered between
 * two (a million clients: about 50 slices). Each pass logs its first
 * HEARTBEAT_LOG_EACH changes of each kind one by one (the rest at
 * debug level), then a summary. */
#define HEARTBEAT_SLICE_ROWS	20000
#define HEARTBEAT_SLICE_US	5000
#define HEARTBEAT_SLICE_GAP_MS	1
#define HEARTBEAT_LOG_EACH	16

static const struct config	*hb_cfg;
static nta_agent_t		*hb_agent;
static su_timer_t		*hb_timer;
static su_timer_t		*hb_slice_timer;	/* the next slice */
/* the constant headers of every 200, parsed once; each reply gets a copy */
static su_home_t		 hb_home[1];
static sip_allow_t		*hb_allow;
static sip_server_t		*hb_server;

struct sweep {
	int64_t	 now;
	int64_t	 deadline;	/* us, monotonic: the slice ends */
	size_t	 pos;		/* the next bucket */
	size_t	 seen;		/* clients checked, this slice */
	int	 active;	/* a pass is under way */
	int	 offline, expired, deleted;
};

static struct sweep	 hb_sw;

static void heartbeat_slice(su_root_magic_t *, su_timer_t *,
    su_timer_arg_t *);

static void
heartbeat_timer(su_root_magic_t *magic, su_timer_t *t, su_timer_arg_t *arg)
{
	(void)magic;
	(void)t;
	(void)arg;
	if (hb_sw.active)	/* the last pass is not done: it goes on */
		return;
	if (heartbeat_sweep_step(clock_now(), HEARTBEAT_SLICE_ROWS,
	    HEARTBEAT_SLICE_US, NULL) == 0 && hb_slice_timer != NULL)
		su_timer_set_interval(hb_slice_timer, heartbeat_slice, NULL,
		    HEARTBEAT_SLICE_GAP_MS);
}

static void
heartbeat_slice(su_root_magic_t *magic, su_timer_t *t, su_timer_arg_t *arg)
{
	(void)magic;
	(void)t;
	(void)arg;
	if (heartbeat_sweep_step(0, HEARTBEAT_SLICE_ROWS, HEARTBEAT_SLICE_US,
	    NULL) == 0)
		su_timer_set_interval(hb_slice_timer, heartbeat_slice, NULL,
		    HEARTBEAT_SLICE_GAP_MS);
}

int
heartbeat_init(const struct config *cfg, su_root_t *root, nta_agent_t *agent)
{
	hb_cfg = cfg;
	hb_agent = agent;
	su_home_init(hb_home);
	if ((hb_allow = sip_allow_make(hb_home, HEARTBEAT_ALLOW)) == NULL ||
	    (hb_server = sip_server_make(hb_home,
	    "sippushd/" SIPPUSH_VERSION)) == NULL)
		return -1;
	if ((hb_timer = su_timer_create(su_root_task(root),
	    (su_duration_t)cfg->hb_sweep_interval * 1000)) == NULL)
		return -1;
	if (su_timer_set_for_ever(hb_timer, heartbeat_timer, NULL) == -1)
		return -1;
	if ((hb_slice_timer = su_timer_create(su_root_task(root),
	    HEARTBEAT_SLICE_GAP_MS)) == NULL)
		return -1;
	return 0;
}

void
heartbeat_shutdown(void)
{
	su_timer_destroy(hb_timer);
	hb_timer = NULL;
	su_timer_destroy(hb_slice_timer);
	hb_slice_timer = NULL;
	memset(&hb_sw, 0, sizeof(hb_sw));
	su_home_deinit(hb_home);
	hb_allow = NULL;
	hb_server = NULL;
}

/*
 * How stale a stored last_seen may be, in seconds. Writing every
 * heartbeat of a large fleet would cost a row write per packet; a quarter
 * of heartbeat.timeout is fine enough for liveness after a restart.
 */
static int64_t
heartbeat_write_every(void)
{
	int	 every = hb_cfg->hb_timeout ? hb_cfg->hb_timeout / 4 : 60;

	return every < 1 ? 1 : every;
}

/* Answer an OPTIONS, counting it as a heartbeat if it is one. Takes
 * ownership of msg. */
void
heartbeat_request(msg_t *msg, sip_t *sip)
{
	static const char tail_counted[] = HEARTBEAT_TAIL,
			  tail_none[] = HEARTBEAT_TAIL REGISTRATION_NONE "\r\n",
			  tail_elsewhere[] = HEARTBEAT_TAIL
			      REGISTRATION_ELSEWHERE "\r\n";
	struct client	*c = NULL;
	struct auth_grant g;
	const char	*id = NULL, *why = NULL, *tail = tail_counted;
	size_t		 tlen = sizeof(tail_counted) - 1;

	if (sip->sip_from && sip->sip_from->a_url->url_user)
		id = sip->sip_from->a_url->url_user;
	if (!auth_request(msg, sip, id, &g))
		return;
	if (id != NULL && (cluster_draining() || cluster_fenced())) {
		/* the client should go to another node of its list */
		nta_msg_treply(hb_agent, msg, 503, cluster_draining() ?
		    CLUSTER_PHRASE_DRAINING : CLUSTER_PHRASE_FENCED,
		    SIPTAG_RETRY_AFTER_STR(cluster_draining() ?
		    CLUSTER_RETRY_DRAINING : CLUSTER_RETRY_FENCED),
		    SIPTAG_SERVER(hb_server), TAG_END());
		return;
	}
	if (id != NULL && ((c = clients_find(id)) == NULL ||
	    (c->state != CLIENT_ONLINE && c->state != CLIENT_OFFLINE))) {
		why = REGISTRATION_NONE;
		tail = tail_none;
		tlen = sizeof(tail_none) - 1;
	} else if (id != NULL &&
	    !sip_source_is(msg, c->address, c->port, c->transport)) {
		why = REGISTRATION_ELSEWHERE;
		tail = tail_elsewhere;
		tlen = sizeof(tail_elsewhere) - 1;
	}
	if (id != NULL && why == NULL && g.again)
		log_debug("heartbeat: OPTIONS of %s retransmitted, answered "
		    "again", id);
	else if (id != NULL && why == NULL) {
		c->last_seen = clock_now();
		/* a node of a cluster writes only state changes: a fleet's
		 * heartbeats would be a row write each on the shared
		 * database (last_seen stays in memory) */
		if (c->state == CLIENT_OFFLINE || (!cluster_on() &&
		    c->last_seen - c->seen_marked >= heartbeat_write_every())) {
			c->seen_marked = c->last_seen;
			clients_mark(c, CLIENT_DIRTY_SEEN);
		}
		if (c->state == CLIENT_OFFLINE) {
			/* cluster: its parked targets come with the write */
			c->take = (uint8_t)cluster_on();
			clients_set_state(c, CLIENT_ONLINE);
			log_info("heartbeat: %s is back online", c->id);
			dispatch_client_online(c);
		}
	} else
		log_debug("heartbeat: OPTIONS from %s is no heartbeat of a "
		    "registered client%s%s", id ? id : "(no user)",
		    why ? ": " : "", why ? why : "");
	if (sip_reply_udp(msg, sip, tail, tlen) == 0)
		return;
	nta_msg_treply(hb_agent, msg, SIP_200_OK,
	    SIPTAG_ALLOW(hb_allow),
	    SIPTAG_SERVER(hb_server),
	    TAG_IF(why, SIPTAG_HEADER_STR(why)),
	    TAG_END());
}

static int
heartbeat_check(struct client *c, void *arg)
{
	struct sweep	*sw = arg;

	switch (c->state) {
	case CLIENT_ONLINE:
	case CLIENT_OFFLINE:
		if (sw->now >= c->expires_at) {
			clients_set_state(c, CLIENT_EXPIRED);
			clients_set_tport(c, NULL);
			clients_mark(c, CLIENT_DIRTY_ROW);
			if (sw->expired++ < HEARTBEAT_LOG_EACH)
				log_info("heartbeat: registration of %s "
				    "expired", c->id);
			else
				log_debug("heartbeat: registration of %s "
				    "expired", c->id);
		} else if (c->state == CLIENT_ONLINE && hb_cfg->hb_timeout &&
		    sw->now - c->last_seen > hb_cfg->hb_timeout) {
			clients_set_state(c, CLIENT_OFFLINE);
			clients_mark(c, CLIENT_DIRTY_SEEN);
			if (sw->offline++ < HEARTBEAT_LOG_EACH)
				log_info("heartbeat: %s is offline (silent "
				    "for %llds)", c->id,
				    (long long)(sw->now - c->last_seen));
			else
				log_debug("heartbeat: %s is offline (silent "
				    "for %llds)", c->id,
				    (long long)(sw->now - c->last_seen));
		}
		break;
	case CLIENT_EXPIRED:
	case CLIENT_UNREGISTERED:
		/* kept while a nonce it used lives: its record refuses
		 * replays of its requests (auth.c) */
		if (sw->now >= c->expires_at + hb_cfg->reg_retain &&
		    !(c->dirty & CLIENT_DIRTY_DELETE) &&
		    auth_quiet(c, sw->now)) {
			clients_mark(c, CLIENT_DIRTY_DELETE);
			sw->deleted++;
		}
		break;
	}
	/* the clock is read every 1024 clients: a slice's time bound */
	if ((++sw->seen & 1023) == 0 && sw->deadline &&
	    clock_mono_us() >= sw->deadline)
		return 1;
	return 0;
}

/*
 * One slice of a sweep: check at most max_rows clients (whole buckets,
 * so a few more) or for at most max_us (0: no bound), going on from
 * where the slice before stopped; a new pass starts at time now (now is
 * ignored while a pass is under way: the whole pass uses its start's
 * time). seen, if not NULL, gets the clients checked. At a pass's end,
 * the summary is logged and a commit of every change is started
 * (without waiting for the writer thread, commit.c). Returns 1 when the
 * pass is done, else 0 (call again, at a later turn of the loop).
 */
int
heartbeat_sweep_step(int64_t now, size_t max_rows, int64_t max_us,
    size_t *seen)
{
	int	 done;

	if (!hb_sw.active) {
		memset(&hb_sw, 0, sizeof(hb_sw));
		hb_sw.active = 1;
		hb_sw.now = now;
	}
	hb_sw.seen = 0;
	hb_sw.deadline = max_us > 0 ? clock_mono_us() + max_us : 0;
	done = clients_foreach_from(&hb_sw.pos, max_rows, heartbeat_check,
	    &hb_sw);
	if (seen != NULL)
		*seen = hb_sw.seen;
	if (!done)
		return 0;
	hb_sw.active = 0;
	if (hb_sw.offline > HEARTBEAT_LOG_EACH)
		log_info("heartbeat: %d clients went offline in this sweep "
		    "(silent for more than %ds; the first %d named above)",
		    hb_sw.offline, hb_cfg->hb_timeout, HEARTBEAT_LOG_EACH);
	if (hb_sw.expired > HEARTBEAT_LOG_EACH)
		log_info("heartbeat: %d registrations expired in this sweep "
		    "(the first %d named above)", hb_sw.expired,
		    HEARTBEAT_LOG_EACH);
	if (hb_sw.deleted)
		log_info("heartbeat: %d lapsed registrations deleted",
		    hb_sw.deleted);
	commit_start();
	return 1;
}

/*
 * A whole pass over the table at time now, at once (the timer runs it
 * in slices, heartbeat_sweep_step); a pass under way is finished with
 * now. Returns the number of clients whose state changed or that were
 * deleted in the pass.
 */
int
heartbeat_sweep(int64_t now)
{
	if (hb_sw.active)
		hb_sw.now = now;
	while (!heartbeat_sweep_step(now, (size_t)-1, 0, NULL))
		;
	return hb_sw.offline + hb_sw.expired + hb_sw.deleted;
}
