// Runs an encoder over a response's batches: the one place that calls the encoders' protocol
// (Encoder in src/formats/types.ts). Rows go in as they come off the socket; each batch comes out
// as one chunk, the head in the first, the tail in the final one. The service (src/stream/rows.ts),
// the tests and the benches all drive the encoders through it.
import { Out, type Spares } from './out.js'
import type { Encoder } from './types.js'

const GRAIN = 64 * 1024

export class Drive {
  readonly #encoder: Encoder
  /** rows taken since the last chunk */
  #rows = 0
  #done = false
  /** a chunk made by chunkLater is still being finished */
  #finishing = false

  readonly #spares: Spares | undefined

  /** `spares`: buffers of chunks already sent, to write the next batches into */
  constructor (encoder: Encoder, spares?: Spares) {
    this.#encoder = encoder
    this.#spares = spares
  }

  /** One DataRow of the batch (its layout: RowSink in src/db/rowtap.ts). */
  row (data: Buffer, start: number, end: number): void {
    this.#encoder.row(data, start, end)
    this.#rows++
  }

  /** Bytes the batch holds so far (the head among them, in the first): what sizes the next. */
  size (): number {
    return this.#encoder.size()
  }

  /**
   * The chunk of everything taken since the last one. `final`: the response ends here, with the
   * format's tail; no row or chunk may follow. `next`, with `final`: the link to the following
   * page when `limit` cut the response. `after`: the key that resumes right behind the batch's
   * last row (dropped for a batch without rows). `sync`: the response's sync token, if
   * it has one. `room`: bytes to set aside, about what a batch
   * comes to (a row format goes on to write the next batch's rows into them).
   */
  chunk (batch: ChunkBatch, room: number = this.size()): Buffer {
    const { out, flushed } = this.#flush(batch, room)
    if (flushed !== undefined) {
      flushed.catch(() => {})
      throw new Error('this encoder finishes its flush off the thread: drive it with chunkLater')
    }
    return out.bytes()
  }

  /**
   * The same, for an encoder that may finish its flush later (made `offThread`): the batch is
   * taken when this returns (a flush that fails at once throws here, before anything else
   * starts), so the next batch's rows may come in while the chunk is finished. The next chunk
   * may be asked for only once this one is done.
   */
  chunkLater (batch: ChunkBatch, room: number = this.size()): Promise<Buffer> {
    const { out, flushed } = this.#flush(batch, room)
    if (flushed === undefined) return Promise.resolve(out.bytes())
    this.#finishing = true
    return flushed.then(() => out.bytes()).finally(() => { this.#finishing = false })
  }

  #flush (batch: ChunkBatch, room: number): { out: Out, flushed: Promise<void> | undefined } {
    if (this.#done) throw new Error('the final chunk was made already')
    if (this.#finishing) throw new Error('the last chunk is not finished yet')
    // in whole 64 KiB steps, so that the buffer of a chunk sent earlier fits the next batches
    // as their sizes wander (src/formats/out.ts, Spares)
    const size = room <= GRAIN ? Math.max(1024, room) : Math.ceil(room / GRAIN) * GRAIN
    const out = new Out(size, this.#spares?.take(size))
    const flushed = this.#encoder.flush(out, { final: batch.final, next: batch.next ?? null, after: this.#rows === 0 ? null : batch.after ?? null, sync: batch.sync ?? null })
    this.#rows = 0
    this.#done = batch.final
    return { out, flushed: flushed ?? undefined }
  }
}

/** What a chunk's batch is: see Drive.chunk. */
export interface ChunkBatch {
  readonly final: boolean
  readonly next?: string | null
  readonly after?: string | null
  readonly sync?: string | null
}
