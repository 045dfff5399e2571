/* test_errors.c - timeouts, refused and reset connections, TLS failures. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cd_test.h"
#include "harness.h"

/* CURLcode values, without including curl.h (the tests use engine.h only). */
#define CURLE_COULDNT_CONNECT 7
#define CURLE_OPERATION_TIMEDOUT 28
#define CURLE_SSL_CONNECT_ERROR 35
#define CURLE_GOT_NOTHING 52
#define CURLE_SEND_ERROR 55
#define CURLE_RECV_ERROR 56

static th_req *get_with(th_fx *fx, const char *path, uint32_t headers_ms,
                        uint32_t body_ms) {
  cd_request_opts o;
  memset(&o, 0, sizeof o);
  o.headers_timeout_ms = headers_ms;
  o.body_timeout_ms = body_ms;
  return th_submit(fx->t, fx->cfg, fx->srv, "GET", path, &o);
}

TEST_IMPL(headers_timeout) {
  th_fx fx;
  th_fx_begin(&fx, 1);
  th_req *r = get_with(&fx, "/nothing", 300, 0);
  th_wait(fx.t, r, tu_slow_ms(5000));
  th_expect_error(r, CD_ERR_HEADERS_TIMEOUT);
  uint64_t took = r->t_terminal - r->t_submit;
  cd_test_log("headers timeout (300 ms) after %llu ms: \"%s\"",
              (unsigned long long)took, r->term_data);
  ASSERT_GE(took, 250);
  ASSERT_LE(took, tu_slow_ms(2000));
  ASSERT_EQ(r->nevents, 1);
  ASSERT(r->err_d & CD_ERRF_CONNECTED);
  ASSERT(!(r->err_d & CD_ERRF_HEADERS));
  th_fx_end(&fx, 0);
  return 0;
}

TEST_IMPL(body_timeout) {
  th_fx fx;
  th_fx_begin(&fx, 2);
  th_req *a = get_with(&fx, "/stall", 0, 300);
  th_req *b = get_with(&fx, "/stall?partial=5000", 0, 300);
  b->check_pattern = 1;
  th_wait_all(fx.t, tu_slow_ms(5000));
  th_expect_error(a, CD_ERR_BODY_TIMEOUT);
  ASSERT_EQ(a->status, 200);
  ASSERT_EQ(a->body_bytes, 0);
  ASSERT_EQ(a->err_d & (CD_ERRF_CONNECTED | CD_ERRF_HEADERS),
            CD_ERRF_CONNECTED | CD_ERRF_HEADERS);
  uint64_t took = a->t_terminal - a->t_headers;
  cd_test_log("body timeout (300 ms) %llu ms after the headers: \"%s\"",
              (unsigned long long)took, a->term_data);
  ASSERT_GE(took, 200);
  ASSERT_LE(took, tu_slow_ms(2000));
  th_expect_error(b, CD_ERR_BODY_TIMEOUT);
  ASSERT_EQ(b->body_bytes, 5000);
  ASSERT(b->err_d & CD_ERRF_HEADERS);
  th_fx_end(&fx, 0);
  return 0;
}

TEST_IMPL(body_timeout_is_idle_time) {
  th_fx fx;
  th_fx_begin(&fx, 1);
  /* 8 bytes, 100 ms apart: 800 ms in all, never 400 ms idle */
  th_req *r = get_with(&fx, "/drip?n=8&ms=100", 0, 400);
  r->check_pattern = 1;
  th_wait(fx.t, r, tu_slow_ms(5000));
  th_expect_end(r, 200);
  ASSERT_EQ(r->body_bytes, 8);
  th_fx_end(&fx, 0);
  return 0;
}

TEST_IMPL(headers_timeout_not_body) {
  th_fx fx;
  th_fx_begin(&fx, 1);
  /* headers at once, then 600 ms of body: the headers timeout is over */
  th_req *r = get_with(&fx, "/drip?n=6&ms=100", 300, 0);
  th_wait(fx.t, r, tu_slow_ms(5000));
  th_expect_end(r, 200);
  ASSERT_EQ(r->body_bytes, 6);
  th_fx_end(&fx, 0);
  return 0;
}

TEST_IMPL(refused) {
  th_fx fx;
  th_fx_begin(&fx, 1);
  th_req *r = th_submit_refused(fx.t, fx.cfg, NULL);
  th_wait(fx.t, r, tu_slow_ms(5000));
  th_expect_error(r, CURLE_COULDNT_CONNECT);
  ASSERT_EQ(r->err_b, ECONNREFUSED);
  ASSERT_EQ(r->err_d & CD_ERRF_CONNECTED, 0);
  ASSERT_GT(r->term_len, 0);
  cd_test_log("refused: \"%s\"", r->term_data);
  th_fx_end(&fx, 0);
  return 0;
}

