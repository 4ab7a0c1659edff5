// What Sluice reaches of pg that pg does not publish (src/db/pg-internals.ts), held to a real
// connection of the installed pg: a pg release that moved any of it fails here, by name, rather
// than as rows missing from a download or a cancel that never arrives.
import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import pg from 'pg'
import t, { type Test } from 'tap'
import { cancelKey, perColumnFormats, PG_VERSION, socketOf, socketReader } from '../src/db/pg-internals.js'
import { testDatabaseUrl } from './helpers/db.js'

const manifest = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as { dependencies: Record<string, string> }
const PINNED = manifest.dependencies.pg!

async function connected (t: Test): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: testDatabaseUrl() })
  await client.connect()
  t.teardown(() => client.end())
  return client
}

t.test('pg is exactly the version package.json pins', async (t) => {
  t.match(PINNED, /^\d+\.\d+\.\d+$/, `package.json pins pg to one release, not a range (it has "${PINNED}")`)
  const installed = (createRequire(import.meta.url)('pg/package.json') as { version: string }).version
  t.equal(installed, PINNED, `the installed pg is ${installed}, package.json pins ${PINNED}: npm ci, or move the pin deliberately (docs/decisions/0005-dependency-pins.md)`)
  t.equal(PG_VERSION, installed, 'the version src/db/pg-internals.ts names in its messages is the installed one')
})

t.test('the socket: one \'data\' listener, pg\'s parser, that another can take the place of', async (t) => {
  const client = await connected(t)
  const socket = socketOf(client)
  t.equal(typeof socket.destroy, 'function', `pg ${PG_VERSION}'s Connection no longer has a stream that can be destroyed`)
  t.equal(socket.listeners('data').length, 1, `pg ${PG_VERSION}'s Connection no longer reads its socket through exactly one 'data' listener, the one the row tap takes the place of`)
  const reader = socketReader(client)
  t.equal(reader.pg, socket.listeners('data')[0], 'the reader is that listener')
  // ours in its place, handing every chunk on whole: pg still reads its results
  let chunks = 0
  reader.replaceWith((chunk) => {
    chunks++
    reader.pg(chunk)
  })
  t.equal(socket.listeners('data').length, 1, 'still one listener: ours')
  const { rows } = await client.query<{ n: number }>('select 41 + 1 as n')
  t.strictSame(rows, [{ n: 42 }], `pg ${PG_VERSION}'s Connection no longer reads whole messages handed to its 'data' listener`)
  t.ok(chunks > 0, 'the answer came through ours')
})

t.test('the cancel key: processID and secretKey, numbers, the backend\'s own', async (t) => {
  const client = await connected(t)
  const fields = client as unknown as Record<string, unknown>
  t.equal(typeof fields.processID, 'number', `pg ${PG_VERSION}'s Client no longer has processID (BackendKeyData's process id) as a number`)
  t.equal(typeof fields.secretKey, 'number', `pg ${PG_VERSION}'s Client no longer has secretKey (BackendKeyData's secret key) as a number`)
  const key = cancelKey(client)
  if (key === null) throw new Error(`pg ${PG_VERSION}'s Client has no cancel key from a server that sends one`)
  const { rows } = await client.query<{ pid: number }>('select pg_backend_pid() as pid')
  t.equal(key.processID, rows[0]!.pid, 'the process id is the backend this client talks to')
  t.ok(Number.isInteger(key.secretKey), 'the secret key is an int32')
  t.equal(key.host, client.host, 'sent to the host the client is connected to')
  t.equal(key.port, client.port, 'and its port')
})

t.test('the Bind: a query asks each result column its own format; pg binds the rest as ever', async (t) => {
  const client = await connected(t)
  const connection = (client as unknown as { connection: Record<string, unknown> }).connection
  t.equal(typeof connection.bind, 'function', `pg ${PG_VERSION}'s Connection no longer has bind, which pg's Query sends its Bind through`)
  t.equal(typeof connection._send, 'function', `pg ${PG_VERSION}'s Connection no longer has _send, which writes a message to the socket`)
  perColumnFormats(client)
  const text = "select $1::int4 as a, $2::text as b, $3::bytea as c, $4::text as d, $3::bytea = '\\x00ff' as same"
  const values = [7, 'x', Buffer.from([0, 255]), null]
  const mixed = await client.query({ text, values, binary: [1, 0, 1, 0, 0] } as unknown as pg.QueryConfig)
  t.strictSame(mixed.fields.map((field) => field.format), ['binary', 'text', 'binary', 'text', 'text'], 'each column in the format asked for it')
  t.match(mixed.rows, [{ a: 7, b: 'x', d: null, same: true }], 'parameters as pg writes them: text, a Buffer in binary, NULL')
  const none = await client.query({ text: 'select 1 as one', queryMode: 'extended', binary: [1] } as unknown as pg.QueryConfig)
  t.strictSame(none.fields.map((field) => field.format), ['binary'], 'a statement without parameters, in the extended protocol')
  const all = await client.query({ text, values, binary: true } as unknown as pg.QueryConfig)
  t.strictSame(all.fields.map((field) => field.format), ['binary', 'binary', 'binary', 'binary', 'binary'], 'binary: true is pg\'s own, as ever')
  const plain = await client.query({ text, values })
  t.strictSame(plain.rows, [{ a: 7, b: 'x', c: Buffer.from([0, 255]), d: null, same: true }], 'and so are queries that ask nothing')
  t.strictSame(plain.fields.map((field) => field.format), ['text', 'text', 'text', 'text', 'text'])
})

t.test('what a moved pg gets: errors that name the part it no longer has', async (t) => {
  const client = await connected(t)
  const fake = (changes: Record<string, unknown>): pg.ClientBase => Object.assign(Object.create(client) as object, changes) as unknown as pg.ClientBase
  t.throws(() => socketOf(fake({ connection: {} })), { message: `pg ${PG_VERSION}'s Client no longer has connection.stream, the socket Sluice reads and destroys: is pg the version package.json pins?` })
  t.throws(() => socketOf(fake({ connection: undefined })), { message: /no longer has connection\.stream/ })
  const twice = fake({ connection: { stream: { listeners: () => [() => {}, () => {}], destroy () {} } } })
  t.throws(() => socketReader(twice), { message: /has 2 socket 'data' listeners, not the 1 Sluice's row tap takes the place of/ })
  t.throws(() => cancelKey(fake({ processID: undefined })), { message: /no longer has processID .* as a number or null/ })
  t.throws(() => cancelKey(fake({ secretKey: '7' })), { message: /no longer has secretKey/ })
  t.throws(() => cancelKey(fake({ host: undefined })), { message: /no longer has host and port/ })
  t.equal(cancelKey(fake({ processID: null, secretKey: null })), null, 'a server that sent no key (a pooler may not): nothing to cancel with')
  t.throws(() => { perColumnFormats(fake({ connection: { bind () {} } })) }, { message: /no longer has bind and _send/ })
})
