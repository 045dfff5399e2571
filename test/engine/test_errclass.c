/* test_errclass.c - libcurl failures classed by their message
 * (engine/cd_errclass.c): each message libcurl 7.88 and 8.x write for the
 * cases, the look-alikes that stay what libcurl said, and the class with
 * its CURLcode on a real ERROR event. */
#include <errno.h>

#include <curl/curl.h>

#include "cd_errclass.h"
#include "cd_test.h"
#include "harness.h"

#define CURLE_TOO_LARGE_ 100 /* CURLE_TOO_LARGE, libcurl >= 8.6 */

static void expect_class(int curl_code, long os_errno, bool headers, const char *message, int expected) {
  int got = cd__errclass(curl_code, os_errno, headers, message);
  ASSERT_MSG(got == expected, "%d (errno %ld, headers %d) \"%s\": %d, expected %d", curl_code, os_errno, headers,
             message, got, expected);
}

TEST_IMPL(errclass_headers_overflow) {
  /* libcurl's limit on a response's header bytes, whatever the errno */
  expect_class(CURLE_RECV_ERROR, 0, false, "Too large response headers: 307201 > 307200", CD_ERR_HEADERS_OVERFLOW);
  expect_class(CURLE_RECV_ERROR, ECONNRESET, false, "Too large response headers: 307201 > 307200",
               CD_ERR_HEADERS_OVERFLOW);
  expect_class(CURLE_SEND_ERROR, EPIPE, true, "Too large response headers: 6144001 > 6144000",
               CD_ERR_HEADERS_OVERFLOW);
  /* at the message's start, in that case */
  expect_class(CURLE_RECV_ERROR, 0, false, "too large response headers: 1 > 0", CURLE_RECV_ERROR);
  expect_class(CURLE_RECV_ERROR, 0, false, "x Too large response headers", CURLE_RECV_ERROR);
  expect_class(CURLE_WRITE_ERROR, 0, false, "Too large response headers: 307201 > 307200", CURLE_WRITE_ERROR);
  /* one header line over libcurl's limit: 7.x and 8.0-8.5 say it without
   * a message, before the final head */
  expect_class(CURLE_OUT_OF_MEMORY, 0, false, "Out of memory", CD_ERR_HEADERS_OVERFLOW);
  expect_class(CURLE_OUT_OF_MEMORY, 0, true, "Out of memory", CURLE_OUT_OF_MEMORY);
  expect_class(CURLE_OUT_OF_MEMORY, 0, true, "Too long response header", CD_ERR_HEADERS_OVERFLOW);
  expect_class(CURLE_OUT_OF_MEMORY, 0, true, "bad HEADER", CD_ERR_HEADERS_OVERFLOW);
  /* 8.6 and later */
  expect_class(CURLE_TOO_LARGE_, 0, false, "Too many response headers, 5000 is max", CD_ERR_HEADERS_OVERFLOW);
  expect_class(CURLE_TOO_LARGE_, 0, false, "", CD_ERR_HEADERS_OVERFLOW);
  expect_class(CURLE_TOO_LARGE_, 0, true, "Too many response headers, 5000 is max", CURLE_TOO_LARGE_);
  return 0;
}

TEST_IMPL(errclass_bad_chunk) {
  /* up to 8.5: "<reason> in chunked-encoding" */
  expect_class(CURLE_RECV_ERROR, 0, true, "Illegal or missing hexadecimal sequence in chunked-encoding",
               CD_ERR_BAD_CHUNK);
  expect_class(CURLE_RECV_ERROR, EAGAIN, true, "Malformed encoding found in chunked-encoding", CD_ERR_BAD_CHUNK);
  /* 8.6 and later */
  expect_class(CURLE_RECV_ERROR, 0, true, "chunk hex-length char not a hex digit: 0x7a", CD_ERR_BAD_CHUNK);
  expect_class(CURLE_RECV_ERROR, 0, true, "invalid chunk size: 'fffffffffffffffff'", CD_ERR_BAD_CHUNK);
  expect_class(CURLE_SEND_ERROR, 0, true, "CHUNK", CD_ERR_BAD_CHUNK);
  /* a reset connection is the reset, whatever the message */
  expect_class(CURLE_RECV_ERROR, ECONNRESET, true, "Malformed encoding found in chunked-encoding", CURLE_RECV_ERROR);
  expect_class(CURLE_SEND_ERROR, EPIPE, true, "Malformed encoding found in chunked-encoding", CURLE_SEND_ERROR);
  /* other codes and messages stay libcurl's */
  expect_class(CURLE_RECV_ERROR, ECONNRESET, true, "Recv failure: Connection reset by peer", CURLE_RECV_ERROR);
  expect_class(CURLE_RECV_ERROR, 0, true, "Connection died, tried 5 times before giving up", CURLE_RECV_ERROR);
  expect_class(CURLE_PARTIAL_FILE, 0, true, "transfer closed with outstanding read data remaining in chunked",
               CURLE_PARTIAL_FILE);
  expect_class(CURLE_WRITE_ERROR, 0, true, "Failed reading the chunked-encoded stream", CURLE_WRITE_ERROR);
  return 0;
}

