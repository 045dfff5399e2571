'use strict'

// The end of a request body stream's life (lib/request.js, lib/normalize.js).

const { IncomingMessage } = require('node:http')

// As undici: a request's body stream is destroyed once the request is over
// (read to its end, or left unread by an error or an abort), so a file or
// socket behind it is released. Without an error: nobody listens on the
// stream for the request any more, so an error its own destroy() produces
// is taken here.
function destroyBodyStream (source) {
  if (typeof source.destroy !== 'function' || source.destroyed) return
  // A server's request (a proxy streaming what it receives): destroying it
  // would destroy the socket it came on, which is not the agent's (undici
  // detaches it first too).
  if (source instanceof IncomingMessage) source.socket = null
  source.once('error', ignore)
  source.destroy()
}

function ignore () {}

module.exports = { destroyBodyStream }
