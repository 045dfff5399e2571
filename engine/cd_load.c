/* cd_load.c - the load generator on a worker (see cd_load.h, load.h).
 *
 * The hot path is cd__load_done: read the status and sizes libcurl already
 * has, record the latency in the part's own histogram, take the handle out
 * of the multi handle and put it back armed for the next request (the same
 * easy handle; its options change only when the next template differs).
 * No allocation of ours, no atomic, no lock, no event per request: the
 * part's counters are copied under its lock every CD__LOAD_PUBLISH_MS. */
#include "cd_load.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/timerfd.h>
#endif

#include <urcu/list.h>

#include "cd_clock.h"
#include "cd_options.h"
#include "cd_pool.h"
#include "cd_share.h"
#include "cd_worker.h"

/* ---- owner side of the inbox ------------------------------------------ */

void cd__load_post(cd__load_part *part) {
  cd__load_worker *lw = &part->worker->load;
  cd__load_part *head = atomic_load(&lw->inbox);
  do {
    part->inbox_next = head;
  } while (!atomic_compare_exchange_weak(&lw->inbox, &head, part));
  /* Pairs with has_commands' cd__load_pending after cd__waker_park. */
  cd__waker_wake(&part->worker->waker);
}

void cd__load_kick(cd__load_part *part) { cd__waker_kick(&part->worker->waker); }

/* ---- worker side ---------------------------------------------------------- */

void cd__load_worker_init(cd__load_worker *lw) {
  atomic_init(&lw->inbox, NULL);
  CDS_INIT_LIST_HEAD(&lw->parts);
  lw->next_us = UINT64_MAX;
  lw->timer_fd = -1;
  lw->timer_armed_us = 0;
}

int cd__load_pending(cd__worker *w) { return atomic_load(&w->load.inbox) != NULL; }

static size_t discard(char *ptr, size_t size, size_t nmemb, void *userdata) {
  (void)ptr;
  (void)userdata;
  return size * nmemb;
}

/* Points the handle at template t (method, URL, headers, body). */
static void apply_template(CURL *e, const cd__load_tmpl *t) {
  curl_easy_setopt(e, CURLOPT_URL, t->url);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
  /* NOBODY first: POSTFIELDS and HTTPGET leave a HEAD's no-body flag on. */
  curl_easy_setopt(e, CURLOPT_NOBODY, 0L);
  if (t->body != NULL) {
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)t->body_len);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->body);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST,
                     t->method != NULL && strcmp(t->method, "POST") != 0 ? t->method : NULL);
  } else {
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    if (t->head) curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, t->method != NULL && !t->head ? t->method : NULL);
  }
}

/* libcurl 7.88 fails every stream but the first on a reused h2c
 * connection (see cd_transfer.c); a load run would open one connection
 * per request, so cd_load_start refuses h2c there (CD_LOAD_EH2C). */
static void setup_version(cd__worker *w, const cd_load *load, CURL *e) {
  if (load->http_version == CD_HTTP_1_1) {
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    return;
  }
  curl_easy_setopt(e, CURLOPT_HTTP_VERSION, load->http_version == CD_HTTP_2TLS
                                                ? (long)CURL_HTTP_VERSION_2TLS
                                                : (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
  /* No PIPEWAIT: with it libcurl 7.88 opened sessions well beyond those
   * asked for (11 for 2 x 10 streams; the Agent saw the same, see
   * setup_easy). The sessions are opened by one slot per connection, the
   * other slots start once a response came over HTTP/2 (start_held), and
   * a session takes up to `pipelining` streams (the worker's setting is
   * raised, never lowered, as for the Agent's transfers). */
  cd__options_raise_streams(w, (long)load->pipelining);
}

/* The options a slot's handle keeps for the whole run. */
static void setup_slot(cd__worker *w, cd__load_part *p, cd__load_slot *s) {
  const cd_load *load = p->load;
  CURL *e = s->easy;
  curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)s + 1);  /* tagged: cd__load_owns */
  cd__options_base(e, s->errbuf);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
  curl_easy_setopt(e, CURLOPT_SHARE, p->share->handle);
  if (load->timeout_ms > 0) curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)load->timeout_ms);
  setup_version(w, load, e);
  cd__options_config(e, load->config, load->tmpls[0].url, load->flags);
  s->tmpl = SIZE_MAX;
}

static void publish(cd__load_part *p) {
  p->c.inflight = p->busy;
  pthread_mutex_lock(&p->mu);
  p->pc = p->c;
  p->p_first_error_us = p->first_error_us;
  memcpy(p->pcodes, p->codes, CD_LOAD_CODES * sizeof(uint64_t));
  cd_hdr_copy(p->phist, p->hist);
  pthread_mutex_unlock(&p->mu);
}

