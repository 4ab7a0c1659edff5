import {
  DummyDriver, Kysely, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler, sql,
  type CompiledQuery
} from 'kysely'
import type { Database } from '../db/schema.js'
import type { ParamValues, ReportDefinition } from './report.js'

/**
 * Kysely builds, pg executes (docs/design.md): this instance only compiles. The engine runs the SQL on
 * a leased client so it controls the connection, the row mode and the type parsing. Typed with
 * the demo schema, as the reports' query functions are; it compiles whatever they build.
 */
export const builder = new Kysely<Database>({
  dialect: {
    createAdapter: () => new PostgresAdapter(),
    createDriver: () => new DummyDriver(),
    createIntrospector: (db) => new PostgresIntrospector(db),
    createQueryCompiler: () => new PostgresQueryCompiler()
  }
})

export interface KeyBound {
  /** the key value as text, sent as a bind parameter (null only to check a plan) */
  readonly value: string | null
  /** the key column's type, `format_type(oid, NULL)`, learnt from the database */
  readonly castType: string
}

export interface Page {
  /** only rows whose key is strictly greater than this one */
  readonly after: readonly KeyBound[] | null
  readonly limit: number | null
  /**
   * A report with `changes:` (src/stream/sync.ts): only rows written after the snapshot `since`,
   * and only rows committed in the snapshot `within` (each as pg_snapshot's text, or null)
   */
  readonly changes?: { readonly column: string, readonly since: string | null, readonly within: string | null } | undefined
}

/**
 * One page of a report: `select * from (<report>) r where (key) > (after) order by key limit n`.
 * PostgreSQL flattens the subquery, so the key predicate and order reach the report's own tables
 * and their indexes.
 */
export function compileQuery (report: Pick<ReportDefinition, 'query' | 'key'>, params: ParamValues, page: Page): CompiledQuery {
  let query = builder.selectFrom(report.query(builder, params).as('r')).selectAll()
  const keys = report.key.map((column) => sql.id('r', column))
  if (page.after !== null) {
    const bounds = page.after.map((bound) => sql`cast(${bound.value} as ${sql.raw(bound.castType)})`)
    query = query.where(sql<boolean>`(${sql.join(keys)}) > (${sql.join(bounds)})`)
  }
  if (page.changes?.since != null) {
    const column = sql.id('r', page.changes.column)
    const since = sql`cast(${page.changes.since} as pg_snapshot)`
    // the range is what an index on the column serves; the visibility test sorts out the
    // transactions that were still running at `since` from those that had ended
    query = query.where(sql<boolean>`${column} >= pg_snapshot_xmin(${since}) and not pg_visible_in_snapshot(${column}, ${since})`)
  }
  if (page.changes?.within != null) {
    // a row never written since the column came (NULL) is older than any snapshot
    query = query.where(sql<boolean>`coalesce(pg_visible_in_snapshot(${sql.id('r', page.changes.column)}, cast(${page.changes.within} as pg_snapshot)), true)`)
  }
  for (const key of keys) query = query.orderBy(key)
  if (page.limit !== null) query = query.limit(page.limit)
  return query.compile()
}
