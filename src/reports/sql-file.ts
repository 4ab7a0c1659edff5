import { sql, type RawBuilder } from 'kysely'
import { parse as parseYaml } from 'yaml'
import type { ParamSchema, ParamValues, ReportDefinition } from './report.js'

/**
 * Reads a SQL-file report (docs/http.md section 4): a YAML header in a leading block comment, then one
 * SELECT whose `:name` placeholders become bind parameters, never text.
 * Throws an Error whose message says what is wrong; the caller adds the file name.
 */
export function parseSqlReport (text: string): ReportDefinition {
  const match = /^\s*\/\*([\s\S]*?)\*\//.exec(text)
  if (match === null) throw new Error('must start with a /* ... */ block comment holding the YAML header')
  let header: unknown
  try {
    header = parseYaml(match[1] ?? '')
  } catch (error) {
    throw new Error(`header is not valid YAML: ${(error as Error).message.split('\n')[0]}`, { cause: error })
  }
  const definition = readHeader(header)
  const body = text.slice(match[0].length)
  const { parts, names } = splitPlaceholders(body)
  for (const name of names) {
    if (!(name in definition.params)) throw new Error(`uses :${name} but declares no parameter "${name}"`)
  }
  for (const name of Object.keys(definition.params)) {
    if (!names.includes(name)) throw new Error(`declares parameter "${name}" but never uses :${name}`)
  }
  const fragments = parts.map((part) => sql.raw(part))
  return { ...definition, query: (_db, params) => bindPlaceholders(fragments, names, params), version: readVersion(header as Record<string, unknown>, definition.params) }
}

/** The header's `version:`, a query of its own with the report's `:name` parameters as binds. */
function readVersion (header: Record<string, unknown>, params: Readonly<Record<string, ParamSchema>>): ReportDefinition['version'] {
  const { version } = header
  if (version === undefined) return undefined
  if (typeof version !== 'string' || version.trim() === '') throw new Error('header version must be one SELECT returning one value')
  let split: { parts: string[], names: string[] }
  try {
    split = splitPlaceholders(version)
  } catch (error) {
    throw new Error(`header version ${(error as Error).message}`, { cause: error })
  }
  for (const name of split.names) {
    if (!(name in params)) throw new Error(`header version uses :${name} but declares no parameter "${name}"`)
  }
  const fragments = split.parts.map((part) => sql.raw(part))
  return (_db, values) => bindPlaceholders(fragments, split.names, values)
}

/**
 * Splits SQL text at its `:name` placeholders, skipping string literals, quoted identifiers,
 * dollar quotes, comments and `::` casts. `parts` has one more element than `names`.
 */
export function splitPlaceholders (text: string): { parts: string[], names: string[] } {
  const parts: string[] = []
  const names: string[] = []
  let start = 0
  let i = 0
  let end = text.length
  while (i < text.length) {
    const c = text[i]
    const next = text[i + 1]
    if (c === '\'') {
      i = skipQuoted(text, i, '\'', isEscapeString(text, i))
    } else if (c === '"') {
      i = skipQuoted(text, i, '"', false)
    } else if (c === '-' && next === '-') {
      const eol = text.indexOf('\n', i)
      i = eol === -1 ? text.length : eol + 1
    } else if (c === '/' && next === '*') {
      i = skipBlockComment(text, i)
    } else if (c === '$' && !isIdentChar(text[i - 1])) {
      const tag = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(text.slice(i, i + 64))
      if (tag === null) {
        i++
      } else {
        const close = text.indexOf(tag[0], i + tag[0].length)
        if (close === -1) throw new Error('has an unterminated dollar-quoted string')
        i = close + tag[0].length
      }
    } else if (c === ':' && next === ':') {
      i += 2
    } else if (c === ':' && next !== undefined && /[A-Za-z_]/.test(next)) {
      let j = i + 1
      while (j < text.length && isIdentChar(text[j])) j++
      parts.push(text.slice(start, i))
      names.push(text.slice(i + 1, j))
      start = i = j
    } else if (c === ';') {
      if (!/^\s*$/.test(stripComments(text.slice(i + 1)))) throw new Error('must hold exactly one statement')
      end = i
      break
    } else {
      i++
    }
  }
  parts.push(text.slice(start, end))
  const statement = parts.join('?').trim()
  if (statement === '') throw new Error('has no query after the header')
  if (!/^(select|with|values|table)\b/i.test(stripComments(statement).trim())) {
    throw new Error('must be one SELECT (or WITH ... SELECT) statement')
  }
  return { parts, names }
}

