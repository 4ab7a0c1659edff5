import type { FastifyInstance } from 'fastify'
import { FORMATS } from '../../src/formats/negotiate.js'
import { paramsSchema, querySchema } from '../../src/reports/schema.js'
import { headReport, serveReport } from '../../src/stream/serve.js'

export default async function reportsRoutes (app: FastifyInstance): Promise<void> {
  app.get('/', async () => ({
    reports: [...app.reports.values()].map((report) => ({
      name: report.name,
      title: report.title,
      description: report.description,
      key: report.key,
      params: paramsSchema(report),
      columns: report.columns.map(({ name, type }) => ({ name, type })),
      formats: FORMATS,
      strategy: report.strategy
    }))
  }))

  for (const report of app.reports.values()) {
    const schema = { querystring: querySchema(report) }
    app.get(`/${report.name}`, { schema }, async (request, reply) => {
      await serveReport(app.streaming, report, request, reply, undefined)
      return reply
    })
    app.get<{ Params: { ext: string } }>(`/${report.name}.:ext`, { schema }, async (request, reply) => {
      await serveReport(app.streaming, report, request, reply, request.params.ext)
      return reply
    })
    app.head(`/${report.name}`, { schema }, async (request, reply) => {
      await headReport(app.streaming, report, request, reply, undefined)
      return reply.send()
    })
    app.head<{ Params: { ext: string } }>(`/${report.name}.:ext`, { schema }, async (request, reply) => {
      await headReport(app.streaming, report, request, reply, request.params.ext)
      return reply.send()
    })
  }
}
