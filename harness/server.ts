// The real server as a child process, started the way `npm start` starts it, so what a test or a
// benchmark measures (RSS above all) is that process alone and nothing of the measuring one.
// test/helpers/server.ts wraps it with a tap teardown.
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export interface ServerOptions {
  readonly databaseUrl: string
  /** a folder of *.sql reports; unset serves the built-in demo reports */
  readonly reportsDir?: string
  /** more environment (LOG_LEVEL, POOL_MAX, ...) over the defaults */
  readonly env?: Readonly<Record<string, string>>
  /** how long the server may take to print its URL */
  readonly startTimeoutMs?: number
  /** options for node itself, before the script (`--cpu-prof`, ...) */
  readonly nodeArgs?: readonly string[]
}

export interface ServerProcess {
  /** `http://127.0.0.1:<port>`, as the server printed it */
  readonly url: string
  readonly pid: number
  /** every JSON log line the server wrote so far, parsed */
  readonly logs: ReadonlyArray<Record<string, unknown>>
  /** the first log line, past or future, that `match` accepts */
  waitForLog (match: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>
  /** SIGTERM, then waits for the process to exit (SIGKILL if it outlives its shutdown deadline) */
  stop (): Promise<void>
}

/** glibc's allocator settings `npm start` and the Dockerfile give the server; the environment may override them. */
export const ALLOCATOR: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '131072', MALLOC_TRIM_THRESHOLD_: '131072' }
/**
 * V8's settings `npm start` and the Dockerfile give the server: a young generation of 4 MiB
 * semi-spaces instead of the 16 MiB V8 sizes for a machine of this memory (the byte path makes few
 * JS objects; docs/decisions/0008-stream-memory.md).
 */
export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=4']
const ROOT = fileURLToPath(new URL('..', import.meta.url))
/** What `npm start` runs: the compiled server (`npm run build` makes it; `npm test` and `npm run bench` build first). */
export const SERVER_ENTRY = fileURLToPath(new URL('../dist/src/server.js', import.meta.url))
const READY = /^Sluice serves \d+ reports on (http:\/\/\S+)$/
// the server's own SHUTDOWN_TIMEOUT_MS default is 10 s; past that and a margin it is hung
const STOP_TIMEOUT_MS = 15_000

/**
 * Starts `node dist/src/server.js` (the process `npm start` runs) on a free
 * loopback port and resolves once it prints "Sluice serves N reports on <url>".
 */
export async function startServer (options: ServerOptions): Promise<ServerProcess> {
  const child = spawn(process.execPath, [...NODE_FLAGS, ...(options.nodeArgs ?? []), SERVER_ENTRY], {
    cwd: ROOT,
    env: {
      // what `npm start` and the Dockerfile set (docs/decisions/0008-stream-memory.md)
      ...ALLOCATOR,
      ...cleanEnv(),
      DATABASE_URL: options.databaseUrl,
      HOST: '127.0.0.1',
      PORT: '0',
      ...(options.reportsDir === undefined ? {} : { REPORTS_DIR: options.reportsDir }),
      ...options.env
    },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const exited = killedOnExit(child)

  const logs: Array<Record<string, unknown>> = []
  const waiters = new Set<(line: Record<string, unknown>) => void>()
  const output: string[] = [] // the last lines, for an error message
  let announced: ((url: string) => void) | undefined
  // both pipes must be drained for as long as the child lives, or its writes block
  for (const stream of [child.stdout, child.stderr]) {
    let rest = ''
    stream.setEncoding('utf8')
    stream.on('data', (text: string) => {
      const lines = (rest + text).split('\n')
      rest = lines.pop() ?? ''
      for (const line of lines) {
        output.push(line)
        if (output.length > 40) output.shift()
        const ready = READY.exec(line)
        if (ready !== null) announced?.(ready[1]!)
        if (!line.startsWith('{')) continue
        try {
          const parsed = JSON.parse(line) as Record<string, unknown>
          logs.push(parsed)
          for (const waiter of waiters) waiter(parsed)
        } catch {
          // a line that only looks like JSON: kept in output, not in logs
        }
      }
    })
  }

  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`the server printed no URL within ${options.startTimeoutMs ?? 30_000} ms:\n${output.join('\n')}`))
    }, options.startTimeoutMs ?? 30_000)
    announced = (found) => { clearTimeout(timer); resolve(found) }
    void exited.then(() => {
      clearTimeout(timer)
      reject(new Error(`the server exited (${child.exitCode ?? child.signalCode}) before it served:\n${output.join('\n')}`))
    })
  })

  let stopping: Promise<void> | undefined
  return {
    url,
    pid: child.pid!,
    logs,
    waitForLog: async (match, timeoutMs = 5000) => {
      const found = logs.find(match)
      if (found !== undefined) return found
      return await new Promise((resolve, reject) => {
        const waiter = (line: Record<string, unknown>): void => {
          if (!match(line)) return
          done()
          resolve(line)
        }
        const timer = setTimeout(() => { done(); reject(new Error(`no such log line within ${timeoutMs} ms`)) }, timeoutMs)
        const done = (): void => { clearTimeout(timer); waiters.delete(waiter) }
        waiters.add(waiter)
      })
    },
    stop: async () => {
      stopping ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null) return
        child.kill('SIGTERM')
        const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS)
        await exited
        clearTimeout(timer)
      })()
      await stopping
    }
  }
}

/**
 * Our environment without what a test runner injects into it: tap's NODE_OPTIONS loads its
 * process-info hooks and turns on V8 coverage, which would change the very memory we measure.
 */
function cleanEnv (): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [name, value] of Object.entries(process.env)) {
    if (value === undefined || /^(NODE_OPTIONS|NODE_V8_COVERAGE|TAP|_TAPJS_)/.test(name)) continue
    env[name] = value
  }
  return env
}

/** Kills `child` should this process exit first (a crashed or killed parent must not leave a server running); resolves when it has exited. */
export async function killedOnExit (child: ChildProcess): Promise<void> {
  const killOnExit = (): void => { child.kill('SIGKILL') }
  process.once('exit', killOnExit)
  await new Promise<void>((resolve) => child.once('exit', () => {
    process.removeListener('exit', killOnExit)
    resolve()
  }))
}
