/* test_head.c - what the engine reads of a response head (engine/cd_head.c):
 * the facts and keep-alive hint of CD_EV_HEADERS, found as lib/'s regular
 * expressions found them (/^name:[^\n]*\bword\b/im), and the same facts on
 * heads from the test server. */
#include <string.h>

#include "cd_head.h"
#include "cd_test.h"
#include "harness.h"

#define ALIVE CD_HEAD_KEEPS_ALIVE
#define CHUNKED CD_HEAD_CHUNKED
#define LENGTH CD_HEAD_HAS_LENGTH

static void expect_facts(const char *head, unsigned facts, long long hint) {
  int64_t got_hint = -7;
  unsigned got = cd__head_facts(head, strlen(head), &got_hint);
  ASSERT_MSG(got == facts && got_hint == hint, "\"%s\": facts %u hint %lld, expected %u hint %lld", head, got,
             (long long)got_hint, facts, hint);
}

TEST_IMPL(head_facts_connection) {
  expect_facts("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n", ALIVE | LENGTH, -1);
  expect_facts("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 5\r\n", LENGTH, -1);
  expect_facts("HTTP/1.1 200 OK\r\nconnection: Keep-Alive, CLOSE\r\n", 0, -1);
  expect_facts("HTTP/1.1 200 OK\r\nConnection:close\r\n", 0, -1);
  /* whole words only, as \b: '-' is not a word character, '_' and digits are */
  expect_facts("HTTP/1.1 200 OK\r\nConnection: closed\r\n", ALIVE, -1);
  expect_facts("HTTP/1.1 200 OK\r\nConnection: x-close\r\n", 0, -1);
  expect_facts("HTTP/1.1 200 OK\r\nConnection: close_1\r\n", ALIVE, -1);
  expect_facts("HTTP/1.1 200 OK\r\nConnection: 1close\r\n", ALIVE, -1);
  /* a name counts at a line's start only, the line's start after a CR too
   * (a JS /m regular expression's ^) */
  expect_facts("HTTP/1.1 200 OK\r\nX-Note: connection: close\r\n", ALIVE, -1);
  expect_facts("HTTP/1.1 200 OK\r\nX-Note: a\rConnection: close\r\n", 0, -1);
  expect_facts("HTTP/1.1 200 OK\r\n Connection: close\r\n", ALIVE, -1);
  /* one line's text ends at its LF, not at the next header */
  expect_facts("HTTP/1.1 200 OK\r\nConnection: upgrade\r\nX-Word: close\r\n", ALIVE, -1);
  /* several Connection lines: any of them */
  expect_facts("HTTP/1.1 200 OK\r\nConnection: te\r\nConnection: close\r\n", 0, -1);
  /* HTTP/1.0 closes unless it says keep-alive */
  expect_facts("HTTP/1.0 200 OK\r\nContent-Length: 4\r\n", LENGTH, -1);
  expect_facts("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\n", ALIVE, -1);
  expect_facts("HTTP/1.0 200 OK\r\nConnection: keep-alive, close\r\n", 0, -1);
  expect_facts("HTTP/1.0 200 OK\r\nConnection: keep-alived\r\n", 0, -1);
  expect_facts("HTTP/1.0 200 OK\r\nKeep-Alive: timeout=5\r\n", 0, 5000);
  /* later versions stay open */
  expect_facts("HTTP/2 200 \r\ncontent-length: 0\r\n", ALIVE | LENGTH, -1);
  expect_facts("", ALIVE, -1);
  return 0;
}

TEST_IMPL(head_facts_framing) {
  expect_facts("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n", ALIVE | CHUNKED, -1);
  expect_facts("HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, CHUNKED\r\n", ALIVE | CHUNKED, -1);
  expect_facts("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n", ALIVE, -1);
  expect_facts("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunkedx\r\n", ALIVE, -1);
  expect_facts("HTTP/1.1 200 OK\r\nX-Transfer-Encoding: chunked\r\n", ALIVE, -1);
  /* Content-Length: the name is enough, even without a value */
  expect_facts("HTTP/1.1 200 OK\r\nContent-Length:\r\n", ALIVE | LENGTH, -1);
  expect_facts("HTTP/1.1 200 OK\r\nCONTENT-LENGTH: 3\r\nTransfer-Encoding: chunked\r\n", ALIVE | CHUNKED | LENGTH, -1);
  expect_facts("HTTP/1.1 200 OK\r\nX-Content-Length: 3\r\n", ALIVE, -1);
  expect_facts("HTTP/1.1 200 OK\r\nContent-Length 3\r\n", ALIVE, -1);
  return 0;
}

