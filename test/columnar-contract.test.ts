// Parquet and Arrow (docs/http.md section 3), the parts of the contract a reader shows as it prints:
// every value of the awkward table and of every demo report as DuckDB prints it (`::varchar`)
// against the same text computed in PostgreSQL, and Arrow's values printed the same way in JS; the
// spec's types; decimals of every storage width (INT32, INT64, 16-byte); the footer itself (each
// row group's sorting_columns, raw statistics holding the infinities' INT32/INT64 values); each
// record batch's sluice.after; composite keys; an empty report; a statement timeout after the
// first batch. test/columnar.test.ts compares the same values through epochs and day numbers.
//
// What DuckDB 1.5 prints, which the expected texts follow: DATE '0044-03-15 (BC)', TIMESTAMP
// '2026-01-02 03:04:05.5' (fraction without trailing zeros), TIMESTAMP WITH TIME ZONE with '+00'
// under TimeZone=UTC, 'infinity'/'-infinity' for INT32 ±2147483647 as DATE and INT64 ±(2^63-1) as
// TIMESTAMP, DECIMAL(p,s) with all s digits. (The Node client's String() of a DuckDB value is not
// DuckDB's print: it shows a date's infinity as 5881580-07-11, a BC timestamp with year 0000 and a
// FLOAT widened to a double, so the values are taken as DuckDB casts them to VARCHAR.)
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { gunzipSync } from 'node:zlib'
import type { DuckDBConnection } from '@duckdb/node-api'
import type { Data, DataType, RecordBatch } from 'apache-arrow'
import type pg from 'pg'
import t, { type Test } from 'tap'
import { buildTestApp, listenTestApp } from './helpers/app.js'
import { awkwardCases, createAwkwardTable } from './helpers/awkward.js'
import { connect } from './helpers/db.js'
import { get, reportsFolder, requestId, streamEnded } from './helpers/http.js'
import { readFooter } from './helpers/parquet-footer.js'

const DATE_MAX = 2147483647
const TIMESTAMP_MAX = 9223372036854775807n
const END_OF_STREAM = 'ffffffff00000000'

// ---- the readers, or a skip (a failure under SLUICE_REQUIRE_TOOLS=1) ----
const missing: string[] = []
const duckdb = await import('@duckdb/node-api').catch(() => { missing.push('@duckdb/node-api'); return undefined })
const arrow = await import('apache-arrow').catch(() => { missing.push('apache-arrow'); return undefined })
if (missing.length > 0 && process.env.SLUICE_REQUIRE_TOOLS === '1') throw new Error(`${missing.join(' and ')} not installed, and SLUICE_REQUIRE_TOOLS=1`)
// apache-arrow, once it is known to be there
let A: NonNullable<typeof arrow>
let client: pg.Client
let duck: DuckDBConnection
let dir: string
let reportsDir: string

const schema = `colprint_${randomBytes(6).toString('hex')}`
const cases = awkwardCases(schema)

// Every decimal width: INT32 (p ≤ 9), INT64 (p ≤ 18), FIXED_LEN_BYTE_ARRAY(16) (p ≤ 38), at their
// extremes, at two's complement's word edges (2^31, 2^63, 2^64), NaN, and in a list.
const DECIMALS: ReadonlyArray<readonly [name: string, type: string, values: ReadonlyArray<string | null>]> = [
  ['d4', 'numeric(4,0)', [null, '9999', '-9999', '0', 'NaN', '1', '-1']],
  ['d9', 'numeric(9,4)', [null, '99999.9999', '-99999.9999', '0', 'NaN', '0.0001', '-0.0001', '21474.8364', '-21474.8365']],
  ['d55', 'numeric(5,5)', [null, '0.99999', '-0.99999', '0', 'NaN', '0.00001']],
  ['d18', 'numeric(18,6)', [null, '999999999999.999999', '-999999999999.999999', '0', 'NaN', '0.000001', '-2147.483648', '2147.483648']],
  ['d19', 'numeric(19,0)', [null, '9999999999999999999', '-9999999999999999999', '0', 'NaN', '9223372036854775808', '-9223372036854775809', '-1']],
  ['d38', 'numeric(38,12)', [null, '99999999999999999999999999.999999999999', '-99999999999999999999999999.999999999999', '0', 'NaN', '0.000000000001', '-18446744.073709551616', '18446744.073709551615']],
  ['d38i', 'numeric(38,0)', [null, '99999999999999999999999999999999999999', '-99999999999999999999999999999999999999', '0', 'NaN', '18446744073709551616', '-18446744073709551616', '-1']],
  ['dl', 'numeric(20,4)[]', [null, '{1.5,NULL,-0.0001}', '{}', '{NaN}', '{9999999999999999.9999,-9999999999999999.9999}']]
]
// the rows with a multi-dimensional array (tested apart, by test/columnar.test.ts) are left out
const awkwardSql = `select id, ${cases.map(([name]) => name).join(', ')} from ${schema}.awkward where coalesce(array_ndims(ta), 1) = 1 and coalesce(array_ndims(ia), 1) = 1`
const decimalsSql = `select * from ${schema}.decimals`
const oddScalesSql = "select 1 as id, 12300::numeric(3,-2) as neg, 0.0012::numeric(2,4) as over, 'NaN'::numeric(3,-2) as nan"
const rangeSql = 'select g as id, \'row \' || g as label from generate_series(1, 60000) g'
// keys of text and bytea whose byte order is not their order in most collations: '' first, 'é'
// (c3 a9) after 'zz', 'Z' before 'a'
const textKeySql = "select k, convert_to(k, 'UTF8') || '\\xff'::bytea as b from unnest(array['b', 'zz', 'é', '', 'Z', 'a']) k"


// Every demo report (GET /reports lists six) with the SQL PostgreSQL answers for the same request.
const demo: ReadonlyArray<readonly [url: string, sql: string, key: readonly string[]]> = [
  ['orders', 'select id, customer_id, status, amount, currency, created_at, shipped_at, note, metadata, change_xid from orders', ['id']],
  ['customers', 'select id, name, email, country, created_at, tags, notes from customers', ['id']],
  ['products', 'select id, sku, name, price, attributes, created_at from products', ['id']],
  ['order_lines', `select i.order_id, i.line, o.created_at as ordered_at, p.sku, p.name as product, i.quantity, i.unit_price, i.discount,
     round(i.quantity * i.unit_price * (1 - coalesce(i.discount, 0)), 2) as total
     from order_items i join orders o on o.id = i.order_id join products p on p.id = i.product_id where i.quantity >= 1`, ['order_id', 'line']],
  ['orders_by_status?status=paid', "select id, customer_id, status, amount, currency, created_at from orders where status = 'paid' and created_at >= '2020-01-01T00:00:00Z'::timestamptz", ['created_at', 'id']],
  ['revenue_by_day', "select (created_at at time zone 'UTC')::date as day, currency, count(*) as orders, sum(amount) as revenue from orders where status in ('paid', 'shipped') and created_at >= '2000-01-01'::date group by 1, 2", ['day', 'currency']]
]

