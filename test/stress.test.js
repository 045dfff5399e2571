'use strict'

// A storm of mixed requests against one agent: random aborts at every
// phase, random pause/resume, handlers that throw, request bodies, server
// faults. Checked per request: exactly one terminal callback and nothing
// after it, no data while paused, and for completed requests every served
// byte delivered. Checked at the end: close() resolves and the engine holds
// no request, transfer, event or queued body chunk.
//
// Size: STRESS_REQUESTS (default 3000 in npm test; `npm run stress` runs
// 100000), STRESS_IN_FLIGHT (default 256), STRESS_SEED; STRESS_RSS_MB bounds
// the RSS growth after a full GC (default 160).

const assert = require('node:assert/strict')
const crypto = require('node:crypto')
const { createAgent, kind, Agent, underSanitizer } = require('./support/agent')
const { startServer } = require('./support/servers')
const { waitFor, sleep, collectGarbage } = require('./support/collect')

const TOTAL = Number(process.env.STRESS_REQUESTS || 3000)
const IN_FLIGHT = Number(process.env.STRESS_IN_FLIGHT || 256)
const SEED = Number(process.env.STRESS_SEED || Date.now() % 100000)

// Small deterministic PRNG (mulberry32) so a failing seed can be replayed.
function prng (seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function bodyFor (n) {
  const out = Buffer.alloc(n)
  for (let i = 0; i < n; i++) out[i] = (i * 31 + 7) & 0xff
  return out
}

describe('stress', function () {
  this.timeout(Math.max(60000, TOTAL * 20))
  let server

  before(async function () {
    server = await startServer((req, res) => {
      const url = new URL(req.url, 'http://x')
      const size = Number(url.searchParams.get('size') || 0)
      const fault = url.searchParams.get('fault')
      let received = 0
      req.on('data', (c) => { received += c.length })
      req.on('end', () => {
        if (fault === 'reset') return req.socket.resetAndDestroy()
        if (fault === 'short') {
          res.writeHead(200, { 'content-length': size + 10 })
          res.write(bodyFor(size))
          return setTimeout(() => req.socket.destroy(), 5)
        }
        res.writeHead(200, { 'content-length': size, 'x-received': received })
        const body = bodyFor(size)
        if (fault === 'slow' && size > 1) {
          res.write(body.subarray(0, 1))
          setTimeout(() => res.end(body.subarray(1)), 10)
        } else {
          res.end(body)
        }
      })
    }, { serverOptions: { keepAliveTimeout: 10000 } })
  })

  after(async function () {
    await server.close()
  })

  it(`${TOTAL} mixed requests at ${IN_FLIGHT} in flight keep every invariant (seed ${SEED})`, async function () {
    const random = prng(SEED)
    collectGarbage()
    const rssBefore = process.memoryUsage().rss
    const agent = createAgent({ connections: 64 })
    const violations = []
    const stats = { completed: 0, errored: 0, aborted: 0, thrown: 0, paused: 0, faults: 0, bytes: 0 }
    let started = 0
    let finished = 0

    function one () {
      const id = started++
      const size = [0, 12, 1000, 70000, 300000][Math.floor(random() * 5)]
      const fault = random() < 0.08 ? ['reset', 'short', 'slow'][Math.floor(random() * 3)] : null
      if (fault === 'reset' || fault === 'short') stats.faults++
      const post = random() < 0.25
      const abortPhase = random() < 0.1 ? Math.floor(random() * 4) : -1 // 0 start, 1 headers, 2 data, 3 later
      const throwPhase = abortPhase === -1 && random() < 0.04 ? 1 + Math.floor(random() * 2) : -1
      const pauses = random() < 0.15
      let terminal = null
      let paused = false
      let got = 0
      let statusCode = 0
      const note = (what) => violations.push(`#${id} (size ${size}, fault ${fault}): ${what}`)
      const after = (name) => { if (terminal !== null) note(`${name} after ${terminal}`) }

      return new Promise((resolve) => {
        const end = (name) => {
          if (terminal !== null) return note(`second terminal ${name} after ${terminal}`)
          terminal = name
          finished++
          setTimeout(resolve, 0)
        }
        const handler = {
          onRequestStart (controller) {
            after('onRequestStart')
            if (abortPhase === 0) { stats.aborted++; controller.abort() }
          },
          onResponseStart (controller, code) {
            after('onResponseStart')
            statusCode = code
            if (abortPhase === 1) { stats.aborted++; controller.abort(new Error('stress abort')) }
            if (throwPhase === 1) { stats.thrown++; throw new Error('stress throw') }
            if (pauses) {
              stats.paused++
              paused = true
              controller.pause()
              setTimeout(() => { paused = false; controller.resume() }, Math.floor(random() * 20))
            }
          },
          onResponseData (controller, chunk) {
            after('onResponseData')
            if (paused) note('data while paused')
            got += chunk.length
            if (abortPhase === 2) { stats.aborted++; controller.abort() }
            if (throwPhase === 2) { stats.thrown++; throw new Error('stress throw') }
            if (abortPhase === 3 && got > 0) setTimeout(() => controller.abort(), 1)
          },
          onResponseEnd () {
            after('onResponseEnd')
            if (statusCode === 200 && fault !== 'short' && got !== size) note(`got ${got} of ${size} bytes`)
            stats.completed++
            stats.bytes += got
            end('onResponseEnd')
          },
          onResponseError (controller, err) {
            after('onResponseError')
            if (!(err instanceof Error)) note(`error is not an Error: ${err}`)
            stats.errored++
            end('onResponseError')
          }
        }
        const path = `/s/${id}?size=${size}${fault ? `&fault=${fault}` : ''}`
        const opts = post
          ? { origin: server.origin, path, method: 'POST', body: random() < 0.5 ? crypto.randomBytes(2000) : (async function * () { yield 'a'; yield Buffer.alloc(5000) })() }
          : { origin: server.origin, path, method: 'GET' }
        agent.dispatch(opts, handler)
      })
    }

    const workers = []
    for (let w = 0; w < IN_FLIGHT; w++) {
      workers.push((async () => { while (started < TOTAL) await one() })())
    }
    await Promise.all(workers)
    await agent.close()

    assert.equal(finished, TOTAL)
    assert.deepEqual(violations.slice(0, 20), [], `${violations.length} invariant violations`)
    assert.ok(stats.completed > TOTAL / 2, `completed ${stats.completed}`)
    if (kind !== 'undici') {
      await waitFor(() => {
        const s = Agent.engineStats()
        return s.requests === 0 && s.transfers === 0 && s.events === 0 && s.commands === 0
      }, 5000, 'the engine to hold nothing')
    }
    stats.rssBeforeMB = Math.round(rssBefore / 1048576)
    stats.rssAfterMB = Math.round(process.memoryUsage().rss / 1048576)
    collectGarbage()
    await sleep(100)
    collectGarbage()
    const rssSettled = process.memoryUsage().rss
    stats.rssAfterGcMB = Math.round(rssSettled / 1048576)
    const mem = process.memoryUsage()
    stats.heapTotalMB = Math.round(mem.heapTotal / 1048576)
    stats.externalMB = Math.round(mem.external / 1048576)
    if (kind !== 'undici') stats.pooledHandles = Agent.engineStats().handles
    // After a full collection RSS still holds V8's grown heap and the
    // in-process server's buffers: undici's Agent ends the same storm about
    // 70 MB above its start too. The bound catches a leak per request (at
    // 100 000 requests even 1 KiB each is 100 MB), not that plateau.
    const boundMB = Number(process.env.STRESS_RSS_MB || 160)
    if (!underSanitizer) assert.ok(stats.rssAfterGcMB - stats.rssBeforeMB < boundMB,
      `RSS after the storm and a full GC: ${JSON.stringify(stats)} (bound +${boundMB} MB)`)
    this.test.title += ` [${JSON.stringify(stats)}]`
  })
})
