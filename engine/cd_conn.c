/* cd_conn.c - which agent and origin each open connection belongs to, so
 * that owners learn when connections open (CD_EV_CONNECTED, on the request
 * that opened it) and close (CD_EV_DISCONNECTED, an environment-level event).
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
 * it, and closes the descriptor when it next looks. Only connections of an
 * agent with no transfer on this worker are swept: libcurl gives no way to
 * tell which connection a running transfer uses, so "the agent is quiet
 * here" is what makes a connection certainly idle. A busy agent's surplus
 * idle connections are left to libcurl's own pruning (CURLOPT_MAXAGE_CONN,
 * checked at each new transfer).
 */
#include "cd_conn.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

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
  bool connected;            /* a transfer got to send on it */
  bool shut;                 /* closed by the sweep, already reported */
  char origin[];
} cd__conn;

static cd__conn *conn_at(cd__conn_table *t, curl_socket_t fd) {
  return fd >= 0 && (size_t)fd < t->cap ? t->items[fd] : NULL;
}

/* libcurl sends a request again, on another connection, when the reused
 * connection it went out on closes before any response byte: right for
 * idempotent requests, not for the others, which must fail instead. */
static int refuse_resend(cd_request *req) {
  if (!req->sent || !(req->flags & CD_REQ_NO_RETRY)) return 0;
  req->error = CD_ERR_CONNECTION_LOST;
  return 1;
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
  cd__conn_table *t = req->conn_table;
  size_t origin_len = strlen(req->origin) + 1;
  cd__conn *c = malloc(sizeof(*c) + origin_len);
  /* Out of memory: the connection works, it just goes unreported. */
  if (c == NULL || cd__grow((void **)&t->items, &t->cap, (size_t)fd + 1, sizeof(*t->items), 64) != 0) {
    free(c);
    return fd;
  }
  forget_session(t->items[fd]);  /* a descriptor closed behind curl's back: stale */
  free(t->items[fd]);
  c->chan = req->chan;
  c->share = req->share;
  c->limit = req->limit;
  if (c->limit != NULL) cd__limit_session_opened(c->limit);
  c->config_tag = req->config->tag;
  long ka = req->config->keepalive_timeout_ms;
  c->keepalive_ms = ka > 0 && ka < UINT32_MAX ? (uint32_t)ka : 0;
  c->connected = false;
  c->shut = false;
  memcpy(c->origin, req->origin, origin_len);
  t->items[fd] = c;
  if (req->opened_len < CD__MAX_OPENED) req->opened[req->opened_len++] = fd;
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
    t->items[fd] = NULL;
    forget_session(c);
    if (!c->shut) report_closed(c);
    free(c);
  }
  return close(fd);
}

/* The transfer is about to send: if it opened the connection it sends on,
 * the owner hears of the new connection (payload "ip port local-ip local-port"). */
static int on_prereq(void *clientp, char *ip, char *local_ip, int port, int local_port) {
  cd_request *req = clientp;
  if (refuse_resend(req)) return CURL_PREREQFUNC_ABORT;
  req->sent = true;
  for (unsigned i = 0; i < req->opened_len; i++) {
    curl_socket_t fd = req->opened[i];
    cd__conn *c = conn_at(req->conn_table, fd);
    struct sockaddr_storage peer;
    socklen_t len = sizeof(peer);
    if (c == NULL || c->connected || getpeername(fd, (struct sockaddr *)&peer, &len) != 0) continue;
    c->connected = true;
    if (c->limit != NULL) cd__limit_session_ready(c->limit);
    char info[2 * 64 + 32];
    int n = snprintf(info, sizeof(info), "%s %d %s %d", ip, port, local_ip, local_port);
    if (cd__emit(req, CD_EV_CONNECTED, info, n > 0 && (size_t)n < sizeof(info) ? (size_t)n : 0) != 0) {
      req->error = CD_ERR_NO_MEMORY;
      return CURL_PREREQFUNC_ABORT;
    }
    break;
  }
  req->opened_len = 0;
  return CURL_PREREQFUNC_OK;
}

void cd__conn_setup(cd__conn_table *table, cd_request *req, CURL *easy) {
  req->conn_table = table;
  req->opened_len = 0;
  req->sent = false;
  curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, on_open);
  curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, req);
  curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, on_close);
  curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, table);
  curl_easy_setopt(easy, CURLOPT_PREREQFUNCTION, on_prereq);
  curl_easy_setopt(easy, CURLOPT_PREREQDATA, req);
}

uint32_t cd__conn_transfer_done(cd__conn_table *t, cd_request *req) {
  if (req->keepalive_hint_ms < 0 || req->easy == NULL) return 0;
  curl_socket_t fd = CURL_SOCKET_BAD;
  /* the connection the transfer last used, while its handle is still in
   * the multi handle and the connection in the agent's cache */
  if (curl_easy_getinfo(req->easy, CURLINFO_ACTIVESOCKET, &fd) != CURLE_OK || fd == CURL_SOCKET_BAD) return 0;
  cd__conn *c = conn_at(t, (curl_socket_t)fd);
  if (c == NULL || c->shut) return 0;
  int64_t ka = req->keepalive_hint_ms - req->config->keepalive_threshold_ms;
  long version = 0;
  curl_easy_getinfo(req->easy, CURLINFO_HTTP_VERSION, &version);
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
    if (c == NULL || !c->connected || c->shut || c->keepalive_ms == 0 || c->share == NULL ||
        c->share->active > 0)
      continue;
    uint64_t due = c->share->idle_since_ms + c->keepalive_ms;
    if (due <= now_ms) shut(c, (curl_socket_t)fd);
    else if (due < next) next = due;
  }
  return next;
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
  t->items = NULL;
  t->cap = 0;
}