// ---- what each PostgreSQL type becomes, from the spec's table ----

type Kind =
  | { readonly kind: 'int' | 'int8' | 'bool' | 'float4' | 'float8' | 'date' | 'timestamp' | 'timestamptz' | 'bytes' | 'json' | 'text' }
  | { readonly kind: 'decimal', readonly precision: number, readonly scale: number }
  | { readonly kind: 'list', readonly element: Kind }

interface Column { readonly name: string, readonly kind: Kind }

async function describe (sql: string): Promise<Column[]> {
  const { fields } = await client.query(`select * from (${sql}) s limit 0`)
  return await Promise.all(fields.map(async (field) => ({ name: field.name, kind: await kindOf(field.dataTypeID, field.dataTypeModifier) })))
}

async function kindOf (oid: number, typmod: number): Promise<Kind> {
  const { rows: [type] } = await client.query<{ typtype: string, base: number, basemod: number, elem: number, typlen: number, name: string }>(
    'select typtype, typbasetype::int4 as base, typtypmod as basemod, typelem::int4 as elem, typlen, format_type(oid, $2) as name from pg_type where oid = $1', [oid, typmod])
  if (type === undefined) throw new Error(`no type ${oid}`)
  if (type.typtype === 'd') return await kindOf(type.base, type.basemod)
  // int2vector and oidvector have an element type but are not arrays to the spec
  if (type.elem !== 0 && type.typlen === -1 && oid !== 22 && oid !== 30) return { kind: 'list', element: await kindOf(type.elem, typmod) }
  const simple: Record<string, Kind['kind']> = {
    boolean: 'bool', smallint: 'int', integer: 'int', bigint: 'int8', real: 'float4', 'double precision': 'float8', date: 'date',
    'timestamp without time zone': 'timestamp', 'timestamp with time zone': 'timestamptz', bytea: 'bytes', json: 'json', jsonb: 'json'
  }
  const decimal = /^numeric\((\d+),(-?\d+)\)$/.exec(type.name)
  if (decimal !== null && Number(decimal[1]) <= 38) return { kind: 'decimal', precision: Number(decimal[1]), scale: Number(decimal[2]) }
  const found = simple[type.name.replace(/\(\d+\)/, '')]
  return { kind: (found ?? 'text') as 'text' }
}

function duckType (kind: Kind): string {
  switch (kind.kind) {
    case 'int': return 'INTEGER'
    case 'int8': return 'BIGINT'
    case 'bool': return 'BOOLEAN'
    case 'float4': return 'FLOAT'
    case 'float8': return 'DOUBLE'
    case 'decimal': return `DECIMAL(${kind.precision},${kind.scale})`
    case 'date': return 'DATE'
    case 'timestamp': return 'TIMESTAMP'
    case 'timestamptz': return 'TIMESTAMP WITH TIME ZONE'
    case 'bytes': return 'BLOB'
    case 'json': return 'JSON'
    case 'text': return 'VARCHAR'
    case 'list': return `${duckType(kind.element)}[]`
  }
}

/** DuckDB's print of a value of this kind, computed in PostgreSQL over `x`. */
function pgPrint (kind: Kind, x: string): string {
  const bc = `case when to_char(${x}, 'BC') = 'BC' then ' (BC)' else '' end`
  const clock = `to_char(${x}, 'HH24:MI:SS') || case when to_char(${x}, 'US') = '000000' then '' else '.' || rtrim(to_char(${x}, 'US'), '0') end`
  const infinite = (finite: string): string => `case when ${x} = 'infinity' then 'infinity' when ${x} = '-infinity' then '-infinity' else ${finite} end`
  switch (kind.kind) {
    case 'int': case 'int8': case 'bool': case 'float4': case 'float8': return `${x}::text`
    // DuckDB prints a DECIMAL(p,p) without the 0 before its point (.5, -.5)
    case 'decimal': return `case when ${x} = 'NaN' then null else ${kind.precision === kind.scale ? `regexp_replace(${x}::text, '^(-?)0\\.', '\\1.')` : `${x}::text`} end`
    case 'date': return infinite(`to_char(${x}, 'YYYY-MM-DD') || ${bc}`)
    case 'timestamp': return infinite(`to_char(${x}, 'YYYY-MM-DD') || ${bc} || ' ' || ${clock}`)
    case 'timestamptz': return infinite(`to_char(${x}, 'YYYY-MM-DD') || ${bc} || ' ' || ${clock} || '+00'`)
    case 'bytes': return `upper(encode(${x}, 'hex'))`
    // a list in a list: the inner one as DuckDB prints a list (its elements here are integers)
    case 'list': return `case when ${x} is null then null else '[' || array_to_string(${x}, ', ', 'NULL') || ']' end`
    // the type's output function, as CSV has it (a cast to text would trim char(n), add inet's mask)
    default: return `case when ${x} is null then null else concat(${x}) end`
  }
}

function duckPrint (kind: Kind, x: string): string {
  return kind.kind === 'bytes' ? `hex(${x})` : `${x}::varchar`
}

/** Cells keyed `column \t row key` (lists: `... \t #` their length, `... \t i` element i from 1). */
type Cells = Map<string, string | null>

function rowKey (parts: ReadonlyArray<string | null>): string {
  return parts.join('|')
}

