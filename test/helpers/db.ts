import { randomBytes } from 'node:crypto'
import pg from 'pg'

/** The database the tests run against: set by `npm test` (test/run.ts), or by hand. */
export function testDatabaseUrl (): string {
  const url = process.env.TEST_DATABASE_URL
  if (url === undefined || url === '') {
    throw new Error('TEST_DATABASE_URL is not set: run the tests with `npm test`')
  }
  return url
}

/** A plain pg client for the test's own checks (fixtures, pg_stat_activity, oracles). */
export async function connect (): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: testDatabaseUrl(), application_name: 'sluice-test' })
  await client.connect()
  await client.query("set timezone = 'UTC'; set datestyle = 'ISO'")
  return client
}

/** Runs `use` with a client of its own on `connectionString`, closed afterwards. */
export async function withClient<T> (connectionString: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString })
  await client.connect()
  try {
    return await use(client)
  } finally {
    await client.end()
  }
}

/**
 * A client and a table name of this test file's own (`<prefix>_<random>`), dropped at the end
 * with its `<name>_nap` function if the test made one: files run in parallel on one database.
 */
export async function scratchTable (t: { teardown (fn: () => unknown): void }, prefix: string): Promise<{ client: pg.Client, table: string }> {
  const table = `${prefix}_${randomBytes(4).toString('hex')}`
  const client = await connect()
  t.teardown(async () => {
    await client.query(`drop table if exists ${table}; drop function if exists ${table}_nap`)
    await client.end()
  })
  return { client, table }
}

/**
 * A scratch table of `rows` rows of five columns (id key, text with commas and quotes now and
 * then, numeric, timestamptz, bool), analyzed: what the crowd tests download many times at once.
 */
export async function rowsTable (t: { teardown (fn: () => unknown): void }, prefix: string, rows: number): Promise<{ client: pg.Client, table: string }> {
  const scratch = await scratchTable(t, prefix)
  await scratch.client.query(`
    create table ${scratch.table} (id bigint primary key, label text not null, amount numeric(12,2), at timestamptz not null, flag bool);
    insert into ${scratch.table}
    select g, 'row ' || g || case when g % 7 = 0 then ', "quoted"' else '' end, round((g * 37 % 100000) / 100.0, 2),
      timestamptz '2026-01-01 00:00:00+00' + g * interval '1 minute', g % 3 = 0
    from generate_series(1, ${rows}) g;
    analyze ${scratch.table};
  `)
  return scratch
}
