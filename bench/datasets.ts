// The tables the benchmark reads, and a REPORTS_DIR that serves each one twice: as a keyset report
// and as a cursor report, both selecting every column in table order, keyed on id.
import { mkdtemp, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import type pg from 'pg'

export type Strategy = 'keyset' | 'cursor'

export interface Dataset {
  /** as tables show it: `orders`, `shaped 1M` */
  readonly label: string
  /** the keyset report's name; the cursor report is `<name>_cursor` */
  readonly name: string
  readonly table: string
  readonly rows: number
  /** every column in table order: the reports' query and, ordered by id, the COPY's */
  readonly select: string
  /** the reports' `changes:` column, where the table has one (the demo orders' change_xid) */
  readonly changes?: string
}

/** The bench's own tables: named so nobody takes them for application data. */
const SHAPED_PREFIX = 'sluice_bench_shaped_'

/**
 * The demo `orders` table. A database the user named is never migrated or seeded behind their
 * back (docs/http.md section 1): without the demo data this says how to load it.
 */
export async function ordersDataset (db: pg.ClientBase): Promise<Dataset> {
  const { rows: [count] } = await db.query<{ rows: string }>('select count(*) as rows from orders')
    .catch((error: Error & { code?: string }) => {
      throw error.code === '42P01' ? new Error('DATABASE_URL has no demo data: run `npm run seed` first') : error
    })
  const select = await selectAll(db, 'orders')
  return { label: 'orders', name: 'orders', table: 'orders', rows: Number(count!.rows), select, ...(select.includes('"change_xid"') ? { changes: 'change_xid' } : {}) }
}

/**
 * A table of `rows` rows with the types that cost a writer the most: bigint, int, text,
 * numeric(12,2), timestamptz with microseconds, and text with commas, double quotes and newlines
 * (CSV must quote it and double the quotes; JSON must escape it). Every value comes from a hash of
 * the row number, so two builds of the same size hold the same rows. Built once, in one
 * transaction (a run stopped half-way leaves no half table); later runs find it in place.
 */
export async function shapedDataset (db: pg.ClientBase, rows: number, say: (line: string) => void): Promise<Dataset> {
  const table = `${SHAPED_PREFIX}${rows}`
  const { rows: [found] } = await db.query<{ exists: boolean }>('select to_regclass($1) is not null as exists', [table])
  if (found?.exists !== true) {
    say(`creating ${table} (${rows.toLocaleString('en')} rows), once ...`)
    const started = performance.now()
    const name = db.escapeIdentifier(table)
    await db.query('begin')
    try {
      await db.query(`create unlogged table ${name} as
        select g::bigint as id,
               hashint8(g) as qty,
               'item ' || substr(md5(g::text), 1, 4 + (g % 28)::int) as name,
               (hashint8extended(g, 1) % 1000000000 / 100.0)::numeric(12,2) as amount,
               timestamptz '2020-01-01 00:00:00+00' + (hashint8extended(g, 2) & 140737488355327) * interval '1 microsecond' as created_at,
               format(E'note %s, "%s"\\n%s', g, substr(md5((g * 7)::text), 1, 1 + (g % 12)::int), repeat('x', (g % 5)::int)) as note
        from generate_series(1, ${rows}::bigint) g`)
      await db.query(`alter table ${name} add primary key (id)`)
      await db.query(`analyze ${name}`)
      await db.query('commit')
    } catch (error) {
      await db.query('rollback')
      throw error
    }
    say(`${table} built in ${((performance.now() - started) / 1000).toFixed(1)} s`)
  }
  return { label: `shaped ${sizeLabel(rows)}`, name: `shaped_${sizeLabel(rows).toLowerCase()}`, table, rows, select: await selectAll(db, table) }
}

/** The select of every column in table order, with the table's own names. */
async function selectAll (db: pg.ClientBase, table: string): Promise<string> {
  const { rows } = await db.query<{ name: string }>(
    'select attname as name from pg_attribute where attrelid = $1::regclass and attnum > 0 and not attisdropped order by attnum', [table])
  return `select ${rows.map(({ name }) => db.escapeIdentifier(name)).join(', ')} from ${db.escapeIdentifier(table)}`
}

/** The report's path: `/reports/shaped_1m_cursor.csv`. */
export function reportPath (dataset: Dataset, strategy: Strategy, format: string): string {
  return `/reports/${dataset.name}${strategy === 'cursor' ? '_cursor' : ''}.${format}`
}

/** A temporary REPORTS_DIR with a keyset and a cursor report per data set (docs/http.md section 4). */
export async function writeReports (datasets: readonly Dataset[]): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sluice-bench-'))
  for (const dataset of datasets) {
    for (const strategy of ['keyset', 'cursor'] as const) {
      const file = `${dataset.name}${strategy === 'cursor' ? '_cursor' : ''}.sql`
      await writeFile(path.join(dir, file), `/*
title: ${dataset.label}, ${strategy}
key: [id]
strategy: ${strategy}
${dataset.changes === undefined ? '' : `changes: ${dataset.changes}\n`}*/
${dataset.select}
`)
    }
  }
  return dir
}

/** 1000000 -> 1M, 100000 -> 100k */
export function sizeLabel (rows: number): string {
  if (rows % 1_000_000 === 0) return `${rows / 1_000_000}M`
  if (rows % 1000 === 0) return `${rows / 1000}k`
  return String(rows)
}
