import t from 'tap'
import { ConfigError, loadConfig } from '../src/config.js'

t.test('defaults are API.md section 2', async (t) => {
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
