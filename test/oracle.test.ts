// End to end through HTTP, with PostgreSQL as the oracle: every NDJSON row parses to what
// row_to_json gives for it, every CSV body is byte for byte what COPY writes, over the demo
// reports and over a report of awkward values long enough to span many keyset pages.
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import type { FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import { copyOut } from '../harness/copy.js'
import { buildTestApp } from './helpers/app.js'
import { createAwkwardTable } from './helpers/awkward.js'
import { connect } from './helpers/db.js'
import { parseExact } from './helpers/exact.js'

const client = await connect()
const schema = `oracle_${randomBytes(6).toString('hex')}`
const dir = await mkdtemp(path.join(tmpdir(), 'sluice-oracle-'))
t.teardown(async () => {
  await client.query(`drop schema if exists ${schema} cascade`)
  await client.end()
  await rm(dir, { recursive: true, force: true })
})
const cases = await createAwkwardTable(client, schema)
const awkwardColumns = cases.map(([name]) => name).join(', ')
// 200 copies of the awkward rows: 3,400 rows, several keyset pages
const awkwardSql = `select a.id + 100 * g as id, ${awkwardColumns} from ${schema}.awkward a cross join generate_series(0, 199) g`
await writeFile(path.join(dir, 'awkward.sql'), `/*\ntitle: Awkward values\nkey: id\n*/\n${awkwardSql}\n`)
await writeFile(path.join(dir, 'awkward_named.sql'), `/*\ntitle: Awkward values, awkward names\nkey: "row id, \\"quoted\\""\n*/\nselect id as "row id, ""quoted""", t as "😀 text", ia as "line\nbreak" from ${schema}.awkward\n`)

// The demo reports, and the same rows written as plain SQL for PostgreSQL to answer.
const demo: Array<[url: string, sql: string]> = [
  ['/reports/orders', 'select id, customer_id, status, amount, currency, created_at, shipped_at, note, metadata, change_xid from orders order by id'],
  ['/reports/orders_by_status?status=shipped&since=2024-06-01T00:00:00Z',
    "select id, customer_id, status, amount, currency, created_at from orders where status = 'shipped' and created_at >= '2024-06-01T00:00:00Z' order by created_at, id"],
  ['/reports/order_lines?min_quantity=2', `select i.order_id, i.line, o.created_at as ordered_at, p.sku, p.name as product, i.quantity, i.unit_price, i.discount,
      round(i.quantity * i.unit_price * (1 - coalesce(i.discount, 0)), 2) as total
    from order_items i join orders o on o.id = i.order_id join products p on p.id = i.product_id where i.quantity >= 2 order by i.order_id, i.line`],
  ['/reports/customers', 'select id, name, email, country, created_at, tags, notes from customers order by id'],
  ['/reports/products', 'select id, sku, name, price, attributes, created_at from products order by id'],
  ['/reports/revenue_by_day', `select (created_at at time zone 'UTC')::date as day, currency, count(*) as orders, sum(amount) as revenue
    from orders where status in ('paid', 'shipped') group by 1, 2 order by 1, 2`]
]

t.test('demo reports: NDJSON is row_to_json, CSV is COPY', async (t) => {
  const { app } = await buildTestApp(t)
  for (const [url, sql] of demo) await compare(t, app, url, sql)
})

t.test('awkward values across pages: NDJSON is row_to_json, CSV is COPY with every option', async (t) => {
  const { app } = await buildTestApp(t, { reportsDir: dir })
  const sql = `select * from (${awkwardSql}) r order by id`
  await compare(t, app, '/reports/awkward', sql)
  for (const [query, copyOptions] of [
    ['header=0', 'header false'],
    ['delimiter=%3B', "header, delimiter ';'"],
    ['delimiter=%7C', "header, delimiter '|'"],
    ['delimiter=tab&header=0', "delimiter E'\\t'"]
  ] as const) {
    const res = await app.inject(`/reports/awkward.csv?${query}`)
    const expected = await copyOut(client, `copy (${sql}) to stdout with (format csv, ${copyOptions})`)
    t.ok(res.rawPayload.equals(expected), `CSV ${query} is COPY's bytes`)
  }
  const bom = await app.inject('/reports/awkward.csv?bom=1')
  const plain = await copyOut(client, `copy (${sql}) to stdout with (format csv, header)`)
  t.ok(bom.rawPayload.equals(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), plain])), 'bom=1 is a BOM, then COPY\'s bytes')
  await compare(t, app, '/reports/awkward_named', `select id as "row id, ""quoted""", t as "😀 text", ia as "line\nbreak" from ${schema}.awkward order by 1`)
})

async function compare (t: Test, app: FastifyInstance, url: string, sql: string): Promise<void> {
  const [path, query = ''] = url.split('?')
  const suffix = query === '' ? '' : `?${query}`
  const expectedJson = (await client.query<{ j: string }>({ text: `select row_to_json(r)::text as j from (${sql}) r`, types: { getTypeParser: () => (v: string) => v } })).rows.map((row) => row.j)
  t.ok(expectedJson.length > 0, `${url} has rows`)

  const ndjson = await app.inject(`${path}${suffix}`)
  t.equal(ndjson.statusCode, 200, url)
  const lines = ndjson.body.split('\n')
  t.equal(lines.pop(), '', `${url}: every NDJSON row ends in a newline`)
  t.equal(lines.length, expectedJson.length, `${url}: NDJSON has every row`)
  t.same(lines.map(parseExact), expectedJson.map(parseExact), `${url}: NDJSON rows are row_to_json's`)

  const csv = await app.inject(`${path}.csv${suffix}`)
  const copy = await copyOut(client, `copy (${sql}) to stdout with (format csv, header)`)
  t.ok(csv.rawPayload.equals(copy), `${url}: CSV is COPY's bytes`)

  const json = await app.inject(`${path}.json${suffix}`)
  const body = parseExact(json.body) as { entries: Array<[string, unknown]> }
  // a report with `changes:` ends its envelope with the sync token its header carries
  const token = json.headers['sluice-sync-token']
  t.same(body, { entries: [['rows', expectedJson.map(parseExact)], ['next', null], ...(token === undefined ? [] : [['sync_token', token]])] }, `${url}: JSON rows are row_to_json's`)
}
