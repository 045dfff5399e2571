/* test_basic.c - status, version, raw header blocks, request heads. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cd_test.h"
#include "harness.h"

static th_req *get(th_fx *fx, const char *method, const char *path,
                   const char *headers) {
  cd_request_opts o;
  memset(&o, 0, sizeof o);
  if (headers) {
    o.headers = headers;
    o.headers_len = strlen(headers);
  }
  th_req *r = th_submit(fx->t, fx->cfg, fx->srv, method, path, &o);
  r->keep_body = 1;
  return r;
}

/* Every line of a raw header block ends with CRLF. */
static void expect_crlf_lines(const char *block, size_t len) {
  ASSERT_GE(len, 2);
  ASSERT_MSG(block[len - 2] == '\r' && block[len - 1] == '\n',
             "header block does not end with CRLF: \"%.*s\"", (int)len, block);
  for (size_t i = 0; i < len; i++)
    if (block[i] == '\n')
      ASSERT_MSG(i > 0 && block[i - 1] == '\r', "bare LF at byte %zu", i);
}

TEST_IMPL(hello) {
  th_fx fx;
  th_fx_begin(&fx, 2);
  th_req *r = get(&fx, "GET", "/hello", NULL);
  th_wait(fx.t, r, tu_slow_ms(5000));
  th_expect_end(r, 200);
  ASSERT_EQ(r->version, 11);
  ASSERT_EQ(r->ninfo, 0);
  ASSERT_MSG(r->head_len > 17 && memcmp(r->head, "HTTP/1.1 200 OK\r\n", 17) == 0,
             "head: \"%s\"", r->head);
  expect_crlf_lines(r->head, r->head_len);
  ASSERT_EQ(tu_count_header(r->head, r->head_len, "content-length"), 1);
  char v[64];
  ASSERT(tu_header_value(r->head, r->head_len, "Content-Type", v, sizeof v));
  ASSERT_STR_EQ(v, "text/plain");
  th_expect_body(r, "hello", 5);
  ASSERT_MSG(r->term_len == 0, "END data without trailers: \"%s\"", r->term_data);
  ASSERT_EQ(r->nbody_wanted, 0);
  ASSERT_EQ(ts_requests(fx.srv), 1);
  th_fx_end(&fx, 0);
  return 0;
}

TEST_IMPL(head_echo_headers) {
  th_fx fx;
  th_fx_begin(&fx, 2);
  th_req *r = get(&fx, "GET", "/head-echo?a=1&b=%20x",
                  "X-One: 1\nX-Two: two words\nX-Url: http://h/p?q=1\n");
  th_wait(fx.t, r, tu_slow_ms(5000));
  th_expect_end(r, 200);
  const char *h = (const char *)r->body;
  size_t n = r->body_len;
  const char *line = "GET /head-echo?a=1&b=%20x HTTP/1.1\r\n";
  ASSERT_MSG(n > strlen(line) && memcmp(h, line, strlen(line)) == 0,
             "request head: \"%.*s\"", (int)n, h);
  char host[64], v[128];
  snprintf(host, sizeof host, "127.0.0.1:%u", ts_port(fx.srv));
  ASSERT_EQ(tu_count_header(h, n, "Host"), 1);
  ASSERT(tu_header_value(h, n, "Host", v, sizeof v));
  ASSERT_STR_EQ(v, host);
  ASSERT(tu_header_value(h, n, "X-One", v, sizeof v));
  ASSERT_STR_EQ(v, "1");
  ASSERT(tu_header_value(h, n, "X-Two", v, sizeof v));
  ASSERT_STR_EQ(v, "two words");
  ASSERT(tu_header_value(h, n, "X-Url", v, sizeof v));
  ASSERT_STR_EQ(v, "http://h/p?q=1");
  /* The header order is the caller's. */
  ASSERT(tu_memstr(h, n, "X-One:") < tu_memstr(h, n, "X-Two:"));
  ASSERT_EQ(tu_count_header(h, n, "Accept"), 0);
  ASSERT_EQ(tu_count_header(h, n, "Expect"), 0);
  ASSERT_EQ(tu_count_header(h, n, "Accept-Encoding"), 0);
  ASSERT_EQ(tu_count_header(h, n, "Transfer-Encoding"), 0);
  ASSERT_EQ(tu_count_header(h, n, "Content-Length"), 0);
  ASSERT_EQ(tu_count_header(h, n, "Connection"), 0);
  ASSERT_EQ(tu_count_header(h, n, "TE"), 0);
  cd_test_log("request head as sent: %.*s", (int)n, h);
  th_fx_end(&fx, 0);
  return 0;
}

