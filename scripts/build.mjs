// Builds `dist/` (compiled TypeScript, the SQL reports and the pages' files) when what it is built
// from has changed since the last build, and does nothing otherwise, so `npm start` and `npm test`
// start at once on an unchanged tree (docs/decisions/0004-start-without-rebuild.md).
// `--force` builds whatever the fingerprint says (`npm run build`).
//
// The fingerprint covers every input file's path, size and modification time, so an edit, a new
// file, a deleted one (whose output must not linger in dist/) or a git checkout all count.
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { cpSync, globSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const stamp = `${root}dist/.inputs`
const inputs = globSync(['{src,routes,migrations,reports,public}/**/*', 'tsconfig*.json', 'package-lock.json'], { cwd: root })
  .filter((file) => statSync(`${root}${file}`).isFile())
  .sort()
const fingerprint = createHash('sha256')
for (const file of inputs) {
  const { size, mtimeMs } = statSync(`${root}${file}`)
  fingerprint.update(`${file}\0${size}\0${mtimeMs}\n`)
}
const current = fingerprint.digest('hex')

if (process.argv.includes('--force') || read(stamp) !== current) {
  rmSync(`${root}dist`, { recursive: true, force: true })
  const tsc = spawnSync(process.execPath, [`${root}node_modules/typescript/bin/tsc`, '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' })
  if (tsc.status !== 0) process.exit(tsc.status ?? 1)
  for (const file of globSync('reports/*.sql', { cwd: root })) cpSync(`${root}${file}`, `${root}dist/${file}`)
  cpSync(`${root}public`, `${root}dist/public`, { recursive: true })
  writeFileSync(stamp, current)
}

function read (file) {
  try {
    return readFileSync(file, 'utf8')
  } catch {
    return undefined
  }
}
