import { readdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { resolveColumns } from '../db/types.js'
import type { Lease, Leases } from '../db/leases.js'
import type { Column } from '../formats/types.js'
import { RAW_TYPES } from '../db/pool.js'
import { builder, compileQuery } from './compile.js'
import { syncScope } from '../stream/sync.js'
import { parseSqlReport } from './sql-file.js'
import { RESERVED_PARAMS, type ParamValues, type Report, type ReportDefinition } from './report.js'

/** The built-in demo reports, served when REPORTS_DIR is unset. */
export const DEMO_REPORTS_DIR = fileURLToPath(new URL('../../reports/', import.meta.url))

/** A report that cannot be served; the message names its file. Stops the process at start. */
export class ReportError extends Error {
  override name = 'ReportError'
}

/**
 * Loads every report in `dir` (`*.sql` files, and `*.ts`/`*.js` modules exporting a
 * `defineReport`), then checks each against the database: its SQL plans, its key names result
 * columns, and its columns' types are learnt. Nothing is executed beyond planning (`limit 0`).
 */
export async function loadReports (dir: string, leases: Leases): Promise<Map<string, Report>> {
  let files: string[]
  try {
    files = (await readdir(dir)).sort()
  } catch (error) {
    throw new ReportError(`${dir}: cannot read the reports folder: ${(error as Error).message}`)
  }
  const reports = new Map<string, Report>()
  for (const file of files) {
    const ext = path.extname(file)
    if (!['.sql', '.ts', '.js'].includes(ext) || file.endsWith('.d.ts')) continue
    const full = path.join(dir, file)
    const name = path.basename(file, ext)
    try {
      if (!/^[A-Za-z0-9][A-Za-z0-9_-]*$/.test(name)) throw new Error('report names may hold only letters, digits, _ and -')
      if (reports.has(name)) throw new Error(`a second report named "${name}"`)
      const definition = ext === '.sql' ? parseSqlReport(await readFile(full, 'utf8')) : await importReport(full)
      checkParams(definition)
      reports.set(name, await describe(name, full, definition, leases))
    } catch (error) {
      throw new ReportError(`${full}: ${(error as Error).message}`)
    }
  }
  if (reports.size === 0) throw new ReportError(`${dir}: holds no reports (*.sql)`)
  return reports
}

/** The one column a report's version query returns; planned with `limit 0`, as the report is. */
async function versionShape (lease: Lease, version: NonNullable<ReportDefinition['version']>, params: ParamValues): Promise<Column> {
  try {
    const shape = builder.selectFrom(version(builder, params).as('v')).selectAll().limit(0).compile()
    const { fields } = await lease.query({ text: shape.sql, values: [...shape.parameters], rowMode: 'array', types: RAW_TYPES })
    if (fields.length !== 1) throw new Error(`must return exactly one column, not ${fields.length} (${fields.map((f) => f.name).join(', ')})`)
    const [column] = await resolveColumns(lease.client, fields)
    return column!
  } catch (error) {
    throw new Error(`version: ${(error as Error).message}`, { cause: error })
  }
}

// xid8, the type of pg_current_xact_id(): 64 bits, so no wraparound between two pulls
const XID8 = 5069

/**
 * `changes:` must name a result column of type xid8; its sync tokens are bound to this database
 * (a replica shares the primary's system identifier) and this report.
 */
async function changesColumn (lease: Lease, report: string, column: string, columns: readonly Column[]): Promise<Report['sync']> {
  const found = columns.find((c) => c.name === column)
  if (found === undefined) throw new Error(`changes column "${column}" is not among the result columns (${columns.map((c) => c.name).join(', ')})`)
  if (found.oid !== XID8) throw new Error(`changes column "${column}" is of type ${found.type}, not xid8 (pg_current_xact_id(), set by a trigger)`)
  const { rows } = await lease.query<{ identity: string, standby: boolean }>("select system_identifier::text || '/' || current_database() as identity, pg_is_in_recovery() as standby from pg_control_system()")
  // a token is a snapshot taken on the primary (src/stream/sync.ts): a standby cannot make one
  if (rows[0]!.standby) throw new Error(`changes column "${column}": DATABASE_URL is a standby, and sync tokens are taken on the primary`)
  return { column, scope: syncScope(rows[0]!.identity, report, column) }
}

async function importReport (file: string): Promise<ReportDefinition> {
  const module = await import(pathToFileURL(file).href) as { default?: ReportDefinition }
  const definition = module.default
  if (definition === undefined || typeof definition.query !== 'function') {
    throw new Error('must export default defineReport({ ... })')
  }
  if (definition.version !== undefined && typeof definition.version !== 'function') {
    throw new Error('version must be a function (db, params) => query, as query is')
  }
  if (definition.changes !== undefined && (typeof definition.changes !== 'string' || definition.changes === '')) {
    throw new Error('changes must name one result column (of type xid8)')
  }
  return definition
}

function checkParams (definition: ReportDefinition): void {
  for (const name of Object.keys(definition.params)) {
    if ((RESERVED_PARAMS as readonly string[]).includes(name)) {
      throw new Error(`declares the reserved parameter "${name}" (reserved: ${RESERVED_PARAMS.join(', ')})`)
    }
  }
}

async function describe (name: string, file: string, definition: ReportDefinition, leases: Leases): Promise<Report> {
  const params: ParamValues = Object.fromEntries(
    Object.entries(definition.params).map(([param, schema]) => [param, schema.default ?? null]))
  const lease = await leases.acquire()
  try {
    await lease.begin()
    const shape = builder.selectFrom(definition.query(builder, params).as('r')).selectAll().limit(0).compile()
    const { fields } = await lease.query({ text: shape.sql, values: [...shape.parameters], rowMode: 'array', types: RAW_TYPES })
    const columns = await resolveColumns(lease.client, fields)
    const names = columns.map((column) => column.name)
    const twice = names.find((column, i) => names.indexOf(column) !== i)
    if (twice !== undefined) throw new Error(`has two result columns named "${twice}"`)
    const keyIndexes = definition.key.map((key) => {
      const index = names.indexOf(key)
      if (index === -1) throw new Error(`key column "${key}" is not among the result columns (${names.join(', ')})`)
      return index
    })
    // a page past a key, planned once: the key's types must order and cast
    const after = keyIndexes.map((index) => ({ value: null, castType: columns[index]!.castType }))
    const page = compileQuery(definition, params, { after, limit: 0 })
    await lease.query({ text: `explain ${page.sql}`, values: [...page.parameters] })
    const versionColumn = definition.version === undefined ? undefined : await versionShape(lease, definition.version, params)
    const sync = definition.changes === undefined ? undefined : await changesColumn(lease, name, definition.changes, columns)
    await lease.end()
    return { ...definition, name, file, columns, keyIndexes, versionColumn, sync }
  } finally {
    lease.destroy()
  }
}
