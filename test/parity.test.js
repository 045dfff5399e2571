'use strict'

// Behaviours found by running undici's own test suite against this Agent
// (issue #12): each one is what undici's Agent does, checked here on the
// wire or through the handler, so that CI holds them without undici's tests.

const assert = require('node:assert/strict')
const http2 = require('node:http2')
const { once } = require('node:events')
const undici = require('undici')
const { createAgent, kind } = require('./support/agent')
const { startServer, startCaptureServer } = require('./support/servers')
const { getCerts } = require('./support/certs')
const { collect, sleep } = require('./support/collect')

const { InvalidArgumentError } = undici.errors

function values (req, name) {
  return req.headers.filter(([k]) => k.toLowerCase() === name).map(([, v]) => v)
}

describe('parity with undici (its own test suite)', function () {
  let server
  let agent

  afterEach(async function () {
    if (agent) await agent.close()
    agent = null
    if (server) await server.close()
    server = null
  })

  async function capture (opts, agentOpts) {
    server = server ?? await startCaptureServer()
    agent = agent ?? createAgent(agentOpts)
    const before = server.requests.length
    const r = await collect(agent, { origin: server.origin, path: '/', method: 'GET', ...opts })
    assert.equal(r.error, null, `request failed: ${r.error && r.error.stack}`)
    assert.equal(server.requests.length, before + 1)
    return server.requests[before]
  }

  describe('the connection header', function () {
    it('GET and POST say connection: keep-alive', async function () {
      assert.deepEqual(values(await capture({}), 'connection'), ['keep-alive'])
      assert.deepEqual(values(await capture({ method: 'POST', body: 'x' }), 'connection'), ['keep-alive'])
    })

    it('reset: true says connection: close', async function () {
      assert.deepEqual(values(await capture({ reset: true }), 'connection'), ['close'])
    })

    it('HEAD says connection: close, unless reset: false', async function () {
      assert.deepEqual(values(await capture({ method: 'HEAD' }), 'connection'), ['close'])
      assert.deepEqual(values(await capture({ method: 'HEAD', reset: false }), 'connection'), ['keep-alive'])
    })

    it("the user's connection header is validated, not sent: close becomes the agent's one close", async function () {
      assert.deepEqual(values(await capture({ headers: { connection: 'close' } }), 'connection'), ['close'])
      assert.deepEqual(values(await capture({ headers: { Connection: 'keep-alive, x-hop' } }), 'connection'), ['keep-alive'])
      const r = await collect(agent, { origin: server.origin, path: '/', method: 'GET', headers: { connection: 'a b' } })
      assert.ok(r.error instanceof InvalidArgumentError, `got ${r.error}`)
    })

    it('pipelining: 0 says connection: close', async function () {
      assert.deepEqual(values(await capture({}, { pipelining: 0 }), 'connection'), ['close'])
    })

    it('an upgrade says connection: upgrade, once', async function () {
      const raw = []
      server = await startServer(() => {})
      server.server.on('upgrade', (req, socket) => {
        raw.push(req.rawHeaders)
        socket.end('HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: x-test\r\n\r\n')
      })
      agent = createAgent()
      const { socket } = await undici.upgrade(server.origin, { dispatcher: agent, upgrade: 'x-test', headers: { connection: 'keep-alive' } })
      socket.destroy()
      const connection = []
      for (let i = 0; i < raw[0].length; i += 2) if (raw[0][i].toLowerCase() === 'connection') connection.push(raw[0][i + 1])
      assert.deepEqual(connection, ['upgrade'])
    })

    it('HTTP/2 carries no connection header (node:http2 would refuse the stream)', async function () {
      const certs = getCerts()
      const h2 = http2.createSecureServer({ key: certs.serverKey, cert: certs.serverCert, allowHTTP1: false })
      const seen = []
      h2.on('stream', (stream, headers) => {
        seen.push(headers.connection)
        stream.respond({ ':status': 200 })
        stream.end('h2')
      })
      h2.listen(0, '127.0.0.1')
      await once(h2, 'listening')
      try {
        agent = createAgent({ allowH2: true, connect: { ca: certs.ca } })
        const res = await undici.request(`https://127.0.0.1:${h2.address().port}/`, { dispatcher: agent })
        assert.equal(await res.body.text(), 'h2')
        assert.deepEqual(seen, [undefined])
      } finally {
        await agent.close()
        agent = null
        await new Promise((resolve) => h2.close(resolve))
      }
    })
  })

  it('query values null and undefined are `key=`, as node:querystring', async function () {
    const req = await capture({ path: '/q', query: { a: null, b: undefined, c: 1, d: ['x', 'y'] } })
    assert.equal(req.path, '/q?a=&b=&c=1&d=x&d=y')
  })

  it('a FormData body has a content-length, not chunked framing', async function () {
    const form = new undici.FormData()
    form.append('field', 'value\nwith a line')
    form.append('file', new Blob(['file bytes'], { type: 'text/plain' }), 'a.txt')
    const req = await capture({ method: 'POST', body: form })
    assert.deepEqual(values(req, 'transfer-encoding'), [])
    assert.deepEqual(values(req, 'content-length'), [String(req.body.length)])
    const [type] = values(req, 'content-type')
    assert.match(type, /^multipart\/form-data; boundary=/)
    // the server reads back what was sent
    const parsed = await new undici.Response(req.body, { headers: { 'content-type': type } }).formData()
    assert.equal(parsed.get('field'), 'value\r\nwith a line')
    assert.equal(parsed.get('file').name, 'a.txt')
    assert.equal(await parsed.get('file').text(), 'file bytes')
  })

  describe('maxOrigins', function () {
    it('refuses a request to one origin more than the limit with MaxOriginsReachedError', async function () {
      const a = await startServer((req, res) => setTimeout(() => res.end('a'), 50))
      const b = await startServer((req, res) => res.end('b'))
      agent = createAgent({ maxOrigins: 1 })
      try {
        const first = undici.request(a.origin, { dispatcher: agent })
        await assert.rejects(undici.request(b.origin, { dispatcher: agent }), (err) => {
          assert.ok(err instanceof undici.errors.MaxOriginsReachedError, `got ${err}`)
          assert.equal(err.code, 'UND_ERR_MAX_ORIGINS_REACHED')
          return true
        })
        // the origin already in use still works
        const [r1, r2] = await Promise.all([first, undici.request(a.origin, { dispatcher: agent })])
        assert.equal(await r1.body.text(), 'a')
        assert.equal(await r2.body.text(), 'a')
      } finally {
        await agent.close()
        agent = null
        await a.close()
        await b.close()
      }
    })

    it('is validated as undici does', function () {
      for (const bad of [0, -1, 'foo', NaN]) {
        assert.throws(() => createAgent({ maxOrigins: bad }), InvalidArgumentError, String(bad))
      }
      return createAgent({ maxOrigins: Infinity }).close()
    })
  })

  describe('connect.lookup', function () {
    // A lookup that knows one made-up name; everything else is an error.
    function fakeLookup (addresses, calls = []) {
      return (hostname, options, cb) => {
        calls.push({ hostname, options })
        if (hostname !== 'service.test') {
          return cb(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }))
        }
        const list = addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }))
        if (options.all) return cb(null, list)
        cb(null, list[0].address, list[0].family)
      }
    }

    async function echoHost () {
      return startServer((req, res) => res.end(`host ${req.headers.host}`))
    }

    it('resolves the name with it, and the Host header stays the name', async function () {
      server = await echoHost()
      const calls = []
      agent = createAgent({ connect: { lookup: fakeLookup(['127.0.0.1'], calls) } })
      const res = await undici.request(`http://service.test:${server.port}/`, { dispatcher: agent })
      assert.equal(await res.body.text(), `host service.test:${server.port}`)
      assert.equal(calls[0].hostname, 'service.test')
    })

    it('tries every address it returns (IPv6 first, server on IPv4 only)', async function () {
      server = await echoHost()
      agent = createAgent({ connect: { lookup: fakeLookup(['::1', '127.0.0.1']) }, autoSelectFamily: true })
      const res = await undici.request(`http://service.test:${server.port}/`, { dispatcher: agent })
      assert.equal(res.statusCode, 200)
      await res.body.dump()
    })

    it('with autoSelectFamily: false only the first address is tried', async function () {
      server = await echoHost()
      agent = createAgent({ connect: { lookup: fakeLookup(['::1', '127.0.0.1']), autoSelectFamily: false } })
      await assert.rejects(undici.request(`http://service.test:${server.port}/`, { dispatcher: agent }),
        (err) => ['ECONNREFUSED', 'EAFNOSUPPORT'].includes(err.code))
    })

    it("a lookup error is the request's error (and a connectionError)", async function () {
      server = await echoHost()
      agent = createAgent({ connect: { lookup: fakeLookup(['127.0.0.1']) } })
      const events = []
      agent.on('connectionError', (origin, targets, err) => events.push(err.code))
      await assert.rejects(undici.request(`http://other.test:${server.port}/`, { dispatcher: agent }), { code: 'ENOTFOUND' })
      assert.deepEqual(events, ['ENOTFOUND'])
    })

    it('a lookup that never answers ends in ConnectTimeoutError', async function () {
      agent = createAgent({ connectTimeout: 200, connect: { lookup: () => {} } })
      const r = await collect(agent, { origin: 'http://service.test:1', path: '/', method: 'GET' })
      assert.ok(r.error instanceof undici.errors.ConnectTimeoutError, `got ${r.error}`)
    })

    it('an abort while the lookup runs ends the request at once', async function () {
      // undici calls onRequestStart once connected: no controller during its lookup
      if (kind === 'undici') this.skip()
      agent = createAgent({ connect: { lookup: () => {} } })
      const r = await collect(agent, { origin: 'http://service.test:1', path: '/', method: 'GET' }, {
        onRequestStart (controller) { setTimeout(() => controller.abort(new Error('stop')), 20) }
      })
      assert.equal(r.error.message, 'stop')
    })

    it('over TLS the certificate is checked against the name', async function () {
      const certs = getCerts()
      const https = require('node:https')
      const tls = https.createServer({ key: certs.nameOnlyKey, cert: certs.nameOnlyCert }, (req, res) => res.end('tls'))
      tls.listen(0, '127.0.0.1')
      await once(tls, 'listening')
      const names = []
      const lookup = (hostname, options, cb) => {
        names.push(hostname)
        options.all ? cb(null, [{ address: '127.0.0.1', family: 4 }]) : cb(null, '127.0.0.1', 4)
      }
      try {
        agent = createAgent({ connect: { lookup, ca: certs.ca } })
        // the certificate names localhost only: the name is what is checked
        const res = await undici.request(`https://localhost:${tls.address().port}/`, { dispatcher: agent })
        assert.equal(await res.body.text(), 'tls')
        assert.deepEqual(names, ['localhost'])
      } finally {
        await agent.close()
        agent = null
        await new Promise((resolve) => tls.close(resolve))
      }
    })
  })

  it('onResponseStarted() reaches a v2 handler (composed interceptors), before onResponseStart', async function () {
    server = await startServer((req, res) => res.end('ok'))
    agent = createAgent()
    const order = []
    const r = await collect(agent.compose((dispatch) => (opts, handler) => dispatch(opts, {
      onRequestStart: (...a) => handler.onRequestStart(...a),
      onResponseStarted: () => order.push('started'),
      onResponseStart: (...a) => { order.push('start'); return handler.onResponseStart(...a) },
      onResponseData: (...a) => handler.onResponseData(...a),
      onResponseEnd: (...a) => handler.onResponseEnd(...a),
      onResponseError: (...a) => handler.onResponseError(...a)
    })), { origin: server.origin, path: '/', method: 'GET' })
    assert.equal(r.error, null)
    assert.deepEqual(order, ['started', 'start'])
  })

  it("'disconnect' of a connection comes after its request's terminal callback, a turn later", async function () {
    server = await startServer((req, res) => {
      res.shouldKeepAlive = false // connection: close
      res.end('bye')
    })
    for (let i = 0; i < 20; i++) {
      agent = createAgent()
      const order = []
      agent.on('disconnect', () => order.push('disconnect'))
      const r = await collect(agent, { origin: server.origin, path: '/', method: 'GET' }, {
        onResponseEnd () {
          order.push('end')
          process.nextTick(() => order.push('tick'))
          Promise.resolve().then(() => order.push('microtask'))
        }
      })
      assert.equal(r.error, null)
      for (let n = 0; n < 50 && !order.includes('disconnect'); n++) await sleep(10)
      assert.deepEqual(order, ['end', 'tick', 'microtask', 'disconnect'], `request ${i}`)
      await agent.close()
      agent = null
    }
  })
})
