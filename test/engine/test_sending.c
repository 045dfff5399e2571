/* test_sending.c - CD_REQ_SENDING (engine.h, cd_conn.c): CONNECTING when a
 * request opens a connection of its own, SENDING with the addresses of the
 * connection it goes out on, for new and reused connections; neither for a
 * refused connection's SENDING, nor without the flag. The harness checks
 * their order against CONNECTED and the headers for every request
 * (harness.c). */
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "cd_test.h"
#include "harness.h"

static const cd_request_opts sending = {.flags = CD_REQ_SENDING};

/* "ip port local-ip local-port" of a plain TCP connection to srv. */
static void expect_tcp(const th_req *r, const ts_server *srv, unsigned *local_port) {
  char ip[64], local_ip[64];
  unsigned port = 0;
  ASSERT_EQ(sscanf(r->sending, "%63s %u %63s %u", ip, &port, local_ip, local_port), 4);
  ASSERT_STR_EQ(ip, "127.0.0.1");
  ASSERT_EQ(port, ts_port(srv));
  ASSERT_STR_EQ(local_ip, "127.0.0.1");
  ASSERT_GT(*local_port, 0);
  ASSERT_EQ(r->sending_tls, 0);
  ASSERT_MSG(strchr(r->sending, ' ') != NULL && strlen(r->sending) < 64, "\"%s\"", r->sending);
}

TEST_IMPL(sending_new_and_reused) {
  th_fx fx;
  th_fx_begin(&fx, 1);
  th_req *a = th_submit(fx.t, fx.cfg, fx.srv, "GET", "/hello", &sending);
  th_wait(fx.t, a, tu_slow_ms(5000));
  th_expect_end(a, 200);
  ASSERT_EQ(a->nconnecting, 1);
  ASSERT_EQ(a->nconnected, 1);
  ASSERT_EQ(a->nsending, 1);
  unsigned first_port = 0;
  expect_tcp(a, fx.srv, &first_port);
  cd_test_log("new connection: \"%s\"", a->sending);

  /* the same connection again: SENDING alone, with the same local port */
  th_req *b = th_submit(fx.t, fx.cfg, fx.srv, "GET", "/hello", &sending);
  th_wait(fx.t, b, tu_slow_ms(5000));
  th_expect_end(b, 200);
  ASSERT_EQ(ts_accepted(fx.srv), 1);
  ASSERT_EQ(b->nconnecting, 0);
  ASSERT_EQ(b->nconnected, 0);
  ASSERT_EQ(b->nsending, 1);
  unsigned second_port = 0;
  expect_tcp(b, fx.srv, &second_port);
  ASSERT_EQ(second_port, first_port);

  /* without the flag: neither event (the harness fails on one) */
  th_req *c = th_submit(fx.t, fx.cfg, fx.srv, "GET", "/hello", NULL);
  th_wait(fx.t, c, tu_slow_ms(5000));
  th_expect_end(c, 200);
  ASSERT_EQ(c->nsending, 0);
  th_fx_end(&fx, 0);
  return 0;
}

TEST_IMPL(sending_refused) {
  th_fx fx;
  th_fx_begin(&fx, 1);
  th_req *r = th_submit_refused(fx.t, fx.cfg, &sending);
  th_wait(fx.t, r, tu_slow_ms(5000));
  th_expect_error(r, CURLE_COULDNT_CONNECT);
  /* it tried a connection of its own, and never sent on one */
  ASSERT_EQ(r->nconnecting, 1);
  ASSERT_EQ(r->nconnected, 0);
  ASSERT_EQ(r->nsending, 0);
  th_fx_end(&fx, 0);
  return 0;
}
