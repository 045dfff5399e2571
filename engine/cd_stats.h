/* cd_stats.h - live object counters, for leak checks (cd_engine_get_stats).
 *
 * The bottom of the engine: every layer counts what it allocates here, and
 * this file calls nothing of the engine. Process-wide, like the engine.
 * Threading: any thread; relaxed atomics (the counts are read only for
 * tests and diagnostics, never to synchronise).
 */
#ifndef CD_STATS_H
#define CD_STATS_H

#include <stdatomic.h>

typedef struct cd__counters {
  atomic_long requests, transfers, events, commands, handles, envs, configs;
} cd__counters;

extern cd__counters cd__live;

static inline void cd__stat_add(atomic_long *counter, long delta) {
  atomic_fetch_add_explicit(counter, delta, memory_order_relaxed);
}

#endif /* CD_STATS_H */
