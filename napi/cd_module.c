/* cd_module.c - module init and the environment's lifecycle: the addon's
 * exports, init() (attaching to the engine), ensureThreads(), stats(), and
 * the cleanup hook.
 *
 * The bridge between lib/ and the engine, one concern per file:
 *   cd_addon.h      the per-environment state (cd_addon)
 *   cd_protocol.h   batch layout and the bridge's event type, shared with lib/native.js
 *   cd_constants.c  the `constants` export (engine.h and cd_protocol.h values for JS)
 *   cd_slots.c      request slots, and keeping the event loop alive
 *   cd_events.c     event batches from the engine to JS (drain)
 *   cd_config_js.c  createConfig / releaseConfig
 *   cd_requests.c   submit / write / pause / resume / abort
 *   cd_load_js.c    load runs: loadStart / loadRead / loadStop / loadFree
 *   cd_args.c       N-API argument reading and errors
 * Everything runs on the environment's JS thread, except
 * cd__notify_from_worker (cd_events.c).
 */
#include <stdlib.h>

#include "cd_addon.h"
#include "cd_args.h"
#include "cd_config_js.h"
#include "cd_constants.h"
#include "cd_events.h"
#include "cd_load_js.h"
#include "cd_protocol.h"
#include "cd_requests.h"

/* A typed array JS shares with the bridge for the environment's life:
 * checks its type and length, keeps a reference, returns its data (or
 * NULL with an exception pending). */
static void *shared_array(napi_env env, napi_value v, napi_typedarray_type want, size_t min_len,
                          const char *mismatch, napi_ref *ref) {
  napi_typedarray_type type;
  size_t length;
  void *data;
  if (napi_get_typedarray_info(env, v, &type, &length, &data, NULL, NULL) != napi_ok || type != want ||
      length < min_len) {
    cd__throw_msg(env, mismatch);
    return NULL;
  }
  if (napi_create_reference(env, v, 1, ref) != napi_ok) {
    cd__throw_last(env, "napi_create_reference");
    return NULL;
  }
  return data;
}

/* init(onEvents, meta: Int32Array, values: Array, slab: Uint8Array,
 *      submitFields: Float64Array) -> batch capacity
 * meta holds BATCH_MAX * META_FIELDS int32s, slab SLAB_SIZE bytes,
 * submitFields SUBMIT_FIELDS doubles (constants). */
static napi_value js_init(napi_env env, napi_callback_info info) {
  cd_addon *a = cd__addon(env);
  size_t argc = 5;
  napi_value argv[5], res;
  CD__CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (a->initialized) return cd__throw_msg(env, "curl-dispatcher native: already initialized");
  a->meta = shared_array(env, argv[1], napi_int32_array, CD__BATCH_MAX * CD__META_FIELDS,
                         "curl-dispatcher native: meta must be an Int32Array of BATCH_MAX * META_FIELDS", &a->meta_ref);
  if (a->meta == NULL) return NULL;
  a->slab = shared_array(env, argv[3], napi_uint8_array, CD__SLAB_SIZE,
                         "curl-dispatcher native: slab must be a Uint8Array of SLAB_SIZE", &a->slab_ref);
  if (a->slab == NULL) return NULL;
  a->submit_fields = shared_array(env, argv[4], napi_float64_array, CD__SUBMIT_FIELDS,
                                  "curl-dispatcher native: submitFields must be a Float64Array of SUBMIT_FIELDS",
                                  &a->submit_ref);
  if (a->submit_fields == NULL) return NULL;
  CD__CHECK(napi_create_reference(env, argv[0], 1, &a->on_events));
  CD__CHECK(napi_create_reference(env, argv[2], 1, &a->values));

  napi_value name;
  CD__CHECK(napi_create_string_utf8(env, "curl-dispatcher", NAPI_AUTO_LENGTH, &name));
  CD__CHECK(napi_create_threadsafe_function(env, NULL, NULL, name, 0, 1, NULL, NULL, a, cd__call_js, &a->tsfn));
  CD__CHECK(napi_unref_threadsafe_function(env, a->tsfn));
  a->env = cd_env_attach(a->engine, cd__notify_from_worker, a);
  if (a->env == NULL) return cd__throw_msg(env, "curl-dispatcher native: cannot attach to the engine");
  a->initialized = 1;
  CD__CHECK(napi_create_uint32(env, CD__BATCH_MAX, &res));
  return res;
}

