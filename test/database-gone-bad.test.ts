// The database gone bad (and a stream cut for any reason): PostgreSQL refusing new connections is
// a 503 with Retry-After; a network path to the database that goes silent mid-download ends the
// stream within STATEMENT_TIMEOUT_MS and a grace, and frees the lease; the pool's sockets have
// TCP keepalives; a cut stream reaches the client at once, not after the kernel's buffers drained.
// Real sockets, a real PostgreSQL, and a real TCP proxy between the two that can go silent.
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import net from 'node:net'
import t from 'tap'
import type { Config } from '../src/config.js'
import { listenTestApp } from './helpers/app.js'
import { scratchTable, testDatabaseUrl } from './helpers/db.js'
import {
  busySessions, get, poolWhole, reportsFolder, requestId, streamEnded, waitFor
} from './helpers/http.js'

const ROWS = 150_000
const { client, table } = await scratchTable(t, 'gonebad')
// sha256 in hex: rows that gzip cannot shrink much, so a compressed response is megabytes too
await client.query(`
  create table ${table} (id bigint primary key, pad text not null);
  insert into ${table}
  select g, encode(sha256(g::text::bytea), 'hex') || encode(sha256((-g)::text::bytea), 'hex') from generate_series(1, ${ROWS}) g;
  analyze ${table};
`)
const header = (strategy: string): string => `/*\ntitle: Pad, ${strategy}\nkey: id\nstrategy: ${strategy}\n*/\n`
const reportsDir = await reportsFolder(t, {
  'pad.sql': `${header('keyset')}select id, pad from ${table}\n`,
  'pad_cursor.sql': `${header('cursor')}select id, pad from ${table}\n`
})
const STRATEGIES = [['keyset', 'pad'], ['cursor', 'pad_cursor']] as const
const expectedNdjson = Buffer.from((await client.query<{ body: string }>(
  `select string_agg(row_to_json(r)::text || E'\\n', '' order by id) as body from (select id, pad from ${table}) r`)).rows[0]!.body)

const serve = (overrides: Partial<Config>) => listenTestApp(t, { reportsDir, ...overrides })

// Every cut (timeout, stall, database error, shutdown) ends the response through the same stop;
// the test cuts by the shutdown path, at a moment it chooses: once the server has a megabyte in
// flight that the client has not read (a timer would cut before the buffers fill on a busy machine).
t.test('a stream cut by the server reaches a slow client at once, not after megabytes of buffers', async (t) => {
  const RATE = 100 * 1024
  const IN_FLIGHT = 1 << 20
  const { app, port, logs } = await serve({})
  const sockets: net.Socket[] = []
  app.server.on('connection', (socket: net.Socket) => sockets.push(socket))
  for (const [strategy, report] of STRATEGIES) {
    for (const encoding of ['identity', 'gzip']) {
      const reqId = requestId()
      const before = sockets.length
      const reader = slowRead(port, `/reports/${report}.ndjson`, { 'x-request-id': reqId, 'accept-encoding': encoding }, RATE)
      const socket = await waitFor(() => sockets[before], { timeout: 5000, what: 'the connection' })
      await waitFor(() => socket.bytesWritten - reader.received() > IN_FLIGHT, { timeout: 20_000, what: `${strategy} ${encoding}: a megabyte in flight` })
      app.streaming.streams.stopAll()
      const cutAt = Date.now()
      const readAtCut = reader.received()
      const line = await streamEnded(logs, reqId)
      const written = socket.bytesWritten
      const endedAt = await reader.ended
      const received = reader.received()
      t.equal(line.outcome, 'shutdown', `${strategy} ${encoding}: cut by the server`)
      // after a reset the client still reads what its own receive buffer holds, no more: the
      // server's send buffer is dropped. A close instead would have it read every byte written.
      t.ok(received < readAtCut + (written - readAtCut) / 2,
        `${strategy} ${encoding}: the client got ${received} of the ${written} bytes the server had written (${readAtCut} at the cut): the rest was dropped`)
      const drainMs = (written - readAtCut) / RATE * 1000
      t.ok(endedAt - cutAt < drainMs / 2,
        `${strategy} ${encoding}: the client saw the end ${endedAt - cutAt} ms after the cut; draining the ${written - readAtCut} bytes it had not read at ${RATE / 1024} kB/s would take ${Math.round(drainMs)} ms`)
    }
  }
})

