/*
 * simclient.c - SIP client simulator for sippush end-to-end tests and benchmarks.
 *
 * Plays N SIP clients over UDP (one socket per client) or TCP (one connection
 * per client) against a sippush server, runs a list of steps (register,
 * unregister, options, heartbeat:SECS, reregister:SECS, listen:SECS,
 * listen:until-idle:SECS, sleep:SECS) and answers incoming MESSAGE requests all the time.
 * With several servers (-s repeated), client K starts at server K mod their
 * number and, in heartbeat and reregister steps, moves to the next one when a
 * request fails (several nodes of a cluster, bench/cluster.sh).
 * Single thread, epoll, non-blocking sockets.  Run with -h for usage.
 *
 * Build: gcc -std=c11 -D_GNU_SOURCE -Wall -Wextra -O2 -o simclient simclient.c
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "digest.h"
#include "sha256.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define MAXMSG 65536               /* max SIP message (headers + body) */
#define MAXVIA 64                  /* max Via header lines in a request */
#define T1_US 500000LL
#define T2_US 4000000LL
#define MAX_WBUF (4u << 20)        /* max pending TCP output per client */
#define FD_RESERVE 64              /* descriptors beyond one per client */
#define MAXSRV 8                   /* servers in the list (-s repeated) */
#define RETRY_MOVE_US 200000LL     /* between failed registrations while moving */

/* ------------------------------------------------------------------ */
/* configuration */

/* the servers, in the order given (-s repeated) */
static struct server {
    const char *name;              /* HOST:PORT as given */
    char host[256];
    struct sockaddr_in sa;
} srvs[MAXSRV];
static unsigned nsrv;

static struct {
    unsigned long n;
    const char *prefix;
    unsigned long long first;
    const char *cls;
    bool class_header;
    long expires;
    int expect;
    int answer;
    unsigned long fail_first, silent_first, fail_share, silent_share;
    const char *msglog;
    bool tcp;
    long timeout_ms;
    long reg_timeout_ms;           /* REGISTER; 0: timeout_ms */
    unsigned long window;
    double interval;
    bool quiet, verbose;
    unsigned long src_addrs;       /* 0 = auto */
    const char *password;          /* Digest (SHA-256) for every client */
} cfg = {
    .n = 1, .prefix = "sim", .expires = 600, .expect = 200, .answer = 200,
    .fail_share = 100, .silent_share = 100, .timeout_ms = 5000,
    .window = 1000, .interval = 1.0,
};

enum { ST_REGISTER, ST_UNREGISTER, ST_OPTIONS, ST_HEARTBEAT, ST_LISTEN,
       ST_LISTEN_IDLE, ST_SLEEP };
static const char *const step_names[] = {
    "register", "unregister", "options", "heartbeat", "listen", "listen", "sleep"
};

struct step {
    int type;
    double secs;       /* duration, or idle time for listen:until-idle */
    double max_secs;   /* listen:until-idle:SECS:MAX (0 = no cap) */
    int method;        /* paced steps: M_REGISTER for reregister */
};

enum { M_REGISTER = 1, M_UNREGISTER, M_OPTIONS };

/* ------------------------------------------------------------------ */
/* clients */

struct client {
    int fd;
    uint32_t addr;                 /* local IPv4 address, host order */
    uint16_t lport;
    uint8_t busy, due, queued, method;
    uint8_t connected, connecting, evout;
    uint8_t sv;                    /* its server: an index into srvs */
    uint8_t moving;                /* registering with the next server */
    uint32_t reg_cseq;
    uint32_t txn_gen, hb_gen;
    int64_t t_start, t_deadline, t_rtx;
    int64_t rtx_iv;
    char *req;                     /* UDP: request kept for retransmission */
    uint32_t req_len;
    char *rbuf;                    /* TCP: partial input */
    uint32_t rlen;
    char *wbuf;                    /* TCP: pending output */
    uint32_t wlen, wcap;
    char branch[32];
    char reg_callid[20];
    char *nonce;                   /* --password: the server's, or NULL */
    uint32_t nc;                   /* requests made with it */
    uint8_t auth_tries;            /* 401s answered in this transaction */
};

static struct client *clients;
static int ep = -1;
static int msglog_fd = -1;
static unsigned long outstanding;
static bool any_fail;
static int64_t last_msg_time;
static unsigned long total_messages;

/* per-step state and statistics */
static struct {
    int type, method;
    int64_t start, end, idle_us, hard_end, interval_us;
    unsigned long next_idx;
    unsigned long sent, ok, fail, timeout;
    uint32_t *lat;
    size_t nlat, clat;
    unsigned long messages, ans_ok, ans_err, silent, dups;
    unsigned long conn_err;
    unsigned long challenged;          /* 401s answered (--password) */
    unsigned long failovers, moved;    /* several servers: moves begun, done */
    double last_moved;                 /* wall clock of the last move done */
} S;

/* ------------------------------------------------------------------ */
/* utilities */

static void die2(const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "simclient: ");
    fprintf(stderr, fmt, a, b);
    fputc('\n', stderr);
    exit(2);
}

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static const struct server *srv_of(uint32_t idx);

static uint64_t rng_state;
static uint32_t run_id, branch_ctr;

static uint64_t rng(void)
{
    uint64_t x = rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static void rand_hex(char *out, int n)
{
    static const char hx[] = "0123456789abcdef";
    uint64_t r = 0;
    for (int i = 0; i < n; i++) {
        if (i % 16 == 0)
            r = rng();
        out[i] = hx[r & 15];
        r >>= 4;
    }
    out[n] = 0;
}

static int client_id(uint32_t idx, char *buf, size_t sz)
{
    return snprintf(buf, sz, "%s%llu", cfg.prefix, cfg.first + idx);
}

static void ip_str(uint32_t addr, char *buf)
{
    struct in_addr a = { .s_addr = htonl(addr) };
    inet_ntop(AF_INET, &a, buf, INET_ADDRSTRLEN);
}

static const char *reason_phrase(int code)
{
    switch (code) {
    case 100: return "Trying";
    case 180: return "Ringing";
    case 200: return "OK";
    case 202: return "Accepted";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 480: return "Temporarily Unavailable";
    case 481: return "Call/Transaction Does Not Exist";
    case 486: return "Busy Here";
    case 500: return "Server Internal Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 603: return "Decline";
    }
    if (code < 200) return "Provisional";
    if (code < 300) return "OK";
    if (code < 400) return "Redirect";
    if (code < 500) return "Client Error";
    if (code < 600) return "Server Error";
    return "Global Failure";
}

/* ------------------------------------------------------------------ */
/* timer heap (lazy invalidation through per-client generation numbers) */

enum { TK_TXN, TK_HB };
struct tev { int64_t when; uint32_t idx; uint32_t gen; int kind; };
static struct tev *heap;
static size_t heap_n, heap_cap;

static void heap_push(int64_t when, uint32_t idx, uint32_t gen, int kind)
{
    if (heap_n == heap_cap) {
        size_t nc = heap_cap ? heap_cap * 2 : 1024;
        struct tev *nh = realloc(heap, nc * sizeof *nh);
        if (!nh) { fprintf(stderr, "simclient: out of memory\n"); exit(2); }
        heap = nh;
        heap_cap = nc;
    }
    size_t i = heap_n++;
    struct tev e = { when, idx, gen, kind };
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (heap[p].when <= when)
            break;
        heap[i] = heap[p];
        i = p;
    }
    heap[i] = e;
}

static struct tev heap_pop(void)
{
    struct tev top = heap[0];
    struct tev last = heap[--heap_n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        if (l >= heap_n)
            break;
        m = (l + 1 < heap_n && heap[l + 1].when < heap[l].when) ? l + 1 : l;
        if (heap[m].when >= last.when)
            break;
        heap[i] = heap[m];
        i = m;
    }
    if (heap_n)
        heap[i] = last;
    return top;
}

/* ------------------------------------------------------------------ */
/* heartbeat ready queue (ring of client indices) */

static uint32_t *rq;
static size_t rq_head, rq_count;

static void rq_push(uint32_t idx)
{
    struct client *c = &clients[idx];
    if (c->queued)
        return;
    c->queued = 1;
    rq[(rq_head + rq_count) % cfg.n] = idx;
    rq_count++;
}

static uint32_t rq_pop(void)
{
    uint32_t idx = rq[rq_head];
    rq_head = (rq_head + 1) % cfg.n;
    rq_count--;
    clients[idx].queued = 0;
    return idx;
}

/* ------------------------------------------------------------------ */
/* message-id tracking: (client, message id) -> receptions, answered 2xx */

