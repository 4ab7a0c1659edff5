// The real server as a child process, for tests that measure the process itself (its memory)
// rather than the app; `npm run bench` starts it the same way, from bench/server.ts.
import { startServer, type ServerOptions, type ServerProcess } from '../../bench/server.js'
import { testDatabaseUrl } from './db.js'

export { SERVER_ENTRY, startServer, type ServerOptions, type ServerProcess } from '../../bench/server.js'
export { memoryOf, resetPeak, watchPeak, type Memory, type PeakWatch } from '../../bench/memory.js'
export { download, type Download, type DownloadOptions } from '../../bench/download.js'

interface Teardown { teardown (fn: () => unknown): void }

/** `npm start`'s server process on the test database, stopped (SIGTERM, then waited for) in teardown. */
export async function startTestServer (t: Teardown, options: Omit<ServerOptions, 'databaseUrl'> = {}): Promise<ServerProcess> {
  const server = await startServer({ databaseUrl: testDatabaseUrl(), ...options })
  t.teardown(() => server.stop())
  return server
}
