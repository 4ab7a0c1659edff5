// API keys (docs/http.md section 6): hashed keys in constant time, report scopes, fixed tenant
// parameters, per-key stream caps.
import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import net from 'node:net'
import { once } from 'node:events'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t from 'tap'
import { loadKeys } from '../src/auth/keys.js'
import { buildTestApp, listenTestApp } from './helpers/app.js'
import { connect } from './helpers/db.js'
import { get, reportsFolder, waitFor } from './helpers/http.js'

const client = await connect()
const table = `tenant_rows_${randomBytes(4).toString('hex')}`
t.teardown(async () => {
  await client.query(`drop table if exists ${table}`)
  await client.end()
})
// three tenants, interleaved ids, 4,000 rows each: more than one keyset page
await client.query(`
  create table ${table} (tenant_id int not null, id bigint primary key, label text not null);
  insert into ${table} select g % 3 + 1, g, 'row ' || g || ' of tenant ' || (g % 3 + 1) from generate_series(1, 12000) g;
  create index on ${table} (tenant_id, id);
`)
const tenantReport = (strategy: string): string => `/*
title: Tenant rows (${strategy})
key: id
strategy: ${strategy}
params:
  tenant_id: { type: integer }
required: [tenant_id]
*/
select tenant_id, id, label from ${table} where tenant_id = :tenant_id
`
const dir = await reportsFolder(t, {
  'tenant_keyset.sql': tenantReport('keyset'),
  'tenant_cursor.sql': tenantReport('cursor'),
  'everything.sql': `/*\ntitle: Every tenant's rows\nkey: id\n*/\nselect tenant_id, id, label from ${table}`,
  'revenue_daily.sql': `/*\ntitle: Revenue\nkey: id\n*/\nselect 1 as id`
})

const KEYS = {
  finance: randomBytes(24).toString('base64url'),
  tenant2: randomBytes(24).toString('base64url'),
  capped: randomBytes(24).toString('base64url')
}
const sha = (key: string): string => createHash('sha256').update(key).digest('hex')
const keysDir = await mkdtemp(path.join(tmpdir(), 'sluice-keys-'))
t.teardown(() => rm(keysDir, { recursive: true, force: true }))
const keysFile = path.join(keysDir, 'keys.json')
await writeFile(keysFile, JSON.stringify([
  { id: 'finance', sha256: sha(KEYS.finance), reports: ['everything', 'revenue_*'] },
  { id: 'tenant-2', sha256: sha(KEYS.tenant2), reports: ['*'], params: { tenant_id: 2 } },
  { id: 'capped', sha256: sha(KEYS.capped).toUpperCase(), reports: ['everything'], max_streams: 1 }
]))
const bearer = (key: string): Record<string, string> => ({ authorization: `Bearer ${key}` })

t.test('no key is a 401, an unknown key is a 401, a key out of scope is a 403', async (t) => {
  const { app, logs } = await buildTestApp(t, { reportsDir: dir, apiKeysFile: keysFile })
  const none = await app.inject('/reports/everything')
  t.equal(none.statusCode, 401)
  t.equal(none.headers['www-authenticate'], 'Bearer')
  t.match(none.json(), { statusCode: 401, error: 'Unauthorized', message: /API key is required/ })
  for (const authorization of ['Bearer nope', 'Basic Zm9vOmJhcg==', 'Bearer', `Bearer ${KEYS.finance}x`, KEYS.finance]) {
    t.equal((await app.inject({ url: '/reports/everything', headers: { authorization } })).statusCode, 401, authorization.slice(0, 12))
  }
  t.equal((await app.inject({ url: '/reports/everything?limit=1', headers: bearer(KEYS.finance) })).statusCode, 200)
  t.equal((await app.inject({ url: '/reports/revenue_daily', headers: bearer(KEYS.finance) })).statusCode, 200, 'a glob matches')
  const out = await app.inject({ url: '/reports/tenant_keyset?tenant_id=1', headers: bearer(KEYS.finance) })
  t.equal(out.statusCode, 403)
  t.match(out.json<{ message: string }>().message, /may not read the report "tenant_keyset"/)
  for (const url of ['/reports', '/openapi.json', '/docs']) {
    t.equal((await app.inject(url)).statusCode, 401, `${url} needs a key`)
  }
  // the reports page names no report: its script asks GET /reports with the key entered
  for (const url of ['/', '/health', '/ready', '/metrics']) {
    t.equal((await app.inject(url)).statusCode, 200, `${url} stays open`)
  }
  const text = JSON.stringify(logs)
  for (const key of Object.values(KEYS)) {
    t.notOk(text.includes(key) || text.includes(sha(key)), 'no key nor its hash in the log')
  }
})

