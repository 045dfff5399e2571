/* cd_requests.h - what JS does to requests: submit, write, pause, resume,
 * abort. JS thread only; a request is named by its slot (cd_slots.h). */
#ifndef CD_REQUESTS_H
#define CD_REQUESTS_H

#include <node_api.h>

napi_value cd__js_submit(napi_env env, napi_callback_info info);
napi_value cd__js_write(napi_env env, napi_callback_info info);
napi_value cd__js_pause(napi_env env, napi_callback_info info);
napi_value cd__js_resume(napi_env env, napi_callback_info info);
napi_value cd__js_abort(napi_env env, napi_callback_info info);

#endif /* CD_REQUESTS_H */
