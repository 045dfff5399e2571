'use strict'

// HTTP Upgrade (WebSocket) and CONNECT.
//
// The engine gives such a request a raw connection (CD_REQ_RAW: libcurl
// connects, tunnels through the proxy and does TLS, then steps aside):
// this file writes the HTTP/1.1 request head into it, reads the response
// head out of it, and then hands the connection to the handler as a Node
// Duplex (`onRequestUpgrade(controller, statusCode, headers, socket)`, or
// the legacy `onUpgrade(statusCode, rawHeaders, socket)`), as undici's
// client does: for CONNECT whatever the status, for an upgrade on a 101
// with an `upgrade` field. Any other final answer to an upgrade is an
// ordinary response, as undici's parser takes it: its head, body and end
// go to the handler (a redirect interceptor follows a 301; the handler of
// undici.upgrade() refuses it with SocketError('bad upgrade')), framed here
// by content-length, chunked coding or the close, and the connection is
// closed after it (libcurl cannot reuse a raw one).

const { clearTimeout, setTimeout } = require('./timers')
const { errors } = require('undici')
const { binding } = require('./native')
const { EV_HEADERS, EV_DATA, EV_BODY_WANTED, EV_END, EV_ERROR, EV_ABORTED } = require('./constants')
const { mapEngineError } = require('./errors')
const { requestHead, parseResponseHead } = require('./headers')
const { ChunkedDecoder } = require('./chunked')
const { UpgradedSocket, socketSent, socketReceived } = require('./upgraded-socket')

const { SocketError, HeadersTimeoutError, HeadersOverflowError, BodyTimeoutError } = errors

// The status line of a raw connection's answer: always HTTP/1.x.
const statusLineRegExp = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/

function fieldValue (pairs, name) {
  for (let i = 0; i < pairs.length; i += 2) if (pairs[i].toLowerCase() === name) return pairs[i + 1]
  return null
}

function hasField (pairs, name) {
  return fieldValue(pairs, name) !== null
}

/**
 * The raw side of a CurlRequest (request.raw): head parsing first, the
 * socket after.
 */
class RawExchange {
  constructor (request, norm, headersTimeout) {
    this.request = request
    this.norm = norm
    this.head = Buffer.alloc(0)
    this.socket = null
    this.address = {}
    this.closed = false
    // An answer that is not an upgrade: how its body ends ('length',
    // 'close' or 'chunked'; null before such an answer), what is left of a
    // 'length' body, the decoder of a 'chunked' one.
    this.framing = null
    this.bodyLeft = 0
    this.decoder = null
    this.plainDone = false
    this.timer = headersTimeout > 0
      ? setTimeout(() => request.abort(new HeadersTimeoutError()), headersTimeout).unref()
      : null
  }

  start () {
    // The request head, as undici's client writes it for upgrades and CONNECT.
    this.write(Buffer.from(requestHead(this.norm, this.norm.upgrade), 'latin1'))
  }

  get slot () { return this.request.slot }

  write (chunk) {
    if (this.closed || !this.request.engineActive()) return false
    binding.write(this.slot, chunk, false)
    return true
  }

  end () {
    if (!this.closed && this.request.engineActive()) binding.write(this.slot, null, true)
  }

  close () {
    if (this.closed) return
    this.closed = true
    if (this.request.engineActive()) binding.abort(this.slot)
  }

  pauseEngine () {
    if (this.request.engineActive()) binding.pause(this.slot)
  }

  resumeEngine () {
    if (this.request.engineActive()) binding.resume(this.slot)
  }

  // lib/diagnostics.js connectionSocket: the raw connection's addresses
  onConnected (socket) {
    this.address = socket
  }

  /** Engine events once the raw connection exists. */
  onEngineEvent (type, a, b, c, d, payload) {
    const socket = this.socket
    if (socket === null) return this.beforeUpgrade(type, a, b, c, d, payload)
    switch (type) {
      case EV_DATA:
        socketReceived(socket, payload)
        break
      case EV_BODY_WANTED:
        socketSent(socket)
        break
      case EV_END:
        socket.push(null)
        break
      case EV_ERROR:
        socket.destroy(mapEngineError(a, b, c, d, payload, this.request.errorTarget()))
        break
      case EV_ABORTED:
        if (!socket.destroyed) socket.destroy()
    }
  }

  beforeUpgrade (type, a, b, c, d, payload) {
    const request = this.request
    // an ordinary answer, complete: its end may still wait in the request's
    // queue (paused), and the close that follows is our own
    if (request.ended() || this.plainDone) {
      this.clearTimer()
      return
    }
    switch (type) {
      case EV_DATA:
        if (this.framing !== null) {
          this.plainData(payload)
          return
        }
        this.head = this.head.length ? Buffer.concat([this.head, payload]) : payload
        this.parseHead()
        return
      case EV_END:
        // a body that runs to the close ends with it
        if (this.framing === 'close') this.plainEnd()
        else this.fail(new SocketError('other side closed'))
        return
      case EV_ERROR:
        request.deliver(type, a, b, c, d, payload)
        this.clearTimer()
        return
      case EV_ABORTED:
        request.deliver(type, a, b, c, d, payload)
    }
  }

