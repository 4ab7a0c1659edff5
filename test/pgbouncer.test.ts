// Behind PgBouncer in transaction mode, with a server pool smaller than the downloads running:
// both strategies stream the right bytes, resume with `after`, are cancelled on disconnect, and
// keep their statement and stall timeouts; what Sluice sets per transaction (SET LOCAL) holds and
// does not leak into the pooled server sessions; and the server connections stay within the pool.
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import net from 'node:net'
import t from 'tap'
import { copyOut } from '../harness/copy.js'
import type { Config } from '../src/config.js'
import { listenTestApp } from './helpers/app.js'
import { scratchTable, testDatabaseUrl, withClient } from './helpers/db.js'
import { get, poolWhole, reportsFolder, requestId, sameBytes, streamEnded, waitFor } from './helpers/http.js'
import { PGBOUNCER, startPgBouncer } from './helpers/pgbouncer.js'

if (!existsSync(PGBOUNCER)) {
  if (process.env.SLUICE_REQUIRE_TOOLS === '1') throw new Error(`${PGBOUNCER} is missing: apt-get install pgbouncer`)
  t.plan(0, `${PGBOUNCER} is not installed (apt-get install pgbouncer)`)
  process.exit(0)
}

const ROWS = 60_000
const SERVER_POOL = 2
const SLEEP_S = 5
const { client, table } = await scratchTable(t, 'bouncer')
const role = `bouncer_${randomBytes(4).toString('hex')}`
const password = randomBytes(12).toString('hex')
const database = (await client.query<{ db: string }>('select current_database() as db')).rows[0]!.db
await client.query(`
  create table ${table} (id bigint primary key, label text not null, at timestamptz not null);
  insert into ${table}
  select g, case when g % 9 = 0 then E'a "quoted",\\nline' else md5(g::text) end, timestamptz '2026-01-01 00:00:00+00' + g * interval '1 minute'
  from generate_series(1, ${ROWS}) g;
  analyze ${table};
  create function ${table}_nap(id bigint, at bigint) returns text language plpgsql stable
    as $$ begin if id = at then perform pg_sleep(${SLEEP_S}); end if; return null; end $$;
  create role ${role} login password '${password}';
  grant connect on database "${database}" to ${role};
  grant select on ${table} to ${role};
  grant execute on function ${table}_nap(bigint, bigint) to ${role};
`)
t.teardown(async () => {
  await client.query('select pg_terminate_backend(pid) from pg_stat_activity where usename = $1', [role])
  await waitFor(async () => (await client.query('select 1 from pg_stat_activity where usename = $1', [role])).rowCount === 0, { timeout: 5000 })
  await client.query(`revoke all on ${table} from ${role}; revoke all on function ${table}_nap(bigint, bigint) from ${role}; revoke connect on database "${database}" from ${role}; drop role ${role}`)
})
const pooler = await startPgBouncer(t, testDatabaseUrl(), { user: role, password }, SERVER_POOL)

const header = (strategy: string): string => `/*\ntitle: Rows, ${strategy}\nkey: id\nstrategy: ${strategy}\n*/\n`
const reportsDir = await reportsFolder(t, {
  'rows.sql': `${header('keyset')}select id, label, at from ${table}\n`,
  'rows_cursor.sql': `${header('cursor')}select id, label, at from ${table}\n`,
  'slow.sql': `${header('keyset')}select id, ${table}_nap(id, 1) as nap from ${table}\n`,
  'slow_cursor.sql': `${header('cursor')}select id, ${table}_nap(id, 1) as nap from ${table}\n`,
  'settings.sql': `${header('keyset')}select 1 as id, current_setting('TimeZone') as tz, current_setting('DateStyle') as ds, current_setting('statement_timeout') as st, current_setting('transaction_read_only') as ro\n`,
  'settings_cursor.sql': `${header('cursor')}select 1 as id, current_setting('TimeZone') as tz, current_setting('DateStyle') as ds, current_setting('statement_timeout') as st, current_setting('transaction_read_only') as ro, current_setting('transaction_isolation') as iso\n`
})
const STRATEGIES = [['keyset', 'rows'], ['cursor', 'rows_cursor']] as const
const copy = async (where = ''): Promise<Buffer> => await copyOut(client, `copy (select id, label, at from ${table} ${where} order by id) to stdout with (format csv, header)`)
const expectedCsv = await copy()

const serve = (overrides: Partial<Config> = {}) => listenTestApp(t, { reportsDir, databaseUrl: pooler.url, ...overrides })

/** The server connections PgBouncer holds: every one is made as the pooler's own role. */
async function serverConnections (): Promise<Array<{ state: string | null, wait_event: string | null, query: string }>> {
  return (await client.query<{ state: string | null, wait_event: string | null, query: string }>(
    "select state, wait_event, query from pg_stat_activity where usename = $1 and backend_type = 'client backend'", [role])).rows
}
const busy = async (): Promise<number> => (await serverConnections()).filter((s) => s.state !== 'idle').length

