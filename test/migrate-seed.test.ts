import { randomBytes } from 'node:crypto'
import fs from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { Kysely, PostgresDialect, sql, type RawBuilder } from 'kysely'
import { FileMigrationProvider, Migrator, NO_MIGRATIONS } from 'kysely/migration'
import pg from 'pg'
import t, { type Test } from 'tap'
import { migrateToLatest } from '../src/db/migrate.js'
import { seedDemo } from '../src/db/seed.js'
import { connect, testDatabaseUrl } from './helpers/db.js'
import { waitFor } from './helpers/http.js'

const ORDERS = 5000

t.test('migrations apply once and the seed fills the demo schema', async t => {
  const db = await freshDatabase(t)
  await migrateToLatest(db)
  await migrateToLatest(db)
  t.same(await column(db, sql`select name from kysely_migration order by name`),
    ['2026-11-25T00-00-00_demo_schema', '2026-12-02T00-00-00_orders_updated_at', '2026-12-05T00-00-00_orders_change_xid'], 'the second run applies nothing')
  t.same(await column(db, sql`
    select table_name from information_schema.tables
    where table_schema = 'public' and table_name in ('customers', 'products', 'orders', 'order_items')
    order by table_name
  `), ['customers', 'order_items', 'orders', 'products'])
  t.same(await column(db, sql`select unnest(enum_range(null::order_status))::text`),
    ['pending', 'paid', 'shipped', 'cancelled'])

  t.same(await seedDemo(db, { orders: ORDERS }), { seeded: true })
  const counts = await tableCounts(db)
  t.equal(counts.orders, ORDERS)
  t.ok(counts.customers >= 100, `customers: ${counts.customers}`)
  t.equal(counts.products, 500)
  t.ok(counts.order_items >= ORDERS && counts.order_items <= 3 * ORDERS, `order_items: ${counts.order_items}`)

  t.same(await column(db, sql`select distinct status::text from orders order by 1`),
    ['cancelled', 'paid', 'pending', 'shipped'])
  const notes = await row(db, sql<Record<string, boolean>>`
    select count(*) filter (where note like '%,%') > 0 as comma,
      count(*) filter (where note like '%"%') > 0 as quote,
      count(*) filter (where note like '%' || chr(10) || '%') > 0 as newline,
      count(*) filter (where note is null) > 0 as null
    from orders
  `)
  t.same(notes, { comma: true, quote: true, newline: true, null: true }, 'notes have commas, quotes, newlines and NULLs')
  t.ok((await row(db, sql<{ repeated: boolean }>`
    select exists (select from orders group by created_at having count(*) > 1) as repeated
  `)).repeated, 'some created_at values repeat, so the key needs id too')
  t.ok((await row(db, sql<{ some: boolean }>`select exists (select from orders where shipped_at is null) as some`)).some,
    'some shipped_at are NULL')
  t.equal((await row(db, sql<{ wrong: number }>`
    select count(*)::int as wrong from orders o
    where amount <> (select round(sum(quantity * unit_price * (1 - coalesce(discount, 0))), 2)
                     from order_items i where i.order_id = o.id)
  `)).wrong, 0, "every order's amount is the sum of its lines")
  t.same(await row(db, sql<Record<string, unknown>>`
    select (select count(*)::int from customers where name like '%,%"%"%') > 0 as name,
      (select count(*)::int from pg_constraint where conrelid = 'order_items'::regclass and contype = 'f') as fks,
      (select count(*)::int from pg_indexes where tablename = 'orders') as order_indexes
  `), { name: true, fks: 2, order_indexes: 5 }, 'awkward names, and the keys and indexes are back after the load')
  t.equal((await row(db, sql<{ wrong: number }>`
    select count(*)::int as wrong from orders where updated_at is distinct from coalesce(shipped_at, created_at)
  `)).wrong, 0, 'a seeded order was last changed when it shipped, or else when it was placed')

  // the trigger is on again after the load: an insert and an update are dated by the transaction
  await db.transaction().execute(async trx => {
    const { rows: [touched] } = await sql<{ inserted: boolean, updated: boolean }>`
      with ins as (
        insert into orders (customer_id, amount, currency, updated_at) values (1, 1, 'EUR', '2000-01-01') returning updated_at
      ), upd as (
        update orders set note = 'changed' where id = 1 returning updated_at
      )
      select (select updated_at = now() from ins) as inserted, (select updated_at = now() from upd) as updated
    `.execute(trx)
    t.same(touched, { inserted: true, updated: true }, 'insert and update set updated_at to now(), whatever they wrote')
    // leaves the seeded rows as they were, for the comparison below
    throw new Rollback()
  }).catch((error: unknown) => { if (!(error instanceof Rollback)) throw error })

  t.same(await seedDemo(db, { orders: ORDERS }), { seeded: false }, 'a second seed does nothing')
  t.same(await tableCounts(db), counts)
})

