/* cd_addon.h - the bridge's per-environment state.
 *
 * One cd_addon per Node environment (main thread or worker_thread): the
 * module is context-aware and keeps nothing in globals. The bridge files
 * (napi/cd_*.c) all take it from the environment's instance data.
 */
#ifndef CD_ADDON_H
#define CD_ADDON_H

#include <stdint.h>

#include <node_api.h>

#include "engine.h"

/* Ownership: allocated by module init (cd_module.c), freed by the
 * environment cleanup hook with everything it points to.
 * Threading: every field belongs to the environment's JS thread, except
 * `tsfn`, which worker threads call through cd__notify_from_worker (the
 * engine guarantees that no worker calls it after cd_env_detach returns). */
typedef struct cd_addon {
  cd_engine *engine;           /* one reference on the process-wide engine */
  cd_env *env;                 /* attached by init(); NULL before */
  napi_threadsafe_function tsfn;
  int tsfn_refed;              /* tsfn keeps the loop alive (requests in flight) */
  int initialized;

  /* Shared with lib/native.js, handed over once by init() (cd_module.c). */
  napi_ref on_events;          /* JS function(count), called once per batch */
  napi_ref values;             /* JS array of payloads, reused */
  napi_ref meta_ref;           /* Int32Array: CD__META_FIELDS per event */
  int32_t *meta;
  napi_ref slab_ref;           /* Uint8Array of CD__SLAB_SIZE: small body chunks */
  uint8_t *slab;
  napi_ref submit_ref;         /* Float64Array of CD__SUBMIT_FIELDS: submit()'s numbers */
  double *submit_fields;

  /* Slots (cd_slots.c). */
  cd_request **slots;          /* slot -> request, NULL when free */
  napi_ref *body_refs;         /* slot -> the Buffer the engine reads the body from */
  uint32_t slots_cap;
  uint32_t *free_slots;
  uint32_t free_len;
  uint32_t next_slot;
  uint32_t inflight;           /* slots in use */
  uint32_t *finished;          /* slots whose terminal event is in this batch */
  uint32_t finished_len;

  /* Agent configs (cd_config_js.c): id -> config; ids are never reused
   * within an environment, released entries stay NULL. */
  cd_config **configs;
  uint32_t configs_len, configs_cap;

  /* Load runs not freed yet (cd_load_js.c), freed by the cleanup hook. */
  struct cd__load_js *loads;
} cd_addon;

/* The calling environment's addon (module init stored it as the
 * environment's instance data). Inline here, not in cd_module.c: every
 * bridge file needs it, and cd_module.c calls them. */
static inline cd_addon *cd__addon(napi_env env) {
  void *data = NULL;
  napi_get_instance_data(env, &data);
  return data;
}

#endif /* CD_ADDON_H */
