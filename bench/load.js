#!/usr/bin/env node
'use strict'

// bench/load.js (npm run bench:load): `curl-dispatcher load` side by side
// with autocannon (npm, dev dependency), wrk and h2load (Debian) and
// bench/curl-multi.c (libcurl alone, one thread), against the same
// loopback nginx (bench/servers.js), in the same run.
//
//   node bench/load.js [--quick] [--duration S] [--rounds N] [--threads 1,2,4]
//                      [--connections N] [--rate R] [--only NAME[,NAME]] [--record]
//
// Scenarios: GET 12 B over HTTP/1.1, HTTPS and HTTP/2 (64 connections; on
// HTTP/2 64 streams: h2load -c 1 -m 64, ours one connection per thread), and the
// latency check at the same offered load (`h1-rate`, --rate R req/s, 10 000 by
// default: ours with --rate, so latency counts from each request's intended
// start; autocannon with -R; wrk pacing each connection with its delay() hook),
// p50 and p99 side by side. Rows: ours once per --threads value (the sweep: on a machine
// with more cores than 2 it shows the scaling), autocannon (HTTP/1.1 and
// HTTPS only: it has no HTTP/2), wrk -t 1 / h2load -t 1, libcurl multi (C).
// Each row runs in its own process, rounds alternate the order; the
// median round is reported. CPU time per request comes from GNU time.
//
// With --record the tables go to bench/RESULTS.md between the markers
// <!-- load:begin --> and <!-- load:end -->.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawn } = require('node:child_process')

const { startServers, verifyServers } = require('./servers')
const tools = require('./clients/tools')
const curlMulti = require('./clients/curl-multi')

const ROOT = path.join(__dirname, '..')
const BIN = path.join(ROOT, 'bin', 'curl-dispatcher')
const AUTOCANNON = path.join(ROOT, 'node_modules', 'autocannon', 'autocannon.js')
const GNU_TIME = fs.existsSync('/usr/bin/time') ? '/usr/bin/time' : null

function usage (msg) {
  if (msg) process.stderr.write(`bench/load.js: ${msg}\n`)
  process.stderr.write('usage: node bench/load.js [--quick] [--duration S] [--rounds N] [--threads 1,2,4] [--connections N] [--rate R] [--only NAME,...] [--record]\n')
  process.exit(2)
}

function parseArgs (argv) {
  const o = { duration: 5, rounds: 3, threads: [1, 2], connections: 64, rate: 10000, only: null, record: false }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const next = () => { if (i + 1 >= argv.length) usage(`${a} needs a value`); return argv[++i] }
    if (a === '--quick') { o.duration = 2; o.rounds = 1 } else if (a === '--duration') o.duration = Number(next())
    else if (a === '--rounds') o.rounds = Number(next())
    else if (a === '--threads') o.threads = next().split(',').map(Number)
    else if (a === '--connections') o.connections = Number(next())
    else if (a === '--rate') o.rate = Number(next())
    else if (a === '--only') o.only = next().split(',')
    else if (a === '--record') o.record = true
    else usage(`unknown option ${a}`)
  }
  if (!(o.duration > 0) || !(o.rounds >= 1) || !(o.rate > 0) || o.threads.some((t) => !Number.isInteger(t) || t < 1)) usage('bad value')
  return o
}

// Runs argv (under GNU time when there); resolves { code, stdout, stderr, cpuUs }.
function runTimed (argv, timeoutMs) {
  const tmp = path.join(os.tmpdir(), `cd-load-time-${process.pid}-${Date.now()}`)
  const full = GNU_TIME ? [GNU_TIME, '-f', '%U %S %M', '-o', tmp, ...argv] : argv
  return new Promise((resolve) => {
    const child = spawn(full[0], full.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => { stdout += d })
    child.stderr.on('data', (d) => { stderr += d })
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      let cpuUs = null
      try {
        const [u, s] = fs.readFileSync(tmp, 'utf8').trim().split('\n').pop().split(/\s+/).map(Number)
        cpuUs = (u + s) * 1e6
        fs.rmSync(tmp, { force: true })
      } catch {}
      resolve({ code: signal || code, stdout, stderr, cpuUs })
    })
  })
}

