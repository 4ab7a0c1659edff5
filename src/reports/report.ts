import type { Kysely, RawBuilder, SelectQueryBuilder } from 'kysely'
import type { Database } from '../db/schema.js'
import type { Column } from '../formats/types.js'

export type Strategy = 'keyset' | 'cursor'

/** A JSON Schema for one report parameter, as written in a report header. */
export type ParamSchema = Record<string, unknown>

export type ParamValues = Readonly<Record<string, unknown>>

/** The query of a report: a Kysely select, or a SQL file's text wrapped by Kysely's `sql`. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type ReportQuery = RawBuilder<unknown> | SelectQueryBuilder<any, any, any>

/**
 * What a report's author writes, in a SQL file's header or a TypeScript module. `DB` is the
 * schema its Kysely queries are checked against: the demo tables unless a module names another.
 */
export interface ReportDefinition<DB = Database> {
  readonly title: string
  readonly description: string
  /** result columns, together unique and never NULL; rows come in ascending key order */
  readonly key: readonly string[]
  readonly strategy: Strategy
  /** the most rows one response may carry */
  readonly maxRows?: number | undefined
  readonly params: Readonly<Record<string, ParamSchema>>
  readonly required: readonly string[]
  readonly query: (db: Kysely<DB>, params: ParamValues) => ReportQuery
  /**
   * Optional: one query of one value that changes whenever the rows do, with the same parameters
   * as `query`; the report then answers with an ETag and 304s (docs/http.md section 3)
   */
  readonly version?: ((db: Kysely<DB>, params: ParamValues) => ReportQuery) | undefined
  /**
   * Optional: a result column of type xid8 that a trigger sets to `pg_current_xact_id()` on every
   * insert and update; responses then carry a sync token, and `changed_since` pulls only the rows
   * changed since one (docs/http.md section 3)
   */
  readonly changes?: string | undefined
}

/** A report checked against the database at start: its columns are learnt, not declared. */
export interface Report extends ReportDefinition {
  readonly name: string
  /** where it was defined, for messages */
  readonly file: string
  readonly columns: readonly Column[]
  /** positions of the key columns in a result row */
  readonly keyIndexes: readonly number[]
  /** the one column `version` returns, learnt at start: a date or timestamp also gives Last-Modified */
  readonly versionColumn?: Column | undefined
  /** with `changes`: its column, and the scope its sync tokens are bound to (src/stream/sync.ts) */
  readonly sync?: { readonly column: string, readonly scope: string } | undefined
}

/** Query parameters of the streaming endpoint itself; no report may declare these. */
export const RESERVED_PARAMS = ['format', 'limit', 'after', 'download', 'header', 'bom', 'delimiter', 'expires', 'key_id', 'signature', 'changed_since'] as const

/**
 * For report modules: `export default defineReport({ ... })`, typed, with the defaults filled in.
 * The query is checked against the demo schema (src/db/schema.ts); a report on other tables
 * names its own: `defineReport<MySchema>({ ... })`.
 */
export function defineReport<DB = Database> (definition: Omit<ReportDefinition<DB>, 'strategy' | 'params' | 'required' | 'description'> & Partial<ReportDefinition<DB>>): ReportDefinition<DB> {
  return {
    description: '',
    strategy: 'keyset',
    params: {},
    required: [],
    ...definition
  }
}
