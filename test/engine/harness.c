/* harness.c - owner-side event loop and protocol checks (see harness.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "harness.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cd_test.h"

#define TH_SLOT_BASE 0x5100u
#define TH_POLL_CAP 256

const char *th_ev_name(int type) {
  switch (type) {
    case CD_EV_HEADERS: return "HEADERS";
    case CD_EV_DATA: return "DATA";
    case CD_EV_BODY_WANTED: return "BODY_WANTED";
    case CD_EV_END: return "END";
    case CD_EV_ERROR: return "ERROR";
    case CD_EV_ABORTED: return "ABORTED";
    case CD_EV_CONNECTED: return "CONNECTED";
    case CD_EV_DISCONNECTED: return "DISCONNECTED";
    case CD_EV_TIMINGS: return "TIMINGS";
    case CD_EV_CONNECTING: return "CONNECTING";
    case CD_EV_SENDING: return "SENDING";
    default: return "?";
  }
}

static void check_owner(th_env *t, const char *what) {
  if (!pthread_equal(pthread_self(), t->owner))
    CD_FAIL("test bug: %s called off the owner thread", what);
}

/* ---- notification ------------------------------------------------------- */

/* The contract allows one notify before the first cd_env_poll_begin and one
 * after each: notifies can never outnumber poll_begins by more than one.
 * begins_started is bumped just before each poll_begin, so it is never
 * behind, and the check never fires on a notify that merely ran late.
 * (Comparing the begins_started each notify saw did: a notify earned in
 * one round but slow to start reads the next round's value, and the next
 * legitimate notify then looked like a second one.) */
static void th_notify(void *ctx) {
  th_env *t = ctx;
  long n = atomic_fetch_add(&t->notify_calls, 1) + 1;
  if (n > atomic_load(&t->begins_started) + 1) atomic_fetch_add(&t->double_notify, 1);
  if (pthread_equal(pthread_self(), t->owner))
    atomic_fetch_add(&t->notify_on_owner, 1);
  pthread_mutex_lock(&t->mu);
  t->notified = 1;
  pthread_cond_signal(&t->cv);
  pthread_mutex_unlock(&t->mu);
}

static void check_notify_contract(th_env *t) {
  if (atomic_load(&t->double_notify))
    CD_FAIL("[%s] notify was called %d time(s) again before "
            "cd_env_poll_begin (contract: at most once)",
            t->name, atomic_load(&t->double_notify));
  if (atomic_load(&t->notify_on_owner))
    CD_FAIL("[%s] notify was called on the owner thread %d time(s) "
            "(contract: from worker threads)",
            t->name, atomic_load(&t->notify_on_owner));
}

/* ---- attach / detach ---------------------------------------------------- */

th_env *th_attach(cd_engine *eng, const char *name) {
  th_env *t = calloc(1, sizeof *t);
  ASSERT_NOT_NULL(t);
  t->eng = eng;
  t->owner = pthread_self();
  t->name = name ? name : "env";
  t->poll_max = 64;
  t->slot_base = TH_SLOT_BASE;
  atomic_init(&t->begins_started, 0);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&t->cv, &ca);
  pthread_condattr_destroy(&ca);
  pthread_mutex_init(&t->mu, NULL);
  t->env = cd_env_attach(eng, th_notify, t);
  ASSERT_MSG(t->env != NULL, "cd_env_attach returned NULL");
  return t;
}

static void free_req(th_req *r) {
  free(r->info_head);
  free(r->head);
  free(r->body);
  free(r->term_data);
  free(r);
}

