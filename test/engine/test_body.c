/* test_body.c - response bodies, trailers, 1xx blocks, header limits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cd_test.h"
#include "harness.h"

TEST_IMPL(big_bodies) {
  static const uint64_t sizes[] = {0,       1,        16383,
                                   16384,   65537,    1u << 20,
                                   (8u << 20) + 13, 24u << 20};
  const size_t count = sizeof sizes / sizeof sizes[0];
  th_fx fx;
  th_fx_begin(&fx, 2);
  th_req *r[sizeof sizes / sizeof sizes[0]];
  for (size_t i = 0; i < count; i++) {
    char path[64];
    snprintf(path, sizeof path, "/big?n=%llu", (unsigned long long)sizes[i]);
    cd_request_opts o;
    memset(&o, 0, sizeof o);
    o.worker = (unsigned)i;
    r[i] = th_submit(fx.t, fx.cfg, fx.srv, "GET", path, &o);
    r[i]->check_pattern = 1;
  }
  th_wait_all(fx.t, tu_slow_ms(20000));
  for (size_t i = 0; i < count; i++) {
    th_expect_end(r[i], 200);
    ASSERT_EQ(r[i]->body_bytes, sizes[i]);
    if (sizes[i] == 0) ASSERT_EQ(r[i]->ndata, 0);
  }
  th_fx_end(&fx, 0);
  return 0;
}

TEST_IMPL(chunked_trailers) {
  th_fx fx;
  th_fx_begin(&fx, 2);
  th_req *a = th_submit(fx.t, fx.cfg, fx.srv, "GET", "/chunked", NULL);
  a->keep_body = 1;
  uint64_t n = (3u << 20) + 7;
  char path[64];
  snprintf(path, sizeof path, "/chunked?n=%llu", (unsigned long long)n);
  cd_request_opts o;
  memset(&o, 0, sizeof o);
  o.worker = 1;
  th_req *b = th_submit(fx.t, fx.cfg, fx.srv, "GET", path, &o);
  b->check_pattern = 1;
  th_wait_all(fx.t, tu_slow_ms(10000));

  th_expect_end(a, 200);
  ASSERT_CONTAINS(a->head, a->head_len, "Transfer-Encoding: chunked");
  th_expect_body(a, "hello world", 11);
  cd_test_log("END data (trailers): \"%s\"", a->term_data);
  ASSERT_CONTAINS(a->term_data, a->term_len, "X-Trailer: yes");
  ASSERT_CONTAINS(a->term_data, a->term_len, "X-Count: 3");
  /* trailers are not part of the header block */
  ASSERT_MSG(tu_memstr(a->head, a->head_len, "X-Trailer: yes") == NULL,
             "trailer in the header block");

  th_expect_end(b, 200);
  ASSERT_EQ(b->body_bytes, n);
  ASSERT_CONTAINS(b->term_data, b->term_len, "X-Trailer: yes");
  th_fx_end(&fx, 0);
  return 0;
}

TEST_IMPL(early_hints) {
  th_fx fx;
  th_fx_begin(&fx, 1);
  th_req *r = th_submit(fx.t, fx.cfg, fx.srv, "GET", "/early-hints", NULL);
  r->keep_body = 1;
  th_wait(fx.t, r, tu_slow_ms(5000));
  th_expect_end(r, 200);
  ASSERT_EQ(r->ninfo, 2);
  ASSERT_EQ(r->info_status[0], 103);
  ASSERT_EQ(r->info_status[1], 103);
  ASSERT_MSG(memcmp(r->info_head, "HTTP/1.1 103", 12) == 0, "1xx block: %s",
             r->info_head);
  ASSERT_CONTAINS(r->info_head, r->info_head_len, "Link: </a.css>; rel=preload");
  ASSERT_MSG(tu_memstr(r->info_head, r->info_head_len, "b.js") == NULL,
             "the first 1xx block holds the second one's lines: %s",
             r->info_head);
  ASSERT_MSG(memcmp(r->head, "HTTP/1.1 200", 12) == 0, "final block: %s",
             r->head);
  ASSERT_MSG(tu_memstr(r->head, r->head_len, "Link:") == NULL,
             "the final block holds 1xx lines: %s", r->head);
  th_expect_body(r, "ok", 2);
  th_fx_end(&fx, 0);
  return 0;
}

static th_req *bigheader(th_fx *fx, cd_config *cfg, unsigned n) {
  char path[64];
  snprintf(path, sizeof path, "/bigheader?n=%u", n);
  th_req *r = th_submit(fx->t, cfg, fx->srv, "GET", path, NULL);
  r->keep_body = 1;
  th_wait(fx->t, r, tu_slow_ms(5000));
  return r;
}

TEST_IMPL(header_size_limits) {
  th_fx fx;
  th_fx_begin(&fx, 1);
  /* default limit: 16 KiB */
  th_req *a = bigheader(&fx, fx.cfg, 8000);
  th_expect_end(a, 200);
  th_expect_body(a, "big", 3);
  ASSERT_GT(a->head_len, 8000);
  th_req *b = bigheader(&fx, fx.cfg, 20000);
  th_expect_error(b, CD_ERR_HEADERS_OVERFLOW);
  ASSERT_EQ(b->status, 0);
  ASSERT(b->err_d & CD_ERRF_CONNECTED);

  cd_config_opts co;
  memset(&co, 0, sizeof co);
  co.max_header_size = 1024;
  cd_config *small = cd_config_new(&co);
  ASSERT_NOT_NULL(small);
  th_req *c = bigheader(&fx, small, 300);
  th_expect_end(c, 200);
  th_req *d = bigheader(&fx, small, 2000);
  th_expect_error(d, CD_ERR_HEADERS_OVERFLOW);
  cd_config_release(small);

  /* the engine is fine afterwards */
  th_req *e = th_submit(fx.t, fx.cfg, fx.srv, "GET", "/hello", NULL);
  th_wait(fx.t, e, tu_slow_ms(5000));
  th_expect_end(e, 200);
  th_fx_end(&fx, 0);
  return 0;
}
