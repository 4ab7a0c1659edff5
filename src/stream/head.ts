import type { FastifyReply, FastifyRequest } from 'fastify'
import { compileQuery } from '../reports/compile.js'
import type { Report } from '../reports/report.js'
import { startBound } from './checks.js'
import { notModified, revalidate } from './conditional.js'
import { readAndDescribe, representationOf, type Streaming } from './serve.js'

/**
 * HEAD /reports/{name}[.ext]: the headers a GET would get, and the planner's row estimate for
 * these parameters. Runs nothing but EXPLAIN.
 */
export async function headReport (streaming: Streaming, report: Report, request: FastifyRequest, reply: FastifyReply, suffix: string | undefined): Promise<void> {
  const asked = readAndDescribe(report, request, reply, suffix)
  reply.headers(asked.disposition)
  // a pull's estimate counts the changed rows; a HEAD reads no rows, so it carries no sync token
  const changes = report.sync === undefined || asked.changedSince === null ? undefined : { column: report.sync.column, since: asked.changedSince.snapshot, within: null }
  const query = compileQuery(report, asked.params, { after: startBound(report, asked.after), limit: asked.limit, changes })
  // admitted as a GET is: HEADs use the pool, so they must not crowd it past MAX_STREAMS, nor a
  // key's past its max_streams
  const { streams } = streaming
  const ticket = streams.take(request.apiKey)
  try {
    const lease = await streaming.leases.acquire()
    try {
      await lease.begin()
      if (report.version !== undefined) {
        const revalidation = await revalidate(lease, request, representationOf(report, request, asked))
        if (revalidation.notModified) {
          await lease.end()
          notModified(reply, revalidation)
          return
        }
        reply.headers(revalidation.headers)
      }
      const result = await lease.query<{ 'QUERY PLAN': [{ Plan: { 'Plan Rows': number } }] }>({ text: `explain (format json) ${query.sql}`, values: [...query.parameters] })
      await lease.end()
      reply.header('x-estimated-rows', String(result.rows[0]?.['QUERY PLAN'][0].Plan['Plan Rows'] ?? 0))
    } finally {
      lease.destroy()
    }
  } finally {
    streams.give(ticket)
  }
}
