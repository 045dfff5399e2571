'use strict'

// The `proxy` option: HTTP and HTTPS forward proxies (the npm `proxy`
// package, a real proxy server), SOCKS4/4a/5/5h (test/support/socks.js),
// 'env' and the proxy errors. With CD_TEST_AGENT=undici the HTTP proxy
// cases run on undici's ProxyAgent, which checks the expectations.

const assert = require('node:assert/strict')
const http = require('node:http')
const https = require('node:https')
const { once } = require('node:events')
const undici = require('undici')
const { kind, createAgent } = require('./support/agent')
const { startServer, startTlsServer, closedPort } = require('./support/servers')
const { startSocksServer } = require('./support/socks')
const { getCerts } = require('./support/certs')

const { errors } = undici

async function startProxy ({ tls = null, auth = null } = {}) {
  const { createProxy } = await import('proxy')
  const server = createProxy(tls ? https.createServer(tls) : http.createServer())
  const seen = []
  server.on('request', (req) => seen.push({ method: req.method, url: req.url, headers: req.headers }))
  server.on('connect', (req) => seen.push({ method: 'CONNECT', url: req.url, headers: req.headers }))
  if (auth) {
    server.authenticate = (req) => req.headers['proxy-authorization'] === `Basic ${Buffer.from(auth).toString('base64')}`
  }
  const sockets = new Set()
  server.on('connection', (s) => { sockets.add(s); s.once('close', () => sockets.delete(s)) })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address()
  return {
    port,
    seen,
    url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    async close () {
      const done = new Promise((resolve) => server.close(resolve))
      for (const s of sockets) s.destroy()
      await done
    }
  }
}

// Our Agent with `proxy`; undici's ProxyAgent for what it can do too.
function proxiedAgent (proxy, extra = {}) {
  if (kind === 'undici') {
    const opts = typeof proxy === 'string' ? { uri: proxy } : { ...proxy }
    if (extra.connect) opts.requestTls = extra.connect
    if (opts.proxyTls === undefined) delete opts.proxyTls
    if (opts.tunnel === false) opts.proxyTunnel = false
    delete opts.tunnel
    return new undici.ProxyAgent(opts)
  }
  return createAgent({ proxy, ...extra })
}

async function get (agent, url, opts = {}) {
  const res = await undici.request(url, { dispatcher: agent, ...opts })
  return { status: res.statusCode, headers: res.headers, body: await res.body.text() }
}

