/* cd_args.h - N-API argument reading and error throwing for the bridge.
 * JS thread only. */
#ifndef CD_ARGS_H
#define CD_ARGS_H

#include <stddef.h>
#include <stdint.h>

#include <node_api.h>

/* Returns from the calling napi_callback with a JS error if `call` fails. */
#define CD__CHECK(call)                                                 \
  do {                                                                  \
    if ((call) != napi_ok) return cd__throw_last(env, #call);           \
  } while (0)

/* Throws an Error describing the last N-API failure (unless an exception
 * is already pending). Returns NULL, for `return cd__throw_last(...)`. */
napi_value cd__throw_last(napi_env env, const char *what);

/* Throws an Error with `msg`. Returns NULL. */
napi_value cd__throw_msg(napi_env env, const char *msg);

/* Copies a JS string (latin1: one byte per code unit, as HTTP wants) into
 * `stack` or a malloc'd buffer, NUL-terminated. Returns NULL on error (an
 * exception is pending). Free with cd__free_str(s, stack). */
char *cd__get_latin1(napi_env env, napi_value v, char *stack, size_t stack_len, size_t *len_out);
void cd__free_str(char *s, char *stack);

/* A JS number as int64 (0 when it is not a number). */
int64_t cd__get_i64(napi_env env, napi_value v);

/* A double from a shared Float64Array as int64: 0 when not finite,
 * saturated at the int64 range, truncated toward zero. */
int64_t cd__f64_to_i64(double v);

#endif /* CD_ARGS_H */
