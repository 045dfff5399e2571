'use strict'

// undici's diagnostics_channel messages, as instrumentations (OpenTelemetry,
// Sentry) subscribe to them: payload shapes, order, and request.addHeader
// from undici:request:create reaching the server.

const assert = require('node:assert/strict')
const dc = require('node:diagnostics_channel')
const undici = require('undici')
const { createAgent } = require('./support/agent')
const { Agent: OurAgent } = require('./support/agent')
const { startServer, startTlsServer, closedPort } = require('./support/servers')
const { getCerts } = require('./support/certs')

const CONNECT_NAMES = [
  'undici:client:beforeConnect',
  'undici:client:connected',
  'undici:client:connectError'
]

const NAMES = [
  ...CONNECT_NAMES,
  'undici:request:create',
  'undici:client:sendHeaders',
  'undici:request:bodyChunkSent',
  'undici:request:bodySent',
  'undici:request:headers',
  'undici:request:bodyChunkReceived',
  'undici:request:trailers',
  'undici:request:error'
]

// Records every message of the channels above while `fn` runs, as
// record(name, message) makes it (taken when published: a socket read later
// may be gone).
async function watch (fn, record = (name, message) => ({ name, message })) {
  const seen = []
  const listeners = NAMES.map((name) => {
    const listener = (message) => seen.push(record(name, message))
    dc.subscribe(name, listener)
    return [name, listener]
  })
  try {
    await fn(seen)
  } finally {
    for (const [name, listener] of listeners) dc.unsubscribe(name, listener)
  }
  return seen
}

