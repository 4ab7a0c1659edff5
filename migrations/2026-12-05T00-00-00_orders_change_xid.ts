import { sql, type Kysely } from 'kysely'

// Frozen once landed, as every migration. orders.change_xid: the transaction that last wrote an
// order, kept by a trigger, so that the `orders` report can declare `changes:` and a client pull
// only the orders written since its last pull (docs/http.md section 3, src/stream/sync.ts).

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up (db: Kysely<any>): Promise<void> {
  // nullable and without a default: PostgreSQL only writes the catalog, no row is rewritten
  // (https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-NOTES). NULL is an
  // order not written since: older than any sync token, which the pulls and pages read it as
  await sql`alter table orders add column change_xid xid8`.execute(db)
  // the writing transaction's id whatever a statement writes: the column cannot be made to lie
  await sql`
    create function orders_stamp_change_xid () returns trigger language plpgsql as $$
    begin
      new.change_xid := pg_current_xact_id();
      return new;
    end
    $$
  `.execute(db)
  await sql`
    create trigger orders_stamp_change_xid before insert or update on orders
    for each row execute function orders_stamp_change_xid()
  `.execute(db)
  // a pull is a range scan of this index: `change_xid >= xmin of the token's snapshot`. A table in
  // service would build it with CREATE INDEX CONCURRENTLY, outside a migration's transaction
  await db.schema.createIndex('orders_change_xid_idx').on('orders').column('change_xid').execute()
  // without statistics on the new column the planner guesses its selectivity and may scan the
  // primary key with a filter instead of the index; ANALYZE of one column samples, it does not scan
  await sql`analyze orders (change_xid)`.execute(db)
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down (db: Kysely<any>): Promise<void> {
  await sql`drop trigger orders_stamp_change_xid on orders`.execute(db)
  await sql`drop function orders_stamp_change_xid()`.execute(db)
  await db.schema.alterTable('orders').dropColumn('change_xid').execute()
}
