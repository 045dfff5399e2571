/* cd_load_js.c - load runs from JS (see cd_load_js.h).
 *
 * Ownership: a cd__load_js per run, held by two owners: the JS handle (an
 * external, whose finalizer drops one) and the run's threadsafe function
 * (its finalizer drops the other). The engine's run (cd_load) is freed by
 * loadFree, by the handle's finalizer, or by the environment's cleanup,
 * whichever comes first; each waits for the workers to let go.
 * Threading: JS thread, except on_done (a worker, inside cd_load's lock). */
#include "cd_load_js.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cd_args.h"
#include "load.h"

typedef struct cd__load_js {
  cd_load *load;                 /* NULL once freed */
  napi_threadsafe_function tsfn; /* calls onDone; released once it did (or at cleanup) */
  int tsfn_released;
  int refs;                      /* the external and the tsfn */
  cd_hdr *scratch;               /* merged latency, for loadRead */
  uint64_t codes[CD_LOAD_CODES];
  cd_addon *addon;               /* NULL once unlinked */
  struct cd__load_js *next, *prev; /* the environment's runs (cd_addon.loads) */
} cd__load_js;

static const char *const kind_names[CD_LOAD_ERR_KINDS] = {"refused", "timeout", "tls", "dns", "reset", "other"};

static void unref(cd__load_js *r) {
  if (--r->refs > 0) return;
  cd_hdr_free(r->scratch);
  free(r);
}

static void unlink_run(cd__load_js *r) {
  cd_addon *a = r->addon;
  if (a == NULL) return;
  if (r->prev) r->prev->next = r->next; else a->loads = r->next;
  if (r->next) r->next->prev = r->prev;
  r->next = r->prev = NULL;
  r->addon = NULL;
}

static void free_run(cd__load_js *r) {
  if (r->load != NULL) {
    cd_load_free(r->load);  /* waits for the workers; `done` came or never will */
    r->load = NULL;
  }
}

static void release_tsfn(cd__load_js *r, napi_threadsafe_function_release_mode mode) {
  if (r->tsfn_released) return;
  r->tsfn_released = 1;
  napi_release_threadsafe_function(r->tsfn, mode);
}

/* A worker: the run has ended. */
static void on_done(void *ctx) {
  cd__load_js *r = ctx;
  napi_call_threadsafe_function(r->tsfn, NULL, napi_tsfn_nonblocking);
}

static void call_js(napi_env env, napi_value js_cb, void *context, void *data) {
  (void)data;
  cd__load_js *r = context;
  if (env == NULL) return;  /* the environment is going away */
  release_tsfn(r, napi_tsfn_release);  /* one call only: the loop may exit now */
  napi_value undef;
  napi_get_undefined(env, &undef);
  napi_call_function(env, undef, js_cb, 0, NULL, NULL);
}

static void tsfn_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  unref(data);
}

static void handle_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  cd__load_js *r = data;
  free_run(r);
  unlink_run(r);
  unref(r);
}

void cd__load_js_cleanup(cd_addon *a) {
  while (a->loads != NULL) {
    cd__load_js *r = a->loads;
    free_run(r);
    release_tsfn(r, napi_tsfn_abort);
    unlink_run(r);
  }
}

static cd__load_js *get_run(napi_env env, napi_value v) {
  void *p = NULL;
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external || napi_get_value_external(env, v, &p) != napi_ok ||
      p == NULL) {
    napi_throw_type_error(env, NULL, "curl-dispatcher native: not a load handle");
    return NULL;
  }
  cd__load_js *r = p;
  if (r->load == NULL) {
    napi_throw_error(env, NULL, "curl-dispatcher native: the load run was freed");
    return NULL;
  }
  return r;
}

