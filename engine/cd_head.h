/* cd_head.h - what the engine reads of a response head (a header block
 * as libcurl hands it over, status line first, CRLF lines): its HTTP
 * version, its framing and the server's keep-alive hint. The owner gets
 * the block itself in CD_EV_HEADERS.
 *
 * A leaf: libc only. Threading: any.
 */
#ifndef CD_HEAD_H
#define CD_HEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The status line's HTTP version times ten (10, 11, 20, 30), or 0. */
int cd__head_version(const char *status_line);

/* A response whose framing two parsers could read differently (request
 * smuggling): Content-Length values that disagree, or Content-Length with
 * Transfer-Encoding. libcurl 7.88 takes the last length, or chunked, and
 * goes on; undici refuses both, and so do we. Returns 1 for such a block.
 * Also stores an unambiguous Content-Length in *length_out (left as it is
 * without one), and whether a Transfer-Encoding frames the body in
 * *coded_out. */
int cd__head_ambiguous_length(const char *block, size_t len, int64_t *length_out, bool *coded_out);

/* "Keep-Alive: timeout=N" in a header block: N seconds in ms (0 for N <= 0),
 * or -1 without one or beyond a day. */
int64_t cd__head_keepalive_hint(const char *block, size_t len);

#endif /* CD_HEAD_H */
