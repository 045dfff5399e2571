'use strict'

// One request as JS sees it (CurlRequest): submitting it, the order of the
// handler's callbacks, pause/resume, abort. Its DispatchController is
// lib/controller.js, the legacy-handler adapter lib/handler.js, a response
// head's delivery lib/response-head.js, a streamed body's pump
// lib/body-pump.js, the diagnostics messages lib/diagnostics.js,
// connect.lookup lib/lookup.js, the decompress option lib/decompress.js.
//
// Invariants (undici's contract):
//   - exactly one terminal callback (onResponseEnd or onResponseError),
//     nothing after it;
//   - no onResponseData while paused: events that arrive meanwhile wait in
//     `queue` and are replayed, in order, after resume(). A pause stays on
//     this side until the queue holds PAUSE_HOLD_BYTES of body: only then
//     does the worker stop receiving (binding.pause with hold). Consumers
//     pause after nearly every chunk and resume a moment later (undici's
//     body streams, fetch's); stopping libcurl each time cost a RESUME
//     command and libcurl's copy of the paused write. The worker knows of
//     the pause meanwhile all the same: bodyTimeout's clock stops.
//   - a handler that throws gets onResponseError with what it threw.

const { setImmediate } = require('./timers')
const { isIP } = require('node:net')
const { errors } = require('undici')
const { binding, submit, requests, isTerminal } = require('./native')
const {
  EV_HEADERS, EV_DATA, EV_BODY_WANTED, EV_END, EV_ERROR, EV_ABORTED, EV_CONNECTED, EV_TIMINGS, EV_CONNECTING, EV_SENDING,
  ERRF_CONNECTED, REQ_RESET, REQ_PROXY, REQ_NO_RETRY, REQ_RAW, REQ_RESOLVE, REQ_DECODE, REQ_DECODE_ERRORS,
  HTTP_1_1, HEAD_KEEPS_ALIVE, PAUSE_HOLD_BYTES, BODY_NONE
} = require('./constants')
const { mapEngineError, curlCodeOf } = require('./errors')
const { engineTarget } = require('./normalize')
const { BodyPump } = require('./body-pump')
const {
  channels, anySubscribers, DiagnosticsRequest, sendingFlag, connectionSocket, BODY_SENT,
  publishBody, publishSendHeaders, publishBeforeConnect, publishConnected, publishConnectError
} = require('./diagnostics')
const { parseTrailers, fieldsToObject, fieldsToRaw } = require('./headers')
const { DispatchController } = require('./controller')
const { wantsHeaderObjects } = require('./handler')
const { kSetResponseHeaders } = require('./symbols')
const { RawExchange } = require('./upgrade')
const { timingsFlag, receiveTimings, publishTimings } = require('./timings')
const { lookupTarget } = require('./lookup')
const { maxSizeError } = require('./decompress')
const { deliverHead } = require('./response-head')

const { RequestAbortedError, RequestContentLengthMismatchError, ResponseExceededMaxSizeError } = errors

function rethrowLater (err) {
  process.nextTick(() => { throw err })
}

// As undici's client-h1: after this final response the client itself
// closes the connection (socket[kReset]) when the request said `connection:
// close`, when the response does not keep the connection alive, or when
// the server's `Keep-Alive: timeout=` hint leaves no time once
// keepAliveTimeoutThreshold is taken off (the engine closes it then).
// `facts` and `hintMs` are the engine's reading of the head (EV_HEADERS'
// HEAD_* bits and hint, engine/cd_head.c).
function closesConnection (req, facts, hintMs) {
  if (req.reset) return true
  if ((facts & HEAD_KEEPS_ALIVE) === 0) return true
  return hintMs >= 0 && hintMs - req.settings.keepAliveTimeoutThreshold <= 0
}

// A request's life on the handler's side, one way only:
//   OPEN -> ENDED -> SETTLED, or OPEN -> ENDING -> ENDED -> SETTLED
const OPEN = 0    // the handler may still get callbacks
const ENDING = 1  // ended with a fault whose report waits a turn (finishWithError)
const ENDED = 2   // the handler had its terminal callback, or an upgrade's socket
const SETTLED = 3 // ENDED and the engine is through with it: its owner was told (settle)

// And on the engine's side:
const ENGINE_NONE = 0   // never handed to the engine (refused, aborted first, or waiting)
const ENGINE_ACTIVE = 1 // submitted; commands go to its slot
const ENGINE_DONE = 2   // the engine's terminal event came: the slot is gone

