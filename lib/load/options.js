'use strict'

// load() options: validation and normalization, before anything is sent.
//
// Names and defaults follow autocannon's where they mean the same
// (connections 10, duration 10 s, timeout 10 s, pipelining 1; amount
// instead of a duration); ours: threads, h2, insecure, ca, socketPath,
// proxy, rate (requests per second over the whole run).

const { errors } = require('undici')

const { MAX_WORKERS } = require('../constants')

const { InvalidArgumentError } = errors

const headerNameRegExp = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
const tokenRegExp = headerNameRegExp
const badValueRegExp = /[\0\r\n]/

const DEFAULTS = Object.freeze({
  connections: 10,
  duration: 10,     // seconds
  timeout: 10,      // seconds
  pipelining: 1,
  threads: 1
})

function positiveInt (opts, name, max = Number.MAX_SAFE_INTEGER) {
  const v = opts[name]
  if (v == null) return undefined
  if (!Number.isInteger(v) || v < 1 || v > max) {
    throw new InvalidArgumentError(`${name} must be an integer from 1 to ${max}`)
  }
  return v
}

function positiveNumber (opts, name) {
  const v = opts[name]
  if (v == null) return undefined
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    throw new InvalidArgumentError(`${name} must be a positive number`)
  }
  return v
}

function headerLines (headers, what) {
  if (headers == null) return ''
  if (typeof headers !== 'object' || Array.isArray(headers)) {
    throw new InvalidArgumentError(`${what} must be an object of header names to values`)
  }
  let lines = ''
  for (const [name, value] of Object.entries(headers)) {
    if (value == null) continue
    if (!headerNameRegExp.test(name)) throw new InvalidArgumentError(`${what}: invalid header name ${JSON.stringify(name)}`)
    for (const v of Array.isArray(value) ? value : [value]) {
      const s = `${v}`
      if (badValueRegExp.test(s)) throw new InvalidArgumentError(`${what}: invalid value for header ${name}`)
      lines += `${name}: ${s}\n`
    }
  }
  return lines
}

function bodyOf (body, what) {
  if (body == null) return undefined
  if (typeof body === 'string') return Buffer.from(body)
  if (Buffer.isBuffer(body)) return body
  if (ArrayBuffer.isView(body)) return Buffer.from(body.buffer, body.byteOffset, body.byteLength)
  throw new InvalidArgumentError(`${what} must be a string or a Buffer`)
}

function methodOf (method, what) {
  if (method == null) return 'GET'
  if (typeof method !== 'string' || !tokenRegExp.test(method)) throw new InvalidArgumentError(`${what} must be an HTTP method token`)
  return method
}

function parseUrl (url, socketPath) {
  if (typeof url !== 'string' && !(url instanceof URL)) throw new InvalidArgumentError('url must be a URL string')
  let u
  try {
    u = new URL(url)
  } catch {
    throw new InvalidArgumentError(`url is not a valid URL: ${url}`)
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new InvalidArgumentError(`url must be http: or https: (got ${u.protocol})`)
  }
  if (u.hash) u.hash = ''
  if (u.username || u.password) throw new InvalidArgumentError('url must not carry credentials: use an Authorization header')
  return u
}

/**
 * Returns { url, templates: [{ url, method, headers, body }], params (for
 * the addon's loadStart), config (for createConfig), proxied, summary (what
 * the result echoes) }. Throws InvalidArgumentError.
 */
