import t from 'tap'
import { buildTestApp } from './helpers/app.js'

t.test('GET /reports lists every report with its columns from the database', async (t) => {
  const { app } = await buildTestApp(t)
  const res = await app.inject('/reports')
  t.equal(res.statusCode, 200)
  const { reports } = res.json<{ reports: Array<Record<string, unknown>> }>()
  const names = reports.map((r) => r.name)
  t.ok(['orders', 'orders_by_status', 'order_lines', 'customers', 'revenue_by_day'].every((name) => names.includes(name)))
  const orders = reports.find((r) => r.name === 'orders')!
  t.same(orders.key, ['id'])
  t.equal(orders.strategy, 'keyset')
  t.same(orders.formats, ['ndjson', 'csv', 'json', 'xlsx', 'parquet', 'arrow'])
  t.same((orders.columns as unknown[]).slice(0, 4), [
    { name: 'id', type: 'bigint' }, { name: 'customer_id', type: 'bigint' },
    { name: 'status', type: 'order_status' }, { name: 'amount', type: 'numeric(12,2)' }
  ])
  const byStatus = reports.find((r) => r.name === 'orders_by_status')!
  t.same(byStatus.key, ['created_at', 'id'])
  t.same(byStatus.params, {
    type: 'object',
    properties: {
      status: { type: 'string', enum: ['pending', 'paid', 'shipped', 'cancelled'] },
      since: { type: 'string', format: 'date-time', default: '2020-01-01T00:00:00Z' }
    },
    required: ['status'],
    additionalProperties: false
  })
  t.equal(reports.find((r) => r.name === 'revenue_by_day')!.strategy, 'cursor')
})

t.test('format negotiation: suffix, then format=, then Accept, then NDJSON', async (t) => {
  const { app } = await buildTestApp(t)
  const type = async (url: string, accept?: string): Promise<string | undefined> => {
    const res = await app.inject({ url, headers: accept === undefined ? {} : { accept } })
    t.equal(res.statusCode, 200, `${url} ${accept ?? ''}`)
    return res.headers['content-type']
  }
  t.equal(await type('/reports/orders?limit=1'), 'application/x-ndjson')
  t.equal(await type('/reports/orders.csv?limit=1'), 'text/csv; charset=utf-8')
  t.equal(await type('/reports/orders.json?limit=1'), 'application/json')
  t.equal(await type('/reports/orders.ndjson?limit=1&format=csv'), 'application/x-ndjson', 'suffix beats format=')
  t.equal(await type('/reports/orders?limit=1&format=json', 'text/csv'), 'application/json', 'format= beats Accept')
  t.equal(await type('/reports/orders?limit=1', 'text/csv'), 'text/csv; charset=utf-8')
  t.equal(await type('/reports/orders?limit=1', 'application/json;q=0.5, text/csv;q=0.9'), 'text/csv; charset=utf-8', 'highest q wins')
  t.equal(await type('/reports/orders?limit=1', 'text/html,application/xhtml+xml,*/*;q=0.8'), 'application/x-ndjson', 'a browser gets NDJSON')

  for (const [url, accept] of [['/reports/orders.xml', undefined], ['/reports/orders?format=xls', undefined], ['/reports/orders', 'text/html'], ['/reports/orders', 'text/csv;q=0']]) {
    const res = await app.inject({ url: url!, headers: accept === undefined ? {} : { accept } })
    t.equal(res.statusCode, 406, `${url} ${accept ?? ''}`)
    t.match(res.json(), { statusCode: 406, error: 'Not Acceptable', message: /ndjson|csv|json/ })
  }
})

