/* cd_timer.h - a binary min-heap of deadlines, one per worker.
 *
 * Threading: owned by one worker thread; never touched by another.
 * Ownership: nodes are embedded in the objects they time (transfers); the
 * heap only stores pointers and each node's index.
 */
#ifndef CD_TIMER_H
#define CD_TIMER_H

#include <stddef.h>
#include <stdint.h>

typedef struct cd_timer {
  uint64_t deadline_ms;  /* absolute, cd_now_ms() clock */
  size_t index;          /* position in the heap, or CD_TIMER_INACTIVE */
} cd_timer;

#define CD_TIMER_INACTIVE ((size_t)-1)

typedef struct cd_timer_heap {
  cd_timer **nodes;
  size_t count;
  size_t capacity;
} cd_timer_heap;

void cd_timer_init(cd_timer *t);
void cd_timer_heap_init(cd_timer_heap *h);
void cd_timer_heap_free(cd_timer_heap *h);

/* Inserts or moves `t` to `deadline_ms`. Returns 0, or -1 out of memory. */
int cd_timer_heap_set(cd_timer_heap *h, cd_timer *t, uint64_t deadline_ms);
void cd_timer_heap_remove(cd_timer_heap *h, cd_timer *t);
/* The earliest node, or NULL. */
cd_timer *cd_timer_heap_peek(const cd_timer_heap *h);

/* Monotonic milliseconds. */
uint64_t cd_now_ms(void);

#endif