t.test(`six downloads through a server pool of ${SERVER_POOL}: all whole, never more than ${SERVER_POOL} server connections`, async (t) => {
  const { app, url } = await serve()
  let mostClients = 0
  const onConnect = (): void => { mostClients = Math.max(mostClients, app.pool.totalCount) }
  app.pool.on('connect', onConnect)
  let running = true
  let mostServers = 0
  let samples = 0
  const sampler = (async () => {
    while (running) {
      mostServers = Math.max(mostServers, (await serverConnections()).length)
      samples++
    }
  })()
  const downloads = await Promise.all(Array.from({ length: 6 }, async (_, i) => await get(`${url}/reports/${STRATEGIES[i % 2]![1]}.csv`)))
  running = false
  await sampler
  downloads.forEach((res, i) => {
    t.ok(res.status === 200 && res.complete, `download ${i + 1} (${STRATEGIES[i % 2]![0]}): 200 and complete`)
    sameBytes(t, res.body, expectedCsv, `download ${i + 1}: byte for byte what COPY writes`)
  })
  t.ok(mostClients > SERVER_POOL, `Sluice's own pool opened ${mostClients} connections to PgBouncer`)
  t.ok(samples > 5, `pg_stat_activity sampled ${samples} times while they ran`)
  t.ok(mostServers >= 1 && mostServers <= SERVER_POOL, `the database never saw more than ${SERVER_POOL} server connections (most: ${mostServers})`)
})

t.test('after: resuming through the pooler gives the rest of the rows', async (t) => {
  const { url } = await serve()
  const expected = await copy('where id > 41234')
  for (const [strategy, report] of STRATEGIES) {
    const res = await get(`${url}/reports/${report}.csv?after=41234`)
    t.ok(res.complete, `${strategy}: complete`)
    sameBytes(t, res.body, expected, `${strategy}: the rows after 41234, as COPY writes them`)
  }
})

t.test('SET LOCAL holds behind the pooler, and nothing of it stays in the pooled sessions', async (t) => {
  const { url } = await serve({ statementTimeoutMs: 4321 })
  for (const [strategy, report] of [['keyset', 'settings'], ['cursor', 'settings_cursor']]) {
    const res = await get(`${url}/reports/${report}.ndjson`)
    t.match(JSON.parse(res.body.toString()), { tz: 'UTC', ds: 'ISO, MDY', st: '4321ms', ro: 'on', ...(strategy === 'cursor' ? { iso: 'repeatable read' } : {}) },
      `${strategy}: the report ran in a read-only transaction with Sluice's settings`)
  }
  // a plain session through the same pooler, on the same server connections, sees the defaults
  const seen = await withClient(pooler.url, async (plain) => (await plain.query<{ st: string, ro: string }>(
    "select current_setting('statement_timeout') as st, current_setting('transaction_read_only') as ro")).rows[0]!)
  t.same(seen, { st: '0', ro: 'off' }, 'a later client of the pooler gets none of those settings')
})

t.test('a client that disconnects cancels its statement through the pooler', async (t) => {
  const { app, url } = await serve()
  for (const report of ['slow', 'slow_cursor']) {
    const sleeping = waitFor(async () => (await serverConnections()).some((s) => s.wait_event === 'PgSleep'), { timeout: 5000, what: `${report}: the statement asleep on a server connection` })
    const res = await get(`${url}/reports/${report}.ndjson`, { until: sleeping })
    t.equal(res.status, 0, `${report}: the client left before the first byte`)
    const left = Date.now()
    await waitFor(async () => poolWhole(app) && await busy() === 0, { timeout: 1000, what: `${report}: the statement cancelled` })
    t.pass(`${report}: ${Date.now() - left} ms after the client left, no server connection is at work (it slept ${SLEEP_S} s)`)
  }
})

t.test('STATEMENT_TIMEOUT_MS holds through the pooler: a 504 before the first byte', async (t) => {
  const STATEMENT_MS = 300
  const { app, url } = await serve({ statementTimeoutMs: STATEMENT_MS })
  for (const report of ['slow', 'slow_cursor']) {
    const started = Date.now()
    const res = await get(`${url}/reports/${report}.ndjson`)
    t.equal(res.status, 504, `${report}: 504`)
    t.ok(Date.now() - started < SLEEP_S * 500, `${report}: after ${Date.now() - started} ms, not the ${SLEEP_S} s it would sleep`)
    await waitFor(async () => poolWhole(app) && await busy() === 0, { timeout: 1000, what: `${report}: nothing left running` })
  }
})

t.test('STALL_TIMEOUT_MS holds through the pooler: a cursor whose client stopped reading gives its server connection back', async (t) => {
  const { app, port, logs } = await serve({ stallTimeoutMs: 300 })
  const reqId = requestId()
  const socket = net.connect(port, '127.0.0.1')
  t.teardown(() => socket.destroy())
  socket.on('error', () => {})
  socket.once('data', () => socket.pause())
  socket.write(`GET /reports/rows_cursor.ndjson HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: ${reqId}\r\nConnection: close\r\n\r\n`)
  const line = await streamEnded(logs, reqId, 10_000)
  t.equal(line.outcome, 'stalled', 'cut as stalled')
  await waitFor(async () => poolWhole(app) && await busy() === 0, { timeout: 1000, what: 'the cursor transaction ended' })
  t.pass('within a second no server connection is idle in transaction')
})
