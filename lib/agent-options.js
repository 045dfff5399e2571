'use strict'

// The Agent's options (lib/agent.js): their defaults, their validation (as
// undici's Agent, Pool and Client validate them, with undici's messages),
// undici's older `tls` merged under `connect`, and the frozen settings the
// agent's requests read.

const os = require('node:os')
const net = require('node:net')
const { errors } = require('undici')
const { MAX_WORKERS, DEFAULT_MAX_HEADER_SIZE } = require('./constants')
const { decompressOption } = require('./decompress')

const { InvalidArgumentError } = errors

const DEFAULT_TIMEOUT = 300e3
const DEFAULT_KEEPALIVE = 4e3
// As undici: a server's "Keep-Alive: timeout=N" leaves N s minus this.
const DEFAULT_KEEPALIVE_THRESHOLD = 2e3
const DEFAULT_CONNECT_TIMEOUT = 10e3

// One worker thread per spare core, at least one: the JS thread needs a
// core of its own to run the handlers.
const DEFAULT_THREADS = Math.max(1, Math.min(4, (os.availableParallelism?.() ?? os.cpus().length) - 1))

function checkTimeout (value, name) {
  if (value != null && (!Number.isInteger(value) || value < 0)) {
    throw new InvalidArgumentError(`${name} must be a positive integer or zero`)
  }
}

