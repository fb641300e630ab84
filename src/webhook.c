/*
 * webhook.c: delivery webhooks.
 *
 * How it works. When a message finishes (done, expired or cancelled) or
 * one of its targets fails, the dispatcher asks webhook_events for the
 * events to send: one per URL (the message's own callback, then each of
 * webhooks.url), each with a delivery ID and its JSON body. They ride
 * on the message until dispatch_batch copies them, as outbox rows, into
 * the very batch that writes the change: a crash loses neither or both.
 * Once that batch is committed they come here (webhook_enqueue) and wait
 * in a heap, soonest due first. Rows that survived a restart come back
 * the same way (webhook_restore).
 *
 * Delivery runs on the daemon's one event loop, with libcurl's multi
 * interface: curl tells which sockets to watch (registered with su_root
 * as wait objects) and when to call it back (an su_timer); nothing here
 * blocks and no thread is made (host names are resolved by curl's own
 * resolver thread). At most webhooks.max_in_flight requests are open.
 * A 2xx answer marks the row for deletion; anything else (another
 * status, a refused connection, webhooks.timeout) counts an attempt and
 * marks it for an update of attempts and next_attempt, after
 * webhook_backoff; after webhooks.max_attempts the row is deleted and
 * the loss logged and counted. Those changes are written by the group
 * commit (webhook_batch, webhook_batch_done), never here: a delivery
 * whose deletion is lost in a crash is sent again (at least once; the
 * delivery ID tells a receiver it has seen it).
 *
 * The retry delay: after the n-th failed attempt, the base delay is
 * min_ms * 2^(n-1), at most max_ms; the delay is drawn uniformly from
 * [base/2, base] ("equal jitter"), so that events that failed together
 * (a receiver down) do not all come back at the same millisecond, and a
 * retry never comes sooner than min_ms / 2.
 *
 * The signature: HMAC-SHA-256 with the configured secret over
 * "T.BODY" (T: the UNIX time of the attempt in decimal, BODY: the exact
 * bytes sent), as the header value "t=T,v1=HEX". The receiver recomputes
 * it and compares in constant time, and refuses a T too far from its own
 * clock (a replay).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <curl/curl.h>
#include <jansson.h>
#include <sofia-sip/su_wait.h>

#include "sippushd.h"
#include "sha256.h"
#include "webhook.h"

/* The delay before the next attempt after attempts failures (>= 1), in
 * ms; rnd: a random number (the jitter). */
int64_t
webhook_backoff(int attempts, int64_t min_ms, int64_t max_ms, uint32_t rnd)
{
	int64_t	 base = min_ms, half;
	int	 i;

	if (min_ms < 1)
		base = min_ms = 1;
	if (max_ms < min_ms)
		max_ms = min_ms;
	for (i = 1; i < attempts && base < max_ms; i++)
		base *= 2;
	if (base > max_ms)
		base = max_ms;
	half = base / 2;
	return base - half + (int64_t)(rnd % (uint64_t)(half + 1));
}

/* The Sippush-Signature header value for body sent at t: 0, or -1 if
 * out is too small. */
