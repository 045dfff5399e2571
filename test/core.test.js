'use strict'

// The JS core on its own, without a server or a worker: the bridge's batch
// reader (lib/native.js onEvents) fed batches written here as the bridge
// writes them, and a CurlRequest's states (lib/request.js) driven by
// engine events given to it directly, with the engine's commands
// (pause, resume, abort) recorded instead of sent.

const assert = require('node:assert/strict')
const { errors } = require('undici')
const native = require('../lib/native')
const binding = require('../lib/binding')
const { CurlRequest, states } = require('../lib/request')
const { adaptHandler } = require('../lib/handler')
const { normalizeRequest } = require('../lib/normalize')
const {
  EV_HEADERS, EV_DATA, EV_DATA_SLAB, EV_BODY_WANTED, EV_END, EV_ERROR, EV_ABORTED, EV_CONNECTING, EV_DISCONNECTED,
  SLOT_NONE, META_FIELDS, META_TYPE, META_SLOT, META_A, META_B, META_C, META_D, ERRF_CONNECTED
} = require('../lib/constants')

const { OPEN, ENDING, ENDED, SETTLED, ENGINE_NONE, ENGINE_ACTIVE, ENGINE_DONE } = states

// Slots far above what the tests' own agents use, and forgotten after.
const SLOT = 1_000_000

// Writes events into the shared batch as the bridge does (napi/cd_events.c):
// fixed fields in `meta`, a payload in the next `values` entry, a small
// chunk in the slab; then reads the batch.
function feed (events) {
  const { meta, values, slab, onEvents } = native.batch
  let vi = 0
  let slabAt = 0
  events.forEach(([type, slot, a = 0, b = 0, c = 0, d = 0, payload], i) => {
    const o = i * META_FIELDS
    meta[o + META_TYPE] = type
    meta[o + META_SLOT] = slot
    meta[o + META_A] = a
    meta[o + META_B] = b
    meta[o + META_C] = c
    meta[o + META_D] = d
    if (type === EV_DATA_SLAB) {
      const bytes = Buffer.from(payload)
      bytes.copy(slab, slabAt)
      meta[o + META_C] = slabAt
      meta[o + META_D] = bytes.length
      slabAt += bytes.length
    } else if (payload !== undefined) {
      values[vi++] = payload
    }
  })
  onEvents(events.length)
}

// What a request is given by the engine: recorded as [type, a, payload].
function recorder () {
  return {
    seen: [],
    onEngineEvent (type, a, b, c, d, payload) {
      this.seen.push([type, a, Buffer.isBuffer(payload) ? payload.toString() : payload])
    }
  }
}

