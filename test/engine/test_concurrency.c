/* test_concurrency.c - many requests, several environments, connection
 * reuse and limits, pool growth. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cd_test.h"
#include "harness.h"
#include "cd_channel.h" /* CD__DRAIN_WAKE_EVERY */

/* ---- a mixed batch, checked per kind ------------------------------------ */

enum { M_HELLO, M_BIG, M_CHUNKED, M_ECHO, M_HEAD_ECHO, M_KINDS };

typedef struct mixed {
  th_req *r;
  int kind;
  uint64_t n;
  uint8_t *sent;
  size_t sent_len;
} mixed;

static void mixed_submit(th_env *t, cd_config *cfg, ts_server *srv, mixed *m,
                         unsigned i, tu_rng *rng) {
  char path[64];
  cd_request_opts o;
  memset(&o, 0, sizeof o);
  o.worker = i;
  m->kind = (int)(i % M_KINDS);
  const char *method = "GET";
  switch (m->kind) {
    case M_HELLO: snprintf(path, sizeof path, "/hello"); break;
    case M_BIG:
      m->n = tu_rng_range(rng, 0, 400000);
      snprintf(path, sizeof path, "/big?n=%llu", (unsigned long long)m->n);
      break;
    case M_CHUNKED: snprintf(path, sizeof path, "/chunked"); break;
    case M_ECHO:
      snprintf(path, sizeof path, "/echo");
      method = "POST";
      o.body_mode = CD_BODY_STREAM;
      o.body_length = i % 2 ? -1 : 3000;
      break;
    default: snprintf(path, sizeof path, "/head-echo?i=%u", i); break;
  }
  m->r = th_submit(t, cfg, srv, method, path, &o);
  m->r->keep_body = m->kind != M_BIG;
  m->r->check_pattern = m->kind == M_BIG;
  if (m->kind == M_ECHO) {
    m->sent_len = 3000;
    m->sent = malloc(m->sent_len);
    ASSERT_NOT_NULL(m->sent);
    tu_rng_fill(rng, m->sent, m->sent_len);
    th_write(t, m->r, m->sent, 1000, 0);
    th_write(t, m->r, m->sent + 1000, 1000, 0);
    th_write(t, m->r, m->sent + 2000, 1000, 1);
  }
}

static void mixed_check(const mixed *m, unsigned i) {
  th_expect_end(m->r, 200);
  switch (m->kind) {
    case M_HELLO: th_expect_body(m->r, "hello", 5); break;
    case M_BIG: ASSERT_EQ(m->r->body_bytes, m->n); break;
    case M_CHUNKED:
      th_expect_body(m->r, "hello world", 11);
      ASSERT_CONTAINS(m->r->term_data, m->r->term_len, "X-Trailer: yes");
      break;
    case M_ECHO: th_expect_body(m->r, m->sent, m->sent_len); break;
    default: {
      char line[64];
      snprintf(line, sizeof line, "GET /head-echo?i=%u HTTP/1.1\r\n", i);
      ASSERT_MSG(m->r->body_len > strlen(line) &&
                     memcmp(m->r->body, line, strlen(line)) == 0,
                 "request %u got the head of another request: %.*s", i,
                 (int)m->r->body_len, (const char *)m->r->body);
    }
  }
}

TEST_IMPL(many_concurrent) {
  enum { N = 200 };
  th_fx fx;
  th_fx_begin(&fx, 2);
  tu_rng rng;
  tu_rng_seed(&rng, 7);
  mixed *m = calloc(N, sizeof *m);
  ASSERT_NOT_NULL(m);
  uint64_t t0 = tu_now_ms();
  for (unsigned i = 0; i < N; i++) mixed_submit(fx.t, fx.cfg, fx.srv, &m[i], i, &rng);
  th_wait_all(fx.t, tu_slow_ms(30000));
  cd_test_log("%d requests over 2 workers in %llu ms, %ld connections", N,
              (unsigned long long)(tu_now_ms() - t0), ts_accepted(fx.srv));
  for (unsigned i = 0; i < N; i++) {
    mixed_check(&m[i], i);
    free(m[i].sent);
  }
  free(m);
  th_fx_end(&fx, 0);
  return 0;
}

/* ---- two environments, two threads -------------------------------------- */

