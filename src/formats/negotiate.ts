import { formatNames, formats, type FormatName } from './index.js'

export const FORMATS = formatNames

/** type/subtype of each format's Content-Type: what an Accept header names it by */
const MEDIA_TYPES: Readonly<Record<string, FormatName>> = Object.fromEntries(formats.map((format) => [format.contentType.split(';')[0]!, format.name]))

/**
 * Picks the format, first match wins (docs/http.md section 3): the path suffix, the `format` query
 * parameter, the Accept header, NDJSON. Returns undefined when nothing acceptable is asked for (406).
 */
export function negotiate (suffix: string | undefined, formatParam: string | undefined, accept: string | undefined): FormatName | undefined {
  if (suffix !== undefined) return asFormat(suffix)
  if (formatParam !== undefined) return asFormat(formatParam)
  if (accept === undefined || accept.trim() === '') return 'ndjson'
  return fromAccept(accept)
}

function asFormat (name: string): FormatName | undefined {
  return (FORMATS as readonly string[]).includes(name) ? name as FormatName : undefined
}

/** The acceptable media type of highest q; ties go to the order the client wrote them in. */
function fromAccept (accept: string): FormatName | undefined {
  let best: FormatName | undefined
  let bestQ = 0
  for (const range of accept.split(',')) {
    const [type = '', ...options] = range.split(';').map((part) => part.trim().toLowerCase())
    let q = 1
    for (const option of options) {
      if (option.startsWith('q=')) q = Number(option.slice(2))
    }
    if (!(q > 0) || q <= bestQ) continue
    const format = type === '*/*' || type === 'application/*' ? 'ndjson' : MEDIA_TYPES[type] ?? (type === 'text/*' ? 'csv' : undefined)
    if (format !== undefined) {
      best = format
      bestQ = q
    }
  }
  return best
}
