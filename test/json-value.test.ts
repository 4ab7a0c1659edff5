// The value writers' edge cases without a database; test/formats.test.ts checks them against
// row_to_json itself.
import t from 'tap'
import { createEncoder, jsonValue, jsonWriter } from '../src/formats/index.js'
import type { JsonKind } from '../src/formats/types.js'
import { encodeAll } from './helpers/datarow.js'

const number: JsonKind = { kind: 'number' }
const string: JsonKind = { kind: 'string' }
const timestamp: JsonKind = { kind: 'timestamp' }
const arrayOf = (element: JsonKind, delimiter = ','): JsonKind => ({ kind: 'array', element, delimiter })

t.test('timestamps become XSD text', async t => {
  const write = jsonWriter(timestamp)
  for (const [text, json] of [
    ['2026-01-02 03:04:05', '"2026-01-02T03:04:05"'],
    ['2026-01-02 03:04:05.123456', '"2026-01-02T03:04:05.123456"'],
    ['2026-01-02 03:04:05+00', '"2026-01-02T03:04:05+00:00"'],
    ['2026-01-02 03:04:05.5-05', '"2026-01-02T03:04:05.5-05:00"'],
    ['2026-01-02 03:04:05+05:45', '"2026-01-02T03:04:05+05:45"'],
    ['2026-01-02 03:04:05-03:30', '"2026-01-02T03:04:05-03:30"'],
    ['1800-01-01 00:19:32+00:19:32', '"1800-01-01T00:19:32+00:19:32"'],
    ['0044-03-15 12:00:00 BC', '"0044-03-15T12:00:00 BC"'],
    ['0044-03-15 12:00:00+00 BC', '"0044-03-15T12:00:00+00:00 BC"'],
    ['0044-03-15 12:00:00.25-03:30 BC', '"0044-03-15T12:00:00.25-03:30 BC"'],
    ['12345-06-07 08:09:10+00', '"12345-06-07T08:09:10+00:00"'],
    ['infinity', '"infinity"'],
    ['-infinity', '"-infinity"']
  ] as const) {
    t.equal(write(text), json, text)
  }
  t.equal(write(null), 'null')
})

t.test('numbers are bare unless JSON has no number for them', async t => {
  const write = jsonWriter(number)
  for (const text of ['0', '-0', '1e-300', '-1.5e+300', '123456789012345678901234567890.123', '-9223372036854775808']) {
    t.equal(write(text), text)
  }
  for (const text of ['NaN', 'Infinity', '-Infinity']) t.equal(write(text), `"${text}"`)
})

t.test('scalars', async t => {
  t.equal(jsonValue({ kind: 'bool' }, 't'), 'true')
  t.equal(jsonValue({ kind: 'bool' }, 'f'), 'false')
  t.equal(jsonValue({ kind: 'date' }, '0044-03-15 BC'), '"0044-03-15 BC"')
  t.equal(jsonValue(string, 'a "b"\n\u2028\x01'), '"a \\"b\\"\\n\u2028\\u0001"')
  t.equal(jsonValue({ kind: 'json' }, '{\r\n"a": "b\\nc",\n"d": [1,\r2]}'), '{  "a": "b\\nc", "d": [1, 2]}')
  t.equal(jsonValue({ kind: 'json' }, '{"a":1}'), '{"a":1}')
})

t.test('arrays follow array_to_json', async t => {
  for (const [kind, text, json] of [
    [arrayOf(number), '{}', '[]'],
    [arrayOf(number), '{1,NULL,-3.5,NaN}', '[1,null,-3.5,"NaN"]'],
    [arrayOf(number), '{{1,2},{3,4}}', '[[1,2],[3,4]]'],
    [arrayOf(number), '{{{1}},{{2}}}', '[[[1]],[[2]]]'],
    [arrayOf(number), '[0:1]={1,2}', '[1,2]'],
    [arrayOf(number), '[0:1][-1:0]={{1,2},{3,4}}', '[[1,2],[3,4]]'],
    [arrayOf(string), '{NULL,"NULL",null,"","a,b","q\\"uote","back\\\\slash","{br}"}', '[null,"NULL","null","","a,b","q\\"uote","back\\\\slash","{br}"]'],
    [arrayOf(string), '{"line\nbreak","\\\\."}', '["line\\nbreak","\\\\."]'],
    [arrayOf(string, ';'), '{(1,1),(0,0);"(2,2),(1,1)";NULL}', '["(1,1),(0,0)","(2,2),(1,1)",null]'],
    [arrayOf(timestamp), '{"2026-01-02 03:04:05+00",infinity,NULL}', '["2026-01-02T03:04:05+00:00","infinity",null]'],
    [arrayOf({ kind: 'json' }), '{"{\\"a\\": \\"x\\\\\\"y\\"}","{\n\\"b\\": 1}",null}', '[{"a": "x\\"y"},{ "b": 1},null]'],
    [arrayOf(arrayOf(number)), '{"{1,2}","{}",NULL,"[0:0]={3}"}', '[[1,2],[],null,[3]]'],
    [arrayOf(number), '1 2 3', '[1,2,3]'],
    [arrayOf(number), '', '[]'],
    [arrayOf(arrayOf(number)), '{"1 2","",3}', '[[1,2],[],[3]]']
  ] as const) {
    t.equal(jsonValue(kind, text), json, text)
  }
})

t.test('CSV takes only the delimiters COPY output is checked with', async t => {
  const columns = [{ name: 'a', type: 'text', castType: 'text', oid: 25, json: string, value: { type: 'string' as const } }]
  t.throws(() => createEncoder('csv', columns, { header: true, bom: false, delimiter: ':' }), /delimiter/)
  t.equal(encodeAll(createEncoder('csv', columns, { header: false, bom: false, delimiter: '\t' }), [['a\tb'], [null], ['']]).toString(), '"a\tb"\n\n""\n')
})
