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
#include "cd_internal.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

/* One open socket. Ownership and threading: its worker only; indexed by
 * descriptor in worker->conns. `chan` is cleared (the entry forgotten) when
 * the owner detaches, before the channel is freed. */
typedef struct cd_conn {
  cd_channel *chan;
  uint32_t config_tag;
  bool connected;            /* a transfer got to send on it */
  char origin[];
} cd_conn;

static cd_worker *conn_worker(cd_request *req) {
  return req->chan->worker;
}

static int conns_reserve(cd_worker *w, size_t fd) {
  if (fd < w->conns_cap) return 0;
  size_t cap = w->conns_cap ? w->conns_cap : 64;
  while (cap <= fd) cap *= 2;
  cd_conn **c = realloc(w->conns, cap * sizeof(*c));
  if (c == NULL) return -1;
  memset(c + w->conns_cap, 0, (cap - w->conns_cap) * sizeof(*c));
  w->conns = c;
  w->conns_cap = cap;
  return 0;
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
  cd_worker *w = conn_worker(req);
  size_t origin_len = strlen(req->origin) + 1;
  cd_conn *c = malloc(sizeof(*c) + origin_len);
  /* Out of memory: the connection works, it just goes unreported. */
  if (c == NULL || conns_reserve(w, (size_t)fd) != 0) {
    free(c);
    return fd;
  }
  free(w->conns[fd]);  /* a descriptor closed behind curl's back: stale */
  c->chan = req->chan;
  c->config_tag = req->config->tag;
  c->connected = false;
  memcpy(c->origin, req->origin, origin_len);
  w->conns[fd] = c;
  if (req->opened_len < CD_MAX_OPENED) req->opened[req->opened_len++] = fd;
  return fd;
}

static int on_close(void *clientp, curl_socket_t fd) {
  cd_worker *w = clientp;
  if (fd >= 0 && (size_t)fd < w->conns_cap && w->conns[fd] != NULL) {
    cd_conn *c = w->conns[fd];
    w->conns[fd] = NULL;
    if (c->connected && c->chan != NULL) {
      cd_event *ev = cd_event_new_env(c->chan, CD_EV_DISCONNECTED, c->origin, strlen(c->origin));
      if (ev != NULL) {
        ev->a = (int32_t)c->config_tag;
        cd_worker_push_event(w, c->chan, ev);
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
  cd_worker *w = conn_worker(req);
  if (refuse_resend(req)) return CURL_PREREQFUNC_ABORT;
  req->sent = true;
  for (unsigned i = 0; i < req->opened_len; i++) {
    curl_socket_t fd = req->opened[i];
    cd_conn *c = (size_t)fd < w->conns_cap ? w->conns[fd] : NULL;
    struct sockaddr_storage peer;
    socklen_t len = sizeof(peer);
    if (c == NULL || c->connected || getpeername(fd, (struct sockaddr *)&peer, &len) != 0) continue;
    c->connected = true;
    char info[2 * 64 + 32];
    int n = snprintf(info, sizeof(info), "%s %d %s %d", ip, port, local_ip, local_port);
    cd_event *ev = cd_event_new(req, CD_EV_CONNECTED, info, n > 0 && (size_t)n < sizeof(info) ? (size_t)n : 0);
    if (ev == NULL) abort();  /* as every per-request event: cannot be dropped */
    cd_worker_push_event(w, req->chan, ev);
    break;
  }
  req->opened_len = 0;
  return CURL_PREREQFUNC_OK;
}

void cd_conn_setup(cd_request *req, CURL *easy) {
  req->opened_len = 0;
  req->sent = false;
  curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, on_open);
  curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, req);
  curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, on_close);
  curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, conn_worker(req));
  curl_easy_setopt(easy, CURLOPT_PREREQFUNCTION, on_prereq);
  curl_easy_setopt(easy, CURLOPT_PREREQDATA, req);
}

void cd_conn_forget_channel(cd_worker *w, cd_channel *chan) {
  for (size_t i = 0; i < w->conns_cap; i++)
    if (w->conns[i] != NULL && w->conns[i]->chan == chan) w->conns[i]->chan = NULL;
}

void cd_conn_free_all(cd_worker *w) {
  for (size_t i = 0; i < w->conns_cap; i++) free(w->conns[i]);
  free(w->conns);
  w->conns = NULL;
  w->conns_cap = 0;
}