function normalizeLoadOptions (opts) {
  if (opts === null || typeof opts !== 'object') throw new InvalidArgumentError('options must be an object')
  const known = new Set(['url', 'connections', 'duration', 'amount', 'method', 'headers', 'body', 'pipelining',
    'rate', 'timeout', 'threads', 'h2', 'insecure', 'ca', 'socketPath', 'proxy', 'requests', 'onProgress',
    'signal', 'title'])
  for (const k of Object.keys(opts)) {
    if (!known.has(k)) throw new InvalidArgumentError(`unknown option ${JSON.stringify(k)}`)
  }
  const url = parseUrl(opts.url, opts.socketPath)
  const connections = positiveInt(opts, 'connections', 1_000_000) ?? DEFAULTS.connections
  const pipelining = positiveInt(opts, 'pipelining', 1000) ?? DEFAULTS.pipelining
  const threads = positiveInt(opts, 'threads', MAX_WORKERS) ?? DEFAULTS.threads
  const amount = positiveInt(opts, 'amount')
  let duration = positiveNumber(opts, 'duration')
  const rate = positiveNumber(opts, 'rate')
  const timeout = opts.timeout === 0 ? 0 : (positiveNumber(opts, 'timeout') ?? DEFAULTS.timeout)
  if (amount != null && duration != null) {
    throw new InvalidArgumentError('give duration or amount, not both (a run ends at one of them)')
  }
  if (amount == null && duration == null) duration = DEFAULTS.duration
  for (const name of ['h2', 'insecure']) {
    if (opts[name] != null && typeof opts[name] !== 'boolean') throw new InvalidArgumentError(`${name} must be a boolean`)
  }
  const h2 = opts.h2 === true
  if (pipelining > 1 && !h2) {
    throw new InvalidArgumentError('pipelining above 1 needs h2 (HTTP/2 streams): libcurl has no HTTP/1.1 pipelining; ' +
      'use more connections instead')
  }
  if (opts.insecure === true && opts.ca != null) {
    throw new InvalidArgumentError('insecure and ca contradict each other: ca is for verifying the server')
  }
  if (opts.socketPath != null && (typeof opts.socketPath !== 'string' || opts.socketPath === '' || badValueRegExp.test(opts.socketPath))) {
    throw new InvalidArgumentError('socketPath must be a path')
  }
  if (opts.socketPath != null && opts.proxy != null) {
    throw new InvalidArgumentError('socketPath and proxy contradict each other: a request goes to one of them')
  }
  if (opts.onProgress != null && typeof opts.onProgress !== 'function') {
    throw new InvalidArgumentError('onProgress must be a function')
  }
  if (opts.signal != null && (typeof opts.signal !== 'object' || typeof opts.signal.addEventListener !== 'function')) {
    throw new InvalidArgumentError('signal must be an AbortSignal')
  }
  let ca
  if (opts.ca != null) {
    const list = Array.isArray(opts.ca) ? opts.ca : [opts.ca]
    for (const c of list) {
      if (typeof c !== 'string' && !Buffer.isBuffer(c)) throw new InvalidArgumentError('ca must be a string, a Buffer or an array of them')
    }
    ca = Buffer.concat(list.map((c) => Buffer.from(c)).flatMap((b) => [b, Buffer.from('\n')]))
  }

  const method = methodOf(opts.method, 'method')
  const baseHeaders = opts.headers
  headerLines(baseHeaders, 'headers')
  const body = bodyOf(opts.body, 'body')
  let requests = opts.requests
  if (requests == null) requests = [{}]
  if (!Array.isArray(requests) || requests.length === 0) throw new InvalidArgumentError('requests must be a non-empty array')
  const templates = requests.map((r, i) => {
    const what = `requests[${i}]`
    if (r === null || typeof r !== 'object') throw new InvalidArgumentError(`${what} must be an object`)
    for (const k of Object.keys(r)) {
      if (!['method', 'path', 'headers', 'body'].includes(k)) throw new InvalidArgumentError(`${what}: unknown field ${JSON.stringify(k)}`)
    }
    let target = url
    if (r.path != null) {
      if (typeof r.path !== 'string' || !r.path.startsWith('/') || badValueRegExp.test(r.path) || /\s/.test(r.path)) {
        throw new InvalidArgumentError(`${what}.path must start with / and hold no spaces or control characters`)
      }
      target = new URL(r.path, url.origin)
    }
    const headers = headerLines({ ...baseHeaders, ...r.headers }, `${what}.headers`)
    const b = r.body !== undefined ? bodyOf(r.body, `${what}.body`) : body
    return { url: target.href, method: r.method != null ? methodOf(r.method, `${what}.method`) : method, headers, body: b }
  })

  let proxy = null
  if (opts.proxy != null) {
    const { parseProxyOption } = require('../proxy')
    proxy = parseProxyOption(opts.proxy)
  }
  const config = {
    ...proxy?.config,
    rejectUnauthorized: opts.insecure !== true,
    ca,
    socketPath: opts.socketPath,
    connectTimeout: timeout > 0 ? Math.ceil(timeout * 1000) : 0,
    maxConcurrentStreams: pipelining
  }
  return {
    url,
    templates,
    config,
    params: {
      connections,
      pipelining,
      threads: Math.min(threads, connections),
      durationMs: duration != null ? Math.round(duration * 1000) : 0,
      amount: amount ?? 0,
      rate: rate ?? 0,
      timeoutMs: Math.round(timeout * 1000),
      h2,
      proxy: proxy !== null && proxy.uses(url)
    },
    onProgress: opts.onProgress ?? null,
    signal: opts.signal ?? null,
    summary: {
      title: opts.title,
      url: url.href,
      socketPath: opts.socketPath,
      connections,
      pipelining,
      threads: Math.min(threads, connections),
      amount,
      rate,
      timeout
    }
  }
}

module.exports = { normalizeLoadOptions, DEFAULTS, headerLines }