struct mentry {
    struct mentry *next;
    uint32_t client, count;
    uint8_t ok;
    uint32_t klen;
    char key[];
};
static struct mentry **mtab;
static size_t mtab_size, mtab_count;

static uint64_t mhash(uint32_t client, const char *k, size_t n)
{
    uint64_t h = 1469598103934665603ULL ^ ((uint64_t)client * 0x9E3779B97F4A7C15ULL);
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)k[i];
        h *= 1099511628211ULL;
    }
    return h ^ (h >> 29);
}

static struct mentry *mtab_get(uint32_t client, const char *k, size_t n)
{
    if (mtab_count >= mtab_size) {
        size_t ns = mtab_size ? mtab_size * 2 : 4096;
        struct mentry **nt = calloc(ns, sizeof *nt);
        if (!nt) { fprintf(stderr, "simclient: out of memory\n"); exit(2); }
        for (size_t i = 0; i < mtab_size; i++) {
            struct mentry *e = mtab[i], *nx;
            for (; e; e = nx) {
                nx = e->next;
                size_t b = mhash(e->client, e->key, e->klen) & (ns - 1);
                e->next = nt[b];
                nt[b] = e;
            }
        }
        free(mtab);
        mtab = nt;
        mtab_size = ns;
    }
    size_t b = mhash(client, k, n) & (mtab_size - 1);
    for (struct mentry *e = mtab[b]; e; e = e->next)
        if (e->client == client && e->klen == n && memcmp(e->key, k, n) == 0)
            return e;
    struct mentry *e = malloc(sizeof *e + n);
    if (!e) { fprintf(stderr, "simclient: out of memory\n"); exit(2); }
    e->client = client;
    e->count = 0;
    e->ok = 0;
    e->klen = (uint32_t)n;
    memcpy(e->key, k, n);
    e->next = mtab[b];
    mtab[b] = e;
    mtab_count++;
    return e;
}

static void mtab_free(void)
{
    for (size_t i = 0; i < mtab_size; i++) {
        struct mentry *e = mtab[i], *nx;
        for (; e; e = nx) {
            nx = e->next;
            free(e);
        }
    }
    free(mtab);
    mtab = NULL;
}

/* ------------------------------------------------------------------ */
/* SIP parsing */

struct sl { const char *p; size_t n; };

struct sipmsg {
    bool is_req;
    struct sl method;
    int status;
    struct sl via[MAXVIA];
    int nvia;
    struct sl from, to, callid, cseq, msgid;
    struct sl challenge;               /* WWW-Authenticate, SHA-256 */
    long clen;
    const char *body;
    size_t blen;
};

static bool ws(char ch) { return ch == ' ' || ch == '\t'; }

static struct sl trim(const char *p, const char *e)
{
    while (p < e && (ws(*p) || *p == '\r' || *p == '\n')) p++;
    while (e > p && (ws(e[-1]) || e[-1] == '\r' || e[-1] == '\n')) e--;
    return (struct sl){ p, (size_t)(e - p) };
}

static bool name_is(struct sl nm, const char *full, const char *compact)
{
    size_t fl = strlen(full);
    if (nm.n == fl && strncasecmp(nm.p, full, fl) == 0)
        return true;
    return compact && nm.n == 1 && (nm.p[0] | 0x20) == compact[0];
}

static bool is_token_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           (ch >= '0' && ch <= '9') || strchr("-.!%*_+`'~", ch) != NULL;
}

/*
 * Parse one SIP message at b[0..len).  stream=true (TCP): framing by
 * Content-Length (absent = 0); returns 0 if incomplete.  stream=false (UDP):
 * b is one datagram.  Returns the message length, 0 (need more data) or -1
 * (malformed).
 */
static long parse_sip(const char *b, size_t len, bool stream, struct sipmsg *m)
{
    memset(m, 0, sizeof *m);
    m->clen = -1;
    size_t lim = len < MAXMSG ? len : MAXMSG;
    size_t hend = 0, bstart = 0;
    const char *q = b;
    while ((q = memchr(q, '\n', (size_t)(b + lim - q))) != NULL) {
        size_t i = (size_t)(q - b);
        if (i + 1 < lim && b[i + 1] == '\n') { hend = i + 1; bstart = i + 2; break; }
        if (i + 2 < lim && b[i + 1] == '\r' && b[i + 2] == '\n') { hend = i + 1; bstart = i + 3; break; }
        q++;
    }
    if (!bstart) {
        if (stream)
            return len >= MAXMSG ? -1 : 0;
        if (len > MAXMSG)
            return -1;
        hend = bstart = len;   /* datagram without blank line: headers only */
    }

    const char *p = b, *e = b + hend;
    /* start line */
    const char *nl = memchr(p, '\n', (size_t)(e - p));
    if (!nl)
        nl = e;
    struct sl line = trim(p, nl);
    if (line.n >= 11 && strncasecmp(line.p, "SIP/2.0 ", 8) == 0) {
        const char *d = line.p + 8;
        if (d[0] < '1' || d[0] > '6' || d[1] < '0' || d[1] > '9' || d[2] < '0' || d[2] > '9')
            return -1;
        if (line.n > 11 && !ws(d[3]))
            return -1;
        m->status = (d[0] - '0') * 100 + (d[1] - '0') * 10 + (d[2] - '0');
        m->is_req = false;
    } else {
        size_t i = 0;
        while (i < line.n && is_token_char(line.p[i])) i++;
        if (i == 0 || i >= line.n || line.p[i] != ' ')
            return -1;
        m->method = (struct sl){ line.p, i };
        if (line.n < i + 9 || strncasecmp(line.p + line.n - 8, " SIP/2.0", 8) != 0)
            return -1;
        m->is_req = true;
    }

    /* headers */
    p = nl < e ? nl + 1 : e;
    struct sl *last = NULL;
    while (p < e) {
        nl = memchr(p, '\n', (size_t)(e - p));
        if (!nl)
            nl = e;
        const char *le = nl;
        if (le > p && le[-1] == '\r')
            le--;
        if (le == p) { p = nl + 1; last = NULL; continue; }
        if (ws(*p)) {                      /* folded continuation line */
            if (last) {
                struct sl t = trim(last->p, le);
                last->n = t.n;
            }
            p = nl + 1;
            continue;
        }
        const char *colon = memchr(p, ':', (size_t)(le - p));
        if (!colon) { p = nl + 1; last = NULL; continue; }
        struct sl nm = trim(p, colon);
        struct sl val = trim(colon + 1, le);
        if (val.n == 0)
            val.p = colon + 1;
        last = NULL;
        if (name_is(nm, "Via", "v")) {
            if (m->nvia >= MAXVIA)
                return -1;
            m->via[m->nvia] = val;
            last = &m->via[m->nvia++];
        } else if (name_is(nm, "From", "f")) {
            if (!m->from.p) { m->from = val; last = &m->from; }
        } else if (name_is(nm, "To", "t")) {
            if (!m->to.p) { m->to = val; last = &m->to; }
        } else if (name_is(nm, "Call-ID", "i")) {
            if (!m->callid.p) { m->callid = val; last = &m->callid; }
        } else if (name_is(nm, "CSeq", NULL)) {
            if (!m->cseq.p) { m->cseq = val; last = &m->cseq; }
        } else if (name_is(nm, "WWW-Authenticate", NULL)) {
            if (!m->challenge.p && memmem(val.p, val.n, "SHA-256", 7))
                m->challenge = val;
        } else if (name_is(nm, "Sippush-Message-Id", NULL)) {
            if (!m->msgid.p) { m->msgid = val; last = &m->msgid; }
        } else if (name_is(nm, "Content-Length", "l")) {
            if (m->clen < 0) {
                if (val.n == 0 || val.n > 9)
                    return -1;
                long v = 0;
                for (size_t i = 0; i < val.n; i++) {
                    if (val.p[i] < '0' || val.p[i] > '9')
                        return -1;
                    v = v * 10 + (val.p[i] - '0');
                }
                if (v > MAXMSG)
                    return -1;
                m->clen = v;
            }
        }
        p = nl + 1;
    }

    /* body */
    size_t avail = len - bstart;
    if (stream) {
        size_t cl = m->clen < 0 ? 0 : (size_t)m->clen;
        if (bstart + cl > MAXMSG)
            return -1;
        if (avail < cl)
            return 0;
        m->body = b + bstart;
        m->blen = cl;
        return (long)(bstart + cl);
    }
    if (m->clen >= 0) {
        if (avail < (size_t)m->clen)
            return -1;             /* truncated datagram */
        m->blen = (size_t)m->clen;
    } else {
        m->blen = avail;
    }
    m->body = b + bstart;
    return (long)(bstart + m->blen);
}

