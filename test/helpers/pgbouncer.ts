// A real PgBouncer (Debian's package) in front of the test database, for the tests that show
// Sluice works behind a transaction pooler. PgBouncer refuses to run as root: as root it is
// started with `-u postgres`, its files owned by that user.
import { execFileSync, spawn } from 'node:child_process'
import { chmod, chown, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { waitFor } from './http.js'

interface Teardown { teardown (fn: () => unknown): void }

export const PGBOUNCER = '/usr/sbin/pgbouncer'

export interface Pooler {
  /** the test database, through PgBouncer */
  readonly url: string
  /** what PgBouncer wrote to its log, for a failing test's message */
  log (): Promise<string>
}

/**
 * Starts PgBouncer in `pool_mode = transaction` with `poolSize` server connections, every one
 * made as `server.user` (so the test can count them in pg_stat_activity), whatever user the
 * client names. Stopped when the test ends.
 */
export async function startPgBouncer (t: Teardown, target: string, server: { user: string, password: string }, poolSize: number): Promise<Pooler> {
  const upstream = new URL(target)
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sluice-pgbouncer-'))
  const port = await freePort()
  const ini = path.join(dir, 'pgbouncer.ini')
  await writeFile(ini, `[databases]
* = host=${upstream.hostname} port=${upstream.port === '' ? 5432 : upstream.port} user=${server.user} password=${server.password}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = ${port}
unix_socket_dir =
auth_type = any
pool_mode = transaction
default_pool_size = ${poolSize}
min_pool_size = 0
reserve_pool_size = 0
max_client_conn = 200
query_wait_timeout = 30
ignore_startup_parameters = extra_float_digits,options
logfile = ${path.join(dir, 'pgbouncer.log')}
pidfile = ${path.join(dir, 'pgbouncer.pid')}
`)
  const asRoot = process.getuid?.() === 0
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim())
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim())
    await chown(dir, uid, gid)
    await chown(ini, uid, gid)
    await chmod(ini, 0o600)
  }
  const child = spawn(PGBOUNCER, asRoot ? ['-u', 'postgres', ini] : [ini], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  let exited = false
  child.on('exit', () => { exited = true })
  t.teardown(async () => {
    if (!exited) {
      const gone = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGINT')
      await gone
    }
    await rm(dir, { recursive: true, force: true })
  })
  const log = async (): Promise<string> => `${stderr}${await readFile(path.join(dir, 'pgbouncer.log'), 'utf8').catch(() => '')}`
  await waitFor(async () => {
    if (exited) throw new Error(`pgbouncer exited at start: ${await log()}`)
    return await accepts(port)
  }, { timeout: 10_000, what: 'pgbouncer to listen' })
  const url = new URL(target)
  url.hostname = '127.0.0.1'
  url.port = String(port)
  return { url: url.toString(), log }
}

async function freePort (): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

async function accepts (port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1')
    socket.once('connect', () => { socket.destroy(); resolve(true) })
    socket.once('error', () => resolve(false))
  })
}
