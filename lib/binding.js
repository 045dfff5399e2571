'use strict'

// Loads the native addon (build/Release or build/Debug). Every other module
// reaches it through lib/native.js (functions) or lib/constants.js (numbers).

const path = require('node:path')

function loadBinding () {
  const root = path.join(__dirname, '..', 'build')
  const tried = []
  for (const dir of ['Release', 'Debug']) {
    const file = path.join(root, dir, 'curl_dispatcher.node')
    try {
      return require(file)
    } catch (err) {
      if (err.code !== 'MODULE_NOT_FOUND') throw err
      tried.push(file)
    }
  }
  throw new Error(`curl-dispatcher: native addon not built (looked for ${tried.join(', ')}); run \`node tools/setup.js\``)
}

module.exports = loadBinding()