function fromAutocannonShape (r, run, args) {
  const seconds = r.duration
  return {
    status: 'ok',
    args,
    rps: r.requests.total / seconds,
    requests: r.requests.total,
    p50: r.latency.p50,
    p99: r.latency.p99,
    cpuPerReqUs: run.cpuUs != null ? run.cpuUs / r.requests.total : null,
    errors: r.errors + r.non2xx
  }
}

async function runOurs (s, threads, o, caFile) {
  const args = ['load', '--json', '-d', String(o.duration), '--threads', String(threads)]
  // HTTP/2: the 64 streams over one connection per thread (h2load -c 1 -m 64
  // for one thread; a connection cannot be shared by two workers).
  if (s.h2) args.push('--h2', '-c', String(threads), '-p', String(Math.max(1, Math.round(o.connections / threads))))
  else args.push('-c', String(o.connections))
  if (s.rate) args.push('-R', String(s.rate))
  if (s.url.startsWith('https:')) args.push('--ca', caFile)
  args.push('--allow-errors', s.url)
  const r = await runTimed([process.execPath, BIN, ...args], o.duration * 1000 + 30000)
  if (r.code !== 0) return { status: 'error', reason: `exit ${r.code}: ${(r.stderr || r.stdout).trim().split('\n').pop()}` }
  const result = JSON.parse(r.stdout)
  return { ...fromAutocannonShape(result, r, args.slice(1, -2).join(' ')), threads: result.threads }
}

async function runAutocannon (s, o, caFile) {
  if (!fs.existsSync(AUTOCANNON)) return { status: 'unavailable', reason: 'autocannon not installed (npm install)' }
  const args = ['--json', '-d', String(o.duration), '-c', String(o.connections), ...(s.rate ? ['-R', String(s.rate)] : []), s.url]
  const env = { ...process.env }
  if (s.url.startsWith('https:')) env.NODE_EXTRA_CA_CERTS = caFile
  const r = await new Promise((resolve) => {
    const tmp = path.join(os.tmpdir(), `cd-ac-time-${process.pid}-${Date.now()}`)
    const full = GNU_TIME ? [GNU_TIME, '-f', '%U %S %M', '-o', tmp, process.execPath, AUTOCANNON, ...args] : [process.execPath, AUTOCANNON, ...args]
    const child = spawn(full[0], full.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => { stdout += d })
    child.stderr.on('data', (d) => { stderr += d })
    child.on('close', (code) => {
      let cpuUs = null
      try {
        const [u, sy] = fs.readFileSync(tmp, 'utf8').trim().split('\n').pop().split(/\s+/).map(Number)
        cpuUs = (u + sy) * 1e6
        fs.rmSync(tmp, { force: true })
      } catch {}
      resolve({ code, stdout, stderr, cpuUs })
    })
  })
  if (r.code !== 0) return { status: 'error', reason: `autocannon exited with ${r.code}: ${r.stderr.trim().split('\n').pop()}` }
  return fromAutocannonShape(JSON.parse(r.stdout.trim().split('\n').pop()), r, `-c ${o.connections}${s.rate ? ` -R ${s.rate}` : ''}`)
}

function scenarios (servers, o) {
  const all = [
    { name: 'h1-get-12b', title: `GET 12 B, HTTP/1.1, ${o.connections} connections`, url: `${servers.http}/12b` },
    { name: 'https-get-12b', title: `GET 12 B, HTTPS, ${o.connections} connections`, url: `${servers.https}/12b` },
    { name: 'h2-get-12b', title: `GET 12 B, HTTP/2, ${o.connections} streams (ours: one connection per thread)`, url: `${servers.h2}/12b`, h2: true },
    { name: 'h1-rate', title: `GET 12 B, HTTP/1.1, ${o.connections} connections, ${fmt(o.rate)} req/s offered`, url: `${servers.http}/12b`, rate: o.rate }
  ]
  return o.only ? all.filter((s) => o.only.includes(s.name)) : all
}

