// Changes since the last pull (docs/http.md section 3): every response of a report that declares
// `changes:` carries a sync token, `changed_since=<token>` gets exactly the rows written since, in
// every format and both strategies, and a full download followed by every pull reproduces the
// table with no change missed and none sent twice, whatever order writers commit in.
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import { DuckDBInstance } from '@duckdb/node-api'
import { RecordBatchReader } from 'apache-arrow'
import t from 'tap'
import { buildTestApp, listenTestApp } from './helpers/app.js'
import { connect } from './helpers/db.js'
import { get, poolWhole, reportsFolder } from './helpers/http.js'
import { parseCsv, readZip, sheetCells } from './helpers/xlsx.js'
import { compileQuery } from '../src/reports/compile.js'

const client = await connect()
const schema = `sync_${randomBytes(6).toString('hex')}`
const scratch = await mkdtemp(path.join(os.tmpdir(), 'sluice-sync-'))
t.teardown(async () => {
  await client.query(`drop schema if exists ${schema} cascade`)
  await client.end()
  await rm(scratch, { recursive: true, force: true })
})
// the demo migrations' trigger functions keep updated_at and change_xid here too
const table = (name: string, rows: number, label: string): string => `
  create table ${schema}.${name} (id bigint primary key, label text not null, updated_at timestamptz not null, change_xid xid8);
  create trigger touch before insert or update on ${schema}.${name} for each row execute function orders_touch_updated_at();
  create trigger stamp before insert or update on ${schema}.${name} for each row execute function orders_stamp_change_xid();
  insert into ${schema}.${name} (id, label) select g, ${label} from generate_series(1, ${rows}) g;
  create index on ${schema}.${name} (change_xid);
  analyze ${schema}.${name};
`
await client.query(`create schema ${schema};` + table('items', 400, "'label-' || g") + table('wide', 30_000, "repeat(md5(g::text), 32)"))
const items = `${schema}.items`
const report = (strategy: string, extra: string, from = items): string => `/*
title: Items
key: id
strategy: ${strategy}
${extra}
*/
select id, label, change_xid from ${from}
`
const dir = await reportsFolder(t, {
  'items.sql': report('keyset', 'changes: change_xid'),
  'items_cursor.sql': report('cursor', 'changes: change_xid'),
  'items_versioned.sql': report('keyset', `changes: change_xid\nversion: select max(updated_at) from ${items}`),
  'items_versioned_cursor.sql': report('cursor', `changes: change_xid\nversion: select max(updated_at) from ${items}`),
  'items_plain.sql': report('keyset', ''),
  'wide.sql': report('keyset', 'changes: change_xid', `${schema}.wide`)
})
const { app, url } = await listenTestApp(t, { reportsDir: dir })
const duck = await (await DuckDBInstance.create(':memory:')).connect()

const TOKEN = 'sluice-sync-token'
const FORMATS = ['ndjson', 'csv', 'json', 'xlsx', 'parquet', 'arrow'] as const
type Format = typeof FORMATS[number]

interface Rows {
  /** id -> [label, change_xid] as a reader of the format reads them */
  readonly rows: Array<readonly [id: string, label: string, changeXid: string | null]>
  /** the token the body itself carries (JSON, Parquet, Arrow), else undefined */
  readonly embedded: string | undefined
}

/** The rows of a body, read back by a real reader of its format. */
async function readRows (format: Format, body: Buffer): Promise<Rows> {
  switch (format) {
    case 'ndjson':
      return { rows: body.toString().split('\n').filter((line) => line !== '').map((line) => row(JSON.parse(line) as Record<string, unknown>)), embedded: undefined }
    case 'json': {
      const envelope = JSON.parse(body.toString()) as { rows: Array<Record<string, unknown>>, sync_token?: string }
      return { rows: envelope.rows.map(row), embedded: envelope.sync_token }
    }
    case 'csv':
      return { rows: parseCsv(body.toString()).slice(1).map(([id, label, xid]) => [id!, label!, xid === '' ? null : xid!] as const), embedded: undefined }
    case 'xlsx':
      return {
        rows: sheetCells(readZip(body).get('xl/worksheets/sheet1.xml')!.toString()).slice(1)
          .map(({ cells }) => [cells[0]!.value, cells[1]!.value, cells[2]?.value ?? null] as const),
        embedded: undefined
      }
    case 'parquet': {
      const file = path.join(scratch, `${randomBytes(6).toString('hex')}.parquet`)
      await writeFile(file, body)
      const read = await duck.runAndReadAll(`select id::text, label, change_xid from read_parquet('${file}')`)
      const meta = await duck.runAndReadAll(`select decode(value) from parquet_kv_metadata('${file}') where decode(key) = 'sluice.sync_token'`)
      return { rows: read.getRows().map(([id, label, xid]) => [String(id), String(label), xid === null ? null : String(xid)] as const), embedded: meta.getRows()[0]?.[0] as string | undefined }
    }
    case 'arrow': {
      // opened first: the schema (and its metadata) is read before the batches
      const reader = RecordBatchReader.from(body).open()
      const metadata = reader.schema.metadata
      const rows: Array<readonly [string, string, string | null]> = []
      for (const batch of reader) {
        for (const r of batch.toArray() as unknown as Array<{ id: bigint, label: string, change_xid: string | null }>) rows.push([String(r.id), r.label, r.change_xid])
      }
      return { rows, embedded: metadata.get('sluice.sync_token') }
    }
  }
}

