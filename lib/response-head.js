'use strict'

// A response head from the engine (EV_HEADERS) handed to a request's
// handler: read once (lib/headers.js parseResponseHead), published on
// undici:request:headers as it came, and given to onResponseStart as the
// handler is to see it (without the coding fields when the worker decodes
// the body, lib/decompress.js). 1xx heads too, as undici's parser gives
// them; the facts the engine read of a final head (EV_HEADERS' `c`) are
// what lib/request.js uses it for beyond this.

const { errors } = require('undici')
const { HEAD_DECODED } = require('./constants')
const { channels } = require('./diagnostics')
const { parseResponseHead, fieldsToObject } = require('./headers')
const { wantsHeaderObjects } = require('./handler')
const { kSetResponseHeaders } = require('./symbols')
const { withoutCodingFields } = require('./decompress')

const { SocketError } = errors

/**
 * @param {import('./request').CurlRequest} req
 * @param {number} status
 * @param {number} facts HEAD_* bits of a final head
 * @param {string} block the head as received, status line first
 */
function deliverHead (req, status, facts, block) {
  const { handler, controller } = req
  if (status === 101) {
    // a switch of protocols nobody asked for (upgrades are raw
    // exchanges, lib/upgrade.js): libcurl would wait for another head;
    // undici refuses it so
    req.abort(new SocketError('bad upgrade'))
    return
  }
  if (status === 100 && !req.norm.expectContinue) {
    // a 100 Continue to a request that sent no Expect: the server is not
    // answering this request; undici's parser refuses it the same way
    // (libcurl would wait on for a final head)
    req.abort(new SocketError('bad response'))
    return
  }
  // As undici (its parser's message begin): each response head, 1xx ones
  // too; fetch times responseStart with it.
  handler.onResponseStarted?.()
  const head = parseResponseHead(block)
  controller[kSetResponseHeaders](head.pairs)
  if (req.diag !== null && channels.headers.hasSubscribers) {
    channels.headers.publish({
      request: req.diag,
      response: { statusCode: status, headers: controller.rawHeaders, statusText: head.statusMessage }
    })
  }
  let pairs = head.pairs
  if (status >= 200 && (facts & HEAD_DECODED) !== 0) {
    // the worker decodes the body: the handler sees the response as the
    // interceptor leaves it
    const { preserveHeaders, maxSize } = req.norm.decompress
    if (!preserveHeaders) {
      pairs = withoutCodingFields(pairs)
      controller[kSetResponseHeaders](pairs)
    }
    req.decodedLimit = maxSize
  }
  const headers = wantsHeaderObjects(handler) ? fieldsToObject(pairs) : null
  if (status >= 200) req.headDelivered = true
  handler.onResponseStart?.(controller, status, headers, head.statusMessage)
}

module.exports = { deliverHead }
