/* cd_conn.c - which agent and origin each open connection belongs to, so
 * that owners learn when connections open (CD_EV_CONNECTED, on the request
 * that opened it) and close (CD_EV_DISCONNECTED, an environment-level event),
 * and, for requests that ask (CD_REQ_SENDING), when one opens a connection
 * (CD_EV_CONNECTING) and which connection it goes out on (CD_EV_SENDING).
 *
 * libcurl has no connection events of its own. Its socket callbacks do:
 * every socket a transfer opens goes through on_open (recorded, not yet a
 * connection), the transfer's prerequisite callback says when it is ready
 * to send (connected, TLS and proxy tunnel done), and every socket closes
 * through on_close, whatever transfer or share cleanup closes it.
 *
 * Idle connections: libcurl closes an idle connection only when it next
 * looks at its cache (a new transfer of the same agent, at most once a
 * second, or the agent's cache being freed), so a quiet process would hold
 * its sockets for ever. cd__conn_sweep closes them on time instead. It
 * cannot close() a descriptor libcurl owns, so it shuts the socket down
 * (the server sees the close at once); libcurl finds it dead, never reuses
 * it, and closes the descriptor when it next looks.
 *
 * Which transfers use a connection: libcurl does not say, but each
 * transfer's prerequisite callback gives the addresses and ports of the
 * connection it is about to send on; for TCP the two ports name the socket
 * (found through the table's `ports` chains), so each TCP connection counts
 * its users and knows when it went idle. Such a connection is swept after
 * its own keepalive, and watched while idle (cd__conn_idle_waitfds): input
 * on a connection nobody uses is the server closing it or, on HTTP/2, a
 * GOAWAY that libcurl would read only when a new transfer looks at its
 * cache, so the socket stayed open for as long as the agent kept busy
 * elsewhere. Other connections (Unix sockets; a transfer whose connection
 * was not found, which `lost` counts) fall back to the agent-wide rule: swept
 * only once the agent has no transfer on this worker, left to libcurl's own
 * pruning (CURLOPT_MAXAGE_CONN, at each new transfer) meanwhile.
 */
#include "cd_conn.h"

#include <stdio.h>
#include <stdlib.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "cd_alpn.h"
#include "cd_config.h"
#include "cd_limit.h"
#include "cd_grow.h"
#include "cd_share.h"

/* One open socket. Ownership and threading: its worker only; indexed by
 * descriptor in the worker's cd__conn_table. `chan` is cleared (the entry forgotten) when
 * the owner detaches, before the channel is freed. */
typedef struct cd__conn {
  cd_channel *chan;
  cd__share *share;          /* the agent's cache it lives in (outlives it) */
  cd__limit *limit;          /* the `connections` limit it counts in, or NULL
                              * (kept alive by the count, cd_limit.h) */
  uint32_t config_tag;
  uint32_t keepalive_ms;     /* idle time allowed; 0: left to libcurl */
  uint32_t serial;           /* tells this entry from another on the same descriptor */
  bool connected;            /* a transfer got to send on it */
  bool shut;                 /* closed by the sweep, already reported */
  bool raw;                  /* a CD_REQ_RAW pipe's: never idle while open */
  bool tracked;              /* TCP, in a `ports` chain: `users` is exact */
  unsigned users;            /* tracked: transfers sending on it now */
  unsigned requests;         /* transfers that ended on it (max_requests_per_conn) */
  uint64_t idle_since_ms;    /* tracked: when `users` fell to 0 */
  uint16_t local_port, peer_port;
  curl_socket_t port_next;   /* next entry in its `ports` chain */
  char origin[];
} cd__conn;

static cd__conn *conn_at(cd__conn_table *t, curl_socket_t fd) {
  return fd >= 0 && (size_t)fd < t->cap ? t->items[fd] : NULL;
}

/* libcurl sends a request again, on another connection, when the reused
 * connection it went out on closes before any response byte: right for
 * idempotent requests, not for the others, which must fail instead. */
static int refuse_resend(cd_request *req) {
  if (!req->conn.sent || !(req->flags & CD_REQ_NO_RETRY)) return 0;
  req->error = CD_ERR_CONNECTION_LOST;
  return 1;
}

/* ---- which transfers use which TCP connection ----------------------------- */

static unsigned port_bucket(uint16_t local_port) { return local_port % CD__CONN_PORT_BUCKETS; }

