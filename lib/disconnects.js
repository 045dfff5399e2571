'use strict'

// Connection closes (the engine's CD_EV_DISCONNECTED, which carries no
// request) handed to their agent in undici's order: after the terminal
// callback of the request the connection carried, and a turn of the event
// loop later, as a socket's 'close' event comes (setImmediate: after that
// callback's ticks and microtasks). The engine queues a close before the
// END of the request that closed it, sometimes in an earlier batch; so a
// close whose origin still has requests in flight waits for the end of one
// more batch (the END follows at once), or 20 ms at most.
//
// The bridge (lib/native.js) reports each close and the end of each batch
// here (onConnectionEvents); agents register their origins (lib/origins.js) by config id
// (lib/engine-dispatcher.js).

const { setImmediate, setTimeout } = require('./timers')
const { onConnectionEvents } = require('./native')

// configId -> WeakRef(Origins)
const originsByConfig = new Map()

let pendingDisconnects = []
let readyDisconnects = []
let holdTimer = null

function registerOrigins (configId, origins) {
  originsByConfig.set(configId, new WeakRef(origins))
}

function forgetOrigins (configId) {
  originsByConfig.delete(configId)
}

// A connection of config `configId` to `origin` closed.
function disconnected (configId, origin) {
  pendingDisconnects.push({ configId, origin, held: false })
}

// The bridge delivered a batch of events.
function batchEnd () {
  if (pendingDisconnects.length > 0) sortDisconnects(false)
}

function sortDisconnects (force) {
  const held = []
  for (const d of pendingDisconnects) {
    const origins = originsByConfig.get(d.configId)?.deref()
    if (origins === undefined) continue
    if (!force && !d.held && origins.busy(d.origin)) {
      d.held = true
      held.push(d)
    } else {
      if (readyDisconnects.length === 0) setImmediate(emitDisconnects)
      readyDisconnects.push([origins, d.origin])
    }
  }
  pendingDisconnects = held
  if (held.length > 0 && holdTimer === null) {
    holdTimer = setTimeout(() => {
      holdTimer = null
      sortDisconnects(true)
    }, 20).unref()
  }
}

function emitDisconnects () {
  const ready = readyDisconnects
  readyDisconnects = []
  for (const [origins, origin] of ready) {
    try {
      origins.disconnected(origin)
    } catch (err) {
      process.nextTick(() => { throw err })
    }
  }
}

onConnectionEvents({ disconnected, batchEnd })

module.exports = { registerOrigins, forgetOrigins }