static int may_send(const cd__load_part *p) { return !p->ending && p->c.sent < p->amount; }

/* Sends the slot's next request now. */
static void send_slot(cd__worker *w, cd__load_part *p, cd__load_slot *s, uint64_t now) {
  const cd_load *load = p->load;
  size_t t = p->cursor;
  if (++p->cursor == load->ntmpls) p->cursor = 0;
  if (s->tmpl != t) {
    apply_template(s->easy, &load->tmpls[t]);
    s->tmpl = t;
  }
  s->errbuf[0] = '\0';
  s->sent_us = now;
  s->waiting = 0;
  if (curl_multi_add_handle(w->multi, s->easy) != CURLM_OK) {
    /* Only out of memory: count it, and send nothing more. */
    p->c.errors++;
    p->c.error_kinds[CD_LOAD_ERR_OTHER]++;
    p->ending = 1;
    return;
  }
  s->busy = 1;
  p->busy++;
  p->c.sent++;
  if (p->c.sent >= p->amount) p->ending = 1;
}

/* The slot is free: send again now, or (with a rate) when due. */
static void next_request(cd__worker *w, cd__load_part *p, cd__load_slot *s, uint64_t now) {
  if (!may_send(p)) return;
  const cd_load *load = p->load;
  if (load->period_us > 0) {
    s->due_us = load->start_us + (uint64_t)(((double)s->index + (double)s->k * (double)load->nslots) * load->period_us);
    if (s->due_us >= load->end_us) {
      s->waiting = 0;
      return;  /* due after the end: this slot is done */
    }
    if (s->due_us > now) {
      s->waiting = 1;
      if (s->due_us < p->next_due_us) p->next_due_us = s->due_us;
      if (s->due_us < w->load.next_us) w->load.next_us = s->due_us;
      return;
    }
    s->k++;
  }
  send_slot(w, p, s, now);
}

static int classify(CURL *e, int result) {
  long os = 0;
  curl_easy_getinfo(e, CURLINFO_OS_ERRNO, &os);
  switch (result) {
    case CURLE_COULDNT_CONNECT:
      if (os == ETIMEDOUT) return CD_LOAD_ERR_TIMEOUT;
      return os == ECONNREFUSED || os == 0 ? CD_LOAD_ERR_REFUSED : CD_LOAD_ERR_OTHER;
    case CURLE_OPERATION_TIMEDOUT:
      return CD_LOAD_ERR_TIMEOUT;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
      return CD_LOAD_ERR_DNS;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_USE_SSL_FAILED:
      return CD_LOAD_ERR_TLS;
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return CD_LOAD_ERR_RESET;
    default:
      return CD_LOAD_ERR_OTHER;
  }
}

static void count_error(cd__load_part *p, cd__load_slot *s, int result, uint64_t now) {
  int kind = classify(s->easy, result);
  p->c.errors++;
  p->c.error_kinds[kind]++;
  if (p->c.first_error_kind < 0) {
    p->c.first_error_kind = kind;
    p->c.first_error_code = result;
    const char *msg = s->errbuf[0] ? s->errbuf : curl_easy_strerror((CURLcode)result);
    strncpy(p->c.first_error, msg, CD_LOAD_MESSAGE_MAX - 1);
    p->c.first_error[CD_LOAD_MESSAGE_MAX - 1] = '\0';
    p->first_error_us = now;
  }
  /* A target that refuses, does not resolve or fails TLS before anything
   * answered: the run ends at once (one clear error, not a run of them). */
  if ((kind == CD_LOAD_ERR_REFUSED || kind == CD_LOAD_ERR_DNS || kind == CD_LOAD_ERR_TLS) &&
      !atomic_load_explicit(&p->load->any_response, memory_order_relaxed))
    atomic_store(&p->load->stop, 1);
}

/* The first response came over HTTP/2: the sessions exist, the streams
 * held back join them. */
static void start_held(cd__worker *w, cd__load_part *p, uint64_t now) {
  for (unsigned i = 0; i < p->nslots; i++) {
    cd__load_slot *s = &p->slots[i];
    if (!s->held) continue;
    s->held = 0;
    next_request(w, p, s, now);
  }
  p->held = 0;
}

