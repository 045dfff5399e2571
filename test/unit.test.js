'use strict'

// The JS core's pieces on their own, without a server or the engine:
// the chunked decoder (lib/chunked.js), connect.lookup's resolution
// (lib/lookup.js), the diagnostics payload builders (lib/diagnostics.js)
// and the engine error fields' reading (lib/errors.js). Each is also
// exercised end to end elsewhere; here their edges are pinned one by one.

const assert = require('node:assert/strict')
const { ChunkedDecoder } = require('../lib/chunked')
const { lookupTarget } = require('../lib/lookup')
const { connectionSocket } = require('../lib/diagnostics')
const { mapEngineError, curlCodeOf, errors } = require('../lib/errors')
const {
  HTTP_1_1, HTTP_2_PRIOR_KNOWLEDGE, ERR_HEADERS_OVERFLOW, ERR_BAD_CHUNK, ERR_TLS_HOSTNAME, ERR_NO_MEMORY,
  ERRF_CONNECTED, ERRF_HEADERS, ERRF_CONNECT_STATUS_SHIFT, ERRF_CURL_CODE_SHIFT
} = require('../lib/constants')

function decode (pieces) {
  const data = []
  let ended = 0
  const d = new ChunkedDecoder((bytes) => data.push(Buffer.from(bytes)), () => ended++)
  let error = null
  for (const piece of pieces) {
    error = d.push(Buffer.from(piece, 'latin1'))
    if (error !== null) break
  }
  return { body: Buffer.concat(data).toString('latin1'), ended, error }
}

describe('unit: ChunkedDecoder', function () {
  const wire = '5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nx-trailer: 1\r\n\r\n'

  it('decodes chunks, extensions and a trailer section, and ends once', function () {
    assert.deepEqual(decode([wire]), { body: 'hello world', ended: 1, error: null })
  })

  it('gives the same bytes however the wire is cut, down to one byte at a time', function () {
    for (let cut = 1; cut < wire.length; cut++) {
      assert.deepEqual(decode([wire.slice(0, cut), wire.slice(cut)]), { body: 'hello world', ended: 1, error: null }, `cut at ${cut}`)
    }
    assert.deepEqual(decode([...wire]), { body: 'hello world', ended: 1, error: null })
  })

  it('takes bare LF line ends and upper-case hex sizes', function () {
    assert.deepEqual(decode(['A\nabcdefghij\n0\n\n']), { body: 'abcdefghij', ended: 1, error: null })
  })

  it('does not end before the trailer section does', function () {
    assert.deepEqual(decode(['3\r\nabc\r\n0\r\n']), { body: 'abc', ended: 0, error: null })
  })

  it('ignores what follows the end', function () {
    assert.deepEqual(decode(['1\r\na\r\n0\r\n\r\nGARBAGE']), { body: 'a', ended: 1, error: null })
  })

  it('refuses a malformed size, data without its CRLF, and an endless line', function () {
    assert.equal(decode(['zz\r\n']).error, 'invalid chunk size')
    assert.equal(decode(['-1\r\n']).error, 'invalid chunk size')
    assert.equal(decode(['3\r\nabcX\r\n']).error, 'no CRLF after chunk data')
    assert.equal(decode(['1'.repeat(9000)]).error, 'chunk line too long')
  })
})

