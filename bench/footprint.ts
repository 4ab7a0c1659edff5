// The server's memory over time during one whole NDJSON download: Sluice beside the
// load-everything baseline (bench/baseline.ts) serving the same rows, each a process of its own.
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { download } from '../harness/download.js'
import { recordRss, watchPeak, type RssSample } from '../harness/memory.js'
import { killedOnExit, type ServerProcess } from '../harness/server.js'
import { fetchReport } from './sluice.js'

export interface Footprint {
  readonly rows: number
  readonly ms: number
  /** the highest RSS during the download (the kernel's high-water mark where it can be reset) */
  readonly peakRss: number
  /** RSS every SAMPLE_MS from the request on */
  readonly samples: readonly RssSample[]
}

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const BASELINE_ENTRY = fileURLToPath(new URL('./baseline.ts', import.meta.url))
export const SAMPLE_MS = 50
const START_TIMEOUT_MS = 30_000
const STOP_TIMEOUT_MS = 5000

export async function sluiceFootprint (server: ServerProcess, path: string): Promise<Footprint> {
  const recording = recordRss(server.pid, SAMPLE_MS)
  let samples: RssSample[] = []
  const fetched = await fetchReport(server, path).finally(() => { samples = recording.stop() })
  return { rows: fetched.rows, ms: fetched.ms, peakRss: fetched.peakRss, samples }
}

/** Starts bench/baseline.ts serving `sql`, downloads it once, and stops it. */
export async function baselineFootprint (connectionString: string, sql: string, rows: number): Promise<Footprint> {
  const baseline = await startBaseline(connectionString, sql)
  try {
    const recording = recordRss(baseline.pid, SAMPLE_MS)
    const watch = watchPeak(baseline.pid)
    let lines = 0
    let samples: RssSample[] = []
    const result = await download(`${baseline.url}/`, {
      onChunk: (chunk) => { for (let at = chunk.indexOf(10); at !== -1; at = chunk.indexOf(10, at + 1)) lines++ }
    }).finally(() => { watch.stop(); samples = recording.stop() })
    if (result.status !== 200 || !result.complete || lines !== rows) {
      throw new Error(`the baseline answered ${result.status}, ${result.complete ? 'complete' : 'cut short'}, ${lines} of ${rows} rows`)
    }
    return { rows: lines, ms: result.totalMs, peakRss: watch.peak(), samples }
  } finally {
    await baseline.stop()
  }
}

interface Baseline {
  readonly url: string
  readonly pid: number
  stop (): Promise<void>
}

async function startBaseline (connectionString: string, sql: string): Promise<Baseline> {
  const child = spawn(process.execPath, ['--import', 'tsx', BASELINE_ENTRY], {
    cwd: ROOT,
    env: { ...process.env, DATABASE_URL: connectionString, BASELINE_SQL: sql, PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const exited = killedOnExit(child)
  let output = ''
  child.stderr.setEncoding('utf8').on('data', (text: string) => { output += text })
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`bench/baseline.ts printed no URL within ${START_TIMEOUT_MS} ms: ${output}`))
    }, START_TIMEOUT_MS)
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      output += text
      const found = /^baseline serves on (http:\/\/\S+)$/m.exec(output)
      if (found !== null) {
        clearTimeout(timer)
        resolve(found[1]!)
      }
    })
    void exited.then(() => {
      clearTimeout(timer)
      reject(new Error(`bench/baseline.ts exited before it served: ${output}`))
    })
  })
  return {
    url,
    pid: child.pid!,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS)
      await exited
      clearTimeout(timer)
    }
  }
}
