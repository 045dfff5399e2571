/* cd_binding.c - the N-API bridge between lib/ and the engine.
 *
 * One cd_addon per Node environment (main thread or worker_thread): the
 * module is context-aware and keeps nothing in globals. All of this file
 * runs on that environment's JS thread, except notify_from_worker.
 *
 * Requests are named by "slots": small integers that index the addon's
 * table of cd_request pointers and lib/'s table of JS request states. A
 * slot is recycled only after its terminal event has been delivered to JS.
 *
 * Events reach JS in batches: the worker's notify schedules one
 * threadsafe-function call; that call drains the rings, writes the fixed
 * fields of each event into a shared Int32Array (no N-API call) and only the
 * payloads (header blocks, body chunks, messages) into a reused JS array,
 * then calls JS once per batch.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <node_api.h>

#include "engine.h"

#define META_FIELDS 6          /* type, slot, a, b, c, d */
#define BATCH_MAX 1024         /* events per JS call */
/* Body chunks smaller than Node's Buffer pool threshold (poolSize / 2) are
 * copied into a slab shared with JS, which copies them into pooled Buffers
 * (Buffer.allocUnsafe): no malloc and no N-API call per small chunk.
 * meta: type EV_DATA_SLAB, c = offset in the slab, d = length. */
#define SLAB_CHUNK_MAX 4095
#define SLAB_SIZE (256 * 1024)
#define EV_DATA_SLAB 7
#define STACK_STR 2048

#define CHECK(call)                                                     \
  do {                                                                  \
    if ((call) != napi_ok) return throw_last(env, #call);               \
  } while (0)

/* Per environment. Ownership: created in module init, freed in the
 * environment cleanup hook. Threading: JS thread, except `tsfn`, which
 * workers call through notify_from_worker. */
typedef struct cd_addon {
  cd_engine *engine;
  cd_env *env;
  napi_threadsafe_function tsfn;
  int tsfn_refed;
  int initialized;
  napi_ref on_events;          /* JS function(count) */
  napi_ref values;             /* JS array of payloads, reused */
  napi_ref meta_ref;           /* Int32Array shared with JS */
  int32_t *meta;
  napi_ref slab_ref;           /* Uint8Array shared with JS */
  uint8_t *slab;

  cd_request **slots;          /* slot -> request, NULL when free */
  napi_ref *body_refs;         /* slot -> the Buffer the engine reads the body from */
  uint32_t slots_cap;
  uint32_t *free_slots;
  uint32_t free_len;
  uint32_t next_slot;
  uint32_t inflight;

  uint32_t *finished;          /* slots whose terminal event is in this batch */
  uint32_t finished_len;

  cd_config **configs;         /* config id -> config */
  uint32_t configs_len, configs_cap;
} cd_addon;

static napi_value throw_last(napi_env env, const char *what) {
  const napi_extended_error_info *info = NULL;
  napi_get_last_error_info(env, &info);
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) {
    char msg[256];
    snprintf(msg, sizeof(msg), "curl-dispatcher native: %s failed: %s", what,
             info && info->error_message ? info->error_message : "unknown");
    napi_throw_error(env, NULL, msg);
  }
  return NULL;
}

static napi_value throw_msg(napi_env env, const char *msg) {
  napi_throw_error(env, NULL, msg);
  return NULL;
}

static cd_addon *get_addon(napi_env env) {
  void *data = NULL;
  napi_get_instance_data(env, &data);
  return data;
}

/* ---- argument helpers ----------------------------------------------------- */

/* Copies a JS string (latin1: one byte per code unit, as HTTP wants) into
 * `stack` or a malloc'd buffer. Returns NULL on error (exception pending). */
static char *get_latin1(napi_env env, napi_value v, char *stack, size_t stack_len, size_t *len_out) {
  size_t len = 0;
  if (napi_get_value_string_latin1(env, v, NULL, 0, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "expected a string");
    return NULL;
  }
  char *buf = len + 1 <= stack_len ? stack : malloc(len + 1);
  if (buf == NULL) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  napi_get_value_string_latin1(env, v, buf, len + 1, &len);
  if (len_out) *len_out = len;
  return buf;
}

static void free_str(char *s, char *stack) {
  if (s != stack) free(s);
}

static int64_t get_i64(napi_env env, napi_value v) {
  int64_t out = 0;
  napi_get_value_int64(env, v, &out);
  return out;
}

