'use strict'

// The Dispatcher contract seen through agent.dispatch(opts, handler): the v2
// handler (onRequestStart, onResponseStart, onResponseData, onResponseEnd,
// onResponseError) and the legacy handler (onConnect, onHeaders, onData,
// onComplete, onError).

const assert = require('node:assert/strict')
const zlib = require('node:zlib')
const undici = require('undici')
const { createAgent } = require('./support/agent')
const { startServer, startRawServer, readRequestHead, closedPort } = require('./support/servers')
const { collect, compact, sleep, waitFor } = require('./support/collect')

describe('dispatch', function () {
  let server
  let agent

  before(async function () {
    server = await startServer((req, res) => {
      const url = new URL(req.url, 'http://x')
      switch (url.pathname) {
        case '/hello':
          res.end('hello world')
          return
        case '/method':
          res.setHeader('x-method', req.method)
          res.end(req.method === 'HEAD' ? undefined : `method=${req.method}`)
          return
        case '/head':
          res.setHeader('content-length', '11')
          res.end(req.method === 'HEAD' ? undefined : 'hello world')
          return
        case '/204':
          res.statusCode = 204
          res.end()
          return
        case '/304':
          res.statusCode = 304
          res.setHeader('etag', '"v1"')
          res.end()
          return
        case '/trailers':
          res.writeHead(200, { Trailer: 'X-Checksum' })
          res.write('abc')
          res.addTrailers({ 'X-Checksum': 'c0ffee' })
          res.end('def')
          return
        case '/big':
          res.end(Buffer.alloc(2 * 1024 * 1024, 'b'))
          return
        case '/gzip':
          res.setHeader('content-encoding', 'gzip')
          res.setHeader('content-type', 'text/plain')
          res.end(zlib.gzipSync('this text is compressed'))
          return
        case '/redirect':
          res.statusCode = 302
          res.setHeader('location', '/hello')
          res.end('moved')
          return
        case '/echo-request':
          res.end(JSON.stringify({ url: req.url, connection: req.headers.connection }))
          return
        case '/reset':
          res.writeHead(200, { 'content-length': '1000' })
          res.write('partial')
          setTimeout(() => req.socket.resetAndDestroy(), 20)
          return
        default:
          res.statusCode = 404
          res.end('not found')
      }
    })
    agent = createAgent()
  })

  after(async function () {
    await agent.close()
    await server.close()
  })

  describe('v2 handler', function () {
    it('calls onRequestStart, onResponseStart, onResponseData, onResponseEnd in order', async function () {
      const r = await collect(agent, { origin: server.origin, path: '/hello', method: 'GET' })
      assert.deepEqual(compact(r.events), ['requestStart', 'responseStart', 'data', 'end'])
      assert.equal(r.statusCode, 200)
      assert.equal(r.body.toString(), 'hello world')
      assert.equal(r.error, null)
      for (const chunk of r.chunks) assert.ok(Buffer.isBuffer(chunk))
    })

    it('gives onRequestStart a controller with abort, pause, resume and state getters', async function () {
      let seen = null
      await collect(agent, { origin: server.origin, path: '/hello', method: 'GET' }, {
        onRequestStart (controller) {
          seen = {
            abort: typeof controller.abort,
            pause: typeof controller.pause,
            resume: typeof controller.resume,
            aborted: controller.aborted,
            paused: controller.paused
          }
        }
      })
      assert.deepEqual(seen, { abort: 'function', pause: 'function', resume: 'function', aborted: false, paused: false })
    })

    it('calls exactly one terminal callback and nothing after it, on success', async function () {
      const r = await collect(agent, { origin: server.origin, path: '/big', method: 'GET' }, {}, { grace: 200 })
      assert.equal(r.events.filter((e) => e === 'end' || e === 'error').length, 1)
      assert.equal(r.events[r.events.length - 1], 'end')
      assert.equal(r.body.length, 2 * 1024 * 1024)
    })

    it('calls exactly one terminal callback and nothing after it, on error', async function () {
      const r = await collect(agent, { origin: server.origin, path: '/reset', method: 'GET' }, {}, { grace: 200 })
      assert.equal(r.events.filter((e) => e === 'end' || e === 'error').length, 1)
      assert.equal(r.events[r.events.length - 1], 'error')
      assert.ok(r.error instanceof Error)
    })

    it('dispatch() returns a boolean', async function () {
      const r = await collect(agent, { origin: server.origin, path: '/hello', method: 'GET' })
      assert.equal(typeof r.dispatchReturn, 'boolean')
      const bad = await collect(agent, { origin: server.origin, path: 'no-slash', method: 'GET' })
      assert.equal(typeof bad.dispatchReturn, 'boolean')
      assert.equal(bad.events[bad.events.length - 1], 'error')
    })
  })

  describe('response head', function () {
    let raw

    before(async function () {
      raw = await startRawServer(async (socket) => {
        for (;;) {
          let head
          try {
            head = await readRequestHead(socket)
          } catch {
            return
          }
          if (head.path === '/latin1') {
            socket.write(Buffer.from('HTTP/1.1 200 OK\r\nX-Latin: caf\xe9\r\nContent-Length: 2\r\n\r\nok', 'latin1'))
          } else if (head.path === '/header-8k') {
            socket.write(`HTTP/1.1 200 OK\r\nX-Big: ${'b'.repeat(8000)}\r\nContent-Length: 2\r\n\r\nok`)
          } else if (head.path === '/header-20k') {
            socket.write(`HTTP/1.1 200 OK\r\nX-Huge: ${'h'.repeat(20000)}\r\nContent-Length: 2\r\n\r\nok`)
          } else if (head.path === '/many-headers') {
            const lines = Array.from({ length: 100 }, (_, i) => `X-H${i}: v${i}\r\n`).join('')
            socket.write(`HTTP/1.1 200 OK\r\n${lines}Content-Length: 2\r\n\r\nok`)
          } else if (head.path === '/teapot') {
            socket.write('HTTP/1.1 418 Short And Stout\r\nContent-Length: 0\r\n\r\n')
          } else if (head.path === '/empty-reason') {
            socket.write('HTTP/1.1 200 \r\nContent-Length: 2\r\n\r\nok')
          } else {
            socket.write(
              'HTTP/1.1 200 Fine Thanks\r\n' +
              'X-Custom-Header: Some Value\r\n' +
              'x-rep: a\r\n' +
              'X-Rep: b\r\n' +
              'Set-Cookie: c1=1\r\n' +
              'Set-Cookie: c2=2\r\n' +
              'Content-Length: 2\r\n' +
              '\r\n' +
              'ok')
          }
        }
      })
    })

    after(async function () {
      await raw.close()
    })

    it('passes the server reason phrase as statusMessage', async function () {
      const r = await collect(agent, { origin: raw.origin, path: '/', method: 'GET' })
      assert.equal(r.statusCode, 200)
      assert.equal(r.statusMessage, 'Fine Thanks')
      const t = await collect(agent, { origin: raw.origin, path: '/teapot', method: 'GET' })
      assert.equal(t.statusCode, 418)
      assert.equal(t.statusMessage, 'Short And Stout')
      assert.deepEqual(compact(t.events), ['requestStart', 'responseStart', 'end'])
    })

    it('passes an empty reason phrase as an empty string', async function () {
      const r = await collect(agent, { origin: raw.origin, path: '/empty-reason', method: 'GET' })
      assert.equal(r.statusCode, 200)
      assert.equal(r.statusMessage, '')
      assert.equal(r.body.toString(), 'ok')
    })

    it('sets controller.rawHeaders to Buffers [name, value, ...] as sent', async function () {
      const r = await collect(agent, { origin: raw.origin, path: '/', method: 'GET' })
      assert.ok(Array.isArray(r.rawHeaders))
      for (const item of r.rawHeaders) assert.ok(Buffer.isBuffer(item), 'every raw header item is a Buffer')
      assert.deepEqual(r.rawHeaders.map(String), [
        'X-Custom-Header', 'Some Value',
        'x-rep', 'a',
        'X-Rep', 'b',
        'Set-Cookie', 'c1=1',
        'Set-Cookie', 'c2=2',
        'Content-Length', '2'
      ])
    })

    it('gives a headers object with lowercased names and arrays for repeated headers', async function () {
      const r = await collect(agent, { origin: raw.origin, path: '/', method: 'GET' })
      assert.deepEqual({ ...r.headers }, {
        'x-custom-header': 'Some Value',
        'x-rep': ['a', 'b'],
        'set-cookie': ['c1=1', 'c2=2'],
        'content-length': '2'
      })
    })

    it('passes latin1 header bytes through unchanged', async function () {
      const r = await collect(agent, { origin: raw.origin, path: '/latin1', method: 'GET' })
      assert.deepEqual(r.rawHeaders[1], Buffer.from([0x63, 0x61, 0x66, 0xe9]))
      assert.equal(r.headers['x-latin'], 'caf\u00e9')
    })

    it('delivers an 8 KB header value intact', async function () {
      const r = await collect(agent, { origin: raw.origin, path: '/header-8k', method: 'GET' })
      assert.equal(r.error, null)
      assert.equal(r.headers['x-big'], 'b'.repeat(8000))
      assert.equal(r.body.toString(), 'ok')
    })

    it('delivers 100 headers', async function () {
      const r = await collect(agent, { origin: raw.origin, path: '/many-headers', method: 'GET' })
      for (let i = 0; i < 100; i++) assert.equal(r.headers[`x-h${i}`], `v${i}`)
      assert.equal(r.rawHeaders.length, 202)
    })

    it('fails a response head over 16 KiB with HeadersOverflowError', async function () {
      const r = await collect(agent, { origin: raw.origin, path: '/header-20k', method: 'GET' })
      assert.equal(r.events[r.events.length - 1], 'error')
      assert.ok(!r.events.includes('responseStart'))
      assert.ok(r.error instanceof undici.errors.HeadersOverflowError, `got ${r.error && r.error.stack}`)
      assert.equal(r.error.code, 'UND_ERR_HEADERS_OVERFLOW')
      const again = await collect(agent, { origin: raw.origin, path: '/', method: 'GET' })
      assert.equal(again.body.toString(), 'ok')
    })
  })

  describe('methods and bodiless responses', function () {
    for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'PURGE']) {
      it(`sends method ${method}`, async function () {
        const r = await collect(agent, { origin: server.origin, path: '/method', method })
        assert.equal(r.statusCode, 200)
        assert.equal(r.headers['x-method'], method)
        assert.equal(r.body.toString(), `method=${method}`)
      })
    }

    it('sends any method token verbatim', async function () {
      const raw = await startRawServer(async (socket) => {
        const head = await readRequestHead(socket).catch(() => null)
        if (!head) return
        socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${head.requestLine.length}\r\n\r\n${head.requestLine}`)
      })
      try {
        const r = await collect(agent, { origin: raw.origin, path: '/tok?x=1', method: 'FROB-NICATE' })
        assert.equal(r.body.toString(), 'FROB-NICATE /tok?x=1 HTTP/1.1')
      } finally {
        await raw.close()
      }
    })

    it('delivers no body for HEAD, even with a content-length', async function () {
      const r = await collect(agent, { origin: server.origin, path: '/head', method: 'HEAD' })
      assert.equal(r.statusCode, 200)
      assert.equal(r.headers['content-length'], '11')
      assert.deepEqual(r.events, ['requestStart', 'responseStart', 'end'])
      // and the connection state is still right for the next request
      const g = await collect(agent, { origin: server.origin, path: '/head', method: 'GET' })
      assert.equal(g.body.toString(), 'hello world')
    })

    it('delivers no body for 204', async function () {
      const r = await collect(agent, { origin: server.origin, path: '/204', method: 'GET' })
      assert.equal(r.statusCode, 204)
      assert.deepEqual(r.events, ['requestStart', 'responseStart', 'end'])
    })

    it('delivers no body for 304', async function () {
      const r = await collect(agent, {
        origin: server.origin, path: '/304', method: 'GET', headers: { 'if-none-match': '"v1"' }
      })
      assert.equal(r.statusCode, 304)
      assert.equal(r.headers.etag, '"v1"')
      assert.deepEqual(r.events, ['requestStart', 'responseStart', 'end'])
    })
  })

  describe('legacy handler', function () {
    function legacy (opts, { pauseInHeaders = 0 } = {}) {
      return new Promise((resolve, reject) => {
        const log = { events: [], chunks: [], violations: [] }
        let paused = false
        let terminal = false
        const note = (name) => {
          if (terminal) log.violations.push(`${name} after terminal`)
          log.events.push(name)
        }
        const finish = () => {
          terminal = true
          setTimeout(() => {
            if (log.violations.length) reject(new Error(log.violations.join('; ')))
            else resolve(log)
          }, 50)
        }
        log.dispatchReturn = agent.dispatch(opts, {
          onConnect (abort, context) {
            note('connect')
            log.abortType = typeof abort
          },
          onHeaders (statusCode, rawHeaders, resume, statusText) {
            note('headers')
            log.statusCode = statusCode
            log.rawHeaders = rawHeaders
            log.statusText = statusText
            log.resumeType = typeof resume
            if (pauseInHeaders) {
              paused = true
              setTimeout(() => {
                paused = false
                resume()
              }, pauseInHeaders)
              return false
            }
            return true
          },
          onData (chunk) {
            note('data')
            if (paused) log.violations.push('onData while paused')
            log.chunks.push(Buffer.from(chunk))
            return true
          },
          onComplete (trailers) {
            note('complete')
            log.trailers = trailers
            finish()
          },
          onError (err) {
            note('error')
            log.error = err
            finish()
          }
        })
      })
    }

    it('calls onConnect(abort), onHeaders(status, rawHeaders, resume, statusText), onData, onComplete', async function () {
      const r = await legacy({ origin: server.origin, path: '/hello', method: 'GET' })
      assert.deepEqual(compact(r.events), ['connect', 'headers', 'data', 'complete'])
      assert.equal(r.abortType, 'function')
      assert.equal(r.resumeType, 'function')
      assert.equal(r.statusCode, 200)
      assert.equal(r.statusText, 'OK')
      assert.ok(Array.isArray(r.rawHeaders))
      for (const item of r.rawHeaders) assert.ok(Buffer.isBuffer(item))
      const names = r.rawHeaders.filter((_, i) => i % 2 === 0).map((b) => b.toString().toLowerCase())
      assert.ok(names.includes('content-length'))
      assert.equal(Buffer.concat(r.chunks).toString(), 'hello world')
      assert.equal(typeof r.dispatchReturn, 'boolean')
    })

    it('passes an empty array (never null) to onComplete when there are no trailers', async function () {
      const r = await legacy({ origin: server.origin, path: '/hello', method: 'GET' })
      assert.ok(Array.isArray(r.trailers), 'trailers is an array')
      assert.equal(r.trailers.length, 0)
    })

    it('passes trailers to onComplete as an array of Buffers', async function () {
      const r = await legacy({ origin: server.origin, path: '/trailers', method: 'GET' })
      assert.ok(Array.isArray(r.trailers))
      assert.deepEqual(r.trailers.map(String), ['X-Checksum', 'c0ffee'])
      for (const item of r.trailers) assert.ok(Buffer.isBuffer(item))
      assert.equal(Buffer.concat(r.chunks).toString(), 'abcdef')
    })

    it('pauses when onHeaders returns false, until resume() is called', async function () {
      const r = await legacy({ origin: server.origin, path: '/big', method: 'GET' }, { pauseInHeaders: 200 })
      assert.equal(Buffer.concat(r.chunks).length, 2 * 1024 * 1024)
      assert.equal(r.events[r.events.length - 1], 'complete')
    })

    it('a callback missing: onError(InvalidArgumentError) naming it, and nothing sent, as undici', async function () {
      const full = { onConnect () {}, onHeaders () {}, onData () {}, onComplete () {} }
      for (const missing of ['onConnect', 'onHeaders', 'onData', 'onComplete']) {
        const before = server.stats.requests
        const events = []
        const handler = { ...full, onError (err) { events.push(err) } }
        delete handler[missing]
        for (const name of Object.keys(handler)) {
          if (name !== 'onError') handler[name] = () => { events.push(name) }
        }
        agent.dispatch({ origin: server.origin, path: '/hello', method: 'GET' }, handler)
        await sleep(50)
        assert.equal(events.length, 1, `${missing}: ${events}`)
        assert.ok(events[0] instanceof undici.errors.InvalidArgumentError, `${missing}: ${events[0]}`)
        assert.equal(events[0].message, `invalid ${missing} method`)
        assert.equal(server.stats.requests, before, 'nothing was sent')
      }
    })

    it('no onError at all: dispatch() throws, and what is wrong with the options is said first', function () {
      assert.throws(() => agent.dispatch({ origin: server.origin, path: '/', method: 'GET', upgrade: 1 }, {}), /upgrade must be a string/)
      assert.throws(() => agent.dispatch({ origin: server.origin, path: '/', method: 'GET' }, {}), /invalid on(Connect|Error) method/) // undici names onConnect first
    })

    it('onBodySent gets each chunk as the body source gave it, strings included', async function () {
      const { Readable } = require('node:stream')
      const sent = []
      await new Promise((resolve, reject) => {
        agent.dispatch({ origin: server.origin, path: '/hello', method: 'POST', body: Readable.from(['he', 'llo', Buffer.from('!')]) }, {
          onConnect () {},
          onBodySent (chunk) { sent.push(chunk) },
          onHeaders () {},
          onData () {},
          onComplete: resolve,
          onError: reject
        })
      })
      assert.deepEqual(sent, ['he', 'llo', Buffer.from('!')])
    })

    it('calls onError(err) on failure', async function () {
      const port = await closedPort()
      const r = await legacy({ origin: `http://127.0.0.1:${port}`, path: '/', method: 'GET' })
      assert.equal(r.events[r.events.length - 1], 'error')
      assert.equal(r.error.code, 'ECONNREFUSED')
      assert.ok(!r.events.includes('headers'))
    })
  })

  describe('concurrency', function () {
    it('500 concurrent requests over connections: 10 each get their own response', async function () {
      let open = 0
      let maxOpen = 0
      const srv = await startServer((req, res) => {
        const id = req.url.slice(1)
        setTimeout(() => {
          res.setHeader('x-id', id)
          res.end(`id=${id}`)
        }, Math.floor(Math.random() * 5))
      })
      srv.server.on('connection', (socket) => {
        open++
        maxOpen = Math.max(maxOpen, open)
        socket.once('close', () => { open-- })
      })
      const a = createAgent({ connections: 10 })
      try {
        const results = await Promise.all(Array.from({ length: 500 }, (_, i) =>
          collect(a, { origin: srv.origin, path: `/${i}`, method: 'GET' }, {}, { grace: 0 })))
        results.forEach((r, i) => {
          assert.equal(r.error, null, `request ${i} failed: ${r.error}`)
          assert.equal(r.statusCode, 200)
          assert.equal(r.headers['x-id'], String(i))
          assert.equal(r.body.toString(), `id=${i}`)
        })
        assert.equal(srv.stats.requests, 500)
        assert.ok(maxOpen <= 10, `at most 10 connections at once (saw ${maxOpen})`)
      } finally {
        await a.close()
        await srv.close()
      }
    })

    it('connections: 1 runs one request at a time on one connection', async function () {
      let inFlight = 0
      let maxInFlight = 0
      const srv = await startServer((req, res) => {
        inFlight++
        maxInFlight = Math.max(maxInFlight, inFlight)
        setTimeout(() => {
          inFlight--
          res.end(req.url)
        }, 5)
      })
      const a = createAgent({ connections: 1 })
      try {
        const results = await Promise.all(Array.from({ length: 20 }, (_, i) =>
          collect(a, { origin: srv.origin, path: `/${i}`, method: 'GET' }, {}, { grace: 0 })))
        results.forEach((r, i) => assert.equal(r.body.toString(), `/${i}`))
        assert.equal(maxInFlight, 1)
        assert.equal(srv.stats.connections, 1)
      } finally {
        await a.close()
        await srv.close()
      }
    })

    it('reuses one keep-alive connection for sequential requests', async function () {
      const srv = await startServer((req, res) => res.end(req.url))
      const a = createAgent()
      try {
        for (let i = 0; i < 5; i++) {
          const r = await collect(a, { origin: srv.origin, path: `/seq/${i}`, method: 'GET' }, {}, { grace: 0 })
          assert.equal(r.body.toString(), `/seq/${i}`)
        }
        assert.equal(srv.stats.connections, 1)
      } finally {
        await a.close()
        await srv.close()
      }
    })

    it('recovers when the server closes an idle keep-alive connection', async function () {
      // answers one request per connection with a keep-alive response (no
      // Keep-Alive hint), then closes the connection 50 ms later
      const srv = await startRawServer(async (socket) => {
        const head = await readRequestHead(socket).catch(() => null)
        if (!head) return
        socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${head.path.length}\r\n\r\n${head.path}`)
        setTimeout(() => socket.end(), 50)
      })
      const a = createAgent()
      try {
        assert.equal((await collect(a, { origin: srv.origin, path: '/one', method: 'GET' })).body.toString(), '/one')
        await sleep(300) // the server has closed the idle connection by now
        const r = await collect(a, { origin: srv.origin, path: '/two', method: 'GET' })
        assert.equal(r.error, null, `request failed: ${r.error && r.error.stack}`)
        assert.equal(r.body.toString(), '/two')
        assert.equal(srv.stats.connections, 2)
      } finally {
        await a.close()
        await srv.close()
      }
    })

    it('opens a new connection after a response with connection: close', async function () {
      const srv = await startServer((req, res) => {
        res.setHeader('connection', 'close')
        res.end(req.url)
      })
      const a = createAgent()
      try {
        for (let i = 0; i < 3; i++) {
          const r = await collect(a, { origin: srv.origin, path: `/c${i}`, method: 'GET' })
          assert.equal(r.error, null, `request ${i} failed: ${r.error && r.error.stack}`)
          assert.equal(r.body.toString(), `/c${i}`)
        }
        assert.equal(srv.stats.connections, 3)
      } finally {
        await a.close()
        await srv.close()
      }
    })

    it('serves several origins at once (threads: 2)', async function () {
      const servers = await Promise.all([0, 1, 2].map((n) => startServer((req, res) => {
        setTimeout(() => res.end(`server${n} ${req.url}`), Math.floor(Math.random() * 5))
      })))
      const a = createAgent({ threads: 2 })
      try {
        const jobs = []
        for (let i = 0; i < 60; i++) {
          const n = i % 3
          jobs.push(collect(a, { origin: servers[n].origin, path: `/${i}`, method: 'GET' }, {}, { grace: 0 })
            .then((r) => assert.equal(r.body.toString(), `server${n} /${i}`)))
        }
        await Promise.all(jobs)
        for (const srv of servers) assert.equal(srv.stats.requests, 20)
      } finally {
        await a.close()
        await Promise.all(servers.map((srv) => srv.close()))
      }
    })
  })

  // lib/normalize.js lists a plain object's own names before reading its
  // seldom-given options (on Node 20); every other shape is read in full.
  // Whatever the shape, an option given is an option honoured.
  describe('options, however the object is built', function () {
    const given = { reset: true, query: { a: '1' }, headersTimeout: 5000 }
    const base = () => ({ origin: server.origin, path: '/echo-request', method: 'GET' })
    const shapes = {
      'a literal': () => ({ ...base(), ...given }),
      'a spread, as undici.request() builds it': () => {
        const user = { dispatcher: agent, ...given, headers: undefined }
        return { ...user, ...base() }
      },
      'options inherited from a prototype': () => Object.assign(Object.create(given), base()),
      'options that are not enumerable': () => {
        const opts = base()
        for (const [k, v] of Object.entries(given)) Object.defineProperty(opts, k, { value: v, enumerable: false, configurable: true })
        return opts
      },
      'a null-prototype object': () => Object.assign(Object.create(null), base(), given),
      'a class instance': () => new (class Opts { constructor () { Object.assign(this, base(), given) } })(),
      'a Proxy that answers for names it does not list': () => {
        const target = base()
        return new Proxy(target, { get: (t, k) => (k in t ? t[k] : given[k]) })
      },
      'getters': () => {
        const opts = base()
        for (const [k, v] of Object.entries(given)) Object.defineProperty(opts, k, { get: () => v, enumerable: true, configurable: true })
        return opts
      }
    }
    for (const [name, make] of Object.entries(shapes)) {
      it(`${name}: reset and query reach the wire`, async function () {
        const r = await collect(agent, make())
        assert.equal(r.error, null)
        const seen = JSON.parse(Buffer.concat(r.chunks).toString())
        assert.deepEqual(seen, { url: '/echo-request?a=1', connection: 'close' })
      })
    }
    it('a bad seldom-given option is refused in every shape', async function () {
      for (const [name, make] of Object.entries(shapes)) {
        for (const [key, bad, message] of [['headersTimeout', -1, 'invalid headersTimeout'], ['reset', 'yes', 'invalid reset'],
          ['throwOnError', true, 'invalid throwOnError'], ['upgrade', 1, 'upgrade must be a string']]) {
          const opts = make()
          if (name.startsWith('a Proxy')) given[key] = bad // answered by the trap
          else if (name.startsWith('options inherited')) Object.setPrototypeOf(opts, { ...given, [key]: bad })
          else Object.defineProperty(opts, key, { value: bad, enumerable: !name.includes('not enumerable'), configurable: true })
          try {
            const r = await collect(agent, opts)
            assert.ok(r.error instanceof undici.errors.InvalidArgumentError, `${name}, ${key}: ${r.error}`)
            assert.equal(r.error.message, message, `${name}, ${key}`)
          } finally {
            delete given.throwOnError
            delete given.upgrade
            given.reset = true
            given.headersTimeout = 5000
          }
        }
      }
    })
  })

  describe('what the agent never does', function () {
    it('never decompresses a response body', async function () {
      const r = await collect(agent, { origin: server.origin, path: '/gzip', method: 'GET' })
      assert.equal(r.headers['content-encoding'], 'gzip')
      assert.deepEqual(r.body, zlib.gzipSync('this text is compressed'))
      assert.equal(zlib.gunzipSync(r.body).toString(), 'this text is compressed')
    })

    it('never follows a redirect', async function () {
      const before = server.stats.requests
      const r = await collect(agent, { origin: server.origin, path: '/redirect', method: 'GET' })
      assert.equal(r.statusCode, 302)
      assert.equal(r.headers.location, '/hello')
      assert.equal(r.body.toString(), 'moved')
      await sleep(50)
      assert.equal(server.stats.requests - before, 1)
    })
  })
})

describe('dispatch() backpressure', function () {
  let server
  before(async function () {
    server = await startServer((req, res) => setTimeout(() => res.end('ok'), 20))
  })
  after(async function () {
    await server.close()
  })

  it('returns false once an origin has `connections` requests, then emits drain', async function () {
    const agent = createAgent({ connections: 2 })
    try {
      const drains = []
      agent.on('drain', (origin, targets) => drains.push([origin, targets]))
      const results = []
      const done = []
      for (let i = 0; i < 10; i++) {
        done.push(new Promise((resolve, reject) => {
          results.push(agent.dispatch({ origin: server.origin, path: '/', method: 'GET' }, {
            onRequestStart () {},
            onResponseStart () {},
            onResponseData () {},
            onResponseEnd: resolve,
            onResponseError: (c, err) => reject(err)
          }))
        }))
      }
      assert.deepEqual(results, [true, false, false, false, false, false, false, false, false, false])
      await Promise.all(done)
      await waitFor(() => drains.length >= 1, 2000, 'a drain event')
      // undici passes the origin as a URL
      assert.equal(new URL(drains[0][0]).origin, server.origin)
      assert.ok(Array.isArray(drains[0][1]))
    } finally {
      await agent.close()
    }
  })
})
