'use strict'

// Loading the addon lets glibc keep freed landing memory resident
// (engine/cd_heap.c): what it did is `Agent.engineStats().heap`, checked in fresh
// processes, since it happens once per process. Under the ASan run
// (CD_TEST_SANITIZER), malloc is the sanitizer's: nothing to adapt; off
// glibc (musl) it does nothing.

const assert = require('node:assert/strict')
const { execFileSync } = require('node:child_process')
const path = require('node:path')
const { kind } = require('./support/agent')

const pkg = path.join(__dirname, '..')
const foreignMalloc = Boolean(process.env.CD_TEST_SANITIZER)
const glibc = Boolean(process.report.getReport().header.glibcVersionRuntime)

function heapStateWith (env) {
  const clean = { ...process.env }
  for (const name of Object.keys(clean)) {
    if (name.startsWith('MALLOC_') || name === 'GLIBC_TUNABLES' || name === 'CURL_DISPATCHER_MALLOC_ADAPT') delete clean[name]
  }
  const script = `process.stdout.write(require(${JSON.stringify(pkg)}).Agent.engineStats().heap)`
  return execFileSync(process.execPath, ['-e', script], { env: { ...clean, ...env }, encoding: 'utf8' })
}

describe('glibc heap adaptation at load', function () {
  this.timeout(30000)

  before(function () {
    if (kind === 'undici') this.skip() // the addon's alone
    if (process.platform !== 'linux') this.skip()
  })

  it('raises glibc\'s thresholds once, on its own', function () {
    assert.equal(heapStateWith({}), !glibc ? 'unsupported' : foreignMalloc ? 'already' : 'adapted')
  })

  it('leaves malloc alone with CURL_DISPATCHER_MALLOC_ADAPT=0', function () {
    assert.equal(heapStateWith({ CURL_DISPATCHER_MALLOC_ADAPT: '0' }), 'disabled')
  })

  it('keeps a malloc tuned by hand (MALLOC_MMAP_THRESHOLD_) as it is', function () {
    assert.equal(heapStateWith({ MALLOC_MMAP_THRESHOLD_: '262144' }), !glibc ? 'unsupported' : foreignMalloc ? 'already' : 'unchanged')
  })
})
