// docs/http.md section 2, SHUTDOWN_TIMEOUT_MS: on SIGTERM/SIGINT new requests get 503, running streams
// may finish for that long, then are aborted (outcome `shutdown`), and the process exits 0 having
// closed its database sessions. On the real server process (`npm start`'s), since what is tested
// is the process: its signals, its exit code, its sessions. And docs/design.md's embedded-PostgreSQL
// trap: a cluster left running by a SIGKILLed parent must not stop the next start.
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { readdir, readFile, readlink, rm } from 'node:fs/promises'
import http from 'node:http'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import t, { type Test } from 'tap'
import { SERVER_ENTRY } from '../harness/server.js'
import { alive, startEmbedded } from '../src/db/embedded.js'
import { scratchTable, testDatabaseUrl } from './helpers/db.js'
import { get, reportsFolder, requestId, waitFor } from './helpers/http.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const ROWS = 200_000
// long enough that the short download finishes well inside it, even on a busy machine
const SHUTDOWN_TIMEOUT_MS = 2500
// node and tsx starting up, pino's last lines, the pool closing: what exiting may take past the deadline
const EXIT_MARGIN_MS = 2000
// past the first batch (1000 rows), so the response has begun when the sleep starts
const NAP_AT = 5000

const { client, table } = await scratchTable(t, 'shutdown')
// ~16 MB of NDJSON: far more than the socket buffers hold, so a reader that pauses keeps it running
await client.query(`
  create table ${table} (id bigint primary key, created_at timestamptz not null, label text);
  insert into ${table} select g, timestamptz '2026-01-01' + g * interval '1 second', 'label-' || md5(g::text) from generate_series(1, ${ROWS}) g;
  analyze ${table};
  -- sleeps on one row: a cursor FETCH that reaches it is a statement still running at the deadline
  create function ${table}_nap(id bigint) returns text language plpgsql stable
    as $$ begin if id = ${NAP_AT} then perform pg_sleep(60); end if; return null; end $$;
`)
const reportsDir = await reportsFolder(t, {
  'big.sql': `/*\ntitle: Big\nkey: id\n*/\nselect id, created_at, label from ${table}\n`,
  'big_cursor.sql': `/*\ntitle: Big, from a cursor\nkey: id\nstrategy: cursor\n*/\nselect id, created_at, label from ${table}\n`,
  'slow_cursor.sql': `/*\ntitle: Slow, from a cursor\nkey: id\nstrategy: cursor\n*/\nselect id, ${table}_nap(id) as nap from ${table}\n`
})

