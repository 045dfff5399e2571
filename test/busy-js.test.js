'use strict'

// A busy JS thread delays callbacks; it never turns into a false timeout.
// The server runs in another process, so that it answers on time while this
// thread is blocked (a server on this thread could not answer, and a timeout
// would then be right).

const assert = require('node:assert/strict')
const { spawn } = require('node:child_process')
const { once } = require('node:events')
const undici = require('undici')
const { createAgent } = require('./support/agent')

// node:http in a child: /slow waits 50 ms, then answers; /drip sends 64
// chunks of 64 KiB 10 ms apart.
async function startChildServer () {
  const code = `
    const http = require('node:http')
    const chunk = Buffer.alloc(65536, 'd')
    const s = http.createServer((req, res) => {
      if (req.url === '/slow') return setTimeout(() => res.end('late but in time'), 50)
      if (req.url === '/drip') {
        res.setHeader('content-length', 64 * chunk.length)
        let i = 0
        const t = setInterval(() => { res.write(chunk); if (++i === 64) { clearInterval(t); res.end() } }, 10)
        return
      }
      res.end('ok')
    })
    s.listen(0, '127.0.0.1', () => process.stdout.write(s.address().port + '\\n'))
    process.stdin.on('end', () => process.exit(0)).resume()`
  const child = spawn(process.execPath, ['-e', code], { stdio: ['pipe', 'pipe', 'inherit'] })
  const [line] = await once(child.stdout, 'data')
  return { origin: `http://127.0.0.1:${String(line).trim()}`, close: () => { child.stdin.end(); return once(child, 'exit') } }
}

function block (ms) {
  const end = Date.now() + ms
  while (Date.now() < end) { /* a large JSON.parse, a synchronous crypto call */ }
}

describe('busy JS thread', function () {
  this.timeout(20000)
  let server
  let agent

  before(async function () { server = await startChildServer() })
  after(async function () { await server.close() })
  afterEach(async function () { await agent.close() })

  it('a request dispatched just before 900 ms of blocking succeeds with headersTimeout 300', async function () {
    agent = createAgent({ headersTimeout: 300 })
    for (let i = 0; i < 3; i++) {
      const p = undici.request(`${server.origin}/slow`, { dispatcher: agent })
      block(900)
      const { statusCode, body } = await p
      assert.equal(statusCode, 200)
      assert.equal(await body.text(), 'late but in time')
    }
  })

  // 4 MiB to a handler that never pauses: while the thread is blocked the
  // response window (1 MiB) fills, the worker stops reading, and that wait
  // is the owner's, not the server's.
  it('a body whose chunks arrive while the thread is blocked succeeds with bodyTimeout 100', async function () {
    agent = createAgent({ bodyTimeout: 100 })
    let received = 0
    const done = new Promise((resolve, reject) => {
      agent.dispatch({ origin: server.origin, path: '/drip', method: 'GET' }, {
        onRequestStart () {},
        onResponseStart () { block(600) },  // most of the body arrives meanwhile, 10 ms apart
        onResponseData (controller, chunk) { received += chunk.length },
        onResponseEnd () { resolve() },
        onResponseError (controller, err) { reject(err) }
      })
    })
    await done
    assert.equal(received, 64 * 65536)
  })

  it('a connection made while the thread is blocked succeeds with connectTimeout 200', async function () {
    agent = createAgent({ connectTimeout: 200 })
    const p = undici.request(server.origin, { dispatcher: agent })
    block(700)
    const { body } = await p
    assert.equal(await body.text(), 'ok')
  })
})
