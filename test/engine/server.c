/* server.c - the HTTP/1.1 test server (see server.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "server.h"

#include "cd_test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define TS_MAX_HEAD (64 * 1024)
#define TS_MAX_BODY ((size_t)512 * 1024 * 1024)
#define TS_BLOCK (64 * 1024)

typedef struct ts_conn {
  struct ts_conn *next;
  ts_server *srv;
  int fd;
  int started;
  pthread_t thread;
  atomic_int done;
  char *in;
  size_t in_pos, in_len, in_cap;
  uint8_t *block;
} ts_conn;

struct ts_server {
  int lfd;
  unsigned port;
  char origin[64];
  int stop_pipe[2];
  pthread_t thread;
  pthread_mutex_t mu;
  ts_conn *conns;
  atomic_long accepted;
  atomic_long requests;
  atomic_long busy;
  atomic_long max_busy;
  atomic_long saw_expect;
  atomic_long saw_accept;
  atomic_long open_conns;
};

typedef struct ts_req {
  char method[32];
  char target[2048];
  int http10;
  const char *head; /* points into a copy owned by the caller */
  size_t head_len;
  int chunked;
  int has_clen;
  unsigned long long clen;
  int conn_close;
  int expect;
  uint8_t *body;
  size_t body_len;
  const char *framing;
} ts_req;

/* ---- pattern ------------------------------------------------------------ */

void ts_fill_pattern(uint8_t *buf, uint64_t offset, size_t len) {
  for (size_t i = 0; i < len; i++) buf[i] = ts_pattern(offset + i);
}

size_t ts_check_pattern(const uint8_t *buf, uint64_t offset, size_t len) {
  for (size_t i = 0; i < len; i++)
    if (buf[i] != ts_pattern(offset + i)) return i;
  return (size_t)-1;
}

/* ---- low-level I/O ------------------------------------------------------ */

/* 1: ready, 0: server stopping, 2: timeout, -1: error. */
static int wait_fd(ts_conn *c, short events, int timeout_ms) {
  struct pollfd p[2];
  p[0].fd = c->fd;
  p[0].events = events;
  p[0].revents = 0;
  p[1].fd = c->srv->stop_pipe[0];
  p[1].events = POLLIN;
  p[1].revents = 0;
  for (;;) {
    int r = poll(p, 2, timeout_ms);
    if (r < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (r == 0) return 2;
    if (p[1].revents) return 0;
    return 1;
  }
}

/* Sleeps, waking early when the server stops. 1: slept, 0: stopping. */
static int conn_sleep(ts_conn *c, int ms) {
  struct pollfd p;
  p.fd = c->srv->stop_pipe[0];
  p.events = POLLIN;
  p.revents = 0;
  uint64_t end = tu_now_ms() + (uint64_t)ms;
  for (;;) {
    uint64_t now = tu_now_ms();
    if (now >= end) return 1;
    int r = poll(&p, 1, (int)(end - now));
    if (r > 0) return 0;
  }
}

/* Reads more input. Returns bytes read, 0 on EOF, -1 on error or stop. */
static long conn_fill(ts_conn *c) {
  if (c->in_pos > 0 && c->in_pos == c->in_len) c->in_pos = c->in_len = 0;
  if (c->in_cap - c->in_len < 16384 && c->in_pos > 0) {
    memmove(c->in, c->in + c->in_pos, c->in_len - c->in_pos);
    c->in_len -= c->in_pos;
    c->in_pos = 0;
  }
  if (c->in_cap - c->in_len < 16384) {
    size_t ncap = c->in_cap ? c->in_cap * 2 : 65536;
    char *n = realloc(c->in, ncap);
    if (n == NULL) return -1;
    c->in = n;
    c->in_cap = ncap;
  }
  for (;;) {
    if (wait_fd(c, POLLIN, -1) != 1) return -1;
    ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len,
                     MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
      return -1;
    }
    c->in_len += (size_t)n;
    return (long)n;
  }
}

