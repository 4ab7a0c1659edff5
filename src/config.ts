import { randomBytes } from 'node:crypto'

// Environment -> one typed, frozen configuration. A bad value stops the process at start with one
// line naming the variable (docs/http.md section 2).

export interface Config {
  readonly databaseUrl: string | undefined
  /** read replicas (REPLICA_URLS): report queries go there; empty = everything on the primary */
  readonly replicaUrls: readonly string[]
  /** a replica further behind than this gets no new work */
  readonly replicaMaxLagMs: number
  readonly host: string
  readonly port: number
  readonly reportsDir: string | undefined
  readonly poolMax: number
  readonly leaseTimeoutMs: number
  readonly statementTimeoutMs: number
  readonly streamTimeoutMs: number
  readonly stallTimeoutMs: number
  readonly maxStreams: number
  /** what all running responses may hold together in batches, encoders and compressors (src/stream/budget.ts) */
  readonly streamMemoryMb: number
  readonly apiKeysFile: string | undefined
  readonly shutdownTimeoutMs: number
  readonly logLevel: string
  /** the HMAC secret of signed links: LINK_SECRET, or random for this process alone */
  readonly linkSecret: Buffer
  /** `application_name` of our database sessions: how operators (and tests) find them in pg_stat_activity */
  readonly applicationName: string
}

/** The longest delay Node's timers take (2^31 - 1 ms); a longer one fires at once. */
export const MAX_TIMER_MS = 2_147_483_647

export class ConfigError extends Error {
  override name = 'ConfigError'
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']

export function loadConfig (env: NodeJS.ProcessEnv = process.env): Config {
  return Object.freeze({
    databaseUrl: optional(env, 'DATABASE_URL'),
    replicaUrls: postgresUrls(env, 'REPLICA_URLS'),
    replicaMaxLagMs: integer(env, 'REPLICA_MAX_LAG_MS', 30_000, 0, MAX_TIMER_MS),
    host: optional(env, 'HOST') ?? '127.0.0.1',
    port: integer(env, 'PORT', 3000, 0, 65535),
    reportsDir: optional(env, 'REPORTS_DIR'),
    poolMax: integer(env, 'POOL_MAX', 10, 1, 10_000),
    leaseTimeoutMs: integer(env, 'LEASE_TIMEOUT_MS', 2000, 1, MAX_TIMER_MS),
    statementTimeoutMs: integer(env, 'STATEMENT_TIMEOUT_MS', 30_000, 1, MAX_TIMER_MS),
    streamTimeoutMs: integer(env, 'STREAM_TIMEOUT_MS', 3_600_000, 1, MAX_TIMER_MS),
    stallTimeoutMs: integer(env, 'STALL_TIMEOUT_MS', 30_000, 1, MAX_TIMER_MS),
    maxStreams: integer(env, 'MAX_STREAMS', 64, 1, 100_000),
    // the default: docs/decisions/0008-stream-memory.md
    streamMemoryMb: integer(env, 'STREAM_MEMORY_MB', 128, 1, 1_000_000),
    apiKeysFile: optional(env, 'API_KEYS_FILE'),
    shutdownTimeoutMs: integer(env, 'SHUTDOWN_TIMEOUT_MS', 10_000, 0, MAX_TIMER_MS),
    logLevel: oneOf(env, 'LOG_LEVEL', 'info', LOG_LEVELS),
    linkSecret: secret(env, 'LINK_SECRET'),
    applicationName: 'sluice'
  })
}

/** The configuration with every default, for tests and tools that build the app directly. */
export function defaultConfig (overrides: Partial<Config> = {}): Config {
  return Object.freeze({ ...loadConfig({}), ...overrides })
}

function optional (env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name]
  return value === undefined || value.trim() === '' ? undefined : value
}

function integer (env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const raw = optional(env, name)
  if (raw === undefined) return fallback
  if (!/^\d+$/.test(raw.trim())) throw new ConfigError(`${name} must be a whole number, got ${JSON.stringify(raw)}`)
  const value = Number(raw)
  if (value < min || value > max) throw new ConfigError(`${name} must be between ${min} and ${max}, got ${raw}`)
  return value
}

// HMAC-SHA256's own block is 64 bytes; fewer than 32 would be guessable sooner than the hash
const MIN_SECRET_BYTES = 32

function secret (env: NodeJS.ProcessEnv, name: string): Buffer {
  const raw = optional(env, name)
  if (raw === undefined) return randomBytes(MIN_SECRET_BYTES)
  // the length only: a secret is never quoted back
  if (Buffer.byteLength(raw) < MIN_SECRET_BYTES) throw new ConfigError(`${name} must be at least ${MIN_SECRET_BYTES} bytes, got ${Buffer.byteLength(raw)}`)
  return Buffer.from(raw)
}

/**
 * A comma-separated list of postgres:// URLs. A bad entry is named by its place, never quoted:
 * it may hold a password.
 */
function postgresUrls (env: NodeJS.ProcessEnv, name: string): readonly string[] {
  const raw = optional(env, name)
  if (raw === undefined) return Object.freeze([])
  const urls = raw.split(',').map((entry) => entry.trim())
  urls.forEach((entry, i) => {
    let url: URL | undefined
    try {
      url = new URL(entry)
    } catch {
      // not a URL at all: said below, like any other bad entry
    }
    if (url === undefined || (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') || url.hostname === '') {
      throw new ConfigError(`${name} entry ${i + 1} of ${urls.length} is not a postgres://host/database URL`)
    }
  })
  return Object.freeze(urls)
}

function oneOf (env: NodeJS.ProcessEnv, name: string, fallback: string, allowed: string[]): string {
  const raw = optional(env, name)
  if (raw === undefined) return fallback
  if (!allowed.includes(raw)) throw new ConfigError(`${name} must be one of ${allowed.join(', ')}, got ${JSON.stringify(raw)}`)
  return raw
}
