'use strict'

// A streamed request body on its way to the engine (lib/request.js owns
// one per request with such a body): chunks are normalized to bytes,
// checked against a declared length, written to the engine, and paused at
// BODY_HIGH_WATER bytes in flight until the engine asks for more
// (EV_BODY_WANTED). Also watches the body stream for errors until the
// request ends, as undici does.

const { errors } = require('undici')
const { binding } = require('./native')
const { BODY_HIGH_WATER, BODY_CHUNK_COST } = require('./constants')
const { destroyBodyStream } = require('./body-stream')

const { RequestAbortedError, RequestContentLengthMismatchError } = errors

function onStreamEnd () {
  destroyBodyStream(this)
}

// A chunk of a streamed body that is neither a string nor bytes: a
// TypeError with Node's code, as a stream's write() (and so undici) gives.
function invalidChunk (chunk) {
  const err = new TypeError(`body chunks must be strings or Uint8Arrays, got ${chunk === null ? 'null' : typeof chunk}`)
  err.code = 'ERR_INVALID_ARG_TYPE'
  return err
}

// The whole length of a body whose source has ended with nothing left in
// its buffer once `sent` bytes were read from it, else null (more may
// come, or the source is no Readable). pipeline() ends its request side
// this way before the first chunk is read, and undici frames such a body
// by its length (none at all when it is empty on a GET), since it looks at
// the stream only when it writes it.
function lengthIfEnded (source, sent) {
  const state = source._readableState
  return state && state.objectMode === false && state.ended === true && state.length === 0 ? sent : null
}

class BodyPump {
  /** @param {import('./request').CurlRequest} request its owner */
  constructor (request) {
    this.request = request
    this.inFlight = 0     // bytes (and chunk costs) written since the engine last asked
    this.waiter = null    // resolves the pump's wait for EV_BODY_WANTED
    this.stream = null    // the body stream watched for 'error' until the request ends
    this.onStreamError = null
  }

  // Reads `source` to its end; start(known) submits the request before the
  // first chunk is written (or at the end of an empty body), with the
  // body's whole length when that is known by then (lengthIfEnded; only
  // without a content-length header). Ends the request with what went
  // wrong: a source error, a length mismatch.
  async run (source, declared, start) {
    const request = this.request
    const over = () => request.isOver()
    // a content-length header, sent or not (lib/normalize.js bodyFraming), keeps its framing
    const framed = declared >= 0 || request.norm.collector.contentLength !== null
    let sent = 0
    let started = false
    this.watch(source)
    try {
      for await (const given of source) {
        if (over()) return // leaving the loop destroys the stream
        let chunk = given
        if (typeof chunk === 'string') {
          chunk = Buffer.from(chunk)
        } else if (!(chunk instanceof Uint8Array)) {
          if (!ArrayBuffer.isView(chunk)) throw invalidChunk(chunk)
          chunk = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
        }
        if (chunk.length === 0) continue
        sent += chunk.length
        if (declared >= 0 && sent > declared) throw new RequestContentLengthMismatchError()
        if (!started) {
          started = true
          request.bodyBytes = true
          start(framed ? null : lengthIfEnded(source, sent))
        }
        binding.write(request.slot, chunk, false)
        request.bodyChunkSent(given) // as undici: the chunk as the source gave it
        this.inFlight += chunk.length + BODY_CHUNK_COST
        if (this.inFlight >= BODY_HIGH_WATER) {
          await new Promise((resolve) => { this.waiter = resolve })
          if (over()) return
        }
      }
      if (over()) return
      if (declared >= 0 && sent !== declared) throw new RequestContentLengthMismatchError()
      const loose = request.norm.declaredLength // lib/normalize.js
      if (loose !== null && sent !== loose) process.emitWarning(new RequestContentLengthMismatchError())
      if (!started) {
        started = true
        start(framed ? null : 0)
      }
      if (request.bodyStreamed) binding.write(request.slot, null, true)
      request.bodySent()
    } catch (err) {
      // a stream destroyed before its end, without an error: the request
      // was called off, as undici reports it
      request.abort(err.code === 'ERR_STREAM_PREMATURE_CLOSE' ? new RequestAbortedError() : err)
    }
  }

  // EV_BODY_WANTED: the engine sent all it had.
  wanted () {
    this.inFlight = 0
    this.wake()
  }

  // Lets a waiting pump look again (more wanted, or the request over).
  wake () {
    const waiter = this.waiter
    if (waiter !== null) {
      this.waiter = null
      waiter()
    }
  }

  // As undici: a body stream that errors before the response has ended
  // fails the request, even once all of it was read (an 'error' after
  // 'end'). The listener goes with the request's end, so a later error of
  // the user's stream is theirs again.
  watch (source) {
    if (typeof source.on !== 'function' || typeof source.removeListener !== 'function') return
    this.stream = source
    this.onStreamError = (err) => this.request.abort(err)
    source.on('error', this.onStreamError)
    // as undici: destroyed as soon as it has ended, not only with the request
    source.once('end', onStreamEnd)
  }

  // The request is over: the stream is the user's again, destroyed.
  release () {
    const source = this.stream
    if (source !== null) {
      this.stream = null
      source.removeListener('error', this.onStreamError)
      source.removeListener('end', onStreamEnd)
      destroyBodyStream(source)
    }
    this.wake()
  }
}

module.exports = { BodyPump }