// What a settled request keeps in place of its handler (settle()).
const RELEASED_HANDLER = Object.freeze({ onResponseError () {} })

class CurlRequest {
  /**
   * @param {import('./engine-dispatcher').EngineDispatcher | null} owner
   *   the agent's engine side: its settings, its origins, told when the
   *   request is settled; null for a request refused before it began
   * @param {object} handler v2 handler (adapted)
   */
  constructor (owner, handler) {
    this.owner = owner
    this.settings = owner === null ? null : owner.settings // lib/agent-options.js: frozen
    this.handler = handler
    this.controller = new DispatchController(this)
    this.state = OPEN
    this.engine = ENGINE_NONE
    this.slot = -1
    this.worker = -1 // set on submit (lib/origins.js pickWorker)
    this.activeIndex = -1 // in its dispatcher's `active` (lib/engine-dispatcher.js)
    this.dispatchOrder = 0 // its place among its dispatcher's requests (destroy() fails them in that order)
    this.norm = null         // lib/normalize.js, frozen
    this.reset = false       // the connection closes after it (norm.reset, or a body on a GET)
    this.lengthMismatch = false // a content-length warning still to give
    this.reason = null       // abort(): why; the request is aborted once set
    this.paused = false
    this.queue = null        // events held while paused
    this.queuedBytes = 0     // body bytes in `queue`
    this.held = false        // the worker was told to stop receiving (binding.pause with hold)
    this.flushScheduled = false
    this.pump = null         // lib/body-pump.js, for a streamed body
    this.diag = null         // DiagnosticsRequest while diagnostics are watched
    this.diagBody = null     // body messages waiting for sendHeaders (lib/diagnostics.js BODY_SENT: bodySent)
    this.headSent = false    // sendHeaders was published (EV_SENDING)
    this.connectTold = false // beforeConnect published for the connection it is opening
    this.raw = null          // RawExchange, for upgrade and CONNECT
    this.bodyBytes = false   // a streamed body gave bytes before it was submitted
    this.bodyStreamed = false // submitted with a body the engine reads (BODY_STREAM)
    this.maxResponseSize = owner === null ? -1 : this.settings.maxResponseSize
    this.received = 0        // response body bytes, with maxResponseSize only
    this.decodedLimit = 0    // decompress' maxSize, for a response the worker decodes (0: none)
    this.decodedBytes = 0    // decoded bytes delivered, with decodedLimit only
    this.timings = null      // lib/timings.js, with REQ_TIMINGS
    this.headFacts = null    // the final response head's HEAD_* facts (EV_HEADERS)
    this.expectsReset = false // lib/origins.js expectReset was told
    this.headDelivered = false // a final response head reached the handler
    // HTTP/2: a stream's failure is not its connection's. Known from the
    // response head, else taken as possible whenever h2 was offered.
    this.multiplexed = false
  }

  // Immediate failure: onResponseError without onRequestStart (as undici).
  // dispatch() refused the request. As undici's Dispatcher#dispatch, what
  // the handler's onResponseError throws comes out of dispatch().
  failImmediately (err) {
    this.state = ENDED
    this.handler.onResponseError(this.controller, err)
  }

  start (norm, configId, threads) {
    this.norm = norm
    this.reset = norm.reset
    this.lengthMismatch = norm.lengthMismatch
    if (anySubscribers()) {
      this.diag = new DiagnosticsRequest(norm, norm.body.buffer ?? norm.body.source)
      if (channels.create.hasSubscribers) channels.create.publish({ request: this.diag })
    }
    try {
      this.handler.onRequestStart?.(this.controller, {})
    } catch (err) {
      this.abort(err)
    }
    if (this.state !== OPEN) return // aborted in onRequestStart: nothing is sent
    if (this.settings.lookup !== null && !norm.proxied && this.settings.socketPath === null && isIP(norm.target.hostname) === 0) {
      this.lookup(norm, configId, threads)
      return
    }
    try {
      this.submit(norm, configId, threads, null, norm.connectAddress)
    } catch (err) {
      this.abort(err) // ends with onResponseError, never in silence
    }
  }

