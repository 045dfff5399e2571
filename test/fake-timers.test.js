'use strict'

// A test suite that installs fake timers (@sinonjs/fake-timers,
// jest.useFakeTimers) after loading the agent replaces the global
// setTimeout/setImmediate/setInterval with a clock it advances by hand.
// Requests must still end: the agent schedules its own steps with the
// timers it found when it was loaded (lib/timers.js). Here the globals are
// replaced by a clock that never fires, and this file waits on the real
// timers it saved first.

const assert = require('node:assert/strict')
const undici = require('undici')
const { createAgent } = require('./support/agent')
const { startServer } = require('./support/servers')

const real = { setTimeout, clearTimeout, setImmediate, setInterval }
const NAMES = ['setTimeout', 'clearTimeout', 'setImmediate', 'clearImmediate', 'setInterval', 'clearInterval']

// Replaces the timer globals with ones that never fire; returns how many
// callbacks were scheduled on them and a restore function.
function freezeTimers () {
  const saved = {}
  const frozen = { scheduled: 0 }
  const handle = () => {
    frozen.scheduled++
    return { ref () { return this }, unref () { return this }, hasRef () { return false }, refresh () { return this } }
  }
  for (const name of NAMES) {
    saved[name] = globalThis[name]
    globalThis[name] = name.startsWith('clear') ? () => {} : handle
  }
  frozen.restore = () => { for (const name of NAMES) globalThis[name] = saved[name] }
  return frozen
}

function within (promise, ms, what) {
  let timer
  return Promise.race([
    promise,
    new Promise((resolve, reject) => {
      timer = real.setTimeout(() => reject(new Error(`${what}: no end within ${ms} ms under frozen timers`)), ms)
    })
  ]).finally(() => real.clearTimeout(timer))
}

describe('fake timers installed after the agent was loaded', function () {
  let server, closing

  before(async function () {
    server = await startServer((req, res) => res.end(`ok ${req.url}`))
    closing = await startServer((req, res) => {
      res.setHeader('connection', 'close')
      res.end('bye')
    })
  })
  after(async function () {
    await server.close()
    await closing.close()
  })

  let frozen, agent
  beforeEach(function () {
    agent = createAgent()
    frozen = freezeTimers()
  })
  afterEach(async function () {
    frozen.restore()
    await agent.close()
  })

  it('request(), a streamed body and fetch() end', async function () {
    const r = await within(undici.request(`${server.origin}/a`, { dispatcher: agent }), 3000, 'request()')
    assert.equal(await r.body.text(), 'ok /a')
    const post = await within(undici.request(`${server.origin}/p`, {
      dispatcher: agent,
      method: 'POST',
      body: require('node:stream').Readable.from([Buffer.from('x'), Buffer.from('y')])
    }), 3000, 'a streamed POST')
    assert.equal(await post.body.text(), 'ok /p')
    const f = await within(undici.fetch(`${server.origin}/f`, { dispatcher: agent }), 3000, 'fetch()')
    assert.equal(await f.text(), 'ok /f')
  })

  it("a server closing the connection: the response, then 'disconnect'", async function () {
    const disconnected = new Promise((resolve) => agent.once('disconnect', resolve))
    const r = await within(undici.request(closing.origin, { dispatcher: agent }), 3000, 'request()')
    assert.equal(await r.body.text(), 'bye')
    await within(disconnected, 3000, "'disconnect'")
  })

  it('connect.lookup: the pinned request ends', async function () {
    frozen.restore()
    await agent.close()
    agent = createAgent({ connect: { lookup: (host, opts, cb) => cb(null, [{ address: '127.0.0.1', family: 4 }]) } })
    frozen = freezeTimers()
    const origin = server.origin.replace('127.0.0.1', 'localhost')
    const r = await within(undici.request(`${origin}/l`, { dispatcher: agent }), 3000, 'request() with lookup')
    assert.equal(await r.body.text(), 'ok /l')
  })
})