t.test('an already seeded database gains updated_at and change_xid without a rewrite of orders', async t => {
  const db = await freshDatabase(t)
  const migrator = new Migrator({
    db,
    provider: new FileMigrationProvider({ fs, path, migrationFolder: fileURLToPath(new URL('../migrations', import.meta.url)) })
  })
  t.equal((await migrator.migrateTo('2026-11-25T00-00-00_demo_schema')).error, undefined)
  await sql`insert into customers (name) values ('Ada')`.execute(db)
  await sql`insert into orders (customer_id, amount, currency) select 1, g, 'EUR' from generate_series(1, 1000) g`.execute(db)
  const before = await row(db, sql<{ file: string }>`select pg_relation_filenode('orders')::text as file`)
  await migrateToLatest(db)
  const after = await row(db, sql<{ file: string, dated: number, stamped: number }>`
    select pg_relation_filenode('orders')::text as file, count(distinct updated_at)::int as dated, count(change_xid)::int as stamped from orders
  `)
  t.equal(after.file, before.file, 'the table kept its file: the columns came from the catalog, not a rewrite')
  t.equal(after.dated, 1, 'every existing order is dated the migration')
  t.equal(after.stamped, 0, 'no existing order has a change_xid: older than any sync token')
  const written = await row(db, sql<{ stamped: boolean }>`
    with written as (update orders set amount = amount + 1 where id = 7 returning change_xid)
    select bool_and(change_xid = pg_current_xact_id()) as stamped from written
  `)
  t.equal(written.stamped, true, 'an update stamps the writing transaction')
})

t.test('a failed migration is an error that names it', async t => {
  const db = await freshDatabase(t)
  await sql`create type order_status as enum ('x')`.execute(db)
  await t.rejects(migrateToLatest(db), {
    message: /in migration 2026-11-25T00-00-00_demo_schema: type "order_status" already exists/
  })
})

t.test('down undoes up', async t => {
  const db = await freshDatabase(t)
  await migrateToLatest(db)
  const migrator = new Migrator({
    db,
    provider: new FileMigrationProvider({ fs, path, migrationFolder: fileURLToPath(new URL('../migrations', import.meta.url)) })
  })
  const { error } = await migrator.migrateTo(NO_MIGRATIONS)
  t.equal(error, undefined)
  t.same(await column(db, sql`
    select relname from pg_class where relnamespace = 'public'::regnamespace and relname not like 'kysely%'
    union all
    select typname from pg_type where typname = 'order_status'
  `), [], 'no table, index, sequence or type is left')
  await migrateToLatest(db)
})

t.test('two seeds of the same size give the same rows', async t => {
  const [a, b] = await Promise.all([freshDatabase(t), freshDatabase(t)])
  const fingerprints = await Promise.all([a, b].map(async db => {
    await migrateToLatest(db)
    await seedDemo(db, { orders: ORDERS })
    return await row(db, sql<Record<string, string>>`
      -- change_xid is the seeding transaction's id, which differs from database to database
      select (select md5(string_agg((to_jsonb(o) - 'change_xid')::text, '|' order by id)) from orders o) as orders,
        (select md5(string_agg(i::text, '|' order by order_id, line)) from order_items i) as order_items,
        (select md5(string_agg(c::text, '|' order by id)) from customers c) as customers
    `)
  }))
  t.same(fingerprints[0], fingerprints[1])
})

t.test('the seed refuses a size that is not a positive integer', async t => {
  const db = await freshDatabase(t)
  await t.rejects(seedDemo(db, { orders: 0 }), RangeError)
  await t.rejects(seedDemo(db, { orders: 1.5 }), RangeError)
})

// A database of the test's own, so that migrating and seeding never touch the shared test
// database that other test files read in parallel.
async function freshDatabase (t: Test): Promise<Kysely<unknown>> {
  const name = `sluice_seed_${randomBytes(4).toString('hex')}`
  await admin(`create database ${name}`)
  const url = new URL(testDatabaseUrl())
  url.pathname = `/${name}`
  const db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url.href, max: 2 }) }) })
  t.teardown(async () => {
    await db.destroy()
    // pg-pool's end() resolves once its clients are told to end, not once their sessions are
    // gone: a forced drop meanwhile terminates a session still saying goodbye, and its client
    // reports the FATAL as an error
    await waitFor(async () => (await sessionsOn(name)) === 0, { timeout: 5000, what: `the sessions on ${name} to end` })
    await admin(`drop database if exists ${name} with (force)`)
  })
  return db
}

async function sessionsOn (database: string): Promise<number> {
  const client = await connect()
  try {
    const { rows } = await client.query<{ n: number }>('select count(*)::int as n from pg_stat_activity where datname = $1', [database])
    return rows[0]!.n
  } finally {
    await client.end()
  }
}

async function admin (statement: string): Promise<void> {
  const client = await connect()
  try {
    await client.query(statement)
  } finally {
    await client.end()
  }
}

class Rollback extends Error {}

interface Counts { customers: number, products: number, orders: number, order_items: number }

async function tableCounts (db: Kysely<unknown>): Promise<Counts> {
  return await row(db, sql<Counts>`
    select (select count(*)::int from customers) as customers, (select count(*)::int from products) as products,
      (select count(*)::int from orders) as orders, (select count(*)::int from order_items) as order_items
  `)
}

async function row<R> (db: Kysely<unknown>, query: RawBuilder<R>): Promise<R> {
  const { rows: [first] } = await query.execute(db)
  if (first === undefined) throw new Error('the query returned no row')
  return first
}

async function column (db: Kysely<unknown>, query: RawBuilder<Record<string, unknown>>): Promise<unknown[]> {
  const { rows } = await query.execute(db)
  return rows.map(r => Object.values(r)[0])
}