async function pgCells (sql: string, columns: readonly Column[], key: readonly string[]): Promise<{ cells: Cells, order: string[] }> {
  const cells: Cells = new Map()
  const byName = new Map(columns.map((column) => [column.name, column]))
  const keyText = key.map((name) => pgPrint(byName.get(name)!.kind, `s."${name}"`)).join(` || '|' || `)
  const order = (await client.query<[string]>({ text: `select ${keyText} from (${sql}) s order by ${key.map((name) => `s."${name}"`).join(', ')}`, rowMode: 'array' })).rows.map(([k]) => k)
  for (const column of columns) {
    const x = `s."${column.name}"`
    if (column.kind.kind === 'list') {
      const lengths = await client.query<[string, string | null]>({ text: `select ${keyText}, case when ${x} is null then null else coalesce(cardinality(${x}), 0)::text end from (${sql}) s`, rowMode: 'array' })
      for (const [k, length] of lengths.rows) cells.set(`${column.name}\t${k}\t#`, length)
      const elements = await client.query<[string, string, string | null]>({ text: `select ${keyText}, u.i::text, ${pgPrint(column.kind.element, 'u.e')} from (${sql}) s, unnest(${x}) with ordinality u (e, i)`, rowMode: 'array' })
      for (const [k, i, value] of elements.rows) cells.set(`${column.name}\t${k}\t${i}`, value)
    } else {
      const values = await client.query<[string, string | null]>({ text: `select ${keyText}, ${pgPrint(column.kind, x)} from (${sql}) s`, rowMode: 'array' })
      for (const [k, value] of values.rows) cells.set(`${column.name}\t${k}`, value)
    }
  }
  return { cells, order }
}

async function duckRows (sql: string): Promise<Array<Array<string | null>>> {
  const reader = await duck.runAndReadAll(sql)
  return reader.getRows().map((row) => row.map((value) => value === null ? null : String(value)))
}

async function duckCells (file: string, columns: readonly Column[], key: readonly string[]): Promise<{ cells: Cells, order: string[] }> {
  const cells: Cells = new Map()
  const from = `read_parquet('${file}')`
  const byName = new Map(columns.map((column) => [column.name, column]))
  const keyText = key.map((name) => `coalesce(${duckPrint(byName.get(name)!.kind, `"${name}"`)}, '')`).join(` || '|' || `)
  const order = (await duckRows(`select ${keyText} from ${from}`)).map(([k]) => k!)
  for (const column of columns) {
    const x = `"${column.name}"`
    if (column.kind.kind === 'list') {
      for (const [k, length] of await duckRows(`select ${keyText}, len(${x})::varchar from ${from}`)) cells.set(`${column.name}\t${k}\t#`, length ?? null)
      const elements = await duckRows(`select k, i::varchar, ${duckPrint(column.kind.element, 'e')} from (select ${keyText} as k, generate_subscripts(${x}, 1) as i, unnest(${x}) as e from ${from})`)
      for (const [k, i, value] of elements) cells.set(`${column.name}\t${k}\t${i}`, value ?? null)
    } else {
      for (const [k, value] of await duckRows(`select ${keyText}, ${duckPrint(column.kind, x)} from ${from}`)) cells.set(`${column.name}\t${k}`, value ?? null)
    }
  }
  return { cells, order }
}

// ---- Arrow, printed in JS as DuckDB prints the same value ----

function pad (n: number, width: number): string {
  return String(n).padStart(width, '0')
}

/** days since 1970-01-01 -> 'YYYY-MM-DD' or 'YYYY-MM-DD (BC)' (proleptic Gregorian, year 0 = 1 BC) */
function civil (days: number): { date: string, bc: string } {
  const z = days + 719468
  const era = Math.floor(z / 146097)
  const doe = z - era * 146097
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365)
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100))
  const mp = Math.floor((5 * doy + 2) / 153)
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1
  const month = mp < 10 ? mp + 3 : mp - 9
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0)
  return { date: `${pad(year > 0 ? year : 1 - year, 4)}-${pad(month, 2)}-${pad(day, 2)}`, bc: year > 0 ? '' : ' (BC)' }
}

function printDays (days: number): string {
  if (days === DATE_MAX) return 'infinity'
  if (days === -DATE_MAX) return '-infinity'
  const { date, bc } = civil(days)
  return date + bc
}

function printMicros (us: bigint, utc: boolean): string {
  if (us === TIMESTAMP_MAX) return 'infinity'
  if (us === -TIMESTAMP_MAX) return '-infinity'
  const day = 86_400_000_000n
  let days = us / day
  let rest = us % day
  if (rest < 0n) { rest += day; days -= 1n }
  const { date, bc } = civil(Number(days))
  const seconds = Number(rest / 1_000_000n)
  const micros = Number(rest % 1_000_000n)
  const fraction = micros === 0 ? '' : `.${pad(micros, 6).replace(/0+$/, '')}`
  return `${date}${bc} ${pad(Math.floor(seconds / 3600), 2)}:${pad(Math.floor(seconds / 60) % 60, 2)}:${pad(seconds % 60, 2)}${fraction}${utc ? '+00' : ''}`
}

function printDecimal (unscaled: bigint, precision: number, scale: number): string {
  const digits = (unscaled < 0n ? -unscaled : unscaled).toString().padStart(scale + 1, '0')
  const whole = digits.slice(0, -scale)
  const text = scale === 0 ? digits : `${precision === scale && whole === '0' ? '' : whole}.${digits.slice(-scale)}`
  return unscaled < 0n ? `-${text}` : text
}

/** Slot `i` of an Arrow column, printed as DuckDB prints that value; lists as DuckDB prints a list. */
function arrowPrint (data: Data, i: number): string | null {
  if (!data.getValid(i)) return null
  const type = data.type
  const at = data.offset + i
  if (A.DataType.isList(type)) return `[${listSlots(data, i).map((j) => arrowPrint(data.children[0]!, j) ?? 'NULL').join(', ')}]`
  if (A.DataType.isBool(type)) return (((data.values as Uint8Array)[at >> 3]! >> (at & 7)) & 1) === 1 ? 'true' : 'false'
  if (A.DataType.isDate(type)) return printDays((data.values as ArrayLike<number>)[at]!)
  if (A.DataType.isTimestamp(type)) return printMicros((data.values as ArrayLike<bigint>)[at]!, type.timezone === 'UTC')
  if (A.DataType.isFloat(type)) {
    const value = (data.values as ArrayLike<number>)[at]!
    return Object.is(value, -0) ? '-0' : String(value)
  }
  if (A.DataType.isInt(type)) return String((data.values as ArrayLike<number | bigint>)[at]!)
  if (A.DataType.isDecimal(type)) {
    const words = data.values as Uint32Array
    let unscaled = 0n
    for (let k = 3; k >= 0; k--) unscaled = (unscaled << 32n) | BigInt(words[at * 4 + k]!)
    return printDecimal(BigInt.asIntN(128, unscaled), type.precision, type.scale)
  }
  const offsets = data.valueOffsets as Int32Array
  const bytes = Buffer.from((data.values as Uint8Array).subarray(offsets[at], offsets[at + 1]))
  return A.DataType.isBinary(type) ? bytes.toString('hex').toUpperCase() : bytes.toString('utf8')
}