TEST_IMPL(errclass_tls_hostname) {
  int peer = CURLE_PEER_FAILED_VERIFICATION;
  expect_class(peer, 0, false, "SSL: no alternative certificate subject name matches target host name 'localhost'",
               CD_ERR_TLS_HOSTNAME);
  expect_class(peer, 0, false, "SSL: no alternative certificate subject name matches target hostname 'localhost'",
               CD_ERR_TLS_HOSTNAME);
  expect_class(peer, 0, false, "SSL: certificate subject name 'a.test' does not match target host name 'b.test'",
               CD_ERR_TLS_HOSTNAME);
  expect_class(peer, 0, false, "SSL: certificate subject name (a.test) does not match target hostname 'b.test'",
               CD_ERR_TLS_HOSTNAME);
  expect_class(peer, 0, false, "no ALTNAME", CD_ERR_TLS_HOSTNAME);
  /* other verification failures */
  expect_class(peer, 0, false, "SSL certificate problem: unable to get local issuer certificate", peer);
  expect_class(peer, 0, false, "SSL certificate problem: self-signed certificate", peer);
  /* the same words with another code */
  expect_class(CURLE_SSL_PINNEDPUBKEYNOTMATCH, 0, false, "SSL: public key does not match pinned public key",
               CURLE_SSL_PINNEDPUBKEYNOTMATCH);
  expect_class(CURLE_SSL_CONNECT_ERROR, 0, false, "subject name", CURLE_SSL_CONNECT_ERROR);
  expect_class(CURLE_COULDNT_CONNECT, ECONNREFUSED, false, "chunk header", CURLE_COULDNT_CONNECT);
  return 0;
}

/* On a real transfer: the class in a, libcurl's CURLcode in d. */
TEST_IMPL(errclass_event) {
  th_fx fx;
  th_fx_begin(&fx, 1);
  th_req *r = th_submit(fx.t, fx.cfg, fx.srv, "GET", "/bad-chunk", NULL);
  th_wait(fx.t, r, tu_slow_ms(5000));
  cd_test_log("bad chunk: error %d curl %d errno %d \"%s\"", r->err_a, r->err_curl, r->err_b,
              r->term_data ? r->term_data : "");
  th_expect_error(r, CD_ERR_BAD_CHUNK);
  ASSERT_EQ(r->err_curl, CURLE_RECV_ERROR);
  ASSERT(r->err_d & CD_ERRF_HEADERS);
  ASSERT_EQ((r->err_d >> CD_ERRF_CONNECT_STATUS_SHIFT) & CD_ERRF_CONNECT_STATUS_MASK, 0);

  /* one of the engine's own errors carries no CURLcode */
  cd_config_opts co;
  memset(&co, 0, sizeof co);
  co.max_header_size = 1024;
  cd_config *small = cd_config_new(&co);
  ASSERT_NOT_NULL(small);
  th_req *b = th_submit(fx.t, small, fx.srv, "GET", "/bigheader?n=2000", NULL);
  th_wait(fx.t, b, tu_slow_ms(5000));
  th_expect_error(b, CD_ERR_HEADERS_OVERFLOW);
  ASSERT_EQ(b->err_curl, 0);
  cd_config_release(small);

  /* and a CURLcode not classed is in both */
  th_req *c = th_submit(fx.t, fx.cfg, fx.srv, "GET", "/reset", NULL);
  th_wait(fx.t, c, tu_slow_ms(5000));
  ASSERT_GT(c->err_a, 0);
  ASSERT_EQ(c->err_curl, c->err_a);
  th_fx_end(&fx, 0);
  return 0;
}
