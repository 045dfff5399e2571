/* cd_events.c - event batches from the engine to JS (see cd_events.h). */
#include "cd_events.h"

#include <string.h>

#include "cd_protocol.h"
#include "cd_args.h"
#include "cd_slots.h"

static int is_terminal(int type) {
  return type == CD_EV_END || type == CD_EV_ERROR || type == CD_EV_ABORTED;
}

static napi_status event_payload(napi_env env, cd_event *ev, napi_value *out) {
  switch (ev->type) {
    case CD_EV_HEADERS:
    case CD_EV_END:
    case CD_EV_CONNECTED:
    case CD_EV_DISCONNECTED:
    case CD_EV_SENDING:
      return napi_create_string_latin1(env, ev->data, ev->len, out);
    case CD_EV_DATA:
    case CD_EV_TIMINGS:  /* a cd_timings, decoded by lib/timings.js */
      return napi_create_buffer_copy(env, ev->len, ev->data, NULL, out);
    case CD_EV_ERROR:
      return napi_create_string_utf8(env, ev->data, ev->len, out);
    default:
      *out = NULL;
      return napi_ok;
  }
}

static void drain(napi_env env, cd_addon *a) {
  cd_event *evs[CD__BATCH_MAX];
  napi_value cb, values, global;
  cd_env_poll_begin(a->env);
  for (;;) {
    size_t n = cd_env_poll(a->env, evs, CD__BATCH_MAX);
    if (n == 0) break;
    napi_handle_scope scope;
    napi_open_handle_scope(env, &scope);
    napi_get_reference_value(env, a->on_events, &cb);
    napi_get_reference_value(env, a->values, &values);
    napi_get_global(env, &global);
    uint32_t vi = 0;
    size_t slab_used = 0;
    a->finished_len = 0;
    for (size_t i = 0; i < n; i++) {
      cd_event *ev = evs[i];
      int32_t *m = a->meta + i * CD__META_FIELDS;
      m[CD__META_TYPE] = ev->type;
      m[CD__META_SLOT] = (int32_t)ev->slot;
      m[CD__META_A] = ev->a;
      m[CD__META_B] = ev->b;
      m[CD__META_C] = ev->c;
      m[CD__META_D] = ev->d;
      if (ev->landing != NULL) {
        /* the bytes are already in JS's memory (a landing): nothing to copy */
        m[CD__META_TYPE] = CD__EV_DATA_LANDED;
        m[CD__META_C] = (int32_t)ev->landing_id;
        m[CD__META_D] = (int32_t)ev->len;
        cd_event_free(ev);
        continue;
      }
      if (ev->type == CD_EV_DATA && ev->len <= CD__SLAB_CHUNK_MAX && slab_used + ev->len <= CD__SLAB_SIZE) {
        memcpy(a->slab + slab_used, ev->data, ev->len);
        m[CD__META_TYPE] = CD__EV_DATA_SLAB;
        m[CD__META_C] = (int32_t)slab_used;
        m[CD__META_D] = (int32_t)ev->len;
        slab_used += ev->len;
        cd_event_free(ev);
        continue;
      }
      napi_value payload = NULL;
      if (event_payload(env, ev, &payload) == napi_ok && payload != NULL)
        napi_set_element(env, values, vi++, payload);
      if (is_terminal(ev->type)) a->finished[a->finished_len++] = ev->slot;
      cd_event_free(ev);
    }
    napi_value argv[1];
    napi_create_uint32(env, (uint32_t)n, &argv[0]);
    napi_status st = napi_call_function(env, global, cb, 1, argv, NULL);
    /* Slots are recycled only now: JS has seen their terminal events. */
    for (uint32_t i = 0; i < a->finished_len; i++) cd__slot_free(env, a, a->finished[i]);
    a->inflight -= a->finished_len;
    a->finished_len = 0;
    napi_close_handle_scope(env, scope);
    if (st == napi_pending_exception) {
      /* lib/ catches handler errors itself; anything here is our bug and
       * must not vanish: surface it as an uncaught exception. */
      napi_value err;
      napi_get_and_clear_last_exception(env, &err);
      napi_fatal_exception(env, err);
      break;
    }
  }
  cd_env_poll_end(a->env);
  cd__update_ref(env, a);
}

void cd__call_js(napi_env env, napi_value js_cb, void *context, void *data) {
  (void)js_cb;  /* none: the JS callback is the addon's on_events reference */
  (void)data;   /* notifications carry nothing: the rings hold the events */
  if (env == NULL) return;  /* the function is being torn down */
  drain(env, context);
}

void cd__notify_from_worker(void *ctx) {
  cd_addon *a = ctx;
  napi_call_threadsafe_function(a->tsfn, NULL, napi_tsfn_nonblocking);
}

/* giveLanding(worker, id, buffer): lends `buffer`'s bytes to the worker as
 * landing `id` (engine.h cd_env_give_landing). JS keeps the Buffer alive
 * and leaves it alone until the landing comes back in a
 * CD__EV_DATA_LANDED event. */
napi_value cd__js_give_landing(napi_env env, napi_callback_info info) {
  cd_addon *a = cd__addon(env);
  size_t argc = 3;
  napi_value argv[3];
  CD__CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint32_t worker = 0, id = 0;
  CD__CHECK(napi_get_value_uint32(env, argv[0], &worker));
  CD__CHECK(napi_get_value_uint32(env, argv[1], &id));
  void *data = NULL;
  size_t len = 0;
  CD__CHECK(napi_get_buffer_info(env, argv[2], &data, &len));
  if (cd_env_give_landing(a->env, worker, id, data, len) != 0)
    return cd__throw_msg(env, "curl-dispatcher native: giveLanding refused");
  return NULL;
}
