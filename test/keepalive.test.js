'use strict'

// Idle keep-alive connections are closed by the client when keepAliveTimeout
// (or a shorter server hint) says, with no further request, and the agent's
// `disconnect` event comes then.

const assert = require('node:assert/strict')
const undici = require('undici')
const { createAgent } = require('./support/agent')
const { startRawServer, readRequestHead } = require('./support/servers')
const { sleep } = require('./support/collect')

// Answers every request on a connection with "ok" and `extra` header lines;
// counts the connections open right now.
async function startCounting (extra = '') {
  const server = await startRawServer(async (socket) => {
    server.open++
    socket.on('close', () => { server.open--; server.closedAt.push(Date.now()) })
    for (;;) {
      try { await readRequestHead(socket) } catch { return }
      if (socket.destroyed) return
      socket.write(`HTTP/1.1 200 OK\r\ncontent-length: 2\r\n${extra}\r\nok`)
    }
  })
  server.open = 0
  server.closedAt = []
  return server
}

async function waitClosed (server, limit) {
  const end = Date.now() + limit
  while (server.open > 0) {
    if (Date.now() > end) throw new Error(`${server.open} connection(s) still open after ${limit} ms`)
    await sleep(10)
  }
}

describe('idle connections', function () {
  this.timeout(20000)
  let agent

  afterEach(async function () { await agent?.close() })

  it('close within keepAliveTimeout plus 1 s of the last response, with disconnect events then', async function () {
    const server = await startCounting()
    try {
      agent = createAgent({ keepAliveTimeout: 500 })
      const disconnects = []
      agent.on('disconnect', (origin) => disconnects.push({ origin: String(origin), at: Date.now() }))
      await Promise.all([0, 1, 2].map(() => undici.request(server.url, { dispatcher: agent }).then((r) => r.body.text())))
      const done = Date.now()
      assert.equal(server.open, 3)
      await sleep(300)
      assert.equal(server.open, 3, 'closed before keepAliveTimeout')
      await waitClosed(server, 3000)
      for (const at of server.closedAt) assert.ok(at - done < 1500, `closed ${at - done} ms after the last response`)
      await sleep(100)
      assert.equal(disconnects.length, 3)
      for (const d of disconnects) assert.ok(d.at - done < 1600, `disconnect ${d.at - done} ms after the last response`)
      // the agent goes on with a new connection
      const { body } = await undici.request(server.url, { dispatcher: agent })
      assert.equal(await body.text(), 'ok')
    } finally {
      await server.close()
    }
  })

  it('a shorter Keep-Alive: timeout= from the server wins, less keepAliveTimeoutThreshold', async function () {
    const server = await startCounting('keep-alive: timeout=3\r\n')
    try {
      agent = createAgent({ keepAliveTimeout: 10000, keepAliveTimeoutThreshold: 2500 })
      const { body } = await undici.request(server.url, { dispatcher: agent })
      await body.text()
      const done = Date.now()
      await waitClosed(server, 5000)
      const after = server.closedAt[0] - done
      // 3 s - 2.5 s = 500 ms, far below the agent's 10 s
      assert.ok(after >= 300 && after < 2000, `closed ${after} ms after the response`)
    } finally {
      await server.close()
    }
  })

  it('a hint shorter than the threshold closes the connection after its response', async function () {
    const server = await startCounting('keep-alive: timeout=1\r\n')
    try {
      agent = createAgent({ keepAliveTimeout: 10000 })
      const { body } = await undici.request(server.url, { dispatcher: agent })
      await body.text()
      const done = Date.now()
      await waitClosed(server, 3000)
      assert.ok(server.closedAt[0] - done < 500, `closed ${server.closedAt[0] - done} ms after the response`)
      const again = await undici.request(server.url, { dispatcher: agent })
      assert.equal(await again.body.text(), 'ok')
    } finally {
      await server.close()
    }
  })
})