  // connect.lookup (lib/lookup.js): libcurl gets the addresses as a
  // CURLOPT_RESOLVE entry; with a TLS servername the connect-to entry takes
  // the first address instead.
  lookup (norm, configId, threads) {
    const { hostname, port } = norm.target
    lookupTarget(this.settings, norm.target, (err, list) => {
      if (this.state !== OPEN) return // aborted meanwhile: already finished
      if (err !== null) {
        this.connectFailed(err)
        this.finishWithError(err)
        return
      }
      try {
        const servername = norm.servername ?? this.settings.servername
        if (servername && norm.target.protocol === 'https:' && servername !== hostname) {
          this.submit(norm, configId, threads, null, list[0])
        } else {
          this.submit(norm, configId, threads, `${hostname}:${port}:${list.join(',')}`, null)
        }
      } catch (e) {
        this.abort(e)
      }
    })
  }

  // A streamed body's first chunk goes out with the head, as undici's
  // writers do: the request is handed to the engine once the source has
  // given its first chunk (or ended). Submitted at once instead, the head
  // would reach the server alone, a server that answers without reading the
  // body (nginx's `return`) would complete the response while the body is
  // still on its way, and the worker would have to drop the connection
  // (fetch() POSTs opened one connection per request that way).
  submit (norm, configId, threads, resolveEntry, connectAddress) {
    const where = engineTarget(norm, norm.servername ?? this.settings.servername, connectAddress)
    if (!norm.raw && norm.body.buffer === null && norm.body.source !== null) {
      this.pump = new BodyPump(this)
      this.pump.run(norm.body.source, norm.bodyLength, (known) => this.submitNow(norm, configId, threads, resolveEntry, where, known))
      return
    }
    const empty = norm.body.emptySource
    if (empty !== undefined) {
      this.pump = new BodyPump(this)
      this.pump.watch(empty) // lib/normalize.js: nothing of it is sent
      empty.resume()
    }
    this.submitNow(norm, configId, threads, resolveEntry, where)
  }

  // `where`: lib/normalize.js engineTarget. `known`: a streamed body's
  // whole length when the pump found its source ended before it went out
  // (lib/body-pump.js lengthIfEnded), else null or undefined.
  submitNow (norm, configId, threads, resolveEntry, where, known) {
    const target = norm.target
    let bodyMode = norm.bodyMode
    let bodyLength = norm.bodyLength
    if (known != null && bodyLength < 0) {
      // As undici, which frames a stream by the moment it writes it: an
      // ended one by its length, an empty one on a method without payload
      // not at all (pipeline()'s GET sends no `0` chunk).
      if (known === 0 && !norm.expectsPayload && !norm.expectContinue) bodyMode = BODY_NONE
      bodyLength = bodyMode === BODY_NONE ? 0 : known
    }
    this.bodyStreamed = bodyMode !== BODY_NONE
    this.multiplexed = norm.httpVersion !== HTTP_1_1
    if (norm.resetOnBody && norm.httpVersion === HTTP_1_1 && (norm.body.buffer !== null || this.bodyBytes)) {
      this.reset = true // lib/normalize.js resetOnBody
    }
    this.slot = submit({
      configId,
      url: where.url,
      origin: target.key,
      method: norm.method,
      headers: where.headers,
      bodyMode,
      bodyLength,
      headersTimeout: norm.headersTimeout ?? this.settings.headersTimeout,
      bodyTimeout: norm.bodyTimeout ?? this.settings.bodyTimeout,
      worker: (this.worker = this.owner.origins.pickWorker(target, threads)),
      // a raw connection leaves libcurl's cache anyway; FORBID_REUSE would close it
      flags: (this.reset && !norm.raw ? REQ_RESET : 0) | (norm.proxied ? REQ_PROXY : 0) | (norm.idempotent ? 0 : REQ_NO_RETRY) |
        (norm.raw ? REQ_RAW : 0) | (resolveEntry !== null ? REQ_RESOLVE : 0) | timingsFlag(this) | sendingFlag(this.diag) |
        (norm.decompress !== null ? REQ_DECODE | (norm.decompress.skipErrorResponses ? 0 : REQ_DECODE_ERRORS) : 0),
      httpVersion: norm.httpVersion,
      connectTo: resolveEntry ?? where.connectTo,
      body: norm.body.buffer ?? undefined, // read in place by the engine
      target: norm.requestTarget ?? undefined,
      decodeSkip: norm.decompress?.skipList
    })
    requests[this.slot] = this
    this.engine = ENGINE_ACTIVE
    if (this.paused) this.pauseEngine(norm.raw) // paused before it was handed over
    if (norm.raw) {
      this.raw = new RawExchange(this, norm, norm.headersTimeout ?? this.settings.headersTimeout)
      this.raw.start()
      return
    }
    const { body } = norm
    if (body.buffer !== null) {
      this.bodyChunkSent(body.buffer)
      this.bodySent()
    } else if (body.source === null) {
      this.bodySent() // as undici's writer: a request without a body is sent with its head
    }
  }

