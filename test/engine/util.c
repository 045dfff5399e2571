/* util.c - helpers declared in cd_test.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <ctype.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cd_test.h"

void cd_test_fail(const char *file, int line, const char *fmt, ...) {
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fprintf(stderr, "FAIL %s:%d: %s\n", file, line, msg);
  fflush(stderr);
  fflush(stdout);
  /* Worker and server threads are still running: end the process now,
   * without atexit handlers and without the sanitizers' exit-time reports
   * (thread leaks, leaks) that would only repeat this failure. */
  syscall(SYS_exit_group, 1);
  _exit(1);
}

void cd_test_log(const char *fmt, ...) {
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fprintf(stderr, "  # %s\n", msg);
}

uint64_t tu_now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t tu_now_ms(void) { return tu_now_us() / 1000u; }

void tu_sleep_ms(unsigned ms) {
  struct timespec ts;
  ts.tv_sec = ms / 1000;
  ts.tv_nsec = (long)(ms % 1000) * 1000000L;
  while (nanosleep(&ts, &ts) != 0) {
  }
}

unsigned tu_slow(void) {
  static atomic_uint factor; /* 0 until first computed; any thread */
  unsigned f = atomic_load_explicit(&factor, memory_order_relaxed);
  if (f == 0) {
    const char *s = getenv("CD_TEST_SLOW");
    f = s ? (unsigned)strtoul(s, NULL, 10) : 1;
    if (f == 0) f = 1;
    atomic_store_explicit(&factor, f, memory_order_relaxed);
  }
  return f;
}

unsigned tu_slow_ms(unsigned ms) { return ms * tu_slow(); }

void tu_rng_seed(tu_rng *r, uint64_t seed) {
  r->s = seed ? seed * 0x9E3779B97F4A7C15ull : 0x1234567ull;
}

uint64_t tu_rng_next(tu_rng *r) {
  uint64_t x = r->s;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  r->s = x;
  return x * 0x2545F4914F6CDD1Dull;
}

uint64_t tu_rng_range(tu_rng *r, uint64_t lo, uint64_t hi) {
  if (hi <= lo) return lo;
  return lo + tu_rng_next(r) % (hi - lo + 1);
}

void tu_rng_fill(tu_rng *r, void *buf, size_t len) {
  uint8_t *p = buf;
  while (len >= 8) {
    uint64_t v = tu_rng_next(r);
    memcpy(p, &v, 8);
    p += 8;
    len -= 8;
  }
  if (len) {
    uint64_t v = tu_rng_next(r);
    memcpy(p, &v, len);
  }
}

const char *tu_memstr(const char *hay, size_t hay_len, const char *needle) {
  size_t nl = strlen(needle);
  if (nl == 0) return hay;
  return memmem(hay, hay_len, needle, nl);
}

const char *tu_memcasestr(const char *hay, size_t hay_len, const char *needle) {
  size_t nl = strlen(needle);
  if (nl == 0) return hay;
  for (size_t i = 0; i + nl <= hay_len; i++)
    if (strncasecmp(hay + i, needle, nl) == 0) return hay + i;
  return NULL;
}

/* Calls fn for every header line (after the first line) of a block. */
static const char *line_with_name(const char *block, size_t len,
                                  const char *name, const char *from) {
  size_t nl = strlen(name);
  const char *end = block + len;
  const char *p = from;
  while (p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    const char *le = eol ? eol : end;
    if (p != block && (size_t)(le - p) > nl && p[nl] == ':' &&
        strncasecmp(p, name, nl) == 0)
      return p;
    p = eol ? eol + 1 : end;
  }
  return NULL;
}

int tu_count_header(const char *block, size_t len, const char *name) {
  int n = 0;
  const char *p = block;
  while ((p = line_with_name(block, len, name, p)) != NULL) {
    n++;
    p++;
  }
  return n;
}

int tu_header_value(const char *block, size_t len, const char *name, char *out,
                    size_t out_size) {
  const char *p = line_with_name(block, len, name, block);
  if (p == NULL) return 0;
  const char *end = block + len;
  const char *v = p + strlen(name) + 1;
  const char *eol = memchr(v, '\n', (size_t)(end - v));
  const char *e = eol ? eol : end;
  while (v < e && (*v == ' ' || *v == '\t')) v++;
  while (e > v && isspace((unsigned char)e[-1])) e--;
  size_t n = (size_t)(e - v);
  if (n >= out_size) n = out_size - 1;
  memcpy(out, v, n);
  out[n] = '\0';
  return 1;
}