function listSlots (data: Data, i: number): number[] {
  const offsets = data.valueOffsets as Int32Array
  const slots: number[] = []
  for (let j = offsets[data.offset + i]!; j < offsets[data.offset + i + 1]!; j++) slots.push(j)
  return slots
}

interface ArrowRead {
  readonly cells: Cells
  readonly order: string[]
  readonly batches: RecordBatch[]
  /** each record batch message's custom metadata, in order */
  readonly batchMetadata: Array<Map<string, string>>
  readonly metadata: Map<string, string>
  readonly types: Map<string, string>
}

function readArrow (bytes: Uint8Array, key: readonly string[]): ArrowRead {
  const cells: Cells = new Map()
  const order: string[] = []
  const reader = A.RecordBatchReader.from(bytes).open()
  const schema = reader.schema
  const batches = [...reader]
  const fields = schema.fields
  for (const batch of batches) {
    const columns = fields.map((_, c) => batch.getChildAt<DataType>(c)!.data[0]!)
    const keyColumns = key.map((name) => columns[fields.findIndex((field) => field.name === name)]!)
    for (let row = 0; row < batch.numRows; row++) {
      const k = rowKey(keyColumns.map((data) => arrowPrint(data, row) ?? ''))
      order.push(k)
      fields.forEach((field, c) => {
        const data = columns[c]!
        if (A.DataType.isList(field.type)) {
          if (!data.getValid(row)) {
            cells.set(`${field.name}\t${k}\t#`, null)
            return
          }
          const slots = listSlots(data, row)
          cells.set(`${field.name}\t${k}\t#`, String(slots.length))
          slots.forEach((j, n) => { cells.set(`${field.name}\t${k}\t${n + 1}`, arrowPrint(data.children[0]!, j)) })
        } else {
          cells.set(`${field.name}\t${k}`, arrowPrint(data, row))
        }
      })
    }
  }
  const batchMetadata: Array<Map<string, string>> = []
  const messages = new A.MessageReader(bytes)
  for (let message = messages.readMessage(); message !== null; message = messages.readMessage()) {
    if (message.isRecordBatch()) batchMetadata.push(message.metadata)
    messages.readMessageBody(message.bodyLength)
  }
  return { cells, order, batches, batchMetadata, metadata: schema.metadata, types: new Map(fields.map((field) => [field.name, String(field.type)])) }
}

function arrowType (kind: Kind): string {
  switch (kind.kind) {
    case 'int': return 'Int32'
    case 'int8': return 'Int64'
    case 'bool': return 'Bool'
    case 'float4': return 'Float32'
    case 'float8': return 'Float64'
    case 'decimal': return `Decimal[${kind.precision}e${kind.scale > 0 ? '+' : ''}${kind.scale}]` // apache-arrow's print
    case 'date': return 'Date32<DAY>'
    case 'timestamp': return 'Timestamp<MICROSECOND>'
    case 'timestamptz': return 'Timestamp<MICROSECOND, UTC>'
    case 'bytes': return 'Binary'
    case 'json': case 'text': return 'Utf8'
    case 'list': return `List<${arrowType(kind.element)}>`
  }
}

// ---- comparing ----

function floatOf (text: string): number {
  return Number(text.replace(/^(-?)inf$/, '$1Infinity').replace(/^-?nan$/, 'NaN'))
}

function kindAt (columns: readonly Column[], key: string): Kind {
  const [name, , part] = key.split('\t')
  const kind = columns.find((column) => column.name === name)!.kind
  return kind.kind === 'list' && part !== undefined ? (part === '#' ? { kind: 'int' } : kind.element) : kind
}

/** Every cell PostgreSQL has is read back the same (floats: the same float), and nothing more. */
function compareCells (t: Test, what: string, columns: readonly Column[], want: Cells, got: Cells): void {
  const wrong: string[] = []
  for (const [key, value] of want) {
    const seen = got.has(key) ? got.get(key)! : '(missing)'
    const kind = kindAt(columns, key)
    let same = seen === value
    if (!same && value !== null && seen !== null && (kind.kind === 'float4' || kind.kind === 'float8')) {
      const round = kind.kind === 'float4' ? Math.fround : (x: number): number => x
      same = Object.is(round(floatOf(value)), round(floatOf(seen)))
    }
    if (!same) wrong.push(`${key.replaceAll('\t', ' @ ')}: expected ${JSON.stringify(value)}, got ${JSON.stringify(seen)}`)
  }
  const extra = [...got.keys()].filter((key) => !want.has(key)).map((key) => `${key.replaceAll('\t', ' @ ')}: not expected, got ${JSON.stringify(got.get(key))}`)
  t.same(wrong.slice(0, 40), [], `${what}: every one of ${want.size} cells as PostgreSQL has it${wrong.length > 40 ? ` (first 40 of ${wrong.length} wrong)` : ''}`)
  t.same(extra.slice(0, 20), [], `${what}: no cell PostgreSQL does not have`)
}

async function saved (body: Buffer, name: string): Promise<string> {
  const file = path.join(dir, `${name.replace(/\W/g, '_')}-${randomBytes(4).toString('hex')}.parquet`)
  await writeFile(file, body)
  return file
}

async function duckTypes (file: string): Promise<Record<string, string>> {
  return Object.fromEntries((await duckRows(`describe select * from read_parquet('${file}')`)).map(([name, type]) => [name!, type!]))
}

/** The Parquet schema's leaves in order, and whether every top-level column is OPTIONAL. */
async function leaves (file: string): Promise<{ names: string[], optional: boolean, lists: boolean }> {
  const rows = await duckRows(`select name, repetition_type, num_children::varchar, converted_type from parquet_schema('${file}')`)
  const names: string[] = []
  let optional = true
  let lists = true
  // walk the tree: root, then each column (a list is a group of a repeated group 'list' of 'element')
  let i = 1
  const walk = (top: boolean): void => {
    const [name, repetition, children, converted] = rows[i++]!
    if (top && repetition !== 'OPTIONAL') optional = false
    if (children === null) {
      names.push(name!)
      return
    }
    if (converted === 'LIST') {
      const [listName, listRepetition, listChildren] = rows[i]!
      if (listName !== 'list' || listRepetition !== 'REPEATED' || listChildren !== '1' || rows[i + 1]![0] !== 'element' || rows[i + 1]![1] !== 'OPTIONAL') lists = false
    }
    for (let c = 0; c < Number(children); c++) walk(false)
  }
  while (i < rows.length) walk(true)
  return { names, optional, lists }
}

