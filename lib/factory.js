'use strict'

// The `factory` option, as undici's Agent has it: a function
// (origin, options) => Dispatcher that makes the dispatcher serving one
// origin. A user who passes it asks for their own per-origin dispatcher
// (an undici Pool with a custom connector, a mock, a Client), so an agent
// with a factory routes every request to what the factory made and runs
// none of its own: no engine config, no workers. What this file keeps is
// the router's bookkeeping, as undici's Agent does it: one dispatcher per
// origin key, its events re-emitted by the agent with the agent first in
// `targets`, `maxOrigins` counted over the dispatchers alive, and a
// dispatcher closed (and forgotten) once its last connection has gone or
// its connection failed, so that an idle origin holds nothing.

const { errors } = require('undici')
const { refuseRequest } = require('./request')
const { adaptHandler } = require('./handler')

const { InvalidArgumentError, MaxOriginsReachedError } = errors

class FactoryRouter {
  /**
   * Owned by one Agent, used on the JS thread only.
   * @param {import('./agent')} agent  emits the re-emitted events
   * @param {Function} factory         (origin, options) => Dispatcher
   * @param {object} options           passed to every factory call
   * @param {() => void} checkOpen      throws when the agent is closed or destroyed
   */
  constructor (agent, factory, options, checkOpen) {
    this.agent = agent
    this.checkOpen = checkOpen
    this.factory = factory
    this.options = options
    this.maxOrigins = options.maxOrigins ?? Infinity
    this.entries = new Map() // origin key -> { dispatcher, connected }
  }

  // The agent's own checks, then the origin's dispatcher takes the request
  // and the user's handler as they came.
  dispatch (opts, handler) {
    try {
      if (opts === null || typeof opts !== 'object') throw new InvalidArgumentError('opts must be an object.')
      this.checkOpen()
      return this.route(opts, handler)
    } catch (err) {
      refuseRequest(adaptHandler(handler), err)
      return false
    }
  }

  route (opts, handler) {
    const origin = opts.origin
    if (!origin || (typeof origin !== 'string' && !(origin instanceof URL))) {
      throw new InvalidArgumentError('opts.origin must be a non-empty string or URL.')
    }
    const key = String(origin)
    let entry = this.entries.get(key)
    if (entry === undefined) {
      if (this.entries.size >= this.maxOrigins) throw new MaxOriginsReachedError()
      entry = this.open(key, origin)
    }
    return entry.dispatcher.dispatch(opts, handler)
  }

  open (key, origin) {
    const dispatcher = this.factory(origin, this.options)
    if (dispatcher === null || typeof dispatcher !== 'object' || typeof dispatcher.dispatch !== 'function') {
      throw new InvalidArgumentError('factory must return a Dispatcher')
    }
    const entry = { dispatcher, connected: 0 }
    const agent = this.agent
    dispatcher
      .on('drain', (o, targets) => agent.emit('drain', o, [agent, ...targets]))
      .on('connect', (o, targets) => {
        entry.connected++
        agent.emit('connect', o, [agent, ...targets])
      })
      .on('disconnect', (o, targets, err) => {
        entry.connected--
        this.closeIfUnused(key, entry)
        agent.emit('disconnect', o, [agent, ...targets], err)
      })
      .on('connectionError', (o, targets, err) => {
        this.closeIfUnused(key, entry)
        agent.emit('connectionError', o, [agent, ...targets], err)
      })
    this.entries.set(key, entry)
    return entry
  }

  // No connection left: the dispatcher is closed (its queued requests
  // still run to their end) and the next request to the origin makes a
  // new one.
  closeIfUnused (key, entry) {
    if (entry.connected > 0 || this.entries.get(key) !== entry) return
    this.entries.delete(key)
    if (!entry.dispatcher.destroyed) entry.dispatcher.close().catch(() => {})
  }

  // Requests run in the origins' dispatchers, which close() waits for.
  get busy () {
    return false
  }

  close () {
    const all = [...this.entries.values()].map((e) => e.dispatcher.close())
    this.entries.clear()
    return Promise.all(all)
  }

  destroy (err) {
    const all = [...this.entries.values()].map((e) => e.dispatcher.destroy(err))
    this.entries.clear()
    return Promise.all(all)
  }

  // As undici's Agent#stats: each dispatcher's own stats, by origin.
  get stats () {
    const out = {}
    for (const [key, { dispatcher }] of this.entries) {
      const stats = dispatcher.stats
      if (stats) out[new URL(key).origin] = stats
    }
    return out
  }
}

module.exports = { FactoryRouter }
