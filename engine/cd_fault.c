/* cd_fault.c - see cd_fault.h. */
#include "cd_fault.h"

#ifdef CD_FAULT_INJECTION
#include <stdatomic.h>

static atomic_int skip_left, fail_left;

void cd_fault_events(int skip, int fail) {
  atomic_store(&fail_left, 0);
  atomic_store(&skip_left, skip);
  atomic_store(&fail_left, fail);
}

int cd__fault_hit(void) {
  if (atomic_load_explicit(&fail_left, memory_order_relaxed) <= 0) return 0;
  if (atomic_fetch_sub(&skip_left, 1) > 0) return 0;
  return atomic_fetch_sub(&fail_left, 1) > 0;
}
#else
typedef int cd__fault_unused; /* ISO C wants a declaration in every file */
#endif
