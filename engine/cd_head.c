/* cd_head.c - what the engine reads of a response head (see cd_head.h). */
#include "cd_head.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

int64_t cd__head_keepalive_hint(const char *block, size_t len) {
  const char *p = block, *end = block + len;
  while (p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    const char *line_end = eol ? eol : end;
    if ((size_t)(line_end - p) > 11 && strncasecmp(p, "keep-alive:", 11) == 0) {
      for (const char *v = p + 11; v + 8 <= line_end; v++) {
        if (strncasecmp(v, "timeout=", 8) != 0) continue;
        if (v[8] < '0' || v[8] > '9') return -1;
        long long s = strtoll(v + 8, NULL, 10);
        return s > 0 && s < 86400 ? s * 1000 : s <= 0 ? 0 : -1;
      }
      return -1;
    }
    p = eol ? eol + 1 : end;
  }
  return -1;
}
