'use strict'

// Agent: undici's Dispatcher interface on top of the libcurl engine.
//
// State lives in plain (underscore) properties rather than #private fields:
// Dispatcher#compose() returns a Proxy, and methods called through it run
// with `this` set to that Proxy, where #private access would throw.

const undici = require('undici')
const { Dispatcher, errors } = undici
const { binding } = require('./native')
const { registerAgent, forgetAgent } = require('./disconnects')
const { kSettings } = require('./symbols')
const {
  DEFAULT_KEEPALIVE, DEFAULT_THREADS, validateOptions, mergeTlsOption, tlsBytes, agentSettings
} = require('./agent-options')
const { HTTP_1_1, HTTP_2TLS, HTTP_2_PRIOR_KNOWLEDGE, SPILL_IN_FLIGHT } = require('./constants')
const { normalizeRequest, parseOrigin } = require('./normalize')
const { CurlRequest } = require('./request')
const { adaptHandler, checkHandler } = require('./handler')
const { parseProxyOption } = require('./proxy')
const { timingsOption } = require('./timings')
const { FactoryRouter } = require('./factory')

const { InvalidArgumentError, ClientClosedError, ClientDestroyedError, SocketError, InformationalError } = errors

// The user's undici's MaxOriginsReachedError; a look-alike if it has none.
const MaxOriginsReachedError = errors.MaxOriginsReachedError ?? class MaxOriginsReachedError extends errors.UndiciError {
  constructor (message) {
    super(message)
    this.name = 'MaxOriginsReachedError'
    this.message = message || 'Maximum allowed origins reached'
    this.code = 'UND_ERR_MAX_ORIGINS_REACHED'
  }
}

const configRegistry = new FinalizationRegistry((configId) => {
  forgetAgent(configId)
  binding.releaseConfig(configId)
})

// undici's Agent's own default factory (a connector function, lib/factory.js)
function undiciPool (origin, options) {
  return options.connections === 1 ? new undici.Client(origin, options) : new undici.Pool(origin, options)
}

class Agent extends Dispatcher {
  constructor (opts = {}) {
    super()
    opts = mergeTlsOption(opts)
    validateOptions(opts)
    this._closed = false
    this._destroyed = false
    this._onClosed = []
    this._active = new Set()
    // What its requests read (lib/request.js, lookup.js, upgrade.js,
    // diagnostics.js), fixed for the agent's life.
    const connect = typeof opts.connect === 'object' && opts.connect !== null ? opts.connect : {}
    const settings = this[kSettings] = agentSettings(opts, connect)
    if (opts.factory != null || typeof opts.connect === 'function') {
      // the user's own dispatcher per origin (lib/factory.js): nothing of
      // the engine is made for this agent. A connector function makes
      // sockets in JS, which libcurl cannot use: such an agent serves each
      // origin with undici's own Pool around that connector, as undici's
      // Agent would.
      const { factory = undiciPool, threads, ...options } = opts
      this._router = new FactoryRouter(this, factory, options)
      return
    }
    this._router = null
    this._threads = opts.threads ?? DEFAULT_THREADS
    this._httpVersion = opts.allowH2 ? HTTP_2TLS : HTTP_1_1
    this._useH2c = opts.useH2c === true
    this._proxy = parseProxyOption(opts.proxy)
    // pipelining: 0 closes the connection after each request; libcurl has
    // no HTTP/1.1 pipelining, so values above 1 run as 1.
    this._resetAll = opts.pipelining === 0 || opts.pipelining === false
    this._strictContentLength = opts.strictContentLength ?? true
    this._configId = binding.createConfig({
      ...this._proxy?.config,
      proxyCa: tlsBytes(opts.proxy?.proxyTls?.ca, 'ca'),
      socketPath: opts.socketPath ?? connect.socketPath,
      localAddress: opts.localAddress,
      // libcurl always falls back across address families (happy eyeballs);
      // the attempt timeout is the head start of the first family.
      happyEyeballsTimeout: opts.autoSelectFamilyAttemptTimeout > 0 ? opts.autoSelectFamilyAttemptTimeout : 0,
      connectTimeout: settings.connectTimeout,
      keepAliveTimeout: opts.keepAliveTimeout ?? DEFAULT_KEEPALIVE,
      keepAliveTimeoutThreshold: settings.keepAliveTimeoutThreshold,
      connections: opts.connections ?? 0,
      // HTTP/1.x: a connection closes after carrying this many requests
      maxRequestsPerClient: opts.maxRequestsPerClient ?? 0,
      maxConcurrentStreams: opts.maxConcurrentStreams ?? 0,
      maxHeaderSize: settings.maxHeaderSize,
      rejectUnauthorized: connect.rejectUnauthorized ?? true,
      ca: tlsBytes(connect.ca, 'ca'),
      cert: tlsBytes(connect.cert, 'cert'),
      key: tlsBytes(connect.key, 'key')
    })
    this._poolSize = binding.ensureThreads(this._threads)
    this._connections = opts.connections ?? null
    this._maxOrigins = opts.maxOrigins ?? Infinity
    this._origins = new Map()  // origin -> { active, connected, needDrain, resets }
    registerAgent(this._configId, this)
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
    if (this._router !== null) return this._routeDispatch(opts, handler)
    try {
      handler = adaptHandler(handler)
    } catch (err) {
      // No callback to report to, so it throws; as undici's Request, what
      // is wrong with the options is said first.
      if (handler !== null && typeof handler === 'object' && opts !== null && typeof opts === 'object') {
        normalizeRequest(opts, this._strictContentLength, this._resetAll)
      }
      throw err
    }
    const req = new CurlRequest(this, handler)
    let norm
    try {
      if (opts === null || typeof opts !== 'object') throw new InvalidArgumentError('opts must be an object.')
      if (this._destroyed) throw new ClientDestroyedError()
      if (this._closed) throw new ClientClosedError()
      norm = normalizeRequest(opts, this._strictContentLength, this._resetAll)
      // maxOrigins (undici 7): origins in use are those with requests in
      // flight or connections open.
      if (this._origins.size >= this._maxOrigins && !this._origins.has(norm.target.origin)) {
        throw new MaxOriginsReachedError()
      }
      checkHandler(handler, norm.raw)
      norm.timings = timingsOption(norm.timings)
      norm.httpVersion = this._useH2c && norm.target.protocol === 'http:' ? HTTP_2_PRIOR_KNOWLEDGE : this._httpVersion
      norm.proxied = this._proxy !== null && this._proxy.uses(norm.target)
      norm.connectAddress = norm.proxied ? this._proxy.connectAddress(norm.target) : null
    } catch (err) {
      req.failImmediately(err)
      return false
    }
    this._active.add(req)
    const free = this._countOrigin(norm.target, 1)
    req.start(norm, this._configId, Math.min(this._threads, this._poolSize))
    return free
  }

