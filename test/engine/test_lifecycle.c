/* test_lifecycle.c - engine references, worker pool, attach/detach, config
 * lifetime, small poll batches. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cd_test.h"
#include "harness.h"

static void expect_zero_stats(cd_engine *eng) {
  cd_engine_stats s;
  cd_engine_get_stats(eng, &s);
  if (s.requests || s.transfers || s.events || s.commands || s.envs)
    CD_FAIL("engine not idle: requests %ld transfers %ld events %ld commands "
            "%ld envs %ld",
            s.requests, s.transfers, s.events, s.commands, s.envs);
}

static void one_hello(cd_engine *eng, ts_server *srv) {
  th_env *t = th_attach(eng, "hello");
  cd_config *cfg = th_config_default();
  th_req *r = th_submit(t, cfg, srv, "GET", "/hello", NULL);
  r->keep_body = 1;
  cd_config_release(cfg);
  th_wait(t, r, tu_slow_ms(5000));
  th_expect_end(r, 200);
  th_expect_body(r, "hello", 5);
  th_detach(t);
}

static void *acquire_main(void *arg) {
  (void)arg;
  for (int i = 0; i < 20; i++) {
    cd_engine *e = cd_engine_acquire();
    ASSERT_NOT_NULL(e);
    ASSERT_GE(cd_engine_ensure_workers(e, 2), 2);
    cd_engine_stats s;
    cd_engine_get_stats(e, &s);
    cd_engine_release(e);
  }
  return NULL;
}

TEST_IMPL(engine_refcount) {
  ts_server *srv = ts_start();
  cd_engine *a = cd_engine_acquire();
  cd_engine *b = cd_engine_acquire();
  ASSERT_NOT_NULL(a);
  ASSERT(a == b);
  ASSERT_GE(cd_engine_ensure_workers(a, 2), 2);
  ASSERT_GE(cd_engine_ensure_workers(a, 1), 2); /* never shrinks */
  cd_engine_stats s;
  cd_engine_get_stats(a, &s);
  ASSERT_GE(s.workers, 2);
  ASSERT_EQ(s.envs, 0);
  cd_engine_release(b);
  one_hello(a, srv); /* still running with one reference left */

  /* concurrent acquire/ensure/release while a reference is held */
  pthread_t th[4];
  for (int i = 0; i < 4; i++)
    ASSERT_EQ(pthread_create(&th[i], NULL, acquire_main, NULL), 0);
  for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
  one_hello(a, srv);
  expect_zero_stats(a);
  cd_engine_release(a);

  /* the last release stopped everything; a new acquire starts again */
  cd_engine *c = cd_engine_acquire();
  ASSERT_NOT_NULL(c);
  cd_engine_get_stats(c, &s);
  ASSERT_EQ(s.envs, 0);
  ASSERT_GE(cd_engine_ensure_workers(c, 1), 1);
  one_hello(c, srv);
  expect_zero_stats(c);
  cd_engine_release(c);

  /* and once more, from zero references, on another thread */
  pthread_t t2;
  ASSERT_EQ(pthread_create(&t2, NULL, acquire_main, NULL), 0);
  pthread_join(t2, NULL);
  ts_stop(srv);
  return 0;
}

TEST_IMPL(worker_cap) {
  ts_server *srv = ts_start();
  cd_engine *eng = cd_engine_acquire();
  ASSERT_NOT_NULL(eng);
  ASSERT_EQ(cd_engine_ensure_workers(eng, CD_MAX_WORKERS + 10), CD_MAX_WORKERS);
  cd_engine_stats s;
  cd_engine_get_stats(eng, &s);
  ASSERT_EQ(s.workers, CD_MAX_WORKERS);
  th_env *t = th_attach(eng, "cap");
  cd_config *cfg = th_config_default();
  th_req *r[CD_MAX_WORKERS];
  for (unsigned i = 0; i < CD_MAX_WORKERS; i++) {
    cd_request_opts o;
    memset(&o, 0, sizeof o);
    o.worker = i;
    r[i] = th_submit(t, cfg, srv, "GET", "/hello", &o);
  }
  th_wait_all(t, tu_slow_ms(20000));
  for (unsigned i = 0; i < CD_MAX_WORKERS; i++) th_expect_end(r[i], 200);
  cd_config_release(cfg);
  th_detach(t);
  expect_zero_stats(eng);
  cd_engine_release(eng);
  ts_stop(srv);
  return 0;
}

#define PAUSED u64[0]

static void pause_on_data(th_env *t, th_req *r, const cd_event *ev) {
  (void)t;
  if (ev->type == CD_EV_DATA && !r->PAUSED) {
    r->PAUSED = 1;
    cd_request_pause(r->req);
  }
}

