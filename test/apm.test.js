'use strict'

// APM agents that build spans from undici's diagnostics channels, run as
// applications run them (a process of their own, started first, no
// uncaughtException handler): dd-trace and elastic-apm-node, offline.
// The same requests through undici's Agent and through this one, in two
// processes: the spans (and Elastic's captured errors) must be the same.
// test/support/apm-app.js says what is left out of the comparison.

const assert = require('node:assert/strict')
const path = require('node:path')
const { execFile } = require('node:child_process')
const { startServer, closedPort } = require('./support/servers')

const APP = path.join(__dirname, 'support', 'apm-app.js')

function runApp (apm, agentKind, origin, port) {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [APP, apm, agentKind, origin, String(port)], {
      // dd-trace: no agent to reach, no instrumentation telemetry
      env: { ...process.env, DD_TRACE_STARTUP_LOGS: 'false', DD_INSTRUMENTATION_TELEMETRY_ENABLED: 'false' },
      timeout: 30000
    }, (err, stdout, stderr) => {
      if (err) return reject(Object.assign(err, { message: `${err.message}\n${stderr}` }))
      const line = stdout.trim().split('\n').pop()
      resolve(JSON.parse(line))
    })
  })
}

describe('APM agents on undici\'s channels', function () {
  this.timeout(60000)
  let server

  before(async function () {
    server = await startServer((req, res) => {
      req.resume()
      req.on('end', () => {
        res.statusCode = req.url === '/fail' ? 500 : 200
        res.end('ok')
      })
    })
  })

  after(async function () {
    await server.close()
  })

  for (const apm of ['dd-trace', 'elastic-apm-node']) {
    it(`${apm}: the same spans as with undici's Agent, and the process lives`, async function () {
      const port = await closedPort()
      const theirs = await runApp(apm, 'undici', server.origin, port)
      const ours = await runApp(apm, 'ours', server.origin, port)
      assert.deepEqual(theirs.statuses, [200, 200, 500, 'ECONNREFUSED'])
      assert.deepEqual(ours.statuses, theirs.statuses)
      assert.deepEqual(ours.collected, theirs.collected)
      const spans = apm === 'dd-trace' ? ours.collected : ours.collected.spans
      assert.equal(spans.length, 4, JSON.stringify(spans))
    })
  }
})
