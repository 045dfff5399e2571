'use strict'

// An origin as the agent routes it: parsed once per string (a small
// cache), with the key that names it to the engine and per-origin limits,
// and the hash that picks its worker.

const { isIP } = require('node:net')
const { errors } = require('undici')

const { InvalidArgumentError } = errors

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

module.exports = { parseOrigin }