typedef struct env_thread {
  cd_engine *eng;
  ts_server *srv;
  pthread_barrier_t *barrier;
  const char *name;
  uint64_t seed;
} env_thread;

static void *env_thread_main(void *arg) {
  env_thread *e = arg;
  enum { N = 100 };
  cd_config *cfg = th_config_default();
  pthread_barrier_wait(e->barrier);
  th_env *t = th_attach(e->eng, e->name);
  tu_rng rng;
  tu_rng_seed(&rng, e->seed);
  mixed *m = calloc(N, sizeof *m);
  ASSERT_NOT_NULL(m);
  for (unsigned i = 0; i < N; i++) {
    mixed_submit(t, cfg, e->srv, &m[i], i, &rng);
    if (i % 25 == 24) th_pump(t, 0);
  }
  th_wait_all(t, tu_slow_ms(30000));
  for (unsigned i = 0; i < N; i++) {
    mixed_check(&m[i], i);
    free(m[i].sent);
  }
  free(m);
  cd_config_release(cfg);
  pthread_barrier_wait(e->barrier);
  th_detach(t);
  return NULL;
}

TEST_IMPL(two_envs_two_threads) {
  cd_engine *eng = cd_engine_acquire();
  ASSERT_NOT_NULL(eng);
  ASSERT_GE(cd_engine_ensure_workers(eng, 2), 2);
  ts_server *srv = ts_start();
  pthread_barrier_t barrier;
  pthread_barrier_init(&barrier, NULL, 2);
  env_thread e[2] = {{eng, srv, &barrier, "env-a", 11},
                     {eng, srv, &barrier, "env-b", 12}};
  pthread_t th[2];
  for (int i = 0; i < 2; i++)
    ASSERT_EQ(pthread_create(&th[i], NULL, env_thread_main, &e[i]), 0);
  for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
  pthread_barrier_destroy(&barrier);
  cd_engine_stats s;
  cd_engine_get_stats(eng, &s);
  ASSERT_EQ(s.envs, 0);
  ASSERT_EQ(s.requests, 0);
  ASSERT_EQ(s.transfers, 0);
  ASSERT_EQ(s.events, 0);
  ASSERT_EQ(s.commands, 0);
  ASSERT_EQ(ts_saw_expect(srv), 0);
  ASSERT_EQ(ts_saw_accept(srv), 0);
  ts_stop(srv);
  cd_engine_release(eng);
  return 0;
}

/* ---- connections ---------------------------------------------------------- */

static th_req *hello_on(th_fx *fx, cd_config *cfg, ts_server *srv,
                        unsigned worker, int reset) {
  cd_request_opts o;
  memset(&o, 0, sizeof o);
  o.worker = worker;
  o.flags = reset ? CD_REQ_RESET : 0;
  th_req *r = th_submit(fx->t, cfg, srv, "GET", "/hello", &o);
  th_wait(fx->t, r, tu_slow_ms(5000));
  th_expect_end(r, 200);
  return r;
}

TEST_IMPL(keepalive_reuse) {
  th_fx fx;
  th_fx_begin(&fx, 2);
  for (int i = 0; i < 20; i++) hello_on(&fx, fx.cfg, fx.srv, 0, 0);
  ASSERT_EQ(ts_accepted(fx.srv), 1);
  for (int i = 0; i < 20; i++) hello_on(&fx, fx.cfg, fx.srv, 1, 0);
  cd_test_log("40 sequential requests on 2 workers: %ld connection(s)",
              ts_accepted(fx.srv));
  ASSERT_LE(ts_accepted(fx.srv), 2);
  th_fx_end(&fx, 0);
  return 0;
}

/* One CONNECTED per connection, on the request that opened it; one
 * DISCONNECTED, carrying the config's tag, when it closes. */
