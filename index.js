'use strict'

const Agent = require('./lib/agent')
const { TIMINGS_CHANNEL } = require('./lib/timings')
const { load } = require('./lib/load/run')

module.exports = { Agent, TIMINGS_CHANNEL, load }
module.exports.default = Agent
