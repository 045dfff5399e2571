'use strict'

// What an Agent without a factory dispatches through: its engine config
// (libcurl's settings for its transfers, napi/cd_config_js.c), its requests
// in flight (lib/request.js) and its per-origin state (lib/origins.js).
// The Agent (lib/agent.js) owns one, and keeps close/destroy's callbacks
// (lib/lifecycle.js); the same shape as lib/factory.js's FactoryRouter:
// dispatch(), stats, close() and destroy() returning promises. JS thread
// only.

const { errors } = require('undici')
const { binding } = require('./native')
const { registerOrigins, forgetOrigins } = require('./disconnects')
const { DEFAULT_KEEPALIVE, DEFAULT_THREADS, tlsBytes } = require('./agent-options')
const { HTTP_1_1, HTTP_2TLS, HTTP_2_PRIOR_KNOWLEDGE } = require('./constants')
const { normalizeRequest } = require('./normalize')
const { CurlRequest } = require('./request')
const { adaptHandler, checkHandler } = require('./handler')
const { parseProxyOption } = require('./proxy')
const { Origins } = require('./origins')

const { InvalidArgumentError, ClientDestroyedError } = errors

// The user's undici's MaxOriginsReachedError; a look-alike if it has none.
const MaxOriginsReachedError = errors.MaxOriginsReachedError ?? class MaxOriginsReachedError extends errors.UndiciError {
  constructor (message) {
    super(message)
    this.name = 'MaxOriginsReachedError'
    this.message = message || 'Maximum allowed origins reached'
    this.code = 'UND_ERR_MAX_ORIGINS_REACHED'
  }
}

// An agent dropped without close(): its config (and the idle connections
// cached for it) goes when its EngineDispatcher is collected.
const configRegistry = new FinalizationRegistry((configId) => {
  forgetOrigins(configId)
  binding.releaseConfig(configId)
})

function byDispatchOrder (a, b) {
  return a.dispatchOrder - b.dispatchOrder
}

class EngineDispatcher {
  /**
   * @param {import('./agent')} agent emits the agent's events
   * @param {object} opts the agent's options, validated
   * @param {object} connect opts.connect, or {}
   * @param {object} settings the agent's frozen settings (lib/agent-options.js)
   * @param {() => void} checkOpen throws when the agent is closed or destroyed
   */
  constructor (agent, opts, connect, settings, checkOpen) {
    this.settings = settings
    this.checkOpen = checkOpen
    this.threads = opts.threads ?? DEFAULT_THREADS
    this.httpVersion = opts.allowH2 ? HTTP_2TLS : HTTP_1_1
    this.useH2c = opts.useH2c === true
    this.proxy = parseProxyOption(opts.proxy)
    // pipelining: 0 closes the connection after each request; libcurl has
    // no HTTP/1.1 pipelining, so values above 1 run as 1.
    this.resetAll = opts.pipelining === 0 || opts.pipelining === false
    this.strictContentLength = opts.strictContentLength ?? true
    this.configId = binding.createConfig({
      ...this.proxy?.config,
      proxyCa: tlsBytes(opts.proxy?.proxyTls?.ca, 'ca'),
      socketPath: settings.socketPath ?? undefined,
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
    this.poolSize = binding.ensureThreads(this.threads)
    this.maxOrigins = opts.maxOrigins ?? Infinity
    this.origins = new Origins(agent, opts.connections ?? null)
    this.active = []          // CurlRequests not yet finished, each at its activeIndex
    this.dispatched = 0       // requests dispatched so far: each one's dispatchOrder
    this.idleWaiters = []     // close()/destroy() promises' resolvers
    this.configReleased = false
    // The HTTP version, proxy and decompress option of a request to
    // `target` (lib/normalize.js). Without a proxy only the scheme matters:
    // one frozen answer per scheme, no object per request.
    const httpVersionOf = (target) => this.useH2c && target.protocol === 'http:' ? HTTP_2_PRIOR_KNOWLEDGE : this.httpVersion
    if (this.proxy === null) {
      const direct = (protocol) => Object.freeze({
        httpVersion: httpVersionOf({ protocol }), proxied: false, connectAddress: null, decompress: settings.decompress
      })
      const http = direct('http:')
      const https = direct('https:')
      this.route = (target) => target.protocol === 'http:' ? http : https
    } else {
      this.route = (target) => {
        const proxied = this.proxy.uses(target)
        return {
          httpVersion: httpVersionOf(target),
          proxied,
          connectAddress: proxied ? this.proxy.connectAddress(target) : null,
          decompress: settings.decompress
        }
      }
    }
    registerOrigins(this.configId, this.origins)
    configRegistry.register(this, this.configId, this)
  }

  dispatch (opts, handler) {
    try {
      handler = adaptHandler(handler)
    } catch (err) {
      // No callback to report to, so it throws; as undici's Request, what
      // is wrong with the options is said first.
      if (handler !== null && typeof handler === 'object' && opts !== null && typeof opts === 'object') {
        normalizeRequest(opts, this.strictContentLength, this.resetAll)
      }
      throw err
    }
    const req = new CurlRequest(this, handler)
    let norm
    try {
      if (opts === null || typeof opts !== 'object') throw new InvalidArgumentError('opts must be an object.')
      this.checkOpen()
      norm = normalizeRequest(opts, this.strictContentLength, this.resetAll, this.route)
      // maxOrigins (undici 7): origins in use are those with requests in
      // flight or connections open.
      if (this.origins.size >= this.maxOrigins && !this.origins.has(norm.target.origin)) {
        throw new MaxOriginsReachedError()
      }
      checkHandler(handler, norm.raw)
    } catch (err) {
      req.failImmediately(err)
      return false
    }
    req.activeIndex = this.active.length
    req.dispatchOrder = ++this.dispatched
    this.active.push(req)
    const free = this.origins.count(norm.target, 1)
    req.start(norm, this.configId, Math.min(this.threads, this.poolSize))
    return free
  }

  // lib/request.js settle(): once per request, when both its handler and
  // the engine are done with it.
  requestFinished (req) {
    this.forget(req)
    if (req.norm !== null) {
      if (req.worker >= 0) this.origins.workerDone(req.norm.target, req.worker)
      this.origins.count(req.norm.target, -1)
    }
    this.checkIdle()
  }

  // Takes `req` out of `active`: the last one moves into its place.
  forget (req) {
    const i = req.activeIndex
    if (i < 0) return
    req.activeIndex = -1
    const last = this.active.pop()
    if (last !== req) {
      this.active[i] = last
      last.activeIndex = i
    }
  }

  get stats () {
    return this.origins.stats
  }

  get busy () {
    return this.active.length > 0
  }

  // Resolves once the requests in flight have ended; the config is
  // released then. Its connections close after that, and their
  // 'disconnect' events still reach the agent until it is collected.
  close () {
    return new Promise((resolve) => {
      this.idleWaiters.push(resolve)
      this.checkIdle()
    })
  }

  destroy (err) {
    const reason = err ?? new ClientDestroyedError()
    // in the order they were dispatched, as undici fails its queue
    for (const req of this.active.slice().sort(byDispatchOrder)) req.abort(reason)
    return this.close()
  }

  checkIdle () {
    if (this.active.length > 0 || this.idleWaiters.length === 0) return
    if (!this.configReleased) {
      this.configReleased = true
      configRegistry.unregister(this)
      binding.releaseConfig(this.configId)
    }
    const waiters = this.idleWaiters
    this.idleWaiters = []
    for (const resolve of waiters) resolve()
  }
}

module.exports = { EngineDispatcher }