function rowsFor (s, o) {
  if (s.rate) {
    // the latency check, no ceiling at a fixed load: one thread each, and
    // ours also on two (at 10 000 req/s one worker is most of a core here:
    // two wakeups per request, the due send and the answer)
    return [
      { id: 'ours-1', label: `curl-dispatcher load --threads 1 -R ${s.rate}`, threads: 1 },
      { id: 'ours-2', label: `curl-dispatcher load --threads 2 -R ${s.rate}`, threads: 2 },
      { id: 'autocannon', label: `autocannon (1 thread) -R ${s.rate}` },
      { id: 'tool', label: `wrk -t 1, paced to ${s.rate} req/s` }
    ]
  }
  const rows = o.threads.map((t) => ({ id: `ours-${t}`, label: `curl-dispatcher load --threads ${t}`, threads: t }))
  if (!s.h2) rows.push({ id: 'autocannon', label: 'autocannon (1 thread)' })
  rows.push({ id: 'tool', label: s.h2 ? 'h2load -t 1 (ceiling)' : 'wrk -t 1 (ceiling)' })
  rows.push({ id: 'curl-multi', label: 'libcurl multi (C, 1 thread)' })
  return rows
}

async function runRow (row, s, o, ctx) {
  const durationMs = o.duration * 1000
  switch (row.id) {
    case 'autocannon': return runAutocannon(s, o, ctx.caFile)
    case 'tool':
      if (s.h2) return tools.available('h2load') ? tools.runH2load({ url: s.url, concurrency: o.connections, durationMs, tmpdir: ctx.dir }) : { status: 'unavailable', reason: 'h2load not installed' }
      return tools.available('wrk') ? tools.runWrk({ url: s.url, method: 'GET', concurrency: o.connections, durationMs, tmpdir: ctx.dir, rate: s.rate }) : { status: 'unavailable', reason: 'wrk not installed' }
    case 'curl-multi':
      if (!ctx.curlMulti.binary) return { status: 'unavailable', reason: ctx.curlMulti.reason }
      return curlMulti.run({ binary: ctx.curlMulti.binary, url: s.url, method: 'GET', expectBytes: 12, concurrency: o.connections, h2: s.h2, caFile: ctx.caFile, warmupMs: 500, durationMs })
    default: return runOurs(s, row.threads, o, ctx.caFile)
  }
}

function median (xs) {
  const v = xs.filter((x) => x != null).sort((a, b) => a - b)
  return v.length ? v[Math.floor((v.length - 1) / 2)] : null
}

function fmt (x, digits = 0) {
  return x == null ? '-' : x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
}

