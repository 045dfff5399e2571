/* cd_requests.c - submit, write, pause, resume, abort (see cd_requests.h). */
#include "cd_requests.h"

#include <stdlib.h>

#include "cd_addon.h"
#include "cd_args.h"
#include "cd_protocol.h"
#include "cd_slots.h"

#define STACK_STR 2048

/* submit(url, origin, method, headers, connectTo: string | null,
 *        body: Uint8Array | undefined, target: string | undefined,
 *        decodeSkip: string | undefined) -> slot
 *
 * One request descriptor (lib/native.js submit() documents the JS shape):
 * its numbers are in the shared Float64Array a->submit_fields, at the
 * CD__SUBMIT_* offsets (cd_protocol.h), written by JS just before this
 * call; its strings and body are the arguments. `decodeSkip`: with
 * CD_REQ_DECODE, the statuses whose bodies stay coded, as "204,304". `body` is the whole
 * request body: the engine reads it in place (a reference keeps it alive
 * until the terminal event), no copy. */
napi_value cd__js_submit(napi_env env, napi_callback_info info) {
  enum { URL, ORIGIN, METHOD, HEADERS, CONNECT_TO, BODY, TARGET, DECODE_SKIP, ARGS };
  cd_addon *a = cd__addon(env);
  size_t argc = ARGS;
  napi_value argv[ARGS];
  CD__CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < BODY) return cd__throw_msg(env, "curl-dispatcher native: submit needs 5 arguments");
  const double *f = a->submit_fields;
  void *body_data = NULL;
  size_t body_len = 0;
  if (argc > BODY) {
    napi_valuetype bt;
    napi_typeof(env, argv[BODY], &bt);
    if (bt == napi_object) {
      napi_typedarray_type tt;
      if (napi_get_typedarray_info(env, argv[BODY], &tt, &body_len, &body_data, NULL, NULL) != napi_ok ||
          tt != napi_uint8_array)
        return cd__throw_msg(env, "curl-dispatcher native: body must be a Uint8Array");
    }
  }
  int64_t config_id = cd__f64_to_i64(f[CD__SUBMIT_CONFIG]);
  if (config_id < 0 || config_id >= a->configs_len || a->configs[config_id] == NULL)
    return cd__throw_msg(env, "curl-dispatcher native: unknown config");

  char url_s[STACK_STR], origin_s[256], method_s[64], headers_s[STACK_STR], connect_s[256], target_s[STACK_STR];
  size_t headers_len = 0;
  char *target = NULL;
  if (argc > TARGET) {
    napi_valuetype target_type;
    napi_typeof(env, argv[TARGET], &target_type);
    if (target_type == napi_string &&
        (target = cd__get_latin1(env, argv[TARGET], target_s, sizeof(target_s), NULL)) == NULL)
      return NULL;
  }
  uint16_t decode_skip[CD_DECODE_SKIP_MAX];
  unsigned decode_skip_len = 0;
  if (argc > DECODE_SKIP) {
    char skip_s[128];
    napi_valuetype skip_type;
    napi_typeof(env, argv[DECODE_SKIP], &skip_type);
    char *skip = skip_type == napi_string ? cd__get_latin1(env, argv[DECODE_SKIP], skip_s, sizeof(skip_s), NULL) : NULL;
    for (char *p = skip; p != NULL && *p && decode_skip_len < CD_DECODE_SKIP_MAX;) {
      long code = strtol(p, &p, 10);
      if (code > 0 && code < 1000) decode_skip[decode_skip_len++] = (uint16_t)code;
      while (*p == ',' || *p == ' ') p++;
      if (*p && (*p < '0' || *p > '9')) break;
    }
    if (skip != NULL) cd__free_str(skip, skip_s);
  }
  char *connect_to = NULL;
  napi_valuetype connect_type;
  napi_typeof(env, argv[CONNECT_TO], &connect_type);
  if (connect_type == napi_string &&
      (connect_to = cd__get_latin1(env, argv[CONNECT_TO], connect_s, sizeof(connect_s), NULL)) == NULL) {
    if (target) cd__free_str(target, target_s);
    return NULL;
  }
  char *url = cd__get_latin1(env, argv[URL], url_s, sizeof(url_s), NULL);
  char *origin = url ? cd__get_latin1(env, argv[ORIGIN], origin_s, sizeof(origin_s), NULL) : NULL;
  char *method = origin ? cd__get_latin1(env, argv[METHOD], method_s, sizeof(method_s), NULL) : NULL;
  char *headers = method ? cd__get_latin1(env, argv[HEADERS], headers_s, sizeof(headers_s), &headers_len) : NULL;
  napi_value out = NULL;
  uint32_t slot;
  if (headers != NULL) {
    if (cd__slot_alloc(a, &slot) != 0) {
      napi_throw_error(env, NULL, "out of memory");
    } else {
      cd_request_opts o = {
          .url = url,
          .origin = origin,
          .method = method,
          .headers = headers,
          .headers_len = headers_len,
          .body_mode = (int)cd__f64_to_i64(f[CD__SUBMIT_BODY_MODE]),
          .body_length = cd__f64_to_i64(f[CD__SUBMIT_BODY_LENGTH]),
          .headers_timeout_ms = (uint32_t)cd__f64_to_i64(f[CD__SUBMIT_HEADERS_TIMEOUT]),
          .body_timeout_ms = (uint32_t)cd__f64_to_i64(f[CD__SUBMIT_BODY_TIMEOUT]),
          .worker = (unsigned)cd__f64_to_i64(f[CD__SUBMIT_WORKER]),
          .flags = (int)cd__f64_to_i64(f[CD__SUBMIT_FLAGS]),
          .http_version = (int)cd__f64_to_i64(f[CD__SUBMIT_HTTP_VERSION]),
          .connect_to = connect_to,
          .request_target = target,
          .body_data = body_data,
          .body_data_len = body_len,
          .slot = slot,
          .decode_skip = decode_skip,
          .decode_skip_len = decode_skip_len,
      };
      cd_request *req = cd_request_submit(a->env, a->configs[config_id], &o);
      if (req == NULL) {
        cd__slot_unreserve(a, slot);
        napi_throw_error(env, NULL, "curl-dispatcher native: out of memory");
      } else {
        a->slots[slot] = req;
        if (body_data != NULL) napi_create_reference(env, argv[BODY], 1, &a->body_refs[slot]);
        a->inflight++;
        cd__update_ref(env, a);
        napi_create_uint32(env, slot, &out);
      }
    }
  }
  if (url) cd__free_str(url, url_s);
  if (origin) cd__free_str(origin, origin_s);
  if (method) cd__free_str(method, method_s);
  if (headers) cd__free_str(headers, headers_s);
  if (connect_to) cd__free_str(connect_to, connect_s);
  if (target) cd__free_str(target, target_s);
  return out;
}

