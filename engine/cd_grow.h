/* cd_grow.h - the engine's one growable array.
 *
 * A leaf: libc only. Every table that grows (worker lists, the connection
 * table, the timer heap, the easy-handle pool) grows through cd__grow, so
 * the doubling and the overflow check live in one place.
 */
#ifndef CD_GROW_H
#define CD_GROW_H

#include <stddef.h>

/* Makes room for at least `need` elements of `size` bytes in *items, whose
 * capacity is *cap: doubles from `first`. New elements are zeroed.
 * Returns 0, or -1 (nothing changed) when out of memory. */
int cd__grow(void **items, size_t *cap, size_t need, size_t size, size_t first);

#endif /* CD_GROW_H */
