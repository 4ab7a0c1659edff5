// Real-socket HTTP helpers for the streaming tests: whole and cut-short downloads over node:http,
// report folders written to a temp dir, and polling for a condition with a deadline.
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import type pg from 'pg'
import type { Turns } from '../../src/db/turns.js'

interface Teardown { teardown (fn: () => unknown): void }

export interface Download {
  readonly status: number
  readonly headers: http.IncomingHttpHeaders
  readonly body: Buffer
  /** the response ended with its final chunk (or its whole Content-Length) */
  readonly complete: boolean
}

export interface GetOptions {
  readonly headers?: Readonly<Record<string, string>>
  /**
   * Stop reading once this many body bytes have arrived: `body` is then exactly that many bytes
   * and the socket is closed the way `close` says. A response that ends before is returned whole.
   */
  readonly stopAfter?: number
  /** sees every body chunk as it arrives; returning true stops the download there, as stopAfter does */
  readonly onChunk?: (chunk: Buffer) => boolean
  /** stops the download when it resolves, whether or not the response has begun (status 0 if not) */
  readonly until?: Promise<unknown>
  /** `reset` sends a TCP RST (socket.resetAndDestroy), `destroy` a plain close; default `destroy` */
  readonly close?: 'reset' | 'destroy'
}

/**
 * GET over a fresh connection (no keep-alive agent: every download owns its socket, so closing
 * it is a disconnect and nothing else). Resolves once the response is over, however it ended.
 */
export async function get (url: string, options: GetOptions = {}): Promise<Download> {
  const { stopAfter = Infinity, close = 'destroy', onChunk } = options
  return await new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, headers: options.headers })
    let res: http.IncomingMessage | undefined
    const chunks: Buffer[] = []
    let length = 0
    let aborted = false
    let settled = false
    const finish = (complete: boolean): void => {
      if (settled) return
      settled = true
      resolve({ status: res?.statusCode ?? 0, headers: res?.headers ?? {}, body: Buffer.concat(chunks), complete })
    }
    const stop = (): void => {
      if (settled) return
      res?.removeAllListeners('data')
      res?.pause()
      finish(false)
      if (close === 'reset' && req.socket !== null) req.socket.resetAndDestroy()
      else req.destroy()
    }
    options.until?.then(stop, (error: unknown) => {
      if (settled) return
      settled = true
      req.destroy()
      reject(error)
    })
    req.on('error', (error) => {
      // a reset after the response began is how a cut stream ends: an incomplete download
      if (res !== undefined) {
        finish(false)
        return
      }
      if (settled) return
      settled = true
      reject(error)
    })
    req.on('response', (response) => {
      res = response
      response.on('aborted', () => { aborted = true })
      response.on('error', () => { aborted = true; finish(false) })
      response.on('data', (chunk: Buffer) => {
        if (length + chunk.length >= stopAfter) {
          chunks.push(chunk.subarray(0, stopAfter - length))
          length = stopAfter
          stop()
          return
        }
        chunks.push(chunk)
        length += chunk.length
        if (onChunk?.(chunk) === true) stop()
      })
      response.on('end', () => finish(response.complete && !aborted))
      response.on('close', () => finish(response.complete && !aborted))
    })
  })
}

/** A folder of report files (name -> SQL text) in the temp dir, removed when the test ends. */
export async function reportsFolder (t: Teardown, files: Readonly<Record<string, string>>): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sluice-reports-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  for (const [name, text] of Object.entries(files)) await writeFile(path.join(dir, name), text)
  return dir
}

/** Polls `check` every 20 ms until it returns a value other than false/undefined, or throws at the deadline. */
export async function waitFor<T> (check: () => T | false | undefined | Promise<T | false | undefined>, options: { timeout: number, what?: string }): Promise<T> {
  const deadline = Date.now() + options.timeout
  for (;;) {
    const value = await check()
    if (value !== false && value !== undefined) return value
    if (Date.now() >= deadline) throw new Error(`not within ${options.timeout} ms: ${options.what ?? 'condition'}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

export interface Session {
  readonly pid: number
  readonly state: string | null
  readonly wait_event: string | null
  readonly query: string
}

/** The app's sessions that are doing something: anything but idle (active, idle in transaction, ...). */
export async function busySessions (client: pg.ClientBase, applicationName: string): Promise<Session[]> {
  const { rows } = await client.query<Session>(
    "select pid, state, wait_event, query from pg_stat_activity where application_name = $1 and state is distinct from 'idle'",
    [applicationName])
  return rows
}

/** Every connection the pool made is back in it, every turn at it given back, and nobody waits for one. */
export function poolWhole ({ pool, leases: { turns } }: { pool: pg.Pool, leases: { turns: Turns } }): boolean {
  return pool.totalCount === pool.idleCount && pool.waitingCount === 0 &&
    turns.busy === 0 && turns.waitingFirst === 0 && turns.waitingNext === 0
}

/** A request id of our own: the app takes it from X-Request-Id, so its log lines can be found. */
export function requestId (): string {
  return `t-${randomBytes(6).toString('hex')}`
}

/** The 'stream ended' log line of one request, once it is written. */
export async function streamEnded (logs: ReadonlyArray<Record<string, unknown>>, reqId: string, timeout = 1000): Promise<Record<string, unknown>> {
  return await waitFor(() => logs.find((line) => line.reqId === reqId && line.msg === 'stream ended'), { timeout, what: `'stream ended' logged for ${reqId}` })
}

/** mulberry32: a small seeded PRNG, so a failing random run can be repeated from its seed. */
export function prng (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let x = a
    x = Math.imul(x ^ (x >>> 15), x | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

/** The seed for a randomised test: `SEED` from the environment to replay a run, else a fresh one. */
export function seedFromEnv (): number {
  const given = process.env.SEED
  return given !== undefined && /^\d+$/.test(given) ? Number(given) : randomBytes(4).readUInt32BE(0)
}

export interface Assert {
  pass (message: string): unknown
  fail (message: string, extra: Record<string, unknown>): unknown
}

/** Byte equality that, when it fails, says where, instead of printing megabytes. */
export function sameBytes (t: Assert, actual: Buffer, expected: Buffer, message: string, extra: Record<string, unknown> = {}): void {
  if (actual.equals(expected)) {
    t.pass(message)
    return
  }
  let at = 0
  while (at < actual.length && at < expected.length && actual[at] === expected[at]) at++
  t.fail(message, {
    actualLength: actual.length,
    expectedLength: expected.length,
    firstDifferenceAt: at,
    actual: actual.subarray(Math.max(0, at - 200), at + 200).toString(),
    expected: expected.subarray(Math.max(0, at - 200), at + 200).toString(),
    ...extra
  })
}
