'use strict'

// The rest of undici's public surface on the agent: request() options and
// body mixins, stream() backpressure, pipeline() errors, fetch() body kinds,
// RetryHandler used directly, and every interceptor undici ships, alone and
// combined. Each test must pass for undici's own Agent too
// (CD_TEST_AGENT=undici), which is what proves the test right.

const assert = require('node:assert/strict')
const crypto = require('node:crypto')
const zlib = require('node:zlib')
const { Writable, Readable, PassThrough } = require('node:stream')
const { pipeline: pipelineAsync } = require('node:stream/promises')
const undici = require('undici')
const { createAgent } = require('./support/agent')
const { startServer, startTlsServer } = require('./support/servers')
const { getCerts } = require('./support/certs')
const { sleep } = require('./support/collect')

const { interceptors, errors } = undici

const BIG = crypto.randomBytes(2 * 1024 * 1024)
const RANGED = crypto.randomBytes(256 * 1024)

describe('undici ecosystem on the agent', function () {
  let server
  let agent
  const hits = new Map()
  const hit = (p) => hits.set(p, (hits.get(p) || 0) + 1)

  before(async function () {
    server = await startServer((req, res) => {
      const url = new URL(req.url, 'http://x')
      hit(url.pathname)
      switch (url.pathname) {
        case '/text':
          res.end('plain text')
          return
        case '/host':
          res.end(String(req.headers.host))
          return
        case '/hints':
          res.writeEarlyHints({ link: '</style.css>; rel=preload' })
          res.end('after hints')
          return
        case '/no-content':
          res.statusCode = 204
          res.end()
          return
        case '/big':
          res.setHeader('content-length', BIG.length)
          res.end(BIG)
          return
        case '/cookies':
          res.setHeader('set-cookie', ['a=1; Path=/', 'b=2; HttpOnly'])
          res.end('cookies')
          return
        case '/echo': {
          const chunks = []
          req.on('data', (c) => chunks.push(c))
          req.on('end', () => {
            res.setHeader('x-content-type', String(req.headers['content-type']))
            res.setHeader('x-content-length', String(req.headers['content-length']))
            res.end(Buffer.concat(chunks))
          })
          return
        }
        case '/redirect':
          res.statusCode = 302
          res.setHeader('location', '/text')
          res.end()
          return
        case '/gzip':
        case '/br':
        case '/deflate': {
          const plain = Buffer.from(`compressed with ${url.pathname.slice(1)} `.repeat(200))
          const encode = { '/gzip': zlib.gzipSync, '/br': zlib.brotliCompressSync, '/deflate': zlib.deflateSync }[url.pathname]
          res.setHeader('content-encoding', url.pathname.slice(1))
          res.end(encode(plain))
          return
        }
        case '/cached':
          res.setHeader('cache-control', 'public, max-age=60')
          res.end(`cached body ${hits.get('/cached')}`)
          return
        case '/missing':
          res.statusCode = 404
          res.setHeader('content-type', 'application/json')
          res.end(JSON.stringify({ message: 'no such thing' }))
          return
        case '/flaky':
          if (hits.get('/flaky') % 2 === 1) {
            res.statusCode = 503
            res.end('later')
          } else {
            res.end('recovered')
          }
          return
        case '/chain':
          // redirect, then a 503 once, then gzip: every interceptor has work
          res.statusCode = 302
          res.setHeader('location', '/flaky-gzip')
          res.end()
          return
        case '/flaky-gzip':
          if (hits.get('/flaky-gzip') % 2 === 1) {
            res.statusCode = 503
            res.end('later')
          } else {
            res.setHeader('content-encoding', 'gzip')
            res.end(zlib.gzipSync('the end of the chain'))
          }
          return
        case '/ranged': {
          // The first full request is cut after 100 KiB; a Range request is
          // answered with 206 and the rest.
          res.setHeader('etag', '"v1"')
          res.setHeader('accept-ranges', 'bytes')
          const range = /^bytes=(\d+)-/.exec(req.headers.range || '')
          if (range) {
            const start = Number(range[1])
            res.writeHead(206, {
              'content-range': `bytes ${start}-${RANGED.length - 1}/${RANGED.length}`,
              'content-length': RANGED.length - start
            })
            res.end(RANGED.subarray(start))
            return
          }
          res.writeHead(200, { 'content-length': RANGED.length })
          res.write(RANGED.subarray(0, 100 * 1024), () => setTimeout(() => res.socket.destroy(), 20))
          return
        }
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

  beforeEach(function () { hits.clear() })

  describe('undici.request', function () {
    it('returns opaque, and calls onInfo for a 103', async function () {
      const infos = []
      const opaque = { mine: true }
      const res = await undici.request(`${server.origin}/hints`, {
        dispatcher: agent,
        opaque,
        onInfo: (info) => infos.push(info)
      })
      assert.equal(res.opaque, opaque)
      assert.equal(await res.body.text(), 'after hints')
      assert.equal(infos.length, 1)
      assert.equal(infos[0].statusCode, 103)
      assert.equal(infos[0].headers.link, '</style.css>; rel=preload')
    })

    it('HEAD and 204 have empty bodies', async function () {
      const head = await undici.request(`${server.origin}/big`, { dispatcher: agent, method: 'HEAD' })
      assert.equal(head.statusCode, 200)
      assert.equal(head.headers['content-length'], String(BIG.length))
      assert.equal(await head.body.text(), '')
      const none = await undici.request(`${server.origin}/no-content`, { dispatcher: agent })
      assert.equal(none.statusCode, 204)
      assert.equal(await none.body.text(), '')
    })

    it('body mixins: arrayBuffer, blob, bytes; dump() discards the rest', async function () {
      const a = await undici.request(`${server.origin}/big`, { dispatcher: agent })
      assert.ok(Buffer.from(await a.body.arrayBuffer()).equals(BIG))
      const b = await undici.request(`${server.origin}/big`, { dispatcher: agent })
      const blob = await b.body.blob()
      assert.equal(blob.size, BIG.length)
      if (typeof undici.Response.prototype.bytes === 'function') {
        const c = await undici.request(`${server.origin}/text`, { dispatcher: agent })
        assert.equal(Buffer.from(await c.body.bytes()).toString(), 'plain text')
      }
      const d = await undici.request(`${server.origin}/big`, { dispatcher: agent })
      await d.body.dump({ limit: 1024 })
      assert.equal(d.body.destroyed || d.body.readableEnded, true)
      // the agent serves the next request normally
      const e = await undici.request(`${server.origin}/text`, { dispatcher: agent })
      assert.equal(await e.body.text(), 'plain text')
    })

    it('responseHeaders: "raw" gives the header list as it came', async function () {
      const res = await undici.request(`${server.origin}/cookies`, { dispatcher: agent, responseHeaders: 'raw' })
      await res.body.dump()
      assert.ok(Array.isArray(res.headers))
      const names = res.headers.filter((_, i) => i % 2 === 0).map((n) => n.toString().toLowerCase())
      assert.deepEqual(names.filter((n) => n === 'set-cookie').length, 2)
    })
  })

  describe('undici.stream', function () {
    it('a slow factory writable gets every byte, with backpressure', async function () {
      let refusals = 0
      const received = []
      await undici.stream(`${server.origin}/big`, { dispatcher: agent }, () => {
        const w = new Writable({
          highWaterMark: 16 * 1024,
          write (chunk, enc, cb) {
            received.push(chunk)
            setImmediate(cb)
          }
        })
        const write = w.write.bind(w)
        w.write = (...args) => {
          const ok = write(...args)
          if (!ok) refusals++
          return ok
        }
        return w
      })
      assert.ok(Buffer.concat(received).equals(BIG))
      assert.ok(refusals > 0, 'the writable never pushed back')
    })
  })

  describe('undici.pipeline', function () {
    it('a server fault mid-body fails the pipeline stream', async function () {
      const duplex = undici.pipeline(`${server.origin}/ranged`, { dispatcher: agent, method: 'GET' }, ({ body }) => body)
      duplex.end()
      const sink = new Writable({ write (chunk, enc, cb) { cb() } })
      await assert.rejects(pipelineAsync(duplex, sink), (err) => {
        assert.ok(['UND_ERR_SOCKET', 'ECONNRESET', 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH'].includes(err.code), err.stack)
        return true
      })
    })

    it('an error thrown by the handler fails the pipeline stream', async function () {
      const duplex = undici.pipeline(`${server.origin}/text`, { dispatcher: agent }, () => {
        throw new Error('handler refuses')
      })
      duplex.end()
      const sink = new PassThrough()
      await assert.rejects(pipelineAsync(duplex, sink), /handler refuses/)
    })
  })

  describe('undici.fetch', function () {
    const f = (p, init = {}) => undici.fetch(`${server.origin}${p}`, { dispatcher: agent, ...init })

    it('FormData is sent as multipart/form-data', async function () {
      const form = new undici.FormData()
      form.append('field', 'value')
      form.append('file', new Blob(['file content'], { type: 'text/plain' }), 'a.txt')
      const res = await f('/echo', { method: 'POST', body: form })
      const body = await res.text()
      assert.match(res.headers.get('x-content-type'), /^multipart\/form-data; boundary=/)
      assert.match(body, /name="field"\r\n\r\nvalue\r\n/)
      assert.match(body, /filename="a.txt"\r\nContent-Type: text\/plain\r\n\r\nfile content\r\n/)
    })

    it('Blob, URLSearchParams and ArrayBuffer bodies', async function () {
      const blob = await f('/echo', { method: 'POST', body: new Blob([BIG], { type: 'application/x-big' }) })
      assert.equal(blob.headers.get('x-content-type'), 'application/x-big')
      assert.equal(blob.headers.get('x-content-length'), String(BIG.length))
      assert.ok(Buffer.from(await blob.arrayBuffer()).equals(BIG))
      const params = await f('/echo', { method: 'POST', body: new URLSearchParams({ a: '1', b: 'x y' }) })
      assert.equal(params.headers.get('x-content-type'), 'application/x-www-form-urlencoded;charset=UTF-8')
      assert.equal(await params.text(), 'a=1&b=x+y')
      const ab = await f('/echo', { method: 'POST', body: new Uint8Array([1, 2, 3]).buffer })
      assert.deepEqual([...new Uint8Array(await ab.arrayBuffer())], [1, 2, 3])
    })

    it('abort mid-body rejects the body read with AbortError, and the agent carries on', async function () {
      const controller = new AbortController()
      const res = await f('/big', { signal: controller.signal })
      const reader = res.body.getReader()
      await reader.read()
      controller.abort()
      await assert.rejects(async () => { for (;;) { const { done } = await reader.read(); if (done) break } },
        (err) => err.name === 'AbortError')
      assert.equal(await (await f('/text')).text(), 'plain text')
    })

    it('redirect: "manual" hands over the 302 as it is', async function () {
      const res = await f('/redirect', { redirect: 'manual' })
      assert.equal(res.status, 302)
      assert.equal(res.headers.get('location'), '/text')
      await res.arrayBuffer()
    })

    it('decompresses br and deflate itself (the agent does not)', async function () {
      for (const enc of ['br', 'deflate', 'gzip']) {
        const res = await f(`/${enc}`)
        assert.equal(await res.text(), `compressed with ${enc} `.repeat(200))
      }
    })

    it('headers.getSetCookie() sees every set-cookie', async function () {
      const res = await f('/cookies')
      assert.deepEqual(res.headers.getSetCookie(), ['a=1; Path=/', 'b=2; HttpOnly'])
      await res.text()
    })
  })

  describe('RetryHandler', function () {
    it('used directly: a body cut mid-way resumes with Range and arrives whole', async function () {
      const chunks = []
      let statusCode
      await new Promise((resolve, reject) => {
        const opts = { origin: server.origin, path: '/ranged', method: 'GET' }
        const handler = {
          onRequestStart () {},
          onResponseStart (controller, status) { statusCode = status },
          onResponseData (controller, chunk) { chunks.push(chunk) },
          onResponseEnd () { resolve() },
          onResponseError (controller, err) { reject(err) }
        }
        const retry = new undici.RetryHandler({ ...opts, retryOptions: { maxRetries: 2, minTimeout: 10 } },
          { dispatch: (o, h) => agent.dispatch(o, h), handler })
        agent.dispatch(opts, retry)
      })
      assert.equal(statusCode, 200)
      assert.ok(Buffer.concat(chunks).equals(RANGED), 'the resumed body differs')
      assert.equal(hits.get('/ranged'), 2)
    })
  })

  describe('interceptors', function () {
    it('dns: the looked-up address is connected to, the Host header keeps the name', async function () {
      const lookups = []
      const composed = agent.compose(interceptors.dns({
        lookup: (hostname, options, cb) => {
          lookups.push(hostname)
          cb(null, [{ address: '127.0.0.1', family: 4 }])
        }
      }))
      const url = `http://curl-dispatcher.test:${server.port}/host`
      const res = await undici.request(url, { dispatcher: composed })
      assert.equal(await res.body.text(), `curl-dispatcher.test:${server.port}`)
      // undici 7 hands the lookup the origin, later versions the host name
      assert.equal(lookups.length, 1)
      assert.match(String(lookups[0]), /curl-dispatcher\.test/)
    })

    it('dns over TLS: the certificate is checked against the name, not the address', async function () {
      const certs = getCerts()
      // a certificate for DNS:localhost only: connecting to 127.0.0.1 works
      // only if the servername the interceptor sets is honoured
      const tls = await startTlsServer((req, res) => res.end(`tls ${req.headers.host}`),
        { key: certs.nameOnlyKey, cert: certs.nameOnlyCert })
      const tlsAgent = createAgent({ connect: { ca: certs.ca } })
      try {
        const composed = tlsAgent.compose(interceptors.dns({
          lookup: (hostname, options, cb) => cb(null, [{ address: '127.0.0.1', family: 4 }])
        }))
        const res = await undici.request(`https://localhost:${tls.port}/`, { dispatcher: composed })
        assert.equal(await res.body.text(), `tls localhost:${tls.port}`)
      } finally {
        await tlsAgent.close()
        await tls.close()
      }
    })

    it('responseError: a 404 becomes a ResponseError with the status and body', async function () {
      const composed = agent.compose(interceptors.responseError())
      await assert.rejects(undici.request(`${server.origin}/missing`, { dispatcher: composed }), (err) => {
        assert.ok(err instanceof errors.ResponseError, err.stack)
        assert.equal(err.statusCode, 404)
        assert.equal(err.code, 'UND_ERR_RESPONSE')
        assert.deepEqual(err.body, { message: 'no such thing' })
        return true
      })
      const ok = await undici.request(`${server.origin}/text`, { dispatcher: composed })
      assert.equal(await ok.body.text(), 'plain text')
    })

    it('cache: a fresh response is served from the cache the second time', async function () {
      const composed = agent.compose(interceptors.cache())
      const first = await undici.request(`${server.origin}/cached`, { dispatcher: composed })
      assert.equal(await first.body.text(), 'cached body 1')
      await sleep(20) // the store is written when the body ends
      const second = await undici.request(`${server.origin}/cached`, { dispatcher: composed })
      assert.equal(await second.body.text(), 'cached body 1')
      assert.equal(hits.get('/cached'), 1)
    })

    it('decompress: request() gets the decoded body', async function () {
      if (typeof interceptors.decompress !== 'function') this.skip()
      const composed = agent.compose(interceptors.decompress())
      for (const enc of ['gzip', 'br', 'deflate']) {
        const res = await undici.request(`${server.origin}/${enc}`, { dispatcher: composed })
        assert.equal(await res.body.text(), `compressed with ${enc} `.repeat(200))
      }
    })

    it('deduplicate: identical concurrent GETs reach the server once', async function () {
      if (typeof interceptors.deduplicate !== 'function') this.skip()
      const composed = agent.compose(interceptors.deduplicate())
      const bodies = await Promise.all([0, 1, 2].map(async () => {
        const res = await undici.request(`${server.origin}/big`, { dispatcher: composed })
        return Buffer.from(await res.body.arrayBuffer())
      }))
      for (const b of bodies) assert.ok(b.equals(BIG))
      assert.ok(hits.get('/big') < 3, `the server saw ${hits.get('/big')} requests`)
    })

    it('all together: dns, redirect, retry, decompress, responseError and dump on one request', async function () {
      const composed = agent.compose(
        interceptors.dns({ lookup: (hostname, options, cb) => cb(null, [{ address: '127.0.0.1', family: 4 }]) }),
        interceptors.redirect({ maxRedirections: 2 }),
        interceptors.retry({ maxRetries: 2, minTimeout: 10, timeoutFactor: 1 }),
        ...(typeof interceptors.decompress === 'function' ? [interceptors.decompress()] : []),
        interceptors.responseError()
      )
      const res = await undici.request(`http://chain.test:${server.port}/chain`, { dispatcher: composed })
      assert.equal(res.statusCode, 200)
      const text = await res.body.text()
      if (typeof interceptors.decompress === 'function') assert.equal(text, 'the end of the chain')
      // the retry may replay the redirect too, depending on the order
      // undici composes in; the 503 is retried either way
      assert.ok(hits.get('/chain') >= 1)
      assert.equal(hits.get('/flaky-gzip'), 2)
      const dumped = agent.compose(interceptors.dump({ maxSize: 1 << 30 }), interceptors.responseError())
      const r2 = await undici.request(`${server.origin}/big`, { dispatcher: dumped })
      assert.equal(await r2.body.text(), '')
    })
  })

  describe('a ReadableStream request body through fetch', function () {
    it('arrives whole (duplex: half)', async function () {
      const src = Readable.from([BIG.subarray(0, 1 << 20), BIG.subarray(1 << 20)])
      const res = await undici.fetch(`${server.origin}/echo`, {
        dispatcher: agent, method: 'POST', body: Readable.toWeb(src), duplex: 'half'
      })
      assert.ok(Buffer.from(await res.arrayBuffer()).equals(BIG))
    })
  })
})