t.test('report responses carry the headers docs/http.md promises', async (t) => {
  const { app } = await buildTestApp(t)
  const csv = await app.inject('/reports/orders.csv?limit=2')
  t.equal(csv.headers['content-disposition'], 'attachment; filename="orders.csv"')
  // orders declares a version: its copies may be kept, and revalidated (test/conditional.test.ts)
  t.equal(csv.headers['cache-control'], 'private, no-cache')
  t.match(csv.headers['x-request-id'], /^[\w-]{8,}$/)

  const ndjson = await app.inject('/reports/orders?limit=2')
  t.equal(ndjson.headers['content-disposition'], undefined, 'NDJSON is shown inline unless asked')
  t.equal((await app.inject('/reports/customers?limit=2')).headers['cache-control'], 'no-store', 'a report without version: no-store')
  const download = await app.inject('/reports/orders.json?limit=2&download=1')
  t.equal(download.headers['content-disposition'], 'attachment; filename="orders.json"')

  const traced = await app.inject({ url: '/reports/orders?limit=1', headers: { 'x-request-id': 'trace-123' } })
  t.equal(traced.headers['x-request-id'], 'trace-123', 'a sane incoming request id is kept')
  const hostile = await app.inject({ url: '/reports/orders?limit=1', headers: { 'x-request-id': 'a b\nc' } })
  t.not(hostile.headers['x-request-id'], 'a b\nc')
})

t.test('limit, header, bom and delimiter shape the body', async (t) => {
  const { app } = await buildTestApp(t)
  const lines = (await app.inject('/reports/orders?limit=3')).body.split('\n')
  t.equal(lines.length, 4, 'three rows, each ending in a newline')
  t.equal(lines[3], '')
  t.same(lines.slice(0, 3).map((line) => (JSON.parse(line) as { id: number }).id), [1, 2, 3])

  const csv = (await app.inject('/reports/orders.csv?limit=2')).rawPayload
  t.ok(csv.toString().startsWith('id,customer_id,status,'))
  const headless = (await app.inject('/reports/orders.csv?limit=2&header=0')).body
  t.ok(headless.startsWith('1,'))
  const bom = (await app.inject('/reports/orders.csv?limit=2&bom=1')).rawPayload
  t.same([...bom.subarray(0, 3)], [0xef, 0xbb, 0xbf])
  t.same(bom.subarray(3), csv)
  const tab = (await app.inject('/reports/orders.csv?limit=2&delimiter=tab')).body
  t.ok(tab.startsWith('id\tcustomer_id\tstatus\t'))
  const semi = (await app.inject('/reports/orders.csv?limit=2&delimiter=%3B')).body
  t.ok(semi.startsWith('id;customer_id;status;'))

  const json = (await app.inject('/reports/orders.json?limit=2')).json<{ rows: Array<{ id: number }>, next: string | null }>()
  t.same(json.rows.map((row) => row.id), [1, 2])
  t.match(json.next, /\/reports\/orders\.json\?limit=2&after=2$/)
})

t.test('the JSON format is whole and links on at every limit, batch edges included', async (t) => {
  const { app } = await buildTestApp(t)
  for (const limit of [1, 99, 100, 101, 199, 200, 1000, 1500, 4321]) {
    const res = await app.inject(`/reports/orders.json?limit=${limit}`)
    const body = JSON.parse(res.body) as { rows: Array<{ id: number }>, next: string | null }
    t.equal(body.rows.length, limit, `limit=${limit}: rows`)
    t.equal(body.rows.at(-1)?.id, limit, `limit=${limit}: the last row`)
    t.match(body.next, new RegExp(`after=${limit}$`), `limit=${limit}: next resumes after the last row`)
  }
  const all = JSON.parse((await app.inject('/reports/orders.json?limit=20000')).body) as { rows: unknown[], next: string | null }
  t.equal(all.rows.length, 20000)
  t.equal(all.next, null, 'a limit that takes every row has no next')
})

t.test('an error body is never offered as the report file', async (t) => {
  const { app } = await buildTestApp(t)
  const res = await app.inject('/reports/orders.csv?limit=0')
  t.equal(res.statusCode, 400)
  t.equal(res.headers['content-disposition'], undefined)
  t.match(res.headers['content-type'], /^application\/json/)
})

