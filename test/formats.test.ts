// The encoders against PostgreSQL itself: NDJSON rows against `row_to_json`, CSV against the
// bytes of `COPY ... (FORMAT csv)`, over a table of awkward values of many types.
import { randomBytes } from 'node:crypto'
import t from 'tap'
import { resolveColumns } from '../src/db/types.js'
import { createEncoder } from '../src/formats/index.js'
import type { Column, CsvOptions, FormatName, Row } from '../src/formats/types.js'
import { copyOut } from './helpers/copy.js'
import { connect } from './helpers/db.js'

const client = await connect()
const schema = `fmt_${randomBytes(6).toString('hex')}`
t.teardown(async () => {
  await client.query(`drop schema if exists ${schema} cascade`)
  await client.end()
})

// Values are the types' input text, sent as parameters; row k takes value k modulo the count,
// and row 0 is all NULL.
const cases: ReadonlyArray<readonly [name: string, type: string, values: ReadonlyArray<string | null>]> = [
  ['t', 'text', [
    null, '', 'plain', 'say "hi"', 'a,b;c|d\te', 'line\nbreak', 'cr\ronly', 'crlf\r\nend', 'back\\slash',
    '\\.', '😀👍🏽 emoji', 'sep\u2028par\u2029', 'ctl\x01\x1f', 'NULL', ' lead', '""', '\\N'
  ]],
  ['vc', 'varchar(10)', [null, 'short', 'x,y']],
  ['ch', 'char(5)', [null, 'ab', '']],
  ['num', 'numeric', [
    null, '123456789012345678901234567890.123456789012', '-0.000000000000000000000000000001', 'NaN',
    'Infinity', '-Infinity', '0', '-0', '1e-20', '98765432109876543210987654321098765', '1.50'
  ]],
  ['n102', 'numeric(10,2)', [null, '12345678.91', '-0.5']],
  ['f8', 'float8', [
    null, 'NaN', 'Infinity', '-Infinity', '-0', '1e-300', '5e-324', '1.7976931348623157e308', '0.1',
    '123456789012345.6', '-1.5e+300'
  ]],
  ['f4', 'float4', [null, 'NaN', 'Infinity', '-Infinity', '-0', '1e-45', '3.4028235e38', '0.1']],
  ['i2', 'int2', [null, '-32768', '32767', '0']],
  ['i4', 'int4', [null, '-2147483648', '2147483647']],
  ['i8', 'int8', [null, '-9223372036854775808', '9223372036854775807', '9007199254740993']],
  ['b', 'bool', [null, 't', 'f']],
  ['d', 'date', [null, '2026-01-02', 'infinity', '-infinity', '0044-03-15 BC', '12345-06-07']],
  ['ts', 'timestamp', [
    null, '2026-01-02 03:04:05.123456', 'infinity', '-infinity', '0044-03-15 12:00:00 BC',
    '2026-01-02 03:04:05', '12345-06-07 08:09:10.5'
  ]],
  // entered in the session's zone (Asia/Kathmandu while inserting), read in UTC
  ['tstz', 'timestamptz', [
    null, '2026-01-02 03:04:05.123456', '2026-01-02 03:04:05+05:45', 'infinity', '-infinity',
    '0044-03-15 12:00:00+00 BC', '1800-01-01 00:00:00+00', '2026-07-01 12:00:00.000001-03:30'
  ]],
  ['tm', 'time', [null, '03:04:05.123456', '24:00:00']],
  ['tmtz', 'timetz', [null, '03:04:05+05:45', '12:00:00-03:30']],
  ['iv', 'interval', [null, '1 year 2 mons 3 days 04:05:06.789', '-1 days +02:00:00', '0']],
  ['by', 'bytea', [null, '\\x00ff80', '\\x', 'abc\\000']],
  ['u', 'uuid', [null, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11']],
  ['j', 'json', [
    null,
    '{\r\n  "a": [1,\n 2],\n  "s": "line\\nbreak \\"q\\" \\u2028",\n  "n": 123456789012345678901234567890.5\n}',
    'null', '"just a string"', '[]', '  {"dup": 1, "dup": 2}\n'
  ]],
  ['jb', 'jsonb', [
    null,
    '{"nested": {"s": "say \\"hi\\"\\nnext line", "arr": [1, "x,y", null]}, "big": 123456789012345678901234567890.123}',
    'null', '"\\u00e9"', '{}'
  ]],
  ['ta', 'text[]', [
    null, '{}', pgArray([null, '', 'a,b', 'q"uote', '{br}', 'back\\slash', 'NULL', 'sp ace', 'nl\nx', '\\.']),
    '{{a,b},{c,NULL}}'
  ]],
  ['ia', 'int[]', [
    null, '{1,NULL,3}', '{{1,2},{3,4}}', '[0:1]={1,2}', '{}', '[0:1][-1:0]={{1,2},{3,4}}', '{{{1}},{{2}}}'
  ]],
  ['tsa', 'timestamptz[]', [null, pgArray(['2026-01-02 03:04:05.123456+00', 'infinity', null, '0044-03-15 12:00:00+00 BC'])]],
  ['tsna', 'timestamp[]', [null, pgArray(['2026-01-02 03:04:05.5', '-infinity'])]],
  ['da', 'date[]', [null, '{2026-01-02,-infinity,NULL}']],
  ['ba', 'bool[]', [null, '{t,f,NULL}']],
  ['jba', 'jsonb[]', [null, pgArray(['{"a": "x\\"y"}', '[1, "b,c"]', 'null', null])]],
  ['ja', 'json[]', [null, pgArray(['{\n"a": 1}', '[1,\r\n2]', null])]],
  ['na', 'numeric[]', [null, '{1.5,NaN,Infinity,-Infinity,123456789012345678901234567890.5,NULL}']],
  ['fa', 'float8[]', [null, '{NaN,-0,1e-300,-Infinity}']],
  ['mood', `${schema}.mood`, [null, 'happy', 'so-so, "really"']],
  ['moods', `${schema}.mood[]`, [null, pgArray(['happy', 'so-so, "really"', null])]],
  ['amt', `${schema}.amount`, [null, '12345678901234567890123456789.0123456789', 'NaN']],
  ['amts', `${schema}.amount[]`, [null, '{1.5,NULL}']],
  ['ints', `${schema}.intlist`, [null, '{1,2}', '{}']],
  ['intss', `${schema}.intlist[]`, [null, pgArray(['{1,2}', '{}', null])]],
  ['mon', 'money', [null, '1234.56', '-0.01']],
  ['ip', 'inet', [null, '192.168.0.1/24', '::1']],
  ['pt', 'point', [null, '(1.5,-2)']],
  ['bxs', 'box', [null, '(1,1),(0,0)']],
  ['bx', 'box[]', [null, '{(1,1),(0,0);(3,3),(2,2)}']],
  ['vec', 'int2vector', [null, '1 2 3', '']],
  ['veca', 'int2vector[]', [null, pgArray(['1 2', '3', ''])]],
  ['bits', 'bit(3)', [null, '101']],
  ['vb', 'varbit', [null, '', '1']],
  ['rng', 'tstzrange', [null, '[2026-01-01,2026-02-01)', 'empty']],
  ['bya', 'bytea[]', [null, pgArray(['\\x00ff', null])]],
  ['iva', 'interval[]', [null, pgArray(['1 day', '-02:00:00'])]],
  ['chr', '"char"', [null, 'x']],
  ['nm', 'name', [null, 'a name']],
  ['o', 'oid', [null, '4294967295']]
]
const rowCount = Math.max(...cases.map(([, , values]) => values.length))

await client.query(`
  create schema ${schema};
  create type ${schema}.mood as enum ('happy', 'so-so, "really"');
  create domain ${schema}.amount as numeric(40,10);
  create domain ${schema}.intlist as int[];
  create table ${schema}.awkward (id int primary key, ${cases.map(([name, type]) => `${name} ${type}`).join(', ')})
`)
await client.query("set timezone = 'Asia/Kathmandu'")
for (let k = 0; k < rowCount; k++) {
  await client.query(
    `insert into ${schema}.awkward values ($1, ${cases.map((_, i) => `$${i + 2}`).join(', ')})`,
    [k, ...cases.map(([, , values]) => values[k % values.length])]
  )
}
await client.query("set timezone = 'UTC'")

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
    t.doesNotThrow(() => JSON.parse(line), `row ${i} is JSON`)
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
  t.strictSame(JSON.parse(encode('json', columns, batches, undefined, null)).next, null)
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

async function fetch (sql: string): Promise<{ rows: Row[], columns: Column[] }> {
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
  batches: ReadonlyArray<ReadonlyArray<Row>>,
  csv: CsvOptions = { header: true, bom: false, delimiter: ',' },
  next: string | null = null
): string {
  const encoder = createEncoder(format, columns, csv)
  return encoder.head() + batches.map(batch => encoder.rows(batch)).join('') + encoder.tail(next)
}

/** An array literal of these elements, every one quoted. */
function pgArray (elements: ReadonlyArray<string | null>): string {
  return '{' + elements.map(e => e === null ? 'NULL' : '"' + e.replace(/["\\]/g, '\\$&') + '"').join(',') + '}'
}

type Exact = null | boolean | string | { number: string } | { entries: Array<[string, Exact]> } | Exact[]

/**
 * JSON.parse, except that numbers keep their text (JSON.parse rounds 30-digit numerics and int8
 * extremes) and objects keep their key order.
 */
function parseExact (text: string): Exact {
  let i = 0
  const space = /[ \t\r\n]*/y
  const number = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y
  const string = /"(?:[^"\\\x00-\x1f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y
  const skip = (): void => {
    space.lastIndex = i
    space.exec(text)
    i = space.lastIndex
  }
  const take = (pattern: RegExp): string => {
    pattern.lastIndex = i
    const match = pattern.exec(text)
    if (match === null) throw new SyntaxError(`bad JSON at ${i}: ${text.slice(i, i + 20)}`)
    i = pattern.lastIndex
    return match[0]
  }
  const expect = (char: string): void => {
    skip()
    if (text[i] !== char) throw new SyntaxError(`expected ${char} at ${i}: ${text.slice(i, i + 20)}`)
    i++
  }
  const value = (): Exact => {
    skip()
    const c = text[i]
    if (c === '"') return JSON.parse(take(string)) as string
    if (c === '[') {
      i++
      const items: Exact[] = []
      skip()
      if (text[i] === ']') {
        i++
        return items
      }
      for (;;) {
        items.push(value())
        skip()
        if (text[i++] === ']') return items
        if (text[i - 1] !== ',') throw new SyntaxError(`bad array at ${i - 1}`)
      }
    }
    if (c === '{') {
      i++
      const entries: Array<[string, Exact]> = []
      skip()
      if (text[i] === '}') {
        i++
        return { entries }
      }
      for (;;) {
        skip()
        const key = JSON.parse(take(string)) as string
        expect(':')
        entries.push([key, value()])
        skip()
        if (text[i++] === '}') return { entries }
        if (text[i - 1] !== ',') throw new SyntaxError(`bad object at ${i - 1}`)
      }
    }
    for (const [word, literal] of [['true', true], ['false', false], ['null', null]] as const) {
      if (text.startsWith(word, i)) {
        i += word.length
        return literal
      }
    }
    return { number: take(number) }
  }
  const result = value()
  skip()
  if (i !== text.length) throw new SyntaxError(`trailing text at ${i}`)
  return result
}
