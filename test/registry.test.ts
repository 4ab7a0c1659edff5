import { spawn } from 'node:child_process'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import t from 'tap'
import { SERVER_ENTRY } from '../harness/server.js'
import { Leases } from '../src/db/leases.js'
import { loadReports, ReportError } from '../src/reports/registry.js'
import { splitPlaceholders } from '../src/reports/sql-file.js'
import { testDatabaseUrl } from './helpers/db.js'

const GOOD = `/*
title: Good
key: id
*/
select id, status from orders
`

t.test('placeholders are found outside strings, identifiers, comments, dollar quotes and casts', async (t) => {
  const { parts, names } = splitPlaceholders(`select ':not', ":nor", E'\\':x', $$ :no $$, $q$ :none $q$, a::int, :a -- :comment
  /* :block /* :nested */ */ from t where b = :b::text and c = any(:c)`)
  t.same(names, ['a', 'b', 'c'])
  t.equal(parts.length, 4)
  t.match(parts[0], /a::int, $/)
  t.throws(() => splitPlaceholders('select 1; select 2'), /exactly one statement/)
  t.same(splitPlaceholders('select 1;  -- done\n').names, [], 'a trailing semicolon is fine')
  t.throws(() => splitPlaceholders('delete from orders'), /one SELECT/)
  t.throws(() => splitPlaceholders("select 'open"), /unterminated string/)
})

