'use strict'

// Symbols for the internals that lib/ files share on objects users can see
// (the DispatchController, the Agent, an upgraded socket, the diagnostics
// request), kept off their public names: lib/ uses no `_name` fields.

module.exports = {
  kRequest: Symbol('curl-dispatcher.request'),           // controller -> its CurlRequest
  kHeaderPairs: Symbol('curl-dispatcher.headerPairs'),   // controller: response fields, as strings
  kRawHeaders: Symbol('curl-dispatcher.rawHeaders'),     // controller: rawHeaders, built on first use
  kSetResponseHeaders: Symbol('curl-dispatcher.setResponseHeaders'),
  kBackend: Symbol('curl-dispatcher.backend'),           // agent: lib/engine-dispatcher.js or lib/factory.js
  kLifecycle: Symbol('curl-dispatcher.lifecycle'),       // agent: lib/lifecycle.js, close() and destroy()
  kExchange: Symbol('curl-dispatcher.exchange'),         // upgraded socket -> its RawExchange
  kPausedEngine: Symbol('curl-dispatcher.pausedEngine'), // upgraded socket: the engine was told to stop reading
  kInFlight: Symbol('curl-dispatcher.inFlight'),         // upgraded socket: bytes written, not yet sent
  kWriteWaiter: Symbol('curl-dispatcher.writeWaiter'),   // upgraded socket: the write callback held back
  kNorm: Symbol('curl-dispatcher.norm')                  // DiagnosticsRequest -> the request it describes
}