/* Find ;name=value parameter in s (case-insensitive name). */
static bool find_param(struct sl s, const char *name, struct sl *out)
{
    size_t nlen = strlen(name);
    const char *p = s.p, *e = s.p + s.n;
    while (p < e) {
        const char *semi = memchr(p, ';', (size_t)(e - p));
        if (!semi)
            return false;
        p = semi + 1;
        while (p < e && ws(*p)) p++;
        if ((size_t)(e - p) < nlen || strncasecmp(p, name, nlen) != 0)
            continue;
        const char *v = p + nlen;
        while (v < e && ws(*v)) v++;
        if (v >= e || *v != '=') {
            if (v >= e || *v == ';' || *v == ',') {   /* flag parameter */
                if (out) *out = (struct sl){ v, 0 };
                return true;
            }
            continue;
        }
        v++;
        while (v < e && ws(*v)) v++;
        const char *ve = v;
        while (ve < e && *ve != ';' && *ve != ',' && !ws(*ve) && *ve != '\r' && *ve != '\n')
            ve++;
        if (out) *out = (struct sl){ v, (size_t)(ve - v) };
        return true;
    }
    return false;
}

/* ------------------------------------------------------------------ */
/* TCP connection handling */

static void set_events(uint32_t idx)
{
    struct client *c = &clients[idx];
    bool want_out = c->connecting || c->wlen > 0;
    if (want_out == (bool)c->evout)
        return;
    struct epoll_event ev = { .events = EPOLLIN | (want_out ? EPOLLOUT : 0), .data.u64 = idx };
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->evout = want_out;
}

static void finish_txn(uint32_t idx, int res, int status);
enum { R_RESP, R_TIMEOUT, R_ERROR };

static void conn_warn(uint32_t idx, const char *why)
{
    S.conn_err++;
    if (!cfg.quiet && S.conn_err == 1) {
        char id[160];
        client_id(idx, id, sizeof id);
        fprintf(stderr, "simclient: %s: TCP connection: %s (further errors in this step are only counted)\n", id, why);
    }
}

/* Close a TCP connection; an outstanding transaction fails (error). */
static void tcp_close(uint32_t idx, const char *why)
{
    struct client *c = &clients[idx];
    if (c->fd >= 0) {
        if (why)
            conn_warn(idx, why);
        close(c->fd);
        c->fd = -1;
    }
    free(c->rbuf);
    c->rbuf = NULL;
    c->rlen = 0;
    free(c->wbuf);
    c->wbuf = NULL;
    c->wlen = c->wcap = 0;
    c->connected = c->connecting = c->evout = 0;
    if (c->busy)
        finish_txn(idx, R_ERROR, 0);
}

static int tcp_flush(uint32_t idx)
{
    struct client *c = &clients[idx];
    size_t off = 0;
    while (off < c->wlen) {
        ssize_t w = send(c->fd, c->wbuf + off, c->wlen - off, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            return -1;
        }
        off += (size_t)w;
    }
    if (off) {
        memmove(c->wbuf, c->wbuf + off, c->wlen - off);
        c->wlen -= (uint32_t)off;
    }
    if (c->wlen == 0) {
        free(c->wbuf);
        c->wbuf = NULL;
        c->wcap = 0;
    }
    set_events(idx);
    return 0;
}

static int tcp_write(uint32_t idx, const char *d, size_t n)
{
    struct client *c = &clients[idx];
    if (c->fd < 0)
        return -1;
    if (c->connected && c->wlen == 0) {
        while (n) {
            ssize_t w = send(c->fd, d, n, MSG_NOSIGNAL);
            if (w < 0) {
                if (errno == EINTR)
                    continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK)
                    break;
                return -1;
            }
            d += w;
            n -= (size_t)w;
        }
        if (!n)
            return 0;
    }
    if (c->wlen + n > MAX_WBUF)
        return -1;
    if (c->wlen + n > c->wcap) {
        size_t nc = c->wcap ? c->wcap : 1024;
        while (nc < c->wlen + n) nc *= 2;
        char *nb = realloc(c->wbuf, nc);
        if (!nb)
            return -1;
        c->wbuf = nb;
        c->wcap = (uint32_t)nc;
    }
    memcpy(c->wbuf + c->wlen, d, n);
    c->wlen += (uint32_t)n;
    set_events(idx);
    return 0;
}

static int tcp_connect(uint32_t idx)
{
    struct client *c = &clients[idx];
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in la = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(c->addr) };
    if (bind(fd, (struct sockaddr *)&la, sizeof la) < 0)
        goto fail;
    int r = connect(fd, (const struct sockaddr *)&srv_of(idx)->sa, sizeof(struct sockaddr_in));
    if (r < 0 && errno != EINPROGRESS)
        goto fail;
    socklen_t sl = sizeof la;
    if (getsockname(fd, (struct sockaddr *)&la, &sl) < 0)
        goto fail;
    c->lport = ntohs(la.sin_port);
    c->fd = fd;
    c->connected = r == 0;
    c->connecting = r != 0;
    c->evout = c->connecting;
    struct epoll_event ev = { .events = EPOLLIN | (c->connecting ? EPOLLOUT : 0), .data.u64 = idx };
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
        c->fd = -1;
        goto fail;
    }
    return 0;
fail:;
    int e = errno;
    close(fd);
    errno = e;
    return -1;
}

/* ------------------------------------------------------------------ */
/* requests / transactions */

