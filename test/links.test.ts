// Signed links (docs/http.md section 6): minted by POST /links, good without a header until they
// expire, with exactly the rights of the key that signed them; any change, an expired link or a
// removed key is a 403 saying which; the signature never reaches the log.
import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import http from 'node:http'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t from 'tap'
import { loadKeys } from '../src/auth/keys.js'
import { signLink } from '../src/auth/links.js'
import { buildTestApp, listenTestApp } from './helpers/app.js'
import { scratchTable } from './helpers/db.js'
import { reportsFolder } from './helpers/http.js'

const { client, table } = await scratchTable(t, 'link_rows')
await client.query(`create table ${table} as select g % 2 + 1 as tenant_id, g as id, 'row ' || g as label from generate_series(1, 3000) g;
  alter table ${table} add primary key (id)`)
const reportsDir = await reportsFolder(t, {
  'rows.sql': `/*\ntitle: Rows\nkey: id\n*/\nselect tenant_id, id, label from ${table}`,
  'tenant_rows.sql': `/*\ntitle: Tenant rows\nkey: id\nparams:\n  tenant_id: { type: integer }\n  label: { type: string, default: row }\nrequired: [tenant_id]\n*/\nselect tenant_id, id, label from ${table} where tenant_id = :tenant_id and label like :label || '%'`,
  'secret_rows.sql': `/*\ntitle: Not for links\nkey: id\n*/\nselect id from ${table}`
})
const KEYS = { rows: randomBytes(24).toString('base64url'), tenant: randomBytes(24).toString('base64url') }
const sha = (key: string): string => createHash('sha256').update(key).digest('hex')
const keysDir = await mkdtemp(path.join(tmpdir(), 'sluice-links-'))
t.teardown(() => rm(keysDir, { recursive: true, force: true }))
const keysFile = path.join(keysDir, 'keys.json')
await writeFile(keysFile, JSON.stringify([
  { id: 'rows', sha256: sha(KEYS.rows), reports: ['rows', 'tenant_*'], max_streams: 1 },
  { id: 'tenant', sha256: sha(KEYS.tenant), reports: ['tenant_*'], params: { tenant_id: 2 } }
]))
const withoutTenant = path.join(keysDir, 'without-tenant.json')
await writeFile(withoutTenant, JSON.stringify([{ id: 'rows', sha256: sha(KEYS.rows), reports: ['*'] }]))
const linkSecret = randomBytes(32)
const bearer = (key: string) => ({ authorization: `Bearer ${key}` })

t.test('POST /links is a 404 without API keys', async (t) => {
  const { app } = await buildTestApp(t, { reportsDir })
  t.equal((await app.inject({ method: 'POST', url: '/links', payload: { path: '/reports/rows.csv' } })).statusCode, 404)
})

