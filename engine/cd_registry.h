/* cd_registry.h - the environments attached to the engine.
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

#include <urcu/list.h>
#include <urcu/rculist.h>
#include <urcu/urcu-memb.h>

#include "cd_env.h"

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
