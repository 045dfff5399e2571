'use strict'

// Handlers: undici's legacy interface (onConnect/onHeaders/onData/
// onComplete/onError) adapted to the v2 one (onRequestStart/
// onResponseStart/...) that lib/request.js calls, and the checks undici
// makes on a handler before dispatching.

const { errors } = require('undici')

const { InvalidArgumentError } = errors

// undici's legacy handler (onConnect/onHeaders/onData/onComplete/onError),
// still what undici 7's request()/stream()/fetch() and Node 20's fetch use.
class LegacyHandler {
  constructor (handler) {
    this.handler = handler
  }

  onRequestStart (controller, context) {
    this.handler.onConnect?.((reason) => controller.abort(reason), context)
  }

  onResponseStarted () {
    this.handler.onResponseStarted?.()
  }

  onResponseStart (controller, statusCode, headers, statusMessage) {
    const h = this.handler
    if (h.onHeaders?.(statusCode, controller.rawHeaders, () => controller.resume(), statusMessage) === false) {
      controller.pause()
    }
  }

  onResponseData (controller, chunk) {
    if (this.handler.onData?.(chunk) === false) controller.pause()
  }

  onResponseEnd (controller, trailers) {
    this.handler.onComplete?.(controller.rawTrailers ?? [])
  }

  onResponseError (controller, err) {
    this.handler.onError?.(err)
  }

  onRequestUpgrade (controller, statusCode, headers, socket) {
    this.handler.onUpgrade(statusCode, controller.rawHeaders, socket)
  }

  onBodySent (chunk) {
    this.handler.onBodySent?.(chunk)
  }

  onRequestSent () {
    this.handler.onRequestSent?.()
  }
}

function isV2Handler (h) {
  return typeof h.onRequestStart === 'function' || typeof h.onResponseStart === 'function' ||
    typeof h.onResponseData === 'function' || typeof h.onResponseEnd === 'function' ||
    typeof h.onResponseError === 'function'
}

// The callbacks a request needs, checked as undici's assertRequestHandler
// does before anything is sent: upgrade and CONNECT requests the one that
// takes the socket, and a legacy handler every callback it will be given.
function checkHandler (handler, raw) {
  if (!(handler instanceof LegacyHandler)) {
    if (raw && typeof handler.onRequestUpgrade !== 'function') throw new InvalidArgumentError('invalid onUpgrade method')
    return
  }
  const h = handler.handler
  if (typeof h.onConnect !== 'function') throw new InvalidArgumentError('invalid onConnect method')
  if (h.onBodySent !== undefined && typeof h.onBodySent !== 'function') throw new InvalidArgumentError('invalid onBodySent method')
  if (raw) {
    if (typeof h.onUpgrade !== 'function') throw new InvalidArgumentError('invalid onUpgrade method')
    return
  }
  for (const name of ['onHeaders', 'onData', 'onComplete']) {
    if (typeof h[name] !== 'function') throw new InvalidArgumentError(`invalid ${name} method`)
  }
}

function adaptHandler (handler) {
  if (handler === null || typeof handler !== 'object') {
    throw new InvalidArgumentError('handler must be an object')
  }
  if (isV2Handler(handler)) {
    if (typeof handler.onResponseError !== 'function') throw new InvalidArgumentError('invalid onError method')
    return handler
  }
  if (typeof handler.onError !== 'function') throw new InvalidArgumentError('invalid onError method')
  return new LegacyHandler(handler)
}

// The legacy adapter reads controller.rawHeaders and controller.rawTrailers,
// not undici's header objects: those are built only for v2 handlers.
function wantsHeaderObjects (handler) {
  return !(handler instanceof LegacyHandler)
}

module.exports = { adaptHandler, checkHandler, wantsHeaderObjects }
