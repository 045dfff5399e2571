'use strict'

// HTTP Upgrade and CONNECT: undici.upgrade(), undici.connect(), dispatch
// with a v2 handler, and undici's WebSocket client against a `ws` server,
// all through the agent, plain and over TLS, directly and via a proxy.

const assert = require('node:assert/strict')
const crypto = require('node:crypto')
const http = require('node:http')
const https = require('node:https')
const tls = require('node:tls')
const { once } = require('node:events')
const undici = require('undici')
const { WebSocketServer } = require('ws')
const { kind, createAgent } = require('./support/agent')
const { startServer, startTlsServer, startRawServer } = require('./support/servers')
const { getCerts } = require('./support/certs')
const { sha256 } = require('./support/collect')

const { errors } = undici

// Reads from a stream until `n` bytes have arrived.
function readBytes (stream, n) {
  return new Promise((resolve, reject) => {
    const chunks = []
    let got = 0
    const onData = (chunk) => {
      chunks.push(chunk)
      got += chunk.length
      if (got >= n) {
        stream.off('data', onData)
        stream.off('error', reject)
        resolve(Buffer.concat(chunks))
      }
    }
    stream.on('data', onData)
    stream.once('error', reject)
  })
}

// A WebSocket session: resolves with what happened.
function wsSession (url, agent, script) {
  return new Promise((resolve, reject) => {
    const ws = new undici.WebSocket(url, { dispatcher: agent })
    ws.binaryType = 'arraybuffer'
    const log = { messages: [], close: null }
    ws.onerror = (e) => reject(e.error ?? new Error(e.message))
    ws.onopen = () => script(ws, log)
    ws.onmessage = (e) => {
      log.messages.push(typeof e.data === 'string' ? e.data : Buffer.from(e.data))
      log.onmessage?.(e)
    }
    ws.onclose = (e) => {
      log.close = { code: e.code, reason: e.reason, wasClean: e.wasClean }
      resolve(log)
    }
  })
}

