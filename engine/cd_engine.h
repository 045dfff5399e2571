/* cd_engine.h - the process-wide engine: its workers and its registry of
 * environments.
 *
 * Above the loop; below cd_env.c and cd_submit.c, which reach workers
 * through it. Ownership: one per process, reference counted (public calls
 * in engine.h). Threading: `mu` guards refs and the growth of `workers`;
 * worker slots are written once, before `nworkers` publishes them.
 */
#ifndef CD_ENGINE_INTERNAL_H
#define CD_ENGINE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "cd_registry.h"
#include "cd_worker.h"
#include "engine.h"

struct cd_engine {
  pthread_mutex_t mu;
  long refs;
  cd__worker *workers[CD_MAX_WORKERS]; /* slots written once under mu */
  atomic_uint nworkers;
  cd__registry registry;
};

#endif /* CD_ENGINE_INTERNAL_H */
