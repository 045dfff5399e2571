/* cd_protocol.h - what the bridge and lib/native.js agree on, besides
 * engine.h: the layout of an event batch and the bridge's own event type.
 * Every value here reaches JS through the `constants` export
 * (cd_constants.c); lib/ never retypes one.
 */
#ifndef CD_PROTOCOL_H
#define CD_PROTOCOL_H

#include "engine.h"

/* One event in the shared Int32Array `meta`: CD__META_FIELDS int32s at
 * meta[i * CD__META_FIELDS], in this order. */
enum cd__meta_field {
  CD__META_TYPE = 0,   /* CD_EV_*, or CD__EV_DATA_SLAB */
  CD__META_SLOT = 1,   /* the request's slot; CD_SLOT_NONE (-1) for environment events */
  CD__META_A = 2,
  CD__META_B = 3,
  CD__META_C = 4,
  CD__META_D = 5,
  CD__META_FIELDS = 6
};

#define CD__BATCH_MAX 1024     /* events per JS call */

/* Body chunks smaller than Node's Buffer pool threshold (poolSize / 2) are
 * copied into a slab shared with JS, which copies them into pooled Buffers
 * (Buffer.allocUnsafe): no malloc and no N-API call per small chunk. */
#define CD__SLAB_CHUNK_MAX 4095
#define CD__SLAB_SIZE (256 * 1024)

/* The bridge's own event type: a DATA event whose bytes are in the slab,
 * meta c = offset, d = length. Outside the engine's range of event types
 * (enum cd_event_type counts up from 1), so the two can never meet. */
#define CD__EV_DATA_SLAB 0x100
/* And a DATA event whose bytes are in a landing (engine.h): meta b = the
 * worker, c = the landing's id, d = length. JS takes the bytes from the
 * Buffer it gave as that landing, and gives the id a landing again
 * (giveLanding). */
#define CD__EV_DATA_LANDED 0x101
_Static_assert(CD_EV_HEADERS < CD__EV_DATA_SLAB && CD_EV_DATA < CD__EV_DATA_SLAB &&
                   CD_EV_BODY_WANTED < CD__EV_DATA_SLAB && CD_EV_END < CD__EV_DATA_SLAB &&
                   CD_EV_ERROR < CD__EV_DATA_SLAB && CD_EV_ABORTED < CD__EV_DATA_SLAB &&
                   CD_EV_CONNECTED < CD__EV_DATA_SLAB && CD_EV_DISCONNECTED < CD__EV_DATA_SLAB &&
                   CD_EV_TIMINGS < CD__EV_DATA_SLAB && CD_EV_CONNECTING < CD__EV_DATA_SLAB &&
                   CD_EV_SENDING < CD__EV_DATA_SLAB,
               "engine event types must stay below the bridge's");

/* submit(): the numeric fields of the request descriptor, written by
 * lib/native.js into the shared Float64Array `submitFields` (handed over
 * by init) just before each submit call, which reads them without an
 * N-API call. The strings and the body are submit's arguments. */
enum cd__submit_field {
  CD__SUBMIT_CONFIG = 0,          /* config id (createConfig) */
  CD__SUBMIT_BODY_MODE = 1,       /* enum cd_body_mode */
  CD__SUBMIT_BODY_LENGTH = 2,     /* bytes, or -1 for chunked */
  CD__SUBMIT_HEADERS_TIMEOUT = 3, /* ms, 0 disables */
  CD__SUBMIT_BODY_TIMEOUT = 4,    /* ms, 0 disables */
  CD__SUBMIT_WORKER = 5,          /* worker index (taken modulo the pool) */
  CD__SUBMIT_FLAGS = 6,           /* CD_REQ_* */
  CD__SUBMIT_HTTP_VERSION = 7,    /* enum cd_http_version */
  CD__SUBMIT_FIELDS = 8
};

#endif /* CD_PROTOCOL_H */
