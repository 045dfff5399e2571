/* cd_submit.c - the owner's calls on a request: submit, write, pause,
 * resume, abort, release (see engine.h). Each becomes a command on the
 * channel to the request's worker. Owner thread. */
#include "cd_submit.h"

#include <stdlib.h>

#include "cd_engine.h"
#include "cd_env.h"
#include "cd_request.h"
#include "cd_stats.h"
#include "cd_timings.h"

cd_request *cd_request_submit(cd_env *env, cd_config *config, const cd_request_opts *o) {
  cd_engine *e = env->engine;
  unsigned n = atomic_load_explicit(&e->nworkers, memory_order_acquire);
  if (n == 0 && (n = cd_engine_ensure_workers(e, 1)) == 0) return NULL;
  cd_channel *ch = cd__env_channel_open(env, o->worker % n);
  if (ch == NULL) return NULL;
  cd_request *req = cd__request_new(env, ch, config, o);
  if (req == NULL) return NULL;
  if (o->flags & CD_REQ_TIMINGS) cd__timings_submit(req);
  cd__stat_add(&cd__live.transfers, 1);
  cd__channel_push_command(ch, cd__command(CD__CMD_SUBMIT, req));
  return req;
}

int cd_request_write(cd_request *req, const void *data, size_t len, int end) {
  cd__chunk *c = cd__chunk_new(req, data, len, end);
  if (c == NULL) return -1;
  cd__request_ref(req);
  cd__channel_push_command(req->chan, cd__command(CD__CMD_BODY, c));
  return 0;
}

void cd_request_pause(cd_request *req) {
  atomic_fetch_or_explicit(&req->paused, CD__OWNER_CONSUMER | CD__OWNER_HOLD, memory_order_relaxed);
}

void cd_request_pause_consumer(cd_request *req) {
  atomic_fetch_or_explicit(&req->paused, CD__OWNER_CONSUMER, memory_order_relaxed);
}

void cd_request_resume(cd_request *req) {
  atomic_store(&req->paused, 0);
  /* A pause the worker never acted on needs no command (and no wakeup):
   * the common case of a consumer that pauses and resumes between two
   * chunks. Raw connections are polled by the worker: always wake it. */
  if (!(req->flags & CD_REQ_RAW) && !atomic_load(&req->paused_seen)) return;
  cd__request_ref(req);
  cd__channel_push_command(req->chan, cd__command(CD__CMD_RESUME, req));
}

void cd_request_abort(cd_request *req) {
  cd__request_ref(req);
  cd__channel_push_command(req->chan, cd__command(CD__CMD_ABORT, req));
}

void cd_request_release(cd_request *req) {
  cd__request_unref(req);
}

int cd_env_give_landing(cd_env *env, unsigned worker, uint32_t id, void *memory, size_t cap) {
  unsigned n = atomic_load_explicit(&env->engine->nworkers, memory_order_acquire);
  if (worker >= n) return -1;
  cd_channel *ch = cd__env_channel_open(env, worker);
  if (ch == NULL) return -1;
  return cd__landing_give(ch, id, memory, cap);
}
