'use strict'

// Flow control (pause/resume), abort at every phase, handler exceptions,
// trailers and 1xx responses.

const assert = require('node:assert/strict')
const crypto = require('node:crypto')
const undici = require('undici')
const { createAgent } = require('./support/agent')
const { startServer, startRawServer, readRequestHead } = require('./support/servers')
const { collect, compact, sha256, sleep, waitFor } = require('./support/collect')

const MB = 1024 * 1024

describe('flow', function () {
  let server
  let agent
  const big = crypto.randomBytes(4 * MB)

  before(async function () {
    server = await startServer((req, res) => {
      switch (req.url) {
        case '/big':
          res.setHeader('content-length', big.length)
          res.end(big)
          return
        case '/big-chunked':
          res.write(big.subarray(0, MB))
          res.write(big.subarray(MB, 3 * MB))
          res.end(big.subarray(3 * MB))
          return
        case '/small':
          res.end('small body')
          return
        case '/trailers':
          res.writeHead(200, { Trailer: 'X-Checksum, X-Count', 'content-type': 'text/plain' })
          res.write('part one, ')
          res.addTrailers({ 'X-Checksum': 'deadbeef', 'X-Count': '2' })
          res.end('part two')
          return
        default:
          res.statusCode = 404
          res.end()
      }
    })
    agent = createAgent()
  })

  after(async function () {
    await agent.close()
    await server.close()
  })

  describe('pause and resume', function () {
    // Pauses in `phase` ('start' or 'data'), resumes after `ms`, and checks
    // that no data arrives while paused and that every byte arrives.
    async function pauseOnce (path, phase, ms = 200) {
      let paused = false
      let pausedAt = 0
      let resumedAt = 0
      let dataWhilePaused = 0
      const pauseNow = (controller) => {
        controller.pause()
        paused = true
        pausedAt = Date.now()
        setTimeout(() => {
          paused = false
          resumedAt = Date.now()
          controller.resume()
        }, ms)
      }
      const r = await collect(agent, { origin: server.origin, path, method: 'GET' }, {
        onResponseStart (controller) {
          if (phase === 'start') pauseNow(controller)
        },
        onResponseData (controller, chunk, res) {
          if (paused) dataWhilePaused++
          if (phase === 'data' && res.chunks.length === 1) pauseNow(controller)
        }
      })
      assert.equal(r.error, null, `request failed: ${r.error && r.error.stack}`)
      assert.equal(dataWhilePaused, 0, 'no onResponseData while paused')
      assert.ok(pausedAt > 0 && resumedAt >= pausedAt + ms - 5, 'the pause lasted')
      assert.equal(r.body.length, big.length)
      assert.equal(sha256(r.body), sha256(big))
      return r
    }

    it('controller.pause() in onResponseStart holds all data until resume()', async function () {
      const r = await pauseOnce('/big', 'start')
      assert.equal(compact(r.events).join(), 'requestStart,responseStart,data,end')
    })

    it('controller.pause() in onResponseData holds further data until resume()', async function () {
      await pauseOnce('/big', 'data')
    })

    it('pause in onResponseData works on a chunked response', async function () {
      await pauseOnce('/big-chunked', 'data')
    })

    it('controller.paused reflects pause() and resume()', async function () {
      const seen = []
      await collect(agent, { origin: server.origin, path: '/small', method: 'GET' }, {
        onResponseStart (controller) {
          seen.push(controller.paused)
          controller.pause()
          seen.push(controller.paused)
          setTimeout(() => {
            controller.resume()
            seen.push(controller.paused)
          }, 20)
        }
      })
      assert.deepEqual(seen, [false, true, false])
    })

    it('pausing on every chunk and resuming soon after delivers every byte in order', async function () {
      let paused = false
      let violations = 0
      const r = await collect(agent, { origin: server.origin, path: '/big', method: 'GET' }, {
        onResponseData (controller) {
          if (paused) violations++
          controller.pause()
          paused = true
          setTimeout(() => {
            paused = false
            controller.resume()
          }, 1)
        }
      })
      assert.equal(r.error, null)
      assert.equal(violations, 0)
      assert.equal(sha256(r.body), sha256(big))
    })

    it('20 concurrent downloads with random pauses each get every byte', async function () {
      const runs = Array.from({ length: 20 }, () => {
        let paused = false
        let violations = 0
        return collect(agent, { origin: server.origin, path: '/big', method: 'GET' }, {
          onResponseData (controller) {
            if (paused) violations++
            if (Math.random() < 0.3) {
              controller.pause()
              paused = true
              setTimeout(() => {
                paused = false
                controller.resume()
              }, Math.floor(Math.random() * 20))
            }
          }
        }).then((r) => ({ r, violations }))
      })
      const expected = sha256(big)
      for (const { r, violations } of await Promise.all(runs)) {
        assert.equal(r.error, null, `request failed: ${r.error && r.error.stack}`)
        assert.equal(violations, 0)
        assert.equal(sha256(r.body), expected)
      }
    })

    it('resume() when not paused is harmless', async function () {
      const r = await collect(agent, { origin: server.origin, path: '/small', method: 'GET' }, {
        onRequestStart (controller) { controller.resume() },
        onResponseStart (controller) { controller.resume() }
      })
      assert.equal(r.body.toString(), 'small body')
    })

    it('legacy onData returning false pauses until resume()', async function () {
      const result = await new Promise((resolve, reject) => {
        const chunks = []
        let paused = false
        let pauses = 0
        let violations = 0
        let resume
        agent.dispatch({ origin: server.origin, path: '/big', method: 'GET' }, {
          onConnect () {},
          onHeaders (statusCode, rawHeaders, resumeFn) {
            resume = resumeFn
            return true
          },
          onData (chunk) {
            if (paused) violations++
            chunks.push(Buffer.from(chunk))
            if (chunks.length === 1 || chunks.length === 5) {
              paused = true
              pauses++
              setTimeout(() => {
                paused = false
                resume()
              }, 150)
              return false
            }
            return true
          },
          onComplete () { resolve({ body: Buffer.concat(chunks), violations, pauses }) },
          onError: reject
        })
      })
      assert.equal(result.violations, 0, 'no onData while paused')
      assert.ok(result.pauses >= 1)
      assert.equal(sha256(result.body), sha256(big))
    })
  })

  describe('abort', function () {
    let raw
    let mode

    before(async function () {
      raw = await startRawServer(async (socket) => {
        const head = await readRequestHead(socket).catch(() => null)
        if (!head) return
        if (mode === 'headers-then-stall') {
          socket.write('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nfirst bytes')
        }
        // 'silent': never answer
      })
    })

    after(async function () {
      await raw.close()
    })

    beforeEach(function () {
      raw.stats.bytes = 0
      mode = 'silent'
    })

    it('abort() in onRequestStart: RequestAbortedError and the server never receives the request', async function () {
      const r = await collect(agent, { origin: raw.origin, path: '/', method: 'GET' }, {
        onRequestStart (controller) { controller.abort() }
      })
      assert.deepEqual(r.events, ['requestStart', 'error'])
      assert.ok(r.error instanceof undici.errors.RequestAbortedError, `got ${r.error && r.error.stack}`)
      assert.equal(r.error.code, 'UND_ERR_ABORTED')
      assert.equal(r.error.name, 'AbortError')
      await sleep(100)
      assert.equal(raw.stats.bytes, 0, 'no request byte reached the server')
    })

    it('abort(reason) in onRequestStart delivers exactly that reason', async function () {
      const reason = new Error('my reason')
      const r = await collect(agent, { origin: raw.origin, path: '/', method: 'GET' }, {
        onRequestStart (controller) { controller.abort(reason) }
      })
      assert.deepEqual(r.events, ['requestStart', 'error'])
      assert.equal(r.error, reason)
      await sleep(50)
      assert.equal(raw.stats.bytes, 0)
    })

    it('abort(reason) with a non-Error reason delivers that value', async function () {
      const r = await collect(agent, { origin: raw.origin, path: '/', method: 'GET' }, {
        onRequestStart (controller) { controller.abort('just a string') }
      })
      assert.equal(r.error, 'just a string')
    })

    it('controller.aborted and controller.reason after abort(reason)', async function () {
      const reason = new Error('why')
      let seen
      await collect(agent, { origin: raw.origin, path: '/', method: 'GET' }, {
        onRequestStart (controller) {
          controller.abort(reason)
          seen = { aborted: controller.aborted, reason: controller.reason }
        }
      })
      assert.equal(seen.aborted, true)
      assert.equal(seen.reason, reason)
    })

    it('abort() while waiting for the response', async function () {
      let controller
      const p = collect(agent, { origin: raw.origin, path: '/', method: 'GET' }, {
        onRequestStart (c) { controller = c }
      })
      await waitFor(() => raw.stats.bytes > 0, 3000, 'the request to reach the server')
      controller.abort()
      const r = await p
      assert.deepEqual(r.events, ['requestStart', 'error'])
      assert.equal(r.error.code, 'UND_ERR_ABORTED')
    })

    it('abort(reason) in onResponseStart: no data, error with that reason', async function () {
      const reason = new Error('after headers')
      const r = await collect(agent, { origin: server.origin, path: '/big', method: 'GET' }, {
        onResponseStart (controller) { controller.abort(reason) }
      })
      assert.deepEqual(r.events, ['requestStart', 'responseStart', 'error'])
      assert.equal(r.error, reason)
    })

    it('abort() mid-body: no data after the abort, RequestAbortedError', async function () {
      let abortedAt = -1
      const r = await collect(agent, { origin: server.origin, path: '/big', method: 'GET' }, {
        onResponseData (controller, chunk, res) {
          if (res.chunks.length === 1) {
            abortedAt = res.events.length
            controller.abort()
          }
        }
      })
      assert.ok(abortedAt > 0)
      assert.deepEqual(r.events.slice(abortedAt), ['error'], 'nothing but the error after abort()')
      assert.equal(r.error.code, 'UND_ERR_ABORTED')
      assert.ok(r.body.length < big.length)
    })

    it('abort(reason) mid-body while the server stalls', async function () {
      mode = 'headers-then-stall'
      const reason = new Error('stalled')
      let controller
      const p = collect(agent, { origin: raw.origin, path: '/', method: 'GET' }, {
        onResponseData (c) { controller = c }
      })
      await waitFor(() => controller, 3000, 'the first body bytes')
      controller.abort(reason)
      const r = await p
      assert.deepEqual(compact(r.events), ['requestStart', 'responseStart', 'data', 'error'])
      assert.equal(r.body.toString(), 'first bytes')
      assert.equal(r.error, reason)
    })

    it('abort() while paused delivers the error and no data', async function () {
      let abortedAt = -1
      const r = await collect(agent, { origin: server.origin, path: '/big', method: 'GET' }, {
        onResponseStart (controller, s, h, m, res) {
          controller.pause()
          setTimeout(() => {
            abortedAt = res.events.length
            controller.abort(new Error('gave up while paused'))
          }, 100)
        }
      })
      assert.deepEqual(r.events, ['requestStart', 'responseStart', 'error'])
      assert.equal(abortedAt, 2)
      assert.equal(r.error.message, 'gave up while paused')
    })

    it('abort() after onResponseEnd has no effect', async function () {
      let controller
      const r = await collect(agent, { origin: server.origin, path: '/small', method: 'GET' }, {
        onResponseEnd (c) { controller = c }
      }, { grace: 0 })
      assert.deepEqual(compact(r.events), ['requestStart', 'responseStart', 'data', 'end'])
      // collect() has resolved; any late callback would show in r.events
      const before = r.events.length
      controller.abort(new Error('too late'))
      controller.abort()
      await sleep(100)
      assert.equal(r.events.length, before, 'no callback after the terminal one')
      assert.equal(r.body.toString(), 'small body')
      const again = await collect(agent, { origin: server.origin, path: '/small', method: 'GET' })
      assert.equal(again.body.toString(), 'small body')
    })

    it('abort() twice delivers one error', async function () {
      const r = await collect(agent, { origin: raw.origin, path: '/', method: 'GET' }, {
        onRequestStart (controller) {
          controller.abort(new Error('first'))
          controller.abort(new Error('second'))
        }
      }, { grace: 100 })
      assert.deepEqual(r.events, ['requestStart', 'error'])
      assert.equal(r.error.message, 'first')
    })
  })

  describe('handler exceptions', function () {
    it('a throw in onResponseStart becomes onResponseError with that error', async function () {
      const boom = new Error('thrown in onResponseStart')
      const r = await collect(agent, { origin: server.origin, path: '/big', method: 'GET' }, {
        onResponseStart () { throw boom }
      }, { grace: 100 })
      assert.deepEqual(r.events, ['requestStart', 'responseStart', 'error'])
      assert.equal(r.error, boom)
    })

    it('a throw in onResponseData becomes onResponseError with that error', async function () {
      const boom = new Error('thrown in onResponseData')
      const r = await collect(agent, { origin: server.origin, path: '/big', method: 'GET' }, {
        onResponseData () { throw boom }
      }, { grace: 100 })
      assert.deepEqual(r.events, ['requestStart', 'responseStart', 'data', 'error'])
      assert.equal(r.error, boom)
    })

    it('the agent still works after handler exceptions', async function () {
      const r = await collect(agent, { origin: server.origin, path: '/small', method: 'GET' })
      assert.equal(r.body.toString(), 'small body')
    })
  })

  describe('trailers', function () {
    it('delivers trailers to onResponseEnd and controller.rawTrailers', async function () {
      const r = await collect(agent, { origin: server.origin, path: '/trailers', method: 'GET' })
      assert.equal(r.error, null)
      assert.equal(r.headers['transfer-encoding'], 'chunked')
      assert.equal(r.headers.trailer, 'X-Checksum, X-Count')
      assert.equal(r.body.toString(), 'part one, part two')
      assert.deepEqual({ ...r.trailers }, { 'x-checksum': 'deadbeef', 'x-count': '2' })
      assert.ok(Array.isArray(r.rawTrailers))
      for (const item of r.rawTrailers) assert.ok(Buffer.isBuffer(item))
      assert.deepEqual(r.rawTrailers.map(String), ['X-Checksum', 'deadbeef', 'X-Count', '2'])
    })

    it('gives an empty trailers object when there are none', async function () {
      const r = await collect(agent, { origin: server.origin, path: '/small', method: 'GET' })
      assert.equal(typeof r.trailers, 'object')
      assert.notEqual(r.trailers, null)
      assert.deepEqual(Object.keys(r.trailers), [])
    })
  })

  describe('1xx informational responses', function () {
    let raw

    before(async function () {
      raw = await startRawServer(async (socket) => {
        const head = await readRequestHead(socket).catch(() => null)
        if (!head) return
        socket.write('HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\n\r\n')
        await sleep(30)
        socket.write('HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5\r\n\r\nfinal')
      })
    })

    after(async function () {
      await raw.close()
    })

    // undici's Agent delivers a 103 to onResponseStart (and to legacy
    // onHeaders) before the final response, so ours does the same.
    it('calls onResponseStart for the 103, then for the 200', async function () {
      const r = await collect(agent, { origin: raw.origin, path: '/', method: 'GET' })
      assert.equal(r.error, null)
      assert.deepEqual(compact(r.events), ['requestStart', 'responseStart', 'responseStart', 'data', 'end'])
      assert.deepEqual(r.responses.map((x) => x.statusCode), [103, 200])
      assert.equal(r.responses[0].statusMessage, 'Early Hints')
      assert.equal(r.responses[0].headers.link, '</style.css>; rel=preload; as=style')
      assert.deepEqual(r.responses[0].rawHeaders.map(String), ['Link', '</style.css>; rel=preload; as=style'])
      assert.equal(r.responses[1].headers['content-type'], 'text/html')
      assert.equal(r.responses[1].headers.link, undefined)
      assert.equal(r.body.toString(), 'final')
    })
  })
})