t.test('a network path that goes silent mid-download ends the stream and frees the lease', async (t) => {
  const STATEMENT_MS = 1000
  const STALL_MS = 1000
  const proxy = await Proxy.start(t, testDatabaseUrl())
  const { app, url, logs, applicationName } = await serve({ statementTimeoutMs: STATEMENT_MS, stallTimeoutMs: STALL_MS, databaseUrl: proxy.url })
  for (const [strategy, report] of STRATEGIES) {
    const reqId = requestId()
    let silencedAt = 0
    const res = await get(`${url}/reports/${report}.ndjson`, {
      headers: { 'x-request-id': reqId },
      onChunk: () => {
        if (silencedAt === 0) {
          proxy.silence()
          silencedAt = Date.now()
        }
        return false
      }
    })
    const line = await streamEnded(logs, reqId, 10_000)
    const took = Date.now() - silencedAt
    t.equal(res.complete, false, `${strategy}: the client sees an incomplete download`)
    t.equal(line.outcome, 'db_error', `${strategy}: ended as a database error`)
    t.match(String(line.reason), /did not answer|LEASE_TIMEOUT_MS/, `${strategy}: the reason says the database did not answer`)
    t.ok(took < STALL_MS + STATEMENT_MS + 1000, `${strategy}: ended ${took} ms after the path went silent (bound ${STALL_MS + STATEMENT_MS} ms and a second)`)
    await waitFor(() => poolWhole(app), { timeout: 1000, what: `${strategy}: the lease back` })
    t.pass(`${strategy}: the lease is given back and nobody waits`)
    proxy.heal()
    await waitFor(async () => (await busySessions(client, applicationName)).length === 0, { timeout: 5000, what: `${strategy}: no backend of the app left busy` })
    t.pass(`${strategy}: once the path is back, no backend of the app is left at work`)
    const again = await get(`${url}/reports/${report}.ndjson`)
    t.ok(again.complete && again.body.equals(expectedNdjson), `${strategy}: the next download through the healed path is whole`)
  }
})

t.test('a database that refuses new connections (SQLSTATE 53300) is a 503 with Retry-After', async (t) => {
  const role = `gonebad_${randomBytes(4).toString('hex')}`
  const password = randomBytes(12).toString('hex')
  const database = (await client.query<{ db: string }>('select current_database() as db')).rows[0]!.db
  await client.query(`create role ${role} login password '${password}' connection limit 1; grant select on ${table} to ${role}; grant connect on database "${database}" to ${role}`)
  t.teardown(async () => {
    await client.query('select pg_terminate_backend(pid) from pg_stat_activity where usename = $1', [role])
    await waitFor(async () => (await client.query('select 1 from pg_stat_activity where usename = $1', [role])).rowCount === 0, { timeout: 5000 })
    await client.query(`revoke all on ${table} from ${role}; revoke connect on database "${database}" from ${role}; drop role ${role}`)
  })
  const limited = new URL(testDatabaseUrl())
  limited.username = role
  limited.password = password
  const { app, url } = await serve({ databaseUrl: limited.toString(), poolMax: 4 })
  // a cursor download holds its connection while its client does not read: the role's only one
  const { port } = new URL(url)
  const holder = await hold(t, Number(port), '/reports/pad_cursor.ndjson')
  await waitFor(() => app.pool.totalCount === 1 && app.pool.idleCount === 0, { timeout: 5000, what: 'the cursor holding the one connection' })
  const refused = await get(`${url}/reports/pad.ndjson?limit=10`)
  t.equal(refused.status, 503, 'refused with 503, not 500')
  t.ok(Number(refused.headers['retry-after']) >= 1, `with Retry-After: ${String(refused.headers['retry-after'])}`)
  t.match(JSON.parse(refused.body.toString()), { statusCode: 503, message: /too many connections/ }, 'the message says why')
  holder.destroy()
  await waitFor(() => poolWhole(app), { timeout: 2000, what: 'the held connection back' })
  // the cursor's connection is closed, not pooled: its backend leaves the server a moment later,
  // and until it has, the role's one connection is still taken (a 503 again, rightly)
  await waitFor(async () => (await client.query('select 1 from pg_stat_activity where usename = $1', [role])).rowCount === 0, { timeout: 5000, what: 'the cursor\'s backend gone' })
  const again = await get(`${url}/reports/pad.ndjson?limit=10`)
  t.equal(again.status, 200, 'once the connection is free again, the next request is served')
  t.ok(again.complete && again.body.equals(expectedNdjson.subarray(0, nthLineEnd(expectedNdjson, 10))), 'and whole')
})

