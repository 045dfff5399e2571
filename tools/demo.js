#!/usr/bin/env node
'use strict'

// README quick-start demo: the same 2000 GETs (32 in flight) through
// curl-dispatcher's Agent and through undici's own Agent, both driven by
// undici.request(), against a small Node server on 127.0.0.1. A first
// impression only; bench/run.js is the real measurement.
//
//   npm run demo          (or: node tools/demo.js)
// CD_TEST_AGENT=undici runs undici's Agent in place of ours (as the tests
// do), to check the demo itself where the addon is not built.

const { fork } = require('node:child_process')

const REQUESTS = 2000
const CONCURRENCY = 32
const WARMUP = 500
const ROUNDS = 3

// The server runs in a child process so it does not share the clients'
// event loop (and CPU time) with them.
function serve () {
  const http = require('node:http')
  const body = Buffer.from('hello world\n')
  const server = http.createServer({ keepAliveTimeout: 30000 }, (req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length })
    res.end(body)
  })
  server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }))
  process.on('disconnect', () => process.exit(0))
}

async function drive (undici, dispatcher, url, count) {
  let next = 0
  let bytes = 0
  async function lane () {
    while (next < count) {
      next++
      const { statusCode, body } = await undici.request(url, { dispatcher })
      const text = await body.text()
      if (statusCode !== 200) throw new Error(`unexpected status ${statusCode}`)
      bytes += text.length
    }
  }
  const t0 = process.hrtime.bigint()
  await Promise.all(Array.from({ length: CONCURRENCY }, lane))
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9
  return { seconds, rps: count / seconds, bytes }
}

// Warm both up (connections, JIT of the shared undici.request() path), then
// alternate them over a few rounds so neither gains from going first, and
// keep each one's median round.
async function compare (undici, agents, url) {
  for (const a of agents) await drive(undici, a.dispatcher, url, WARMUP)
  const runs = agents.map(() => [])
  for (let round = 0; round < ROUNDS; round++) {
    for (let i = 0; i < agents.length; i++) runs[i].push(await drive(undici, agents[i].dispatcher, url, REQUESTS))
  }
  return runs.map((r) => r.sort((a, b) => a.rps - b.rps)[Math.floor(r.length / 2)])
}

async function main () {
  const undici = require('undici')
  const standIn = process.env.CD_TEST_AGENT === 'undici'
  let OurAgent
  try {
    OurAgent = standIn ? undici.Agent : require('..').Agent
    if (typeof OurAgent !== 'function') throw new Error('index.js exports no Agent')
  } catch (err) {
    console.error(`demo: cannot load curl-dispatcher: ${err.message.split('\n')[0]}`)
    console.error('demo: build it first with `npm run setup`')
    process.exitCode = 1
    return
  }
  if (standIn) console.log('(CD_TEST_AGENT=undici: "curl-dispatcher" below is undici\'s Agent)')

  const server = fork(__filename, ['--serve'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  // The demo must end even if something hangs.
  const watchdog = setTimeout(() => {
    console.error('demo: took longer than 30 s, giving up')
    server.kill()
    process.exit(1)
  }, 30000).unref()
  try {
    const { port } = await new Promise((resolve, reject) => {
      server.once('message', resolve)
      server.once('exit', (code) => reject(new Error(`server exited with ${code}`)))
    })
    const url = `http://127.0.0.1:${port}/`
    console.log(`${REQUESTS} GETs, ${CONCURRENCY} in flight, via undici.request() to ${url} (median of ${ROUNDS} alternating rounds)`)
    const agents = [
      { name: 'curl-dispatcher Agent', dispatcher: new OurAgent() },
      { name: 'undici Agent', dispatcher: new undici.Agent() }
    ]
    let results
    try {
      results = await compare(undici, agents, url)
    } finally {
      await Promise.all(agents.map((a) => a.dispatcher.close()))
    }
    agents.forEach((a, i) => {
      const r = results[i]
      console.log(`${a.name.padEnd(22)} ${REQUESTS} requests in ${r.seconds.toFixed(3)} s  ${Math.round(r.rps).toString().padStart(6)} req/s`)
    })
    const [ours, theirs] = results
    const ratio = ours.rps / theirs.rps
    console.log(`curl-dispatcher did ${ratio.toFixed(2)}x the requests per second of undici's Agent on this run ` +
      '(loopback, tiny responses, one run: see `npm run bench` for real figures).')
  } finally {
    clearTimeout(watchdog)
    server.kill()
  }
}

if (process.argv[2] === '--serve') {
  serve()
} else {
  main().catch((err) => {
    console.error('demo: ' + (err && err.stack ? err.stack : err))
    process.exit(1)
  })
}