TEST_IMPL(methods) {
  static const char *methods[] = {"POST", "PUT", "DELETE", "PATCH", "OPTIONS",
                                  "PURGE", "GET"};
  th_fx fx;
  th_fx_begin(&fx, 2);
  th_req *r[7];
  for (int i = 0; i < 7; i++) r[i] = get(&fx, methods[i], "/head-echo", NULL);
  th_wait_all(fx.t, tu_slow_ms(5000));
  for (int i = 0; i < 7; i++) {
    th_expect_end(r[i], 200);
    const char *h = (const char *)r[i]->body;
    size_t n = r[i]->body_len;
    char line[64];
    snprintf(line, sizeof line, "%s /head-echo HTTP/1.1\r\n", methods[i]);
    ASSERT_MSG(n > strlen(line) && memcmp(h, line, strlen(line)) == 0,
               "%s: request head \"%.*s\"", methods[i], (int)n, h);
    /* CD_BODY_NONE: no body and no Content-Length, whatever the method. */
    ASSERT_MSG(tu_count_header(h, n, "Content-Length") == 0,
               "%s without body sent Content-Length: \"%.*s\"", methods[i],
               (int)n, h);
    ASSERT_MSG(tu_count_header(h, n, "Transfer-Encoding") == 0,
               "%s without body sent Transfer-Encoding: \"%.*s\"", methods[i],
               (int)n, h);
  }
  th_fx_end(&fx, 0);
  return 0;
}

TEST_IMPL(head_method) {
  th_fx fx;
  th_fx_begin(&fx, 1);
  /* The response announces a body the server does not send. */
  th_req *a = get(&fx, "HEAD", "/hello", NULL);
  th_wait(fx.t, a, tu_slow_ms(3000));
  th_expect_end(a, 200);
  ASSERT_EQ(a->ndata, 0);
  char v[32];
  ASSERT(tu_header_value(a->head, a->head_len, "Content-Length", v, sizeof v));
  ASSERT_STR_EQ(v, "5");
  th_req *b = get(&fx, "HEAD", "/big?n=1000000", NULL);
  th_wait(fx.t, b, tu_slow_ms(3000));
  th_expect_end(b, 200);
  ASSERT_EQ(b->body_bytes, 0);
  /* The same connection is still good for a GET. */
  th_req *c = get(&fx, "GET", "/hello", NULL);
  th_wait(fx.t, c, tu_slow_ms(3000));
  th_expect_end(c, 200);
  th_expect_body(c, "hello", 5);
  ASSERT_EQ(ts_accepted(fx.srv), 1);
  th_fx_end(&fx, 0);
  return 0;
}

TEST_IMPL(http_versions) {
  th_fx fx;
  th_fx_begin(&fx, 2);
  th_req *a = get(&fx, "GET", "/http10", NULL);
  cd_request_opts o;
  memset(&o, 0, sizeof o);
  o.http_version = CD_HTTP_2TLS; /* cleartext: stays HTTP/1.1 */
  th_req *b = th_submit(fx.t, fx.cfg, fx.srv, "GET", "/hello", &o);
  b->keep_body = 1;
  th_wait_all(fx.t, tu_slow_ms(5000));
  th_expect_end(a, 200);
  ASSERT_EQ(a->version, 10);
  ASSERT(memcmp(a->head, "HTTP/1.0 200", 12) == 0);
  th_expect_body(a, "v1.0", 4);
  th_expect_end(b, 200);
  ASSERT_EQ(b->version, 11);
  th_expect_body(b, "hello", 5);
  th_fx_end(&fx, 0);
  return 0;
}

TEST_IMPL(eof_body) {
  th_fx fx;
  th_fx_begin(&fx, 2);
  th_req *a = get(&fx, "GET", "/eof", NULL);
  th_req *b = th_submit(fx.t, fx.cfg, fx.srv, "GET", "/eof?n=300001", NULL);
  b->check_pattern = 1;
  th_wait_all(fx.t, tu_slow_ms(5000));
  th_expect_end(a, 200);
  th_expect_body(a, "until-eof", 9);
  th_expect_end(b, 200);
  ASSERT_EQ(b->body_bytes, 300001);
  th_fx_end(&fx, 0);
  return 0;
}

