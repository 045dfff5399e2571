'use strict'

// The package's ESM entry (import { Agent } from 'curl-dispatcher') gives the
// same Agent as require().

const assert = require('node:assert/strict')
const path = require('node:path')
const { pathToFileURL } = require('node:url')
const { kind } = require('./support/agent')

describe('esm', function () {
  it('import { Agent } and the default export are the CommonJS Agent', async function () {
    if (kind === 'undici') this.skip()
    const entry = pathToFileURL(path.join(__dirname, '..', 'index.mjs')).href
    const esm = await import(entry)
    const cjs = require('..')
    assert.equal(esm.Agent, cjs.Agent)
    assert.equal(esm.default, cjs.Agent)
    const agent = new esm.Agent()
    assert.equal(agent.closed, false)
    await agent.close()
  })
})
