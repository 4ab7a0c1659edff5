// One reading of "the database is unavailable" (src/db/unavailable.ts), and what each caller makes
// of it: the client's status (src/errors.ts), a server's health and a keyset page's retry
// (src/db/leases.ts). The real failures behind these errors are in test/failures.test.ts,
// test/database-gone-bad.test.ts and test/replica.test.ts.
import t from 'tap'
import { retriable } from '../src/db/leases.js'
import { ConnectionGivenUp, serverGone, unavailable } from '../src/db/unavailable.js'
import { fromDatabaseError } from '../src/errors.js'

const coded = (code: string): Error => Object.assign(new Error(`failed with ${code}`), { code })

const GONE: Array<[string, unknown]> = [
  ...['08000', '08001', '08003', '08006', '08P01', '57P01', '57P02', '57P03'].map((code): [string, unknown] => [code, coded(code)]),
  ...['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ENOENT']
    .map((code): [string, unknown] => [code, coded(code)]),
  ['a connection given up for silence', new ConnectionGivenUp('the database did not answer within 6000 ms')],
  ['pg: Connection terminated unexpectedly', new Error('Connection terminated unexpectedly')],
  ['pg: Connection terminated due to connection timeout', new Error('Connection terminated due to connection timeout')],
  ['pg: connection timeout', new Error('connection timeout')],
  ['pg: a client with a connection error', new Error('Client has encountered a connection error and is not queryable')]
]
const NOT_UNAVAILABLE: Array<[string, unknown]> = [
  ...['57014', '22P02', '22012', '42P01', '42501', '25006', '40001', '40P01', 'XX000', 'ERR_STREAM_PREMATURE_CLOSE', 'ERR_INVALID_ARG_TYPE']
    .map((code): [string, unknown] => [code, coded(code)]),
  ['an error of ours', new Error('a full batch without a last key')],
  ['a coded error whose message looks like a lost connection', Object.assign(new Error('Connection terminated'), { code: '42P01' })],
  ['null', null],
  ['undefined', undefined],
  ['a string', 'ECONNREFUSED']
]

t.test('gone: lost, unreachable, shutting down or starting up, given up', async (t) => {
  for (const [what, error] of GONE) {
    t.equal(unavailable(error), 'gone', what)
    t.ok(serverGone(error), `${what}: the server is gone`)
    t.ok(retriable(error), `${what}: a keyset page is taken up on another server`)
    t.match(fromDatabaseError(error), { statusCode: 503, message: 'the database does not answer', headers: { 'retry-after': '1' } }, `${what}: 503`)
  }
})

t.test('too many connections (53300): 503 saying so; the server is up, not gone', async (t) => {
  const error = coded('53300')
  t.equal(unavailable(error), 'too_many_connections')
  t.notOk(serverGone(error))
  t.notOk(retriable(error))
  t.match(fromDatabaseError(error), { statusCode: 503, message: /too many connections \(SQLSTATE 53300\)/ })
})

t.test('refused (class 28): 503 that names nothing; the server is up, not gone', async (t) => {
  for (const code of ['28000', '28P01']) {
    const error = coded(code)
    t.equal(unavailable(error), 'refused', code)
    t.notOk(serverGone(error), code)
    t.match(fromDatabaseError(error), { statusCode: 503, message: 'the database does not answer' }, code)
  }
})

t.test('anything else is not the database being unavailable', async (t) => {
  for (const [what, error] of NOT_UNAVAILABLE) {
    t.equal(unavailable(error), undefined, what)
    t.notOk(serverGone(error), what)
  }
  t.match(fromDatabaseError(coded('57014')), { statusCode: 504 }, 'a statement timeout is a 504')
  t.match(fromDatabaseError(coded('22P02')), { statusCode: 400, message: /SQLSTATE 22P02/ }, 'a data exception is the client\'s')
  t.equal(fromDatabaseError(coded('42P01')), undefined, 'a broken report is ours: a 500')
  t.equal(fromDatabaseError(new Error('a full batch without a last key')), undefined)
  t.ok(retriable(coded('40001')) && retriable(coded('40P01')), 'a recovery conflict on a standby is retried, though its server is not gone')
})