int
webhook_sign(const void *secret, size_t secret_len, int64_t t,
    const char *body, size_t body_len, char *out, size_t outlen)
{
	struct sha256	 ctx, outer;
	uint8_t		 k[SHA256_BLOCK], ipad[SHA256_BLOCK],
			 opad[SHA256_BLOCK], mac[SHA256_LEN];
	char		 ts[24], hex[2 * SHA256_LEN + 1];
	int		 n, i;

	/* HMAC by hand over the pieces, not over a copy of the body */
	memset(k, 0, sizeof(k));
	if (secret_len > SHA256_BLOCK)
		sha256(secret, secret_len, k);
	else
		memcpy(k, secret, secret_len);
	for (i = 0; i < SHA256_BLOCK; i++) {
		ipad[i] = k[i] ^ 0x36;
		opad[i] = k[i] ^ 0x5c;
	}
	n = snprintf(ts, sizeof(ts), "%" PRId64 ".", t);
	sha256_init(&ctx);
	sha256_update(&ctx, ipad, sizeof(ipad));
	sha256_update(&ctx, ts, (size_t)n);
	sha256_update(&ctx, body, body_len);
	sha256_final(&ctx, mac);
	sha256_init(&outer);
	sha256_update(&outer, opad, sizeof(opad));
	sha256_update(&outer, mac, sizeof(mac));
	sha256_final(&outer, mac);
	sha256_hex(mac, sizeof(mac), hex);
	memset(k, 0, sizeof(k));
	memset(ipad, 0, sizeof(ipad));
	memset(opad, 0, sizeof(opad));
	n = snprintf(out, outlen, "t=%" PRId64 ",v1=%s", t, hex);
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

/* ---- events and their bodies ---- */

/* The state a finished message is reported in: "cancelled", "expired"
 * (its TTL ran out with targets pending) or "done". */
const char *
webhook_finished_state(const struct message *m)
{
	if (m->state == MESSAGE_CANCELLED)
		return "cancelled";
	if (m->count[TARGET_EXPIRED] > 0)
		return "expired";
	return "done";
}

/*
 * The JSON body of an event about m at now (unix s): "finished" if t is
 * NULL, else "target_failed" about t. malloc'd, or NULL if out of
 * memory.
 */
char *
webhook_body(const char *delivery_id, const struct message *m,
    const struct target *t, int64_t now)
{
	json_t	*j, *counts;
	char	*s;

	counts = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I}",
	    "targets", (json_int_t)m->ntargets,
	    "pending", (json_int_t)(m->count[TARGET_PENDING] +
	    m->count[TARGET_SENT]),
	    "acked", (json_int_t)m->count[TARGET_ACKED],
	    "expired", (json_int_t)m->count[TARGET_EXPIRED],
	    "failed", (json_int_t)m->count[TARGET_FAILED],
	    "cancelled", (json_int_t)m->count[TARGET_CANCELLED]);
	if (counts == NULL)
		return NULL;
	if (t == NULL)
		j = json_pack("{s:s,s:s,s:I,s:s,s:s,s:I,s:I,s:o}",
		    "id", delivery_id, "event", "finished",
		    "time", (json_int_t)now, "message_id", m->id,
		    "state", webhook_finished_state(m),
		    "created_at", (json_int_t)m->created_at,
		    "finished_at", (json_int_t)m->finished_at,
		    "counts", counts);
	else
		j = json_pack("{s:s,s:s,s:I,s:s,s:s,s:s,s:I,s:i,s:o}",
		    "id", delivery_id, "event", "target_failed",
		    "time", (json_int_t)now, "message_id", m->id,
		    "state", dispatch_message_state_name(m->state),
		    "client_id", t->client,
		    "attempts", (json_int_t)t->attempts,
		    "last_status", (int)t->last_status,
		    "counts", counts);
	if (j == NULL)
		return NULL;	/* json_pack took counts ("o") */
	s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	return s;
}

static const struct config	*wh_cfg;

/* The settings events are made with (webhook_init calls it; so may unit
 * tests, without the rest). NULL: none (every event, no global URL). */
void
webhook_configure(const struct config *cfg)
{
	wh_cfg = cfg;
}

static void
webhook_event_free(struct webhook_event *ev)
{
	if (ev == NULL)
		return;
	free(ev->url);
	free(ev->body);
	free(ev);
}

void
webhook_events_free(struct webhook_event *list)
{
	struct webhook_event	*ev;

	while ((ev = list) != NULL) {
		list = ev->next;
		webhook_event_free(ev);
	}
}

/* One new event for url (NULL: the first of webhooks.url) onto *list. */
static int
webhook_event_new(const struct message *m, const struct target *t,
    const char *url, int64_t now, struct webhook_event **list)
{
	struct webhook_event	*ev;
	uint8_t			 rnd[WEBHOOK_ID_LEN / 2];
	size_t			 i;

	if ((ev = calloc(1, sizeof(*ev))) == NULL)
		return -1;
	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd)) {
		free(ev);
		return -1;
	}
	for (i = 0; i < sizeof(rnd); i++)
		snprintf(ev->id + 2 * i, 3, "%02x", rnd[i]);
	ev->event = t ? "target_failed" : "finished";
	ev->created_at = now;
	ev->next_attempt = now * 1000;
	if ((url && (ev->url = strdup(url)) == NULL) ||
	    (ev->body = webhook_body(ev->id, m, t, now)) == NULL) {
		webhook_event_free(ev);
		return -1;
	}
	ev->next = *list;
	*list = ev;
	return 0;
}

