#!/usr/bin/env node
'use strict'

// Benchmark of curl-dispatcher's Agent against undici's own Agent, on
// loopback servers this script starts and stops itself.
//
//   npm run bench                    full: 5 rounds x 5 s per row, 1 s warm-up
//   npm run bench -- --quick         2 rounds x 2 s, 0.5 s warm-up
// Options:
//   --threads N        pass { threads: N } to our Agent (default: left out)
//   --record           also write bench/RESULTS.md
//   --only a,b         run only these scenario ids (see SCENARIOS)
//   --rounds N, --duration S, --warmup S   override the mode's values
//   --server node      use the Node fallback server even if nginx exists
//
// Rows run one at a time, each in a fresh child process (clients/child.js),
// in an order that alternates our Agent and undici's and is reversed every
// other round, so slow drift of the machine (thermal, noisy neighbours)
// affects both sides alike. Figures are medians over the rounds.

const { fork } = require('node:child_process')
const path = require('node:path')
const { startServers, verifyServers, acceptedConnections, FILES, SINK_PATH, SINK_REPLY } = require('./servers')
const { summarize } = require('./stats')
const report = require('./report')
const tools = require('./clients/tools')
const curlMulti = require('./clients/curl-multi')

const SCENARIOS = [
  { id: 'h1-get-12b', title: 'HTTP/1.1 GET 12 B', server: 'http', path: '/12b', concurrency: 64, tool: 'wrk' },
  // Bodies. `streams` adds the stream() and pipeline() rows, which write the
  // body into a Writable that consumes it. Each GET is also run against the
  // same nginx with sendfile off ('mem'), which writes from its own buffers
  // as dynamic servers, Node servers and TLS without kTLS do.
  { id: 'h1-get-64k', title: 'HTTP/1.1 GET 64 KiB', server: 'http', path: '/64k', concurrency: 64, tool: 'wrk', streams: true },
  { id: 'h1-get-64k-mem', title: 'HTTP/1.1 GET 64 KiB, server writes from memory (sendfile off)', server: 'mem', path: '/64k', concurrency: 64, tool: 'wrk', streams: true },
  // The 64 KiB rows' clients hold about 10 MB of live JS; a service holds
  // far more (caches, sessions, state), and V8 sizes its old-generation
  // limit, and so how often it runs full collections, from the live heap.
  { id: 'h1-get-64k-heap', title: 'HTTP/1.1 GET 64 KiB, client with 150 MB of live objects', server: 'http', path: '/64k', concurrency: 64, liveHeapMB: 150, clients: ['ours-dispatch', 'undici-dispatch', 'ours-request', 'undici-request', 'ours-fetch', 'undici-fetch'] },
  { id: 'h1-get-1m', title: 'HTTP/1.1 GET 1 MiB', server: 'http', path: '/1m', concurrency: 16, tool: 'wrk', streams: true },
  { id: 'h1-get-1m-mem', title: 'HTTP/1.1 GET 1 MiB, server writes from memory (sendfile off)', server: 'mem', path: '/1m', concurrency: 16, tool: 'wrk', streams: true },
  // A consumer slower than the network (1 ms per 64 KiB, 64 MB/s per
  // request): throughput is the consumer's; what counts is memory (RSS).
  { id: 'h1-get-1m-slow', title: 'HTTP/1.1 GET 1 MiB into a slow Writable (1 ms per 64 KiB)', server: 'http', path: '/1m', concurrency: 16, consumeUsPer64k: 1000, clients: ['ours-stream', 'undici-stream', 'ours-pipeline', 'undici-pipeline'] },
  { id: 'h1-post-16k', title: 'HTTP/1.1 POST 16 KiB', server: 'http', path: SINK_PATH, method: 'POST', bodySize: 16 * 1024, concurrency: 64, tool: 'wrk' },
  { id: 'h1-put-1m', title: 'HTTP/1.1 PUT 1 MiB from a Buffer', server: 'http', path: SINK_PATH, method: 'PUT', bodySize: 1024 * 1024, concurrency: 16, tool: 'wrk' },
  { id: 'h1-put-1m-file', title: 'HTTP/1.1 PUT 1 MiB from a file stream (fs.createReadStream)', server: 'http', path: SINK_PATH, method: 'PUT', bodySize: 1024 * 1024, bodyFile: '1m', concurrency: 16, clients: ['ours-dispatch', 'undici-dispatch', 'ours-request', 'undici-request', 'ours-fetch', 'undici-fetch'] },
  { id: 'https-get-12b', title: 'HTTPS (HTTP/1.1) GET 12 B', server: 'https', path: '/12b', concurrency: 64, tool: 'wrk' },
  { id: 'h2-get-12b', title: 'HTTP/2 over TLS GET 12 B', server: 'h2', h2: true, path: '/12b', concurrency: 64, tool: 'h2load' },
  { id: 'serial-get-12b', title: 'Serial latency, HTTP/1.1 GET 12 B', server: 'http', path: '/12b', concurrency: 1, tool: 'wrk' },
  // A service does work of its own on each response: 20 µs of synchronous
  // JS per response. Native tools do none, so they are no ceiling here.
  // A JSON API answer (88 KiB) as a service fetches it: compressed by the
  // server (gzip level 1, about 9 KiB), decoded by the client. undici's
  // fetch() decodes on the JS thread; its request() and dispatch with
  // interceptors.decompress(); ours with the decompress option, in the
  // worker. The identity rows are the same answer uncompressed.
  { id: 'json-gzip', title: 'HTTP/1.1 GET 88 KiB JSON, gzip, decoded', server: 'http', path: '/json', concurrency: 32, decompress: true, acceptEncoding: 'gzip', clients: ['ours-request', 'undici-request', 'ours-fetch', 'undici-fetch', 'ours-dispatch', 'undici-dispatch'] },
  { id: 'json-identity', title: 'HTTP/1.1 GET 88 KiB JSON, identity', server: 'http', path: '/json', concurrency: 32, acceptEncoding: 'identity', clients: ['ours-request', 'undici-request', 'ours-fetch', 'undici-fetch'] },
  { id: 'busy-get-12b', title: 'Busy JS thread (20 µs per response), HTTP/1.1 GET 12 B', server: 'http', path: '/12b', concurrency: 64, busyUs: 20, clients: ['ours-dispatch', 'undici-dispatch', 'ours-request', 'undici-request'] },
  // How throughput grows with our worker threads (undici has one thread):
  // on a machine with more cores than workers, each row should gain.
  { id: 'scale-1-origin', title: 'Scaling over threads, one origin, HTTP/1.1 GET 12 B', server: 'http', path: '/12b', concurrency: 256, threadsSweep: [1, 2, 4] },
  { id: 'scale-4-origins', title: 'Scaling over threads, 4 origins, HTTP/1.1 GET 12 B', server: 'origins', path: '/12b', concurrency: 256, threadsSweep: [1, 2, 4] }
]