static double prop_num(napi_env env, napi_value obj, const char *key) {
  napi_value v;
  napi_valuetype t;
  double d = 0;
  if (napi_get_named_property(env, obj, key, &v) == napi_ok && napi_typeof(env, v, &t) == napi_ok &&
      t == napi_number)
    napi_get_value_double(env, v, &d);
  return isfinite(d) ? d : 0;
}

/* A string (latin1) or Buffer property, copied; *out NULL when absent. */
static int prop_bytes(napi_env env, napi_value obj, const char *key, char **out, size_t *len) {
  napi_value v;
  napi_valuetype t;
  *out = NULL;
  *len = 0;
  if (napi_get_named_property(env, obj, key, &v) != napi_ok || napi_typeof(env, v, &t) != napi_ok) return -1;
  if (t == napi_undefined || t == napi_null) return 0;
  if (t == napi_string) {
    char *s = cd__get_latin1(env, v, NULL, 0, len);
    if (s == NULL) return -1;
    *out = s;
    return 0;
  }
  bool is_buf = false;
  void *data;
  size_t n;
  if (napi_is_buffer(env, v, &is_buf) != napi_ok || !is_buf || napi_get_buffer_info(env, v, &data, &n) != napi_ok)
    return -1;
  *out = malloc(n + 1);
  if (*out == NULL) return -1;
  memcpy(*out, data, n);
  (*out)[n] = '\0';
  *len = n;
  return 0;
}

static void throw_code(napi_env env, const char *code, const char *msg) {
  napi_value c, m, err;
  napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &c);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
  napi_create_error(env, c, m, &err);
  napi_throw(env, err);
}

