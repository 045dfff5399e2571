/* test_raw.c - CD_REQ_RAW: connect only, then a byte pipe (Upgrade, CONNECT). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cd_test.h"
#include "harness.h"

static th_req *raw_submit(th_fx *fx) {
  cd_request_opts o;
  memset(&o, 0, sizeof o);
  o.flags = CD_REQ_RAW;
  th_req *r = th_submit(fx->t, fx->cfg, fx->srv, "GET", "/", &o);
  r->keep_body = 1;
  return r;
}

static int ends_with(const uint8_t *buf, size_t len, const char *tail) {
  size_t n = strlen(tail);
  return len >= n && memcmp(buf + len - n, tail, n) == 0;
}

/* The owner's bytes go out as written; the server's come back as DATA;
 * the server closing is END. */
TEST_IMPL(raw_request_and_close) {
  th_fx fx;
  th_fx_begin(&fx, 1);
  th_req *r = raw_submit(&fx);
  const char *head = "GET /hello HTTP/1.1\r\nHost: raw\r\nConnection: close\r\n\r\n";
  th_write(fx.t, r, head, strlen(head), 0);
  th_wait(fx.t, r, tu_slow_ms(5000));
  ASSERT_EQ(r->terminal, CD_EV_END);
  ASSERT_EQ(r->status, 0);  /* no HEADERS: the owner parses */
  ASSERT_EQ(r->nconnected, 1);
  ASSERT_MSG(r->body_len > 17 && memcmp(r->body, "HTTP/1.1 200 OK\r\n", 17) == 0,
             "raw bytes: \"%.*s\"", (int)r->body_len, (const char *)r->body);
  ASSERT_MSG(ends_with(r->body, r->body_len, "\r\n\r\nhello"), "ends: \"%.*s\"",
             (int)r->body_len, (const char *)r->body);
  th_fx_end(&fx, 0);
  return 0;
}

/* Megabytes written in many chunks come back byte-exact (the send side
 * meets EAGAIN), and aborting a kept-alive pipe answers ABORTED. */
TEST_IMPL(raw_bulk_echo_then_abort) {
  th_fx fx;
  th_fx_begin(&fx, 1);
  th_req *r = raw_submit(&fx);
  size_t n = 4u << 20;
  char head[128];
  int hl = snprintf(head, sizeof head, "POST /echo HTTP/1.1\r\nHost: raw\r\nContent-Length: %zu\r\n\r\n", n);
  th_write(fx.t, r, head, (size_t)hl, 0);
  uint8_t *chunk = malloc(64 * 1024);
  ASSERT_NOT_NULL(chunk);
  for (size_t off = 0; off < n; off += 64 * 1024) {
    ts_fill_pattern(chunk, off, 64 * 1024);
    th_write(fx.t, r, chunk, 64 * 1024, 0);
    th_pump(fx.t, 0);
  }
  free(chunk);
  uint64_t end = tu_now_ms() + tu_slow_ms(10000);
  while (r->body_len < n && tu_now_ms() < end) th_pump(fx.t, 50);
  ASSERT_GE(r->body_len, n);
  const uint8_t *body = r->body + r->body_len - n;
  for (size_t i = 0; i < n; i++)
    if (body[i] != ts_pattern(i)) ASSERT_MSG(0, "echoed byte %zu differs", i);
  ASSERT_EQ(r->terminal, 0);  /* keep-alive: the pipe stays open */
  cd_request_abort(r->req);
  th_wait(fx.t, r, tu_slow_ms(5000));
  ASSERT_EQ(r->terminal, CD_EV_ABORTED);
  th_fx_end(&fx, 0);
  return 0;
}

/* Nobody listening: the connect error, as for any request. */
TEST_IMPL(raw_refused) {
  th_fx fx;
  th_fx_begin(&fx, 1);
  cd_request_opts o;
  memset(&o, 0, sizeof o);
  o.flags = CD_REQ_RAW;
  o.url = "http://127.0.0.1:1/";
  o.origin = "http://127.0.0.1:1";
  o.method = "GET";
  th_req *r = th_submit_opts(fx.t, fx.cfg, &o);
  th_wait(fx.t, r, tu_slow_ms(5000));
  ASSERT_EQ(r->terminal, CD_EV_ERROR);
  ASSERT_EQ(r->err_a, 7);  /* CURLE_COULDNT_CONNECT */
  th_fx_end(&fx, 0);
  return 0;
}
