/* cd_head.h - what the engine reads of a response head (a header block
 * as libcurl hands it over, status line first, CRLF lines): its HTTP
 * version, its framing and the server's keep-alive hint. The owner gets
 * the block itself in CD_EV_HEADERS, and with it the facts of
 * cd__head_facts, so that it reads the fields only to hand them over.
 *
 * A leaf: libc, and engine.h's CD_HEAD_* bits. Threading: any.
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

/* What a final response head says of its connection and framing: the
 * CD_HEAD_* bits (engine.h) of CD_EV_HEADERS. Stores its "Keep-Alive:
 * timeout=N" hint in *keepalive_hint_ms: N seconds in ms (0 for N = 0), or
 * -1 without one or beyond a day. The fields are found as lib/ found them
 * with regular expressions before (/^name:/im over the block's text, so
 * byte for byte the same answers): a field's line starts at the block's
 * start or after a CR or LF, and its text runs to the next LF; names and
 * the words looked for in values (close, keep-alive, chunked: whole words,
 * as \b...\b) match in any ASCII case; the hint is the first "timeout="
 * followed by digits in the first Keep-Alive line that has one (undici
 * too takes the first timeout= of all its Keep-Alive values). */
unsigned cd__head_facts(const char *block, size_t len, int64_t *keepalive_hint_ms);

/* The values of every `name:` field of a header block (name in lower case,
 * matched in any ASCII case), each trimmed of spaces and tabs, joined with
 * "," as undici joins a repeated field. Writes at most cap - 1 bytes and a
 * NUL into out; returns the length the whole join needs (as snprintf), or
 * -1 without such a field. */
long cd__head_field_join(const char *block, size_t len, const char *name, char *out, size_t cap);

#endif /* CD_HEAD_H */
