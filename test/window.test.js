'use strict'

// The response window: a consumer that does not read, reads slowly or is
// paused holds a bounded amount of memory, whatever the response's size
// (engine.h CD_RESPONSE_WINDOW, docs/architecture.md "Flow control").

const assert = require('node:assert/strict')
const undici = require('undici')
const { Writable } = require('node:stream')
const { createAgent, underSanitizer } = require('./support/agent')
const { startRawServer, readRequestHead } = require('./support/servers')
const { sleep } = require('./support/collect')

const MB = 1024 * 1024
const CHUNK = Buffer.alloc(64 * 1024, 'w')

// Answers every request with `size` bytes, written with backpressure from
// one reused chunk (so the server itself holds no memory), and counts the
// bytes the kernel took from it.
async function startSource (size) {
  const server = await startRawServer(async (socket) => {
    await readRequestHead(socket)
    socket.write(`HTTP/1.1 200 OK\r\ncontent-length: ${size}\r\n\r\n`)
    let left = size
    const pump = () => {
      while (left > 0) {
        const n = Math.min(left, CHUNK.length)
        left -= n
        const more = socket.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n), () => { server.sent += n })
        if (!more) return socket.once('drain', pump)
      }
    }
    socket.on('error', () => {})
    pump()
  })
  server.sent = 0
  return server
}

// Resolves once the server has sent nothing for `ms`.
async function quiet (server, ms, limit) {
  const end = Date.now() + limit
  for (;;) {
    const before = server.sent
    await sleep(ms)
    if (server.sent === before) return
    if (Date.now() > end) throw new Error(`the server was still sending after ${limit} ms (${server.sent} bytes)`)
  }
}

function rss () {
  return process.memoryUsage().rss
}

describe('response window', function () {
  this.timeout(60000)
  let agent

  beforeEach(function () { agent = createAgent() })
  afterEach(async function () { await agent.destroy() })

  it('an unread request() body stops the server within the window plus socket buffers', async function () {
    const server = await startSource(200 * MB)
    try {
      const { statusCode, body } = await undici.request(server.url, { dispatcher: agent })
      assert.equal(statusCode, 200)
      await quiet(server, 300, 5000)
      const sent = server.sent
      assert.ok(sent < 8 * MB, `${(sent / MB).toFixed(1)} MB left the server for a body nobody read`)
      body.destroy()
    } finally {
      await server.close()
    }
  })

  it('a paused v2 handler stops the server within the window plus socket buffers', async function () {
    const server = await startSource(200 * MB)
    try {
      let got = 0
      let errored = null
      await new Promise((resolve) => {
        agent.dispatch({ origin: server.origin, path: '/', method: 'GET' }, {
          onRequestStart () {},
          onResponseStart (controller) { controller.pause(); resolve() },
          onResponseData (controller, chunk) { got += chunk.length },
          onResponseEnd () {},
          onResponseError (controller, err) { errored = err }
        })
      })
      await quiet(server, 300, 5000)
      assert.equal(got, 0)
      assert.equal(errored, null)
      assert.ok(server.sent < 8 * MB, `${(server.sent / MB).toFixed(1)} MB left the server while paused`)
    } finally {
      await server.close()
    }
  })

  it('a 200 MB body consumed slowly grows RSS by less than 64 MB', async function () {
    if (underSanitizer) this.skip()
    const size = 200 * MB
    const server = await startSource(size)
    try {
      global.gc?.()
      const base = rss()
      let peak = base
      const sampler = setInterval(() => { peak = Math.max(peak, rss()) }, 20)
      let received = 0
      let writes = 0
      await undici.stream(server.url, { dispatcher: agent }, () => new Writable({
        highWaterMark: 64 * 1024,
        write (chunk, enc, cb) {
          received += chunk.length
          // slower than the loopback: a pause every 16 chunks
          if (++writes % 16 === 0) setTimeout(cb, 1)
          else setImmediate(cb)
        }
      }))
      clearInterval(sampler)
      assert.equal(received, size)
      const grewMB = (peak - base) / MB
      assert.ok(grewMB < 64, `RSS grew by ${grewMB.toFixed(1)} MB`)
    } finally {
      await server.close()
    }
  })

  it('50 paused consumers at once hold at most about a window each', async function () {
    if (underSanitizer) this.skip()
    const server = await startSource(64 * MB)
    try {
      global.gc?.()
      const base = rss()
      const bodies = []
      for (let i = 0; i < 50; i++) bodies.push(undici.request(server.url, { dispatcher: agent }))
      const responses = await Promise.all(bodies)
      // nobody reads: each body fills its stream buffer, pauses, and the
      // rest waits in the kernel and at the server
      await quiet(server, 300, 20000)
      const grewMB = (rss() - base) / MB
      const perRequestMB = server.sent / 50 / MB
      // per request: the window, plus up to a window that was on its way
      // when the pause reached the worker; 64 MB for everything else
      assert.ok(grewMB < 50 * 2 + 64, `RSS grew by ${grewMB.toFixed(1)} MB for 50 paused bodies`)
      assert.ok(perRequestMB < 8, `${perRequestMB.toFixed(1)} MB per request left the server`)
      for (const r of responses) r.body.destroy()
    } finally {
      await server.close()
    }
  })
})

