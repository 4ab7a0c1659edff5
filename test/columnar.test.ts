// Parquet and Arrow IPC streams (docs/http.md section 3), with PostgreSQL as the oracle: every value of
// the awkward table and of the demo reports, read back by DuckDB (Parquet) and by apache-arrow's
// reader (Arrow, batch by batch, from its raw buffers, so that infinite timestamps are seen as
// the int64s they are). Each value is compared as a canonical text both sides compute: integers,
// decimals and texts as printed, floats as numbers, dates as days and timestamps as microseconds
// since 1970-01-01 UTC (infinity as the type's largest value, -infinity as its negation), bytes
// as hex, lists element by element with their lengths.
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { DuckDBInstance } from '@duckdb/node-api'
import { DataType, RecordBatchReader, type Data, type Schema } from 'apache-arrow'
import t, { type Test } from 'tap'
import { buildTestApp, listenTestApp } from './helpers/app.js'
import { createAwkwardTable } from './helpers/awkward.js'
import { connect } from './helpers/db.js'
import { get, reportsFolder, requestId, streamEnded } from './helpers/http.js'

const PARQUET = 'application/vnd.apache.parquet'
const ARROW = 'application/vnd.apache.arrow.stream'
const DATE_MAX = '2147483647'
const TIMESTAMP_MAX = '9223372036854775807'
const END_OF_STREAM = 'ffffffff00000000'

const client = await connect()
const schema = `columnar_${randomBytes(6).toString('hex')}`
const dir = await mkdtemp(path.join(tmpdir(), 'sluice-columnar-'))
const duck = await (await DuckDBInstance.create(':memory:')).connect()
await duck.run("set TimeZone = 'UTC'")
t.teardown(async () => {
  duck.closeSync()
  await client.query(`drop schema if exists ${schema} cascade`)
  await client.end()
  await rm(dir, { recursive: true, force: true })
})
const cases = await createAwkwardTable(client, schema)
// read by its key's index, page by page, so that the failing row fails only the page it is on
await client.query(`create table ${schema}.numbers as select g as id from generate_series(1, 6000) g; alter table ${schema}.numbers add primary key (id); analyze ${schema}.numbers`)
// multi-dimensional values have no list of the element type to go in (tested apart): null here
const oneDimensional = `select id, ${cases.map(([name]) => name === 'ta' || name === 'ia' ? `case when array_ndims(${name}) > 1 then null else ${name} end as ${name}` : name).join(', ')} from ${schema}.awkward`
const rangeSql = 'select g as id, g::int4 % 7 as n, \'row \' || g as label, now() - g * interval \'1 minute\' as at from generate_series(1, 60000) g'
const reportsDir = await reportsFolder(t, {
  'awkward.sql': `/*\ntitle: Awkward values\nkey: id\n*/\n${oneDimensional}\n`,
  'awkward_cursor.sql': `/*\ntitle: Awkward values, cursor\nkey: id\nstrategy: cursor\n*/\n${oneDimensional}\n`,
  'range.sql': `/*\ntitle: Many rows\nkey: id\n*/\n${rangeSql}\n`,
  'capped.sql': `/*\ntitle: Capped\nkey: id\nmax_rows: 1000\n*/\n${rangeSql}\n`,
  'squares.sql': `/*\ntitle: A multi-dimensional array first\nkey: id\n*/\nselect id, ia from ${schema}.awkward where array_ndims(ia) > 1\n`,
  'late_square.sql': `/*\ntitle: A multi-dimensional array late\nkey: id\n*/\nselect g as id, case when g = 5000 then '{{1,2},{3,4}}'::int[] else array[g] end as a from generate_series(1, 6000) g\n`,
  'fails.sql': `/*\ntitle: Fails part way\nkey: id\n*/\nselect id, 1 / (id - 3000) as x from ${schema}.numbers\n`
})

