/* cd_constants.h - the `constants` export: every number lib/ shares with
 * C (engine.h's event types, request flags, body modes, HTTP versions,
 * error codes and bits, limits and defaults; cd_protocol.h's batch layout),
 * as one frozen object. lib/constants.js re-exports it. JS thread only. */
#ifndef CD_CONSTANTS_H
#define CD_CONSTANTS_H

#include <node_api.h>

/* Creates the frozen object into *out. */
napi_status cd__constants_create(napi_env env, napi_value *out);

#endif /* CD_CONSTANTS_H */
