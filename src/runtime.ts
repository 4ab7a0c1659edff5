// Sluice runs on Node.js 24 LTS or newer (package.json's `engines`; npm itself refuses an older
// Node through `devEngines`). `node dist/src/server.js` bypasses npm, so the process says it too,
// in one line, before anything else is loaded. Imported first by src/server.ts.
export const NODE_MAJOR_NEEDED = 24

const major = Number(process.versions.node.split('.')[0])
if (major < NODE_MAJOR_NEEDED) {
  console.error(`sluice: Node.js ${NODE_MAJOR_NEEDED} or newer is needed, this is ${process.version} (.nvmrc names the version)`)
  process.exit(1)
}
