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

typedef struct cd__timer {
  uint64_t deadline_ms;  /* absolute, cd__clock_ms() (cd_clock.h) */
  size_t index;          /* position in the heap, or CD__TIMER_INACTIVE */
} cd__timer;

#define CD__TIMER_INACTIVE ((size_t)-1)

typedef struct cd__timer_heap {
  cd__timer **nodes;
  size_t count;
  size_t capacity;
} cd__timer_heap;

void cd__timer_init(cd__timer *t);
void cd__timer_heap_init(cd__timer_heap *h);
void cd__timer_heap_free(cd__timer_heap *h);

/* Inserts or moves `t` to `deadline_ms`. Returns 0, or -1 out of memory. */
int cd__timer_heap_set(cd__timer_heap *h, cd__timer *t, uint64_t deadline_ms);
void cd__timer_heap_remove(cd__timer_heap *h, cd__timer *t);
/* The earliest node, or NULL. */
cd__timer *cd__timer_heap_peek(const cd__timer_heap *h);

#endif
