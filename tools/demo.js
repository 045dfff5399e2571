#!/usr/bin/env node
'use strict'

// README quick-start demo: races curl-dispatcher's Agent against undici's
// own Agent on what a service would notice, against a Node server on
// 127.0.0.1 in a child process: tiny and large responses through
// undici.request() and undici.fetch(), and a compressed JSON answer through
// fetch(). Each race prints the throughput ratio, the JS thread's CPU per
// request for both Agents, and one line on what it means, so a newcomer
// sees where the engine wins and where it does not. A first impression
// only; bench/run.js is the real measurement.
//
//   npm run demo          (or: node tools/demo.js)
// CD_TEST_AGENT=undici runs undici's Agent in place of ours (as the tests
// do), to check the demo itself where the addon is not built.

const { fork } = require('node:child_process')
const threadCpu = require('../bench/clients/thread-cpu')

const ROUNDS = 3

// Each race: what it fetches, how, and how to read the outcome.
const RACES = [
  {
    title: 'tiny responses (12 B), request(), 32 in flight',
    path: '/small', api: 'request', inFlight: 32, count: 8000,
    meaning: 'per-request overhead: here both clients share two cores with the server, so the ratio stays near 1; ' +
      'our JS thread does a fraction of the work, which is what lets one Node process go further on more cores'
  },
  {
    title: 'large responses (1 MiB), request(), 8 in flight',
    path: '/large', api: 'request', inFlight: 8, count: 500,
    meaning: 'bodies are read and handed over by the worker threads; the JS thread only receives 64 KiB chunks'
  },
  {
    title: 'large responses (1 MiB), fetch(), 8 in flight',
    path: '/large', api: 'fetch', inFlight: 8, count: 500,
    meaning: 'fetch() adds web streams on the JS thread for both Agents; the bytes still arrive without the JS thread reading a socket'
  },
  {
    title: 'gzip JSON (88 KiB decoded), fetch(), 16 in flight',
    path: '/json', api: 'fetch', inFlight: 16, count: 1500, decompress: true,
    meaning: 'ours decodes in the worker (the decompress option) and fetch() gets plain JSON; ' +
      'undici\'s fetch() decodes on the JS thread'
  }
]

// The server runs in a child process so it does not share the clients'
// event loop (and CPU time) with them.
function serve () {
  const http = require('node:http')
  const zlib = require('node:zlib')
  const small = Buffer.from('hello world\n')
  const large = Buffer.alloc(1024 * 1024, 'x')
  const json = Buffer.from(JSON.stringify(Array.from({ length: 700 }, (_, i) => ({
    id: i, name: `item ${i}`, email: `user${i}@example.com`, active: i % 3 !== 0, tags: ['a', 'b', 'c'].slice(0, i % 4)
  }))))
  const jsonGzip = zlib.gzipSync(json, { level: 1 })
  const server = http.createServer({ keepAliveTimeout: 30000 }, (req, res) => {
    if (req.url === '/json') {
      const gzip = /\bgzip\b/.test(req.headers['accept-encoding'] ?? '')
      const body = gzip ? jsonGzip : json
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length, ...(gzip ? { 'content-encoding': 'gzip' } : {}) })
      res.end(body)
      return
    }
    const body = req.url === '/large' ? large : small
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length })
    res.end(body)
  })
  server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port, jsonBytes: json.length }))
  process.on('disconnect', () => process.exit(0))
}

async function fetchOne (undici, api, url, dispatcher) {
  if (api === 'fetch') {
    const res = await undici.fetch(url, { dispatcher })
    const bytes = (await res.arrayBuffer()).byteLength
    return [res.status, bytes]
  }
  const { statusCode, body } = await undici.request(url, { dispatcher })
  let bytes = 0
  for await (const chunk of body) bytes += chunk.length
  return [statusCode, bytes]
}