function bindPlaceholders (fragments: RawBuilder<unknown>[], names: string[], params: ParamValues): RawBuilder<unknown> {
  const pieces: RawBuilder<unknown>[] = []
  fragments.forEach((fragment, i) => {
    pieces.push(fragment)
    const name = names[i]
    if (name !== undefined) pieces.push(sql`${params[name] ?? null}`)
  })
  // parenthesised: the engine selects from it as a subquery
  return sql`(${sql.join(pieces, sql.raw(''))})`
}

const HEADER_FIELDS = new Set(['title', 'description', 'key', 'strategy', 'max_rows', 'version', 'changes', 'params', 'required'])

function readHeader (header: unknown): Omit<ReportDefinition, 'query' | 'version'> {
  if (!isObject(header)) throw new Error('header must be a YAML mapping')
  for (const field of Object.keys(header)) {
    if (!HEADER_FIELDS.has(field)) throw new Error(`header has an unknown field "${field}"`)
  }
  const { title, description, key, strategy, max_rows: maxRows, changes, params, required } = header
  if (typeof title !== 'string' || title.trim() === '') throw new Error('header needs a title')
  if (description !== undefined && typeof description !== 'string') throw new Error('header description must be text')
  const keyList = typeof key === 'string' ? [key] : key
  if (!Array.isArray(keyList) || keyList.length === 0 || !keyList.every((k) => typeof k === 'string' && k !== '')) {
    throw new Error('header key must name one result column or a list of them')
  }
  if (new Set(keyList).size !== keyList.length) throw new Error('header key names a column twice')
  if (strategy !== undefined && strategy !== 'keyset' && strategy !== 'cursor') {
    throw new Error('header strategy must be keyset or cursor')
  }
  if (maxRows !== undefined && !(Number.isSafeInteger(maxRows) && (maxRows as number) > 0)) {
    throw new Error('header max_rows must be a positive whole number')
  }
  if (changes !== undefined && (typeof changes !== 'string' || changes === '')) throw new Error('header changes must name one result column (of type xid8)')
  if (params !== undefined && params !== null && !isObject(params)) throw new Error('header params must be a mapping of JSON Schemas')
  const paramMap: Record<string, ParamSchema> = {}
  for (const [name, schema] of Object.entries(params ?? {})) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`parameter name "${name}" must be a plain identifier`)
    if (!isObject(schema)) throw new Error(`parameter "${name}" must be a JSON Schema mapping`)
    paramMap[name] = schema
  }
  const requiredList = required ?? []
  if (!Array.isArray(requiredList) || !requiredList.every((r) => typeof r === 'string')) {
    throw new Error('header required must be a list of parameter names')
  }
  for (const name of requiredList) {
    if (!(name in paramMap)) throw new Error(`header requires "${name}", which is not among its params`)
  }
  return {
    title,
    description: description ?? '',
    key: keyList as string[],
    strategy: strategy ?? 'keyset',
    maxRows: maxRows as number | undefined,
    changes,
    params: paramMap,
    required: requiredList
  }
}

function isObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function isIdentChar (c: string | undefined): boolean {
  return c !== undefined && /[A-Za-z0-9_$]/.test(c)
}

/** E'...' strings take backslash escapes; plain ones do not (standard_conforming_strings). */
function isEscapeString (text: string, quote: number): boolean {
  const prev = text[quote - 1]
  return (prev === 'E' || prev === 'e') && !isIdentChar(text[quote - 2])
}

function skipQuoted (text: string, start: number, quote: string, backslashes: boolean): number {
  let i = start + 1
  while (i < text.length) {
    const c = text[i]
    if (backslashes && c === '\\') {
      i += 2
    } else if (c === quote) {
      if (text[i + 1] === quote) i += 2
      else return i + 1
    } else {
      i++
    }
  }
  throw new Error(`has an unterminated ${quote === '"' ? 'quoted identifier' : 'string literal'}`)
}

function skipBlockComment (text: string, start: number): number {
  let depth = 0
  let i = start
  while (i < text.length) {
    if (text.startsWith('/*', i)) {
      depth++
      i += 2
    } else if (text.startsWith('*/', i)) {
      depth--
      i += 2
      if (depth === 0) return i
    } else {
      i++
    }
  }
  throw new Error('has an unterminated /* comment')
}

function stripComments (text: string): string {
  return text.replace(/--[^\n]*/g, ' ').replace(/\/\*[\s\S]*?\*\//g, ' ')
}
