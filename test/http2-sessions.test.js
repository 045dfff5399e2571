'use strict'

// On HTTP/2 origins `connections` counts sessions, each carrying up to
// maxConcurrentStreams streams (undici's meaning), not requests in flight.

const assert = require('node:assert/strict')
const http2 = require('node:http2')
const net = require('node:net')
const { once } = require('node:events')
const undici = require('undici')
const { createAgent, kind } = require('./support/agent')
const { getCerts } = require('./support/certs')

describe('http2 sessions', function () {
  this.timeout(60000)
  let server
  let origin
  let sessions = 0
  let inFlight = 0
  let maxInFlight = 0
  let answerMs = 500

  before(async function () {
    const certs = getCerts()
    server = http2.createSecureServer({ key: certs.serverKey, cert: certs.serverCert, allowHTTP1: false })
    server.on('session', () => sessions++)
    server.on('stream', (stream) => {
      stream.on('error', () => {})
      inFlight++
      maxInFlight = Math.max(maxInFlight, inFlight)
      setTimeout(() => {
        inFlight--
        stream.respond({ ':status': 200 })
        stream.end('ok')
      }, answerMs)
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    origin = `https://localhost:${server.address().port}`
  })

  after(async function () {
    server.close()
  })

  beforeEach(function () { sessions = 0; maxInFlight = 0 })

  async function run (opts, n) {
    const certs = getCerts()
    const agent = createAgent({ allowH2: true, connect: { ca: certs.ca }, ...opts })
    const started = Date.now()
    try {
      const codes = await Promise.all(Array.from({ length: n }, () =>
        undici.request(origin, { dispatcher: agent }).then(async (r) => { await r.body.text(); return r.statusCode })))
      assert.ok(codes.every((c) => c === 200))
      return Date.now() - started
    } finally {
      await agent.close()
    }
  }

  it('2000 requests, 0.5 s answers, connections: 4, 100 streams: rounds of 400, on 4 sessions', async function () {
    if (kind === 'undici') this.skip()  // undici 7.x hangs here (its test/issue-4880.js, fixed in later releases)
    const ms = await run({ connections: 4, maxConcurrentStreams: 100 }, 2000)
    // 5 rounds of 400 (plus the first answer, which shows the origin speaks
    // HTTP/2): about 3 s; rounds of 4 would take over 4 minutes
    assert.ok(ms < 12000, `took ${ms} ms`)
    assert.ok(maxInFlight >= 300, `at most ${maxInFlight} streams at once`)
    assert.ok(sessions <= 4, `${sessions} sessions`)
  })

  it('an HTTPS origin that speaks HTTP/1.1 only (ALPN http/1.1) keeps allowH2 agents at `connections` requests', async function () {
    const https = require('node:https')
    const certs = getCerts()
    let open = 0
    let most = 0
    let sockets = 0
    const h1 = https.createServer({ key: certs.serverKey, cert: certs.serverCert }, (req, res) => {
      open++
      most = Math.max(most, open)
      setTimeout(() => { open--; res.end('ok') }, 100)
    })
    h1.on('secureConnection', () => sockets++)
    h1.listen(0, '127.0.0.1')
    await once(h1, 'listening')
    const agent = createAgent({ allowH2: true, connect: { ca: certs.ca }, connections: 2 })
    try {
      const url = `https://localhost:${h1.address().port}/`
      const rs = await Promise.all(Array.from({ length: 20 }, () =>
        undici.request(url, { dispatcher: agent }).then(async (r) => { await r.body.text(); return r.statusCode })))
      assert.ok(rs.every((c) => c === 200))
      assert.ok(most <= 2, `${most} requests at once`)
      assert.equal(most, 2)
      assert.ok(sockets <= 2, `${sockets} connections`)
    } finally {
      await agent.close()
      h1.close()
    }
  })

  it('3000 requests at once, connections: 20, 100 streams, sessions slow to connect: at most 20 sessions', async function () {
    // undici's test/issue-4880.js at a CI size. Its shape: sessions whose TLS
    // handshakes are still going on (RSA keys, a loaded machine) when the
    // first answers show the origin speaks HTTP/2. A relay in front of the
    // server holds all but the first 5 connections back for 1.5 s; before
    // the engine counted sessions, libcurl got 2000 streams to place on 5
    // connected sessions and opened a connection for each one that did not
    // fit (hundreds; 5 700 and EMFILE in undici's test).
    if (kind === 'undici') this.skip()  // undici 7.x hangs here (its test/issue-4880.js, fixed in later releases)
    let accepted = 0
    const relay = net.createServer((client) => {
      const delay = ++accepted <= 5 ? 0 : 1500
      client.on('error', () => {})
      client.pause()
      setTimeout(() => {
        const upstream = net.connect(server.address().port, '127.0.0.1')
        upstream.on('error', () => client.destroy())
        client.on('close', () => upstream.destroy())
        upstream.on('close', () => client.destroy())
        client.pipe(upstream)
        upstream.pipe(client)
        client.resume()
      }, delay)
    })
    relay.listen(0, '127.0.0.1')
    await once(relay, 'listening')
    const certs = getCerts()
    const agent = createAgent({
      allowH2: true,
      connect: { ca: certs.ca },
      connections: 20,
      maxConcurrentStreams: 100,
      pipelining: 100,
      headersTimeout: 0,
      bodyTimeout: 0
    })
    const relayOrigin = `https://localhost:${relay.address().port}`
    answerMs = 1000
    try {
      const results = await Promise.allSettled(Array.from({ length: 3000 }, () =>
        undici.request(relayOrigin, { dispatcher: agent }).then(async (r) => { await r.body.text(); return r.statusCode })))
      const failed = results.filter((r) => r.status === 'rejected')
      assert.equal(failed.length, 0, failed.length > 0 ? `${failed.length} failed: ${failed[0].reason.stack}` : '')
      assert.ok(results.every((r) => r.value === 200))
      assert.ok(accepted <= 20, `${accepted} connections to the relay`)
      assert.ok(sessions <= 20, `${sessions} sessions`)
    } finally {
      answerMs = 500
      await agent.close()
      relay.close()
    }
  })

  it('maxConcurrentStreams bounds the streams of each session', async function () {
    if (kind === 'undici') this.skip()  // undici 7 may open more sessions than `connections` here
    const ms = await run({ connections: 2, maxConcurrentStreams: 10 }, 100)
    assert.ok(maxInFlight <= 20, `${maxInFlight} streams at once with 2 sessions of 10`)
    assert.ok(maxInFlight >= 10, `only ${maxInFlight} streams at once`)
    assert.ok(ms < 10000, `took ${ms} ms`)
    assert.ok(sessions <= 2, `${sessions} sessions`)
  })

  // The server allows fewer streams than maxConcurrentStreams: libcurl does
  // not say so, and opens a connection for each stream beyond it (181
  // sessions for these 200 requests before). The engine learns the limit
  // from the first session opened past `connections` and admits streams
  // only a step ahead of what the sessions carry.
  it('a server allowing 10 streams, connections: 2, 100 streams, 200 requests: a handful of sessions', async function () {
    if (kind === 'undici') this.skip()  // undici 7 may open more sessions than `connections` here
    const certs = getCerts()
    const low = http2.createSecureServer({ key: certs.serverKey, cert: certs.serverCert, settings: { maxConcurrentStreams: 10 } })
    let lowSessions = 0
    low.on('session', () => lowSessions++)
    low.on('stream', (stream) => {
      stream.on('error', () => {})
      setTimeout(() => { stream.respond({ ':status': 200 }); stream.end('ok') }, 200)
    })
    low.listen(0, '127.0.0.1')
    await once(low, 'listening')
    const agent = createAgent({ allowH2: true, connect: { ca: certs.ca }, connections: 2, maxConcurrentStreams: 100 })
    try {
      const url = `https://localhost:${low.address().port}/`
      const codes = await Promise.all(Array.from({ length: 200 }, () =>
        undici.request(url, { dispatcher: agent }).then(async (r) => { await r.body.text(); return r.statusCode })))
      assert.ok(codes.every((c) => c === 200))
      // 2, plus at most one step of streams past the server's limit on each
      assert.ok(lowSessions <= 8, `${lowSessions} sessions`)
    } finally {
      await agent.close()
      low.close()
    }
  })
})
