'use strict'

// Agent: undici's Dispatcher interface on top of the libcurl engine.
//
// State lives in plain (underscore) properties rather than #private fields:
// Dispatcher#compose() returns a Proxy, and methods called through it run
// with `this` set to that Proxy, where #private access would throw.

const os = require('node:os')
const { Dispatcher, errors } = require('undici')
const { binding } = require('./native')
const { normalizeRequest } = require('./request')
const { CurlRequest, adaptHandler } = require('./dispatch')

const { InvalidArgumentError, NotSupportedError, ClientClosedError, ClientDestroyedError } = errors

const MAX_THREADS = 64
const DEFAULT_TIMEOUT = 300e3
const DEFAULT_KEEPALIVE = 4e3
const DEFAULT_CONNECT_TIMEOUT = 10e3

// One worker thread per spare core, at least one: the JS thread needs a
// core of its own to run the handlers.
const DEFAULT_THREADS = Math.max(1, Math.min(4, (os.availableParallelism?.() ?? os.cpus().length) - 1))

function checkTimeout (value, name) {
  if (value != null && (!Number.isInteger(value) || value < 0)) {
    throw new InvalidArgumentError(`${name} must be a positive integer or zero`)
  }
}

function tlsBytes (value, name) {
  if (value == null) return undefined
  const list = Array.isArray(value) ? value : [value]
  const parts = list.map((v) => {
    if (typeof v === 'string') return v
    if (Buffer.isBuffer(v) || v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('latin1')
    throw new InvalidArgumentError(`connect.${name} must be a string, a Buffer or an array of them`)
  })
  return parts.join('\n')
}

function validateOptions (opts) {
  if (opts === null || typeof opts !== 'object') throw new InvalidArgumentError('options must be an object')
  const {
    threads, connections, headersTimeout, bodyTimeout, connectTimeout, keepAliveTimeout,
    maxHeaderSize, connect, allowH2
  } = opts
  if (threads != null && (!Number.isInteger(threads) || threads < 1 || threads > MAX_THREADS)) {
    throw new InvalidArgumentError(`threads must be an integer from 1 to ${MAX_THREADS}`)
  }
  if (connections != null && (!Number.isInteger(connections) || connections <= 0)) {
    throw new InvalidArgumentError('invalid connections')
  }
  checkTimeout(headersTimeout, 'headersTimeout')
  checkTimeout(bodyTimeout, 'bodyTimeout')
  checkTimeout(connectTimeout, 'connectTimeout')
  if (keepAliveTimeout != null && (!Number.isFinite(keepAliveTimeout) || keepAliveTimeout <= 0)) {
    throw new InvalidArgumentError('invalid keepAliveTimeout')
  }
  if (maxHeaderSize != null && (!Number.isInteger(maxHeaderSize) || maxHeaderSize < 1)) {
    throw new InvalidArgumentError('invalid maxHeaderSize')
  }
  if (allowH2 != null && typeof allowH2 !== 'boolean') {
    throw new InvalidArgumentError('allowH2 must be a valid boolean value')
  }
  if (connect != null) {
    if (typeof connect === 'function') {
      throw new NotSupportedError('connect as a function is not supported: libcurl makes the connections')
    }
    if (typeof connect !== 'object') throw new InvalidArgumentError('connect must be a function or an object')
    checkTimeout(connect.timeout, 'connect.timeout')
    if (connect.rejectUnauthorized != null && typeof connect.rejectUnauthorized !== 'boolean') {
      throw new InvalidArgumentError('connect.rejectUnauthorized must be a boolean')
    }
    if (connect.servername != null && typeof connect.servername !== 'string') {
      throw new InvalidArgumentError('connect.servername must be a string')
    }
    if (connect.socketPath != null) throw new NotSupportedError('connect.socketPath is not supported yet')
  }
}

const configRegistry = new FinalizationRegistry((configId) => binding.releaseConfig(configId))

class Agent extends Dispatcher {
  constructor (opts = {}) {
    super()
    validateOptions(opts)
    const connect = opts.connect ?? {}
    this._threads = opts.threads ?? DEFAULT_THREADS
    this._headersTimeout = opts.headersTimeout ?? DEFAULT_TIMEOUT
    this._bodyTimeout = opts.bodyTimeout ?? DEFAULT_TIMEOUT
    this._connectTimeout = opts.connectTimeout ?? connect.timeout ?? DEFAULT_CONNECT_TIMEOUT
    this._httpVersion = opts.allowH2 ? 1 : 0
    this._configId = binding.createConfig({
      connectTimeout: this._connectTimeout,
      keepAliveTimeout: opts.keepAliveTimeout ?? DEFAULT_KEEPALIVE,
      connections: opts.connections ?? 0,
      maxHeaderSize: opts.maxHeaderSize ?? 16 * 1024,
      rejectUnauthorized: connect.rejectUnauthorized ?? true,
      ca: tlsBytes(connect.ca, 'ca'),
      cert: tlsBytes(connect.cert, 'cert'),
      key: tlsBytes(connect.key, 'key')
    })
    this._servername = connect.servername ?? null
    this._poolSize = binding.ensureThreads(this._threads)
    this._connections = opts.connections ?? null
    this._origins = new Map()  // origin -> { active, needDrain }, with `connections` only
    this._active = new Set()
    this._closed = false
    this._destroyed = false
    this._onClosed = []
    this._configReleased = false
    // An agent dropped without close(): its config (and the idle
    // connections cached for it) goes when the agent is collected.
    configRegistry.register(this, this._configId, this)
  }

  get closed () {
    return this._closed
  }

  get destroyed () {
    return this._destroyed
  }

  dispatch (opts, handler) {
    handler = adaptHandler(handler)
    const req = new CurlRequest(this, handler)
    let norm
    try {
      if (opts === null || typeof opts !== 'object') throw new InvalidArgumentError('opts must be an object.')
      if (this._destroyed) throw new ClientDestroyedError()
      if (this._closed) throw new ClientClosedError()
      norm = normalizeRequest(opts)
    } catch (err) {
      req.failImmediately(err)
      return false
    }
    this._active.add(req)
    const free = this._connections === null || this._countOrigin(norm.target, 1)
    req.start(norm, this._configId, Math.min(this._threads, this._poolSize))
    return free
  }

  // With `connections`, as undici: dispatch() returns false once an origin
  // has that many requests running or queued, and 'drain' (origin, targets)
  // follows when one of them ends.
  _countOrigin (target, delta) {
    let entry = this._origins.get(target.origin)
    if (entry === undefined) {
      entry = { active: 0, needDrain: false }
      this._origins.set(target.origin, entry)
    }
    entry.active += delta
    if (delta > 0) {
      if (entry.active < this._connections) return true
      entry.needDrain = true
      return false
    }
    if (entry.needDrain && entry.active < this._connections) {
      entry.needDrain = false
      this.emit('drain', new URL(target.origin), [this]) // a URL, as undici's
    }
    if (entry.active === 0) this._origins.delete(target.origin)
    return true
  }

  // Called once per request when both the handler and the engine are done.
  _requestFinished (req) {
    if (req.finished) return
    req.finished = true
    this._active.delete(req)
    if (this._connections !== null && req.norm !== null) this._countOrigin(req.norm.target, -1)
    if (this._active.size === 0 && (this._closed || this._destroyed)) this._finishClose()
  }

  _finishClose () {
    if (!this._configReleased) {
      this._configReleased = true
      configRegistry.unregister(this)
      binding.releaseConfig(this._configId)
    }
    const callbacks = this._onClosed
    this._onClosed = []
    queueMicrotask(() => {
      // As undici: once close() has resolved, the agent is destroyed too.
      if (this._closed) this._destroyed = true
      for (const cb of callbacks) cb(null, null)
    })
  }

  close (callback) {
    if (callback === undefined) {
      return new Promise((resolve, reject) => {
        this.close((err, data) => (err ? reject(err) : resolve(data)))
      })
    }
    if (typeof callback !== 'function') throw new InvalidArgumentError('invalid callback')
    if (this._destroyed) {
      queueMicrotask(() => callback(new ClientDestroyedError(), null))
      return
    }
    this._onClosed.push(callback)
    this._closed = true
    if (this._active.size === 0) this._finishClose()
  }

  destroy (err, callback) {
    if (typeof err === 'function') {
      callback = err
      err = null
    }
    if (callback === undefined) {
      return new Promise((resolve, reject) => {
        this.destroy(err, (e, data) => (e ? reject(e) : resolve(data)))
      })
    }
    if (typeof callback !== 'function') throw new InvalidArgumentError('invalid callback')
    if (this._destroyed) {
      if (this._active.size === 0) queueMicrotask(() => callback(null, null))
      else this._onClosed.push(callback)
      return
    }
    this._destroyed = true
    this._onClosed.push(callback)
    const reason = err ?? new ClientDestroyedError()
    for (const req of [...this._active]) req.abort(reason)
    if (this._active.size === 0) this._finishClose()
  }

  /** Live object counts of the engine (for leak checks and diagnostics). */
  static engineStats () {
    return binding.stats()
  }
}

module.exports = Agent
