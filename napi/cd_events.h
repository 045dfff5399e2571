/* cd_events.h - events from the engine to JS, in batches.
 *
 * A worker's notify (cd__notify_from_worker, on a worker thread) schedules
 * one threadsafe-function call; that call (cd__call_js, JS thread) drains
 * every ring of the environment: the fixed fields of each event go into
 * the shared Int32Array `meta` (layout: cd_protocol.h; no N-API call),
 * small body chunks into the shared slab, and only the other payloads
 * (header blocks, large body chunks, messages) into the reused `values`
 * array; then JS's onEvents(count) is called once per batch of up to
 * CD__BATCH_MAX events. Slots whose terminal event was in the batch are
 * recycled after that call.
 */
#ifndef CD_EVENTS_H
#define CD_EVENTS_H

#include "cd_addon.h"

/* napi_threadsafe_call_js: runs on the JS thread; `context` is the addon. */
void cd__call_js(napi_env env, napi_value js_cb, void *context, void *data);

/* giveLanding(worker, id, buffer), JS thread. */
napi_value cd__js_give_landing(napi_env env, napi_callback_info info);

/* cd_notify_fn given to cd_env_attach: runs on a worker thread. */
void cd__notify_from_worker(void *ctx);

#endif /* CD_EVENTS_H */