TEST_IMPL(head_facts_keepalive_hint) {
  expect_facts("HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5, max=100\r\n", ALIVE, 5000);
  expect_facts("HTTP/1.1 200 OK\r\nkeep-alive: max=100, TIMEOUT=7\r\n", ALIVE, 7000);
  expect_facts("HTTP/1.1 200 OK\r\nKeep-Alive: timeout=0\r\n", ALIVE, 0);
  expect_facts("HTTP/1.1 200 OK\r\nKeep-Alive: timeout=0005\r\n", ALIVE, 5000);
  expect_facts("HTTP/1.1 200 OK\r\nKeep-Alive: timeout=86399\r\n", ALIVE, 86399000);
  /* beyond a day: no hint */
  expect_facts("HTTP/1.1 200 OK\r\nKeep-Alive: timeout=86400\r\n", ALIVE, -1);
  expect_facts("HTTP/1.1 200 OK\r\nKeep-Alive: timeout=99999999999999999999999999\r\n", ALIVE, -1);
  /* the first timeout= followed by a digit, in the first Keep-Alive line
   * that has one */
  expect_facts("HTTP/1.1 200 OK\r\nKeep-Alive: timeout=x, timeout=3\r\n", ALIVE, 3000);
  expect_facts("HTTP/1.1 200 OK\r\nKeep-Alive: max=5\r\nKeep-Alive: timeout=9\r\n", ALIVE, 9000);
  expect_facts("HTTP/1.1 200 OK\r\nKeep-Alive: timeout=2\r\nKeep-Alive: timeout=9\r\n", ALIVE, 2000);
  expect_facts("HTTP/1.1 200 OK\r\nKeep-Alive: xtimeout=4\r\n", ALIVE, 4000);
  expect_facts("HTTP/1.1 200 OK\r\nKeep-Alive: timeout=\r\n", ALIVE, -1);
  expect_facts("HTTP/1.1 200 OK\r\nKeep-Alive: timeout=-5\r\n", ALIVE, -1);
  expect_facts("HTTP/1.1 200 OK\r\nKeep-Alive: max=5\r\nX-A: timeout=5\r\n", ALIVE, -1);
  expect_facts("HTTP/1.1 200 OK\r\nX-Keep-Alive: timeout=5\r\n", ALIVE, -1);
  expect_facts("HTTP/1.1 200 OK\r\nX-A: b\rKeep-Alive: timeout=6\r\n", ALIVE, 6000);
  /* the block's end ends the last line */
  expect_facts("HTTP/1.1 200 OK\r\nKeep-Alive: timeout=12", ALIVE, 12000);
  return 0;
}

/* The facts go out with each final head, none with 1xx heads (the
 * harness checks those), and the hint shortens nothing it should not. */
TEST_IMPL(head_facts_events) {
  th_fx fx;
  th_fx_begin(&fx, 1);
  static const struct {
    const char *path;
    int facts;
    int hint;
  } cases[] = {
      {"/hello", ALIVE | LENGTH, -1},
      {"/chunked", ALIVE | CHUNKED, -1},
      {"/http10", LENGTH, -1},
      {"/eof", 0, -1},
      {"/early-hints", ALIVE | LENGTH, -1},
      {"/keepalive-hint?s=30", ALIVE | LENGTH, 30000},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    th_req *r = th_submit(fx.t, fx.cfg, fx.srv, "GET", cases[i].path, NULL);
    th_wait(fx.t, r, tu_slow_ms(5000));
    th_expect_end(r, 200);
    ASSERT_MSG(r->head_facts == cases[i].facts && r->keepalive_hint == cases[i].hint,
               "%s: facts %d hint %d, expected %d hint %d", cases[i].path, r->head_facts, r->keepalive_hint,
               cases[i].facts, cases[i].hint);
  }
  th_fx_end(&fx, 0);
  return 0;
}
