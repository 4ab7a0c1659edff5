'use strict'
// the addon node-gyp built on install (binding.gyp): { trim(): boolean, supported: boolean }
module.exports = require('./build/Release/trim.node')
