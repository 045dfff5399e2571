'use strict'

// Validation and normalization of dispatch options, the way undici's
// core/request.js does it: every problem is an InvalidArgumentError (or
// NotSupportedError) raised before anything is sent.

const { isIP } = require('node:net')
const querystring = require('node:querystring')
const { Readable } = require('node:stream')
const { errors } = require('undici')
const { BODY_NONE, BODY_STREAM } = require('./constants')
const { tokenRegExp, headerValueRegExp, collectHeaders } = require('./headers')

const { InvalidArgumentError, NotSupportedError } = errors

const invalidPathRegExp = /[^\u0021-\u00ff]/

const PAYLOAD_METHODS = new Set(['PUT', 'POST', 'PATCH', 'QUERY', 'PROPFIND', 'PROPPATCH'])
// methods whose content-length header is not held against the body (undici's
// shouldSendContentLength is false for them)
const UNCHECKED_LENGTH_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'CONNECT'])

// The length of a Readable whose data is all buffered and whose end has been
// read (after a read(0), which lets a synchronous source push it all, as
// undici's writer does), else null.
function bufferedLength (source) {
  if (source === null || typeof source.read !== 'function' || !isStream(source)) return null
  source.read(0)
  const state = source._readableState
  return state && state.objectMode === false && state.ended === true && Number.isFinite(state.length) ? state.length : null
}

