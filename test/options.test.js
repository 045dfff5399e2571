'use strict'

// Constructor options. Valid ones are accepted by both agents; invalid ones
// throw InvalidArgumentError from our constructor. undici's Agent checks most
// of these lazily (in the Pool/Client it makes at the first dispatch) and
// allows connections: 0, so those tests are ours only.

const assert = require('node:assert/strict')
const { inspect } = require('node:util')
const undici = require('undici')
const { createAgent, Agent, kind } = require('./support/agent')
const { startServer } = require('./support/servers')
const { collect } = require('./support/collect')

const { InvalidArgumentError } = undici.errors

function assertInvalid (opts) {
  assert.throws(() => new Agent(opts), (err) => {
    assert.ok(err instanceof InvalidArgumentError, `expected InvalidArgumentError for ${JSON.stringify(opts)}, got ${err && err.stack}`)
    assert.equal(err.code, 'UND_ERR_INVALID_ARG')
    return true
  }, `new Agent(${JSON.stringify(opts)}) must throw`)
}

describe('options', function () {
  let server

  before(async function () {
    server = await startServer((req, res) => res.end('ok'))
  })

  after(async function () {
    await server.close()
  })

  describe('valid', function () {
    const valid = [
      undefined,
      {},
      { threads: 1 },
      { threads: 2, connections: 4 },
      { connections: null },
      { connections: undefined },
      { connections: 1 },
      { headersTimeout: 0, bodyTimeout: 0 },
      { headersTimeout: 1000, bodyTimeout: 1000 },
      { connectTimeout: 1000 },
      { connect: { timeout: 1000 } },
      { keepAliveTimeout: 1000 },
      { connect: { rejectUnauthorized: true } }
    ]
    for (const opts of valid) {
      it(`accepts ${inspect(opts, { breakLength: Infinity })} and serves a request`, async function () {
        const agent = createAgent(opts)
        try {
          const r = await collect(agent, { origin: server.origin, path: '/', method: 'GET' })
          assert.equal(r.error, null, `request failed: ${r.error && r.error.stack}`)
          assert.equal(r.body.toString(), 'ok')
        } finally {
          await agent.close()
        }
      })
    }

    it('is an undici Dispatcher', async function () {
      const agent = createAgent()
      try {
        assert.ok(agent instanceof undici.Dispatcher)
        for (const m of ['dispatch', 'close', 'destroy', 'compose', 'request', 'stream', 'pipeline']) {
          assert.equal(typeof agent[m], 'function', m)
        }
      } finally {
        await agent.destroy()
      }
    })
  })

  describe('invalid (ours only)', function () {
    beforeEach(function () {
      if (kind === 'undici') this.skip()
    })

    const invalid = {
      threads: [0, -1, 1.5, 'x', NaN, Infinity],
      connections: [0, -1, 'x', NaN],
      headersTimeout: [-1, 1.5, 'x', NaN, Infinity],
      bodyTimeout: [-1, 1.5, 'x', NaN, Infinity],
      connectTimeout: [-1, 'x', NaN],
      keepAliveTimeout: [-1, 'x', NaN]
    }
    for (const [name, values] of Object.entries(invalid)) {
      for (const value of values) {
        it(`rejects ${name}: ${inspect(value)}`, function () {
          assertInvalid({ [name]: value })
        })
      }
    }

    it('rejects connect.timeout: -1 and connect.timeout: \'x\'', function () {
      assertInvalid({ connect: { timeout: -1 } })
      assertInvalid({ connect: { timeout: 'x' } })
    })
  })

  describe('invalid (both agents)', function () {
    it('rejects connect that is neither an object nor a function', function () {
      assertInvalid({ connect: 'x' })
      assertInvalid({ connect: 42 })
    })

    it('rejects a factory that is not a function', function () {
      assertInvalid({ factory: 'ASD' })
    })
  })

  it('a refused dispatch: what the handler\'s onError throws comes out of dispatch(), as undici', async function () {
    const agent = createAgent()
    try {
      const handler = {
        onConnect () {},
        onHeaders () {},
        onData () {},
        onComplete () {},
        onError (err) { throw err }
      }
      assert.throws(() => agent.dispatch('ASD', handler), InvalidArgumentError)
      assert.throws(() => agent.dispatch({ origin: server.origin, path: '/', method: 'GET', headers: 42 }, handler), InvalidArgumentError)
    } finally {
      await agent.close()
    }
  })
})