t.test('every kind of broken report stops the start with a message naming its file', async (t) => {
  const pool = new pg.Pool({ connectionString: testDatabaseUrl(), max: 2 })
  t.teardown(() => pool.end())
  const settings = { statementTimeoutMs: 5000, leaseTimeoutMs: 2000, stallTimeoutMs: 5000, poolMax: 2 }
  const cases: Array<[string, string, RegExp]> = [
    ['no_header.sql', 'select 1 as id', /must start with a \/\* \.\.\. \*\/ block comment/],
    ['bad_yaml.sql', '/*\ntitle: [unclosed\n*/ select 1 as id', /header is not valid YAML/],
    ['no_key.sql', '/*\ntitle: X\n*/ select 1 as id', /header key must name one result column/],
    ['bad_key.sql', '/*\ntitle: X\nkey: [idx]\n*/ select id from orders', /key column "idx" is not among the result columns \(id\)/],
    ['reserved.sql', '/*\ntitle: X\nkey: id\nparams:\n  limit: { type: integer }\n*/ select id from orders where id < :limit', /reserved parameter "limit"/],
    ['broken.sql', '/*\ntitle: X\nkey: id\n*/ select id frm orders', /syntax error/],
    ['missing_table.sql', '/*\ntitle: X\nkey: id\n*/ select id from no_such_table', /relation "no_such_table" does not exist/],
    ['undeclared.sql', '/*\ntitle: X\nkey: id\n*/ select id from orders where id = :id', /uses :id but declares no parameter "id"/],
    ['unused.sql', '/*\ntitle: X\nkey: id\nparams:\n  n: { type: integer }\n*/ select id from orders', /declares parameter "n" but never uses :n/],
    ['unknown_field.sql', '/*\ntitle: X\nkey: id\nsortable: true\n*/ select id from orders', /unknown field "sortable"/],
    ['twice.sql', '/*\ntitle: X\nkey: id\n*/ select id, id from orders', /two result columns named "id"/],
    ['bad_cap.sql', '/*\ntitle: X\nkey: id\nmax_rows: -3\n*/ select id from orders', /max_rows must be a positive whole number/],
    ['bad_strategy.sql', '/*\ntitle: X\nkey: id\nstrategy: fastest\n*/ select id from orders', /strategy must be keyset or cursor/],
    ['composite.sql', '/*\ntitle: X\nkey: id\n*/ select id, o as whole from orders o', /composite/],
    ['writes.sql', '/*\ntitle: X\nkey: id\n*/ delete from orders returning id', /one SELECT/],
    ['bad name.sql', GOOD, /report names may hold only/],
    ['version_broken.sql', '/*\ntitle: X\nkey: id\nversion: select max(nope) from orders\n*/ select id from orders', /version: column "nope" does not exist/],
    ['version_two.sql', '/*\ntitle: X\nkey: id\nversion: select max(updated_at), count(*) from orders\n*/ select id from orders', /version: must return exactly one column, not 2 \(max, count\)/],
    ['version_none.sql', '/*\ntitle: X\nkey: id\nversion: select from orders\n*/ select id from orders', /version: must return exactly one column, not 0/],
    ['version_param.sql', '/*\ntitle: X\nkey: id\nversion: select max(id) from orders where id > :n\n*/ select id from orders', /header version uses :n but declares no parameter "n"/],
    ['version_writes.sql', '/*\ntitle: X\nkey: id\nversion: delete from orders returning id\n*/ select id from orders', /header version must be one SELECT/],
    ['version_two_statements.sql', '/*\ntitle: X\nkey: id\nversion: select 1; select 2\n*/ select id from orders', /header version must hold exactly one statement/],
    ['version_empty.sql', '/*\ntitle: X\nkey: id\nversion: 3\n*/ select id from orders', /header version must be one SELECT returning one value/]
  ]
  for (const [file, text, message] of cases) {
    const dir = await mkdtemp(path.join(tmpdir(), 'sluice-reports-'))
    t.teardown(() => rm(dir, { recursive: true, force: true }))
    await writeFile(path.join(dir, 'aaa_good.sql'), GOOD)
    await writeFile(path.join(dir, file), text)
    const error = await loadReports(dir, new Leases(pool, settings)).then(() => undefined, (e: unknown) => e)
    t.type(error, ReportError, file)
    t.match((error as Error).message, message, file)
    t.ok((error as Error).message.startsWith(path.join(dir, file) + ': '), `the message names ${file}`)
  }
  const modules = await moduleFolder(t)
  await writeFile(path.join(modules, 'version_text.js'), "export default { title: 'X', description: '', key: ['id'], strategy: 'keyset', params: {}, required: [], query: (db) => db.selectFrom('orders').select('id'), version: 'select 1' }\n")
  await t.rejects(loadReports(modules, new Leases(pool, settings)), { message: `${path.join(modules, 'version_text.js')}: version must be a function (db, params) => query, as query is` })
  await rm(path.join(modules, 'version_text.js'))
  await writeFile(path.join(modules, 'changes_id.js'), "export default { title: 'X', description: '', key: ['id'], strategy: 'keyset', params: {}, required: [], query: (db) => db.selectFrom('orders').select('id'), changes: 'id' }\n")
  await t.rejects(loadReports(modules, new Leases(pool, settings)), { message: `${path.join(modules, 'changes_id.js')}: changes column "id" is of type bigint, not xid8 (pg_current_xact_id(), set by a trigger)` })
  t.equal(pool.totalCount, pool.idleCount, 'checking reports leaves no connection out')
})