// The demo reports, and the same rows as plain SQL for PostgreSQL to answer.
const demo: Array<[name: string, sql: string]> = [
  ['orders', 'select id, customer_id, status, amount, currency, created_at, shipped_at, note, metadata, change_xid from orders'],
  ['customers', 'select id, name, email, country, created_at, tags, notes from customers'],
  ['products', 'select id, sku, name, price, attributes, created_at from products']
]

// ---- what a PostgreSQL type becomes, stated here apart from the server's code ----

type Kind =
  | { readonly kind: 'text' | 'bool' | 'float' | 'decimal' | 'date' | 'timestamp' | 'bytes' }
  | { readonly kind: 'list', readonly element: Kind }

interface Described { readonly name: string, readonly kind: Kind, readonly type: string }

/** The columns of `sql`: names, their type (domains as their base) and the kind of canonical text. */
async function describeColumns (sql: string): Promise<Described[]> {
  const result = await client.query(`select * from (${sql}) s limit 0`)
  const columns: Described[] = []
  for (const field of result.fields) {
    const kind = await kindOf(field.dataTypeID, field.dataTypeModifier)
    const { rows: [named] } = await client.query<{ type: string }>('select format_type($1, $2) as type', [field.dataTypeID, field.dataTypeModifier])
    columns.push({ name: field.name, kind, type: named!.type })
  }
  return columns
}

async function kindOf (oid: number, typmod: number): Promise<Kind> {
  const { rows: [type] } = await client.query<{ typtype: string, typbasetype: number, typtypmod: number, typelem: number, typlen: number, name: string }>(
    'select typtype, typbasetype::int4, typtypmod, typelem::int4, typlen, format_type(oid, $2) as name from pg_type where oid = $1', [oid, typmod])
  if (type!.typtype === 'd') return await kindOf(type!.typbasetype, type!.typtypmod)
  if (type!.typelem !== 0 && type!.typlen === -1 && oid !== 22 && oid !== 30) return { kind: 'list', element: await kindOf(type!.typelem, typmod) }
  const name = type!.name
  if (name === 'boolean') return { kind: 'bool' }
  if (name === 'real' || name === 'double precision') return { kind: 'float' }
  const decimal = /^numeric\((\d+),(\d+)\)$/.exec(name)
  if (decimal !== null && Number(decimal[1]) <= 38) return { kind: 'decimal' }
  if (name === 'date') return { kind: 'date' }
  if (name.startsWith('timestamp')) return { kind: 'timestamp' }
  if (name === 'bytea') return { kind: 'bytes' }
  return { kind: 'text' }
}

/** The canonical text of `x` of this kind, in PostgreSQL. */
function pgCanonical (kind: Kind, x: string): string {
  switch (kind.kind) {
    case 'decimal': return `case when ${x} = 'NaN' then null else ${x}::text end`
    case 'date': return `case when ${x} = 'infinity' then '${DATE_MAX}' when ${x} = '-infinity' then '-${DATE_MAX}' else (${x} - date '1970-01-01')::text end`
    case 'timestamp': return `case when ${x} = 'infinity' then '${TIMESTAMP_MAX}' when ${x} = '-infinity' then '-${TIMESTAMP_MAX}' else (extract(epoch from ${x}) * 1000000)::int8::text end`
    case 'bytes': return `encode(${x}, 'hex')`
    case 'bool': return `${x}::text`
    case 'list': return `array_to_json(${x})::text` // a list in a list: its elements here are integers
    // the type's output text (a cast to text would trim char(n) and add inet's mask)
    default: return `case when ${x} is null then null else concat(${x}) end`
  }
}

/** The same in DuckDB, over what it read from the Parquet file. */
function duckCanonical (kind: Kind, x: string): string {
  switch (kind.kind) {
    case 'date': return `(${x} - DATE '1970-01-01')::varchar`
    case 'timestamp': return `case when isinf(${x}) then (case when ${x} > '1970-01-01' then '${TIMESTAMP_MAX}' else '-${TIMESTAMP_MAX}' end) else epoch_us(${x})::varchar end`
    case 'bytes': return `lower(hex(${x}))`
    case 'list': return `to_json(${x})::varchar`
    default: return `${x}::varchar`
  }
}

