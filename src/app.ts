import { randomUUID } from 'node:crypto'
import { STATUS_CODES } from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import zlib from 'node:zlib'
import { fileURLToPath } from 'node:url'
import autoload from '@fastify/autoload'
import compress from '@fastify/compress'
import Fastify, { type FastifyError, type FastifyInstance, type FastifyServerOptions } from 'fastify'
import fp from 'fastify-plugin'
import type { Config } from './config.js'
import { ClientGone, fromDatabaseError, HttpError } from './errors.js'
import { loadKeys } from './auth/keys.js'
import { redactSignature } from './auth/links.js'
import auth from './plugins/auth.js'
import db from './plugins/db.js'
import metrics, { metricGauges } from './plugins/metrics.js'
import reports from './plugins/reports.js'
import { COMPRESSIBLE_TYPES } from './stream/conditional.js'

declare module 'fastify' {
  interface FastifyInstance {
    config: Config
    /** shutting down: new requests get 503, running streams may finish */
    draining: boolean
  }
}

export interface AppOptions {
  readonly config: Config
  /** the database the reports read (DATABASE_URL, or the embedded server's) */
  readonly connectionString: string
  readonly logger?: FastifyServerOptions['logger']
}

const ROUTES_DIR = fileURLToPath(new URL('../routes/', import.meta.url))
// @fastify/autoload loads .ts routes only under a TypeScript runtime it recognises, and neither
// tsx's `--import` hook nor tap's loader is one it does: running from sources, say so
if (import.meta.url.endsWith('.ts')) process.env.FASTIFY_AUTOLOAD_TYPESCRIPT ??= '1'

/** The whole service as a Fastify instance; `src/server.ts` listens with it, tests inject into it. */
export async function buildApp (options: AppOptions): Promise<FastifyInstance> {
  const { config } = options
  const app = Fastify({
    logger: withRequestSerializer(options.logger ?? { level: config.logLevel }),
    genReqId: (req) => {
      const given = req.headers['x-request-id']
      return typeof given === 'string' && /^[\w.:-]{1,64}$/.test(given) ? given : randomUUID()
    },
    // a HEAD of a report must not run the report: routes declare their own HEAD
    exposeHeadRoutes: false,
    // bounds on what a client may send. Reports are GETs: no body is ever read. The request line
    // and headers together stay under 8 KiB (Node answers 431 past it) and must arrive in 30 s.
    bodyLimit: 16 * 1024,
    routerOptions: { maxParamLength: 200 },
    requestTimeout: 30_000,
    http: { maxHeaderSize: 8 * 1024 },
    ajv: {
      customOptions: {
        // an unknown query parameter is a 400, not silently dropped
        removeAdditional: false,
        coerceTypes: 'array',
        useDefaults: true,
        allErrors: false
      }
    },
    schemaErrorFormatter: (errors) => new Error(describeValidation(errors))
  })
  app.decorate('config', config)
  app.decorate('draining', false)
  app.register(fp(async () => {}, { name: 'config' }))

  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id)
    if (app.draining && request.url !== '/health') {
      return reply.code(503).header('retry-after', '5').send({ statusCode: 503, error: 'Service Unavailable', message: 'the server is shutting down' })
    }
  })
  app.setErrorHandler(async (error: FastifyError, request, reply) => {
    if (error instanceof ClientGone) return reply.code(499).send()
    const fromDatabase = error instanceof HttpError ? undefined : fromDatabaseError(error)
    // the database's own words stay in the log: they may quote the report's rows
    if (fromDatabase !== undefined) request.log.warn({ reason: error.message, code: error.code }, 'database refused the request')
    const known = error instanceof HttpError ? error : fromDatabase
    if (known !== undefined) {
      reply.headers(known.headers)
      return reply.code(known.statusCode).send({ statusCode: known.statusCode, error: statusText(known.statusCode), message: known.message })
    }
    if (error.validation !== undefined || (error.statusCode !== undefined && error.statusCode < 500)) {
      const code = error.statusCode ?? 400
      return reply.code(code).send({ statusCode: code, error: statusText(code), message: error.message })
    }
    request.log.error({ err: error }, 'request failed')
    return reply.code(500).send({ statusCode: 500, error: 'Internal Server Error', message: 'the request failed; the log has its request id' })
  })
  app.setNotFoundHandler(async (request, reply) => {
    const path = request.url.split('?')[0] ?? ''
    const message = path.startsWith('/reports/')
      ? `no report named "${decodeSafe(path.slice('/reports/'.length).replace(/\.(ndjson|csv|json|xlsx|parquet|arrow)$/, ''))}"; GET /reports lists them`
      : `no route ${request.method} ${path}`
    return reply.code(404).send({ statusCode: 404, error: 'Not Found', message })
  })

  await app.register(compress, {
    // @fastify/compress's default regex does not count application/x-ndjson as compressible
    customTypes: COMPRESSIBLE_TYPES,
    // the fastest level of each coding, so the stream keeps up with the database; 64 KiB output
    // chunks; Brotli's window at 256 KiB so its first output is not held back
    // (docs/decisions/0002-zstd-on-the-wire.md has the measurements)
    zlibOptions: { level: 1, memLevel: 9, chunkSize: COMPRESSED_CHUNK },
    brotliOptions: { chunkSize: COMPRESSED_CHUNK, params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 1, [zlib.constants.BROTLI_PARAM_LGWIN]: 18 } },
    zlib: { createZstdCompress: zstdCompressor, zstdCompressSync: (bytes: zlib.InputType) => zlib.zstdCompressSync(bytes, ZSTD_OPTIONS) }
  })
  await app.register(auth, { keys: config.apiKeysFile === undefined ? undefined : await loadKeys(config.apiKeysFile) })
  await app.register(metrics)
  await app.register(db, { connectionString: options.connectionString })
  await app.register(reports)
  await app.register(metricGauges)
  await app.register(autoload, { dir: ROUTES_DIR, forceESM: true })
  return app
}

