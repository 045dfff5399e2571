#!/usr/bin/env node
'use strict'

// Builds the engine's C tests (test/engine/Makefile, plain -O1 -g variant)
// and runs them: every test in its own process, TAP on stdout.
// Usage: node tools/engine-tests.js [NAME | PREFIX* ...]
// The last line is always `engine: N passed, N failed`; the exit status is
// non-zero when a test failed or the build did.
// Environment: ENGINE_TESTS_TIMEOUT (seconds for the whole run, default 180).

const { spawn, spawnSync } = require('node:child_process')
const os = require('node:os')
const path = require('node:path')

const root = path.resolve(__dirname, '..')
const dir = path.join(root, 'test', 'engine')
const bin = path.join(dir, 'build', 'plain', 'cd-tests')
const timeoutS = Number(process.env.ENGINE_TESTS_TIMEOUT) || 180

function log (msg) {
  process.stderr.write(`[engine-tests] ${msg}\n`)
}

function finish (passed, failed) {
  process.stdout.write(`engine: ${passed} passed, ${failed} failed\n`)
  process.exitCode = failed > 0 ? 1 : 0
}

function build () {
  const jobs = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length
  const r = spawnSync('make', ['-C', dir, `-j${jobs}`], { cwd: root, encoding: 'utf8' })
  if (r.error || r.status !== 0) {
    if (r.stdout) process.stderr.write(r.stdout)
    if (r.stderr) process.stderr.write(r.stderr)
    log(`build failed: ${r.error ? r.error.message : `make exited with ${r.status ?? r.signal}`}`)
    return false
  }
  return true
}

function run (args) {
  let planned = null
  let passed = 0
  let failed = 0
  let pending = ''
  let done = false
  const child = spawn(bin, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] })

  const onLine = (line) => {
    process.stdout.write(line + '\n')
    let m
    if ((m = /^1\.\.(\d+)$/.exec(line))) planned = Number(m[1])
    else if (/^ok \d+ /.test(line)) passed++
    else if (/^not ok \d+ /.test(line)) failed++
  }

  child.stdout.setEncoding('utf8')
  child.stdout.on('data', (chunk) => {
    pending += chunk
    let i
    while ((i = pending.indexOf('\n')) >= 0) {
      onLine(pending.slice(0, i))
      pending = pending.slice(i + 1)
    }
  })

  const timer = setTimeout(() => {
    log(`timed out after ${timeoutS} s, stopping the tests`)
    child.kill('SIGKILL')
  }, timeoutS * 1000)

  const end = (code, signal, error) => {
    if (done) return
    done = true
    clearTimeout(timer)
    if (pending) onLine(pending)
    if (error) log(`cannot run ${bin}: ${error.message}`)
    // Tests that never reported (crash of the runner, timeout) count as failed.
    const missing = planned !== null ? Math.max(0, planned - passed - failed) : 0
    let f = failed + missing
    if (f === 0 && (error || code !== 0)) {
      log(`the runner ended with ${signal || code}`)
      f = 1
    }
    finish(passed, f)
  }
  child.on('error', (err) => end(null, null, err))
  child.on('close', (code, signal) => end(code, signal, null))
}

log('building test/engine (plain)')
if (!build()) {
  finish(0, 1)
} else {
  run(process.argv.slice(2))
}
