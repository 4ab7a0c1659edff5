// The byte path's first step: DataRow messages taken off a connection's socket before pg's parser
// sees them, so no JS string is made per field (docs/design.md, "Raw text rows").
//
// pg (pinned in package.json) reads its socket through one 'data' listener, pg-protocol's
// `parse(stream, callback)`, attached in Connection#attachListeners (reached through
// src/db/pg-internals.ts); pg-copy-streams leans on the same listener. We take that listener's place: every message is framed here, DataRows go to the
// sink while a query of ours is capturing, everything else is handed on to pg's listener whole and
// in order, so pg's state machine (RowDescription, CommandComplete, errors, ReadyForQuery) runs as
// it always does and simply sees a result with no rows. pg's parser only ever gets whole
// messages, so it never keeps a partial one of its own across our capture's edges.
import net from 'node:net'
import type pg from 'pg'
import { socketOf, socketReader } from './pg-internals.js'

/** Takes the DataRows of a capturing query. */
export interface RowSink {
  /**
   * One DataRow: `data[start..]` is its int16 field count, then per field an int32 length (-1 for
   * NULL) and that many bytes of text; the message ends at `end`. `data` may be the socket's one
   * read buffer (readingSocket below), written again by the next read: what a sink keeps of a row
   * past the call it copies, at the latest in `settle`.
   */
  row (data: Buffer, start: number, end: number): void
  /** The buffer the last rows came in is about to be written again: copy what is kept of them. */
  settle? (): void
}

const DATA_ROW = 68 // 'D'
const HEADER = 5 // code byte + int32 length

export class RowTap {
  #forward: (chunk: Buffer) => void
  #sink: RowSink | undefined
  // boxed: a sink may throw any value, undefined among them, and release() must still throw it
  #failure: { thrown: unknown } | undefined
  // a message that a chunk ended inside: its first bytes (`#head`, while the length is not known
  // yet), then a buffer of its full size being filled
  #head = Buffer.alloc(HEADER)
  #headFilled = 0
  #partial: Buffer | undefined
  #partialFilled = 0

  constructor (forward: (chunk: Buffer) => void) {
    this.#forward = forward
  }

  /** DataRows taken by the capture running or last ended */
  captured = 0