static int conn_write(ts_conn *c, const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    if (wait_fd(c, POLLOUT, -1) != 1) return -1;
    ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
      return -1;
    }
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

static int conn_writef(ts_conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int conn_writef(ts_conn *c, const char *fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sizeof buf) return -1;
  return conn_write(c, buf, (size_t)n);
}

/* Waits until the peer closes (or the server stops), discarding input. */
static void conn_wait_closed(ts_conn *c) {
  char scratch[4096];
  for (;;) {
    if (wait_fd(c, POLLIN, -1) != 1) return;
    ssize_t n = recv(c->fd, scratch, sizeof scratch, MSG_DONTWAIT);
    if (n == 0) return;
    if (n < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)
      return;
  }
}

/* Finds seq in the unread input; returns the offset after it, or 0. */
static size_t find_seq(ts_conn *c, const char *seq) {
  size_t sl = strlen(seq);
  const char *hay = c->in + c->in_pos;
  size_t hl = c->in_len - c->in_pos;
  const char *p = memmem(hay, hl, seq, sl);
  return p ? (size_t)(p - hay) + sl : 0;
}

/* Reads until seq shows up; returns the length through seq, or 0. */
static size_t read_until(ts_conn *c, const char *seq, size_t max) {
  for (;;) {
    size_t n = find_seq(c, seq);
    if (n) return n;
    if (c->in_len - c->in_pos > max) return 0;
    if (conn_fill(c) <= 0) return 0;
  }
}

/* ---- request parsing ---------------------------------------------------- */

static int body_append(ts_req *rq, size_t *cap, const void *p, size_t n) {
  if (rq->body_len + n > TS_MAX_BODY) return -1;
  if (rq->body_len + n > *cap) {
    size_t ncap = *cap ? *cap : 4096;
    while (ncap < rq->body_len + n) ncap *= 2;
    uint8_t *b = realloc(rq->body, ncap);
    if (b == NULL) return -1;
    rq->body = b;
    *cap = ncap;
  }
  memcpy(rq->body + rq->body_len, p, n);
  rq->body_len += n;
  return 0;
}

static int read_body(ts_conn *c, ts_req *rq) {
  size_t cap = 0;
  if (rq->chunked) {
    rq->framing = "chunked";
    for (;;) {
      size_t ll = read_until(c, "\r\n", 1024);
      if (ll == 0) return -1;
      char *end = NULL;
      unsigned long long sz = strtoull(c->in + c->in_pos, &end, 16);
      if (end == c->in + c->in_pos) return -1;
      c->in_pos += ll;
      if (sz == 0) {
        /* trailers, up to the empty line */
        for (;;) {
          size_t tl = read_until(c, "\r\n", TS_MAX_HEAD);
          if (tl == 0) return -1;
          c->in_pos += tl;
          if (tl == 2) return 0;
        }
      }
      if (sz > TS_MAX_BODY) return -1;
      while (sz > 0) {
        if (c->in_len == c->in_pos && conn_fill(c) <= 0) return -1;
        size_t avail = c->in_len - c->in_pos;
        size_t take = avail < sz ? avail : (size_t)sz;
        if (body_append(rq, &cap, c->in + c->in_pos, take)) return -1;
        c->in_pos += take;
        sz -= take;
      }
      while (c->in_len - c->in_pos < 2)
        if (conn_fill(c) <= 0) return -1;
      if (memcmp(c->in + c->in_pos, "\r\n", 2) != 0) return -1;
      c->in_pos += 2;
    }
  }
  if (rq->has_clen) {
    rq->framing = "length";
    unsigned long long left = rq->clen;
    if (left > TS_MAX_BODY) return -1;
    while (left > 0) {
      if (c->in_len == c->in_pos && conn_fill(c) <= 0) return -1;
      size_t avail = c->in_len - c->in_pos;
      size_t take = avail < left ? avail : (size_t)left;
      if (body_append(rq, &cap, c->in + c->in_pos, take)) return -1;
      c->in_pos += take;
      left -= take;
    }
    return 0;
  }
  rq->framing = "none";
  return 0;
}