describe('unit: the bridge\'s batch reader (lib/native.js)', function () {
  afterEach(function () {
    for (let s = SLOT; s < SLOT + 4; s++) native.requests[s] = undefined
  })

  it('hands each request its events in order, payloads from values and the slab', function () {
    const one = native.requests[SLOT] = recorder()
    const two = native.requests[SLOT + 1] = recorder()
    feed([
      [EV_HEADERS, SLOT, 200, 11, 0, 0, 'HTTP/1.1 200 OK\r\n\r\n'],
      [EV_CONNECTING, SLOT + 1],
      [EV_DATA_SLAB, SLOT, 0, 0, 0, 0, 'abc'],
      [EV_BODY_WANTED, SLOT + 1],
      [EV_DATA, SLOT, 0, 0, 0, 0, Buffer.from('def')],
      [EV_DATA_SLAB, SLOT + 1, 0, 0, 0, 0, 'xyz'],
      [EV_END, SLOT, 0, 0, 0, 0, '']
    ])
    assert.deepEqual(one.seen, [
      [EV_HEADERS, 200, 'HTTP/1.1 200 OK\r\n\r\n'], [EV_DATA, 0, 'abc'], [EV_DATA, 0, 'def'], [EV_END, 0, '']
    ])
    // events without a payload take no entry of `values`
    assert.deepEqual(two.seen, [[EV_CONNECTING, 0, undefined], [EV_BODY_WANTED, 0, undefined], [EV_DATA, 0, 'xyz']])
  })

  it('a slab chunk is copied out: the next batch may overwrite the slab', function () {
    const one = native.requests[SLOT] = recorder()
    let kept = null
    one.onEngineEvent = (type, a, b, c, d, payload) => { kept = payload }
    feed([[EV_DATA_SLAB, SLOT, 0, 0, 0, 0, 'first']])
    feed([[EV_DATA_SLAB, SLOT, 0, 0, 0, 0, 'SECOND']])
    assert.equal(kept.toString(), 'SECOND')
    one.onEngineEvent = () => {}
    feed([[EV_DATA_SLAB, SLOT, 0, 0, 0, 0, 'first']])
    const held = Buffer.from(kept)
    feed([[EV_DATA_SLAB, SLOT, 0, 0, 0, 0, 'XXXXX']])
    assert.equal(held.toString(), 'SECOND')
  })

  it('forgets the slot at a terminal event: what follows for it is dropped', function () {
    for (const terminal of [EV_END, EV_ERROR, EV_ABORTED]) {
      const one = native.requests[SLOT] = recorder()
      const payload = terminal === EV_ABORTED ? undefined : ''
      feed([[terminal, SLOT, 0, 0, 0, 0, payload], [EV_DATA, SLOT, 0, 0, 0, 0, Buffer.from('late')]])
      assert.equal(native.requests[SLOT], undefined)
      assert.deepEqual(one.seen.map((e) => e[0]), [terminal])
    }
  })

  it('gives a close to the connection listener, and batchEnd once per batch', function () {
    const calls = []
    const previous = native.onConnectionEvents({
      disconnected: (configId, origin) => calls.push(['disconnected', configId, origin]),
      batchEnd: () => calls.push(['batchEnd'])
    })
    try {
      native.requests[SLOT] = recorder()
      feed([
        [EV_DISCONNECTED, SLOT_NONE, 7, 0, 0, 0, 'http://127.0.0.1:1'],
        [EV_DATA, SLOT, 0, 0, 0, 0, Buffer.from('x')],
        [EV_DISCONNECTED, SLOT_NONE, 8, 0, 0, 0, 'http://127.0.0.1:2']
      ])
    } finally {
      native.onConnectionEvents(previous)
    }
    assert.deepEqual(calls, [
      ['disconnected', 7, 'http://127.0.0.1:1'], ['disconnected', 8, 'http://127.0.0.1:2'], ['batchEnd']
    ])
    assert.deepEqual(native.requests[SLOT].seen, [[EV_DATA, 0, 'x']])
  })

  it('a request that throws loses none of the rest of the batch (the error is rethrown later)', async function () {
    const thrown = new Error('bug of ours')
    native.requests[SLOT] = { onEngineEvent () { throw thrown } }
    const two = native.requests[SLOT + 1] = recorder()
    const listeners = process.listeners('uncaughtException')
    process.removeAllListeners('uncaughtException')
    const caught = new Promise((resolve) => process.once('uncaughtException', resolve))
    try {
      feed([[EV_DATA, SLOT, 0, 0, 0, 0, Buffer.from('a')], [EV_DATA, SLOT + 1, 0, 0, 0, 0, Buffer.from('b')]])
      assert.deepEqual(two.seen, [[EV_DATA, 0, 'b']])
      assert.equal(await caught, thrown)
    } finally {
      for (const l of listeners) process.on('uncaughtException', l)
    }
  })
})

