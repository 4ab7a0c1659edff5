// The parts of pg that Sluice reaches and pg does not publish, all here, each checked as it is
// reached, with an error that names what pg no longer has:
// - the socket a connected client reads (Client#connection.stream): the row tap (src/db/rowtap.ts)
//   takes the place of pg's one 'data' listener on it, pg-protocol's `parse(stream, callback)`
//   attached in Connection#attachListeners; a lease whose database went silent destroys it at once
//   (src/db/leases.ts);
// - the settings pg passes to the `stream` function it makes a connection's socket with: whether
//   it will wrap the socket in TLS (src/db/rowtap.ts, readingSocket);
// - the cancel key (Client#processID and #secretKey, from BackendKeyData), which a lease sends in
//   a CancelRequest of its own (src/db/leases.ts);
// - the connection's Bind (Connection#bind, #_send): pg asks one result format for all columns, the
//   columnar formats ask each column its own (perColumnFormats).
// pg is pinned exactly in package.json for them (docs/decisions/0005-dependency-pins.md), and
// test/pg-internals.test.ts holds a real connection of the installed pg to what is reached here.
import { createRequire } from 'node:module'
import type net from 'node:net'
import type pg from 'pg'

/** The installed pg's version, for the messages: a pg other than the pinned one shows here. */
export const PG_VERSION = (createRequire(import.meta.url)('pg/package.json') as { version: string }).version

/** What pg reaches of a connection's socket: its readers, and its end. */
export interface PgSocket {
  listeners (event: 'data'): Array<(...args: unknown[]) => unknown>
  on (event: 'data', listener: (chunk: Buffer) => void): unknown
  removeListener (event: 'data', listener: (...args: unknown[]) => unknown): unknown
  destroy (): void
}

/** The socket a connected client reads: pg's Connection#stream. */
export function socketOf (client: pg.ClientBase): PgSocket {
  const connection = (client as unknown as { connection?: { stream?: Partial<PgSocket> } }).connection
  const stream = connection?.stream
  if (typeof stream?.listeners !== 'function' || typeof stream.destroy !== 'function') {
    throw new Error(`pg ${PG_VERSION}'s Client no longer has connection.stream, the socket Sluice reads and destroys: is pg the version package.json pins?`)
  }
  return stream as PgSocket
}

/** pg's one reader of a connection's socket, and the way to put another in its place. */
export interface SocketReader {
  /** pg's own: hand it whole messages, in order, and pg's protocol state runs as ever */
  readonly pg: (chunk: Buffer) => void
  /** From now on the socket's chunks go to `ours` instead of pg's reader. */
  replaceWith (ours: (chunk: Buffer) => void): void
}

/**
 * The 'data' listener pg reads a connected client's socket through. Refuses a pg whose connection
 * reads its socket some other way than the one listener the row tap was built on.
 */
export function socketReader (client: pg.ClientBase): SocketReader {
  const socket = socketOf(client)
  const listeners = socket.listeners('data')
  if (listeners.length !== 1) {
    throw new Error(`pg ${PG_VERSION}'s connection has ${listeners.length} socket 'data' listeners, not the 1 Sluice's row tap takes the place of: is pg the version package.json pins?`)
  }
  const reader = listeners[0]!
  return {
    pg: reader,
    replaceWith (ours) {
      socket.removeListener('data', reader)
      socket.on('data', ours)
    }
  }
}

/**
 * pg's `stream` option for a socket of our making: pg calls a function given there with its
 * connection's settings, whose `ssl` says whether it will wrap the socket in TLS (pg's typings
 * promise no argument; the call in Connection's constructor passes them).
 */
export function socketMaker (make: (tls: boolean) => net.Socket): NonNullable<pg.ClientConfig['stream']> {
  const maker = (settings?: { ssl?: unknown }): net.Socket => {
    if (settings === undefined || typeof settings !== 'object') {
      throw new Error(`pg ${PG_VERSION} no longer passes its connection settings to the \`stream\` function Sluice makes its sockets with: is pg the version package.json pins?`)
    }
    const { ssl } = settings
    return make(ssl !== undefined && ssl !== false && ssl !== null)
  }
  return maker
}

/** What a CancelRequest for a client's running statement is sent with. */
export interface CancelKey {
  /** the server the client is connected to: a host, or a Unix socket's folder */
  readonly host: string
  readonly port: number
  readonly processID: number
  readonly secretKey: number
}

/**
 * The cancel key of a connected client, where its server sent one (BackendKeyData; a pooler or
 * proxy may send none: null).
 */
