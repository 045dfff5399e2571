/* cd_load_js.h - the load generator from JS (engine/load.h): loadStart,
 * loadRead, loadStop, loadFree. JS thread only, except the run's `done`
 * callback, which a worker makes through the run's own threadsafe
 * function. */
#ifndef CD_LOAD_JS_H
#define CD_LOAD_JS_H

#include <node_api.h>

#include "cd_addon.h"

/* loadStart(configId, templates, params, onDone) -> handle
 *   templates: [{ url, method, headers ("Name: value\n" lines), body (string|Buffer) }]
 *   params: { connections, pipelining, threads, durationMs, amount, rate,
 *             timeoutMs, httpVersion, proxy (boolean) }
 *   onDone(): called once on the JS thread when the run has ended.
 * Throws an Error with `code` CD_LOAD_EINVAL, CD_LOAD_EH2C, CD_LOAD_ENOMEM
 * or CD_LOAD_ENOWORKERS. */
napi_value cd__js_load_start(napi_env env, napi_callback_info info);
/* loadRead(handle, percentiles: number[]) -> snapshot (see lib/load/run.js) */
napi_value cd__js_load_read(napi_env env, napi_callback_info info);
/* loadStop(handle): asks the run to end now. */
napi_value cd__js_load_stop(napi_env env, napi_callback_info info);
/* loadFree(handle): stops if needed and frees the run (the snapshot read
 * last stays valid in JS). Later calls with the handle throw. */
napi_value cd__js_load_free(napi_env env, napi_callback_info info);

/* Environment cleanup (cd_module.c): frees every run of the environment. */
void cd__load_js_cleanup(cd_addon *a);

#endif /* CD_LOAD_JS_H */
