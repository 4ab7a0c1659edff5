// docs/http.md section 3: "A client that disconnects ends its work at once: the running query is
// cancelled or its connection destroyed, and the lease returns to the pool." And: an error after
// the first byte aborts the connection without the final chunk. Real sockets throughout.
import zlib from 'node:zlib'
import t from 'tap'
import { listenTestApp } from './helpers/app.js'
import { scratchTable } from './helpers/db.js'
import { busySessions, get, type Assert, poolWhole, reportsFolder, requestId, streamEnded, waitFor, type GetOptions } from './helpers/http.js'

const ROWS = 500_000
// pg_sleep long enough that a backend left to finish it is still busy when the check runs
const SLEEP_S = 5
const FAIL_AT = 250_000
const { client, table } = await scratchTable(t, 'disconnect')
await client.query(`
  create table ${table} (id bigint primary key, created_at timestamptz not null, grp int not null, label text, amount numeric);
  insert into ${table}
  select g, timestamptz '2026-01-01 00:00:00+00' + g * interval '1234567 microseconds', g % 7,
    case when g % 11 = 0 then E'line\\nbreak, "quoted"' else 'label-' || substr(md5(g::text), 1, 12) end,
    round((g * 37 % 100000) / 100.0, 2)
  from generate_series(1, ${ROWS}) g;
  analyze ${table};
  -- pg_sleep straight in a report's select list would make it volatile, and PostgreSQL does not
  -- flatten a subquery with a volatile select list: every page would sort the whole table
  create function ${table}_nap(id bigint, at bigint) returns text language plpgsql stable
    as $$ begin if id = at then perform pg_sleep(${SLEEP_S}); end if; return null; end $$;
`)

const columns = 'id, created_at, grp, label, amount'
const header = (title: string, strategy = 'keyset'): string => `/*\ntitle: ${title}\nkey: id\nstrategy: ${strategy}\n*/\n`
// the `nap` column sleeps on one row: the page (or cursor fetch) holding it is slow
const napping = (id: number): string => `${columns}, ${table}_nap(id, ${id}) as nap`
const reportsDir = await reportsFolder(t, {
  'big.sql': `${header('Big')}select ${columns} from ${table}\n`,
  'big_cursor.sql': `${header('Big, from a cursor', 'cursor')}select ${columns} from ${table}\n`,
  'slow_first.sql': `${header('Slow first page')}select ${napping(1)} from ${table}\n`,
  'slow_first_cursor.sql': `${header('Slow first fetch', 'cursor')}select ${napping(1)} from ${table}\n`,
  'slow_middle.sql': `${header('Slow in the middle')}select ${napping(200_000)} from ${table}\n`,
  'slow_middle_cursor.sql': `${header('Slow in the middle, from a cursor', 'cursor')}select ${napping(200_000)} from ${table}\n`,
  'fails.sql': `${header('Fails part way')}select id, 1 / (id - ${FAIL_AT}) as x from ${table}\n`,
  'fails_cursor.sql': `${header('Fails part way, from a cursor', 'cursor')}select id, 1 / (id - ${FAIL_AT}) as x from ${table}\n`
})
const { app, url, applicationName, logs } = await listenTestApp(t, { reportsDir })

/** Nothing of this app runs in the database, every connection is back, every stream slot is free. */
async function settled (): Promise<boolean> {
  if (!poolWhole(app) || app.streaming.streams.active !== 0) return false
  return (await busySessions(client, applicationName)).length === 0
}

async function describeState (): Promise<Record<string, unknown>> {
  return {
    sessions: await busySessions(client, applicationName),
    pool: { total: app.pool.totalCount, idle: app.pool.idleCount, waiting: app.pool.waitingCount },
    activeStreams: app.streaming.streams.active
  }
}

/** Within a second of a disconnect (or an abort), the work is over. */
async function assertSettled (t: Assert, what: string): Promise<void> {
  try {
    await waitFor(settled, { timeout: 1000, what })
    t.pass(`${what}: within a second, no query running, the pool whole`)
  } catch {
    t.fail(`${what}: within a second, no query running, the pool whole`, await describeState())
  }
}

const encodings = { identity: undefined, gzip: 'gzip' } as const
const cuts = [1, 200_000, 3_000_000]

t.test('a client that disconnects mid-body ends the work: every format, cut point, close and encoding', async (t) => {
  for (const report of ['big', 'big_cursor']) {
    for (const format of ['ndjson', 'csv', 'json'] as const) {
      for (const [encoding, acceptEncoding] of Object.entries(encodings)) {
        for (const close of ['reset', 'destroy'] as const) {
          for (const cut of cuts) {
            // the cursor report re-runs a sample only: it is here for the strategy, not the matrix
            if (report === 'big_cursor' && (cut !== 200_000 || close !== 'reset')) continue
            const what = `${report}.${format} ${encoding}, ${close} after ${cut} bytes`
            const reqId = requestId()
            const headers: Record<string, string> = { 'x-request-id': reqId }
            if (acceptEncoding !== undefined) headers['accept-encoding'] = acceptEncoding
            const res = await get(`${url}/reports/${report}.${format}`, { headers, stopAfter: cut, close })
            t.equal(res.status, 200, what)
            t.equal(res.headers['content-encoding'], acceptEncoding, `${what}: content-encoding`)
            t.equal(res.complete, false, `${what}: cut short`)
            await assertSettled(t, what)
            const line = await streamEnded(logs, reqId)
            t.equal(line.outcome, 'client_closed', `${what}: logged as client_closed`)
            t.ok(typeof line.rows === 'number' && line.rows < ROWS, `${what}: logged ${String(line.rows)} rows, fewer than the ${ROWS} the report holds`)
          }
        }
      }
    }
  }
})

