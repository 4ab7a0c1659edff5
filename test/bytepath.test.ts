// The byte path: DataRows taken off pg's socket (src/db/rowtap.ts) and encoded from their bytes.
// The hook itself on a real connection; messages cut anywhere between socket reads; rows wider
// than a read and than a batch; limit, after and max_rows on both strategies. PostgreSQL is the
// oracle throughout: COPY for CSV, row_to_json for NDJSON.
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import t, { type Test } from 'tap'
import { copyOut } from '../harness/copy.js'
import { perColumnFormats, socketMaker } from '../src/db/pg-internals.js'
import { installRowTap, readingSocket, rowTapOf, type RowSink } from '../src/db/rowtap.js'
import { resolveColumns } from '../src/db/types.js'
import { createEncoder, type FormatName } from '../src/formats/index.js'
import { Drive } from '../src/formats/drive.js'
import { binaryFormats } from '../src/formats/columnar.js'
import type { Column, ColumnsContext } from '../src/formats/types.js'
import { buildTestApp } from './helpers/app.js'
import { createAwkwardTable } from './helpers/awkward.js'
import { connect, testDatabaseUrl } from './helpers/db.js'
import { parseExact } from './helpers/exact.js'
import { reportsFolder } from './helpers/http.js'

const client = await connect()
const schema = `bytes_${randomBytes(6).toString('hex')}`
t.teardown(async () => {
  await client.query(`drop schema if exists ${schema} cascade`)
  await client.end()
})
const cases = await createAwkwardTable(client, schema)
const columns = cases.map(([name]) => name).join(', ')
// 60 copies of the awkward rows (~1,000 rows, many socket reads)
const awkwardSql = `select a.id + 100 * g as id, ${columns} from ${schema}.awkward a cross join generate_series(0, 59) g`
// rows wider than a socket read (64 KiB) and than a batch (1 MiB), with quotes and line breaks
await client.query(`create table ${schema}.wide as
  select g as id, repeat(E'a "wide"\\nvalue, ', 150000 * g) as v, g * 1.5 as n from generate_series(1, 3) g`)
const wideSql = `select id, v, n from ${schema}.wide`

t.test('the tap takes the place of pg\'s one socket listener, and refuses a connection read otherwise', async (t) => {
  const tapped = await connected(t)
  const tap = installRowTap(tapped)
  t.equal(rowTapOf(tapped), tap)
  t.strictSame(socketOf(tapped).listeners('data'), [tap.data], 'the tap is the socket\'s only reader')
  const { rows } = await tapped.query('select 1 as one, \'two\' as two')
  t.strictSame(rows, [{ one: 1, two: 'two' }], 'a query with no capture gets its rows through pg as ever')

  const other = await connected(t)
  socketOf(other).on('data', () => {})
  t.throws(() => installRowTap(other), /2 socket 'data' listeners.*pg the version package\.json pins/)
  t.throws(() => rowTapOf(other), /no row tap/)
})

t.test('a capture takes the DataRows, pg still sees the rest of the result', async (t) => {
  const tapped = await connected(t)
  const tap = installRowTap(tapped)
  let rows = 0
  tap.capture({ row: () => { rows++ } })
  const result = await tapped.query('select g from generate_series(1, 2500) g')
  tap.release()
  t.equal(rows, 2500, 'every DataRow went to the sink')
  t.equal(result.rows.length, 0, 'none reached pg')
  t.equal(result.rowCount, 2500, 'pg read the command tag as ever')
  t.strictSame(result.fields.map((field) => field.name), ['g'], 'and the row description')

  tap.capture({ row: () => {} })
  t.throws(() => tap.capture({ row: () => {} }), /already running/, 'a second capture on one connection is refused')
  tap.release()

  tap.capture({ row: () => { throw new Error('the sink broke') } })
  await tapped.query('select g from generate_series(1, 10) g')
  t.throws(() => tap.release(), /the sink broke/, 'a sink that throws fails its statement, not the process')
  const { rows: after } = await tapped.query('select 42 as answer')
  t.strictSame(after, [{ answer: 42 }], 'and the connection goes on')
})