/* Puts a connected TCP socket in its `ports` chain. */
static void track(cd__conn_table *t, cd__conn *c, curl_socket_t fd) {
  if (c->tracked || c->raw) return;
  struct sockaddr_storage local, peer;
  socklen_t llen = sizeof(local), plen = sizeof(peer);
  if (getsockname(fd, (struct sockaddr *)&local, &llen) != 0 || getpeername(fd, (struct sockaddr *)&peer, &plen) != 0)
    return;
  if (local.ss_family == AF_INET && peer.ss_family == AF_INET) {
    c->local_port = ntohs(((struct sockaddr_in *)&local)->sin_port);
    c->peer_port = ntohs(((struct sockaddr_in *)&peer)->sin_port);
  } else if (local.ss_family == AF_INET6 && peer.ss_family == AF_INET6) {
    c->local_port = ntohs(((struct sockaddr_in6 *)&local)->sin6_port);
    c->peer_port = ntohs(((struct sockaddr_in6 *)&peer)->sin6_port);
  } else {
    return;  /* a Unix socket: no ports to be found by */
  }
  if (t->ports == NULL) {
    t->ports = malloc(CD__CONN_PORT_BUCKETS * sizeof(*t->ports));
    if (t->ports == NULL) return;  /* out of memory: left untracked */
    for (unsigned i = 0; i < CD__CONN_PORT_BUCKETS; i++) t->ports[i] = CURL_SOCKET_BAD;
  }
  unsigned b = port_bucket(c->local_port);
  c->port_next = t->ports[b];
  t->ports[b] = fd;
  c->tracked = true;
  c->idle_since_ms = *t->clock;
}

/* Takes the entry at `fd` out of its `ports` chain. */
static void untrack(cd__conn_table *t, curl_socket_t fd) {
  cd__conn *c = conn_at(t, fd);
  if (c == NULL || !c->tracked) return;
  c->tracked = false;
  for (curl_socket_t *p = &t->ports[port_bucket(c->local_port)]; *p != CURL_SOCKET_BAD; p = &t->items[*p]->port_next) {
    if (*p == fd) {
      *p = c->port_next;
      return;
    }
  }
}

/* The tracked connection with these ports: its descriptor, or bad when
 * none or more than one (then nobody can tell which). */
static curl_socket_t find_tracked(cd__conn_table *t, int local_port, int peer_port) {
  if (t->ports == NULL || local_port <= 0 || local_port > 65535) return CURL_SOCKET_BAD;
  curl_socket_t found = CURL_SOCKET_BAD;
  for (curl_socket_t fd = t->ports[port_bucket((uint16_t)local_port)]; fd != CURL_SOCKET_BAD; fd = t->items[fd]->port_next) {
    cd__conn *c = t->items[fd];
    if (c->local_port != local_port || c->peer_port != peer_port) continue;
    if (found != CURL_SOCKET_BAD) return CURL_SOCKET_BAD;
    found = fd;
  }
  return found;
}

/* Connected sockets not yet in a chain (a transfer reached its
 * prerequisite callback on a connection opened by another that has not):
 * tracked now, so that the lookup can find them. */
static void track_pending(cd__conn_table *t) {
  for (size_t fd = 0; fd < t->cap; fd++) {
    cd__conn *c = t->items[fd];
    if (c != NULL && !c->tracked && !c->raw && !c->shut) track(t, c, (curl_socket_t)fd);
  }
}

/* `req` no longer sends on the connection it was counted on. Returns that
 * connection when it became idle, else NULL. */
static cd__conn *release_use(cd__conn_table *t, cd_request *req) {
  if (req->conn.lost) {
    req->conn.lost = false;
    t->lost--;
  }
  curl_socket_t fd = req->conn.fd;
  if (fd == CURL_SOCKET_BAD) return NULL;
  req->conn.fd = CURL_SOCKET_BAD;
  cd__conn *c = conn_at(t, fd);
  if (c == NULL || c->serial != req->conn.serial || c->users == 0) return NULL;
  if (--c->users > 0) return NULL;
  c->idle_since_ms = *t->clock;
  return c;
}

