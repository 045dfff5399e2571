/* tsan-shim/urcu/system.h - ThreadSanitizer view of liburcu's shared
 * accesses. Used only by `make SANITIZE=thread` (see ck_pr.h next to this
 * file for the general idea).
 *
 * Why: liburcu publishes RCU-protected pointers with CMM_STORE_SHARED
 * (rcu_assign_pointer, cds_list_add_rcu, cds_list_del_rcu), i.e. a volatile
 * store after a compiler barrier/wmb. TSan treats volatile as plain, so the
 * store racing with readers walking the list (cds_list_for_each_entry_rcu)
 * is reported, as are the fields of a newly published node.
 *
 * What: CMM_STORE_SHARED becomes a C11 release store and CMM_LOAD_SHARED an
 * acquire load; the Makefile also defines URCU_INLINE_SMALL_FUNCTIONS so
 * that rcu_dereference is urcu's own inline C11 consume load rather than a
 * call into the (uninstrumented) library. That is the ordering RCU
 * publication guarantees; plain accesses in engine code stay plain and are
 * still checked. Grace periods are modelled separately (tsan_rcu.c).
 */
#include_next <urcu/system.h>

#ifndef CD_TSAN_URCU_SYSTEM_SHIM
#define CD_TSAN_URCU_SYSTEM_SHIM

#undef _CMM_LOAD_SHARED
#define _CMM_LOAD_SHARED(p) __atomic_load_n(&(p), __ATOMIC_ACQUIRE)

#undef _CMM_STORE_SHARED
#define _CMM_STORE_SHARED(x, v)                           \
  __extension__({                                         \
    __typeof__(x) cd_tsan_v_ = (v);                       \
    __atomic_store_n(&(x), cd_tsan_v_, __ATOMIC_RELEASE); \
    cd_tsan_v_;                                           \
  })

#endif /* CD_TSAN_URCU_SYSTEM_SHIM */
