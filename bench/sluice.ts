// One measured download from the server under test: timed by the client, checked whole on both
// ends, its rows and body size as the server logged them, and the server's memory meanwhile.
import { download } from '../harness/download.js'
import { memoryOf, watchPeak } from '../harness/memory.js'
import type { ServerProcess } from '../harness/server.js'
import { measuredDownload } from './curl.js'

export interface Fetched {
  readonly rows: number
  /** the body as the format makes it (before any compression), as the server logged it */
  readonly bytes: number
  /** what crossed the wire */
  readonly wireBytes: number
  readonly firstByteMs: number
  readonly ms: number
  /** the server's highest RSS during the download */
  readonly peakRss: number
  /** that peak over the RSS just before the request */
  readonly rssRise: number
  /** Sluice-Sync-Token, for a report with `changes:` */
  readonly syncToken?: string
}

export interface FetchOptions {
  readonly headers?: Readonly<Record<string, string>>
  readonly onChunk?: (chunk: Buffer) => void
}

/** GET `path` to its end; throws unless it is a 200 with the final chunk that the server logged `complete`. */
export async function fetchReport (server: ServerProcess, path: string, options: FetchOptions = {}): Promise<Fetched> {
  try {
    const before = memoryOf(server.pid).rss
    const watch = watchPeak(server.pid)
    // timed by curl unless the bytes are wanted here
    const result = await (options.onChunk === undefined ? measuredDownload(server.url + path, options.headers) : download(server.url + path, options)).finally(() => watch.stop())
    const peakRss = watch.peak()
    if (result.status !== 200 || !result.complete) throw new Error(`GET ${path}: ${result.status}, ${result.complete ? 'complete' : 'cut short'}`)
    const logged = await streamEnded(server, result.headers['x-request-id'])
    if (logged.outcome !== 'complete') throw new Error(`GET ${path}: the server logged ${String(logged.outcome)}`)
    return {
      rows: Number(logged.rows),
      bytes: Number(logged.bytes),
      wireBytes: result.bytes,
      firstByteMs: result.firstByteMs,
      ms: result.totalMs,
      peakRss,
      rssRise: peakRss - before,
      ...(typeof result.headers['sluice-sync-token'] === 'string' ? { syncToken: result.headers['sluice-sync-token'] } : {})
    }
  } catch (error) {
    if (alive(server.pid)) throw error
    const last = server.logs.slice(-3).map((line) => JSON.stringify(line)).join('\n')
    throw new Error(`GET ${path}: the server (pid ${server.pid}) is gone; its last log lines:\n${last}`, { cause: error })
  }
}

function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** The server's "stream ended" line of the request with this X-Request-Id. */
export async function streamEnded (server: ServerProcess, requestId: string | string[] | undefined, timeoutMs?: number): Promise<Record<string, unknown>> {
  if (typeof requestId !== 'string') throw new Error('the response has no X-Request-Id')
  return await server.waitForLog((line) => line.reqId === requestId && line.msg === 'stream ended', timeoutMs)
}