TEST_IMPL(connection_events) {
  th_fx fx;
  th_fx_begin(&fx, 1);
  cd_config_opts co;
  memset(&co, 0, sizeof co);
  co.tag = 77;
  cd_config *cfg = cd_config_new(&co);
  ASSERT_NOT_NULL(cfg);
  th_req *first = hello_on(&fx, cfg, fx.srv, 0, 0);
  ASSERT_EQ(first->nconnected, 1);
  for (int i = 0; i < 3; i++) ASSERT_EQ(hello_on(&fx, cfg, fx.srv, 0, 0)->nconnected, 0);
  ASSERT_EQ(fx.t->connected, 1);
  ASSERT_EQ(fx.t->disconnected, 0);
  /* reset: the connection closes after the request */
  th_req *last = hello_on(&fx, cfg, fx.srv, 0, 1);
  ASSERT_EQ(last->nconnected, 0);
  th_pump(fx.t, 200);
  ASSERT_EQ(fx.t->disconnected, 1);
  ASSERT_EQ(fx.t->last_disconnect_tag, 77);
  ASSERT_EQ(hello_on(&fx, cfg, fx.srv, 0, 0)->nconnected, 1);
  ASSERT_EQ(ts_accepted(fx.srv), 2);
  cd_config_release(cfg);
  th_fx_end(&fx, 0);
  return 0;
}

TEST_IMPL(reset_flag) {
  th_fx fx;
  th_fx_begin(&fx, 1);
  for (int i = 0; i < 3; i++) hello_on(&fx, fx.cfg, fx.srv, 0, 1);
  ASSERT_EQ(ts_accepted(fx.srv), 3);
  hello_on(&fx, fx.cfg, fx.srv, 0, 0);
  hello_on(&fx, fx.cfg, fx.srv, 0, 0);
  ASSERT_EQ(ts_accepted(fx.srv), 4);
  th_fx_end(&fx, 0);
  return 0;
}

TEST_IMPL(connection_limit) {
  th_fx fx;
  th_fx_begin(&fx, 1);
  cd_config_opts co;
  memset(&co, 0, sizeof co);
  co.connections = 2;
  cd_config *cfg = cd_config_new(&co);
  ASSERT_NOT_NULL(cfg);
  uint64_t t0 = tu_now_ms();
  th_req *r[12];
  for (int i = 0; i < 12; i++)
    r[i] = th_submit(fx.t, cfg, fx.srv, "GET", "/slow?ms=150", NULL);
  cd_config_release(cfg);
  th_wait_all(fx.t, tu_slow_ms(10000));
  uint64_t took = tu_now_ms() - t0;
  for (int i = 0; i < 12; i++) th_expect_end(r[i], 200);
  cd_test_log("12 x 150 ms with connections=2: %llu ms, at most %ld at once, "
              "%ld connection(s)",
              (unsigned long long)took, ts_max_busy(fx.srv), ts_accepted(fx.srv));
  ASSERT_LE(ts_max_busy(fx.srv), 2);
  ASSERT_GE(took, 6 * 150 - 50);
  th_fx_end(&fx, 0);
  return 0;
}

TEST_IMPL(keepalive_timeout) {
  th_fx fx;
  th_fx_begin(&fx, 1);
  ts_server *other = ts_start();
  cd_config_opts co;
  memset(&co, 0, sizeof co);
  co.keepalive_timeout_ms = 500;
  cd_config *shortka = cd_config_new(&co);
  ASSERT_NOT_NULL(shortka);
  /* default: the idle connection is reused after 1.6 s */
  hello_on(&fx, fx.cfg, fx.srv, 0, 0);
  /* 500 ms: it is not */
  hello_on(&fx, shortka, other, 0, 0);
  th_pump_for(fx.t, 1600);
  hello_on(&fx, fx.cfg, fx.srv, 0, 0);
  hello_on(&fx, shortka, other, 0, 0);
  cd_test_log("after 1.6 s idle: default config %ld connection(s), "
              "keepalive 500 ms %ld connection(s)",
              ts_accepted(fx.srv), ts_accepted(other));
  ASSERT_EQ(ts_accepted(fx.srv), 1);
  ASSERT_EQ(ts_accepted(other), 2);
  cd_config_release(shortka);
  ts_stop(other);
  th_fx_end(&fx, 0);
  return 0;
}

typedef struct grow_arg {
  cd_engine *eng;
  unsigned got;
} grow_arg;

static void *grow_main(void *arg) {
  grow_arg *g = arg;
  g->got = cd_engine_ensure_workers(g->eng, 6);
  return NULL;
}