t.test('SIGTERM: 503 at once, a stream that finishes in time is whole, one that does not is cut at the deadline, exit 0', async (t) => {
  const server = await startServer(t, { SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS) })
  const finishing = await held(server.url, 'big')
  const cursor = await held(server.url, 'big_cursor')
  const keyset = await held(server.url, 'big')
  const slow = await held(server.url, 'slow_cursor')
  const ports = await waitFor(async () => {
    const ports = await databasePorts(server.pid)
    return await sessionsOf(ports, "and wait_event = 'PgSleep'") === 1 && ports
  }, { timeout: 5000, what: 'the slow cursor inside its sleep' })
  t.pass('the server\'s database sessions are found by their client ports, the slow one inside its sleep')
  t.equal(await metric(server.url, 'sluice_streams_active'), 4, 'four streams running when the signal comes')

  const signalled = Date.now()
  server.child.kill('SIGTERM')
  await server.waitForLog((line) => line.msg === 'shutting down' && line.signal === 'SIGTERM')
  for (const path of ['/ready', '/reports/big.ndjson', '/reports']) {
    const res = await get(server.url + path)
    t.equal(res.status, 503, `${path} on a new connection while draining: 503`)
    t.match(res.headers['retry-after'], /^\d+$/, `${path}: with a Retry-After`)
  }
  t.equal((await get(`${server.url}/health`)).status, 200, '/health: 200, the process still runs')

  const done = await finishing.resume()
  t.ok(done.complete, 'a stream that finishes within the deadline is complete')
  t.equal(done.bytes, (await server.streamEnded(finishing.reqId)).bytes, 'every byte of it arrived')
  t.equal((await server.streamEnded(finishing.reqId)).outcome, 'complete', 'and is logged complete')
  t.ok(Date.now() - signalled < SHUTDOWN_TIMEOUT_MS, 'it finished before the deadline (else the test proves nothing)')

  for (const [what, download] of [['cursor', cursor], ['keyset', keyset], ['cursor inside a slow statement', slow]] as const) {
    const line = await server.streamEnded(download.reqId, SHUTDOWN_TIMEOUT_MS + 2000)
    t.equal(line.outcome, 'shutdown', `${what}: a stream still running at the deadline is logged with outcome shutdown`)
    t.ok(Number(line.time) - signalled >= SHUTDOWN_TIMEOUT_MS - 50, `${what}: cut at the deadline, not before (${Number(line.time) - signalled} ms after the signal)`)
    t.equal((await download.resume()).complete, false, `${what}: the client sees an incomplete response`)
  }

  const exit = await server.exited
  t.same({ code: exit.code, signal: exit.signal }, { code: 0, signal: null }, 'the process exits with code 0')
  t.ok(exit.at - signalled < SHUTDOWN_TIMEOUT_MS + EXIT_MARGIN_MS, `it exits within the deadline and ${EXIT_MARGIN_MS} ms (${exit.at - signalled} ms)`)
  await noSessionsLeft(t, ports)
})

t.test('SIGINT: the same drain, and no wait for the deadline once the streams are done', async (t) => {
  const deadline = 20_000
  const server = await startServer(t, { SHUTDOWN_TIMEOUT_MS: String(deadline) })
  const download = await held(server.url, 'big_cursor')
  const ports = await databasePorts(server.pid)
  t.ok(await sessionsOf(ports) > 0, 'the server\'s database sessions are found by their client ports')

  const signalled = Date.now()
  server.child.kill('SIGINT')
  await server.waitForLog((line) => line.msg === 'shutting down' && line.signal === 'SIGINT')
  t.equal((await get(`${server.url}/ready`)).status, 503, '/ready: 503 while draining')
  t.ok((await download.resume()).complete, 'the running stream finishes, complete')
  t.equal((await server.streamEnded(download.reqId)).outcome, 'complete', 'and is logged complete')
  const exit = await server.exited
  t.same({ code: exit.code, signal: exit.signal }, { code: 0, signal: null }, 'the process exits with code 0')
  t.ok(exit.at - signalled < deadline / 2, `as soon as the stream is done, not at the deadline (${exit.at - signalled} ms)`)
  await noSessionsLeft(t, ports)
})