describe('unit: a CurlRequest\'s states (lib/request.js)', function () {
  const commands = []
  const saved = {}
  before(function () {
    for (const name of ['pause', 'resume', 'abort']) {
      saved[name] = binding[name]
      binding[name] = (slot) => commands.push([name, slot])
    }
  })
  after(function () {
    Object.assign(binding, saved)
  })
  beforeEach(function () {
    commands.length = 0
  })

  const settings = Object.freeze({ maxResponseSize: -1, keepAliveTimeoutThreshold: 2000, localAddress: null })

  // A request as EngineDispatcher#dispatch makes it, then handed to the
  // engine as submitNow would (slot and state), without a native call.
  function make (handler = {}) {
    const log = []
    const finished = []
    const owner = {
      settings,
      origins: { expectReset () {}, connectionFailed () {}, connected () {}, connectionError () {} },
      requestFinished: (req) => finished.push(req)
    }
    const req = new CurlRequest(owner, adaptHandler({
      onRequestStart () { log.push('start') },
      onResponseStart (controller, status) { log.push(`head ${status}`) },
      onResponseData (controller, chunk) { log.push(`data ${chunk}`) },
      onResponseEnd () { log.push('end') },
      onResponseError (controller, err) { log.push(`error ${err.name}`) },
      ...handler
    }))
    req.norm = normalizeRequest({ origin: 'http://127.0.0.1:1', path: '/', method: 'GET' })
    req.slot = SLOT
    req.engine = ENGINE_ACTIVE
    return { req, log, finished }
  }

  const head = (req, status = 200) => req.onEngineEvent(EV_HEADERS, status, 11, 0, 0, `HTTP/1.1 ${status} OK\r\ncontent-length: 6\r\n\r\n`)
  const data = (req, text) => req.onEngineEvent(EV_DATA, 0, 0, 0, 0, Buffer.from(text))
  const end = (req) => req.onEngineEvent(EV_END, 0, 0, 0, 0, '')

  it('OPEN -> SETTLED on END: head, data, end, and its owner told once', function () {
    const { req, log, finished } = make()
    assert.equal(req.state, OPEN)
    head(req)
    data(req, 'abc')
    end(req)
    assert.deepEqual(log, ['head 200', 'data abc', 'end'])
    assert.equal(req.state, SETTLED)
    assert.equal(req.engine, ENGINE_DONE)
    assert.deepEqual(finished, [req])
    req.settle()
    req.abort()
    assert.deepEqual(finished, [req])
    assert.deepEqual(commands, [])
  })

  it('paused: events wait in order, none reach the handler, resume replays them then resumes the engine', async function () {
    const { req, log } = make()
    head(req)
    req.controller.pause()
    assert.deepEqual(commands, [['pause', SLOT]])
    data(req, 'a')
    data(req, 'b')
    end(req)
    assert.deepEqual(log, ['head 200'])
    assert.equal(req.state, OPEN)
    req.controller.resume()
    assert.deepEqual(log, ['head 200']) // replayed from a microtask
    await Promise.resolve()
    assert.deepEqual(log, ['head 200', 'data a', 'data b', 'end'])
    assert.equal(req.state, SETTLED)
    // the engine's terminal event came: no resume command is sent to a gone slot
    assert.deepEqual(commands, [['pause', SLOT]])
  })

  it('pause in onResponseData stops the replay there', async function () {
    const { req, log } = make({
      onResponseData (controller, chunk) {
        log.push(`data ${chunk}`)
        if (String(chunk) === 'a') controller.pause()
      }
    })
    head(req)
    data(req, 'a')
    data(req, 'b')
    assert.deepEqual(log, ['head 200', 'data a'])
    req.controller.resume()
    await Promise.resolve()
    assert.deepEqual(log, ['head 200', 'data a', 'data b'])
    assert.deepEqual(commands, [['pause', SLOT], ['resume', SLOT]])
  })

  it('abort: one onResponseError, the engine told, SETTLED only once the engine says ABORTED', function () {
    const { req, log, finished } = make()
    head(req)
    req.controller.abort(new Error('stop'))
    assert.deepEqual(log, ['head 200', 'error Error'])
    assert.equal(req.state, ENDED)
    assert.equal(req.controller.aborted, true)
    assert.deepEqual(commands, [['abort', SLOT]])
    data(req, 'late')
    assert.deepEqual(finished, [])
    req.onEngineEvent(EV_ABORTED, 0, 0, 0, 0, undefined)
    assert.equal(req.state, SETTLED)
    assert.deepEqual(finished, [req])
    assert.deepEqual(log, ['head 200', 'error Error'])
  })

  it('an engine error after a delivered head: ENDING for a turn, then the error, then SETTLED', async function () {
    const { req, log, finished } = make()
    head(req)
    req.onEngineEvent(EV_ERROR, 56, 104, 0, ERRF_CONNECTED, 'Recv failure: Connection reset by peer')
    assert.equal(req.state, ENDING)
    assert.deepEqual(log, ['head 200'])
    assert.deepEqual(finished, [])
    await new Promise((resolve) => setImmediate(resolve))
    assert.equal(req.state, SETTLED)
    assert.deepEqual(log, ['head 200', 'error Error'])
    assert.deepEqual(finished, [req])
  })

  it('an engine error before any head: reported at once', function () {
    const { req, log, finished } = make()
    req.onEngineEvent(EV_ERROR, 7, 111, 0, 0, 'Failed to connect')
    assert.deepEqual(log, ['error Error'])
    assert.equal(req.state, SETTLED)
    assert.deepEqual(finished, [req])
  })

  it('a handler that throws ends the request with what it threw, once', function () {
    const thrown = new Error('handler bug')
    const seen = []
    const { req, log } = make({
      onResponseData () { throw thrown },
      onResponseError (controller, err) { seen.push(err) }
    })
    head(req)
    data(req, 'x')
    data(req, 'y')
    end(req)
    assert.deepEqual(seen, [thrown])
    assert.deepEqual(log, ['head 200'])
    assert.deepEqual(commands, [['abort', SLOT]])
  })

  it('refused before it began: ENDED, the engine never had it, its owner not told', function () {
    const { req, log, finished } = make()
    req.engine = ENGINE_NONE
    req.slot = -1
    req.failImmediately(new errors.InvalidArgumentError('bad'))
    assert.deepEqual(log, ['error InvalidArgumentError'])
    assert.equal(req.state, ENDED)
    assert.deepEqual(finished, [])
    req.abort()
    assert.deepEqual(commands, [])
  })
})
