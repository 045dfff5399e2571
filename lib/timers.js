'use strict'

// The timer functions this package schedules its own work with, taken
// when it is loaded. A test that installs fake timers afterwards
// (@sinonjs/fake-timers, jest.useFakeTimers) replaces the globals; the
// agent's internal steps (handing disconnects over after the request's
// callbacks, holding a closing connection's report, a lookup's deadline,
// the load generator's progress ticks) must still run, or every request
// would wait for a clock the test never advances. Request timeouts run in
// libcurl on real time anyway (docs/compatibility.md).

module.exports = {
  setTimeout: globalThis.setTimeout,
  clearTimeout: globalThis.clearTimeout,
  setImmediate: globalThis.setImmediate,
  clearImmediate: globalThis.clearImmediate,
  setInterval: globalThis.setInterval,
  clearInterval: globalThis.clearInterval
}