static void lat_push(int64_t us)
{
    if (S.nlat == S.clat) {
        size_t nc = S.clat ? S.clat * 2 : 4096;
        uint32_t *nl = realloc(S.lat, nc * sizeof *nl);
        if (!nl) { fprintf(stderr, "simclient: out of memory\n"); exit(2); }
        S.lat = nl;
        S.clat = nc;
    }
    S.lat[S.nlat++] = us < 0 ? 0 : us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

static char auth_realm[128];      /* from the first challenge */

/* The Authorization header for the next request of client idx (with
 * --password, once challenged), or "". */
static const char *auth_header(uint32_t idx, const char *id, const char *method)
{
    static char h[1024];
    struct client *c = &clients[idx];
    char a1[512], ha1[65], uri[300], nc[9], cnonce[17], resp[DIGEST_HEX_MAX];
    uint8_t d[SHA256_LEN];

    if (!cfg.password || !c->nonce)
        return "";
    snprintf(a1, sizeof a1, "%s:%s:%s", id, auth_realm, cfg.password);
    sha256(a1, strlen(a1), d);
    sha256_hex(d, SHA256_LEN, ha1);
    snprintf(uri, sizeof uri, "sip:%s", srv_of(idx)->name);
    snprintf(nc, sizeof nc, "%08x", ++c->nc);
    snprintf(cnonce, sizeof cnonce, "%08x%08x", run_id, idx);
    if (digest_response(1, ha1, c->nonce, nc, cnonce, method, uri, resp) == -1)
        return "";
    snprintf(h, sizeof h, "Authorization: Digest username=\"%s\", realm=\"%s\", "
             "nonce=\"%s\", uri=\"%s\", response=\"%s\", algorithm=SHA-256, "
             "cnonce=\"%s\", qop=auth, nc=%s\r\n",
             id, auth_realm, c->nonce, uri, resp, cnonce, nc);
    return h;
}

/* Keep the nonce (and realm) of a SHA-256 challenge. */
static bool auth_take(uint32_t idx, struct sl ch)
{
    struct client *c = &clients[idx];
    char buf[1024], *p, *q;

    if (!ch.p || ch.n >= sizeof buf)
        return false;
    memcpy(buf, ch.p, ch.n);
    buf[ch.n] = '\0';
    if ((p = strstr(buf, "nonce=\"")) == NULL || (q = strchr(p + 7, '"')) == NULL)
        return false;
    *q = '\0';
    free(c->nonce);
    if ((c->nonce = strdup(p + 7)) == NULL) { fprintf(stderr, "simclient: out of memory\n"); exit(2); }
    c->nc = 0;
    *q = '"';
    if ((p = strstr(buf, "realm=\"")) != NULL && (q = strchr(p + 7, '"')) != NULL &&
        (size_t)(q - p - 7) < sizeof auth_realm) {
        memcpy(auth_realm, p + 7, (size_t)(q - p - 7));
        auth_realm[q - p - 7] = '\0';
    }
    return true;
}

static int build_request(uint32_t idx, int method, char *buf, size_t sz)
{
    struct client *c = &clients[idx];
    const struct server *sv = srv_of(idx);
    char id[160], ip[INET_ADDRSTRLEN], tag[17], cid[17];
    client_id(idx, id, sizeof id);
    const char *auth = auth_header(idx, id, method == M_OPTIONS ? "OPTIONS" : "REGISTER");
    ip_str(c->addr, ip);
    snprintf(c->branch, sizeof c->branch, "z9hG4bK%08x%08x", run_id, ++branch_ctr);
    rand_hex(tag, 16);
    const char *tr = cfg.tcp ? "TCP" : "UDP";
    int n;
    if (method == M_OPTIONS) {
        rand_hex(cid, 16);
        n = snprintf(buf, sz,
                     "OPTIONS sip:%s SIP/2.0\r\n"
                     "Via: SIP/2.0/%s %s:%u;branch=%s;rport\r\n"
                     "Max-Forwards: 70\r\n"
                     "From: <sip:%s@%s>;tag=%s\r\n"
                     "To: <sip:%s@%s>\r\n"
                     "Call-ID: %s@%s\r\n"
                     "CSeq: 1 OPTIONS\r\n"
                     "User-Agent: sippush-simclient\r\n"
                     "%s"
                     "Content-Length: 0\r\n\r\n",
                     sv->name, tr, ip, c->lport, c->branch, id, sv->host, tag,
                     id, sv->host, cid, ip, auth);
    } else {
        bool cp = cfg.cls && !cfg.class_header, ch = cfg.cls && cfg.class_header;
        n = snprintf(buf, sz,
                     "REGISTER sip:%s SIP/2.0\r\n"
                     "Via: SIP/2.0/%s %s:%u;branch=%s;rport\r\n"
                     "Max-Forwards: 70\r\n"
                     "From: <sip:%s@%s>;tag=%s\r\n"
                     "To: <sip:%s@%s>\r\n"
                     "Call-ID: %s@%s\r\n"
                     "CSeq: %u REGISTER\r\n"
                     "Contact: <sip:%s@%s:%u%s>%s%s\r\n"
                     "%s%s%s"
                     "Expires: %ld\r\n"
                     "User-Agent: sippush-simclient\r\n"
                     "%s"
                     "Content-Length: 0\r\n\r\n",
                     sv->name, tr, ip, c->lport, c->branch, id, sv->host, tag,
                     id, sv->host, c->reg_callid, ip, ++c->reg_cseq,
                     id, ip, c->lport, cfg.tcp ? ";transport=tcp" : "",
                     cp ? ";class=" : "", cp ? cfg.cls : "",
                     ch ? "Sippush-Class: " : "", ch ? cfg.cls : "", ch ? "\r\n" : "",
                     method == M_UNREGISTER ? 0L : cfg.expires, auth);
    }
    if (n < 0 || (size_t)n >= sz)
        return -1;
    return n;
}

/* Build the request of the transaction in progress and send it. */
static void send_txn(uint32_t idx)
{
    static char buf[4096];
    struct client *c = &clients[idx];
    int64_t t = now_us();
    int n = build_request(idx, c->method, buf, sizeof buf);
    if (n < 0) {
        fprintf(stderr, "simclient: request too long\n");
        exit(2);
    }
    if (cfg.tcp) {
        if (tcp_write(idx, buf, (size_t)n) < 0) {
            tcp_close(idx, strerror(errno ? errno : EIO));
            return;
        }
        heap_push(c->t_deadline, idx, c->txn_gen, TK_TXN);
        return;
    }
    free(c->req);
    c->req = malloc((size_t)n);
    if (!c->req) { fprintf(stderr, "simclient: out of memory\n"); exit(2); }
    memcpy(c->req, buf, (size_t)n);
    c->req_len = (uint32_t)n;
    sendto(c->fd, c->req, c->req_len, 0, (const struct sockaddr *)&srv_of(idx)->sa,
           sizeof(struct sockaddr_in));
    c->rtx_iv = T1_US;
    c->t_rtx = t + T1_US;
    heap_push(c->t_rtx < c->t_deadline ? c->t_rtx : c->t_deadline, idx, c->txn_gen, TK_TXN);
}

static void start_txn(uint32_t idx, int method)
{
    struct client *c = &clients[idx];
    int64_t t = now_us();
    c->busy = 1;
    c->due = 0;
    c->method = (uint8_t)method;
    c->t_start = t;
    c->t_deadline = t + (method != M_OPTIONS && cfg.reg_timeout_ms ?
                         cfg.reg_timeout_ms : cfg.timeout_ms) * 1000;
    c->txn_gen++;
    c->auth_tries = 0;
    outstanding++;
    S.sent++;
    if (cfg.tcp && c->fd < 0 && tcp_connect(idx) < 0) {
        conn_warn(idx, strerror(errno));
        finish_txn(idx, R_ERROR, 0);
        return;
    }
    send_txn(idx);
}

/*
 * Several servers, heartbeat and reregister steps: a client whose request
 * failed (timeout, transport error, not the expected status) registers
 * with the next server at once, and again with the one after that every
 * RETRY_MOVE_US while that fails; its heartbeats go on from there.
 */
static void failover(uint32_t idx, bool ok)
{
    struct client *c = &clients[idx];

    if (c->moving && ok) {
        c->moving = 0;
        S.moved++;
        S.last_moved = wall_now();
        return;
    }
    if (ok)
        return;
    c->sv = (uint8_t)((c->sv + 1) % nsrv);
    if (cfg.tcp && c->fd >= 0)
        tcp_close(idx, NULL);         /* the next request connects there */
    if (!c->moving) {
        c->moving = 1;
        S.failovers++;
        rq_push(idx);
    } else {
        heap_push(now_us() + RETRY_MOVE_US, idx, ++c->hb_gen, TK_HB);
    }
}

static void finish_txn(uint32_t idx, int res, int status)
{
    struct client *c = &clients[idx];
    if (!c->busy)
        return;
    c->busy = 0;
    c->txn_gen++;
    free(c->req);
    c->req = NULL;
    c->req_len = 0;
    outstanding--;
    if (res == R_RESP) {
        lat_push(now_us() - c->t_start);
        if (status == cfg.expect) {
            S.ok++;
        } else {
            S.fail++;
            any_fail = true;
        }
    } else if (res == R_TIMEOUT) {
        S.timeout++;
        any_fail = true;
    } else {
        S.fail++;
        any_fail = true;
    }
    if (cfg.verbose) {
        char id[160];
        client_id(idx, id, sizeof id);
        if (res == R_RESP)
            printf("%s %d\n", id, status);
        else
            printf("%s %s\n", id, res == R_TIMEOUT ? "timeout" : "error");
    }
    if (nsrv > 1 && S.type == ST_HEARTBEAT && now_us() < S.end)
        failover(idx, res == R_RESP && status == cfg.expect);
    if (c->due) {                     /* heartbeat tick came while busy */
        c->due = 0;
        if (S.type == ST_HEARTBEAT && now_us() < S.end)
            rq_push(idx);
    }
}

static void txn_timer(uint32_t idx, int64_t t)
{
    struct client *c = &clients[idx];
    if (t >= c->t_deadline) {
        finish_txn(idx, R_TIMEOUT, 0);
        if (cfg.tcp && c->connecting)
            tcp_close(idx, NULL);   /* stuck connect attempt */
        return;
    }
    if (!cfg.tcp && t >= c->t_rtx) {
        sendto(c->fd, c->req, c->req_len, 0, (const struct sockaddr *)&srv_of(idx)->sa,
               sizeof(struct sockaddr_in));
        c->rtx_iv = c->rtx_iv * 2 > T2_US ? T2_US : c->rtx_iv * 2;
        c->t_rtx = t + c->rtx_iv;
    }
    int64_t next = c->t_deadline;
    if (!cfg.tcp && c->t_rtx < next)
        next = c->t_rtx;
    heap_push(next, idx, c->txn_gen, TK_TXN);
}

static void hb_tick(uint32_t idx, int64_t when)
{
    struct client *c = &clients[idx];
    int64_t next = when + S.interval_us;
    if (next < S.end)
        heap_push(next, idx, ++c->hb_gen, TK_HB);
    if (c->busy)
        c->due = 1;
    else
        rq_push(idx);
}

static void run_timers(int64_t t)
{
    while (heap_n && heap[0].when <= t) {
        struct tev e = heap_pop();
        struct client *c = &clients[e.idx];
        if (e.kind == TK_TXN) {
            if (c->busy && e.gen == c->txn_gen)
                txn_timer(e.idx, t);
        } else if (e.gen == c->hb_gen) {
            if (e.when < S.end)
                hb_tick(e.idx, e.when);
        }
    }
}

/* ------------------------------------------------------------------ */
/* incoming messages */

static char outbuf[2 * MAXMSG + 4096];
static size_t outlen;

static void out_raw(const char *s, size_t n)
{
    if (outlen + n > sizeof outbuf)
        n = sizeof outbuf - outlen;
    memcpy(outbuf + outlen, s, n);
    outlen += n;
}

static void out_str(const char *s) { out_raw(s, strlen(s)); }

static void out_hdr(const char *name, struct sl v)
{
    out_str(name);
    out_str(": ");
    size_t start = outlen;
    out_raw(v.p, v.n);
    for (size_t i = start; i < outlen; i++)     /* unfold */
        if (outbuf[i] == '\r' || outbuf[i] == '\n')
            outbuf[i] = ' ';
}

static void send_response(uint32_t idx, const struct sipmsg *m, int code,
                          const struct sockaddr_in *from)
{
    char line[96];
    outlen = 0;
    snprintf(line, sizeof line, "SIP/2.0 %d %s\r\n", code, reason_phrase(code));
    out_str(line);
    for (int i = 0; i < m->nvia; i++) {
        out_hdr("Via", m->via[i]);
        out_str("\r\n");
    }
    out_hdr("From", m->from);
    out_str("\r\n");
    out_hdr("To", m->to);
    struct sl params = m->to;
    const char *gt = memchr(m->to.p, '>', m->to.n);
    if (gt) {
        params.p = gt + 1;
        params.n = (size_t)(m->to.p + m->to.n - params.p);
    }
    if (!find_param(params, "tag", NULL)) {
        char tag[17];
        rand_hex(tag, 16);
        out_str(";tag=");
        out_str(tag);
    }
    out_str("\r\n");
    out_hdr("Call-ID", m->callid);
    out_str("\r\n");
    out_hdr("CSeq", m->cseq);
    out_str("\r\nServer: sippush-simclient\r\nContent-Length: 0\r\n\r\n");

    struct client *c = &clients[idx];
    if (cfg.tcp) {
        if (tcp_write(idx, outbuf, outlen) < 0)
            tcp_close(idx, "write failed");
    } else {
        sendto(c->fd, outbuf, outlen, 0, (const struct sockaddr *)from, sizeof *from);
    }
}

static char logbuf[4 * MAXMSG + 1024];

static size_t esc_append(size_t pos, const char *s, size_t n)
{
    for (size_t i = 0; i < n && pos + 2 < sizeof logbuf; i++) {
        char ch = s[i];
        if (ch == '\\') { logbuf[pos++] = '\\'; logbuf[pos++] = '\\'; }
        else if (ch == '\n') { logbuf[pos++] = '\\'; logbuf[pos++] = 'n'; }
        else if (ch == '\r') { logbuf[pos++] = '\\'; logbuf[pos++] = 'r'; }
        else logbuf[pos++] = ch;
    }
    return pos;
}

static void log_message(uint32_t idx, const struct sipmsg *m, int code)
{
    if (msglog_fd < 0)
        return;
    char head[200];
    client_id(idx, head, sizeof head);
    size_t pos = 0;
    pos = esc_append(pos, head, strlen(head));
    logbuf[pos++] = ' ';
    if (m->msgid.p && m->msgid.n)
        pos = esc_append(pos, m->msgid.p, m->msgid.n);
    else
        logbuf[pos++] = '-';
    if (code)
        pos += (size_t)snprintf(logbuf + pos, 16, " %d ", code);
    else
        pos += (size_t)snprintf(logbuf + pos, 16, " - ");
    pos = esc_append(pos, m->body, m->blen);
    logbuf[pos++] = '\n';
    size_t off = 0;
    while (off < pos) {
        ssize_t w = write(msglog_fd, logbuf + off, pos - off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "simclient: writing %s: %s\n", cfg.msglog, strerror(errno));
            close(msglog_fd);
            msglog_fd = -1;
            return;
        }
        off += (size_t)w;
    }
}