t.test('a minted link downloads without a header what the key downloads, until it expires', async (t) => {
  const { app, logs } = await buildTestApp(t, { reportsDir, apiKeysFile: keysFile, linkSecret })
  const before = Date.now()
  const minted = await app.inject({ method: 'POST', url: '/links', headers: { ...bearer(KEYS.rows), host: 'sluice.example:8080' }, payload: { path: '/reports/rows.csv?limit=500', ttl: 600 } })
  t.equal(minted.statusCode, 201, minted.body)
  const { url, expires } = minted.json<{ url: string, expires: string }>()
  const link = new URL(url)
  t.equal(link.origin, 'http://sluice.example:8080', 'an absolute URL on the host asked')
  t.strictSame([...link.searchParams.keys()].sort(), ['expires', 'key_id', 'limit', 'signature'])
  t.equal(link.searchParams.get('key_id'), 'rows')
  t.ok(Math.abs(Date.parse(expires) - (before + 600_000)) < 2000, 'expires in ttl seconds')
  t.equal(Number(link.searchParams.get('expires')) * 1000, Date.parse(expires), 'the same time in the URL and the answer')

  const viaLink = await app.inject(link.pathname + link.search)
  const viaKey = await app.inject({ url: '/reports/rows.csv?limit=500', headers: bearer(KEYS.rows) })
  t.equal(viaLink.statusCode, 200)
  t.ok(viaLink.rawPayload.equals(viaKey.rawPayload), 'the same bytes as with the key')
  t.equal(viaLink.body.split('\n').length - 2, 500)
  t.equal((await app.inject({ method: 'HEAD', url: link.pathname + link.search })).statusCode, 200, 'HEAD too')

  const reordered = `${link.pathname}?signature=${link.searchParams.get('signature')}&key_id=rows&limit=500&expires=${link.searchParams.get('expires')}`
  t.equal((await app.inject(reordered)).statusCode, 200, 'the parameters in another order are the same link')
  const spelled = `${link.pathname.replace('/reports/', '/%72eports/')}${link.search}`
  t.equal((await app.inject(spelled)).statusCode, 200, 'and so is another spelling of the path')

  const signature = link.searchParams.get('signature')!
  t.notOk(JSON.stringify(logs).includes(signature), 'the signature is in no log line')
  t.ok(logs.some((line) => JSON.stringify(line).includes('signature=[redacted]')), 'the request is logged, its signature redacted')

  // minted long ago for an hour: the same code path, with the clock moved
  const stale = signLink(linkSecret, (await loadKeys(keysFile))[0]!, '/reports/rows.csv', 3600, Date.now() - 7200_000)
  const expired = await app.inject(stale.path)
  t.equal(expired.statusCode, 403)
  t.match(expired.json<{ message: string }>().message, /expired at /)
})

t.test('any change to a link is a 403 that says so', async (t) => {
  const { app } = await buildTestApp(t, { reportsDir, apiKeysFile: keysFile, linkSecret })
  const minted = await app.inject({ method: 'POST', url: '/links', headers: bearer(KEYS.rows), payload: { path: '/reports/tenant_rows.csv?tenant_id=1&label=row%201' } })
  const link = new URL(minted.json<{ url: string }>().url)
  t.equal((await app.inject(link.pathname + link.search)).statusCode, 200)
  const changed = (edit: (url: URL) => void): string => {
    const copy = new URL(link)
    edit(copy)
    return copy.pathname + copy.search
  }
  for (const [what, url] of [
    ['the path', changed((u) => { u.pathname = '/reports/rows.csv' })],
    ['the format', changed((u) => { u.pathname = '/reports/tenant_rows.ndjson' })],
    ['a parameter', changed((u) => u.searchParams.set('tenant_id', '2'))],
    ['a parameter added', changed((u) => u.searchParams.set('limit', '10'))],
    ['a parameter removed', changed((u) => u.searchParams.delete('label'))],
    ['expires', changed((u) => u.searchParams.set('expires', String(Number(u.searchParams.get('expires')) + 3600)))],
    ['key_id', changed((u) => u.searchParams.set('key_id', 'tenant'))],
    ['the signature', changed((u) => u.searchParams.set('signature', randomBytes(32).toString('base64url')))]
  ] as const) {
    const res = await app.inject(url)
    t.equal(res.statusCode, 403, `${what} changed: 403`)
    t.match(res.json<{ message: string }>().message, /was changed: its path or parameters are not the ones signed/, `${what} changed: says so`)
  }
  const twice = await app.inject(`${link.pathname}${link.search}&signature=x`)
  t.equal(twice.statusCode, 403)
  t.match(twice.json<{ message: string }>().message, /once each/)
})

