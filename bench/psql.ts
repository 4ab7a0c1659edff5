// PostgreSQL's own `COPY ... TO STDOUT`, the limit Sluice is measured against: the real `psql`
// binary writing to /dev/null, as an operator would dump a table; where no psql is on PATH,
// harness/copy.ts's pg client dropping each chunk, labelled as such.
import { spawn, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { closeSync, openSync } from 'node:fs'
import pg from 'pg'
import { copyOutStream } from '../harness/copy.js'

// What every Sluice session has, so COPY writes the same text (docs/http.md section 2)
const SESSION = '-c timezone=UTC -c datestyle=ISO -c intervalstyle=postgres'

export interface Digest {
  readonly sha256: string
  readonly bytes: number
  /** newlines: rows, for output that escapes the newlines inside values */
  readonly lines: number
}

export interface CopyRunner {
  /** `psql 15.4`, or the pg client named as the fallback it is */
  readonly label: string
  /** one COPY with its output dropped: ms from start to the last byte (psql: to its exit) */
  time (sql: string): Promise<number>
  /** one COPY with its output hashed; `prefix` is hashed first (a BOM Sluice adds) */
  digest (sql: string, prefix?: Buffer): Promise<Digest>
  close (): Promise<void>
}

export async function copyRunner (connectionString: string): Promise<CopyRunner> {
  const version = spawnSync('psql', ['--version'], { encoding: 'utf8' })
  if (version.status === 0) return psqlRunner(connectionString, `psql ${/\d+(\.\d+)*/.exec(version.stdout)?.[0] ?? ''}`.trim())
  return await clientRunner(connectionString)
}

function psqlRunner (connectionString: string, label: string): CopyRunner {
  const run = async (sql: string, stdout: number | 'pipe', onChunk?: (chunk: Buffer) => void): Promise<void> => {
    // -X: no ~/.psqlrc; -q: no "COPY n" tag in the output
    const child = spawn('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', connectionString, '-c', sql], {
      env: { ...process.env, PGOPTIONS: SESSION, PGAPPNAME: 'sluice-bench-copy' },
      stdio: ['ignore', stdout, 'pipe']
    })
    let stderr = ''
    child.stderr!.setEncoding('utf8').on('data', (text: string) => { stderr += text })
    if (onChunk !== undefined) child.stdout!.on('data', onChunk)
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject)
      child.once('close', resolve)
    })
    if (code !== 0) throw new Error(`psql exited with ${code}: ${stderr.trim()}`)
  }
  return {
    label,
    time: async (sql) => {
      const devNull = openSync('/dev/null', 'w')
      try {
        const started = performance.now()
        await run(sql, devNull)
        return performance.now() - started
      } finally {
        closeSync(devNull)
      }
    },
    digest: async (sql, prefix) => {
      const digest = digester(prefix)
      await run(sql, 'pipe', digest.update)
      return digest.result()
    },
    close: async () => {}
  }
}

async function clientRunner (connectionString: string): Promise<CopyRunner> {
  const client = new pg.Client({ connectionString, application_name: 'sluice-bench-copy', options: SESSION })
  await client.connect()
  return {
    label: 'pg client, no psql on PATH',
    time: async (sql) => {
      const started = performance.now()
      await copyOutStream(client, sql, () => {})
      return performance.now() - started
    },
    digest: async (sql, prefix) => {
      const digest = digester(prefix)
      await copyOutStream(client, sql, digest.update)
      return digest.result()
    },
    close: async () => { await client.end() }
  }
}

/** sha256, size and newline count of a stream of chunks, none of them kept. */
export function digester (prefix?: Buffer): { update: (chunk: Buffer) => void, result: () => Digest } {
  const hash = createHash('sha256')
  let bytes = 0
  let lines = 0
  const update = (chunk: Buffer): void => {
    hash.update(chunk)
    bytes += chunk.length
    for (let at = chunk.indexOf(10); at !== -1; at = chunk.indexOf(10, at + 1)) lines++
  }
  if (prefix !== undefined) update(prefix)
  return { update, result: () => ({ sha256: hash.digest('hex'), bytes, lines }) }
}
