'use strict'

// HTTP/2 GOAWAY (RFC 9113 §6.8) from node:http2: the streams the server
// will still answer complete, those above its last stream id are sent again
// on a new session when idempotent (libcurl retries refused streams) or fail
// with a SocketError, new requests go to a new session, and the client
// closes the old session's socket once no stream uses it, also while other
// requests keep the agent busy.
//
// A TCP relay in front of the server shows the client's side of each
// connection: node:http2 stops reading a session once it has sent GOAWAY
// and has no stream left (nghttp2 wants no more input), so the server
// itself never sees the client close it.

const assert = require('node:assert/strict')
const http2 = require('node:http2')
const net = require('node:net')
const { once } = require('node:events')
const undici = require('undici')
const { createAgent, kind } = require('./support/agent')
const { getCerts } = require('./support/certs')
const { sleep } = require('./support/collect')

describe('http2 GOAWAY', function () {
  this.timeout(30000)
  let certs
  let server
  let relay
  let origin
  let sessions // server sessions, in order
  let links // relay connections, in order: { closedAt }
  let onStream

  before(async function () {
    certs = getCerts()
    server = http2.createSecureServer({ key: certs.serverKey, cert: certs.serverCert, allowHTTP1: false })
    server.on('session', (session) => {
      session.on('error', () => {})
      session.index = sessions.length
      sessions.push(session)
    })
    server.on('stream', (stream, headers) => {
      stream.on('error', () => {})
      onStream(stream, headers)
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    relay = net.createServer((client) => {
      const link = { closedAt: null }
      links.push(link)
      const upstream = net.connect(server.address().port, '127.0.0.1')
      client.on('error', () => {})
      upstream.on('error', () => {})
      client.on('close', () => { link.closedAt = Date.now(); upstream.destroy() })
      upstream.on('close', () => client.destroy())
      client.pipe(upstream)
      upstream.pipe(client)
    })
    relay.listen(0, '127.0.0.1')
    await once(relay, 'listening')
    origin = `https://127.0.0.1:${relay.address().port}`
  })

  after(async function () {
    relay.close()
    server.close()
  })

  beforeEach(function () {
    sessions = []
    links = []
  })

  function answer (stream, body) {
    if (stream.destroyed || stream.closed) return
    stream.respond({ ':status': 200 })
    stream.end(body)
  }

  function request (path, opts = {}) {
    return undici.request(origin + path, { dispatcher: opts.agent, method: opts.method ?? 'GET', body: opts.body })
      .then(async (r) => ({ status: r.statusCode, body: await r.body.text() }), (err) => ({ err }))
  }

  async function waitFor (what, fn, ms) {
    const end = Date.now() + ms
    while (!fn()) {
      if (Date.now() > end) return false
      await sleep(20)
    }
    return what
  }

  it('with streams in flight: those up to last-stream-id complete, GETs above go again on a new session, a POST above fails, and the old socket is closed once drained', async function () {
    if (kind === 'undici') this.skip() // undici 7.x leaves the requests above last-stream-id hanging (checked: the test times out)
    const agent = createAgent({ allowH2: true, connect: { ca: certs.ca } })
    const held = []
    onStream = (stream, headers) => {
      const path = headers[':path']
      if (stream.session.index === 0 && path.startsWith('/held')) {
        held.push(stream)
        if (held.length === 4) {
          // the first two will be answered; the two above are refused
          const last = held[1].id
          stream.session.goaway(http2.constants.NGHTTP2_NO_ERROR, last)
          setTimeout(() => { answer(held[0], 'kept 0'); answer(held[1], 'kept 1') }, 300)
        }
      } else if (path === '/busy') {
        setTimeout(() => answer(stream, 'busy'), 4000)
      } else {
        answer(stream, `session ${stream.session.index} ${path}`)
      }
    }
    try {
      const results = await Promise.all([
        request('/held/0', { agent }),
        request('/held/1', { agent }),
        request('/held/2', { agent }),
        request('/held/3', { agent, method: 'POST', body: 'not idempotent' })
      ].map(async (p, i) => { await sleep(i * 30); return p }))
      const drainedAt = Date.now()
      // a request that keeps the agent busy (on the new session)
      const busy = request('/busy', { agent })
      assert.deepEqual(results.slice(0, 2), [{ status: 200, body: 'kept 0' }, { status: 200, body: 'kept 1' }])
      assert.equal(results[2].status, 200, results[2].err && results[2].err.stack)
      assert.match(results[2].body, /^session [1-9]\d* \/held\/2$/)
      assert.ok(results[3].err instanceof undici.errors.SocketError, `the POST: ${results[3].err ?? JSON.stringify(results[3])}`)
      assert.match(results[3].err.message, /^other side closed: .*HTTP\/2 GOAWAY.*not idempotent/)
      const after = await request('/after', { agent })
      assert.equal(after.status, 200)
      assert.match(after.body, /^session [1-9]\d* \/after$/)
      // libcurl 7.88 closes it with the last stream; 8.x first waits up to
      // 2 s (its fixed shutdown timeout) for the server to close its side,
      // which node:http2 never does here
      const closed = await waitFor('closed', () => links[0].closedAt !== null, 4000)
      assert.equal(closed, 'closed', 'the old session\'s socket is still open 4 s after its last stream')
      assert.ok(links[0].closedAt - drainedAt < 4000, `closed ${links[0].closedAt - drainedAt} ms after the drain`)
      assert.ok(links.slice(1).every((l) => l.closedAt === null), 'the new session stays open')
      assert.deepEqual(await busy, { status: 200, body: 'busy' })
    } finally {
      await agent.close()
    }
  })

  it('on an idle session while another request keeps the agent busy: the client closes it within a second', async function () {
    const agent = createAgent({ allowH2: true, connect: { ca: certs.ca }, threads: 1 })
    onStream = (stream, headers) => {
      if (headers[':path'] === '/busy') setTimeout(() => answer(stream, 'busy'), 5000)
      else answer(stream, `session ${stream.session.index} ${headers[':path']}`)
    }
    const other = http2.createSecureServer({ key: certs.serverKey, cert: certs.serverCert, allowHTTP1: false })
    other.on('stream', (stream) => { stream.on('error', () => {}); setTimeout(() => answer(stream, 'busy'), 5000) })
    other.listen(0, '127.0.0.1')
    await once(other, 'listening')
    try {
      assert.deepEqual(await request('/first', { agent }), { status: 200, body: 'session 0 /first' })
      // the agent is busy on another origin (same worker: threads: 1)
      const busy = undici.request(`https://127.0.0.1:${other.address().port}/`, { dispatcher: agent }).then((r) => r.body.text())
      await sleep(200)
      const sentAt = Date.now()
      sessions[0].goaway(http2.constants.NGHTTP2_NO_ERROR, 1)
      const closed = await waitFor('closed', () => links[0].closedAt !== null, 1500)
      assert.equal(closed, 'closed', 'the idle session that got GOAWAY is still open')
      assert.ok(links[0].closedAt - sentAt < 1500, `closed after ${links[0].closedAt - sentAt} ms`)
      const next = await request('/next', { agent })
      assert.deepEqual(next, { status: 200, body: 'session 1 /next' })
      assert.equal(await busy, 'busy')
    } finally {
      await agent.close()
      other.close()
    }
  })
})
