'use strict'

// undici's connection options on the agent: socketPath, localAddress,
// pipelining, maxResponseSize, expectContinue, useH2c, strictContentLength,
// autoSelectFamily and keep-alive option validation.

const assert = require('node:assert/strict')
const fs = require('node:fs')
const http = require('node:http')
const http2 = require('node:http2')
const os = require('node:os')
const path = require('node:path')
const { once } = require('node:events')
const undici = require('undici')
const { kind, createAgent } = require('./support/agent')
const { startServer } = require('./support/servers')

const { errors } = undici

async function get (agent, url, opts = {}) {
  const res = await undici.request(url, { dispatcher: agent, ...opts })
  return { status: res.statusCode, headers: res.headers, body: await res.body.text() }
}

describe('connection options', function () {
  let server
  let agent

  before(async function () {
    server = await startServer((req, res) => {
      const chunks = []
      req.on('data', (c) => chunks.push(c))
      req.on('end', () => {
        const url = new URL(req.url, 'http://x')
        if (url.pathname === '/size') {
          res.end(Buffer.alloc(Number(url.searchParams.get('n')), 'z'))
          return
        }
        res.setHeader('x-remote', req.socket.remoteAddress)
        res.setHeader('x-content-length', req.headers['content-length'] ?? 'none')
        res.end(Buffer.concat(chunks))
      })
    })
  })

  afterEach(async function () {
    await agent?.close()
    agent = null
  })

  after(async function () {
    await server.close()
  })

  describe('socketPath', function () {
    let unixServer
    let socketPath

    before(async function () {
      socketPath = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'cd-unix-')), 'http.sock')
      unixServer = http.createServer((req, res) => res.end(`unix ${req.method} ${req.url} host=${req.headers.host}`))
      unixServer.listen(socketPath)
      await once(unixServer, 'listening')
    })

    after(async function () {
      unixServer.closeAllConnections()
      await new Promise((resolve) => unixServer.close(resolve))
      fs.rmSync(path.dirname(socketPath), { recursive: true, force: true })
    })

    it('connect: { socketPath } sends every request over the Unix socket', async function () {
      agent = createAgent({ connect: { socketPath } })
      for (let i = 0; i < 3; i++) {
        const res = await get(agent, `http://localhost/u${i}`)
        assert.equal(res.body, `unix GET /u${i} host=localhost`)
      }
    })

    it('socketPath works as a top-level option too, with bodies', async function () {
      if (kind === 'undici') this.skip() // undici's Agent takes it under connect only
      agent = createAgent({ socketPath })
      const res = await get(agent, 'http://any.invalid:8080/p', { method: 'POST', body: 'b' })
      assert.equal(res.body, 'unix POST /p host=any.invalid:8080')
    })

    it('a missing socket fails with ENOENT or a SocketError', async function () {
      agent = createAgent({ connect: { socketPath: socketPath + '.missing' } })
      await assert.rejects(get(agent, 'http://localhost/'), (err) => {
        assert.ok(err.code === 'ENOENT' || err.code === 'UND_ERR_SOCKET' || err.code === 'ECONNREFUSED', err.code)
        return true
      })
    })
  })

  describe('localAddress', function () {
    it('binds the connection to the given address', async function () {
      agent = createAgent({ localAddress: '127.0.0.1' })
      const res = await get(agent, `${server.origin}/`)
      assert.equal(res.headers['x-remote'], '127.0.0.1')
    })

    it('an address of the other family cannot reach the server: the request fails', async function () {
      agent = createAgent({ localAddress: '::1' })
      await assert.rejects(get(agent, `${server.origin}/`))
    })

    it('refuses a value that is not an IP address', function () {
      if (kind === 'undici') this.skip() // undici's Agent validates this only when its first Client is made
      assert.throws(() => createAgent({ localAddress: 'eth0' }), errors.InvalidArgumentError)
      assert.throws(() => createAgent({ localAddress: 7 }), errors.InvalidArgumentError)
    })
  })

  describe('pipelining', function () {
    it('pipelining: 0 closes the connection after each request', async function () {
      const before = server.stats.connections
      agent = createAgent({ pipelining: 0 })
      for (let i = 0; i < 3; i++) assert.equal((await get(agent, `${server.origin}/`)).status, 200)
      assert.equal(server.stats.connections - before, 3)
    })

    it('pipelining: 10 is accepted and requests share a connection', async function () {
      const before = server.stats.connections
      agent = createAgent({ pipelining: 10 })
      for (let i = 0; i < 3; i++) assert.equal((await get(agent, `${server.origin}/`)).status, 200)
      assert.equal(server.stats.connections - before, 1)
    })

    it('maxRequestsPerClient: 2 closes each connection after its second request', async function () {
      if (kind === 'undici') this.skip() // undici closes after the third (its counter is checked before the increment)
      const before = server.stats.connections
      agent = createAgent({ maxRequestsPerClient: 2 })
      const disconnects = []
      agent.on('disconnect', () => disconnects.push(Date.now()))
      for (let i = 0; i < 5; i++) assert.equal((await get(agent, `${server.origin}/`)).status, 200)
      assert.equal(server.stats.connections - before, 3)
      const until = Date.now() + 2000
      while (disconnects.length < 2 && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 10))
      assert.equal(disconnects.length, 2, 'the two full connections were closed')
    })

    it('a boolean is taken as undici takes it: true shares a connection, false closes each', async function () {
      let before = server.stats.connections
      agent = createAgent({ pipelining: true })
      for (let i = 0; i < 3; i++) assert.equal((await get(agent, `${server.origin}/`)).status, 200)
      assert.equal(server.stats.connections - before, 1)
      await agent.close()
      before = server.stats.connections
      agent = createAgent({ pipelining: false })
      for (let i = 0; i < 3; i++) assert.equal((await get(agent, `${server.origin}/`)).status, 200)
      assert.equal(server.stats.connections - before, 3)
    })

    it('refuses a negative or fractional value', function () {
      if (kind === 'undici') this.skip() // undici does not validate pipelining
      assert.throws(() => createAgent({ pipelining: -1 }), errors.InvalidArgumentError)
      assert.throws(() => createAgent({ pipelining: 1.5 }), errors.InvalidArgumentError)
      assert.throws(() => createAgent({ pipelining: '1' }), errors.InvalidArgumentError)
    })
  })

  describe('maxResponseSize', function () {
    it('a body of exactly maxResponseSize completes', async function () {
      agent = createAgent({ maxResponseSize: 1000 })
      const res = await get(agent, `${server.origin}/size?n=1000`)
      assert.equal(res.body.length, 1000)
    })

    it('a larger body fails with ResponseExceededMaxSizeError, and the agent carries on', async function () {
      agent = createAgent({ maxResponseSize: 1000 })
      await assert.rejects(get(agent, `${server.origin}/size?n=200000`), (err) => {
        assert.ok(err instanceof errors.ResponseExceededMaxSizeError, `${err.name}: ${err.message}`)
        assert.equal(err.code, 'UND_ERR_RES_EXCEEDED_MAX_SIZE')
        return true
      })
      assert.equal((await get(agent, `${server.origin}/size?n=10`)).body, 'z'.repeat(10))
    })

    it('refuses values below -1', function () {
      if (kind === 'undici') this.skip() // undici's Agent validates this only when its first Client is made
      assert.throws(() => createAgent({ maxResponseSize: -2 }), errors.InvalidArgumentError)
    })
  })

  describe('expectContinue', function () {
    let continueServer
    let log

    before(async function () {
      continueServer = await startServer(() => {}, {})
      continueServer.server.removeAllListeners('request')
      continueServer.server.on('checkContinue', (req, res) => {
        const received = []
        log.push({ expect: req.headers.expect, path: req.url })
        req.on('data', (c) => received.push(c))
        if (req.url === '/refuse') {
          // a final status instead of 100: the body must not come
          res.writeHead(417, { connection: 'close' })
          res.end('no thanks')
          setTimeout(() => log.push({ bodyBytes: Buffer.concat(received).length }), 200)
          return
        }
        setTimeout(() => {
          log.push({ bodyBytesBefore100: Buffer.concat(received).length })
          res.writeContinue()
          req.on('end', () => res.end(`got ${Buffer.concat(received).length}`))
        }, 150)
      })
      continueServer.server.on('request', (req, res) => {
        log.push({ expect: req.headers.expect ?? 'none', path: req.url })
        req.resume()
        req.on('end', () => res.end('plain'))
      })
    })

    beforeEach(function () {
      if (kind === 'undici') this.skip() // undici honours expectContinue on HTTP/2 only
      log = []
    })

    after(async function () {
      await continueServer.close()
    })

    it('sends Expect: 100-continue and the body only after 100', async function () {
      agent = createAgent()
      const res = await get(agent, `${continueServer.origin}/upload`, {
        method: 'PUT', body: Buffer.alloc(50000, 'u'), expectContinue: true
      })
      assert.equal(res.status, 200)
      assert.equal(res.body, 'got 50000')
      assert.deepEqual(log, [{ expect: '100-continue', path: '/upload' }, { bodyBytesBefore100: 0 }])
    })

    it('a final status instead of 100 ends the request without sending the body', async function () {
      agent = createAgent()
      const res = await get(agent, `${continueServer.origin}/refuse`, {
        method: 'POST', body: Buffer.alloc(50000, 'r'), expectContinue: true
      })
      assert.equal(res.status, 417)
      assert.equal(res.body, 'no thanks')
      await new Promise((resolve) => setTimeout(resolve, 300))
      assert.deepEqual(log, [{ expect: '100-continue', path: '/refuse' }, { bodyBytes: 0 }])
    })

    it('without expectContinue no Expect header is sent', async function () {
      agent = createAgent()
      const res = await get(agent, `${continueServer.origin}/plain`, { method: 'POST', body: Buffer.alloc(2e6) })
      assert.equal(res.body, 'plain')
      assert.deepEqual(log, [{ expect: 'none', path: '/plain' }])
    })
  })

  describe('useH2c', function () {
    let h2c
    let sessions = 0

    before(async function () {
      h2c = http2.createServer()
      h2c.on('session', () => { sessions++ })
      h2c.on('stream', (stream, headers) => {
        const chunks = []
        stream.on('data', (c) => chunks.push(c))
        stream.on('end', () => {
          stream.respond({ ':status': 200 })
          stream.end(`h2c ${headers[':method']} ${headers[':path']} ${Buffer.concat(chunks).length}`)
        })
      })
      h2c.listen(0, '127.0.0.1')
      await once(h2c, 'listening')
    })

    after(async function () {
      await new Promise((resolve) => h2c.close(resolve))
    })

    it('talks HTTP/2 with prior knowledge to an http: origin, request after request', async function () {
      if (kind === 'undici') this.skip() // undici's Agent ignores useH2c (its H2CClient takes it)
      agent = createAgent({ useH2c: true })
      const origin = `http://127.0.0.1:${h2c.address().port}`
      for (let i = 0; i < 3; i++) {
        const res = await get(agent, `${origin}/r${i}`, { method: 'POST', body: 'x'.repeat(i * 100) })
        assert.equal(res.status, 200)
        assert.equal(res.body, `h2c POST /r${i} ${i * 100}`)
      }
      const many = await Promise.all(Array.from({ length: 20 }, (_, i) => get(agent, `${origin}/c${i}`)))
      many.forEach((res, i) => assert.equal(res.body, `h2c GET /c${i} 0`))
    })

    // libcurl 7.88 breaks the second stream of an h2c connection, so there
    // each request has its own; libcurl >= 8.0 multiplexes them on one
    // (engine/cd_transfer.c checks the version at run time).
    // tools/test-libcurl8.sh names the libcurl it runs on in CD_TEST_LIBCURL.
    it('one connection per request on libcurl 7, one for all on libcurl >= 8', async function () {
      if (kind === 'undici') this.skip()
      agent = createAgent({ useH2c: true })
      const origin = `http://127.0.0.1:${h2c.address().port}`
      let before = sessions
      // a burst on a fresh agent: one connection (it waits to multiplex) or five
      await Promise.all(Array.from({ length: 5 }, (_, i) => get(agent, `${origin}/b${i}`)))
      const burst = sessions - before
      const reuse = burst === 1
      assert.ok(burst === 1 || burst === 5, `the burst made ${burst} connections`)
      const m = /^libcurl\/(\d+)\./.exec(process.env.CD_TEST_LIBCURL ?? '')
      if (m) assert.equal(reuse, Number(m[1]) >= 8, `${process.env.CD_TEST_LIBCURL}: ${burst} connections for 5 requests`)
      before = sessions
      for (let i = 0; i < 3; i++) {
        const res = await get(agent, `${origin}/s${i}`, { method: 'POST', body: 'y'.repeat(1000) })
        assert.equal(res.body, `h2c POST /s${i} 1000`)
      }
      const many = await Promise.all(Array.from({ length: 10 }, (_, i) => get(agent, `${origin}/m${i}`)))
      many.forEach((res, i) => assert.equal(res.body, `h2c GET /m${i} 0`))
      assert.equal(sessions - before, reuse ? 0 : 13)
    })

    it('refuses a non-boolean', function () {
      if (kind === 'undici') this.skip() // undici's Agent validates this only when its first Client is made
      assert.throws(() => createAgent({ useH2c: 'yes' }), errors.InvalidArgumentError)
    })
  })

  describe('strictContentLength', function () {
    it('by default a content-length header that disagrees with the body fails before sending', async function () {
      agent = createAgent()
      await assert.rejects(
        get(agent, `${server.origin}/`, { method: 'POST', body: 'abc', headers: { 'content-length': '10' } }),
        errors.RequestContentLengthMismatchError)
    })

    it('strictContentLength: false frames the request by the body itself', async function () {
      if (kind === 'undici') this.skip() // undici sends the mismatched header as given
      agent = createAgent({ strictContentLength: false })
      const warnings = captureWarnings()
      try {
        const res = await get(agent, `${server.origin}/`, { method: 'POST', body: 'abc', headers: { 'content-length': '10' } })
        assert.equal(res.body, 'abc')
        assert.equal(res.headers['x-content-length'], '3')
      } finally {
        warnings.restore()
      }
      assert.deepEqual(warnings.names, ['RequestContentLengthMismatchError'], 'the mismatch is a warning, as undici')
    })

    it('strictContentLength: false, requests queued on one connection: each warns in its turn, before its own response', async function () {
      agent = createAgent({ strictContentLength: false, connections: 1 })
      const log = []
      const original = process.emitWarning
      process.emitWarning = (w) => { log.push(`warning ${w && w.name}`) }
      try {
        // the callback form: called as the response head is delivered
        await Promise.all(['abc', 'abcdefghijklmn', 'abcdefghi'].map((body, i) => new Promise((resolve, reject) => {
          agent.request({ origin: server.origin, path: `/${i}`, method: 'PUT', body, headers: { 'content-length': '10' } }, (err, res) => {
            if (err) return reject(err)
            log.push(`response ${i} ${res.statusCode}`)
            res.body.text().then(resolve, reject)
          })
        })))
      } finally {
        process.emitWarning = original
      }
      const warning = 'warning RequestContentLengthMismatchError'
      assert.deepEqual(log, [warning, 'response 0 200', warning, 'response 1 200', warning, 'response 2 200'])
    })

    it('strictContentLength: false, a streamed body longer or shorter than its content-length: sent whole, chunked, with a warning', async function () {
      if (kind === 'undici') this.skip() // undici sends the mismatched header as given
      agent = createAgent({ strictContentLength: false })
      const { Readable } = require('node:stream')
      for (const [declared, text] of [['2', 'abcd'], ['10', 'abc'], ['3', 'abc']]) {
        const warnings = captureWarnings()
        let res
        try {
          res = await get(agent, `${server.origin}/`, { method: 'PUT', body: Readable.from([Buffer.from(text)]), headers: { 'content-length': declared } })
        } finally {
          warnings.restore()
        }
        assert.equal(res.body, text)
        assert.equal(res.headers['x-content-length'], 'none', 'sent chunked')
        assert.equal(warnings.names.length, declared === String(text.length) ? 0 : 1, `${declared} for ${text}`)
      }
    })
  })

  // process.emitWarning calls while it runs (undici warns the same way).
  function captureWarnings () {
    const original = process.emitWarning
    const names = []
    process.emitWarning = (w) => { names.push(w && w.name) }
    return { names, restore () { process.emitWarning = original } }
  }

  describe('address families', function () {
    it('autoSelectFamily: a name with both families reaches a server on 127.0.0.1 only', async function () {
      agent = createAgent({ autoSelectFamily: true, autoSelectFamilyAttemptTimeout: 50 })
      const res = await get(agent, `http://localhost:${server.port}/`)
      assert.equal(res.status, 200)
    })

    it('validates autoSelectFamily and its attempt timeout', function () {
      if (kind === 'undici') this.skip() // undici validates only the timeout, and only with autoSelectFamily
      assert.throws(() => createAgent({ autoSelectFamily: 1 }), errors.InvalidArgumentError)
      assert.throws(() => createAgent({ autoSelectFamilyAttemptTimeout: -5 }), errors.InvalidArgumentError)
    })
  })

  describe('HTTP/2 and pool tuning options', function () {
    it('are validated with undici messages', function () {
      if (kind === 'undici') this.skip() // undici's Agent validates these only when its first Client is made
      assert.throws(() => createAgent({ maxConcurrentStreams: 0 }), /maxConcurrentStreams must be a positive integer/)
      assert.throws(() => createAgent({ maxRequestsPerClient: -1 }), /maxRequestsPerClient must be a positive number/)
      assert.throws(() => createAgent({ initialWindowSize: 0 }), /initialWindowSize must be a positive integer/)
      assert.throws(() => createAgent({ connectionWindowSize: 1.5 }), /connectionWindowSize must be a positive integer/)
      assert.throws(() => createAgent({ pingInterval: -1 }), /pingInterval must be a positive integer/)
    })

    it('valid values are accepted and requests work', async function () {
      agent = createAgent({ maxConcurrentStreams: 50, maxRequestsPerClient: 10, pingInterval: 0 })
      assert.equal((await get(agent, `${server.origin}/`)).status, 200)
    })
  })

  describe('keep-alive options', function () {
    it('validates keepAliveMaxTimeout and keepAliveTimeoutThreshold with undici messages', function () {
      if (kind === 'undici') this.skip() // undici's Agent validates this only when its first Client is made
      assert.throws(() => createAgent({ keepAliveMaxTimeout: 0 }), /invalid keepAliveMaxTimeout/)
      assert.throws(() => createAgent({ keepAliveTimeoutThreshold: 'x' }), /invalid keepAliveTimeoutThreshold/)
    })
  })
})
