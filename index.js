'use strict'

const Agent = require('./lib/agent')

module.exports = { Agent }
module.exports.default = Agent
