/* cd_test.h - tiny assertion and test-declaration helpers for the engine
 * tests (in the spirit of libuv's task.h).
 *
 * Every test runs in its own process (see runner.c), so a failed assertion
 * prints where and why, then ends the process at once with _exit(1): worker
 * threads may still be running and must not run atexit handlers under us.
 */
#ifndef CD_TEST_H
#define CD_TEST_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define TEST_IMPL(name) int cd_test_##name(void)
#define TEST_DECLARE(name) int cd_test_##name(void);

#if defined(__GNUC__)
#define CD_TEST_NORETURN __attribute__((noreturn))
#define CD_TEST_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define CD_TEST_NORETURN
#define CD_TEST_PRINTF(a, b)
#endif

void cd_test_fail(const char *file, int line, const char *fmt, ...)
    CD_TEST_NORETURN CD_TEST_PRINTF(3, 4);
void cd_test_log(const char *fmt, ...) CD_TEST_PRINTF(1, 2);

/* Monotonic clock and sleeping. */
uint64_t tu_now_ms(void);
uint64_t tu_now_us(void);
void tu_sleep_ms(unsigned ms);

/* Slowness factor for wall-clock bounds: CD_TEST_SLOW (default 1) is set by
 * the sanitizer and valgrind scripts. tu_slow_ms(x) = x * factor. */
unsigned tu_slow(void);
unsigned tu_slow_ms(unsigned ms);

/* Small deterministic PRNG (xorshift64*). */
typedef struct tu_rng { uint64_t s; } tu_rng;
void tu_rng_seed(tu_rng *r, uint64_t seed);
uint64_t tu_rng_next(tu_rng *r);
/* Uniform-ish in [lo, hi]. */
uint64_t tu_rng_range(tu_rng *r, uint64_t lo, uint64_t hi);
void tu_rng_fill(tu_rng *r, void *buf, size_t len);

/* Finds needle in a buffer that is not NUL-terminated. */
const char *tu_memstr(const char *hay, size_t hay_len, const char *needle);
/* Case-insensitive variant: "has a line starting with this header name"
 * style checks use it. */
const char *tu_memcasestr(const char *hay, size_t hay_len, const char *needle);
/* Counts header lines "Name:" (case-insensitive, at line starts). */
int tu_count_header(const char *block, size_t len, const char *name);
/* Copies the value of the first "Name:" line into out (trimmed); returns
 * 1 if found. */
int tu_header_value(const char *block, size_t len, const char *name,
                    char *out, size_t out_size);

#define CD_FAIL(...) cd_test_fail(__FILE__, __LINE__, __VA_ARGS__)

#define ASSERT(expr)                                                        \
  do {                                                                      \
    if (!(expr)) CD_FAIL("assertion failed: %s", #expr);                    \
  } while (0)

#define ASSERT_MSG(expr, ...)                                               \
  do {                                                                      \
    if (!(expr)) CD_FAIL(__VA_ARGS__);                                      \
  } while (0)

#define ASSERT_CMP_(a, op, b)                                               \
  do {                                                                      \
    long long a_ = (long long)(a);                                          \
    long long b_ = (long long)(b);                                          \
    if (!(a_ op b_))                                                        \
      CD_FAIL("assertion failed: %s %s %s (%lld vs %lld)", #a, #op, #b,     \
              a_, b_);                                                      \
  } while (0)

#define ASSERT_EQ(a, b) ASSERT_CMP_(a, ==, b)
#define ASSERT_NE(a, b) ASSERT_CMP_(a, !=, b)
#define ASSERT_LT(a, b) ASSERT_CMP_(a, <, b)
#define ASSERT_LE(a, b) ASSERT_CMP_(a, <=, b)
#define ASSERT_GT(a, b) ASSERT_CMP_(a, >, b)
#define ASSERT_GE(a, b) ASSERT_CMP_(a, >=, b)

#define ASSERT_NULL(p) ASSERT((p) == NULL)
#define ASSERT_NOT_NULL(p) ASSERT((p) != NULL)

#define ASSERT_STR_EQ(a, b)                                                 \
  do {                                                                      \
    const char *a_ = (a);                                                   \
    const char *b_ = (b);                                                   \
    if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0)                    \
      CD_FAIL("assertion failed: %s == %s (\"%s\" vs \"%s\")", #a, #b,      \
              a_ ? a_ : "(null)", b_ ? b_ : "(null)");                      \
  } while (0)

/* Buffer (ptr, len) equals a C string exactly. */
#define ASSERT_BUF_EQ(ptr, len, str)                                        \
  do {                                                                      \
    const char *s_ = (str);                                                 \
    size_t l_ = (size_t)(len);                                              \
    if (l_ != strlen(s_) || memcmp((ptr), s_, l_) != 0)                     \
      CD_FAIL("assertion failed: %s == \"%s\" (got %zu bytes \"%.*s\")",    \
              #ptr, s_, l_, (int)(l_ > 200 ? 200 : l_),                     \
              (const char *)(ptr));                                         \
  } while (0)

#define ASSERT_CONTAINS(ptr, len, needle)                                   \
  do {                                                                      \
    size_t l_ = (size_t)(len);                                              \
    if (tu_memstr((const char *)(ptr), l_, (needle)) == NULL)               \
      CD_FAIL("assertion failed: %s contains \"%s\" (got \"%.*s\")", #ptr,  \
              (needle), (int)(l_ > 600 ? 600 : l_), (const char *)(ptr));   \
  } while (0)

#define ASSERT_NOT_CONTAINS_CI(ptr, len, needle)                            \
  do {                                                                      \
    size_t l_ = (size_t)(len);                                              \
    if (tu_memcasestr((const char *)(ptr), l_, (needle)) != NULL)           \
      CD_FAIL("assertion failed: %s lacks \"%s\" (got \"%.*s\")", #ptr,     \
              (needle), (int)(l_ > 600 ? 600 : l_), (const char *)(ptr));   \
  } while (0)

#endif /* CD_TEST_H */
