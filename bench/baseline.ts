// The naive way to serve a report, for `npm run bench` to set beside Sluice's memory: the whole
// result read into JS objects, every row JSON.stringify'd into one NDJSON string, sent in one
// piece. A process of its own (`node --import tsx bench/baseline.ts`), so that its RSS is its own.
//
//   DATABASE_URL   the database
//   BASELINE_SQL   the one query it serves, at any path
//   PORT           where to listen on 127.0.0.1; 0 picks a free port
//
// Prints "baseline serves on http://127.0.0.1:<port>" once it listens; SIGTERM ends it.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import pg from 'pg'

const { DATABASE_URL: connectionString, BASELINE_SQL: sql, PORT: port = '0' } = process.env
if (connectionString === undefined || sql === undefined) {
  console.error('bench/baseline.ts needs DATABASE_URL and BASELINE_SQL')
  process.exit(1)
}

const pool = new pg.Pool({ connectionString, max: 1, application_name: 'sluice-bench-baseline' })
const server = http.createServer((_request, response) => {
  pool.query(sql).then(({ rows }) => {
    const body = rows.map((row) => JSON.stringify(row)).join('\n') + '\n'
    response.writeHead(200, { 'content-type': 'application/x-ndjson' })
    response.end(body)
  }, (error: Error) => {
    response.writeHead(500, { 'content-type': 'text/plain' })
    response.end(error.message)
  })
})
server.listen(Number(port), '127.0.0.1', () => {
  console.log(`baseline serves on http://127.0.0.1:${(server.address() as AddressInfo).port}`)
})
process.once('SIGTERM', () => {
  server.close()
  void pool.end()
})
