'use strict'

// The `factory` option: the user's own dispatcher per origin. The agent
// routes each request to the dispatcher the factory made for its origin,
// re-emits its events with itself first in `targets`, counts maxOrigins
// over them, closes one once its connections are gone, and closes or
// destroys them all with itself. Both agents (undici's behaves the same).

const assert = require('node:assert/strict')
const { once } = require('node:events')
const undici = require('undici')
const { createAgent, kind } = require('./support/agent')
const { startServer, closedPort } = require('./support/servers')
const { collect, waitFor } = require('./support/collect')

const { Pool, errors } = undici

describe('factory', function () {
  let server, other, seen

  before(async function () {
    seen = []
    const handler = (req, res) => {
      seen.push(req.url)
      res.end(`ok ${req.url}`)
    }
    server = await startServer(handler)
    other = await startServer(handler)
  })
  after(async function () {
    await server.close()
    await other.close()
  })

  // A factory that records its calls and hands back undici Pools.
  function recordingFactory () {
    const calls = []
    const factory = (origin, opts) => {
      const pool = new Pool(origin, opts)
      calls.push({ origin, opts, pool })
      return pool
    }
    return { calls, factory }
  }

  it('the origin reaches the factory as given (string or URL), its requests go through the dispatcher it made', async function () {
    const { calls, factory } = recordingFactory()
    const agent = createAgent({ factory, keepAliveTimeout: 1234, threads: 1 })
    try {
      const a = await collect(agent, { origin: server.origin, path: '/s', method: 'GET' })
      const b = await collect(agent, { origin: new URL(other.origin), path: '/u', method: 'GET' })
      assert.equal(a.body.toString(), 'ok /s')
      assert.equal(b.body.toString(), 'ok /u')
      assert.equal(calls.length, 2)
      assert.equal(typeof calls[0].origin, 'string')
      assert.ok(calls[1].origin instanceof URL)
      assert.equal(calls[0].opts.keepAliveTimeout, 1234)
      assert.equal(calls[0].opts.factory, undefined)
      // one dispatcher per origin: a second request reuses it
      await collect(agent, { origin: server.origin, path: '/s2', method: 'GET' })
      assert.equal(calls.length, 2)
      assert.deepEqual(Object.keys(agent.stats).sort(), [server.origin, other.origin].sort())
      assert.equal(agent.stats[server.origin].connected, 1)
    } finally {
      await agent.close()
    }
    for (const { pool } of calls) assert.ok(pool.closed, 'close() closes every dispatcher the factory made')
  })

  it('connect and disconnect are re-emitted with the agent first in targets; an unused dispatcher is closed', async function () {
    const closing = await startServer((req, res) => {
      res.setHeader('connection', 'close')
      res.end('bye')
    })
    const { calls, factory } = recordingFactory()
    const agent = createAgent({ factory })
    try {
      const connected = once(agent, 'connect')
      const disconnected = once(agent, 'disconnect')
      const r = await collect(agent, { origin: closing.origin, path: '/', method: 'GET' })
      assert.equal(r.body.toString(), 'bye')
      const [origin, targets] = await connected
      assert.equal(String(origin.origin ?? origin), closing.origin)
      assert.equal(targets[0], agent)
      assert.equal(targets[1], calls[0].pool)
      const [, dtargets, err] = await disconnected
      assert.equal(dtargets[0], agent)
      assert.ok(err instanceof Error)
      await waitFor(() => calls[0].pool.destroyed, 2000, 'the unused pool to be closed')
      // the next request to the origin gets a new dispatcher
      await collect(agent, { origin: closing.origin, path: '/', method: 'GET' })
      assert.equal(calls.length, 2)
    } finally {
      await agent.close()
      await closing.close()
    }
  })

  it('a connection error closes that dispatcher and is re-emitted', async function () {
    const port = await closedPort()
    const { calls, factory } = recordingFactory()
    const agent = createAgent({ factory })
    try {
      const failed = once(agent, 'connectionError')
      const r = await collect(agent, { origin: `http://127.0.0.1:${port}`, path: '/', method: 'GET' })
      assert.equal(r.error.code, 'ECONNREFUSED')
      const [, targets, err] = await failed
      assert.equal(targets[0], agent)
      assert.equal(err.code, 'ECONNREFUSED')
      await waitFor(() => calls[0].pool.destroyed, 2000, 'the failed pool to be closed')
    } finally {
      await agent.close()
    }
  })

  it('maxOrigins counts the dispatchers alive', async function () {
    const { factory } = recordingFactory()
    const agent = createAgent({ factory, maxOrigins: 1 })
    try {
      const a = await collect(agent, { origin: server.origin, path: '/m', method: 'GET' })
      assert.equal(a.error, null)
      const b = await collect(agent, { origin: other.origin, path: '/m', method: 'GET' })
      assert.ok(b.error instanceof errors.MaxOriginsReachedError, `got ${b.error && b.error.stack}`)
    } finally {
      await agent.close()
    }
  })

  it('destroy() destroys the dispatchers, ending their requests with its error', async function () {
    const stall = await startServer(() => {})
    const { calls, factory } = recordingFactory()
    const agent = createAgent({ factory })
    try {
      const pending = collect(agent, { origin: stall.origin, path: '/', method: 'GET' })
      await waitFor(() => calls.length === 1 && calls[0].pool.stats.running === 1, 2000, 'the request to run')
      const reason = new Error('gone')
      await agent.destroy(reason)
      const r = await pending
      assert.equal(r.error, reason)
      assert.ok(calls[0].pool.destroyed)
      assert.ok(agent.destroyed)
      const after = await collect(agent, { origin: server.origin, path: '/', method: 'GET' })
      assert.ok(after.error instanceof errors.ClientDestroyedError)
      await agent.destroy() // a second destroy resolves too
      await assert.rejects(agent.close(), errors.ClientDestroyedError)
    } finally {
      await stall.close()
    }
  })

  it('after close(), a dispatch is ClientClosedError through the handler', async function () {
    const { factory } = recordingFactory()
    const agent = createAgent({ factory })
    const closing = agent.close()
    const r = await collect(agent, { origin: server.origin, path: '/', method: 'GET' })
    assert.ok(r.error instanceof errors.ClientClosedError, `got ${r.error && r.error.stack}`)
    await closing
  })

  it('connect as a function is handed to the factory, which makes the connections', async function () {
    let used = 0
    const net = require('node:net')
    const connect = (opts, cb) => {
      used++
      const socket = net.connect(Number(opts.port), opts.hostname)
      socket.once('connect', () => cb(null, socket)).once('error', cb)
      return socket
    }
    const agent = createAgent({ factory: (origin, opts) => new Pool(origin, opts), connect })
    try {
      const r = await collect(agent, { origin: server.origin, path: '/c', method: 'GET' })
      assert.equal(r.body.toString(), 'ok /c')
      assert.equal(used, 1)
    } finally {
      await agent.close()
    }
  })

  it('a factory that returns no dispatcher: InvalidArgumentError through the handler (ours only)', async function () {
    if (kind === 'undici') this.skip()
    const agent = createAgent({ factory: () => null })
    try {
      const r = await collect(agent, { origin: server.origin, path: '/', method: 'GET' })
      assert.ok(r.error instanceof errors.InvalidArgumentError, `got ${r.error && r.error.stack}`)
      assert.match(r.error.message, /factory/)
    } finally {
      await agent.close()
    }
  })

  it('without a factory, connect as a function serves each origin with its sockets (undici\'s Pool), socketPath passed to it', async function () {
    const net = require('node:net')
    const seen = []
    const connect = (opts, cb) => {
      seen.push(opts.socketPath ?? null)
      const socket = net.connect(Number(opts.port), opts.hostname)
      socket.once('connect', () => cb(null, socket)).once('error', cb)
      return socket
    }
    const agent = createAgent({ connect })
    try {
      const connects = []
      agent.on('connect', (origin, targets) => connects.push(targets[0] === agent))
      for (const p of ['/a', '/b']) {
        const r = await collect(agent, { origin: server.origin, path: p, method: 'GET' })
        assert.equal(r.body.toString(), `ok ${p}`)
      }
      assert.deepEqual(seen, [null], 'one connection, made by the connector, kept alive')
      assert.deepEqual(connects, [true])
    } finally {
      await agent.close()
    }
    const failing = createAgent({ socketPath: '/nonexistent.sock', connect: (opts, cb) => cb(Object.assign(new Error('refused by the connector'), { path: opts.socketPath }), null) })
    try {
      const r = await collect(failing, { origin: 'http://localhost', path: '/', method: 'GET' })
      assert.equal(r.error && r.error.message, 'refused by the connector')
      assert.equal(r.error.path, '/nonexistent.sock')
    } finally {
      await failing.close()
    }
  })
})
