// Nothing from a request reaches SQL text; limits on what a client may send; safe defaults.
import { spawn } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import net from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Readable } from 'node:stream'
import t from 'tap'
import { SERVER_ENTRY } from '../harness/server.js'
import { buildTestApp, listenTestApp } from './helpers/app.js'
import { connect, testDatabaseUrl } from './helpers/db.js'
import { reportsFolder } from './helpers/http.js'

const client = await connect()
const table = `inject_${randomBytes(4).toString('hex')}`
t.teardown(async () => {
  await client.query(`drop table if exists ${table}`)
  await client.end()
})
const INJECTIONS = [
  "' or '1'='1", "'; drop table orders; --", "1; delete from orders", "' union select null, current_user --",
  '"); select pg_sleep(5); --', "$1", ":label", "\\'; truncate orders; --", "1 or 1=1", "') or ('a'='a"
]
await client.query(`create table ${table} (id bigint primary key, at timestamptz not null, label text not null)`)
for (const [i, label] of ['plain', ...INJECTIONS].entries()) {
  await client.query(`insert into ${table} values ($1::bigint, '2026-01-01'::timestamptz + $1::bigint * interval '1 hour', $2)`, [i + 1, label])
}

async function fingerprint (): Promise<string> {
  const { rows } = await client.query<{ f: string }>(`select (select md5(string_agg(o::text, '|' order by id)) from orders o) ||
    (select md5(string_agg(t::text, '|' order by id)) from ${table} t) as f`)
  return rows[0]!.f
}

t.test('injection strings in every parameter and in after are data', async (t) => {
  const dir = await reportsFolder(t, {
    'by_label.sql': `/*\ntitle: By label\nkey: [at, id]\nparams:\n  label: { type: string }\n  min_id: { type: integer, default: 0 }\nrequired: [label]\n*/\nselect id, at, label from ${table} where label = :label and id > :min_id`,
    'everything.sql': `/*\ntitle: All\nkey: label\n*/\nselect id, label from ${table}`
  })
  const { app } = await buildTestApp(t, { reportsDir: dir })
  const before = await fingerprint()
  for (const injection of INJECTIONS) {
    const res = await app.inject({ url: '/reports/by_label', query: { label: injection } })
    t.equal(res.statusCode, 200, injection)
    const rows = res.body.trim().split('\n').map((line) => JSON.parse(line) as { label: string })
    t.same(rows.map((row) => row.label), [injection], `exactly the row whose label is ${JSON.stringify(injection)}`)

    const after = await app.inject({ url: '/reports/everything', query: { after: injection } })
    t.equal(after.statusCode, 200, `after=${injection}`)
    const labels = after.body.trim().split('\n').filter((line) => line !== '').map((line) => (JSON.parse(line) as { label: string }).label)
    t.ok(labels.every((label) => label > injection), 'after compares as a value of the key')

    const composite = await app.inject({ url: '/reports/by_label', query: { label: 'plain', after: JSON.stringify([injection, 1]) } })
    t.equal(composite.statusCode, 400, 'a string that is no timestamp is refused, not run')
    t.match(composite.json<{ message: string }>().message, /^after: invalid input syntax for type timestamp with time zone/)

    for (const name of ['min_id', 'limit', 'format', 'delimiter']) {
      const res = await app.inject({ url: '/reports/by_label', query: { label: 'plain', [name]: injection } })
      t.ok([400, 406].includes(res.statusCode), `${name}=${injection} is refused`)
    }
  }
  t.equal(await fingerprint(), before, 'the database is unchanged')
  const { rows } = await client.query<{ n: number }>('select count(*)::int as n from orders')
  t.equal(rows[0]!.n, 20000)
})

t.test('limits on what a client may send', async (t) => {
  const { port } = await listenTestApp(t)
  const raw = async (request: string): Promise<string> => {
    const socket = net.connect(port, '127.0.0.1')
    await once(socket, 'connect')
    socket.end(request)
    let text = ''
    for await (const chunk of socket) text += (chunk as Buffer).toString()
    return text
  }
  t.match(await raw(`GET /reports/orders?limit=1&x=${'a'.repeat(10_000)} HTTP/1.1\r\nHost: x\r\n\r\n`), /^HTTP\/1\.1 431 /, 'a 10 KB URL')
  t.match(await raw(`GET /reports/orders?limit=1 HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(10_000)}\r\n\r\n`), /^HTTP\/1\.1 431 /, 'a 10 KB header')
  t.match(await raw(`GET /reports/orders?limit=1&x=${'a'.repeat(6_000)} HTTP/1.1\r\nHost: x\r\n\r\n`), /^HTTP\/1\.1 400 /, 'a 6 KB URL is read (and its unknown parameter refused)')
})

