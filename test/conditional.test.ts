// Conditional requests (docs/http.md section 3): a versioned report's strong ETag, Last-Modified and
// Cache-Control, and the 304 that runs the version query but not the report. That the report's
// SQL did not run is read from pg_stat_statements where the server preloads it (the embedded
// PostgreSQL of `npm test` does).
import { createHash, randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import zlib from 'node:zlib'
import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { buildTestApp, listenTestApp } from './helpers/app.js'
import { connect } from './helpers/db.js'
import { busySessions, get, poolWhole, reportsFolder, waitFor } from './helpers/http.js'

const client = await connect()
const schema = `cond_${randomBytes(6).toString('hex')}`
t.teardown(async () => {
  await client.query(`drop schema if exists ${schema} cascade`)
  await client.end()
})
// the demo migration's trigger function keeps updated_at here too
await client.query(`
  create schema ${schema};
  create table ${schema}.items (id bigint primary key, label text not null, updated_at timestamptz not null);
  create trigger touch before insert or update on ${schema}.items for each row execute function orders_touch_updated_at();
  insert into ${schema}.items (id, label) select g, 'label-' || g from generate_series(1, 500) g;
`)
const items = `${schema}.items`
// `id, label` is only in the reports' own SQL, never in a version query nor the test's updates:
// pg_stat_statements' rows of the report are the ones that hold it
const report = (strategy: string, version: string): string => `/*
title: Items
key: id
strategy: ${strategy}
${version}
params:
  min: { type: integer, default: 0 }
*/
select id, label from ${items} where id > :min
`
const dir = await reportsFolder(t, {
  'items.sql': report('keyset', 'version: select max(updated_at) from ' + items + ' where id > :min'),
  'items_cursor.sql': report('cursor', 'version: select max(updated_at) from ' + items + ' where id > :min'),
  'items_count.sql': report('keyset', 'version: select count(*) from ' + items + ' where id > :min'),
  'items_plain.sql': report('keyset', ''),
  // the version sleeps, so a test can commit a change while it runs
  'items_slow.sql': report('cursor', `version: select max(updated_at) from ${items}, pg_sleep(0.5) where id > :min`),
  // far longer than a test waits: only a cancel ends it in time
  'items_sleepy.sql': report('keyset', `version: select max(updated_at) from ${items}, pg_sleep(20) where id > :min`),
  'items_sleepy_cursor.sql': report('cursor', `version: select max(updated_at) from ${items}, pg_sleep(20) where id > :min`)
})

const statsUsable = await client.query('create extension if not exists pg_stat_statements')
  .then(async () => await client.query('select from pg_stat_statements limit 1'))
  .then(() => true, () => false)
const NO_STATS = 'pg_stat_statements is not preloaded on this server (shared_preload_libraries); the embedded PostgreSQL of `npm test` checks this'

/** How often statements naming `marker` in the reports' table have run (pg_stat_statements). */
async function calls (marker: string): Promise<number> {
  const { rows } = await client.query<{ n: number }>(
    `select coalesce(sum(calls), 0)::int as n from pg_stat_statements
     where dbid = (select oid from pg_database where datname = current_database()) and query like $1 and query like $2`,
    [`%${items}%`, `%${marker}%`])
  return rows[0]!.n
}

interface Answer { status: number, headers: Record<string, unknown>, body: Buffer }

async function ask (app: FastifyInstance, url: string, headers: Record<string, string> = {}, method: 'GET' | 'HEAD' = 'GET'): Promise<Answer> {
  const res = await app.inject({ method, url, headers })
  return { status: res.statusCode, headers: res.headers, body: res.rawPayload }
}

async function lastChange (where = ''): Promise<Date> {
  const { rows } = await client.query<{ at: Date }>(`select max(updated_at) as at from ${items} ${where}`)
  return rows[0]!.at
}

t.test('a versioned report: one strong tag for one request, Last-Modified, private, no-cache', async (t) => {
  const { app } = await buildTestApp(t, { reportsDir: dir })
  const first = await ask(app, '/reports/items')
  const second = await ask(app, '/reports/items')
  t.equal(first.status, 200)
  t.match(first.headers.etag, /^"[0-9a-f]{32}"$/, 'a strong tag (no W/)')
  t.equal(second.headers.etag, first.headers.etag, 'the same request, the same tag')
  t.ok(second.body.equals(first.body) && first.body.length > 0, 'and the same bytes')
  t.equal(first.headers['cache-control'], 'private, no-cache')
  const changed = await lastChange()
  changed.setUTCMilliseconds(0)
  t.equal(first.headers['last-modified'], changed.toUTCString(), 'Last-Modified: max(updated_at), to the second')
  const head = await ask(app, '/reports/items', {}, 'HEAD')
  t.equal(head.status, 200)
  t.equal(head.headers.etag, first.headers.etag, 'HEAD: the same ETag')
  t.equal(head.headers['last-modified'], first.headers['last-modified'], 'HEAD: the same Last-Modified')

  const counted = await ask(app, '/reports/items_count')
  t.match(counted.headers.etag, /^"[0-9a-f]{32}"$/)
  t.equal(counted.headers['last-modified'], undefined, 'a version that is no date or timestamp: no Last-Modified')
  const plain = await ask(app, '/reports/items_plain', { 'if-none-match': '*' })
  t.equal(plain.status, 200, 'a report without version never answers 304')
  t.equal(plain.headers.etag, undefined)
  t.equal(plain.headers['cache-control'], 'no-store')
})

t.test('the tag differs per parameter, option, format and content-coding', async (t) => {
  const { app } = await buildTestApp(t, { reportsDir: dir })
  const variants: Array<[string, Record<string, string>?]> = [
    ['/reports/items'], ['/reports/items?min=7'], ['/reports/items?limit=5'], ['/reports/items?after=3'],
    ['/reports/items?download=1'], ['/reports/items.csv'], ['/reports/items.csv?header=0'], ['/reports/items.csv?bom=1'],
    ['/reports/items.csv?delimiter=%3B'], ['/reports/items.json'], ['/reports/items.json?limit=5'],
    ['/reports/items', { 'accept-encoding': 'gzip' }], ['/reports/items', { 'accept-encoding': 'br' }],
    ['/reports/items', { 'accept-encoding': 'zstd' }], ['/reports/items_cursor']
  ]
  const tags = new Map<string, string>()
  for (const [url, headers] of variants) {
    const res = await ask(app, url, headers)
    t.equal(res.status, 200, url)
    tags.set(`${url} ${JSON.stringify(headers ?? {})}`, String(res.headers.etag))
  }
  t.equal(new Set(tags.values()).size, variants.length, 'every variant its own tag')
  t.equal((await ask(app, '/reports/items?min=0')).headers.etag, tags.get('/reports/items {}'), 'a parameter at its default: the same response, the same tag')
  t.equal((await ask(app, '/reports/items?format=json')).headers.etag, tags.get('/reports/items.json {}'), 'format by query or by suffix: the same tag')
  t.equal((await ask(app, '/reports/items.json?limit=5', { host: 'elsewhere.example' })).headers.etag === tags.get('/reports/items.json?limit=5 {}'), false,
    "JSON's next link names the host: another host, another tag")

  // whatever Accept-Encoding says, the tag names the coding the body really has, and HEAD agrees
  for (const accept of ['gzip', 'br', 'deflate', 'zstd', 'zstd, br, gzip', 'gzip, br, zstd', 'zstd;q=0, br', 'gzip, deflate, br', 'br;q=0, gzip', '*', 'x-gzip', 'identity', 'compress', 'gzip;q=0']) {
    const res = await ask(app, '/reports/items', { 'accept-encoding': accept })
    const coding = res.headers['content-encoding']
    const tag = String(res.headers.etag)
    t.equal(tag.match(/-(gzip|br|deflate|zstd)"$/)?.[1], coding, `Accept-Encoding: ${accept}: tag ${tag}, Content-Encoding ${String(coding)}`)
    t.match(res.headers.vary, /accept-encoding/)
    const head = await ask(app, '/reports/items', { 'accept-encoding': accept }, 'HEAD')
    t.equal(head.headers.etag, tag, `Accept-Encoding: ${accept}: HEAD names the same tag`)
  }
  const gzipped = await ask(app, '/reports/items', { 'accept-encoding': 'gzip' })
  t.ok(zlib.gunzipSync(gzipped.body).equals((await ask(app, '/reports/items')).body), 'the gzip body is the identity body, compressed')
  const zstded = await ask(app, '/reports/items', { 'accept-encoding': 'zstd' })
  t.equal(zstded.headers['content-encoding'], 'zstd')
  t.ok(zlib.zstdDecompressSync(zstded.body).equals((await ask(app, '/reports/items')).body), 'the zstd body is the identity body, compressed')
  t.equal((await ask(app, '/reports/items', { 'accept-encoding': 'zstd', 'if-none-match': String(zstded.headers.etag) })).status, 304, 'the zstd tag, asked with zstd: 304')
  t.equal((await ask(app, '/reports/items', { 'accept-encoding': 'gzip', 'if-none-match': String(zstded.headers.etag) })).status, 200, 'the zstd tag, asked with gzip: another representation, 200')
  const revalidated = await ask(app, '/reports/items', { 'accept-encoding': 'gzip', 'if-none-match': String(gzipped.headers.etag) })
  t.equal(revalidated.status, 304, 'the gzip tag, asked with gzip: 304')
  t.equal(revalidated.headers.etag, gzipped.headers.etag)
  const identity = await ask(app, '/reports/items', { 'if-none-match': String(gzipped.headers.etag) })
  t.equal(identity.status, 200, 'the gzip tag, asked without gzip: the identity body, not a 304')
  t.equal(identity.headers['content-encoding'], undefined)
})

t.test('If-None-Match and If-Modified-Since: 304, no body, and the report itself never ran', async (t) => {
  const { app } = await buildTestApp(t, { reportsDir: dir })
  for (const name of ['items', 'items_cursor']) {
    const url = `/reports/${name}?min=10`
    const full = await ask(app, url)
    const tag = String(full.headers.etag)
    const modified = String(full.headers['last-modified'])
    const before = statsUsable ? { report: await calls('id, label'), version: await calls('max(updated_at)') } : undefined
    const cases: Array<[string, Record<string, string>]> = [
      ['the tag', { 'if-none-match': tag }],
      ['a list holding the tag', { 'if-none-match': `"nope", ${tag} ,"other"` }],
      ['the tag, weak', { 'if-none-match': `W/${tag}` }],
      ['*', { 'if-none-match': '*' }],
      ['If-Modified-Since: Last-Modified', { 'if-modified-since': modified }],
      ['If-Modified-Since: later than Last-Modified', { 'if-modified-since': new Date(Date.parse(modified) + 1000).toUTCString() }]
    ]
    for (const [what, headers] of cases) {
      const res = await ask(app, url, headers)
      t.equal(res.status, 304, `${name}, ${what}: 304`)
      t.equal(res.body.length, 0, `${name}, ${what}: no body`)
      t.equal(res.headers.etag, tag, `${name}, ${what}: the ETag`)
      t.equal(res.headers['cache-control'], 'private, no-cache')
      t.equal(res.headers['content-type'], undefined, `${name}, ${what}: no Content-Type of a body not sent`)
      const head = await ask(app, url, headers, 'HEAD')
      t.equal(head.status, 304, `${name}, ${what}: HEAD 304`)
    }
    for (const [what, headers] of [
      ['another tag', { 'if-none-match': '"nope"' }],
      ['If-Modified-Since a second before Last-Modified', { 'if-modified-since': new Date(Date.parse(modified) - 1000).toUTCString() }],
      ['If-None-Match wins over a current If-Modified-Since', { 'if-none-match': '"nope"', 'if-modified-since': modified }],
      ['If-Modified-Since in the future is ignored', { 'if-modified-since': new Date(Date.now() + 86_400_000).toUTCString() }],
      ['If-Modified-Since that is no date', { 'if-modified-since': 'yesterday' }]
    ] as Array<[string, Record<string, string>]>) {
      const res = await ask(app, url, headers)
      t.equal(res.status, 200, `${name}, ${what}: 200`)
      t.ok(res.body.equals(full.body), `${name}, ${what}: the whole body`)
    }
    await t.test(`${name}: the report's statements did not run for the 304s`, { skip: before === undefined ? NO_STATS : false }, async (t) => {
      const counted = before!
      const after = { report: await calls('id, label'), version: await calls('max(updated_at)') }
      // five 200s above ran the report; each 304 (GET and HEAD) ran only the version
      const one = await calls('id, label')
      await ask(app, url, { 'if-none-match': tag })
      await ask(app, url, { 'if-modified-since': modified }, 'HEAD')
      t.equal(await calls('id, label'), one, `${name}: a 304 runs no statement of the report (pg_stat_statements)`)
      t.ok(after.report > counted.report, `${name}: the 200s did run it (${counted.report} -> ${after.report} calls)`)
      t.ok(after.version >= counted.version + 2 * cases.length + 5, `${name}: every request ran the version query (${counted.version} -> ${after.version})`)
    })
  }
  t.equal(app.streaming.streams.active, 0, 'no stream slot is left taken')
  t.ok(poolWhole(app), 'every lease is back in the pool')
  const metrics = await app.inject('/metrics')
  t.match(metrics.body, /sluice_streams_ended_total\{report="items",format="ndjson",strategy="keyset",outcome="not_modified"\} [1-9]/, 'the 304s are counted, outcome not_modified')
})

t.test('an API key: its fixed parameters are in the tag, and a 304 gives its stream back', async (t) => {
  const keysDir = await reportsFolder(t, {})
  const apiKeysFile = path.join(keysDir, 'keys.json')
  const hash = (key: string): string => createHash('sha256').update(key).digest('hex')
  await writeFile(apiKeysFile, JSON.stringify([
    { id: 'one-stream', sha256: hash('k-one-stream-0123456789'), reports: ['items'], max_streams: 1 },
    { id: 'tenant', sha256: hash('k-tenant-0123456789abc'), reports: ['items'], params: { min: 400 } }
  ]))
  const { app } = await buildTestApp(t, { reportsDir: dir, apiKeysFile })
  const one = { authorization: 'Bearer k-one-stream-0123456789' }
  const tenant = { authorization: 'Bearer k-tenant-0123456789abc' }
  const full = await ask(app, '/reports/items', one)
  for (let i = 0; i < 3; i++) t.equal((await ask(app, '/reports/items', { ...one, 'if-none-match': String(full.headers.etag) })).status, 304)
  t.equal((await ask(app, '/reports/items', one)).status, 200, 'after three 304s the key with max_streams 1 still streams')
  const scoped = await ask(app, '/reports/items', tenant)
  t.not(scoped.headers.etag, full.headers.etag, "the tenant's fixed min: another tag")
  t.equal(scoped.headers.etag, (await ask(app, '/reports/items?min=400', one)).headers.etag, 'the same as asking for that min')
  // below the tenant's min: its version does not move
  await client.query(`update ${items} set label = label where id = 5`)
  t.equal((await ask(app, '/reports/items', { ...tenant, 'if-none-match': String(scoped.headers.etag) })).status, 304, "a change outside the tenant's rows: still 304")
  t.equal((await ask(app, '/reports/items', { ...one, 'if-none-match': String(full.headers.etag) })).status, 200, 'inside the whole report: 200')
})

t.test('a BI tool polls: three polls with If-None-Match, one change, two full bodies', async (t) => {
  const { app } = await buildTestApp(t, { reportsDir: dir })
  for (const name of ['items', 'items_cursor']) {
    const url = `/reports/${name}.csv`
    let etag: string | undefined
    let bodies = 0
    const reportCalls = statsUsable ? await calls('id, label') : 0
    const poll = async (): Promise<void> => {
      const res = await ask(app, url, etag === undefined ? {} : { 'if-none-match': etag })
      if (res.status === 200) {
        t.ok(res.body.length > 0)
        bodies++
        etag = String(res.headers.etag)
      } else {
        t.equal(res.status, 304)
        t.equal(res.body.length, 0)
      }
    }
    await poll()
    const perDownload = statsUsable ? await calls('id, label') - reportCalls : 0
    await poll()
    await client.query(`update ${items} set label = label || '!' where id = 250`)
    await poll()
    await poll()
    t.equal(bodies, 2, `${name}: the first download, and one after the change`)
    await t.test(`${name}: the report's SQL ran for the two downloads only`, { skip: statsUsable ? false : NO_STATS }, async (t) => {
      t.equal(await calls('id, label') - reportCalls, 2 * perDownload, `${name}: the report's SQL ran for those two only`)
    })
  }
})

t.test('a demo order that changes moves the tags of orders and of revenue_by_day (a cursor report)', async (t) => {
  const { app } = await buildTestApp(t)
  const urls = ['/reports/orders?limit=3', '/reports/revenue_by_day?since=2025-01-01']
  const before = await Promise.all(urls.map(async (url) => await ask(app, url)))
  for (const [i, url] of urls.entries()) {
    t.equal(before[i]!.status, 200, url)
    t.equal((await ask(app, url, { 'if-none-match': String(before[i]!.headers.etag) })).status, 304, `${url}: unchanged, 304`)
  }
  // a no-op update: nothing but updated_at moves, which the trigger does
  const { rows: [touched] } = await client.query<{ updated_at: Date }>('update orders set note = note where id = (select max(id) from orders) returning updated_at')
  for (const [i, url] of urls.entries()) {
    const after = await ask(app, url, { 'if-none-match': String(before[i]!.headers.etag) })
    t.equal(after.status, 200, `${url}: an order changed, 200`)
    t.not(after.headers.etag, before[i]!.headers.etag, `${url}: another tag`)
    touched!.updated_at.setUTCMilliseconds(0)
    t.equal(after.headers['last-modified'], touched!.updated_at.toUTCString(), `${url}: Last-Modified is that change`)
  }
})

t.test("a cursor report's version and rows come from one snapshot", async (t) => {
  const { url: base, applicationName } = await listenTestApp(t, { reportsDir: dir })
  const url = `${base}/reports/items_slow.csv?min=490`
  const response = get(url)
  // the version query is sleeping: commit a change now, before the cursor is declared
  await waitFor(async () => (await busySessions(client, applicationName)).some((s) => s.query.includes('pg_sleep')), { timeout: 5000, what: 'the version query to run' })
  await client.query(`update ${items} set label = 'changed while the version ran' where id = 495`)
  const old = await response
  t.equal(old.status, 200)
  t.notMatch(old.body.toString(), /changed while the version ran/, 'the rows are those of the version\'s snapshot')
  const fresh = await get(url, { headers: { 'if-none-match': String(old.headers.etag) } })
  t.equal(fresh.status, 200, 'the change is a new version: the old tag does not match')
  t.match(fresh.body.toString(), /changed while the version ran/)
})

t.test('a version query that times out is a 504, and gives back what it took', async (t) => {
  const { app } = await buildTestApp(t, { reportsDir: dir, statementTimeoutMs: 100 })
  for (const method of ['GET', 'HEAD'] as const) {
    const res = await ask(app, '/reports/items_slow', {}, method)
    t.equal(res.status, 504, `${method}: 504`)
    t.equal(res.headers.etag, undefined, `${method}: an error carries no tag`)
    t.equal(res.headers['cache-control'], 'no-store')
  }
  t.equal(app.streaming.streams.active, 0)
  await waitFor(() => poolWhole(app), { timeout: 2000, what: 'the pool to be whole' })
})

t.test('the OpenAPI document shows ETag and 304 for versioned reports only', async (t) => {
  const { app } = await buildTestApp(t, { reportsDir: dir })
  interface Get { parameters: Array<{ name: string, in: string }>, responses: Record<string, { headers?: Record<string, unknown> }> }
  const { paths } = (await app.inject('/openapi.json')).json<{ paths: Record<string, { get: Get }> }>()
  const items = paths['/reports/items']!.get
  t.ok(items.responses['304'], 'items: a 304 response')
  t.same(Object.keys(items.responses['200']!.headers ?? {}), ['ETag', 'Last-Modified', 'Cache-Control'])
  t.same(items.parameters.filter((p) => p.in === 'header').map((p) => p.name), ['If-None-Match', 'If-Modified-Since'])
  t.same(Object.keys(paths['/reports/items_count']!.get.responses['304']!.headers ?? {}), ['ETag', 'Cache-Control'], 'a count: no Last-Modified')
  const plain = paths['/reports/items_plain']!.get
  t.equal(plain.responses['304'], undefined, 'no version: no 304')
  t.equal(plain.responses['200']!.headers, undefined)
  t.same(plain.parameters.filter((p) => p.in === 'header'), [])
})

t.test('a client that leaves while the version query runs: it is cancelled, and everything is given back', async (t) => {
  const { app, url, applicationName } = await listenTestApp(t, { reportsDir: dir })
  for (const name of ['items_sleepy', 'items_sleepy_cursor.csv']) {
    const running = waitFor(async () => (await busySessions(client, applicationName)).some((s) => s.query.includes('pg_sleep')), { timeout: 5000, what: 'the version query to run' })
    const res = await get(`${url}/reports/${name}`, { until: running })
    t.equal(res.status, 0, `${name}: left before any answer`)
    await waitFor(async () => (await busySessions(client, applicationName)).length === 0, { timeout: 2000, what: 'the version query to be cancelled' })
    await waitFor(() => poolWhole(app) && app.streaming.streams.active === 0, { timeout: 2000, what: 'the lease and the stream slot to be back' })
    t.pass(`${name}: the version query was cancelled, its lease and slot are back`)
  }
})
