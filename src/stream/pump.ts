import { Readable } from 'node:stream'
import type { FastifyReply } from 'fastify'
import { RowCapExceeded } from '../errors.js'

/** How a streamed response ended; every path through the pump ends in exactly one. */
export type Outcome = 'complete' | 'client_closed' | 'stalled' | 'timed_out' | 'db_error' | 'row_cap' | 'shutdown'

export interface PumpOptions {
  /** aborted when the response ends early, for whatever reason: stops the source's database work */
  readonly controller: AbortController
  /** called once, when the response is over */
  readonly onEnd: (outcome: Outcome, error: Error | undefined) => void
}

/**
 * Moves a source's chunks to the reply with backpressure: the next chunk is asked of the source
 * only when the socket (through compression, if any) has taken the last one, so memory is one
 * chunk, never the result.
 *
 * The first chunk is fetched before anything is sent, so an error there (bad parameter, timeout,
 * no connection) still becomes an HTTP status; it is thrown to the caller. After the first byte
 * an error can only abort the connection: no final chunk, so no client takes a partial body for a
 * whole one.
 */
export async function pump (reply: FastifyReply, source: AsyncGenerator<Buffer, void, undefined>, options: PumpOptions): Promise<void> {
  const { controller } = options
  let outcome: Outcome | undefined
  let failure: Error | undefined
  const end = (why: Outcome, error?: Error): void => {
    if (outcome !== undefined) return
    outcome = why
    failure = error
    if (why !== 'complete') controller.abort(error)
  }
  const res = reply.raw
  let started = false
  res.on('close', () => {
    end(res.writableFinished ? 'complete' : 'client_closed')
    // an error before the first byte is an HTTP error, logged as such, not a stream
    if (started) options.onEnd(outcome!, failure)
  })

  const first = await source.next()
  started = true

  let pulling = false
  const body = new Readable({
    read () {
      if (pulling) return
      pulling = true
      source.next().then(({ done, value }) => {
        pulling = false
        body.push(done === true ? null : value)
      }, (error: Error) => {
        pulling = false
        end(outcomeOf(error), error)
        body.destroy(error)
      })
    },
    destroy (error, callback) {
      // a source error was classified where it was caught; anything else tearing the body down
      // is the response going away under us
      end('client_closed', error ?? undefined)
      // finishes the generator: its `finally` gives back what it leased
      source.return().catch(() => {})
      callback(error)
    }
  })
  if (first.done !== true) body.push(first.value)
  else body.push(null)
  return reply.send(body)
}

function outcomeOf (error: Error): Outcome {
  if (error instanceof RowCapExceeded) return 'row_cap'
  return 'db_error'
}
