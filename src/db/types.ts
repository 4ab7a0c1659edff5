// Result fields (type OID and modifier) -> the columns the encoders need, in one round trip.
import type pg from 'pg'
import { RAW_TYPES } from './pool.js'
import type { Column, JsonKind, ValueType } from '../formats/types.js'

export interface Field {
  readonly name: string
  readonly dataTypeID: number
  readonly dataTypeModifier: number
}

/**
 * Names each field's type and decides how its values become JSON, as PostgreSQL's
 * json_categorize_type does: domains count as their base type, arrays as their element's kind.
 * (A domain column already arrives described as its base type; an array of a domain does not.)
 * Throws for a column whose values `row_to_json` writes in a way raw text cannot reproduce:
 * composite types and non-built-in types with their own cast to json (hstore, for example).
 */
export async function resolveColumns (client: pg.ClientBase, fields: ReadonlyArray<Field>): Promise<Column[]> {
  if (fields.length === 0) return []
  const result = await client.query<[string]>({
    text: resolveSql,
    values: [fields.map(field => field.dataTypeID), fields.map(field => field.dataTypeModifier)],
    rowMode: 'array',
    types: RAW_TYPES
  })
  const { names, types } = JSON.parse(result.rows[0]![0]) as Resolved
  const byOid = new Map(types.map(type => [type.oid, type]))
  return fields.map((field, i) => {
    const [type, castType] = names[i]!
    return {
      name: field.name,
      type,
      castType,
      oid: field.dataTypeID,
      json: kindOf(field.dataTypeID, byOid, () => `column "${field.name}" (${type})`),
      value: valueOf(field.dataTypeID, field.dataTypeModifier, byOid)
    }
  })
}

interface TypeRow {
  readonly oid: number
  readonly typtype: string
  readonly typbasetype: number
  readonly typelem: number
  readonly typlen: number
  readonly typdelim: string
  readonly typtypmod: number
  readonly castsToJson: boolean
}

interface Resolved {
  /** per field: format_type(oid, typmod), format_type(oid, -1) */
  readonly names: ReadonlyArray<readonly [string, string]>
  /** the fields' types and every base and element type they lead to */
  readonly types: ReadonlyArray<TypeRow>
}

// format_type(oid, -1), not (oid, NULL): with NULL, bpchar comes out as `character`, which as a
// cast means char(1) and would cut a key value to one character (bit likewise).
// The JSON is read as text so a client with other type parsers gets the same answer.
const resolveSql = `
with recursive closure (oid) as (
  select unnest($1::oid[])
  union
  select next.oid
  from closure c
  join pg_type t on t.oid = c.oid
  cross join lateral (values (t.typbasetype), (case when t.typlen = -1 then t.typelem else 0 end)) next (oid)
  where next.oid <> 0
)
select json_build_object(
  'names', (
    select json_agg(json_build_array(format_type(f.oid, f.typmod), format_type(f.oid, -1)) order by f.ord)
    from unnest($1::oid[], $2::int4[]) with ordinality f (oid, typmod, ord)
  ),
  'types', (
    select json_agg(json_build_object(
      'oid', t.oid::int8,
      'typtype', t.typtype,
      'typbasetype', t.typbasetype::int8,
      'typelem', t.typelem::int8,
      'typlen', t.typlen,
      'typdelim', t.typdelim,
      'typtypmod', t.typtypmod,
      -- json_categorize_type looks for a cast only on types that are not built in
      'castsToJson', t.oid >= 16384 and exists (
        select from pg_cast
        where castsource = t.oid and casttarget = 'json'::regtype and castmethod = 'f'
      )
    ))
    from closure c
    join pg_type t on t.oid = c.oid
  )
)::text`

const RECORD = 2249

const builtinKinds = new Map<number, JsonKind>([
  [16, { kind: 'bool' }],
  ...[20, 21, 23, 700, 701, 1700].map(oid => [oid, { kind: 'number' }] as const),
  [1082, { kind: 'date' }],
  ...[1114, 1184].map(oid => [oid, { kind: 'timestamp' }] as const),
  ...[114, 3802].map(oid => [oid, { kind: 'json' }] as const)
])

const stringKind: JsonKind = { kind: 'string' }

function kindOf (oid: number, types: ReadonlyMap<number, TypeRow>, column: () => string): JsonKind {
  const type = types.get(oid)
  if (type === undefined) throw new Error(`${column()}: type ${oid} does not exist`)
  if (type.typtype === 'd') return kindOf(type.typbasetype, types, column)
  const builtin = builtinKinds.get(oid)
  if (builtin !== undefined) return builtin
  if (type.typelem !== 0 && type.typlen === -1) {
    const element = types.get(type.typelem)
    if (element === undefined) throw new Error(`${column()}: type ${type.typelem} does not exist`)
    return { kind: 'array', element: kindOf(type.typelem, types, column), delimiter: element.typdelim }
  }
  if (type.typtype === 'c' || oid === RECORD) {
    throw new Error(`${column()}: composite columns are not supported; select their fields instead`)
  }
  if (type.castsToJson) {
    throw new Error(`${column()}: types with their own cast to json are not supported; cast the column to json or text`)
  }
  return stringKind
}

// The columnar formats' types (docs/http.md section 3, Parquet and Arrow), by OID of the base type
const builtinValues = new Map<number, ValueType>([
  [16, { type: 'bool' }],
  [21, { type: 'int32' }],
  [23, { type: 'int32' }],
  [20, { type: 'int64' }],
  [700, { type: 'float32' }],
  [701, { type: 'float64' }],
  [1082, { type: 'date' }],
  [1114, { type: 'timestamp' }],
  [1184, { type: 'timestamptz' }],
  [114, { type: 'json' }],
  [3802, { type: 'json' }],
  [17, { type: 'binary' }]
])
const NUMERIC = 1700
// int2vector and oidvector have an element type but print as `1 2 3`, not as an array
const VECTORS = new Set([22, 30])
const stringValue: ValueType = { type: 'string' }

/**
 * How a column's values are typed in Parquet and Arrow: domains as their base type (with the
 * domain's modifier), arrays as lists of their element (with the column's modifier), numeric as
 * a decimal where its modifier gives a precision of at most 38 and a scale in 0..precision, and
 * everything without a columnar type of its own as its text.
 */
function valueOf (oid: number, typmod: number, types: ReadonlyMap<number, TypeRow>): ValueType {
  const type = types.get(oid)
  if (type === undefined) return stringValue
  if (type.typtype === 'd') return valueOf(type.typbasetype, type.typtypmod, types)
  const builtin = builtinValues.get(oid)
  if (builtin !== undefined) return builtin
  if (oid === NUMERIC) return decimalOf(typmod)
  if (type.typelem !== 0 && type.typlen === -1 && !VECTORS.has(oid)) {
    const element = types.get(type.typelem)
    return { type: 'list', element: valueOf(type.typelem, typmod, types), delimiter: element?.typdelim ?? ',' }
  }
  return stringValue
}

/** numeric(p,s) from its modifier, as PostgreSQL packs it: ((p << 16) | (s & 0x7ff)) + 4, s signed in 11 bits. */
function decimalOf (typmod: number): ValueType {
  if (typmod < 4) return stringValue
  const precision = ((typmod - 4) >> 16) & 0xffff
  const scale = (((typmod - 4) & 0x7ff) ^ 1024) - 1024
  if (precision < 1 || precision > 38 || scale < 0 || scale > precision) return stringValue
  return { type: 'decimal', precision, scale }
}