void cd__load_done(cd__worker *w, void *priv, int result) {
  cd__load_slot *s = (cd__load_slot *)((char *)priv - 1);
  cd__load_part *p = s->part;
  const cd_load *load = p->load;
  uint64_t now = cd__clock_us();
  curl_multi_remove_handle(w->multi, s->easy);
  s->busy = 0;
  p->busy--;
  if (result == CURLE_OK) {
    long code = 0;
    curl_off_t body = 0;
    long head = 0;
    curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_getinfo(s->easy, CURLINFO_SIZE_DOWNLOAD_T, &body);
    curl_easy_getinfo(s->easy, CURLINFO_HEADER_SIZE, &head);
    p->c.completed++;
    p->c.status[code >= 100 && code < 600 ? code / 100 : 0]++;
    if (code >= 100 && code < 600) p->codes[code - 100]++;
    p->c.bytes += (uint64_t)body + (uint64_t)head;
    /* With a rate, from when the request was due (it may have waited for
     * its slot's previous answer): wrk2's correction. */
    uint64_t from = load->period_us > 0 ? s->due_us : s->sent_us;
    cd_hdr_record(p->hist, now > from ? now - from : 0);
    if (!p->started) {
      p->started = 1;
      atomic_store_explicit(&p->load->any_response, 1, memory_order_relaxed);
    }
    if (p->held) {
      long version = 0;
      curl_easy_getinfo(s->easy, CURLINFO_HTTP_VERSION, &version);
      /* Over HTTP/1.1 (ALPN said no) held slots would each open a
       * connection: they stay held, and `connections` is what runs. */
      if (version == CURL_HTTP_VERSION_2_0) start_held(w, p, now);
    }
  } else {
    count_error(p, s, result, now);
  }
  /* A stop is seen by run_part at the next loop turn, not here: nothing
   * shared is read per request. */
  next_request(w, p, s, now);
  if (p->busy == 0) w->load.next_us = 0;  /* may be over: cd__load_run looks */
}

/* Adopts a posted part: handles, cache, first requests. */
static void adopt(cd__worker *w, cd__load_part *p, uint64_t now) {
  cds_list_add_tail(&p->node, &w->load.parts);
  p->next_due_us = UINT64_MAX;
  p->next_publish_us = now + CD__LOAD_PUBLISH_MS * 1000u;
  p->share = cd__share_get(&w->shares, p->load->config);
  if (p->share == NULL) {
    p->ending = 1;
    p->c.errors++;
    p->c.error_kinds[CD_LOAD_ERR_OTHER]++;
    return;
  }
  cd__share_use(p->share);
  for (unsigned i = 0; i < p->nslots; i++) {
    cd__load_slot *s = &p->slots[i];
    s->easy = cd__pool_get(&w->pool);
    if (s->easy == NULL) {
      p->ending = 1;
      break;
    }
    setup_slot(w, p, s);
  }
  /* HTTP/2: one slot per connection opens its session first. */
  unsigned per_conn = p->load->http_version != CD_HTTP_1_1 ? p->load->pipelining : 1;
  for (unsigned i = 0; i < p->nslots && p->slots[i].easy != NULL; i++) {
    if (i % per_conn != 0) {
      p->slots[i].held = 1;
      p->held = 1;
      continue;
    }
    next_request(w, p, &p->slots[i], now);
  }
}

/* Drops what is in flight, gives back handles and cache, publishes the
 * final counters and lets go of the part. */
static void end_part(cd__worker *w, cd__load_part *p) {
  for (unsigned i = 0; i < p->nslots; i++) {
    cd__load_slot *s = &p->slots[i];
    if (s->easy == NULL) continue;
    if (s->busy) curl_multi_remove_handle(w->multi, s->easy);
    s->busy = 0;
    cd__pool_put(&w->pool, s->easy);
    s->easy = NULL;
  }
  p->busy = 0;
  if (p->share != NULL) cd__share_unuse(p->share, w->now_ms);
  p->share = NULL;
  cds_list_del(&p->node);
  publish(p);
  cd_load *load = p->load;
  pthread_mutex_lock(&load->mu);
  if (--load->alive == 0) {
    load->finish_us = cd__clock_us();
    /* Under the lock: cd_load_free waits for it, so done_ctx is alive. */
    if (load->done != NULL) load->done(load->done_ctx);
  }
  pthread_cond_broadcast(&load->cv);
  pthread_mutex_unlock(&load->mu);
}