t.test('a pool\'s socket reads into one buffer of its own; pg gets copies until the tap reads it; the rows are PostgreSQL\'s', async (t) => {
  const tls: boolean[] = []
  const own = new pg.Client({ connectionString: testDatabaseUrl(), stream: socketMaker((wrapped) => { tls.push(wrapped); return readingSocket(wrapped) }) })
  // what pg's parser gets during startup: a buffer of its own each time (it keeps a read's unfinished message)
  const startup = new Set<ArrayBufferLike>()
  const watch = (chunk: Buffer): void => { startup.add(chunk.buffer) }
  socketOf(own).prependListener('data', watch)
  await own.connect()
  t.teardown(() => own.end())
  await own.query("set timezone = 'UTC'; set datestyle = 'ISO'; set intervalstyle = 'postgres'")
  socketOf(own).removeListener('data', watch)
  t.strictSame(tls, [false], 'pg asked for the socket once, with its settings: no TLS')

  // once the tap reads the socket (the pool's hook), the one read buffer goes to it as it is
  const tap = installRowTap(own)
  const buffers = new Set<ArrayBufferLike>()
  let reads = 0
  socketOf(own).prependListener('data', (chunk: Buffer) => { reads++; buffers.add(chunk.buffer) })
  const ordered = `select * from (${awkwardSql}) r order by id`
  const { fields } = await client.query({ text: `${ordered} limit 0`, rowMode: 'array' })
  const drive = new Drive(createEncoder('csv', await resolveColumns(client, fields), { header: true, bom: false, delimiter: ',' }))
  // a chunk made at every settle: the encoder has copied the rows before the buffer is read into again
  const chunks: Buffer[] = []
  tap.capture({
    row: (data, start, end) => { drive.row(data, start, end) },
    settle: () => { chunks.push(Buffer.from(drive.chunk({ final: false }))) }
  })
  await own.query(ordered)
  tap.release()
  chunks.push(drive.chunk({ final: true }))
  t.ok(reads > 3 && buffers.size === 1, `${reads} reads of the result, all into one buffer`)
  t.notOk(startup.has([...buffers][0]!), 'not one pg was given before the tap: those were copies')
  t.ok(Buffer.concat(chunks).equals(await copyOut(client, `copy (${ordered}) to stdout with (format csv, header)`)), 'its rows, encoded as they came, are byte for byte COPY\'s')
})

// Socket reads cut at every size from one byte up: a message header, a length, a field, split.
t.test('messages cut anywhere between socket reads: the same bytes as PostgreSQL\'s own', async (t) => {
  for (const [label, cut] of [['1-byte reads', () => 1], ['1-9 byte reads', seeded(1, 9)], ['reads up to 3,000 bytes', seeded(1, 3000)]] as const) {
    const tapped = await connected(t)
    const tap = installRowTap(tapped)
    const socket = socketOf(tapped)
    socket.removeListener('data', tap.data)
    socket.on('data', (chunk: Buffer) => {
      for (let at = 0; at < chunk.length;) {
        const size = Math.min(cut(), chunk.length - at)
        tap.data(Buffer.from(chunk.subarray(at, at + size)))
        at += size
      }
    })
    for (const [name, sql] of [['awkward', awkwardSql], ['wide', wideSql]] as const) {
      const ordered = `select * from (${sql}) r order by id`
      const { fields } = await client.query({ text: `${ordered} limit 0`, rowMode: 'array' })
      const described = await resolveColumns(client, fields)
      const csv = await encodeThrough(tapped, tap, 'csv', described, ordered)
      t.ok(csv.equals(await copyOut(client, `copy (${ordered}) to stdout with (format csv, header)`)), `${label}, ${name}: CSV is COPY's bytes`)
      const ndjson = (await encodeThrough(tapped, tap, 'ndjson', described, ordered)).toString().split('\n').slice(0, -1)
      t.same(ndjson.map(parseExact), (await rowToJson(ordered)).map(parseExact), `${label}, ${name}: NDJSON is row_to_json`)
    }
    await t.rejects(tapped.query('select 1 / 0'), /division by zero/, `${label}: an error still reaches pg whole`)
    t.strictSame((await tapped.query('select \'still here\' as s')).rows, [{ s: 'still here' }], `${label}: the connection goes on`)
  }
})