TEST_IMPL(reset) {
  th_fx fx;
  th_fx_begin(&fx, 1);
  th_req *r = th_submit(fx.t, fx.cfg, fx.srv, "GET", "/reset", NULL);
  th_wait(fx.t, r, tu_slow_ms(5000));
  ASSERT_EQ(r->terminal, CD_EV_ERROR);
  cd_test_log("reset: error %d errno %d flags %d \"%s\"", r->err_a, r->err_b,
              r->err_d, r->term_data);
  ASSERT_MSG(r->err_a == CURLE_RECV_ERROR || r->err_a == CURLE_SEND_ERROR ||
                 r->err_a == CURLE_GOT_NOTHING,
             "unexpected error %d", r->err_a);
  if (r->err_a == CURLE_RECV_ERROR) ASSERT_EQ(r->err_b, ECONNRESET);
  ASSERT(r->err_d & CD_ERRF_CONNECTED);
  /* and the next request is fine */
  th_req *h = th_submit(fx.t, fx.cfg, fx.srv, "GET", "/hello", NULL);
  th_wait(fx.t, h, tu_slow_ms(5000));
  th_expect_end(h, 200);
  th_fx_end(&fx, 0);
  return 0;
}

TEST_IMPL(https_to_plain) {
  th_fx fx;
  th_fx_begin(&fx, 1);
  char url[96], origin[64];
  snprintf(origin, sizeof origin, "https://127.0.0.1:%u", ts_port(fx.srv));
  snprintf(url, sizeof url, "%s/hello", origin);
  cd_request_opts o;
  memset(&o, 0, sizeof o);
  o.url = url;
  o.origin = origin;
  o.method = "GET";
  o.http_version = CD_HTTP_2TLS;
  o.headers_timeout_ms = 5000;
  th_req *a = th_submit_opts(fx.t, fx.cfg, &o);
  th_wait(fx.t, a, tu_slow_ms(10000));
  ASSERT_EQ(a->terminal, CD_EV_ERROR);
  cd_test_log("https to a plain server: error %d flags %d \"%s\"", a->err_a,
              a->err_d, a->term_data);
  ASSERT_EQ(a->err_a, CURLE_SSL_CONNECT_ERROR);

  /* a config with blobs, released right after the submit */
  static const char ca[] =
      "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n"
      "-----END CERTIFICATE-----\n";
  cd_config_opts co;
  memset(&co, 0, sizeof co);
  co.reject_unauthorized = 1;
  char *blob = malloc(sizeof ca);
  memcpy(blob, ca, sizeof ca);
  co.ca = blob;
  co.ca_len = sizeof ca - 1;
  co.connect_timeout_ms = 5000;
  cd_config *cfg = cd_config_new(&co);
  free(blob); /* blobs are copied */
  ASSERT_NOT_NULL(cfg);
  th_req *b = th_submit_opts(fx.t, cfg, &o);
  cd_config_release(cfg);
  th_wait(fx.t, b, tu_slow_ms(10000));
  ASSERT_EQ(b->terminal, CD_EV_ERROR);
  cd_test_log("https with a bad CA blob: error %d \"%s\"", b->err_a,
              b->term_data);
  ASSERT_GT(b->err_a, 0);
  th_fx_end(&fx, 0);
  return 0;
}

