'use strict'

// undici's high-level APIs and Node's global fetch running on the agent.

const assert = require('node:assert/strict')
const crypto = require('node:crypto')
const { Writable, Readable } = require('node:stream')
const { once } = require('node:events')
const zlib = require('node:zlib')
const undici = require('undici')
const { createAgent } = require('./support/agent')
const { startServer, startRawServer } = require('./support/servers')
const { sha256, sleep } = require('./support/collect')

describe('undici APIs on the agent', function () {
  let server
  let agent
  let flaky = 0

  before(async function () {
    server = await startServer((req, res) => {
      const url = new URL(req.url, 'http://x')
      switch (url.pathname) {
        case '/text':
          res.end('plain text')
          return
        case '/json':
          res.setHeader('content-type', 'application/json')
          res.end(JSON.stringify({ hello: 'world', n: 42 }))
          return
        case '/slow':
          setTimeout(() => res.end('slow'), 1000)
          return
        case '/echo-json': {
          const chunks = []
          req.on('data', (c) => chunks.push(c))
          req.on('end', () => {
            res.setHeader('content-type', 'application/json')
            res.end(JSON.stringify({
              method: req.method,
              contentType: req.headers['content-type'],
              received: JSON.parse(Buffer.concat(chunks).toString())
            }))
          })
          return
        }
        case '/echo':
          // echoes the request body chunk by chunk while it is still arriving
          res.writeHead(200, { 'content-type': 'application/octet-stream' })
          req.on('data', (c) => res.write(c))
          req.on('end', () => res.end())
          return
        case '/redirect':
          res.statusCode = 302
          res.setHeader('location', '/text')
          res.end()
          return
        case '/gzip':
          res.setHeader('content-encoding', 'gzip')
          res.setHeader('content-type', 'text/plain')
          res.end(zlib.gzipSync('decompressed by fetch'))
          return
        case '/flaky':
          flaky++
          if (flaky % 2 === 1) {
            res.statusCode = 503
            res.end('try again')
          } else {
            res.end('recovered')
          }
          return
        case '/download':
          res.end(Buffer.alloc(1024 * 1024, 'd'))
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

  describe('undici.request', function () {
    it('body.text()', async function () {
      const { statusCode, headers, body } = await undici.request(`${server.origin}/text`, { dispatcher: agent })
      assert.equal(statusCode, 200)
      assert.equal(headers['content-length'], '10')
      assert.equal(await body.text(), 'plain text')
    })

    it('body.json()', async function () {
      const { body } = await undici.request(`${server.origin}/json`, { dispatcher: agent })
      assert.deepEqual(await body.json(), { hello: 'world', n: 42 })
    })

    it('POST with a body', async function () {
      const { body } = await undici.request(`${server.origin}/echo-json`, {
        dispatcher: agent,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ a: [1, 2, 3] })
      })
      assert.deepEqual(await body.json(), { method: 'POST', contentType: 'application/json', received: { a: [1, 2, 3] } })
    })

    it('signal abort rejects with an AbortError', async function () {
      const ac = new AbortController()
      setTimeout(() => ac.abort(), 100)
      await assert.rejects(
        undici.request(`${server.origin}/slow`, { dispatcher: agent, signal: ac.signal }),
        (err) => {
          assert.ok(err.name === 'AbortError' || err.code === 'UND_ERR_ABORTED', `got ${err.name} ${err.code}`)
          return true
        })
    })

    it('an already aborted signal rejects without a request', async function () {
      const before = server.stats.requests
      await assert.rejects(
        undici.request(`${server.origin}/text`, { dispatcher: agent, signal: AbortSignal.abort() }),
        (err) => err.name === 'AbortError' || err.code === 'UND_ERR_ABORTED')
      await sleep(50)
      assert.equal(server.stats.requests, before)
    })
  })

  describe('undici.stream', function () {
    it('streams the body into the factory writable', async function () {
      const chunks = []
      const data = await undici.stream(`${server.origin}/download`, { dispatcher: agent, opaque: { tag: 't' } },
        ({ statusCode, opaque }) => {
          assert.equal(statusCode, 200)
          assert.deepEqual(opaque, { tag: 't' })
          return new Writable({
            write (chunk, enc, cb) {
              chunks.push(chunk)
              cb()
            }
          })
        })
      assert.deepEqual(data.opaque, { tag: 't' })
      assert.equal(Buffer.concat(chunks).length, 1024 * 1024)
      assert.equal(sha256(Buffer.concat(chunks)), sha256(Buffer.alloc(1024 * 1024, 'd')))
    })
  })

  describe('undici.pipeline', function () {
    it('the request body flows while the response streams', async function () {
      const duplex = undici.pipeline(`${server.origin}/echo`, { dispatcher: agent, method: 'POST' },
        ({ statusCode, body }) => {
          assert.equal(statusCode, 200)
          return body
        })
      const received = []
      let receivedBytes = 0
      duplex.on('data', (c) => {
        received.push(c)
        receivedBytes += c.length
      })
      const sent = []
      // Each chunk is written only after the echo of the previous one came
      // back: this only finishes if both directions stream at once.
      for (let i = 0; i < 5; i++) {
        const chunk = crypto.randomBytes(1000 + i)
        sent.push(chunk)
        const target = receivedBytes + chunk.length
        duplex.write(chunk)
        const deadline = Date.now() + 5000
        while (receivedBytes < target) {
          if (Date.now() > deadline) throw new Error(`echo of chunk ${i} did not arrive while the request was open`)
          await sleep(5)
        }
      }
      duplex.end()
      await once(duplex, 'end')
      assert.equal(sha256(Buffer.concat(received)), sha256(Buffer.concat(sent)))
    })
  })

  describe('undici.fetch with { dispatcher }', function () {
    it('GET', async function () {
      const res = await undici.fetch(`${server.origin}/text`, { dispatcher: agent })
      assert.equal(res.status, 200)
      assert.equal(await res.text(), 'plain text')
    })

    it('POST with a JSON body', async function () {
      const res = await undici.fetch(`${server.origin}/echo-json`, {
        dispatcher: agent,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ x: 'y' })
      })
      assert.deepEqual(await res.json(), { method: 'POST', contentType: 'application/json', received: { x: 'y' } })
    })

    it('follows a redirect itself', async function () {
      const res = await undici.fetch(`${server.origin}/redirect`, { dispatcher: agent })
      assert.equal(res.status, 200)
      assert.equal(res.redirected, true)
      assert.equal(res.url, `${server.origin}/text`)
      assert.equal(await res.text(), 'plain text')
    })

    it('decompresses gzip itself', async function () {
      const res = await undici.fetch(`${server.origin}/gzip`, { dispatcher: agent })
      assert.equal(await res.text(), 'decompressed by fetch')
    })

    // Head, a part of the body and the close in one write: the engine
    // reports them in one batch. fetch listens for its termination only a
    // promise turn after its onHeaders, so an error delivered with the head
    // left res.text() waiting forever.
    for (const [what, response, cause] of [
      ['a keep-alive response cut short by the close', 'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this', 'other side closed'],
      ['a chunked connection: close response cut short', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nhel\r\n', 'Response does not match the HTTP/1.1 protocol (Invalid EOF state)']
    ]) {
      it(`${what}: res.text() rejects with TypeError('terminated'), no wait`, async function () {
        const raw = await startRawServer((socket) => socket.end(response))
        try {
          const res = await undici.fetch(`${raw.origin}/`, { dispatcher: agent })
          assert.equal(res.status, 200)
          await assert.rejects(res.text(), (err) => {
            assert.equal(err.name, 'TypeError')
            assert.equal(err.message, 'terminated')
            assert.equal(err.cause && err.cause.message, cause)
            return true
          })
        } finally {
          await raw.close()
        }
      })
    }

    it('a body over maxResponseSize, head and body in one read: res.text() rejects, no wait', async function () {
      const small = createAgent({ maxResponseSize: 5 })
      try {
        const res = await undici.fetch(`${server.origin}/text`, { dispatcher: small })
        assert.equal(res.status, 200)
        await assert.rejects(res.text(), (err) => {
          assert.equal(err.name, 'TypeError')
          assert.ok(err.cause instanceof undici.errors.ResponseExceededMaxSizeError, `cause: ${err.cause && err.cause.stack}`)
          return true
        })
      } finally {
        await small.close()
      }
    })

    it('streams a request body from a ReadableStream', async function () {
      const payload = { streamed: true, list: [1, 2, 3] }
      const res = await undici.fetch(`${server.origin}/echo-json`, {
        dispatcher: agent,
        method: 'POST',
        duplex: 'half',
        headers: { 'content-type': 'application/json' },
        body: Readable.toWeb(Readable.from([Buffer.from(JSON.stringify(payload))]))
      })
      assert.deepEqual((await res.json()).received, payload)
    })
  })

  describe("Node's global fetch after setGlobalDispatcher(agent)", function () {
    let previous
    let globalAgent
    let dispatches = 0

    before(function () {
      previous = undici.getGlobalDispatcher()
      globalAgent = createAgent()
      // count the dispatches that reach this very agent
      const dispatch = globalAgent.dispatch
      globalAgent.dispatch = function (opts, handler) {
        dispatches++
        return dispatch.call(this, opts, handler)
      }
      undici.setGlobalDispatcher(globalAgent)
    })

    after(async function () {
      undici.setGlobalDispatcher(previous)
      await globalAgent.close()
    })

    it('goes through the agent', async function () {
      const before = dispatches
      const res = await fetch(`${server.origin}/json`)
      assert.equal(res.status, 200)
      assert.deepEqual(await res.json(), { hello: 'world', n: 42 })
      assert.equal(undici.getGlobalDispatcher(), globalAgent)
      assert.equal(dispatches - before, 1)
    })

    it('POST, redirect and gzip', async function () {
      const before = dispatches
      const post = await fetch(`${server.origin}/echo-json`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ global: 1 })
      })
      assert.deepEqual((await post.json()).received, { global: 1 })
      const redirected = await fetch(`${server.origin}/redirect`)
      assert.equal(redirected.redirected, true)
      assert.equal(await redirected.text(), 'plain text')
      const gz = await fetch(`${server.origin}/gzip`)
      assert.equal(await gz.text(), 'decompressed by fetch')
      assert.equal(dispatches - before, 4)
    })
  })

  describe('agent.compose with interceptors', function () {
    it('interceptors.retry retries a 503', async function () {
      const composed = agent.compose(undici.interceptors.retry({ maxRetries: 2, minTimeout: 10, timeoutFactor: 1 }))
      flaky = 0
      const { statusCode, body } = await undici.request(`${server.origin}/flaky`, { dispatcher: composed })
      assert.equal(statusCode, 200)
      assert.equal(await body.text(), 'recovered')
      assert.equal(flaky, 2)
    })

    it('interceptors.dump discards the body', async function () {
      const composed = agent.compose(undici.interceptors.dump())
      const { statusCode, body } = await undici.request(`${server.origin}/text`, { dispatcher: composed })
      assert.equal(statusCode, 200)
      assert.equal(await body.text(), '')
    })

    it('interceptors.redirect follows redirects on request()', async function () {
      const composed = agent.compose(undici.interceptors.redirect({ maxRedirections: 2 }))
      const { statusCode, body } = await undici.request(`${server.origin}/redirect`, { dispatcher: composed })
      assert.equal(statusCode, 200)
      assert.equal(await body.text(), 'plain text')
    })
  })
})
