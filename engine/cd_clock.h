/* cd_clock.h - the engine's one clock: CLOCK_MONOTONIC, the clock of
 * libuv's uv_hrtime (so of Node's process.hrtime and performance.now), in
 * microseconds or milliseconds. Timers, timings and the load generator all
 * read it here.
 *
 * A leaf: libc only. Threading: any thread.
 */
#ifndef CD_CLOCK_H
#define CD_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t cd__clock_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static inline uint64_t cd__clock_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

#endif /* CD_CLOCK_H */