static cd_request *slot_request(napi_env env, cd_addon *a, napi_value v) {
  uint32_t slot = 0;
  if (napi_get_value_uint32(env, v, &slot) != napi_ok || slot >= a->slots_cap ||
      a->slots[slot] == NULL) {
    napi_throw_range_error(env, NULL, "curl-dispatcher native: unknown request slot");
    return NULL;
  }
  return a->slots[slot];
}

/* ---- slots ------------------------------------------------------------------ */

static int slot_alloc(cd_addon *a, uint32_t *out) {
  if (a->free_len > 0) {
    *out = a->free_slots[--a->free_len];
    return 0;
  }
  if (a->next_slot == a->slots_cap) {
    uint32_t cap = a->slots_cap ? a->slots_cap * 2 : 256;
    cd_request **slots = realloc(a->slots, cap * sizeof(*slots));
    if (slots == NULL) return -1;
    a->slots = slots;
    uint32_t *fs = realloc(a->free_slots, cap * sizeof(*fs));
    if (fs == NULL) return -1;
    a->free_slots = fs;
    uint32_t *fin = realloc(a->finished, cap * sizeof(*fin));
    if (fin == NULL) return -1;
    a->finished = fin;
    napi_ref *refs = realloc(a->body_refs, cap * sizeof(*refs));
    if (refs == NULL) return -1;
    a->body_refs = refs;
    memset(a->body_refs + a->slots_cap, 0, (cap - a->slots_cap) * sizeof(*refs));
    memset(a->slots + a->slots_cap, 0, (cap - a->slots_cap) * sizeof(*slots));
    a->slots_cap = cap;
  }
  *out = a->next_slot++;
  return 0;
}

static void slot_free(napi_env env, cd_addon *a, uint32_t slot) {
  if (a->body_refs[slot] != NULL) {
    napi_delete_reference(env, a->body_refs[slot]);
    a->body_refs[slot] = NULL;
  }
  cd_request_release(a->slots[slot]);
  a->slots[slot] = NULL;
  a->free_slots[a->free_len++] = slot;
}

/* The threadsafe function keeps the event loop alive only while requests
 * are in flight, so an idle process exits by itself. */
static void update_ref(napi_env env, cd_addon *a) {
  if (a->inflight > 0 && !a->tsfn_refed) {
    napi_ref_threadsafe_function(env, a->tsfn);
    a->tsfn_refed = 1;
  } else if (a->inflight == 0 && a->tsfn_refed) {
    napi_unref_threadsafe_function(env, a->tsfn);
    a->tsfn_refed = 0;
  }
}

/* ---- events ------------------------------------------------------------------ */

static int is_terminal(int type) {
  return type == CD_EV_END || type == CD_EV_ERROR || type == CD_EV_ABORTED;
}

static napi_status event_payload(napi_env env, cd_event *ev, napi_value *out) {
  switch (ev->type) {
    case CD_EV_HEADERS:
    case CD_EV_END:
    case CD_EV_CONNECTED:
    case CD_EV_DISCONNECTED:
      return napi_create_string_latin1(env, ev->data, ev->len, out);
    case CD_EV_DATA:
      return napi_create_buffer_copy(env, ev->len, ev->data, NULL, out);
    case CD_EV_ERROR:
      return napi_create_string_utf8(env, ev->data, ev->len, out);
    default:
      *out = NULL;
      return napi_ok;
  }
}

