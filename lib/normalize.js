'use strict'

// Validation and normalization of dispatch options, the way undici's
// core/request.js does it: every problem is an InvalidArgumentError (or
// NotSupportedError) raised before anything is sent.

const { isIP } = require('node:net')
const { isProxy } = require('node:util').types
const querystring = require('node:querystring')
const { Readable } = require('node:stream')
const { errors } = require('undici')
const { BODY_NONE, BODY_STREAM, HTTP_1_1 } = require('./constants')
const { tokenRegExp, headerValueRegExp, collectHeaders, headerBlock } = require('./headers')

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

// The dispatch options a request seldom has, as bits. undici's request(),
// stream(), pipeline() and fetch() hand dispatch() an object made with a
// spread ({ ...opts, origin, path, method }), and on Node 20's V8 each
// read of a property such an object lacks misses its inline cache (0.2 to
// 0.4 µs a read): this function took 3.1 µs on such an object against
// 0.5 µs on a literal, 1.6 µs once the names are listed first
// (docs/architecture.md, "Decisions measured"). A plain object's own
// names are cheap to list, so only the options it has are read; an object
// of any other kind (a class instance, options inherited through a
// prototype, a Proxy) has every one read, as before.
const OPT_UPGRADE = 1
const OPT_HEADERS_TIMEOUT = 2
const OPT_BODY_TIMEOUT = 4
const OPT_RESET = 8
const OPT_EXPECT_CONTINUE = 16
const OPT_THROW_ON_ERROR = 32
const OPT_MAX_REDIRECTIONS = 64
const OPT_QUERY = 128
const OPT_IDEMPOTENT = 256
const OPT_SERVERNAME = 512
const OPT_TIMINGS = 1024
const OPT_ALL = 2047
const RARE_OPTIONS = new Map([
  ['upgrade', OPT_UPGRADE], ['headersTimeout', OPT_HEADERS_TIMEOUT], ['bodyTimeout', OPT_BODY_TIMEOUT],
  ['reset', OPT_RESET], ['expectContinue', OPT_EXPECT_CONTINUE], ['throwOnError', OPT_THROW_ON_ERROR],
  ['maxRedirections', OPT_MAX_REDIRECTIONS], ['query', OPT_QUERY], ['idempotent', OPT_IDEMPOTENT],
  ['servername', OPT_SERVERNAME], ['timings', OPT_TIMINGS]
])

// V8 12 (Node 22) and later cache those misses; there, reading every
// option is cheaper than listing the names first.
const LIST_OWN_NAMES = Number(process.versions.v8.split('.')[0]) < 12

function rareOptions (opts) {
  // a Proxy's get trap may answer for names it does not list
  if (!LIST_OWN_NAMES || isProxy(opts)) return OPT_ALL
  const proto = Object.getPrototypeOf(opts)
  if (proto !== Object.prototype && proto !== null) return OPT_ALL
  let has = 0
  // own names, enumerable or not: a property undici would read is read
  for (const name of Object.getOwnPropertyNames(opts)) has |= RARE_OPTIONS.get(name) ?? 0
  return has
}

// A request routed nowhere yet (normalizeRequest called only to validate).
const NO_ROUTE = Object.freeze({ httpVersion: HTTP_1_1, proxied: false, connectAddress: null })

/**
 * Validates `opts` of Dispatcher#dispatch. Returns what the engine needs,
 * frozen: what changes while the request runs is the request's own
 * (lib/request.js). `route(target)` is the agent's choice for the origin:
 * { httpVersion, proxied, connectAddress } (lib/engine-dispatcher.js).
 */