TEST_IMPL(no_body_statuses) {
  th_fx fx;
  th_fx_begin(&fx, 2);
  th_req *a = get(&fx, "GET", "/status?code=204", NULL);
  th_req *b = get(&fx, "GET", "/status?code=304", NULL);
  th_req *c = get(&fx, "GET", "/redirect", NULL);
  th_req *d = get(&fx, "GET", "/status?code=404", NULL);
  th_req *e = get(&fx, "POST", "/status?code=500", NULL);
  th_wait_all(fx.t, tu_slow_ms(5000));
  th_expect_end(a, 204);
  ASSERT_EQ(a->ndata, 0);
  th_expect_end(b, 304);
  ASSERT_EQ(b->ndata, 0);
  /* Redirects are the dispatcher's business: never followed here. */
  th_expect_end(c, 302);
  th_expect_body(c, "moved", 5);
  ASSERT_CONTAINS(c->head, c->head_len, "Location: /hello");
  /* HTTP error statuses are responses, not errors. */
  th_expect_end(d, 404);
  th_expect_body(d, "status", 6);
  th_expect_end(e, 500);
  th_expect_body(e, "status", 6);
  ASSERT_EQ(ts_requests(fx.srv), 5);
  th_fx_end(&fx, 0);
  return 0;
}

TEST_IMPL(raw_bytes_no_decoding) {
  th_fx fx;
  th_fx_begin(&fx, 1);
  th_req *r = get(&fx, "GET", "/gzip", NULL);
  th_wait(fx.t, r, tu_slow_ms(5000));
  th_expect_end(r, 200);
  ASSERT_CONTAINS(r->head, r->head_len, "Content-Encoding: gzip");
  th_expect_body(r, "notgzip", 7);
  th_fx_end(&fx, 0);
  return 0;
}

TEST_IMPL(user_headers) {
  th_fx fx;
  th_fx_begin(&fx, 1);
  th_req *r = get(&fx, "GET", "/head-echo",
                  "Accept: text/plain\nHost: example.test\nUser-Agent: ua/1\n"
                  "X-Dup: a\nX-Dup: b\nContent-Type: x/y\n");
  th_wait(fx.t, r, tu_slow_ms(5000));
  th_expect_end(r, 200);
  const char *h = (const char *)r->body;
  size_t n = r->body_len;
  char v[64];
  ASSERT_EQ(tu_count_header(h, n, "Accept"), 1);
  ASSERT(tu_header_value(h, n, "Accept", v, sizeof v));
  ASSERT_STR_EQ(v, "text/plain");
  ASSERT_EQ(tu_count_header(h, n, "Host"), 1);
  ASSERT(tu_header_value(h, n, "Host", v, sizeof v));
  ASSERT_STR_EQ(v, "example.test");
  ASSERT_EQ(tu_count_header(h, n, "User-Agent"), 1);
  ASSERT(tu_header_value(h, n, "User-Agent", v, sizeof v));
  ASSERT_STR_EQ(v, "ua/1");
  ASSERT_EQ(tu_count_header(h, n, "X-Dup"), 2);
  ASSERT_CONTAINS(h, n, "X-Dup: a\r\nX-Dup: b\r\n");
  ASSERT(tu_header_value(h, n, "Content-Type", v, sizeof v));
  ASSERT_STR_EQ(v, "x/y");
  th_fx_end(&fx, 1);
  return 0;
}

TEST_IMPL(empty_header_value) {
  th_fx fx;
  th_fx_begin(&fx, 1);
  th_req *r = get(&fx, "GET", "/head-echo", "X-Before: 1\nX-Empty: \nX-After: 2\n");
  th_wait(fx.t, r, tu_slow_ms(5000));
  th_expect_end(r, 200);
  const char *h = (const char *)r->body;
  size_t n = r->body_len;
  ASSERT_EQ(tu_count_header(h, n, "X-Before"), 1);
  ASSERT_EQ(tu_count_header(h, n, "X-After"), 1);
  ASSERT_MSG(tu_count_header(h, n, "X-Empty") == 1,
             "a header with an empty value was not sent: \"%.*s\"", (int)n, h);
  th_fx_end(&fx, 0);
  return 0;
}