static int header_is(const char *line, size_t len, const char *name) {
  size_t nl = strlen(name);
  return len > nl && line[nl] == ':' && strncasecmp(line, name, nl) == 0;
}

static void header_value(const char *line, size_t len, size_t name_len,
                         char *out, size_t out_size) {
  const char *v = line + name_len + 1;
  const char *e = line + len;
  while (v < e && (*v == ' ' || *v == '\t')) v++;
  while (e > v && (e[-1] == ' ' || e[-1] == '\t')) e--;
  size_t n = (size_t)(e - v);
  if (n >= out_size) n = out_size - 1;
  memcpy(out, v, n);
  out[n] = '\0';
}

/* Parses the head (already copied to `head`, ending with CRLFCRLF). */
static int parse_head(ts_server *srv, ts_req *rq, const char *head,
                      size_t head_len) {
  const char *p = head;
  const char *end = head + head_len;
  const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
  if (eol == NULL) return -1;
  if (sscanf(p, "%31s %2047s", rq->method, rq->target) != 2) return -1;
  const char *ver = memmem(p, (size_t)(eol - p), " HTTP/1.", 8);
  if (ver == NULL) return -1;
  rq->http10 = ver[8] == '0';
  p = eol + 2;
  while (p < end) {
    eol = memmem(p, (size_t)(end - p), "\r\n", 2);
    if (eol == NULL || eol == p) break;
    size_t len = (size_t)(eol - p);
    char val[256];
    if (header_is(p, len, "content-length")) {
      header_value(p, len, 14, val, sizeof val);
      rq->has_clen = 1;
      rq->clen = strtoull(val, NULL, 10);
    } else if (header_is(p, len, "transfer-encoding")) {
      header_value(p, len, 17, val, sizeof val);
      if (strcasestr(val, "chunked")) rq->chunked = 1;
    } else if (header_is(p, len, "connection")) {
      header_value(p, len, 10, val, sizeof val);
      if (strcasecmp(val, "close") == 0) rq->conn_close = 1;
    } else if (header_is(p, len, "expect")) {
      rq->expect = 1;
      atomic_fetch_add(&srv->saw_expect, 1);
    } else if (header_is(p, len, "accept")) {
      atomic_fetch_add(&srv->saw_accept, 1);
    }
    p = eol + 2;
  }
  return 0;
}

static unsigned long long query_ull(const char *target, const char *name,
                                    unsigned long long def) {
  const char *q = strchr(target, '?');
  size_t nl = strlen(name);
  while (q) {
    q++;
    if (strncmp(q, name, nl) == 0 && q[nl] == '=')
      return strtoull(q + nl + 1, NULL, 10);
    q = strchr(q, '&');
  }
  return def;
}

static int path_is(const char *target, const char *path) {
  size_t n = strlen(path);
  return strncmp(target, path, n) == 0 && (target[n] == '\0' || target[n] == '?');
}

/* ---- responses ---------------------------------------------------------- */

static int is_head(const ts_req *rq) { return strcmp(rq->method, "HEAD") == 0; }

static int keep_alive(const ts_req *rq) { return !rq->conn_close && !rq->http10; }

/* clen < 0: no Content-Length line. */
static int send_head(ts_conn *c, const ts_req *rq, int status,
                     const char *reason, const char *extra, long long clen) {
  char buf[TS_MAX_HEAD + 1024];
  int n = snprintf(buf, sizeof buf, "HTTP/1.1 %d %s\r\n", status, reason);
  if (clen >= 0)
    n += snprintf(buf + n, sizeof buf - (size_t)n, "Content-Length: %lld\r\n",
                  clen);
  size_t el = extra ? strlen(extra) : 0;
  if ((size_t)n + el + 64 > sizeof buf) return -1;
  if (el) {
    memcpy(buf + n, extra, el);
    n += (int)el;
  }
  if (!keep_alive(rq))
    n += snprintf(buf + n, sizeof buf - (size_t)n, "Connection: close\r\n");
  n += snprintf(buf + n, sizeof buf - (size_t)n, "\r\n");
  return conn_write(c, buf, (size_t)n);
}

