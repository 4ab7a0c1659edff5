// Read replicas (docs/http.md section 7) against a real streaming replica of the test database's server:
// report queries run on the replica and none on the primary; a replica killed mid keyset download
// leaves the download whole and the same bytes as one from the primary (CSV, and XLSX, whose
// encoder numbers its rows); a lagging replica is skipped; a cursor on a killed replica is cut;
// the replica, started again, gets the work back; a sync token is taken on the primary, whatever
// runs on the replica, and a pull never goes back in time.
import t from 'tap'
import type { Config } from '../src/config.js'
import { listenTestApp } from './helpers/app.js'
import { connect, scratchTable, testDatabaseUrl } from './helpers/db.js'
import { get, reportsFolder, requestId, sameBytes, streamEnded, waitFor } from './helpers/http.js'
import { startReplica } from './helpers/replica.js'
import { readZip } from './helpers/xlsx.js'

const ROWS = 40_000
// the row a replica naps at (and only a replica: the primary is not in recovery), so that a test
// can kill it while a page is under way, tens of thousands of rows already sent
const NAP_ID = 20_000
const NAP_SECONDS = 3

// the table of the sync reports: a keyset download of it is a first page of 100 rows and more after
const SYNC_ROWS = 5000

const { client, table } = await scratchTable(t, 'replica')
await client.query(`
  create table ${table} (id bigint primary key, pad text not null);
  insert into ${table}
  select g, encode(sha256(g::text::bytea), 'hex') || encode(sha256((-g)::text::bytea), 'hex') from generate_series(1, ${ROWS}) g;
  create function ${table}_nap(id bigint) returns boolean language sql volatile as
    $$ select case when id = ${NAP_ID} and pg_is_in_recovery() then pg_sleep(${NAP_SECONDS}) is not null else true end $$;
  analyze ${table};
  create table ${table}_sync (id bigint primary key, label text not null, change_xid xid8);
  create trigger stamp before insert or update on ${table}_sync for each row execute function orders_stamp_change_xid();
  insert into ${table}_sync (id, label) select g, 'row ' || g from generate_series(1, ${SYNC_ROWS}) g;
`)
t.teardown(() => client.query(`drop table if exists ${table}_sync`))

const replica = await startReplica(t, testDatabaseUrl())
if ('unavailable' in replica) {
  if (process.env.SLUICE_REQUIRE_TOOLS === '1') throw new Error(`cannot make a replica: ${replica.unavailable}`)
  t.plan(0, `cannot make a streaming replica here: ${replica.unavailable}`)
  process.exit(0)
}

const header = (strategy: string, extra = ''): string => `/*\ntitle: Pad, ${strategy}\nkey: id\nstrategy: ${strategy}\n${extra}*/\n`
const reportsDir = await reportsFolder(t, {
  'pad.sql': `${header('keyset')}select id, pad from ${table} where ${table}_nap(id)\n`,
  'pad_cursor.sql': `${header('cursor')}select id, pad from ${table} where ${table}_nap(id)\n`,
  'sync.sql': `${header('keyset', 'changes: change_xid\n')}select id, label, change_xid from ${table}_sync\n`,
  'sync_cursor.sql': `${header('cursor', 'changes: change_xid\n')}select id, label, change_xid from ${table}_sync\n`
})
const withReplica = (overrides: Partial<Config> = {}) => listenTestApp(t, { reportsDir, replicaUrls: [replica.url], ...overrides })
const primaryOnly = await listenTestApp(t, { reportsDir })

/** The app's sessions on the replica that sleep at the nap row: a page (or FETCH) under way there. */
const nappingOnReplica = async (applicationName: string): Promise<boolean> =>
  (await replica.query("select 1 from pg_stat_activity where application_name = $1 and wait_event = 'PgSleep'", [applicationName])).length > 0

