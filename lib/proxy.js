'use strict'

// The Agent's `proxy` option: which proxy (if any) a request goes through.
//
//   proxy: 'none' (default) | 'env' | 'scheme://[user:pass@]host:port'
//        | { uri, token?, auth?, headers?, tunnel?, proxyTls?: { ca, rejectUnauthorized } }
//
// libcurl speaks every proxy protocol itself; this module only validates
// the option, picks a proxy per request ('env': HTTP_PROXY, HTTPS_PROXY and
// NO_PROXY, as undici's EnvHttpProxyAgent reads them) and builds the
// settings the engine's config takes.

const { errors } = require('undici')

const { InvalidArgumentError } = errors

const PROXY_SCHEMES = new Set(['http:', 'https:', 'socks4:', 'socks4a:', 'socks5:', 'socks5h:'])
const DEFAULT_PORTS = { 'http:': 80, 'https:': 443, 'socks4:': 1080, 'socks4a:': 1080, 'socks5:': 1080, 'socks5h:': 1080 }
const headerNameRegExp = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
const headerValueRegExp = /[\0\r\n]/

function parseProxyUri (uri, what) {
  if (typeof uri !== 'string' && !(uri instanceof URL)) {
    throw new InvalidArgumentError(`${what} must be a URL string`)
  }
  let url
  try {
    url = new URL(uri)
  } catch {
    throw new InvalidArgumentError(`${what} is not a valid URL: ${uri}`)
  }
  if (!PROXY_SCHEMES.has(url.protocol)) {
    throw new InvalidArgumentError(`${what}: unsupported proxy protocol ${url.protocol} ` +
      '(http, https, socks4, socks4a, socks5, socks5h)')
  }
  if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) {
    throw new InvalidArgumentError(`${what} must not have a path, query or fragment`)
  }
  // curl reads the credentials from the URL, still percent-encoded.
  const port = url.port || DEFAULT_PORTS[url.protocol]
  const auth = url.username ? `${url.username}${url.password ? `:${url.password}` : ''}@` : ''
  return `${url.protocol}//${auth}${url.hostname}:${port}`
}

function headerLines (headers, what) {
  if (headers == null) return ''
  if (typeof headers !== 'object') throw new InvalidArgumentError(`${what} must be an object`)
  let lines = ''
  for (const [name, value] of Object.entries(headers)) {
    if (value == null) continue
    const v = `${value}`
    if (!headerNameRegExp.test(name)) throw new InvalidArgumentError(`${what}: invalid header name ${JSON.stringify(name)}`)
    if (headerValueRegExp.test(v)) throw new InvalidArgumentError(`${what}: invalid value for header ${name}`)
    lines += `${name}: ${v}\n`
  }
  return lines
}

// NO_PROXY, as undici's EnvHttpProxyAgent reads it: entries separated by
// commas or spaces; "*" matches every host; "host" and ".host" or "*.host"
// match the host and its subdomains; "host:port" only that port.
function parseNoProxy (value) {
  const entries = []
  for (const raw of (value ?? '').split(/[,\s]/)) {
    const entry = raw.trim().toLowerCase()
    if (entry === '') continue
    if (entry === '*') return { all: true, entries }
    const m = /^(.*?)(?::(\d+))?$/.exec(entry.replace(/^\[|\](?=:\d+$|$)/g, ''))
    entries.push({ host: m[1].replace(/^\*?\./, ''), port: m[2] ? Number(m[2]) : 0 })
  }
  return { all: false, entries }
}

function bypasses (noProxy, target) {
  if (noProxy.all) return true
  const host = target.hostname.replace(/^\[|\]$/g, '').toLowerCase()
  const port = Number(target.port)
  for (const e of noProxy.entries) {
    if (e.port !== 0 && e.port !== port) continue
    if (host === e.host || host.endsWith(`.${e.host}`)) return true
  }
  return false
}