describe('diagnostics_channel', function () {
  let server
  let agent
  let received

  before(async function () {
    server = await startServer((req, res) => {
      received = req.headers
      const chunks = []
      req.on('data', (c) => chunks.push(c))
      req.on('end', () => {
        res.setHeader('x-reply', 'yes')
        res.end('body:' + Buffer.concat(chunks).toString())
      })
    })
    agent = createAgent()
  })

  after(async function () {
    await agent.close()
    await server.close()
  })

  it('publishes undici\'s request lifecycle with undici\'s payload shapes', async function () {
    const seen = await watch(async () => {
      const res = await undici.request(`${server.origin}/diag?x=1`, {
        dispatcher: agent, method: 'POST', body: 'hello', headers: { 'x-mine': 'a' }
      })
      assert.equal(await res.body.text(), 'body:hello')
    })
    const ours = seen.filter((s) => s.message.request && s.message.request.path === '/diag?x=1')
    const names = ours.map((s) => s.name)
    assert.deepEqual(names.filter((n) => n !== 'undici:request:bodyChunkSent' && n !== 'undici:request:bodyChunkReceived'), [
      'undici:request:create',
      'undici:client:sendHeaders',
      'undici:request:bodySent',
      'undici:request:headers',
      'undici:request:trailers'
    ])
    assert.ok(names.includes('undici:request:bodyChunkReceived'))

    const { request } = ours[0].message
    assert.equal(request.origin, server.origin)
    assert.equal(request.method, 'POST')
    assert.equal(request.path, '/diag?x=1')
    assert.ok(Array.isArray(request.headers))
    assert.equal(request.headers[request.headers.indexOf('x-mine') + 1], 'a')
    assert.equal(typeof request.addHeader, 'function')
    assert.equal(request.completed, true)

    const send = ours.find((s) => s.name === 'undici:client:sendHeaders').message
    assert.equal(typeof send.headers, 'string')
    assert.match(send.headers, /^POST \/diag\?x=1 HTTP\/1\.1\r\n/)
    assert.match(send.headers, /x-mine: a\r\n/)

    const { response } = ours.find((s) => s.name === 'undici:request:headers').message
    assert.equal(response.statusCode, 200)
    assert.equal(response.statusText, 'OK')
    assert.ok(response.headers.every((h) => Buffer.isBuffer(h)))
    const raw = response.headers.map(String)
    assert.equal(raw[raw.indexOf('x-reply') + 1], 'yes')

    const chunks = ours.filter((s) => s.name === 'undici:request:bodyChunkReceived').map((s) => s.message.chunk)
    assert.equal(Buffer.concat(chunks).toString(), 'body:hello')
    assert.ok(Array.isArray(ours.find((s) => s.name === 'undici:request:trailers').message.trailers))
  })

  it('request.addHeader in undici:request:create reaches the server', async function () {
    const inject = ({ request }) => request.addHeader('traceparent', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01')
    dc.subscribe('undici:request:create', inject)
    try {
      const res = await undici.request(`${server.origin}/inject`, { dispatcher: agent })
      await res.body.dump()
    } finally {
      dc.unsubscribe('undici:request:create', inject)
    }
    assert.equal(received.traceparent, '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01')
  })

  // The header a subscriber adds joins the request's own, which stay: the
  // connection header (keep-alive, or close with reset: true) as undici's
  // client writes it, and Expect.
  it('request.addHeader keeps the request\'s own connection header, as undici\'s Agent', async function () {
    const inject = ({ request }) => request.addHeader('x-trace', '1')
    const seen = {}
    dc.subscribe('undici:request:create', inject)
    try {
      for (const [name, dispatcher] of [['undici', new undici.Agent()], ['ours', agent]]) {
        seen[name] = []
        for (const reset of [false, true]) {
          const res = await undici.request(`${server.origin}/inject`, { dispatcher, reset })
          await res.body.dump()
          seen[name].push([received.connection, received['x-trace']])
        }
        if (dispatcher !== agent) await dispatcher.close()
      }
    } finally {
      dc.unsubscribe('undici:request:create', inject)
    }
    assert.deepEqual(seen.undici, [['keep-alive', '1'], ['close', '1']])
    assert.deepEqual(seen.ours, seen.undici)
  })

  it('publishes undici:request:error with the error', async function () {
    const port = await closedPort()
    let caught
    const seen = await watch(async () => {
      await assert.rejects(undici.request(`http://127.0.0.1:${port}/gone`, { dispatcher: agent }), (err) => {
        caught = err
        return true
      })
    })
    const errors = seen.filter((s) => s.name === 'undici:request:error' && s.message.request.path === '/gone')
    assert.equal(errors.length, 1)
    assert.equal(errors[0].message.error, caught)
    assert.equal(errors[0].message.error.code, 'ECONNREFUSED')
  })

  // The messages one request publishes, connection ones included, through
  // undici's Agent and through ours on a fresh agent each: the same names in
  // the same order, the same connectParams, a socket of the same shape
  // (what instrumentations read of it), and sendHeaders only for a request
  // that reached a connection, before its body's messages.
  describe('side by side with undici\'s Agent', function () {
    let tlsServer
    let certs

    before(async function () {
      certs = getCerts()
      tlsServer = await startTlsServer((req, res) => {
        req.resume()
        req.on('end', () => res.end('tls'))
      }, { key: certs.serverKey, cert: certs.serverCert })
    })

    after(async function () {
      await tlsServer.close()
    })

    async function sequence (AgentClass, options, run) {
      const fresh = new AgentClass(options)
      try {
        return await watch(() => run(fresh), summary)
      } finally {
        await fresh.close()
      }
    }

    function summary (name, message) {
      const out = { name: name.replace(/^undici:/, '') }
      if (message.connectParams) out.connectParams = { ...message.connectParams }
      if (name.startsWith('undici:client:')) out.connector = typeof message.connector
      if ('socket' in message) out.socket = shapeOf(message.socket)
      if (message.error) out.error = message.error.code
      if (name === 'undici:client:sendHeaders') out.firstLine = message.headers.split('\r\n')[0]
      return out
    }

    // What OpenTelemetry, Sentry, Datadog and Elastic read of a socket.
    function shapeOf (socket) {
      if (socket === null || socket === undefined) return socket
      const { remoteAddress, remotePort, remoteFamily, localAddress, alpnProtocol, encrypted } = socket
      return { remoteAddress, remotePort, remoteFamily, localAddress, alpnProtocol, encrypted, localPort: typeof socket.localPort }
    }

    it('a POST on a new connection: create, beforeConnect, connected, sendHeaders, body, response', async function () {
      const run = async (dispatcher) => {
        const res = await undici.request(`${server.origin}/seq`, { dispatcher, method: 'POST', body: 'abc' })
        await res.body.text()
      }
      const theirs = await sequence(undici.Agent, {}, run)
      const ours = await sequence(OurAgent, {}, run)
      assert.deepEqual(ours, theirs)
      assert.deepEqual(ours.slice(0, 4).map((m) => m.name), ['request:create', 'client:beforeConnect', 'client:connected', 'client:sendHeaders'])
      assert.equal(ours[1].connectParams.version, undefined) // no HTTP context before connecting, as undici
      assert.equal(ours[2].connectParams.version, 'h1')
      assert.equal(ours[2].socket.remotePort, server.port)
      assert.equal(ours[3].socket.remoteFamily, 'IPv4')
    })

    it('a second request on the same connection: no connection messages', async function () {
      const run = async (dispatcher) => {
        for (let i = 0; i < 2; i++) {
          const res = await undici.request(`${server.origin}/twice`, { dispatcher })
          await res.body.text()
          // undici's pool frees its client a tick after the body ends: sooner
          // and it opens a second connection
          await new Promise((resolve) => setTimeout(resolve, 20))
        }
      }
      const theirs = await sequence(undici.Agent, {}, run)
      const ours = await sequence(OurAgent, {}, run)
      assert.deepEqual(ours, theirs)
      assert.equal(ours.filter((m) => m.name === 'client:connected').length, 1)
      assert.equal(ours.filter((m) => m.name === 'client:sendHeaders').length, 2)
    })

    it('HTTPS: connectParams as undici\'s, a socket with its ALPN protocol', async function () {
      const origin = `https://localhost:${tlsServer.port}`
      const run = async (dispatcher) => {
        const res = await undici.request(`${origin}/tls`, { dispatcher })
        await res.body.text()
      }
      const options = { connect: { ca: certs.ca } }
      const theirs = await sequence(undici.Agent, options, run)
      const ours = await sequence(OurAgent, options, run)
      assert.deepEqual(ours, theirs)
      const sent = ours.find((m) => m.name === 'client:sendHeaders')
      assert.equal(sent.socket.alpnProtocol, 'http/1.1')
      assert.equal(sent.socket.encrypted, true)
      // undici's client takes it from the request's servername option or Host header
      assert.equal(ours.find((m) => m.name === 'client:beforeConnect').connectParams.servername, null)
    })

    it('a refused connection: beforeConnect, connectError, the request\'s error, and no sendHeaders', async function () {
      const port = await closedPort()
      const run = async (dispatcher) => {
        await assert.rejects(undici.request(`http://127.0.0.1:${port}/`, { dispatcher, method: 'POST', body: 'x' }))
      }
      const theirs = await sequence(undici.Agent, {}, run)
      const ours = await sequence(OurAgent, {}, run)
      assert.deepEqual(ours, theirs)
      assert.deepEqual(ours.map((m) => m.name), ['request:create', 'client:beforeConnect', 'client:connectError', 'request:error'])
    })
  })
})