t.test('a client that disconnects while a page is being fetched mid-body: the query is cancelled on the server', async (t) => {
  for (const report of ['slow_middle', 'slow_middle_cursor']) {
    for (const close of ['reset', 'destroy'] as const) {
      const what = `${report}, ${close} during the slow page`
      // a case that failed may leave a sleep behind: wait it out rather than count it twice
      await waitFor(settled, { timeout: (SLEEP_S + 2) * 1000, what: 'the previous case to settle' })
      const reqId = requestId()
      const res = await get(`${url}/reports/${report}.ndjson`, { headers: { 'x-request-id': reqId }, until: sleeping(), close })
      t.equal(res.status, 200, what)
      t.ok(res.body.length > 0, `${what}: the client had body bytes (${res.body.length}) when it left`)
      t.equal(res.complete, false)
      await assertSettled(t, what)
      const line = await streamEnded(logs, reqId)
      t.equal(line.outcome, 'client_closed')
      t.ok(typeof line.rows === 'number' && line.rows < 200_000, `${what}: logged ${String(line.rows)} rows, fewer than precede the slow row`)
    }
  }
})

t.test('a client that disconnects before the first byte, while the first page runs: the query is cancelled on the server', async (t) => {
  for (const report of ['slow_first', 'slow_first_cursor']) {
    for (const close of ['reset', 'destroy'] as const) {
      const what = `${report}, ${close} before the first byte`
      // a case that failed may leave a sleep behind: wait it out rather than count it twice
      await waitFor(settled, { timeout: (SLEEP_S + 2) * 1000, what: 'the previous case to settle' })
      const res = await get(`${url}/reports/${report}.ndjson`, { headers: { 'x-request-id': requestId() }, until: sleeping(), close })
      t.equal(res.status, 0, `${what}: no response had begun`)
      await assertSettled(t, what)
    }
  }
})

t.test('an error after the first byte aborts the response without its final chunk', async (t) => {
  const variants: Array<[string, string, GetOptions['headers']]> = [
    ['fails', 'ndjson', {}], ['fails', 'csv', {}], ['fails', 'json', {}], ['fails', 'ndjson', { 'accept-encoding': 'gzip' }],
    ['fails_cursor', 'ndjson', {}]
  ]
  for (const [report, format, headers] of variants) {
    const what = `${report}.${format}${headers?.['accept-encoding'] === undefined ? '' : ' gzip'}`
    const reqId = requestId()
    const res = await get(`${url}/reports/${report}.${format}`, { headers: { ...headers, 'x-request-id': reqId } })
    t.equal(res.status, 200, `${what}: the headers went out before the failing row`)
    t.ok(res.body.length > 0, `${what}: some body arrived`)
    t.equal(res.complete, false, `${what}: the client sees an incomplete response`)
    const line = await streamEnded(logs, reqId)
    t.equal(line.outcome, 'db_error', `${what}: logged as db_error`)
    t.ok(typeof line.rows === 'number' && line.rows > 0 && line.rows < FAIL_AT, `${what}: logged ${String(line.rows)} rows`)
    await assertSettled(t, what)
  }
})

t.test('after all that, a normal download is complete and correct', async (t) => {
  for (const report of ['big', 'big_cursor']) {
    for (const gzip of [false, true]) {
      const what = `${report}${gzip ? ' gzip' : ''}`
      const reqId = requestId()
      const res = await get(`${url}/reports/${report}.ndjson`, { headers: { 'x-request-id': reqId, ...(gzip ? { 'accept-encoding': 'gzip' } : {}) } })
      t.equal(res.status, 200)
      t.ok(res.complete, `${what}: complete`)
      const body = gzip ? zlib.gunzipSync(res.body) : res.body
      let lines = 0
      let previous = 0
      for (const row of body.toString().split('\n')) {
        if (row === '') continue
        lines++
        const { id } = JSON.parse(row) as { id: number }
        if (id !== previous + 1) {
          t.fail(`${what}: row ${lines} has id ${id}, after ${previous}`)
          break
        }
        previous = id
      }
      t.equal(lines, ROWS, `${what}: every row, once, in order`)
      t.ok(body.toString().endsWith('\n'))
      const line = await streamEnded(logs, reqId)
      t.equal(line.outcome, 'complete')
      t.equal(line.rows, ROWS)
      await assertSettled(t, what)
    }
  }
})

/**
 * Resolves once one of this app's sessions is inside pg_sleep: the slow page is running. Call it
 * once the app is settled, or it may see the previous case's sleep.
 */
async function sleeping (): Promise<void> {
  await waitFor(async () => (await busySessions(client, applicationName)).some((s) => s.wait_event === 'PgSleep'), {
    timeout: 10_000, what: 'a session of the app in pg_sleep'
  })
}
