/* test_upload.c - request bodies: known length, chunked, flow control. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cd_test.h"
#include "harness.h"

#include <curl/curl.h>

/* Well within the engine's grace for an upload that outlives its
 * response (CD__EARLY_GRACE_MS, 50 ms). */
#define CD__TEST_EARLY_WAIT_MS 10

static th_req *echo(th_fx *fx, const char *method, int64_t length) {
  cd_request_opts o;
  memset(&o, 0, sizeof o);
  o.body_mode = CD_BODY_STREAM;
  o.body_length = length;
  th_req *r = th_submit(fx->t, fx->cfg, fx->srv, method, "/echo", &o);
  r->keep_body = 1;
  return r;
}

static void expect_framing(const th_req *r, const char *framing) {
  char v[32];
  ASSERT(tu_header_value(r->head, r->head_len, "X-Req-Framing", v, sizeof v));
  ASSERT_STR_EQ(v, framing);
}

TEST_IMPL(echo_length) {
  th_fx fx;
  th_fx_begin(&fx, 2);
  size_t n = (3u << 20) + 5;
  uint8_t *data = malloc(n);
  ASSERT_NOT_NULL(data);
  tu_rng rng;
  tu_rng_seed(&rng, 1);
  tu_rng_fill(&rng, data, n);
  th_req *r = echo(&fx, "PUT", (int64_t)n);
  for (size_t off = 0; off < n; off += 65536) {
    size_t len = n - off < 65536 ? n - off : 65536;
    th_write(fx.t, r, data + off, len, off + len == n);
  }
  th_wait(fx.t, r, tu_slow_ms(20000));
  th_expect_end(r, 200);
  expect_framing(r, "length");
  th_expect_body(r, data, n);
  free(data);
  th_fx_end(&fx, 0);
  return 0;
}

TEST_IMPL(echo_chunked_many_writes) {
  th_fx fx;
  th_fx_begin(&fx, 2);
  tu_rng rng;
  tu_rng_seed(&rng, 2);
  size_t cap = 1000 * 8192;
  uint8_t *data = malloc(cap);
  ASSERT_NOT_NULL(data);
  tu_rng_fill(&rng, data, cap);

  /* 1000 writes before the first pump, then a zero-length end */
  th_req *a = echo(&fx, "POST", -1);
  size_t off = 0;
  for (int i = 0; i < 1000; i++) {
    size_t len = (size_t)tu_rng_range(&rng, 1, 8192);
    th_write(fx.t, a, data + off, len, 0);
    off += len;
  }
  th_write(fx.t, a, "", 0, 1);
  size_t a_len = off;

  /* the last data write carries end */
  th_req *b = echo(&fx, "POST", -1);
  size_t b_len = 0;
  for (int i = 0; i < 50; i++) {
    size_t len = (size_t)tu_rng_range(&rng, 1, 3000);
    th_write(fx.t, b, data + b_len, len, i == 49);
    b_len += len;
  }
  th_wait_all(fx.t, tu_slow_ms(20000));
  th_expect_end(a, 200);
  expect_framing(a, "chunked");
  th_expect_body(a, data, a_len);
  th_expect_end(b, 200);
  expect_framing(b, "chunked");
  th_expect_body(b, data, b_len);
  free(data);
  th_fx_end(&fx, 0);
  return 0;
}

TEST_IMPL(echo_delayed_writes) {
  th_fx fx;
  th_fx_begin(&fx, 2);
  th_req *a = echo(&fx, "POST", 10);
  th_pump_for(fx.t, 200);
  ASSERT_EQ(a->terminal, 0);
  th_write(fx.t, a, "hello", 5, 0);
  th_pump_for(fx.t, 200);
  ASSERT_EQ(a->terminal, 0);
  th_write(fx.t, a, "world", 5, 1);
  th_wait(fx.t, a, tu_slow_ms(5000));
  th_expect_end(a, 200);
  expect_framing(a, "length");
  th_expect_body(a, "helloworld", 10);

  th_req *b = echo(&fx, "POST", -1);
  th_pump_for(fx.t, 150);
  th_write(fx.t, b, "abc", 3, 0);
  th_pump_for(fx.t, 150);
  th_write(fx.t, b, "def", 3, 0);
  th_pump_for(fx.t, 150);
  ASSERT_EQ(b->terminal, 0);
  th_write(fx.t, b, "", 0, 1);
  th_wait(fx.t, b, tu_slow_ms(5000));
  th_expect_end(b, 200);
  expect_framing(b, "chunked");
  th_expect_body(b, "abcdef", 6);
  th_fx_end(&fx, 0);
  return 0;
}

