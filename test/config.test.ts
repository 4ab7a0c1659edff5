import t from 'tap'
import { ConfigError, loadConfig } from '../src/config.js'

t.test('defaults are docs/http.md section 2', async (t) => {
  t.match(loadConfig({}), {
    databaseUrl: undefined,
    host: '127.0.0.1',
    port: 3000,
    reportsDir: undefined,
    poolMax: 10,
    leaseTimeoutMs: 2000,
    statementTimeoutMs: 30000,
    streamTimeoutMs: 3600000,
    stallTimeoutMs: 30000,
    maxStreams: 64,
    apiKeysFile: undefined,
    shutdownTimeoutMs: 10000,
    logLevel: 'info'
  })
  t.ok(Object.isFrozen(loadConfig({})))
})

t.test('values are read from the environment', async (t) => {
  const config = loadConfig({ DATABASE_URL: 'postgres://x@db/y', PORT: '8080', HOST: '0.0.0.0', POOL_MAX: '4', LOG_LEVEL: 'warn', REPORTS_DIR: '/srv/reports' })
  t.match(config, { databaseUrl: 'postgres://x@db/y', port: 8080, host: '0.0.0.0', poolMax: 4, logLevel: 'warn', reportsDir: '/srv/reports' })
  t.equal(loadConfig({ DATABASE_URL: '  ' }).databaseUrl, undefined, 'blank is unset')
})

t.test('a bad value fails with a message naming the variable', async (t) => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ PORT: 'http' }, /^PORT must be a whole number/],
    [{ PORT: '70000' }, /^PORT must be between 0 and 65535/],
    [{ POOL_MAX: '0' }, /^POOL_MAX must be between 1/],
    [{ LEASE_TIMEOUT_MS: '-5' }, /^LEASE_TIMEOUT_MS must be a whole number/],
    [{ STATEMENT_TIMEOUT_MS: '1.5' }, /^STATEMENT_TIMEOUT_MS must be a whole number/],
    [{ MAX_STREAMS: '0' }, /^MAX_STREAMS must be between 1/],
    [{ LOG_LEVEL: 'loud' }, /^LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent/]
  ]
  for (const [env, message] of cases) {
    t.throws(() => loadConfig(env), ConfigError)
    t.throws(() => loadConfig(env), { message })
  }
})

t.test('REPLICA_URLS: a list of postgres URLs; a bad entry is named by place, its password never shown', async (t) => {
  t.same(loadConfig({}).replicaUrls, [], 'unset: no replicas')
  t.equal(loadConfig({}).replicaMaxLagMs, 30000, 'REPLICA_MAX_LAG_MS defaults to 30 s')
  const config = loadConfig({ REPLICA_URLS: 'postgres://r:pw@replica1/shop, postgresql://replica2:6432/shop', REPLICA_MAX_LAG_MS: '500' })
  t.same(config.replicaUrls, ['postgres://r:pw@replica1/shop', 'postgresql://replica2:6432/shop'])
  t.equal(config.replicaMaxLagMs, 500)
  for (const bad of ['postgres://r:s3cret@replica1/shop,http://r:s3cret@replica2/shop', 'postgres://r:s3cret@replica1/shop,,', 'r:s3cret@replica1']) {
    t.throws(() => loadConfig({ REPLICA_URLS: bad }), ConfigError)
    let message = ''
    try {
      loadConfig({ REPLICA_URLS: bad })
    } catch (error) {
      message = (error as Error).message
    }
    t.match(message, /^REPLICA_URLS entry \d of \d is not a postgres:\/\/host\/database URL$/, `${message}`)
    t.notOk(message.includes('s3cret'), 'no password in the message')
  }
  t.throws(() => loadConfig({ REPLICA_MAX_LAG_MS: 'soon' }), { message: /^REPLICA_MAX_LAG_MS must be a whole number/ })
})