static int has_headers(th_env *t, void *arg) {
  (void)t;
  return ((th_req *)arg)->status != 0;
}

static int is_paused(th_env *t, void *arg) {
  (void)t;
  return ((th_req *)arg)->PAUSED != 0;
}

TEST_IMPL(detach_in_flight) {
  th_fx fx;
  th_fx_begin(&fx, 2);
  th_env *t = fx.t;
  cd_request_opts o;
  memset(&o, 0, sizeof o);

  th_req *nothing = th_submit(t, fx.cfg, fx.srv, "GET", "/nothing", NULL);
  o.worker = 1;
  th_req *stall = th_submit(t, fx.cfg, fx.srv, "GET", "/stall", &o);
  ASSERT(th_wait_until(t, has_headers, stall, tu_slow_ms(5000)));
  th_req *paused = th_submit(t, fx.cfg, fx.srv, "GET", "/big?n=67108864", NULL);
  paused->on_event = pause_on_data;
  ASSERT(th_wait_until(t, is_paused, paused, tu_slow_ms(5000)));
  o.body_mode = CD_BODY_STREAM;
  o.body_length = 1 << 20;
  th_req *upload = th_submit(t, fx.cfg, fx.srv, "PUT", "/echo", &o);
  static uint8_t chunk[10000];
  th_write(t, upload, chunk, sizeof chunk, 0);
  o.body_length = -1;
  th_req *queued = th_submit(t, fx.cfg, fx.srv, "POST", "/echo", &o);
  for (int i = 0; i < 50; i++) th_write(t, queued, chunk, sizeof chunk, 0);
  th_req *done = th_submit(t, fx.cfg, fx.srv, "GET", "/hello", NULL);
  th_wait(t, done, tu_slow_ms(5000));
  th_expect_end(done, 200); /* released by the harness */
  th_req *held = th_submit(t, fx.cfg, fx.srv, "GET", "/hello", NULL);
  held->no_release = 1; /* terminal handled, released after the detach */
  th_wait(t, held, tu_slow_ms(5000));
  th_pump_for(t, 100);

  /* events that are queued and never polled */
  th_req *unpolled1 = th_submit(t, fx.cfg, fx.srv, "GET", "/hello", NULL);
  th_req *unpolled2 = th_submit(t, fx.cfg, fx.srv, "GET", "/big?n=2000000", NULL);
  th_req *aborted = th_submit(t, fx.cfg, fx.srv, "GET", "/nothing", NULL);
  cd_request_abort(aborted->req);
  tu_sleep_ms(300);
  (void)nothing;
  (void)upload;
  (void)unpolled1;
  (void)unpolled2;

  cd_engine_stats s;
  cd_engine_get_stats(fx.eng, &s);
  cd_test_log("before detach: requests %ld transfers %ld events %ld commands %ld",
              s.requests, s.transfers, s.events, s.commands);
  ASSERT_GT(s.events, 0);

  th_detach(t);
  fx.t = NULL;
  expect_zero_stats(fx.eng);
  /* the connections of the dropped transfers are closed */
  uint64_t end = tu_now_ms() + tu_slow_ms(3000);
  while (ts_open_conns(fx.srv) > 2 && tu_now_ms() < end) tu_sleep_ms(10);
  cd_test_log("server connections still open after detach: %ld",
              ts_open_conns(fx.srv));

  /* the same thread attaches again and works */
  one_hello(fx.eng, fx.srv);
  expect_zero_stats(fx.eng);
  cd_config_release(fx.cfg);
  ts_stop(fx.srv);
  cd_engine_release(fx.eng);
  return 0;
}

TEST_IMPL(config_refcount) {
  th_fx fx;
  th_fx_begin(&fx, 2);
  cd_config_opts co;
  memset(&co, 0, sizeof co);
  co.connect_timeout_ms = 5000;
  co.connections = 3;
  co.max_header_size = 4096;
  cd_config *cfg = cd_config_new(&co);
  ASSERT_NOT_NULL(cfg);
  th_req *r[10];
  for (unsigned i = 0; i < 10; i++) {
    cd_request_opts o;
    memset(&o, 0, sizeof o);
    o.worker = i;
    r[i] = th_submit(fx.t, cfg, fx.srv, "GET", "/slow?ms=100", &o);
  }
  cd_config_release(cfg); /* in-flight transfers keep theirs */
  th_wait_all(fx.t, tu_slow_ms(5000));
  for (int i = 0; i < 10; i++) th_expect_end(r[i], 200);
  th_fx_end(&fx, 0);
  return 0;
}

