'use strict'

// Symbols for the internals that lib/ files share on objects users can see
// (the DispatchController, the Agent), kept off their public names.

module.exports = {
  kRequest: Symbol('curl-dispatcher.request'),           // controller -> its CurlRequest
  kHeaderPairs: Symbol('curl-dispatcher.headerPairs'),   // controller: response fields, as strings
  kRawHeaders: Symbol('curl-dispatcher.rawHeaders'),     // controller: rawHeaders, built on first use
  kSetResponseHeaders: Symbol('curl-dispatcher.setResponseHeaders'),
  kBackend: Symbol('curl-dispatcher.backend'),           // agent: lib/engine-dispatcher.js or lib/factory.js
  kLifecycle: Symbol('curl-dispatcher.lifecycle')        // agent: lib/lifecycle.js, close() and destroy()
}
