import type pg from 'pg'

/**
 * Creates `<schema>.awkward`: a row of awkward values of many types per id, for tests that compare
 * our output with PostgreSQL's own (`row_to_json`, `COPY ... CSV`). Returns its cases; the caller
 * drops the schema.
 */
export async function createAwkwardTable (client: pg.ClientBase, schema: string): Promise<ReturnType<typeof awkwardCases>> {
  const cases = awkwardCases(schema)
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
  return cases
}

// Values are the types' input text, sent as parameters; row k takes value k modulo the count,
// and row 0 is all NULL.
export function awkwardCases (schema: string): ReadonlyArray<readonly [name: string, type: string, values: ReadonlyArray<string | null>]> {
  return [
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
}

/** An array literal of these elements, every one quoted. */
export function pgArray (elements: ReadonlyArray<string | null>): string {
  return '{' + elements.map(e => e === null ? 'NULL' : '"' + e.replace(/["\\]/g, '\\$&') + '"').join(',') + '}'
}