t.test('the pool\'s sockets to the database have TCP keepalives on', async (t) => {
  const { app, url } = await serve({})
  t.equal((await get(`${url}/reports/pad.ndjson?limit=1`)).status, 200)
  const clients = (app.pool as unknown as { _clients: Array<{ connection: { stream: net.Socket } }> })._clients
  t.ok(clients.length > 0, 'the pool holds a connection')
  for (const pooled of clients) {
    const { localPort } = pooled.connection.stream
    // ss prints each socket's timer; a keepalive socket idle between queries runs the keepalive one
    const line = execFileSync('ss', ['-tnoH', 'state', 'established', `sport = :${localPort}`]).toString()
    t.match(line, /timer:\(keepalive/, `the socket from port ${localPort} runs a keepalive timer`)
  }
})

/** Offset just past the n-th line end. */
function nthLineEnd (body: Buffer, n: number): number {
  let at = -1
  for (let i = 0; i < n; i++) at = body.indexOf(10, at + 1)
  return at + 1
}

/**
 * A client reading a raw HTTP response at `rate` bytes a second: how much it read so far, and
 * when its socket ended (closed or reset).
 */
function slowRead (port: number, path: string, headers: Record<string, string>, rate: number): { received: () => number, ended: Promise<number> } {
  const socket = net.connect(port, '127.0.0.1')
  let received = 0
  let timer: NodeJS.Timeout | undefined
  const ended = new Promise<number>((resolve) => {
    const end = (): void => {
      clearTimeout(timer)
      socket.destroy()
      resolve(Date.now())
    }
    socket.on('error', end)
    socket.on('close', end)
    socket.on('end', end)
  })
  socket.on('data', (chunk: Buffer) => {
    received += chunk.length
    socket.pause()
    timer = setTimeout(() => socket.resume(), chunk.length / rate * 1000)
  })
  const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join('')
  socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${lines}Connection: close\r\n\r\n`)
  return { received: () => received, ended }
}

/** A client that reads the first bytes of a response, then nothing: its stream waits on it. */
async function hold (t: { teardown (fn: () => unknown): void }, port: number, path: string): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1')
  t.teardown(() => socket.destroy())
  socket.on('error', () => {})
  await new Promise<void>((resolve) => {
    socket.once('data', () => {
      socket.pause()
      resolve()
    })
    socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`)
  })
  return socket
}

/**
 * A TCP proxy in front of the database. `silence()` stops forwarding in both directions, the way
 * a dead network path does: nothing is refused or closed, nothing arrives. `heal()` delivers what
 * was held back and forwards again, as TCP does once a path returns.
 */
class Proxy {
  readonly url: string
  #server: net.Server
  #sockets = new Set<net.Socket>()
  #held: Array<() => void> = []
  #silent = false

  private constructor (server: net.Server, url: string) {
    this.#server = server
    this.url = url
  }

  static async start (t: { teardown (fn: () => unknown): void }, target: string): Promise<Proxy> {
    const upstream = new URL(target)
    const server = net.createServer()
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const via = new URL(target)
    via.hostname = '127.0.0.1'
    via.port = String((server.address() as net.AddressInfo).port)
    const proxy = new Proxy(server, via.toString())
    server.on('connection', (down) => { proxy.#pair(down, net.connect(Number(upstream.port === '' ? 5432 : upstream.port), upstream.hostname)) })
    t.teardown(async () => {
      for (const socket of proxy.#sockets) socket.destroy()
      await new Promise((resolve) => proxy.#server.close(resolve))
    })
    return proxy
  }

  silence (): void {
    this.#silent = true
  }

  heal (): void {
    this.#silent = false
    for (const deliver of this.#held.splice(0)) deliver()
  }

  #pair (down: net.Socket, up: net.Socket): void {
    const close = (): void => {
      const finish = (): void => {
        this.#sockets.delete(down)
        this.#sockets.delete(up)
        down.destroy()
        up.destroy()
      }
      // a close is news on the path too: held back while it is silent
      if (this.#silent) this.#held.push(finish)
      else finish()
    }
    for (const [from, to] of [[down, up], [up, down]] as const) {
      this.#sockets.add(from)
      from.on('error', close)
      from.on('close', close)
      from.on('data', (chunk: Buffer) => {
        if (this.#silent) this.#held.push(() => { if (!to.destroyed) to.write(chunk) })
        else if (!to.destroyed) to.write(chunk)
      })
    }
  }
}
