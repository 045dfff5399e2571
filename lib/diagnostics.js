'use strict'

// undici's diagnostics_channel messages, with undici's payload shapes, so
// that tools watching undici (OpenTelemetry's and Sentry's undici
// instrumentations, for instance) see this Agent's requests too.
//
// Published: undici:request:create (subscribers may add headers with
// request.addHeader), undici:client:sendHeaders, undici:request:bodyChunkSent,
// undici:request:bodySent, undici:request:headers,
// undici:request:bodyChunkReceived, undici:request:trailers,
// undici:request:error (and our own curl-dispatcher:request:timings,
// lib/timings.js), and for connections undici:client:beforeConnect,
// undici:client:connected and undici:client:connectError.
//
// At undici's moments: libcurl connects and writes in a worker thread, and
// a request that any of these channels watches at dispatch is submitted
// with REQ_SENDING, so that the engine says when it opens a connection
// (EV_CONNECTING: beforeConnect) and which connection it goes out on
// (EV_SENDING: sendHeaders, then the body messages, which wait for it).
// A request that never gets a connection publishes no sendHeaders, as
// undici's. libcurl owns the sockets: `socket` is a plain object with what
// instrumentations read of undici's (addresses, ports, family, ALPN).
//
// Nothing is built unless a channel has subscribers.

const dc = require('node:diagnostics_channel')
const { isIP } = require('node:net')
const { REQ_SENDING, HTTP_2_PRIOR_KNOWLEDGE } = require('./constants')
const { requestHead, requestHeadH2 } = require('./headers')
const { kNorm } = require('./symbols')

const channels = {
  create: dc.channel('undici:request:create'),
  sendHeaders: dc.channel('undici:client:sendHeaders'),
  bodyChunkSent: dc.channel('undici:request:bodyChunkSent'),
  bodySent: dc.channel('undici:request:bodySent'),
  headers: dc.channel('undici:request:headers'),
  bodyChunkReceived: dc.channel('undici:request:bodyChunkReceived'),
  trailers: dc.channel('undici:request:trailers'),
  error: dc.channel('undici:request:error'),
  // ours (lib/timings.js): { request, timings } once per finished request
  timings: dc.channel('curl-dispatcher:request:timings')
}

const connectChannels = {
  beforeConnect: dc.channel('undici:client:beforeConnect'),
  connected: dc.channel('undici:client:connected'),
  connectError: dc.channel('undici:client:connectError')
}

// undici passes its Client's connector, a function (options, callback);
// libcurl connects here, so this one only refuses, should anyone call it.
function curlConnector (options, callback) {
  const err = new Error('curl-dispatcher: connections are made by libcurl, not by a connector')
  err.code = 'ERR_NOT_SUPPORTED'
  process.nextTick(callback, err, null)
}

// undici's Client#connect: `version` is its HTTP context's, which exists
// only once connected ('h1' or 'h2'); servername is the TLS name of the
// request that made an https client connect: its `servername` option, else
// the name in its Host header, else null (undici's core Request).
function connectParams (norm, settings, version) {
  const { target } = norm
  let { hostname } = target
  if (hostname[0] === '[') hostname = hostname.slice(1, -1)
  return {
    host: target.host,
    hostname,
    protocol: target.protocol,
    port: target.port,
    version,
    servername: target.protocol === 'https:' ? serverName(norm) : null,
    localAddress: settings.localAddress
  }
}

function serverName (norm) {
  if (norm.servername) return norm.servername
  const host = norm.hostHeader
  if (!host) return null
  const name = host[0] === '[' ? host.slice(1, host.indexOf(']')) : host.replace(/:\d*$/, '')
  return isIP(name) === 0 && name !== '' ? name : null
}

/**
 * The socket-shaped object of a connection, from the engine's
 * "ip port local-ip local-port[ alpn]" (EV_CONNECTED, EV_SENDING) and
 * whether it is TLS. As a net.Socket: no alpnProtocol over plain TCP
 * ('h2' with HTTP/2 prior knowledge, as undici's h2c sockets); a
 * TLSSocket's is the protocol agreed, or false. A Unix socket has no
 * addresses.
 */
