// `npx tsx bench/crowd-scene.ts N` with DATABASE_URL: one scene of bench/crowd.ts (its index in
// SCENES), against the shaped 1M table `npm run bench` built; for comparing server settings
// (MALLOC_ARENA_MAX, ...) that the environment passes on to the server.
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import pg from 'pg'
import { SCENES, crowdTargets, runScene } from './crowd.js'
import { shapedDataset, writeReports } from './datasets.js'

const scene = SCENES[Number(process.argv[2] ?? 1)]!
const databaseUrl = process.env.DATABASE_URL
if (databaseUrl === undefined) throw new Error('DATABASE_URL is not set')
const db = new pg.Client({ connectionString: databaseUrl })
await db.connect()
const dataset = await shapedDataset(db, 1_000_000, console.log)
await db.end()
const reportsDir = await writeReports([dataset])
const scratch = await mkdtemp(path.join(os.tmpdir(), 'sluice-crowd-'))
try {
  const result = await runScene(scene, databaseUrl, reportsDir, dataset, console.log)
  for (const t of crowdTargets([result])) console.log(`${t.pass ? 'PASS' : 'FAIL'}  ${t.name}: ${t.measured} (target ${t.target})`)
} finally {
  await rm(reportsDir, { recursive: true, force: true })
  await rm(scratch, { recursive: true, force: true })
}