/* One part's turn. */
static void run_part(cd__worker *w, cd__load_part *p, uint64_t now) {
  const cd_load *load = p->load;
  if (atomic_load_explicit(&load->stop, memory_order_relaxed) || now >= load->end_us) {
    end_part(w, p);  /* in-flight requests are dropped, uncounted */
    return;
  }
  if (p->next_due_us <= now && !p->ending) {
    p->next_due_us = UINT64_MAX;
    for (unsigned i = 0; i < p->nslots; i++) {
      cd__load_slot *s = &p->slots[i];
      if (!s->waiting) continue;
      if (s->due_us <= now) {
        s->k++;
        send_slot(w, p, s, now);
        if (!may_send(p)) break;
      } else if (s->due_us < p->next_due_us) {
        p->next_due_us = s->due_us;
      }
    }
  }
  if (p->busy == 0) {
    int any_waiting = 0;
    for (unsigned i = 0; i < p->nslots && !any_waiting; i++) any_waiting = p->slots[i].waiting;
    if (p->ending || !any_waiting) {
      end_part(w, p);
      return;
    }
  }
  if (now >= p->next_publish_us) {
    publish(p);
    p->next_publish_us = now + CD__LOAD_PUBLISH_MS * 1000u;
  }
  uint64_t next = p->next_publish_us;
  if (!p->ending && p->next_due_us < next) next = p->next_due_us;
  if (load->end_us < next) next = load->end_us;
  if (next < w->load.next_us) w->load.next_us = next;
}

void cd__load_run(cd__worker *w) {
  cd__load_worker *lw = &w->load;
  if (atomic_load_explicit(&lw->inbox, memory_order_relaxed) == NULL && cds_list_empty(&lw->parts)) return;
  uint64_t now = cd__clock_us();
  cd__load_part *posted = atomic_exchange(&lw->inbox, NULL);
  /* The inbox is a stack: adopt in posting order. */
  cd__load_part *order = NULL;
  while (posted != NULL) {
    cd__load_part *next = posted->inbox_next;
    posted->inbox_next = order;
    order = posted;
    posted = next;
  }
  for (; order != NULL; order = order->inbox_next) adopt(w, order, now);
  lw->next_us = UINT64_MAX;
  cd__load_part *p, *tmp;
  cds_list_for_each_entry_safe(p, tmp, &lw->parts, node) run_part(w, p, now);
}

long cd__load_park_ms(cd__worker *w, long timeout_ms) {
  uint64_t next = w->load.next_us;
  if (next == UINT64_MAX) return timeout_ms;
  uint64_t now = cd__clock_us();
  if (next <= now) return 0;
  /* Rounded up: a send is at most 1 ms late, never early. */
  uint64_t ms = (next - now + 999) / 1000;
  return (long)ms < timeout_ms ? (long)ms : timeout_ms;
}

size_t cd__load_waitfds(cd__worker *w, struct curl_waitfd *fds, size_t max) {
#ifdef __linux__
  cd__load_worker *lw = &w->load;
  if (lw->next_us == UINT64_MAX || max == 0) return 0;
  if (lw->timer_fd < 0) {
    lw->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    /* No timer: the rounded-up poll timeout still sends, a little late. */
    if (lw->timer_fd < 0) return 0;
  }
  uint64_t due = lw->next_us;
  if (lw->timer_armed_us != due) {
    /* the same clock as cd__clock_us; absolute, so a late arm fires at once */
    struct itimerspec at = { .it_interval = { 0, 0 },
                             .it_value = { .tv_sec = (time_t)(due / 1000000u),
                                           .tv_nsec = (long)(due % 1000000u) * 1000L } };
    if (timerfd_settime(lw->timer_fd, TFD_TIMER_ABSTIME, &at, NULL) != 0) return 0;
    lw->timer_armed_us = due;
  }
  fds[0].fd = lw->timer_fd;
  fds[0].events = CURL_WAIT_POLLIN;
  fds[0].revents = 0;
  return 1;
#else
  (void)w;
  (void)fds;
  (void)max;
  return 0;
#endif
}

void cd__load_waitfds_done(cd__worker *w, const struct curl_waitfd *fd) {
  if (!(fd->revents & CURL_WAIT_POLLIN)) return;
  uint64_t expirations;
  /* Drained, or it stays readable; fired once, so disarmed until re-armed. */
  if (read(w->load.timer_fd, &expirations, sizeof(expirations)) < 0) { /* EAGAIN: nothing to drain */ }
  w->load.timer_armed_us = 0;
}

void cd__load_worker_stop(cd__worker *w) {
  cd__load_run(w);  /* adopts what was posted */
  cd__load_part *p, *tmp;
  cds_list_for_each_entry_safe(p, tmp, &w->load.parts, node) end_part(w, p);
  if (w->load.timer_fd >= 0) close(w->load.timer_fd);
  w->load.timer_fd = -1;
}
