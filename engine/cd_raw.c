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
 * connection through it) until cd__transfer_end removes it, which closes
 * the connection.
 */
#include "cd_raw.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "cd_channel.h"
#include "cd_pause.h"
#include "cd_timer.h"
#include "cd_transfer.h"

#define CD__RAW_READ CD__EVENT_LARGE  /* bytes per DATA event */

void cd__raw_open(cd__worker *w, cd_request *req) {
  curl_socket_t fd = CURL_SOCKET_BAD;
  curl_easy_getinfo(req->easy, CURLINFO_ACTIVESOCKET, &fd);
  req->raw.fd = fd;
  req->raw.open = true;
  cd__timer_heap_remove(&w->timers, &req->timer);  /* the owner times the response head */
  req->deadline_ms = 0;
  cds_list_add_tail(&req->raw.node, &w->raw);
  /* As undici: an upgraded connection leaves the origin's pool. */
  cd__transfer_release_slot(w, req);
}

void cd__raw_close(cd__worker *w, cd_request *req) {
  (void)w;
  if (!req->raw.open) return;
  req->raw.open = false;
  cds_list_del_init(&req->raw.node);
}

/* The pipe failed or the peer closed it: the request ends. */
static void raw_end(cd__worker *w, cd_request *req, int how) {
  cd__raw_close(w, req);
  cd__transfer_end(w, req, how);
}

/* Sends queued chunks until the socket would block. Returns 0, or -1 when
 * the request was finished (failed). */
static int raw_send(cd__worker *w, cd_request *req) {
  while (req->upload.head != NULL) {
    cd__chunk *c = req->upload.head;
    if (c->off < c->len) {
      size_t sent = 0;
      CURLcode rc = curl_easy_send(req->easy, c->data + c->off, c->len - c->off, &sent);
      if (rc == CURLE_AGAIN) {
        req->raw.want_write = true;
        return 0;
      }
      if (rc != CURLE_OK) {
        raw_end(w, req, (int)rc);
        return -1;
      }
      c->off += sent;
      if (c->off < c->len) continue;
    }
    req->upload.head = c->next;
    if (req->upload.head == NULL) req->upload.tail = NULL;
    cd__chunk_free(c);
  }
  req->raw.want_write = false;
  if (req->upload.queued_all && !req->raw.shut) {
    /* The owner ended its side. Plain TCP can say so; TLS through
     * libcurl cannot, so the connection stays as is until the peer ends. */
    req->raw.shut = true;
    if (strncmp(req->url, "http:", 5) == 0 && !(req->flags & CD_REQ_PROXY)) shutdown(req->raw.fd, SHUT_WR);
  }
  if (!req->upload.wanted && !req->upload.queued_all) {
    req->upload.wanted = true;
    if (cd__emit(req, CD_EV_BODY_WANTED, NULL, 0) != 0) {
      raw_end(w, req, CD_ERR_NO_MEMORY);
      return -1;
    }
  }
  return 0;
}

/* Reads until the socket would block, the owner paused, or its event ring
 * filled up. Returns 0, or -1 when the request was finished. */
static int raw_recv(cd__worker *w, cd_request *req) {
  char buf[CD__RAW_READ];
  for (;;) {
    if (cd__pause_recv_reason(req) != 0) return 0;
    size_t n = 0;
    CURLcode rc = curl_easy_recv(req->easy, buf, sizeof(buf), &n);
    if (rc == CURLE_AGAIN) return 0;
    if (rc != CURLE_OK) {
      raw_end(w, req, (int)rc);
      return -1;
    }
    if (n == 0) {
      raw_end(w, req, CURLE_OK);  /* the peer closed */
      return -1;
    }
    if (cd__emit(req, CD_EV_DATA, buf, n) != 0) {
      raw_end(w, req, CD_ERR_NO_MEMORY);  /* nothing can be dropped from a byte pipe */
      return -1;
    }
  }
}

void cd__raw_pump(cd__worker *w) {
  cd_request *req, *tmp;
  cds_list_for_each_entry_safe(req, tmp, &w->raw, raw.node) {
    if (raw_send(w, req) == 0) raw_recv(w, req);
  }
}

size_t cd__raw_waitfds(cd__worker *w, struct curl_waitfd *fds, size_t max) {
  size_t n = 0;
  cd_request *req;
  cds_list_for_each_entry(req, &w->raw, raw.node) {
    if (n == max) break;
    short events = 0;
    if (cd__pause_recv_reason(req) == 0) events |= CURL_WAIT_POLLIN;
    if (req->raw.want_write) events |= CURL_WAIT_POLLOUT;
    if (events == 0) continue;
    fds[n].fd = req->raw.fd;
    fds[n].events = events;
    fds[n].revents = 0;
    n++;
  }
  return n;
}
