// Reading an XLSX back, for the tests: the zip by its central directory (every entry's CRC and
// size checked), a sheet's cells from its XML, and LibreOffice's own reading of the whole
// workbook as one CSV per sheet.
import { execFile } from 'node:child_process'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import zlib from 'node:zlib'

interface Teardown { teardown (fn: () => unknown): void }

export type ZipEntries = Map<string, Buffer> & {
  /** what the central directory says of each entry */
  readonly sizes: Map<string, { size: number, compressed: number, crc: number, offset: number }>
}

/** Every entry of a zip, found through its central directory, inflated and checked (but those to `skip`). */
export function readZip (zip: Buffer, options: { skip?: readonly string[] } = {}): ZipEntries {
  const end = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]))
  if (end === -1 || end + 22 > zip.length) throw new Error('no end of central directory record')
  let count = zip.readUInt16LE(end + 10)
  let at = zip.readUInt32LE(end + 16)
  if (at === 0xffffffff || count === 0xffff) {
    const locator = end - 20
    if (zip.readUInt32LE(locator) !== 0x07064b50) throw new Error('no Zip64 end of central directory locator')
    const end64 = Number(zip.readBigUInt64LE(locator + 8))
    count = Number(zip.readBigUInt64LE(end64 + 32))
    at = Number(zip.readBigUInt64LE(end64 + 48))
  }
  const entries = Object.assign(new Map<string, Buffer>(), { sizes: new Map() }) as ZipEntries
  for (let i = 0; i < count; i++) {
    if (zip.readUInt32LE(at) !== 0x02014b50) throw new Error(`central directory entry ${i} has no signature`)
    const method = zip.readUInt16LE(at + 10)
    const crc = zip.readUInt32LE(at + 16)
    let compressed = zip.readUInt32LE(at + 20)
    let size = zip.readUInt32LE(at + 24)
    const nameLength = zip.readUInt16LE(at + 28)
    const extraLength = zip.readUInt16LE(at + 30)
    const commentLength = zip.readUInt16LE(at + 32)
    let offset = zip.readUInt32LE(at + 42)
    const name = zip.toString('utf8', at + 46, at + 46 + nameLength)
    // Zip64: the values whose field is 0xFFFFFFFF, in this order
    for (let e = at + 46 + nameLength; e < at + 46 + nameLength + extraLength;) {
      const id = zip.readUInt16LE(e)
      const length = zip.readUInt16LE(e + 2)
      if (id === 1) {
        let v = e + 4
        if (size === 0xffffffff) { size = Number(zip.readBigUInt64LE(v)); v += 8 }
        if (compressed === 0xffffffff) { compressed = Number(zip.readBigUInt64LE(v)); v += 8 }
        if (offset === 0xffffffff) offset = Number(zip.readBigUInt64LE(v))
      }
      e += 4 + length
    }
    if (zip.readUInt32LE(offset) !== 0x04034b50) throw new Error(`${name}: no local header at ${offset}`)
    entries.sizes.set(name, { size, compressed, crc, offset })
    at += 46 + nameLength + extraLength + commentLength
    if (options.skip?.includes(name) === true) continue
    const dataAt = offset + 30 + zip.readUInt16LE(offset + 26) + zip.readUInt16LE(offset + 28)
    const data = zip.subarray(dataAt, dataAt + compressed)
    const content = method === 8 ? zlib.inflateRawSync(data) : Buffer.from(data)
    if (content.length !== size) throw new Error(`${name}: ${content.length} bytes, the directory says ${size}`)
    if (zlib.crc32(content) !== crc) throw new Error(`${name}: CRC mismatch`)
    entries.set(name, content)
  }
  return entries
}

export interface Cell {
  /** `A1` */
  readonly ref: string
  /** the t attribute: undefined (a number), 'b', 'inlineStr' */
  readonly type: string | undefined
  readonly style: number
  /** the <v> text, or the inline string decoded */
  readonly value: string
}