/** Every value of `sql`'s columns, keyed `column\tid` (lists: `column\tid\tlen` and `column\tid\tindex`). */
type Values = Map<string, string | null>

async function expected (sql: string, columns: readonly Described[]): Promise<Values> {
  const values: Values = new Map()
  for (const column of columns) {
    const x = `s."${column.name}"`
    if (column.kind.kind === 'list') {
      const lengths = await client.query<[string, string | null]>({ text: `select id::text, case when ${x} is null then null else coalesce(cardinality(${x}), 0)::text end from (${sql}) s`, rowMode: 'array' })
      for (const [id, length] of lengths.rows) values.set(`${column.name}\t${id}\tlen`, length)
      const elements = await client.query<[string, string, string | null]>({ text: `select s.id::text, u.i::text, ${pgCanonical(column.kind.element, 'u.e')} from (${sql}) s, unnest(${x}) with ordinality u (e, i)`, rowMode: 'array' })
      for (const [id, i, value] of elements.rows) values.set(`${column.name}\t${id}\t${i}`, value)
    } else {
      const result = await client.query<[string, string | null]>({ text: `select id::text, ${pgCanonical(column.kind, x)} from (${sql}) s`, rowMode: 'array' })
      for (const [id, value] of result.rows) values.set(`${column.name}\t${id}`, value)
    }
  }
  return values
}

async function duckRows (sql: string): Promise<Array<Array<string | null>>> {
  const reader = await duck.runAndReadAll(sql)
  return reader.getRows().map((row) => row.map((value) => value === null ? null : String(value)))
}

async function readParquet (file: string, columns: readonly Described[]): Promise<Values> {
  const values: Values = new Map()
  const from = `read_parquet('${file}')`
  for (const column of columns) {
    const x = `"${column.name}"`
    if (column.kind.kind === 'list') {
      for (const [id, length] of await duckRows(`select id::varchar, len(${x})::varchar from ${from}`)) values.set(`${column.name}\t${id}\tlen`, length!)
      for (const [id, i, value] of await duckRows(`select id::varchar, i::varchar, ${duckCanonical(column.kind.element, 'e')} from (select id, generate_subscripts(${x}, 1) as i, unnest(${x}) as e from ${from})`)) {
        values.set(`${column.name}\t${id}\t${i}`, value!)
      }
    } else {
      for (const [id, value] of await duckRows(`select id::varchar, ${duckCanonical(column.kind, x)} from ${from}`)) values.set(`${column.name}\t${id}`, value!)
    }
  }
  return values
}

/** The canonical text of slot `i` of an Arrow column, from its buffers. */
function arrowCanonical (data: Data, i: number): string | null {
  if (!data.getValid(i)) return null
  const type = data.type
  const at = data.offset + i
  if (DataType.isList(type)) return JSON.stringify(listSlots(data, i).map((j) => JSON.parse(arrowCanonical(data.children[0]!, j) ?? 'null') as unknown))
  if (DataType.isBool(type)) return (((data.values as Uint8Array)[at >> 3]! >> (at & 7)) & 1) === 1 ? 'true' : 'false'
  if (DataType.isInt(type) || DataType.isDate(type) || DataType.isTimestamp(type) || DataType.isFloat(type)) {
    const value = (data.values as ArrayLike<number | bigint>)[at]!
    return Object.is(value, -0) ? '-0' : String(value) // String(-0) is "0"
  }
  if (DataType.isDecimal(type)) {
    const words = data.values as Uint32Array
    let unscaled = 0n
    for (let k = 3; k >= 0; k--) unscaled = (unscaled << 32n) | BigInt(words[at * 4 + k]!)
    unscaled = BigInt.asIntN(128, unscaled)
    const digits = (unscaled < 0n ? -unscaled : unscaled).toString().padStart(type.scale + 1, '0')
    const text = type.scale === 0 ? digits : `${digits.slice(0, -type.scale)}.${digits.slice(-type.scale)}`
    return unscaled < 0n ? `-${text}` : text
  }
  const offsets = data.valueOffsets as Int32Array
  const bytes = Buffer.from((data.values as Uint8Array).subarray(offsets[at], offsets[at + 1]))
  return DataType.isBinary(type) ? bytes.toString('hex') : bytes.toString('utf8')
}

