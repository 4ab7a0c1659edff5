// `npm test`: runs tap against a database of its own — a fresh database on TEST_DATABASE_URL's
// server when that is set, else a throwaway embedded PostgreSQL — with the demo schema and a
// small demo data set in it. Arguments go to tap (`npm test -- test/keyset.test.ts`).
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { Kysely, PostgresDialect } from 'kysely'
import pg from 'pg'
import { startEmbedded, type EmbeddedServer } from '../src/db/embedded.js'
import { migrateToLatest } from '../src/db/migrate.js'
import { seedDemo } from '../src/db/seed.js'

const TEST_ORDERS = 20_000
const given = process.env.TEST_DATABASE_URL
let embedded: EmbeddedServer | undefined
let dropDatabase = async (): Promise<void> => {}
let code = 1
try {
  let url: string
  if (given !== undefined && given !== '') {
    url = await freshDatabase(given)
    console.log(`# tests run against ${redact(url)}`)
  } else {
    const dataDir = fileURLToPath(new URL(`../.data/test-${process.pid}-${randomBytes(3).toString('hex')}`, import.meta.url))
    // pg_stat_statements, for the tests that show a statement did not run (it ships with the server)
    embedded = await startEmbedded({ dataDir, database: 'sluice_test', throwaway: true, postgresFlags: ['-c', 'shared_preload_libraries=pg_stat_statements'] })
    url = embedded.url
    console.log('# tests run against a throwaway embedded PostgreSQL')
  }
  await prepare(url)
  code = await tap(url, process.argv.slice(2))
} catch (error) {
  console.error(error)
} finally {
  await dropDatabase().catch((error: unknown) => console.error('could not drop the test database:', error))
  await embedded?.stop()
}
process.exit(code)

/** A database of our own on the given server, dropped afterwards; the given one if we may not create one. */
async function freshDatabase (url: string): Promise<string> {
  const name = `sluice_test_${randomBytes(4).toString('hex')}`
  const admin = new pg.Client({ connectionString: url })
  await admin.connect()
  try {
    await admin.query(`create database ${name}`)
  } catch (error) {
    console.log(`# cannot create a database (${(error as Error).message}); using the given one`)
    return url
  } finally {
    await admin.end()
  }
  dropDatabase = async () => {
    const client = new pg.Client({ connectionString: url })
    await client.connect()
    try {
      await client.query(`drop database if exists ${name} with (force)`)
    } finally {
      await client.end()
    }
  }
  const fresh = new URL(url)
  fresh.pathname = `/${name}`
  return fresh.href
}

async function prepare (url: string): Promise<void> {
  const db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url, max: 1 }) }) })
  try {
    await migrateToLatest(db)
    await seedDemo(db, { orders: TEST_ORDERS })
  } finally {
    await db.destroy()
  }
}

async function tap (url: string, args: string[]): Promise<number> {
  const child = spawn(fileURLToPath(new URL('../node_modules/.bin/tap', import.meta.url)), args, {
    stdio: ['inherit', 'pipe', 'inherit'],
    env: { ...process.env, TEST_DATABASE_URL: url }
  })
  // tap's closing `# { total: N, pass: N, fail: N }`, restated as the plain line CI tools read
  let summary: { pass: number, fail: number } | undefined
  child.stdout.on('data', (chunk: Buffer) => {
    process.stdout.write(chunk)
    const match = /# \{ total: \d+, pass: (\d+)(?:, fail: (\d+))?/.exec(chunk.toString())
    if (match !== null) summary = { pass: Number(match[1]), fail: Number(match[2] ?? 0) }
  })
  child.on('close', () => {
    if (summary !== undefined) console.log(`tests: ${summary.pass} passed, ${summary.fail} failed`)
  })
  const forward = (signal: NodeJS.Signals): void => { child.kill(signal) }
  process.on('SIGINT', forward)
  process.on('SIGTERM', forward)
  return await new Promise((resolve) => child.on('close', (status, signal) => resolve(status ?? (signal === null ? 1 : 128))))
}

function redact (url: string): string {
  const parsed = new URL(url)
  if (parsed.password !== '') parsed.password = '***'
  return parsed.href
}