void th_detach(th_env *t) {
  check_owner(t, "th_detach");
  check_notify_contract(t);
  for (size_t i = 0; i < t->nreqs; i++) {
    th_req *r = t->reqs[i];
    if (!r->terminal) r->detached = 1;
  }
  cd_env_detach(t->env);
  t->env = NULL;
  /* the workers have let go of the landings */
  for (int w = 0; w < 4; w++)
    for (int id = 0; id < CD_LANDINGS; id++) free(t->landing_mem[w][id]);
  check_notify_contract(t);
  /* engine.h: afterwards the owner releases every request it still holds */
  for (size_t i = 0; i < t->nreqs; i++) {
    th_req *r = t->reqs[i];
    if (!r->released) {
      cd_request_release(r->req);
      r->released = 1;
    }
  }
  for (size_t i = 0; i < t->nreqs; i++) free_req(t->reqs[i]);
  free(t->reqs);
  pthread_mutex_destroy(&t->mu);
  pthread_cond_destroy(&t->cv);
  free(t);
}

void th_give_landings(th_env *t, unsigned worker, unsigned count) {
  ASSERT(worker < 4 && count <= CD_LANDINGS);
  for (unsigned id = 0; id < count; id++) {
    char *mem = malloc(CD_LANDING_CAP);
    ASSERT_NOT_NULL(mem);
    t->landing_mem[worker][id] = mem;
    ASSERT_EQ(cd_env_give_landing(t->env, worker, id, mem, CD_LANDING_CAP), 0);
  }
}

/* ---- submit ------------------------------------------------------------- */

static char *dup_or_null(const char *s, size_t len) {
  if (s == NULL) return NULL;
  char *d = malloc(len + 1);
  ASSERT_NOT_NULL(d);
  memcpy(d, s, len);
  d[len] = '\0';
  return d;
}

th_req *th_submit_refused(th_env *t, cd_config *cfg, const cd_request_opts *base) {
  unsigned port = ts_unused_port();
  char url[96], origin[64];
  snprintf(origin, sizeof origin, "http://127.0.0.1:%u", port);
  snprintf(url, sizeof url, "%s/hello", origin);
  cd_request_opts o;
  if (base != NULL) o = *base;
  else memset(&o, 0, sizeof o);
  o.url = url;
  o.origin = origin;
  o.method = "GET";
  return th_submit_opts(t, cfg, &o);  /* copies the strings */
}

th_req *th_submit_opts(th_env *t, cd_config *cfg, const cd_request_opts *opts) {
  check_owner(t, "th_submit");
  th_req *r = calloc(1, sizeof *r);
  ASSERT_NOT_NULL(r);
  if (t->nreqs == t->cap) {
    t->cap = t->cap ? t->cap * 2 : 64;
    t->reqs = realloc(t->reqs, t->cap * sizeof *t->reqs);
    ASSERT_NOT_NULL(t->reqs);
  }
  r->t = t;
  r->raw = (opts->flags & CD_REQ_RAW) != 0;
  r->slot = t->slot_base + (uint32_t)t->nreqs;
  t->reqs[t->nreqs++] = r;

  /* Hand the engine heap copies and free them right after the call, so
   * that ASan/valgrind catch an engine that keeps the caller's strings. */
  cd_request_opts o = *opts;
  char *url = dup_or_null(opts->url, opts->url ? strlen(opts->url) : 0);
  char *origin = dup_or_null(opts->origin, opts->origin ? strlen(opts->origin) : 0);
  char *method = dup_or_null(opts->method, opts->method ? strlen(opts->method) : 0);
  /* headers come with a length: no NUL terminator, so that reading past
   * headers_len is caught */
  char *headers = NULL;
  if (opts->headers) {
    headers = malloc(opts->headers_len ? opts->headers_len : 1);
    ASSERT_NOT_NULL(headers);
    memcpy(headers, opts->headers, opts->headers_len);
  }
  o.url = url;
  o.origin = origin;
  o.method = method;
  char *connect_to = dup_or_null(opts->connect_to,
                                 opts->connect_to ? strlen(opts->connect_to) : 0);
  o.headers = headers;
  o.connect_to = connect_to;
  o.slot = r->slot;
  r->flags = opts->flags;
  r->t_submit = tu_now_ms();
  r->req = cd_request_submit(t->env, cfg, &o);
  if (headers) memset(headers, 'X', opts->headers_len);
  free(url);
  free(origin);
  free(method);
  free(headers);
  free(connect_to);
  ASSERT_MSG(r->req != NULL, "cd_request_submit returned NULL");
  t->outstanding++;
  return r;
}

