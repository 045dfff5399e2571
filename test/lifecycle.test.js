'use strict'

// close(), destroy(), the closed/destroyed getters, and the agent inside a
// worker_thread and in a child process that never closes it.

const assert = require('node:assert/strict')
const path = require('node:path')
const { spawn } = require('node:child_process')
const { Worker } = require('node:worker_threads')
const undici = require('undici')
const { Agent, createAgent, agentModulePath, kind, underSanitizer } = require('./support/agent')
const { startServer } = require('./support/servers')
const { collect, sleep, waitFor } = require('./support/collect')

const { ClientClosedError, ClientDestroyedError } = undici.errors

describe('lifecycle', function () {
  let server

  before(async function () {
    server = await startServer((req, res) => {
      const url = new URL(req.url, 'http://x')
      if (url.pathname === '/slow') {
        res.writeHead(200)
        res.write('slow ')
        setTimeout(() => res.end(`done ${url.searchParams.get('i') || ''}`), 300)
        return
      }
      if (url.pathname === '/hang') {
        res.writeHead(200)
        res.write('started')
        return // never ends; closed by server.close()
      }
      res.end(`hello ${url.searchParams.get('from') || ''}`)
    })
  })

  after(async function () {
    await server.close()
  })

  const get = (agent, p) => collect(agent, { origin: server.origin, path: p, method: 'GET' })

  describe('close', function () {
    it('resolves after in-flight requests end, and they complete successfully', async function () {
      const agent = createAgent({ connections: 2 })
      const ends = []
      const pending = [0, 1, 2].map((i) => collect(agent, { origin: server.origin, path: `/slow?i=${i}`, method: 'GET' }, {
        onResponseEnd () { ends.push(Date.now()) }
      }))
      await sleep(50)
      await agent.close()
      const closedAt = Date.now()
      assert.equal(ends.length, 3, 'every request had ended when close() resolved')
      const results = await Promise.all(pending)
      results.forEach((r, i) => {
        assert.equal(r.error, null, `request ${i} failed: ${r.error && r.error.stack}`)
        assert.equal(r.events[r.events.length - 1], 'end')
        assert.equal(r.body.toString(), `slow done ${i}`)
      })
      for (const t of ends) assert.ok(t <= closedAt, 'close() resolved only after every request ended')
    })

    it('close(callback) calls back with no error and returns undefined', async function () {
      const agent = createAgent()
      const r = await get(agent, '/')
      assert.equal(r.body.toString(), 'hello ')
      const err = await new Promise((resolve) => {
        const ret = agent.close((err) => resolve(err))
        assert.equal(ret, undefined)
      })
      assert.equal(err, null)
    })

    it('close() on an unused agent resolves', async function () {
      const agent = createAgent()
      await agent.close()
      assert.equal(agent.closed, true)
    })

    it('close() with idle keep-alive connections resolves without waiting for them', async function () {
      const agent = createAgent({ keepAliveTimeout: 60e3 })
      for (let i = 0; i < 3; i++) assert.equal((await get(agent, '/')).error, null)
      const closing = agent.close()
      const outcome = await Promise.race([closing.then(() => 'closed'), sleep(3000).then(() => 'hung')])
      assert.equal(outcome, 'closed')
    })

    it('close() twice: both resolve', async function () {
      const agent = createAgent()
      await get(agent, '/')
      await Promise.all([agent.close(), agent.close()])
    })

    it('dispatch after close() fails with ClientClosedError', async function () {
      const agent = createAgent()
      await get(agent, '/')
      const closing = agent.close()
      const r = await get(agent, '/')
      assert.deepEqual(r.events, ['error'])
      assert.ok(r.error instanceof ClientClosedError, `got ${r.error && r.error.stack}`)
      assert.equal(r.error.code, 'UND_ERR_CLOSED')
      await closing
      // Once close() has resolved undici's Agent is also destroyed and
      // answers ClientDestroyedError; either code says the agent is gone.
      const later = await get(agent, '/')
      assert.deepEqual(later.events, ['error'])
      assert.ok(['UND_ERR_CLOSED', 'UND_ERR_DESTROYED'].includes(later.error.code), `code ${later.error.code}`)
    })
  })

  describe('destroy', function () {
    it('destroy(err) fails every in-flight and queued request with err, once each', async function () {
      const agent = createAgent({ connections: 1 })
      const pending = [0, 1, 2].map((i) => collect(agent, { origin: server.origin, path: `/hang?i=${i}`, method: 'GET' }, {}, { grace: 150 }))
      await waitFor(() => server.stats.requests > 0, 3000, 'the first request to arrive')
      await sleep(50)
      const reason = new Error('going away')
      await agent.destroy(reason)
      const results = await Promise.all(pending)
      for (const r of results) {
        assert.equal(r.events.filter((e) => e === 'error').length, 1)
        assert.equal(r.events[r.events.length - 1], 'error')
        assert.ok(!r.events.includes('end'))
        assert.equal(r.error, reason)
      }
      assert.ok(results[0].events.includes('responseStart'), 'the first one was mid-response')
    })

    // The agent keeps its requests in flight in an array where the last
    // one takes the place of one that ends (lib/engine-dispatcher.js
    // forget): requests ending out of order must leave exactly the others
    // for destroy() to fail, in the order they were dispatched (as undici
    // fails its queue).
    it('destroy(err) after some requests ended out of order fails exactly the rest, in order', async function () {
      const agent = createAgent()
      const before = server.stats.requests
      const paths = ['/hang?o=0', '/?from=1', '/hang?o=2', '/?from=3', '/?from=4', '/hang?o=5', '/?from=6']
      const failed = []
      const pending = paths.map((p, i) => collect(agent, { origin: server.origin, path: p, method: 'GET' }, {
        onResponseError () { failed.push(i) }
      }, { grace: 150 }))
      const quick = [1, 3, 4, 6]
      await Promise.all(quick.map((i) => pending[i]))
      await waitFor(() => server.stats.requests >= before + paths.length, 3000, 'every request to arrive')
      const reason = new Error('going away')
      await agent.destroy(reason)
      const results = await Promise.all(pending)
      results.forEach((r, i) => {
        if (quick.includes(i)) {
          assert.equal(r.error, null, `request ${i} failed: ${r.error && r.error.stack}`)
          assert.equal(r.body.toString(), `hello ${i}`)
        } else {
          assert.equal(r.error, reason, `request ${i}`)
          assert.equal(r.events.filter((e) => e === 'error').length, 1)
        }
      })
      assert.deepEqual(failed, [0, 2, 5])
    })

    it('destroy() without err fails in-flight requests with ClientDestroyedError', async function () {
      const agent = createAgent()
      const pending = [0, 1].map((i) => collect(agent, { origin: server.origin, path: `/hang?d=${i}`, method: 'GET' }, {}, { grace: 150 }))
      await sleep(150)
      await agent.destroy()
      for (const r of await Promise.all(pending)) {
        assert.equal(r.events.filter((e) => e === 'error').length, 1)
        assert.ok(r.error instanceof ClientDestroyedError, `got ${r.error && r.error.stack}`)
        assert.equal(r.error.code, 'UND_ERR_DESTROYED')
      }
    })

    it('destroy() returns a promise; destroy(cb) and destroy(err, cb) call back', async function () {
      const a1 = createAgent()
      const p = a1.destroy()
      assert.ok(p instanceof Promise)
      await p
      const a2 = createAgent()
      await new Promise((resolve, reject) => {
        const ret = a2.destroy((err) => (err ? reject(err) : resolve()))
        assert.equal(ret, undefined)
      })
      const a3 = createAgent()
      await new Promise((resolve, reject) => a3.destroy(new Error('x'), (err) => (err ? reject(err) : resolve())))
    })

    it('dispatch after destroy() fails with ClientDestroyedError', async function () {
      const agent = createAgent()
      await get(agent, '/')
      await agent.destroy()
      const r = await get(agent, '/')
      assert.deepEqual(r.events, ['error'])
      assert.ok(r.error instanceof ClientDestroyedError, `got ${r.error && r.error.stack}`)
      assert.equal(r.error.code, 'UND_ERR_DESTROYED')
    })

    it('close() after destroy() rejects with ClientDestroyedError', async function () {
      const agent = createAgent()
      await agent.destroy()
      await assert.rejects(agent.close(), (err) => err instanceof ClientDestroyedError && err.code === 'UND_ERR_DESTROYED')
    })

    it('destroy() twice: both resolve', async function () {
      const agent = createAgent()
      await Promise.all([agent.destroy(), agent.destroy()])
    })
  })

  describe('getters', function () {
    it('closed and destroyed', async function () {
      const a = createAgent()
      assert.equal(a.closed, false)
      assert.equal(a.destroyed, false)
      const closing = a.close()
      assert.equal(a.closed, true)
      await closing
      assert.equal(a.closed, true)

      const b = createAgent()
      const destroying = b.destroy()
      assert.equal(b.destroyed, true)
      await destroying
      assert.equal(b.destroyed, true)
    })
  })

  describe('threads and processes', function () {
    const undiciPath = require.resolve('undici')

    function runWorker (code, workerData) {
      const worker = new Worker(code, { eval: true, workerData })
      const messages = []
      worker.on('message', (m) => messages.push(m))
      const exited = new Promise((resolve, reject) => {
        worker.once('error', reject)
        worker.once('exit', (code) => resolve(code))
      })
      return { worker, messages, exited }
    }

    const workerCode = `
      'use strict'
      const { parentPort, workerData } = require('node:worker_threads')
      const { Agent } = require(workerData.modulePath)
      const { request } = require(workerData.undiciPath)
      ;(async () => {
        const agent = new Agent()
        const { statusCode, body } = await request(workerData.url, { dispatcher: agent })
        const text = await body.text()
        if (workerData.close) await agent.close()
        parentPort.postMessage({ statusCode, text })
      })().catch((err) => parentPort.postMessage({ error: String(err && err.stack) }))
    `

    it('works inside a worker_thread, next to the main thread', async function () {
      const mainAgent = createAgent()
      try {
        const runs = [1, 2].map((n) => runWorker(workerCode, {
          modulePath: agentModulePath, undiciPath, url: `${server.origin}/?from=worker${n}`, close: true
        }))
        const mainResults = await Promise.all([0, 1, 2].map((i) => get(mainAgent, `/?from=main${i}`)))
        const codes = await Promise.all(runs.map((r) => r.exited))
        assert.deepEqual(codes, [0, 0])
        assert.deepEqual(runs[0].messages, [{ statusCode: 200, text: 'hello worker1' }])
        assert.deepEqual(runs[1].messages, [{ statusCode: 200, text: 'hello worker2' }])
        mainResults.forEach((r, i) => assert.equal(r.body.toString(), `hello main${i}`))
      } finally {
        await mainAgent.close()
      }
    })

    it('a worker that does not close its agent still exits by itself', async function () {
      const run = runWorker(workerCode, {
        modulePath: agentModulePath, undiciPath, url: `${server.origin}/?from=unclosed`, close: false
      })
      const outcome = await Promise.race([run.exited.then((code) => `exit ${code}`), sleep(5000).then(() => 'hung')])
      if (outcome === 'hung') await run.worker.terminate()
      assert.equal(outcome, 'exit 0')
      assert.deepEqual(run.messages, [{ statusCode: 200, text: 'hello unclosed' }])
    })

    it('terminating a worker mid-request does not disturb the main thread', async function () {
      const run = runWorker(`
        'use strict'
        const { parentPort, workerData } = require('node:worker_threads')
        const { Agent } = require(workerData.modulePath)
        const agent = new Agent()
        agent.dispatch({ origin: workerData.origin, path: '/hang?w=1', method: 'GET' }, {
          onRequestStart () {},
          onResponseStart () { parentPort.postMessage('started') },
          onResponseData () {},
          onResponseEnd () {},
          onResponseError () {}
        })
      `, { modulePath: agentModulePath, origin: server.origin })
      await waitFor(() => run.messages.includes('started'), 5000, 'the worker request to start')
      const code = await run.worker.terminate()
      assert.equal(typeof code, 'number')
      const agent = createAgent()
      try {
        const r = await get(agent, '/?from=after-terminate')
        assert.equal(r.body.toString(), 'hello after-terminate')
      } finally {
        await agent.close()
      }
    })

    it('a child process that never closes its agent exits by itself within 5 s', async function () {
      this.timeout(10000)
      const code = `
        'use strict'
        const { Agent } = require(${JSON.stringify(agentModulePath)})
        const agent = new Agent()
        agent.dispatch({ origin: ${JSON.stringify(server.origin)}, path: '/?from=child', method: 'GET' }, {
          onRequestStart () {},
          onResponseStart () {},
          onResponseData (controller, chunk) { process.stdout.write(chunk) },
          onResponseEnd () { process.stdout.write('|end') },
          onResponseError (controller, err) { console.error(err); process.exitCode = 1 }
        })
      `
      const child = spawn(process.execPath, ['-e', code], {
        cwd: path.resolve(__dirname, '..'),
        stdio: ['ignore', 'pipe', 'pipe']
      })
      let stdout = ''
      let stderr = ''
      child.stdout.on('data', (c) => { stdout += c })
      child.stderr.on('data', (c) => { stderr += c })
      const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
      const outcome = await Promise.race([exited, sleep(5000).then(() => 'hung')])
      if (outcome === 'hung') {
        child.kill('SIGKILL')
        await exited
      }
      assert.notEqual(outcome, 'hung', `the child did not exit within 5 s (${kind}); stdout=${stdout} stderr=${stderr}`)
      assert.deepEqual(outcome, { code: 0, signal: null }, stderr)
      assert.equal(stdout, 'hello child|end')
    })

    it('4 worker_threads with their own agents, 200 requests each, next to the main thread', async function () {
      this.timeout(30000)
      const code = `
        'use strict'
        const { parentPort, workerData, threadId } = require('node:worker_threads')
        const { Agent } = require(workerData.modulePath)
        const { request } = require(workerData.undiciPath)
        ;(async () => {
          const agent = new Agent()
          const bodies = []
          let next = 0
          const lane = async () => {
            while (next < 200) {
              const i = next++
              const { body } = await request(workerData.origin + '/?from=w' + workerData.n + '-' + i, { dispatcher: agent })
              bodies[i] = await body.text()
            }
          }
          await Promise.all(Array.from({ length: 25 }, lane))
          await agent.close()
          parentPort.postMessage({ threadId, bodies })
        })().catch((err) => parentPort.postMessage({ error: String(err && err.stack) }))
      `
      const runs = [0, 1, 2, 3].map((n) => runWorker(code, { modulePath: agentModulePath, undiciPath, origin: server.origin, n }))
      const threadIds = runs.map((r) => r.worker.threadId)
      const mainAgent = createAgent()
      try {
        const mainResults = await Promise.all(Array.from({ length: 50 }, (_, i) => get(mainAgent, `/?from=main${i}`)))
        mainResults.forEach((r, i) => assert.equal(r.body.toString(), `hello main${i}`))
        assert.deepEqual(await Promise.all(runs.map((r) => r.exited)), [0, 0, 0, 0])
      } finally {
        await mainAgent.close()
      }
      runs.forEach((r, n) => {
        assert.equal(r.messages.length, 1, JSON.stringify(r.messages).slice(0, 500))
        const { threadId, bodies, error } = r.messages[0]
        assert.equal(error, undefined)
        assert.equal(threadId, threadIds[n], 'delivered on another thread')
        assert.deepEqual(bodies, Array.from({ length: 200 }, (_, i) => `hello w${n}-${i}`))
      })
    })
  })

  describe('exit, signals and collection', function () {
    // Runs code in a child Node; resolves with its exit and output, or kills
    // it after ms and says so.
    async function runChild (code, { args = [], ms = 10000, onOutput = () => {} } = {}) {
      const child = spawn(process.execPath, [...args, '-e', code], {
        cwd: path.resolve(__dirname, '..'),
        stdio: ['ignore', 'pipe', 'pipe']
      })
      let stdout = ''
      let stderr = ''
      child.stdout.on('data', (c) => { stdout += c; onOutput(stdout, child) })
      child.stderr.on('data', (c) => { stderr += c })
      const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
      const outcome = await Promise.race([exited, sleep(ms).then(() => null)])
      if (outcome === null) {
        child.kill('SIGKILL')
        await exited
        return { hung: true, stdout, stderr, child }
      }
      return { ...outcome, stdout, stderr, child }
    }

    const prelude = () => `
      'use strict'
      const { Agent } = require(${JSON.stringify(agentModulePath)})
      const origin = ${JSON.stringify(server.origin)}
      const started = { n: 0 }
      function fire (agent, path, onEnd = () => {}) {
        agent.dispatch({ origin, path, method: 'GET' }, {
          onRequestStart () {},
          onResponseStart () { started.n++ },
          onResponseData () {},
          onResponseEnd () { onEnd(null) },
          onResponseError (controller, err) { onEnd(err) }
        })
      }
    `

    it('process.exit(0) with 50 requests in flight exits at once with code 0', async function () {
      this.timeout(15000)
      const r = await runChild(prelude() + `
        const agent = new Agent()
        for (let i = 0; i < 50; i++) fire(agent, i % 2 ? '/hang?i=' + i : '/slow?i=' + i)
        const t = setInterval(() => {
          if (started.n >= 50) { process.stdout.write('in flight'); process.exit(0) }
        }, 5)
      `)
      assert.ok(!r.hung, `the child did not exit (${kind}): ${r.stderr}`)
      assert.deepEqual({ code: r.code, signal: r.signal }, { code: 0, signal: null }, r.stderr)
      assert.equal(r.stdout, 'in flight')
      assert.equal(r.stderr, '')
    })

    it('a SIGTERM handler that destroys the agent lets the process end by itself', async function () {
      this.timeout(15000)
      const r = await runChild(prelude() + `
        const agent = new Agent()
        let failed = 0
        for (let i = 0; i < 20; i++) fire(agent, '/hang?s=' + i, (err) => { if (err) failed++ })
        process.on('SIGTERM', () => {
          agent.destroy().then(() => { process.stdout.write('destroyed ' + failed) })
        })
        const t = setInterval(() => {
          if (started.n >= 20) { clearInterval(t); process.stdout.write('ready|') }
        }, 5)
      `, {
        onOutput: (out, child) => { if (out === 'ready|') child.kill('SIGTERM') }
      })
      assert.ok(!r.hung, `the child did not exit after SIGTERM (${kind}): ${r.stdout} ${r.stderr}`)
      assert.deepEqual({ code: r.code, signal: r.signal }, { code: 0, signal: null }, r.stderr)
      assert.equal(r.stdout, 'ready|destroyed 20')
    })

    it('agents dropped without close() are collected and release everything (--expose-gc)', async function () {
      if (kind === 'undici') this.skip() // counts the engine's own objects
      this.timeout(30000)
      const r = await runChild(prelude() + `
        const { setTimeout: sleep } = require('node:timers/promises')
        ;(async () => {
          const base = Agent.engineStats()
          for (let i = 0; i < 100; i++) {
            const agent = new Agent()
            await new Promise((resolve, reject) => fire(agent, '/?from=gc' + i, (err) => err ? reject(err) : resolve()))
          }
          const during = Agent.engineStats().configs
          let s
          for (let round = 0; round < 100; round++) {
            global.gc()
            await sleep(50)
            s = Agent.engineStats()
            if (s.configs === base.configs && s.requests === 0 && s.transfers === 0 && s.events === 0) break
          }
          process.stdout.write(JSON.stringify({ base: base.configs, during, after: s }))
        })()
      `, { args: ['--expose-gc'], ms: 20000 })
      assert.ok(!r.hung, `the child did not finish: ${r.stderr}`)
      assert.equal(r.code, 0, r.stderr)
      const { base, during, after } = JSON.parse(r.stdout)
      assert.ok(during >= base + 50, `the agents were collected before they were dropped? ${r.stdout}`)
      assert.equal(after.configs, base, `configurations still alive after GC: ${r.stdout}`)
      assert.equal(after.requests + after.transfers + after.events + after.commands, 0, r.stdout)
    })

    it('a finished request lets go of its handler while its controller is still held (--expose-gc)', async function () {
      // A request V8 promoted keeps what it points at through young
      // collections: pipeline()'s stream graph, each response's, when the
      // request held its handler to the end (lib/request.js settle()).
      // undici's own controller keeps its handler: this is about ours.
      if (kind === 'undici') this.skip()
      this.timeout(30000)
      const r = await runChild(prelude() + `
        const { setTimeout: sleep } = require('node:timers/promises')
        ;(async () => {
          const agent = new Agent()
          const kept = []
          const refs = []
          for (let i = 0; i < 3; i++) {
            await new Promise((resolve, reject) => {
              const handler = {
                payload: Buffer.alloc(1 << 20), // what a stream graph would hold
                onRequestStart (controller) { kept.push(controller) },
                onResponseStart () {},
                onResponseData () {},
                onResponseEnd () { resolve() },
                onResponseError (controller, err) { reject(err) }
              }
              refs.push(new WeakRef(handler))
              agent.dispatch({ origin, path: '/?from=handler' + i, method: 'GET' }, handler)
            })
          }
          let alive = refs.length
          for (let round = 0; round < 50 && alive > 0; round++) {
            await sleep(20)
            global.gc()
            alive = refs.filter((ref) => ref.deref() !== undefined).length
          }
          process.stdout.write(JSON.stringify({ alive, controllers: kept.length, aborted: kept.map((c) => c.aborted) }))
          await agent.close()
        })()
      `, { args: ['--expose-gc'], ms: 20000 })
      assert.ok(!r.hung, `the child did not finish: ${r.stderr}`)
      assert.equal(r.code, 0, r.stderr)
      assert.deepEqual(JSON.parse(r.stdout), { alive: 0, controllers: 3, aborted: [false, false, false] })
    })

    it('1000 agents created, used and closed in a loop: nothing accumulates', async function () {
      this.timeout(60000)
      const rssBefore = process.memoryUsage().rss
      const configsBefore = kind === 'undici' ? 0 : Agent.engineStats().configs
      for (let i = 0; i < 1000; i++) {
        const agent = createAgent()
        const r = await collect(agent, { origin: server.origin, path: `/?from=loop${i}`, method: 'GET' }, {}, { grace: 0 })
        assert.equal(r.body.toString(), `hello loop${i}`)
        await agent.close()
      }
      const grownMB = (process.memoryUsage().rss - rssBefore) / 1048576
      this.test.title += ` [RSS +${grownMB.toFixed(1)} MB]`
      if (!underSanitizer) assert.ok(grownMB < 64, `RSS grew by ${grownMB.toFixed(1)} MB`)
      if (kind !== 'undici') {
        await waitFor(() => Agent.engineStats().configs <= configsBefore, 5000, 'the closed agents\' configurations to be freed')
      }
    })
  })
})