  // With a factory: the agent's own checks, then the origin's dispatcher
  // takes the request and the user's handler as they came.
  _routeDispatch (opts, handler) {
    try {
      if (opts === null || typeof opts !== 'object') throw new InvalidArgumentError('opts must be an object.')
      if (this._destroyed) throw new ClientDestroyedError()
      if (this._closed) throw new ClientClosedError()
      return this._router.dispatch(opts, handler)
    } catch (err) {
      new CurlRequest(this, adaptHandler(handler)).failImmediately(err)
      return false
    }
  }

  // With `connections`, as undici: dispatch() returns false once an origin
  // has that many requests running or queued, and 'drain' (origin, targets)
  // follows when one of them ends.
  _origin (origin) {
    let entry = this._origins.get(origin)
    if (entry === undefined) {
      // workers: requests in flight per worker (_pickWorker), when spread
      entry = { active: 0, connected: 0, needDrain: false, resets: 0, failures: [], workers: undefined }
      this._origins.set(origin, entry)
    }
    return entry
  }

  _countOrigin (target, delta) {
    const entry = this._origin(target.origin)
    entry.active += delta
    const limit = this._connections ?? Infinity
    if (delta > 0) {
      if (entry.active < limit) return true
      entry.needDrain = true
      return false
    }
    if (entry.needDrain && entry.active < limit) {
      entry.needDrain = false
      this.emit('drain', new URL(target.origin), [this]) // a URL, as undici's
    }
    if (entry.active === 0 && entry.connected === 0) this._origins.delete(target.origin)
    return true
  }

  // The worker a request of this origin runs on. Its home worker (the
  // host name's hash, lib/normalize.js) keeps the origin's connections,
  // DNS answers and TLS sessions together; once SPILL_IN_FLIGHT of its
  // requests are in flight there, the next ones go to the least busy
  // worker of this agent, which keeps connections of its own to the origin:
  // one busy upstream can then use every worker rather than one. Not with
  // `connections`, a per-origin limit that each worker enforces for its
  // own transfers: spread over workers it would be exceeded.
  _pickWorker (target, threads) {
    const home = target.hash % threads
    if (threads === 1 || this._connections !== null) return home
    const entry = this._origin(target.origin)
    let load = entry.workers
    if (load === undefined || load.length < threads) {
      const grown = new Uint32Array(threads)
      if (load !== undefined) grown.set(load)
      load = entry.workers = grown
    }
    let pick = home
    if (load[home] >= SPILL_IN_FLIGHT) {
      for (let i = 1; i < threads; i++) {
        const w = (home + i) % threads
        if (load[w] < load[pick]) pick = w
      }
    }
    load[pick]++
    return pick
  }