// Table order: the four main rows, stream() and pipeline() where the scenario
// asks for them, then fetch, then the ceilings
// (wrk or h2load, then libcurl by itself).
const CLIENTS = [
  { id: 'ours-dispatch', agent: 'ours', api: 'dispatch', label: 'curl-dispatcher dispatch' },
  { id: 'ours-request', agent: 'ours', api: 'request', label: 'curl-dispatcher request' },
  { id: 'undici-dispatch', agent: 'undici', api: 'dispatch', label: 'undici Agent dispatch', baseline: true },
  { id: 'undici-request', agent: 'undici', api: 'request', label: 'undici Agent request' },
  { id: 'ours-stream', agent: 'ours', api: 'stream', label: 'curl-dispatcher stream', streams: true },
  { id: 'undici-stream', agent: 'undici', api: 'stream', label: 'undici Agent stream', streams: true },
  { id: 'ours-pipeline', agent: 'ours', api: 'pipeline', label: 'curl-dispatcher pipeline', streams: true },
  { id: 'undici-pipeline', agent: 'undici', api: 'pipeline', label: 'undici Agent pipeline', streams: true },
  { id: 'ours-fetch', agent: 'ours', api: 'fetch', label: 'curl-dispatcher fetch' },
  { id: 'undici-fetch', agent: 'undici', api: 'fetch', label: 'undici Agent fetch' }
]

// Run order within a round: ours and undici alternate (A/B pairs).
const RUN_ORDER = ['ours-dispatch', 'undici-dispatch', 'ours-request', 'undici-request', 'ours-stream', 'undici-stream', 'ours-pipeline', 'undici-pipeline', 'ours-fetch', 'undici-fetch', 'tool', 'curl-multi']

