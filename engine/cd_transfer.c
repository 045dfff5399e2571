/* cd_transfer.c - one request on a worker (see cd_transfer.h). */
#include "cd_transfer.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <urcu/list.h>

#include "cd_bodydec.h"
#include "cd_channel.h"
#include "cd_config.h"
#include "cd_conn.h"
#include "cd_data.h"
#include "cd_errclass.h"
#include "cd_grow.h"
#include "cd_head.h"
#include "cd_limit.h"
#include "cd_options.h"
#include "cd_pause.h"
#include "cd_pool.h"
#include "cd_share.h"
#include "cd_stats.h"
#include "cd_timer.h"
#include "cd_timings.h"
#include "cd_upwait.h"

/* ---- small helpers ------------------------------------------------------- */

static int buf_append(char **buf, size_t *len, size_t *cap, const char *data, size_t n) {
  if (cd__grow((void **)buf, cap, *len + n + 1, 1, 256) != 0) return -1;
  memcpy(*buf + *len, data, n);
  *len += n;
  (*buf)[*len] = '\0';
  return 0;
}

static void arm_deadline(cd__worker *w, cd_request *req, uint32_t timeout_ms) {
  if (timeout_ms == 0) {
    req->deadline_ms = 0;
    cd__timer_heap_remove(&w->timers, &req->timer);
    return;
  }
  req->deadline_ms = w->now_ms + timeout_ms;
  /* Body data moves the deadline later, often: the heap is only touched
   * when the node is not armed or must fire earlier; a node that fires
   * early is re-armed in cd_transfer_timeout. */
  if ((req->timer.index == CD__TIMER_INACTIVE || req->deadline_ms < req->timer.deadline_ms) &&
      cd__timer_heap_set(&w->timers, &req->timer, req->deadline_ms) != 0)
    abort();
}

/* ---- connection limit ------------------------------------------------------ */

static int transfer_run(cd__worker *w, cd_request *req);

void cd__transfer_release_slot(cd__worker *w, cd_request *req) {
  cd__limit *l = cd__limit_release(req);
  if (l == NULL) return;
  cd_request *next;
  l->pins++;  /* a failing transfer_run releases again: keep `l` meanwhile */
  while ((next = cd__limit_next(l)) != NULL) transfer_run(w, next);
  l->pins--;
  cd__limit_gc(&w->limits, l);
}

void cd__transfer_fill_limits(cd__worker *w) {
  while (!cds_list_empty(&w->limits.grown)) {
    cd__limit *l = cds_list_entry(w->limits.grown.next, cd__limit, grown_node);
    cds_list_del_init(&l->grown_node);
    cd_request *next;
    l->pins++;
    while ((next = cd__limit_next(l)) != NULL) transfer_run(w, next);
    l->pins--;
    cd__limit_gc(&w->limits, l);
  }
}

/* ---- callbacks ------------------------------------------------------------- */

/* The whole response is here while the request body is still going out:
 * a server that stopped reading it would hold the transfer until
 * bodyTimeout. The worker ends it, dropping the connection, unless the
 * upload finishes within a short grace: the rest of a body is often already
 * queued or on its way from the owner (a chunked body's end follows its
 * last chunk), and a finished upload keeps the connection. (undici drops it
 * when its socket is still writing.) */
