'use strict'

const Agent = require('./lib/agent')
const { TIMINGS_CHANNEL } = require('./lib/timings')

module.exports = { Agent, TIMINGS_CHANNEL }
module.exports.default = Agent