TEST_IMPL(connect_timeout) {
  th_fx fx;
  th_fx_begin(&fx, 1);
  /* A listener whose accept queue is full: the kernel drops further SYNs,
   * so a connect neither succeeds nor fails. */
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(lfd, 0);
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(lfd, (struct sockaddr *)&sa, sizeof sa), 0);
  ASSERT_EQ(listen(lfd, 0), 0);
  socklen_t sl = sizeof sa;
  getsockname(lfd, (struct sockaddr *)&sa, &sl);
  int fill[4];
  for (int i = 0; i < 4; i++) {
    fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    connect(fill[i], (struct sockaddr *)&sa, sizeof sa);
  }
  tu_sleep_ms(100);

  cd_config_opts co;
  memset(&co, 0, sizeof co);
  co.connect_timeout_ms = 300;
  cd_config *cfg = cd_config_new(&co);
  ASSERT_NOT_NULL(cfg);
  char url[96], origin[64];
  snprintf(origin, sizeof origin, "http://127.0.0.1:%u", ntohs(sa.sin_port));
  snprintf(url, sizeof url, "%s/hello", origin);
  cd_request_opts o;
  memset(&o, 0, sizeof o);
  o.url = url;
  o.origin = origin;
  o.method = "GET";
  th_req *r = th_submit_opts(fx.t, cfg, &o);
  cd_config_release(cfg);
  th_wait(fx.t, r, tu_slow_ms(5000));
  uint64_t took = r->t_terminal - r->t_submit;
  cd_test_log("connect timeout (300 ms) after %llu ms: error %d \"%s\"",
              (unsigned long long)took, r->err_a, r->term_data);
  th_expect_error(r, CURLE_OPERATION_TIMEDOUT);
  ASSERT_EQ(r->err_d & CD_ERRF_CONNECTED, 0);
  ASSERT_GE(took, 250);
  ASSERT_LE(took, tu_slow_ms(2000));
  for (int i = 0; i < 4; i++) close(fill[i]);
  close(lfd);
  th_fx_end(&fx, 0);
  return 0;
}

/* The ERROR flags describe the request, whether or not its connection was
 * new: a request on a reused connection had a connection too. */
TEST_IMPL(error_flags_reused_connection) {
  th_fx fx;
  th_fx_begin(&fx, 1);
  th_req *a = th_submit(fx.t, fx.cfg, fx.srv, "GET", "/hello", NULL);
  th_wait(fx.t, a, tu_slow_ms(5000));
  th_expect_end(a, 200);
  th_req *b = get_with(&fx, "/stall", 0, 200); /* reuses a's connection */
  th_wait(fx.t, b, tu_slow_ms(5000));
  th_expect_error(b, CD_ERR_BODY_TIMEOUT);
  ASSERT_EQ(ts_accepted(fx.srv), 1);
  cd_test_log("body timeout on a reused connection: flags %d", b->err_d);
  ASSERT_EQ(b->err_d, CD_ERRF_CONNECTED | CD_ERRF_HEADERS);
  th_req *c = get_with(&fx, "/nothing", 200, 0); /* reuses it again */
  th_wait(fx.t, c, tu_slow_ms(5000));
  th_expect_error(c, CD_ERR_HEADERS_TIMEOUT);
  cd_test_log("headers timeout on a reused connection: flags %d", c->err_d);
  ASSERT_EQ(c->err_d, CD_ERRF_CONNECTED);
  th_fx_end(&fx, 0);
  return 0;
}

#define PAUSED_AT u64[0]
#define CONSUMER_ONLY u64[1]

static void pause_at_first_data(th_env *t, th_req *r, const cd_event *ev) {
  (void)t;
  if (ev->type == CD_EV_DATA && !r->PAUSED_AT) {
    r->PAUSED_AT = tu_now_ms();
    if (r->CONSUMER_ONLY) cd_request_pause_consumer(r->req); else cd_request_pause(r->req);
  }
}

/* Time spent paused by the owner is not idle time of the server, whether
 * receiving stopped (cd_request_pause) or only the consumer is paused
 * (cd_request_pause_consumer). */
static int timeout_while_paused(int consumer_only) {
  th_fx fx;
  th_fx_begin(&fx, 1);
  th_req *r = get_with(&fx, "/stall?partial=1000", 0, 300);
  r->CONSUMER_ONLY = (uint64_t)consumer_only;
  r->on_event = pause_at_first_data;
  th_pump_for(fx.t, 900);
  ASSERT_MSG(r->PAUSED_AT != 0, "no data within 900 ms");
  ASSERT_MSG(r->terminal == 0, "terminal %s (error %d) while paused",
             th_ev_name(r->terminal), r->err_a);
  uint64_t resumed = tu_now_ms();
  cd_request_resume(r->req);
  th_wait(fx.t, r, tu_slow_ms(5000));
  th_expect_error(r, CD_ERR_BODY_TIMEOUT);
  uint64_t took = r->t_terminal - resumed;
  cd_test_log("body timeout 300 ms: %llu ms after resume",
              (unsigned long long)took);
  ASSERT_GE(took, 250);
  ASSERT_LE(took, tu_slow_ms(2000));
  th_fx_end(&fx, 0);
  return 0;
}

TEST_IMPL(body_timeout_while_paused) {
  return timeout_while_paused(0);
}

TEST_IMPL(body_timeout_while_consumer_paused) {
  return timeout_while_paused(1);
}
