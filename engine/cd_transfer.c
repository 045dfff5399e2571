/* cd_transfer.c - one request on a worker: the easy handle, curl's
 * callbacks turned into events, pause and resume, timeouts, the per-origin
 * connection limit. Every function here runs on the request's worker. */
#include "cd_internal.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <urcu/list.h>

#define CD_POOL_MAX 256

static inline cd_worker *req_worker(cd_request *req) {
  return req->chan->worker;
}

/* ---- easy handle pool ----------------------------------------------------
 * curl_easy_reset keeps what the multi handle shares (connections, DNS and
 * TLS session caches), so reusing handles costs no handshakes. */

static CURL *easy_get(cd_worker *w) {
  if (w->pool_len > 0) return w->pool[--w->pool_len];
  CURL *easy = curl_easy_init();
  if (easy != NULL) cd_stat_add(&cd_live.handles, 1);
  return easy;
}

static void easy_put(cd_worker *w, CURL *easy) {
  /* curl_easy_reset keeps the share: detach it so a closed agent's cache
   * can be freed. */
  curl_easy_setopt(easy, CURLOPT_SHARE, NULL);
  curl_easy_reset(easy);
  if (w->pool_len == w->pool_cap && w->pool_cap < CD_POOL_MAX) {
    size_t cap = w->pool_cap ? w->pool_cap * 2 : 16;
    CURL **pool = realloc(w->pool, cap * sizeof(*pool));
    if (pool != NULL) {
      w->pool = pool;
      w->pool_cap = cap;
    }
  }
  if (w->pool_len < w->pool_cap) {
    w->pool[w->pool_len++] = easy;
  } else {
    curl_easy_cleanup(easy);
    cd_stat_add(&cd_live.handles, -1);
  }
}

/* ---- small helpers ------------------------------------------------------- */

static int buf_append(char **buf, size_t *len, size_t *cap, const char *data, size_t n) {
  if (*len + n + 1 > *cap) {
    size_t c = *cap ? *cap : 256;
    while (c < *len + n + 1) c *= 2;
    char *b = realloc(*buf, c);
    if (b == NULL) return -1;
    *buf = b;
    *cap = c;
  }
  memcpy(*buf + *len, data, n);
  *len += n;
  (*buf)[*len] = '\0';
  return 0;
}

static void emit(cd_request *req, cd_event *ev) {
  if (ev == NULL) abort();  /* an event cannot be dropped without breaking the contract */
  cd_worker_push_event(req_worker(req), req->chan, ev);
}

static void arm_deadline(cd_worker *w, cd_request *req, uint32_t timeout_ms) {
  if (timeout_ms == 0) {
    req->deadline_ms = 0;
    cd_timer_heap_remove(&w->timers, &req->timer);
    return;
  }
  req->deadline_ms = w->now_ms + timeout_ms;
  /* Body data moves the deadline later, often: the heap is only touched
   * when the node is not armed or must fire earlier; a node that fires
   * early is re-armed in cd_transfer_timeout. */
  if ((req->timer.index == CD_TIMER_INACTIVE || req->deadline_ms < req->timer.deadline_ms) &&
      cd_timer_heap_set(&w->timers, &req->timer, req->deadline_ms) != 0)
    abort();
}

static void unpause(cd_request *req) {
  req->recv_paused = false;
  req->send_paused = false;
  curl_easy_pause(req->easy, CURLPAUSE_CONT);
}

/* ---- connection limit ------------------------------------------------------ */

static unsigned limit_hash(uint64_t config_id, const char *origin) {
  uint64_t h = 1469598103934665603ull ^ config_id;
  for (const unsigned char *p = (const unsigned char *)origin; *p; p++) h = (h ^ *p) * 1099511628211ull;
  return (unsigned)(h % CD_LIMIT_BUCKETS);
}

