// The process: configuration, the embedded PostgreSQL when DATABASE_URL is unset, listen, and a
// graceful shutdown on SIGTERM/SIGINT.
// first: an older Node stops here with one line, before any other module loads
import './runtime.js'
import path from 'node:path'
import { Kysely, PostgresDialect, sql } from 'kysely'
import pg from 'pg'
import { buildApp, drain } from './app.js'
import { KeysFileError } from './auth/keys.js'
import { ConfigError, loadConfig, MAX_TIMER_MS } from './config.js'
import { EmbeddedMissing, startEmbedded, type EmbeddedServer } from './db/embedded.js'
import { migrateToLatest } from './db/migrate.js'
import { seedDemo } from './db/seed.js'
import { ROOT } from './paths.js'
import { DatabaseUnusable } from './plugins/db.js'
import { ReportError } from './reports/registry.js'

const DATA_DIR = path.join(ROOT, '.data/postgres')
const DEMO_ORDERS = 1_000_000

let embedded: EmbeddedServer | undefined
try {
  const config = loadConfig()
  let connectionString = config.databaseUrl
  if (connectionString === undefined) {
    say(`starting the embedded PostgreSQL in ${path.relative(process.cwd(), DATA_DIR)} ...`)
    embedded = await startEmbedded({ dataDir: DATA_DIR, database: 'sluice' })
    connectionString = embedded.url
    await prepareDemo(connectionString)
  }
  const app = await buildApp({ config, connectionString })
  const address = await app.listen({ host: config.host, port: config.port })
  if (config.apiKeysFile === undefined && !isLoopback(config.host)) {
    app.log.warn({ host: config.host }, 'listening beyond loopback with no API_KEYS_FILE: every report is open to anyone who can reach this port')
  }
  const base = address.replace('[::1]', 'localhost')
  say(`Sluice serves ${app.reports.size} reports on ${base}`)
  say(`  curl ${base}/reports`)
  say(`  curl '${base}/reports/orders.csv?limit=5'`)

  let closing = false
  const shutdown = (signal: string): void => {
    if (closing) return
    closing = true
    app.log.info({ signal }, 'shutting down')
    // should anything hang past the deadline, leave anyway
    setTimeout(() => process.exit(1), Math.min(config.shutdownTimeoutMs + 10_000, MAX_TIMER_MS)).unref()
    drain(app)
      .then(() => embedded?.stop())
      .then(() => process.exit(0), (error: unknown) => {
        app.log.error({ err: error }, 'shutdown failed')
        process.exit(1)
      })
  }
  process.once('SIGTERM', shutdown)
  process.once('SIGINT', shutdown)
} catch (error) {
  // configuration and report errors are the operator's: one line naming what is wrong
  const expected = error instanceof ConfigError || error instanceof ReportError || error instanceof KeysFileError || error instanceof DatabaseUnusable || error instanceof EmbeddedMissing
  console.error(expected ? `sluice: ${error.message}` : error)
  await embedded?.stop()
  // a pool or a half-built app may still hold the event loop: a failed start must end
  process.exit(1)
}

/** First start: the demo schema and data (well under a minute); later starts find them in place. */
async function prepareDemo (connectionString: string): Promise<void> {
  const db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString, max: 1 }) }) })
  try {
    await migrateToLatest(db)
    const { rows } = await sql<{ empty: boolean }>`select not exists (select from orders) as empty`.execute(db)
    if (rows[0]?.empty !== true) return
    const started = performance.now()
    say(`loading the demo data (${DEMO_ORDERS.toLocaleString('en')} orders), on the first start only ...`)
    await seedDemo(db, { orders: DEMO_ORDERS })
    say(`demo data loaded in ${((performance.now() - started) / 1000).toFixed(1)} s`)
  } finally {
    await db.destroy()
  }
}

function isLoopback (host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host)
}

function say (line: string): void {
  process.stdout.write(line + '\n')
}