TEST_IMPL(grow_pool_while_attached) {
  th_fx fx;
  th_fx_begin(&fx, 2);
  th_req *r[40];
  for (int i = 0; i < 10; i++) {
    cd_request_opts o;
    memset(&o, 0, sizeof o);
    o.worker = (unsigned)i;
    r[i] = th_submit(fx.t, fx.cfg, fx.srv, "GET", "/slow?ms=50", &o);
  }
  ASSERT_GE(cd_engine_ensure_workers(fx.eng, 4), 4);
  for (int i = 10; i < 20; i++) {
    cd_request_opts o;
    memset(&o, 0, sizeof o);
    o.worker = (unsigned)i;
    r[i] = th_submit(fx.t, fx.cfg, fx.srv, "GET", "/big?n=100000", &o);
    r[i]->check_pattern = 1;
  }
  /* from another thread while this one pumps */
  grow_arg g = {fx.eng, 0};
  pthread_t th;
  ASSERT_EQ(pthread_create(&th, NULL, grow_main, &g), 0);
  th_pump(fx.t, 20);
  pthread_join(th, NULL);
  ASSERT_GE(g.got, 6);
  for (int i = 20; i < 40; i++) {
    cd_request_opts o;
    memset(&o, 0, sizeof o);
    o.worker = (unsigned)i;
    r[i] = th_submit(fx.t, fx.cfg, fx.srv, "GET", "/hello", &o);
  }
  th_wait_all(fx.t, tu_slow_ms(10000));
  for (int i = 0; i < 40; i++) th_expect_end(r[i], 200);
  cd_engine_stats s;
  cd_engine_get_stats(fx.eng, &s);
  ASSERT_GE(s.workers, 6);
  th_fx_end(&fx, 0);
  return 0;
}

TEST_IMPL(worker_modulo) {
  static const unsigned workers[] = {1000, 7, 0xffffffffu, 2, 3};
  th_fx fx;
  th_fx_begin(&fx, 2);
  th_req *r[5];
  for (int i = 0; i < 5; i++) {
    cd_request_opts o;
    memset(&o, 0, sizeof o);
    o.worker = workers[i];
    r[i] = th_submit(fx.t, fx.cfg, fx.srv, "GET", "/hello", &o);
  }
  th_wait_all(fx.t, tu_slow_ms(5000));
  for (int i = 0; i < 5; i++) th_expect_end(r[i], 200);
  th_fx_end(&fx, 0);
  return 0;
}

/* More requests than the command ring holds, while the owner does not poll
 * for a while: the event ring (8192 slots) fills up, later events are held
 * back by the worker and transfers wait, then everything arrives in order. */
TEST_IMPL(submit_and_event_backlog) {
  enum { N = 5000 };
  th_fx fx;
  th_fx_begin(&fx, 1);
  cd_config_opts co;
  memset(&co, 0, sizeof co);
  co.connections = 8;
  cd_config *cfg = cd_config_new(&co);
  ASSERT_NOT_NULL(cfg);
  th_req **r = calloc(N, sizeof *r);
  ASSERT_NOT_NULL(r);
  for (int i = 0; i < N; i++) {
    r[i] = th_submit(fx.t, cfg, fx.srv, "GET", "/hello", NULL);
    r[i]->keep_body = 1;
  }
  cd_config_release(cfg);
  /* let the worker run ahead of us */
  uint64_t t0 = tu_now_ms();
  long events = 0;
  cd_engine_stats s;
  while (tu_now_ms() - t0 < tu_slow_ms(1500)) {
    tu_sleep_ms(50);
    cd_engine_get_stats(fx.eng, &s);
    if (s.events > events) events = s.events;
  }
  cd_test_log("%d requests, up to %ld events waiting unpolled", N, events);
  th_wait_all(fx.t, tu_slow_ms(30000));
  for (int i = 0; i < N; i++) {
    th_expect_end(r[i], 200);
    th_expect_body(r[i], "hello", 5);
  }
  free(r);
  ASSERT_LE(ts_max_busy(fx.srv), 8);
  th_fx_end(&fx, 0);
  return 0;
}

