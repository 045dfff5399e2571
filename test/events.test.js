'use strict'

// Agent events (connect, disconnect, connectionError), agent.stats and the
// connection-level diagnostics channels, checked against real connections.

const assert = require('node:assert/strict')
const dc = require('node:diagnostics_channel')
const undici = require('undici')
const { kind, createAgent } = require('./support/agent')
const { startServer, closedPort } = require('./support/servers')
const { waitFor } = require('./support/collect')

async function get (agent, url, opts = {}) {
  const res = await undici.request(url, { dispatcher: agent, ...opts })
  return { status: res.statusCode, body: await res.body.text() }
}

describe('agent events, stats and connection diagnostics', function () {
  let server
  let agent
  let release = null

  before(async function () {
    server = await startServer((req, res) => {
      if (req.url === '/close') {
        res.setHeader('connection', 'close')
        res.end('bye')
      } else if (req.url === '/hint') {
        res.writeHead(200, { connection: 'keep-alive', 'keep-alive': 'timeout=1s' })
        res.end('hint')
      } else if (req.url === '/hold') {
        const go = () => res.end('held')
        if (release === null) go()
        else release.push(go)
      } else {
        setTimeout(() => res.end('ok'), 50)
      }
    })
  })

  afterEach(async function () {
    for (const go of release ?? []) go()
    release = null
    await agent?.close()
    agent = null
  })

  after(async function () {
    await server.close()
  })

  function record (target) {
    const events = []
    for (const name of ['connect', 'disconnect', 'connectionError']) {
      target.on(name, (origin, targets, err) => events.push({ name, origin, targets, err }))
    }
    return events
  }

  it("'connect' once per new connection, with the origin URL and the agent among the targets", async function () {
    agent = createAgent()
    const events = record(agent)
    await Promise.all([1, 2, 3].map(() => get(agent, `${server.origin}/`)))
    const connects = events.filter((e) => e.name === 'connect')
    assert.equal(connects.length, 3, 'three concurrent requests, three connections')
    for (const e of connects) {
      assert.ok(e.origin instanceof URL)
      assert.equal(e.origin.origin, server.origin)
      assert.ok(e.targets.includes(agent))
    }
    await get(agent, `${server.origin}/`)
    // (undici's pool may pick a fresh client here; ours reuses a connection)
    if (kind !== 'undici') assert.equal(events.filter((e) => e.name === 'connect').length, 3, 'a reused connection is not reported again')
  })

  it("'disconnect' when the server closes the connection, with an error", async function () {
    agent = createAgent()
    const events = record(agent)
    assert.equal((await get(agent, `${server.origin}/close`)).body, 'bye')
    await waitFor(() => events.some((e) => e.name === 'disconnect'), 3000, 'disconnect')
    const d = events.find((e) => e.name === 'disconnect')
    assert.equal(d.origin.origin, server.origin)
    assert.ok(d.targets.includes(agent))
    assert.ok(d.err instanceof Error)
    assert.deepEqual(events.map((e) => e.name), ['connect', 'disconnect'])
  })

  // undici's client closes these connections itself after the response
  // (socket[kReset]) and says so: InformationalError('reset').
  for (const [what, path, opts] of [
    ['a `connection: close` response', '/close', {}],
    ['a Keep-Alive hint at or under keepAliveTimeoutThreshold', '/hint', {}],
    ['a request with reset: true', '/', { reset: true }]
  ]) {
    it(`'disconnect' after ${what} carries InformationalError('reset')`, async function () {
      agent = createAgent()
      const events = record(agent)
      await get(agent, `${server.origin}${path}`, opts)
      await waitFor(() => events.some((e) => e.name === 'disconnect'), 3000, 'disconnect')
      const d = events.find((e) => e.name === 'disconnect')
      assert.ok(d.err instanceof undici.errors.InformationalError, `${d.err?.name}: ${d.err?.message}`)
      assert.equal(d.err.code, 'UND_ERR_INFO')
      assert.equal(d.err.message, 'reset')
    })
  }

  it("three sequential requests answered `Keep-Alive: timeout=1s`: three connections, three 'reset' disconnects", async function () {
    agent = createAgent({ connections: 3 })
    const events = record(agent)
    for (let i = 0; i < 3; i++) assert.equal((await get(agent, `${server.origin}/hint`)).body, 'hint')
    await waitFor(() => events.filter((e) => e.name === 'disconnect').length === 3, 3000, 'three disconnects')
    assert.equal(events.filter((e) => e.name === 'connect').length, 3)
    for (const e of events.filter((e) => e.name === 'disconnect')) assert.equal(e.err.message, 'reset')
  })

  it("'connectionError' when the connection cannot be made, and no 'connect'", async function () {
    agent = createAgent()
    const events = record(agent)
    const port = await closedPort()
    await assert.rejects(get(agent, `http://127.0.0.1:${port}/`), { code: 'ECONNREFUSED' })
    await waitFor(() => events.length > 0, 1000, 'connectionError')
    assert.deepEqual(events.map((e) => e.name), ['connectionError'])
    assert.equal(events[0].origin.origin, `http://127.0.0.1:${port}`)
    assert.equal(events[0].err.code, 'ECONNREFUSED')
  })

  it('stats: running, pending and connected per origin, with `connections`', async function () {
    agent = createAgent({ connections: 2 })
    release = []
    const inFlight = [1, 2, 3, 4].map(() => get(agent, `${server.origin}/hold`))
    await waitFor(() => release.length === 2, 3000, 'two requests at the server')
    const during = agent.stats[server.origin]
    assert.equal(during.running, 2)
    assert.equal(during.pending, 2)
    assert.equal(during.size, 4)
    assert.equal(during.connected, 2)
    const held = release
    release = null // the next two are answered at once
    for (const go of held) go()
    await Promise.all(inFlight)
    const after = agent.stats[server.origin]
    assert.equal(after.running, 0)
    assert.equal(after.pending, 0)
    assert.equal(after.size, 0)
    assert.equal(after.connected, 2)
    if (kind !== 'undici') assert.equal(after.free, 2) // undici's pool reports 0 here
  })

  describe('diagnostics_channel', function () {
    const names = ['undici:client:beforeConnect', 'undici:client:connected', 'undici:client:connectError']
    let seen
    const listeners = {}

    beforeEach(function () {
      seen = []
      for (const name of names) {
        listeners[name] = (message) => seen.push({ name, message })
        dc.subscribe(name, listeners[name])
      }
    })

    afterEach(function () {
      for (const name of names) dc.unsubscribe(name, listeners[name])
    })

    it('beforeConnect and connected, with connectParams and socket addresses', async function () {
      agent = createAgent()
      await get(agent, `${server.origin}/`)
      const mine = seen.filter((s) => s.message.connectParams.port === String(server.port))
      assert.deepEqual(mine.map((s) => s.name), ['undici:client:beforeConnect', 'undici:client:connected'])
      const { connectParams, socket } = mine[1].message
      assert.equal(connectParams.hostname, '127.0.0.1')
      assert.equal(connectParams.protocol, 'http:')
      assert.equal(connectParams.host, `127.0.0.1:${server.port}`)
      assert.equal(socket.remoteAddress, '127.0.0.1')
      assert.equal(socket.remotePort, server.port)
      assert.equal(typeof socket.localPort, 'number')
    })

    it('connectError with the error', async function () {
      agent = createAgent()
      const port = await closedPort()
      await assert.rejects(get(agent, `http://127.0.0.1:${port}/`))
      const errorsSeen = seen.filter((s) => s.name === 'undici:client:connectError')
      assert.equal(errorsSeen.length, 1)
      assert.equal(errorsSeen[0].message.error.code, 'ECONNREFUSED')
      assert.equal(errorsSeen[0].message.connectParams.port, String(port))
      if (kind !== 'undici') assert.equal(seen.filter((s) => s.name === 'undici:client:connected').length, 0)
    })
  })
})