static void arm_early(cd__worker *w, cd_request *req) {
  if (req->body_mode != CD_BODY_STREAM || req->upload.read_all || req->early_done) return;
  req->early_done = true;
  req->early_deadline_ms = w->now_ms + CD__EARLY_GRACE_MS;
  cds_list_add_tail(&req->early_node, &w->early);
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *userdata) {
  cd_request *req = userdata;
  cd__worker *w = req->worker;
  size_t n = size * nmemb;
  int blank = (n == 2 && ptr[0] == '\r' && ptr[1] == '\n') || (n == 1 && ptr[0] == '\n');

  if (req->resp.final_headers) {
    /* After the final block, header lines are trailers (chunked encoding). */
    if (!blank && buf_append(&req->resp.trailers, &req->resp.trailers_len, &req->resp.trailers_cap, ptr, n) != 0) {
      req->error = CD_ERR_NO_MEMORY;
      return 0;
    }
    return n;
  }
  if (!blank) {
    if (req->resp.hdr_len + n > req->config->max_header_size) {
      req->error = CD_ERR_HEADERS_OVERFLOW;
      return 0;  /* makes curl fail the transfer with CURLE_WRITE_ERROR */
    }
    if (buf_append(&req->resp.hdr, &req->resp.hdr_len, &req->resp.hdr_cap, ptr, n) != 0) {
      req->error = CD_ERR_NO_MEMORY;
      return 0;
    }
    return n;
  }

  /* End of a header block: a 1xx or the final one. */
  long status = 0;
  const char *sp = req->resp.hdr ? memchr(req->resp.hdr, ' ', req->resp.hdr_len) : NULL;
  if (sp != NULL) status = strtol(sp + 1, NULL, 10);
  if (status >= 200 && req->resp.hdr != NULL && cd__head_ambiguous_length(req->resp.hdr, req->resp.hdr_len, &req->resp.length, &req->resp.coded)) {
    req->error = CD_ERR_AMBIGUOUS_LENGTH;
    return 0;
  }
  int decoded = 0;
  if (status >= 200 && req->resp.hdr != NULL) {
    decoded = cd__bodydec_start(req, status, req->resp.hdr, req->resp.hdr_len);
    if (decoded < 0) {
      req->error = decoded == -1 ? CD_ERR_DECODE : CD_ERR_NO_MEMORY;
      return 0;
    }
  }
  cd_event *ev = cd__event_new(req->chan, req, CD_EV_HEADERS, req->resp.hdr, req->resp.hdr_len);
  if (ev == NULL) {
    req->error = CD_ERR_NO_MEMORY;
    return 0;
  }
  ev->a = (int32_t)status;
  ev->b = req->resp.hdr ? cd__head_version(req->resp.hdr) : 0;
  ev->d = -1;
  if (status >= 200) req->resp.version = ev->b;
  if (status >= 200 && req->resp.hdr != NULL) {
    /* the owner's reading of the head too: it parses the fields only to
     * hand them over */
    ev->c = (int32_t)cd__head_facts(req->resp.hdr, req->resp.hdr_len, &req->resp.keepalive_hint_ms);
    ev->d = (int32_t)req->resp.keepalive_hint_ms;
    if (decoded) ev->c |= CD_HEAD_DECODED;
  }
  req->resp.hdr_len = 0;
  if (status >= 200 && ev->b == 20) {
    /* The origin multiplexes: `connections` now counts sessions. */
    cd__limit_multiplexed(req);
  }
  if (status >= 200 || status == 101) {
    req->resp.final_headers = true;
    arm_deadline(w, req, req->body_timeout_ms);
    /* a response without a body is complete with its head */
    if (status >= 200 && (req->resp.length == 0 || status == 204 || status == 304 || strcmp(req->method, "HEAD") == 0))
      arm_early(w, req);
  }
  cd__channel_push_event(req->chan, ev);
  return n;
}

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *userdata) {
  cd_request *req = userdata;
  cd__worker *w = req->worker;
  size_t n = size * nmemb;

  unsigned reason = cd__pause_recv_reason(req);
  if (reason != 0) {
    /* paused time does not count toward bodyTimeout */
    if (reason == CD__PAUSE_OWNER) req->deadline_ms = 0;
    return cd__pause_hold_recv(req, reason);
  }
  if (n == 0) return 0;
  if (req->dec.decoder != NULL) {
    size_t taken = cd__bodydec_write(w, req, ptr, n);
    if (taken == 0) return 0;
    if (req->body_timeout_ms) req->deadline_ms = w->now_ms + req->body_timeout_ms;
    if (taken == n && req->resp.length >= 0 && req->resp.received >= req->resp.length) arm_early(w, req);
    return taken;
  }
  if (cd__data_queue(w, req, ptr, n) != 0) {
    req->error = CD_ERR_NO_MEMORY;
    return 0;  /* makes curl fail the transfer */
  }
  if (req->body_timeout_ms) req->deadline_ms = w->now_ms + req->body_timeout_ms;
  req->resp.received += (int64_t)n;
  if (req->resp.length >= 0 && req->resp.received >= req->resp.length) arm_early(w, req);
  return n;
}

