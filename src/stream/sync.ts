import { createHash } from 'node:crypto'
import { retriable, type AcquireOptions, type Lease, type LeaseSource } from '../db/leases.js'
import { BadRequest } from '../errors.js'
import type { Report } from '../reports/report.js'

// Sync tokens (docs/http.md section 3, "Changes since the last pull"). A report that declares
// `changes: <column>` names an xid8 column a trigger sets to the writing transaction's id. A token
// is the PostgreSQL snapshot (pg_snapshot) a response's rows were read in; a row version was
// committed after that response exactly when its transaction is not visible in that snapshot,
// whatever order transactions committed in. No clock, no "largest id seen", so no late commit is
// missed and none is sent twice.

const VERSION = 's1'
// a token names its report and database: one of another is refused, not read as garbage
const SCOPE_BYTES = 8

/** What a report's tokens are bound to: the database (its system identifier and name), the report and its column. */
export function syncScope (identity: string, report: string, column: string): string {
  return createHash('sha256').update(`${identity}\0${report}\0${column}`).digest('base64url').slice(0, Math.ceil(SCOPE_BYTES * 4 / 3))
}

/** The token of a snapshot (`xmin:xmax:xip,...`, pg_snapshot's text): URL-safe, opaque. */
export function encodeToken (scope: string, snapshot: string): string {
  return `${VERSION}.${scope}.${Buffer.from(snapshot, 'latin1').toString('base64url')}`
}

// pg_snapshot's text: xmin:xmax:xip,xip,... (64-bit transaction ids, in ascending order)
const SNAPSHOT = /^(\d{1,20}):(\d{1,20}):((?:\d{1,20}(?:,\d{1,20})*)?)$/
// a token holds a snapshot's in-progress list; this bounds what a client can make us parse and send
const MAX_TOKEN = 16 * 1024

/**
 * The snapshot a `changed_since` token holds; a 400 naming the parameter when it is not a token,
 * or is one of another report or database.
 */
export function decodeToken (report: Report, token: string): string {
  const sync = report.sync
  if (sync === undefined) throw new BadRequest(`changed_since: report "${report.name}" declares no changes column, so it has no sync tokens`)
  const parts = token.length > MAX_TOKEN ? [] : token.split('.')
  if (parts.length !== 3 || parts[0] !== VERSION || !/^[A-Za-z0-9_-]+$/.test(parts[2]!)) {
    throw new BadRequest('changed_since: not a sync token (use the Sluice-Sync-Token of an earlier response of this report)')
  }
  if (parts[1] !== sync.scope) {
    throw new BadRequest(`changed_since: a sync token of another report or database, not of report "${report.name}" here`)
  }
  const snapshot = Buffer.from(parts[2]!, 'base64url').toString('latin1')
  const match = SNAPSHOT.exec(snapshot)
  const ids = match === null ? [] : [match[1]!, match[2]!, ...(match[3] === '' ? [] : match[3]!.split(','))].map(BigInt)
  const [xmin, xmax, ...xip] = ids
  const ordered = xmin !== undefined && xmax !== undefined && xmin > 0n && xmin <= xmax && xip.every((x, i) => x >= xmin && x < xmax && (i === 0 || x > xip[i - 1]!))
  if (!ordered || ids.some((x) => x >= 1n << 64n)) throw new BadRequest('changed_since: not a sync token (its snapshot does not read)')
  return snapshot
}

// Where a response's snapshot is taken: always the primary. A hot standby cannot tell its snapshot:
// pg_current_snapshot() there lists no transaction in progress (PostgreSQL keeps a standby's in
// `subxip`, which the function does not read; checked on 15), so a token made there would count a
// transaction still running as committed, and its rows would never be pulled. With the snapshot,
// the WAL position every commit it sees lies before (read after the snapshot was taken), and
// whether the primary has reached the token's `$1` (a token from further on is not of this
// database, or is made up).
const SNAPSHOT_HERE = `select pg_current_snapshot()::text as snapshot, pg_current_wal_insert_lsn()::text as lsn,
  $1::pg_snapshot is null or pg_snapshot_xmax($1::pg_snapshot) <= pg_snapshot_xmax(pg_current_snapshot()) as reached`

// On a replica, before a later page (READ COMMITTED: the page's own statement takes a snapshot
// after this one): whether it has replayed every commit the response's snapshot saw
const REPLAYED = 'select coalesce(pg_last_wal_replay_lsn() >= $1::pg_lsn, false) as replayed'

/**
 * One response's sync: the token it was asked with (`since`, a snapshot) and the snapshot its rows
 * are read in, learnt by its first page (`read`); every later page reads only rows committed in
 * that one (`within`), on a server that has replayed it.
 */
export class Sync {
  readonly column: string
  readonly since: string | null
  #scope: string
  #within: string | undefined
  #lsn: string | undefined
  #onToken: (token: string) => void
  #token: string | null = null

  constructor (report: Report, since: string | null, onToken: (token: string) => void) {
    if (report.sync === undefined) throw new Error(`report "${report.name}" declares no changes column`)
    this.column = report.sync.column
    this.#scope = report.sync.scope
    this.since = since
    this.#onToken = onToken
  }

  /** the snapshot of the first page, once read: later pages read only what it saw committed */
  get within (): string | null {
    return this.#within ?? null
  }

  /** the token of this response, once its first page has read (the encoders write it) */
  get token (): string | null {
    return this.#token
  }

  /** Whether the response's snapshot is taken yet (by its first page, on the primary). */
  get taken (): boolean {
    return this.#within !== undefined
  }

  /**
   * As the first statement of a page's transaction: before the response's snapshot is taken, on
   * the primary, takes it (in REPEATABLE READ, the one the page's rows are then read in) and makes
   * it the response's token; after, false on a replica that has not replayed it yet.
   */
  async read (lease: Lease): Promise<boolean> {
    if (this.#within === undefined) {
      if (lease.server !== 'primary') throw new Error('a sync token is taken on the primary only')
      const { rows } = await lease.query<{ snapshot: string, lsn: string, reached: boolean }>({ text: SNAPSHOT_HERE, values: [this.since] })
      const { snapshot, lsn, reached } = rows[0]!
      if (!reached) throw new BadRequest('changed_since: a sync token from ahead of this database (of another database, or made up)')
      this.#within = snapshot
      this.#lsn = lsn
      this.#token = encodeToken(this.#scope, snapshot)
      this.#onToken(this.#token)
      return true
    }
    // the primary has every commit there is
    if (lease.server === 'primary') return true
    const { rows } = await lease.query<{ replayed: boolean }>({ text: REPLAYED, values: [this.#lsn] })
    return rows[0]!.replayed
  }
}

/**
 * A lease for a page of `sync`'s response, its transaction begun and `sync.read` done: on the
 * primary while the response's snapshot is still to be taken, then on a server that has replayed
 * it (a replica behind is left for the next; the primary, at last, never is).
 */
export async function leaseInSync (leases: LeaseSource, sync: Sync, signal: AbortSignal | undefined, options: AcquireOptions, begin: (lease: Lease) => Promise<void>): Promise<Lease> {
  const behind = new Set(options.avoid)
  for (;;) {
    const lease = await leases.acquire(signal, { ...options, avoid: behind, primary: !sync.taken })
    try {
      await begin(lease)
      if (await sync.read(lease)) return lease
      await lease.end()
    } catch (error) {
      lease.destroy()
      // a replica gone or in conflict while asked: the next server, as for a page
      if (signal?.aborted === true || !retriable(error) || lease.server === 'primary') throw error
    }
    behind.add(lease.server)
  }
}