typedef struct flow {
  const uint8_t *data;
  size_t len, chunk, written;
} flow;

static void flow_on_event(th_env *t, th_req *r, const cd_event *ev) {
  flow *f = r->data;
  if (ev->type != CD_EV_BODY_WANTED || f->written >= f->len) return;
  size_t n = f->len - f->written < f->chunk ? f->len - f->written : f->chunk;
  th_write(t, r, f->data + f->written, n, f->written + n == f->len);
  f->written += n;
}

TEST_IMPL(body_wanted_flow) {
  th_fx fx;
  th_fx_begin(&fx, 2);
  size_t n = 1u << 20;
  uint8_t *data = malloc(n);
  ASSERT_NOT_NULL(data);
  tu_rng rng;
  tu_rng_seed(&rng, 3);
  tu_rng_fill(&rng, data, n);
  flow f = {data, n, 65536, 0};
  th_req *r = echo(&fx, "PUT", (int64_t)n);
  r->data = &f;
  r->on_event = flow_on_event;
  /* first chunk now, every next one on BODY_WANTED */
  th_write(fx.t, r, data, f.chunk, 0);
  f.written = f.chunk;
  th_wait(fx.t, r, tu_slow_ms(20000));
  th_expect_end(r, 200);
  ASSERT_EQ(f.written, n);
  ASSERT_GE(r->nbody_wanted, (int)(n / f.chunk) - 1);
  th_expect_body(r, data, n);

  /* chunked, flow-controlled the same way, ends with an empty write */
  flow g = {data, n / 2, 10000, 0};
  th_req *c = echo(&fx, "POST", -1);
  c->data = &g;
  c->on_event = flow_on_event;
  th_write(fx.t, c, data, g.chunk, 0);
  g.written = g.chunk;
  th_wait(fx.t, c, tu_slow_ms(20000));
  th_expect_end(c, 200);
  expect_framing(c, "chunked");
  th_expect_body(c, data, n / 2);
  free(data);
  th_fx_end(&fx, 0);
  return 0;
}

TEST_IMPL(empty_bodies) {
  th_fx fx;
  th_fx_begin(&fx, 2);
  th_req *a = echo(&fx, "GET", 0);
  th_write(fx.t, a, "", 0, 1);
  th_req *b = echo(&fx, "POST", -1);
  th_write(fx.t, b, "", 0, 1);
  th_wait_all(fx.t, tu_slow_ms(5000));
  th_expect_end(a, 200);
  expect_framing(a, "length");
  th_expect_body(a, "", 0);
  th_expect_end(b, 200);
  expect_framing(b, "chunked");
  th_expect_body(b, "", 0);
  th_fx_end(&fx, 0);
  return 0;
}

/* More writes than the command ring holds (4096 slots): the rest waits on
 * the owner's side until the worker has drained the ring. */
TEST_IMPL(many_writes_backlog) {
  th_fx fx;
  th_fx_begin(&fx, 1);
  enum { WRITES = 10000, SIZE = 64 };
  uint8_t *data = malloc(WRITES * SIZE);
  ASSERT_NOT_NULL(data);
  tu_rng rng;
  tu_rng_seed(&rng, 4);
  tu_rng_fill(&rng, data, WRITES * SIZE);
  th_req *r = echo(&fx, "POST", -1);
  for (size_t i = 0; i < WRITES; i++)
    th_write(fx.t, r, data + i * SIZE, SIZE, i == WRITES - 1);
  th_req *k = echo(&fx, "PUT", WRITES * SIZE);
  for (size_t i = 0; i < WRITES; i++)
    th_write(fx.t, k, data + i * SIZE, SIZE, i == WRITES - 1);
  th_wait_all(fx.t, tu_slow_ms(20000));
  th_expect_end(r, 200);
  th_expect_body(r, data, WRITES * SIZE);
  th_expect_end(k, 200);
  th_expect_body(k, data, WRITES * SIZE);
  free(data);
  th_fx_end(&fx, 0);
  return 0;
}