/*
 * The events that m finishing (t NULL) or its target t failing makes,
 * onto *list: one for m's callback, one for each of webhooks.url (not
 * twice to one URL), none if webhooks.events leaves the event out.
 * 0, or -1 out of memory (*list then holds those made).
 */
int
webhook_events(const struct message *m, const struct target *t,
    struct webhook_event **list)
{
	int	 bit = t ? WEBHOOK_EV_TARGET_FAILED : WEBHOOK_EV_FINISHED;
	int64_t	 now = clock_now();
	int	 i;

	if (wh_cfg && !(wh_cfg->wh_events & bit))
		return 0;
	if (m->callback &&
	    webhook_event_new(m, t, m->callback, now, list) == -1)
		return -1;
	for (i = 0; wh_cfg && i < wh_cfg->wh_nurl; i++) {
		if (m->callback && strcmp(m->callback, wh_cfg->wh_url[i]) == 0)
			continue;
		if (webhook_event_new(m, t, wh_cfg->wh_url[i], now, list) ==
		    -1)
			return -1;
	}
	return 0;
}

/* ev's outbox row for op (STORE_PUT: all of it; STORE_TOUCH: attempts
 * and next_attempt; STORE_DELETE: the ID); it points into ev. */
void
webhook_outbox_row(const struct webhook_event *ev, int op,
    struct outbox_row *r)
{
	memset(r, 0, sizeof(*r));
	r->op = op;
	r->id = ev->id;
	r->attempts = ev->attempts;
	r->next_attempt = ev->next_attempt;
	if (op != STORE_PUT)
		return;
	r->event = ev->event;
	r->url = ev->url;
	r->body = ev->body;
	r->created_at = ev->created_at;
}

/* ---- delivery ---- */

/* One HTTP request in flight. */
struct webhook_flight {
	CURL			*easy;
	struct curl_slist	*headers;
	struct webhook_event	*ev;
	size_t			 slot;		/* in wh_fly */
	char			 err[CURL_ERROR_SIZE];
};

/* A socket curl asked us to watch. */
struct webhook_sock {
	curl_socket_t		 fd;
	int			 index;		/* su_root's */
	su_wait_t		 wait[1];
};

static su_root_t		*wh_root;
static CURLM			*wh_multi;
static su_timer_t		*wh_ctimer;	/* curl's timeout */
static su_timer_t		*wh_dtimer;	/* the next event due */
static int			 wh_quiet;	/* stopping: start nothing */
static struct webhook_event	**wh_heap;	/* waiting, soonest first */
static size_t			 wh_nheap, wh_aheap;
static struct webhook_flight	**wh_fly;	/* max_in_flight slots */
static size_t			 wh_nfly;
static struct webhook_event	*wh_dirty;	/* rows to write */
static struct webhook_event	**wh_given;	/* in the batch written */
static uint8_t			*wh_given_op;
static size_t			 wh_ngiven, wh_agiven;
static uint64_t			 wh_sent, wh_failed, wh_retries;

static void webhook_pump(void);

static int
heap_less(const struct webhook_event *a, const struct webhook_event *b)
{
	if (a->next_attempt != b->next_attempt)
		return a->next_attempt < b->next_attempt;
	return a->created_at < b->created_at;
}

static void
heap_set(size_t i, struct webhook_event *ev)
{
	wh_heap[i] = ev;
	ev->slot = i + 1;
}

