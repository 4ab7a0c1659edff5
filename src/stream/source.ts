import { cursorSource } from './cursor.js'
import { keysetSource } from './keyset.js'
import type { SourceOptions } from './types.js'

/** A report's rows as encoded chunks, by the report's strategy. */
export function openSource (options: SourceOptions): AsyncGenerator<Buffer, void, undefined> {
  return options.report.strategy === 'cursor' ? cursorSource(options) : keysetSource(options)
}