static void drain(napi_env env, cd_addon *a) {
  cd_event *evs[BATCH_MAX];
  napi_value cb, values, global;
  cd_env_poll_begin(a->env);
  for (;;) {
    size_t n = cd_env_poll(a->env, evs, BATCH_MAX);
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
      int32_t *m = a->meta + i * META_FIELDS;
      m[0] = ev->type;
      m[1] = (int32_t)ev->slot;
      m[2] = ev->a;
      m[3] = ev->b;
      m[4] = ev->c;
      m[5] = ev->d;
      if (ev->type == CD_EV_DATA && ev->len <= SLAB_CHUNK_MAX && slab_used + ev->len <= SLAB_SIZE) {
        memcpy(a->slab + slab_used, ev->data, ev->len);
        m[0] = EV_DATA_SLAB;
        m[4] = (int32_t)slab_used;
        m[5] = (int32_t)ev->len;
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
    for (uint32_t i = 0; i < a->finished_len; i++) slot_free(env, a, a->finished[i]);
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
  update_ref(env, a);
}

static void call_js(napi_env env, napi_value js_cb, void *context, void *data) {
  if (env == NULL) return;  /* the function is being torn down */
  drain(env, context);
}

static void notify_from_worker(void *ctx) {
  cd_addon *a = ctx;
  napi_call_threadsafe_function(a->tsfn, NULL, napi_tsfn_nonblocking);
}

/* ---- exported functions --------------------------------------------------------- */

/* init(onEvents, meta: Int32Array, values: Array, slab: Uint8Array) -> batch capacity */
static napi_value js_init(napi_env env, napi_callback_info info) {
  cd_addon *a = get_addon(env);
  size_t argc = 4;
  napi_value argv[4], res;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (a->initialized) return throw_msg(env, "curl-dispatcher native: already initialized");
  napi_typedarray_type type;
  size_t length;
  void *data;
  CHECK(napi_get_typedarray_info(env, argv[1], &type, &length, &data, NULL, NULL));
  if (type != napi_int32_array || length < BATCH_MAX * META_FIELDS)
    return throw_msg(env, "curl-dispatcher native: meta must be an Int32Array of BATCH_MAX*6");
  a->meta = data;
  CHECK(napi_get_typedarray_info(env, argv[3], &type, &length, &data, NULL, NULL));
  if (type != napi_uint8_array || length < SLAB_SIZE)
    return throw_msg(env, "curl-dispatcher native: slab must be a Uint8Array of SLAB_SIZE");
  a->slab = data;
  CHECK(napi_create_reference(env, argv[3], 1, &a->slab_ref));
  CHECK(napi_create_reference(env, argv[0], 1, &a->on_events));
  CHECK(napi_create_reference(env, argv[1], 1, &a->meta_ref));
  CHECK(napi_create_reference(env, argv[2], 1, &a->values));

  napi_value name;
  CHECK(napi_create_string_utf8(env, "curl-dispatcher", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_create_threadsafe_function(env, NULL, NULL, name, 0, 1, NULL, NULL, a, call_js, &a->tsfn));
  CHECK(napi_unref_threadsafe_function(env, a->tsfn));
  a->env = cd_env_attach(a->engine, notify_from_worker, a);
  if (a->env == NULL) return throw_msg(env, "curl-dispatcher native: cannot attach to the engine");
  a->initialized = 1;
  CHECK(napi_create_uint32(env, BATCH_MAX, &res));
  return res;
}

/* ensureThreads(n) -> pool size */
static napi_value js_ensure_threads(napi_env env, napi_callback_info info) {
  cd_addon *a = get_addon(env);
  size_t argc = 1;
  napi_value argv[1], res;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint32_t n = 1;
  napi_get_value_uint32(env, argv[0], &n);
  CHECK(napi_create_uint32(env, cd_engine_ensure_workers(a->engine, n), &res));
  return res;
}

static napi_status prop(napi_env env, napi_value obj, const char *key, napi_value *out) {
  return napi_get_named_property(env, obj, key, out);
}

static int64_t prop_i64(napi_env env, napi_value obj, const char *key) {
  napi_value v;
  napi_valuetype t;
  if (prop(env, obj, key, &v) != napi_ok || napi_typeof(env, v, &t) != napi_ok || t != napi_number) return 0;
  return get_i64(env, v);
}

/* A string or Buffer/Uint8Array property, copied into *out (malloc). */
static int prop_bytes(napi_env env, napi_value obj, const char *key, char **out, size_t *len) {
  napi_value v;
  napi_valuetype t;
  bool is_buf = false;
  *out = NULL;
  *len = 0;
  if (prop(env, obj, key, &v) != napi_ok || napi_typeof(env, v, &t) != napi_ok) return -1;
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
  if (prop(env, obj, key, &v) == napi_ok && napi_typeof(env, v, &t) == napi_ok && t == napi_boolean)
    napi_get_value_bool(env, v, &b);
  return b;
}

/* createConfig({ connectTimeout, keepAliveTimeout, connections, maxHeaderSize,
 *   rejectUnauthorized, ca, cert, key, proxyHttp, proxyHttps, proxyHeaders,
 *   proxyTunnel, proxyCa, proxyRejectUnauthorized, socketPath, localAddress,
 *   happyEyeballsTimeout }) -> id
 * Strings arrive validated by lib/agent.js (no NUL, no CR/LF in values). */
static napi_value js_create_config(napi_env env, napi_callback_info info) {
  cd_addon *a = get_addon(env);
  size_t argc = 1;
  napi_value argv[1], res;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  cd_config_opts o;
  memset(&o, 0, sizeof(o));
  o.connect_timeout_ms = (long)prop_i64(env, argv[0], "connectTimeout");
  o.keepalive_timeout_ms = (long)prop_i64(env, argv[0], "keepAliveTimeout");
  o.connections = (unsigned)prop_i64(env, argv[0], "connections");
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
  if (c == NULL) return throw_msg(env, "curl-dispatcher native: invalid options or out of memory");
  if (a->configs_len == a->configs_cap) {
    uint32_t cap = a->configs_cap ? a->configs_cap * 2 : 8;
    cd_config **cs = realloc(a->configs, cap * sizeof(*cs));
    if (cs == NULL) {
      cd_config_release(c);
      return throw_msg(env, "out of memory");
    }
    a->configs = cs;
    a->configs_cap = cap;
  }
  /* Ids are never reused within an environment; released entries stay NULL. */
  a->configs[a->configs_len] = c;
  CHECK(napi_create_uint32(env, a->configs_len++, &res));
  return res;
}

static napi_value js_release_config(napi_env env, napi_callback_info info) {
  cd_addon *a = get_addon(env);
  size_t argc = 1;
  napi_value argv[1];
  uint32_t id = 0;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  napi_get_value_uint32(env, argv[0], &id);
  if (id < a->configs_len && a->configs[id] != NULL) {
    cd_config_release(a->configs[id]);
    a->configs[id] = NULL;
  }
  return NULL;
}

/* submit(configId, url, origin, method, headers, bodyMode, bodyLength,
 *        headersTimeout, bodyTimeout, worker, flags (CD_REQ_*), httpVersion,
 *        connectTo: string | null, body: Uint8Array | undefined) -> slot
 * `body` is the whole request body: the engine reads it in place (a
 * reference keeps it alive until the terminal event), no copy. */
static napi_value js_submit(napi_env env, napi_callback_info info) {
  cd_addon *a = get_addon(env);
  size_t argc = 14;
  napi_value argv[14];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 13) return throw_msg(env, "curl-dispatcher native: submit needs 13 arguments");
  void *body_data = NULL;
  size_t body_len = 0;
  if (argc >= 14) {
    napi_valuetype bt;
    napi_typeof(env, argv[13], &bt);
    if (bt == napi_object) {
      napi_typedarray_type tt;
      if (napi_get_typedarray_info(env, argv[13], &tt, &body_len, &body_data, NULL, NULL) != napi_ok ||
          tt != napi_uint8_array)
        return throw_msg(env, "curl-dispatcher native: body must be a Uint8Array");
    }
  }
  uint32_t config_id = 0;
  napi_get_value_uint32(env, argv[0], &config_id);
  if (config_id >= a->configs_len || a->configs[config_id] == NULL)
    return throw_msg(env, "curl-dispatcher native: unknown config");

  char url_s[STACK_STR], origin_s[256], method_s[64], headers_s[STACK_STR], connect_s[256];
  size_t headers_len = 0;
  char *connect_to = NULL;
  napi_valuetype connect_type;
  napi_typeof(env, argv[12], &connect_type);
  if (connect_type == napi_string && (connect_to = get_latin1(env, argv[12], connect_s, sizeof(connect_s), NULL)) == NULL)
    return NULL;
  char *url = get_latin1(env, argv[1], url_s, sizeof(url_s), NULL);
  char *origin = url ? get_latin1(env, argv[2], origin_s, sizeof(origin_s), NULL) : NULL;
  char *method = origin ? get_latin1(env, argv[3], method_s, sizeof(method_s), NULL) : NULL;
  char *headers = method ? get_latin1(env, argv[4], headers_s, sizeof(headers_s), &headers_len) : NULL;
  napi_value out = NULL;
  uint32_t slot;
  if (headers != NULL) {
    if (slot_alloc(a, &slot) != 0) {
      napi_throw_error(env, NULL, "out of memory");
    } else {
      cd_request_opts o = {
          .url = url,
          .origin = origin,
          .method = method,
          .headers = headers,
          .headers_len = headers_len,
          .body_mode = (int)get_i64(env, argv[5]),
          .body_length = get_i64(env, argv[6]),
          .headers_timeout_ms = (uint32_t)get_i64(env, argv[7]),
          .body_timeout_ms = (uint32_t)get_i64(env, argv[8]),
          .worker = (unsigned)get_i64(env, argv[9]),
          .flags = (int)get_i64(env, argv[10]),
          .http_version = (int)get_i64(env, argv[11]),
          .connect_to = connect_to,
          .body_data = body_data,
          .body_data_len = body_len,
          .slot = slot,
      };
      cd_request *req = cd_request_submit(a->env, a->configs[config_id], &o);
      if (req == NULL) {
        a->free_slots[a->free_len++] = slot;
        napi_throw_error(env, NULL, "curl-dispatcher native: out of memory");
      } else {
        a->slots[slot] = req;
        if (body_data != NULL) napi_create_reference(env, argv[13], 1, &a->body_refs[slot]);
        a->inflight++;
        update_ref(env, a);
        napi_create_uint32(env, slot, &out);
      }
    }
  }
  if (url) free_str(url, url_s);
  if (origin) free_str(origin, origin_s);
  if (method) free_str(method, method_s);
  if (headers) free_str(headers, headers_s);
  if (connect_to) free_str(connect_to, connect_s);
  return out;
}

/* write(slot, chunk: Uint8Array | null, end: boolean) */
static napi_value js_write(napi_env env, napi_callback_info info) {
  cd_addon *a = get_addon(env);
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  cd_request *req = slot_request(env, a, argv[0]);
  if (req == NULL) return NULL;
  void *data = NULL;
  size_t len = 0;
  napi_valuetype t;
  napi_typeof(env, argv[1], &t);
  if (t != napi_null && t != napi_undefined) {
    napi_typedarray_type tt;
    size_t elems;
    if (napi_get_typedarray_info(env, argv[1], &tt, &elems, &data, NULL, NULL) != napi_ok || tt != napi_uint8_array)
      return throw_msg(env, "curl-dispatcher native: write expects a Uint8Array");
    len = elems;
  }
  bool end = false;
  napi_get_value_bool(env, argv[2], &end);
  if (cd_request_write(a->env, req, data, len, end) != 0) return throw_msg(env, "out of memory");
  return NULL;
}

static napi_value js_pause(napi_env env, napi_callback_info info) {
  cd_addon *a = get_addon(env);
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  cd_request *req = slot_request(env, a, argv[0]);
  if (req) cd_request_pause(req);
  return NULL;
}

static napi_value js_resume(napi_env env, napi_callback_info info) {
  cd_addon *a = get_addon(env);
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  cd_request *req = slot_request(env, a, argv[0]);
  if (req) cd_request_resume(a->env, req);
  return NULL;
}

static napi_value js_abort(napi_env env, napi_callback_info info) {
  cd_addon *a = get_addon(env);
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  cd_request *req = slot_request(env, a, argv[0]);
  if (req) cd_request_abort(a->env, req);
  return NULL;
}

static napi_status set_num(napi_env env, napi_value obj, const char *key, double v) {
  napi_value n;
  napi_status st = napi_create_double(env, v, &n);
  return st == napi_ok ? napi_set_named_property(env, obj, key, n) : st;
}

/* stats() -> live object counts (engine-wide) and this environment's. */
static napi_value js_stats(napi_env env, napi_callback_info info) {
  cd_addon *a = get_addon(env);
  cd_engine_stats s;
  napi_value obj;
  cd_engine_get_stats(a->engine, &s);
  CHECK(napi_create_object(env, &obj));
  set_num(env, obj, "requests", (double)s.requests);
  set_num(env, obj, "transfers", (double)s.transfers);
  set_num(env, obj, "events", (double)s.events);
  set_num(env, obj, "commands", (double)s.commands);
  set_num(env, obj, "handles", (double)s.handles);
  set_num(env, obj, "envs", (double)s.envs);
  set_num(env, obj, "configs", (double)s.configs);
  set_num(env, obj, "workers", (double)s.workers);
  set_num(env, obj, "inflight", (double)a->inflight);
  return obj;
}

/* ---- lifecycle ------------------------------------------------------------ */

static void cleanup(void *arg) {
  cd_addon *a = arg;
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
      {"init", js_init},         {"ensureThreads", js_ensure_threads},
      {"createConfig", js_create_config}, {"releaseConfig", js_release_config},
      {"submit", js_submit},     {"write", js_write},
      {"pause", js_pause},       {"resume", js_resume},
      {"abort", js_abort},       {"stats", js_stats},
  };
  for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
    napi_value f;
    napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &f);
    napi_set_named_property(env, exports, fns[i].name, f);
  }
  napi_value cap;
  napi_create_uint32(env, BATCH_MAX * META_FIELDS, &cap);
  napi_set_named_property(env, exports, "META_LENGTH", cap);
  napi_create_uint32(env, SLAB_SIZE, &cap);
  napi_set_named_property(env, exports, "SLAB_LENGTH", cap);
  return exports;
}
