'use strict'

// Every number lib/ shares with C, from the addon's frozen `constants`
// (napi/cd_constants.c builds it from engine/engine.h and
// napi/cd_protocol.h): nothing here is retyped.
//
//   EV_*          event types (engine.h enum cd_event_type), and the bridge's
//                 EV_DATA_SLAB (a small body chunk in the shared slab)
//   SLOT_NONE     the slot of environment-level events (CD_SLOT_NONE as int32)
//   REQ_*         request flags          BODY_*   body modes
//   HTTP_*        HTTP versions          ERR_*    engine error codes
//   ERRF_*        CD_EV_ERROR flag bits, ERRF_CONNECT_STATUS_SHIFT and _MASK: the
//                 proxy's CONNECT status above them, ERRF_CURL_CODE_SHIFT:
//                 libcurl's CURLcode above that
//   HEAD_*        CD_EV_HEADERS facts of a final response head (its `c`)
//   META_*        one event in the batch's Int32Array: META_FIELDS int32s,
//                 field offsets META_TYPE, META_SLOT, META_A .. META_D
//   BATCH_MAX     events per batch       SLAB_SIZE  bytes of the slab
//   MAX_WORKERS   largest `threads`      DEFAULT_MAX_HEADER_SIZE
//
// Besides, lib/'s own flow-control policy (not shared with C):
//   BODY_HIGH_WATER  request body bytes (or upgraded-socket bytes) handed to
//                    the engine before waiting for EV_BODY_WANTED
//   BODY_CHUNK_COST  what one body chunk counts toward it beyond its bytes:
//                    the engine's command and chunk for it, so that a stream
//                    of tiny chunks is bounded in memory too
//   SPILL_IN_FLIGHT  requests of one origin in flight on its home worker
//                    before the next ones go to the least busy worker
//   PAUSE_HOLD_BYTES response body bytes a paused request holds on the JS
//                    side before the worker stops receiving (lib/request.js)

const { constants } = require('./binding')

module.exports = Object.freeze({
  ...constants,
  BODY_HIGH_WATER: 1024 * 1024,
  BODY_CHUNK_COST: 512,
  SPILL_IN_FLIGHT: 32,
  PAUSE_HOLD_BYTES: constants.RESPONSE_WINDOW
})
