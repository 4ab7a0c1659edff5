// The encoders against PostgreSQL itself: NDJSON rows against `row_to_json`, CSV against the
// bytes of `COPY ... (FORMAT csv)`, over a table of awkward values of many types.
import { randomBytes } from 'node:crypto'
import t from 'tap'
import { copyOut } from '../harness/copy.js'
import { resolveColumns } from '../src/db/types.js'
import { createEncoder, type FormatName } from '../src/formats/index.js'
import type { Column, CsvOptions } from '../src/formats/types.js'
import { createAwkwardTable } from './helpers/awkward.js'
import { encodeAll, type TextRow } from './helpers/datarow.js'
import { parseExact } from './helpers/exact.js'
import { connect } from './helpers/db.js'

const client = await connect()
const schema = `fmt_${randomBytes(6).toString('hex')}`
t.teardown(async () => {
  await client.query(`drop schema if exists ${schema} cascade`)
  await client.end()
})

const cases = await createAwkwardTable(client, schema)

// Awkward names too: COPY's header quotes them, NDJSON keys escape them.
const query = `
  select id as "row id, ""quoted""", t as "😀 text", vc as "line
break", ${cases.slice(2).map(([name]) => name).join(', ')}
  from ${schema}.awkward order by id`

const { rows, columns } = await fetch(query)

t.test('the columns are resolved as row_to_json sees them', async t => {
  const byName = new Map(columns.map(column => [column.name, column]))
  // a domain column is described as its base type; only arrays of domains reach resolveColumns
  t.strictSame(byName.get('amts')?.json, { kind: 'array', element: { kind: 'number' }, delimiter: ',' })
  t.strictSame(byName.get('bx')?.json, { kind: 'array', element: { kind: 'string' }, delimiter: ';' })
  t.strictSame(byName.get('intss')?.json, {
    kind: 'array', delimiter: ',', element: { kind: 'array', delimiter: ',', element: { kind: 'number' } }
  })
  t.strictSame(byName.get('moods')?.json, { kind: 'array', element: { kind: 'string' }, delimiter: ',' })
  t.strictSame(byName.get('vec')?.json, { kind: 'array', element: { kind: 'number' }, delimiter: ',' })
  t.equal(byName.get('ch')?.type, 'character(5)')
  t.equal(byName.get('n102')?.type, 'numeric(10,2)')
  t.equal(byName.get('amts')?.type, `${schema}.amount[]`)
  t.equal(byName.get('ia')?.castType, 'integer[]')
})

t.test('castType turns a value\'s text back into the same value', async t => {
  const row = rows[1]!
  for (const name of ['ch', 'num', 'n102', 'f8', 'i8', 'd', 'ts', 'tstz', 'mood', 'amt', 'ia', 'bits', 'u', 'iv']) {
    const i = columns.findIndex(column => column.name === name)
    const column = columns[i]!
    const { rows: [same] } = await client.query<{ same: boolean }>(
      `select $1::${column.castType} is not distinct from ${name} as same from ${schema}.awkward where id = 1`,
      [row[i]]
    )
    t.equal(same?.same, true, `${name} as ${column.castType}`)
  }
})

t.test('NDJSON rows parse to what row_to_json gives', async t => {
  const out = encode('ndjson', columns, [rows])
  t.notOk(out.includes('\r'), 'no raw CR anywhere')
  const lines = out.split('\n')
  t.equal(lines.pop(), '', 'ends with a line break')
  t.equal(lines.length, rows.length, 'one line per row')
  const expected = await oracle(query)
  t.equal(expected.length, rows.length)
  for (const [i, line] of lines.entries()) {
    t.doesNotThrow(() => { JSON.parse(line) }, `row ${i} is JSON`)
    t.strictSame(parseExact(line), parseExact(expected[i]!), `row ${i}`)
  }
})

t.test('the comparison keeps every digit', async t => {
  const a = '{"n":123456789012345678901234567890.5}'
  const b = '{"n":123456789012345678901234567891.5}'
  t.strictSame(JSON.parse(a), JSON.parse(b), 'JSON.parse cannot tell them apart')
  t.notSame(parseExact(a), parseExact(b))
  t.notSame(parseExact('{"a":1,"b":2}'), parseExact('{"b":2,"a":1}'), 'key order counts')
  t.notSame(parseExact('{"a":"1"}'), parseExact('{"a":1}'), 'a quoted number is not a number')
})

t.test('timestamps in other session zones match row_to_json', async t => {
  const zoned = `select id, ts, tstz, tsa, tsna, d from ${schema}.awkward order by id`
  for (const zone of ['Asia/Kathmandu', 'America/St_Johns', 'America/New_York', 'Europe/Amsterdam']) {
    await client.query(`set timezone = '${zone}'`)
    const { rows, columns } = await fetch(zoned)
    const expected = await oracle(zoned)
    const lines = encode('ndjson', columns, [rows]).split('\n').slice(0, -1)
    t.strictSame(lines.map(parseExact), expected.map(parseExact), zone)
  }
  await client.query("set timezone = 'UTC'")
})