static void
heap_up(size_t i)
{
	struct webhook_event	*ev = wh_heap[i];

	while (i > 0 && heap_less(ev, wh_heap[(i - 1) / 2])) {
		heap_set(i, wh_heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	heap_set(i, ev);
}

static void
heap_down(size_t i)
{
	struct webhook_event	*ev = wh_heap[i];
	size_t			 c;

	for (;;) {
		c = 2 * i + 1;
		if (c >= wh_nheap)
			break;
		if (c + 1 < wh_nheap && heap_less(wh_heap[c + 1], wh_heap[c]))
			c++;
		if (!heap_less(wh_heap[c], ev))
			break;
		heap_set(i, wh_heap[c]);
		i = c;
	}
	heap_set(i, ev);
}

/* Into the heap; -1 if out of memory: its row stays in the outbox and is
 * sent after a restart, and ev is freed (if its row is marked, once that
 * is written). */
static int
heap_push(struct webhook_event *ev)
{
	struct webhook_event	**nh;
	size_t			 na;

	if (wh_nheap == wh_aheap) {
		na = wh_aheap ? wh_aheap * 2 : 64;
		if ((nh = realloc(wh_heap, na * sizeof(*nh))) == NULL) {
			log_error("webhook: out of memory: %s is left in the "
			    "outbox until a restart", ev->id);
			if (ev->dirty)
				ev->orphan = 1;
			else
				webhook_event_free(ev);
			return -1;
		}
		wh_heap = nh;
		wh_aheap = na;
	}
	wh_heap[wh_nheap++] = ev;
	heap_up(wh_nheap - 1);
	return 0;
}

static void
heap_remove(struct webhook_event *ev)
{
	size_t	 i = ev->slot - 1;

	if (ev->slot == 0)
		return;
	ev->slot = 0;
	if (i == --wh_nheap)
		return;
	wh_heap[i] = wh_heap[wh_nheap];
	wh_heap[i]->slot = i + 1;
	heap_down(i);
	heap_up(wh_heap[i]->slot - 1);
}

/* Mark ev's row for the next commit: op STORE_TOUCH or STORE_DELETE (a
 * deletion is not undone by a later touch). */
static void
webhook_mark(struct webhook_event *ev, int op)
{
	if (op == STORE_DELETE || ev->op != STORE_DELETE)
		ev->op = (uint8_t)op;
	if (!ev->dirty) {
		ev->dirty = 1;
		ev->dnext = wh_dirty;
		wh_dirty = ev;
	}
	commit_schedule_lazy();
}

/* The URL ev goes to, or NULL if it has none (a row of an older version
 * without a URL, and webhooks.url now empty). */
static const char *
webhook_url(const struct webhook_event *ev)
{
	if (ev->url)
		return ev->url;
	return wh_cfg && wh_cfg->wh_nurl ? wh_cfg->wh_url[0] : NULL;
}

static size_t
webhook_discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

static void
webhook_flight_free(struct webhook_flight *f)
{
	if (f == NULL)
		return;
	if (f->easy) {
		if (wh_multi)
			curl_multi_remove_handle(wh_multi, f->easy);
		curl_easy_cleanup(f->easy);
	}
	curl_slist_free_all(f->headers);
	free(f);
}

static void webhook_result(struct webhook_event *, int ok, const char *why);

/* Start ev's next attempt (it is out of the heap). */
static void
webhook_start(struct webhook_event *ev)
{
	struct webhook_flight	*f;
	struct curl_slist	*h;
	static const char *const fixed[] = {
		"Content-Type: application/json", "Expect:", NULL
	};
	const char		*url = webhook_url(ev);
	char			 line[WEBHOOK_SIG_MAX + 64], sig[WEBHOOK_SIG_MAX];
	int64_t			 now = clock_now();
	int			 i;

	if (url == NULL) {
		ev->attempts = wh_cfg ? wh_cfg->wh_max_attempts : 1;
		webhook_result(ev, 0, "no URL (webhooks.url is empty)");
		return;
	}
	if ((f = calloc(1, sizeof(*f))) == NULL ||
	    (f->easy = curl_easy_init()) == NULL)
		goto nomem;
	f->ev = ev;
	for (i = 0; fixed[i]; i++) {
		if ((h = curl_slist_append(f->headers, fixed[i])) == NULL)
			goto nomem;
		f->headers = h;
	}
	snprintf(line, sizeof(line), "Sippush-Event: %s", ev->event);
	if ((h = curl_slist_append(f->headers, line)) == NULL)
		goto nomem;
	f->headers = h;
	snprintf(line, sizeof(line), "Sippush-Delivery: %s", ev->id);
	if ((h = curl_slist_append(f->headers, line)) == NULL)
		goto nomem;
	f->headers = h;
	if (wh_cfg && wh_cfg->wh_secret) {
		webhook_sign(wh_cfg->wh_secret, strlen(wh_cfg->wh_secret), now,
		    ev->body, strlen(ev->body), sig, sizeof(sig));
		snprintf(line, sizeof(line), "Sippush-Signature: %s", sig);
		if ((h = curl_slist_append(f->headers, line)) == NULL)
			goto nomem;
		f->headers = h;
	}
	curl_easy_setopt(f->easy, CURLOPT_URL, url);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(f->easy, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(f->easy, CURLOPT_PROTOCOLS,
	    (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(f->easy, CURLOPT_POSTFIELDS, ev->body);
	curl_easy_setopt(f->easy, CURLOPT_POSTFIELDSIZE, (long)strlen(ev->body));
	curl_easy_setopt(f->easy, CURLOPT_HTTPHEADER, f->headers);
	curl_easy_setopt(f->easy, CURLOPT_USERAGENT,
	    "sippushd/" SIPPUSH_VERSION);
	curl_easy_setopt(f->easy, CURLOPT_TIMEOUT_MS,
	    (long)(wh_cfg ? wh_cfg->wh_timeout : 10) * 1000L);
	curl_easy_setopt(f->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(f->easy, CURLOPT_WRITEFUNCTION, webhook_discard);
	curl_easy_setopt(f->easy, CURLOPT_ERRORBUFFER, f->err);
	curl_easy_setopt(f->easy, CURLOPT_PRIVATE, f);
	if (curl_multi_add_handle(wh_multi, f->easy) != CURLM_OK)
		goto nomem;
	for (f->slot = 0; wh_fly[f->slot]; f->slot++)
		;
	wh_fly[f->slot] = f;
	wh_nfly++;
	ev->flight = f;
	log_debug("webhook: %s (%s) to %s, attempt %d", ev->id, ev->event,
	    url, ev->attempts + 1);
	return;
nomem:
	if (f)
		curl_easy_cleanup(f->easy);
	if (f)
		curl_slist_free_all(f->headers);
	free(f);
	webhook_result(ev, 0, "out of memory");
}

/* ev's attempt ended: delivered (ok), or not (why). */
static void
webhook_result(struct webhook_event *ev, int ok, const char *why)
{
	int64_t		 now = clock_now_ms(), delay;
	uint32_t	 rnd = 0;
	int		 max = wh_cfg ? wh_cfg->wh_max_attempts : 10;

	ev->attempts++;
	if (ok) {
		wh_sent++;
		log_info("webhook: %s (%s) delivered to %s", ev->id, ev->event,
		    webhook_url(ev));
		webhook_mark(ev, STORE_DELETE);
		return;
	}
	if (ev->attempts >= max) {
		wh_failed++;
		log_warn("webhook: %s (%s) to %s given up after %d attempts: "
		    "%s", ev->id, ev->event, webhook_url(ev) ?
		    webhook_url(ev) : "-", ev->attempts, why);
		webhook_mark(ev, STORE_DELETE);
		return;
	}
	if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
		rnd = (uint32_t)now;
	delay = webhook_backoff(ev->attempts, wh_cfg ?
	    wh_cfg->wh_retry_initial : 1000, wh_cfg ? wh_cfg->wh_retry_max :
	    300000, rnd);
	ev->next_attempt = now + delay;
	wh_retries++;
	log_info("webhook: %s (%s) to %s failed (%s), attempt %d of %d; "
	    "again in %lld ms", ev->id, ev->event, webhook_url(ev), why,
	    ev->attempts, max, (long long)delay);
	webhook_mark(ev, STORE_TOUCH);
	heap_push(ev);
}

/* Collect the requests curl has finished. */
static void
webhook_reap(void)
{
	struct webhook_flight	*f;
	struct webhook_event	*ev;
	CURLMsg			*msg;
	CURLcode		 rc;
	CURL			*easy;
	char			 why[CURL_ERROR_SIZE + 32];
	long			 code = 0;
	int			 left;

	while ((msg = curl_multi_info_read(wh_multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		easy = msg->easy_handle;
		rc = msg->data.result;
		f = NULL;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&f);
		if (f == NULL)
			continue;
		curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
		ev = f->ev;
		if (rc != CURLE_OK)
			snprintf(why, sizeof(why), "%s", *f->err ? f->err :
			    curl_easy_strerror(rc));
		else
			snprintf(why, sizeof(why), "HTTP status %ld", code);
		wh_fly[f->slot] = NULL;
		wh_nfly--;
		ev->flight = NULL;
		webhook_flight_free(f);
		webhook_result(ev, rc == CURLE_OK && code >= 200 && code < 300,
		    why);
	}
}

static void
webhook_due(su_root_magic_t *magic, su_timer_t *t, su_timer_arg_t *arg)
{
	(void)magic;
	(void)t;
	(void)arg;
	webhook_pump();
}

/* Start the due events, soonest first, while requests may be added; arm
 * the timer for the next one. */
static void
webhook_pump(void)
{
	struct webhook_event	*ev;
	int64_t			 now, wait;
	size_t			 max;

	if (wh_quiet || wh_multi == NULL)
		return;
	max = (size_t)wh_cfg->wh_max_in_flight;
	now = clock_now_ms();
	while (wh_nfly < max && wh_nheap > 0 &&
	    wh_heap[0]->next_attempt <= now) {
		ev = wh_heap[0];
		heap_remove(ev);
		webhook_start(ev);
	}
	su_timer_reset(wh_dtimer);
	if (wh_nfly < max && wh_nheap > 0) {
		wait = wh_heap[0]->next_attempt - now;
		su_timer_set_interval(wh_dtimer, webhook_due, NULL,
		    (su_duration_t)(wait < 1 ? 1 : wait > 3600000 ? 3600000 :
		    wait));
	}
}

/* A socket curl watches is ready. */
static int
webhook_sock_event(su_root_magic_t *magic, su_wait_t *w,
    su_wakeup_arg_t *arg)
{
	struct webhook_sock	*ws = (struct webhook_sock *)arg;
	curl_socket_t		 fd = ws->fd;
	int			 ev, flags = 0, running;

	(void)magic;
	ev = su_wait_events(w, fd);
	if (ev & SU_WAIT_IN)
		flags |= CURL_CSELECT_IN;
	if (ev & SU_WAIT_OUT)
		flags |= CURL_CSELECT_OUT;
	if (ev & (SU_WAIT_ERR | SU_WAIT_HUP))
		flags |= CURL_CSELECT_ERR;
	curl_multi_socket_action(wh_multi, fd, flags, &running);
	webhook_reap();
	webhook_pump();
	return 0;
}

/* curl's CURLMOPT_SOCKETFUNCTION: watch s for what (or no more). */
static int
webhook_sock_cb(CURL *easy, curl_socket_t s, int what, void *userp,
    void *socketp)
{
	struct webhook_sock	*ws = socketp;
	int			 events = 0;

	(void)easy;
	(void)userp;
	if (what == CURL_POLL_REMOVE) {
		if (ws) {
			su_root_deregister(wh_root, ws->index);
			curl_multi_assign(wh_multi, s, NULL);
			free(ws);
		}
		return 0;
	}
	if (what & CURL_POLL_IN)
		events |= SU_WAIT_IN;
	if (what & CURL_POLL_OUT)
		events |= SU_WAIT_OUT;
	if (ws) {
		su_root_eventmask(wh_root, ws->index, s, events);
		return 0;
	}
	if ((ws = calloc(1, sizeof(*ws))) == NULL)
		return -1;
	ws->fd = s;
	if (su_wait_create(ws->wait, s, events) == -1 ||
	    (ws->index = su_root_register(wh_root, ws->wait,
	    webhook_sock_event, (su_wakeup_arg_t *)ws, 0)) == -1) {
		log_error("webhook: cannot watch a socket: %s",
		    strerror(errno));
		free(ws);
		return -1;
	}
	curl_multi_assign(wh_multi, s, ws);
	return 0;
}

static void
webhook_curl_due(su_root_magic_t *magic, su_timer_t *t, su_timer_arg_t *arg)
{
	int	 running;

	(void)magic;
	(void)t;
	(void)arg;
	curl_multi_socket_action(wh_multi, CURL_SOCKET_TIMEOUT, 0, &running);
	webhook_reap();
	webhook_pump();
}

/* curl's CURLMOPT_TIMERFUNCTION: call back in ms (-1: never). */
static int
webhook_timer_cb(CURLM *multi, long ms, void *userp)
{
	(void)multi;
	(void)userp;
	su_timer_reset(wh_ctimer);
	if (ms >= 0)
		su_timer_set_interval(wh_ctimer, webhook_curl_due, NULL,
		    (su_duration_t)ms);
	return 0;
}

/* Start the client: curl's multi handle on root. 0, or -1 (logged). */
int
webhook_init(const struct config *cfg, su_root_t *root)
{
	const curl_version_info_data	*vi;

	webhook_configure(cfg);
	wh_root = root;
	wh_quiet = 0;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_error("webhook: cannot initialise libcurl");
		return -1;
	}
	vi = curl_version_info(CURLVERSION_NOW);
	if (vi && !(vi->features & CURL_VERSION_ASYNCHDNS))
		log_warn("webhook: this libcurl resolves host names "
		    "synchronously: a slow DNS server delays SIP while a "
		    "webhook URL with a host name is resolved");
	if ((wh_fly = calloc((size_t)cfg->wh_max_in_flight,
	    sizeof(*wh_fly))) == NULL ||
	    (wh_multi = curl_multi_init()) == NULL ||
	    (wh_ctimer = su_timer_create(su_root_task(root), 0)) == NULL ||
	    (wh_dtimer = su_timer_create(su_root_task(root), 0)) == NULL) {
		log_error("webhook: cannot start: out of memory");
		return -1;
	}
	if (cfg->wh_secret == NULL)
		log_notice("webhook: no webhooks.secret: requests are sent "
		    "without a Sippush-Signature");
	curl_multi_setopt(wh_multi, CURLMOPT_SOCKETFUNCTION, webhook_sock_cb);
	curl_multi_setopt(wh_multi, CURLMOPT_TIMERFUNCTION, webhook_timer_cb);
	return 0;
}

static int
webhook_restore_row(const struct outbox_row *r, void *arg)
{
	struct webhook_event	*ev;

	(void)arg;
	if ((ev = calloc(1, sizeof(*ev))) == NULL)
		return -1;
	snprintf(ev->id, sizeof(ev->id), "%s", r->id);
	ev->event = strcmp(r->event, "finished") == 0 ? "finished" :
	    "target_failed";
	ev->created_at = r->created_at;
	ev->attempts = r->attempts;
	ev->next_attempt = r->next_attempt;
	if ((r->url && (ev->url = strdup(r->url)) == NULL) ||
	    (ev->body = strdup(r->body)) == NULL) {
		webhook_event_free(ev);
		return -1;
	}
	return heap_push(ev);
}

/* An event another writer put in the outbox and committed (the
 * cluster's completion, in SQL): delivered as if restored. 0, or -1
 * (memory). */
int
webhook_adopt(const struct outbox_row *r)
{
	if (webhook_restore_row(r, NULL) == -1)
		return -1;
	webhook_pump();
	return 0;
}

/* Load the outbox left by the last run: how many events, or -1. */
int
webhook_restore(void)
{
	int	 n = store_load_outbox(webhook_restore_row, NULL);

	if (n > 0) {
		log_info("webhook: %d events to deliver from the outbox", n);
		webhook_pump();
	}
	return n;
}

/* Events now in the outbox (their batch is committed): deliver them. */
void
webhook_enqueue(struct webhook_event *list)
{
	struct webhook_event	*ev;

	while ((ev = list) != NULL) {
		list = ev->next;
		ev->next = NULL;
		heap_push(ev);
	}
	webhook_pump();
}

/*
 * Copy the rows to write (updates, deletions) into b and clear their
 * marks; the outcome comes with webhook_batch_done. 0, or -1 when memory
 * is short: then every row is marked as before.
 */
int
webhook_batch(struct store_batch *b)
{
	struct webhook_event	*ev, **ng;
	struct outbox_row	 r;
	uint8_t			*no;
	size_t			 na;

	while ((ev = wh_dirty) != NULL) {
		if (wh_ngiven == wh_agiven) {
			na = wh_agiven ? wh_agiven * 2 : 64;
			if ((ng = realloc(wh_given, na * sizeof(*ng))) == NULL)
				goto nomem;
			wh_given = ng;
			if ((no = realloc(wh_given_op, na)) == NULL)
				goto nomem;
			wh_given_op = no;
			wh_agiven = na;
		}
		webhook_outbox_row(ev, ev->op, &r);
		if (store_batch_outbox(b, &r) == -1)
			goto nomem;
		wh_dirty = ev->dnext;
		ev->dirty = 0;
		wh_given[wh_ngiven] = ev;
		wh_given_op[wh_ngiven++] = ev->op;
		if (ev->op != STORE_DELETE)
			ev->op = 0;
	}
	return 0;
nomem:
	webhook_batch_done(0);
	return -1;
}

/* The batch webhook_batch filled is committed (ok) or failed. */
void
webhook_batch_done(int ok)
{
	size_t	 i;

	for (i = 0; i < wh_ngiven; i++) {
		if (!ok)
			webhook_mark(wh_given[i], wh_given_op[i]);
		else if (wh_given_op[i] == STORE_DELETE ||
		    (wh_given[i]->orphan && !wh_given[i]->dirty))
			webhook_event_free(wh_given[i]);
	}
	wh_ngiven = 0;
}

/* Stopping: start no request from now on (events committed meanwhile
 * are kept for webhook_shutdown to free; their rows stay). */
void
webhook_quiesce(void)
{
	wh_quiet = 1;
	if (wh_dtimer)
		su_timer_reset(wh_dtimer);
}

/* Abort the requests in flight (their rows stay: sent again after the
 * restart), free everything. After commit_shutdown. */
void
webhook_shutdown(void)
{
	struct webhook_event	*ev, *next;
	size_t			 i;

	wh_quiet = 1;
	for (i = 0; wh_fly && i < (size_t)wh_cfg->wh_max_in_flight; i++)
		if (wh_fly[i]) {
			ev = wh_fly[i]->ev;
			webhook_flight_free(wh_fly[i]);
			wh_fly[i] = NULL;
			webhook_event_free(ev);
		}
	wh_nfly = 0;
	for (ev = wh_dirty; ev; ev = next) {	/* marked, not in the heap */
		next = ev->dnext;
		if (ev->op == STORE_DELETE || ev->orphan)
			webhook_event_free(ev);
	}
	wh_dirty = NULL;
	for (i = 0; i < wh_nheap; i++)
		webhook_event_free(wh_heap[i]);
	wh_nheap = 0;
	free(wh_heap);
	wh_heap = NULL;
	wh_aheap = 0;
	free(wh_fly);
	wh_fly = NULL;
	free(wh_given);
	free(wh_given_op);
	wh_given = NULL;
	wh_given_op = NULL;
	wh_ngiven = wh_agiven = 0;
	if (wh_multi) {
		curl_multi_cleanup(wh_multi);
		wh_multi = NULL;
		curl_global_cleanup();
	}
	if (wh_ctimer)
		su_timer_destroy(wh_ctimer);
	if (wh_dtimer)
		su_timer_destroy(wh_dtimer);
	wh_ctimer = wh_dtimer = NULL;
}

/* The webhooks' part of the stats record. */
void
webhook_stats(struct buf *out)
{
	proto_put_kvi(out, "webhooks_pending", (long long)(wh_nheap + wh_nfly));
	proto_put_kvi(out, "webhooks_in_flight", (long long)wh_nfly);
	proto_put_kvi(out, "webhooks_sent_total", (long long)wh_sent);
	proto_put_kvi(out, "webhooks_retries_total", (long long)wh_retries);
	proto_put_kvi(out, "webhooks_failed_total", (long long)wh_failed);
}