// The rows of one scenario and their run order. A scenario may name its
// clients (no ceiling rows then), or sweep our Agent's thread count
// against undici's dispatch row.
function scenarioRows (scenario, opts) {
  if (scenario.threadsSweep) {
    const ours = scenario.threadsSweep.map((t) => ({
      id: `ours-dispatch-t${t}`, agent: 'ours', api: 'dispatch', label: `curl-dispatcher dispatch, ${t} thread${t === 1 ? '' : 's'}`, threads: t
    }))
    const base = { ...CLIENTS.find((c) => c.id === 'undici-dispatch') }
    // undici's row once per round, between our first two
    const order = ours.map((r) => r.id)
    order.splice(1, 0, base.id)
    return { rows: [...ours, base], order }
  }
  if (scenario.clients) {
    const rows = CLIENTS.filter((c) => scenario.clients.includes(c.id)).map((c) => ({ ...c }))
    return { rows, order: RUN_ORDER.filter((id) => scenario.clients.includes(id)) }
  }
  const clients = CLIENTS.filter((c) => scenario.streams || !c.streams).map((c) => ({ ...c }))
  const rows = [...clients, toolRow(scenario), curlMultiRow(opts)]
  return { rows, order: RUN_ORDER.filter((id) => rows.some((r) => r.id === id)) }
}

function usage (msg) {
  if (msg) process.stderr.write(`bench: ${msg}\n`)
  process.stderr.write('usage: node bench/run.js [--quick] [--record] [--threads N] [--only id,id] [--rounds N] [--duration S] [--warmup S] [--server nginx|node]\n')
  process.stderr.write('scenarios: ' + SCENARIOS.map((s) => s.id).join(', ') + '\n')
  process.exit(msg ? 2 : 0)
}

