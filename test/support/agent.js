'use strict'

// Selects the Agent under test.
//   CD_TEST_AGENT=undici  -> undici's own Agent (validates the tests themselves)
//   anything else         -> curl-dispatcher's Agent (/work/main/index.js)
// Tests that check something only curl-dispatcher has call
//   if (kind === 'undici') this.skip()

const kind = process.env.CD_TEST_AGENT === 'undici' ? 'undici' : 'curl'

// Set by tools/sanitize.sh for the ASan run: its quarantine keeps freed
// memory (256 MB) and its shadow memory grows with the heap, so RSS bounds
// mean nothing there; the sanitizer itself checks for leaks and misuse.
const underSanitizer = Boolean(process.env.CD_TEST_SANITIZER)

function load () {
  if (kind === 'undici') return require('undici')
  try {
    return require('../..')
  } catch (err) {
    err.message = `curl-dispatcher could not be loaded (${err.message}); ` +
      'run with CD_TEST_AGENT=undici to check the tests against undici\'s Agent'
    throw err
  }
}

const { Agent } = load()

// The module a child process or a worker_thread requires to get Agent.
const agentModulePath = kind === 'undici'
  ? require.resolve('undici')
  : require.resolve('../..')

function createAgent (opts) {
  return new Agent(opts)
}

module.exports = { Agent, kind, createAgent, agentModulePath, underSanitizer }