uint64_t cd__transfer_end_early(cd__worker *w) {
  cd_request *req, *tmp;
  /* In the order they were added, so in deadline order: the first one
   * still in its grace is the next deadline. A transfer that completes
   * meanwhile has left the list (transfer_release). */
  cds_list_for_each_entry_safe(req, tmp, &w->early, early_node) {
    if (req->state == CD__T_RUNNING && req->early_deadline_ms > w->now_ms) return req->early_deadline_ms;
    cds_list_del_init(&req->early_node);
    if (req->state != CD__T_RUNNING) continue;
    cd__transfer_end(w, req, CURLE_OK);
  }
  return UINT64_MAX;
}

/* The body goes to libcurl as the owner wrote it. A body of known length
 * has no framing of its own, so the writes queued are packed into each
 * read; a chunked one gets at most one write per read, because libcurl
 * frames each read as one chunk and the owner's writes are the chunks
 * undici and node:http would send (a server sees them as its `data`
 * events). */
static size_t on_read(char *buf, size_t size, size_t nitems, void *userdata) {
  cd_request *req = userdata;
  size_t max = size * nitems, copied = 0;
  int chunked = req->body_length < 0;

  while (copied < max && req->upload.head != NULL) {
    cd__chunk *c = req->upload.head;
    size_t take = c->len - c->off;
    if (take > max - copied) take = max - copied;
    memcpy(buf + copied, c->data + c->off, take);
    c->off += take;
    copied += take;
    if (c->off == c->len) {
      req->upload.head = c->next;
      if (req->upload.head == NULL) req->upload.tail = NULL;
      cd__chunk_free(c);
      if (chunked) break;
    }
  }
  if (copied > 0) return copied;
  if (req->upload.queued_all) {
    req->upload.read_all = true;
    return 0;  /* end of body */
  }
  if (!req->upload.wanted) {
    req->upload.wanted = true;
    if (cd__emit(req, CD_EV_BODY_WANTED, NULL, 0) != 0) {
      req->error = CD_ERR_NO_MEMORY;
      return CURL_READFUNC_ABORT;
    }
  }
  return cd__pause_hold_send(req);
}

/* ---- an upload waiting for the owner on a connection the server closed ---- */

void cd__transfer_check_upload_waits(cd__worker *w) {
  cd_request *req, *tmp;
  cds_list_for_each_entry_safe(req, tmp, &w->upload_waits, upwait.node) {
    /* a response the owner holds back is libcurl's to read first */
    if (req->state != CD__T_RUNNING || (req->pause & CD__PAUSE_HELD_RECV)) continue;
    curl_socket_t fd = cd__conn_transfer_fd(&w->conns, req);
    if (fd == CURL_SOCKET_BAD || !cd__upwait_hung_up(req, fd)) continue;
    cd__pause_forget(req);
    bool complete = req->resp.final_headers &&
                    (req->resp.length >= 0 ? req->resp.received >= req->resp.length
                                           : !req->resp.coded && req->resp.version < 20);
    cd__transfer_end(w, req, complete ? CURLE_OK : req->resp.final_headers ? CURLE_PARTIAL_FILE : CURLE_GOT_NOTHING);
  }
}

/* ---- lifecycle --------------------------------------------------------------- */

/* The request's options, then the callbacks that turn libcurl's work into
 * events. */