napi_value cd__js_load_start(napi_env env, napi_callback_info info) {
  cd_addon *a = cd__addon(env);
  size_t argc = 4;
  napi_value argv[4], res;
  CD__CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint32_t config_id = 0, ntmpl = 0;
  CD__CHECK(napi_get_value_uint32(env, argv[0], &config_id));
  if (config_id >= a->configs_len || a->configs[config_id] == NULL)
    return cd__throw_msg(env, "curl-dispatcher native: unknown config");
  CD__CHECK(napi_get_array_length(env, argv[1], &ntmpl));
  if (ntmpl == 0) return cd__throw_msg(env, "curl-dispatcher native: no request template");

  cd_load_opts o;
  memset(&o, 0, sizeof(o));
  o.connections = (unsigned)prop_num(env, argv[2], "connections");
  o.pipelining = (unsigned)prop_num(env, argv[2], "pipelining");
  o.threads = (unsigned)prop_num(env, argv[2], "threads");
  o.duration_ms = (uint64_t)prop_num(env, argv[2], "durationMs");
  o.amount = (uint64_t)prop_num(env, argv[2], "amount");
  o.rate = prop_num(env, argv[2], "rate");
  o.timeout_ms = (uint32_t)prop_num(env, argv[2], "timeoutMs");
  o.http_version = (int)prop_num(env, argv[2], "httpVersion");
  {
    napi_value v;
    bool b = false;
    if (napi_get_named_property(env, argv[2], "proxy", &v) == napi_ok && napi_get_value_bool(env, v, &b) == napi_ok && b)
      o.flags = CD_REQ_PROXY;
  }

  cd_load_template *t = calloc(ntmpl, sizeof(*t));
  char **strs = calloc((size_t)ntmpl * 4, sizeof(char *));
  cd__load_js *r = calloc(1, sizeof(*r));
  napi_value result = NULL;
  if (t == NULL || strs == NULL || r == NULL || (r->scratch = cd_hdr_new()) == NULL) {
    cd__throw_msg(env, "out of memory");
    goto out;
  }
  for (uint32_t i = 0; i < ntmpl; i++) {
    napi_value el;
    size_t len;
    if (napi_get_element(env, argv[1], i, &el) != napi_ok ||
        prop_bytes(env, el, "url", &strs[i * 4], &len) != 0 || strs[i * 4] == NULL ||
        prop_bytes(env, el, "method", &strs[i * 4 + 1], &len) != 0 ||
        prop_bytes(env, el, "headers", &strs[i * 4 + 2], &t[i].headers_len) != 0 ||
        prop_bytes(env, el, "body", &strs[i * 4 + 3], &t[i].body_len) != 0) {
      bool pending = false;
      napi_is_exception_pending(env, &pending);
      if (!pending) cd__throw_msg(env, "curl-dispatcher native: bad request template");
      goto out;
    }
    t[i].url = strs[i * 4];
    t[i].method = strs[i * 4 + 1];
    t[i].headers = strs[i * 4 + 2];
    t[i].body = strs[i * 4 + 3];
  }
  o.templates = t;
  o.templates_len = ntmpl;
  o.done = on_done;
  o.done_ctx = r;

  napi_value name;
  CD__CHECK(napi_create_string_utf8(env, "curl-dispatcher load", NAPI_AUTO_LENGTH, &name));
  if (napi_create_threadsafe_function(env, argv[3], NULL, name, 0, 1, r, tsfn_finalize, r, call_js, &r->tsfn) !=
      napi_ok) {
    cd__throw_last(env, "napi_create_threadsafe_function");
    goto out;
  }
  r->refs = 1;  /* the tsfn's; the external's below */
  cd_engine_ensure_workers(a->engine, o.threads ? o.threads : 1);
  int err = 0;
  r->load = cd_load_start(a->engine, a->configs[config_id], &o, &err);
  if (r->load == NULL) {
    static const char *const codes[] = {"CD_LOAD_OK", "CD_LOAD_EINVAL", "CD_LOAD_ENOMEM", "CD_LOAD_EH2C",
                                        "CD_LOAD_ENOWORKERS"};
    static const char *const msgs[] = {
        "", "invalid load options", "out of memory",
        "HTTP/2 over cleartext (h2c) needs libcurl 8.0 or later: use an https:// URL", "no worker thread"};
    int e = err >= 1 && err <= 4 ? err : 1;
    throw_code(env, codes[e], msgs[e]);
    release_tsfn(r, napi_tsfn_abort);  /* its finalizer frees r */
    r = NULL;
    goto out;
  }
  r->addon = a;
  r->next = a->loads;
  if (a->loads) a->loads->prev = r;
  a->loads = r;
  r->refs++;
  if (napi_create_external(env, r, handle_finalize, NULL, &res) != napi_ok) {
    /* cannot hand it to JS: stop it here */
    free_run(r);
    unlink_run(r);
    release_tsfn(r, napi_tsfn_abort);
    unref(r);
    r = NULL;
    cd__throw_last(env, "napi_create_external");
    goto out;
  }
  result = res;
  r = NULL;
out:
  if (r != NULL && r->tsfn == NULL) {
    cd_hdr_free(r->scratch);
    free(r);
  }
  if (strs != NULL)
    for (uint32_t i = 0; i < (uint32_t)ntmpl * 4; i++) free(strs[i]);
  free(strs);
  free(t);
  return result;
}

static napi_status set_f64(napi_env env, napi_value obj, const char *key, double v) {
  napi_value n;
  napi_status st = napi_create_double(env, v, &n);
  return st == napi_ok ? napi_set_named_property(env, obj, key, n) : st;
}

