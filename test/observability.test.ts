// docs/design.md "One request, end to end": one log line per finished stream (report, format,
// strategy, rows, bytes, ms, outcome, reqId) and its metrics; docs/http.md section 3, GET /metrics; and
// secrets: neither the database password nor an API key (nor its hash) ever reaches a log line,
// whether the database answers, is gone, or refuses the password.
import { spawn } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import http from 'node:http'
import net, { type AddressInfo } from 'node:net'
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { Writable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import zlib from 'node:zlib'
import type { FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import { SERVER_ENTRY } from '../harness/server.js'
import { buildApp } from '../src/app.js'
import { defaultConfig, type Config } from '../src/config.js'
import { startEmbedded } from '../src/db/embedded.js'
import { connect, testDatabaseUrl, withClient } from './helpers/db.js'
import { get, reportsFolder, requestId, waitFor } from './helpers/http.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const ROWS = 100_000
// random, long, and unlike anything else in a log: found only if leaked
const password = `pw${randomBytes(16).toString('hex')}`
const token = `tk${randomBytes(16).toString('hex')}`
const tokenHash = createHash('sha256').update(token).digest('hex')
const unknownToken = `tk${randomBytes(16).toString('hex')}`

const suffix = randomBytes(4).toString('hex')
const role = `sluice_obs_${suffix}`
const table = `obs_${suffix}`
const client = await connect()
t.teardown(async () => {
  await client.query(`drop table if exists ${table}; drop role if exists ${role}`)
  await client.end()
})
await client.query(`
  create table ${table} (id bigint primary key, created_at timestamptz not null, label text);
  insert into ${table} select g, timestamptz '2026-01-01' + g * interval '1 second', 'label-' || md5(g::text) from generate_series(1, ${ROWS}) g;
  analyze ${table};
  create role ${role} login password '${password}';
  grant select on ${table} to ${role};
`)
// the app reads as this role, its password in DATABASE_URL like any production deployment's
const databaseUrl = new URL(testDatabaseUrl())
databaseUrl.username = role
databaseUrl.password = password

const reportsDir = await reportsFolder(t, {
  'rows.sql': `/*\ntitle: Rows\nkey: id\n*/\nselect id, created_at, label from ${table}\n`,
  'rows_cursor.sql': `/*\ntitle: Rows, from a cursor\nkey: id\nstrategy: cursor\n*/\nselect id, created_at, label from ${table}\n`
})
// beside the reports, which ignore it, and removed with them
const apiKeysFile = path.join(reportsDir, 'keys.json')
await writeFile(apiKeysFile, JSON.stringify([{ id: 'observer', sha256: tokenHash, reports: ['*'] }]))
const auth = { authorization: `Bearer ${token}` }

t.test('one log line per finished stream, with its request id', async (t) => {
  const app = await inProcessApp(t, databaseUrl.href, { apiKeysFile })
  const cases = [
    { path: '/reports/rows.ndjson', report: 'rows', format: 'ndjson', strategy: 'keyset', rows: ROWS },
    { path: '/reports/rows_cursor.csv?limit=1234', report: 'rows_cursor', format: 'csv', strategy: 'cursor', rows: 1234 },
    { path: '/reports/rows.json?limit=5000', report: 'rows', format: 'json', strategy: 'keyset', rows: 5000, gzip: true }
  ]
  for (const { path, gzip, ...expected } of cases) {
    for (const given of [requestId(), undefined]) {
      const what = `${path}${gzip === true ? ' gzip' : ''}, ${given === undefined ? 'request id made by the server' : 'request id given'}`
      const started = performance.now()
      const res = await get(app.url + path, { headers: { ...auth, ...(given === undefined ? {} : { 'x-request-id': given }), ...(gzip === true ? { 'accept-encoding': 'gzip' } : {}) } })
      const elapsed = Math.ceil(performance.now() - started)
      t.ok(res.complete, `${what}: complete`)
      const reqId = res.headers['x-request-id']
      t.ok(typeof reqId === 'string' && reqId !== '', `${what}: X-Request-Id ${String(reqId)}`)
      if (given !== undefined) t.equal(reqId, given, `${what}: the X-Request-Id given is kept`)
      const line = await ended(app.logs, String(reqId))
      const body = gzip === true ? zlib.gunzipSync(res.body) : res.body
      t.match(line, { ...expected, bytes: body.length, outcome: 'complete', reqId, level: 30 }, `${what}: report, format, strategy, rows, bytes, outcome, reqId`)
      t.ok(Number.isInteger(line.ms) && Number(line.ms) >= 0 && Number(line.ms) <= elapsed, `${what}: ms (${String(line.ms)}) within what the client waited (${elapsed})`)
      // the whole table takes the server a good part of a second: milliseconds, not seconds
      if (expected.rows === ROWS) t.ok(Number(line.ms) >= elapsed / 4, `${what}: ms (${String(line.ms)}) near what the client waited`)
    }
  }

  // a client that leaves early: the same line, its own outcome, the rows it was sent
  const reqId = requestId()
  const cut = await get(`${app.url}/reports/rows.ndjson`, { headers: { ...auth, 'x-request-id': reqId }, stopAfter: 100_000 })
  t.equal(cut.complete, false)
  const line = await ended(app.logs, reqId)
  t.match(line, { report: 'rows', format: 'ndjson', strategy: 'keyset', outcome: 'client_closed' }, 'a cut download: outcome client_closed')
  t.ok(Number(line.rows) > 0 && Number(line.rows) < ROWS && Number(line.bytes) >= 100_000, `a cut download: the rows (${String(line.rows)}) and bytes (${String(line.bytes)}) it was sent`)

  // a request id the server will not take (spaces, too long) is replaced, and the new one is logged
  const bad = await get(`${app.url}/reports/rows.ndjson?limit=3`, { headers: { ...auth, 'x-request-id': 'not an id' } })
  t.not(bad.headers['x-request-id'], 'not an id')
  t.equal((await ended(app.logs, String(bad.headers['x-request-id']))).rows, 3, 'a request id the server made up is the one it logs')

  const counts = new Map<unknown, number>()
  for (const entry of app.logs) if (entry.msg === 'stream ended') counts.set(entry.reqId, (counts.get(entry.reqId) ?? 0) + 1)
  t.equal(counts.size, cases.length * 2 + 2, 'one stream, one line')
  t.ok([...counts.values()].every((n) => n === 1), 'never two lines for one stream')
  noSecrets(t, app.text(), 'the in-process app\'s log')
})

t.test('/metrics: Prometheus text, and counters that match what was sent', async (t) => {
  // one connection: a second cursor then has to wait for it, which the pool gauge must show
  const app = await inProcessApp(t, databaseUrl.href, { poolMax: 1, leaseTimeoutMs: 20_000 })
  const first = await get(`${app.url}/metrics`)
  t.equal(first.status, 200)
  t.match(first.headers['content-type'], /^text\/plain; version=0\.0\.4/, 'Prometheus text format 0.0.4')
  const families = [...first.body.toString().matchAll(/^# TYPE (\S+) (\S+)$/gm)].map(([, name, type]) => `${name} ${type}`)
  for (const family of ['sluice_streams_active gauge', 'sluice_rows_sent_total counter', 'sluice_bytes_sent_total counter', 'sluice_stream_duration_seconds histogram',
    'sluice_streams_ended_total counter', 'sluice_pool_connections gauge', 'sluice_lease_wait_seconds histogram']) {
    t.ok(families.includes(family), `declares ${family}`)
  }

  for (const [report, format, strategy] of [['rows', 'ndjson', 'keyset'], ['rows_cursor', 'csv', 'cursor'], ['rows', 'json', 'keyset']] as const) {
    const before = await metrics(app.url)
    const res = await get(`${app.url}/reports/${report}.${format}`, { headers: { 'accept-encoding': 'gzip' } })
    t.ok(res.complete)
    const bytes = zlib.gunzipSync(res.body).length
    const after = await metrics(app.url)
    const labels = { report, format }
    const ended = { ...labels, strategy, outcome: 'complete' }
    const delta = (name: string, match: Record<string, string>): number => sample(after, name, match) - sample(before, name, match)
    t.equal(delta('sluice_rows_sent_total', labels), ROWS, `${report}.${format}: rows sent grew by the ${ROWS} rows downloaded`)
    t.equal(delta('sluice_bytes_sent_total', labels), bytes, `${report}.${format}: bytes sent grew by the ${bytes} bytes of the body before compression`)
    t.equal(delta('sluice_streams_ended_total', ended), 1, `${report}.${format}: one more stream ended complete`)
    t.equal(delta('sluice_stream_duration_seconds_count', ended), 1, `${report}.${format}: one more duration observed`)
    t.equal(delta('sluice_stream_duration_seconds_bucket', { ...ended, le: '+Inf' }), 1, `${report}.${format}: in the +Inf bucket`)
    t.ok(delta('sluice_stream_duration_seconds_sum', ended) > 0, `${report}.${format}: a duration above zero`)
    // a keyset response's first page waits as a new request, a cursor as one that holds its connection
    t.ok(delta('sluice_lease_wait_seconds_count', { turn: strategy === 'cursor' ? 'hold' : 'first' }) >= 1, `${report}.${format}: the lease waits observed`)
  }

  // a cut download counts under its own outcome
  const before = await metrics(app.url)
  const reqId = requestId()
  await get(`${app.url}/reports/rows.ndjson`, { headers: { 'x-request-id': reqId }, stopAfter: 1000 })
  await ended(app.logs, reqId)
  const after = await metrics(app.url)
  const closed = { report: 'rows', format: 'ndjson', strategy: 'keyset', outcome: 'client_closed' }
  t.equal(sample(after, 'sluice_streams_ended_total', closed) - sample(before, 'sluice_streams_ended_total', closed), 1, 'a cut download: streams ended by client_closed grew by one')

  // the gauges, read while a cursor holds the one connection and another waits for it
  const holding = await held(`${app.url}/reports/rows_cursor.ndjson`)
  const waiting = get(`${app.url}/reports/rows_cursor.ndjson`)
  const during = await waitFor(async () => {
    const text = await metrics(app.url)
    return sample(text, 'sluice_pool_connections', { state: 'waiting' }) === 1 && text
  }, { timeout: 5000, what: 'a request waiting for the connection' }).catch(async (error: unknown) => {
    await holding.resume() // or the held stream keeps the app from closing until it stalls
    throw error
  })
  t.equal(sample(during, 'sluice_pool_connections', { state: 'waiting' }), 1, 'pool: one request waiting')
  t.equal(sample(during, 'sluice_pool_connections', { state: 'in_use' }), 1, 'pool: one connection in use')
  t.equal(sample(during, 'sluice_pool_connections', { state: 'idle' }), 0, 'pool: none idle')
  t.equal(sample(during, 'sluice_streams_active', {}), 2, 'two streams active: the one sending and the one waiting')
  t.ok((await holding.resume()).complete)
  t.ok((await waiting).complete, 'the waiting one got the connection once it was free')
  const idle = await waitFor(async () => {
    const text = await metrics(app.url)
    return sample(text, 'sluice_streams_active', {}) === 0 && text
  }, { timeout: 2000, what: 'no stream active' })
  t.equal(sample(idle, 'sluice_pool_connections', { state: 'in_use' }), 0, 'afterwards: no connection in use')
  t.equal(sample(idle, 'sluice_pool_connections', { state: 'idle' }), 1, 'afterwards: the connection idle in the pool')
  t.equal(sample(idle, 'sluice_pool_connections', { state: 'waiting' }), 0, 'afterwards: nobody waiting')
  t.ok(sample(idle, 'sluice_lease_wait_seconds_sum', { turn: 'hold' }) > 0, 'the wait for the connection is in sluice_lease_wait_seconds, as a cursor\'s')
})

t.test('the real server process: no password or API key in anything it writes', async (t) => {
  const server = spawnServer(t, { DATABASE_URL: databaseUrl.href, REPORTS_DIR: reportsDir, API_KEYS_FILE: apiKeysFile })
  const url = await server.url
  t.ok((await get(`${url}/reports/rows.ndjson?limit=10`, { headers: auth })).complete, 'a download with the key')
  t.equal((await get(`${url}/reports/rows.ndjson`, { headers: { authorization: `Bearer ${unknownToken}` } })).status, 401, 'an unknown key: 401')
  t.equal((await get(`${url}/reports/nope.csv`, { headers: auth })).status, 404)
  t.equal((await get(`${url}/reports/rows.ndjson?limit=0`, { headers: auth })).status, 400)
  await get(`${url}/reports/rows_cursor.ndjson`, { headers: auth, stopAfter: 5000 })
  for (const path of ['/ready', '/metrics', '/reports']) t.equal((await get(url + path, { headers: auth })).status, 200, path)
  await server.stop()
  t.ok(server.output().includes('"outcome":"complete"'), 'its log was captured')
  noSecrets(t, server.output(), 'the server process\'s stdout and stderr')
})

t.test('the database gone, or refusing the password: still no password in any log', async (t) => {
  // the test database trusts loopback connections: a password is checked only by a server of our own
  const dataDir = fileURLToPath(new URL(`../.data/observability-${suffix}`, import.meta.url))
  const embedded = await startEmbedded({ dataDir, database: 'sluice_obs', throwaway: true })
  t.teardown(() => embedded.stop())
  const embeddedPassword = decodeURIComponent(new URL(embedded.url).password)
  await withClient(embedded.url, (client) => client.query(`create table ${table} as select g::bigint as id, now() as created_at, 'x' as label from generate_series(1, 10) g`))
  const app = await inProcessApp(t, embedded.url)
  t.equal((await get(`${app.url}/ready`)).status, 200)
  await embedded.restart(async () => {
    t.equal((await get(`${app.url}/ready`)).status, 503, '/ready while the database is gone')
    t.equal((await get(`${app.url}/reports/rows.ndjson`)).status, 503, 'a report while the database is gone')
  })
  t.ok(app.logs.some((line) => line.msg === 'database not answering'), 'the outage was logged')
  noSecrets(t, app.text(), 'the in-process app\'s log through an outage', [embeddedPassword])

  const wrong = new URL(embedded.url)
  wrong.password = password
  const refused = spawnServer(t, { DATABASE_URL: wrong.href, REPORTS_DIR: reportsDir })
  t.equal(await refused.exited, 1, 'a server given a wrong password fails at start')
  t.match(refused.output(), /^sluice: cannot use the database: password authentication failed/m, 'with a line that says why')
  noSecrets(t, refused.output(), 'the output of a server given a wrong password', [embeddedPassword])

  const nowhere = new URL(databaseUrl.href)
  nowhere.port = String(await closedPort())
  const unreachable = spawnServer(t, { DATABASE_URL: nowhere.href, REPORTS_DIR: reportsDir })
  t.equal(await unreachable.exited, 1, 'a server whose database is unreachable fails at start')
  t.match(unreachable.output(), /^sluice: cannot use the database: connect ECONNREFUSED/m, 'with a line that says why')
  noSecrets(t, unreachable.output(), 'the output of a server whose database is unreachable')
})

/** Fails for every secret found in `text`: the password, the API keys and the stored key's hash. */
function noSecrets (t: Test, text: string, where: string, more: string[] = []): void {
  t.ok(text.length > 0, `${where}: captured (${text.length} characters)`)
  const secrets: Record<string, string> = { password, 'API key': token, 'unknown API key': unknownToken, 'API key hash': tokenHash }
  for (const [i, extra] of more.entries()) secrets[`password ${i + 2}`] = extra
  for (const [name, secret] of Object.entries(secrets)) {
    const at = text.indexOf(secret)
    t.equal(at, -1, `${where}: no ${name}`, at === -1 ? {} : { found: text.slice(Math.max(0, at - 300), at + 100) })
  }
}

interface InProcessApp {
  readonly app: FastifyInstance
  readonly url: string
  /** every log line, parsed */
  readonly logs: Array<Record<string, unknown>>
  /** every byte the logger wrote */
  text (): string
}

/** The app in this process, on `connectionString`, listening on a free port, its log captured whole. */
async function inProcessApp (t: Test, connectionString: string, overrides: Partial<Config> = {}): Promise<InProcessApp> {
  const logs: Array<Record<string, unknown>> = []
  const chunks: string[] = []
  const stream = new Writable({
    write (chunk: Buffer, _encoding, callback) {
      chunks.push(chunk.toString())
      for (const line of chunk.toString().split('\n')) if (line !== '') logs.push(JSON.parse(line) as Record<string, unknown>)
      callback()
    }
  })
  const config = defaultConfig({ reportsDir, applicationName: `sluice-obs-${suffix}`, logLevel: 'info', ...overrides })
  const app = await buildApp({ config, connectionString, logger: { level: config.logLevel, stream } })
  t.teardown(() => app.close())
  await app.listen({ host: '127.0.0.1', port: 0 })
  return { app, url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, logs, text: () => chunks.join('') }
}

async function ended (logs: ReadonlyArray<Record<string, unknown>>, reqId: string): Promise<Record<string, unknown>> {
  return await waitFor(() => logs.find((line) => line.reqId === reqId && line.msg === 'stream ended'), { timeout: 2000, what: `'stream ended' for ${reqId}` })
}

async function metrics (base: string): Promise<string> {
  return (await get(`${base}/metrics`)).body.toString()
}

/** The value of the sample `name` whose labels include `labels`; 0 for a labelled series not yet touched. */
function sample (text: string, name: string, labels: Record<string, string>): number {
  for (const line of text.split('\n')) {
    const match = /^([\w:]+)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (match === null || match[1] !== name) continue
    const has = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map(([, key = '', value = '']) => [key, value] as const))
    if (Object.entries(labels).every(([key, value]) => has[key] === value)) return Number(match[3])
  }
  return 0
}

/** A download that takes its first chunk and then reads nothing until resumed. */
async function held (url: string): Promise<{ resume: () => Promise<{ complete: boolean }> }> {
  return await new Promise((resolve, reject) => {
    http.get(url, { agent: false }, (res) => {
      let aborted = false
      res.on('aborted', () => { aborted = true })
      res.on('error', () => { aborted = true })
      const over = new Promise<boolean>((resolveOver) => res.on('close', () => resolveOver(res.complete && !aborted)))
      res.once('data', () => {
        res.pause()
        resolve({ resume: async () => { res.resume(); return { complete: await over } } })
      })
    }).on('error', reject)
  })
}

interface Spawned {
  /** `npm start`'s URL line, once printed */
  readonly url: Promise<string>
  /** the exit code */
  readonly exited: Promise<number | null>
  /** everything written to stdout and stderr so far */
  output (): string
  stop (): Promise<void>
}

/** `npm start`'s process (`node dist/src/server.js`), every byte of its stdout and stderr kept. */
function spawnServer (t: Test, env: Record<string, string>): Spawned {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(NODE_OPTIONS|NODE_V8_COVERAGE|TAP|_TAPJS_)/.test(name)))
  const child = spawn(process.execPath, [SERVER_ENTRY], {
    cwd: ROOT,
    env: { ...clean, HOST: '127.0.0.1', PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const killOnExit = (): void => { child.kill('SIGKILL') }
  process.once('exit', killOnExit)
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => {
    process.removeListener('exit', killOnExit)
    resolve(code)
  }))
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await exited
  })
  let text = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { text += chunk })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { text += chunk })
  let code: number | null | undefined
  void exited.then((exitCode) => { code = exitCode })
  const url = waitFor(() => {
    if (code !== undefined) throw new Error(`the server exited (${code}) before it served:\n${text}`)
    return /^Sluice serves \d+ reports on (\S+)$/m.exec(text)?.[1]
  }, { timeout: 30_000, what: 'the server\'s URL' })
  url.catch(() => {}) // a server expected to fail is awaited through `exited`
  return {
    url,
    exited,
    output: () => text,
    stop: async () => {
      child.kill('SIGTERM')
      await exited
    }
  }
}

/** A loopback port nothing listens on. */
async function closedPort (): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}
