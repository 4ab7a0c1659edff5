import fp from 'fastify-plugin'
import { DEMO_REPORTS_DIR, loadReports } from '../reports/registry.js'
import type { Report } from '../reports/report.js'
import { Admission } from '../stream/admission.js'
import { GiveBack, loadCollect, loadTrim } from '../stream/trim.js'
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
  // what start-up and a crowd leave goes back to the kernel once no response runs (docs/decisions/0009)
  const addon = loadTrim()
  if ('missing' in addon) app.log.warn(`freed memory is given back to the kernel only in part after a crowd: ${addon.missing}`)
  const streams: Admission = new Admission(config.maxStreams, config.leaseTimeoutMs, config.streamMemoryMb * 2 ** 20, () => giveBack.idle())
  const giveBack = new GiveBack(loadCollect(), 'trim' in addon ? addon.trim : undefined, () => streams.active > 0, (released) => {
    metrics.trims.inc({ released: String(released) })
    app.log.debug({ released, rss: process.memoryUsage.rss() }, 'heap trimmed')
  })
  app.addHook('onReady', async () => giveBack.idle())
  app.addHook('onClose', async () => giveBack.close())
  app.decorate('streaming', { config, leases: app.reads, metrics, streams })
}, { name: 'reports', dependencies: ['db', 'metrics'] })
