// `--cpu-prof`: where the server's time goes. A server of its own started under V8's sampling
// profiler, one CSV and one NDJSON download, a SIGTERM (Node writes the profile as it exits), and
// the functions that used the most CPU themselves: what to read when a target is missed.
import { mkdir, readdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { startServer } from '../harness/server.js'
import { reportPath, type Dataset } from './datasets.js'
import { fetchReport } from './sluice.js'

export interface HotFunction {
  readonly name: string
  /** file:line, relative to the repository where it is in it */
  readonly location: string
  readonly selfMs: number
  /** of the time the process was not idle */
  readonly percent: number
}

export interface ProfileSummary {
  readonly file: string
  readonly sampledMs: number
  readonly idleMs: number
  readonly top: readonly HotFunction[]
}

interface CpuProfile {
  readonly nodes: ReadonlyArray<{
    readonly id: number
    readonly callFrame: { readonly functionName: string, readonly url: string, readonly lineNumber: number }
    readonly hitCount?: number
  }>
  readonly startTime: number
  readonly endTime: number
  readonly samples?: readonly number[]
  readonly timeDeltas?: readonly number[]
}

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const TOP = 15

export async function profileServer (options: { databaseUrl: string, reportsDir: string, env: Readonly<Record<string, string>>, dataset: Dataset, dir: string }): Promise<ProfileSummary> {
  await mkdir(options.dir, { recursive: true })
  const server = await startServer({
    databaseUrl: options.databaseUrl,
    reportsDir: options.reportsDir,
    env: options.env,
    nodeArgs: ['--cpu-prof', '--cpu-prof-dir', options.dir]
  })
  try {
    await fetchReport(server, reportPath(options.dataset, 'keyset', 'csv'))
    await fetchReport(server, reportPath(options.dataset, 'keyset', 'ndjson'))
  } finally {
    await server.stop()
  }
  // Node names it CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile
  const name = (await readdir(options.dir)).find((file) => file.endsWith('.cpuprofile') && file.split('.')[3] === String(server.pid))
  if (name === undefined) throw new Error(`the server (pid ${server.pid}) wrote no .cpuprofile in ${options.dir}`)
  const file = path.join(options.dir, name)
  return { file, ...selfTimes(JSON.parse(await readFile(file, 'utf8')) as CpuProfile) }
}

/** Self time per function (all its call sites together), the top TOP of them. */
export function selfTimes (profile: CpuProfile): Omit<ProfileSummary, 'file'> {
  const selfUs = new Map<number, number>()
  const { samples, timeDeltas } = profile
  if (samples !== undefined && timeDeltas !== undefined && samples.length > 0) {
    // a sample stands for the time until the next one; the last, for its own interval
    for (let i = 0; i < samples.length; i++) {
      selfUs.set(samples[i]!, (selfUs.get(samples[i]!) ?? 0) + Math.max(0, timeDeltas[i + 1] ?? timeDeltas[i] ?? 0))
    }
  } else {
    const hits = profile.nodes.reduce((sum, node) => sum + (node.hitCount ?? 0), 0)
    const interval = hits === 0 ? 0 : (profile.endTime - profile.startTime) / hits
    for (const node of profile.nodes) selfUs.set(node.id, (node.hitCount ?? 0) * interval)
  }
  const byFunction = new Map<string, { name: string, location: string, us: number }>()
  let idleUs = 0
  let totalUs = 0
  for (const node of profile.nodes) {
    const us = selfUs.get(node.id) ?? 0
    totalUs += us
    const { functionName, url, lineNumber } = node.callFrame
    if (functionName === '(idle)') {
      idleUs += us
      continue
    }
    const location = url === '' ? '' : `${url.startsWith('file://') ? path.relative(ROOT, fileURLToPath(url)) : url}:${lineNumber + 1}`
    const key = `${functionName}\n${location}`
    const entry = byFunction.get(key) ?? { name: functionName === '' ? '(anonymous)' : functionName, location, us: 0 }
    entry.us += us
    byFunction.set(key, entry)
  }
  const busyUs = totalUs - idleUs
  const top = [...byFunction.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, TOP)
    .map(({ name, location, us }) => ({ name, location, selfMs: us / 1000, percent: busyUs === 0 ? 0 : (us / busyUs) * 100 }))
  return { sampledMs: totalUs / 1000, idleMs: idleUs / 1000, top }
}