/** The schema (awkward values, decimals, numbers, a nap), the reports folder, the DuckDB session. */
async function setUp (): Promise<void> {
  client = await connect()
  dir = await mkdtemp(path.join(tmpdir(), 'sluice-colprint-'))
  duck = await (await duckdb!.DuckDBInstance.create(':memory:')).connect()
  await duck.run("set TimeZone = 'UTC'")
  t.teardown(async () => {
    duck.closeSync()
    await client.query(`drop schema if exists ${schema} cascade`)
    await client.end()
    await rm(dir, { recursive: true, force: true })
  })

  await createAwkwardTable(client, schema)
  const decimalRows = Math.max(...DECIMALS.map(([, , values]) => values.length))
  await client.query(`create table ${schema}.decimals (id int primary key, ${DECIMALS.map(([name, type]) => `${name} ${type}`).join(', ')})`)
  for (let k = 0; k < decimalRows; k++) {
    await client.query(`insert into ${schema}.decimals values ($1, ${DECIMALS.map((_, i) => `$${i + 2}`).join(', ')})`,
      [k, ...DECIMALS.map(([, , values]) => values[k % values.length] ?? null)])
  }
  await client.query(`create table ${schema}.numbers as select g as id from generate_series(1, 6000) g; alter table ${schema}.numbers add primary key (id); analyze ${schema}.numbers`)
  await client.query(`create function ${schema}.nap(id int, at int) returns text language plpgsql stable as $$ begin if id = at then perform pg_sleep(5); end if; return null; end $$`)

  reportsDir = await reportsFolder(t, {
    'awkward.sql': `/*\ntitle: Awkward values\nkey: id\n*/\n${awkwardSql}\n`,
    'awkward_cursor.sql': `/*\ntitle: Awkward values, cursor\nkey: id\nstrategy: cursor\n*/\n${awkwardSql}\n`,
    'decimals.sql': `/*\ntitle: Decimals\nkey: id\n*/\n${decimalsSql}\n`,
    'odd_scales.sql': `/*\ntitle: Scales a Parquet DECIMAL cannot have\nkey: id\n*/\n${oddScalesSql}\n`,
    'range.sql': `/*\ntitle: Many rows\nkey: id\n*/\n${rangeSql}\n`,
    'text_key.sql': `/*\ntitle: A text key\nkey: [k, b]\n*/\n${textKeySql}\n`,
    'text_key_long.sql': `/*\ntitle: A text key, one value long\nkey: [k, b]\n*/\nselect * from (${textKeySql}) s union all select repeat('é', 33), '\\x00'::bytea\n`,
    'nothing.sql': `/*\ntitle: No rows\nkey: [id, at]\n*/\nselect id, now() as at, 1.5::numeric(4,2) as n, array[1] as a from ${schema}.numbers where id < 0\n`,
    'slow_late.sql': `/*\ntitle: A slow page after the first\nkey: id\n*/\nselect id, ${schema}.nap(id, 4000) as nap from ${schema}.numbers\n`,
    'slow_late_cursor.sql': `/*\ntitle: A slow fetch after the first\nkey: id\nstrategy: cursor\n*/\nselect id, ${schema}.nap(id, 4000) as nap from ${schema}.numbers\n`
  })
}

// ---- the tests ----

