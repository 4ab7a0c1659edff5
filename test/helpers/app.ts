import { randomBytes } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { Writable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../../src/app.js'
import { defaultConfig, type Config } from '../../src/config.js'
import { testDatabaseUrl } from './db.js'

interface Teardown { teardown (fn: () => unknown): void }

export interface TestApp {
  readonly app: FastifyInstance
  /** `application_name` of this app's sessions: finds them, and only them, in pg_stat_activity */
  readonly applicationName: string
  /** every log line the app wrote, parsed */
  readonly logs: Array<Record<string, unknown>>
}

/** The real app on the test database, with its own application_name and a captured log. */
export async function buildTestApp (t: Teardown, overrides: Partial<Config> = {}): Promise<TestApp> {
  const applicationName = `sluice-test-${randomBytes(4).toString('hex')}`
  const logs: Array<Record<string, unknown>> = []
  const stream = new Writable({
    write (chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString().split('\n')) if (line !== '') logs.push(JSON.parse(line) as Record<string, unknown>)
      callback()
    }
  })
  const config = defaultConfig({ applicationName, logLevel: 'info', ...overrides })
  const app = await buildApp({ config, connectionString: overrides.databaseUrl ?? testDatabaseUrl(), logger: { level: config.logLevel, stream } })
  t.teardown(() => app.close())
  return { app, applicationName, logs }
}

/** The same, listening on a free loopback port, for tests that need real sockets. */
export async function listenTestApp (t: Teardown, overrides: Partial<Config> = {}): Promise<TestApp & { url: string, port: number }> {
  const testApp = await buildTestApp(t, overrides)
  await testApp.app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = testApp.app.server.address() as AddressInfo
  return { ...testApp, url: `http://127.0.0.1:${port}`, port }
}