describe('unit: lookupTarget (connect.lookup)', function () {
  const target = { hostname: 'svc.test', port: '8080' }
  const agentWith = (lookup, connectTimeout = 1000) => ({ lookup, lookupAll: true, connectTimeout })
  const run = (agent) => new Promise((resolve) => lookupTarget(agent, target, (err, list) => resolve({ err, list })))

  it('lists every address, IPv6 ones in brackets, and asks for all of them', async function () {
    let asked
    const { err, list } = await run(agentWith((name, opts, cb) => {
      asked = { name, all: opts.all, family: opts.family }
      cb(null, [{ address: '10.0.0.1', family: 4 }, { address: '::1', family: 6 }, '10.0.0.2'])
    }))
    assert.equal(err, null)
    assert.deepEqual(list, ['10.0.0.1', '[::1]', '10.0.0.2'])
    assert.deepEqual(asked, { name: 'svc.test', all: true, family: 0 })
  })

  it('takes the single-address callback shape too', async function () {
    const { list } = await run(agentWith((name, opts, cb) => cb(null, '127.0.0.1', 4)))
    assert.deepEqual(list, ['127.0.0.1'])
  })

  it('an answer without an IP address is ENOTFOUND, as getaddrinfo says it', async function () {
    const { err, list } = await run(agentWith((name, opts, cb) => cb(null, [{ address: 'not-an-ip' }])))
    assert.equal(list, null)
    assert.equal(err.code, 'ENOTFOUND')
    assert.equal(err.hostname, 'svc.test')
    assert.equal(err.syscall, 'getaddrinfo')
  })

  it('passes the lookup\'s own error, and one that it throws', async function () {
    const failure = Object.assign(new Error('nope'), { code: 'EAI_AGAIN' })
    assert.equal((await run(agentWith((name, opts, cb) => cb(failure)))).err, failure)
    assert.equal((await run(agentWith(() => { throw failure }))).err, failure)
  })

  it('a lookup that never answers ends in ConnectTimeoutError after connectTimeout, and a late answer is ignored', async function () {
    let late
    const started = Date.now()
    const results = []
    await new Promise((resolve) => {
      lookupTarget(agentWith((name, opts, cb) => { late = cb }, 50), target, (err, list) => {
        results.push({ err, list })
        resolve()
      })
    })
    late(null, '127.0.0.1', 4)
    assert.equal(results.length, 1)
    assert.equal(results[0].err.code, 'UND_ERR_CONNECT_TIMEOUT')
    assert.match(results[0].err.message, /svc\.test:8080, timeout: 50ms/)
    assert.ok(Date.now() - started >= 45)
  })

  it('answers once when the lookup calls back twice', async function () {
    const results = []
    lookupTarget(agentWith((name, opts, cb) => { cb(null, '127.0.0.1', 4); cb(null, '127.0.0.2', 4) }), target,
      (err, list) => results.push({ err, list }))
    await new Promise((resolve) => setImmediate(resolve))
    assert.deepEqual(results, [{ err: null, list: ['127.0.0.1'] }])
  })
})

describe('unit: connectionSocket (diagnostics)', function () {
  const norm = (httpVersion = HTTP_1_1) => ({ httpVersion })

  it('a TCP connection: addresses, ports, family, and no alpnProtocol', function () {
    const socket = connectionSocket('127.0.0.1 8080 127.0.0.1 51000', 0, norm())
    assert.deepEqual(socket, { remoteAddress: '127.0.0.1', remotePort: 8080, remoteFamily: 'IPv4', localAddress: '127.0.0.1', localPort: 51000 })
    assert.equal('alpnProtocol' in socket, false)
  })

  it('TLS: encrypted, the protocol agreed, or false without one', function () {
    assert.equal(connectionSocket('::1 443 ::1 5000 h2', 1, norm()).alpnProtocol, 'h2')
    assert.equal(connectionSocket('::1 443 ::1 5000 h2', 1, norm()).remoteFamily, 'IPv6')
    assert.equal(connectionSocket('::1 443 ::1 5000 h2', 1, norm()).encrypted, true)
    assert.equal(connectionSocket('10.0.0.1 443 10.0.0.2 5000', 1, norm()).alpnProtocol, false)
  })

  it('HTTP/2 with prior knowledge: alpnProtocol h2 over plain TCP, as undici\'s h2c socket', function () {
    assert.equal(connectionSocket('127.0.0.1 80 127.0.0.1 5000', 0, norm(HTTP_2_PRIOR_KNOWLEDGE)).alpnProtocol, 'h2')
  })

  it('a Unix socket: no addresses', function () {
    assert.deepEqual(connectionSocket(' 0  0', 0, norm()),
      { remoteAddress: undefined, remotePort: undefined, remoteFamily: undefined, localAddress: undefined, localPort: undefined })
  })
})

