/* cd_landing_mem.h - the memory of landings (engine.h), kept for reuse.
 *
 * A landing becomes the chunk a handler receives, so it lives as long as
 * JS keeps that Buffer. Made with Buffer.allocUnsafeSlow, each landing was
 * a fresh 64 KiB from malloc, and glibc handed the freed ones back to the
 * kernel (its heap top is trimmed past 128 KiB): the worker then wrote
 * every landing through first-touch page faults, about 150 µs per MiB of
 * worker CPU on this machine (docs/architecture.md, "Measurements").
 * Landings made here are external Buffers over blocks that go back to a
 * free list when V8 collects them, so the same pages are written again.
 *
 * The free list is process-wide (a Buffer may be collected after the
 * environment that made it is gone, and worker_threads have their own
 * environments) and holds at most CD__LANDING_MEM_KEEP blocks; beyond that
 * a collected block is freed. Threading: any thread, one mutex.
 */
#ifndef CD_LANDING_MEM_H
#define CD_LANDING_MEM_H

#include <node_api.h>

/* At most this many free blocks are kept (64 MiB of 64 KiB landings: about what V8 lets pile up between two collections at a GB/s). */
#define CD__LANDING_MEM_KEEP 1024

/* newLanding(): a Buffer of CD_LANDING_CAP bytes over a reused block, or
 * undefined where Node allows no external Buffers (JS then allocates). */
napi_value cd__js_new_landing(napi_env env, napi_callback_info info);

/* Blocks on the free list, and blocks lent as Buffers V8 has not collected
 * yet (engineStats: landingsKept, landingsLent). */
void cd__landing_mem_counts(unsigned *kept, unsigned *lent);

#endif /* CD_LANDING_MEM_H */
