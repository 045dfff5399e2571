/* test_pause.c - cd_request_pause / cd_request_pause_consumer / cd_request_resume. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cd_test.h"
#include "harness.h"

#define PAUSED u64[0]
#define AT_PAUSE u64[1]

#define CONSUMER_ONLY u64[2] /* pause_on_first_data only (pause_toggle uses [2] as TOGGLES) */

/* Pauses at the first DATA: receiving stops, or with CONSUMER_ONLY only
 * the consumer is paused (cd_request_pause_consumer). */
static void pause_on_first_data(th_env *t, th_req *r, const cd_event *ev) {
  (void)t;
  if (ev->type == CD_EV_DATA && !r->PAUSED) {
    r->PAUSED = 1;
    r->AT_PAUSE = r->body_bytes;
    if (r->CONSUMER_ONLY) cd_request_pause_consumer(r->req); else cd_request_pause(r->req);
  }
}

/* A GET of `n` patterned bytes from the test server's `what` (big,
 * chunked), the pattern checked as it arrives. */
static th_req *get_pattern(th_fx *fx, const char *what, uint64_t n) {
  char path[64];
  snprintf(path, sizeof path, "/%s?n=%llu", what, (unsigned long long)n);
  th_req *r = th_submit(fx->t, fx->cfg, fx->srv, "GET", path, NULL);
  r->check_pattern = 1;
  return r;
}

static int is_paused(th_env *t, void *arg) {
  (void)t;
  return ((th_req *)arg)->PAUSED != 0;
}

/* Pumps until no DATA arrives for quiet_ms; fails if that takes too long.
 * Returns the bytes received by then. */
static uint64_t wait_quiet(th_env *t, th_req *r, unsigned quiet_ms) {
  uint64_t end = tu_now_ms() + tu_slow_ms(5000);
  for (;;) {
    uint64_t before = r->body_bytes;
    th_pump_for(t, quiet_ms);
    if (r->body_bytes == before) return before;
    ASSERT_MSG(tu_now_ms() < end,
               "slot %u: still receiving data 5 s after cd_request_pause "
               "(%llu bytes so far)",
               r->slot, (unsigned long long)r->body_bytes);
  }
}

TEST_IMPL(pause_resume) {
  th_fx fx;
  th_fx_begin(&fx, 2);
  uint64_t n = 64u << 20;
  th_req *r = get_pattern(&fx, "big", n);
  r->on_event = pause_on_first_data;
  ASSERT(th_wait_until(fx.t, is_paused, r, tu_slow_ms(5000)));
  uint64_t quiet = wait_quiet(fx.t, r, 300);
  cd_test_log("paused at %llu bytes, delivery stopped at %llu bytes (%llu after "
              "the pause)",
              (unsigned long long)r->AT_PAUSE, (unsigned long long)quiet,
              (unsigned long long)(quiet - r->AT_PAUSE));
  ASSERT_MSG(quiet < n, "the whole body arrived despite the pause");
  ASSERT_EQ(r->terminal, 0);
  th_pump_for(fx.t, 500);
  ASSERT_EQ(r->body_bytes, quiet);
  ASSERT_EQ(r->terminal, 0);

  cd_request_resume(r->req);
  th_wait(fx.t, r, tu_slow_ms(30000));
  th_expect_end(r, 200);
  ASSERT_EQ(r->body_bytes, n);
  th_fx_end(&fx, 0);
  return 0;
}

/* The owner holds what comes while its consumer is paused: the worker does
 * not stop, and the whole body and its end arrive. */
TEST_IMPL(pause_consumer_keeps_receiving) {
  th_fx fx;
  th_fx_begin(&fx, 1);
  uint64_t n = 8u << 20;
  th_req *r = get_pattern(&fx, "big", n);
  r->CONSUMER_ONLY = 1;
  r->on_event = pause_on_first_data;
  th_wait(fx.t, r, tu_slow_ms(10000));
  th_expect_end(r, 200);
  ASSERT_EQ(r->body_bytes, n);
  cd_test_log("consumer paused at %llu bytes, all %llu arrived", (unsigned long long)r->AT_PAUSE,
              (unsigned long long)n);
  ASSERT_LT(r->AT_PAUSE, n);
  th_fx_end(&fx, 0);
  return 0;
}

