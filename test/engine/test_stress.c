/* test_stress.c - rings and workers under load, meant for ThreadSanitizer.
 *
 * Several threads, each an environment attaching and detaching in rounds,
 * submit many small requests of every kind to random workers; they abort
 * at random moments, pause and resume, stream request bodies (some driven
 * by BODY_WANTED), poll in random batch sizes, and now and then detach with
 * requests still in flight. Meanwhile the main thread grows the worker pool.
 * Every request must get exactly one terminal event (the harness checks the
 * order of everything), and finished ones must carry the right bytes.
 *
 * Environment: CD_STRESS_SCALE (default 1) multiplies the rounds;
 * CD_STRESS_SEED fixes the seed (printed at start).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cd_test.h"
#include "harness.h"

enum {
  S_HELLO,
  S_BIG,
  S_CHUNKED,
  S_ECHO,      /* body written at submit */
  S_ECHO_FLOW, /* body written chunk by chunk on BODY_WANTED */
  S_STALL,     /* ends by body timeout or abort */
  S_NOTHING,   /* ends by headers timeout or abort */
  S_KINDS
};

typedef struct st_req {
  int kind;
  uint64_t n;
  uint8_t *sent;
  size_t sent_len, written, chunk;
  int abort_after; /* events; 0: no */
  uint64_t abort_at; /* ms; 0: no */
  int aborted;
  int pause_every; /* DATA events; 0: never */
  int paused;
  uint64_t paused_at;
} st_req;

typedef struct st_thread {
  cd_engine *eng;
  ts_server *srv;
  int idx;
  unsigned rounds, per_round;
  uint64_t seed;
  long ends, errors, aborts, detached;
} st_thread;

static void st_abort(th_req *r) {
  st_req *s = r->data;
  if (!s->aborted && !r->terminal) {
    s->aborted = 1;
    cd_request_abort(r->req);
  }
}

static void st_on_event(th_env *t, th_req *r, const cd_event *ev) {
  st_req *s = r->data;
  if (r->terminal) return;
  if (ev->type == CD_EV_BODY_WANTED && s->kind == S_ECHO_FLOW &&
      s->written < s->sent_len && !s->aborted) {
    size_t n = s->sent_len - s->written;
    if (n > s->chunk) n = s->chunk;
    th_write(t, r, s->sent + s->written, n, s->written + n == s->sent_len);
    s->written += n;
  }
  if (s->abort_after && r->nevents >= s->abort_after) st_abort(r);
  if (ev->type == CD_EV_DATA && s->pause_every && !s->paused &&
      r->ndata % s->pause_every == 0) {
    s->paused = 1;
    s->paused_at = tu_now_ms();
    cd_request_pause(r->req);
  }
}

