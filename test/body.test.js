'use strict'

// Request body kinds, their framing on the wire, and big bodies both ways.

const assert = require('node:assert/strict')
const crypto = require('node:crypto')
const { Readable } = require('node:stream')
const undici = require('undici')
const { createAgent, kind } = require('./support/agent')
const { startServer } = require('./support/servers')
const { collect, sha256, sleep } = require('./support/collect')

const MB = 1024 * 1024

describe('request body', function () {
  let server
  let agent
  const download = crypto.randomBytes(10 * MB)

  before(async function () {
    server = await startServer((req, res) => {
      if (req.url === '/download') {
        res.setHeader('content-length', download.length)
        res.end(download)
        return
      }
      if (req.url === '/download-chunked') {
        let off = 0
        const step = () => {
          while (off < download.length) {
            const n = Math.min(download.length - off, 1 + Math.floor(Math.random() * 200000))
            const ok = res.write(download.subarray(off, off + n))
            off += n
            if (!ok) return res.once('drain', step)
          }
          res.end()
        }
        step()
        return
      }
      const hash = crypto.createHash('sha256')
      let length = 0
      req.on('data', (chunk) => {
        hash.update(chunk)
        length += chunk.length
      })
      req.on('end', () => {
        res.setHeader('content-type', 'application/json')
        res.end(JSON.stringify({
          method: req.method,
          length,
          sha256: hash.digest('hex'),
          contentLength: req.headers['content-length'] ?? null,
          transferEncoding: req.headers['transfer-encoding'] ?? null
        }))
      })
      req.on('error', () => {})
    })
    agent = createAgent()
  })

  after(async function () {
    await agent.close()
    await server.close()
  })

  async function upload (opts) {
    const r = await collect(agent, { origin: server.origin, path: '/upload', method: 'POST', ...opts })
    assert.equal(r.error, null, `request failed: ${r.error && r.error.stack}`)
    assert.equal(r.statusCode, 200)
    return JSON.parse(r.body.toString())
  }

  function assertReceived (got, bytes, framing) {
    assert.equal(got.length, bytes.length)
    assert.equal(got.sha256, sha256(bytes))
    if (framing === 'length') {
      assert.equal(got.contentLength, String(bytes.length))
      assert.equal(got.transferEncoding, null)
    } else if (framing === 'chunked') {
      assert.equal(got.transferEncoding, 'chunked')
      assert.equal(got.contentLength, null)
    } else if (framing === 'none') {
      assert.equal(got.transferEncoding, null)
      assert.equal(got.contentLength, null)
    }
  }

  describe('kinds', function () {
    it('GET with body null or undefined sends no body and no framing headers', async function () {
      assertReceived(await upload({ method: 'GET', body: null }), Buffer.alloc(0), 'none')
      assertReceived(await upload({ method: 'GET', body: undefined }), Buffer.alloc(0), 'none')
      assertReceived(await upload({ method: 'GET' }), Buffer.alloc(0), 'none')
    })

    it('POST with body null sends content-length: 0', async function () {
      assertReceived(await upload({ body: null }), Buffer.alloc(0), 'length')
    })

    it('POST with an empty string or Buffer sends content-length: 0', async function () {
      assertReceived(await upload({ body: '' }), Buffer.alloc(0), 'length')
      assertReceived(await upload({ body: Buffer.alloc(0) }), Buffer.alloc(0), 'length')
    })

    it('a string is sent as UTF-8 with its byte length', async function () {
      const s = 'héllo wörld ✓ 🚀'
      assertReceived(await upload({ body: s }), Buffer.from(s, 'utf8'), 'length')
    })

    it('a Buffer', async function () {
      const b = crypto.randomBytes(12345)
      assertReceived(await upload({ body: b }), b, 'length')
    })

    it('a Buffer slice sends only its own bytes', async function () {
      const whole = crypto.randomBytes(1000)
      const slice = whole.subarray(100, 400)
      assertReceived(await upload({ body: slice }), slice, 'length')
    })

    it('a Uint8Array', async function () {
      const u = new Uint8Array(crypto.randomBytes(777))
      assertReceived(await upload({ body: u }), Buffer.from(u), 'length')
    })

    it('a Uint16Array view with an offset sends the view bytes', async function () {
      const ab = crypto.randomBytes(64).buffer.slice(0)
      const view = new Uint16Array(ab, 8, 10) // bytes 8..28
      const expected = Buffer.from(ab, 8, 20)
      assertReceived(await upload({ body: view }), expected, 'length')
    })

    it('a DataView with an offset sends the view bytes', async function () {
      const ab = crypto.randomBytes(100).buffer.slice(0)
      const view = new DataView(ab, 10, 50)
      assertReceived(await upload({ body: view }), Buffer.from(ab, 10, 50), 'length')
    })

    it('an ArrayBuffer', async function () {
      const ab = crypto.randomBytes(333).buffer.slice(0)
      assertReceived(await upload({ body: ab }), Buffer.from(ab), 'length')
    })

    it('a Readable stream without content-length is sent chunked', async function () {
      const parts = [crypto.randomBytes(1000), crypto.randomBytes(70000), crypto.randomBytes(5)]
      assertReceived(await upload({ body: Readable.from(parts) }), Buffer.concat(parts), 'chunked')
    })

    it('a byte-mode Readable that pushes slowly is sent chunked', async function () {
      const parts = [Buffer.from('first '), Buffer.from('second '), Buffer.from('third')]
      let i = 0
      const stream = new Readable({
        read () {
          setTimeout(() => this.push(i < parts.length ? parts[i++] : null), 20)
        }
      })
      assertReceived(await upload({ body: stream }), Buffer.concat(parts), 'chunked')
    })

    it('a Readable stream with an explicit content-length is sent with that length', async function () {
      const parts = [crypto.randomBytes(4000), crypto.randomBytes(6000)]
      const got = await upload({ body: Readable.from(parts), headers: { 'content-length': '10000' } })
      assertReceived(got, Buffer.concat(parts), 'length')
    })

    it('a sync iterable of chunks (Buffers, Uint8Arrays and strings) is sent chunked', async function () {
      const a = crypto.randomBytes(300)
      const b = new Uint8Array(crypto.randomBytes(200))
      function * gen () {
        yield a
        yield b
        yield 'tail-ü'
      }
      const expected = Buffer.concat([a, Buffer.from(b), Buffer.from('tail-ü')])
      assertReceived(await upload({ body: gen() }), expected, 'chunked')
    })

    it('an array of chunks is sent chunked', async function () {
      const parts = [Buffer.from('a'), Buffer.from('bb'), Buffer.from('ccc')]
      assertReceived(await upload({ body: parts }), Buffer.from('abbccc'), 'chunked')
    })

    it('an async iterable (async generator) is sent chunked', async function () {
      const parts = [crypto.randomBytes(1000), crypto.randomBytes(2000), crypto.randomBytes(3000)]
      async function * gen () {
        for (const p of parts) {
          await sleep(10)
          yield p
        }
      }
      assertReceived(await upload({ body: gen() }), Buffer.concat(parts), 'chunked')
    })

    it('an async iterable with an explicit content-length is sent with that length', async function () {
      async function * gen () {
        yield Buffer.from('12345')
        await sleep(5)
        yield Buffer.from('67890')
      }
      const got = await upload({ body: gen(), headers: { 'content-length': '10' } })
      assertReceived(got, Buffer.from('1234567890'), 'length')
    })

    it('a body on GET and DELETE is sent too', async function () {
      assertReceived(await upload({ method: 'GET', body: 'abc' }), Buffer.from('abc'), 'length')
      assertReceived(await upload({ method: 'DELETE', body: 'abcd' }), Buffer.from('abcd'), 'length')
    })
  })

  describe('content-length mismatch', function () {
    async function mismatch (opts) {
      const before = server.stats.requests
      const r = await collect(agent, { origin: server.origin, path: '/upload', method: 'POST', ...opts })
      assert.equal(r.events[r.events.length - 1], 'error', `expected an error, got ${r.events}`)
      assert.ok(r.error instanceof undici.errors.RequestContentLengthMismatchError, `got ${r.error && r.error.stack}`)
      assert.equal(r.error.code, 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH')
      return before
    }

    it('a Buffer body shorter than content-length fails before sending', async function () {
      const before = await mismatch({ body: Buffer.from('abc'), headers: { 'content-length': '10' } })
      await sleep(50)
      assert.equal(server.stats.requests, before, 'the server never saw the request')
    })

    it('a string body longer than content-length fails before sending', async function () {
      const before = await mismatch({ body: 'abcdef', headers: { 'content-length': '2' } })
      await sleep(50)
      assert.equal(server.stats.requests, before, 'the server never saw the request')
    })

    it('a stream body shorter than content-length fails', async function () {
      await mismatch({ body: Readable.from([Buffer.from('abc')]), headers: { 'content-length': '10' } })
    })

    it('a stream body longer than content-length fails', async function () {
      await mismatch({ body: Readable.from([Buffer.from('abc'), Buffer.from('def')]), headers: { 'content-length': '4' } })
    })

    it('an iterable body shorter than content-length fails', async function () {
      await mismatch({ body: [Buffer.from('a'), Buffer.from('bc')], headers: { 'content-length': '5' } })
    })

    it('the agent still works after a mismatch', async function () {
      assertReceived(await upload({ body: 'fine' }), Buffer.from('fine'), 'length')
    })
  })

  // What goes on the wire for a content-length header and a body, as
  // undici's client-h1 writes it (each row checked against undici's Agent).
  // [method, content-length header, body kind, content-length sent,
  // transfer-encoding sent, bytes] or [..., 'mismatch'].
  describe('framing with a content-length header, as undici', function () {
    const bodies = {
      none: () => undefined,
      empty: () => '',
      buffer: () => 'abc',
      // all of its data pushed at the first read: its length is known
      buffered: () => new Readable({ read () { this.push('abc'); this.push(null) } }),
      bufferedEmpty: () => new Readable({ read () { this.push(null) } }),
      // its data comes later: its length is not known
      later: () => new Readable({ read () { setTimeout(() => { this.push('abc'); this.push(null) }, 5) } })
    }
    const rows = [
      ['GET', null, 'buffered', '3', null, 3],
      ['GET', null, 'bufferedEmpty', null, null, 0],
      ['GET', '10', 'buffer', '3', null, 3], // not held against a GET body
      ['GET', '4', 'buffered', '3', null, 3],
      ['GET', '0', 'later', null, 'chunked', 3], // a 0 on GET is not sent
      ['GET', '0', 'bufferedEmpty', null, null, 0],
      ['HEAD', '10', 'buffer', '3', null, null],
      ['PUT', null, 'buffered', '3', null, 3],
      ['PUT', null, 'bufferedEmpty', '0', null, 0],
      ['PUT', '10', 'none', '0', null, 0], // an empty body is never a mismatch
      ['PUT', '10', 'empty', '0', null, 0],
      ['PUT', '10', 'bufferedEmpty', '0', null, 0],
      ['PUT', '10', 'buffer', 'mismatch'],
      ['PUT', '4', 'later', 'mismatch'],
      ['DELETE', '0', 'later', null, 'chunked', 3],
      ['DELETE', '10', 'buffer', 'mismatch'],
      ['DELETE', '10', 'bufferedEmpty', null, null, 0]
    ]
    for (const [method, declared, body, sentLength, sentCoding, bytes] of rows) {
      const what = `${method}, content-length ${declared ?? 'none'}, ${body} body`
      it(sentLength === 'mismatch' ? `${what}: RequestContentLengthMismatchError` : `${what}: sent as ${sentLength ?? '-'}/${sentCoding ?? '-'}`, async function () {
        const headers = declared === null ? {} : { 'content-length': declared }
        const r = await collect(agent, { origin: server.origin, path: '/upload', method, headers, body: bodies[body]() })
        if (sentLength === 'mismatch') {
          assert.ok(r.error instanceof undici.errors.RequestContentLengthMismatchError, `got ${r.error && r.error.stack}`)
          return
        }
        assert.equal(r.error, null, `request failed: ${r.error && r.error.stack}`)
        if (method === 'HEAD') return
        const got = JSON.parse(r.body.toString())
        assert.deepEqual([got.contentLength, got.transferEncoding, got.length], [sentLength, sentCoding, bytes])
      })
    }
  })

  it('a chunked body goes out as it was written: each write is one chunk, as undici and node:http send it', async function () {
    const seen = await startServer((req, res) => {
      const chunks = []
      req.on('data', (c) => chunks.push(c.toString()))
      req.on('end', () => res.end(JSON.stringify({ chunks, coding: req.headers['transfer-encoding'] ?? null })))
    })
    try {
      // written at once, before the connection is even open
      const body = (async function * () { yield 'hello'; yield ''; yield 'world'; yield 'a'; yield 'b' })()
      const r = await collect(agent, { origin: seen.origin, path: '/', method: 'POST', body })
      assert.deepEqual(JSON.parse(r.body.toString()), { chunks: ['hello', 'world', 'a', 'b'], coding: 'chunked' })
    } finally {
      await seen.close()
    }
  })

  // pipeline() hands the dispatcher its request side as a stream body, and
  // a caller usually ends it at once (duplex.end()). undici frames such a
  // body when it writes it, by then ended: an empty one on a GET is not
  // sent at all, a short one goes with its content-length. Sent chunked,
  // every pipeline() GET carried a `0` chunk for the server to read.
  describe('a streamed body ended before it is read (pipeline()), as undici', function () {
    // [method, what is written to the duplex, content-length sent, transfer-encoding sent, bytes]
    const rows = [
      ['GET', [], null, null, 0],
      ['GET', ['abc'], '3', null, 3],
      ['POST', [], '0', null, 0],
      ['POST', ['abc'], '3', null, 3],
      ['POST', ['a', 'later', 'b'], null, 'chunked', 2]
    ]
    function viaPipeline (dispatcher, method, writes) {
      return new Promise((resolve, reject) => {
        const chunks = []
        const duplex = undici.pipeline(`${server.origin}/upload`, { dispatcher, method }, ({ body }) => body)
        duplex.on('data', (c) => chunks.push(c))
        duplex.on('error', reject)
        duplex.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString())))
        const rest = writes.slice()
        const step = () => {
          while (rest.length > 1) {
            const next = rest.shift()
            if (next === 'later') return setTimeout(step, 20)
            duplex.write(next)
          }
          duplex.end(rest.shift())
        }
        step()
      })
    }
    for (const [method, writes, sentLength, sentCoding, bytes] of rows) {
      it(`${method}, ${writes.length ? writes.join(' ') : 'ended at once'}: sent as ${sentLength ?? '-'}/${sentCoding ?? '-'}`, async function () {
        const theirs = new undici.Agent()
        try {
          for (const dispatcher of [agent, theirs]) {
            const got = await viaPipeline(dispatcher, method, writes)
            assert.deepEqual([got.method, got.contentLength, got.transferEncoding, got.length],
              [method, sentLength, sentCoding, bytes], dispatcher === agent ? 'ours' : 'undici\'s Agent')
          }
        } finally {
          await theirs.close()
        }
      })
    }
  })

  describe('the body stream after the request, as undici', function () {
    // autoDestroy: false, so only the agent can destroy them
    function stream (data, { later = false } = {}) {
      const s = new Readable({ autoDestroy: false, read () { if (later) setTimeout(() => { this.push(data); this.push(null) }, 5) } })
      if (!later) {
        if (data !== null) s.push(data)
        s.push(null)
      }
      return s
    }

    for (const [what, make] of [['an empty stream', () => stream(null)], ['a buffered stream', () => stream('abc')], ['a stream read as it comes', () => stream('abc', { later: true })]]) {
      it(`${what} is destroyed as soon as it has ended`, async function () {
        const body = make()
        let destroyedAtEnd = null
        body.on('end', () => process.nextTick(() => { destroyedAtEnd = body.destroyed }))
        const r = await collect(agent, { origin: server.origin, path: '/upload', method: 'POST', body })
        assert.equal(r.error, null)
        assert.equal(destroyedAtEnd, true, 'destroyed by the tick after its end')
      })
    }

    it('an empty stream that errors once the request is on its way fails it with that error', async function () {
      const slow = await startServer((req, res) => setTimeout(() => res.end('late'), 300))
      const body = new Readable({ read () {} })
      body.push(null)
      const fresh = createAgent()
      try {
        fresh.once('connect', () => process.nextTick(() => body.emit('error', new Error('empty, then broken'))))
        const r = await collect(fresh, { origin: slow.origin, path: '/', method: 'POST', body })
        assert.equal(r.error && r.error.message, 'empty, then broken')
      } finally {
        await fresh.close()
        await slow.close()
      }
    })

    it('a server\'s request streamed on (a proxy) and aborted: the socket it came on is left to its server', async function () {
      const upstream = await startServer((req, res) => { req.resume() }) // never answers
      const ac = new AbortController()
      const proxy = await startServer((req, res) => {
        agent.request({ origin: upstream.origin, path: '/', method: 'POST', body: req, signal: ac.signal })
          .catch((err) => res.end(`proxy says: ${err.name}`))
        setTimeout(() => ac.abort(), 100)
      })
      try {
        const { Readable } = require('node:stream')
        // the client's body is still coming when the proxy's request is aborted
        const body = new Readable({ read () {} })
        body.push('first part')
        setTimeout(() => body.push(null), 400)
        const res = await undici.request(`${proxy.origin}/`, { method: 'POST', body })
        assert.equal(await res.body.text(), 'proxy says: AbortError')
      } finally {
        await proxy.close()
        await upstream.close()
      }
    })

    it('a stream still waited on is destroyed when the request is aborted, without an error of its own', async function () {
      const body = new Readable({ autoDestroy: false, read () {} })
      body.push('first')
      const errors = []
      body.on('error', (err) => errors.push(err))
      const r = await collect(agent, { origin: server.origin, path: '/upload', method: 'POST', body }, {
        onRequestStart (controller) { setTimeout(() => controller.abort(new Error('stop')), 50) }
      })
      assert.equal(r.error.message, 'stop')
      await sleep(20)
      assert.equal(body.destroyed, true)
      assert.deepEqual(errors, [])
    })
  })

  describe('body errors', function () {
    it('a stream that errors fails the request with that error', async function () {
      const boom = new Error('stream broke')
      const stream = new Readable({ read () {} })
      stream.push('some bytes')
      setTimeout(() => stream.destroy(boom), 50)
      const r = await collect(agent, { origin: server.origin, path: '/upload', method: 'POST', body: stream })
      assert.equal(r.events[r.events.length - 1], 'error')
      assert.equal(r.error, boom)
    })

    it('a stream destroyed before its end without an error: RequestAbortedError, as undici', async function () {
      const stream = new Readable({ read () { setImmediate(() => this.destroy()) } })
      const r = await collect(agent, { origin: server.origin, path: '/upload', method: 'POST', body: stream })
      assert.equal(r.events[r.events.length - 1], 'error')
      assert.ok(r.error instanceof undici.errors.RequestAbortedError, `got ${r.error && r.error.stack}`)
    })

    it('an async iterable that throws fails the request with that error', async function () {
      const boom = new Error('generator broke')
      async function * gen () {
        yield Buffer.from('first')
        await sleep(30)
        throw boom
      }
      const r = await collect(agent, { origin: server.origin, path: '/upload', method: 'POST', body: gen() })
      assert.equal(r.events[r.events.length - 1], 'error')
      assert.equal(r.error, boom)
    })

    it('an iterable yielding something other than a string or bytes: TypeError, as a stream write gives', async function () {
      for (const bad of [0, null, { not: 'bytes' }]) {
        const iterable = { * [Symbol.iterator] () { yield bad } }
        const r = await collect(agent, { origin: server.origin, path: '/upload', method: 'POST', body: iterable })
        assert.equal(r.events[r.events.length - 1], 'error')
        assert.ok(r.error instanceof TypeError, `${JSON.stringify(bad)}: got ${r.error && r.error.stack}`)
        assert.equal(r.error.code, 'ERR_INVALID_ARG_TYPE')
      }
    })

    it('a body stream that errors after its end, before the response: the request fails with that error', async function () {
      const slow = await startServer((req, res) => {
        req.resume()
        req.on('end', () => setTimeout(() => res.end('late'), 300))
      })
      try {
        const boom = new Error('after the end')
        const body = new Readable({ read () {} })
        body.push('abc')
        body.push(null)
        body.on('end', () => setTimeout(() => body.emit('error', boom), 50))
        const r = await collect(agent, { origin: slow.origin, path: '/', method: 'POST', body })
        assert.equal(r.error, boom)
        // once the request has ended, the stream's errors are the user's
        // again: the one listener left is node:stream's own, which its
        // async iterator leaves behind (a for-await alone leaves it too)
        assert.ok(body.listenerCount('error') <= 1, `${body.listenerCount('error')} error listeners left`)
      } finally {
        await slow.close()
      }
    })

    it('a streamed body still waiting for its source when the server answers and closes: the request ends with SocketError', async function () {
      // libcurl finishes a transfer only once both directions are done, and
      // waits for a paused upload even after the server has hung up
      const { PassThrough } = require('node:stream')
      const closing = await startServer((req, res) => {
        req.once('data', () => {
          res.writeHead(200)
          res.write('partial')
          setTimeout(() => res.destroy(), 50)
        })
      })
      try {
        const body = new PassThrough()
        body.write('first chunk; the rest never comes')
        const started = Date.now()
        const r = await collect(agent, { origin: closing.origin, path: '/', method: 'PUT', body })
        assert.equal(r.events[r.events.length - 1], 'error', r.events.join())
        assert.ok(r.error instanceof undici.errors.SocketError, `got ${r.error && r.error.stack}`)
        assert.equal(r.body.toString(), 'partial')
        assert.ok(Date.now() - started < 2000, `took ${Date.now() - started} ms`)
      } finally {
        await closing.close()
      }
    })

    it('an empty response (content-length: 0) while an endless streamed body goes out: delivered, the connection dropped', async function () {
      const quick = await startServer((req, res) => res.end())
      try {
        const body = new Readable({ read () { setImmediate(() => this.push(Buffer.alloc(1024, 'a'))) } })
        const started = Date.now()
        const r = await collect(agent, { origin: quick.origin, path: '/', method: 'PUT', body })
        assert.equal(r.error, null, `request failed: ${r.error && r.error.stack}`)
        assert.equal(r.statusCode, 200)
        assert.equal(r.body.length, 0)
        assert.ok(Date.now() - started < 3000, `took ${Date.now() - started} ms`)
        body.destroy()
      } finally {
        await quick.close()
      }
    })

    it('an endless body of 3-byte chunks pushed synchronously, the server reading it and answering at once: the response comes', async function () {
      // each chunk costs the engine a command: counting bytes alone let
      // hundreds of thousands of them queue up (349 MB, no response)
      const reader = await startServer((req, res) => {
        req.resume()
        res.end()
      })
      try {
        const body = new Readable({ read () { this.push('asd') } })
        const r = await collect(agent, { origin: reader.origin, path: '/', method: 'PUT', body })
        assert.equal(r.error, null, `request failed: ${r.error && r.error.stack}`)
        assert.equal(r.statusCode, 200)
        body.destroy()
      } finally {
        await reader.close()
      }
    })

    it('the agent still works after body errors', async function () {
      assertReceived(await upload({ body: 'fine' }), Buffer.from('fine'), 'length')
    })
  })

  describe('10 MB both ways', function () {
    it('uploads 10 MB from a Buffer byte-exact', async function () {
      const big = crypto.randomBytes(10 * MB)
      assertReceived(await upload({ method: 'PUT', body: big }), big, 'length')
    })

    it('uploads 10 MB from a stream of uneven chunks byte-exact', async function () {
      const big = crypto.randomBytes(10 * MB)
      async function * gen () {
        let off = 0
        while (off < big.length) {
          const n = Math.min(big.length - off, 1 + Math.floor(Math.random() * 100000))
          yield big.subarray(off, off + n)
          off += n
        }
      }
      assertReceived(await upload({ body: Readable.from(gen(), { objectMode: false }) }), big, 'chunked')
    })

    it('downloads 10 MB with content-length byte-exact', async function () {
      const r = await collect(agent, { origin: server.origin, path: '/download', method: 'GET' })
      assert.equal(r.error, null)
      assert.equal(r.headers['content-length'], String(download.length))
      assert.equal(r.body.length, download.length)
      assert.equal(sha256(r.body), sha256(download))
    })

    it('downloads 10 MB chunked byte-exact', async function () {
      const r = await collect(agent, { origin: server.origin, path: '/download-chunked', method: 'GET' })
      assert.equal(r.error, null)
      assert.equal(r.headers['transfer-encoding'], 'chunked')
      assert.equal(r.body.length, download.length)
      assert.equal(sha256(r.body), sha256(download))
    })
  })

  // Large bodies reach the handler in Buffers the worker wrote into
  // directly (landings, lib/native.js): a chunk must stay intact after the
  // landing it came in has been replaced, and a thin chunk must not hold a
  // whole landing.
  describe('large bodies in landings', function () {
    // The chunks as the handler was given them (collect() copies them).
    function keepChunks () {
      return new Promise((resolve, reject) => {
        const chunks = []
        agent.dispatch({ origin: server.origin, path: '/download', method: 'GET' }, {
          onRequestStart () {},
          onResponseStart () {},
          onResponseData (controller, chunk) { chunks.push(chunk) },
          onResponseEnd () { resolve(chunks) },
          onResponseError (controller, err) { reject(err) }
        })
      })
    }

    it('8 downloads of 10 MB at once, every chunk kept as given, arrive byte-exact', async function () {
      const results = await Promise.all(Array.from({ length: 8 }, keepChunks))
      let landed = 0
      for (const chunks of results) {
        const body = Buffer.concat(chunks)
        assert.equal(body.length, download.length)
        assert.equal(sha256(body), sha256(download))
        for (const chunk of chunks) {
          if (chunk.buffer.byteLength === 64 * 1024 && chunk.length >= 32 * 1024) landed++
          // A thin chunk holds no landing. One that came out of Node's own
          // pool (Buffer.allocUnsafe, small events) shares a pool slab, as
          // any small Buffer does: on Node 24 Buffer.poolSize is 64 KiB, a
          // landing's size, so such a slab passes here by its size alone.
          const pooled = chunk.buffer.byteLength === Buffer.poolSize && chunk.length < Buffer.poolSize >>> 1
          if (kind !== 'undici' && chunk.length < 32 * 1024 && !pooled) {
            assert.ok(chunk.buffer.byteLength < 64 * 1024, `a ${chunk.length}-byte chunk holds ${chunk.buffer.byteLength} bytes`)
          }
        }
      }
      if (kind !== 'undici') assert.ok(landed > 100, `${landed} chunks came in landings`)
    })
  })

  // A server that answers a POST as soon as it has the head and discards
  // the body afterwards (nginx's `return`, node:http's unread request body):
  // with a streamed body the response can be complete before the body has
  // gone out. The head must leave with the body's first chunk, as undici's
  // writers send it, so that sequential requests keep their connection
  // (fetch() POSTs, whose body is always a stream, opened one connection
  // per request against nginx).
  describe('server answers before reading a streamed body', function () {
    let early
    let earlyAgent

    before(async function () {
      early = await startServer((req, res) => {
        req.resume() // discarded, after the response is on its way
        res.end('ok')
      })
      earlyAgent = createAgent()
    })

    after(async function () {
      await earlyAgent.close()
      await early.close()
    })

    // The first chunk comes a little after the request is dispatched, as
    // from a file or another request: a head sent at once would be answered
    // before any of the body has gone out.
    async function * later (chunk) {
      await sleep(5)
      yield chunk
    }

    // Chunked: the head and the chunk go out together, the terminating
    // chunk a moment later, when the response may already be complete.
    async function * endsLater (chunk) {
      yield chunk
      await sleep(2)
    }

    for (const [name, makeBody, length = true] of [
      ['an async generator', (chunk) => later(chunk)],
      ['a Readable', (chunk) => Readable.from(later(chunk), { objectMode: false })],
      ['a chunked generator whose end comes later', (chunk) => endsLater(chunk), false],
      ['fetch()', null]
    ]) {
      it(`keeps the connection across 30 sequential POSTs of 16 KiB from ${name}`, async function () {
        // undici drops a connection whose socket is still writing when the
        // response completes (docs/compatibility.md)
        if (!length && kind === 'undici') this.skip()
        const before = early.stats.connections
        const chunk = Buffer.alloc(16 * 1024, 'p')
        for (let i = 0; i < 30; i++) {
          if (makeBody === null) {
            const res = await undici.fetch(early.origin + '/sink', { method: 'POST', body: chunk, dispatcher: earlyAgent })
            assert.equal(await res.text(), 'ok')
          } else {
            const r = await collect(earlyAgent, {
              origin: early.origin,
              path: '/sink',
              method: 'POST',
              headers: length ? { 'content-length': String(chunk.length) } : {},
              body: makeBody(chunk)
            })
            assert.equal(r.error, null, r.error && r.error.stack)
            assert.equal(r.body.toString(), 'ok')
          }
        }
        // One connection, and a little slack for a head that still raced
        // ahead of its chunk; one per request is what the defect gave.
        assert.ok(early.stats.connections - before <= 3, `${early.stats.connections - before} connections for 30 requests`)
      })
    }
  })
})