function listSlots (data: Data, i: number): number[] {
  const offsets = data.valueOffsets as Int32Array
  const slots: number[] = []
  for (let j = offsets[data.offset + i]!; j < offsets[data.offset + i + 1]!; j++) slots.push(j)
  return slots
}

interface ArrowRead { readonly values: Values, readonly batches: number, readonly metadata: Map<string, string>, readonly types: Map<string, string>, readonly ids: string[] }

function readArrow (bytes: Buffer): ArrowRead {
  const values: Values = new Map()
  const reader = RecordBatchReader.from(bytes)
  let batches = 0
  const ids: string[] = []
  let schema: Schema | undefined
  for (const batch of reader) {
    batches++
    schema ??= batch.schema
    const idColumn = batch.getChildAt<DataType>(0)!.data[0]!
    for (let row = 0; row < batch.numRows; row++) ids.push(arrowCanonical(idColumn, row)!)
    batch.schema.fields.forEach((field, c) => {
      const data = batch.getChildAt<DataType>(c)!.data[0]!
      for (let row = 0; row < batch.numRows; row++) {
        const id = ids[ids.length - batch.numRows + row]!
        if (DataType.isList(field.type)) {
          if (!data.getValid(row)) {
            values.set(`${field.name}\t${id}\tlen`, null)
            continue
          }
          const slots = listSlots(data, row)
          values.set(`${field.name}\t${id}\tlen`, String(slots.length))
          slots.forEach((j, k) => { values.set(`${field.name}\t${id}\t${k + 1}`, arrowCanonical(data.children[0]!, j)) })
        } else {
          values.set(`${field.name}\t${id}`, arrowCanonical(data, row))
        }
      }
    })
  }
  return { values, batches, metadata: schema?.metadata ?? new Map<string, string>(), types: new Map(schema?.fields.map((field) => [field.name, String(field.type)])), ids }
}

/** Every expected value is read back the same (floats as the same number; float4 as a float). */
function compare (t: Test, what: string, columns: readonly Described[], want: Values, got: Values): void {
  const floats = new Map(columns.map((column) => [column.name, column.kind.kind === 'float' || (column.kind.kind === 'list' && column.kind.element.kind === 'float') ? column.type.startsWith('real') : undefined]))
  const wrong: string[] = []
  for (const [key, value] of want) {
    const seen = got.has(key) ? got.get(key)! : 'missing'
    const name = key.slice(0, key.indexOf('\t'))
    const single = floats.get(name)
    const same = single !== undefined && value !== null && seen !== null && !key.endsWith('\tlen')
      ? Object.is(single ? Math.fround(number(value)) : number(value), single ? Math.fround(number(seen)) : number(seen))
      : seen === value
    if (!same) wrong.push(`${key.replaceAll('\t', ' ')}: expected ${JSON.stringify(value)}, got ${JSON.stringify(seen)}`)
  }
  const extra = [...got.keys()].filter((key) => !want.has(key))
  t.same(wrong, [], `${what}: every value as PostgreSQL has it (${want.size} values)`)
  t.same(extra, [], `${what}: nothing more`)
}

/** A float's text, PostgreSQL's or DuckDB's (which prints inf, -inf and nan). */
function number (text: string): number {
  return Number(text.replace(/^(-?)inf$/, '$1Infinity').replace(/^-?nan$/, 'NaN'))
}