describe('proxies', function () {
  this.timeout(10000)
  let origin
  let tlsOrigin
  let certs

  before(async function () {
    certs = getCerts()
    const handler = (req, res) => {
      res.setHeader('x-seen-host', req.headers.host)
      res.setHeader('x-proxy-auth', req.headers['proxy-authorization'] ?? 'none')
      res.end(`${req.method} ${req.url} via ${req.socket.remoteAddress}`)
    }
    origin = await startServer(handler)
    tlsOrigin = await startTlsServer(handler, { key: certs.serverKey, cert: certs.serverCert })
  })

  after(async function () {
    await origin.close()
    await tlsOrigin.close()
  })

  describe('HTTP proxy', function () {
    let proxy
    let agent

    beforeEach(async function () {
      proxy = await startProxy()
    })
    afterEach(async function () {
      await agent?.close()
      agent = null
      await proxy.close()
    })

    it('an http: origin goes through a CONNECT tunnel by default, as undici', async function () {
      agent = proxiedAgent(proxy.url)
      const res = await get(agent, `${origin.origin}/a?b=1`)
      assert.equal(res.status, 200)
      assert.equal(res.body, 'GET /a?b=1 via 127.0.0.1')
      assert.equal(res.headers['x-seen-host'], `127.0.0.1:${origin.port}`)
      assert.deepEqual(proxy.seen.map((s) => [s.method, s.url]), [['CONNECT', `127.0.0.1:${origin.port}`]])
    })

    it('tunnel: false sends http: requests in absolute form', async function () {
      agent = proxiedAgent({ uri: proxy.url, tunnel: false })
      const res = await get(agent, `${origin.origin}/plain`)
      assert.equal(res.status, 200)
      assert.equal(res.body, 'GET /plain via 127.0.0.1')
      assert.deepEqual(proxy.seen.map((s) => [s.method, s.url]), [['GET', `${origin.origin}/plain`]])
    })

    it('an https: origin goes through CONNECT, with TLS end to end', async function () {
      agent = proxiedAgent(proxy.url, { connect: { ca: certs.ca } })
      const res = await get(agent, `${tlsOrigin.origin}/secure`)
      assert.equal(res.status, 200)
      assert.equal(res.body, 'GET /secure via 127.0.0.1')
      assert.deepEqual(proxy.seen.map((s) => s.method), ['CONNECT'])
    })

    it('POST bodies and many requests reuse the tunnel', async function () {
      agent = proxiedAgent(proxy.url)
      for (let i = 0; i < 5; i++) {
        const res = await get(agent, `${origin.origin}/p${i}`, { method: 'POST', body: 'x'.repeat(1000) })
        assert.equal(res.body, `POST /p${i} via 127.0.0.1`)
      }
      // undici's ProxyAgent opens a second tunnel here; ours keeps one
      if (kind === 'undici') assert.ok(proxy.seen.length < 5)
      else assert.equal(proxy.seen.length, 1, 'one CONNECT for five requests')
    })

    it('headers for the proxy reach the proxy only', async function () {
      agent = proxiedAgent({ uri: proxy.url, headers: { 'x-for-proxy': 'yes' } })
      const res = await get(agent, `${origin.origin}/h`)
      assert.equal(res.status, 200)
      assert.equal(proxy.seen[0].headers['x-for-proxy'], 'yes')
      assert.equal(res.headers['x-proxy-auth'], 'none')
    })
  })

  describe('proxy authentication', function () {
    let proxy
    let agent

    before(async function () {
      proxy = await startProxy({ auth: 'user:s3cret' })
    })
    afterEach(async function () {
      await agent?.close()
      agent = null
    })
    after(async function () {
      await proxy.close()
    })

    it('credentials in the proxy URL', async function () {
      if (kind === 'undici') this.skip() // ProxyAgent takes them through `token`
      agent = proxiedAgent(`http://user:s3cret@127.0.0.1:${proxy.port}`)
      const res = await get(agent, `${origin.origin}/u`)
      assert.equal(res.body, 'GET /u via 127.0.0.1')
    })

    it('a token (Proxy-Authorization value)', async function () {
      agent = proxiedAgent({ uri: proxy.url, token: `Basic ${Buffer.from('user:s3cret').toString('base64')}` })
      const plain = await get(agent, `${origin.origin}/t`)
      assert.equal(plain.body, 'GET /t via 127.0.0.1')
      assert.equal(plain.headers['x-proxy-auth'], 'none', 'the origin never sees the proxy credentials')
    })

    it('a 407 from the proxy fails the request as undici does', async function () {
      agent = proxiedAgent(proxy.url)
      await assert.rejects(get(agent, `${origin.origin}/denied`), (err) => {
        assert.ok(err instanceof errors.RequestAbortedError, `${err.name}: ${err.message}`)
        assert.equal(err.code, 'UND_ERR_ABORTED')
        assert.equal(err.message, 'Proxy response (407) !== 200 when HTTP Tunneling')
        return true
      })
    })

    it('wrong credentials: 407 as well', async function () {
      agent = proxiedAgent({ uri: proxy.url, token: `Basic ${Buffer.from('user:wrong').toString('base64')}` })
      await assert.rejects(get(agent, `${origin.origin}/denied`), /Proxy response \(407\)/)
    })
  })

  describe('HTTPS proxy', function () {
    let proxy
    let agent

    before(async function () {
      proxy = await startProxy({ tls: { key: certs.serverKey, cert: certs.serverCert } })
    })
    afterEach(async function () {
      await agent?.close()
      agent = null
    })
    after(async function () {
      await proxy.close()
    })

    it('TLS to the proxy, verified with proxyTls.ca', async function () {
      agent = proxiedAgent({ uri: proxy.url, proxyTls: { ca: certs.ca } })
      const res = await get(agent, `${origin.origin}/over-tls`)
      assert.equal(res.body, 'GET /over-tls via 127.0.0.1')
      assert.equal(proxy.seen[0].method, 'CONNECT')
    })

    it('an https: origin through an https proxy (TLS in TLS)', async function () {
      agent = proxiedAgent({ uri: proxy.url, proxyTls: { ca: certs.ca } }, { connect: { ca: certs.ca } })
      const res = await get(agent, `${tlsOrigin.origin}/nested`)
      assert.equal(res.body, 'GET /nested via 127.0.0.1')
    })

    it('an untrusted proxy certificate fails the request', async function () {
      agent = proxiedAgent({ uri: proxy.url })
      const before = proxy.seen.length
      await assert.rejects(get(agent, `${origin.origin}/x`), (err) => {
        assert.match(`${err.code} ${err.message}`, /CERT|certificate|SSL|self.signed/i)
        return true
      })
      assert.equal(proxy.seen.length, before, 'nothing reached the proxy')
    })
  })

  describe('proxy failures', function () {
    it('a proxy that refuses connections: ECONNREFUSED', async function () {
      const port = await closedPort()
      const agent = proxiedAgent(`http://127.0.0.1:${port}`)
      try {
        await assert.rejects(get(agent, `${origin.origin}/x`), (err) => {
          assert.equal(err.code, 'ECONNREFUSED')
          return true
        })
      } finally {
        await agent.close()
      }
    })
  })

  describe('SOCKS', function () {
    let agent
    let socks

    beforeEach(function () {
      if (kind === 'undici') this.skip() // undici has no SOCKS support
    })
    afterEach(async function () {
      await agent?.close()
      agent = null
      await socks?.close()
      socks = null
    })

    for (const scheme of ['socks5', 'socks5h', 'socks4', 'socks4a']) {
      it(`${scheme}:// to an http: origin by name`, async function () {
        socks = await startSocksServer()
        agent = createAgent({ proxy: `${scheme}://127.0.0.1:${socks.port}` })
        const url = `http://localhost:${origin.port}/via-${scheme}`
        const res = await get(agent, url)
        assert.equal(res.status, 200)
        assert.equal(res.body, `GET /via-${scheme} via 127.0.0.1`)
        const [target] = socks.stats.targets
        // the "h" and "a" variants let the proxy resolve the name
        const remoteName = scheme === 'socks5h' || scheme === 'socks4a'
        assert.equal(target.host, remoteName ? 'localhost' : '127.0.0.1')
        assert.equal(target.port, origin.port)
      })
    }

    // libcurl >= 8.2.1 resolves localhost itself to ::1 first and SOCKS5
    // sends only the first address (lib/proxy.js): localhost names go to
    // 127.0.0.1 on every libcurl, the TLS name and Host header stay.
    it('socks5:// to an https: origin by name: the proxy gets 127.0.0.1, TLS checks localhost', async function () {
      socks = await startSocksServer()
      agent = createAgent({ proxy: `socks5://127.0.0.1:${socks.port}`, connect: { ca: certs.ca } })
      const res = await get(agent, `https://localhost:${tlsOrigin.port}/socks5-tls-name`)
      assert.equal(res.status, 200)
      assert.equal(res.body, 'GET /socks5-tls-name via 127.0.0.1')
      assert.deepEqual(socks.stats.targets.map((t) => [t.host, t.port]), [['127.0.0.1', tlsOrigin.port]])
    })

    it("socks5:// from proxy: 'env', to a *.localhost origin: the proxy gets 127.0.0.1, the server the name", async function () {
      socks = await startSocksServer()
      const saved = process.env.http_proxy
      process.env.http_proxy = `socks5://127.0.0.1:${socks.port}`
      try {
        agent = createAgent({ proxy: 'env' })
      } finally {
        if (saved === undefined) delete process.env.http_proxy
        else process.env.http_proxy = saved
      }
      const res = await get(agent, `http://app.localhost:${origin.port}/socks5-sub`)
      assert.equal(res.status, 200)
      assert.equal(res.headers['x-seen-host'], `app.localhost:${origin.port}`)
      assert.deepEqual(socks.stats.targets.map((t) => [t.host, t.port]), [['127.0.0.1', origin.port]])
    })

    it('socks5 with username and password, to an https: origin', async function () {
      socks = await startSocksServer({ auth: { username: 'sock', password: 'pa:ss' } })
      agent = createAgent({ proxy: `socks5://sock:pa%3Ass@127.0.0.1:${socks.port}`, connect: { ca: certs.ca } })
      const res = await get(agent, `${tlsOrigin.origin}/socks-tls`)
      assert.equal(res.body, 'GET /socks-tls via 127.0.0.1')
      assert.deepEqual(socks.stats.authAttempts, [{ user: 'sock', ok: true }])
    })

    it('socks5 with wrong credentials fails the request', async function () {
      socks = await startSocksServer({ auth: { username: 'sock', password: 'right' } })
      agent = createAgent({ proxy: `socks5://sock:wrong@127.0.0.1:${socks.port}` })
      await assert.rejects(get(agent, `${origin.origin}/x`), (err) => {
        assert.ok(err instanceof Error)
        return true
      })
      assert.deepEqual(socks.stats.authAttempts, [{ user: 'sock', ok: false }])
      assert.equal(socks.stats.targets.length, 0)
    })
  })

  describe("proxy: 'env'", function () {
    let proxy
    const saved = {}
    const names = ['http_proxy', 'HTTP_PROXY', 'https_proxy', 'HTTPS_PROXY', 'no_proxy', 'NO_PROXY']

    before(async function () {
      if (kind === 'undici') this.skip()
      proxy = await startProxy()
      for (const n of names) saved[n] = process.env[n]
    })
    afterEach(function () {
      for (const n of names) {
        if (saved[n] === undefined) delete process.env[n]
        else process.env[n] = saved[n]
      }
    })
    after(async function () {
      await proxy?.close()
    })

    function setEnv (vars) {
      for (const n of names) delete process.env[n]
      Object.assign(process.env, vars)
    }

    it('HTTP_PROXY is used for http: origins', async function () {
      setEnv({ HTTP_PROXY: proxy.url })
      const agent = createAgent({ proxy: 'env' })
      try {
        const res = await get(agent, `${origin.origin}/env`)
        assert.equal(res.body, 'GET /env via 127.0.0.1')
        assert.equal(proxy.seen.at(-1).url, `127.0.0.1:${origin.port}`)
      } finally {
        await agent.close()
      }
    })

    it('NO_PROXY entries (host, host:port, *) bypass the proxy', async function () {
      for (const noProxy of ['127.0.0.1', `127.0.0.1:${origin.port}`, '*', 'example.com, 127.0.0.1']) {
        setEnv({ http_proxy: `http://127.0.0.1:${await closedPort()}`, NO_PROXY: noProxy })
        const agent = createAgent({ proxy: 'env' })
        try {
          const res = await get(agent, `${origin.origin}/direct`)
          assert.equal(res.body, 'GET /direct via 127.0.0.1', `NO_PROXY=${noProxy}`)
        } finally {
          await agent.close()
        }
      }
    })

    it('a NO_PROXY entry for another port does not bypass', async function () {
      setEnv({ http_proxy: proxy.url, NO_PROXY: '127.0.0.1:1' })
      const agent = createAgent({ proxy: 'env' })
      const before = proxy.seen.length
      try {
        await get(agent, `${origin.origin}/other-port`)
        assert.equal(proxy.seen.length, before + 1)
      } finally {
        await agent.close()
      }
    })

    it('without proxy: "env", proxy variables are ignored (libcurl would read them)', async function () {
      setEnv({ http_proxy: `http://127.0.0.1:${await closedPort()}`, HTTP_PROXY: `http://127.0.0.1:${await closedPort()}` })
      const agent = createAgent()
      try {
        const res = await get(agent, `${origin.origin}/no-env`)
        assert.equal(res.body, 'GET /no-env via 127.0.0.1')
      } finally {
        await agent.close()
      }
    })
  })

  describe('validation', function () {
    before(function () {
      if (kind === 'undici') this.skip()
    })

    for (const [what, proxy, re] of [
      ['an unknown scheme', 'ftp://127.0.0.1:21', /unsupported proxy protocol/],
      ['not a URL', 'not a url', /not a valid URL/],
      ['a path', 'http://127.0.0.1:8080/path', /path/],
      ['a number', 42, /proxy must be|URL/],
      ['token and auth together', { uri: 'http://127.0.0.1:1', token: 'a', auth: 'b' }, /either token or auth/],
      ['a header value with CR/LF', { uri: 'http://127.0.0.1:1', headers: { x: 'a\r\nb: c' } }, /invalid value/]
    ]) {
      it(`refuses ${what} with InvalidArgumentError`, function () {
        assert.throws(() => createAgent({ proxy }), (err) => {
          assert.ok(err instanceof errors.InvalidArgumentError)
          assert.match(err.message, re)
          return true
        })
      })
    }
  })
})