/** The rows of a sheet: per row its number and its cells, in order. */
export function sheetCells (xml: string): Array<{ r: number, cells: Cell[] }> {
  const rows: Array<{ r: number, cells: Cell[] }> = []
  const rowPattern = /<row r="(\d+)"[^>]*>(.*?)<\/row>/gs
  const cellPattern = /<c r="([A-Z]+\d+)"((?: [a-z]+="[^"]*")*)>(?:<v>([^<]*)<\/v>|<is><t(?: xml:space="preserve")?>([^<]*)<\/t><\/is>)<\/c>/gs
  for (const row of xml.matchAll(rowPattern)) {
    const cells: Cell[] = []
    let consumed = 0
    for (const cell of row[2]!.matchAll(cellPattern)) {
      if (cell.index !== consumed) throw new Error(`row ${row[1]}: unexpected XML at ${consumed}: ${row[2]!.slice(consumed, consumed + 80)}`)
      consumed = cell.index + cell[0].length
      const attributes = Object.fromEntries([...cell[2]!.matchAll(/ ([a-z]+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]))
      cells.push({
        ref: cell[1]!,
        type: attributes.t,
        style: Number(attributes.s ?? 0),
        value: cell[3] !== undefined ? unescapeXml(cell[3]) : unescapeOoxml(unescapeXml(cell[4]!))
      })
    }
    if (consumed !== row[2]!.length) throw new Error(`row ${row[1]}: unexpected XML: ${row[2]!.slice(consumed, consumed + 80)}`)
    rows.push({ r: Number(row[1]), cells })
  }
  return rows
}

/** XML's entities and character references. */
function unescapeXml (text: string): string {
  return text.replace(/&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/g, (_, name: string) => {
    switch (name) {
      case 'amp': return '&'
      case 'lt': return '<'
      case 'gt': return '>'
      case 'quot': return '"'
      case 'apos': return '\''
      default: return String.fromCodePoint(name[1] === 'x' ? parseInt(name.slice(2), 16) : Number(name.slice(1)))
    }
  })
}

/** OOXML's `_xHHHH_` (ECMA-376 Part 1, 22.9.2.19 ST_Xstring). */
function unescapeOoxml (text: string): string {
  return text.replace(/_x([0-9A-Fa-f]{4})_/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)))
}

/** The column letters of a cell reference, as a 0-based index. */
export function columnIndex (ref: string): number {
  let index = 0
  for (const c of /^[A-Z]+/.exec(ref)![0]) index = index * 26 + c.charCodeAt(0) - 64
  return index - 1
}

/** RFC 4180 CSV, as COPY and LibreOffice write it: fields, rows; quoted fields keep their line breaks. */
export function parseCsv (text: string): string[][] {
  const rows: string[][] = []
  let row: string[] = []
  let field = ''
  let quoted = false
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i++ } else if (c === '"') quoted = false
      else field += c
    } else if (c === '"') quoted = true
    else if (c === ',') { row.push(field); field = '' } else if (c === '\n' || (c === '\r' && text[i + 1] === '\n')) {
      if (c === '\r') i++
      row.push(field)
      rows.push(row)
      row = []
      field = ''
    } else field += c
  }
  if (field !== '' || row.length > 0) {
    row.push(field)
    rows.push(row)
  }
  return rows
}

const run = promisify(execFile)

/** Where soffice is, or why a test that needs it skips (failing instead under SLUICE_REQUIRE_TOOLS=1). */
export async function findSoffice (): Promise<{ soffice?: string, skip: string | false }> {
  const found = await run('sh', ['-c', 'command -v soffice']).then(({ stdout }) => stdout.trim(), () => '')
  if (found !== '') return { soffice: found, skip: false }
  if (process.env.SLUICE_REQUIRE_TOOLS === '1') throw new Error('soffice (LibreOffice) is not installed and SLUICE_REQUIRE_TOOLS=1')
  return { skip: 'soffice (LibreOffice) is not installed: apt-get install libreoffice-calc' }
}

// LibreOffice >= 7.2: one CSV per sheet (token 12, -1), UTF-8 (76), the raw values rather than
// as shown (token 9 false; dates still come out in their display format)
const CSV_FILTER = 'csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,false,-1'

/**
 * LibreOffice's reading of each workbook, one soffice run for all: per file (by base name), its
 * sheets' CSV texts in sheet order.
 */
export async function libreOfficeCsv (t: Teardown, soffice: string, files: readonly string[]): Promise<Map<string, string[]>> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sluice-soffice-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const out = path.join(dir, 'out')
  await run(soffice, ['--headless', `-env:UserInstallation=file://${dir}/profile`, '--convert-to', CSV_FILTER, '--outdir', out, ...files], { timeout: 120_000 })
  const written = await readdir(out)
  const result = new Map<string, string[]>()
  for (const file of files) {
    const base = path.basename(file, '.xlsx')
    const sheets = written.filter((name) => name.startsWith(`${base}-Sheet`)).sort((a, b) => sheetNumber(a) - sheetNumber(b))
    result.set(base, await Promise.all(sheets.map((name) => readFile(path.join(out, name), 'utf8'))))
  }
  return result
}

function sheetNumber (name: string): number {
  return Number(/-Sheet(\d+)\.csv$/.exec(name)?.[1] ?? NaN)
}
