// Every database session Sluice opens is read-only, in UTC and ISO dates, whatever the server's
// defaults (docs/http.md section 2).
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t from 'tap'
import { buildTestApp } from './helpers/app.js'
import { connect } from './helpers/db.js'

const client = await connect()
const schema = `session_${randomBytes(6).toString('hex')}`
const dir = await mkdtemp(path.join(tmpdir(), 'sluice-session-'))
t.teardown(async () => {
  await client.query(`drop schema if exists ${schema} cascade`)
  await client.end()
  await rm(dir, { recursive: true, force: true })
})
await client.query(`
  create schema ${schema};
  create table ${schema}.log (id int);
  create function ${schema}.sneaky() returns int language plpgsql as $$
    begin insert into ${schema}.log values (1); return 1; end $$;
`)
await writeFile(path.join(dir, 'settings.sql'), `/*
title: Session settings
key: id
*/
select 1 as id, current_setting('TimeZone') as tz, current_setting('DateStyle') as ds,
  current_setting('transaction_read_only') as ro, '2026-01-02 03:04:05+05'::timestamptz as at
`)
await writeFile(path.join(dir, 'sneaky.sql'), `/*
title: A report that tries to write
key: id
*/
select 1 as id, ${schema}.sneaky() as wrote
`)

t.test('sessions are read-only, UTC and ISO', async (t) => {
  const { app } = await buildTestApp(t, { reportsDir: dir })
  const res = await app.inject('/reports/settings')
  t.same(JSON.parse(res.body), { id: 1, tz: 'UTC', ds: 'ISO, MDY', ro: 'on', at: '2026-01-01T22:04:05+00:00' })
  t.equal((await app.inject('/reports/settings.csv?header=0')).body, '1,UTC,"ISO, MDY",on,2026-01-01 22:04:05+00\n')
})

t.test('a report that tries to write fails and writes nothing', async (t) => {
  const { app } = await buildTestApp(t, { reportsDir: dir })
  const res = await app.inject('/reports/sneaky')
  t.equal(res.statusCode, 500, 'the report is broken, not the request')
  t.notMatch(res.body, /insert|sneaky|read-only|session_/i, 'the error body leaks no SQL')
  const { rows } = await client.query<{ n: number }>(`select count(*)::int as n from ${schema}.log`)
  t.equal(rows[0]!.n, 0)
})
