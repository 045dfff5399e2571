/* cd_head.c - what the engine reads of a response head (see cd_head.h). */
#include "cd_head.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine.h"

int cd__head_version(const char *line) {
  if (strncmp(line, "HTTP/1.0", 8) == 0) return 10;
  if (strncmp(line, "HTTP/1.1", 8) == 0) return 11;
  if (strncmp(line, "HTTP/2", 6) == 0) return 20;
  if (strncmp(line, "HTTP/3", 6) == 0) return 30;
  return 0;
}

int cd__head_ambiguous_length(const char *block, size_t len, int64_t *length_out, bool *coded_out) {
  const char *p = block, *end = block + len;
  const char *length = NULL;
  size_t length_len = 0;
  int chunked = 0;
  while (p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    const char *line_end = eol ? eol : end;
    size_t n = (size_t)(line_end - p);
    if (n > 15 && strncasecmp(p, "content-length:", 15) == 0) {
      const char *v = p + 15, *ve = line_end;
      while (v < ve && (*v == ' ' || *v == '\t')) v++;
      while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t')) ve--;
      if (memchr(v, ',', (size_t)(ve - v)) != NULL) return 1;  /* "5, 10" */
      if (length != NULL && (length_len != (size_t)(ve - v) || memcmp(length, v, length_len) != 0)) return 1;
      length = v;
      length_len = (size_t)(ve - v);
    } else if (n > 18 && strncasecmp(p, "transfer-encoding:", 18) == 0) {
      chunked = 1;
    }
    p = eol ? eol + 1 : end;
  }
  if (length != NULL && !chunked) *length_out = strtoll(length, NULL, 10);
  *coded_out = chunked != 0;
  return length != NULL && chunked;
}

/* ---- fields as lib/'s regular expressions found them ------------------------ */

static int ascii_lower(unsigned char c) {
  return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* Whether [p, end) starts with `lower` (n bytes, lower case), in any ASCII
 * case: a JS regular expression's /i without /u folds no other byte of a
 * latin1 string to an ASCII letter. */
static bool has_prefix(const char *p, const char *end, const char *lower, size_t n) {
  if ((size_t)(end - p) < n) return false;
  for (size_t i = 0; i < n; i++)
    if (ascii_lower((unsigned char)p[i]) != (unsigned char)lower[i]) return false;
  return true;
}

/* \w of a regular expression without /u. */
static bool is_word(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* `lower` as a whole word (/\bword\b/i) in [from, to): the bytes around it
 * are not word characters. from[-1] is the field name's colon; the byte at
 * `to` is an LF or the block's end, neither a word character. */
static bool has_word(const char *from, const char *to, const char *lower, size_t n) {
  for (const char *p = from; p + n <= to; p++) {
    if (!has_prefix(p, to, lower, n) || is_word((unsigned char)p[-1])) continue;
    if (p + n < to && is_word((unsigned char)p[n])) continue;
    return true;
  }
  return false;
}

/* The first "timeout=" followed by digits in [from, to): its seconds in ms,
 * -1 beyond a day (the connection table keeps milliseconds in 32 bits, and
 * no server means it); -2 when there is none. */
static int64_t timeout_in(const char *from, const char *to) {
  for (const char *p = from; p + 9 <= to; p++) {
    if (!has_prefix(p, to, "timeout=", 8) || p[8] < '0' || p[8] > '9') continue;
    int64_t s = 0;
    for (p += 8; p < to && *p >= '0' && *p <= '9'; p++)
      if ((s = s * 10 + (*p - '0')) >= 86400) return -1;
    return s * 1000;
  }
  return -2;
}

unsigned cd__head_facts(const char *block, size_t len, int64_t *keepalive_hint_ms) {
  const char *end = block + len;
  bool close = false, keep_alive = false, chunked = false, length = false;
  int64_t hint = -2;
  for (const char *line = block; line < end;) {
    const char *lf = memchr(line, '\n', (size_t)(end - line));
    const char *to = lf ? lf : end;
    /* A field line starts here or after a CR before `to`, and every one of
     * them reads up to `to`: the first that has a name has seen all the
     * text a later one would, so each name is looked into once a line. */
    bool conn = false, coding = false, alive = false;
    for (const char *s = line;;) {
      if (!conn && has_prefix(s, to, "connection:", 11)) {
        conn = true;
        close = close || has_word(s + 11, to, "close", 5);
        keep_alive = keep_alive || has_word(s + 11, to, "keep-alive", 10);
      } else if (!coding && has_prefix(s, to, "transfer-encoding:", 18)) {
        coding = true;
        chunked = chunked || has_word(s + 18, to, "chunked", 7);
      } else if (has_prefix(s, to, "content-length:", 15)) {
        length = true;
      } else if (!alive && has_prefix(s, to, "keep-alive:", 11)) {
        alive = true;
        if (hint == -2) hint = timeout_in(s + 11, to);
      }
      const char *cr = memchr(s, '\r', (size_t)(to - s));
      if (cr == NULL) break;
      s = cr + 1;
    }
    line = lf ? lf + 1 : end;
  }
  *keepalive_hint_ms = hint == -2 ? -1 : hint;
  /* llhttp's test: HTTP/1.0 closes unless it says keep-alive, later
   * versions stay open unless they say close */
  bool http10 = len >= 8 && memcmp(block, "HTTP/1.0", 8) == 0;
  unsigned facts = 0;
  if (!close && (!http10 || keep_alive)) facts |= CD_HEAD_KEEPS_ALIVE;
  if (chunked) facts |= CD_HEAD_CHUNKED;
  if (length) facts |= CD_HEAD_HAS_LENGTH;
  return facts;
}

long cd__head_field_join(const char *block, size_t len, const char *name, char *out, size_t cap) {
  size_t name_len = strlen(name), used = 0;
  long need = -1;
  const char *p = block, *end = block + len;
  if (cap > 0) out[0] = '\0';
  while (p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    const char *line_end = eol ? eol : end;
    if (has_prefix(p, line_end, name, name_len) && p + name_len < line_end && p[name_len] == ':') {
      const char *v = p + name_len + 1, *ve = line_end;
      while (v < ve && (*v == ' ' || *v == '\t')) v++;
      while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t')) ve--;
      size_t n = (size_t)(ve - v);
      need = need < 0 ? (long)n : need + 1 + (long)n;
      if (used > 0 || need > (long)n) {
        if (used + 1 < cap) out[used++] = ',';
      }
      size_t room = cap > used + 1 ? cap - used - 1 : 0;
      size_t take = n < room ? n : room;
      memcpy(out + used, v, take);
      used += take;
      if (cap > 0) out[used] = '\0';
    }
    p = eol ? eol + 1 : end;
  }
  return need;
}