  /** From now until `release`, DataRows go to `sink` instead of pg. */
  capture (sink: RowSink): void {
    if (this.#sink !== undefined) throw new Error('a row capture is already running on this connection')
    this.#sink = sink
    this.#failure = undefined
    this.captured = 0
  }

  /** Ends the capture; throws what the sink threw, if it did (the query then counts as failed), unless told to `quiet`ly drop it. */
  release (quiet = false): void {
    this.#sink = undefined
    const failure = this.#failure
    this.#failure = undefined
    if (failure !== undefined && !quiet) throw failure.thrown
  }

  /** The socket's 'data' listener. */
  readonly data = (chunk: Buffer): void => {
    let offset = 0
    if (this.#headFilled > 0 || this.#partial !== undefined) {
      offset = this.#continue(chunk)
      if (offset === -1) return this.#settle()
    }
    const n = chunk.length
    let run = offset // start of the messages not yet handed on
    while (offset + HEADER <= n) {
      const end = offset + 1 + chunk.readUInt32BE(offset + 1)
      if (end > n) break
      if (chunk[offset] === DATA_ROW && this.#sink !== undefined) {
        if (run < offset) this.#forward(chunk.subarray(run, offset))
        this.#row(chunk, offset + HEADER, end)
        run = end
      }
      offset = end
    }
    if (run < offset) this.#forward(chunk.subarray(run, offset))
    if (offset < n) this.#keep(chunk, offset)
    this.#settle()
  }

  #settle (): void {
    if (this.#sink?.settle === undefined || this.#failure !== undefined) return
    try {
      this.#sink.settle()
    } catch (error) {
      this.#failure = { thrown: error }
    }
  }

  #row (data: Buffer, start: number, end: number): void {
    this.captured++
    if (this.#failure !== undefined) return
    try {
      this.#sink!.row(data, start, end)
    } catch (error) {
      // thrown on the socket's 'data' event it would be uncaught: kept for `release` to throw
      this.#failure = { thrown: error }
    }
  }

  /** Begins a message that `chunk` holds only the start of. */
  #keep (chunk: Buffer, offset: number): void {
    const rest = chunk.length - offset
    if (rest < HEADER) {
      chunk.copy(this.#head, 0, offset)
      this.#headFilled = rest
      return
    }
    this.#partial = Buffer.allocUnsafe(1 + chunk.readUInt32BE(offset + 1))
    this.#partialFilled = chunk.copy(this.#partial, 0, offset)
  }

  /** Goes on with the message a previous chunk began; the offset in `chunk` past it, or -1 when `chunk` did not finish it. */
  #continue (chunk: Buffer): number {
    let offset = 0
    if (this.#partial === undefined) {
      const taken = chunk.copy(this.#head, this.#headFilled, 0, HEADER - this.#headFilled)
      this.#headFilled += taken
      offset = taken
      if (this.#headFilled < HEADER) return -1
      this.#partial = Buffer.allocUnsafe(1 + this.#head.readUInt32BE(1))
      this.#partialFilled = this.#head.copy(this.#partial)
      this.#headFilled = 0
    }
    const message = this.#partial
    const taken = chunk.copy(message, this.#partialFilled, offset, offset + message.length - this.#partialFilled)
    this.#partialFilled += taken
    offset += taken
    if (this.#partialFilled < message.length) return -1
    this.#partial = undefined
    if (message[0] === DATA_ROW && this.#sink !== undefined) this.#row(message, HEADER, message.length)
    else this.#forward(message)
    return offset
  }
}

const taps = new WeakMap<pg.ClientBase, RowTap>()
// sockets whose reads go to a row tap, which keeps no chunk past its call (pg's own parser does:
// the start of a message a read ended inside)
const tapped = new WeakSet<object>()
// what Node's sockets read at once
const READ_BYTES = 64 * 1024

/**
 * The socket for a pool's connection (pg's `stream` option): it reads into one buffer of its own,
 * over and over, where a plain socket allocates a new 64 KiB buffer for every read. Those are the
 * byte path's only allocation per read, and they are freed only when V8 next collects, which the
 * byte path, making almost no JS objects, seldom asks for: tens of MB of them piled up per
 * download (docs/decisions/0008-stream-memory.md). Until a row tap reads the socket (pg's startup
 * and authentication), pg's parser gets a copy of each read, since it keeps what a read ended in
 * the middle of. A TLS connection reads its own way: a plain socket, which pg wraps.
 */
export function readingSocket (tls: boolean): net.Socket {
  if (tls) return new net.Socket()
  const buffer = Buffer.allocUnsafe(READ_BYTES)
  const socket: net.Socket = new net.Socket({
    onread: {
      buffer,
      callback: (bytes) => {
        const chunk = buffer.subarray(0, bytes)
        socket.emit('data', tapped.has(socket) ? chunk : Buffer.from(chunk))
        return true
      }
    }
  })
  return socket
}

/**
 * Puts a RowTap in front of a connected client's parser (the pool's 'connect' event). Refuses a
 * pg whose connection reads its socket some other way than the one listener this was built on.
 */
export function installRowTap (client: pg.ClientBase): RowTap {
  const reader = socketReader(client)
  const tap = new RowTap(reader.pg)
  reader.replaceWith(tap.data)
  taps.set(client, tap)
  tapped.add(socketOf(client))
  return tap
}

/** The tap of a pooled client. */
export function rowTapOf (client: pg.ClientBase): RowTap {
  const tap = taps.get(client)
  if (tap === undefined) throw new Error('this client has no row tap: clients come from createPool')
  return tap
}