// NDJSON and JSON write an xid8 as a string, an int8 key as a number
function row (object: Record<string, unknown>): readonly [string, string, string | null] {
  return [String(object.id), String(object.label), object.change_xid === null ? null : object.change_xid as string]
}

/** GET a report, whole, with its token. */
async function pull (name: string, query: string, format: Format = 'ndjson', headers: Record<string, string> = {}): Promise<Rows & { token: string, status: number, headers: http.IncomingHttpHeaders }> {
  const response = await get(`${url}/reports/${name}.${format}${query === '' ? '' : `?${query}`}`, { headers })
  if (response.status !== 200) return { rows: [], embedded: undefined, token: '', status: response.status, headers: response.headers }
  if (!response.complete) throw new Error(`${name}?${query}: cut short`)
  const token = response.headers[TOKEN]
  if (typeof token !== 'string') throw new Error(`${name}?${query}: no ${TOKEN}`)
  return { ...await readRows(format, response.body), token, status: 200, headers: response.headers }
}

const ids = (rows: Rows): string[] => rows.rows.map(([id]) => id)

t.test('a pull gets the rows changed since, in every format and both strategies, with a new token each time', async t => {
  for (const name of ['items', 'items_cursor']) {
    const full = await pull(name, '')
    t.equal(full.rows.length, (await client.query(`select from ${items}`)).rowCount, `${name}: the full download`)
    t.match(full.token, /^[A-Za-z0-9._-]+$/, `${name}: the token is URL-safe`)
    const before = await pull(name, `changed_since=${full.token}`)
    t.same(ids(before), [], `${name}: nothing changed yet, nothing pulled`)
    // two transactions, committed in the order opposite to their ids'
    const first = await connect()
    try {
      await first.query('begin')
      await first.query(`update ${items} set label = label || '+' where id in (7, 399)`)
      await client.query(`update ${items} set label = label || '+' where id = 123`)
      await first.query('commit')
    } finally {
      await first.end()
    }
    const added = (await client.query<{ id: string }>(`insert into ${items} (id, label) select coalesce(max(id), 0) + 1, 'new' from ${items} returning id::text`)).rows[0]!.id
    const { rows: expected } = await client.query<{ id: string, label: string, change_xid: string }>(`select id::text, label, change_xid::text from ${items} where id in (7, 123, 399, ${added}) order by ${items}.id`)
    for (const format of FORMATS) {
      const since = await pull(name, `changed_since=${full.token}`, format)
      t.same(since.rows, expected.map((r) => [r.id, r.label, r.change_xid]), `${name}.${format}: the changed rows, as they are now`)
      t.not(since.token, full.token, `${name}.${format}: a new token`)
      if (format === 'json' || format === 'parquet' || format === 'arrow') t.equal(since.embedded, since.token, `${name}.${format}: the body carries the header's token`)
      t.same(ids(await pull(name, `changed_since=${since.token}`, format)), [], `${name}.${format}: nothing since the pull`)
    }
    t.same(ids(await pull(name, `changed_since=${full.token}&limit=2`)), ['7', '123'], `${name}: limit`)
    t.same(ids(await pull(name, `changed_since=${full.token}&after=123`)), ['399', added], `${name}: after`)
    const paged = JSON.parse((await get(`${url}/reports/${name}.json?changed_since=${full.token}&limit=2`)).body.toString()) as { next: string }
    t.same(ids(await readRows('json', (await get(paged.next)).body)), ['399', added], `${name}: JSON's next link pulls on`)
  }
})

