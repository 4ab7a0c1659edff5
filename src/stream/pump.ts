import { Readable } from 'node:stream'
import type { FastifyReply } from 'fastify'
import { ClientGone, GatewayTimeout, HttpError, RowCapExceeded, ServiceUnavailable } from '../errors.js'
import type { Spares } from '../formats/out.js'
import type { Admission } from './admission.js'

/** How a streamed response ended; every path through the pump ends in exactly one. */
export type Outcome = 'complete' | 'client_closed' | 'stalled' | 'timed_out' | 'db_error' | 'row_cap' | 'shutdown'

export interface PumpOptions {
  /** aborted when the response ends early, for whatever reason: stops the source's database work */
  readonly controller: AbortController
  readonly streamTimeoutMs: number
  readonly stallTimeoutMs: number
  /** the running responses of the process, so a shutdown can stop this one */
  readonly streams: Admission
  /** headers only a response that streams gets (an error before the first byte does not) */
  readonly headers: Readonly<Record<string, string>>
  /** where the buffers of chunks the socket is done with go, for the source to write into again */
  readonly spares?: Spares | undefined
  /** called once, when a response that had begun is over */
  readonly onEnd: (outcome: Outcome, error: Error | undefined) => void
}

// Chunks go to the socket in slices of this size rather than a page at a time, so that a slow
// client's progress shows in the socket's bytesWritten as soon as the kernel takes a slice. The
// kernel's own grain is coarser: Linux wakes a full socket once a third of its send buffer has
// drained (~1 MB on loopback), so a client slower than that per STALL_TIMEOUT_MS counts as
// stalled; nginx's send_timeout works the same way.
const SLICE = 64 * 1024

/**
 * Moves a source's chunks to the reply with backpressure: the next chunk is asked of the source
 * only when the socket (through compression, if any) has taken the last one, so memory is the
 * chunk being sent and the one the source reads ahead (src/stream/rows.ts), never the result.
 *
 * The first chunk is fetched before anything is sent, so an error there (bad parameter, timeout,
 * no connection) still becomes an HTTP status; it is thrown to the caller. After the first byte
 * an error can only abort the connection: no final chunk, so no client takes a partial body for a
 * whole one. Watches the client (gone, or reading nothing for STALL_TIMEOUT_MS) and the clock
 * (STREAM_TIMEOUT_MS), and ends in exactly one outcome.
 */