t.test('a link has exactly its key\'s rights', async (t) => {
  const { app, url: base } = await listenTestApp(t, { reportsDir, apiKeysFile: keysFile, linkSecret })
  const mint = async (key: string, path: string) => await app.inject({ method: 'POST', url: '/links', headers: bearer(key), payload: { path } })
  t.equal((await mint(KEYS.rows, '/reports/secret_rows.csv')).statusCode, 403, 'no link for a report outside the key\'s globs')
  t.equal((await mint(KEYS.tenant, '/reports/tenant_rows.csv?tenant_id=1')).statusCode, 201, 'a link may be minted with another tenant\'s value...')
  const other = new URL((await mint(KEYS.tenant, '/reports/tenant_rows.csv?tenant_id=1')).json<{ url: string }>().url)
  const refused = await app.inject(other.pathname + other.search)
  t.equal(refused.statusCode, 403, '...but it reads no other tenant\'s rows')
  t.match(refused.json<{ message: string }>().message, /fixed for this API key/)
  const own = new URL((await mint(KEYS.tenant, '/reports/tenant_rows.ndjson')).json<{ url: string }>().url)
  const rows = (await app.inject(own.pathname + own.search)).body.trim().split('\n').map((line) => JSON.parse(line) as { tenant_id: number })
  t.equal(rows.length, 1500)
  t.ok(rows.every((row) => row.tenant_id === 2), 'the key\'s fixed tenant, with no parameter in the link')

  // max_streams 1: a stream held open through the link leaves no room for a second one
  const capped = new URL((await mint(KEYS.rows, '/reports/rows.csv')).json<{ url: string }>().url)
  const held = await new Promise<http.IncomingMessage>((resolve, reject) => http.get(`${base}${capped.pathname}${capped.search}`, { agent: false }, resolve).on('error', reject))
  held.pause()
  t.equal(held.statusCode, 200)
  const second = await app.inject(capped.pathname + capped.search)
  t.equal(second.statusCode, 429, 'the key\'s max_streams holds for its links')
  held.destroy()

  t.equal((await app.inject({ method: 'POST', url: `/links${capped.search}`, payload: { path: '/reports/rows.csv' } })).statusCode, 401, 'a link cannot mint another')
  for (const [payload, message] of [
    [{ path: '/health' }, /must be a report URL/],
    [{ path: '/reports/rows.csv?signature=x' }, /must not carry "signature"/],
    [{ path: '/reports/nope.csv' }, /no report named "nope"/],
    [{ path: '/reports/%E0%A4%A.csv' }, /bad percent-encoding/],
    [{ path: '/reports/rows.csv', ttl: 2_592_001 }, /ttl/],
    [{ path: '/reports/rows.csv', extra: 1 }, /unknown|extra|additional/]
  ] as const) {
    const res = await app.inject({ method: 'POST', url: '/links', headers: bearer(KEYS.rows), payload })
    t.equal(res.statusCode, 400, JSON.stringify(payload))
    t.match(res.json<{ message: string }>().message, message)
  }
})

t.test('a link minted on one instance works on another with the same LINK_SECRET', async (t) => {
  const first = await buildTestApp(t, { reportsDir, apiKeysFile: keysFile, linkSecret })
  const same = await buildTestApp(t, { reportsDir, apiKeysFile: keysFile, linkSecret: Buffer.from(linkSecret) })
  const otherSecret = await buildTestApp(t, { reportsDir, apiKeysFile: keysFile, linkSecret: randomBytes(32) })
  const keyGone = await buildTestApp(t, { reportsDir, apiKeysFile: withoutTenant, linkSecret })
  const minted = await first.app.inject({ method: 'POST', url: '/links', headers: bearer(KEYS.tenant), payload: { path: '/reports/tenant_rows.csv' } })
  const link = new URL(minted.json<{ url: string }>().url)
  const path = link.pathname + link.search
  t.equal((await same.app.inject(path)).statusCode, 200, 'the same secret: the link works')
  const foreign = await otherSecret.app.inject(path)
  t.equal(foreign.statusCode, 403, 'another secret: 403')
  t.match(foreign.json<{ message: string }>().message, /was changed/)
  const gone = await keyGone.app.inject(path)
  t.equal(gone.statusCode, 403, 'the key taken out of the keys file: 403')
  t.match(gone.json<{ message: string }>().message, /no longer valid/)
})
