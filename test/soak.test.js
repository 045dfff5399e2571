'use strict'

// A soak: many sequential requests on one agent, one keep-alive connection.
// Checked: every body arrives whole, memory stays flat after warm-up, and the
// engine holds nothing at the end. Memory is sampled after a full collection
// (this file runs in mocha's process, after hundreds of other tests, so
// uncollected garbage alone moved RSS by 50 MB): growth between the sample at
// 10 % and the highest sample after it stays within SOAK_RSS_MB (default 48)
// of RSS and SOAK_HEAP_MB (default 8) of live JS heap, which is 400 bytes per
// request at the default size. Native leaks are valgrind's and ASan's to find.
//
// Size: SOAK_REQUESTS (default 20000 in npm test; `npm run stress` runs
// 1000000).

const assert = require('node:assert/strict')
const { createAgent, kind, Agent, underSanitizer } = require('./support/agent')
const { startServer } = require('./support/servers')
const { waitFor, collectGarbage } = require('./support/collect')

const TOTAL = Number(process.env.SOAK_REQUESTS || 20000)
const RSS_BOUND_MB = Number(process.env.SOAK_RSS_MB || 48)
const HEAP_BOUND_MB = Number(process.env.SOAK_HEAP_MB || 8)
const BODY = Buffer.alloc(256, 's')

describe('soak', function () {
  this.timeout(Math.max(60000, TOTAL * 2))
  let server

  before(async function () {
    server = await startServer((req, res) => {
      res.setHeader('content-length', BODY.length)
      res.end(BODY)
    })
  })

  after(async function () {
    await server.close()
  })

  it(`${TOTAL} sequential requests: every body whole, RSS and the live JS heap flat after warm-up`, async function () {
    const agent = createAgent()
    const opts = { origin: server.origin, path: '/soak', method: 'GET' }
    const samples = []
    const sampleEvery = Math.max(1, Math.floor(TOTAL / 20))
    let bad = 0
    const started = Date.now()
    for (let i = 0; i < TOTAL; i++) {
      const received = await new Promise((resolve, reject) => {
        let n = 0
        agent.dispatch(opts, {
          onRequestStart () {},
          onResponseStart () {},
          onResponseData (controller, chunk) { n += chunk.length },
          onResponseEnd () { resolve(n) },
          onResponseError (controller, err) { reject(err) }
        })
      })
      if (received !== BODY.length) bad++
      if (i % sampleEvery === 0) {
        collectGarbage()
        const { rss, heapUsed } = process.memoryUsage()
        samples.push({ rss, heapUsed })
      }
    }
    const seconds = (Date.now() - started) / 1000
    await agent.close()
    assert.equal(bad, 0, `${bad} bodies arrived short`)
    const MB = (b) => Math.round(b / 1048576)
    const warm = samples[Math.min(2, samples.length - 1)]
    const peak = (field) => Math.max(...samples.slice(2).map((s) => s[field]))
    const rssGrowth = peak('rss') - warm.rss
    const heapGrowth = peak('heapUsed') - warm.heapUsed
    const figures = {
      seconds: Math.round(seconds),
      reqPerSec: Math.round(TOTAL / seconds),
      rssStartMB: MB(samples[0].rss),
      rssWarmMB: MB(warm.rss),
      rssPeakMB: MB(peak('rss')),
      heapWarmMB: MB(warm.heapUsed),
      heapPeakMB: MB(peak('heapUsed'))
    }
    this.test.title += ` [${JSON.stringify(figures)}]`
    if (!underSanitizer) {
      assert.ok(rssGrowth < RSS_BOUND_MB * 1048576,
        `RSS grew ${MB(rssGrowth)} MB after warm-up (bound ${RSS_BOUND_MB} MB): ${JSON.stringify(figures)}`)
    }
    assert.ok(heapGrowth < HEAP_BOUND_MB * 1048576,
      `the live JS heap grew ${MB(heapGrowth)} MB after warm-up (bound ${HEAP_BOUND_MB} MB): ${JSON.stringify(figures)}`)
    if (kind !== 'undici') {
      await waitFor(() => {
        const s = Agent.engineStats()
        return s.requests === 0 && s.transfers === 0 && s.events === 0 && s.commands === 0
      }, 5000, 'the engine to hold nothing')
    }
  })
})
