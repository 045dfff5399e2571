/* cd_env.h - one attached JS thread (an "environment"), as data.
 *
 * The environment's calls are the public ones of engine.h, in cd_env.c at
 * the top of the engine. Lower layers only read what is marked [const] or
 * [atomic] here: the channel layer notifies through `notify`, a worker finds
 * its channel in `channels` and acknowledges a detach.
 *
 * Ownership: created and freed by the owner (cd_env_attach/cd_env_detach);
 * workers reach it through the registry (cd_registry.h) under RCU read-side
 * locks. Threading: [owner] fields, [atomic] fields, [const] after attach.
 */
#ifndef CD_ENV_H
#define CD_ENV_H

#include <pthread.h>
#include <stdatomic.h>

#include <urcu/list.h>

#include "engine.h"

struct cd_channel;

struct cd_env {
  struct cds_list_head node;        /* registry->envs, RCU list */
  cd_engine *engine;                /* [const] */
  cd_notify_fn notify;              /* [const] */
  void *notify_ctx;                 /* [const] */
  atomic_int scheduled;             /* [atomic] a notify is outstanding */
  _Atomic(struct cd_channel *) channels[CD_MAX_WORKERS]; /* [owner writes once, workers read] */
  unsigned poll_cursor;             /* [owner] fairness between channels */
  int draining;                     /* [owner] between poll_begin and poll_end */

  pthread_mutex_t detach_mu;        /* detach handshake */
  pthread_cond_t detach_cv;
  int detach_pending;               /* channels not yet acknowledged */
};

#endif /* CD_ENV_H */