  bodyChunkSent (chunk) {
    if (this.diag !== null) publishBody(this, chunk)
    this.handler.onBodySent?.(chunk)
  }

  bodySent () {
    if (this.diag !== null) publishBody(this, BODY_SENT)
    this.handler.onRequestSent?.()
  }

  // undici publishes beforeConnect as its client starts connecting: here
  // when the engine says the request opens a connection (EV_CONNECTING),
  // or else just before that connection's first word.
  connecting () {
    if (this.connectTold) return
    this.connectTold = true
    publishBeforeConnect(this.norm, this.settings)
  }

  connected (tls, info) {
    const socket = connectionSocket(info, tls, this.norm)
    this.connecting()
    publishConnected(this.norm, this.settings, socket)
    this.connectTold = false // a second connection of its own gets its own beforeConnect
    this.owner.origins.connected(this.norm.target)
    if (this.raw !== null) this.raw.onConnected(socket)
  }

  // No connection could be made (engine or connect.lookup): as undici's
  // client, the diagnostics message, then the agent's event.
  connectFailed (err) {
    this.connecting()
    publishConnectError(this.norm, this.settings, err)
    this.owner.origins.connectionError(this.norm.target, err)
  }

  // fault: the agent's own finding (maxResponseSize), not the user's abort:
  // reported as the engine's errors are (finishWithError).
  abort (reason, fault = false) {
    if (this.state !== OPEN) return
    this.reason = reason ?? new RequestAbortedError()
    this.queue = null
    if (this.engine === ENGINE_ACTIVE) binding.abort(this.slot)
    this.finishWithError(this.reason, fault)
  }

  pause () {
    if (this.state !== OPEN || this.paused) return
    this.paused = true
    // a raw exchange's bytes are not queued here: its worker stops at once
    this.pauseEngine(this.raw !== null)
  }

  // hold: the worker stops receiving; else it only knows the consumer is
  // paused (bodyTimeout) and goes on sending what comes, queued here.
  pauseEngine (hold) {
    if (this.engine !== ENGINE_ACTIVE) return
    binding.pause(this.slot, hold)
    if (hold) this.held = true
  }

  resume () {
    if (!this.paused) return
    this.paused = false
    if (this.state !== OPEN) return
    if (this.queue === null) {
      this.resumeEngine()
    } else if (!this.flushScheduled) {
      // Replayed from a microtask, not from inside the caller's callback.
      this.flushScheduled = true
      queueMicrotask(() => this.flushQueue())
    }
  }

  // The worker reads again only once what it already sent has been
  // delivered: a consumer that pauses after every chunk it is given would
  // otherwise let each resume add a window's worth to the queue while the
  // replay delivers one chunk, and the queue would grow without bound.
  resumeEngine () {
    this.held = false
    if (this.engine === ENGINE_ACTIVE) binding.resume(this.slot)
  }

  // An event that must wait (paused, or behind others still queued).
  enqueue (type, a, b, c, d, payload) {
    if (this.queue === null) this.queue = []
    this.queue.push([type, a, b, c, d, payload])
    if (type !== EV_DATA) return
    this.queuedBytes += payload.length
    if (this.queuedBytes >= PAUSE_HOLD_BYTES && !this.held) this.pauseEngine(true)
  }

  flushQueue () {
    this.flushScheduled = false
    const queue = this.queue
    while (queue !== null && queue.length > 0 && !this.paused && this.state === OPEN) {
      const ev = queue.shift()
      if (ev[0] === EV_DATA) this.queuedBytes -= ev[5].length
      this.deliver(ev[0], ev[1], ev[2], ev[3], ev[4], ev[5])
    }
    if (this.queue !== null && this.queue.length === 0) {
      this.queue = null
      if (!this.paused && this.state === OPEN) this.resumeEngine()
    }
  }

