'use strict'

// Validation and normalization of dispatch options, the way undici's
// core/request.js does it: every problem is an InvalidArgumentError (or
// NotSupportedError) raised before anything is sent.

const { isProxy } = require('node:util').types
const querystring = require('node:querystring')
const { errors } = require('undici')
const { BODY_NONE, BODY_STREAM, HTTP_1_1 } = require('./constants')
const { tokenRegExp, collectHeaders, headerBlock } = require('./headers')
const { parseOrigin } = require('./origin')
const { normalizeBody, bufferedLength } = require('./request-body')
const { decompressOption, ACCEPT_ENCODING } = require('./decompress')

const { InvalidArgumentError, NotSupportedError } = errors

const invalidPathRegExp = /[^\u0021-\u00ff]/

const PAYLOAD_METHODS = new Set(['PUT', 'POST', 'PATCH', 'QUERY', 'PROPFIND', 'PROPPATCH'])
// methods whose content-length header is not held against the body (undici's
// shouldSendContentLength is false for them)
const UNCHECKED_LENGTH_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'CONNECT'])

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
const OPT_DECOMPRESS = 2048
const OPT_ALL = 4095
const RARE_OPTIONS = new Map([
  ['upgrade', OPT_UPGRADE], ['headersTimeout', OPT_HEADERS_TIMEOUT], ['bodyTimeout', OPT_BODY_TIMEOUT],
  ['reset', OPT_RESET], ['expectContinue', OPT_EXPECT_CONTINUE], ['throwOnError', OPT_THROW_ON_ERROR],
  ['maxRedirections', OPT_MAX_REDIRECTIONS], ['query', OPT_QUERY], ['idempotent', OPT_IDEMPOTENT],
  ['servername', OPT_SERVERNAME], ['timings', OPT_TIMINGS], ['decompress', OPT_DECOMPRESS]
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
const NO_ROUTE = Object.freeze({ httpVersion: HTTP_1_1, proxied: false, connectAddress: null, decompress: null })

/**
 * Validates `opts` of Dispatcher#dispatch. Returns what the engine needs,
 * frozen: what changes while the request runs is the request's own
 * (lib/request.js). `route(target)` is the agent's choice for the origin:
 * { httpVersion, proxied, connectAddress, decompress } (lib/engine-dispatcher.js;
 * decompress: the agent's option, which the request's own overrides).
 */
function normalizeRequest (opts, strictContentLength = true, resetAll = false, route = null) {
  const o = readOptions(opts)
  const { target, method, raw } = o
  const collector = collectHeaders(opts.headers)
  const body = normalizeBody(opts.body, collector)
  const upperMethod = method.toUpperCase()
  const expectsPayload = PAYLOAD_METHODS.has(upperMethod)
  const { bodyLength, declaredLength, lengthMismatch, hasBody } =
    bodyFraming(body, collector, upperMethod, expectsPayload, strictContentLength)
  if (raw && (body.buffer !== null || body.source !== null)) {
    throw new NotSupportedError('a body on an upgrade or CONNECT request is not supported: write it to the socket')
  }

  // The connection header, as undici's client-h1 writes it: HEAD and
  // CONNECT close their connection unless `reset: false`; `reset: true`, a
  // user `connection: close` or `pipelining: 0` (resetAll) close it too;
  // every other HTTP/1.1 request says keep-alive. An upgrade says
  // `connection: upgrade` (lib/headers.js requestHead). libcurl drops the
  // header on HTTP/2, where it is not allowed.
  let reset = collector.reset === true ? true : (o.reset ?? null)
  if (reset === null) reset = method === 'HEAD' || method === 'CONNECT'
  if (resetAll) reset = true
  // Body bytes on a method that defines no payload (GET, HEAD, DELETE...):
  // as undici, the header still says keep-alive, but an HTTP/1.1
  // connection is closed after the response unless `reset: false`, because
  // a server that ignores such a body leaves it on the connection for the
  // next request to be read as its response. Decided when the request is
  // submitted (lib/request.js submitNow), a streamed body with its first
  // chunk; an empty one changes nothing.
  const resetOnBody = !expectsPayload && o.reset !== false && !raw
  const expectContinue = o.expectContinue === true && hasBody
  const { httpVersion, proxied, connectAddress, decompress: agentDecompress } = route === null ? NO_ROUTE : route(target)
  const { path, requestTarget, upgrade } = o
  // decoded in the worker (lib/decompress.js); a HEAD response has no body
  // to decode, and an upgrade's bytes are not a response body
  const decompress = raw || upperMethod === 'HEAD' ? null : (o.decompress !== undefined ? o.decompress : agentDecompress)

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
    expectsPayload,
    reset,
    resetOnBody,
    declaredLength,
    lengthMismatch,
    // expectContinue: curl sends the head, waits for 100 (1 s at most, as
    // curl does) and skips the body when a final status comes first.
    expectContinue,
    idempotent: o.idempotent ?? (method === 'GET' || method === 'HEAD'),
    headersTimeout: o.headersTimeout,
    bodyTimeout: o.bodyTimeout,
    servername: o.servername ?? null,
    timings: o.timings === true,
    httpVersion,
    proxied,
    connectAddress,
    decompress,
    acceptEncoding: decompress !== null ? ACCEPT_ENCODING : null
  })
}

// The options of a dispatch but its headers and body, checked, as undici's
// core/request.js checks them, in its order.
function readOptions (opts) {
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
  // undefined: the agent's
  const decompress = (has & OPT_DECOMPRESS) !== 0 && opts.decompress !== undefined ? decompressOption(opts.decompress) : undefined

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
  return {
    target,
    method,
    path,
    requestTarget,
    raw,
    upgrade,
    headersTimeout,
    bodyTimeout,
    reset: optReset,
    expectContinue: optExpectContinue,
    idempotent,
    servername,
    timings,
    decompress
  }
}

// Framing, as undici's client-h1 decides it. The body's own length wins
// when it is known (a Readable whose data is all buffered counts: undici
// reads it to its end first); a content-length header that disagrees is
// an error only for methods that define a payload length (not GET, HEAD,
// OPTIONS, TRACE, CONNECT), and never for an empty body. A length of 0
// on a method that expects no payload is not sent at all.
function bodyFraming (body, collector, upperMethod, expectsPayload, strictContentLength) {
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
  return { bodyLength, declaredLength, lengthMismatch, hasBody }
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

module.exports = { normalizeRequest, engineTarget }
