'use strict'

// The Duplex an upgrade or CONNECT hands to its handler (lib/upgrade.js):
// the bytes of a raw connection the engine keeps (libcurl owns the
// descriptor). Its state is under symbols (lib/symbols.js), off the names
// a user sees on a socket.

const { Duplex } = require('node:stream')
const { errors } = require('undici')
const { BODY_HIGH_WATER } = require('./constants')
const { kExchange, kPausedEngine, kInFlight, kWriteWaiter } = require('./symbols')

const { SocketError } = errors

/**
 * The Duplex handed to the handler: bytes to and from the raw connection.
 * Reads are paused in the engine while the readable side is full; writes
 * wait for the engine once BODY_HIGH_WATER bytes are on their way.
 */
class UpgradedSocket extends Duplex {
  constructor (exchange, address) {
    super({ allowHalfOpen: false }) // as net.Socket: the peer ending ends ours
    this[kExchange] = exchange
    this[kPausedEngine] = false
    this[kInFlight] = 0
    this[kWriteWaiter] = null
    Object.assign(this, address)
  }

  _read () {
    if (this[kPausedEngine]) {
      this[kPausedEngine] = false
      this[kExchange].resumeEngine()
    }
  }

  _write (chunk, encoding, callback) {
    if (!this[kExchange].write(chunk)) {
      callback(new SocketError('closed'))
      return
    }
    this[kInFlight] += chunk.length
    if (this[kInFlight] < BODY_HIGH_WATER) callback()
    else this[kWriteWaiter] = callback
  }

  _final (callback) {
    this[kExchange].end()
    callback()
  }

  _destroy (err, callback) {
    this[kExchange].close()
    flushWaiter(this, err ?? null)
    callback(err)
  }

  // net.Socket methods that callers use on upgraded sockets; libcurl owns
  // the descriptor, so they change nothing.
  setNoDelay () { return this }
  setKeepAlive () { return this }
  setTimeout (ms, cb) { if (cb) this.once('timeout', cb); return this }
  ref () { return this }
  unref () { return this }
  address () { return { address: this.localAddress, port: this.localPort, family: this.remoteFamily } }
}

function flushWaiter (socket, err) {
  const waiter = socket[kWriteWaiter]
  if (waiter !== null) {
    socket[kWriteWaiter] = null
    waiter(err)
  }
}

// The engine wrote what was on its way.
function socketSent (socket) {
  socket[kInFlight] = 0
  flushWaiter(socket, null)
}

// Bytes from the peer: the engine stops reading while the readable side is full.
function socketReceived (socket, chunk) {
  if (!socket.push(chunk) && !socket[kPausedEngine]) {
    socket[kPausedEngine] = true
    socket[kExchange].pauseEngine()
  }
}

module.exports = { UpgradedSocket, socketSent, socketReceived }