// FNV-1a: spreads origins over workers. One origin always lands on the
// same worker, so its connections are reused and its TLS sessions resumed;
// and every origin of one host name lands on the same worker too, so the
// name is looked up once, however many threads there are (each worker has
// its own DNS and TLS caches: libcurl cannot share them across threads
// without sharing connections). IP literals need no lookup: their origins
// spread by port.
function hashString (s) {
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

// Parsed origins, keyed by the string the user passed.
const originCache = new Map()
const ORIGIN_CACHE_MAX = 1024

function parseOrigin (origin) {
  if (typeof origin !== 'string' && !(origin instanceof URL)) {
    throw new InvalidArgumentError('opts.origin must be a non-empty string or URL.')
  }
  const key = typeof origin === 'string' ? origin : origin.href
  let parsed = originCache.get(key)
  if (parsed !== undefined) return parsed
  if (key === '') throw new InvalidArgumentError('opts.origin must be a non-empty string or URL.')
  let url
  try {
    url = new URL(key)
  } catch {
    throw new InvalidArgumentError('Invalid URL: The URL argument must be a non-null object.')
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InvalidArgumentError('Invalid URL protocol: the URL must start with `http:` or `https:`.')
  }
  const port = url.port || (url.protocol === 'https:' ? '443' : '80')
  // The key for routing and per-origin limits: scheme://host:port
  const routeKey = `${url.protocol}//${url.host}${url.port ? '' : ':' + port}`
  const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname
  parsed = {
    origin: url.origin,
    key: routeKey,
    protocol: url.protocol,
    host: url.host,
    hostname,
    port,
    hash: hashString(isIP(hostname) ? routeKey : hostname) // picks the worker
  }
  if (originCache.size >= ORIGIN_CACHE_MAX) originCache.clear()
  originCache.set(key, parsed)
  return parsed
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

// As undici (core/util.js serializePathWithQuery): node:querystring, so
// null and undefined values are `key=`, arrays repeat the key, and a lone
// surrogate is a URIError.
function serializeQuery (path, query) {
  if (path.includes('?') || path.includes('#')) {
    throw new InvalidArgumentError('Query params cannot be passed when url already contains "?" or "#".')
  }
  const qs = querystring.stringify(query)
  return qs ? `${path}?${qs}` : path
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

/**
 * Validates `opts` of Dispatcher#dispatch. Returns what the engine needs.
 */
function normalizeRequest (opts, strictContentLength = true, resetAll = false) {
  if (opts === null || typeof opts !== 'object') throw new InvalidArgumentError('opts must be an object.')
  const target = parseOrigin(opts.origin)
  const { method } = opts
  let { path } = opts

  if (typeof path !== 'string') throw new InvalidArgumentError('path must be a string')
  if (path[0] !== '/' && !(path.startsWith('http://') || path.startsWith('https://')) && method !== 'CONNECT') {
    throw new InvalidArgumentError('path must be an absolute URL or start with a slash')
  }
  if (invalidPathRegExp.test(path)) throw new InvalidArgumentError('invalid request path')
  if (typeof method !== 'string') throw new InvalidArgumentError('method must be a string')
  if (!tokenRegExp.test(method)) throw new InvalidArgumentError('invalid request method')
  const { upgrade } = opts
  if (upgrade != null && upgrade !== false) {
    if (typeof upgrade !== 'string') throw new InvalidArgumentError('upgrade must be a string')
    if (!/^[\t\x20-\x7e]+$/.test(upgrade)) throw new InvalidArgumentError('invalid upgrade header')
  }
  const raw = method === 'CONNECT' || (typeof upgrade === 'string' && upgrade !== '')
  for (const key of ['headersTimeout', 'bodyTimeout']) {
    const v = opts[key]
    if (v != null && (!Number.isFinite(v) || v < 0)) throw new InvalidArgumentError(`invalid ${key}`)
  }
  if (opts.reset != null && typeof opts.reset !== 'boolean') throw new InvalidArgumentError('invalid reset')
  if (opts.expectContinue != null && typeof opts.expectContinue !== 'boolean') {
    throw new InvalidArgumentError('invalid expectContinue')
  }
  if (opts.throwOnError != null) throw new InvalidArgumentError('invalid throwOnError')
  if (opts.maxRedirections != null && opts.maxRedirections !== 0) {
    throw new InvalidArgumentError('maxRedirections is not supported, use the redirect interceptor')
  }
  if (opts.query != null) {
    if (typeof opts.query !== 'object') throw new InvalidArgumentError('query must be an object')
    path = serializeQuery(path, opts.query)
  }
  // An absolute URL as path (checked above): sent as the request target
  // (absolute form), as undici does; the connection is still the origin's.
  const requestTarget = path[0] !== '/' && !raw ? path : null

  const collector = collectHeaders(opts.headers)
  const body = normalizeBody(opts.body, collector)
  const upperMethod = method.toUpperCase()
  const expectsPayload = PAYLOAD_METHODS.has(upperMethod)

  // Framing, as undici's client-h1 decides it. The body's own length wins
  // when it is known (a Readable whose data is all buffered counts: undici
  // reads it to its end first); a content-length header that disagrees is
  // an error only for methods that define a payload length (not GET, HEAD,
  // OPTIONS, TRACE, CONNECT), and never for an empty body. A length of 0
  // on a method that expects no payload is not sent at all.
  let bodyLength = body.length ?? bufferedLength(body.source)
  if (bodyLength === 0 && body.source !== null) {
    // nothing to send: lib/request.js still reads the empty stream to its
    // end, fails the request on its error and destroys it, as undici does
    body.emptySource = body.source
    body.source = null
  }
  if (body.buffer !== null && body.length === 0) body.buffer = null
  let lengthMismatch = false
  if (collector.contentLength !== null && bodyLength !== null && bodyLength > 0 &&
      bodyLength !== collector.contentLength && !UNCHECKED_LENGTH_METHODS.has(upperMethod)) {
    // Not strict: the body's own length frames the request, with undici's
    // warning, given when the request goes out (lib/request.js).
    if (strictContentLength) throw new errors.RequestContentLengthMismatchError()
    lengthMismatch = true
  }
  // Not strict, a streamed body with a content-length: its length is known
  // only at its end, so it goes chunked, and a mismatch is a warning then
  // (lib/request.js pumpBody), never a request that desynchronises the
  // connection. Strict, the pump holds the stream to the header.
  let declaredLength = null
  if (bodyLength === null && !strictContentLength && body.source !== null && collector.contentLength !== null) {
    declaredLength = collector.contentLength
  } else if (bodyLength === null) {
    bodyLength = collector.contentLength
  }
  if (bodyLength === 0 && !expectsPayload) bodyLength = null
  const hasBody = body.buffer !== null || body.source !== null || (expectsPayload && bodyLength === 0)
  if (raw && (body.buffer !== null || body.source !== null)) {
    throw new NotSupportedError('a body on an upgrade or CONNECT request is not supported: write it to the socket')
  }

  // The connection header, as undici's client-h1 writes it: HEAD and
  // CONNECT close their connection unless `reset: false`; `reset: true`, a
  // user `connection: close` or `pipelining: 0` (resetAll) close it too;
  // every other HTTP/1.1 request says keep-alive. An upgrade says
  // `connection: upgrade` (lib/headers.js requestHead). libcurl drops the
  // header on HTTP/2, where it is not allowed.
  let reset = collector.reset === true ? true : (opts.reset ?? null)
  if (reset === null) reset = method === 'HEAD' || method === 'CONNECT'
  if (resetAll) reset = true
  let headers = collector.block
  if (!raw || method === 'CONNECT') headers = `connection: ${reset ? 'close' : 'keep-alive'}\n${headers}`
  // Body bytes on a method that defines no payload (GET, HEAD, DELETE...):
  // as undici, the header still says keep-alive, but an HTTP/1.1
  // connection is closed after the response unless `reset: false`, because
  // a server that ignores such a body leaves it on the connection for the
  // next request to be read as its response. Decided when the request is
  // submitted (lib/request.js submitNow), a streamed body with its first
  // chunk; an empty one changes nothing.
  const resetOnBody = !expectsPayload && opts.reset !== false && !raw
  const expectContinue = opts.expectContinue === true && hasBody
  if (expectContinue) headers += 'expect: 100-continue\n'

  return {
    target,
    // Raw (upgrade, CONNECT): the engine only connects; the head is ours.
    url: raw || requestTarget !== null ? `${target.origin}/` : target.origin + path,
    raw,
    requestTarget,
    upgrade: raw && method !== 'CONNECT' ? upgrade : null,
    method,
    path,
    // expectContinue: curl sends the head, waits for 100 (1 s at most, as
    // curl does) and skips the body when a final status comes first.
    headers,
    collector,
    hostHeader: collector.host,
    body,
    hasBody,
    bodyLength: hasBody && !raw ? (bodyLength ?? -1) : 0,
    bodyMode: hasBody && !raw ? BODY_STREAM : BODY_NONE,
    reset,
    resetOnBody,
    declaredLength,
    lengthMismatch,
    expectContinue,
    idempotent: opts.idempotent ?? (method === 'GET' || method === 'HEAD'),
    headersTimeout: opts.headersTimeout,
    bodyTimeout: opts.bodyTimeout,
    servername: opts.servername ?? null
  }
}

// TLS name different from the host connected to (connect.servername): the
// URL carries the name (SNI and certificate check), CURLOPT_CONNECT_TO the
// address, and the Host header stays the origin's. norm.connectAddress
// (lib/proxy.js: socks5:// to localhost names) replaces the address, with
// or without a servername. Returns the connect-to entry, or null when the
// origin's own name and address are used.
function applyServername (norm, servername) {
  const t = norm.target
  if (!servername || t.protocol !== 'https:' || servername === t.hostname) {
    return norm.connectAddress ? `${t.hostname}:${t.port}:${norm.connectAddress}:${t.port}` : null
  }
  if (!/^[A-Za-z0-9.-]+$/.test(servername)) throw new InvalidArgumentError('invalid servername')
  const address = norm.connectAddress ?? (t.hostname.includes(':') ? `[${t.hostname}]` : t.hostname)
  norm.url = `https://${servername}:${t.port}${norm.path}`
  if (norm.hostHeader === null) norm.headers = `host: ${t.host}\n` + norm.headers
  return `${servername}:${t.port}:${address}:${t.port}`
}

module.exports = { normalizeRequest, applyServername, parseOrigin }
