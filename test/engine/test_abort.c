/* test_abort.c - cd_request_abort at every phase of a request. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cd_test.h"
#include "harness.h"

#define ABORTED_BY_US u64[0]

static void do_abort(th_req *r) {
  if (!r->ABORTED_BY_US) {
    r->ABORTED_BY_US = 1;
    cd_request_abort(r->req);
  }
}

/* After the terminal events, nothing more may come (the harness fails on
 * any event after a terminal one). */
static void settle(th_fx *fx) { th_pump_for(fx->t, 300); }

TEST_IMPL(abort_immediately) {
  th_fx fx;
  th_fx_begin(&fx, 2);
  th_req *r[40];
  for (int i = 0; i < 40; i++) {
    cd_request_opts o;
    memset(&o, 0, sizeof o);
    o.worker = (unsigned)i;
    r[i] = th_submit(fx.t, fx.cfg, fx.srv, "GET",
                     i % 2 ? "/hello" : "/big?n=1048576", &o);
    r[i]->check_pattern = i % 2 == 0;
    do_abort(r[i]);
  }
  th_wait_all(fx.t, tu_slow_ms(10000));
  settle(&fx);
  int aborted = 0, ended = 0;
  for (int i = 0; i < 40; i++) {
    if (r[i]->terminal == CD_EV_ABORTED) {
      aborted++;
    } else {
      /* only possible if the terminal event was queued before the abort */
      th_expect_end(r[i], 200);
      ASSERT_EQ(r[i]->body_bytes, i % 2 ? 5 : 1048576);
      ended++;
    }
  }
  cd_test_log("aborted right after submit: %d ABORTED, %d END", aborted, ended);
  th_fx_end(&fx, 0);
  return 0;
}

TEST_IMPL(abort_waiting_headers) {
  th_fx fx;
  th_fx_begin(&fx, 1);
  th_req *r = th_submit(fx.t, fx.cfg, fx.srv, "GET", "/nothing", NULL);
  th_pump_for(fx.t, 200);
  ASSERT_EQ(r->nevents, 0);
  do_abort(r);
  th_wait(fx.t, r, tu_slow_ms(5000));
  ASSERT_EQ(r->terminal, CD_EV_ABORTED);
  ASSERT_EQ(r->nevents, 1);
  settle(&fx);
  th_fx_end(&fx, 0);
  return 0;
}

static void abort_on_headers(th_env *t, th_req *r, const cd_event *ev) {
  (void)t;
  if (ev->type == CD_EV_HEADERS) do_abort(r);
}

TEST_IMPL(abort_after_headers) {
  th_fx fx;
  th_fx_begin(&fx, 1);
  th_req *r = th_submit(fx.t, fx.cfg, fx.srv, "GET", "/stall", NULL);
  r->on_event = abort_on_headers;
  th_wait(fx.t, r, tu_slow_ms(5000));
  ASSERT_EQ(r->status, 200);
  ASSERT_EQ(r->terminal, CD_EV_ABORTED);
  settle(&fx);
  th_fx_end(&fx, 0);
  return 0;
}

static void abort_after_1mb(th_env *t, th_req *r, const cd_event *ev) {
  (void)t;
  if (ev->type == CD_EV_DATA && r->body_bytes >= (1u << 20)) do_abort(r);
}

TEST_IMPL(abort_mid_body) {
  th_fx fx;
  th_fx_begin(&fx, 1);
  th_req *r = th_submit(fx.t, fx.cfg, fx.srv, "GET", "/big?n=67108864", NULL);
  r->check_pattern = 1;
  r->on_event = abort_after_1mb;
  th_wait(fx.t, r, tu_slow_ms(10000));
  ASSERT_EQ(r->terminal, CD_EV_ABORTED);
  ASSERT_LT(r->body_bytes, 67108864);
  cd_test_log("aborted at >= 1 MiB, %llu bytes delivered in all",
              (unsigned long long)r->body_bytes);
  settle(&fx);
  /* The connection of the aborted transfer must not be reused mid-body. */
  th_req *h = th_submit(fx.t, fx.cfg, fx.srv, "GET", "/hello", NULL);
  h->keep_body = 1;
  th_wait(fx.t, h, tu_slow_ms(5000));
  th_expect_end(h, 200);
  th_expect_body(h, "hello", 5);
  th_fx_end(&fx, 0);
  return 0;
}