/* /answer-first responds on the head, then reads the body. */
static th_req *answer_first(th_fx *fx, int64_t length) {
  cd_request_opts o;
  memset(&o, 0, sizeof o);
  o.body_mode = CD_BODY_STREAM;
  o.body_length = length;
  th_req *r = th_submit(fx->t, fx->cfg, fx->srv, "POST", "/answer-first", &o);
  r->keep_body = 1;
  return r;
}

/* The response is complete while the upload still waits for its end: the
 * end written within the grace finishes the upload and the connection is
 * kept for the next request. */
TEST_IMPL(answered_before_body_end_keeps_connection) {
  th_fx fx;
  th_fx_begin(&fx, 1);
  for (int i = 0; i < 5; i++) {
    th_req *r = answer_first(&fx, -1);
    th_write(fx.t, r, "abc", 3, 0);
    th_pump_for(fx.t, CD__TEST_EARLY_WAIT_MS);  /* the response arrives meanwhile */
    th_write(fx.t, r, "", 0, 1);
    th_wait(fx.t, r, tu_slow_ms(3000));
    th_expect_end(r, 200);
    th_expect_body(r, "ok", 2);
  }
  ASSERT_EQ(ts_accepted(fx.srv), 1);
  th_fx_end(&fx, 0);
  return 0;
}

/* An upload that does not finish within the grace: the complete response
 * is delivered then, not at bodyTimeout, and its connection is dropped. */
TEST_IMPL(answered_before_body_end_gives_up) {
  th_fx fx;
  th_fx_begin(&fx, 1);
  th_req *r = answer_first(&fx, 100000);
  th_write(fx.t, r, "abc", 3, 0);
  uint64_t t0 = tu_now_ms();
  th_wait(fx.t, r, tu_slow_ms(3000));
  th_expect_end(r, 200);
  th_expect_body(r, "ok", 2);
  ASSERT(tu_now_ms() - t0 >= 40);  /* the grace (50 ms), less clock slack */
  th_req *next = answer_first(&fx, 0);
  th_write(fx.t, next, "", 0, 1);
  th_wait(fx.t, next, tu_slow_ms(3000));
  th_expect_end(next, 200);
  ASSERT_EQ(ts_accepted(fx.srv), 2);
  th_fx_end(&fx, 0);
  return 0;
}

/* The server answers and closes while the upload waits for the owner's
 * next chunk: libcurl would wait for the body; the worker ends the
 * transfer, cut short (chunked) or complete (ended by the close). */
TEST_IMPL(server_closes_while_upload_waits) {
  th_fx fx;
  th_fx_begin(&fx, 1);
  for (int eof = 0; eof <= 1; eof++) {
    cd_request_opts o;
    memset(&o, 0, sizeof o);
    o.body_mode = CD_BODY_STREAM;
    o.body_length = -1;
    th_req *r = th_submit(fx.t, fx.cfg, fx.srv, "POST", eof ? "/answer-close?eof=1" : "/answer-close", &o);
    r->keep_body = 1;
    th_write(fx.t, r, "abc", 3, 0);  /* and never the end */
    th_wait(fx.t, r, tu_slow_ms(3000));
    if (eof) {
      th_expect_end(r, 200);
      th_expect_body(r, "until-eof", 9);
    } else {
      th_expect_error(r, CURLE_PARTIAL_FILE);
      th_expect_body(r, "partial", 7);
    }
  }
  th_fx_end(&fx, 0);
  return 0;
}