static th_req *st_submit(th_env *t, cd_config *cfg, ts_server *srv, tu_rng *rng) {
  st_req *s = calloc(1, sizeof *s);
  ASSERT_NOT_NULL(s);
  s->kind = (int)tu_rng_range(rng, 0, S_KINDS - 1);
  cd_request_opts o;
  memset(&o, 0, sizeof o);
  o.worker = (unsigned)tu_rng_next(rng);
  o.flags = tu_rng_range(rng, 0, 15) == 0 ? CD_REQ_RESET : 0;
  char path[80];
  const char *method = "GET";
  switch (s->kind) {
    case S_HELLO: snprintf(path, sizeof path, "/hello"); s->n = 5; break;
    case S_BIG:
      s->n = tu_rng_range(rng, 0, 256 * 1024);
      snprintf(path, sizeof path, "/big?n=%llu", (unsigned long long)s->n);
      break;
    case S_CHUNKED:
      s->n = tu_rng_range(rng, 1, 128 * 1024);
      snprintf(path, sizeof path, "/chunked?n=%llu", (unsigned long long)s->n);
      break;
    case S_ECHO:
    case S_ECHO_FLOW:
      snprintf(path, sizeof path, "/echo");
      method = tu_rng_range(rng, 0, 1) ? "POST" : "PUT";
      s->sent_len = (size_t)tu_rng_range(rng, 0, 64 * 1024);
      s->sent = malloc(s->sent_len ? s->sent_len : 1);
      ASSERT_NOT_NULL(s->sent);
      tu_rng_fill(rng, s->sent, s->sent_len);
      s->n = s->sent_len;
      o.body_mode = CD_BODY_STREAM;
      o.body_length = tu_rng_range(rng, 0, 1) ? -1 : (int64_t)s->sent_len;
      s->chunk = (size_t)tu_rng_range(rng, 1, 16384);
      break;
    case S_STALL:
      snprintf(path, sizeof path, "/stall?partial=%llu",
               (unsigned long long)tu_rng_range(rng, 0, 3000));
      o.body_timeout_ms = (uint32_t)tu_rng_range(rng, 20, 200);
      break;
    default:
      snprintf(path, sizeof path, "/nothing");
      o.headers_timeout_ms = (uint32_t)tu_rng_range(rng, 20, 200);
      break;
  }
  th_req *r = th_submit(t, cfg, srv, method, path, &o);
  r->data = s;
  r->on_event = st_on_event;
  r->check_pattern = s->kind == S_BIG || s->kind == S_CHUNKED || s->kind == S_STALL;
  r->keep_body = s->kind == S_HELLO || s->kind == S_ECHO || s->kind == S_ECHO_FLOW;

  if (s->kind == S_ECHO) {
    size_t off = 0;
    while (off < s->sent_len) {
      size_t n = s->sent_len - off;
      if (n > s->chunk) n = s->chunk;
      th_write(t, r, s->sent + off, n, off + n == s->sent_len);
      off += n;
    }
    if (s->sent_len == 0) th_write(t, r, "", 0, 1);
    s->written = s->sent_len;
  } else if (s->kind == S_ECHO_FLOW) {
    size_t n = s->sent_len < s->chunk ? s->sent_len : s->chunk;
    th_write(t, r, s->sent, n, n == s->sent_len);
    s->written = n;
  }

  int mode = (int)tu_rng_range(rng, 0, 9);
  if (mode == 0)
    st_abort(r);
  else if (mode == 1)
    s->abort_after = (int)tu_rng_range(rng, 1, 5);
  else if (mode == 2)
    s->abort_at = tu_now_ms() + tu_rng_range(rng, 0, 100);
  if (tu_rng_range(rng, 0, 3) == 0) s->pause_every = (int)tu_rng_range(rng, 1, 4);
  return r;
}

static void st_check(st_thread *st, th_req *r) {
  st_req *s = r->data;
  switch (r->terminal) {
    case CD_EV_END:
      st->ends++;
      ASSERT_EQ(r->status, 200);
      ASSERT_MSG(s->kind != S_STALL && s->kind != S_NOTHING,
                 "slot %u: END for a request that cannot end", r->slot);
      ASSERT_EQ(r->body_bytes, s->n);
      if (s->kind == S_HELLO) th_expect_body(r, "hello", 5);
      if (s->kind == S_ECHO || s->kind == S_ECHO_FLOW)
        th_expect_body(r, s->sent, s->sent_len);
      if (s->kind == S_CHUNKED)
        ASSERT_CONTAINS(r->term_data, r->term_len, "X-Trailer: yes");
      break;
    case CD_EV_ERROR:
      st->errors++;
      if (s->kind == S_STALL)
        ASSERT_EQ(r->err_a, CD_ERR_BODY_TIMEOUT);
      else if (s->kind == S_NOTHING)
        ASSERT_EQ(r->err_a, CD_ERR_HEADERS_TIMEOUT);
      else
        CD_FAIL("slot %u (kind %d): unexpected ERROR %d errno %d: %s", r->slot,
                s->kind, r->err_a, r->err_b, r->term_data);
      break;
    case CD_EV_ABORTED:
      st->aborts++;
      ASSERT_MSG(s->aborted, "slot %u: ABORTED without an abort", r->slot);
      break;
    default:
      CD_FAIL("slot %u: no terminal event", r->slot);
  }
}

