'use strict'

// HTTPS against servers whose certificates come from a CA made at test time.

const assert = require('node:assert/strict')
const crypto = require('node:crypto')
const { createAgent } = require('./support/agent')
const { startTlsServer } = require('./support/servers')
const { getCerts } = require('./support/certs')
const { collect, sha256, sleep } = require('./support/collect')

describe('tls', function () {
  let certs
  let server
  let nameOnly
  let mtls

  function handler (req, res) {
    const chunks = []
    req.on('data', (c) => chunks.push(c))
    req.on('end', () => {
      const peer = req.socket.getPeerCertificate()
      res.setHeader('x-client-cn', (peer && peer.subject && peer.subject.CN) || '')
      res.setHeader('x-body-sha256', sha256(Buffer.concat(chunks)))
      res.end(`secure ${req.method} ${req.url}`)
    })
  }

  before(async function () {
    certs = getCerts()
    server = await startTlsServer(handler, { key: certs.serverKey, cert: certs.serverCert })
    nameOnly = await startTlsServer(handler, { key: certs.nameOnlyKey, cert: certs.nameOnlyCert })
    mtls = await startTlsServer(handler, {
      key: certs.serverKey,
      cert: certs.serverCert,
      ca: certs.ca,
      requestCert: true,
      rejectUnauthorized: true
    })
  })

  after(async function () {
    await server.close()
    await nameOnly.close()
    await mtls.close()
  })

  async function withAgent (opts, fn) {
    const agent = createAgent(opts)
    try {
      return await fn(agent)
    } finally {
      await agent.close()
    }
  }

  it('connect: { ca } trusts the test CA (https://127.0.0.1)', async function () {
    await withAgent({ connect: { ca: certs.ca } }, async (agent) => {
      const r = await collect(agent, { origin: server.origin, path: '/x?y=1', method: 'GET' })
      assert.equal(r.error, null, `request failed: ${r.error && r.error.stack}`)
      assert.equal(r.statusCode, 200)
      assert.equal(r.body.toString(), 'secure GET /x?y=1')
    })
  })

  it('connect: { ca } trusts the test CA (https://localhost)', async function () {
    await withAgent({ connect: { ca: certs.ca } }, async (agent) => {
      const r = await collect(agent, { origin: `https://localhost:${server.port}`, path: '/', method: 'GET' })
      assert.equal(r.error, null, `request failed: ${r.error && r.error.stack}`)
      assert.equal(r.body.toString(), 'secure GET /')
    })
  })

  it('connect: { ca } given as a Buffer works too', async function () {
    await withAgent({ connect: { ca: Buffer.from(certs.ca) } }, async (agent) => {
      const r = await collect(agent, { origin: server.origin, path: '/', method: 'GET' })
      assert.equal(r.error, null, `request failed: ${r.error && r.error.stack}`)
    })
  })

  it('without the CA: an error whose code names the certificate problem, and no request', async function () {
    const before = server.stats.requests
    await withAgent({}, async (agent) => {
      const r = await collect(agent, { origin: server.origin, path: '/', method: 'GET' })
      assert.equal(r.events[r.events.length - 1], 'error')
      assert.ok(!r.events.includes('responseStart'))
      assert.equal(typeof r.error.code, 'string')
      assert.match(r.error.code, /CERT|SIGNATURE|ISSUER/)
    })
    await sleep(20)
    assert.equal(server.stats.requests, before)
  })

  it('rejectUnauthorized: false accepts the untrusted certificate', async function () {
    await withAgent({ connect: { rejectUnauthorized: false } }, async (agent) => {
      const r = await collect(agent, { origin: server.origin, path: '/', method: 'GET' })
      assert.equal(r.error, null, `request failed: ${r.error && r.error.stack}`)
      assert.equal(r.body.toString(), 'secure GET /')
    })
  })

  it('checks the host name: a certificate for localhost only fails on 127.0.0.1', async function () {
    await withAgent({ connect: { ca: certs.ca } }, async (agent) => {
      const r = await collect(agent, { origin: nameOnly.origin, path: '/', method: 'GET' })
      assert.equal(r.events[r.events.length - 1], 'error')
      assert.equal(typeof r.error.code, 'string')
      assert.match(r.error.code, /CERT|ALTNAME|HOST|NAME/)
    })
  })

  it('connect: { servername } is the name the certificate is checked against', async function () {
    await withAgent({ connect: { ca: certs.ca, servername: 'localhost' } }, async (agent) => {
      const r = await collect(agent, { origin: nameOnly.origin, path: '/', method: 'GET' })
      assert.equal(r.error, null, `request failed: ${r.error && r.error.stack}`)
      assert.equal(r.body.toString(), 'secure GET /')
    })
  })

  it('client certificate: connect: { cert, key } is presented to a server that requires one', async function () {
    await withAgent({ connect: { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey } }, async (agent) => {
      const r = await collect(agent, { origin: mtls.origin, path: '/', method: 'GET' })
      assert.equal(r.error, null, `request failed: ${r.error && r.error.stack}`)
      assert.equal(r.headers['x-client-cn'], 'curl-dispatcher test client')
    })
  })

  it('without a client certificate the server that requires one refuses', async function () {
    const before = mtls.stats.requests
    await withAgent({ connect: { ca: certs.ca } }, async (agent) => {
      const r = await collect(agent, { origin: mtls.origin, path: '/', method: 'GET' })
      assert.equal(r.events[r.events.length - 1], 'error')
      assert.ok(r.error instanceof Error)
    })
    assert.equal(mtls.stats.requests, before)
  })

  it('uploads a body over TLS and reuses the connection', async function () {
    const before = server.stats.connections
    await withAgent({ connect: { ca: certs.ca } }, async (agent) => {
      for (let i = 0; i < 3; i++) {
        const body = crypto.randomBytes(300000)
        const r = await collect(agent, { origin: server.origin, path: `/up/${i}`, method: 'POST', body })
        assert.equal(r.error, null, `request failed: ${r.error && r.error.stack}`)
        assert.equal(r.headers['x-body-sha256'], sha256(body))
        assert.equal(r.body.toString(), `secure POST /up/${i}`)
      }
    })
    assert.equal(server.stats.connections - before, 1, 'one TLS connection for three requests')
  })
})
