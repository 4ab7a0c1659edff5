// The demo schema (migrations/) as Kysely's types, so that a TypeScript report
// (`defineReport`, reports/customers.ts) is checked against its tables and columns when it
// compiles. Migrations stay on Kysely<any>: they must not depend on today's schema.
//
// Selected values are typed as pg hands them over by default: bigint and numeric as strings
// (exact), timestamptz as a Date, jsonb parsed, text[] as an array. Sluice itself never reads a
// report's rows through Kysely (the engine runs the compiled SQL with its own type parsing), so
// these types are for the query builder: which columns exist, and what a value compared with one
// may be.
import type { ColumnType, GeneratedAlways } from 'kysely'

/** bigint: a string when read, any integer form when written */
export type Int8 = ColumnType<string, bigint | number | string, bigint | number | string>
/** numeric: a string when read (exact), a number or a string when written */
export type Numeric = ColumnType<string, number | string, number | string>
/** timestamptz: a Date when read, a Date or an ISO string when written */
export type Timestamptz = ColumnType<Date, Date | string, Date | string>
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue }
/** jsonb: parsed when read, JSON text when written */
export type Jsonb = ColumnType<JsonValue, string, string>
/** a column with a default: read as `C` reads, optional when inserted (Kysely's Generated, for a ColumnType too) */
export type Defaulted<C> = C extends ColumnType<infer S, infer I, infer U> ? ColumnType<S, I | undefined, U> : ColumnType<C, C | undefined, C>

/** the enum order_status */
export type OrderStatus = 'pending' | 'paid' | 'shipped' | 'cancelled'

export interface CustomersTable {
  id: GeneratedAlways<string>
  name: string
  email: string | null
  country: string | null
  created_at: Defaulted<Timestamptz>
  tags: string[] | null
  notes: string | null
}

export interface ProductsTable {
  id: GeneratedAlways<string>
  sku: string
  name: string
  price: Numeric
  attributes: Jsonb | null
  created_at: Defaulted<Timestamptz>
}

export interface OrdersTable {
  id: GeneratedAlways<string>
  customer_id: Int8
  status: Defaulted<OrderStatus>
  amount: Numeric
  /** char(3) */
  currency: string
  created_at: Defaulted<Timestamptz>
  shipped_at: Timestamptz | null
  note: string | null
  metadata: Jsonb | null
  /** set by the trigger orders_touch_updated_at on every insert and update */
  updated_at: Defaulted<Timestamptz>
  /** xid8 as text: the transaction that last wrote the order, set by the trigger orders_stamp_change_xid; NULL for an order not written since the column came */
  change_xid: Defaulted<string | null>
}

export interface OrderItemsTable {
  order_id: Int8
  line: number
  product_id: Int8
  quantity: number
  unit_price: Numeric
  /** numeric(5, 4), in [0, 1) */
  discount: Numeric | null
}

/** The demo database: `Kysely<Database>` checks table and column names and value types. */
export interface Database {
  customers: CustomersTable
  products: ProductsTable
  orders: OrdersTable
  order_items: OrderItemsTable
}