static void handle_message(uint32_t idx, const struct sipmsg *m, const struct sockaddr_in *from)
{
    last_msg_time = now_us();
    S.messages++;
    total_messages++;
    /* key: the message id; a missing id counts as the id "-" */
    struct sl k = (m->msgid.p && m->msgid.n) ? m->msgid : (struct sl){ "-", 1 };
    struct mentry *e = mtab_get(idx, k.p, k.n);
    if (e->count < UINT32_MAX)
        e->count++;
    if (e->ok)
        S.dups++;
    unsigned long long gi = cfg.first + idx;
    uint64_t sf = (cfg.silent_first && gi % 100 < cfg.silent_share) ? cfg.silent_first : 0;
    uint64_t ff = (cfg.fail_first && gi % 100 < cfg.fail_share) ? cfg.fail_first : 0;
    int code;
    if (e->count <= sf)
        code = 0;
    else if (e->count <= sf + ff)
        code = 500;
    else
        code = cfg.answer;
    if (code == 0) {
        S.silent++;
    } else {
        if (code >= 200 && code < 300) {
            S.ans_ok++;
            e->ok = 1;
        } else {
            S.ans_err++;
        }
    }
    log_message(idx, m, code);
    if (code)
        send_response(idx, m, code, from);   /* may close the TCP connection */
}

static bool sl_eq(struct sl s, const char *lit)
{
    size_t n = strlen(lit);
    return s.n == n && memcmp(s.p, lit, n) == 0;
}

static void handle_response(uint32_t idx, const struct sipmsg *m)
{
    struct client *c = &clients[idx];
    if (!c->busy || m->nvia < 1 || !m->cseq.p)
        return;
    struct sl top = m->via[0], br;
    const char *comma = memchr(top.p, ',', top.n);
    if (comma)
        top.n = (size_t)(comma - top.p);
    if (!find_param(top, "branch", &br))
        return;
    size_t bl = strlen(c->branch);
    if (br.n != bl || memcmp(br.p, c->branch, bl) != 0)
        return;
    const char *p = m->cseq.p, *e = m->cseq.p + m->cseq.n;
    while (p < e && *p >= '0' && *p <= '9') p++;
    while (p < e && ws(*p)) p++;
    struct sl meth = trim(p, e);
    if (!sl_eq(meth, c->method == M_OPTIONS ? "OPTIONS" : "REGISTER"))
        return;
    if (m->status < 200) {
        c->rtx_iv = T2_US;            /* proceeding: retransmit at T2 */
        return;
    }
    /* --password: answer a challenge (first contact, stale nonce) in the
     * same transaction, as a user agent would; the latency includes it */
    if (m->status == 401 && cfg.password && c->auth_tries < 2 &&
        auth_take(idx, m->challenge)) {
        c->auth_tries++;
        S.challenged++;
        c->txn_gen++;                 /* the old timers are void */
        send_txn(idx);
        return;
    }
    finish_txn(idx, R_RESP, m->status);
}

static void dispatch(uint32_t idx, const struct sipmsg *m, const struct sockaddr_in *from)
{
    if (!m->is_req) {
        handle_response(idx, m);
        return;
    }
    if (sl_eq(m->method, "ACK"))
        return;
    if (m->nvia < 1 || !m->from.p || !m->to.p || !m->callid.p || !m->cseq.p)
        return;                       /* cannot answer without these */
    if (sl_eq(m->method, "MESSAGE"))
        handle_message(idx, m, from);
    else if (sl_eq(m->method, "OPTIONS"))
        send_response(idx, m, 200, from);
    else
        send_response(idx, m, 501, from);
}

static char rxbuf[MAXMSG + 1];

static void udp_input(uint32_t idx)
{
    struct client *c = &clients[idx];
    for (int k = 0; k < 16; k++) {
        struct sockaddr_in from;
        socklen_t fl = sizeof from;
        ssize_t n = recvfrom(c->fd, rxbuf, sizeof rxbuf, MSG_TRUNC, (struct sockaddr *)&from, &fl);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return;                   /* EAGAIN or ICMP error: nothing more */
        }
        if ((size_t)n > MAXMSG || fl < sizeof from || from.sin_family != AF_INET)
            continue;
        const char *p = rxbuf;
        size_t len = (size_t)n;
        while (len && (*p == '\r' || *p == '\n')) { p++; len--; }   /* keepalive */
        if (!len)
            continue;
        struct sipmsg m;
        if (parse_sip(p, len, false, &m) <= 0)
            continue;
        dispatch(idx, &m, &from);
    }
}