describe('unit: engine error fields (lib/errors.js)', function () {
  const target = { hostname: 'example.test', port: '443', connectTimeout: 10000 }
  const curl = (code) => code << ERRF_CURL_CODE_SHIFT
  const map = (code, flags, { errno = 0, verify = 0, message = 'libcurl says' } = {}) =>
    mapEngineError(code, errno, verify, flags, message, target)

  it('curlCodeOf: the CURLcode above the flags and the CONNECT status, 0 for the engine\'s own', function () {
    assert.equal(curlCodeOf(0), 0)
    assert.equal(curlCodeOf(ERRF_CONNECTED | ERRF_HEADERS | (407 << ERRF_CONNECT_STATUS_SHIFT)), 0)
    assert.equal(curlCodeOf(curl(56) | ERRF_CONNECTED), 56)
    assert.equal(curlCodeOf(curl(101) | (4095 << ERRF_CONNECT_STATUS_SHIFT) | ERRF_CONNECTED | ERRF_HEADERS), 101)
  })

  it('the engine\'s classes of libcurl failures, tagged with the CURLcode', function () {
    const overflow = map(ERR_HEADERS_OVERFLOW, curl(56) | ERRF_CONNECTED, { message: 'Too large response headers: 307201 > 307200' })
    assert.ok(overflow instanceof errors.HeadersOverflowError)
    assert.equal(overflow.curlCode, 56)
    const chunk = map(ERR_BAD_CHUNK, curl(56) | ERRF_CONNECTED | ERRF_HEADERS, { message: 'Malformed encoding found in chunked-encoding' })
    assert.ok(chunk instanceof errors.HTTPParserError)
    assert.equal(chunk.code, 'HPE_INVALID_CHUNK_SIZE')
    assert.equal(chunk.message, 'Malformed encoding found in chunked-encoding')
    assert.equal(chunk.curlCode, 56)
    const name = map(ERR_TLS_HOSTNAME, curl(60) | ERRF_CONNECTED)
    assert.equal(name.code, 'ERR_TLS_CERT_ALTNAME_INVALID')
    assert.equal(name.curlCode, 60)
    assert.equal(name.curlMessage, 'libcurl says')
    // a verify result OpenSSL gave names the failure first
    assert.equal(map(ERR_TLS_HOSTNAME, curl(60) | ERRF_CONNECTED, { verify: 10 }).code, 'CERT_HAS_EXPIRED')
  })

  it('the message is never read for the class', function () {
    const recv = map(56, curl(56) | ERRF_CONNECTED | ERRF_HEADERS, { message: 'Too large response headers in chunked-encoding' })
    assert.ok(recv instanceof errors.SocketError)
    assert.equal(recv.message, 'other side closed')
    assert.equal(map(60, curl(60) | ERRF_CONNECTED, { message: 'subject name does not match' }).code, 'ERR_TLS_CERT_VERIFY')
    const oom = map(27, curl(27) | ERRF_CONNECTED | ERRF_HEADERS, { message: 'bad header' })
    assert.ok(!(oom instanceof errors.HeadersOverflowError))
  })

  it('the engine\'s own errors: maxHeaderSize untagged, ERR_NO_MEMORY tagged with its own code', function () {
    const own = map(ERR_HEADERS_OVERFLOW, ERRF_CONNECTED)
    assert.ok(own instanceof errors.HeadersOverflowError)
    assert.equal(own.curlCode, undefined)
    assert.equal(map(ERR_NO_MEMORY, ERRF_CONNECTED, { message: 'out of memory' }).curlCode, ERR_NO_MEMORY)
  })

  it('a refused CONNECT tunnel: the proxy\'s status beside the CURLcode', function () {
    const err = map(56, curl(56) | (407 << ERRF_CONNECT_STATUS_SHIFT) | ERRF_CONNECTED, { message: 'CONNECT tunnel failed, response 407' })
    assert.ok(err instanceof errors.RequestAbortedError)
    assert.equal(err.message, 'Proxy response (407) !== 200 when HTTP Tunneling')
    assert.equal(err.curlCode, 56)
  })
})