export function cancelKey (client: pg.ClientBase): CancelKey | null {
  const fields = client as unknown as Record<'host' | 'port' | 'processID' | 'secretKey', unknown>
  const { host, port } = fields
  if (typeof host !== 'string' || typeof port !== 'number') {
    throw new Error(`pg ${PG_VERSION}'s Client no longer has host and port, where a cancel for it is sent: is pg the version package.json pins?`)
  }
  const processID = keyPart(fields, 'processID')
  const secretKey = keyPart(fields, 'secretKey')
  return processID === null || secretKey === null ? null : { host, port, processID, secretKey }
}

function keyPart (fields: Record<'processID' | 'secretKey', unknown>, name: 'processID' | 'secretKey'): number | null {
  const value = fields[name]
  if (value !== null && typeof value !== 'number') {
    throw new Error(`pg ${PG_VERSION}'s Client no longer has ${name} (its part of the cancel key from BackendKeyData) as a number or null: is pg the version package.json pins?`)
  }
  return value
}

/** A Bind's settings as pg's Query passes them to Connection#bind. */
interface BindConfig {
  readonly portal?: string
  readonly statement?: string
  readonly values?: readonly unknown[]
  /** pg's prepareValue: a parameter as text, a Buffer, or null */
  readonly valueMapper?: (value: unknown, index: number) => string | Buffer | null | undefined
  /** pg's: true or false for all columns; ours: a format code per result column (0 text, 1 binary) */
  readonly binary?: boolean | readonly number[]
}

/**
 * Lets a query ask for each result column in its own format: a query config whose `binary` is an
 * array of format codes, one per result column (0 text, 1 binary), is bound with those codes;
 * with `binary` true or false pg binds as it always does. pg's Query hands its config's `binary`
 * to Connection#bind as it is, and pg-protocol's Bind writes one code for all columns, so the
 * connection's bind is the one place to write them. Installed once per connection (the pool's
 * 'connect' event); such a query must run in the extended protocol (`queryMode: 'extended'`).
 */
export function perColumnFormats (client: pg.ClientBase): void {
  const connection = (client as unknown as { connection?: { bind?: unknown, _send?: unknown } }).connection
  const bind = connection?.bind
  if (connection === undefined || typeof bind !== 'function' || typeof connection._send !== 'function') {
    throw new Error(`pg ${PG_VERSION}'s Connection no longer has bind and _send, through which Sluice asks result columns in binary: is pg the version package.json pins?`)
  }
  const send = connection._send as (message: Buffer) => void
  connection.bind = function (config: BindConfig): void {
    if (Array.isArray(config.binary)) send.call(this, bindMessage(config, config.binary as readonly number[]))
    else bind.call(this, config)
  }
}

/**
 * A Bind message (protocol section 55.7) with a format code per result column. Parameters as
 * pg-protocol writes them: mapped by pg's valueMapper, a Buffer in binary, NULL, else text.
 */
export function bindMessage (config: BindConfig, formats: readonly number[]): Buffer {
  const values = (config.values ?? []).map((value, i) => {
    const mapped = config.valueMapper === undefined ? value as string | Buffer | null | undefined : config.valueMapper(value, i)
    if (mapped === null || mapped === undefined) return { format: 0, bytes: null }
    return Buffer.isBuffer(mapped) ? { format: 1, bytes: mapped } : { format: 0, bytes: Buffer.from(mapped) }
  })
  const portal = Buffer.from(`${config.portal ?? ''}\0`)
  const statement = Buffer.from(`${config.statement ?? ''}\0`)
  let size = 4 + portal.length + statement.length + 2 + values.length * 2 + 2 + 2 + formats.length * 2
  for (const { bytes } of values) size += 4 + (bytes?.length ?? 0)
  const message = Buffer.allocUnsafe(1 + size)
  message[0] = 0x42 // 'B'
  let at = message.writeInt32BE(size, 1)
  at += portal.copy(message, at)
  at += statement.copy(message, at)
  at = message.writeInt16BE(values.length, at)
  for (const { format } of values) at = message.writeInt16BE(format, at)
  at = message.writeInt16BE(values.length, at)
  for (const { bytes } of values) {
    at = message.writeInt32BE(bytes === null ? -1 : bytes.length, at)
    if (bytes !== null) at += bytes.copy(message, at)
  }
  at = message.writeInt16BE(formats.length, at)
  for (const format of formats) at = message.writeInt16BE(format, at)
  return message
}
