/* cd_env.c - environments: attach, detach, and the owner's drain of its
 * event rings (cd_env_poll_begin/poll/end). See engine.h. */
#include "cd_env.h"

#include <stdlib.h>

#include "cd_conn.h"
#include "cd_engine.h"
#include "cd_stats.h"

cd_env *cd_env_attach(cd_engine *e, cd_notify_fn notify, void *ctx) {
  cd_env *env = calloc(1, sizeof(*env));
  if (env == NULL) return NULL;
  env->engine = e;
  env->notify = notify;
  env->notify_ctx = ctx;
  pthread_mutex_init(&env->detach_mu, NULL);
  pthread_cond_init(&env->detach_cv, NULL);
  cd__registry_add(&e->registry, env);
  cd__stat_add(&cd__live.envs, 1);
  return env;
}

cd_channel *cd__env_channel(cd_env *env, unsigned index) {
  return atomic_load_explicit(&env->channels[index], memory_order_relaxed);
}

cd_channel *cd__env_channel_open(cd_env *env, unsigned index) {
  cd_channel *ch = cd__env_channel(env, index);
  if (ch != NULL) return ch;
  cd__worker *w = env->engine->workers[index];
  ch = cd__channel_new(env, &w->waker, &w->dirty);
  if (ch != NULL) atomic_store_explicit(&env->channels[index], ch, memory_order_release);
  return ch;
}

void cd_env_detach(cd_env *env) {
  cd_engine *e = env->engine;
  unsigned n = atomic_load(&e->nworkers);
  int pending = 0;

  /* Commands still on our side never reached a worker. */
  for (unsigned i = 0; i < n; i++) {
    cd_channel *ch = cd__env_channel(env, i);
    if (ch == NULL) continue;
    cd__channel_drop_backlog(ch);
    pending++;
  }

  pthread_mutex_lock(&env->detach_mu);
  env->detach_pending = pending;
  pthread_mutex_unlock(&env->detach_mu);
  for (unsigned i = 0; i < n; i++) {
    cd_channel *ch = cd__env_channel(env, i);
    if (ch == NULL) continue;
    atomic_store(&ch->detach, 1);
    cd__waker_wake(ch->waker);
  }
  pthread_mutex_lock(&env->detach_mu);
  while (env->detach_pending > 0) pthread_cond_wait(&env->detach_cv, &env->detach_mu);
  pthread_mutex_unlock(&env->detach_mu);

  /* Workers walk the registry without locks: this returns once none can
   * still be looking at this env or its channels. */
  cd__registry_remove(&e->registry, env);

  for (unsigned i = 0; i < n; i++) {
    cd_channel *ch = cd__env_channel(env, i);
    if (ch != NULL) cd__channel_free(ch);
  }
  pthread_mutex_destroy(&env->detach_mu);
  pthread_cond_destroy(&env->detach_cv);
  free(env);
  cd__stat_add(&cd__live.envs, -1);
}

void cd_env_poll_begin(cd_env *env) {
  env->draining = 1;
  atomic_store(&env->scheduled, 0);
  unsigned n = atomic_load(&env->engine->nworkers);
  for (unsigned i = 0; i < n; i++) {
    cd_channel *ch = cd__env_channel(env, i);
    if (ch != NULL && ch->backlog_head != NULL) {
      cd__channel_flush_backlog(ch);
      cd__waker_wake(ch->waker);
    }
  }
}

size_t cd_env_poll(cd_env *env, cd_event **out, size_t max) {
  unsigned n = atomic_load(&env->engine->nworkers);
  size_t got = 0;
  for (unsigned k = 0; k < n && got < max; k++) {
    cd_channel *ch = cd__env_channel(env, (env->poll_cursor + k) % n);
    if (ch != NULL) got += cd__channel_pop_events(ch, out + got, max - got);
  }
  if (n) env->poll_cursor = (env->poll_cursor + 1) % n;
  return got;
}

void cd_env_poll_end(cd_env *env) {
  env->draining = 0;
  unsigned n = atomic_load(&env->engine->nworkers);
  for (unsigned i = 0; i < n; i++) {
    cd_channel *ch = cd__env_channel(env, i);
    if (ch != NULL) cd__channel_wake_deferred(ch);
  }
}
