import type { Lease, LeaseSource } from '../db/leases.js'
import type { Spares } from '../formats/out.js'
import type { Encoder } from '../formats/types.js'
import type { ParamValues, Report } from '../reports/report.js'
import type { StreamMemory } from './budget.js'
import type { AfterValue } from './keys.js'
import type { Sync } from './sync.js'

// What a report's rows are read with, whichever strategy reads them: the source (source.ts), the
// strategies (cursor.ts, keyset.ts) and the batching they share (rows.ts) all take these, and
// none of them imports another for its types.

export interface SourceOptions {
  readonly leases: LeaseSource
  /** the cursor's server-side net: idle_in_transaction_session_timeout */
  readonly idleTimeoutMs: number
  /**
   * the cursor strategy's transaction, already begun (REPEATABLE READ) and its snapshot taken by
   * the report's version query: the cursor reads the rows of that snapshot
   */
  readonly snapshot?: Lease | undefined
  readonly report: Report
  readonly params: ParamValues
  /** resume after this key (the `after` parameter, parsed) */
  readonly after: readonly AfterValue[] | null
  readonly limit: number | null
  readonly encoder: Encoder
  /** aborts the database work in flight (client gone, timeout, shutdown) */
  readonly signal: AbortSignal
  /** the URL of the page after `after`, for the JSON format's `next` */
  readonly nextLink: (after: string) => string
  /** the response's share of STREAM_MEMORY_MB: how large each batch may be */
  readonly memory: StreamMemory
  /** buffers of chunks the pump has sent, for the next batches (the pump fills it) */
  readonly spares?: Spares | undefined
  /** told of every chunk: rows and bytes sent so far */
  readonly progress: Progress
  /** told when a keyset page is taken up on another server: which one failed, how, and the rows it had given */
  /** a report with `changes:`: the response's sync (src/stream/sync.ts) */
  readonly sync?: Sync | undefined
  readonly onRetry?: ((retry: { server: string, rowsKept: number, reason: string }) => void) | undefined
}

export interface Progress {
  sent (rows: number, bytes: number): void
}