if (missing.length > 0) {
  t.plan(0, `skipped: ${missing.join(' and ')} not installed (npm install: both are dev dependencies)`)
} else {
  A = arrow!
  await setUp()
  for (const report of ['awkward', 'awkward_cursor']) {
    t.test(`${report}: DuckDB and Arrow print every value as PostgreSQL has it`, async (t) => {
      const { app } = await buildTestApp(t, { reportsDir })
      const columns = await describe(awkwardSql)
      const want = await pgCells(awkwardSql, columns, ['id'])

      const parquet = await app.inject(`/reports/${report}.parquet`)
      t.equal(parquet.statusCode, 200)
      const file = await saved(parquet.rawPayload, report)
      const read = await duckCells(file, columns, ['id'])
      compareCells(t, `${report}.parquet`, columns, want.cells, read.cells)
      t.same(read.order, want.order, 'Parquet: rows in key order')
      const types = await duckTypes(file)
      const wrongTypes = columns.filter((column) => duckType(column.kind) !== types[column.name]).map((column) => `${column.name}: ${duckType(column.kind)}, DuckDB reads ${types[column.name]}`)
      t.same(wrongTypes, [], 'DuckDB reads every column as the spec\'s type')
      const shape = await leaves(file)
      t.ok(shape.optional, 'every top-level column is OPTIONAL')
      t.ok(shape.lists, 'every list is 3-level: <name> (LIST) { repeated group list { optional element } }')
      t.same(await duckRows(`select name, logical_type from parquet_schema('${file}') where name in ('ts', 'tstz') order by name`), [
        ['ts', 'TimestampType(isAdjustedToUTC=0, unit=TimeUnit(MILLIS=<null>, MICROS=MicroSeconds(), NANOS=<null>))'],
        ['tstz', 'TimestampType(isAdjustedToUTC=1, unit=TimeUnit(MILLIS=<null>, MICROS=MicroSeconds(), NANOS=<null>))']
      ], 'timestamps are MICROS, timestamptz adjusted to UTC')

      // the footer itself: one row group here; its sorting columns; its statistics' raw values
      const footer = readFooter(parquet.rawPayload)
      t.equal(footer.rows, BigInt(want.order.length), 'FileMetaData.num_rows')
      t.same(footer.rowGroups.map((group) => group.sorting), footer.rowGroups.map(() => [{ column: shape.names.indexOf('id'), descending: false, nullsFirst: footer.rowGroups[0]!.sorting?.[0]?.nullsFirst ?? false }]), 'each row group is sorted by the key, ascending')
      const stored: Record<string, [string, number]> = {
        i2: ['{}::int8', 4], i4: ['{}::int8', 4], i8: ['{}', 8], n102: ["case when {} = 'NaN' then null else ({} * 100)::int8 end", 8],
        d: [`case when {} = 'infinity' then ${DATE_MAX} when {} = '-infinity' then -${DATE_MAX} else {} - date '1970-01-01' end`, 4],
        ts: [`case when {} = 'infinity' then ${TIMESTAMP_MAX} when {} = '-infinity' then -${TIMESTAMP_MAX} else (extract(epoch from {}) * 1000000)::int8 end`, 8],
        tstz: [`case when {} = 'infinity' then ${TIMESTAMP_MAX} when {} = '-infinity' then -${TIMESTAMP_MAX} else (extract(epoch from {}) * 1000000)::int8 end`, 8]
      }
      const group = footer.rowGroups[0]!
      for (const [name, [expression, width]] of Object.entries(stored)) {
        const stats = group.columns.find((column) => column.path === name)
        const { rows: [expect] } = await client.query<{ min: string | null, max: string | null, nulls: string }>(
          `select min(v)::text as min, max(v)::text as max, count(*) filter (where v is null)::text as nulls from (select ${expression.replaceAll('{}', `s.${name}`)} as v from (${awkwardSql}) s) q`)
        if (stats?.nullCount !== undefined) t.equal(stats.nullCount, BigInt(expect!.nulls), `${name}: statistics' null_count`)
        if (stats?.min === undefined || stats.max === undefined) {
          t.comment(`${name}: no min/max statistics`)
          continue
        }
        const raw = (buffer: Buffer): string => String(width === 4 ? buffer.readInt32LE(0) : buffer.readBigInt64LE(0))
        t.same([raw(stats.min), raw(stats.max)], [expect!.min, expect!.max], `${name}: statistics' min and max are the stored values (infinity as the type's largest)`)
      }
      // byte arrays outside the key: no bounds (they take a comparison per value and skip little
      // where the rows are not sorted by them)
      for (const name of ['t', 'vc', 'j', 'by']) {
        const stats = group.columns.find((column) => column.path === name)
        t.same([stats?.min, stats?.max], [undefined, undefined], `${name}: no min and max outside the key`)
      }
      t.same(await duckRows(`select count(*)::varchar from read_parquet('${file}') where d > date '2000-01-01'`), [[(await client.query<{ count: string }>(`select count(*) from (${awkwardSql}) s where d > date '2000-01-01'`)).rows[0]!.count]], 'a filter on a date column that the statistics may skip by counts what PostgreSQL counts')
      t.equal(footer.keyValues.get('sluice.report'), report, 'sluice.report in the footer')

      const stream = await app.inject(`/reports/${report}.arrow`)
      t.equal(stream.statusCode, 200)
      t.equal(stream.rawPayload.subarray(-8).toString('hex'), END_OF_STREAM, 'the stream ends with its end-of-stream marker')
      const readBack = readArrow(stream.rawPayload, ['id'])
      compareCells(t, `${report}.arrow`, columns, want.cells, readBack.cells)
      t.same(readBack.order, want.order, 'Arrow: rows in key order')
      const wrongArrow = columns.filter((column) => readBack.types.get(column.name) !== arrowType(column.kind)).map((column) => `${column.name}: ${arrowType(column.kind)}, read ${readBack.types.get(column.name)}`)
      t.same(wrongArrow, [], 'Arrow\'s reader sees every column as the spec\'s type')
    })
  }

  t.test('a key of text and bytea: its least and greatest bytes bound each row group; none past 64 bytes', async (t) => {
    const { app } = await buildTestApp(t, { reportsDir })
    const body = (await app.inject('/reports/text_key.parquet')).rawPayload
    const stats = (name: string): string[] | undefined => {
      const column = readFooter(body).rowGroups[0]!.columns.find((c) => c.path === name)
      return column?.min === undefined || column.max === undefined ? undefined : [column.min.toString('hex'), column.max.toString('hex')]
    }
    t.same(stats('k'), ['', Buffer.from('é').toString('hex')], 'text: the empty string is least, é (c3 a9) greatest')
    t.same(stats('b'), ['5aff', 'ff'], 'bytea (each value followed by ff): Z ff least, ff alone greatest, unsigned')
    const file = await saved(body, 'text_key')
    t.same(await duckRows(`select k from read_parquet('${file}') where k > 'z' order by k`), [['zz'], ['é']], 'DuckDB filters by it as bytes compare')
    t.same(await duckRows(`select stats_min_value, stats_max_value from parquet_metadata('${file}') where path_in_schema = 'k'`), [['', 'é']], 'DuckDB reads the bounds')
    const long = readFooter((await app.inject('/reports/text_key_long.parquet')).rawPayload).rowGroups[0]!.columns.find((c) => c.path === 'k')
    t.same([long?.min, long?.max], [undefined, undefined], 'a greatest value of 66 bytes: no bounds, the footer stays small')
  })

  t.test('decimals of every storage width, NaN as null, and numerics a DECIMAL cannot be', async (t) => {
    const { app } = await buildTestApp(t, { reportsDir })
    const columns = await describe(decimalsSql)
    const want = await pgCells(decimalsSql, columns, ['id'])
    const parquet = await app.inject('/reports/decimals.parquet')
    const file = await saved(parquet.rawPayload, 'decimals')
    compareCells(t, 'decimals.parquet', columns, want.cells, (await duckCells(file, columns, ['id'])).cells)
    t.match(await duckTypes(file), { d4: 'DECIMAL(4,0)', d9: 'DECIMAL(9,4)', d55: 'DECIMAL(5,5)', d18: 'DECIMAL(18,6)', d19: 'DECIMAL(19,0)', d38: 'DECIMAL(38,12)', d38i: 'DECIMAL(38,0)', dl: 'DECIMAL(20,4)[]' })
    t.same(await duckRows(`select name, type, type_length::varchar from parquet_schema('${file}') where name like 'd%' or name = 'element' order by name`), [
      ['d18', 'INT64', null], ['d19', 'FIXED_LEN_BYTE_ARRAY', '16'], ['d38', 'FIXED_LEN_BYTE_ARRAY', '16'], ['d38i', 'FIXED_LEN_BYTE_ARRAY', '16'],
      ['d4', 'INT32', null], ['d55', 'INT32', null], ['d9', 'INT32', null], ['dl', null, null], ['element', 'FIXED_LEN_BYTE_ARRAY', '16']
    ].map(([name, type, length]) => [name, type, length ?? null]), 'INT32 up to 9 digits, INT64 up to 18, 16 bytes past that')
    const arrowRead = readArrow((await app.inject('/reports/decimals.arrow')).rawPayload, ['id'])
    compareCells(t, 'decimals.arrow', columns, want.cells, arrowRead.cells)
    t.match(Object.fromEntries(arrowRead.types), { d4: 'Decimal[4e0]', d9: 'Decimal[9e+4]', d38i: 'Decimal[38e0]', dl: 'List<Decimal[20e+4]>' })

    // PostgreSQL allows numeric(3,-2) and numeric(2,4); a Parquet DECIMAL needs 0 <= scale <= precision:
    // whatever the type, the values read back are PostgreSQL's (NaN: as text in a string column, else null)
    const odd = await app.inject('/reports/odd_scales.parquet')
    t.equal(odd.statusCode, 200, 'odd scales: served')
    const oddFile = await saved(odd.rawPayload, 'odd')
    const oddTypes = await duckTypes(oddFile).catch((): Record<string, string> => ({}))
    const read = await duckRows(`select neg::varchar, over::varchar, nan::varchar from read_parquet('${oddFile}')`).catch((error: unknown) => [[`DuckDB cannot read it: ${(error as Error).message}`]])
    t.comment(`odd scales: DuckDB reads ${JSON.stringify(oddTypes)}`)
    t.same(read, [['12300', '0.0012', oddTypes.nan === 'VARCHAR' ? 'NaN' : null]], 'odd scales: 12300 and 0.0012 read back as they are')
    const oddArrow = await app.inject('/reports/odd_scales.arrow')
    const oddCells = readArrow(oddArrow.rawPayload, ['id']).cells
    t.same([oddCells.get('neg\t1'), oddCells.get('over\t1')], ['12300', '0.0012'], 'odd scales: the same in Arrow')
  })

  t.test('the demo reports: every value, in key order, typed, keyed', async (t) => {
    const { app } = await buildTestApp(t)
    const listed = (await app.inject('/reports')).json<{ reports: Array<{ name: string, key: string[] }> }>()
    t.same(listed.reports.map((r) => r.name).sort(), demo.map(([url]) => url.replace(/\?.*/, '')).sort(), 'every demo report is here')
    for (const [url, sql, key] of demo) {
      const name = url.replace(/\?.*/, '')
      const columns = await describe(sql)
      const want = await pgCells(sql, columns, key)
      const [pathPart, query = ''] = url.split('?')
      const parquet = await app.inject(`/reports/${pathPart}.parquet${query === '' ? '' : `?${query}`}`)
      t.equal(parquet.statusCode, 200, `${name}.parquet`)
      const file = await saved(parquet.rawPayload, name)
      const read = await duckCells(file, columns, key)
      compareCells(t, `${name}.parquet`, columns, want.cells, read.cells)
      t.same(read.order, want.order, `${name}.parquet: rows in key order`)
      const types = await duckTypes(file)
      t.same(columns.filter((column) => duckType(column.kind) !== types[column.name]).map((column) => `${column.name}: want ${duckType(column.kind)}, read ${types[column.name]}`), [], `${name}.parquet: DuckDB reads the spec's types`)
      const footer = readFooter(parquet.rawPayload)
      const { names } = await leaves(file)
      t.ok(footer.rowGroups.length > 0 && footer.rowGroups.every((group) => JSON.stringify(group.sorting?.map((s) => [s.column, s.descending])) === JSON.stringify(key.map((k) => [names.indexOf(k), false]))), `${name}.parquet: every row group sorted by ${key.join(', ')}`)
      t.equal(footer.keyValues.get('sluice.key'), JSON.stringify(key), `${name}.parquet: sluice.key`)

      const stream = readArrow((await app.inject(`/reports/${pathPart}.arrow${query === '' ? '' : `?${query}`}`)).rawPayload, key)
      compareCells(t, `${name}.arrow`, columns, want.cells, stream.cells)
      t.same(stream.order, want.order, `${name}.arrow: rows in key order`)
      t.same(columns.filter((column) => stream.types.get(column.name) !== arrowType(column.kind)).map((column) => `${column.name}: want ${arrowType(column.kind)}, read ${stream.types.get(column.name)}`), [], `${name}.arrow: the spec's types`)
      t.equal(stream.metadata.get('sluice.report'), name, `${name}.arrow: sluice.report`)
      t.equal(stream.metadata.get('sluice.key'), JSON.stringify(key), `${name}.arrow: sluice.key`)
    }
  })

  t.test('a composite key: sluice.after resumes where JSON\'s next does, and the pages are the NDJSON\'s', async (t) => {
    const { app } = await buildTestApp(t)
    const base = '/reports/orders_by_status'
    const rowsOf = (body: string): string[] => body.split('\n').filter((line) => line !== '').map((line) => { const row = JSON.parse(line) as { id: number, created_at: string }; return `${row.created_at}|${row.id}` })
    let after: string | undefined
    for (let page = 0; page < 3; page++) {
      const query = `status=paid&limit=700${after === undefined ? '' : `&after=${encodeURIComponent(after)}`}`
      const ndjson = rowsOf((await app.inject(`${base}.ndjson?${query}`)).body)
      const json = (await app.inject(`${base}.json?${query}`)).json<{ next: string | null }>()
      const parquet = await app.inject(`${base}.parquet?${query}`)
      const file = await saved(parquet.rawPayload, 'obs')
      const ids = (await duckRows(`select id::varchar from read_parquet('${file}')`)).map(([id]) => id)
      t.same(ids, ndjson.map((row) => row.slice(row.lastIndexOf('|') + 1)), `page ${page}: Parquet's rows are the NDJSON's`)
      const arrowIds = readArrow((await app.inject(`${base}.arrow?${query}`)).rawPayload, ['id']).order
      t.same(arrowIds, ndjson.map((row) => row.slice(row.lastIndexOf('|') + 1)), `page ${page}: Arrow's rows are the NDJSON's`)
      const kv = readFooter(parquet.rawPayload).keyValues
      const nextAfter = json.next === null ? null : new URL(json.next, 'http://x').searchParams.get('after')
      t.equal(kv.get('sluice.after'), nextAfter, `page ${page}: sluice.after is the after of JSON's next (${nextAfter})`)
      t.ok(kv.get('sluice.next')?.includes(encodeURIComponent(nextAfter!).replace(/%20/g, '+')) === true || kv.get('sluice.next')?.includes(encodeURIComponent(nextAfter!)) === true, `page ${page}: sluice.next carries it (${kv.get('sluice.next')})`)
      t.same(JSON.parse(kv.get('sluice.after')!), JSON.parse(`[${JSON.stringify(ndjson.at(-1)!.split('|')[0])},${ndjson.at(-1)!.split('|')[1]}]`), `page ${page}: it is the last row's key as a JSON array`)
      after = kv.get('sluice.after')
    }
  })

  t.test('each record batch carries the after that resumes after its last row', async (t) => {
    const { app } = await buildTestApp(t, { reportsDir })
    const read = readArrow((await app.inject('/reports/range.arrow')).rawPayload, ['id'])
    t.ok(read.batches.length > 1, `several record batches (${read.batches.length})`)
    t.equal(read.batchMetadata.length, read.batches.length, 'one record batch message per batch')
    let seen = 0
    const wrong: string[] = []
    read.batches.forEach((batch, b) => {
      seen += batch.numRows
      if (batch.numRows === 0) wrong.push(`batch ${b} is empty`)
      if (read.batchMetadata[b]!.get('sluice.after') !== read.order[seen - 1]) wrong.push(`batch ${b}: sluice.after ${read.batchMetadata[b]!.get('sluice.after')}, its last row ${read.order[seen - 1]}`)
    })
    t.same(wrong, [], 'every batch: sluice.after is its last row\'s key')
    t.equal(seen, 60000)
    const resumed = readArrow((await app.inject(`/reports/range.arrow?after=${read.batchMetadata[0]!.get('sluice.after')!}&limit=3`)).rawPayload, ['id']).order
    t.same(resumed, read.order.slice(read.batches[0]!.numRows, read.batches[0]!.numRows + 3), 'resuming with the first batch\'s after gives the rows after it')

    const gzipped = await app.inject({ url: '/reports/range.arrow?limit=20000', headers: { 'accept-encoding': 'gzip' } })
    t.equal(gzipped.headers['content-encoding'], 'gzip')
    t.same(readArrow(gunzipSync(gzipped.rawPayload), ['id']).order, read.order.slice(0, 20000), 'gzip: the stream reads back whole once inflated')

    const parquet = readFooter((await app.inject('/reports/range.parquet')).rawPayload)
    t.ok(parquet.rowGroups.length > 1 && parquet.rowGroups.every((group) => group.rows > 0n), `several row groups, none empty (${parquet.rowGroups.map((g) => g.rows).join(', ')})`)
    t.equal(parquet.rowGroups.reduce((sum, group) => sum + group.rows, 0n), 60000n)
    t.equal(parquet.keyValues.get('sluice.next'), undefined, 'no sluice.next when no limit cut it')
  })

  t.test('a report with no rows: a whole file with the schema and no row group, a stream with no batch', async (t) => {
    const { app } = await buildTestApp(t, { reportsDir })
    for (const url of ['/reports/nothing', '/reports/range?after=60000', '/reports/range?limit=5&after=60000']) {
      const [pathPart, query] = url.split('?')
      const parquet = await app.inject(`${pathPart}.parquet${query === undefined ? '' : `?${query}`}`)
      t.equal(parquet.statusCode, 200, `${url}.parquet`)
      const footer = readFooter(parquet.rawPayload)
      t.equal(footer.rows, 0n, `${url}.parquet: no rows`)
      t.equal(footer.rowGroups.length, 0, `${url}.parquet: no row group`)
      t.equal(footer.keyValues.get('sluice.after'), undefined, `${url}.parquet: no sluice.after`)
      t.equal(footer.keyValues.get('sluice.next'), undefined, `${url}.parquet: no sluice.next`)
      const file = await saved(parquet.rawPayload, 'nothing')
      t.same(await duckRows(`select count(*)::varchar from read_parquet('${file}')`), [['0']], `${url}.parquet: DuckDB reads it, empty`)
      if (pathPart === '/reports/nothing') {
        t.same(await duckTypes(file), { id: 'INTEGER', at: 'TIMESTAMP WITH TIME ZONE', n: 'DECIMAL(4,2)', a: 'INTEGER[]' }, 'the columns are typed all the same')
        t.equal(footer.keyValues.get('sluice.key'), '["id","at"]')
      }
      const stream = await app.inject(`${pathPart}.arrow${query === undefined ? '' : `?${query}`}`)
      t.equal(stream.rawPayload.subarray(-8).toString('hex'), END_OF_STREAM, `${url}.arrow: ends with the end-of-stream marker`)
      const read = readArrow(stream.rawPayload, ['id'])
      t.equal(read.batchMetadata.length, 0, `${url}.arrow: no record batch message`)
      t.equal(read.order.length, 0, `${url}.arrow: no rows`)
      t.same([...read.types.keys()], pathPart === '/reports/nothing' ? ['id', 'at', 'n', 'a'] : ['id', 'label'], `${url}.arrow: the schema's fields`)
      t.equal(read.metadata.get('sluice.report'), pathPart!.slice('/reports/'.length), `${url}.arrow: the schema with its metadata`)
    }
  })

  t.test('a statement timeout after the first batch cuts the download: no footer, no end of stream, the start intact', async (t) => {
    const { url, logs } = await listenTestApp(t, { reportsDir, statementTimeoutMs: 400 })
    for (const report of ['slow_late', 'slow_late_cursor']) {
      for (const ext of ['parquet', 'arrow']) {
        const reqId = requestId()
        const res = await get(`${url}/reports/${report}.${ext}`, { headers: { 'x-request-id': reqId } })
        const ended = await streamEnded(logs, reqId, 10_000)
        t.equal(res.status, 200, `${report}.${ext}: the first batch went out`)
        t.not(ended.outcome, 'complete', `${report}.${ext}: logged as ${String(ended.outcome)} (${JSON.stringify(ended.reason ?? ended.err ?? null)})`)
        t.equal(res.complete, false, `${report}.${ext}: no final chunk`)
        if (ext === 'parquet') {
          t.equal(res.body.subarray(0, 4).toString('latin1'), 'PAR1', `${report}: a Parquet file's start`)
          t.not(res.body.subarray(-4).toString('latin1'), 'PAR1', `${report}: no footer`)
          t.throws(() => readFooter(res.body), `${report}: no footer to read`)
          const file = await saved(res.body, report)
          await t.rejects(duck.runAndReadAll(`select count(*) from read_parquet('${file}')`), `${report}: DuckDB refuses it`)
        } else {
          t.not(res.body.subarray(-8).toString('hex'), END_OF_STREAM, `${report}: no end-of-stream marker`)
          // the batches that arrived whole are the report's first rows
          const ids: string[] = []
          try {
            for (const batch of A.RecordBatchReader.from(res.body)) {
              const data = batch.getChildAt<DataType>(0)!.data[0]!
              for (let row = 0; row < batch.numRows; row++) ids.push(arrowPrint(data, row)!)
            }
          } catch { /* the cut batch */ }
          t.ok(ids.length > 0 && ids.length < 4000, `${report}: ${ids.length} rows arrived in whole batches`)
          t.same(ids, Array.from({ length: ids.length }, (_, i) => String(i + 1)), `${report}: they are the report's first rows`)
        }
      }
    }
  })
}