th_req *th_submit(th_env *t, cd_config *cfg, const ts_server *srv,
                  const char *method, const char *path,
                  const cd_request_opts *base) {
  cd_request_opts o;
  if (base)
    o = *base;
  else
    memset(&o, 0, sizeof o);
  char url[2300];
  snprintf(url, sizeof url, "%s%s", ts_origin(srv), path);
  o.url = url;
  o.origin = ts_origin(srv);
  o.method = method;
  return th_submit_opts(t, cfg, &o);
}

void th_write(th_env *t, th_req *r, const void *data, size_t len, int end) {
  check_owner(t, "th_write");
  ASSERT_MSG(cd_request_write(r->req, data, len, end) == 0,
             "cd_request_write failed (len %zu end %d)", len, end);
}

void th_release(th_req *r) {
  check_owner(r->t, "th_release");
  ASSERT_MSG(!r->released, "test bug: double release of slot %u", r->slot);
  cd_request_release(r->req);
  r->released = 1;
}

/* ---- event filing ------------------------------------------------------- */

static char *copy_bytes(const char *p, size_t n) {
  char *d = malloc(n + 1);
  ASSERT_NOT_NULL(d);
  if (n) memcpy(d, p, n);
  d[n] = '\0';
  return d;
}

static void check_status_line(th_env *t, th_req *r, const cd_event *ev) {
  /* "HTTP/1.1 200 ..." or "HTTP/2 200 ..." must match a and b. */
  if (ev->len < 12 || memcmp(ev->data, "HTTP/", 5) != 0)
    CD_FAIL("[%s] slot %u: header block does not start with a status line: "
            "\"%.*s\"", t->name, r->slot, (int)(ev->len > 80 ? 80 : ev->len),
            ev->data);
  int ver = 0;
  const char *p = ev->data + 5;
  if (p[0] == '1' && p[1] == '.' && (p[2] == '0' || p[2] == '1')) {
    ver = 10 + (p[2] - '0');
    p += 3;
  } else if (p[0] == '2') {
    ver = 20;
    p += (p[1] == '.' ? 3 : 1);
  }
  int code = (int)strtol(p, NULL, 10);
  if (ver != ev->b || code != ev->a)
    CD_FAIL("[%s] slot %u: HEADERS a=%d b=%d disagree with the status line "
            "\"%.*s\"", t->name, r->slot, ev->a, ev->b, 20, ev->data);
}