async function saved (body: Buffer, name: string): Promise<string> {
  const file = path.join(dir, `${name}-${randomBytes(4).toString('hex')}.parquet`)
  await writeFile(file, body)
  return file
}

async function keyValues (file: string): Promise<Map<string, string>> {
  return new Map((await duckRows(`select decode(key), decode(value) from parquet_kv_metadata('${file}')`)).map(([key, value]) => [key!, value!]))
}

t.test('HTTP: negotiated, named; Arrow compressed on request, Parquet already compressed', async (t) => {
  const { app } = await buildTestApp(t)
  for (const [type, ext] of [[PARQUET, 'parquet'], [ARROW, 'arrow']] as const) {
    for (const [url, headers] of [
      [`/reports/orders.${ext}?limit=5`, {}],
      [`/reports/orders?format=${ext}&limit=5`, {}],
      ['/reports/orders?limit=5', { accept: type }]
    ] as const) {
      const res = await app.inject({ url, headers })
      t.equal(res.statusCode, 200, url)
      t.equal(res.headers['content-type'], type, `${url}: content type`)
      t.equal(res.headers['content-disposition'], `attachment; filename="orders.${ext}"`, `${url}: a download named after the report`)
    }
    const compressed = await app.inject({ url: `/reports/orders.${ext}?limit=5`, headers: { 'accept-encoding': 'gzip' } })
    t.equal(compressed.headers['content-encoding'], ext === 'arrow' ? 'gzip' : undefined, `${ext}: ${ext === 'arrow' ? 'gzip as asked: its buffers are not compressed' : 'sent as it is: its pages are compressed'}`)
  }
  const listed = (await app.inject('/reports')).json<{ reports: Array<{ name: string, formats: string[] }> }>()
  t.same(listed.reports.find((r) => r.name === 'orders')!.formats.slice(-2), ['parquet', 'arrow'], 'GET /reports lists both')
  const openapi = (await app.inject('/openapi.json')).json<{ paths: Record<string, { get: { responses: { 200: { content: Record<string, unknown> } } } }> }>()
  const content = openapi.paths['/reports/orders']!.get.responses[200].content
  t.ok(PARQUET in content && ARROW in content, 'the OpenAPI document has both responses')
})