TEST_IMPL(pause_before_data) {
  th_fx fx;
  th_fx_begin(&fx, 1);
  uint64_t n = 4u << 20;
  th_req *r = get_pattern(&fx, "big", n);
  cd_request_pause(r->req);
  th_pump_for(fx.t, 500);
  cd_test_log("paused before any data: %d HEADERS, %llu body bytes delivered "
              "while paused",
              r->status ? 1 : 0, (unsigned long long)r->body_bytes);
  ASSERT_LT(r->body_bytes, n);
  ASSERT_EQ(r->terminal, 0);
  uint64_t held = r->body_bytes;
  th_pump_for(fx.t, 200);
  ASSERT_EQ(r->body_bytes, held);
  cd_request_resume(r->req);
  th_wait(fx.t, r, tu_slow_ms(10000));
  th_expect_end(r, 200);
  ASSERT_EQ(r->body_bytes, n);
  th_fx_end(&fx, 0);
  return 0;
}

#define TOGGLES u64[2]
#define PAUSED_AT u64[3]

static void pause_every_fifth(th_env *t, th_req *r, const cd_event *ev) {
  (void)t;
  if (ev->type == CD_EV_DATA && !r->PAUSED && r->ndata % 5 == 0) {
    r->PAUSED = 1;
    r->PAUSED_AT = tu_now_ms();
    r->TOGGLES++;
    cd_request_pause(r->req);
  }
}

TEST_IMPL(pause_toggle) {
  th_fx fx;
  th_fx_begin(&fx, 2);
  uint64_t n = 16u << 20;
  th_req *r = get_pattern(&fx, "chunked", n);
  r->on_event = pause_every_fifth;
  /* resuming a request that is not paused is harmless */
  cd_request_resume(r->req);
  uint64_t end = tu_now_ms() + tu_slow_ms(30000);
  while (!r->terminal) {
    ASSERT_MSG(tu_now_ms() < end, "timed out: %llu bytes, %llu pauses",
               (unsigned long long)r->body_bytes,
               (unsigned long long)r->TOGGLES);
    th_pump(fx.t, 10);
    if (r->PAUSED && tu_now_ms() - r->PAUSED_AT >= 10 && !r->terminal) {
      r->PAUSED = 0;
      cd_request_resume(r->req);
    }
  }
  th_expect_end(r, 200);
  ASSERT_EQ(r->body_bytes, n);
  ASSERT_CONTAINS(r->term_data, r->term_len, "X-Trailer: yes");
  cd_test_log("%llu pause/resume cycles over %d DATA events",
              (unsigned long long)r->TOGGLES, r->ndata);
  ASSERT_GE(r->TOGGLES, 3);
  th_fx_end(&fx, 0);
  return 0;
}

TEST_IMPL(pause_then_abort) {
  th_fx fx;
  th_fx_begin(&fx, 1);
  th_req *r = th_submit(fx.t, fx.cfg, fx.srv, "GET", "/big?n=67108864", NULL);
  r->check_pattern = 1;
  r->on_event = pause_on_first_data;
  ASSERT(th_wait_until(fx.t, is_paused, r, tu_slow_ms(5000)));
  th_pump_for(fx.t, 200);
  cd_request_abort(r->req);
  th_wait(fx.t, r, tu_slow_ms(5000));
  ASSERT_EQ(r->terminal, CD_EV_ABORTED);
  th_pump_for(fx.t, 200);

  /* a request paused and never resumed, then aborted before any data */
  th_req *q = th_submit(fx.t, fx.cfg, fx.srv, "GET", "/big?n=1048576", NULL);
  cd_request_pause(q->req);
  th_pump_for(fx.t, 100);
  cd_request_abort(q->req);
  th_wait(fx.t, q, tu_slow_ms(5000));
  ASSERT(q->terminal == CD_EV_ABORTED || q->terminal == CD_EV_END);

  th_req *h = th_submit(fx.t, fx.cfg, fx.srv, "GET", "/hello", NULL);
  th_wait(fx.t, h, tu_slow_ms(5000));
  th_expect_end(h, 200);
  th_fx_end(&fx, 0);
  return 0;
}

/* An owner that does not drain (a busy JS thread, an unread body) holds at
 * most CD_RESPONSE_WINDOW bytes of a response in events: the transfer
 * waits for the owner's credit instead of reading the whole body into
 * memory, and the body still arrives whole and in order afterwards. */
TEST_IMPL(window_bounds_undrained) {
  th_fx fx;
  th_fx_begin(&fx, 1);
  uint64_t n = 64u << 20;
  th_req *r = get_pattern(&fx, "big", n);
  tu_sleep_ms(400);  /* not draining */
  cd_engine_stats s;
  cd_engine_get_stats(fx.eng, &s);
  cd_test_log("after 400 ms undrained: %ld events alive", s.events);
  ASSERT_MSG(s.events <= 200, "%ld events alive: the window did not hold", s.events);
  th_wait(fx.t, r, tu_slow_ms(20000));
  th_expect_end(r, 200);
  ASSERT_EQ(r->body_bytes, n);
  th_fx_end(&fx, 0);
  return 0;
}