t.test('over HTTP, both strategies: wide rows, limit, after and max_rows, against the oracles', async (t) => {
  const files: Record<string, string> = {}
  for (const strategy of ['keyset', 'cursor']) {
    files[`awkward_${strategy}.sql`] = `/*\ntitle: awkward\nkey: id\nstrategy: ${strategy}\n*/\n${awkwardSql}\n`
    files[`wide_${strategy}.sql`] = `/*\ntitle: wide\nkey: id\nstrategy: ${strategy}\n*/\n${wideSql}\n`
    files[`capped_${strategy}.sql`] = `/*\ntitle: capped\nkey: id\nstrategy: ${strategy}\nmax_rows: 700\n*/\n${awkwardSql}\n`
  }
  const { app } = await buildTestApp(t, { reportsDir: await reportsFolder(t, files) })
  for (const strategy of ['keyset', 'cursor']) {
    for (const [url, sql] of [
      [`/reports/wide_${strategy}`, `${wideSql} order by id`],
      [`/reports/awkward_${strategy}?limit=777&after=150`, `select * from (${awkwardSql}) r where id > 150 order by id limit 777`],
      [`/reports/awkward_${strategy}?after=5000`, `select * from (${awkwardSql}) r where id > 5000 order by id`],
      [`/reports/capped_${strategy}?limit=700`, `select * from (${awkwardSql}) r order by id limit 700`]
    ] as const) {
      const [path, query = ''] = url.split('?')
      const csv = await app.inject(`${path}.csv${query === '' ? '' : `?${query}`}`)
      t.equal(csv.statusCode, 200, `${url}.csv`)
      t.ok(csv.rawPayload.equals(await copyOut(client, `copy (${sql}) to stdout with (format csv, header)`)), `${url}: CSV is COPY's bytes`)
      const ndjson = await app.inject(`${path}.ndjson${query === '' ? '' : `?${query}`}`)
      t.same(ndjson.body.split('\n').slice(0, -1).map(parseExact), (await rowToJson(sql)).map(parseExact), `${url}: NDJSON is row_to_json`)
    }
    const json = await app.inject(`/reports/awkward_${strategy}.json?limit=10&after=150`)
    const next = new URL((JSON.parse(json.body) as { next: string }).next)
    t.equal(next.searchParams.get('after'), (await client.query<{ id: number }>(`select id from (${awkwardSql}) r where id > 150 order by id limit 1 offset 9`)).rows[0]!.id.toString(), `${strategy}: JSON's next resumes after the last row sent`)
  }
})

t.test('Parquet and Arrow read columns in binary: the same bytes as from their text, the Bind asks per column', async (t) => {
  const tapped = await connected(t)
  const tap = installRowTap(tapped)
  perColumnFormats(tapped)
  // every awkward value a list of the element type can hold, and floats whose NaN the database
  // sends with its sign bit set (x86's default NaN, from infinity times zero), bigger decimals
  const oneDimensional = cases.map(([name]) => name === 'ta' || name === 'ia' ? `case when array_ndims(${name}) > 1 then null else ${name} end as ${name}` : name).join(', ')
  const queries: Array<[label: string, sql: string, key: number[]]> = [
    ['awkward', `select a.id + 100 * g as id, ${oneDimensional} from ${schema}.awkward a cross join generate_series(0, 59) g`, [0]],
    ['floats and decimals', `select g as id, 'infinity'::float8 * (g % 2) as nan8, ('infinity'::float4 * (g % 2))::float4 as nan4,
       (g * 1234567.891)::numeric(38,3) as big, (-g * 0.01)::numeric(4,2) as small, (g * 10000)::numeric(12,0) as whole,
       (10::numeric ^ 30 + g)::numeric(38,0) as huge, timestamptz '1999-12-31 23:59:59.9999' + interval '1 microsecond' * g as near_epoch
       from generate_series(0, 199) g`, [0]],
    ['a composite key of a bigint and a date', `select g::int8 as id, date '2026-01-01' + g as day, g::int8 * 3 as n from generate_series(1, 300) g`, [0, 1]]
  ]
  for (const [label, sql, key] of queries) {
    const { fields } = await tapped.query(`${sql} limit 0`)
    const described = await resolveColumns(tapped, fields)
    const context = { report: 'binary', key: key.map((i) => described[i]!.name), keyIndexes: key }
    for (const format of ['parquet', 'arrow'] as const) {
      const fromText = await columnar(format, described, context, false, sql)
      const fromBinary = await columnar(format, described, context, true, sql)
      t.ok(fromText.equals(fromBinary), `${label}, ${format}: ${fromBinary.length} bytes from binary columns, the same as from text`)
    }
    const formats = binaryFormats(described, key)
    t.ok(formats !== null && formats.includes(1), `${label}: some columns are asked in binary`)
    for (const index of key) t.equal(formats?.[index], 0, `${label}: key column ${described[index]!.name} stays text, what an after is made of`)
    const result = await tapped.query({ text: sql, queryMode: 'extended', binary: formats } as unknown as pg.QueryConfig)
    t.strictSame(result.fields.map((field) => field.format), formats!.map((code) => code === 1 ? 'binary' : 'text'), `${label}: PostgreSQL sent each column in the format asked for it`)
    if (label === 'floats and decimals') {
      const { rows: [sent] } = await tapped.query<{ nan8: Buffer, nan4: Buffer }>("select float8send('infinity'::float8 * 0) as nan8, float4send(('infinity'::float4 * 0)::float4) as nan4")
      t.equal(sent!.nan8[0]! & 0x80, 0x80, 'the float8 NaN the database sends has its sign bit set, and the bytes equal all the same')
      t.equal(sent!.nan4[0]! & 0x80, 0x80, 'so has the float4 NaN')
    }
  }

  async function columnar (format: 'parquet' | 'arrow', described: Column[], context: ColumnsContext, binary: boolean, sql: string): Promise<Buffer> {
    const encoder = createEncoder(format, described, { header: true, bom: false, delimiter: ',' }, context, { binary })
    const drive = new Drive(encoder)
    tap.capture({ row: (data, start, end) => { drive.row(data, start, end) } })
    try {
      await tapped.query(binary ? { text: sql, queryMode: 'extended', binary: encoder.formats } as unknown as pg.QueryConfig : sql)
    } finally {
      tap.release()
    }
    return Buffer.from(drive.chunk({ final: true }))
  }
})