t.test('a token is read, not trusted: a malformed or foreign one is a 400 naming changed_since', async t => {
  const { token } = await pull('items', 'limit=1')
  const cursorToken = (await pull('items_cursor', 'limit=1')).token
  // a snapshot in a token of the report's own scope
  const forged = (snapshot: string, of = token): string => `${of.split('.').slice(0, 2).join('.')}.${Buffer.from(snapshot).toString('base64url')}`
  const cases: Array<[string, string, RegExp]> = [
    ['items', 'nonsense', /not a sync token/],
    ['items', token.slice(0, -3), /not a sync token/],
    ['items', forged('12:5:'), /its snapshot does not read/],
    ['items', forged('5:12:13'), /its snapshot does not read/],
    ['items', forged('0:5:'), /its snapshot does not read/],
    ['items', forged('99999999999:99999999999:'), /ahead of this database/],
    ['items_cursor', forged('99999999999:99999999999:', cursorToken), /ahead of this database/],
    ['items_cursor', token, /another report or database/],
    ['items_plain', token, /declares no changes column/]
  ]
  for (const [name, sent, message] of cases) {
    const response = await get(`${url}/reports/${name}.ndjson?changed_since=${encodeURIComponent(sent)}`)
    const body = JSON.parse(response.body.toString()) as { message: string }
    t.equal(response.status, 400, `${name} ${sent}: 400`)
    t.match(body.message, /^changed_since: /, `${name}: names the parameter`)
    t.match(body.message, message, `${name}: says what is wrong`)
  }
  // the token is taken before `after` is checked against the key's type: an error says nothing of it
  for (const name of ['items', 'items_cursor']) {
    const response = await get(`${url}/reports/${name}.ndjson?after=not-a-number`)
    t.equal(response.status, 400, `${name}: a bad after is a 400`)
    t.equal(response.headers[TOKEN], undefined, `${name}: which carries no sync token`)
  }
  t.ok(poolWhole({ pool: app.pool, leases: app.leases }), 'every connection back in the pool')
})

t.test("a versioned report's ETag covers changed_since; a 304 carries no token", async t => {
  for (const name of ['items_versioned', 'items_versioned_cursor']) {
    const full = await pull(name, '')
    await client.query(`update ${items} set label = label || '*' where id = 42`)
    const one = await pull(name, `changed_since=${full.token}`)
    const two = await pull(name, `changed_since=${one.token}`)
    t.same(ids(one), ['42'], `${name}: the pull`)
    t.not(one.headers.etag, two.headers.etag, `${name}: another token, another tag`)
    t.not(one.headers.etag, full.headers.etag, `${name}: a pull's tag is not the full download's`)
    const again = await get(`${url}/reports/${name}.ndjson?changed_since=${full.token}`, { headers: { 'if-none-match': one.headers.etag! } })
    t.equal(again.status, 304, `${name}: the same pull, nothing new: 304`)
    t.equal(again.headers[TOKEN], undefined, `${name}: the 304 keeps the client's token`)
  }
})

t.test('a transaction open across a pull is in the next pull, not in that one', async t => {
  for (const name of ['items', 'items_cursor']) {
    const { token } = await pull(name, 'limit=1')
    const writer = await connect()
    try {
      await writer.query('begin')
      await writer.query(`update ${items} set label = 'late ${name}' where id = 250`)
      // a later transaction that commits first
      await client.query(`update ${items} set label = 'early ${name}' where id = 251`)
      const during = await pull(name, `changed_since=${token}`)
      t.same(ids(during), ['251'], `${name}: the open transaction's row is not pulled yet`)
      await writer.query('commit')
      const after = await pull(name, `changed_since=${during.token}`)
      t.same(after.rows.map(([id, label]) => [id, label]), [['250', `late ${name}`]], `${name}: it is in the next pull, which the clock would have missed`)
    } finally {
      await writer.end()
    }
  }
})