function table (s, rows, results) {
  const lines = [`### ${s.title}`, '', '| client | req/s | p50 ms | p99 ms | CPU µs/req | errors |', '|---|---|---|---|---|---|']
  for (const row of rows) {
    const rs = results.get(row.id)
    const ok = rs.filter((r) => r.status === 'ok')
    if (!ok.length) {
      lines.push(`| ${row.label} | ${rs[0]?.reason ?? '-'} | | | | |`)
      continue
    }
    lines.push(`| ${row.label} | ${fmt(median(ok.map((r) => r.rps)))} | ${fmt(median(ok.map((r) => r.p50)), 3)} | ` +
      `${fmt(median(ok.map((r) => r.p99)), 3)} | ${fmt(median(ok.map((r) => r.cpuPerReqUs)), 1)} | ${fmt(median(ok.map((r) => r.errors)))} |`)
  }
  // The issue's targets, as ratios of medians.
  const rps = (id) => median((results.get(id) ?? []).filter((r) => r.status === 'ok').map((r) => r.rps))
  const lat = (id, k) => median((results.get(id) ?? []).filter((r) => r.status === 'ok').map((r) => r[k]))
  const notes = []
  const cm = rps('curl-multi')
  for (const row of rows.filter((r) => r.threads)) {
    const ours = rps(row.id)
    const used = (results.get(row.id).find((r) => r.status === 'ok') ?? {}).threads ?? row.threads
    if (ours && cm) notes.push(`--threads ${row.threads}: ${fmt(100 * ours / (cm * used), 0)} % of libcurl multi (C) per thread used`)
  }
  const ac = rps('autocannon')
  const two = rps('ours-2')
  if (ac && two && !s.rate) notes.push(`--threads 2: ${fmt(two / ac, 2)}x autocannon`)
  const tool = rows.find((r) => r.id === 'tool')
  const how = s.rate ? `same offered load (${fmt(s.rate)} req/s; ours corrected for coordinated omission)` : 'same connections and duration'
  for (const id of s.rate ? ['ours-1', 'ours-2'] : ['ours-1']) {
    if (s.h2 || !lat(id, 'p50') || !lat('tool', 'p50')) continue
    notes.push(`--threads ${id.slice(5)} vs wrk, ${how}: p50 ${fmt(100 * lat(id, 'p50') / lat('tool', 'p50'), 0)} %, ` +
      `p99 ${fmt(100 * lat(id, 'p99') / lat('tool', 'p99'), 0)} % of wrk's`)
  }
  if (s.h2 && rps('ours-1') && rps('tool')) notes.push(`--threads 1: ${fmt(100 * rps('ours-1') / rps('tool'), 0)} % of ${tool.label}`)
  if (notes.length) lines.push('', ...notes.map((n) => `- ${n}`))
  return lines.join('\n')
}

async function main () {
  const o = parseArgs(process.argv.slice(2))
  const servers = await startServers()
  process.on('exit', () => servers.stopSync())
  try {
    await verifyServers(servers)
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cd-load-bench-'))
    const caFile = path.join(dir, 'ca.pem')
    fs.writeFileSync(caFile, servers.ca)
    const ctx = { dir, caFile, curlMulti: curlMulti.build(dir) }
    const out = [`Machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}, ${os.platform()} ${os.release()}, Node ${process.version}; ` +
      `server: ${servers.kind} ${servers.version ?? ''}; ${o.rounds} round(s) of ${o.duration} s, median shown; ${new Date().toISOString().slice(0, 10)}`]
    if (servers.note) out.push(`Note: ${servers.note}`)
    for (const s of scenarios(servers, o)) {
      const rows = rowsFor(s, o)
      const results = new Map(rows.map((r) => [r.id, []]))
      for (let round = 0; round < o.rounds; round++) {
        const order = round % 2 ? [...rows].reverse() : rows
        for (const row of order) {
          const r = await runRow(row, s, o, ctx)
          results.get(row.id).push(r)
          process.stderr.write(`${s.name} round ${round + 1}/${o.rounds} ${row.label}: ` +
            (r.status === 'ok' ? `${fmt(r.rps)} req/s, p50 ${fmt(r.p50, 3)} ms, p99 ${fmt(r.p99, 3)} ms` : `${r.status}: ${r.reason}`) + '\n')
        }
      }
      out.push('', table(s, rows, results))
    }
    const text = out.join('\n') + '\n'
    process.stdout.write('\n' + text)
    if (o.record) {
      const file = path.join(__dirname, 'RESULTS.md')
      const md = fs.readFileSync(file, 'utf8')
      const block = `<!-- load:begin -->\n${text}<!-- load:end -->`
      const re = /<!-- load:begin -->[\s\S]*<!-- load:end -->/
      fs.writeFileSync(file, re.test(md) ? md.replace(re, block) : `${md.trimEnd()}\n\n## Load generator (npm run bench:load)\n\n${block}\n`)
      process.stderr.write('bench/load.js: bench/RESULTS.md updated\n')
    }
    fs.rmSync(dir, { recursive: true, force: true })
  } finally {
    await servers.stop()
  }
}

main().catch((err) => {
  process.stderr.write(`bench/load.js: ${err.stack}\n`)
  process.exitCode = 1
})