TEST_IMPL(abort_during_upload) {
  th_fx fx;
  th_fx_begin(&fx, 2);
  static uint8_t chunk[100000];
  memset(chunk, 'u', sizeof chunk);
  cd_request_opts o;
  memset(&o, 0, sizeof o);
  o.body_mode = CD_BODY_STREAM;
  o.body_length = 1 << 20;
  th_req *a = th_submit(fx.t, fx.cfg, fx.srv, "PUT", "/echo", &o);
  th_write(fx.t, a, chunk, sizeof chunk, 0);
  o.body_length = -1;
  o.worker = 1;
  th_req *b = th_submit(fx.t, fx.cfg, fx.srv, "POST", "/echo", &o);
  th_write(fx.t, b, chunk, sizeof chunk, 0);
  /* queued, never sent: aborted with commands still in the ring */
  th_req *c = th_submit(fx.t, fx.cfg, fx.srv, "POST", "/echo", &o);
  for (int i = 0; i < 20; i++) th_write(fx.t, c, chunk, sizeof chunk, 0);
  do_abort(c);
  th_pump_for(fx.t, 200);
  ASSERT_EQ(a->terminal, 0);
  ASSERT_EQ(b->terminal, 0);
  do_abort(a);
  do_abort(b);
  th_wait_all(fx.t, tu_slow_ms(5000));
  ASSERT_EQ(a->terminal, CD_EV_ABORTED);
  ASSERT_EQ(b->terminal, CD_EV_ABORTED);
  ASSERT_EQ(c->terminal, CD_EV_ABORTED);
  settle(&fx);
  th_fx_end(&fx, 0);
  return 0;
}

TEST_IMPL(abort_after_terminal) {
  th_fx fx;
  th_fx_begin(&fx, 1);
  th_req *r = th_submit(fx.t, fx.cfg, fx.srv, "GET", "/hello", NULL);
  r->no_release = 1;
  th_wait(fx.t, r, tu_slow_ms(5000));
  th_expect_end(r, 200);
  int seen = r->nevents; /* HEADERS, DATA, END */
  /* The terminal event was queued (and even handled): no answer. */
  cd_request_abort(r->req);
  settle(&fx);
  ASSERT_EQ(r->nevents, seen);
  th_release(r);
  th_fx_end(&fx, 0);
  return 0;
}

TEST_IMPL(abort_twice) {
  th_fx fx;
  th_fx_begin(&fx, 1);
  th_req *r = th_submit(fx.t, fx.cfg, fx.srv, "GET", "/nothing", NULL);
  r->no_release = 1;
  th_pump_for(fx.t, 100);
  cd_request_abort(r->req);
  cd_request_abort(r->req);
  th_wait(fx.t, r, tu_slow_ms(5000));
  ASSERT_EQ(r->terminal, CD_EV_ABORTED);
  cd_request_abort(r->req); /* after the terminal event, too */
  settle(&fx);
  ASSERT_EQ(r->nevents, 1);
  th_release(r);
  th_fx_end(&fx, 0);
  return 0;
}

/* ---- random aborts ------------------------------------------------------ */

enum { K_HELLO, K_BIG, K_CHUNKED, K_STALL, K_NOTHING, K_ECHO, K_KINDS };

#define KIND u64[1]
#define ABORT_AFTER u64[2] /* abort once this many events were seen; 0: no */
#define ABORT_AT u64[3]    /* abort at this time (ms); 0: no */