/* write(slot, chunk: Uint8Array | null, end: boolean) */
napi_value cd__js_write(napi_env env, napi_callback_info info) {
  cd_addon *a = cd__addon(env);
  size_t argc = 3;
  napi_value argv[3];
  CD__CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  cd_request *req = cd__slot_request(env, a, argv[0]);
  if (req == NULL) return NULL;
  void *data = NULL;
  size_t len = 0;
  napi_valuetype t;
  napi_typeof(env, argv[1], &t);
  if (t != napi_null && t != napi_undefined) {
    napi_typedarray_type tt;
    size_t elems;
    if (napi_get_typedarray_info(env, argv[1], &tt, &elems, &data, NULL, NULL) != napi_ok || tt != napi_uint8_array)
      return cd__throw_msg(env, "curl-dispatcher native: write expects a Uint8Array");
    len = elems;
  }
  bool end = false;
  napi_get_value_bool(env, argv[2], &end);
  if (cd_request_write(req, data, len, end) != 0) return cd__throw_msg(env, "out of memory");
  return NULL;
}

/* The request named by the first argument, a slot; NULL with an exception.
 * `second`, when not NULL, gets the second argument (undefined if none). */
static cd_request *slot_arg(napi_env env, napi_callback_info info, cd_addon *a, napi_value *second) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) {
    cd__throw_last(env, "napi_get_cb_info");
    return NULL;
  }
  if (second != NULL) *second = argv[1];
  return cd__slot_request(env, a, argv[0]);
}

/* pause(slot, hold): hold true, receiving stops (cd_request_pause); else
 * only the consumer is paused and JS holds what comes meanwhile
 * (cd_request_pause_consumer). */
napi_value cd__js_pause(napi_env env, napi_callback_info info) {
  napi_value hold_arg;
  cd_request *req = slot_arg(env, info, cd__addon(env), &hold_arg);
  if (req == NULL) return NULL;
  bool hold = false;
  if (napi_get_value_bool(env, hold_arg, &hold) != napi_ok) hold = false;
  if (hold) cd_request_pause(req); else cd_request_pause_consumer(req);
  return NULL;
}

/* resume(slot) */
napi_value cd__js_resume(napi_env env, napi_callback_info info) {
  cd_addon *a = cd__addon(env);
  cd_request *req = slot_arg(env, info, a, NULL);
  if (req) cd_request_resume(req);
  return NULL;
}

/* abort(slot) */
napi_value cd__js_abort(napi_env env, napi_callback_info info) {
  cd_addon *a = cd__addon(env);
  cd_request *req = slot_arg(env, info, a, NULL);
  if (req) cd_request_abort(req);
  return NULL;
}
