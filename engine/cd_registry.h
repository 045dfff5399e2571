/* cd_registry.h - the environments attached to the engine: each one's
 * record, and the list workers walk.
 *
 * An environment is one attached JS thread (main thread or worker_thread).
 * Its calls are the public ones of engine.h, in cd_env.c at the top of the
 * engine; lower layers only read what is marked [const] or [atomic] in
 * struct cd_env: the channel layer notifies through `notify`, a worker
 * finds its channel in `channels` and acknowledges a detach.
 *
 * Workers walk the list without locks, inside liburcu (memb) read-side
 * sections; owners add and remove under the registry's mutex, and removal
 * waits for a grace period so that no worker can still see the environment
 * when its owner frees it.
 *
 * Ownership: embedded in the engine. Threading: add/remove from owner
 * threads; iteration from workers under urcu_memb_read_lock.
 */
#ifndef CD_REGISTRY_H
#define CD_REGISTRY_H

#include <pthread.h>
#include <stdatomic.h>

#include <urcu/list.h>
#include <urcu/rculist.h>
#include <urcu/urcu-memb.h>

#include "engine.h"

struct cd_channel;

/* Ownership: created and freed by the owner (cd_env_attach/cd_env_detach);
 * workers reach it through the registry under RCU read-side locks.
 * Threading: [owner] fields, [atomic] fields, [const] after attach. */
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

typedef struct cd__registry {
  pthread_mutex_t mu;               /* writers */
  struct cds_list_head envs;        /* RCU list of cd_env */
} cd__registry;

void cd__registry_init(cd__registry *reg);
void cd__registry_destroy(cd__registry *reg);
void cd__registry_add(cd__registry *reg, cd_env *env);
/* Returns once no worker can be looking at `env` any more. */
void cd__registry_remove(cd__registry *reg, cd_env *env);

/* Worker side, inside urcu_memb_read_lock/unlock. */
#define cd__registry_for_each(env, reg) cds_list_for_each_entry_rcu(env, &(reg)->envs, node)

#endif /* CD_REGISTRY_H */
