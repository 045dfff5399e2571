/* cd_constants.c - the `constants` export (see cd_constants.h). */
#include "cd_constants.h"

#include <stddef.h>

#include "cd_protocol.h"
#include "engine.h"

/* JS name (the C name without its CD_ / CD__ prefix) and value. */
#define ENGINE(name) {#name, (double)CD_##name}
#define BRIDGE(name) {#name, (double)CD__##name}
/* byte offset of a cd_timings field, as TIMINGS_OFFSET_<NAME> */
#define OFFSET(NAME, field) {"TIMINGS_OFFSET_" #NAME, (double)offsetof(cd_timings, field)}

static const struct {
  const char *name;
  double value;
} constants[] = {
    /* enum cd_event_type, and the bridge's own */
    ENGINE(EV_HEADERS), ENGINE(EV_DATA), ENGINE(EV_BODY_WANTED), ENGINE(EV_END),
    ENGINE(EV_ERROR), ENGINE(EV_ABORTED), ENGINE(EV_CONNECTED), ENGINE(EV_DISCONNECTED),
    ENGINE(EV_TIMINGS), ENGINE(EV_CONNECTING), ENGINE(EV_SENDING), BRIDGE(EV_DATA_SLAB), BRIDGE(EV_DATA_LANDED),
    /* landings (engine.h) */
    ENGINE(LANDINGS), ENGINE(LANDING_MIN), ENGINE(LANDING_CAP),
    /* what a request may have on its way to JS (engine.h) */
    ENGINE(RESPONSE_WINDOW),
    /* CD_SLOT_NONE as the Int32Array `meta` shows it */
    {"SLOT_NONE", (double)(int32_t)CD_SLOT_NONE},
    /* cd_request_opts.flags */
    ENGINE(REQ_RESET), ENGINE(REQ_PROXY), ENGINE(REQ_NO_RETRY), ENGINE(REQ_RAW), ENGINE(REQ_TIMINGS), ENGINE(REQ_RESOLVE), ENGINE(REQ_SENDING), ENGINE(REQ_DECODE), ENGINE(REQ_DECODE_ERRORS),
    /* enum cd_body_mode, enum cd_http_version */
    ENGINE(BODY_NONE), ENGINE(BODY_STREAM),
    ENGINE(HTTP_1_1), ENGINE(HTTP_2TLS), ENGINE(HTTP_2_PRIOR_KNOWLEDGE),
    /* enum cd_error, CD_EV_ERROR flags */
    ENGINE(ERR_HEADERS_TIMEOUT), ENGINE(ERR_BODY_TIMEOUT), ENGINE(ERR_HEADERS_OVERFLOW),
    ENGINE(ERR_NO_MEMORY), ENGINE(ERR_AMBIGUOUS_LENGTH), ENGINE(ERR_CONNECTION_LOST),
    ENGINE(ERR_BAD_CHUNK), ENGINE(ERR_TLS_HOSTNAME), ENGINE(ERR_DECODE),
    ENGINE(ERRF_CONNECTED), ENGINE(ERRF_HEADERS), ENGINE(ERRF_CONNECT_STATUS_SHIFT),
    ENGINE(ERRF_CONNECT_STATUS_MASK), ENGINE(ERRF_CURL_CODE_SHIFT),
    /* CD_EV_HEADERS facts */
    ENGINE(HEAD_KEEPS_ALIVE), ENGINE(HEAD_CHUNKED), ENGINE(HEAD_HAS_LENGTH), ENGINE(HEAD_DECODED),
    /* the CD_EV_TIMINGS payload: enum cd_timing, and struct cd_timings' layout */
    ENGINE(TIMING_QUEUED), ENGINE(TIMING_DNS), ENGINE(TIMING_CONNECT), ENGINE(TIMING_TLS),
    ENGINE(TIMING_SENT), ENGINE(TIMING_FIRST_BYTE), ENGINE(TIMING_TOTAL), ENGINE(TIMINGS),
    ENGINE(TIMINGS_ADDRESS_MAX), OFFSET(AT, at), OFFSET(SUBMIT_US, submit_us),
    OFFSET(REUSED, reused), OFFSET(REMOTE_PORT, remote_port),
    OFFSET(HTTP_VERSION, http_version), OFFSET(REMOTE_ADDRESS, remote_address),
    {"TIMINGS_SIZE", (double)sizeof(cd_timings)},
    /* limits and defaults */
    ENGINE(MAX_WORKERS), ENGINE(DEFAULT_MAX_HEADER_SIZE),
    /* event batches (cd_protocol.h) */
    BRIDGE(META_TYPE), BRIDGE(META_SLOT), BRIDGE(META_A), BRIDGE(META_B), BRIDGE(META_C),
    BRIDGE(META_D), BRIDGE(META_FIELDS), BRIDGE(BATCH_MAX), BRIDGE(SLAB_SIZE),
    /* the request descriptor's numeric fields (cd_protocol.h) */
    BRIDGE(SUBMIT_CONFIG), BRIDGE(SUBMIT_BODY_MODE), BRIDGE(SUBMIT_BODY_LENGTH),
    BRIDGE(SUBMIT_HEADERS_TIMEOUT), BRIDGE(SUBMIT_BODY_TIMEOUT), BRIDGE(SUBMIT_WORKER),
    BRIDGE(SUBMIT_FLAGS), BRIDGE(SUBMIT_HTTP_VERSION), BRIDGE(SUBMIT_FIELDS),
};

napi_status cd__constants_create(napi_env env, napi_value *out) {
  napi_status st = napi_create_object(env, out);
  for (size_t i = 0; st == napi_ok && i < sizeof(constants) / sizeof(constants[0]); i++) {
    napi_value v;
    st = napi_create_double(env, constants[i].value, &v);
    if (st == napi_ok) st = napi_set_named_property(env, *out, constants[i].name, v);
  }
  return st == napi_ok ? napi_object_freeze(env, *out) : st;
}
