'use strict'

// The DispatchController handed to v2 handlers (undici's
// onRequestStart(controller, context) and the callbacks after it): a view
// on its CurlRequest (lib/request.js), which does the work.

const { fieldsToRaw } = require('./headers')
const { kRequest, kHeaderPairs, kRawHeaders, kSetResponseHeaders } = require('./symbols')

class DispatchController {
  constructor (request) {
    this[kRequest] = request
    this.rawTrailers = null
    this.timings = null // lib/timings.js: set before the terminal callback
    this[kRawHeaders] = null
    this[kHeaderPairs] = null
  }

  // A response head arrived (or an upgrade's): its fields, as strings.
  [kSetResponseHeaders] (pairs) {
    this[kHeaderPairs] = pairs
    this[kRawHeaders] = null
  }

  // Built on first use: most v2 handlers never read it.
  get rawHeaders () {
    if (this[kRawHeaders] === null && this[kHeaderPairs] !== null) {
      this[kRawHeaders] = fieldsToRaw(this[kHeaderPairs])
    }
    return this[kRawHeaders]
  }

  set rawHeaders (value) {
    this[kRawHeaders] = value
  }

  get aborted () { return this[kRequest].reason !== null }
  get paused () { return this[kRequest].paused }
  get reason () { return this[kRequest].reason }

  abort (reason) { this[kRequest].abort(reason) }
  pause () { this[kRequest].pause() }
  resume () { this[kRequest].resume() }
}

module.exports = { DispatchController }
