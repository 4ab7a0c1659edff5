import { BadRequest } from '../errors.js'
import type { Column } from '../formats/types.js'
import { jsonValue } from '../formats/json-value.js'

/** One key value of `after`, as text PostgreSQL casts to the key column's type. */
export type AfterValue = string

/**
 * Reads the `after` parameter (docs/http.md section 3): for one key column the bare value as it appears
 * in the NDJSON row, for several a JSON array in key order. Numbers keep their digits as written:
 * JSON.parse would round a 20-digit bigint or numeric.
 */
export function parseAfter (param: string, keyColumns: number): AfterValue[] {
  if (keyColumns === 1) return [param]
  const values = parseScalarArray(param)
  if (values === undefined) {
    throw new BadRequest(`after must be a JSON array of ${keyColumns} key values in key order`)
  }
  if (values.length !== keyColumns) {
    throw new BadRequest(`after must hold ${keyColumns} key values, got ${values.length}`)
  }
  return values
}

/** The `after` value that resumes right behind a row whose key columns hold these texts. */
export function afterParam (keys: ReadonlyArray<readonly [Column, string | null]>): string {
  const texts = keys.map(([column, text]) => jsonValue(column.json, text))
  if (texts.length === 1) {
    const text = texts[0]!
    return text.startsWith('"') ? JSON.parse(text) as string : text
  }
  return `[${texts.join(',')}]`
}

const TOKEN = /\s*(?:"((?:[^"\\]|\\.)*)"|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)|(true|false))\s*(,|\])/y

/** A JSON array of strings, numbers and booleans, each kept as its text; undefined if it is not one. */
function parseScalarArray (text: string): string[] | undefined {
  const trimmed = text.trim()
  if (!trimmed.startsWith('[')) return undefined
  const values: string[] = []
  TOKEN.lastIndex = 1
  for (;;) {
    const match = TOKEN.exec(trimmed)
    if (match === null) return undefined
    const [, string, number, bool, end] = match
    try {
      values.push(string !== undefined ? JSON.parse(`"${string}"`) as string : number ?? bool!)
    } catch {
      return undefined
    }
    if (end === ']') return TOKEN.lastIndex === trimmed.length ? values : undefined
  }
}
