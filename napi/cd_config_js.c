/* cd_config_js.c - agent configs from JS objects (see cd_config_js.h). */
#include "cd_config_js.h"

#include <stdlib.h>
#include <string.h>

#include "cd_addon.h"
#include "cd_args.h"

static int64_t prop_i64(napi_env env, napi_value obj, const char *key) {
  napi_value v;
  napi_valuetype t;
  if (napi_get_named_property(env, obj, key, &v) != napi_ok || napi_typeof(env, v, &t) != napi_ok ||
      t != napi_number)
    return 0;
  return cd__get_i64(env, v);
}

/* A string or Buffer/Uint8Array property, copied into *out (malloc). */
static int prop_bytes(napi_env env, napi_value obj, const char *key, char **out, size_t *len) {
  napi_value v;
  napi_valuetype t;
  bool is_buf = false;
  *out = NULL;
  *len = 0;
  if (napi_get_named_property(env, obj, key, &v) != napi_ok || napi_typeof(env, v, &t) != napi_ok) return -1;
  if (t == napi_undefined || t == napi_null) return 0;
  if (t == napi_string) {
    size_t n;
    napi_get_value_string_utf8(env, v, NULL, 0, &n);
    *out = malloc(n + 1);
    if (*out == NULL) return -1;
    napi_get_value_string_utf8(env, v, *out, n + 1, &n);
    *len = n;
    return 0;
  }
  napi_is_buffer(env, v, &is_buf);
  if (!is_buf) return -1;
  void *data;
  size_t n;
  if (napi_get_buffer_info(env, v, &data, &n) != napi_ok) return -1;
  *out = malloc(n ? n : 1);
  if (*out == NULL) return -1;
  memcpy(*out, data, n);
  *len = n;
  return 0;
}

static bool prop_bool(napi_env env, napi_value obj, const char *key, bool dflt) {
  napi_value v;
  napi_valuetype t;
  bool b = dflt;
  if (napi_get_named_property(env, obj, key, &v) == napi_ok && napi_typeof(env, v, &t) == napi_ok &&
      t == napi_boolean)
    napi_get_value_bool(env, v, &b);
  return b;
}

napi_value cd__js_create_config(napi_env env, napi_callback_info info) {
  cd_addon *a = cd__addon(env);
  size_t argc = 1;
  napi_value argv[1], res;
  CD__CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  cd_config_opts o;
  memset(&o, 0, sizeof(o));
  o.connect_timeout_ms = (long)prop_i64(env, argv[0], "connectTimeout");
  o.keepalive_timeout_ms = (long)prop_i64(env, argv[0], "keepAliveTimeout");
  o.keepalive_threshold_ms = (long)prop_i64(env, argv[0], "keepAliveTimeoutThreshold");
  o.max_requests_per_conn = (unsigned)prop_i64(env, argv[0], "maxRequestsPerClient");
  o.connections = (unsigned)prop_i64(env, argv[0], "connections");
  o.max_streams = (unsigned)prop_i64(env, argv[0], "maxConcurrentStreams");
  o.max_header_size = (size_t)prop_i64(env, argv[0], "maxHeaderSize");
  o.reject_unauthorized = prop_bool(env, argv[0], "rejectUnauthorized", true);
  o.proxy_tunnel = prop_bool(env, argv[0], "proxyTunnel", true);
  o.proxy_reject_unauthorized = prop_bool(env, argv[0], "proxyRejectUnauthorized", true);
  o.happy_eyeballs_ms = (long)prop_i64(env, argv[0], "happyEyeballsTimeout");
  o.tag = a->configs_len;  /* the id returned below */
  char *ca = NULL, *cert = NULL, *key = NULL, *proxy_ca = NULL;
  char *proxy_http = NULL, *proxy_https = NULL, *proxy_headers = NULL, *socket_path = NULL, *local = NULL;
  size_t unused;
  int bad = prop_bytes(env, argv[0], "ca", &ca, &o.ca_len) || prop_bytes(env, argv[0], "cert", &cert, &o.cert_len) ||
            prop_bytes(env, argv[0], "key", &key, &o.key_len) ||
            prop_bytes(env, argv[0], "proxyCa", &proxy_ca, &o.proxy_ca_len) ||
            prop_bytes(env, argv[0], "proxyHttp", &proxy_http, &unused) ||
            prop_bytes(env, argv[0], "proxyHttps", &proxy_https, &unused) ||
            prop_bytes(env, argv[0], "proxyHeaders", &proxy_headers, &unused) ||
            prop_bytes(env, argv[0], "socketPath", &socket_path, &unused) ||
            prop_bytes(env, argv[0], "localAddress", &local, &unused);
  o.ca = ca;
  o.cert = cert;
  o.key = key;
  o.proxy_ca = proxy_ca;
  o.proxy_http = proxy_http;
  o.proxy_https = proxy_https;
  o.proxy_headers = proxy_headers;
  o.unix_socket_path = socket_path;
  o.local_address = local;
  cd_config *c = bad ? NULL : cd_config_new(&o);
  free(ca);
  free(cert);
  free(key);
  free(proxy_ca);
  free(proxy_http);
  free(proxy_https);
  free(proxy_headers);
  free(socket_path);
  free(local);
  if (c == NULL) return cd__throw_msg(env, "curl-dispatcher native: invalid options or out of memory");
  if (a->configs_len == a->configs_cap) {
    uint32_t cap = a->configs_cap ? a->configs_cap * 2 : 8;
    cd_config **cs = realloc(a->configs, cap * sizeof(*cs));
    if (cs == NULL) {
      cd_config_release(c);
      return cd__throw_msg(env, "out of memory");
    }
    a->configs = cs;
    a->configs_cap = cap;
  }
  /* Ids are never reused within an environment; released entries stay NULL. */
  a->configs[a->configs_len] = c;
  CD__CHECK(napi_create_uint32(env, a->configs_len++, &res));
  return res;
}

napi_value cd__js_release_config(napi_env env, napi_callback_info info) {
  cd_addon *a = cd__addon(env);
  size_t argc = 1;
  napi_value argv[1];
  uint32_t id = 0;
  CD__CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  napi_get_value_uint32(env, argv[0], &id);
  if (id < a->configs_len && a->configs[id] != NULL) {
    cd_config_release(a->configs[id]);
    a->configs[id] = NULL;
  }
  return NULL;
}