  onEngineEvent (type, a, b, c, d, payload) {
    if (this.lengthMismatch) {
      // strictContentLength: false and a content-length the body does not
      // match (lib/normalize.js): undici warns as it writes the request, so
      // a request queued behind others warns in its turn, not at dispatch.
      // The engine's first word about the request is the nearest moment.
      this.lengthMismatch = false
      process.emitWarning(new RequestContentLengthMismatchError())
    }
    if (type === EV_TIMINGS) return receiveTimings(this, payload) // not a handler event: never held
    // Connections are the agent's business, not the handler's: reported
    // even when paused.
    if (type === EV_CONNECTING) return this.connecting()
    if (type === EV_CONNECTED) return this.connected(a, payload)
    if (type === EV_SENDING) return publishSendHeaders(this, a, payload)
    if (type === EV_HEADERS && a >= 200 && this.raw === null) {
      this.headFacts = c // lib/errors.js: how a cut-short body fails
      this.multiplexed = b >= 20
      if (b < 20 && closesConnection(this, c, d)) {
        // Received, not yet delivered (it may wait while paused): the
        // close that follows is the agent's own reset, as undici's
        // (lib/agent.js).
        this.expectsReset = true
        this.owner.origins.expectReset(this.norm.target)
      }
    }
    if (this.raw !== null) {
      if (isTerminal(type)) this.engine = ENGINE_DONE
      this.raw.onEngineEvent(type, a, b, c, d, payload)
      this.settle()
      return
    }
    if (isTerminal(type)) {
      this.engine = ENGINE_DONE
      this.pump?.wake()
      if (this.state !== OPEN) {
        this.settle() // unless reportError is still to run
        return
      }
    }
    if (this.state !== OPEN) return
    if (type === EV_BODY_WANTED) {
      this.pump?.wanted()
      return
    }
    if (this.paused || this.queue !== null) return this.enqueue(type, a, b, c, d, payload)
    this.deliver(type, a, b, c, d, payload)
  }

  deliver (type, a, b, c, d, payload) {
    const { handler, controller } = this
    try {
      switch (type) {
        case EV_HEADERS:
          deliverHead(this, a, c, payload)
          return
        case EV_DATA:
          if (this.maxResponseSize >= 0 && (this.received += payload.length) > this.maxResponseSize) {
            this.abort(new ResponseExceededMaxSizeError(), true)
            return
          }
          if (this.decodedLimit > 0 && (this.decodedBytes += payload.length) > this.decodedLimit) {
            this.abort(maxSizeError(this.decodedBytes, this.decodedLimit), true)
            return
          }
          if (this.diag !== null && channels.bodyChunkReceived.hasSubscribers) {
            channels.bodyChunkReceived.publish({ request: this.diag, chunk: payload })
          }
          handler.onResponseData?.(controller, payload)
          return
        case EV_END: {
          const pairs = parseTrailers(payload)
          controller.rawTrailers = fieldsToRaw(pairs)
          this.state = ENDED
          this.queue = null
          this.pump?.release()
          if (this.timings !== null) publishTimings(this)
          if (this.diag !== null) {
            this.diag.completed = true
            if (channels.trailers.hasSubscribers) {
              channels.trailers.publish({ request: this.diag, trailers: controller.rawTrailers })
            }
          }
          try {
            handler.onResponseEnd?.(controller, wantsHeaderObjects(handler) ? fieldsToObject(pairs) : null)
          } catch (err) {
            // As undici's core/request.js: a throwing onComplete is followed
            // by onError (the retry handler relies on it).
            try {
              handler.onResponseError(controller, err)
            } catch (e) {
              rethrowLater(e)
            }
          }
          this.settle()
          return
        }
        case EV_ERROR: {
          const err = mapEngineError(a, b, c, d, payload, this.errorTarget(), this.headFacts)
          if ((d & ERRF_CONNECTED) === 0) {
            // A libcurl failure before any connection was made: the agent
            // reports it as undici's pools do.
            if (curlCodeOf(d) !== 0) this.connectFailed(err)
          } else if (!this.multiplexed) {
            // The connection dies with the request: its 'disconnect'
            // carries this error, as undici's (the socket is destroyed
            // with it).
            this.owner.origins.connectionFailed(this.norm.target, err, this.expectsReset)
          }
          this.finishWithError(err, true)
          return
        }
        case EV_ABORTED:
          this.finishWithError(this.reason ?? new RequestAbortedError())
      }
    } catch (err) {
      // The handler threw: the request ends with what it threw.
      this.abort(err)
    }
  }

