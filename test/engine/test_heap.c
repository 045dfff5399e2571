/* test_heap.c - cd_heap_adapt (engine.h): glibc keeps freed blocks of a
 * landing's size in its heap afterwards, once per process, and leaves a
 * malloc alone that was tuned by hand or turned off by the environment.
 * Every test runs in a fresh process, so glibc starts from its defaults.
 * Under a sanitizer or valgrind, malloc is not glibc's: cd_heap_adapt then
 * finds nothing to do, and the tests check that it says so. */
#include <malloc.h>
#include <stdlib.h>

#include "cd_test.h"
#include "engine.h"

/* Blocks glibc holds in mappings of their own (mallinfo2 from glibc 2.33). */
static size_t mapped_blocks(void) {
#if __GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33)
  return mallinfo2().hblks;
#else
  return (size_t)mallinfo().hblks;
#endif
}

/* Whether glibc gives a block of `size` a mapping of its own (then it
 * goes back to the system as soon as it is freed). */
static int maps_block(size_t size) {
  size_t before = mapped_blocks();
  void *volatile block = malloc(size);
  ASSERT(block != NULL);
  int mapped = mapped_blocks() > before;
  free(block);
  return mapped;
}

/* A 1 MiB block is mapped at glibc's start (its threshold is 128 KiB).
 * Freeing that first probe raises the threshold to 1 MiB by itself, so the
 * checks after adapting use larger blocks: 2 and 4 MiB stay in the heap,
 * 64 MiB is still mapped. */
TEST_IMPL(heap_adapt) {
  int glibc = maps_block((size_t)1 << 20);
  cd_heap_state state = cd_heap_adapt();
  if (!glibc) {
    ASSERT_EQ(state, CD_HEAP_ALREADY);
    return 0;
  }
  ASSERT_EQ(state, CD_HEAP_ADAPTED);
  ASSERT(!maps_block((size_t)2 << 20));
  ASSERT(!maps_block((size_t)4 << 20));
  ASSERT(maps_block((size_t)64 << 20)); /* past the raised threshold */
  ASSERT_EQ(cd_heap_adapt(), CD_HEAP_ADAPTED); /* once; then its outcome */
  ASSERT(strcmp(cd_heap_state_name(CD_HEAP_ADAPTED), "adapted") == 0);
  return 0;
}

/* CURL_DISPATCHER_MALLOC_ADAPT=0: glibc's thresholds stay where they are. */
TEST_IMPL(heap_adapt_disabled) {
  ASSERT_EQ(setenv("CURL_DISPATCHER_MALLOC_ADAPT", "0", 1), 0);
  int glibc = maps_block((size_t)1 << 20);
  ASSERT_EQ(cd_heap_adapt(), CD_HEAP_DISABLED);
  if (glibc) ASSERT(maps_block((size_t)2 << 20));
  ASSERT(strcmp(cd_heap_state_name(CD_HEAP_DISABLED), "disabled") == 0);
  return 0;
}

/* A malloc tuned by hand (mallopt, as MALLOC_*_ variables do) no longer
 * adapts: cd_heap_adapt reports that nothing changed. */
TEST_IMPL(heap_adapt_tuned) {
  int glibc = maps_block((size_t)1 << 20);
  int tuned = mallopt(M_MMAP_THRESHOLD, 256 * 1024); /* a sanitizer's ignores it */
  cd_heap_state state = cd_heap_adapt();
  if (!glibc) {
    ASSERT_EQ(state, CD_HEAP_ALREADY);
    return 0;
  }
  ASSERT_EQ(tuned, 1);
  ASSERT_EQ(state, CD_HEAP_UNCHANGED);
  ASSERT(maps_block((size_t)1 << 20));
  return 0;
}