static void file_event(th_env *t, cd_event *ev) {
  if (ev->slot == CD_SLOT_NONE) {
    if (ev->type != CD_EV_DISCONNECTED || ev->req != NULL || ev->len == 0)
      CD_FAIL("[%s] environment-level event %s (request %p, %zu bytes)", t->name,
              th_ev_name(ev->type), (void *)ev->req, ev->len);
    t->disconnected++;
    t->last_disconnect_tag = (uint32_t)ev->a;
    return;
  }
  uint32_t idx = ev->slot - t->slot_base;
  if (ev->slot < t->slot_base || idx >= t->nreqs)
    CD_FAIL("[%s] %s event for unknown slot %u", t->name, th_ev_name(ev->type),
            ev->slot);
  th_req *r = t->reqs[idx];
  if (ev->req != r->req)
    CD_FAIL("[%s] slot %u: event %s carries request %p, expected %p", t->name,
            r->slot, th_ev_name(ev->type), (void *)ev->req, (void *)r->req);
  if (r->terminal)
    CD_FAIL("[%s] slot %u: %s after the terminal event %s", t->name, r->slot,
            th_ev_name(ev->type), th_ev_name(r->terminal));
  if (r->released)
    CD_FAIL("[%s] slot %u: %s after release", t->name, r->slot,
            th_ev_name(ev->type));
  /* CONNECTED, CONNECTING and SENDING are about the connection, not the
   * request's own sequence. */
  if (ev->type != CD_EV_CONNECTED && ev->type != CD_EV_CONNECTING && ev->type != CD_EV_SENDING)
    r->nevents++;
  t->events++;
  uint64_t now = tu_now_ms();
  int terminal = 0;
  if (r->timings_last && ev->type != CD_EV_END && ev->type != CD_EV_ERROR &&
      ev->type != CD_EV_ABORTED)
    CD_FAIL("[%s] slot %u: %s after TIMINGS (the terminal event must follow it)",
            t->name, r->slot, th_ev_name(ev->type));
  r->timings_last = 0;

  switch (ev->type) {
    case CD_EV_HEADERS:
      if (r->status)
        CD_FAIL("[%s] slot %u: HEADERS (%d) after the final header block (%d)",
                t->name, r->slot, ev->a, r->status);
      if (ev->a < 100 || ev->a > 999)
        CD_FAIL("[%s] slot %u: HEADERS with status %d", t->name, r->slot, ev->a);
      if (ev->b != 10 && ev->b != 11 && ev->b != 20)
        CD_FAIL("[%s] slot %u: HEADERS with version %d", t->name, r->slot, ev->b);
      check_status_line(t, r, ev);
      if (ev->a < 200 && (ev->c != 0 || ev->d != -1))
        CD_FAIL("[%s] slot %u: HEADERS %d with facts %d, hint %d (a 1xx head has none)",
                t->name, r->slot, ev->a, ev->c, ev->d);
      if (ev->a < 200) {
        if (r->ninfo < 8) r->info_status[r->ninfo] = ev->a;
        if (r->info_head == NULL) {
          r->info_head = copy_bytes(ev->data, ev->len);
          r->info_head_len = ev->len;
        }
        r->ninfo++;
      } else {
        r->status = ev->a;
        r->version = ev->b;
        r->head = copy_bytes(ev->data, ev->len);
        r->head_len = ev->len;
        r->head_facts = ev->c;
        r->keepalive_hint = ev->d;
        r->t_headers = now;
      }
      break;

    case CD_EV_DATA: {
      const char *bytes = ev->landing != NULL ? ev->landing : ev->data;
      if (!r->status && !r->raw)
        CD_FAIL("[%s] slot %u: DATA before the final header block", t->name,
                r->slot);
      if (ev->landing != NULL) {
        ASSERT_MSG(ev->b >= 0 && ev->b < 4 && ev->landing_id < CD_LANDINGS &&
                       t->landing_mem[ev->b][ev->landing_id] == ev->landing,
                   "[%s] slot %u: DATA in landing %u of worker %d, which was not given",
                   t->name, r->slot, ev->landing_id, ev->b);
        t->landed++;
      }
      r->ndata++;
      if (!r->t_first_data) r->t_first_data = now;
      r->t_last_data = now;
      if (r->check_pattern) {
        size_t bad = ts_check_pattern((const uint8_t *)bytes, r->body_bytes,
                                      ev->len);
        if (bad != (size_t)-1)
          CD_FAIL("[%s] slot %u: body byte %llu is 0x%02x, expected 0x%02x",
                  t->name, r->slot,
                  (unsigned long long)(r->body_bytes + bad),
                  (uint8_t)bytes[bad], ts_pattern(r->body_bytes + bad));
      }
      if (r->keep_body && ev->len) {
        if (r->body_len + ev->len > r->body_cap) {
          size_t cap = r->body_cap ? r->body_cap : 4096;
          while (cap < r->body_len + ev->len) cap *= 2;
          r->body = realloc(r->body, cap);
          ASSERT_NOT_NULL(r->body);
          r->body_cap = cap;
        }
        memcpy(r->body + r->body_len, bytes, ev->len);
        r->body_len += ev->len;
      }
      r->body_bytes += ev->len;
      if (ev->landing != NULL) {
        /* scribbled over, as a reused landing is before the worker writes */
        memset(ev->landing, 0xEE, CD_LANDING_CAP);
        ASSERT_EQ(cd_env_give_landing(t->env, (unsigned)ev->b, ev->landing_id, ev->landing,
                                      CD_LANDING_CAP), 0);
      }
      break;
    }

    case CD_EV_BODY_WANTED:
      r->nbody_wanted++;
      break;

    case CD_EV_CONNECTED:
      if (r->status || r->nconnected)
        CD_FAIL("[%s] slot %u: CONNECTED after headers or twice", t->name, r->slot);
      if ((r->flags & CD_REQ_SENDING) && !r->nconnecting)
        CD_FAIL("[%s] slot %u: CONNECTED without CONNECTING first", t->name, r->slot);
      r->nconnected++;
      t->connected++;
      break;

    case CD_EV_CONNECTING:
      if (!(r->flags & CD_REQ_SENDING))
        CD_FAIL("[%s] slot %u: CONNECTING without CD_REQ_SENDING", t->name, r->slot);
      if (r->nconnecting || r->nconnected || r->nsending || r->status)
        CD_FAIL("[%s] slot %u: CONNECTING twice, or after CONNECTED, SENDING or headers",
                t->name, r->slot);
      r->nconnecting++;
      break;

    case CD_EV_SENDING:
      if (!(r->flags & CD_REQ_SENDING))
        CD_FAIL("[%s] slot %u: SENDING without CD_REQ_SENDING", t->name, r->slot);
      if (r->status)
        CD_FAIL("[%s] slot %u: SENDING after the final headers", t->name, r->slot);
      if (r->nconnected && !r->nconnecting)
        CD_FAIL("[%s] slot %u: CONNECTED without CONNECTING first", t->name, r->slot);
      if (ev->len >= sizeof(r->sending))
        CD_FAIL("[%s] slot %u: SENDING payload of %zu bytes", t->name, r->slot, ev->len);
      memcpy(r->sending, ev->data, ev->len);
      r->sending[ev->len] = '\0';
      r->sending_tls = ev->a;
      r->nsending++;
      break;

    case CD_EV_END:
      if (!r->status && !r->raw)
        CD_FAIL("[%s] slot %u: END without a final header block", t->name,
                r->slot);
      terminal = 1;
      break;

    case CD_EV_ERROR:
      if (ev->a == 0)
        CD_FAIL("[%s] slot %u: ERROR with code 0 (%.*s)", t->name, r->slot,
                (int)ev->len, ev->data);
      if (!!(ev->d & CD_ERRF_HEADERS) != !!r->status)
        CD_FAIL("[%s] slot %u: ERROR %d flags %d but final headers were %s "
                "delivered", t->name, r->slot, ev->a, ev->d,
                r->status ? "" : "not");
      if ((ev->d & CD_ERRF_HEADERS) && !(ev->d & CD_ERRF_CONNECTED))
        CD_FAIL("[%s] slot %u: ERROR flags %d: HEADERS without CONNECTED",
                t->name, r->slot, ev->d);
      r->err_a = ev->a;
      r->err_b = ev->b;
      r->err_c = ev->c;
      r->err_d = ev->d;
      r->err_curl = ev->d >> CD_ERRF_CURL_CODE_SHIFT;
      /* a CURLcode in a is libcurl's, and goes in d too; the engine's own
       * codes carry none, or the CURLcode they class */
      if (ev->a > 0 && r->err_curl != ev->a)
        CD_FAIL("[%s] slot %u: ERROR %d with CURLcode %d in d", t->name, r->slot,
                ev->a, r->err_curl);
      terminal = 1;
      break;

    case CD_EV_ABORTED:
      terminal = 1;
      break;

    case CD_EV_TIMINGS:
      if (!(r->flags & CD_REQ_TIMINGS))
        CD_FAIL("[%s] slot %u: TIMINGS without CD_REQ_TIMINGS", t->name, r->slot);
      if (r->ntimings)
        CD_FAIL("[%s] slot %u: TIMINGS twice", t->name, r->slot);
      if (ev->len != sizeof(cd_timings))
        CD_FAIL("[%s] slot %u: TIMINGS payload of %zu bytes, not %zu", t->name,
                r->slot, ev->len, sizeof(cd_timings));
      memcpy(&r->timings, ev->data, sizeof(cd_timings));
      r->ntimings++;
      r->timings_last = 1;
      break;

    default:
      CD_FAIL("[%s] slot %u: unknown event type %d", t->name, r->slot,
              ev->type);
  }

  if (terminal) {
    r->terminal = ev->type;
    r->term_data = copy_bytes(ev->data, ev->len);
    r->term_len = ev->len;
    r->t_terminal = now;
    t->outstanding--;
  }
  if (r->on_event) r->on_event(t, r, ev);
  if (terminal && !r->no_release && !r->released) {
    cd_request_release(r->req);
    r->released = 1;
  }
}

