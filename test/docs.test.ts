// The pages and the API document (docs/http.md sections 3, 6, 8): `/` is open and names no report,
// `/docs` is Swagger UI served from Sluice itself, /openapi.json is valid OpenAPI 3.1 (checked by
// a real validator) and lists what the key may read; with keys on, both need a key.
import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Validator } from '@seriousme/openapi-schema-validator'
import type { FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import { buildTestApp } from './helpers/app.js'

const KEY = randomBytes(24).toString('base64url')
const keysDir = await mkdtemp(path.join(tmpdir(), 'sluice-keys-'))
t.teardown(() => rm(keysDir, { recursive: true, force: true }))
const keysFile = path.join(keysDir, 'keys.json')
await writeFile(keysFile, JSON.stringify([{ id: 'orders-only', sha256: createHash('sha256').update(KEY).digest('hex'), reports: ['orders*'] }]))
const bearer = { authorization: `Bearer ${KEY}` }

/** Every URL an HTML page loads or links to (src and href attributes). */
function urlsIn (html: string): string[] {
  return [...html.matchAll(/\s(?:src|href)="([^"]*)"/g)].map((match) => match[1]!)
}

async function validOpenApi (t: Test, document: unknown, what: string): Promise<void> {
  const validator = new Validator()
  const result = await validator.validate(document as Record<string, unknown>)
  t.same(result.errors ?? [], [], `${what}: no errors from the OpenAPI validator`)
  t.ok(result.valid, `${what}: a valid OpenAPI document`)
  t.equal(validator.version, '3.1', `${what}: OpenAPI 3.1`)
}

/** The page and every asset it names come from this Sluice, with the types a browser runs. */
async function servedHere (t: Test, app: FastifyInstance, url: string, headers: Record<string, string> = {}): Promise<string> {
  const page = await app.inject({ url, headers: { accept: 'text/html', ...headers } })
  t.equal(page.statusCode, 200, `${url} is served`)
  t.match(page.headers['content-type'], /^text\/html/)
  t.match(page.headers['content-security-policy'], /default-src 'none'/, `${url} may load nothing from elsewhere`)
  const urls = urlsIn(page.body)
  t.ok(urls.length > 0)
  for (const asset of urls) {
    t.ok(asset.startsWith('/') && !asset.startsWith('//'), `${url}: ${asset} is on Sluice, not a URL elsewhere`)
    if (!/\.(js|css|png)$/.test(asset)) continue
    const response = await app.inject(asset)
    t.equal(response.statusCode, 200, `${asset} is served without a key`)
    t.match(response.headers['content-type'], asset.endsWith('.js') ? /javascript/ : asset.endsWith('.css') ? /^text\/css/ : /^image\/png/)
    t.ok(response.rawPayload.length > 0)
  }
  t.notMatch(page.body, /https?:\/\//, `${url} names no outside URL`)
  return page.body
}

t.test('without keys: the pages and their assets from Sluice, a valid OpenAPI 3.1 document of every report', async (t) => {
  const { app } = await buildTestApp(t)
  const home = await servedHere(t, app, '/')
  t.match(home, /<input[^>]*name="key"/, 'the key prompt is in the page, hidden until a key is needed')
  const docs = await servedHere(t, app, '/docs')
  t.match(docs, /swagger-ui-bundle\.js/, '/docs is Swagger UI')
  const bundle = await app.inject('/docs/ui/swagger-ui-bundle.js')
  t.match(bundle.body, /SwaggerUIBundle/, 'the bundle is the installed swagger-ui-dist')
  for (const other of ['/docs/ui/index.html', '/docs/ui/swagger-initializer.js', '/docs/ui/package.json', '/assets/../src/app.ts', '/assets/%2e%2e/package.json', '/docs/ui/', '/assets/nope.js']) {
    t.equal((await app.inject(other)).statusCode, 404, `${other} is not served`)
  }

  const openapi = await app.inject('/openapi.json')
  t.equal(openapi.statusCode, 200)
  const document = openapi.json<{ paths: Record<string, unknown>, security?: unknown }>()
  await validOpenApi(t, document, 'keys off')
  t.same(Object.keys(document.paths).sort(), [...app.reports.keys()].map((name) => `/reports/${name}`).sort(), 'every report, no /links')
  t.notOk(document.security)
  // the demo orders declare changes:, customers do not
  type Operation = { get: { parameters: Array<{ name: string }>, responses: { 200: { headers?: Record<string, unknown> } } } }
  const operation = (name: string): Operation['get'] => (document.paths[`/reports/${name}`] as Operation).get
  t.ok(operation('orders').parameters.some((p) => p.name === 'changed_since'), 'orders: changed_since')
  t.ok(operation('orders').responses[200].headers?.['Sluice-Sync-Token'], 'orders: Sluice-Sync-Token')
  t.notOk(operation('customers').parameters.some((p) => p.name === 'changed_since'), 'customers: no changed_since')
  t.notOk(operation('customers').responses[200].headers?.['Sluice-Sync-Token'], 'customers: no token')
})

t.test('with keys: / open and naming no report, /docs and /openapi.json need the key', async (t) => {
  const { app } = await buildTestApp(t, { apiKeysFile: keysFile })
  const home = await servedHere(t, app, '/')
  const docs = await app.inject({ url: '/docs', headers: bearer })
  t.equal(docs.statusCode, 200, '/docs with the key')
  for (const name of app.reports.keys()) {
    t.notOk(home.includes(name), `/ does not name the report ${name}`)
    t.notOk(docs.body.includes(name), `/docs does not name the report ${name}`)
  }

  const plain = await app.inject('/docs')
  t.equal(plain.statusCode, 401, '/docs without a key is a 401')
  t.match(plain.json(), { statusCode: 401, message: /API key is required/ }, 'as JSON for a client that is no browser')
  const browser = await app.inject({ url: '/docs', headers: { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' } })
  t.equal(browser.statusCode, 401, 'a browser without a key gets a 401 too')
  t.equal(browser.headers['www-authenticate'], 'Bearer')
  t.equal(browser.body, docs.body, 'whose body is the page that asks for the key')
  t.equal((await app.inject({ url: '/docs', headers: { accept: 'text/html', authorization: 'Bearer nope' } })).statusCode, 401, 'an unknown key is a 401')

  t.equal((await app.inject('/openapi.json')).statusCode, 401)
  const openapi = await app.inject({ url: '/openapi.json', headers: bearer })
  t.equal(openapi.statusCode, 200)
  const document = openapi.json<{ paths: Record<string, unknown>, security?: unknown }>()
  await validOpenApi(t, document, 'keys on')
  const readable = [...app.reports.keys()].filter((name) => name.startsWith('orders')).map((name) => `/reports/${name}`)
  t.ok(readable.length >= 2)
  t.same(Object.keys(document.paths).sort(), [...readable, '/links'].sort(), "the key's reports and POST /links")
  t.ok(document.security)
})