t.test('listings show only what the key may read', async (t) => {
  const { app } = await buildTestApp(t, { reportsDir: dir, apiKeysFile: keysFile })
  const names = async (key: string): Promise<string[]> =>
    (await app.inject({ url: '/reports', headers: bearer(key) })).json<{ reports: Array<{ name: string }> }>().reports.map((r) => r.name)
  t.same(await names(KEYS.finance), ['everything', 'revenue_daily'])
  t.same(await names(KEYS.tenant2), ['tenant_cursor', 'tenant_keyset'], 'a tenant key never reaches an unscoped report')
  // a key's own cap, for a client (the reports page) to keep within
  t.equal((await app.inject({ url: '/reports', headers: bearer(KEYS.capped) })).headers['sluice-max-streams'], '1', 'a key with max_streams is told it')
  t.equal((await app.inject({ url: '/reports', headers: bearer(KEYS.finance) })).headers['sluice-max-streams'], undefined, 'a key without has no such header')
  const openapi = (await app.inject({ url: '/openapi.json', headers: bearer(KEYS.tenant2) })).json<{ paths: Record<string, unknown>, security: unknown }>()
  t.same(Object.keys(openapi.paths).sort(), ['/links', '/reports/tenant_cursor', '/reports/tenant_keyset'], 'its reports, and POST /links')
  t.ok(openapi.security)
})

t.test('a tenant key gets exactly its tenant\'s rows, in every format and strategy', async (t) => {
  const { app } = await buildTestApp(t, { reportsDir: dir, apiKeysFile: keysFile })
  const expected = (await client.query<{ id: string }>(`select id::text from ${table} where tenant_id = 2 order by ${table}.id`)).rows.map((r) => r.id)
  t.equal(expected.length, 4000)
  for (const name of ['tenant_keyset', 'tenant_cursor']) {
    const ndjson = await app.inject({ url: `/reports/${name}`, headers: bearer(KEYS.tenant2) })
    const rows = ndjson.body.trim().split('\n').map((line) => JSON.parse(line) as { tenant_id: number, id: number })
    t.ok(rows.every((row) => row.tenant_id === 2), `${name}: only tenant 2`)
    t.same(rows.map((row) => String(row.id)), expected, `${name}: every row of tenant 2`)
    const csv = await app.inject({ url: `/reports/${name}.csv?header=0`, headers: bearer(KEYS.tenant2) })
    t.same(csv.body.trim().split('\n').map((line) => line.split(',')[1]), expected, `${name}.csv`)
    // paging with limit and after stays inside the tenant
    const paged: string[] = []
    let url: string | null = `/reports/${name}.json?limit=1500&tenant_id=2`
    while (url !== null) {
      const page: { rows: Array<{ tenant_id: number, id: number }>, next: string | null } = (await app.inject({ url, headers: bearer(KEYS.tenant2) })).json()
      t.ok(page.rows.every((row) => row.tenant_id === 2))
      paged.push(...page.rows.map((row) => String(row.id)))
      url = page.next === null ? null : new URL(page.next).pathname + new URL(page.next).search
    }
    t.same(paged, expected, `${name}.json pages`)
    const after = await app.inject({ url: `/reports/${name}?after=3&limit=2`, headers: bearer(KEYS.tenant2) })
    t.same(after.body.trim().split('\n').map((line) => (JSON.parse(line) as { id: number }).id), [4, 7], 'after a key of another tenant')
    const other = await app.inject({ url: `/reports/${name}?tenant_id=1`, headers: bearer(KEYS.tenant2) })
    t.equal(other.statusCode, 403, 'another tenant is a 403')
    t.match(other.json<{ message: string }>().message, /parameter "tenant_id" is fixed for this API key/)
    t.equal((await app.inject({ url: `/reports/${name}?tenant_id=1&tenant_id=2`, headers: bearer(KEYS.tenant2) })).statusCode, 403, 'repeating it does not help')
    t.equal((await app.inject({ url: `/reports/${name}?tenant_id=2&limit=1`, headers: bearer(KEYS.tenant2) })).statusCode, 200, 'the same value is fine')
  }
  t.equal((await app.inject({ url: '/reports/everything', headers: bearer(KEYS.tenant2) })).statusCode, 403)
})