function tlsBytes (value, name) {
  if (value == null) return undefined
  const list = Array.isArray(value) ? value : [value]
  const parts = list.map((v) => {
    if (typeof v === 'string') return v
    if (Buffer.isBuffer(v) || v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('latin1')
    throw new InvalidArgumentError(`connect.${name} must be a string, a Buffer or an array of them`)
  })
  return parts.join('\n')
}

function validateOptions (opts) {
  if (opts === null || typeof opts !== 'object') throw new InvalidArgumentError('options must be an object')
  const {
    threads, connections, headersTimeout, bodyTimeout, connectTimeout, keepAliveTimeout,
    keepAliveMaxTimeout, keepAliveTimeoutThreshold, maxHeaderSize, connect, allowH2, useH2c,
    pipelining, maxResponseSize, localAddress, autoSelectFamily, autoSelectFamilyAttemptTimeout,
    strictContentLength, socketPath
  } = opts
  if (threads != null && (!Number.isInteger(threads) || threads < 1 || threads > MAX_WORKERS)) {
    throw new InvalidArgumentError(`threads must be an integer from 1 to ${MAX_WORKERS}`)
  }
  if (connections != null && (!Number.isInteger(connections) || connections <= 0)) {
    throw new InvalidArgumentError('invalid connections')
  }
  checkTimeout(headersTimeout, 'headersTimeout')
  checkTimeout(bodyTimeout, 'bodyTimeout')
  checkTimeout(connectTimeout, 'connectTimeout')
  if (keepAliveTimeout != null && (!Number.isFinite(keepAliveTimeout) || keepAliveTimeout <= 0)) {
    throw new InvalidArgumentError('invalid keepAliveTimeout')
  }
  if (keepAliveMaxTimeout != null && (!Number.isFinite(keepAliveMaxTimeout) || keepAliveMaxTimeout <= 0)) {
    throw new InvalidArgumentError('invalid keepAliveMaxTimeout')
  }
  if (keepAliveTimeoutThreshold != null && !Number.isFinite(keepAliveTimeoutThreshold)) {
    throw new InvalidArgumentError('invalid keepAliveTimeoutThreshold')
  }
  // A boolean is taken as undici's Client takes it: true as 1, false as 0.
  if (pipelining != null && typeof pipelining !== 'boolean' && (!Number.isInteger(pipelining) || pipelining < 0)) {
    throw new InvalidArgumentError('pipelining must be an integer >= 0 or a boolean')
  }
  if (maxResponseSize != null && (!Number.isInteger(maxResponseSize) || maxResponseSize < -1)) {
    throw new InvalidArgumentError('maxResponseSize must be a positive number')
  }
  if (localAddress != null && (typeof localAddress !== 'string' || net.isIP(localAddress) === 0)) {
    throw new InvalidArgumentError('localAddress must be valid string IP address')
  }
  if (autoSelectFamily != null && typeof autoSelectFamily !== 'boolean') {
    throw new InvalidArgumentError('autoSelectFamily must be a boolean')
  }
  if (autoSelectFamilyAttemptTimeout != null &&
      (!Number.isInteger(autoSelectFamilyAttemptTimeout) || autoSelectFamilyAttemptTimeout < -1)) {
    throw new InvalidArgumentError('autoSelectFamilyAttemptTimeout must be a positive number')
  }
  if (strictContentLength != null && typeof strictContentLength !== 'boolean') {
    throw new InvalidArgumentError('strictContentLength must be a boolean')
  }
  if (useH2c != null && typeof useH2c !== 'boolean') {
    throw new InvalidArgumentError('useH2c must be a valid boolean value')
  }
  if (socketPath != null && typeof socketPath !== 'string') throw new InvalidArgumentError('invalid socketPath')
  decompressOption(opts.decompress)
  const { maxOrigins } = opts
  if (maxOrigins !== undefined && (typeof maxOrigins !== 'number' || Number.isNaN(maxOrigins) || maxOrigins <= 0)) {
    throw new InvalidArgumentError('maxOrigins must be a number greater than 0')
  }
  // Accepted for compatibility, validated with undici's messages; libcurl
  // has no per-agent equivalent (README, known limits).
  const { maxConcurrentStreams, maxRequestsPerClient, initialWindowSize, connectionWindowSize, pingInterval } = opts
  if (maxConcurrentStreams != null && (typeof maxConcurrentStreams !== 'number' || maxConcurrentStreams < 1)) {
    throw new InvalidArgumentError('maxConcurrentStreams must be a positive integer, greater than 0')
  }
  if (maxRequestsPerClient != null && (!Number.isInteger(maxRequestsPerClient) || maxRequestsPerClient < 0)) {
    throw new InvalidArgumentError('maxRequestsPerClient must be a positive number')
  }
  for (const [name, value] of [['initialWindowSize', initialWindowSize], ['connectionWindowSize', connectionWindowSize]]) {
    if (value != null && (!Number.isInteger(value) || value < 1)) {
      throw new InvalidArgumentError(`${name} must be a positive integer, greater than 0`)
    }
  }
  if (pingInterval != null && (!Number.isInteger(pingInterval) || pingInterval < 0)) {
    throw new InvalidArgumentError('pingInterval must be a positive integer, greater or equal to 0')
  }
  if (maxHeaderSize != null && (!Number.isInteger(maxHeaderSize) || maxHeaderSize < 1)) {
    throw new InvalidArgumentError('invalid maxHeaderSize')
  }
  if (allowH2 != null && typeof allowH2 !== 'boolean') {
    throw new InvalidArgumentError('allowH2 must be a valid boolean value')
  }
  if (opts.factory != null && typeof opts.factory !== 'function') {
    throw new InvalidArgumentError('factory must be a function.')
  }
  if (connect != null) {
    if (typeof connect !== 'object' && typeof connect !== 'function') throw new InvalidArgumentError('connect must be a function or an object')
    checkTimeout(connect.timeout, 'connect.timeout')
    if (connect.rejectUnauthorized != null && typeof connect.rejectUnauthorized !== 'boolean') {
      throw new InvalidArgumentError('connect.rejectUnauthorized must be a boolean')
    }
    if (connect.servername != null && typeof connect.servername !== 'string') {
      throw new InvalidArgumentError('connect.servername must be a string')
    }
    if (connect.socketPath != null && typeof connect.socketPath !== 'string') {
      throw new InvalidArgumentError('invalid connect.socketPath')
    }
    if (connect.lookup != null && typeof connect.lookup !== 'function') {
      throw new InvalidArgumentError('connect.lookup must be a function')
    }
    if (connect.autoSelectFamily != null && typeof connect.autoSelectFamily !== 'boolean') {
      throw new InvalidArgumentError('connect.autoSelectFamily must be a boolean')
    }
  }
  for (const [name, value] of [['socketPath', socketPath ?? connect?.socketPath], ['localAddress', localAddress]]) {
    if (typeof value === 'string' && /[\0\r\n]/.test(value)) throw new InvalidArgumentError(`invalid ${name}`)
  }
}

// `tls`, undici's older name for the TLS part of `connect` (its Client and
// Pool take it, and an undici Agent passes it on to them): merged under
// `connect`, whose own settings win, as undici's buildConnector call does.
function mergeTlsOption (opts) {
  if (opts === null || typeof opts !== 'object' || opts.tls == null) return opts
  if (typeof opts.tls !== 'object') throw new InvalidArgumentError('tls must be an object')
  if (typeof opts.connect === 'function') return opts
  return { ...opts, connect: { ...opts.tls, ...opts.connect } }
}

// What an agent's requests read (lib/request.js, lookup.js, upgrade.js,
// diagnostics.js), fixed for the agent's life; `connect` is the options'
// connect object, or {}.
function agentSettings (opts, connect) {
  return Object.freeze({
      headersTimeout: opts.headersTimeout ?? DEFAULT_TIMEOUT,
      bodyTimeout: opts.bodyTimeout ?? DEFAULT_TIMEOUT,
      connectTimeout: opts.connectTimeout ?? connect.timeout ?? DEFAULT_CONNECT_TIMEOUT,
      maxResponseSize: opts.maxResponseSize ?? -1,
      maxHeaderSize: opts.maxHeaderSize ?? DEFAULT_MAX_HEADER_SIZE,
      keepAliveTimeoutThreshold: opts.keepAliveTimeoutThreshold ?? DEFAULT_KEEPALIVE_THRESHOLD,
      servername: connect.servername ?? null,
      // connect.lookup: names are resolved with it on this thread and the
      // addresses pinned for libcurl (lib/lookup.js); all of them, or the
      // first only when autoSelectFamily is off, as net.connect does.
      lookup: connect.lookup ?? null,
      lookupAll: connect.autoSelectFamily ?? opts.autoSelectFamily ?? net.getDefaultAutoSelectFamily?.() ?? true,
      socketPath: opts.socketPath ?? connect.socketPath ?? null,
      // lib/decompress.js: null, or how responses are decoded in the worker
      decompress: decompressOption(opts.decompress),
      localAddress: opts.localAddress ?? null
    })
}

module.exports = {
  DEFAULT_KEEPALIVE,
  DEFAULT_THREADS,
  validateOptions,
  mergeTlsOption,
  tlsBytes,
  agentSettings
}