static cd_limit *limit_find(cd_worker *w, cd_request *req, int create) {
  unsigned b = limit_hash(req->config->id, req->origin);
  for (cd_limit *l = w->limits[b]; l; l = l->next)
    if (l->config_id == req->config->id && strcmp(l->origin, req->origin) == 0) return l;
  if (!create) return NULL;
  size_t n = strlen(req->origin);
  cd_limit *l = malloc(sizeof(*l) + n + 1);
  if (l == NULL) return NULL;
  l->config_id = req->config->id;
  l->running = 0;
  CDS_INIT_LIST_HEAD(&l->queue);
  memcpy(l->origin, req->origin, n + 1);
  l->next = w->limits[b];
  w->limits[b] = l;
  return l;
}

static void limit_free_if_idle(cd_worker *w, cd_limit *l) {
  if (l->running > 0 || !cds_list_empty(&l->queue)) return;
  unsigned b = limit_hash(l->config_id, l->origin);
  for (cd_limit **pp = &w->limits[b]; *pp; pp = &(*pp)->next) {
    if (*pp == l) {
      *pp = l->next;
      free(l);
      return;
    }
  }
}

static int transfer_run(cd_worker *w, cd_request *req);

/* A running transfer under a limit ended: start the next one waiting. */
void cd_limit_release(cd_worker *w, cd_request *req) {
  cd_limit *l = req->limit;
  req->limit = NULL;
  if (l == NULL) return;
  l->running--;
  while (!cds_list_empty(&l->queue) && l->running < req->config->connections) {
    cd_request *next = cds_list_entry(l->queue.next, cd_request, wait_node);
    cds_list_del_init(&next->wait_node);
    next->in_wait_list = false;
    next->limit = l;
    l->running++;
    transfer_run(w, next);
  }
  limit_free_if_idle(w, l);
}

/* ---- per-agent caches ------------------------------------------------------ */