static size_t drain(th_env *t) {
  cd_event *evs[TH_POLL_CAP];
  size_t total = 0;
  atomic_fetch_add(&t->begins_started, 1);
  cd_env_poll_begin(t->env);
  for (;;) {
    size_t max = t->poll_max ? t->poll_max : 64;
    if (max > TH_POLL_CAP) max = TH_POLL_CAP;
    size_t n = cd_env_poll(t->env, evs, max);
    if (n > max) CD_FAIL("[%s] cd_env_poll returned %zu > max %zu", t->name, n, max);
    for (size_t i = 0; i < n; i++) {
      if (evs[i] == NULL) CD_FAIL("[%s] cd_env_poll returned a NULL event", t->name);
      file_event(t, evs[i]);
      cd_event_free(evs[i]);
    }
    total += n;
    if (n == 0) break;
  }
  cd_env_poll_end(t->env);
  return total;
}

static void deadline_after(struct timespec *ts, unsigned ms) {
  clock_gettime(CLOCK_MONOTONIC, ts);
  ts->tv_sec += ms / 1000;
  ts->tv_nsec += (long)(ms % 1000) * 1000000L;
  if (ts->tv_nsec >= 1000000000L) {
    ts->tv_sec++;
    ts->tv_nsec -= 1000000000L;
  }
}

