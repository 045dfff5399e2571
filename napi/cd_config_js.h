/* cd_config_js.h - agent configs from JS objects (createConfig,
 * releaseConfig). JS thread only. */
#ifndef CD_CONFIG_JS_H
#define CD_CONFIG_JS_H

#include <node_api.h>

/* createConfig({ connectTimeout, keepAliveTimeout, connections, maxHeaderSize,
 *   rejectUnauthorized, ca, cert, key, proxyHttp, proxyHttps, proxyHeaders,
 *   proxyTunnel, proxyCa, proxyRejectUnauthorized, socketPath, localAddress,
 *   happyEyeballsTimeout }) -> id
 * Strings arrive validated by lib/agent.js (no NUL, no CR/LF in values). */
napi_value cd__js_create_config(napi_env env, napi_callback_info info);

/* releaseConfig(id): drops the agent's reference (transfers keep theirs). */
napi_value cd__js_release_config(napi_env env, napi_callback_info info);

#endif /* CD_CONFIG_JS_H */