static void random_on_event(th_env *t, th_req *r, const cd_event *ev) {
  (void)t;
  (void)ev;
  if (!r->terminal && r->ABORT_AFTER && (uint64_t)r->nevents >= r->ABORT_AFTER)
    do_abort(r);
}

TEST_IMPL(abort_random) {
  th_fx fx;
  th_fx_begin(&fx, 2);
  tu_rng rng;
  tu_rng_seed(&rng, 42);
  enum { N = 120 };
  th_req *r[N];
  uint64_t size[N];
  static uint8_t body[20000];
  memset(body, 'e', sizeof body);
  for (int i = 0; i < N; i++) {
    int kind = (int)tu_rng_range(&rng, 0, K_KINDS - 1);
    char path[64];
    cd_request_opts o;
    memset(&o, 0, sizeof o);
    o.worker = (unsigned)tu_rng_next(&rng);
    size[i] = tu_rng_range(&rng, 0, 2u << 20);
    const char *method = "GET";
    switch (kind) {
      case K_HELLO: snprintf(path, sizeof path, "/hello"); size[i] = 5; break;
      case K_BIG: snprintf(path, sizeof path, "/big?n=%llu", (unsigned long long)size[i]); break;
      case K_CHUNKED: snprintf(path, sizeof path, "/chunked?n=%llu", (unsigned long long)size[i] + 1); size[i]++; break;
      case K_STALL: snprintf(path, sizeof path, "/stall?partial=1000"); break;
      case K_NOTHING: snprintf(path, sizeof path, "/nothing"); break;
      default:
        snprintf(path, sizeof path, "/echo");
        method = "POST";
        o.body_mode = CD_BODY_STREAM;
        o.body_length = (int64_t)sizeof body;
        size[i] = sizeof body;
        break;
    }
    r[i] = th_submit(fx.t, fx.cfg, fx.srv, method, path, &o);
    r[i]->KIND = (uint64_t)kind;
    r[i]->check_pattern = kind == K_BIG || kind == K_CHUNKED;
    r[i]->on_event = random_on_event;
    if (kind == K_ECHO) th_write(fx.t, r[i], body, sizeof body, 1);
    int mode = (int)tu_rng_range(&rng, 0, 9);
    if (mode < 2) {
      do_abort(r[i]);
    } else if (mode < 6) {
      r[i]->ABORT_AFTER = tu_rng_range(&rng, 1, 6);
    } else if (mode < 8) {
      r[i]->ABORT_AT = tu_now_ms() + tu_rng_range(&rng, 0, 300);
    }
    /* these never finish by themselves */
    if ((kind == K_STALL || kind == K_NOTHING) && !r[i]->ABORT_AT)
      r[i]->ABORT_AT = tu_now_ms() + tu_rng_range(&rng, 0, 300);
  }
  uint64_t end = tu_now_ms() + tu_slow_ms(20000);
  while (fx.t->outstanding > 0) {
    ASSERT_MSG(tu_now_ms() < end, "timed out with %zu requests unfinished",
               fx.t->outstanding);
    th_pump(fx.t, 10);
    uint64_t now = tu_now_ms();
    for (int i = 0; i < N; i++)
      if (!r[i]->terminal && r[i]->ABORT_AT && now >= r[i]->ABORT_AT)
        do_abort(r[i]);
  }
  settle(&fx);
  int counts[7] = {0};
  for (int i = 0; i < N; i++) {
    counts[r[i]->terminal]++;
    if (r[i]->terminal == CD_EV_ABORTED) {
      ASSERT_MSG(r[i]->ABORTED_BY_US, "slot %u: ABORTED without an abort",
                 r[i]->slot);
    } else {
      th_expect_end(r[i], 200);
      ASSERT_EQ(r[i]->body_bytes, size[i]);
    }
  }
  cd_test_log("%d END, %d ABORTED", counts[CD_EV_END], counts[CD_EV_ABORTED]);
  th_fx_end(&fx, 0);
  return 0;
}