size_t th_pump(th_env *t, unsigned timeout_ms) {
  check_owner(t, "th_pump");
  int got;
  pthread_mutex_lock(&t->mu);
  if (!t->notified && timeout_ms) {
    struct timespec ts;
    deadline_after(&ts, timeout_ms);
    while (!t->notified)
      if (pthread_cond_timedwait(&t->cv, &t->mu, &ts) == ETIMEDOUT) break;
  }
  got = t->notified;
  t->notified = 0;
  pthread_mutex_unlock(&t->mu);
  if (got) return drain(t);

  /* Nothing was announced: were events left waiting without a notify? */
  size_t n = drain(t);
  if (n > 0) {
    /* A notify may be on its way (pushed, not yet called): allow for it. */
    struct timespec ts;
    deadline_after(&ts, tu_slow_ms(1000));
    pthread_mutex_lock(&t->mu);
    while (!t->notified)
      if (pthread_cond_timedwait(&t->cv, &t->mu, &ts) == ETIMEDOUT) break;
    got = t->notified;
    pthread_mutex_unlock(&t->mu);
    if (!got)
      CD_FAIL("[%s] lost notification: %zu event(s) were waiting and notify "
              "was not called", t->name, n);
  }
  return n;
}

void th_pump_for(th_env *t, unsigned ms) {
  uint64_t end = tu_now_ms() + ms;
  for (;;) {
    uint64_t now = tu_now_ms();
    if (now >= end) break;
    th_pump(t, (unsigned)(end - now));
  }
}

