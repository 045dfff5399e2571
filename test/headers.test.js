'use strict'

// Request headers: the accepted shapes, the exact header set on the wire,
// and the validation that rejects a request before anything is sent.

const assert = require('node:assert/strict')
const { Readable } = require('node:stream')
const undici = require('undici')
const { createAgent } = require('./support/agent')
const { startCaptureServer, startRawServer } = require('./support/servers')
const { collect, sleep } = require('./support/collect')

const { InvalidArgumentError, NotSupportedError } = undici.errors

// Values of header `name` (case-insensitive) in a captured request, in order.
function values (req, name) {
  return req.headers.filter(([k]) => k.toLowerCase() === name).map(([, v]) => v)
}

function names (req) {
  return req.headers.map(([k]) => k.toLowerCase())
}

describe('request headers', function () {
  let server
  let agent

  beforeEach(async function () {
    server = await startCaptureServer()
    agent = createAgent()
  })

  afterEach(async function () {
    await agent.close()
    await server.close()
  })

  async function send (opts) {
    const r = await collect(agent, { origin: server.origin, path: '/', method: 'GET', ...opts })
    assert.equal(r.error, null, `request failed: ${r.error && r.error.stack}`)
    assert.equal(r.statusCode, 200)
    assert.equal(server.requests.length, 1)
    return server.requests[0]
  }

  describe('request target', function () {
    it('an absolute URL as path is sent as the request target; the Host is the origin\'s', async function () {
      const req = await send({ path: 'http://example.com/a?b=1' })
      assert.equal(req.path, 'http://example.com/a?b=1')
      assert.deepEqual(values(req, 'host'), [new URL(server.origin).host])
    })

    it('a path that is neither absolute nor starts with a slash: InvalidArgumentError, nothing sent', async function () {
      const r = await collect(agent, { origin: server.origin, path: 'a/b', method: 'GET' })
      assert.ok(r.error instanceof undici.errors.InvalidArgumentError, `got ${r.error && r.error.stack}`)
      assert.match(r.error.message, /path/)
      assert.equal(server.requests.length, 0)
    })
  })

  describe('shapes', function () {
    it('accepts an object, with array values sent as repeated headers', async function () {
      const req = await send({ headers: { 'X-One': '1', 'x-multi': ['a', 'b'], 'x-num': 42 } })
      assert.deepEqual(values(req, 'x-one'), ['1'])
      assert.deepEqual(values(req, 'x-multi'), ['a', 'b'])
      assert.deepEqual(values(req, 'x-num'), ['42'])
    })

    it('keeps the header name case given by the user', async function () {
      const req = await send({ headers: { 'X-CamelCase-Name': 'v' } })
      assert.ok(req.headers.some(([k, v]) => k === 'X-CamelCase-Name' && v === 'v'), req.head)
    })

    it('accepts a flat array [name, value, name, value]', async function () {
      const req = await send({ headers: ['a', '1', 'b', '2', 'a', '3'] })
      assert.deepEqual(values(req, 'a'), ['1', '3'])
      assert.deepEqual(values(req, 'b'), ['2'])
    })

    it('accepts a Map', async function () {
      const req = await send({ headers: new Map([['x-a', '1'], ['x-b', '2']]) })
      assert.deepEqual(values(req, 'x-a'), ['1'])
      assert.deepEqual(values(req, 'x-b'), ['2'])
    })

    it('accepts an iterable of [name, value] pairs', async function () {
      function * pairs () {
        yield ['x-gen-a', 'alpha']
        yield ['x-gen-b', 'beta']
      }
      const req = await send({ headers: pairs() })
      assert.deepEqual(values(req, 'x-gen-a'), ['alpha'])
      assert.deepEqual(values(req, 'x-gen-b'), ['beta'])
    })

    it('sends a header with an empty value with an empty value', async function () {
      const req = await send({ headers: { 'x-empty': '', 'x-after': 'z' } })
      assert.deepEqual(values(req, 'x-empty'), [''])
      assert.deepEqual(values(req, 'x-after'), ['z'])
    })

    it('sends a user host header instead of the default one', async function () {
      const req = await send({ headers: { host: 'example.test:1234' } })
      assert.deepEqual(values(req, 'host'), ['example.test:1234'])
    })

    it('sends a latin1 header value as latin1 bytes', async function () {
      const req = await send({ headers: { 'x-latin': 'caf\u00e9' } })
      assert.deepEqual(Buffer.from(values(req, 'x-latin')[0], 'latin1'), Buffer.from([0x63, 0x61, 0x66, 0xe9]))
    })

    it('sends the path verbatim, escapes and all', async function () {
      const path = "/a%20b/%7Euser/x%2Fy;p=1?q=%26&r=1+2&s&t=a/b?c&u=:@!$'()*,"
      const req = await send({ path })
      assert.equal(req.path, path)
    })

    it('serializes opts.query into the path', async function () {
      const req = await send({ path: '/q', query: { a: 'x y', b: ['1', '2'], c: 3 } })
      assert.equal(req.path, '/q?a=x%20y&b=1&b=2&c=3')
    })
  })

  describe('exact header set on the wire', function () {
    // undici's Agent adds `host` and `connection` (keep-alive, or close for
    // HEAD) and, with a body, `content-length` or `transfer-encoding`.
    // Nothing else: no accept, user-agent, expect or content-type.
    const added = new Set(['host', 'connection', 'content-length', 'transfer-encoding'])
    const never = ['accept', 'user-agent', 'expect', 'content-type', 'accept-encoding', 'te', 'proxy-connection']

    function assertOnly (req, user) {
      const got = names(req)
      for (const name of got) {
        assert.ok(user.includes(name) || added.has(name), `unexpected header ${name} in\n${req.head}`)
      }
      for (const name of user) assert.ok(got.includes(name), `missing header ${name} in\n${req.head}`)
      for (const name of never) {
        if (!user.includes(name)) assert.ok(!got.includes(name), `header ${name} must not be sent:\n${req.head}`)
      }
      assert.equal(values(req, 'host').length, 1)
      const connection = values(req, 'connection')
      assert.ok(connection.length <= 1)
      if (connection.length) assert.match(connection[0], /^(keep-alive|close)$/i)
    }

    it('GET without body: user headers plus host only', async function () {
      const req = await send({ headers: { 'x-user': 'v', 'x-other': 'w' } })
      assertOnly(req, ['x-user', 'x-other'])
      assert.deepEqual(values(req, 'host'), [`127.0.0.1:${server.port}`])
      assert.deepEqual(values(req, 'content-length'), [])
      assert.deepEqual(values(req, 'transfer-encoding'), [])
      assert.equal(req.method, 'GET')
      assert.equal(req.path, '/')
    })

    it('POST with a string body: plus content-length, and no default content-type', async function () {
      const req = await send({ method: 'POST', body: 'a=1&b=2', headers: { 'x-user': 'v' } })
      assertOnly(req, ['x-user'])
      assert.deepEqual(values(req, 'content-length'), ['7'])
      assert.deepEqual(values(req, 'transfer-encoding'), [])
      assert.equal(req.body.toString(), 'a=1&b=2')
    })

    it('PUT with a large Buffer body: no expect: 100-continue', async function () {
      const body = Buffer.alloc(2 * 1024 * 1024, 'e')
      const req = await send({ method: 'PUT', body, headers: { 'x-user': 'v' } })
      assertOnly(req, ['x-user'])
      assert.deepEqual(values(req, 'content-length'), [String(body.length)])
      assert.equal(req.body.length, body.length)
    })

    it('POST with a stream body: plus transfer-encoding: chunked', async function () {
      const req = await send({ method: 'POST', body: Readable.from([Buffer.from('abc'), Buffer.from('def')]), headers: { 'x-user': 'v' } })
      assertOnly(req, ['x-user'])
      assert.deepEqual(values(req, 'transfer-encoding'), ['chunked'])
      assert.deepEqual(values(req, 'content-length'), [])
      assert.equal(req.body.toString(), 'abcdef')
    })

    it('a user content-type is sent as given, once', async function () {
      const req = await send({ method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } })
      assertOnly(req, ['content-type'])
      assert.deepEqual(values(req, 'content-type'), ['application/json'])
    })

    it('a user accept header is sent as given, once', async function () {
      const req = await send({ headers: { accept: 'text/html' } })
      assertOnly(req, ['accept'])
      assert.deepEqual(values(req, 'accept'), ['text/html'])
    })
  })

  describe('validation: nothing reaches the server', function () {
    let raw

    beforeEach(async function () {
      raw = await startRawServer((socket) => socket.destroy())
    })

    afterEach(async function () {
      await raw.close()
    })

    async function rejected (opts) {
      const r = await collect(agent, { origin: raw.origin, path: '/', method: 'GET', ...opts })
      assert.equal(r.events[r.events.length - 1], 'error', `expected an error, got ${r.events}`)
      assert.ok(!r.events.includes('responseStart'))
      await sleep(50)
      assert.equal(raw.stats.connections, 0, 'no connection was made')
      assert.equal(raw.stats.bytes, 0, 'no byte was sent')
      return r.error
    }

    function assertInvalidArg (err) {
      assert.ok(err instanceof InvalidArgumentError, `expected InvalidArgumentError, got ${err && err.stack}`)
      assert.equal(err.code, 'UND_ERR_INVALID_ARG')
    }

    const invalidHeaders = {
      'CR in a header name': { 'x-a\rb': 'v' },
      'LF in a header name': { 'x-a\nb': 'v' },
      'a space in a header name': { 'x a': 'v' },
      'an empty header name': { '': 'v' },
      'CR in a header value': { 'x-a': 'v\rw' },
      'LF in a header value': { 'x-a': 'v\nw' },
      'CRLF injection in a header value': { 'x-a': 'v\r\nInjected: 1' },
      'NUL in a header value': { 'x-a': 'v\0w' },
      'a character above U+00FF in a header value': { 'x-a': 'snow \u2603' },
      'CRLF in an array header value': { 'x-a': ['ok', 'v\r\nw'] },
      'an object as a header value': { 'x-a': { b: 1 } },
      'transfer-encoding': { 'transfer-encoding': 'chunked' },
      'Transfer-Encoding (any case)': { 'Transfer-Encoding': 'chunked' },
      'keep-alive': { 'keep-alive': 'timeout=5' },
      upgrade: { upgrade: 'websocket' },
      'two host headers': ['host', 'a.test', 'Host', 'b.test'],
      'a non-numeric content-length': { 'content-length': '12abc' }
    }

    for (const [label, headers] of Object.entries(invalidHeaders)) {
      it(`rejects ${label} with InvalidArgumentError`, async function () {
        assertInvalidArg(await rejected({ headers }))
      })
    }

    it('rejects two content-length headers with InvalidArgumentError', async function () {
      assertInvalidArg(await rejected({ method: 'POST', body: 'x', headers: ['content-length', '1', 'Content-Length', '1'] }))
    })

    it('rejects headers of a wrong type (a string, an odd array)', async function () {
      assertInvalidArg(await rejected({ headers: 'x-a: 1' }))
      assertInvalidArg(await rejected({ headers: ['x-a', '1', 'x-b'] }))
    })

    it('rejects an expect header with NotSupportedError', async function () {
      const err = await rejected({ method: 'POST', body: 'x', headers: { expect: '100-continue' } })
      assert.ok(err instanceof NotSupportedError, `expected NotSupportedError, got ${err && err.stack}`)
      assert.equal(err.code, 'UND_ERR_NOT_SUPPORTED')
    })

    it('rejects an ftp:// origin', async function () {
      const r = await collect(agent, { origin: `ftp://127.0.0.1:${raw.port}`, path: '/', method: 'GET' })
      assert.deepEqual(r.events.slice(-1), ['error'])
      assertInvalidArg(r.error)
      await sleep(50)
      assert.equal(raw.stats.connections, 0)
    })

    it('rejects an origin that is not a URL', async function () {
      const r = await collect(agent, { origin: 'not a url', path: '/', method: 'GET' })
      assert.deepEqual(r.events.slice(-1), ['error'])
      // undici: TypeError ERR_INVALID_URL from new URL()
      assert.ok(r.error instanceof Error)
      assert.ok(['ERR_INVALID_URL', 'UND_ERR_INVALID_ARG'].includes(r.error.code), `code ${r.error.code}`)
    })

    it('rejects a missing origin', async function () {
      const r = await collect(agent, { path: '/', method: 'GET' })
      assert.deepEqual(r.events.slice(-1), ['error'])
      assertInvalidArg(r.error)
    })

    it('rejects a path that does not start with /', async function () {
      assertInvalidArg(await rejected({ path: 'relative/path' }))
      assertInvalidArg(await rejected({ path: '' }))
    })

    it('rejects a path with a space or a control character', async function () {
      assertInvalidArg(await rejected({ path: '/a b' }))
      assertInvalidArg(await rejected({ path: '/a\r\nX-Injected: 1' }))
    })

    it('rejects an invalid method', async function () {
      assertInvalidArg(await rejected({ method: 'GE T' }))
      assertInvalidArg(await rejected({ method: '' }))
      assertInvalidArg(await rejected({ method: 'GET\r\n' }))
      assertInvalidArg(await rejected({ method: undefined }))
    })

    it('rejects a query together with a path that has one', async function () {
      const err = await rejected({ path: '/a?b=1', query: { c: '2' } })
      assert.ok(err instanceof Error) // undici: a plain Error
    })

    it('rejects a query value that cannot be encoded (lone surrogate)', async function () {
      const err = await rejected({ query: { a: '\ud800' } })
      assert.ok(err instanceof Error) // undici: URIError ERR_INVALID_URI
    })

    it('rejects a body of a wrong type', async function () {
      assertInvalidArg(await rejected({ method: 'POST', body: 12345 }))
    })
  })
})