/* `req` is about to send on the connection with these ports. */
static void count_use(cd__conn_table *t, cd_request *req, int local_port, int peer_port) {
  release_use(t, req);  /* sent again, on another connection */
  /* A raw pipe's connection is its own (CONNECT_ONLY never reuses) and
   * never idle; a Unix socket has no port to be found by. */
  if ((req->flags & CD_REQ_RAW) || local_port <= 0) return;
  curl_socket_t fd = find_tracked(t, local_port, peer_port);
  if (fd == CURL_SOCKET_BAD) {
    track_pending(t);
    fd = find_tracked(t, local_port, peer_port);
  }
  if (fd == CURL_SOCKET_BAD) {
    /* not found: no connection may count as idle by itself while this
     * transfer runs */
    req->conn.lost = true;
    t->lost++;
    return;
  }
  cd__conn *c = t->items[fd];
  c->users++;
  if (c->limit != NULL) cd__limit_session_streams(c->limit, c->users);
  req->conn.fd = fd;
  req->conn.serial = c->serial;
}

curl_socket_t cd__conn_transfer_fd(cd__conn_table *t, cd_request *req) {
  curl_socket_t fd = req->conn.fd;
  cd__conn *c = conn_at(t, fd);
  return c != NULL && c->serial == req->conn.serial && !c->shut ? fd : CURL_SOCKET_BAD;
}

/* The connection no longer counts toward its `connections` limit. */
static void forget_session(cd__conn *c) {
  if (c == NULL || c->limit == NULL) return;
  cd__limit *l = c->limit;
  c->limit = NULL;
  cd__limit_session_closed(l, c->connected);
}

static curl_socket_t on_open(void *clientp, curlsocktype purpose, struct curl_sockaddr *addr) {
  cd_request *req = clientp;
  if (refuse_resend(req)) return CURL_SOCKET_BAD;
  curl_socket_t fd = socket(addr->family, addr->socktype, addr->protocol);
  if (fd == CURL_SOCKET_BAD || purpose != CURLSOCKTYPE_IPCXN) return fd;
  if ((req->flags & CD_REQ_SENDING) && !req->conn.connecting_told) {
    req->conn.connecting_told = true;
    /* out of memory: the owner learns of the connection with CONNECTED alone */
    (void)cd__emit(req, CD_EV_CONNECTING, NULL, 0);
  }
  cd__conn_table *t = req->conn.table;
  size_t origin_len = strlen(req->origin) + 1;
  cd__conn *c = malloc(sizeof(*c) + origin_len);
  /* Out of memory: the connection works, it just goes unreported. */
  if (c == NULL || cd__grow((void **)&t->items, &t->cap, (size_t)fd + 1, sizeof(*t->items), 64) != 0) {
    free(c);
    return fd;
  }
  /* a descriptor closed behind curl's back: stale */
  forget_session(t->items[fd]);
  untrack(t, fd);
  free(t->items[fd]);
  c->chan = req->chan;
  c->share = req->share;
  c->limit = req->lim.entry;
  if (c->limit != NULL) cd__limit_session_opened(c->limit);
  c->config_tag = req->config->tag;
  long ka = req->config->keepalive_timeout_ms;
  c->keepalive_ms = ka > 0 && ka < UINT32_MAX ? (uint32_t)ka : 0;
  c->connected = false;
  c->shut = false;
  c->raw = (req->flags & CD_REQ_RAW) != 0;
  c->tracked = false;
  c->users = 0;
  c->requests = 0;
  c->idle_since_ms = 0;
  c->serial = ++t->serial;
  memcpy(c->origin, req->origin, origin_len);
  t->items[fd] = c;
  if (req->conn.opened_len < CD__MAX_OPENED) req->conn.opened[req->conn.opened_len++] = fd;
  return fd;
}

/* The owner hears that a reported connection closed. */
static void report_closed(cd__conn *c) {
  if (!c->connected || c->chan == NULL) return;
  /* Out of memory: the close goes unreported (nothing waits for it). */
  cd_event *ev = cd__event_new(c->chan, NULL, CD_EV_DISCONNECTED, c->origin, strlen(c->origin));
  if (ev != NULL) {
    ev->a = (int32_t)c->config_tag;
    cd__channel_push_event(c->chan, ev);
  }
}

static void shut(cd__conn *c, curl_socket_t fd) {
  shutdown(fd, SHUT_RDWR);
  forget_session(c);  /* dead now, whenever libcurl gets to close it */
  report_closed(c);
  c->shut = true;
}

static int on_close(void *clientp, curl_socket_t fd) {
  cd__conn_table *t = clientp;
  cd__conn *c = conn_at(t, fd);
  if (c != NULL) {
    untrack(t, fd);
    t->items[fd] = NULL;
    forget_session(c);
    if (!c->shut) report_closed(c);
    free(c);
  }
  return close(fd);
}

