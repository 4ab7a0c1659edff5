// `npm run migrate` and `npm run seed`: act on DATABASE_URL only, never on the embedded server,
// so a database the user named is changed only when they ask for it.
//
//   tsx src/db/cli.ts migrate   apply pending migrations
//   tsx src/db/cli.ts seed      migrate, then load the demo data unless orders already has rows;
//                               SEED_ORDERS=5000 makes a small data set (default 1,000,000 orders)
import { Kysely, PostgresDialect, sql } from 'kysely'
import pg from 'pg'
import { migrateToLatest } from './migrate.js'
import { seedDemo } from './seed.js'

const DEFAULT_ORDERS = 1_000_000

const command = process.argv[2]
const connectionString = process.env.DATABASE_URL
if (connectionString === undefined || connectionString === '') fail('DATABASE_URL is required')
if (command !== 'migrate' && command !== 'seed') fail('usage: tsx src/db/cli.ts migrate|seed')
const orders = command === 'seed' ? seedOrders() : 0

const db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString }) }) })
try {
  const started = performance.now()
  await migrateToLatest(db)
  console.log(`migrations applied (${seconds(started)})`)
  if (command === 'seed') {
    const seedStarted = performance.now()
    const { seeded } = await seedDemo(db, { orders })
    console.log(seeded ? `seeded ${await counts()} (${seconds(seedStarted)})` : 'orders already has rows: seed skipped')
  }
} catch (error) {
  console.error(error instanceof Error ? error.message : error)
  process.exitCode = 1
} finally {
  await db.destroy()
}

function seedOrders (): number {
  const value = process.env.SEED_ORDERS
  if (value === undefined || value === '') return DEFAULT_ORDERS
  const orders = Number(value)
  if (!Number.isSafeInteger(orders) || orders < 1) fail(`SEED_ORDERS must be a positive integer, got "${value}"`)
  return orders
}

async function counts (): Promise<string> {
  const { rows } = await sql<Record<string, string>>`
    select (select count(*) from customers) as customers, (select count(*) from products) as products,
      (select count(*) from orders) as orders, (select count(*) from order_items) as order_items
  `.execute(db)
  return Object.entries(rows[0] ?? {}).map(([table, count]) => `${table}: ${Number(count).toLocaleString('en')}`).join(', ')
}

function seconds (since: number): string {
  return `${((performance.now() - since) / 1000).toFixed(1)} s`
}

function fail (message: string): never {
  console.error(message)
  process.exit(1)
}