function parseArgs (argv) {
  const o = { quick: false, record: false, threads: null, only: null, rounds: null, duration: null, warmup: null, server: 'nginx' }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const value = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`)
      return argv[++i]
    }
    const number = () => {
      const n = Number(value())
      if (!Number.isFinite(n) || n <= 0) usage(`${a} needs a positive number`)
      return n
    }
    if (a === '--quick') o.quick = true
    else if (a === '--record') o.record = true
    else if (a === '--threads') o.threads = Math.floor(number())
    else if (a === '--rounds') o.rounds = Math.floor(number())
    else if (a === '--duration') o.duration = number()
    else if (a === '--warmup') o.warmup = number()
    else if (a === '--only') o.only = value().split(',')
    else if (a === '--server') o.server = value()
    else if (a === '--help' || a === '-h') usage()
    else usage(`unknown option ${a}`)
  }
  if (!['nginx', 'node'].includes(o.server)) usage('--server is nginx or node')
  if (o.only) {
    const unknown = o.only.filter((id) => !SCENARIOS.some((s) => s.id === id))
    if (unknown.length) usage(`unknown scenario ${unknown.join(', ')}`)
  }
  const overridden = o.rounds != null || o.duration != null || o.warmup != null
  return {
    ...o,
    mode: (o.quick ? 'quick' : 'full') + (overridden ? ' (overridden)' : ''),
    rounds: o.rounds ?? (o.quick ? 2 : 5),
    durationMs: (o.duration ?? (o.quick ? 2 : 5)) * 1000,
    warmupMs: (o.warmup ?? (o.quick ? 0.5 : 1)) * 1000
  }
}

const CHILD = path.join(__dirname, 'clients', 'child.js')
let currentChild = null

function runChild (cfg, timeoutMs) {
  return new Promise((resolve) => {
    const child = fork(CHILD, [JSON.stringify(cfg)], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] })
    currentChild = child
    let output = ''
    let result = null
    child.stdout.on('data', (d) => { output += d })
    child.stderr.on('data', (d) => { output += d })
    child.on('message', (m) => { result = m })
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      currentChild = null
      if (result) return resolve(result)
      const why = signal ? `killed by ${signal}` : `exited with ${code}`
      const detail = output.trim().split('\n').filter(Boolean).pop() || ''
      resolve({ status: 'error', reason: `client process ${why}${detail ? ': ' + detail : ''}` })
    })
  })
}

function toolRow (scenario) {
  const name = scenario.tool
  const label = `${name} (ceiling)`
  if (!tools.available(name)) return { id: 'tool', label, status: 'unavailable', reason: `${name} not installed (tools/install-bench-deps.sh)` }
  return { id: 'tool', label, tool: name }
}

// bench/curl-multi.c, built at start-up (opts.curlMulti: { binary, caFile }
// or { reason }).
function curlMultiRow (opts) {
  const label = 'libcurl multi (C)'
  if (!opts.curlMulti.binary) return { id: 'curl-multi', label, status: 'unavailable', reason: `libcurl multi (C) not built: ${opts.curlMulti.reason}` }
  return { id: 'curl-multi', label, curlMulti: true }
}

function expectedBytes (scenario) {
  return scenario.path === SINK_PATH ? Buffer.byteLength(SINK_REPLY) : FILES[scenario.path]
}

async function runRound (row, scenario, servers, opts) {
  const urls = scenario.server === 'origins'
    ? servers.origins.map((o) => o + scenario.path)
    : [servers[scenario.server] + scenario.path]
  const url = urls[0]
  if (row.curlMulti) {
    return curlMulti.run({
      binary: opts.curlMulti.binary,
      caFile: opts.curlMulti.caFile,
      url,
      method: scenario.method || 'GET',
      bodySize: scenario.bodySize || 0,
      expectBytes: expectedBytes(scenario),
      concurrency: scenario.concurrency,
      h2: !!scenario.h2,
      warmupMs: opts.warmupMs,
      durationMs: opts.durationMs,
      onSpawn: (c) => { currentChild = c }
    })
  }
  if (row.tool) {
    const run = row.tool === 'wrk' ? tools.runWrk : tools.runH2load
    return run({
      url,
      method: scenario.method || 'GET',
      bodySize: scenario.bodySize || 0,
      concurrency: scenario.concurrency,
      durationMs: opts.durationMs,
      tmpdir: servers.dir,
      onSpawn: (c) => { currentChild = c }
    })
  }
  const cfg = {
    agent: row.agent,
    api: row.api,
    url,
    method: scenario.method || 'GET',
    bodySize: scenario.bodySize || 0,
    expectStatus: 200,
    expectBytes: expectedBytes(scenario),
    concurrency: scenario.concurrency,
    warmupMs: opts.warmupMs,
    durationMs: opts.durationMs,
    ca: servers.ca,
    h2: !!scenario.h2,
    threads: row.threads ?? opts.threads,
    urls: urls.length > 1 ? urls : undefined,
    busyUs: scenario.busyUs || 0,
    decompress: !!scenario.decompress,
    acceptEncoding: scenario.acceptEncoding,
    // the docroot's file of that name: its size is the scenario's bodySize
    bodyFile: scenario.bodyFile ? path.join(servers.dir, 'www', scenario.bodyFile) : undefined,
    consumeUsPer64k: scenario.consumeUsPer64k || 0,
    liveHeapMB: scenario.liveHeapMB || 0
  }
  return runChild(cfg, opts.warmupMs + opts.durationMs + 30000)
}

const told = new Set()

// One line per row and round on stderr; a reason is spelled out once only.
function progress (scenario, round, rounds, row, r) {
  let what
  if (r.status === 'ok') {
    what = `${Math.round(r.rps)} req/s${r.errors ? `, ${r.errors} errors (${r.firstError || 'see JSON'})` : ''}`
  } else {
    const why = [r.reason, r.detail].filter(Boolean).join(': ')
    what = r.status + (why && !told.has(why) ? ': ' + why : '')
    told.add(why)
  }
  process.stderr.write(`  [${scenario.id}] round ${round + 1}/${rounds}  ${row.label.padEnd(26)} ${what}\n`)
}

async function runScenario (scenario, servers, opts) {
  const { rows, order: runOrder } = scenarioRows(scenario, opts)
  for (const row of rows) row.rounds = []
  const byId = new Map(rows.map((r) => [r.id, r]))
  for (let round = 0; round < opts.rounds; round++) {
    const order = round % 2 === 0 ? runOrder : [...runOrder].reverse()
    for (const id of order) {
      const row = byId.get(id)
      // "unavailable"/"skipped" will not change from one round to the next.
      if (row.status === 'unavailable' || row.status === 'skipped') continue
      const before = await acceptedConnections(servers)
      const r = await runRound(row, scenario, servers, opts)
      const after = await acceptedConnections(servers)
      progress(scenario, round, opts.rounds, row, r)
      if (r.status === 'ok') {
        r.conns = after - before - 1
        row.rounds.push(r)
      } else {
        row.failedRounds = (row.failedRounds || 0) + 1
        if (r.status !== 'error' || !row.status) {
          row.status = r.status
          row.reason = r.reason
          row.detail = r.detail
        }
      }
    }
  }
  for (const row of rows) {
    if (row.rounds.length) {
      row.status = 'ok'
      row.summary = summarize(row.rounds)
    }
  }
  const result = { ...scenario, rows }
  report.addRatios(result)
  return result
}

async function main () {
  const opts = parseArgs(process.argv.slice(2))
  try {
    require.resolve('undici')
  } catch {
    console.error('bench: undici is not installed; run `npm install` (or `npm run setup`) first')
    process.exit(1)
  }
  const scenarios = SCENARIOS.filter((s) => !opts.only || opts.only.includes(s.id))
  const rowRuns = scenarios.reduce((n, s) => n + scenarioRows(s, { curlMulti: {} }).order.length, 0)
  const estimate = rowRuns * opts.rounds * (opts.durationMs + opts.warmupMs + 400) / 1000
  process.stderr.write(`bench: ${scenarios.length} scenarios, ${rowRuns} rows x ${opts.rounds} rounds, at most ~${Math.ceil(estimate / 60)} min\n`)
  if (process.env.CD_TEST_AGENT === 'undici') {
    process.stderr.write('bench: CD_TEST_AGENT=undici: the curl-dispatcher rows run undici\'s Agent (harness self-test)\n')
  }

  const servers = await startServers({ prefer: opts.server })
  // Whatever happens from here on, the servers go away with us.
  process.on('exit', () => servers.stopSync())
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(sig, () => {
      process.stderr.write(`\nbench: ${sig}, stopping\n`)
      if (currentChild) currentChild.kill('SIGKILL')
      servers.stop().finally(() => process.exit(130))
    })
  }
  process.stderr.write(`bench: server ${servers.version}: ${servers.http} ${servers.https} ${servers.h2} (h2)\n`)
  if (servers.note) process.stderr.write(`bench: NOTE: ${servers.note}\n`)

  try {
    await verifyServers(servers)
    // The libcurl-only ceiling is compiled for this run, into its temp dir.
    opts.curlMulti = curlMulti.build(servers.dir)
    if (opts.curlMulti.binary) {
      opts.curlMulti.caFile = curlMulti.writeCa(servers.dir, servers.ca)
    } else {
      process.stderr.write(`bench: libcurl multi (C) row skipped: ${opts.curlMulti.reason}\n`)
    }
    const results = {
      meta: {
        date: new Date().toISOString(),
        machine: report.machineInfo(),
        server: { kind: servers.kind, version: servers.version, note: servers.note },
        options: { mode: opts.mode, quick: opts.quick, rounds: opts.rounds, durationMs: opts.durationMs, warmupMs: opts.warmupMs, threads: opts.threads },
        standIn: process.env.CD_TEST_AGENT === 'undici' ? 'undici' : null
      },
      scenarios: []
    }
    for (const scenario of scenarios) {
      results.scenarios.push(await runScenario(scenario, servers, opts))
    }

    console.log('')
    for (const l of report.headerLines(results)) console.log(l)
    if (results.meta.standIn) console.log('NOTE: curl-dispatcher rows ran undici\'s Agent (CD_TEST_AGENT=undici)')
    console.log(report.formatTable(results))
    const notes = report.notes(results)
    if (notes.length) console.log('\nnotes:\n' + notes.map((n) => '  ' + n).join('\n'))
    console.log('')
    for (const l of report.LEGEND) console.log(l)

    const json = path.join(__dirname, 'results', 'latest.json')
    report.writeJson(results, json)
    console.log(`\nJSON: ${path.relative(process.cwd(), json)}`)
    if (opts.record) {
      const md = path.join(__dirname, 'RESULTS.md')
      report.writeResultsMd(results, md)
      console.log(`recorded: ${path.relative(process.cwd(), md)}`)
    }
  } finally {
    await servers.stop()
  }
}

main().catch((err) => {
  console.error('bench: ' + (err && err.stack ? err.stack : err))
  process.exit(1)
})