/* What CONNECTED and SENDING say of a connection: "ip port local-ip
 * local-port", then " protocol" when TLS agreed one by ALPN. */
typedef struct cd__conn_info {
  char text[2 * 64 + 32 + 32];
  size_t len;
  int tls;                     /* enum cd__alpn_result */
} cd__conn_info;

static void describe(cd__conn_info *info, CURL *easy, const char *ip, int port,
                     const char *local_ip, int local_port) {
  char alpn[32];
  info->tls = cd__alpn_read(easy, alpn, sizeof(alpn));
  int n = snprintf(info->text, sizeof(info->text), "%s %d %s %d%s%s", ip, port, local_ip,
                   local_port, info->tls == CD__ALPN_AGREED ? " " : "", alpn);
  info->len = n > 0 && (size_t)n < sizeof(info->text) ? (size_t)n : 0;
}

static int tell(cd_request *req, int type, const cd__conn_info *info) {
  cd_event *ev = cd__event_new(req->chan, req, type, info->text, info->len);
  if (ev == NULL) return -1;
  ev->a = info->tls != CD__ALPN_PLAIN;
  cd__channel_push_event(req->chan, ev);
  return 0;
}

/* The transfer is about to send: if it opened the connection it sends on,
 * the owner hears of the new connection (CONNECTED); with CD_REQ_SENDING,
 * of the connection it sends on (SENDING), each time. */
static int on_prereq(void *clientp, char *ip, char *local_ip, int port, int local_port) {
  cd_request *req = clientp;
  if (refuse_resend(req)) return CURL_PREREQFUNC_ABORT;
  req->conn.sent = true;
  cd__conn_info info;
  bool described = false;
  for (unsigned i = 0; i < req->conn.opened_len; i++) {
    curl_socket_t fd = req->conn.opened[i];
    cd__conn *c = conn_at(req->conn.table, fd);
    struct sockaddr_storage peer;
    socklen_t len = sizeof(peer);
    if (c == NULL || c->connected || getpeername(fd, (struct sockaddr *)&peer, &len) != 0) continue;
    c->connected = true;
    track(req->conn.table, c, fd);
    if (c->limit != NULL) cd__limit_session_ready(c->limit);
    describe(&info, req->easy, ip, port, local_ip, local_port);
    described = true;
    if (tell(req, CD_EV_CONNECTED, &info) != 0) {
      req->error = CD_ERR_NO_MEMORY;
      return CURL_PREREQFUNC_ABORT;
    }
    break;
  }
  req->conn.opened_len = 0;
  count_use(req->conn.table, req, local_port, port);
  if (req->flags & CD_REQ_SENDING) {
    if (!described) describe(&info, req->easy, ip, port, local_ip, local_port);
    if (tell(req, CD_EV_SENDING, &info) != 0) {
      req->error = CD_ERR_NO_MEMORY;
      return CURL_PREREQFUNC_ABORT;
    }
  }
  return CURL_PREREQFUNC_OK;
}

void cd__conn_setup(cd__conn_table *table, cd_request *req, CURL *easy) {
  req->conn.table = table;
  req->conn.opened_len = 0;
  req->conn.sent = false;
  req->conn.connecting_told = false;
  req->conn.fd = CURL_SOCKET_BAD;
  req->conn.lost = false;
  curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, on_open);
  curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, req);
  curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, on_close);
  curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, table);
  curl_easy_setopt(easy, CURLOPT_PREREQFUNCTION, on_prereq);
  curl_easy_setopt(easy, CURLOPT_PREREQDATA, req);
}

static uint32_t apply_reuse_limits(cd__conn_table *t, cd_request *req);

uint32_t cd__conn_transfer_done(cd__conn_table *t, cd_request *req) {
  cd__conn *idle = release_use(t, req);
  uint32_t due = idle != NULL && !idle->shut ? idle->keepalive_ms : 0;
  uint32_t hinted = apply_reuse_limits(t, req);
  return hinted > 0 ? hinted : due;
}

/* The server's keep-alive hint, and the agent's limit of requests per
 * connection (maxRequestsPerClient), for the connection the transfer used:
 * closes it now when either leaves it no reuse, else shortens its
 * keepalive to the hint's. Returns that keepalive when it shortened it. */