napi_value cd__js_load_read(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], obj, lat, kinds, status, pcts, codes;
  CD__CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  cd__load_js *r = get_run(env, argv[0]);
  if (r == NULL) return NULL;
  cd_load_counts c;
  cd_load_read(r->load, &c, r->scratch, r->codes);

  CD__CHECK(napi_create_object(env, &obj));
  set_f64(env, obj, "sent", (double)c.sent);
  set_f64(env, obj, "completed", (double)c.completed);
  set_f64(env, obj, "bytes", (double)c.bytes);
  set_f64(env, obj, "errors", (double)c.errors);
  set_f64(env, obj, "inflight", (double)c.inflight);
  set_f64(env, obj, "elapsedMs", (double)c.elapsed_us / 1000.0);
  napi_value b;
  CD__CHECK(napi_get_boolean(env, c.finished != 0, &b));
  CD__CHECK(napi_set_named_property(env, obj, "finished", b));

  CD__CHECK(napi_create_array_with_length(env, 6, &status));
  for (uint32_t i = 0; i < 6; i++) {
    napi_value n;
    CD__CHECK(napi_create_double(env, (double)c.status[i], &n));
    CD__CHECK(napi_set_element(env, status, i, n));
  }
  CD__CHECK(napi_set_named_property(env, obj, "status", status));

  CD__CHECK(napi_create_object(env, &kinds));
  for (int i = 0; i < CD_LOAD_ERR_KINDS; i++) set_f64(env, kinds, kind_names[i], (double)c.error_kinds[i]);
  CD__CHECK(napi_set_named_property(env, obj, "errorKinds", kinds));

  napi_value first;
  if (c.first_error_kind >= 0) {
    napi_value s;
    CD__CHECK(napi_create_object(env, &first));
    CD__CHECK(napi_create_string_utf8(env, kind_names[c.first_error_kind], NAPI_AUTO_LENGTH, &s));
    CD__CHECK(napi_set_named_property(env, first, "kind", s));
    set_f64(env, first, "code", c.first_error_code);
    CD__CHECK(napi_create_string_latin1(env, c.first_error, NAPI_AUTO_LENGTH, &s));
    CD__CHECK(napi_set_named_property(env, first, "message", s));
  } else {
    CD__CHECK(napi_get_null(env, &first));
  }
  CD__CHECK(napi_set_named_property(env, obj, "firstError", first));

  CD__CHECK(napi_create_object(env, &codes));
  for (int i = 0; i < CD_LOAD_CODES; i++) {
    if (r->codes[i] == 0) continue;
    napi_value n;
    CD__CHECK(napi_create_double(env, (double)r->codes[i], &n));
    CD__CHECK(napi_set_element(env, codes, (uint32_t)(i + 100), n));
  }
  CD__CHECK(napi_set_named_property(env, obj, "codes", codes));

  /* latency, microseconds */
  const cd_hdr *h = r->scratch;
  CD__CHECK(napi_create_object(env, &lat));
  set_f64(env, lat, "count", (double)h->total);
  set_f64(env, lat, "min", h->total ? (double)h->min : 0);
  set_f64(env, lat, "max", (double)h->max);
  set_f64(env, lat, "mean", cd_hdr_mean(h));
  set_f64(env, lat, "stddev", cd_hdr_stddev(h));
  uint32_t np = 0;
  bool is_array = false;
  if (argc >= 2 && napi_is_array(env, argv[1], &is_array) == napi_ok && is_array)
    napi_get_array_length(env, argv[1], &np);
  CD__CHECK(napi_create_array_with_length(env, np, &pcts));
  for (uint32_t i = 0; i < np; i++) {
    napi_value el, n;
    double p = 0;
    CD__CHECK(napi_get_element(env, argv[1], i, &el));
    napi_get_value_double(env, el, &p);
    CD__CHECK(napi_create_double(env, (double)cd_hdr_percentile(h, p), &n));
    CD__CHECK(napi_set_element(env, pcts, i, n));
  }
  CD__CHECK(napi_set_named_property(env, lat, "percentiles", pcts));
  CD__CHECK(napi_set_named_property(env, obj, "latency", lat));
  return obj;
}

napi_value cd__js_load_stop(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CD__CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  cd__load_js *r = get_run(env, argv[0]);
  if (r == NULL) return NULL;
  cd_load_stop(r->load);
  return NULL;
}

napi_value cd__js_load_free(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CD__CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  cd__load_js *r = get_run(env, argv[0]);
  if (r == NULL) return NULL;
  free_run(r);
  unlink_run(r);
  return NULL;
}