describe('upgrade, CONNECT and WebSocket', function () {
  this.timeout(15000)
  let certs
  let server // plain HTTP with an 'upgrade' echo and a 'connect' tunnel
  let agent

  before(async function () {
    certs = getCerts()
    server = await startServer((req, res) => {
      res.statusCode = req.url === '/not-upgrading' ? 200 : 404
      res.end('no upgrade here')
    })
    server.upgrades = 0
    server.server.on('upgrade', (req, socket, head) => {
      server.upgrades++
      socket.on('error', () => {})
      if (req.url === '/silent') return // never answers
      if (req.url === '/refuse') {
        socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n')
        return
      }
      socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n' +
        `Upgrade: ${req.headers.upgrade}\r\nX-Seen-Path: ${req.url}\r\n\r\ngreeting;`)
      if (head.length) socket.write(head)
      socket.pipe(socket) // echo
    })
  })

  beforeEach(function () {
    agent = createAgent({ connect: { ca: certs.ca } })
  })

  afterEach(async function () {
    await agent.close()
  })

  after(async function () {
    await server.close()
  })

  describe('undici.upgrade', function () {
    it('101: headers, the bytes sent with the 101, then an echo both ways', async function () {
      const { headers, socket } = await undici.upgrade(`${server.origin}/chat?x=1`, {
        dispatcher: agent, protocol: 'echo-proto', headers: { 'x-client': 'yes' }
      })
      assert.equal(headers.upgrade, 'echo-proto')
      assert.equal(headers['x-seen-path'], '/chat?x=1')
      assert.equal((await readBytes(socket, 9)).toString(), 'greeting;')
      socket.write('ping')
      assert.equal((await readBytes(socket, 4)).toString(), 'ping')
      socket.destroy()
      await once(socket, 'close')
    })

    it('5 MB each way through the upgraded socket, byte-exact, with backpressure', async function () {
      const { socket } = await undici.upgrade(`${server.origin}/bulk`, { dispatcher: agent, upgrade: 'bulk' })
      await readBytes(socket, 9) // greeting
      const payload = crypto.randomBytes(5 * 1024 * 1024)
      const echoed = readBytes(socket, payload.length)
      for (let off = 0; off < payload.length; off += 64 * 1024) {
        if (!socket.write(payload.subarray(off, off + 64 * 1024))) await once(socket, 'drain')
      }
      const back = await echoed
      assert.equal(sha256(back.subarray(0, payload.length)), sha256(payload))
      socket.destroy()
    })

    it('the server ending the connection ends the socket', async function () {
      const { socket } = await undici.upgrade(`${server.origin}/end`, { dispatcher: agent, upgrade: 'x' })
      await readBytes(socket, 9)
      socket.end() // our end, echoed by pipe(): the server ends too
      socket.resume()
      await once(socket, 'close')
    })

    it('a refusal (403) is SocketError("bad upgrade"), as undici', async function () {
      await assert.rejects(undici.upgrade(`${server.origin}/refuse`, { dispatcher: agent, upgrade: 'x' }), (err) => {
        assert.ok(err instanceof errors.SocketError)
        assert.equal(err.message, 'bad upgrade')
        return true
      })
    })

    it('a 101 without an upgrade header is SocketError("bad upgrade"), as undici', async function () {
      const raw = await startRawServer((socket) => {
        socket.on('error', () => {})
        socket.once('data', () => socket.write('HTTP/1.1 101\r\nhello: world\r\nconnection: upgrade\r\n\r\nBody'))
      })
      try {
        await assert.rejects(undici.upgrade(raw.origin, { dispatcher: agent, upgrade: 'Websocket' }), (err) => {
          assert.ok(err instanceof errors.SocketError, `got ${err}`)
          assert.equal(err.message, 'bad upgrade')
          return true
        })
      } finally {
        await raw.close()
      }
    })

    it('no answer: HeadersTimeoutError after headersTimeout', async function () {
      await agent.close()
      agent = createAgent({ headersTimeout: 300 })
      await assert.rejects(undici.upgrade(`${server.origin}/silent`, { dispatcher: agent, upgrade: 'x' }),
        errors.HeadersTimeoutError)
    })
  })

  describe('dispatch', function () {
    it('a v2 handler gets onRequestUpgrade(controller, 101, headers, socket)', async function () {
      const calls = []
      const socket = await new Promise((resolve, reject) => {
        agent.dispatch({ origin: server.origin, path: '/v2', method: 'GET', upgrade: 'v2-proto' }, {
          onRequestStart (controller) { calls.push('start') },
          onRequestUpgrade (controller, statusCode, headers, socket) {
            calls.push(`upgrade ${statusCode} ${headers.upgrade}`)
            resolve(socket)
          },
          onResponseError (controller, err) { reject(err) }
        })
      })
      assert.deepEqual(calls, ['start', 'upgrade 101 v2-proto'])
      assert.equal((await readBytes(socket, 9)).toString(), 'greeting;')
      socket.destroy()
    })

    it('an upgrade without an upgrade callback is refused before sending', function () {
      if (kind === 'undici') this.skip() // undici's v2 wrapper accepts the handler and drops the socket
      const before = server.upgrades
      return new Promise((resolve) => {
        agent.dispatch({ origin: server.origin, path: '/', method: 'GET', upgrade: 'x' }, {
          onResponseError (controller, err) {
            assert.ok(err instanceof errors.InvalidArgumentError)
            assert.match(err.message, /onUpgrade/)
            resolve()
          }
        })
      }).then(() => new Promise((resolve) => setTimeout(resolve, 100)))
        .then(() => assert.equal(server.upgrades, before, 'nothing was sent'))
    })

    it('a body on an upgrade request is NotSupportedError', async function () {
      if (kind === 'undici') this.skip() // undici sends it
      await assert.rejects(undici.upgrade(`${server.origin}/`, { dispatcher: agent, upgrade: 'x', body: 'b', method: 'POST' }),
        errors.NotSupportedError)
    })
  })

  // As undici's parser: any final answer but a 101 to an upgrade request is
  // an ordinary response, handed to the handler (undici.upgrade's handler
  // refuses it; a redirect interceptor follows it).
  describe('an answer that is not an upgrade', function () {
    // A v2 handler's view of one upgrade request to a raw server that
    // answers `answer` and then does `after` ('close' or 'keep').
    async function plainAnswer (answer, after = 'keep') {
      const raw = await startRawServer((socket) => {
        socket.on('error', () => {})
        socket.once('data', () => {
          socket.write(answer)
          if (after === 'close') socket.end()
        })
      })
      try {
        return await new Promise((resolve, reject) => {
          const calls = []
          const chunks = []
          agent.dispatch({ origin: raw.origin, path: '/', method: 'GET', upgrade: 'x' }, {
            onRequestStart () {},
            onRequestUpgrade () { reject(new Error('upgraded')) },
            onResponseStart (controller, statusCode, headers) { calls.push(`start ${statusCode} ${headers.location ?? ''}`) },
            onResponseData (controller, chunk) { chunks.push(Buffer.from(chunk)) },
            onResponseEnd () { calls.push('end'); resolve({ calls, body: Buffer.concat(chunks).toString() }) },
            onResponseError (controller, err) { calls.push(`error ${err.message}`); resolve({ calls, body: Buffer.concat(chunks).toString(), err }) }
          })
        })
      } finally {
        await raw.close()
      }
    }

    it('a 403 with a content-length: head, body and end reach a v2 handler', async function () {
      const r = await plainAnswer('HTTP/1.1 403 Forbidden\r\nContent-Length: 4\r\n\r\nnopeEXTRA')
      assert.deepEqual(r.calls, ['start 403 ', 'end'])
      assert.equal(r.body, 'nope')
    })

    it('a chunked body is decoded', async function () {
      const r = await plainAnswer('HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nTransfer-Encoding: chunked\r\n\r\n' +
        '5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nx-trailer: 1\r\n\r\n')
      assert.deepEqual(r.calls, ['start 302 /elsewhere', 'end'])
      assert.equal(r.body, 'hello, world')
    })

    it('a malformed chunk size ends the request in HTTPParserError, after the head', async function () {
      const r = await plainAnswer('HTTP/1.1 403 Forbidden\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n')
      assert.equal(r.calls[0], 'start 403 ')
      assert.equal(r.calls.length, 2)
      assert.ok(r.err instanceof errors.HTTPParserError, `got ${r.err}`)
      assert.equal(r.body, 'abc')
    })

    it('a body without framing runs to the close', async function () {
      const r = await plainAnswer('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\nuntil the end', 'close')
      assert.deepEqual(r.calls, ['start 400 ', 'end'])
      assert.equal(r.body, 'until the end')
    })

    it('a content-length body cut by the close is an error, after the head', async function () {
      const r = await plainAnswer('HTTP/1.1 403 Forbidden\r\nContent-Length: 10\r\n\r\nshort', 'close')
      assert.equal(r.calls[0], 'start 403 ')
      assert.equal(r.calls.length, 2)
      assert.match(r.calls[1], /^error /)
      assert.ok(r.err instanceof errors.SocketError, `got ${r.err}`)
      assert.equal(r.err.message, 'other side closed') // as undici
    })

    it('paused at the head: no data until resumed, then all of it and the end', async function () {
      const raw = await startRawServer((socket) => {
        socket.on('error', () => {})
        socket.once('data', () => socket.write('HTTP/1.1 403 Forbidden\r\nContent-Length: 6\r\n\r\nab'))
        setTimeout(() => socket.write('cdef'), 100)
      })
      try {
        const calls = await new Promise((resolve, reject) => {
          const calls = []
          let paused = false
          agent.dispatch({ origin: raw.origin, path: '/', method: 'GET', upgrade: 'x' }, {
            onRequestStart () {},
            onRequestUpgrade () { reject(new Error('upgraded')) },
            onResponseStart (controller, statusCode) {
              calls.push(`start ${statusCode}`)
              controller.pause()
              paused = true
              setTimeout(() => { paused = false; controller.resume() }, 300)
            },
            onResponseData (controller, chunk) { calls.push(paused ? 'DATA WHILE PAUSED' : `data ${chunk}`) },
            onResponseEnd () { calls.push('end'); resolve(calls) },
            onResponseError (controller, err) { reject(err) }
          })
        })
        assert.equal(calls[0], 'start 403')
        assert.equal(calls.at(-1), 'end')
        assert.equal(calls.slice(1, -1).map((c) => c.replace(/^data /, '')).join(''), 'abcdef')
      } finally {
        await raw.close()
      }
    })

    it('a body that stalls ends in BodyTimeoutError after bodyTimeout', async function () {
      const raw = await startRawServer((socket) => {
        socket.on('error', () => {})
        socket.once('data', () => socket.write('HTTP/1.1 403 Forbidden\r\nContent-Length: 10\r\n\r\nabc'))
      })
      const slow = createAgent({ bodyTimeout: 200 })
      try {
        const err = await new Promise((resolve, reject) => {
          slow.dispatch({ origin: raw.origin, path: '/', method: 'GET', upgrade: 'x' }, {
            onRequestStart () {},
            onRequestUpgrade () { reject(new Error('upgraded')) },
            onResponseStart () {},
            onResponseData () {},
            onResponseEnd () { reject(new Error('ended')) },
            onResponseError (controller, err) { resolve(err) }
          })
        })
        assert.ok(err instanceof errors.BodyTimeoutError, `got ${err}`)
      } finally {
        await slow.close()
        await raw.close()
      }
    })

    it('a redirect interceptor follows a 301 to the upgrade (undici test/interceptors/redirect.js)', async function () {
      const target = await startServer((req, res) => {
        res.statusCode = 301
        res.setHeader('Location', `${target.origin}/end`)
        res.end('REDIRECT')
      })
      target.server.on('upgrade', (req, socket) => {
        socket.on('error', () => {})
        if (req.url !== '/end') {
          socket.end(`HTTP/1.1 301 Moved Permanently\r\nLocation: ${target.origin}/end\r\nContent-Length: 8\r\n\r\nREDIRECT`)
          return
        }
        socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: ${req.headers.upgrade}\r\n\r\n`)
      })
      try {
        const { headers, socket } = await undici.upgrade(`${target.origin}/`, {
          protocol: 'foo/1',
          dispatcher: agent.compose(undici.interceptors.redirect({ maxRedirections: 10 }))
        })
        socket.destroy()
        assert.equal(headers.connection, 'upgrade')
        assert.equal(headers.upgrade, 'foo/1')
      } finally {
        await target.close()
      }
    })
  })

  describe('connect (CONNECT)', function () {
    let proxy
    let tlsOrigin

    before(async function () {
      const { createProxy } = await import('proxy')
      proxy = createProxy(http.createServer())
      proxy.listen(0, '127.0.0.1')
      await once(proxy, 'listening')
      tlsOrigin = await startTlsServer((req, res) => res.end(`tls origin ${req.url}`),
        { key: certs.serverKey, cert: certs.serverCert })
    })

    after(async function () {
      proxy.closeAllConnections?.()
      await new Promise((resolve) => proxy.close(resolve))
      await tlsOrigin.close()
    })

    it('through an HTTP proxy to a TLS origin: the tunnel carries TLS', async function () {
      // (undici.connect(url) builds the path from the URL; the Dispatcher
      // method takes an authority-form path as is)
      const { statusCode, socket } = await agent.connect({
        origin: `http://127.0.0.1:${proxy.address().port}`,
        path: `127.0.0.1:${tlsOrigin.port}`
      })
      assert.equal(statusCode, 200)
      const secure = tls.connect({ socket, ca: certs.ca, servername: 'localhost' })
      await once(secure, 'secureConnect')
      secure.write(`GET /through-tunnel HTTP/1.1\r\nHost: localhost:${tlsOrigin.port}\r\nConnection: close\r\n\r\n`)
      const chunks = []
      for await (const c of secure) chunks.push(c)
      const text = Buffer.concat(chunks).toString()
      assert.match(text, /^HTTP\/1\.1 200 OK/)
      assert.match(text, /tls origin \/through-tunnel$/)
    })

    it('a CONNECT the proxy refuses still hands over the status, as undici', async function () {
      const { statusCode, socket } = await agent.connect({
        origin: `http://127.0.0.1:${proxy.address().port}`,
        path: '127.0.0.1:1' // nothing listens there: the proxy answers an error
      })
      assert.ok(statusCode >= 400, `status ${statusCode}`)
      socket.destroy()
    })
  })

  describe('WebSocket (undici.WebSocket with { dispatcher: agent })', function () {
    let wsServer
    let wss
    let serverLog

    before(async function () {
      wsServer = await startServer((req, res) => res.end())
      wss = new WebSocketServer({ server: wsServer.server })
      wss.on('connection', (ws, req) => {
        serverLog.push(`open ${req.url}`)
        ws.send('welcome')
        ws.on('message', (data, isBinary) => {
          serverLog.push(isBinary ? `binary ${data.length}` : `text ${data}`)
          if (!isBinary && String(data) === 'close please') ws.close(4001, 'as asked')
          else ws.send(data, { binary: isBinary })
        })
        ws.on('close', (code, reason) => serverLog.push(`closed ${code} ${reason}`))
      })
    })

    beforeEach(function () {
      serverLog = []
    })

    after(async function () {
      wss.close()
      await wsServer.close()
    })

    it('text and binary both ways, then a clean close from the client', async function () {
      const big = crypto.randomBytes(300 * 1024)
      const log = await wsSession(`ws://127.0.0.1:${wsServer.port}/room`, agent, (ws, log) => {
        log.onmessage = () => {
          if (log.messages.length === 1) {
            ws.send('hello')
            ws.send(new Uint8Array([1, 2, 3]))
            ws.send(big)
          } else if (log.messages.length === 4) {
            ws.close(1000, 'done')
          }
        }
      })
      assert.equal(log.messages[0], 'welcome')
      assert.equal(log.messages[1], 'hello')
      assert.deepEqual([...log.messages[2]], [1, 2, 3])
      assert.equal(sha256(log.messages[3]), sha256(big))
      assert.deepEqual(log.close, { code: 1000, reason: 'done', wasClean: true })
      await new Promise((resolve) => setTimeout(resolve, 50))
      assert.deepEqual(serverLog, ['open /room', 'text hello', 'binary 3', `binary ${big.length}`, 'closed 1000 done'])
    })

    it('the server closes: the client sees its code and reason', async function () {
      const log = await wsSession(`ws://127.0.0.1:${wsServer.port}/`, agent, (ws) => ws.send('close please'))
      assert.deepEqual(log.close, { code: 4001, reason: 'as asked', wasClean: true })
    })

    it('through the proxy option (CONNECT tunnel)', async function () {
      if (kind === 'undici') this.skip()
      const { createProxy } = await import('proxy')
      const proxy = createProxy(http.createServer())
      let connects = 0
      proxy.on('connect', () => connects++)
      proxy.listen(0, '127.0.0.1')
      await once(proxy, 'listening')
      const proxied = createAgent({ proxy: `http://127.0.0.1:${proxy.address().port}` })
      try {
        const log = await wsSession(`ws://127.0.0.1:${wsServer.port}/proxied`, proxied, (ws, log) => {
          log.onmessage = () => (log.messages.length === 1 ? ws.send('via proxy') : ws.close(1000))
        })
        assert.deepEqual(log.messages, ['welcome', 'via proxy'])
        assert.equal(connects, 1)
      } finally {
        await proxied.close()
        proxy.closeAllConnections?.()
        await new Promise((resolve) => proxy.close(resolve))
      }
    })

    it('wss:// over TLS', async function () {
      const secure = https.createServer({ key: certs.serverKey, cert: certs.serverCert })
      const swss = new WebSocketServer({ server: secure })
      swss.on('connection', (ws) => ws.on('message', (d) => ws.send(`tls:${d}`)))
      secure.listen(0, '127.0.0.1')
      await once(secure, 'listening')
      try {
        const log = await wsSession(`wss://localhost:${secure.address().port}/`, agent, (ws, log) => {
          ws.send('secret')
          log.onmessage = () => ws.close(1000)
        })
        assert.deepEqual(log.messages, ['tls:secret'])
        assert.equal(log.close.code, 1000)
      } finally {
        swss.close()
        secure.closeAllConnections()
        await new Promise((resolve) => secure.close(resolve))
      }
    })
  })
})