static void tcp_input(uint32_t idx)
{
    struct client *c = &clients[idx];
    ssize_t n = recv(c->fd, rxbuf, MAXMSG, 0);
    if (n == 0) {
        tcp_close(idx, "closed by peer");
        return;
    }
    if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            tcp_close(idx, strerror(errno));
        return;
    }
    const char *data;
    size_t len;
    if (c->rlen == 0) {
        data = rxbuf;
        len = (size_t)n;
    } else {
        char *nb = realloc(c->rbuf, c->rlen + (size_t)n);
        if (!nb) { fprintf(stderr, "simclient: out of memory\n"); exit(2); }
        memcpy(nb + c->rlen, rxbuf, (size_t)n);
        c->rbuf = nb;
        c->rlen += (uint32_t)n;
        data = c->rbuf;
        len = c->rlen;
    }
    size_t off = 0;
    while (off < len) {
        while (off < len && (data[off] == '\r' || data[off] == '\n')) off++;
        if (off >= len)
            break;
        struct sipmsg m;
        long r = parse_sip(data + off, len - off, true, &m);
        if (r < 0) {
            tcp_close(idx, "malformed SIP message from server");
            return;
        }
        if (r == 0)
            break;
        dispatch(idx, &m, NULL);
        if (c->fd < 0)
            return;                   /* closed while answering */
        off += (size_t)r;
    }
    size_t rem = len - off;
    if (data == rxbuf) {
        if (rem) {
            c->rbuf = malloc(rem);
            if (!c->rbuf) { fprintf(stderr, "simclient: out of memory\n"); exit(2); }
            memcpy(c->rbuf, rxbuf + off, rem);
            c->rlen = (uint32_t)rem;
        }
    } else if (rem == 0) {
        free(c->rbuf);
        c->rbuf = NULL;
        c->rlen = 0;
    } else if (off) {
        memmove(c->rbuf, c->rbuf + off, rem);
        c->rlen = (uint32_t)rem;
    }
}

static void handle_event(uint32_t idx, uint32_t events)
{
    struct client *c = &clients[idx];
    if (c->fd < 0)
        return;
    if (!cfg.tcp) {
        if (events & (EPOLLIN | EPOLLERR))
            udp_input(idx);
        return;
    }
    if (c->connecting) {
        if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
            return;
        int err = 0;
        socklen_t el = sizeof err;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
            err = errno;
        if (err) {
            tcp_close(idx, strerror(err));
            return;
        }
        c->connecting = 0;
        c->connected = 1;
        if (tcp_flush(idx) < 0) {
            tcp_close(idx, strerror(errno));
            return;
        }
        return;
    }
    if (events & EPOLLIN) {
        tcp_input(idx);
        if (c->fd < 0)
            return;
    } else if (events & (EPOLLERR | EPOLLHUP)) {
        tcp_close(idx, "connection error");
        return;
    }
    if ((events & EPOLLOUT) && c->wlen && tcp_flush(idx) < 0)
        tcp_close(idx, strerror(errno));
}

/* ------------------------------------------------------------------ */
/* steps */

static void pump(void)
{
    if (S.type <= ST_OPTIONS) {
        while (outstanding < cfg.window && S.next_idx < cfg.n)
            start_txn((uint32_t)S.next_idx++, S.method);
    } else if (S.type == ST_HEARTBEAT) {
        while (outstanding < cfg.window && rq_count) {
            uint32_t idx = rq_pop();
            if (clients[idx].busy)
                clients[idx].due = 1;
            else
                start_txn(idx, clients[idx].moving ? M_REGISTER : S.method);
        }
    }
}

static bool step_done(int64_t t)
{
    switch (S.type) {
    case ST_REGISTER: case ST_UNREGISTER: case ST_OPTIONS:
        return S.next_idx >= cfg.n && outstanding == 0;
    case ST_HEARTBEAT:
        if (t < S.end)
            return false;
        while (rq_count)
            rq_pop();
        return outstanding == 0;
    case ST_LISTEN_IDLE: {
        int64_t base = last_msg_time > S.start ? last_msg_time : S.start;
        return t >= base + S.idle_us || (S.hard_end && t >= S.hard_end);
    }
    default:
        return t >= S.end;
    }
}

static int64_t step_wake(int64_t t)
{
    int64_t w = t + 1000000;
    if (heap_n && heap[0].when < w)
        w = heap[0].when;
    if ((S.type == ST_LISTEN || S.type == ST_SLEEP || S.type == ST_HEARTBEAT) && S.end < w)
        w = S.end;
    if (S.type == ST_LISTEN_IDLE) {
        int64_t base = last_msg_time > S.start ? last_msg_time : S.start;
        if (base + S.idle_us < w)
            w = base + S.idle_us;
        if (S.hard_end && S.hard_end < w)
            w = S.hard_end;
    }
    return w;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static void fmt_pct(char *buf, size_t sz, unsigned pct)
{
    if (!S.nlat) {
        snprintf(buf, sz, "-");
        return;
    }
    size_t rank = (S.nlat * pct + 99) / 100;   /* nearest rank */
    if (rank < 1) rank = 1;
    snprintf(buf, sz, "%.2fms", S.lat[rank - 1] / 1000.0);
}

static void print_summary(int64_t t_end)
{
    if (cfg.quiet)
        return;
    double el = (double)(t_end - S.start) / 1e6;
    const char *name = S.type == ST_HEARTBEAT && S.method == M_REGISTER ?
        "reregister" : step_names[S.type];
    char p50[32], p99[32];
    if (S.nlat > 1)
        qsort(S.lat, S.nlat, sizeof *S.lat, cmp_u32);
    fmt_pct(p50, sizeof p50, 50);
    fmt_pct(p99, sizeof p99, 99);
    unsigned long done = S.ok + S.fail + S.timeout;
    double rate = el > 0 ? (double)done / el : 0;
    bool msgs = true;
    switch (S.type) {
    case ST_REGISTER: case ST_UNREGISTER: case ST_OPTIONS:
        printf("%s: n=%lu ok=%lu fail=%lu timeout=%lu elapsed=%.3fs rate=%.0f/s p50=%s p99=%s",
               name, cfg.n, S.ok, S.fail, S.timeout, el, rate, p50, p99);
        if (S.challenged)
            printf(" challenged=%lu", S.challenged);
        msgs = S.messages > 0;
        break;
    case ST_HEARTBEAT:
        printf("%s: n=%lu sent=%lu ok=%lu fail=%lu timeout=%lu elapsed=%.3fs rate=%.0f/s p50=%s p99=%s",
               name, cfg.n, S.sent, S.ok, S.fail, S.timeout, el, rate, p50, p99);
        if (nsrv > 1)
            printf(" failovers=%lu moved=%lu last_moved=%.3f", S.failovers, S.moved,
                   S.last_moved);
        msgs = S.messages > 0;
        break;
    case ST_LISTEN: case ST_LISTEN_IDLE:
        printf("%s: n=%lu elapsed=%.3fs", name, cfg.n, el);
        break;
    default:
        printf("%s: elapsed=%.3fs", name, el);
        msgs = S.messages > 0;
        break;
    }
    if (msgs)
        printf(" messages=%lu answered_ok=%lu answered_err=%lu silent=%lu duplicates=%lu",
               S.messages, S.ans_ok, S.ans_err, S.silent, S.dups);
    if (S.conn_err)
        printf(" conn_errors=%lu", S.conn_err);
    printf("\n");
    fflush(stdout);
}

static void run_step(const struct step *st)
{
    free(S.lat);
    memset(&S, 0, sizeof S);
    S.type = st->type;
    S.start = now_us();
    switch (st->type) {
    case ST_REGISTER: S.method = M_REGISTER; break;
    case ST_UNREGISTER: S.method = M_UNREGISTER; break;
    case ST_OPTIONS: S.method = M_OPTIONS; break;
    case ST_HEARTBEAT:
        S.method = st->method ? st->method : M_OPTIONS;
        S.end = S.start + (int64_t)(st->secs * 1e6);
        S.interval_us = (int64_t)(cfg.interval * 1e6);
        if (S.interval_us < 1)
            S.interval_us = 1;
        for (unsigned long i = 0; i < cfg.n; i++) {   /* stagger first sends */
            int64_t when = S.start + (int64_t)((double)S.interval_us * (double)i / (double)cfg.n);
            if (when < S.end)
                heap_push(when, (uint32_t)i, ++clients[i].hb_gen, TK_HB);
        }
        break;
    case ST_LISTEN: case ST_SLEEP:
        S.end = S.start + (int64_t)(st->secs * 1e6);
        break;
    case ST_LISTEN_IDLE:
        S.idle_us = (int64_t)(st->secs * 1e6);
        S.hard_end = st->max_secs > 0 ? S.start + (int64_t)(st->max_secs * 1e6) : 0;
        break;
    }
    struct epoll_event evs[1024];
    int64_t t;
    for (;;) {
        t = now_us();
        run_timers(t);
        pump();
        if (step_done(t))
            break;
        int64_t w = step_wake(t);
        int ms = w <= t ? 0 : (int)((w - t + 999) / 1000);
        int n = epoll_wait(ep, evs, 1024, ms);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("simclient: epoll_wait");
            exit(2);
        }
        for (int i = 0; i < n; i++)
            handle_event((uint32_t)evs[i].data.u64, evs[i].events);
    }
    heap_n = 0;   /* nothing outstanding: all remaining timers are stale */
    print_summary(t);
    if (S.conn_err > 1 && !cfg.quiet)
        fprintf(stderr, "simclient: %s: %lu TCP connection errors\n", step_names[S.type], S.conn_err);
}

