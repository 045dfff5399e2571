'use strict'

// Agent: undici's Dispatcher interface on top of the libcurl engine. It
// validates its options (lib/agent-options.js), then serves requests
// through one backend fixed at construction: the engine
// (lib/engine-dispatcher.js), or, with a `factory` or a connector
// function, the user's own dispatcher per origin (lib/factory.js). Its
// close() and destroy() are lib/lifecycle.js's.
//
// State is kept under symbols (lib/symbols.js), not #private fields:
// Dispatcher#compose() returns a Proxy, and methods called through it run
// with `this` set to that Proxy, where #private access would throw.

const undici = require('undici')
const { Dispatcher } = undici
const { kBackend, kLifecycle } = require('./symbols')
const { validateOptions, mergeTlsOption, agentSettings } = require('./agent-options')
const { EngineDispatcher } = require('./engine-dispatcher')
const { FactoryRouter } = require('./factory')
const { Lifecycle } = require('./lifecycle')
const { binding } = require('./native')

// undici's Agent's own default factory (a connector function, lib/factory.js)
function undiciPool (origin, options) {
  return options.connections === 1 ? new undici.Client(origin, options) : new undici.Pool(origin, options)
}

class Agent extends Dispatcher {
  constructor (opts = {}) {
    super()
    opts = mergeTlsOption(opts)
    validateOptions(opts)
    const connect = typeof opts.connect === 'object' && opts.connect !== null ? opts.connect : {}
    // What its requests read (lib/request.js, lookup.js, upgrade.js,
    // diagnostics.js), fixed for the agent's life.
    const settings = agentSettings(opts, connect)
    const lifecycle = this[kLifecycle] = new Lifecycle()
    const checkOpen = () => lifecycle.checkOpen()
    if (opts.factory != null || typeof opts.connect === 'function') {
      // the user's own dispatcher per origin: nothing of the engine is made
      // for this agent. A connector function makes sockets in JS, which
      // libcurl cannot use: such an agent serves each origin with undici's
      // own Pool around that connector, as undici's Agent would.
      const { factory = undiciPool, threads, ...options } = opts
      lifecycle.backend = this[kBackend] = new FactoryRouter(this, factory, options, checkOpen)
    } else {
      lifecycle.backend = this[kBackend] = new EngineDispatcher(this, opts, connect, settings, checkOpen)
    }
  }

  get closed () {
    return this[kLifecycle].closed
  }

  get destroyed () {
    return this[kLifecycle].destroyed
  }

  dispatch (opts, handler) {
    return this[kBackend].dispatch(opts, handler)
  }

  /**
   * Per origin, as undici's Agent#stats (lib/origins.js; with a factory,
   * each origin's dispatcher's own stats).
   */
  get stats () {
    return this[kBackend].stats
  }

  close (callback) {
    return this[kLifecycle].close(callback)
  }

  destroy (err, callback) {
    return this[kLifecycle].destroy(err, callback)
  }

  /** Live object counts of the engine (for leak checks and diagnostics). */
  static engineStats () {
    return binding.stats()
  }
}

module.exports = Agent