const COMPRESSED_CHUNK = 64 * 1024
// zstd level 1, flushed at every write: the pump writes a batch in 64 KiB slices, so a batch's
// last rows leave when the batch does, not once the compressor has gathered a block of 128 KiB
const ZSTD_OPTIONS: zlib.ZstdOptions = { chunkSize: COMPRESSED_CHUNK, params: { [zlib.constants.ZSTD_c_compressionLevel]: 1 } }
const zstdCompressor = (): zlib.ZstdCompress => zlib.createZstdCompress({ ...ZSTD_OPTIONS, flush: zlib.constants.ZSTD_e_flush })

/**
 * Graceful shutdown: new requests get 503 at once (/ready too), running streams may finish for
 * SHUTDOWN_TIMEOUT_MS, the rest are cut (outcome `shutdown`), then the server and the pool close.
 */
export async function drain (app: FastifyInstance): Promise<void> {
  app.draining = true
  const { streams } = app.streaming
  const deadline = new AbortController()
  await Promise.race([streams.idle(), sleep(app.config.shutdownTimeoutMs, undefined, { signal: deadline.signal }).catch(() => {})])
  deadline.abort()
  streams.stopAll()
  // a cut stream is over (logged, counted, its lease back) only at its response's 'close', which
  // may come after app.close() has resolved: the process would then exit without its log line
  await streams.idle()
  await app.close()
}

/** Fastify's request log line, with a signed link's signature left out (docs/design.md, "Known traps": never logged). */
function withRequestSerializer (logger: NonNullable<FastifyServerOptions['logger']>): FastifyServerOptions['logger'] {
  if (typeof logger !== 'object') return logger
  return {
    ...logger,
    serializers: {
      req: (request: { method: string, url: string, host?: string, socket?: { remoteAddress?: string, remotePort?: number } }) => ({
        method: request.method,
        url: redactSignature(request.url),
        host: request.host,
        remoteAddress: request.socket?.remoteAddress,
        remotePort: request.socket?.remotePort
      })
    }
  }
}

function describeValidation (errors: ReadonlyArray<{ keyword: string, instancePath: string, message?: string | undefined, params: Record<string, unknown> }>): string {
  const error = errors[0]
  if (error === undefined) return 'invalid request'
  if (error.keyword === 'additionalProperties') return `unknown parameter "${String(error.params.additionalProperty)}"`
  if (error.keyword === 'required') return `missing required parameter "${String(error.params.missingProperty)}"`
  const name = error.instancePath.split('/')[1] ?? ''
  const allowed = Array.isArray(error.params.allowedValues) ? `: ${error.params.allowedValues.join(', ')}` : ''
  return `parameter "${name}" ${error.message ?? 'is invalid'}${allowed}`
}

function statusText (code: number): string {
  return STATUS_CODES[code] ?? 'Error'
}

function decodeSafe (text: string): string {
  try {
    return decodeURIComponent(text)
  } catch {
    return text
  }
}