// `count` requests with `inFlight` at a time; -> { rps, jsUs } (JS thread
// CPU per request, null where /proc cannot tell).
async function drive (undici, race, url, dispatcher, count, expectBytes) {
  let next = 0
  async function lane () {
    while (next < count) {
      next++
      const [status, bytes] = await fetchOne(undici, race.api, url, dispatcher)
      if (status !== 200 || bytes !== expectBytes) throw new Error(`unexpected response: status ${status}, ${bytes} bytes`)
    }
  }
  const cpu0 = threadCpu.sample()
  const t0 = process.hrtime.bigint()
  await Promise.all(Array.from({ length: race.inFlight }, lane))
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9
  const split = threadCpu.between(cpu0, threadCpu.sample())
  return { rps: count / seconds, jsUs: split ? split.jsUs / count : null }
}

function median (runs, key) {
  const values = runs.map((r) => r[key]).filter((v) => v != null).sort((a, b) => a - b)
  return values.length ? values[Math.floor(values.length / 2)] : null
}

// Warm both up (connections, JIT), then alternate them over a few rounds
// so neither gains from going first; medians of the rounds.
async function race (undici, OurAgent, r, origin, jsonBytes) {
  const url = origin + r.path
  const expectBytes = r.path === '/large' ? 1024 * 1024 : r.path === '/json' ? jsonBytes : 12
  const agents = [
    new OurAgent(r.decompress ? { decompress: true } : {}),
    new undici.Agent()
  ]
  try {
    const runs = [[], []]
    for (const a of agents) await drive(undici, r, url, a, Math.ceil(r.count / 4), expectBytes)
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? [0, 1] : [1, 0]
      for (const i of order) runs[i].push(await drive(undici, r, url, agents[i], r.count, expectBytes))
    }
    return runs.map((rs) => ({ rps: median(rs, 'rps'), jsUs: median(rs, 'jsUs') }))
  } finally {
    await Promise.all(agents.map((a) => a.close()))
  }
}

function jsLine (ours, theirs) {
  if (ours.jsUs == null || theirs.jsUs == null) return ''
  return `; JS thread ${ours.jsUs.toFixed(0)} against ${theirs.jsUs.toFixed(0)} µs per request (${(ours.jsUs / theirs.jsUs).toFixed(2)}x)`
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
  if (standIn) {
    console.log('(CD_TEST_AGENT=undici: "curl-dispatcher" below is undici\'s Agent)')
    // undici's Agent has no decompress option: its fetch() decodes instead
    const Plain = OurAgent
    OurAgent = class extends Plain { constructor (opts) { super({ ...opts, decompress: undefined }) } }
  }

  const server = fork(__filename, ['--serve'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  // The demo must end even if something hangs.
  const watchdog = setTimeout(() => {
    console.error('demo: took longer than 120 s, giving up')
    server.kill()
    process.exit(1)
  }, 120000).unref()
  try {
    const { port, jsonBytes } = await new Promise((resolve, reject) => {
      server.once('message', resolve)
      server.once('exit', (code) => reject(new Error(`server exited with ${code}`)))
    })
    const origin = `http://127.0.0.1:${port}`
    console.log(`curl-dispatcher's Agent against undici's Agent, both driven by undici's own request() and fetch(),`)
    console.log(`against a Node server on ${origin} (medians of ${ROUNDS} alternating rounds per race):\n`)
    for (const r of RACES) {
      const [ours, theirs] = await race(undici, OurAgent, r, origin, jsonBytes)
      console.log(`${r.title}`)
      console.log(`  ${(ours.rps / theirs.rps).toFixed(2)}x undici's requests per second ` +
        `(${Math.round(ours.rps)} against ${Math.round(theirs.rps)})${jsLine(ours, theirs)}`)
      console.log(`  ${r.meaning}\n`)
    }
    console.log('One machine, one short run each: `npm run bench` measures every row against nginx and libcurl alone.')
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