static cd_share *share_get(cd_worker *w, cd_config *config) {
  for (cd_share *s = w->shares; s; s = s->next)
    if (s->config == config) return s;
  cd_share *s = calloc(1, sizeof(*s));
  if (s == NULL) return NULL;
  s->handle = curl_share_init();
  if (s->handle == NULL) {
    free(s);
    return NULL;
  }
  /* Used by this worker only: no lock callbacks needed. */
  curl_share_setopt(s->handle, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
  curl_share_setopt(s->handle, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  curl_share_setopt(s->handle, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  cd_config_retain(config);
  s->config = config;
  s->next = w->shares;
  w->shares = s;
  return s;
}

/* Frees the caches of closed agents that no transfer uses any more (their
 * idle connections close), or every cache when `all`. */
void cd_shares_sweep(cd_worker *w, int all) {
  cd_share **pp = &w->shares;
  while (*pp != NULL) {
    cd_share *s = *pp;
    if (all || (s->active == 0 && atomic_load_explicit(&s->config->closed, memory_order_relaxed))) {
      *pp = s->next;
      curl_share_cleanup(s->handle);
      cd_config_unref(s->config);
      free(s);
    } else {
      pp = &s->next;
    }
  }
}

/* ---- callbacks ------------------------------------------------------------- */

static int parse_version(const char *line) {
  if (strncmp(line, "HTTP/1.0", 8) == 0) return 10;
  if (strncmp(line, "HTTP/1.1", 8) == 0) return 11;
  if (strncmp(line, "HTTP/2", 6) == 0) return 20;
  if (strncmp(line, "HTTP/3", 6) == 0) return 30;
  return 0;
}

/* A response whose framing two parsers could read differently (request
 * smuggling): Content-Length values that disagree, or Content-Length with
 * Transfer-Encoding. libcurl 7.88 takes the last length, or chunked, and
 * goes on; undici refuses both, and so do we. */
/* Also stores an unambiguous Content-Length in *length_out. */
static int ambiguous_length(const char *block, size_t len, int64_t *length_out) {
  const char *p = block, *end = block + len;
  const char *length = NULL;
  size_t length_len = 0;
  int chunked = 0;
  while (p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    const char *line_end = eol ? eol : end;
    size_t n = (size_t)(line_end - p);
    if (n > 15 && strncasecmp(p, "content-length:", 15) == 0) {
      const char *v = p + 15, *ve = line_end;
      while (v < ve && (*v == ' ' || *v == '\t')) v++;
      while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t')) ve--;
      if (memchr(v, ',', (size_t)(ve - v)) != NULL) return 1;  /* "5, 10" */
      if (length != NULL && (length_len != (size_t)(ve - v) || memcmp(length, v, length_len) != 0)) return 1;
      length = v;
      length_len = (size_t)(ve - v);
    } else if (n > 18 && strncasecmp(p, "transfer-encoding:", 18) == 0) {
      chunked = 1;
    }
    p = eol ? eol + 1 : end;
  }
  if (length != NULL && !chunked) *length_out = strtoll(length, NULL, 10);
  return length != NULL && chunked;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *userdata) {
  cd_request *req = userdata;
  cd_worker *w = req_worker(req);
  size_t n = size * nmemb;
  int blank = (n == 2 && ptr[0] == '\r' && ptr[1] == '\n') || (n == 1 && ptr[0] == '\n');

  if (req->final_headers) {
    /* After the final block, header lines are trailers (chunked encoding). */
    if (!blank && buf_append(&req->trailers, &req->trailers_len, &req->trailers_cap, ptr, n) != 0) {
      req->error = CD_ERR_NO_MEMORY;
      return 0;
    }
    return n;
  }
  if (!blank) {
    if (req->hdr_len + n > req->config->max_header_size) {
      req->error = CD_ERR_HEADERS_OVERFLOW;
      return 0;  /* makes curl fail the transfer with CURLE_WRITE_ERROR */
    }
    if (buf_append(&req->hdr, &req->hdr_len, &req->hdr_cap, ptr, n) != 0) {
      req->error = CD_ERR_NO_MEMORY;
      return 0;
    }
    return n;
  }

  /* End of a header block: a 1xx or the final one. */
  long status = 0;
  const char *sp = req->hdr ? memchr(req->hdr, ' ', req->hdr_len) : NULL;
  if (sp != NULL) status = strtol(sp + 1, NULL, 10);
  if (status >= 200 && req->hdr != NULL && ambiguous_length(req->hdr, req->hdr_len, &req->resp_length)) {
    req->error = CD_ERR_AMBIGUOUS_LENGTH;
    return 0;
  }
  cd_event *ev = cd_event_new(req, CD_EV_HEADERS, req->hdr, req->hdr_len);
  if (ev == NULL) {
    req->error = CD_ERR_NO_MEMORY;
    return 0;
  }
  ev->a = (int32_t)status;
  ev->b = req->hdr ? parse_version(req->hdr) : 0;
  req->hdr_len = 0;
  if (status >= 200 || status == 101) {
    req->final_headers = true;
    arm_deadline(w, req, req->body_timeout_ms);
  }
  emit(req, ev);
  return n;
}

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *userdata) {
  cd_request *req = userdata;
  cd_worker *w = req_worker(req);
  size_t n = size * nmemb;

  if (atomic_load_explicit(&req->paused, memory_order_relaxed)) {
    /* Paused by JS: paused time does not count toward bodyTimeout. */
    req->recv_paused = true;
    req->deadline_ms = 0;
    return CURL_WRITEFUNC_PAUSE;
  }
  if (req->chan->overflow_head != NULL) {
    /* The owner is behind: hold the bytes in curl rather than in memory. */
    req->recv_paused = true;
    if (!req->stalled) {
      req->stalled = true;
      cds_list_add_tail(&req->wait_node, &w->stalled);
      req->in_wait_list = true;
    }
    return CURL_WRITEFUNC_PAUSE;
  }
  if (n == 0) return 0;
  emit(req, cd_event_new(req, CD_EV_DATA, ptr, n));
  if (req->body_timeout_ms) req->deadline_ms = w->now_ms + req->body_timeout_ms;
  req->resp_received += (int64_t)n;
  if (req->body_mode == CD_BODY_STREAM && !req->upload_done && !req->early_done &&
      req->resp_length >= 0 && req->resp_received >= req->resp_length) {
    /* The whole response is here while the request body is still going
     * out: a server that stopped reading it would hold the transfer until
     * bodyTimeout. The worker ends it after this loop turn (undici does
     * the same: it completes the request and drops the connection). */
    req->early_done = true;
    cds_list_add_tail(&req->early_node, &w->early);
  }
  return n;
}

void cd_transfer_finish_early(cd_worker *w) {
  cd_request *req, *tmp;
  cds_list_for_each_entry_safe(req, tmp, &w->early, early_node) {
    cds_list_del_init(&req->early_node);
    if (req->state != CD_T_RUNNING) continue;
    curl_off_t sent = 0;
    if (req->body_data != NULL) {
      curl_easy_getinfo(req->easy, CURLINFO_SIZE_UPLOAD_T, &sent);
      if (sent >= (curl_off_t)req->body_data_len) continue;  /* curl completes it itself */
    }
    cd_transfer_done(w, req, CURLE_OK);
  }
}

static size_t on_read(char *buf, size_t size, size_t nitems, void *userdata) {
  cd_request *req = userdata;
  size_t max = size * nitems, copied = 0;

  while (copied < max && req->body_head != NULL) {
    cd_chunk *c = req->body_head;
    size_t take = c->len - c->off;
    if (take > max - copied) take = max - copied;
    memcpy(buf + copied, c->data + c->off, take);
    c->off += take;
    copied += take;
    if (c->off == c->len) {
      req->body_head = c->next;
      if (req->body_head == NULL) req->body_tail = NULL;
      free(c);
      cd_stat_add(&cd_live.commands, -1);
    }
  }
  if (copied > 0) return copied;
  if (req->body_done) {
    req->upload_done = true;
    return 0;  /* end of body */
  }
  if (!req->body_wanted) {
    req->body_wanted = true;
    emit(req, cd_event_new(req, CD_EV_BODY_WANTED, NULL, 0));
  }
  req->send_paused = true;
  return CURL_READFUNC_PAUSE;
}

/* ---- lifecycle --------------------------------------------------------------- */

/* Where the connection goes: a proxy, a Unix socket, a local address. */
static void setup_route(cd_request *req, CURL *e) {
  const cd_config *cfg = req->config;
  const char *proxy = NULL;
  if (req->flags & CD_REQ_PROXY)
    proxy = strncmp(req->url, "https:", 6) == 0 ? cfg->proxy_https : cfg->proxy_http;
  /* "" rather than NULL: curl would otherwise read http_proxy and friends
   * from the environment, behind the user's back. */
  curl_easy_setopt(e, CURLOPT_PROXY, proxy != NULL ? proxy : "");
  if (proxy != NULL) {
    if (cfg->proxy_headers != NULL) {
      curl_easy_setopt(e, CURLOPT_HEADEROPT, CURLHEADER_SEPARATE);
      curl_easy_setopt(e, CURLOPT_PROXYHEADER, cfg->proxy_headers);
    }
    if (cfg->proxy_tunnel) curl_easy_setopt(e, CURLOPT_HTTPPROXYTUNNEL, 1L);
    if (cfg->proxy_ca.data) curl_easy_setopt(e, CURLOPT_PROXY_CAINFO_BLOB, &cfg->proxy_ca);
    if (!cfg->proxy_reject_unauthorized) {
      curl_easy_setopt(e, CURLOPT_PROXY_SSL_VERIFYPEER, 0L);
      curl_easy_setopt(e, CURLOPT_PROXY_SSL_VERIFYHOST, 0L);
    }
  }
  if (cfg->unix_socket_path != NULL) curl_easy_setopt(e, CURLOPT_UNIX_SOCKET_PATH, cfg->unix_socket_path);
  if (cfg->local_address != NULL) curl_easy_setopt(e, CURLOPT_INTERFACE, cfg->local_address);
  if (cfg->happy_eyeballs_ms > 0) curl_easy_setopt(e, CURLOPT_HAPPY_EYEBALLS_TIMEOUT_MS, cfg->happy_eyeballs_ms);
}

/* libcurl 7.88 fails every stream but the first on a reused h2c (prior
 * knowledge) connection, "Error in the HTTP2 framing layer" (curl/curl#10634,
 * a 7.88 regression fixed in 8.0.0 by commit cbe9d82c): there each request
 * gets a connection of its own; from 8.0.0 they multiplex on one. Checked at
 * run time rather than with LIBCURL_VERSION_NUM, because the libcurl.so.4
 * loaded can differ from the headers the addon was built with. Once only:
 * curl_version_info() of 7.x rewrites a static struct on every call. */
static pthread_once_t h2c_once = PTHREAD_ONCE_INIT;
static bool h2c_reuse;

static void h2c_check(void) {
  h2c_reuse = curl_version_info(CURLVERSION_NOW)->version_num >= 0x080000;
}

static void setup_easy(cd_request *req, CURL *e) {
  const cd_config *cfg = req->config;
  curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)req);
  curl_easy_setopt(e, CURLOPT_URL, req->url);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, req->errbuf);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, req);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, req);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, req->headers);
  /* The user's path goes out as written, bodies as served: fetch decodes. */
  curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L);
  curl_easy_setopt(e, CURLOPT_HTTP_CONTENT_DECODING, 0L);
  curl_easy_setopt(e, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
  curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
  /* Larger reads mean fewer, larger DATA events for big bodies. */
  curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 64L * 1024L);
  if (req->flags & CD_REQ_RAW) {
    /* a byte pipe: HTTP/1.1 by ALPN, nothing sent by curl itself */
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    cd_raw_setup(req, e);
  } else if (req->http_version == CD_HTTP_2TLS) {
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    /* Wait for a connection that can multiplex rather than open another. */
    curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
  } else if (req->http_version == CD_HTTP_2_PRIOR_KNOWLEDGE) {
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
    pthread_once(&h2c_once, h2c_check);
    if (h2c_reuse) {
      curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
    } else {
      curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
      curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
    }
  } else {
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
  }

  if (strcmp(req->method, "HEAD") == 0) {
    curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
  } else if (strcmp(req->method, "GET") != 0 || req->body_mode == CD_BODY_STREAM) {
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req->method);
  }
  if (req->body_mode == CD_BODY_STREAM && req->body_data != NULL) {
    /* A whole body in memory: curl sends it with the request head, in one
     * write when it is small (the read callback path costs a second send
     * and a loop turn: 16 KiB POSTs ran at about half undici's rate). */
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_data_len);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body_data);
    req->body_done = true;
  } else if (req->body_mode == CD_BODY_STREAM) {
    curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(e, CURLOPT_READDATA, req);
    curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)req->body_length);
    if (req->body_length == 0) req->body_done = true;
  }
  if (req->flags & CD_REQ_RESET) curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
  if (req->share != NULL) curl_easy_setopt(e, CURLOPT_SHARE, req->share->handle);
  if (req->connect_to != NULL) {
    req->connect_to_list.data = req->connect_to;
    req->connect_to_list.next = NULL;
    curl_easy_setopt(e, CURLOPT_CONNECT_TO, &req->connect_to_list);
  }

  setup_route(req, e);
  cd_conn_setup(req, e);
  if (cfg->connect_timeout_ms > 0) curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, cfg->connect_timeout_ms);
  if (cfg->keepalive_timeout_ms > 0) {
    /* libcurl reuses a connection while its idle time in whole seconds
     * (truncated) is not above this value: (ms - 1) / 1000 drops it at
     * ceil(ms / 1000) seconds, never later than asked for by more than
     * the rounding. */
    long secs = (cfg->keepalive_timeout_ms - 1) / 1000;
    curl_easy_setopt(e, CURLOPT_MAXAGE_CONN, secs);
  }
  if (cfg->ca.data) curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &cfg->ca);
  if (cfg->cert.data) {
    curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &cfg->cert);
    curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
  }
  if (cfg->key.data) {
    curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &cfg->key);
    curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM");
  }
  if (!cfg->reject_unauthorized) {
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
  }
}

