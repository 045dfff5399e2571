/* cd_args.c - N-API argument reading and error throwing (see cd_args.h). */
#include "cd_args.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

napi_value cd__throw_last(napi_env env, const char *what) {
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

napi_value cd__throw_msg(napi_env env, const char *msg) {
  napi_throw_error(env, NULL, msg);
  return NULL;
}

char *cd__get_latin1(napi_env env, napi_value v, char *stack, size_t stack_len, size_t *len_out) {
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

void cd__free_str(char *s, char *stack) {
  if (s != stack) free(s);
}

int64_t cd__get_i64(napi_env env, napi_value v) {
  int64_t out = 0;
  napi_get_value_int64(env, v, &out);
  return out;
}

int64_t cd__f64_to_i64(double v) {
  if (!isfinite(v)) return 0;
  if (v >= 9223372036854775807.0) return INT64_MAX;
  if (v <= -9223372036854775808.0) return INT64_MIN;
  return (int64_t)v;
}
