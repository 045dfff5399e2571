/* cd_conn.c - which agent and origin each open connection belongs to, so
 * that owners learn when connections open (CD_EV_CONNECTED, on the request
 * that opened it) and close (CD_EV_DISCONNECTED, an environment-level event).
 *
 * libcurl has no connection events of its own. Its socket callbacks do:
 * every socket a transfer opens goes through on_open (recorded, not yet a
 * connection), the transfer's prerequisite callback says when it is ready
 * to send (connected, TLS and proxy tunnel done), and every socket closes
 * through on_close, whatever transfer or share cleanup closes it.
 */
#include "cd_conn.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "cd_config.h"
#include "cd_grow.h"

/* One open socket. Ownership and threading: its worker only; indexed by
 * descriptor in the worker's cd__conn_table. `chan` is cleared (the entry forgotten) when
 * the owner detaches, before the channel is freed. */
typedef struct cd__conn {
  cd_channel *chan;
  uint32_t config_tag;
  bool connected;            /* a transfer got to send on it */
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
  free(t->items[fd]);  /* a descriptor closed behind curl's back: stale */
  c->chan = req->chan;
  c->config_tag = req->config->tag;
  c->connected = false;
  memcpy(c->origin, req->origin, origin_len);
  t->items[fd] = c;
  if (req->opened_len < CD__MAX_OPENED) req->opened[req->opened_len++] = fd;
  return fd;
}

static int on_close(void *clientp, curl_socket_t fd) {
  cd__conn_table *t = clientp;
  cd__conn *c = conn_at(t, fd);
  if (c != NULL) {
    t->items[fd] = NULL;
    if (c->connected && c->chan != NULL) {
      /* Out of memory: the close goes unreported (nothing waits for it). */
      cd_event *ev = cd__event_new(c->chan, NULL, CD_EV_DISCONNECTED, c->origin, strlen(c->origin));
      if (ev != NULL) {
        ev->a = (int32_t)c->config_tag;
        cd__channel_push_event(c->chan, ev);
      }
    }
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