static void setup_easy(cd__worker *w, cd_request *req, CURL *e) {
  cd__options_request(w, req, e);
  curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)req);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, req);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, req);
  if (req->body_mode == CD_BODY_STREAM && req->body_data != NULL) {
    req->upload.queued_all = true;  /* all of it in CURLOPT_POSTFIELDS */
  } else if (req->body_mode == CD_BODY_STREAM) {
    curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(e, CURLOPT_READDATA, req);
    if (req->body_length == 0) req->upload.queued_all = true;
  }
  cd__conn_setup(&w->conns, req, e);
}

/* The terminal ERROR event. `code` is one of the engine's own (< 0), or
 * the CURLcode libcurl failed the transfer with (> 0): that one goes out in
 * d, and in a unless cd__errclass classes it as an engine code. */
static void emit_error(cd_request *req, int code, const char *message) {
  cd_event *ev = cd__event_new_terminal(req, CD_EV_ERROR, message, strlen(message));
  ev->a = code;
  if (req->easy != NULL) {
    long os_errno = 0, verify = 0;
    curl_off_t connect_time = 0, pretransfer_time = 0;
    curl_easy_getinfo(req->easy, CURLINFO_OS_ERRNO, &os_errno);
    curl_easy_getinfo(req->easy, CURLINFO_SSL_VERIFYRESULT, &verify);
    curl_easy_getinfo(req->easy, CURLINFO_CONNECT_TIME_T, &connect_time);
    /* A reused connection has no connect time, but got as far as sending. */
    curl_easy_getinfo(req->easy, CURLINFO_PRETRANSFER_TIME_T, &pretransfer_time);
    long connect_code = 0;
    curl_easy_getinfo(req->easy, CURLINFO_HTTP_CONNECTCODE, &connect_code);
    ev->b = (int32_t)os_errno;
    ev->c = (int32_t)verify;
    if (connect_time > 0 || pretransfer_time > 0) ev->d |= CD_ERRF_CONNECTED;
    ev->d |= (int32_t)(connect_code & CD_ERRF_CONNECT_STATUS_MASK) << CD_ERRF_CONNECT_STATUS_SHIFT;
  }
  if (req->resp.final_headers) ev->d |= CD_ERRF_HEADERS;
  if (code > 0 && code <= INT32_MAX >> CD_ERRF_CURL_CODE_SHIFT) {
    ev->a = cd__errclass(code, (long)ev->b, req->resp.final_headers, message);
    ev->d |= (int32_t)code << CD_ERRF_CURL_CODE_SHIFT;
  }
  cd__channel_push_event(req->chan, ev);
}

/* Everything a transfer holds on the worker goes, and the worker's
 * reference with it. */
/* The idle-connection sweep (cd__conn_sweep) runs in `ms` at the latest. */
static void schedule_sweep(cd__worker *w, uint64_t ms) {
  if (w->now_ms + ms < w->conn_sweep_ms) w->conn_sweep_ms = w->now_ms + ms;
}

static void transfer_release(cd__worker *w, cd_request *req) {
  cd__timer_heap_remove(&w->timers, &req->timer);
  if (req->lim.queued) {
    cds_list_del_init(&req->lim.wait_node);
    req->lim.queued = false;
  }
  cd__pause_forget(req);
  cds_list_del_init(&req->early_node);
  if (req->easy != NULL) {
    uint32_t ka = cd__conn_transfer_done(&w->conns, req);
    if (ka > 0) schedule_sweep(w, ka);
    curl_multi_remove_handle(w->multi, req->easy);
    cd__pool_put(&w->pool, req->easy);
    req->easy = NULL;
  }
  if (req->share != NULL) {
    if (cd__share_unuse(req->share, w->now_ms)) {
      /* the agent is quiet on this worker: its connections are idle */
      if (req->config->keepalive_timeout_ms > 0) schedule_sweep(w, (uint64_t)req->config->keepalive_timeout_ms);
    }
    req->share = NULL;
  }
  cd__request_drop_body(req);
  cd__bodydec_release(req);
  cds_list_del_init(&req->chan_node);
  req->state = CD__T_DONE;
  cd__stat_add(&cd__live.transfers, -1);
  atomic_store_explicit(&w->transfers_done,
                        atomic_load_explicit(&w->transfers_done, memory_order_relaxed) + 1,
                        memory_order_relaxed);
  cd__transfer_release_slot(w, req);
  cd__request_unref(req);
}