/* ------------------------------------------------------------------ */
/* setup */

static void usage(FILE *f)
{
    fprintf(f,
"Usage: simclient -s HOST:PORT [-s HOST:PORT...] [options] STEP...\n"
"SIP client simulator for sippush: plays N clients (one UDP socket or TCP\n"
"connection each, on 127.0.0.1) and runs the steps in order, each for all\n"
"clients concurrently.  MESSAGE requests are answered during every step.\n"
"\n"
"Steps:\n"
"  register                 REGISTER with Expires: E\n"
"  unregister               REGISTER with Expires: 0 (same Contact)\n"
"  options                  one OPTIONS heartbeat per client\n"
"  heartbeat:SECS           OPTIONS from every client every --interval seconds\n"
"  reregister:SECS          REGISTER from every client every --interval seconds\n"
"                           (a paced REGISTER load: N / interval per second)\n"
"  listen:SECS              only answer incoming MESSAGE requests for SECS\n"
"  listen:until-idle:SECS[:MAX]  ... until no MESSAGE arrived for SECS (at most MAX)\n"
"  sleep:SECS               wait (MESSAGE requests are still answered)\n"
"\n"
"Options:\n"
"  -s, --server HOST:PORT   server address (required); repeat for a list (at\n"
"                           most 8): client K starts at server K %% their number\n"
"                           (K = the number in its ID) and in heartbeat and\n"
"                           reregister steps, when a request fails (timeout,\n"
"                           error, not --expect), registers with the next one;\n"
"                           the step's summary adds failovers=, moved= and\n"
"                           last_moved= (wall clock of the last move done)\n"
"  -n, --clients N          number of clients (default 1)\n"
"  -p, --prefix PREFIX      client IDs are PREFIX<index> (default sim)\n"
"      --first K            first index (default 0)\n"
"  -c, --class CLASS        send Contact parameter ;class=CLASS\n"
"      --class-header       send the class as header Sippush-Class instead\n"
"  -e, --expires E          REGISTER expiry (default 600)\n"
"      --expect CODE        required final status of REGISTER/OPTIONS (default 200)\n"
"      --answer CODE        status to answer MESSAGE with (default 200)\n"
"      --fail-first K       answer the first K receptions of each message ID\n"
"                           (per client) with 500\n"
"      --silent-first K     ignore the first K receptions of each message ID;\n"
"                           with both, the silent receptions come first, then\n"
"                           the 500s, then --answer\n"
"      --fail-share P       apply --fail-first only to clients with index%%100 < P\n"
"      --silent-share P     apply --silent-first only to clients with index%%100 < P\n"
"                           (index = the number in the client ID; default 100)\n"
"      --msglog FILE        append '<client-id> <message-id|-> <status|-> <body>'\n"
"                           per received MESSAGE (\\, newline, CR escaped)\n"
"      --tcp                use TCP (one connection per client)\n"
"  -t, --timeout MS         transaction timeout (default 5000)\n"
"      --register-timeout MS  the same for REGISTER only (default: -t)\n"
"      --window W           max outstanding transactions (default 1000)\n"
"      --interval S         heartbeat / reregister interval in seconds (default 1)\n"
"      --src-addrs K        spread clients over 127.0.0.1..127.0.0.K (default:\n"
"                           1, or more when N exceeds the ephemeral port range)\n"
"      --password PW        answer 401 challenges with Digest (SHA-256, qop=auth),\n"
"                           user = client ID, the same password for all; later\n"
"                           requests carry credentials with the next nonce count\n"
"  -q, --quiet              no step summaries or warnings\n"
"  -v, --verbose            print 'ID STATUS' for each final response\n"
"                           ('ID timeout' / 'ID error' when there is none)\n"
"  -h, --help               this text\n"
"\n"
"Exit status: 0 all transactions got the expected status, 1 otherwise,\n"
"2 usage or setup error.\n");
}

static unsigned long long parse_num(const char *s, const char *opt, unsigned long long lo,
                                    unsigned long long hi)
{
    char *end;
    errno = 0;
    if (!s || !*s || *s == '-')
        die2("invalid value for %s: '%s'", opt, s ? s : "");
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        die2("invalid value for %s: '%s'", opt, s);
    return v;
}

static bool parse_secs(const char *s, double *out, char stop)
{
    char *end;
    errno = 0;
    if (!*s)
        return false;
    double v = strtod(s, &end);
    if (errno || end == s || (*end && *end != stop) || !(v >= 0) || v > 1e8)
        return false;
    *out = v;
    return *end == 0 || (stop && *end == stop && end[1]);
}

static bool parse_step(const char *s, struct step *st)
{
    memset(st, 0, sizeof *st);
    if (!strcmp(s, "register")) { st->type = ST_REGISTER; return true; }
    if (!strcmp(s, "unregister")) { st->type = ST_UNREGISTER; return true; }
    if (!strcmp(s, "options")) { st->type = ST_OPTIONS; return true; }
    if (!strncmp(s, "heartbeat:", 10)) {
        st->type = ST_HEARTBEAT;
        return parse_secs(s + 10, &st->secs, 0);
    }
    if (!strncmp(s, "reregister:", 11)) {
        st->type = ST_HEARTBEAT;
        st->method = M_REGISTER;
        return parse_secs(s + 11, &st->secs, 0);
    }
    if (!strncmp(s, "listen:until-idle:", 18)) {
        st->type = ST_LISTEN_IDLE;
        const char *p = s + 18;
        if (!parse_secs(p, &st->secs, ':'))
            return false;
        const char *colon = strchr(p, ':');
        if (colon && !parse_secs(colon + 1, &st->max_secs, 0))
            return false;
        return true;
    }
    if (!strncmp(s, "listen:", 7)) {
        st->type = ST_LISTEN;
        return parse_secs(s + 7, &st->secs, 0);
    }
    if (!strncmp(s, "sleep:", 6)) {
        st->type = ST_SLEEP;
        return parse_secs(s + 6, &st->secs, 0);
    }
    return false;
}

static void parse_server(struct server *sv)
{
    const char *s = sv->name;
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s || (size_t)(colon - s) >= sizeof sv->host)
        die2("invalid server address '%s' (expected HOST:PORT)%s", s, "");
    memcpy(sv->host, s, (size_t)(colon - s));
    sv->host[colon - s] = 0;
    unsigned port = (unsigned)parse_num(colon + 1, "server port", 1, 65535);
    struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_DGRAM }, *res;
    int r = getaddrinfo(sv->host, NULL, &hints, &res);
    if (r != 0)
        die2("cannot resolve '%s': %s", sv->host, gai_strerror(r));
    memcpy(&sv->sa, res->ai_addr, sizeof sv->sa);
    sv->sa.sin_port = htons((uint16_t)port);
    freeaddrinfo(res);
}

static const struct server *srv_of(uint32_t idx)
{
    return &srvs[clients[idx].sv];
}

static void raise_nofile(unsigned long need)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        struct rlimit r2 = { rl.rlim_max, rl.rlim_max };
        if (setrlimit(RLIMIT_NOFILE, &r2) == 0)
            rl = r2;
    }
    if (rl.rlim_cur < need) {         /* privileged: may raise the hard limit */
        struct rlimit r2 = { need, need };
        if (setrlimit(RLIMIT_NOFILE, &r2) == 0)
            rl = r2;
    }
    if (rl.rlim_cur < need) {
        fprintf(stderr,
                "simclient: %lu clients need about %lu file descriptors, but RLIMIT_NOFILE "
                "is only %llu (hard limit %llu).\n"
                "simclient: raise the limit (e.g. 'ulimit -Hn %lu; ulimit -n %lu' as root, "
                "or limits.conf / LimitNOFILE=) or use fewer clients\n",
                cfg.n, need, (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max,
                need, need);
        exit(2);
    }
}

static unsigned long auto_src_addrs(void)
{
    unsigned long lo = 32768, hi = 60999;
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    if (f) {
        if (fscanf(f, "%lu %lu", &lo, &hi) != 2 || hi < lo) {
            lo = 32768;
            hi = 60999;
        }
        fclose(f);
    }
    unsigned long cap = (hi - lo + 1) * 3 / 4;
    if (cap < 1000)
        cap = 1000;
    return (cfg.n + cap - 1) / cap;
}

