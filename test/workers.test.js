'use strict'

// One busy origin spreads over the agent's workers (lib/origins.js pickWorker):
// its home worker takes up to SPILL_IN_FLIGHT requests in flight, the
// next ones go to the least busy worker. With `connections` it stays on
// its home worker, where the engine enforces the limit.

const assert = require('node:assert/strict')
const { createAgent, kind, Agent } = require('./support/agent')
const { startServer } = require('./support/servers')
const { sleep } = require('./support/collect')

describe('workers', function () {
  let server

  before(async function () {
    if (kind === 'undici') this.skip() // engine worker counts are ours alone
    server = await startServer(async (req, res) => {
      await sleep(150)
      res.end('ok')
    })
  })

  after(async function () {
    if (server) await server.close()
  })

  function transfersByWorker () {
    return Agent.engineStats().workerTransfers.slice()
  }

  // The counters are the engine's, for every agent in the process: a
  // transfer another test left to finish (a destroyed agent's) must not be
  // counted here, so the burst starts once they have been still for 100 ms.
  async function settled () {
    let last = transfersByWorker().join()
    let stillSince = Date.now()
    const until = Date.now() + 3000
    while (Date.now() - stillSince < 100 && Date.now() < until) {
      await new Promise((resolve) => setTimeout(resolve, 20))
      const now = transfersByWorker().join()
      if (now !== last) {
        last = now
        stillSince = Date.now()
      }
    }
  }

  async function burst (agent, n) {
    await settled()
    const before = transfersByWorker()
    const bodies = await Promise.all(Array.from({ length: n }, async () => {
      const res = await agent.request({ origin: server.origin, path: '/', method: 'GET' })
      return res.body.text()
    }))
    assert.deepEqual(new Set(bodies), new Set(['ok']))
    const after = transfersByWorker()
    return after.map((v, i) => v - (before[i] ?? 0))
  }

  it('the worker threads are named cd-worker-N (top -H, perf, gdb)', async function () {
    if (process.platform !== 'linux') this.skip()
    const fs = require('node:fs')
    const agent = createAgent({ threads: 2 })
    try {
      const res = await agent.request({ origin: server.origin, path: '/', method: 'GET' })
      await res.body.text()
      const names = fs.readdirSync('/proc/self/task').map((t) => fs.readFileSync(`/proc/self/task/${t}/comm`, 'utf8').trim())
      const workers = names.filter((n) => /^cd-worker-\d+$/.test(n))
      assert.ok(workers.length >= 2, `threads: ${names.join(', ')}`)
      assert.equal(new Set(workers).size, workers.length, 'one name each')
    } finally {
      await agent.close()
    }
  })

  it('an origin with more requests in flight than one worker takes uses more workers', async function () {
    const agent = createAgent({ threads: 2 })
    try {
      const ran = await burst(agent, 100)
      const used = ran.filter((n) => n > 0)
      // every one counted; a transfer another test left running may still
      // end meanwhile (the counters are engine-wide), hence the few extra
      const total = ran.reduce((a, b) => a + b, 0)
      assert.ok(total >= 100 && total <= 104, `${total} transfers counted for 100`)
      assert.equal(used.length, 2, `transfers per worker: ${ran}`)
      // the home worker keeps its share, the other takes the rest
      assert.ok(Math.max(...ran) >= 32 && Math.min(...used) >= 32, `transfers per worker: ${ran}`)
    } finally {
      await agent.close()
    }
  })

  it('a few requests in flight stay on the origin\'s home worker', async function () {
    const agent = createAgent({ threads: 2 })
    try {
      const ran = await burst(agent, 20)
      assert.equal(ran.filter((n) => n > 0).length, 1, `transfers per worker: ${ran}`)
    } finally {
      await agent.close()
    }
  })

  it('with connections, the origin stays on its home worker', async function () {
    const agent = createAgent({ threads: 2, connections: 100 })
    try {
      const ran = await burst(agent, 100)
      assert.equal(ran.filter((n) => n > 0).length, 1, `transfers per worker: ${ran}`)
    } finally {
      await agent.close()
    }
  })
})
