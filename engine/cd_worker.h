/* cd_worker.h - one worker thread's state, as data.
 *
 * Each part is owned by the module that names it (the pool by cd_pool, the
 * limiters by cd_limit, ...); the thread and its loop are cd_loop.c, at the
 * top. cd_transfer and cd_raw read and change the fields they are named at.
 *
 * Ownership: created and freed by cd_loop.c (for the engine).
 * Threading: [worker] fields only on its thread; [atomic] fields and the
 * waker from any.
 */
#ifndef CD_WORKER_H
#define CD_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <curl/curl.h>
#include <urcu/list.h>

#include "cd_channel.h"
#include "cd_conn.h"
#include "cd_limit.h"
#include "cd_load.h"
#include "cd_pool.h"
#include "cd_registry.h"
#include "cd_share.h"
#include "cd_timer.h"
#include "cd_waker.h"

typedef struct cd__worker {
  unsigned index;                   /* [const] its slot in every env's channels[] */
  cd__registry *registry;           /* [const] the environments to serve */
  pthread_t thread;
  CURLM *multi;                     /* [worker], except curl_multi_wakeup */
  cd__waker waker;                  /* [atomic] */
  atomic_int stop;                  /* [atomic] engine shutdown */

  /* [worker writes, anyone reads] transfers finished: one writer, so a
   * relaxed load and store, not a locked add (cd_engine_get_stats) */
  _Atomic uint64_t transfers_done;
  uint64_t now_ms;                  /* [worker] loop time */
  cd__timer_heap timers;            /* [worker] cd_transfer.c: headers and body deadlines */
  cd__easy_pool pool;               /* [worker] cd_transfer.c */
  cd__limits limits;                /* [worker] cd_transfer.c; sessions counted by cd_conn.c */
  cd__share *shares;                /* [worker] cd_transfer.c */
  cd__conn_table conns;             /* [worker] cd_conn.c, through cd_transfer.c */
  uint64_t conn_sweep_ms;           /* [worker] next idle-connection sweep, or UINT64_MAX */
  struct cds_list_head stalled;     /* [worker] cd_pause.c: held on full rings (stall_node) */
  struct cds_list_head early;       /* [worker] cd_transfer.c: complete while still uploading */
  struct cds_list_head upload_waits; /* [worker] cd_transfer.c: uploads paused for the owner's body */
  uint64_t early_next_ms;           /* [worker] when the first of `early` is ended, or UINT64_MAX */
  struct cds_list_head data_pending; /* [worker] cd_transfer.c: DATA events being filled */
  char *decoded;                    /* [worker] cd_transfer.c: CD__EVENT_LARGE bytes a decoder
                                     * writes into, allocated on first use */
  long max_streams;                 /* [worker] CURLMOPT_MAX_CONCURRENT_STREAMS set on `multi` */
  struct cds_list_head raw;         /* [worker] cd_raw.c: open CD_REQ_RAW connections */
  cd__dirty_list dirty;             /* [worker] channels to notify */
  cd__load_worker load;             /* cd_load.c: load runs (inbox [atomic], the rest [worker]) */
} cd__worker;

#endif /* CD_WORKER_H */
