// Result fields (type OID and modifier) -> the columns the encoders need, in one round trip.
import type pg from 'pg'
import { RAW_TYPES } from './pool.js'
import type { Column, JsonKind } from '../formats/types.js'

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
      json: kindOf(field.dataTypeID, byOid, () => `column "${field.name}" (${type})`)
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