static int transfer_run(cd__worker *w, cd_request *req) {
  req->easy = cd__pool_get(&w->pool);
  req->share = cd__share_get(&w->shares, req->config);
  if (req->share != NULL) cd__share_use(req->share);
  if (req->easy == NULL || req->share == NULL) {
    emit_error(req, CD_ERR_NO_MEMORY, "out of memory");
    transfer_release(w, req);
    return -1;
  }
  req->errbuf[0] = '\0';
  setup_easy(w, req, req->easy);
  req->state = CD__T_RUNNING;
  if (req->flags & CD_REQ_TIMINGS) cd__timings_start(req);
  if (curl_multi_add_handle(w->multi, req->easy) != CURLM_OK) {
    emit_error(req, CD_ERR_NO_MEMORY, "curl_multi_add_handle failed");
    transfer_release(w, req);
    return -1;
  }
  arm_deadline(w, req, req->headers_timeout_ms);
  return 0;
}

void cd__transfer_start(cd__worker *w, cd_request *req) {
  req->worker = w;
  cds_list_add_tail(&req->chan_node, &req->chan->transfers);
  if (req->config->connections > 0) {
    int verdict = cd__limit_acquire(&w->limits, req);
    if (verdict == CD__LIMIT_NO_MEMORY) {
      emit_error(req, CD_ERR_NO_MEMORY, "out of memory");
      transfer_release(w, req);
      return;
    }
    if (verdict == CD__LIMIT_WAIT) return;
  }
  transfer_run(w, req);
}

static const char *engine_error_message(int error) {
  switch (error) {
    case CD_ERR_HEADERS_TIMEOUT: return "Headers Timeout Error";
    case CD_ERR_BODY_TIMEOUT: return "Body Timeout Error";
    case CD_ERR_HEADERS_OVERFLOW: return "Headers Overflow Error";
    case CD_ERR_NO_MEMORY: return "out of memory";
    case CD_ERR_AMBIGUOUS_LENGTH: return "Response Content-Length is ambiguous";
    case CD_ERR_CONNECTION_LOST: return "other side closed";
    default: return "error";
  }
}

/* An HTTP/2 connection that went away (GOAWAY, or broken framing) under a
 * request that got no response byte: libcurl retries streams the server
 * refused, but in 7.88 not every stream left behind by a GOAWAY. An
 * idempotent request whose body is in memory (or absent) is sent once
 * more, on a new connection. */
static int retry_on_new_connection(cd__worker *w, cd_request *req, int result) {
  if (req->retried || (req->flags & CD_REQ_NO_RETRY) || req->resp.final_headers || req->error != 0) return 0;
  /* CURLE_HTTP2 is the connection's failure; a stream the server reset
   * (CURLE_HTTP2_STREAM) is that request's answer and is not retried. */
  if (result != CURLE_HTTP2) return 0;
  if (req->body_mode == CD_BODY_STREAM && req->body_data == NULL) return 0;  /* not replayable */
  long header_bytes = 0;
  curl_easy_getinfo(req->easy, CURLINFO_HEADER_SIZE, &header_bytes);
  if (header_bytes != 0) return 0;
  req->retried = true;
  curl_multi_remove_handle(w->multi, req->easy);
  /* The easy handle keeps its options; a fresh connection, not the one
   * that is going away. */
  curl_easy_setopt(req->easy, CURLOPT_FRESH_CONNECT, 1L);
  req->resp.hdr_len = 0;
  req->errbuf[0] = '\0';
  if (curl_multi_add_handle(w->multi, req->easy) != CURLM_OK) return 0;
  return 1;
}

