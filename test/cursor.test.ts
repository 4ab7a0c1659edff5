// The cursor strategy: the same bytes as the keyset strategy for the same report and parameters,
// one snapshot for the whole response, one connection held, and a server-side net under it.
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import http from 'node:http'
import net from 'node:net'
import t from 'tap'
import { listenTestApp } from './helpers/app.js'
import { createAwkwardTable } from './helpers/awkward.js'
import { connect } from './helpers/db.js'
import { busySessions, get, reportsFolder, waitFor } from './helpers/http.js'

const client = await connect()
const schema = `cursor_${randomBytes(6).toString('hex')}`
t.teardown(async () => {
  await client.query(`drop schema if exists ${schema} cascade`)
  await client.end()
})
const cases = await createAwkwardTable(client, schema)
await client.query(`
  create table ${schema}.events as
    select g as id, timestamptz '2026-01-01' + (g / 3) * interval '1 second' as at, md5(g::text) as label
    from generate_series(1, 30000) g;
  alter table ${schema}.events add primary key (id);
  create index on ${schema}.events (at, id);
`)

// each report twice, differing only in strategy
const bodies: Record<string, string> = {
  awkward: `key: id\n*/\nselect a.id + 100 * g as id, ${cases.map(([name]) => name).join(', ')} from ${schema}.awkward a cross join generate_series(0, 99) g`,
  events: `key: [at, id]\nparams:\n  from: { type: integer, default: 0 }\n*/\nselect at, id, label from ${schema}.events where id > :from`,
  orders: 'key: id\n*/\nselect id, customer_id, status, amount, currency, created_at, shipped_at, note, metadata from orders'
}
const files: Record<string, string> = {}
for (const [name, body] of Object.entries(bodies)) {
  files[`${name}_keyset.sql`] = `/*\ntitle: ${name}\nstrategy: keyset\n${body}\n`
  files[`${name}_cursor.sql`] = `/*\ntitle: ${name}\nstrategy: cursor\n${body}\n`
}
const dir = await reportsFolder(t, files)

t.test('cursor and keyset give the same bytes in every format', async (t) => {
  const { url } = await listenTestApp(t, { reportsDir: dir })
  const queries = ['', '?limit=1', '?limit=2500', '?header=0&delimiter=tab']
  for (const name of Object.keys(bodies)) {
    for (const ext of ['ndjson', 'csv', 'json']) {
      for (const query of queries) {
        const keyset = await get(`${url}/reports/${name}_keyset.${ext}${query}`)
        const cursor = await get(`${url}/reports/${name}_cursor.${ext}${query}`)
        t.ok(keyset.complete && cursor.complete, `${name}.${ext}${query} complete`)
        t.ok(keyset.body.length > 0)
        const expected = keyset.body.toString().replaceAll(`${name}_keyset`, `${name}_cursor`)
        t.ok(cursor.body.toString() === expected, `${name}.${ext}${query}: cursor bytes are keyset bytes`)
      }
    }
  }
  const after = `?after=${encodeURIComponent('["2026-01-01T00:00:05+00:00",16]')}&from=3`
  const keyset = await get(`${url}/reports/events_keyset${after}`)
  const cursor = await get(`${url}/reports/events_cursor${after}`)
  t.equal(keyset.status, 200)
  t.ok(cursor.body.equals(keyset.body), 'after and report parameters: same bytes')
  t.match(cursor.body.toString(), /^\{"at":"2026-01-01T00:00:05\+00:00","id":17,/)
})

t.test('a cursor reads one snapshot; keyset pages see rows committed meanwhile', async (t) => {
  // rows of ~4 KB: a dozen 4 MiB pages, of which the client, paused on the first bytes, lets
  // the server run only the few that the socket buffers hold before the rows are committed
  const table = `${schema}.late`
  await client.query(`create table ${table} as select g as id, repeat(md5(g::text), 128) as pad from generate_series(1, 12000) g;
    alter table ${table} add primary key (id)`)
  const reports = await reportsFolder(t, Object.fromEntries(['keyset', 'cursor'].map((strategy) =>
    [`late_${strategy}.sql`, `/*\ntitle: late\nkey: id\nstrategy: ${strategy}\n*/\nselect id, pad from ${table}\n`])))
  const { url } = await listenTestApp(t, { reportsDir: reports })
  const read = async (strategy: string): Promise<number> => {
    const response = await new Promise<http.IncomingMessage>((resolve, reject) => http.get(`${url}/reports/late_${strategy}.csv?header=0`, { agent: false }, resolve).on('error', reject))
    let lines = 0
    let inserted: Promise<unknown> | undefined
    response.on('data', (chunk: Buffer) => {
      for (let at = chunk.indexOf(10); at !== -1; at = chunk.indexOf(10, at + 1)) lines++
      // once the first batch is out, commit rows that sort after everything already there, and
      // read nothing more until they are in
      if (inserted !== undefined) return
      response.pause()
      inserted = client.query(`insert into ${table} select g, 'late' from generate_series(100001, 100010) g`).finally(() => response.resume())
    })
    const [complete] = await Promise.all([new Promise<boolean>((resolve) => response.on('close', () => resolve(response.complete))), once(response, 'end')])
    await inserted
    await client.query(`delete from ${table} where id > 100000`)
    t.ok(complete)
    return lines
  }
  t.equal(await read('cursor'), 12000, 'the cursor does not see rows committed after it began')
  t.equal(await read('keyset'), 12010, 'keyset pages do')
})

t.test('a paused cursor download holds one connection, idle in transaction, doing nothing', async (t) => {
  const wide = await reportsFolder(t, {
    'wide.sql': "/*\ntitle: Wide\nkey: id\nstrategy: cursor\n*/\nselect g as id, repeat('x', 200) as pad from generate_series(1, 200000) g"
  })
  const { port, applicationName, app } = await listenTestApp(t, { reportsDir: wide })
  // a client that sends its request, takes the first bytes, and then reads nothing more
  const socket = net.connect(port, '127.0.0.1')
  t.teardown(() => socket.destroy())
  socket.write('GET /reports/wide.csv HTTP/1.1\r\nHost: x\r\n\r\n')
  await once(socket, 'data')
  socket.pause()
  const sessions = await waitFor(async () => {
    const busy = await busySessions(client, applicationName)
    return busy.length === 1 && busy[0]!.state === 'idle in transaction' ? busy : undefined
  }, { timeout: 5000, what: 'the cursor session idle in transaction' })
  t.match(sessions[0]!.query, /^fetch \d+ from sluice_rows/, 'between batches the backend waits, running nothing')
  t.equal(app.pool.totalCount, 1, 'one connection for the whole response')
})