TEST_IMPL(abort_queued_for_connection) {
  th_fx fx;
  th_fx_begin(&fx, 1);
  cd_config_opts co;
  memset(&co, 0, sizeof co);
  co.connections = 1;
  cd_config *cfg = cd_config_new(&co);
  ASSERT_NOT_NULL(cfg);
  th_req *a = th_submit(fx.t, cfg, fx.srv, "GET", "/slow?ms=300", NULL);
  th_req *b = th_submit(fx.t, cfg, fx.srv, "GET", "/slow?ms=10", NULL);
  th_req *c = th_submit(fx.t, cfg, fx.srv, "GET", "/slow?ms=10", NULL);
  /* until a reaches the server (slow under valgrind), then a little more */
  uint64_t until = tu_now_ms() + tu_slow_ms(3000);
  while (ts_requests(fx.srv) < 1 && tu_now_ms() < until) th_pump_for(fx.t, 20);
  th_pump_for(fx.t, 50);
  ASSERT_EQ(ts_requests(fx.srv), 1); /* b and c wait for a's connection */
  cd_request_abort(b->req);
  th_wait(fx.t, b, tu_slow_ms(5000));
  ASSERT_EQ(b->terminal, CD_EV_ABORTED);
  ASSERT_EQ(b->nevents, 1);
  th_wait_all(fx.t, tu_slow_ms(5000));
  th_expect_end(a, 200);
  th_expect_end(c, 200);
  ASSERT_EQ(ts_requests(fx.srv), 2);
  /* a queued request left to a detach */
  th_req *d = th_submit(fx.t, cfg, fx.srv, "GET", "/nothing", NULL);
  th_submit(fx.t, cfg, fx.srv, "GET", "/hello", NULL);
  th_pump_for(fx.t, 100);
  ASSERT_EQ(d->terminal, 0);
  cd_config_release(cfg);
  th_detach(fx.t);
  fx.t = th_attach(fx.eng, "main");
  th_fx_end(&fx, 0);
  return 0;
}

/* Commands pushed while the owner drains a batch wake a parked worker in
 * groups of CD__DRAIN_WAKE_EVERY, not only at the end of the drain: with one
 * wake per drain, the worker sat idle until the owner had handled its whole
 * batch, and the worker, the owner and the server took turns. Eight
 * requests pushed inside a drain that has not ended reach the server well
 * within the worker's idle poll (CD_IDLE_POLL_MS, a second; under the
 * sanitizers and valgrind the wait is stretched past it, and the test then
 * only checks that the drain's commands all went out). */
TEST_IMPL(drain_wakes_in_groups) {
  th_fx fx;
  th_fx_begin(&fx, 1);
  tu_sleep_ms(50); /* let the worker park */
  cd_env_poll_begin(fx.t->env);
  for (unsigned i = 0; i < CD__DRAIN_WAKE_EVERY; i++) th_submit(fx.t, fx.cfg, fx.srv, "GET", "/hello", NULL);
  uint64_t t0 = tu_now_us(), limit_us = (uint64_t)tu_slow_ms(600) * 1000u;
  while (ts_requests(fx.srv) < (long)CD__DRAIN_WAKE_EVERY && tu_now_us() - t0 < limit_us) tu_sleep_ms(1);
  long seen = ts_requests(fx.srv);
  cd_test_log("%ld of %u requests reached the server %llu us into the drain", seen, CD__DRAIN_WAKE_EVERY,
              (unsigned long long)(tu_now_us() - t0));
  cd_env_poll_end(fx.t->env);
  ASSERT_EQ(seen, (long)CD__DRAIN_WAKE_EVERY);
  th_wait_all(fx.t, tu_slow_ms(5000));
  th_fx_end(&fx, 0);
  return 0;
}

/* A command must wake a parked worker at once: a lost wakeup (the
 * parked/wake_pending handshake, which TSan cannot check because it rests
 * on fences) would only show as the worker's idle poll, about a second. */
TEST_IMPL(wakeup_latency) {
  th_fx fx;
  th_fx_begin(&fx, 2);
  uint64_t worst = 0, total = 0;
  for (unsigned i = 0; i < 300; i++) {
    cd_request_opts o;
    memset(&o, 0, sizeof o);
    o.worker = i;
    uint64_t t0 = tu_now_us();
    th_req *r = th_submit(fx.t, fx.cfg, fx.srv, "GET", "/hello", &o);
    th_wait(fx.t, r, tu_slow_ms(5000));
    th_expect_end(r, 200);
    uint64_t us = tu_now_us() - t0;
    total += us;
    if (us > worst) worst = us;
    if (i % 50 == 49) tu_sleep_ms(20); /* let the workers park */
  }
  cd_test_log("300 sequential round trips: mean %llu us, worst %llu us",
              (unsigned long long)(total / 300), (unsigned long long)worst);
  ASSERT_LT(worst, (uint64_t)tu_slow_ms(400) * 1000u);
  th_fx_end(&fx, 0);
  return 0;
}
