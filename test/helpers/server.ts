// The real server as a child process (harness/server.ts, as `npm run bench` starts it) on the test
// database, for tests that measure the process itself (its memory) rather than the app.
import { startServer, type ServerOptions, type ServerProcess } from '../../harness/server.js'
import { testDatabaseUrl } from './db.js'

interface Teardown { teardown (fn: () => unknown): void }

/** `npm start`'s server process on the test database, stopped (SIGTERM, then waited for) in teardown. */
export async function startTestServer (t: Teardown, options: Omit<ServerOptions, 'databaseUrl'> = {}): Promise<ServerProcess> {
  const server = await startServer({ databaseUrl: testDatabaseUrl(), ...options })
  t.teardown(() => server.stop())
  return server
}