  parseHead () {
    for (;;) {
      const end = this.head.indexOf('\r\n\r\n')
      if (end < 0) {
        if (this.head.length > this.request.settings.maxHeaderSize) this.fail(new HeadersOverflowError())
        return
      }
      const head = parseResponseHead(this.head.toString('latin1', 0, end))
      const status = statusLineRegExp.exec(head.statusLine)
      const rest = this.head.subarray(end + 4)
      if (status === null || head.malformed) {
        this.fail(new errors.HTTPParserError('invalid response head', 'INVALID_CONSTANT'))
        return
      }
      const statusCode = Number(status[1])
      const isConnect = this.norm.method === 'CONNECT'
      if (!isConnect && statusCode >= 100 && statusCode < 200 && statusCode !== 101) {
        this.head = rest // an informational block before the answer
        continue
      }
      // As undici (llhttp): a 101 is an upgrade only with an `upgrade` header
      if (!isConnect && statusCode === 101 && !hasField(head.pairs, 'upgrade')) {
        this.fail(new SocketError('bad upgrade'))
        return
      }
      if (!isConnect && statusCode !== 101) {
        this.plainResponse(statusCode, head.pairs, this.head.toString('latin1', 0, end), rest)
        return
      }
      this.upgrade(statusCode, head.pairs, rest)
      return
    }
  }

  // An answer that does not switch protocols: an ordinary response.
  plainResponse (statusCode, pairs, headText, rest) {
    this.clearTimer()
    this.head = null
    const request = this.request
    this.armBodyTimer()
    const te = fieldValue(pairs, 'transfer-encoding')
    const cl = fieldValue(pairs, 'content-length')
    if (statusCode === 204 || statusCode === 304 || this.norm.method === 'HEAD') {
      this.framing = 'length' // and bodyLeft 0
    } else if (te !== null) {
      // chunked only when it is the last coding; else the body runs to the
      // close (RFC 9112 §6.3)
      this.framing = /(?:^|,)\s*chunked\s*$/i.test(te) ? 'chunked' : 'close'
      if (this.framing === 'chunked') this.decoder = new ChunkedDecoder((bytes) => this.plainEvent(EV_DATA, bytes), () => this.plainEnd())
    } else if (cl !== null) {
      if (!/^\d+$/.test(cl.trim())) {
        this.fail(new errors.HTTPParserError('invalid content-length', 'HPE_INVALID_CONTENT_LENGTH'))
        return
      }
      this.framing = 'length'
      this.bodyLeft = Number(cl.trim())
    } else {
      this.framing = 'close'
    }
    request.plainEvent(EV_HEADERS, statusCode, 11, 0, 0, headText)
    if (this.framing === 'length' && this.bodyLeft === 0) this.plainEnd()
    else if (rest.length) this.plainData(rest)
  }

  plainData (chunk) {
    if (this.plainDone || chunk.length === 0) return
    this.armBodyTimer()
    if (this.framing === 'chunked') {
      const bad = this.decoder.push(chunk)
      if (bad !== null) this.fail(new errors.HTTPParserError(bad, 'HPE_INVALID_CHUNK_SIZE'))
    } else if (this.framing === 'close') {
      this.plainEvent(EV_DATA, chunk)
    } else {
      // bytes past the content-length: nothing more reads this connection
      const n = Math.min(this.bodyLeft, chunk.length)
      this.bodyLeft -= n
      this.plainEvent(EV_DATA, chunk.subarray(0, n))
      if (this.bodyLeft === 0) this.plainEnd()
    }
  }

  plainEvent (type, payload) {
    if (!this.plainDone) this.request.plainEvent(type, 0, 0, 0, 0, payload)
  }

  plainEnd () {
    if (this.plainDone) return
    this.clearTimer()
    this.request.plainEvent(EV_END, 0, 0, 0, 0, '')
    this.plainDone = true
    this.close()
  }

  // bodyTimeout between the chunks of an ordinary answer, as the engine's
  // for other requests; time the handler keeps it paused does not count
  armBodyTimer () {
    const request = this.request
    const ms = this.norm.bodyTimeout ?? request.settings.bodyTimeout
    this.clearTimer()
    if (!(ms > 0)) return
    this.timer = setTimeout(() => {
      this.timer = null
      if (request.paused) this.armBodyTimer()
      else request.abort(new BodyTimeoutError())
    }, ms).unref()
  }

  upgrade (statusCode, pairs, rest) {
    const request = this.request
    this.clearTimer()
    const socket = new UpgradedSocket(this, this.address)
    this.socket = socket
    if (rest.length) socket.push(rest)
    this.head = null
    request.upgraded(statusCode, pairs, socket)
  }

  fail (err) {
    this.clearTimer()
    this.request.abort(err)
  }

  clearTimer () {
    if (this.timer !== null) {
      clearTimeout(this.timer)
      this.timer = null
    }
  }
}

module.exports = { RawExchange }