static void emit_error(cd_request *req, int code, const char *message) {
  cd_event *ev = cd_event_new(req, CD_EV_ERROR, message, strlen(message));
  if (ev == NULL) abort();
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
    ev->d |= (int32_t)(connect_code & 0xfff) << 8;
  }
  if (req->final_headers) ev->d |= CD_ERRF_HEADERS;
  emit(req, ev);
}

/* Everything a transfer holds on the worker goes, and the worker's
 * reference with it. */
static void transfer_finish(cd_worker *w, cd_request *req) {
  cd_timer_heap_remove(&w->timers, &req->timer);
  cd_raw_close(req);
  if (req->in_wait_list) {
    cds_list_del_init(&req->wait_node);
    req->in_wait_list = false;
  }
  req->stalled = false;
  cds_list_del_init(&req->early_node);
  if (req->easy != NULL) {
    curl_multi_remove_handle(w->multi, req->easy);
    easy_put(w, req->easy);
    req->easy = NULL;
  }
  if (req->share != NULL) {
    req->share->active--;
    req->share = NULL;
  }
  while (req->body_head != NULL) {
    cd_chunk *c = req->body_head;
    req->body_head = c->next;
    free(c);
    cd_stat_add(&cd_live.commands, -1);
  }
  req->body_tail = NULL;
  cds_list_del_init(&req->chan_node);
  req->state = CD_T_DONE;
  cd_stat_add(&cd_live.transfers, -1);
  cd_limit_release(w, req);
  cd_request_unref(req);
}