t.test('startEmbedded after its parent was SIGKILLed: the stale cluster is stopped, the data is still there', async (t) => {
  const dataDir = fileURLToPath(new URL(`../.data/shutdown-${randomBytes(4).toString('hex')}`, import.meta.url))
  let stalePid = 0
  t.teardown(async () => {
    // should the test fail half way, the cluster it started must not outlive it
    if (stalePid > 0 && alive(stalePid)) {
      process.kill(stalePid, 'SIGINT')
      await waitFor(() => !alive(stalePid), { timeout: 10_000 }).catch(() => {})
    }
    await rm(dataDir, { recursive: true, force: true })
    await rm(`${dataDir}.secret`, { force: true })
  })
  const script = `
    import pg from 'pg'
    import { startEmbedded } from './src/db/embedded.ts'
    const server = await startEmbedded({ dataDir: process.env.DATA_DIR, database: 'kept' })
    const client = new pg.Client({ connectionString: server.url })
    await client.connect()
    await client.query("create table kept as select g as id, 'row ' || g as note from generate_series(1, 1000) g")
    await client.end()
    console.log('ready')
    setInterval(() => {}, 60_000)
  `
  const parent = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: ROOT, env: { ...cleanEnv(), DATA_DIR: dataDir }, stdio: ['ignore', 'pipe', 'pipe']
  })
  const output = lines(parent)
  const killOnExit = (): void => { parent.kill('SIGKILL') }
  process.once('exit', killOnExit)
  t.teardown(() => { process.removeListener('exit', killOnExit) })
  await waitFor(() => output.includes('ready'), { timeout: 30_000 }).catch(() => { throw new Error(`no cluster up in the child:\n${output.join('\n')}`) })
  stalePid = Number((await readFile(`${dataDir}/postmaster.pid`, 'utf8')).split('\n')[0])

  const gone = new Promise((resolve) => parent.once('exit', resolve))
  parent.kill('SIGKILL')
  await gone
  t.ok(alive(stalePid), `the parent SIGKILLed, its PostgreSQL (pid ${stalePid}) runs on`)

  const server = await startEmbedded({ dataDir, database: 'kept', throwaway: true })
  t.teardown(() => server.stop())
  t.notOk(alive(stalePid), 'startEmbedded stopped the stale server')
  const newPid = Number((await readFile(`${dataDir}/postmaster.pid`, 'utf8')).split('\n')[0])
  t.not(newPid, stalePid, 'and runs a server of its own on the data folder')
  const check = new pg.Client({ connectionString: server.url })
  await check.connect()
  try {
    const { rows } = await check.query<{ n: string }>('select count(*) as n from kept')
    t.equal(rows[0]?.n, '1000', 'the data written before the kill is still there')
  } finally {
    await check.end()
  }
  await server.stop()
  t.notOk(existsSync(dataDir), 'a throwaway cluster removes its data folder when stopped')
})

interface ServerProcess {
  readonly url: string
  readonly pid: number
  readonly child: ChildProcess
  /** resolves when the process has exited, with how and when (Date.now()) */
  readonly exited: Promise<{ code: number | null, signal: NodeJS.Signals | null, at: number }>
  waitForLog (match: (line: Record<string, unknown>) => boolean, timeout?: number): Promise<Record<string, unknown>>
  streamEnded (reqId: string, timeout?: number): Promise<Record<string, unknown>>
}

/**
 * `npm start`'s process (`node dist/src/server.js`) on the test database. Not the shared
 * test/helpers/server.ts: its handle does not tell the exit code, which is what is tested here.
 */
async function startServer (t: Test, env: Record<string, string>): Promise<ServerProcess> {
  const child = spawn(process.execPath, [SERVER_ENTRY], {
    cwd: ROOT,
    env: {
      ...cleanEnv(),
      DATABASE_URL: testDatabaseUrl(),
      REPORTS_DIR: reportsDir,
      HOST: '127.0.0.1',
      PORT: '0',
      ...env
    },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null, at: number }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal, at: Date.now() }))
  })
  const killOnExit = (): void => { child.kill('SIGKILL') }
  process.once('exit', killOnExit)
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await exited
    process.removeListener('exit', killOnExit)
  })
  const output = lines(child)
  const json = (): Array<Record<string, unknown>> => output.filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Record<string, unknown>)
  const url = await waitFor(() => {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`the server exited before it served:\n${output.join('\n')}`)
    return output.map((line) => /^Sluice serves \d+ reports on (\S+)$/.exec(line)?.[1]).find((found) => found !== undefined)
  }, { timeout: 30_000, what: 'the server\'s URL' })
  const waitForLog = async (match: (line: Record<string, unknown>) => boolean, timeout = 5000): Promise<Record<string, unknown>> =>
    await waitFor(() => json().find(match), { timeout }).catch(() => { throw new Error(`no such log line within ${timeout} ms; the server wrote:\n${output.join('\n')}`) })
  return {
    url,
    pid: child.pid!,
    child,
    exited,
    waitForLog,
    streamEnded: async (reqId, timeout = 2000) => await waitForLog((line) => line.reqId === reqId && line.msg === 'stream ended', timeout)
  }
}

