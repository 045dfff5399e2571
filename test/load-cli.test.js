'use strict'

// `curl-dispatcher load`: the command, run as a child process against
// loopback servers. Bad flags exit 2 before any request; an unreachable
// target is one line and exit 1; --json prints the documented shape;
// failed requests make the exit status 1 unless --allow-errors.

const assert = require('node:assert/strict')
const path = require('node:path')
const { execFile } = require('node:child_process')
const { kind } = require('./support/agent')
const { startServer, startRawServer, closedPort } = require('./support/servers')
const { checkResultShape } = require('./support/load-shape')

const BIN = path.join(__dirname, '..', 'bin', 'curl-dispatcher')

function run (args) {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 60000 }, (err, stdout, stderr) => {
      resolve({ code: err ? err.code : 0, stdout, stderr })
    })
  })
}

describe('load command', function () {
  this.timeout(60000)
  let server
  before(async function () {
    if (kind === 'undici') this.skip()
    server = await startServer((req, res) => res.end('hello world!'))
  })
  after(async () => { if (server) await server.close() })

  it('bad, unknown or contradictory flags: a message and exit 2, nothing sent', async () => {
    const u = server.url
    const cases = [
      [['load', '--nope', u], /unknown option --nope/],
      [['load', '-x', u], /unknown option -x/],
      [['load'], /missing URL/],
      [['load', u, u], /one URL only/],
      [['load', '-c', 'abc', u], /--connections needs a positive integer/],
      [['load', '-c', '1.5', u], /--connections needs a positive integer/],
      [['load', '-d', '-1', u], /--duration needs a positive number/],
      [['load', '-c'], /--connections needs a value/],
      [['load', '--json=1', u], /takes no value/],
      [['load', '-a', '10', '-d', '2', u], /duration or amount/],
      [['load', '-p', '4', u], /needs h2/],
      [['load', '--insecure', '--ca', '/etc/hostname', u], /contradict/],
      [['load', '--socket-path', '/tmp/s', '--proxy', 'http://127.0.0.1:1', u], /contradict/],
      [['load', '--ca', '/nonexistent/ca.pem', u], /cannot read/],
      [['load', '-H', 'novalue', u], /--headers needs/],
      [['load', '-m', 'GE T', u], /method/],
      [['load', 'ftp://example/'], /http: or https:/],
      [['load', '-c', '2', '-c', '3', u], /given twice/],
      [['fire', u], /unknown command "fire"/]
    ]
    for (const [args, re] of cases) {
      const r = await run(args)
      assert.equal(r.code, 2, `${args.join(' ')}: exit ${r.code}\n${r.stderr}`)
      assert.match(r.stderr, re, args.join(' '))
      assert.equal(r.stdout, '', args.join(' '))
    }
    assert.equal(server.stats.requests, 0)
  })

  it('--requests FILE: templates cycled in order; a bad file is exit 2', async () => {
    const fs = require('node:fs')
    const os = require('node:os')
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cd-load-cli-'))
    const file = path.join(dir, 'requests.json')
    fs.writeFileSync(file, JSON.stringify([{ path: '/one' }, { method: 'POST', path: '/two', body: 'b' }]))
    const seen = []
    const s = await startServer((req, res) => { seen.push(`${req.method} ${req.url}`); req.resume(); req.on('end', () => res.end('ok')) })
    try {
      const r = await run(['load', '-a', '6', '-c', '1', '--requests', file, s.url])
      assert.equal(r.code, 0, r.stderr)
      assert.deepEqual(seen, ['GET /one', 'POST /two', 'GET /one', 'POST /two', 'GET /one', 'POST /two'])
      fs.writeFileSync(file, '[{"path": "nope"}]')
      const bad = await run(['load', '-a', '6', '--requests', file, s.url])
      assert.equal(bad.code, 2)
      assert.match(bad.stderr, /requests\[0\]\.path must start with \//)
      fs.writeFileSync(file, '{ not json')
      const worse = await run(['load', '-a', '6', '--requests', file, s.url])
      assert.equal(worse.code, 2)
      assert.match(worse.stderr, /--requests: cannot read/)
      assert.equal(seen.length, 6)
    } finally {
      await s.close()
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  it('--help', async () => {
    const r = await run(['load', '--help'])
    assert.equal(r.code, 0)
    assert.match(r.stdout, /Usage: curl-dispatcher load/)
    for (const flag of ['--connections', '--duration', '--amount', '--method', '--headers', '--body', '--pipelining',
      '--rate', '--json', '--timeout', '--threads', '--h2', '--insecure', '--ca', '--socket-path', '--proxy', '--allow-errors', '--requests']) {
      assert.ok(r.stdout.includes(flag), flag)
    }
  })

  it('-a 1000 --json: exactly 1000 requests, and the documented shape', async () => {
    const before = server.stats.requests
    const r = await run(['load', '-a', '1000', '-c', '8', '--threads', '2', '-H', 'x-test: yes', '-j', server.url])
    assert.equal(r.code, 0, r.stderr)
    assert.equal(server.stats.requests - before, 1000)
    const result = JSON.parse(r.stdout)
    checkResultShape(result)
    assert.equal(result.requests.total, 1000)
    assert.equal(result.connections, 8)
    assert.equal(result.threads, 2)
    assert.equal(r.stderr, '', 'no progress line when stderr is not a TTY')
  })

  it('the summary table: latency, req/s, bytes/s, codes', async () => {
    const r = await run(['load', '-d', '1', '-c', '2', '-R', '200', server.url])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /Running 1(\.\d+)?s test @ http:\/\/127\.0\.0\.1:\d+\//)
    assert.match(r.stdout, /│ Latency │/)
    assert.match(r.stdout, /│ Req\/Sec +│/)
    assert.match(r.stdout, /│ Bytes\/Sec │/)
    assert.match(r.stdout, /│ 200 +│/)
    assert.match(r.stdout, /corrected for coordinated omission/)
    assert.match(r.stdout, /requests in [\d.]+s, .* read/)
  })

  it('on a TTY: a progress line once per second (req/s, p99, errors)', async () => {
    const { main } = require('../lib/load/cli')
    let out = ''
    let err = ''
    const io = { stdout: { write: (s) => { out += s } }, stderr: { isTTY: true, write: (s) => { err += s } } }
    const code = await main(['load', '-d', '2.3', '-c', '2', server.url], io)
    assert.equal(code, 0)
    const lines = err.split('\r\x1b[K').filter(Boolean)
    assert.ok(lines.length >= 2 && lines.length <= 3, JSON.stringify(err))
    for (const l of lines) assert.match(l, /^ {2}\d+s {2}[\d,]+ req\/s {2}.+\/s {2}p99 [\d.]+ ms {2}errors 0$/)
    assert.ok(err.endsWith('\r\x1b[K'), 'the line is cleared before the summary')
    assert.match(out, /│ Latency │/)
  })

  it('Ctrl-C stops the run and prints what was done', async () => {
    // The signal goes when the run is under way (the server has seen a
    // request), not after a fixed delay: under ASan or valgrind the child
    // can take longer than any fixed delay to start.
    const { spawn } = require('node:child_process')
    const { once } = require('node:events')
    let firstRequest
    const started = new Promise((resolve) => { firstRequest = resolve })
    const busy = await startServer((req, res) => { firstRequest(); res.end('hello world!') })
    try {
      const child = spawn(process.execPath, [BIN, 'load', '-d', '60', '-c', '2', '-j', busy.url], { stdio: ['ignore', 'pipe', 'pipe'] })
      let stdout = ''
      child.stdout.on('data', (d) => { stdout += d })
      const closed = once(child, 'close')
      await started
      const t0 = Date.now()
      await new Promise((resolve) => setTimeout(resolve, 500))
      child.kill('SIGINT')
      const [code] = await closed
      assert.equal(code, 0)
      assert.ok(Date.now() - t0 < 10000, 'the run stops soon after the signal')
      const result = JSON.parse(stdout)
      assert.ok(result.requests.total > 0)
      assert.ok(result.duration >= 0.45 && result.duration < 10, `duration ${result.duration}`)
    } finally {
      await busy.close()
    }
  })

  it('--h2 on http: (h2c): works with libcurl 8, a clear exit 2 with libcurl 7', async () => {
    const http2 = require('node:http2')
    const h2c = http2.createServer()
    let streams = 0
    h2c.on('stream', (stream) => { streams++; stream.respond({ ':status': 200 }); stream.end('ok') })
    h2c.listen(0, '127.0.0.1')
    await require('node:events').once(h2c, 'listening')
    try {
      const r = await run(['load', '--h2', '-a', '50', '-c', '1', '-p', '5', `http://127.0.0.1:${h2c.address().port}/`])
      if (r.code === 2) {
        assert.match(r.stderr, /h2c\) needs libcurl 8\.0 or later/)
        assert.equal(streams, 0)
      } else {
        assert.equal(r.code, 0, r.stderr)
        assert.equal(streams, 50)
      }
    } finally {
      h2c.close()
    }
  })

  it('an unreachable target: one line and exit 1, no table', async () => {
    const port = await closedPort()
    const r = await run(['load', '-d', '30', `http://127.0.0.1:${port}/`])
    assert.equal(r.code, 1)
    assert.equal(r.stdout, '')
    const lines = r.stderr.trim().split('\n')
    assert.equal(lines.length, 1, r.stderr)
    assert.match(lines[0], /cannot reach http:\/\/127\.0\.0\.1:\d+\/: connection refused/)
    const dns = await run(['load', '-a', '5', 'http://nonexistent.invalid/'])
    assert.equal(dns.code, 1)
    assert.match(dns.stderr, /cannot reach http:\/\/nonexistent\.invalid\/: DNS failure/)
  })

  it('failed requests: counted by kind, exit 1 unless --allow-errors', async () => {
    // every second request on a connection is reset
    const raw = await startRawServer((socket) => {
      let n = 0
      socket.on('data', (c) => {
        if (!c.toString('latin1').includes('\r\n\r\n')) return
        if (++n % 2 === 0) socket.resetAndDestroy()
        else socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok')
      })
    })
    try {
      const r = await run(['load', '-a', '40', '-c', '2', raw.url])
      assert.equal(r.code, 1)
      assert.match(r.stdout, /│ reset +│/)
      assert.match(r.stderr, /requests? failed \(first: connection reset or closed/)
      const ok = await run(['load', '-a', '40', '-c', '2', '--allow-errors', '--json', raw.url])
      assert.equal(ok.code, 0, ok.stderr)
      const result = JSON.parse(ok.stdout)
      assert.ok(result.errorsByKind.reset > 0)
      assert.equal(result.errors, result.errorsByKind.reset)
      assert.equal(result.requests.sent, 40)
    } finally {
      await raw.close()
    }
  })
})