static int send_simple(ts_conn *c, const ts_req *rq, int status,
                       const char *reason, const char *extra, const void *body,
                       size_t len) {
  if (send_head(c, rq, status, reason, extra, (long long)len)) return -1;
  if (!is_head(rq) && len && conn_write(c, body, len)) return -1;
  return keep_alive(rq);
}

static int send_pattern(ts_conn *c, uint64_t offset, uint64_t n) {
  while (n > 0) {
    size_t take = n < TS_BLOCK ? (size_t)n : TS_BLOCK;
    ts_fill_pattern(c->block, offset, take);
    if (conn_write(c, c->block, take)) return -1;
    offset += take;
    n -= take;
  }
  return 0;
}

/* Returns 1 to keep the connection, 0 to close it, -1 if already closed. */
static int handle(ts_conn *c, ts_req *rq) {
  const char *t = rq->target;
  /* an absolute-form target (RFC 9112 3.2.2) is routed by its path */
  if (strncmp(t, "http://", 7) == 0) {
    const char *slash = strchr(t + 7, '/');
    t = slash != NULL ? slash : "/";
  }

  if (path_is(t, "/hello"))
    return send_simple(c, rq, 200, "OK", "Content-Type: text/plain\r\n",
                       "hello", 5);

  if (path_is(t, "/big")) {
    unsigned long long n = query_ull(t, "n", 0);
    if (send_head(c, rq, 200, "OK",
                  "Content-Type: application/octet-stream\r\n",
                  (long long)n))
      return 0;
    if (!is_head(rq) && send_pattern(c, 0, n)) return 0;
    return keep_alive(rq);
  }

  if (path_is(t, "/chunked")) {
    unsigned long long n = query_ull(t, "n", 0);
    if (send_head(c, rq, 200, "OK",
                  "Transfer-Encoding: chunked\r\nTrailer: X-Trailer, X-Count\r\n",
                  -1))
      return 0;
    if (is_head(rq)) return keep_alive(rq);
    if (n == 0) {
      static const char *parts[] = {"hel", "lo", " world"};
      for (int i = 0; i < 3; i++)
        if (conn_writef(c, "%zx\r\n%s\r\n", strlen(parts[i]), parts[i])) return 0;
    } else {
      static const size_t sizes[] = {1, 100, 4096, 65536, 7, 30000, 16384};
      uint64_t off = 0;
      for (int i = 0; off < n; i++) {
        size_t sz = sizes[i % 7];
        if (sz > n - off) sz = (size_t)(n - off);
        if (conn_writef(c, "%zx\r\n", sz)) return 0;
        if (send_pattern(c, off, sz)) return 0;
        if (conn_write(c, "\r\n", 2)) return 0;
        off += sz;
      }
    }
    if (conn_writef(c, "0\r\nX-Trailer: yes\r\nX-Count: 3\r\n\r\n")) return 0;
    return keep_alive(rq);
  }

  if (path_is(t, "/echo")) {
    char extra[128];
    snprintf(extra, sizeof extra,
             "Content-Type: application/octet-stream\r\nX-Req-Framing: %s\r\n",
             rq->framing);
    return send_simple(c, rq, 200, "OK", extra, rq->body, rq->body_len);
  }

  if (path_is(t, "/head-echo"))
    return send_simple(c, rq, 200, "OK", "Content-Type: text/plain\r\n",
                       rq->head, rq->head_len);

  if (path_is(t, "/stall")) {
    unsigned long long partial = query_ull(t, "partial", 0);
    if (send_head(c, rq, 200, "OK", NULL, 1000000)) return 0;
    if (partial && send_pattern(c, 0, partial)) return 0;
    conn_wait_closed(c);
    return 0;
  }

  if (path_is(t, "/nothing")) {
    conn_wait_closed(c);
    return 0;
  }

  if (path_is(t, "/reset")) {
    struct linger lg = {1, 0};
    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(c->fd);
    c->fd = -1;
    return -1;
  }

  if (path_is(t, "/early-hints")) {
    if (conn_writef(c,
                    "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
                    "HTTP/1.1 103 Early Hints\r\nLink: </b.js>; rel=preload\r\n\r\n"))
      return 0;
    return send_simple(c, rq, 200, "OK", NULL, "ok", 2);
  }

  if (path_is(t, "/http10")) {
    conn_writef(c, "HTTP/1.0 200 OK\r\nContent-Length: 4\r\n\r\n%s",
                is_head(rq) ? "" : "v1.0");
    return 0;
  }

  if (path_is(t, "/eof")) {
    unsigned long long n = query_ull(t, "n", 0);
    if (conn_writef(c, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")) return 0;
    if (is_head(rq)) return 0;
    if (n == 0)
      conn_write(c, "until-eof", 9);
    else
      send_pattern(c, 0, n);
    return 0;
  }

  if (path_is(t, "/bigheader")) {
    unsigned long long n = query_ull(t, "n", 100);
    if (n > TS_MAX_HEAD - 64) n = TS_MAX_HEAD - 64;
    char *extra = malloc((size_t)n + 16);
    if (extra == NULL) return 0;
    memcpy(extra, "X-Big: ", 7);
    memset(extra + 7, 'a', (size_t)n);
    memcpy(extra + 7 + n, "\r\n", 3);
    int r = send_simple(c, rq, 200, "OK", extra, "big", 3);
    free(extra);
    return r;
  }

  if (path_is(t, "/close-after")) {
    /* a keep-alive answer, then the server closes the idle connection */
    if (send_simple(c, rq, 200, "OK", NULL, "hello", 5) < 0) return 0;
    conn_sleep(c, (int)query_ull(t, "ms", 100));
    return 0;
  }

  if (path_is(t, "/slow")) {
    if (!conn_sleep(c, (int)query_ull(t, "ms", 100))) return 0;
    return send_simple(c, rq, 200, "OK", NULL, "hello", 5);
  }

  if (path_is(t, "/drip")) {
    unsigned long long n = query_ull(t, "n", 10);
    int ms = (int)query_ull(t, "ms", 50);
    if (send_head(c, rq, 200, "OK", NULL, (long long)n)) return 0;
    if (is_head(rq)) return keep_alive(rq);
    for (unsigned long long i = 0; i < n; i++) {
      if (!conn_sleep(c, ms)) return 0;
      uint8_t b = ts_pattern(i);
      if (conn_write(c, &b, 1)) return 0;
    }
    return keep_alive(rq);
  }

  if (path_is(t, "/status")) {
    int code = (int)query_ull(t, "code", 200);
    if (code == 204 || code == 304) {
      if (send_head(c, rq, code, code == 204 ? "No Content" : "Not Modified",
                    NULL, -1))
        return 0;
      return keep_alive(rq);
    }
    return send_simple(c, rq, code, "Whatever", NULL, "status", 6);
  }

  if (path_is(t, "/redirect"))
    return send_simple(c, rq, 302, "Found", "Location: /hello\r\n", "moved", 5);

  if (path_is(t, "/gzip"))
    return send_simple(c, rq, 200, "OK", "Content-Encoding: gzip\r\n",
                       "notgzip", 7);

  if (path_is(t, "/keepalive-hint")) {
    char extra[96];
    snprintf(extra, sizeof extra, "Keep-Alive: timeout=%llu, max=5\r\n",
             query_ull(t, "s", 5));
    return send_simple(c, rq, 200, "OK", extra, "hello", 5);
  }

  if (path_is(t, "/bad-chunk")) {
    if (send_head(c, rq, 200, "OK", "Transfer-Encoding: chunked\r\n", -1))
      return 0;
    if (!is_head(rq)) conn_writef(c, "zz\r\nhello\r\n0\r\n\r\n");
    return 0;
  }

  return send_simple(c, rq, 404, "Not Found", NULL, "not found", 9);
}

/* ---- threads ------------------------------------------------------------ */

static void note_busy(ts_server *srv) {
  long b = atomic_fetch_add(&srv->busy, 1) + 1;
  long m = atomic_load(&srv->max_busy);
  while (b > m && !atomic_compare_exchange_weak(&srv->max_busy, &m, b)) {
  }
}

static void *conn_main(void *arg) {
  ts_conn *c = arg;
  ts_server *srv = c->srv;
  c->block = malloc(TS_BLOCK);
  /* A TLS ClientHello (https:// to this plain server): answer in plain
   * HTTP, as real servers do, so the client fails fast. */
  if (c->block && conn_fill(c) > 0 && (uint8_t)c->in[0] == 0x16) {
    conn_writef(c, "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n"
                   "Content-Length: 0\r\n\r\n");
    c->in_len = c->in_pos = 0;
    free(c->block);
    c->block = NULL;
  }
  for (;;) {
    if (c->block == NULL) break;
    size_t hl = read_until(c, "\r\n\r\n", TS_MAX_HEAD);
    if (hl == 0) break;
    char *head = malloc(hl + 1);
    if (head == NULL) break;
    memcpy(head, c->in + c->in_pos, hl);
    head[hl] = '\0';
    c->in_pos += hl;
    ts_req rq;
    memset(&rq, 0, sizeof rq);
    rq.head = head;
    rq.head_len = hl;
    int keep = 0;
    if (parse_head(srv, &rq, head, hl) == 0) {
      atomic_fetch_add(&srv->requests, 1);
      note_busy(srv);
      if (rq.expect && (rq.chunked || (rq.has_clen && rq.clen > 0)))
        conn_writef(c, "HTTP/1.1 100 Continue\r\n\r\n");
      if (path_is(rq.target, "/answer-close")) {
        /* answers on the head alone and closes without reading the body:
         * a chunked response cut short, or (eof=1) one the close ends */
        if (query_ull(rq.target, "eof", 0))
          conn_writef(c, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil-eof");
        else
          conn_writef(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7\r\npartial\r\n");
        keep = 0;
      } else if (path_is(rq.target, "/answer-first")) {
        /* answers on the head alone, then reads and discards the body
         * (nginx's `return`): the response is complete before the upload */
        keep = send_simple(c, &rq, 200, "OK", NULL, "ok", 2);
        if (keep == 1 && read_body(c, &rq) != 0) keep = 0;
      } else if (read_body(c, &rq) == 0) {
        keep = handle(c, &rq);
      }
      atomic_fetch_sub(&srv->busy, 1);
    }
    free(rq.body);
    free(head);
    if (keep != 1) break;
  }
  if (c->fd >= 0) {
    shutdown(c->fd, SHUT_WR);
    close(c->fd);
    c->fd = -1;
  }
  free(c->in);
  c->in = NULL;
  free(c->block);
  c->block = NULL;
  atomic_fetch_sub(&srv->open_conns, 1);
  atomic_store(&c->done, 1);
  return NULL;
}

static void reap(ts_server *srv, int all) {
  pthread_mutex_lock(&srv->mu);
  ts_conn **pp = &srv->conns;
  while (*pp) {
    ts_conn *c = *pp;
    if (all || atomic_load(&c->done)) {
      *pp = c->next;
      if (c->started) pthread_join(c->thread, NULL);
      free(c);
    } else {
      pp = &c->next;
    }
  }
  pthread_mutex_unlock(&srv->mu);
}

static void *accept_main(void *arg) {
  ts_server *srv = arg;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 512 * 1024);
  for (;;) {
    struct pollfd p[2] = {{srv->lfd, POLLIN, 0}, {srv->stop_pipe[0], POLLIN, 0}};
    int r = poll(p, 2, -1);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 || p[1].revents) break;
    int fd = accept4(srv->lfd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0) continue;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    reap(srv, 0);
    ts_conn *c = calloc(1, sizeof *c);
    if (c == NULL) {
      close(fd);
      continue;
    }
    c->fd = fd;
    c->srv = srv;
    atomic_fetch_add(&srv->accepted, 1);
    atomic_fetch_add(&srv->open_conns, 1);
    pthread_mutex_lock(&srv->mu);
    c->next = srv->conns;
    srv->conns = c;
    c->started = pthread_create(&c->thread, &attr, conn_main, c) == 0;
    if (!c->started) {
      close(fd);
      c->fd = -1;
      atomic_fetch_sub(&srv->open_conns, 1);
      atomic_store(&c->done, 1);
    }
    pthread_mutex_unlock(&srv->mu);
  }
  pthread_attr_destroy(&attr);
  return NULL;
}

ts_server *ts_start(void) {
  ts_server *srv = calloc(1, sizeof *srv);
  if (srv == NULL) return NULL;
  pthread_mutex_init(&srv->mu, NULL);
  if (pipe2(srv->stop_pipe, O_CLOEXEC)) CD_FAIL("pipe2: %s", strerror(errno));
  srv->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (srv->lfd < 0) CD_FAIL("socket: %s", strerror(errno));
  int one = 1;
  setsockopt(srv->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(srv->lfd, (struct sockaddr *)&sa, sizeof sa))
    CD_FAIL("bind: %s", strerror(errno));
  if (listen(srv->lfd, 512)) CD_FAIL("listen: %s", strerror(errno));
  socklen_t sl = sizeof sa;
  getsockname(srv->lfd, (struct sockaddr *)&sa, &sl);
  srv->port = ntohs(sa.sin_port);
  snprintf(srv->origin, sizeof srv->origin, "http://127.0.0.1:%u", srv->port);
  if (pthread_create(&srv->thread, NULL, accept_main, srv))
    CD_FAIL("pthread_create failed");
  return srv;
}

void ts_stop(ts_server *srv) {
  if (srv == NULL) return;
  if (write(srv->stop_pipe[1], "x", 1) != 1) CD_FAIL("write stop pipe");
  pthread_join(srv->thread, NULL);
  reap(srv, 1);
  close(srv->lfd);
  close(srv->stop_pipe[0]);
  close(srv->stop_pipe[1]);
  pthread_mutex_destroy(&srv->mu);
  free(srv);
}

unsigned ts_port(const ts_server *srv) { return srv->port; }
const char *ts_origin(const ts_server *srv) { return srv->origin; }
long ts_accepted(ts_server *srv) { return atomic_load(&srv->accepted); }
long ts_requests(ts_server *srv) { return atomic_load(&srv->requests); }
long ts_max_busy(ts_server *srv) { return atomic_load(&srv->max_busy); }
long ts_saw_expect(ts_server *srv) { return atomic_load(&srv->saw_expect); }
long ts_saw_accept(ts_server *srv) { return atomic_load(&srv->saw_accept); }
long ts_open_conns(ts_server *srv) { return atomic_load(&srv->open_conns); }
void ts_reset_max_busy(ts_server *srv) {
  atomic_store(&srv->max_busy, atomic_load(&srv->busy));
}

unsigned ts_unused_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) CD_FAIL("socket: %s", strerror(errno));
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa))
    CD_FAIL("bind: %s", strerror(errno));
  socklen_t sl = sizeof sa;
  getsockname(fd, (struct sockaddr *)&sa, &sl);
  close(fd);
  return ntohs(sa.sin_port);
}
