'use strict'

// headersTimeout, bodyTimeout and the errors of a failed transfer; after
// each error the same agent still serves a normal request.

const assert = require('node:assert/strict')
const crypto = require('node:crypto')
const undici = require('undici')
const { createAgent } = require('./support/agent')
const { startServer, startRawServer, startBlackholeServer, readRequestHead, closedPort } = require('./support/servers')
const { collect, compact, sha256 } = require('./support/collect')

const MB = 1024 * 1024

describe('timeouts and errors', function () {
  let good
  let raw
  const big = crypto.randomBytes(4 * MB)

  // What the raw server does, by request path.
  const behaviours = {
    // never answers
    '/never': () => {},
    // answers after 1.5 s
    '/late-headers': (socket) => {
      setTimeout(() => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nlate'), 1500)
    },
    // headers and part of the body, then nothing
    '/stall-body': (socket) => {
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nfirst part;')
    },
    // headers and part of the body, the rest after 1.5 s
    '/slow-body': (socket) => {
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello')
      setTimeout(() => socket.write('world'), 1500)
    },
    // a chunk every 150 ms for 1.2 s
    '/trickle': (socket) => {
      socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n')
      let n = 0
      const timer = setInterval(() => {
        if (socket.destroyed) return clearInterval(timer)
        n++
        socket.write(`1\r\n${n % 10}\r\n`)
        if (n === 8) {
          clearInterval(timer)
          socket.write('0\r\n\r\n')
        }
      }, 150)
    },
    // connection reset in the middle of the body
    '/reset': (socket) => {
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n' + 'x'.repeat(1000))
      setTimeout(() => socket.resetAndDestroy(), 30)
    },
    // content-length longer than the body, then close
    '/short': (socket) => {
      socket.end('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this')
    },
    // closes without a byte
    '/empty': (socket) => {
      socket.end()
    }
  }

  before(async function () {
    good = await startServer((req, res) => {
      if (req.url === '/big') {
        res.end(big)
        return
      }
      res.end('still fine')
    })
    raw = await startRawServer(async (socket) => {
      const head = await readRequestHead(socket).catch(() => null)
      if (!head) return
      const behave = behaviours[head.path]
      if (behave) behave(socket)
      else socket.destroy()
    })
  })

  after(async function () {
    await raw.close()
    await good.close()
  })

  async function assertStillWorks (agent) {
    const r = await collect(agent, { origin: good.origin, path: '/', method: 'GET' })
    assert.equal(r.error, null, `follow-up request failed: ${r.error && r.error.stack}`)
    assert.equal(r.body.toString(), 'still fine')
  }

  describe('headersTimeout', function () {
    it('fails with HeadersTimeoutError when the server never answers', async function () {
      const agent = createAgent({ headersTimeout: 300 })
      try {
        const r = await collect(agent, { origin: raw.origin, path: '/never', method: 'GET' })
        assert.equal(r.events[r.events.length - 1], 'error')
        assert.ok(!r.events.includes('responseStart'))
        assert.ok(r.error instanceof undici.errors.HeadersTimeoutError, `got ${r.error && r.error.stack}`)
        assert.equal(r.error.code, 'UND_ERR_HEADERS_TIMEOUT')
        await assertStillWorks(agent)
      } finally {
        await agent.close()
      }
    })

    it('per-request headersTimeout overrides the agent option', async function () {
      const agent = createAgent({ headersTimeout: 60e3 })
      try {
        const r = await collect(agent, { origin: raw.origin, path: '/never', method: 'GET', headersTimeout: 300 })
        assert.equal(r.error && r.error.code, 'UND_ERR_HEADERS_TIMEOUT')
      } finally {
        await agent.close()
      }
    })

    it('headersTimeout: 0 disables it (a 1.5 s wait completes)', async function () {
      const agent = createAgent({ headersTimeout: 0 })
      try {
        const r = await collect(agent, { origin: raw.origin, path: '/late-headers', method: 'GET' })
        assert.equal(r.error, null, `request failed: ${r.error && r.error.stack}`)
        assert.equal(r.body.toString(), 'late')
      } finally {
        await agent.close()
      }
    })
  })

  describe('bodyTimeout', function () {
    it('fails with BodyTimeoutError when the body stalls', async function () {
      const agent = createAgent({ bodyTimeout: 300 })
      try {
        const r = await collect(agent, { origin: raw.origin, path: '/stall-body', method: 'GET' })
        assert.deepEqual(compact(r.events), ['requestStart', 'responseStart', 'data', 'error'])
        assert.equal(r.body.toString(), 'first part;')
        assert.ok(r.error instanceof undici.errors.BodyTimeoutError, `got ${r.error && r.error.stack}`)
        assert.equal(r.error.code, 'UND_ERR_BODY_TIMEOUT')
        await assertStillWorks(agent)
      } finally {
        await agent.close()
      }
    })

    it('per-request bodyTimeout overrides the agent option', async function () {
      const agent = createAgent({ bodyTimeout: 60e3 })
      try {
        const r = await collect(agent, { origin: raw.origin, path: '/stall-body', method: 'GET', bodyTimeout: 300 })
        assert.equal(r.error && r.error.code, 'UND_ERR_BODY_TIMEOUT')
      } finally {
        await agent.close()
      }
    })

    it('bodyTimeout: 0 disables it (a 1.5 s stall completes)', async function () {
      const agent = createAgent({ bodyTimeout: 0 })
      try {
        const r = await collect(agent, { origin: raw.origin, path: '/slow-body', method: 'GET' })
        assert.equal(r.error, null, `request failed: ${r.error && r.error.stack}`)
        assert.equal(r.body.toString(), 'helloworld')
      } finally {
        await agent.close()
      }
    })

    it('is the idle time between chunks, not the whole transfer time', async function () {
      const agent = createAgent({ bodyTimeout: 600 })
      try {
        const r = await collect(agent, { origin: raw.origin, path: '/trickle', method: 'GET' })
        assert.equal(r.error, null, `request failed: ${r.error && r.error.stack}`)
        assert.equal(r.body.toString(), '12345678')
      } finally {
        await agent.close()
      }
    })

    // The worker keeps receiving while a consumer is paused (lib/request.js
    // holds the bytes), but its bodyTimeout clock stops all the same: a
    // server that stalls while the consumer is paused fails the request only
    // a bodyTimeout after the resume.
    it('a stall while paused times out only a bodyTimeout after the resume', async function () {
      const agent = createAgent({ bodyTimeout: 300 })
      try {
        let resumedAt = 0
        let erroredWhilePaused = false
        const r = await collect(agent, { origin: raw.origin, path: '/stall-body', method: 'GET' }, {
          onResponseData (controller, chunk, res) {
            if (res.chunks.length !== 1) return
            controller.pause()
            setTimeout(() => { resumedAt = Date.now(); controller.resume() }, 1000)
          },
          onResponseError () { if (resumedAt === 0) erroredWhilePaused = true }
        })
        assert.equal(erroredWhilePaused, false, 'the request failed while its consumer was paused')
        assert.ok(r.error instanceof undici.errors.BodyTimeoutError, `got ${r.error && r.error.stack}`)
        const after = Date.now() - resumedAt
        assert.ok(after >= 250, `failed ${after} ms after the resume`)
      } finally {
        await agent.close()
      }
    })

    it('time spent paused does not count', async function () {
      const agent = createAgent({ bodyTimeout: 300 })
      try {
        const r = await collect(agent, { origin: good.origin, path: '/big', method: 'GET' }, {
          onResponseData (controller, chunk, res) {
            if (res.chunks.length === 1) {
              controller.pause()
              setTimeout(() => controller.resume(), 1000)
            }
          }
        })
        assert.equal(r.error, null, `request failed: ${r.error && r.error.stack}`)
        assert.equal(sha256(r.body), sha256(big))
      } finally {
        await agent.close()
      }
    })
  })

  describe('connect timeout', function () {
    let blackhole

    before(async function () {
      blackhole = await startBlackholeServer()
    })

    after(async function () {
      await blackhole.close()
    })

    for (const opts of [{ connectTimeout: 500 }, { connect: { timeout: 500 } }]) {
      it(`fails with ConnectTimeoutError when the connection never completes (${JSON.stringify(opts)})`, async function () {
        const agent = createAgent(opts)
        try {
          const r = await collect(agent, { origin: blackhole.origin, path: '/', method: 'GET' })
          assert.equal(r.events[r.events.length - 1], 'error')
          assert.ok(!r.events.includes('responseStart'))
          assert.ok(r.error instanceof undici.errors.ConnectTimeoutError, `got ${r.error && r.error.stack}`)
          assert.equal(r.error.code, 'UND_ERR_CONNECT_TIMEOUT')
          await assertStillWorks(agent)
        } finally {
          await agent.close()
        }
      })
    }
  })

  describe('transfer errors', function () {
    let agent

    before(function () {
      agent = createAgent({ headersTimeout: 5000, bodyTimeout: 5000 })
    })

    after(async function () {
      await agent.close()
    })

    it('connection refused: ECONNREFUSED', async function () {
      const port = await closedPort()
      const r = await collect(agent, { origin: `http://127.0.0.1:${port}`, path: '/', method: 'GET' })
      assert.equal(r.events[r.events.length - 1], 'error')
      assert.ok(!r.events.includes('responseStart'))
      assert.equal(r.error.code, 'ECONNREFUSED')
      await assertStillWorks(agent)
    })

    it('DNS failure: ENOTFOUND', async function () {
      // glibc rejects a 64-character label without sending any DNS query
      const host = 'a'.repeat(64) + '.test'
      const r = await collect(agent, { origin: `http://${host}`, path: '/', method: 'GET' })
      assert.equal(r.events[r.events.length - 1], 'error')
      assert.equal(r.error.code, 'ENOTFOUND')
      await assertStillWorks(agent)
    })

    it('connection reset mid-body: ECONNRESET or UND_ERR_SOCKET', async function () {
      const r = await collect(agent, { origin: raw.origin, path: '/reset', method: 'GET' })
      assert.deepEqual(compact(r.events), ['requestStart', 'responseStart', 'data', 'error'])
      assert.ok(['ECONNRESET', 'UND_ERR_SOCKET'].includes(r.error.code), `code ${r.error.code}`)
      await assertStillWorks(agent)
    })

    it('body shorter than content-length, then close: UND_ERR_SOCKET or UND_ERR_RES_CONTENT_LENGTH_MISMATCH', async function () {
      const r = await collect(agent, { origin: raw.origin, path: '/short', method: 'GET' })
      assert.deepEqual(compact(r.events), ['requestStart', 'responseStart', 'data', 'error'])
      assert.equal(r.body.toString(), 'only this')
      assert.ok(['UND_ERR_SOCKET', 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH'].includes(r.error.code), `code ${r.error.code}`)
      await assertStillWorks(agent)
    })

    it('empty reply (the server closes at once): UND_ERR_SOCKET', async function () {
      const r = await collect(agent, { origin: raw.origin, path: '/empty', method: 'GET' })
      assert.equal(r.events[r.events.length - 1], 'error')
      assert.ok(!r.events.includes('responseStart'))
      assert.ok(r.error instanceof undici.errors.SocketError, `got ${r.error && r.error.stack}`)
      assert.equal(r.error.code, 'UND_ERR_SOCKET')
      await assertStillWorks(agent)
    })

    it('many failures in a row leave the agent usable', async function () {
      const port = await closedPort()
      const results = await Promise.all([
        collect(agent, { origin: `http://127.0.0.1:${port}`, path: '/', method: 'GET' }),
        collect(agent, { origin: raw.origin, path: '/empty', method: 'GET' }),
        collect(agent, { origin: raw.origin, path: '/short', method: 'GET' }),
        collect(agent, { origin: raw.origin, path: '/reset', method: 'GET' })
      ])
      for (const r of results) assert.ok(r.error instanceof Error)
      await assertStillWorks(agent)
      await assertStillWorks(agent)
    })
  })
})
