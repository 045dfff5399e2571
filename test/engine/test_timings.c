/* test_timings.c - CD_REQ_TIMINGS and its CD_EV_TIMINGS event (engine.h,
 * cd_timings.c): one event just before the terminal one, instants ordered,
 * plausible against a server that waits a known time, reuse, errors, a
 * request aborted while queued, and nothing without the flag. The harness
 * checks the event's place and size for every request (harness.h). */
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "cd_test.h"
#include "harness.h"

static const cd_request_opts timed = {.flags = CD_REQ_TIMINGS};

/* Cumulative and non-decreasing; -1 only after the last phase reached. */
static void expect_ordered(const th_req *r) {
  const int64_t *at = r->timings.at;
  ASSERT_EQ(r->ntimings, 1);
  ASSERT_GE(at[CD_TIMING_TOTAL], 0);
  int64_t prev = 0;
  int missing = 0;
  for (int i = 0; i < CD_TIMINGS; i++) {
    if (at[i] < 0) {
      ASSERT_EQ(at[i], -1);
      ASSERT_MSG(i != CD_TIMING_TOTAL, "total missing");
      missing = 1;
      continue;
    }
    ASSERT_MSG(!missing || i == CD_TIMING_TOTAL, "phase %d reached after a missing one", i);
    ASSERT_MSG(at[i] >= prev, "phase %d at %lld us before the previous one (%lld us)", i,
               (long long)at[i], (long long)prev);
    prev = at[i];
  }
  /* the owner saw the terminal event after the worker measured the end */
  ASSERT_LE((uint64_t)(at[CD_TIMING_TOTAL] / 1000), r->t_terminal - r->t_submit + 1);
}

static void log_timings(const char *what, const th_req *r) {
  const int64_t *at = r->timings.at;
  cd_test_log("%s: queued %lld dns %lld connect %lld tls %lld sent %lld first %lld total %lld us, "
              "reused %d, %s:%d, version %d", what, (long long)at[0], (long long)at[1],
              (long long)at[2], (long long)at[3], (long long)at[4], (long long)at[5],
              (long long)at[6], r->timings.reused, r->timings.remote_address,
              r->timings.remote_port, r->timings.http_version);
}

TEST_IMPL(timings_phases_and_reuse) {
  th_fx fx;
  th_fx_begin(&fx, 1);
  th_req *a = th_submit(fx.t, fx.cfg, fx.srv, "GET", "/slow?ms=100", &timed);
  th_wait(fx.t, a, tu_slow_ms(5000));
  th_expect_end(a, 200);
  log_timings("new connection", a);
  expect_ordered(a);
  const int64_t *at = a->timings.at;
  ASSERT_EQ(a->timings.reused, 0);
  ASSERT_GE(at[CD_TIMING_FIRST_BYTE] - at[CD_TIMING_SENT], 100 * 1000);
  ASSERT_GE(at[CD_TIMING_TOTAL], at[CD_TIMING_FIRST_BYTE]);
  ASSERT_GT(at[CD_TIMING_CONNECT], at[CD_TIMING_QUEUED]);  /* a TCP connect takes time */
  ASSERT_EQ(at[CD_TIMING_TLS], at[CD_TIMING_CONNECT]);     /* plain TCP: no TLS phase */
  ASSERT_STR_EQ(a->timings.remote_address, "127.0.0.1");
  ASSERT_EQ(a->timings.remote_port, (int)ts_port(fx.srv));
  ASSERT_EQ(a->timings.http_version, 11);
  ASSERT_GT(a->timings.submit_us, 0);

  th_req *b = th_submit(fx.t, fx.cfg, fx.srv, "GET", "/slow?ms=20", &timed);
  th_wait(fx.t, b, tu_slow_ms(5000));
  th_expect_end(b, 200);
  log_timings("reused connection", b);
  expect_ordered(b);
  at = b->timings.at;
  ASSERT_EQ(ts_accepted(fx.srv), 1);
  ASSERT_EQ(b->timings.reused, 1);
  ASSERT_EQ(at[CD_TIMING_DNS], at[CD_TIMING_QUEUED]);
  ASSERT_EQ(at[CD_TIMING_CONNECT], at[CD_TIMING_QUEUED]);
  ASSERT_EQ(at[CD_TIMING_TLS], at[CD_TIMING_QUEUED]);
  /* libcurl's instants are mapped onto ours from the transfer's start:
   * leave room for that skew (valgrind: 17.7 ms for a 20 ms delay) */
  ASSERT_GE(at[CD_TIMING_FIRST_BYTE] - at[CD_TIMING_SENT], 10 * 1000);
  ASSERT_EQ(b->timings.remote_port, (int)ts_port(fx.srv));
  ASSERT_GE(b->timings.submit_us, a->timings.submit_us);

  /* without the flag: no event (the harness fails on one) */
  th_req *c = th_submit(fx.t, fx.cfg, fx.srv, "GET", "/hello", NULL);
  th_wait(fx.t, c, tu_slow_ms(5000));
  th_expect_end(c, 200);
  ASSERT_EQ(c->ntimings, 0);
  th_fx_end(&fx, 0);
  return 0;
}