static uint32_t apply_reuse_limits(cd__conn_table *t, cd_request *req) {
  if (req->easy == NULL) return 0;
  unsigned max_requests = req->config->max_requests_per_conn;
  if (req->resp.keepalive_hint_ms < 0 && max_requests == 0) return 0;
  curl_socket_t fd = CURL_SOCKET_BAD;
  /* the connection the transfer last used, while its handle is still in
   * the multi handle and the connection in the agent's cache */
  if (curl_easy_getinfo(req->easy, CURLINFO_ACTIVESOCKET, &fd) != CURLE_OK || fd == CURL_SOCKET_BAD) return 0;
  cd__conn *c = conn_at(t, (curl_socket_t)fd);
  if (c == NULL || c->shut) return 0;
  long version = 0;
  curl_easy_getinfo(req->easy, CURLINFO_HTTP_VERSION, &version);
  if (max_requests > 0 && version != CURL_HTTP_VERSION_2_0 && ++c->requests >= max_requests) {
    /* its last request: closed now, as one that says `connection: close` */
    shut(c, (curl_socket_t)fd);
    return 0;
  }
  if (req->resp.keepalive_hint_ms < 0) return 0;
  int64_t ka = req->resp.keepalive_hint_ms - req->config->keepalive_threshold_ms;
  if (ka <= 0) {
    /* No time left to reuse it safely (as undici): close it now, unless
     * other streams may still run on it. */
    if (version != CURL_HTTP_VERSION_2_0) shut(c, (curl_socket_t)fd);
    return 0;
  }
  if (c->keepalive_ms != 0 && (uint64_t)ka >= c->keepalive_ms) return 0;
  c->keepalive_ms = (uint32_t)ka;
  return c->keepalive_ms;
}

uint64_t cd__conn_sweep(cd__conn_table *t, uint64_t now_ms) {
  uint64_t next = UINT64_MAX;
  for (size_t fd = 0; fd < t->cap; fd++) {
    cd__conn *c = t->items[fd];
    if (c == NULL || !c->connected || c->shut || c->keepalive_ms == 0 || c->share == NULL) continue;
    uint64_t since;
    if (c->tracked && t->lost == 0) {
      if (c->users > 0) continue;
      since = c->idle_since_ms;
    } else {
      if (c->share->active > 0) continue;
      since = c->share->idle_since_ms;
    }
    uint64_t due = since + c->keepalive_ms;
    if (due <= now_ms) shut(c, (curl_socket_t)fd);
    else if (due < next) next = due;
  }
  return next;
}

size_t cd__conn_idle_waitfds(cd__conn_table *t, struct curl_waitfd *fds, size_t max) {
  size_t n = 0;
  if (t->lost > 0 || t->ports == NULL) return 0;
  /* by descriptor: the table is as long as the highest one, a few hundred
   * entries, fewer than the port buckets */
  for (size_t fd = 0; fd < t->cap && n < max; fd++) {
    cd__conn *c = t->items[fd];
    if (c == NULL || !c->tracked || c->users > 0 || c->shut || !c->connected) continue;
    fds[n].fd = (curl_socket_t)fd;
    fds[n].events = CURL_WAIT_POLLIN;
    fds[n].revents = 0;
    n++;
  }
  return n;
}

void cd__conn_idle_check(cd__conn_table *t, const struct curl_waitfd *fds, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (fds[i].revents == 0) continue;
    cd__conn *c = conn_at(t, fds[i].fd);
    /* still idle: nothing ran between the poll and here */
    if (c != NULL && c->tracked && c->users == 0 && !c->shut && t->lost == 0) shut(c, fds[i].fd);
  }
}

void cd__conn_forget_share(cd__conn_table *t, cd__share *share) {
  for (size_t i = 0; i < t->cap; i++)
    if (t->items[i] != NULL && t->items[i]->share == share) t->items[i]->share = NULL;
}

void cd__conn_forget_channel(cd__conn_table *t, cd_channel *chan) {
  for (size_t i = 0; i < t->cap; i++)
    if (t->items[i] != NULL && t->items[i]->chan == chan) t->items[i]->chan = NULL;
}

void cd__conn_table_free(cd__conn_table *t) {
  for (size_t i = 0; i < t->cap; i++) free(t->items[i]);
  free(t->items);
  free(t->ports);
  t->items = NULL;
  t->ports = NULL;
  t->cap = 0;
}
