// The parts of pg that Sluice reaches and pg does not publish, all here, each checked as it is
// reached, with an error that names what pg no longer has:
// - the socket a connected client reads (Client#connection.stream): the row tap (src/db/rowtap.ts)
//   takes the place of pg's one 'data' listener on it, pg-protocol's `parse(stream, callback)`
//   attached in Connection#attachListeners; a lease whose database went silent destroys it at once
//   (src/db/leases.ts);
// - the settings pg passes to the `stream` function it makes a connection's socket with: whether
//   it will wrap the socket in TLS (src/db/rowtap.ts, readingSocket);
// - the cancel key (Client#processID and #secretKey, from BackendKeyData), which a lease sends in
//   a CancelRequest of its own (src/db/leases.ts).
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
