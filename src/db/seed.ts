import { sql, type Kysely, type RawBuilder } from 'kysely'

export interface SeedOptions {
  /** Orders to generate; customers, products and order items follow from it. */
  orders: number
}

/**
 * Loads the demo data set into an empty schema, all in SQL and in one transaction. Does nothing
 * (seeded: false) when orders already has rows, so it is safe to run on every start.
 *
 * Every value comes from hashint8extended() of the row number, never random(): two seeds of the
 * same size give the same rows, so tests and benchmarks can rely on them.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function seedDemo (db: Kysely<any>, options: SeedOptions): Promise<{ seeded: boolean }> {
  const orders = options.orders
  if (!Number.isSafeInteger(orders) || orders < 1) {
    throw new RangeError(`seed: orders must be a positive integer, got ${orders}`)
  }
  const customers = Math.max(100, Math.floor(orders / 50))

  return await db.transaction().execute(async trx => {
    // Serialises seeders: a second one waits here, then finds the rows.
    await sql`lock table orders in share row exclusive mode`.execute(trx)
    const { rows } = await sql<{ empty: boolean }>`select not exists (select from orders) as empty`.execute(trx)
    if (rows[0]?.empty !== true) return { seeded: false }

    // Building indexes and checking foreign keys once after the load is much faster than keeping
    // them up row by row (and the row-by-row check would lock every referenced order); the index
    // builds then sort 1M-2M rows, in memory with this.
    await sql`set local maintenance_work_mem = '256MB'`.execute(trx)
    const { rows: deferred } = await deferrableConstraints().execute(trx)
    const statements = [
      ...deferred.map(ddl => sql.raw(ddl.drop)),
      // the trigger would date every seeded order now(): two seeds would differ, and a million
      // calls of it cost time; the load writes updated_at itself
      sql`alter table orders disable trigger orders_touch_updated_at`,
      insertCustomers(customers),
      insertProducts(),
      insertOrders(orders, customers),
      insertOrderItems(orders),
      // Explicit ids keep the references deterministic; the identities must then move past them
      // so that a later insert which lets them generate does not collide.
      sql`select ${sql.join(['customers', 'products', 'orders'].map(table =>
        sql`setval(pg_get_serial_sequence(${table}, 'id'), (select max(id) from ${sql.table(table)}))`))}`,
      sql`alter table orders enable trigger orders_touch_updated_at`,
      ...deferred.toReversed().map(ddl => sql.raw(ddl.create)),
      sql`analyze customers, products, orders, order_items`
    ]
    for (const statement of statements) await statement.execute(trx)
    return { seeded: true }
  })
}

const TABLES = ['customers', 'products', 'orders', 'order_items']
const PRODUCTS = 500
const YEAR_US = 365 * 86400 * 1_000_000
const THREE_YEARS_US = 1096 * 86400 * 1_000_000

// Masks a hash to a non-negative bigint: abs() would overflow on the one negative value it cannot negate.
const POSITIVE = sql.lit(9223372036854775807n)

const FIRST_NAMES = ['Ada', 'Bob', 'Chloé', 'Dmitri', 'Émile', 'Fatima', 'Grace', 'Hiro', 'Ingrid', 'José',
  'Kwame', 'Li', 'Mei', 'Nora', 'Olu', 'Priya', 'Quinn', 'Rosa', 'Søren', 'Zoë']
const LAST_NAMES = ["O'Brien", 'Smith', 'García', 'Müller', 'Nguyen', 'Kowalski', 'Okafor', 'Tanaka', 'Rossi',
  'Dubois', 'Singh', 'Johansson', 'Silva', 'Cohen', 'Murphy', 'Yılmaz', 'Kim', 'Ivanova', 'van der Berg', 'Smith-Jones']
const COUNTRIES = ['US', 'US', 'US', 'DE', 'DE', 'GB', 'FR', 'JP', 'BR', 'IN', 'CA', 'AU', 'NL', 'SE', 'ES', 'PL']
const TAGS = ['vip', 'b2b', 'newsletter', 'wholesale', 'net 30', 'eu, vat registered', 'said "no calls"']
// The awkward texts an encoder must survive: separators, quotes, line breaks of both kinds, a tab,
// backslashes, emoji and other scripts, surrounding blanks, and '' and 'NULL', which are not NULL.
const AWKWARD_TEXTS = [
  'Prefers email, not phone',
  'Said: "call after 5pm"',
  'O\'Brien, "Bob" - pays by invoice',
  'First line\nsecond line',
  'Windows line end\r\nsecond line',
  'Tab\tseparated',
  'Back\\slash in C:\\temp\\',
  'Gift 🎁, wrap it "nicely"\nthanks! 🙏',
  'Multi-byte: 日本語, Ελληνικά, עברית, Ümlaut',
  '  leading and trailing blanks  ',
  '{"looks": "like json", "n": 1}',
  '',
  'NULL'
]
const CURRENCIES = ['USD', 'USD', 'USD', 'EUR', 'EUR', 'GBP', 'CAD', 'AUD']
const CHANNELS = ['web', 'web', 'app', 'phone', 'partner']
const SOURCES = ['search', 'search', 'newsletter']
const CAMPAIGNS = ['spring-sale', 'black friday "doorbuster"', 'newsletter, weekly', 'référence', 'none']
const COLORS = ['red', 'green', 'blue', 'black', 'white', 'sand', 'ночной синий']
const PRODUCT_WORDS = ['Skillet', 'Kettle', 'Mug', 'Lamp', 'Chair', 'Backpack', 'Notebook', 'Scarf', 'Headphones', 'Cable']
const PRODUCT_ADJECTIVES = ['Classic', 'Compact', 'Deluxe', '12" Cast-iron', 'Eco, recycled', 'Travel', 'Pro', 'Kids\'']

// The demo tables' foreign keys, keys and other indexes, as DDL to drop them (in that order) and to
// make them again. Read from the catalog, so an index a later migration adds is deferred too.
function deferrableConstraints (): RawBuilder<{ drop: string, create: string }> {
  return sql`
    select drop, "create" from (
      select case contype when 'f' then 1 else 2 end as pass,
        format('alter table %s drop constraint %I', conrelid::regclass, conname) as drop,
        format('alter table %s add constraint %I %s', conrelid::regclass, conname, pg_get_constraintdef(oid)) as "create"
      from pg_constraint
      where contype in ('f', 'p', 'u')
        and (conrelid = any(${TABLES}::regclass[]) or confrelid = any(${TABLES}::regclass[]))
      union all
      select 3, format('drop index %s', indexrelid::regclass), pg_get_indexdef(indexrelid)
      from pg_index
      where indrelid = any(${TABLES}::regclass[])
        and not exists (select from pg_constraint where conindid = indexrelid)
    ) ddl
    order by pass, drop
  `
}

// Timestamps advance with the row number and get a deterministic jitter of up to three steps, so
// created_at order and id order mostly agree but not always, as in a real table.
function insertCustomers (customers: number): RawBuilder<unknown> {
  return sql`
    insert into customers (id, name, email, country, created_at, tags, notes) overriding system value
    select g,
      case
        when g % 37 = 0 then n.last || ', "' || n.first || '"'
        when g % 101 = 0 then n.first || ' ' || n.last || ' 🚀'
        when g % 211 = 0 then n.first || chr(10) || n.last
        else n.first || ' ' || n.last
      end,
      case when g % 23 <> 0 then
        regexp_replace(translate(lower(n.first || '.' || n.last), 'éëíüøı', 'eeiuoi'), '[^a-z.]', '', 'g')
        || g || '@example.com'
      end,
      (${COUNTRIES}::text[])[1 + (hashint8extended(g, 3) & ${POSITIVE}) % ${COUNTRIES.length}],
      timestamptz '2022-01-01 00:00:00+00' + (
        g * (${YEAR_US}::bigint / ${customers}::bigint)
        + (hashint8extended(g, 4) & ${POSITIVE}) % (3 * ${YEAR_US}::bigint / ${customers}::bigint)
      ) * interval '1 microsecond',
      case (hashint8extended(g, 5) & ${POSITIVE}) % 4
        when 0 then null
        when 1 then '{}'::text[]
        else array[(${TAGS}::text[])[1 + t.i], (${TAGS}::text[])[1 + t.j]]
      end,
      case when g % 5 = 0 then
        (${AWKWARD_TEXTS}::text[])[1 + (hashint8extended(g, 8) & ${POSITIVE}) % ${AWKWARD_TEXTS.length}]
      end
    from generate_series(1, ${customers}::int) g
    cross join lateral (select
      (${FIRST_NAMES}::text[])[1 + (hashint8extended(g, 1) & ${POSITIVE}) % ${FIRST_NAMES.length}] as first,
      (${LAST_NAMES}::text[])[1 + (hashint8extended(g, 2) & ${POSITIVE}) % ${LAST_NAMES.length}] as last
    ) n
    -- two different tags: the second is a nonzero step on from the first
    cross join lateral (select (hashint8extended(g, 6) & ${POSITIVE}) % ${TAGS.length} as i) t0
    cross join lateral (select t0.i as i,
      (t0.i + 1 + (hashint8extended(g, 7) & ${POSITIVE}) % ${TAGS.length - 1}) % ${TAGS.length} as j
    ) t
  `
}

function insertProducts (): RawBuilder<unknown> {
  return sql`
    insert into products (id, sku, name, price, attributes, created_at) overriding system value
    select g,
      'SKU-' || lpad(g::text, 5, '0'),
      (${PRODUCT_ADJECTIVES}::text[])[1 + (hashint8extended(g, 11) & ${POSITIVE}) % ${PRODUCT_ADJECTIVES.length}]
        || ' ' || (${PRODUCT_WORDS}::text[])[1 + (hashint8extended(g, 12) & ${POSITIVE}) % ${PRODUCT_WORDS.length}],
      ${productCents(sql`g`)} / 100.0,
      jsonb_build_object(
        'color', (${COLORS}::text[])[1 + (hashint8extended(g, 14) & ${POSITIVE}) % ${COLORS.length}],
        'weight_kg', round((1 + (hashint8extended(g, 15) & ${POSITIVE}) % 20000) / 1000.0, 3),
        'dimensions', jsonb_build_object('w', 5 + g % 60, 'h', 3 + g % 40, 'unit', 'cm'),
        'labels', case when g % 3 = 0 then jsonb_build_array('fragile', 'this side "up"') else '[]'::jsonb end
      ),
      timestamptz '2022-01-01 00:00:00+00' + g * interval '17 hours'
        + (hashint8extended(g, 16) & ${POSITIVE}) % 3600000000 * interval '1 microsecond'
    from generate_series(1, ${PRODUCTS}::int) g
  `
}

// Every 50th order shares created_at with the one before it, so (created_at, id) is a real
// composite key and not just created_at.
function insertOrders (orders: number, customers: number): RawBuilder<unknown> {
  return sql`
    insert into orders (id, customer_id, status, amount, currency, created_at, shipped_at, note, metadata, updated_at)
      overriding system value
    select g, 1 + (hashint8extended(g, 31) & ${POSITIVE}) % ${customers},
      s.status, t.amount,
      (${CURRENCIES}::text[])[1 + (hashint8extended(g, 33) & ${POSITIVE}) % ${CURRENCIES.length}],
      c.created_at, sh.shipped_at,
      case when (hashint8extended(g, 35) & ${POSITIVE}) % 7 = 0 then
        (${AWKWARD_TEXTS}::text[])[1 + (hashint8extended(g, 36) & ${POSITIVE}) % ${AWKWARD_TEXTS.length}]
      end,
      case when g % 40 <> 0 then
        case when g % 11 = 0 then m.metadata || jsonb_build_object('gift', true, 'gift_message',
          (${AWKWARD_TEXTS}::text[])[1 + (hashint8extended(g, 39) & ${POSITIVE}) % ${AWKWARD_TEXTS.length}])
        else m.metadata end
      end,
      -- an order last changed when it shipped, or else when it was placed
      coalesce(sh.shipped_at, c.created_at)
    from generate_series(1, ${orders}::int) g
    cross join lateral (select g - (g % 50 = 0)::int as k) d
    cross join lateral (select timestamptz '2023-01-01 00:00:00+00' + (
      d.k * (${THREE_YEARS_US}::bigint / ${orders}::bigint)
      + (hashint8extended(d.k, 32) & ${POSITIVE}) % (3 * ${THREE_YEARS_US}::bigint / ${orders}::bigint)
    ) * interval '1 microsecond' as created_at) c
    cross join lateral (select case
      when (hashint8extended(g, 30) & ${POSITIVE}) % 100 < 5 then 'pending'
      when (hashint8extended(g, 30) & ${POSITIVE}) % 100 < 35 then 'paid'
      when (hashint8extended(g, 30) & ${POSITIVE}) % 100 < 95 then 'shipped'
      else 'cancelled'
    end::order_status as status) s
    cross join lateral (select case when s.status = 'shipped' then c.created_at
      + (3600000000 + (hashint8extended(g, 34) & ${POSITIVE}) % 864000000000) * interval '1 microsecond'
    end as shipped_at) sh
    -- Building nested jsonb costs more per row than all the rest of an order: pick from a catalogue
    -- built once per statement instead.
    cross join lateral (select (
      select array_agg(jsonb_build_object(
        'channel', channel, 'utm', jsonb_build_object('source', source, 'campaign', campaign), 'gift', false
      ) order by channel, source, campaign)
      from unnest(${CHANNELS}::text[]) channel, unnest(${SOURCES}::text[]) source, unnest(${CAMPAIGNS}::text[]) campaign
    )[1 + (hashint8extended(g, 37) & ${POSITIVE}) % ${CHANNELS.length * SOURCES.length * CAMPAIGNS.length}] as metadata) m
    cross join lateral (
      select round(sum(quantity * price_cents * (10000 - coalesce(discount_bp, 0))) / 1000000.0, 2) as amount
      from ${orderLines()} l
    ) t
  `
}

function insertOrderItems (orders: number): RawBuilder<unknown> {
  return sql`
    insert into order_items (order_id, line, product_id, quantity, unit_price, discount)
    select g, l.line, l.product_id, l.quantity, l.price_cents / 100.0, l.discount_bp / 10000.0
    from generate_series(1, ${orders}::int) g
    cross join lateral ${orderLines()} l
  `
}

// The lines of order g (a column of the enclosing query), in integers: cents and basis points.
// Both the orders insert, for the amount, and the order_items insert compute them, so an order's
// amount is the sum of its lines without a 2M-row aggregate in between, and integer sums keep
// that per-order total cheap.
function orderLines (): RawBuilder<unknown> {
  return sql`(
    select line, product_id, quantity, ${productCents(sql`product_id`)} as price_cents, discount_bp
    from generate_series(1, 1 + ((hashint8extended(g, 20) & ${POSITIVE}) % 3)::int) line
    cross join lateral (select g * 4 + line as item) i
    cross join lateral (select
      1 + (hashint8extended(i.item, 21) & ${POSITIVE}) % ${PRODUCTS} as product_id,
      case when (hashint8extended(i.item, 22) & ${POSITIVE}) % 50 = 0 then 12
        else 1 + (hashint8extended(i.item, 22) & ${POSITIVE}) % 7 / 3
      end as quantity,
      case when (hashint8extended(i.item, 23) & ${POSITIVE}) % 5 = 0
        then (array[500, 1000, 1250, 3333])[1 + (hashint8extended(i.item, 24) & ${POSITIVE}) % 4]
      end as discount_bp
    ) l
  )`
}

function productCents (id: RawBuilder<unknown>): RawBuilder<unknown> {
  return sql`(1 + (hashint8extended(${id}, 13) & ${POSITIVE}) % 50000)`
}
