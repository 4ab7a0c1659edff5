import fp from 'fastify-plugin'
import { DEMO_REPORTS_DIR, loadReports } from '../reports/registry.js'
import type { Report } from '../reports/report.js'
import { Admission } from '../stream/admission.js'
import type { Streaming } from '../stream/serve.js'

declare module 'fastify' {
  interface FastifyInstance {
    reports: ReadonlyMap<string, Report>
    streaming: Streaming
  }
}

/** The report registry, checked against the database before the app serves anything. */
export default fp(async (app) => {
  const { config, leases, metrics } = app
  app.decorate('reports', await loadReports(config.reportsDir ?? DEMO_REPORTS_DIR, leases))
  app.decorate('streaming', { config, leases: app.reads, metrics, streams: new Admission(config.maxStreams, config.leaseTimeoutMs, config.streamMemoryMb * 2 ** 20) })
}, { name: 'reports', dependencies: ['db', 'metrics'] })