t.test('CSV is what COPY writes', async t => {
  for (const [delimiter, sql] of [[',', "','"], [';', "';'"], ['|', "'|'"], ['\t', "E'\\t'"]] as const) {
    for (const header of [true, false]) {
      const copied = await copyOut(client, `copy (${query}) to stdout with (format csv${header ? ', header' : ''}, delimiter ${sql})`)
      for (const bom of [false, true]) {
        const out = Buffer.from(encode('csv', columns, [rows], { header, bom, delimiter }))
        const expected = bom ? Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), copied]) : copied
        t.strictSame(out, expected, `delimiter ${JSON.stringify(delimiter)}, header ${header}, bom ${bom}`)
      }
    }
  }
})

t.test('a single CSV column quotes \\. and the empty string', async t => {
  for (const sql of [
    "select x from (values (1, '\\.'), (2, ''), (3, null), (4, 'a,b'), (5, '\"'), (6, '\\.x')) v (n, x) order by n",
    'select 1 as "\\."',
    'select \'\' as "a,b", \'\\.\' as "\\."'
  ]) {
    const { rows, columns } = await fetch(sql)
    const out = encode('csv', columns, [rows], { header: true, bom: false, delimiter: ',' })
    t.equal(out, (await copyOut(client, `copy (${sql}) to stdout with (format csv, header)`)).toString(), sql)
  }
})

t.test('the JSON format wraps the NDJSON rows', async t => {
  const ndjson = encode('ndjson', columns, [rows]).split('\n').slice(0, -1).map(parseExact)
  const batches = [rows.slice(0, 3), [], rows.slice(3)]
  t.strictSame(parseExact(encode('json', columns, batches, undefined, 'x')), {
    entries: [['rows', ndjson], ['next', 'x']]
  })
  t.strictSame((JSON.parse(encode('json', columns, batches, undefined, null)) as { next: unknown }).next, null)
  t.strictSame(JSON.parse(encode('json', columns, [], undefined, null)), { rows: [], next: null })
  t.strictSame(JSON.parse(encode('json', columns, [[]], undefined, 'a "quoted" link')), { rows: [], next: 'a "quoted" link' })
})

t.test('rows split across batches encode to the same text', async t => {
  const batches = [rows.slice(0, 1), rows.slice(1, 3), [], rows.slice(3, 4), rows.slice(4)]
  for (const format of ['ndjson', 'csv', 'json'] as const) {
    t.equal(encode(format, columns, batches, undefined, null), encode(format, columns, [rows], undefined, null), format)
  }
})

t.test('types row_to_json writes differently are refused', async t => {
  await client.query(`
    create type ${schema}.pair as (a int, b text);
    create type ${schema}.tagged as enum ('x');
    create function ${schema}.tagged_json(${schema}.tagged) returns json
      language sql immutable as $$ select json_build_object('tag', $1::text) $$;
    create cast (${schema}.tagged as json) with function ${schema}.tagged_json(${schema}.tagged)
  `)
  const [cast] = await oracle(`select 'x'::${schema}.tagged as tg`)
  t.strictSame(JSON.parse(cast!), { tg: { tag: 'x' } }, 'row_to_json uses the cast')
  for (const [sql, message] of [
    [`select (1, 'a')::${schema}.pair as p`, /"p".*composite/],
    [`select array[(1, 'a')::${schema}.pair] as ps`, /"ps".*composite/],
    ['select row(1, 2) as r', /"r".*composite/],
    [`select 'x'::${schema}.tagged as tg`, /"tg".*cast to json/]
  ] as const) {
    const { fields } = await client.query({ text: sql, rowMode: 'array' })
    await t.rejects(resolveColumns(client, fields), message, sql)
  }
})

async function fetch (sql: string): Promise<{ rows: TextRow[], columns: Column[] }> {
  const result = await client.query<Array<string | null>>({ text: sql, rowMode: 'array', types: { getTypeParser: () => (value: string) => value } })
  return { rows: result.rows, columns: await resolveColumns(client, result.fields) }
}

async function oracle (sql: string): Promise<string[]> {
  const result = await client.query<[string]>({
    text: `select row_to_json(oracle_row)::text from (${sql}) oracle_row`,
    rowMode: 'array',
    types: { getTypeParser: () => (value: string) => value }
  })
  return result.rows.map(([json]) => json)
}

function encode (
  format: FormatName,
  columns: ReadonlyArray<Column>,
  batches: ReadonlyArray<ReadonlyArray<TextRow>>,
  csv: CsvOptions = { header: true, bom: false, delimiter: ',' },
  next: string | null = null
): string {
  return encodeAll(createEncoder(format, columns, csv), batches.flat(), next).toString()
}