  // A raw exchange's answer that is an ordinary response (lib/upgrade.js):
  // its events take the engine's path to the handler, pauses included.
  plainEvent (type, a, b, c, d, payload) {
    if (this.state !== OPEN) return
    if (this.paused || this.queue !== null) return this.enqueue(type, a, b, c, d, payload)
    this.deliver(type, a, b, c, d, payload)
  }

  // The raw exchange got its answer: the handler gets the socket, and the
  // agent stops counting the request (the connection left its pool).
  upgraded (statusCode, pairs, socket) {
    const { handler, controller } = this
    this.state = ENDED
    this.pump?.release()
    controller[kSetResponseHeaders](pairs)
    try {
      const headers = wantsHeaderObjects(handler) ? fieldsToObject(pairs) : null
      handler.onRequestUpgrade(controller, statusCode, headers, socket)
    } catch (err) {
      // As undici: the handler hears of its own error, the socket goes.
      socket.destroy(err)
      try {
        handler.onResponseError(controller, err)
      } catch (e) {
        rethrowLater(e)
      }
    }
    this.settle(true) // the connection left with the socket: the engine's part is the user's now
  }

  // The one completion path: once the handler has had its terminal callback
  // (ENDED) and the engine is through with the request (its terminal event
  // came, or it never had the request), its owner stops counting it, once.
  settle (engineFree = this.engine !== ENGINE_ACTIVE) {
    if (this.state !== ENDED || !engineFree) return
    this.state = SETTLED
    // The handler has had its last callback: let go of it. A request V8
    // has promoted to its old generation keeps what it points at alive
    // through young collections until the next full one, and through the
    // handler that was pipeline()'s whole stream graph, each response's
    // promoted in turn (docs/architecture.md, "Decisions measured").
    this.handler = RELEASED_HANDLER
    this.owner.requestFinished(this)
  }

  // The handler's end is decided: it gets nothing more but, while ENDING,
  // the error on its way.
  ended () {
    return this.state !== OPEN
  }

  // The handler will hear nothing more, and the engine has nothing more to
  // say or to take (lib/body-pump.js stops feeding the body then).
  isOver () {
    return this.state !== OPEN || this.engine === ENGINE_DONE
  }

  // Commands to the engine make sense (lib/upgrade.js).
  engineActive () {
    return this.engine === ENGINE_ACTIVE
  }

  errorTarget () {
    const { target } = this.norm
    return { hostname: target.hostname, port: target.port, connectTimeout: this.settings.connectTimeout }
  }

  // A fault (an engine error, or one the agent finds in the response)
  // after the response head reaches the handler a turn of the event loop
  // later, never in the same run of JS as the head: undici's fetch listens
  // for its own termination only once the promise its onHeaders resolved
  // has been taken up, so an onError in the same run (one batch of engine
  // events can carry head, data and error) left res.text() waiting
  // forever. undici's own sockets never deliver them together. The request
  // is over at once all the same: nothing else reaches the handler.
  finishWithError (err, fault = false) {
    if (this.state !== OPEN) return
    this.queue = null
    if (fault && this.headDelivered) {
      this.state = ENDING
      setImmediate(() => this.reportError(err))
      return
    }
    this.state = ENDED
    this.reportError(err)
  }

  reportError (err) {
    this.state = ENDED
    this.pump?.release()
    if (this.timings !== null) publishTimings(this)
    if (this.diag !== null) {
      this.diag.aborted = true
      if (channels.error.hasSubscribers) channels.error.publish({ request: this.diag, error: err })
    }
    try {
      this.handler.onResponseError(this.controller, err)
    } catch (e) {
      rethrowLater(e)
    }
    this.settle()
  }
}

// A request refused before it began (lib/factory.js: the agent's own
// checks failed): onResponseError only, as undici.
function refuseRequest (handler, err) {
  new CurlRequest(null, handler).failImmediately(err)
}

module.exports = {
  CurlRequest,
  refuseRequest,
  // test/core.test.js
  states: { OPEN, ENDING, ENDED, SETTLED, ENGINE_NONE, ENGINE_ACTIVE, ENGINE_DONE }
}
