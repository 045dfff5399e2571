/* tsan-shim/ck_pr.h - ThreadSanitizer view of concurrencykit's ck_pr.
 *
 * Used only by `make SANITIZE=thread` (the Makefile puts this directory
 * first on the include path and defines CK_USE_CC_BUILTINS=1).
 *
 * Why: ck's GCC port implements ck_pr_load_* / ck_pr_store_* as volatile
 * accesses between compiler barriers and orders them with ck_pr_fence_*
 * (full fences). TSan does not model fences and sees volatile accesses as
 * plain ones, so every hand-off through a ck_ring (the producer fills a slot
 * and bumps p_tail, the consumer reads p_tail and then the slot) would be
 * reported as a data race on the slot, on the ring indices, and on whatever
 * the slot points to (events, commands), drowning any real report.
 *
 * What: after the real header, the load and store macros become C11
 * acquire loads and release stores. On x86-64 (TSO) that is exactly the
 * ordering the volatile access + fence pairs give, so TSan now sees the
 * happens-before edges the ring really provides, and nothing more: an
 * engine access that bypasses ck_pr (a plain read of shared data) is still
 * reported. With CK_USE_CC_BUILTINS=1 the read-modify-write operations
 * (cas, faa, ...) use __sync builtins, which TSan understands, instead of
 * inline assembly, which it cannot see.
 */
#include_next <ck_pr.h>

#ifndef CD_TSAN_CK_PR_SHIM
#define CD_TSAN_CK_PR_SHIM

#define CD_TSAN_LOAD_(SRC) __atomic_load_n((SRC), __ATOMIC_ACQUIRE)
#define CD_TSAN_STORE_(DST, VAL) __atomic_store_n((DST), (VAL), __ATOMIC_RELEASE)

#undef ck_pr_load_ptr
#undef ck_pr_load_char
#undef ck_pr_load_uint
#undef ck_pr_load_int
#undef ck_pr_load_64
#undef ck_pr_load_32
#undef ck_pr_load_16
#undef ck_pr_load_8
#define ck_pr_load_ptr(SRC) CD_TSAN_LOAD_(SRC)
#define ck_pr_load_char(SRC) CD_TSAN_LOAD_(SRC)
#define ck_pr_load_uint(SRC) CD_TSAN_LOAD_(SRC)
#define ck_pr_load_int(SRC) CD_TSAN_LOAD_(SRC)
#define ck_pr_load_64(SRC) CD_TSAN_LOAD_(SRC)
#define ck_pr_load_32(SRC) CD_TSAN_LOAD_(SRC)
#define ck_pr_load_16(SRC) CD_TSAN_LOAD_(SRC)
#define ck_pr_load_8(SRC) CD_TSAN_LOAD_(SRC)

#undef ck_pr_store_ptr
#undef ck_pr_store_char
#undef ck_pr_store_uint
#undef ck_pr_store_int
#undef ck_pr_store_64
#undef ck_pr_store_32
#undef ck_pr_store_16
#undef ck_pr_store_8
#define ck_pr_store_ptr(DST, VAL) CD_TSAN_STORE_(DST, VAL)
#define ck_pr_store_char(DST, VAL) CD_TSAN_STORE_(DST, VAL)
#define ck_pr_store_uint(DST, VAL) CD_TSAN_STORE_(DST, VAL)
#define ck_pr_store_int(DST, VAL) CD_TSAN_STORE_(DST, VAL)
#define ck_pr_store_64(DST, VAL) CD_TSAN_STORE_(DST, VAL)
#define ck_pr_store_32(DST, VAL) CD_TSAN_STORE_(DST, VAL)
#define ck_pr_store_16(DST, VAL) CD_TSAN_STORE_(DST, VAL)
#define ck_pr_store_8(DST, VAL) CD_TSAN_STORE_(DST, VAL)

#endif /* CD_TSAN_CK_PR_SHIM */
