'use strict'

// The addon, attached once per Node environment (each worker_thread loads
// its own copy of this module and so gets its own rings and slots).
//
// Events arrive in batches through onEvents(count): the fixed fields of
// event i are meta[6*i .. 6*i+5] = type, slot, a, b, c, d; events that carry
// a payload (HEADERS, DATA, END, ERROR) take the next entry of `values`,
// except small body chunks, which the bridge copies into `slab`.

const path = require('node:path')

function loadBinding () {
  const root = path.join(__dirname, '..', 'build')
  const tried = []
  for (const dir of ['Release', 'Debug']) {
    const file = path.join(root, dir, 'curl_dispatcher.node')
    try {
      return require(file)
    } catch (err) {
      if (err.code !== 'MODULE_NOT_FOUND') throw err
      tried.push(file)
    }
  }
  throw new Error(`curl-dispatcher: native addon not built (looked for ${tried.join(', ')}); run \`node tools/setup.js\``)
}

const binding = loadBinding()

const EV_HEADERS = 1
const EV_DATA = 2
const EV_BODY_WANTED = 3
const EV_END = 4
const EV_ERROR = 5
const EV_ABORTED = 6
// Bridge-only: a small body chunk copied into `slab` (c = offset, d = length).
const EV_DATA_SLAB = 7
// The request opened a new connection; payload "ip port local-ip local-port".
const EV_CONNECTED = 8
// Environment-level (slot -1): a reported connection closed; a = config id,
// payload = origin.
const EV_DISCONNECTED = 9

function isTerminal (type) {
  return type === EV_END || type === EV_ERROR || type === EV_ABORTED
}

// configId -> WeakRef(agent), for connection events that have no request.
const agentsByConfig = new Map()

const meta = new Int32Array(binding.META_LENGTH)
const slab = Buffer.alloc(binding.SLAB_LENGTH)
const values = []
// slot -> request state (lib/dispatch.js); cleared on the terminal event.
const requests = []

function onEvents (count) {
  let vi = 0
  for (let i = 0; i < count; i++) {
    const o = i * 6
    let type = meta[o]
    const slot = meta[o + 1]
    let payload
    if (type === EV_DATA_SLAB) {
      // Buffer.allocUnsafe takes small sizes from Node's shared pool.
      const offset = meta[o + 4]
      const length = meta[o + 5]
      payload = Buffer.allocUnsafe(length)
      slab.copy(payload, 0, offset, offset + length)
      type = EV_DATA
    } else if (type !== EV_BODY_WANTED && type !== EV_ABORTED) {
      payload = values[vi]
      values[vi++] = undefined
    }
    if (slot === -1) {
      if (type === EV_DISCONNECTED) onDisconnected(meta[o + 2], payload)
      continue
    }
    const req = requests[slot]
    if (isTerminal(type)) requests[slot] = undefined
    if (req === undefined) continue
    try {
      req.onEngineEvent(type, meta[o + 2], meta[o + 3], meta[o + 4], meta[o + 5], payload)
    } catch (err) {
      // Handler errors are caught inside onEngineEvent; this is a bug of
      // ours. Report it without losing the rest of the batch.
      process.nextTick(() => { throw err })
    }
  }
}

function onDisconnected (configId, origin) {
  const agent = agentsByConfig.get(configId)?.deref()
  if (agent === undefined) return
  try {
    agent._onDisconnected(origin)
  } catch (err) {
    process.nextTick(() => { throw err })
  }
}

binding.init(onEvents, meta, values, slab)

module.exports = {
  binding,
  requests,
  EV_HEADERS,
  EV_DATA,
  EV_BODY_WANTED,
  EV_END,
  EV_ERROR,
  EV_ABORTED,
  EV_CONNECTED,
  isTerminal,
  agentsByConfig
}
