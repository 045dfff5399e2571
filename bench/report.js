'use strict'

// Turns the run's results into the console table, bench/results/latest.json
// and (with --record) bench/RESULTS.md. Also collects the machine facts that
// make a recorded figure meaningful later.

const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

function tryRun (cmd, args) {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
  } catch {
    return null
  }
}

function machineInfo () {
  let cpu = null
  try {
    cpu = (/^model name\s*:\s*(.+)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8')) || [])[1] || null
  } catch {}
  let undici = null
  try { undici = require('undici/package.json').version } catch {}
  let ours = null
  try { ours = require('../package.json').version } catch {}
  return {
    cpu: cpu || os.cpus()[0]?.model || 'unknown',
    cores: os.availableParallelism ? os.availableParallelism() : os.cpus().length,
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    undici,
    libcurl: (tryRun('curl-config', ['--version']) || 'unknown (curl-config not found)').replace(/^libcurl\s*/, ''),
    curlDispatcher: ours
  }
}

// Ratios against the scenario's baseline row (undici's Agent through
// dispatch): > 1 means more throughput, resp. more CPU per request.
function addRatios (scenario) {
  const base = scenario.rows.find((r) => r.baseline && r.summary)
  for (const row of scenario.rows) {
    if (!row.summary) continue
    const s = row.summary
    // our row against undici's row of the same API (request() against
    // undici.request() over undici's Agent, and so on)
    const peer = row.agent === 'ours' && scenario.rows.find((r) => r.agent === 'undici' && r.api === row.api && r.summary)
    row.ratio = {
      rps: base && s.rps && base.summary.rps ? s.rps / base.summary.rps : null,
      cpuPerReq: base && s.cpuPerReqUs && base.summary.cpuPerReqUs ? s.cpuPerReqUs / base.summary.cpuPerReqUs : null,
      jsPerReq: base && s.jsPerReqUs && base.summary.jsPerReqUs ? s.jsPerReqUs / base.summary.jsPerReqUs : null,
      sameApiRps: peer && s.rps && peer.summary.rps ? s.rps / peer.summary.rps : null
    }
  }
}

function fmt (v, digits) {
  if (v == null || !Number.isFinite(v)) return '-'
  return v.toFixed(digits)
}

const COLUMNS = [
  { head: 'req/s', get: (r) => fmt(r.summary.rps, 0) },
  { head: '±%', get: (r) => fmt(r.summary.rpsSpreadPct, 1) },
  { head: 'p50 ms', get: (r) => fmt(r.summary.p50, 2) },
  { head: 'p99 ms', get: (r) => fmt(r.summary.p99, 2) },
  { head: 'CPU µs/req', get: (r) => fmt(r.summary.cpuPerReqUs, 1) },
  { head: 'JS µs/req', get: (r) => fmt(r.summary.jsPerReqUs, 1) },
  { head: 'other µs/req', get: (r) => fmt(r.summary.otherPerReqUs, 1) },
  { head: 'worker µs/req', get: (r) => fmt(r.summary.workerPerReqUs || null, 1) },
  { head: 'JS ceiling req/s', get: (r) => fmt(r.summary.jsCeilingRps, 0) },
  { head: 'req/CPU-s', get: (r) => fmt(r.summary.reqPerCpuSec, 0) },
  { head: 'RSS MB', get: (r) => fmt(r.summary.maxRssMB, 1) },
  { head: 'conns', get: (r) => fmt(r.summary.conns, 0) },
  { head: 'req/s ×', get: (r) => fmt(r.ratio?.rps, 2) },
  { head: 'CPU/req ×', get: (r) => fmt(r.ratio?.cpuPerReq, 2) },
  { head: 'JS/req ×', get: (r) => fmt(r.ratio?.jsPerReq, 2) },
  { head: 'same API ×', get: (r) => fmt(r.ratio?.sameApiRps, 2) }
]

// A client that keeps its connections opens about one per request in
// flight (HTTP/1.1) or one in all (HTTP/2); many more than that is a
// reconnect storm (a connection dropped after every request), which costs
// throughput and shows as TIME_WAIT sockets on the server.
function connectionChurn (scenario, row) {
  const conns = row.summary?.conns
  if (conns == null || row.tool || row.curlMulti) return null
  const expected = scenario.h2 ? 1 : scenario.concurrency
  return conns > 2 * expected + 8 ? `connection churn: ${Math.round(conns)} connections for ${expected} expected` : null
}

function clip (s, n) {
  return s.length > n ? s.slice(0, n - 1) + '…' : s
}

// A row that produced no figures shows why instead. "unavailable" is the
// same for every row of our Agent, so its reason goes to notes() once.
function rowCells (row, scenario) {
  if (row.summary) {
    const cells = COLUMNS.map((c) => c.get(row))
    const notes = []
    const churn = scenario ? connectionChurn(scenario, row) : null
    if (churn) notes.push(churn)
    if (row.summary.errors) notes.push(`${row.summary.errors} errors`)
    if (row.failedRounds) notes.push(`${row.failedRounds} rounds failed: ${clip(row.reason || '', 60)}`)
    return { cells, note: notes.join(', ') }
  }
  if (row.status === 'unavailable') return { cells: null, note: 'unavailable' }
  return { cells: null, note: `${row.status}: ${clip(row.reason || '', 100)}` }
}

// Reasons behind unavailable/skipped/failed rows and error messages, once
// each, with the rows they concern.
function notes (results) {
  const byText = new Map()
  const add = (text, who) => {
    if (!byText.has(text)) byText.set(text, new Set())
    byText.get(text).add(who)
  }
  for (const s of results.scenarios) {
    for (const row of s.rows) {
      if (row.status !== 'ok') add(`${row.status}: ${[row.reason, row.detail].filter(Boolean).join(': ')}`, row.label)
      const churn = connectionChurn(s, row)
      if (churn) add(`${churn.replace(/: .*/, '')}: a connection was dropped instead of kept`, `${row.label} [${s.id}]`)
      for (const r of row.rounds || []) {
        if (r.errors) add(`errors, first: ${r.firstError || '?'}`, `${row.label} [${s.id}]`)
      }
    }
  }
  return [...byText].map(([text, who]) => `${text}  (${[...who].join('; ')})`)
}

function scenarioTitle (s) {
  return `${s.title}, ${s.concurrency === 1 ? '1 at a time' : s.concurrency + (s.h2 ? ' streams' : ' concurrent')}`
}

function formatTable (results) {
  const lines = []
  const labelWidth = Math.max(...results.scenarios.flatMap((s) => s.rows.map((r) => r.label.length)), 6)
  for (const s of results.scenarios) {
    const rendered = s.rows.map((r) => ({ row: r, ...rowCells(r, s) }))
    const widths = COLUMNS.map((c, i) => Math.max(c.head.length, ...rendered.filter((x) => x.cells).map((x) => x.cells[i].length)))
    lines.push('')
    lines.push(`${scenarioTitle(s)}  [${s.id}]`)
    lines.push('  ' + 'client'.padEnd(labelWidth) + '  ' + COLUMNS.map((c, i) => c.head.padStart(widths[i])).join('  '))
    for (const x of rendered) {
      const label = x.row.label.padEnd(labelWidth)
      if (x.cells) {
        lines.push(('  ' + label + '  ' + x.cells.map((c, i) => c.padStart(widths[i])).join('  ') + (x.note ? '  ' + x.note : '')).trimEnd())
      } else {
        lines.push('  ' + label + '  ' + x.note)
      }
    }
  }
  return lines.join('\n')
}

function headerLines (results) {
  const m = results.meta.machine
  const o = results.meta.options
  return [
    `date: ${results.meta.date}`,
    `machine: ${m.cpu}, ${m.cores} cores, ${m.memGiB} GiB, ${m.os}`,
    `node ${m.node}, undici ${m.undici}, libcurl ${m.libcurl}, curl-dispatcher ${m.curlDispatcher}`,
    `server: ${results.meta.server.version} on 127.0.0.1${results.meta.server.note ? ' (' + results.meta.server.note + ')' : ''}`,
    `mode: ${o.mode}, ${o.rounds} rounds x ${o.durationMs / 1000} s after ${o.warmupMs / 1000} s warm-up, medians over rounds; our Agent threads: ${o.threads ?? 'default'}`
  ]
}

const LEGEND = [
  'req/s: completions per second in the timed window; ±%: (max-min)/median of req/s over rounds.',
  'p50/p99: request latency. CPU µs/req: user+sys CPU of the whole client process (all threads) per request.',
  'JS µs/req: the part of it on the JS (main) thread; other µs/req: every other thread (our libcurl workers, V8 GC helpers).',
  'worker µs/req: the part of other on our libcurl workers (threads named cd-worker-N); the rest of other is V8 and libuv.',
  'JS ceiling req/s: 1e6 / JS µs/req, what one Node thread could reach given cores for the other threads.',
  'RSS MB: peak resident set of the client process. conns: connections the server accepted during the row.',
  'req/s ×, CPU/req × and JS/req ×: against "undici Agent dispatch" of the same scenario.',
  'same API ×: req/s of our row against undici\'s row of the same API (request(), stream(), pipeline(), fetch()) over undici\'s Agent.',
  'A row that opened more than 2 connections per request in flight (HTTP/2: more than 10 in all) is flagged "connection churn".',
  'Each client row runs in a fresh process per round. wrk/h2load are ceilings: native, no warm-up, CPU/RSS by GNU time.',
  'libcurl multi (C): libcurl alone in the engine\'s pattern (bench/curl-multi.c), same warm-up, CPU/RSS by getrusage;',
  '  its gap to "curl-dispatcher dispatch" is what the bridge to Node costs.'
]

function writeJson (results, file) {
  fs.mkdirSync(path.dirname(file), { recursive: true })
  fs.writeFileSync(file, JSON.stringify(results, null, 2) + '\n')
}

function mdEscape (s) {
  return String(s).replace(/\|/g, '\\|')
}

// RESULTS.md ends with a hand-written analysis that a new --record keeps:
// everything from this heading on is carried over.
const ANALYSIS_HEADING = '## Analysis'

function keptAnalysis (file) {
  try {
    const old = fs.readFileSync(file, 'utf8')
    const at = old.indexOf('\n' + ANALYSIS_HEADING)
    return at === -1 ? '' : old.slice(at + 1)
  } catch {
    return ''
  }
}

function writeResultsMd (results, file) {
  const analysis = keptAnalysis(file)
  const out = []
  out.push('# Benchmark results', '')
  out.push('Tables written by `npm run bench -- --record` (bench/run.js); rerun it rather than editing them by hand. ' +
    `The section "${ANALYSIS_HEADING.slice(3)}" at the end is written by people and kept across runs.`, '')
  for (const l of headerLines(results)) out.push(`- ${mdEscape(l)}`)
  out.push('')
  for (const s of results.scenarios) {
    out.push(`## ${scenarioTitle(s)}`, '')
    out.push('| client | ' + COLUMNS.map((c) => c.head).join(' | ') + ' | notes |')
    out.push('|---|' + COLUMNS.map(() => '---:').join('|') + '|---|')
    for (const row of s.rows) {
      const { cells, note } = rowCells(row, s)
      const values = cells || COLUMNS.map(() => '')
      out.push(`| ${mdEscape(row.label)} | ${values.join(' | ')} | ${mdEscape(note)} |`)
    }
    out.push('')
  }
  const n = notes(results)
  if (n.length) {
    out.push('Notes:', '')
    for (const l of n) out.push(`- ${mdEscape(l)}`)
    out.push('')
  }
  out.push('Reading the tables:', '')
  for (const l of LEGEND) out.push(`- ${l}`)
  out.push('')
  if (analysis) out.push(analysis)
  fs.writeFileSync(file, out.join('\n'))
}

module.exports = { machineInfo, addRatios, connectionChurn, formatTable, headerLines, notes, writeJson, writeResultsMd, LEGEND }
