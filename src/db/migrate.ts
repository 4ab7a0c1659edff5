import fs from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { inspect } from 'node:util'
import type { Kysely } from 'kysely'
import { FileMigrationProvider, Migrator } from 'kysely/migration'

// Resolved from this file, not the working directory, so it holds for `npm start`, tests and a
// build under dist/ alike. Kysely's provider loads .ts files too, with import() under tsx or tap.
const migrationFolder = fileURLToPath(new URL('../../migrations', import.meta.url))

/** Applies every pending migration in migrations/; a no-op when the database is up to date. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function migrateToLatest (db: Kysely<any>): Promise<void> {
  const migrator = new Migrator({ db, provider: new FileMigrationProvider({ fs, path, migrationFolder }) })
  const { error, results } = await migrator.migrateToLatest()
  if (error === undefined) return
  const failed = results?.find(result => result.status === 'Error')
  const where = failed === undefined ? 'before any migration ran' : `in migration ${failed.migrationName}`
  // whatever a migration threw: an object that is not an Error is shown, not printed as [object Object]
  const reason = error instanceof Error ? error.message : typeof error === 'string' ? error : inspect(error)
  throw new Error(`migrations failed ${where}: ${reason}`, { cause: error })
}
