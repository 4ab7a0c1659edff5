import { sql, type Kysely } from 'kysely'

// Frozen once landed, as every migration. orders.updated_at: the moment an order last changed,
// kept by a trigger, so that a report's `version:` (docs/http.md section 3) can ask one index for it.

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up (db: Kysely<any>): Promise<void> {
  // now() is stable, not volatile: PostgreSQL stores the default once in the catalog and rewrites
  // no row (https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-NOTES),
  // so a seeded table of millions of rows gains the column at once, every row dated this migration
  await sql`alter table orders add column updated_at timestamptz not null default now()`.execute(db)
  // the trigger's now() wins over any value a statement writes: the column cannot be made to lie
  await sql`
    create function orders_touch_updated_at () returns trigger language plpgsql as $$
    begin
      new.updated_at := now();
      return new;
    end
    $$
  `.execute(db)
  await sql`
    create trigger orders_touch_updated_at before insert or update on orders
    for each row execute function orders_touch_updated_at()
  `.execute(db)
  // max(updated_at) is then one step down this index
  await db.schema.createIndex('orders_updated_at_idx').on('orders').column('updated_at').execute()
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down (db: Kysely<any>): Promise<void> {
  await sql`drop trigger orders_touch_updated_at on orders`.execute(db)
  await sql`drop function orders_touch_updated_at()`.execute(db)
  await db.schema.alterTable('orders').dropColumn('updated_at').execute()
}
