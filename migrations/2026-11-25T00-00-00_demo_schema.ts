import { sql, type Kysely } from 'kysely'

// Frozen once landed: change the schema with a new migration, never by editing this one.
// Kysely<any> because a migration must not depend on today's schema types (kysely's migrations docs).

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up (db: Kysely<any>): Promise<void> {
  await db.schema
    .createType('order_status')
    .asEnum(['pending', 'paid', 'shipped', 'cancelled'])
    .execute()

  await db.schema
    .createTable('customers')
    .addColumn('id', 'bigint', col => col.generatedAlwaysAsIdentity().primaryKey())
    .addColumn('name', 'text', col => col.notNull())
    .addColumn('email', 'text')
    .addColumn('country', 'text')
    .addColumn('created_at', 'timestamptz', col => col.notNull().defaultTo(sql`now()`))
    .addColumn('tags', sql`text[]`)
    .addColumn('notes', 'text')
    .execute()

  await db.schema
    .createTable('products')
    .addColumn('id', 'bigint', col => col.generatedAlwaysAsIdentity().primaryKey())
    .addColumn('sku', 'text', col => col.notNull().unique())
    .addColumn('name', 'text', col => col.notNull())
    .addColumn('price', 'numeric(12, 2)', col => col.notNull())
    .addColumn('attributes', 'jsonb')
    .addColumn('created_at', 'timestamptz', col => col.notNull().defaultTo(sql`now()`))
    .execute()

  await db.schema
    .createTable('orders')
    .addColumn('id', 'bigint', col => col.generatedAlwaysAsIdentity().primaryKey())
    .addColumn('customer_id', 'bigint', col => col.notNull().references('customers.id'))
    .addColumn('status', sql`order_status`, col => col.notNull().defaultTo('pending'))
    .addColumn('amount', 'numeric(12, 2)', col => col.notNull())
    .addColumn('currency', 'char(3)', col => col.notNull())
    .addColumn('created_at', 'timestamptz', col => col.notNull().defaultTo(sql`now()`))
    .addColumn('shipped_at', 'timestamptz')
    .addColumn('note', 'text')
    .addColumn('metadata', 'jsonb')
    .execute()

  await db.schema
    .createTable('order_items')
    .addColumn('order_id', 'bigint', col => col.notNull().references('orders.id').onDelete('cascade'))
    .addColumn('line', 'integer', col => col.notNull())
    .addColumn('product_id', 'bigint', col => col.notNull().references('products.id'))
    .addColumn('quantity', 'integer', col => col.notNull().check(sql`quantity > 0`))
    .addColumn('unit_price', 'numeric(12, 2)', col => col.notNull())
    .addColumn('discount', 'numeric(5, 4)', col => col.check(sql`discount >= 0 and discount < 1`))
    .addPrimaryKeyConstraint('order_items_pkey', ['order_id', 'line'])
    .execute()

  // The keys the demo reports page by: a keyset page is then an index range scan, not a sort.
  await db.schema.createIndex('orders_created_at_id_idx').on('orders').columns(['created_at', 'id']).execute()
  await db.schema.createIndex('orders_status_created_at_id_idx').on('orders').columns(['status', 'created_at', 'id']).execute()
  await db.schema.createIndex('customers_country_id_idx').on('customers').columns(['country', 'id']).execute()
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down (db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('order_items').execute()
  await db.schema.dropTable('orders').execute()
  await db.schema.dropTable('products').execute()
  await db.schema.dropTable('customers').execute()
  await db.schema.dropType('order_status').execute()
}
