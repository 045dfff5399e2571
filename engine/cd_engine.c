/* cd_engine.c - the process-wide engine: acquire, release, workers, stats,
 * and the release of an agent's configuration (which concerns every
 * worker). See engine.h for the threading contract. */
#include "cd_engine.h"

#include <stdlib.h>

#include <curl/curl.h>

#include "cd_config.h"
#include "cd_loop.h"
#include "cd_stats.h"

static pthread_mutex_t g_engine_mu = PTHREAD_MUTEX_INITIALIZER;
static cd_engine *g_engine;  /* guarded by g_engine_mu */

cd_engine *cd_engine_acquire(void) {
  pthread_mutex_lock(&g_engine_mu);
  cd_engine *e = g_engine;
  if (e == NULL) {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) goto out;
    e = calloc(1, sizeof(*e));
    if (e == NULL) goto out;
    pthread_mutex_init(&e->mu, NULL);
    cd__registry_init(&e->registry);
    g_engine = e;
  }
  e->refs++;
out:
  pthread_mutex_unlock(&g_engine_mu);
  return e;
}

void cd_engine_release(cd_engine *e) {
  pthread_mutex_lock(&g_engine_mu);
  if (--e->refs > 0) {
    pthread_mutex_unlock(&g_engine_mu);
    return;
  }
  g_engine = NULL;
  pthread_mutex_unlock(&g_engine_mu);

  unsigned n = atomic_load(&e->nworkers);
  for (unsigned i = 0; i < n; i++) cd__loop_stop(e->workers[i]);
  cd__registry_destroy(&e->registry);
  pthread_mutex_destroy(&e->mu);
  free(e);
  /* curl_global_cleanup is left out on purpose: other code in the process
   * (or a later engine) may still rely on libcurl's global state. */
}

unsigned cd_engine_ensure_workers(cd_engine *e, unsigned n) {
  if (n > CD_MAX_WORKERS) n = CD_MAX_WORKERS;
  pthread_mutex_lock(&e->mu);
  unsigned have = atomic_load(&e->nworkers);
  while (have < n) {
    cd__worker *w = cd__loop_start(&e->registry, have);
    if (w == NULL) break;
    e->workers[have++] = w;
    /* Publish after the slot is written: readers load nworkers first. */
    atomic_store_explicit(&e->nworkers, have, memory_order_release);
  }
  pthread_mutex_unlock(&e->mu);
  return have;
}

void cd_engine_get_stats(cd_engine *e, cd_engine_stats *out) {
  out->requests = atomic_load(&cd__live.requests);
  out->transfers = atomic_load(&cd__live.transfers);
  out->events = atomic_load(&cd__live.events);
  out->commands = atomic_load(&cd__live.commands);
  out->handles = atomic_load(&cd__live.handles);
  out->envs = atomic_load(&cd__live.envs);
  out->configs = atomic_load(&cd__live.configs);
  out->workers = atomic_load(&e->nworkers);
  for (unsigned i = 0; i < out->workers && i < CD_MAX_WORKERS; i++)
    out->worker_transfers[i] = atomic_load_explicit(&e->workers[i]->transfers_done, memory_order_relaxed);
}

void cd_config_release(cd_config *c) {
  if (c == NULL) return;
  /* The creator is done: every worker drops the agent's idle connections
   * at its next loop turn, so wake them all. */
  cd__config_close(c);
  pthread_mutex_lock(&g_engine_mu);
  cd_engine *e = g_engine;
  if (e != NULL) {
    unsigned n = atomic_load(&e->nworkers);
    for (unsigned i = 0; i < n; i++) cd__waker_kick(&e->workers[i]->waker);
  }
  pthread_mutex_unlock(&g_engine_mu);
  cd__config_unref(c);
}