interface Held {
  readonly reqId: string
  /** reads the rest; resolves once the response is over */
  resume (): Promise<{ complete: boolean, bytes: number }>
}

/** A download of `report` that takes its first chunk and then reads nothing until resumed. */
async function held (base: string, report: string): Promise<Held> {
  const reqId = requestId()
  return await new Promise((resolve, reject) => {
    const req = http.get(`${base}/reports/${report}.ndjson`, { agent: false, headers: { 'x-request-id': reqId } }, (res) => {
      let bytes = 0
      let aborted = false
      res.on('aborted', () => { aborted = true })
      res.on('error', () => { aborted = true })
      const ended = new Promise<boolean>((resolveEnded) => res.on('close', () => resolveEnded(res.complete && !aborted)))
      res.on('data', (chunk: Buffer) => {
        if (bytes === 0) {
          res.pause()
          resolve({ reqId, resume: async () => { res.resume(); return { complete: await ended, bytes } } })
        }
        bytes += chunk.length
      })
    })
    req.on('error', reject)
  })
}

/** One sample of a Prometheus metric without labels. */
async function metric (base: string, name: string): Promise<number> {
  const res = await get(`${base}/metrics`)
  const line = res.body.toString().split('\n').find((text) => text.startsWith(`${name} `))
  return Number(line?.split(' ')[1])
}

/**
 * The local ports of `pid`'s TCP connections to the test database, from /proc: application_name
 * is 'sluice' for every server process, so a session is told apart by its client port.
 */
async function databasePorts (pid: number): Promise<number[]> {
  const databasePort = Number(new URL(testDatabaseUrl()).port || 5432)
  const inodes = new Set<string>()
  for (const fd of await readdir(`/proc/${pid}/fd`)) {
    const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')
    const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1]
    if (inode !== undefined) inodes.add(inode)
  }
  const ports: number[] = []
  for (const table of ['tcp', 'tcp6']) {
    const text = await readFile(`/proc/${pid}/net/${table}`, 'utf8').catch(() => '')
    for (const row of text.split('\n').slice(1)) {
      const fields = row.trim().split(/\s+/)
      const [local, remote, inode] = [fields[1], fields[2], fields[9]]
      if (local === undefined || remote === undefined || inode === undefined || !inodes.has(inode)) continue
      if (parseInt(remote.split(':')[1] ?? '', 16) === databasePort) ports.push(parseInt(local.split(':')[1] ?? '', 16))
    }
  }
  return ports
}

async function sessionsOf (ports: number[], and = ''): Promise<number> {
  const { rows } = await client.query<{ n: number }>(
    `select count(*)::int as n from pg_stat_activity where application_name = 'sluice' and client_port = any($1) ${and}`, [ports])
  return rows[0]?.n ?? 0
}

/** The server's sessions end with it; a backend notices a closed socket at once, but not in the same instant. */
async function noSessionsLeft (t: Test, ports: number[]): Promise<void> {
  const none = await waitFor(async () => await sessionsOf(ports) === 0, { timeout: 1000 }).then(() => true, () => false)
  t.ok(none, `no session of the server is left in the database (ports ${ports.join(', ')})`)
}

/** Every line the child writes to stdout and stderr, as it comes; both pipes drained for its whole life. */
function lines (child: ChildProcess): string[] {
  const output: string[] = []
  for (const stream of [child.stdout, child.stderr]) {
    let rest = ''
    stream?.setEncoding('utf8')
    stream?.on('data', (text: string) => {
      const parts = (rest + text).split('\n')
      rest = parts.pop() ?? ''
      output.push(...parts)
    })
  }
  return output
}

/** Our environment without tap's hooks (NODE_OPTIONS loads them into every child). */
function cleanEnv (): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && !/^(NODE_OPTIONS|NODE_V8_COVERAGE|TAP|_TAPJS_)/.test(name)) env[name] = value
  }
  return env
}
