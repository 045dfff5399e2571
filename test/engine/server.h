/* server.h - a small HTTP/1.1 server for the engine tests.
 *
 * Listens on 127.0.0.1 (ephemeral port), one thread accepting and one
 * thread per connection, blocking I/O on raw sockets, keep-alive. Every
 * blocking call also watches a stop pipe, so ts_stop() ends and joins every
 * thread whatever the clients do.
 *
 * Canned behaviours, selected by path (query parameters in brackets):
 *   /hello                    200, "hello" with Content-Length
 *   /big?n=BYTES              200, n bytes of ts_pattern() with Content-Length
 *   /chunked[?n=BYTES]        200 chunked; "hello world" (or n pattern bytes)
 *                             then trailers "X-Trailer: yes", "X-Count: 3"
 *   /echo                     200, the request body back (Content-Length);
 *                             X-Req-Framing: length|chunked|none
 *   /head-echo                200, the raw request head as the body
 *   /stall[?partial=BYTES]    200 with Content-Length 1000000, sends `partial`
 *                             bytes of the pattern, then nothing until closed
 *   /nothing                  reads the request and never answers
 *   /reset                    reads the request and closes with RST
 *   /early-hints              103 (twice, different Link) then 200 "ok"
 *   /http10                   "HTTP/1.0 200 OK", body "v1.0", then closes
 *   /eof[?n=BYTES]            200 without length, body until close
 *   /answer-close[?eof=1]     on the head alone, without reading the body:
 *                             200 chunked "partial" cut short by a close (or,
 *                             eof=1, "until-eof" ended by it)
 *   /bigheader?n=BYTES        200 with a header "X-Big: aaaa..." of n bytes
 *   /slow?ms=MS               waits ms, then like /hello
 *   /close-after?ms=MS        like /hello (keep-alive), then closes the
 *                             connection ms later
 *   /drip?n=BYTES&ms=MS       Content-Length n, one byte every ms
 *   /status?code=CODE         that status; no body for 1xx/204/304
 *   /redirect                 302 Location: /hello, body "moved"
 *   /gzip                     200 Content-Encoding: gzip, raw body "notgzip"
 *   /keepalive-hint?s=SECONDS 200 "hello" with "Keep-Alive: timeout=SECONDS, max=5"
 *   /bad-chunk                200 chunked whose first chunk size is "zz"
 *   anything else             404
 * HEAD gets the same headers and no body.
 */
#ifndef CD_TEST_SERVER_H
#define CD_TEST_SERVER_H

#include <stddef.h>
#include <stdint.h>

typedef struct ts_server ts_server;

ts_server *ts_start(void);
void ts_stop(ts_server *srv);
unsigned ts_port(const ts_server *srv);

/* "http://127.0.0.1:PORT" */
const char *ts_origin(const ts_server *srv);

/* Counters (atomics, readable from any thread). */
long ts_accepted(ts_server *srv);      /* connections accepted */
long ts_requests(ts_server *srv);      /* request heads parsed */
long ts_max_busy(ts_server *srv);      /* max requests handled at once */
long ts_saw_expect(ts_server *srv);    /* requests carrying Expect: */
long ts_saw_accept(ts_server *srv);    /* requests carrying Accept: */
long ts_open_conns(ts_server *srv);    /* connections currently open */
void ts_reset_max_busy(ts_server *srv);

/* The deterministic body pattern of /big, /chunked?n= and /stall. */
static inline uint8_t ts_pattern(uint64_t i) {
  uint64_t x = i * 0x9E3779B97F4A7C15ull;
  return (uint8_t)((x >> 56) ^ (i >> 8) ^ (i >> 20));
}
void ts_fill_pattern(uint8_t *buf, uint64_t offset, size_t len);
/* Returns the index of the first mismatch, or (size_t)-1. */
size_t ts_check_pattern(const uint8_t *buf, uint64_t offset, size_t len);

/* A TCP port on 127.0.0.1 on which nothing listens (bound, then closed). */
unsigned ts_unused_port(void);

#endif /* CD_TEST_SERVER_H */