t.test('a body over 16 KiB is refused with 413; one up to 16 KiB is read', async (t) => {
  // POST /links is the one route that reads a body, and it exists only with API keys on
  const key = randomBytes(24).toString('base64url')
  const dir = await mkdtemp(path.join(tmpdir(), 'sluice-hardening-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const apiKeysFile = path.join(dir, 'keys.json')
  await writeFile(apiKeysFile, JSON.stringify([{ id: 'body', sha256: createHash('sha256').update(key).digest('hex'), reports: ['*'] }]))
  const { app, port } = await listenTestApp(t, { apiKeysFile })
  const LIMIT = 16 * 1024
  const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' }
  // a valid link request, padded with JSON's own whitespace to `bytes`
  const body = (bytes: number): string => {
    const json = JSON.stringify({ path: '/reports/orders.csv?limit=1' })
    return json + ' '.repeat(bytes - json.length)
  }
  const TOO_LARGE = { statusCode: 413, error: 'Payload Too Large', message: 'Request body is too large' }

  for (const bytes of [1024, LIMIT - 1, LIMIT]) {
    const res = await app.inject({ method: 'POST', url: '/links', headers, payload: body(bytes) })
    t.equal(res.statusCode, 201, `a body of ${bytes} bytes is read and the link minted`)
  }

  const over = await app.inject({ method: 'POST', url: '/links', headers, payload: body(LIMIT + 1) })
  t.equal(over.statusCode, 413, 'a body of 16 KiB and one byte is refused')
  t.strictSame(over.json(), TOO_LARGE, 'and the answer says the body is too large')

  // no Content-Length to go by: the body is read until it passes the limit
  const chunked = await app.inject({ method: 'POST', url: '/links', headers, payload: Readable.from([Buffer.from(body(LIMIT)), Buffer.from(' ')]) })
  t.equal(chunked.statusCode, 413, 'a chunked body past 16 KiB is refused too')
  t.strictSame(chunked.json(), TOO_LARGE)

  // a real socket that sends only the headers: the Content-Length alone gets the 413, the body is never waited for
  const socket = net.connect(port, '127.0.0.1')
  t.teardown(() => socket.destroy())
  await once(socket, 'connect')
  socket.write(`POST /links HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\nContent-Type: application/json\r\nContent-Length: 40000\r\n\r\n`)
  let head = ''
  for await (const chunk of socket) {
    head += (chunk as Buffer).toString()
    if (head.includes('\r\n\r\n')) break
  }
  t.match(head, /^HTTP\/1\.1 413 /, 'a 40 KB Content-Length is refused before the body is sent')
})

t.test('error bodies leak no SQL, stack or path', async (t) => {
  const dir = await reportsFolder(t, {
    'broken.sql': `/*\ntitle: Broken at run time\nkey: id\n*/\nselect id, (select g from generate_series(1, 2) g where g > id - 100) as boom from ${table}`,
    'refusing.sql': `/*\ntitle: Refuses a value\nkey: id\n*/\nselect id, 1 / (id - id) as boom from ${table}`
  })
  const { app, logs } = await buildTestApp(t, { reportsDir: dir })
  const res = await app.inject('/reports/broken')
  t.equal(res.statusCode, 500)
  t.same(Object.keys(res.json()).sort(), ['error', 'message', 'statusCode'])
  t.notMatch(res.body, /select|division|boom|\/work|\.ts|\bat \w/i)
  t.ok(logs.some((line) => line.level === 50 && JSON.stringify(line).includes('more than one row returned by a subquery')), 'the log has the cause')
  // a value the database refuses (SQLSTATE class 22) is taken for the client's: a 400, whose body
  // names the condition but not the database's words, which may quote the report's rows
  const refused = await app.inject('/reports/refusing')
  t.equal(refused.statusCode, 400)
  t.equal(refused.json<{ message: string }>().message, 'a parameter value was refused by the database (SQLSTATE 22012)')
  t.ok(logs.some((line) => line.level === 40 && JSON.stringify(line).includes('division by zero')), 'the log has the database\'s words')
})

t.test('listening beyond loopback without API keys warns at start', async (t) => {
  // the whole stdout of a server that is stopped once it says it serves
  const run = async (env: Record<string, string>): Promise<string> => {
    const child = spawn(process.execPath, [SERVER_ENTRY], {
      env: { PATH: process.env.PATH, DATABASE_URL: testDatabaseUrl(), PORT: '0', ...env },
      stdio: ['ignore', 'pipe', 'inherit']
    })
    let out = ''
    child.stdout.setEncoding('utf8')
    child.stdout.on('data', (chunk: string) => {
      out += chunk
      if (out.includes('Sluice serves')) child.kill('SIGTERM')
    })
    const [code] = await once(child, 'close') as [number | null]
    t.equal(code, 0, 'the server stops cleanly')
    return out
  }
  t.match(await run({ HOST: '0.0.0.0' }), /listening beyond loopback with no API_KEYS_FILE/)
  t.notMatch(await run({ HOST: '127.0.0.1' }), /listening beyond loopback/)
})