TEST_IMPL(request_target) {
  th_fx fx;
  th_fx_begin(&fx, 1);
  /* The connection goes to the URL's origin; the request line carries the
   * absolute-form target instead of the URL's path. */
  cd_request_opts o;
  memset(&o, 0, sizeof o);
  o.request_target = "http://example.test/head-echo?x=1";
  th_req *r = th_submit(fx.t, fx.cfg, fx.srv, "GET", "/", &o);
  r->keep_body = 1;
  th_wait(fx.t, r, tu_slow_ms(5000));
  th_expect_end(r, 200);
  ASSERT_CONTAINS((const char *)r->body, r->body_len, "GET http://example.test/head-echo?x=1 HTTP/1.1\r\n");
  th_fx_end(&fx, 1);
  return 0;
}

TEST_IMPL(connect_to) {
  th_fx fx;
  th_fx_begin(&fx, 1);
  /* The URL names localhost on a port where nothing listens; connect_to
   * sends the connection to the test server instead. */
  unsigned fake = ts_unused_port();
  char origin[64], url[128], ct[96];
  snprintf(origin, sizeof origin, "http://localhost:%u", fake);
  snprintf(url, sizeof url, "%s/head-echo", origin);
  snprintf(ct, sizeof ct, "localhost:%u:127.0.0.1:%u", fake, ts_port(fx.srv));
  cd_request_opts o;
  memset(&o, 0, sizeof o);
  o.url = url;
  o.origin = origin;
  o.method = "GET";
  o.connect_to = ct;
  th_req *r = th_submit_opts(fx.t, fx.cfg, &o);
  r->keep_body = 1;
  th_wait(fx.t, r, tu_slow_ms(5000));
  th_expect_end(r, 200);
  char host[64], v[64];
  snprintf(host, sizeof host, "localhost:%u", fake);
  ASSERT(tu_header_value((const char *)r->body, r->body_len, "Host", v, sizeof v));
  ASSERT_STR_EQ(v, host);
  ASSERT_EQ(ts_requests(fx.srv), 1);
  th_fx_end(&fx, 0);
  return 0;
}

/* Request blocks are pooled (engine/cd_request.c): a block freed by one
 * request is reused by a later one when it fits, and replaced when it does
 * not. Rounds of requests whose URLs grow and shrink past the pool's slack
 * each see their own request line, byte for byte. */
TEST_IMPL(request_blocks_reused) {
  th_fx fx;
  th_fx_begin(&fx, 2);
  static const size_t lengths[] = {1, 300, 40, 2000, 5, 700, 1};
  enum { NLEN = sizeof lengths / sizeof lengths[0], PER_ROUND = 24 };
  char path[2100], line[2200];
  for (unsigned round = 0; round < 3; round++) {
    th_req *reqs[NLEN * PER_ROUND];
    unsigned n = 0;
    for (unsigned i = 0; i < NLEN; i++) {
      for (unsigned k = 0; k < PER_ROUND; k++) {
        size_t len = lengths[(i + round) % NLEN] + k;
        int head = snprintf(path, sizeof path, "/head-echo?r=%u&", round);
        memset(path + head, 'a' + (char)(k % 26), len);
        path[head + len] = '\0';
        reqs[n++] = get(&fx, "GET", path, NULL);
      }
    }
    th_wait_all(fx.t, tu_slow_ms(10000));
    n = 0;
    for (unsigned i = 0; i < NLEN; i++) {
      for (unsigned k = 0; k < PER_ROUND; k++) {
        th_req *r = reqs[n++];
        th_expect_end(r, 200);
        size_t len = lengths[(i + round) % NLEN] + k;
        int head = snprintf(line, sizeof line, "GET /head-echo?r=%u&", round);
        memset(line + head, 'a' + (char)(k % 26), len);
        memcpy(line + head + len, " HTTP/1.1\r\n", 12);
        size_t want = strlen(line);
        ASSERT_MSG(r->body_len > want && memcmp(r->body, line, want) == 0,
                   "round %u, length %zu: \"%.*s\"", round, len, (int)(want < r->body_len ? want : r->body_len),
                   (const char *)r->body);
      }
    }
  }
  th_fx_end(&fx, 0);
  return 0;
}
