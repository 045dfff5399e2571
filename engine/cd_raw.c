/* cd_raw.c - raw connections, for HTTP Upgrade (WebSocket) and CONNECT.
 *
 * A request submitted with CD_REQ_RAW is a CURLOPT_CONNECT_ONLY transfer:
 * libcurl resolves, connects, goes through the proxy and does TLS, then
 * the transfer is "done" and the connection is left to this file. From
 * then on the request is a byte pipe: its body chunks (the owner writes
 * the HTTP request head first, then whatever the user writes) go out with
 * curl_easy_send, and every byte curl_easy_recv returns comes back as DATA
 * events; the owner does the HTTP framing. The peer closing is END; the
 * owner's abort closes the connection.
 *
 * Threading: the worker only. The connection stays attached to its easy
 * handle, which stays in the multi handle (curl_easy_send/recv find the
 * connection through it) until transfer_finish removes it, which closes
 * the connection.
 */
#include "cd_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define CD_RAW_READ CD_EVENT_LARGE  /* bytes per DATA event */

void cd_raw_setup(cd_request *req, CURL *easy) {
  (void)req;
  curl_easy_setopt(easy, CURLOPT_CONNECT_ONLY, 1L);
}

void cd_raw_open(cd_worker *w, cd_request *req) {
  curl_socket_t fd = CURL_SOCKET_BAD;
  curl_easy_getinfo(req->easy, CURLINFO_ACTIVESOCKET, &fd);
  req->raw_fd = fd;
  req->raw_open = true;
  cd_timer_heap_remove(&w->timers, &req->timer);  /* the owner times the response head */
  req->deadline_ms = 0;
  cds_list_add_tail(&req->raw_node, &w->raw);
  /* As undici: an upgraded connection leaves the origin's pool. */
  cd_limit_release(w, req);
}

void cd_raw_close(cd_request *req) {
  if (!req->raw_open) return;
  req->raw_open = false;
  cds_list_del_init(&req->raw_node);
}

static void raw_fail(cd_worker *w, cd_request *req, CURLcode code) {
  cd_transfer_fail(w, req, (int)code, req->errbuf[0] ? req->errbuf : curl_easy_strerror(code));
}

/* Sends queued chunks until the socket would block. Returns 0, or -1 when
 * the request was finished (failed). */
static int raw_send(cd_worker *w, cd_request *req) {
  while (req->body_head != NULL) {
    cd_chunk *c = req->body_head;
    if (c->off < c->len) {
      size_t sent = 0;
      CURLcode rc = curl_easy_send(req->easy, c->data + c->off, c->len - c->off, &sent);
      if (rc == CURLE_AGAIN) {
        req->raw_want_write = true;
        return 0;
      }
      if (rc != CURLE_OK) {
        raw_fail(w, req, rc);
        return -1;
      }
      c->off += sent;
      if (c->off < c->len) continue;
    }
    req->body_head = c->next;
    if (req->body_head == NULL) req->body_tail = NULL;
    free(c);
    cd_stat_add(&cd_live.commands, -1);
  }
  req->raw_want_write = false;
  if (req->body_done && !req->raw_shut) {
    /* The owner ended its side. Plain TCP can say so; TLS through
     * libcurl cannot, so the connection stays as is until the peer ends. */
    req->raw_shut = true;
    if (strncmp(req->url, "http:", 5) == 0 && !(req->flags & CD_REQ_PROXY)) shutdown(req->raw_fd, SHUT_WR);
  }
  if (!req->body_wanted && !req->body_done) {
    req->body_wanted = true;
    cd_worker_push_event(w, req->chan, cd_event_new(req, CD_EV_BODY_WANTED, NULL, 0));
  }
  return 0;
}

/* Reads until the socket would block, the owner paused, or its event ring
 * filled up. Returns 0, or -1 when the request was finished. */
static int raw_recv(cd_worker *w, cd_request *req) {
  char buf[CD_RAW_READ];
  for (;;) {
    if (atomic_load_explicit(&req->paused, memory_order_relaxed) || req->chan->overflow_head != NULL) return 0;
    size_t n = 0;
    CURLcode rc = curl_easy_recv(req->easy, buf, sizeof(buf), &n);
    if (rc == CURLE_AGAIN) return 0;
    if (rc != CURLE_OK) {
      raw_fail(w, req, rc);
      return -1;
    }
    if (n == 0) {
      cd_transfer_end(w, req);  /* the peer closed */
      return -1;
    }
    cd_event *ev = cd_event_new(req, CD_EV_DATA, buf, n);
    if (ev == NULL) abort();
    cd_worker_push_event(w, req->chan, ev);
  }
}

void cd_raw_pump(cd_worker *w) {
  cd_request *req, *tmp;
  cds_list_for_each_entry_safe(req, tmp, &w->raw, raw_node) {
    if (raw_send(w, req) == 0) raw_recv(w, req);
  }
}

size_t cd_raw_waitfds(cd_worker *w, struct curl_waitfd *fds, size_t max) {
  size_t n = 0;
  cd_request *req;
  cds_list_for_each_entry(req, &w->raw, raw_node) {
    if (n == max) break;
    short events = 0;
    if (!atomic_load_explicit(&req->paused, memory_order_relaxed) && req->chan->overflow_head == NULL)
      events |= CURL_WAIT_POLLIN;
    if (req->raw_want_write) events |= CURL_WAIT_POLLOUT;
    if (events == 0) continue;
    fds[n].fd = req->raw_fd;
    fds[n].events = events;
    fds[n].revents = 0;
    n++;
  }
  return n;
}