static void describe_req(const th_req *r, char *buf, size_t n) {
  snprintf(buf, n,
           "slot %u: events %d, info %d, status %d, data events %d, "
           "body %llu bytes, body_wanted %d, terminal %s",
           r->slot, r->nevents, r->ninfo, r->status, r->ndata,
           (unsigned long long)r->body_bytes, r->nbody_wanted,
           r->terminal ? th_ev_name(r->terminal) : "none");
}

void th_wait(th_env *t, th_req *r, unsigned timeout_ms) {
  uint64_t end = tu_now_ms() + timeout_ms;
  while (!r->terminal) {
    uint64_t now = tu_now_ms();
    if (now >= end) {
      char d[256];
      describe_req(r, d, sizeof d);
      CD_FAIL("[%s] timed out after %u ms waiting for a terminal event (%s)",
              t->name, timeout_ms, d);
    }
    uint64_t left = end - now;
    th_pump(t, left > 1000 ? 1000 : (unsigned)left);
  }
}

void th_wait_all(th_env *t, unsigned timeout_ms) {
  uint64_t end = tu_now_ms() + timeout_ms;
  while (t->outstanding > 0) {
    uint64_t now = tu_now_ms();
    if (now >= end) {
      char d[256] = "";
      for (size_t i = 0; i < t->nreqs; i++)
        if (!t->reqs[i]->terminal) {
          describe_req(t->reqs[i], d, sizeof d);
          break;
        }
      CD_FAIL("[%s] timed out after %u ms: %zu request(s) unfinished, e.g. %s",
              t->name, timeout_ms, t->outstanding, d);
    }
    uint64_t left = end - now;
    th_pump(t, left > 1000 ? 1000 : (unsigned)left);
  }
}

int th_wait_until(th_env *t, int (*pred)(th_env *, void *), void *arg,
                  unsigned timeout_ms) {
  uint64_t end = tu_now_ms() + timeout_ms;
  while (!pred(t, arg)) {
    uint64_t now = tu_now_ms();
    if (now >= end) return 0;
    uint64_t left = end - now;
    th_pump(t, left > 200 ? 200 : (unsigned)left);
  }
  return 1;
}

/* ---- engine state ------------------------------------------------------- */

void th_print_stats(cd_engine *eng, const char *when) {
  cd_engine_stats s;
  cd_engine_get_stats(eng, &s);
  cd_test_log("stats %s: requests %ld transfers %ld events %ld commands %ld "
              "handles %ld envs %ld workers %u",
              when, s.requests, s.transfers, s.events, s.commands, s.handles,
              s.envs, s.workers);
}

void th_expect_idle(cd_engine *eng, th_env *t, unsigned timeout_ms) {
  uint64_t end = tu_now_ms() + timeout_ms;
  cd_engine_stats s;
  for (;;) {
    cd_engine_get_stats(eng, &s);
    if (s.requests == 0 && s.transfers == 0 && s.events == 0 && s.commands == 0)
      return;
    if (tu_now_ms() >= end) break;
    /* Closing connections still report DISCONNECTED: take them. */
    if (t != NULL) th_pump(t, 5);
    else tu_sleep_ms(5);
  }
  CD_FAIL("engine not idle after %u ms: requests %ld transfers %ld events %ld "
          "commands %ld (handles %ld envs %ld)",
          timeout_ms, s.requests, s.transfers, s.events, s.commands, s.handles,
          s.envs);
}

cd_config *th_config_default(void) {
  cd_config_opts o;
  memset(&o, 0, sizeof o);
  cd_config *c = cd_config_new(&o);
  ASSERT_MSG(c != NULL, "cd_config_new returned NULL");
  return c;
}