t.test('max_streams caps one key with a 429; other keys are not affected', async (t) => {
  const big = await reportsFolder(t, {
    'everything.sql': "/*\ntitle: Wide\nkey: id\n*/\nselect g as id, repeat('x', 500) as pad from generate_series(1, 200000) g"
  })
  const { port, url } = await listenTestApp(t, { reportsDir: big, apiKeysFile: keysFile })
  const socket = net.connect(port, '127.0.0.1')
  t.teardown(() => socket.destroy())
  socket.write(`GET /reports/everything HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${KEYS.capped}\r\n\r\n`)
  await once(socket, 'data')
  socket.pause()
  const second = await get(`${url}/reports/everything?limit=1`, { headers: bearer(KEYS.capped) })
  t.equal(second.status, 429)
  t.equal(second.headers['retry-after'], '1')
  t.match(JSON.parse(second.body.toString()), { statusCode: 429, error: 'Too Many Requests', message: /max_streams \(1\)/ })
  const other = await get(`${url}/reports/everything?limit=1`, { headers: bearer(KEYS.finance) })
  t.equal(other.status, 200, 'another key still streams')
  socket.destroy()
  await waitFor(async () => (await get(`${url}/reports/everything?limit=1`, { headers: bearer(KEYS.capped) })).status === 200, { timeout: 2000, what: 'the slot comes back' })
})

t.test('a HEAD counts against max_streams as a GET does: 429 while the key runs its streams', async (t) => {
  const big = await reportsFolder(t, {
    'everything.sql': "/*\ntitle: Wide\nkey: id\n*/\nselect g as id, repeat('x', 500) as pad from generate_series(1, 200000) g"
  })
  const { app, port, url } = await listenTestApp(t, { reportsDir: big, apiKeysFile: keysFile })
  const head = (key: string): Promise<Response> => fetch(`${url}/reports/everything?limit=1`, { method: 'HEAD', headers: bearer(key) })
  t.equal((await head(KEYS.capped)).status, 200, 'with nothing running, the key\'s HEAD is answered')
  t.equal(app.streaming.streams.active, 0, 'and the HEAD gave its slot back')
  const socket = net.connect(port, '127.0.0.1')
  t.teardown(() => socket.destroy())
  socket.write(`GET /reports/everything HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${KEYS.capped}\r\n\r\n`)
  await once(socket, 'data')
  socket.pause()
  const refused = await head(KEYS.capped)
  t.equal(refused.status, 429, 'the key runs its max_streams (1): its HEAD is refused as its GET would be')
  t.equal(refused.headers.get('retry-after'), '1')
  const second = await get(`${url}/reports/everything?limit=1`, { headers: bearer(KEYS.capped) })
  t.equal(second.status, 429, 'and its GET still is: the refused HEAD took nothing')
  const other = await head(KEYS.finance)
  t.equal(other.status, 200, 'another key\'s HEAD is not affected')
  t.ok(Number(other.headers.get('x-estimated-rows')) > 0, 'and gets its estimate')
  socket.destroy()
  await waitFor(async () => (await head(KEYS.capped)).status === 200, { timeout: 2000, what: 'the key\'s HEAD answered once its stream is over' })
  await waitFor(() => app.streaming.streams.active === 0, { timeout: 1000, what: 'every slot back' })
})

t.test('a bad keys file stops the start with one line naming the problem', async (t) => {
  const cases: Array<[string, RegExp]> = [
    ['not json', /not valid JSON/],
    ['{}', /must be a non-empty JSON array/],
    ['[{"id":"a","sha256":"abc","reports":["x"]}]', /key 1 \("a"\): sha256 must be the 64 hex digits/],
    [`[{"id":"a","sha256":"${sha('k')}","reports":[]}]`, /reports must be a non-empty list/],
    [`[{"id":"a","sha256":"${sha('k')}","reports":["x"],"max_streams":0}]`, /max_streams must be a positive whole number/],
    [`[{"id":"a","sha256":"${sha('k')}","reports":["x"],"params":{"t":[1]}}]`, /params.t must be a string, number or boolean/],
    [`[{"id":"a","sha256":"${sha('k')}","reports":["x"],"role":"admin"}]`, /unknown field "role"/],
    [`[{"id":"a","sha256":"${sha('k')}","reports":["x"]},{"id":"a","sha256":"${sha('j')}","reports":["x"]}]`, /the id "a" is used twice/]
  ]
  for (const [text, message] of cases) {
    const file = path.join(keysDir, `bad-${randomBytes(3).toString('hex')}.json`)
    await writeFile(file, text)
    const error = await loadKeys(file).then(() => undefined, (e: unknown) => e as Error)
    t.match(error?.message, message, text.slice(0, 40))
    t.ok(error?.message.startsWith(`API_KEYS_FILE ${file}: `), 'the message names the file')
    t.notOk(error?.message.includes(sha('k')), 'and never a hash')
  }
  await t.rejects(loadKeys(path.join(keysDir, 'missing.json')), /cannot be read \(ENOENT\)/)
})
