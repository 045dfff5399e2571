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
// undici:client:connected (both once the new connection is ready: libcurl
// connects in a worker thread and reports it then) and
// undici:client:connectError. libcurl owns the sockets: request payloads
// carry `socket: null`, connection payloads a plain object with the
// addresses and ports, and `connector` is null.
//
// Nothing is built unless a channel has subscribers.

const dc = require('node:diagnostics_channel')
const { HTTP_1_1 } = require('./constants')

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

function connectParams (target, agent) {
  return {
    host: target.host,
    hostname: target.hostname,
    protocol: target.protocol,
    port: target.port,
    version: agent._httpVersion === HTTP_1_1 ? 1.1 : 2,
    servername: agent._servername ?? undefined,
    localAddress: agent._localAddress ?? null
  }
}

// info: "ip port local-ip local-port" from the engine.
function publishConnected (target, agent, info) {
  const { beforeConnect, connected } = connectChannels
  if (!beforeConnect.hasSubscribers && !connected.hasSubscribers) return
  const params = connectParams(target, agent)
  if (beforeConnect.hasSubscribers) beforeConnect.publish({ connectParams: params, connector: null })
  if (connected.hasSubscribers) {
    const [remoteAddress, remotePort, localAddress, localPort] = (info ?? '').split(' ')
    const socket = {
      remoteAddress: remoteAddress || undefined,
      remotePort: Number(remotePort) || undefined,
      localAddress: localAddress || undefined,
      localPort: Number(localPort) || undefined
    }
    connected.publish({ connectParams: params, connector: null, socket })
  }
}

function publishConnectError (target, agent, error) {
  if (!connectChannels.connectError.hasSubscribers) return
  connectChannels.connectError.publish({ connectParams: connectParams(target, agent), connector: null, error, socket: null })
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
    this._norm = norm
  }

  // Validated like a dispatch header; only effective while
  // undici:request:create is being published (before anything is sent).
  addHeader (key, value) {
    const norm = this._norm
    norm.collector.add(key, value)
    norm.headers = norm.collector.block
    this.headers = norm.collector.toArray()
    return this
  }
}

module.exports = { channels, anySubscribers, DiagnosticsRequest, publishConnected, publishConnectError }
