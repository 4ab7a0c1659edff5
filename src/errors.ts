// Errors a client can cause or must be told about, with the status docs/http.md section 3 gives them.
// Anything else that reaches the error handler is ours: a 500 with nothing of its detail.
import { unavailable } from './db/unavailable.js'

export class HttpError extends Error {
  readonly statusCode: number
  readonly headers: Readonly<Record<string, string>>

  constructor (statusCode: number, message: string, headers: Record<string, string> = {}) {
    super(message)
    this.statusCode = statusCode
    this.headers = headers
  }
}

export class BadRequest extends HttpError {
  constructor (message: string) { super(400, message) }
}

export class NotAcceptable extends HttpError {
  constructor (message: string) { super(406, message) }
}

/** No connection or stream slot free: the client may try again shortly. */
export class ServiceUnavailable extends HttpError {
  constructor (message: string, retryAfterMs = 1000) {
    super(503, message, { 'retry-after': String(Math.max(1, Math.ceil(retryAfterMs / 1000))) })
  }
}

export class GatewayTimeout extends HttpError {
  constructor (message: string) { super(504, message) }
}

/** A response passed its report's max_rows without a `limit`: aborted, never cut short silently. */
export class RowCapExceeded extends Error {
  constructor (maxRows: number) { super(`more than max_rows (${maxRows}) rows`) }
}

/** The client went away before the response began: there is no one to answer. */
export class ClientGone extends Error {
  constructor () { super('the client closed the connection') }
}

/**
 * What a database error before the first byte means for the client, if it is theirs: a timeout,
 * a value refused, or a database that is down, restarting or refusing us (src/db/unavailable.ts),
 * which is nothing the client did and may pass.
 */
export function fromDatabaseError (error: unknown): HttpError | undefined {
  const code = (error as { code?: unknown } | null)?.code
  if (code === '57014') return new GatewayTimeout('the database did not answer within the statement timeout')
  // class 22, data exception: a value the report could not take, most likely one the client
  // sent. PostgreSQL's own message may quote values of the report's rows, so it stays in the log.
  if (typeof code === 'string' && code.startsWith('22')) return new BadRequest(`a parameter value was refused by the database (SQLSTATE ${code})`)
  // the reason stays out of the answer (it names hosts and users); /ready logs it
  switch (unavailable(error)) {
    case 'too_many_connections': return new ServiceUnavailable('the database refuses new connections: too many connections (SQLSTATE 53300)')
    case 'gone':
    case 'refused': return new ServiceUnavailable('the database does not answer')
    case undefined: return undefined
  }
}

export class Unauthorized extends HttpError {
  constructor (message: string) { super(401, message, { 'www-authenticate': 'Bearer' }) }
}

export class Forbidden extends HttpError {
  constructor (message: string) { super(403, message) }
}

/** The API key's own stream cap (max_streams) is reached; other keys are not affected. */
export class TooManyStreams extends HttpError {
  constructor (message: string) { super(429, message, { 'retry-after': '1' }) }
}
