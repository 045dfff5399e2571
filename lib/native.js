'use strict'

// The JS half of the bridge, attached once per Node environment (each
// worker_thread loads its own copy of this module and so gets its own rings
// and slots): the shared batch buffers, the slot -> request table, and the
// routing of event batches.
//
// Events arrive in batches through onEvents(count): the fixed fields of
// event i are meta[i * META_FIELDS + META_TYPE | META_SLOT | META_A .. META_D]
// (napi/cd_protocol.h); events that carry a payload (HEADERS, DATA, END,
// ERROR, CONNECTED, DISCONNECTED) take the next entry of `values`, except
// small body chunks (EV_DATA_SLAB), which the bridge copies into `slab`,
// and large ones the worker wrote into a landing (EV_DATA_LANDED).
// Connection closes, which carry no request, go to the listener set with
// onConnectionEvents (lib/disconnects.js), which the bridge calls without
// knowing what it does with them.

const binding = require('./binding')
const {
  EV_DATA, EV_DATA_SLAB, EV_DATA_LANDED, LANDINGS, LANDING_MIN, LANDING_CAP, EV_BODY_WANTED, EV_END, EV_ERROR, EV_ABORTED, EV_CONNECTING, EV_DISCONNECTED, SLOT_NONE,
  META_FIELDS, META_TYPE, META_SLOT, META_A, META_B, META_C, META_D, BATCH_MAX, SLAB_SIZE,
  SUBMIT_FIELDS, SUBMIT_CONFIG, SUBMIT_BODY_MODE, SUBMIT_BODY_LENGTH, SUBMIT_HEADERS_TIMEOUT,
  SUBMIT_BODY_TIMEOUT, SUBMIT_WORKER, SUBMIT_FLAGS, SUBMIT_HTTP_VERSION
} = require('./constants')

// lib/disconnects.js: disconnected(configId, origin) for each close,
// batchEnd() after each batch.
let connections = { disconnected () {}, batchEnd () {} }

// Returns the listener it replaces (test/core.test.js puts it back).
function onConnectionEvents (listener) {
  const previous = connections
  connections = listener
  return previous
}

function isTerminal (type) {
  return type === EV_END || type === EV_ERROR || type === EV_ABORTED
}

const meta = new Int32Array(BATCH_MAX * META_FIELDS)
const slab = Buffer.alloc(SLAB_SIZE)
const values = []
const submitFields = new Float64Array(SUBMIT_FIELDS)
// slot -> request state (lib/request.js); cleared on the terminal event.
const requests = []

// Landings (engine.h): Buffers lent to each worker to write large bodies
// into, so that their bytes reach the handler without a second copy.
// worker -> Array of Buffers by id. A worker gets LANDINGS_STEP more each
// time it had to copy a large chunk for want of one, up to LANDINGS: an
// environment that downloads nothing large holds none, and one that does
// ends up with about as many as it has large chunks in flight (at most
// LANDINGS x LANDING_CAP, 8 MiB, per worker, kept for reuse).
const landings = []
const LANDINGS_STEP = 8

function giveLanding (worker, id, buffer) {
  try {
    binding.giveLanding(worker, id, buffer)
    landings[worker][id] = buffer
  } catch {
    landings[worker][id] = undefined // the worker copies instead
  }
}

function supplyLandings (worker) {
  const given = landings[worker] ?? (landings[worker] = [])
  const end = Math.min(LANDINGS, given.length + LANDINGS_STEP)
  for (let id = given.length; id < end; id++) giveLanding(worker, id, Buffer.allocUnsafeSlow(LANDING_CAP))
}

// The bytes of a landed DATA event. A well-filled landing becomes the
// chunk itself and the worker gets a new one; a thin one is copied out,
// so that a small chunk never holds a whole landing, and lent again.
function takeLanded (worker, id, length) {
  const landing = landings[worker][id]
  if (length * 2 >= landing.length) {
    giveLanding(worker, id, Buffer.allocUnsafeSlow(LANDING_CAP))
    return length === landing.length ? landing : landing.subarray(0, length)
  }
  // its own memory: on Node 24 Buffer.allocUnsafe of 16 KiB came out of a
  // 64 KiB slab (test/body.test.js, "large bodies in landings")
  const chunk = Buffer.allocUnsafeSlow(length)
  landing.copy(chunk, 0, 0, length)
  giveLanding(worker, id, landing)
  return chunk
}

