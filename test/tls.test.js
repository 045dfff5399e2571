'use strict'

// HTTPS against servers whose certificates come from a CA made at test time.

const assert = require('node:assert/strict')
const crypto = require('node:crypto')
const { createAgent, kind } = require('./support/agent')
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

  it('tls, the older name of connect\'s TLS settings, is honoured; connect wins where both say', async function () {
    await withAgent({ tls: { rejectUnauthorized: false } }, async (agent) => {
      const r = await collect(agent, { origin: server.origin, path: '/', method: 'GET' })
      assert.equal(r.error, null, `request failed: ${r.error && r.error.stack}`)
      assert.equal(r.body.toString(), 'secure GET /')
    })
    await withAgent({ tls: { rejectUnauthorized: false }, connect: { rejectUnauthorized: true } }, async (agent) => {
      const r = await collect(agent, { origin: server.origin, path: '/', method: 'GET' })
      assert.match(String(r.error && r.error.code), /CERT|SIGNATURE|ISSUER/)
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

  describe('TLS sessions and worker threads', function () {
    // Each worker keeps its own TLS session cache; one origin always runs on
    // one worker, so adding threads must not add full handshakes.
    async function handshakes (threads) {
      let full = 0
      let resumed = 0
      const counted = await startTlsServer((req, res) => res.end('ok'), { key: certs.serverKey, cert: certs.serverCert })
      counted.server.on('secureConnection', (socket) => { socket.isSessionReused() ? resumed++ : full++ })
      try {
        await withAgent({ connect: { ca: certs.ca }, threads }, async (agent) => {
          for (let i = 0; i < 20; i++) {
            // reset: a fresh connection, and so a handshake, per request
            const r = await collect(agent, { origin: `https://localhost:${counted.port}`, path: '/', method: 'GET', reset: true }, {}, { grace: 0 })
            assert.equal(r.error, null, r.error && r.error.stack)
          }
        })
      } finally {
        await counted.close()
      }
      return { full, resumed }
    }

    it('20 fresh connections to one origin: threads: 4 makes no more full handshakes than threads: 1', async function () {
      if (kind === 'undici') this.skip() // undici has no threads option
      const one = await handshakes(1)
      const four = await handshakes(4)
      // libcurl 7.88 resumes every other connection against Node's TLS 1.3
      // server (the resumed one gets no new ticket before it closes)
      assert.ok(one.resumed >= 5, `sessions resumed with one thread: ${JSON.stringify(one)}`)
      assert.equal(four.full, one.full, `full handshakes: threads 1 ${JSON.stringify(one)}, threads 4 ${JSON.stringify(four)}`)
    })

    it('every origin of one host name runs on one worker (one DNS lookup); IP literals spread by port', function () {
      if (kind === 'undici') this.skip() // our routing
      const { parseOrigin } = require('../lib/origin')
      const hashes = (origins) => new Set(origins.map((o) => parseOrigin(o).hash))
      assert.equal(hashes(['http://localhost:1', 'https://localhost:2', 'http://localhost', 'https://LOCALHOST:443']).size, 1)
      assert.ok(hashes(Array.from({ length: 16 }, (_, i) => `http://127.0.0.1:${1000 + i}`)).size > 4)
      assert.ok(hashes(Array.from({ length: 16 }, (_, i) => `http://[::1]:${1000 + i}`)).size > 4)
      assert.notEqual(parseOrigin('http://a.test').hash, parseOrigin('http://b.test').hash)
    })
  })
})
