'use strict'

// undici's diagnostics_channel messages, as instrumentations (OpenTelemetry,
// Sentry) subscribe to them: payload shapes, order, and request.addHeader
// from undici:request:create reaching the server.

const assert = require('node:assert/strict')
const dc = require('node:diagnostics_channel')
const undici = require('undici')
const { createAgent } = require('./support/agent')
const { startServer, closedPort } = require('./support/servers')

const NAMES = [
  'undici:request:create',
  'undici:client:sendHeaders',
  'undici:request:bodyChunkSent',
  'undici:request:bodySent',
  'undici:request:headers',
  'undici:request:bodyChunkReceived',
  'undici:request:trailers',
  'undici:request:error'
]

// Records every message of the channels above while `fn` runs.
async function watch (fn) {
  const seen = []
  const listeners = NAMES.map((name) => {
    const listener = (message) => seen.push({ name, message })
    dc.subscribe(name, listener)
    return [name, listener]
  })
  try {
    await fn(seen)
  } finally {
    for (const [name, listener] of listeners) dc.unsubscribe(name, listener)
  }
  return seen
}

describe('diagnostics_channel', function () {
  let server
  let agent
  let received

  before(async function () {
    server = await startServer((req, res) => {
      received = req.headers
      const chunks = []
      req.on('data', (c) => chunks.push(c))
      req.on('end', () => {
        res.setHeader('x-reply', 'yes')
        res.end('body:' + Buffer.concat(chunks).toString())
      })
    })
    agent = createAgent()
  })

  after(async function () {
    await agent.close()
    await server.close()
  })

  it('publishes undici\'s request lifecycle with undici\'s payload shapes', async function () {
    const seen = await watch(async () => {
      const res = await undici.request(`${server.origin}/diag?x=1`, {
        dispatcher: agent, method: 'POST', body: 'hello', headers: { 'x-mine': 'a' }
      })
      assert.equal(await res.body.text(), 'body:hello')
    })
    const ours = seen.filter((s) => s.message.request && s.message.request.path === '/diag?x=1')
    const names = ours.map((s) => s.name)
    assert.deepEqual(names.filter((n) => n !== 'undici:request:bodyChunkSent' && n !== 'undici:request:bodyChunkReceived'), [
      'undici:request:create',
      'undici:client:sendHeaders',
      'undici:request:bodySent',
      'undici:request:headers',
      'undici:request:trailers'
    ])
    assert.ok(names.includes('undici:request:bodyChunkReceived'))

    const { request } = ours[0].message
    assert.equal(request.origin, server.origin)
    assert.equal(request.method, 'POST')
    assert.equal(request.path, '/diag?x=1')
    assert.ok(Array.isArray(request.headers))
    assert.equal(request.headers[request.headers.indexOf('x-mine') + 1], 'a')
    assert.equal(typeof request.addHeader, 'function')
    assert.equal(request.completed, true)

    const send = ours.find((s) => s.name === 'undici:client:sendHeaders').message
    assert.equal(typeof send.headers, 'string')
    assert.match(send.headers, /^POST \/diag\?x=1 HTTP\/1\.1\r\n/)
    assert.match(send.headers, /x-mine: a\r\n/)

    const { response } = ours.find((s) => s.name === 'undici:request:headers').message
    assert.equal(response.statusCode, 200)
    assert.equal(response.statusText, 'OK')
    assert.ok(response.headers.every((h) => Buffer.isBuffer(h)))
    const raw = response.headers.map(String)
    assert.equal(raw[raw.indexOf('x-reply') + 1], 'yes')

    const chunks = ours.filter((s) => s.name === 'undici:request:bodyChunkReceived').map((s) => s.message.chunk)
    assert.equal(Buffer.concat(chunks).toString(), 'body:hello')
    assert.ok(Array.isArray(ours.find((s) => s.name === 'undici:request:trailers').message.trailers))
  })

  it('request.addHeader in undici:request:create reaches the server', async function () {
    const inject = ({ request }) => request.addHeader('traceparent', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01')
    dc.subscribe('undici:request:create', inject)
    try {
      const res = await undici.request(`${server.origin}/inject`, { dispatcher: agent })
      await res.body.dump()
    } finally {
      dc.unsubscribe('undici:request:create', inject)
    }
    assert.equal(received.traceparent, '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01')
  })

  it('publishes undici:request:error with the error', async function () {
    const port = await closedPort()
    let caught
    const seen = await watch(async () => {
      await assert.rejects(undici.request(`http://127.0.0.1:${port}/gone`, { dispatcher: agent }), (err) => {
        caught = err
        return true
      })
    })
    const errors = seen.filter((s) => s.name === 'undici:request:error' && s.message.request.path === '/gone')
    assert.equal(errors.length, 1)
    assert.equal(errors[0].message.error, caught)
    assert.equal(errors[0].message.error.code, 'ECONNREFUSED')
  })
})
