// docs/http.md section 3, "Complete or cut", and docs/design.md's known traps: a query that fails part way,
// a backend killed under a running stream, and PostgreSQL going away mid-stream each abort the
// affected responses without their final chunk; the process neither crashes nor hangs, /ready says
// 503 while the database is gone and 200 once it is back, and the next download is whole.
import { randomBytes } from 'node:crypto'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { Writable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { buildApp } from '../src/app.js'
import { defaultConfig } from '../src/config.js'
import { startEmbedded } from '../src/db/embedded.js'
import { listenTestApp } from './helpers/app.js'
import { scratchTable, withClient } from './helpers/db.js'
import { busySessions, get, poolWhole, reportsFolder, requestId, streamEnded, waitFor } from './helpers/http.js'

// A checked-out pg client whose backend dies emits 'error'; without the lease's own listener that
// is an uncaught exception (node-postgres #2187). Recorded here rather than left to crash tap.
const unexpected: string[] = []
process.on('uncaughtException', (error) => { unexpected.push(`uncaughtException: ${error.stack ?? String(error)}`) })
process.on('unhandledRejection', (reason) => { unexpected.push(`unhandledRejection: ${String(reason)}`) })

const ROWS = 200_000
const FAIL_AT = 150_000
const NAP_AT = 100_000
// far longer than any case takes: a sleep that ends by itself means the kill did not happen
const SLEEP_S = 30

const { client, table } = await scratchTable(t, 'failures')
await client.query(fixture(table, ROWS))
const reportsDir = await reportsFolder(t, reports(table))
// a paused client the test fails to resume is cut after this, not after the default 30 s
const { app, url, applicationName, logs } = await listenTestApp(t, { reportsDir, stallTimeoutMs: 10_000 })

t.test('a query that fails part way aborts the response, whichever the strategy and format', async (t) => {
  for (const report of ['fails', 'fails_cursor']) {
    for (const [format, headers] of [['ndjson', {}], ['csv', {}], ['json', { 'accept-encoding': 'gzip' }]] as const) {
      const what = `${report}.${format}${'accept-encoding' in headers ? ' gzip' : ''}`
      const reqId = requestId()
      const res = await get(`${url}/reports/${report}.${format}`, { headers: { ...headers, 'x-request-id': reqId } })
      t.equal(res.status, 200, `${what}: the headers went out before the failing row`)
      t.ok(res.body.length > 0, `${what}: rows before the failing one arrived`)
      t.equal(res.complete, false, `${what}: the client sees an incomplete response`)
      const line = await streamEnded(logs, reqId)
      t.equal(line.outcome, 'db_error', `${what}: logged as db_error`)
      t.match(line.reason, /division by zero/, `${what}: the log says why`)
      t.ok(typeof line.rows === 'number' && line.rows > 0 && line.rows < FAIL_AT, `${what}: logged ${String(line.rows)} rows, fewer than precede the failing one`)
      await settled(t, what)
    }
  }
  await wholeDownloads(t, url, ['big', 'big_cursor'])
  t.same(unexpected, [], 'no uncaughtException or unhandledRejection')
})

t.test('a backend killed with pg_terminate_backend mid-stream', async (t) => {
  for (const report of ['slow', 'slow_cursor']) {
    const what = `${report}, killed inside its slow statement`
    const reqId = requestId()
    const download = get(`${url}/reports/${report}.ndjson`, { headers: { 'x-request-id': reqId } })
    const pid = await waitFor(async () => (await busySessions(client, applicationName)).find((s) => s.wait_event === 'PgSleep')?.pid, {
      timeout: 10_000, what: `${what}: the app's session in pg_sleep`
    })
    await terminate(t, pid)
    const res = await download
    t.equal(res.status, 200, what)
    t.ok(res.body.length > 0, `${what}: rows before the slow one arrived`)
    t.equal(res.complete, false, `${what}: the client sees an incomplete response`)
    const line = await streamEnded(logs, reqId)
    t.equal(line.outcome, 'db_error', `${what}: logged as db_error`)
    t.ok(typeof line.rows === 'number' && line.rows < NAP_AT, `${what}: logged ${String(line.rows)} rows`)
    await settled(t, what)
  }

  // The cursor's connection is held between fetches: killed while the client reads nothing, the
  // client object has no query to fail and emits 'error' on its own, which the lease must take.
  const what = 'big_cursor, killed while the client has paused'
  const reqId = requestId()
  const download = await held(`${url}/reports/big_cursor.ndjson`, { 'x-request-id': reqId })
  t.equal(download.status, 200, what)
  const pid = await waitFor(async () => (await busySessions(client, applicationName)).find((s) => s.state === 'idle in transaction' && /^fetch /.test(s.query))?.pid, {
    timeout: 5000, what: `${what}: the app's cursor session idle in its transaction`
  })
  await terminate(t, pid)
  // nothing reads the response, so only the client's 'error' can have given the connection up
  const givenUp = await waitFor(() => app.pool.totalCount === app.pool.idleCount, { timeout: 2000 }).then(() => true, () => false)
  t.ok(givenUp, `${what}: the dead connection is given up before the client reads again`)
  t.same(unexpected, [], `${what}: no uncaughtException`)
  const { complete } = await download.resume()
  t.equal(complete, false, `${what}: the client sees an incomplete response once it reads on`)
  const line = await streamEnded(logs, reqId)
  t.equal(line.outcome, 'db_error', `${what}: logged as db_error`)
  await settled(t, what)

  await wholeDownloads(t, url, ['big', 'big_cursor'])
  t.same(unexpected, [], 'no uncaughtException or unhandledRejection')
})

t.test('PostgreSQL restarted mid-stream', async (t) => {
  // a cluster of the test's own: the machine's PostgreSQL is not ours to stop
  const dataDir = fileURLToPath(new URL(`../.data/failures-${randomBytes(4).toString('hex')}`, import.meta.url))
  const embedded = await startEmbedded({ dataDir, database: 'sluice_failures', throwaway: true })
  const rows = 50_000
  const names = `restart_${randomBytes(4).toString('hex')}`
  await withClient(embedded.url, (client) => client.query(fixture(names, rows)))
  const logs: Array<Record<string, unknown>> = []
  const app = await buildApp({
    config: defaultConfig({ reportsDir: await reportsFolder(t, reports(names, rows / 2)), applicationName: names }),
    connectionString: embedded.url,
    logger: { level: 'info', stream: capture(logs) }
  })
  t.teardown(async () => {
    await app.close()
    await embedded.stop()
  })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`

  const inFlight = ['slow', 'slow_cursor'].map((report) => {
    const reqId = requestId()
    return { report, reqId, download: get(`${url}/reports/${report}.ndjson`, { headers: { 'x-request-id': reqId } }) }
  })
  await waitFor(() => withClient(embedded.url, async (client) => {
    const { rows } = await client.query("select 1 from pg_stat_activity where application_name = $1 and wait_event = 'PgSleep'", [names])
    return rows.length === 2
  }), { timeout: 10_000, what: 'both downloads inside their slow statement' })

  await embedded.restart(async () => {
    for (const { report, reqId, download } of inFlight) {
      const res = await download
      t.equal(res.status, 200, report)
      t.equal(res.complete, false, `${report}: the response in flight is aborted as incomplete`)
      t.equal((await streamEnded(logs, reqId)).outcome, 'db_error', `${report}: logged as db_error`)
    }
    const ready = await get(`${url}/ready`)
    t.equal(ready.status, 503, '/ready is 503 while the database is down')
    t.match(ready.headers['retry-after'], /^\d+$/, 'with a Retry-After')
    t.match(logs.find((line) => line.msg === 'database not answering')?.reason, /ECONNREFUSED/, '/ready logs why')
    t.equal((await get(`${url}/health`)).status, 200, '/health still 200: the process runs')
    const refused = await get(`${url}/reports/big.ndjson`)
    t.equal(refused.status, 503, 'a report asked while the database is down is refused with 503')
    t.match(refused.headers['retry-after'], /^\d+$/, 'with a Retry-After')
  })

  await waitFor(async () => (await get(`${url}/ready`)).status === 200, { timeout: 10_000, what: '/ready 200 once the database is back' })
  t.pass('/ready is 200 once the database is back')
  await wholeDownloads(t, url, ['big', 'big_cursor'], rows)
  await waitFor(() => poolWhole(app) && app.streaming.streams.active === 0, { timeout: 1000, what: 'the pool whole' })
  t.same(unexpected, [], 'no uncaughtException or unhandledRejection')
})

/** `rows` numbered rows, and a function that sleeps on one of them so a statement can be caught running. */
function fixture (name: string, rows: number): string {
  return `
    create table ${name} (id bigint primary key, created_at timestamptz not null, label text, amount numeric);
    insert into ${name}
    select g, timestamptz '2026-01-01 00:00:00+00' + g * interval '1 second', 'label-' || substr(md5(g::text), 1, 12), round((g % 10000) / 100.0, 2)
    from generate_series(1, ${rows}) g;
    analyze ${name};
    -- stable and in a function of its own: a volatile select list would make every page sort the table
    create function ${name}_nap(id bigint, at bigint) returns text language plpgsql stable
      as $$ begin if id = at then perform pg_sleep(${SLEEP_S}); end if; return null; end $$;
  `
}

function reports (name: string, napAt = NAP_AT): Record<string, string> {
  const columns = 'id, created_at, label, amount'
  const files: Record<string, string> = {}
  for (const strategy of ['keyset', 'cursor']) {
    const suffix = strategy === 'cursor' ? '_cursor' : ''
    const header = (title: string): string => `/*\ntitle: ${title}\nkey: id\nstrategy: ${strategy}\n*/\n`
    files[`big${suffix}.sql`] = `${header('Every row')}select ${columns} from ${name}\n`
    files[`fails${suffix}.sql`] = `${header('Fails part way')}select ${columns}, 1 / (id - ${FAIL_AT}) as x from ${name}\n`
    files[`slow${suffix}.sql`] = `${header('Slow part way')}select ${columns}, ${name}_nap(id, ${napAt}) as nap from ${name}\n`
  }
  return files
}

/** Nothing of the app runs in the database, every connection is back, every stream slot free. */
async function settled (t: Test, what: string): Promise<void> {
  try {
    await waitFor(async () => poolWhole(app) && app.streaming.streams.active === 0 && (await busySessions(client, applicationName)).length === 0, { timeout: 2000, what })
    t.pass(`${what}: the pool whole, nothing running`)
  } catch {
    t.fail(`${what}: the pool whole, nothing running`, {
      sessions: await busySessions(client, applicationName),
      pool: { total: app.pool.totalCount, idle: app.pool.idleCount, waiting: app.pool.waitingCount }
    })
  }
}

async function terminate (t: Test, pid: number): Promise<void> {
  const { rows } = await client.query<{ done: boolean }>('select pg_terminate_backend($1) as done', [pid])
  t.equal(rows[0]?.done, true, `backend ${pid} terminated`)
}

/** Each report downloaded whole: complete, every row once, in key order. */
async function wholeDownloads (t: Test, base: string, names: string[], rows = ROWS): Promise<void> {
  for (const report of names) {
    const res = await get(`${base}/reports/${report}.ndjson`)
    t.equal(res.status, 200, `${report}: then a download`)
    t.ok(res.complete, `${report}: complete`)
    const ids = res.body.toString().split('\n').filter((line) => line !== '').map((line) => (JSON.parse(line) as { id: number }).id)
    t.equal(ids.length, rows, `${report}: all ${rows} rows`)
    t.ok(ids.every((id, i) => id === i + 1), `${report}: each once, in order`)
  }
}

interface Held {
  readonly status: number
  /** reads the rest; resolves with whether the response ended with its final chunk */
  resume (): Promise<{ complete: boolean }>
}

/** A download that takes its first chunk and then reads nothing until resumed. */
async function held (url: string, headers: Record<string, string>): Promise<Held> {
  return await new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, headers }, (res) => {
      const ended = new Promise<boolean>((resolveEnded) => {
        let aborted = false
        res.on('aborted', () => { aborted = true })
        res.on('error', () => { aborted = true })
        res.on('close', () => resolveEnded(res.complete && !aborted))
      })
      res.once('data', () => {
        res.pause()
        resolve({
          status: res.statusCode ?? 0,
          resume: async () => {
            res.resume()
            return { complete: await ended }
          }
        })
      })
    })
    req.on('error', reject)
  })
}

function capture (logs: Array<Record<string, unknown>>): Writable {
  return new Writable({
    write (chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString().split('\n')) if (line !== '') logs.push(JSON.parse(line) as Record<string, unknown>)
      callback()
    }
  })
}
