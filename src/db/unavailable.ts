// Whether a failure means the database is unavailable, read one way for everything that asks:
// the answer a client gets (src/errors.ts), whether a server gets new work and whether a keyset
// page is taken up on another one (src/db/leases.ts, src/db/servers.ts).

/** The database said nothing for longer than any statement may run: the lease gave it up. */
export class ConnectionGivenUp extends Error {
  override name = 'ConnectionGivenUp'
}

/**
 * How the database is unavailable:
 * - `gone`: the server went away under a statement or cannot be reached. The connection is lost
 *   or cannot be made (node's socket errors: ECONNREFUSED, ECONNRESET, EPIPE, ETIMEDOUT, ENOENT
 *   for a Unix socket, EAI_AGAIN...; pg's own "Connection terminated"), the server is shutting
 *   down or starting up (57P01-03), a connection exception (class 08), or a connection that went
 *   silent and was given up. A statement that failed so has changed nothing.
 * - `too_many_connections`: the server is up and refuses new sessions (53300).
 * - `refused`: the server is up and refuses us (class 28, authorization).
 */
export type Unavailable = 'gone' | 'too_many_connections' | 'refused'

/** How `error` says the database is unavailable, or undefined when it does not. */
export function unavailable (error: unknown): Unavailable | undefined {
  if (error instanceof ConnectionGivenUp) return 'gone'
  const code = (error as { code?: unknown } | null)?.code
  if (typeof code === 'string') {
    if (GONE_CODES.test(code)) return 'gone'
    if (code === '53300') return 'too_many_connections'
    if (code.startsWith('28')) return 'refused'
    return undefined
  }
  const message = (error as { message?: unknown } | null)?.message
  return typeof message === 'string' && GONE_MESSAGES.test(message) ? 'gone' : undefined
}

/**
 * The server is gone: a statement that failed so may be taken up on another server, and the
 * server gets no new work until it is checked again. Not a server that refuses new sessions or
 * refuses us: it is up, and its own checks say when it is not usable.
 */
export function serverGone (error: unknown): boolean {
  return unavailable(error) === 'gone'
}

// SQLSTATEs, and node's system errors (E and capitals; EAI_AGAIN is getaddrinfo's "try again")
const GONE_CODES = /^57P0[123]$|^08|^E[A-Z]+$|^EAI_AGAIN$/
// what pg says, without a code, of a connection it lost or could not make in time
const GONE_MESSAGES = /^Connection terminated|^connection timeout|Client has encountered a connection error/