function onEvents (count) {
  let vi = 0
  for (let i = 0; i < count; i++) {
    const o = i * META_FIELDS
    let type = meta[o + META_TYPE]
    const slot = meta[o + META_SLOT]
    let payload
    if (type === EV_DATA_LANDED) {
      payload = takeLanded(meta[o + META_B], meta[o + META_C], meta[o + META_D])
      type = EV_DATA
    } else if (type === EV_DATA_SLAB) {
      // Buffer.allocUnsafe takes small sizes from Node's shared pool.
      const offset = meta[o + META_C]
      const length = meta[o + META_D]
      payload = Buffer.allocUnsafe(length)
      slab.copy(payload, 0, offset, offset + length)
      type = EV_DATA
    } else if (type !== EV_BODY_WANTED && type !== EV_ABORTED && type !== EV_CONNECTING) { // those carry nothing
      payload = values[vi]
      values[vi++] = undefined
    }
    if (slot === SLOT_NONE) {
      if (type === EV_DISCONNECTED) connections.disconnected(meta[o + META_A], payload)
      continue
    }
    const req = requests[slot]
    if (isTerminal(type)) requests[slot] = undefined
    if (req === undefined) continue
    if (type === EV_DATA && payload.length >= LANDING_MIN && req.worker >= 0) supplyLandings(req.worker)
    try {
      req.onEngineEvent(type, meta[o + META_A], meta[o + META_B], meta[o + META_C], meta[o + META_D], payload)
    } catch (err) {
      // Handler errors are caught inside onEngineEvent; this is a bug of
      // ours. Report it without losing the rest of the batch.
      process.nextTick(() => { throw err })
    }
  }
  connections.batchEnd()
}

/**
 * Hands one request to the engine; returns its slot. The descriptor:
 *   { configId, url, origin, method, headers, bodyMode, bodyLength,
 *     headersTimeout, bodyTimeout, worker, flags, httpVersion,
 *     connectTo, body, target, decodeSkip }
 * url/origin/method/headers: latin1 strings (headers: "name: value\n"
 * lines); bodyMode BODY_*, bodyLength bytes or -1 (chunked); timeouts in
 * ms (0 disables); worker: index, taken modulo the pool; flags REQ_*;
 * httpVersion HTTP_*; connectTo: "HOST:PORT:ADDR:PORT" or null; body: the
 * whole in-memory body (a Uint8Array the engine reads in place until the
 * terminal event) or undefined; target: an absolute-form request target
 * (the request's path as an absolute URL), or undefined; decodeSkip: with
 * REQ_DECODE, the statuses whose bodies stay coded ("204,304").
 * The numbers travel in the shared `submitFields` (napi/cd_protocol.h,
 * SUBMIT_*), read by the bridge without an N-API call; the strings and
 * the body are the arguments of the one native call (napi/cd_requests.c).
 */
function submit (d) {
  submitFields[SUBMIT_CONFIG] = d.configId
  submitFields[SUBMIT_BODY_MODE] = d.bodyMode
  submitFields[SUBMIT_BODY_LENGTH] = d.bodyLength
  submitFields[SUBMIT_HEADERS_TIMEOUT] = d.headersTimeout
  submitFields[SUBMIT_BODY_TIMEOUT] = d.bodyTimeout
  submitFields[SUBMIT_WORKER] = d.worker
  submitFields[SUBMIT_FLAGS] = d.flags
  submitFields[SUBMIT_HTTP_VERSION] = d.httpVersion
  return binding.submit(d.url, d.origin, d.method, d.headers, d.connectTo, d.body, d.target, d.decodeSkip)
}

binding.init(onEvents, meta, values, slab, submitFields)

module.exports = {
  binding,
  submit,
  requests,
  isTerminal,
  onConnectionEvents,
  // the batch the bridge fills, and its reader: test/core.test.js feeds
  // batches of its own through them
  batch: { meta, values, slab, onEvents }
}