// socks5:// means the client resolves the name and the proxy gets an
// address (socks5h://: the proxy gets the name). libcurl sends the first
// address it resolved, and for `localhost` and `*.localhost` it answers
// itself, without the system resolver or /etc/hosts: 127.0.0.1 then ::1 up
// to 7.88, ::1 first since 8.2.1 (curl commit ac67d72, "hostip: return
// IPv6 first for localhost resolves", curl/curl#11465). SOCKS5 has no
// fallback to a second address, so with libcurl 8 an http://localhost:PORT
// origin through socks5:// reached only servers listening on ::1. Those
// names go to 127.0.0.1 instead (CURLOPT_CONNECT_TO), whatever libcurl's
// version: what 7.88 sent, what SOCKS4 sends, and what most local servers
// listen on. The URL, Host header and TLS name stay the origin's; an
// IPv6-only local server needs http://[::1]:PORT.
const LOCALHOST_RE = /(^|\.)localhost\.?$/i

function socks5Address (uri, target) {
  return uri !== null && uri.startsWith('socks5:') && LOCALHOST_RE.test(target.hostname) ? '127.0.0.1' : null
}

/**
 * Validates the `proxy` option. Returns null (no proxy) or
 * { config: settings for createConfig, uses(target): boolean,
 *   connectAddress(target): the address to connect to in place of the
 *   origin's host name, or null }.
 */
function parseProxyOption (proxy, env = process.env) {
  if (proxy == null || proxy === 'none') return null
  if (proxy === 'env') {
    const httpProxy = env.http_proxy ?? env.HTTP_PROXY
    const httpsProxy = env.https_proxy ?? env.HTTPS_PROXY ?? httpProxy
    const http = httpProxy ? parseProxyUri(httpProxy, 'HTTP_PROXY') : null
    const https = httpsProxy ? parseProxyUri(httpsProxy, 'HTTPS_PROXY') : null
    if (http === null && https === null) return null
    const noProxy = parseNoProxy(env.no_proxy ?? env.NO_PROXY)
    return {
      config: { proxyHttp: http, proxyHttps: https, proxyTunnel: true },
      uses: (target) => (target.protocol === 'https:' ? https : http) !== null && !bypasses(noProxy, target),
      connectAddress: (target) => socks5Address(target.protocol === 'https:' ? https : http, target)
    }
  }
  const opts = typeof proxy === 'string' || proxy instanceof URL ? { uri: proxy } : proxy
  if (opts === null || typeof opts !== 'object') {
    throw new InvalidArgumentError("proxy must be 'none', 'env', a URL or { uri, token, headers }")
  }
  const uri = parseProxyUri(opts.uri, 'proxy.uri')
  if (opts.token != null && opts.auth != null) {
    throw new InvalidArgumentError('proxy: use either token or auth, not both')
  }
  if (opts.tunnel != null && typeof opts.tunnel !== 'boolean') {
    throw new InvalidArgumentError('proxy.tunnel must be a boolean')
  }
  const headers = { ...opts.headers }
  if (opts.token != null) {
    if (typeof opts.token !== 'string') throw new InvalidArgumentError('proxy.token must be a string')
    headers['proxy-authorization'] = opts.token
  } else if (opts.auth != null) {
    if (typeof opts.auth !== 'string') throw new InvalidArgumentError('proxy.auth must be a string')
    headers['proxy-authorization'] = `Basic ${opts.auth}`
  }
  const tls = opts.proxyTls ?? {}
  if (typeof tls !== 'object') throw new InvalidArgumentError('proxy.proxyTls must be an object')
  if (tls.rejectUnauthorized != null && typeof tls.rejectUnauthorized !== 'boolean') {
    throw new InvalidArgumentError('proxy.proxyTls.rejectUnauthorized must be a boolean')
  }
  return {
    config: {
      proxyHttp: uri,
      proxyHttps: uri,
      proxyHeaders: headerLines(headers, 'proxy.headers') || null,
      proxyTunnel: opts.tunnel ?? true,
      proxyCa: tls.ca,
      proxyRejectUnauthorized: tls.rejectUnauthorized ?? true
    },
    uses: () => true,
    connectAddress: (target) => socks5Address(uri, target)
  }
}

module.exports = { parseProxyOption, parseNoProxy, bypasses }