TEST_IMPL(timings_errors) {
  th_fx fx;
  th_fx_begin(&fx, 1);
  /* refused: resolved, never connected */
  th_req *r = th_submit_refused(fx.t, fx.cfg, &timed);
  th_wait(fx.t, r, tu_slow_ms(5000));
  th_expect_error(r, CURLE_COULDNT_CONNECT);
  log_timings("refused", r);
  expect_ordered(r);
  ASSERT_GE(r->timings.at[CD_TIMING_QUEUED], 0);
  ASSERT_EQ(r->timings.at[CD_TIMING_CONNECT], -1);
  ASSERT_EQ(r->timings.at[CD_TIMING_SENT], -1);
  ASSERT_EQ(r->timings.at[CD_TIMING_FIRST_BYTE], -1);
  ASSERT_EQ(r->timings.reused, 0);

  /* headers timeout: sent, no first byte */
  cd_request_opts ho = timed;
  ho.headers_timeout_ms = 150;
  th_req *h = th_submit(fx.t, fx.cfg, fx.srv, "GET", "/nothing", &ho);
  th_wait(fx.t, h, tu_slow_ms(5000));
  th_expect_error(h, CD_ERR_HEADERS_TIMEOUT);
  log_timings("headers timeout", h);
  expect_ordered(h);
  ASSERT_GE(h->timings.at[CD_TIMING_SENT], 0);
  ASSERT_EQ(h->timings.at[CD_TIMING_FIRST_BYTE], -1);
  /* the deadline runs from the worker's start of the transfer (`queued`);
   * sending can come well after it on a slow machine (valgrind: 25 ms) */
  ASSERT_GE(h->timings.at[CD_TIMING_TOTAL] - h->timings.at[CD_TIMING_QUEUED], 140 * 1000);
  th_fx_end(&fx, 0);
  return 0;
}

/* Aborted while waiting for a connection slot: never handed to libcurl,
 * so only the total is known; and aborted mid-flight. */
TEST_IMPL(timings_aborted) {
  th_fx fx;
  th_fx_begin(&fx, 1);
  cd_config_opts co;
  memset(&co, 0, sizeof co);
  co.connections = 1;
  cd_config *cfg = cd_config_new(&co);
  ASSERT_NOT_NULL(cfg);
  th_req *a = th_submit(fx.t, cfg, fx.srv, "GET", "/nothing", &timed);
  th_req *b = th_submit(fx.t, cfg, fx.srv, "GET", "/hello", &timed);
  uint64_t until = tu_now_ms() + tu_slow_ms(3000);
  while (ts_requests(fx.srv) < 1 && tu_now_ms() < until) th_pump_for(fx.t, 20);
  th_pump_for(fx.t, 30);
  cd_request_abort(b->req);
  th_wait(fx.t, b, tu_slow_ms(5000));
  ASSERT_EQ(b->terminal, CD_EV_ABORTED);
  log_timings("aborted while queued", b);
  expect_ordered(b);
  for (int i = 0; i < CD_TIMING_TOTAL; i++) ASSERT_EQ(b->timings.at[i], -1);
  ASSERT_GE(b->timings.at[CD_TIMING_TOTAL], 30 * 1000);
  cd_request_abort(a->req);
  th_wait(fx.t, a, tu_slow_ms(5000));
  ASSERT_EQ(a->terminal, CD_EV_ABORTED);
  log_timings("aborted waiting for headers", a);
  expect_ordered(a);
  ASSERT_GE(a->timings.at[CD_TIMING_SENT], 0);
  ASSERT_EQ(a->timings.at[CD_TIMING_FIRST_BYTE], -1);
  cd_config_release(cfg);
  th_fx_end(&fx, 0);
  return 0;
}