t.test('a table altered under a running server: an error, never rows encoded as the old shape', async (t) => {
  await client.query(`create table ${schema}.shifting as select g as id, 'v' || g as v from generate_series(1, 50) g`)
  const files: Record<string, string> = {}
  for (const strategy of ['keyset', 'cursor']) files[`shifting_${strategy}.sql`] = `/*\ntitle: shifting\nkey: id\nstrategy: ${strategy}\n*/\nselect * from ${schema}.shifting\n`
  const { app, logs } = await buildTestApp(t, { reportsDir: await reportsFolder(t, files) })
  t.equal((await app.inject('/reports/shifting_keyset.csv')).statusCode, 200, 'served as learnt at start')
  for (const [change, message] of [
    // one field more: every row is refused before it is read
    ['add column extra int', /a row of 3 fields, not the report's 2/],
    // as many fields, of other names and types: the batch is refused before it is sent
    ['drop column v', /now returns columns \(id, extra\) other than those learnt at start/]
  ] as const) {
    await client.query(`alter table ${schema}.shifting ${change}`)
    for (const strategy of ['keyset', 'cursor']) {
      const res = await app.inject(`/reports/shifting_${strategy}.csv`)
      t.equal(res.statusCode, 500, `${change}, ${strategy}: a server error, not a 200`)
      t.notMatch(res.body, /restart/, 'the body says nothing of the report\'s insides')
      t.ok(logs.some((line) => message.test(JSON.stringify(line))), `${change}, ${strategy}: the log says what changed`)
    }
  }
})

/** Runs `sql` on `tapped` with its rows captured into `format`'s encoder; the response's bytes. */
async function encodeThrough (tapped: pg.Client, tap: ReturnType<typeof installRowTap>, format: FormatName, described: Column[], sql: string): Promise<Buffer> {
  const drive = new Drive(createEncoder(format, described, { header: true, bom: false, delimiter: ',' }))
  const sink: RowSink = { row: (data, start, end) => { drive.row(data, start, end) } }
  tap.capture(sink)
  await tapped.query(sql)
  tap.release()
  return Buffer.from(drive.chunk({ final: true }))
}

async function rowToJson (sql: string): Promise<string[]> {
  const { rows } = await client.query<{ j: string }>({ text: `select row_to_json(r)::text as j from (${sql}) r`, types: { getTypeParser: () => (v: string) => v } })
  return rows.map((row) => row.j)
}

/** A client of the test's own with Sluice's session settings, ended in teardown. */
async function connected (t: Test): Promise<pg.Client> {
  const own = new pg.Client({ connectionString: testDatabaseUrl() })
  await own.connect()
  t.teardown(() => own.end())
  await own.query("set timezone = 'UTC'; set datestyle = 'ISO'; set intervalstyle = 'postgres'")
  return own
}

function socketOf (tapped: pg.Client): NodeJS.EventEmitter {
  return (tapped as unknown as { connection: { stream: NodeJS.EventEmitter } }).connection.stream
}

/** Sizes in [low, high] from a fixed seed (mulberry32), so a failure repeats. */
function seeded (low: number, high: number): () => number {
  let state = 20261202
  return () => {
    state = (state + 0x6d2b79f5) | 0
    let x = Math.imul(state ^ (state >>> 15), 1 | state)
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
    return low + Math.floor((((x ^ (x >>> 14)) >>> 0) / 4294967296) * (high - low + 1))
  }
}
