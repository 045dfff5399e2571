/* cd_timer.c - binary min-heap of deadlines (see cd_timer.h). */
#include "cd_timer.h"

#include "cd_grow.h"

#include <stdlib.h>
#include <time.h>

void cd__timer_init(cd__timer *t) {
  t->deadline_ms = 0;
  t->index = CD__TIMER_INACTIVE;
}

void cd__timer_heap_init(cd__timer_heap *h) {
  h->nodes = NULL;
  h->count = 0;
  h->capacity = 0;
}

void cd__timer_heap_free(cd__timer_heap *h) {
  free(h->nodes);
  cd__timer_heap_init(h);
}

static void heap_place(cd__timer_heap *h, size_t i, cd__timer *t) {
  h->nodes[i] = t;
  t->index = i;
}

static void sift_up(cd__timer_heap *h, size_t i) {
  cd__timer *t = h->nodes[i];
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (h->nodes[parent]->deadline_ms <= t->deadline_ms) break;
    heap_place(h, i, h->nodes[parent]);
    i = parent;
  }
  heap_place(h, i, t);
}

static void sift_down(cd__timer_heap *h, size_t i) {
  cd__timer *t = h->nodes[i];
  for (;;) {
    size_t child = 2 * i + 1;
    if (child >= h->count) break;
    if (child + 1 < h->count &&
        h->nodes[child + 1]->deadline_ms < h->nodes[child]->deadline_ms)
      child++;
    if (t->deadline_ms <= h->nodes[child]->deadline_ms) break;
    heap_place(h, i, h->nodes[child]);
    i = child;
  }
  heap_place(h, i, t);
}

int cd__timer_heap_set(cd__timer_heap *h, cd__timer *t, uint64_t deadline_ms) {
  if (t->index != CD__TIMER_INACTIVE) {
    uint64_t old = t->deadline_ms;
    t->deadline_ms = deadline_ms;
    if (deadline_ms < old)
      sift_up(h, t->index);
    else
      sift_down(h, t->index);
    return 0;
  }
  if (cd__grow((void **)&h->nodes, &h->capacity, h->count + 1, sizeof(*h->nodes), 64) != 0) return -1;
  t->deadline_ms = deadline_ms;
  heap_place(h, h->count++, t);
  sift_up(h, t->index);
  return 0;
}

void cd__timer_heap_remove(cd__timer_heap *h, cd__timer *t) {
  size_t i = t->index;
  if (i == CD__TIMER_INACTIVE) return;
  t->index = CD__TIMER_INACTIVE;
  h->count--;
  if (i == h->count) return;
  cd__timer *last = h->nodes[h->count];
  heap_place(h, i, last);
  if (i > 0 && h->nodes[(i - 1) / 2]->deadline_ms > last->deadline_ms)
    sift_up(h, i);
  else
    sift_down(h, i);
}

cd__timer *cd__timer_heap_peek(const cd__timer_heap *h) {
  return h->count ? h->nodes[0] : NULL;
}