/** A sample of the app's /metrics, by name and labels. */
const metric = async (url: string, name: string, labels: string): Promise<number | undefined> => {
  const text = (await get(`${url}/metrics`)).body.toString()
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}} `))
  return line === undefined ? undefined : Number(line.split(' ')[1])
}
const healthy = async (url: string, want: 0 | 1): Promise<void> => {
  await waitFor(async () => await metric(url, 'sluice_replica_healthy', 'server="replica1"') === want, { timeout: 10_000, what: `replica1 healthy=${want} in /metrics` })
}

// The primary did no work for the app after `since` (its server clock): no session of the app
// changed state, as every statement makes it do.
const primaryIdleSince = async (applicationName: string, since: string): Promise<number> =>
  (await client.query('select pid from pg_stat_activity where application_name = $1 and state_change > $2', [applicationName, since])).rowCount ?? 0
const primaryNow = async (): Promise<string> => (await client.query<{ now: string }>('select clock_timestamp()::text as now')).rows[0]!.now

t.test('report queries go to the replica, none to the primary; /metrics names servers, never URLs', async (t) => {
  const { url, applicationName } = await withReplica()
  await healthy(url, 1)
  const expected = await get(`${primaryOnly.url}/reports/pad.csv`)
  const since = await primaryNow()
  const download = get(`${url}/reports/pad.csv`)
  await waitFor(() => nappingOnReplica(applicationName), { timeout: 10_000, what: 'the page napping on the replica' })
  const res = await download
  t.equal(res.status, 200)
  t.ok(res.complete, 'whole')
  sameBytes(t, res.body, expected.body, 'the same bytes as from the primary')
  t.equal(await primaryIdleSince(applicationName, since), 0, 'no statement of the app ran on the primary meanwhile')
  const head = (await fetch(`${url}/reports/pad.csv`, { method: 'HEAD' })).headers.get('x-estimated-rows')
  t.ok(Number(head) > 0, 'HEAD runs its EXPLAIN')
  t.equal(await primaryIdleSince(applicationName, since), 0, 'HEAD\'s EXPLAIN did not run on the primary either')
  const metrics = (await get(`${url}/metrics`)).body.toString()
  t.match(metrics, /^sluice_pool_connections\{server="replica1",state="in_use"\} \d+$/m, 'the replica\'s pool gauges')
  t.match(metrics, /^sluice_pool_connections\{server="primary",state="idle"\} \d+$/m, 'the primary\'s')
  t.match(metrics, /^sluice_replica_lag_ms\{server="replica1"\} \d+$/m, 'the replica\'s lag')
  t.notOk(metrics.includes(String(replica.port)), 'no URL in /metrics')
})

for (const format of ['csv', 'xlsx'] as const) {
  t.test(`a replica killed mid keyset page (${format}): the download is whole, the same as from the primary`, async (t) => {
    const { url, applicationName, logs } = await withReplica()
    await healthy(url, 1)
    const expected = await get(`${primaryOnly.url}/reports/pad.${format}`)
    t.equal(expected.status, 200)
    const reqId = requestId()
    const download = get(`${url}/reports/pad.${format}`, { headers: { 'x-request-id': reqId } })
    await waitFor(() => nappingOnReplica(applicationName), { timeout: 10_000, what: 'the page napping on the replica' })
    await replica.stop()
    try {
      const res = await download
      t.equal(res.status, 200)
      t.ok(res.complete, 'ends with its final chunk')
      t.equal((await streamEnded(logs, reqId)).outcome, 'complete')
      const retry = logs.find((line) => line.reqId === reqId && line.msg === 'keyset page taken up on another server')
      t.equal(retry?.server, 'replica1', 'the page was taken up after the replica failed')
      t.ok(Number(retry?.rowsKept) > 0, `mid page: the ${String(retry?.rowsKept)} rows the batch already had were kept, and not asked again`)
      if (format === 'csv') {
        sameBytes(t, res.body, expected.body, 'the same bytes as from the primary')
      } else {
        // the zip's timestamps are the time of the response: its entries' contents are the test
        const got = readZip(res.body)
        const want = readZip(expected.body)
        t.same([...got.keys()], [...want.keys()], 'the same parts')
        for (const [name, bytes] of want) sameBytes(t, got.get(name)!, bytes, `${name}: the same XML (row numbers too)`)
      }
      await healthy(url, 0)
      t.equal((await get(`${url}/ready`)).status, 200, '/ready: the primary serves meanwhile')
      const again = await get(`${url}/reports/pad.csv`)
      t.ok(again.status === 200 && again.complete, 'with the replica down, the primary serves a new download')
    } finally {
      await replica.start()
    }
    await healthy(url, 1)
  })
}

t.test('a cursor on a killed replica is cut, never a whole-looking response', async (t) => {
  const { url, applicationName, logs } = await withReplica()
  await healthy(url, 1)
  const reqId = requestId()
  const download = get(`${url}/reports/pad_cursor.csv`, { headers: { 'x-request-id': reqId } })
  await waitFor(() => nappingOnReplica(applicationName), { timeout: 10_000, what: 'the cursor napping on the replica' })
  await replica.stop()
  try {
    const res = await download
    t.equal(res.status, 200, 'it had begun')
    t.notOk(res.complete, 'cut: no final chunk')
    t.equal((await streamEnded(logs, reqId)).outcome, 'db_error')
  } finally {
    await replica.start()
  }
  await healthy(url, 1)
})

t.test('a lagging replica is skipped until it catches up', async (t) => {
  const MAX_LAG = 500
  const { url, applicationName } = await withReplica({ replicaMaxLagMs: MAX_LAG })
  await healthy(url, 1)
  await replica.query('select pg_wal_replay_pause()')
  try {
    await client.query(`insert into ${table} values (${ROWS + 1}, 'written while the replica was paused')`)
    await healthy(url, 0)
    t.ok((await metric(url, 'sluice_replica_lag_ms', 'server="replica1"'))! > MAX_LAG, 'its lag is past REPLICA_MAX_LAG_MS')
    const res = await get(`${url}/reports/pad.csv`)
    t.ok(res.complete)
    t.ok(res.body.toString().endsWith(`${ROWS + 1},written while the replica was paused\n`), 'the row the replica has not replayed: served by the primary')
  } finally {
    await replica.query('select pg_wal_replay_resume()')
  }
  await healthy(url, 1)
  const since = await primaryNow()
  const res = await get(`${url}/reports/pad.csv`)
  t.ok(res.complete && res.body.toString().endsWith('written while the replica was paused\n'), 'caught up, it has the row')
  t.equal(await primaryIdleSince(applicationName, since), 0, 'and serves again: nothing ran on the primary')
})

t.test('sync tokens are taken on the primary; later pages go to a replica that has replayed them; a pull never goes back in time', async (t) => {
  const { url, applicationName } = await withReplica()
  await healthy(url, 1)
  await waitFor(async () => (await replica.query(`select from ${table}_sync`)).length === SYNC_ROWS, { timeout: 10_000, what: 'the replica has the table' })
  const labels = (body: Buffer): string[] => body.toString().split('\n').filter((line) => line !== '').map((line) => (JSON.parse(line) as { label: string }).label)
  const replayed = (id: number, label: string) => async () => (await replica.query(`select from ${table}_sync where id = ${id} and label = '${label}'`)).length === 1
  for (const name of ['sync', 'sync_cursor']) {
    // a transaction open on the primary while the token is taken: on a standby,
    // pg_current_snapshot() lists nothing in progress, so a token made there would count it
    // committed, and its row would be in no pull
    const open = await connect()
    let full
    try {
      await open.query('begin')
      await open.query(`update ${table}_sync set label = 'row 7 (${name} open)' where id = 7`)
      // a commit after it flushes its WAL too: then the replica knows it, as running
      await client.query(`update ${table}_sync set label = 'row 8 (${name} committed)' where id = 8`)
      await waitFor(replayed(8, `row 8 (${name} committed)`), { timeout: 10_000, what: 'the replica replayed the commit after it' })
      full = await get(`${url}/reports/${name}.ndjson`)
      await open.query('commit')
    } finally {
      await open.end()
    }
    t.equal(full.status, 200, `${name}: the full download`)
    t.equal(labels(full.body).length, SYNC_ROWS, `${name}: every row`)
    t.notOk(labels(full.body).includes(`row 7 (${name} open)`), `${name}: not the open transaction's`)
    t.ok(labels(full.body).includes(`row 8 (${name} committed)`), `${name}: the later commit's`)
    await waitFor(replayed(7, `row 7 (${name} open)`), { timeout: 10_000, what: 'the replica replayed the commit' })
    const next = await get(`${url}/reports/${name}.ndjson?changed_since=${full.headers['sluice-sync-token'] as string}`)
    t.same(labels(next.body), [`row 7 (${name} open)`], `${name}: the next pull has it, committed since`)
    // replay paused: a pull still gets the newest commit, from the primary
    await replica.query('select pg_wal_replay_pause()')
    try {
      await client.query(`update ${table}_sync set label = 'row 5 (${name} paused)' where id = 5`)
      const since = await primaryNow()
      const pull = await get(`${url}/reports/${name}.ndjson?changed_since=${next.headers['sluice-sync-token'] as string}`)
      t.ok(pull.complete, `${name}: a pull while the replica is behind is whole`)
      t.same(labels(pull.body), [`row 5 (${name} paused)`], `${name}: and has the commit the replica has not replayed`)
      t.ok(await primaryIdleSince(applicationName, since) > 0, `${name}: the primary served it`)
    } finally {
      await replica.query('select pg_wal_replay_resume()')
    }
    await waitFor(replayed(5, `row 5 (${name} paused)`), { timeout: 10_000, what: 'the replica caught up' })
  }
  // a keyset download's pages after the first go to the replica once it has replayed the token's
  // snapshot, which it has within milliseconds: a few downloads, and one of them shows it
  let onReplica = 0
  for (let i = 0; i < 5 && onReplica === 0; i++) {
    const now = (await replica.query<{ now: string }>('select clock_timestamp()::text as now'))[0]!.now
    const download = await get(`${url}/reports/sync.ndjson`)
    t.ok(download.complete && labels(download.body).length === SYNC_ROWS, `download ${i + 1}: whole`)
    onReplica = (await replica.query('select from pg_stat_activity where application_name = $1 and state_change > $2', [applicationName, now])).length
  }
  t.ok(onReplica > 0, 'later pages of a sync download ran on the replica')
})

t.test('a report with changes: will not start on a standby: sync tokens are taken on the primary', async (t) => {
  await t.rejects(listenTestApp(t, { reportsDir, databaseUrl: replica.url }), { message: /sync\.sql: changes column "change_xid": DATABASE_URL is a standby/ })
})