static int transfer_run(cd_worker *w, cd_request *req) {
  req->easy = easy_get(w);
  req->share = share_get(w, req->config);
  if (req->share != NULL) req->share->active++;
  if (req->easy == NULL || req->share == NULL) {
    emit_error(req, CD_ERR_NO_MEMORY, "out of memory");
    transfer_finish(w, req);
    return -1;
  }
  req->errbuf[0] = '\0';
  setup_easy(req, req->easy);
  req->state = CD_T_RUNNING;
  if (curl_multi_add_handle(w->multi, req->easy) != CURLM_OK) {
    emit_error(req, CD_ERR_NO_MEMORY, "curl_multi_add_handle failed");
    transfer_finish(w, req);
    return -1;
  }
  arm_deadline(w, req, req->headers_timeout_ms);
  return 0;
}

int cd_transfer_start(cd_worker *w, cd_request *req) {
  cds_list_add_tail(&req->chan_node, &req->chan->transfers);
  if (req->config->connections > 0) {
    cd_limit *l = limit_find(w, req, 1);
    if (l == NULL) {
      emit_error(req, CD_ERR_NO_MEMORY, "out of memory");
      transfer_finish(w, req);
      return -1;
    }
    if (l->running >= req->config->connections) {
      req->state = CD_T_QUEUED;
      cds_list_add_tail(&req->wait_node, &l->queue);
      req->in_wait_list = true;
      return 0;
    }
    l->running++;
    req->limit = l;
  }
  return transfer_run(w, req);
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
static int retry_on_new_connection(cd_worker *w, cd_request *req, CURLcode result) {
  if (req->retried || (req->flags & CD_REQ_NO_RETRY) || req->final_headers || req->error != 0) return 0;
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
  req->hdr_len = 0;
  req->errbuf[0] = '\0';
  if (curl_multi_add_handle(w->multi, req->easy) != CURLM_OK) return 0;
  return 1;
}

void cd_transfer_fail(cd_worker *w, cd_request *req, int code, const char *message) {
  emit_error(req, code, message);
  transfer_finish(w, req);
}

void cd_transfer_end(cd_worker *w, cd_request *req) {
  emit(req, cd_event_new(req, CD_EV_END, NULL, 0));
  transfer_finish(w, req);
}

void cd_transfer_done(cd_worker *w, cd_request *req, CURLcode result) {
  if (retry_on_new_connection(w, req, result)) return;
  if ((req->flags & CD_REQ_RAW) && result == CURLE_OK && req->error == 0) {
    cd_raw_open(w, req);  /* connected: the pipe opens, the transfer goes on */
    return;
  }
  if (result == CURLE_OK && req->error == 0) {
    cd_event *ev = cd_event_new(req, CD_EV_END, req->trailers, req->trailers_len);
    emit(req, ev);
  } else if (req->error != 0) {
    emit_error(req, req->error, engine_error_message(req->error));
  } else {
    emit_error(req, (int)result, req->errbuf[0] ? req->errbuf : curl_easy_strerror(result));
  }
  transfer_finish(w, req);
}

void cd_transfer_abort(cd_worker *w, cd_request *req, int emit_event) {
  if (req->state == CD_T_DONE || req->state == CD_T_NEW) return;
  if (req->state == CD_T_QUEUED) {
    /* Never got a connection slot: it holds none to give back. */
    cds_list_del_init(&req->wait_node);
    req->in_wait_list = false;
  }
  if (emit_event) emit(req, cd_event_new(req, CD_EV_ABORTED, NULL, 0));
  transfer_finish(w, req);
}

void cd_transfer_resume(cd_worker *w, cd_request *req) {
  if (req->body_timeout_ms && req->final_headers) arm_deadline(w, req, req->body_timeout_ms);
  if (req->recv_paused && !req->stalled) unpause(req);
}

void cd_transfer_unstall(cd_worker *w, cd_request *req) {
  cds_list_del_init(&req->wait_node);
  req->in_wait_list = false;
  req->stalled = false;
  if (!atomic_load_explicit(&req->paused, memory_order_relaxed) && req->recv_paused) unpause(req);
}

void cd_transfer_body(cd_worker *w, cd_chunk *c) {
  cd_request *req = c->req;
  if (req->state == CD_T_DONE || req->state == CD_T_NEW) {
    free(c);
    cd_stat_add(&cd_live.commands, -1);
    return;
  }
  if (req->body_tail) req->body_tail->next = c; else req->body_head = c;
  req->body_tail = c;
  if (c->end) req->body_done = true;
  req->body_wanted = false;
  if (req->send_paused && req->state == CD_T_RUNNING) unpause(req);
}

void cd_transfer_timeout(cd_worker *w, cd_request *req) {
  if (req->state != CD_T_RUNNING || req->deadline_ms == 0) return;
  if (req->deadline_ms > w->now_ms) {
    /* Moved by activity since it was armed. */
    if (cd_timer_heap_set(&w->timers, &req->timer, req->deadline_ms) != 0) abort();
    return;
  }
  if (req->final_headers && atomic_load_explicit(&req->paused, memory_order_relaxed)) {
    /* Paused time does not count: resume arms it again. */
    req->deadline_ms = 0;
    return;
  }
  if (req->stalled) {
    /* Held back by a slow owner, not by the server. */
    arm_deadline(w, req, req->body_timeout_ms);
    return;
  }
  req->error = req->final_headers ? CD_ERR_BODY_TIMEOUT : CD_ERR_HEADERS_TIMEOUT;
  cd_transfer_done(w, req, CURLE_OPERATION_TIMEDOUT);
}