  // Engine connection reports. undici's Agent emits these with
  // (origin URL, [agent, pool, client]); here the targets are [agent].
  _onConnected (target) {
    this._origin(target.origin).connected++
    this.emit('connect', new URL(target.origin), [this])
  }

  // Requests in flight to the origin (lib/native.js holds a connection's
  // close back while there are).
  _originBusy (key) {
    const entry = this._origins.get(parseOrigin(key).origin)
    return entry !== undefined && entry.active > 0
  }

  // A response said its connection closes after it (lib/request.js
  // closesConnection): undici destroys such a socket itself, and its
  // 'disconnect' carries InformationalError('reset').
  _expectReset (target) {
    const entry = this._origins.get(target.origin)
    if (entry !== undefined && entry.resets < entry.connected) entry.resets++
  }

  // An HTTP/1.1 request failed on its connection, which libcurl closes
  // with it: that close's 'disconnect' carries the request's error, as
  // undici's (it destroys the socket with it), and replaces the reset the
  // response head announced, if it did.
  _connectionFailed (target, err, announcedReset) {
    const entry = this._origins.get(target.origin)
    if (entry === undefined) return
    if (announcedReset && entry.resets > 0) entry.resets--
    if (entry.failures.length < entry.connected) entry.failures.push(err)
  }

  _onDisconnected (key) {
    // the engine names the origin by its key, default port included
    const origin = parseOrigin(key).origin
    const entry = this._origins.get(origin)
    if (entry === undefined) return
    entry.connected = Math.max(0, entry.connected - 1)
    let err
    if (entry.failures.length > 0) {
      err = entry.failures.shift()
    } else if (entry.resets > 0) {
      entry.resets--
      err = new InformationalError('reset')
    } else {
      err = new SocketError('closed')
    }
    entry.resets = Math.min(entry.resets, entry.connected)
    if (entry.failures.length > entry.connected) entry.failures.length = entry.connected
    if (entry.active === 0 && entry.connected === 0) this._origins.delete(origin)
    this.emit('disconnect', new URL(origin), [this], err)
  }

  _onConnectionError (target, err) {
    this.emit('connectionError', new URL(target.origin), [this], err)
  }

  /**
   * Per origin, as undici's Agent#stats: `connected` connections (as the
   * engine reported them), requests `running` on them and `pending`
   * (waiting for a connection under `connections`; `queued` is the same
   * number), `free` connections and `size` = running + pending.
   */
  get stats () {
    if (this._router !== null) return this._router.stats
    const out = {}
    for (const [origin, e] of this._origins) {
      const pending = this._connections === null ? 0 : Math.max(0, e.active - this._connections)
      const running = e.active - pending
      out[origin] = {
        connected: e.connected,
        free: Math.max(0, e.connected - running),
        pending,
        queued: pending,
        running,
        size: e.active
      }
    }
    return out
  }

  // Called once per request when both the handler and the engine are done.
  // lib/request.js settle(): once per request
  _requestFinished (req) {
    this._active.delete(req)
    if (req.worker >= 0) {
      const load = this._origins.get(req.norm.target.origin)?.workers
      if (load !== undefined) load[req.worker]--
    }
    if (req.norm !== null) this._countOrigin(req.norm.target, -1)
    if (this._active.size === 0 && (this._closed || this._destroyed)) this._finishClose()
  }

  _finishClose () {
    if (this._router === null && !this._configReleased) {
      this._configReleased = true
      configRegistry.unregister(this)
      binding.releaseConfig(this._configId)
      // Connections close once the config is released: their disconnect
      // events still reach this agent, until it is collected.
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
    if (this._router !== null) {
      if (!this._closed) this._routerDone(this._router.close())
      this._closed = true
      return
    }
    this._closed = true
    if (this._active.size === 0) this._finishClose()
  }

  _routerDone (promise) {
    promise.then(() => this._finishClose(), (err) => {
      const callbacks = this._onClosed
      this._onClosed = []
      for (const cb of callbacks) cb(err, null)
    })
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
    if (this._router !== null) {
      this._routerDone(this._router.destroy(err))
      return
    }
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