// A paused HTTP/2 stream: the engine pauses it as on HTTP/1.1, but libcurl
// still reads its connection while other streams use it, and keeps what
// arrives for the paused stream, up to the stream window it advertised
// (libcurl 7.88: 32 MiB, fixed; 8.x: up to 10 MiB). No libcurl option
// shrinks that window (docs/architecture.md, "Pause, backpressure, abort").
describe('response window, HTTP/2', function () {
  this.timeout(60000)
  const http2 = require('node:http2')
  const { once } = require('node:events')
  const { getCerts } = require('./support/certs')
  let certs
  let server
  let origin
  let sent
  let agent

  before(async function () {
    certs = getCerts()
    server = http2.createSecureServer({ key: certs.serverKey, cert: certs.serverCert, allowHTTP1: false })
    server.on('stream', (stream, headers) => {
      stream.on('error', () => {})
      if (headers[':path'] === '/trickle') {
        // keeps the session busy: a byte every 50 ms for 3 s
        stream.respond({ ':status': 200 })
        let n = 0
        const timer = setInterval(() => {
          if (stream.destroyed) return clearInterval(timer)
          stream.write('t')
          if (++n === 60) { clearInterval(timer); stream.end() }
        }, 50)
        return
      }
      const size = 200 * MB
      stream.respond({ ':status': 200, 'content-length': size })
      let left = size
      const pump = () => {
        while (left > 0 && !stream.destroyed) {
          const n = Math.min(left, CHUNK.length)
          left -= n
          // the callback runs once nghttp2 has handed the bytes to the socket
          if (!stream.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n), () => { sent += n })) return stream.once('drain', pump)
        }
      }
      pump()
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    origin = `https://127.0.0.1:${server.address().port}`
  })

  after(function () { server.close() })
  beforeEach(function () { sent = 0; agent = createAgent({ allowH2: true, connect: { ca: certs.ca } }) })
  afterEach(async function () { await agent.destroy() })

  async function settle (limit) {
    const end = Date.now() + limit
    for (;;) {
      const before = sent
      await sleep(300)
      if (sent === before) return
      if (Date.now() > end) throw new Error(`the server was still sending after ${limit} ms (${sent} bytes)`)
    }
  }

  it('an unread body alone on its session stops the server within the socket buffers', async function () {
    const { statusCode, body } = await undici.request(`${origin}/big`, { dispatcher: agent })
    assert.equal(statusCode, 200)
    await settle(5000)
    // measured with libcurl 7.88: 3.9 MiB, nearly all of it in the kernel's
    // socket buffers (libcurl stops reading a connection whose only stream
    // is paused)
    assert.ok(sent < 8 * MB, `${(sent / MB).toFixed(1)} MiB left the server for a body nobody read`)
    body.destroy()
  })

  it('an unread body while another stream keeps the session busy: at most the stream window', async function () {
    const { body } = await undici.request(`${origin}/big`, { dispatcher: agent })
    const trickle = undici.request(`${origin}/trickle`, { dispatcher: agent }).then((r) => r.body.text())
    await sleep(1500)
    await settle(5000)
    // measured with libcurl 7.88: 32.0 MiB (its stream window, held in
    // libcurl); a bound, not unbounded buffering of the 200 MiB
    assert.ok(sent < 40 * MB, `${(sent / MB).toFixed(1)} MiB left the server for a body nobody read`)
    assert.equal((await trickle).length, 60)
    body.destroy()
  })
})
