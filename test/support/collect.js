'use strict'

// collect(agent, opts, hooks, options) dispatches opts with a v2 handler that
// records every callback into result.events and resolves on the terminal
// callback (onResponseEnd or onResponseError) after a short grace period.
// It rejects if the handler contract is broken: a second terminal callback,
// any callback after the terminal one, a response callback before
// onRequestStart, or data before onResponseStart.
//
// hooks.onRequestStart(controller, context, result)
// hooks.onResponseStart(controller, statusCode, headers, statusMessage, result)
// hooks.onResponseData(controller, chunk, result)
// hooks.onResponseEnd(controller, trailers, result)
// hooks.onResponseError(controller, err, result)
// are called after the event is recorded; what they throw reaches the agent.

const { AssertionError } = require('node:assert')
const crypto = require('node:crypto')
const v8 = require('node:v8')
const vm = require('node:vm')

function collect (agent, opts, hooks = {}, { grace = 50 } = {}) {
  return new Promise((resolve, reject) => {
    const start = Date.now()
    const result = {
      events: [],
      times: [],
      responses: [],
      statusCode: null,
      statusMessage: null,
      headers: null,
      rawHeaders: null,
      chunks: [],
      body: null,
      trailers: null,
      rawTrailers: null,
      error: null,
      controller: null,
      context: null,
      dispatchReturn: undefined,
      violations: []
    }
    let terminal = null

    function record (name) {
      if (terminal !== null) {
        result.violations.push(`${name} after ${terminal}`)
      }
      result.events.push(name)
      result.times.push(Date.now() - start)
    }

    function finish (name) {
      if (terminal !== null) return
      terminal = name
      result.body = Buffer.concat(result.chunks)
      setTimeout(() => {
        if (result.violations.length > 0) {
          const err = new AssertionError({
            message: `handler contract broken: ${result.violations.join('; ')} (events: ${result.events.join(', ')})`
          })
          err.result = result
          reject(err)
        } else {
          resolve(result)
        }
      }, grace)
    }

    const handler = {
      onRequestStart (controller, context) {
        if (result.events.includes('requestStart')) result.violations.push('second requestStart')
        record('requestStart')
        result.controller = controller
        result.context = context
        if (hooks.onRequestStart) hooks.onRequestStart(controller, context, result)
      },
      onResponseStart (controller, statusCode, headers, statusMessage) {
        if (!result.events.includes('requestStart')) result.violations.push('responseStart before requestStart')
        record('responseStart')
        const raw = controller.rawHeaders
        result.responses.push({ statusCode, headers, statusMessage, rawHeaders: raw })
        result.statusCode = statusCode
        result.headers = headers
        result.statusMessage = statusMessage
        result.rawHeaders = raw
        if (hooks.onResponseStart) hooks.onResponseStart(controller, statusCode, headers, statusMessage, result)
      },
      onResponseData (controller, chunk) {
        if (!result.events.includes('responseStart')) result.violations.push('data before responseStart')
        record('data')
        result.chunks.push(Buffer.from(chunk))
        if (hooks.onResponseData) hooks.onResponseData(controller, chunk, result)
      },
      onResponseEnd (controller, trailers) {
        if (!result.events.includes('responseStart')) result.violations.push('end before responseStart')
        record('end')
        result.trailers = trailers
        result.rawTrailers = controller.rawTrailers
        try {
          if (hooks.onResponseEnd) hooks.onResponseEnd(controller, trailers, result)
        } finally {
          finish('end')
        }
      },
      onResponseError (controller, err) {
        record('error')
        result.error = err
        try {
          if (hooks.onResponseError) hooks.onResponseError(controller, err, result)
        } finally {
          finish('error')
        }
      }
    }

    try {
      result.dispatchReturn = agent.dispatch(opts, handler)
    } catch (err) {
      reject(err)
    }
  })
}

// The events without repeated 'data' entries: ['requestStart', 'responseStart', 'data', 'end'].
function compact (events) {
  return events.filter((e, i) => !(e === 'data' && events[i - 1] === 'data'))
}

function sha256 (buf) {
  return crypto.createHash('sha256').update(buf).digest('hex')
}

function sleep (ms) {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

// Resolves when fn() is true, polling every 10 ms, or rejects after ms.
async function waitFor (fn, ms = 3000, what = 'condition') {
  const end = Date.now() + ms
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await sleep(10)
  }
}

// A full collection, so that memory figures count what is still held, not
// garbage V8 has not collected yet.
function collectGarbage () {
  v8.setFlagsFromString('--expose-gc')
  vm.runInNewContext('gc')()
}

module.exports = { collect, collectGarbage, compact, sha256, sleep, waitFor }
