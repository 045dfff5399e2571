/* cd_heap.c - the process's malloc, adapted once for response bodies that
 * land in memory the owner gives (cd_env_give_landing): engine.h's
 * cd_heap_adapt.
 *
 * Why: Node allocates the landings with malloc, and V8 frees them in bulk
 * when it collects. glibc's malloc gives the free memory at the top of its
 * heap back to the system as soon as more than its trim threshold is free
 * there: 128 KiB in a fresh process, the size of two landings. So most
 * landings came back as fresh pages, and the worker took the page faults
 * as it wrote the bodies into them: up to a third of its CPU per 64 KiB
 * response (docs/architecture.md, "Decisions measured").
 *
 * glibc adapts by itself: when a block it had to map on its own is freed,
 * its mmap threshold rises to that block's size and its trim threshold to
 * twice that (mallopt(3), M_MMAP_THRESHOLD). cd_heap_adapt takes that path
 * once, with an 8 MiB block: the state any process is in once it has freed
 * an 8 MiB Buffer. glibc then gives the top of a heap back when more than
 * 16 MiB is free there, which bounds what this keeps resident (blocks of
 * 4, 8 and 16 MiB measured alike).
 *
 * It never calls mallopt(), which would switch glibc's adaptation off for
 * the whole process; a malloc whose thresholds were set by hand
 * (MALLOC_TRIM_THRESHOLD_ and its kin, GLIBC_TUNABLES, mallopt) keeps its
 * settings, since glibc then does not adapt; CURL_DISPATCHER_MALLOC_ADAPT=0
 * leaves the process's malloc alone.
 *
 * A leaf: libc only. Threading: any thread; the first call does the work,
 * every call returns its outcome.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

/* The block whose free raises glibc's thresholds; the probe, a block the
 * default threshold maps and the raised one keeps in the heap. */
#define ADAPT_BLOCK ((size_t)8 << 20)
#define PROBE_BLOCK ((size_t)1 << 20)

static pthread_once_t adapt_once = PTHREAD_ONCE_INIT;
static cd_heap_state outcome = CD_HEAP_UNSUPPORTED;

#if defined(__GLIBC__)
/* Blocks glibc holds in mappings of their own. A malloc that is not
 * glibc's (a sanitizer's, valgrind's) leaves it unchanged. */
static size_t mapped_blocks(void) {
#if __GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33)
  return mallinfo2().hblks;
#else
  return (size_t)mallinfo().hblks;
#endif
}

/* Whether glibc gives a block of `size` a mapping of its own. Freeing it
 * is what adapts glibc's thresholds. The volatile keeps the compiler from
 * eliding the pair. */
static int maps_block(size_t size) {
  size_t before = mapped_blocks();
  void *volatile block = malloc(size);
  if (block == NULL) return -1;
  int mapped = mapped_blocks() > before;
  free(block);
  return mapped;
}
#endif

static void adapt(void) {
  const char *off = getenv("CURL_DISPATCHER_MALLOC_ADAPT");
  if (off != NULL && strcmp(off, "0") == 0) {
    outcome = CD_HEAP_DISABLED;
    return;
  }
#if defined(__GLIBC__)
  int mapped = maps_block(ADAPT_BLOCK);
  if (mapped < 0) {
    outcome = CD_HEAP_UNCHANGED; /* out of memory: nothing changed */
  } else if (!mapped) {
    outcome = CD_HEAP_ALREADY; /* raised before us, or not glibc's malloc */
  } else {
    outcome = maps_block(PROBE_BLOCK) == 0 ? CD_HEAP_ADAPTED : CD_HEAP_UNCHANGED;
  }
#endif
}

cd_heap_state cd_heap_adapt(void) {
  pthread_once(&adapt_once, adapt);
  return outcome;
}

const char *cd_heap_state_name(cd_heap_state state) {
  switch (state) {
    case CD_HEAP_ADAPTED: return "adapted";
    case CD_HEAP_ALREADY: return "already";
    case CD_HEAP_UNCHANGED: return "unchanged";
    case CD_HEAP_DISABLED: return "disabled";
    case CD_HEAP_UNSUPPORTED: return "unsupported";
  }
  return "unknown";
}