function normalizeRequest (opts, strictContentLength = true, resetAll = false, route = null) {
  if (opts === null || typeof opts !== 'object') throw new InvalidArgumentError('opts must be an object.')
  const target = parseOrigin(opts.origin)
  const { method } = opts
  let { path } = opts
  const has = rareOptions(opts)
  const upgrade = (has & OPT_UPGRADE) !== 0 ? opts.upgrade : undefined
  const headersTimeout = (has & OPT_HEADERS_TIMEOUT) !== 0 ? opts.headersTimeout : undefined
  const bodyTimeout = (has & OPT_BODY_TIMEOUT) !== 0 ? opts.bodyTimeout : undefined
  const optReset = (has & OPT_RESET) !== 0 ? opts.reset : undefined
  const optExpectContinue = (has & OPT_EXPECT_CONTINUE) !== 0 ? opts.expectContinue : undefined
  const query = (has & OPT_QUERY) !== 0 ? opts.query : undefined
  const idempotent = (has & OPT_IDEMPOTENT) !== 0 ? opts.idempotent : undefined
  const servername = (has & OPT_SERVERNAME) !== 0 ? opts.servername : undefined
  const timings = (has & OPT_TIMINGS) !== 0 ? opts.timings : undefined

  if (typeof path !== 'string') throw new InvalidArgumentError('path must be a string')
  if (path[0] !== '/' && !(path.startsWith('http://') || path.startsWith('https://')) && method !== 'CONNECT') {
    throw new InvalidArgumentError('path must be an absolute URL or start with a slash')
  }
  if (invalidPathRegExp.test(path)) throw new InvalidArgumentError('invalid request path')
  if (typeof method !== 'string') throw new InvalidArgumentError('method must be a string')
  if (!tokenRegExp.test(method)) throw new InvalidArgumentError('invalid request method')
  if (upgrade != null && upgrade !== false) {
    if (typeof upgrade !== 'string') throw new InvalidArgumentError('upgrade must be a string')
    if (!/^[\t\x20-\x7e]+$/.test(upgrade)) throw new InvalidArgumentError('invalid upgrade header')
  }
  const raw = method === 'CONNECT' || (typeof upgrade === 'string' && upgrade !== '')
  if (headersTimeout != null && (!Number.isFinite(headersTimeout) || headersTimeout < 0)) {
    throw new InvalidArgumentError('invalid headersTimeout')
  }
  if (bodyTimeout != null && (!Number.isFinite(bodyTimeout) || bodyTimeout < 0)) {
    throw new InvalidArgumentError('invalid bodyTimeout')
  }
  if (optReset != null && typeof optReset !== 'boolean') throw new InvalidArgumentError('invalid reset')
  if (optExpectContinue != null && typeof optExpectContinue !== 'boolean') {
    throw new InvalidArgumentError('invalid expectContinue')
  }
  if (timings != null && typeof timings !== 'boolean') throw new InvalidArgumentError('invalid timings')
  if ((has & OPT_THROW_ON_ERROR) !== 0 && opts.throwOnError != null) throw new InvalidArgumentError('invalid throwOnError')
  if ((has & OPT_MAX_REDIRECTIONS) !== 0 && opts.maxRedirections != null && opts.maxRedirections !== 0) {
    throw new InvalidArgumentError('maxRedirections is not supported, use the redirect interceptor')
  }
  if (query != null) {
    if (typeof query !== 'object') throw new InvalidArgumentError('query must be an object')
    path = serializeQuery(path, query)
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
  // (lib/body-pump.js), never a request that desynchronises the
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
  let reset = collector.reset === true ? true : (optReset ?? null)
  if (reset === null) reset = method === 'HEAD' || method === 'CONNECT'
  if (resetAll) reset = true
  // Body bytes on a method that defines no payload (GET, HEAD, DELETE...):
  // as undici, the header still says keep-alive, but an HTTP/1.1
  // connection is closed after the response unless `reset: false`, because
  // a server that ignores such a body leaves it on the connection for the
  // next request to be read as its response. Decided when the request is
  // submitted (lib/request.js submitNow), a streamed body with its first
  // chunk; an empty one changes nothing.
  const resetOnBody = !expectsPayload && optReset !== false && !raw
  const expectContinue = optExpectContinue === true && hasBody
  const { httpVersion, proxied, connectAddress } = route === null ? NO_ROUTE : route(target)

  return Object.freeze({
    target,
    // Raw (upgrade, CONNECT): the engine only connects; the head is ours.
    url: raw || requestTarget !== null ? `${target.origin}/` : target.origin + path,
    raw,
    requestTarget,
    upgrade: raw && method !== 'CONNECT' ? upgrade : null,
    method,
    path,
    // the connection header's value (lib/headers.js headerBlock), null for an upgrade
    connection: !raw || method === 'CONNECT' ? (reset ? 'close' : 'keep-alive') : null,
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
    // expectContinue: curl sends the head, waits for 100 (1 s at most, as
    // curl does) and skips the body when a final status comes first.
    expectContinue,
    idempotent: idempotent ?? (method === 'GET' || method === 'HEAD'),
    headersTimeout,
    bodyTimeout,
    servername: servername ?? null,
    timings: timings === true,
    httpVersion,
    proxied,
    connectAddress
  })
}

// Where the engine sends the request: { url, headers, connectTo }. With a
// TLS name different from the host connected to (connect.servername) the
// URL carries the name (SNI and certificate check), CURLOPT_CONNECT_TO the
// address, and the Host header stays the origin's. `connectAddress`
// (lib/proxy.js: socks5:// to localhost names; connect.lookup's first
// address with a servername, lib/request.js) replaces the address, with or
// without a servername. connectTo is null when the origin's own name and
// address are used.
function engineTarget (norm, servername, connectAddress) {
  const t = norm.target
  const headers = headerBlock(norm)
  if (!servername || t.protocol !== 'https:' || servername === t.hostname) {
    const connectTo = connectAddress ? `${t.hostname}:${t.port}:${connectAddress}:${t.port}` : null
    return { url: norm.url, headers, connectTo }
  }
  if (!/^[A-Za-z0-9.-]+$/.test(servername)) throw new InvalidArgumentError('invalid servername')
  const address = connectAddress ?? (t.hostname.includes(':') ? `[${t.hostname}]` : t.hostname)
  return {
    url: `https://${servername}:${t.port}${norm.path}`,
    headers: norm.hostHeader === null ? `host: ${t.host}\n` + headers : headers,
    connectTo: `${servername}:${t.port}:${address}:${t.port}`
  }
}

module.exports = { normalizeRequest, engineTarget, parseOrigin }
