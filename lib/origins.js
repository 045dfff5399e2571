'use strict'

// Per-origin state of an engine-backed agent (lib/engine-dispatcher.js):
// requests in flight and the `connections` limit with its 'drain', the
// worker a request runs on (home worker, spill when busy), the connections
// the engine reported and the error each one's 'disconnect' carries, and
// Agent#stats. An origin is forgotten once it has neither requests nor
// connections. JS thread only; events are emitted on `emitter` (the
// agent) with [agent] as targets, where undici's Agent gives
// [agent, pool, client].

const { errors } = require('undici')
const { SPILL_IN_FLIGHT } = require('./constants')
const { parseOrigin } = require('./origin')

const { SocketError, InformationalError } = errors

class OriginEntry {
  constructor () {
    this.active = 0          // requests counted by count(), not yet ended
    this.connected = 0       // connections the engine reported open
    this.needDrain = false   // dispatch() returned false: 'drain' is owed
    this.resets = 0          // closes a response head announced (expectReset)
    this.failures = []       // errors of requests that took their connection down
    this.workers = undefined // Uint32Array: requests in flight per worker, once spread
  }
}

class Origins {
  /**
   * @param {import('node:events').EventEmitter} emitter the agent
   * @param {number | null} connections the agent's per-origin limit
   */
  constructor (emitter, connections) {
    this.emitter = emitter
    this.connections = connections
    this.entries = new Map() // origin (as URL#origin) -> OriginEntry
  }

  get size () { return this.entries.size }

  has (origin) { return this.entries.has(origin) }

  entry (origin) {
    let entry = this.entries.get(origin)
    if (entry === undefined) {
      entry = new OriginEntry()
      this.entries.set(origin, entry)
    }
    return entry
  }

  forgetIfIdle (origin, entry) {
    if (entry.active === 0 && entry.connected === 0) this.entries.delete(origin)
  }

  // With `connections`, as undici: dispatch() returns false once an origin
  // has that many requests running or queued, and 'drain' (origin, targets)
  // follows when one of them ends.
  count (target, delta) {
    const entry = this.entry(target.origin)
    entry.active += delta
    const limit = this.connections ?? Infinity
    if (delta > 0) {
      if (entry.active < limit) return true
      entry.needDrain = true
      return false
    }
    if (entry.needDrain && entry.active < limit) {
      entry.needDrain = false
      this.emitter.emit('drain', new URL(target.origin), [this.emitter]) // a URL, as undici's
    }
    this.forgetIfIdle(target.origin, entry)
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
  pickWorker (target, threads) {
    const home = target.hash % threads
    if (threads === 1 || this.connections !== null) return home
    const entry = this.entry(target.origin)
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

  // A request that pickWorker placed ended.
  workerDone (target, worker) {
    const load = this.entries.get(target.origin)?.workers
    if (load !== undefined) load[worker]--
  }

  connected (target) {
    this.entry(target.origin).connected++
    this.emitter.emit('connect', new URL(target.origin), [this.emitter])
  }

  connectionError (target, err) {
    this.emitter.emit('connectionError', new URL(target.origin), [this.emitter], err)
  }

  // Requests in flight to the origin named by the engine's key (default
  // port included): lib/disconnects.js holds a close back while there are.
  busy (key) {
    const entry = this.entries.get(parseOrigin(key).origin)
    return entry !== undefined && entry.active > 0
  }

  // A response said its connection closes after it (lib/request.js
  // closesConnection): undici destroys such a socket itself, and its
  // 'disconnect' carries InformationalError('reset').
  expectReset (target) {
    const entry = this.entries.get(target.origin)
    if (entry !== undefined && entry.resets < entry.connected) entry.resets++
  }

  // An HTTP/1.1 request failed on its connection, which libcurl closes
  // with it: that close's 'disconnect' carries the request's error, as
  // undici's (it destroys the socket with it), and replaces the reset the
  // response head announced, if it did.
  connectionFailed (target, err, announcedReset) {
    const entry = this.entries.get(target.origin)
    if (entry === undefined) return
    if (announcedReset && entry.resets > 0) entry.resets--
    if (entry.failures.length < entry.connected) entry.failures.push(err)
  }

  // A connection to the origin named by the engine's key closed
  // (lib/disconnects.js, in undici's order).
  disconnected (key) {
    const origin = parseOrigin(key).origin
    const entry = this.entries.get(origin)
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
    this.forgetIfIdle(origin, entry)
    this.emitter.emit('disconnect', new URL(origin), [this.emitter], err)
  }

  /**
   * Per origin, as undici's Agent#stats: `connected` connections (as the
   * engine reported them), requests `running` on them and `pending`
   * (waiting for a connection under `connections`; `queued` is the same
   * number), `free` connections and `size` = running + pending.
   */
  get stats () {
    const out = {}
    for (const [origin, e] of this.entries) {
      const pending = this.connections === null ? 0 : Math.max(0, e.active - this.connections)
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
}

module.exports = { Origins }