for (const report of ['awkward', 'awkward_cursor']) {
  t.test(`${report}: every value read back by DuckDB from the Parquet file and by Arrow's reader`, async (t) => {
    const { app } = await buildTestApp(t, { reportsDir })
    const columns = await describeColumns(oneDimensional)
    const want = await expected(oneDimensional, columns)

    const parquet = await app.inject(`/reports/${report}.parquet`)
    t.equal(parquet.statusCode, 200)
    const file = await saved(parquet.rawPayload, report)
    compare(t, `${report}.parquet`, columns, want, await readParquet(file, columns))
    const types = new Map((await duckRows(`describe select * from read_parquet('${file}')`)).map(([name, type]) => [name!, type!]))
    t.match(Object.fromEntries(types), {
      i2: 'INTEGER', i4: 'INTEGER', i8: 'BIGINT', f4: 'FLOAT', f8: 'DOUBLE', b: 'BOOLEAN', n102: 'DECIMAL(10,2)', num: 'VARCHAR',
      amt: 'VARCHAR', d: 'DATE', ts: 'TIMESTAMP', tstz: 'TIMESTAMP WITH TIME ZONE', j: 'JSON', jb: 'JSON', by: 'BLOB',
      t: 'VARCHAR', iv: 'VARCHAR', ia: 'INTEGER[]', tsa: 'TIMESTAMP WITH TIME ZONE[]', intss: 'INTEGER[][]', amts: 'VARCHAR[]', vec: 'VARCHAR'
    }, 'DuckDB reads the contract\'s types')
    // what a reader prints for the values the types cannot hold faithfully
    for (const column of ['ts', 'tstz']) {
      t.same(await duckRows(`select distinct ${column}::varchar from read_parquet('${file}') where isinf(${column}) order by 1`), [['-infinity'], ['infinity']], `${column}: infinite timestamps read as DuckDB's ±infinity`)
    }
    const { rows: nan } = await client.query<{ id: string }>(`select id::text from (${oneDimensional}) s where n102 = 'NaN' or amt = 'NaN'`)
    t.ok(nan.length > 0, 'the table has numeric NaNs')
    t.same(await duckRows(`select count(*)::varchar from read_parquet('${file}') where n102 is null`), [[(await client.query<{ count: string }>(`select count(*) from (${oneDimensional}) s where n102 is null or n102 = 'NaN'`)).rows[0]!.count]], 'a NaN in a DECIMAL column is null')
    const kv = await keyValues(file)
    t.equal(kv.get('sluice.report'), report)
    t.equal(kv.get('sluice.key'), '["id"]')
    t.equal(kv.get('sluice.after'), (await client.query<{ id: string }>(`select max(id)::text as id from (${oneDimensional}) s`)).rows[0]!.id, 'sluice.after resumes after the last row')

    const arrow = await app.inject(`/reports/${report}.arrow`)
    t.equal(arrow.statusCode, 200)
    t.equal(arrow.rawPayload.subarray(-8).toString('hex'), END_OF_STREAM, 'the stream ends with its end-of-stream marker')
    const read = readArrow(arrow.rawPayload)
    compare(t, `${report}.arrow`, columns, want, read.values)
    t.match(Object.fromEntries(read.types), {
      i2: 'Int32', i8: 'Int64', f4: 'Float32', f8: 'Float64', b: 'Bool', n102: 'Decimal[10e+2]', num: 'Utf8', d: 'Date32<DAY>',
      ts: 'Timestamp<MICROSECOND>', tstz: 'Timestamp<MICROSECOND, UTC>', j: 'Utf8', by: 'Binary', ia: 'List<Int32>', intss: 'List<List<Int32>>'
    }, 'Arrow\'s reader sees the contract\'s types')
    t.equal(read.metadata.get('sluice.report'), report)
    t.equal(read.metadata.get('sluice.key'), '["id"]')
  })
}

t.test('the demo reports: every value, in key order, in both formats', async (t) => {
  const { app } = await buildTestApp(t)
  for (const [name, sql] of demo) {
    const columns = await describeColumns(sql)
    const want = await expected(sql, columns)
    const parquet = await app.inject(`/reports/${name}.parquet`)
    const file = await saved(parquet.rawPayload, name)
    compare(t, `${name}.parquet`, columns, want, await readParquet(file, columns))
    const arrow = readArrow((await app.inject(`/reports/${name}.arrow`)).rawPayload)
    compare(t, `${name}.arrow`, columns, want, arrow.values)
    const { rows } = await client.query<{ id: string }>(`select id::text from (${sql}) s order by s.id`)
    t.same(arrow.ids, rows.map((row) => row.id), `${name}: Arrow's rows in key order`)
    t.same((await duckRows(`select id::varchar from read_parquet('${file}')`)).map(([id]) => id), rows.map((row) => row.id), `${name}: Parquet's rows in key order`)
  }
})