function connectionSocket (info, tls, norm) {
  const [remoteAddress, remotePort, localAddress, localPort, alpn] = (info ?? '').split(' ')
  const socket = {
    remoteAddress: remoteAddress || undefined,
    remotePort: Number(remotePort) || undefined,
    remoteFamily: remoteAddress ? (isIP(remoteAddress) === 6 ? 'IPv6' : 'IPv4') : undefined,
    localAddress: localAddress || undefined,
    localPort: Number(localPort) || undefined
  }
  if (tls) {
    socket.encrypted = true
    socket.alpnProtocol = alpn || false
  } else if (norm.httpVersion === HTTP_2_PRIOR_KNOWLEDGE) socket.alpnProtocol = 'h2'
  return socket
}

// The request asks the engine for EV_CONNECTING and EV_SENDING when a
// request channel (lib/request.js made its DiagnosticsRequest) or a
// connection channel is watched.
function sendingFlag (diag) {
  if (diag !== null) return REQ_SENDING
  const { beforeConnect, connected, connectError } = connectChannels
  return beforeConnect.hasSubscribers || connected.hasSubscribers || connectError.hasSubscribers ? REQ_SENDING : 0
}

// lib/request.js bodySent(): the bodySent message, among body chunks
const BODY_SENT = Symbol('bodySent')

/**
 * A body message of request `req` (a chunk, or BODY_SENT). As undici's,
 * they come after sendHeaders: those of bytes handed to the engine before
 * the request went out wait for it in `req.diagBody` (and are dropped with
 * a request that never got a connection).
 */
function publishBody (req, message) {
  if (!req.headSent) {
    if (req.diagBody === null) req.diagBody = []
    req.diagBody.push(message)
  } else if (message === BODY_SENT) {
    if (channels.bodySent.hasSubscribers) channels.bodySent.publish({ request: req.diag })
  } else if (channels.bodyChunkSent.hasSubscribers) {
    channels.bodyChunkSent.publish({ request: req.diag, chunk: message })
  }
}

/**
 * EV_SENDING: request `req` goes out on the connection the engine
 * describes (connectionSocket), then its waiting body messages. libcurl
 * may send it again on another connection (a reused one found dead):
 * undici would not, and the message goes once.
 */
function publishSendHeaders (req, tls, info) {
  if (req.diag === null || req.headSent) return
  req.headSent = true
  const norm = req.norm
  if (channels.sendHeaders.hasSubscribers) {
    const socket = connectionSocket(info, tls, norm)
    const headers = socket.alpnProtocol === 'h2' ? requestHeadH2(norm) : requestHead(norm, norm.raw ? norm.upgrade : null)
    channels.sendHeaders.publish({ request: req.diag, headers, socket })
  }
  const waiting = req.diagBody
  req.diagBody = null
  if (waiting !== null) for (const message of waiting) publishBody(req, message)
}

function publishBeforeConnect (norm, settings) {
  if (!connectChannels.beforeConnect.hasSubscribers) return
  connectChannels.beforeConnect.publish({ connectParams: connectParams(norm, settings, undefined), connector: curlConnector })
}

function publishConnected (norm, settings, socket) {
  if (!connectChannels.connected.hasSubscribers) return
  const version = socket.alpnProtocol === 'h2' ? 'h2' : 'h1'
  connectChannels.connected.publish({ connectParams: connectParams(norm, settings, version), connector: curlConnector, socket })
}

function publishConnectError (norm, settings, error) {
  if (!connectChannels.connectError.hasSubscribers) return
  connectChannels.connectError.publish({ connectParams: connectParams(norm, settings, undefined), connector: curlConnector, error })
}

function anySubscribers () {
  for (const name in channels) {
    if (channels[name].hasSubscribers) return true
  }
  return false
}

// The `request` of every payload: the fields of undici's core Request that
// instrumentations read, and addHeader.
class DiagnosticsRequest {
  constructor (norm, body) {
    this.origin = norm.target.origin
    this.method = norm.method
    this.path = norm.path
    this.headers = norm.collector.toArray()
    this.body = body ?? null
    this.completed = false
    this.aborted = false
    this.upgrade = null
    this.idempotent = norm.idempotent
    this.contentLength = norm.collector.contentLength
    this.contentType = norm.collector.contentType
    this.throwOnError = false
    this[kNorm] = norm
  }

  // Validated like a dispatch header; only effective while
  // undici:request:create is being published (before anything is sent).
  addHeader (key, value) {
    const norm = this[kNorm]
    norm.collector.add(key, value)
    this.headers = norm.collector.toArray()
    return this
  }
}

module.exports = {
  channels,
  anySubscribers,
  DiagnosticsRequest,
  sendingFlag,
  connectionSocket,
  BODY_SENT,
  publishBody,
  publishSendHeaders,
  publishBeforeConnect,
  publishConnected,
  publishConnectError
}
