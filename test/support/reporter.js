'use strict'

// mocha's Spec reporter plus one closing line that CI reads:
//   mocha: N passed, N failed[, N skipped]

const Mocha = require('mocha')

const { Spec } = Mocha.reporters
const { EVENT_RUN_END } = Mocha.Runner.constants

class Reporter extends Spec {
  constructor (runner, options) {
    super(runner, options)
    runner.once(EVENT_RUN_END, () => {
      const { passes = 0, failures = 0, pending = 0 } = this.stats
      let line = `mocha: ${passes} passed, ${failures} failed`
      if (pending > 0) line += `, ${pending} skipped`
      process.stdout.write(line + '\n')
    })
  }
}

module.exports = Reporter