t.test('a row group and a record batch per batch; limit, after and max_rows as in NDJSON', async (t) => {
  const { app } = await buildTestApp(t, { reportsDir })
  const file = await saved((await app.inject('/reports/range.parquet')).rawPayload, 'range')
  const [[groups, rows]] = await duckRows(`select count(distinct row_group_id)::varchar, sum(row_group_num_rows / (select count(*) from parquet_schema('${file}') where num_children is null))::bigint::varchar from parquet_metadata('${file}')`) as [[string, string]]
  t.ok(Number(groups) > 1, `several row groups (${groups})`)
  t.equal(rows, '60000', 'holding every row')
  const sorting = await duckRows(`select distinct path_in_schema, stats_min_value is not null from parquet_metadata('${file}') where path_in_schema = 'id'`)
  t.same(sorting, [['id', 'true']], 'the key column has its min and max per row group')
  t.same(await duckRows(`select distinct compression from parquet_metadata('${file}')`), [['ZSTD']], 'every column chunk is ZSTD-compressed, as DuckDB reads the footer (src/formats/codec.ts)')
  t.same(await duckRows(`select count(*)::varchar from read_parquet('${file}') where id between 30001 and 30100`), [['100']], 'a filter on the key reads right')
  const arrow = readArrow((await app.inject('/reports/range.arrow')).rawPayload)
  t.ok(arrow.batches > 1, `several record batches (${arrow.batches})`)
  t.equal(arrow.ids.length, 60000)

  for (const query of ['limit=10', 'after=59990', 'after=100&limit=5', 'limit=1&after=59999']) {
    const ndjson = (await app.inject(`/reports/range.ndjson?${query}`)).body.trim().split('\n').filter((line) => line !== '').map((line) => String((JSON.parse(line) as { id: number }).id))
    const parquetFile = await saved((await app.inject(`/reports/range.parquet?${query}`)).rawPayload, 'range-q')
    t.same((await duckRows(`select id::varchar from read_parquet('${parquetFile}')`)).map(([id]) => id), ndjson, `parquet ${query}: the NDJSON's rows`)
    t.same(readArrow((await app.inject(`/reports/range.arrow?${query}`)).rawPayload).ids, ndjson, `arrow ${query}: the NDJSON's rows`)
    const kv = await keyValues(parquetFile)
    t.equal(kv.get('sluice.after'), ndjson.at(-1), `parquet ${query}: sluice.after is the last row's key`)
    const next = (await app.inject(`/reports/range.json?${query}`)).json<{ next: string | null }>().next
    t.equal(kv.get('sluice.next') ?? null, next === null ? null : next.replace('format=json', 'format=parquet').replace('/range.json', '/range.parquet'), `parquet ${query}: sluice.next is the next page, as JSON's next`)
  }
})

t.test('a cut download has no final chunk, no Parquet footer, no end of the Arrow stream', async (t) => {
  const { url, logs } = await listenTestApp(t, { reportsDir })
  for (const [report, outcome] of [['capped', 'row_cap'], ['fails', 'db_error'], ['late_square', 'db_error']] as const) {
    for (const ext of ['parquet', 'arrow']) {
      const reqId = requestId()
      const res = await get(`${url}/reports/${report}.${ext}`, { headers: { 'x-request-id': reqId } })
      t.equal(res.status, 200, `${report}.${ext}: the first batch went out`)
      t.equal((await streamEnded(logs, reqId)).outcome, outcome, `${report}.${ext}: logged as ${outcome}`)
      t.equal(res.complete, false, `${report}.${ext}: the response ended without its final chunk`)
      if (ext === 'parquet') {
        t.equal(res.body.subarray(0, 4).toString('latin1'), 'PAR1', `${report}: a Parquet file's start arrived`)
        t.not(res.body.subarray(-4).toString('latin1'), 'PAR1', `${report}: no footer`)
        const file = await saved(res.body, report)
        await t.rejects(duck.runAndReadAll(`select count(*) from read_parquet('${file}')`), `${report}: DuckDB refuses the partial file`)
      } else {
        t.not(res.body.subarray(-8).toString('hex'), END_OF_STREAM, `${report}: no end-of-stream marker`)
      }
    }
  }
  const square = await get(`${url}/reports/squares.parquet`)
  t.equal(square.status, 406, 'a multi-dimensional array in the first batch: 406 before the first byte')
  t.match(JSON.parse(square.body.toString()), { message: /column "ia" holds a multi-dimensional array/ }, 'naming the column')
})