TEST_IMPL(attach_detach_cycles) {
  ts_server *srv = ts_start();
  cd_engine *eng = cd_engine_acquire();
  ASSERT_NOT_NULL(eng);
  ASSERT_GE(cd_engine_ensure_workers(eng, 2), 2);
  cd_config *cfg = th_config_default();
  for (int i = 0; i < 30; i++) {
    th_env *t = th_attach(eng, "cycle");
    cd_engine_stats s;
    cd_engine_get_stats(eng, &s);
    ASSERT_EQ(s.envs, 1);
    if (i % 3 == 1) {
      cd_request_opts o;
      memset(&o, 0, sizeof o);
      o.worker = (unsigned)i;
      th_req *r = th_submit(t, cfg, srv, "GET", "/hello", &o);
      th_wait(t, r, tu_slow_ms(5000));
      th_expect_end(r, 200);
    } else if (i % 3 == 2) {
      cd_request_opts o;
      memset(&o, 0, sizeof o);
      o.worker = (unsigned)i;
      th_submit(t, cfg, srv, "GET", "/nothing", &o);
      th_submit(t, cfg, srv, "GET", "/big?n=5000000", &o);
      th_pump(t, 20);
    }
    th_detach(t);
    expect_zero_stats(eng);
  }
  cd_config_release(cfg);
  cd_engine_release(eng);
  ts_stop(srv);
  return 0;
}

TEST_IMPL(poll_small_batches) {
  th_fx fx;
  th_fx_begin(&fx, 2);
  for (size_t max = 1; max <= 3; max += 2) {
    fx.t->poll_max = max;
    th_req *r[30];
    for (unsigned i = 0; i < 30; i++) {
      cd_request_opts o;
      memset(&o, 0, sizeof o);
      o.worker = i;
      r[i] = th_submit(fx.t, fx.cfg, fx.srv, "GET",
                       i % 2 ? "/chunked" : "/big?n=200000", &o);
      r[i]->check_pattern = i % 2 == 0;
      r[i]->keep_body = i % 2 == 1;
    }
    th_wait_all(fx.t, tu_slow_ms(10000));
    for (unsigned i = 0; i < 30; i++) {
      th_expect_end(r[i], 200);
      if (i % 2)
        th_expect_body(r[i], "hello world", 11);
      else
        ASSERT_EQ(r[i]->body_bytes, 200000);
    }
  }
  th_fx_end(&fx, 0);
  return 0;
}

static int all_closed(th_env *t, void *arg) {
  (void)t;
  return ts_open_conns((ts_server *)arg) == 0;
}

TEST_IMPL(config_release_closes_idle) {
  th_fx fx;
  th_fx_begin(&fx, 2);
  ts_server *other = ts_start();
  cd_config *cfg = th_config_default();
  th_req *r[4];
  for (unsigned i = 0; i < 4; i++) {
    cd_request_opts o;
    memset(&o, 0, sizeof o);
    o.worker = i;
    r[i] = th_submit(fx.t, cfg, other, "GET", "/slow?ms=50", &o);
  }
  th_wait_all(fx.t, tu_slow_ms(5000));
  for (int i = 0; i < 4; i++) th_expect_end(r[i], 200);
  /* the default config's connection to the same server stays */
  th_req *keep = th_submit(fx.t, fx.cfg, other, "GET", "/hello", NULL);
  th_wait(fx.t, keep, tu_slow_ms(5000));
  long pooled = ts_open_conns(other);
  ASSERT_GE(pooled, 3);
  /* one transfer still running when the config goes */
  cd_request_opts o;
  memset(&o, 0, sizeof o);
  o.worker = 1;
  th_req *slow = th_submit(fx.t, cfg, other, "GET", "/slow?ms=300", &o);
  cd_config_release(cfg);
  th_wait(fx.t, slow, tu_slow_ms(5000));
  th_expect_end(slow, 200);
  /* then every idle connection of that agent is closed */
  uint64_t t0 = tu_now_ms();
  while (ts_open_conns(other) > 1 && tu_now_ms() - t0 < tu_slow_ms(3000))
    th_pump(fx.t, 20);
  cd_test_log("open connections: %ld pooled before the release, %ld after",
              pooled, ts_open_conns(other));
  ASSERT_EQ(ts_open_conns(other), 1);
  /* and the other agent's connection is still reused */
  long accepted = ts_accepted(other);
  th_req *again = th_submit(fx.t, fx.cfg, other, "GET", "/hello", NULL);
  th_wait(fx.t, again, tu_slow_ms(5000));
  th_expect_end(again, 200);
  ASSERT_EQ(ts_accepted(other), accepted);
  th_fx_end(&fx, 0);
  /* releasing the last config closes the rest */
  (void)all_closed;
  ts_stop(other);
  return 0;
}
