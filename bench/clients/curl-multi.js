'use strict'

// The "libcurl multi (C)" ceiling row: bench/curl-multi.c, libcurl alone in
// the engine's pattern (one multi handle on one thread, easy handles reused),
// with no Node at all. Set against curl-dispatcher's dispatch row, it shows
// how much of our Agent's cost is libcurl's own and how much is the bridge.
//
// The program is compiled at start-up into the run's temp dir (never into
// the repo) when gcc and libcurl's development files (pkg-config) are there;
// otherwise the row is unavailable, as wrk/h2load rows are without those
// tools. Like the Node rows it has a warm-up, and it measures its own CPU
// time (getrusage over the timed window) and peak RSS.

const { spawn, spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')
const { which } = require('../servers')

const SOURCE = path.join(__dirname, '..', 'curl-multi.c')

function firstLine (text) {
  return String(text || '').trim().split('\n')[0]
}

// -> { binary } or { reason } when the row cannot run.
function build (dir) {
  const gcc = which('gcc')
  if (!gcc) return { reason: 'gcc not found' }
  const pkgConfig = which('pkg-config')
  if (!pkgConfig) return { reason: 'pkg-config not found' }
  const pc = spawnSync(pkgConfig, ['--cflags', '--libs', 'libcurl'], { encoding: 'utf8' })
  if (pc.status !== 0) return { reason: `pkg-config --cflags --libs libcurl failed (libcurl development files missing?): ${firstLine(pc.stderr)}` }
  const flags = pc.stdout.trim().split(/\s+/).filter(Boolean)
  const binary = path.join(dir, 'curl-multi')
  const cc = spawnSync(gcc, ['-std=c11', '-Wall', '-Wextra', '-O2', '-o', binary, SOURCE, ...flags], { encoding: 'utf8' })
  if (cc.status !== 0) return { reason: `gcc failed on bench/curl-multi.c: ${firstLine(cc.stderr)}` }
  if (cc.stderr.trim()) process.stderr.write(`bench: warnings building bench/curl-multi.c:\n${cc.stderr}`)
  return { binary }
}

// One round; resolves like the other rows: { status: 'ok', rps, p50, ... }
// or { status: 'error', reason }.
function run ({ binary, url, method, bodySize, expectBytes, concurrency, h2, caFile, warmupMs, durationMs, onSpawn }) {
  const argv = [url, String(concurrency), String(Math.round(durationMs)), '--warmup', String(Math.round(warmupMs))]
  if (method === 'POST' || method === 'PUT') argv.push('--post', String(bodySize))
  if (method === 'PUT') argv.push('--put')
  if (h2) argv.push('--h2')
  if (url.startsWith('https:')) argv.push(...(caFile ? ['--cacert', caFile] : ['--insecure']))
  if (expectBytes != null) argv.push('--expect-bytes', String(expectBytes))
  const args = `-c ${concurrency}${h2 ? ' --h2' : ''}`
  return new Promise((resolve) => {
    const child = spawn(binary, argv, { stdio: ['ignore', 'pipe', 'pipe'] })
    if (onSpawn) onSpawn(child)
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => { stdout += d })
    child.stderr.on('data', (d) => { stderr += d })
    const timer = setTimeout(() => child.kill('SIGKILL'), warmupMs + durationMs + 30000)
    child.on('error', (err) => { stderr += err.message })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      if (code !== 0) return resolve({ status: 'error', reason: `curl-multi exited with ${signal || code}: ${firstLine(stderr || stdout)}` })
      let r
      try {
        r = JSON.parse(stdout.trim().split('\n').pop())
      } catch {
        return resolve({ status: 'error', reason: `could not parse curl-multi output: ${firstLine(stdout)}` })
      }
      if (!r.requests) return resolve({ status: 'error', reason: r.firstError || 'no request completed' })
      resolve({
        status: 'ok',
        args,
        rps: r.rps,
        requests: r.requests,
        seconds: r.seconds,
        p50: r.p50ms,
        p99: r.p99ms,
        cpuPerReqUs: r.cpuUs / r.requests,
        reqPerCpuSec: r.cpuUs ? r.requests / (r.cpuUs / 1e6) : null,
        maxRssMB: r.maxRssMB,
        errors: r.errors,
        firstError: r.firstError || null
      })
    })
  })
}

// The CA file for --cacert: the run's certificate, written next to the
// binary (the PEM the Node rows get as `connect.ca`).
function writeCa (dir, pem) {
  const file = path.join(dir, 'curl-multi-ca.pem')
  fs.writeFileSync(file, pem)
  return file
}

module.exports = { build, run, writeCa, SOURCE }