t.test('writers committing out of order beside pollers: the download and every pull reproduce the table, no change twice', async t => {
  let writing = true
  const writers = await Promise.all([0, 1, 2, 3].map(async (w) => {
    const writer = await connect()
    let n = 0
    const run = async (): Promise<void> => {
      while (writing) {
        await writer.query('begin')
        const id = 1 + ((n * 37 + w * 101) % 400)
        await writer.query(`update ${items} set label = $1 where id in ($2, $3)`, [`w${w}-${n}`, id, 1 + ((id * 7) % 400)])
        if (n % 5 === w) await writer.query(`insert into ${items} (id, label) values ($1, $2)`, [100_000 + w * 10_000 + n, `new w${w}-${n}`])
        // the transactions stay open for different times, so they commit out of the order they began
        // (and were stamped) in; the first writer's for longer than several polls
        await new Promise((resolve) => setTimeout(resolve, w === 0 ? 1500 : 20 + ((n * 53 + w * 29) % 200)))
        await writer.query('commit')
        n++
      }
    }
    return { writer, done: run(), count: () => n }
  }))
  const poll = async (name: string): Promise<{ copy: Map<string, string>, twice: string[], polls: number }> => {
    const copy = new Map<string, string>()
    const seen = new Set<string>()
    const twice: string[] = []
    const apply = (rows: Rows): void => {
      for (const [id, label, xid] of rows.rows) {
        const version = `${id}@${xid}`
        if (seen.has(version)) twice.push(version)
        seen.add(version)
        copy.set(id, label)
      }
    }
    const full = await pull(name, '')
    apply(full)
    let token = full.token
    let polls = 0
    while (writing) {
      const since = await pull(name, `changed_since=${token}`)
      apply(since)
      token = since.token
      polls++
      // pollers on a schedule, as a client would poll: not a wait for any event
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    await Promise.all(writers.map((w) => w.done))
    apply(await pull(name, `changed_since=${token}`))
    return { copy, twice, polls }
  }
  const polling = Promise.all([poll('items'), poll('items_cursor')])
  await new Promise((resolve) => setTimeout(resolve, 4000))
  writing = false
  const results = await polling
  for (const w of writers) await w.writer.end()
  const { rows } = await client.query<{ id: string, label: string }>(`select id::text, label from ${items} order by ${items}.id`)
  const table = new Map(rows.map((r) => [r.id, r.label]))
  t.ok(writers.reduce((sum, w) => sum + w.count(), 0) >= 20, 'the writers committed many transactions')
  for (const [i, { copy, twice, polls }] of results.entries()) {
    const name = i === 0 ? 'keyset' : 'cursor'
    t.ok(polls >= 10, `${name}: polled ${polls} times while writers ran`)
    t.same(twice, [], `${name}: no row version delivered twice`)
    const differ = [...table].filter(([id, label]) => copy.get(id) !== label).map(([id]) => id)
    t.same(differ, [], `${name}: the copy is the table`)
    t.equal(copy.size, table.size, `${name}: no row the table does not have`)
  }
})

t.test('a keyset download of many pages while writers commit shares no row version with the next pull', async t => {
  const wide = `${schema}.wide`
  // read the first chunk, let writers commit (rows already sent and rows far ahead), read on
  const updated = [3, 4, 5, 29_990, 29_991, 29_992]
  const download = await new Promise<{ body: Buffer, token: string, complete: boolean }>((resolve, reject) => {
    http.get(`${url}/reports/wide.ndjson`, { agent: false }, (res) => {
      const chunks: Buffer[] = []
      let paused = false
      res.on('data', (chunk: Buffer) => {
        chunks.push(chunk)
        if (paused) return
        paused = true
        res.pause()
        client.query(`update ${wide} set label = 'after the first page' where id = any($1)`, [updated]).then(() => res.resume(), reject)
      })
      res.on('end', () => { resolve({ body: Buffer.concat(chunks), token: String(res.headers[TOKEN]), complete: res.complete }) })
      res.on('error', reject)
    }).on('error', reject)
  })
  t.ok(download.complete, 'the download is whole')
  const got = (await readRows('ndjson', download.body)).rows
  const next = await pull('wide', `changed_since=${download.token}`)
  t.same(ids(next), updated.map(String), 'the next pull has every row the writer changed')
  const versions = new Set(got.map(([id, , xid]) => `${id}@${xid}`))
  t.same(next.rows.filter(([id, , xid]) => versions.has(`${id}@${xid}`)), [], 'no row version is in both')
  t.same(got.filter(([id]) => Number(id) > 29_000 && updated.includes(Number(id))), [], 'the rows changed ahead of the download wait for the pull: a later page reads only the first snapshot')
  t.equal(got.length, 30_000 - 3, 'every other row is in the download')
})

t.test('a pull of a few changes is an index range scan on the changes column', async t => {
  await client.query('analyze orders')
  const { app: demo } = await buildTestApp(t)
  const orders = demo.reports.get('orders')!
  t.equal(orders.sync?.column, 'change_xid', 'the demo orders report declares changes')
  const { snapshot } = (await client.query<{ snapshot: string }>('select pg_current_snapshot()::text as snapshot')).rows[0]!
  const query = compileQuery(orders, {}, { after: null, limit: 100, changes: { column: 'change_xid', since: snapshot, within: null } })
  const { rows } = await client.query<{ 'QUERY PLAN': unknown }>({ text: `explain (format json) ${query.sql}`, values: [...query.parameters] })
  const plan = JSON.stringify(rows[0]!['QUERY PLAN'])
  t.match(plan, /"Index Name":"orders_change_xid_idx"/, 'the changes column\'s index serves the pull')
  t.notMatch(plan, /Seq Scan/, 'no table scan')
})

t.test('changes: must name a result column of type xid8, checked at start', async t => {
  for (const [column, message] of [['id', /changes column "id" is of type bigint, not xid8/], ['missing', /changes column "missing" is not among the result columns/]] as const) {
    const bad = await reportsFolder(t, { 'bad.sql': report('keyset', `changes: ${column}`) })
    await t.rejects(buildTestApp(t, { reportsDir: bad }), { message: new RegExp(`bad\\.sql: .*${message.source}`) }, column)
  }
})
