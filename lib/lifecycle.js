'use strict'

// An agent's close() and destroy(), as undici's Dispatcher has them: a
// callback or a promise, close() waits for the requests in flight,
// destroy() aborts them, a closed agent counts as destroyed once its
// close has completed, and dispatch() refuses work after either
// (checkOpen). What waits and what aborts is the backend's: the engine's
// (lib/engine-dispatcher.js) or a factory's router (lib/factory.js), both
// with close() and destroy(err) returning promises and `busy`. JS thread
// only.

const { errors } = require('undici')

const { InvalidArgumentError, ClientClosedError, ClientDestroyedError } = errors

class Lifecycle {
  constructor () {
    this.backend = null
    this.closed = false
    this.destroyed = false
    this.callbacks = [] // close()/destroy() callbacks waiting for the backend
  }

  checkOpen () {
    if (this.destroyed) throw new ClientDestroyedError()
    if (this.closed) throw new ClientClosedError()
  }

  close (callback) {
    if (callback === undefined) {
      return new Promise((resolve, reject) => {
        this.close((err, data) => (err ? reject(err) : resolve(data)))
      })
    }
    if (typeof callback !== 'function') throw new InvalidArgumentError('invalid callback')
    if (this.destroyed) {
      queueMicrotask(() => callback(new ClientDestroyedError(), null))
      return
    }
    this.callbacks.push(callback)
    if (this.closed) return // the first close() is under way
    this.closed = true
    this.wait(this.backend.close())
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
    if (this.destroyed) {
      if (this.backend.busy) this.callbacks.push(callback)
      else queueMicrotask(() => callback(null, null))
      return
    }
    this.destroyed = true
    this.callbacks.push(callback)
    this.wait(this.backend.destroy(err))
  }

  wait (promise) {
    promise.then(() => {
      // As undici: once close() has completed, the agent is destroyed too.
      if (this.closed) this.destroyed = true
      this.settle(null)
    }, (err) => this.settle(err))
  }

  settle (err) {
    const callbacks = this.callbacks
    this.callbacks = []
    for (const cb of callbacks) cb(err, null)
  }
}

module.exports = { Lifecycle }
