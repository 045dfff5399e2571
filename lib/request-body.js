'use strict'

// A dispatch `body`, whatever the user gave (string, Buffer, typed array,
// ArrayBuffer, Readable, FormData, Blob, iterable), as the engine takes it:
// a Buffer sent in one piece, or a source sent chunk by chunk, with its
// length when known. As undici's core/request.js and its writers.

const { Readable } = require('node:stream')
const { errors } = require('undici')
const { headerValueRegExp } = require('./headers')

const { InvalidArgumentError } = errors

// The length of a Readable whose data is all buffered and whose end has been
// read (after a read(0), which lets a synchronous source push it all, as
// undici's writer does), else null.
function bufferedLength (source) {
  if (source === null || typeof source.read !== 'function' || !isStream(source)) return null
  source.read(0)
  const state = source._readableState
  return state && state.objectMode === false && state.ended === true && Number.isFinite(state.length) ? state.length : null
}

function isStream (obj) {
  return obj && typeof obj === 'object' && typeof obj.pipe === 'function' && typeof obj.on === 'function'
}

function isBlobLike (obj) {
  if (obj instanceof Blob) return true
  if (obj === null || typeof obj !== 'object') return false
  const tag = obj[Symbol.toStringTag]
  return (tag === 'Blob' || tag === 'File') && typeof obj.stream === 'function'
}

function isFormDataLike (obj) {
  return obj && typeof obj === 'object' && typeof obj.append === 'function' &&
    typeof obj.getAll === 'function' && obj[Symbol.toStringTag] === 'FormData'
}

function isIterable (obj) {
  return obj != null && (typeof obj[Symbol.iterator] === 'function' || typeof obj[Symbol.asyncIterator] === 'function')
}

const formEscape = (str) => str.replace(/\n/g, '%0A').replace(/\r/g, '%0D').replace(/"/g, '%22')
const formLinefeeds = (str) => str.replace(/\r?\n|\r/g, '\r\n')
const CRLF = Buffer.from('\r\n')

// multipart/form-data, as undici's extractBody (lib/web/fetch/body.js)
// encodes it for its client: every part is known in advance (strings, and
// Blobs/Files with a size), so the request has a content-length, not
// chunked framing. Works for any FormData-like (Node's global one too).
function encodeFormData (form) {
  const boundary = `----formdata-undici-0${`${Math.floor(Math.random() * 1e11)}`.padStart(11, '0')}`
  const prefix = `--${boundary}\r\nContent-Disposition: form-data`
  const parts = []
  let length = 0
  let unknown = false
  for (const [name, value] of form) {
    if (typeof value === 'string') {
      const chunk = Buffer.from(`${prefix}; name="${formEscape(formLinefeeds(name))}"\r\n\r\n${formLinefeeds(value)}\r\n`)
      parts.push(chunk)
      length += chunk.length
    } else {
      const chunk = Buffer.from(`${prefix}; name="${formEscape(formLinefeeds(name))}"` +
        (value.name ? `; filename="${formEscape(value.name)}"` : '') + '\r\n' +
        `Content-Type: ${value.type || 'application/octet-stream'}\r\n\r\n`)
      parts.push(chunk, value, CRLF)
      if (typeof value.size === 'number') length += chunk.length + value.size + CRLF.length
      else unknown = true
    }
  }
  const end = Buffer.from(`--${boundary}--\r\n`)
  parts.push(end)
  length += end.length
  async function * source () {
    for (const part of parts) {
      if (Buffer.isBuffer(part)) yield part
      else yield * part.stream()
    }
  }
  return { type: `multipart/form-data; boundary=${boundary}`, source: source(), length: unknown ? null : length }
}

// Body kinds after normalization: a Buffer (length known, sent in one
// piece) or an iterable/stream source (sent chunk by chunk).
function normalizeBody (body, collector) {
  if (body == null) return { buffer: null, source: null, length: 0 }
  if (typeof body === 'string') {
    const b = Buffer.from(body)
    return { buffer: b, source: null, length: b.length }
  }
  if (Buffer.isBuffer(body)) return { buffer: body, source: null, length: body.length }
  if (ArrayBuffer.isView(body)) {
    const b = Buffer.from(body.buffer, body.byteOffset, body.byteLength)
    return { buffer: b, source: null, length: b.length }
  }
  if (body instanceof ArrayBuffer || (typeof SharedArrayBuffer !== 'undefined' && body instanceof SharedArrayBuffer)) {
    const b = Buffer.from(body)
    return { buffer: b, source: null, length: b.length }
  }
  if (isStream(body)) {
    if (body.destroyed || body.readableEnded) {
      throw new InvalidArgumentError('body stream has already been consumed or destroyed')
    }
    return { buffer: null, source: body, length: null }
  }
  if (isFormDataLike(body)) {
    const form = encodeFormData(body)
    if (collector.contentType === null) {
      collector.contentType = form.type
      collector.push('content-type', form.type)
    }
    return { buffer: null, source: form.source, length: form.length }
  }
  if (isBlobLike(body)) {
    if (collector.contentType === null && body.type) {
      if (headerValueRegExp.test(body.type)) throw new InvalidArgumentError('invalid content-type header')
      collector.contentType = body.type
      collector.push('content-type', body.type)
    }
    return { buffer: null, source: Readable.fromWeb(body.stream()), length: body.size }
  }
  if (isIterable(body)) return { buffer: null, source: body, length: null }
  throw new InvalidArgumentError('body must be a string, a Buffer, a Readable stream, an iterable, or an async iterable')
}

module.exports = { normalizeBody, bufferedLength }