int main(int argc, char **argv)
{
    enum { O_FIRST = 256, O_CLASS_HEADER, O_EXPECT, O_ANSWER, O_FAIL_FIRST, O_SILENT_FIRST,
           O_FAIL_SHARE, O_SILENT_SHARE, O_MSGLOG, O_TCP, O_WINDOW, O_INTERVAL, O_SRC_ADDRS,
           O_PASSWORD, O_REG_TIMEOUT };
    static const struct option lopts[] = {
        { "server", required_argument, NULL, 's' },
        { "clients", required_argument, NULL, 'n' },
        { "prefix", required_argument, NULL, 'p' },
        { "class", required_argument, NULL, 'c' },
        { "expires", required_argument, NULL, 'e' },
        { "timeout", required_argument, NULL, 't' },
        { "quiet", no_argument, NULL, 'q' },
        { "verbose", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' },
        { "first", required_argument, NULL, O_FIRST },
        { "class-header", no_argument, NULL, O_CLASS_HEADER },
        { "expect", required_argument, NULL, O_EXPECT },
        { "answer", required_argument, NULL, O_ANSWER },
        { "fail-first", required_argument, NULL, O_FAIL_FIRST },
        { "silent-first", required_argument, NULL, O_SILENT_FIRST },
        { "fail-share", required_argument, NULL, O_FAIL_SHARE },
        { "silent-share", required_argument, NULL, O_SILENT_SHARE },
        { "msglog", required_argument, NULL, O_MSGLOG },
        { "tcp", no_argument, NULL, O_TCP },
        { "window", required_argument, NULL, O_WINDOW },
        { "interval", required_argument, NULL, O_INTERVAL },
        { "src-addrs", required_argument, NULL, O_SRC_ADDRS },
        { "password", required_argument, NULL, O_PASSWORD },
        { "register-timeout", required_argument, NULL, O_REG_TIMEOUT },
        { NULL, 0, NULL, 0 },
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "s:n:p:c:e:t:qvh", lopts, NULL)) != -1) {
        switch (opt) {
        case 's':
            if (nsrv == MAXSRV)
                die2("at most %s servers (-s)%s", "8", "");
            srvs[nsrv++].name = optarg;
            break;
        case 'n': cfg.n = (unsigned long)parse_num(optarg, "-n", 1, 10000000); break;
        case 'p':
            if (strlen(optarg) > 100)
                die2("prefix too long%s%s", "", "");
            cfg.prefix = optarg;
            break;
        case 'c':
            if (!*optarg || strlen(optarg) > 256 || strpbrk(optarg, "\r\n"))
                die2("invalid class '%s'%s", optarg, "");
            cfg.cls = optarg;
            break;
        case 'e': cfg.expires = (long)parse_num(optarg, "-e", 0, 0xffffffffULL); break;
        case 't': cfg.timeout_ms = (long)parse_num(optarg, "-t", 1, 86400000); break;
        case 'q': cfg.quiet = true; break;
        case 'v': cfg.verbose = true; break;
        case 'h': usage(stdout); return 0;
        case O_FIRST: cfg.first = parse_num(optarg, "--first", 0, 1000000000000000ULL); break;
        case O_CLASS_HEADER: cfg.class_header = true; break;
        case O_EXPECT: cfg.expect = (int)parse_num(optarg, "--expect", 100, 699); break;
        case O_ANSWER: cfg.answer = (int)parse_num(optarg, "--answer", 200, 699); break;
        case O_FAIL_FIRST: cfg.fail_first = (unsigned long)parse_num(optarg, "--fail-first", 0, 1000000000); break;
        case O_SILENT_FIRST: cfg.silent_first = (unsigned long)parse_num(optarg, "--silent-first", 0, 1000000000); break;
        case O_FAIL_SHARE: cfg.fail_share = (unsigned long)parse_num(optarg, "--fail-share", 0, 100); break;
        case O_SILENT_SHARE: cfg.silent_share = (unsigned long)parse_num(optarg, "--silent-share", 0, 100); break;
        case O_MSGLOG: cfg.msglog = optarg; break;
        case O_TCP: cfg.tcp = true; break;
        case O_WINDOW: cfg.window = (unsigned long)parse_num(optarg, "--window", 1, 100000000); break;
        case O_INTERVAL:
            if (!parse_secs(optarg, &cfg.interval, 0) || cfg.interval < 0.001)
                die2("invalid value for --interval: '%s'%s", optarg, "");
            break;
        case O_SRC_ADDRS: cfg.src_addrs = (unsigned long)parse_num(optarg, "--src-addrs", 1, 65534); break;
        case O_PASSWORD: cfg.password = optarg; break;
        case O_REG_TIMEOUT: cfg.reg_timeout_ms = (long)parse_num(optarg, "--register-timeout", 1, 86400000); break;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (nsrv == 0) {
        fprintf(stderr, "simclient: -s HOST:PORT is required\n");
        usage(stderr);
        return 2;
    }
    if (optind >= argc) {
        fprintf(stderr, "simclient: no steps given\n");
        usage(stderr);
        return 2;
    }
    int nsteps = argc - optind;
    struct step *steps = calloc((size_t)nsteps, sizeof *steps);
    if (!steps) { fprintf(stderr, "simclient: out of memory\n"); return 2; }
    for (int i = 0; i < nsteps; i++)
        if (!parse_step(argv[optind + i], &steps[i])) {
            fprintf(stderr, "simclient: invalid step '%s'\n", argv[optind + i]);
            free(steps);
            return 2;
        }
    for (unsigned i = 0; i < nsrv; i++)
        parse_server(&srvs[i]);
    if (!cfg.src_addrs)
        cfg.src_addrs = auto_src_addrs();
    if (cfg.src_addrs > cfg.n)
        cfg.src_addrs = cfg.n;

    signal(SIGPIPE, SIG_IGN);
    raise_nofile(cfg.n + FD_RESERVE);

    uint64_t seed = 0;
    if (getrandom(&seed, sizeof seed, 0) != (ssize_t)sizeof seed || !seed)
        seed = (uint64_t)now_us() ^ ((uint64_t)getpid() << 32) ^ 0x9E3779B97F4A7C15ULL;
    rng_state = seed | 1;
    run_id = (uint32_t)rng();

    if (cfg.msglog) {
        msglog_fd = open(cfg.msglog, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (msglog_fd < 0)
            die2("cannot open %s: %s", cfg.msglog, strerror(errno));
    }
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        die2("epoll_create1: %s%s", strerror(errno), "");
    clients = calloc(cfg.n, sizeof *clients);
    rq = calloc(cfg.n, sizeof *rq);
    if (!clients || !rq)
        die2("out of memory (%s clients)%s", "many", "");
    for (unsigned long i = 0; i < cfg.n; i++) {
        struct client *c = &clients[i];
        c->fd = -1;
        c->addr = 0x7f000001u + (uint32_t)(i % cfg.src_addrs);
        c->sv = (uint8_t)((cfg.first + i) % nsrv);
        rand_hex(c->reg_callid, 16);
        if (cfg.tcp)
            continue;
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            die2("cannot create UDP socket: %s%s", strerror(errno), "");
        struct sockaddr_in la = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(c->addr) };
        if (bind(fd, (struct sockaddr *)&la, sizeof la) < 0) {
            char ip[INET_ADDRSTRLEN];
            ip_str(c->addr, ip);
            fprintf(stderr, "simclient: cannot bind UDP socket for client %lu to %s:0: %s%s\n",
                    i, ip, strerror(errno),
                    errno == EADDRINUSE ? " (ephemeral ports exhausted; try --src-addrs)" : "");
            exit(2);
        }
        socklen_t sl = sizeof la;
        getsockname(fd, (struct sockaddr *)&la, &sl);
        c->lport = ntohs(la.sin_port);
        c->fd = fd;
        struct epoll_event ev = { .events = EPOLLIN, .data.u64 = i };
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
            die2("epoll_ctl: %s%s", strerror(errno), "");
    }

    for (int i = 0; i < nsteps; i++)
        run_step(&steps[i]);

    /* cleanup */
    for (unsigned long i = 0; i < cfg.n; i++) {
        struct client *c = &clients[i];
        if (c->fd >= 0)
            close(c->fd);
        free(c->req);
        free(c->rbuf);
        free(c->wbuf);
        free(c->nonce);
    }
    free(clients);
    free(rq);
    free(heap);
    free(S.lat);
    free(steps);
    mtab_free();
    if (msglog_fd >= 0)
        close(msglog_fd);
    close(ep);
    fflush(stdout);
    return any_fail ? 1 : 0;
}