t.test('bad input is a 400 that names what was wrong', async (t) => {
  const { app } = await buildTestApp(t)
  const cases: Array<[string, RegExp]> = [
    ['/reports/orders?colour=red', /unknown parameter "colour"/],
    ['/reports/orders_by_status', /missing required parameter "status"/],
    ['/reports/orders_by_status?status=lost', /parameter "status" must be equal to one of the allowed values: pending, paid, shipped, cancelled/],
    ['/reports/orders_by_status?status=paid&since=yesterday', /parameter "since" must match format "date-time"/],
    ['/reports/orders?limit=0', /parameter "limit" must be >= 1/],
    ['/reports/orders?limit=ten', /parameter "limit" must be integer/],
    ['/reports/orders?limit=1&limit=2', /parameter "limit"/],
    ['/reports/products?limit=100001', /parameter "limit" must be <= 100000/],
    ['/reports/orders.csv?delimiter=x', /parameter "delimiter" must be equal to one of the allowed values/],
    ['/reports/orders?download=yes', /parameter "download"/],
    ['/reports/orders?after=abc', /after: invalid input syntax for type bigint: "abc"/],
    ['/reports/orders?after=99999999999999999999', /after: value "99999999999999999999" is out of range for type bigint/],
    ['/reports/orders_by_status?status=paid&after=5', /after must be a JSON array of 2 key values/],
    ['/reports/orders_by_status?status=paid&after=[1]', /after must hold 2 key values, got 1/],
    ['/reports/orders_by_status?status=paid&after=["not a time",1]', /after: invalid input syntax for type timestamp with time zone/],
    ['/reports/customers?country=France', /parameter "country" must NOT have more than 2 characters/]
  ]
  for (const [url, message] of cases) {
    const res = await app.inject(url)
    t.equal(res.statusCode, 400, url)
    t.match(res.json(), { statusCode: 400, error: 'Bad Request', message }, url)
  }
})

t.test('unknown reports and routes are a 404 naming them', async (t) => {
  const { app } = await buildTestApp(t)
  for (const url of ['/reports/nope', '/reports/nope.csv', '/reports/orders/extra']) {
    const res = await app.inject(url)
    t.equal(res.statusCode, 404, url)
    t.equal(res.json<{ error: string }>().error, 'Not Found')
  }
  t.match((await app.inject('/reports/nope.csv')).json<{ message: string }>().message, /no report named "nope"/)
})

t.test('report parameters reach the query as values', async (t) => {
  const { app } = await buildTestApp(t)
  const rows = (await app.inject('/reports/orders_by_status?status=cancelled&since=2024-01-01T00:00:00Z&limit=500')).body
    .trim().split('\n').map((line) => JSON.parse(line) as { status: string, created_at: string })
  t.ok(rows.length > 0)
  t.ok(rows.every((row) => row.status === 'cancelled' && row.created_at >= '2024-01-01'))
  const sorted = [...rows].sort((a, b) => a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : 0)
  t.same(rows, sorted, 'rows come in key order')

  const customers = (await app.inject('/reports/customers.json?country=DE&limit=50')).json<{ rows: Array<{ country: string }> }>()
  t.ok(customers.rows.length > 0)
  t.ok(customers.rows.every((row) => row.country === 'DE'))
})

t.test('HEAD answers the headers and the planner estimate without running the report', async (t) => {
  const { app } = await buildTestApp(t)
  const res = await app.inject({ method: 'HEAD', url: '/reports/orders.csv' })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['content-type'], 'text/csv; charset=utf-8')
  t.equal(res.headers['content-disposition'], 'attachment; filename="orders.csv"')
  t.equal(res.body, '')
  const estimate = Number(res.headers['x-estimated-rows'])
  t.ok(estimate > 10_000 && estimate < 40_000, `the estimate ${estimate} is near the 20,000 seeded orders`)
  const limited = await app.inject({ method: 'HEAD', url: '/reports/orders?limit=10' })
  t.equal(limited.headers['x-estimated-rows'], '10')
  t.equal((await app.inject({ method: 'HEAD', url: '/reports/orders?colour=red' })).statusCode, 400)
})

t.test('/health and /ready', async (t) => {
  const { app } = await buildTestApp(t)
  t.equal((await app.inject('/health')).statusCode, 200)
  const ready = await app.inject('/ready')
  t.equal(ready.statusCode, 200)
  t.same(ready.json(), { status: 'ready' })
})