t.test('a folder of good reports loads, SQL and TypeScript alike', async (t) => {
  const pool = new pg.Pool({ connectionString: testDatabaseUrl(), max: 2 })
  t.teardown(() => pool.end())
  const dir = await mkdtemp(path.join(tmpdir(), 'sluice-reports-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await writeFile(path.join(dir, 'good.sql'), GOOD)
  await writeFile(path.join(dir, 'README.md'), 'not a report')
  await writeFile(path.join(dir, 'versioned.sql'), '/*\ntitle: V\nkey: id\nparams:\n  s: { type: string, default: paid }\nversion: select max(updated_at) from orders where status = :s::order_status\n*/\nselect id from orders where status = :s::order_status\n')
  const reports = await loadReports(dir, new Leases(pool, { statementTimeoutMs: 5000, leaseTimeoutMs: 2000, stallTimeoutMs: 5000, poolMax: 2 }))
  t.same([...reports.keys()], ['good', 'versioned'])
  t.same(reports.get('good')?.columns.map((c) => [c.name, c.type]), [['id', 'bigint'], ['status', 'order_status']])
  t.equal(reports.get('good')?.versionColumn, undefined, 'no version: none learnt')
  t.match(reports.get('versioned')?.versionColumn, { name: 'max', type: 'timestamp with time zone' }, "a SQL file's version, its column learnt")
  const modules = await moduleFolder(t)
  await writeFile(path.join(modules, 'versioned_module.js'), `export default { title: 'M', description: '', key: ['id'], strategy: 'keyset', params: {}, required: [],
  query: (db) => db.selectFrom('customers').select('id'),
  version: (db) => db.selectFrom('customers').select((eb) => eb.fn.countAll().as('n')) }
`)
  await writeFile(path.join(modules, 'synced_module.js'), `export default { title: 'S', description: '', key: ['id'], strategy: 'keyset', params: {}, required: [],
  query: (db) => db.selectFrom('orders').select(['id', 'change_xid']), changes: 'change_xid' }
`)
  const fromModule = await loadReports(modules, new Leases(pool, { statementTimeoutMs: 5000, leaseTimeoutMs: 2000, stallTimeoutMs: 5000, poolMax: 2 }))
  t.match(fromModule.get('versioned_module')?.versionColumn, { name: 'n', type: 'bigint' }, "a module's version, its column learnt")
  t.match(fromModule.get('synced_module')?.sync, { column: 'change_xid', scope: /^[A-Za-z0-9_-]{11}$/ }, "a module's changes column, checked and scoped")
  await t.rejects(loadReports(path.join(dir, 'missing'), new Leases(pool, { statementTimeoutMs: 5000, leaseTimeoutMs: 2000, stallTimeoutMs: 5000, poolMax: 2 })), /cannot read the reports folder/)
})

t.test('the process refuses to start on a bad report or bad configuration, with one line', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'sluice-reports-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await writeFile(path.join(dir, 'orders.sql'), '/*\ntitle: X\nkey: [nope]\n*/ select id from orders')
  const bad = await run({ DATABASE_URL: testDatabaseUrl(), REPORTS_DIR: dir, PORT: '0' })
  t.equal(bad.code, 1)
  t.match(bad.stderr.trim(), new RegExp(`^sluice: ${dir}/orders\\.sql: key column "nope" is not among the result columns \\(id\\)$`))

  const config = await run({ DATABASE_URL: testDatabaseUrl(), POOL_MAX: 'many' })
  t.equal(config.code, 1)
  t.equal(config.stderr.trim(), 'sluice: POOL_MAX must be a whole number, got "many"')

  const keys = path.join(dir, 'keys.json')
  await writeFile(keys, '[{"id": "bi", "sha256": "not-a-hash", "reports": ["*"]}]')
  const badKeys = await run({ DATABASE_URL: testDatabaseUrl(), API_KEYS_FILE: keys })
  t.equal(badKeys.code, 1)
  t.equal(badKeys.stderr.trim(), `sluice: API_KEYS_FILE ${keys}: key 1 ("bi"): sha256 must be the 64 hex digits of the key's SHA-256`)
})

/** A folder for report modules inside the checkout, where `export default` is ESM (package.json) and imports resolve. */
async function moduleFolder (t: { teardown (fn: () => unknown): void }): Promise<string> {
  const data = fileURLToPath(new URL('../.data/', import.meta.url))
  await mkdir(data, { recursive: true })
  const dir = await mkdtemp(path.join(data, 'reports-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

async function run (env: Record<string, string>): Promise<{ code: number | null, stderr: string }> {
  const child = spawn(process.execPath, [SERVER_ENTRY], {
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'ignore', 'pipe']
  })
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
  return { code, stderr }
}