void cd__transfer_end(cd__worker *w, cd_request *req, int how) {
  if (req->state == CD__T_DONE || req->state == CD__T_NEW) return;
  if (how == CURLE_OK && req->error == 0 && req->dec.decoder != NULL) cd__bodydec_finish(w, req);
  cd__data_flush(req);  /* every byte before the terminal event */
  /* (returns 0 at once for CD__END_ABORTED and CD__END_SILENT) */
  if (retry_on_new_connection(w, req, how)) return;
  if ((req->flags & CD_REQ_TIMINGS) && how != CD__END_SILENT) cd__timings_emit(req);
  if (how == CD__END_ABORTED) {
    cd__channel_push_event(req->chan, cd__event_new_terminal(req, CD_EV_ABORTED, NULL, 0));
  } else if (how == CD__END_SILENT) {
    /* the owner is detaching: nobody reads events any more */
  } else if (how == CURLE_OK && req->error == 0) {
    cd__channel_push_event(req->chan, cd__event_new_terminal(req, CD_EV_END, req->resp.trailers, req->resp.trailers_len));
  } else if (req->error != 0 || how < 0) {
    int code = req->error != 0 ? req->error : how;
    const char *message = code == CD_ERR_DECODE ? req->dec.error : engine_error_message(code);
    if (code == CD_ERR_CONNECTION_LOST && req->http_version != CD_HTTP_1_1)
      /* libcurl wanted it sent again: on HTTP/2 most often a GOAWAY above
       * its last stream id, or a refused stream (RFC 9113 §8.7) */
      message = "other side closed: the connection went away before answering (an HTTP/2 GOAWAY or refused "
                "stream, or a closed connection); not sent again, the request is not idempotent";
    emit_error(req, code, message);
  } else {
    emit_error(req, how, req->errbuf[0] ? req->errbuf : curl_easy_strerror((CURLcode)how));
  }
  transfer_release(w, req);
}

void cd__transfer_resume(cd__worker *w, cd_request *req) {
  atomic_store(&req->paused_seen, 0);
  if (req->body_timeout_ms && req->resp.final_headers) arm_deadline(w, req, req->body_timeout_ms);
  cd__pause_lift(req, CD__PAUSE_OWNER);
}

void cd__transfer_credit(cd_request *req) {
  if (req->pause & CD__PAUSE_WINDOW) cd__pause_lift(req, CD__PAUSE_WINDOW);
}

void cd__transfer_unstall(cd_request *req) {
  cd__pause_lift(req, CD__PAUSE_OVERFLOW);
}

void cd__transfer_body(cd__chunk *c) {
  cd_request *req = c->req;
  if (req->state == CD__T_DONE || req->state == CD__T_NEW) {
    cd__chunk_free(c);
    return;
  }
  if (req->upload.tail) req->upload.tail->next = c; else req->upload.head = c;
  req->upload.tail = c;
  if (c->end) req->upload.queued_all = true;
  req->upload.wanted = false;
  cd__pause_lift(req, CD__PAUSE_UPLOAD);
}

void cd__transfer_timeout(cd__worker *w, cd_request *req) {
  if (req->state != CD__T_RUNNING || req->deadline_ms == 0) return;
  if (req->deadline_ms > w->now_ms) {
    /* Moved by activity since it was armed. */
    if (cd__timer_heap_set(&w->timers, &req->timer, req->deadline_ms) != 0) abort();
    return;
  }
  if (req->resp.final_headers && cd__pause_consumer(req)) {
    /* Paused time does not count: resume arms it again. */
    req->deadline_ms = 0;
    return;
  }
  if (req->pause & (CD__PAUSE_OVERFLOW | CD__PAUSE_WINDOW)) {
    /* Held back by a slow owner, not by the server. */
    arm_deadline(w, req, req->body_timeout_ms);
    return;
  }
  req->error = req->resp.final_headers ? CD_ERR_BODY_TIMEOUT : CD_ERR_HEADERS_TIMEOUT;
  cd__transfer_end(w, req, CURLE_OPERATION_TIMEDOUT);
}