void th_fx_begin(th_fx *fx, unsigned workers) {
  memset(fx, 0, sizeof *fx);
  fx->eng = cd_engine_acquire();
  ASSERT_MSG(fx->eng != NULL, "cd_engine_acquire returned NULL");
  unsigned n = cd_engine_ensure_workers(fx->eng, workers);
  ASSERT_GE(n, workers);
  fx->srv = ts_start();
  ASSERT_NOT_NULL(fx->srv);
  fx->t = th_attach(fx->eng, "main");
  fx->cfg = th_config_default();
}

void th_fx_end(th_fx *fx, int allow_accept) {
  th_wait_all(fx->t, tu_slow_ms(10000));
  ASSERT_MSG(ts_saw_expect(fx->srv) == 0,
             "the server received %ld request(s) with an Expect: header",
             ts_saw_expect(fx->srv));
  if (!allow_accept)
    ASSERT_MSG(ts_saw_accept(fx->srv) == 0,
               "the server received %ld request(s) with an Accept: header",
               ts_saw_accept(fx->srv));
  cd_config_release(fx->cfg);
  /* Everything was released: the engine must get back to idle by itself. */
  th_expect_idle(fx->eng, fx->t, tu_slow_ms(2000));
  /* Workers drop the config's idle connections, and with them their
   * references, once it is released: no configuration may outlive that. */
  cd_engine_stats s;
  uint64_t end = tu_now_ms() + tu_slow_ms(2000);
  for (;;) {
    cd_engine_get_stats(fx->eng, &s);
    if (s.configs == 0 || tu_now_ms() >= end) break;
    th_pump(fx->t, 5);
  }
  ASSERT_MSG(s.configs == 0, "%ld configuration(s) still alive", s.configs);
  th_detach(fx->t);
  cd_engine_get_stats(fx->eng, &s);
  ASSERT_EQ(s.requests, 0);
  ASSERT_EQ(s.transfers, 0);
  ASSERT_EQ(s.events, 0);
  ASSERT_EQ(s.commands, 0);
  ASSERT_EQ(s.envs, 0);
  ts_stop(fx->srv);
  cd_engine_release(fx->eng);
  memset(fx, 0, sizeof *fx);
}

/* ---- checks ------------------------------------------------------------- */

void th_expect_end(const th_req *r, int status) {
  if (r->terminal != CD_EV_END) {
    if (r->terminal == CD_EV_ERROR)
      CD_FAIL("slot %u: expected END, got ERROR %d (errno %d, flags %d): %s",
              r->slot, r->err_a, r->err_b, r->err_d,
              r->term_data ? r->term_data : "");
    CD_FAIL("slot %u: expected END, got %s", r->slot,
            r->terminal ? th_ev_name(r->terminal) : "nothing");
  }
  if (status) ASSERT_EQ(r->status, status);
}

void th_expect_error(const th_req *r, int code) {
  if (r->terminal != CD_EV_ERROR)
    CD_FAIL("slot %u: expected ERROR %d, got %s (status %d)", r->slot, code,
            r->terminal ? th_ev_name(r->terminal) : "nothing", r->status);
  if (r->err_a != code)
    CD_FAIL("slot %u: expected ERROR %d, got ERROR %d (errno %d): %s", r->slot,
            code, r->err_a, r->err_b, r->term_data ? r->term_data : "");
}

void th_expect_body(const th_req *r, const void *data, size_t len) {
  ASSERT_MSG(r->keep_body, "test bug: keep_body not set on slot %u", r->slot);
  if (r->body_len != len || r->body_bytes != len) {
    CD_FAIL("slot %u: body is %zu bytes, expected %zu", r->slot, r->body_len,
            len);
  }
  if (len && memcmp(r->body, data, len) != 0) {
    size_t i = 0;
    while (r->body[i] == ((const uint8_t *)data)[i]) i++;
    CD_FAIL("slot %u: body differs at byte %zu of %zu", r->slot, i, len);
  }
}