export async function pump (reply: FastifyReply, source: AsyncGenerator<Buffer, void, undefined>, options: PumpOptions): Promise<void> {
  const { controller } = options
  const res = reply.raw
  let outcome: Outcome | undefined
  let failure: Error | undefined
  let body: Readable | undefined = undefined
  const end = (why: Outcome, error?: Error): void => {
    if (outcome !== undefined) return
    outcome = why
    failure = error
    if (why !== 'complete') controller.abort(error)
  }
  // ends the response early: before the first byte the source fails with `error`, after it the
  // connection is cut — the socket itself, since a compressor may not have sent the headers yet
  // and an error must not turn into an error response then
  const stop = (why: Outcome, error: Error): void => {
    end(why, error)
    if (body !== undefined) {
      body.destroy(error)
      // a reset, not a close: the kernel drops what it still buffers (megabytes on a fast link)
      // instead of sending it first, so the client learns of the cut at once
      const socket = res.socket
      if (socket !== null && !socket.destroyed) socket.resetAndDestroy()
      else res.destroy()
    }
  }

  const untrack = options.streams.track(() => stop('shutdown', new ServiceUnavailable('the server is shutting down')))
  const streamTimer = setTimeout(() => {
    stop('timed_out', new GatewayTimeout(`the response did not finish within STREAM_TIMEOUT_MS (${options.streamTimeoutMs} ms)`))
  }, options.streamTimeoutMs)
  let stallTimer: NodeJS.Timeout | undefined = undefined
  res.on('close', () => {
    clearTimeout(streamTimer)
    clearInterval(stallTimer)
    untrack()
    end(res.writableFinished ? 'complete' : 'client_closed')
    // an error before the first byte is an HTTP error, logged as such, not a stream
    if (body !== undefined) options.onEnd(outcome!, failure)
  })

  let first: IteratorResult<Buffer, void>
  try {
    first = await source.next()
    // ended while the first batch came in (its work finished before the abort reached it)
    if (outcome !== undefined) {
      await source.return()
      throw failure ?? new ClientGone()
    }
  } catch (error) {
    // the client left while the first batch was fetched: nobody to answer, nothing went wrong
    if (outcome === 'client_closed') {
      options.onEnd(outcome, undefined)
      throw new ClientGone()
    }
    // a timeout or shutdown that struck before the first byte says so, not the error it caused
    const reason: unknown = controller.signal.reason
    throw controller.signal.aborted && reason instanceof HttpError ? reason : error
  }

  let pending: Buffer | undefined = first.done === true ? undefined : first.value
  let offset = 0
  let pulling = false
  // Chunks whose every slice is pushed, oldest first, with the count of bytes pushed once each
  // was: the body and what it is piped into (the response, or a compressor) hold bytes in the
  // order they were pushed, so once fewer than that count minus the chunk's end are still held
  // there, nothing holds the chunk any more and its buffer can take a later batch.
  const sent: Array<{ readonly chunk: Buffer, readonly end: number }> = []
  let pushed = 0
  let destination: { readonly writableLength: number } | undefined
  const pushSlice = (): void => {
    const chunk = pending!
    const slice = chunk.subarray(offset, offset + SLICE)
    offset += slice.length
    pushed += slice.length
    if (offset >= chunk.length) {
      pending = undefined
      offset = 0
      if (options.spares !== undefined) sent.push({ chunk, end: pushed })
    }
    body!.push(slice)
  }
  body = new Readable({
    read () {
      if (pending !== undefined) return pushSlice()
      if (pulling) return
      pulling = true
      source.next().then(({ done, value }) => {
        pulling = false
        if (done === true) return body!.push(null)
        pending = value
        pushSlice()
      }, (error: Error) => {
        pulling = false
        stop(error instanceof RowCapExceeded ? 'row_cap' : 'db_error', error)
      })
    },
    destroy (error, callback) {
      // a cause of our own was recorded by `stop`; anything else tearing the body down early is
      // the response going away under us. autoDestroy after a normal end is not: whether the
      // client took every byte is for the response's 'close' to say.
      if (!body!.readableEnded) end('client_closed', error ?? undefined)
      // finishes the generator: its `finally` gives back what it leased
      source.return().catch(() => {})
      callback(error)
    }
  })
  if (pending === undefined) body.push(null)
  const spares = options.spares
  if (spares !== undefined) {
    // the one stream the body is piped into (by Fastify or @fastify/compress), whose
    // writableLength counts the bytes it has not finished with
    const pipe = body.pipe.bind(body)
    body.pipe = <T extends NodeJS.WritableStream>(into: T, pipeOptions?: { end?: boolean }): T => {
      destination = destination === undefined && typeof (into as Partial<{ writableLength: number }>).writableLength === 'number' ? into as unknown as { writableLength: number } : undefined
      return pipe(into, pipeOptions)
    }
    spares.poll = () => {
      if (destination === undefined) return
      const taken = pushed - body.readableLength - destination.writableLength
      while (sent.length > 0 && sent[0]!.end <= taken) spares.give(sent.shift()!.chunk)
    }
  }

  // stalled: the socket took no byte for STALL_TIMEOUT_MS while we had bytes for it (waiting on
  // the database is not the client's stall)
  let lastWritten = -1
  let lastProgress = Date.now()
  stallTimer = setInterval(() => {
    const written = res.socket?.bytesWritten ?? lastWritten
    const now = Date.now()
    if (written !== lastWritten || pulling) {
      lastWritten = written
      lastProgress = now
    } else if (now - lastProgress >= options.stallTimeoutMs) {
      stop('stalled', new Error(`the client read nothing for STALL_TIMEOUT_MS (${options.stallTimeoutMs} ms)`))
    }
  }, Math.min(1000, Math.max(10, options.stallTimeoutMs / 5)))
  stallTimer.unref()
  reply.headers(options.headers)
  return reply.send(body)
}
