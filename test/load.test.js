'use strict'

// load(): the engine's load generator from JS, against loopback servers
// that count what they receive or fail on purpose. Behaviour, not speed:
// exact counts, templates in order, status classes, error kinds, the rate
// and its corrected latency, HTTP/2, validation before anything is sent.

const assert = require('node:assert/strict')
const fs = require('node:fs')
const http = require('node:http')
const http2 = require('node:http2')
const os = require('node:os')
const path = require('node:path')
const { once } = require('node:events')
const { errors } = require('undici')
const { kind } = require('./support/agent')
const { getCerts } = require('./support/certs')
const { startServer, startTlsServer, startRawServer, startBlackholeServer, closedPort } = require('./support/servers')
const { checkResultShape } = require('./support/load-shape')
const { startSocksServer } = require('./support/socks')

const { load } = require('..')

describe('load', function () {
  this.timeout(60000)
  before(function () {
    if (kind === 'undici') this.skip()  // curl-dispatcher's own feature
  })

  let server
  afterEach(async () => {
    if (server) await server.close()
    server = null
  })

  it('amount: sends exactly that many requests, over two workers, on kept-alive connections', async () => {
    server = await startServer((req, res) => res.end('hello world!'))
    const r = await load({ url: server.url, amount: 1000, connections: 10, threads: 2 })
    assert.equal(server.stats.requests, 1000)
    assert.equal(r.requests.total, 1000)
    assert.equal(r.requests.sent, 1000)
    assert.equal(r['2xx'], 1000)
    assert.equal(r.latency.totalCount, 1000)
    assert.equal(r.errors, 0)
    assert.equal(r.threads, 2)
    assert.ok(server.stats.connections <= 10, `${server.stats.connections} connections`)
    assert.ok(r.throughput.total > 1000 * 12, 'bytes of heads and bodies')
    checkResultShape(r)
  })

  it('two runs at once, on the same workers, each exact', async () => {
    server = await startServer((req, res) => res.end('one'))
    const other = await startServer((req, res) => res.end('two'))
    try {
      const [a, b] = await Promise.all([
        load({ url: server.url, amount: 600, connections: 4, threads: 2 }),
        load({ url: other.url, amount: 800, connections: 6, threads: 2 })
      ])
      assert.equal(a['2xx'], 600)
      assert.equal(b['2xx'], 800)
      assert.equal(server.stats.requests, 600)
      assert.equal(other.stats.requests, 800)
    } finally {
      await other.close()
    }
  })

  it('cycles the request templates in order: method, path, headers, body', async () => {
    const seen = []
    server = await startServer((req, res) => {
      let body = ''
      req.setEncoding('latin1')
      req.on('data', (c) => { body += c })
      req.on('end', () => {
        seen.push({ method: req.method, url: req.url, t: req.headers['x-t'], body, ct: req.headers['content-type'], expect: req.headers.expect, auth: req.headers.authorization })
        res.end('ok')
      })
    })
    const r = await load({
      url: `${server.url}/base`,
      connections: 1,
      amount: 30,
      headers: { authorization: 'Bearer x' },
      requests: [
        {},
        { path: '/b', method: 'POST', body: 'x'.repeat(2000) },
        { path: '/c?q=1', headers: { 'x-t': 'three' } },
        { path: '/d', method: 'HEAD' },
        { path: '/e', body: 'get with a body' }
      ]
    })
    assert.equal(r.requests.total, 30)
    assert.equal(seen.length, 30)
    for (let i = 0; i < 30; i++) {
      const s = seen[i]
      assert.equal(s.auth, 'Bearer x')
      assert.equal(s.expect, undefined, 'no Expect: 100-continue')
      switch (i % 5) {
        case 0: assert.deepEqual([s.method, s.url, s.body], ['GET', '/base', '']); break
        case 1:
          assert.deepEqual([s.method, s.url, s.body.length], ['POST', '/b', 2000])
          assert.equal(s.ct, undefined, 'no form content-type of curl\'s own')
          break
        case 2: assert.deepEqual([s.method, s.url, s.t], ['GET', '/c?q=1', 'three']); break
        case 3: assert.deepEqual([s.method, s.url], ['HEAD', '/d']); break
        case 4: assert.deepEqual([s.method, s.url, s.body], ['GET', '/e', 'get with a body']); break
      }
    }
  })

  it('counts status classes and codes exactly', async () => {
    server = await startServer((req, res) => {
      res.statusCode = Number(req.url.slice(1))
      res.end()
    })
    const r = await load({
      url: server.url,
      connections: 4,
      threads: 2,
      amount: 400,
      requests: [{ path: '/200' }, { path: '/302' }, { path: '/404' }, { path: '/503' }]
    })
    assert.equal(r['2xx'], 100)
    assert.equal(r['3xx'], 100)
    assert.equal(r['4xx'], 100)
    assert.equal(r['5xx'], 100)
    assert.equal(r['1xx'], 0)
    assert.equal(r.non2xx, 300)
    assert.deepEqual(r.statusCodeStats, { 200: { count: 100 }, 302: { count: 100 }, 404: { count: 100 }, 503: { count: 100 } })
    assert.equal(r.errors, 0)
  })

  it('counts resets and timeouts by kind', async () => {
    // Answers /ok; resets the connection on /reset.
    server = await startRawServer((socket) => {
      let buf = ''
      socket.on('data', (c) => {
        buf += c.toString('latin1')
        let i
        while ((i = buf.indexOf('\r\n\r\n')) >= 0) {
          const head = buf.slice(0, i)
          buf = buf.slice(i + 4)
          if (head.startsWith('GET /reset')) {
            socket.resetAndDestroy()
            return
          }
          socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok')
        }
      })
    })
    const r = await load({ url: server.url, connections: 2, amount: 100, requests: [{ path: '/ok' }, { path: '/reset' }] })
    assert.equal(r.requests.sent, 100)
    assert.equal(r.requests.total, 50)
    assert.equal(r.errors, 50)
    assert.equal(r.errorsByKind.reset, 50)
    assert.equal(r.timeouts, 0)
    assert.equal(r.firstError.kind, 'reset')
    await server.close()

    server = await startBlackholeServer()
    const t0 = Date.now()
    const t = await load({ url: server.url, connections: 3, amount: 3, timeout: 0.3 })
    assert.ok(Date.now() - t0 >= 280)
    assert.equal(t.timeouts, 3)
    assert.equal(t.errors, 3)
    assert.equal(t.errorsByKind.timeout, 3)
    assert.equal(t.requests.total, 0)
  })

  it('a refused connection ends the run at once, with the reason', async () => {
    const port = await closedPort()
    const t0 = Date.now()
    const r = await load({ url: `http://127.0.0.1:${port}/`, duration: 30, connections: 8, threads: 2 })
    assert.ok(Date.now() - t0 < 5000, 'not the 30 s asked for')
    assert.equal(r.requests.total, 0)
    assert.ok(r.errors >= 1)
    assert.equal(r.errorsByKind.refused, r.errors)
    assert.equal(r.firstError.kind, 'refused')
    assert.match(r.firstError.message, /connect/i)
  })

  it('TLS: an unknown CA is a TLS error; ca or insecure get through', async () => {
    const certs = getCerts()
    server = await startTlsServer((req, res) => res.end('tls'), { key: certs.serverKey, cert: certs.serverCert })
    const bad = await load({ url: server.url, amount: 5, connections: 1 })
    assert.equal(bad.requests.total, 0)
    assert.equal(bad.firstError.kind, 'tls')
    const good = await load({ url: server.url, amount: 50, connections: 2, ca: certs.ca })
    assert.equal(good['2xx'], 50)
    const insecure = await load({ url: server.url, amount: 50, connections: 2, insecure: true })
    assert.equal(insecure['2xx'], 50)
    assert.equal(good.errors + insecure.errors, 0)
  })

  it('rate: holds the offered rate within 5 % over 3 s', async () => {
    server = await startServer((req, res) => res.end('ok'))
    const r = await load({ url: server.url, rate: 200, duration: 3, connections: 10, threads: 2 })
    const n = server.stats.requests
    assert.ok(Math.abs(n - 600) <= 30, `${n} requests for 600 offered`)
    assert.equal(r.requests.total, n)
    assert.equal(r.corrected, true)
    assert.equal(r.rate, 200)
  })

  it('rate: latency counts from the intended start, so a stall shows (coordinated omission)', async () => {
    let count = 0
    const stallAt = 40
    const handler = (req, res) => {
      if (++count === stallAt) setTimeout(() => res.end('late'), 600)
      else res.end('ok')
    }
    server = await startServer(handler)
    const r = await load({ url: server.url, rate: 100, duration: 3, connections: 2 })
    // The stalled connection's requests due during the stall wait for it:
    // ~30 of ~300 are late by 600..0 ms.
    assert.ok(Math.abs(r.requests.total - 300) <= 15, `${r.requests.total} requests`)
    assert.ok(r.latency.max >= 590, `max ${r.latency.max} ms`)
    assert.ok(r.latency.p99 >= 300, `corrected p99 ${r.latency.p99} ms`)
    assert.equal(r.corrected, true)
    // The same stall without a rate: one slow answer among thousands.
    count = 0
    const u = await load({ url: server.url, duration: 2, connections: 2 })
    assert.ok(u.latency.max >= 590, `max ${u.latency.max} ms`)
    assert.ok(u.latency.p99 < 300, `uncorrected p99 ${u.latency.p99} ms`)
    assert.equal(u.corrected, false)
  })

  it('HTTP/2: streams multiplexed on the connections asked for', async () => {
    const certs = getCerts()
    const h2 = http2.createSecureServer({ key: certs.serverKey, cert: certs.serverCert, allowHTTP1: false })
    let sessions = 0
    let streams = 0
    let inflight = 0
    let maxInflight = 0
    h2.on('session', () => sessions++)
    h2.on('stream', (stream) => {
      streams++
      maxInflight = Math.max(maxInflight, ++inflight)
      // a little later, so that streams overlap
      setTimeout(() => {
        inflight--
        stream.respond({ ':status': 200 })
        stream.end('h2')
      }, 5)
    })
    h2.listen(0, '127.0.0.1')
    await once(h2, 'listening')
    try {
      const r = await load({ url: `https://localhost:${h2.address().port}/`, h2: true, ca: certs.ca, amount: 500, connections: 2, pipelining: 10 })
      assert.equal(r['2xx'], 500)
      assert.equal(streams, 500)
      assert.equal(r.http, '2')
      assert.equal(sessions, 2)
      assert.ok(maxInflight > 2 && maxInflight <= 20, `${maxInflight} streams in flight at most`)
      assert.equal(r.pipelining, 10)
    } finally {
      h2.close()
      await once(h2, 'close').catch(() => {})
    }
  })

  it('a Unix socket target', async function () {
    const sock = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'cd-load-')), 's')
    let n = 0
    const s = http.createServer((req, res) => { n++; res.end('unix') })
    s.listen(sock)
    await once(s, 'listening')
    try {
      const r = await load({ url: 'http://localhost/x', socketPath: sock, amount: 100, connections: 4 })
      assert.equal(r['2xx'], 100)
      assert.equal(n, 100)
    } finally {
      s.close()
    }
  })

  it('through an HTTP proxy and a SOCKS5 proxy', async () => {
    server = await startServer((req, res) => res.end('proxied'))
    const { createProxy } = await import('proxy')
    const proxy = createProxy(http.createServer())
    let proxied = 0
    proxy.on('request', () => proxied++)
    proxy.on('connect', () => proxied++)
    proxy.listen(0, '127.0.0.1')
    await once(proxy, 'listening')
    const socks = await startSocksServer()
    try {
      const r = await load({ url: server.url, proxy: `http://127.0.0.1:${proxy.address().port}`, amount: 50, connections: 2 })
      assert.equal(r['2xx'], 50)
      assert.equal(server.stats.requests, 50)
      assert.ok(proxied >= 1, 'the proxy carried them')
      const s = await load({ url: server.url, proxy: `socks5://127.0.0.1:${socks.port}`, amount: 50, connections: 2 })
      assert.equal(s['2xx'], 50)
      assert.equal(server.stats.requests, 100)
      assert.ok(socks.stats.targets.length >= 1, 'the SOCKS proxy carried them')
    } finally {
      proxy.close()
      proxy.closeAllConnections?.()
      await socks.close()
    }
  })

  it('progress once per second, and a signal stops the run', async () => {
    server = await startServer((req, res) => res.end('ok'))
    const progress = []
    const ac = new AbortController()
    setTimeout(() => ac.abort(), 2500)
    const t0 = Date.now()
    const r = await load({ url: server.url, duration: 30, connections: 4, onProgress: (p) => progress.push(p), signal: ac.signal })
    assert.ok(Date.now() - t0 < 6000)
    assert.ok(progress.length >= 2 && progress.length <= 3, `${progress.length} progress calls`)
    for (const p of progress) {
      for (const k of ['elapsed', 'requests', 'bytes', 'total', 'sent', 'errors', 'timeouts', 'inflight', 'p99']) {
        assert.equal(typeof p[k], 'number', k)
      }
    }
    assert.ok(progress[1].total > progress[0].total)
    assert.ok(r.requests.total >= progress[progress.length - 1].total)
    assert.ok(r.duration >= 2 && r.duration < 5, `duration ${r.duration}`)
  })

  it('a worker_thread that ends in the middle of a run lets go of it', async () => {
    const { Worker } = require('node:worker_threads')
    let n = 0
    server = await startServer((req, res) => { n++; res.end('ok') })
    const w = new Worker(`
      const { parentPort, workerData } = require('node:worker_threads')
      const { load } = require(workerData.module)
      load({ url: workerData.url, duration: 60, connections: 4, threads: 2 })
      setTimeout(() => parentPort.postMessage('running'), 300)
    `, { eval: true, workerData: { module: require.resolve('..'), url: server.url } })
    await once(w, 'message')
    await w.terminate()
    const atEnd = n
    await new Promise((resolve) => setTimeout(resolve, 300))
    assert.ok(atEnd > 0, 'the run was going')
    assert.ok(n - atEnd <= 8, `${n - atEnd} requests after the worker ended`)
    // the main thread's runs still work
    const r = await load({ url: server.url, amount: 20, connections: 2 })
    assert.equal(r['2xx'], 20)
  })

  it('bad options: InvalidArgumentError, and nothing is sent', async () => {
    server = await startServer((req, res) => res.end('ok'))
    const cases = [
      [{ url: server.url, nope: 1 }, /unknown option "nope"/],
      [{ url: server.url, amount: 10, duration: 1 }, /duration or amount/],
      [{ url: 'ftp://x/' }, /http: or https:/],
      [{ url: 'not a url' }, /not a valid URL/],
      [{ url: server.url, pipelining: 4 }, /needs h2/],
      [{ url: server.url, insecure: true, ca: 'x' }, /contradict/],
      [{ url: server.url, socketPath: '/tmp/x', proxy: 'http://127.0.0.1:1' }, /contradict/],
      [{ url: server.url, connections: 0 }, /connections/],
      [{ url: server.url, rate: -1 }, /rate/],
      [{ url: server.url, requests: [] }, /requests/],
      [{ url: server.url, requests: [{ path: 'nope' }] }, /path/],
      [{ url: server.url, headers: { 'bad name': 'x' } }, /header name/],
      [{ url: server.url, method: 'GE T' }, /method/]
    ]
    for (const [opts, re] of cases) {
      await assert.rejects(load(opts), (err) => err instanceof errors.InvalidArgumentError && re.test(err.message), JSON.stringify(opts))
    }
    assert.equal(server.stats.requests, 0)
  })
})