static void *st_main(void *arg) {
  st_thread *st = arg;
  tu_rng rng;
  tu_rng_seed(&rng, st->seed);
  cd_config *cfg = th_config_default();
  for (unsigned round = 0; round < st->rounds; round++) {
    char name[32];
    snprintf(name, sizeof name, "stress-%d.%u", st->idx, round);
    th_env *t = th_attach(st->eng, name);
    t->poll_max = (size_t)tu_rng_range(&rng, 1, 64);
    int early = tu_rng_range(&rng, 0, 3) == 0;
    uint64_t early_at = tu_now_ms() + tu_rng_range(&rng, 10, 150);
    for (unsigned i = 0; i < st->per_round; i++) {
      st_submit(t, cfg, st->srv, &rng);
      if (tu_rng_range(&rng, 0, 7) == 0) th_pump(t, 0);
    }
    uint64_t deadline = tu_now_ms() + tu_slow_ms(30000);
    while (t->outstanding > 0) {
      uint64_t now = tu_now_ms();
      if (early && now >= early_at) break;
      ASSERT_MSG(now < deadline, "[%s] %zu requests unfinished after 30 s",
                 name, t->outstanding);
      th_pump(t, 5);
      now = tu_now_ms();
      for (size_t i = 0; i < t->nreqs; i++) {
        th_req *r = t->reqs[i];
        st_req *s = r->data;
        if (r->terminal) continue;
        if (s->paused && now - s->paused_at >= 3) {
          s->paused = 0;
          cd_request_resume(r->req);
        }
        if (s->abort_at && now >= s->abort_at) st_abort(r);
      }
    }
    size_t n = t->nreqs;
    st_req **keep = malloc(n * sizeof *keep);
    ASSERT_NOT_NULL(keep);
    for (size_t i = 0; i < n; i++) {
      th_req *r = t->reqs[i];
      keep[i] = r->data;
      if (r->terminal)
        st_check(st, r);
      else
        st->detached++;
    }
    th_detach(t);
    for (size_t i = 0; i < n; i++) {
      free(keep[i]->sent);
      free(keep[i]);
    }
    free(keep);
  }
  cd_config_release(cfg);
  return NULL;
}

TEST_IMPL(stress_rings) {
  unsigned scale = 1;
  const char *e = getenv("CD_STRESS_SCALE");
  if (e && atoi(e) > 0) scale = (unsigned)atoi(e);
  uint64_t seed = tu_now_us();
  e = getenv("CD_STRESS_SEED");
  if (e) seed = strtoull(e, NULL, 10);
  cd_test_log("seed %llu (CD_STRESS_SEED), scale %u (CD_STRESS_SCALE)",
              (unsigned long long)seed, scale);
  enum { THREADS = 6 };
  ts_server *srv = ts_start();
  cd_engine *eng = cd_engine_acquire();
  ASSERT_NOT_NULL(eng);
  ASSERT_GE(cd_engine_ensure_workers(eng, 2), 2);
  st_thread st[THREADS];
  pthread_t th[THREADS];
  memset(st, 0, sizeof st);
  uint64_t t0 = tu_now_ms();
  for (int i = 0; i < THREADS; i++) {
    st[i].eng = eng;
    st[i].srv = srv;
    st[i].idx = i;
    st[i].rounds = 6 * scale;
    st[i].per_round = 40;
    st[i].seed = seed + (uint64_t)i * 7919;
    ASSERT_EQ(pthread_create(&th[i], NULL, st_main, &st[i]), 0);
  }
  tu_sleep_ms(100);
  cd_engine_ensure_workers(eng, 3);
  tu_sleep_ms(100);
  cd_engine_ensure_workers(eng, 4);
  long ends = 0, errors = 0, aborts = 0, detached = 0;
  for (int i = 0; i < THREADS; i++) {
    pthread_join(th[i], NULL);
    ends += st[i].ends;
    errors += st[i].errors;
    aborts += st[i].aborts;
    detached += st[i].detached;
  }
  cd_test_log("%d threads: %ld END, %ld ERROR (timeouts), %ld ABORTED, %ld "
              "dropped by detach, %llu ms, %ld connections",
              THREADS, ends, errors, aborts, detached,
              (unsigned long long)(tu_now_ms() - t0), ts_accepted(srv));
  cd_engine_stats s;
  cd_engine_get_stats(eng, &s);
  ASSERT_EQ(s.envs, 0);
  ASSERT_EQ(s.requests, 0);
  ASSERT_EQ(s.transfers, 0);
  ASSERT_EQ(s.events, 0);
  ASSERT_EQ(s.commands, 0);
  ASSERT_GE(s.workers, 4);
  ASSERT_EQ(ts_saw_expect(srv), 0);
  cd_engine_release(eng);
  ts_stop(srv);
  return 0;
}