/* ensureThreads(n) -> pool size */
static napi_value js_ensure_threads(napi_env env, napi_callback_info info) {
  cd_addon *a = cd__addon(env);
  size_t argc = 1;
  napi_value argv[1], res;
  CD__CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint32_t n = 1;
  napi_get_value_uint32(env, argv[0], &n);
  CD__CHECK(napi_create_uint32(env, cd_engine_ensure_workers(a->engine, n), &res));
  return res;
}

static napi_status set_num(napi_env env, napi_value obj, const char *key, double v) {
  napi_value n;
  napi_status st = napi_create_double(env, v, &n);
  return st == napi_ok ? napi_set_named_property(env, obj, key, n) : st;
}

/* stats() -> live object counts (engine-wide) and this environment's. */
static napi_value js_stats(napi_env env, napi_callback_info info) {
  (void)info;  /* no arguments */
  cd_addon *a = cd__addon(env);
  cd_engine_stats s;
  napi_value obj;
  cd_engine_get_stats(a->engine, &s);
  CD__CHECK(napi_create_object(env, &obj));
  set_num(env, obj, "requests", (double)s.requests);
  set_num(env, obj, "transfers", (double)s.transfers);
  set_num(env, obj, "events", (double)s.events);
  set_num(env, obj, "commands", (double)s.commands);
  set_num(env, obj, "handles", (double)s.handles);
  set_num(env, obj, "envs", (double)s.envs);
  set_num(env, obj, "configs", (double)s.configs);
  set_num(env, obj, "workers", (double)s.workers);
  set_num(env, obj, "inflight", (double)a->inflight);
  napi_value per_worker;
  CD__CHECK(napi_create_array_with_length(env, s.workers, &per_worker));
  for (unsigned i = 0; i < s.workers; i++) {
    napi_value n;
    CD__CHECK(napi_create_double(env, (double)s.worker_transfers[i], &n));
    CD__CHECK(napi_set_element(env, per_worker, i, n));
  }
  CD__CHECK(napi_set_named_property(env, obj, "workerTransfers", per_worker));
  napi_value heap;
  CD__CHECK(napi_create_string_utf8(env, cd_heap_state_name(cd_heap_adapt()), NAPI_AUTO_LENGTH, &heap));
  CD__CHECK(napi_set_named_property(env, obj, "heap", heap));
  return obj;
}

/* The environment cleanup hook: frees the addon. */
static void cleanup(void *arg) {
  cd_addon *a = arg;
  cd__load_js_cleanup(a);  /* before the configs the runs use go */
  if (a->env != NULL) {
    /* Workers drop this environment's transfers and stop notifying it. */
    cd_env_detach(a->env);
    for (uint32_t i = 0; i < a->next_slot; i++)
      if (a->slots[i] != NULL) cd_request_release(a->slots[i]);
    /* References die with the environment; nothing reads the bodies now. */
  }
  if (a->tsfn != NULL) napi_release_threadsafe_function(a->tsfn, napi_tsfn_abort);
  for (uint32_t i = 0; i < a->configs_len; i++) cd_config_release(a->configs[i]);
  cd_engine_release(a->engine);
  free(a->slots);
  free(a->body_refs);
  free(a->free_slots);
  free(a->finished);
  free(a->configs);
  free(a);
}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  cd_heap_adapt(); /* before the first landing is allocated (engine.h) */
  cd_addon *a = calloc(1, sizeof(*a));
  if (a == NULL) return NULL;
  a->engine = cd_engine_acquire();
  if (a->engine == NULL) {
    free(a);
    napi_throw_error(env, NULL, "curl-dispatcher native: cannot start the engine");
    return NULL;
  }
  napi_set_instance_data(env, a, NULL, NULL);
  napi_add_env_cleanup_hook(env, cleanup, a);

  static const struct {
    const char *name;
    napi_callback fn;
  } fns[] = {
      {"init", js_init},
      {"ensureThreads", js_ensure_threads},
      {"createConfig", cd__js_create_config},
      {"releaseConfig", cd__js_release_config},
      {"submit", cd__js_submit},
      {"write", cd__js_write},
      {"pause", cd__js_pause},
      {"resume", cd__js_resume},
      {"abort", cd__js_abort},
      {"stats", js_stats},
      {"giveLanding", cd__js_give_landing},
      {"loadStart", cd__js_load_start},
      {"loadRead", cd__js_load_read},
      {"loadStop", cd__js_load_stop},
      {"loadFree", cd__js_load_free},
  };
  for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
    napi_value f;
    napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &f);
    napi_set_named_property(env, exports, fns[i].name, f);
  }
  napi_value constants;
  if (cd__constants_create(env, &constants) != napi_ok) return NULL;
  napi_set_named_property(env, exports, "constants", constants);
  return exports;
}
